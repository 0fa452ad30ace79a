//! Etsy deposits (README "Payouts"): reading the shop's payment account ledger from Open API
//! v3 and normalising each disbursement, with the entries it paid out, into a [`Payout`].
//!
//! Etsy's API reference, tag "Ledger Entry" (developers.etsy.com/documentation/reference
//! #tag/Ledger-Entry, and the `openapi.json` of github.com/etsy/open-api), scope
//! `transactions_r`:
//! - **`getShopPaymentAccountLedgerEntries`**, `GET /v3/application/shops/{shop_id}/
//!   payment-account/ledger-entries`: `min_created` and `max_created` (both required, Unix
//!   seconds), `limit` (1..=100, default 25) and `offset`; `{count, results}` of
//!   `PaymentAccountLedgerEntry`: `entry_id`, `ledger_id`, `sequence_number` ("the higher the
//!   sequence, the more recent the entry"), `amount` ("the amount of money credited to the
//!   ledger", an integer), `currency`, `description` ("a payment, refund, reversal of a failed
//!   refund, disbursement, returned disbursement, recoupment, miscellaneous credit,
//!   miscellaneous debit, or bill payment"), `balance` (the ledger's balance "the moment after
//!   this entry was applied"), `created_timestamp`, `ledger_type` ("the original reference
//!   type"), `reference_type` and `reference_id` (the object it refers to), `parent_entry_id`
//!   ("used to match related entries (e.g., vat_seller_services to originating seller fees)")
//!   and `payment_adjustments`. [`ledger_entries`] reads a window, paged by offset.
//! - **`getPaymentAccountLedgerEntryPayments`**, `GET .../payment-account/ledger-entries/
//!   payments?ledger_entry_ids=`: the `Payment`s behind entries ("if applicable"), each with
//!   its `payment_id`, `receipt_id` and `payment_adjustments` (each with its
//!   `payment_adjustment_id`). [`entry_payments`] reads them for the sales and refunds of the
//!   disbursements read, so that each names its receipt (the order's id).
//!
//! Unlike the receipts' and payments' Money objects (`{amount, divisor, currency_code}`), a
//! ledger entry's `amount` and `balance` are bare integers beside a `currency`: minor units
//! of that currency ([`minor_units`]).
//!
//! **Disbursements.** The ledger is one running balance: sales credit it, fees, refunds and
//! reserves debit it, and a disbursement (the deposit to the seller's bank) debits what is
//! paid out. The entries between two disbursements are what the later one paid ([`split`]);
//! entries after the last one are not paid yet. What the balance held after the earlier
//! disbursement (brought forward) and still holds after the later one (carried forward) are
//! parts of their own, so that a deposit that does not empty the balance still explains
//! itself, and an entry missing from the read shows as [`Payout::difference`].
//!
//! Calls go through the poller's [`PollClient`], paced by Etsy's rate-limit headers as its
//! receipts are ([`super::poll::pace`]).
//!
//! UNSURE (Etsy's reference documents the fields, not their values; the values used here are
//! the ones sellers' tools built on the live API report, and each unknown value is kept as an
//! adjustment by its name, never dropped):
//! - `ledger_type` values: `PAYMENT_GROSS` (a sale, `reference_type` `shop_payment`,
//!   `reference_id` the payment id), `PAYMENT_PROCESSING_FEE`, `REFUND` / `REFUND_GROSS`
//!   (`reference_type` `payment_adjustment`), `DISBURSE` / `DISBURSE2` (`reference_type`
//!   `disbursement`), `transaction`, `transaction_quantity`, `shipping_transaction`,
//!   `listing`, `renew_*`, `prolist` (Etsy Ads), `offsite_ads_fee`, `shipping_labels`,
//!   `regulatory_operating_fee`, `vat_seller_services` and `vat_on_processing_fees` (VAT on
//!   Etsy's fees, child entries of the fee by `parent_entry_id`), `sales_tax` / `vat_tax_ep`
//!   (tax Etsy collected from the buyer and remits itself), `RESERVE`, and `_refund` forms of
//!   the fees; chargebacks and case refunds are recognised by `chargeback`, `case` or
//!   `dispute` in the type, currency conversion by `conversion`;
//! - the order of `results` and whether `min_created` / `max_created` are inclusive (the
//!   entries are sorted by `sequence_number` here, and read as inclusive);
//! - how many ids `ledger_entry_ids` takes (100 here, as Etsy's other id lists);
//! - whether `PAYMENT_GROSS` includes the sales tax Etsy collected: the `sales_tax` entry of
//!   the receipt is taken off its sale, as the order's payment into clearing leaves it out
//!   (`super::normalise`);
//! - the bank's date: a deposit is dated by its entry's `created_timestamp` (UTC); Etsy says
//!   deposits take a few business days to arrive.
//!
//! Booking plugs in after this: the poller (under the shop's lease, per `payouts = true`)
//! reads the window from its last booked disbursement on (which anchors the next one), splits
//! it, fetches the payments of the paid entries, normalises each disbursement here and
//! publishes the [`Payout`] on the event path, where the booking checks
//! [`Payout::difference`] before it books the transfer from clearing to the bank.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::Platform;
use xcs_shared::domain::{
    AdjustmentKind, Currency, Payout, PayoutAdjustment, PayoutCharge, PayoutFee, PayoutRefund,
    PayoutStatus,
};

