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
//! - **What the platform has**: the shop's platform API, read with the poller's lists over the
//!   platform modification times in the range (not the last `settle_secs`), every order and
//!   refund compared with the ledger by its platform id (`platform.rs`): what no event of ours
//!   booked, and what only the poller or a backfill did. Skipped, and said so, for a shop
//!   without `[api]`; a failing API is reported beside the rest.
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
//! in one transaction, then the event that booked it is republished from the archive), an
//! event never booked (republished), and an order or refund the platform lists that nothing
//! booked (published to `xcs.events` as a backfill event, as `backfill` publishes, and booked
//! by its platform id). Republished copies go to the shards exchange with confirms and
//! `mandatory` (a cleared document's event counted as one attempt, so its idempotency keys
//! are new), so the processor books them as any delivery: deterministic
//! numbers, idempotency keys and the adopt-on-"must be unique" rule keep every document
//! booked once, even when an event is republished twice or was still in a retry tier. A
//! voided document, an amount changed in Xero, a duplicate and a missing payment are
//! reported with what to do, never changed: each needs someone to decide.
//!
//! # Layout
//! - `mod.rs` (here): [`reconcile`], which reads the sources, compares, fixes (with `--fix`)
//!   and returns the [`Report`].
//! - `sources.rs`: what the platform sent, from the ledger and the archive stream.
//! - `platform.rs`: the platform leg: what the platform's API lists, against the ledger.
//! - `compare.rs`: the ledger's documents against Xero's, and the archive's events against the
//!   ledger's, as [`Discrepancy`]s.
//! - `fix.rs`: what `--fix` clears and re-queues.
//! - `report.rs`: the [`Report`] as a table, JSON or CSV.
//! - `stock.rs`: `--stock`, a tracked shop's stock per Xero item code against Xero's
//!   quantities ([`reconcile_stock`], [`StockReport`]).
//! - `payouts.rs`: `--payouts`, per payout the bank shows in the period, its deposit against
//!   the transfer Xero holds and what its booking left in the clearing account, held payouts
//!   with their reason ([`reconcile_payouts`], [`PayoutReport`]).
//! - `cli.rs`: `xcs-processor reconcile` ([`ReconcileArgs`], [`run_cli`]).

mod cli;
mod compare;
mod fix;
mod payouts;
mod platform;
mod report;
mod sources;
pub(crate) mod stock;
mod summaries;

use std::collections::HashSet;

use anyhow::Context as _;
use lapin::Connection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use self::cli::{ReconcileArgs, run_cli};
use self::compare::Origin;
pub use self::compare::{Discrepancy, PeriodRef, PlatformRef, Problem};
pub use self::payouts::{
    PAYOUTS_CSV_HEADER, PayoutFinding, PayoutLine, PayoutReport, reconcile_payouts,
};
pub use self::report::{CSV_HEADER, Format, LegStatus, PlatformLeg, Report, Sources};
pub use self::sources::RECONCILED_AT;
use self::sources::{ArchiveEvent, scan_archive, unreadable};
pub use self::stock::{STOCK_CSV_HEADER, StockReport, StockRow, StockStatus, reconcile_stock};
use crate::config::{Config, ShopConfig};
use crate::ledger::{BookedDocument, Ledger};
use crate::operate::ProgressBar;
use crate::operate::dead::{self, Filter};
use crate::xero::client::XeroClient;

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

