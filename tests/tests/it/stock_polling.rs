//! Stock from Etsy and eBay, which send no stock webhooks (README "Stock from Etsy and eBay"):
//! a tracked shop's catalogue is read from the fake's listing-inventory (Etsy) and
//! inventory-item (eBay) endpoints, one event is published per SKU whose level the ledger does
//! not hold yet, and the processor records those levels in `xcs_stock`; a read that finds
//! nothing changed publishes nothing and costs its list calls only; one SKU changed is one
//! event; a shop in items mode reads no stock. What the processor then does in Xero with a
//! level is tracked mode's own tests'; these assert the ledger and the published events.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use xcs_shared::Platform;
use xcs_tests::polled::{PATIENCE, PolledShop, ShopSpec};
use xcs_tests::processor::{EBAY_SHOP, ETSY_SHOP, TestProcessor, test_config};

const ETSY_LISTINGS: &str = "/v3/application/shops/31415926/listings";
const ETSY_BATCH_INVENTORY: &str = "/v3/application/listings/batch/inventory";
const ETSY_RECEIPTS: &str = "/v3/application/shops/31415926/receipts";
const EBAY_ITEMS: &str = "/sell/inventory/v1/inventory_item";
const EBAY_ORDERS: &str = "/sell/fulfillment/v1/order";

/// Seconds between stock reads in these tests: long enough for the processor to record a
/// read's levels before the next read compares with them.
const STOCK_EVERY: u64 = 2;

fn shop_of(platform: Platform) -> &'static str {
    match platform {
        Platform::Etsy => ETSY_SHOP,
        Platform::Ebay => EBAY_SHOP,
        other => panic!("no stock polling for {other}"),
    }
}

/// An Etsy listing: its products each `(sku, quantity)`, one enabled offering each, the colour
/// telling them apart (and the quantity varying by it).
fn etsy_listing(id: u64, state: &str, products: &[(&str, u64)]) -> Value {
    let products: Vec<Value> = products
        .iter()
        .enumerate()
        .map(|(n, (sku, quantity))| {
            json!({
                "product_id": 9_000_000 + n as u64, "sku": sku, "is_deleted": false,
                "offerings": [{"offering_id": 8_000_000 + n as u64, "quantity": quantity,
                               "is_enabled": true, "is_deleted": false,
                               "price": {"amount": 2500, "divisor": 100, "currency_code": "NZD"}}],
                "property_values": [{"property_id": 200, "property_name": "Primary color",
                                     "scale_id": null, "value_ids": [n as u64 + 1],
                                     "values": [format!("Colour {n}")]}],
            })
        })
        .collect();
    json!({
        "listing_id": id, "shop_id": 31415926, "state": state, "title": format!("Listing {id}"),
        "quantity": products.len(),
        "inventory": {"products": products, "price_on_property": [], "quantity_on_property": [200],
                      "sku_on_property": [200], "readiness_state_on_property": []},
    })
}

/// An eBay inventory item with `quantity` available to ship.
fn ebay_item(sku: &str, quantity: u64) -> Value {
    json!({
        "sku": sku, "locale": "en_US", "condition": "NEW",
        "product": {"title": format!("Item {sku}")},
        "availability": {"shipToLocationAvailability": {"quantity": quantity}},
    })
}

/// The catalogue in the fake, and the levels a read of it gives per SKU: Etsy's has a product
/// without SKU (not read) and a sold-out listing (its SKU at 0).
fn catalogue(setup: &PolledShop) -> BTreeMap<String, u64> {
    match setup.platform {
        Platform::Etsy => {
            setup.api.stock(etsy_listing(
                1_500_000_001,
                "active",
                &[("MUG-KAURI", 5), ("TOWEL", 3), ("", 4)],
            ));
            setup
                .api
                .stock(etsy_listing(1_500_000_002, "sold_out", &[("CUP-OLD", 0)]));
        }
        Platform::Ebay => {
            setup.api.stock(ebay_item("MUG-KAURI", 5));
            setup.api.stock(ebay_item("TOWEL", 3));
        }
        other => panic!("no stock polling for {other}"),
    }
    let mut levels = BTreeMap::from([("MUG-KAURI".to_owned(), 5), ("TOWEL".to_owned(), 3)]);
    if setup.platform == Platform::Etsy {
        levels.insert("CUP-OLD".to_owned(), 0);
    }
    levels
}

