//! Everything the processor knows of each platform, one folder each: how its events become
//! work (`work_for`, the one table), its API client for what thin webhooks leave out, and
//! its normaliser into `xcs_shared::domain`. Underneath, the shared building blocks: the
//! platform HTTP client ([`api`]) and the JSON reading and checks of [`crate::normalise`].
//!
//! Adding a platform: a folder here with `mod.rs` (`work_for`) and `normalise.rs`, and one arm
//! in `work_for`.

pub mod api;
pub mod bigcommerce;
pub mod ebay;
pub mod etsy;
pub mod magento;
pub(crate) mod sample;
pub mod shopify;
pub mod woocommerce;

use serde_json::Value;
use xcs_shared::{Envelope, Platform};

use crate::booking::Work;
use crate::config::ShopConfig;
use crate::error::ProcessError;
use crate::ledger::Ledger;
use crate::normalise::OrderContext;
use api::{Auth, Fetcher, PlatformApi};

/// One event, with what a platform's code needs to turn it into work.
pub(crate) struct Event<'a> {
    pub envelope: &'a Envelope,
    pub shop: &'a ShopConfig,
    pub body: &'a [u8],
    pub ledger: &'a Ledger,
    pub fetcher: &'a Fetcher,
}

/// The work an event asks for, read by its platform's rules (before the cleaning and
/// plausibility checks every platform's documents get, in `crate::dispatch`).
pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    // One body on every platform: the poller's levels (Etsy, eBay) and the comparisons
    // `reconcile --stock --fix` requests of any tracked shop (`crate::poll::stock::work_for`).
    // Only our own publishers send it: a webhook claiming its topic is read as its platform's.
    if event.envelope.topic == crate::poll::stock::TOPIC
        && event.envelope.source != xcs_shared::Source::Webhook
    {
        return crate::poll::stock::work_for(event).await;
    }
    // Payouts come from the poller only: no platform sends one by webhook.
    if event.envelope.kind == xcs_shared::EventKind::Payout {
        return crate::payouts::work_for(event);
    }
    match event.envelope.platform {
        Platform::Shopify => shopify::work_for(event).await,
        Platform::WooCommerce => woocommerce::work_for(event).await,
        Platform::BigCommerce => bigcommerce::work_for(event).await,
        Platform::Magento => magento::work_for(event).await,
        Platform::Etsy => etsy::work_for(event).await,
        Platform::Ebay => ebay::work_for(event).await,
    }
}

/// A payout event that reached a platform's own reading: [`work_for`] sends them all to
/// `crate::payouts` first, so this is a fault of ours.
fn payout_elsewhere() -> ProcessError {
    ProcessError::Internal("a payout event reached a platform's webhook reading".into())
}

/// One page of what `platform`'s API lists as changed in `window`: orders and refunds, as
/// events its `work_for` reads (see [`crate::poll`]). `page` is `None` for the first page,
/// else the token the previous page gave.
pub(crate) async fn list_changed(
    platform: Platform,
    lister: &crate::poll::Lister<'_>,
    window: &crate::poll::Window,
    page: Option<&str>,
) -> Result<crate::poll::Listed, crate::poll::PollError> {
    match platform {
        Platform::Shopify => shopify::poll::list(lister, window, page).await,
        Platform::WooCommerce => woocommerce::poll::list(lister, window, page).await,
        Platform::BigCommerce => bigcommerce::poll::list(lister, window, page).await,
        Platform::Magento => magento::poll::list(lister, window, page).await,
        Platform::Etsy => etsy::poll::list(lister, window, page).await,
        Platform::Ebay => ebay::poll::list(lister, window, page).await,
    }
}

/// How the poller paces its next call to `platform`'s API, from this answer's rate-limit
/// headers (WooCommerce, Adobe Commerce and eBay send none it can read: the poller's minimum
/// gap and 429s pace those).
pub(crate) fn poll_pace(platform: Platform, reply: &api::Reply) -> crate::poll::client::Pace {
    match platform {
        Platform::Shopify => shopify::poll::pace(reply),
        Platform::BigCommerce => bigcommerce::poll::pace(reply),
        Platform::Etsy => etsy::poll::pace(reply),
        Platform::WooCommerce | Platform::Magento | Platform::Ebay => {
            (std::time::Duration::ZERO, None)
        }
    }
}

/// A cheap GET that answers 2xx exactly when a shop's `api` settings (base URL, version,
/// credentials) reach the platform's API: what `check` asks, and what tells a 404 caused by the
/// settings from a resource that does not exist.
pub(crate) fn api_probe(platform: Platform, api: &PlatformApi) -> (Auth, String) {
    match platform {
        Platform::Shopify => shopify::api_probe(api),
        Platform::WooCommerce => woocommerce::api_probe(),
        Platform::BigCommerce => bigcommerce::api_probe(),
        Platform::Magento => magento::api_probe(),
        Platform::Etsy => etsy::api_probe(),
        Platform::Ebay => ebay::api_probe(),
    }
}

impl Event<'_> {
    /// The shop's platform API, which this event needs for `why`.
    fn api(&self, why: &str) -> Result<&PlatformApi, ProcessError> {
        self.shop
            .api
            .as_ref()
            .ok_or_else(|| ProcessError::NoPlatformApi(why.to_owned()))
    }

    /// `path` from the shop's platform API, as JSON bytes for a normaliser.
    async fn get(
        &self,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Vec<u8>, ProcessError> {
        let value = self
            .fetcher
            .get(self.envelope.platform, api, auth, path)
            .await?;
        Ok(serde_json::to_vec(&value).expect("JSON values serialise"))
    }

    /// The booked order a refund belongs to; retryable while it is not booked yet.
    async fn order_context(&self, order_id: &str) -> Result<OrderContext, ProcessError> {
        // Summary mode: the order is found in its period's summary (crate::summary).
        let invoice = self
            .ledger
            .order_for_refund(&self.envelope.shop, order_id)
            .await?
            .ok_or_else(|| ProcessError::OrderNotBooked {
                order: order_id.to_owned(),
                order_id: order_id.to_owned(),
            })?;
        Ok(OrderContext {
            number: invoice.order_number,
            currency: xcs_shared::domain::Currency::try_from(invoice.currency)
                .map_err(|err| ProcessError::Ledger(err.to_string()))?,
            tax_mode: invoice.tax_mode,
        })
    }
}

fn json(body: &[u8], what: &str) -> Result<Value, ProcessError> {
    serde_json::from_slice(body)
        .map_err(|err| ProcessError::Unparseable(format!("{what} is not JSON: {err}")))
}

/// A field of a JSON document as a string, whether the platform sent a string or a number.
fn id_at(value: &Value, pointer: &str, what: &str) -> Result<String, ProcessError> {
    match value.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ProcessError::Unparseable(format!(
            "{what} has no {pointer}"
        ))),
    }
}
