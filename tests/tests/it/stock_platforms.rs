//! Tracked inventory, platform side (README "Inventory: tracked mode"): each platform's stock
//! webhook becomes absolute levels with the item's SKU and unit cost, read from the
//! platform's API where the webhook lacks them, once an hour per item rather than once per
//! event. Asserted on the ledger's `xcs_stock` rows and on what the platform fakes were asked,
//! not on Xero's documents (the adjustments are the stock settle's concern).

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::platform_api::{
    FakePlatformApi, shopify_inventory_item_path, shopify_inventory_levels_path,
};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    BIGCOMMERCE_SHOP, MAGENTO_SHOP, Rig, SHOP, TestProcessor, WOO_SHOP, platform_shop, wait_handled,
};
use xcs_tests::stock::{publish_adobe_stock, publish_stock};

const HANDLED: Duration = Duration::from_secs(20);

/// `config` with `shop` in tracked mode (its levels compared with Xero's at once), on the demo chart's Inventory (630), Cost of Goods
/// Sold (310) and General Expenses (429, for adjustments) accounts, and `api` (an inline
/// table) as its platform API if given.
fn tracked(config: &str, shop: &str, api: Option<&str>) -> String {
    let header = format!("[shops.{shop}]\n");
    let mut config = config.replacen(&header, &format!("{header}inventory = \"tracked\"\n"), 1);
    if let Some(api) = api {
        let mapping = format!("[shops.{shop}.mapping]\n");
        config = config.replacen(&mapping, &format!("api = {api}\n{mapping}"), 1);
    }
    // The stock settle waits for a quiet item; these tests look at what the platform side
    // recorded, at once.
    config.push_str(&format!("\n[shops.{shop}.stock]\nsettle_secs = 0\n"));
    let accounts = format!("[shops.{shop}.mapping.accounts]\n");
    config.replacen(
        &accounts,
        &format!(
            "{accounts}inventory = \"630\"\ncost_of_goods_sold = \"310\"\n\
             inventory_adjustments = \"429\"\n"
        ),
        1,
    )
}

/// `shop`'s stock rows: (item, location, SKU, level, unit cost), by item and location.
async fn stock_rows(
    schema: &TestSchema,
    shop: &str,
) -> Vec<(String, String, Option<String>, Value, Option<Decimal>)> {
    schema
        .client()
        .await
        .query(
            "SELECT item_id, location, sku, level, unit_cost FROM xcs_stock WHERE shop = $1
             ORDER BY item_id, location",
            &[&shop],
        )
        .await
        .expect("stock rows")
        .iter()
        .map(|r| {
            let level: String = r.get(3);
            let level = serde_json::from_str(&level).expect("levels are JSON");
            (r.get(0), r.get(1), r.get(2), level, r.get(4))
        })
        .collect()
}

/// A level as the ledger holds it (`StockLevel` as JSON), its quantity as the platform wrote it.
fn absolute(quantity: impl std::fmt::Display) -> Value {
    json!({"type": "absolute", "quantity": quantity.to_string()})
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

async fn handled(rig: &Rig, event_id: &str) -> (String, String) {
    wait_handled(&rig.schema, event_id, HANDLED).await
}

fn paths(fake: &FakePlatformApi, needle: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.path.contains(needle))
        .count()
}