/// The processor config: the shop in `inventory` mode (tracked needs its three accounts: the
/// demo chart's 630 Inventory, 310 Cost of Goods Sold, 429 General Expenses), its orders
/// polled every `orders_every` seconds (0: not), its stock every [`STOCK_EVERY`].
fn config(setup: &PolledShop, inventory: &str, orders_every: u64) -> String {
    let name = &setup.name;
    let sections = setup
        .shop_sections()
        .replacen(
            &format!("[shops.{name}]\n"),
            &format!("[shops.{name}]\ninventory = \"{inventory}\"\n"),
            1,
        )
        .replacen(
            &format!("[shops.{name}.mapping.accounts]\n"),
            &format!(
                "[shops.{name}.mapping.accounts]\ninventory = \"630\"\n\
                 cost_of_goods_sold = \"310\"\ninventory_adjustments = \"429\"\n"
            ),
            1,
        );
    // Tracked mode compares a level once its item has been quiet for stock.settle_secs
    // (default 60); a second keeps these tests short.
    let poll = format!(
        "[shops.{name}.poll]\ninterval_secs = {orders_every}\noverlap_secs = 3600\n\
         settle_secs = 0\nstock_interval_secs = {STOCK_EVERY}\n[shops.{name}.stock]\n\
         settle_secs = 1\n"
    );
    test_config(
        &setup.broker,
        &setup.schema,
        &setup.sim,
        &format!("poll_every_ms = 200\n{sections}{poll}"),
    )
}

/// `xcs_stock`'s rows of the shop: item id to SKU and level.
async fn stock_rows(setup: &PolledShop) -> BTreeMap<String, (Option<String>, Value)> {
    let client = setup.schema.client().await;
    let Ok(rows) = client
        .query(
            "SELECT item_id, sku, level FROM xcs_stock WHERE shop = $1 AND location = ''",
            &[&setup.name],
        )
        .await
    else {
        return BTreeMap::new();
    };
    rows.iter()
        .map(|row| {
            let level: String = row.get(2);
            (
                row.get(0),
                (
                    row.get(1),
                    serde_json::from_str(&level).expect("level JSON"),
                ),
            )
        })
        .collect()
}

/// Waits until `xcs_stock` holds `levels` (SKU to absolute quantity) for the shop, each row
/// its item id the SKU.
async fn wait_recorded(setup: &PolledShop, levels: &BTreeMap<String, u64>) {
    let expected: BTreeMap<String, (Option<String>, Value)> = levels
        .iter()
        .map(|(sku, quantity)| {
            (
                sku.clone(),
                (
                    Some(sku.clone()),
                    json!({"type": "absolute", "quantity": quantity.to_string()}),
                ),
            )
        })
        .collect();
    xcs_tests::eventually(PATIENCE, "the stock levels recorded", || async {
        let rows = normalised(stock_rows(setup).await);
        (rows == expected).then_some(())
    })
    .await;
}

/// Levels with their quantities as plain decimal strings, whatever scale they were stored at.
fn normalised(
    rows: BTreeMap<String, (Option<String>, Value)>,
) -> BTreeMap<String, (Option<String>, Value)> {
    rows.into_iter()
        .map(|(item, (sku, mut level))| {
            let quantity = match &level["quantity"] {
                Value::String(text) => text.parse::<rust_decimal::Decimal>().ok(),
                Value::Number(n) => n.to_string().parse().ok(),
                _ => None,
            };
            if let Some(quantity) = quantity {
                level["quantity"] = json!(quantity.normalize().to_string());
            }
            (item, (sku, level))
        })
        .collect()
}

