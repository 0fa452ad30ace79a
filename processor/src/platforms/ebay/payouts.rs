//! eBay payouts (README "Payouts"): reading them from the Sell Finances API and normalising
//! each, with its monetary transactions, into a [`Payout`].
//!
//! - **Host.** The Finances API is served from `https://apiz.ebay.com/sell/finances/v1` in
//!   production and `https://apiz.sandbox.ebay.com` in the sandbox (eBay's `getTransactions`
//!   reference: "replace the apiz.ebay.com root URI with apiz.sandbox.ebay.com"; the OpenAPI
//!   document `sell_finances_v1_oas3` lists `apiz.ebay.com` as its server), not the
//!   `api.ebay.com` the shop's other calls use. [`finances_api`] derives it from the shop's
//!   `api.base_url`, so no setting is added: `api.ebay.com` becomes `apiz.ebay.com`,
//!   `api.sandbox.ebay.com` becomes `apiz.sandbox.ebay.com`, and any other base URL (a fake, a
//!   proxy) is kept as it is, which is how tests point the reader elsewhere. The token is the
//!   shop's user token, which needs the `sell.finances` scope.
//! - **Payouts.** `getPayouts`, `GET /sell/finances/v1/payout` (eBay's reference and its
//!   `Payouts` type): `filter` with `payoutDate:[a..b]` (UTC, milliseconds; without `b` the
//!   range is 90 days) and `payoutStatus:{SUCCEEDED}` (one status: `INITIATED`, `SUCCEEDED`,
//!   `RETRYABLE_FAILED`, `TERMINAL_FAILED`, `REVERSED`), `limit` at most 200 (default 20),
//!   `offset` from 0; the answer is `{href, limit, offset, total, next?, prev?, payouts}`, and
//!   no payouts is an empty answer (204 or a body without `payouts`). [`succeeded_payouts`]
//!   reads every `SUCCEEDED` payout dated in a window; `getPayout`
//!   (`GET /sell/finances/v1/payout/{payout_Id}`) is [`payout_by_id`].
//! - **Transactions.** `getTransactions`, `GET /sell/finances/v1/transaction?filter=payoutId:
//!   {id}` (eBay's reference and its `Transactions` type): paged the same way, 204 No Content
//!   when nothing matches ([`transactions`]).
//! - **Normalising.** [`payout`] maps each `transactionType` onto a part of the [`Payout`]
//!   (the table on [`part_of`]).
//!
//! Calls go through the poller's [`PollClient`], paced per base URL, so the Finances host has
//! its own gap between calls and never takes the Fulfillment API's turn.
//!
//! UNSURE:
//! - eBay requires Digital Signatures ("Digital Signatures for APIs") on every Finances API
//!   call made for an EU or UK seller; these calls are not signed, and eBay's answer to an
//!   unsigned call is not documented here (read as a refusal, reported with that hint).
//! - `getPayouts`' `sort`: the reference says payouts come oldest first by default and
//!   `sort=payoutDate` gives newest first, while other eBay material says the reverse; no
//!   `sort` is sent and the list is sorted here.
//! - `getTransactions`' `limit`: its parameter says at most 1000 and "ignored" with a
//!   `payoutId` filter, its `Transactions` type says at most 200; 200 is asked for and `next`
//!   (else `total`) is followed, which reads everything whichever is true.
//! - `payoutDate` is "when the seller payout began processing", not when the bank shows it
//!   (eBay's `payoutMemo` says when it is expected to arrive, in words): the payout is dated
//!   by its `payoutDate` in UTC.

use rust_decimal::Decimal;
use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::Platform;
use xcs_shared::domain::{
    AdjustmentKind, Currency, Payout, PayoutAdjustment, PayoutCharge, PayoutFee, PayoutRefund,
    PayoutStatus,
};

use super::poll::relative;
use crate::normalise::{NormaliseError, parse_decimal, parse_iso_date};
use crate::platforms::api::{Auth, PlatformApi};
use crate::poll::{PollClient, PollError};

const REFUSALS: crate::normalise::Refusals = crate::normalise::Refusals(PLATFORM);
const PLATFORM: Platform = Platform::Ebay;

