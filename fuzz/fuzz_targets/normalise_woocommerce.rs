//! WooCommerce's normaliser. Input: a selector byte (order, refunds, product stock), then the
//! body; for refunds the order and the refunds list, separated by a NUL byte.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::woocommerce;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(normalised) = woocommerce::order(body) {
                common::check_normalised(&normalised);
            }
        }
        1 => {
            let (order, refunds) = common::two(body);
            if let Ok(refunds) = woocommerce::refunds(order, refunds) {
                refunds.iter().for_each(common::check_refund);
            }
        }
        _ => {
            let _ = woocommerce::stock(body);
        }
    }
});
