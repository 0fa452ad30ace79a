//! What a verified delivery is: its platform topic, its kind, and an event id that stays the
//! same when the platform retries the delivery, so the processor can drop the repeat.

use actix_web::http::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};
use xcs_shared::{EventKind, Platform};

use crate::verify::{VerifiedWebhook, header, sw_header};

/// A verified delivery, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub topic: String,
    /// `None`: a topic we do not book; acknowledged and counted, not published.
    pub kind: Option<EventKind>,
    pub event_id: String,
}

/// A genuine delivery we cannot read: a header or field every delivery of the platform has is
/// missing. Answered 400; nothing is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot classify the delivery: {0}")]
pub struct Unclassifiable(pub &'static str);

/// Platform ids longer than this (AMQP's `message-id` is at most 255 bytes) are hashed.
const MAX_NATIVE_ID_LEN: usize = 128;

/// Classifies a verified delivery of `shop` on `platform`.
///
/// # Errors
/// [`Unclassifiable`] naming what is missing.
pub fn classify(
    platform: Platform,
    shop: &str,
    headers: &HeaderMap,
    webhook: &VerifiedWebhook,
) -> Result<Classified, Unclassifiable> {
    let body = webhook.body();
    let json = || {
        serde_json::from_slice::<Value>(body).map_err(|_| Unclassifiable("the body is not JSON"))
    };
    let mut woocommerce_refunds = false;
    let (topic, native_id) = match platform {
        Platform::Shopify => {
            let topic = header(headers, "X-Shopify-Topic")
                .or_else(|| header(headers, "shopify-topic"))
                .ok_or(Unclassifiable("no X-Shopify-Topic header"))?;
            // The webhook id is Shopify's documented dedupe key; the body hash is only a
            // fallback for deliveries that somehow lack it.
            let id = header(headers, "X-Shopify-Webhook-Id")
                .or_else(|| header(headers, "shopify-webhook-id"))
                .map(str::to_owned)
                .unwrap_or_else(|| digest(&[topic.as_bytes(), body]));
            (topic.to_owned(), id)
        }
        Platform::WooCommerce => {
            let topic = header(headers, "X-WC-Webhook-Topic")
                .ok_or(Unclassifiable("no X-WC-Webhook-Topic header"))?;
            let source = header(headers, "X-WC-Webhook-Source").unwrap_or_default();
            // Parsed once: the id and the refund check both read it.
            let parsed = serde_json::from_slice::<Value>(body).ok();
            woocommerce_refunds = woocommerce_has_refunds(parsed.as_ref());
            (
                topic.to_owned(),
                woocommerce_event_id(source, topic, body, parsed.as_ref()),
            )
        }
        Platform::BigCommerce | Platform::Etsy => {
            // Etsy documents `event_type`; a CloudEvents-style `type` is accepted too.
            let fields: &[&str] = if platform == Platform::Etsy {
                &["event_type", "type"]
            } else {
                &["scope"]
            };
            let body = json()?;
            let topic = fields
                .iter()
                .find_map(|field| body.get(*field).and_then(Value::as_str))
                .ok_or(Unclassifiable(if platform == Platform::Etsy {
                    "no event_type in the body"
                } else {
                    "no scope in the body"
                }))?;
            let id =
                sw_header(headers, "id").map_err(|_| Unclassifiable("no webhook-id header"))?;
            (topic.to_owned(), id.to_owned())
        }
        Platform::Ebay => {
            let body = json()?;
            let topic = body
                .pointer("/metadata/topic")
                .and_then(Value::as_str)
                .ok_or(Unclassifiable("no metadata.topic in the body"))?;
            let id = body
                .pointer("/notification/notificationId")
                .and_then(Value::as_str)
                .ok_or(Unclassifiable("no notification.notificationId in the body"))?;
            (topic.to_owned(), id.to_owned())
        }
        Platform::Magento => {
            let body = json()?;
            let topic = body
                .get("type")
                .and_then(Value::as_str)
                .or_else(|| header(headers, "x-adobe-event-code"))
                .ok_or(Unclassifiable("no CloudEvents type in the body"))?;
            // event_id is the documented dedupe key; the CloudEvents id is the fallback.
            let id = body
                .get("event_id")
                .and_then(Value::as_str)
                .or_else(|| header(headers, "x-adobe-event-id"))
                .or_else(|| body.get("id").and_then(Value::as_str))
                .ok_or(Unclassifiable("no event_id in the body"))?;
            (topic.to_owned(), id.to_owned())
        }
    };

    let kind = match (platform, topic.as_str()) {
        (Platform::WooCommerce, "order.updated") if woocommerce_refunds => Some(EventKind::Refund),
        _ => platform.classify(&topic),
    };
    Ok(Classified {
        kind,
        event_id: event_id(platform, shop, &native_id),
        topic,
    })
}

/// The metric label for `topic`: its own name when the platform documents it, `other` for
/// anything else. Shopify's and WooCommerce's topics are unsigned headers, so a captured body
/// replays with any topic; one label value each would grow `/metrics` without bound.
pub fn topic_label(platform: Platform, topic: &str) -> &'static str {
    // Adobe Commerce names events with or without its `com.adobe.commerce.` prefix.
    let topic = match platform {
        Platform::Magento => topic.strip_prefix("com.adobe.commerce.").unwrap_or(topic),
        _ => topic,
    };
    documented_topics(platform)
        .iter()
        .find(|known| **known == topic)
        .copied()
        .unwrap_or("other")
}

