//! Types and names that the ingress and the processor must agree on.
//!
//! # Layout
//! - [`platform`]: the commerce platforms (one line each) and the kinds of event we book.
//! - [`domain`]: orders, refunds and stock changes, normalised from every platform.
//! - [`envelope`]: the AMQP headers every published event carries.
//! - [`topology`]: exchange and queue names, and the RabbitMQ definitions built from them
//!   (`deploy/rabbitmq/definitions.json` is generated from, and tested against, this module).
//! - [`config_file`]: how both binaries read their config: file, environment, validation.
//! - [`ingress_shops`]: the ingress config's shops, which the processor's `check` and
//!   `test-transaction` read too.
//! - [`amqp_connect`]: why a connection to RabbitMQ failed, naming the setting to fix, and
//!   how a reconnect loop reports it without flooding the log.
//! - [`telemetry`]: the tracing subscriber both binaries install.

pub mod amqp_connect;
pub mod config_file;
pub mod domain;
pub mod envelope;
pub mod ingress_shops;
pub mod platform;
pub mod telemetry;
pub mod topology;

pub use config_file::shop_env_prefix;
pub use envelope::{Envelope, Source};
pub use platform::{EventKind, Platform};
