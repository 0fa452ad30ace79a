//! Proof that a delivery came from the platform: the signature schemes, over the raw bytes,
//! that the platforms' files (`crate::platforms`) pick from with a shop's keys.
//!
//! A `VerifiedWebhook` can only be made by `Verifier::verify`, and only a `VerifiedWebhook` can
//! be published, so nothing unverified reaches the broker.

pub mod adobe;
pub mod ebay;
pub mod hmac_body;
pub mod standard_webhooks;

use std::sync::OnceLock;

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use secrecy::{SecretBox, SecretString};
use serde_json::Value;

use crate::config::Shop;
use crate::keys::{KeyError, KeyStore};

/// How one shop's deliveries prove they are genuine: one of the schemes here, with the shop's
/// keys and the platform's parameters.
#[derive(Debug)]
pub(crate) enum Scheme {
    /// [`hmac_body`]: base64 HMAC-SHA256 of the body in `header` (or `alias`). Every key is
    /// tried (rotation).
    BodyHmac {
        header: &'static str,
        alias: Option<&'static str>,
        keys: Vec<SecretBox<[u8]>>,
    },
    /// [`standard_webhooks`] `v1`, plus static headers the platform can be told to send back.
    StandardWebhooks {
        keys: Vec<SecretBox<[u8]>>,
        required_headers: Vec<(String, SecretString)>,
    },
    /// [`ebay`]: ECDSA with eBay's key for the delivery's `kid`, fetched and cached. The
    /// challenge answers eBay's endpoint validation.
    Ebay {
        challenge: Option<ebay::EbayChallenge>,
    },
    /// [`adobe`]: RSA with Adobe's keys, fetched and cached; when a client id is set, events
    /// must name it as their recipient.
    Adobe { client_id: Option<String> },
}

/// Why a delivery is not accepted as genuine. Never carries a secret or a signature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("{0}")]
    Malformed(&'static str),
    #[error("the signature matches none of the shop's active secrets or keys")]
    Mismatch,
    #[error("the signed timestamp is outside the replay window")]
    OutsideReplayWindow,
    #[error("the signature uses an algorithm we do not accept")]
    UnsupportedAlgorithm,
    #[error("the platform does not know the signing key")]
    UnknownKey,
    #[error("the event is addressed to another Adobe client id")]
    WrongRecipient,
    #[error("a header the shop requires is missing or wrong")]
    RequiredHeader,
}

impl SignatureError {
    /// A short label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            SignatureError::MissingHeader(_) => "missing_header",
            SignatureError::Malformed(_) => "malformed",
            SignatureError::Mismatch => "mismatch",
            SignatureError::OutsideReplayWindow => "replay_window",
            SignatureError::UnsupportedAlgorithm => "algorithm",
            SignatureError::UnknownKey => "unknown_key",
            SignatureError::WrongRecipient => "wrong_recipient",
            SignatureError::RequiredHeader => "required_header",
        }
    }
}

/// Verification did not succeed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum VerifyError {
    /// Not genuine: 401.
    #[error(transparent)]
    Rejected(#[from] SignatureError),
    /// Cannot tell now (a key host is down): 503, the platform retries.
    #[error(transparent)]
    KeysUnavailable(KeyError),
}

/// A delivery's raw body, and its JSON parsed at most once, on first use: the handshake check
/// (before verification), Adobe's recipient check and classification all read the same parse,
/// and a platform that never looks at the JSON (Shopify) never parses it.
#[derive(Debug)]
pub(crate) struct Body {
    bytes: Bytes,
    json: OnceLock<Option<Value>>,
}

impl Body {
    pub fn new(bytes: Bytes) -> Self {
        Body {
            bytes,
            json: OnceLock::new(),
        }
    }

    /// The exact bytes received (and signed).
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The body as JSON, or `None` when it is not JSON; parsed on the first call only.
    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| serde_json::from_slice(&self.bytes).ok())
            .as_ref()
    }
}

/// A delivery whose signature checked out, with the exact bytes that were signed.
#[derive(Debug)]
pub(crate) struct VerifiedWebhook {
    body: Body,
}

impl VerifiedWebhook {
    /// Only for the fuzz targets, which classify bodies without signing them.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn new(body: Bytes) -> Self {
        VerifiedWebhook {
            body: Body::new(body),
        }
    }

    pub fn body(&self) -> &Bytes {
        self.body.bytes()
    }

    /// The body with its JSON, parsed at most once.
    pub fn parsed(&self) -> &Body {
        &self.body
    }

    /// Frees the parsed JSON once classification has read it, so its tree is not held (in
    /// every request in flight) while the publish waits for the broker: a WooCommerce order's
    /// kept that long cost ~15 µs a request (BENCHMARKS.md, issue 21).
    pub fn release_json(&mut self) {
        self.body.json.take();
    }
}

