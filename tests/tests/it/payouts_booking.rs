//! Payouts booked into the Xero simulator (README "Payouts", issue 19): orders booked through
//! their webhooks pay into clearing; a payout event (as the poller publishes it) books the
//! platform's fees and adjustments as one bill paid from clearing and moves exactly the deposit
//! from clearing to the bank, once, so clearing holds nothing of the payout afterwards.
//! Each test asserts what Xero holds: the documents, their payments, the transfers and the
//! balances of clearing and bank.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::Value;
use time::macros::date;
use xcs_processor::payouts::Settlement;
use xcs_shared::domain::AdjustmentKind;
use xcs_shared::{EventKind, Platform};
use xcs_tests::fixtures;
use xcs_tests::payouts::{
    self, MAPPING, adjustment, balance, bank_transactions_referenced, charge, date_of, dec, fee,
    payout, payout_in_state, publish_payout, publish_settlement, purchases, refund, shopify_config,
    transfers_referenced,
};
use xcs_tests::processor::{
    ETSY_SHOP, Rig, TestProcessor, XeroLine, amount, payment_lines, platform_shop, wait_handled,
};
use xcs_xero_sim::DEMO_NZ_TENANT_ID;
use xcs_xero_sim::faults::{Fault, FaultKind};

/// A payout waits out a retry tier (10 s) at least once when it is held or fails.
const HANDLED: Duration = Duration::from_secs(90);

/// The BANK account the tests' deposits reach, and a BANK account used as clearing.
const BANK: &str = "090";
const BANK_CLEARING: &str = "091";
/// A CURRENT account with payments enabled, as clearing.
const CURRENT_CLEARING: &str = "615";

