//! The Xero Accounting API as the processor uses it.

pub mod types;
