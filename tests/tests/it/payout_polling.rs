//! The poller's payout reads (README "Payouts", `xcs_processor::poll::payouts`), per platform
//! against its fake: each paid payout is published once as a settlement event (a later read
//! publishes nothing new), payouts not paid are not published, and with `fees_per = "day"` a
//! day's payouts go as one event once the day is over. The payouts here pay orders the ledger
//! never saw, so the processor holds each one (`xcs_payouts` state `held`, its event id
//! naming what was published); booking them is `payouts_month`'s.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use time::{Date, OffsetDateTime};
use xcs_shared::Platform;
use xcs_tests::polled::{PATIENCE, PolledShop, ShopSpec};
use xcs_tests::processor::{EBAY_SHOP, ETSY_SHOP, TestProcessor, test_config};

/// A Shopify shop of these tests' own: the test config's own Shopify shop has no API.
const SHOPIFY_SHOP: &str = "nz-shopify-payouts";

fn spec(platform: Platform) -> ShopSpec<'static> {
    match platform {
        Platform::Shopify => ShopSpec::mapped(
            SHOPIFY_SHOP,
            r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            "SP-",
            "616",
        ),
        Platform::Etsy => ShopSpec::Standard(ETSY_SHOP),
        Platform::Ebay => ShopSpec::Standard(EBAY_SHOP),
        other => panic!("{other} pays out through its gateways"),
    }
}

/// The processor config: the shop with `payouts = true` and its payout mapping (bank 090,
/// fees 404, adjustments 429 of the demo chart), payouts read every second, orders not polled.
fn config(setup: &PolledShop, fees_per: &str) -> String {
    let name = &setup.name;
    let sections = setup.shop_sections().replacen(
        &format!("[shops.{name}]\n"),
        &format!("[shops.{name}]\npayouts = true\n"),
        1,
    );
    let payouts = format!(
        "[shops.{name}.mapping.payouts]\nbank_accounts = {{ NZD = \"090\" }}\nfees = \"404\"\n\
         adjustments = {{ other = \"429\" }}\nfees_per = \"{fees_per}\"\n\
         [shops.{name}.poll]\ninterval_secs = 0\npayouts_interval_secs = 1\n"
    );
    test_config(
        &setup.broker,
        &setup.schema,
        &setup.sim,
        &format!("poll_every_ms = 200\n{sections}{payouts}"),
    )
}

/// `xcs_payouts`' rows of the shop: payout id to state, reason and the event that brought it.
async fn payout_rows(setup: &PolledShop) -> BTreeMap<String, (String, String, String)> {
    let client = setup.schema.client().await;
    let Ok(rows) = client
        .query(
            "SELECT payout_id, state, reason, event_id FROM xcs_payouts WHERE shop = $1",
            &[&setup.name],
        )
        .await
    else {
        return BTreeMap::new();
    };
    rows.iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2), row.get(3))))
        .collect()
}

/// The payout reads' schedule row: when the last read was, what it published, its error.
async fn last_read(setup: &PolledShop) -> Option<(OffsetDateTime, i32, String)> {
    let client = setup.schema.client().await;
    let row = client
        .query_opt(
            "SELECT last_poll_at, last_found, last_error FROM xcs_poll_state
              WHERE shop = $1 AND purpose = 'payouts' AND last_poll_at IS NOT NULL",
            &[&setup.name],
        )
        .await
        .ok()??;
    Some((row.get(0), row.get(1), row.get(2)))
}

/// Watches `count` more payout reads go by and answers what each published, and its error.
async fn reads(setup: &PolledShop, count: usize) -> Vec<(i32, String)> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    let mut last = last_read(setup).await.map(|(at, _, _)| at);
    while seen.len() < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{count} payout reads: saw {seen:?}"
        );
        if let Some((at, found, error)) = last_read(setup).await
            && Some(at) != last
        {
            last = Some(at);
            seen.push((found, error));
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    seen
}

/// Waits until the shop's held payouts are exactly `ids`, and answers their rows.
async fn held(setup: &PolledShop, ids: &[&str]) -> BTreeMap<String, (String, String, String)> {
    let wanted: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    xcs_tests::eventually(PATIENCE, &format!("payouts {ids:?} held"), || async {
        let rows = payout_rows(setup).await;
        let held: Vec<String> = rows
            .iter()
            .filter(|(_, (state, _, _))| state == "held")
            .map(|(id, _)| id.clone())
            .collect();
        (held == wanted).then_some(rows)
    })
    .await
}

