//! The platform leg: what the shop's platform API lists as changed in the range, against what
//! the ledger booked for it, naming what no event of ours ever booked and what only the
//! poller or a backfill did.
//!
//! # What is read
//! The poller's own lists (`crate::platforms::list_changed`), through a [`PollClient`] paced
//! exactly as the poller's and split into windows that each fit a page exactly as a poll's are
//! ([`Pass`] with [`Sink::Collect`]): every order and refund whose platform modification time
//! is in `[from, to)`, except the last `settle_secs` (`[shops.NAME.poll]`, default 120): changes
//! a webhook may still be bringing are left to it, as the poller leaves them. Listing is by
//! modification time, so an order placed before the range but changed in it is read (its row
//! carries its own date, so an old order stands out), and one placed in the range but changed
//! again after it is not: the reconcile of the range holding its last change reads it. The
//! question the leg answers is "of what changed on the platform in the range, what did we
//! never book?": the changes whose webhooks would have arrived in the range too.
//!
//! # Booked, and bookable
//! Booked is decided by the platform's ids, as the ledger keys what it booked
//! (`xcs_documents.business_key`, and `xcs_summary_entries`' in summary mode), over all time:
//! an order booked under its id by any event, in any range, is booked. No false
//! `platform_not_booked` comes of an order whose events fell outside the range.
//!
//! What the mapping books is the processor's own reading, not a second one: an order or refund
//! the ledger has nothing for under its listed id goes through the same path its event would
//! ([`Dispatcher::work_for`]: the platform's normaliser, the plausibility checks, and a
//! cancellation of an order never booked being nothing), so a cancelled order never booked, an
//! unpaid Etsy receipt, an eBay order or refund still pending, or a kind the shop does not
//! `sync` is not reported: nothing would book it. That reading fetches what the event path
//! fetches (a Shopify order paid through several gateways, a WooCommerce order's refunds, a
//! BigCommerce order and its products or refunds), for those unbooked ones only.
//!
//! Documents of listed orders that events outside the range booked are compared with Xero by
//! the reconcile of the range that received those events, not here.
//!
//! # Rows
//! - [`Problem::PlatformNotBooked`]: nothing booked for its id. The row says which events about
//!   it reached us, if any: the poller's versions of it that the ledger recorded, and the events
//!   received in the range whose payload names its id, in `xcs.archive` or `xcs.dead`.
//!   `--fix` publishes the listed order (or refund) as a backfill event, the way `backfill`
//!   does ([`pass::publish`]), and the processor books it once, by its id.
//! - [`Problem::MissedByWebhooks`] (informational): booked, but by an event whose `xcs-source`
//!   is `poll` or `backfill` (for events recorded before the ledger kept the source: whose id
//!   is a polled one, `{platform}:{shop}:api:…`): no webhook had brought it by then.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use anyhow::Context as _;
use lapin::Connection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::domain::{Order, Refund};
use xcs_shared::{EventKind, Source};

use super::ReconcileOptions;
use super::compare::{Discrepancy, PlatformRef, Problem};
use super::report::{LegStatus, PlatformLeg, Report};
use super::sources::{ArchiveEvent, LedgerEvent, unreadable};
use crate::booking::Work;
use crate::config::{ShopConfig, SyncMode};
use crate::dispatch::Dispatcher;
use crate::error::ProcessError;
use crate::ledger::{BookedKey, Ledger};
use crate::poll::pass::{self, Pass, Sink, Tally};
use crate::poll::{Found, PollClient, Window, rfc3339};
use crate::publisher::Republisher;

/// A dead letter of the shop, as the platform leg looks for an order's events.
pub(super) struct DeadEvent {
    pub(super) event_id: String,
    pub(super) reason: String,
    /// The platform ids its payload names (`sources::named_ids`).
    pub(super) names: Vec<String>,
}

