//! Tracked inventory's ledger (README "Inventory: tracked mode"): the levels the platform
//! reported, per Xero item code (`xcs_stock`), the units each order and refund moves until its
//! Xero document is recorded (`xcs_stock_moves`), and the adjustments posted
//! (`xcs_stock_adjustments`). See `crate::stock` for how they are compared with Xero.

use rust_decimal::Decimal;
use xcs_shared::domain::{StockChange, StockLevel};

use super::{Ledger, LedgerError};

/// One document's units per Xero item code: negative out of stock (a sale), positive into it
/// (a restocked refund).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMoves {
    /// `invoice` for an order, `credit_note` for a refund, as `xcs_documents.kind`.
    pub kind: &'static str,
    /// The order's or refund's platform id, as `xcs_documents.business_key`.
    pub business_key: String,
    /// `(code_key, units)`, one per code.
    pub units: Vec<(String, Decimal)>,
}

/// What the ledger knows of one item code's stock.
#[derive(Debug, Clone, PartialEq)]
pub struct StockPosition {
    /// The latest level of every location the platform reported, summed; `None` when no
    /// level is known, or one location's is only a change (nothing to sum).
    pub platform_level: Option<Decimal>,
    /// Units moved by orders and refunds the processor has read but whose Xero documents the
    /// ledger does not hold yet: counted by the platform, not yet by Xero.
    pub in_flight: Decimal,
    /// Seconds since the item's stock last changed here: a level reported, an order or refund
    /// of it read. `None` when nothing is known.
    pub quiet_secs: Option<f64>,
    /// The platform's unit cost, from the latest level that carried one.
    pub unit_cost: Option<Decimal>,
}

/// An adjustment posted, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedAdjustment<'a> {
    pub tenant: &'a str,
    pub shop: &'a str,
    pub event_id: &'a str,
    pub code_key: &'a str,
    pub platform_level: Decimal,
    pub xero_on_hand: Decimal,
    pub in_flight: Decimal,
    /// Units added (positive) or taken out (negative).
    pub units: Decimal,
    pub unit_cost: Decimal,
    pub xero_id: &'a str,
    /// `ACCPAY` (a zero-total bill: an increase) or `ACCPAYCREDIT` (a decrease).
    pub kind: &'a str,
}

/// An item code as Xero compares codes: case-insensitively.
pub fn code_key(code: &str) -> String {
    code.to_uppercase()
}