/// The SKUs of the shop's polled stock events the processor handled, by the read (its time,
/// the event id's version) that published them.
async fn stock_events(setup: &PolledShop) -> BTreeMap<String, Vec<String>> {
    let client = setup.schema.client().await;
    let prefix = format!("{}:{}:api:inventory:", setup.platform, setup.name);
    let rows = client
        .query(
            "SELECT event_id FROM xcs_events WHERE starts_with(event_id, $1) ORDER BY event_id",
            &[&prefix],
        )
        .await
        .unwrap_or_default();
    let mut reads: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows {
        let id: String = row.get(0);
        let (sku, read) = id[prefix.len()..]
            .rsplit_once('@')
            .expect("a polled stock event id ends with @{read time}");
        reads
            .entry(read.to_owned())
            .or_default()
            .push(sku.to_owned());
    }
    reads
}

/// The stock read's schedule row: what its last read published and the calls it made.
async fn last_read(setup: &PolledShop) -> Option<(i32, i32, String)> {
    let client = setup.schema.client().await;
    let row = client
        .query_opt(
            "SELECT last_found, last_calls, last_error FROM xcs_poll_state
              WHERE shop = $1 AND purpose = 'stock' AND last_poll_at IS NOT NULL",
            &[&setup.name],
        )
        .await
        .ok()??;
    Some((row.get(0), row.get(1), row.get(2)))
}

/// The list calls one stock read makes of this fake: Etsy's active and sold-out listings and
/// one batch inventory call, eBay's one page of inventory items.
fn calls_per_read(platform: Platform) -> Vec<(&'static str, usize)> {
    match platform {
        Platform::Etsy => vec![(ETSY_LISTINGS, 2), (ETSY_BATCH_INVENTORY, 1)],
        Platform::Ebay => vec![(EBAY_ITEMS, 1)],
        other => panic!("no stock polling for {other}"),
    }
}

fn stock_calls(setup: &PolledShop) -> Vec<usize> {
    calls_per_read(setup.platform)
        .iter()
        .map(|(path, _)| setup.api.request_count(path))
        .collect()
}

/// Waits until `reads` more stock reads have gone by, each finding nothing to publish, and
/// asserts each cost exactly its list calls.
async fn quiet_reads(setup: &PolledShop, reads: usize) {
    let per_read = calls_per_read(setup.platform);
    let (first_path, first_per_read) = per_read[0];
    let before = stock_calls(setup);
    let target = before[0] + reads * first_per_read;
    xcs_tests::eventually(PATIENCE, "more stock reads", || async {
        let done = setup.api.request_count(first_path) >= target;
        let quiet = last_read(setup)
            .await
            .is_some_and(|(found, _, error)| found == 0 && error.is_empty());
        (done && quiet).then_some(())
    })
    .await;
    let after = stock_calls(setup);
    let reads_done = (after[0] - before[0]) / first_per_read;
    for (((path, per), before), after) in per_read.iter().zip(&before).zip(&after) {
        assert_eq!(
            after - before,
            reads_done * per,
            "{path}: {per} call(s) a read, over {reads_done} reads"
        );
    }
    let (_, calls, _) = last_read(setup).await.expect("a stock read recorded");
    let per: usize = per_read.iter().map(|(_, n)| n).sum();
    assert_eq!(
        usize::try_from(calls).unwrap(),
        per,
        "an idle read costs its list calls only"
    );
}

