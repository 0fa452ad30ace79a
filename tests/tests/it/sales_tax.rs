//! Sales tax booked as separate lines (`[shops.NAME.mapping.tax] mode = "sales_tax_lines"`),
//! end to end: a Shopify order taxed by three authorities (state, county, city) and its
//! refund, through RabbitMQ, the processor and the Xero simulator, read back as Xero holds
//! them. The lines are untaxed at their amounts before tax; each jurisdiction's tax is a line
//! on its liability account; totals are the platform's to the cent.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{TestProcessor, one_invoice, publish, test_config, wait_handled};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(30);
const SHOP: &str = "nz-sales-tax";

/// The shop: every jurisdiction's tax to the one liability the demo chart lets invoice lines
/// use (825; 800 and 820 are Xero system accounts, which Xero refuses on a line), the state's
/// named explicitly.
fn shop() -> String {
    format!(
        r#"
[shops.{SHOP}]
platform = "shopify"
tenant = "{DEMO_NZ_TENANT_ID}"
contacts = {{ strategy = "generic", name = "Shopify Sales" }}
[shops.{SHOP}.mapping]
document_prefix = "ST-"
[shops.{SHOP}.mapping.accounts]
sales = "200"
shipping = "205"
discounts = "210"
gift_cards = "825"
fees = "260"
rounding = "860"
clearing = "615"
[shops.{SHOP}.mapping.tax]
mode = "sales_tax_lines"
untaxed = "NONE"
no_tax = "NONE"
liability = "825"
by_jurisdiction = {{ "CA State Tax" = "825" }}
"#
    )
}

fn taxes(state: &str, county: &str, city: &str) -> Value {
    json!([
        {"title": "CA State Tax", "rate": 0.06, "price": state},
        {"title": "Los Angeles County Tax", "rate": 0.0025, "price": county},
        {"title": "Los Angeles City Tax", "rate": 0.025, "price": city}
    ])
}

/// A 100.00 item and 10.00 shipping, each taxed by state (6%), county (0.25%) and city
/// (2.5%): 9.63 of tax, 119.63 in all.
fn order() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": 7301, "name": "#1301", "order_number": 1301,
        "email": "dana@example.com",
        "created_at": "2026-11-20T10:00:00-08:00", "processed_at": "2026-11-20T10:00:00-08:00",
        "updated_at": "2026-11-20T10:00:00-08:00",
        "currency": "NZD", "presentment_currency": "NZD",
        "financial_status": "paid", "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"], "taxes_included": false,
        "total_line_items_price": "100.00", "total_discounts": "0.00",
        "subtotal_price": "100.00", "total_tax": "9.63", "total_price": "119.63",
        "customer": {"id": 9, "email": "dana@example.com", "first_name": "Dana", "last_name": "Lee"},
        "line_items": [{
            "id": 73011, "title": "Desk lamp", "sku": "LAMP-1", "quantity": 1,
            "price": "100.00", "total_discount": "0.00", "taxable": true,
            "tax_lines": taxes("6.00", "0.25", "2.50")
        }],
        "shipping_lines": [{
            "title": "Ground", "price": "10.00", "discounted_price": "10.00",
            "tax_lines": taxes("0.60", "0.03", "0.25")
        }],
        "tax_lines": taxes("6.60", "0.28", "2.75"),
        "refunds": []
    }))
    .unwrap()
}

/// The lamp back: 100.00 and its 8.75 of tax, returned through Shopify Payments.
fn refund() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": 8301, "order_id": 7301,
        "created_at": "2026-11-22T09:00:00-08:00", "processed_at": "2026-11-22T09:00:00-08:00",
        "note": "Returned",
        "refund_line_items": [{
            "id": 1, "line_item_id": 73011, "quantity": 1,
            "subtotal": "100.00", "total_tax": "8.75",
            "line_item": {"sku": "LAMP-1", "title": "Desk lamp", "price": "100.00",
                          "tax_lines": taxes("6.00", "0.25", "2.50")}
        }],
        "transactions": [{
            "id": 8301, "kind": "refund", "status": "success", "amount": "108.75",
            "currency": "NZD", "gateway": "shopify_payments",
            "created_at": "2026-11-22T09:00:00-08:00", "processed_at": "2026-11-22T09:00:00-08:00"
        }],
        "order_adjustments": []
    }))
    .unwrap()
}

