//! eBay's normaliser (a Fulfillment API order, with its refunds), then what the processor does
//! with what it accepts: cleaning, plausibility checks, the invoice and credit notes, their
//! numbers and payments (see `common`). Input: the body.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::platforms::ebay::normalise as ebay;

fuzz_target!(|data: &[u8]| {
    common::then(ebay::order(data), common::normalised);
});
