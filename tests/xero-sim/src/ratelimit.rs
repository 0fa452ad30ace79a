//! Xero's API limits (developer.xero.com/faq/limits): per app and tenant, 5 calls in progress,
//! 60 per minute and 5,000 per day; per app, 10,000 per minute. Every answer carries
//! `X-DayLimit-Remaining`, `X-MinLimit-Remaining` and `X-AppMinLimit-Remaining`; a refused call
//! gets 429 with `Retry-After` and `X-Rate-Limit-Problem`.
//!
//! Minute windows are rolling windows of the simulated clock. The day is counted one of two ways
//! ([`DayWindow`]), as the notes cannot say which Xero does (xero.md §2 "Daily window shape",
//! UNSURE): a rolling 24 hours (the older docs' wording, and the strict default: a call comes back
//! only a whole day after it was made), or a fixed 24-hour window that starts with the first call
//! and then resets all at once, at a different time for each tenant (a 2026 secondary note). The
//! day limit is the organisation's plan's ([`crate::plan::Plan::day_limit`]: 1,000 under the 2026
//! Starter API tier) or, without one, [`RateLimits::per_day`]. Concurrency counts real requests in
//! flight. Refused calls do not count.

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

/// How a tenant's day is counted (see the module's documentation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayWindow {
    /// Each call counts for the 24 hours after it was made.
    #[default]
    Rolling,
    /// The window opens with the first call and resets whole 24 hours later.
    Fixed,
}

/// The day limit in force for one tenant, and how its day is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRule {
    /// Calls per day.
    pub limit: u32,
    /// Rolling or fixed.
    pub window: DayWindow,
}

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