async fn tracked_stock_is_read_and_only_what_changed_is_published(
    platform: Platform,
    orders_every: u64,
) {
    let setup = PolledShop::start(platform, ShopSpec::Standard(shop_of(platform))).await;
    let mut levels = catalogue(&setup);
    let processor = TestProcessor::start(&config(&setup, "tracked", orders_every)).await;

    wait_recorded(&setup, &levels).await;
    // The event is recorded handled just after its level.
    let expected: Vec<String> = levels.keys().cloned().collect();
    let reads = xcs_tests::eventually(PATIENCE, "the stock events handled", || async {
        let reads = stock_events(&setup).await;
        (!reads.is_empty() && reads.values().all(|skus| *skus == expected)).then_some(reads)
    })
    .await;
    assert!(
        reads.values().all(|skus| *skus == expected),
        "each read published one event per SKU: {reads:?}"
    );

    quiet_reads(&setup, 2).await;
    let before = stock_events(&setup).await;
    assert_eq!(
        before, reads,
        "reads finding nothing changed publish nothing"
    );

    setup.api.set_stock_level("TOWEL", 2);
    levels.insert("TOWEL".to_owned(), 2);
    wait_recorded(&setup, &levels).await;
    quiet_reads(&setup, 1).await;
    let after = xcs_tests::eventually(PATIENCE, "the changed level's event handled", || async {
        let after = stock_events(&setup).await;
        (after.len() > before.len()).then_some(after)
    })
    .await;
    let new: Vec<&Vec<String>> = after
        .iter()
        .filter(|(read, _)| !before.contains_key(*read))
        .map(|(_, skus)| skus)
        .collect();
    assert_eq!(
        new,
        [&vec!["TOWEL".to_owned()]],
        "the one SKU changed is the one event published"
    );
    processor.stop().await;
}

#[tokio::test]
async fn etsy_stock_is_read_from_the_listings_and_only_changed_skus_are_published() {
    // Orders not polled: the stock read takes the shop's lease on its own.
    tracked_stock_is_read_and_only_what_changed_is_published(Platform::Etsy, 0).await;
}

#[tokio::test]
async fn ebay_stock_is_read_from_the_inventory_items_and_only_changed_skus_are_published() {
    // Orders polled every second: the stock read follows them under the same lease.
    tracked_stock_is_read_and_only_what_changed_is_published(Platform::Ebay, 1).await;
}

#[tokio::test]
async fn a_shop_in_items_mode_reads_no_stock() {
    for (platform, orders) in [
        (Platform::Etsy, ETSY_RECEIPTS),
        (Platform::Ebay, EBAY_ORDERS),
    ] {
        let setup = PolledShop::start(platform, ShopSpec::Standard(shop_of(platform))).await;
        catalogue(&setup);
        let processor = TestProcessor::start(&config(&setup, "items", 1)).await;
        setup.polled_again(orders, 3).await;
        assert_eq!(
            stock_calls(&setup),
            vec![0; calls_per_read(platform).len()],
            "{platform}: no stock call"
        );
        assert!(
            last_read(&setup).await.is_none(),
            "{platform}: no stock read"
        );
        assert!(stock_rows(&setup).await.is_empty());
        processor.stop().await;
    }
}

#[tokio::test]
async fn tracked_etsy_or_ebay_without_stock_reads_is_refused_at_start() {
    for platform in [Platform::Etsy, Platform::Ebay] {
        let setup = PolledShop::start(platform, ShopSpec::Standard(shop_of(platform))).await;
        // Why the config with the stock read every `secs` is refused.
        let refused = |secs: u64| {
            let text = config(&setup, "tracked", 1).replace(
                &format!("stock_interval_secs = {STOCK_EVERY}"),
                &format!("stock_interval_secs = {secs}"),
            );
            xcs_processor::config::Config::from_toml(&text, |_| None)
                .unwrap_err()
                .to_string()
        };
        let err = refused(0);
        assert!(
            err.contains(&setup.name)
                && err.contains("stock_interval_secs")
                && err.contains("inventory = \"items\""),
            "{err}"
        );
        let err = refused(700_000);
        assert!(
            err.contains("poll.stock_interval_secs is over a week"),
            "{err}"
        );
    }
}
