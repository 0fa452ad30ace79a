//! Test doubles and helpers for the integration tests, the load generator and the benchmarks.
//!
//! Everything here talks to the real RabbitMQ on 127.0.0.1:5672 (management API on :15672,
//! guest/guest); each test gets a vhost of its own, deleted when the test ends.
//!
//! # Layout
//! - [`signer`]: signs deliveries exactly as each platform does, independently of the ingress's
//!   verifiers.
//! - [`keyserver`]: a fake eBay Notification API and Adobe key host.
//! - [`browser`]: headless Chromium through WebDriver, for the operator console's tests.
//! - [`broker`]: a throwaway vhost with the deployed topology, and helpers to read it.
//! - [`proxy`]: a TCP proxy that can cut the ingress off from the broker.
//! - [`ingress`]: starts the ingress in-process on port 0.
//! - [`fixtures`]: realistic bodies per platform.
//! - [`openapi`]: checks requests against Xero's OpenAPI description.
//! - [`postgres`]: a schema per test. [`processor`]: the processor in-process against the
//!   Xero simulator, and publishing events as the ingress does.
//! - [`dead_letters`]: dead letters as the processor and RabbitMQ leave them, for the
//!   operators' tools.
//! - [`platform_api`]: a fake of the BigCommerce, Etsy, eBay and WooCommerce REST APIs the
//!   processor fetches thin webhooks' orders and refunds from.
//! - [`polled`]: a shop on that fake with a processor config that polls it, for the poller's
//!   tests.
//! - [`stock`]: tracked inventory's config, seeded items, Xero's quantities and adjustments.
//! - [`payouts`]: a paying-out shop's config, payouts part by part, published as the poller
//!   does, and what Xero holds of them.

pub mod broker;
pub mod browser;
pub mod console;
pub mod dead_letters;
pub mod fixtures;
pub mod ingress;
pub mod keyserver;
pub mod openapi;
pub mod payouts;
pub mod platform_api;
pub mod polled;
pub mod postgres;
pub mod processor;
pub mod proxy;
pub mod signer;
pub mod stock;

use std::time::Duration;

/// Polls `check` until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The workspace root, for files under `deploy/` and `tests/fixtures/`.
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace")
        .to_path_buf()
}
