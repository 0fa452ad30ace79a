//! Etsy's list for the poller: Open API v3 `getShopReceipts`, `GET
//! /v3/application/shops/{shop_id}/receipts` (Etsy's API reference, "ShopReceipt"), with
//! `min_last_modified` / `max_last_modified` (Unix seconds, at least 946684800),
//! `sort_on=updated&sort_order=asc`, `limit=100` (1..=100, default 25) and `offset` (from 0).
//! The answer is `{count, results}`, each result a whole `ShopReceipt` with its transactions
//! and refunds, as `getShopReceipt` answers it; no receipts is `{"count": 0, "results": []}`.
//! Further pages are by `offset` only (no link, no cursor): the next page's token is the
//! offset after this page.
//!
//! The shop id comes from the shop's `api.shop_id` (Etsy's webhooks carry it in their
//! `resource_url`; the poller has no webhook), checked at start for an Etsy shop that polls.
//!
//! Each receipt is published whole under `poll/receipt`, which `work_for` normalises without
//! fetching it again: as a `Refund` event when it lists refunds (its order and every refund),
//! else an `Order` event; its version is `updated_timestamp`. Etsy sends no refund webhooks,
//! so this is the only way an Etsy refund is booked.
//!
//! Rate limits (Etsy's "Rate Limits"): `x-remaining-this-second`, `x-limit-per-day`,
//! `x-remaining-today` on every success, read by `crate::poll::client`; a 429 carries none of
//! them (and, per third-party summaries of that page, a `retry-after`).
//!
//! UNSURE:
//! - whether `min_last_modified` / `max_last_modified` are inclusive (read as inclusive; the
//!   next window starts at or before this one's end, so an exclusive end loses nothing);
//! - whether a refund moves the receipt's `updated_timestamp` (Etsy documents it as the last
//!   change to the receipt record, and a refund changes the receipt's `status` to "Partially
//!   Refunded"/"Fully Refunded", which is read as yes). Etsy has no list of refunds by their own
//!   time; the one place they appear on their own is the payment account ledger
//!   (`getShopPaymentAccountLedgerEntries`), which is not read here;
//! - whether `count` is the total matching the filters or the page's count: a full page is
//!   taken as "more", whatever `count` says.

use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use std::time::Duration;

use crate::platforms::api::{Auth, Reply};
use crate::poll::client::{Pace, header_number};
use crate::poll::{Found, Listed, Lister, PollError, Window};

/// Receipts per page: Etsy's maximum.
pub const PAGE_SIZE: usize = 100;
/// The topic a polled receipt is published under.
pub const TOPIC: &str = "poll/receipt";
/// The earliest `min_last_modified` Etsy accepts (2000-01-01).
const EARLIEST: i64 = 946_684_800;

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    let shop_id = lister
        .api
        .shop_id
        .as_deref()
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| {
            PollError::Misconfigured(format!(
                "Etsy shop {:?} has no api.shop_id, under which its receipts are listed",
                lister.shop
            ))
        })?;
    let offset = match page {
        Some(token) => token.parse::<usize>().map_err(|_| {
            PollError::Unreadable(format!("{token:?} is not an Etsy receipts offset"))
        })?,
        None => 0,
    };
    let path = receipts_path(shop_id, window, offset);
    let reply = lister
        .client
        .get(Platform::Etsy, lister.api, Auth::BearerAndApiKey, &path)
        .await?;
    let receipts = reply.body["results"].as_array().ok_or_else(|| {
        PollError::Unreadable(format!("Etsy's answer to {path} has no `results` list"))
    })?;
    let found = receipts.iter().map(found).collect::<Result<Vec<_>, _>>()?;
    let next = (receipts.len() >= PAGE_SIZE).then(|| (offset + receipts.len()).to_string());
    Ok(Listed { found, next })
}

/// The receipts modified in `window`, oldest change first, from `offset`.
fn receipts_path(shop_id: &str, window: &Window, offset: usize) -> String {
    format!(
        "/v3/application/shops/{shop_id}/receipts?min_last_modified={}&max_last_modified={}\
         &limit={PAGE_SIZE}&offset={offset}&sort_on=updated&sort_order=asc",
        unix(window.from).max(EARLIEST),
        unix(window.to).max(EARLIEST),
    )
}

fn unix(at: OffsetDateTime) -> i64 {
    at.unix_timestamp()
}