use crate::normalise::{NormaliseError, is_iso_4217};
use crate::platforms::api::{Auth, PlatformApi};
use crate::poll::{PollClient, PollError};

const REFUSALS: crate::normalise::Refusals = crate::normalise::Refusals(PLATFORM);
const PLATFORM: Platform = Platform::Etsy;

/// Ledger entries per page, and entry ids per payments call: Etsy's maximum for the first.
pub const PAGE_SIZE: usize = 100;
/// The earliest `min_created` Etsy accepts on its lists (2000-01-01).
const EARLIEST: i64 = 946_684_800;
/// The adjustment kind of what the ledger held after the previous deposit, which this one
/// pays out with its own entries.
pub const BROUGHT_FORWARD: &str = "etsy_balance_brought_forward";
/// The adjustment kind of what the ledger still holds after this deposit (negative here,
/// brought forward by the next).
pub const CARRIED_FORWARD: &str = "etsy_balance_carried_forward";

/// Every ledger entry created from `from` to `to`, oldest first (by `sequence_number`), each
/// once.
///
/// # Errors
/// [`PollError`]: the API's refusals and outages as the poller reports them, a shop without
/// `api.shop_id` as [`PollError::Misconfigured`], and an answer without `results` as
/// [`PollError::Unreadable`].
pub async fn ledger_entries(
    client: &PollClient,
    api: &PlatformApi,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<Vec<Value>, PollError> {
    let shop_id = shop_id(api)?;
    let mut by_entry: BTreeMap<(i64, String), Value> = BTreeMap::new();
    let mut offset = 0;
    loop {
        let path = ledger_path(shop_id, from, to, offset);
        let page = results(client, api, &path).await?;
        for entry in &page {
            let id = id(entry, "entry_id").ok_or_else(|| {
                PollError::Unreadable(format!(
                    "an entry in Etsy's answer to {path} has no entry_id"
                ))
            })?;
            let sequence = entry["sequence_number"].as_i64().unwrap_or(i64::MAX);
            // An entry created while the pages are read moves the later ones by one: the
            // entry seen twice is kept once.
            by_entry.insert((sequence, id), entry.clone());
        }
        if page.len() < PAGE_SIZE {
            break;
        }
        offset += page.len();
    }
    Ok(by_entry.into_values().collect())
}

fn ledger_path(shop_id: &str, from: OffsetDateTime, to: OffsetDateTime, offset: usize) -> String {
    format!(
        "/v3/application/shops/{shop_id}/payment-account/ledger-entries?min_created={}\
         &max_created={}&limit={PAGE_SIZE}&offset={offset}",
        from.unix_timestamp().max(EARLIEST),
        to.unix_timestamp().max(EARLIEST),
    )
}

/// The payments behind `entry_ids` (the sales and refunds [`needs_payment`] picks), a call
/// per [`PAGE_SIZE`] ids.
///
/// # Errors
/// As [`ledger_entries`].
pub async fn entry_payments(
    client: &PollClient,
    api: &PlatformApi,
    entry_ids: &[String],
) -> Result<Vec<Value>, PollError> {
    let shop_id = shop_id(api)?;
    let mut payments = Vec::new();
    for ids in entry_ids.chunks(PAGE_SIZE) {
        let path = format!(
            "/v3/application/shops/{shop_id}/payment-account/ledger-entries/payments\
             ?ledger_entry_ids={}",
            ids.join(",")
        );
        payments.extend(results(client, api, &path).await?);
    }
    Ok(payments)
}

async fn results(
    client: &PollClient,
    api: &PlatformApi,
    path: &str,
) -> Result<Vec<Value>, PollError> {
    let reply = client
        .get(PLATFORM, api, Auth::BearerAndApiKey, path)
        .await
        .map_err(|err| match err {
            PollError::Credentials(detail) => PollError::Credentials(format!(
                "{detail}; reading the payment account ledger needs the transactions_r scope \
                 on the shop's OAuth token"
            )),
            other => other,
        })?;
    reply.body["results"].as_array().cloned().ok_or_else(|| {
        PollError::Unreadable(format!("Etsy's answer to {path} has no `results` list"))
    })
}

fn shop_id(api: &PlatformApi) -> Result<&str, PollError> {
    api.shop_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            PollError::Misconfigured(
                "the Etsy shop has no api.shop_id, under which its payment account ledger is \
                 read"
                    .to_owned(),
            )
        })
}