/// What reached us, to say of an order never booked whether any event about it did.
pub(super) struct Evidence<'a> {
    /// The range's events in `xcs.archive`; `None` when it could not be read.
    pub(super) archive: Option<&'a [ArchiveEvent]>,
    pub(super) ledger_events: &'a std::collections::BTreeMap<String, LedgerEvent>,
    /// The shop's dead letters; `None` when `xcs.dead` could not be read.
    pub(super) dead: Option<&'a [DeadEvent]>,
}

/// What the platform's API listed, and what `--fix` may publish of it.
pub(super) struct Listing {
    /// Each listed version of an order or refund once, in the platform's time order.
    found: Vec<Found>,
    /// The event ids of `found` whose rows `--fix` publishes.
    publishable: HashSet<String>,
}

/// Reads what the shop's platform API lists as changed in the range; the leg's summary says
/// what was read, or why nothing was.
pub(super) async fn read(
    ledger: &Ledger,
    shop: &ShopConfig,
    options: &ReconcileOptions,
) -> (PlatformLeg, Listing) {
    let mut leg = PlatformLeg::default();
    let mut listing = Listing {
        found: Vec::new(),
        publishable: HashSet::new(),
    };
    if shop.api.is_none() {
        leg.reason = format!(
            "shop {name} has no [shops.{name}.api] section (no platform API credentials), so \
             only what reached us was compared; add it (see README \"Polling and backfill\" for \
             the permission each platform needs) to compare what the platform itself lists",
            name = options.shop
        );
        return (leg, listing);
    }
    let settle = time::Duration::seconds(i64::try_from(shop.poll.settle()).unwrap_or(i64::MAX));
    let end = options
        .to
        .min(OffsetDateTime::now_utc() - settle)
        .replace_nanosecond(0)
        .unwrap_or(options.to);
    leg.from = options.from.format(&Rfc3339).unwrap_or_default();
    leg.to = end.format(&Rfc3339).unwrap_or_default();
    if options.from >= end {
        leg.reason = format!(
            "the range starts less than {} seconds ago (the shop's poll settle_secs) or later: \
             its changes have not settled, webhooks may still be bringing them; run again \
             later",
            settle.whole_seconds()
        );
        return (leg, listing);
    }
    options
        .progress
        .set_message("reading the platform's API".to_owned());
    let client = PollClient::default();
    let collected = Mutex::new(Vec::new());
    let pass = Pass {
        name: &options.shop,
        shop,
        client: &client,
        ledger,
        sink: Sink::Collect(&collected),
        lease: None,
    };
    let mut tally = Tally::default();
    let result = pass
        .run(
            Window {
                from: options.from,
                to: end,
            },
            &mut tally,
            |part, tally| {
                options.progress.set_message(format!(
                    "reading the platform's API: {} orders, {} refunds, up to {}",
                    tally.orders,
                    tally.refunds,
                    rfc3339(part.to)
                ));
            },
        )
        .await;
    // A change at a split's edge is listed by both halves (the platforms' bounds are inclusive):
    // the same version, the same event id.
    let mut seen = HashSet::new();
    for found in collected.into_inner().expect("never poisoned") {
        if seen.insert(found.event_id(shop.platform, &options.shop)) {
            match found.kind {
                EventKind::Refund => leg.refunds += 1,
                _ => leg.orders += 1,
            }
            listing.found.push(found);
        }
    }
    leg.calls = client.calls();
    match result {
        Ok(()) => leg.status = LegStatus::Read,
        Err(err) => {
            leg.status = LegStatus::Failed;
            leg.reason = if listing.found.is_empty() {
                format!("{err}")
            } else {
                format!(
                    "{err} (after listing {} orders and {} refunds, which are compared; the \
                     rest of the range was not read)",
                    leg.orders, leg.refunds
                )
            };
        }
    }
    (leg, listing)
}

/// An order or refund the platform lists that the mapping books.
struct Expected<'f> {
    found: &'f Found,
    /// `order` or `refund`: which of the ledger's kinds books it.
    kind: EventKind,
    /// Its platform id: the ledger's business key.
    key: String,
    platform: PlatformRef,
    /// The Xero number it is (or would be) booked under; empty in summary mode.
    number: String,
    /// Why the processor cannot book it as the platform has it.
    cannot: Option<String>,
    /// The refund's order, when the refund cannot be read before its order is booked.
    waits_for: Option<String>,
}

