//! Adobe Commerce's normaliser, then what the processor does with what it accepts: cleaning,
//! plausibility checks, the invoice or credit note, its numbers and payments (see `common`).
//! Input: a selector byte (its low six bits modulo 3: order or invoice event, credit memo,
//! stock item; the two high bits the credit memo's order, see `common::order_context`), then
//! the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::platforms::magento::normalise as magento;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match common::variant(selector) {
        0 => common::then(magento::order(body), common::normalised),
        1 => common::then(
            magento::refund(body, &common::order_context(selector)),
            common::refund,
        ),
        _ => common::then(magento::stock(body), common::stock),
    }
});
