//! `xcs-processor backfill` on Shopify: 1,000 orders of history, with webhooks for some of
//! them arriving while it runs, each booked exactly once; the dry run's plan; running the
//! same range again resumes at its end and books nothing more; with no processor booking, a
//! backfill fills the shards only to its flow-control limit and waits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use xcs_processor::config::Config;
use xcs_processor::ledger::Ledger;
use xcs_processor::poll::backfill::{BackfillOptions, backfill};
use xcs_processor::poll::room::MAX_READY;
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

/// A Shopify shop with a month of history on its fake API, one order every 43 minutes or so,
/// its poller off so that only a backfill reads the history.
struct History {
    setup: PolledShop,
    orders: Vec<Value>,
    toml: String,
    config: Config,
    ledger: Ledger,
    now: OffsetDateTime,
}

impl History {
    async fn start() -> Self {
        let contacts = r#"{ strategy = "generic", name = "Shopify Sales" }"#;
        let shop = ShopSpec::mapped(SHOP, contacts, "BF-", "615");
        let setup = PolledShop::start(Platform::Shopify, shop).await;
        let now = OffsetDateTime::now_utc();
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
        let shop = format!(
            "{}[shops.{SHOP}.poll]\ninterval_secs = 0\n",
            setup.shop_sections()
        );
        let toml = test_config(&setup.broker, &setup.schema, &setup.sim, &shop);
        let config = Config::from_toml(&toml, |_| None).unwrap();
        let ledger = Ledger::connect(&config.postgres).await.unwrap();
        History {
            setup,
            orders,
            toml,
            config,
            ledger,
            now,
        }
    }

    fn options(&self, dry_run: bool) -> BackfillOptions {
        BackfillOptions {
            shop: SHOP.to_owned(),
            from: self.now - time::Duration::days(31),
            to: self.now,
            dry_run,
            progress: xcs_processor::operate::ProgressBar::hidden(),
        }
    }

    async fn wait_all_booked(&self) {
        xcs_tests::eventually(Duration::from_secs(120), "1,000 invoices", || async {
            (booked_numbers(&self.setup.sim).len() >= 1_000).then_some(())
        })
        .await;
    }

    async fn shards_ready(&self) -> u32 {
        let mut ready = 0;
        for queue in xcs_shared::topology::shard_queues() {
            ready += self.setup.broker.depth(&queue).await;
        }
        ready
    }
}

#[tokio::test]
async fn a_backfill_of_1000_orders_with_webhooks_arriving_books_each_once() {
    let history = History::start().await;
    let History {
        setup,
        orders,
        config,
        ledger,
        ..
    } = &history;
    let processor = TestProcessor::start(&history.toml).await;
    let options = |dry_run| history.options(dry_run);

    let dry = options(true);
    let plan = backfill(config, ledger, &dry).await.unwrap();
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
    let (plan, ()) = tokio::join!(backfill(config, ledger, &run), webhooks);
    let plan = plan.unwrap();
    assert_eq!(plan.tally.orders, 1_000);
    assert!(plan.resumed_from.is_none());

    history.wait_all_booked().await;
    // The same range again: it resumes at its end, reads nothing, books nothing.
    let again = backfill(config, ledger, &run).await.unwrap();
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

#[tokio::test]
async fn with_no_processor_booking_a_backfill_fills_the_shards_to_its_limit_and_waits() {
    let history = History::start().await;
    let run = history.options(false);
    let finished = AtomicBool::new(false);
    let backfill = async {
        let plan = backfill(&history.config, &history.ledger, &run).await;
        finished.store(true, Ordering::SeqCst);
        plan
    };
    // One page past the limit at most: the room is looked at before each page, and a Shopify
    // page is 250 orders.
    let ceiling = MAX_READY + 250;
    let watch = async {
        let mut most = 0;
        let mut unchanged_since = tokio::time::Instant::now();
        let mut last = 0;
        let started = tokio::time::Instant::now();
        while unchanged_since.elapsed() < Duration::from_secs(5) {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "the shards never settled: {last} events ready"
            );
            let ready = history.shards_ready().await;
            most = most.max(ready);
            if ready != last || ready == 0 {
                last = ready;
                unchanged_since = tokio::time::Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(
            !finished.load(Ordering::SeqCst),
            "the backfill finished with {last} events queued and nobody booking"
        );
        assert!(
            (MAX_READY..=ceiling).contains(&most),
            "the shards held at most {most} events: the backfill should stop between \
             {MAX_READY} and {ceiling}"
        );
        // A processor starts booking: the shards drain and the backfill goes on.
        TestProcessor::start(&history.toml).await
    };
    let (plan, processor) = tokio::join!(backfill, watch);
    let plan = plan.unwrap();
    assert_eq!(plan.tally.orders, 1_000, "{plan:?}");
    assert!(
        plan.tally.waited_for_room > Duration::from_secs(5),
        "it waited while the shards were full: {plan:?}"
    );
    history.wait_all_booked().await;
    let mut numbers = booked_numbers(&history.setup.sim);
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 1_000);
    processor.stop().await;
}
