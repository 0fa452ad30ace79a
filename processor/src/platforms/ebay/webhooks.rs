//! eBay notifications, through the Commerce Notification API v1 (`/commerce/notification/v1`;
//! its OpenAPI contract `commerce_notification_v1_oas3`, v1.5.1, and eBay's method pages):
//!
//! - **Two tokens.** The contract's `security` asks `api_scope` alone for `destination` and
//!   `topic`, which the method pages say is an application token ("created with the client
//!   credentials grant flow"); `subscription` also takes `commerce.notification.subscription`,
//!   the seller's user token, under which a seller's topic (`ORDER_CONFIRMATION`) is subscribed
//!   and listed. So destinations and topics are asked with an application token minted from the
//!   app's keyset (`[shops.NAME.api] key = "client_id:client_secret"`, at
//!   `/identity/v1/oauth2/token`), subscriptions with the shop's token. UNSURE whether eBay also
//!   takes a user token granted `api_scope` for destinations: without a key the shop's token is
//!   tried, and a refusal says to set the key.
//! - A **destination** is an endpoint with its verification token (`deliveryConfig.endpoint`,
//!   `.verificationToken`) and a `status`: `ENABLED`, `DISABLED`, or `MARKED_DOWN`, which "is set
//!   by eBay systems" after repeated failed deliveries. Destinations are the application's, one
//!   per endpoint (409 195021 "Destination exists for this endpoint"). `GET /destination?limit=`
//!   (10 to 100) lists them, further pages by the answer's `next` URL. `POST /destination`
//!   creates one (201, id in `Location`) once eBay's challenge to the endpoint succeeds (409
//!   195020 otherwise; 409 195003 until the app has an alert email, `PUT /config`). `PUT
//!   /destination/{id}` (the whole request: name, status, delivery config; 204) turns one back
//!   on and is challenged again (UNSURE whether eBay also marks one up by itself, as its legacy
//!   notifications did).
//! - A **subscription** joins a topic to a destination with a payload (format `JSON`, a schema
//!   version the topic supports, `HTTPS`) and `status` `ENABLED` or `DISABLED`. `GET
//!   /subscription?limit=` lists the token's (paged as destinations); `POST /subscription`
//!   creates one (201, `Location`); "each application and topic-schema pairing to a subscription
//!   should have a 1:1 cardinality", so a second one is refused 409 195012 "Subscription already
//!   exists" (counted as there already) and one pointing elsewhere cannot be joined by ours.
//!   `POST /subscription/{id}/enable` (204) turns one back on, 409 195015 while its destination
//!   is not enabled, so the destination goes first. `GET /topic/{topic_id}` names the schema
//!   versions. A topic the token's scopes do not cover is 403 195011.
//! - "Pointing elsewhere" is a subscription whose destination's endpoint is not ours.
//! - The ingress answers eBay's challenge with `SHA-256(code + verification_token +
//!   endpoint_url)` from its config, so the destination must carry exactly that token and URL:
//!   sync creates and re-enables destinations only with `--ingress-config`, and a shop whose
//!   `endpoint_url` is not its address is reported.
//!
//! Topics: `ORDER_CONFIRMATION` (orders). eBay has no refund or stock topics (polling books
//! those).

use std::time::Duration;

use reqwest::Method;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use xcs_shared::EventKind;

use crate::platforms::api::{Auth, PlatformApi, Reply};
use crate::setup::webhooks::{
    Created, Ctx, Finding, Health, Listing, MAX_PAGES, Subscription, WebhookError, WebhookTopic,
    said, same_address, unexpected,
};

/// What the ingress books, by kind (`ingress/src/platforms/ebay.rs`).
pub const TOPICS: &[WebhookTopic] = &[WebhookTopic {
    name: "ORDER_CONFIRMATION",
    kinds: &[EventKind::Order],
}];

/// What the seller's token needs for subscriptions.
const USER_GRANT: &str = "give the shop's eBay user token the https://api.ebay.com/oauth/\
                          api_scope/commerce.notification.subscription scope (besides \
                          sell.fulfillment)";

/// What destinations and topics need.
const APP_GRANT: &str = "set [shops.NAME.api] key to the eBay app's keyset as \
                         \"client_id:client_secret\" (its Application Keys page): \
                         destinations and topics want an application token, minted from it";

