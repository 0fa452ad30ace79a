//! WooCommerce's list for the poller: `GET /wp-json/wc/v3/orders` (REST API v3, "List all
//! orders"; the filters are `WC_REST_CRUD_Controller::get_collection_params` and
//! `prepare_objects_query` in WooCommerce's source):
//! - `modified_after` / `modified_before` become a `WP_Date_Query` on
//!   `post_modified_gmt` when `dates_are_gmt=true`; both bounds are exclusive (WordPress's
//!   `after`/`before` compare with `>`/`<` unless told `inclusive`), so the poller asks from a
//!   second before the window's start. The dates are sent without an offset, as the GMT wall
//!   time the column holds.
//! - `status` defaults to `any` for orders; `orderby=modified&order=asc` (WooCommerce adds the
//!   id to the sort, for stable pages); `per_page` is at most 100 (more is refused 400
//!   `rest_invalid_param`); pages are numbered, with `X-WP-Total` and `X-WP-TotalPages`.
//! - An empty window is `[]` with `X-WP-TotalPages: 0`.
//! - WooCommerce's REST API sets no rate limit of its own (hosts may answer 429).
//!
//! A refund is saved with its order (`wc_create_refund` saves the order, which moves its
//! `date_modified`; the `order.updated` webhook fires from that save), and the order lists it in
//! `refunds[]` (id, reason, total). An order that lists refunds is published twice: as the
//! order (an `Order` event, version its `date_modified_gmt`), and as the refund event the
//! ingress makes of such an `order.updated` (a `Refund` event with the same body, whose
//! `work_for` fetches `/orders/{id}/refunds`), versioned by its refund ids, so it is looked at
//! again only when a refund is added.
//!
//! UNSURE: that every refund moves the order's `date_modified` on every store (a plugin that
//! creates refunds without saving the order would not); such a refund is still found when
//! anything else later saves the order. With HPOS (custom order tables) the same filters go
//! through the order data store's query on `date_updated_gmt`; not checked against a store.

use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use crate::platforms::api::Auth;
use crate::poll::{Found, Listed, Lister, PollError, Window, rfc3339};

/// Orders per page: WooCommerce's maximum.
pub const PAGE_SIZE: usize = 100;
/// The topic the ingress gives WooCommerce's order webhooks that the poller stands in for.
const TOPIC: &str = "order.updated";

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    let page: u32 = match page {
        Some(token) => token.parse().map_err(|_| {
            PollError::Unreadable(format!("{token:?} is not a WooCommerce page number"))
        })?,
        None => 1,
    };
    let path = format!(
        "/wp-json/wc/v3/orders?status=any&dates_are_gmt=true&orderby=modified&order=asc\
         &per_page={PAGE_SIZE}&page={page}&modified_after={}&modified_before={}",
        gmt(window.from - time::Duration::seconds(1)),
        gmt(window.to),
    );
    let reply = lister
        .client
        .get(Platform::WooCommerce, lister.api, Auth::Basic, &path)
        .await?;
    let orders = match &reply.body {
        Value::Array(orders) => orders.as_slice(),
        Value::Null => &[],
        _ => {
            return Err(PollError::Unreadable(format!(
                "WooCommerce's answer to {path} is not a list of orders"
            )));
        }
    };
    let mut found = Vec::new();
    for order in orders {
        found.extend(found_in(order)?);
    }
    let pages = reply
        .header("X-WP-TotalPages")
        .and_then(|pages| pages.trim().parse::<u32>().ok());
    let more = match pages {
        Some(pages) => page < pages,
        // Without the header (a proxy dropped it), a full page may have more behind it.
        None => orders.len() >= PAGE_SIZE,
    };
    Ok(Listed {
        found,
        next: more.then(|| (page + 1).to_string()),
    })
}

/// The events one listed order stands for: the order, and its refunds when it lists any.
fn found_in(order: &Value) -> Result<Vec<Found>, PollError> {
    let id = match &order["id"] {
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(PollError::Unreadable(
                "a WooCommerce order in the orders list has no id".to_owned(),
            ));
        }
    };
    let body = serde_json::to_vec(order).expect("JSON values serialise");
    let modified = order["date_modified_gmt"]
        .as_str()
        .or_else(|| order["date_modified"].as_str())
        .unwrap_or_default();
    let mut found = vec![Found {
        kind: EventKind::Order,
        topic: TOPIC.to_owned(),
        body: body.clone(),
        id: id.clone(),
        version: modified.to_owned(),
    }];
    let mut refunds: Vec<String> = order["refunds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|refund| refund["id"].to_string().trim_matches('"').to_owned())
        .collect();
    if !refunds.is_empty() {
        refunds.sort();
        found.push(Found {
            kind: EventKind::Refund,
            topic: TOPIC.to_owned(),
            body,
            id,
            version: format!("refunds-{}", refunds.join("-")),
        });
    }
    Ok(found)
}

/// `YYYY-MM-DDTHH:MM:SS`, the GMT wall time `dates_are_gmt` compares with.
fn gmt(at: OffsetDateTime) -> String {
    rfc3339(at).trim_end_matches('Z').to_owned()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_order_listing_refunds_is_an_order_and_a_refund_versioned_by_its_refund_ids() {
        let order = json!({"id": 4417, "date_modified_gmt": "2026-11-24T20:12:04",
                           "refunds": [{"id": 4432}, {"id": 4431}]});
        let found = found_in(&order).unwrap();
        let events: Vec<_> = found
            .iter()
            .map(|f| (f.kind, f.id.as_str(), f.version.as_str()))
            .collect();
        assert_eq!(
            events,
            [
                (EventKind::Order, "4417", "2026-11-24T20:12:04"),
                (EventKind::Refund, "4417", "refunds-4431-4432"),
            ]
        );
        assert_eq!(found[1].body, found[0].body);
        let plain = json!({"id": 4418, "date_modified_gmt": "2026-11-24T20:12:04", "refunds": []});
        assert_eq!(found_in(&plain).unwrap().len(), 1);
    }

    #[test]
    fn the_filters_are_gmt_wall_times() {
        let at = time::macros::datetime!(2026-12-07 05:58:03 +13:00);
        assert_eq!(gmt(at), "2026-12-06T16:58:03");
    }
}
