//! Comparing: each document the ledger booked against what Xero holds (missing, deleted,
//! voided, amount changed, payments missing, duplicates), and the archive's events against
//! the ledger's (never booked). Reads Xero; changes nothing.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context as _;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;

use super::sources::{ArchiveEvent, LedgerEvent};
use super::summaries::SummaryDocument;
use crate::config::ShopConfig;
use crate::ledger::BookedDocument;
use crate::xero::client::XeroClient;
use crate::xero::documents::{amount, is_live};

const INVOICE_NUMBERS_PER_CALL: usize = 50;
const WHERE_CLAUSES_PER_CALL: usize = 20;
const PAGE_SIZE: usize = 100;

/// One kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The ledger says booked; Xero has no document with that number.
    MissingInXero,
    /// The document was deleted in Xero.
    Deleted,
    /// The document was voided in Xero, and not because the order was cancelled.
    Voided,
    /// Xero's total differs from the ledger's (the platform's).
    AmountMismatch,
    /// More than one live Xero document for one order or refund.
    Duplicate,
    /// The ledger recorded payments (or credit applied) that Xero does not show.
    PaymentMissing,
    /// The platform sent the event; the processor never recorded it and it is not dead.
    NotBooked,
    /// The platform's API lists an order or refund the mapping books, changed in the range,
    /// and the ledger has no document (or summary entry) for its id.
    PlatformNotBooked,
    /// Booked, but by an event the poller or a backfill read from the platform's API: no
    /// webhook had brought it. Informational: the books are right.
    MissedByWebhooks,
}

impl Problem {
    pub fn as_str(self) -> &'static str {
        match self {
            Problem::MissingInXero => "missing_in_xero",
            Problem::Deleted => "deleted",
            Problem::Voided => "voided",
            Problem::AmountMismatch => "amount_mismatch",
            Problem::Duplicate => "duplicate",
            Problem::PaymentMissing => "payment_missing",
            Problem::NotBooked => "not_booked",
            Problem::PlatformNotBooked => "platform_not_booked",
            Problem::MissedByWebhooks => "missed_by_webhooks",
        }
    }

    /// Whether this is news rather than a difference: it leaves the exit code at 0.
    pub fn informational(self) -> bool {
        self == Problem::MissedByWebhooks
    }
}

/// One difference, naming the event and the document.
#[derive(Debug, Clone, Serialize)]
pub struct Discrepancy {
    pub problem: Problem,
    /// The event (`xcs-event-id`) that booked the document, or that was never booked.
    pub event_id: String,
    /// `invoice` or `credit_note`; empty for an event never booked.
    pub document_kind: String,
    /// The Xero document number; empty for an event never booked.
    pub document: String,
    /// The document's Xero id as the ledger has it.
    pub xero_id: String,
    /// The ledger's figure (total, or payments applied), when one is compared.
    pub ledger_amount: Option<Decimal>,
    /// Xero's figure, when one is compared.
    pub xero_amount: Option<Decimal>,
    pub detail: String,
    /// What to do about it.
    pub next_step: String,
    /// What `--fix` did, if anything.
    pub fixed: Option<String>,
    /// For a summary document, the period it was posted for (then `event_id` is empty: no one
    /// event booked it).
    pub period: Option<PeriodRef>,
    /// For the platform leg's rows, the order or refund as the platform's API lists it.
    pub platform: Option<PlatformRef>,
}

/// An order or refund as the platform's API lists it, and as the processor reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformRef {
    /// `order` or `refund`.
    pub kind: String,
    /// The platform's id for it: the ledger's business key.
    pub id: String,
    /// The order's platform id (for an order, `id` again).
    pub order_id: String,
    /// The order's number as people see it.
    pub order_number: String,
    /// Its date as the document would carry it (`YYYY-MM-DD`); empty when it could not be read.
    pub date: String,
    pub total: Option<Decimal>,
    pub currency: String,
    /// The platform's modification time (or version mark) of what was listed.
    pub version: String,
}

impl Discrepancy {
    /// The order the report lists discrepancies in: by problem, then event or period, then
    /// document.
    pub(super) fn sort_key(&self) -> (Problem, &str, &str, &str, &str) {
        let (currency, start) = self
            .period
            .as_ref()
            .map_or(("", ""), |p| (p.currency.as_str(), p.start.as_str()));
        (
            self.problem,
            self.event_id.as_str(),
            start,
            currency,
            self.document.as_str(),
        )
    }
}

