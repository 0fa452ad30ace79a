//! WooCommerce: a base64 HMAC-SHA256 of the body in `X-WC-Webhook-Signature`, keyed with the
//! webhook's secret; the topic in a header; an unsigned ping when a webhook is saved; no
//! delivery id that survives a resend, and no refund topic.

use actix_web::http::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::Value;
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{Delivery, Handshake, Unclassifiable, WebhookPlatform};
use crate::verify::{Body, Scheme, header, hmac_body};

pub(crate) struct WooCommerce;

impl WebhookPlatform for WooCommerce {
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        // WooCommerce keys the HMAC with the stored secret after HTML-entity decoding; an
        // operator may have copied either form, so both are tried.
        let mut keys = Vec::new();
        for secret in super::secrets(name, shop)? {
            let secret = secret.expose_secret();
            keys.push(hmac_body::key(secret));
            let decoded = decode_html_entities(secret);
            if decoded != secret {
                keys.push(hmac_body::key(&decoded));
            }
        }
        Ok(Scheme::BodyHmac {
            header: "X-WC-Webhook-Signature",
            alias: None,
            keys,
        })
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        match topic {
            "order.created" | "order.updated" | "order.deleted" | "order.restored" => {
                Some(EventKind::Order)
            }
            "product.updated"
            | "action.woocommerce_product_set_stock"
            | "action.woocommerce_variation_set_stock" => Some(EventKind::Inventory),
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
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
        ]
    }

    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        let topic = header(headers, "X-WC-Webhook-Topic")
            .ok_or(Unclassifiable("no X-WC-Webhook-Topic header"))?;
        let source = header(headers, "X-WC-Webhook-Source").unwrap_or_default();
        // Parsed once: the id and the refund check both read it.
        let parsed = body.json();
        let refunds = topic == "order.updated" && has_refunds(parsed);
        Ok(Delivery {
            native_id: event_id(source, topic, body.bytes(), parsed),
            topic: topic.to_owned(),
            kind_from_payload: refunds.then_some(EventKind::Refund),
        })
    }

    fn handshake(&self, body: &Body) -> Option<Handshake> {
        is_ping(body.bytes()).then_some(Handshake::Ping)
    }
}

/// WooCommerce's unsigned `webhook_id=<n>` form post, sent when a webhook is saved.
fn is_ping(body: &[u8]) -> bool {
    body.strip_prefix(b"webhook_id=")
        .is_some_and(|id| !id.is_empty() && id.len() <= 20 && id.iter().all(u8::is_ascii_digit))
}

/// WooCommerce sends no id that survives a resend, and builds the payload when it sends, so the
/// event is named by what it says: the resource and when it was last modified. Two sends of the
/// same state share an id; a real change gets a new one.
fn event_id(source: &str, topic: &str, body: &[u8], parsed: Option<&Value>) -> String {
    let id = parsed.and_then(|v| v.get("id")).map(Value::to_string);
    let modified = parsed
        .and_then(|v| v.get("date_modified_gmt"))
        .and_then(Value::as_str);
    match (id, modified) {
        (Some(id), Some(modified)) => super::digest(&[
            source.as_bytes(),
            topic.as_bytes(),
            id.as_bytes(),
            modified.as_bytes(),
        ]),
        _ => super::digest(&[source.as_bytes(), topic.as_bytes(), body]),
    }
}

/// WooCommerce has no refund topic: refunding fires `order.updated`, whose order now lists
/// refunds. Such an update is published as a refund; its body is the whole order, so the
/// processor can book the order itself too if it has not yet.
fn has_refunds(order: Option<&Value>) -> bool {
    order
        .and_then(|v| v.get("refunds").and_then(Value::as_array))
        .is_some_and(|r| !r.is_empty())
}

/// PHP's `wp_specialchars_decode($s, ENT_QUOTES)`.
fn decode_html_entities(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#039;", "'")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_bare_numeric_webhook_id_form_is_a_ping() {
        assert!(is_ping(b"webhook_id=142"));
        assert!(!is_ping(b"webhook_id="));
        assert!(!is_ping(b"webhook_id=1&x=2"));
        assert!(!is_ping(br#"{"webhook_id":1}"#));
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
            event_id(src, topic, body, parsed.as_ref())
        };
        assert_eq!(id("order.updated", a), id("order.updated", same_state));
        assert_ne!(id("order.updated", a), id("order.updated", later));
        assert_ne!(id("order.updated", a), id("order.created", a));
    }

    #[test]
    fn a_woocommerce_update_listing_refunds_is_a_refund() {
        let has = |body: &[u8]| has_refunds(serde_json::from_slice(body).ok().as_ref());
        assert!(has(br#"{"id":1,"refunds":[{"id":726,"total":"-10.00"}]}"#));
        assert!(!has(br#"{"id":1,"refunds":[]}"#));
        assert!(!has(b"not json"));
    }
}
