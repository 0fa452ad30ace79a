//! eBay's normaliser: a Fulfillment API order (with its refunds). Input: the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::ebay;

fuzz_target!(|data: &[u8]| {
    if let Ok(normalised) = ebay::order(data) {
        common::check_normalised(&normalised);
    }
});
