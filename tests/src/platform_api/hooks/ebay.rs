//! eBay's OAuth client-credentials grant and the Commerce Notification API v1, as eBay's
//! contract (`commerce_notification_v1_oas3`, v1.5.1), its method pages and "Client credentials
//! grant flow" describe them:
//! - `POST /identity/v1/oauth2/token` with HTTP basic `client_id:client_secret` and the form
//!   `grant_type=client_credentials&scope=https://api.ebay.com/oauth/api_scope` answers an
//!   application token (`access_token`, `expires_in` 7200, `token_type`); a wrong keyset is 401
//!   `invalid_client`.
//! - `config`, `destination` and `topic` ask `api_scope`, "an access token created with the
//!   client credentials grant flow": the seller's user token is refused 403 with eBay's
//!   `1100 Access denied` (UNSURE: which refusal eBay gives a user token there; the method
//!   pages say only which token to use). `subscription` takes the seller's user token
//!   (`commerce.notification.subscription`), under which the seller's topics are subscribed;
//!   the application token sees the application's own subscriptions, and is refused 403
//!   195011 for a seller's topic.
//! - Lists (`GET /destination`, `/subscription`): `limit` 10 to 100 (default 20; 400 195004
//!   otherwise), `continuation_token`; `{href, limit, total, next?, destinations|subscriptions}`,
//!   `next` only while more remain.
//! - `POST /destination` (`name` at most 64, `status` `ENABLED`|`DISABLED`, `deliveryConfig`
//!   `endpoint` and `verificationToken`, 32 to 80 letters, digits, `_` or `-`: 400 195016 to
//!   195019) answers 201 with the id in `Location`; one endpoint has one destination (409
//!   195021). eBay challenges the endpoint first: `GET {endpoint}?challenge_code=…` must answer
//!   `{"challengeResponse": hex(SHA-256(code + verificationToken + endpoint))}`, else 409 195020.
//!   `PUT /destination/{id}` (the whole request; 204) is challenged the same; unknown ids are
//!   404 195022. `MARKED_DOWN` is eBay's own status, never accepted in a request.
//! - `POST /subscription` (`topicId`, `status`, `destinationId`, `payload` `{format: JSON,
//!   schemaVersion, deliveryProtocol: HTTPS}`: 400 195027, 195006, 195007, 195008, 195009,
//!   195010) answers 201 with `Location`; one per topic for the token (409 195012); `ENABLED`
//!   with a destination that is not is 409 195015. `POST /subscription/{id}/enable` and
//!   `/disable` answer 204 (enable: 409 195015 likewise); unknown ids are 404 195013.
//! - `GET /topic/{topic_id}`: its scope, `supportedPayloads` and `authorizationScopes`; unknown
//!   is 404 195002.
//!
//! The real API takes only HTTPS endpoints; this fake also takes `http://127.0.0.1`, where a
//! test's ingress answers the challenge.

use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::{App, Stored, id_of, now_rfc3339, param};
use crate::platform_api::{State, credentials};

const BASE: &str = "/commerce/notification/v1";
const PUBLIC_BASE: &str = "https://api.ebay.com/commerce/notification/v1";

/// What the token in the request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// The seller's user token: its subscriptions are ours.
    User,
    /// The application token minted at the token endpoint.
    Application,
}

fn token(request: &HttpRequest) -> Option<Token> {
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())?;
    if header == format!("Bearer {}", credentials::EBAY_TOKEN) {
        Some(Token::User)
    } else if header == format!("Bearer {}", credentials::EBAY_APP_TOKEN) {
        Some(Token::Application)
    } else {
        None
    }
}

/// eBay's error body: `{"errors": [{errorId, domain, category, message}]}`.
fn refuse(status: u16, error_id: u32, message: &str) -> (u16, HttpResponse) {
    let http = actix_web::http::StatusCode::from_u16(status).expect("a status code");
    let domain = if error_id < 2000 {
        "ACCESS"
    } else {
        "API_NOTIFICATION"
    };
    (
        status,
        HttpResponse::build(http).json(json!({"errors": [{
            "errorId": error_id, "domain": domain, "category": "REQUEST", "message": message,
        }]})),
    )
}

fn no_content() -> (u16, HttpResponse) {
    (204, HttpResponse::NoContent().finish())
}

fn created(resource: &str, id: &str) -> (u16, HttpResponse) {
    (
        201,
        HttpResponse::Created()
            .insert_header(("Location", format!("{PUBLIC_BASE}/{resource}/{id}")))
            .finish(),
    )
}

