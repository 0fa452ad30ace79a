//! One read of a shop's platform API over a window: split until each part fits one page,
//! publish what each part lists (in time order; or count it, or keep it for reconcile), and
//! move the cursor to the end of each part done.
//!
//! What the ledger already booked under the same event id (the same order or refund at the
//! same version) is neither published nor counted again: a poll's overlap re-reads the last
//! minutes every time, and a backfill run again re-reads its whole range, and neither should
//! queue thousands of events the processors would only skip. Events recorded as skipped are
//! published again (the shop's settings may have changed since).

use lapin::BasicProperties;
use time::OffsetDateTime;
use xcs_shared::{Envelope, EventKind, Source, topology};

use super::room::ShardRoom;
use super::{Found, Listed, Lister, PollClient, PollError, Window};
use crate::config::ShopConfig;
use crate::ledger::{Ledger, PollLease};
use crate::publisher::{Republisher, now_rfc3339};

/// The most pages one part too short to split is read in: far more orders than any store
/// changes in two seconds, so a platform answering "more" forever cannot hold the poll.
const MAX_PAGES_PER_PART: usize = 1_000;

/// What a pass does with what it finds.
pub enum Sink<'a> {
    /// Publish each to `xcs.events`, marked with the source; with `room`, each page waits
    /// for room in the shards first (backfills).
    Publish {
        publisher: &'a Republisher,
        source: Source,
        room: Option<&'a ShardRoom>,
    },
    /// Count only (a dry run).
    Count,
    /// Keep each, in time order, for the caller to compare (reconcile's platform leg).
    Collect(&'a std::sync::Mutex<Vec<Found>>),
}

/// What a pass found and spent.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Orders and refunds published (or counted), not booked before.
    pub orders: usize,
    pub refunds: usize,
    /// Listed, and booked already under the same event id: left alone.
    pub already_booked: usize,
    pub windows: usize,
    /// How long the pass waited for room in the shards (backfills).
    pub waited_for_room: std::time::Duration,
}

impl<'a> Lister<'a> {
    /// The lists of shop `name` through its platform API.
    ///
    /// # Errors
    /// [`PollError::NoApi`] for a shop without `[api]`.
    pub(super) fn of(
        name: &'a str,
        shop: &'a ShopConfig,
        client: &'a PollClient,
    ) -> Result<Self, PollError> {
        let api = shop
            .api
            .as_ref()
            .ok_or_else(|| PollError::NoApi(name.to_owned()))?;
        Ok(Lister {
            client,
            api,
            shop: name,
        })
    }
}

/// One shop's read.
pub struct Pass<'a> {
    pub name: &'a str,
    pub shop: &'a ShopConfig,
    pub client: &'a PollClient,
    pub ledger: &'a Ledger,
    pub sink: Sink<'a>,
    /// Where to checkpoint; `None` for a dry run.
    pub lease: Option<&'a PollLease>,
}

