//! Etsy's stock levels for a tracked shop (`crate::poll::stock`): Etsy sends no stock
//! webhooks, so the catalogue is read, a page of listings at a time:
//!
//! 1. `getListingsByShop`, `GET /v3/application/shops/{shop_id}/listings?state=active`
//!    (`limit` 1..=100, `offset` from 0; `{count, results}` of `ShopListing`), then
//! 2. `getListingsInventoryByListingIds`, `GET /v3/application/listings/batch/inventory
//!    ?listing_ids=a,b,...` (at most 100 ids, `listings_r` scope; `{count, results}`, each
//!    result a listing with its `inventory`: `products[]` of `{product_id, sku, is_deleted,
//!    offerings[] {quantity, is_enabled, is_deleted}, property_values[]}` and
//!    `quantity_on_property`). Etsy answers 404 for the whole call if one id is not found
//!    (a listing deleted between the two calls): the read fails and is tried again.
//!
//! Etsy announced (open-api discussion #1653) that `includes=Inventory` on its listing
//! endpoints gives way to the batch inventory endpoint from 29 July 2026, so the inventory is
//! not asked for with the listings, which would save a call per page.
//!
//! Then `state=sold_out` listings (same pagination): a sold-out listing has nothing
//! available, and its `skus` say which SKUs it held, so no inventory call is needed for them.
//! A listing sold out is the commonest change that would otherwise never be read (it leaves
//! the active list).
//!
//! A product is one SKU's stock in one listing: its enabled, not deleted offerings' `quantity`
//! summed. Products sharing a SKU in one listing share its quantity when the quantity does
//! not vary by a property that tells them apart (`quantity_on_property`): such a group counts
//! once, not once per product. The same SKU in two listings is two stocks, summed by the
//! caller. Products without a SKU are counted, not read.
//!
//! Cost: two calls per 100 active listings (at least two) and one per 100 sold-out listings
//! (at least one): a shop of 250 active listings costs 7 calls a read, 672 a day at the
//! default 900 seconds, of the app's 10 000 a day.
//!
//! UNSURE:
//! - whether `getListingsByShop` pages stay stable while listings change during a read (by
//!   offset, as Etsy documents it); a listing missed is read at the next turn, one read twice
//!   counts once;
//! - a listing whose quantity varies by no property but whose SKU varies by one lists each
//!   SKU with the whole listing's quantity: each SKU is reported at that quantity (Etsy keeps
//!   one pool for them, which Xero cannot);
//! - draft, inactive and expired listings are not read: what they hold is not on sale.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;
use xcs_shared::Platform;

use crate::platforms::api::Auth;
use crate::poll::stock::{Level, Page};
use crate::poll::{Lister, PollError};

/// Listings per page and ids per batch inventory call: Etsy's maximum for both.
pub const PAGE_SIZE: usize = 100;
/// The batch inventory endpoint.
pub const BATCH_INVENTORY: &str = "/v3/application/listings/batch/inventory";

/// Which part of the catalogue a page token is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Active,
    SoldOut,
}

impl State {
    fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::SoldOut => "sold_out",
        }
    }
}

/// The token: `{state}:{offset}`.
fn parse_token(token: Option<&str>) -> Result<(State, usize), PollError> {
    let Some(token) = token else {
        return Ok((State::Active, 0));
    };
    let unreadable = || PollError::Unreadable(format!("{token:?} is not an Etsy listings page"));
    let (state, offset) = token.split_once(':').ok_or_else(unreadable)?;
    let state = match state {
        "active" => State::Active,
        "sold_out" => State::SoldOut,
        _ => return Err(unreadable()),
    };
    Ok((state, offset.parse().map_err(|_| unreadable())?))
}

