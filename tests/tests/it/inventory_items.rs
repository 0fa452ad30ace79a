//! `inventory = "items"` (README "Inventory: items mode"): every SKU a sale or refund carries
//! is a Xero item, made on first use and cached in the ledger, and the document lines carry
//! its code; a shop left `off` sends none.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::platform_api::{self, FakePlatformApi};
use xcs_tests::processor::{
    BIGCOMMERCE_SHOP, EBAY_SHOP, ETSY_SHOP, MAGENTO_SHOP, Rig, SHOP, TestProcessor, WOO_SHOP,
    amount, credit_notes_numbered, one_invoice, platform_shop, publish, wait_handled,
};
use xcs_tests::stock::publish_stock;
use xcs_xero_sim::DEMO_NZ_TENANT_ID;

const HANDLED: Duration = Duration::from_secs(20);
const LONG_SKU: &str = "LINEN-TEA-TOWEL-POHUTUKAWA-LARGE-2026";

/// `rig`'s config with `shops` in items mode.
fn items_config(rig: &Rig, shops: &[&str]) -> String {
    items_config_with(rig, "", shops)
}

/// `rig`'s config with `extra` (more shops' sections) and `shops` in items mode.
fn items_config_with(rig: &Rig, extra: &str, shops: &[&str]) -> String {
    let mut config = rig.config(extra);
    for shop in shops {
        let header = format!("[shops.{shop}]\n");
        config = config.replacen(&header, &format!("{header}inventory = \"items\"\n"), 1);
    }
    config
}

/// A paid Shopify order of two SKUs: two Kauri mugs (a SKU that is its own code) and a tea
/// towel whose SKU is too long for a Xero code, and shipping (no SKU).
fn two_sku_order(id: u64, number: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id,
        "name": format!("#{number}"),
        "order_number": number,
        "email": "aroha@example.co.nz",
        "created_at": "2026-11-20T10:00:00+13:00",
        "processed_at": "2026-11-20T10:00:00+13:00",
        "updated_at": "2026-11-20T10:00:00+13:00",
        "currency": "NZD",
        "presentment_currency": "NZD",
        "financial_status": "paid",
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "taxes_included": false,
        "total_line_items_price": "60.00",
        "total_discounts": "5.00",
        "subtotal_price": "55.00",
        "total_tax": "9.75",
        "total_price": "74.75",
        "line_items": [{
            "id": id * 10 + 1, "title": "Kauri mug", "sku": "MUG-KAURI", "quantity": 2,
            "price": "25.00", "total_discount": "5.00", "taxable": true,
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "6.75"}]
        }, {
            "id": id * 10 + 2, "title": "Pōhutukawa tea towel", "sku": LONG_SKU, "quantity": 1,
            "price": "10.00", "total_discount": "0.00", "taxable": true,
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "1.50"}]
        }],
        "shipping_lines": [{
            "title": "Courier", "price": "10.00", "discounted_price": "10.00",
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "1.50"}]
        }],
        "tax_lines": [{"title": "GST", "rate": 0.15, "price": "9.75"}],
        "refunds": []
    }))
    .unwrap()
}

/// The tea towel of [`two_sku_order`] `order_id` back: 10.00 + 1.50 GST.
fn towel_refund(refund_id: u64, order_id: u64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": refund_id,
        "order_id": order_id,
        "created_at": "2026-11-22T09:00:00+13:00",
        "processed_at": "2026-11-22T09:00:00+13:00",
        "note": "Wrong colour",
        "refund_line_items": [{
            "id": 1, "line_item_id": order_id * 10 + 2, "quantity": 1,
            "subtotal": "10.00", "total_tax": "1.50",
            "line_item": {"sku": LONG_SKU, "title": "Pōhutukawa tea towel", "price": "10.00"}
        }],
        "transactions": [{
            "id": refund_id, "kind": "refund", "status": "success", "amount": "11.50",
            "currency": "NZD", "gateway": "shopify_payments",
            "created_at": "2026-11-22T09:00:00+13:00", "processed_at": "2026-11-22T09:00:00+13:00"
        }],
        "order_adjustments": []
    }))
    .unwrap()
}

