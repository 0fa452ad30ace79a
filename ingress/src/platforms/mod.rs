//! Everything the ingress knows of each platform, one file each: which verification scheme of
//! [`crate::verify`] it uses with which of a shop's secrets, its handshakes, where a delivery's
//! topic and id are, which topics are booked as which kind, and the topics it documents. The
//! webhook route asks `of` for its platform and never matches on one itself.
//!
//! Adding a platform: its file here implementing `WebhookPlatform`, with its `mod` line and its
//! arm in `of` (the compiler asks for the arm once `xcs_shared::Platform` has the platform).

mod bigcommerce;
mod ebay;
mod etsy;
mod magento;
mod shopify;
mod woocommerce;

use actix_web::http::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
pub(crate) use xcs_shared::envelope::digest;
use xcs_shared::envelope::event_id;
use xcs_shared::ingress_shops::IngressShop;
use xcs_shared::{EventKind, Platform};

use crate::config::Shop;
use crate::error::IngressError;
use crate::verify::{Body, Scheme, VerifiedWebhook, standard_webhooks};

/// What the ingress knows of one platform.
pub(crate) trait WebhookPlatform: Sync {
    /// How a shop's deliveries are verified, from its `[shops.NAME]` table.
    ///
    /// # Errors
    /// What is missing or wrong in the table, and how to fix it.
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String>;

    /// The kind a topic is booked as, or `None` for a topic we do not book.
    fn topic_kind(&self, topic: &str) -> Option<EventKind>;

    /// The topics the platform documents that are about orders, refunds, stock, the catalogue,
    /// customers or the app itself (platforms.md), booked or not: the metric labels.
    fn documented_topics(&self) -> &'static [&'static str];

    /// A verified delivery's topic and the platform's own id for it.
    ///
    /// # Errors
    /// [`Unclassifiable`] naming what every delivery of the platform has and this one lacks.
    fn read_delivery(&self, headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable>;

    /// The metric label for `topic`: its own name when the platform documents it, `other` for
    /// anything else.
    fn topic_label(&self, topic: &str) -> &'static str {
        documented_label(self.documented_topics(), topic)
    }

    /// An unsigned POST the platform sends that is not an event, answered 200 before
    /// verification.
    fn handshake(&self, _body: &Body) -> Option<Handshake> {
        None
    }

    /// The answer to a GET on the webhook URL, the platform's endpoint validation.
    ///
    /// # Errors
    /// [`IngressError::MethodNotAllowed`] for a platform that has none; a bad request when the
    /// query or the shop's settings cannot give the answer.
    fn challenge(&self, _shop: &Shop, _query: &ChallengeQuery) -> Result<Value, IngressError> {
        Err(IngressError::MethodNotAllowed(
            "this platform has no GET handshake; webhooks are POSTed",
        ))
    }

    /// What an operator should know about a shop's settings, logged at start.
    fn warning(&self, _shop: &Shop) -> Option<String> {
        None
    }
}

/// The one place that names every platform's file.
pub(crate) fn of(platform: Platform) -> &'static dyn WebhookPlatform {
    match platform {
        Platform::Shopify => &shopify::Shopify,
        Platform::WooCommerce => &woocommerce::WooCommerce,
        Platform::BigCommerce => &bigcommerce::BigCommerce,
        Platform::Magento => &magento::Magento,
        Platform::Etsy => &etsy::Etsy,
        Platform::Ebay => &ebay::Ebay,
    }
}

/// What a platform's file reads from a verified delivery.
pub(crate) struct Delivery {
    pub topic: String,
    /// The platform's id for the event, the same when it retries the delivery.
    pub native_id: String,
    /// The kind, when the payload rather than the topic decides it (WooCommerce's refunds).
    pub kind_from_payload: Option<EventKind>,
}

impl Delivery {
    fn new(topic: &str, native_id: &str) -> Self {
        Delivery {
            topic: topic.to_owned(),
            native_id: native_id.to_owned(),
            kind_from_payload: None,
        }
    }
}

