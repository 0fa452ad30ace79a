//! Standard Webhooks `v1` (Etsy, BigCommerce): HMAC-SHA256 over `{id}.{timestamp}.{body}`,
//! `webhook-signature: v1,<base64> [v1,<base64> ...]`, with a replay window on the timestamp.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
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

fn mac(key: &[u8], headers: SignedHeaders<'_>, body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(headers.id.as_bytes());
    mac.update(b".");
    mac.update(headers.timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}
