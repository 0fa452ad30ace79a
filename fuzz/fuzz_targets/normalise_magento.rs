//! Adobe Commerce's normaliser. Input: a selector byte (order or invoice event, credit memo,
//! stock item), then the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::magento;

fuzz_target!(|data: &[u8]| {
    let Some((selector, body)) = common::pick(data) else {
        return;
    };
    match selector % 3 {
        0 => {
            if let Ok(normalised) = magento::order(body) {
                common::check_normalised(&normalised);
            }
        }
        1 => {
            if let Ok(refund) = magento::refund(body, &common::order_context(selector)) {
                common::check_refund(&refund);
            }
        }
        _ => {
            let _ = magento::stock(body);
        }
    }
});