/// A POST that is not an event.
pub(crate) enum Handshake {
    /// Answered and forgotten.
    Ping,
    /// Answered, and logged for a person to act on.
    NeedsOperator(&'static str),
}

/// The query of a GET on a webhook URL.
#[derive(serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct ChallengeQuery(Vec<(String, String)>);

impl ChallengeQuery {
    /// The one value of `name`, bounded: it is echoed or hashed, never stored.
    ///
    /// # Errors
    /// A bad request when it is missing, empty, repeated or longer than 512 bytes.
    pub(crate) fn param(&self, name: &str) -> Result<&str, IngressError> {
        let mut values = self.0.iter().filter(|(key, _)| key == name);
        match (values.next(), values.next()) {
            (Some((_, value)), None) if !value.is_empty() && value.len() <= 512 => Ok(value),
            _ => Err(IngressError::BadRequest(format!(
                "missing or invalid {name} query parameter"
            ))),
        }
    }
}

/// A verified delivery, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub topic: String,
    /// `None`: a topic we do not book; acknowledged and counted, not published.
    pub kind: Option<EventKind>,
    /// Stays the same when the platform retries the delivery, so the processor can drop the
    /// repeat.
    pub event_id: String,
}

/// A genuine delivery we cannot read: a header or field every delivery of the platform has is
/// missing. Answered 400; nothing is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot classify the delivery: {0}")]
pub struct Unclassifiable(pub &'static str);

/// Classifies a verified delivery of `shop` on `platform`: its topic, its kind, and an event
/// id that stays the same when the platform retries the delivery.
///
/// # Errors
/// [`Unclassifiable`] naming what is missing.
pub(crate) fn classify(
    platform: Platform,
    shop: &str,
    headers: &HeaderMap,
    webhook: &VerifiedWebhook,
) -> Result<Classified, Unclassifiable> {
    let known = of(platform);
    let delivery = known.read_delivery(headers, webhook.parsed())?;
    Ok(Classified {
        kind: delivery
            .kind_from_payload
            .or_else(|| known.topic_kind(&delivery.topic)),
        event_id: event_id(platform, shop, &delivery.native_id),
        topic: delivery.topic,
    })
}

/// Which kind of event a platform topic is, or `None` when we do not book that topic.
///
/// `topic` is the platform's own name for the event: Shopify's `X-Shopify-Topic`, WooCommerce's
/// `X-WC-Webhook-Topic`, BigCommerce's `scope`, Etsy's `event_type`, eBay's `metadata.topic`,
/// Adobe I/O's CloudEvents `type`. WooCommerce has no refund topic; its file decides that case
/// from the payload.
pub fn topic_kind(platform: Platform, topic: &str) -> Option<EventKind> {
    of(platform).topic_kind(topic)
}

/// How a shop's deliveries are verified, as its platform's file picks it.
///
/// # Errors
/// What is wrong in the shop's table (the caller names the shop).
pub(crate) fn scheme(name: &str, shop: &IngressShop) -> Result<Scheme, String> {
    let scheme = of(shop.platform).scheme(name, shop)?;
    if !shop.required_headers.is_empty() && !matches!(scheme, Scheme::StandardWebhooks { .. }) {
        return Err(format!(
            "required_headers applies only to platforms verified with Standard Webhooks, not {}",
            shop.platform
        ));
    }
    Ok(scheme)
}

/// The shop's secrets, for a platform whose scheme needs at least one.
fn secrets<'a>(name: &str, shop: &'a IngressShop) -> Result<&'a [SecretString], String> {
    if shop.secrets.is_empty() {
        return Err(format!(
            "a {} shop needs at least one secret (secrets = [...] or {}SECRETS)",
            shop.platform,
            xcs_shared::shop_env_prefix(name)
        ));
    }
    Ok(&shop.secrets)
}

/// Standard Webhooks with every key each of the shop's secrets may stand for.
fn standard_webhooks_scheme(name: &str, shop: &IngressShop) -> Result<Scheme, String> {
    let mut keys = Vec::new();
    for secret in secrets(name, shop)? {
        keys.extend(standard_webhooks::keys_from_secret(secret.expose_secret())?);
    }
    Ok(Scheme::StandardWebhooks {
        keys,
        required_headers: shop
            .required_headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    })
}

/// A Standard Webhooks delivery: the topic in the first of `topic_fields` the JSON body has
/// (`missing` when none), the id in `webhook-id`.
fn standard_webhooks_delivery(
    headers: &HeaderMap,
    body: &Body,
    topic_fields: &[&str],
    missing: &'static str,
) -> Result<Delivery, Unclassifiable> {
    let body = json(body)?;
    let topic = topic_fields
        .iter()
        .find_map(|field| body.get(*field).and_then(Value::as_str))
        .ok_or(Unclassifiable(missing))?;
    let id = standard_webhooks::header(headers, "id")
        .map_err(|_| Unclassifiable("no webhook-id header"))?;
    Ok(Delivery::new(topic, id))
}

