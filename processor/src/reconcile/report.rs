//! The report: what was compared and every difference found, for people (a table with what to
//! do), for scripts (JSON) and for spreadsheets (CSV).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use rust_decimal::Decimal;
use serde::Serialize;

use super::compare::{Discrepancy, PeriodRef, Problem};

/// Where the events came from.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Sources {
    /// Events of the shop in the range that the ledger recorded.
    pub ledger_events: usize,
    /// Events of the shop in the range in `xcs.archive`; `None` when it could not be read.
    pub archive_events: Option<usize>,
    /// The shop's events in `xcs.dead` (any time).
    pub dead_letters: Option<usize>,
}

/// Whether the platform leg read the platform's API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LegStatus {
    /// Not read: the shop has no `[api]` section, or nothing in the range has settled yet.
    #[default]
    Skipped,
    /// Read to the end of the range.
    Read,
    /// The platform's API failed; what it listed before is compared.
    Failed,
}

impl LegStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LegStatus::Skipped => "skipped",
            LegStatus::Read => "read",
            LegStatus::Failed => "failed",
        }
    }
}

/// What the platform leg read of the platform's API (`super::platform`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PlatformLeg {
    pub status: LegStatus,
    /// Why it was skipped, or how it failed; empty when read.
    pub reason: String,
    /// The platform modification times read, `[from, to)` (RFC 3339); empty when skipped
    /// before choosing them.
    pub from: String,
    pub to: String,
    /// Orders (and refunds) the platform listed as changed then, each version once.
    pub orders: usize,
    pub refunds: usize,
    /// Of those, the ones the mapping books nothing for (cancelled before being booked, not
    /// paid, a kind the shop does not sync).
    pub not_bookable: usize,
    /// Platform API calls made to list them.
    pub calls: usize,
}

/// What a reconcile found (and fixed).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub shop: String,
    pub tenant: String,
    pub from: String,
    pub to: String,
    pub sources: Sources,
    /// What the platform's own API lists, compared with the ledger.
    pub platform: PlatformLeg,
    /// Distinct events compared.
    pub events: usize,
    /// Ledger documents looked up in Xero.
    pub documents: usize,
    pub discrepancies: Vec<Discrepancy>,
    /// What limits the comparison (an unreadable archive, say), with what to do.
    pub warnings: Vec<String>,
}

impl Report {
    /// 0 when everything agrees, 1 when anything differs (informational rows, such as
    /// `missed_by_webhooks`, differ in nothing).
    pub fn exit_code(&self) -> i32 {
        i32::from(
            self.discrepancies
                .iter()
                .any(|d| !d.problem.informational()),
        )
    }
}

/// How the report prints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: a summary line and one row per discrepancy.
    #[default]
    Table,
    /// One JSON document (the whole report).
    Json,
    /// One row per discrepancy, with a header row.
    Csv,
}

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "problem,event_id,document_kind,document,xero_id,ledger_amount,xero_amount,detail,next_step,fixed,period_currency,period_start";

