//! Xero's API limits (developer.xero.com/faq/limits): per app and tenant, 5 calls in progress,
//! 60 per minute and 5,000 per day; per app, 10,000 per minute. Every answer carries
//! `X-DayLimit-Remaining`, `X-MinLimit-Remaining` and `X-AppMinLimit-Remaining`; a refused call
//! gets 429 with `Retry-After` and `X-Rate-Limit-Problem`.
//!
//! Minute and day windows are rolling windows of the simulated clock (Xero's day window shape is
//! UNSURE); concurrency counts real requests in flight. Refused calls do not count.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::response::SimResponse;

/// The limits in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimits {
    /// Calls in progress at once, per app and tenant.
    pub concurrent: u32,
    /// Calls per rolling minute, per app and tenant.
    pub per_minute: u32,
    /// Calls per rolling day, per app and tenant.
    pub per_day: u32,
    /// Calls per rolling minute, per app across all tenants.
    pub app_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            concurrent: 5,
            per_minute: 60,
            per_day: 5_000,
            app_per_minute: 10_000,
        }
    }
}

impl RateLimits {
    /// Limits high enough never to be hit, for tests that are about something else.
    pub fn unlimited() -> Self {
        Self {
            concurrent: u32::MAX,
            per_minute: u32::MAX,
            per_day: u32::MAX,
            app_per_minute: u32::MAX,
        }
    }
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// Call times in the rolling windows.
#[derive(Debug, Default)]
pub struct RateWindows {
    tenant_minute: HashMap<(String, Uuid), VecDeque<OffsetDateTime>>,
    tenant_day: HashMap<(String, Uuid), VecDeque<OffsetDateTime>>,
    app_minute: HashMap<String, VecDeque<OffsetDateTime>>,
}

/// Which limit refused a call; the value of `X-Rate-Limit-Problem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// Too many in flight (header value UNSURE).
    Concurrent,
    /// Per-minute limit.
    Minute,
    /// Per-day limit.
    Day,
    /// App-wide per-minute limit (header value UNSURE).
    AppMinute,
}

/// Xero's 429: nothing was applied; `Retry-After` says when to call again.
pub fn refusal_response(problem: Problem, retry_after: u64) -> SimResponse {
    // Body as Xero documents it for OAuth 1.0a-era clients (pyxero; UNSURE for OAuth 2).
    SimResponse::text(
        429,
        "oauth_problem=rate%20limit%20exceeded&oauth_problem_advice=please%20wait%20before%20retrying%20the%20xero%20api",
    )
    .with_header("Retry-After", retry_after.to_string())
    .with_header("X-Rate-Limit-Problem", problem.header_value())
}

impl Problem {
    fn header_value(self) -> &'static str {
        match self {
            Self::Concurrent => "concurrent",
            Self::Minute => "minute",
            Self::Day => "day",
            Self::AppMinute => "appminute",
        }
    }
}

/// The remaining-call headers for one answer.
#[derive(Debug, Clone, Copy)]
pub struct Remaining {
    day: u32,
    minute: u32,
    app_minute: u32,
}

impl Remaining {
    /// Adds the three `X-…-Remaining` headers.
    pub fn apply(self, response: SimResponse) -> SimResponse {
        response
            .with_header("X-DayLimit-Remaining", self.day.to_string())
            .with_header("X-MinLimit-Remaining", self.minute.to_string())
            .with_header("X-AppMinLimit-Remaining", self.app_minute.to_string())
    }
}

fn prune(window: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime, span: Duration) {
    while window.front().is_some_and(|t| now - *t >= span) {
        window.pop_front();
    }
}

fn seconds_until_free(
    window: &VecDeque<OffsetDateTime>,
    now: OffsetDateTime,
    span: Duration,
) -> u64 {
    window.front().map_or(1, |oldest| {
        let wait = (*oldest + span) - now;
        let secs = wait.whole_seconds() + i64::from(wait.subsec_nanoseconds() > 0);
        u64::try_from(secs.max(1)).unwrap_or(1)
    })
}

fn len32(window: &VecDeque<OffsetDateTime>) -> u32 {
    u32::try_from(window.len()).unwrap_or(u32::MAX)
}

