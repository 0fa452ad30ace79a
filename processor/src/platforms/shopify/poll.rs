//! Shopify's list for the poller: `GET /admin/api/{version}/orders.json` with `status=any`
//! (Shopify lists only open orders otherwise), `updated_at_min` and `updated_at_max`
//! (inclusive, ISO 8601), `limit=250` (the most Shopify allows) and `order=updated_at asc`.
//! Further pages come by cursor: the `Link` header's `rel="next"` URL, whose `page_info` may
//! not be combined with the filters (Shopify's "Make paginated requests to the REST Admin
//! API"); the poller follows it as it is.
//!
//! An order lists its refunds (`refunds[]`, each the Refund resource that `refunds/create`
//! delivers, with `order_id`): the order is published as `orders/updated` and each refund as
//! `refunds/create`, after its order, so the normal path books both. A refund's version is
//! its `created_at` (Shopify refunds do not change once made).

use serde_json::Value;
use xcs_shared::{EventKind, Platform};

use crate::platforms::api::{Auth, Reply};
use crate::poll::client::{Pace, seconds};
use crate::poll::{Found, Listed, Lister, PollError, Window, rfc3339};

/// Orders per page: Shopify's maximum.
pub const PAGE_SIZE: usize = 250;

pub(crate) async fn list(
    lister: &Lister<'_>,
    window: &Window,
    page: Option<&str>,
) -> Result<Listed, PollError> {
    let path = match page {
        Some(next) => next.to_owned(),
        None => format!(
            "/admin/api/{}/orders.json?status=any&limit={PAGE_SIZE}&order=updated_at%20asc\
             &updated_at_min={}&updated_at_max={}",
            lister.api.shopify_api_version(),
            rfc3339(window.from),
            rfc3339(window.to),
        ),
    };
    let reply = lister
        .client
        .get(
            Platform::Shopify,
            lister.api,
            Auth::ShopifyAccessToken,
            &path,
        )
        .await?;
    let orders = reply.body["orders"].as_array().ok_or_else(|| {
        PollError::Unreadable(format!("Shopify's answer to {path} has no `orders` list"))
    })?;
    let mut found = Vec::new();
    for order in orders {
        let id = id_of(order, "order")?;
        found.push(Found {
            kind: EventKind::Order,
            topic: "orders/updated".to_owned(),
            body: serde_json::to_vec(order).expect("JSON values serialise"),
            version: order["updated_at"].as_str().unwrap_or_default().to_owned(),
            id,
        });
        for refund in order["refunds"].as_array().into_iter().flatten() {
            let mut refund = refund.clone();
            if refund.get("order_id").is_none()
                && let Some(fields) = refund.as_object_mut()
            {
                fields.insert("order_id".to_owned(), order["id"].clone());
            }
            found.push(Found {
                kind: EventKind::Refund,
                topic: "refunds/create".to_owned(),
                version: refund["created_at"].as_str().unwrap_or_default().to_owned(),
                id: id_of(&refund, "refund")?,
                body: serde_json::to_vec(&refund).expect("JSON values serialise"),
            });
        }
    }
    let next = reply
        .header("link")
        .and_then(next_link)
        .map(|url| relative(&url, &lister.api.base_url));
    Ok(Listed { found, next })
}

fn id_of(value: &Value, what: &str) -> Result<String, PollError> {
    match &value["id"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(PollError::Unreadable(format!(
            "a Shopify {what} in the orders list has no id"
        ))),
    }
}

/// The `rel="next"` URL of a `Link` header (RFC 8288).
pub(super) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (url, params) = link.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().trim_start_matches("rel=").trim_matches('"') == "next")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// The path of `url` below the shop's API base URL (the client prefixes the base again).
pub(super) fn relative(url: &str, base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    url.strip_prefix(base).map_or_else(
        || {
            // Another host form (http vs https, a proxy): keep the path and query.
            url.find("://")
                .and_then(|scheme| url[scheme + 3..].find('/').map(|at| scheme + 3 + at))
                .map_or_else(|| url.to_owned(), |at| url[at..].to_owned())
        },
        str::to_owned,
    )
}

/// Keeps the bucket (`X-Shopify-Shop-Api-Call-Limit: used/size`, draining 2 calls a second on
/// standard plans) at most half full: half a second per call over half.
pub(crate) fn pace(reply: &Reply) -> Pace {
    let limit = reply.header("X-Shopify-Shop-Api-Call-Limit").and_then(|v| {
        let (used, size) = v.split_once('/')?;
        Some((
            used.trim().parse::<f64>().ok()?,
            size.trim().parse::<f64>().ok()?,
        ))
    });
    let wait = limit.map_or(0.0, |(used, size)| (used - size / 2.0) / 2.0);
    (seconds(wait), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_page_is_read_from_the_link_header() {
        let header = "<https://acme.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=abc>; rel=\"previous\", <https://acme.myshopify.com/admin/api/2026-10/orders.json?limit=250&page_info=def>; rel=\"next\"";
        let next = next_link(header).unwrap();
        assert_eq!(
            relative(&next, "https://acme.myshopify.com"),
            "/admin/api/2026-10/orders.json?limit=250&page_info=def"
        );
        assert_eq!(
            next_link("<https://x/a?page_info=abc>; rel=\"previous\""),
            None
        );
    }
}