fn event_of(platform: Platform, shop: &str, id: &str) -> String {
    format!("{platform}:{shop}:api:payout:{id}@paid")
}

fn today() -> Date {
    OffsetDateTime::now_utc().date()
}

fn days_ago(days: i64) -> Date {
    today() - time::Duration::days(days)
}

fn shopify_payout(id: u64, date: Date, status: &str, amount: &str) -> Value {
    json!({"id": id, "status": status, "date": date.to_string(), "currency": "NZD",
           "amount": amount})
}

/// A Shopify charge of `order` for `amount` less 10% fee, paid out in `payout`.
fn shopify_charge(id: u64, payout: u64, order: u64, amount: &str, net: &str) -> Value {
    let fee = amount.parse::<rust_decimal::Decimal>().unwrap()
        - net.parse::<rust_decimal::Decimal>().unwrap();
    json!({
        "id": id, "type": "charge", "test": false, "payout_id": payout, "payout_status": "paid",
        "currency": "NZD", "amount": amount, "fee": fee.to_string(), "net": net,
        "source_id": id, "source_type": "charge", "source_order_id": order,
        "source_order_transaction_id": id + 1_000_000,
        "processed_at": "2026-11-20T10:00:00+13:00",
    })
}

/// Puts a paid Shopify payout of one charge of 10.00 (9.00 net) of `order` in the fake.
fn shopify_paid(setup: &PolledShop, id: u64, date: Date, order: u64) {
    setup.api.payout(
        shopify_payout(id, date, "paid", "9.00"),
        vec![shopify_charge(id * 10, id, order, "10.00", "9.00")],
    );
}

#[tokio::test]
async fn shopify_paid_payouts_are_published_once_and_others_not_at_all() {
    let setup = PolledShop::start(Platform::Shopify, spec(Platform::Shopify)).await;
    shopify_paid(&setup, 81_000_001, days_ago(3), 5_000_001);
    shopify_paid(&setup, 81_000_002, days_ago(1), 5_000_002);
    setup.api.payout(
        shopify_payout(81_000_003, today(), "in_transit", "9.00"),
        vec![shopify_charge(
            810_000_030,
            81_000_003,
            5_000_003,
            "10.00",
            "9.00",
        )],
    );
    // A payout whose transaction is of another currency cannot be normalised: the read
    // publishes the others and keeps why as its error.
    let mut foreign = shopify_charge(810_000_040, 81_000_004, 5_000_004, "10.00", "9.00");
    foreign["currency"] = json!("AUD");
    setup.api.payout(
        shopify_payout(81_000_004, days_ago(2), "paid", "9.00"),
        vec![foreign],
    );
    let toml = config(&setup, "payout");
    let processor = TestProcessor::start(&toml).await;

    let rows = held(&setup, &["81000001", "81000002"]).await;
    for id in ["81000001", "81000002"] {
        let (_, reason, event) = &rows[id];
        assert_eq!(event, &event_of(Platform::Shopify, SHOPIFY_SHOP, id));
        assert!(reason.contains("is not booked"), "{reason}");
    }
    let later = reads(&setup, 3).await;
    for (published, error) in &later {
        assert_eq!(
            *published, 0,
            "a later read publishes nothing new: {later:?}"
        );
        assert!(
            error.contains("81000004") && error.contains("AUD"),
            "the unreadable payout is the read's error: {error}"
        );
    }
    assert_eq!(payout_rows(&setup).await.len(), 2);
    // `status` shows the payout reads, and the unreadable payout as needing a person.
    let parsed = xcs_processor::config::Config::from_toml(&toml, |_| None).unwrap();
    let connection = setup.broker.connect().await;
    let found = xcs_processor::operate::status::status(&parsed, &connection, Some(SHOPIFY_SHOP))
        .await
        .expect("the status is read");
    let shop = &found.shops[0];
    let shown = shop.payouts.as_ref().expect("the payout reads shown");
    assert_eq!(shown.every_secs, 1);
    assert!(
        shown
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("81000004")),
        "{shown:?}"
    );
    assert!(
        shop.needs_attention
            .iter()
            .any(|a| a.what.contains("payout read") && a.what.contains("81000004")),
        "{:?}",
        shop.needs_attention
    );

    // Paid at last: published by the next read, once.
    shopify_paid(&setup, 81_000_003, today(), 5_000_003);
    held(&setup, &["81000001", "81000002", "81000003"]).await;
    let later = reads(&setup, 2).await;
    assert!(later.iter().all(|(n, _)| *n == 0), "{later:?}");
    processor.stop().await;
}

