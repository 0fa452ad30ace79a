//! WooCommerce: whole order webhooks; refunds are fetched from the store's REST API, since the
//! order lists their ids only.

pub mod normalise;
pub(crate) mod poll;
pub(crate) mod sample;
pub mod webhooks;

use xcs_shared::EventKind;
use xcs_shared::domain::Normalised;

use super::api::Auth;
use super::{Event, id_at, json};
use crate::booking::Work;
use crate::config::InventoryMode;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    Ok(match event.envelope.kind {
        EventKind::Order => normalise::order(event.body)?.into(),
        EventKind::Refund => {
            let order_id = id_at(
                &json(event.body, "the WooCommerce order")?,
                "/id",
                "the WooCommerce order",
            )?;
            let api = event.api("WooCommerce refunds are fetched from the store's REST API")?;
            let refunds = event
                .get(
                    api,
                    Auth::Basic,
                    &format!("/wp-json/wc/v3/orders/{order_id}/refunds"),
                )
                .await?;
            let order = match normalise::order(event.body)? {
                Normalised::Order(order) => Some(order),
                _ => None,
            };
            Work::Refunds {
                order,
                refunds: normalise::refunds(event.body, &refunds)?,
            }
        }
        EventKind::Payout => return Err(super::payout_elsewhere()),
        EventKind::Inventory => {
            let changes = normalise::stock(event.body)?;
            if event.shop.inventory != InventoryMode::Tracked {
                return Ok(Work::Stock(changes));
            }
            // The body carries the SKU and the cost (where the store keeps one): nothing to
            // fetch.
            let (with_sku, without): (Vec<_>, Vec<_>) =
                changes.into_iter().partition(|c| c.sku.is_some());
            if with_sku.is_empty()
                && let Some(change) = without.first()
            {
                return Ok(Work::Nothing(format!(
                    "WooCommerce product {} has no SKU, so it names no Xero item: its stock \
                     level is not tracked in Xero; give the product a SKU to track it",
                    change.item_id
                )));
            }
            Work::Stock(with_sku)
        }
    })
}

/// WooCommerce REST API v3, one order (`GET /wp-json/wc/v3/orders?per_page=1`): the resource
/// the processor reads, with the consumer key's read permission.
pub(crate) fn api_probe() -> (Auth, String) {
    (Auth::Basic, "/wp-json/wc/v3/orders?per_page=1".to_owned())
}