pub(super) async fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<(u16, HttpResponse)> {
    let method = request.method().as_str();
    if path == "/identity/v1/oauth2/token" {
        return Some(mint(request, body));
    }
    let rest = path.strip_prefix(BASE)?.strip_prefix('/')?;
    let Some(token) = token(request) else {
        return Some(refuse(
            401,
            1001,
            "Invalid access token. Check the value of the Authorization HTTP request header.",
        ));
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let application_only = matches!(parts[0], "destination" | "topic" | "config");
    if application_only && token != Token::Application {
        return Some(refuse(403, 1100, "Access denied"));
    }
    let owner = match token {
        Token::User => App::Ours,
        Token::Application => App::Application,
    };
    Some(match (parts.as_slice(), method) {
        (["destination"], "GET") => list(state, query, "destinations", |h| h.destinations.clone()),
        (["destination"], "POST") => create_destination(state, body).await,
        (["destination", id], "GET") => match destination(state, id) {
            Some(d) => (200, HttpResponse::Ok().json(d)),
            None => refuse(404, 195_022, "Invalid or missing destination id."),
        },
        (["destination", id], "PUT") => update_destination(state, id, body).await,
        (["subscription"], "GET") => list(state, query, "subscriptions", |h| {
            h.subscriptions
                .iter()
                .filter(|s| s.app == owner)
                .map(|s| s.hook.clone())
                .collect()
        }),
        (["subscription"], "POST") => create_subscription(state, owner, body),
        (["subscription", id], "GET") => match subscription(state, owner, id) {
            Some(s) => (200, HttpResponse::Ok().json(s)),
            None => refuse(404, 195_013, "The subscription id does not exist."),
        },
        (["subscription", id, action @ ("enable" | "disable")], "POST") => {
            set_subscription_status(state, owner, id, action)
        }
        (["topic", id], "GET") => match topic(id) {
            Some(topic) => (200, HttpResponse::Ok().json(topic)),
            None => refuse(404, 195_002, "Invalid or missing topic id."),
        },
        _ => refuse(404, 2002, "Resource not found"),
    })
}

/// The client-credentials grant.
fn mint(request: &HttpRequest, body: &[u8]) -> (u16, HttpResponse) {
    let keyset = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            credentials::EBAY_CLIENT_ID,
            credentials::EBAY_CLIENT_SECRET
        ))
    );
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(keyset.as_str());
    if !authorised {
        return (
            401,
            HttpResponse::Unauthorized().json(json!({
                "error": "invalid_client", "error_description": "client authentication failed",
            })),
        );
    }
    let form: Vec<(String, String)> =
        actix_web::web::Query::<Vec<(String, String)>>::from_query(&String::from_utf8_lossy(body))
            .map(|q| q.into_inner())
            .unwrap_or_default();
    if param(&form, "grant_type") != Some("client_credentials") {
        return (
            400,
            HttpResponse::BadRequest().json(json!({
                "error": "unsupported_grant_type",
                "error_description": "grant type in request is not supported by the authorization server",
            })),
        );
    }
    (
        200,
        HttpResponse::Ok().json(json!({
            "access_token": credentials::EBAY_APP_TOKEN,
            "expires_in": 7200,
            "token_type": "Application Access Token",
        })),
    )
}

fn list(
    state: &State,
    query: &[(String, String)],
    field: &str,
    items: impl Fn(&super::Hooks) -> Vec<Value>,
) -> (u16, HttpResponse) {
    let limit = match param(query, "limit").map(str::parse::<usize>) {
        None => 20,
        Some(Ok(n)) if (10..=100).contains(&n) => n,
        Some(_) => return refuse(400, 195_004, "Invalid limit. Supported ranges 10 - 100."),
    };
    let offset = match param(query, "continuation_token") {
        None => 0,
        Some(token) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<usize>().ok())
        {
            Some(offset) => offset,
            None => return refuse(400, 195_005, "Invalid continuation token."),
        },
    };
    let all = items(&state.hooks.lock().unwrap());
    let resource = field.trim_end_matches('s');
    let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    let mut body = json!({
        "href": format!("{PUBLIC_BASE}/{resource}?limit={limit}"),
        "limit": limit,
        "total": all.len(),
        field: page,
    });
    if offset + limit < all.len() {
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode((offset + limit).to_string());
        body["next"] = Value::String(format!(
            "{PUBLIC_BASE}/{resource}?limit={limit}&continuation_token={token}"
        ));
    }
    (200, HttpResponse::Ok().json(body))
}

fn destination(state: &State, id: &str) -> Option<Value> {
    state
        .hooks
        .lock()
        .unwrap()
        .destinations
        .iter()
        .find(|d| d["destinationId"] == id)
        .cloned()
}

