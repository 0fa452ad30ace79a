//! Shared by the fuzz targets: framing of one input into parts, and what the processor does
//! with a document a normaliser accepted, with what must hold for any input.
//!
//! The pipeline after a normaliser, as `dispatch` and `booking` run it: the sums the mapping
//! makes, cleaning (`clean_order`, `clean_refund`, `clean_stock`), the plausibility checks
//! (`check_order`, `check_refund`), then the mapping onto Xero ([`MAPPING`]): the invoice or
//! credit note, its number and reference, the request body, and the payments planned against
//! it. A document refused at any step (a `NormaliseError`, a `MappingError`) stops there, as in
//! the processor. Invariants (a panic is a finding):
//!
//! - nothing panics, whatever the input;
//! - numbers and references, of any text (before cleaning too): at most 255 bytes, no `"`,
//!   `\`, `,` or control character, and distinct for order numbers that differ in more than
//!   what the number drops by design (spaces, a leading `#`);
//! - cleaned text holds no control character;
//! - a mapped document: what Xero will compute for its lines (`xero_total`) is its `total`,
//!   which is the platform's total rounded to cents, never negative; its lines' `TaxAmount`s
//!   add up to its `total_tax`, the platform's tax rounded to cents; unit amounts and
//!   quantities within Xero's 4 decimals, tax and discounts in cents, no discount on a credit
//!   note; it serialises to the request body and reads back the same;
//! - planned payments: each positive and in cents, together never more than the total they
//!   are capped at.
#![allow(dead_code)]

use std::sync::LazyLock;

use rust_decimal::Decimal;
use xcs_processor::mapping::{self, MappedCreditNote, MappedInvoice, PlannedPayment, ShopMapping};
use xcs_processor::normalise::{self, OrderContext};
use xcs_processor::xero::types::{ContactRef, CreditNote, Invoice, LineAmountTypes, LineItem};
use xcs_shared::Platform;
use xcs_shared::domain::{
    Currency, Line, Normalised, Order, Payment, PaymentMethod, Refund, StockChange, TaxMode,
};

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

/// Which document a selector byte picks (0, 1 or 2, per target): its low six bits, so that the
/// two high bits can pick the refund's order (see [`order_context`]).
pub fn variant(selector: u8) -> u8 {
    (selector & 0x3f) % 3
}

/// A fixed "today" for the date checks.
fn today() -> time::Date {
    time::Date::from_calendar_date(2026, time::Month::November, 27).expect("a date")
}

/// A booked order a refund can belong to: the selector's high bit picks its tax basis
/// (inclusive when set), the next its currency (EUR when set, else USD).
pub fn order_context(selector: u8) -> OrderContext {
    let currency = if selector & 0x40 == 0 { "USD" } else { "EUR" };
    OrderContext {
        number: "1001".into(),
        currency: Currency::try_from(currency.to_owned()).expect("an ISO 4217 code"),
        tax_mode: if selector & 0x80 == 0 {
            TaxMode::Exclusive
        } else {
            TaxMode::Inclusive
        },
    }
}

/// A shop's mapping with the tax rates and labels the seeds and common shops use, so that
/// many documents map (an unmapped tax stops a document before most of the mapping runs).
pub static MAPPING: LazyLock<ShopMapping> = LazyLock::new(|| {
    toml::from_str(
        r#"
        document_prefix = "SH-"
        gateway_accounts = { paypal = "617", shopify_payments = "618", stripe = "619" }
        items = { "IPOD2008GREEN" = "IPOD", "IPOD-342-N" = "IPOD", "MUG-1" = "MUG" }
        [accounts]
        sales = "200"
        shipping = "205"
        discounts = "210"
        gift_cards = "825"
        fees = "260"
        rounding = "860"
        clearing = "615"
        adjustments = "220"
        [tax]
        untaxed = "ZERORATED"
        no_tax = "NONE"
        [tax.by_label]
        "GST" = "OUTPUT2"
        "VAT" = "OUTPUT2"
        "State Tax" = "TAX001"
        "US-CA-STATE TAX" = "TAX001"
        "IE VAT" = "OUTPUT2"
        "IOSS" = "OUTPUT2"
        "DE-MWST.-1" = "OUTPUT2"
        "DE-MWST. ERM.-2" = "OUTPUT"
        "DE-NULLSATZ-3" = "ZERORATED"
        "Exempt" = "EXEMPTOUTPUT"
        [tax.by_rate]
        "0" = "ZERORATED"
        "5" = "OUTPUT5"
        "6" = "TAX006"
        "7" = "OUTPUT7"
        "7.5" = "TAX001"
        "10" = "OUTPUT10"
        "12.5" = "OUTPUT125"
        "15" = "OUTPUT2"
        "19" = "OUTPUT19"
        "20" = "OUTPUT20"
        "21" = "OUTPUT21"
        "23" = "OUTPUT23"
        "25" = "OUTPUT25"
        "#,
    )
    .expect("the fuzz mapping parses")
});

