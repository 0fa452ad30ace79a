//! eBay's list for the poller: the Fulfillment API's `getOrders`, `GET
//! /sell/fulfillment/v1/order?filter=lastmodifieddate:[{from}..{to}]&limit=200&offset=N`
//! (eBay's "getOrders" reference and its `OrderSearchPagedCollection`):
//!
//! - `lastmodifieddate:[a..b]` lists orders whose `lastModifiedDate` is between the two
//!   timestamps, inclusive; both are ISO 8601 in UTC with milliseconds
//!   (`2016-05-15T08:25:43.511Z`), and the brackets are sent percent-encoded (`%5B`, `%5D`),
//!   as eBay requires.
//! - `limit` defaults to 50 and may be at most 200 (more fails with an error); `offset` counts
//!   orders from 0. The answer is `{href, limit, offset, total, next?, prev?, orders}`; `next`
//!   is the full URL of the next page, present while there is one, and the poller follows it.
//! - getOrders returns orders up to two years old: a window reaching further back is refused
//!   here with a message, rather than read as if nothing had happened then.
//! - No rate-limit headers: eBay counts calls per day (Developer Analytics API), so the poller
//!   keeps the minimum gap between calls and waits out 429s (`crate::poll::client`).
//!
//! Each order is published whole under `poll/order`, which `work_for` normalises without
//! fetching it again: as a `Refund` event when `paymentSummary.refunds` lists any (the order
//! and each refund), else an `Order` event; its version is `lastModifiedDate`. eBay sends no
//! refund notifications, so this is the only way an eBay refund is booked.
//!
//! UNSURE:
//! - whether a refund moves the order's `lastModifiedDate` (it changes the order's
//!   `paymentSummary` and `orderPaymentStatus`, so it is read as yes). The Fulfillment API has
//!   no list of refunds by their own date (the Finances API's `getTransactions` with
//!   `transactionType:{REFUND}` would be one, on another host and scope; not read here);
//! - whether eBay's 429 carries `Retry-After` (not documented; without it the poller backs off
//!   exponentially);
//! - whether an empty page leaves `orders` out: taken as no orders when `total` is there.

use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use crate::platforms::api::Auth;
use crate::poll::{Found, Listed, Lister, PollError, Window};

/// Orders per page: eBay's maximum.
pub const PAGE_SIZE: usize = 200;
/// The topic a polled order is published under.
pub const TOPIC: &str = "poll/order";
/// How far back getOrders reaches: orders up to two years old.
const LOOKBACK: time::Duration = time::Duration::days(730);
const ORDERS: &str = "/sell/fulfillment/v1/order";

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    check_lookback(window, OffsetDateTime::now_utc())?;
    let path = match page {
        Some(next) => next.to_owned(),
        None => orders_path(window, 0),
    };
    let reply = lister
        .client
        .get(Platform::Ebay, lister.api, Auth::Bearer, &path)
        .await?;
    let body = &reply.body;
    let orders = match body["orders"].as_array() {
        Some(orders) => orders.as_slice(),
        None if body["total"].is_u64() => &[],
        None => {
            return Err(PollError::Unreadable(format!(
                "eBay's answer to {path} has no `orders` list"
            )));
        }
    };
    let found = orders.iter().map(found).collect::<Result<Vec<_>, _>>()?;
    Ok(Listed {
        found,
        next: next_page(body, window, orders.len(), &lister.api.base_url),
    })
}

/// getOrders lists orders up to two years old; reading further back would report an empty
/// history that is not.
fn check_lookback(window: &Window, now: OffsetDateTime) -> Result<(), PollError> {
    let earliest = now - LOOKBACK;
    if window.from < earliest {
        return Err(PollError::Unreadable(format!(
            "eBay's getOrders lists orders up to two years old only, so it cannot read changes \
             from {}; start the backfill at {} or later",
            timestamp(window.from),
            timestamp(earliest + time::Duration::days(1))
                .get(..10)
                .unwrap_or_default()
        )));
    }
    Ok(())
}

/// The orders modified in `window`, from `offset`.
fn orders_path(window: &Window, offset: usize) -> String {
    format!(
        "{ORDERS}?filter=lastmodifieddate:%5B{}..{}%5D&limit={PAGE_SIZE}&offset={offset}",
        timestamp(window.from),
        timestamp(window.to),
    )
}

/// ISO 8601 in UTC with milliseconds, as eBay's date filters take them.
fn timestamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// The next page: eBay's `next` link (below the shop's base URL), or, should eBay leave it out
/// while `total` says a full page is not the last, the next offset.
fn next_page(body: &Value, window: &Window, listed: usize, base_url: &str) -> Option<String> {
    if let Some(next) = body["next"].as_str().filter(|n| !n.is_empty()) {
        return Some(relative(next, base_url));
    }
    let offset = body["offset"]
        .as_u64()
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or(0);
    let total = body["total"].as_u64().and_then(|t| usize::try_from(t).ok());
    (listed >= PAGE_SIZE && total.is_none_or(|total| total > offset + listed))
        .then(|| orders_path(window, offset + listed))
}

