//! What was done with each event (`xcs_events`): the record a redelivery or a replay finds,
//! and what reconcile compares.

use time::OffsetDateTime;
use xcs_shared::Envelope;

use super::{Ledger, LedgerError};

/// What the processor did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Documents were booked (or found already booked) in Xero.
    Booked,
    /// Nothing to book: a kind the shop does not sync, a draft order, a stock change.
    Skipped,
    /// Added to its period's summary (a shop in summary mode), booked when the period closes.
    Summarised,
}

impl EventOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Booked => "booked",
            EventOutcome::Skipped => "skipped",
            EventOutcome::Summarised => "summarised",
        }
    }
}

/// An event of a shop as the ledger recorded it, for reconcile.
pub(crate) struct ShopEvent {
    pub event_id: String,
    /// When the ingress received it, as its `xcs-received-at` said (RFC 3339).
    pub received_at: String,
    /// `booked`, `skipped` or `summarised`.
    pub outcome: String,
    pub detail: String,
}

impl Ledger {
    /// The outcome recorded for an event, if it was handled before.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn event_outcome(&self, event_id: &str) -> Result<Option<String>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT outcome FROM xcs_events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Records what was done with an event. Recording twice keeps the first record, except
    /// that `booked` replaces `skipped` (a re-sync booked what was skipped before).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_event(
        &self,
        envelope: &Envelope,
        outcome: EventOutcome,
        detail: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_events
                   (event_id, platform, shop, tenant, kind, topic, received_at, outcome, detail,
                    source)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (event_id) DO UPDATE
                   SET outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, processed_at = now(),
                       source = EXCLUDED.source
                   WHERE xcs_events.outcome = 'skipped' AND EXCLUDED.outcome = 'booked'",
                &[
                    &envelope.event_id,
                    &envelope.platform.as_str(),
                    &envelope.shop,
                    &envelope.tenant,
                    &envelope.kind.as_str(),
                    &envelope.topic,
                    &envelope.received_at,
                    &outcome.as_str(),
                    &detail,
                    &envelope.source.as_str(),
                ],
            )
            .await?;
        Ok(())
    }

    /// The outcome and detail recorded for an event, if it was handled.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn event_record(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, String)>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT outcome, detail FROM xcs_events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// The events of `shop` the processor handled at or after `since`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn shop_events_since(
        &self,
        shop: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<ShopEvent>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id, received_at, detail, outcome FROM xcs_events
                 WHERE shop = $1 AND processed_at >= $2",
                &[&shop, &since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ShopEvent {
                event_id: r.get(0),
                received_at: r.get(1),
                detail: r.get(2),
                outcome: r.get(3),
            })
            .collect())
    }
}

impl Ledger {
    /// The events recorded whose ids start with one of `prefixes` (taken literally, not as
    /// patterns), with their outcome and detail: which of the poller's versions of an order
    /// reached the processor.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn events_with_prefixes(
        &self,
        prefixes: &[String],
    ) -> Result<Vec<ShopEvent>, LedgerError> {
        let patterns: Vec<String> = prefixes
            .iter()
            .map(|prefix| {
                let mut pattern = String::with_capacity(prefix.len() + 1);
                for c in prefix.chars() {
                    if matches!(c, '\\' | '%' | '_') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                pattern
            })
            .collect();
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id, received_at, detail, outcome FROM xcs_events
                  WHERE event_id LIKE ANY($1)",
                &[&patterns],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ShopEvent {
                event_id: r.get(0),
                received_at: r.get(1),
                detail: r.get(2),
                outcome: r.get(3),
            })
            .collect())
    }
}

impl Ledger {
    /// Records that the event carrying order `order_id` of the envelope's shop was parked in
    /// the dead queue with `reason`; a later parking of the order replaces it.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn park_order(
        &self,
        envelope: &Envelope,
        order_id: &str,
        reason: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_parked_orders (shop, order_id, tenant, event_id, reason)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop, order_id) DO UPDATE
                   SET tenant = EXCLUDED.tenant, event_id = EXCLUDED.event_id,
                       reason = EXCLUDED.reason, parked_at = now()",
                &[
                    &envelope.shop,
                    &order_id,
                    &envelope.tenant,
                    &envelope.event_id,
                    &reason,
                ],
            )
            .await?;
        Ok(())
    }

    /// The event parked for order `order_id` of `shop`, and its reason, if one is.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn parked_order(
        &self,
        shop: &str,
        order_id: &str,
    ) -> Result<Option<(String, String)>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT event_id, reason FROM xcs_parked_orders
                 WHERE shop = $1 AND order_id = $2",
                &[&shop, &order_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Forgets the orders whose parked events are `event_ids` (purged from the dead queue).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn forget_parked_events(&self, event_ids: &[&str]) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_parked_orders WHERE event_id = ANY($1)",
                &[&event_ids],
            )
            .await?;
        Ok(())
    }

    /// Forgets that order `order_id` of `shop` is parked: one of its events is being handled
    /// again.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn unpark_order(&self, shop: &str, order_id: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_parked_orders WHERE shop = $1 AND order_id = $2",
                &[&shop, &order_id],
            )
            .await?;
        Ok(())
    }
}

/// A shop's events as `status` reports them.
#[derive(Debug, Clone, Default)]
pub struct ShopTally {
    /// Events per outcome (`booked`, `skipped`, `summarised`).
    pub by_outcome: Vec<(String, i64)>,
    /// The event booked (or summarised) last: id, kind, topic, and when it was handled.
    pub last_booked: Option<(String, String, String, OffsetDateTime)>,
}

impl Ledger {
    /// How many of a shop's events ended how, and the last one booked.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_tally(&self, platform: &str, shop: &str) -> Result<ShopTally, LedgerError> {
        let client = self.pool.get().await?;
        let by_outcome = client
            .query(
                "SELECT outcome, count(*) FROM xcs_events WHERE shop = $1 AND platform = $2
                 GROUP BY outcome ORDER BY outcome",
                &[&shop, &platform],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let last_booked = client
            .query_opt(
                "SELECT event_id, kind, topic, processed_at FROM xcs_events
                 WHERE shop = $1 AND platform = $2 AND outcome IN ('booked', 'summarised')
                 ORDER BY processed_at DESC LIMIT 1",
                &[&shop, &platform],
            )
            .await?
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)));
        Ok(ShopTally {
            by_outcome,
            last_booked,
        })
    }
}

impl Ledger {
    /// The sales invoices booked into `tenant` since `since`, and the orders its shops booked or
    /// summarised then (events, so an order with several events counts several times): the
    /// history `check` weighs an organisation's plan against.
    pub async fn tenant_volume_since(
        &self,
        tenant: &str,
        since: OffsetDateTime,
    ) -> Result<(i64, i64), LedgerError> {
        let client = self.pool.get().await?;
        let invoices: i64 = client
            .query_one(
                "SELECT count(*) FROM xcs_documents
                 WHERE tenant = $1 AND kind = 'invoice' AND created_at >= $2",
                &[&tenant, &since],
            )
            .await?
            .get(0);
        let orders: i64 = client
            .query_one(
                "SELECT count(*) FROM xcs_events
                 WHERE tenant = $1 AND kind = 'order' AND outcome IN ('booked', 'summarised')
                   AND processed_at >= $2",
                &[&tenant, &since],
            )
            .await?
            .get(0);
        Ok((invoices, orders))
    }
}
