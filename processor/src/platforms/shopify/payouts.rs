//! Shopify Payments payouts (README "Payouts"): reading them from the Admin REST API and
//! normalising each, with its balance transactions, into a [`Payout`].
//!
//! - **Payouts.** `GET /admin/api/{version}/shopify_payments/payouts.json` (Shopify's REST
//!   "Payouts" reference; scope `shopify_payments_payouts`): `status`, `date_min` and
//!   `date_max` (inclusive), `date`, `since_id` and `last_id`, newest first, paged by the `Link`
//!   header's `rel="next"` URL, whose `page_info` takes no other filter. [`paid_payouts`] reads
//!   every `paid` payout dated on or after a cursor date.
//! - **Balance transactions.** `GET /admin/api/{version}/shopify_payments/balance/
//!   transactions.json?payout_id=` (the REST "Transactions" reference, Shopify Payments): every
//!   movement of the balance paid out in that payout, newest first, paged the same way
//!   ([`balance_transactions`]).
//! - **Normalising.** [`payout`] maps each balance transaction type onto a part of the
//!   [`Payout`] (the table on [`part_of`]); the `payout` transaction is the payout itself.
//!
//! Calls go through the poller's [`PollClient`], paced by Shopify's call-limit header as its
//! order lists are ([`super::poll::pace`]), so reading payouts never takes the calls the event
//! path needs.
//!
//! UNSURE: Shopify calls the REST Admin API legacy since October 2024 (new public apps must use
//! GraphQL), though these endpoints are still served and documented at 2026-10. The GraphQL
//! source is `shopifyPaymentsAccount { payouts, balanceTransactions }`, whose
//! `ShopifyPaymentsPayout` (`legacyResourceId`, `issuedAt`, `net`, `status`) and
//! `ShopifyPaymentsBalanceTransaction` (`type`, `amount`, `fee`, `net`, `associatedOrder`,
//! `sourceOrderTransactionId`, `adjustmentReason`) carry the same figures: a GraphQL reader
//! would turn its nodes into the REST shapes [`payout`] reads (lower-case types, decimal
//! strings) and reuse the normaliser, or replace only the two list functions here.
//!
//! Booking plugs in after this: the poller (under the shop's lease, per `payouts = true`)
//! lists paid payouts since its payout cursor, fetches each one's balance transactions,
//! normalises them here and publishes the [`Payout`] on the event path, where the booking
//! checks [`Payout::difference`] and the parts against the ledger before it books the transfer
//! from clearing to the bank.

use rust_decimal::Decimal;
use serde_json::Value;
use time::Date;
use xcs_shared::Platform;
use xcs_shared::domain::{
    AdjustmentKind, Currency, Payout, PayoutAdjustment, PayoutCharge, PayoutFee, PayoutRefund,
    PayoutStatus,
};

use super::poll::{next_link, relative};
use crate::normalise::{NormaliseError, parse_decimal, parse_iso_date};
use crate::platforms::api::{Auth, PlatformApi};
use crate::poll::{PollClient, PollError};

const REFUSALS: crate::normalise::Refusals = crate::normalise::Refusals(PLATFORM);
const PLATFORM: Platform = Platform::Shopify;

/// Payouts and balance transactions per page. UNSURE: neither reference lists `limit` for
/// these two endpoints; Shopify's "Make paginated requests to the REST Admin API" gives every
/// cursor-paged endpoint `limit` (default 50, at most 250).
pub const PAGE_SIZE: usize = 250;

/// Every `paid` payout dated `since` or later, oldest first (by date, then id), as Shopify's
/// payouts list returns them. The cursor is a date, not a time: Shopify dates payouts by day,
/// so the caller reads from the last day it has finished again and books by payout id once.
///
/// # Errors
/// [`PollError`]: the API's refusals and outages as the poller reports them, and an answer
/// without a `payouts` list as [`PollError::Unreadable`].
pub async fn paid_payouts(
    client: &PollClient,
    api: &PlatformApi,
    since: Date,
) -> Result<Vec<Value>, PollError> {
    let first = format!(
        "/admin/api/{}/shopify_payments/payouts.json?status=paid&date_min={since}\
         &limit={PAGE_SIZE}",
        api.shopify_api_version()
    );
    let mut payouts = read_pages(client, api, first, "payouts").await?;
    payouts.sort_by_key(|p| (date_of(p), p["id"].as_u64().unwrap_or_default()));
    Ok(payouts)
}

