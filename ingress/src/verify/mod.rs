//! Proof that a delivery came from the platform: the signature schemes, over the raw bytes,
//! that the platforms' files (`crate::platforms`) pick from with a shop's keys.
//!
//! A `VerifiedWebhook` can only be made by `Verifier::verify`, and only a `VerifiedWebhook` can
//! be published, so nothing unverified reaches the broker.

pub mod adobe;
pub mod ebay;
pub mod hmac_body;
pub mod standard_webhooks;

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use secrecy::{SecretBox, SecretString};

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

/// A delivery whose signature checked out, with the exact bytes that were signed.
#[derive(Debug)]
pub(crate) struct VerifiedWebhook {
    body: Bytes,
}

impl VerifiedWebhook {
    /// Only for the fuzz targets, which classify bodies without signing them.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn new(body: Bytes) -> Self {
        VerifiedWebhook { body }
    }

    pub fn body(&self) -> &Bytes {
        &self.body
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
        body: Bytes,
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
                hmac_body::verify(keys, &body, signature)?;
            }
            Scheme::StandardWebhooks {
                keys,
                required_headers,
            } => {
                standard_webhooks::verify_request(
                    keys,
                    required_headers,
                    headers,
                    &body,
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
                ebay::verify(&key, &body, &signature.signature)?;
            }
            Scheme::Adobe { client_id } => {
                self.verify_adobe(&shop.name, headers, &body).await?;
                if let Some(client_id) = client_id
                    && recipient_client_id(&body).as_deref() != Some(client_id.as_str())
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

fn recipient_client_id(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Recipient {
        recipient_client_id: String,
    }
    serde_json::from_slice::<Recipient>(body)
        .ok()
        .map(|r| r.recipient_client_id)
}
