//! eBay Notification API: `X-EBAY-SIGNATURE` is base64 of `{"alg","kid","signature","digest"}`;
//! the signature is DER ECDSA P-256 over SHA-1 of the body, with eBay's key for `kid`.
//!
//! Keys and signatures are decoded and checked with `p256`; the verification itself is
//! aws-lc-rs's (an assembly P-256, about a quarter of `p256`'s pure-Rust cost: see
//! BENCHMARKS.md, issue 21). Neither ring nor aws-lc-rs has an ECDSA-with-SHA-1 algorithm, so
//! the SHA-1 digest is verified as a prehash: ECDSA reads a digest shorter than the curve order
//! as the integer it spells, so the 20 bytes left-padded with zeros to 32 are the same number,
//! and aws-lc-rs takes that as a digest of P-256's size.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_ASN1, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey;
use serde::Deserialize;
use sha2::Digest as _;

use super::SignatureError;

/// The decoded `X-EBAY-SIGNATURE` header.
#[derive(Debug, Clone)]
pub struct EbaySignature {
    pub kid: String,
    pub signature: Signature,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: String,
    signature: String,
    digest: String,
}

/// Decodes the header and checks it names a scheme we verify.
///
/// # Errors
/// [`SignatureError::Malformed`] or [`SignatureError::UnsupportedAlgorithm`].
pub fn parse_signature_header(value: &str) -> Result<EbaySignature, SignatureError> {
    let json = BASE64
        .decode(value.trim())
        .map_err(|_| SignatureError::Malformed("X-EBAY-SIGNATURE is not base64"))?;
    let header: Header = serde_json::from_slice(&json)
        .map_err(|_| SignatureError::Malformed("X-EBAY-SIGNATURE is not the expected JSON"))?;
    if !header.alg.eq_ignore_ascii_case("ecdsa") || !header.digest.eq_ignore_ascii_case("sha1") {
        return Err(SignatureError::UnsupportedAlgorithm);
    }
    // The kid goes into a URL path: keep it to what eBay issues (UUID-like).
    let kid_ok = !header.kid.is_empty()
        && header.kid.len() <= 64
        && header
            .kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !kid_ok {
        return Err(SignatureError::Malformed(
            "X-EBAY-SIGNATURE has an invalid kid",
        ));
    }
    let der = BASE64
        .decode(&header.signature)
        .map_err(|_| SignatureError::Malformed("eBay signature is not base64"))?;
    let signature = Signature::from_der(&der)
        .map_err(|_| SignatureError::Malformed("eBay signature is not DER ECDSA"))?;
    Ok(EbaySignature {
        kid: header.kid,
        signature,
    })
}

/// Parses the `key` field of eBay's public-key response. eBay sends the PEM without line
/// breaks, which PEM parsers refuse, so the base64 body is re-wrapped first.
///
/// # Errors
/// A message saying why the key is unusable.
pub fn parse_public_key(pem: &str) -> Result<VerifyingKey, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    let body: String = pem
        .trim()
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or("eBay public key is not a PEM PUBLIC KEY")?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    // Base64 is ASCII; anything else would also split a character when re-wrapped by bytes.
    if !body.is_ascii() {
        return Err("eBay public key is not a PEM PUBLIC KEY (non-ASCII in its body)".to_owned());
    }
    let wrapped: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).expect("base64 is ASCII"))
        .collect();
    let normalised = format!("{BEGIN}\n{}\n{END}\n", wrapped.join("\n"));
    VerifyingKey::from_public_key_pem(&normalised)
        .map_err(|err| format!("eBay public key is not a P-256 key: {err}"))
}

/// An eBay public key ready to verify with: parsed and checked once per fetched key, then
/// shared (the key cache holds it in an `Arc`), never rebuilt per request.
pub struct EbayKey {
    key: ParsedPublicKey,
}

impl std::fmt::Debug for EbayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EbayKey(P-256)")
    }
}

