//! Shared by the fuzz targets: framing of one input into parts, and what to check on the
//! documents a normaliser produced.
#![allow(dead_code)]

use xcs_processor::normalise::{self, OrderContext};
use xcs_shared::domain::{Currency, Normalised, Order, Refund, TaxMode};

/// Splits at the first `\n`: (first line, rest). No newline: (everything, empty).
pub fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// Splits at the first NUL (which no JSON document contains): two documents.
pub fn two(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// The first byte picks a variant; the rest is the input.
pub fn pick(data: &[u8]) -> Option<(u8, &[u8])> {
    data.split_first().map(|(first, rest)| (*first, rest))
}

/// A fixed "today" for the date checks.
fn today() -> time::Date {
    time::Date::from_calendar_date(2026, time::Month::November, 27).expect("a date")
}

/// A booked order a refund can belong to; the tax basis follows the input.
pub fn order_context(selector: u8) -> OrderContext {
    OrderContext {
        number: "1001".into(),
        currency: Currency::try_from("USD".to_owned()).expect("USD"),
        tax_mode: if selector & 0x80 == 0 {
            TaxMode::Exclusive
        } else {
            TaxMode::Inclusive
        },
    }
}

/// What the processor does with a normalised document before it maps it: the sums the mapping
/// makes, and the plausibility checks. None of it may panic.
pub fn check_order(order: &Order) {
    let _ = normalise::lines_total(&order.lines, order.tax_mode);
    let _ = normalise::lines_tax(&order.lines);
    let _ = order.amount_paid();
    let _ = normalise::check_order(order, today());
}

pub fn check_refund(refund: &Refund) {
    let _ = normalise::lines_total(&refund.lines, refund.tax_mode);
    let _ = normalise::lines_tax(&refund.lines);
    let _ = normalise::check_refund(refund, today());
}

pub fn check_normalised(normalised: &Normalised) {
    match normalised {
        Normalised::Order(order) => check_order(order),
        Normalised::Refunds { order, refunds } => {
            if let Some(order) = order {
                check_order(order);
            }
            refunds.iter().for_each(check_refund);
        }
        Normalised::Stock(_) | Normalised::Nothing { .. } => {}
    }
}
