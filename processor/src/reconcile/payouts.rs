//! `reconcile --payouts` (README "Reconcile", "Payouts"): per payout the bank shows
//! in the period, whether its booking left the clearing account empty of it:
//!
//! ```text
//! clearing left  =  charged  −  refunded  −  fees less adjustments  −  the transfer Xero holds
//! ```
//!
//! - **Charged and refunded** are what the booked payout settled per order
//!   (`xcs_payout_orders`): the payments the ledger booked into clearing and the refunds it
//!   booked out of it, matched when the payout was booked.
//! - **Fees less adjustments** are what its fees bill (or supplier credit) paid from clearing,
//!   as recorded per payout: with `fees_per = "day"` one bill carries the day's payouts, and
//!   each payout's own share is what it recorded.
//! - **The transfer Xero holds** is read back by the Xero id the booking recorded, one `GET
//!   /BankTransfers/{id}` or `GET /BankTransactions/{id}` each: a bank transfer list cannot be
//!   paged and hides deleted transfers, and a month of daily payouts is some thirty reads, well
//!   inside the minute's limit the client paces itself by. A deleted or voided transfer counts
//!   as nothing, so its deposit shows as left in clearing; one of another amount is reported
//!   with both amounts.
//!
//! Held payouts are listed with their reason and difference: their deposit is in the bank and
//! still in clearing until the orders they name are booked. The totals give the clearing
//! balance the period's booked payouts leave (zero when the books agree) per currency, and the
//! count held. Any row but an agreeing one sets the exit code to 1, as every reconcile does;
//! nothing here is fixed (`--fix` is refused): a transfer deleted in Xero was deleted by a
//! person, and booking it again is theirs to decide.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Context as _;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use time::{Date, OffsetDateTime};

use super::known_shop;
use super::report::{opt_amount, push_counts, push_csv_row, push_table};
use super::sources::unreadable;
use crate::config::Config;
use crate::ledger::{Ledger, PayoutRow};
use crate::xero::client::{XeroClient, XeroError};
use crate::xero::documents::{decimal, is_live, text};

/// How one payout compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutFinding {
    /// Xero has no transfer by the id the booking recorded, or the ledger recorded none.
    TransferMissing,
    /// The transfer is deleted (or voided) in Xero.
    TransferDeleted,
    /// The transfer Xero holds is not the deposit.
    TransferDiffers,
    /// The transfer agrees, and clearing still holds something of the payout.
    ClearingLeft,
    /// Not booked: the ledger lacks what it pays out.
    Held,
    /// Booked, and clearing holds nothing of it.
    Agrees,
}

impl PayoutFinding {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutFinding::TransferMissing => "transfer_missing",
            PayoutFinding::TransferDeleted => "transfer_deleted",
            PayoutFinding::TransferDiffers => "transfer_differs",
            PayoutFinding::ClearingLeft => "clearing_left",
            PayoutFinding::Held => "held",
            PayoutFinding::Agrees => "agrees",
        }
    }

    /// Whether it sets the exit code to 1.
    pub fn is_discrepancy(self) -> bool {
        self != PayoutFinding::Agrees
    }

    fn next_step(self) -> &'static str {
        match self {
            PayoutFinding::TransferMissing | PayoutFinding::TransferDeleted => {
                "the deposit is still in clearing: make the transfer again in Xero (clearing to \
                 the bank, dated as the bank shows it, referenced by the payout id), or restore \
                 the one deleted"
            }
            PayoutFinding::TransferDiffers => {
                "correct the transfer in Xero to the deposit (delete it and make it again with \
                 the payout's amount)"
            }
            PayoutFinding::ClearingLeft => {
                "an order the payout settled has payments or refunds changed since it was \
                 booked; compare the orders' invoices and credit notes in Xero with the \
                 payout's lines on the platform"
            }
            PayoutFinding::Held => {
                "book the orders the reason names (their webhooks, the poller, or `backfill`): \
                 the payout books itself once they are; held past hold_max_hours it is \
                 dead-lettered as payout_unexplained"
            }
            PayoutFinding::Agrees => "",
        }
    }
}

