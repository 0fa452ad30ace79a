//! Tax amounts, end to end against the simulator's strict and lenient readings: a tax-inclusive
//! Shopify shop's orders and refunds through RabbitMQ and the processor, read back as Xero
//! holds them, with the simulator's view of which documents carry overridden tax and which
//! Xero would flag for a manual tax adjustment (`RunningSim::tax_review`).
//!
//! - An order whose tax Xero computes line by line as the platform did is booked tax-inclusive
//!   with no `TaxAmount` at all.
//! - An order whose platform taxed each unit (3 × 19.99 inclusive of 15%: 3 × 2.61 = 7.83;
//!   Xero's per-line tax on 59.97 is 7.82) is booked tax-exclusive (3 × 17.38), the one line's
//!   7.83 given, never an inclusive invoice with an override (which Xero flags). Its refund's
//!   credit note, on which Xero (strictly read) takes no override, has Xero's 7.82 and a
//!   rounding line of 0.01. Totals are the platform's to the cent throughout.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::EventKind;
use xcs_tests::processor::{
    Rig, SHOP, TestProcessor, XeroLine, amount, credit_notes_numbered, one_invoice, payment_lines,
    wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, Readings, RunningSim};

const HANDLED: Duration = Duration::from_secs(30);

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn gst(price: &str) -> Value {
    json!([{"title": "GST", "rate": 0.15, "price": price}])
}

/// A paid NZ order, prices inclusive of 15% GST: `quantity` × `unit` of a candle (its tax
/// `candle_tax`, as the platform computed it) and 11.50 courier (1.50 GST).
fn order(id: u64, quantity: u32, unit: &str, candle_tax: &str) -> Vec<u8> {
    let candles = Decimal::from(quantity) * d(unit);
    let total = candles + d("11.50");
    let tax = d(candle_tax) + d("1.50");
    serde_json::to_vec(&json!({
        "id": id, "name": format!("#{id}"), "order_number": id,
        "email": "aroha@example.co.nz",
        "created_at": "2026-11-20T10:00:00+13:00", "processed_at": "2026-11-20T10:00:00+13:00",
        "updated_at": "2026-11-20T10:00:00+13:00",
        "currency": "NZD", "presentment_currency": "NZD",
        "financial_status": "paid", "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"], "taxes_included": true,
        "total_line_items_price": candles.to_string(), "total_discounts": "0.00",
        "subtotal_price": candles.to_string(), "total_tax": tax.to_string(),
        "total_price": total.to_string(),
        "customer": {"id": 41, "email": "aroha@example.co.nz", "first_name": "Aroha",
                     "last_name": "Ngata"},
        "line_items": [{
            "id": id * 10 + 1, "title": "Beeswax candle", "sku": "CANDLE-1",
            "quantity": quantity, "price": unit, "total_discount": "0.00", "taxable": true,
            "tax_lines": gst(candle_tax)
        }],
        "shipping_lines": [{
            "title": "NZ Post Courier", "price": "11.50", "discounted_price": "11.50",
            "tax_lines": gst("1.50")
        }],
        "tax_lines": gst(&tax.to_string()),
        "refunds": []
    }))
    .unwrap()
}

/// Every candle of order `id` back: `subtotal` inclusive of `tax`, returned to the card.
fn refund(id: u64, quantity: u32, unit: &str, subtotal: &str, tax: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id + 5000, "order_id": id,
        "created_at": "2026-11-22T09:00:00+13:00", "processed_at": "2026-11-22T09:00:00+13:00",
        "note": "Returned",
        "refund_line_items": [{
            "id": 1, "line_item_id": id * 10 + 1, "quantity": quantity,
            "subtotal": subtotal, "total_tax": tax,
            "line_item": {"sku": "CANDLE-1", "title": "Beeswax candle", "price": unit,
                          "quantity": quantity, "tax_lines": gst(tax)}
        }],
        "transactions": [{
            "id": id + 5000, "kind": "refund", "status": "success", "amount": subtotal,
            "currency": "NZD", "gateway": "shopify_payments",
            "created_at": "2026-11-22T09:00:00+13:00", "processed_at": "2026-11-22T09:00:00+13:00"
        }],
        "order_adjustments": []
    }))
    .unwrap()
}