impl Ledger {
    /// Records a tracked shop's stock level for an item's location, unless a later level is
    /// already recorded: stock webhooks arrive in any order, so levels are ordered by the
    /// platform's time of the level (`as_of`), or the ingress's time of receipt without one.
    /// Re-recording the same event changes nothing, so its quiet time runs on.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_tracked_stock(
        &self,
        shop: &str,
        change: &StockChange,
        code: &str,
        event_id: &str,
        received_at: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let level = serde_json::to_string(&change.level).expect("stock levels serialise");
        // The level's own time where the platform gives one that reads as a time.
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        let as_of = change
            .as_of
            .as_deref()
            .filter(|at| time::OffsetDateTime::parse(at, rfc3339).is_ok())
            .unwrap_or(received_at);
        client
            .execute(
                "INSERT INTO xcs_stock
                   (shop, item_id, location, sku, level, event_id, reported_at, unit_cost,
                    code_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::timestamptz, $8, $9)
                 ON CONFLICT (shop, item_id, location) DO UPDATE
                   SET sku = EXCLUDED.sku, level = EXCLUDED.level,
                       event_id = EXCLUDED.event_id, updated_at = now(),
                       reported_at = EXCLUDED.reported_at,
                       unit_cost = COALESCE(EXCLUDED.unit_cost, xcs_stock.unit_cost),
                       code_key = EXCLUDED.code_key
                   WHERE xcs_stock.event_id <> EXCLUDED.event_id
                     AND (xcs_stock.reported_at IS NULL
                          OR xcs_stock.reported_at <= EXCLUDED.reported_at)",
                &[
                    &shop,
                    &change.item_id,
                    &change.location.clone().unwrap_or_default(),
                    &change.sku,
                    &level,
                    &event_id,
                    &as_of,
                    &change.unit_cost,
                    &code_key(code),
                ],
            )
            .await?;
        Ok(())
    }

    /// How many seconds ago a stock event's levels were recorded; `None` before they are. An
    /// event back from a retry tier must not record its levels again over a later event's.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_reported_ago(&self, event_id: &str) -> Result<Option<f64>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT EXTRACT(EPOCH FROM now() - recorded_at)::float8 FROM xcs_stock_reports
                 WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Notes that a stock event's levels are recorded (after recording them, so a crash in
    /// between records them again, which changes nothing).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn mark_stock_reported(&self, event_id: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_stock_reports (event_id) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&event_id],
            )
            .await?;
        Ok(())
    }

    /// Whether `event_id` still holds the latest level of one of the item's locations: a later
    /// event's level replaced all of them otherwise, and that event compares the item itself.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_is_current(
        &self,
        shop: &str,
        item_id: &str,
        event_id: &str,
    ) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM xcs_stock
                                WHERE shop = $1 AND item_id = $2 AND event_id = $3)",
                &[&shop, &item_id, &event_id],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records what an order or refund moves, from the first time the processor reads it.
    /// Read again with other units (an order edited before it was booked), the units are
    /// replaced and the item's quiet time starts again.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_stock_moves(
        &self,
        shop: &str,
        moves: &StockMoves,
        event_id: &str,
        received_at: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        for (code_key, units) in &moves.units {
            client
                .execute(
                    "INSERT INTO xcs_stock_moves
                       (shop, kind, business_key, code_key, units, event_id, received_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7::text::timestamptz)
                     ON CONFLICT (shop, kind, business_key, code_key) DO UPDATE
                       SET units = EXCLUDED.units, moved_at = now(),
                           event_id = EXCLUDED.event_id
                       WHERE xcs_stock_moves.units <> EXCLUDED.units",
                    &[
                        &shop,
                        &moves.kind,
                        &moves.business_key,
                        code_key,
                        units,
                        &event_id,
                        &received_at,
                    ],
                )
                .await?;
        }
        Ok(())
    }

    /// Forgets the moves of purged dead letters' orders and refunds that were never booked:
    /// nothing will book them now, so the store's level is no longer expected to count them
    /// apart from Xero's.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn forget_purged_stock_moves(&self, event_ids: &[&str]) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_stock_moves m WHERE m.event_id = ANY($1)
                   AND NOT EXISTS (SELECT 1 FROM xcs_documents d
                                   WHERE d.shop = m.shop AND d.kind = m.kind
                                     AND d.business_key = m.business_key)",
                &[&event_ids],
            )
            .await?;
        Ok(())
    }

    /// Forgets what an order or refund that will never be booked moves (cancelled before it
    /// was booked, or its dead letter purged), so the platform's level is no longer expected
    /// to count it.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn forget_stock_moves(
        &self,
        shop: &str,
        kind: &str,
        business_key: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_stock_moves WHERE shop = $1 AND kind = $2 AND business_key = $3",
                &[&shop, &kind, &business_key],
            )
            .await?;
        Ok(())
    }

    /// The platform's level of an item code, the units in flight, and how long its stock
    /// has been quiet.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_position(
        &self,
        shop: &str,
        code: &str,
    ) -> Result<StockPosition, LedgerError> {
        let client = self.pool.get().await?;
        let key = code_key(code);
        let levels = client
            .query(
                "SELECT level, unit_cost, EXTRACT(EPOCH FROM now() - updated_at)::float8
                 FROM xcs_stock WHERE shop = $1 AND code_key = $2
                 ORDER BY reported_at DESC NULLS LAST",
                &[&shop, &key],
            )
            .await?;
        let mut platform_level = (!levels.is_empty()).then_some(Decimal::ZERO);
        let mut unit_cost = None;
        let mut quiet_secs: Option<f64> = None;
        for row in &levels {
            let level: String = row.get(0);
            match serde_json::from_str::<StockLevel>(&level) {
                Ok(StockLevel::Absolute(quantity)) => {
                    platform_level = platform_level.map(|sum| sum + quantity);
                }
                _ => platform_level = None,
            }
            unit_cost = unit_cost.or(row.get::<_, Option<Decimal>>(1));
            let age: f64 = row.get(2);
            quiet_secs = Some(quiet_secs.map_or(age, |q| q.min(age)));
        }
        let moves = client
            .query_one(
                "SELECT COALESCE(SUM(m.units) FILTER (WHERE d.doc_key IS NULL), 0),
                        MIN(EXTRACT(EPOCH FROM now() - m.moved_at))::float8
                 FROM xcs_stock_moves m
                 LEFT JOIN LATERAL (
                   SELECT doc_key FROM xcs_documents d
                   WHERE d.shop = m.shop AND d.kind = m.kind AND d.business_key = m.business_key
                   LIMIT 1) d ON true
                 WHERE m.shop = $1 AND m.code_key = $2",
                &[&shop, &key],
            )
            .await?;
        let in_flight: Decimal = moves.get(0);
        if let Some(age) = moves.get::<_, Option<f64>>(1) {
            quiet_secs = Some(quiet_secs.map_or(age, |q| q.min(age)));
        }
        Ok(StockPosition {
            platform_level,
            in_flight,
            quiet_secs,
            unit_cost,
        })
    }

    /// The units of a shop's orders and refunds of `code` that the ingress received more than
    /// `margin_secs` after `received_at` (a stock event's receipt): sales its level cannot
    /// count, whose own stock events are still to come.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_moved_after(
        &self,
        shop: &str,
        code: &str,
        received_at: &str,
        margin_secs: f64,
    ) -> Result<Decimal, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "SELECT COALESCE(SUM(ABS(units)), 0) FROM xcs_stock_moves
                 WHERE shop = $1 AND code_key = $2
                   AND received_at > $3::text::timestamptz + make_interval(secs => $4)",
                &[&shop, &code_key(code), &received_at, &margin_secs],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records an adjustment posted in Xero.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_stock_adjustment(
        &self,
        adjustment: &RecordedAdjustment<'_>,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_stock_adjustments
                   (tenant, shop, event_id, code_key, platform_level, xero_on_hand, in_flight,
                    units, unit_cost, xero_id, kind)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (shop, event_id, code_key) DO NOTHING",
                &[
                    &adjustment.tenant,
                    &adjustment.shop,
                    &adjustment.event_id,
                    &adjustment.code_key,
                    &adjustment.platform_level,
                    &adjustment.xero_on_hand,
                    &adjustment.in_flight,
                    &adjustment.units,
                    &adjustment.unit_cost,
                    &adjustment.xero_id,
                    &adjustment.kind,
                ],
            )
            .await?;
        Ok(())
    }

    /// The name the processor last gave the cached item `code`: `None` when the item is not
    /// cached, `Some(None)` when it was cached without one.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn item_name(
        &self,
        tenant: &str,
        code: &str,
    ) -> Result<Option<Option<String>>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT name FROM xcs_items WHERE tenant = $1 AND code_key = upper($2)",
                &[&tenant, &code],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Records the name the cached item `code` has in Xero now.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_item_name(
        &self,
        tenant: &str,
        code: &str,
        name: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE xcs_items SET name = $3 WHERE tenant = $1 AND code_key = upper($2)",
                &[&tenant, &code, &name],
            )
            .await?;
        Ok(())
    }

    /// The item codes of a shop whose stock the ledger knows (a level or a move), for
    /// reconcile.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_codes(&self, shop: &str) -> Result<Vec<String>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT code_key FROM xcs_stock WHERE shop = $1 AND code_key IS NOT NULL
                 UNION SELECT code_key FROM xcs_stock_moves WHERE shop = $1
                 ORDER BY 1",
                &[&shop],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The latest level of every location recorded for a shop (with `code`, for that item
    /// code only), each with its code key and as a stock change that records it again
    /// unchanged: its own item, location, SKU and level, and `as_of` its exact `reported_at`.
    /// For reconcile (`crate::reconcile::stock`) and the comparisons it requests
    /// (`crate::poll::stock`).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn recorded_levels(
        &self,
        shop: &str,
        platform: xcs_shared::Platform,
        code: Option<&str>,
    ) -> Result<Vec<(String, StockChange)>, LedgerError> {
        let client = self.pool.get().await?;
        let key = code.map(code_key);
        let rows = client
            .query(
                "SELECT code_key, item_id, location, sku, level,
                        to_char(reported_at AT TIME ZONE 'UTC',
                                'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
                 FROM xcs_stock
                 WHERE shop = $1 AND code_key IS NOT NULL
                   AND ($2::text IS NULL OR code_key = $2)
                 ORDER BY code_key, item_id, location",
                &[&shop, &key],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|row| {
                let level: String = row.get(4);
                let location: String = row.get(2);
                let change = StockChange {
                    platform,
                    item_id: row.get(1),
                    sku: row.get(3),
                    location: (!location.is_empty()).then_some(location),
                    level: serde_json::from_str::<StockLevel>(&level).ok()?,
                    unit_cost: None,
                    as_of: row.get(5),
                    name: None,
                };
                Some((row.get(0), change))
            })
            .collect())
    }
}