const BASE: &str = "/commerce/notification/v1";

/// One destination as listed.
struct Destination {
    id: String,
    name: String,
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

/// `grant` for this shop.
fn grant(ctx: &Ctx<'_>, grant: &str) -> String {
    grant.replace("NAME", ctx.shop)
}

/// The shop's API with an application token (client credentials, `api_scope`) minted from
/// the keyset in its `key`; the shop's own token when there is no key.
async fn app_api(ctx: &Ctx<'_>) -> Result<PlatformApi, WebhookError> {
    let keyset = ctx.api.key.expose_secret();
    if keyset.is_empty() {
        return Ok(ctx.api.clone());
    }
    let refused = |detail: String| WebhookError::Refused {
        detail,
        grant: grant(ctx, APP_GRANT),
    };
    let Some((client_id, client_secret)) = keyset.split_once(':') else {
        return Err(refused(format!(
            "[shops.{}.api] key is not an eBay keyset \"client_id:client_secret\"",
            ctx.shop
        )));
    };
    let url = format!(
        "{}/identity/v1/oauth2/token",
        ctx.api.base_url.trim_end_matches('/')
    );
    let unavailable = |err: reqwest::Error| {
        WebhookError::Unavailable(format!(
            "POST /identity/v1/oauth2/token: {}",
            err.without_url()
        ))
    };
    let response = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .expect("a plain HTTP client builds")
        .post(url)
        .basic_auth(client_id, Some(client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "https://api.ebay.com/oauth/api_scope"),
        ])
        .send()
        .await
        .map_err(unavailable)?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(WebhookError::Unavailable(format!(
            "POST /identity/v1/oauth2/token answered {status}"
        )));
    }
    match body["access_token"].as_str() {
        Some(token) if status.is_success() => Ok(PlatformApi {
            token: SecretString::from(token.to_owned()),
            ..ctx.api.clone()
        }),
        // eBay answers a wrong keyset 401 `invalid_client`; what it says names no secret.
        _ => Err(refused(format!(
            "eBay's token endpoint refused the keyset ({status}{})",
            said(&body)
        ))),
    }
}