impl EbayKey {
    /// The verifier for a decoded P-256 key.
    ///
    /// # Errors
    /// A message when aws-lc-rs refuses the point (it should not: `p256` has checked it).
    pub fn new(key: &VerifyingKey) -> Result<Self, String> {
        let point = key.to_sec1_point(false);
        ParsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point.as_bytes())
            .map(|key| EbayKey { key })
            .map_err(|_| "eBay public key is not a usable P-256 point".to_owned())
    }

    /// Checks the signature over the raw body.
    ///
    /// # Errors
    /// [`SignatureError::Mismatch`].
    pub fn verify(&self, body: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let sha1 = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, body);
        let mut padded = [0u8; 32];
        padded[32 - sha1.as_ref().len()..].copy_from_slice(sha1.as_ref());
        let prehash = digest::Digest::import_less_safe(&padded, &digest::SHA256)
            .expect("32 bytes is SHA-256's length");
        self.key
            .verify_digest_sig(&prehash, signature.to_der().as_bytes())
            .map_err(|_| SignatureError::Mismatch)
    }
}

/// Parses the `key` field of eBay's public-key response into a key ready to verify with.
///
/// # Errors
/// A message saying why the key is unusable.
pub fn parse_key(pem: &str) -> Result<EbayKey, String> {
    EbayKey::new(&parse_public_key(pem)?)
}

/// Checks the signature over the raw body with a decoded key (builds the verifier each call;
/// the ingress verifies with a cached [`EbayKey`]).
///
/// # Errors
/// [`SignatureError::Mismatch`].
pub fn verify(
    key: &VerifyingKey,
    body: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    EbayKey::new(key)
        .map_err(|_| SignatureError::Mismatch)?
        .verify(body, signature)
}

/// What a shop's answer to eBay's endpoint validation is computed over.
#[derive(Debug)]
pub(crate) struct EbayChallenge {
    pub verification_token: secrecy::SecretString,
    /// The exact URL registered with eBay.
    pub endpoint_url: String,
}

/// The endpoint-validation answer: lowercase hex of SHA-256(code + token + endpoint URL).
pub fn challenge_response(
    challenge_code: &str,
    verification_token: &str,
    endpoint: &str,
) -> String {
    let mut hasher = sha2::Sha256::new();
    hasher.update(challenge_code.as_bytes());
    hasher.update(verification_token.as_bytes());
    hasher.update(endpoint.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// aws-lc-rs verifying the left-padded SHA-1 digest accepts exactly what `p256` (which
    /// reads a short prehash as its integer, per SEC 1) accepts: signatures made over the
    /// body's SHA-1, and no signature over another body or with another key.
    #[test]
    fn the_padded_prehash_verifies_as_p256_does() {
        use p256::ecdsa::SigningKey;
        use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
        for seed in 1u8..=12 {
            let mut secret = [0u8; 32];
            secret[31] = seed;
            secret[0] = seed.wrapping_mul(37);
            let signing = SigningKey::from_slice(&secret).unwrap();
            let p256_key = *signing.verifying_key();
            let key = EbayKey::new(&p256_key).unwrap();
            let body = format!("{{\"notificationId\":\"n-{seed}\"}}").into_bytes();
            let digest = sha1::Sha1::digest(&body);
            let signature: Signature = signing.sign_prehash(&digest).unwrap();
            assert!(p256_key.verify_prehash(&digest, &signature).is_ok());
            assert_eq!(key.verify(&body, &signature), Ok(()), "seed {seed}");
            assert_eq!(verify(&p256_key, &body, &signature), Ok(()));
            let mut other = body.clone();
            other[3] ^= 1;
            assert_eq!(
                key.verify(&other, &signature),
                Err(SignatureError::Mismatch)
            );
            let mut secret2 = secret;
            secret2[15] = 99;
            let stranger = EbayKey::new(SigningKey::from_slice(&secret2).unwrap().verifying_key());
            assert_eq!(
                stranger.unwrap().verify(&body, &signature),
                Err(SignatureError::Mismatch)
            );
        }
    }

    /// Fuzzing finding (verify_ebay): a key whose body held a multi-byte character was
    /// re-wrapped at 64 bytes through the middle of it, and `from_utf8(..).expect("base64 is
    /// ASCII")` panicked, in the request that fetched the key.
    #[test]
    fn a_key_with_non_ascii_in_its_body_is_refused_not_a_panic() {
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----");
        pem.push_str(&"A".repeat(63));
        pem.push('é');
        pem.push_str("-----END PUBLIC KEY-----");
        let err = parse_public_key(&pem).unwrap_err();
        assert!(err.contains("non-ASCII"), "{err}");
        let crash =
            "-----BEGIN PUBLIC KEY-----MFkwEwYHKoZIBLIC KEY-----MFkwEwYHKoZIzj0CAQYIKoZNI\0\0\0\0";
        assert!(parse_public_key(crash).is_err());
    }
}
