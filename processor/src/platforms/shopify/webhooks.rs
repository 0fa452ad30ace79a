//! Shopify webhook subscriptions, through the Admin REST API's Webhook resource (shopify.dev,
//! "REST Admin API: Webhook"):
//!
//! - `GET /admin/api/{version}/webhooks.json?limit=250` lists the subscriptions **of the app
//!   whose token asks** ("Webhook subscriptions are scoped only to the app that they're
//!   registered to"); those made in the Shopify admin (*Settings → Notifications → Webhooks*)
//!   are the shop's and "won't be returned in API calls". Further pages by the `Link` header's
//!   `rel="next"` (`page_info`), as every REST list since 2019-07.
//! - `POST /admin/api/{version}/webhooks.json` with `{"webhook": {"topic", "address",
//!   "format": "json"}}` creates one (201, the webhook); a second one for the same topic and
//!   address is refused 422 `{"errors": {"address": ["for this topic has already been
//!   taken"]}}` (the GraphQL error enum's "Address for this topic has already been taken"),
//!   which counts as there already.
//! - There is no off state: after its retries fail (8 over 4 hours since 2024-09, Shopify's
//!   changelog "updates to webhook retry mechanism") Shopify deletes an API-made subscription
//!   and emails the app's contact. A failing subscription therefore shows as missing, and
//!   `sync` creates it again.
//! - A subscription in `xml` format delivers what the ingress cannot read: failing, to be
//!   changed in the app or deleted (sync cannot add a JSON one beside it: same topic and address).
//! - Scopes: a topic is refused (422 "Invalid topic specified") unless the token has its
//!   resource's read scope: `read_orders` for `orders/*` and `refunds/create`,
//!   `read_inventory` for `inventory_levels/*` (community answers and the topic list's access
//!   scopes; UNSURE whether a missing scope is always 422 rather than 403). Public apps also
//!   need protected customer data access for order topics (UNSURE for custom apps).
//!
//! UNSURE: the REST Admin API is "legacy" since 2024-10 (new public apps must use GraphQL from
//! 2025-04); custom apps still use it. Subscriptions declared in an app's `shopify.app.toml`
//! are app-specific, re-applied on deploy, and (UNSURE) not listed here.

use reqwest::Method;
use serde_json::{Value, json};
use xcs_shared::EventKind;

use crate::platforms::api::Auth;
use crate::setup::webhooks::{
    Created, Ctx, Health, Listing, MAX_PAGES, Subscription, WebhookError, WebhookTopic, unexpected,
};

/// What the ingress books, by kind (`ingress/src/platforms/shopify.rs`).
pub const TOPICS: &[WebhookTopic] = &[
    WebhookTopic {
        name: "orders/create",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "orders/updated",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "orders/paid",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "orders/cancelled",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "orders/edited",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "refunds/create",
        kinds: &[EventKind::Refund],
    },
    WebhookTopic {
        name: "inventory_levels/update",
        kinds: &[EventKind::Inventory],
    },
    WebhookTopic {
        name: "inventory_levels/connect",
        kinds: &[EventKind::Inventory],
    },
    WebhookTopic {
        name: "inventory_levels/disconnect",
        kinds: &[EventKind::Inventory],
    },
];

const GRANT: &str = "give the custom app's Admin API access token the read_orders scope (and \
                     read_inventory for inventory topics); webhook subscriptions need no scope \
                     of their own";

fn webhooks_path(ctx: &Ctx<'_>) -> String {
    format!("/admin/api/{}/webhooks.json", ctx.api.shopify_api_version())
}

pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    let mut path = format!("{}?limit=250", webhooks_path(ctx));
    let mut listing = Listing::default();
    for _ in 0..MAX_PAGES {
        let reply = ctx
            .call(Auth::ShopifyAccessToken, Method::GET, &path, None, GRANT)
            .await?;
        if !reply.status.is_success() {
            return Err(unexpected(
                "listing Shopify webhooks",
                &reply,
                &format!(
                    "check [shops.{}.api] base_url (https://<store>.myshopify.com) and \
                     api_version",
                    ctx.shop
                ),
            ));
        }
        let Some(webhooks) = reply.body["webhooks"].as_array() else {
            return Err(WebhookError::Answered {
                detail: format!("Shopify's answer to GET {path} has no `webhooks` list"),
                next: format!(
                    "check [shops.{}.api] base_url: it must be the store's Admin API",
                    ctx.shop
                ),
            });
        };
        for webhook in webhooks {
            listing.subscriptions.push(read(webhook));
        }
        match reply.header("link").and_then(super::poll::next_link) {
            Some(next) => path = super::poll::relative(&next, &ctx.api.base_url),
            None => break,
        }
    }
    Ok(listing)
}

fn read(webhook: &Value) -> Subscription {
    let text = |field: &str| match &webhook[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let format = text("format");
    let health = if format.is_empty() || format == "json" {
        Health::Active
    } else {
        Health::Failing {
            why: format!("it delivers {format}, and the ingress reads JSON"),
            next: "change its format to json in the app (PUT webhooks/{id}.json), or delete it \
                   and run `webhooks sync`"
                .to_owned(),
        }
    };
    Subscription {
        id: text("id"),
        topic: text("topic"),
        address: text("address"),
        health,
    }
}

pub(crate) async fn create(ctx: &Ctx<'_>, topic: &str) -> Result<Created, WebhookError> {
    let body = json!({"webhook": {"topic": topic, "address": ctx.address, "format": "json"}});
    let reply = ctx
        .call(
            Auth::ShopifyAccessToken,
            Method::POST,
            &webhooks_path(ctx),
            Some(&body),
            GRANT,
        )
        .await?;
    if reply.status.is_success() {
        return Ok(Created::New(read(&reply.body["webhook"]).id));
    }
    let taken = reply.body["errors"]["address"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|e| e.as_str().is_some_and(|e| e.contains("already been taken")));
    if reply.status == reqwest::StatusCode::UNPROCESSABLE_ENTITY && taken {
        return Ok(Created::Existed);
    }
    let next = if reply.body["errors"]["topic"].is_array() {
        format!(
            "Shopify refuses topic {topic} for this token: give the app the scope the topic \
             needs (read_orders for orders and refunds, read_inventory for inventory_levels)"
        )
    } else if reply.body["errors"]["address"].is_array() {
        format!(
            "Shopify refuses the address {}: it must be HTTPS and reachable; fix [webhooks] \
             public_url",
            ctx.address
        )
    } else {
        "see what Shopify said, fix it, and run `webhooks sync` again".to_owned()
    };
    Err(unexpected(
        &format!("creating the Shopify webhook for {topic}"),
        &reply,
        &next,
    ))
}
