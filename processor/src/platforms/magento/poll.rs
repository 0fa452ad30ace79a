//! Adobe Commerce's lists for the poller, two per window, both REST searches (Adobe's "Search
//! using REST endpoints"): `GET /rest/V1/orders` and `GET /rest/V1/creditmemos`, each with two
//! filter groups (groups are ANDed, filters within a group ORed): `updated_at gteq` the
//! window's start and `updated_at lt` its end, sorted by `updated_at ASC`, `pageSize` and
//! `currentPage` (from 1). The answer is `{items, search_criteria, total_count}`.
//!
//! - `updated_at` is Magento's `YYYY-MM-DD HH:MM:SS`, in UTC (Magento stores and answers UTC;
//!   the admin shows local time), and the filters take the same form.
//! - Magento answers a `currentPage` past the end with the last page again (the collection
//!   clamps the page), so the poller never asks past `total_count`.
//! - A search whose page size exceeds the store's "Maximum Page Size" (Web API input limits,
//!   2.4.7+) is refused 400; 100 is well under its default. UNSURE: that default.
//! - No REST rate limit of Magento's own (Adobe Commerce Cloud's Fastly may answer 429).
//!
//! Each listed order and credit memo is the full REST resource, which the Adobe Commerce
//! normaliser reads like an Adobe I/O event's `data.value` (`crate::platforms::magento`): an
//! order as an `Order` event (booked with what Magento has captured, `total_paid`, so each
//! invoice paid moves `updated_at` and pays the difference), a credit memo as a `Refund` event,
//! each under a `poll/…` topic, none fetched again. Credit memos are listed by their own
//! `updated_at` because creating one saves the order too, but the order does not carry the
//! memo's lines.

use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use crate::platforms::api::Auth;
use crate::poll::{Found, Listed, Lister, PollError, Window, rfc3339};

/// Orders (and credit memos) per page.
pub const PAGE_SIZE: usize = 100;

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    let (orders_page, memos_page) = match page {
        Some(token) => pages(token).ok_or_else(|| {
            PollError::Unreadable(format!("{token:?} is not an Adobe Commerce page token"))
        })?,
        None => (1, 1),
    };
    let mut found = Vec::new();
    let mut more = [false, false];
    for (at, (collection, page, kind, topic)) in [
        ("orders", orders_page, EventKind::Order, "poll/order"),
        (
            "creditmemos",
            memos_page,
            EventKind::Refund,
            "poll/creditmemo",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        if page == 0 {
            continue;
        }
        let path = search(collection, window, page);
        let reply = lister
            .client
            .get(Platform::Magento, lister.api, Auth::Bearer, &path)
            .await?;
        let items = reply.body["items"].as_array().ok_or_else(|| {
            PollError::Unreadable(format!(
                "Adobe Commerce's answer to {path} has no `items` list"
            ))
        })?;
        for item in items {
            found.push(Found {
                kind,
                topic: topic.to_owned(),
                body: serde_json::to_vec(item).expect("JSON values serialise"),
                id: entity_id(item, collection)?,
                version: item["updated_at"]
                    .as_str()
                    .or_else(|| item["created_at"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        let total = reply.body["total_count"].as_u64().unwrap_or_default();
        more[at] = u64::from(page) * (PAGE_SIZE as u64) < total;
    }
    let next_of = |more: bool, page: u32| if more { page + 1 } else { 0 };
    let next = (more[0] || more[1]).then(|| {
        format!(
            "{}:{}",
            next_of(more[0], orders_page),
            next_of(more[1], memos_page)
        )
    });
    Ok(Listed { found, next })
}

fn pages(token: &str) -> Option<(u32, u32)> {
    let (orders, memos) = token.split_once(':')?;
    Some((orders.parse().ok()?, memos.parse().ok()?))
}

/// The search of `collection` changed in `window`, page `page`.
fn search(collection: &str, window: &Window, page: u32) -> String {
    let group = |at: usize, condition: &str, value: &str| {
        let filter = format!("searchCriteria[filter_groups][{at}][filters][0]");
        format!(
            "{filter}[field]=updated_at&{filter}[value]={value}&{filter}[condition_type]={condition}"
        )
    };
    format!(
        "/rest/V1/{collection}?{}&{}&searchCriteria[sortOrders][0][field]=updated_at\
         &searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]={PAGE_SIZE}\
         &searchCriteria[currentPage]={page}",
        group(0, "gteq", &magento_time(window.from)),
        group(1, "lt", &magento_time(window.to)),
    )
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, the space URL-encoded.
fn magento_time(at: OffsetDateTime) -> String {
    rfc3339(at).trim_end_matches('Z').replace('T', "%20")
}

fn entity_id(item: &Value, collection: &str) -> Result<String, PollError> {
    match &item["entity_id"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(PollError::Unreadable(format!(
            "an item of Adobe Commerce's {collection} search has no entity_id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_filters_updated_at_in_two_groups_in_utc() {
        let window = Window {
            from: time::macros::datetime!(2026-12-07 18:58:03 +13:00),
            to: time::macros::datetime!(2026-12-07 06:00:00 UTC),
        };
        assert_eq!(
            search("creditmemos", &window, 2),
            "/rest/V1/creditmemos?\
             searchCriteria[filter_groups][0][filters][0][field]=updated_at\
             &searchCriteria[filter_groups][0][filters][0][value]=2026-12-07%2005:58:03\
             &searchCriteria[filter_groups][0][filters][0][condition_type]=gteq\
             &searchCriteria[filter_groups][1][filters][0][field]=updated_at\
             &searchCriteria[filter_groups][1][filters][0][value]=2026-12-07%2006:00:00\
             &searchCriteria[filter_groups][1][filters][0][condition_type]=lt\
             &searchCriteria[sortOrders][0][field]=updated_at\
             &searchCriteria[sortOrders][0][direction]=ASC&searchCriteria[pageSize]=100\
             &searchCriteria[currentPage]=2"
        );
        assert_eq!(pages("0:3"), Some((0, 3)));
    }
}
