//! The poller on BigCommerce: orders and refunds no webhook delivered are read from
//! `GET /v2/orders` and `GET /v3/orders/payment_actions/refunds` (the fake in
//! `xcs_tests::platform_api`, `lists/bigcommerce.rs`), published as the thin webhook bodies,
//! hydrated as webhooks are, and booked once, whatever arrives later; a full page splits the
//! window; a 429 is waited out. Each test has its own vhost, schema, simulator and fake API.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::{FakePlatformApi, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    ShopToml, TestProcessor, credit_notes_numbered, invoices_numbered, payment_lines, payments_on,
    publish, shop_toml, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

fn dec(text: &str) -> rust_decimal::Decimal {
    text.parse().unwrap()
}

const BOOKED: Duration = Duration::from_secs(60);
const SHOP: &str = "nz-bigcommerce-polled";
const ORDERS: &str = "/v2/orders";
const REFUNDS: &str = "/v3/orders/payment_actions/refunds";

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
        api: FakePlatformApi::start(Platform::BigCommerce).await,
    }
}

fn ago(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

impl Setup {
    /// Order `id` in the store, modified `minutes` ago: listed, and served with its products.
    fn order(&self, id: u64, minutes: i64) -> Value {
        let mut order = fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json");
        order["id"] = json!(id);
        order["date_modified"] = json!(ago(minutes).format(&Rfc2822).unwrap());
        let mut products = fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json");
        for product in products.as_array_mut().unwrap() {
            product["order_id"] = json!(id);
        }
        self.api.put(&format!("/v2/orders/{id}"), order.clone());
        self.api.put(&format!("/v2/orders/{id}/products"), products);
        self.api.list(order.clone());
        order
    }

    /// A processor config whose shop is polled every second over the last hour.
    fn config(&self) -> String {
        let shop = shop_toml(&ShopToml {
            name: SHOP,
            platform: Platform::BigCommerce,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "generic", name = "BigCommerce Sales" }"#,
            prefix: "BP-",
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
        let before = self.calls(REFUNDS).len();
        xcs_tests::eventually(BOOKED, "more polls", || async {
            (self.calls(REFUNDS).len() >= before + count).then_some(())
        })
        .await;
    }

    /// Waits for the invoice to be paid, then asserts it is the only one and paid once: the
    /// gift certificate from its liability and the rest by card, as the order says.
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
        assert_eq!(
            payment_lines(&self.sim, &invoices[0]),
            [
                ("825".to_owned(), dec("25.00")),
                ("616".to_owned(), dec("138.30"))
            ],
            "{number}"
        );
    }
}

#[tokio::test]
async fn an_order_and_a_refund_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    setup.order(310, 10);
    setup.order(311, 20);
    // The refund is listed by its own creation; its order's modification is older than the
    // window would need, as when a refund does not touch the order.
    let refunds = fixture("bigcommerce/refunds_v3_310.json");
    setup
        .api
        .put("/v3/orders/310/payment_actions/refunds", refunds.clone());
    let mut refund = refunds["data"][0].clone();
    refund["created"] = json!(ago(5).format(&Rfc3339).unwrap());
    setup.api.list(refund);
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("BP-310", 1).await;
    setup.wait_invoices("BP-311", 1).await;
    xcs_tests::eventually(BOOKED, "the refund's credit note", || async {
        (!credit_notes_numbered(&setup.sim, "BP-310/R41").is_empty()).then_some(())
    })
    .await;
    setup.polled_again(3).await;
    setup.one_invoice_paid_once("BP-310").await;
    setup.one_invoice_paid_once("BP-311").await;
    let notes = credit_notes_numbered(&setup.sim, "BP-310/R41");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["Status"], "PAID", "{:#}", notes[0]);
    assert_eq!(payments_on(&setup.sim, &notes[0]).len(), 1);
    // Each version is hydrated once, however often it is listed.
    assert_eq!(setup.api.request_count("/v2/orders/310/products"), 1);
    processor.stop().await;
}

#[tokio::test]
async fn an_empty_window_is_204_and_the_poll_carries_on() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup.polled_again(2).await;
    assert!(
        setup.calls(ORDERS).contains(&204),
        "{:?}",
        setup.calls(ORDERS)
    );
    // An order appearing later is found by the next polls.
    setup.order(320, 1);
    setup.wait_invoices("BP-320", 1).await;
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    setup.order(330, 10);
    let processor = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("BP-330", 1).await;

    let event_id = format!("bigcommerce:{SHOP}:late-webhook-330");
    let webhook = json!({"scope": "store/order/statusUpdated", "store_id": "1025646",
                         "data": {"type": "order", "id": 330}});
    publish(
        &setup.broker,
        Platform::BigCommerce,
        SHOP,
        EventKind::Order,
        "store/order/statusUpdated",
        &event_id,
        &serde_json::to_vec(&webhook).unwrap(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    setup.one_invoice_paid_once("BP-330").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 260 orders over the last 53 minutes: more than V2's 250 a page.
    for n in 0..260u64 {
        setup.order(5000 + n, 1 + i64::try_from(n / 5).unwrap());
    }
    setup.api.throttle_next(2);
    let processor = TestProcessor::start(&setup.config()).await;
    xcs_tests::eventually(BOOKED, "all 260 invoices", || async {
        let count = setup
            .sim
            .invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
            .iter()
            .filter(|i| {
                i["InvoiceNumber"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("BP-5"))
            })
            .count();
        (count == 260).then_some(())
    })
    .await;
    setup.polled_again(2).await;
    for n in [0u64, 129, 259] {
        setup
            .one_invoice_paid_once(&format!("BP-{}", 5000 + n))
            .await;
    }
    let statuses = setup.calls(ORDERS);
    assert!(statuses.contains(&429), "{statuses:?}");
    processor.stop().await;
}
