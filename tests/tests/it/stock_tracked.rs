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
use xcs_tests::processor::{Rig, TestProcessor, WOO_SHOP, wait_handled};
use xcs_tests::stock::{
    self, adjustment_line, send_woo, send_woo_level, send_woo_order, woo_level, woo_order,
};
use xcs_xero_sim::DEMO_NZ_TENANT_ID;

/// A stock event waits out the quiet time in the 10 s retry tier at least once.
const HANDLED: Duration = Duration::from_secs(60);

/// `rig`'s config with the WooCommerce shop tracked, its items quiet after 2 s.
fn tracked_config(rig: &Rig) -> String {
    stock::tracked(&rig.config(""), WOO_SHOP, 2)
}

/// The two SKUs order 4417 sells (2 × KETE-L, 1 × KOHA-FB), tracked in Xero with `on_hand`
/// each at 20.00 a unit.
fn stock_xero(rig: &Rig, on_hand: u32) {
    for code in ["KETE-L", "KOHA-FB"] {
        stock::add_tracked_item(&rig.sim, code, code, on_hand, 20);
    }
}

/// The store's level of `sku` (KETE-L is product 81, KOHA-FB 82) after its `n`th change.
async fn send_level(rig: &Rig, n: u32, sku: &str, quantity: i64) -> String {
    let product = if sku == "KETE-L" { 81 } else { 82 };
    send_woo_level(rig, n, product, sku, quantity).await
}

async fn handled(rig: &Rig, event_id: &str) -> (String, String) {
    wait_handled(&rig.schema, event_id, HANDLED).await
}

/// Xero's quantity on hand of `code`.
fn on_hand(rig: &Rig, code: &str) -> Decimal {
    stock::on_hand(&rig.sim, code)
}