fn known_shop<'c>(config: &'c Config, name: &str) -> anyhow::Result<&'c ShopConfig> {
    config.shops.get(name).with_context(|| {
        format!(
            "shop {name:?} is not in the config; give one of {} as --shop (the name in \
             [shops.NAME])",
            config.shops.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })
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
    let ledger = Ledger::lazy(&config.postgres)
        .context("[postgres].url is not a PostgreSQL URL; fix it (or XCS_POSTGRES_URL)")?;
    let mut report = Report {
        shop: options.shop.clone(),
        tenant: shop.tenant.clone(),
        from: options.from.format(&Rfc3339).unwrap_or_default(),
        to: options.to.format(&Rfc3339).unwrap_or_default(),
        sources: Sources::default(),
        platform: PlatformLeg::default(),
        events: 0,
        documents: 0,
        discrepancies: Vec::new(),
        warnings: Vec::new(),
    };
    let progress = &options.progress;

    // What the platform sent: the ledger's events, and the archive's.
    progress.set_message("reading the ledger");
    let ledger_events = sources::ledger_events(&ledger, options).await?;
    report.sources.ledger_events = ledger_events.len();
    let mut archive: Option<Vec<ArchiveEvent>> = None;
    let mut dead_ids: HashSet<String> = HashSet::new();
    let mut dead_events: Option<Vec<platform::DeadEvent>> = None;
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
                let events: Vec<platform::DeadEvent> = listing
                    .letters
                    .into_iter()
                    .map(|letter| platform::DeadEvent {
                        names: sources::named_ids(&letter.body),
                        event_id: letter.event_id,
                        reason: letter.reason,
                    })
                    .collect();
                dead_ids.extend(events.iter().map(|d| d.event_id.clone()));
                dead_events = Some(events);
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

    // The events that carried test-transaction's sample orders: their documents are no sales.
    let tests = ledger
        .test_transaction_events(&options.shop, &event_ids)
        .await
        .map_err(unreadable(
            "cannot read xcs_test_transactions; start a processor of this version once (it \
             creates the table), then run again",
        ))?;

    // Events never booked.
    compare::unbooked_events(
        archive.as_deref().unwrap_or_default(),
        &ledger_events,
        &dead_ids,
        &tests,
        &mut report.discrepancies,
    );

    // What was booked, against what Xero holds: the events' documents, and the summaries
    // posted for the periods the range overlaps.
    progress.set_message("reading the ledger's documents");
    let documents = ledger
        .documents_booked_by(&shop.tenant, &options.shop, &event_ids)
        .await
        .map_err(unreadable(
            "cannot read xcs_documents; check [postgres].schema",
        ))?;
    let (mut summaries, warnings) = summaries::read(&ledger, &options.shop, shop, options).await?;
    report.warnings.extend(warnings);
    report.documents = documents.len() + summaries.len();
    progress.set_message("reading Xero");
    let all: Vec<&BookedDocument> = documents
        .iter()
        .chain(summaries.iter().map(|s| &s.document))
        .collect();
    let xero_docs = compare::XeroDocuments::fetch(xero, shop, &all).await?;
    for summary in &mut summaries {
        if xero_docs.needs_lines(&summary.document) {
            summary.read_lines(&ledger).await?;
        }
    }
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
        let origin = if tests.contains(&document.event_id) {
            Origin::Test
        } else {
            Origin::Event {
                cancelled: cancelled.contains(&document.number),
                in_archive: archived.contains(&document.event_id),
                archive_read: archive.is_some(),
            }
        };
        compare::check_document(
            shop,
            document,
            &origin,
            &xero_docs,
            &mut report.discrepancies,
        );
    }
    for summary in &summaries {
        compare::check_document(
            shop,
            &summary.document,
            &Origin::Summary(summary),
            &xero_docs,
            &mut report.discrepancies,
        );
    }

    // What the platform's own API lists, against the ledger (`platform`).
    let (leg, mut listing) = platform::read(&ledger, shop, options).await;
    if leg.status == LegStatus::Failed {
        report.warnings.push(format!(
            "the platform's API could not be read to the end ({}): orders and refunds no \
             event brought may be missing from this report; run again once it answers",
            leg.reason
        ));
    }
    report.platform = leg;
    let evidence = platform::Evidence {
        archive: archive.as_deref(),
        ledger_events: &ledger_events,
        dead: dead_events.as_deref(),
    };
    listing
        .compare(&ledger, shop, options, &evidence, &mut report)
        .await?;
    report
        .discrepancies
        .sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));

    if options.fix
        && let Some(connection) = amqp
    {
        fix::fix(
            &ledger,
            connection,
            &shop.tenant,
            &documents,
            options,
            &mut report,
        )
        .await?;
        listing.fix(connection, shop, options, &mut report).await?;
    }
    progress.finish_and_clear();
    Ok(report)
}
