//! Reconcile (`xcs-processor reconcile`): what the platform sent for a shop over a time range,
//! what the ledger says was booked for it, and what Xero holds, compared; every difference is
//! reported with the event and the document it concerns, and `--fix` re-queues what can be
//! booked again.
//!
//! # Sources of truth
//! - **What the platform sent**: the ledger's `xcs_events` (every event the processor
//!   handled) together with the archive stream `xcs.archive` (every event the ingress
//!   published, headers and raw body, kept 30 days). Only the archive knows the events the
//!   processor never recorded (lost from a shard, still in a retry tier, or dropped by a bug),
//!   and only the archive holds the payloads a fix must republish; the ledger reaches back
//!   further than the archive's 30 days. An event in the archive that the ledger does not know
//!   and that is not in the dead queue `xcs.dead` is *not booked* (dead letters have their own
//!   tool, `dead list`). When the archive cannot be read the ledger is compared alone, and the
//!   report says so.
//! - **What was booked**: the ledger's `xcs_documents` and `xcs_payments` for those events.
//!   A document's total there is Xero's own total when it was booked, which the mapping makes
//!   equal to the platform's to the cent, so it stands for the platform's total.
//! - **What Xero holds**: read back through the processor's [`XeroClient`] (its per-tenant
//!   rate limits apply): invoices by `InvoiceNumbers=` (the explicit filter Xero recommends
//!   over `OR` in `where`), 50 numbers a call; other ACCREC invoices carrying an order's
//!   `Reference` (duplicates) and credit notes by `CreditNoteNumber` with `where` (the
//!   credit notes endpoint has no numbers filter), 20 clauses a call. Every list is paged
//!   (`page`, 100 a page), so nothing is cut off.
//!
//! # Fixing
//! `--fix` handles what can be booked again without a person deciding anything: a document
//! missing or deleted in Xero (its ledger record, payments and the event's record are cleared
//! in one transaction, then the event that booked it is republished from the archive), and an
//! event never booked (republished). Republished copies go to the shards exchange with
//! confirms and `mandatory` (a cleared document's event counted as one attempt, so its
//! idempotency keys are new), so the processor books them as any delivery: deterministic
//! numbers, idempotency keys and the adopt-on-"must be unique" rule keep every document
//! booked once, even when an event is republished twice or was still in a retry tier. A
//! voided document, an amount changed in Xero, a duplicate and a missing payment are
//! reported with what to do, never changed: each needs someone to decide.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::str::FromStr as _;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use lapin::Connection;
use lapin::types::AMQPValue;
use reqwest::Method;
use rust_decimal::Decimal;
use secrecy::ExposeSecret as _;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio_postgres::NoTls;
use xcs_shared::envelope::header as envelope;
use xcs_shared::topology::SHARDS_EXCHANGE;

use crate::config::{Config, PostgresConfig, ShopConfig};
use crate::handoff::header::ATTEMPTS;
use crate::operate::dead::{self, Filter};
use crate::operate::resync::ArchiveReader;
use crate::operate::ProgressBar;
use crate::publisher::{header_str, now_rfc3339, rewrite_headers, text};
use crate::xero::client::XeroClient;

/// On an event `--fix` republished: RFC 3339 time of the reconcile.
pub const RECONCILED_AT: &str = "xcs-reconciled-at";

/// How far around the range the ledger and the archive are read: the broker's clock and the
/// ingress's `xcs-received-at` may differ a little.
const CLOCK_SLACK: Duration = Duration::from_secs(300);
const INVOICE_NUMBERS_PER_CALL: usize = 50;
const WHERE_CLAUSES_PER_CALL: usize = 20;
const PAGE_SIZE: usize = 100;

/// What to reconcile.
#[derive(Debug, Clone)]
pub struct ReconcileOptions {
    /// The shop (its name in the config).
    pub shop: String,
    /// Events the ingress received at or after this time...
    pub from: OffsetDateTime,
    /// ...and before this time.
    pub to: OffsetDateTime,
    /// Re-queue what can be booked again (see the module docs).
    pub fix: bool,
    pub progress: ProgressBar,
}

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

