//! Summary mode (`mode = "summary"` on a shop): instead of a document per order, one invoice
//! per shop, currency and period, as the leading e-commerce connectors post (A2X, Synder's
//! daily summary, Amaka); see README "Summary mode".
//!
//! - Recording ([`summarise`], called from `consumer::prepare`): each order or refund is mapped
//!   exactly as in real-time mode (accounts, tax types, rounding line, totals to the cent), and
//!   its lines, summed per account and tax type, and its payments, summed per account, are
//!   stored in `xcs_summary_entries` under the order's (or refund's) platform id: another event
//!   for the same order (`orders/create`, then `orders/paid`) updates it while its period is
//!   open, and a redelivered event is counted once. The event is recorded as `summarised` and
//!   acknowledged; Xero is not called.
//! - Periods (hourly, daily or ISO-weekly in the shop's time zone, 23 or 25 hours long when its
//!   clocks change) are rows of
//!   `xcs_summary_periods`. An entry goes into the period of the moment the ingress received
//!   its first event; if that period is already closed (a late event), into the period open
//!   now, with the lateness in the event's detail.
//! - Closing ([`Closer::close_due`], every `summary_close_every_ms` in each processor, and on
//!   demand): a period that ended more than `summary_grace_secs` ago is locked (`FOR UPDATE
//!   SKIP LOCKED`, held until it is closed, so one processor posts it and the others skip it;
//!   a processor that dies releases it with its connection), then posted: the invoice
//!   (`{prefix}S-{period}`, one line per account and tax type, tax given explicitly), one
//!   payment per clearing account, the credit note of the period's refunds (`…-CR`) allocated
//!   to the invoice while anything is due on it, one refund payment per account; each step is
//!   recorded in the ledger first-come and adopted on "must be unique" or by payment reference,
//!   so a closer that died half-way is finished by the next one without duplicates. Recording
//!   into a period waits (`FOR SHARE`) while it is being closed, and then sees it closed.
//! - After a period is posted: money received later for one of its orders is recorded (with
//!   the entry's new running total, in one transaction) as a `late_payment` entry of the
//!   period open now, and paid on the old period's invoice when that period is posted, keyed
//!   and referenced with its label. A cancelled order with no invoice of its own
//!   (`cancel_order`) is emptied from its open period when unpaid; see README "Summary mode".

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::watch;
use xcs_shared::Envelope;
use xcs_shared::domain::{Order, Refund, TaxMode};

use crate::booking::{Allocation, Booker, Work};
use crate::config::{Config, ShopConfig, SummaryPeriod, SyncMode};
use crate::error::ProcessError;
use crate::ledger::{
    DocumentRow, EntryKey, EntryValues, EventOutcome, PeriodEntry, PeriodKey, RecordedPayment,
    SummaryTx,
};
use crate::mapping::{self, TaxOverrides, XeroLines, XeroTaxRates, round2};
use crate::timezone::ShopZone;
use crate::xero::documents::{DocumentKind, Draft, decimal, text};
use crate::xero::types::{self, ContactRef, LineAmountTypes, LineItem, LineTax, PaymentTarget};

/// One period of a shop, `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

/// The period `at` falls in, in the shop's time zone: its local hour, day or ISO week, however
/// long daylight saving makes it (see [`crate::timezone`]).
pub fn period_of(at: OffsetDateTime, length: SummaryPeriod, zone: &ShopZone) -> Period {
    let (start, end) = zone.period(at, length);
    Period { start, end }
}

/// The period's part of a document number, in local time: `20261120`, `20261120-14`,
/// `2026W47`. A period whose local start the clock showed once before (clocks going back
/// across a period boundary, which no zone with one-hour daylight saving does) gets a `b`, so
/// that each period's documents have numbers of their own.
pub fn period_label(start: OffsetDateTime, length: SummaryPeriod, zone: &ShopZone) -> String {
    let (date, hour, repeated) = zone.period_start(start);
    let day = format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let label = match length {
        SummaryPeriod::Daily => day,
        SummaryPeriod::Hourly => format!("{day}-{hour:02}"),
        SummaryPeriod::Weekly => {
            let (year, week, _) = date.to_iso_week_date();
            format!("{year:04}W{week:02}")
        }
    };
    if repeated { format!("{label}b") } else { label }
}

/// The summary invoice's number; the credit note's is this with `-CR`. The currency is added
/// when it is not the organisation's base currency, so each currency has its own invoice.
pub fn summary_number(prefix: &str, label: &str, currency: &str, base_currency: &str) -> String {
    if currency.eq_ignore_ascii_case(base_currency) {
        format!("{prefix}S-{label}")
    } else {
        format!("{prefix}S-{label}-{currency}")
    }
}

/// The net amount and tax of one account and tax type, on the exclusive basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryLine {
    pub account: String,
    pub tax_type: String,
    pub net: Decimal,
    pub tax: Decimal,
}

/// Money paid into (or, for refunds, out of) an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryPayment {
    pub account: String,
    pub amount: Decimal,
}

/// Xero lines as summary lines, summed per account and tax type: each line's amount as Xero
/// will round it, less its tax when prices include tax, so that net + tax of every line adds
/// up to the document's total exactly, whichever basis the document had.
pub fn summary_lines(items: &[LineItem], mode: TaxMode) -> Vec<SummaryLine> {
    let mut sums: BTreeMap<(String, String), (Decimal, Decimal)> = BTreeMap::new();
    for item in items {
        let amount =
            round2(item.quantity * item.unit_amount - item.discount_amount.unwrap_or_default());
        let net = match mode {
            TaxMode::Exclusive => amount,
            TaxMode::Inclusive => amount - item.tax_amount.amount(),
        };
        let sum = sums
            .entry((item.account_code.clone(), item.tax_type.clone()))
            .or_default();
        sum.0 += net;
        sum.1 += item.tax_amount.amount();
    }
    sums.into_iter()
        .map(|((account, tax_type), (net, tax))| SummaryLine {
            account,
            tax_type,
            net,
            tax,
        })
        .collect()
}

fn sum_payments(payments: impl IntoIterator<Item = (String, Decimal)>) -> Vec<SummaryPayment> {
    let mut sums: BTreeMap<String, Decimal> = BTreeMap::new();
    for (account, amount) in payments {
        *sums.entry(account).or_default() += amount;
    }
    sums.into_iter()
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(account, amount)| SummaryPayment { account, amount })
        .collect()
}

/// What one order or refund adds to its period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `order` or `refund`.
    pub kind: &'static str,
    /// The platform's order or refund id.
    pub business_key: String,
    pub currency: String,
    /// The order's number, as people see it.
    pub number: String,
    pub tax_mode: TaxMode,
    pub total: Decimal,
    pub lines: Vec<SummaryLine>,
    pub payments: Vec<SummaryPayment>,
}

fn no_contact() -> ContactRef {
    ContactRef {
        contact_id: String::new(),
    }
}

/// An order's entry, mapped as its own invoice would be.
///
/// # Errors
/// [`ProcessError::Mapping`] as in real-time mode.
pub fn order_entry(shop: &ShopConfig, order: &Order) -> Result<Entry, ProcessError> {
    let mapped = shop.mapping.invoice(order, no_contact())?;
    Ok(Entry {
        kind: "order",
        business_key: order.order_id.clone(),
        currency: order.currency.to_string(),
        number: order.number.trim().to_owned(),
        tax_mode: order.tax_mode,
        total: mapped.total,
        lines: summary_lines(&mapped.invoice.line_items, order.tax_mode),
        payments: sum_payments(
            shop.mapping
                .order_payments(order, mapped.total)
                .into_iter()
                .map(|p| (p.account, p.amount)),
        ),
    })
}

