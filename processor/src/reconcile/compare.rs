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
        }
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
}

/// The events in the archive that the ledger does not know and that are not dead letters.
pub(super) fn unbooked_events(
    archive: &[ArchiveEvent],
    ledger_events: &BTreeMap<String, LedgerEvent>,
    dead_ids: &HashSet<String>,
    out: &mut Vec<Discrepancy>,
) {
    for event in archive {
        if ledger_events.contains_key(&event.event_id) || dead_ids.contains(&event.event_id) {
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
        });
    }
}

/// What Xero holds for the ledger's documents.
pub(super) struct XeroDocuments {
    /// By upper-cased number: invoices and credit notes (every status).
    by_number: HashMap<(String, String), Vec<Value>>,
    /// Live ACCREC invoices by upper-cased reference.
    by_reference: HashMap<String, Vec<Value>>,
}

impl XeroDocuments {
    pub(super) async fn fetch(
        xero: &XeroClient,
        shop: &ShopConfig,
        documents: &[BookedDocument],
    ) -> anyhow::Result<Self> {
        let tenant = shop.tenant.as_str();
        let mut found = XeroDocuments {
            by_number: HashMap::new(),
            by_reference: HashMap::new(),
        };
        let invoices: Vec<&BookedDocument> =
            documents.iter().filter(|d| d.kind == "invoice").collect();
        let credit_notes: Vec<&BookedDocument> =
            documents.iter().filter(|d| d.kind != "invoice").collect();

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
                    .entry(("invoice".to_owned(), number.to_uppercase()))
                    .or_default()
                    .push(invoice);
            }
        }
        let references: Vec<String> = invoices
            .iter()
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
                    .entry(("credit_note".to_owned(), number.to_uppercase()))
                    .or_default()
                    .push(credit_note);
            }
        }
        Ok(found)
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

/// Compares one ledger document with what Xero holds.
pub(super) fn check_document(
    shop: &ShopConfig,
    document: &BookedDocument,
    xero: &XeroDocuments,
    cancelled: &HashSet<String>,
    in_archive: bool,
    archive_read: bool,
    out: &mut Vec<Discrepancy>,
) {
    let is_invoice = document.kind == "invoice";
    let id_field = if is_invoice {
        "InvoiceID"
    } else {
        "CreditNoteID"
    };
    let noun = if is_invoice { "invoice" } else { "credit note" };
    let found = xero
        .by_number
        .get(&(document.kind.clone(), document.number.to_uppercase()))
        .map(Vec::as_slice)
        .unwrap_or_default();
    let base = |problem: Problem, detail: String, next_step: String| Discrepancy {
        problem,
        event_id: document.event_id.clone(),
        document_kind: document.kind.clone(),
        document: document.number.clone(),
        xero_id: document.xero_id.clone(),
        ledger_amount: None,
        xero_amount: None,
        detail,
        next_step,
        fixed: None,
    };
    let rebook = if in_archive {
        "run again with --fix: the ledger record is cleared and the event re-queued from \
         xcs.archive, so the processor books it again, once"
            .to_owned()
    } else if archive_read {
        format!(
            "the event is no longer in xcs.archive (kept 30 days), so --fix cannot re-queue \
             it: book {noun} {} in Xero by hand, or have the platform send the event again",
            document.number
        )
    } else {
        "make xcs.archive readable (import deploy/rabbitmq/definitions.json), then run again \
         with --fix"
            .to_owned()
    };
    let mine = found
        .iter()
        .find(|d| d[id_field].as_str() == Some(document.xero_id.as_str()))
        .or_else(|| found.iter().find(|d| is_live(d)))
        .or_else(|| found.first());
    let Some(mine) = mine else {
        out.push(base(
            Problem::MissingInXero,
            format!(
                "the ledger says {noun} {} ({}) was booked; Xero has no {noun} with that number",
                document.number, document.xero_id
            ),
            rebook,
        ));
        return;
    };
    let status = mine["Status"].as_str().unwrap_or_default();
    match status {
        "DELETED" => {
            out.push(base(
                Problem::Deleted,
                format!("{noun} {} was deleted in Xero", document.number),
                rebook,
            ));
            return;
        }
        "VOIDED" => {
            if !(is_invoice && cancelled.contains(&document.number)) {
                out.push(base(
                    Problem::Voided,
                    format!(
                        "{noun} {} was voided in Xero, but the processor did not void it (the \
                         order was not cancelled on the platform)",
                        document.number
                    ),
                    format!(
                        "if the void was a mistake, enter a new {noun} in Xero by hand (Xero \
                         keeps the voided number, so it cannot be booked again under it); if the \
                         sale really was cancelled, cancel or refund it on the platform too"
                    ),
                ));
            }
            return;
        }
        _ => {}
    }
    let xero_total = amount(&mine["Total"]);
    if xero_total != document.total {
        out.push(Discrepancy {
            ledger_amount: Some(document.total),
            xero_amount: Some(xero_total),
            ..base(
                Problem::AmountMismatch,
                format!(
                    "{noun} {} totals {xero_total} in Xero; the platform's (and the ledger's) \
                     total is {}",
                    document.number, document.total
                ),
                format!(
                    "{noun} {} was edited in Xero: compare it with order {} on the platform and \
                     correct it in Xero (or void it and enter the platform's figures)",
                    document.number,
                    document.order_number.trim()
                ),
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
        out.push(Discrepancy {
            ledger_amount: Some(document.applied),
            xero_amount: Some(xero_applied),
            ..base(
                Problem::PaymentMissing,
                format!(
                    "the ledger applied {} to {noun} {}; Xero shows {xero_applied} (a payment \
                     or allocation was deleted in Xero)",
                    document.applied, document.number
                ),
                format!(
                    "apply the missing {} to {noun} {} in Xero (see the payments in xcs_payments \
                     for doc_key {}), or check whether it was moved on purpose",
                    document.applied - xero_applied,
                    document.number,
                    document.doc_key
                ),
            )
        });
    }
    // Duplicates: other live documents with the same number, or (invoices) the order's
    // reference.
    let mut others: Vec<String> = found
        .iter()
        .filter(|d| is_live(d) && d[id_field] != mine[id_field])
        .map(|d| {
            format!(
                "{} ({})",
                d[if is_invoice {
                    "InvoiceNumber"
                } else {
                    "CreditNoteNumber"
                }]
                .as_str()
                .unwrap_or_default(),
                d[id_field].as_str().unwrap_or_default()
            )
        })
        .collect();
    if is_invoice {
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
        out.push(base(
            Problem::Duplicate,
            format!(
                "order {} has {} more live {noun}(s) in Xero besides {}: {}",
                document.order_number.trim(),
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