/// A summary period, as the report names it: the shop's, in one currency, from its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeriodRef {
    pub shop: String,
    pub currency: String,
    /// RFC 3339, in the shop's `timezone`.
    pub start: String,
    /// RFC 3339, exclusive.
    pub end: String,
}

impl PeriodRef {
    /// `summary NZD from 2026-11-20T00:00:00+13:00`: how the table's rows name the period.
    pub fn label(&self) -> String {
        format!("summary {} from {}", self.currency, self.start)
    }
}

/// The events in the archive that the ledger does not know and that are not dead letters.
/// A test-transaction's sample is left out: re-queued, it would book a sample order into the
/// seller's books long after the test.
pub(super) fn unbooked_events(
    archive: &[ArchiveEvent],
    ledger_events: &BTreeMap<String, LedgerEvent>,
    dead_ids: &HashSet<String>,
    tests: &HashSet<String>,
    out: &mut Vec<Discrepancy>,
) {
    for event in archive {
        if ledger_events.contains_key(&event.event_id)
            || dead_ids.contains(&event.event_id)
            || tests.contains(&event.event_id)
        {
            continue;
        }
        out.push(Discrepancy {
            problem: Problem::NotBooked,
            event_id: event.event_id.clone(),
            document_kind: String::new(),
            document: String::new(),
            xero_id: String::new(),
            ledger_amount: None,
            xero_amount: None,
            detail: "in xcs.archive, but the processor never recorded it and it is not in \
                     xcs.dead (lost from a shard, or still waiting in a retry tier)"
                .to_owned(),
            next_step: "run again with --fix to re-queue it from xcs.archive (booked once \
                        even if it is still in a retry tier)"
                .to_owned(),
            fixed: None,
            period: None,
            platform: None,
        });
    }
}

/// What Xero holds for the ledger's documents.
pub(super) struct XeroDocuments {
    /// By kind ([`INVOICE`], [`CREDIT_NOTE`]) and upper-cased number (every status).
    by_number: HashMap<(&'static str, String), Vec<Value>>,
    /// Live ACCREC invoices by upper-cased reference.
    by_reference: HashMap<String, Vec<Value>>,
}

impl XeroDocuments {
    /// Reads what Xero holds for `documents`, and the invoices carrying the order references
    /// of the real-time invoices among them (a summary has no order).
    pub(super) async fn fetch(
        xero: &XeroClient,
        shop: &ShopConfig,
        documents: &[&BookedDocument],
    ) -> anyhow::Result<Self> {
        let tenant = shop.tenant.as_str();
        let mut found = XeroDocuments {
            by_number: HashMap::new(),
            by_reference: HashMap::new(),
        };
        let invoices: Vec<&BookedDocument> = documents
            .iter()
            .copied()
            .filter(|d| kind_of(d) == INVOICE)
            .collect();
        let credit_notes: Vec<&BookedDocument> = documents
            .iter()
            .copied()
            .filter(|d| kind_of(d) == CREDIT_NOTE)
            .collect();

        for chunk in invoices.chunks(INVOICE_NUMBERS_PER_CALL) {
            let numbers = chunk
                .iter()
                .map(|d| d.number.as_str())
                .collect::<Vec<_>>()
                .join(",");
            for invoice in list(xero, tenant, "Invoices", &[("InvoiceNumbers", &numbers)]).await? {
                let number = invoice["InvoiceNumber"].as_str().unwrap_or_default();
                found
                    .by_number
                    .entry((INVOICE, number.to_uppercase()))
                    .or_default()
                    .push(invoice);
            }
        }
        let references: Vec<String> = invoices
            .iter()
            .filter(|d| d.kind == INVOICE)
            .map(|d| crate::mapping::invoice_reference(shop.platform, &d.order_number))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        for chunk in references.chunks(WHERE_CLAUSES_PER_CALL) {
            let clauses: Vec<String> = chunk
                .iter()
                .filter_map(|r| {
                    crate::xero::filter::string_literal(r).map(|q| format!("Reference=={q}"))
                })
                .collect();
            if clauses.is_empty() {
                continue;
            }
            let filter = format!("Type==\"ACCREC\" AND ({})", clauses.join(" OR "));
            for invoice in list(xero, tenant, "Invoices", &[("where", &filter)]).await? {
                if !is_live(&invoice) {
                    continue;
                }
                let reference = invoice["Reference"].as_str().unwrap_or_default();
                found
                    .by_reference
                    .entry(reference.to_uppercase())
                    .or_default()
                    .push(invoice);
            }
        }
        for chunk in credit_notes.chunks(WHERE_CLAUSES_PER_CALL) {
            let clauses: Vec<String> = chunk
                .iter()
                .filter_map(|d| {
                    crate::xero::filter::string_literal(&d.number)
                        .map(|q| format!("CreditNoteNumber=={q}"))
                })
                .collect();
            if clauses.is_empty() {
                continue;
            }
            let filter = clauses.join(" OR ");
            for credit_note in list(xero, tenant, "CreditNotes", &[("where", &filter)]).await? {
                let number = credit_note["CreditNoteNumber"].as_str().unwrap_or_default();
                found
                    .by_number
                    .entry((CREDIT_NOTE, number.to_uppercase()))
                    .or_default()
                    .push(credit_note);
            }
        }
        Ok(found)
    }
}

impl XeroDocuments {
    /// Xero's documents with `document`'s number.
    fn numbered(&self, document: &BookedDocument) -> &[Value] {
        self.by_number
            .get(&(kind_of(document), document.number.to_uppercase()))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The Xero document the ledger's `document` is: the one with its id, else a live one with
    /// its number, else any with its number.
    fn find(&self, document: &BookedDocument) -> Option<&Value> {
        let found = self.numbered(document);
        let id_field = id_field(kind_of(document));
        found
            .iter()
            .find(|d| d[id_field].as_str() == Some(document.xero_id.as_str()))
            .or_else(|| found.iter().find(|d| is_live(d)))
            .or_else(|| found.first())
    }

    /// Whether the advice for `document` needs the lines it was booked with: Xero no longer
    /// holds it (or holds it deleted), or holds it with another total.
    pub(super) fn needs_lines(&self, document: &BookedDocument) -> bool {
        self.find(document).is_none_or(|d| {
            d["Status"].as_str() == Some("DELETED") || amount(&d["Total"]) != document.total
        })
    }
}

const INVOICE: &str = "invoice";
const CREDIT_NOTE: &str = "credit_note";

/// `invoice` or `credit_note`, for a real-time document or a summary one alike.
fn kind_of(document: &BookedDocument) -> &'static str {
    match document.kind.as_str() {
        "invoice" | "summary_invoice" => INVOICE,
        _ => CREDIT_NOTE,
    }
}

fn id_field(kind: &str) -> &'static str {
    if kind == INVOICE {
        "InvoiceID"
    } else {
        "CreditNoteID"
    }
}