fn dec(value: &Value) -> Decimal {
    value.to_string().trim_matches('"').parse().unwrap()
}

/// Each line as (description, account, tax type, line amount, tax amount).
fn lines(document: &Value) -> Vec<(String, String, String, Decimal, Decimal)> {
    document["LineItems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| {
            (
                line["Description"].as_str().unwrap_or_default().to_owned(),
                line["AccountCode"].as_str().unwrap_or_default().to_owned(),
                line["TaxType"].as_str().unwrap_or_default().to_owned(),
                dec(&line["LineAmount"]),
                dec(&line["TaxAmount"]),
            )
        })
        .collect()
}

fn tax_lines(document: &Value) -> Vec<(String, String, Decimal)> {
    let mut found: Vec<_> = lines(document)
        .into_iter()
        .filter(|(description, ..)| description.starts_with("Sales tax"))
        .map(|(description, account, _, amount, _)| (description, account, amount))
        .collect();
    found.sort();
    found
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_three_jurisdiction_order_and_its_refund_book_each_authoritys_tax_on_its_account() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor = TestProcessor::start(&test_config(&broker, &schema, &sim, &shop())).await;

    let order_event = format!("shopify:{SHOP}:o-1301");
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        &order_event,
        &order(),
    )
    .await;
    let (outcome, detail) = wait_handled(&schema, &order_event, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");

    let invoice = one_invoice(&sim, "ST-1301");
    assert_eq!(dec(&invoice["Total"]), d("119.63"));
    assert_eq!(
        dec(&invoice["TotalTax"]),
        Decimal::ZERO,
        "no Xero tax: it is on its own lines"
    );
    for (description, _, tax_type, amount, tax) in lines(&invoice) {
        assert_eq!(tax_type, "NONE", "{description}");
        assert_eq!(tax, Decimal::ZERO, "{description}");
        if description.starts_with("Desk lamp") {
            assert_eq!(amount, d("100.00"));
        }
    }
    assert_eq!(
        tax_lines(&invoice),
        [
            (
                "Sales tax: CA State Tax".to_owned(),
                "825".to_owned(),
                d("6.60")
            ),
            (
                "Sales tax: Los Angeles City Tax".to_owned(),
                "825".to_owned(),
                d("2.75")
            ),
            (
                "Sales tax: Los Angeles County Tax".to_owned(),
                "825".to_owned(),
                d("0.28")
            ),
        ]
    );

    let refund_event = format!("shopify:{SHOP}:r-8301");
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Refund,
        "refunds/create",
        &refund_event,
        &refund(),
    )
    .await;
    let (outcome, detail) = wait_handled(&schema, &refund_event, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let note = sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|c| c["CreditNoteNumber"] == "ST-1301/R8301")
        .expect("the credit note");
    assert_eq!(dec(&note["Total"]), d("108.75"));
    assert_eq!(
        tax_lines(&note),
        [
            (
                "Sales tax: CA State Tax".to_owned(),
                "825".to_owned(),
                d("6.00")
            ),
            (
                "Sales tax: Los Angeles City Tax".to_owned(),
                "825".to_owned(),
                d("2.50")
            ),
            (
                "Sales tax: Los Angeles County Tax".to_owned(),
                "825".to_owned(),
                d("0.25")
            ),
        ]
    );
    assert_eq!(
        broker.depth(xcs_shared::topology::DEAD_QUEUE).await,
        0,
        "nothing dead-lettered"
    );
    processor.stop().await;
}