/// The body's JSON (parsed once per delivery, see [`Body`]).
fn json(body: &Body) -> Result<&Value, Unclassifiable> {
    body.json().ok_or(Unclassifiable("the body is not JSON"))
}

/// `topic` when it is one of `documented`, else `other`. Shopify's and WooCommerce's topics
/// are unsigned headers, so a captured body replays with any topic; one label value each would
/// grow `/metrics` without bound.
fn documented_label(documented: &'static [&'static str], topic: &str) -> &'static str {
    documented
        .iter()
        .find(|known| **known == topic)
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_topics_are_classified_and_others_are_not() {
        let cases = [
            (Platform::Shopify, "orders/paid", Some(EventKind::Order)),
            (Platform::Shopify, "refunds/create", Some(EventKind::Refund)),
            (
                Platform::Shopify,
                "inventory_levels/update",
                Some(EventKind::Inventory),
            ),
            (Platform::Shopify, "products/update", None),
            (Platform::Shopify, "app/uninstalled", None),
            (
                Platform::WooCommerce,
                "order.created",
                Some(EventKind::Order),
            ),
            (
                Platform::WooCommerce,
                "product.updated",
                Some(EventKind::Inventory),
            ),
            (Platform::WooCommerce, "customer.created", None),
            (
                Platform::BigCommerce,
                "store/order/refund/created",
                Some(EventKind::Refund),
            ),
            (
                Platform::BigCommerce,
                "store/channel/1/inventory/product/stock_changed",
                Some(EventKind::Inventory),
            ),
            (Platform::BigCommerce, "store/customer/created", None),
            (
                Platform::Magento,
                "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
                Some(EventKind::Refund),
            ),
            (
                Platform::Magento,
                "com.adobe.commerce.observer.catalog_product_save_commit_after",
                None,
            ),
            (Platform::Etsy, "ORDER_PAID", Some(EventKind::Order)),
            (Platform::Etsy, "order.paid", Some(EventKind::Order)),
            (Platform::Etsy, "order.shipped", None),
            (Platform::Ebay, "ORDER_CONFIRMATION", Some(EventKind::Order)),
            (Platform::Ebay, "MARKETPLACE_ACCOUNT_DELETION", None),
        ];
        for (platform, topic, expected) in cases {
            assert_eq!(topic_kind(platform, topic), expected, "{platform} {topic}");
        }
    }

    #[test]
    fn documented_topics_keep_their_label_and_anything_else_is_other() {
        fn label(platform: Platform, topic: &str) -> &'static str {
            of(platform).topic_label(topic)
        }
        assert_eq!(
            label(Platform::Shopify, "app/uninstalled"),
            "app/uninstalled"
        );
        assert_eq!(label(Platform::Shopify, "orders/paid "), "other");
        assert_eq!(label(Platform::Shopify, &"x".repeat(4096)), "other");
        assert_eq!(label(Platform::WooCommerce, "orders/paid"), "other");
        assert_eq!(
            label(
                Platform::Magento,
                "com.adobe.commerce.observer.catalog_product_save_commit_after"
            ),
            "observer.catalog_product_save_commit_after"
        );
    }

    #[test]
    fn booked_topics_are_documented_and_no_documented_topic_reads_as_other() {
        for platform in Platform::ALL {
            let topics = of(platform).documented_topics();
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
            assert!(topic_kind(platform, topic).is_some());
            assert_eq!(of(platform).topic_label(topic), topic);
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
    fn a_challenge_parameter_is_taken_once_non_empty_and_bounded() {
        let query = |pairs: &[(&str, &str)]| {
            ChallengeQuery(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            )
        };
        assert_eq!(
            query(&[("challenge", "abc")]).param("challenge").unwrap(),
            "abc"
        );
        for bad in [
            query(&[]),
            query(&[("challenge", "")]),
            query(&[("challenge", "a"), ("challenge", "b")]),
            query(&[("challenge", &"x".repeat(513))]),
        ] {
            assert!(bad.param("challenge").is_err());
        }
    }
}
