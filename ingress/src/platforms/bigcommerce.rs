//! BigCommerce: Standard Webhooks `v1` keyed with the app's client secret, optionally with
//! static headers it was told to send back; the topic is the body's `scope`. Its deliveries
//! are thin: the processor fetches the order.

use actix_web::http::header::HeaderMap;
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{Delivery, Unclassifiable, WebhookPlatform};
use crate::verify::{Body, Scheme};

pub(crate) struct BigCommerce;

impl WebhookPlatform for BigCommerce {
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        super::standard_webhooks_scheme(name, shop)
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        match topic {
            "store/order/created"
            | "store/order/updated"
            | "store/order/statusUpdated"
            | "store/order/archived"
            | "store/order/transaction/created"
            | "store/order/transaction/updated" => Some(EventKind::Order),
            "store/order/refund/created" => Some(EventKind::Refund),
            "store/product/inventory/updated"
            | "store/product/inventory/order/updated"
            | "store/sku/inventory/updated"
            | "store/sku/inventory/order/updated" => Some(EventKind::Inventory),
            t if t.starts_with("store/channel/")
                && t.ends_with("/inventory/product/stock_changed") =>
            {
                Some(EventKind::Inventory)
            }
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
            "store/order/created",
            "store/order/updated",
            "store/order/archived",
            "store/order/statusUpdated",
            "store/order/refund/created",
            "store/order/transaction/created",
            "store/order/transaction/updated",
            "store/order/message/created",
            "store/product/created",
            "store/product/updated",
            "store/product/deleted",
            "store/product/inventory/updated",
            "store/product/inventory/order/updated",
            "store/sku/inventory/updated",
            "store/sku/inventory/order/updated",
            "store/customer/created",
            "store/customer/updated",
            "store/customer/deleted",
        ]
    }

    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        super::standard_webhooks_delivery(headers, body, &["scope"], "no scope in the body")
    }
}
