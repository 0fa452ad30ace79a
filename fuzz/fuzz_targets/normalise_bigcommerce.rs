//! BigCommerce's normaliser. Input: a selector byte (order, refund, inventory webhook), then
//! the body; for an order the v2 order and its products list, separated by a NUL byte.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::bigcommerce;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match selector % 3 {
        0 => {
            let (order, products) = common::two(body);
            if let Ok(normalised) = bigcommerce::order(order, products) {
                common::check_normalised(&normalised);
            }
        }
        1 => {
            if let Ok(refund) = bigcommerce::refund(body, &common::order_context(selector)) {
                common::check_refund(&refund);
            }
        }
        _ => {
            let _ = bigcommerce::stock(body);
        }
    }
});
