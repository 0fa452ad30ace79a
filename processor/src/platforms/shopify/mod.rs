//! Shopify: whole order, refund and inventory webhooks; an order paid through several
//! gateways gets its transactions from the Admin REST API, to split the payment.

pub mod normalise;
pub mod payouts;
pub(crate) mod poll;
pub(crate) mod sample;
mod stock;
pub mod webhooks;

use std::borrow::Cow;

use serde_json::Value;
use xcs_shared::EventKind;

use super::api::Auth;
use super::{Event, id_at, json};
use crate::booking::Work;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    Ok(match event.envelope.kind {
        EventKind::Order => Work::Order(normalise::order(&order_with_transactions(event).await?)?),
        EventKind::Refund => {
            let order_id = id_at(
                &json(event.body, "the Shopify refund")?,
                "/order_id",
                "the Shopify refund",
            )?;
            let context = event.order_context(&order_id).await?;
            Work::Refunds {
                order: None,
                refunds: vec![normalise::refund(event.body, &context)?],
            }
        }
        EventKind::Payout => return Err(super::payout_elsewhere()),
        EventKind::Inventory => stock::work(event, normalise::stock(event.body)?).await?,
    })
}

/// A Shopify order as the normaliser should read it: with its transactions embedded under
/// `transactions` when only they tell how a split payment was split
/// ([`normalise::needs_transactions`]), fetched from the Admin REST API
/// (`GET /admin/api/{version}/orders/{id}/transactions.json`). Other orders, and bodies
/// that are not JSON (the normaliser names the fault), pass unchanged.
///
/// Without an `[api]` section the order is booked as before, its invoice left unpaid, and
/// a warning names the shop and what to configure.
///
/// # Errors
/// [`ProcessError::Hydration`] (retryable) when the API is unreachable or answers 5xx or
/// 429; [`ProcessError::PlatformCredentials`] (permanent) for 401 and 403, naming the shop.
async fn order_with_transactions<'b>(event: &Event<'b>) -> Result<Cow<'b, [u8]>, ProcessError> {
    let (envelope, shop, body) = (event.envelope, event.shop, event.body);
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return Ok(Cow::Borrowed(body));
    };
    let mut order = crate::normalise::unwrap_resource(value, &["order"]);
    if !normalise::needs_transactions(&order) {
        return Ok(Cow::Borrowed(body));
    }
    let order_id = id_at(&order, "/id", "the Shopify order")?;
    let Some(api) = shop.api.as_ref() else {
        tracing::warn!(
            shop = %envelope.shop,
            order = %order_id,
            event = %envelope.event_id,
            "Shopify order {order_id} of shop {shop_name} was paid through several gateways, \
             but the shop has no [shops.{shop_name}.api] section to fetch its transactions \
             from: its invoice is booked without payments. Configure the API (base_url \
             https://<store>.myshopify.com, token = an Admin API access token with \
             read_orders) and replay the event to book the payments",
            shop_name = envelope.shop,
        );
        return Ok(Cow::Borrowed(body));
    };
    let path = format!(
        "/admin/api/{}/orders/{order_id}/transactions.json",
        api.shopify_api_version()
    );
    let answer = event
        .fetcher
        .get(envelope.platform, api, Auth::ShopifyAccessToken, &path)
        .await
        .map_err(|err| match err {
            ProcessError::PlatformCredentials(detail) => {
                ProcessError::PlatformCredentials(format!(
                    "Shopify shop {shop_name}: {detail}; the Admin API access token \
                     (`token` in [shops.{shop_name}.api], or {prefix}API_TOKEN) is wrong or \
                     revoked, or lacks the read_orders scope",
                    shop_name = envelope.shop,
                    prefix = xcs_shared::shop_env_prefix(&envelope.shop),
                ))
            }
            other => other,
        })?;
    let transactions = answer
        .get("transactions")
        .filter(|list| list.is_array())
        .cloned()
        .ok_or_else(|| {
            ProcessError::Unparseable(format!(
                "Shopify's answer to {path} has no `transactions` list"
            ))
        })?;
    if let Some(fields) = order.as_object_mut() {
        fields.insert("transactions".to_owned(), transactions);
    }
    Ok(Cow::Owned(
        serde_json::to_vec(&order).expect("JSON values serialise"),
    ))
}

/// Shopify's Shop resource (`GET /admin/api/{version}/shop.json`, Admin REST API): answered
/// with any valid token, and 404 for a version Shopify does not serve.
pub(crate) fn api_probe(api: &crate::platforms::api::PlatformApi) -> (Auth, String) {
    (
        Auth::ShopifyAccessToken,
        format!("/admin/api/{}/shop.json", api.shopify_api_version()),
    )
}