/// Each line's (description, item code).
fn line_codes(document: &Value) -> Vec<(String, Option<String>)> {
    document["LineItems"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["Description"].as_str().unwrap_or_default().to_owned(),
                l["ItemCode"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// The simulator's items, less the demo organisation's own (`seeded`).
fn made(rig: &Rig, seeded: &[Value]) -> Vec<Value> {
    rig.sim
        .items(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| !seeded.iter().any(|s| s["ItemID"] == i["ItemID"]))
        .collect()
}

/// The item-creating calls the simulator was sent.
fn item_writes(rig: &Rig) -> usize {
    rig.sim
        .journal()
        .iter()
        .filter(|e| e.method != "GET" && e.path.ends_with("/Items"))
        .count()
}

async fn booked(rig: &Rig, event_id: &str) {
    let (outcome, detail) = wait_handled(&rig.schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{event_id}: {detail}");
}

#[tokio::test]
async fn a_shopify_shop_in_items_mode_makes_each_skus_item_once_and_its_lines_carry_the_codes() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    let processor = TestProcessor::start(&items_config(&rig, &[SHOP])).await;
    let towel = xcs_processor::mapping::xero_item_code(LONG_SKU).unwrap();
    assert_ne!(towel, LONG_SKU);

    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:i-1",
        &two_sku_order(6001, 2001),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:i-1").await;
    let items = made(&rig, &seeded);
    assert_eq!(items.len(), 2, "{items:#?}");
    let mug = items
        .iter()
        .find(|i| i["Code"] == "MUG-KAURI")
        .expect("the mug");
    assert_eq!(mug["Name"], "Kauri mug");
    assert_eq!(mug["IsSold"], true);
    assert_eq!(mug["IsPurchased"], false);
    assert_eq!(mug["IsTrackedAsInventory"], false);
    assert_eq!(mug["SalesDetails"]["AccountCode"], "200");
    assert_eq!(mug["SalesDetails"]["TaxType"], "OUTPUT2");
    let towel_item = items
        .iter()
        .find(|i| i["Code"] == towel.as_str())
        .expect("the towel, under its mapped code");
    assert_eq!(towel_item["Name"], "Pōhutukawa tea towel");
    assert!(
        towel_item["Description"]
            .as_str()
            .is_some_and(|d| d.contains(LONG_SKU)),
        "the description keeps the SKU: {towel_item:#?}"
    );
    assert_eq!(item_writes(&rig), 2);

    let invoice = one_invoice(&rig.sim, "SH-2001");
    let codes: Vec<Option<String>> = line_codes(&invoice).into_iter().map(|(_, c)| c).collect();
    assert_eq!(
        codes,
        [Some("MUG-KAURI".to_owned()), Some(towel.clone()), None],
        "{invoice:#?}"
    );
    assert_eq!(amount(&invoice["Total"]), Decimal::new(7475, 2));

    // The same SKUs again: the ledger knows both items, Xero is not asked.
    let before = rig.sim.journal().len();
    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:i-2",
        &two_sku_order(6002, 2002),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:i-2").await;
    assert_eq!(made(&rig, &seeded).len(), 2);
    assert_eq!(item_writes(&rig), 2);
    assert!(
        !rig.sim.journal()[before..]
            .iter()
            .any(|e| e.path.ends_with("/Items")),
        "no item look-up for known SKUs"
    );
    let second = one_invoice(&rig.sim, "SH-2002");
    assert_eq!(line_codes(&second), line_codes(&invoice));

    // A refund's credit note names the refunded line's item.
    rig.publish(
        EventKind::Refund,
        "refunds/create",
        "shopify:nz-shopify:ir-1",
        &towel_refund(8001, 6001),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:ir-1").await;
    let notes = credit_notes_numbered(&rig.sim, "SH-2001/R8001");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    let codes: Vec<Option<String>> = line_codes(&notes[0]).into_iter().map(|(_, c)| c).collect();
    assert_eq!(codes, [Some(towel)]);
    assert_eq!(amount(&notes[0]["Total"]), Decimal::new(1150, 2));
    assert_eq!(item_writes(&rig), 2);
    processor.stop().await;
}

#[tokio::test]
async fn an_item_the_seller_already_has_in_xero_is_adopted_not_made_again() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    // The seller's own item for the mug, made in Xero before the shop went to items mode.
    rig.sim
        .add_item(
            DEMO_NZ_TENANT_ID,
            &json!({"Code": "mug-kauri", "Name": "Mug (seller's)", "IsSold": true}),
        )
        .expect("seeded");
    let processor = TestProcessor::start(&items_config(&rig, &[SHOP])).await;
    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:i-3",
        &two_sku_order(6003, 2003),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:i-3").await;
    let items = made(&rig, &seeded);
    assert_eq!(
        items.len(),
        2,
        "the mug adopted, only the towel made: {items:#?}"
    );
    assert_eq!(item_writes(&rig), 1);
    let invoice = one_invoice(&rig.sim, "SH-2003");
    // Xero compares codes case-insensitively, and a line names the item by its own code.
    assert_eq!(line_codes(&invoice)[0].1.as_deref(), Some("mug-kauri"));
    processor.stop().await;
}

#[tokio::test]
async fn a_shop_left_off_sends_no_item_code_and_makes_no_item() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    let processor = TestProcessor::start(&rig.config("")).await;
    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:o-1",
        &two_sku_order(6101, 2101),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:o-1").await;
    let invoice = one_invoice(&rig.sim, "SH-2101");
    assert!(
        line_codes(&invoice).iter().all(|(_, code)| code.is_none()),
        "{invoice:#?}"
    );
    assert!(made(&rig, &seeded).is_empty());
    assert_eq!(item_writes(&rig), 0);
    processor.stop().await;
}

#[tokio::test]
async fn a_woocommerce_shop_in_items_mode_names_the_item_of_each_line_with_a_sku() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    let processor = TestProcessor::start(&items_config(&rig, &[WOO_SHOP])).await;
    let event = "woocommerce:nz-woo:i-1";
    let body = serde_json::to_vec(&platform_api::fixture(
        "woocommerce/order_4417_nzd_tax_inclusive.json",
    ))
    .unwrap();
    publish(
        &rig.broker,
        Platform::WooCommerce,
        WOO_SHOP,
        EventKind::Order,
        "order.created",
        event,
        &body,
    )
    .await;
    booked(&rig, event).await;
    let mut codes: Vec<String> = made(&rig, &seeded)
        .iter()
        .map(|i| i["Code"].as_str().unwrap_or_default().to_owned())
        .collect();
    codes.sort();
    assert_eq!(codes, ["KETE-L", "KOHA-FB"]);
    let koha = made(&rig, &seeded)
        .into_iter()
        .find(|i| i["Code"] == "KOHA-FB")
        .unwrap();
    assert_eq!(
        koha["SalesDetails"]["TaxType"], "ZERORATED",
        "the line's own tax type: {koha:#?}"
    );
    let invoice = one_invoice(&rig.sim, "WC-4417");
    let carried: Vec<String> = line_codes(&invoice)
        .into_iter()
        .filter_map(|(_, c)| c)
        .collect();
    assert_eq!(carried, ["KETE-L", "KOHA-FB"], "{invoice:#?}");
    assert_eq!(item_writes(&rig), 2);
    processor.stop().await;
}

#[tokio::test]
async fn an_item_made_by_another_processor_between_look_up_and_create_is_found_again() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    // Another processor made the mug's item after this one's look-up answered "none": the
    // look-up is answered empty once, and Xero refuses the create as a duplicate code.
    rig.sim
        .add_item(
            DEMO_NZ_TENANT_ID,
            &json!({"Code": "MUG-KAURI", "Name": "Kauri mug", "IsSold": true}),
        )
        .expect("seeded");
    rig.sim.inject_fault(
        xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::Status {
            status: 200,
            body: Some(r#"{"Items":[]}"#.to_owned()),
        })
        .method("GET")
        .path_prefix("/api.xro/2.0/Items"),
    );
    let processor = TestProcessor::start(&items_config(&rig, &[SHOP])).await;
    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:i-4",
        &two_sku_order(6004, 2004),
    )
    .await;
    booked(&rig, "shopify:nz-shopify:i-4").await;
    assert_eq!(made(&rig, &seeded).len(), 2, "no second mug");
    assert_eq!(item_writes(&rig), 2, "the refused mug and the towel");
    let invoice = one_invoice(&rig.sim, "SH-2004");
    assert_eq!(line_codes(&invoice)[0].1.as_deref(), Some("MUG-KAURI"));
    processor.stop().await;
}

