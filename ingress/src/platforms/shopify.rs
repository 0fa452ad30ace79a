//! Shopify: a base64 HMAC-SHA256 of the body under the app's secret in
//! `X-Shopify-Hmac-Sha256`; the topic and the webhook id in headers.

use actix_web::http::header::HeaderMap;
use secrecy::ExposeSecret;
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{Delivery, Unclassifiable, WebhookPlatform};
use crate::verify::{Body, Scheme, header, hmac_body};

pub(crate) struct Shopify;

impl WebhookPlatform for Shopify {
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        let secrets = super::secrets(name, shop)?;
        Ok(Scheme::BodyHmac {
            header: "X-Shopify-Hmac-Sha256",
            // Shopify's newer "Events" deliveries use the same header without `X-`.
            alias: Some("shopify-hmac-sha256"),
            keys: secrets
                .iter()
                .map(|s| hmac_body::key(s.expose_secret()))
                .collect(),
        })
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        match topic {
            "orders/create" | "orders/updated" | "orders/paid" | "orders/cancelled"
            | "orders/edited" => Some(EventKind::Order),
            "refunds/create" => Some(EventKind::Refund),
            "inventory_levels/update"
            | "inventory_levels/connect"
            | "inventory_levels/disconnect" => Some(EventKind::Inventory),
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
            "orders/create",
            "orders/updated",
            "orders/paid",
            "orders/cancelled",
            "orders/edited",
            "orders/fulfilled",
            "orders/partially_fulfilled",
            "orders/delete",
            "refunds/create",
            "order_transactions/create",
            "inventory_levels/update",
            "inventory_levels/connect",
            "inventory_levels/disconnect",
            "inventory_items/create",
            "inventory_items/update",
            "inventory_items/delete",
            "products/create",
            "products/update",
            "products/delete",
            "customers/create",
            "customers/update",
            "customers/delete",
            "app/uninstalled",
            "customers/data_request",
            "customers/redact",
            "shop/redact",
        ]
    }

    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        let topic = header(headers, "X-Shopify-Topic")
            .or_else(|| header(headers, "shopify-topic"))
            .ok_or(Unclassifiable("no X-Shopify-Topic header"))?;
        // The webhook id is Shopify's documented dedupe key; the body hash is only a fallback
        // for deliveries that somehow lack it.
        let id = header(headers, "X-Shopify-Webhook-Id")
            .or_else(|| header(headers, "shopify-webhook-id"))
            .map(str::to_owned)
            .unwrap_or_else(|| super::digest(&[topic.as_bytes(), body.bytes()]));
        Ok(Delivery::new(topic, &id))
    }
}