/// The Xero rates of [`MAPPING`]'s tax types: each `by_rate` rate, and none on the untaxed ones.
pub static RATES: LazyLock<mapping::XeroTaxRates> = LazyLock::new(|| {
    let mut rates: Vec<(String, Decimal)> = MAPPING
        .tax
        .by_rate
        .iter()
        .map(|(rate, tax_type)| (tax_type.clone(), rate.parse().expect("a rate")))
        .collect();
    rates.push(("NONE".to_owned(), Decimal::ZERO));
    rates.push(("EXEMPTOUTPUT".to_owned(), Decimal::ZERO));
    rates.push(("OUTPUT".to_owned(), Decimal::from(7)));
    mapping::XeroTaxRates::new(rates)
});

/// `XCS_FUZZ_TRACE=1`: say on stderr how far each document got (replaying a corpus with
/// `-runs=0` shows how many reach the mapping); `XCS_FUZZ_TRACE=2`: with the document
/// refused by the mapping.
static TRACE: LazyLock<u8> = LazyLock::new(|| match std::env::var("XCS_FUZZ_TRACE").as_deref() {
    Ok("2") => 2,
    Ok(_) => 1,
    Err(_) => 0,
});

fn trace(what: &str, id: &str, outcome: std::fmt::Arguments<'_>) {
    if *TRACE > 0 {
        eprintln!("xcs-fuzz: {what} {id:?}: {outcome}");
    }
}

fn trace_document(document: &dyn std::fmt::Debug) {
    if *TRACE > 1 {
        eprintln!("{document:#?}");
    }
}

fn contact() -> ContactRef {
    ContactRef {
        contact_id: "00000000-0000-0000-0000-000000000001".into(),
    }
}

// --- What the processor does next -----------------------------------------------------------

/// A normaliser's result on to `next`; a refusal ends there.
pub fn then<T>(result: Result<T, normalise::NormaliseError>, next: fn(T)) {
    match result {
        Ok(value) => next(value),
        Err(err) => trace("body", "", format_args!("refused: {err}")),
    }
}

/// Refunds on one by one.
pub fn refunds(refunds: Vec<Refund>) {
    refunds.into_iter().for_each(refund);
}

/// Every document of a normaliser's result through the pipeline.
pub fn normalised(normalised: Normalised) {
    match normalised {
        Normalised::Order(order) => self::order(order),
        Normalised::Refunds { order, refunds } => {
            if let Some(order) = order {
                self::order(order);
            }
            refunds.into_iter().for_each(refund);
        }
        Normalised::Stock(changes) => stock(changes),
        Normalised::Nothing { .. } => {}
    }
}

/// An order: sums, numbers, cleaning, checks, invoice, payments.
pub fn order(mut order: Order) {
    let _ = normalise::lines_total(&order.lines, order.tax_mode);
    let _ = normalise::lines_tax(&order.lines);
    let _ = order.amount_paid();
    // Numbers are computed from whatever text the document has.
    order_numbers(order.platform, &order.number, false);
    if let Err(err) = normalise::clean_order(&mut order) {
        return trace("order", &order.number, format_args!("not clean: {err}"));
    }
    assert_order_clean(&order);
    if let Err(err) = normalise::check_order(&order, today()) {
        return trace("order", &order.number, format_args!("implausible: {err}"));
    }
    order_numbers(order.platform, &order.number, true);
    match MAPPING.invoice(&order, contact()) {
        Ok(mapped) => {
            assert_invoice(&order, &mapped);
            // An invoice takes given tax: only figures beyond computing stop it.
            match mapped.clone().for_xero(&MAPPING, &RATES) {
                Ok(for_xero) => assert_for_xero(
                    &for_xero.invoice.line_items,
                    for_xero.invoice.line_amount_types,
                    mapped.total,
                    Some(mapped.total_tax),
                ),
                Err(mapping::MappingError::Overflow(_)) => {}
                Err(err) => panic!("an invoice's lines for Xero refused: {err}"),
            }
            let planned = MAPPING.order_payments(&order, mapped.total);
            assert_payments(&planned, mapped.total);
            trace(
                "order",
                &order.number,
                format_args!(
                    "invoiced, {} lines, total {}, {} payments",
                    mapped.invoice.line_items.len(),
                    mapped.total,
                    planned.len()
                ),
            );
        }
        Err(err) => {
            trace("order", &order.number, format_args!("not mapped: {err}"));
            trace_document(&order);
        }
    }
}