#[tokio::test]
async fn a_derived_code_another_sku_already_has_is_refused_naming_both_skus() {
    let rig = Rig::new().await;
    let config = items_config(&rig, &[SHOP]);
    let processor = TestProcessor::start(&config).await;
    // As if another SKU's derived code had come out the same (40 bits of hash make that
    // unlikely, not impossible): the ledger has the code claimed by it.
    let client = rig.schema.client().await;
    client
        .execute(
            "INSERT INTO xcs_items (tenant, code_key, code, item_id, sku)
             VALUES ($1, 'MUG-KAURI', 'MUG-KAURI', $2, 'MUG-KAURĪ')",
            &[
                &DEMO_NZ_TENANT_ID.to_string(),
                &"00000000-0000-0000-0000-000000000042",
            ],
        )
        .await
        .unwrap();
    rig.publish(
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:i-5",
        &two_sku_order(6005, 2005),
    )
    .await;
    let dead = xcs_tests::eventually(HANDLED, "a dead letter", || async {
        let dead = rig.broker.take_all(xcs_shared::topology::DEAD_QUEUE).await;
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    let error = dead[0]
        .header("xcs-last-error")
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains("MUG-KAURI")
            && error.contains("MUG-KAURĪ")
            && error.contains("mapping.items"),
        "{error}"
    );
    assert!(xcs_tests::processor::invoices_numbered(&rig.sim, "SH-2005").is_empty());
    processor.stop().await;
}

/// An order of another platform's booking tests (`processor_platforms`), as its shop receives it.
struct PlatformOrder<'a> {
    platform: Platform,
    shop: &'a str,
    /// The shop's fake API, for a platform whose webhooks are thin.
    api: Option<&'a FakePlatformApi>,
    topic: &'a str,
    id: &'a str,
    body: Value,
    /// The invoice's number.
    number: &'a str,
    /// The item code each invoice line carries, in order.
    codes: &'a [Option<&'a str>],
}