/// What verification needs besides the request.
pub(crate) struct Verifier<'a> {
    pub keys: &'a KeyStore,
    /// Unix seconds.
    pub now: i64,
    pub timestamp_tolerance: u64,
}

impl Verifier<'_> {
    /// Verifies one delivery for `shop` under the shop's platform scheme.
    ///
    /// # Errors
    /// [`VerifyError`].
    pub async fn verify(
        &self,
        shop: &Shop,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<VerifiedWebhook, VerifyError> {
        match &shop.scheme {
            Scheme::BodyHmac {
                header: name,
                alias,
                keys,
            } => {
                let signature = header(headers, name)
                    .or_else(|| alias.and_then(|alias| header(headers, alias)))
                    .ok_or(SignatureError::MissingHeader(name))?;
                hmac_body::verify(keys, body.bytes(), signature)?;
            }
            Scheme::StandardWebhooks {
                keys,
                required_headers,
            } => {
                standard_webhooks::verify_request(
                    keys,
                    required_headers,
                    headers,
                    body.bytes(),
                    self.now,
                    self.timestamp_tolerance,
                )?;
            }
            Scheme::Ebay { .. } => {
                let value = header(headers, "X-EBAY-SIGNATURE")
                    .ok_or(SignatureError::MissingHeader("X-EBAY-SIGNATURE"))?;
                let signature = ebay::parse_signature_header(value)?;
                let key = self
                    .keys
                    .ebay_key(&signature.kid, &shop.name)
                    .await
                    .map_err(key_error)?;
                key.verify(body.bytes(), &signature.signature)?;
            }
            Scheme::Adobe { client_id } => {
                self.verify_adobe(&shop.name, headers, body.bytes()).await?;
                if let Some(client_id) = client_id
                    && recipient_client_id(&body) != Some(client_id.as_str())
                {
                    return Err(SignatureError::WrongRecipient.into());
                }
            }
        }
        Ok(VerifiedWebhook { body })
    }

    /// Adobe signs with two keys so it can rotate one; a delivery is genuine when either
    /// signature verifies (Adobe's own SDK accepts either).
    async fn verify_adobe(
        &self,
        shop: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        let pairs = [
            ("x-adobe-digital-signature-1", "x-adobe-public-key1-path"),
            ("x-adobe-digital-signature-2", "x-adobe-public-key2-path"),
        ];
        let mut outcome = Err(VerifyError::Rejected(SignatureError::MissingHeader(
            "x-adobe-digital-signature-1",
        )));
        for (signature_header, path_header) in pairs {
            let (Some(signature), Some(path)) = (
                header(headers, signature_header),
                header(headers, path_header),
            ) else {
                continue;
            };
            let attempt = match self.keys.adobe_key(path, shop).await {
                Ok(key) => adobe::verify(&key, body, signature).map_err(VerifyError::from),
                Err(err) => Err(key_error(err)),
            };
            match attempt {
                Ok(()) => return Ok(()),
                // Remember the most useful failure: "try later" beats "wrong".
                Err(err @ VerifyError::KeysUnavailable(_)) => outcome = Err(err),
                Err(err) if !matches!(outcome, Err(VerifyError::KeysUnavailable(_))) => {
                    outcome = Err(err);
                }
                Err(_) => {}
            }
        }
        outcome
    }
}

fn key_error(err: KeyError) -> VerifyError {
    match err {
        KeyError::Unknown(_) => VerifyError::Rejected(SignatureError::UnknownKey),
        unavailable @ KeyError::Unavailable(_) => VerifyError::KeysUnavailable(unavailable),
    }
}

/// A header's value, if present and valid UTF-8.
pub(crate) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The `recipient_client_id` of an Adobe I/O event, from the one parse of its body.
fn recipient_client_id(body: &Body) -> Option<&str> {
    body.json()?.get("recipient_client_id")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_as_json_or_not_and_keeps_its_bytes() {
        let body = Body::new(Bytes::from_static(br#"{"recipient_client_id":"c1","n":1}"#));
        assert_eq!(recipient_client_id(&body), Some("c1"));
        assert!(
            std::ptr::eq(body.json().unwrap(), body.json().unwrap()),
            "parsed once"
        );
        assert_eq!(&body.bytes()[..2], b"{\"");
        let not_json = Body::new(Bytes::from_static(b"webhook_id=1"));
        assert!(not_json.json().is_none());
        assert_eq!(recipient_client_id(&not_json), None);
        let not_a_string = Body::new(Bytes::from_static(br#"{"recipient_client_id":7}"#));
        assert_eq!(recipient_client_id(&not_a_string), None);
    }
}
