//! Standard Webhooks `v1` (Etsy, BigCommerce): HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! `webhook-signature: v1,<base64> [v1,<base64> ...]`, with a replay window on the timestamp.

use actix_web::http::header::HeaderMap;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use subtle::ConstantTimeEq;

use super::SignatureError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A sender rotating keys sends a few signatures; far more than that is not a real sender.
const MAX_SIGNATURES: usize = 16;

/// The three signed headers of one delivery.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    pub id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

/// Checks the delivery against every key; any `v1` entry made with any key passes.
///
/// `now` is Unix seconds; `tolerance` (seconds, either side) of `None` turns the replay check
/// off, which only tests replaying recorded vectors should do.
///
/// # Errors
/// [`SignatureError`] saying which part failed.
pub fn verify(
    keys: &[SecretBox<[u8]>],
    headers: SignedHeaders<'_>,
    body: &[u8],
    now: i64,
    tolerance: Option<u64>,
) -> Result<(), SignatureError> {
    if headers.id.is_empty() || headers.id.contains('.') {
        return Err(SignatureError::Malformed(
            "webhook-id is empty or contains '.'",
        ));
    }
    let timestamp: i64 = headers
        .timestamp
        .parse()
        .map_err(|_| SignatureError::Malformed("webhook-timestamp is not Unix seconds"))?;
    if let Some(tolerance) = tolerance
        && now.abs_diff(timestamp) > tolerance
    {
        return Err(SignatureError::OutsideReplayWindow);
    }

    let candidates: Vec<Vec<u8>> = headers
        .signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .take(MAX_SIGNATURES)
        .filter_map(|(_, sig)| BASE64.decode(sig).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::Malformed(
            "webhook-signature has no v1 entry",
        ));
    }
    let matches = keys.iter().any(|key| {
        let expected = mac(key.expose_secret(), headers, body);
        // Every candidate is compared, in constant time, whatever matched before.
        candidates
            .iter()
            .fold(subtle::Choice::from(0), |any, candidate| {
                any | expected.as_slice().ct_eq(candidate)
            })
            .into()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Verifies a request: its three signed headers against every key, within `tolerance` seconds
/// of `now`, then each of `required_headers` (compared in constant time).
///
/// # Errors
/// [`SignatureError`] saying which part failed.
pub(crate) fn verify_request(
    keys: &[SecretBox<[u8]>],
    required_headers: &[(String, SecretString)],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: u64,
) -> Result<(), SignatureError> {
    let signed = SignedHeaders {
        id: header(headers, "id")?,
        timestamp: header(headers, "timestamp")?,
        signature: header(headers, "signature")?,
    };
    verify(keys, signed, body, now, Some(tolerance))?;
    for (name, expected) in required_headers {
        let actual = super::header(headers, name).unwrap_or_default();
        let same: bool = actual
            .as_bytes()
            .ct_eq(expected.expose_secret().as_bytes())
            .into();
        if !same {
            return Err(SignatureError::RequiredHeader);
        }
    }
    Ok(())
}

/// A Standard Webhooks header (`id`, `timestamp` or `signature`), under its standard name or
/// Svix's (`svix-id`, ...).
///
/// # Errors
/// [`SignatureError::MissingHeader`] with the standard name.
pub(crate) fn header<'a>(
    headers: &'a HeaderMap,
    part: &'static str,
) -> Result<&'a str, SignatureError> {
    let (standard, svix) = match part {
        "id" => ("webhook-id", "svix-id"),
        "timestamp" => ("webhook-timestamp", "svix-timestamp"),
        _ => ("webhook-signature", "svix-signature"),
    };
    super::header(headers, standard)
        .or_else(|| super::header(headers, svix))
        .ok_or(SignatureError::MissingHeader(standard))
}

/// The HMAC keys a Standard Webhooks secret may stand for. A `whsec_` secret is base64 after
/// the prefix, as the standard says. Without the prefix the readings differ: the reference
/// library base64-decodes it (Etsy's portal shows `whsec_` secrets, but an operator may paste
/// the part after it), while BigCommerce keys with its app client secret as it is. Both
/// candidates are tried; each is derived from the configured secret, so trying both admits no
/// one else.
///
/// # Errors
/// A message saying how to fix a `whsec_` secret that is not base64.
pub(crate) fn keys_from_secret(secret: &str) -> Result<Vec<SecretBox<[u8]>>, String> {
    if let Some(encoded) = secret.strip_prefix("whsec_") {
        let key = BASE64.decode(encoded).map_err(|_| {
            "a Standard Webhooks secret (whsec_...) must be base64 after the prefix; \
             copy it again from the platform's webhook portal"
                .to_owned()
        })?;
        return Ok(vec![SecretBox::from(key.into_boxed_slice())]);
    }
    let mut keys = vec![super::hmac_body::key(secret)];
    if let Ok(decoded) = BASE64.decode(secret) {
        keys.push(SecretBox::from(decoded.into_boxed_slice()));
    }
    Ok(keys)
}

fn mac(key: &[u8], headers: SignedHeaders<'_>, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(headers.id.as_bytes());
    mac.update(b".");
    mac.update(headers.timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_secrets_are_read_both_ways_unless_prefixed() {
        let lengths = |secret| -> Vec<usize> {
            keys_from_secret(secret)
                .unwrap()
                .iter()
                .map(|k| k.expose_secret().len())
                .collect()
        };
        assert_eq!(lengths("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), [24]);
        assert_eq!(lengths("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), [32, 24]);
        assert_eq!(lengths("bc_test_client_secret"), [21]);
        assert!(keys_from_secret("whsec_not base64!").is_err());
    }
}
