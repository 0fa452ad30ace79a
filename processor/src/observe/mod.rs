//! What the processor shows of itself: `/healthz`, `/readyz` and `/metrics` on
//! `[server] listen`, for probes and Prometheus.
//!
//! - `metrics.rs`: the Prometheus registry. Label values are bounded: shops and tenants come
//!   from the config (anything else is `other`), kinds, outcomes and reasons from our own code.
//! - `health.rs`: what readiness is decided on, kept up to date by the consumer sessions, and
//!   the ledger pool asked at each probe.
//! - `server.rs`: the HTTP routes.

mod health;
mod metrics;
mod server;

pub use self::health::{Health, Readiness};
pub use self::metrics::Metrics;
pub(crate) use self::server::serve;

/// The metrics and the health state, shared by the consumer, the Xero client and the routes.
pub struct Observer {
    pub metrics: Metrics,
    pub health: Health,
}