async fn booked(rig: &Rig, event_id: &str) -> String {
    let (outcome, detail) = wait_handled(&rig.schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{event_id}: {detail}");
    detail
}

/// Books Shopify order `id` (63.25 paid through Shopify Payments into clearing).
async fn book_order(rig: &Rig, id: u64) {
    let event = format!("shopify:nz-shopify:o-{id}");
    rig.publish(
        EventKind::Order,
        "orders/paid",
        &event,
        &fixtures::shopify_nz_order(id, id, true),
    )
    .await;
    booked(rig, &event).await;
}

/// Books Shopify refund `refund_id` of order `order_id` (23.00 back out of clearing).
async fn book_refund(rig: &Rig, refund_id: u64, order_id: u64) {
    let event = format!("shopify:nz-shopify:r-{refund_id}");
    rig.publish(
        EventKind::Refund,
        "refunds/create",
        &event,
        &fixtures::shopify_nz_refund(refund_id, order_id),
    )
    .await;
    booked(rig, &event).await;
}

fn one<T: std::fmt::Debug>(mut list: Vec<T>, what: &str) -> T {
    assert_eq!(list.len(), 1, "one {what}: {list:#?}");
    list.remove(0)
}

/// The lines of a document as (description, account, line amount, tax type, tax), sorted.
fn lines(document: &Value) -> Vec<(String, String, Decimal, String, Decimal)> {
    let mut lines: Vec<_> = XeroLine::of(document)
        .into_iter()
        .map(|l| {
            (
                l.description,
                l.account_code,
                l.line_amount,
                l.tax_type,
                l.tax_amount,
            )
        })
        .collect();
    lines.sort();
    lines
}

fn line(
    description: &str,
    account: &str,
    line_amount: &str,
    tax_type: &str,
    tax: &str,
) -> (String, String, Decimal, String, Decimal) {
    (
        description.to_owned(),
        account.to_owned(),
        dec(line_amount),
        tax_type.to_owned(),
        dec(tax),
    )
}

/// Everything Xero holds that a payout's booking makes: purchases, payments, transfers and
/// spend/receive money.
fn payout_records(rig: &Rig) -> (usize, usize, usize, usize) {
    (
        purchases(&rig.sim).len(),
        rig.sim.payments(DEMO_NZ_TENANT_ID).len(),
        rig.sim.bank_transfers(DEMO_NZ_TENANT_ID).len(),
        rig.sim.bank_transactions(DEMO_NZ_TENANT_ID).len(),
    )
}

/// Orders 9101 and 9102 and a refund of 9101, paid out less processing fees, a refund fee
/// given back, a dispute fee and a reserve held back.
fn shopify_payout() -> xcs_shared::domain::Payout {
    let mut p = payout(
        Platform::Shopify,
        "81726354",
        date!(2026 - 11 - 25),
        "NZD",
        "74.60",
    );
    p.charges = vec![charge(9101, "63.25", "2.10"), charge(9102, "63.25", "2.10")];
    p.refunds = vec![refund(9101, "23.00", "-0.30")];
    p.fees = vec![fee("dispute_fee", "15.00", None)];
    p.adjustments = vec![adjustment(AdjustmentKind::Reserve, "-10.00")];
    assert_eq!(p.difference(), Decimal::ZERO, "the payout explains itself");
    p
}

#[tokio::test]
async fn a_shopify_payout_is_one_bill_paid_from_clearing_and_a_transfer_of_the_deposit_once() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    let clearing_before = balance(&rig.sim, BANK_CLEARING);
    let bank_before = balance(&rig.sim, BANK);
    book_order(&rig, 9101).await;
    book_order(&rig, 9102).await;
    book_refund(&rig, 91011, 9101).await;
    // The orders' payments are in clearing, the refund's out of it.
    assert_eq!(
        balance(&rig.sim, BANK_CLEARING) - clearing_before,
        dec("63.25") + dec("63.25") - dec("23.00")
    );

    let p = shopify_payout();
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354", &p).await;
    let detail = booked(&rig, "shopify:nz-shopify:payout-81726354").await;

    let bill = one(purchases(&rig.sim), "fees bill");
    assert_eq!(bill["Type"], "ACCPAY", "{bill:#?}");
    assert_eq!(bill["InvoiceNumber"], "SH-PO-81726354");
    assert_eq!(bill["Contact"]["Name"], "Shopify Payments");
    assert_eq!(date_of(&bill), "2026-11-25");
    assert_eq!(
        lines(&bill),
        vec![
            line("Shopify fees: dispute_fee", "404", "15.00", "NONE", "0"),
            line("Shopify processing fees", "405", "4.20", "NONE", "0"),
            line("Shopify refund fees", "405", "-0.30", "NONE", "0"),
            line("Shopify reserve", "620", "10.00", "NONE", "0"),
        ]
    );
    assert_eq!(amount(&bill["Total"]), dec("28.90"));
    assert_eq!(bill["Status"], "PAID", "{bill:#?}");
    assert_eq!(
        payment_lines(&rig.sim, &bill),
        vec![(BANK_CLEARING.to_owned(), dec("28.90"))]
    );

    let transfer = one(transfers_referenced(&rig.sim, "81726354"), "transfer");
    assert_eq!(transfer["FromBankAccount"]["Code"], BANK_CLEARING);
    assert_eq!(transfer["ToBankAccount"]["Code"], BANK);
    assert_eq!(amount(&transfer["Amount"]), p.amount);
    assert_eq!(date_of(&transfer), "2026-11-25");
    assert!(
        bank_transactions_referenced(&rig.sim, "81726354").is_empty(),
        "a BANK clearing account pays out by transfer"
    );
    // Clearing holds nothing of the orders any more; the bank has the deposit.
    assert_eq!(balance(&rig.sim, BANK_CLEARING), clearing_before);
    assert_eq!(balance(&rig.sim, BANK) - bank_before, p.amount);
    assert!(detail.contains("81726354"), "{detail}");
    let (_, reason, difference, _) =
        payout_in_state(&rig.schema, "nz-shopify", "81726354", "booked", HANDLED).await;
    assert_eq!((reason.as_str(), difference), ("", Decimal::ZERO));

    // Exactly once: the same payout in another event (a second poll) and the same event
    // again (a redelivery, a replay) book nothing more.
    let records = payout_records(&rig);
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354-again", &p).await;
    let (outcome, detail) = wait_handled(
        &rig.schema,
        "shopify:nz-shopify:payout-81726354-again",
        HANDLED,
    )
    .await;
    assert_eq!(outcome, "skipped", "{detail}");
    assert!(detail.contains("booked already"), "{detail}");
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354", &p).await;
    // An order after them, in the tenant's order: once it is booked, both were read.
    book_order(&rig, 9103).await;
    let (invoices_now, payments_now, transfers_now, transactions_now) = payout_records(&rig);
    assert_eq!(
        (
            invoices_now,
            payments_now - 1,
            transfers_now,
            transactions_now
        ),
        records,
        "only order 9103's payment is new"
    );
    assert_eq!(balance(&rig.sim, BANK) - bank_before, p.amount);
    processor.stop().await;
}