pub(super) fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// An amount as a cell: empty without one.
pub(super) fn opt_amount(value: Option<Decimal>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// `fields` as one CSV row, each quoted where it needs to be.
pub(super) fn push_csv_row(out: &mut String, fields: &[String]) {
    let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.push_str(&row.join(","));
    out.push('\n');
}

/// The line that counts what a report found, by kind (`name`), those `informational` apart;
/// `false` when it found nothing at all, so there is no table to follow.
pub(super) fn push_counts<K: Copy + Ord>(
    out: &mut String,
    counts: &BTreeMap<K, usize>,
    informational: impl Fn(K) -> bool,
    name: impl Fn(K) -> &'static str,
) -> bool {
    let (news, differences): (Vec<_>, Vec<_>) =
        counts.iter().partition(|(k, _)| informational(**k));
    let summary = |counts: &[(&K, &usize)]| {
        counts
            .iter()
            .map(|(k, n)| format!("{n} {}", name(**k)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if differences.is_empty() {
        let _ = writeln!(out, "OK: no discrepancies.");
        if news.is_empty() {
            return false;
        }
        let _ = writeln!(out, "For information: {}\n", summary(&news));
    } else {
        let total: usize = differences.iter().map(|(_, n)| **n).sum();
        let _ = writeln!(
            out,
            "{total} discrepancies: {}{}\n",
            summary(&differences),
            if news.is_empty() {
                String::new()
            } else {
                format!("; for information: {}", summary(&news))
            }
        );
    }
    true
}

/// `header` and `rows` in columns as wide as their widest cell, but the last (free text).
pub(super) fn push_table<R: AsRef<[String]>>(out: &mut String, header: &[&str], rows: &[R]) {
    let last = header.len() - 1;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.as_ref().iter().enumerate().take(last) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i < last {
                let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
            } else {
                text.push_str(cell);
            }
        }
        text.trim_end().to_owned()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in rows {
        let _ = writeln!(
            out,
            "{}",
            line(row.as_ref().iter().map(String::as_str).collect())
        );
    }
}

impl Report {
    /// The report as CSV: a header row and one row per discrepancy.
    pub fn csv(&self) -> String {
        let mut out = format!("{CSV_HEADER}\n");
        for d in &self.discrepancies {
            let fields = [
                d.problem.as_str().to_owned(),
                d.event_id.clone(),
                d.document_kind.clone(),
                d.document.clone(),
                d.xero_id.clone(),
                opt_amount(d.ledger_amount),
                opt_amount(d.xero_amount),
                d.detail.clone(),
                d.next_step.clone(),
                d.fixed.clone().unwrap_or_default(),
                d.period
                    .as_ref()
                    .map(|p| p.currency.clone())
                    .unwrap_or_default(),
                d.period
                    .as_ref()
                    .map(|p| p.start.clone())
                    .unwrap_or_default(),
            ];
            push_csv_row(&mut out, &fields);
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// The report for people: what was compared, one row per discrepancy, then what to do
    /// about each kind of problem.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let archive = self
            .sources
            .archive_events
            .map_or_else(|| "not read".to_owned(), |n| n.to_string());
        let _ = writeln!(
            out,
            "Shop {} (tenant {}), events received {} to {}: {} events (ledger {}, archive {}), \
             {} documents checked in Xero",
            self.shop,
            self.tenant,
            self.from,
            self.to,
            self.events,
            self.sources.ledger_events,
            archive,
            self.documents
        );
        let leg = &self.platform;
        let _ = match leg.status {
            LegStatus::Skipped => writeln!(out, "Platform API: skipped: {}", leg.reason),
            LegStatus::Read => writeln!(
                out,
                "Platform API: changes {} to {}: {} orders and {} refunds listed ({} of them \
                 booked by nothing, as the mapping wants), {} calls",
                leg.from, leg.to, leg.orders, leg.refunds, leg.not_bookable, leg.calls
            ),
            LegStatus::Failed => writeln!(out, "Platform API: FAILED: {}", leg.reason),
        };
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        let mut counts: BTreeMap<Problem, usize> = BTreeMap::new();
        for d in &self.discrepancies {
            *counts.entry(d.problem).or_default() += 1;
        }
        if !push_counts(&mut out, &counts, Problem::informational, Problem::as_str) {
            return out;
        }
        let rows: Vec<[String; 6]> = self
            .discrepancies
            .iter()
            .map(|d| {
                let amounts = match (d.ledger_amount, d.xero_amount) {
                    (Some(l), Some(x)) => format!("{l} / {x}"),
                    _ => String::new(),
                };
                [
                    d.problem.as_str().to_owned(),
                    // A summary document was booked by no one event: its period says which.
                    d.period
                        .as_ref()
                        .map_or_else(|| d.event_id.clone(), PeriodRef::label),
                    d.document.clone(),
                    amounts,
                    d.fixed.clone().unwrap_or_default(),
                    d.detail.clone(),
                ]
            })
            .collect();
        let header = [
            "PROBLEM",
            "EVENT OR PERIOD",
            "DOCUMENT",
            "LEDGER / XERO",
            "FIXED",
            "DETAIL",
        ];
        push_table(&mut out, &header, &rows);
        let _ = writeln!(out, "\nWhat to do:");
        let mut said = HashSet::new();
        for d in &self.discrepancies {
            if d.fixed.is_none() && said.insert((d.problem, d.next_step.clone())) {
                let _ = writeln!(out, "  {}: {}", d.problem.as_str(), d.next_step);
            }
        }
        if said.is_empty() {
            let _ = writeln!(
                out,
                "  everything reported was re-queued; once the processor has booked it, run \
                 reconcile again to confirm"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;

    fn report(discrepancies: Vec<Discrepancy>) -> Report {
        Report {
            shop: "acme".into(),
            tenant: "t".into(),
            from: "2026-11-01T00:00:00Z".into(),
            to: "2026-11-02T00:00:00Z".into(),
            sources: Sources::default(),
            platform: PlatformLeg::default(),
            events: 1,
            documents: 1,
            discrepancies,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn csv_quotes_what_needs_quoting_and_a_clean_report_exits_zero() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a, b"), "\"a, b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        let clean = report(Vec::new());
        assert_eq!(clean.exit_code(), 0);
        assert_eq!(clean.csv(), format!("{CSV_HEADER}\n"));
        assert!(clean.table().contains("OK: no discrepancies."));

        let dirty = report(vec![Discrepancy {
            problem: Problem::AmountMismatch,
            event_id: "shopify:acme:1".into(),
            document_kind: "invoice".into(),
            document: "SH-1".into(),
            xero_id: "x".into(),
            ledger_amount: Some(Decimal::new(6325, 2)),
            xero_amount: Some(Decimal::new(11500, 2)),
            detail: "totals differ, by a lot".into(),
            next_step: "correct it in Xero".into(),
            fixed: None,
            period: None,
            platform: None,
        }]);
        assert_eq!(dirty.exit_code(), 1);
        assert_eq!(
            dirty.csv().lines().nth(1).unwrap(),
            "amount_mismatch,shopify:acme:1,invoice,SH-1,x,63.25,115.00,\"totals differ, by a lot\",correct it in Xero,,,"
        );
        let table = dirty.table();
        assert!(
            table.contains("1 discrepancies: 1 amount_mismatch"),
            "{table}"
        );
        assert!(
            table.contains("amount_mismatch: correct it in Xero"),
            "{table}"
        );
    }

    #[test]
    fn a_summary_documents_row_names_its_period() {
        let summary = report(vec![Discrepancy {
            problem: Problem::PaymentMissing,
            event_id: String::new(),
            document_kind: "invoice".into(),
            document: "SH-S-20261120".into(),
            xero_id: "x".into(),
            ledger_amount: Some(Decimal::new(12575, 2)),
            xero_amount: Some(Decimal::ZERO),
            detail: "a payment was deleted".into(),
            next_step: "apply it".into(),
            fixed: None,
            period: Some(PeriodRef {
                shop: "acme".into(),
                currency: "NZD".into(),
                start: "2026-11-20T00:00:00+13:00".into(),
                end: "2026-11-21T00:00:00+13:00".into(),
            }),
            platform: None,
        }]);
        assert_eq!(summary.exit_code(), 1);
        assert!(
            summary
                .table()
                .contains("summary NZD from 2026-11-20T00:00:00+13:00  SH-S-20261120"),
            "{}",
            summary.table()
        );
        assert_eq!(
            summary.csv().lines().nth(1).unwrap(),
            "payment_missing,,invoice,SH-S-20261120,x,125.75,0,a payment was deleted,apply it,,\
             NZD,2026-11-20T00:00:00+13:00"
        );
        let json: serde_json::Value = serde_json::from_str(&summary.json()).unwrap();
        assert_eq!(json["discrepancies"][0]["period"]["currency"], "NZD");
        assert_eq!(json["discrepancies"][0]["period"]["shop"], "acme");
    }

    #[test]
    fn what_webhooks_missed_is_news_not_a_difference_and_the_platform_leg_says_what_it_read() {
        let missed = Discrepancy {
            problem: Problem::MissedByWebhooks,
            event_id: "shopify:acme:api:order:7@2026-11-20T01:00:00Z".into(),
            document_kind: "invoice".into(),
            document: "SH-7".into(),
            xero_id: String::new(),
            ledger_amount: None,
            xero_amount: None,
            detail: "booked by the poller's event".into(),
            next_step: "check the webhooks".into(),
            fixed: None,
            period: None,
            platform: None,
        };
        let mut news = report(vec![missed.clone()]);
        news.platform = PlatformLeg {
            status: LegStatus::Read,
            from: "2026-11-01T00:00:00Z".into(),
            to: "2026-11-02T00:00:00Z".into(),
            orders: 3,
            refunds: 1,
            not_bookable: 1,
            calls: 2,
            ..PlatformLeg::default()
        };
        assert_eq!(news.exit_code(), 0);
        let table = news.table();
        for words in [
            "Platform API: changes 2026-11-01T00:00:00Z to 2026-11-02T00:00:00Z: 3 orders and \
             1 refunds listed (1 of them booked by nothing, as the mapping wants), 2 calls",
            "OK: no discrepancies.\nFor information: 1 missed_by_webhooks",
            "missed_by_webhooks: check the webhooks",
        ] {
            assert!(table.contains(words), "{words:?} in\n{table}");
        }

        let mut both = report(vec![
            missed,
            Discrepancy {
                problem: Problem::PlatformNotBooked,
                document: "SH-8".into(),
                ..news.discrepancies[0].clone()
            },
        ]);
        both.platform = PlatformLeg {
            status: LegStatus::Failed,
            reason: "the platform API refused the shop's credentials".into(),
            ..PlatformLeg::default()
        };
        assert_eq!(both.exit_code(), 1);
        let table = both.table();
        for words in [
            "Platform API: FAILED: the platform API refused the shop's credentials",
            "1 discrepancies: 1 platform_not_booked; for information: 1 missed_by_webhooks",
        ] {
            assert!(table.contains(words), "{words:?} in\n{table}");
        }
        let skipped = report(Vec::new());
        assert!(skipped.table().contains("Platform API: skipped: "));
        let json: serde_json::Value = serde_json::from_str(&both.json()).unwrap();
        assert_eq!(json["platform"]["status"], "failed");
        assert_eq!(json["discrepancies"][1]["problem"], "platform_not_booked");
    }
}
