//! Tracked inventory end to end on BigCommerce, Adobe Commerce, Etsy and eBay (README
//! "Inventory: tracked mode"): each shop's order of a SKU Xero tracks is booked, the store's
//! level after the sale arrives as that platform's stock event, and Xero ends at the store's
//! level with nothing posted, the sale counted once; a restock then posts one zero-total bill of
//! the difference, at the platform's unit cost where it has one (BigCommerce `cost_price`,
//! Adobe Commerce `cost`) and Xero's average cost where it has none (Etsy, eBay).
//!
//! WooCommerce and Shopify are `stock_tracked`'s; how each platform's stock event is completed
//! (the catalog, the product, the poller's reads) is `stock_platforms`' and `stock_polling`'s.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::polled::{PolledShop, ShopSpec};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    BIGCOMMERCE_SHOP, EBAY_SHOP, ETSY_SHOP, MAGENTO_SHOP, Rig, TestProcessor, platform_shop,
    publish, test_config, wait_handled,
};
use xcs_tests::stock::{
    add_tracked_item, adjustment_line, adjustments, level_recorded, on_hand, publish_adobe_stock,
    tracked,
};
use xcs_xero_sim::RunningSim;

/// A stock event waits out the quiet time in the 10 s retry tier at least once.
const HANDLED: Duration = Duration::from_secs(60);
const SETTLE_SECS: u64 = 2;