/// A fixed day: the window opened with its oldest call and ends whole a day later, so once
/// that call is a day old every call in it goes.
fn prune_fixed(window: &mut VecDeque<OffsetDateTime>, now: OffsetDateTime) {
    if window.front().is_some_and(|t| now - *t >= DAY) {
        window.clear();
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
        day_rule: DayRule,
        client_id: &str,
        tenant: Uuid,
        in_flight: u32,
        now: OffsetDateTime,
    ) -> Result<Remaining, SimResponse> {
        let key = (client_id.to_owned(), tenant);
        let minute = self.tenant_minute.entry(key.clone()).or_default();
        prune(minute, now, MINUTE);
        let day = self.tenant_day.entry(key.clone()).or_default();
        match day_rule.window {
            DayWindow::Rolling => prune(day, now, DAY),
            DayWindow::Fixed => prune_fixed(day, now),
        }
        let app = self.app_minute.entry(client_id.to_owned()).or_default();
        prune(app, now, MINUTE);

        let (minute_n, day_n, app_n) = (
            len32(&self.tenant_minute[&key]),
            len32(&self.tenant_day[&key]),
            len32(&self.app_minute[client_id]),
        );
        let remaining = Remaining {
            day: day_rule.limit.saturating_sub(day_n),
            minute: limits.per_minute.saturating_sub(minute_n),
            app_minute: limits.app_per_minute.saturating_sub(app_n),
        };
        let refusal = if in_flight >= limits.concurrent {
            Some((Problem::Concurrent, 1))
        } else if day_n >= day_rule.limit {
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

    /// Counts `calls` calls of `client_id` on `tenant` made at `at` towards the tenant's day, as
    /// if the app had made them then (for tests that start with a day partly used).
    pub fn record_day_calls(
        &mut self,
        client_id: &str,
        tenant: Uuid,
        calls: u32,
        at: OffsetDateTime,
    ) {
        let day = self
            .tenant_day
            .entry((client_id.to_owned(), tenant))
            .or_default();
        day.extend(std::iter::repeat_n(at, calls as usize));
        day.make_contiguous().sort_unstable();
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

    const FIVE_THOUSAND: DayRule = DayRule {
        limit: 5_000,
        window: DayWindow::Rolling,
    };

    fn header<'r>(response: &'r SimResponse, name: &str) -> Option<&'r str> {
        response
            .headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Spends a day's calls at `t0`, then asks again at `later`.
    fn after_a_full_day(window: DayWindow, later: Duration) -> Result<Remaining, SimResponse> {
        let mut windows = RateWindows::default();
        let limits = RateLimits::unlimited();
        let rule = DayRule { limit: 3, window };
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..3 {
            windows
                .admit(
                    &limits,
                    rule,
                    "app",
                    Uuid::nil(),
                    0,
                    t0 + Duration::from_secs(i * 3600),
                )
                .unwrap();
        }
        windows.admit(&limits, rule, "app", Uuid::nil(), 0, t0 + later)
    }

    #[test]
    fn a_1000_a_day_plan_refuses_the_1001st_call_with_problem_day() {
        let mut windows = RateWindows::default();
        let limits = RateLimits::default();
        let rule = DayRule {
            limit: 1_000,
            window: DayWindow::Rolling,
        };
        let t0 = OffsetDateTime::UNIX_EPOCH;
        for i in 0..1_000u32 {
            let at = t0 + Duration::from_secs(u64::from(i) * 60);
            let remaining = windows
                .admit(&limits, rule, "app", Uuid::nil(), 0, at)
                .unwrap();
            assert_eq!(remaining.day, 999 - i);
        }
        let at = t0 + Duration::from_secs(1_000 * 60);
        let refused = windows
            .admit(&limits, rule, "app", Uuid::nil(), 0, at)
            .unwrap_err();
        assert_eq!(refused.status, 429);
        assert_eq!(header(&refused, "X-Rate-Limit-Problem"), Some("day"));
        assert_eq!(header(&refused, "X-DayLimit-Remaining"), Some("0"));
        // The first call leaves the rolling day 24 h after it was made.
        let wait: u64 = header(&refused, "Retry-After").unwrap().parse().unwrap();
        assert_eq!(wait, 24 * 3600 - 1_000 * 60);
    }

    #[test]
    fn a_rolling_day_gives_back_one_call_when_the_oldest_is_a_day_old() {
        let day = Duration::from_secs(24 * 3600);
        let back = after_a_full_day(DayWindow::Rolling, day).unwrap();
        assert_eq!(back.day, 0, "the two later calls still count");
        let refused = after_a_full_day(DayWindow::Rolling, day - Duration::from_secs(1));
        assert!(refused.is_err());
    }

    #[test]
    fn a_fixed_day_gives_back_every_call_when_it_resets() {
        let day = Duration::from_secs(24 * 3600);
        let back = after_a_full_day(DayWindow::Fixed, day).unwrap();
        assert_eq!(back.day, 2, "the window reset whole");
        let refused = after_a_full_day(DayWindow::Fixed, day - Duration::from_secs(1)).unwrap_err();
        assert_eq!(header(&refused, "Retry-After"), Some("1"));
    }

    #[test]
    fn calls_recorded_earlier_count_towards_the_day() {
        let mut windows = RateWindows::default();
        let rule = DayRule {
            limit: 10,
            window: DayWindow::Rolling,
        };
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(86_400);
        windows.record_day_calls("app", Uuid::nil(), 10, t0 - Duration::from_secs(86_400 - 5));
        let refused = windows
            .admit(&RateLimits::unlimited(), rule, "app", Uuid::nil(), 0, t0)
            .unwrap_err();
        assert_eq!(header(&refused, "Retry-After"), Some("5"));
    }

    #[test]
    fn the_sixty_first_call_in_a_minute_is_refused_until_the_window_rolls() {
        let mut windows = RateWindows::default();
        let limits = RateLimits::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        let tenant = Uuid::nil();
        for i in 0..60 {
            let remaining = windows
                .admit(&limits, FIVE_THOUSAND, "app", tenant, 0, t0)
                .unwrap();
            assert_eq!(remaining.minute, 59 - i);
        }
        let refused = windows
            .admit(&limits, FIVE_THOUSAND, "app", tenant, 0, t0)
            .unwrap_err();
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
                .admit(&limits, FIVE_THOUSAND, "app", tenant, 0, t0 + MINUTE)
                .is_ok()
        );
    }
}