impl Expected<'_> {
    fn what(&self) -> String {
        let number = self.platform.order_number.trim();
        match (self.kind, number.is_empty()) {
            (EventKind::Refund, false) => format!("refund {} of order {number}", self.key),
            (EventKind::Refund, true) => format!("refund {}", self.key),
            (_, false) => format!("order {number}"),
            (_, true) => format!("order {}", self.key),
        }
    }

    fn booked_by<'b>(&self, booked: &'b HashMap<String, Vec<BookedKey>>) -> Option<&'b BookedKey> {
        booked
            .get(&self.key)
            .into_iter()
            .flatten()
            .find(|b| books(self.kind, &b.kind))
    }
}

/// Whether a ledger record of `ledger_kind` books an order (or refund) of `kind`.
fn books(kind: EventKind, ledger_kind: &str) -> bool {
    match kind {
        EventKind::Refund => matches!(ledger_kind, "credit_note" | "refund"),
        _ => matches!(ledger_kind, "invoice" | "order"),
    }
}

fn order_ref(found: &Found, order: &Order) -> PlatformRef {
    PlatformRef {
        kind: "order".to_owned(),
        id: order.order_id.clone(),
        order_id: order.order_id.clone(),
        order_number: order.number.clone(),
        date: order.date.to_string(),
        total: Some(order.total),
        currency: order.currency.as_str().to_owned(),
        version: found.version.clone(),
    }
}

fn refund_ref(found: &Found, refund: &Refund) -> PlatformRef {
    PlatformRef {
        kind: "refund".to_owned(),
        id: refund.refund_id.clone(),
        order_id: refund.order_id.clone(),
        order_number: refund.order_number.clone(),
        date: refund.date.to_string(),
        total: Some(refund.total),
        currency: refund.currency.as_str().to_owned(),
        version: found.version.clone(),
    }
}

/// What the listing alone says of `found`, for one the processor could not read through.
fn listed_ref(found: &Found) -> PlatformRef {
    PlatformRef {
        kind: found.kind.as_str().to_owned(),
        id: found.id.clone(),
        order_id: if found.kind == EventKind::Refund {
            String::new()
        } else {
            found.id.clone()
        },
        order_number: String::new(),
        date: String::new(),
        total: None,
        currency: String::new(),
        version: found.version.clone(),
    }
}

/// Whether the platform's API failed the processor's reading, rather than the order itself:
/// nothing can be said of the order then.
fn api_failed(err: &ProcessError) -> bool {
    err.is_retryable()
        || matches!(
            err,
            ProcessError::PlatformCredentials(_)
                | ProcessError::PlatformApiMisconfigured(_)
                | ProcessError::NoPlatformApi(_)
        )
}

impl Listing {
    /// Compares what was listed with the ledger, adding the leg's rows to `report`.
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub(super) async fn compare(
        &mut self,
        ledger: &Ledger,
        shop: &ShopConfig,
        options: &ReconcileOptions,
        evidence: &Evidence<'_>,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if self.found.is_empty() {
            return Ok(());
        }
        let name = options.shop.as_str();
        options
            .progress
            .set_message("comparing the platform's orders with the ledger".to_owned());
        let ids: Vec<String> = self.found.iter().map(|f| f.id.clone()).collect();
        let mut booked = booked_by_key(ledger, shop, name, &ids).await?;

