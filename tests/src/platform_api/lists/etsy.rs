//! Etsy Open API v3 `getShopReceipts`, `GET /v3/application/shops/{shop_id}/receipts`, as
//! Etsy's OpenAPI document (3.0.0) and "Rate Limits" page describe it:
//! - `min_created` / `max_created` / `min_last_modified` / `max_last_modified` are Unix seconds,
//!   at least 946684800, here inclusive (Etsy does not say; UNSURE), on `created_timestamp` /
//!   `updated_timestamp`.
//! - `limit` 1..=100, default 25 (outside is refused 400); `offset` from 0; `sort_on` one of
//!   `created` (default), `updated`, `receipt_id`; `sort_order` `asc`/`ascending`/`up` or
//!   `desc`/`descending`/`down` (default `desc`). Anything else is refused 400.
//! - The answer is `{count, results}`: `count` every receipt the filters match, `results` the
//!   page. There is no link to the next page: the caller moves `offset`.
//! - Errors are `{"error": "..."}`; a shop the token does not own is 403.
//! - Rate limits: every success carries `x-limit-per-second`, `x-remaining-this-second`,
//!   `x-limit-per-day`, `x-remaining-today` (10 a second and 10 000 a day, Etsy's defaults
//!   for a new app); a call over the second's limit is answered 429 with none of those headers
//!   and a `retry-after` (UNSURE: its value; 1 here).
//!
//! The stock a tracked shop's poller reads ([`crate::platform_api::FakePlatformApi::stock`]):
//! - `getListingsByShop`, `GET /v3/application/shops/{shop_id}/listings`: `state` one of
//!   `active` (default), `inactive`, `sold_out`, `draft`, `expired`; `limit` 1..=100, default
//!   25; `offset` from 0; newest listing first (Etsy pages by creation date). `{count,
//!   results}`, each a `ShopListing` without its inventory, with `skus` (the owner's token
//!   sees them).
//! - `getListingsInventoryByListingIds`, `GET /v3/application/listings/batch/inventory
//!   ?listing_ids=a,b`: at most 100 ids (more is 400); every id must be a listing, else the
//!   whole call is 404 (Etsy's reference); `{count, results}`, each the listing with its
//!   `inventory` (`products[]` with `sku`, `is_deleted`, `offerings[]` of `quantity`,
//!   `is_enabled`, `is_deleted`, and `property_values`; `quantity_on_property`). UNSURE: the
//!   404's message.
//! - Both count against the same per-second and per-day limits as the receipts.
//!
//! The payment account ledger ([`crate::platform_api::FakePlatformApi::ledger`]), tag
//! "Ledger Entry" of the same reference:
//! - `getShopPaymentAccountLedgerEntries`, `GET /v3/application/shops/{shop_id}/
//!   payment-account/ledger-entries`: `min_created` and `max_created` required (Unix seconds,
//!   here at least 946684800 and inclusive, UNSURE as for receipts; missing is 400 "Missing
//!   Input Parameter"), `limit` 1..=100 default 25, `offset` from 0; `{count, results}`.
//!   UNSURE: the order; served newest first (highest `sequence_number`), as Etsy's lists are
//!   by default, so a reader must not rely on it.
//! - `getShopPaymentAccountLedgerEntry`, `.../ledger-entries/{ledger_entry_id}`: the entry,
//!   or 404.
//! - `getPaymentAccountLedgerEntryPayments`, `.../ledger-entries/payments?ledger_entry_ids=`
//!   (required; at most 100 here, UNSURE): `{count, results}` of the `Payment`s the entries
//!   refer to, by `payment_id` or by one of its `payment_adjustments`' ids (an entry without a
//!   payment adds none, "if applicable").

use std::time::Instant;

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::{param, throttled};
use crate::platform_api::{State, credentials};

const MAX_LIMIT: u64 = 100;
const PER_SECOND: u32 = 10;
const PER_DAY: u32 = 10_000;
const EARLIEST: i64 = 946_684_800;

/// Etsy's batch inventory endpoint.
const BATCH_INVENTORY: &str = "/v3/application/listings/batch/inventory";

