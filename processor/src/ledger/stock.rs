//! The latest stock level each platform reported per item and location (`xcs_stock`).

use rust_decimal::Decimal;
use time::OffsetDateTime;
use xcs_shared::domain::StockChange;

use super::{Ledger, LedgerError};

impl Ledger {
    /// Records the latest stock level the platform reported for an item.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_stock(
        &self,
        shop: &str,
        change: &StockChange,
        event_id: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let level = serde_json::to_string(&change.level).expect("stock levels serialise");
        client
            .execute(
                "INSERT INTO xcs_stock (shop, item_id, location, sku, level, event_id, unit_cost)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)
                 ON CONFLICT (shop, item_id, location) DO UPDATE
                   SET sku = EXCLUDED.sku, level = EXCLUDED.level,
                       event_id = EXCLUDED.event_id, unit_cost = EXCLUDED.unit_cost,
                       updated_at = now()",
                &[
                    &shop,
                    &change.item_id,
                    &change.location.clone().unwrap_or_default(),
                    &change.sku,
                    &level,
                    &event_id,
                    &change.unit_cost,
                ],
            )
            .await?;
        Ok(())
    }

    /// What the ledger last recorded of a platform's stock item, at whichever of its locations
    /// was recorded last: the SKU and unit cost tracked inventory read from the platform's API,
    /// so that they are fetched once an hour at most rather than for every stock event (a
    /// Shopify store sends one per line of every order). `None` when the item has no row.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn stock_item(
        &self,
        shop: &str,
        item_id: &str,
    ) -> Result<Option<StockItem>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT sku, unit_cost, updated_at FROM xcs_stock
                 WHERE shop = $1 AND item_id = $2
                 ORDER BY updated_at DESC LIMIT 1",
                &[&shop, &item_id],
            )
            .await?;
        Ok(row.map(|row| StockItem {
            sku: row.get(0),
            unit_cost: row.get(1),
            updated_at: row.get(2),
        }))
    }
}

/// A stock item as [`Ledger::stock_item`] found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockItem {
    pub sku: Option<String>,
    pub unit_cost: Option<Decimal>,
    /// When one of its levels was last recorded, with the SKU and cost then known.
    pub updated_at: OffsetDateTime,
}

impl StockItem {
    /// How long an item's SKU and unit cost are believed before the platform is asked again: a
    /// cost the merchant edits reaches Xero's adjustments within the hour, at one API call per
    /// item an hour.
    pub const FRESH_FOR: time::Duration = time::Duration::hours(1);

    /// Whether the SKU and cost are recent enough to use without asking the platform, and
    /// there is a SKU: a row recorded before tracked mode (or from a body without one) has
    /// none, and gets the platform's.
    pub fn fresh(&self, now: OffsetDateTime) -> bool {
        self.sku.is_some() && now - self.updated_at < Self::FRESH_FOR
    }
}