/// The simulator's tax review of the document numbered `number`.
fn review(sim: &RunningSim, number: &str) -> Value {
    sim.tax_review(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|d| d["Number"] == number)
        .unwrap_or_else(|| panic!("no document {number} in the tax review"))
}

/// The `TaxAmount`s the processor sent on the lines of its document writes to `path`.
fn sent_tax_amounts(sim: &RunningSim, path: &str) -> Vec<Value> {
    sim.journal()
        .into_iter()
        .filter(|e| e.method == "PUT" && e.path.eq_ignore_ascii_case(path))
        .flat_map(|e| {
            let documents = e.body[path.trim_start_matches("/api.xro/2.0/")].clone();
            documents.as_array().cloned().unwrap_or_default()
        })
        .flat_map(|doc| doc["LineItems"].as_array().cloned().unwrap_or_default())
        .filter_map(|line| line.get("TaxAmount").cloned())
        .collect()
}

struct Stack {
    rig: Rig,
    processor: TestProcessor,
}

async fn start(readings: Readings) -> Stack {
    let rig = Rig::new().await;
    rig.sim.set_readings(readings);
    let processor = TestProcessor::start(&rig.config("")).await;
    Stack { rig, processor }
}

impl Stack {
    async fn book(&self, kind: EventKind, topic: &str, event_id: &str, body: &[u8]) {
        self.rig.publish(kind, topic, event_id, body).await;
        let (outcome, detail) = wait_handled(&self.rig.schema, event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }

    /// Books [`order`] `id` (event `o-{id}`) and returns its invoice.
    async fn book_order(&self, id: u64, quantity: u32, unit: &str, candle_tax: &str) -> Value {
        self.book(
            EventKind::Order,
            "orders/paid",
            &format!("shopify:{SHOP}:o-{id}"),
            &order(id, quantity, unit, candle_tax),
        )
        .await;
        one_invoice(&self.rig.sim, &format!("SH-{id}"))
    }

    async fn stop(self) {
        assert_eq!(
            self.rig
                .broker
                .depth(xcs_shared::topology::DEAD_QUEUE)
                .await,
            0,
            "nothing dead-lettered"
        );
        self.processor.stop().await;
    }
}

async fn an_inclusive_order_xero_taxes_as_the_platform_did_books_inclusive_with_no_tax_given(
    readings: Readings,
) {
    let stack = start(readings).await;
    // 2 × 24.15 inclusive: 48.30 carries 6.30 GST exactly, as Shopify says.
    let invoice = stack.book_order(1401, 2, "24.15", "6.30").await;
    assert_eq!(invoice["LineAmountTypes"], "Inclusive", "{invoice:#}");
    assert_eq!(amount(&invoice["Total"]), d("59.80"));
    assert_eq!(amount(&invoice["TotalTax"]), d("7.80"));
    assert_eq!(
        XeroLine::of(&invoice),
        [
            XeroLine::new(
                "Beeswax candle",
                "2 x 24.15 = 48.30",
                "200",
                "OUTPUT2",
                "6.30"
            ),
            XeroLine::nz_post_courier(),
        ]
    );
    assert_eq!(
        sent_tax_amounts(&stack.rig.sim, "/api.xro/2.0/Invoices"),
        Vec::<Value>::new(),
        "Xero computes every line's tax itself"
    );
    let reviewed = review(&stack.rig.sim, "SH-1401");
    assert_eq!(reviewed["TaxAdjustments"], json!([]), "{reviewed:#}");
    assert_eq!(reviewed["FlaggedForTaxAdjustment"], false);
    assert_eq!(
        payment_lines(&stack.rig.sim, &invoice),
        [("615".to_owned(), d("59.80"))]
    );
    stack.stop().await;
}

async fn per_unit_tax_books_exclusive_and_its_refund_takes_xeros_tax_with_a_rounding_line(
    readings: Readings,
) {
    let stack = start(readings).await;
    // Shopify taxed each 19.99 candle (2.6074 → 2.61) and multiplied: 7.83. Xero taxes the
    // line: 59.97 carries 7.8222 → 7.82.
    let invoice = stack.book_order(1402, 3, "19.99", "7.83").await;
    assert_eq!(invoice["LineAmountTypes"], "Exclusive", "{invoice:#}");
    assert_eq!(amount(&invoice["Total"]), d("71.47"));
    assert_eq!(
        amount(&invoice["TotalTax"]),
        d("9.33"),
        "the platform's tax"
    );
    assert_eq!(
        XeroLine::of(&invoice),
        [
            XeroLine::new(
                "Beeswax candle (3 × 19.99, less 7.83 tax)",
                "3 x 17.38 = 52.14",
                "200",
                "OUTPUT2",
                "7.83"
            ),
            XeroLine::new(
                "NZ Post Courier (1 × 11.5, less 1.50 tax)",
                "1 x 10.00 = 10.00",
                "205",
                "OUTPUT2",
                "1.50"
            ),
        ]
    );
    // Only the candle's tax is given (52.14 × 15% would be 7.82): an adjustment on an
    // exclusive invoice, which Xero takes without a flag.
    assert_eq!(
        sent_tax_amounts(&stack.rig.sim, "/api.xro/2.0/Invoices")
            .iter()
            .map(amount)
            .collect::<Vec<_>>(),
        [d("7.83")]
    );
    let reviewed = review(&stack.rig.sim, "SH-1402");
    assert_eq!(reviewed["AdjustedTax"], 0.01, "{reviewed:#}");
    assert_eq!(reviewed["FlaggedForTaxAdjustment"], false);
    assert_eq!(
        payment_lines(&stack.rig.sim, &invoice),
        [("615".to_owned(), d("71.47"))]
    );

    // All three back: 59.97 with 7.83 of tax. No TaxAmount on a credit note: Xero's 7.82,
    // and 0.01 to the rounding account keeps the platform's total.
    stack
        .book(
            EventKind::Refund,
            "refunds/create",
            "shopify:nz-shopify:r-6402",
            &refund(1402, 3, "19.99", "59.97", "7.83"),
        )
        .await;
    let notes = credit_notes_numbered(&stack.rig.sim, "SH-1402/R6402");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let note = &notes[0];
    assert_eq!(amount(&note["Total"]), d("59.97"), "{note:#}");
    assert_eq!(amount(&note["TotalTax"]), d("7.82"));
    assert_eq!(note["LineAmountTypes"], "Exclusive");
    assert_eq!(
        XeroLine::of(note),
        [
            XeroLine::new(
                "Beeswax candle (3 × 19.99, less 7.83 tax)",
                "3 x 17.38 = 52.14",
                "200",
                "OUTPUT2",
                "7.82"
            ),
            XeroLine::new(
                "Rounding adjustment: Xero's per-line tax differs from the platform's",
                "1 x 0.01 = 0.01",
                "860",
                "NONE",
                "0.00"
            ),
        ]
    );
    assert_eq!(
        sent_tax_amounts(&stack.rig.sim, "/api.xro/2.0/CreditNotes"),
        Vec::<Value>::new()
    );
    let reviewed = review(&stack.rig.sim, "SH-1402/R6402");
    assert_eq!(reviewed["TaxAdjustments"], json!([]), "{reviewed:#}");
    assert_eq!(reviewed["FlaggedForTaxAdjustment"], false);
    assert_eq!(
        payment_lines(&stack.rig.sim, note),
        [("615".to_owned(), d("59.97"))]
    );
    stack.stop().await;
}

#[tokio::test]
async fn an_inclusive_order_xero_taxes_alike_books_inclusive_with_no_tax_given_strict() {
    an_inclusive_order_xero_taxes_as_the_platform_did_books_inclusive_with_no_tax_given(
        Readings::default(),
    )
    .await;
}

#[tokio::test]
async fn an_inclusive_order_xero_taxes_alike_books_inclusive_with_no_tax_given_lenient() {
    an_inclusive_order_xero_taxes_as_the_platform_did_books_inclusive_with_no_tax_given(
        Readings::lenient(),
    )
    .await;
}

#[tokio::test]
async fn per_unit_platform_tax_books_exclusive_and_its_refund_rounds_strict() {
    per_unit_tax_books_exclusive_and_its_refund_takes_xeros_tax_with_a_rounding_line(
        Readings::default(),
    )
    .await;
}

#[tokio::test]
async fn per_unit_platform_tax_books_exclusive_and_its_refund_rounds_lenient() {
    per_unit_tax_books_exclusive_and_its_refund_takes_xeros_tax_with_a_rounding_line(
        Readings::lenient(),
    )
    .await;
}