/// A refund's entry, mapped as its own credit note would be.
///
/// # Errors
/// [`ProcessError::Mapping`] as in real-time mode.
pub fn refund_entry(shop: &ShopConfig, refund: &Refund) -> Result<Entry, ProcessError> {
    let mapped = shop.mapping.credit_note(refund, no_contact())?;
    Ok(Entry {
        kind: "refund",
        business_key: refund.refund_id.clone(),
        currency: refund.currency.to_string(),
        number: refund.order_number.trim().to_owned(),
        tax_mode: refund.tax_mode,
        total: mapped.total,
        lines: summary_lines(&mapped.credit_note.line_items, refund.tax_mode),
        payments: sum_payments(
            shop.mapping
                .refund_payments(refund, mapped.total)
                .into_iter()
                .map(|p| (p.account, p.amount)),
        ),
    })
}

/// The hook in `consumer::prepare`: for a shop in summary mode, records an order's or
/// refund's entry in its period and the event as `summarised`, and returns `true` (the
/// delivery needs only its ack). `false` for everything else, which is booked as usual
/// (stock changes, nothing-to-book, the cancellation of an invoice booked before the shop
/// switched to summary mode).
///
/// # Errors
/// [`ProcessError`]: a mapping error (permanent), or the ledger (retryable).
pub async fn summarise(
    shop: &ShopConfig,
    envelope: &Envelope,
    work: &Work,
    booker: &Booker,
) -> Result<bool, ProcessError> {
    if shop.mode != SyncMode::Summary {
        return Ok(false);
    }
    let mut entries = Vec::new();
    match work {
        // Summary mode's dispatcher passes a cancelled order on when it has no invoice of its
        // own (see `Dispatcher::work_for`).
        Work::Order(order) if order.cancelled => {
            let detail = cancel_order(booker, shop, envelope, order).await?;
            booker
                .ledger
                .record_event(envelope, EventOutcome::Summarised, &detail)
                .await?;
            return Ok(true);
        }
        Work::Order(order) => entries.push(order_entry(shop, order)?),
        Work::Refunds { order, refunds } => {
            if let Some(order) = order.as_ref().filter(|o| !o.cancelled) {
                entries.push(order_entry(shop, order)?);
            }
            for refund in refunds {
                check_refund_limit(booker, envelope, refund).await?;
                entries.push(refund_entry(shop, refund)?);
            }
        }
        Work::Stock(_) | Work::Payouts(_) | Work::Cancel { .. } | Work::Nothing(_) => {
            return Ok(false);
        }
    }
    let received = match (envelope.source, work) {
        // History goes into the period it happened in: the order's (or the refunds') date, at
        // noon in the shop's zone (the platforms' dates are days, so an hourly period gets the
        // day's history at noon).
        (xcs_shared::Source::Backfill, Work::Order(order)) => noon(shop, order.date),
        (xcs_shared::Source::Backfill, Work::Refunds { refunds, .. }) if !refunds.is_empty() => {
            noon(shop, refunds[0].date)
        }
        _ => OffsetDateTime::parse(&envelope.received_at, &Rfc3339)
            .unwrap_or_else(|_| OffsetDateTime::now_utc()),
    };
    let detail = record_entries(
        booker,
        shop,
        envelope,
        received,
        OffsetDateTime::now_utc(),
        &entries,
    )
    .await?;
    booker
        .ledger
        .record_event(envelope, EventOutcome::Summarised, &detail)
        .await?;
    Ok(true)
}

fn noon(shop: &ShopConfig, date: time::Date) -> OffsetDateTime {
    shop.timezone.at_local(
        date,
        time::Time::from_hms(12, 0, 0).expect("noon is a time"),
    )
}

/// Holds a refund to what its summarised order has left to refund (by amount: summary entries
/// keep lines per account, not per item), as real-time mode does (`crate::refund_limit`).
async fn check_refund_limit(
    booker: &Booker,
    envelope: &Envelope,
    refund: &Refund,
) -> Result<(), ProcessError> {
    let (order, seen) = booker
        .ledger
        .summarised_for_refund(&envelope.shop, &refund.order_id, &refund.refund_id)
        .await?;
    let Some((total, credited)) = order.filter(|_| !seen) else {
        return Ok(());
    };
    crate::refund_limit::check(
        refund,
        &crate::refund_limit::OrderSoFar {
            document: &format!("order {} in the summary", refund.order_number.trim()),
            total,
            sold: None,
            credited,
            credited_quantities: &crate::ledger::Quantities::new(),
        },
    )
}

