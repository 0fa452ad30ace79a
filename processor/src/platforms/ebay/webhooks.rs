//! eBay notifications, through the Commerce Notification API v1 (`/commerce/notification/v1`;
//! its OpenAPI contract `commerce_notification_v1_oas3`, eBay's method pages):
//!
//! - A **destination** is an endpoint with its verification token (`deliveryConfig.endpoint`,
//!   `.verificationToken`) and a `status`: `ENABLED`, `DISABLED`, or `MARKED_DOWN`, which "is set
//!   by eBay systems" after repeated failed deliveries. `GET /destination?limit=100` lists them,
//!   further pages by the answer's `next` URL (`continuation_token`). `POST /destination`
//!   creates one (201, id in `Location`) after eBay's challenge to the endpoint succeeds (409
//!   195020 otherwise; 409 195021 "Destination exists for this endpoint"; 409 195003 until the
//!   app has an alert email, `PUT /config`). `PUT /destination/{id}` with `status: ENABLED`
//!   (and the same delivery config) turns it back on and is challenged again: sync does that for
//!   a disabled or marked-down destination (UNSURE whether eBay also marks one up by itself, as
//!   its legacy notifications did).
//! - A **subscription** joins a topic to a destination with a payload (format `JSON`, a schema
//!   version the topic supports, `HTTPS`) and `status` `ENABLED` or `DISABLED`. `GET
//!   /subscription?limit=100` lists them (paged as destinations); `POST /subscription` creates
//!   one (201, `Location`); "each application and topic-schema pairing to a subscription should
//!   have a 1:1 cardinality", so a second one is refused 409 195012 "Subscription already
//!   exists" (counted as there already) and one pointing elsewhere cannot be joined by ours.
//!   `POST /subscription/{id}/enable` turns one back on (409 195015 while its destination is not
//!   enabled, so the destination goes first). `GET /topic/{topic_id}` names the schema versions.
//! - "Pointing elsewhere" is a subscription whose destination's endpoint is not ours.
//! - The ingress answers eBay's challenge with `SHA-256(code + verification_token +
//!   endpoint_url)` from its config, so the destination must carry exactly that token and URL:
//!   sync creates and re-enables destinations only with `--ingress-config`, and a shop whose
//!   `endpoint_url` is not its address is reported.
//! - Tokens (UNSURE): the method pages ask for an application token (client credentials,
//!   `api_scope`) for destinations and application topics, and a user token with
//!   `commerce.notification.subscription` for user topics. `ORDER_CONFIRMATION` is a seller's
//!   topic, so the shop's token (a user token) is used throughout; an eBay that refuses it for
//!   destinations is reported with what to grant, and the destination can be made in the
//!   developer portal (*Alerts & Notifications*) instead.
//!
//! Topics: `ORDER_CONFIRMATION` (orders). eBay has no refund or stock topics (polling books
//! those).

use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xcs_shared::EventKind;

use crate::platforms::api::{Auth, Reply};
use crate::setup::webhooks::{
    Created, Ctx, Finding, Health, Listing, MAX_PAGES, Subscription, WebhookError, WebhookTopic,
    unexpected,
};

/// What the ingress books, by kind (`ingress/src/platforms/ebay.rs`).
pub const TOPICS: &[WebhookTopic] = &[WebhookTopic {
    name: "ORDER_CONFIRMATION",
    kinds: &[EventKind::Order],
}];

const GRANT: &str = "give the eBay token the https://api.ebay.com/oauth/api_scope/commerce.\
                     notification.subscription scope (a user token of the seller's; UNSURE: \
                     eBay may want an application token for destinations, which can instead be \
                     made in the developer portal's Alerts & Notifications)";

const BASE: &str = "/commerce/notification/v1";

/// One destination as listed.
struct Destination {
    id: String,
    endpoint: String,
    status: String,
}

fn text(value: &Value, field: &str) -> String {
    match &value[field] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Every page of a Notification API list (`destinations` or `subscriptions`).
async fn list_all(ctx: &Ctx<'_>, resource: &str, field: &str) -> Result<Vec<Value>, WebhookError> {
    let mut path = format!("{BASE}/{resource}?limit=100");
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let reply = ctx
            .call(Auth::Bearer, Method::GET, &path, None, GRANT)
            .await?;
        if !reply.status.is_success() {
            return Err(unexpected(
                &format!("listing eBay {field}"),
                &reply,
                &format!(
                    "check [shops.{}.api] base_url (https://api.ebay.com)",
                    ctx.shop
                ),
            ));
        }
        items.extend(reply.body[field].as_array().cloned().unwrap_or_default());
        match reply.body["next"].as_str().and_then(path_of) {
            Some(next) => path = next,
            None => break,
        }
    }
    Ok(items)
}

/// The path and query of an absolute URL eBay returned (`next`, `Location`).
fn path_of(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    Some(match parsed.query() {
        Some(query) => format!("{}?{query}", parsed.path()),
        None => parsed.path().to_owned(),
    })
}

