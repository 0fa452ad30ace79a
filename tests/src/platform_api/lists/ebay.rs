//! eBay Fulfillment API `getOrders`, `GET /sell/fulfillment/v1/order`, as eBay's reference and
//! its `OrderSearchPagedCollection` describe it:
//! - `filter` holds comma-separated criteria: `creationdate:[a..b]` or `lastmodifieddate:[a..b]`
//!   (`b` optional), inclusive, ISO 8601 UTC with milliseconds; when both are given only
//!   `creationdate` counts. Without a date filter the orders created in the last 90 days are
//!   listed. Orders created more than two years ago are never listed.
//! - `limit` defaults to 50, at most 200 (more fails 400); `offset` from 0.
//! - The answer is `{href, total, limit, offset, orders, next?, prev?}`; `next` and `prev` are
//!   full URLs on eBay's own host. The order of the orders is not documented (UNSURE): newest
//!   created first here.
//! - Errors are `{"errors": [{errorId, domain, category, message, ...}]}` (UNSURE: the ids of
//!   the filter and limit errors).
//! - No rate-limit headers; a call over the limit (asked for by a test) is 429 with eBay's
//!   error 2001 and no `Retry-After`.
//!
//! The Sell Finances API's payouts and transactions are in `ebay/finances.rs`.
//!
//! The Sell Inventory API's `getInventoryItems`, `GET /sell/inventory/v1/inventory_item`
//! (eBay's reference and its `InventoryItems` type), for a tracked shop's stock
//! ([`crate::platform_api::FakePlatformApi::stock`]):
//! - `limit` 1..=200, default 25 (outside is 400); `offset` is the page number, from 0, as
//!   eBay's reference for this call describes it (UNSURE: eBay's other paged calls count
//!   records; the poller follows `next`, which works either way).
//! - The answer is `{href, limit, size, total, inventoryItems, next?, prev?}`: `size` the
//!   number of pages, `next`/`prev` full URLs on eBay's host; items in SKU order (eBay does
//!   not document one). An account without items leaves `inventoryItems` out (UNSURE).
//! - Each item is as stored: `{sku, locale, product, condition, availability:
//!   {shipToLocationAvailability: {quantity}}}`.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{param, throttled, time_of};
use crate::platform_api::State;

mod finances;

const MAX_LIMIT: usize = 200;
const ORDERS: &str = "/sell/fulfillment/v1/order";
const INVENTORY_ITEMS: &str = "/sell/inventory/v1/inventory_item";
const MAX_ITEMS_LIMIT: usize = 200;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    if let Some(answer) = finances::answer(state, path, query) {
        return Some(answer);
    }
    if path == INVENTORY_ITEMS {
        return Some(inventory_items(state, query));
    }
    if path != ORDERS {
        return None;
    }
    if throttled(state) {
        return Some((
            429,
            HttpResponse::TooManyRequests().json(json!({"errors": [{
                "errorId": 2001, "domain": "ACCESS", "category": "REQUEST",
                "message": "Too many requests. The request limit has been reached for the resource.",
            }]})),
        ));
    }
    let refuse = |error_id: u32, message: String| {
        Some((
            400,
            HttpResponse::BadRequest().json(json!({"errors": [{
                "errorId": error_id, "domain": "API_FULFILLMENT", "category": "REQUEST",
                "message": message,
            }]})),
        ))
    };
    let limit: usize = match param(query, "limit").map(str::parse) {
        None => 50,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return refuse(
                30820,
                format!("Invalid limit. The maximum value is {MAX_LIMIT}."),
            );
        }
    };
    let offset: usize = match param(query, "offset").map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return refuse(30810, "Invalid offset.".into()),
    };
    let filter = param(query, "filter").unwrap_or_default();
    let mut created = None;
    let mut modified = None;
    for criterion in filter.split(',').filter(|c| !c.trim().is_empty()) {
        let Some((name, value)) = criterion.split_once(':') else {
            return refuse(30800, format!("Invalid filter: {criterion}"));
        };
        let Some(range) = range(value) else {
            return refuse(
                30800,
                format!("Invalid filter value {value} for filter {name}"),
            );
        };
        match name {
            "creationdate" => created = Some(range),
            "lastmodifieddate" => modified = Some(range),
            "orderfulfillmentstatus" => {}
            other => return refuse(30800, format!("Invalid filter name: {other}")),
        }
    }
    let now = OffsetDateTime::now_utc();
    let two_years_ago = now - time::Duration::days(730);
    let (field, (from, to)) = match (created, modified) {
        (Some(created), _) => ("creationDate", created),
        (None, Some(modified)) => ("lastModifiedDate", modified),
        (None, None) => ("creationDate", (now - time::Duration::days(90), None)),
    };
    let at = |order: &Value, key: &str| order[key].as_str().and_then(time_of);
    let mut orders: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|order| {
            at(order, "creationDate").is_some_and(|c| c >= two_years_ago)
                && at(order, field).is_some_and(|t| t >= from && to.is_none_or(|to| t <= to))
        })
        .cloned()
        .collect();
    orders.sort_by_key(|order| std::cmp::Reverse(at(order, "creationDate")));
    let total = orders.len();
    let page: Vec<Value> = orders.into_iter().skip(offset).take(limit).collect();
    let url = |offset: usize| {
        let mut url = format!("https://api.ebay.com{ORDERS}?");
        if !filter.is_empty() {
            url += &format!("filter={}&", encode(filter));
        }
        url + &format!("limit={limit}&offset={offset}")
    };
    let mut body = json!({
        "href": url(offset),
        "total": total,
        "limit": limit,
        "offset": offset,
        "orders": page,
    });
    if offset + limit < total {
        body["next"] = json!(url(offset + limit));
    }
    if offset > 0 {
        body["prev"] = json!(url(offset.saturating_sub(limit)));
    }
    Some((200, HttpResponse::Ok().json(body)))
}

