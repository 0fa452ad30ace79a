//! Summary mode's documents: the invoice and credit note posted for each of the shop's
//! periods that overlap the range, read from the ledger with what was applied to them, so
//! that `compare` checks them against Xero as it checks the documents of real-time events. No
//! event booked them (the closer did, from the period's entries), so the report names their
//! period instead.
//!
//! A posted period names its invoice (`invoice_number`); its credit note is that number with
//! `-CR`. A period with refunds only has no invoice number: its credit note is found by the
//! business key the closer gave it, `summary:{currency}:{period label}`, with the label of the
//! shop's `summary_period` and `timezone` as configured now, and only while they still make
//! this very period (changed since, the label would name another period's documents).

use std::collections::HashMap;

use rust_decimal::Decimal;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::ReconcileOptions;
use super::compare::PeriodRef;
use super::sources::unreadable;
use crate::config::ShopConfig;
use crate::ledger::{BookedDocument, Ledger, PeriodKey};
use crate::summary::{period_label, period_of};

/// A summary document the ledger recorded, with its period.
pub(super) struct SummaryDocument {
    pub(super) document: BookedDocument,
    pub(super) period: PeriodRef,
    /// The period's start, as the ledger keys it.
    start: OffsetDateTime,
    /// The last day the period covers: the date the closer gave its documents.
    pub(super) date: String,
    /// The period's invoice, which its credit note is allocated to; empty when it had no
    /// orders.
    invoice_number: String,
    /// What the ledger applied to it: (account, amount); an empty account is a credit
    /// allocation.
    applied: Vec<(String, Decimal)>,
    /// Its lines as the closer summed them: (account, tax type, net, tax). Read only for the
    /// advice on a document that must be entered or corrected by hand.
    lines: Option<Vec<(String, String, Decimal, Decimal)>>,
}

impl SummaryDocument {
    /// `SH-S-20261120 of the period NZD from 2026-11-20T00:00:00+13:00`.
    pub(super) fn describe(&self) -> String {
        format!(
            "{} of the period {} from {}",
            self.document.number, self.period.currency, self.period.start
        )
    }

