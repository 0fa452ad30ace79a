//! What the operator's console reads and writes (`crate::console`): the action journal
//! (`xcs_console_actions`), the last check and reconcile per shop (`xcs_shop_checks`), and the
//! read-only views of `xcs_events` and `xcs_documents` its pages show. Every list is a page of
//! a bounded size, read newest first along an index.

use time::OffsetDateTime;

use super::{Ledger, LedgerError};

/// One action taken in the console.
#[derive(Debug, Clone)]
pub struct ConsoleAction {
    pub action_id: String,
    pub operator: String,
    /// What kind of action (`dead.replay`, `reconcile.fix`, ...).
    pub action: String,
    /// What it was done to, in words.
    pub subject: String,
    /// `running`, `done` or `failed`.
    pub state: String,
    pub progress: String,
    pub result: String,
    /// A console page showing what it did, or the next step, if any.
    pub link: String,
    /// What the link leads to, in words (empty: the result).
    pub link_text: String,
    pub started_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// A shop's last `check` or reconcile.
#[derive(Debug, Clone)]
pub struct ShopCheck {
    pub shop: String,
    /// `check` or `reconcile`.
    pub kind: String,
    pub ran_at: OffsetDateTime,
    pub ok: bool,
    pub summary: String,
    pub action_id: String,
}

/// A shop's latest events, for the overview.
#[derive(Debug, Clone)]
pub struct ShopActivity {
    pub shop: String,
    /// The event booked or summarised last, and when.
    pub last_booked: Option<(OffsetDateTime, String)>,
}

/// How many of a shop's events ended one way, from one source.
#[derive(Debug, Clone)]
pub struct OutcomeCount {
    pub shop: String,
    pub outcome: String,
    pub source: String,
    pub count: i64,
}

/// An event as the console lists it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub event_id: String,
    pub platform: String,
    pub shop: String,
    pub tenant: String,
    pub kind: String,
    pub topic: String,
    pub received_at: String,
    pub processed_at: OffsetDateTime,
    pub outcome: String,
    pub detail: String,
    pub source: String,
}

/// Which of a shop's events a page lists.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kind: Option<String>,
    pub outcome: Option<String>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// A Xero document the ledger recorded for an event.
#[derive(Debug, Clone)]
pub struct EventDocument {
    pub event_id: String,
    pub tenant: String,
    /// `invoice`, `credit_note`, ...
    pub kind: String,
    pub number: String,
    pub xero_id: String,
    pub currency: String,
    pub total: rust_decimal::Decimal,
    pub voided: bool,
}

const ACTION_COLUMNS: &str = "action_id, operator, action, subject, state, progress, result, \
                              link, started_at, updated_at, finished_at, link_text";

fn action_of(row: &tokio_postgres::Row) -> ConsoleAction {
    ConsoleAction {
        action_id: row.get(0),
        operator: row.get(1),
        action: row.get(2),
        subject: row.get(3),
        state: row.get(4),
        progress: row.get(5),
        result: row.get(6),
        link: row.get(7),
        started_at: row.get(8),
        updated_at: row.get(9),
        finished_at: row.get(10),
        link_text: row.get(11),
    }
}

const EVENT_COLUMNS: &str = "event_id, platform, shop, tenant, kind, topic, received_at, \
                             processed_at, outcome, detail, source";

fn event_of(row: &tokio_postgres::Row) -> EventRow {
    EventRow {
        event_id: row.get(0),
        platform: row.get(1),
        shop: row.get(2),
        tenant: row.get(3),
        kind: row.get(4),
        topic: row.get(5),
        received_at: row.get(6),
        processed_at: row.get(7),
        outcome: row.get(8),
        detail: row.get(9),
        source: row.get(10),
    }
}

