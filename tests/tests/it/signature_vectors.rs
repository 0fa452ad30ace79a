//! Every signature vector in `tests/fixtures/vectors` (copied from the reference collection,
//! sources beside each file) gives its expected result through the ingress's verifiers, plus
//! the vectors the platform notes give inline. Needs no services.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use secrecy::SecretBox;
use serde_json::Value;
use xcs_ingress::verify::{SignatureError, adobe, ebay, hmac_body, standard_webhooks};

fn vectors() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/vectors");
    let mut vectors: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("fixtures/vectors exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, serde_json::from_str(&text).expect("vector is JSON"))
        })
        .collect();
    vectors.sort_by(|a, b| a.0.cmp(&b.0));
    vectors
}

fn key(bytes: &[u8]) -> SecretBox<[u8]> {
    SecretBox::from(bytes.to_vec().into_boxed_slice())
}

fn header<'a>(vector: &'a Value, name: &str) -> Option<&'a str> {
    vector["headers"]
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// Checks one vector; `None` when the vector is not about a webhook the ingress receives.
fn check(vector: &Value) -> Option<Result<(), SignatureError>> {
    let body = vector["body"].as_str().unwrap_or_default().as_bytes();
    let secret = vector["secret"].as_str().unwrap_or_default();
    let platform = vector["platform"].as_str().unwrap_or_default();
    Some(match platform {
        // Shopify's OAuth/app-proxy query-string HMAC is not a webhook signature.
        "shopify" if vector.get("query_params").is_some() => return None,
        "shopify" => hmac_body::verify(
            &[key(secret.as_bytes())],
            body,
            header(vector, "X-Shopify-Hmac-Sha256")?,
        ),
        "woocommerce" => hmac_body::verify(
            &[key(secret.as_bytes())],
            body,
            header(vector, "X-WC-Webhook-Signature")?,
        ),
        p if p.starts_with("standard-webhooks") => {
            let secret_key = BASE64
                .decode(secret.trim_start_matches("whsec_"))
                .expect("vector secrets are base64");
            let headers = standard_webhooks::SignedHeaders {
                id: header(vector, "webhook-id")?,
                timestamp: header(vector, "webhook-timestamp")?,
                signature: header(vector, "webhook-signature")?,
            };
            // The vectors' timestamps are years old: replay window off.
            standard_webhooks::verify(&[key(&secret_key)], headers, body, 0, None)
        }
        "ebay" if vector.get("challenge_code").is_some() => {
            let answer = ebay::challenge_response(
                vector["challenge_code"].as_str()?,
                vector["verification_token"].as_str()?,
                vector["endpoint"].as_str()?,
            );
            let expected = vector["expected_response_body"]["challengeResponse"].as_str()?;
            if answer == expected {
                Ok(())
            } else {
                Err(SignatureError::Mismatch)
            }
        }
        "ebay" => {
            let public_key = ebay::parse_public_key(vector["public_key_response"]["key"].as_str()?)
                .expect("the vector's key parses");
            ebay::parse_signature_header(header(vector, "X-EBAY-SIGNATURE")?)
                .and_then(|signature| ebay::verify(&public_key, body, &signature.signature))
        }
        "adobe-commerce" => {
            let public_key = adobe::parse_public_key(vector["public_key"].as_str()?)
                .expect("the vector's key parses");
            // Commerce (synchronous) webhooks sign base64(body), per the vector's
            // `signed_bytes_are`; I/O Events sign the raw body (tested below).
            assert_eq!(vector["signed_bytes_are"], "base64(body)");
            let message = BASE64.encode(body);
            adobe::verify(
                &public_key,
                message.as_bytes(),
                header(vector, "x-adobe-commerce-webhook-signature")?,
            )
        }
        other => panic!("a vector for {other:?}: teach this test about it"),
    })
}

