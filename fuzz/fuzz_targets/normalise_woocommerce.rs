//! WooCommerce's normaliser, then what the processor does with what it accepts: cleaning,
//! plausibility checks, the invoice or credit notes, their numbers and payments (see
//! `common`). Input: a selector byte (its low six bits modulo 3: order, refunds, product stock), then the body; for
//! refunds the order and the refunds list, separated by a NUL byte.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::platforms::woocommerce::normalise as woocommerce;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match common::variant(selector) {
        0 => common::then(woocommerce::order(body), common::normalised),
        1 => {
            let (order, refunds) = common::two(body);
            common::then(woocommerce::refunds(order, refunds), common::refunds);
        }
        _ => common::then(woocommerce::stock(body), common::stock),
    }
});