#[tokio::test]
async fn a_payout_of_an_order_the_ledger_never_saw_is_held_then_booked_once_the_order_is() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    book_order(&rig, 9201).await;
    let mut p = payout(
        Platform::Shopify,
        "9200",
        date!(2026 - 11 - 26),
        "NZD",
        "122.30",
    );
    p.charges = vec![charge(9201, "63.25", "2.10"), charge(9202, "63.25", "2.10")];
    publish_payout(&rig, "shopify:nz-shopify:payout-9200", &p).await;
    let (_, reason, difference, _) =
        payout_in_state(&rig.schema, "nz-shopify", "9200", "held", HANDLED).await;
    assert!(
        reason.contains("order 9202") && reason.contains("63.25") && !reason.contains("9201"),
        "{reason}"
    );
    assert_eq!(difference, dec("63.25"));
    assert!(reason.contains(&difference.to_string()), "{reason}");
    assert!(purchases(&rig.sim).is_empty());
    assert!(transfers_referenced(&rig.sim, "9200").is_empty());

    // The missing order arrives: the held payout looks again and books.
    book_order(&rig, 9202).await;
    booked(&rig, "shopify:nz-shopify:payout-9200").await;
    payout_in_state(&rig.schema, "nz-shopify", "9200", "booked", HANDLED).await;
    let transfer = one(transfers_referenced(&rig.sim, "9200"), "transfer");
    assert_eq!(amount(&transfer["Amount"]), p.amount);
    let bill = one(purchases(&rig.sim), "fees bill");
    assert_eq!(amount(&bill["Total"]), dec("4.20"));
    assert_eq!(balance(&rig.sim, BANK_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), p.amount);
    processor.stop().await;
}

#[tokio::test]
async fn a_payout_held_past_hold_max_hours_is_dead_lettered_as_unexplained() {
    let rig = Rig::new().await;
    let mapping = format!("{MAPPING}hold_max_hours = 0\n");
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, &mapping)).await;
    let mut p = payout(
        Platform::Shopify,
        "9300",
        date!(2026 - 11 - 26),
        "NZD",
        "61.15",
    );
    p.charges = vec![charge(9301, "63.25", "2.10")];
    publish_payout(&rig, "shopify:nz-shopify:payout-9300", &p).await;
    let dead = rig.broker.one_dead_letter(HANDLED).await;
    assert_eq!(dead.header("xcs-reason"), Some("payout_unexplained"));
    let error = dead.header("xcs-last-error").unwrap_or_default();
    assert!(error.contains("order 9301"), "{error}");
    // Recorded dead, so the poller does not publish it again while it is in the dead queue.
    let (_, reason, _, _) =
        payout_in_state(&rig.schema, "nz-shopify", "9300", "dead", HANDLED).await;
    assert!(reason.contains("order 9301"), "{reason}");
    assert_eq!(payout_records(&rig), (0, 0, 0, 0));
    processor.stop().await;
}

#[tokio::test]
async fn a_payout_in_a_currency_without_a_bank_account_is_dead_lettered_unmapped_and_books_nothing()
{
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    // A reserve released in AUD, less a fee: the shop maps no AUD bank account.
    let mut p = payout(
        Platform::Shopify,
        "9400",
        date!(2026 - 11 - 26),
        "AUD",
        "45.00",
    );
    p.fees = vec![fee("dispute_fee", "5.00", None)];
    p.adjustments = vec![adjustment(AdjustmentKind::Reserve, "50.00")];
    publish_payout(&rig, "shopify:nz-shopify:payout-9400", &p).await;
    let dead = rig.broker.one_dead_letter(HANDLED).await;
    assert_eq!(dead.header("xcs-reason"), Some("payout_unmapped"));
    let error = dead.header("xcs-last-error").unwrap_or_default();
    assert!(error.contains("AUD"), "{error}");
    let (_, reason, _, _) =
        payout_in_state(&rig.schema, "nz-shopify", "9400", "dead", HANDLED).await;
    assert!(reason.contains("bank_accounts"), "{reason}");
    assert_eq!(
        payout_records(&rig),
        (0, 0, 0, 0),
        "{:#?}",
        purchases(&rig.sim)
    );
    processor.stop().await;
}

