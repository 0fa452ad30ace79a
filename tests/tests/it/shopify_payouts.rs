//! Shopify Payments payouts read from the Admin REST API (the fake in
//! `xcs_tests::platform_api`, paged and filtered as Shopify's references describe), and
//! normalised with their balance transactions into payouts whose parts make the deposit.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_processor::platforms::api::PlatformApi;
use xcs_processor::platforms::shopify::payouts;
use xcs_processor::poll::PollClient;
use xcs_shared::Platform;
use xcs_tests::platform_api::{FakePlatformApi, fixture};

fn api(fake: &FakePlatformApi) -> PlatformApi {
    let table: toml::Table = toml::from_str(&format!("api = {}", fake.api_toml())).unwrap();
    table["api"].clone().try_into().unwrap()
}

fn payout(id: u64, date: &str, status: &str, amount: &str) -> Value {
    json!({"id": id, "status": status, "date": date, "currency": "NZD", "amount": amount})
}

fn charge(id: u64, payout_id: u64, order_id: u64, amount: &str, fee: &str, net: &str) -> Value {
    json!({
        "id": id, "type": "charge", "test": false, "payout_id": payout_id,
        "payout_status": "paid", "currency": "NZD", "amount": amount, "fee": fee, "net": net,
        "source_id": id, "source_type": "charge", "source_order_id": order_id,
        "source_order_transaction_id": id + 1_000_000,
        "processed_at": format!("2026-11-{:02}T10:00:00+13:00", 1 + id % 20),
    })
}

#[tokio::test]
async fn paid_payouts_since_a_date_are_read_across_pages_oldest_first() {
    let fake = FakePlatformApi::start(Platform::Shopify).await;
    // 260 paid payouts, one a day from 2026-01-01 on: more than one page of 250.
    let first = time::macros::date!(2026 - 01 - 01);
    for n in 0..260u64 {
        let date = first + time::Duration::days(i64::try_from(n).unwrap());
        fake.payout(payout(1000 + n, &date.to_string(), "paid", "10.00"), vec![]);
    }
    fake.payout(payout(5000, "2026-09-01", "scheduled", "10.00"), vec![]);
    fake.payout(payout(5001, "2026-09-02", "in_transit", "10.00"), vec![]);
    let client = PollClient::default();
    let since = time::macros::date!(2026 - 01 - 05);
    let listed = payouts::paid_payouts(&client, &api(&fake), since)
        .await
        .unwrap();
    let ids: Vec<u64> = listed.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1004..1260).collect::<Vec<_>>());
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/shopify_payments/payouts.json"))
        .count();
    assert_eq!(pages, 2, "{:?}", fake.requests());
    fake.stop().await;
}

#[tokio::test]
async fn a_payouts_balance_transactions_are_read_across_pages_and_make_its_deposit() {
    let fake = FakePlatformApi::start(Platform::Shopify).await;
    let documented = fixture("shopify/payouts_81726354_nzd.json")["payouts"][0].clone();
    let mut transactions =
        fixture("shopify/balance_transactions_81726354_nzd.json")["transactions"]
            .as_array()
            .unwrap()
            .clone();
    // 300 more charges of 1.00 less 0.03: two pages of transactions, and 291.00 more paid out.
    for n in 0..300u64 {
        transactions.push(charge(
            2_000_000 + n,
            81726354,
            6_000_000 + n,
            "1.00",
            "0.03",
            "0.97",
        ));
    }
    let mut body = documented.clone();
    body["amount"] = json!("375.89");
    fake.payout(body.clone(), transactions);
    // Another payout's transactions stay out of this one's list.
    fake.payout(
        payout(81726355, "2026-11-25", "paid", "8.00"),
        vec![charge(
            3_000_000, 81726355, 7_000_000, "10.00", "2.00", "8.00",
        )],
    );
    let client = PollClient::default();
    let listed = payouts::balance_transactions(&client, &api(&fake), "81726354")
        .await
        .unwrap();
    assert_eq!(listed.len(), 307);
    let normalised = payouts::payout(&body, &listed).unwrap();
    assert_eq!(normalised.charges.len(), 302);
    assert_eq!(normalised.amount, "375.89".parse::<Decimal>().unwrap());
    assert_eq!(normalised.difference(), Decimal::ZERO);
    fake.stop().await;
}

#[tokio::test]
async fn a_token_without_the_payouts_scope_is_named_in_the_error() {
    let fake = FakePlatformApi::start(Platform::Shopify).await;
    let mut api = api(&fake);
    api.token = "shpat_wrong".to_owned().into();
    let err = payouts::paid_payouts(
        &PollClient::default(),
        &api,
        time::macros::date!(2026 - 11 - 01),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("401") && err.contains("shopify_payments_payouts"),
        "{err}"
    );
    fake.stop().await;
}
