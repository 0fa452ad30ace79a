//! The poller on Adobe Commerce: orders and credit memos no Adobe I/O event delivered are read
//! from the REST searches `GET /rest/V1/orders` and `GET /rest/V1/creditmemos` (the fake in
//! `xcs_tests::platform_api`, `lists/magento.rs`) and booked once from the listed resources,
//! whatever arrives later; a full page splits the window; a 429 is waited out. Each test has
//! its own vhost, schema, simulator and fake API.

use serde_json::{Value, json};
use time::format_description::BorrowedFormatItem;
use xcs_shared::Platform;
use xcs_tests::platform_api::fixture;
use xcs_tests::polled::{PolledShop, ShopSpec, minutes_ago_as};
use xcs_tests::processor::TestProcessor;

const SHOP: &str = "nz-magento-polled";
const ORDERS: &str = "/rest/V1/orders";
const MEMOS: &str = "/rest/V1/creditmemos";

async fn setup() -> PolledShop {
    let contacts = r#"{ strategy = "generic", name = "Adobe Commerce Sales" }"#;
    let shop = ShopSpec::mapped(SHOP, contacts, "MP-", "616");
    PolledShop::start(Platform::Magento, shop).await
}

/// How Magento writes times: `YYYY-MM-DD HH:MM:SS`, UTC.
const MAGENTO_TIME: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");

/// Order `id` (number `0000{id}`), paid in full, as the REST API lists it, updated `minutes`
/// ago.
fn order(id: u64, minutes: i64) -> Value {
    let mut order = fixture("magento/order_save_after_000005120_nzd.json")["data"]["value"].take();
    order["entity_id"] = json!(id.to_string());
    order["increment_id"] = json!(format!("{id:09}"));
    order["total_paid"] = order["grand_total"].clone();
    order["total_invoiced"] = order["grand_total"].clone();
    order["updated_at"] = json!(minutes_ago_as(minutes, MAGENTO_TIME));
    order
}

#[tokio::test]
async fn an_order_and_a_credit_memo_no_event_brought_are_booked_by_the_poll_once_without_fetching()
{
    let setup = setup().await;
    setup.api.list(order(5120, 10));
    setup.api.list(order(5121, 20));
    let mut memo =
        fixture("magento/creditmemo_save_after_000005120_nzd.json")["data"]["value"].take();
    memo["updated_at"] = json!(minutes_ago_as(5, MAGENTO_TIME));
    setup.api.list(memo);
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("MP-000005120", 1).await;
    setup.wait_invoices("MP-000005121", 1).await;
    setup.wait_credit_note("MP-000005120/R208").await;
    setup.polled_again(MEMOS, 3).await;
    setup.one_invoice_paid_once("MP-000005120").await;
    setup.one_invoice_paid_once("MP-000005121").await;
    setup.one_credit_note_paid_once("MP-000005120/R208");
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
    let mut event = fixture("magento/order_save_after_000005120_nzd.json");
    event["data"]["value"] = listed;
    event["event_id"] = json!("7f1d3b5a-late-5130");
    let event_id = format!("magento:{SHOP}:late-event-5130");
    let body = serde_json::to_vec(&event).unwrap();
    let processor = setup
        .poll_then_deliver(
            "MP-000005130",
            "com.adobe.commerce.observer.sales_order_save_after",
            &event_id,
            &body,
        )
        .await;
    setup.one_invoice_paid_once("MP-000005130").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 110 orders over the last 23 minutes: more than the poller's 100 a page.
    setup.list_spread(110, 5, |n, minutes| order(6000 + n, minutes));
    let processor = setup
        .start_throttled(110, |n| {
            n.starts_with("MP-0000060") || n.starts_with("MP-0000061")
        })
        .await;
    setup.polled_again(MEMOS, 2).await;
    for n in [0u64, 57, 109] {
        setup
            .one_invoice_paid_once(&format!("MP-{:09}", 6000 + n))
            .await;
    }
    setup.assert_list_throttled_then_answered(ORDERS);
    processor.stop().await;
}