/// One payout.
#[derive(Debug, Clone, Serialize)]
pub struct PayoutLine {
    pub status: PayoutFinding,
    pub payout_id: String,
    /// The bank's date.
    pub date: Date,
    pub currency: String,
    /// `booked` or `held`.
    pub state: String,
    /// What reached the bank; negative when the platform debited it.
    pub deposit: Decimal,
    /// The Xero collection of its transfer (`BankTransfers`, `BankTransactions`; `none` for a
    /// payout of zero); empty when none was recorded.
    pub transfer_kind: String,
    pub transfer_id: String,
    /// The transfer's status in Xero; empty when not read.
    pub xero_status: String,
    /// What Xero's live transfer moves from clearing to the bank, signed as the deposit; 0
    /// for a deleted or missing one, `None` for a held payout.
    pub xero_transfer: Option<Decimal>,
    /// Fees less adjustments, as its booking recorded them; `None` for a held payout.
    pub fees: Option<Decimal>,
    /// What it settled of its orders (`xcs_payout_orders`); `None` for a held payout.
    pub charged: Option<Decimal>,
    pub refunded: Option<Decimal>,
    /// `charged − refunded − fees − xero_transfer`; `None` for a held payout.
    pub clearing_left: Option<Decimal>,
    /// Why it is held, and the deposit's part nothing booked explains.
    pub reason: String,
    pub difference: Option<Decimal>,
    pub detail: String,
}

/// What `reconcile --payouts` found.
#[derive(Debug, Clone, Serialize)]
pub struct PayoutReport {
    pub shop: String,
    pub tenant: String,
    /// The bank's dates compared, inclusive.
    pub from: Date,
    pub to: Date,
    /// Whether the shop has `payouts = true`; nothing is compared otherwise.
    pub enabled: bool,
    /// Oldest first.
    pub payouts: Vec<PayoutLine>,
    /// The clearing balance the booked payouts leave, per currency: zero when they agree.
    pub clearing_left: BTreeMap<String, Decimal>,
    pub held: usize,
    /// Transfers read from Xero.
    pub xero_reads: usize,
}

/// The CSV columns of `reconcile --payouts`, in order.
pub const PAYOUTS_CSV_HEADER: &str = "status,payout_id,date,currency,state,deposit,xero_transfer,fees_less_adjustments,charged,refunded,clearing_left,difference,transfer_kind,transfer_id,xero_status,reason,detail,next_step";

/// The bank's dates a range `[from, to)` covers: its first day to the day of its last instant.
fn dates(from: OffsetDateTime, to: OffsetDateTime) -> (Date, Date) {
    (from.date(), (to - time::Duration::nanoseconds(1)).date())
}

/// Reconciles the payouts of the shop `name` the bank shows on the dates of `[from, to)`.
///
/// # Errors
/// When the shop is unknown, or the ledger or Xero cannot be read. Each message says what to
/// do.
pub async fn reconcile_payouts(
    config: &Config,
    xero: &XeroClient,
    name: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> anyhow::Result<PayoutReport> {
    anyhow::ensure!(
        from < to,
        "--from must be before --to (the range is [from, to))"
    );
    let shop = known_shop(config, name)?;
    let (first, last) = dates(from, to);
    let mut report = PayoutReport {
        shop: name.to_owned(),
        tenant: shop.tenant.clone(),
        from: first,
        to: last,
        enabled: shop.payouts,
        payouts: Vec::new(),
        clearing_left: BTreeMap::new(),
        held: 0,
        xero_reads: 0,
    };
    let ledger = Ledger::lazy(&config.postgres)
        .context("[postgres].url is not a PostgreSQL URL; fix it (or XCS_POSTGRES_URL)")?;
    let hint = "cannot read xcs_payouts; start a processor of this version once (it migrates \
                the ledger), then run again";
    // A shop that had payouts on once keeps what it booked: it is compared even when off now.
    let mut rows = ledger
        .payouts_between(name, first, last)
        .await
        .map_err(unreadable(hint))?;
    rows.sort_by(|a, b| (a.paid_on, &a.payout_id).cmp(&(b.paid_on, &b.payout_id)));
    let ids: Vec<String> = rows.iter().map(|r| r.payout_id.clone()).collect();
    let settled = ledger
        .payouts_settled(name, &ids)
        .await
        .map_err(unreadable(hint))?;
    let mut transfers = BTreeMap::new();
    for tenant in rows
        .iter()
        .map(|r| r.tenant.as_str())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let found = ledger
            .payout_transfers(tenant, name, &ids)
            .await
            .map_err(unreadable(hint))?;
        transfers.extend(found.into_iter().map(|(id, entry)| ((tenant, id), entry)));
    }
    let clearing = shop
        .mapping
        .payouts
        .as_ref()
        .map(|m| m.clearing(&shop.mapping.accounts).to_owned());
    for row in &rows {
        let line = if row.state == "booked" {
            let entry = transfers.get(&(row.tenant.as_str(), row.payout_id.clone()));
            let read = match entry {
                Some((kind, id, _)) if kind != "none" && !id.is_empty() => {
                    report.xero_reads += 1;
                    Some(read_transfer(xero, &row.tenant, kind, id).await?)
                }
                _ => None,
            };
            let (charged, refunded) = settled.get(&row.payout_id).copied().unwrap_or_default();
            booked(
                row,
                entry,
                read.as_ref(),
                clearing.as_deref(),
                charged,
                refunded,
            )
        } else {
            report.held += 1;
            held(row)
        };
        if let Some(left) = line.clearing_left {
            *report
                .clearing_left
                .entry(line.currency.clone())
                .or_default() += left;
        }
        report.payouts.push(line);
    }
    Ok(report)
}