async fn booked(schema: &TestSchema, event_id: &str) -> String {
    let (outcome, detail) = wait_handled(schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{event_id}: {detail}");
    detail
}

/// Waits for stock event `event_id` and asserts its comparison found Xero at the store's level.
async fn nothing_to_adjust(schema: &TestSchema, event_id: &str) {
    let (outcome, detail) = wait_handled(schema, event_id, HANDLED).await;
    assert_eq!(outcome, "skipped", "{event_id}: {detail}");
    assert!(detail.contains("nothing to adjust"), "{event_id}: {detail}");
}

/// Asserts Xero holds `levels` (item code, units) and no adjustment.
fn at_store_levels(sim: &RunningSim, levels: &[(&str, u32)]) {
    for (code, level) in levels {
        assert_eq!(on_hand(sim, code), Decimal::from(*level), "{code}");
    }
    let posted = adjustments(sim);
    assert!(posted.is_empty(), "the sale counted once: {posted:#?}");
}

/// Waits for restock event `event_id` and asserts it posted the one adjustment in Xero: a bill
/// of `units` of `code` at `unit_cost`, after which Xero holds `level`.
async fn restocked(
    schema: &TestSchema,
    sim: &RunningSim,
    event_id: &str,
    (code, units, unit_cost, level): (&str, u32, Decimal, u32),
) {
    let detail = booked(schema, event_id).await;
    assert!(
        detail.contains(&format!("adjusted by +{units}")),
        "{detail}"
    );
    assert_eq!(on_hand(sim, code), Decimal::from(level));
    let posted = adjustments(sim);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let (kind, item, quantity, cost) = adjustment_line(&posted[0]);
    assert_eq!(
        (kind.as_str(), item.as_str(), quantity, cost),
        ("ACCPAY", code, Decimal::from(units), unit_cost)
    );
}

/// BigCommerce order 310 (one POUNAMU-TOKI, variant 204 of product 112; two BALM-KAWAKAWA,
/// product 118), its stock webhooks carrying the order's deltas, completed from the catalog.
mod bigcommerce {
    use super::*;

    /// The V3 catalog's variant of `product`, or the product without one: its SKU,
    /// `cost_price` and `inventory_level`.
    fn catalog(
        fake: &FakePlatformApi,
        (product, variant): (u64, Option<u64>),
        sku: &str,
        cost_price: f64,
        level: u32,
    ) {
        let (path, id) = match variant {
            Some(variant) => (
                format!("/v3/catalog/products/{product}/variants/{variant}"),
                variant,
            ),
            None => (format!("/v3/catalog/products/{product}"), product),
        };
        fake.put(
            &path,
            json!({"data": {"id": id, "product_id": product, "sku": sku,
                            "cost_price": cost_price, "inventory_level": level},
                   "meta": {}}),
        );
    }

    /// An inventory webhook for `scope` of the variant, or the product without one.
    fn inventory(
        scope: &str,
        product: u64,
        variant: Option<u64>,
        method: &str,
        value: i64,
    ) -> Value {
        let mut inventory = json!({"product_id": product, "method": method, "value": value});
        let (kind, id) = match variant {
            Some(variant) => {
                inventory["variant_id"] = json!(variant);
                ("sku", variant)
            }
            None => ("product", product),
        };
        json!({"scope": scope, "store_id": "1025646",
               "data": {"type": kind, "id": id, "inventory": inventory},
               "hash": "5c1e0a9b8d7f6e5d4c3b2a190817263544536271", "created_at": 1_795_658_400,
               "producer": format!("stores/{}", credentials::BIGCOMMERCE_STORE_HASH)})
    }

    async fn send(rig: &Rig, kind: EventKind, event_id: &str, body: &Value) {
        let topic = body["scope"].as_str().unwrap();
        let body = serde_json::to_vec(body).unwrap();
        publish(
            &rig.broker,
            Platform::BigCommerce,
            BIGCOMMERCE_SHOP,
            kind,
            topic,
            event_id,
            &body,
        )
        .await;
    }

    #[tokio::test]
    async fn an_orders_stock_webhooks_before_and_after_it_leave_xero_at_the_catalogs_level_and_a_restock_is_billed_at_cost_price()
     {
        let rig = Rig::new().await;
        add_tracked_item(&rig.sim, "POUNAMU-TOKI", "Pounamu toki pendant", 10, 40);
        add_tracked_item(&rig.sim, "BALM-KAWAKAWA", "Kawakawa balm 50 ml", 10, 6);
        let fake = FakePlatformApi::start(Platform::BigCommerce).await;
        fake.put(
            "/v2/orders/310",
            fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json"),
        );
        fake.put(
            "/v2/orders/310/products",
            fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json"),
        );
        // The catalog once the order has taken its units.
        catalog(&fake, (112, Some(204)), "POUNAMU-TOKI", 48.5, 9);
        catalog(&fake, (118, None), "BALM-KAWAKAWA", 6.4, 8);
        let shop = platform_shop(
            BIGCOMMERCE_SHOP,
            Platform::BigCommerce,
            Some(&fake.api_toml()),
        );
        let config = tracked(&rig.config(&shop), BIGCOMMERCE_SHOP, SETTLE_SECS);
        let processor = TestProcessor::start(&config).await;

        // The pendant's webhook comes before the order, the balm's once it is booked.
        let toki = inventory(
            "store/sku/inventory/order/updated",
            112,
            Some(204),
            "relative",
            -1,
        );
        send(&rig, EventKind::Inventory, "bc-s-1", &toki).await;
        let order: Value = serde_json::from_slice(&xcs_tests::fixtures::bigcommerce(
            "store/order/created",
            310,
            credentials::BIGCOMMERCE_STORE_HASH,
        ))
        .unwrap();
        send(&rig, EventKind::Order, "bc-o-310", &order).await;
        booked(&rig.schema, "bc-o-310").await;
        let balm = inventory(
            "store/product/inventory/order/updated",
            118,
            None,
            "relative",
            -2,
        );
        send(&rig, EventKind::Inventory, "bc-s-2", &balm).await;
        nothing_to_adjust(&rig.schema, "bc-s-1").await;
        nothing_to_adjust(&rig.schema, "bc-s-2").await;
        at_store_levels(&rig.sim, &[("POUNAMU-TOKI", 9), ("BALM-KAWAKAWA", 8)]);

        // Five pendants delivered, the level typed into the admin.
        let delivered = inventory(
            "store/sku/inventory/updated",
            112,
            Some(204),
            "absolute",
            14,
        );
        send(&rig, EventKind::Inventory, "bc-s-3", &delivered).await;
        restocked(
            &rig.schema,
            &rig.sim,
            "bc-s-3",
            ("POUNAMU-TOKI", 5, Decimal::new(4850, 2), 14),
        )
        .await;
        processor.stop().await;
        fake.stop().await;
    }
}

/// Adobe Commerce order 000005120 (one THROW-MERINO, three SOCKS-PM and a gift card), its stock
/// item events carrying SKU and quantity, the cost from the product.
mod adobe_commerce {
    use super::*;

    fn product(fake: &FakePlatformApi, id: u64, sku: &str, cost: &str) {
        fake.put(
            &format!("/rest/V1/products/{sku}"),
            json!({"id": id, "sku": sku, "name": sku, "type_id": "simple",
                   "custom_attributes": [{"attribute_code": "cost", "value": cost}]}),
        );
    }

    #[tokio::test]
    async fn an_orders_stock_item_events_before_and_after_it_leave_xero_at_the_stores_level_and_a_restock_is_billed_at_the_products_cost()
     {
        let rig = Rig::new().await;
        add_tracked_item(&rig.sim, "THROW-MERINO", "Merino throw, natural", 10, 90);
        add_tracked_item(&rig.sim, "SOCKS-PM", "Possum-merino socks", 10, 8);
        let fake = FakePlatformApi::start(Platform::Magento).await;
        product(&fake, 2041, "THROW-MERINO", "96.500000");
        product(&fake, 2042, "SOCKS-PM", "7.250000");
        let shop = platform_shop(MAGENTO_SHOP, Platform::Magento, Some(&fake.api_toml()));
        let config = tracked(&rig.config(&shop), MAGENTO_SHOP, SETTLE_SECS);
        let processor = TestProcessor::start(&config).await;

        // The socks' stock is saved before the order event comes, the throw's after it is
        // booked.
        publish_adobe_stock(&rig.broker, "mg-s-1", 2042, "SOCKS-PM", "7.0000").await;
        let order = fixture("magento/order_save_after_000005120_nzd.json");
        publish(
            &rig.broker,
            Platform::Magento,
            MAGENTO_SHOP,
            EventKind::Order,
            order["type"].as_str().unwrap(),
            "mg-o-5120",
            &serde_json::to_vec(&order).unwrap(),
        )
        .await;
        booked(&rig.schema, "mg-o-5120").await;
        publish_adobe_stock(&rig.broker, "mg-s-2", 2041, "THROW-MERINO", "9.0000").await;
        nothing_to_adjust(&rig.schema, "mg-s-1").await;
        nothing_to_adjust(&rig.schema, "mg-s-2").await;
        at_store_levels(&rig.sim, &[("THROW-MERINO", 9), ("SOCKS-PM", 7)]);

        // Three throws back from the weaver.
        publish_adobe_stock(&rig.broker, "mg-s-3", 2041, "THROW-MERINO", "12.0000").await;
        restocked(
            &rig.schema,
            &rig.sim,
            "mg-s-3",
            ("THROW-MERINO", 3, Decimal::new(965, 1), 12),
        )
        .await;
        processor.stop().await;
        fake.stop().await;
    }
}

/// Etsy and eBay send no stock webhooks: the poller reads the fake's catalogue every
/// [`STOCK_EVERY`] seconds and publishes each SKU whose level changed.
mod polled {
    use super::*;

    const STOCK_EVERY: u64 = 2;

    /// The shop tracked, its stock read every [`STOCK_EVERY`] seconds and its orders not
    /// polled: they come by webhook only.
    fn config(setup: &PolledShop) -> String {
        let name = &setup.name;
        let poll = format!(
            "[shops.{name}.poll]\ninterval_secs = 0\noverlap_secs = 3600\nsettle_secs = 0\n\
             stock_interval_secs = {STOCK_EVERY}\n"
        );
        let config = test_config(
            &setup.broker,
            &setup.schema,
            &setup.sim,
            &format!("poll_every_ms = 200\n{}{poll}", setup.shop_sections()),
        );
        tracked(&config, name, SETTLE_SECS)
    }

    /// An active Etsy listing of one product, `sku`, with `quantity` available.
    fn etsy_listing(id: u64, sku: &str, quantity: u32) -> Value {
        json!({
            "listing_id": id, "shop_id": 31415926, "state": "active", "title": sku,
            "quantity": quantity,
            "inventory": {
                "products": [{
                    "product_id": id + 1, "sku": sku, "is_deleted": false,
                    "offerings": [{"offering_id": id + 2, "quantity": quantity,
                                   "is_enabled": true, "is_deleted": false,
                                   "price": {"amount": 3800, "divisor": 100,
                                             "currency_code": "NZD"}}],
                    "property_values": [],
                }],
                "price_on_property": [], "quantity_on_property": [], "sku_on_property": [],
                "readiness_state_on_property": [],
            },
        })
    }

    fn ebay_item(sku: &str, quantity: u32) -> Value {
        json!({
            "sku": sku, "locale": "en_US", "condition": "USED_EXCELLENT",
            "product": {"title": sku},
            "availability": {"shipToLocationAvailability": {"quantity": quantity}},
        })
    }

    /// What one platform's test sells and restocks.
    struct Sale {
        /// The order's SKUs, each with the units it sells.
        sold: [(&'static str, u32); 2],
        /// Its webhook: topic, event id and body.
        topic: &'static str,
        event_id: &'static str,
        body: Vec<u8>,
    }

    /// Xero and the store each hold 10 of every SKU `sale` sells; the first stock read finds
    /// them equal. The order is sold (the store's levels drop by its units, and its webhook
    /// comes) and the next read's levels find Xero at them; then five more of the first SKU
    /// are read, and billed at Xero's average cost (the platform gives none).
    async fn sold_then_restocked(setup: &PolledShop, sale: Sale) {
        for (sku, _) in sale.sold {
            add_tracked_item(&setup.sim, sku, sku, 10, 20);
        }
        let processor = TestProcessor::start(&config(setup)).await;
        for (sku, _) in sale.sold {
            let first = level_recorded(&setup.schema, &setup.name, sku, 10, HANDLED).await;
            nothing_to_adjust(&setup.schema, &first).await;
        }

        for (sku, units) in sale.sold {
            setup.api.set_stock_level(sku, u64::from(10 - units));
        }
        setup
            .publish_order(sale.topic, sale.event_id, &sale.body)
            .await;
        booked(&setup.schema, sale.event_id).await;
        for (sku, units) in sale.sold {
            let after = level_recorded(&setup.schema, &setup.name, sku, 10 - units, HANDLED).await;
            nothing_to_adjust(&setup.schema, &after).await;
        }
        let levels: Vec<(&str, u32)> = sale.sold.iter().map(|(s, u)| (*s, 10 - u)).collect();
        at_store_levels(&setup.sim, &levels);

        let (sku, units) = sale.sold[0];
        setup.api.set_stock_level(sku, u64::from(15 - units));
        let delivered = level_recorded(&setup.schema, &setup.name, sku, 15 - units, HANDLED).await;
        restocked(
            &setup.schema,
            &setup.sim,
            &delivered,
            (sku, 5, Decimal::from(20), 15 - units),
        )
        .await;
        processor.stop().await;
    }

    #[tokio::test]
    async fn an_etsy_receipt_and_the_listings_read_after_it_leave_xero_at_the_stores_level_and_a_restock_is_billed_at_average_cost()
     {
        let setup = PolledShop::start(Platform::Etsy, ShopSpec::Standard(ETSY_SHOP)).await;
        setup.api.put(
            "/v3/application/shops/31415926/receipts/2891034567",
            fixture("etsy/receipt_2891034567_nzd_export_au.json"),
        );
        setup
            .api
            .stock(etsy_listing(1_502_233_441, "CUP-CELADON", 10));
        setup
            .api
            .stock(etsy_listing(1_502_233_442, "TOWEL-TUI", 10));
        let body = xcs_tests::fixtures::etsy("ORDER_PAID", 31_415_926, 2_891_034_567);
        let sale = Sale {
            sold: [("CUP-CELADON", 2), ("TOWEL-TUI", 1)],
            topic: "ORDER_PAID",
            event_id: "etsy:nz-etsy:o-2891034567",
            body,
        };
        sold_then_restocked(&setup, sale).await;
    }

    #[tokio::test]
    async fn an_ebay_order_and_the_inventory_items_read_after_it_leave_xero_at_the_stores_level_and_a_restock_is_billed_at_average_cost()
     {
        let setup = PolledShop::start(Platform::Ebay, ShopSpec::Standard(EBAY_SHOP)).await;
        setup.api.put(
            "/sell/fulfillment/v1/order/27-13902-55814",
            fixture("ebay/order_27-13902-55814_usd_export_us.json"),
        );
        setup.api.stock(ebay_item("LENS-50", 10));
        setup.api.stock(ebay_item("CAP-52", 10));
        let notification = "49feeaeb-4982-42d9-a377-9645b8479411";
        let body = xcs_tests::fixtures::ebay("ORDER_CONFIRMATION", notification, "27-13902-55814");
        let sale = Sale {
            sold: [("CAP-52", 2), ("LENS-50", 1)],
            topic: "ORDER_CONFIRMATION",
            event_id: notification,
            body,
        };
        sold_then_restocked(&setup, sale).await;
    }
}
