//! Adobe Commerce REST searches `GET /rest/V1/orders` and `GET /rest/V1/creditmemos`, as
//! Adobe's "Search using REST endpoints" and Magento's `SearchCriteria` processing serve them:
//! - `searchCriteria[filter_groups][G][filters][F][field|value|condition_type]`: groups are
//!   ANDed, the filters of a group ORed; `condition_type` defaults to `eq` (here: `eq`, `neq`,
//!   `gt`, `gteq`, `lt`, `lteq`). Dates are `YYYY-MM-DD HH:MM:SS`, UTC, compared as text (as
//!   MySQL compares a DATETIME with that form).
//! - `searchCriteria[sortOrders][N][field|direction]` (`ASC` default), then the entity id.
//! - `searchCriteria[pageSize]` (all when absent) and `[currentPage]` (from 1): a page past the
//!   end answers the last page again, as Magento's collections clamp the page. A page size over
//!   the store's maximum (300, "Web API input limits", 2.4.7; UNSURE: the exact message) is
//!   refused 400.
//! - The answer is `{items, search_criteria, total_count}`. Orders are the listed resources
//!   without an `order_id`, credit memos those with one.
//! - No rate limit of Magento's own: a 429 (asked for by a test) is a CDN's, with
//!   `Retry-After`.

use actix_web::HttpResponse;
use serde_json::{Value, json};

use super::throttled;
use crate::platform_api::State;

const MAX_PAGE_SIZE: usize = 300;

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let memos = match path {
        "/rest/V1/orders" => false,
        "/rest/V1/creditmemos" => true,
        _ => return None,
    };
    if throttled(state) {
        return Some((
            429,
            HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "1"))
                .body("Too Many Requests"),
        ));
    }
    // (group, filter) -> field, value, condition.
    let mut filters: std::collections::BTreeMap<(usize, usize), [Option<String>; 3]> =
        std::collections::BTreeMap::new();
    let mut sorts: std::collections::BTreeMap<usize, [Option<String>; 2]> =
        std::collections::BTreeMap::new();
    let mut page_size = None;
    let mut current_page = 1usize;
    for (key, value) in query {
        let parts: Vec<&str> = key
            .strip_prefix("searchCriteria")
            .unwrap_or_default()
            .split(['[', ']'])
            .filter(|p| !p.is_empty())
            .collect();
        match parts.as_slice() {
            ["filter_groups", g, "filters", f, what] => {
                let (Ok(g), Ok(f)) = (g.parse(), f.parse()) else {
                    continue;
                };
                let at = match *what {
                    "field" => 0,
                    "value" => 1,
                    "condition_type" => 2,
                    _ => continue,
                };
                filters.entry((g, f)).or_default()[at] = Some(value.clone());
            }
            ["sortOrders", n, what] => {
                let Ok(n) = n.parse() else { continue };
                let at = usize::from(*what == "direction");
                sorts.entry(n).or_default()[at] = Some(value.clone());
            }
            ["pageSize"] => page_size = value.parse::<usize>().ok(),
            ["currentPage"] => current_page = value.parse::<usize>().unwrap_or(1).max(1),
            _ => {}
        }
    }
    if page_size.is_some_and(|size| size > MAX_PAGE_SIZE) {
        return Some((
            400,
            HttpResponse::BadRequest().json(json!({
                "message": "Maximum SearchCriteria pageSize is %max",
                "parameters": {"max": MAX_PAGE_SIZE},
            })),
        ));
    }
    let matches = |item: &Value, [field, value, condition]: &[Option<String>; 3]| {
        let (Some(field), Some(value)) = (field, value) else {
            return true;
        };
        let have = item[field.as_str()]
            .to_string()
            .trim_matches('"')
            .to_owned();
        let order = match (have.parse::<f64>(), value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b),
            _ => Some(have.as_str().cmp(value.as_str())),
        };
        use std::cmp::Ordering::*;
        match condition.as_deref().unwrap_or("eq") {
            "eq" => order == Some(Equal),
            "neq" => order != Some(Equal),
            "gt" => order == Some(Greater),
            "gteq" => matches!(order, Some(Greater | Equal)),
            "lt" => order == Some(Less),
            "lteq" => matches!(order, Some(Less | Equal)),
            _ => false,
        }
    };
    let groups: std::collections::BTreeSet<usize> = filters.keys().map(|(g, _)| *g).collect();
    let mut items: Vec<Value> = state
        .listed
        .lock()
        .unwrap()
        .iter()
        .filter(|item| item.get("order_id").is_some() == memos)
        .filter(|item| {
            groups.iter().all(|g| {
                filters
                    .range((*g, 0)..=(*g, usize::MAX))
                    .any(|(_, filter)| matches(item, filter))
            })
        })
        .cloned()
        .collect();
    let text = |item: &Value, field: &str| item[field].to_string().trim_matches('"').to_owned();
    let id = |item: &Value| text(item, "entity_id").parse::<u64>().unwrap_or_default();
    items.sort_by(|a, b| {
        for [field, direction] in sorts.values() {
            let Some(field) = field else { continue };
            let mut order = text(a, field).cmp(&text(b, field));
            if direction.as_deref() == Some("DESC") {
                order = order.reverse();
            }
            if order.is_ne() {
                return order;
            }
        }
        id(a).cmp(&id(b))
    });
    let total = items.len();
    let page_of: Vec<Value> = match page_size {
        Some(size) if size > 0 => {
            let last = total.div_ceil(size).max(1);
            let page = current_page.min(last);
            items
                .into_iter()
                .skip((page - 1) * size)
                .take(size)
                .collect()
        }
        _ => items,
    };
    Some((
        200,
        HttpResponse::Ok().json(json!({
            "items": page_of,
            "search_criteria": {"page_size": page_size, "current_page": current_page},
            "total_count": total,
        })),
    ))
}