/// Books `order` with its shop in items mode: its lines carry `codes` (lines without a SKU,
/// and those not products, none), and each code is one item made in the simulator, once.
async fn books_naming_its_items(order: PlatformOrder<'_>) {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    let api = order.api.map(FakePlatformApi::api_toml);
    let section = platform_shop(order.shop, order.platform, api.as_deref());
    let processor = TestProcessor::start(&items_config_with(&rig, &section, &[order.shop])).await;
    let event = format!("{}:{}:{}", order.platform, order.shop, order.id);
    let kind = xcs_ingress::platforms::topic_kind(order.platform, order.topic).expect("booked");
    let body = serde_json::to_vec(&order.body).unwrap();
    publish(
        &rig.broker,
        order.platform,
        order.shop,
        kind,
        order.topic,
        &event,
        &body,
    )
    .await;
    booked(&rig, &event).await;

    let invoice = one_invoice(&rig.sim, order.number);
    let carried: Vec<Option<String>> = line_codes(&invoice).into_iter().map(|(_, c)| c).collect();
    let codes: Vec<Option<String>> = order.codes.iter().map(|c| c.map(str::to_owned)).collect();
    assert_eq!(carried, codes, "{invoice:#?}");
    let mut made_codes: Vec<String> = made(&rig, &seeded)
        .iter()
        .map(|i| i["Code"].as_str().unwrap_or_default().to_owned())
        .collect();
    made_codes.sort();
    let mut expected: Vec<String> = codes.into_iter().flatten().collect();
    expected.sort();
    expected.dedup();
    assert_eq!(made_codes, expected, "one item per SKU");
    assert_eq!(item_writes(&rig), expected.len());
    processor.stop().await;
}

#[tokio::test]
async fn a_bigcommerce_shop_in_items_mode_names_the_item_of_each_product_line() {
    use crate::processor_platforms::{bigcommerce_api, bigcommerce_webhook};
    let api = bigcommerce_api().await;
    books_naming_its_items(PlatformOrder {
        platform: Platform::BigCommerce,
        shop: BIGCOMMERCE_SHOP,
        api: Some(&api),
        topic: "store/order/created",
        id: "msg_2Nf8Kq310items",
        body: bigcommerce_webhook("store/order/created"),
        number: "BC-310",
        codes: &[Some("POUNAMU-TOKI"), Some("BALM-KAWAKAWA"), None],
    })
    .await;
}

#[tokio::test]
async fn an_adobe_commerce_shop_in_items_mode_names_the_item_of_each_product_line() {
    let body = crate::processor_platforms::magento_order_event();
    let topic = body["type"].as_str().unwrap().to_owned();
    let id = body["event_id"].as_str().unwrap().to_owned();
    books_naming_its_items(PlatformOrder {
        platform: Platform::Magento,
        shop: MAGENTO_SHOP,
        api: None,
        topic: &topic,
        id: &id,
        body,
        number: "MG-000005120",
        // The gift card (GIFT-50) is a liability sold, not a product: no item, as in `off`.
        codes: &[Some("THROW-MERINO"), Some("SOCKS-PM"), None, None],
    })
    .await;
}

