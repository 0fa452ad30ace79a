//! The poller on Shopify: orders and refunds no webhook delivered are read from the Admin
//! API's order list (the fake in `xcs_tests::platform_api`, `lists/shopify.rs`) and booked
//! once, whatever arrives later; a full page splits the window; a 429 is waited out; the
//! cursor and the one-reader lease live in PostgreSQL. Each test has its own vhost, schema,
//! simulator and fake API.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::Platform;
use xcs_tests::polled::{
    PATIENCE, PolledShop, ShopSpec, minutes_ago, minutes_ago_as, shopify_listed_order,
};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{TestProcessor, invoices_numbered};

const SHOP: &str = "nz-shopify-polled";
const LIST: &str = "/orders.json";

async fn setup() -> PolledShop {
    let contacts = r#"{ strategy = "generic", name = "Shopify Sales" }"#;
    let shop = ShopSpec::mapped(SHOP, contacts, "SP-", "615");
    PolledShop::start(Platform::Shopify, shop).await
}

/// A paid order `#number` as the orders list holds it, last updated `minutes` ago.
fn order(id: u64, number: u64, minutes: i64) -> Value {
    shopify_listed_order(id, number, minutes_ago(minutes))
}

/// How many of the poll's events the processor has recorded.
async fn polls(setup: &PolledShop) -> i64 {
    let client = setup.schema.client().await;
    let row = client
        .query_opt(
            "SELECT count(*) FROM xcs_events WHERE event_id LIKE $1",
            &[&format!("shopify:{SHOP}:api:%")],
        )
        .await
        .unwrap();
    row.map_or(0, |r| r.get(0))
}

