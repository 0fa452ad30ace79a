//! The poller on Etsy, whose webhooks bring no refunds: receipts are read from the Open API's
//! `getShopReceipts` (the fake in `xcs_tests::platform_api`, `lists/etsy.rs`) and booked once,
//! a refund the receipt lists as a paid credit note; a webhook arriving later books nothing
//! more; more receipts than a page split the window; a 429 is waited out. Each test has its own
//! vhost, schema, simulator and fake API.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    ETSY_SHOP, TestProcessor, credit_notes_numbered, invoices_numbered, payment_lines,
    platform_shop, publish, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const BOOKED: Duration = Duration::from_secs(60);
const RECEIPTS: &str = "/v3/application/shops/31415926/receipts";

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
    api: FakePlatformApi,
}

async fn setup() -> Setup {
    Setup {
        broker: TestBroker::with_topology().await,
        schema: TestSchema::new(),
        sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
        api: FakePlatformApi::start(Platform::Etsy).await,
    }
}

/// The NZ demo receipt (the buyer paid 112.20, of which 102.00 is the seller's) as receipt
/// `id`, last changed `minutes` ago.
fn receipt(id: u64, minutes: i64) -> Value {
    let mut receipt = fixture("etsy/receipt_2891034567_nzd_export_au.json");
    let changed = (OffsetDateTime::now_utc() - time::Duration::minutes(minutes)).unix_timestamp();
    receipt["receipt_id"] = json!(id);
    receipt["updated_timestamp"] = json!(changed);
    receipt["update_timestamp"] = json!(changed);
    for transaction in receipt["transactions"].as_array_mut().unwrap() {
        transaction["receipt_id"] = json!(id);
    }
    receipt
}

/// `receipt` with a partial refund of 41.80 to the buyer (38.00 of it the seller's).
fn refunded(mut receipt: Value) -> Value {
    receipt["status"] = json!("Partially Refunded");
    receipt["refunds"] = json!([{
        "amount": {"amount": 4180, "divisor": 100, "currency_code": "NZD"},
        "created_timestamp": 1_795_403_400,
        "reason": "One cup arrived broken",
        "note_from_issuer": null,
        "status": "Success"
    }]);
    receipt
}

impl Setup {
    /// A processor config whose Etsy shop is polled every second over the last hour (the
    /// overlap reaches back that far from the first cursor).
    fn config(&self) -> String {
        let shop = platform_shop(ETSY_SHOP, Platform::Etsy, Some(&self.api.api_toml()))
            + &format!(
                "[shops.{ETSY_SHOP}.poll]\ninterval_secs = 1\noverlap_secs = 3600\nsettle_secs = 0\n"
            );
        test_config(
            &self.broker,
            &self.schema,
            &self.sim,
            &format!("poll_every_ms = 200\n{shop}"),
        )
    }

    async fn wait_invoices(&self, number: &str, count: usize) {
        xcs_tests::eventually(BOOKED, &format!("{count} invoice(s) {number}"), || async {
            (invoices_numbered(&self.sim, number).len() >= count).then_some(())
        })
        .await;
    }

    fn list_calls(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.starts_with(RECEIPTS))
            .count()
    }

    /// Waits until the poller has read the shop `count` more times.
    async fn polled_again(&self, count: usize) {
        let before = self.list_calls();
        xcs_tests::eventually(BOOKED, "more polls", || async {
            (self.list_calls() >= before + count).then_some(())
        })
        .await;
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn a_receipt_and_a_refund_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    setup.api.list(receipt(3_100_000_001, 20));
    setup.api.list(refunded(receipt(3_100_000_002, 10)));
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("ET-3100000001", 1).await;
    setup.wait_invoices("ET-3100000002", 1).await;
    let note_number = "ET-3100000002/R3100000002-1795403400";
    xcs_tests::eventually(BOOKED, "the refund's paid credit note", || async {
        credit_notes_numbered(&setup.sim, note_number)
            .iter()
            .any(|n| n["Status"] == "PAID")
            .then_some(())
    })
    .await;
    // Several polls later: still one of each.
    setup.polled_again(3).await;
    for number in ["ET-3100000001", "ET-3100000002"] {
        let invoices = invoices_numbered(&setup.sim, number);
        assert_eq!(invoices.len(), 1, "{number}");
        assert_eq!(invoices[0]["Status"], "PAID", "{:#}", invoices[0]);
        assert_eq!(
            payment_lines(&setup.sim, &invoices[0]),
            [("616".to_owned(), dec("102.00"))]
        );
    }
    let notes = credit_notes_numbered(&setup.sim, note_number);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(
        payment_lines(&setup.sim, &notes[0]),
        [("616".to_owned(), dec("38.00"))],
        "the seller's share of the refund went back"
    );
    // The listed receipts were booked as listed, not fetched again one by one.
    assert!(
        setup
            .api
            .requests()
            .iter()
            .all(|r| !r.path.starts_with(&format!("{RECEIPTS}/"))),
        "{:?}",
        setup.api.requests()
    );
    let (_, metrics) = processor.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "xcs_processor_missed_by_webhooks_total{{shop=\"{ETSY_SHOP}\",kind=\"refund\"}} 1"
        )),
        "{metrics}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_receipt_books_nothing_more() {
    let setup = setup().await;
    let listed = receipt(3_200_000_001, 10);
    setup.api.list(listed.clone());
    setup.api.put(&format!("{RECEIPTS}/3200000001"), listed);
    let processor = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("ET-3200000001", 1).await;

    let event_id = format!("etsy:{ETSY_SHOP}:late-webhook-3200000001");
    let shop_id: u64 = credentials::ETSY_SHOP_ID.parse().unwrap();
    publish(
        &setup.broker,
        Platform::Etsy,
        ETSY_SHOP,
        EventKind::Order,
        "ORDER_PAID",
        &event_id,
        &xcs_tests::fixtures::etsy("ORDER_PAID", shop_id, 3_200_000_001),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(
        setup.api.request_count(&format!("{RECEIPTS}/3200000001")),
        1,
        "the webhook fetched its receipt"
    );
    let invoices = invoices_numbered(&setup.sim, "ET-3200000001");
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        payment_lines(&setup.sim, &invoices[0]),
        [("616".to_owned(), dec("102.00"))],
        "paid once"
    );
    processor.stop().await;
}

#[tokio::test]
async fn more_receipts_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 130 receipts over the last 44 minutes: more than Etsy's 100 a page.
    for n in 0..130u64 {
        setup.api.list(receipt(
            3_300_000_000 + n,
            1 + i64::try_from(n / 3).unwrap(),
        ));
    }
    setup.api.throttle_next(2);
    let processor = TestProcessor::start(&setup.config()).await;
    xcs_tests::eventually(BOOKED, "all 130 invoices", || async {
        let count = setup
            .sim
            .invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
            .iter()
            .filter(|i| {
                i["InvoiceNumber"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("ET-33000"))
            })
            .count();
        (count == 130).then_some(())
    })
    .await;
    setup.polled_again(2).await;
    for n in [0u64, 64, 129] {
        assert_eq!(
            invoices_numbered(&setup.sim, &format!("ET-{}", 3_300_000_000 + n)).len(),
            1
        );
    }
    let requests = setup.api.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        requests.iter().all(|r| r.status != 400),
        "every list call was one Etsy accepts: {requests:?}"
    );
    processor.stop().await;
}
