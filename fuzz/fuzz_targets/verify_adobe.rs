//! Adobe I/O Events: a base64 RSA-SHA256 signature over the body, with the RSA key of the
//! Adobe Commerce reference vector; the key-path filter and the key parser. Input: the
//! signature header, a newline, the body.
#![no_main]

mod common;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use xcs_ingress::verify::adobe;

/// `public_key` of `vectors/adobe_commerce_webhook_rsa_valid.json`.
const KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvkE7Tqgc2cvlq1FuDJWa
BDJ+6s3ekTShu0sheYGGF47efg9VbRUJIxWQyiLgAPMRvtsfhINMt+ejrumRXfEv
N0v0/fFNe3PZ6mCoLn1glY0aXVhcUGbxSybvhKsLF6FVggVcPZZai8oR8MFCLMVf
oVMJ28x3FcFr+yMdkhY3YWng6GiTvzGJw2RM2H8MiFL5KzctOCImbN+xTXLYiAie
2f1CFvz1rUSPpjvbm1hiAuPuInqNH6JG/cJJsvqUxA5PTY8wF87m0e+WT7sWFIoE
IBHD6EXeBBg1HA+G+42gC34b/A0OVHCDE+Gscxp3skACZFrZQhrmNedt5gGl26Vs
RQIDAQAB
-----END PUBLIC KEY-----
";

static VERIFYING_KEY: LazyLock<adobe::VerifyingKey> =
    LazyLock::new(|| adobe::parse_public_key(KEY).expect("the vector's key parses"));

fuzz_target!(|data: &[u8]| {
    let (header, body) = common::line(data);
    if let Ok(header) = std::str::from_utf8(header) {
        let _ = adobe::verify(&VERIFYING_KEY, body, header);
        let _ = adobe::is_safe_key_path(header);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = adobe::parse_public_key(text);
    }
});
