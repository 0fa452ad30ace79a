//! Etsy: Standard Webhooks `v1` with the `whsec_` secret from its portal; the topic is the
//! body's `event_type`. Its deliveries are thin: the processor fetches the receipt.

use actix_web::http::header::HeaderMap;
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{Delivery, Unclassifiable, WebhookPlatform};
use crate::verify::{Body, Scheme};

pub(crate) struct Etsy;

impl WebhookPlatform for Etsy {
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        super::standard_webhooks_scheme(name, shop)
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        // Etsy's docs say `ORDER_PAID`, a third-party contract says `order.paid`: accept both.
        match topic.to_ascii_lowercase().replace('_', ".").as_str() {
            "order.paid" | "order.canceled" | "order.cancelled" => Some(EventKind::Order),
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
            "ORDER_PAID",
            "order.paid",
            "order.canceled",
            "order.cancelled",
            "order.shipped",
            "order.delivered",
        ]
    }

    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        // Etsy documents `event_type`; a CloudEvents-style `type` is accepted too.
        super::standard_webhooks_delivery(
            headers,
            body,
            &["event_type", "type"],
            "no event_type in the body",
        )
    }
}
