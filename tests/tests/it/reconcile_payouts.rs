//! `reconcile --payouts` (README "Reconcile", "Payouts"): per payout the bank shows
//! in the period, the deposit against the transfer Xero holds and what its booking left in the
//! clearing account; held payouts with their reason. Payouts are published as the poller
//! publishes them, after the orders they settle are booked, against the Xero simulator.

use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::json;
use xcs_processor::config::Config;
use xcs_processor::operate::parse_time;
use xcs_processor::payouts::{Settlement, TOPIC};
use xcs_processor::reconcile::{
    PAYOUTS_CSV_HEADER, PayoutFinding, PayoutReport, reconcile_payouts,
};
use xcs_shared::domain::{Payout, PayoutCharge, PayoutRefund, PayoutStatus};
use xcs_shared::{EventKind, Platform, Source};
use xcs_tests::fixtures;
use xcs_tests::processor::{Rig, SHOP, TestProcessor, envelope, publish_envelope, wait_handled};
use xcs_xero_sim::DEMO_NZ_TENANT_ID;

const HANDLED: Duration = Duration::from_secs(30);

/// The rig's config with the Shopify shop's payouts on: clearing 615 (payments enabled, so a
/// transfer is money received in the bank coded to it), deposits to 090, fees on 404. The API
/// is never called: polling is off.
fn config_text(rig: &Rig) -> String {
    let header = format!("[shops.{SHOP}]\n");
    let accounts = format!("[shops.{SHOP}.mapping.accounts]\n");
    rig.config("")
        .replacen(
            &header,
            &format!(
                "{header}payouts = true\n\
                 api = {{ base_url = \"http://127.0.0.1:9\", token = \"shpat_unused\" }}\n"
            ),
            1,
        )
        .replacen(
            &accounts,
            &format!(
                "[shops.{SHOP}.mapping.payouts]\nbank_accounts = {{ NZD = \"090\" }}\n\
                 fees = \"404\"\nadjustments = {{ other = \"429\" }}\n\n{accounts}"
            ),
            1,
        )
}

fn config(text: &str) -> Config {
    Config::from_toml(text, |_| None).expect("a valid config")
}

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Books paid order `n` (Shopify order id 9000+n, 63.25 paid into clearing 615).
async fn book_order(rig: &Rig, n: u64) {
    let event = format!("shopify:{SHOP}:rp-o{n}");
    rig.publish(
        EventKind::Order,
        "orders/paid",
        &event,
        &fixtures::shopify_nz_order(9000 + n, n, true),
    )
    .await;
    let (outcome, detail) = wait_handled(&rig.schema, &event, HANDLED).await;
    assert_eq!(outcome, "booked", "{event}: {detail}");
}

/// A paid payout on 2026-11-`day` settling `charges` (order id, empty for a charge naming no
/// order; gross; fee) and `refunds` (order id, amount), its deposit what they make.
fn payout(id: &str, day: u8, charges: &[(&str, &str, &str)], refunds: &[(&str, &str)]) -> Payout {
    let charges: Vec<PayoutCharge> = charges
        .iter()
        .map(|(order, gross, fee)| PayoutCharge {
            order_id: (!order.is_empty()).then(|| (*order).to_owned()),
            reference: None,
            gross: d(gross),
            fee: d(fee),
        })
        .collect();
    let refunds: Vec<PayoutRefund> = refunds
        .iter()
        .map(|(order, amount)| PayoutRefund {
            order_id: Some((*order).to_owned()),
            reference: None,
            amount: d(amount),
            fee: Decimal::ZERO,
        })
        .collect();
    let amount = charges.iter().map(|c| c.gross - c.fee).sum::<Decimal>()
        - refunds.iter().map(|r| r.amount).sum::<Decimal>();
    Payout {
        platform: Platform::Shopify,
        payout_id: id.to_owned(),
        status: PayoutStatus::Paid,
        date: time::Date::from_calendar_date(2026, time::Month::November, day).unwrap(),
        currency: "NZD".to_owned().try_into().unwrap(),
        amount,
        charges,
        refunds,
        fees: Vec::new(),
        adjustments: Vec::new(),
    }
}

