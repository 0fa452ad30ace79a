//! Fixing (`--fix`): what can be booked again without a person deciding anything. A document
//! missing or deleted in Xero has its ledger records cleared, then its event is republished
//! from the archive; an event never booked is republished. Everything else is reported only.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use lapin::Connection;

use super::ReconcileOptions;
use super::compare::Problem;
use super::report::Report;
use super::sources::{scan_archive, unreadable};
use crate::ledger::{BookedDocument, Ledger};

/// Clears the stale ledger records and republishes, for what can be booked again.
pub(super) async fn fix(
    ledger: &Ledger,
    connection: &Connection,
    tenant: &str,
    documents: &[BookedDocument],
    options: &ReconcileOptions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let archived = report.sources.archive_events.is_some();
    if !archived {
        report.warnings.push(
            "--fix re-queued nothing from xcs.archive, where the events' payloads are: it \
             could not be read"
                .to_owned(),
        );
        return Ok(());
    }
    // Which events to republish (and whether their document records are cleared), and which
    // documents' records to clear first.
    let mut republish: HashMap<String, bool> = HashMap::new();
    let mut clear: Vec<&BookedDocument> = Vec::new();
    for discrepancy in &report.discrepancies {
        // A summary is never posted again (its advice says why and what to do instead).
        if discrepancy.period.is_some() {
            continue;
        }
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
    ledger
        .forget_documents(tenant, &clear)
        .await
        .map_err(unreadable(
            "cannot clear the stale ledger records; nothing was changed, run again",
        ))?;

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
