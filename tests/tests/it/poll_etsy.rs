//! The poller on Etsy, whose webhooks bring no refunds: receipts are read from the Open API's
//! `getShopReceipts` (the fake in `xcs_tests::platform_api`, `lists/etsy.rs`) and booked once,
//! a refund the receipt lists as a paid credit note; a webhook arriving later books nothing
//! more; more receipts than a page split the window; a 429 is waited out. Each test has its own
//! vhost, schema, simulator and fake API.

use serde_json::{Value, json};
use xcs_shared::Platform;
use xcs_tests::platform_api::{credentials, fixture};
use xcs_tests::polled::{ListedWithRefund, PolledShop, ShopSpec, dec, minutes_ago};
use xcs_tests::processor::{ETSY_SHOP, TestProcessor, payment_lines};

const RECEIPTS: &str = "/v3/application/shops/31415926/receipts";

async fn setup() -> PolledShop {
    PolledShop::start(Platform::Etsy, ShopSpec::Standard(ETSY_SHOP)).await
}

/// The NZ demo receipt (the buyer paid 112.20, of which 102.00 is the seller's) as receipt
/// `id`, last changed `minutes` ago.
fn receipt(id: u64, minutes: i64) -> Value {
    let mut receipt = fixture("etsy/receipt_2891034567_nzd_export_au.json");
    let changed = minutes_ago(minutes).unix_timestamp();
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

#[tokio::test]
async fn a_receipt_and_a_refund_no_webhook_brought_are_booked_by_the_poll_once() {
    let setup = setup().await;
    setup.api.list(receipt(3_100_000_001, 20));
    setup.api.list(refunded(receipt(3_100_000_002, 10)));
    let processor = TestProcessor::start(&setup.config()).await;
    let booked = ListedWithRefund {
        invoices: ["ET-3100000001", "ET-3100000002"],
        paid: "102.00",
        credit_note: "ET-3100000002/R3100000002-1795403400",
        refunded: "38.00",
    };
    setup
        .assert_booked_once_as_listed(&processor, RECEIPTS, &booked)
        .await;
    processor.stop().await;
}

#[tokio::test]
async fn a_webhook_after_the_poll_booked_its_receipt_books_nothing_more() {
    let setup = setup().await;
    let listed = receipt(3_200_000_001, 10);
    setup.api.list(listed.clone());
    setup.api.put(&format!("{RECEIPTS}/3200000001"), listed);
    let event_id = format!("etsy:{ETSY_SHOP}:late-webhook-3200000001");
    let shop_id: u64 = credentials::ETSY_SHOP_ID.parse().unwrap();
    let body = xcs_tests::fixtures::etsy("ORDER_PAID", shop_id, 3_200_000_001);
    let processor = setup
        .poll_then_deliver("ET-3200000001", "ORDER_PAID", &event_id, &body)
        .await;
    assert_eq!(
        setup.api.request_count(&format!("{RECEIPTS}/3200000001")),
        1,
        "the webhook fetched its receipt"
    );
    let invoice = setup.only_invoice("ET-3200000001");
    assert_eq!(
        payment_lines(&setup.sim, &invoice),
        [("616".to_owned(), dec("102.00"))],
        "paid once"
    );
    processor.stop().await;
}

#[tokio::test]
async fn more_receipts_than_a_page_split_the_window_and_a_429_is_waited_out() {
    let setup = setup().await;
    // 130 receipts over the last 44 minutes: more than Etsy's 100 a page.
    setup.list_spread(130, 3, |n, minutes| receipt(3_300_000_000 + n, minutes));
    let processor = setup
        .start_throttled(130, |n| n.starts_with("ET-33000"))
        .await;
    setup.polled_again(RECEIPTS, 2).await;
    for n in [0u64, 64, 129] {
        setup.only_invoice(&format!("ET-{}", 3_300_000_000 + n));
    }
    setup.assert_throttled_and_accepted();
    processor.stop().await;
}
