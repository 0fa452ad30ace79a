//! Where each shop's platform API has been read up to (`xcs_poll_state`), per purpose: the
//! poller's (`poll`) and each backfill's (`backfill {from}..{to}`). A row is leased by one
//! process at a time: the lease is taken only when free or expired, renewed with every
//! checkpoint, and a checkpoint by a process that lost its lease is refused, so two processors
//! never read one shop at once and a dead one's shop is taken over when its lease runs out.

use std::time::Duration;

use time::OffsetDateTime;

use super::{Ledger, LedgerError};

/// A lease on a shop's poll state, held by `holder` (one per process).
#[derive(Debug, Clone)]
pub struct PollLease {
    pub shop: String,
    pub purpose: String,
    pub holder: String,
    /// Everything the platform changed before this has been published.
    pub cursor: OffsetDateTime,
}

/// A shop's poll state, for `status` and tests.
#[derive(Debug, Clone)]
pub struct PollState {
    pub shop: String,
    pub purpose: String,
    pub cursor: OffsetDateTime,
    pub leased_by: Option<String>,
    pub last_poll_at: Option<OffsetDateTime>,
    pub next_poll_at: OffsetDateTime,
    pub last_found: i32,
    pub last_calls: i32,
    pub last_error: String,
}

fn interval(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl Ledger {
    /// Takes the lease on a shop's poll state, creating the state at `initial_cursor` if the
    /// shop was never read; `None` when another process holds it, or (unless `even_if_not_due`)
    /// when the shop is not due yet.
    ///
    /// # Errors
    /// [`LedgerError`].
    #[allow(clippy::too_many_arguments)]
    pub async fn lease_poll(
        &self,
        shop: &str,
        purpose: &str,
        platform: &str,
        holder: &str,
        initial_cursor: OffsetDateTime,
        lease: Duration,
        even_if_not_due: bool,
    ) -> Result<Option<PollLease>, LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_poll_state (shop, purpose, platform, cursor)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&shop, &purpose, &platform, &initial_cursor],
            )
            .await?;
        let row = client
            .query_opt(
                "UPDATE xcs_poll_state
                    SET leased_by = $3, leased_until = now() + make_interval(secs => $4)
                  WHERE shop = $1 AND purpose = $2
                    AND (leased_by IS NULL OR leased_until < now() OR leased_by = $3)
                    AND ($5 OR next_poll_at <= now())
                  RETURNING cursor",
                &[&shop, &purpose, &holder, &interval(lease), &even_if_not_due],
            )
            .await?;
        Ok(row.map(|row| PollLease {
            shop: shop.to_owned(),
            purpose: purpose.to_owned(),
            holder: holder.to_owned(),
            cursor: row.get(0),
        }))
    }

    /// Moves the cursor forward (never back) and renews the lease; `false` when the lease was
    /// lost (it expired and another process took the shop): the caller stops reading.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn checkpoint_poll(
        &self,
        lease: &PollLease,
        cursor: OffsetDateTime,
        renew: Duration,
    ) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        let updated = client
            .execute(
                "UPDATE xcs_poll_state
                    SET cursor = GREATEST(cursor, $4),
                        leased_until = now() + make_interval(secs => $5)
                  WHERE shop = $1 AND purpose = $2 AND leased_by = $3",
                &[
                    &lease.shop,
                    &lease.purpose,
                    &lease.holder,
                    &cursor,
                    &interval(renew),
                ],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Releases the lease, with what the read found and when the shop is due again.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn release_poll(
        &self,
        lease: &PollLease,
        next_in: Duration,
        found: usize,
        calls: usize,
        error: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let found = i32::try_from(found).unwrap_or(i32::MAX);
        let calls = i32::try_from(calls).unwrap_or(i32::MAX);
        client
            .execute(
                "UPDATE xcs_poll_state
                    SET leased_by = NULL, leased_until = NULL, last_poll_at = now(),
                        next_poll_at = now() + make_interval(secs => $4),
                        last_found = $5, last_calls = $6, last_error = $7
                  WHERE shop = $1 AND purpose = $2 AND leased_by = $3",
                &[
                    &lease.shop,
                    &lease.purpose,
                    &lease.holder,
                    &interval(next_in),
                    &found,
                    &calls,
                    &error,
                ],
            )
            .await?;
        Ok(())
    }

    /// Gives up the lease without recording a read, the shop's next turn unchanged: the
    /// poller held the shop only to read something else under it (its stock).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn unlease_poll(&self, lease: &PollLease) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE xcs_poll_state SET leased_by = NULL, leased_until = NULL
                  WHERE shop = $1 AND purpose = $2 AND leased_by = $3",
                &[&lease.shop, &lease.purpose, &lease.holder],
            )
            .await?;
        Ok(())
    }

    /// The stock levels the processor last recorded for a shop's items at no location
    /// (`xcs_stock`), by item id: their SKU and level (as `StockLevel` JSON). A stock read
    /// compares the platform's levels with these and publishes only those that differ.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn recorded_stock(
        &self,
        shop: &str,
    ) -> Result<std::collections::HashMap<String, (Option<String>, String)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT item_id, sku, level FROM xcs_stock WHERE shop = $1 AND location = ''",
                &[&shop],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), (row.get(1), row.get(2))))
            .collect())
    }

    /// Every poll state of a shop (all shops when `shop` is `None`).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn poll_states(&self, shop: Option<&str>) -> Result<Vec<PollState>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT shop, purpose, cursor, leased_by, last_poll_at, next_poll_at, last_found,
                        last_calls, last_error
                   FROM xcs_poll_state WHERE $1::TEXT IS NULL OR shop = $1
                  ORDER BY shop, purpose",
                &[&shop],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| PollState {
                shop: r.get(0),
                purpose: r.get(1),
                cursor: r.get(2),
                leased_by: r.get(3),
                last_poll_at: r.get(4),
                next_poll_at: r.get(5),
                last_found: r.get(6),
                last_calls: r.get(7),
                last_error: r.get(8),
            })
            .collect())
    }

    /// Which of `event_ids` the ledger recorded as booked or summarised (not skipped).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn booked_events(
        &self,
        event_ids: &[String],
    ) -> Result<std::collections::HashSet<String>, LedgerError> {
        if event_ids.is_empty() {
            return Ok(std::collections::HashSet::new());
        }
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id FROM xcs_events
                  WHERE event_id = ANY($1) AND outcome IN ('booked', 'summarised')",
                &[&event_ids],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// How many documents an event booked itself (not found booked by an earlier event): a
    /// polled event that booked any brought what no webhook did.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn documents_of_event(&self, event_id: &str) -> Result<i64, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT count(*) FROM xcs_documents WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.get(0))
    }
}
