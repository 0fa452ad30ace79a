//! The poller's platform API client: the event path's [`Fetcher`], paced by what each
//! platform says of its rate limits, so that polling never takes the calls the event path
//! needs to fetch what thin webhooks leave out.
//!
//! | Platform | What it says | What the poller does |
//! |---|---|---|
//! | Shopify | `X-Shopify-Shop-Api-Call-Limit: used/size`, a leaky bucket draining 2 calls a second on standard plans (Shopify's "REST Admin API rate limits") | keeps the bucket at most half full: waits half a second per call over half |
//! | BigCommerce | `X-Rate-Limit-Requests-Left`, `-Requests-Quota`, `-Time-Reset-Ms` ("API rate limits") | below half the quota, waits for the window to reset |
//! | Etsy | `x-limit-per-second`, `x-remaining-this-second`, `x-limit-per-day`, `x-remaining-today` ("Rate limits", Open API v3; none on a 429) | waits a second when under half of this second's calls (or none) is left; stops polling the shop when a tenth of the day's calls is left |
//! | eBay, WooCommerce, Adobe Commerce | no headers the poller can read (eBay counts calls per day in its Developer Analytics API; WooCommerce and Adobe Commerce set no REST limits of their own) | the minimum gap between calls, and 429s |
//!
//! Every 429 waits for `Retry-After` (seconds, fractional as Shopify sends it) or
//! BigCommerce's reset time, or else backs off exponentially, and is tried again; calls are
//! never closer together than [`MIN_GAP`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use tokio::time::Instant;
use xcs_shared::Platform;

use crate::error::ProcessError;
use crate::platforms::api::{Auth, Fetcher, PlatformApi, Reply};

/// The least time between two poll calls to one API.
pub const MIN_GAP: Duration = Duration::from_millis(200);
/// 429s and 5xx answers tried again per call before the poll gives up until its next turn.
const ATTEMPTS: u32 = 5;
/// The longest the poller waits on one rate-limit answer; a platform asking for longer is
/// polled at the shop's next turn.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Why a poll stopped. The cursor stays where the last window done left it.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error("the platform API is unavailable: {0}; the poll resumes from its cursor next time")]
    Unavailable(String),
    #[error(
        "the platform's rate limit leaves the poller nothing ({0}); polling resumes when it \
         recovers"
    )]
    RateLimited(String),
    #[error(
        "the platform API refused the shop's credentials ({0}); fix the shop's api token and key, \
         confirm with `xcs-processor check`"
    )]
    Credentials(String),
    #[error("{0}; fix the shop's [api] settings, confirm with `xcs-processor check`")]
    Misconfigured(String),
    /// The platform answered the list call with a refusal other than for the credentials.
    #[error(
        "the platform API refused the list call: {0}; a 404 means the shop's api.base_url (or \
         the API version in it) is wrong, anything else a request the platform does not take \
         (keep this line for a bug report); the poll resumes from its cursor next time"
    )]
    Refused(String),
    #[error("the platform's list cannot be read: {0}")]
    Unreadable(String),
    #[error("the ledger is unavailable: {0}")]
    Ledger(String),
    #[error("cannot publish to RabbitMQ: {0}")]
    Publish(String),
    #[error("another processor took over the shop's poll (this one's lease ran out)")]
    LeaseLost,
    #[error("shop {0:?} has no [api] settings; polling needs the platform's API")]
    NoApi(String),
}

impl From<crate::ledger::LedgerError> for PollError {
    fn from(err: crate::ledger::LedgerError) -> Self {
        PollError::Ledger(err.to_string())
    }
}

/// Paces calls per API (base URL).
#[derive(Default)]
pub struct PollClient {
    fetcher: Fetcher,
    /// When each API may be called next.
    next_call: Mutex<HashMap<String, Instant>>,
    calls: std::sync::atomic::AtomicUsize,
}