/// Publishes `payout` as the poller does: a settlement under the payouts topic; returns its
/// event id.
async fn publish_payout(rig: &Rig, payout: Payout) -> String {
    let event_id = format!("shopify:{SHOP}:payout-{}", payout.payout_id);
    let mut envelope = envelope(Platform::Shopify, SHOP, EventKind::Payout, TOPIC, &event_id);
    envelope.source = Source::Poll;
    let body = serde_json::to_vec(&Settlement {
        day: None,
        payouts: vec![payout],
    })
    .unwrap();
    publish_envelope(&rig.broker, &envelope, &body).await;
    event_id
}

async fn reconcile(rig: &Rig) -> PayoutReport {
    let text = config_text(rig);
    reconcile_payouts(
        &config(&text),
        &rig.xero(&text),
        SHOP,
        parse_time("2026-11-01").unwrap(),
        parse_time("2026-12-01").unwrap(),
    )
    .await
    .expect("reconcile --payouts runs")
}

/// `(finding, payout id, clearing left)` per payout, oldest first.
fn rows(report: &PayoutReport) -> Vec<(PayoutFinding, String, Option<Decimal>)> {
    report
        .payouts
        .iter()
        .map(|p| (p.status, p.payout_id.clone(), p.clearing_left))
        .collect()
}

#[tokio::test]
async fn a_consistent_month_leaves_nothing_in_clearing_and_a_deleted_transfer_is_reported() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&config_text(&rig)).await;
    book_order(&rig, 1).await;
    book_order(&rig, 2).await;
    for payout in [
        payout("P-1", 21, &[("9001", "63.25", "2.13")], &[]),
        payout("P-2", 23, &[("9002", "63.25", "2.13")], &[]),
    ] {
        let event = publish_payout(&rig, payout).await;
        let (outcome, detail) = wait_handled(&rig.schema, &event, HANDLED).await;
        assert_eq!(outcome, "booked", "{event}: {detail}");
    }
    processor.stop().await;

    let report = reconcile(&rig).await;
    assert_eq!(
        rows(&report),
        [
            (PayoutFinding::Agrees, "P-1".to_owned(), Some(d("0"))),
            (PayoutFinding::Agrees, "P-2".to_owned(), Some(d("0"))),
        ],
        "{}",
        report.table()
    );
    let first = &report.payouts[0];
    assert_eq!(
        (
            first.deposit,
            first.xero_transfer,
            first.fees,
            first.charged
        ),
        (
            d("61.12"),
            Some(d("61.12")),
            Some(d("2.13")),
            Some(d("63.25"))
        )
    );
    assert_eq!(first.transfer_kind, "BankTransactions");
    assert_eq!(report.clearing_left.get("NZD"), Some(&d("0")));
    assert_eq!((report.held, report.xero_reads), (0, 2));
    assert_eq!(report.exit_code(), 0, "{}", report.table());
    let table = report.table();
    for words in [
        "OK: no discrepancies.",
        "Totals: clearing left by the booked payouts NZD 0",
    ] {
        assert!(table.contains(words), "{words:?} in\n{table}");
    }
    // The simulator's own books agree: clearing holds nothing of the two orders.
    assert_eq!(
        rig.sim.account_balance(DEMO_NZ_TENANT_ID, "615"),
        Some(Decimal::ZERO)
    );

    // Someone deletes the second payout's transfer in Xero.
    let deleted = report.payouts[1].transfer_id.clone();
    rig.xero(&config_text(&rig))
        .call(
            &DEMO_NZ_TENANT_ID.to_string(),
            Method::POST,
            &format!("/BankTransactions/{deleted}"),
            &[],
            Some(
                &json!({"BankTransactions": [{"BankTransactionID": deleted, "Status": "DELETED"}]}),
            ),
            None,
        )
        .await
        .expect("the transfer deleted");
    let report = reconcile(&rig).await;
    assert_eq!(
        rows(&report),
        [
            (PayoutFinding::Agrees, "P-1".to_owned(), Some(d("0"))),
            (
                PayoutFinding::TransferDeleted,
                "P-2".to_owned(),
                Some(d("61.12"))
            ),
        ],
        "{}",
        report.table()
    );
    assert_eq!(report.payouts[1].xero_status, "DELETED");
    assert_eq!(report.clearing_left.get("NZD"), Some(&d("61.12")));
    assert_eq!(report.exit_code(), 1);
    let table = report.table();
    for words in [
        "1 discrepancies: 1 transfer_deleted",
        "the transfer is DELETED in Xero",
        "clearing left by the booked payouts NZD 61.12",
        "transfer_deleted: the deposit is still in clearing",
    ] {
        assert!(table.contains(words), "{words:?} in\n{table}");
    }
    let csv = report.csv();
    assert_eq!(csv.lines().next(), Some(PAYOUTS_CSV_HEADER));
    assert!(
        csv.lines().nth(2).is_some_and(|row| row
            .starts_with("transfer_deleted,P-2,2026-11-23,NZD,booked,61.12,0,2.13,63.25,0,61.12,")),
        "{csv}"
    );
}