impl Pass<'_> {
    /// Reads `window`; `done` hears of each part done (for a progress bar).
    ///
    /// # Errors
    /// [`PollError`]; the cursor stays at the end of the last part done.
    pub async fn run(
        &self,
        window: Window,
        tally: &mut Tally,
        mut done: impl FnMut(&Window, &Tally),
    ) -> Result<(), PollError> {
        let lister = Lister::of(self.name, self.shop, self.client)?;
        // Later parts below earlier ones, so parts are read (and the cursor moves) in order.
        let mut parts = vec![window];
        while let Some(part) = parts.pop() {
            if part.from >= part.to {
                continue;
            }
            let mut page: Option<String> = None;
            let mut pages = 0;
            loop {
                let listed = crate::platforms::list_changed(
                    self.shop.platform,
                    &lister,
                    &part,
                    page.as_deref(),
                )
                .await?;
                if listed.next.is_some()
                    && page.is_none()
                    && let Some((earlier, later)) = part.halves()
                {
                    parts.push(later);
                    parts.push(earlier);
                    break;
                }
                // A part too short to split that still fills pages: paged by offset, which
                // only changes within the same second could disturb.
                let next = listed.next.clone();
                self.take(listed, tally).await?;
                if next.is_none() {
                    tally.windows += 1;
                    self.checkpoint(part.to).await?;
                    done(&part, tally);
                    break;
                }
                pages += 1;
                if pages > MAX_PAGES_PER_PART {
                    return Err(PollError::Unreadable(format!(
                        "the platform keeps offering further pages of {} orders changed in \
                         the same second ({} pages); the list's pagination is broken",
                        self.shop.platform.display_name(),
                        MAX_PAGES_PER_PART
                    )));
                }
                page = next;
            }
        }
        Ok(())
    }

    async fn take(&self, listed: Listed, tally: &mut Tally) -> Result<(), PollError> {
        let booked = match &self.sink {
            // Reconcile compares everything listed.
            Sink::Collect(_) => Default::default(),
            Sink::Publish { .. } | Sink::Count => {
                let ids: Vec<String> = listed
                    .found
                    .iter()
                    .map(|found| found.event_id(self.shop.platform, self.name))
                    .collect();
                self.ledger.booked_events(&ids).await?
            }
        };
        if let Sink::Publish {
            room: Some(room), ..
        } = &self.sink
        {
            let started = std::time::Instant::now();
            room.wait(|ready| {
                tracing::debug!(shop = self.name, ready, "waiting for room in the shards");
            })
            .await?;
            tally.waited_for_room += started.elapsed();
        }
        for found in listed.found {
            if booked.contains(&found.event_id(self.shop.platform, self.name)) {
                tally.already_booked += 1;
                continue;
            }
            match found.kind {
                EventKind::Refund => tally.refunds += 1,
                _ => tally.orders += 1,
            }
            match &self.sink {
                Sink::Publish {
                    publisher, source, ..
                } => {
                    publish(publisher, self.name, self.shop, &found, *source).await?;
                }
                Sink::Collect(into) => into.lock().expect("never poisoned").push(found),
                Sink::Count => {}
            }
        }
        Ok(())
    }

    async fn checkpoint(&self, to: OffsetDateTime) -> Result<(), PollError> {
        if let Some(lease) = self.lease
            && !self.ledger.checkpoint_poll(lease, to, super::LEASE).await?
        {
            return Err(PollError::LeaseLost);
        }
        Ok(())
    }
}

/// The envelope a listed order or refund travels under, as the ingress would give a webhook.
pub fn envelope(name: &str, shop: &ShopConfig, found: &Found, source: Source) -> Envelope {
    Envelope {
        event_id: found.event_id(shop.platform, name),
        platform: shop.platform,
        shop: name.to_owned(),
        tenant: shop.tenant.clone(),
        kind: found.kind,
        topic: found.topic.clone(),
        delivery_id: uuid::Uuid::new_v4().to_string(),
        received_at: now_rfc3339(),
        source,
    }
}

/// Publishes `found` to `xcs.events` under its [`envelope`], with confirms: how polls,
/// backfills and reconcile's `--fix` hand what the platform lists to the processors.
///
/// # Errors
/// [`PollError::Publish`].
pub async fn publish(
    publisher: &Republisher,
    name: &str,
    shop: &ShopConfig,
    found: &Found,
    source: Source,
) -> Result<(), PollError> {
    let envelope = envelope(name, shop, found, source);
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into())
        .with_message_id(envelope.event_id.as_str().into())
        .with_app_id("xcs-processor-poller".into())
        .with_headers(envelope.field_table());
    publisher
        .publish(
            topology::EVENTS_EXCHANGE,
            &topology::routing_key(found.kind, shop.platform),
            &found.body,
            properties,
        )
        .await
        .map_err(|err| PollError::Publish(format!("{err:#}")))
}
