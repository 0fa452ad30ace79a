//! Adobe Commerce (Magento 2): Adobe I/O Events carry the order, invoice, credit memo or stock
//! item, but only the fields the merchant subscribed; what an event lacks is fetched from the
//! store's REST API (`[shops.NAME.api]`: `base_url` the store's URL, `token` an integration's
//! access token, sent as `Authorization: Bearer`).
//!
//! - **Order events** are booked from the event; one that lacks a field the booking needs is
//!   booked from `GET /rest/V1/orders/{entity_id}` instead.
//! - **Invoice events** are captures of their order (see [`normalise`]): one that captured
//!   nothing (cancelled; open, of a booked order) or whose order's invoice the ledger has paid
//!   in full books nothing, and says why. Otherwise the order as it stands is fetched
//!   (`GET /rest/V1/orders/{order_id}`, after `GET /rest/V1/invoices/{entity_id}` when the event
//!   lacks `order_id`) and booked like an order event: its invoice if it is not booked yet, and
//!   what Magento has captured so far paid on it by difference, so a part already paid, or an
//!   echo of an order event, pays nothing. Without an API the order's own events are the only
//!   source of its lines and payments (Magento saves the order, with `total_paid`, at every
//!   capture): an invoice of a booked order books nothing, and one of an order not booked yet
//!   waits for it like a refund does (it usually arrives just before its order's event).
//! - **Credit memo events** are credited against the booked order; one that lacks its
//!   `order_id` or a field the credit note needs is read from `GET
//!   /rest/V1/creditmemo/{entity_id}` instead.
//!
//! A shop without an `api` section gets a permanent `platform_api_missing` naming what to
//! subscribe or configure when an event lacks what only the API could give.

pub mod normalise;
pub(crate) mod poll;
pub mod webhooks;

use std::borrow::Cow;

use rust_decimal::Decimal;
use xcs_shared::EventKind;
use xcs_shared::domain::StockChange;

use super::Event;
use super::api::{Auth, PlatformApi};
use crate::booking::Work;
use crate::config::InventoryMode;
use crate::error::ProcessError;
use crate::ledger::DocumentRow;
use crate::normalise::NormaliseError;
use normalise::{Ids, Subject};

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    match event.envelope.kind {
        EventKind::Order => match normalise::subject(event.body)? {
            Subject::Order(ids) => order(event, &ids).await,
            Subject::Invoice(ids) => invoice(event, ids).await,
        },
        EventKind::Refund => credit_memo(event).await,
        EventKind::Inventory => stock(event, normalise::stock(event.body)?).await,
        EventKind::Payout => Err(super::payout_elsewhere()),
    }
}

async fn order(event: &Event<'_>, ids: &Ids) -> Result<Work, ProcessError> {
    match normalise::order(event.body) {
        Err(missing @ NormaliseError::Missing { .. }) => {
            let Some(id) = ids.entity_id.as_deref() else {
                return Err(missing.into());
            };
            let path = resource_path("orders", "order", id)?;
            let api = api_for(event, &missing, &path)?;
            let order = fetch(event, api, &path).await?;
            Ok(normalise::order(&order)?.into())
        }
        normalised => Ok(normalised?.into()),
    }
}

