//! eBay: notifications carry the order id only; the order is fetched from the Fulfillment API
//! (bearer token). The poller's orders come whole (`poll/order`, see [`poll`]) and are not
//! fetched again.

pub mod normalise;
pub mod payouts;
pub(crate) mod poll;
pub(crate) mod stock;
pub mod webhooks;

use xcs_shared::{EventKind, Platform};

use super::api::Auth;
use super::{Event, id_at, json};
use crate::booking::Work;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    if event.envelope.topic == poll::TOPIC {
        return Ok(normalise::order(event.body)?.into());
    }
    // eBay has no inventory notifications: every stock event is one the poller read.
    if event.envelope.kind == EventKind::Inventory {
        return crate::poll::stock::work(Platform::Ebay, event.body);
    }
    let notification = json(event.body, "the eBay notification")?;
    let order_id = id_at(
        &notification,
        "/notification/data/orderId",
        "the eBay notification",
    )?;
    let api = event.api("eBay notifications carry the order id only")?;
    let order = event
        .get(
            api,
            Auth::Bearer,
            &format!("/sell/fulfillment/v1/order/{order_id}"),
        )
        .await?;
    Ok(normalise::order(&order)?.into())
}

/// eBay Fulfillment API, one order (`GET /sell/fulfillment/v1/order?limit=1`): the resource the
/// processor reads, with the token's `sell.fulfillment` scope.
pub(crate) fn api_probe() -> (Auth, String) {
    (
        Auth::Bearer,
        "/sell/fulfillment/v1/order?limit=1".to_owned(),
    )
}
