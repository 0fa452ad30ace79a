//! Readiness: whether this processor can book events now. Ready means its consumer session is
//! up (connected to RabbitMQ with the hand-off confirm channel open, and joined to the shard
//! claims on their PostgreSQL session) and the ledger pool answers. A processor holding no
//! shard, waiting for one (a standby), is ready: it takes over the moment one is freed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::ledger::Ledger;

/// How long a probe waits for the ledger pool: a pool busy with batches still hands out a
/// connection well within this, a PostgreSQL that is gone does not.
const LEDGER_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Health {
    session: AtomicBool,
    ledger: Ledger,
}

/// What `/readyz` answers, field by field.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// A consumer session is up: RabbitMQ connected, the shard claims joined.
    pub consuming: bool,
    /// The ledger answered a query just now.
    pub postgres_connected: bool,
    /// Shards held; 0 while waiting for one (a standby is ready).
    pub shards_held: i64,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.consuming && self.postgres_connected
    }
}

impl Health {
    pub fn new(ledger: Ledger) -> Self {
        Health {
            session: AtomicBool::new(false),
            ledger,
        }
    }

    /// A consumer session started (`true`) or ended (`false`).
    pub fn set_consuming(&self, up: bool) {
        self.session.store(up, Ordering::SeqCst);
    }

    /// Asks the ledger pool, so a lost PostgreSQL shows at once rather than when the shard
    /// claims' next look fails.
    pub async fn readiness(&self, shards_held: i64) -> Readiness {
        let postgres_connected = tokio::time::timeout(LEDGER_PROBE_TIMEOUT, self.ledger.ping())
            .await
            .is_ok_and(|answered| answered.is_ok());
        Readiness {
            consuming: self.session.load(Ordering::SeqCst),
            postgres_connected,
            shards_held,
        }
    }
}
