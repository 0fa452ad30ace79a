//! Adobe I/O Events: `x-adobe-digital-signature-{1,2}` are base64 RSA-SHA256 (PKCS#1 v1.5)
//! over the raw body, with public keys at `x-adobe-public-key{1,2}-path` on Adobe's key host.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rsa::PublicKey;
use rsa::pkcs1v15::Signature;
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;

use super::SignatureError;

/// An Adobe signing key, ready to verify RSA-SHA256 (PKCS#1 v1.5) signatures; built once per
/// fetched key, not per request.
pub type VerifyingKey = rsa::pkcs1v15::VerifyingKey<sha2::Sha256>;

/// Parses a PEM public key as served by Adobe's key host.
///
/// # Errors
/// A message saying why the key is unusable.
pub fn parse_public_key(pem: &str) -> Result<VerifyingKey, String> {
    PublicKey::from_public_key_pem(pem.trim())
        .map(VerifyingKey::new)
        .map_err(|err| format!("Adobe public key is not an RSA PEM key: {err}"))
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
    let signature = Signature::try_from(bytes.as_slice())
        .map_err(|_| SignatureError::Malformed("Adobe signature has the wrong length"))?;
    key.verify(message, &signature)
        .map_err(|_| SignatureError::Mismatch)
}