fn subscription(state: &State, owner: App, id: &str) -> Option<Value> {
    state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .find(|s| s.app == owner && id_of(state.platform, &s.hook) == id)
        .map(|s| s.hook.clone())
}

/// Checks a destination request; eBay's refusal when it is wrong.
fn validate_destination(request: &Value) -> Option<(u16, HttpResponse)> {
    let name = request["name"].as_str().unwrap_or_default();
    if name.chars().count() > 64 || name.contains(['<', '>']) {
        return Some(refuse(
            400,
            195_016,
            "Invalid name. Markups or lengths greater than 64 not supported",
        ));
    }
    let endpoint = request["deliveryConfig"]["endpoint"]
        .as_str()
        .unwrap_or_default();
    let endpoint_ok = reqwest::Url::parse(endpoint).is_ok_and(|url| {
        url.scheme() == "https" || (url.scheme() == "http" && url.host_str() == Some("127.0.0.1"))
    });
    if !endpoint_ok {
        return Some(refuse(400, 195_017, "Invalid or missing endpoint."));
    }
    if !matches!(request["status"].as_str(), Some("ENABLED" | "DISABLED")) {
        return Some(refuse(
            400,
            195_018,
            "Invalid or missing destination status. Supported values:[ENABLED,DISABLED]",
        ));
    }
    let token = request["deliveryConfig"]["verificationToken"]
        .as_str()
        .unwrap_or_default();
    let token_ok = (32..=80).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !token_ok {
        return Some(refuse(
            400,
            195_019,
            "Invalid or missing verification token for this endpoint.",
        ));
    }
    None
}

/// eBay's challenge: whether `endpoint` proves it knows `token`.
async fn challenge(endpoint: &str, token: &str) -> bool {
    let code = uuid::Uuid::new_v4().simple().to_string();
    let expected = hex::encode(Sha256::digest(format!("{code}{token}{endpoint}")));
    let Ok(client) = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
    else {
        return false;
    };
    let Ok(response) = client
        .get(endpoint)
        .query(&[("challenge_code", &code)])
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    response
        .json::<Value>()
        .await
        .is_ok_and(|body| body["challengeResponse"] == expected.as_str())
}

fn endpoint_taken(state: &State, endpoint: &Value, except: Option<&str>) -> bool {
    state.hooks.lock().unwrap().destinations.iter().any(|d| {
        d["deliveryConfig"]["endpoint"] == *endpoint
            && except.is_none_or(|id| d["destinationId"] != id)
    })
}