#[tokio::test]
async fn adjustments_outweighing_fees_are_a_supplier_credit_and_a_negative_payout_comes_from_the_bank()
 {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    book_order(&rig, 9501).await;
    book_refund(&rig, 95011, 9501).await;
    // A reserve of 40.00 released with order 9501's payment: more added than the fees take.
    let mut released = payout(
        Platform::Shopify,
        "9501",
        date!(2026 - 11 - 24),
        "NZD",
        "98.25",
    );
    released.charges = vec![charge(9501, "63.25", "2.00")];
    released.fees = vec![fee("dispute_fee", "3.00", None)];
    released.adjustments = vec![adjustment(AdjustmentKind::Reserve, "40.00")];
    publish_payout(&rig, "shopify:nz-shopify:payout-9501", &released).await;
    booked(&rig, "shopify:nz-shopify:payout-9501").await;
    let credit = one(purchases(&rig.sim), "supplier credit");
    assert_eq!(credit["Type"], "ACCPAYCREDIT", "{credit:#?}");
    assert_eq!(credit["CreditNoteNumber"], "SH-PO-9501");
    assert_eq!(amount(&credit["Total"]), dec("35.00"));
    assert_eq!(
        lines(&credit),
        vec![
            line("Shopify fees: dispute_fee", "404", "-3.00", "NONE", "0"),
            line("Shopify processing fees", "405", "-2.00", "NONE", "0"),
            line("Shopify reserve", "620", "40.00", "NONE", "0"),
        ]
    );
    // Refunded into clearing.
    assert_eq!(
        payment_lines(&rig.sim, &credit),
        vec![(BANK_CLEARING.to_owned(), dec("35.00"))]
    );
    assert_eq!(balance(&rig.sim, BANK), released.amount);

    // The refund paid out with nothing to pay it from, and 5.00 more held back: Shopify
    // debits the bank.
    let mut debit = payout(
        Platform::Shopify,
        "9502",
        date!(2026 - 11 - 26),
        "NZD",
        "-28.00",
    );
    debit.refunds = vec![refund(9501, "23.00", "0")];
    debit.adjustments = vec![adjustment(AdjustmentKind::Reserve, "-5.00")];
    publish_payout(&rig, "shopify:nz-shopify:payout-9502", &debit).await;
    booked(&rig, "shopify:nz-shopify:payout-9502").await;
    let transfer = one(transfers_referenced(&rig.sim, "9502"), "transfer");
    assert_eq!(transfer["FromBankAccount"]["Code"], BANK);
    assert_eq!(transfer["ToBankAccount"]["Code"], BANK_CLEARING);
    assert_eq!(amount(&transfer["Amount"]), dec("28.00"));
    assert_eq!(balance(&rig.sim, BANK_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), released.amount + debit.amount);
    processor.stop().await;
}

#[tokio::test]
async fn a_clearing_account_that_is_not_a_bank_account_pays_out_as_money_received_coded_to_it() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, CURRENT_CLEARING, MAPPING)).await;
    book_order(&rig, 9101).await;
    book_order(&rig, 9102).await;
    book_refund(&rig, 91011, 9101).await;
    assert_eq!(balance(&rig.sim, CURRENT_CLEARING), dec("103.50"));
    let p = shopify_payout();
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354", &p).await;
    booked(&rig, "shopify:nz-shopify:payout-81726354").await;

    let bill = one(purchases(&rig.sim), "fees bill");
    assert_eq!(
        payment_lines(&rig.sim, &bill),
        vec![(CURRENT_CLEARING.to_owned(), dec("28.90"))]
    );
    assert!(transfers_referenced(&rig.sim, "81726354").is_empty());
    let received = one(
        bank_transactions_referenced(&rig.sim, "81726354"),
        "receive money",
    );
    assert_eq!(received["Type"], "RECEIVE", "{received:#?}");
    assert_eq!(received["BankAccount"]["Code"], BANK);
    assert_eq!(amount(&received["Total"]), p.amount);
    assert_eq!(date_of(&received), "2026-11-25");
    let coded: Vec<String> = XeroLine::of(&received)
        .into_iter()
        .map(|l| l.account_code)
        .collect();
    assert_eq!(coded, [CURRENT_CLEARING]);
    assert_eq!(balance(&rig.sim, CURRENT_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), p.amount);
    processor.stop().await;
}

