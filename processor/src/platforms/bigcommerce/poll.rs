//! BigCommerce's lists for the poller, two per window:
//! - **Orders**: `GET /v2/orders` (Orders V2, "Get All Orders") with `min_date_modified` and
//!   `max_date_modified` (RFC 2822 or ISO 8601; the poller sends ISO 8601 with an explicit
//!   `+00:00`, URL-encoded), `sort=date_modified:asc`, `limit=250` (the most V2 allows) and
//!   numbered `page`s. V2 answers an empty list with `204 No Content` (no body). The list is
//!   the orders themselves, but the event path books an order from `/v2/orders/{id}` and its
//!   `/products`, so each is published as the thin `store/order/updated` webhook body that
//!   `work_for` hydrates.
//! - **Refunds**: `GET /v3/orders/payment_actions/refunds` (Orders V3, "List Refunds": every
//!   order's refunds, by refund id ascending) with `created:min` and `created:max` (inclusive,
//!   URL-encoded RFC 3339), `limit` and `page`, paged by `meta.pagination.total_pages`. Each is
//!   published as the `store/order/refund/created` webhook body (order id and refund id) that
//!   `work_for` reads. Refunds are listed by their own creation because it is UNSURE that a
//!   refund moves the order's `date_modified` (it changes `refunded_amount` and usually the
//!   status, but BigCommerce does not say); a refund never changes once made, so its version
//!   is its `created`.
//!
//! Both bounds of both lists are inclusive, so a change exactly at a window's end is listed in
//! two windows: the same version, the same event id, booked once. UNSURE: V3's largest
//! `limit` for refunds is not stated; 250 is V3's usual most (a smaller cap would only make
//! the page look not full, and `total_pages` still pages on). Rate limits are read by
//! [`crate::poll::client`] (`X-Rate-Limit-Requests-Left`, `-Quota`, `-Time-Reset-Ms`).
//!
//! The page token is `{orders page}:{refunds page}`, 0 for a list already read to its end.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use xcs_shared::{EventKind, Platform};

use crate::platforms::api::{Auth, Reply};
use crate::poll::client::{Pace, header_number, seconds};
use crate::poll::{Found, Listed, Lister, PollError, Window, rfc3339};

/// Orders per page: V2's maximum.
pub const PAGE_SIZE: usize = 250;
/// Refunds per page (see the module's UNSURE).
pub const REFUNDS_PAGE_SIZE: usize = 250;

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    let (orders_page, refunds_page) = match page {
        Some(token) => pages(token).ok_or_else(|| {
            PollError::Unreadable(format!("{token:?} is not a BigCommerce page token"))
        })?,
        None => (1, 1),
    };
    let (from, to) = (encoded(window.from), encoded(window.to));
    let mut found = Vec::new();
    let mut more_orders = false;
    if orders_page > 0 {
        let path = format!(
            "/v2/orders?min_date_modified={from}&max_date_modified={to}\
             &sort=date_modified:asc&limit={PAGE_SIZE}&page={orders_page}"
        );
        let reply = lister
            .client
            .get(Platform::BigCommerce, lister.api, Auth::AuthToken, &path)
            .await?;
        let orders = match &reply.body {
            // 204 No Content: nothing in the window.
            Value::Null => &[][..],
            Value::Array(orders) => orders.as_slice(),
            _ => {
                return Err(PollError::Unreadable(format!(
                    "BigCommerce's answer to {path} is not a list of orders"
                )));
            }
        };
        for order in orders {
            found.push(order_found(order)?);
        }
        more_orders = orders.len() >= PAGE_SIZE;
    }
    let mut more_refunds = false;
    if refunds_page > 0 {
        let path = format!(
            "/v3/orders/payment_actions/refunds?created:min={from}&created:max={to}\
             &limit={REFUNDS_PAGE_SIZE}&page={refunds_page}"
        );
        let reply = lister
            .client
            .get(Platform::BigCommerce, lister.api, Auth::AuthToken, &path)
            .await?;
        let refunds = match &reply.body["data"] {
            Value::Array(refunds) => refunds.as_slice(),
            _ if reply.body.is_null() => &[][..],
            _ => {
                return Err(PollError::Unreadable(format!(
                    "BigCommerce's answer to {path} has no `data` list"
                )));
            }
        };
        for refund in refunds {
            found.push(refund_found(refund)?);
        }
        let pagination = &reply.body["meta"]["pagination"];
        more_refunds = match pagination["total_pages"].as_u64() {
            Some(total) => u64::from(refunds_page) < total,
            None => refunds.len() >= REFUNDS_PAGE_SIZE,
        };
    }
    let next = (more_orders || more_refunds).then(|| {
        format!(
            "{}:{}",
            if more_orders { orders_page + 1 } else { 0 },
            if more_refunds { refunds_page + 1 } else { 0 }
        )
    });
    Ok(Listed { found, next })
}