#[tokio::test]
async fn shopify_payouts_per_day_are_one_event_a_day_once_the_day_is_over() {
    let setup = PolledShop::start(Platform::Shopify, spec(Platform::Shopify)).await;
    shopify_paid(&setup, 82_000_001, days_ago(2), 6_000_001);
    shopify_paid(&setup, 82_000_002, days_ago(1), 6_000_002);
    shopify_paid(&setup, 82_000_003, days_ago(1), 6_000_003);
    shopify_paid(&setup, 82_000_004, today(), 6_000_004);
    let processor = TestProcessor::start(&config(&setup, "day")).await;

    let rows = held(&setup, &["82000001", "82000002", "82000003"]).await;
    let day_event = |day: Date| format!("shopify:{SHOPIFY_SHOP}:api:payout:day-{day}-NZD@");
    assert!(rows["82000001"].2.starts_with(&day_event(days_ago(2))));
    let yesterday = &rows["82000002"].2;
    assert!(
        yesterday.starts_with(&day_event(days_ago(1))),
        "{yesterday}"
    );
    assert_eq!(
        &rows["82000003"].2, yesterday,
        "one event for the day's two payouts"
    );
    let later = reads(&setup, 2).await;
    assert!(
        later.iter().all(|(n, _)| *n == 0),
        "today's payout waits for the day to end; the others are published: {later:?}"
    );

    // A payout of yesterday listed after yesterday's event: an event of its own, as the day's
    // fees bill belongs to the first.
    shopify_paid(&setup, 82_000_005, days_ago(1), 6_000_005);
    let rows = held(&setup, &["82000001", "82000002", "82000003", "82000005"]).await;
    assert_eq!(
        rows["82000005"].2,
        event_of(Platform::Shopify, SHOPIFY_SHOP, "82000005")
    );
    processor.stop().await;
}

/// An Etsy ledger entry, each entry's balance the one before plus its amount.
#[derive(Default)]
struct EtsyLedger {
    entries: Vec<Value>,
    payments: Vec<Value>,
    balance: i64,
}

impl EtsyLedger {
    fn entry(
        &mut self,
        at: OffsetDateTime,
        kind: &str,
        reference_type: &str,
        reference: u64,
        amount: i64,
    ) {
        self.balance += amount;
        let id = 1_000_000 + self.entries.len() as u64;
        let at = at.unix_timestamp();
        self.entries.push(json!({
            "entry_id": id, "ledger_id": 61100, "sequence_number": self.entries.len(),
            "amount": amount, "currency": "NZD", "description": kind, "balance": self.balance,
            "create_date": at, "created_timestamp": at, "ledger_type": kind,
            "reference_type": reference_type, "reference_id": reference.to_string(),
            "parent_entry_id": null, "payment_adjustments": [],
        }));
    }

    /// A sale of `gross` cents of receipt `receipt`, and Etsy's processing fee on it.
    fn sale(&mut self, at: OffsetDateTime, payment: u64, receipt: u64, gross: i64) {
        self.payments.push(json!({
            "payment_id": payment, "shop_id": 31415926, "receipt_id": receipt,
            "amount_gross": {"amount": gross, "divisor": 100, "currency_code": "NZD"},
            "currency": "NZD", "status": "settled", "payment_adjustments": [],
        }));
        self.entry(at, "PAYMENT_GROSS", "shop_payment", payment, gross);
        self.entry(
            at,
            "PAYMENT_PROCESSING_FEE",
            "processing_fee",
            payment,
            -(gross / 20),
        );
    }

    fn disburse(&mut self, at: OffsetDateTime, id: u64) {
        let deposit = self.balance;
        self.entry(at, "DISBURSE2", "disbursement", id, -deposit);
    }
}