/// One listed receipt as the event `work_for` books.
fn found(receipt: &Value) -> Result<Found, PollError> {
    let id = match &receipt["receipt_id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => {
            return Err(PollError::Unreadable(
                "a receipt in Etsy's receipts list has no receipt_id".to_owned(),
            ));
        }
    };
    let version = ["updated_timestamp", "update_timestamp"]
        .iter()
        .find_map(|key| receipt[key].as_i64())
        .ok_or_else(|| {
            PollError::Unreadable(format!(
                "Etsy receipt {id} in the receipts list has no updated_timestamp"
            ))
        })?;
    let refunded = receipt["refunds"].as_array().is_some_and(|r| !r.is_empty());
    Ok(Found {
        kind: if refunded {
            EventKind::Refund
        } else {
            EventKind::Order
        },
        topic: TOPIC.to_owned(),
        body: serde_json::to_vec(receipt).expect("JSON values serialise"),
        id,
        version: version.to_string(),
    })
}

/// Waits a second when less than half of this second's calls are left (the rest are the event
/// path's); stops the shop's polls while less than a tenth of the day's calls is left.
pub(crate) fn pace(reply: &Reply) -> Pace {
    let second = header_number(reply, "x-remaining-this-second");
    let today = header_number(reply, "x-remaining-today");
    let per_day = header_number(reply, "x-limit-per-day");
    if let (Some(today), Some(per_day)) = (today, per_day)
        && today < per_day / 10.0
    {
        return (
            Duration::ZERO,
            Some(format!(
                "Etsy has {today} of the app's {per_day} calls a day left, kept for the event \
                 path"
            )),
        );
    }
    let per_second = header_number(reply, "x-limit-per-second").unwrap_or(0.0);
    let wait = if second.is_some_and(|left| left < 1.0 || left * 2.0 < per_second) {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    (wait, None)
}

#[cfg(test)]
mod tests {
    use crate::poll::client::reply_with;
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn the_window_is_asked_for_in_unix_seconds_oldest_change_first() {
        let window = Window {
            from: datetime!(2026-11-19 10:00:00.250 UTC),
            to: datetime!(2026-11-19 10:05:30.900 UTC),
        };
        assert_eq!(
            receipts_path("31415926", &window, 200),
            "/v3/application/shops/31415926/receipts?min_last_modified=1795082400\
             &max_last_modified=1795082730&limit=100&offset=200&sort_on=updated&sort_order=asc"
        );
        let ancient = Window {
            from: datetime!(1990-01-01 0:00 UTC),
            to: datetime!(2000-06-01 0:00 UTC),
        };
        assert!(receipts_path("1", &ancient, 0).contains("min_last_modified=946684800&"));
    }

    #[test]
    fn a_receipt_listing_refunds_is_a_refund_event_versioned_by_its_last_change() {
        let refunded = json!({"receipt_id": 2891034567u64, "updated_timestamp": 1795403400,
                              "refunds": [{"amount": {"amount": 100, "divisor": 100}}]});
        let listed = found(&refunded).unwrap();
        assert_eq!(listed.kind, EventKind::Refund);
        assert_eq!(
            (
                listed.id.as_str(),
                listed.version.as_str(),
                listed.topic.as_str()
            ),
            ("2891034567", "1795403400", TOPIC)
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&listed.body).unwrap(),
            refunded
        );

        let paid = json!({"receipt_id": 7, "update_timestamp": 5, "refunds": []});
        let listed = found(&paid).unwrap();
        assert_eq!(
            (listed.kind, listed.version.as_str()),
            (EventKind::Order, "5")
        );

        let err = found(&json!({"receipt_id": 7})).unwrap_err();
        assert!(err.to_string().contains("no updated_timestamp"), "{err}");
    }

    #[test]
    fn etsy_is_left_half_of_each_second_and_a_tenth_of_the_day() {
        let day = [("x-limit-per-day", "10000"), ("x-remaining-today", "9000")];
        let at = |left: &'static str| {
            let mut headers = vec![
                ("x-limit-per-second", "10"),
                ("x-remaining-this-second", left),
            ];
            headers.extend(day);
            pace(&reply_with(&headers))
        };
        assert_eq!(at("5"), (Duration::ZERO, None));
        assert_eq!(at("4"), (Duration::from_secs(1), None));
        assert_eq!(
            pace(&reply_with(&[("x-remaining-this-second", "0")])),
            (Duration::from_secs(1), None)
        );
        let spent = pace(&reply_with(&[
            ("x-limit-per-day", "10000"),
            ("x-remaining-today", "999"),
        ]));
        assert!(
            spent
                .1
                .is_some_and(|why| why.contains("999 of the app's 10000"))
        );
    }
}
