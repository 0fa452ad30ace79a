//! BigCommerce: webhooks carry ids only; orders, their products and refunds are fetched from
//! the store's API (`X-Auth-Token`).

pub mod normalise;
pub(crate) mod poll;
pub mod webhooks;

use serde_json::Value;
use xcs_shared::domain::{StockChange, StockLevel};
use xcs_shared::{EventKind, Source};

use super::api::{Auth, PlatformApi};
use super::{Event, id_at, json};
use crate::booking::Work;
use crate::config::InventoryMode;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    if event.envelope.kind == EventKind::Inventory {
        let changes = normalise::stock(event.body)?;
        if event.shop.inventory != InventoryMode::Tracked {
            return Ok(Work::Stock(changes));
        }
        return tracked_stock(event, changes).await;
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

/// A stock event in tracked mode, as the catalog has the item: the webhooks carry ids, an
/// order's change only its delta (`relative`) and a multi-location change no quantity at all,
/// so those read the catalog's SKU, level and `cost_price`. An `absolute` level uses the SKU and
/// cost the ledger has from the last read when that is under an hour old. The level is the
/// catalog's for the product or variant, the sum over a multi-location store's locations, and
/// is recorded under no location, so that it counts once.
async fn tracked_stock(event: &Event<'_>, changes: Vec<StockChange>) -> Result<Work, ProcessError> {
    let Some((product, variant)) = normalise::stock_item(event.body)? else {
        return Ok(Work::Stock(changes));
    };
    let item_id = match &variant {
        Some(variant) => format!("{product}:{variant}"),
        None => product.clone(),
    };
    let shop = &event.envelope.shop;
    if let Some(StockChange {
        level: level @ StockLevel::Absolute(_),
        ..
    }) = changes.first()
        && let Some(item) = event
            .ledger
            .stock_item(shop, &item_id)
            .await?
            .filter(|i| i.fresh(time::OffsetDateTime::now_utc()))
    {
        return Ok(Work::Stock(vec![StockChange {
            platform: event.envelope.platform,
            item_id,
            sku: item.sku,
            location: None,
            level: level.clone(),
            unit_cost: item.unit_cost,
            as_of: None,
            name: None,
        }]));
    }
    let api = event.api(&format!(
        "BigCommerce shop {shop}: tracked inventory reads item {item_id}'s SKU and level from \
         the catalog API; configure [shops.{shop}.api]"
    ))?;
    let path = match &variant {
        Some(variant) => format!("/v3/catalog/products/{product}/variants/{variant}"),
        None => format!("/v3/catalog/products/{product}"),
    };
    let (sku, level, unit_cost) =
        normalise::catalog_stock(&event.get(api, Auth::AuthToken, &path).await?)?;
    if sku.is_none() {
        return Ok(Work::Nothing(format!(
            "BigCommerce item {item_id} has no SKU, so it names no Xero item: its stock level \
             is not tracked in Xero; give the product or variant a SKU to track it"
        )));
    }
    Ok(Work::Stock(vec![StockChange {
        platform: event.envelope.platform,
        item_id,
        sku,
        location: None,
        level: StockLevel::Absolute(level),
        unit_cost,
        as_of: None,
        name: None,
    }]))
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
