//! The platforms' list endpoints that the poller and backfill read: filters by modification
//! time, each platform's own pagination and page-size limit, its rate-limit headers and its
//! 429s. One file per platform, each naming the documentation it follows.

mod bigcommerce;
mod ebay;
mod etsy;
mod magento;
mod shopify;
mod woocommerce;

use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::Platform;

use super::State;

/// Rate-limit state the list endpoints keep.
#[derive(Debug, Default)]
pub(super) struct Limits {
    /// List requests still to be answered 429.
    pub throttle_next: usize,
    /// Shopify's leaky bucket: calls in it, as of `shopify_at`.
    pub shopify_used: f64,
    pub shopify_at: Option<std::time::Instant>,
    /// BigCommerce's calls in its current window, and when that window began.
    pub bigcommerce_used: u32,
    pub bigcommerce_window: Option<std::time::Instant>,
    /// Etsy's calls this second (since `etsy_second`) and today.
    pub etsy_second: Option<std::time::Instant>,
    pub etsy_this_second: u32,
    pub etsy_today: u32,
}

/// A listed resource's id, whatever the platform calls it.
pub(super) fn id_of(platform: Platform, resource: &Value) -> String {
    let field = match platform {
        Platform::Etsy => "receipt_id",
        Platform::Ebay => "orderId",
        Platform::Magento => "entity_id",
        Platform::Shopify | Platform::WooCommerce | Platform::BigCommerce => "id",
    };
    let id = resource[field].to_string().trim_matches('"').to_owned();
    // BigCommerce's refunds and Adobe Commerce's credit memos are listed beside the orders,
    // and numbered apart from them.
    match platform {
        Platform::BigCommerce | Platform::Magento if resource.get("order_id").is_some() => {
            format!("refund:{id}")
        }
        _ => id,
    }
}

/// The answer of a list endpoint, with its status, when `path` is one.
pub(super) fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
) -> Option<(u16, HttpResponse)> {
    let query = query(request);
    match state.platform {
        Platform::Shopify => shopify::answer(state, path, &query),
        Platform::WooCommerce => woocommerce::answer(state, path, &query),
        Platform::BigCommerce => bigcommerce::answer(state, path, &query),
        Platform::Magento => magento::answer(state, path, &query),
        Platform::Etsy => etsy::answer(state, path, &query),
        Platform::Ebay => ebay::answer(state, path, &query),
    }
}

/// The request's query, decoded, in order.
pub(super) fn query(request: &HttpRequest) -> Vec<(String, String)> {
    actix_web::web::Query::<Vec<(String, String)>>::from_query(request.query_string())
        .map(|q| q.into_inner())
        .unwrap_or_default()
}

pub(super) fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// An RFC 3339 / ISO 8601 time, as the platforms' filters and fields write them.
pub(super) fn time_of(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Takes one of the 429s a test asked for.
pub(super) fn throttled(state: &State) -> bool {
    let mut limits = state.limits.lock().unwrap();
    if limits.throttle_next > 0 {
        limits.throttle_next -= 1;
        return true;
    }
    false
}