/// The stock adjustments in Xero: bills and supplier credits to the adjustments contact.
fn adjustments(rig: &Rig) -> Vec<Value> {
    stock::adjustments(&rig.sim)
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
    let order = send_woo_order(&rig, 5001).await;
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
    let order = send_woo_order(&rig, 5101).await;
    booked(&rig, &order).await;
    let after = send_level(&rig, 1, "KETE-L", 8).await;
    assert_eq!(handled(&rig, &after).await.0, "skipped");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(8));
    // With: both at once.
    let (order, with) = tokio::join!(send_woo_order(&rig, 5102), send_level(&rig, 2, "KETE-L", 6));
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
                send_woo_order(rig, 5201 + u64::from(i)),
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
    let first = send_woo_order(&rig, 5301).await;
    let sold = send_level(&rig, 1, "KETE-L", 8).await;
    booked(&rig, &first).await;
    // Five kete delivered, then two more sold, the webhooks close together.
    let delivered = send_level(&rig, 2, "KETE-L", 13).await;
    let second = send_woo_order(&rig, 5302).await;
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
    // Both waited in a retry tier for the item to be quiet, and came back: none is retrying.
    let (_, metrics) = processor.get("/metrics").await;
    let retrying: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("xcs_processor_retrying{"))
        .collect();
    assert!(
        !retrying.is_empty() && retrying.iter().all(|l| l.ends_with(" 0")),
        "{retrying:?}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_sale_xero_has_no_stock_for_waits_for_the_items_stock_event_and_then_books() {
    let rig = Rig::new().await;
    // A shop newly tracked: Xero has nothing on hand of either item, the store has plenty.
    stock_xero(&rig, 0);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let order = send_woo_order(&rig, 5401).await;
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

/// Shopify, tracked, on the fake Admin API: `MUG-KAURI` is inventory item 808950810 at one
/// location, costing 8.25.
mod shopify {
    use super::*;
    use xcs_tests::platform_api::{
        FakePlatformApi, shopify_inventory_item_path, shopify_inventory_levels_path,
    };
    use xcs_tests::processor::{SHOP, credit_notes_numbered};

    const ITEM: u64 = 808_950_810;
    const LOCATION: u64 = 905_684_977;

    async fn fake() -> FakePlatformApi {
        let fake = FakePlatformApi::start(Platform::Shopify).await;
        fake.put(
            &shopify_inventory_item_path(ITEM),
            json!({"inventory_item": {"id": ITEM, "sku": "MUG-KAURI", "cost": "8.25",
                   "tracked": true}}),
        );
        fake.put(
            &shopify_inventory_levels_path(),
            json!({"inventory_levels": [{"inventory_item_id": ITEM, "location_id": LOCATION,
                   "available": 10, "updated_at": "2026-11-27T08:00:00+13:00"}]}),
        );
        fake
    }

    fn config(rig: &Rig, fake: &FakePlatformApi) -> String {
        let mapping = format!("[shops.{SHOP}.mapping]\n");
        let config = rig.config("").replacen(
            &mapping,
            &format!("api = {}\n{mapping}", fake.api_toml()),
            1,
        );
        stock::tracked(&config, SHOP, 2)
    }

    /// A paid order of two Kauri mugs (25.00 each, 5.00 off, GST) and shipping.
    fn mug_order(id: u64) -> Vec<u8> {
        let gst = |price: &str| json!([{"title": "GST", "rate": 0.15, "price": price}]);
        serde_json::to_vec(&json!({
            "id": id, "name": format!("#{id}"), "order_number": id,
            "created_at": "2026-11-27T09:00:00+13:00",
            "processed_at": "2026-11-27T09:00:00+13:00",
            "updated_at": "2026-11-27T09:00:00+13:00",
            "currency": "NZD", "presentment_currency": "NZD",
            "financial_status": "paid", "gateway": "shopify_payments",
            "payment_gateway_names": ["shopify_payments"], "taxes_included": false,
            "total_line_items_price": "50.00", "total_discounts": "5.00",
            "subtotal_price": "45.00", "total_tax": "8.25", "total_price": "63.25",
            "line_items": [{
                "id": id * 10 + 1, "title": "Kauri mug", "sku": "MUG-KAURI", "quantity": 2,
                "price": "25.00", "total_discount": "5.00", "taxable": true,
                "tax_lines": gst("6.75")
            }],
            "shipping_lines": [{"title": "Courier", "price": "10.00",
                                "discounted_price": "10.00", "tax_lines": gst("1.50")}],
            "tax_lines": gst("8.25"),
            "refunds": []
        }))
        .unwrap()
    }

    /// One mug of `order_id` back, restocked or not (`restock_type`).
    fn mug_refund(refund_id: u64, order_id: u64, restock_type: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": refund_id, "order_id": order_id,
            "created_at": "2026-11-27T11:00:00+13:00",
            "processed_at": "2026-11-27T11:00:00+13:00",
            "restock": restock_type != "no_restock",
            "refund_line_items": [{
                "id": refund_id, "line_item_id": order_id * 10 + 1, "quantity": 1,
                "restock_type": restock_type, "location_id": LOCATION,
                "subtotal": "22.50", "total_tax": "3.38",
                "line_item": {"sku": "MUG-KAURI", "title": "Kauri mug", "price": "25.00"}
            }],
            "transactions": [{
                "id": refund_id, "kind": "refund", "status": "success", "amount": "25.88",
                "currency": "NZD", "gateway": "shopify_payments",
                "created_at": "2026-11-27T11:00:00+13:00",
                "processed_at": "2026-11-27T11:00:00+13:00"
            }],
            "order_adjustments": []
        }))
        .unwrap()
    }

    /// An `inventory_levels/update` body: the mug's level at its location at `at`.
    fn mug_level(available: i64, at: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "inventory_item_id": ITEM, "location_id": LOCATION,
            "available": available, "updated_at": at,
        }))
        .unwrap()
    }

    fn stock_mugs(rig: &Rig, on_hand: u32) {
        stock::add_tracked_item(&rig.sim, "MUG-KAURI", "Kauri mug", on_hand, 8);
    }

    /// The item codes of a credit note's lines.
    fn codes(document: &Value) -> Vec<Option<String>> {
        document["LineItems"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| l["ItemCode"].as_str().map(str::to_owned))
            .collect()
    }

    #[tokio::test]
    async fn a_refund_that_restocks_puts_the_units_back_and_one_that_does_not_leaves_xero_alone() {
        let rig = Rig::new().await;
        stock_mugs(&rig, 10);
        let fake = fake().await;
        let processor = TestProcessor::start(&config(&rig, &fake)).await;
        rig.publish(
            EventKind::Order,
            "orders/paid",
            "shopify:o-1",
            &mug_order(7001),
        )
        .await;
        rig.publish(
            EventKind::Inventory,
            "inventory_levels/update",
            "shopify:s-1",
            &mug_level(8, "2026-11-27T09:00:01+13:00"),
        )
        .await;
        booked(&rig, "shopify:o-1").await;
        // One mug comes back to the shelf; the other the customer keeps.
        rig.publish(
            EventKind::Refund,
            "refunds/create",
            "shopify:r-1",
            &mug_refund(9001, 7001, "return"),
        )
        .await;
        rig.publish(
            EventKind::Inventory,
            "inventory_levels/update",
            "shopify:s-2",
            &mug_level(9, "2026-11-27T11:00:01+13:00"),
        )
        .await;
        rig.publish(
            EventKind::Refund,
            "refunds/create",
            "shopify:r-2",
            &mug_refund(9002, 7001, "no_restock"),
        )
        .await;
        booked(&rig, "shopify:r-1").await;
        booked(&rig, "shopify:r-2").await;
        for stock in ["shopify:s-1", "shopify:s-2"] {
            let (outcome, detail) = handled(&rig, stock).await;
            assert_eq!(outcome, "skipped", "{stock}: {detail}");
        }
        assert_eq!(on_hand(&rig, "MUG-KAURI"), Decimal::from(9));
        assert!(adjustments(&rig).is_empty(), "{:#?}", adjustments(&rig));
        let returned = credit_notes_numbered(&rig.sim, "SH-7001/R9001");
        assert_eq!(codes(&returned[0]), [Some("MUG-KAURI".to_owned())]);
        let kept = credit_notes_numbered(&rig.sim, "SH-7001/R9002");
        assert_eq!(codes(&kept[0]), [None], "{kept:#?}");

        // Six mugs delivered: posted at Shopify's cost of a mug, not Xero's average.
        rig.publish(
            EventKind::Inventory,
            "inventory_levels/update",
            "shopify:s-3",
            &mug_level(15, "2026-11-27T12:00:00+13:00"),
        )
        .await;
        booked(&rig, "shopify:s-3").await;
        assert_eq!(on_hand(&rig, "MUG-KAURI"), Decimal::from(15));
        let posted = adjustments(&rig);
        assert_eq!(posted.len(), 1, "{posted:#?}");
        assert_eq!(
            adjustment_line(&posted[0]),
            (
                "ACCPAY".to_owned(),
                "MUG-KAURI".to_owned(),
                Decimal::from(6),
                Decimal::new(825, 2)
            )
        );
        processor.stop().await;
    }
}

