//! The poller on WooCommerce: orders (and the refunds they list) no webhook delivered are read
//! from `GET /wp-json/wc/v3/orders` (the fake in `xcs_tests::platform_api`,
//! `lists/woocommerce.rs`) and booked once, whatever arrives later; a full page splits the
//! window; a 429 is waited out. Each test has its own vhost, schema, simulator and fake API.

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
const SHOP: &str = "nz-woo-polled";
const LIST: &str = "/wp-json/wc/v3/orders";

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
        api: FakePlatformApi::start(Platform::WooCommerce).await,
    }
}

/// `minutes` ago in GMT, as WooCommerce writes `date_modified_gmt` (no offset).
fn gmt_ago(minutes: i64) -> String {
    let at = OffsetDateTime::now_utc() - time::Duration::minutes(minutes);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    at.format(&format).unwrap()
}

/// Order `id` (numbered the same) as the orders list holds it, modified `minutes` ago.
fn order(id: u64, minutes: i64) -> Value {
    let mut order = fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    order["date_modified_gmt"] = json!(gmt_ago(minutes));
    order["date_modified"] = json!(gmt_ago(minutes - 13 * 60));
    order
}

impl Setup {
    /// A processor config whose shop is polled every second over the last hour.
    fn config(&self) -> String {
        let shop = shop_toml(&ShopToml {
            name: SHOP,
            platform: Platform::WooCommerce,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "per_customer", fallback = "WooCommerce Sales" }"#,
            prefix: "WP-",
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

    fn list_calls(&self) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path == LIST)
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
async fn an_order_and_the_refund_it_lists_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    let mut refunded = order(4417, 10);
    refunded["refunds"] = json!([{"id": 4431, "reason": "Handle frayed", "total": "-41.40"}]);
    setup.api.list(refunded);
    setup.api.put(
        "/wp-json/wc/v3/orders/4417/refunds",
        fixture("woocommerce/refunds_4417.json"),
    );
    setup.api.list(order(4418, 20));
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("WP-4417", 1).await;
    setup.wait_invoices("WP-4418", 1).await;
    xcs_tests::eventually(BOOKED, "the refund's credit note", || async {
        (!credit_notes_numbered(&setup.sim, "WP-4417/R4431").is_empty()).then_some(())
    })
    .await;
    setup.polled_again(3).await;
    setup.one_invoice_paid_once("WP-4417").await;
    setup.one_invoice_paid_once("WP-4418").await;
    let notes = credit_notes_numbered(&setup.sim, "WP-4417/R4431");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["Status"], "PAID", "{:#}", notes[0]);
    assert_eq!(payments_on(&setup.sim, &notes[0]).len(), 1);
    // The refund event is read once per set of refunds, however often the order is listed.
    assert_eq!(
        setup
            .api
            .request_count("/wp-json/wc/v3/orders/4417/refunds"),
        1
    );
    let filters = setup
        .api
        .requests()
        .into_iter()
        .find(|r| r.path == LIST)
        .map(|r| r.status);
    assert_eq!(filters, Some(200), "the list's filters are WooCommerce's");
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order(4501, 10);
    setup.api.list(listed.clone());
    let processor = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("WP-4501", 1).await;

    let event_id = format!("woocommerce:{SHOP}:late-webhook-4501");
    publish(
        &setup.broker,
        Platform::WooCommerce,
        SHOP,
        EventKind::Order,
        "order.created",
        &event_id,
        &serde_json::to_vec(&listed).unwrap(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    setup.one_invoice_paid_once("WP-4501").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 110 orders over the last 23 minutes: more than WooCommerce's 100 a page.
    for n in 0..110u64 {
        setup
            .api
            .list(order(5000 + n, 1 + i64::try_from(n / 5).unwrap()));
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
                    .is_some_and(|n| n.starts_with("WP-5"))
            })
            .count();
        (count == 110).then_some(())
    })
    .await;
    setup.polled_again(2).await;
    for n in [0u64, 57, 109] {
        setup
            .one_invoice_paid_once(&format!("WP-{}", 5000 + n))
            .await;
    }
    let statuses: Vec<u16> = setup
        .api
        .requests()
        .iter()
        .filter(|r| r.path == LIST)
        .map(|r| r.status)
        .collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "no list call was refused: {statuses:?}"
    );
    processor.stop().await;
}