async fn destinations(ctx: &Ctx<'_>) -> Result<Vec<Destination>, WebhookError> {
    Ok(list_all(ctx, "destination", "destinations")
        .await?
        .iter()
        .map(|d| Destination {
            id: text(d, "destinationId"),
            endpoint: text(&d["deliveryConfig"], "endpoint"),
            status: text(d, "status"),
        })
        .collect())
}

pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    let destinations = destinations(ctx).await?;
    let mut listing = Listing::default();
    for sub in list_all(ctx, "subscription", "subscriptions").await? {
        let destination_id = text(&sub, "destinationId");
        let destination = destinations.iter().find(|d| d.id == destination_id);
        let address = destination.map_or_else(
            || format!("(destination {destination_id}, not listed)"),
            |d| d.endpoint.clone(),
        );
        let health = match (
            text(&sub, "status").as_str(),
            destination.map(|d| d.status.as_str()),
        ) {
            (_, Some("MARKED_DOWN")) => Health::Off {
                why: format!(
                    "eBay marked its destination {destination_id} down after repeated failed \
                     deliveries"
                ),
            },
            (_, Some("DISABLED")) => Health::Off {
                why: format!("its destination {destination_id} is disabled"),
            },
            ("DISABLED", _) => Health::Off {
                why: "the subscription is disabled".to_owned(),
            },
            ("ENABLED", Some("ENABLED")) => Health::Active,
            (status, destination) => Health::Off {
                why: format!(
                    "status {status:?}, destination {}",
                    destination.unwrap_or("not listed")
                ),
            },
        };
        listing.subscriptions.push(Subscription {
            id: text(&sub, "subscriptionId"),
            topic: text(&sub, "topicId"),
            address,
            health,
        });
    }
    if let Some(endpoint) = ctx.ingress.and_then(|shop| shop.endpoint_url.as_deref())
        && endpoint != ctx.address
    {
        listing.findings.push(Finding {
            fail: true,
            detail: format!(
                "the ingress answers eBay's challenge for endpoint_url {endpoint}, not for {}: \
                 eBay hashes the exact URL it delivers to",
                ctx.address
            ),
            next: format!(
                "set endpoint_url = \"{}\" for [shops.{}] in the ingress's config",
                ctx.address, ctx.shop
            ),
        });
    }
    Ok(listing)
}

/// eBay's error id in an error answer.
fn error_id(reply: &Reply) -> Option<u64> {
    reply.body["errors"][0]["errorId"].as_u64()
}

/// The id at the end of a `Location` header.
fn location_id(reply: &Reply) -> Option<String> {
    reply
        .header("location")
        .and_then(|l| l.trim_end_matches('/').rsplit('/').next())
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
}

/// The delivery config the ingress's challenge answers to.
fn delivery_config(ctx: &Ctx<'_>, what: &str) -> Result<Value, WebhookError> {
    let token = ctx
        .ingress
        .and_then(|shop| shop.verification_token.as_ref())
        .ok_or_else(|| {
            WebhookError::NeedsIngressConfig(format!(
                "an eBay destination carries the verification token the ingress answers eBay's \
                 challenge with, which only the ingress's config holds ({what})"
            ))
        })?;
    Ok(json!({"endpoint": ctx.address, "verificationToken": token.expose_secret()}))
}

fn challenge_next(ctx: &Ctx<'_>) -> String {
    format!(
        "eBay's challenge to {} failed or was not answered: the ingress must be reachable there \
         and [shops.{}] in its config must have that exact endpoint_url and the verification \
         token; check `xcs-ingress --check-config`, then run `webhooks sync` again",
        ctx.address, ctx.shop
    )
}

/// Our destination's id, created when there is none.
async fn destination_for(ctx: &Ctx<'_>, topic: &str) -> Result<String, WebhookError> {
    let ours = |list: &[Destination]| {
        list.iter()
            .find(|d| d.endpoint == ctx.address)
            .map(|d| d.id.clone())
    };
    if let Some(id) = ours(&destinations(ctx).await?) {
        return Ok(id);
    }
    let body = json!({
        "name": format!("xcs {}", ctx.shop).chars().take(64).collect::<String>(),
        "status": "ENABLED",
        "deliveryConfig": delivery_config(ctx, &format!("{topic} not created"))?,
    });
    let path = format!("{BASE}/destination");
    let reply = ctx
        .call(Auth::Bearer, Method::POST, &path, Some(&body), GRANT)
        .await?;
    if reply.status.is_success()
        && let Some(id) = location_id(&reply)
    {
        return Ok(id);
    }
    match error_id(&reply) {
        Some(195_021) => ours(&destinations(ctx).await?).ok_or_else(|| WebhookError::Answered {
            detail: "eBay says a destination exists for the endpoint, but lists none".to_owned(),
            next: "look at the destinations in eBay's developer portal, then run `webhooks \
                   sync` again"
                .to_owned(),
        }),
        Some(195_003) => Err(unexpected(
            "creating the eBay destination",
            &reply,
            "eBay wants the app's alert email first: set it with PUT \
             /commerce/notification/v1/config {\"alertEmail\": …} (or in the developer \
             portal), then run `webhooks sync` again",
        )),
        Some(195_020) => Err(unexpected(
            "creating the eBay destination",
            &reply,
            &challenge_next(ctx),
        )),
        _ => Err(unexpected(
            "creating the eBay destination",
            &reply,
            "see what eBay said, then run `webhooks sync` again",
        )),
    }
}

