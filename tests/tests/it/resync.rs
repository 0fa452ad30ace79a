//! Re-sync (`xcs-processor resync`): a shop's events read back from the archive stream and
//! sent through the processor again, against the real RabbitMQ and PostgreSQL and the Xero
//! simulator.

use std::time::Duration;

use xcs_processor::operate::resync::{ResyncOptions, resync};
use xcs_processor::operate::{ProgressBar, parse_time};
use xcs_shared::{EventKind, Platform, topology};
use xcs_tests::broker::TestBroker;
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, WOO_SHOP, invoices_numbered, payments_on, publish, test_config,
    wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(30);

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
}

impl Setup {
    async fn new() -> Self {
        Setup {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
        }
    }

    fn config(&self) -> String {
        test_config(&self.broker, &self.schema, &self.sim, "")
    }

    async fn publish_order(&self, event_id: &str, id: u64, number: u64) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            EventKind::Order,
            "orders/paid",
            event_id,
            &fixtures::shopify_nz_order(id, number, true),
        )
        .await;
    }

    /// Re-syncs the test shop's events of the day the test publisher stamps on them.
    async fn resync(&self, shop: &str, kind: Option<EventKind>, dry_run: bool) -> Vec<String> {
        let connection = self.broker.connect().await;
        let report = resync(
            &connection,
            &ResyncOptions {
                shop: shop.to_owned(),
                from: parse_time("2026-11-27").unwrap(),
                to: parse_time("2026-11-28").unwrap(),
                kind,
                platform: None,
                dry_run,
                progress: ProgressBar::hidden(),
            },
        )
        .await
        .unwrap();
        let _ = connection.close(200, "done".into()).await;
        report.republished
    }

    /// Publishes a later order of the same tenant (so the same shard) and waits until it is
    /// handled: by then everything published to that shard before it is handled too. Then
    /// stops the processor, letting batches in progress finish.
    async fn drain(&self, processor: TestProcessor, event_id: &str, id: u64, number: u64) {
        self.publish_order(event_id, id, number).await;
        wait_handled(&self.schema, event_id, HANDLED).await;
        processor.stop().await;
    }

    async fn shard_depth(&self) -> u32 {
        let mut depth = 0;
        for queue in topology::shard_queues() {
            depth += self.broker.depth(&queue).await;
        }
        depth
    }
}

#[tokio::test]
async fn an_order_skipped_before_the_shop_synced_orders_is_booked_once_by_a_resync() {
    let setup = Setup::new().await;
    let event_id = "shopify:nz-shopify:rs-1";

    // The shop synced only refunds when the order came in.
    let refunds_only = setup.config().replacen(
        &format!("[shops.{SHOP}]\n"),
        &format!("[shops.{SHOP}]\nsync = [\"refund\"]\n"),
        1,
    );
    assert!(refunds_only.contains("sync = [\"refund\"]"));
    let processor = TestProcessor::start(&refunds_only).await;
    setup.publish_order(event_id, 5301, 1301).await;
    let (outcome, detail) = wait_handled(&setup.schema, event_id, HANDLED).await;
    assert_eq!(outcome, "skipped", "{detail}");
    processor.stop().await;
    assert!(invoices_numbered(&setup.sim, "SH-1301").is_empty());

    // Dry runs and filters send nothing.
    assert_eq!(
        setup.resync(SHOP, Some(EventKind::Order), true).await,
        [event_id]
    );
    assert!(
        setup
            .resync(SHOP, Some(EventKind::Refund), true)
            .await
            .is_empty()
    );
    assert!(setup.resync(WOO_SHOP, None, true).await.is_empty());
    assert_eq!(setup.shard_depth().await, 0);

    // The fix: the shop syncs orders now. A re-sync books the order.
    let processor = TestProcessor::start(&setup.config()).await;
    assert_eq!(
        setup.resync(SHOP, Some(EventKind::Order), false).await,
        [event_id]
    );
    xcs_tests::eventually(HANDLED, "the re-synced order to be invoiced", || async {
        (!invoices_numbered(&setup.sim, "SH-1301").is_empty()).then_some(())
    })
    .await;

    // A second re-sync books nothing twice.
    assert_eq!(setup.resync(SHOP, None, false).await, [event_id]);
    setup
        .drain(processor, "shopify:nz-shopify:rs-after", 5302, 1302)
        .await;
    let invoices = invoices_numbered(&setup.sim, "SH-1301");
    assert_eq!(invoices.len(), 1);
    assert_eq!(payments_on(&setup.sim, &invoices[0]).len(), 1);
    // The ledger says what happened in the end.
    assert_eq!(
        wait_handled(&setup.schema, event_id, HANDLED).await.0,
        "booked"
    );
}

#[tokio::test]
async fn a_resync_of_a_booked_order_books_nothing_twice() {
    let setup = Setup::new().await;
    let event_id = "shopify:nz-shopify:rs-2";
    let processor = TestProcessor::start(&setup.config()).await;
    setup.publish_order(event_id, 5311, 1311).await;
    assert_eq!(
        wait_handled(&setup.schema, event_id, HANDLED).await.0,
        "booked"
    );
    let invoice_before = invoices_numbered(&setup.sim, "SH-1311").remove(0);

    assert_eq!(setup.resync(SHOP, None, false).await, [event_id]);
    setup
        .drain(processor, "shopify:nz-shopify:rs-2-after", 5312, 1312)
        .await;

    let invoices = invoices_numbered(&setup.sim, "SH-1311");
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["InvoiceID"], invoice_before["InvoiceID"]);
    assert_eq!(payments_on(&setup.sim, &invoices[0]).len(), 1);
    assert_eq!(
        wait_handled(&setup.schema, event_id, HANDLED).await.0,
        "booked"
    );
}