/// What a reconcile found (and fixed).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub shop: String,
    pub tenant: String,
    pub from: String,
    pub to: String,
    pub sources: Sources,
    /// Distinct events compared.
    pub events: usize,
    /// Ledger documents looked up in Xero.
    pub documents: usize,
    pub discrepancies: Vec<Discrepancy>,
    /// What limits the comparison (an unreadable archive, say), with what to do.
    pub warnings: Vec<String>,
}

impl Report {
    /// 0 when everything agrees, 1 when anything differs.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.discrepancies.is_empty())
    }
}

/// A ledger event: what the processor noted about it.
struct LedgerEvent {
    detail: String,
}

/// A ledger document with what was paid against it.
struct LedgerDocument {
    doc_key: String,
    kind: String,
    number: String,
    xero_id: String,
    total: Decimal,
    order_number: String,
    event_id: String,
    applied: Decimal,
}

/// An event read from the archive.
#[derive(Debug, Clone)]
struct ArchiveEvent {
    event_id: String,
}

fn known_shop<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c ShopConfig> {
    config.shops.get(name).with_context(|| {
        format!(
            "shop {name:?} is not in the config; give one of {} as --shop (the name in \
             [shops.NAME])",
            config.shops.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })
}

/// Opens a pool on the ledger's schema (the processor's tables; nothing is migrated).
fn pool(config: &PostgresConfig) -> anyhow::Result<Pool> {
    let mut pg = tokio_postgres::Config::from_str(config.url.expose_secret())
        .context("[postgres].url is not a PostgreSQL URL; fix it (or XCS_POSTGRES_URL)")?;
    pg.options(format!("-c search_path={}", config.schema));
    pg.connect_timeout(Duration::from_secs(5));
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(2)
        .build()
        .context("cannot set up the PostgreSQL pool")
}

fn postgres_hint() -> &'static str {
    "cannot read the ledger; check [postgres].url and schema (or XCS_POSTGRES_URL) and that \
     PostgreSQL is up"
}

