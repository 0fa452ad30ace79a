//! Types and names that the ingress and the processor must agree on.
//!
//! # Layout
//! - [`platform`]: the commerce platforms, the event kinds, and which platform topic is which kind.
//! - [`domain`]: orders, refunds and stock changes, normalised from every platform.
//! - [`envelope`]: the AMQP headers every published event carries.
//! - [`topology`]: exchange and queue names, and the RabbitMQ definitions built from them
//!   (`deploy/rabbitmq/definitions.json` is generated from, and tested against, this module).
//! - [`telemetry`]: the tracing subscriber both binaries install.

pub mod domain;
pub mod envelope;
pub mod platform;
pub mod telemetry;
pub mod topology;

pub use envelope::Envelope;

/// `XCS_SHOP_<NAME>_`: the prefix of a shop's secrets in the environment, with the shop name
/// upper-cased and anything but letters and digits turned into `_`.
pub fn shop_env_prefix(shop: &str) -> String {
    let name: String = shop
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("XCS_SHOP_{name}_")
}
pub use platform::{EventKind, Platform};
