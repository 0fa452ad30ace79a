//! eBay's stock levels for a tracked shop (`crate::poll::stock`): eBay has no inventory
//! notifications, so the Sell Inventory API's `getInventoryItems` is read, `GET
//! /sell/inventory/v1/inventory_item?limit=200&offset=0` (eBay's "getInventoryItems"
//! reference and its `InventoryItems` type):
//!
//! - `limit` 1..=200 (default 25); the answer is `{href, limit, next?, prev?, size, total,
//!   inventoryItems[]}`, `next` the full URL of the next page while there is one, which the
//!   reader follows (eBay's reference calls `offset` a page number, its paged collections
//!   elsewhere a record count: following `next` works either way).
//! - Each item is `{sku, availability: {shipToLocationAvailability: {quantity}}, ...}`: the
//!   quantity available to buyers across eBay's marketplaces. An item without it has none
//!   available.
//! - The token needs the `sell.inventory` or `sell.inventory.readonly` scope; without it eBay
//!   answers 403, which the poller reports as refused credentials.
//!
//! Not seen: listings not managed through the Inventory API, that is created with the Trading
//! API or on eBay's site (the older and, for many sellers, only way; UNSURE how common among
//! this system's sellers). eBay keeps no inventory item for those, and converting them
//! (`bulkMigrateListing`) is the seller's decision. Their SKUs are not reported at all.
//! In-store pickup quantities (`pickupAtLocationAvailability`) are not read either.
//!
//! Cost: one call per 200 inventory items (at least one): 96 a day at the default 900 seconds
//! for a catalogue of up to 200.

use rust_decimal::Decimal;
use serde_json::Value;
use xcs_shared::Platform;

use crate::platforms::api::Auth;
use crate::poll::stock::{Level, Page};
use crate::poll::{Lister, PollError};

/// Inventory items per page: eBay's maximum.
pub const PAGE_SIZE: usize = 200;
/// The inventory items list.
pub const INVENTORY_ITEMS: &str = "/sell/inventory/v1/inventory_item";

pub(crate) async fn page(lister: &Lister<'_>, token: Option<&str>) -> Result<Page, PollError> {
    let path = token.map_or_else(
        || format!("{INVENTORY_ITEMS}?limit={PAGE_SIZE}&offset=0"),
        str::to_owned,
    );
    let reply = lister
        .client
        .get(Platform::Ebay, lister.api, Auth::Bearer, &path)
        .await?;
    let body = &reply.body;
    let items = match body["inventoryItems"].as_array() {
        Some(items) => items.as_slice(),
        // An account without inventory items: eBay leaves the list out.
        None if body["total"].is_u64() || body.is_null() => &[],
        None => {
            return Err(PollError::Unreadable(format!(
                "eBay's answer to {path} has no `inventoryItems` list"
            )));
        }
    };
    let mut page = Page::default();
    for item in items {
        match level(item)? {
            Some(level) => page.levels.push(level),
            None => page.without_sku += 1,
        }
    }
    page.next = body["next"]
        .as_str()
        .filter(|next| !next.is_empty())
        .map(|next| super::poll::relative(next, &lister.api.base_url))
        .filter(|next| *next != path);
    Ok(page)
}

/// One inventory item's level; `None` for an item without a SKU (eBay requires one, so none
/// is expected).
fn level(item: &Value) -> Result<Option<Level>, PollError> {
    let Some(sku) = item["sku"]
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Ok(None);
    };
    let quantity = &item["availability"]["shipToLocationAvailability"]["quantity"];
    let available = if quantity.is_null() {
        Decimal::ZERO
    } else {
        quantity.as_u64().map(Decimal::from).ok_or_else(|| {
            PollError::Unreadable(format!(
                "eBay inventory item {sku:?} has no whole shipToLocationAvailability.quantity \
                 ({quantity})"
            ))
        })?
    };
    Ok(Some(Level {
        item_id: sku.to_owned(),
        sku: sku.to_owned(),
        part: sku.to_owned(),
        available,
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_item_is_its_sku_at_its_ship_to_home_quantity() {
        let item = json!({"sku": "MUG-KAURI", "locale": "en_US", "availability": {
            "shipToLocationAvailability": {"quantity": 12},
            "pickupAtLocationAvailability": [{"quantity": 3, "merchantLocationKey": "AKL"}]}});
        let level = level(&item).unwrap().unwrap();
        assert_eq!(
            (level.item_id.as_str(), level.sku.as_str(), level.available),
            ("MUG-KAURI", "MUG-KAURI", Decimal::from(12))
        );
        let none = level_of(json!({"sku": "CUP", "availability": {}}));
        assert_eq!(none.available, Decimal::ZERO);
        assert!(
            super::level(&json!({"availability": {}}))
                .unwrap()
                .is_none()
        );
        let err = super::level(&json!({"sku": "X", "availability": {
            "shipToLocationAvailability": {"quantity": -1}}}))
        .unwrap_err();
        assert!(err.to_string().contains("no whole"), "{err}");
    }

    fn level_of(item: Value) -> Level {
        level(&item).unwrap().unwrap()
    }
}
