//! The envelope: what the ingress says about a webhook, carried in AMQP headers beside the
//! platform's raw, byte-identical body.
//!
//! Headers rather than a JSON wrapper, so the body that was verified is the body that is stored,
//! and so RabbitMQ can route on the tenant (`xcs-tenant` is the consistent-hash key).

use serde::{Deserialize, Serialize};

use crate::platform::{EventKind, Platform};

/// Version of this envelope; bumped when a header changes meaning.
pub const ENVELOPE_VERSION: &str = "1";

/// Header names. The `xcs-` prefix keeps them apart from RabbitMQ's own `x-` headers.
pub mod header {
    pub const VERSION: &str = "xcs-envelope";
    pub const EVENT_ID: &str = "xcs-event-id";
    pub const PLATFORM: &str = "xcs-platform";
    pub const SHOP: &str = "xcs-shop";
    /// The Xero tenant id; the shard exchange hashes on it.
    pub const TENANT: &str = "xcs-tenant";
    pub const KIND: &str = "xcs-kind";
    pub const TOPIC: &str = "xcs-topic";
    pub const DELIVERY_ID: &str = "xcs-delivery-id";
    pub const RECEIVED_AT: &str = "xcs-received-at";
    /// `webhook` (absent on events published before polling existed), `poll` or `backfill`.
    pub const SOURCE: &str = "xcs-source";
}

/// How an event reached us: a platform's webhook through the ingress, or the processor's own
/// reading of the platform's API (the poller's safety net, or an operator's backfill).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    #[default]
    Webhook,
    Poll,
    Backfill,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Poll => "poll",
            Source::Backfill => "backfill",
        }
    }
}

impl std::str::FromStr for Source {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "webhook" => Ok(Source::Webhook),
            "poll" => Ok(Source::Poll),
            "backfill" => Ok(Source::Backfill),
            _ => Err(()),
        }
    }
}

/// Everything the processor needs to know about an event besides its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Stable across a platform's retries of the same delivery; the processor dedupes on it.
    pub event_id: String,
    pub platform: Platform,
    /// The shop's name in our configuration (the `{shop}` path segment).
    pub shop: String,
    /// The Xero tenant (organisation) id the shop books into.
    pub tenant: String,
    pub kind: EventKind,
    /// The platform's own topic, e.g. `orders/paid`.
    pub topic: String,
    /// Unique to this HTTP receipt (the ingress's request id); two retries of one event share
    /// an `event_id` but not a `delivery_id`.
    pub delivery_id: String,
    /// RFC 3339, UTC, when the ingress received the request (for a polled event, when the
    /// poller read it).
    pub received_at: String,
    pub source: Source,
}

