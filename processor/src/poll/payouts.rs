//! Paid payouts of a shop with `payouts = true` (README "Payouts"): every
//! `poll.payouts_interval_secs` the poller reads the payouts the platform has paid since the
//! shop's payout cursor (Shopify Payments payouts, Etsy's disbursements, eBay's Finances API
//! payouts: `platforms::{shopify,etsy,ebay}::payouts`), normalises each with its parts and
//! publishes it as a [`Settlement`] event, which `crate::payouts` books.
//!
//! - **Under the shop's lease.** As the stock reads ([`super::stock`]): while the poller holds
//!   the shop's `poll` lease, so the calls share the order poll's pacing. The schedule and the
//!   cursor are the `payouts` row of `xcs_poll_state`, which `status` shows.
//! - **Reach back.** Each read starts [`REACH_BACK`] before the cursor: a payout the platform
//!   lists before it is paid (Shopify's `in_transit`, eBay's `INITIATED`) is read again until
//!   it is, and a payout read twice is the same event. The first read of a shop starts that
//!   far before payouts were turned on: older deposits paid orders the ledger never saw, which
//!   would only be held.
//! - **Events.** Kind `payout`, topic [`TOPIC`]. Per payout (`fees_per = "payout"`), id
//!   `{platform}:{shop}:api:payout:{payout id}@paid`: paid is a payout's last state, so the
//!   same payout is always one event. Per day (`fees_per = "day"`), one event per bank date
//!   and currency once the shop's day is over, id `…:api:payout:day-{date}-{currency}@{digest
//!   of its payout ids}`: a payout of that day listed later makes a new event, in which the
//!   booking skips the payouts booked already. A payout the ledger has seen (booked, or held
//!   waiting for its orders with its event in a retry tier) is not published again, so a
//!   payout held for days is not queued again by every read.
//! - **Etsy.** Etsy's ledger has no payouts, only a running balance debited by each
//!   disbursement, which pays what the ledger took in since the previous one
//!   (`etsy::payouts::split`). A read must start at or before the previous disbursement (the
//!   anchor) for the next to be read whole, with what the balance brought forward: Etsy's
//!   cursor is therefore the time of the last disbursement read (per day, the last of a day
//!   published), not of the read, and a read that finds no disbursement after the anchor
//!   leaves the cursor where it was.
//! - **Failures.** A payout that does not normalise (an answer the reader cannot map) is
//!   logged and kept as the read's last error, which `status` shows, and the read publishes
//!   the others; a failed call fails the read, which is tried again within a minute from the
//!   same cursor.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use time::{Date, OffsetDateTime};
use xcs_shared::domain::{Payout, PayoutStatus};
use xcs_shared::{EventKind, Platform};

use super::{Found, LEASE, Leased, Lister, PollError};
use crate::config::ShopConfig;
use crate::ledger::{Ledger, PollLease};
use crate::payouts::mapping::FeesPer;
use crate::payouts::{Settlement, TOPIC};
use crate::platforms::{ebay, etsy, shopify};

/// The poll state's purpose for the payout reads' schedule and cursor.
pub const PURPOSE: &str = "payouts";
/// How far before the cursor each read starts.
pub const REACH_BACK: time::Duration = time::Duration::days(7);
/// How far before its anchor (the cursor) an Etsy read starts: Etsy does not say whether
/// `min_created` is inclusive, and its clock is not ours.
const ETSY_SKEW: time::Duration = time::Duration::hours(1);
/// How soon a failed read is tried again (unless the payouts interval is shorter).
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);

/// Whether the poller reads a shop's payouts: `payouts = true`, an API, a platform that pays
/// out itself, and not turned off.
pub fn polled(shop: &ShopConfig) -> bool {
    shop.payouts
        && shop.api.is_some()
        && matches!(
            shop.platform,
            Platform::Shopify | Platform::Etsy | Platform::Ebay
        )
        && shop.poll.payouts_interval() > 0
}

/// Whether the payout read of a shop is due (its `payouts` row says so, or it has none yet).
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

/// What one read found and did.
#[derive(Debug, Default, Clone)]
pub struct PayoutTally {
    /// Paid payouts listed that the ledger had not seen.
    pub paid: usize,
    /// Settlement events published (not booked before).
    pub published: usize,
    /// Why payouts could not be normalised, one line each.
    pub unreadable: Vec<String>,
}

/// The platform's paid payouts of one read.
struct Read {
    payouts: Vec<Payout>,
    unreadable: Vec<String>,
    /// Where the next read's cursor goes; `None` leaves it.
    cursor: Option<OffsetDateTime>,
    /// Etsy's: the bank date and time of each disbursement read after the anchor, oldest
    /// first, any of which can anchor the next read.
    anchors: Vec<(Date, OffsetDateTime)>,
    /// The first bank date of which the read saw every payout (per-day settlements).
    whole_from: Option<Date>,
}

