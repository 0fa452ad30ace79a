//! Stock levels of the platforms that send no stock webhooks (Etsy, eBay), for a shop with
//! `inventory = "tracked"` (README "Stock from Etsy and eBay"). Every
//! `poll.stock_interval_secs` the poller reads the shop's whole catalogue (Etsy's active and
//! sold-out listings' inventory, eBay's inventory items: `platforms::{etsy,ebay}::stock`),
//! compares each SKU's quantity available with the level `xcs_stock` last recorded for it, and
//! publishes a stock event only for the SKUs whose level differs (or that have none yet). An
//! idle store costs its list calls and nothing more.
//!
//! - **Under the shop's lease.** The read runs while the poller holds the shop's `poll` lease
//!   (taken for it when the orders are not due), so one processor reads a shop's API at a time
//!   and the calls share the order poll's pacing. Its own schedule is the `stock` row of
//!   `xcs_poll_state` (whose cursor is unused), which `status` shows like any other.
//! - **Events.** Kind `inventory`, topic [`TOPIC`], one SKU each, its body a [`Polled`] level
//!   the platform's `work_for` reads into `Work::Stock` with an absolute level. The event id is
//!   `{platform}:{shop}:api:inventory:{item_id}@{read time in ms}`: a level can go 5, 4, 5, so
//!   the level is no version, and the same read published twice (a retried publish) is still
//!   one event.
//! - **Flow control.** The first read of a catalogue publishes every SKU; it waits for room in
//!   the shards before each [`super::PUBLISH_BATCH`] as a backfill does ([`super::room`]), so
//!   webhooks of shops sharing the shards do not queue behind thousands of levels.
//! - **What a read does not see.** A SKU that leaves the catalogue (a listing deactivated,
//!   deleted or expired, an inventory item removed) is not reported at all: its last level
//!   stays, as its absence says nothing of the shelf. Each platform's file says what else.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use xcs_shared::domain::{StockChange, StockLevel};
use xcs_shared::{EventKind, Platform, Source};

use super::{Found, LEASE, Leased, Lister, PollError};
use crate::booking::Work;
use crate::config::{InventoryMode, ShopConfig};
use crate::error::ProcessError;
use crate::ledger::Ledger;

/// The poll state's purpose for the stock reads' schedule.
pub const PURPOSE: &str = "stock";
/// The topic a polled stock level is published under.
pub const TOPIC: &str = "poll/stock";
/// How soon a failed read is tried again (unless the stock interval is shorter).
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);
/// The most pages one read follows: a million listings, far beyond any shop, so a platform
/// offering further pages forever cannot hold the shop's lease.
const MAX_PAGES: usize = 10_000;

/// Whether the poller reads a shop's stock: tracked, with an API, on a platform whose stock
/// only its API tells, and not turned off.
pub fn polled(shop: &ShopConfig) -> bool {
    shop.inventory == InventoryMode::Tracked
        && shop.api.is_some()
        && matches!(shop.platform, Platform::Etsy | Platform::Ebay)
        && shop.poll.stock_interval() > 0
}

/// One SKU's quantity in one part of the catalogue (an Etsy listing, an eBay inventory item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// The stock item's id in `xcs_stock`: the SKU, on both platforms (Etsy renumbers its
    /// products whenever a listing's inventory is saved; eBay's inventory items are their SKU).
    pub item_id: String,
    pub sku: String,
    /// Where in the catalogue this quantity is: the same SKU in two listings is two stocks,
    /// summed, and the same listing read twice (pages shifting under the read) counts once.
    pub part: String,
    /// The quantity available to sell now.
    pub available: Decimal,
}

/// One page of a platform's catalogue.
#[derive(Debug, Default)]
pub struct Page {
    pub levels: Vec<Level>,
    /// Products (variations) without a SKU: Xero items are SKUs, so these are not read.
    pub without_sku: usize,
    /// The token of the next page, the platform's own (an offset, or its next link).
    pub next: Option<String>,
}

/// The body of a polled stock event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Polled {
    pub item_id: String,
    pub sku: String,
    pub available: Decimal,
    /// When the catalogue was read (RFC 3339).
    pub read_at: String,
}