async fn invoice(event: &Event<'_>, ids: Ids) -> Result<Work, ProcessError> {
    let shop = &event.envelope.shop;
    let label = ids.entity_id.clone().unwrap_or_else(|| "?".to_owned());
    if ids.invoice_cancelled() {
        return Ok(cancelled(&label));
    }
    let ids = match ids.order_id {
        Some(_) => ids,
        None => {
            let id = ids.entity_id.as_deref().ok_or_else(|| {
                ProcessError::Unparseable(format!(
                    "Adobe Commerce shop {shop}: an invoice event names neither its invoice \
                     (entity_id) nor its order (order_id); subscribe both for \
                     observer.sales_order_invoice_save_after"
                ))
            })?;
            let path = resource_path("invoices", "invoice", id)?;
            let api = event.api(&format!(
                "Adobe Commerce shop {shop}: invoice {id}'s event lacks `order_id`; subscribe it \
                 for observer.sales_order_invoice_save_after, or configure \
                 [shops.{shop}.api] (base_url = the store's URL, token = an integration access \
                 token) to fetch GET {path}"
            ))?;
            let fetched = normalise::ids(&fetch(event, api, &path).await?)?;
            if fetched.invoice_cancelled() {
                return Ok(cancelled(&label));
            }
            fetched
        }
    };
    let order_id = ids.order_id.clone().ok_or_else(|| {
        ProcessError::Unparseable(format!(
            "Adobe Commerce invoice {label} names no order_id, not even as the REST API answers it"
        ))
    })?;

    // The order's invoice, or in summary mode its entry in a period's summary (which a fetched
    // order updates, and which is never "paid in full" here).
    if let Some(booked) = event.ledger.order_for_refund(shop, &order_id).await? {
        let number = &booked.order_number;
        if ids.invoice_open() {
            return Ok(Work::Nothing(format!(
                "Adobe Commerce invoice {label} of order {number} is open: it captured nothing \
                 yet, and the order is booked; its payment is booked when the invoice is paid"
            )));
        }
        if paid_in_full(event, &booked).await? {
            return Ok(Work::Nothing(format!(
                "Adobe Commerce invoice {label} of order {number}: invoice {} is booked and \
                 paid in full ({}); nothing more to book",
                booked.number, booked.total
            )));
        }
        if event.shop.api.is_none() {
            return Ok(Work::Nothing(format!(
                "Adobe Commerce invoice {label} of order {number}: the order is booked; without \
                 [shops.{shop}.api] its payments are booked from the order's own events \
                 (total_paid), which Magento sends at every capture"
            )));
        }
    }
    let path = resource_path("orders", "order", &order_id)?;
    let Some(api) = event.shop.api.as_ref() else {
        // Most often its order's event is a moment behind (Magento saves the invoice first);
        // if that never comes, the shop needs the API or the order events.
        return Err(ProcessError::OrderNotBooked {
            order: order_id.clone(),
            order_id,
        });
    };
    let order = fetch(event, api, &path).await?;
    Ok(normalise::order(&order)?.into())
}

fn cancelled(invoice: &str) -> Work {
    Work::Nothing(format!(
        "Adobe Commerce invoice {invoice} is cancelled: it captured nothing"
    ))
}

/// Whether the ledger has paid the order's invoice in full, so that no capture can add to it.
/// An order in summary mode has no invoice of its own, so it is never paid in full here.
async fn paid_in_full(event: &Event<'_>, booked: &DocumentRow) -> Result<bool, ProcessError> {
    if booked.xero_id.is_empty() {
        return Ok(false);
    }
    // The ledger's key of an invoice, as booking records it (`booking::invoice_key`).
    let key = format!("invoice:{}", booked.number);
    let paid: Decimal = event
        .ledger
        .paid_into(&event.envelope.tenant, &key)
        .await?
        .values()
        .sum();
    Ok(paid >= booked.total)
}

async fn credit_memo(event: &Event<'_>) -> Result<Work, ProcessError> {
    let ids = normalise::ids(event.body)?;
    let shop = &event.envelope.shop;
    let path = match ids.entity_id.as_deref() {
        Some(id) => Some(resource_path("creditmemo", "credit memo", id)?),
        None => None,
    };
    let mut memo = Cow::Borrowed(event.body);
    let order_id = match &ids.order_id {
        Some(id) => id.clone(),
        None => {
            let path = path.as_deref().ok_or_else(|| {
                ProcessError::Unparseable(format!(
                    "Adobe Commerce shop {shop}: a credit memo event names neither its memo \
                     (entity_id) nor its order (order_id); subscribe both for \
                     observer.sales_order_creditmemo_save_after"
                ))
            })?;
            let api = event.api(&format!(
                "Adobe Commerce shop {shop}: a credit memo event lacks `order_id`; subscribe it \
                 for observer.sales_order_creditmemo_save_after, or configure \
                 [shops.{shop}.api] (base_url = the store's URL, token = an integration access \
                 token) to fetch GET {path}"
            ))?;
            memo = Cow::Owned(fetch(event, api, path).await?);
            normalise::ids(&memo)?.order_id.ok_or_else(|| {
                ProcessError::Unparseable(format!(
                    "Adobe Commerce's answer to {path} has no order_id"
                ))
            })?
        }
    };
    let context = event.order_context(&order_id).await?;
    let refund = match (normalise::refund(&memo, &context), &memo, path) {
        (Err(missing @ NormaliseError::Missing { .. }), Cow::Borrowed(_), Some(path)) => {
            let api = api_for(event, &missing, &path)?;
            normalise::refund(&fetch(event, api, &path).await?, &context)?
        }
        (refund, ..) => refund?,
    };
    Ok(Work::Refunds {
        order: None,
        refunds: vec![refund],
    })
}

