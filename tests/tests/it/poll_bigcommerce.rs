//! The poller on BigCommerce: orders and refunds no webhook delivered are read from
//! `GET /v2/orders` and `GET /v3/orders/payment_actions/refunds` (the fake in
//! `xcs_tests::platform_api`, `lists/bigcommerce.rs`), published as the thin webhook bodies,
//! hydrated as webhooks are, and booked once, whatever arrives later; a full page splits the
//! window; a 429 is waited out. Each test has its own vhost, schema, simulator and fake API.

use serde_json::{Value, json};
use time::format_description::well_known::{Rfc2822, Rfc3339};
use xcs_shared::Platform;
use xcs_tests::platform_api::fixture;
use xcs_tests::polled::{PolledShop, ShopSpec, dec, minutes_ago_as};
use xcs_tests::processor::{TestProcessor, payment_lines};

const SHOP: &str = "nz-bigcommerce-polled";
const ORDERS: &str = "/v2/orders";
const REFUNDS: &str = "/v3/orders/payment_actions/refunds";

async fn setup() -> PolledShop {
    let contacts = r#"{ strategy = "generic", name = "BigCommerce Sales" }"#;
    let shop = ShopSpec::mapped(SHOP, contacts, "BP-", "616");
    PolledShop::start(Platform::BigCommerce, shop).await
}

/// Order `id` in the store, modified `minutes` ago: listed, and served with its products.
fn order(setup: &PolledShop, id: u64, minutes: i64) -> Value {
    let mut order = fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    order["date_modified"] = json!(minutes_ago_as(minutes, &Rfc2822));
    let mut products = fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json");
    for product in products.as_array_mut().unwrap() {
        product["order_id"] = json!(id);
    }
    setup.api.put(&format!("/v2/orders/{id}"), order.clone());
    setup
        .api
        .put(&format!("/v2/orders/{id}/products"), products);
    setup.api.list(order.clone());
    order
}

/// Waits for the invoice to be paid, then asserts it is the only one and paid once: the
/// gift certificate from its liability and the rest by card, as the order says.
async fn one_invoice_paid_by_certificate_and_card(setup: &PolledShop, number: &str) {
    let invoice = setup.paid_invoice(number).await;
    assert_eq!(
        payment_lines(&setup.sim, &invoice),
        [
            ("825".to_owned(), dec("25.00")),
            ("616".to_owned(), dec("138.30"))
        ],
        "{number}"
    );
}

#[tokio::test]
async fn an_order_and_a_refund_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    order(&setup, 310, 10);
    order(&setup, 311, 20);
    // The refund is listed by its own creation; its order's modification is older than the
    // window would need, as when a refund does not touch the order.
    let refunds = fixture("bigcommerce/refunds_v3_310.json");
    setup
        .api
        .put("/v3/orders/310/payment_actions/refunds", refunds.clone());
    let mut refund = refunds["data"][0].clone();
    refund["created"] = json!(minutes_ago_as(5, &Rfc3339));
    setup.api.list(refund);
    let processor = TestProcessor::start(&setup.config()).await;

    setup.wait_invoices("BP-310", 1).await;
    setup.wait_invoices("BP-311", 1).await;
    setup.wait_credit_note("BP-310/R41").await;
    setup.polled_again(REFUNDS, 3).await;
    one_invoice_paid_by_certificate_and_card(&setup, "BP-310").await;
    one_invoice_paid_by_certificate_and_card(&setup, "BP-311").await;
    setup.one_credit_note_paid_once("BP-310/R41");
    // Each version is hydrated once, however often it is listed, and only with what the
    // lists lack: the order and the refund are booked as listed, the products fetched.
    assert_eq!(setup.api.request_count("/v2/orders/310/products"), 1);
    assert_eq!(setup.api.request_count("/v2/orders/310"), 0);
    assert_eq!(
        setup
            .api
            .request_count("/v3/orders/310/payment_actions/refunds"),
        0
    );
    processor.stop().await;
}

#[tokio::test]
async fn an_empty_window_is_204_and_the_poll_carries_on() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup.polled_again(REFUNDS, 2).await;
    assert!(
        setup.list_statuses(ORDERS).contains(&204),
        "{:?}",
        setup.list_statuses(ORDERS)
    );
    // An order appearing later is found by the next polls.
    order(&setup, 320, 1);
    setup.wait_invoices("BP-320", 1).await;
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_order_books_nothing_more() {
    let setup = setup().await;
    order(&setup, 330, 10);
    let event_id = format!("bigcommerce:{SHOP}:late-webhook-330");
    let webhook = json!({"scope": "store/order/statusUpdated", "store_id": "1025646",
                         "data": {"type": "order", "id": 330}});
    let body = serde_json::to_vec(&webhook).unwrap();
    let processor = setup
        .poll_then_deliver("BP-330", "store/order/statusUpdated", &event_id, &body)
        .await;
    one_invoice_paid_by_certificate_and_card(&setup, "BP-330").await;
    processor.stop().await;
}

#[tokio::test]
async fn more_orders_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 260 orders over the last 53 minutes: more than V2's 250 a page.
    for n in 0..260u64 {
        order(&setup, 5000 + n, 1 + i64::try_from(n / 5).unwrap());
    }
    let processor = setup.start_throttled(260, |n| n.starts_with("BP-5")).await;
    setup.polled_again(REFUNDS, 2).await;
    for n in [0u64, 129, 259] {
        one_invoice_paid_by_certificate_and_card(&setup, &format!("BP-{}", 5000 + n)).await;
    }
    let statuses = setup.list_statuses(ORDERS);
    assert!(statuses.contains(&429), "{statuses:?}");
    processor.stop().await;
}
