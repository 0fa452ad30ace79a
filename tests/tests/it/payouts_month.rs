//! A month of a shop's sales paid out, end to end (README "Payouts"): orders and refunds booked
//! the way each platform's tests book them (Shopify's webhooks, Etsy's receipts and eBay's
//! orders polled), the platform's fake holding the payouts that paid them out less fees, the
//! processor polling the payouts and booking each into the Xero simulator. Once every payout
//! is booked, the clearing account holds nothing (every order here is paid out) and each
//! payout moved exactly its deposit to the bank, referenced by its id. Shopify's clearing is a
//! BANK account (091 Business Savings Account of the demo company), so its payouts are bank
//! transfers; Etsy's and eBay's is 616 Gateway Clearing, a CURRENT account with payments
//! enabled, so theirs are money received in the bank coded to clearing. A payout that names an
//! order the ledger never saw is held, naming it, and booked once that order's webhook comes;
//! a payout not paid out yet is not booked.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::{Date, OffsetDateTime};
use xcs_shared::{EventKind, Platform};
use xcs_tests::fixtures;
use xcs_tests::payouts::{balance, bank_transactions_referenced, transfers_referenced};
use xcs_tests::platform_api::fixture;
use xcs_tests::polled::{PolledShop, ShopSpec, dec, minutes_ago};
use xcs_tests::processor::{
    EBAY_SHOP, ETSY_SHOP, TestProcessor, publish, test_config, wait_handled,
};

/// Long enough for a held payout's retry tier (10 s) and a loaded machine.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);
const BANK: &str = "090";
/// The demo company's second BANK account, as Shopify's clearing.
const BANK_CLEARING: &str = "091";
const CURRENT_CLEARING: &str = "616";
const SHOPIFY_SHOP: &str = "nz-shopify-month";

/// The processor config: the shop with `payouts = true` and its payout mapping, its orders
/// polled every second over the last hour (`orders`), its payouts read every second.
fn config(setup: &PolledShop, orders: bool) -> String {
    let name = &setup.name;
    let sections = setup.shop_sections().replacen(
        &format!("[shops.{name}]\n"),
        &format!("[shops.{name}]\npayouts = true\n"),
        1,
    );
    let interval = u8::from(orders);
    let payouts = format!(
        "[shops.{name}.mapping.payouts]\nbank_accounts = {{ NZD = \"{BANK}\" }}\n\
         fees = \"404\"\nadjustments = {{ other = \"429\" }}\nhold_recheck_secs = 1\n\
         [shops.{name}.poll]\ninterval_secs = {interval}\noverlap_secs = 3600\nsettle_secs = 0\n\
         payouts_interval_secs = 1\n"
    );
    test_config(
        &setup.broker,
        &setup.schema,
        &setup.sim,
        &format!("poll_every_ms = 200\n{sections}{payouts}"),
    )
}

