//! `xcs-xero-sim`: a stand-in for the Xero Accounting API, faithful enough that passing against
//! it means passing against Xero: OAuth 2.0 (authorization code, refresh rotation with grace,
//! Custom Connections), invoices, credit notes, allocations, payments, contacts and items with
//! Xero's validation messages and per-line tax rounding, `summarizeErrors`, idempotency keys,
//! rate limits, injectable faults, a simulated clock and a request journal.
//!
//! Start it in a test with [`XeroSim::start`]; see the crate README for the admin API and what
//! differs from real Xero.
//!
//! # Layout
//! - [`sim`]: [`XeroSim`], [`SimConfig`], [`RunningSim`] (the library API).
//! - [`server`]: the HTTP pipeline; [`admin`]: `/__sim` endpoints.
//! - [`oauth`], [`accounting`]: the simulated APIs.
//! - [`validation`], [`money`], [`wire`]: Xero's error shapes, arithmetic and JSON conventions.
//! - [`store`], [`state`], [`seed`]: the books, the shared state and the seed format;
//!   [`organisations`]: organisations added while it runs.
//! - [`idempotency`], [`ratelimit`], [`faults`], [`clock`], [`journal`]: the cross-cutting
//!   behaviours.

pub mod accounting;
pub mod admin;
pub mod clock;
pub mod faults;
pub mod idempotency;
pub mod journal;
pub mod money;
pub mod oauth;
pub mod organisations;
pub mod plan;
pub mod ratelimit;
pub mod readings;
pub mod response;
pub mod scopes;
pub mod seed;
pub mod server;
pub mod sim;
pub mod state;
pub mod store;
pub mod validation;
pub mod wire;

pub use faults::{Fault, FaultKind, FaultMatcher};
pub use journal::JournalEntry;
pub use oauth::TokenSet;
pub use organisations::{NewOrganisation, OrganisationError};
pub use plan::Plan;
pub use ratelimit::RateLimits;
pub use readings::Readings;
pub use seed::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_ID,
    DEMO_APP_CLIENT_SECRET, DEMO_AU_TENANT_ID, DEMO_NZ_TENANT_ID, Seed,
};
pub use sim::{RunningSim, SimConfig, XeroSim};
pub use state::Records;