/// Every page of `GET /{collection}` with `query`.
async fn list(
    xero: &XeroClient,
    tenant: &str,
    collection: &str,
    query: &[(&str, &str)],
) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let page_size = PAGE_SIZE.to_string();
    for page in 1..=1000_u32 {
        let page_text = page.to_string();
        let mut params: Vec<(&str, &str)> = query.to_vec();
        params.extend([
            ("page", page_text.as_str()),
            ("pageSize", page_size.as_str()),
            ("unitdp", "4"),
        ]);
        let response = xero
            .call(
                tenant,
                Method::GET,
                &format!("/{collection}"),
                &params,
                None,
                None,
            )
            .await
            .with_context(|| {
                format!(
                    "cannot read {collection} from Xero for tenant {tenant}; run \
                     `xcs-processor check` to prove the connection, then run again"
                )
            })?;
        let items = response[collection].as_array().cloned().unwrap_or_default();
        let count = items.len();
        all.extend(items);
        let page_count = response["pagination"]["pageCount"].as_u64();
        let more = match page_count {
            Some(pages) => u64::from(page) < pages,
            None => count >= PAGE_SIZE,
        };
        if !more {
            break;
        }
    }
    Ok(all)
}

/// What a ledger document is, which decides what a difference means and what to do about it.
pub(super) enum Origin<'a> {
    /// Booked by a platform event in real-time mode.
    Event {
        /// The processor voided it itself: the order was cancelled.
        cancelled: bool,
        /// The event is in `xcs.archive`, so `--fix` can re-queue it.
        in_archive: bool,
        /// `xcs.archive` could be read at all.
        archive_read: bool,
    },
    /// Booked for `xcs-processor test-transaction`'s sample order: no sale.
    Test,
    /// Posted for a summary period.
    Summary(&'a SummaryDocument),
}

impl Origin<'_> {
    fn period(&self) -> Option<&PeriodRef> {
        match self {
            Origin::Summary(summary) => Some(&summary.period),
            _ => None,
        }
    }
}

