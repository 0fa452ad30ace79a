//! The ingress: receives commerce platforms' webhooks, proves each is genuine, and hands it to
//! RabbitMQ durably before answering 2xx.
//!
//! # Layout
//! - [`config`]: typed configuration, shops and their secrets, validated at start.
//! - [`startup`]: builds and runs the HTTP server ([`Application`]); [`connection`] holds every
//!   request on a kept-alive connection to the header and keep-alive timeouts.
//! - [`routes`]: `/webhooks/{platform}/{shop}` with its handshakes; `/healthz`, `/readyz`,
//!   `/metrics`.
//! - [`verify`]: each platform's signature scheme over the raw bytes; [`keys`] fetches and
//!   caches eBay's and Adobe's public keys, within [`lookup_limits`].
//! - [`classify`]: topic, kind and a retry-stable event id for a verified delivery.
//! - [`publisher`]: publishes with confirms and `mandatory`, reconnecting on its own.
//! - [`error`]: every non-2xx answer and its status code. [`metrics`]: Prometheus counters.

pub mod classify;
pub mod config;
pub mod connection;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod lookup_limits;
pub mod metrics;
pub mod publisher;
pub mod routes;
pub mod startup;
pub mod verify;

pub use config::Config;
pub use startup::Application;