        let dispatcher = Dispatcher::default();
        let mut expected: Vec<Expected<'_>> = Vec::new();
        // Orders the mapping books nothing for, by their listed id: a refund of one waits for
        // an order that is never booked, so it is not booked either.
        let mut unbookable_orders: HashSet<&str> = HashSet::new();
        let mut waiting: Vec<(&Found, String)> = Vec::new();
        let mut undecided: Vec<String> = Vec::new();
        let mut not_bookable = 0;
        for found in &self.found {
            if !shop.sync.contains(&found.kind) {
                not_bookable += 1;
                continue;
            }
            // Booked under its listed id already: nothing to read (and no call to spend).
            if let Some(b) = booked
                .get(&found.id)
                .into_iter()
                .flatten()
                .find(|b| books(found.kind, &b.kind))
            {
                expected.push(Expected {
                    found,
                    kind: found.kind,
                    key: found.id.clone(),
                    platform: PlatformRef {
                        order_number: b.order_number.clone(),
                        ..listed_ref(found)
                    },
                    number: b.number.clone(),
                    cannot: None,
                    waits_for: None,
                });
                continue;
            }
            let envelope = pass::envelope(name, shop, found, Source::Backfill);
            match dispatcher
                .work_for(&envelope, shop, &found.body, ledger)
                .await
            {
                Ok(Work::Order(order)) if !order.cancelled => {
                    expected.push(expect_order(shop, found, &order));
                }
                Ok(Work::Refunds { order, refunds }) => {
                    let order = order.filter(|o| !o.cancelled);
                    if order.is_none() && refunds.is_empty() {
                        not_bookable += 1;
                    }
                    if let Some(order) = order {
                        expected.push(expect_order(shop, found, &order));
                    }
                    for refund in &refunds {
                        expected.push(expect_refund(shop, found, refund));
                    }
                }
                // An invoice booked under another id that the order's cancellation voids: booked.
                Ok(Work::Cancel { .. }) => {}
                Ok(Work::Order(_) | Work::Nothing(_) | Work::Stock(_) | Work::Payouts(_)) => {
                    not_bookable += 1;
                    if found.kind != EventKind::Refund {
                        unbookable_orders.insert(found.id.as_str());
                    }
                }
                Err(ProcessError::OrderNotBooked { order, .. }) => waiting.push((found, order)),
                Err(err) if api_failed(&err) => {
                    undecided.push(format!("{} {}: {err}", found.kind, found.id));
                }
                Err(err) => expected.push(Expected {
                    found,
                    kind: found.kind,
                    key: found.id.clone(),
                    platform: listed_ref(found),
                    number: String::new(),
                    cannot: Some(err.to_string()),
                    waits_for: None,
                }),
            }
        }
        for (found, order) in waiting {
            if unbookable_orders.contains(order.as_str()) {
                not_bookable += 1;
                continue;
            }
            // The order's number, when the order is listed too: the credit note's number is
            // made of it and the refund's id.
            let order_number = expected
                .iter()
                .find(|e| e.kind == EventKind::Order && e.key == order)
                .map(|e| e.platform.order_number.clone())
                .filter(|number| !number.is_empty());
            let number = match (&order_number, shop.mode) {
                (Some(number), SyncMode::Realtime) => {
                    crate::mapping::credit_note_number(&shop.mapping, number, &found.id)
                }
                _ => String::new(),
            };
            expected.push(Expected {
                found,
                kind: EventKind::Refund,
                key: found.id.clone(),
                platform: PlatformRef {
                    order_id: order.clone(),
                    order_number: order_number.unwrap_or_default(),
                    ..listed_ref(found)
                },
                number,
                cannot: None,
                waits_for: Some(order),
            });
        }
        report.platform.not_bookable = not_bookable;
        if !undecided.is_empty() {
            report.warnings.push(format!(
                "the platform's API failed the reading of {} listed orders or refunds, so \
                 whether they are booked is not known (run again): {}",
                undecided.len(),
                undecided.join("; ")
            ));
        }

        // One row per order or refund, however many listed versions carried it.
        let mut rows: HashSet<(EventKind, String)> = HashSet::new();
        expected.retain(|e| rows.insert((e.kind, e.key.clone())));
        let unknown: Vec<String> = expected
            .iter()
            .filter(|e| !booked.contains_key(&e.key))
            .map(|e| e.key.clone())
            .collect();
        if !unknown.is_empty() {
            booked.extend(booked_by_key(ledger, shop, name, &unknown).await?);
        }