/// What one read found and did.
#[derive(Debug, Default, Clone, Copy)]
pub struct StockTally {
    pub skus: usize,
    pub without_sku: usize,
    pub published: usize,
}

/// The `item_id` prefix of a comparison `reconcile --stock --fix` requests, followed by the
/// SKU: no platform's stock item id (the poller's are SKUs) is read from such an event.
pub const RECONCILE_PREFIX: &str = "reconcile:";

/// The work of any event under [`TOPIC`], on every platform (`platforms::work_for` routes
/// them all here): the poller's level, or a comparison reconcile requests.
///
/// A requested comparison carries no level of its own. Had it carried the sum over the SKU's
/// locations as a level, recording it would add a location (its own `item_id`) whose level
/// is the sum, and the next comparison would count the stock twice; recorded under a real
/// item id, it would put the sum in one location's place. Instead it asks for the SKU's item
/// code to be compared again: its work is the levels the ledger holds for the code now, each
/// under its own item and location with its exact `reported_at` as `as_of`. Recording those
/// again changes no level; it only makes this event the holder of each (so `book_stock`
/// compares it, after the usual quiet time, in the tenant's order). A level reported after
/// the ledger was read here is later than that `as_of`, so it is not overwritten, this event
/// holds none of the code's levels and is skipped, and that level's own event compares the
/// code. The request's `available` is what reconcile saw, for people reading the archive; a
/// second request before the first is handled compares once more and, the comparison being
/// absolute, finds nothing left.
///
/// # Errors
/// [`ProcessError::Unparseable`] when the body is not a [`Polled`] level; a ledger error.
pub(crate) async fn work_for(event: &crate::platforms::Event<'_>) -> Result<Work, ProcessError> {
    let platform = event.envelope.platform;
    let polled = parse(platform, event.body)?;
    let requested = event.envelope.source == Source::Backfill;
    let Some(sku) = polled
        .item_id
        .strip_prefix(RECONCILE_PREFIX)
        .filter(|_| requested)
    else {
        return Ok(polled_work(platform, polled));
    };
    let Some(code) = event.shop.mapping.stock_item_code(sku) else {
        return Err(ProcessError::Unparseable(format!(
            "reconcile asked to compare SKU {sku:?}, which has no Xero item code; give it one \
             in [shops.{}.mapping.items]",
            event.envelope.shop
        )));
    };
    let levels = event
        .ledger
        .recorded_levels(&event.envelope.shop, platform, Some(&code))
        .await?;
    Ok(Work::Stock(
        levels.into_iter().map(|(_, change)| change).collect(),
    ))
}

/// The event that asks for `sku`'s item code to be compared again ([`work_for`]), published by
/// `reconcile --stock --fix` with [`Source::Backfill`]. Its id holds the time of the request,
/// so a later request is a new event and not a duplicate of one handled already.
pub fn comparison_request(sku: &str, available: Decimal, at: OffsetDateTime) -> Found {
    found(
        Polled {
            item_id: format!("{RECONCILE_PREFIX}{sku}"),
            sku: sku.to_owned(),
            available,
            read_at: super::rfc3339(at),
        },
        &(at.unix_timestamp_nanos() / 1_000_000).to_string(),
    )
}

fn parse(platform: Platform, body: &[u8]) -> Result<Polled, ProcessError> {
    serde_json::from_slice(body).map_err(|err| {
        ProcessError::Unparseable(format!(
            "the polled {} stock level is not one: {err}",
            platform.display_name()
        ))
    })
}

/// The work a polled stock event asks for: one absolute level, its SKU set.
///
/// # Errors
/// [`ProcessError::Unparseable`] when the body is not a [`Polled`] level.
pub(crate) fn work(platform: Platform, body: &[u8]) -> Result<Work, ProcessError> {
    Ok(polled_work(platform, parse(platform, body)?))
}

fn polled_work(platform: Platform, polled: Polled) -> Work {
    Work::Stock(vec![StockChange {
        platform,
        item_id: polled.item_id,
        sku: Some(polled.sku),
        location: None,
        level: StockLevel::Absolute(polled.available),
        unit_cost: None,
        as_of: Some(polled.read_at),
        name: None,
    }])
}