/// `[a..b]` or `[a..]`, each a timestamp with milliseconds.
fn range(value: &str) -> Option<(OffsetDateTime, Option<OffsetDateTime>)> {
    let (from, to) = value
        .strip_prefix('[')?
        .strip_suffix(']')?
        .split_once("..")?;
    let stamp = |text: &str| {
        let millis = text.strip_suffix('Z')?.rsplit_once('.')?.1;
        (millis.len() == 3 && millis.bytes().all(|b| b.is_ascii_digit()))
            .then(|| time_of(text))
            .flatten()
    };
    let to = if to.is_empty() {
        None
    } else {
        Some(stamp(to)?)
    };
    Some((stamp(from)?, to))
}

/// The filter as eBay writes it back in its links: brackets, braces and bars encoded.
fn encode(filter: &str) -> String {
    filter
        .replace('[', "%5B")
        .replace(']', "%5D")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace('|', "%7C")
}

/// `getInventoryItems`: a page of the seller's inventory items.
fn inventory_items(state: &State, query: &[(String, String)]) -> (u16, HttpResponse) {
    if throttled(state) {
        return (
            429,
            HttpResponse::TooManyRequests().json(json!({"errors": [{
                "errorId": 2001, "domain": "ACCESS", "category": "REQUEST",
                "message": "Too many requests. The request limit has been reached for the resource.",
            }]})),
        );
    }
    let refuse = |error_id: u32, message: &str| {
        (
            400,
            HttpResponse::BadRequest().json(json!({"errors": [{
                "errorId": error_id, "domain": "API_INVENTORY", "category": "REQUEST",
                "message": message,
            }]})),
        )
    };
    let limit: usize = match param(query, "limit").map(str::parse) {
        None => 25,
        Some(Ok(n)) if (1..=MAX_ITEMS_LIMIT).contains(&n) => n,
        Some(_) => return refuse(25709, "Invalid value for limit. Valid values are 1 to 200."),
    };
    let page: usize = match param(query, "offset").map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return refuse(25709, "Invalid value for offset."),
    };
    let stock = state.stock.lock().unwrap();
    let total = stock.len();
    let pages = total.div_ceil(limit);
    let items: Vec<Value> = stock
        .values()
        .skip(page.saturating_mul(limit))
        .take(limit)
        .cloned()
        .collect();
    let url =
        |page: usize| format!("https://api.ebay.com{INVENTORY_ITEMS}?limit={limit}&offset={page}");
    let mut body = json!({"href": url(page), "limit": limit, "size": pages, "total": total});
    if !items.is_empty() {
        body["inventoryItems"] = json!(items);
    }
    if page + 1 < pages {
        body["next"] = json!(url(page + 1));
    }
    if page > 0 {
        body["prev"] = json!(url(page - 1));
    }
    (200, HttpResponse::Ok().json(body))
}