async fn etsy_cursor(setup: &PolledShop) -> OffsetDateTime {
    let client = setup.schema.client().await;
    client
        .query_one(
            "SELECT cursor FROM xcs_poll_state WHERE shop = $1 AND purpose = 'payouts'",
            &[&setup.name],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn etsy_disbursements_after_the_anchor_are_published_once_each_read_whole() {
    let setup = PolledShop::start(Platform::Etsy, spec(Platform::Etsy)).await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let day = time::Duration::days(1);
    let mut ledger = EtsyLedger::default();
    // Before the first read's reach back: the anchor's own sale is not read, so the anchor is
    // not published, as its parts would not make its deposit.
    ledger.sale(now - day * 9, 7_000_001, 3_100_000_001, 2_000);
    ledger.disburse(now - day * 6, 90_001);
    ledger.sale(now - day * 5, 7_000_002, 3_100_000_002, 3_000);
    ledger.disburse(now - day * 4, 90_002);
    ledger.sale(now - day * 3, 7_000_003, 3_100_000_003, 4_000);
    ledger.sale(now - day * 3, 7_000_004, 3_100_000_004, 1_000);
    ledger.disburse(now - day * 2, 90_003);
    // Not paid out yet.
    ledger.sale(now - day, 7_000_005, 3_100_000_005, 5_000);
    setup
        .api
        .ledger(ledger.entries.clone(), ledger.payments.clone());
    let processor = TestProcessor::start(&config(&setup, "payout")).await;

    let rows = held(&setup, &["90002", "90003"]).await;
    assert!(
        rows["90002"].1.contains("3100000002"),
        "{:?}",
        rows["90002"]
    );
    let reason = &rows["90003"].1;
    assert!(
        reason.contains("3100000003") && reason.contains("3100000004"),
        "{reason}"
    );
    assert_eq!(
        rows["90003"].2,
        event_of(Platform::Etsy, ETSY_SHOP, "90003")
    );
    let later = reads(&setup, 2).await;
    assert!(
        later.iter().all(|(n, e)| *n == 0 && e.is_empty()),
        "{later:?}"
    );
    // The last disbursement anchors the next read.
    assert_eq!(etsy_cursor(&setup).await, now - day * 2);

    // The next deposit pays the sale after the last one.
    ledger.disburse(now - time::Duration::minutes(5), 90_004);
    setup
        .api
        .ledger(ledger.entries.clone(), ledger.payments.clone());
    let rows = held(&setup, &["90002", "90003", "90004"]).await;
    assert!(
        rows["90004"].1.contains("3100000005"),
        "{:?}",
        rows["90004"]
    );
    let later = reads(&setup, 2).await;
    assert!(later.iter().all(|(n, _)| *n == 0), "{later:?}");
    processor.stop().await;
}

fn ebay_payout(id: &str, at: OffsetDateTime, status: &str, amount: &str) -> Value {
    json!({"payoutId": id, "payoutStatus": status,
           "payoutDate": xcs_processor::poll::rfc3339(at),
           "amount": {"value": amount, "currency": "NZD"}})
}

/// An eBay sale of `order`, `net` after `fee`, paid out in `payout`.
fn ebay_sale(order: &str, payout: &str, net: &str, fee: &str) -> Value {
    let nzd = |value: &str| json!({"value": value, "currency": "NZD"});
    json!({
        "transactionId": format!("tx-{order}"), "orderId": order, "payoutId": payout,
        "transactionType": "SALE", "transactionStatus": "PAYOUT", "bookingEntry": "CREDIT",
        "amount": nzd(net), "totalFeeAmount": nzd(fee),
        "transactionDate": "2026-11-20T10:00:00.000Z",
        "orderLineItems": [{"lineItemId": "1", "marketplaceFees": [
            {"feeType": "FINAL_VALUE_FEE", "amount": nzd(fee)}]}],
    })
}

#[tokio::test]
async fn ebay_succeeded_payouts_are_published_once_and_others_not_at_all() {
    let setup = PolledShop::start(Platform::Ebay, spec(Platform::Ebay)).await;
    let now = OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    for (id, at, status) in [
        ("6100000001", now - day * 4, "SUCCEEDED"),
        ("6100000002", now - day * 2, "SUCCEEDED"),
        ("6100000003", now - day, "INITIATED"),
        ("6100000004", now - day, "REVERSED"),
        // Before the first read's reach back.
        ("6100000005", now - day * 9, "SUCCEEDED"),
    ] {
        setup.api.ebay_payout(
            ebay_payout(id, at, status, "9.00"),
            vec![ebay_sale(&format!("12-{id}"), id, "9.00", "1.00")],
        );
    }
    let processor = TestProcessor::start(&config(&setup, "payout")).await;

    let rows = held(&setup, &["6100000001", "6100000002"]).await;
    assert!(rows["6100000001"].1.contains("12-6100000001"), "{rows:?}");
    let later = reads(&setup, 2).await;
    assert!(
        later.iter().all(|(n, e)| *n == 0 && e.is_empty()),
        "{later:?}"
    );

    setup.api.ebay_payout(
        ebay_payout("6100000003", now - day, "SUCCEEDED", "9.00"),
        vec![ebay_sale("12-6100000003", "6100000003", "9.00", "1.00")],
    );
    held(&setup, &["6100000001", "6100000002", "6100000003"]).await;
    let later = reads(&setup, 2).await;
    assert!(later.iter().all(|(n, _)| *n == 0), "{later:?}");
    processor.stop().await;
}

#[tokio::test]
async fn payout_reads_further_apart_than_a_week_are_refused_and_zero_turns_them_off() {
    let setup = PolledShop::start(Platform::Ebay, spec(Platform::Ebay)).await;
    let with = |secs: u64| {
        config(&setup, "payout").replace(
            "payouts_interval_secs = 1",
            &format!("payouts_interval_secs = {secs}"),
        )
    };
    let err = xcs_processor::config::Config::from_toml(&with(700_000), |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("poll.payouts_interval_secs is over a week"),
        "{err}"
    );
    let off = xcs_processor::config::Config::from_toml(&with(0), |_| None).unwrap();
    assert!(!xcs_processor::poll::payouts::polled(&off.shops[EBAY_SHOP]));
    let on = xcs_processor::config::Config::from_toml(&with(1), |_| None).unwrap();
    assert!(xcs_processor::poll::payouts::polled(&on.shops[EBAY_SHOP]));
    assert!(xcs_processor::poll::scheduler::any_polled(&on));
}

#[tokio::test]
async fn etsy_disbursements_per_day_wait_for_the_day_and_anchor_the_next_read_before_it() {
    let setup = PolledShop::start(Platform::Etsy, spec(Platform::Etsy)).await;
    let midnight = today().midnight().assume_utc();
    let hour = time::Duration::hours(1);
    let day = time::Duration::days(1);
    let mut ledger = EtsyLedger::default();
    ledger.sale(midnight - day * 5, 7_100_001, 3_200_000_001, 2_000);
    ledger.disburse(midnight - day * 4, 91_001);
    // Two deposits three days ago, one two days ago, one today.
    ledger.sale(midnight - day * 3 + hour, 7_100_002, 3_200_000_002, 3_000);
    ledger.disburse(midnight - day * 3 + hour * 2, 91_002);
    ledger.sale(
        midnight - day * 3 + hour * 3,
        7_100_003,
        3_200_000_003,
        4_000,
    );
    ledger.disburse(midnight - day * 3 + hour * 4, 91_003);
    ledger.sale(midnight - day * 2 + hour, 7_100_004, 3_200_000_004, 1_000);
    ledger.disburse(midnight - day * 2 + hour * 2, 91_004);
    ledger.sale(
        midnight - day * 2 + hour * 3,
        7_100_005,
        3_200_000_005,
        5_000,
    );
    let now = OffsetDateTime::now_utc();
    ledger.disburse(midnight.max(now - time::Duration::minutes(1)), 91_005);
    setup
        .api
        .ledger(ledger.entries.clone(), ledger.payments.clone());
    let processor = TestProcessor::start(&config(&setup, "day")).await;

    let rows = held(&setup, &["91002", "91003", "91004"]).await;
    let day_event = |day: Date| format!("etsy:{ETSY_SHOP}:api:payout:day-{day}-NZD@");
    assert!(
        rows["91002"].2.starts_with(&day_event(days_ago(3))),
        "{rows:?}"
    );
    assert_eq!(rows["91002"].2, rows["91003"].2, "one event for the day");
    assert!(
        rows["91004"].2.starts_with(&day_event(days_ago(2))),
        "{rows:?}"
    );
    let later = reads(&setup, 2).await;
    assert!(later.iter().all(|(n, _)| *n == 0), "{later:?}");
    // Today's deposit is published tomorrow, from a read anchored at the last one before it.
    assert_eq!(etsy_cursor(&setup).await, midnight - day * 2 + hour * 2);
    processor.stop().await;
}
