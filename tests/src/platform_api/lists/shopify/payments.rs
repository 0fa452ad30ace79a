//! Shopify Payments' two lists, as the Admin REST references describe them:
//! - "Payouts" (`GET /admin/api/{version}/shopify_payments/payouts.json`): "ordered by payout
//!   date, with the most recent being first"; `status`, `date` (that day), `date_min` and
//!   `date_max` ("inclusively after/before the specified date"), `since_id` and `last_id`
//!   ("payouts made after/before the specified ID").
//! - "Transactions" (`GET /admin/api/{version}/shopify_payments/balance/transactions.json`):
//!   "ordered by processing time, with the most recent being first"; `payout_id`,
//!   `payout_status`, `test`, `since_id` and `last_id`.
//!
//! Both "implement pagination by using links that are provided in the response header", as
//! "Make paginated requests to the REST Admin API" describes: `limit` (default 50, at most 250;
//! more is refused 400), the `Link` header's `rel="next"` URL carrying `page_info` and `limit`
//! only, and a request combining `page_info` with any filter refused 400. Calls share the
//! store's leaky bucket with its other lists ([`super::take_call`]).

use actix_web::HttpResponse;
use base64::Engine as _;
use serde_json::{Value, json};

use super::super::{param, time_of};
use crate::platform_api::State;

/// How a list is sorted (newest first): a time as sortable text, then the id.
type SortKey = fn(&Value) -> (String, u64);

/// Which list a path is.
enum List {
    Payouts,
    Transactions,
}

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let rest = path.strip_prefix("/admin/api/")?;
    let (version, list) = if let Some(version) = rest.strip_suffix("/shopify_payments/payouts.json")
    {
        (version, List::Payouts)
    } else {
        let version = rest.strip_suffix("/shopify_payments/balance/transactions.json")?;
        (version, List::Transactions)
    };
    let call_limit = match super::take_call(state) {
        Ok(call_limit) => call_limit,
        Err(refusal) => return Some(*refusal),
    };
    let bad = |field: &str, message: &str| {
        Some((
            400,
            HttpResponse::BadRequest().json(json!({"errors": {field: message}})),
        ))
    };
    let Ok(limit) = param(query, "limit").map_or(Ok(50), str::parse::<usize>) else {
        return bad("limit", "Invalid value.");
    };
    if limit == 0 || limit > 250 {
        return bad("limit", "Limit cannot exceed 250");
    }
    let (filters, after): (Vec<(String, String)>, Option<Value>) = match param(query, "page_info") {
        Some(cursor) => {
            if query
                .iter()
                .any(|(key, _)| key != "page_info" && key != "limit")
            {
                return bad(
                    "page_info",
                    "page_info cannot be combined with other parameters",
                );
            }
            let Some(decoded) = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            else {
                return bad("page_info", "Invalid value.");
            };
            let filters = decoded["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|pair| {
                    Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned()))
                })
                .collect();
            (filters, Some(decoded["after"].clone()))
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
    let number = |key: &str| param(&filters, key).and_then(|v| v.parse::<u64>().ok());
    let id = |resource: &Value| resource["id"].as_u64().unwrap_or_default();
    let (name, mut found, key): (&str, Vec<Value>, SortKey) = match list {
        List::Payouts => {
            let status = param(&filters, "status");
            let day = param(&filters, "date");
            let (min, max) = (param(&filters, "date_min"), param(&filters, "date_max"));
            let found = state
                .payouts
                .lock()
                .unwrap()
                .iter()
                .filter(|payout| {
                    // ISO 8601 days compare as text.
                    let date = payout["date"].as_str().unwrap_or_default();
                    status.is_none_or(|s| payout["status"] == s)
                        && day.is_none_or(|d| date == d)
                        && min.is_none_or(|m| date >= m)
                        && max.is_none_or(|m| date <= m)
                        && number("since_id").is_none_or(|since| id(payout) > since)
                        && number("last_id").is_none_or(|last| id(payout) < last)
                })
                .cloned()
                .collect();
            let key: SortKey = |payout| {
                (
                    payout["date"].as_str().unwrap_or_default().to_owned(),
                    payout["id"].as_u64().unwrap_or_default(),
                )
            };
            ("payouts", found, key)
        }
        List::Transactions => {
            let payout_status = param(&filters, "payout_status");
            let test = param(&filters, "test");
            let found = state
                .balance_transactions
                .lock()
                .unwrap()
                .iter()
                .filter(|tx| {
                    number("payout_id").is_none_or(|p| tx["payout_id"].as_u64() == Some(p))
                        && payout_status.is_none_or(|s| tx["payout_status"] == s)
                        && test
                            .is_none_or(|t| tx["test"].as_bool().unwrap_or(false).to_string() == t)
                        && number("since_id").is_none_or(|since| id(tx) > since)
                        && number("last_id").is_none_or(|last| id(tx) < last)
                })
                .cloned()
                .collect();
            let key: SortKey = |tx| {
                let at = tx["processed_at"].as_str().and_then(time_of);
                (
                    at.map(|at| at.unix_timestamp().to_string())
                        .map(|s| format!("{s:0>20}"))
                        .unwrap_or_default(),
                    tx["id"].as_u64().unwrap_or_default(),
                )
            };
            ("transactions", found, key)
        }
    };
    // Newest first.
    found.sort_by_key(|resource| std::cmp::Reverse(key(resource)));
    if let Some(after) = after {
        let after = (
            after[0].as_str().unwrap_or_default().to_owned(),
            after[1].as_u64().unwrap_or_default(),
        );
        found.retain(|resource| key(resource) < after);
    }
    let more = found.len() > limit;
    found.truncate(limit);
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Shopify-Shop-Api-Call-Limit", call_limit));
    if more && let Some(last) = found.last() {
        let (sort, id) = key(last);
        let cursor = json!({
            "filters": filters.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "after": [sort, id],
        });
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&cursor).unwrap());
        let path = match list {
            List::Payouts => "shopify_payments/payouts.json",
            List::Transactions => "shopify_payments/balance/transactions.json",
        };
        response.insert_header((
            "Link",
            format!(
                "<https://nz-demo.myshopify.com/admin/api/{version}/{path}?limit={limit}&page_info={cursor}>; rel=\"next\""
            ),
        ));
    }
    Some((200, response.json(json!({ name: found }))))
}