#[tokio::test]
async fn an_order_and_refund_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    let mut paid = order(7101, 2101, 10);
    let mut refund: Value =
        serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_refund(8101, 7101)).unwrap();
    refund["created_at"] = json!(minutes_ago_as(5, &Rfc3339));
    paid["refunds"] = json!([refund]);
    setup.api.list(paid);
    setup.api.list(order(7102, 2102, 20));
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("SP-2101", 1).await;
    setup.wait_invoices("SP-2102", 1).await;
    setup.wait_credit_note("SP-2101/R8101").await;
    // Several polls later: still one of each.
    setup.polled_again(LIST, 3).await;
    assert_eq!(invoices_numbered(&setup.sim, "SP-2101").len(), 1);
    assert_eq!(invoices_numbered(&setup.sim, "SP-2102").len(), 1);
    let credit_note = setup.only_credit_note("SP-2101/R8101");
    assert_eq!(credit_note["Status"], "PAID", "{credit_note:#}");
    assert!(polls(&setup).await >= 3, "polled events are recorded");
    setup
        .assert_missed_by_webhooks(&processor, "order", 2)
        .await;
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order(7201, 2201, 10);
    setup.api.list(listed.clone());
    let event_id = format!("shopify:{SHOP}:late-webhook-7201");
    let body = serde_json::to_vec(&listed).unwrap();
    let processor = setup
        .poll_then_deliver("SP-2201", "orders/paid", &event_id, &body)
        .await;
    let invoice = setup.only_invoice("SP-2201");
    assert_eq!(invoice["Status"], "PAID", "paid once: {invoice:#}");
    // The webhook booked nothing itself, so the poll's was the one that counted as missed.
    setup
        .assert_missed_by_webhooks(&processor, "order", 1)
        .await;
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_before_the_poll_leaves_the_poll_nothing_to_book_and_nothing_missed() {
    let setup = setup().await;
    let listed = order(7301, 2301, 10);
    let processor = TestProcessor::start(&setup.config()).await;
    let event_id = format!("shopify:{SHOP}:webhook-7301");
    setup
        .deliver_order(
            "orders/paid",
            &event_id,
            &serde_json::to_vec(&listed).unwrap(),
        )
        .await;
    setup.api.list(listed);
    setup.polled_again(LIST, 2).await;
    xcs_tests::eventually(PATIENCE, "the poll's event handled", || async {
        (polls(&setup).await >= 1).then_some(())
    })
    .await;
    assert_eq!(invoices_numbered(&setup.sim, "SP-2301").len(), 1);
    let (_, metrics) = processor.get("/metrics").await;
    assert!(
        !metrics.contains("xcs_processor_missed_by_webhooks_total{"),
        "{metrics}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 260 orders over the last 52 minutes: more than Shopify's 250 a page.
    setup.list_spread(260, 5, |n, minutes| order(9000 + n, 5000 + n, minutes));
    setup.api.throttle_next(2);
    let processor = TestProcessor::start(&setup.config()).await;
    for n in [0u64, 129, 259] {
        setup.wait_invoices(&format!("SP-{}", 5000 + n), 1).await;
    }
    setup
        .wait_invoices_where(260, |n| n.starts_with("SP-5"))
        .await;
    let statuses: Vec<u16> = setup.api.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(
        !setup
            .api
            .requests()
            .iter()
            .any(|r| r.path.contains("page_info")),
        "split, not paged by offset"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_killed_poller_leaves_its_cursor_and_the_next_processor_books_everything_once() {
    let setup = setup().await;
    setup.list_spread(40, 1, |n, minutes| order(6000 + n, 4000 + n, minutes));
    let first = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("SP-4039", 1).await;
    first.kill();
    // Changes made while no processor ran: the cursor, not the start time, decides the window.
    setup.api.list(order(6100, 4100, 2));
    let second = TestProcessor::start(&setup.config()).await;
    setup.wait_invoices("SP-4100", 1).await;
    setup.polled_again(LIST, 2).await;
    for n in (0..40u64).chain([100]) {
        assert_eq!(
            invoices_numbered(&setup.sim, &format!("SP-{}", 4000 + n)).len(),
            1,
            "order {n}"
        );
    }
    second.stop().await;
}

#[tokio::test]
async fn one_process_at_a_time_holds_a_shops_poll_and_a_dead_holders_lease_runs_out() {
    let schema = TestSchema::new();
    let config = xcs_processor::config::PostgresConfig {
        url: xcs_tests::postgres::postgres_url().into(),
        schema: schema.name.clone(),
        pool_size: 2,
        token_key: None,
    };
    let ledger = xcs_processor::ledger::Ledger::connect(&config)
        .await
        .unwrap();
    // PostgreSQL keeps microseconds.
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let lease = |holder: &'static str, seconds: u64| {
        let ledger = ledger.clone();
        async move {
            ledger
                .lease_poll(
                    "acme",
                    "poll",
                    "shopify",
                    holder,
                    start,
                    Duration::from_secs(seconds),
                    true,
                )
                .await
                .unwrap()
        }
    };
    let held = lease("a", 1).await.expect("free at first");
    assert!(lease("b", 60).await.is_none(), "a holds it");
    assert!(
        ledger
            .checkpoint_poll(
                &held,
                start + time::Duration::minutes(5),
                Duration::from_secs(1)
            )
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let taken = lease("b", 60).await.expect("a's lease ran out");
    assert_eq!(
        taken.cursor,
        start + time::Duration::minutes(5),
        "the cursor stayed"
    );
    assert!(
        !ledger
            .checkpoint_poll(
                &held,
                start + time::Duration::minutes(9),
                Duration::from_secs(1)
            )
            .await
            .unwrap(),
        "a lost its lease and may not move the cursor"
    );
}

#[tokio::test]
async fn status_shows_the_poll_and_a_poll_failing_for_three_intervals_needs_a_person() {
    let setup = setup().await;
    setup.api.list(order(7601, 2601, 5));
    let text = setup.config();
    let config = xcs_processor::config::Config::from_toml(&text, |_| None).unwrap();
    let processor = TestProcessor::start(&text).await;
    setup.wait_invoices("SP-2601", 1).await;
    let connection = setup.broker.connect().await;
    let shop_status = || async {
        let status = xcs_processor::operate::status::status(&config, &connection, Some(SHOP))
            .await
            .unwrap();
        status.shops.into_iter().next().unwrap()
    };

    let healthy = shop_status().await;
    let poll = healthy.poll.as_ref().expect("the shop is polled");
    assert_eq!(poll.every_secs, 1);
    assert!(
        poll.read_up_to.is_some() && poll.last_poll_at.is_some(),
        "{poll:?}"
    );
    assert!(poll.last_error.is_none(), "{poll:?}");
    assert!(healthy.needs_attention.is_empty(), "{healthy:?}");
    let text = xcs_processor::operate::status::render_text(
        &xcs_processor::operate::status::status(&config, &connection, Some(SHOP))
            .await
            .unwrap(),
    );
    assert!(
        text.contains("  poll         every 1 s; read up to "),
        "{text}"
    );

    // The API goes down: the poll fails (five tries, the fake's 503s asking for 10 s each),
    // its cursor stays, and once it is three intervals behind a person is asked for, with the
    // error.
    setup.api.set_down(true);
    let failing = xcs_tests::eventually(PATIENCE * 2, "a poll failing too long", || async {
        let shop = shop_status().await;
        let failed = shop.poll.as_ref().is_some_and(|p| p.last_error.is_some());
        (failed && !shop.needs_attention.is_empty()).then_some(shop)
    })
    .await;
    let attention = &failing.needs_attention[0];
    assert!(
        attention
            .what
            .contains("the poll has read nothing changed after")
            && attention.what.contains("503"),
        "{attention:?}"
    );
    assert!(failing.poll.unwrap().last_error.unwrap().contains("503"));

    // Back up: the next poll catches up from the cursor and nobody is needed.
    setup.api.set_down(false);
    xcs_tests::eventually(PATIENCE, "the poll caught up", || async {
        let shop = shop_status().await;
        shop.needs_attention.is_empty().then_some(())
    })
    .await;
    processor.stop().await;
}
