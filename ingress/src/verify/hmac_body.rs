//! Shopify and WooCommerce: `base64(HMAC-SHA256(secret, raw body))` in a header.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};

use super::SignatureError;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A configured secret as an HMAC key: its bytes as they are.
pub(crate) fn key(secret: &str) -> SecretBox<[u8]> {
    SecretBox::from(secret.as_bytes().to_vec().into_boxed_slice())
}

/// Checks `signature` (base64, as sent) against the body under each key in turn.
///
/// # Errors
/// [`SignatureError::Malformed`] when the header is not base64 of 32 bytes (a hex digest, say),
/// [`SignatureError::Mismatch`] when no key produces it.
pub fn verify(
    keys: &[SecretBox<[u8]>],
    body: &[u8],
    signature: &str,
) -> Result<(), SignatureError> {
    let expected = BASE64
        .decode(signature.trim())
        .ok()
        .filter(|bytes| bytes.len() == 32)
        .ok_or(SignatureError::Malformed(
            "signature is not base64 of an HMAC-SHA256",
        ))?;
    let matches = keys.iter().any(|key| {
        let mut mac = HmacSha256::new_from_slice(key.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(body);
        // verify_slice compares in constant time.
        mac.verify_slice(&expected).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}
