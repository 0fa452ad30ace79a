//! `xcs-processor backfill` on Shopify: 1,000 orders of history, with webhooks for some of
//! them arriving while it runs, each booked exactly once; the dry run's plan; running the
//! same range again resumes at its end and books nothing more.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use xcs_processor::poll::backfill::{BackfillOptions, backfill};
use xcs_shared::Platform;
use xcs_tests::polled::{PolledShop, ShopSpec, shopify_listed_order};
use xcs_tests::processor::{TestProcessor, test_config};
use xcs_xero_sim::RunningSim;

const SHOP: &str = "nz-shopify-history";
const ORDERS: u64 = 1_000;

fn history_order(n: u64, at: OffsetDateTime) -> Value {
    shopify_listed_order(20_000 + n, 30_000 + n, at)
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
    let contacts = r#"{ strategy = "generic", name = "Shopify Sales" }"#;
    let shop = ShopSpec::mapped(SHOP, contacts, "BF-", "615");
    let setup = PolledShop::start(Platform::Shopify, shop).await;
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
        setup.api.list(order.clone());
    }
    // Polling off, so only the backfill reads the history.
    let shop = format!(
        "{}[shops.{SHOP}.poll]\ninterval_secs = 0\n",
        setup.shop_sections()
    );
    let toml = test_config(&setup.broker, &setup.schema, &setup.sim, &shop);
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
    assert!(
        booked_numbers(&setup.sim).is_empty(),
        "a dry run books nothing"
    );

    // Webhooks for every tenth order arrive while the backfill runs.
    let webhooks = async {
        for (n, order) in orders.iter().enumerate().step_by(10) {
            let event_id = format!("shopify:{SHOP}:webhook-{n}");
            setup
                .publish_order(
                    "orders/paid",
                    &event_id,
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
        (booked_numbers(&setup.sim).len() >= 1_000).then_some(())
    })
    .await;
    // The same range again: it resumes at its end, reads nothing, books nothing.
    let again = backfill(&config, &ledger, &run).await.unwrap();
    assert_eq!(again.tally.orders, 0, "{again:?}");
    assert!(again.resumed_from.is_some());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut numbers = booked_numbers(&setup.sim);
    numbers.sort();
    let before = numbers.len();
    numbers.dedup();
    assert_eq!(before, 1_000, "each order once");
    assert_eq!(numbers.len(), 1_000);
    processor.stop().await;
}