/// A transfer as `GET /{kind}/{id}` answers it; `None` when Xero has none by the id.
async fn read_transfer(
    xero: &XeroClient,
    tenant: &str,
    kind: &str,
    id: &str,
) -> anyhow::Result<Option<Value>> {
    match xero
        .call(
            tenant,
            Method::GET,
            &format!("/{kind}/{id}"),
            &[],
            None,
            None,
        )
        .await
    {
        Ok(mut answer) => Ok(match answer[kind].take() {
            Value::Array(mut found) if !found.is_empty() => Some(found.swap_remove(0)),
            _ => None,
        }),
        Err(XeroError::NotFound(_)) => Ok(None),
        Err(err) => Err(anyhow::Error::new(err).context(format!(
            "cannot read the payouts' transfers from Xero (tenant {tenant}); run \
             `xcs-processor check` for the connection, then run again"
        ))),
    }
}

/// What a live transfer moves out of clearing, signed as the deposit: a bank transfer from
/// clearing, or money received in the bank coded to it, is positive; the other way negative.
fn moved_out_of_clearing(kind: &str, transfer: &Value, clearing: Option<&str>) -> Decimal {
    if kind == "BankTransfers" {
        let amount = decimal(transfer, "Amount");
        let into_clearing = clearing.is_some_and(|c| text(&transfer["ToBankAccount"], "Code") == c);
        if into_clearing { -amount } else { amount }
    } else {
        let total = decimal(transfer, "Total");
        if text(transfer, "Type") == "SPEND" {
            -total
        } else {
            total
        }
    }
}

fn booked(
    row: &PayoutRow,
    entry: Option<&(String, String, Decimal)>,
    read: Option<&Option<Value>>,
    clearing: Option<&str>,
    charged: Decimal,
    refunded: Decimal,
) -> PayoutLine {
    let mut line = PayoutLine {
        status: PayoutFinding::Agrees,
        payout_id: row.payout_id.clone(),
        date: row.paid_on,
        currency: row.currency.clone(),
        state: row.state.clone(),
        deposit: row.amount,
        transfer_kind: entry.map(|e| e.0.clone()).unwrap_or_default(),
        transfer_id: entry.map_or_else(|| row.transfer.clone(), |e| e.1.clone()),
        xero_status: String::new(),
        xero_transfer: None,
        fees: Some(row.fees),
        charged: Some(charged),
        refunded: Some(refunded),
        clearing_left: None,
        reason: String::new(),
        difference: None,
        detail: String::new(),
    };
    let xero_transfer = match (entry, read) {
        (None, _) => {
            line.status = PayoutFinding::TransferMissing;
            line.detail = "booked, and the ledger records no transfer of it".into();
            Decimal::ZERO
        }
        (Some((kind, _, _)), None) if kind == "none" || row.amount.is_zero() => Decimal::ZERO,
        (Some(_), None | Some(None)) => {
            line.status = PayoutFinding::TransferMissing;
            line.detail = format!("Xero has no {} {}", line.transfer_kind, line.transfer_id);
            Decimal::ZERO
        }
        (Some((kind, _, _)), Some(Some(transfer))) => {
            line.xero_status = text(transfer, "Status");
            if is_live(transfer) {
                let moved = moved_out_of_clearing(kind, transfer, clearing);
                if moved != row.amount {
                    line.status = PayoutFinding::TransferDiffers;
                    line.detail = format!(
                        "Xero's transfer moves {moved} from clearing to the bank, the deposit \
                         is {}",
                        row.amount
                    );
                }
                moved
            } else {
                line.status = PayoutFinding::TransferDeleted;
                line.detail = format!(
                    "the transfer is {} in Xero: the deposit of {} is still in clearing",
                    line.xero_status, row.amount
                );
                Decimal::ZERO
            }
        }
    };
    line.xero_transfer = Some(xero_transfer);
    let left = charged - refunded - row.fees - xero_transfer;
    line.clearing_left = Some(left);
    if !left.is_zero() && line.status == PayoutFinding::Agrees {
        line.status = PayoutFinding::ClearingLeft;
        line.detail = format!(
            "{charged} charged − {refunded} refunded − {} fees less adjustments − {xero_transfer} \
             transferred leaves {left} in clearing",
            row.fees
        );
    }
    line
}