impl Ledger {
    /// Records an action as started; `false` when one with this id was started before (the
    /// same form sent again), which must then not run again.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn start_console_action(
        &self,
        action_id: &str,
        operator: &str,
        action: &str,
        subject: &str,
    ) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        let inserted = client
            .execute(
                "INSERT INTO xcs_console_actions (action_id, operator, action, subject, state)
                 VALUES ($1, $2, $3, $4, 'running') ON CONFLICT (action_id) DO NOTHING",
                &[&action_id, &operator, &action, &subject],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Notes how far a running action got (and that its process is alive).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn console_action_progress(
        &self,
        action_id: &str,
        progress: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE xcs_console_actions SET progress = $2, updated_at = now()
                 WHERE action_id = $1 AND state = 'running'",
                &[&action_id, &progress],
            )
            .await?;
        Ok(())
    }

    /// Records how an action ended.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn finish_console_action(
        &self,
        action_id: &str,
        succeeded: bool,
        result: &str,
        (link, link_text): (&str, &str),
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let state = if succeeded { "done" } else { "failed" };
        client
            .execute(
                "UPDATE xcs_console_actions
                 SET state = $2, result = $3, link = $4, link_text = $5, updated_at = now(),
                     finished_at = now()
                 WHERE action_id = $1",
                &[&action_id, &state, &result, &link, &link_text],
            )
            .await?;
        Ok(())
    }

    /// One action.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn console_action(
        &self,
        action_id: &str,
    ) -> Result<Option<ConsoleAction>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ACTION_COLUMNS} FROM xcs_console_actions WHERE action_id = $1"),
                &[&action_id],
            )
            .await?;
        Ok(row.as_ref().map(action_of))
    }

    /// The actions started before `before` (all when `None`), newest first, at most `limit`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn console_actions(
        &self,
        before: Option<OffsetDateTime>,
        limit: i64,
    ) -> Result<Vec<ConsoleAction>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {ACTION_COLUMNS} FROM xcs_console_actions
                     WHERE $1::timestamptz IS NULL OR started_at < $1
                     ORDER BY started_at DESC, action_id LIMIT $2"
                ),
                &[&before, &limit],
            )
            .await?;
        Ok(rows.iter().map(action_of).collect())
    }

    /// Records the result of a shop's `check` or reconcile, replacing the one before.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_shop_check(
        &self,
        shop: &str,
        kind: &str,
        ok: bool,
        summary: &str,
        action_id: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_shop_checks (shop, kind, ok, summary, action_id)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop, kind) DO UPDATE
                   SET ran_at = now(), ok = EXCLUDED.ok, summary = EXCLUDED.summary,
                       action_id = EXCLUDED.action_id",
                &[&shop, &kind, &ok, &summary, &action_id],
            )
            .await?;
        Ok(())
    }

    /// Every shop's last check and reconcile.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_checks(&self) -> Result<Vec<ShopCheck>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT shop, kind, ran_at, ok, summary, action_id FROM xcs_shop_checks",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ShopCheck {
                shop: r.get(0),
                kind: r.get(1),
                ran_at: r.get(2),
                ok: r.get(3),
                summary: r.get(4),
                action_id: r.get(5),
            })
            .collect())
    }

    /// Events per shop, outcome and source (webhook, poll, backfill) handled at or after
    /// `since` (only `shops`' when given), read from an index alone.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn outcomes_since(
        &self,
        since: OffsetDateTime,
        shops: Option<&[String]>,
    ) -> Result<Vec<OutcomeCount>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT shop, outcome, source, count(*) FROM xcs_events
                 WHERE processed_at >= $1 AND ($2::text[] IS NULL OR shop = ANY($2))
                 GROUP BY shop, outcome, source",
                &[&since, &shops],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| OutcomeCount {
                shop: r.get(0),
                outcome: r.get(1),
                source: r.get(2),
                count: r.get(3),
            })
            .collect())
    }

    /// Each shop's last booked (or summarised) event: one probe of the shop's index each.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_activity(&self, shops: &[String]) -> Result<Vec<ShopActivity>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT s.shop, e.processed_at, e.event_id
                 FROM unnest($1::text[]) AS s(shop)
                 LEFT JOIN LATERAL (
                     SELECT processed_at, event_id FROM xcs_events
                     WHERE shop = s.shop AND outcome IN ('booked', 'summarised')
                     ORDER BY processed_at DESC LIMIT 1
                 ) e ON true",
                &[&shops],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let at: Option<OffsetDateTime> = r.get(1);
                ShopActivity {
                    shop: r.get(0),
                    last_booked: at.map(|at| (at, r.get(2))),
                }
            })
            .collect())
    }

    /// A page of `shop`'s events, newest first: those handled before `before` (the last row of
    /// the page before), at most `limit`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_events(
        &self,
        shop: &str,
        filter: &EventFilter,
        before: Option<(OffsetDateTime, String)>,
        limit: i64,
    ) -> Result<Vec<EventRow>, LedgerError> {
        let client = self.pool.get().await?;
        let (before_at, before_id) = before.unzip();
        let rows = client
            .query(
                &format!(
                    "SELECT {EVENT_COLUMNS} FROM xcs_events
                     WHERE shop = $1
                       AND ($2::text IS NULL OR kind = $2)
                       AND ($3::text IS NULL OR outcome = $3)
                       AND ($4::timestamptz IS NULL OR processed_at >= $4)
                       AND ($5::timestamptz IS NULL OR processed_at < $5)
                       AND ($6::timestamptz IS NULL OR (processed_at, event_id) < ($6, $7))
                     ORDER BY processed_at DESC, event_id DESC LIMIT $8"
                ),
                &[
                    &shop,
                    &filter.kind,
                    &filter.outcome,
                    &filter.since,
                    &filter.until,
                    &before_at,
                    &before_id,
                    &limit,
                ],
            )
            .await?;
        Ok(rows.iter().map(event_of).collect())
    }

    /// One event as the ledger recorded it.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn event_row(&self, event_id: &str) -> Result<Option<EventRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {EVENT_COLUMNS} FROM xcs_events WHERE event_id = $1"),
                &[&event_id],
            )
            .await?;
        Ok(row.as_ref().map(event_of))
    }

    /// The Xero documents recorded for these events.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn documents_of_events(
        &self,
        event_ids: &[String],
    ) -> Result<Vec<EventDocument>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id, tenant, kind, number, xero_id, currency, total,
                        voided_at IS NOT NULL
                 FROM xcs_documents WHERE event_id = ANY($1) ORDER BY created_at",
                &[&event_ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| EventDocument {
                event_id: r.get(0),
                tenant: r.get(1),
                kind: r.get(2),
                number: r.get(3),
                xero_id: r.get(4),
                currency: r.get(5),
                total: r.get(6),
                voided: r.get(7),
            })
            .collect())
    }

    /// `shop`'s events per hour and outcome handled at or after `since`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_hourly(
        &self,
        shop: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, String, i64)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT date_trunc('hour', processed_at), outcome, count(*) FROM xcs_events
                 WHERE shop = $1 AND processed_at >= $2
                 GROUP BY 1, 2 ORDER BY 1",
                &[&shop, &since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// `shop`'s events dead-lettered per hour at or after `since` (whatever became of them
    /// since), as `dead` for the chart.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn shop_dead_hourly(
        &self,
        shop: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<(OffsetDateTime, String, i64)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT date_trunc('hour', dead_at), 'dead', count(*) FROM xcs_dead_letters
                 WHERE shop = $1 AND dead_at >= $2
                 GROUP BY 1 ORDER BY 1",
                &[&shop, &since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Records that `tenant`'s events arrive on shard queue `queue`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn note_tenant_shard(&self, tenant: &str, queue: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_tenant_shards (tenant, queue) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET queue = EXCLUDED.queue, seen_at = now()",
                &[&tenant, &queue],
            )
            .await?;
        Ok(())
    }

    /// The shard queue each tenant's events were last seen on.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn tenant_shards(&self) -> Result<Vec<(String, String)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query("SELECT tenant, queue FROM xcs_tenant_shards", &[])
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
