//! `inventory = "tracked"` (README "Inventory: tracked mode"): Xero's quantity of each item
//! follows the store's, each sale counted once whichever of the order and its stock event
//! arrives first, and what the sales do not explain posted as Xero inventory adjustments.
//!
//! The shop is WooCommerce, whose stock events (`product.updated`) carry the SKU and the level
//! themselves; the other platforms' completion of their stock events is tested in
//! `stock_platforms` and `stock_polling`.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::platform_api;
use xcs_tests::processor::{Rig, TestProcessor, WOO_SHOP, amount, publish, wait_handled};
use xcs_xero_sim::DEMO_NZ_TENANT_ID;

/// A stock event waits out the quiet time in the 10 s retry tier at least once.
const HANDLED: Duration = Duration::from_secs(60);

/// `rig`'s config with the WooCommerce shop tracked, its items quiet after 2 s.
fn tracked_config(rig: &Rig) -> String {
    let header = format!("[shops.{WOO_SHOP}]\n");
    let accounts = format!("[shops.{WOO_SHOP}.mapping.accounts]\n");
    let config = rig
        .config("")
        .replacen(&header, &format!("{header}inventory = \"tracked\"\n"), 1)
        .replacen(
            &accounts,
            &format!(
                "{accounts}inventory = \"630\"\ncost_of_goods_sold = \"310\"\n\
                 inventory_adjustments = \"310\"\n"
            ),
            1,
        );
    format!("{config}\n[shops.{WOO_SHOP}.stock]\nsettle_secs = 2\n")
}

/// The two SKUs order 4417 sells (2 × KETE-L, 1 × KOHA-FB), tracked in Xero with `on_hand`
/// each at 20.00 a unit.
fn stock_xero(rig: &Rig, on_hand: u32) {
    for code in ["KETE-L", "KOHA-FB"] {
        rig.sim
            .add_item(
                DEMO_NZ_TENANT_ID,
                &json!({
                    "Code": code,
                    "Name": code,
                    "IsSold": true,
                    "IsPurchased": true,
                    "SalesDetails": {"AccountCode": "200"},
                    "PurchaseDetails": {"COGSAccountCode": "310"},
                    "InventoryAssetAccountCode": "630",
                    "QuantityOnHand": on_hand,
                    "TotalCostPool": on_hand * 20,
                }),
            )
            .expect("a tracked item");
    }
}

/// WooCommerce order 4417 under `id`: 2 × KETE-L and 1 × KOHA-FB.
fn order(id: u64) -> Vec<u8> {
    let mut order = platform_api::fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    serde_json::to_vec(&order).unwrap()
}

/// A `product.updated` body: the product's SKU and the level WooCommerce has after its `n`th
/// change (its modification time, by which levels that arrive out of order are ordered).
fn level(product_id: u64, n: u32, sku: &str, quantity: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": product_id,
        "name": sku,
        "sku": sku,
        "manage_stock": true,
        "stock_quantity": quantity,
        "stock_status": "instock",
        "date_modified_gmt": format!("2026-11-27T09:{:02}:00", n % 60),
    }))
    .unwrap()
}

async fn send(rig: &Rig, kind: EventKind, topic: &str, event_id: &str, body: &[u8]) {
    publish(
        &rig.broker,
        Platform::WooCommerce,
        WOO_SHOP,
        kind,
        topic,
        event_id,
        body,
    )
    .await;
}

async fn send_order(rig: &Rig, id: u64) -> String {
    let event = format!("woocommerce:nz-woo:o-{id}");
    send(rig, EventKind::Order, "order.created", &event, &order(id)).await;
    event
}

async fn send_level(rig: &Rig, n: u32, sku: &str, quantity: i64) -> String {
    let event = format!("woocommerce:nz-woo:s-{n}");
    let product = if sku == "KETE-L" { 81 } else { 82 };
    send(
        rig,
        EventKind::Inventory,
        "product.updated",
        &event,
        &level(product, n, sku, quantity),
    )
    .await;
    event
}

async fn handled(rig: &Rig, event_id: &str) -> (String, String) {
    wait_handled(&rig.schema, event_id, HANDLED).await
}

