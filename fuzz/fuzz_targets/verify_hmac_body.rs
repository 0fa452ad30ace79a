//! Shopify / WooCommerce: `base64(HMAC-SHA256(secret, body))`. Input: the signature header, a
//! newline, the body. Keys: the reference vectors' secrets (so seeds reach the success path).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use secrecy::SecretBox;
use xcs_ingress::verify::{SignatureError, hmac_body};

fn keys() -> Vec<SecretBox<[u8]>> {
    ["hush", "derived-woocommerce-webhook-secret", ""]
        .iter()
        .map(|s| SecretBox::from(s.as_bytes().to_vec().into_boxed_slice()))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let (signature, body) = common::line(data);
    let Ok(signature) = std::str::from_utf8(signature) else {
        return;
    };
    let keys = keys();
    if hmac_body::verify(&keys, body, signature).is_ok() {
        // A signature over this body must not cover a different one.
        let mut other = body.to_vec();
        other.push(b' ');
        assert_eq!(
            hmac_body::verify(&keys, &other, signature),
            Err(SignatureError::Mismatch)
        );
    }
});