enum Route<'p> {
    Receipts(&'p str),
    Listings(&'p str),
    BatchInventory,
    Ledger(&'p str, Option<&'p str>),
}

const LEDGER: &str = "/payment-account/ledger-entries";

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let route = if path == BATCH_INVENTORY {
        Route::BatchInventory
    } else {
        let rest = path.strip_prefix("/v3/application/shops/")?;
        if let Some(shop) = rest.strip_suffix("/receipts") {
            Route::Receipts(shop)
        } else if let Some((shop, tail)) = rest.split_once(LEDGER) {
            match tail {
                "" => Route::Ledger(shop, None),
                _ => Route::Ledger(shop, Some(tail.strip_prefix('/')?)),
            }
        } else {
            Route::Listings(rest.strip_suffix("/listings")?)
        }
    };
    let error = |status: u16, message: String| {
        let mut response =
            HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("a status"));
        Some((status, response.json(json!({"error": message}))))
    };
    let (this_second, today) = {
        let mut limits = state.limits.lock().unwrap();
        let now = Instant::now();
        if limits
            .etsy_second
            .is_none_or(|at| now.duration_since(at).as_secs_f64() >= 1.0)
        {
            limits.etsy_second = Some(now);
            limits.etsy_this_second = 0;
        }
        limits.etsy_this_second += 1;
        limits.etsy_today += 1;
        (limits.etsy_this_second, limits.etsy_today)
    };
    if this_second > PER_SECOND || throttled(state) {
        return Some((
            429,
            HttpResponse::TooManyRequests()
                .insert_header(("retry-after", "1"))
                .json(json!({"error": "You have exceeded your quota of requests per second."})),
        ));
    }
    let shop = match route {
        Route::Receipts(shop) => shop,
        Route::Listings(shop) => {
            return match check_shop(shop).and_then(|()| listings(state, query)) {
                Ok(body) => Some(ok(this_second, today, body)),
                Err((status, message)) => error(status, message),
            };
        }
        Route::Ledger(shop, item) => {
            return match check_shop(shop).and_then(|()| ledger(state, item, query)) {
                Ok(body) => Some(ok(this_second, today, body)),
                Err((status, message)) => error(status, message),
            };
        }
        Route::BatchInventory => {
            return match batch_inventory(state, query) {
                Ok(body) => Some(ok(this_second, today, body)),
                Err((status, message)) => error(status, message),
            };
        }
    };
    if shop.is_empty() || !shop.bytes().all(|b| b.is_ascii_digit()) {
        return error(
            400,
            format!("Expected int value for 'shop_id', got '{shop}'"),
        );
    }
    if shop != credentials::ETSY_SHOP_ID {
        return error(
            403,
            "The application does not have permission to access this shop".into(),
        );
    }
    let number = |name: &str, default: i64, min: i64, max: i64| -> Result<i64, String> {
        match param(query, name).map(str::parse::<i64>) {
            None => Ok(default),
            Some(Ok(n)) if (min..=max).contains(&n) => Ok(n),
            Some(_) => Err(format!(
                "Expected parameter '{name}' to be an integer between {min} and {max}"
            )),
        }
    };
    let read = || -> Result<_, String> {
        let limit = number("limit", 25, 1, MAX_LIMIT as i64)?;
        let offset = number("offset", 0, 0, i64::MAX)?;
        let bound = |name: &str, default: i64| number(name, default, EARLIEST, i64::MAX);
        let created = (
            bound("min_created", i64::MIN)?,
            bound("max_created", i64::MAX)?,
        );
        let modified = (
            bound("min_last_modified", i64::MIN)?,
            bound("max_last_modified", i64::MAX)?,
        );
        let sort_on = match param(query, "sort_on").unwrap_or("created") {
            "created" => "created_timestamp",
            "updated" => "updated_timestamp",
            "receipt_id" => "receipt_id",
            other => {
                return Err(format!(
                    "Expected parameter 'sort_on' to be one of created, updated, receipt_id, \
                     got '{other}'"
                ));
            }
        };
        let ascending = match param(query, "sort_order").unwrap_or("desc") {
            "asc" | "ascending" | "up" => true,
            "desc" | "descending" | "down" => false,
            other => {
                return Err(format!(
                    "Expected parameter 'sort_order' to be one of asc, ascending, desc, \
                     descending, up, down, got '{other}'"
                ));
            }
        };
        Ok((limit, offset, created, modified, sort_on, ascending))
    };
    let (limit, offset, created, modified, sort_on, ascending) = match read() {
        Ok(parsed) => parsed,
        Err(message) => return error(400, message),
    };
    let within = |receipt: &Value, key: &str, (min, max): (i64, i64)| {
        receipt[key]
            .as_i64()
            .is_some_and(|at| (min..=max).contains(&at))
    };
    let mut receipts: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|r| {
            within(r, "created_timestamp", created) && within(r, "updated_timestamp", modified)
        })
        .cloned()
        .collect();
    let key = |r: &Value| (r[sort_on].as_i64(), r["receipt_id"].as_i64());
    receipts.sort_by_key(key);
    if !ascending {
        receipts.reverse();
    }
    let count = receipts.len();
    let results: Vec<Value> = receipts
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .collect();
    Some(ok(
        this_second,
        today,
        json!({"count": count, "results": results}),
    ))
}

