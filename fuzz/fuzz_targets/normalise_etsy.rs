//! Etsy's normaliser: a receipt from the Open API (with its refunds). Input: the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::normalise::etsy;

fuzz_target!(|data: &[u8]| {
    if let Ok(normalised) = etsy::receipt(data) {
        common::check_normalised(&normalised);
    }
});
