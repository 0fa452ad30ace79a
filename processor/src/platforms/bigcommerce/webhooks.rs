//! BigCommerce hooks, through the Webhooks v3 API (`bigcommerce/docs`, `reference/webhooks.v3.yml`,
//! and "Webhooks overview"):
//!
//! - `GET /v3/hooks?page=N&limit=100` lists "all webhooks on a store associated to the
//!   `client_id` used to authenticate the request": hooks another app or API account made are
//!   not seen. `meta.pagination.total_pages` pages it.
//! - A hook has `scope`, `destination`, `is_active` and `headers`. After its retries fail
//!   (about 48 hours, 11 attempts) BigCommerce sets `is_active: false` and emails the account;
//!   the reference also says a hook "becomes deactivated after 90 days of inactivity". Either is
//!   off, and `PUT /v3/hooks/{id}` with `is_active: true` turns it back on.
//! - `GET /v3/hooks/admin` lists the domains BigCommerce has denylisted for the account (a
//!   success ratio under 90% over 2 minutes blocks a domain for 3 minutes; deliveries wait in
//!   the retry queue): a hook to a blocked domain is failing, and only the ingress answering
//!   helps. A store whose API does not serve it (404) is read without it.
//! - `headers` are sent back on every delivery; the ingress refuses a delivery lacking its
//!   `required_headers`. With `--ingress-config` a hook whose headers differ is off (`sync`
//!   sets them); without it they are not compared. Values are compared, never printed.
//! - `POST /v3/hooks` with `scope`, `destination`, `is_active: true` and `headers` creates one
//!   (200, `data`). A PUT changes what it sends (UNSURE: the reference does not say whether
//!   omitted fields are kept; sync sends `headers` whenever it knows them). The reference documents no refusal of a duplicate (UNSURE whether it has
//!   one), so sync never creates what the listing shows. The destination "must be served on
//!   port 443".
//! - A scope ending in `/*` (`store/order/*`) delivers every scope under it.
//! - Permissions: "None required. Create and manage webhooks with the default scope of an API
//!   account" (the reference's `X-Auth-Token` scheme).
//!
//! Topics: the ingress's scopes; `store/channel/{id}/inventory/product/stock_changed` needs a
//! channel id the config does not have, and is not subscribed.

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq as _;
use xcs_shared::EventKind;

use crate::platforms::api::Auth;
use crate::setup::webhooks::{
    Created, Ctx, Finding, Health, Listing, MAX_PAGES, Subscription, WebhookError, WebhookTopic,
    same_address, unexpected,
};

/// What the ingress books, by kind (`ingress/src/platforms/bigcommerce.rs`).
pub const TOPICS: &[WebhookTopic] = &[
    WebhookTopic {
        name: "store/order/created",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/updated",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/statusUpdated",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/archived",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/transaction/created",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/transaction/updated",
        kinds: &[EventKind::Order],
    },
    WebhookTopic {
        name: "store/order/refund/created",
        kinds: &[EventKind::Refund],
    },
    WebhookTopic {
        name: "store/product/inventory/updated",
        kinds: &[EventKind::Inventory],
    },
    WebhookTopic {
        name: "store/product/inventory/order/updated",
        kinds: &[EventKind::Inventory],
    },
    WebhookTopic {
        name: "store/sku/inventory/updated",
        kinds: &[EventKind::Inventory],
    },
    WebhookTopic {
        name: "store/sku/inventory/order/updated",
        kinds: &[EventKind::Inventory],
    },
];

const GRANT: &str = "use the access token of a store API account (or the app's) for this \
                     store: hooks need no OAuth scope of their own";

/// Whether a hook on `subscribed` delivers `needed`: the same scope, or a wildcard above it.
pub(crate) fn covers(subscribed: &str, needed: &str) -> bool {
    subscribed == needed
        || subscribed
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with('/') && needed.starts_with(prefix))
}

pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    let mut listing = Listing::default();
    let mut hooks = Vec::new();
    for page in 1..=MAX_PAGES {
        let path = format!("/v3/hooks?page={page}&limit=100");
        let reply = ctx
            .call(Auth::AuthToken, Method::GET, &path, None, GRANT)
            .await?;
        // An empty list may come as 204.
        if reply.status == reqwest::StatusCode::NO_CONTENT {
            break;
        }
        if !reply.status.is_success() {
            return Err(unexpected(
                "listing BigCommerce hooks",
                &reply,
                &format!(
                    "check [shops.{}.api] base_url (https://api.bigcommerce.com/stores/\
                     {{store_hash}})",
                    ctx.shop
                ),
            ));
        }
        let page_hooks = reply.body["data"].as_array().cloned().unwrap_or_default();
        let empty = page_hooks.is_empty();
        hooks.extend(page_hooks);
        let pages = reply.body["meta"]["pagination"]["total_pages"]
            .as_u64()
            .unwrap_or(1);
        if empty || page as u64 >= pages {
            break;
        }
    }
    let blocked = blocked_domains(ctx).await?;
    for hook in &hooks {
        listing.subscriptions.push(read(ctx, hook, &blocked));
    }
    if ctx.ingress.is_none() {
        listing.findings.push(Finding {
            fail: false,
            detail: "the hooks' headers are not compared with the ingress's required_headers"
                .to_owned(),
            next: "pass --ingress-config to compare them".to_owned(),
        });
    }
    Ok(listing)
}

