//! Shopify's normaliser, then what the processor does with what it accepts: cleaning,
//! plausibility checks, the invoice or credit note, its numbers and payments (see `common`).
//! Input: a selector byte (its low six bits modulo 3: order, refund, inventory level; the two
//! high bits the refund's order, see `common::order_context`), then the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::platforms::shopify::normalise as shopify;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match common::variant(selector) {
        0 => common::then(shopify::order(body), common::order),
        1 => common::then(
            shopify::refund(body, &common::order_context(selector)),
            common::refund,
        ),
        _ => common::then(shopify::stock(body), common::stock),
    }
});
