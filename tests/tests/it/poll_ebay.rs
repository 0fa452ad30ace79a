//! The poller on eBay, whose notifications bring no refunds: orders are read from the
//! Fulfillment API's `getOrders` (the fake in `xcs_tests::platform_api`, `lists/ebay.rs`) and
//! booked once, a refund the order lists as a paid credit note; a notification arriving later
//! books nothing more; more orders than a page split the window; a 429 is waited out. Each
//! test has its own vhost, schema, simulator and fake API.

use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use xcs_shared::Platform;
use xcs_tests::platform_api::fixture;
use xcs_tests::polled::{ListedWithRefund, PolledShop, ShopSpec, dec, minutes_ago};
use xcs_tests::processor::{EBAY_SHOP, TestProcessor, payment_lines};

const ORDERS: &str = "/sell/fulfillment/v1/order";

async fn setup() -> PolledShop {
    PolledShop::start(Platform::Ebay, ShopSpec::Standard(EBAY_SHOP)).await
}

/// The US demo order (123.00 of it the seller's, the rest sales tax eBay remits) as order
/// `id`, last modified `minutes` ago, as eBay writes times (milliseconds, `Z`).
fn order(id: &str, minutes: i64) -> Value {
    let mut order = fixture("ebay/order_27-13902-55814_usd_export_us.json");
    let modified = minutes_ago(minutes).replace_millisecond(250).unwrap();
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

#[tokio::test]
async fn an_order_and_a_refund_no_notification_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    setup.api.list(order("27-20001-00001", 20));
    setup.api.list(refunded(order("27-20001-00002", 10)));
    let processor = TestProcessor::start(&setup.config()).await;
    let booked = ListedWithRefund {
        invoices: ["EB-27-20001-00001", "EB-27-20001-00002"],
        paid: "123.00",
        credit_note: "EB-27-20001-00002/R5000123456",
        refunded: "10.00",
    };
    setup
        .assert_booked_once_as_listed(&processor, ORDERS, &booked)
        .await;
    processor.stop().await;
}

#[tokio::test]
async fn a_notification_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    let listed = order("27-20002-00001", 10);
    setup.api.list(listed.clone());
    setup.api.put(&format!("{ORDERS}/27-20002-00001"), listed);
    let notification_id = "49feeaeb-4982-42d9-a377-9645b8470001";
    let event_id = format!("ebay:{EBAY_SHOP}:{notification_id}");
    let body = xcs_tests::fixtures::ebay("ORDER_CONFIRMATION", notification_id, "27-20002-00001");
    let processor = setup
        .poll_then_deliver("EB-27-20002-00001", "ORDER_CONFIRMATION", &event_id, &body)
        .await;
    assert_eq!(
        setup.api.request_count(&format!("{ORDERS}/27-20002-00001")),
        1,
        "the notification fetched its order"
    );
    let invoice = setup.only_invoice("EB-27-20002-00001");
    assert_eq!(
        payment_lines(&setup.sim, &invoice),
        [("616".to_owned(), dec("123.00"))],
        "paid once"
    );
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 230 orders over the last 46 minutes: more than eBay's 200 a page.
    setup.list_spread(230, 5, |n, minutes| {
        order(&format!("27-20003-{n:05}"), minutes)
    });
    let processor = setup
        .start_throttled(230, |n| n.starts_with("EB-27-20003-"))
        .await;
    setup.polled_again(ORDERS, 2).await;
    for n in [0u64, 115, 229] {
        setup.only_invoice(&format!("EB-27-20003-{n:05}"));
    }
    setup.assert_throttled_and_accepted();
    processor.stop().await;
}