        let missing: Vec<&Expected<'_>> = expected
            .iter()
            .filter(|e| e.booked_by(&booked).is_none())
            .collect();
        let polled = polled_events(ledger, shop, name, &missing).await?;
        let polled_prefix = format!("{}:{name}:api:", shop.platform);
        for e in &expected {
            let row = match e.booked_by(&booked) {
                Some(b) => {
                    let source = match b.source.as_str() {
                        "" if b.event_id.starts_with(&polled_prefix) => "poll",
                        other => other,
                    };
                    if !matches!(source, "poll" | "backfill") {
                        continue;
                    }
                    missed_row(e, b, source)
                }
                None => {
                    let event_id = e.found.event_id(shop.platform, name);
                    let handled = polled.iter().find(|p| p.event_id == event_id);
                    // A refund whose order is not booked is booked after it: only when --fix
                    // publishes the order too, the order being listed here.
                    let order_first = e.waits_for.as_ref().filter(|order| {
                        !missing.iter().any(|o| {
                            o.kind == EventKind::Order && o.key == **order && o.cannot.is_none()
                        })
                    });
                    let publishable =
                        e.cannot.is_none() && handled.is_none() && order_first.is_none();
                    if publishable {
                        self.publishable.insert(event_id.clone());
                    }
                    let next_step = match (&e.cannot, handled, order_first) {
                        (None, None, Some(order)) => format!(
                            "book its order first: the order (platform id {order}) was not \
                             changed in this range, so reconcile --fix the range of its last \
                             change, or `xcs-processor backfill` that range; then run this \
                             reconcile again with --fix"
                        ),
                        (Some(reason), ..) => format!(
                            "the processor cannot book it as the platform has it ({reason}): \
                             correct it on the platform (the next poll, or reconcile --fix, \
                             books it then), or enter it in Xero by hand"
                        ),
                        (None, Some(handled), _) => format!(
                            "the processor already handled this version of it (event \
                             {event_id}: {}) without booking it: look at that event with the \
                             ledger's xcs_events, then book it by hand if it is a sale",
                            outcome_text(&handled.outcome, &handled.detail)
                        ),
                        (None, None, None) => "run again with --fix: it is published from the \
                                         platform's API as a backfill event and booked once by \
                                         the running processors"
                            .to_owned(),
                    };
                    not_booked_row(e, event_id, shop, name, &polled, evidence, next_step)
                }
            };
            report.discrepancies.push(row);
        }
        Ok(())
    }

    /// `--fix`: publishes what the platform has and the ledger never booked as backfill events,
    /// as `backfill` does, in the platform's time order (an order before its refunds).
    ///
    /// # Errors
    /// When RabbitMQ refuses a publish; what was published stays published, and booking it
    /// twice books it once.
    pub(super) async fn fix(
        &self,
        connection: &Connection,
        shop: &ShopConfig,
        options: &ReconcileOptions,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let wanted: HashSet<&str> = report
            .discrepancies
            .iter()
            .filter(|d| d.problem == Problem::PlatformNotBooked && d.fixed.is_none())
            .map(|d| d.event_id.as_str())
            .filter(|id| self.publishable.contains(*id))
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        let publisher = Republisher::open(connection).await?;
        let mut published: HashSet<String> = HashSet::new();
        let result = async {
            for found in &self.found {
                let event_id = found.event_id(shop.platform, &options.shop);
                if !wanted.contains(event_id.as_str()) || published.contains(&event_id) {
                    continue;
                }
                pass::publish(&publisher, &options.shop, shop, found, Source::Backfill).await?;
                published.insert(event_id);
            }
            Ok::<(), crate::poll::PollError>(())
        }
        .await;
        publisher.close().await;
        for d in &mut report.discrepancies {
            if d.problem == Problem::PlatformNotBooked && published.contains(&d.event_id) {
                d.fixed = Some(
                    "published from the platform's API as a backfill event (xcs-source: \
                     backfill)"
                        .to_owned(),
                );
            }
        }
        result.context(
            "publishing the platform's orders failed part-way; run reconcile --fix again (what \
             was published is booked once)",
        )
    }
}