/// Every page of a Notification API list (`destinations` or `subscriptions`).
async fn list_all(
    ctx: &Ctx<'_>,
    resource: &str,
    field: &str,
    grant: &str,
) -> Result<Vec<Value>, WebhookError> {
    let mut path = format!("{BASE}/{resource}?limit=100");
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let reply = ctx
            .call(Auth::Bearer, Method::GET, &path, None, grant)
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

/// The application's destinations; `app` carries the application token.
async fn destinations(app: &Ctx<'_>) -> Result<Vec<Destination>, WebhookError> {
    Ok(
        list_all(app, "destination", "destinations", &grant(app, APP_GRANT))
            .await?
            .iter()
            .map(|d| Destination {
                id: text(d, "destinationId"),
                name: text(d, "name"),
                endpoint: text(&d["deliveryConfig"], "endpoint"),
                status: text(d, "status"),
            })
            .collect(),
    )
}

pub(crate) async fn list(ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    let api = app_api(ctx).await?;
    let destinations = destinations(&Ctx { api: &api, ..*ctx }).await?;
    let mut listing = Listing::default();
    for sub in list_all(ctx, "subscription", "subscriptions", USER_GRANT).await? {
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

/// What to do after eBay refused to create or update a destination.
fn destination_next(ctx: &Ctx<'_>, reply: &Reply) -> String {
    match error_id(reply) {
        Some(195_020) => format!(
            "eBay's challenge to {} failed or was not answered: the ingress must be reachable \
             there and [shops.{}] in its config must have that exact endpoint_url and the \
             verification token; check `xcs-ingress --check-config`, then run `webhooks sync` \
             again",
            ctx.address, ctx.shop
        ),
        Some(195_003) => "eBay wants the app's alert email first: set it with PUT \
                          /commerce/notification/v1/config {\"alertEmail\": …} (or in the \
                          developer portal), then run `webhooks sync` again"
            .to_owned(),
        _ => "see what eBay said, then run `webhooks sync` again".to_owned(),
    }
}

/// Turns `destination` back on, with the delivery config the ingress answers to.
async fn enable_destination(app: &Ctx<'_>, destination: &Destination) -> Result<(), WebhookError> {
    let body = json!({
        "name": destination.name,
        "status": "ENABLED",
        "deliveryConfig": delivery_config(app, "its destination was not turned on")?,
    });
    let path = format!("{BASE}/destination/{}", destination.id);
    let reply = app
        .call(
            Auth::Bearer,
            Method::PUT,
            &path,
            Some(&body),
            &grant(app, APP_GRANT),
        )
        .await?;
    if reply.status.is_success() {
        return Ok(());
    }
    Err(unexpected(
        &format!("turning eBay destination {} back on", destination.id),
        &reply,
        &destination_next(app, &reply),
    ))
}

/// Our enabled destination's id: created when there is none, turned on when it is off.
async fn destination_for(app: &Ctx<'_>, topic: &str) -> Result<String, WebhookError> {
    let ours = |list: Vec<Destination>| {
        list.into_iter()
            .find(|d| same_address(&d.endpoint, app.address))
    };
    if let Some(destination) = ours(destinations(app).await?) {
        if destination.status != "ENABLED" {
            enable_destination(app, &destination).await?;
        }
        return Ok(destination.id);
    }
    let body = json!({
        "name": format!("xcs {}", app.shop).chars().take(64).collect::<String>(),
        "status": "ENABLED",
        "deliveryConfig": delivery_config(app, &format!("{topic} not created"))?,
    });
    let path = format!("{BASE}/destination");
    let reply = app
        .call(
            Auth::Bearer,
            Method::POST,
            &path,
            Some(&body),
            &grant(app, APP_GRANT),
        )
        .await?;
    if reply.status.is_success()
        && let Some(id) = location_id(&reply)
    {
        return Ok(id);
    }
    Err(unexpected(
        "creating the eBay destination",
        &reply,
        &destination_next(app, &reply),
    ))
}

/// The topic's schema version to subscribe with: the first JSON-over-HTTPS payload it supports
/// that is not deprecated.
async fn schema_version(app: &Ctx<'_>, topic: &str) -> Result<String, WebhookError> {
    let path = format!("{BASE}/topic/{topic}");
    let reply = app
        .call(
            Auth::Bearer,
            Method::GET,
            &path,
            None,
            &grant(app, APP_GRANT),
        )
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
    let api = app_api(ctx).await?;
    let app = Ctx { api: &api, ..*ctx };
    let destination = destination_for(&app, topic).await?;
    let body = json!({
        "topicId": topic,
        "status": "ENABLED",
        "payload": {
            "format": "JSON",
            "schemaVersion": schema_version(&app, topic).await?,
            "deliveryProtocol": "HTTPS",
        },
        "destinationId": destination,
    });
    let path = format!("{BASE}/subscription");
    let reply = ctx
        .call(Auth::Bearer, Method::POST, &path, Some(&body), USER_GRANT)
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
    // Read again: another topic's repair may have turned the shared destination on already.
    let path = format!("{BASE}/subscription/{}", subscription.id);
    let reply = ctx
        .call(Auth::Bearer, Method::GET, &path, None, USER_GRANT)
        .await?;
    if !reply.status.is_success() {
        return Err(unexpected(
            &format!("reading eBay subscription {}", subscription.id),
            &reply,
            "run `webhooks check` again",
        ));
    }
    let destination_id = text(&reply.body, "destinationId");
    let api = app_api(ctx).await?;
    let app = Ctx { api: &api, ..*ctx };
    let destination = app
        .call(
            Auth::Bearer,
            Method::GET,
            &format!("{BASE}/destination/{destination_id}"),
            None,
            &grant(&app, APP_GRANT),
        )
        .await?;
    if !destination.status.is_success() {
        return Err(unexpected(
            &format!("reading eBay destination {destination_id}"),
            &destination,
            "run `webhooks check` again",
        ));
    }
    if text(&destination.body, "status") != "ENABLED" {
        let destination = Destination {
            id: destination_id,
            name: text(&destination.body, "name"),
            endpoint: text(&destination.body["deliveryConfig"], "endpoint"),
            status: text(&destination.body, "status"),
        };
        enable_destination(&app, &destination).await?;
    }
    if text(&reply.body, "status") != "ENABLED" {
        let enable = ctx
            .call(
                Auth::Bearer,
                Method::POST,
                &format!("{path}/enable"),
                None,
                USER_GRANT,
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