/// Every balance transaction of payout `payout_id` (the `payout` transaction included).
///
/// # Errors
/// As [`paid_payouts`], for a `transactions` list.
pub async fn balance_transactions(
    client: &PollClient,
    api: &PlatformApi,
    payout_id: &str,
) -> Result<Vec<Value>, PollError> {
    let first = format!(
        "/admin/api/{}/shopify_payments/balance/transactions.json?payout_id={payout_id}\
         &limit={PAGE_SIZE}",
        api.shopify_api_version()
    );
    read_pages(client, api, first, "transactions").await
}

async fn read_pages(
    client: &PollClient,
    api: &PlatformApi,
    first: String,
    list: &str,
) -> Result<Vec<Value>, PollError> {
    let mut found = Vec::new();
    let mut path = Some(first);
    while let Some(current) = path.take() {
        let reply = client
            .get(PLATFORM, api, Auth::ShopifyAccessToken, &current)
            .await
            .map_err(|err| match err {
                PollError::Credentials(detail) => PollError::Credentials(format!(
                    "{detail}; reading payouts needs the read_shopify_payments_payouts scope on the \
                     Admin API access token"
                )),
                other => other,
            })?;
        let page = reply.body[list].as_array().ok_or_else(|| {
            PollError::Unreadable(format!(
                "Shopify's answer to {current} has no `{list}` list"
            ))
        })?;
        found.extend(page.iter().cloned());
        path = reply
            .header("link")
            .and_then(next_link)
            .map(|url| relative(&url, &api.base_url));
        if path.as_deref() == Some(current.as_str()) {
            return Err(PollError::Unreadable(format!(
                "Shopify's answer to {current} names itself as the next page"
            )));
        }
    }
    Ok(found)
}

fn date_of(payout: &Value) -> Option<Date> {
    payout["date"].as_str().and_then(parse_iso_date)
}

/// A Shopify payout (an element of the payouts list) and its balance transactions as a
/// [`Payout`].
///
/// # Errors
/// [`NormaliseError`] when a field is missing or unreadable, a transaction belongs to another
/// payout or is in another currency (the list was not filtered as asked), or a type the
/// mapping needs an order for names none.
pub fn payout(payout: &Value, transactions: &[Value]) -> Result<Payout, NormaliseError> {
    let document = format!("payout {}", id(payout, "id").unwrap_or_default());
    let payout_id = id(payout, "id").ok_or_else(|| REFUSALS.missing(&document, "id"))?;
    let status = match text(payout, "status", &document)? {
        "scheduled" => PayoutStatus::Scheduled,
        "in_transit" => PayoutStatus::InTransit,
        "paid" => PayoutStatus::Paid,
        "failed" => PayoutStatus::Failed,
        "canceled" | "cancelled" => PayoutStatus::Canceled,
        other => {
            return Err(REFUSALS.invalid(
                &document,
                "status",
                other,
                "scheduled, in_transit, paid, failed or canceled",
            ));
        }
    };
    let date = parse_iso_date(text(payout, "date", &document)?).ok_or_else(|| {
        REFUSALS.invalid(&document, "date", &payout["date"].to_string(), "a date")
    })?;
    let code = currency(payout, &document)?;
    let mut normalised = Payout {
        platform: PLATFORM,
        payout_id: payout_id.clone(),
        status,
        date,
        currency: code,
        amount: money(payout, "amount", &document)?,
        charges: Vec::new(),
        refunds: Vec::new(),
        fees: Vec::new(),
        adjustments: Vec::new(),
    };
    for transaction in transactions {
        let tx_id = id(transaction, "id").unwrap_or_default();
        let document = format!("payout {payout_id} balance transaction {tx_id}");
        if let Some(other) = id(transaction, "payout_id")
            && other != payout_id
        {
            return Err(REFUSALS.inconsistent(
                &document,
                format!(
                    "it was paid out in payout {other}, not {payout_id}: the list was not \
                     filtered by payout_id"
                ),
            ));
        }
        let tx_currency = currency(transaction, &document)?;
        if tx_currency != normalised.currency {
            return Err(REFUSALS.inconsistent(
                &document,
                format!(
                    "it is in {tx_currency}, the payout in {}",
                    normalised.currency
                ),
            ));
        }
        part_of(&mut normalised, transaction, &document)?;
    }
    Ok(normalised)
}