/// Xero's quantity on hand of `code`.
fn on_hand(rig: &Rig, code: &str) -> Decimal {
    let item = rig
        .sim
        .items(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["Code"] == code)
        .unwrap_or_else(|| panic!("no item {code}"));
    assert_eq!(item["IsTrackedAsInventory"], true, "{item:#?}");
    amount(&item["QuantityAvailable"])
}

/// The stock adjustments in Xero: bills and supplier credits to the adjustments contact.
fn adjustments(rig: &Rig) -> Vec<Value> {
    let bills = rig
        .sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["Type"] == "ACCPAY");
    let credits = rig
        .sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["Type"] == "ACCPAYCREDIT");
    bills.chain(credits).collect()
}

/// An adjustment's (type, item code, quantity, unit amount), and that it sums to zero.
fn adjustment_line(document: &Value) -> (String, String, Decimal, Decimal) {
    assert_eq!(amount(&document["Total"]), Decimal::ZERO, "{document:#?}");
    // Approved; Xero shows a document with nothing to pay as paid.
    assert!(
        ["AUTHORISED", "PAID"].contains(&document["Status"].as_str().unwrap_or_default()),
        "{document:#?}"
    );
    assert_eq!(document["Contact"]["Name"], "Inventory Adjustments");
    let lines = document["LineItems"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{document:#?}");
    assert_eq!(lines[0]["AccountCode"], "630");
    assert_eq!(lines[1]["AccountCode"], "310");
    assert!(lines[1]["ItemCode"].is_null());
    (
        document["Type"].as_str().unwrap_or_default().to_owned(),
        lines[0]["ItemCode"].as_str().unwrap_or_default().to_owned(),
        amount(&lines[0]["Quantity"]),
        amount(&lines[0]["UnitAmount"]),
    )
}

async fn booked(rig: &Rig, event_id: &str) {
    let (outcome, detail) = handled(rig, event_id).await;
    assert_eq!(outcome, "booked", "{event_id}: {detail}");
}

#[tokio::test]
async fn a_stock_event_that_arrives_before_its_order_does_not_count_the_sale_again() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    // The store sold 2 kete: its stock webhook comes first, the order a moment later.
    let stock = send_level(&rig, 1, "KETE-L", 8).await;
    let order = send_order(&rig, 5001).await;
    booked(&rig, &order).await;
    let (outcome, detail) = handled(&rig, &stock).await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(detail.contains("nothing to adjust"), "{detail}");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(8));
    assert!(adjustments(&rig).is_empty(), "{:#?}", adjustments(&rig));
    processor.stop().await;
}

#[tokio::test]
async fn a_stock_event_after_its_order_or_with_it_finds_the_sale_booked_or_in_flight() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    // After: the order is booked before its stock event is read.
    let order = send_order(&rig, 5101).await;
    booked(&rig, &order).await;
    let after = send_level(&rig, 1, "KETE-L", 8).await;
    assert_eq!(handled(&rig, &after).await.0, "skipped");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(8));
    // With: both at once.
    let (order, with) = tokio::join!(send_order(&rig, 5102), send_level(&rig, 2, "KETE-L", 6));
    booked(&rig, &order).await;
    let (outcome, detail) = handled(&rig, &with).await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(6));
    assert!(adjustments(&rig).is_empty(), "{:#?}", adjustments(&rig));
    processor.stop().await;
}

#[tokio::test]
async fn concurrent_orders_of_one_sku_and_their_stock_events_leave_xero_at_the_stores_level() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    // Four orders of 2 kete each at once, each with its stock webhook: 8, 6, 4, 2.
    let sends = (0..4u32).map(|i| {
        let rig = &rig;
        async move {
            let level = 8 - 2 * i64::from(i);
            let (order, stock) = tokio::join!(
                send_order(rig, 5201 + u64::from(i)),
                send_level(rig, i + 1, "KETE-L", level)
            );
            (order, stock)
        }
    });
    let events = futures_util::future::join_all(sends).await;
    for (order, stock) in &events {
        booked(&rig, order).await;
        let (outcome, detail) = handled(&rig, stock).await;
        assert_eq!(outcome, "skipped", "{stock}: {detail}");
    }
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(2));
    assert_eq!(on_hand(&rig, "KOHA-FB"), Decimal::from(6));
    assert!(adjustments(&rig).is_empty(), "{:#?}", adjustments(&rig));
    processor.stop().await;
}