#[tokio::test]
async fn etsy_fees_with_vat_are_bill_lines_with_the_fee_tax_type_and_the_stated_tax() {
    let rig = Rig::new().await;
    let config = format!(
        "{}{}",
        rig.config(""),
        platform_shop(ETSY_SHOP, Platform::Etsy, None)
    );
    let config = payouts::payouts_config(&config, ETSY_SHOP, "616", "616", MAPPING);
    let processor = TestProcessor::start(&config).await;
    // Listing and transaction fees with GST stated, and a 2.00 reserve released: Etsy debits
    // the bank for the rest.
    let mut p = payout(
        Platform::Etsy,
        "et-77",
        date!(2026 - 11 - 25),
        "NZD",
        "-3.06",
    );
    p.fees = vec![
        fee("listing", "0.23", Some("0.03")),
        fee("listing", "0.23", Some("0.03")),
        fee("transaction", "4.60", Some("0.60")),
    ];
    p.adjustments = vec![adjustment(AdjustmentKind::Reserve, "2.00")];
    assert_eq!(p.difference(), Decimal::ZERO);
    let settlement = Settlement {
        day: None,
        payouts: vec![p.clone()],
    };
    publish_settlement(
        &rig.broker,
        Platform::Etsy,
        ETSY_SHOP,
        "etsy:nz-etsy:payout-77",
        &settlement,
    )
    .await;
    booked(&rig, "etsy:nz-etsy:payout-77").await;
    let bill = one(purchases(&rig.sim), "fees bill");
    assert_eq!(bill["Type"], "ACCPAY", "{bill:#?}");
    assert_eq!(bill["InvoiceNumber"], "ET-PO-et-77");
    assert_eq!(bill["Contact"]["Name"], "Etsy Payments");
    assert_eq!(
        lines(&bill),
        vec![
            line("Etsy fees: listing", "405", "0.40", "INPUT2", "0.06"),
            line("Etsy fees: transaction", "404", "4.00", "INPUT2", "0.60"),
            line("Etsy reserve", "620", "-2.00", "NONE", "0"),
        ]
    );
    assert_eq!(amount(&bill["TotalTax"]), dec("0.66"));
    assert_eq!(amount(&bill["Total"]), dec("3.06"));
    assert_eq!(
        payment_lines(&rig.sim, &bill),
        vec![("616".to_owned(), dec("3.06"))]
    );
    // 616 is no BANK account: Etsy's debit is money spent from the bank, coded to clearing.
    let spent = one(
        bank_transactions_referenced(&rig.sim, "et-77"),
        "spend money",
    );
    assert_eq!(spent["Type"], "SPEND", "{spent:#?}");
    assert_eq!(amount(&spent["Total"]), dec("3.06"));
    assert_eq!(balance(&rig.sim, "616"), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), p.amount);
    processor.stop().await;
}

