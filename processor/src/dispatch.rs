//! From an event to the work it asks for: picks the platform's normaliser, fetches what thin
//! webhooks leave out, and finds the booked order a refund belongs to.

use serde_json::Value;
use xcs_shared::domain::Normalised;
use xcs_shared::{Envelope, EventKind, Platform};

use crate::booking::Work;
use crate::config::ShopConfig;
use crate::error::ProcessError;
use crate::hydrate::{Auth, Fetcher, PlatformApi};
use crate::ledger::Ledger;
use crate::normalise::{self, OrderContext};

/// Turns events into work.
#[derive(Default)]
pub struct Dispatcher {
    fetcher: Fetcher,
}

impl From<Normalised> for Work {
    fn from(normalised: Normalised) -> Self {
        match normalised {
            Normalised::Order(order) => Work::Order(order),
            Normalised::Refunds { order, refunds } => Work::Refunds { order, refunds },
            Normalised::Stock(changes) => Work::Stock(changes),
            Normalised::Nothing { reason } => Work::Nothing(reason),
        }
    }
}

/// The cleaning and plausibility checks of [`normalise::checks`] on every document of the
/// work.
fn check(work: &mut Work, today: time::Date) -> Result<(), ProcessError> {
    match work {
        Work::Order(order) => {
            normalise::clean_order(order)?;
            normalise::check_order(order, today)?;
        }
        Work::Refunds { order, refunds } => {
            if let Some(order) = order {
                normalise::clean_order(order)?;
                normalise::check_order(order, today)?;
            }
            for refund in refunds {
                normalise::clean_refund(refund)?;
                normalise::check_refund(refund, today)?;
            }
        }
        Work::Stock(changes) => normalise::clean_stock(changes)?,
        Work::Cancel { .. } | Work::Nothing(_) => {}
    }
    Ok(())
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

impl Dispatcher {
    fn api<'a>(shop: &'a ShopConfig, why: &str) -> Result<&'a PlatformApi, ProcessError> {
        shop.api
            .as_ref()
            .ok_or_else(|| ProcessError::NoPlatformApi(why.to_owned()))
    }

    async fn get(
        &self,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Vec<u8>, ProcessError> {
        let value = self.fetcher.get(api, auth, path).await?;
        Ok(serde_json::to_vec(&value).expect("JSON values serialise"))
    }

    /// The booked order a refund belongs to; retryable while it is not booked yet.
    async fn order_context(
        ledger: &Ledger,
        envelope: &Envelope,
        order_id: &str,
    ) -> Result<OrderContext, ProcessError> {
        // Summary mode: the order is found in its period's summary (crate::summary).
        let invoice = ledger
            .order_for_refund(&envelope.shop, order_id)
            .await?
            .ok_or_else(|| ProcessError::OrderNotBooked {
                order: order_id.to_owned(),
            })?;
        Ok(OrderContext {
            number: invoice.order_number,
            currency: xcs_shared::domain::Currency::try_from(invoice.currency)
                .map_err(|err| ProcessError::Ledger(err.to_string()))?,
            tax_mode: invoice.tax_mode,
        })
    }

    /// The work an event asks for.
    ///
    /// # Errors
    /// [`ProcessError`]: permanent for payloads that cannot be read, retryable when a platform
    /// API is unavailable or a refund's order is not booked yet.
    pub async fn work_for(
        &self,
        envelope: &Envelope,
        shop: &ShopConfig,
        body: &[u8],
        ledger: &Ledger,
    ) -> Result<Work, ProcessError> {
        let mut work = self.normalised_work(envelope, shop, body, ledger).await?;
        check(&mut work, time::OffsetDateTime::now_utc().date())?;
        // An order cancelled before it was booked has nothing to book; one cancelled after has
        // its invoice voided (see `Booker::book_cancellation`).
        if let Work::Order(order) = &work
            && order.cancelled
        {
            return Ok(
                match ledger
                    .invoice_for_order(&envelope.shop, &order.order_id)
                    .await?
                {
                    Some(invoice) => Work::Cancel {
                        order: order.clone(),
                        invoice,
                    },
                    // Summary mode (crate::summary): the order may be in an open period's
                    // summary, which the cancellation takes it out of.
                    None if shop.mode == crate::config::SyncMode::Summary => {
                        Work::Order(order.clone())
                    }
                    None => Work::Nothing(format!(
                        "order {} was cancelled before it was booked",
                        order.number
                    )),
                },
            );
        }
        Ok(work)
    }

    async fn normalised_work(
        &self,
        envelope: &Envelope,
        shop: &ShopConfig,
        body: &[u8],
        ledger: &Ledger,
    ) -> Result<Work, ProcessError> {
        use normalise::{bigcommerce, ebay, etsy, magento, shopify, woocommerce};
        let kind = envelope.kind;
        Ok(match (envelope.platform, kind) {
            (Platform::Shopify, EventKind::Order) => {
                // Paid through several gateways: the split is in the order's transactions.
                let body = self
                    .shopify_order_with_transactions(envelope, shop, body)
                    .await?;
                Work::Order(shopify::order(&body)?)
            }
            (Platform::Shopify, EventKind::Refund) => {
                let order_id = id_at(
                    &json(body, "the Shopify refund")?,
                    "/order_id",
                    "the Shopify refund",
                )?;
                let context = Self::order_context(ledger, envelope, &order_id).await?;
                Work::Refunds {
                    order: None,
                    refunds: vec![shopify::refund(body, &context)?],
                }
            }
            (Platform::Shopify, EventKind::Inventory) => Work::Stock(shopify::stock(body)?),

            (Platform::WooCommerce, EventKind::Order) => woocommerce::order(body)?.into(),
            (Platform::WooCommerce, EventKind::Refund) => {
                // The webhook's order lists refund ids only; their lines come from the API.
                let order_id = id_at(
                    &json(body, "the WooCommerce order")?,
                    "/id",
                    "the WooCommerce order",
                )?;
                let api = Self::api(
                    shop,
                    "WooCommerce refunds are fetched from the store's REST API",
                )?;
                let refunds = self
                    .get(
                        api,
                        Auth::Basic,
                        &format!("/wp-json/wc/v3/orders/{order_id}/refunds"),
                    )
                    .await?;
                let order = match woocommerce::order(body)? {
                    Normalised::Order(order) => Some(order),
                    _ => None,
                };
                Work::Refunds {
                    order,
                    refunds: woocommerce::refunds(body, &refunds)?,
                }
            }
            (Platform::WooCommerce, EventKind::Inventory) => Work::Stock(woocommerce::stock(body)?),

            (Platform::Magento, EventKind::Order) => magento::order(body)?.into(),
            (Platform::Magento, EventKind::Refund) => {
                // The CloudEvents envelope, Adobe's documented nested form, or a bare memo.
                let memo = json(body, "the credit memo")?;
                let order_id = [
                    "/data/value/order_id",
                    "/event/data/value/order_id",
                    "/order_id",
                ]
                .iter()
                .find_map(|pointer| id_at(&memo, pointer, "the credit memo").ok())
                .ok_or_else(|| {
                    ProcessError::Unparseable("the credit memo has no order_id".into())
                })?;
                let context = Self::order_context(ledger, envelope, &order_id).await?;
                Work::Refunds {
                    order: None,
                    refunds: vec![magento::refund(body, &context)?],
                }
            }
            (Platform::Magento, EventKind::Inventory) => Work::Stock(magento::stock(body)?),

            (Platform::BigCommerce, EventKind::Inventory) => Work::Stock(bigcommerce::stock(body)?),
            (Platform::BigCommerce, kind) => {
                let webhook = json(body, "the BigCommerce webhook")?;
                let order_id = id_at(&webhook, "/data/id", "the BigCommerce webhook")?;
                let api = Self::api(shop, "BigCommerce webhooks carry ids only")?;
                if kind == EventKind::Refund {
                    let refunds = self
                        .get(
                            api,
                            Auth::AuthToken,
                            &format!("/v3/orders/{order_id}/payment_actions/refunds"),
                        )
                        .await?;
                    let refund_id = id_at(
                        &webhook,
                        "/data/refund/refund_id",
                        "the BigCommerce refund webhook",
                    )?;
                    let refunds: Value = json(&refunds, "the BigCommerce refunds")?;
                    let refund = refunds["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .find(|r| r["id"].to_string().trim_matches('"') == refund_id)
                        .ok_or_else(|| ProcessError::Hydration(format!(
                            "BigCommerce does not list refund {refund_id} of order {order_id} yet"
                        )))?;
                    let context = Self::order_context(ledger, envelope, &order_id).await?;
                    Work::Refunds {
                        order: None,
                        refunds: vec![bigcommerce::refund(
                            &serde_json::to_vec(refund).expect("JSON values serialise"),
                            &context,
                        )?],
                    }
                } else {
                    let order = self
                        .get(api, Auth::AuthToken, &format!("/v2/orders/{order_id}"))
                        .await?;
                    let products = self
                        .get(
                            api,
                            Auth::AuthToken,
                            &format!("/v2/orders/{order_id}/products"),
                        )
                        .await?;
                    bigcommerce::order(&order, &products)?.into()
                }
            }

            (Platform::Etsy, _) => {
                let webhook = json(body, "the Etsy webhook")?;
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
                let api = Self::api(shop, "Etsy webhooks carry the receipt URL only")?;
                let receipt = self.get(api, Auth::BearerAndApiKey, path).await?;
                etsy::receipt(&receipt)?.into()
            }

            (Platform::Ebay, _) => {
                let notification = json(body, "the eBay notification")?;
                let order_id = id_at(
                    &notification,
                    "/notification/data/orderId",
                    "the eBay notification",
                )?;
                let api = Self::api(shop, "eBay notifications carry the order id only")?;
                let order = self
                    .get(
                        api,
                        Auth::Bearer,
                        &format!("/sell/fulfillment/v1/order/{order_id}"),
                    )
                    .await?;
                ebay::order(&order)?.into()
            }
        })
    }
}

impl Dispatcher {
    /// A Shopify order as the normaliser should read it: with its transactions embedded under
    /// `transactions` when only they tell how a split payment was split
    /// ([`normalise::shopify::needs_transactions`]), fetched from the Admin REST API
    /// (`GET /admin/api/{version}/orders/{id}/transactions.json`). Other orders, and bodies
    /// that are not JSON (the normaliser names the fault), pass unchanged.
    ///
    /// Without an `[api]` section the order is booked as before, its invoice left unpaid, and
    /// a warning names the shop and what to configure.
    ///
    /// # Errors
    /// [`ProcessError::Hydration`] (retryable) when the API is unreachable or answers 5xx or
    /// 429; [`ProcessError::PlatformCredentials`] (permanent) for 401 and 403, naming the shop.
    async fn shopify_order_with_transactions<'b>(
        &self,
        envelope: &Envelope,
        shop: &ShopConfig,
        body: &'b [u8],
    ) -> Result<std::borrow::Cow<'b, [u8]>, ProcessError> {
        use std::borrow::Cow;
        let Ok(value) = serde_json::from_slice::<Value>(body) else {
            return Ok(Cow::Borrowed(body));
        };
        let mut order = normalise::unwrap_resource(value, &["order"]);
        if !normalise::shopify::needs_transactions(&order) {
            return Ok(Cow::Borrowed(body));
        }
        let order_id = id_at(&order, "/id", "the Shopify order")?;
        let Some(api) = shop.api.as_ref() else {
            tracing::warn!(
                shop = %envelope.shop,
                order = %order_id,
                event = %envelope.event_id,
                "Shopify order {order_id} of shop {shop_name} was paid through several gateways, \
                 but the shop has no [shops.{shop_name}.api] section to fetch its transactions \
                 from: its invoice is booked without payments. Configure the API (base_url \
                 https://<store>.myshopify.com, token = an Admin API access token with \
                 read_orders) and replay the event to book the payments",
                shop_name = envelope.shop,
            );
            return Ok(Cow::Borrowed(body));
        };
        let path = format!(
            "/admin/api/{}/orders/{order_id}/transactions.json",
            api.shopify_api_version()
        );
        let answer = self
            .fetcher
            .get(api, Auth::ShopifyAccessToken, &path)
            .await
            .map_err(|err| match err {
                ProcessError::PlatformCredentials(detail) => {
                    ProcessError::PlatformCredentials(format!(
                        "Shopify shop {shop_name}: {detail}; the Admin API access token \
                         (`token` in [shops.{shop_name}.api], or {prefix}API_TOKEN) is wrong or \
                         revoked, or lacks the read_orders scope",
                        shop_name = envelope.shop,
                        prefix = xcs_shared::shop_env_prefix(&envelope.shop),
                    ))
                }
                other => other,
            })?;
        let transactions = answer
            .get("transactions")
            .filter(|list| list.is_array())
            .cloned()
            .ok_or_else(|| {
                ProcessError::Unparseable(format!(
                    "Shopify's answer to {path} has no `transactions` list"
                ))
            })?;
        if let Some(fields) = order.as_object_mut() {
            fields.insert("transactions".to_owned(), transactions);
        }
        Ok(Cow::Owned(
            serde_json::to_vec(&order).expect("JSON values serialise"),
        ))
    }
}
