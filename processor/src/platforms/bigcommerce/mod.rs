//! BigCommerce: webhooks carry ids only; orders, their products and refunds are fetched from
//! the store's API (`X-Auth-Token`).

pub mod normalise;
pub(crate) mod poll;
pub mod webhooks;

use serde_json::Value;
use xcs_shared::{EventKind, Source};

use super::api::{Auth, PlatformApi};
use super::{Event, id_at, json};
use crate::booking::Work;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    if event.envelope.kind == EventKind::Inventory {
        return Ok(Work::Stock(normalise::stock(event.body)?));
    }
    let webhook = json(event.body, "the BigCommerce webhook")?;
    let order_id = id_at(&webhook, "/data/id", "the BigCommerce webhook")?;
    let api = event.api("BigCommerce webhooks carry ids only")?;
    // What the poller listed; a webhook never carries it, and one that did would not be
    // believed.
    let listed = Some(&webhook[poll::LISTED])
        .filter(|listed| listed.is_object() && event.envelope.source != Source::Webhook)
        .map(|listed| serde_json::to_vec(listed).expect("JSON values serialise"));
    if event.envelope.kind == EventKind::Refund {
        let refund = match listed {
            Some(refund) => refund,
            None => fetch_refund(event, api, &webhook, &order_id).await?,
        };
        let context = event.order_context(&order_id).await?;
        return Ok(Work::Refunds {
            order: None,
            refunds: vec![normalise::refund(&refund, &context)?],
        });
    }
    let order = match listed {
        Some(order) => order,
        None => {
            event
                .get(api, Auth::AuthToken, &format!("/v2/orders/{order_id}"))
                .await?
        }
    };
    let products = event
        .get(
            api,
            Auth::AuthToken,
            &format!("/v2/orders/{order_id}/products"),
        )
        .await?;
    Ok(normalise::order(&order, &products)?.into())
}

/// The refund a refund webhook names, from the order's refunds.
async fn fetch_refund(
    event: &Event<'_>,
    api: &PlatformApi,
    webhook: &Value,
    order_id: &str,
) -> Result<Vec<u8>, ProcessError> {
    let refunds = event
        .get(
            api,
            Auth::AuthToken,
            &format!("/v3/orders/{order_id}/payment_actions/refunds"),
        )
        .await?;
    let refund_id = id_at(
        webhook,
        "/data/refund/refund_id",
        "the BigCommerce refund webhook",
    )?;
    let refunds: Value = json(&refunds, "the BigCommerce refunds")?;
    let refund = refunds["data"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["id"].to_string().trim_matches('"') == refund_id)
        .ok_or_else(|| {
            ProcessError::Hydration(format!(
                "BigCommerce does not list refund {refund_id} of order {order_id} yet"
            ))
        })?;
    Ok(serde_json::to_vec(refund).expect("JSON values serialise"))
}

/// BigCommerce's Store Information (`GET /v2/store`): any API account of the store may read it.
pub(crate) fn api_probe() -> (Auth, String) {
    (Auth::AuthToken, "/v2/store".to_owned())
}
