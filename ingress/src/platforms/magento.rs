//! Adobe Commerce (Magento 2) through Adobe I/O Events: RSA signatures with Adobe's public keys
//! (no shop secret), optionally addressed to the shop's Adobe client id; `GET ?challenge=` is
//! echoed; the topic is the CloudEvents `type`, with or without `com.adobe.commerce.`.

use actix_web::http::header::HeaderMap;
use serde_json::{Value, json};
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{ChallengeQuery, Delivery, Handshake, Unclassifiable, WebhookPlatform};
use crate::config::Shop;
use crate::error::IngressError;
use crate::verify::{Body, Scheme, header};

/// Adobe Commerce names events with or without this prefix.
const PREFIX: &str = "com.adobe.commerce.";

pub(crate) struct Magento;

impl WebhookPlatform for Magento {
    fn scheme(&self, _name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        Ok(Scheme::Adobe {
            client_id: shop.client_id.clone(),
        })
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        match unprefixed(topic) {
            "observer.sales_order_save_after"
            | "observer.sales_order_save_commit_after"
            | "plugin.sales.api.order_management.place"
            | "observer.sales_order_invoice_save_after" => Some(EventKind::Order),
            "observer.sales_order_creditmemo_save_after" => Some(EventKind::Refund),
            "observer.cataloginventory_stock_item_save_after"
            | "observer.cataloginventory_stock_item_save_commit_after" => {
                Some(EventKind::Inventory)
            }
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
            "observer.sales_order_save_after",
            "observer.sales_order_save_commit_after",
            "plugin.sales.api.order_management.place",
            "observer.sales_order_invoice_save_after",
            "observer.sales_order_creditmemo_save_after",
            "observer.cataloginventory_stock_item_save_after",
            "observer.cataloginventory_stock_item_save_commit_after",
            "observer.catalog_product_save_commit_after",
        ]
    }

    fn topic_label(&self, topic: &str) -> &'static str {
        super::documented_label(self.documented_topics(), unprefixed(topic))
    }

    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        let body = super::json(body)?;
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
        Ok(Delivery::new(topic, id))
    }

    /// Adobe's asynchronous validation request, its fallback when the GET challenge was not
    /// echoed. Following a URL from an unauthenticated body would let anyone make us fetch
    /// anything, so a person does it.
    fn handshake(&self, body: &Body) -> Option<Handshake> {
        is_validation_request(body.json()).then_some(Handshake::NeedsOperator(
            "Adobe I/O sent an asynchronous validation request; open its validationUrl within \
             5 minutes or re-register, after checking the GET challenge works",
        ))
    }

    /// `GET ?challenge=` gets the challenge echoed.
    fn challenge(&self, _shop: &Shop, query: &ChallengeQuery) -> Result<Value, IngressError> {
        Ok(json!({"challenge": query.param("challenge")?}))
    }

    fn warning(&self, shop: &Shop) -> Option<String> {
        matches!(shop.scheme, Scheme::Adobe { client_id: None }).then(|| {
            format!(
                "magento shop {:?} has no client_id: events addressed to any Adobe client are \
                 accepted",
                shop.name
            )
        })
    }
}

fn unprefixed(topic: &str) -> &str {
    topic.strip_prefix(PREFIX).unwrap_or(topic)
}

/// `body` is the delivery's one JSON parse (`None`: not JSON).
fn is_validation_request(body: Option<&Value>) -> bool {
    body.is_some_and(|v| {
        v.get("validationUrl").is_some_and(Value::is_string) && v.get("event_id").is_none()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adobe_validation_requests_are_told_apart_from_events() {
        let is = |body: &'static [u8]| {
            Magento
                .handshake(&Body::new(actix_web::web::Bytes::from_static(body)))
                .is_some()
        };
        assert!(is(br#"{"validationUrl":"https://csm.adobe.io/x"}"#));
        assert!(!is(br#"{"validationUrl":"https://x","event_id":"e"}"#));
        assert!(!is(b"{}"));
        assert!(!is(b"not json"));
    }
}