fn held(row: &PayoutRow) -> PayoutLine {
    PayoutLine {
        status: PayoutFinding::Held,
        payout_id: row.payout_id.clone(),
        date: row.paid_on,
        currency: row.currency.clone(),
        state: row.state.clone(),
        deposit: row.amount,
        transfer_kind: String::new(),
        transfer_id: String::new(),
        xero_status: String::new(),
        xero_transfer: None,
        fees: None,
        charged: None,
        refunded: None,
        clearing_left: None,
        reason: row.reason.clone(),
        difference: Some(row.difference),
        detail: format!(
            "held {}: its deposit is in the bank and still in clearing",
            held_for(row.seen_secs)
        ),
    }
}

fn held_for(secs: f64) -> String {
    let hours = (secs.max(0.0) / 3600.0).floor();
    if hours >= 1.0 {
        format!("{hours} h")
    } else {
        "under an hour".to_owned()
    }
}

impl PayoutLine {
    fn cells(&self) -> Vec<String> {
        vec![
            self.status.as_str().to_owned(),
            self.payout_id.clone(),
            self.date.to_string(),
            self.currency.clone(),
            self.state.clone(),
            self.deposit.to_string(),
            opt_amount(self.xero_transfer),
            opt_amount(self.fees),
            opt_amount(self.clearing_left),
        ]
    }
}

impl PayoutReport {
    /// 0 when every payout is booked and agrees, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.payouts.iter().any(|p| p.status.is_discrepancy()))
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// The report as CSV: a header row and one row per payout.
    pub fn csv(&self) -> String {
        let mut out = format!("{PAYOUTS_CSV_HEADER}\n");
        for p in &self.payouts {
            push_csv_row(
                &mut out,
                &[
                    p.status.as_str().to_owned(),
                    p.payout_id.clone(),
                    p.date.to_string(),
                    p.currency.clone(),
                    p.state.clone(),
                    p.deposit.to_string(),
                    opt_amount(p.xero_transfer),
                    opt_amount(p.fees),
                    opt_amount(p.charged),
                    opt_amount(p.refunded),
                    opt_amount(p.clearing_left),
                    opt_amount(p.difference),
                    p.transfer_kind.clone(),
                    p.transfer_id.clone(),
                    p.xero_status.clone(),
                    p.reason.clone(),
                    p.detail.clone(),
                    p.status.next_step().to_owned(),
                ],
            );
        }
        out
    }