/// The topics each platform documents that are about orders, refunds, stock, the catalogue,
/// customers or the app itself (platforms.md), booked or not.
fn documented_topics(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Shopify => &[
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
        ],
        Platform::WooCommerce => &[
            "order.created",
            "order.updated",
            "order.deleted",
            "order.restored",
            "product.created",
            "product.updated",
            "product.deleted",
            "product.restored",
            "customer.created",
            "customer.updated",
            "customer.deleted",
            "coupon.created",
            "coupon.updated",
            "coupon.deleted",
            "coupon.restored",
            "action.woocommerce_product_set_stock",
            "action.woocommerce_variation_set_stock",
        ],
        Platform::BigCommerce => &[
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
        ],
        Platform::Magento => &[
            "observer.sales_order_save_after",
            "observer.sales_order_save_commit_after",
            "plugin.sales.api.order_management.place",
            "observer.sales_order_invoice_save_after",
            "observer.sales_order_creditmemo_save_after",
            "observer.cataloginventory_stock_item_save_after",
            "observer.cataloginventory_stock_item_save_commit_after",
            "observer.catalog_product_save_commit_after",
        ],
        Platform::Etsy => &[
            "ORDER_PAID",
            "order.paid",
            "order.canceled",
            "order.cancelled",
            "order.shipped",
            "order.delivered",
        ],
        Platform::Ebay => &[
            "ORDER_CONFIRMATION",
            "ITEM_MARKED_SHIPPED",
            "MARKETPLACE_ACCOUNT_DELETION",
            "AUTHORIZATION_REVOCATION",
            "PRIORITY_LISTING_REVISION",
            "ITEM_AVAILABILITY",
            "ITEM_PRICE_REVISION",
        ],
    }
}

/// `{platform}:{shop}:{platform's id}`, readable in dead-letter listings and unique across
/// shops. An id that is too long or not plain text is replaced by its hash.
fn event_id(platform: Platform, shop: &str, native_id: &str) -> String {
    let printable = native_id.chars().all(|c| c.is_ascii_graphic());
    let native = if printable && !native_id.is_empty() && native_id.len() <= MAX_NATIVE_ID_LEN {
        native_id.to_owned()
    } else {
        digest(&[native_id.as_bytes()])
    };
    format!("{platform}:{shop}:{native}")
}

/// WooCommerce sends no id that survives a resend, and builds the payload when it sends, so the
/// event is named by what it says: the resource and when it was last modified. Two sends of the
/// same state share an id; a real change gets a new one.
fn woocommerce_event_id(source: &str, topic: &str, body: &[u8], parsed: Option<&Value>) -> String {
    let id = parsed.and_then(|v| v.get("id")).map(Value::to_string);
    let modified = parsed
        .and_then(|v| v.get("date_modified_gmt"))
        .and_then(Value::as_str);
    match (id, modified) {
        (Some(id), Some(modified)) => digest(&[
            source.as_bytes(),
            topic.as_bytes(),
            id.as_bytes(),
            modified.as_bytes(),
        ]),
        _ => digest(&[source.as_bytes(), topic.as_bytes(), body]),
    }
}