/// Whether the stock read of a shop is due (its `stock` row says so, or it has none yet).
///
/// # Errors
/// [`PollError::Ledger`].
pub async fn due(ledger: &Ledger, name: &str) -> Result<bool, PollError> {
    let now = OffsetDateTime::now_utc();
    Ok(ledger
        .poll_states(Some(name))
        .await?
        .iter()
        .find(|state| state.purpose == PURPOSE)
        .is_none_or(|state| state.next_poll_at <= now))
}

/// One shop's stock read.
pub struct Reader<'a> {
    pub leased: Leased<'a>,
}

impl Reader<'_> {
    /// Reads the shop's stock if its turn has come, and schedules the next read; `None` when
    /// it was not due.
    ///
    /// # Errors
    /// [`PollError`]; a failed read is tried again within a minute.
    pub async fn read_if_due(&self) -> Result<Option<StockTally>, PollError> {
        let Some(schedule) = self
            .leased
            .ledger
            .lease_poll(
                self.leased.name,
                PURPOSE,
                self.leased.shop.platform.as_str(),
                self.leased.holder,
                OffsetDateTime::now_utc(),
                LEASE,
                false,
            )
            .await?
        else {
            return Ok(None);
        };
        let calls_before = self.leased.client.calls();
        let result = self.read().await;
        let interval = Duration::from_secs(self.leased.shop.poll.stock_interval());
        let (next_in, error, published) = match &result {
            Ok(tally) => (interval, String::new(), tally.published),
            Err(err) => (interval.min(RETRY_FAILED_AFTER), err.to_string(), 0),
        };
        let calls = self.leased.client.calls() - calls_before;
        if !matches!(result, Err(PollError::LeaseLost)) {
            self.leased
                .ledger
                .release_poll(&schedule, next_in, published, calls, &error)
                .await?;
        }
        if let Ok(tally) = &result {
            tracing::info!(
                shop = self.leased.name,
                skus = tally.skus,
                published = tally.published,
                calls,
                "read the stock levels; published those that changed"
            );
        }
        result.map(Some)
    }

    /// Reads the whole catalogue, then publishes the levels that differ from the ledger's.
    async fn read(&self) -> Result<StockTally, PollError> {
        let lister = Lister::of(self.leased.name, self.leased.shop, self.leased.client)?;
        let read_at = OffsetDateTime::now_utc();
        let mut items: BTreeMap<String, (String, BTreeMap<String, Decimal>)> = BTreeMap::new();
        let mut without_sku = 0;
        let mut token: Option<String> = None;
        for pages in 1.. {
            let page = self.page(&lister, token.as_deref()).await?;
            without_sku += page.without_sku;
            for level in page.levels {
                items
                    .entry(level.item_id)
                    .or_insert_with(|| (level.sku, BTreeMap::new()))
                    .1
                    .insert(level.part, level.available);
            }
            self.leased.renew().await?;
            match page.next {
                Some(next) if pages < MAX_PAGES => token = Some(next),
                Some(_) => {
                    return Err(PollError::Unreadable(format!(
                        "the {} catalogue keeps offering further pages ({MAX_PAGES} read); its \
                         pagination is broken",
                        self.leased.shop.platform.display_name()
                    )));
                }
                None => break,
            }
        }
        if without_sku > 0 {
            tracing::info!(
                shop = self.leased.name,
                products = without_sku,
                "{without_sku} {} product(s) have no SKU, so their stock is not read; give them \
                 SKUs for Xero to track them",
                self.leased.shop.platform.display_name()
            );
        }
        let recorded = self.leased.ledger.recorded_stock(self.leased.name).await?;
        let read_at_text = super::rfc3339(read_at);
        let version = (read_at.unix_timestamp_nanos() / 1_000_000).to_string();
        let skus = items.len();
        let changed: Vec<Found> = items
            .into_iter()
            .filter_map(|(item_id, (sku, parts))| {
                let available: Decimal = parts.values().sum();
                (!unchanged(recorded.get(&item_id), &sku, available)).then(|| {
                    found(
                        Polled {
                            item_id,
                            sku,
                            available,
                            read_at: read_at_text.clone(),
                        },
                        &version,
                    )
                })
            })
            .collect();
        if !changed.is_empty() {
            self.leased.publish(&changed, "stock levels").await?;
        }
        Ok(StockTally {
            skus,
            without_sku,
            published: changed.len(),
        })
    }

    async fn page(&self, lister: &Lister<'_>, token: Option<&str>) -> Result<Page, PollError> {
        match self.leased.shop.platform {
            Platform::Etsy => crate::platforms::etsy::stock::page(lister, token).await,
            Platform::Ebay => crate::platforms::ebay::stock::page(lister, token).await,
            other => Err(PollError::Misconfigured(format!(
                "{} stock comes by its webhooks; the poller reads only Etsy's and eBay's",
                other.display_name()
            ))),
        }
    }
}