impl RateWindows {
    /// Counts a call, or refuses it with the 429 to send.
    ///
    /// # Errors
    /// The 429 answer, headers included, when a limit is reached.
    pub fn admit(
        &mut self,
        limits: &RateLimits,
        client_id: &str,
        tenant: Uuid,
        in_flight: u32,
        now: OffsetDateTime,
    ) -> Result<Remaining, SimResponse> {
        let key = (client_id.to_owned(), tenant);
        let minute = self.tenant_minute.entry(key.clone()).or_default();
        prune(minute, now, MINUTE);
        let day = self.tenant_day.entry(key.clone()).or_default();
        prune(day, now, DAY);
        let app = self.app_minute.entry(client_id.to_owned()).or_default();
        prune(app, now, MINUTE);

        let (minute_n, day_n, app_n) = (
            len32(&self.tenant_minute[&key]),
            len32(&self.tenant_day[&key]),
            len32(&self.app_minute[client_id]),
        );
        let remaining = Remaining {
            day: limits.per_day.saturating_sub(day_n),
            minute: limits.per_minute.saturating_sub(minute_n),
            app_minute: limits.app_per_minute.saturating_sub(app_n),
        };
        let refusal = if in_flight >= limits.concurrent {
            Some((Problem::Concurrent, 1))
        } else if day_n >= limits.per_day {
            Some((
                Problem::Day,
                seconds_until_free(&self.tenant_day[&key], now, DAY),
            ))
        } else if minute_n >= limits.per_minute {
            Some((
                Problem::Minute,
                seconds_until_free(&self.tenant_minute[&key], now, MINUTE),
            ))
        } else if app_n >= limits.app_per_minute {
            Some((
                Problem::AppMinute,
                seconds_until_free(&self.app_minute[client_id], now, MINUTE),
            ))
        } else {
            None
        };
        if let Some((problem, retry_after)) = refusal {
            return Err(remaining.apply(refusal_response(problem, retry_after)));
        }
        self.tenant_minute
            .get_mut(&key)
            .expect("inserted above")
            .push_back(now);
        self.tenant_day
            .get_mut(&key)
            .expect("inserted above")
            .push_back(now);
        self.app_minute
            .get_mut(client_id)
            .expect("inserted above")
            .push_back(now);
        Ok(Remaining {
            day: remaining.day - 1,
            minute: remaining.minute - 1,
            app_minute: remaining.app_minute - 1,
        })
    }

    /// Forgets all calls (admin reset).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Requests in flight per (app, tenant), counted for the concurrency limit.
#[derive(Debug, Clone, Default)]
pub struct InFlight {
    counts: Arc<Mutex<HashMap<(String, Uuid), u32>>>,
}

/// Holds one in-flight slot; releases it when dropped, so a request whose connection is dropped
/// or whose future is cancelled still gives its slot back.
#[derive(Debug)]
pub struct InFlightGuard {
    counts: Arc<Mutex<HashMap<(String, Uuid), u32>>>,
    key: (String, Uuid),
}

impl InFlight {
    /// Takes a slot and returns how many were in flight before it.
    pub fn enter(&self, client_id: &str, tenant: Uuid) -> (u32, InFlightGuard) {
        let key = (client_id.to_owned(), tenant);
        let mut counts = self.counts.lock().expect("in-flight lock poisoned");
        let count = counts.entry(key.clone()).or_insert(0);
        let before = *count;
        *count += 1;
        (
            before,
            InFlightGuard {
                counts: Arc::clone(&self.counts),
                key,
            },
        )
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("in-flight lock poisoned");
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sixty_first_call_in_a_minute_is_refused_until_the_window_rolls() {
        let mut windows = RateWindows::default();
        let limits = RateLimits::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let tenant = Uuid::nil();
        for i in 0..60 {
            let remaining = windows.admit(&limits, "app", tenant, 0, t0).unwrap();
            assert_eq!(remaining.minute, 59 - i);
        }
        let refused = windows.admit(&limits, "app", tenant, 0, t0).unwrap_err();
        assert_eq!(refused.status, 429);
        assert!(
            refused
                .headers
                .contains(&("X-Rate-Limit-Problem".into(), "minute".into()))
        );
        assert!(
            refused
                .headers
                .contains(&("Retry-After".into(), "60".into()))
        );
        assert!(
            windows
                .admit(&limits, "app", tenant, 0, t0 + MINUTE)
                .is_ok()
        );
    }
}