fn pages(token: &str) -> Option<(u32, u32)> {
    let (orders, refunds) = token.split_once(':')?;
    Some((orders.parse().ok()?, refunds.parse().ok()?))
}

/// ISO 8601 with an explicit UTC offset, URL-encoded (`+` would read as a space).
fn encoded(at: OffsetDateTime) -> String {
    rfc3339(at).trim_end_matches('Z').replace(':', "%3A") + "%2B00%3A00"
}

fn number(value: &Value, what: &str) -> Result<u64, PollError> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| PollError::Unreadable(format!("a BigCommerce {what} has no numeric id")))
}

/// A time as RFC 3339 UTC, so that event ids read alike whichever form BigCommerce wrote.
fn version(text: &str) -> String {
    OffsetDateTime::parse(text, &Rfc2822)
        .or_else(|_| OffsetDateTime::parse(text, &Rfc3339))
        .map_or_else(|_| text.to_owned(), rfc3339)
}

/// Where a polled event's body carries the order or refund as the list gave it, beside the
/// webhook-shaped `scope` and `data` (no BigCommerce webhook has this field).
pub(crate) const LISTED: &str = "xcs_listed";

fn order_found(order: &Value) -> Result<Found, PollError> {
    let id = number(&order["id"], "order in the orders list")?;
    // The listed order is the one this event's version names, so the event path books it
    // without fetching it again (the products it still fetches: the list has none).
    let webhook = json!({
        "scope": "store/order/updated",
        "data": {"type": "order", "id": id},
        LISTED: order,
    });
    Ok(Found {
        kind: EventKind::Order,
        topic: "store/order/updated".to_owned(),
        body: serde_json::to_vec(&webhook).expect("JSON values serialise"),
        id: id.to_string(),
        version: version(order["date_modified"].as_str().unwrap_or_default()),
    })
}

fn refund_found(refund: &Value) -> Result<Found, PollError> {
    let id = number(&refund["id"], "refund in the refunds list")?;
    let order = number(&refund["order_id"], "refund's order")?;
    let webhook = json!({
        "scope": "store/order/refund/created",
        "data": {"type": "order", "id": order, "refund": {"refund_id": id}},
        LISTED: refund,
    });
    Ok(Found {
        kind: EventKind::Refund,
        topic: "store/order/refund/created".to_owned(),
        body: serde_json::to_vec(&webhook).expect("JSON values serialise"),
        id: id.to_string(),
        version: version(refund["created"].as_str().unwrap_or_default()),
    })
}

/// Below half of `X-Rate-Limit-Requests-Quota` left, waits for the window to reset
/// (`X-Rate-Limit-Time-Reset-Ms`).
pub(crate) fn pace(reply: &Reply) -> Pace {
    let left = header_number(reply, "X-Rate-Limit-Requests-Left");
    let quota = header_number(reply, "X-Rate-Limit-Requests-Quota");
    let reset = header_number(reply, "X-Rate-Limit-Time-Reset-Ms");
    match (left, quota, reset) {
        (Some(left), Some(quota), Some(reset)) if left * 2.0 < quota => {
            (seconds(reset / 1000.0), None)
        }
        _ => (std::time::Duration::ZERO, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_orders_and_refunds_become_thin_webhook_bodies_carrying_what_was_listed() {
        let listed = json!({"id": 310, "date_modified": "Tue, 24 Nov 2026 21:16:42 +0000"});
        let order = order_found(&listed).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&order.body).unwrap(),
            json!({"scope": "store/order/updated", "data": {"type": "order", "id": 310},
                   "xcs_listed": listed})
        );
        assert_eq!(order.version, "2026-11-24T21:16:42Z");
        let listed = json!({"id": 41, "order_id": 310, "created": "2026-11-26T02:00:00+00:00"});
        let refund = refund_found(&listed).unwrap();
        assert_eq!(
            serde_json::from_slice::<Value>(&refund.body).unwrap(),
            json!({"scope": "store/order/refund/created",
                   "data": {"type": "order", "id": 310, "refund": {"refund_id": 41}},
                   "xcs_listed": listed})
        );
        assert_eq!(
            (refund.id.as_str(), refund.version.as_str()),
            ("41", "2026-11-26T02:00:00Z")
        );
    }

    #[test]
    fn dates_are_encoded_with_their_offset_and_tokens_name_both_pages() {
        let at = time::macros::datetime!(2026-12-07 05:58:03 UTC);
        assert_eq!(encoded(at), "2026-12-07T05%3A58%3A03%2B00%3A00");
        assert_eq!(pages("2:0"), Some((2, 0)));
        assert_eq!(pages("x"), None);
    }
}