/// One deposit and what it paid: the entries after the previous disbursement, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct Disbursement {
    /// The disbursement's own entry.
    pub entry: Value,
    pub entries: Vec<Value>,
    /// The ledger's balance after the previous disbursement, in minor units.
    pub brought_forward: i64,
}

/// A window of the ledger split at its disbursements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ledger {
    /// The first disbursement read, whose own entries began before the window: it opens the
    /// first [`Disbursement`] and is not one itself. The next read starts at it.
    pub anchor: Option<Value>,
    /// Entries before the anchor, paid by it.
    pub before_anchor: Vec<Value>,
    pub paid: Vec<Disbursement>,
    /// Entries after the last disbursement: the next deposit's, not yet paid.
    pub unpaid: Vec<Value>,
}

/// Splits entries (oldest first, as [`ledger_entries`] returns them) at each disbursement.
pub fn split(entries: Vec<Value>) -> Ledger {
    let mut ledger = Ledger::default();
    let mut previous: Option<i64> = None;
    let mut open: Vec<Value> = Vec::new();
    for entry in entries {
        if !is_disbursement(&entry) {
            open.push(entry);
            continue;
        }
        let balance = entry["balance"].as_i64().unwrap_or_default();
        match previous {
            None => {
                ledger.before_anchor = std::mem::take(&mut open);
                ledger.anchor = Some(entry);
            }
            Some(brought_forward) => ledger.paid.push(Disbursement {
                entry,
                entries: std::mem::take(&mut open),
                brought_forward,
            }),
        }
        previous = Some(balance);
    }
    ledger.unpaid = open;
    ledger
}

/// A deposit to the bank: a debit that refers to a disbursement. A credit that refers to
/// one is a returned disbursement (the bank refused it), which the next deposit pays again.
fn is_disbursement(entry: &Value) -> bool {
    let kind = entry["ledger_type"].as_str().unwrap_or_default();
    let reference = entry["reference_type"].as_str().unwrap_or_default();
    let debit = entry["amount"].as_i64().is_some_and(|a| a < 0);
    debit && (reference == "disbursement" || kind.to_ascii_uppercase().starts_with("DISBURSE"))
}

/// Whether the entry is a sale or a refund, whose receipt only its payment names.
pub fn needs_payment(entry: &Value) -> bool {
    matches!(
        classify(entry),
        Class::Charge | Class::Refund | Class::RefundReversal
    )
}

/// Receipt ids by payment id and by payment adjustment id, from Etsy `Payment`s.
pub fn receipts_of(payments: &[Value]) -> HashMap<String, String> {
    let mut receipts = HashMap::new();
    for payment in payments {
        let Some(receipt) = id(payment, "receipt_id") else {
            continue;
        };
        if let Some(payment_id) = id(payment, "payment_id") {
            receipts.insert(payment_id, receipt.clone());
        }
        for adjustment in payment["payment_adjustments"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(adjustment_id) = id(adjustment, "payment_adjustment_id") {
                receipts.insert(adjustment_id, receipt.clone());
            }
        }
    }
    receipts
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Charge,
    Refund,
    RefundReversal,
    BuyerTax,
    FeeTax,
    Fee,
    Reserve,
    Chargeback,
    Conversion,
    Disbursement,
    Other,
}