/// A success, with Etsy's rate-limit headers.
fn ok(this_second: u32, today: u32, body: Value) -> (u16, HttpResponse) {
    (
        200,
        HttpResponse::Ok()
            .insert_header(("x-limit-per-second", PER_SECOND.to_string()))
            .insert_header((
                "x-remaining-this-second",
                PER_SECOND.saturating_sub(this_second).to_string(),
            ))
            .insert_header(("x-limit-per-day", PER_DAY.to_string()))
            .insert_header((
                "x-remaining-today",
                PER_DAY.saturating_sub(today).to_string(),
            ))
            .json(body),
    )
}

type Refusal = (u16, String);

fn check_shop(shop: &str) -> Result<(), Refusal> {
    if shop.is_empty() || !shop.bytes().all(|b| b.is_ascii_digit()) {
        return Err((
            400,
            format!("Expected int value for 'shop_id', got '{shop}'"),
        ));
    }
    if shop != credentials::ETSY_SHOP_ID {
        return Err((
            403,
            "The application does not have permission to access this shop".into(),
        ));
    }
    Ok(())
}

fn bounded(query: &[(String, String)], name: &str, default: u64, max: u64) -> Result<u64, Refusal> {
    match param(query, name).map(str::parse::<u64>) {
        None => Ok(default),
        Some(Ok(n)) if n <= max && (n > 0 || name != "limit") => Ok(n),
        Some(_) => Err((
            400,
            format!(
                "Expected parameter '{name}' to be an integer between {} and {max}",
                u64::from(name == "limit")
            ),
        )),
    }
}

/// `getListingsByShop`: one state's listings, newest first, without their inventory.
fn listings(state: &State, query: &[(String, String)]) -> Result<Value, Refusal> {
    let wanted = param(query, "state").unwrap_or("active");
    if !["active", "inactive", "sold_out", "draft", "expired"].contains(&wanted) {
        return Err((
            400,
            format!(
                "Expected parameter 'state' to be one of active, inactive, sold_out, draft, \
                 expired, got '{wanted}'"
            ),
        ));
    }
    let limit = bounded(query, "limit", 25, MAX_LIMIT)?;
    let offset = bounded(query, "offset", 0, u64::MAX)?;
    let stock = state.stock.lock().unwrap();
    let mut matching: Vec<&Value> = stock
        .values()
        .filter(|listing| listing["state"].as_str().unwrap_or("active") == wanted)
        .collect();
    matching.sort_by_key(|listing| std::cmp::Reverse(listing["listing_id"].as_u64()));
    let results: Vec<Value> = matching
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|listing| {
            let mut listing = (*listing).clone();
            let inventory = listing
                .as_object_mut()
                .and_then(|fields| fields.remove("inventory"))
                .unwrap_or(Value::Null);
            listing["skus"] = skus(&inventory);
            listing
        })
        .collect();
    Ok(json!({"count": matching.len(), "results": results}))
}

/// The distinct SKUs of a listing's products, as `ShopListing.skus` lists them.
fn skus(inventory: &Value) -> Value {
    let mut skus: Vec<&str> = inventory["products"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p["sku"].as_str())
        .filter(|sku| !sku.is_empty())
        .collect();
    skus.sort_unstable();
    skus.dedup();
    json!(skus)
}