fn expect_order<'f>(shop: &ShopConfig, found: &'f Found, order: &Order) -> Expected<'f> {
    Expected {
        found,
        kind: EventKind::Order,
        key: order.order_id.clone(),
        platform: order_ref(found, order),
        number: match shop.mode {
            SyncMode::Realtime => crate::mapping::invoice_number(&shop.mapping, &order.number),
            SyncMode::Summary => String::new(),
        },
        cannot: None,
        waits_for: None,
    }
}

fn expect_refund<'f>(shop: &ShopConfig, found: &'f Found, refund: &Refund) -> Expected<'f> {
    Expected {
        found,
        kind: EventKind::Refund,
        key: refund.refund_id.clone(),
        platform: refund_ref(found, refund),
        number: match shop.mode {
            SyncMode::Realtime => crate::mapping::credit_note_number(
                &shop.mapping,
                &refund.order_number,
                &refund.refund_id,
            ),
            SyncMode::Summary => String::new(),
        },
        cannot: None,
        waits_for: None,
    }
}

/// What the ledger booked under each of `keys`.
async fn booked_by_key(
    ledger: &Ledger,
    shop: &ShopConfig,
    name: &str,
    keys: &[String],
) -> anyhow::Result<HashMap<String, Vec<BookedKey>>> {
    let rows = ledger
        .booked_for_keys(&shop.tenant, name, keys)
        .await
        .map_err(unreadable(
            "cannot read xcs_documents and xcs_summary_entries; start a processor of this \
             version once (it adds xcs_events.source), then run again",
        ))?;
    let mut by_key: HashMap<String, Vec<BookedKey>> = HashMap::new();
    for row in rows {
        by_key
            .entry(row.business_key.clone())
            .or_default()
            .push(row);
    }
    Ok(by_key)
}

/// The poller's (and backfills') events of `missing` that the ledger recorded, any version.
async fn polled_events(
    ledger: &Ledger,
    shop: &ShopConfig,
    name: &str,
    missing: &[&Expected<'_>],
) -> anyhow::Result<Vec<crate::ledger::ShopEvent>> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let prefixes: Vec<String> = missing
        .iter()
        .map(|e| polled_prefix(shop, name, e.found))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    ledger
        .events_with_prefixes(&prefixes)
        .await
        .map_err(unreadable(
            "cannot read xcs_events; check [postgres].schema",
        ))
}

/// The start of every polled event id of `found`'s order or refund, whatever its version
/// ([`Found::event_id`]).
fn polled_prefix(shop: &ShopConfig, name: &str, found: &Found) -> String {
    format!("{}:{name}:api:{}:{}@", shop.platform, found.kind, found.id)
}

fn outcome_text(outcome: &str, detail: &str) -> String {
    if detail.is_empty() {
        outcome.to_owned()
    } else {
        format!("{outcome}: {detail}")
    }
}

/// `dated 2026-11-19, 63.25 NZD, changed 2026-11-20T01:00:00Z`: what the platform says of it.
fn facts(platform: &PlatformRef) -> String {
    let mut facts = vec![format!("platform id {}", platform.id)];
    if !platform.date.is_empty() {
        facts.push(format!("dated {}", platform.date));
    }
    if let Some(total) = platform.total {
        facts.push(format!("{total} {}", platform.currency).trim().to_owned());
    }
    if !platform.version.is_empty() {
        facts.push(format!("changed {}", platform.version));
    }
    facts.join(", ")
}

fn missed_row(e: &Expected<'_>, b: &BookedKey, source: &str) -> Discrepancy {
    let (document_kind, document) = match b.kind.as_str() {
        "invoice" | "credit_note" => (b.kind.clone(), b.number.clone()),
        // A summary entry: booked in its period's summary, under no number of its own.
        _ => (String::new(), String::new()),
    };
    let by = if source == "backfill" {
        "a backfill's (or reconcile --fix's)"
    } else {
        "the poller's"
    };
    Discrepancy {
        problem: Problem::MissedByWebhooks,
        event_id: b.event_id.clone(),
        document_kind,
        document,
        xero_id: String::new(),
        ledger_amount: None,
        xero_amount: None,
        detail: format!(
            "{} ({}) was booked by {by} event {}, read from the platform's API: no webhook had \
             brought it by then",
            e.what(),
            facts(&e.platform),
            b.event_id
        ),
        next_step: "nothing to correct in the books; if this is frequent, check the shop's \
                    webhook subscriptions with `xcs-processor webhooks check`"
            .to_owned(),
        fixed: None,
        period: None,
        platform: Some(e.platform.clone()),
    }
}

