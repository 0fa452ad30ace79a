//! Items Xero tracks as inventory (issue 17, "tracked inventory items sold beyond their quantity
//! on hand"; README "Booked again, payments recovered, …"), with the real RabbitMQ and
//! PostgreSQL and the simulator's stock: a shop whose SKU maps to a tracked item books its
//! sales against the stock; an order selling more than is on hand is dead-lettered once with
//! `xero_insufficient_stock` naming the item while other orders keep booking; once the stock
//! is raised in Xero, the replay books it once. The processor never asks for backorders, so it
//! behaves the same whether Xero honours `allowBackorders` or not.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_processor::operate::ProgressBar;
use xcs_processor::operate::dead::{self, Filter, ReplayOptions};
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_tests::fixtures;
use xcs_tests::processor::{
    Rig, SHOP, TestProcessor, envelope, invoices_numbered, payments_on, publish_envelope,
    wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, Readings};

const HANDLED: Duration = Duration::from_secs(40);

/// The tracked item the shop's `MUG-KAURI` (the fixture order's SKU) maps to.
const ITEM: &str = "MUG-1";

/// The rig, its simulator under `readings`, with `ITEM` tracked and `on_hand` units in stock.
async fn rig(readings: Readings, on_hand: u32) -> Rig {
    let rig = Rig::new().await;
    rig.sim.set_readings(readings);
    rig.sim
        .add_item(
            DEMO_NZ_TENANT_ID,
            &json!({
                "Code": ITEM, "Name": "Kauri mug",
                "InventoryAssetAccountCode": "630",
                "PurchaseDetails": {"COGSAccountCode": "310"},
                "SalesDetails": {"AccountCode": "200", "TaxType": "OUTPUT2"},
                "QuantityOnHand": on_hand, "TotalCostPool": on_hand * 8,
            }),
        )
        .expect("the item is valid");
    rig
}

/// The test config, the Shopify shop mapping its mug SKU to the tracked item.
fn config(rig: &Rig) -> String {
    rig.config("").replacen(
        "document_prefix = \"SH-\"",
        &format!("document_prefix = \"SH-\"\nitems = {{ \"MUG-KAURI\" = \"{ITEM}\" }}"),
        1,
    )
}

/// Publishes a paid Shopify order event, received now; returns its event id.
async fn order(rig: &Rig, number: u64, body: &[u8]) -> String {
    let event_id = format!("shopify:{SHOP}:p-{number}");
    let envelope = Envelope {
        received_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        ..envelope(
            Platform::Shopify,
            SHOP,
            EventKind::Order,
            "orders/paid",
            &event_id,
        )
    };
    publish_envelope(&rig.broker, &envelope, body).await;
    event_id
}

/// The tracked item's `QuantityOnHand`.
fn on_hand(rig: &Rig) -> f64 {
    let items = rig.sim.items(DEMO_NZ_TENANT_ID);
    let item = items
        .iter()
        .find(|i| i["Code"] == ITEM)
        .expect("the item exists");
    item["QuantityOnHand"].as_f64().expect("a tracked item")
}

/// The fixture order `number` (two mugs), with its SKU replaced by `sku`.
fn order_of(number: u64, sku: &str) -> Vec<u8> {
    let mut order: Value =
        serde_json::from_slice(&fixtures::shopify_nz_order(6000 + number, number, true)).unwrap();
    order["line_items"][0]["sku"] = json!(sku);
    serde_json::to_vec(&order).unwrap()
}

async fn an_order_beyond_the_stock_waits_in_the_dead_queue_until_the_stock_is_raised(
    readings: Readings,
    first: u64,
) {
    // Arrange: three mugs in stock.
    let setup = rig(readings, 3).await;
    let processor = TestProcessor::start(&config(&setup)).await;
    let (sold, short, other) = (first, first + 1, first + 2);

    // Act: two mugs sold, two more ordered (one is left), then an order of an unmapped SKU.
    let sold_event = order(&setup, sold, &order_of(sold, "MUG-KAURI")).await;
    let (outcome, detail) = wait_handled(&setup.schema, &sold_event, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let short_event = order(&setup, short, &order_of(short, "MUG-KAURI")).await;
    let dead_letter = xcs_tests::eventually(HANDLED, "the short order's dead letter", || {
        let broker = &setup.broker;
        async move {
            let connection = broker.connect().await;
            let listing = dead::list(&connection, &Filter::default(), &ProgressBar::hidden())
                .await
                .ok()?;
            (!listing.letters.is_empty()).then_some(listing.letters)
        }
    })
    .await;
    let other_event = order(&setup, other, &order_of(other, "MUG-RIMU")).await;
    let (outcome, detail) = wait_handled(&setup.schema, &other_event, HANDLED).await;

    // Assert: the first and the last booked; the short one dead at once, naming the item and
    // the way out, its invoice not in Xero and the stock untouched by it.
    assert_eq!(outcome, "booked", "{detail}");
    let booked = &invoices_numbered(&setup.sim, &format!("SH-{sold}"))[0];
    assert_eq!(booked["LineItems"][0]["ItemCode"], ITEM, "{booked:#}");
    assert_eq!(dead_letter.len(), 1, "{dead_letter:#?}");
    let letter = &dead_letter[0];
    assert_eq!(letter.event_id, short_event);
    assert_eq!(letter.reason, "xero_insufficient_stock");
    assert_eq!(letter.attempts, Some(1), "dead at once, no retries spent");
    let error = letter.last_error.clone().unwrap_or_default();
    for part in [
        "item MUG-1 is tracked as inventory",
        "1.0000 on hand, 2.0000 needed",
        "turn off inventory tracking",
        "dead replay --reason xero_insufficient_stock",
    ] {
        assert!(error.contains(part), "{part:?} in {error}");
    }
    assert!(invoices_numbered(&setup.sim, &format!("SH-{short}")).is_empty());
    assert_eq!(on_hand(&setup), 1.0);

    // The seller raises the stock in Xero and replays: booked once, paid once.
    setup
        .sim
        .adjust_stock(
            DEMO_NZ_TENANT_ID,
            ITEM,
            Decimal::from(5),
            Some(Decimal::from(40)),
        )
        .unwrap();
    let connection = setup.broker.connect().await;
    let report = dead::replay(
        &connection,
        &Filter {
            reason: Some("xero_insufficient_stock".into()),
            ..Filter::default()
        },
        &ReplayOptions::default(),
    )
    .await
    .expect("the replay runs");
    assert_eq!(report.replayed.len(), 1);
    let (outcome, detail) = wait_handled(&setup.schema, &short_event, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let replayed = invoices_numbered(&setup.sim, &format!("SH-{short}"));
    assert_eq!(replayed.len(), 1, "{replayed:#?}");
    assert_eq!(replayed[0]["Status"], "PAID");
    assert_eq!(payments_on(&setup.sim, &replayed[0]).len(), 1);
    assert_eq!(on_hand(&setup), 4.0);
    assert_eq!(setup.broker.depth(topology::DEAD_QUEUE).await, 0);
    processor.stop().await;
}

#[tokio::test]
async fn an_order_beyond_a_tracked_items_stock_is_dead_lettered_once_and_books_on_replay() {
    an_order_beyond_the_stock_waits_in_the_dead_queue_until_the_stock_is_raised(
        Readings::default(),
        1201,
    )
    .await;
}

#[tokio::test]
async fn the_same_holds_where_xero_would_honour_allow_backorders() {
    an_order_beyond_the_stock_waits_in_the_dead_queue_until_the_stock_is_raised(
        Readings {
            backorders_honoured: true,
            ..Readings::default()
        },
        1211,
    )
    .await;
}