/// Reconciles a shop over `[from, to)`. `amqp` is needed to read the archive and the dead
/// queue, and for `--fix`.
///
/// # Errors
/// When the shop is unknown, the ledger or Xero cannot be read, or (with `--fix`) RabbitMQ
/// is unreachable or a republish is not confirmed. Each message says what to do.
pub async fn reconcile(
    config: &Config,
    xero: &XeroClient,
    amqp: Option<&Connection>,
    options: &ReconcileOptions,
) -> anyhow::Result<Report> {
    anyhow::ensure!(
        options.from < options.to,
        "--from must be before --to (the range is [from, to))"
    );
    let shop = known_shop(config, &options.shop)?;
    if options.fix && amqp.is_none() {
        anyhow::bail!("--fix republishes events and needs RabbitMQ; check [amqp].uri");
    }
    let pool = pool(&config.postgres)?;
    let mut report = Report {
        shop: options.shop.clone(),
        tenant: shop.tenant.clone(),
        from: options.from.format(&Rfc3339).unwrap_or_default(),
        to: options.to.format(&Rfc3339).unwrap_or_default(),
        sources: Sources::default(),
        events: 0,
        documents: 0,
        discrepancies: Vec::new(),
        warnings: Vec::new(),
    };
    let progress = &options.progress;

    // What the platform sent: the ledger's events, and the archive's.
    progress.set_message("reading the ledger");
    let ledger_events = ledger_events(&pool, options).await?;
    report.sources.ledger_events = ledger_events.len();
    let mut archive: Option<Vec<ArchiveEvent>> = None;
    let mut dead_ids: HashSet<String> = HashSet::new();
    if let Some(connection) = amqp {
        progress.set_message("reading xcs.archive");
        match scan_archive(connection, options, None).await {
            Ok((events, _)) => archive = Some(events),
            Err(err) => report.warnings.push(format!(
                "xcs.archive could not be read ({err:#}): events the processor never recorded \
                 cannot be found, and --fix cannot republish; import \
                 deploy/rabbitmq/definitions.json into the vhost and run again"
            )),
        }
        progress.set_message("reading xcs.dead");
        let filter = Filter {
            shop: Some(options.shop.clone()),
            ..Filter::default()
        };
        match dead::list(connection, &filter, &ProgressBar::hidden()).await {
            Ok(listing) => {
                report.sources.dead_letters = Some(listing.letters.len());
                dead_ids.extend(listing.letters.into_iter().map(|l| l.event_id));
            }
            Err(err) => report.warnings.push(format!(
                "xcs.dead could not be read ({err:#}): dead-lettered events may be reported as \
                 not booked; check them with `xcs-processor dead list --shop {}`",
                options.shop
            )),
        }
    } else {
        report.warnings.push(
            "RabbitMQ was not reached: only the ledger was compared with Xero; events the \
             processor never recorded cannot be found"
                .to_owned(),
        );
    }
    let archived: HashSet<String> = archive
        .iter()
        .flatten()
        .map(|e| e.event_id.clone())
        .collect();
    report.sources.archive_events = archive.as_ref().map(Vec::len);

    let mut event_ids: Vec<String> = ledger_events.keys().cloned().collect();
    for event in archive.iter().flatten() {
        if !ledger_events.contains_key(&event.event_id) {
            event_ids.push(event.event_id.clone());
        }
    }
    report.events = event_ids.len();

    // Events never booked.
    for event in archive.iter().flatten() {
        if ledger_events.contains_key(&event.event_id) || dead_ids.contains(&event.event_id) {
            continue;
        }
        report.discrepancies.push(Discrepancy {
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

    // What was booked, against what Xero holds.
    progress.set_message("reading the ledger's documents");
    let documents = ledger_documents(&pool, &shop.tenant, &options.shop, &event_ids).await?;
    report.documents = documents.len();
    progress.set_message("reading Xero");
    let xero_docs = XeroDocuments::fetch(xero, shop, &documents).await?;
    let cancelled: HashSet<String> = ledger_events
        .values()
        .filter_map(|e| {
            e.detail
                .strip_prefix("invoice ")
                .and_then(|rest| rest.strip_suffix(" voided: the order was cancelled"))
                .map(str::to_owned)
        })
        .collect();
    for document in &documents {
        check_document(
            shop,
            document,
            &xero_docs,
            &cancelled,
            archived.contains(&document.event_id),
            archive.is_some(),
            &mut report.discrepancies,
        );
    }
    report
        .discrepancies
        .sort_by(|a, b| (a.problem, &a.event_id).cmp(&(b.problem, &b.event_id)));

    if options.fix
        && let Some(connection) = amqp
    {
        fix(
            &pool,
            connection,
            &shop.tenant,
            &documents,
            options,
            &mut report,
        )
        .await?;
    }
    progress.finish_and_clear();
    Ok(report)
}

/// The shop's events the ledger recorded, received in the range.
async fn ledger_events(
    pool: &Pool,
    options: &ReconcileOptions,
) -> anyhow::Result<BTreeMap<String, LedgerEvent>> {
    let client = pool.get().await.context(postgres_hint())?;
    // Processed after received (give or take clocks): the index on processed_at narrows it.
    let since = options.from - CLOCK_SLACK;
    let rows = client
        .query(
            "SELECT event_id, received_at, detail FROM xcs_events
             WHERE shop = $1 AND processed_at >= $2",
            &[&options.shop, &since],
        )
        .await
        .context(
            "cannot read xcs_events; is [postgres].schema the processor's schema, and has the \
             processor started once (it creates the tables)?",
        )?;
    let mut events = BTreeMap::new();
    for row in rows {
        let received: String = row.get(1);
        let Ok(at) = OffsetDateTime::parse(&received, &Rfc3339) else {
            continue;
        };
        if at >= options.from && at < options.to {
            events.insert(row.get(0), LedgerEvent { detail: row.get(2) });
        }
    }
    Ok(events)
}

/// The documents booked by `event_ids`, with what the ledger applied to each.
async fn ledger_documents(
    pool: &Pool,
    tenant: &str,
    shop: &str,
    event_ids: &[String],
) -> anyhow::Result<Vec<LedgerDocument>> {
    let client = pool.get().await.context(postgres_hint())?;
    let rows = client
        .query(
            "SELECT d.doc_key, d.kind, d.number, d.xero_id, d.total, d.order_number, d.event_id,
                    COALESCE((SELECT SUM(p.amount) FROM xcs_payments p
                              WHERE p.tenant = d.tenant AND p.doc_key = d.doc_key), 0)
             FROM xcs_documents d
             WHERE d.tenant = $1 AND d.shop = $2 AND d.event_id = ANY($3)
             ORDER BY d.created_at, d.doc_key",
            &[&tenant, &shop, &event_ids],
        )
        .await
        .context("cannot read xcs_documents; check [postgres].schema")?;
    Ok(rows
        .iter()
        .map(|r| LedgerDocument {
            doc_key: r.get(0),
            kind: r.get(1),
            number: r.get(2),
            xero_id: r.get(3),
            total: r.get(4),
            order_number: r.get(5),
            event_id: r.get(6),
            applied: r.get(7),
        })
        .collect())
}

/// What Xero holds for the ledger's documents.
struct XeroDocuments {
    /// By upper-cased number: invoices and credit notes (every status).
    by_number: HashMap<(String, String), Vec<Value>>,
    /// Live ACCREC invoices by upper-cased reference.
    by_reference: HashMap<String, Vec<Value>>,
}

impl XeroDocuments {
    async fn fetch(
        xero: &XeroClient,
        shop: &ShopConfig,
        documents: &[LedgerDocument],
    ) -> anyhow::Result<Self> {
        let tenant = shop.tenant.as_str();
        let mut found = XeroDocuments {
            by_number: HashMap::new(),
            by_reference: HashMap::new(),
        };
        let invoices: Vec<&LedgerDocument> =
            documents.iter().filter(|d| d.kind == "invoice").collect();
        let credit_notes: Vec<&LedgerDocument> =
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
                if is_dead(&invoice) {
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

fn is_dead(document: &Value) -> bool {
    matches!(document["Status"].as_str(), Some("DELETED" | "VOIDED"))
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

fn amount(value: &Value) -> Decimal {
    match value {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

/// Compares one ledger document with what Xero holds.
fn check_document(
    shop: &ShopConfig,
    document: &LedgerDocument,
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
        .or_else(|| found.iter().find(|d| !is_dead(d)))
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
        .filter(|d| !is_dead(d) && d[id_field] != mine[id_field])
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

/// Clears the stale ledger records and republishes, for what can be booked again.
async fn fix(
    pool: &Pool,
    connection: &Connection,
    tenant: &str,
    documents: &[LedgerDocument],
    options: &ReconcileOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let archived = report.sources.archive_events.is_some();
    if !archived {
        report.warnings.push(
            "--fix did nothing: xcs.archive, where the events' payloads are, could not be read"
                .to_owned(),
        );
        return Ok(());
    }
    // Which events to republish (and whether their document records are cleared), and which
    // documents' records to clear first.
    let mut republish: HashMap<String, bool> = HashMap::new();
    let mut clear: Vec<&LedgerDocument> = Vec::new();
    for discrepancy in &report.discrepancies {
        match discrepancy.problem {
            Problem::NotBooked => {
                republish
                    .entry(discrepancy.event_id.clone())
                    .or_insert(false);
            }
            Problem::MissingInXero | Problem::Deleted
                if discrepancy.next_step.starts_with("run again with --fix") =>
            {
                republish.insert(discrepancy.event_id.clone(), true);
                clear.extend(documents.iter().filter(|d| {
                    d.event_id == discrepancy.event_id && d.number == discrepancy.document
                }));
            }
            _ => {}
        }
    }
    if republish.is_empty() {
        return Ok(());
    }
    // Clear first: once republished, the processor must not find the stale record. If the
    // republish then fails, the event shows up as not booked next time, and --fix re-queues it.
    let mut client = pool.get().await.context(postgres_hint())?;
    let tx = client.transaction().await.context(postgres_hint())?;
    for document in &clear {
        tx.execute(
            "DELETE FROM xcs_payments WHERE tenant = $1 AND doc_key = $2",
            &[&tenant, &document.doc_key],
        )
        .await?;
        tx.execute(
            "DELETE FROM xcs_documents WHERE tenant = $1 AND doc_key = $2",
            &[&tenant, &document.doc_key],
        )
        .await?;
        tx.execute(
            "DELETE FROM xcs_events WHERE event_id = $1",
            &[&document.event_id],
        )
        .await?;
    }
    tx.commit()
        .await
        .context("cannot clear the stale ledger records; nothing was changed, run again")?;

    let (_, republished) = scan_archive(connection, options, Some(&republish))
        .await
        .context(
            "re-queueing from xcs.archive failed part-way; run reconcile --fix again (what was \
             re-queued is booked once)",
        )?;
    let republished: HashSet<String> = republished.into_iter().collect();
    for discrepancy in &mut report.discrepancies {
        if !republished.contains(&discrepancy.event_id) {
            continue;
        }
        discrepancy.fixed = Some(match discrepancy.problem {
            Problem::NotBooked => "re-queued from xcs.archive".to_owned(),
            Problem::MissingInXero | Problem::Deleted => {
                "ledger record cleared; event re-queued from xcs.archive".to_owned()
            }
            _ => continue,
        });
    }
    for event_id in republish.keys() {
        if !republished.contains(event_id) {
            report.warnings.push(format!(
                "event {event_id} was not found in xcs.archive when re-queueing (retention \
                 removed it meanwhile?): have the platform send it again"
            ));
        }
    }
    Ok(())
}

/// Reads the shop's events in the range from the archive; with `republish`, republishes
/// those events (each once) to the shards with confirms. Returns the events read and the ids
/// republished.
async fn scan_archive(
    connection: &Connection,
    options: &ReconcileOptions,
    republish: Option<&HashMap<String, bool>>,
) -> anyhow::Result<(Vec<ArchiveEvent>, Vec<String>)> {
    let mut archive = ArchiveReader::open(connection, options.from, "reconcile").await?;
    let stamp = now_rfc3339();
    let mut events = Vec::new();
    let mut republished = Vec::new();
    let mut seen = HashSet::new();
    let result = async {
        while let Some((delivery, received)) = archive.next(options.to).await? {
            let headers = delivery.properties.headers().as_ref();
            let matches = received >= options.from
                && received < options.to
                && header_str(headers, envelope::SHOP).as_deref() == Some(options.shop.as_str());
            let Some(event_id) = header_str(headers, envelope::EVENT_ID).filter(|_| matches) else {
                continue;
            };
            if !seen.insert(event_id.clone()) {
                continue;
            }
            if let Some(cleared) = republish.and_then(|wanted| wanted.get(&event_id)) {
                let mut set = vec![(RECONCILED_AT, text(&stamp))];
                if *cleared {
                    // Counted as one attempt, so the booking's idempotency keys differ from
                    // the first booking's: within 6 minutes Xero would otherwise replay its
                    // cached answer, naming the document that is gone.
                    set.push((ATTEMPTS, AMQPValue::LongLongInt(1)));
                }
                let properties = delivery.properties.clone().with_headers(rewrite_headers(
                    headers,
                    |name| name == "x-stream-offset" || name == ATTEMPTS,
                    set,
                ));
                archive
                    .publisher
                    .publish(SHARDS_EXCHANGE, "reconcile", &delivery.data, properties)
                    .await
                    .with_context(|| format!("cannot republish event {event_id}"))?;
                republished.push(event_id.clone());
            }
            events.push(ArchiveEvent { event_id });
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    archive.close().await;
    result?;
    Ok((events, republished))
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
pub const CSV_HEADER: &str = "problem,event_id,document_kind,document,xero_id,ledger_amount,xero_amount,detail,next_step,fixed";

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

fn opt_amount(value: Option<Decimal>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
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
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
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
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        if self.discrepancies.is_empty() {
            let _ = writeln!(out, "OK: no discrepancies.");
            return out;
        }
        let mut counts: BTreeMap<Problem, usize> = BTreeMap::new();
        for d in &self.discrepancies {
            *counts.entry(d.problem).or_default() += 1;
        }
        let summary: Vec<String> = counts
            .iter()
            .map(|(p, n)| format!("{n} {}", p.as_str()))
            .collect();
        let _ = writeln!(
            out,
            "{} discrepancies: {}\n",
            self.discrepancies.len(),
            summary.join(", ")
        );
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
                    d.event_id.clone(),
                    d.document.clone(),
                    amounts,
                    d.fixed.clone().unwrap_or_default(),
                    d.detail.clone(),
                ]
            })
            .collect();
        let header = [
            "PROBLEM",
            "EVENT",
            "DOCUMENT",
            "LEDGER / XERO",
            "FIXED",
            "DETAIL",
        ];
        let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
        for row in &rows {
            for (i, cell) in row.iter().enumerate().take(5) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i < 5 {
                    let _ = write!(text, "{cell:<width$}  ", width = widths[i]);
                } else {
                    text.push_str(cell);
                }
            }
            text.trim_end().to_owned()
        };
        let _ = writeln!(out, "{}", line(header.to_vec()));
        for row in &rows {
            let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
        }
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

/// `xcs-processor reconcile`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The shop (its name in the config).
    #[arg(long)]
    pub shop: String,
    /// Start of the range (RFC 3339, or a date meaning midnight UTC), by the time the ingress
    /// received each event.
    #[arg(long, value_parser = crate::operate::parse_time)]
    pub from: OffsetDateTime,
    /// End of the range, exclusive (RFC 3339, or a date meaning midnight UTC).
    #[arg(long, value_parser = crate::operate::parse_time)]
    pub to: OffsetDateTime,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Re-queue what can be booked again: documents missing or deleted in Xero (their stale
    /// ledger records are cleared) and events never booked, from xcs.archive.
    #[arg(long)]
    pub fix: bool,
}

/// Runs `reconcile` and prints the report to stdout; returns the exit code: 0 when everything
/// agrees, 1 when there are discrepancies, 2 when the reconcile could not run (the reason and
/// what to do are printed to stderr).
pub async fn run_cli(config: &Config, args: ReconcileArgs) -> i32 {
    match run(config, args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            2
        }
    }
}

async fn run(config: &Config, args: ReconcileArgs) -> anyhow::Result<i32> {
    known_shop(config, &args.shop)?;
    anyhow::ensure!(
        args.from < args.to,
        "--from must be before --to (the range is [from, to))"
    );
    let ledger = crate::ledger::Ledger::lazy(&config.postgres)
        .context("[postgres].url is not valid; fix it (or XCS_POSTGRES_URL)")?;
    let xero = XeroClient::new(&config.xero, ledger)
        .context("cannot set up the Xero client; check [xero]")?;
    let amqp = lapin::Connection::connect(
        config.amqp.uri.expose_secret(),
        lapin::ConnectionProperties::default(),
    )
    .await;
    let amqp = match amqp {
        Ok(connection) => Some(connection),
        Err(err) if !args.fix => {
            eprintln!(
                "warning: cannot connect to RabbitMQ ({err}); comparing the ledger with Xero \
                 only. Check [amqp].uri (or XCS_AMQP_URI) to include xcs.archive"
            );
            None
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(
                "--fix needs RabbitMQ; check [amqp].uri (or XCS_AMQP_URI) and that RabbitMQ is up",
            ));
        }
    };
    let options = ReconcileOptions {
        shop: args.shop,
        from: args.from,
        to: args.to,
        fix: args.fix,
        progress: crate::operate::progress_bar(None, "reconciling"),
    };
    let report = reconcile(config, &xero, amqp.as_ref(), &options).await;
    if let Some(connection) = amqp {
        let _ = connection.close(200, "done".into()).await;
    }
    let report = report?;
    let text = match args.format {
        Format::Table => report.table(),
        Format::Json => report.json() + "\n",
        Format::Csv => report.csv(),
    };
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    Ok(report.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(discrepancies: Vec<Discrepancy>) -> Report {
        Report {
            shop: "acme".into(),
            tenant: "t".into(),
            from: "2026-11-01T00:00:00Z".into(),
            to: "2026-11-02T00:00:00Z".into(),
            sources: Sources::default(),
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
        }]);
        assert_eq!(dirty.exit_code(), 1);
        assert_eq!(
            dirty.csv().lines().nth(1).unwrap(),
            "amount_mismatch,shopify:acme:1,invoice,SH-1,x,63.25,115.00,\"totals differ, by a lot\",correct it in Xero,"
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
}