pub(crate) async fn page(lister: &Lister<'_>, token: Option<&str>) -> Result<Page, PollError> {
    let shop_id = lister
        .api
        .shop_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            PollError::Misconfigured(format!(
                "Etsy shop {:?} has no api.shop_id, under which its listings are read",
                lister.shop
            ))
        })?;
    let (state, offset) = parse_token(token)?;
    let path = listings_path(shop_id, state, offset);
    let reply = lister
        .client
        .get(Platform::Etsy, lister.api, Auth::BearerAndApiKey, &path)
        .await?;
    let listings = reply.body["results"].as_array().ok_or_else(|| {
        PollError::Unreadable(format!("Etsy's answer to {path} has no `results` list"))
    })?;
    let mut page = Page::default();
    match state {
        State::Active => {
            let ids = listings
                .iter()
                .map(listing_id)
                .collect::<Result<Vec<_>, _>>()?;
            if !ids.is_empty() {
                let path = format!("{BATCH_INVENTORY}?listing_ids={}", ids.join(","));
                let reply = lister
                    .client
                    .get(Platform::Etsy, lister.api, Auth::BearerAndApiKey, &path)
                    .await?;
                let inventories = reply.body["results"].as_array().ok_or_else(|| {
                    PollError::Unreadable(format!("Etsy's answer to {path} has no `results` list"))
                })?;
                for listing in inventories {
                    let (levels, without_sku) = listing_levels(listing)?;
                    page.levels.extend(levels);
                    page.without_sku += without_sku;
                }
            }
        }
        State::SoldOut => {
            for listing in listings {
                page.levels.extend(sold_out_levels(listing)?);
            }
        }
    }
    page.next = if listings.len() >= PAGE_SIZE {
        Some(format!("{}:{}", state.as_str(), offset + listings.len()))
    } else if state == State::Active {
        Some(format!("{}:0", State::SoldOut.as_str()))
    } else {
        None
    };
    Ok(page)
}

fn listings_path(shop_id: &str, state: State, offset: usize) -> String {
    format!(
        "/v3/application/shops/{shop_id}/listings?state={}&limit={PAGE_SIZE}&offset={offset}",
        state.as_str()
    )
}

fn listing_id(listing: &Value) -> Result<String, PollError> {
    match &listing["listing_id"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(PollError::Unreadable(
            "a listing in Etsy's answer has no listing_id".to_owned(),
        )),
    }
}

