//! Shopify Admin REST `GET /admin/api/{version}/orders.json`, as Shopify's "Order" reference
//! and "Make paginated requests to the REST Admin API" describe it:
//! - `status` defaults to `open`: without `status=any` closed and cancelled orders are not
//!   listed.
//! - `updated_at_min` / `updated_at_max` are inclusive; `limit` defaults to 50 and may be at
//!   most 250 (more is refused 400); `order=updated_at asc` sorts by modification.
//! - Pages are cursors: the `Link` header's `rel="next"` URL carries `page_info` and `limit`
//!   only; a request with `page_info` and any filter is refused 400.
//! - Rate limits ("REST Admin API rate limits"): a leaky bucket of 40 calls draining 2 a
//!   second, stated on every answer as `X-Shopify-Shop-Api-Call-Limit: {used}/40`; a call
//!   into a full bucket is answered 429 with `Retry-After: 2.0`.

use std::time::Instant;

use actix_web::HttpResponse;
use base64::Engine as _;
use serde_json::{Value, json};

use super::{param, throttled, time_of};
use crate::platform_api::State;

mod payments;

/// A query's parameters, in order.
type Query = Vec<(String, String)>;

const BUCKET: f64 = 40.0;
const LEAK_PER_SECOND: f64 = 2.0;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    if let Some(answer) = payments::answer(state, path, query) {
        return Some(answer);
    }
    let version = path
        .strip_prefix("/admin/api/")?
        .strip_suffix("/orders.json")?;
    let call_limit = match take_call(state) {
        Ok(call_limit) => call_limit,
        Err(refusal) => return Some(*refusal),
    };
    let refuse = |message: &str| {
        Some((
            400,
            HttpResponse::BadRequest().json(json!({"errors": {"page_info": message}})),
        ))
    };
    let limit: usize = param(query, "limit").map_or(Ok(50), str::parse).ok()?;
    if limit > 250 {
        return Some((
            400,
            HttpResponse::BadRequest()
                .json(json!({"errors": {"limit": "Limit cannot exceed 250"}})),
        ));
    }
    // The filters, from the request or from the cursor.
    let (filters, after): (Query, Option<(String, u64)>) = match param(query, "page_info") {
        Some(cursor) => {
            if query
                .iter()
                .any(|(key, _)| key != "page_info" && key != "limit")
            {
                return refuse("page_info cannot be combined with other parameters");
            }
            let Some(decoded) = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            else {
                return refuse("Invalid value.");
            };
            let filters = decoded["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned()))
                })
                .collect();
            let after = (
                decoded["updated_at"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                decoded["id"].as_u64().unwrap_or_default(),
            );
            (filters, Some(after))
        }
        None => (
            query
                .iter()
                .filter(|(key, _)| key != "limit")
                .cloned()
                .collect(),
            None,
        ),
    };
    let status = param(&filters, "status").unwrap_or("open");
    let min = param(&filters, "updated_at_min").and_then(time_of);
    let max = param(&filters, "updated_at_max").and_then(time_of);
    let mut orders: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|order| {
            let updated = order["updated_at"].as_str().and_then(time_of);
            let open = order["closed_at"].is_null() && order["cancelled_at"].is_null();
            (status == "any" || open)
                && min.is_none_or(|min| updated.is_some_and(|u| u >= min))
                && max.is_none_or(|max| updated.is_some_and(|u| u <= max))
        })
        .cloned()
        .collect();
    let key = |order: &Value| {
        (
            order["updated_at"].as_str().and_then(time_of),
            order["id"].as_u64().unwrap_or_default(),
        )
    };
    orders.sort_by_key(key);
    if let Some((updated_at, id)) = &after {
        let after = (time_of(updated_at), *id);
        orders.retain(|order| key(order) > after);
    }
    let more = orders.len() > limit;
    orders.truncate(limit);
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Shopify-Shop-Api-Call-Limit", call_limit));
    if more && let Some(last) = orders.last() {
        let cursor = json!({
            "filters": filters.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "updated_at": last["updated_at"],
            "id": last["id"],
        });
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&cursor).unwrap());
        response.insert_header((
            "Link",
            format!(
                "<{}/admin/api/{version}/orders.json?limit={limit}&page_info={cursor}>; rel=\"next\"",
                "https://nz-demo.myshopify.com"
            ),
        ));
    }
    Some((200, response.json(json!({"orders": orders}))))
}

/// Takes one call from the leaky bucket: the `X-Shopify-Shop-Api-Call-Limit` value to answer
/// with, or the 429 Shopify answers a call into a full bucket (or one a test asked for).
pub(super) fn take_call(state: &State) -> Result<String, Box<(u16, HttpResponse)>> {
    let used = {
        let mut limits = state.limits.lock().unwrap();
        let now = Instant::now();
        let drained = limits.shopify_at.map_or(0.0, |at| {
            now.duration_since(at).as_secs_f64() * LEAK_PER_SECOND
        });
        limits.shopify_used = (limits.shopify_used - drained).max(0.0);
        limits.shopify_at = Some(now);
        if limits.shopify_used + 1.0 > BUCKET {
            None
        } else {
            limits.shopify_used += 1.0;
            Some(limits.shopify_used)
        }
    };
    let call_limit = format!("{}/{}", used.unwrap_or(BUCKET).ceil(), BUCKET);
    if used.is_none() || throttled(state) {
        return Err(Box::new((
            429,
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "2.0"))
                .insert_header(("X-Shopify-Shop-Api-Call-Limit", call_limit))
                .json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})),
        )));
    }
    Ok(call_limit)
}
