//! Tracked inventory (README "Inventory: tracked mode") as the tests see it: a shop's config
//! in tracked mode, tracked items seeded in the simulator, Xero's quantities and the zero-total
//! adjustments the processor posts, and the levels the ledger recorded.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim};

use crate::broker::TestBroker;
use crate::postgres::TestSchema;
use crate::processor::{MAGENTO_SHOP, Rig, WOO_SHOP, amount, publish};

/// `config` with `shop` tracked on the demo chart's Inventory (630) and Cost of Goods Sold
/// (310) accounts, adjustments against 310 too, its items compared once quiet for
/// `settle_secs`.
pub fn tracked(config: &str, shop: &str, settle_secs: u64) -> String {
    let header = format!("[shops.{shop}]\n");
    let accounts = format!("[shops.{shop}.mapping.accounts]\n");
    let config = config
        .replacen(&header, &format!("{header}inventory = \"tracked\"\n"), 1)
        .replacen(
            &accounts,
            &format!(
                "{accounts}inventory = \"630\"\ncost_of_goods_sold = \"310\"\n\
                 inventory_adjustments = \"310\"\n"
            ),
            1,
        );
    format!("{config}\n[shops.{shop}.stock]\nsettle_secs = {settle_secs}\n")
}

/// Adds `code` to the NZ demo company as a tracked item (sold on 200, its cost of goods on
/// 310, its stock on 630) with `on_hand` units at `unit_cost` each.
pub fn add_tracked_item(sim: &RunningSim, code: &str, name: &str, on_hand: u32, unit_cost: u32) {
    sim.add_item(
        DEMO_NZ_TENANT_ID,
        &json!({
            "Code": code,
            "Name": name,
            "IsSold": true,
            "IsPurchased": true,
            "SalesDetails": {"AccountCode": "200"},
            "PurchaseDetails": {"COGSAccountCode": "310"},
            "InventoryAssetAccountCode": "630",
            "QuantityOnHand": on_hand,
            "TotalCostPool": on_hand * unit_cost,
        }),
    )
    .expect("a tracked item");
}

/// Xero's quantity on hand of `code`, which must be tracked.
pub fn on_hand(sim: &RunningSim, code: &str) -> Decimal {
    let item = sim
        .items(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["Code"] == code)
        .unwrap_or_else(|| panic!("no item {code}"));
    assert_eq!(item["IsTrackedAsInventory"], true, "{item:#?}");
    amount(&item["QuantityAvailable"])
}

/// The stock adjustments in Xero: bills and supplier credits to the adjustments contact.
pub fn adjustments(sim: &RunningSim) -> Vec<Value> {
    let bills = sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["Type"] == "ACCPAY");
    let credits = sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["Type"] == "ACCPAYCREDIT");
    bills.chain(credits).collect()
}

/// An adjustment's (type, item code, quantity, unit amount), and that it sums to zero on the
/// accounts [`tracked`] maps.
pub fn adjustment_line(document: &Value) -> (String, String, Decimal, Decimal) {
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

/// Waits until the ledger holds `level` as `shop`'s absolute level of `item_id` (at no
/// location), and returns the id of the stock event that brought it: how a test finds the
/// events the poller publishes.
pub async fn level_recorded(
    schema: &TestSchema,
    shop: &str,
    item_id: &str,
    level: u32,
    timeout: Duration,
) -> String {
    let client = schema.client().await;
    let what = format!("{shop}'s level {level} of {item_id} recorded");
    crate::eventually(timeout, &what, || {
        let client = &client;
        async move {
            let row = client
                .query_opt(
                    "SELECT level, event_id FROM xcs_stock
                      WHERE shop = $1 AND item_id = $2 AND location = ''",
                    &[&shop, &item_id],
                )
                .await
                .ok()??;
            let recorded: Value = serde_json::from_str(&row.get::<_, String>(0)).ok()?;
            (recorded["type"] == "absolute" && amount(&recorded["quantity"]) == level.into())
                .then(|| row.get(1))
        }
    })
    .await
}

/// Publishes `body` as `shop`'s stock webhook `topic` on `platform`, as the ingress would.
pub async fn publish_stock(
    broker: &TestBroker,
    platform: Platform,
    shop: &str,
    topic: &str,
    event_id: &str,
    body: &Value,
) {
    let body = serde_json::to_vec(body).unwrap();
    publish(
        broker,
        platform,
        shop,
        EventKind::Inventory,
        topic,
        event_id,
        &body,
    )
    .await;
}

/// Publishes an Adobe Commerce stock item save of `sku` (product `product_id`) at `qty` for
/// the Adobe Commerce shop: the SKU and quantity the event carries, the cost not.
pub async fn publish_adobe_stock(
    broker: &TestBroker,
    event_id: &str,
    product_id: u64,
    sku: &str,
    qty: &str,
) {
    let body = json!({"event_id": event_id,
        "type": "com.adobe.commerce.observer.cataloginventory_stock_item_save_commit_after",
        "data": {"value": {"product_id": product_id.to_string(), "sku": sku, "qty": qty,
                           "is_in_stock": "1"}}});
    publish_stock(
        broker,
        Platform::Magento,
        MAGENTO_SHOP,
        "observer.cataloginventory_stock_item_save_commit_after",
        event_id,
        &body,
    )
    .await;
}

/// Publishes `body` as the WooCommerce shop's webhook `topic`.
pub async fn send_woo(rig: &Rig, kind: EventKind, topic: &str, event_id: &str, body: &[u8]) {
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

/// WooCommerce order 4417 under `id`: 2 × KETE-L and 1 × KOHA-FB.
pub fn woo_order(id: u64) -> Vec<u8> {
    let mut order = crate::platform_api::fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    serde_json::to_vec(&order).unwrap()
}

/// A WooCommerce `product.updated` body: the product's SKU and the level WooCommerce has
/// after its `n`th change (its modification time, by which levels that arrive out of order
/// are ordered).
pub fn woo_level(product_id: u64, n: u32, sku: &str, quantity: i64) -> Vec<u8> {
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

/// Publishes WooCommerce order `id` ([`woo_order`]) as created; returns its event id.
pub async fn send_woo_order(rig: &Rig, id: u64) -> String {
    let event = format!("woocommerce:{WOO_SHOP}:o-{id}");
    send_woo(
        rig,
        EventKind::Order,
        "order.created",
        &event,
        &woo_order(id),
    )
    .await;
    event
}

/// Publishes the store's level of `sku` (WooCommerce product `product`) after its `n`th
/// change ([`woo_level`]); returns its event id.
pub async fn send_woo_level(rig: &Rig, n: u32, product: u64, sku: &str, quantity: i64) -> String {
    let event = format!("woocommerce:{WOO_SHOP}:s-{n}");
    let body = woo_level(product, n, sku, quantity);
    send_woo(rig, EventKind::Inventory, "product.updated", &event, &body).await;
    event
}
