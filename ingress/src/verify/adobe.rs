//! Adobe I/O Events: `x-adobe-digital-signature-{1,2}` are base64 RSA-SHA256 (PKCS#1 v1.5)
//! over the raw body, with public keys at `x-adobe-public-key{1,2}-path` on Adobe's key host.
//!
//! Verified with aws-lc-rs (as eBay's ECDSA is), about a quarter of the `rsa` crate's cost
//! (BENCHMARKS.md, issue 21).

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::pkcs8::Document;

use super::SignatureError;

/// An Adobe signing key, ready to verify RSA-SHA256 (PKCS#1 v1.5) signatures: parsed and
/// checked once per fetched key (the key cache shares it in an `Arc`), not per request.
pub struct VerifyingKey {
    key: ParsedPublicKey,
}

impl std::fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("adobe::VerifyingKey(RSA)")
    }
}

/// Parses a PEM public key (`BEGIN PUBLIC KEY`, an X.509 SubjectPublicKeyInfo) as served by
/// Adobe's key host: an RSA key of 2048 to 8192 bits.
///
/// # Errors
/// A message saying why the key is unusable.
pub fn parse_public_key(pem: &str) -> Result<VerifyingKey, String> {
    let (label, der) = Document::from_pem(pem.trim())
        .map_err(|err| format!("Adobe public key is not an RSA PEM key: {err}"))?;
    if label != "PUBLIC KEY" {
        return Err(format!(
            "Adobe public key is not an RSA PEM key: a PEM {label:?}, not a PUBLIC KEY"
        ));
    }
    ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der.as_bytes())
        .map(|key| VerifyingKey { key })
        .map_err(|_| "Adobe public key is not an RSA key of 2048 to 8192 bits".to_owned())
}

/// Only a plain relative path to a `.pem` file may be appended to the configured key host, so a
/// forged header cannot make us fetch a key from anywhere else.
pub fn is_safe_key_path(path: &str) -> bool {
    path.len() <= 256
        && path.starts_with('/')
        && path.ends_with(".pem")
        && !path.contains("..")
        && !path.contains("//")
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'))
}

/// Checks one base64 signature over `message`.
///
/// # Errors
/// [`SignatureError::Malformed`] or [`SignatureError::Mismatch`].
pub fn verify(key: &VerifyingKey, message: &[u8], signature: &str) -> Result<(), SignatureError> {
    let bytes = BASE64
        .decode(signature.trim())
        .map_err(|_| SignatureError::Malformed("Adobe signature is not base64"))?;
    key.key
        .verify_sig(message, &bytes)
        .map_err(|_| SignatureError::Mismatch)
}
