//! eBay: the `X-EBAY-SIGNATURE` header (base64 JSON with a DER ECDSA signature), verified over
//! the body with the key of eBay's SDK test vector; and the key parser, which reads what eBay's
//! key endpoint answered. Input: the header, a newline, the body.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xcs_ingress::verify::ebay;

/// `public_key_response.key` of `vectors/ebay_java_sdk_message_valid.json`.
const KEY: &str = "-----BEGIN PUBLIC KEY-----MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEZhhxXKtR+TOvtDbgTPCkSof02qgBB7IsYOyf76ilExJ/upAa/vKIKheOoCyOpcLmi4t0b4uepb7LLjmMr90FUg==-----END PUBLIC KEY-----";

static VERIFYING_KEY: LazyLock<p256::ecdsa::VerifyingKey> =
    LazyLock::new(|| ebay::parse_public_key(KEY).expect("the vector's key parses"));

fuzz_target!(|data: &[u8]| {
    let (header, body) = common::line(data);
    if let Ok(header) = std::str::from_utf8(header) {
        if let Ok(signature) = ebay::parse_signature_header(header) {
            let _ = ebay::verify(&VERIFYING_KEY, body, &signature.signature);
        }
        let _ = ebay::parse_public_key(header);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = ebay::parse_public_key(text);
    }
});