/// The topic's schema version to subscribe with: the first JSON-over-HTTPS payload it supports
/// that is not deprecated.
async fn schema_version(ctx: &Ctx<'_>, topic: &str) -> Result<String, WebhookError> {
    let path = format!("{BASE}/topic/{topic}");
    let reply = ctx
        .call(Auth::Bearer, Method::GET, &path, None, GRANT)
        .await?;
    if !reply.status.is_success() {
        return Err(unexpected(
            &format!("reading eBay topic {topic}"),
            &reply,
            "see what eBay said; a topic the app is not approved for must be asked for",
        ));
    }
    reply.body["supportedPayloads"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p["deprecated"] != Value::Bool(true)
                && p["deliveryProtocol"].as_str().is_none_or(|d| d == "HTTPS")
                && p["format"]
                    .as_array()
                    .is_none_or(|f| f.iter().any(|f| f == "JSON"))
        })
        .and_then(|p| p["schemaVersion"].as_str().map(str::to_owned))
        .ok_or_else(|| WebhookError::Answered {
            detail: format!("eBay's topic {topic} lists no JSON payload over HTTPS"),
            next: "subscribe it in eBay's developer portal".to_owned(),
        })
}

pub(crate) async fn create(ctx: &Ctx<'_>, topic: &str) -> Result<Created, WebhookError> {
    let destination = destination_for(ctx, topic).await?;
    let body = json!({
        "topicId": topic,
        "status": "ENABLED",
        "payload": {
            "format": "JSON",
            "schemaVersion": schema_version(ctx, topic).await?,
            "deliveryProtocol": "HTTPS",
        },
        "destinationId": destination,
    });
    let path = format!("{BASE}/subscription");
    let reply = ctx
        .call(Auth::Bearer, Method::POST, &path, Some(&body), GRANT)
        .await?;
    if reply.status.is_success() {
        return Ok(Created::New(location_id(&reply).unwrap_or_default()));
    }
    match error_id(&reply) {
        Some(195_012) => Ok(Created::Existed),
        _ => Err(unexpected(
            &format!("creating the eBay subscription to {topic}"),
            &reply,
            "see what eBay said, then run `webhooks sync` again",
        )),
    }
}

pub(crate) async fn repair(ctx: &Ctx<'_>, subscription: &Subscription) -> Result<(), WebhookError> {
    let path = format!("{BASE}/subscription/{}", subscription.id);
    let reply = ctx
        .call(Auth::Bearer, Method::GET, &path, None, GRANT)
        .await?;
    if !reply.status.is_success() {
        return Err(unexpected(
            &format!("reading eBay subscription {}", subscription.id),
            &reply,
            "run `webhooks check` again",
        ));
    }
    let destination_id = text(&reply.body, "destinationId");
    let enabled = text(&reply.body, "status") == "ENABLED";
    let destination_path = format!("{BASE}/destination/{destination_id}");
    let destination = ctx
        .call(Auth::Bearer, Method::GET, &destination_path, None, GRANT)
        .await?;
    if !destination.status.is_success() {
        return Err(unexpected(
            &format!("reading eBay destination {destination_id}"),
            &destination,
            "run `webhooks check` again",
        ));
    }
    if text(&destination.body, "status") != "ENABLED" {
        let body = json!({
            "name": text(&destination.body, "name"),
            "status": "ENABLED",
            "deliveryConfig": delivery_config(ctx, "its destination was not turned on")?,
        });
        let put = ctx
            .call(
                Auth::Bearer,
                Method::PUT,
                &destination_path,
                Some(&body),
                GRANT,
            )
            .await?;
        if !put.status.is_success() {
            let next = if error_id(&put) == Some(195_020) {
                challenge_next(ctx)
            } else {
                "see what eBay said, then run `webhooks sync` again".to_owned()
            };
            return Err(unexpected(
                &format!("turning eBay destination {destination_id} back on"),
                &put,
                &next,
            ));
        }
    }
    if !enabled {
        let enable = ctx
            .call(
                Auth::Bearer,
                Method::POST,
                &format!("{path}/enable"),
                None,
                GRANT,
            )
            .await?;
        if !enable.status.is_success() {
            return Err(unexpected(
                &format!("enabling eBay subscription {}", subscription.id),
                &enable,
                "see what eBay said, then run `webhooks sync` again",
            ));
        }
    }
    Ok(())
}