/// `xcs_payouts`' rows of the shop: payout id to state, reason and amount.
async fn payout_rows(setup: &PolledShop) -> BTreeMap<String, (String, String, Decimal)> {
    let client = setup.schema.client().await;
    let Ok(rows) = client
        .query(
            "SELECT payout_id, state, reason, amount FROM xcs_payouts WHERE shop = $1",
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

/// Waits until the shop's payouts in `state` are `ids` at least, and answers every row.
async fn wait_payouts(
    setup: &PolledShop,
    state: &str,
    ids: &[String],
) -> BTreeMap<String, (String, String, Decimal)> {
    xcs_tests::eventually(PATIENCE, &format!("payouts {ids:?} {state}"), || async {
        let rows = payout_rows(setup).await;
        ids.iter()
            .all(|id| rows.get(id).is_some_and(|(s, _, _)| s == state))
            .then_some(rows)
    })
    .await
}

fn days_ago(days: i64) -> Date {
    OffsetDateTime::now_utc().date() - time::Duration::days(days)
}

/// A Shopify balance transaction of `payout`: `kind`, its amount and net (fee the difference).
fn shopify_tx(
    id: u64,
    payout: u64,
    kind: &str,
    order: Option<u64>,
    amount: &str,
    net: &str,
) -> Value {
    let fee = dec(amount) - dec(net);
    json!({
        "id": id, "type": kind, "test": false, "payout_id": payout, "payout_status": "paid",
        "currency": "NZD", "amount": amount, "fee": fee.to_string(), "net": net,
        "source_id": id, "source_type": kind, "source_order_id": order,
        "source_order_transaction_id": id + 1_000_000,
        "processed_at": "2026-11-20T10:00:00+13:00",
    })
}

/// One Shopify payout of the month: its orders charged 63.25 less 1.90 each, the refunds of
/// those of them refunded (23.00, no fee), and `extra` balance transactions; answers its
/// deposit.
fn shopify_payout(
    setup: &PolledShop,
    id: u64,
    date: Date,
    orders: &[u64],
    refunded: &[u64],
    extra: Vec<Value>,
) -> Decimal {
    let mut transactions = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        let tx = id * 100 + n as u64;
        transactions.push(shopify_tx(tx, id, "charge", Some(*order), "63.25", "61.35"));
        if refunded.contains(order) {
            transactions.push(shopify_tx(
                tx + 50,
                id,
                "refund",
                Some(*order),
                "-23.00",
                "-23.00",
            ));
        }
    }
    transactions.extend(extra);
    let deposit: Decimal = transactions
        .iter()
        .map(|t| dec(t["net"].as_str().unwrap()))
        .sum();
    setup.api.payout(
        json!({"id": id, "status": "paid", "date": date.to_string(), "currency": "NZD",
               "amount": deposit.to_string()}),
        transactions,
    );
    deposit
}

/// Publishes each `(kind, topic, event id, body)` as its webhook, then waits until each is
/// booked: published together, they are booked in the tenant's order, in one batch or few.
async fn deliver(setup: &PolledShop, events: &[(EventKind, &str, String, Vec<u8>)]) {
    for (kind, topic, event, body) in events {
        publish(
            &setup.broker,
            setup.platform,
            &setup.name,
            *kind,
            topic,
            event,
            body,
        )
        .await;
    }
    for (_, _, event, _) in events {
        let (outcome, detail) = wait_handled(&setup.schema, event, PATIENCE).await;
        assert_eq!(outcome, "booked", "{event}: {detail}");
    }
}

fn shopify_order(id: u64) -> (EventKind, &'static str, String, Vec<u8>) {
    (
        EventKind::Order,
        "orders/paid",
        format!("shopify:{SHOPIFY_SHOP}:o-{id}"),
        fixtures::shopify_nz_order(id, id, true),
    )
}

#[tokio::test]
async fn a_month_of_shopify_payouts_empties_the_bank_clearing_account_into_the_bank() {
    let setup = PolledShop::start(
        Platform::Shopify,
        ShopSpec::mapped(
            SHOPIFY_SHOP,
            r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            "SM-",
            BANK_CLEARING,
        ),
    )
    .await;
    let processor = TestProcessor::start(&config(&setup, false)).await;
    // 20 orders, three of them refunded in part, through their webhooks.
    let orders: Vec<u64> = (0..20).map(|n| 9_400_000 + n).collect();
    let refunded = [orders[1], orders[6], orders[13]];
    let mut events: Vec<_> = orders.iter().map(|order| shopify_order(*order)).collect();
    for (n, order) in refunded.iter().enumerate() {
        events.push((
            EventKind::Refund,
            "refunds/create",
            format!("shopify:{SHOPIFY_SHOP}:r-{n}"),
            fixtures::shopify_nz_refund(9_500_000 + n as u64, *order),
        ));
    }
    deliver(&setup, &events).await;
    assert_eq!(
        balance(&setup.sim, BANK_CLEARING),
        dec("63.25") * Decimal::from(20) - dec("23.00") * Decimal::from(3)
    );

    // Five payouts of four orders each over the last week, one with a chargeback fee.
    let mut deposits = BTreeMap::new();
    for (k, chunk) in orders.chunks(4).enumerate() {
        let id = 83_000_001 + k as u64;
        let extra = if k == 2 {
            vec![shopify_tx(
                id * 100 + 99,
                id,
                "chargeback_fee",
                None,
                "-15.00",
                "-15.00",
            )]
        } else {
            Vec::new()
        };
        let date = days_ago(6 - k as i64);
        deposits.insert(
            id.to_string(),
            shopify_payout(&setup, id, date, chunk, &refunded, extra),
        );
    }
    // A sixth pays an order no webhook has brought yet.
    let late = 9_400_099;
    deposits.insert(
        "83000006".to_owned(),
        shopify_payout(&setup, 83_000_006, days_ago(1), &[late], &[], Vec::new()),
    );

    let paid: Vec<String> = deposits.keys().take(5).cloned().collect();
    wait_payouts(&setup, "booked", &paid).await;
    let rows = wait_payouts(&setup, "held", &["83000006".to_owned()]).await;
    let reason = &rows["83000006"].1;
    assert!(
        reason.contains(&format!("order {late}")) && reason.contains("not booked"),
        "{reason}"
    );
    assert_eq!(
        balance(&setup.sim, BANK_CLEARING),
        Decimal::ZERO,
        "every booked order is paid out"
    );

    deliver(&setup, &[shopify_order(late)]).await;
    let all: Vec<String> = deposits.keys().cloned().collect();
    wait_payouts(&setup, "booked", &all).await;
    assert_eq!(balance(&setup.sim, BANK_CLEARING), Decimal::ZERO);
    for (id, deposit) in &deposits {
        let transfers = transfers_referenced(&setup.sim, id);
        assert_eq!(transfers.len(), 1, "payout {id}: {transfers:#?}");
        let transfer = &transfers[0];
        assert_eq!(
            dec(&amount_text(&transfer["Amount"])),
            *deposit,
            "{transfer:#?}"
        );
        assert_eq!(transfer["FromBankAccount"]["Code"], BANK_CLEARING);
        assert_eq!(transfer["ToBankAccount"]["Code"], BANK);
    }
    processor.stop().await;
}

/// A Xero amount as text, whether it came as a number or a string.
fn amount_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The NZ demo receipt (102.00 of it the seller's) as receipt `id`, changed `minutes` ago;
/// `refunded` gives it a refund of 41.80 to the buyer, 38.00 of it the seller's.
fn etsy_receipt(id: u64, minutes: i64, refunded: bool) -> Value {
    let mut receipt = fixture("etsy/receipt_2891034567_nzd_export_au.json");
    let changed = minutes_ago(minutes).unix_timestamp();
    receipt["receipt_id"] = json!(id);
    receipt["updated_timestamp"] = json!(changed);
    receipt["update_timestamp"] = json!(changed);
    for transaction in receipt["transactions"].as_array_mut().unwrap() {
        transaction["receipt_id"] = json!(id);
    }
    if refunded {
        receipt["status"] = json!("Partially Refunded");
        receipt["refunds"] = json!([{
            "amount": {"amount": 4180, "divisor": 100, "currency_code": "NZD"},
            "created_timestamp": 1_795_403_400,
            "reason": "One cup arrived broken",
            "note_from_issuer": null,
            "status": "Success"
        }]);
    }
    receipt
}

/// Etsy's payment account ledger, each entry's balance the one before plus its amount.
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
        let id = 2_000_000 + self.entries.len() as u64;
        let at = at.unix_timestamp();
        self.entries.push(json!({
            "entry_id": id, "ledger_id": 61100, "sequence_number": self.entries.len(),
            "amount": amount, "currency": "NZD", "description": kind, "balance": self.balance,
            "create_date": at, "created_timestamp": at, "ledger_type": kind,
            "reference_type": reference_type, "reference_id": reference.to_string(),
            "parent_entry_id": null, "payment_adjustments": [],
        }));
    }

    /// Receipt `receipt`'s 102.00 to the seller less Etsy's processing fee of 3.26, and when
    /// `refunded` the 38.00 of it refunded.
    fn sale(&mut self, at: OffsetDateTime, receipt: u64, refunded: bool) {
        let payment = receipt - 3_000_000_000;
        let adjustment = payment + 500_000;
        let adjustments = if refunded {
            json!([{"payment_adjustment_id": adjustment, "payment_id": payment}])
        } else {
            json!([])
        };
        self.payments.push(json!({
            "payment_id": payment, "shop_id": 31415926, "receipt_id": receipt,
            "amount_gross": {"amount": 11220, "divisor": 100, "currency_code": "NZD"},
            "currency": "NZD", "status": "settled", "payment_adjustments": adjustments,
        }));
        self.entry(at, "PAYMENT_GROSS", "shop_payment", payment, 10_200);
        self.entry(
            at,
            "PAYMENT_PROCESSING_FEE",
            "processing_fee",
            payment,
            -326,
        );
        if refunded {
            self.entry(at, "REFUND", "payment_adjustment", adjustment, -3_800);
        }
    }

    /// Pays the balance out; answers the deposit.
    fn disburse(&mut self, at: OffsetDateTime, id: u64) -> Decimal {
        let deposit = self.balance;
        self.entry(at, "DISBURSE2", "disbursement", id, -deposit);
        Decimal::new(deposit, 2)
    }
}

