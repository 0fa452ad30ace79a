//! WooCommerce webhooks, through the REST API v3 (`/wp-json/wc/v3/webhooks`), as WooCommerce's
//! documentation ("REST API: Webhooks") and its source (`WC_REST_Webhooks_V1_Controller`,
//! `WC_REST_Webhooks_V2_Controller`, `WC_Webhook`) have them:
//!
//! - `GET /wp-json/wc/v3/webhooks?per_page=100&page=N` lists every webhook of the store
//!   (`status` defaults to `all`); `per_page` at most 100, pages from 1, `X-WP-TotalPages`.
//! - Each has `status`: `active` delivers, `paused` is "delivery paused by admin", `disabled`
//!   is "delivery paused by failure": WooCommerce does not retry, counts consecutive failures,
//!   and disables the webhook once the count passes 5 (`woocommerce_max_webhook_delivery_
//!   failures`). Both are off, and `PUT /webhooks/{id}` with `status: active` turns them back
//!   on (a paused one was paused by a person: sync still turns it on, since the shop's books
//!   need it, and says so).
//! - `POST /wp-json/wc/v3/webhooks` with `name`, `topic`, `delivery_url` (http or https),
//!   `secret` and `status` creates one (201) and sends the unsigned `webhook_id=` ping the
//!   ingress answers. WooCommerce refuses no duplicates: sync never creates what the listing
//!   shows.
//! - `secret` is write-only (context `edit`, never in a response): what a webhook signs with
//!   cannot be read back. Without one WooCommerce generates 50 random characters the ingress
//!   cannot know, so sync creates only with the ingress's secret for the shop (the first of its
//!   `secrets`, `--ingress-config`); turning a webhook back on sets that secret too when it is
//!   known (a webhook disabled for a wrong secret would fail again), else only the status.
//! - Permissions: the REST key's user needs `manage_woocommerce`, and the key Read access to
//!   list, Read/Write to create and update (`wc_rest_check_manager_permissions('webhooks', …)`,
//!   401 `woocommerce_rest_cannot_create` / `_cannot_edit` otherwise).
//!
//! Topics: the ingress's order topics; refunds arrive as `order.updated` (WooCommerce has no
//! refund topic); stock as `product.updated`, the whole product. The ingress also books
//! `action.woocommerce_product_set_stock` and `…_variation_set_stock`, but a custom action topic
//! delivers `{"action", "arg"}` whose `arg` is the hook's first argument (UNSURE: an object the
//! normaliser can read, or only an id), so they are not subscribed. UNSURE whether an order's
//! stock decrement fires `product.updated` (platforms.md §3.4).

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xcs_shared::EventKind;

use crate::platforms::api::Auth;
use crate::setup::webhooks::{
    Created, Ctx, Health, Listing, MAX_PAGES, Subscription, WebhookError, WebhookTopic, unexpected,
};

/// What the ingress books, by kind (`ingress/src/platforms/woocommerce.rs`).
pub const TOPICS: &[WebhookTopic] = &[
    WebhookTopic {
        name: "order.created",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "order.updated",
        kinds: &[EventKind::Order, EventKind::Refund],
    },
    WebhookTopic {
        name: "order.deleted",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "order.restored",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "product.updated",
        kinds: &[EventKind::Inventory],
    },
];

const GRANT: &str = "give the REST API key Read/Write permissions (WooCommerce → Settings → \
                     Advanced → REST API), for a user who can manage WooCommerce";

const PATH: &str = "/wp-json/wc/v3/webhooks";

pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    let mut listing = Listing::default();
    for page in 1..=MAX_PAGES {
        let path = format!("{PATH}?per_page=100&page={page}");
        let reply = ctx
            .call(Auth::Basic, Method::GET, &path, None, GRANT)
            .await?;
        if !reply.status.is_success() {
            return Err(unexpected(
                "listing WooCommerce webhooks",
                &reply,
                &format!(
                    "check [shops.{}.api] base_url (the site's URL, without /wp-json)",
                    ctx.shop
                ),
            ));
        }
        let Some(webhooks) = reply.body.as_array() else {
            return Err(WebhookError::Answered {
                detail: format!("WooCommerce's answer to GET {path} is not a list"),
                next: format!(
                    "check [shops.{}.api] base_url: it must be the WordPress site",
                    ctx.shop
                ),
            });
        };
        listing.subscriptions.extend(webhooks.iter().map(read));
        let pages: usize = reply
            .header("x-wp-totalpages")
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(page);
        if page >= pages || webhooks.is_empty() {
            break;
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
    let health = match text("status").as_str() {
        "active" => Health::Active,
        "paused" => Health::Off {
            why: "paused in WooCommerce (by an admin)".to_owned(),
        },
        "disabled" => Health::Off {
            why: "disabled by WooCommerce after more than 5 failed deliveries in a row \
                  (WooCommerce does not retry; the orders of that time need backfill)"
                .to_owned(),
        },
        other => Health::Off {
            why: format!("status {other:?}"),
        },
    };
    Subscription {
        id: text("id"),
        topic: text("topic"),
        address: text("delivery_url"),
        health,
    }
}

/// The secret the ingress verifies the shop's deliveries with (its first), when known.
fn secret(ctx: &Ctx<'_>) -> Option<String> {
    ctx.ingress
        .and_then(|shop| shop.secrets.first())
        .map(|s| s.expose_secret().to_owned())
}

pub(crate) async fn create(ctx: &Ctx<'_>, topic: &str) -> Result<Created, WebhookError> {
    let Some(secret) = secret(ctx) else {
        return Err(WebhookError::NeedsIngressConfig(format!(
            "a WooCommerce webhook must be created with the shop's webhook secret, which the \
             ingress's config holds; without it WooCommerce makes one up, the ingress refuses \
             every delivery and WooCommerce disables the webhook ({topic} not created)"
        )));
    };
    let body = json!({
        "name": format!("Xero Commerce Sync: {topic}"),
        "topic": topic,
        "delivery_url": ctx.address,
        "secret": secret,
        "status": "active",
    });
    let reply = ctx
        .call(Auth::Basic, Method::POST, PATH, Some(&body), GRANT)
        .await?;
    if reply.status.is_success() {
        return Ok(Created::New(read(&reply.body).id));
    }
    Err(unexpected(
        &format!("creating the WooCommerce webhook for {topic}"),
        &reply,
        "see what WooCommerce said (an invalid delivery URL: fix [webhooks] public_url), then \
         run `webhooks sync` again",
    ))
}

pub(crate) async fn repair(ctx: &Ctx<'_>, subscription: &Subscription) -> Result<(), WebhookError> {
    let mut body = json!({"status": "active"});
    if let Some(secret) = secret(ctx) {
        body["secret"] = Value::String(secret);
    }
    let path = format!("{PATH}/{}", subscription.id);
    let reply = ctx
        .call(Auth::Basic, Method::PUT, &path, Some(&body), GRANT)
        .await?;
    if reply.status.is_success() && reply.body["status"] == "active" {
        return Ok(());
    }
    Err(unexpected(
        &format!("turning WooCommerce webhook {} back on", subscription.id),
        &reply,
        "turn it on in WooCommerce → Settings → Advanced → Webhooks (status Active)",
    ))
}
