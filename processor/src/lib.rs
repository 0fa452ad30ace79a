//! The processor: consumes the events the ingress published, normalises each platform into the
//! shared domain model, maps it onto the shop's Xero setup, and books it in Xero exactly once.
//!
//! # Layout
//! - [`platforms`]: one folder per platform: how its events become work, its API client, its
//!   normaliser into `xcs_shared::domain`.
//! - [`normalise`]: what every normaliser is built from (reading JSON with paths, errors), and
//!   the cleaning and plausibility checks every document gets.
//! - [`mapping`]: domain documents onto a shop's accounts, tax types and items, as Xero
//!   documents whose totals equal the platform's to the cent (pure; no I/O).
//! - [`config`]: typed configuration. [`ledger`]: what was booked, in PostgreSQL.
//! - [`booking`]: a tenant's batch of events into Xero documents, payments and
//!   allocations, adopting what already exists. [`error`]: what failed and whether to retry.
//! - [`claims`]: which processor consumes which shard.
//! - [`handoff`]: failed events to the retry tiers or the dead queue.
//! - [`xero`]: the Xero Accounting API's request and response types.
//! - [`operate`]: the operators' tools: dead letters (list, show, replay, purge) and re-sync.
//! - [`refund_limit`]: what an order has left to refund; a refund beyond it is refused.
//! - [`reconcile`]: a shop's events, the ledger and Xero compared, and what differs re-queued.
//! - [`summary`]: summary mode: a shop's orders and refunds as one invoice and one credit note
//!   per period, closed by one processor.
//! - [`setup`]: connecting Xero organisations, checking the whole setup, and a test order.

pub mod booking;
pub mod claims;
pub mod config;
pub mod consumer;
pub mod dispatch;
pub mod error;
#[cfg(feature = "test-faults")]
pub mod faults;
pub mod handoff;
pub mod ledger;
pub mod mapping;
pub mod normalise;
pub mod operate;
pub mod platforms;
pub mod publisher;
pub mod reconcile;
pub mod refund_limit;
pub mod setup;
pub mod startup;
pub mod summary;
pub mod token_cipher;
pub mod xero;
