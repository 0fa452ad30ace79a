//! The Xero Accounting API as the processor uses it.

pub mod client;
pub mod filter;
pub mod types;
