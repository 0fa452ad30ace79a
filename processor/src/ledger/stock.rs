//! The latest stock level each platform reported per item and location (`xcs_stock`).

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
                "INSERT INTO xcs_stock (shop, item_id, location, sku, level, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (shop, item_id, location) DO UPDATE
                   SET sku = EXCLUDED.sku, level = EXCLUDED.level,
                       event_id = EXCLUDED.event_id, updated_at = now()",
                &[
                    &shop,
                    &change.item_id,
                    &change.location.clone().unwrap_or_default(),
                    &change.sku,
                    &level,
                    &event_id,
                ],
            )
            .await?;
        Ok(())
    }
}