/// What an entry is, by its `ledger_type` (the table in the module's UNSURE).
fn classify(entry: &Value) -> Class {
    let kind = entry["ledger_type"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let reference = entry["reference_type"].as_str().unwrap_or_default();
    let fee_base = kind.strip_suffix("_refund").unwrap_or(&kind);
    match kind.as_str() {
        "payment_gross" | "payment" => Class::Charge,
        "refund" | "refund_gross" => Class::Refund,
        "refund_reversal" | "refund_gross_reversal" => Class::RefundReversal,
        "sales_tax" | "sales_tax_refund" | "vat_tax_ep" | "vat_refund_ep" => Class::BuyerTax,
        "vat_seller_services" | "vat_seller_services_refund" | "vat_on_processing_fees" => {
            Class::FeeTax
        }
        _ if reference == "disbursement" || kind.starts_with("disburse") => Class::Disbursement,
        _ if kind.contains("reserve") => Class::Reserve,
        _ if kind.contains("chargeback") || kind.contains("case") || kind.contains("dispute") => {
            Class::Chargeback
        }
        _ if FEES.contains(&fee_base)
            || fee_base.ends_with("_fee")
            || fee_base.ends_with("_fees") =>
        {
            Class::Fee
        }
        _ if kind.contains("conversion") => Class::Conversion,
        _ if reference == "shop_payment" => Class::Charge,
        _ if reference == "payment_adjustment" => Class::Refund,
        _ => Class::Other,
    }
}

/// Etsy's fees that do not say so in their name.
const FEES: &[&str] = &[
    "transaction",
    "transaction_quantity",
    "shipping_transaction",
    "listing",
    "listing_private",
    "renew",
    "renew_sold",
    "renew_sold_auto",
    "renew_expired",
    "auto_renew_expired",
    "prolist",
    "etsy_ads",
    "shipping_labels",
    "shipping_label",
    "subscription",
    "seller_onboarding_fee_payment",
];

/// One disbursement and its entries as a [`Payout`]; `receipts` from [`receipts_of`] names
/// the orders of its sales and refunds.
///
/// | entries | part |
/// |---|---|
/// | `PAYMENT_GROSS` | a charge of the payment's receipt, gross the amount (less the receipt's `sales_tax`, below), fee none |
/// | `REFUND`, `REFUND_GROSS` | a refund of the adjustment's receipt, fee none; a refund reversal is a negative refund |
/// | `sales_tax`, `vat_tax_ep` | taken off the charge (or refund) of its receipt, which then is what went into clearing; else an adjustment |
/// | the fees (processing, transaction, listing, ads, labels, `*_fee`), and their `_refund` | a fee of that `ledger_type`: the debit, positive |
/// | `vat_seller_services`, `vat_on_processing_fees` | the tax of the fee its `parent_entry_id` names, added to it; a fee of its own, all tax, when that fee is not in this deposit |
/// | reserves, chargebacks and cases, currency conversion | an adjustment of that kind |
/// | a returned disbursement, anything else | an adjustment `Other(ledger_type)` |
/// | balances | brought forward ([`BROUGHT_FORWARD`]) and carried forward ([`CARRIED_FORWARD`]) |
///
/// Etsy's processing fee is a fee of its own rather than the charge's `fee`: Etsy charges VAT
/// on it in VAT countries, and a charge's fee has no tax.
///
/// # Errors
/// [`NormaliseError`] when a field is missing or unreadable, or an entry is in another
/// currency than the deposit (Etsy keeps one ledger per shop, in one currency).
pub fn payout(
    disbursement: &Disbursement,
    receipts: &HashMap<String, String>,
) -> Result<Payout, NormaliseError> {
    let deposit = &disbursement.entry;
    let entry_id = id(deposit, "entry_id").unwrap_or_default();
    let document = format!("disbursement ledger entry {entry_id}");
    let payout_id = id(deposit, "reference_id")
        .or_else(|| id(deposit, "entry_id"))
        .ok_or_else(|| REFUSALS.missing(&document, "entry_id"))?;
    let code = currency(deposit, &document)?;
    let units = minor_units(&code);
    let at = integer(deposit, "created_timestamp", &document)?;
    let date = OffsetDateTime::from_unix_timestamp(at)
        .map_err(|_| {
            REFUSALS.invalid(
                &document,
                "created_timestamp",
                &at.to_string(),
                "epoch seconds",
            )
        })?
        .date();
    let money = |minor: i64| Decimal::new(minor, units);
    let mut normalised = Payout {
        platform: PLATFORM,
        payout_id,
        status: PayoutStatus::Paid,
        date,
        currency: code.clone(),
        amount: -money(integer(deposit, "amount", &document)?),
        charges: Vec::new(),
        refunds: Vec::new(),
        fees: Vec::new(),
        adjustments: Vec::new(),
    };
    // Fee entries by entry id, pointing at their place in `fees`, for their VAT entries.
    let mut fee_at: HashMap<String, usize> = HashMap::new();
    let mut later: Vec<(Class, &Value)> = Vec::new();
    for entry in &disbursement.entries {
        let entry_id = id(entry, "entry_id").unwrap_or_default();
        let document = format!("ledger entry {entry_id}");
        let entry_currency = currency(entry, &document)?;
        if entry_currency != code {
            return Err(REFUSALS.inconsistent(
                &document,
                format!("it is in {entry_currency}, the deposit it is paid in in {code}"),
            ));
        }
        let amount = money(integer(entry, "amount", &document)?);
        let kind = entry["ledger_type"]
            .as_str()
            .unwrap_or("unknown")
            .to_owned();
        let reference = id(entry, "reference_id");
        let order = reference.as_ref().and_then(|r| receipts.get(r)).cloned();
        let adjustment = |kind: AdjustmentKind| PayoutAdjustment {
            kind,
            amount,
            source_id: reference.clone().or_else(|| Some(entry_id.clone())),
            order_id: order.clone().or_else(|| receipt_reference(entry)),
        };
        match classify(entry) {
            Class::Charge => normalised.charges.push(PayoutCharge {
                order_id: order,
                reference,
                gross: amount,
                fee: Decimal::ZERO,
            }),
            Class::Refund | Class::RefundReversal => normalised.refunds.push(PayoutRefund {
                order_id: order,
                reference,
                amount: -amount,
                fee: Decimal::ZERO,
            }),
            class @ (Class::BuyerTax | Class::FeeTax) => later.push((class, entry)),
            Class::Fee => {
                fee_at.insert(entry_id.clone(), normalised.fees.len());
                normalised.fees.push(PayoutFee {
                    kind,
                    amount: -amount,
                    tax: None,
                    reference: reference.or(Some(entry_id)),
                });
            }
            Class::Reserve => normalised
                .adjustments
                .push(adjustment(AdjustmentKind::Reserve)),
            Class::Chargeback => normalised
                .adjustments
                .push(adjustment(AdjustmentKind::Chargeback)),
            Class::Conversion => normalised
                .adjustments
                .push(adjustment(AdjustmentKind::CurrencyConversion)),
            Class::Disbursement | Class::Other => normalised
                .adjustments
                .push(adjustment(AdjustmentKind::Other(kind))),
        }
    }
    for (class, entry) in later {
        let amount = money(integer(entry, "amount", "a tax ledger entry")?);
        let kind = entry["ledger_type"].as_str().unwrap_or("tax").to_owned();
        let entry_id = id(entry, "entry_id").unwrap_or_default();
        if class == Class::FeeTax {
            let parent = id(entry, "parent_entry_id").and_then(|p| fee_at.get(&p).copied());
            match parent {
                Some(at) => {
                    let fee = &mut normalised.fees[at];
                    fee.amount -= amount;
                    fee.tax = Some(fee.tax.unwrap_or_default() - amount);
                }
                None => normalised.fees.push(PayoutFee {
                    kind,
                    amount: -amount,
                    tax: Some(-amount),
                    reference: id(entry, "reference_id").or(Some(entry_id)),
                }),
            }
            continue;
        }
        let receipt = receipt_reference(entry);
        let charge = normalised
            .charges
            .iter_mut()
            .find(|c| c.order_id.is_some() && c.order_id == receipt);
        if let Some(charge) = charge {
            charge.gross += amount;
            continue;
        }
        let refund = normalised
            .refunds
            .iter_mut()
            .find(|r| r.order_id.is_some() && r.order_id == receipt);
        if let Some(refund) = refund {
            refund.amount -= amount;
            continue;
        }
        normalised.adjustments.push(PayoutAdjustment {
            kind: AdjustmentKind::Other(kind),
            amount,
            source_id: Some(entry_id),
            order_id: receipt,
        });
    }
    let carried = integer(deposit, "balance", &document)?;
    for (kind, minor) in [
        (BROUGHT_FORWARD, disbursement.brought_forward),
        (CARRIED_FORWARD, -carried),
    ] {
        if minor != 0 {
            normalised.adjustments.push(PayoutAdjustment {
                kind: AdjustmentKind::Other(kind.to_owned()),
                amount: money(minor),
                source_id: None,
                order_id: None,
            });
        }
    }
    Ok(normalised)
}

/// The receipt an entry refers to directly (`reference_type` `receipt`).
fn receipt_reference(entry: &Value) -> Option<String> {
    (entry["reference_type"] == "receipt")
        .then(|| id(entry, "reference_id"))
        .flatten()
}

/// The decimal places of a currency's minor unit (ISO 4217's exponent), which a ledger
/// amount counts in. UNSURE: Etsy does not say so for its ledger; its Money objects carry a
/// `divisor` of 100 in the examples it gives.
pub fn minor_units(currency: &Currency) -> u32 {
    const NONE: &[&str] = &[
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "VND", "VUV",
        "XAF", "XOF", "XPF",
    ];
    const THREE: &[&str] = &["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"];
    let code = currency.as_str();
    if NONE.contains(&code) {
        0
    } else if THREE.contains(&code) {
        3
    } else {
        2
    }
}

/// An id Etsy writes as a number or a string; `None` when absent, null or empty.
fn id(value: &Value, field: &str) -> Option<String> {
    match &value[field] {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        _ => None,
    }
}

fn integer(value: &Value, field: &str, document: &str) -> Result<i64, NormaliseError> {
    match &value[field] {
        Value::Null => Err(REFUSALS.missing(document, field)),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| REFUSALS.invalid(document, field, &n.to_string(), "an integer")),
        other => Err(REFUSALS.invalid(document, field, &other.to_string(), "an integer")),
    }
}