#[test]
fn every_applicable_reference_vector_gives_its_expected_result() {
    let mut checked = 0;
    for (name, vector) in vectors() {
        let Some(result) = check(&vector) else {
            continue;
        };
        let expected_valid = vector["expected"] == "valid";
        assert_eq!(
            result.is_ok(),
            expected_valid,
            "{name}: expected {}, got {result:?}",
            vector["expected"]
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} vectors checked");
}

#[test]
fn svix_header_names_carry_the_same_signature() {
    let vector = vectors()
        .into_iter()
        .find(|(name, _)| name == "svix_sign_valid.json")
        .expect("the svix vector exists")
        .1;
    let alternate = &vector["alternate_header_names"];
    assert_eq!(alternate["webhook-id"], "svix-id");
    assert_eq!(alternate["webhook-signature"], "svix-signature");
}

// Inline vectors from the platform notes (shared/notes/platforms.md, §8 "Consolidated test
// vectors"): WooCommerce §3.6, BigCommerce §4.6, Etsy §6.5, Adobe I/O Events §5.7.

#[test]
fn woocommerce_notes_vector() {
    let body = br#"{"id":727,"status":"processing","currency":"USD","total":"29.35"}"#;
    let signature = "hOhHlPSDY72Elah1xucn8sLtCqd7awkdqtxMSJvztGM=";
    assert_eq!(
        hmac_body::verify(&[key(b"wc_test_secret")], body, signature),
        Ok(())
    );
    assert_eq!(
        hmac_body::verify(&[key(b"other_secret")], body, signature),
        Err(SignatureError::Mismatch)
    );
    // The same digest in hex is not what WooCommerce sends.
    let hex = hex::encode(BASE64.decode(signature).unwrap());
    assert!(hmac_body::verify(&[key(b"wc_test_secret")], body, &hex).is_err());
}

#[test]
fn bigcommerce_notes_vector_keys_with_the_raw_client_secret() {
    let body = br#"{"scope":"store/order/created","store_id":"1025646","data":{"type":"order","id":250},"hash":"dd70c0976e06b67aaf671e73f49dcb79230ebf9d","created_at":1561479335,"producer":"stores/abc123"}"#;
    let headers = standard_webhooks::SignedHeaders {
        id: "bc_msg_1",
        timestamp: "1700000000",
        signature: "v1,z/s9XAo91PV5Ozo2naYeRAnz/TbFAvRddMR6m3LhPPg=",
    };
    let verify = |k: &[u8], now, tolerance| {
        standard_webhooks::verify(&[key(k)], headers, body, now, tolerance)
    };
    assert_eq!(verify(b"bc_test_client_secret", 0, None), Ok(()));
    assert_eq!(
        verify(b"bc_test_client_secret", 1_700_000_299, Some(300)),
        Ok(())
    );
    assert_eq!(
        verify(b"bc_test_client_secret", 1_700_000_301, Some(300)),
        Err(SignatureError::OutsideReplayWindow)
    );
    assert_eq!(
        verify(b"bc_test_client_secret", 1_699_999_699, Some(300)),
        Err(SignatureError::OutsideReplayWindow)
    );
}

#[test]
fn etsy_notes_vector() {
    let body = br#"{"event_type":"order.paid","resource_url":"https://api.etsy.com/v3/application/shops/123456/receipts/234567890","shop_id":"123456"}"#;
    let secret = BASE64.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let headers = standard_webhooks::SignedHeaders {
        id: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        timestamp: "1674087231",
        signature: "v1,h2ws6G8voU6XHOMvgAbe3ufQot8mM58ExvS48uCsH04=",
    };
    assert_eq!(
        standard_webhooks::verify(&[key(&secret)], headers, body, 0, None),
        Ok(())
    );
}

pub const ADOBE_IO_PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsoTBPAoAEGSzGZN7N2ye
zRZxSMawRjHZlOswFUF2UEqHRdq2DpncT2QSvkn2igCX/6V5KqDwfCoOrhrqpXYr
VI6S24WRy9ZugiIxkzCArfxna2z410DQ/pF6M3Qix4IFinOKwNlm4Nu/iiGfOddV
xy7ygDAfVyyYjOHIWZB/4rBSIGOGq83yEeTV6FKWxXmuFL20XZewgq/EjfGYLcdg
XMTVrm0TCi9Bcr9J89cbGzu4AzW4ei2idD3JDQg25t4J9tghuOUCa0MjgV21mnK5
62FKcZypzaaWG9mgVp98yNiDMzQj5q3BF0e+cjQfxOm1N4+Nya1ByumeGU4hG0E/
eQIDAQAB
-----END PUBLIC KEY-----";

#[test]
fn adobe_io_events_notes_vector_signs_the_raw_body() {
    let body = br#"{"specversion":"1.0","id":"23f76cef-9f14-44b1-bbd0-29995789c98e","type":"com.adobe.commerce.observer.sales_order_save_after","event_id":"b0f2b088-5490-4d16-9ce9-0cb1fb3e5ed0","recipient_client_id":"ca7b36f23be94dcb9d2ebb97f0276e3f","data":{"value":{"entity_id":"42","increment_id":"000000042","order_currency_code":"EUR","grand_total":"119.0000"}}}"#;
    let signature = "BzIZbIKfzfTf2MGIwYqZoXaJVfgaj5Hs3jgJiYy2C6VNpIoLIEi8lcDQWvLz+r/5gcR2bJt4iSwDRj4Oa/zjfdovXoQ+jYUrTfYBl/fpxdvYKE+EEGBV3+W4ih/ytxkOm8wHa6JgnQ5o0RvAfKZnxIZBsyloi22yfIMKYi4sC4C1YB+ykYIHsoyYymcVvEv/fYUnNu0cF9rrO5c8027i6EVnF+/CXv7f7h8mkLq8/OKLe0e4DR/0OS3a2/ihKC7aAB6csDV0o+eIAD4v50tPwovzrKVjwFklG/eHYSS5pVGbWSJpz29HZVdVxs7ksm1O1dftQf4qwUnj1Ei+N8Jntw==";
    let public_key = adobe::parse_public_key(ADOBE_IO_PUBLIC_KEY).unwrap();
    assert_eq!(adobe::verify(&public_key, body, signature), Ok(()));
    let mut tampered = body.to_vec();
    tampered[20] ^= 1;
    assert_eq!(
        adobe::verify(&public_key, &tampered, signature),
        Err(SignatureError::Mismatch)
    );
}

#[test]
fn adobe_key_paths_cannot_leave_the_key_host() {
    assert!(adobe::is_safe_key_path("/prod/keys/pub-key-voy5XEbWmT.pem"));
    for path in [
        "https://evil.example/key.pem",
        "//evil.example/key.pem",
        "/prod/../../etc/passwd.pem",
        "/prod/keys/key.pem?x=1",
        "/prod/keys/key.txt",
        "prod/keys/key.pem",
        "/prod/keys/@evil.example/key.pem",
    ] {
        assert!(!adobe::is_safe_key_path(path), "{path} must be refused");
    }
}