/// A refund: sums, numbers, cleaning, checks, credit note, money paid back.
pub fn refund(mut refund: Refund) {
    let _ = normalise::lines_total(&refund.lines, refund.tax_mode);
    let _ = normalise::lines_tax(&refund.lines);
    refund_numbers(refund.platform, &refund.order_number, &refund.refund_id);
    if let Err(err) = normalise::clean_refund(&mut refund) {
        return trace(
            "refund",
            &refund.refund_id,
            format_args!("not clean: {err}"),
        );
    }
    assert_refund_clean(&refund);
    if let Err(err) = normalise::check_refund(&refund, today()) {
        return trace(
            "refund",
            &refund.refund_id,
            format_args!("implausible: {err}"),
        );
    }
    refund_numbers(refund.platform, &refund.order_number, &refund.refund_id);
    match MAPPING.credit_note(&refund, contact()) {
        Ok(mapped) => {
            assert_credit_note(&refund, &mapped);
            // Refused only for a tax Xero's rates cannot explain (a rate unlike the platform's).
            if let Ok(for_xero) = mapped.clone().for_xero(&MAPPING, &RATES) {
                assert_for_xero(
                    &for_xero.credit_note.line_items,
                    for_xero.credit_note.line_amount_types,
                    mapped.total,
                    None,
                );
            }
            // Booking caps the money paid back at what the credit note has left after
            // allocation to the invoice: all of it, part of it, or nothing.
            let half = mapping::round2(mapped.total / Decimal::TWO);
            for remaining in [mapped.total, half, mapped.total - half, Decimal::ZERO] {
                let planned = MAPPING.refund_payments(&refund, remaining);
                assert_payments(&planned, remaining);
            }
            trace(
                "refund",
                &refund.refund_id,
                format_args!(
                    "credit note, {} lines, total {}",
                    mapped.credit_note.line_items.len(),
                    mapped.total
                ),
            );
        }
        Err(err) => {
            trace(
                "refund",
                &refund.refund_id,
                format_args!("not mapped: {err}"),
            );
            trace_document(&refund);
        }
    }
}

/// Stock changes: cleaning.
pub fn stock(mut changes: Vec<StockChange>) {
    if normalise::clean_stock(&mut changes).is_ok() {
        for change in &changes {
            for text in [&change.sku, &change.location].into_iter().flatten() {
                assert_no_control(text, "stock text after cleaning");
            }
        }
    }
}

// --- Numbers and references -----------------------------------------------------------------

/// Xero's limit on numbers and references, and what our `where` filters and comma-separated
/// lists can carry.
fn assert_filter_safe(text: &str, what: &str) {
    assert!(
        text.len() <= mapping::XERO_TEXT_MAX,
        "{what} is {} bytes, over Xero's {}: {text:?}",
        text.len(),
        mapping::XERO_TEXT_MAX
    );
    assert!(
        !text
            .chars()
            .any(|c| c.is_control() || matches!(c, '"' | '\\' | ',')),
        "{what} holds a character a filter cannot carry: {text:?}"
    );
}

fn assert_no_control(text: &str, what: &str) {
    assert!(
        !text.chars().any(char::is_control),
        "{what} holds a control character: {text:?}"
    );
}