/// One shop's payout read.
pub struct Reader<'a> {
    pub leased: Leased<'a>,
}

impl Reader<'_> {
    /// Reads the shop's payouts if their turn has come, and schedules the next read; `None`
    /// when it was not due.
    ///
    /// # Errors
    /// [`PollError`]; a failed read is tried again within a minute.
    pub async fn read_if_due(&self) -> Result<Option<PayoutTally>, PollError> {
        let now = OffsetDateTime::now_utc();
        let Some(schedule) = self
            .leased
            .ledger
            .lease_poll(
                self.leased.name,
                PURPOSE,
                self.leased.shop.platform.as_str(),
                self.leased.holder,
                initial_cursor(self.leased.shop.platform, now),
                LEASE,
                false,
            )
            .await?
        else {
            return Ok(None);
        };
        let calls_before = self.leased.client.calls();
        let result = self.read(&schedule, now).await;
        let interval = Duration::from_secs(self.leased.shop.poll.payouts_interval());
        let (next_in, error, published) = match &result {
            Ok(tally) => (interval, tally.unreadable.join("; "), tally.published),
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
                paid = tally.paid,
                published = tally.published,
                unreadable = tally.unreadable.len(),
                calls,
                "read the paid payouts; published those not booked"
            );
        }
        result.map(Some)
    }

    async fn read(
        &self,
        schedule: &PollLease,
        now: OffsetDateTime,
    ) -> Result<PayoutTally, PollError> {
        let lister = Lister::of(self.leased.name, self.leased.shop, self.leased.client)?;
        let from = match self.leased.shop.platform {
            Platform::Etsy => schedule.cursor - ETSY_SKEW,
            _ => schedule.cursor - REACH_BACK,
        };
        let read = match self.leased.shop.platform {
            Platform::Shopify => self.shopify(&lister, from, now).await?,
            Platform::Etsy => self.etsy(&lister, from, now).await?,
            Platform::Ebay => self.ebay(&lister, from, now).await?,
            other => {
                return Err(PollError::Misconfigured(format!(
                    "{} settles through its payment gateways; payouts are read from Shopify \
                     Payments, Etsy and eBay only",
                    other.display_name()
                )));
            }
        };
        for line in &read.unreadable {
            tracing::warn!(
                shop = self.leased.name,
                "a payout could not be read, so it is not booked: {line}"
            );
        }
        let mut paid = Vec::new();
        for payout in read.payouts {
            if payout.status == PayoutStatus::Paid && !self.seen(&payout.payout_id).await? {
                paid.push(payout);
            }
        }
        let today = self.leased.shop.timezone.local(now).date();
        let per_day = self
            .leased
            .shop
            .mapping
            .payouts
            .as_ref()
            .is_some_and(|m| m.fees_per == FeesPer::Day);
        let settlements = if per_day {
            self.days(&paid, read.whole_from, today).await?
        } else {
            paid.iter().map(|p| one(p.clone())).collect()
        };
        let ids: Vec<String> = settlements
            .iter()
            .map(|f| f.event_id(self.leased.shop.platform, self.leased.name))
            .collect();
        let booked = self.leased.ledger.booked_events(&ids).await?;
        let fresh: Vec<Found> = settlements
            .into_iter()
            .filter(|f| !booked.contains(&f.event_id(self.leased.shop.platform, self.leased.name)))
            .collect();
        if !fresh.is_empty() {
            self.leased.publish(&fresh, "payouts").await?;
        }
        // A day's settlement is published once the day is over, from a read that holds the
        // disbursement before the day's first: Etsy's next read is anchored at the last
        // disbursement of a day published, not at today's.
        let cursor = read.cursor.or_else(|| {
            read.anchors
                .iter()
                .rev()
                .find(|(day, _)| !per_day || *day < today)
                .map(|(_, at)| *at)
        });
        if let Some(cursor) = cursor
            && !self
                .leased
                .ledger
                .checkpoint_poll(schedule, cursor, LEASE)
                .await?
        {
            return Err(PollError::LeaseLost);
        }
        Ok(PayoutTally {
            paid: paid.len(),
            published: fresh.len(),
            unreadable: read.unreadable,
        })
    }

    /// Shopify dates its payouts by day (the shop's), so the read starts at the day the reach
    /// back falls on, which it sees whole.
    async fn shopify(
        &self,
        lister: &Lister<'_>,
        from: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Read, PollError> {
        let since = self.leased.shop.timezone.local(from).date();
        let listed = shopify::payouts::paid_payouts(self.leased.client, lister.api, since).await?;
        let mut read = Read {
            payouts: Vec::new(),
            unreadable: Vec::new(),
            cursor: Some(now),
            anchors: Vec::new(),
            whole_from: Some(since),
        };
        for payout in &listed {
            let id = id_text(&payout["id"]);
            if self.seen(&id).await? {
                continue;
            }
            let transactions =
                shopify::payouts::balance_transactions(self.leased.client, lister.api, &id).await?;
            self.leased.renew().await?;
            match shopify::payouts::payout(payout, &transactions) {
                Ok(normalised) => read.payouts.push(normalised),
                Err(err) => read.unreadable.push(format!("Shopify payout {id}: {err}")),
            }
        }
        Ok(read)
    }

    /// eBay's window is of times (UTC); it starts at a UTC midnight so that the day it starts
    /// on is read whole.
    async fn ebay(
        &self,
        lister: &Lister<'_>,
        from: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Read, PollError> {
        let day = from.to_offset(time::UtcOffset::UTC).date();
        let from = day.midnight().assume_utc();
        let listed =
            ebay::payouts::succeeded_payouts(self.leased.client, lister.api, from, now).await?;
        let mut read = Read {
            payouts: Vec::new(),
            unreadable: Vec::new(),
            cursor: Some(now),
            anchors: Vec::new(),
            whole_from: Some(day),
        };
        for payout in &listed {
            let id = id_text(&payout["payoutId"]);
            if self.seen(&id).await? {
                continue;
            }
            let transactions =
                ebay::payouts::transactions(self.leased.client, lister.api, &id).await?;
            self.leased.renew().await?;
            match ebay::payouts::payout(payout, &transactions) {
                Ok(normalised) => read.payouts.push(normalised),
                Err(err) => read.unreadable.push(format!("eBay payout {id}: {err}")),
            }
        }
        Ok(read)
    }

    /// The disbursements after the first one the window holds (the anchor), each with what it
    /// paid since the one before; the cursor goes to the last, which anchors the next read.
    async fn etsy(
        &self,
        lister: &Lister<'_>,
        from: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Read, PollError> {
        let entries =
            etsy::payouts::ledger_entries(self.leased.client, lister.api, from, now).await?;
        self.leased.renew().await?;
        let ledger = etsy::payouts::split(entries);
        let created = |entry: &Value| {
            entry["created_timestamp"]
                .as_i64()
                .and_then(|at| OffsetDateTime::from_unix_timestamp(at).ok())
        };
        let mut read = Read {
            payouts: Vec::new(),
            unreadable: Vec::new(),
            cursor: None,
            anchors: ledger
                .paid
                .iter()
                .filter_map(|d| created(&d.entry))
                .map(|at| (at.date(), at))
                .collect(),
            // Disbursements on the anchor's day before it are not in the window.
            whole_from: ledger
                .anchor
                .as_ref()
                .and_then(created)
                .and_then(|at| at.date().next_day()),
        };
        let wanted: Vec<String> = ledger
            .paid
            .iter()
            .flat_map(|d| &d.entries)
            .filter(|e| etsy::payouts::needs_payment(e))
            .map(|e| id_text(&e["entry_id"]))
            .collect();
        let payments = if wanted.is_empty() {
            Vec::new()
        } else {
            etsy::payouts::entry_payments(self.leased.client, lister.api, &wanted).await?
        };
        self.leased.renew().await?;
        let receipts = etsy::payouts::receipts_of(&payments);
        for disbursement in &ledger.paid {
            match etsy::payouts::payout(disbursement, &receipts) {
                Ok(normalised) => read.payouts.push(normalised),
                Err(err) => read.unreadable.push(format!(
                    "Etsy disbursement {}: {err}",
                    id_text(&disbursement.entry["reference_id"])
                )),
            }
        }
        Ok(read)
    }

    /// Whether the ledger has seen payout `id`: booked, or held by an event that waits for
    /// its orders in a retry tier (or, held too long, in the dead queue for an operator). Its
    /// event is handled or on its way, so it is neither fetched nor published again.
    async fn seen(&self, id: &str) -> Result<bool, PollError> {
        Ok(self
            .leased
            .ledger
            .payout(self.leased.name, id)
            .await?
            .is_some())
    }

    /// One settlement per bank date and currency, for the days over in the shop and seen whole.
    /// Once the ledger holds payouts of a day (held or booked, so in an event already), a
    /// payout of that day it does not hold goes in a settlement of its own: the day's fees
    /// bill is made, or will be, and a second settlement of the day would find it made.
    async fn days(
        &self,
        paid: &[Payout],
        whole_from: Option<Date>,
        today: Date,
    ) -> Result<Vec<Found>, PollError> {
        let Some(whole_from) = whole_from else {
            return Ok(Vec::new());
        };
        let mut by_day: BTreeMap<(Date, String), Vec<Payout>> = BTreeMap::new();
        for payout in paid {
            if payout.date >= whole_from && payout.date < today {
                by_day
                    .entry((payout.date, payout.currency.as_str().to_owned()))
                    .or_default()
                    .push(payout.clone());
            }
        }
        let mut found = Vec::new();
        for ((day, currency), payouts) in by_day {
            let known: Vec<String> = self
                .leased
                .ledger
                .payouts_between(self.leased.name, day, day)
                .await?
                .into_iter()
                .filter(|row| row.currency.eq_ignore_ascii_case(&currency))
                .map(|row| row.payout_id)
                .collect();
            if known.is_empty() {
                found.push(of_day(day, &currency, payouts));
            } else {
                found.extend(
                    payouts
                        .into_iter()
                        .filter(|p| !known.contains(&p.payout_id))
                        .map(one),
                );
            }
        }
        Ok(found)
    }
}

/// Where a shop's first payout read starts from: [`REACH_BACK`] before now, whether as the
/// overlap before the cursor or (Etsy, whose cursor is its anchor) as the cursor itself.
fn initial_cursor(platform: Platform, now: OffsetDateTime) -> OffsetDateTime {
    match platform {
        Platform::Etsy => now - REACH_BACK,
        _ => now,
    }
}

/// A platform id as text: Shopify's and Etsy's are numbers, eBay's strings.
fn id_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.trim().to_owned(),
        other => other.to_string(),
    }
}