/// Whether `recorded` (the ledger's SKU and level JSON) is already `sku` at `available`.
fn unchanged(recorded: Option<&(Option<String>, String)>, sku: &str, available: Decimal) -> bool {
    recorded.is_some_and(|(recorded_sku, level)| {
        recorded_sku.as_deref() == Some(sku)
            && serde_json::from_str::<StockLevel>(level)
                .is_ok_and(|level| level == StockLevel::Absolute(available))
    })
}

fn found(polled: Polled, version: &str) -> Found {
    Found {
        kind: EventKind::Inventory,
        topic: TOPIC.to_owned(),
        body: serde_json::to_vec(&polled).expect("a level serialises"),
        id: polled.item_id,
        version: version.to_owned(),
    }
}

/// The ledger's levels, for tests: item id to SKU and level JSON.
#[cfg(test)]
fn recorded(
    entries: &[(&str, &str, StockLevel)],
) -> std::collections::HashMap<String, (Option<String>, String)> {
    entries
        .iter()
        .map(|(item, sku, level)| {
            (
                (*item).to_owned(),
                (
                    Some((*sku).to_owned()),
                    serde_json::to_string(level).unwrap(),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_level_the_ledger_does_not_hold_for_that_sku_is_a_change() {
        let ledger = recorded(&[
            ("MUG", "MUG", StockLevel::Absolute(Decimal::new(500, 2))),
            ("CUP", "CUP", StockLevel::Delta(Decimal::from(5))),
        ]);
        assert!(unchanged(ledger.get("MUG"), "MUG", Decimal::from(5)));
        assert!(!unchanged(ledger.get("MUG"), "MUG", Decimal::from(4)));
        assert!(!unchanged(ledger.get("MUG"), "MUG-2", Decimal::from(5)));
        assert!(!unchanged(ledger.get("CUP"), "CUP", Decimal::from(5)));
        assert!(!unchanged(ledger.get("BOWL"), "BOWL", Decimal::ZERO));
    }

    #[test]
    fn a_polled_level_is_absolute_with_its_sku_no_cost_and_the_reads_time() {
        let polled = Polled {
            item_id: "MUG-KAURI".into(),
            sku: "MUG-KAURI".into(),
            available: Decimal::from(7),
            read_at: "2026-12-07T10:00:00Z".into(),
        };
        let event = found(polled.clone(), "1796637600000");
        assert_eq!(
            event.event_id(Platform::Ebay, "acme"),
            "ebay:acme:api:inventory:MUG-KAURI@1796637600000"
        );
        let Work::Stock(changes) = work(Platform::Ebay, &event.body).unwrap() else {
            panic!("stock work");
        };
        assert_eq!(
            changes,
            [StockChange {
                platform: Platform::Ebay,
                item_id: "MUG-KAURI".into(),
                sku: Some("MUG-KAURI".into()),
                location: None,
                level: StockLevel::Absolute(Decimal::from(7)),
                unit_cost: None,
                as_of: Some("2026-12-07T10:00:00Z".into()),
                name: None,
            }]
        );
        assert!(work(Platform::Etsy, b"{\"sku\": 1}").is_err());
    }
}
