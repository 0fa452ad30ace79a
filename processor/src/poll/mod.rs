//! The safety net under the webhooks: each shop's platform API is read for the orders and
//! refunds changed since a stored cursor, and what it lists is published to `xcs.events`
//! exactly as the ingress publishes a webhook (same envelope, marked `xcs-source: poll`, same
//! shards, same per-tenant order). The operator's `backfill` reads history the same way
//! (`xcs-source: backfill`). See README "Polling and backfill".
//!
//! - **Identity.** What is booked is keyed by the platform's ids, not by the event: an order's
//!   invoice by its order id, a refund's credit note by its refund id (`xcs_documents`
//!   `business_key`, and the summary entries'). A polled event of an order already booked from
//!   a webhook books nothing more (or only what changed: a payment, a cancellation), and a
//!   webhook arriving after the poll booked its order finds it booked. A polled event's id is
//!   `{platform}:{shop}:api:{kind}:{id}@{version}` ([`Found::event_id`]), the version being the
//!   platform's modification time, so the same version read twice (the windows overlap) is a
//!   duplicate event, and a newer version is looked at again.
//! - **Windows.** A poll reads `[cursor - overlap, now - settle)`: the overlap absorbs clock
//!   skew between the platform and us, the settle time leaves changes a webhook is still
//!   bringing to that webhook. A window whose list fills a page is split in two until each
//!   half fits one page ([`pass`]), so no list is paged by offset while the platform changes
//!   it (an order modified during the read would shift the pages and hide another). The cursor
//!   moves to the end of each window done, in time order: a poll that fails or is killed
//!   resumes from there, never skipping a window.
//! - **One reader per shop.** The poll state is leased in PostgreSQL
//!   ([`crate::ledger::PollLease`]); with many processors exactly one reads a shop at a time.
//! - **Rate limits.** Calls are paced by what each platform's headers say is left, keeping half
//!   of the platform's allowance for the event path's own fetches, and a 429 waits for its
//!   `Retry-After` ([`client`]).
//! - **Stock.** A tracked Etsy or eBay shop's stock levels are read on their own interval,
//!   under the same lease, and only the levels that changed are published ([`stock`]).
//! - **Payouts.** A shop with `payouts = true` has its paid payouts read on their own interval,
//!   under the same lease, and each published once as a settlement to book ([`payouts`]).
//! - **Missed by webhooks.** A polled event that books a document itself is one no webhook
//!   brought: counted in `xcs_processor_missed_by_webhooks_total` and logged
//!   (`consumer`).

pub mod backfill;
pub mod client;
pub mod pass;
pub mod payouts;
pub mod room;
pub mod scheduler;
pub mod stock;

use std::time::Duration;

use lapin::Connection;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Source};

pub use client::{PollClient, PollError};
use room::ShardRoom;

use crate::config::ShopConfig;
use crate::ledger::{Ledger, PollLease};
use crate::publisher::Republisher;

/// `[from, to)` of platform modification times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
}

impl Window {
    /// The two halves, earlier first; `None` when the window is too short to split.
    pub fn halves(&self) -> Option<(Window, Window)> {
        let length = self.to - self.from;
        if length < time::Duration::seconds(2) {
            return None;
        }
        let middle: OffsetDateTime = self.from + length / 2;
        let middle = middle.replace_nanosecond(0).unwrap_or(middle);
        Some((
            Window {
                from: self.from,
                to: middle,
            },
            Window {
                from: middle,
                to: self.to,
            },
        ))
    }
}

/// One order or refund a platform's list holds, as the event to publish.
#[derive(Debug, Clone)]
pub struct Found {
    pub kind: EventKind,
    /// The topic the platform's `work_for` reads the body by (a webhook topic, or the
    /// platform's `poll/…` topic for a full resource).
    pub topic: String,
    pub body: Vec<u8>,
    /// The order's (or refund's) platform id.
    pub id: String,
    /// The platform's modification time of what was listed (or another version mark).
    pub version: String,
}

impl Found {
    /// The event id: the same for the same version of the same thing, whoever read it.
    pub fn event_id(&self, platform: xcs_shared::Platform, shop: &str) -> String {
        xcs_shared::envelope::event_id(
            platform,
            shop,
            &format!("api:{}:{}@{}", self.kind.as_str(), self.id, self.version),
        )
    }
}

/// One page of a platform's lists for a window.
#[derive(Debug, Default)]
pub struct Listed {
    pub found: Vec<Found>,
    /// A list filled its page: the window holds more, on the page this token names (the
    /// platform's own: a page number, or the link to the next page).
    pub next: Option<String>,
}

/// What a platform's lister needs.
pub struct Lister<'a> {
    pub client: &'a PollClient,
    pub api: &'a crate::platforms::api::PlatformApi,
    pub shop: &'a str,
}

/// RFC 3339 with whole seconds and `Z`, as every platform's list filters accept.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// How long a lease on a shop's poll state lasts without a checkpoint: a processor killed
/// mid-poll leaves its shop to another after this.
pub const LEASE: Duration = Duration::from_secs(120);

/// Events a read under a shop's lease (stock, payouts) publishes between two looks at the
/// shards' room.
pub const PUBLISH_BATCH: usize = 50;

/// What a read beside the order poll (the stock and payout reads) needs: the shop, the
/// poller's client and ledger, the shop's lease the read runs under, and where to publish.
pub struct Leased<'a> {
    pub name: &'a str,
    pub shop: &'a ShopConfig,
    pub client: &'a PollClient,
    pub ledger: &'a Ledger,
    pub holder: &'a str,
    /// The shop's `poll` lease, renewed as the read goes.
    pub lease: &'a PollLease,
    pub connection: &'a Connection,
    pub republisher: &'a Republisher,
}

impl Leased<'_> {
    /// Publishes what the read found, waiting for room in the shards before each
    /// [`PUBLISH_BATCH`] as a backfill does ([`room`]): a shop's first read can find thousands,
    /// which webhooks of shops sharing the shards should not queue behind. `what` names them
    /// in the log of the wait.
    ///
    /// # Errors
    /// [`PollError::Publish`], or [`PollError::LeaseLost`] when the wait outlasted the lease.
    pub async fn publish(&self, found: &[Found], what: &str) -> Result<(), PollError> {
        let room = ShardRoom::open(self.connection)
            .await
            .map_err(|err| PollError::Publish(format!("cannot open a channel: {err:#}")))?;
        let result = async {
            for batch in found.chunks(PUBLISH_BATCH) {
                room.wait(|ready| {
                    tracing::debug!(shop = self.name, ready, "{what} wait for room");
                })
                .await?;
                for one in batch {
                    pass::publish(self.republisher, self.name, self.shop, one, Source::Poll)
                        .await?;
                }
                self.renew().await?;
            }
            Ok(())
        }
        .await;
        room.close().await;
        result
    }

    /// Keeps the shop's lease while the read goes on.
    ///
    /// # Errors
    /// [`PollError::LeaseLost`] when another process holds it now.
    pub async fn renew(&self) -> Result<(), PollError> {
        if self
            .ledger
            .checkpoint_poll(self.lease, self.lease.cursor, LEASE)
            .await?
        {
            Ok(())
        } else {
            Err(PollError::LeaseLost)
        }
    }
}
