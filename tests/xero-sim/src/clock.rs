//! The simulated clock. Everything time-based in the simulator (token expiry, the idempotency
//! window, rate-limit windows, `UpdatedDateUTC`) reads this clock, so a test can jump 31 minutes
//! ahead instead of sleeping.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Simulated time: real elapsed time since an anchor, plus whatever tests advanced it by.
#[derive(Debug)]
pub struct SimClock {
    anchor: Mutex<Anchor>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    /// The real instant the simulated time below was true.
    real: Instant,
    /// The simulated time at `real`.
    sim: OffsetDateTime,
}

impl SimClock {
    /// Starts at `start`, or at the real wall-clock time when `None`.
    pub fn new(start: Option<OffsetDateTime>) -> Self {
        Self {
            anchor: Mutex::new(Anchor {
                real: Instant::now(),
                sim: start.unwrap_or_else(OffsetDateTime::now_utc),
            }),
        }
    }

    /// The current simulated time, truncated to milliseconds because Xero's `/Date(ms)/`
    /// format cannot carry more, and a stored time must compare equal to its printed form.
    pub fn now(&self) -> OffsetDateTime {
        let anchor = *self.anchor.lock().expect("clock lock poisoned");
        truncate_to_millis(anchor.sim + anchor.real.elapsed())
    }

    /// Moves simulated time forward and returns the new time.
    pub fn advance(&self, by: Duration) -> OffsetDateTime {
        let mut anchor = self.anchor.lock().expect("clock lock poisoned");
        anchor.sim += by;
        truncate_to_millis(anchor.sim + anchor.real.elapsed())
    }
}

fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let millis = t.millisecond();
    t.replace_nanosecond(u32::from(millis) * 1_000_000)
        .expect("a whole number of milliseconds is a valid nanosecond value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn advancing_moves_simulated_time_without_waiting() {
        let clock = SimClock::new(Some(datetime!(2026-08-01 00:00 UTC)));
        let later = clock.advance(Duration::from_secs(1800));
        assert!(later >= datetime!(2026-08-01 00:30 UTC));
        assert!(later < datetime!(2026-08-01 00:31 UTC));
    }
}