/// WooCommerce has no refund topic: refunding fires `order.updated`, whose order now lists
/// refunds. Such an update is published as a refund; its body is the whole order, so the
/// processor can book the order itself too if it has not yet.
fn woocommerce_has_refunds(order: Option<&Value>) -> bool {
    order
        .and_then(|v| v.get("refunds").and_then(Value::as_array))
        .is_some_and(|r| !r.is_empty())
}

/// Hex SHA-256 of the parts, each length-prefixed so that different splits cannot collide.
fn digest(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_topics_keep_their_label_and_anything_else_is_other() {
        assert_eq!(
            topic_label(Platform::Shopify, "app/uninstalled"),
            "app/uninstalled"
        );
        assert_eq!(topic_label(Platform::Shopify, "orders/paid "), "other");
        assert_eq!(topic_label(Platform::Shopify, &"x".repeat(4096)), "other");
        assert_eq!(topic_label(Platform::WooCommerce, "orders/paid"), "other");
        assert_eq!(
            topic_label(
                Platform::Magento,
                "com.adobe.commerce.observer.catalog_product_save_commit_after"
            ),
            "observer.catalog_product_save_commit_after"
        );
    }

    #[test]
    fn booked_topics_are_documented_and_no_documented_topic_reads_as_other() {
        for platform in Platform::ALL {
            let topics = documented_topics(platform);
            let distinct: std::collections::BTreeSet<_> = topics.iter().collect();
            assert_eq!(
                distinct.len(),
                topics.len(),
                "{platform}: a topic listed twice"
            );
            assert!(!topics.contains(&"other"), "{platform}");
        }
        let booked = [
            (Platform::Shopify, "refunds/create"),
            (Platform::BigCommerce, "store/order/refund/created"),
            (Platform::Etsy, "ORDER_PAID"),
            (Platform::Ebay, "ORDER_CONFIRMATION"),
        ];
        for (platform, topic) in booked {
            assert!(platform.classify(topic).is_some());
            assert_eq!(topic_label(platform, topic), topic);
        }
    }

    #[test]
    fn long_or_odd_platform_ids_are_hashed_to_fit_amqp() {
        let long = "x".repeat(300);
        let id = event_id(Platform::Ebay, "bay", &long);
        assert!(id.len() < 80, "{id}");
        assert_eq!(id, event_id(Platform::Ebay, "bay", &long), "stable");
        assert_eq!(event_id(Platform::Etsy, "e", "msg_1"), "etsy:e:msg_1");
        assert_ne!(event_id(Platform::Etsy, "e", "a b"), "etsy:e:a b");
    }

    #[test]
    fn woocommerce_ids_follow_the_resource_state_not_the_delivery() {
        let a = br#"{"id":727,"date_modified_gmt":"2025-01-10T17:05:00","status":"processing"}"#;
        let same_state =
            br#"{"status":"processing","id":727,"date_modified_gmt":"2025-01-10T17:05:00"}"#;
        let later = br#"{"id":727,"date_modified_gmt":"2025-01-10T17:06:00","status":"completed"}"#;
        let src = "https://shop.example/";
        let id = |topic: &str, body: &[u8]| {
            let parsed = serde_json::from_slice::<Value>(body).ok();
            woocommerce_event_id(src, topic, body, parsed.as_ref())
        };
        assert_eq!(id("order.updated", a), id("order.updated", same_state));
        assert_ne!(id("order.updated", a), id("order.updated", later));
        assert_ne!(id("order.updated", a), id("order.created", a));
    }

    #[test]
    fn a_woocommerce_update_listing_refunds_is_a_refund() {
        let has = |body: &[u8]| woocommerce_has_refunds(serde_json::from_slice(body).ok().as_ref());
        assert!(has(br#"{"id":1,"refunds":[{"id":726,"total":"-10.00"}]}"#));
        assert!(!has(br#"{"id":1,"refunds":[]}"#));
        assert!(!has(b"not json"));
    }
}
