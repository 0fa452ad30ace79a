//! Shopify Admin REST `Webhook` resource, as shopify.dev's "REST Admin API: Webhook" and the
//! answers apps report describe it:
//! - `GET /admin/api/{version}/webhooks.json` lists the subscriptions of the app whose token
//!   asks ("Webhook subscriptions are scoped only to the app that they're registered to";
//!   another app's are never seen). `limit` defaults to 50, at most 250; further pages by the
//!   `Link` header's `rel="next"` URL with `page_info` (as `orders.json`).
//! - `POST …/webhooks.json` with `{"webhook": {"topic", "address", "format"}}` answers 201 with
//!   the webhook. A topic that does not exist, or whose resource the token has no read scope
//!   for, is 422 `{"errors": {"topic": ["Invalid topic specified: … Does it exist? Is there a
//!   missing access scope? Topics allowed: …"]}}` (the message apps quote, e.g.
//!   gnikyt/laravel-shopify#945); a second one for the same topic and address is 422 `{"errors":
//!   {"address": ["for this topic has already been taken"]}}`; a blank address 422 `"can't be
//!   blank"` (Rails' message: UNSURE). `format` is `json` or `xml`, `json` when left out.
//! - `GET` and `PUT …/webhooks/{id}.json` read and change one (`address`, `format`, `topic`);
//!   another app's id is 404 `{"errors": "Not Found"}`.
//! - Which scope a topic needs: `read_orders` for `orders/*` and `refunds/create`,
//!   `read_inventory` for `inventory_levels/*` (the topic list's "required access scopes").

use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{App, Stored, id_of, now_rfc3339, param};
use crate::platform_api::State;

/// Topics this fake knows, and the scope each needs (`None`: none).
const TOPICS: &[(&str, Option<&str>)] = &[
    ("app/uninstalled", None),
    ("orders/create", Some("read_orders")),
    ("orders/updated", Some("read_orders")),
    ("orders/paid", Some("read_orders")),
    ("orders/cancelled", Some("read_orders")),
    ("orders/edited", Some("read_orders")),
    ("orders/fulfilled", Some("read_orders")),
    ("refunds/create", Some("read_orders")),
    ("inventory_levels/update", Some("read_inventory")),
    ("inventory_levels/connect", Some("read_inventory")),
    ("inventory_levels/disconnect", Some("read_inventory")),
];

pub(super) fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<(u16, HttpResponse)> {
    let rest = path.strip_prefix("/admin/api/")?;
    let (version, resource) = rest.split_once('/')?;
    let one = match resource {
        "webhooks.json" => None,
        _ => Some(
            resource
                .strip_prefix("webhooks/")?
                .strip_suffix(".json")?
                .to_owned(),
        ),
    };
    if !state.authorised(request) {
        return Some(error(
            401,
            json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}),
        ));
    }
    let method = request.method().as_str();
    match (one, method) {
        (None, "GET") => Some(list(state, request, version, path, query)),
        (None, "POST") => Some(create(state, version, body)),
        (Some(id), "GET") => Some(match find(state, &id) {
            Some(hook) => (200, HttpResponse::Ok().json(json!({"webhook": hook}))),
            None => not_found(),
        }),
        (Some(id), "PUT") => Some(update(state, &id, body)),
        // DELETE is Shopify's too; nothing here deletes.
        _ => Some(error(405, json!({"errors": "Method Not Allowed"}))),
    }
}

fn error(status: u16, body: Value) -> (u16, HttpResponse) {
    let code = actix_web::http::StatusCode::from_u16(status).expect("a status code");
    (status, HttpResponse::build(code).json(body))
}

fn not_found() -> (u16, HttpResponse) {
    error(404, json!({"errors": "Not Found"}))
}

fn unprocessable(field: &str, message: String) -> (u16, HttpResponse) {
    error(422, json!({"errors": {field: [message]}}))
}

fn find(state: &State, id: &str) -> Option<Value> {
    let hooks = state.hooks.lock().unwrap();
    hooks
        .subscriptions
        .iter()
        .find(|s| s.app == App::Ours && id_of(state.platform, &s.hook) == id)
        .map(|s| s.hook.clone())
}

