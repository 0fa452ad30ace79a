//! The classifier, on bodies taken as verified: topic, kind and event id for each platform,
//! and the route's pre-verification checks. Input: a platform byte, `name: value` header lines
//! up to an empty line, then the body.
#![no_main]

mod common;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::web::Bytes;
use libfuzzer_sys::fuzz_target;
use xcs_shared::Platform;

fuzz_target!(|data: &[u8]| {
    let Some((selector, mut rest)) = common::pick(data) else {
        return;
    };
    let platform = Platform::ALL[usize::from(selector) % Platform::ALL.len()];
    let mut headers = HeaderMap::new();
    loop {
        let (line, after) = common::line(rest);
        rest = after;
        if line.is_empty() {
            break;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
        {
            headers.append(name, value);
        }
    }
    let _ = xcs_ingress::fuzzing::pre_verification(rest);
    if let Ok(classified) =
        xcs_ingress::fuzzing::classify(platform, "fuzz-shop", &headers, Bytes::copy_from_slice(rest))
    {
        // The event id becomes the AMQP message-id: at most 255 bytes, printable.
        assert!(classified.event_id.len() <= 255, "{}", classified.event_id);
        assert!(
            classified.event_id.chars().all(|c| c.is_ascii_graphic()),
            "{}",
            classified.event_id
        );
    }
});
