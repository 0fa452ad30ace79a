//! Etsy webhooks: registered by a person, not through the API.
//!
//! Etsy's documentation ("Essentials: Webhooks", developers.etsy.com) has endpoints, their
//! events and their signing secrets managed in the developer portal's webhook portal (*Manage your
//! apps → Go to Webhook portal → +Add Endpoint*), for apps with commercial access only; the Open
//! API v3 reference has no webhook or endpoint resource. UNSURE: the portal looks Svix-backed
//! (platforms.md §6.1), whose own API would need credentials Etsy does not give out; nothing
//! here calls it. So `check` and `sync` print the step and cannot tell a disabled endpoint
//! (Etsy's portal disables one after its retries fail; a disabled endpoint receives nothing).
//!
//! Topics: the portal's order events the ingress books, `order.paid` and `order.canceled`
//! (Etsy's webhooks page calls the first `ORDER_PAID`; the third-party AsyncAPI of the portal
//! lists `order.paid`, `order.canceled`, `order.shipped`, `order.delivered`. UNSURE which spelling
//! the portal shows: the ingress accepts both, and the step names both). No refund or stock
//! events: polling books refunds.

use xcs_shared::EventKind;

use crate::setup::webhooks::WebhookTopic;

/// What the ingress books, by kind (`ingress/src/platforms/etsy.rs`).
pub const TOPICS: &[WebhookTopic] = &[
    WebhookTopic {
        name: "order.paid",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "order.canceled",
        kinds: &[EventKind::Order],
    },
];

/// What a person does in Etsy's webhook portal.
pub(crate) fn manual_step(shop: &str, address: &str, topics: &[&str]) -> String {
    format!(
        "Etsy has no API for webhook endpoints: in the developer portal (Manage your apps → Go \
         to Webhook portal) make sure an enabled endpoint {address} subscribes to {} \
         (order.paid may show as ORDER_PAID); if you add or recreate it, put its whsec_ signing \
         secret in the ingress's [shops.{shop}] secrets (or {}SECRETS), keeping the old one \
         until the change is done. A disabled endpoint receives nothing: re-enable it there and \
         recover the failed messages, or run `xcs-processor backfill` for the gap.",
        topics.join(", "),
        xcs_shared::shop_env_prefix(shop),
    )
}