/// The path and query of `url` (the client prefixes the shop's base URL again).
pub(super) fn relative(url: &str, base_url: &str) -> String {
    if let Some(path) = url.strip_prefix(base_url.trim_end_matches('/')) {
        return path.to_owned();
    }
    // eBay writes its own host (https://api.ebay.com) whatever host the shop reaches it by.
    url.find("://")
        .and_then(|scheme| url[scheme + 3..].find('/').map(|at| scheme + 3 + at))
        .map_or_else(|| url.to_owned(), |at| url[at..].to_owned())
}

/// One listed order as the event `work_for` books.
fn found(order: &Value) -> Result<Found, PollError> {
    let id = order["orderId"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            PollError::Unreadable("an order in eBay's getOrders answer has no orderId".to_owned())
        })?
        .to_owned();
    let version = order["lastModifiedDate"]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            PollError::Unreadable(format!(
                "eBay order {id} in the getOrders answer has no lastModifiedDate"
            ))
        })?
        .to_owned();
    let refunded = order["paymentSummary"]["refunds"]
        .as_array()
        .is_some_and(|r| !r.is_empty());
    Ok(Found {
        kind: if refunded {
            EventKind::Refund
        } else {
            EventKind::Order
        },
        topic: TOPIC.to_owned(),
        body: serde_json::to_vec(order).expect("JSON values serialise"),
        id,
        version,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn window() -> Window {
        Window {
            from: datetime!(2026-01-01 00:00:00.0071 UTC),
            to: datetime!(2026-01-02 00:00:00 UTC),
        }
    }

    #[test]
    fn the_filter_is_inclusive_milliseconds_in_utc_with_encoded_brackets() {
        assert_eq!(
            orders_path(&window(), 400),
            "/sell/fulfillment/v1/order?filter=lastmodifieddate:%5B2026-01-01T00:00:00.007Z..\
             2026-01-02T00:00:00.000Z%5D&limit=200&offset=400"
        );
    }

    #[test]
    fn the_next_page_is_ebays_next_link_else_the_next_offset_while_total_says_more() {
        let base = "http://127.0.0.1:9000";
        let linked = json!({"next": "https://api.ebay.com/sell/fulfillment/v1/order?filter=x&limit=200&offset=200",
                            "offset": 0, "total": 450});
        assert_eq!(
            next_page(&linked, &window(), 200, base).as_deref(),
            Some("/sell/fulfillment/v1/order?filter=x&limit=200&offset=200")
        );
        let unlinked = json!({"offset": 200, "total": 450});
        assert_eq!(
            next_page(&unlinked, &window(), 200, base),
            Some(orders_path(&window(), 400))
        );
        assert_eq!(
            next_page(&json!({"offset": 200, "total": 400}), &window(), 200, base),
            None
        );
        assert_eq!(
            next_page(&json!({"offset": 0, "total": 3}), &window(), 3, base),
            None
        );
    }

    #[test]
    fn a_window_older_than_two_years_is_refused_with_where_to_start() {
        let now = datetime!(2026-06-01 12:00 UTC);
        let old = Window {
            from: datetime!(2024-05-01 0:00 UTC),
            to: datetime!(2024-05-02 0:00 UTC),
        };
        let err = check_lookback(&old, now).unwrap_err().to_string();
        assert!(
            err.contains("up to two years old only")
                && err.contains("from 2024-05-01T00:00:00.000Z")
                && err.contains("start the backfill at 2024-06-02 or later"),
            "{err}"
        );
        let recent = Window {
            from: datetime!(2024-06-02 0:00 UTC),
            to: now,
        };
        assert!(check_lookback(&recent, now).is_ok());
    }

    #[test]
    fn an_order_listing_refunds_is_a_refund_event_versioned_by_its_last_change() {
        let order = json!({"orderId": "27-13902-55814", "lastModifiedDate": "2026-11-27T09:00:01.000Z",
                           "paymentSummary": {"refunds": [{"refundId": "5000123456"}]}});
        let listed = found(&order).unwrap();
        assert_eq!(listed.kind, EventKind::Refund);
        assert_eq!(
            (
                listed.id.as_str(),
                listed.version.as_str(),
                listed.topic.as_str()
            ),
            ("27-13902-55814", "2026-11-27T09:00:01.000Z", TOPIC)
        );
        let paid =
            json!({"orderId": "1", "lastModifiedDate": "x", "paymentSummary": {"refunds": []}});
        assert_eq!(found(&paid).unwrap().kind, EventKind::Order);
        assert!(found(&json!({"orderId": "1"})).is_err());
    }
}
