//! eBay Notification API: ECDSA with eBay's public key for the delivery's `kid` (no shop
//! secret); `GET ?challenge_code=` validates the endpoint with the shop's verification token;
//! the topic and id are in the body's `metadata` and `notification`.

use actix_web::http::header::HeaderMap;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use xcs_shared::EventKind;
use xcs_shared::ingress_shops::IngressShop;

use super::{ChallengeQuery, Delivery, Unclassifiable, WebhookPlatform};
use crate::config::Shop;
use crate::error::IngressError;
use crate::verify::ebay::{EbayChallenge, challenge_response};
use crate::verify::{Body, Scheme};

pub(crate) struct Ebay;

impl WebhookPlatform for Ebay {
    fn scheme(&self, name: &str, shop: &IngressShop) -> Result<Scheme, String> {
        let challenge = match (&shop.verification_token, &shop.endpoint_url) {
            (Some(token), Some(endpoint_url)) => Some(EbayChallenge {
                verification_token: token.clone(),
                endpoint_url: endpoint_url.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(format!(
                    "an eBay shop's challenge needs both verification_token (or \
                     {}VERIFICATION_TOKEN) and endpoint_url, the exact URL registered with eBay",
                    xcs_shared::shop_env_prefix(name)
                ));
            }
        };
        Ok(Scheme::Ebay { challenge })
    }

    fn topic_kind(&self, topic: &str) -> Option<EventKind> {
        match topic {
            "ORDER_CONFIRMATION" => Some(EventKind::Order),
            _ => None,
        }
    }

    fn documented_topics(&self) -> &'static [&'static str] {
        &[
            "ORDER_CONFIRMATION",
            "ITEM_MARKED_SHIPPED",
            "MARKETPLACE_ACCOUNT_DELETION",
            "AUTHORIZATION_REVOCATION",
            "PRIORITY_LISTING_REVISION",
            "ITEM_AVAILABILITY",
            "ITEM_PRICE_REVISION",
        ]
    }

    fn read_delivery(&self, _headers: &HeaderMap, body: &Body) -> Result<Delivery, Unclassifiable> {
        let body = super::json(body)?;
        let topic = body
            .pointer("/metadata/topic")
            .and_then(Value::as_str)
            .ok_or(Unclassifiable("no metadata.topic in the body"))?;
        let id = body
            .pointer("/notification/notificationId")
            .and_then(Value::as_str)
            .ok_or(Unclassifiable("no notification.notificationId in the body"))?;
        Ok(Delivery::new(topic, id))
    }

    /// `GET ?challenge_code=` gets `{"challengeResponse": hex}`.
    fn challenge(&self, shop: &Shop, query: &ChallengeQuery) -> Result<Value, IngressError> {
        let code = query.param("challenge_code")?;
        let Scheme::Ebay {
            challenge: Some(challenge),
        } = &shop.scheme
        else {
            return Err(IngressError::BadRequest(format!(
                "shop {:?} has no verification_token and endpoint_url configured, so eBay's \
                 challenge cannot be answered",
                shop.name
            )));
        };
        let answer = challenge_response(
            code,
            challenge.verification_token.expose_secret(),
            &challenge.endpoint_url,
        );
        Ok(json!({"challengeResponse": answer}))
    }

    fn warning(&self, shop: &Shop) -> Option<String> {
        matches!(shop.scheme, Scheme::Ebay { challenge: None }).then(|| {
            format!(
                "eBay shop {:?} has no verification_token/endpoint_url: eBay's endpoint \
                 challenge will be refused",
                shop.name
            )
        })
    }
}