/// The settlement event of one payout.
fn one(payout: Payout) -> Found {
    let id = payout.payout_id.clone();
    found(
        &Settlement {
            day: None,
            payouts: vec![payout],
        },
        id,
        "paid".to_owned(),
    )
}

/// The settlement event of a day's payouts in one currency, versioned by which they are.
fn of_day(day: Date, currency: &str, payouts: Vec<Payout>) -> Found {
    let mut ids: Vec<&str> = payouts.iter().map(|p| p.payout_id.as_str()).collect();
    ids.sort_unstable();
    let digest = Sha256::digest(ids.join("\n").as_bytes());
    let version = hex::encode(&digest[..6]);
    found(
        &Settlement {
            day: Some(day),
            payouts,
        },
        format!("day-{day}-{currency}"),
        version,
    )
}

fn found(settlement: &Settlement, id: String, version: String) -> Found {
    Found {
        kind: EventKind::Payout,
        topic: TOPIC.to_owned(),
        body: serde_json::to_vec(settlement).expect("a settlement serialises"),
        id,
        version,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use time::macros::date;

    fn payout(id: &str, day: Date) -> Payout {
        Payout {
            platform: Platform::Shopify,
            payout_id: id.to_owned(),
            status: PayoutStatus::Paid,
            date: day,
            currency: "NZD".to_owned().try_into().unwrap(),
            amount: Decimal::ONE,
            charges: Vec::new(),
            refunds: Vec::new(),
            fees: Vec::new(),
            adjustments: Vec::new(),
        }
    }

    #[test]
    fn a_payout_read_twice_is_one_event_and_a_day_is_versioned_by_its_payouts() {
        let day = date!(2026 - 12 - 01);
        let once = one(payout("81726354", day));
        assert_eq!(
            once.event_id(Platform::Shopify, "acme"),
            "shopify:acme:api:payout:81726354@paid"
        );
        let body: Settlement = serde_json::from_slice(&once.body).unwrap();
        assert_eq!(body.day, None);
        assert_eq!(body.payouts.len(), 1);

        let two = of_day(day, "NZD", vec![payout("b", day), payout("a", day)]);
        let same = of_day(day, "NZD", vec![payout("a", day), payout("b", day)]);
        let three = of_day(
            day,
            "NZD",
            vec![payout("a", day), payout("b", day), payout("c", day)],
        );
        let id = |f: &Found| f.event_id(Platform::Shopify, "acme");
        assert_eq!(id(&two), id(&same));
        assert_ne!(id(&two), id(&three));
        assert!(id(&two).starts_with("shopify:acme:api:payout:day-2026-12-01-NZD@"));
        let body: Settlement = serde_json::from_slice(&two.body).unwrap();
        assert_eq!(body.day, Some(day));
    }

    #[test]
    fn ids_are_read_as_the_platforms_write_them() {
        assert_eq!(id_text(&serde_json::json!(81726354)), "81726354");
        assert_eq!(id_text(&serde_json::json!(" 6000001 ")), "6000001");
    }
}