fn currency(value: &Value, document: &str) -> Result<Currency, NormaliseError> {
    let code = value["currency"]
        .as_str()
        .ok_or_else(|| REFUSALS.missing(document, "currency"))?;
    let upper = code.trim().to_ascii_uppercase();
    if !is_iso_4217(&upper) {
        return Err(REFUSALS.currency(document, code));
    }
    Currency::try_from(upper).map_err(|_| REFUSALS.currency(document, code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalise::test_support::d;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        crate::normalise::test_support::api_fixture_json(&format!("etsy/{name}"))
    }

    fn entries() -> Vec<Value> {
        fixture("ledger_entries_31415926_gbp.json")["results"]
            .as_array()
            .unwrap()
            .clone()
    }

    fn receipts() -> HashMap<String, String> {
        let payments = fixture("ledger_payments_31415926_gbp.json");
        receipts_of(payments["results"].as_array().unwrap())
    }

    fn documented() -> Disbursement {
        let ledger = split(entries());
        assert_eq!(ledger.paid.len(), 1);
        ledger.paid[0].clone()
    }

    fn fee(kind: &str, amount: &str, tax: Option<&str>, reference: &str) -> PayoutFee {
        PayoutFee {
            kind: kind.into(),
            amount: d(amount),
            tax: tax.map(d),
            reference: Some(reference.into()),
        }
    }

    #[test]
    fn the_window_splits_at_its_disbursements() {
        let ledger = split(entries());
        assert_eq!(ledger.anchor.as_ref().unwrap()["entry_id"], 900100);
        assert!(ledger.before_anchor.is_empty());
        let paid = &ledger.paid[0];
        assert_eq!(paid.entry["entry_id"], 900122);
        assert_eq!(paid.entries.len(), 21);
        assert_eq!(paid.brought_forward, 0);
        let unpaid: Vec<&Value> = ledger.unpaid.iter().map(|e| &e["entry_id"]).collect();
        assert_eq!(unpaid, [&json!(900123), &json!(900124)]);

        // Without the opening disbursement, what came before the first one read is its own.
        let mut late = entries();
        late.remove(0);
        let ledger = split(late);
        assert_eq!(ledger.anchor.as_ref().unwrap()["entry_id"], 900122);
        assert_eq!(ledger.before_anchor.len(), 21);
        assert!(ledger.paid.is_empty());
    }

    #[test]
    fn a_disbursement_normalises_into_sales_refunds_fees_and_a_reserve_that_make_the_deposit() {
        let payout = payout(&documented(), &receipts()).unwrap();
        assert_eq!(payout.payout_id, "77002");
        assert_eq!(payout.status, PayoutStatus::Paid);
        assert_eq!(payout.currency.as_str(), "GBP");
        assert_eq!(payout.amount, d("66.42"));
        let charges: Vec<(Option<&str>, Option<&str>, Decimal)> = payout
            .charges
            .iter()
            .map(|c| (c.order_id.as_deref(), c.reference.as_deref(), c.gross))
            .collect();
        assert_eq!(
            charges,
            [
                (Some("3100000001"), Some("5410001"), d("45.00")),
                (Some("3100000002"), Some("5410002"), d("26.00")),
                // 33.00 paid less the 3.00 of sales tax Etsy collected and remits itself.
                (Some("3100000003"), Some("5410003"), d("30.00")),
            ]
        );
        assert_eq!(
            payout.refunds,
            [PayoutRefund {
                order_id: Some("3100000001".into()),
                reference: Some("6610001".into()),
                amount: d("10.00"),
                fee: Decimal::ZERO,
            }]
        );
        assert_eq!(
            payout.adjustments,
            [PayoutAdjustment {
                kind: AdjustmentKind::Reserve,
                amount: d("-5.00"),
                source_id: Some("8801".into()),
                order_id: None,
            }]
        );
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn etsys_vat_entries_are_the_tax_of_the_fees_they_belong_to() {
        let payout = payout(&documented(), &receipts()).unwrap();
        assert_eq!(
            payout.fees,
            [
                fee("PAYMENT_PROCESSING_FEE", "2.40", Some("0.40"), "5410001"),
                fee("transaction", "3.52", Some("0.59"), "4281000001"),
                fee("PAYMENT_PROCESSING_FEE", "1.49", Some("0.25"), "5410002"),
                fee("transaction", "2.03", Some("0.34"), "4281000002"),
                fee("listing", "0.19", Some("0.03"), "1588001"),
                fee("offsite_ads_fee", "4.68", Some("0.78"), "3100000002"),
                fee("PAYMENT_PROCESSING_FEE", "1.82", Some("0.30"), "5410003"),
                fee("shipping_labels", "3.45", None, "2290001"),
            ]
        );
        // VAT whose fee was paid by an earlier deposit is a fee of its own, all tax.
        let mut disbursement = documented();
        let at = disbursement
            .entries
            .iter()
            .position(|e| e["entry_id"] == 900104)
            .unwrap();
        disbursement.entries.remove(at);
        disbursement.brought_forward = -293;
        let alone = super::payout(&disbursement, &receipts()).unwrap();
        assert!(alone.fees.contains(&fee(
            "vat_seller_services",
            "0.59",
            Some("0.59"),
            "4281000001"
        )));
        assert_eq!(alone.difference(), Decimal::ZERO);
    }

    #[test]
    fn a_disbursement_missing_an_entry_shows_the_difference() {
        let mut disbursement = documented();
        // The first sale (45.00) is not in the read.
        disbursement.entries.retain(|e| e["entry_id"] != 900101);
        let payout = payout(&disbursement, &receipts()).unwrap();
        assert_eq!(payout.difference(), d("45.00"));
    }

    #[test]
    fn a_deposit_that_leaves_money_in_the_balance_carries_it_forward() {
        let mut all = entries();
        let deposit = all.iter_mut().find(|e| e["entry_id"] == 900122).unwrap();
        deposit["amount"] = json!(-6000);
        deposit["balance"] = json!(642);
        // The next deposit pays what was left, and the two entries after this one.
        let next = json!({
            "entry_id": 900125, "ledger_id": 61100, "sequence_number": 3025,
            "amount": -2350, "currency": "GBP", "balance": 0, "created_timestamp": 1_795_000_000,
            "ledger_type": "DISBURSE2", "reference_type": "disbursement", "reference_id": "77003",
        });
        all.push(next);
        let ledger = split(all);
        let first = payout(&ledger.paid[0], &receipts()).unwrap();
        assert_eq!(first.amount, d("60.00"));
        assert!(first.adjustments.contains(&PayoutAdjustment {
            kind: AdjustmentKind::Other(CARRIED_FORWARD.into()),
            amount: d("-6.42"),
            source_id: None,
            order_id: None,
        }));
        assert_eq!(first.difference(), Decimal::ZERO);
        let second = payout(&ledger.paid[1], &receipts()).unwrap();
        assert_eq!(second.amount, d("23.50"));
        assert_eq!(ledger.paid[1].brought_forward, 642);
        // 6.42 brought forward + 18.00 sale - 0.92 processing fee.
        assert_eq!(second.difference(), Decimal::ZERO);
        assert_eq!(second.charges[0].order_id.as_deref(), Some("3100000004"));
    }

    #[test]
    fn chargebacks_conversions_returned_deposits_and_unknown_entries_keep_the_arithmetic() {
        let mut disbursement = documented();
        let extra = |id: u64, kind: &str, reference_type: &str, amount: i64| {
            json!({
                "entry_id": id, "ledger_id": 61100, "sequence_number": 4000 + id,
                "amount": amount, "currency": "GBP", "balance": 0,
                "created_timestamp": 1_794_800_000, "ledger_type": kind,
                "reference_type": reference_type, "reference_id": format!("r{id}"),
            })
        };
        disbursement.entries.extend([
            extra(1, "case_refund", "payment_adjustment_case", -1200),
            extra(2, "currency_conversion", "receipt", 7),
            extra(3, "DISBURSE2", "disbursement", 3000),
            extra(4, "seller_credit", "etsy", 250),
            extra(5, "transaction_refund", "transaction", 293),
        ]);
        disbursement.entry["amount"] = json!(-(6642 - 1200 + 7 + 3000 + 250 + 293));
        let payout = payout(&disbursement, &receipts()).unwrap();
        let kinds: Vec<&AdjustmentKind> = payout.adjustments.iter().map(|a| &a.kind).collect();
        assert!(kinds.contains(&&AdjustmentKind::Chargeback));
        assert!(kinds.contains(&&AdjustmentKind::CurrencyConversion));
        assert!(kinds.contains(&&AdjustmentKind::Other("DISBURSE2".into())));
        assert!(kinds.contains(&&AdjustmentKind::Other("seller_credit".into())));
        assert!(
            payout
                .fees
                .contains(&fee("transaction_refund", "-2.93", None, "r5"))
        );
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn an_entry_in_another_currency_or_without_an_amount_is_refused() {
        let mut disbursement = documented();
        disbursement.entries[3]["currency"] = json!("EUR");
        let err = payout(&disbursement, &receipts()).unwrap_err().to_string();
        assert!(err.contains("EUR") && err.contains("GBP"), "{err}");
        let mut disbursement = documented();
        disbursement.entry["amount"] = Value::Null;
        let err = payout(&disbursement, &receipts()).unwrap_err().to_string();
        assert!(err.contains("`amount` is missing"), "{err}");
    }

    #[test]
    fn amounts_count_in_the_currencys_minor_unit() {
        let mut disbursement = documented();
        for entry in std::iter::once(&mut disbursement.entry).chain(&mut disbursement.entries) {
            entry["currency"] = json!("JPY");
        }
        let payout = payout(&disbursement, &receipts()).unwrap();
        assert_eq!(payout.amount, d("6642"));
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn the_window_is_asked_for_in_unix_seconds_a_full_page_at_a_time() {
        use time::macros::datetime;
        assert_eq!(
            ledger_path(
                "31415926",
                datetime!(2026-11-01 0:00 UTC),
                datetime!(2026-12-01 0:00 UTC),
                200
            ),
            "/v3/application/shops/31415926/payment-account/ledger-entries\
             ?min_created=1793491200&max_created=1796083200&limit=100&offset=200"
        );
        assert!(
            ledger_path(
                "1",
                datetime!(1990-01-01 0:00 UTC),
                datetime!(2000-06-01 0:00 UTC),
                0
            )
            .contains("min_created=946684800&")
        );
    }
}