#[tokio::test]
async fn a_product_renamed_on_the_platform_is_renamed_in_xero_with_its_stock_compared() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    let mut body: Value = serde_json::from_slice(&woo_level(81, 1, "KETE-L", 10)).unwrap();
    body["name"] = json!("Harakeke kete, large");
    let event = "woocommerce:nz-woo:renamed";
    send_woo(
        &rig,
        EventKind::Inventory,
        "product.updated",
        event,
        &serde_json::to_vec(&body).unwrap(),
    )
    .await;
    let (outcome, detail) = handled(&rig, event).await;
    assert_eq!(outcome, "skipped", "{detail}");
    let item = rig
        .sim
        .items(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["Code"] == "KETE-L")
        .unwrap();
    assert_eq!(item["Name"], "Harakeke kete, large", "{item:#?}");
    assert_eq!(item["IsTrackedAsInventory"], true);
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(10));
    processor.stop().await;
}

/// Publishes a WooCommerce event received by the ingress at `received_at`.
async fn send_at(
    rig: &Rig,
    kind: EventKind,
    topic: &str,
    event_id: &str,
    body: &[u8],
    received_at: &str,
) {
    let mut envelope =
        xcs_tests::processor::envelope(Platform::WooCommerce, WOO_SHOP, kind, topic, event_id);
    envelope.received_at = received_at.to_owned();
    xcs_tests::processor::publish_envelope(&rig.broker, &envelope, body).await;
}

#[tokio::test]
async fn an_older_level_compared_after_later_sales_are_booked_posts_nothing() {
    let rig = Rig::new().await;
    stock_xero(&rig, 10);
    let processor = TestProcessor::start(&tracked_config(&rig)).await;
    // A backlog: the level after the first sale (8) waits out its quiet time while a sale
    // received a minute later is booked (Xero 6); that sale's own level (6) is still queued.
    send_at(
        &rig,
        EventKind::Order,
        "order.created",
        "o-first",
        &woo_order(5501),
        "2026-11-27T09:00:00Z",
    )
    .await;
    send_at(
        &rig,
        EventKind::Inventory,
        "product.updated",
        "s-first",
        &woo_level(81, 1, "KETE-L", 8),
        "2026-11-27T09:00:01Z",
    )
    .await;
    send_at(
        &rig,
        EventKind::Order,
        "order.created",
        "o-later",
        &woo_order(5502),
        "2026-11-27T09:01:00Z",
    )
    .await;
    booked(&rig, "o-later").await;
    let (outcome, detail) = handled(&rig, "s-first").await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(detail.contains("after this level was reported"), "{detail}");
    assert!(adjustments(&rig).is_empty(), "{:#?}", adjustments(&rig));
    // The later sale's level comes, and agrees.
    send_at(
        &rig,
        EventKind::Inventory,
        "product.updated",
        "s-later",
        &woo_level(81, 2, "KETE-L", 6),
        "2026-11-27T09:01:01Z",
    )
    .await;
    let (outcome, detail) = handled(&rig, "s-later").await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(detail.contains("nothing to adjust"), "{detail}");
    assert_eq!(on_hand(&rig, "KETE-L"), Decimal::from(6));
    processor.stop().await;
}
