//! The poller on eBay, whose notifications bring no refunds: orders are read from the
//! Fulfillment API's `getOrders` (the fake in `xcs_tests::platform_api`, `lists/ebay.rs`) and
//! booked once, a refund the order lists as a paid credit note; a notification arriving later
//! books nothing more; more orders than a page split the window; a 429 is waited out. Each
//! test has its own vhost, schema, simulator and fake API.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::{FakePlatformApi, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    EBAY_SHOP, TestProcessor, credit_notes_numbered, invoices_numbered, payment_lines,
    platform_shop, publish, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const BOOKED: Duration = Duration::from_secs(90);
const ORDERS: &str = "/sell/fulfillment/v1/order";

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
        api: FakePlatformApi::start(Platform::Ebay).await,
    }
}

/// The US demo order (123.00 of it the seller's, the rest sales tax eBay remits) as order
/// `id`, last modified `minutes` ago, as eBay writes times (milliseconds, `Z`).
fn order(id: &str, minutes: i64) -> Value {
    let mut order = fixture("ebay/order_27-13902-55814_usd_export_us.json");
    let modified = (OffsetDateTime::now_utc() - time::Duration::minutes(minutes))
        .replace_millisecond(250)
        .unwrap();
    order["orderId"] = json!(id);
    order["lastModifiedDate"] = json!(modified.format(&Rfc3339).unwrap());
    order
}

/// `order` after one pair of lens caps went back: 10.89 to the buyer, 0.89 of it the tax
/// eBay remitted.
fn refunded(mut order: Value) -> Value {
    order["orderPaymentStatus"] = json!("PARTIALLY_REFUNDED");
    let refund = json!({
        "refundId": "5000123456",
        "refundDate": "2026-11-27T09:00:00.000Z",
        "amount": {"value": "10.89", "currency": "USD"},
        "refundStatus": "REFUNDED",
        "refundReferenceId": "8TX12345AB6789012"
    });
    order["paymentSummary"]["refunds"] = json!([refund.clone()]);
    let mut line_refund = refund;
    line_refund.as_object_mut().unwrap().remove("refundStatus");
    order["lineItems"][1]["refunds"] = json!([line_refund]);
    order
}

impl Setup {
    /// A processor config whose eBay shop is polled every second over the last hour (the
    /// overlap reaches back that far from the first cursor).
    fn config(&self) -> String {
        let shop = platform_shop(EBAY_SHOP, Platform::Ebay, Some(&self.api.api_toml()))
            + &format!(
                "[shops.{EBAY_SHOP}.poll]\ninterval_secs = 1\noverlap_secs = 3600\nsettle_secs = 0\n"
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
        self.api.request_count(ORDERS)
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
async fn an_order_and_a_refund_no_notification_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    setup.api.list(order("27-20001-00001", 20));
    setup.api.list(refunded(order("27-20001-00002", 10)));
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("EB-27-20001-00001", 1).await;
    setup.wait_invoices("EB-27-20001-00002", 1).await;
    let note_number = "EB-27-20001-00002/R5000123456";
    xcs_tests::eventually(BOOKED, "the refund's paid credit note", || async {
        credit_notes_numbered(&setup.sim, note_number)
            .iter()
            .any(|n| n["Status"] == "PAID")
            .then_some(())
    })
    .await;
    // Several polls later: still one of each.
    setup.polled_again(3).await;
    for number in ["EB-27-20001-00001", "EB-27-20001-00002"] {
        let invoices = invoices_numbered(&setup.sim, number);
        assert_eq!(invoices.len(), 1, "{number}");
        assert_eq!(invoices[0]["Status"], "PAID", "{:#}", invoices[0]);
        assert_eq!(
            payment_lines(&setup.sim, &invoices[0]),
            [("616".to_owned(), dec("123.00"))]
        );
    }
    let notes = credit_notes_numbered(&setup.sim, note_number);
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(
        payment_lines(&setup.sim, &notes[0]),
        [("616".to_owned(), dec("10.00"))],
        "the seller's part of the refund went back"
    );
    // The listed orders were booked as listed, not fetched again one by one.
    assert!(
        setup
            .api
            .requests()
            .iter()
            .all(|r| !r.path.starts_with(&format!("{ORDERS}/"))),
        "{:?}",
        setup.api.requests()
    );
    let (_, metrics) = processor.get("/metrics").await;
    assert!(
        metrics.contains(&format!(
            "xcs_processor_missed_by_webhooks_total{{shop=\"{EBAY_SHOP}\",kind=\"refund\"}} 1"
        )),
        "{metrics}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_notification_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order("27-20002-00001", 10);
    setup.api.list(listed.clone());
    setup.api.put(&format!("{ORDERS}/27-20002-00001"), listed);
    let processor = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("EB-27-20002-00001", 1).await;

    let notification_id = "49feeaeb-4982-42d9-a377-9645b8470001";
    let event_id = format!("ebay:{EBAY_SHOP}:{notification_id}");
    publish(
        &setup.broker,
        Platform::Ebay,
        EBAY_SHOP,
        EventKind::Order,
        "ORDER_CONFIRMATION",
        &event_id,
        &xcs_tests::fixtures::ebay("ORDER_CONFIRMATION", notification_id, "27-20002-00001"),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(
        setup.api.request_count(&format!("{ORDERS}/27-20002-00001")),
        1,
        "the notification fetched its order"
    );
    let invoices = invoices_numbered(&setup.sim, "EB-27-20002-00001");
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        payment_lines(&setup.sim, &invoices[0]),
        [("616".to_owned(), dec("123.00"))],
        "paid once"
    );
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 230 orders over the last 46 minutes: more than eBay's 200 a page.
    for n in 0..230u64 {
        setup.api.list(order(
            &format!("27-20003-{n:05}"),
            1 + i64::try_from(n / 5).unwrap(),
        ));
    }
    setup.api.throttle_next(2);
    let processor = TestProcessor::start(&setup.config()).await;
    xcs_tests::eventually(BOOKED, "all 230 invoices", || async {
        let count = setup
            .sim
            .invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
            .iter()
            .filter(|i| {
                i["InvoiceNumber"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("EB-27-20003-"))
            })
            .count();
        (count == 230).then_some(())
    })
    .await;
    setup.polled_again(2).await;
    for n in [0u64, 115, 229] {
        assert_eq!(
            invoices_numbered(&setup.sim, &format!("EB-27-20003-{n:05}")).len(),
            1
        );
    }
    let requests = setup.api.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        requests.iter().all(|r| r.status != 400),
        "every list call was one eBay accepts: {requests:?}"
    );
    processor.stop().await;
}
