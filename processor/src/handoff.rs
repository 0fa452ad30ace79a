//! Handing a failed event on: to the next retry tier (a queue whose TTL sends it back to the
//! shards), or to the dead queue with its reason. Published with confirms and `mandatory`,
//! and the original delivery is acknowledged only after the broker confirmed the copy, so a
//! crash in between leaves a duplicate (deduped by event id), never a loss.

use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Connection};
use xcs_shared::topology::{DEAD_EXCHANGE, RETRY_EXCHANGE, RETRY_TIERS};

use crate::error::ProcessError;
use crate::publisher::{Republisher, now_rfc3339};

/// Headers the processor adds when it hands an event on.
pub mod header {
    /// Failed attempts so far.
    pub const ATTEMPTS: &str = "xcs-attempts";
    /// RFC 3339 time of the first failure.
    pub const FIRST_FAILURE_AT: &str = "xcs-first-failure-at";
    /// The last error, as an operator reads it.
    pub const LAST_ERROR: &str = "xcs-last-error";
    /// A stable label for the last error (see `ProcessError::reason`).
    pub const REASON: &str = "xcs-reason";
    /// RFC 3339 time the event was dead-lettered.
    pub const DEAD_AT: &str = "xcs-dead-at";
}

/// Where a failed event went.
#[derive(Debug, Clone, PartialEq)]
pub enum HandedOff {
    Retry {
        tier: &'static str,
        attempt: u32,
    },
    /// Held, not failed (its tenant is paused, or a stock event waits for its item to be
    /// quiet): in a retry tier, its attempts unchanged.
    Paused {
        tier: &'static str,
        attempts: u32,
    },
    Dead {
        attempts: u32,
        /// The properties the dead copy was published with (its reason, error, time), for
        /// the dead-letter index.
        properties: Box<BasicProperties>,
    },
}

/// The hand-off could not be confirmed; the delivery must be rejected back to its queue.
#[derive(Debug, thiserror::Error)]
#[error("cannot hand the event on: {0}")]
pub struct HandoffError(String);

/// Publishes failed events; holds its own confirm channel.
pub struct Handoff {
    publisher: Republisher,
}

impl Handoff {
    /// # Errors
    /// When the channel cannot be opened.
    pub async fn open(connection: &Connection) -> anyhow::Result<Self> {
        Ok(Handoff {
            publisher: Republisher::open(connection).await?,
        })
    }

    /// Sends the event to the next retry tier, or to the dead queue when the error is
    /// permanent or the tiers are used up.
    ///
    /// # Errors
    /// [`HandoffError`] when the broker did not confirm.
    pub async fn hand_off(
        &self,
        body: &[u8],
        properties: &BasicProperties,
        error: &ProcessError,
    ) -> Result<HandedOff, HandoffError> {
        let headers = properties.headers().clone().unwrap_or_default();
        let before = match headers.inner().get(header::ATTEMPTS) {
            Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
            Some(AMQPValue::LongString(s)) => {
                String::from_utf8_lossy(s.as_bytes()).parse().unwrap_or(0)
            }
            _ => 0,
        };
        // A held event did not fail (a paused tenant's, a stock event waiting for its item to
        // be quiet): it waits in the tier that holds it about that long, and keeps every retry
        // it had.
        if let Some(wait) = error.pause() {
            return self
                .hold(body, properties, headers, before, error, wait)
                .await;
        }
        let attempts = before + 1;
        let now = now_rfc3339();
        let mut headers = headers;
        set(&mut headers, header::REASON, error.reason());
        let message: String = error.to_string().chars().take(1000).collect();
        set(&mut headers, header::LAST_ERROR, &message);
        headers.insert(
            ShortString::from(header::ATTEMPTS),
            AMQPValue::LongLongInt(i64::from(attempts)),
        );
        if !headers.inner().contains_key(header::FIRST_FAILURE_AT) {
            set(&mut headers, header::FIRST_FAILURE_AT, &now);
        }

        let tier = error.retry_tier(attempts).and_then(|i| RETRY_TIERS.get(i));
        let (exchange, routing_key, mut outcome) = match tier {
            Some((queue, _)) => (
                RETRY_EXCHANGE,
                *queue,
                HandedOff::Retry {
                    tier: queue,
                    attempt: attempts,
                },
            ),
            None => {
                set(&mut headers, header::DEAD_AT, &now);
                (
                    DEAD_EXCHANGE,
                    "",
                    HandedOff::Dead {
                        attempts,
                        properties: Box::default(),
                    },
                )
            }
        };
        let properties = properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        if let HandedOff::Dead {
            properties: published,
            ..
        } = &mut outcome
        {
            **published = properties.clone();
        }
        self.publisher
            .publish(exchange, routing_key, body, properties)
            .await
            .map_err(|err| HandoffError(format!("{err:#}")))?;
        Ok(outcome)
    }
}

impl Handoff {
    /// Sends a held event to the shortest retry tier that holds it for `wait`
    /// (the longest when none does; it comes back and waits again), its attempts unchanged.
    async fn hold(
        &self,
        body: &[u8],
        properties: &BasicProperties,
        mut headers: FieldTable,
        attempts: u32,
        error: &ProcessError,
        wait: std::time::Duration,
    ) -> Result<HandedOff, HandoffError> {
        let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let queue: &'static str = RETRY_TIERS
            .iter()
            .find(|(_, ttl_ms)| *ttl_ms >= wait_ms)
            .unwrap_or(&RETRY_TIERS[RETRY_TIERS.len() - 1])
            .0;
        set(&mut headers, header::REASON, error.reason());
        let message: String = error.to_string().chars().take(1000).collect();
        set(&mut headers, header::LAST_ERROR, &message);
        let properties = properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        self.publisher
            .publish(RETRY_EXCHANGE, queue, body, properties)
            .await
            .map_err(|err| HandoffError(format!("{err:#}")))?;
        Ok(HandedOff::Paused {
            tier: queue,
            attempts,
        })
    }
}

fn set(headers: &mut FieldTable, name: &str, value: &str) {
    headers.insert(
        ShortString::from(name),
        AMQPValue::LongString(LongString::from(value)),
    );
}
