//! Standard Webhooks (Etsy, BigCommerce). Input: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature` lines, then the body. Keys: the reference vectors' secrets.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretBox;
use xcs_ingress::verify::SignatureError;
use xcs_ingress::verify::standard_webhooks::{SignedHeaders, verify};

/// The reference vectors' secrets, as the ingress config reads them, and BigCommerce's raw
/// client secret.
fn keys() -> Vec<SecretBox<[u8]>> {
    use base64::Engine as _;
    let base64 = base64::engine::general_purpose::STANDARD;
    ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]
        .iter()
        .map(|s| base64.decode(s).expect("the vectors' secrets are base64"))
        .chain(std::iter::once(b"bc_app_client_secret".to_vec()))
        .map(|k| SecretBox::from(k.into_boxed_slice()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (id, rest) = common::line(data);
    let (timestamp, rest) = common::line(rest);
    let (signature, body) = common::line(rest);
    let (Ok(id), Ok(timestamp), Ok(signature)) = (
        std::str::from_utf8(id),
        std::str::from_utf8(timestamp),
        std::str::from_utf8(signature),
    ) else {
        return;
    };
    let headers = SignedHeaders {
        id,
        timestamp,
        signature,
    };
    let keys = keys();
    // A fixed "now" near the vectors' timestamps, with and without the replay window.
    let _ = verify(&keys, headers, body, 1_649_367_600, Some(300));
    let _ = verify(&keys, headers, body, i64::MIN, Some(300));
    if verify(&keys, headers, body, 0, None).is_ok() {
        let mut other = body.to_vec();
        other.push(b' ');
        assert_eq!(
            verify(&keys, headers, &other, 0, None),
            Err(SignatureError::Mismatch)
        );
    }
});