#[tokio::test]
async fn a_shopify_level_gets_its_sku_cost_and_every_locations_level_fetched_once() {
    let rig = Rig::new().await;
    let fake = FakePlatformApi::start(Platform::Shopify).await;
    let item = 808_950_810_u64;
    fake.put(
        &shopify_inventory_item_path(item),
        json!({"inventory_item": {"id": item, "sku": "MUG-KAURI", "cost": "8.25",
               "tracked": true, "requires_shipping": true}}),
    );
    // Two locations of this item, and another item the list must not mix in.
    fake.put(
        &shopify_inventory_levels_path(),
        json!({"inventory_levels": [
            {"inventory_item_id": item, "location_id": 905_684_977, "available": 6,
             "updated_at": "2026-11-27T10:00:00+13:00"},
            {"inventory_item_id": item, "location_id": 487_838_322, "available": 11,
             "updated_at": "2026-11-20T10:00:00+13:00"},
            {"inventory_item_id": 39_072_856, "location_id": 905_684_977, "available": 40,
             "updated_at": "2026-11-20T10:00:00+13:00"},
        ]}),
    );
    let config = tracked(&rig.config(""), SHOP, Some(&fake.api_toml()));
    let processor = TestProcessor::start(&config).await;

    let level = |available: i64| {
        serde_json::to_vec(
            &json!({"inventory_item_id": item, "location_id": 905_684_977,
            "available": available, "updated_at": "2026-11-27T10:00:00+13:00"}),
        )
        .unwrap()
    };
    rig.publish(
        EventKind::Inventory,
        "inventory_levels/update",
        "sh-stock-1",
        &level(6),
    )
    .await;
    handled(&rig, "sh-stock-1").await;
    assert_eq!(
        stock_rows(&rig.schema, SHOP).await,
        [
            (
                item.to_string(),
                "487838322".into(),
                Some("MUG-KAURI".into()),
                absolute(11),
                Some(dec("8.25"))
            ),
            (
                item.to_string(),
                "905684977".into(),
                Some("MUG-KAURI".into()),
                absolute(6),
                Some(dec("8.25"))
            ),
        ],
        "the item's other location counts too"
    );

    // An order's line later: the webhook's level, the SKU and cost from the ledger.
    for (n, available) in [(2, 5), (3, 4)] {
        let id = format!("sh-stock-{n}");
        rig.publish(
            EventKind::Inventory,
            "inventory_levels/update",
            &id,
            &level(available),
        )
        .await;
        handled(&rig, &id).await;
    }
    let rows = stock_rows(&rig.schema, SHOP).await;
    assert_eq!(rows[1].3, absolute(4));
    assert_eq!(rows[1].2.as_deref(), Some("MUG-KAURI"));
    assert_eq!(rows[1].4, Some(dec("8.25")));
    assert_eq!(rows[0].3, absolute(11), "the other location unchanged");
    assert_eq!(
        paths(&fake, "/inventory_items/"),
        1,
        "{:?}",
        fake.requests()
    );
    assert_eq!(
        paths(&fake, "/inventory_levels.json"),
        1,
        "{:?}",
        fake.requests()
    );

    // An item without a SKU names no Xero item: it is said, and not recorded.
    let bare = 39_072_856_u64;
    fake.put(
        &shopify_inventory_item_path(bare),
        json!({"inventory_item": {"id": bare, "sku": "", "cost": null}}),
    );
    let body = serde_json::to_vec(&json!({"inventory_item_id": bare,
        "location_id": 905_684_977, "available": 40}))
    .unwrap();
    rig.publish(
        EventKind::Inventory,
        "inventory_levels/update",
        "sh-stock-4",
        &body,
    )
    .await;
    let (outcome, detail) = handled(&rig, "sh-stock-4").await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(
        detail.contains("no SKU") && detail.contains("39072856"),
        "{detail}"
    );
    assert_eq!(stock_rows(&rig.schema, SHOP).await.len(), 2);

    processor.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn a_shopify_shop_in_items_mode_fetches_nothing_for_stock() {
    let rig = Rig::new().await;
    let fake = FakePlatformApi::start(Platform::Shopify).await;
    let config = rig.config("").replacen(
        &format!("[shops.{SHOP}.mapping]\n"),
        &format!("api = {}\n[shops.{SHOP}.mapping]\n", fake.api_toml()),
        1,
    );
    let processor = TestProcessor::start(&config).await;
    let body = serde_json::to_vec(&json!({"inventory_item_id": 808_950_810_u64,
        "location_id": 905_684_977, "available": 6}))
    .unwrap();
    rig.publish(
        EventKind::Inventory,
        "inventory_levels/update",
        "sh-off-1",
        &body,
    )
    .await;
    handled(&rig, "sh-off-1").await;
    assert_eq!(
        stock_rows(&rig.schema, SHOP).await,
        [(
            "808950810".into(),
            "905684977".into(),
            None,
            absolute(6),
            None
        )]
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    processor.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn bigcommerce_changes_are_completed_from_the_catalog_and_absolute_ones_from_the_ledger() {
    let rig = Rig::new().await;
    let fake = FakePlatformApi::start(Platform::BigCommerce).await;
    let variant_path = "/v3/catalog/products/77/variants/101";
    fake.put(
        variant_path,
        json!({"data": {"id": 101, "product_id": 77, "sku": "MUG-KAURI-BLUE",
               "cost_price": 8.25, "price": 25, "inventory_level": 14}, "meta": {}}),
    );
    let shop = platform_shop(
        BIGCOMMERCE_SHOP,
        Platform::BigCommerce,
        Some(&fake.api_toml()),
    );
    let config = tracked(&rig.config(&shop), BIGCOMMERCE_SHOP, None);
    let processor = TestProcessor::start(&config).await;
    let send = |id: &'static str, body: serde_json::Value| {
        let broker = &rig.broker;
        async move {
            publish_stock(
                broker,
                Platform::BigCommerce,
                BIGCOMMERCE_SHOP,
                "store/sku/inventory/updated",
                id,
                &body,
            )
            .await;
        }
    };

    // An order's change: a delta only, so the level is the catalog's.
    send(
        "bc-stock-1",
        json!({"scope": "store/sku/inventory/order/updated", "store_id": "1025646",
        "data": {"type": "sku", "id": 101, "inventory": {"product_id": 77, "variant_id": 101,
        "method": "relative", "value": -2}}}),
    )
    .await;
    handled(&rig, "bc-stock-1").await;
    let row = |level: i64| {
        vec![(
            "77:101".to_owned(),
            String::new(),
            Some("MUG-KAURI-BLUE".to_owned()),
            absolute(level),
            Some(dec("8.25")),
        )]
    };
    assert_eq!(stock_rows(&rig.schema, BIGCOMMERCE_SHOP).await, row(14));
    // A level set in the admin: its own value, the SKU and cost from the ledger.
    send(
        "bc-stock-2",
        json!({"scope": "store/sku/inventory/updated", "store_id": "1025646",
        "data": {"type": "sku", "id": 101, "inventory": {"product_id": 77, "variant_id": 101,
        "method": "absolute", "value": 20}}}),
    )
    .await;
    handled(&rig, "bc-stock-2").await;
    assert_eq!(stock_rows(&rig.schema, BIGCOMMERCE_SHOP).await, row(20));
    assert_eq!(fake.request_count(variant_path), 1, "{:?}", fake.requests());
    // A multi-location change has no quantity at all: the catalog's again.
    fake.put(
        variant_path,
        json!({"data": {"id": 101, "product_id": 77, "sku": "MUG-KAURI-BLUE",
               "cost_price": 8.25, "inventory_level": 19}, "meta": {}}),
    );
    send(
        "bc-stock-3",
        json!({"scope": "store/channel/1/inventory/product/stock_changed",
        "data": {"variant_id": 101, "product_id": 77, "location_id": 2}}),
    )
    .await;
    handled(&rig, "bc-stock-3").await;
    assert_eq!(stock_rows(&rig.schema, BIGCOMMERCE_SHOP).await, row(19));
    assert_eq!(fake.request_count(variant_path), 2, "{:?}", fake.requests());

    processor.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn adobe_commerce_stock_gets_the_products_cost_once_an_hour() {
    let rig = Rig::new().await;
    let fake = FakePlatformApi::start(Platform::Magento).await;
    fake.put(
        "/rest/V1/products/ESP-200",
        json!({"id": 2040, "sku": "ESP-200", "name": "Espresso machine", "price": 129,
               "type_id": "simple", "custom_attributes": [
                   {"attribute_code": "description", "value": "<p>15 bar</p>"},
                   {"attribute_code": "cost", "value": "61.500000"}]}),
    );
    let shop = platform_shop(MAGENTO_SHOP, Platform::Magento, Some(&fake.api_toml()));
    let config = tracked(&rig.config(&shop), MAGENTO_SHOP, None);
    let processor = TestProcessor::start(&config).await;
    for (id, qty) in [("mg-stock-1", "37.0000"), ("mg-stock-2", "36.0000")] {
        publish_adobe_stock(&rig.broker, id, 2040, "ESP-200", qty).await;
        handled(&rig, id).await;
    }
    assert_eq!(
        stock_rows(&rig.schema, MAGENTO_SHOP).await,
        [(
            "2040".into(),
            String::new(),
            Some("ESP-200".into()),
            absolute("36.0000"),
            Some(dec("61.5"))
        )]
    );
    assert_eq!(
        fake.request_count("/rest/V1/products/ESP-200"),
        1,
        "{:?}",
        fake.requests()
    );
    processor.stop().await;
    fake.stop().await;
}

#[tokio::test]
async fn woocommerce_stock_carries_its_sku_and_cost_of_goods_and_fetches_nothing() {
    let rig = Rig::new().await;
    let fake = FakePlatformApi::start(Platform::WooCommerce).await;
    let config = tracked(&rig.config(""), WOO_SHOP, Some(&fake.api_toml()));
    let processor = TestProcessor::start(&config).await;
    let body = json!({"id": 794, "sku": "HOODIE-BLUE-M", "type": "simple", "manage_stock": true,
        "stock_quantity": 18, "stock_status": "instock", "price": "45.00",
        "cost_of_goods_sold": {"values": [{"defined_value": 21.4, "effective_value": 21.4}],
                               "total_value": 21.4},
        "date_modified_gmt": "2026-11-27T01:00:00"});
    publish_stock(
        &rig.broker,
        Platform::WooCommerce,
        WOO_SHOP,
        "product.updated",
        "wc-stock-1",
        &body,
    )
    .await;
    handled(&rig, "wc-stock-1").await;
    assert_eq!(
        stock_rows(&rig.schema, WOO_SHOP).await,
        [(
            "794".into(),
            String::new(),
            Some("HOODIE-BLUE-M".into()),
            absolute(18),
            Some(dec("21.4"))
        )]
    );
    let unskued = json!({"id": 795, "sku": "", "manage_stock": true, "stock_quantity": 3});
    publish_stock(
        &rig.broker,
        Platform::WooCommerce,
        WOO_SHOP,
        "product.updated",
        "wc-stock-2",
        &unskued,
    )
    .await;
    let (outcome, detail) = handled(&rig, "wc-stock-2").await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(
        detail.contains("no SKU") && detail.contains("795"),
        "{detail}"
    );
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    processor.stop().await;
    fake.stop().await;
}