/// A destination as a create or update asks for it, once eBay's checks pass: the request, its
/// endpoint and verification token (the endpoint answered the challenge); else eBay's refusal.
/// `replacing` is the destination an update changes, whose own endpoint is not taken.
async fn checked_destination(
    state: &State,
    body: &[u8],
    replacing: Option<&str>,
) -> Result<(Value, String, String), (u16, HttpResponse)> {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(refusal) = validate_destination(&request) {
        return Err(refusal);
    }
    let config = &request["deliveryConfig"];
    if endpoint_taken(state, &config["endpoint"], replacing) {
        return Err(refuse(409, 195_021, "Destination exists for this endpoint"));
    }
    let endpoint = config["endpoint"].as_str().unwrap_or_default().to_owned();
    let token = config["verificationToken"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if !challenge(&endpoint, &token).await {
        return Err(refuse(
            409,
            195_020,
            "Challenge verification failed for requested endpoint",
        ));
    }
    Ok((request, endpoint, token))
}

async fn create_destination(state: &State, body: &[u8]) -> (u16, HttpResponse) {
    let (request, endpoint, token) = match checked_destination(state, body, None).await {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    let mut hooks = state.hooks.lock().unwrap();
    let id = format!("dest-{}", hooks.next_id());
    hooks.destinations.push(json!({
        "destinationId": id,
        "name": request["name"],
        "status": request["status"],
        "deliveryConfig": {"endpoint": endpoint, "verificationToken": token},
    }));
    created("destination", &id)
}

async fn update_destination(state: &State, id: &str, body: &[u8]) -> (u16, HttpResponse) {
    if destination(state, id).is_none() {
        return refuse(404, 195_022, "Invalid or missing destination id.");
    }
    let (request, endpoint, token) = match checked_destination(state, body, Some(id)).await {
        Ok(checked) => checked,
        Err(refusal) => return refusal,
    };
    let mut hooks = state.hooks.lock().unwrap();
    if let Some(destination) = hooks
        .destinations
        .iter_mut()
        .find(|d| d["destinationId"] == id)
    {
        destination["name"] = request["name"].clone();
        destination["status"] = request["status"].clone();
        destination["deliveryConfig"] = json!({"endpoint": endpoint, "verificationToken": token});
    }
    no_content()
}

fn destination_enabled(state: &State, id: &Value) -> bool {
    state
        .hooks
        .lock()
        .unwrap()
        .destinations
        .iter()
        .any(|d| d["destinationId"] == *id && d["status"] == "ENABLED")
}

fn create_subscription(state: &State, owner: App, body: &[u8]) -> (u16, HttpResponse) {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let topic_id = request["topicId"].as_str().unwrap_or_default();
    let Some(topic) = topic(topic_id) else {
        return refuse(400, 195_027, "Invalid or missing topic id.");
    };
    // A seller's topic is subscribed under the seller's token (`scope: USER`).
    if owner == App::Application && topic["scope"] == "USER" {
        return refuse(403, 195_011, "Not authorized for this topic.");
    }
    let status = &request["status"];
    if !matches!(status.as_str(), Some("ENABLED" | "DISABLED")) {
        return refuse(400, 195_006, "Invalid or missing subscription status.");
    }
    let destination_id = &request["destinationId"];
    if destination_id
        .as_str()
        .is_none_or(|id| destination(state, id).is_none())
    {
        return refuse(400, 195_007, "Invalid or missing destination id.");
    }
    let payload = &request["payload"];
    let versions: Vec<&Value> = topic["supportedPayloads"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| &p["schemaVersion"])
        .collect();
    if !versions.contains(&&payload["schemaVersion"]) {
        return refuse(
            400,
            195_008,
            "Invalid or missing schema version. Please refer to /topic/{topic_id} for supported schema versions.",
        );
    }
    if payload["format"] != "JSON" {
        return refuse(
            400,
            195_009,
            "Specified format is not supported for the topic.",
        );
    }
    if payload["deliveryProtocol"] != "HTTPS" {
        return refuse(400, 195_010, "Invalid or missing protocol");
    }
    let exists = state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .any(|s| s.app == owner && s.hook["topicId"] == topic_id);
    if exists {
        return refuse(409, 195_012, "Subscription already exists");
    }
    if status == "ENABLED" && !destination_enabled(state, destination_id) {
        return refuse(
            409,
            195_015,
            "The subscription cannot be enabled since the destination is not enabled.",
        );
    }
    let mut hooks = state.hooks.lock().unwrap();
    let id = hooks.next_id().to_string();
    hooks.subscriptions.push(Stored {
        app: owner,
        hook: json!({
            "subscriptionId": id,
            "topicId": topic_id,
            "status": status,
            "creationDate": now_rfc3339(),
            "destinationId": destination_id,
            "payload": payload,
        }),
    });
    created("subscription", &id)
}

fn set_subscription_status(
    state: &State,
    owner: App,
    id: &str,
    action: &str,
) -> (u16, HttpResponse) {
    let Some(found) = subscription(state, owner, id) else {
        return refuse(404, 195_013, "The subscription id does not exist.");
    };
    if action == "enable" && !destination_enabled(state, &found["destinationId"]) {
        return refuse(
            409,
            195_015,
            "The subscription cannot be enabled since the destination is not enabled.",
        );
    }
    let mut hooks = state.hooks.lock().unwrap();
    if let Some(stored) = hooks
        .subscriptions
        .iter_mut()
        .find(|s| s.app == owner && id_of(state.platform, &s.hook) == id)
    {
        stored.hook["status"] = Value::String(
            if action == "enable" {
                "ENABLED"
            } else {
                "DISABLED"
            }
            .to_owned(),
        );
    }
    no_content()
}

/// The topics this fake knows, as `getTopic` returns them (UNSURE: the schema versions eBay
/// offers; `1.0` here).
fn topic(id: &str) -> Option<Value> {
    let (description, scope, context, scopes) = match id {
        "ORDER_CONFIRMATION" => (
            "A notification when a buyer buys one of the seller's items",
            "USER",
            "SELLING",
            vec!["https://api.ebay.com/oauth/api_scope/sell.fulfillment"],
        ),
        "MARKETPLACE_ACCOUNT_DELETION" => (
            "A notification when an eBay user asks for their data to be deleted",
            "APPLICATION",
            "ACCOUNT",
            vec!["https://api.ebay.com/oauth/api_scope"],
        ),
        _ => return None,
    };
    Some(json!({
        "topicId": id,
        "description": description,
        "status": "ENABLED",
        "context": context,
        "scope": scope,
        "filterable": false,
        "authorizationScopes": scopes,
        "supportedPayloads": [{
            "schemaVersion": "1.0",
            "format": ["JSON"],
            "deliveryProtocol": "HTTPS",
            "deprecated": false,
        }],
    }))
}
