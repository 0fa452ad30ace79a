//! BigCommerce's normaliser, then what the processor does with what it accepts: cleaning,
//! plausibility checks, the invoice or credit note, its numbers and payments (see `common`).
//! Input: a selector byte (its low six bits modulo 3: order, refund, inventory webhook; the two
//! high bits the refund's order, see `common::order_context`), then the body; for an order the v2 order and its products list,
//! separated by a NUL byte.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::platforms::bigcommerce::normalise as bigcommerce;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match common::variant(selector) {
        0 => {
            let (order, products) = common::two(body);
            common::then(bigcommerce::order(order, products), common::normalised);
        }
        1 => common::then(
            bigcommerce::refund(body, &common::order_context(selector)),
            common::refund,
        ),
        _ => common::then(bigcommerce::stock(body), common::stock),
    }
});
