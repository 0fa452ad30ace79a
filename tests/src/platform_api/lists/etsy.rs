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

use std::time::Instant;

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::{param, throttled};
use crate::platform_api::{State, credentials};

const MAX_LIMIT: u64 = 100;
const PER_SECOND: u32 = 10;
const PER_DAY: u32 = 10_000;
const EARLIEST: i64 = 946_684_800;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let shop = path
        .strip_prefix("/v3/application/shops/")?
        .strip_suffix("/receipts")?;
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
    Some((
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
            .json(json!({"count": count, "results": results})),
    ))
}
