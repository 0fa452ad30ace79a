//! Fixture loading and to-the-cent assertions shared by the platform tests.

use rust_decimal::Decimal;
use serde_json::Value;
use xcs_shared::domain::{Line, LineKind, Normalised, Order, Refund, TaxMode};

/// A fixture under `tests/fixtures/normalise/`.
pub(crate) fn fixture(path: &str) -> Vec<u8> {
    let full = format!(
        "{}/../tests/fixtures/normalise/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"))
}

/// A fixture as JSON, for tests that derive a variant of it.
pub(crate) fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).expect("fixtures are JSON")
}

/// A platform API fixture under `tests/fixtures/platform_api/`, as JSON.
pub(crate) fn api_fixture_json(path: &str) -> Value {
    let full = format!(
        "{}/../tests/fixtures/platform_api/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("fixture {full}: {e}"));
    serde_json::from_str(&text).expect("fixtures are JSON")
}

/// A fixture with one edit applied, serialised again.
pub(crate) fn edited(path: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut value = fixture_json(path);
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

pub(crate) fn d(text: &str) -> Decimal {
    text.parse()
        .unwrap_or_else(|e| panic!("test decimal {text:?}: {e}"))
}

/// Asserts a line field by field, naming the line in every failure.
#[track_caller]
pub(crate) fn assert_line(
    line: &Line,
    kind: LineKind,
    sku: Option<&str>,
    (quantity, unit_price, discount): (&str, &str, &str),
    tax: &str,
) {
    let name = &line.description;
    assert_eq!(line.kind, kind, "{name}: kind");
    assert_eq!(line.sku.as_deref(), sku, "{name}: sku");
    assert_eq!(line.quantity, d(quantity), "{name}: quantity");
    assert_eq!(line.unit_price, d(unit_price), "{name}: unit price");
    assert_eq!(line.discount, d(discount), "{name}: discount");
    assert_eq!(line.tax, d(tax), "{name}: tax");
}

/// Asserts a document's lines add up to its total the way the mapping books them, to the cent.
#[track_caller]
pub(crate) fn assert_adds_up(lines: &[Line], tax_mode: TaxMode, total: Decimal) {
    assert_eq!(super::lines_total(lines, tax_mode), total, "to the cent");
}

/// The order and refunds of a document that carries both (eBay orders, Etsy receipts).
#[track_caller]
pub(crate) fn order_and_refunds(normalised: Normalised) -> (Order, Vec<Refund>) {
    match normalised {
        Normalised::Refunds {
            order: Some(order),
            refunds,
        } => (order, refunds),
        other => panic!("expected an order with refunds, got {other:?}"),
    }
}

/// A mapping with every account and the tax rates the fixtures use, for tests that follow a
/// document into Xero's lines.
pub(crate) fn mapping() -> crate::mapping::ShopMapping {
    toml::from_str(
        r#"
        document_prefix = ""
        [accounts]
        sales = "200"
        shipping = "205"
        discounts = "210"
        gift_cards = "825"
        fees = "260"
        rounding = "860"
        clearing = "615"
        [tax]
        by_rate = { "7.5" = "TAX001", "19" = "OUTPUT19", "20" = "OUTPUT2", "10" = "GST" }
        untaxed = "NONE"
        "#,
    )
    .expect("the test mapping is valid")
}

/// Asserts the credit note Xero gets for `refund` returns exactly the tax the platform says
/// it refunded, and that no untaxed line stands in for a tax gap.
#[track_caller]
pub(crate) fn assert_credit_returns_stated_tax(refund: &Refund, stated: &str) {
    let mapping = mapping();
    let contact = crate::xero::types::ContactRef {
        contact_id: "00000000-0000-0000-0000-000000000000".to_owned(),
    };
    let mapped = mapping
        .credit_note(refund, contact)
        .expect("the refund maps");
    assert_eq!(
        mapped.total_tax,
        d(stated),
        "the tax returned is the platform's"
    );
    let lines = &mapped.credit_note.line_items;
    let untaxed_fix = lines.iter().find(|line| {
        line.tax_amount.amount().is_zero()
            && (line.account_code == "860" || line.description.contains("Rounding"))
    });
    assert!(
        untaxed_fix.is_none(),
        "no untaxed line takes the tax gap: {lines:#?}"
    );
    assert_eq!(
        mapped.total, refund.total,
        "the credit note keeps the refund's total"
    );
}
