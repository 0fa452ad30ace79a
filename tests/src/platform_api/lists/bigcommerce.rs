//! BigCommerce's lists, as its API reference describes them:
//! - Orders V2 `GET /v2/orders` ("Get All Orders"): `min_date_modified` / `max_date_modified`
//!   inclusive, in RFC 2822 or ISO 8601; `sort=date_modified:asc` (or `:desc`; the id breaks
//!   ties); `limit` defaults to 50, at most 250 (more is served as 250); numbered `page`s. An
//!   empty list is `204 No Content` with no body. Orders are the listed resources without an
//!   `order_id`.
//! - Orders V3 `GET /v3/orders/payment_actions/refunds` ("List Refunds"): `created:min` /
//!   `created:max` inclusive, RFC 3339; by refund id ascending; `limit` and `page`, with
//!   `meta.pagination`. Refunds are the listed resources with an `order_id`.
//! - Rate limits ("API rate limits"): every answer states `X-Rate-Limit-Requests-Left`,
//!   `X-Rate-Limit-Requests-Quota` and `X-Rate-Limit-Time-Reset-Ms` for the current window; a
//!   call with none left is 429 with the same headers.

use std::time::{Duration, Instant};

use actix_web::HttpResponse;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use super::{param, throttled};
use crate::platform_api::State;

/// Calls per window (a Standard plan's 150 per 30 seconds).
const QUOTA: u32 = 150;
const WINDOW: Duration = Duration::from_secs(30);
const MAX_LIMIT: usize = 250;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let refunds = match path {
        "/v2/orders" => false,
        "/v3/orders/payment_actions/refunds" => true,
        _ => return None,
    };
    let (left, reset) = {
        let mut limits = state.limits.lock().unwrap();
        let now = Instant::now();
        let started = *limits.bigcommerce_window.get_or_insert(now);
        let started = if now.duration_since(started) >= WINDOW {
            limits.bigcommerce_used = 0;
            limits.bigcommerce_window = Some(now);
            now
        } else {
            started
        };
        let reset = WINDOW.saturating_sub(now.duration_since(started));
        if limits.bigcommerce_used < QUOTA {
            limits.bigcommerce_used += 1;
            (Some(QUOTA - limits.bigcommerce_used), reset)
        } else {
            (None, reset)
        }
    };
    let headers = |response: &mut actix_web::HttpResponseBuilder| {
        response
            .insert_header(("X-Rate-Limit-Requests-Left", left.unwrap_or(0).to_string()))
            .insert_header(("X-Rate-Limit-Requests-Quota", QUOTA.to_string()))
            .insert_header((
                "X-Rate-Limit-Time-Window-Ms",
                WINDOW.as_millis().to_string(),
            ))
            .insert_header(("X-Rate-Limit-Time-Reset-Ms", reset.as_millis().to_string()));
    };
    if left.is_none() || throttled(state) {
        let mut response = HttpResponse::TooManyRequests();
        headers(&mut response);
        // A short reset, so a test's 429 is waited out quickly.
        response.insert_header(("X-Rate-Limit-Time-Reset-Ms", "1000"));
        return Some((
            429,
            response.json(json!({
                "status": 429,
                "title": "Too many requests",
                "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            })),
        ));
    }
    let limit = param(query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .clamp(1, MAX_LIMIT);
    let page = param(query, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let bad = |name: &str| {
        Some((
            400,
            HttpResponse::BadRequest().json(json!([{
                "status": 400,
                "message": format!("The field '{name}' is invalid."),
            }])),
        ))
    };
    let (min_name, max_name, field) = if refunds {
        ("created:min", "created:max", "created")
    } else {
        ("min_date_modified", "max_date_modified", "date_modified")
    };
    let bound = |name: &str| match param(query, name) {
        None => Ok(None),
        Some(text) => time_of(text).map(Some).ok_or(()),
    };
    let Ok(min) = bound(min_name) else {
        return bad(min_name);
    };
    let Ok(max) = bound(max_name) else {
        return bad(max_name);
    };
    let mut items: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|item| item.get("order_id").is_some() == refunds)
        .filter(|item| {
            let at = item[field].as_str().and_then(time_of);
            min.is_none_or(|min| at.is_some_and(|at| at >= min))
                && max.is_none_or(|max| at.is_some_and(|at| at <= max))
        })
        .cloned()
        .collect();
    let id = |item: &Value| item["id"].as_u64().unwrap_or_default();
    if refunds {
        items.sort_by_key(id);
    } else {
        match param(query, "sort") {
            Some("date_modified:asc") | Some("date_modified:desc") => {
                items.sort_by_key(|o| (o[field].as_str().and_then(time_of), id(o)));
                if param(query, "sort") == Some("date_modified:desc") {
                    items.reverse();
                }
            }
            _ => items.sort_by_key(id),
        }
    }
    let total = items.len();
    let page_of: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let mut response = HttpResponse::Ok();
    headers(&mut response);
    if refunds {
        let pages = total.div_ceil(limit);
        return Some((
            200,
            response.json(json!({
                "data": page_of,
                "meta": {"pagination": {
                    "total": total, "count": page_of.len(), "per_page": limit,
                    "current_page": page, "total_pages": pages, "links": {},
                }},
            })),
        ));
    }
    if page_of.is_empty() {
        return Some((204, HttpResponse::NoContent().finish()));
    }
    Some((200, response.json(page_of)))
}

/// RFC 2822 (`Tue, 24 Nov 2026 21:16:42 +0000`, how V2 writes its dates) or ISO 8601.
fn time_of(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc2822)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .ok()
}