/// Stores `entries` in their periods, in one transaction; returns what was done, for the
/// event's detail.
async fn record_entries(
    booker: &Booker,
    shop: &ShopConfig,
    envelope: &Envelope,
    received: OffsetDateTime,
    now: OffsetDateTime,
    entries: &[Entry],
) -> Result<String, ProcessError> {
    let offset = &shop.timezone;
    let name = envelope.shop.as_str();
    let mut client = booker.ledger.summary_client().await?;
    let tx = client.transaction().await?;
    let mut details = Vec::new();
    for entry in entries {
        let lines = serde_json::to_value(&entry.lines).expect("lines serialise");
        let key = EntryKey {
            shop: name,
            kind: entry.kind,
            business_key: &entry.business_key,
        };
        let existing = tx.entry_for_update(key).await?;
        if let Some(row) = existing {
            let currency = row.currency;
            if currency != entry.currency {
                return Err(ProcessError::CurrencyChanged {
                    document: format!("{} {} in the summary", entry.kind, entry.number),
                    booked: currency,
                    event: entry.currency.clone(),
                });
            }
            let start = row.period_start;
            let label = period_label(start, shop.summary_period, offset);
            let stored_total = row.total;
            let cancelled = row.detail.starts_with(CANCELLED);
            let period_row = tx
                .period_for_share(PeriodKey {
                    shop: name,
                    currency: &currency,
                    start,
                })
                .await?;
            let status: Option<String> = period_row.as_ref().map(|r| r.status.clone());
            let invoice_number: String = period_row.map(|r| r.invoice_number).unwrap_or_default();
            if cancelled {
                details.push(format!(
                    "{} {} was cancelled; later events for it are not summarised",
                    entry.kind, entry.number
                ));
                continue;
            }
            // Money received only grows: a stale event cannot take a payment back.
            let before: Vec<SummaryPayment> =
                serde_json::from_value(row.payments).unwrap_or_default();
            let before: BTreeMap<String, Decimal> =
                before.into_iter().map(|p| (p.account, p.amount)).collect();
            let mut payments = before.clone();
            for payment in &entry.payments {
                let amount = payments.entry(payment.account.clone()).or_default();
                *amount = (*amount).max(payment.amount);
            }
            if status.as_deref() != Some("open") {
                // A closed period: its lines are posted and stay; money received since is
                // paid against its invoice when the period open now is posted (a
                // `late_payment` entry there, keyed by the new running total so that it is
                // recorded once, in the same transaction as that total).
                let differences: Vec<SummaryPayment> = sum_payments(
                    payments
                        .iter()
                        .map(|(account, amount)| {
                            let already = before.get(account).copied().unwrap_or_default();
                            (account.clone(), *amount - already)
                        })
                        .filter(|(_, difference)| *difference > Decimal::ZERO),
                );
                let mut parts = Vec::new();
                if entry.kind == "order" && !differences.is_empty() && !invoice_number.is_empty() {
                    let (period, _) =
                        open_period(&tx, shop, envelope, &currency, received, now).await?;
                    let now_label = period_label(period.start, shop.summary_period, offset);
                    let running = payments
                        .iter()
                        .map(|(account, amount)| format!("{account}={amount}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    let paid: Decimal = differences.iter().map(|p| p.amount).sum();
                    let detail = format!(
                        "{paid} received for {} {} after the summary of {label} closed; paid on \
                         invoice {invoice_number} with the summary of {now_label}",
                        entry.kind, entry.number
                    );
                    tx.insert_late_payment(
                        PeriodKey {
                            shop: name,
                            currency: &currency,
                            start: period.start,
                        },
                        &format!("{}@{running}", entry.business_key),
                        &EntryValues {
                            number: &entry.number,
                            tax_mode: entry.tax_mode,
                            total: paid,
                            lines: &json!({ "invoice": invoice_number, "period": label }),
                            payments: &serde_json::to_value(&differences).expect("serialise"),
                            event_id: &envelope.event_id,
                        },
                        &detail,
                    )
                    .await?;
                    tx.update_entry_payments(
                        key,
                        &serde_json::to_value(sum_payments(payments)).expect("serialise"),
                    )
                    .await?;
                    parts.push(detail);
                }
                if entry.total != stored_total {
                    parts.push(format!(
                        "{} {} is already in the closed summary of {label}; changes to its \
                         lines after a period closes are not booked (correct the summary in Xero)",
                        entry.kind, entry.number
                    ));
                }
                if parts.is_empty() {
                    parts.push(format!(
                        "{} {} is already in the closed summary of {label}; nothing new to book",
                        entry.kind, entry.number
                    ));
                }
                details.extend(parts);
                continue;
            }
            let payments = serde_json::to_value(sum_payments(payments)).expect("serialise");
            tx.update_entry(
                key,
                &EntryValues {
                    number: &entry.number,
                    tax_mode: entry.tax_mode,
                    total: entry.total,
                    lines: &lines,
                    payments: &payments,
                    event_id: &envelope.event_id,
                },
            )
            .await?;
            details.push(format!(
                "{} {} updated in the open summary of {label}",
                entry.kind, entry.number
            ));
            continue;
        }

        let (period, first) =
            open_period(&tx, shop, envelope, &entry.currency, received, now).await?;
        let payments = serde_json::to_value(&entry.payments).expect("payments serialise");
        let label = period_label(period.start, shop.summary_period, offset);
        let detail = if period == first {
            format!("{} {} summarised in {label}", entry.kind, entry.number)
        } else {
            format!(
                "{} {} arrived after the summary of {} closed; summarised in {label}",
                entry.kind,
                entry.number,
                period_label(first.start, shop.summary_period, offset)
            )
        };
        tx.insert_entry(
            key,
            &entry.currency,
            period.start,
            &EntryValues {
                number: &entry.number,
                tax_mode: entry.tax_mode,
                total: entry.total,
                lines: &lines,
                payments: &payments,
                event_id: &envelope.event_id,
            },
            &detail,
        )
        .await?;
        details.push(detail);
    }
    tx.commit().await?;
    Ok(details.join("; "))
}

/// How the detail of an order's entry starts once the order is cancelled and out of the
/// summary: later events for it are not summarised.
const CANCELLED: &str = "cancelled";

/// The period an entry recorded now goes into, created if need be, and locked `FOR SHARE`:
/// the one `received` falls in, or, when that is closed (a late event), the one open `now`;
/// with the period `received` falls in, to tell which.
async fn open_period(
    tx: &SummaryTx<'_>,
    shop: &ShopConfig,
    envelope: &Envelope,
    currency: &str,
    received: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(Period, Period), ProcessError> {
    let offset = &shop.timezone;
    let name = envelope.shop.as_str();
    let mut period = period_of(received, shop.summary_period, offset);
    let first = period;
    loop {
        let key = PeriodKey {
            shop: name,
            currency,
            start: period.start,
        };
        tx.create_period(key, period.end, &envelope.tenant).await?;
        let status = tx.period_status(key).await?;
        if status == "open" {
            return Ok((period, first));
        }
        // Late: the period is closed; the one open now takes it.
        period = period_of(now.max(period.end), shop.summary_period, offset);
    }
}

/// An order cancelled on the platform, in summary mode (see README "Summary mode"):
/// unpaid and in an open period, its entry is emptied (no lines, no payments), so the
/// period's invoice leaves it out; paid, it stays, as in real-time mode, and the order's
/// refunds book the money back; unpaid in a period already posted, its amount stays due on
/// that period's invoice and the detail tells the operator to credit it in Xero. Returns the
/// event's detail.
async fn cancel_order(
    booker: &Booker,
    shop: &ShopConfig,
    envelope: &Envelope,
    order: &Order,
) -> Result<String, ProcessError> {
    let name = envelope.shop.as_str();
    let number = order.number.trim();
    let mut client = booker.ledger.summary_client().await?;
    let tx = client.transaction().await?;
    let key = EntryKey {
        shop: name,
        kind: "order",
        business_key: &order.order_id,
    };
    let Some(row) = tx.entry_for_update(key).await? else {
        return Ok(format!(
            "order {number} was cancelled before it was summarised; nothing to book"
        ));
    };
    let currency = row.currency;
    let start = row.period_start;
    let total = row.total;
    if row.detail.starts_with(CANCELLED) {
        return Ok(format!("order {number} was already cancelled"));
    }
    let label = period_label(start, shop.summary_period, &shop.timezone);
    let paid: Decimal = serde_json::from_value::<Vec<SummaryPayment>>(row.payments)
        .unwrap_or_default()
        .iter()
        .map(|p| p.amount)
        .sum();
    let period = tx
        .period_for_share(PeriodKey {
            shop: name,
            currency: &currency,
            start,
        })
        .await?;
    let open = period.as_ref().is_some_and(|r| r.status == "open");
    let invoice: String = period.map(|r| r.invoice_number).unwrap_or_default();
    if paid > Decimal::ZERO {
        return Ok(format!(
            "order {number} was cancelled after {paid} was paid; it stays in the summary of \
             {label}, and the order's refunds book the money back"
        ));
    }
    let detail = if open {
        format!("{CANCELLED}: order {number} removed from the open summary of {label}")
    } else {
        format!(
            "{CANCELLED}: order {number} was cancelled, unpaid, after the summary of {label} \
             closed: its {total} stays due on invoice {invoice}; credit it in Xero (a credit \
             note for the order allocated to {invoice})"
        )
    };
    let (lines, total) = if open {
        (json!([]), Decimal::ZERO)
    } else {
        // What was posted stays as it is; the entry only records the cancellation.
        (tx.order_lines(name, &order.order_id).await?, total)
    };
    tx.cancel_order_entry(
        name,
        &order.order_id,
        &lines,
        total,
        &envelope.event_id,
        &detail,
    )
    .await?;
    tx.commit().await?;
    Ok(detail)
}

/// What closing one period did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeriodOutcome {
    /// Posted by this processor: the invoice and credit note numbers, if the period had them.
    Posted {
        invoice: Option<String>,
        credit_note: Option<String>,
    },
    /// Another processor is posting it.
    Busy,
    /// Closed already (by another processor since it was listed).
    AlreadyClosed,
}

/// One period a [`Closer::close_due`] pass looked at.
#[derive(Debug)]
pub struct ClosedPeriod {
    pub shop: String,
    pub currency: String,
    pub start: OffsetDateTime,
    pub outcome: Result<PeriodOutcome, ProcessError>,
}

/// Closes summary periods; cheap to clone. Each processor runs one (see [`run`]).
#[derive(Clone)]
pub struct Closer {
    config: Arc<Config>,
    booker: Booker,
    base_currencies: Arc<Mutex<HashMap<String, String>>>,
}

/// A period's sums, per account and tax type.
#[derive(Default)]
struct Sums {
    count: usize,
    /// The lines the documents had, summed into `lines`: each one's tax was rounded apart.
    summed_lines: usize,
    lines: BTreeMap<(String, String), (Decimal, Decimal)>,
    payments: BTreeMap<String, Decimal>,
}

impl Sums {
    fn add(&mut self, lines: Vec<SummaryLine>, payments: Vec<SummaryPayment>) {
        self.count += 1;
        self.summed_lines += lines.len();
        for line in lines {
            let sum = self.lines.entry((line.account, line.tax_type)).or_default();
            sum.0 += line.net;
            sum.1 += line.tax;
        }
        for payment in payments {
            *self.payments.entry(payment.account).or_default() += payment.amount;
        }
    }

    fn total(&self) -> Decimal {
        self.lines.values().map(|(net, tax)| net + tax).sum()
    }

    /// The document's lines: one per account and tax type, tax explicit, amounts exclusive.
    fn line_items(&self, what: &str, label: &str) -> Vec<LineItem> {
        self.lines
            .iter()
            .filter(|(_, (net, tax))| !net.is_zero() || !tax.is_zero())
            .map(|((account, tax_type), (net, tax))| LineItem {
                description: format!(
                    "{what} {label} ({} {}): account {account}, {tax_type}",
                    self.count,
                    if self.count == 1 {
                        "document"
                    } else {
                        "documents"
                    }
                ),
                quantity: Decimal::ONE,
                unit_amount: *net,
                item_code: None,
                account_code: account.clone(),
                tax_type: tax_type.clone(),
                tax_amount: LineTax::Given(*tax),
                discount_amount: None,
            })
            .collect()
    }

    /// The document's lines as Xero is to get them ([`mapping::ShopMapping::for_xero`]): a
    /// `TaxAmount` only where Xero's tax on the summed amount differs from the summed tax,
    /// and, where overrides are refused, the difference (the documents' own roundings, half a
    /// cent a line at most) on a rounding line.
    fn for_xero(
        &self,
        what: &str,
        label: &str,
        mapping: &mapping::ShopMapping,
        overrides: TaxOverrides,
        rates: &XeroTaxRates,
    ) -> Result<XeroLines, ProcessError> {
        Ok(mapping.for_xero(
            self.line_items(what, label),
            LineAmountTypes::Exclusive,
            overrides,
            rates,
            mapping::tax_rounding_explains(self.summed_lines),
        )?)
    }
}

fn rejected(document: String, messages: Vec<String>) -> ProcessError {
    ProcessError::Rejected { document, messages }
}

/// A period's `late_payment` entries: per earlier invoice, per account, the money received
/// for its orders after it was posted.
#[derive(Default)]
struct Late {
    count: usize,
    by_invoice: BTreeMap<String, BTreeMap<String, Decimal>>,
}

impl Late {
    fn add(&mut self, entry: PeriodEntry) -> Result<(), ProcessError> {
        let invoice = text(&entry.lines, "invoice");
        let payments: Vec<SummaryPayment> = serde_json::from_value(entry.payments)
            .map_err(|err| ProcessError::Ledger(format!("late payment entry: {err}")))?;
        if invoice.is_empty() {
            return Err(ProcessError::Ledger(
                "a late payment entry names no invoice".into(),
            ));
        }
        self.count += 1;
        let sums = self.by_invoice.entry(invoice).or_default();
        for payment in payments {
            *sums.entry(payment.account).or_default() += payment.amount;
        }
        Ok(())
    }
}

/// A summary document (invoice or credit note) in Xero.
struct Posted {
    row: DocumentRow,
    /// Created by this pass: it has no payments yet.
    fresh: bool,
}

impl Closer {
    pub fn new(config: Arc<Config>, booker: Booker) -> Self {
        Closer {
            config,
            booker,
            base_currencies: Arc::default(),
        }
    }

    /// Closes every period that ended before `now` less the grace, that no other processor is
    /// closing. Failures are per period (the period stays open and is tried again).
    ///
    /// # Errors
    /// [`ProcessError::Ledger`] when the periods cannot be listed.
    pub async fn close_due(&self, now: OffsetDateTime) -> Result<Vec<ClosedPeriod>, ProcessError> {
        let grace = time::Duration::try_from(self.config.processing.summary_grace())
            .unwrap_or(time::Duration::ZERO);
        let due = self.booker.ledger.due_summary_periods(now - grace).await?;
        let mut closed = Vec::new();
        for (shop, currency, start) in due {
            let Some(config) = self.config.shop(&shop) else {
                tracing::warn!(%shop, "a summary period of a shop not in the config stays open");
                continue;
            };
            let outcome = self.close_period(&shop, config, &currency, start).await;
            match &outcome {
                Ok(PeriodOutcome::Posted {
                    invoice,
                    credit_note,
                }) => {
                    tracing::info!(%shop, %currency, %start, ?invoice, ?credit_note, "summary period posted");
                }
                Ok(other) => tracing::debug!(%shop, %currency, %start, ?other, "summary period"),
                Err(err) => {
                    tracing::warn!(%shop, %currency, %start, error = %err, "summary period not posted; trying again later");
                }
            }
            closed.push(ClosedPeriod {
                shop,
                currency,
                start,
                outcome,
            });
        }
        Ok(closed)
    }

    async fn close_period(
        &self,
        name: &str,
        shop: &ShopConfig,
        currency: &str,
        start: OffsetDateTime,
    ) -> Result<PeriodOutcome, ProcessError> {
        let mut client = self.booker.ledger.summary_client().await?;
        let tx = client.transaction().await?;
        // Held until the period is closed: one processor posts it; recording into it waits.
        let key = PeriodKey {
            shop: name,
            currency,
            start,
        };
        let Some(row) = tx.lock_period(key).await? else {
            return Ok(PeriodOutcome::Busy);
        };
        if row.status != "open" {
            return Ok(PeriodOutcome::AlreadyClosed);
        }
        let period = Period {
            start,
            end: row.period_end,
        };
        let tenant = row.tenant;
        let attempt = u32::try_from(row.attempts).unwrap_or(0);
        let mut orders = Sums::default();
        let mut refunds = Sums::default();
        let mut late = Late::default();
        for entry in tx.period_entries(key).await? {
            if entry.kind == "late_payment" {
                late.add(entry)?;
                continue;
            }
            let lines: Vec<SummaryLine> = serde_json::from_value(entry.lines)
                .map_err(|err| ProcessError::Ledger(format!("summary entry lines: {err}")))?;
            let payments: Vec<SummaryPayment> = serde_json::from_value(entry.payments)
                .map_err(|err| ProcessError::Ledger(format!("summary entry payments: {err}")))?;
            match entry.kind.as_str() {
                // Cancelled while its period was open: not in the summary.
                "order" if lines.is_empty() && payments.is_empty() => {}
                "order" => orders.add(lines, payments),
                _ => refunds.add(lines, payments),
            }
        }
        let posted = self
            .post(
                &tenant, attempt, name, shop, currency, period, &orders, &refunds, &late,
            )
            .await;
        match posted {
            Ok((invoice, credit_note)) => {
                tx.mark_period_closed(
                    key,
                    invoice.as_deref().unwrap_or_default(),
                    &format!(
                        "{} orders, {} refunds, {} late payments; credit note {}",
                        orders.count,
                        refunds.count,
                        late.count,
                        credit_note.as_deref().unwrap_or("none")
                    ),
                )
                .await?;
                tx.commit().await?;
                Ok(PeriodOutcome::Posted {
                    invoice,
                    credit_note,
                })
            }
            Err(err) => {
                tx.mark_period_failed(key, &err.to_string()).await?;
                tx.commit().await?;
                Err(err)
            }
        }
    }

    /// The organisation's base currency, asked once per processor.
    async fn base_currency(&self, tenant: &str) -> Result<String, ProcessError> {
        if let Some(found) = self
            .base_currencies
            .lock()
            .expect("not poisoned")
            .get(tenant)
        {
            return Ok(found.clone());
        }
        let response = self
            .booker
            .xero
            .call(tenant, Method::GET, "/Organisation", &[], None, None)
            .await?;
        let base = text(&response["Organisations"][0], "BaseCurrency");
        if base.is_empty() {
            return Err(rejected(
                "the organisation".into(),
                vec!["Xero did not say the organisation's base currency".into()],
            ));
        }
        self.base_currencies
            .lock()
            .expect("not poisoned")
            .insert(tenant.to_owned(), base.clone());
        Ok(base)
    }

    /// Posts a period: invoice and its payments, credit note, allocation, refund payments.
    #[allow(clippy::too_many_arguments)]
    async fn post(
        &self,
        tenant: &str,
        attempt: u32,
        name: &str,
        shop: &ShopConfig,
        currency: &str,
        period: Period,
        orders: &Sums,
        refunds: &Sums,
        late: &Late,
    ) -> Result<(Option<String>, Option<String>), ProcessError> {
        if orders.count == 0 && refunds.count == 0 && late.count == 0 {
            return Ok((None, None));
        }
        let offset = &shop.timezone;
        let label = period_label(period.start, shop.summary_period, offset);
        let base = self.base_currency(tenant).await?;
        let number = summary_number(&shop.mapping.document_prefix, &label, currency, &base);
        let credit_number = format!("{number}-CR");
        // The last day the period covers.
        let date = offset
            .local(period.end - time::Duration::SECOND)
            .date()
            .to_string();
        let contact = self.booker.contact(tenant, attempt, shop, None).await?;
        let rates = self.booker.tax_rates(tenant).await?;
        let business_key = format!("summary:{currency}:{label}");
        let mut invoice = None;
        if orders.count > 0 {
            let total = orders.total();
            if total < Decimal::ZERO {
                return Err(rejected(
                    format!("summary invoice {number}"),
                    vec![format!(
                        "the period's orders total {total}; Xero accepts no negative invoice"
                    )],
                ));
            }
            let lines =
                orders.for_xero("Sales", &label, &shop.mapping, TaxOverrides::Taken, &rates)?;
            let body = json!(types::Invoice {
                kind: types::ACCREC.to_owned(),
                contact: contact.clone(),
                date: date.clone(),
                due_date: date.clone(),
                invoice_number: number.clone(),
                reference: format!("{name} sales {label}"),
                currency_code: currency.to_owned(),
                line_amount_types: lines.basis,
                status: types::AUTHORISED.to_owned(),
                line_items: lines.items,
            });
            let posted = self
                .document(
                    tenant,
                    attempt,
                    "invoice",
                    &number,
                    body,
                    total,
                    name,
                    &business_key,
                )
                .await?;
            self.pay(
                tenant,
                attempt,
                &posted,
                "Invoices",
                &orders.payments,
                "summary_payment",
                "",
                &date,
            )
            .await?;
            invoice = Some(posted);
        }
        let mut credit_note = None;
        if refunds.count > 0 {
            let total = refunds.total();
            let lines = refunds.for_xero(
                "Refunds",
                &label,
                &shop.mapping,
                TaxOverrides::Refused,
                &rates,
            )?;
            let body = json!(types::CreditNote {
                kind: types::ACCRECCREDIT.to_owned(),
                contact,
                date: date.clone(),
                credit_note_number: credit_number.clone(),
                reference: format!("{name} refunds {label}"),
                currency_code: currency.to_owned(),
                line_amount_types: lines.basis,
                status: types::AUTHORISED.to_owned(),
                line_items: lines.items,
            });
            let posted = self
                .document(
                    tenant,
                    attempt,
                    "credit_note",
                    &credit_number,
                    body,
                    total,
                    name,
                    &business_key,
                )
                .await?;
            if let Some(invoice) = &invoice {
                self.allocate(tenant, attempt, &posted, invoice, &date)
                    .await?;
            }
            self.pay(
                tenant,
                attempt,
                &Posted {
                    fresh: false,
                    ..posted
                },
                "CreditNotes",
                &refunds.payments,
                "summary_refund_payment",
                "",
                &date,
            )
            .await?;
            credit_note = Some(credit_number);
        }
        // Money received in this period for orders of periods posted before: paid on their
        // invoices, keyed and referenced with this period's label, so once each.
        for (old_number, sums) in &late.by_invoice {
            let row = self
                .booker
                .ledger
                .document(tenant, &format!("invoice:{old_number}"))
                .await?
                .ok_or_else(|| {
                    rejected(
                        format!("summary invoice {old_number}"),
                        vec![format!(
                            "payments received after it was posted are due on it, but the \
                             ledger does not have it"
                        )],
                    )
                })?;
            self.pay(
                tenant,
                attempt,
                &Posted { row, fresh: false },
                "Invoices",
                sums,
                &format!("summary_late_payment:{label}"),
                &format!("late {label}"),
                &date,
            )
            .await?;
        }
        Ok((invoice.map(|i| i.row.number), credit_note))
    }

    /// The summary document `number` (`kind` `invoice` or `credit_note`): from the ledger,
    /// or created, or adopted when Xero says the number is taken.
    #[allow(clippy::too_many_arguments)]
    async fn document(
        &self,
        tenant: &str,
        attempt: u32,
        kind: &str,
        number: &str,
        document: Value,
        total: Decimal,
        shop: &str,
        business_key: &str,
    ) -> Result<Posted, ProcessError> {
        let doc_key = format!("{kind}:{number}");
        if let Some(row) = self.booker.ledger.document(tenant, &doc_key).await? {
            return Ok(Posted { row, fresh: false });
        }
        let xero_kind = match kind {
            "invoice" => DocumentKind::Invoice,
            _ => DocumentKind::CreditNote,
        };
        let currency = text(&document, "CurrencyCode");
        let (reference, contact_id) = (
            text(&document, "Reference"),
            text(&document["Contact"], "ContactID"),
        );
        let draft = Draft {
            number,
            body: document,
            reference: &reference,
            contact_id: &contact_id,
            total,
        };
        let written = self
            .booker
            .xero
            .put_documents(tenant, attempt, xero_kind, &[draft])
            .await?
            .remove(0)
            .map_err(|err| match err {
                ProcessError::Rejected { document, messages } => {
                    rejected(format!("summary {document}"), messages)
                }
                other => other,
            })?;
        let (xero_id, xero_total, fresh) = (
            xero_kind.id_of(&written.document),
            decimal(&written.document, "Total"),
            written.created,
        );
        if xero_total != total {
            tracing::warn!(%number, %xero_total, expected = %total, "a summary document's total in Xero differs; reconcile it");
        }
        let row = DocumentRow {
            xero_id,
            number: number.to_owned(),
            currency,
            total: xero_total,
            order_number: String::new(),
            tax_mode: TaxMode::Exclusive,
        };
        self.booker
            .ledger
            .record_document(
                tenant,
                &doc_key,
                &format!("summary_{kind}"),
                &row,
                shop,
                business_key,
                &format!("summary:{number}"),
                None,
            )
            .await?;
        Ok(Posted { row, fresh })
    }

    /// Pays (or, on a credit note, refunds) each account's sum, one payment per account, in one
    /// call; payments the ledger has are skipped, and ones Xero has by reference are adopted.
    #[allow(clippy::too_many_arguments)]
    async fn pay(
        &self,
        tenant: &str,
        attempt: u32,
        document: &Posted,
        list: &str,
        sums: &BTreeMap<String, Decimal>,
        key_kind: &str,
        reference_tag: &str,
        date: &str,
    ) -> Result<(), ProcessError> {
        let number = &document.row.number;
        let doc_key = if list == "Invoices" {
            format!("invoice:{number}")
        } else {
            format!("credit_note:{number}")
        };
        let mut missing = Vec::new();
        for (account, amount) in sums {
            let key = format!("{key_kind}:{number}:{account}");
            if *amount > Decimal::ZERO && !self.booker.ledger.payment_exists(tenant, &key).await? {
                missing.push((key, account, round2(*amount)));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let kind = if list == "Invoices" {
            DocumentKind::Invoice
        } else {
            DocumentKind::CreditNote
        };
        let (references, mut left) = if document.fresh {
            (Vec::new(), document.row.total)
        } else {
            let state = self
                .booker
                .xero
                .document_state(tenant, kind, &document.row.xero_id)
                .await?;
            (state.references, state.outstanding)
        };
        let mut planned = Vec::new();
        for (key, account, amount) in missing {
            let reference = if reference_tag.is_empty() {
                format!("{number} {account}")
            } else {
                format!("{number} {account} {reference_tag}")
            };
            if references.contains(&reference) {
                self.booker
                    .ledger
                    .record_payment(
                        tenant,
                        &RecordedPayment {
                            key: &key,
                            xero_id: "adopted",
                            doc_key: &doc_key,
                            account,
                            amount,
                        },
                    )
                    .await?;
                continue;
            }
            let amount = amount.min(left);
            if amount <= Decimal::ZERO {
                continue;
            }
            left -= amount;
            planned.push((key, account, amount, reference));
        }
        if planned.is_empty() {
            return Ok(());
        }
        let target = |_: &()| {
            if list == "Invoices" {
                PaymentTarget::Invoice {
                    invoice_id: document.row.xero_id.clone(),
                }
            } else {
                PaymentTarget::CreditNote {
                    credit_note_id: document.row.xero_id.clone(),
                }
            }
        };
        let payments: Vec<types::Payment> = planned
            .iter()
            .map(|(_, account, amount, reference)| types::Payment {
                target: target(&()),
                account: mapping::account(account),
                date: date.to_owned(),
                amount: *amount,
                reference: reference.clone(),
            })
            .collect();
        let made = self
            .booker
            .xero
            .put_payments(tenant, attempt, &payments)
            .await?;
        for ((key, account, amount, _), made) in planned.iter().zip(made) {
            let payment_id =
                made.map_err(|errors| rejected(format!("summary payment {key}"), errors))?;
            self.booker
                .ledger
                .record_payment(
                    tenant,
                    &RecordedPayment {
                        key,
                        xero_id: &payment_id,
                        doc_key: &doc_key,
                        account,
                        amount: *amount,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Allocates the credit note to the period's invoice while anything is due on it.
    async fn allocate(
        &self,
        tenant: &str,
        attempt: u32,
        credit_note: &Posted,
        invoice: &Posted,
        date: &str,
    ) -> Result<(), ProcessError> {
        let key = format!("summary_allocation:{}", credit_note.row.number);
        if self.booker.ledger.payment_exists(tenant, &key).await? {
            return Ok(());
        }
        let due = self
            .booker
            .xero
            .document_state(tenant, DocumentKind::Invoice, &invoice.row.xero_id)
            .await?
            .outstanding;
        self.booker
            .allocate_due(
                tenant,
                attempt,
                &Allocation {
                    key: &key,
                    credit_note: &credit_note.row,
                    credit_note_key: &format!("credit_note:{}", credit_note.row.number),
                    fresh: credit_note.fresh,
                    invoice_id: &invoice.row.xero_id,
                    invoice_due: due,
                    date,
                },
            )
            .await?;
        Ok(())
    }
}

/// Whether any shop is in summary mode (then each processor runs a closer).
pub fn any_summary_shop(config: &Config) -> bool {
    config
        .shops
        .values()
        .any(|shop| shop.mode == SyncMode::Summary)
}

/// Closes due periods every `every` until `shutdown` flips.
pub async fn run(closer: Closer, every: Duration, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        if let Err(err) = closer.close_due(OffsetDateTime::now_utc()).await {
            tracing::warn!(error = %err, "cannot look for summary periods to close");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use time::macros::datetime;
    use xcs_shared::Platform;
    use xcs_shared::domain::{Currency, Line, LineKind, Payment, PaymentMethod};

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn zone(text: &str) -> ShopZone {
        ShopZone::parse(text).unwrap()
    }

    #[test]
    fn periods_start_and_end_in_the_shops_offset_and_have_their_labels() {
        // 2026-11-20 23:30 UTC is 21 Nov 12:30 in New Zealand (+13:00), a Saturday.
        let at = datetime!(2026-11-20 23:30 UTC);
        let nz = &zone("+13:00");
        let day = period_of(at, SummaryPeriod::Daily, nz);
        assert_eq!(day.start, datetime!(2026-11-21 00:00 +13:00));
        assert_eq!(day.end, datetime!(2026-11-22 00:00 +13:00));
        assert_eq!(
            period_label(day.start, SummaryPeriod::Daily, nz),
            "20261121"
        );
        let hour = period_of(at, SummaryPeriod::Hourly, nz);
        assert_eq!(hour.start, datetime!(2026-11-21 12:00 +13:00));
        assert_eq!(hour.end - hour.start, time::Duration::HOUR);
        assert_eq!(
            period_label(hour.start, SummaryPeriod::Hourly, nz),
            "20261121-12"
        );
        let week = period_of(at, SummaryPeriod::Weekly, nz);
        assert_eq!(week.start, datetime!(2026-11-16 00:00 +13:00), "a Monday");
        assert_eq!(week.end, datetime!(2026-11-23 00:00 +13:00));
        assert_eq!(
            period_label(week.start, SummaryPeriod::Weekly, nz),
            "2026W47"
        );
        // The same instant in UTC is still the 20th; its start read back from PostgreSQL
        // (in UTC) labels the same.
        let utc_zone = &zone("UTC");
        let utc = period_of(at, SummaryPeriod::Daily, utc_zone);
        assert_eq!(
            period_label(utc.start, SummaryPeriod::Daily, utc_zone),
            "20261120"
        );
        assert_eq!(
            period_label(
                day.start.to_offset(time::UtcOffset::UTC),
                SummaryPeriod::Daily,
                nz
            ),
            "20261121"
        );
        // The end is exclusive.
        assert_eq!(period_of(day.end, SummaryPeriod::Daily, nz).start, day.end);
        assert_eq!(
            summary_number("SH-", "20261121", "NZD", "NZD"),
            "SH-S-20261121"
        );
        assert_eq!(
            summary_number("SH-", "20261121", "USD", "NZD"),
            "SH-S-20261121-USD"
        );
    }

    /// A period's instants, its length, and its label, checked at both of its ends.
    fn local_period(
        zone: &ShopZone,
        at: OffsetDateTime,
        length: SummaryPeriod,
    ) -> (Period, String) {
        let period = period_of(at, length, zone);
        let just_before = period_of(period.start - time::Duration::nanoseconds(1), length, zone);
        assert_eq!(
            just_before.end, period.start,
            "{period:?} follows the one before"
        );
        assert_eq!(
            period_of(period.end - time::Duration::nanoseconds(1), length, zone),
            period,
            "the period's last instant is in it"
        );
        assert_eq!(
            period_of(period.end, length, zone).start,
            period.end,
            "the end is exclusive"
        );
        (period, period_label(period.start, length, zone))
    }

    #[test]
    fn days_close_at_local_midnight_and_last_23_or_25_hours_when_the_clocks_change() {
        use time::macros::date;
        // (zone, the day clocks go forward, the day they go back), 2026.
        let zones = [
            (
                "Europe/London",
                date!(2026 - 03 - 29),
                date!(2026 - 10 - 25),
            ),
            (
                "America/New_York",
                date!(2026 - 03 - 08),
                date!(2026 - 11 - 01),
            ),
            (
                "Australia/Sydney",
                date!(2026 - 10 - 04),
                date!(2026 - 04 - 05),
            ),
        ];
        for (name, forward, back) in zones {
            let tz = &zone(name);
            for (day, hours) in [(forward, 23), (back, 25)] {
                let midnight = tz.at_local(day, time::Time::MIDNIGHT);
                let noon = tz.at_local(day, time::Time::from_hms(12, 0, 0).unwrap());
                let (period, label) = local_period(tz, noon, SummaryPeriod::Daily);
                assert_eq!(period.start, midnight, "{name} {day}");
                assert_eq!(
                    period.end - period.start,
                    time::Duration::hours(hours),
                    "{name} {day}"
                );
                assert_eq!(
                    tz.local(period.start).time(),
                    time::Time::MIDNIGHT,
                    "{name} {day}"
                );
                assert_eq!(
                    tz.local(period.end).time(),
                    time::Time::MIDNIGHT,
                    "{name} {day}"
                );
                assert_eq!(
                    tz.local(period.end).date(),
                    day.next_day().unwrap(),
                    "{name} {day}"
                );
                assert_eq!(
                    label,
                    format!(
                        "{:04}{:02}{:02}",
                        day.year(),
                        u8::from(day.month()),
                        day.day()
                    )
                );
                // Just before and just after local midnight, either side of the change.
                let second = time::Duration::SECOND;
                assert_eq!(
                    period_of(midnight - second, SummaryPeriod::Daily, tz).end,
                    midnight
                );
                assert_eq!(
                    period_of(midnight, SummaryPeriod::Daily, tz).start,
                    midnight
                );
                assert_eq!(
                    period_of(period.end - second, SummaryPeriod::Daily, tz),
                    period
                );
                assert_eq!(
                    period_of(period.end, SummaryPeriod::Daily, tz).start,
                    period.end
                );
                // The days around it are 24 hours.
                for neighbour in [day.previous_day().unwrap(), day.next_day().unwrap()] {
                    let at = tz.at_local(neighbour, time::Time::from_hms(12, 0, 0).unwrap());
                    let (other, _) = local_period(tz, at, SummaryPeriod::Daily);
                    assert_eq!(
                        other.end - other.start,
                        time::Duration::DAY,
                        "{name} {neighbour}"
                    );
                }
            }
        }
    }

    /// The local hour `at` falls in on `tz`'s clock: its start, end and label.
    fn hour_of(tz: &ShopZone, at: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime, String) {
        let (hour, label) = local_period(tz, at, SummaryPeriod::Hourly);
        (hour.start, hour.end, label)
    }

    #[test]
    fn hours_and_weeks_follow_the_local_clock_across_both_changes() {
        use time::macros::datetime;
        let london = &zone("Europe/London");
        // 29 March 2026: 01:00 GMT becomes 02:00 BST, so hour 00 is followed by hour 02.
        assert_eq!(
            hour_of(london, datetime!(2026-03-29 00:59:59 UTC)),
            (
                datetime!(2026-03-29 00:00 UTC),
                datetime!(2026-03-29 01:00 UTC),
                "20260329-00".to_owned()
            )
        );
        assert_eq!(
            hour_of(london, datetime!(2026-03-29 01:00 UTC)),
            (
                datetime!(2026-03-29 01:00 UTC),
                datetime!(2026-03-29 02:00 UTC),
                "20260329-02".to_owned()
            )
        );
        // 25 October 2026: 02:00 BST becomes 01:00 GMT; the clock shows 01 for two hours, one
        // period with one label, whichever side of the change.
        for at in [
            datetime!(2026-10-25 00:00 UTC),
            datetime!(2026-10-25 00:59:59 UTC),
            datetime!(2026-10-25 01:00 UTC),
            datetime!(2026-10-25 01:59:59 UTC),
        ] {
            assert_eq!(
                hour_of(london, at),
                (
                    datetime!(2026-10-25 00:00 UTC),
                    datetime!(2026-10-25 02:00 UTC),
                    "20261025-01".to_owned()
                ),
                "{at}"
            );
        }
        assert_eq!(
            hour_of(london, datetime!(2026-10-25 02:00 UTC)).2,
            "20261025-02"
        );
        // New York falls back at 02:00 EDT (06:00 UTC): its 01 hour is 05:00 to 07:00 UTC.
        let new_york = &zone("America/New_York");
        assert_eq!(
            hour_of(new_york, datetime!(2026-11-01 06:30 UTC)),
            (
                datetime!(2026-11-01 05:00 UTC),
                datetime!(2026-11-01 07:00 UTC),
                "20261101-01".to_owned()
            )
        );
        // Sydney springs forward at 02:00 AEST (16:00 UTC on the 3rd): hour 01, then 03.
        let sydney = &zone("Australia/Sydney");
        assert_eq!(
            hour_of(sydney, datetime!(2026-10-03 15:30 UTC)),
            (
                datetime!(2026-10-03 15:00 UTC),
                datetime!(2026-10-03 16:00 UTC),
                "20261004-01".to_owned()
            )
        );
        assert_eq!(
            hour_of(sydney, datetime!(2026-10-03 16:00 UTC)).2,
            "20261004-03"
        );
        // ISO weeks: Monday 00:00 local to Monday 00:00 local, an hour longer or shorter.
        let (week, label) = local_period(
            london,
            datetime!(2026-10-22 12:00 UTC),
            SummaryPeriod::Weekly,
        );
        assert_eq!(
            (week.start, week.end),
            (
                datetime!(2026-10-18 23:00 UTC),
                datetime!(2026-10-26 00:00 UTC)
            )
        );
        assert_eq!(week.end - week.start, time::Duration::hours(7 * 24 + 1));
        assert_eq!(label, "2026W43");
        let (week, _) = local_period(
            sydney,
            datetime!(2026-10-01 00:00 UTC),
            SummaryPeriod::Weekly,
        );
        assert_eq!(week.end - week.start, time::Duration::hours(7 * 24 - 1));
        assert_eq!(sydney.local(week.start).time(), time::Time::MIDNIGHT);
        assert_eq!(sydney.local(week.start).weekday(), time::Weekday::Monday);
    }

    #[test]
    fn every_instant_of_a_year_has_one_period_with_a_label_of_its_own_in_odd_zones_too() {
        use std::collections::HashMap;
        use time::macros::datetime;
        // London, Sydney and New York; half-hour daylight saving (Lord Howe), a two-hour
        // change (Troll), changes at midnight (Santiago, Havana), odd offsets (Kolkata,
        // Chatham, Kathmandu), and a fixed offset.
        let zones = [
            "Europe/London",
            "Australia/Sydney",
            "America/New_York",
            "Australia/Lord_Howe",
            "Antarctica/Troll",
            "America/Santiago",
            "America/Havana",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "Asia/Kathmandu",
            "+13:00",
        ];
        for name in zones {
            let tz = &zone(name);
            for (length, step) in [
                (SummaryPeriod::Hourly, time::Duration::minutes(15)),
                (SummaryPeriod::Daily, time::Duration::minutes(15)),
                (SummaryPeriod::Weekly, time::Duration::hours(1)),
            ] {
                let mut labels: HashMap<String, Period> = HashMap::new();
                let mut at = datetime!(2026-01-01 00:00 UTC);
                let mut current = period_of(at, length, tz);
                while at < datetime!(2027-01-01 00:00 UTC) {
                    if at >= current.end {
                        let next = period_of(at, length, tz);
                        assert_eq!(
                            next.start, current.end,
                            "{name} {length:?}: no gap, no overlap at {at}"
                        );
                        current = next;
                    }
                    assert!(
                        current.start <= at && at < current.end,
                        "{name} {length:?} {at}: {current:?}"
                    );
                    let label = period_label(current.start, length, tz);
                    if let Some(seen) = labels.insert(label.clone(), current) {
                        assert_eq!(
                            seen, current,
                            "{name} {length:?}: {label} names two periods"
                        );
                    }
                    at += step;
                }
                // Only Troll's clocks (03:00 to 01:00 on 25 October) and Chatham's (03:45 to
                // 02:45 on 5 April) go back across an hour boundary: their second 01 and 02,
                // and 02 and 03, hours get labels of their own.
                let repeated: Vec<&String> = labels.keys().filter(|l| l.ends_with('b')).collect();
                let expected = usize::from(
                    matches!(name, "Antarctica/Troll" | "Pacific/Chatham")
                        && length == SummaryPeriod::Hourly,
                ) * 2;
                assert_eq!(repeated.len(), expected, "{name} {length:?}: {repeated:?}");
            }
        }
    }

    fn shop() -> ShopConfig {
        toml::from_str(
            r#"
            platform = "shopify"
            tenant = "00000000-0000-4000-8000-000000000001"
            mode = "summary"
            [mapping]
            document_prefix = "SH-"
            [mapping.accounts]
            sales = "200"
            shipping = "205"
            discounts = "210"
            gift_cards = "825"
            fees = "260"
            rounding = "860"
            clearing = "615"
            [mapping.tax]
            by_rate = { "15" = "OUTPUT2" }
            untaxed = "ZERORATED"
            "#,
        )
        .unwrap()
    }

    fn line(kind: LineKind, qty: &str, unit: &str, discount: &str, tax: &str) -> Line {
        Line {
            kind,
            sku: None,
            description: format!("{kind:?}"),
            quantity: d(qty),
            unit_price: d(unit),
            discount: d(discount),
            tax: d(tax),
            tax_rate: Some(if tax == "0" { d("0") } else { d("0.15") }),
            tax_label: None,
            tax_parts: Vec::new(),
            restocked: None,
        }
    }

    fn order(id: &str, mode: TaxMode, lines: Vec<Line>, total: &str, tax: &str) -> Order {
        Order {
            platform: Platform::Shopify,
            order_id: id.into(),
            number: format!("#{id}"),
            date: time::macros::date!(2026 - 11 - 20),
            currency: Currency::try_from("NZD".to_owned()).unwrap(),
            tax_mode: mode,
            customer: None,
            lines,
            total: d(total),
            total_tax: d(tax),
            payments: vec![Payment {
                method: PaymentMethod::Gateway {
                    name: "shopify_payments".into(),
                },
                amount: d(total),
                date: time::macros::date!(2026 - 11 - 20),
                reference: None,
            }],
            cancelled: false,
        }
    }

    #[test]
    fn summed_tax_xero_rounds_otherwise_is_given_on_the_invoice_and_rounded_on_the_credit_note() {
        let shop = shop();
        // Three orders of 10.03 taxed 1.50 each (1.5045 a line): 30.09 and 4.50 summed, where
        // Xero's tax on the summed 30.09 is 4.5135 → 4.51.
        let mut sums = Sums::default();
        for id in ["1", "2", "3"] {
            let entry = order_entry(
                &shop,
                &order(
                    id,
                    TaxMode::Exclusive,
                    vec![line(LineKind::Product, "1", "10.03", "0", "1.50")],
                    "11.53",
                    "1.50",
                ),
            )
            .unwrap();
            sums.add(entry.lines, entry.payments);
        }
        let rates =
            XeroTaxRates::new([("OUTPUT2".to_owned(), d("15")), ("NONE".to_owned(), d("0"))]);
        let invoice = sums
            .for_xero(
                "Sales",
                "20261120",
                &shop.mapping,
                TaxOverrides::Taken,
                &rates,
            )
            .unwrap();
        assert_eq!(invoice.basis, LineAmountTypes::Exclusive);
        assert_eq!(
            invoice
                .items
                .iter()
                .map(|i| (i.unit_amount, i.tax_amount))
                .collect::<Vec<_>>(),
            [(d("30.09"), LineTax::Given(d("4.50")))]
        );
        let note = sums
            .for_xero(
                "Refunds",
                "20261120",
                &shop.mapping,
                TaxOverrides::Refused,
                &rates,
            )
            .unwrap();
        assert_eq!(
            note.items
                .iter()
                .map(|i| (i.account_code.as_str(), i.unit_amount, i.tax_amount))
                .collect::<Vec<_>>(),
            [
                ("200", d("30.09"), LineTax::Computed(d("4.51"))),
                ("860", d("-0.01"), LineTax::Computed(d("0"))),
            ]
        );
        assert_eq!(
            mapping::xero_total(&note.items, TaxMode::Exclusive).unwrap(),
            sums.total()
        );
        assert_eq!(sums.total(), d("34.59"));
    }

    #[test]
    fn inclusive_and_exclusive_orders_sum_per_account_and_tax_type_to_the_cent() {
        let shop = shop();
        // Inclusive, with a price Xero would round differently (3 × 33.3333 = 99.99 paid):
        // its rounding line keeps the total exact.
        let inclusive = order(
            "1",
            TaxMode::Inclusive,
            vec![
                line(LineKind::Product, "3", "33.3333", "0", "13.04"),
                line(LineKind::Shipping, "1", "11.50", "0", "1.50"),
            ],
            "111.49",
            "14.54",
        );
        // Exclusive, with a discount line and a zero-rated line.
        let exclusive = order(
            "2",
            TaxMode::Exclusive,
            vec![
                line(LineKind::Product, "2", "50.00", "5.00", "14.25"),
                line(LineKind::Product, "1", "9.00", "0", "0"),
                line(LineKind::Discount, "1", "10.00", "0", "1.50"),
            ],
            "106.75",
            "12.75",
        );
        let mut sums = Sums::default();
        for order in [&inclusive, &exclusive] {
            let entry = order_entry(&shop, order).unwrap();
            let entry_total: Decimal = entry.lines.iter().map(|l| l.net + l.tax).sum();
            assert_eq!(entry_total, order.total, "{entry:?}");
            sums.add(entry.lines, entry.payments);
        }
        assert_eq!(sums.total(), d("218.24"));
        let items = sums.line_items("Sales", "20261120");
        let by_key: Vec<(&str, &str, Decimal, Decimal)> = items
            .iter()
            .map(|i| {
                (
                    i.account_code.as_str(),
                    i.tax_type.as_str(),
                    i.unit_amount,
                    i.tax_amount.amount(),
                )
            })
            .collect();
        assert_eq!(
            by_key,
            [
                // 99.99 − 13.04 (and the rounding line's −0.01 is on 860) + 95.00
                ("200", "OUTPUT2", d("181.96"), d("27.29")),
                ("200", "ZERORATED", d("9.00"), d("0")),
                ("205", "OUTPUT2", d("10.00"), d("1.50")),
                ("210", "OUTPUT2", d("-10.00"), d("-1.50")),
                // 3 × 33.3333 inclusive is 100.00 to Xero; the customer paid 99.99.
                ("860", "NONE", d("-0.01"), d("0")),
            ]
        );
        assert_eq!(
            mapping::xero_total(&items, TaxMode::Exclusive).unwrap(),
            d("218.24"),
            "what Xero computes is the sum of the orders"
        );
        assert_eq!(sums.payments["615"], d("218.24"));
    }
}