fn list(
    state: &State,
    request: &HttpRequest,
    version: &str,
    path: &str,
    query: &[(String, String)],
) -> (u16, HttpResponse) {
    let limit = match param(query, "limit").map(str::parse::<usize>) {
        None => 50,
        Some(Ok(n)) if (1..=250).contains(&n) => n,
        Some(_) => {
            return error(400, json!({"errors": {"limit": "Limit cannot exceed 250"}}));
        }
    };
    let after: u64 = match param(query, "page_info") {
        None => 0,
        Some(cursor) => match base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse().ok())
        {
            Some(after) => after,
            None => return error(400, json!({"errors": {"page_info": "Invalid value."}})),
        },
    };
    let mut ours: Vec<Value> = state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .filter(|s| s.app == App::Ours)
        .map(|s| s.hook.clone())
        .filter(|h| h["id"].as_u64().unwrap_or(0) > after)
        .collect();
    ours.sort_by_key(|h| h["id"].as_u64());
    let more = ours.len() > limit;
    ours.truncate(limit);
    let mut response = HttpResponse::Ok();
    response.insert_header(("X-Shopify-API-Version", version.to_owned()));
    if more && let Some(last) = ours.last().and_then(|h| h["id"].as_u64()) {
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last.to_string());
        let host = request.connection_info().host().to_owned();
        response.insert_header((
            "Link",
            format!("<http://{host}{path}?limit={limit}&page_info={cursor}>; rel=\"next\""),
        ));
    }
    (200, response.json(json!({"webhooks": ours})))
}

/// The topics the token may subscribe, as Shopify lists them in its refusal.
fn allowed(state: &State) -> Vec<&'static str> {
    let hooks = state.hooks.lock().unwrap();
    TOPICS
        .iter()
        .filter(|(_, scope)| {
            scope.is_none_or(|scope| {
                hooks
                    .shopify_scopes
                    .as_ref()
                    .is_none_or(|granted| granted.iter().any(|g| g == scope))
            })
        })
        .map(|(topic, _)| *topic)
        .collect()
}

/// Checks a webhook's fields; the refusal Shopify answers when one is wrong.
fn validate(state: &State, webhook: &Value) -> Option<(u16, HttpResponse)> {
    let topic = webhook["topic"].as_str().unwrap_or_default();
    let allowed = allowed(state);
    if !allowed.contains(&topic) {
        return Some(unprocessable(
            "topic",
            format!(
                "Invalid topic specified: {topic}. Does it exist? Is there a missing access \
                 scope? Topics allowed: {}",
                allowed.join(", ")
            ),
        ));
    }
    if webhook["address"].as_str().is_none_or(str::is_empty) {
        return Some(unprocessable("address", "can't be blank".to_owned()));
    }
    if !matches!(webhook["format"].as_str(), Some("json" | "xml")) {
        return Some(unprocessable(
            "format",
            "is not included in the list".to_owned(),
        ));
    }
    let taken = state.hooks.lock().unwrap().subscriptions.iter().any(|s| {
        s.app == App::Ours
            && s.hook["id"] != webhook["id"]
            && s.hook["topic"] == webhook["topic"]
            && s.hook["address"] == webhook["address"]
    });
    if taken {
        return Some(unprocessable(
            "address",
            "for this topic has already been taken".to_owned(),
        ));
    }
    None
}

/// The request's `webhook` object; Shopify's refusal when there is none.
fn read_body(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(|b| b["webhook"].is_object())
        .map(|b| b["webhook"].clone())
}

fn missing_webhook() -> (u16, HttpResponse) {
    error(
        400,
        json!({"errors": {"webhook": "Required parameter missing or invalid"}}),
    )
}

fn create(state: &State, version: &str, body: &[u8]) -> (u16, HttpResponse) {
    let Some(input) = read_body(body) else {
        return missing_webhook();
    };
    let now = now_rfc3339();
    let mut webhook = json!({
        "address": input["address"],
        "topic": input["topic"],
        "format": input["format"].as_str().unwrap_or("json"),
        "fields": input["fields"].as_array().cloned().unwrap_or_default(),
        "metafield_namespaces": [],
        "api_version": version,
        "created_at": now,
        "updated_at": now,
    });
    if let Some(refusal) = validate(state, &webhook) {
        return refusal;
    }
    let mut hooks = state.hooks.lock().unwrap();
    let id = hooks.next_id();
    webhook["id"] = Value::from(id);
    webhook["admin_graphql_api_id"] =
        Value::String(format!("gid://shopify/WebhookSubscription/{id}"));
    hooks.subscriptions.push(Stored {
        app: App::Ours,
        hook: webhook.clone(),
    });
    (
        201,
        HttpResponse::Created().json(json!({"webhook": webhook})),
    )
}

fn update(state: &State, id: &str, body: &[u8]) -> (u16, HttpResponse) {
    let Some(mut webhook) = find(state, id) else {
        return not_found();
    };
    let Some(input) = read_body(body) else {
        return missing_webhook();
    };
    for field in ["address", "topic", "format", "fields"] {
        if !input[field].is_null() {
            webhook[field] = input[field].clone();
        }
    }
    if let Some(refusal) = validate(state, &webhook) {
        return refusal;
    }
    webhook["updated_at"] = Value::String(now_rfc3339());
    state
        .hooks
        .lock()
        .unwrap()
        .replace_ours(state.platform, id, webhook.clone());
    (200, HttpResponse::Ok().json(json!({"webhook": webhook})))
}