/// A stock event's work; in tracked mode with the product's `cost` attribute where the shop
/// has the API (without it Xero's average cost values what an adjustment adds), read once an
/// hour at most per product and kept in the ledger meanwhile.
async fn stock(event: &Event<'_>, changes: Vec<StockChange>) -> Result<Work, ProcessError> {
    if event.shop.inventory != InventoryMode::Tracked {
        return Ok(Work::Stock(changes));
    }
    let (mut with_sku, without): (Vec<_>, Vec<_>) =
        changes.into_iter().partition(|c| c.sku.is_some());
    if with_sku.is_empty()
        && let Some(change) = without.first()
    {
        let shop = &event.envelope.shop;
        return Ok(Work::Nothing(format!(
            "Adobe Commerce stock item of product {} names no SKU, so no Xero item: its level \
             is not tracked in Xero; subscribe `sku` for \
             observer.cataloginventory_stock_item_save_commit_after (shop {shop})",
            change.item_id
        )));
    }
    let Some(api) = event.shop.api.as_ref() else {
        return Ok(Work::Stock(with_sku));
    };
    for change in &mut with_sku {
        let sku = change.sku.clone().unwrap_or_default();
        let known = event
            .ledger
            .stock_item(&event.envelope.shop, &change.item_id)
            .await?;
        change.unit_cost = match known.filter(|i| {
            i.sku.as_deref() == Some(sku.as_str()) && i.fresh(time::OffsetDateTime::now_utc())
        }) {
            Some(item) => item.unit_cost,
            None => {
                let path = format!("/rest/V1/products/{}", path_segment(&sku));
                normalise::product_cost(&fetch(event, api, &path).await?)?
            }
        };
    }
    Ok(Work::Stock(with_sku))
}

/// A SKU as one path segment: Commerce SKUs may hold `/`, spaces and other reserved
/// characters, which its REST routes take percent-encoded.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `/rest/V1/{collection}/{id}`, for an entity id as Magento numbers them: an id from the event
/// goes into the URL only if it is one.
fn resource_path(collection: &str, what: &str, id: &str) -> Result<String, ProcessError> {
    if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ProcessError::Unparseable(format!(
            "the Adobe Commerce {what} id {id:?} is not an entity id (digits)"
        )));
    }
    Ok(format!("/rest/V1/{collection}/{id}"))
}

/// The shop's API, to fetch what the event lacks (`missing`), or the error that names the field
/// to subscribe and the section to configure.
fn api_for<'e>(
    event: &'e Event<'_>,
    missing: &NormaliseError,
    path: &str,
) -> Result<&'e PlatformApi, ProcessError> {
    let shop = &event.envelope.shop;
    event.api(&format!(
        "Adobe Commerce shop {shop}: {missing}; or configure [shops.{shop}.api] (base_url = the \
         store's URL, token = an integration access token) to fetch GET {path}"
    ))
}

/// `path` from the store's REST API with the integration's token.
async fn fetch(event: &Event<'_>, api: &PlatformApi, path: &str) -> Result<Vec<u8>, ProcessError> {
    event
        .get(api, Auth::Bearer, path)
        .await
        .map_err(|err| match err {
            ProcessError::PlatformCredentials(detail) => {
                let shop = &event.envelope.shop;
                ProcessError::PlatformCredentials(format!(
                    "Adobe Commerce shop {shop}: {detail}; the integration access token \
                     (`token` in [shops.{shop}.api], or {prefix}API_TOKEN) is wrong or revoked, \
                     the integration lacks access to Sales (orders, invoices, credit memos), or \
                     the store does not accept integration tokens as bearer tokens (Stores > \
                     Configuration > Services > OAuth > Consumer Settings > Allow OAuth Access \
                     Tokens to be used as standalone Bearer tokens)",
                    prefix = xcs_shared::shop_env_prefix(shop),
                ))
            }
            other => other,
        })
}

/// Adobe Commerce REST (`GET /rest/V1/orders` with `searchCriteria`, Adobe's "Search using
/// REST endpoints"): the Sales resource the processor reads, one order at most.
pub(crate) fn api_probe() -> (Auth, String) {
    (
        Auth::Bearer,
        "/rest/V1/orders?searchCriteria[pageSize]=1".to_owned(),
    )
}
