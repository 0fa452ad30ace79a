//! Etsy deposits read from the payment account ledger (the fake in `xcs_tests::platform_api`,
//! paged and limited as Etsy's Open API v3 reference describes), split at each disbursement
//! and normalised into payouts whose parts make the deposit.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::macros::datetime;
use xcs_processor::platforms::api::PlatformApi;
use xcs_processor::platforms::etsy::payouts;
use xcs_processor::poll::PollClient;
use xcs_shared::Platform;
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};

fn api(fake: &FakePlatformApi) -> PlatformApi {
    let table: toml::Table = toml::from_str(&format!("api = {}", fake.api_toml())).unwrap();
    table["api"].clone().try_into().unwrap()
}

/// A ledger built entry by entry, each entry's balance the one before plus its amount.
#[derive(Default)]
struct Ledger {
    entries: Vec<Value>,
    payments: Vec<Value>,
    balance: i64,
}

impl Ledger {
    fn entry(
        &mut self,
        at: i64,
        kind: &str,
        reference_type: &str,
        reference: u64,
        amount: i64,
    ) -> u64 {
        self.entry_with_parent(at, kind, reference_type, reference, amount, None)
    }

    fn entry_with_parent(
        &mut self,
        at: i64,
        kind: &str,
        reference_type: &str,
        reference: u64,
        amount: i64,
        parent: Option<u64>,
    ) -> u64 {
        self.balance += amount;
        let id = 1_000_000 + self.entries.len() as u64;
        self.entries.push(json!({
            "entry_id": id, "ledger_id": 61100, "sequence_number": self.entries.len(),
            "amount": amount, "currency": "GBP", "description": kind, "balance": self.balance,
            "create_date": at, "created_timestamp": at, "ledger_type": kind,
            "reference_type": reference_type, "reference_id": reference.to_string(),
            "parent_entry_id": parent, "payment_adjustments": [],
        }));
        id
    }

    /// A sale of `gross` pence: the payment, Etsy's processing fee and its VAT, and the
    /// transaction fee and its VAT.
    fn sale(&mut self, at: i64, payment: u64, receipt: u64, gross: i64) -> i64 {
        self.payments.push(json!({
            "payment_id": payment, "shop_id": 31415926, "receipt_id": receipt,
            "amount_gross": {"amount": gross, "divisor": 100, "currency_code": "GBP"},
            "currency": "GBP", "status": "settled", "payment_adjustments": [],
        }));
        self.entry(at, "PAYMENT_GROSS", "shop_payment", payment, gross);
        let processing = gross * 4 / 100 + 20;
        let fee = self.entry(
            at,
            "PAYMENT_PROCESSING_FEE",
            "processing_fee",
            payment,
            -processing,
        );
        self.entry_with_parent(
            at,
            "vat_on_processing_fees",
            "processing_fee",
            payment,
            -processing / 5,
            Some(fee),
        );
        let transaction = gross * 65 / 1000;
        let fee = self.entry(at, "transaction", "transaction", receipt, -transaction);
        self.entry_with_parent(
            at,
            "vat_seller_services",
            "etsy",
            receipt,
            -transaction / 5,
            Some(fee),
        );
        gross - processing - processing / 5 - transaction - transaction / 5
    }

    fn disburse(&mut self, at: i64, id: u64) -> i64 {
        let deposit = self.balance;
        self.entry(at, "DISBURSE2", "disbursement", id, -deposit);
        deposit
    }
}

