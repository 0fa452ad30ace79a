//! Black-box tests of the Xero simulator over HTTP, one module per behaviour area. Each test
//! starts its own simulator on a free port; no other service is needed.

mod admin;
mod bank;
mod contacts;
mod credit_notes;
mod faults;
mod helpers;
mod idempotency;
mod inventory;
mod invoices;
mod journal;
mod oauth;
mod organisations;
mod payments;
mod plan_limits;
mod rate_limits;
mod scopes;
mod tax_overrides;
mod xero_rules;
