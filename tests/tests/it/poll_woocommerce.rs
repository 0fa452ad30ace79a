//! The poller on WooCommerce: orders (and the refunds they list) no webhook delivered are read
//! from `GET /wp-json/wc/v3/orders` (the fake in `xcs_tests::platform_api`,
//! `lists/woocommerce.rs`) and booked once, whatever arrives later; a full page splits the
//! window; a 429 is waited out. Each test has its own vhost, schema, simulator and fake API.

use serde_json::{Value, json};
use time::format_description::BorrowedFormatItem;
use xcs_shared::Platform;
use xcs_tests::platform_api::fixture;
use xcs_tests::polled::{PolledShop, ShopSpec, minutes_ago_as};
use xcs_tests::processor::TestProcessor;

const SHOP: &str = "nz-woo-polled";
const LIST: &str = "/wp-json/wc/v3/orders";

async fn setup() -> PolledShop {
    let contacts = r#"{ strategy = "per_customer", fallback = "WooCommerce Sales" }"#;
    let shop = ShopSpec::mapped(SHOP, contacts, "WP-", "616");
    PolledShop::start(Platform::WooCommerce, shop).await
}

/// How WooCommerce writes `date_modified_gmt`: in GMT, with no offset.
const GMT: &[BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// Order `id` (numbered the same) as the orders list holds it, modified `minutes` ago.
fn order(id: u64, minutes: i64) -> Value {
    let mut order = fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    order["number"] = json!(id.to_string());
    order["date_modified_gmt"] = json!(minutes_ago_as(minutes, GMT));
    order["date_modified"] = json!(minutes_ago_as(minutes - 13 * 60, GMT));
    order
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
    setup.wait_credit_note("WP-4417/R4431").await;
    setup.polled_again(LIST, 3).await;
    setup.one_invoice_paid_once("WP-4417").await;
    setup.one_invoice_paid_once("WP-4418").await;
    setup.one_credit_note_paid_once("WP-4417/R4431");
    // The refund event is read once per set of refunds, however often the order is listed.
    assert_eq!(
        setup
            .api
            .request_count("/wp-json/wc/v3/orders/4417/refunds"),
        1
    );
    let filters = setup.list_statuses(LIST).first().copied();
    assert_eq!(filters, Some(200), "the list's filters are WooCommerce's");
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order(4501, 10);
    setup.api.list(listed.clone());
    let event_id = format!("woocommerce:{SHOP}:late-webhook-4501");
    let body = serde_json::to_vec(&listed).unwrap();
    let processor = setup
        .poll_then_deliver("WP-4501", "order.created", &event_id, &body)
        .await;
    setup.one_invoice_paid_once("WP-4501").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 110 orders over the last 23 minutes: more than WooCommerce's 100 a page.
    setup.list_spread(110, 5, |n, minutes| order(5000 + n, minutes));
    let processor = setup.start_throttled(110, |n| n.starts_with("WP-5")).await;
    setup.polled_again(LIST, 2).await;
    for n in [0u64, 57, 109] {
        setup
            .one_invoice_paid_once(&format!("WP-{}", 5000 + n))
            .await;
    }
    setup.assert_list_throttled_then_answered(LIST);
    processor.stop().await;
}
