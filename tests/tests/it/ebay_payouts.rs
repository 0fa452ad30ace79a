//! eBay payouts read from the Sell Finances API (the fake in `xcs_tests::platform_api`, paged
//! and filtered as eBay's references describe), and normalised with their monetary
//! transactions into payouts whose parts make the deposit.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_processor::platforms::api::PlatformApi;
use xcs_processor::platforms::ebay::payouts;
use xcs_processor::poll::PollClient;
use xcs_shared::Platform;
use xcs_tests::platform_api::{FakePlatformApi, fixture};

fn api(fake: &FakePlatformApi) -> PlatformApi {
    let table: toml::Table = toml::from_str(&format!("api = {}", fake.api_toml())).unwrap();
    table["api"].clone().try_into().unwrap()
}

fn payout(id: &str, date: &str, status: &str, amount: &str) -> Value {
    json!({"payoutId": id, "payoutStatus": status, "payoutDate": date,
           "amount": {"value": amount, "currency": "USD"}})
}

/// A sale of `net` after `fee` of final value fee, paid out in `payout_id`.
fn sale(n: u64, payout_id: &str, net: &str, fee: &str) -> Value {
    let usd = |value: &str| json!({"value": value, "currency": "USD"});
    json!({
        "transactionId": format!("24-{n:05}-00001"), "orderId": format!("24-{n:05}-00001"),
        "payoutId": payout_id, "transactionType": "SALE", "transactionStatus": "PAYOUT",
        "bookingEntry": "CREDIT", "amount": usd(net), "totalFeeAmount": usd(fee),
        "transactionDate": format!("2026-11-{:02}T10:00:00.000Z", 1 + n % 20),
        "orderLineItems": [{"lineItemId": n.to_string(), "marketplaceFees": [
            {"feeType": "FINAL_VALUE_FEE", "amount": usd(fee)}]}],
    })
}

#[tokio::test]
async fn succeeded_payouts_in_a_window_are_read_across_pages_oldest_first() {
    let fake = FakePlatformApi::start(Platform::Ebay).await;
    // 230 succeeded payouts, one a day from 2026-01-01 on: more than one page of 200.
    let first = time::macros::datetime!(2026-01-01 02:00 UTC);
    for n in 0..230i64 {
        let at = first + time::Duration::days(n);
        let date = format!("{}T02:00:00.000Z", at.date());
        fake.ebay_payout(
            payout(&format!("60000{n:05}"), &date, "SUCCEEDED", "10.00"),
            vec![],
        );
    }
    fake.ebay_payout(
        payout(
            "7000000001",
            "2026-03-01T02:00:00.000Z",
            "INITIATED",
            "1.00",
        ),
        vec![],
    );
    fake.ebay_payout(
        payout("7000000002", "2026-03-02T02:00:00.000Z", "REVERSED", "1.00"),
        vec![],
    );
    let listed = payouts::succeeded_payouts(
        &PollClient::default(),
        &api(&fake),
        time::macros::datetime!(2026-01-05 00:00 UTC),
        time::macros::datetime!(2026-12-31 00:00 UTC),
    )
    .await
    .unwrap();
    let ids: Vec<&str> = listed
        .iter()
        .map(|p| p["payoutId"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (4..230).map(|n| format!("60000{n:05}")).collect();
    assert_eq!(ids, expected);
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == payouts::PAYOUTS && r.status == 200)
        .count();
    assert_eq!(pages, 2, "{:?}", fake.requests());
    // A window with no payouts is eBay's 204, read as none.
    let none = payouts::succeeded_payouts(
        &PollClient::default(),
        &api(&fake),
        time::macros::datetime!(2025-01-01 00:00 UTC),
        time::macros::datetime!(2025-02-01 00:00 UTC),
    )
    .await
    .unwrap();
    assert!(none.is_empty());
    fake.stop().await;
}

#[tokio::test]
async fn a_payouts_transactions_are_read_across_pages_and_make_its_deposit() {
    let fake = FakePlatformApi::start(Platform::Ebay).await;
    let documented = fixture("ebay/payouts_6000012345_usd.json")["payouts"][0].clone();
    let mut transactions = fixture("ebay/transactions_6000012345_usd.json")["transactions"]
        .as_array()
        .unwrap()
        .clone();
    // 250 more sales of 0.87 after 0.13 of fees: two pages of transactions, 217.50 more.
    for n in 0..250 {
        transactions.push(sale(n, "6000012345", "0.87", "0.13"));
    }
    let mut body = documented.clone();
    body["amount"]["value"] = json!("296.81");
    fake.ebay_payout(body.clone(), transactions);
    // Another payout's transactions stay out of this one's list.
    fake.ebay_payout(
        payout(
            "6000012346",
            "2026-11-25T02:00:00.000Z",
            "SUCCEEDED",
            "8.00",
        ),
        vec![sale(900, "6000012346", "8.00", "2.00")],
    );
    let client = PollClient::default();
    let read = payouts::payout_by_id(&client, &api(&fake), "6000012345")
        .await
        .unwrap();
    assert_eq!(read, body);
    let listed = payouts::transactions(&client, &api(&fake), "6000012345")
        .await
        .unwrap();
    assert_eq!(listed.len(), 258);
    let normalised = payouts::payout(&read, &listed).unwrap();
    assert_eq!(normalised.charges.len(), 252);
    assert_eq!(normalised.amount, "296.81".parse::<Decimal>().unwrap());
    assert_eq!(normalised.difference(), Decimal::ZERO);
    let other = payouts::transactions(&client, &api(&fake), "6000012346")
        .await
        .unwrap();
    let other_payout = payouts::payout_by_id(&client, &api(&fake), "6000012346")
        .await
        .unwrap();
    assert_eq!(
        payouts::payout(&other_payout, &other).unwrap().difference(),
        Decimal::ZERO
    );
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.path == payouts::TRANSACTIONS)
        .count();
    assert_eq!(pages, 3, "{:?}", fake.requests());
    fake.stop().await;
}

#[tokio::test]
async fn an_unknown_payout_and_a_refused_token_say_what_to_fix() {
    let fake = FakePlatformApi::start(Platform::Ebay).await;
    let err = payouts::payout_by_id(&PollClient::default(), &api(&fake), "404404")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("404"), "{err}");
    let mut wrong = api(&fake);
    wrong.token = "v^1.1#wrong".to_owned().into();
    let err = payouts::transactions(&PollClient::default(), &wrong, "6000012345")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("401") && err.contains("sell.finances"),
        "{err}"
    );
    fake.stop().await;
}