/// Adds one balance transaction to the payout's parts:
///
/// | `type` | part |
/// |---|---|
/// | `payout` | none: the payout itself (its amount is the deposit, negated) |
/// | `charge` | a charge of `source_order_id`: gross `amount`, its fee |
/// | `refund` | a refund of `source_order_id`: `-amount` back to the buyer, its fee |
/// | `dispute`, `chargeback_hold`, `chargeback_hold_release` | a chargeback of `amount`, and its fee as a fee of kind `dispute_fee` |
/// | `reserve`, `reserved_funds*` | a reserve of `amount`, its fee as `reserve_fee` |
/// | `chargeback_fee`, `chargeback_fee_refund`, `ach_bank_failure_debit_fee`, `*_fee` | a fee of that kind: `-net` |
/// | `adjustment` | an adjustment of `amount` (a currency conversion when its `adjustment_reason` says so, else by its reason, else `adjustment`), its fee as `adjustment_fee` |
/// | anything else (`credit`, `debit`, `payout_failure`, `payout_cancellation`, `billing_debit`, the GraphQL-era types) | an adjustment of kind `Other(type)` for its `net` |
///
/// Shopify's `net` is what moved the balance, so each part is read from `amount` and `net`:
/// the fee is `amount - net`, which is Shopify's `fee` whenever its three figures agree (the
/// reference's own example list has an `adjustment` where they do not). The parts then add
/// up to the sum of the nets, which is what the payout paid.
///
/// UNSURE: no reference lists the REST `adjustment_reason` values; "currency conversion" is
/// recognised by the word `currency` in it. A Shopify bill taken from the balance
/// (`billing_debit`) is kept as an adjustment, not a fee: Shopify issues its own invoice for
/// it, which the seller may already book.
fn part_of(payout: &mut Payout, transaction: &Value, document: &str) -> Result<(), NormaliseError> {
    let kind = text(transaction, "type", document)?.to_ascii_lowercase();
    let amount = money(transaction, "amount", document)?;
    let net = money(transaction, "net", document)?;
    let fee = amount - net;
    let order_id = id(transaction, "source_order_id");
    let reference = id(transaction, "source_order_transaction_id");
    let source_id = id(transaction, "source_id");
    let own_id = id(transaction, "id");
    let fee_reference = source_id.clone().or_else(|| own_id.clone());
    let fee_part = |kind: &str| PayoutFee {
        kind: kind.to_owned(),
        amount: fee,
        tax: None,
        reference: fee_reference.clone(),
    };
    match kind.as_str() {
        "payout" => {}
        "charge" => payout.charges.push(PayoutCharge {
            order_id,
            reference,
            gross: amount,
            fee,
        }),
        "refund" => payout.refunds.push(PayoutRefund {
            order_id,
            reference,
            amount: -amount,
            fee,
        }),
        "dispute" | "chargeback_hold" | "chargeback_hold_release" => {
            payout.adjustments.push(PayoutAdjustment {
                kind: AdjustmentKind::Chargeback,
                amount,
                source_id,
                order_id,
            });
            if !fee.is_zero() {
                payout.fees.push(fee_part("dispute_fee"));
            }
        }
        reserve if reserve == "reserve" || reserve.starts_with("reserved_funds") => {
            payout.adjustments.push(PayoutAdjustment {
                kind: AdjustmentKind::Reserve,
                amount,
                source_id,
                order_id,
            });
            if !fee.is_zero() {
                payout.fees.push(fee_part("reserve_fee"));
            }
        }
        "adjustment" => {
            let reason = transaction["adjustment_reason"]
                .as_str()
                .map(str::trim)
                .filter(|r| !r.is_empty());
            let kind = match reason {
                Some(r) if r.to_ascii_lowercase().contains("currency") => {
                    AdjustmentKind::CurrencyConversion
                }
                Some(r) => AdjustmentKind::Other(r.to_owned()),
                None => AdjustmentKind::Other("adjustment".to_owned()),
            };
            payout.adjustments.push(PayoutAdjustment {
                kind,
                amount,
                source_id,
                order_id,
            });
            if !fee.is_zero() {
                payout.fees.push(fee_part("adjustment_fee"));
            }
        }
        fee_kind if fee_kind.ends_with("_fee") || fee_kind == "chargeback_fee_refund" => {
            payout.fees.push(PayoutFee {
                kind: fee_kind.to_owned(),
                amount: -net,
                tax: None,
                reference: source_id.or(own_id),
            });
        }
        other => payout.adjustments.push(PayoutAdjustment {
            kind: AdjustmentKind::Other(other.to_owned()),
            amount: net,
            source_id: source_id.or(own_id),
            order_id,
        }),
    }
    Ok(())
}

