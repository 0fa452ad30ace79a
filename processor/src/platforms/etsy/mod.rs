//! Etsy: webhooks carry the receipt URL only; the receipt (with its transactions and refunds) is
//! fetched from the Open API v3 (bearer token and `x-api-key`). The poller's receipts come
//! whole (`poll/receipt`, see [`poll`]) and are not fetched again.

pub mod normalise;
pub mod payouts;
pub(crate) mod poll;
pub(crate) mod stock;
pub mod webhooks;

use xcs_shared::{EventKind, Platform};

use super::api::Auth;
use super::{Event, json};
use crate::booking::Work;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    if event.envelope.topic == poll::TOPIC {
        return Ok(normalise::receipt(event.body)?.into());
    }
    // Etsy sends no stock webhooks: every stock event is one the poller read.
    if event.envelope.kind == EventKind::Inventory {
        return crate::poll::stock::work(Platform::Etsy, event.body);
    }
    let webhook = json(event.body, "the Etsy webhook")?;
    let url = webhook["resource_url"].as_str().unwrap_or_default();
    let path = url
        .find("/v3/application/")
        .map(|at| &url[at..])
        .filter(|path| path.contains("/receipts/"))
        .ok_or_else(|| {
            ProcessError::Unparseable(format!(
                "the Etsy webhook's resource_url {url:?} is not a receipt URL"
            ))
        })?;
    let api = event.api("Etsy webhooks carry the receipt URL only")?;
    let receipt = event.get(api, Auth::BearerAndApiKey, path).await?;
    Ok(normalise::receipt(&receipt)?.into())
}

/// Etsy Open API v3's ping (`GET /v3/application/openapi-ping`): checks the app's key.
pub(crate) fn api_probe() -> (Auth, String) {
    (
        Auth::BearerAndApiKey,
        "/v3/application/openapi-ping".to_owned(),
    )
}