#[tokio::test]
async fn a_month_of_etsy_disbursements_empties_clearing_into_the_bank() {
    let setup = PolledShop::start(Platform::Etsy, ShopSpec::Standard(ETSY_SHOP)).await;
    // 12 receipts, three refunded in part, polled as every Etsy shop's are.
    let receipts: Vec<u64> = (0..12).map(|n| 3_400_000_000 + n).collect();
    let refunded = [receipts[2], receipts[7], receipts[11]];
    for (n, receipt) in receipts.iter().enumerate() {
        setup.api.list(etsy_receipt(
            *receipt,
            40 - n as i64,
            refunded.contains(receipt),
        ));
    }
    let processor = TestProcessor::start(&config(&setup, true)).await;
    let numbers: Vec<String> = receipts.iter().map(|r| format!("ET-{r}")).collect();
    for number in &numbers {
        setup.wait_invoices(number, 1).await;
    }
    for receipt in &refunded {
        setup
            .wait_credit_note_paid(&format!("ET-{receipt}/R{receipt}-1795403400"))
            .await;
    }
    let booked = dec("102.00") * Decimal::from(12) - dec("38.00") * Decimal::from(3);
    xcs_tests::eventually(PATIENCE, "the receipts' payments in clearing", || async {
        (balance(&setup.sim, CURRENT_CLEARING) == booked).then_some(())
    })
    .await;

    // Four deposits over the last week, three receipts each; the first disbursement read
    // (before them) is the anchor the first of them is read from.
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let day = time::Duration::days(1);
    let mut ledger = EtsyLedger::default();
    ledger.sale(now - day * 9, 3_399_999_999, false);
    ledger.disburse(now - day * 6, 95_000);
    let mut deposits = BTreeMap::new();
    for (k, chunk) in receipts.chunks(3).enumerate() {
        let k = k as i32;
        for receipt in chunk {
            ledger.sale(
                now - day * (5 - k) - time::Duration::hours(12),
                *receipt,
                refunded.contains(receipt),
            );
        }
        let id = 95_001 + k as u64;
        deposits.insert(id.to_string(), ledger.disburse(now - day * (5 - k), id));
    }
    setup
        .api
        .ledger(ledger.entries.clone(), ledger.payments.clone());

    let ids: Vec<String> = deposits.keys().cloned().collect();
    let rows = wait_payouts(&setup, "booked", &ids).await;
    assert_eq!(rows.len(), 4, "the anchor is not booked: {rows:?}");
    assert_eq!(
        balance(&setup.sim, CURRENT_CLEARING),
        Decimal::ZERO,
        "every receipt is paid out"
    );
    for (id, deposit) in &deposits {
        let received = bank_transactions_referenced(&setup.sim, id);
        assert_eq!(received.len(), 1, "payout {id}: {received:#?}");
        let entry = &received[0];
        assert_eq!(entry["Type"], "RECEIVE");
        assert_eq!(entry["BankAccount"]["Code"], BANK);
        assert_eq!(dec(&amount_text(&entry["Total"])), *deposit, "{entry:#?}");
        assert_eq!(rows[id].2, *deposit);
    }
    processor.stop().await;
}