/// Compares one ledger document with what Xero holds.
pub(super) fn check_document(
    shop: &ShopConfig,
    document: &BookedDocument,
    origin: &Origin<'_>,
    xero: &XeroDocuments,
    out: &mut Vec<Discrepancy>,
) {
    let kind = kind_of(document);
    let is_invoice = kind == INVOICE;
    let id_field = id_field(kind);
    let noun = if is_invoice { "invoice" } else { "credit note" };
    let what = match origin {
        Origin::Summary(summary) => format!("summary {noun} {}", summary.describe()),
        _ => format!("{noun} {}", document.number),
    };
    let base = |problem: Problem, detail: String, next_step: String| Discrepancy {
        problem,
        event_id: match origin {
            Origin::Summary(_) => String::new(),
            _ => document.event_id.clone(),
        },
        document_kind: kind.to_owned(),
        document: document.number.clone(),
        xero_id: document.xero_id.clone(),
        ledger_amount: None,
        xero_amount: None,
        detail,
        next_step,
        fixed: None,
        period: origin.period().cloned(),
        platform: None,
    };
    let Some(mine) = xero.find(document) else {
        // A sample order gone from Xero is what a test should leave behind.
        if !matches!(origin, Origin::Test) {
            out.push(base(
                Problem::MissingInXero,
                format!(
                    "the ledger says {what} ({}) was booked; Xero has no {noun} with that number",
                    document.xero_id
                ),
                book_again(origin, noun, document),
            ));
        }
        return;
    };
    let status = mine["Status"].as_str().unwrap_or_default();
    match (status, origin) {
        // The system's own: a test voided (or deleted) by test-transaction --void or by hand,
        // an invoice the processor voided because its order was cancelled.
        ("DELETED" | "VOIDED", Origin::Test) => return,
        (
            "VOIDED",
            Origin::Event {
                cancelled: true, ..
            },
        ) if is_invoice => return,
        ("DELETED", _) => {
            out.push(base(
                Problem::Deleted,
                format!("{what} was deleted in Xero"),
                book_again(origin, noun, document),
            ));
            return;
        }
        ("VOIDED", Origin::Summary(summary)) => {
            out.push(base(
                Problem::Voided,
                format!(
                    "{what} was voided in Xero; the processor never voids a summary, so the \
                     period's {} are no longer in the books",
                    if is_invoice { "sales" } else { "refunds" }
                ),
                format!(
                    "if the void was a mistake, enter the {noun} again under a new number (Xero \
                     keeps the voided one): open {noun} {number} in Xero → Options → Copy to, \
                     number it e.g. {number}-A, approve it, then record on it what the ledger \
                     applied: {}. If it was meant, the {} are still on the platform: account \
                     for them in Xero another way",
                    summary.applied_advice(is_invoice),
                    if is_invoice { "sales" } else { "refunds" },
                    number = document.number,
                ),
            ));
            return;
        }
        ("VOIDED", _) => {
            out.push(base(
                Problem::Voided,
                format!(
                    "{what} was voided in Xero, but the processor did not void it (the order \
                     was not cancelled on the platform)"
                ),
                format!(
                    "if the void was a mistake, enter a new {noun} in Xero by hand (Xero keeps \
                     the voided number, so it cannot be booked again under it); if the sale \
                     really was cancelled, cancel or refund it on the platform too"
                ),
            ));
            return;
        }
        _ => {}
    }
    let xero_total = amount(&mine["Total"]);
    if xero_total != document.total {
        let next_step = match origin {
            Origin::Summary(summary) => format!(
                "{what} was edited in Xero: the period's {} total {}; correct it in Xero to \
                 {} (or void it and enter the period's figures)",
                if is_invoice { "orders" } else { "refunds" },
                document.total,
                summary.lines_advice(),
            ),
            Origin::Test => test_advice(noun, document),
            Origin::Event { .. } => format!(
                "{what} was edited in Xero: compare it with order {} on the platform and \
                 correct it in Xero (or void it and enter the platform's figures)",
                document.order_number.trim()
            ),
        };
        out.push(Discrepancy {
            ledger_amount: Some(document.total),
            xero_amount: Some(xero_total),
            ..base(
                Problem::AmountMismatch,
                format!(
                    "{what} totals {xero_total} in Xero; {} total is {}",
                    match origin {
                        Origin::Summary(_) => "the ledger's (the sum of the period's)",
                        _ => "the platform's (and the ledger's)",
                    },
                    document.total
                ),
                next_step,
            )
        });
    }
    // Money the ledger applied: cash payments on an invoice; allocations and cash refunds on a
    // credit note.
    let xero_applied = if is_invoice {
        amount(&mine["AmountPaid"])
    } else {
        amount(&mine["Total"]) - amount(&mine["RemainingCredit"])
    };
    if xero_applied < document.applied {
        let missing = document.applied - xero_applied;
        let next_step = match origin {
            Origin::Summary(summary) => format!(
                "apply the missing {missing} to {noun} {} in Xero (the ledger applied: {})",
                document.number,
                summary.applied_advice(is_invoice)
            ),
            Origin::Test => test_advice(noun, document),
            Origin::Event { .. } => format!(
                "apply the missing {missing} to {noun} {} in Xero (see the payments in \
                 xcs_payments for doc_key {}), or check whether it was moved on purpose",
                document.number, document.doc_key
            ),
        };
        out.push(Discrepancy {
            ledger_amount: Some(document.applied),
            xero_amount: Some(xero_applied),
            ..base(
                Problem::PaymentMissing,
                format!(
                    "the ledger applied {} to {what}; Xero shows {xero_applied} (a payment or \
                     allocation was deleted in Xero)",
                    document.applied
                ),
                next_step,
            )
        });
    }
    // Duplicates: other live documents with the same number, or (an order's invoice) the
    // order's reference.
    let number_field = if is_invoice {
        "InvoiceNumber"
    } else {
        "CreditNoteNumber"
    };
    let mut others: Vec<String> = xero
        .numbered(document)
        .iter()
        .filter(|d| is_live(d) && d[id_field] != mine[id_field])
        .map(|d| {
            format!(
                "{} ({})",
                d[number_field].as_str().unwrap_or_default(),
                d[id_field].as_str().unwrap_or_default()
            )
        })
        .collect();
    if document.kind == INVOICE {
        let reference =
            crate::mapping::invoice_reference(shop.platform, &document.order_number).to_uppercase();
        for d in xero.by_reference.get(&reference).into_iter().flatten() {
            if d["InvoiceID"] != mine["InvoiceID"] {
                let label = format!(
                    "{} ({})",
                    d["InvoiceNumber"].as_str().unwrap_or_default(),
                    d["InvoiceID"].as_str().unwrap_or_default()
                );
                if !others.contains(&label) {
                    others.push(label);
                }
            }
        }
    }
    if !others.is_empty() {
        let whose = match origin {
            Origin::Summary(summary) => format!("period {}", summary.period.label()),
            _ => format!("order {}", document.order_number.trim()),
        };
        out.push(base(
            Problem::Duplicate,
            format!(
                "{whose} has {} more live {noun}(s) in Xero besides {}: {}",
                others.len(),
                document.number,
                others.join(", ")
            ),
            format!(
                "void the extra {noun}(s) in Xero and keep {} (the one the ledger records)",
                document.number
            ),
        ));
    }
}