#[tokio::test]
async fn fees_per_day_book_one_bill_for_the_days_payouts_and_a_transfer_each() {
    let rig = Rig::new().await;
    let mapping = format!("{MAPPING}fees_per = \"day\"\n");
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, &mapping)).await;
    book_order(&rig, 9601).await;
    book_order(&rig, 9602).await;
    let day = date!(2026 - 11 - 25);
    let mut first = payout(Platform::Shopify, "9601", day, "NZD", "61.15");
    first.charges = vec![charge(9601, "63.25", "2.10")];
    let mut second = payout(Platform::Shopify, "9602", day, "NZD", "56.15");
    second.charges = vec![charge(9602, "63.25", "2.10")];
    second.fees = vec![fee("dispute_fee", "5.00", None)];
    let settlement = Settlement {
        day: Some(day),
        payouts: vec![first.clone(), second.clone()],
    };
    publish_settlement(
        &rig.broker,
        Platform::Shopify,
        "nz-shopify",
        "shopify:nz-shopify:payouts-2026-11-25",
        &settlement,
    )
    .await;
    booked(&rig, "shopify:nz-shopify:payouts-2026-11-25").await;
    let bill = one(purchases(&rig.sim), "fees bill");
    // The day, the currency, and a digest of the two payouts it bills (six hex digits).
    let number = bill["InvoiceNumber"].as_str().unwrap();
    let digest = number
        .strip_prefix("SH-PO-2026-11-25-NZD-")
        .unwrap_or_else(|| panic!("{number}"));
    assert!(
        digest.len() == 6 && digest.chars().all(|c| c.is_ascii_hexdigit()),
        "{number}"
    );
    assert_eq!(
        lines(&bill),
        vec![
            line("Shopify fees: dispute_fee", "404", "5.00", "NONE", "0"),
            line("Shopify processing fees", "405", "4.20", "NONE", "0"),
        ]
    );
    for p in [&first, &second] {
        let transfer = one(transfers_referenced(&rig.sim, &p.payout_id), "transfer");
        assert_eq!(amount(&transfer["Amount"]), p.amount);
        payout_in_state(&rig.schema, "nz-shopify", &p.payout_id, "booked", HANDLED).await;
    }
    assert_eq!(rig.sim.bank_transfers(DEMO_NZ_TENANT_ID).len(), 2);
    assert_eq!(balance(&rig.sim, BANK_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), first.amount + second.amount);
    processor.stop().await;
}

#[tokio::test]
async fn a_transfer_xero_made_but_answered_as_failed_is_found_on_the_retry_and_nothing_is_made_twice()
 {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    book_order(&rig, 9101).await;
    book_order(&rig, 9102).await;
    book_refund(&rig, 91011, 9101).await;
    // The bill and its payment go through; the transfer is made, but Xero answers 500.
    rig.sim.inject_fault(
        Fault::new(FaultKind::ApplyThenStatus { status: 500 })
            .method("PUT")
            .path_prefix("/api.xro/2.0/BankTransfers"),
    );
    let p = shopify_payout();
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354", &p).await;
    booked(&rig, "shopify:nz-shopify:payout-81726354").await;
    assert!(rig.sim.pending_faults().is_empty(), "the fault was hit");
    one(purchases(&rig.sim), "fees bill");
    let bill_payments = rig
        .sim
        .payments(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|p| p["Reference"] == "SH-PO-81726354")
        .count();
    assert_eq!(bill_payments, 1);
    let transfer = one(transfers_referenced(&rig.sim, "81726354"), "transfer");
    assert_eq!(amount(&transfer["Amount"]), p.amount);
    assert_eq!(balance(&rig.sim, BANK_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), p.amount);
    processor.stop().await;
}

#[tokio::test]
async fn a_bill_payment_that_failed_is_retried_without_making_the_bill_again() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start(&shopify_config(&rig, BANK_CLEARING, MAPPING)).await;
    book_order(&rig, 9101).await;
    book_order(&rig, 9102).await;
    book_refund(&rig, 91011, 9101).await;
    // The bill is made; paying it fails (nothing applied), and so does the client's one
    // retry in place: the event goes to a retry tier with the bill recorded.
    rig.sim.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            body: None,
        })
        .method("PUT")
        .path_prefix("/api.xro/2.0/Payments")
        .times(2),
    );
    let p = shopify_payout();
    publish_payout(&rig, "shopify:nz-shopify:payout-81726354", &p).await;
    booked(&rig, "shopify:nz-shopify:payout-81726354").await;
    let bill = one(purchases(&rig.sim), "fees bill");
    assert_eq!(
        payment_lines(&rig.sim, &bill),
        vec![(BANK_CLEARING.to_owned(), dec("28.90"))]
    );
    one(transfers_referenced(&rig.sim, "81726354"), "transfer");
    assert_eq!(balance(&rig.sim, BANK_CLEARING), Decimal::ZERO);
    assert_eq!(balance(&rig.sim, BANK), p.amount);
    processor.stop().await;
}