/// An id Shopify writes as a number (or, in places, a string); `None` when absent or null.
fn id(value: &Value, field: &str) -> Option<String> {
    match &value[field] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn text<'v>(value: &'v Value, field: &str, document: &str) -> Result<&'v str, NormaliseError> {
    match &value[field] {
        Value::String(s) => Ok(s.as_str()),
        Value::Null => Err(REFUSALS.missing(document, field)),
        other => Err(REFUSALS.invalid(document, field, &other.to_string(), "a string")),
    }
}

/// A decimal string (`"41.90"`, `"-3.54"`), as Shopify writes money.
fn money(value: &Value, field: &str, document: &str) -> Result<Decimal, NormaliseError> {
    let raw = match &value[field] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Null => return Err(REFUSALS.missing(document, field)),
        other => other.to_string(),
    };
    parse_decimal(&raw).ok_or_else(|| REFUSALS.invalid(document, field, &raw, "a decimal amount"))
}

fn currency(value: &Value, document: &str) -> Result<Currency, NormaliseError> {
    let code = text(value, "currency", document)?;
    Currency::try_from(code.to_owned()).map_err(|_| REFUSALS.currency(document, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::d;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        crate::normalise::test_support::api_fixture_json(&format!("shopify/{name}"))
    }

    fn documented() -> (Value, Vec<Value>) {
        let payout = fixture("payouts_81726354_nzd.json")["payouts"][0].clone();
        let transactions = fixture("balance_transactions_81726354_nzd.json")["transactions"]
            .as_array()
            .unwrap()
            .clone();
        (payout, transactions)
    }

    #[test]
    fn a_payout_and_its_balance_transactions_normalise_into_parts_that_make_the_deposit() {
        let (body, transactions) = documented();
        let payout = payout(&body, &transactions).unwrap();
        assert_eq!(payout.payout_id, "81726354");
        assert_eq!(payout.status, PayoutStatus::Paid);
        assert_eq!(payout.date, time::macros::date!(2026 - 11 - 24));
        assert_eq!(payout.currency.as_str(), "NZD");
        assert_eq!(payout.amount, d("84.89"));
        assert_eq!(
            payout.charges,
            vec![
                PayoutCharge {
                    order_id: Some("5501002".into()),
                    reference: Some("7702".into()),
                    gross: d("115.00"),
                    fee: d("3.60"),
                },
                PayoutCharge {
                    order_id: Some("5501001".into()),
                    reference: Some("7701".into()),
                    gross: d("63.25"),
                    fee: d("2.13"),
                },
            ]
        );
        assert_eq!(
            payout.refunds,
            vec![PayoutRefund {
                order_id: Some("5501001".into()),
                reference: Some("7703".into()),
                amount: d("23.00"),
                fee: d("0.00"),
            }]
        );
        assert_eq!(
            payout.fees,
            vec![PayoutFee {
                kind: "dispute_fee".into(),
                amount: d("15.00"),
                tax: None,
                reference: Some("3301".into()),
            }]
        );
        let adjustments: Vec<(AdjustmentKind, Decimal)> = payout
            .adjustments
            .iter()
            .map(|a| (a.kind.clone(), a.amount))
            .collect();
        assert_eq!(
            adjustments,
            vec![
                (AdjustmentKind::CurrencyConversion, d("0.37")),
                (AdjustmentKind::Reserve, d("-10.00")),
                (AdjustmentKind::Chargeback, d("-40.00")),
            ]
        );
        assert_eq!(payout.adjustments[2].order_id.as_deref(), Some("5501003"));
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    /// The reference's own summary splits the payout the same way: charges, refunds,
    /// adjustments (disputes included) and reserves, each gross and fee.
    #[test]
    fn the_parts_agree_with_shopifys_payout_summary() {
        let (body, transactions) = documented();
        let payout = payout(&body, &transactions).unwrap();
        let summary = |field: &str| d(body["summary"][field].as_str().unwrap());
        let gross: Decimal = payout.charges.iter().map(|c| c.gross).sum();
        let fees: Decimal = payout.charges.iter().map(|c| c.fee).sum();
        assert_eq!(gross, summary("charges_gross_amount"));
        assert_eq!(fees, summary("charges_fee_amount"));
        let refunded: Decimal = payout.refunds.iter().map(|r| r.amount).sum();
        assert_eq!(-refunded, summary("refunds_gross_amount"));
        let adjusted: Decimal = payout
            .adjustments
            .iter()
            .filter(|a| a.kind != AdjustmentKind::Reserve)
            .map(|a| a.amount)
            .sum();
        assert_eq!(adjusted, summary("adjustments_gross_amount"));
        let reserved: Decimal = payout
            .adjustments
            .iter()
            .filter(|a| a.kind == AdjustmentKind::Reserve)
            .map(|a| a.amount)
            .sum();
        assert_eq!(reserved, summary("reserved_funds_gross_amount"));
    }

    #[test]
    fn a_payout_missing_a_transaction_shows_the_difference() {
        let (body, mut transactions) = documented();
        // The oldest charge (63.25 less 2.13) is not in the list.
        transactions.pop();
        let payout = payout(&body, &transactions).unwrap();
        assert_eq!(payout.difference(), d("61.12"));
    }

    #[test]
    fn fee_types_and_unknown_types_keep_the_arithmetic() {
        let (body, mut transactions) = documented();
        let mut body = body;
        let extra = |id: u64, kind: &str, amount: &str, fee: &str, net: &str| {
            json!({
                "id": id, "type": kind, "payout_id": 81726354, "currency": "NZD",
                "amount": amount, "fee": fee, "net": net, "source_id": id,
                "source_order_id": null, "source_order_transaction_id": null,
            })
        };
        transactions.push(extra(1, "chargeback_fee", "-15.00", "0.00", "-15.00"));
        transactions.push(extra(
            2,
            "SHOPIFY_COLLECTIVE_DEBIT_REVERSAL",
            "1.00",
            "0.00",
            "1.00",
        ));
        transactions.push(extra(3, "payout_failure", "41.90", "0.00", "41.90"));
        // The reference's example adjustment, whose fee is not amount - net.
        transactions.push(extra(4, "adjustment", "-1.50", "-0.25", "-1.75"));
        body["amount"] = json!("111.04");
        let payout = payout(&body, &transactions).unwrap();
        assert!(payout.fees.contains(&PayoutFee {
            kind: "chargeback_fee".into(),
            amount: d("15.00"),
            tax: None,
            reference: Some("1".into()),
        }));
        assert!(
            payout
                .fees
                .iter()
                .any(|f| f.kind == "adjustment_fee" && f.amount == d("0.25"))
        );
        let other: Vec<&AdjustmentKind> = payout.adjustments.iter().map(|a| &a.kind).collect();
        assert!(other.contains(&&AdjustmentKind::Other(
            "shopify_collective_debit_reversal".into()
        )));
        assert!(other.contains(&&AdjustmentKind::Other("payout_failure".into())));
        assert!(other.contains(&&AdjustmentKind::Other("adjustment".into())));
        // 84.89 - 15.00 + 1.00 + 41.90 - 1.75
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn a_transaction_of_another_payout_or_currency_is_refused() {
        let (body, transactions) = documented();
        let mut other_payout = transactions.clone();
        other_payout[1]["payout_id"] = json!(99);
        let err = payout(&body, &other_payout).unwrap_err().to_string();
        assert!(
            err.contains("payout 99") && err.contains("payout_id"),
            "{err}"
        );
        let mut other_currency = transactions;
        other_currency[2]["currency"] = json!("AUD");
        let err = payout(&body, &other_currency).unwrap_err().to_string();
        assert!(err.contains("AUD") && err.contains("NZD"), "{err}");
    }

    #[test]
    fn a_payout_without_a_status_shopify_documents_is_refused() {
        let (mut body, transactions) = documented();
        body["status"] = json!("pending");
        let err = payout(&body, &transactions).unwrap_err().to_string();
        assert!(
            err.contains("status") && err.contains("in_transit"),
            "{err}"
        );
        body["status"] = json!("in_transit");
        body["amount"] = Value::Null;
        let err = payout(&body, &transactions).unwrap_err().to_string();
        assert!(err.contains("`amount` is missing"), "{err}");
    }
}