/// A header the envelope requires is missing or has a value we cannot read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("message has no {0} header; it was not published by the ingress")]
    Missing(&'static str),
    #[error("header {name} has an invalid value {value:?}")]
    Invalid { name: &'static str, value: String },
}

impl Envelope {
    /// The headers to publish, in a fixed order.
    pub fn headers(&self) -> [(&'static str, &str); 10] {
        [
            (header::VERSION, ENVELOPE_VERSION),
            (header::EVENT_ID, &self.event_id),
            (header::PLATFORM, self.platform.as_str()),
            (header::SHOP, &self.shop),
            (header::TENANT, &self.tenant),
            (header::KIND, self.kind.as_str()),
            (header::TOPIC, &self.topic),
            (header::DELIVERY_ID, &self.delivery_id),
            (header::RECEIVED_AT, &self.received_at),
            (header::SOURCE, self.source.as_str()),
        ]
    }

    /// The headers as an AMQP table of long strings, as every publisher of events sends them.
    pub fn field_table(&self) -> lapin::types::FieldTable {
        let mut table = lapin::types::FieldTable::default();
        for (name, value) in self.headers() {
            table.insert(
                name.into(),
                lapin::types::AMQPValue::LongString(value.into()),
            );
        }
        table
    }

    /// Reads an envelope back from message headers, given a lookup of string header values.
    ///
    /// # Errors
    /// [`EnvelopeError`] when a header is missing or its value does not parse.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, EnvelopeError> {
        let required = |name: &'static str| get(name).ok_or(EnvelopeError::Missing(name));
        fn parse<T: std::str::FromStr>(
            name: &'static str,
            value: Result<&str, EnvelopeError>,
        ) -> Result<T, EnvelopeError> {
            let value = value?;
            value.parse().map_err(|_| EnvelopeError::Invalid {
                name,
                value: value.to_owned(),
            })
        }
        Ok(Envelope {
            event_id: required(header::EVENT_ID)?.to_owned(),
            platform: parse(header::PLATFORM, required(header::PLATFORM))?,
            shop: required(header::SHOP)?.to_owned(),
            tenant: required(header::TENANT)?.to_owned(),
            kind: parse(header::KIND, required(header::KIND))?,
            topic: required(header::TOPIC)?.to_owned(),
            delivery_id: required(header::DELIVERY_ID)?.to_owned(),
            received_at: required(header::RECEIVED_AT)?.to_owned(),
            source: get(header::SOURCE).map_or(Ok(Source::Webhook), |value| {
                parse(header::SOURCE, Ok(value))
            })?,
        })
    }
}

/// Platform ids longer than this (AMQP's `message-id` is at most 255 bytes) are hashed.
const MAX_NATIVE_ID_LEN: usize = 128;

/// `{platform}:{shop}:{platform's id}`, readable in dead-letter listings and unique across
/// shops. An id that is too long or not plain text is replaced by its hash, so every event id
/// fits AMQP's `message-id`.
pub fn event_id(platform: Platform, shop: &str, native_id: &str) -> String {
    let printable = native_id.chars().all(|c| c.is_ascii_graphic());
    let native = if printable && !native_id.is_empty() && native_id.len() <= MAX_NATIVE_ID_LEN {
        native_id.to_owned()
    } else {
        digest(&[native_id.as_bytes()])
    };
    format!("{platform}:{shop}:{native}")
}

/// Hex SHA-256 of the parts, each length-prefixed so that different splits cannot collide.
pub fn digest(parts: &[&[u8]]) -> String {
    use sha2::{Digest as _, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sample() -> Envelope {
        Envelope {
            event_id: "shopify:acme:b54557e4".into(),
            platform: Platform::Shopify,
            shop: "acme".into(),
            tenant: "6f1c1ec6-7c6b-4b5e-9a0e-1b2c3d4e5f60".into(),
            kind: EventKind::Order,
            topic: "orders/paid".into(),
            delivery_id: "0192f0c4-0000-7000-8000-000000000000".into(),
            received_at: "2026-11-27T01:00:00Z".into(),
            source: Source::Poll,
        }
    }

    #[test]
    fn envelope_survives_a_round_trip_through_headers() {
        let envelope = sample();
        let headers: HashMap<&str, &str> = envelope.headers().into_iter().collect();
        let back = Envelope::from_headers(|name| headers.get(name).copied()).unwrap();
        assert_eq!(back, envelope);
    }

    #[test]
    fn an_event_without_a_source_came_through_a_webhook() {
        let envelope = sample();
        let mut headers: HashMap<&str, &str> = envelope.headers().into_iter().collect();
        headers.remove(header::SOURCE);
        let back = Envelope::from_headers(|name| headers.get(name).copied()).unwrap();
        assert_eq!(back.source, Source::Webhook);
    }

    #[test]
    fn missing_or_bad_headers_are_named() {
        let envelope = sample();
        let mut headers: HashMap<&str, &str> = envelope.headers().into_iter().collect();
        headers.remove(header::TENANT);
        assert_eq!(
            Envelope::from_headers(|name| headers.get(name).copied()),
            Err(EnvelopeError::Missing(header::TENANT))
        );
        headers.insert(header::TENANT, "t");
        headers.insert(header::KIND, "shipment");
        assert!(matches!(
            Envelope::from_headers(|name| headers.get(name).copied()),
            Err(EnvelopeError::Invalid {
                name: header::KIND,
                ..
            })
        ));
    }
}
