//! The processor: consumes the events the ingress published, normalises each platform into the
//! shared domain model, maps it onto the shop's Xero setup, and books it in Xero exactly once.
//!
//! # Layout
//! The pipeline, in the order an event goes through it:
//! - `consumer` reads each shard it holds (`claims`: which processor holds which shard),
//!   `dispatch` turns an event into work through its platform's home in [`platforms`] (its
//!   API client and normaliser, built from [`normalise`]), and `booking` books a tenant's
//!   batch, or [`summary`] adds it to its period; [`mapping`] decides what a document looks
//!   like in Xero (pure), `refund_limit` what a refund may credit, and [`xero`] is the one
//!   layer that talks to Xero. [`ledger`] (PostgreSQL, all the SQL) records what was done
//!   before a delivery is acknowledged; [`handoff`] sends failures to the retry tiers or the
//!   dead queue; [`error`] says what failed and whether retrying helps.
//! - [`poll`]: the safety net under the webhooks: each shop's platform API read for what
//!   changed, published as events on the same path (and `backfill`, the same for history).
//! - [`publisher`]: publishing with confirms and the AMQP header helpers, for the pipeline and
//!   the tools.
//! - The operators' tools, which depend on the pipeline and never the reverse: [`operate`]
//!   (dead letters, re-sync), [`reconcile`], [`setup`] (connect, check, test transaction).
//! - [`config`]: typed configuration ([`timezone`]: a shop's time zone and its local
//!   periods); [`startup`]: the processor as a library the binary and
//!   the tests start; [`observe`]: its `/healthz`, `/readyz` and `/metrics`.

pub(crate) mod booking;
pub(crate) mod claims;
pub mod config;
pub mod console;
pub(crate) mod consumer;
pub(crate) mod dispatch;
pub mod error;
#[cfg(feature = "test-faults")]
pub mod faults;
pub mod handoff;
pub mod ledger;
pub mod mapping;
pub mod normalise;
pub mod observe;
pub mod operate;
pub mod payouts;
pub mod platforms;
pub mod poll;
pub mod publisher;
pub mod reconcile;
pub(crate) mod refund_limit;
pub mod setup;
pub mod startup;
pub mod stock;
pub mod summary;
pub mod timezone;
pub(crate) mod token_cipher;
pub mod xero;
