//! The poller on Adobe Commerce: orders and credit memos no Adobe I/O event delivered are read
//! from the REST searches `GET /rest/V1/orders` and `GET /rest/V1/creditmemos` (the fake in
//! `xcs_tests::platform_api`, `lists/magento.rs`) and booked once from the listed resources,
//! whatever arrives later; a full page splits the window; a 429 is waited out. Each test has
//! its own vhost, schema, simulator and fake API.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::{FakePlatformApi, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    ShopToml, TestProcessor, credit_notes_numbered, invoices_numbered, payments_on, publish,
    shop_toml, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const BOOKED: Duration = Duration::from_secs(40);
const SHOP: &str = "nz-magento-polled";
const ORDERS: &str = "/rest/V1/orders";
const MEMOS: &str = "/rest/V1/creditmemos";

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
        api: FakePlatformApi::start(Platform::Magento).await,
    }
}

/// `minutes` ago as Magento writes times: `YYYY-MM-DD HH:MM:SS`, UTC.
fn ago(minutes: i64) -> String {
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(minutes);
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at.format(&format).unwrap()
}

/// Order `id` (number `0000{id}`), paid in full, as the REST API lists it, updated `minutes`
/// ago.
fn order(id: u64, minutes: i64) -> Value {
    let mut order = fixture("magento/order_save_after_000005120_nzd.json")["data"]["value"].take();
    order["entity_id"] = json!(id.to_string());
    order["increment_id"] = json!(format!("{id:09}"));
    order["total_paid"] = order["grand_total"].clone();
    order["total_invoiced"] = order["grand_total"].clone();
    order["updated_at"] = json!(ago(minutes));
    order
}

impl Setup {
    /// A processor config whose shop is polled every second over the last hour.
    fn config(&self) -> String {
        let shop = shop_toml(&ShopToml {
            name: SHOP,
            platform: Platform::Magento,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "generic", name = "Adobe Commerce Sales" }"#,
            prefix: "MP-",
            clearing: "616",
            api: Some(&self.api.api_toml()),
        }) + &format!(
            "[shops.{SHOP}.poll]\ninterval_secs = 1\noverlap_secs = 3600\nsettle_secs = 0\n"
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

    fn calls(&self, path: &str) -> Vec<u16> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.status)
            .collect()
    }

    async fn polled_again(&self, count: usize) {
        let before = self.calls(MEMOS).len();
        xcs_tests::eventually(BOOKED, "more polls", || async {
            (self.calls(MEMOS).len() >= before + count).then_some(())
        })
        .await;
    }

    /// Waits for the invoice to be paid, then asserts it is the only one, paid once.
    async fn one_invoice_paid_once(&self, number: &str) {
        xcs_tests::eventually(BOOKED, &format!("{number} paid"), || async {
            invoices_numbered(&self.sim, number)
                .iter()
                .any(|i| i["Status"] == "PAID")
                .then_some(())
        })
        .await;
        let invoices = invoices_numbered(&self.sim, number);
        assert_eq!(invoices.len(), 1, "{number}: {invoices:#?}");
        assert_eq!(invoices[0]["Status"], "PAID", "{:#}", invoices[0]);
        assert_eq!(payments_on(&self.sim, &invoices[0]).len(), 1, "{number}");
    }
}

#[tokio::test]
async fn an_order_and_a_credit_memo_no_event_brought_are_booked_by_the_poll_once_without_fetching()
{
    let setup = setup().await;
    setup.api.list(order(5120, 10));
    setup.api.list(order(5121, 20));
    let mut memo =
        fixture("magento/creditmemo_save_after_000005120_nzd.json")["data"]["value"].take();
    memo["updated_at"] = json!(ago(5));
    setup.api.list(memo);
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("MP-000005120", 1).await;
    setup.wait_invoices("MP-000005121", 1).await;
    xcs_tests::eventually(BOOKED, "the credit memo's credit note", || async {
        (!credit_notes_numbered(&setup.sim, "MP-000005120/R208").is_empty()).then_some(())
    })
    .await;
    setup.polled_again(3).await;
    setup.one_invoice_paid_once("MP-000005120").await;
    setup.one_invoice_paid_once("MP-000005121").await;
    let notes = credit_notes_numbered(&setup.sim, "MP-000005120/R208");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["Status"], "PAID", "{:#}", notes[0]);
    assert_eq!(payments_on(&setup.sim, &notes[0]).len(), 1);
    // The listed resources are whole: nothing is fetched by id.
    let fetched: Vec<String> = setup
        .api
        .requests()
        .into_iter()
        .map(|r| r.path)
        .filter(|p| p != ORDERS && p != MEMOS)
        .collect();
    assert!(fetched.is_empty(), "{fetched:?}");
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order(5130, 10);
    setup.api.list(listed.clone());
    let processor = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("MP-000005130", 1).await;

    let mut event = fixture("magento/order_save_after_000005120_nzd.json");
    event["data"]["value"] = listed;
    event["event_id"] = json!("7f1d3b5a-late-5130");
    let event_id = format!("magento:{SHOP}:late-event-5130");
    publish(
        &setup.broker,
        Platform::Magento,
        SHOP,
        EventKind::Order,
        "com.adobe.commerce.observer.sales_order_save_after",
        &event_id,
        &serde_json::to_vec(&event).unwrap(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    setup.one_invoice_paid_once("MP-000005130").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 110 orders over the last 23 minutes: more than the poller's 100 a page.
    for n in 0..110u64 {
        setup
            .api
            .list(order(6000 + n, 1 + i64::try_from(n / 5).unwrap()));
    }
    setup.api.throttle_next(2);
    let processor = TestProcessor::start(&setup.config()).await;
    xcs_tests::eventually(BOOKED, "all 110 invoices", || async {
        let count = setup
            .sim
            .invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
            .iter()
            .filter(|i| {
                i["InvoiceNumber"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("MP-0000060") || n.starts_with("MP-0000061"))
            })
            .count();
        (count == 110).then_some(())
    })
    .await;
    setup.polled_again(2).await;
    for n in [0u64, 57, 109] {
        setup
            .one_invoice_paid_once(&format!("MP-{:09}", 6000 + n))
            .await;
    }
    let statuses = setup.calls(ORDERS);
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    processor.stop().await;
}