#[tokio::test]
async fn an_etsy_shop_in_items_mode_names_the_item_of_each_listing_line() {
    use crate::processor_platforms::{ETSY_RECEIPT, etsy_webhook};
    let api = FakePlatformApi::start(Platform::Etsy).await;
    api.put(
        ETSY_RECEIPT,
        platform_api::fixture("etsy/receipt_2891034567_nzd_export_au.json"),
    );
    books_naming_its_items(PlatformOrder {
        platform: Platform::Etsy,
        shop: ETSY_SHOP,
        api: Some(&api),
        topic: "ORDER_PAID",
        id: "msg_2KWPBgLlAfxdpx2AI54pPJ85items",
        body: etsy_webhook(),
        number: "ET-2891034567",
        codes: &[Some("CUP-CELADON"), Some("TOWEL-TUI"), None, None],
    })
    .await;
}

#[tokio::test]
async fn an_ebay_shop_in_items_mode_names_the_item_of_each_line_item() {
    use crate::processor_platforms::{EBAY_ORDER, ebay_notification, ebay_order};
    let api = FakePlatformApi::start(Platform::Ebay).await;
    api.put(EBAY_ORDER, ebay_order());
    let id = "49feeaeb-4982-42d9-a377-9645b84794ff";
    books_naming_its_items(PlatformOrder {
        platform: Platform::Ebay,
        shop: EBAY_SHOP,
        api: Some(&api),
        topic: "ORDER_CONFIRMATION",
        id,
        body: ebay_notification(id),
        number: "EB-27-13902-55814",
        codes: &[Some("LENS-50"), Some("CAP-52"), None],
    })
    .await;
}

#[tokio::test]
async fn a_stock_event_in_items_mode_makes_the_skus_item_and_a_rename_follows_the_product() {
    let rig = Rig::new().await;
    let seeded = rig.sim.items(DEMO_NZ_TENANT_ID);
    let processor = TestProcessor::start(&items_config(&rig, &[WOO_SHOP])).await;
    let product = |name: &str| {
        json!({
            "id": 81, "name": name, "sku": "KETE-L", "manage_stock": true,
            "stock_quantity": 12, "date_modified_gmt": "2026-11-27T09:00:00",
        })
    };
    let send = |event: &'static str, body: Value| {
        let rig = &rig;
        async move {
            publish_stock(
                &rig.broker,
                Platform::WooCommerce,
                WOO_SHOP,
                "product.updated",
                event,
                &body,
            )
            .await;
            let (outcome, detail) = wait_handled(&rig.schema, event, HANDLED).await;
            assert_eq!(outcome, "skipped", "{event}: {detail}");
            detail
        }
    };
    // A product the store stocks and has not sold yet: its item is made, untracked.
    let detail = send("woocommerce:nz-woo:p-1", product("Harakeke kete")).await;
    assert!(detail.contains("item KETE-L made"), "{detail}");
    let items = made(&rig, &seeded);
    assert_eq!(items.len(), 1, "{items:#?}");
    assert_eq!(items[0]["Name"], "Harakeke kete");
    assert_eq!(items[0]["IsTrackedAsInventory"], false);
    assert_eq!(items[0]["SalesDetails"]["AccountCode"], "200");
    // Saved again unchanged: nothing asked of Xero.
    let before = rig.sim.journal().len();
    send("woocommerce:nz-woo:p-2", product("Harakeke kete")).await;
    assert_eq!(
        rig.sim.journal().len(),
        before,
        "no Xero call for a known item"
    );
    // Renamed on the store: renamed in Xero, once.
    let detail = send("woocommerce:nz-woo:p-3", product("Harakeke kete, large")).await;
    assert!(detail.contains("renamed"), "{detail}");
    let renames: Vec<String> = rig.sim.journal()[before..]
        .iter()
        .filter(|e| e.method == "POST" && e.path.contains("/Items/"))
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(renames.len(), 1, "{renames:?}");
    assert_eq!(item_writes(&rig), 1, "made once, not again");
    assert_eq!(made(&rig, &seeded)[0]["Name"], "Harakeke kete, large");
    processor.stop().await;
}