/// The US demo order in NZD (123.00 of it the seller's, the rest sales tax eBay remits) as
/// order `id`, modified `minutes` ago; `refunded` gives it a refund of 10.89, 10.00 of it the
/// seller's.
fn ebay_order(id: &str, minutes: i64, refunded: bool) -> Value {
    let text = fixture("ebay/order_27-13902-55814_usd_export_us.json")
        .to_string()
        .replace("\"USD\"", "\"NZD\"");
    let mut order: Value = serde_json::from_str(&text).unwrap();
    let modified = minutes_ago(minutes).replace_millisecond(250).unwrap();
    order["orderId"] = json!(id);
    order["lastModifiedDate"] = json!(xcs_processor::poll::rfc3339(modified));
    if refunded {
        order["orderPaymentStatus"] = json!("PARTIALLY_REFUNDED");
        let refund = json!({
            "refundId": format!("5{}", &id[id.len() - 5..]),
            "refundDate": "2026-11-27T09:00:00.000Z",
            "amount": {"value": "10.89", "currency": "NZD"},
            "refundStatus": "REFUNDED",
            "refundReferenceId": "8TX12345AB6789012"
        });
        order["paymentSummary"]["refunds"] = json!([refund.clone()]);
        let mut line_refund = refund;
        line_refund.as_object_mut().unwrap().remove("refundStatus");
        order["lineItems"][1]["refunds"] = json!([line_refund]);
    }
    order
}