    /// The report for people: what was compared, every payout, the totals, then what to do.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "Shop {} (tenant {}), payouts the bank shows {} to {}: {} compared ({} held), {} \
             transfers read from Xero.",
            self.shop,
            self.tenant,
            self.from,
            self.to,
            self.payouts.len(),
            self.held,
            self.xero_reads
        );
        if !self.enabled {
            let _ = write!(
                out,
                " The shop has payouts off (payouts = true reads them)."
            );
        }
        let _ = writeln!(
            out,
            " Clearing left = charged − refunded − fees less adjustments − the transfer Xero \
             holds."
        );
        let mut counts: BTreeMap<PayoutFinding, usize> = BTreeMap::new();
        for p in &self.payouts {
            if p.status != PayoutFinding::Agrees {
                *counts.entry(p.status).or_default() += 1;
            }
        }
        push_counts(&mut out, &counts, |_| false, PayoutFinding::as_str);
        if self.payouts.is_empty() {
            return out;
        }
        if counts.is_empty() {
            out.push('\n');
        }
        let header = [
            "STATUS",
            "PAYOUT",
            "DATE",
            "CURRENCY",
            "STATE",
            "DEPOSIT",
            "XERO TRANSFER",
            "FEES LESS ADJ.",
            "CLEARING LEFT",
            "DETAIL",
        ];
        let rows: Vec<Vec<String>> = self
            .payouts
            .iter()
            .map(|p| {
                let mut cells = p.cells();
                // A held payout's reason begins with its difference.
                cells.push(if p.status == PayoutFinding::Held {
                    p.reason.clone()
                } else {
                    p.detail.clone()
                });
                cells
            })
            .collect();
        push_table(&mut out, &header, &rows);
        let left: Vec<String> = self
            .clearing_left
            .iter()
            .map(|(currency, left)| format!("{currency} {left}"))
            .collect();
        let _ = writeln!(
            out,
            "\nTotals: clearing left by the booked payouts {} (must be zero); {} held.",
            if left.is_empty() {
                "0".to_owned()
            } else {
                left.join(", ")
            },
            self.held
        );
        let mut said = Vec::new();
        for p in &self.payouts {
            if p.status.is_discrepancy() && !said.contains(&p.status) {
                if said.is_empty() {
                    let _ = writeln!(out, "\nWhat to do:");
                }
                said.push(p.status);
                let _ = writeln!(out, "  {}: {}", p.status.as_str(), p.status.next_step());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::{date, datetime};

    fn row(amount: &str, fees: &str) -> PayoutRow {
        PayoutRow {
            shop: "s".into(),
            payout_id: "p1".into(),
            tenant: "t".into(),
            currency: "NZD".into(),
            amount: amount.parse().unwrap(),
            paid_on: date!(2026 - 11 - 20),
            state: "booked".into(),
            reason: String::new(),
            difference: Decimal::ZERO,
            fees: fees.parse().unwrap(),
            event_id: "e".into(),
            bill: String::new(),
            transfer: "x".into(),
            seen_secs: 0.0,
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_range_covers_the_bank_dates_of_its_instants() {
        assert_eq!(
            dates(
                datetime!(2026-11-01 0:00 UTC),
                datetime!(2026-12-01 0:00 UTC)
            ),
            (date!(2026 - 11 - 01), date!(2026 - 11 - 30))
        );
        assert_eq!(
            dates(
                datetime!(2026-11-01 0:00 UTC),
                datetime!(2026-11-01 12:00 UTC)
            ),
            (date!(2026 - 11 - 01), date!(2026 - 11 - 01))
        );
    }

    #[test]
    fn a_transfer_deleted_or_of_another_amount_leaves_its_difference_in_clearing() {
        let entry = ("BankTransactions".to_owned(), "x".to_owned(), d("95.00"));
        let live = Some(json!({"Status": "AUTHORISED", "Type": "RECEIVE", "Total": 95.0}));
        let line = booked(
            &row("95.00", "5.00"),
            Some(&entry),
            Some(&live),
            None,
            d("100.00"),
            d("0"),
        );
        assert_eq!(
            (line.status, line.clearing_left),
            (PayoutFinding::Agrees, Some(d("0")))
        );

        let deleted = Some(json!({"Status": "DELETED", "Type": "RECEIVE", "Total": 95.0}));
        let line = booked(
            &row("95.00", "5.00"),
            Some(&entry),
            Some(&deleted),
            None,
            d("100"),
            d("0"),
        );
        assert_eq!(line.status, PayoutFinding::TransferDeleted);
        assert_eq!(line.clearing_left, Some(d("95.00")));

        let short = Some(json!({"Status": "AUTHORISED", "Type": "RECEIVE", "Total": 90.0}));
        let line = booked(
            &row("95.00", "5.00"),
            Some(&entry),
            Some(&short),
            None,
            d("100"),
            d("0"),
        );
        assert_eq!(
            (line.status, line.clearing_left),
            (PayoutFinding::TransferDiffers, Some(d("5")))
        );

        let line = booked(
            &row("95.00", "5.00"),
            Some(&entry),
            Some(&None),
            None,
            d("100"),
            d("0"),
        );
        assert_eq!(line.status, PayoutFinding::TransferMissing);
    }

    #[test]
    fn a_debit_moves_money_into_clearing() {
        let transfer = json!({"Status": "AUTHORISED", "Amount": 20.0,
                              "FromBankAccount": {"Code": "090"}, "ToBankAccount": {"Code": "615"}});
        assert_eq!(
            moved_out_of_clearing("BankTransfers", &transfer, Some("615")),
            d("-20")
        );
        let spend = json!({"Status": "AUTHORISED", "Type": "SPEND", "Total": 20.0});
        assert_eq!(
            moved_out_of_clearing("BankTransactions", &spend, Some("615")),
            d("-20")
        );
        let entry = ("BankTransfers".to_owned(), "x".to_owned(), d("-20"));
        let line = booked(
            &row("-20", "0"),
            Some(&entry),
            Some(&Some(transfer)),
            Some("615"),
            d("10"),
            d("30"),
        );
        assert_eq!(
            (line.status, line.clearing_left),
            (PayoutFinding::Agrees, Some(d("0")))
        );
    }
}
