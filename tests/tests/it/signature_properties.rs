//! Property tests: what a platform signs verifies, and any change to a signed body, to the
//! signed headers or to the signature is rejected. Signing is the test signer's own code
//! (`xcs_tests::signer`), so the verifiers are checked against an independent implementation.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use proptest::prelude::*;
use secrecy::SecretBox;
use xcs_ingress::verify::{ebay, hmac_body, standard_webhooks};
use xcs_shared::Platform;
use xcs_tests::signer;

fn key(bytes: &[u8]) -> SecretBox<[u8]> {
    SecretBox::from(bytes.to_vec().into_boxed_slice())
}

/// A change to a byte string: flip one bit, drop a byte, or add one.
#[derive(Debug, Clone)]
enum Change {
    Flip { index: usize, bit: u8 },
    Remove { index: usize },
    Insert { index: usize, byte: u8 },
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(index, bit)| Change::Flip { index, bit }),
        any::<usize>().prop_map(|index| Change::Remove { index }),
        (any::<usize>(), any::<u8>()).prop_map(|(index, byte)| Change::Insert { index, byte }),
    ]
}

/// Applies the change; `None` when it cannot apply (removing from nothing).
fn apply(change: &Change, bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = bytes.to_vec();
    match *change {
        Change::Flip { index, bit } if !out.is_empty() => {
            let len = out.len();
            out[index % len] ^= 1 << bit;
        }
        Change::Remove { index } if !out.is_empty() => {
            let len = out.len();
            out.remove(index % len);
        }
        Change::Insert { index, byte } => out.insert(index % (out.len() + 1), byte),
        _ => return None,
    }
    Some(out)
}

/// Changes the decoded signature bytes and re-encodes them, so it is still well-formed base64.
fn change_signature(change: &Change, signature_b64: &str) -> Option<String> {
    let bytes = BASE64.decode(signature_b64).ok()?;
    apply(change, &bytes).map(|changed| BASE64.encode(changed))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn body_hmac_accepts_what_was_signed_and_nothing_changed(
        secret in "[ -~]{1,64}",
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        change in change(),
    ) {
        let delivery = signer::shopify("s", &secret, "orders/create", "w", &body);
        let signature = delivery.header("X-Shopify-Hmac-Sha256").unwrap();
        let keys = [key(secret.as_bytes())];
        prop_assert!(hmac_body::verify(&keys, &body, signature).is_ok());
        if let Some(changed) = apply(&change, &body) {
            prop_assert!(hmac_body::verify(&keys, &changed, signature).is_err());
        }
        if let Some(changed) = change_signature(&change, signature) {
            prop_assert!(hmac_body::verify(&keys, &body, &changed).is_err());
        }
    }

    #[test]
    fn standard_webhooks_accept_what_was_signed_and_nothing_changed(
        secret in proptest::collection::vec(any::<u8>(), 24..64),
        id in "msg_[A-Za-z0-9]{1,30}",
        timestamp in 1_600_000_000i64..2_000_000_000,
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        change in change(),
    ) {
        let delivery = signer::standard_webhooks(Platform::Etsy, "s", &secret, &id, timestamp, &body);
        let signature = delivery.header("webhook-signature").unwrap().to_owned();
        let keys = [key(&secret)];
        let ts = timestamp.to_string();
        let verify = |id: &str, ts: &str, signature: &str, body: &[u8]| {
            let headers = standard_webhooks::SignedHeaders { id, timestamp: ts, signature };
            standard_webhooks::verify(&keys, headers, body, timestamp, Some(300)).is_ok()
        };
        prop_assert!(verify(&id, &ts, &signature, &body));
        if let Some(changed) = apply(&change, &body) {
            prop_assert!(!verify(&id, &ts, &signature, &changed));
        }
        let raw = signature.strip_prefix("v1,").unwrap();
        if let Some(changed) = change_signature(&change, raw) {
            let changed = format!("v1,{changed}");
            prop_assert!(!verify(&id, &ts, &changed, &body));
        }
        if let Some(changed) = apply(&change, id.as_bytes()).and_then(|c| String::from_utf8(c).ok()) {
            prop_assert!(!verify(&changed, &ts, &signature, &body));
        }
        let later = (timestamp + 1).to_string();
        prop_assert!(!verify(&id, &later, &signature, &body));
    }
}

proptest! {
    // ECDSA signing is slow in debug builds.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn ebay_ecdsa_accepts_what_was_signed_and_no_changed_body(
        body in proptest::collection::vec(any::<u8>(), 0..1024),
        change in change(),
    ) {
        let signing_key = signer::new_ebay_key();
        let delivery = signer::ebay("s", &signing_key, "kid-1", &body);
        let header = ebay::parse_signature_header(delivery.header("X-EBAY-SIGNATURE").unwrap()).unwrap();
        let verifying_key = *signing_key.verifying_key();
        prop_assert!(ebay::verify(&verifying_key, &body, &header.signature).is_ok());
        if let Some(changed) = apply(&change, &body) {
            prop_assert!(ebay::verify(&verifying_key, &changed, &header.signature).is_err());
        }
    }
}
