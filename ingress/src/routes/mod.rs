//! HTTP routes: the webhook endpoints with their platform handshakes, and the operational ones.

pub mod health;
pub mod webhooks;
