//! Tracked inventory's stock events: an `inventory_levels/update` body is one location's
//! `available` of an inventory item, without its SKU or cost. Both come from the Admin API's
//! inventory item, kept in the ledger (`xcs_stock`) and asked again once an hour at most: a
//! store sends one such webhook per line of every order, and Shopify's REST limit is a bucket
//! of 40 calls per store (2 a second). Xero keeps one quantity per item, the sum of its
//! locations' levels, so an item seen for the first time also gets the levels of all its
//! other locations.

use time::OffsetDateTime;
use xcs_shared::domain::StockChange;

use super::normalise;
use crate::booking::Work;
use crate::config::InventoryMode;
use crate::error::ProcessError;
use crate::platforms::Event;
use crate::platforms::api::{Auth, PlatformApi};

/// The work of a stock event's `changes` (none or one); in tracked mode completed with the
/// item's SKU and cost, and for a new item with every location's level.
pub(super) async fn work(
    event: &Event<'_>,
    changes: Vec<StockChange>,
) -> Result<Work, ProcessError> {
    if event.shop.inventory != InventoryMode::Tracked {
        return Ok(Work::Stock(changes));
    }
    let Some(change) = changes.into_iter().next() else {
        return Ok(Work::Stock(Vec::new()));
    };
    let shop = &event.envelope.shop;
    let known = event.ledger.stock_item(shop, &change.item_id).await?;
    if let Some(item) = known
        .as_ref()
        .filter(|i| i.fresh(OffsetDateTime::now_utc()))
    {
        return Ok(Work::Stock(vec![StockChange {
            sku: item.sku.clone(),
            unit_cost: item.unit_cost,
            ..change
        }]));
    }
    let api = event.api(&format!(
        "Shopify shop {shop}: tracked inventory reads inventory item {}'s SKU from the Admin \
         API; configure [shops.{shop}.api] (base_url = https://<store>.myshopify.com, token = \
         an Admin API access token with read_inventory)",
        change.item_id
    ))?;
    let version = api.shopify_api_version();
    let item = get(
        event,
        api,
        &format!(
            "/admin/api/{version}/inventory_items/{}.json",
            change.item_id
        ),
    )
    .await?;
    let (sku, unit_cost) = normalise::inventory_item(&item)?;
    if sku.is_none() {
        return Ok(Work::Nothing(format!(
            "Shopify inventory item {} has no SKU, so it names no Xero item: its stock level \
             is not tracked in Xero; give the variant a SKU in Shopify to track it",
            change.item_id
        )));
    }
    // An item the ledger holds a SKU for has its other locations' levels there already; a
    // row without one was recorded before tracked mode, when only this location counted.
    let mut changes = if known.is_some_and(|i| i.sku.is_some()) {
        vec![change]
    } else {
        let levels = get(
            event,
            api,
            &format!(
                "/admin/api/{version}/inventory_levels.json?inventory_item_ids={}&limit=250",
                change.item_id
            ),
        )
        .await?;
        let mut levels = normalise::inventory_levels(&levels)?;
        levels.retain(|level| level.item_id == change.item_id);
        // The API's level is as new as the webhook's or newer; a location it no longer
        // lists (disconnected since) keeps the webhook's.
        if !levels.iter().any(|level| level.location == change.location) {
            levels.push(change);
        }
        levels
    };
    for change in &mut changes {
        change.sku.clone_from(&sku);
        change.unit_cost = unit_cost;
    }
    Ok(Work::Stock(changes))
}

async fn get(event: &Event<'_>, api: &PlatformApi, path: &str) -> Result<Vec<u8>, ProcessError> {
    event
        .get(api, Auth::ShopifyAccessToken, path)
        .await
        .map_err(|err| match err {
            ProcessError::PlatformCredentials(detail) => {
                let shop = &event.envelope.shop;
                ProcessError::PlatformCredentials(format!(
                    "Shopify shop {shop}: {detail}; the Admin API access token (`token` in \
                     [shops.{shop}.api], or {prefix}API_TOKEN) is wrong or revoked, or lacks \
                     the read_inventory scope tracked inventory needs",
                    prefix = xcs_shared::shop_env_prefix(shop),
                ))
            }
            other => other,
        })
}
