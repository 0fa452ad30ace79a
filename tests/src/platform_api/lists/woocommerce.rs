//! WooCommerce REST API v3 `GET /wp-json/wc/v3/orders`, as `WC_REST_CRUD_Controller` and
//! `WC_REST_Orders_V2_Controller` (WooCommerce's source) serve it:
//! - `modified_after` / `modified_before` are exclusive (`WP_Date_Query` `after`/`before`), on
//!   `date_modified_gmt` with `dates_are_gmt=true`, else on the site's local `date_modified`;
//!   a date without an offset is the wall time of that column.
//! - `status` defaults to `any`; `orderby` (`date` default, `modified`, `id`…) with `order`
//!   (`desc` default), the id added to a date sort as WooCommerce adds it.
//! - `per_page` defaults to 10, at most 100: more is refused 400 `rest_invalid_param`, as
//!   WordPress validates collection parameters. Pages are numbered from 1; the answer carries
//!   `X-WP-Total` and `X-WP-TotalPages`.
//! - No rate limit of WooCommerce's own: a 429 (asked for by a test) is a host's, with
//!   `Retry-After`.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::{param, throttled};
use crate::platform_api::State;

const MAX_PER_PAGE: usize = 100;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    if path != "/wp-json/wc/v3/orders" {
        return None;
    }
    if throttled(state) {
        return Some((
            429,
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .body("Too Many Requests"),
        ));
    }
    let invalid = |name: &str, why: &str| {
        Some((
            400,
            HttpResponse::BadRequest().json(json!({
                "code": "rest_invalid_param",
                "message": format!("Invalid parameter(s): {name}"),
                "data": {"status": 400, "params": {name: why}},
            })),
        ))
    };
    let per_page: usize = match param(query, "per_page").map(str::parse) {
        None => 10,
        Some(Ok(n)) if (1..=MAX_PER_PAGE).contains(&n) => n,
        Some(_) => {
            return invalid(
                "per_page",
                "per_page must be between 1 (inclusive) and 100 (inclusive)",
            );
        }
    };
    let page: usize = match param(query, "page").map(str::parse) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return invalid("page", "page must be greater than or equal to 1"),
    };
    let gmt = param(query, "dates_are_gmt").is_some_and(|v| v == "true" || v == "1");
    let column = if gmt {
        "date_modified_gmt"
    } else {
        "date_modified"
    };
    let bound = |name: &str| match param(query, name) {
        None => Ok(None),
        Some(text) => wall_time(text).map(Some).ok_or(()),
    };
    let (Ok(after), Ok(before)) = (bound("modified_after"), bound("modified_before")) else {
        return invalid("modified_after", "Invalid date.");
    };
    let status = param(query, "status").unwrap_or("any");
    let mut orders: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|order| {
            let modified = order[column].as_str().and_then(wall_time);
            (status == "any" || order["status"] == status)
                && after.is_none_or(|a| modified.is_some_and(|m| m > a))
                && before.is_none_or(|b| modified.is_some_and(|m| m < b))
        })
        .cloned()
        .collect();
    let orderby = param(query, "orderby").unwrap_or("date");
    let sort_column = match orderby {
        "modified" => column,
        "date" => "date_created_gmt",
        "id" => "id",
        _ => {
            return invalid(
                "orderby",
                "orderby is not one of date, id, include, title, slug, modified.",
            );
        }
    };
    orders.sort_by_key(|order| {
        (
            order[sort_column].as_str().and_then(wall_time),
            order["id"].as_u64().unwrap_or_default(),
        )
    });
    if param(query, "order").unwrap_or("desc") == "desc" {
        orders.reverse();
    }
    let total = orders.len();
    let pages = total.div_ceil(per_page);
    let page_of: Vec<Value> = orders
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    Some((
        200,
        HttpResponse::Ok()
            .insert_header(("X-WP-Total", total.to_string()))
            .insert_header(("X-WP-TotalPages", pages.to_string()))
            .json(page_of),
    ))
}

/// An ISO 8601 time as WooCommerce writes it (no offset: the column's wall time) or with one.
fn wall_time(text: &str) -> Option<PrimitiveDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    PrimitiveDateTime::parse(text, &format).ok().or_else(|| {
        OffsetDateTime::parse(text, &Rfc3339).ok().map(|at| {
            let at = at.to_offset(time::UtcOffset::UTC);
            PrimitiveDateTime::new(at.date(), at.time())
        })
    })
}