/// `getListingsInventoryByListingIds`: each listing with its inventory, all or nothing.
fn batch_inventory(state: &State, query: &[(String, String)]) -> Result<Value, Refusal> {
    let ids = param(query, "listing_ids").unwrap_or_default();
    let ids: Vec<&str> = ids.split(',').filter(|id| !id.is_empty()).collect();
    if ids.is_empty() {
        return Err((400, "Missing Input Parameter: [listing_ids]".into()));
    }
    if ids.len() > MAX_LIMIT as usize {
        return Err((
            400,
            format!("Expected parameter 'listing_ids' to hold at most {MAX_LIMIT} ids"),
        ));
    }
    let stock = state.stock.lock().unwrap();
    let mut results = Vec::with_capacity(ids.len());
    for id in &ids {
        match stock.get(*id) {
            Some(listing) => results.push(listing.clone()),
            None => {
                return Err((404, format!("Could not find Listings with IDs: {id}")));
            }
        }
    }
    Ok(json!({"count": results.len(), "results": results}))
}

/// The three ledger endpoints: the list (`item` none), the payments behind entries, one entry.
fn ledger(state: &State, item: Option<&str>, query: &[(String, String)]) -> Result<Value, Refusal> {
    let entries = state.ledger.lock().unwrap();
    match item {
        None => {
            let bound = |name: &str| -> Result<i64, Refusal> {
                let Some(raw) = param(query, name) else {
                    return Err((400, format!("Missing Input Parameter: [{name}]")));
                };
                match raw.parse::<i64>() {
                    Ok(at) if at >= EARLIEST => Ok(at),
                    _ => Err((
                        400,
                        format!(
                            "Expected parameter '{name}' to be an integer of at least {EARLIEST}"
                        ),
                    )),
                }
            };
            let (min, max) = (bound("min_created")?, bound("max_created")?);
            let limit = bounded(query, "limit", 25, MAX_LIMIT)?;
            let offset = bounded(query, "offset", 0, u64::MAX)?;
            let mut matching: Vec<&Value> = entries
                .iter()
                .filter(|e| {
                    e["created_timestamp"]
                        .as_i64()
                        .is_some_and(|at| (min..=max).contains(&at))
                })
                .collect();
            matching.sort_by_key(|e| std::cmp::Reverse(e["sequence_number"].as_i64()));
            let results: Vec<&Value> = matching
                .iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .copied()
                .collect();
            Ok(json!({"count": matching.len(), "results": results}))
        }
        Some("payments") => {
            let ids = param(query, "ledger_entry_ids").unwrap_or_default();
            let ids: Vec<&str> = ids.split(',').filter(|id| !id.is_empty()).collect();
            if ids.is_empty() {
                return Err((400, "Missing Input Parameter: [ledger_entry_ids]".into()));
            }
            if ids.len() > MAX_LIMIT as usize {
                return Err((
                    400,
                    format!(
                        "Expected parameter 'ledger_entry_ids' to hold at most {MAX_LIMIT} ids"
                    ),
                ));
            }
            let references: Vec<String> = entries
                .iter()
                .filter(|e| ids.contains(&id_text(&e["entry_id"]).as_str()))
                .map(|e| id_text(&e["reference_id"]))
                .collect();
            let payments = state.ledger_payments.lock().unwrap();
            let refers = |payment: &Value| {
                let own = id_text(&payment["payment_id"]);
                let adjustments = payment["payment_adjustments"].as_array();
                references.iter().any(|r| {
                    *r == own
                        || adjustments
                            .into_iter()
                            .flatten()
                            .any(|a| id_text(&a["payment_adjustment_id"]) == *r)
                })
            };
            let results: Vec<&Value> = payments.iter().filter(|p| refers(p)).collect();
            Ok(json!({"count": results.len(), "results": results}))
        }
        Some(id) => entries
            .iter()
            .find(|e| id_text(&e["entry_id"]) == id)
            .cloned()
            .ok_or_else(|| (404, format!("Could not find a ledger entry with ID: {id}"))),
    }
}

/// An id as text, whether Etsy wrote it as a number or a string.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