/// The denylisted destinations and the seconds each has left, from `GET /v3/hooks/admin`.
async fn blocked_domains(ctx: &Ctx<'_>) -> Result<Vec<(String, u64)>, WebhookError> {
    let reply = ctx
        .call(Auth::AuthToken, Method::GET, "/v3/hooks/admin", None, GRANT)
        .await?;
    if !reply.status.is_success() {
        return Ok(Vec::new());
    }
    Ok(reply.body["data"]["blocked_domains"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            Some((
                d["destination"].as_str()?.to_owned(),
                d["time_left"].as_u64().unwrap_or(0),
            ))
        })
        .collect())
}

/// The host of a URL, or the text itself when it is a bare domain.
fn host(url: &str) -> String {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| url.trim().trim_end_matches('/').to_ascii_lowercase())
}

fn read(ctx: &Ctx<'_>, hook: &Value, blocked: &[(String, u64)]) -> Subscription {
    let text = |field: &str| match &hook[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let address = text("destination");
    let ours = same_address(&address, ctx.address);
    let health = if hook["is_active"] == Value::Bool(false) {
        Health::Off {
            why: "deactivated (is_active false): BigCommerce turns a hook off when its retries \
                  fail for about 48 hours, or after 90 days unused"
                .to_owned(),
        }
    } else if let Some((_, left)) = blocked
        .iter()
        .find(|(domain, _)| host(domain) == host(&address))
    {
        Health::Failing {
            why: format!(
                "BigCommerce has denylisted its domain for {left} s more: under 90% of its \
                 deliveries succeeded"
            ),
            next: "make sure the ingress answers 2xx (its /readyz, RabbitMQ); BigCommerce \
                   delivers again once the block ends"
                .to_owned(),
        }
    } else if ours && headers_differ(ctx, &hook["headers"]) {
        Health::Off {
            why: "its headers are not the ingress's required_headers for the shop: every \
                  delivery is refused (401)"
                .to_owned(),
        }
    } else {
        Health::Active
    };
    Subscription {
        id: text("id"),
        topic: text("scope"),
        address,
        health,
    }
}

/// Whether a hook's headers lack one of the ingress's required headers, or carry another value
/// (compared in constant time); `false` when the ingress config is not known.
fn headers_differ(ctx: &Ctx<'_>, headers: &Value) -> bool {
    let Some(shop) = ctx.ingress else {
        return false;
    };
    shop.required_headers.iter().any(|(name, value)| {
        let sent = headers.as_object().and_then(|h| {
            h.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.as_str())
        });
        match sent {
            Some(sent) => !bool::from(sent.as_bytes().ct_eq(value.expose_secret().as_bytes())),
            None => true,
        }
    })
}

/// The ingress's required headers for the shop, as a hook's `headers`; `None` when unknown.
fn required_headers(ctx: &Ctx<'_>) -> Option<Value> {
    let shop = ctx.ingress?;
    let headers: Map<String, Value> = shop
        .required_headers
        .iter()
        .map(|(name, value)| {
            (
                name.clone(),
                Value::String(value.expose_secret().to_owned()),
            )
        })
        .collect();
    Some(Value::Object(headers))
}

pub(crate) async fn create(ctx: &Ctx<'_>, topic: &str) -> Result<Created, WebhookError> {
    let Some(headers) = required_headers(ctx) else {
        return Err(WebhookError::NeedsIngressConfig(format!(
            "a BigCommerce hook must send the ingress's required_headers for the shop, which \
             only the ingress's config holds ({topic} not created)"
        )));
    };
    let body = json!({
        "scope": topic,
        "destination": ctx.address,
        "is_active": true,
        "headers": headers,
    });
    let reply = ctx
        .call(
            Auth::AuthToken,
            Method::POST,
            "/v3/hooks",
            Some(&body),
            GRANT,
        )
        .await?;
    if reply.status.is_success() {
        let id = match &reply.body["data"]["id"] {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        return Ok(Created::New(id));
    }
    Err(unexpected(
        &format!("creating the BigCommerce hook for {topic}"),
        &reply,
        "see what BigCommerce said (the destination must be HTTPS on port 443: fix [webhooks] \
         public_url), then run `webhooks sync` again",
    ))
}

pub(crate) async fn repair(ctx: &Ctx<'_>, subscription: &Subscription) -> Result<(), WebhookError> {
    let mut body = json!({"is_active": true});
    // Without the ingress's config the headers are left as they are (a PUT changes only what
    // it sends); they were not compared either.
    if let Some(headers) = required_headers(ctx) {
        body["headers"] = headers;
    }
    let path = format!("/v3/hooks/{}", subscription.id);
    let reply = ctx
        .call(Auth::AuthToken, Method::PUT, &path, Some(&body), GRANT)
        .await?;
    if reply.status.is_success() && reply.body["data"]["is_active"] != Value::Bool(false) {
        return Ok(());
    }
    Err(unexpected(
        &format!("turning BigCommerce hook {} back on", subscription.id),
        &reply,
        "see what BigCommerce said, then run `webhooks sync` again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wildcard_scope_covers_the_scopes_under_it() {
        assert!(covers("store/order/created", "store/order/created"));
        assert!(covers("store/order/*", "store/order/refund/created"));
        assert!(!covers("store/order/*", "store/product/inventory/updated"));
        assert!(!covers("store/order/created", "store/order/updated"));
    }
}