/// One listing's SKUs and what is available of each, and its products without a SKU.
fn listing_levels(listing: &Value) -> Result<(Vec<Level>, usize), PollError> {
    let id = listing_id(listing)?;
    let inventory = &listing["inventory"];
    let products = inventory["products"].as_array().ok_or_else(|| {
        PollError::Unreadable(format!(
            "Etsy's inventory of listing {id} has no `products` list"
        ))
    })?;
    let quantity_on: Vec<&Value> = inventory["quantity_on_property"]
        .as_array()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    // SKU, then the values of the properties the quantity varies by: one pool each.
    let mut pools: BTreeMap<String, BTreeMap<String, Decimal>> = BTreeMap::new();
    let mut without_sku = 0;
    for product in products.iter().filter(|p| !is_true(&p["is_deleted"])) {
        let sku = product["sku"].as_str().map(str::trim).unwrap_or_default();
        if sku.is_empty() {
            without_sku += 1;
            continue;
        }
        let available = product["offerings"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter(|o| is_true(&o["is_enabled"]) && !is_true(&o["is_deleted"]))
            .map(|o| quantity(&o["quantity"], &id, sku))
            .sum::<Result<Decimal, _>>()?;
        let pool = pool_key(product, &quantity_on);
        let shared = pools.entry(sku.to_owned()).or_default();
        let entry = shared.entry(pool).or_insert(available);
        *entry = (*entry).max(available);
    }
    let levels = pools
        .into_iter()
        .map(|(sku, pools)| Level {
            item_id: sku.clone(),
            sku,
            part: id.clone(),
            available: pools.values().sum(),
        })
        .collect();
    Ok((levels, without_sku))
}

/// The product's values of the properties its quantity varies by.
fn pool_key(product: &Value, quantity_on: &[&Value]) -> String {
    let values = product["property_values"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    quantity_on
        .iter()
        .map(|property| {
            values
                .iter()
                .find(|v| &&v["property_id"] == property)
                .map_or_else(String::new, |v| v["value_ids"].to_string())
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// A sold-out listing's SKUs, none of them available.
fn sold_out_levels(listing: &Value) -> Result<Vec<Level>, PollError> {
    let id = listing_id(listing)?;
    let mut skus: Vec<&str> = listing["skus"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|sku| !sku.is_empty())
        .collect();
    skus.sort_unstable();
    skus.dedup();
    Ok(skus
        .into_iter()
        .map(|sku| Level {
            item_id: sku.to_owned(),
            sku: sku.to_owned(),
            part: id.clone(),
            available: Decimal::ZERO,
        })
        .collect())
}

fn is_true(value: &Value) -> bool {
    value.as_bool() == Some(true)
}

fn quantity(value: &Value, listing: &str, sku: &str) -> Result<Decimal, PollError> {
    value.as_u64().map(Decimal::from).ok_or_else(|| {
        PollError::Unreadable(format!(
            "Etsy listing {listing}'s offering of SKU {sku:?} has no whole `quantity` \
                 ({value})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn product(sku: &str, colour: u64, offerings: Value) -> Value {
        json!({"product_id": 1, "sku": sku, "is_deleted": false, "offerings": offerings,
               "property_values": [{"property_id": 200, "value_ids": [colour]}]})
    }

    fn offering(quantity: u64, enabled: bool) -> Value {
        json!({"offering_id": 2, "quantity": quantity, "is_enabled": enabled, "is_deleted": false})
    }

    #[test]
    fn a_listing_gives_each_sku_its_enabled_offerings_and_counts_products_without_one() {
        let listing = json!({"listing_id": 1500000001u64, "inventory": {
        "quantity_on_property": [200],
        "products": [
            product("MUG-RED", 1, json!([offering(3, true), offering(9, false)])),
            product("MUG-BLUE", 2, json!([offering(4, true)])),
            product("", 3, json!([offering(1, true)])),
            {"sku": "GONE", "is_deleted": true, "offerings": [offering(5, true)]},
        ]}});
        let (levels, without_sku) = listing_levels(&listing).unwrap();
        let got: Vec<(&str, &str, Decimal)> = levels
            .iter()
            .map(|l| (l.sku.as_str(), l.part.as_str(), l.available))
            .collect();
        assert_eq!(
            got,
            [
                ("MUG-BLUE", "1500000001", Decimal::from(4)),
                ("MUG-RED", "1500000001", Decimal::from(3)),
            ]
        );
        assert_eq!(without_sku, 1);
    }

    #[test]
    fn products_of_one_sku_share_its_quantity_unless_the_quantity_varies_between_them() {
        // The SKU varies by size only, the quantity by nothing: Etsy lists the listing's
        // one quantity on every product.
        let shared = json!({"listing_id": 7, "inventory": {"quantity_on_property": [],
            "products": [product("TOWEL", 1, json!([offering(6, true)])),
                         product("TOWEL", 2, json!([offering(6, true)]))]}});
        assert_eq!(
            listing_levels(&shared).unwrap().0[0].available,
            Decimal::from(6)
        );
        // The quantity varies by colour, the SKU does not: two stocks of one SKU.
        let apart = json!({"listing_id": 7, "inventory": {"quantity_on_property": [200],
            "products": [product("TOWEL", 1, json!([offering(6, true)])),
                         product("TOWEL", 2, json!([offering(2, true)]))]}});
        assert_eq!(
            listing_levels(&apart).unwrap().0[0].available,
            Decimal::from(8)
        );
    }

    #[test]
    fn a_sold_out_listing_has_none_of_its_skus() {
        let listing = json!({"listing_id": 9, "state": "sold_out", "skus": ["B", "A", "B", ""]});
        let levels = sold_out_levels(&listing).unwrap();
        assert_eq!(
            levels
                .iter()
                .map(|l| (l.sku.as_str(), l.available))
                .collect::<Vec<_>>(),
            [("A", Decimal::ZERO), ("B", Decimal::ZERO)]
        );
    }

    #[test]
    fn pages_go_through_the_active_listings_then_the_sold_out_ones() {
        assert_eq!(parse_token(None).unwrap(), (State::Active, 0));
        assert_eq!(
            parse_token(Some("sold_out:200")).unwrap(),
            (State::SoldOut, 200)
        );
        assert!(parse_token(Some("draft:0")).is_err());
        assert_eq!(
            listings_path("31415926", State::SoldOut, 100),
            "/v3/application/shops/31415926/listings?state=sold_out&limit=100&offset=100"
        );
    }

    #[test]
    fn an_offering_without_a_whole_quantity_is_unreadable() {
        let listing = json!({"listing_id": 7, "inventory": {"products": [
            product("X", 1, json!([{"quantity": "lots", "is_enabled": true}]))]}});
        let err = listing_levels(&listing).unwrap_err().to_string();
        assert!(err.contains("no whole `quantity`"), "{err}");
    }
}
