//! The ingress: receives commerce platforms' webhooks, proves each is genuine, and hands it to
//! RabbitMQ durably before answering 2xx.
//!
//! # Layout
//! - [`platforms`]: one file per platform with everything the ingress knows of it: which
//!   verification scheme with which of a shop's secrets, its handshakes, where a delivery's
//!   topic and id are, topic → kind, and its documented topics (metric labels).
//! - [`verify`]: the signature schemes the platforms pick from (HMAC over the body, Standard
//!   Webhooks, eBay's ECDSA and Adobe's RSA with fetched keys); `keys` fetches and caches those
//!   keys, within `lookup_limits`.
//! - `config`: typed configuration, validated at start, read through `xcs_shared::config_file`;
//!   its shops are `xcs_shared::ingress_shops`, which the processor's `check` reads too.
//! - `startup`: builds and runs the HTTP server ([`Application`]); `connection` holds every
//!   request on a kept-alive connection to the header and keep-alive timeouts.
//! - `routes`: `/webhooks/{platform}/{shop}` (`POST` and the `GET` challenge); `/healthz`,
//!   `/readyz`, `/metrics`.
//! - `publisher`: publishes with confirms and `mandatory`, reconnecting on its own.
//! - `error`: every non-2xx answer and its status code. `metrics`: Prometheus counters.

mod config;
mod connection;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod keys;
mod lookup_limits;
mod metrics;
pub mod platforms;
mod publisher;
mod routes;
mod startup;
pub mod verify;

pub use config::{Config, ConfigError};
pub use startup::Application;