/// What to do about a document gone from Xero.
fn book_again(origin: &Origin<'_>, noun: &str, document: &BookedDocument) -> String {
    match origin {
        Origin::Event {
            in_archive: true, ..
        } => "run again with --fix: the ledger record is cleared and the event re-queued from \
              xcs.archive, so the processor books it again, once"
            .to_owned(),
        Origin::Event {
            archive_read: true, ..
        } => format!(
            "the event is no longer in xcs.archive (kept 30 days), so --fix cannot re-queue \
             it: book {noun} {} in Xero by hand, or have the platform send the event again",
            document.number
        ),
        Origin::Event { .. } => "make xcs.archive readable (import \
                                 deploy/rabbitmq/definitions.json), then run again with --fix"
            .to_owned(),
        Origin::Test => test_advice(noun, document),
        // Posting the period again is not safe: money received later for its orders may
        // already be paid onto this invoice, or be waiting in an open period to be, and
        // would be paid twice.
        Origin::Summary(summary) => format!(
            "--fix does not post a summary again (its period is closed, and money received \
             later for its orders could be paid twice): enter {noun} {} in Xero by hand \
             against the shop's contact, dated {}, amounts exclusive of tax, one line per \
             account and tax type: {}; approve it, then record on it what the ledger applied: \
             {}; then run reconcile again",
            document.number,
            summary.date,
            summary.lines_advice(),
            summary.applied_advice(kind_of(document) == INVOICE),
        ),
    }
}

fn test_advice(noun: &str, document: &BookedDocument) -> String {
    format!(
        "{noun} {} is test-transaction's sample order, not a sale: void it in Xero (remove its \
         payments first: the payment → Options → Remove and Redo; then Options → Void), or run \
         test-transaction with --void next time",
        document.number
    )
}