/// What [`mapping::invoice_number`] keeps of an order number by design.
fn bare(number: &str) -> String {
    number
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The number without what numbers never keep.
fn without_unsafe(number: &str) -> String {
    number
        .chars()
        .filter(|c| !matches!(c, '"' | '\\' | ',' | '~'))
        .collect()
}

/// The invoice number and reference of an order number. `cleaned`: the number passed
/// `clean_order` (no control characters), so the numbers must also be unique.
fn order_numbers(platform: Platform, number: &str, cleaned: bool) {
    let invoice_number = mapping::invoice_number(&MAPPING, number);
    let reference = mapping::invoice_reference(platform, number);
    assert_filter_safe(&invoice_number, "invoice number");
    assert_filter_safe(&reference, "invoice reference");
    if !cleaned {
        return;
    }
    // A number that differs only in characters numbers cannot keep must not share another's
    // invoice (an outside check found two orders booked onto one invoice).
    let other = without_unsafe(number);
    if bare(&other) != bare(number) {
        assert_ne!(
            invoice_number,
            mapping::invoice_number(&MAPPING, &other),
            "orders {number:?} and {other:?} share an invoice number"
        );
    }
    if other.trim() != number.trim() {
        assert_ne!(
            reference,
            mapping::invoice_reference(platform, &other),
            "orders {number:?} and {other:?} share an invoice reference"
        );
    }
}

fn refund_numbers(platform: Platform, order_number: &str, refund_id: &str) {
    assert_filter_safe(
        &mapping::credit_note_number(&MAPPING, order_number, refund_id),
        "credit note number",
    );
    assert_filter_safe(
        &mapping::credit_note_reference(platform, order_number, refund_id),
        "credit note reference",
    );
}

// --- Cleaning -------------------------------------------------------------------------------

fn assert_lines_clean(lines: &[Line]) {
    for line in lines {
        assert_no_control(&line.description, "line description after cleaning");
        for text in [&line.sku, &line.tax_label].into_iter().flatten() {
            assert_no_control(text, "line text after cleaning");
        }
    }
}

fn assert_payments_clean(payments: &[Payment]) {
    for payment in payments {
        if let PaymentMethod::Gateway { name } = &payment.method {
            assert_no_control(name, "gateway name after cleaning");
        }
        if let Some(reference) = &payment.reference {
            assert_no_control(reference, "payment reference after cleaning");
        }
    }
}

fn assert_order_clean(order: &Order) {
    assert_no_control(&order.order_id, "order id after cleaning");
    assert_no_control(&order.number, "order number after cleaning");
    if let Some(customer) = &order.customer {
        for text in [&customer.id, &customer.email, &customer.name]
            .into_iter()
            .flatten()
        {
            assert_no_control(text, "customer text after cleaning");
        }
    }
    assert_lines_clean(&order.lines);
    assert_payments_clean(&order.payments);
}

fn assert_refund_clean(refund: &Refund) {
    for id in [&refund.refund_id, &refund.order_id, &refund.order_number] {
        assert_no_control(id, "refund identifier after cleaning");
    }
    assert_lines_clean(&refund.lines);
    assert_payments_clean(&refund.returned);
}

// --- Mapped documents -----------------------------------------------------------------------

fn in_cents(value: Decimal) -> bool {
    value == mapping::round2(value)
}

fn decimals(value: Decimal) -> u32 {
    value.normalize().scale()
}

/// Line items as Xero will take them, adding up to `total` and `total_tax`.
fn assert_lines(
    items: &[LineItem],
    mode: TaxMode,
    total: Decimal,
    total_tax: Decimal,
    credit_note: bool,
) {
    assert!(!items.is_empty(), "a mapped document without lines");
    for item in items {
        assert!(
            decimals(item.unit_amount) <= 4 && decimals(item.quantity) <= 4,
            "Xero would round this line's unit amount or quantity (4 decimals): {item:?}"
        );
        assert!(
            in_cents(item.tax_amount.amount()),
            "tax not in cents: {item:?}"
        );
        if let Some(discount) = item.discount_amount {
            assert!(!credit_note, "a discount on a credit note line: {item:?}");
            assert!(in_cents(discount), "discount not in cents: {item:?}");
        }
        assert!(
            item.description.len() <= 4000,
            "description over Xero's 4000: {} bytes",
            item.description.len()
        );
        assert_no_control(&item.description, "line item description");
    }
    let computed = mapping::xero_total(items, mode)
        .expect("the lines of a mapped document add up without overflow");
    assert_eq!(
        computed, total,
        "Xero would compute {computed} for a document mapped with total {total}: {items:#?}"
    );
    let tax = items
        .iter()
        .try_fold(Decimal::ZERO, |sum, item| {
            sum.checked_add(item.tax_amount.amount())
        })
        .expect("the tax of a mapped document adds up without overflow");
    assert_eq!(
        tax, total_tax,
        "the lines' TaxAmount add up to {tax}, the document says {total_tax}: {items:#?}"
    );
}

/// A document's lines as sent to Xero: Xero books `total` (and, for invoices, the platform's
/// `tax`), and no tax-inclusive document carries a `TaxAmount` (Xero flags those).
fn assert_for_xero(
    items: &[LineItem],
    basis: LineAmountTypes,
    total: Decimal,
    tax: Option<Decimal>,
) {
    let mode = match basis {
        LineAmountTypes::Inclusive => TaxMode::Inclusive,
        _ => TaxMode::Exclusive,
    };
    let computed = mapping::xero_total(items, mode).expect("the lines add up without overflow");
    assert_eq!(
        computed, total,
        "Xero would book {computed}, not {total}: {items:#?}"
    );
    if let Some(tax) = tax {
        let lines: Decimal = items.iter().map(|i| i.tax_amount.amount()).sum();
        assert_eq!(
            lines, tax,
            "an invoice keeps the platform's tax: {items:#?}"
        );
    }
    if basis == LineAmountTypes::Inclusive {
        assert!(
            items.iter().all(|i| i.tax_amount.is_computed()),
            "a TaxAmount on a tax-inclusive document: {items:#?}"
        );
    }
}

fn assert_invoice(order: &Order, mapped: &MappedInvoice) {
    let invoice = &mapped.invoice;
    assert_eq!(mapped.total, mapping::round2(order.total), "invoice total");
    assert!(
        mapped.total >= Decimal::ZERO,
        "a negative invoice: {}",
        mapped.total
    );
    assert_eq!(
        mapped.total_tax,
        mapping::round2(order.total_tax),
        "the invoice's tax is not the platform's"
    );
    assert_lines(
        &invoice.line_items,
        order.tax_mode,
        mapped.total,
        mapped.total_tax,
        false,
    );
    assert_eq!(
        invoice.invoice_number,
        mapping::invoice_number(&MAPPING, &order.number)
    );
    assert_eq!(
        invoice.reference,
        mapping::invoice_reference(order.platform, &order.number)
    );
    assert_filter_safe(&invoice.invoice_number, "invoice number");
    assert_filter_safe(&invoice.reference, "invoice reference");
    assert_eq!(invoice.currency_code, order.currency.to_string());
    // The request body: serialises, and reads back as the same invoice.
    let body = serde_json::to_vec(invoice).expect("an invoice serialises");
    let back: Invoice = serde_json::from_slice(&body).expect("an invoice body reads back");
    assert_eq!(&back, invoice, "the invoice body does not read back");
}

fn assert_credit_note(refund: &Refund, mapped: &MappedCreditNote) {
    let note = &mapped.credit_note;
    assert_eq!(
        mapped.total,
        mapping::round2(refund.total),
        "credit note total"
    );
    assert!(
        mapped.total >= Decimal::ZERO,
        "a negative credit note: {}",
        mapped.total
    );
    assert_eq!(
        mapped.total_tax,
        mapping::round2(refund.total_tax),
        "the credit note's tax is not the platform's"
    );
    assert_lines(
        &note.line_items,
        refund.tax_mode,
        mapped.total,
        mapped.total_tax,
        true,
    );
    assert_eq!(
        note.credit_note_number,
        mapping::credit_note_number(&MAPPING, &refund.order_number, &refund.refund_id)
    );
    assert_eq!(
        note.reference,
        mapping::credit_note_reference(refund.platform, &refund.order_number, &refund.refund_id)
    );
    assert_filter_safe(&note.credit_note_number, "credit note number");
    assert_filter_safe(&note.reference, "credit note reference");
    assert_eq!(note.currency_code, refund.currency.to_string());
    let body = serde_json::to_vec(note).expect("a credit note serialises");
    let back: CreditNote = serde_json::from_slice(&body).expect("a credit note body reads back");
    assert_eq!(&back, note, "the credit note body does not read back");
}

/// Payments planned against a document, capped at `cap`.
fn assert_payments(planned: &[PlannedPayment], cap: Decimal) {
    let mut sum = Decimal::ZERO;
    for payment in planned {
        assert!(
            payment.amount > Decimal::ZERO,
            "a payment of nothing: {payment:?}"
        );
        assert!(
            in_cents(payment.amount),
            "a payment not in cents: {payment:?}"
        );
        assert!(
            payment.reference.len() <= mapping::XERO_TEXT_MAX,
            "a payment reference of {} bytes",
            payment.reference.len()
        );
        assert_no_control(&payment.reference, "payment reference");
        sum = sum
            .checked_add(payment.amount)
            .expect("planned payments add up without overflow");
    }
    assert!(
        sum <= cap,
        "payments of {sum} planned against a document of {cap}: {planned:#?}"
    );
}