fn not_booked_row(
    e: &Expected<'_>,
    event_id: String,
    shop: &ShopConfig,
    name: &str,
    polled: &[crate::ledger::ShopEvent],
    evidence: &Evidence<'_>,
    next_step: String,
) -> Discrepancy {
    let kind = match (shop.mode, e.kind) {
        (SyncMode::Summary, _) => "",
        (SyncMode::Realtime, EventKind::Refund) => "credit_note",
        (SyncMode::Realtime, _) => "invoice",
    };
    let waits = e.waits_for.as_ref().map_or_else(String::new, |order| {
        format!("; its order (platform id {order}) is not booked either")
    });
    Discrepancy {
        problem: Problem::PlatformNotBooked,
        event_id,
        document_kind: kind.to_owned(),
        document: e.number.clone(),
        xero_id: String::new(),
        ledger_amount: None,
        xero_amount: None,
        detail: format!(
            "{} ({}) is on the platform, and the ledger has nothing booked for it{waits}; {}",
            e.what(),
            facts(&e.platform),
            reached_us(e, shop, name, polled, evidence)
        ),
        next_step,
        fixed: None,
        period: None,
        platform: Some(e.platform.clone()),
    }
}

/// Which events about `e` reached us, or that none did.
fn reached_us(
    e: &Expected<'_>,
    shop: &ShopConfig,
    name: &str,
    polled: &[crate::ledger::ShopEvent],
    evidence: &Evidence<'_>,
) -> String {
    let mut said: HashSet<&str> = HashSet::new();
    let mut seen: Vec<String> = Vec::new();
    let prefix = polled_prefix(shop, name, e.found);
    for event in polled.iter().filter(|p| p.event_id.starts_with(&prefix)) {
        said.insert(&event.event_id);
        seen.push(format!(
            "the poller's event {} ({})",
            event.event_id,
            outcome_text(&event.outcome, &event.detail)
        ));
    }
    let dead = evidence.dead.unwrap_or_default();
    for event in evidence.archive.unwrap_or_default() {
        if !event.names.contains(&e.key) || !said.insert(&event.event_id) {
            continue;
        }
        let state = match (
            evidence.ledger_events.get(&event.event_id),
            dead.iter().find(|d| d.event_id == event.event_id),
        ) {
            (Some(handled), _) => outcome_text(&handled.outcome, &handled.detail),
            (None, Some(letter)) => format!("in xcs.dead: {}", letter.reason),
            (None, None) => "never recorded by the processor: see not_booked".to_owned(),
        };
        seen.push(format!(
            "{} event {} ({state})",
            event.source, event.event_id
        ));
    }
    for letter in dead {
        if letter.names.contains(&e.key) && said.insert(&letter.event_id) {
            seen.push(format!(
                "event {} (in xcs.dead: {})",
                letter.event_id, letter.reason
            ));
        }
    }
    if !seen.is_empty() {
        return format!("events about it reached us: {}", seen.join("; "));
    }
    let unread: Vec<&str> = [
        (evidence.archive.is_none(), "xcs.archive"),
        (evidence.dead.is_none(), "xcs.dead"),
    ]
    .into_iter()
    .filter_map(|(unread, what)| unread.then_some(what))
    .collect();
    let caveat = if unread.is_empty() {
        String::new()
    } else {
        format!(" ({} could not be read)", unread.join(" and "))
    };
    format!(
        "no event about it reached us: the ledger has none of the poller's versions of it, and \
         no event received in the range names its id in xcs.archive or xcs.dead{caveat}"
    )
}
