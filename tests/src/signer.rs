//! Signs deliveries the way each platform does. Written from the platforms' documentation, not
//! from the ingress's code, so a shared mistake cannot hide.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{KeyInit, Mac};
use p256::ecdsa::SigningKey as EbaySigningKey;
use p256::ecdsa::signature::hazmat::PrehashSigner;
use rsa::pkcs1v15::SigningKey as RsaSigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};
use sha1::Digest;
use xcs_shared::Platform;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// A ready-to-send delivery: where to POST it, its headers and its exact body.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub platform: Platform,
    pub shop: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Delivery {
    pub fn path(&self) -> String {
        format!("/webhooks/{}/{}", self.platform, self.shop)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Replaces (or adds) a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn without_header(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn json_headers(extra: Vec<(&str, String)>) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
    headers.extend(extra.into_iter().map(|(n, v)| (n.to_owned(), v)));
    headers
}

/// Shopify: `X-Shopify-Hmac-Sha256: base64(HMAC-SHA256(client secret, body))`.
pub fn shopify(shop: &str, secret: &str, topic: &str, webhook_id: &str, body: &[u8]) -> Delivery {
    let signature = BASE64.encode(hmac_sha256(secret.as_bytes(), &[body]));
    Delivery {
        platform: Platform::Shopify,
        shop: shop.to_owned(),
        headers: json_headers(vec![
            ("X-Shopify-Topic", topic.to_owned()),
            ("X-Shopify-Hmac-Sha256", signature),
            ("X-Shopify-Shop-Domain", format!("{shop}.myshopify.com")),
            ("X-Shopify-API-Version", "2025-04".to_owned()),
            ("X-Shopify-Webhook-Id", webhook_id.to_owned()),
            ("X-Shopify-Event-Id", format!("evt-{webhook_id}")),
            (
                "X-Shopify-Triggered-At",
                "2026-11-27T01:00:00.000Z".to_owned(),
            ),
        ]),
        body: body.to_vec(),
    }
}

/// WooCommerce: `X-WC-Webhook-Signature: base64(HMAC-SHA256(secret, body))`, a new delivery id
/// on every send.
pub fn woocommerce(shop: &str, secret: &str, topic: &str, body: &[u8]) -> Delivery {
    let signature = BASE64.encode(hmac_sha256(secret.as_bytes(), &[body]));
    let (resource, event) = topic.split_once('.').unwrap_or((topic, ""));
    Delivery {
        platform: Platform::WooCommerce,
        shop: shop.to_owned(),
        headers: json_headers(vec![
            ("X-WC-Webhook-Source", format!("https://{shop}.example/")),
            ("X-WC-Webhook-Topic", topic.to_owned()),
            ("X-WC-Webhook-Resource", resource.to_owned()),
            ("X-WC-Webhook-Event", event.to_owned()),
            ("X-WC-Webhook-Signature", signature),
            ("X-WC-Webhook-ID", "142".to_owned()),
            (
                "X-WC-Webhook-Delivery-ID",
                uuid::Uuid::new_v4().simple().to_string(),
            ),
        ]),
        body: body.to_vec(),
    }
}

/// Standard Webhooks `v1` (Etsy, BigCommerce) with an HMAC key given as raw bytes.
pub fn standard_webhooks(
    platform: Platform,
    shop: &str,
    key: &[u8],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Delivery {
    let timestamp = timestamp.to_string();
    let mac = hmac_sha256(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    Delivery {
        platform,
        shop: shop.to_owned(),
        headers: json_headers(vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", format!("v1,{}", BASE64.encode(mac))),
        ]),
        body: body.to_vec(),
    }
}

/// The HMAC key of a `whsec_` secret (base64 after the prefix).
pub fn whsec_key(secret: &str) -> Vec<u8> {
    BASE64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("whsec_ secrets are base64")
}

/// eBay: `X-EBAY-SIGNATURE` = base64 of `{"alg":"ecdsa","kid","signature","digest":"SHA1"}`,
/// the signature DER ECDSA P-256 over SHA-1 of the body.
pub fn ebay(shop: &str, key: &EbaySigningKey, kid: &str, body: &[u8]) -> Delivery {
    let digest = sha1::Sha1::digest(body);
    let signature: p256::ecdsa::Signature = key.sign_prehash(&digest).expect("P-256 signs");
    let header = serde_json::json!({
        "alg": "ecdsa",
        "kid": kid,
        "signature": BASE64.encode(signature.to_der().as_bytes()),
        "digest": "SHA1",
    });
    Delivery {
        platform: Platform::Ebay,
        shop: shop.to_owned(),
        headers: json_headers(vec![(
            "X-EBAY-SIGNATURE",
            BASE64.encode(header.to_string()),
        )]),
        body: body.to_vec(),
    }
}

/// Adobe I/O Events: RSA-SHA256 over the raw body, under both header pairs (two keys, for
/// rotation); either key may be `None` to leave its pair out.
pub fn adobe(
    shop: &str,
    key1: Option<(&rsa::PrivateKey, &str)>,
    key2: Option<(&rsa::PrivateKey, &str)>,
    body: &[u8],
) -> Delivery {
    let mut headers = vec![(
        "Content-Type".to_owned(),
        "application/cloudevents+json; charset=UTF-8".to_owned(),
    )];
    for (index, key) in [(1, key1), (2, key2)] {
        if let Some((key, path)) = key {
            let signature = RsaSigningKey::<sha2::Sha256>::new(key.clone()).sign(body);
            headers.push((
                format!("x-adobe-digital-signature-{index}"),
                BASE64.encode(signature.to_bytes()),
            ));
            headers.push((format!("x-adobe-public-key{index}-path"), path.to_owned()));
        }
    }
    Delivery {
        platform: Platform::Magento,
        shop: shop.to_owned(),
        headers,
        body: body.to_vec(),
    }
}

/// A fresh P-256 key for a fake eBay.
pub fn new_ebay_key() -> EbaySigningKey {
    use p256::elliptic_curve::Generate;
    EbaySigningKey::generate()
}

/// A fresh RSA key for a fake Adobe (slow in debug builds; tests use [`adobe_test_key`]).
pub fn new_adobe_key() -> rsa::PrivateKey {
    rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key generation")
}

/// One of the two committed test RSA keys (`tests/fixtures/keys`) for a fake Adobe; generating
/// RSA keys in a debug build takes seconds.
pub fn adobe_test_key(index: usize) -> rsa::PrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    let path =
        crate::workspace_root().join(format!("tests/fixtures/keys/adobe-test-key-{index}.pem"));
    let pem = std::fs::read_to_string(&path).expect("the test key exists");
    rsa::PrivateKey::from_pkcs8_pem(&pem).expect("the test key parses")
}