#[tokio::test]
async fn a_restock_between_two_sales_is_posted_once_as_a_zero_total_bill_at_xeros_average_cost() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let first = send_order(&rig, 5301).await;
    let sold = send_level(&rig, 1, "KETE-L", 8).await;
    booked(&rig, &first).await;
    // Five kete delivered, then two more sold, the webhooks close together.
    let delivered = send_level(&rig, 2, "KETE-L", 13).await;
    let second = send_order(&rig, 5302).await;
    let sold_again = send_level(&rig, 3, "KETE-L", 11).await;
    booked(&rig, &second).await;
    for event in [&sold, &delivered] {
        let (outcome, detail) = handled(&rig, event).await;
        assert_eq!(outcome, "skipped", "{event}: {detail}");
    }
    let (outcome, detail) = handled(&rig, &sold_again).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert!(detail.contains("adjusted by +5"), "{detail}");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(11));
    let posted = adjustments(&rig);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert_eq!(
        adjustment_line(&posted[0]),
        (
            "ACCPAY".to_owned(),
            "KETE-L".to_owned(),
            Decimal::from(5),
            Decimal::from(20)
        )
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_stocktake_that_finds_fewer_posts_a_supplier_credit_at_average_cost() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let counted = send_level(&rig, 1, "KOHA-FB", 7).await;
    booked(&rig, &counted).await;
    assert_eq!(on_hand(&rig, "KOHA-FB"), Decimal::from(7));
    let posted = adjustments(&rig);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    assert_eq!(
        adjustment_line(&posted[0]),
        (
            "ACCPAYCREDIT".to_owned(),
            "KOHA-FB".to_owned(),
            Decimal::from(3),
            Decimal::from(20)
        )
    );
    // The same level again (a redelivery, a product saved without a stock change): nothing
    // more to post.
    let again = send_level(&rig, 2, "KOHA-FB", 7).await;
    assert_eq!(handled(&rig, &again).await.0, "skipped");
    assert_eq!(adjustments(&rig).len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn a_sale_xero_has_no_stock_for_waits_for_the_items_stock_event_and_then_books() {
    let rig = Rig::new().await;
    // A shop newly tracked: Xero has nothing on hand of either item, the store has plenty.
    stock_xero(&rig, 0);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let order = send_order(&rig, 5401).await;
    let kete = send_level(&rig, 1, "KETE-L", 4).await;
    let koha = send_level(&rig, 2, "KOHA-FB", 9).await;
    booked(&rig, &kete).await;
    booked(&rig, &koha).await;
    // Refused before the comparisons, the sale is retried from the retry tiers (10 s, then a
    // minute).
    let (outcome, detail) = wait_handled(&rig.schema, &order, Duration::from_secs(150)).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(4));
    assert_eq!(on_hand(&rig, "KOHA-FB"), Decimal::from(9));
    // Raised to the store's level plus the sale in flight: 4 + 2 and 9 + 1.
    let mut raised: Vec<(String, Decimal)> = adjustments(&rig)
        .iter()
        .map(|a| {
            let (kind, code, quantity, _) = adjustment_line(a);
            assert_eq!(kind, "ACCPAY");
            (code, quantity)
        })
        .collect();
    raised.sort();
    assert_eq!(
        raised,
        [
            ("KETE-L".to_owned(), Decimal::from(6)),
            ("KOHA-FB".to_owned(), Decimal::from(10))
        ]
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_sku_first_seen_in_a_stock_event_becomes_a_tracked_item_with_the_stores_level() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let event = send_level(&rig, 1, "KETE-L", 12).await;
    booked(&rig, &event).await;
    let item = rig
        .sim
        .items(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["Code"] == "KETE-L")
        .expect("the item was made");
    assert_eq!(item["InventoryAssetAccountCode"], "630", "{item:#?}");
    assert_eq!(item["PurchaseDetails"]["COGSAccountCode"], "310");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(12));
    processor.stop().await;
}