#[tokio::test]
async fn a_held_payout_is_listed_with_its_reason_and_a_refund_it_settled_is_counted() {
    // P-1 also pays out 10.00 charged outside any order: its supplier credit brings that money
    // into clearing, so its fees less adjustments are −7.57 and clearing is left with nothing.
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&config_text(&rig)).await;
    book_order(&rig, 1).await;
    let refund = format!("shopify:{SHOP}:rp-r1");
    rig.publish(
        EventKind::Refund,
        "refunds/create",
        &refund,
        &fixtures::shopify_nz_refund(71, 9001),
    )
    .await;
    let (outcome, detail) = wait_handled(&rig.schema, &refund, HANDLED).await;
    assert_eq!(outcome, "booked", "{refund}: {detail}");
    let event = publish_payout(
        &rig,
        payout(
            "P-1",
            22,
            &[("9001", "63.25", "2.13"), ("", "10.00", "0.30")],
            &[("9001", "23.00")],
        ),
    )
    .await;
    let (outcome, detail) = wait_handled(&rig.schema, &event, HANDLED).await;
    assert_eq!(outcome, "booked", "{event}: {detail}");
    // Order 9003 was never booked: its payout waits.
    publish_payout(&rig, payout("P-3", 25, &[("9003", "63.25", "2.13")], &[])).await;
    let client = rig.schema.client().await;
    xcs_tests::eventually(HANDLED, "payout P-3 held", || {
        let client = &client;
        async move {
            let row = client
                .query_opt("SELECT state FROM xcs_payouts WHERE payout_id = 'P-3'", &[])
                .await
                .ok()??;
            (row.get::<_, String>(0) == "held").then_some(())
        }
    })
    .await;
    processor.stop().await;

    let report = reconcile(&rig).await;
    assert_eq!(
        rows(&report),
        [
            (PayoutFinding::Agrees, "P-1".to_owned(), Some(d("0"))),
            (PayoutFinding::Held, "P-3".to_owned(), None),
        ],
        "{}",
        report.table()
    );
    let settled = &report.payouts[0];
    assert_eq!(
        (
            settled.charged,
            settled.refunded,
            settled.fees,
            settled.xero_transfer
        ),
        (
            Some(d("63.25")),
            Some(d("23.00")),
            Some(d("-7.57")),
            Some(d("47.82"))
        )
    );
    let held = &report.payouts[1];
    assert_eq!(held.state, "held");
    assert_eq!(held.difference, Some(d("63.25")));
    assert!(held.reason.contains("order 9003"), "{}", held.reason);
    assert_eq!(report.held, 1);
    assert_eq!(report.clearing_left.get("NZD"), Some(&d("0")));
    assert_eq!(report.exit_code(), 1);
    let table = report.table();
    for words in [
        "1 discrepancies: 1 held",
        "order 9003",
        "(must be zero); 1 held.",
        "held: book the orders the reason names",
    ] {
        assert!(table.contains(words), "{words:?} in\n{table}");
    }
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["payouts"][1]["status"], "held");
    assert_eq!(json["held"], 1);
}