    /// What the ledger applied, as a person enters it in Xero: `125.75 into 615`,
    /// `23.00 refunded out of 615`, `10.00 allocated to invoice SH-S-20261120`.
    pub(super) fn applied_advice(&self, is_invoice: bool) -> String {
        if self.applied.is_empty() {
            return "nothing (the ledger applied nothing to it)".to_owned();
        }
        self.applied
            .iter()
            .map(|(account, amount)| match (account.as_str(), is_invoice) {
                ("", _) => format!("{amount} allocated to invoice {}", self.invoice_number),
                (account, true) => format!("{amount} into {account}"),
                (account, false) => format!("{amount} refunded out of {account}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The document's lines, as a person enters them in Xero: `200 OUTPUT2 85.00 (tax
    /// 12.75), 205 OUTPUT2 20.00 (tax 3.00)`.
    pub(super) fn lines_advice(&self) -> String {
        match &self.lines {
            Some(lines) if !lines.is_empty() => lines
                .iter()
                .map(|(account, tax_type, net, tax)| {
                    format!("{account} {tax_type} {net} (tax {tax})")
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => format!(
                "the sums per account and tax type of the period's {} in xcs_summary_entries \
                 (shop {}, currency {}, period_start {})",
                if self.document.kind == "summary_invoice" {
                    "orders"
                } else {
                    "refunds"
                },
                self.period.shop,
                self.period.currency,
                self.period.start
            ),
        }
    }

    /// Reads the document's lines from the period's entries, for the advice.
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub(super) async fn read_lines(&mut self, ledger: &Ledger) -> anyhow::Result<()> {
        let kind = if self.document.kind == "summary_invoice" {
            "order"
        } else {
            "refund"
        };
        let lines = ledger
            .summary_period_lines(
                PeriodKey {
                    shop: &self.period.shop,
                    currency: &self.period.currency,
                    start: self.start,
                },
                kind,
            )
            .await
            .map_err(unreadable(
                "cannot read xcs_summary_entries; check [postgres].schema",
            ))?;
        self.lines = Some(
            lines
                .into_iter()
                .map(|l| (l.account, l.tax_type, l.net, l.tax))
                .collect(),
        );
        Ok(())
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// The summary documents posted for `name`'s periods that overlap the range, oldest period
/// first, and warnings about periods that could not be checked (not posted, or documents the
/// ledger cannot name), each with what to do.
///
/// # Errors
/// When the ledger cannot be read.
pub(super) async fn read(
    ledger: &Ledger,
    name: &str,
    shop: &ShopConfig,
    options: &ReconcileOptions,
) -> anyhow::Result<(Vec<SummaryDocument>, Vec<String>)> {
    let zone = &shop.timezone;
    let periods = ledger
        .summary_periods_overlapping(&shop.tenant, name, options.from, options.to)
        .await
        .map_err(unreadable(
            "cannot read xcs_summary_periods; is [postgres].schema the processor's schema?",
        ))?;
    let mut warnings = Vec::new();
    let refs: Vec<PeriodRef> = periods
        .iter()
        .map(|p| PeriodRef {
            shop: name.to_owned(),
            currency: p.currency.clone(),
            start: rfc3339(zone.local(p.start)),
            end: rfc3339(zone.local(p.end)),
        })
        .collect();
    // Which period each document belongs to: by its key, or (a credit note of a period
    // without an invoice) by its business key.
    let mut by_doc_key: HashMap<String, usize> = HashMap::new();
    let mut by_business_key: HashMap<String, usize> = HashMap::new();
    for (i, period) in periods.iter().enumerate() {
        let label = refs[i].label();
        if period.status != "closed" {
            if period.attempts > 0 {
                warnings.push(format!(
                    "{label} is not posted: {} tries failed, the last with: {}; fix what it \
                     says, the closer tries again by itself",
                    period.attempts, period.detail
                ));
            }
            continue;
        }
        if !period.invoice_number.is_empty() {
            by_doc_key.insert(format!("invoice:{}", period.invoice_number), i);
            if period.has_refunds {
                by_doc_key.insert(format!("credit_note:{}-CR", period.invoice_number), i);
            }
        } else if period.has_refunds {
            let now = period_of(period.start, shop.summary_period, zone);
            if now.start == period.start && now.end == period.end {
                let key = format!(
                    "summary:{}:{}",
                    period.currency,
                    period_label(period.start, shop.summary_period, zone)
                );
                by_business_key.insert(key, i);
            } else {
                warnings.push(format!(
                    "{label} posted a credit note for its refunds, but the shop's \
                     summary_period or timezone changed since, so reconcile cannot tell its \
                     number; compare it with Xero by hand (its refunds are in \
                     xcs_summary_entries)"
                ));
            }
        }
    }
    let doc_keys: Vec<String> = by_doc_key.keys().cloned().collect();
    let business_keys: Vec<String> = by_business_key.keys().cloned().collect();
    let documents = ledger
        .summary_documents(&shop.tenant, name, &doc_keys, &business_keys)
        .await
        .map_err(unreadable(
            "cannot read xcs_documents; check [postgres].schema",
        ))?;
    let mut claimed: Vec<(usize, BookedDocument)> = Vec::new();
    for document in documents {
        let period = by_doc_key.get(&document.doc_key).copied().or_else(|| {
            (document.kind == "summary_credit_note")
                .then(|| by_business_key.get(&document.business_key).copied())
                .flatten()
        });
        if let Some(i) = period {
            claimed.push((i, document));
        }
    }
    // What each period should have and the ledger does not record: nothing to compare.
    for (i, period) in periods.iter().enumerate() {
        let has = |kind: &str| claimed.iter().any(|(p, d)| *p == i && d.kind == kind);
        let label = refs[i].label();
        if !period.invoice_number.is_empty() && !has("summary_invoice") {
            warnings.push(format!(
                "{label} was posted with invoice {}, but the ledger has no record of it \
                 (xcs_documents, doc_key invoice:{}); compare the period with Xero by hand",
                period.invoice_number, period.invoice_number
            ));
        }
        if period.status == "closed"
            && period.has_refunds
            && !has("summary_credit_note")
            && (!period.invoice_number.is_empty() || by_business_key.values().any(|p| *p == i))
        {
            warnings.push(format!(
                "{label} was posted with a credit note for its refunds, but the ledger has no \
                 record of it (xcs_documents); compare the period with Xero by hand"
            ));
        }
    }
    let keys: Vec<String> = claimed.iter().map(|(_, d)| d.doc_key.clone()).collect();
    let mut applied: HashMap<String, Vec<(String, Decimal)>> = HashMap::new();
    for payment in ledger
        .payments_on(&shop.tenant, &keys)
        .await
        .map_err(unreadable(
            "cannot read xcs_payments; check [postgres].schema",
        ))?
    {
        applied
            .entry(payment.doc_key)
            .or_default()
            .push((payment.account, payment.amount));
    }
    claimed.sort_by(|(a, x), (b, y)| (a, &x.kind).cmp(&(b, &y.kind)));
    let summaries = claimed
        .into_iter()
        .map(|(i, document)| {
            let period = &periods[i];
            SummaryDocument {
                applied: applied.remove(&document.doc_key).unwrap_or_default(),
                document,
                period: refs[i].clone(),
                start: period.start,
                date: zone
                    .local(period.end - time::Duration::SECOND)
                    .date()
                    .to_string(),
                invoice_number: period.invoice_number.clone(),
                lines: None,
            }
        })
        .collect();
    Ok((summaries, warnings))
}
