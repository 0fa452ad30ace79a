//! Shopify's normaliser. Input: a selector byte (order, refund, inventory level; the high bit
//! picks the refund's order tax basis), then the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::shopify;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(order) = shopify::order(body) {
                common::check_order(&order);
            }
        }
        1 => {
            if let Ok(refund) = shopify::refund(body, &common::order_context(selector)) {
                common::check_refund(&refund);
            }
        }
        _ => {
            let _ = shopify::stock(body);
        }
    }
});
