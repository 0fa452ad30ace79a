//! The Xero Accounting API as the processor uses it: one client ([`client`]: auth, limits,
//! errors), the documents both writers create, adopt, pay and allocate ([`documents`]), the
//! values put into filters ([`filter`]), and the request and response types ([`types`]).

pub mod client;
pub mod documents;
pub mod filter;
pub mod types;