/// An eBay monetary transaction of `payout`: a sale of `order` (123.00 less 15.00 of final
/// value fee) or its refund (10.00).
fn ebay_tx(kind: &str, order: &str, payout: &str) -> Value {
    let nzd = |value: &str| json!({"value": value, "currency": "NZD"});
    let mut tx = json!({
        "transactionId": format!("{kind}-{order}"), "orderId": order, "payoutId": payout,
        "transactionType": kind, "transactionStatus": "PAYOUT",
        "transactionDate": "2026-11-27T10:00:00.000Z",
    });
    if kind == "SALE" {
        tx["bookingEntry"] = json!("CREDIT");
        tx["amount"] = nzd("108.00");
        tx["totalFeeAmount"] = nzd("15.00");
        tx["orderLineItems"] = json!([{"lineItemId": "1", "marketplaceFees": [
            {"feeType": "FINAL_VALUE_FEE", "amount": nzd("15.00")}]}]);
    } else {
        tx["bookingEntry"] = json!("DEBIT");
        tx["amount"] = nzd("10.00");
    }
    tx
}

#[tokio::test]
async fn a_month_of_ebay_payouts_empties_clearing_into_the_bank() {
    let setup = PolledShop::start(Platform::Ebay, ShopSpec::Standard(EBAY_SHOP)).await;
    // 10 orders, three refunded in part, polled as every eBay shop's are.
    let orders: Vec<String> = (0..10).map(|n| format!("27-30001-{n:05}")).collect();
    let refunded = [&orders[0], &orders[4], &orders[9]];
    for (n, order) in orders.iter().enumerate() {
        setup
            .api
            .list(ebay_order(order, 40 - n as i64, refunded.contains(&order)));
    }
    let processor = TestProcessor::start(&config(&setup, true)).await;
    for order in &orders {
        setup.wait_invoices(&format!("EB-{order}"), 1).await;
    }
    for order in refunded {
        let refund = format!("5{}", &order[order.len() - 5..]);
        setup
            .wait_credit_note_paid(&format!("EB-{order}/R{refund}"))
            .await;
    }
    let booked = dec("123.00") * Decimal::from(10) - dec("10.00") * Decimal::from(3);
    xcs_tests::eventually(PATIENCE, "the orders' payments in clearing", || async {
        (balance(&setup.sim, CURRENT_CLEARING) == booked).then_some(())
    })
    .await;

    // Four payouts over the last week; one not paid out yet is not booked.
    let now = OffsetDateTime::now_utc();
    let mut deposits = BTreeMap::new();
    for (k, chunk) in [&orders[0..3], &orders[3..6], &orders[6..8], &orders[8..10]]
        .into_iter()
        .enumerate()
    {
        let id = format!("62000000{k:02}");
        let mut transactions = Vec::new();
        for order in chunk {
            transactions.push(ebay_tx("SALE", order, &id));
            if refunded.contains(&order) {
                transactions.push(ebay_tx("REFUND", order, &id));
            }
        }
        let refunds = chunk.iter().filter(|o| refunded.contains(o)).count();
        let deposit =
            dec("108.00") * Decimal::from(chunk.len()) - dec("10.00") * Decimal::from(refunds);
        let at = now - time::Duration::days(6 - k as i64);
        setup.api.ebay_payout(
            json!({"payoutId": id, "payoutStatus": "SUCCEEDED",
                   "payoutDate": xcs_processor::poll::rfc3339(at),
                   "amount": {"value": deposit.to_string(), "currency": "NZD"}}),
            transactions,
        );
        deposits.insert(id, deposit);
    }
    setup.api.ebay_payout(
        json!({"payoutId": "6200000099", "payoutStatus": "INITIATED",
               "payoutDate": xcs_processor::poll::rfc3339(now),
               "amount": {"value": "1.00", "currency": "NZD"}}),
        Vec::new(),
    );

    let ids: Vec<String> = deposits.keys().cloned().collect();
    let rows = wait_payouts(&setup, "booked", &ids).await;
    assert_eq!(
        rows.len(),
        4,
        "the payout not paid out is not booked: {rows:?}"
    );
    assert_eq!(
        balance(&setup.sim, CURRENT_CLEARING),
        Decimal::ZERO,
        "every order is paid out"
    );
    for (id, deposit) in &deposits {
        let received = bank_transactions_referenced(&setup.sim, id);
        assert_eq!(received.len(), 1, "payout {id}: {received:#?}");
        let entry = &received[0];
        assert_eq!(entry["Type"], "RECEIVE");
        assert_eq!(entry["BankAccount"]["Code"], BANK);
        assert_eq!(dec(&amount_text(&entry["Total"])), *deposit, "{entry:#?}");
    }
    processor.stop().await;
}