#[tokio::test]
async fn a_month_of_ledger_entries_is_read_across_pages_into_deposits_that_each_explain_themselves()
{
    let fake = FakePlatformApi::start(Platform::Etsy).await;
    let mut ledger = Ledger::default();
    let start = datetime!(2026-10-31 09:00 UTC).unix_timestamp();
    // The deposit of the end of October opens November.
    ledger.entry(start - 86_400, "PAYMENT_GROSS", "shop_payment", 1, 2500);
    ledger.disburse(start, 70_000);
    let mut deposits = Vec::new();
    let mut receipts_of_week: Vec<Vec<String>> = Vec::new();
    for week in 0..4u64 {
        let mut receipts = Vec::new();
        for sale in 0..30u64 {
            let at = start + i64::try_from(week * 7 * 86_400 + sale * 3_600 + 60).unwrap();
            let n = week * 100 + sale;
            ledger.sale(
                at,
                5_000_000 + n,
                3_000_000_000 + n,
                1_000 + i64::try_from(sale).unwrap() * 37,
            );
            receipts.push((3_000_000_000 + n).to_string());
        }
        let at = start + i64::try_from(week * 7 * 86_400 + 2 * 86_400).unwrap();
        ledger.entry(at, "listing", "listing", 9_000 + week, -16);
        ledger.entry(at, "RESERVE", "reserve", 8_000 + week, -250);
        let at = start + i64::try_from((week + 1) * 7 * 86_400).unwrap();
        deposits.push(ledger.disburse(at, 70_001 + week));
        receipts_of_week.push(receipts);
    }
    // After the last deposit: the next one's.
    let after = start + 29 * 86_400;
    ledger.sale(after, 5_999_999, 3_999_999_999, 4_200);
    fake.ledger(ledger.entries.clone(), ledger.payments.clone());

    let client = PollClient::default();
    let api = api(&fake);
    let entries = payouts::ledger_entries(
        &client,
        &api,
        datetime!(2026-10-31 09:00 UTC),
        datetime!(2026-11-30 23:59:59 UTC),
    )
    .await
    .unwrap();
    // 4 weeks of 30 sales of 5 entries, 2 more and a deposit each; the opening deposit; the
    // sale after.
    assert_eq!(entries.len(), 4 * (150 + 3) + 1 + 5);
    let pages = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/payment-account/ledger-entries"))
        .count();
    assert_eq!(pages, 7, "{:?}", fake.requests());
    let sequence: Vec<i64> = entries
        .iter()
        .map(|e| e["sequence_number"].as_i64().unwrap())
        .collect();
    assert!(sequence.windows(2).all(|w| w[0] < w[1]), "oldest first");

    let split = payouts::split(entries);
    assert_eq!(split.anchor.as_ref().unwrap()["reference_id"], "70000");
    assert!(split.before_anchor.is_empty());
    assert_eq!(split.paid.len(), 4);
    assert_eq!(split.unpaid.len(), 5);
    let wanted: Vec<String> = split
        .paid
        .iter()
        .flat_map(|d| &d.entries)
        .filter(|e| payouts::needs_payment(e))
        .map(|e| e["entry_id"].to_string())
        .collect();
    assert_eq!(wanted.len(), 120);
    let payments = payouts::entry_payments(&client, &api, &wanted)
        .await
        .unwrap();
    assert_eq!(payments.len(), 120);
    let receipts = payouts::receipts_of(&payments);
    for ((disbursement, deposit), week_receipts) in
        split.paid.iter().zip(&deposits).zip(&receipts_of_week)
    {
        let payout = payouts::payout(disbursement, &receipts).unwrap();
        assert_eq!(payout.amount, Decimal::new(*deposit, 2));
        assert_eq!(payout.difference(), Decimal::ZERO, "{payout:?}");
        assert_eq!(payout.charges.len(), 30);
        let orders: Vec<String> = payout
            .charges
            .iter()
            .filter_map(|c| c.order_id.clone())
            .collect();
        assert_eq!(&orders, week_receipts);
        assert_eq!(payout.fees.len(), 61);
        assert!(
            payout
                .fees
                .iter()
                .filter(|f| f.kind != "listing")
                .all(|f| f.tax.is_some())
        );
    }
    fake.stop().await;
}

#[tokio::test]
async fn the_documented_ledger_makes_its_deposit_through_the_fake() {
    let fake = FakePlatformApi::start(Platform::Etsy).await;
    let entries = fixture("etsy/ledger_entries_31415926_gbp.json")["results"]
        .as_array()
        .unwrap()
        .clone();
    let payments = fixture("etsy/ledger_payments_31415926_gbp.json")["results"]
        .as_array()
        .unwrap()
        .clone();
    fake.ledger(entries, payments);
    let client = PollClient::default();
    let api = api(&fake);
    let read = payouts::ledger_entries(
        &client,
        &api,
        datetime!(2026-11-02 09:00 UTC),
        datetime!(2026-11-30 00:00 UTC),
    )
    .await
    .unwrap();
    let split = payouts::split(read);
    let wanted: Vec<String> = split.paid[0]
        .entries
        .iter()
        .filter(|e| payouts::needs_payment(e))
        .map(|e| e["entry_id"].to_string())
        .collect();
    let receipts: HashMap<String, String> = payouts::receipts_of(
        &payouts::entry_payments(&client, &api, &wanted)
            .await
            .unwrap(),
    );
    let payout = payouts::payout(&split.paid[0], &receipts).unwrap();
    assert_eq!(payout.amount, "66.42".parse::<Decimal>().unwrap());
    assert_eq!(payout.refunds[0].order_id.as_deref(), Some("3100000001"));
    assert_eq!(payout.difference(), Decimal::ZERO);
    fake.stop().await;
}

#[tokio::test]
async fn the_ledger_refuses_a_window_without_its_required_bounds_or_an_oversized_page() {
    let fake = FakePlatformApi::start(Platform::Etsy).await;
    // reqwest is built without a default crypto provider; the fake is plain HTTP anyway.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let get = |path: String| {
        let request = http
            .get(format!("{}{path}", fake.base_url))
            .bearer_auth(credentials::ETSY_TOKEN)
            .header("x-api-key", credentials::ETSY_API_KEY);
        async move {
            let answer = request.send().await.unwrap();
            let status = answer.status().as_u16();
            (status, answer.json::<Value>().await.unwrap())
        }
    };
    let base = "/v3/application/shops/31415926/payment-account/ledger-entries";
    let window = "min_created=1793491200&max_created=1796083200";
    let (status, body) = get(format!("{base}?min_created=1793491200")).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "Missing Input Parameter: [max_created]"})
        )
    );
    let (status, body) = get(format!("{base}?{window}&limit=101")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("'limit'"),
        "{body}"
    );
    let (status, body) = get(format!("{base}/payments")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("ledger_entry_ids"),
        "{body}"
    );
    let (status, _) = get(format!("{base}/424242")).await;
    assert_eq!(status, 404);
    let (status, body) = get(format!("{base}?{window}")).await;
    assert_eq!((status, body), (200, json!({"count": 0, "results": []})));

    // The reader names the scope when the shop is not the token's.
    let mut api = api(&fake);
    api.shop_id = Some("27".to_owned());
    let err = payouts::ledger_entries(
        &PollClient::default(),
        &api,
        datetime!(2026-11-01 0:00 UTC),
        datetime!(2026-12-01 0:00 UTC),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("403"), "{err}");
    fake.stop().await;
}
