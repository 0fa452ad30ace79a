//! Adobe Commerce webhooks: Adobe I/O Events registrations, made by a person.
//!
//! Two halves, neither reachable with the shop's integration token (`[shops.NAME.api]`):
//! - **Which events Commerce emits**: `bin/magento events:subscribe <event> --fields=…`, the
//!   `io_events.xml` of a module, or the eventing REST endpoints (`POST
//!   /rest/<store>/V1/eventing/eventSubscribe`, `GET /rest/all/V1/eventing/getEventSubscriptions`,
//!   Adobe's "REST endpoints for eventing"), which "require an admin token" with the
//!   `Magento_AdobeCommerceEventsClient::event_subscribe` resource. UNSURE whether an
//!   integration token granted that resource is accepted.
//! - **Where they are delivered**: an event registration in the Adobe Developer Console (or its
//!   Registration API, which needs an OAuth server-to-server credential of the project's I/O
//!   Management API), naming the webhook URL. Adobe I/O marks a registration Unstable, then
//!   Disabled, when most deliveries fail; the Console's Debug Tracing shows it and re-enables it.
//!
//! The webhook URL lives only in the second half, so "pointing elsewhere" and "disabled" can be
//! seen only there: `check` and `sync` print the step. Magento Open Source sends no webhooks.
//!
//! Topics: one event per need. Of the two order-save events the ingress books, the commit one
//! (sent once the order is saved for good); the invoice event for captures; the credit memo for
//! refunds; the stock item's commit event for stock.

use xcs_shared::EventKind;

use crate::setup::webhooks::WebhookTopic;

/// What the ingress books, by kind (`ingress/src/platforms/magento.rs`).
pub const TOPICS: &[WebhookTopic] = &[
    WebhookTopic {
        name: "observer.sales_order_save_commit_after",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "observer.sales_order_invoice_save_after",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "observer.sales_order_creditmemo_save_after",
        kinds: &[EventKind::Refund],
    },
    WebhookTopic {
        name: "observer.cataloginventory_stock_item_save_commit_after",
        kinds: &[EventKind::Inventory],
    },
];

/// What a person does in Commerce and the Developer Console.
pub(crate) fn manual_step(shop: &str, address: &str, topics: &[&str]) -> String {
    format!(
        "Adobe I/O Events registrations are made by hand: in Commerce subscribe {} (bin/magento \
         events:subscribe EVENT --fields=… with the fields README \"Adobe Commerce: what is \
         fetched when\" names; `bin/magento events:list` shows what is subscribed); in the Adobe \
         Developer Console make sure the project's event registration for those events is \
         Active and delivers to {address} (Debug Tracing shows failures; an Unstable or \
         Disabled one is re-enabled there), and that the ingress's [shops.{shop}] client_id is \
         the project's client id.",
        topics.join(", ")
    )
}
