//! `xcs-processor backfill` on Shopify: 1,000 orders of history, with webhooks for some of
//! them arriving while it runs, each booked exactly once; the dry run's plan; running the
//! same range again resumes at its end and books nothing more.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_processor::poll::backfill::{BackfillOptions, backfill};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::FakePlatformApi;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{ShopToml, TestProcessor, publish, shop_toml, test_config};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const SHOP: &str = "nz-shopify-history";
const ORDERS: u64 = 1_000;

fn history_order(n: u64, at: OffsetDateTime) -> Value {
    let mut order: Value = serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(
        20_000 + n,
        30_000 + n,
        true,
    ))
    .unwrap();
    order["updated_at"] = json!(at.format(&Rfc3339).unwrap());
    order["refunds"] = json!([]);
    order
}

fn booked_numbers(sim: &RunningSim) -> Vec<String> {
    sim.invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
        .iter()
        .filter_map(|i| i["InvoiceNumber"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with("BF-3"))
        .collect()
}

#[tokio::test]
async fn a_backfill_of_1000_orders_with_webhooks_arriving_books_each_once() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let api = FakePlatformApi::start(Platform::Shopify).await;
    let now = OffsetDateTime::now_utc();
    // A month of history, one order every 43 minutes or so.
    let orders: Vec<Value> = (0..ORDERS)
        .map(|n| {
            history_order(
                n,
                now - time::Duration::days(30)
                    + time::Duration::minutes(43 * i64::try_from(n).unwrap()),
            )
        })
        .collect();
    for order in &orders {
        api.list(order.clone());
    }
    let shop = shop_toml(&ShopToml {
        name: SHOP,
        platform: Platform::Shopify,
        tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
        prefix: "BF-",
        clearing: "615",
        api: Some(&api.api_toml()),
    }) + &format!("[shops.{SHOP}.poll]\ninterval_secs = 0\n");
    let toml = test_config(&broker, &schema, &sim, &shop);
    let processor = TestProcessor::start(&toml).await;
    let config = xcs_processor::config::Config::from_toml(&toml, |_| None).unwrap();
    let ledger = xcs_processor::ledger::Ledger::connect(&config.postgres)
        .await
        .unwrap();
    let options = |dry_run| BackfillOptions {
        shop: SHOP.to_owned(),
        from: now - time::Duration::days(31),
        to: now,
        dry_run,
        progress: xcs_processor::operate::ProgressBar::hidden(),
    };

    let dry = options(true);
    let plan = backfill(&config, &ledger, &dry).await.unwrap();
    assert_eq!(plan.tally.orders, 1_000);
    assert_eq!(plan.documents, 1_000);
    // An invoice and a payment call per batch of 50.
    assert_eq!(plan.xero_calls, 40);
    assert!(booked_numbers(&sim).is_empty(), "a dry run books nothing");

    // Webhooks for every tenth order arrive while the backfill runs.
    let webhooks = async {
        for (n, order) in orders.iter().enumerate().step_by(10) {
            publish(
                &broker,
                Platform::Shopify,
                SHOP,
                EventKind::Order,
                "orders/paid",
                &format!("shopify:{SHOP}:webhook-{n}"),
                &serde_json::to_vec(order).unwrap(),
            )
            .await;
        }
    };
    let run = options(false);
    let (plan, ()) = tokio::join!(backfill(&config, &ledger, &run), webhooks);
    let plan = plan.unwrap();
    assert_eq!(plan.tally.orders, 1_000);
    assert!(plan.resumed_from.is_none());

    xcs_tests::eventually(Duration::from_secs(120), "1,000 invoices", || async {
        (booked_numbers(&sim).len() >= 1_000).then_some(())
    })
    .await;
    // The same range again: it resumes at its end, reads nothing, books nothing.
    let again = backfill(&config, &ledger, &run).await.unwrap();
    assert_eq!(again.tally.orders, 0, "{again:?}");
    assert!(again.resumed_from.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut numbers = booked_numbers(&sim);
    numbers.sort();
    let before = numbers.len();
    numbers.dedup();
    assert_eq!(before, 1_000, "each order once");
    assert_eq!(numbers.len(), 1_000);
    processor.stop().await;
}