impl PollClient {
    /// Calls made so far.
    pub fn calls(&self) -> usize {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// GETs `path` and returns a 2xx answer (its body `Null` when empty), pacing and retrying
    /// as the module says.
    ///
    /// # Errors
    /// [`PollError`].
    pub async fn get(
        &self,
        platform: Platform,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Reply, PollError> {
        let mut backoff = Duration::from_secs(1);
        for attempt in 1..=ATTEMPTS {
            self.wait_turn(&api.base_url).await;
            self.calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let reply = match self.fetcher.call(api, auth, Method::GET, path, None).await {
                Ok(reply) => reply,
                Err(ProcessError::Hydration(detail)) if attempt < ATTEMPTS => {
                    tracing::debug!(%detail, "poll call failed; trying again");
                    self.hold(&api.base_url, backoff);
                    backoff *= 2;
                    continue;
                }
                Err(err) => return Err(PollError::Unavailable(err.to_string())),
            };
            let status = reply.status;
            if status.is_success() {
                let (wait, exhausted) = crate::platforms::poll_pace(platform, &reply);
                if let Some(reason) = exhausted {
                    return Err(PollError::RateLimited(reason));
                }
                self.hold(&api.base_url, wait.clamp(MIN_GAP, MAX_WAIT));
                return Ok(reply);
            }
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let wait = retry_after(&reply).unwrap_or(backoff);
                backoff *= 2;
                if attempt == ATTEMPTS || wait > MAX_WAIT {
                    let what = format!("{path} answered {status}");
                    return Err(if status == StatusCode::TOO_MANY_REQUESTS {
                        PollError::RateLimited(what)
                    } else {
                        PollError::Unavailable(what)
                    });
                }
                self.hold(&api.base_url, wait);
                continue;
            }
            let what = format!("{path} answered {status}");
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => PollError::Credentials(what),
                _ => PollError::Refused(format!("the {} API {what}", platform.display_name())),
            });
        }
        unreachable!("the last attempt returns")
    }

    async fn wait_turn(&self, base_url: &str) {
        let at = self
            .next_call
            .lock()
            .expect("never poisoned")
            .get(base_url)
            .copied();
        if let Some(at) = at {
            tokio::time::sleep_until(at).await;
        }
    }

    fn hold(&self, base_url: &str, wait: Duration) {
        self.next_call
            .lock()
            .expect("never poisoned")
            .insert(base_url.to_owned(), Instant::now() + wait);
    }
}

/// How long to wait before the next call, and why polling the shop must stop for now (its
/// day's allowance nearly spent), as the platform's headers say (`platforms::<p>::poll::pace`).
pub type Pace = (Duration, Option<String>);

/// A numeric header, if present and readable.
pub fn header_number(reply: &Reply, name: &str) -> Option<f64> {
    reply.header(name)?.trim().parse().ok()
}

/// `seconds` from a header as a wait: a negative or unreadable figure is no wait, and none is
/// longer than an hour (a header saying `1e300` must not overflow or hold the poller forever).
pub fn seconds(seconds: f64) -> Duration {
    if seconds.is_nan() {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(seconds.clamp(0.0, 3_600.0))
}

/// What a 429 (or 503) says to wait.
fn retry_after(reply: &Reply) -> Option<Duration> {
    if let Some(seconds) = header_number(reply, "Retry-After") {
        return Some(self::seconds(seconds));
    }
    header_number(reply, "X-Rate-Limit-Time-Reset-Ms").map(|ms| self::seconds(ms / 1000.0))
}

/// A 200 answer with `headers`, for the platforms' pacing tests.
#[cfg(test)]
pub(crate) fn reply_with(headers: &[(&'static str, &str)]) -> Reply {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        map.insert(*name, value.parse().expect("a valid header value"));
    }
    Reply {
        status: StatusCode::OK,
        headers: map,
        body: serde_json::Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_asking_for_forever_or_nonsense_is_a_bounded_wait() {
        assert_eq!(seconds(f64::INFINITY), Duration::from_secs(3_600));
        assert_eq!(seconds(1e300), Duration::from_secs(3_600));
        assert_eq!(seconds(f64::NAN), Duration::ZERO);
        assert_eq!(seconds(-5.0), Duration::ZERO);
        assert_eq!(
            retry_after(&reply_with(&[("Retry-After", "1e400")])),
            Some(Duration::from_secs(3_600))
        );
    }
}