/// Payouts and transactions per page: `getPayouts`' maximum, and the lower of the two that
/// `getTransactions`' reference gives.
pub const PAGE_SIZE: usize = 200;
/// The payouts list; `/{payout_Id}` below it is one payout.
pub const PAYOUTS: &str = "/sell/finances/v1/payout";
/// The monetary transactions list.
pub const TRANSACTIONS: &str = "/sell/finances/v1/transaction";

/// The shop's API as the Finances API is reached: eBay's own hosts moved to their `apiz`
/// twins, any other base URL as it is.
pub fn finances_api(api: &PlatformApi) -> PlatformApi {
    let mut finances = api.clone();
    let base = api.base_url.trim_end_matches('/');
    for (from, to) in [
        ("https://api.ebay.com", "https://apiz.ebay.com"),
        (
            "https://api.sandbox.ebay.com",
            "https://apiz.sandbox.ebay.com",
        ),
    ] {
        if base == from {
            to.clone_into(&mut finances.base_url);
        }
    }
    finances
}

/// Every `SUCCEEDED` payout whose `payoutDate` is in `[from, to]`, oldest first (by date, then
/// id). The caller reads from the last payout date it finished again (overlap is harmless:
/// payouts book once by id).
///
/// # Errors
/// [`PollError`]: the API's refusals and outages as the poller reports them (a token without
/// the `sell.finances` scope named as such), and an answer without a `payouts` list or `total`
/// as [`PollError::Unreadable`].
pub async fn succeeded_payouts(
    client: &PollClient,
    api: &PlatformApi,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Value>, PollError> {
    let filter = format!(
        "payoutDate:%5B{}..{}%5D,payoutStatus:%7BSUCCEEDED%7D",
        timestamp(from),
        timestamp(to)
    );
    let mut payouts = read_pages(client, api, PAYOUTS, &filter, "payouts").await?;
    payouts.sort_by(|a, b| {
        let key = |p: &Value| {
            (
                p["payoutDate"].as_str().unwrap_or_default().to_owned(),
                p["payoutId"].as_str().unwrap_or_default().to_owned(),
            )
        };
        key(a).cmp(&key(b))
    });
    Ok(payouts)
}

/// One payout (`getPayout`).
///
/// # Errors
/// As [`succeeded_payouts`]; a payout eBay does not know (404, error 135001) is
/// [`PollError::Refused`].
pub async fn payout_by_id(
    client: &PollClient,
    api: &PlatformApi,
    payout_id: &str,
) -> Result<Value, PollError> {
    let path = format!("{PAYOUTS}/{payout_id}");
    let reply = client
        .get(PLATFORM, &finances_api(api), Auth::Bearer, &path)
        .await
        .map_err(scope_hint)?;
    if reply.body["payoutId"].is_string() {
        Ok(reply.body)
    } else {
        Err(PollError::Unreadable(format!(
            "eBay's answer to {path} has no payoutId"
        )))
    }
}

/// Every monetary transaction of payout `payout_id`.
///
/// # Errors
/// As [`succeeded_payouts`], for a `transactions` list.
pub async fn transactions(
    client: &PollClient,
    api: &PlatformApi,
    payout_id: &str,
) -> Result<Vec<Value>, PollError> {
    let filter = format!("payoutId:%7B{payout_id}%7D");
    read_pages(client, api, TRANSACTIONS, &filter, "transactions").await
}

async fn read_pages(
    client: &PollClient,
    api: &PlatformApi,
    list_path: &str,
    filter: &str,
    list: &str,
) -> Result<Vec<Value>, PollError> {
    let api = finances_api(api);
    let page_path =
        |offset: usize| format!("{list_path}?filter={filter}&limit={PAGE_SIZE}&offset={offset}");
    let mut found = Vec::new();
    let mut path = Some(page_path(0));
    while let Some(current) = path.take() {
        let reply = client
            .get(PLATFORM, &api, Auth::Bearer, &current)
            .await
            .map_err(scope_hint)?;
        let body = &reply.body;
        // Nothing matching is 204 No Content (a `Null` body), or a page without the list.
        let page = match body[list].as_array() {
            Some(page) => page.as_slice(),
            None if body.is_null() || body["total"].is_u64() => &[],
            None => {
                return Err(PollError::Unreadable(format!(
                    "eBay's answer to {current} has no `{list}` list"
                )));
            }
        };
        found.extend(page.iter().cloned());
        path = next_page(body, page.len(), &api.base_url, page_path);
        if path.as_deref() == Some(current.as_str()) {
            return Err(PollError::Unreadable(format!(
                "eBay's answer to {current} names itself as the next page"
            )));
        }
    }
    Ok(found)
}

/// eBay's `next` link, or, should it be left out while `total` counts more than this page
/// reaches, the next offset.
fn next_page(
    body: &Value,
    listed: usize,
    base_url: &str,
    page_path: impl Fn(usize) -> String,
) -> Option<String> {
    if let Some(next) = body["next"].as_str().filter(|n| !n.is_empty()) {
        return Some(relative(next, base_url));
    }
    let number = |field: &str| body[field].as_u64().and_then(|n| usize::try_from(n).ok());
    let offset = number("offset").unwrap_or(0);
    let total = number("total")?;
    (listed > 0 && total > offset + listed).then(|| page_path(offset + listed))
}

fn scope_hint(err: PollError) -> PollError {
    match err {
        PollError::Credentials(detail) => PollError::Credentials(format!(
            "{detail}; reading payouts needs the sell.finances scope on the shop's eBay user \
             token (grant it again with that scope), and eBay's Digital Signatures for an EU or \
             UK seller, which this reader does not send"
        )),
        other => other,
    }
}

/// ISO 8601 in UTC with milliseconds, as eBay's date filters take them.
fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// An eBay payout (`getPayout`, or an element of `getPayouts`' list) and its monetary
/// transactions as a [`Payout`].
///
/// The deposit is the payout's `amount`. When the seller took the payout to a debit card,
/// eBay charged an `EXPRESS_PAYOUT_FEE` (`totalFee`) on top: `totalAmount` is the net amount
/// plus that fee, so the transactions add up to `totalAmount` and the express fee is a fee of
/// its own.
///
/// # Errors
/// [`NormaliseError`] when a field is missing or unreadable, or a transaction belongs to
/// another payout or is in another currency (the list was not filtered as asked).
pub fn payout(payout: &Value, transactions: &[Value]) -> Result<Payout, NormaliseError> {
    let payout_id = text(payout, "payoutId", "eBay payout")?.trim().to_owned();
    let document = format!("payout {payout_id}");
    let status = match text(payout, "payoutStatus", &document)? {
        "INITIATED" => PayoutStatus::Scheduled,
        "SUCCEEDED" => PayoutStatus::Paid,
        // REVERSED is money the seller's bank sent back, which eBay pays out again.
        "RETRYABLE_FAILED" | "TERMINAL_FAILED" | "REVERSED" => PayoutStatus::Failed,
        other => {
            return Err(REFUSALS.invalid(
                &document,
                "payoutStatus",
                other,
                "INITIATED, SUCCEEDED, RETRYABLE_FAILED, TERMINAL_FAILED or REVERSED",
            ));
        }
    };
    let date = parse_iso_date(text(payout, "payoutDate", &document)?).ok_or_else(|| {
        REFUSALS.invalid(
            &document,
            "payoutDate",
            &payout["payoutDate"].to_string(),
            "a timestamp",
        )
    })?;
    let (amount, code) = money(payout, "amount", &document)?;
    let mut normalised = Payout {
        platform: PLATFORM,
        payout_id: payout_id.clone(),
        status,
        date,
        currency: code,
        amount,
        charges: Vec::new(),
        refunds: Vec::new(),
        fees: Vec::new(),
        adjustments: Vec::new(),
    };
    if !payout["totalFee"].is_null() {
        let (express, fee_currency) = money(payout, "totalFee", &document)?;
        same_currency(&normalised, &fee_currency, &document)?;
        if !express.is_zero() {
            normalised.fees.push(PayoutFee {
                kind: "EXPRESS_PAYOUT_FEE".to_owned(),
                amount: express,
                tax: None,
                reference: Some(payout_id.clone()),
            });
        }
    }
    for transaction in transactions {
        let tx_id = transaction["transactionId"].as_str().unwrap_or_default();
        let document = format!("payout {payout_id} transaction {tx_id}");
        if let Some(other) = transaction["payoutId"].as_str()
            && other.trim() != payout_id
        {
            return Err(REFUSALS.inconsistent(
                &document,
                format!(
                    "it was paid out in payout {other}, not {payout_id}: the list was not \
                     filtered by payoutId"
                ),
            ));
        }
        part_of(&mut normalised, transaction, &document)?;
    }
    Ok(normalised)
}

/// Adds one monetary transaction to the payout's parts.
///
/// eBay writes `amount` unsigned, with `bookingEntry` saying which way it moved the seller's
/// funds (`CREDIT` in, `DEBIT` out), and net of the selling fees it deducted: `totalFeeAmount`,
/// itemised per line in `orderLineItems[].marketplaceFees[]` (`feeType`, `amount`), with any
/// charity `donations[]` deducted beside them. So every transaction is its signed amount plus
/// its deductions (the transaction's own part), less each deduction as a fee of its `feeType`:
///
/// | `transactionType` | part |
/// |---|---|
/// | `SALE` | a charge of `orderId`: gross = amount + fees (what the buyer paid, less the tax eBay collects and remits, which is neither in `amount` nor the seller's) |
/// | `REFUND` | a refund of `orderId` |
/// | `DISPUTE` | a chargeback adjustment (negative when eBay took the money back, positive when the seller won) |
/// | `NON_SALE_CHARGE` | a fee of its `feeType` (subscriptions, listing and ad fees charged apart from a sale), else `NON_SALE_CHARGE` |
/// | `SHIPPING_LABEL` | a fee `SHIPPING_LABEL` (a label refunded or re-priced is a negative fee) |
/// | `CREDIT`, `ADJUSTMENT`, `TRANSFER`, `LOAN_REPAYMENT`, `WITHDRAWAL`, anything else | an adjustment of kind `Other(type)` |
///
/// Fees are what the seller was charged, positive; their sum less the itemised ones, when
/// eBay's `totalFeeAmount` differs from its items, is a fee `UNITEMISED_FEE`, so nothing
/// deducted is lost. A fee whose `feeJurisdiction` names a region (`VAT_WITHHOLDING`,
/// `INCOME_TAX_WITHHOLDING`, `TAX_DEDUCTION_AT_SOURCE`) is a tax withheld, kept as a fee of
/// that kind for the mapping to place.
///
/// UNSURE: eBay states no tax on its fees in the Finances API (`Fee` has `amount`, `feeType`,
/// `feeMemo`, `feeJurisdiction` only), so `tax` is `None` everywhere; the VAT or GST eBay
/// charges on fees is on its monthly invoice. How a refund reports the fees eBay credits
/// back is not documented: read like a sale's (an amount net of fees), which keeps the
/// payout's arithmetic whichever sign eBay uses, but may put a credited fee into the refund's
/// amount. Whether `totalFeeAmount` includes donations is not said either: taken as selling
/// fees only (its description).
fn part_of(payout: &mut Payout, transaction: &Value, document: &str) -> Result<(), NormaliseError> {
    let kind = text(transaction, "transactionType", document)?
        .trim()
        .to_ascii_uppercase();
    let (amount, code) = money(transaction, "amount", document)?;
    same_currency(payout, &code, document)?;
    let signed = match text(transaction, "bookingEntry", document)? {
        "CREDIT" => amount.abs(),
        "DEBIT" => -amount.abs(),
        other => return Err(REFUSALS.invalid(document, "bookingEntry", other, "CREDIT or DEBIT")),
    };
    let order_id = nonempty(transaction, "orderId");
    let transaction_id = nonempty(transaction, "transactionId");
    let deductions = deductions(transaction, payout, document)?;
    let deducted: Decimal = deductions.iter().map(|fee| fee.amount).sum();
    // The transaction before eBay took its fees out: what moved for the order itself.
    let whole = signed + deducted;
    let fee_reference = order_id.clone().or_else(|| transaction_id.clone());
    let as_fee = |kind: String, amount: Decimal| PayoutFee {
        kind,
        amount,
        tax: None,
        reference: transaction_id.clone().or_else(|| fee_reference.clone()),
    };
    match kind.as_str() {
        "SALE" => payout.charges.push(PayoutCharge {
            order_id: order_id.clone(),
            reference: transaction_id.clone(),
            gross: whole,
            fee: Decimal::ZERO,
        }),
        "REFUND" => payout.refunds.push(PayoutRefund {
            order_id: order_id.clone(),
            reference: transaction_id.clone(),
            amount: -whole,
            fee: Decimal::ZERO,
        }),
        "DISPUTE" => payout.adjustments.push(PayoutAdjustment {
            kind: AdjustmentKind::Chargeback,
            amount: whole,
            source_id: transaction_id.clone(),
            order_id: order_id.clone(),
        }),
        "NON_SALE_CHARGE" | "SHIPPING_LABEL" => {
            let fee_kind = if kind == "NON_SALE_CHARGE" {
                nonempty(transaction, "feeType").unwrap_or_else(|| kind.clone())
            } else {
                kind.clone()
            };
            // A charge whose fees are itemised is those fees, not a second charge beside them.
            if !whole.is_zero() || deductions.is_empty() {
                let mut fee = as_fee(fee_kind, -whole);
                fee.reference = references(transaction).or(fee.reference);
                payout.fees.push(fee);
            }
        }
        other => payout.adjustments.push(PayoutAdjustment {
            kind: AdjustmentKind::Other(other.to_owned()),
            amount: whole,
            source_id: transaction_id.clone(),
            order_id: order_id.clone(),
        }),
    }
    for mut fee in deductions {
        fee.reference = fee.reference.or_else(|| fee_reference.clone());
        payout.fees.push(fee);
    }
    Ok(())
}

/// What eBay deducted from a transaction: each line's marketplace fees and donations, and the
/// part of `totalFeeAmount` the lines do not itemise.
fn deductions(
    transaction: &Value,
    payout: &Payout,
    document: &str,
) -> Result<Vec<PayoutFee>, NormaliseError> {
    let mut found = Vec::new();
    let mut itemised = Decimal::ZERO;
    let lines = transaction["orderLineItems"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    for (n, line) in lines.iter().enumerate() {
        for (list, counted) in [("marketplaceFees", true), ("donations", false)] {
            let fees = line[list].as_array().map_or(&[][..], Vec::as_slice);
            for (m, fee) in fees.iter().enumerate() {
                let at = format!("{document} orderLineItems[{n}].{list}[{m}]");
                let (amount, code) = money(fee, "amount", &at)?;
                same_currency(payout, &code, &at)?;
                if counted {
                    itemised += amount;
                }
                let kind = nonempty(fee, "feeType").unwrap_or_else(|| {
                    if counted {
                        "MARKETPLACE_FEE"
                    } else {
                        "CHARITY_DONATION"
                    }
                    .to_owned()
                });
                found.push(PayoutFee {
                    kind,
                    amount,
                    tax: None,
                    reference: None,
                });
            }
        }
    }
    if !transaction["totalFeeAmount"].is_null() {
        let (total, code) = money(transaction, "totalFeeAmount", document)?;
        same_currency(payout, &code, document)?;
        let unitemised = total - itemised;
        if !unitemised.is_zero() {
            found.push(PayoutFee {
                kind: "UNITEMISED_FEE".to_owned(),
                amount: unitemised,
                tax: None,
                reference: None,
            });
        }
    }
    Ok(found)
}

/// The first of a non-sale charge's `references[]` (the item or the order it is for).
fn references(transaction: &Value) -> Option<String> {
    transaction["references"]
        .as_array()?
        .iter()
        .find_map(|r| nonempty(r, "referenceId"))
}

fn nonempty(value: &Value, field: &str) -> Option<String> {
    value[field]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn text<'v>(value: &'v Value, field: &str, document: &str) -> Result<&'v str, NormaliseError> {
    match &value[field] {
        Value::String(s) => Ok(s.as_str()),
        Value::Null => Err(REFUSALS.missing(document, field)),
        other => Err(REFUSALS.invalid(document, field, &other.to_string(), "a string")),
    }
}

/// An eBay `Amount`, `{value: "12.34", currency: "USD"}`: the value in the payout's currency
/// (eBay's `convertedFrom*` fields say what it was before conversion, which the payout does not
/// carry).
fn money(
    value: &Value,
    field: &str,
    document: &str,
) -> Result<(Decimal, Currency), NormaliseError> {
    let amount = &value[field];
    if amount.is_null() {
        return Err(REFUSALS.missing(document, field));
    }
    let path = format!("{field}.value");
    let raw = match &amount["value"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err(REFUSALS.missing(document, &path)),
        other => other.to_string(),
    };
    let decimal = parse_decimal(&raw)
        .ok_or_else(|| REFUSALS.invalid(document, &path, &raw, "a decimal amount"))?;
    let code = text(amount, "currency", document)
        .map_err(|_| REFUSALS.missing(document, &format!("{field}.currency")))?;
    let currency = Currency::try_from(code.to_owned()).map_err(|_| NormaliseError::Currency {
        platform: PLATFORM,
        document: document.to_owned(),
        field: format!("{field}.currency"),
        value: code.to_owned(),
    })?;
    Ok((decimal, currency))
}

fn same_currency(payout: &Payout, code: &Currency, document: &str) -> Result<(), NormaliseError> {
    if *code == payout.currency {
        return Ok(());
    }
    Err(REFUSALS.inconsistent(
        document,
        format!("it is in {code}, the payout in {}", payout.currency),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::d;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        crate::normalise::test_support::api_fixture_json(&format!("ebay/{name}"))
    }

    fn documented() -> (Value, Vec<Value>) {
        let payout = fixture("payouts_6000012345_usd.json")["payouts"][0].clone();
        let transactions = fixture("transactions_6000012345_usd.json")["transactions"]
            .as_array()
            .unwrap()
            .clone();
        (payout, transactions)
    }

    fn fee(kind: &str, amount: &str, reference: &str) -> PayoutFee {
        PayoutFee {
            kind: kind.into(),
            amount: d(amount),
            tax: None,
            reference: Some(reference.into()),
        }
    }

    #[test]
    fn sales_are_gross_of_their_marketplace_fees_which_are_fees_by_type() {
        let (body, transactions) = documented();
        let payout = payout(&body, &transactions).unwrap();
        assert_eq!(payout.payout_id, "6000012345");
        assert_eq!(payout.status, PayoutStatus::Paid);
        assert_eq!(payout.date, time::macros::date!(2026 - 11 - 24));
        assert_eq!(payout.currency.as_str(), "USD");
        assert_eq!(payout.amount, d("79.31"));
        // 86.32 + 13.68 and 52.85 + 7.15: the tax eBay collected and remits is in neither.
        assert_eq!(
            payout.charges,
            vec![
                PayoutCharge {
                    order_id: Some("24-11111-10001".into()),
                    reference: Some("24-11111-10001".into()),
                    gross: d("100.00"),
                    fee: Decimal::ZERO,
                },
                PayoutCharge {
                    order_id: Some("24-11111-10002".into()),
                    reference: Some("24-11111-10002".into()),
                    gross: d("60.00"),
                    fee: Decimal::ZERO,
                },
            ]
        );
        let sale_fees: Vec<PayoutFee> = payout
            .fees
            .iter()
            .filter(|f| f.reference.as_deref().is_some_and(|r| r.starts_with("24-")))
            .filter(|f| f.kind != "SHIPPING_LABEL")
            .cloned()
            .collect();
        assert_eq!(
            sale_fees,
            vec![
                fee("FINAL_VALUE_FEE", "13.28", "24-11111-10001"),
                fee("FINAL_VALUE_FEE_FIXED_PER_ORDER", "0.40", "24-11111-10001"),
                fee("FINAL_VALUE_FEE", "3.90", "24-11111-10002"),
                fee("FINAL_VALUE_FEE_FIXED_PER_ORDER", "0.40", "24-11111-10002"),
                fee("AD_FEE", "0.90", "24-11111-10002"),
                fee("FINAL_VALUE_FEE", "1.95", "24-11111-10002"),
            ]
        );
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn refunds_disputes_labels_charges_and_credits_are_their_own_parts() {
        let (body, transactions) = documented();
        let payout = payout(&body, &transactions).unwrap();
        assert_eq!(
            payout.refunds,
            vec![PayoutRefund {
                order_id: Some("24-11111-10001".into()),
                reference: Some("5000987001".into()),
                amount: d("20.00"),
                fee: Decimal::ZERO,
            }]
        );
        assert!(
            payout
                .fees
                .contains(&fee("SHIPPING_LABEL", "8.31", "7000445566"))
        );
        // A non-sale charge is a fee of its own feeType, for what its reference names.
        assert!(
            payout
                .fees
                .contains(&fee("INSERTION_FEE", "0.35", "110554433221"))
        );
        let adjustments: Vec<(AdjustmentKind, Decimal, Option<&str>)> = payout
            .adjustments
            .iter()
            .map(|a| (a.kind.clone(), a.amount, a.order_id.as_deref()))
            .collect();
        assert_eq!(
            adjustments,
            vec![
                (
                    AdjustmentKind::Chargeback,
                    d("-35.00"),
                    Some("24-11111-09876")
                ),
                (AdjustmentKind::Other("CREDIT".into()), d("5.00"), None),
                (AdjustmentKind::Other("ADJUSTMENT".into()), d("-1.20"), None),
            ]
        );
    }

    #[test]
    fn a_payout_missing_a_transaction_shows_the_difference() {
        let (body, mut transactions) = documented();
        // The second sale (52.85 after its fees) is not in the list.
        transactions.remove(1);
        let payout = payout(&body, &transactions).unwrap();
        assert_eq!(payout.difference(), d("52.85"));
        // A dispute the list left out: the payout is 35.00 less than its parts.
        let (body, mut transactions) = documented();
        transactions.remove(3);
        assert_eq!(
            super::payout(&body, &transactions).unwrap().difference(),
            d("-35.00")
        );
    }

    #[test]
    fn fees_ebay_does_not_itemise_an_express_payout_fee_and_transfers_keep_the_arithmetic() {
        let (mut body, mut transactions) = documented();
        // totalFeeAmount 14.00 of which the lines itemise 13.68.
        transactions[0]["totalFeeAmount"]["value"] = json!("14.00");
        transactions[0]["amount"]["value"] = json!("86.00");
        transactions.push(json!({
            "transactionId": "TR-1", "payoutId": "6000012345", "transactionType": "TRANSFER",
            "bookingEntry": "DEBIT", "amount": {"value": "10.00", "currency": "USD"}}));
        transactions.push(json!({
            "transactionId": "LN-1", "payoutId": "6000012345",
            "transactionType": "LOAN_REPAYMENT", "bookingEntry": "DEBIT",
            "amount": {"value": "4.00", "currency": "USD"}}));
        // A shipping label refunded is a fee given back.
        transactions.push(json!({
            "transactionId": "7000445567", "payoutId": "6000012345",
            "transactionType": "SHIPPING_LABEL", "bookingEntry": "CREDIT",
            "amount": {"value": "8.31", "currency": "USD"}}));
        // 79.31 - 0.32 - 10.00 - 4.00 + 8.31 = 73.30, less a 1.50 express payout fee.
        body["amount"]["value"] = json!("71.80");
        body["totalAmount"] = json!({"value": "73.30", "currency": "USD"});
        body["totalFee"] = json!({"value": "1.50", "currency": "USD"});
        let payout = payout(&body, &transactions).unwrap();
        assert!(
            payout
                .fees
                .contains(&fee("UNITEMISED_FEE", "0.32", "24-11111-10001"))
        );
        assert!(
            payout
                .fees
                .contains(&fee("EXPRESS_PAYOUT_FEE", "1.50", "6000012345"))
        );
        assert!(
            payout
                .fees
                .contains(&fee("SHIPPING_LABEL", "-8.31", "7000445567"))
        );
        assert_eq!(payout.charges[0].gross, d("100.00"));
        let kinds: Vec<&AdjustmentKind> = payout.adjustments.iter().map(|a| &a.kind).collect();
        assert!(kinds.contains(&&AdjustmentKind::Other("TRANSFER".into())));
        assert!(kinds.contains(&&AdjustmentKind::Other("LOAN_REPAYMENT".into())));
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn a_dispute_the_seller_won_and_a_non_sale_charge_itemised_by_line_fees() {
        let (body, _) = documented();
        let mut body = body;
        body["amount"]["value"] = json!("32.00");
        let won = json!({
            "transactionId": "5001234568", "orderId": "24-11111-09876",
            "payoutId": "6000012345", "transactionType": "DISPUTE", "bookingEntry": "CREDIT",
            "amount": {"value": "35.00", "currency": "USD"}});
        // A charge eBay reports as its fees only: not counted twice.
        let charge = json!({
            "transactionId": "FEE-1", "payoutId": "6000012345",
            "transactionType": "NON_SALE_CHARGE", "bookingEntry": "DEBIT",
            "amount": {"value": "3.00", "currency": "USD"},
            "totalFeeAmount": {"value": "3.00", "currency": "USD"},
            "orderLineItems": [{"marketplaceFees": [
                {"feeType": "AD_FEE", "amount": {"value": "3.00", "currency": "USD"}}]}]});
        let payout = payout(&body, &[won, charge]).unwrap();
        assert_eq!(payout.adjustments[0].kind, AdjustmentKind::Chargeback);
        assert_eq!(payout.adjustments[0].amount, d("35.00"));
        assert_eq!(payout.fees, vec![fee("AD_FEE", "3.00", "FEE-1")]);
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn a_transaction_of_another_payout_currency_or_direction_is_refused() {
        let (body, transactions) = documented();
        let mut other = transactions.clone();
        other[2]["payoutId"] = json!("6000099999");
        let err = payout(&body, &other).unwrap_err().to_string();
        assert!(
            err.contains("6000099999") && err.contains("payoutId"),
            "{err}"
        );
        let mut currency = transactions.clone();
        currency[1]["orderLineItems"][0]["marketplaceFees"][2]["amount"]["currency"] = json!("GBP");
        let err = payout(&body, &currency).unwrap_err().to_string();
        assert!(err.contains("GBP") && err.contains("USD"), "{err}");
        let mut sign = transactions;
        sign[0]["bookingEntry"] = Value::Null;
        let err = payout(&body, &sign).unwrap_err().to_string();
        assert!(err.contains("bookingEntry"), "{err}");
    }

    #[test]
    fn payout_statuses_map_and_an_unknown_one_is_refused() {
        let (mut body, _) = documented();
        for (status, expected) in [
            ("INITIATED", PayoutStatus::Scheduled),
            ("RETRYABLE_FAILED", PayoutStatus::Failed),
            ("TERMINAL_FAILED", PayoutStatus::Failed),
            ("REVERSED", PayoutStatus::Failed),
        ] {
            body["payoutStatus"] = json!(status);
            assert_eq!(payout(&body, &[]).unwrap().status, expected);
        }
        body["payoutStatus"] = json!("PENDING");
        let err = payout(&body, &[]).unwrap_err().to_string();
        assert!(
            err.contains("payoutStatus") && err.contains("SUCCEEDED"),
            "{err}"
        );
    }

    #[test]
    fn the_finances_host_is_apiz_for_ebays_hosts_and_unchanged_for_any_other() {
        let api = |base: &str| -> PlatformApi {
            let table: toml::Table =
                toml::from_str(&format!("base_url = {base:?}\ntoken = \"t\"")).unwrap();
            table.try_into().unwrap()
        };
        assert_eq!(
            finances_api(&api("https://api.ebay.com")).base_url,
            "https://apiz.ebay.com"
        );
        assert_eq!(
            finances_api(&api("https://api.sandbox.ebay.com/")).base_url,
            "https://apiz.sandbox.ebay.com"
        );
        assert_eq!(
            finances_api(&api("http://127.0.0.1:9000")).base_url,
            "http://127.0.0.1:9000"
        );
    }

    #[test]
    fn pages_follow_next_else_total_and_the_filter_is_encoded() {
        let base = "http://127.0.0.1:9000";
        let path = |offset: usize| format!("{TRANSACTIONS}?filter=x&limit=200&offset={offset}");
        let linked = json!({"next": "https://apiz.ebay.com/sell/finances/v1/transaction?filter=x&limit=200&offset=200"});
        assert_eq!(
            next_page(&linked, 200, base, path).as_deref(),
            Some("/sell/finances/v1/transaction?filter=x&limit=200&offset=200")
        );
        assert_eq!(
            next_page(&json!({"offset": 200, "total": 450}), 200, base, path),
            Some(path(400))
        );
        assert_eq!(
            next_page(&json!({"offset": 400, "total": 450}), 50, base, path),
            None
        );
        assert_eq!(next_page(&Value::Null, 0, base, path), None);
        assert_eq!(
            timestamp(time::macros::datetime!(2026-11-01 13:00:00.0071 +13:00)),
            "2026-11-01T00:00:00.007Z"
        );
    }
}
