//! WooCommerce REST API v3 webhooks, `/wp-json/wc/v3/webhooks`, as WooCommerce's "REST API:
//! Webhooks" reference and its source (`WC_REST_Webhooks_V1_Controller`, `WC_Webhook`,
//! `WC_REST_Authentication`) have them:
//! - A webhook has `status` `active`, `paused` ("delivery paused by admin") or `disabled`
//!   ("delivery paused by failure"), `topic` (`resource.event`), `delivery_url` and a write-only
//!   `secret` (context `edit`: in the answers to create and update, never in a list). The store
//!   lists every webhook, whoever made it.
//! - `GET /webhooks`: `per_page` 1 to 100 (default 10; else 400 `rest_invalid_param`), `page`
//!   from 1, `status` (`all` by default); newest first; `X-WP-Total` and `X-WP-TotalPages`.
//! - `POST /webhooks` (201): `topic` and `delivery_url` required; a topic that is no valid one
//!   is 400 `woocommerce_rest_shop_webhook_invalid_topic`, a missing URL 400
//!   `…_invalid_delivery_url` (UNSURE: the codes are the controller's, as read from its source;
//!   this fake does not send WooCommerce's ping). Without a `secret` one is generated.
//! - `PUT`, `POST` or `PATCH /webhooks/{id}` (200) changes what it sends; an unknown id is 404
//!   `woocommerce_rest_shop_webhook_invalid_id`. A status outside the three is 400.
//! - A REST key with Read access may list; a write with it is 401
//!   `woocommerce_rest_authentication_error` "The API key provided does not have write
//!   permissions." (`WC_REST_Authentication::check_permissions`).

use actix_web::{HttpRequest, HttpResponse};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{App, Stored, id_of, now_rfc3339, param};
use crate::platform_api::{State, credentials};

const PATH: &str = "/wp-json/wc/v3/webhooks";

/// Topics WooCommerce accepts (its core resources and events, and `action.*`).
fn valid_topic(topic: &str) -> bool {
    if topic.starts_with("action.") && topic.len() > "action.".len() {
        return true;
    }
    let Some((resource, event)) = topic.split_once('.') else {
        return false;
    };
    matches!(resource, "coupon" | "customer" | "order" | "product")
        && matches!(event, "created" | "updated" | "deleted" | "restored")
}

/// What the request's key may do.
#[derive(PartialEq)]
enum Access {
    ReadWrite,
    Read,
    None,
}

fn access(request: &HttpRequest) -> Access {
    use credentials::*;
    let basic = |key: &str, secret: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"))
        )
    };
    let header = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if header == Some(&basic(WOOCOMMERCE_KEY, WOOCOMMERCE_SECRET)) {
        Access::ReadWrite
    } else if header == Some(&basic(WOOCOMMERCE_READ_KEY, WOOCOMMERCE_READ_SECRET)) {
        Access::Read
    } else {
        Access::None
    }
}

fn wp_error(status: u16, code: &str, message: &str) -> (u16, HttpResponse) {
    let http = actix_web::http::StatusCode::from_u16(status).expect("a status code");
    let mut response = HttpResponse::build(http);
    if status == 401 {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"WooCommerce REST API\""));
    }
    (
        status,
        response.json(json!({"code": code, "message": message, "data": {"status": status}})),
    )
}

pub(super) fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<(u16, HttpResponse)> {
    let one = match path.strip_prefix(PATH)? {
        "" => None,
        rest => Some(rest.strip_prefix('/')?.to_owned()),
    };
    let method = request.method().as_str();
    let access = access(request);
    if access == Access::None {
        return Some(match method {
            "GET" => wp_error(
                401,
                "woocommerce_rest_cannot_view",
                "Sorry, you cannot list resources.",
            ),
            _ => wp_error(
                401,
                "woocommerce_rest_cannot_create",
                "Sorry, you are not allowed to create resources.",
            ),
        });
    }
    if method != "GET" && access == Access::Read {
        return Some(wp_error(
            401,
            "woocommerce_rest_authentication_error",
            "The API key provided does not have write permissions.",
        ));
    }
    Some(match (one, method) {
        (None, "GET") => list(state, query),
        (None, "POST") => create(state, body),
        (Some(id), "GET") => match find(state, &id) {
            Some(webhook) => (200, HttpResponse::Ok().json(view(&webhook))),
            None => invalid_id(),
        },
        (Some(id), "PUT" | "POST" | "PATCH") => update(state, &id, body),
        _ => wp_error(
            404,
            "rest_no_route",
            "No route was found matching the URL and request method.",
        ),
    })
}

fn invalid_id() -> (u16, HttpResponse) {
    wp_error(
        404,
        "woocommerce_rest_shop_webhook_invalid_id",
        "Invalid ID.",
    )
}

/// A webhook as a list shows it (context `view`): without its secret.
fn view(webhook: &Value) -> Value {
    let mut shown = webhook.clone();
    if let Some(fields) = shown.as_object_mut() {
        fields.remove("secret");
    }
    shown
}

fn find(state: &State, id: &str) -> Option<Value> {
    state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .find(|s| id_of(state.platform, &s.hook) == id)
        .map(|s| s.hook.clone())
}

fn list(state: &State, query: &[(String, String)]) -> (u16, HttpResponse) {
    let invalid = |param: &str, why: &str| {
        (
            400,
            HttpResponse::BadRequest().json(json!({
                "code": "rest_invalid_param",
                "message": format!("Invalid parameter(s): {param}"),
                "data": {"status": 400, "params": {param: why}},
            })),
        )
    };
    let per_page = match param(query, "per_page").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return invalid(
                "per_page",
                "per_page must be between 1 (inclusive) and 100 (inclusive)",
            );
        }
    };
    let page = match param(query, "page").map(str::parse::<usize>) {
        None => 1,
        Some(Ok(n)) if n >= 1 => n,
        Some(_) => return invalid("page", "page must be greater than or equal to 1"),
    };
    let status = param(query, "status").unwrap_or("all");
    let mut all: Vec<Value> = state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .map(|s| view(&s.hook))
        .filter(|h| status == "all" || h["status"] == status)
        .collect();
    all.sort_by_key(|h| std::cmp::Reverse(h["id"].as_u64()));
    let total = all.len();
    let pages = total.div_ceil(per_page);
    let shown: Vec<Value> = all
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    (
        200,
        HttpResponse::Ok()
            .insert_header(("X-WP-Total", total.to_string()))
            .insert_header(("X-WP-TotalPages", pages.to_string()))
            .json(shown),
    )
}

/// Applies the writable fields of `input` to `webhook`; the refusal when one is wrong.
fn apply(webhook: &mut Value, input: &Value) -> Option<(u16, HttpResponse)> {
    for field in ["name", "topic", "delivery_url", "secret", "status"] {
        if let Some(value) = input[field].as_str() {
            webhook[field] = Value::String(value.to_owned());
        }
    }
    let topic = webhook["topic"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if !valid_topic(&topic) {
        return Some(wp_error(
            400,
            "woocommerce_rest_shop_webhook_invalid_topic",
            "Webhook topic is required and must be valid.",
        ));
    }
    let url = webhook["delivery_url"].as_str().unwrap_or_default();
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Some(wp_error(
            400,
            "woocommerce_rest_shop_webhook_invalid_delivery_url",
            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
        ));
    }
    if !matches!(
        webhook["status"].as_str(),
        Some("active" | "paused" | "disabled")
    ) {
        return Some(wp_error(
            400,
            "rest_invalid_param",
            "Invalid parameter(s): status",
        ));
    }
    let (resource, event) = topic.split_once('.').unwrap_or((&topic, ""));
    webhook["topic"] = Value::String(topic.clone());
    webhook["resource"] = Value::String(resource.to_owned());
    webhook["event"] = Value::String(event.to_owned());
    None
}

fn create(state: &State, body: &[u8]) -> (u16, HttpResponse) {
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let now = now_rfc3339();
    let mut webhook = json!({
        "name": format!("Webhook created on {now}"),
        "status": "active",
        // WooCommerce generates one (`wp_generate_password( 50 )`) when none is given: a
        // secret nobody else knows.
        "secret": uuid::Uuid::new_v4().simple().to_string(),
        "date_created": now,
        "date_modified": now,
    });
    if let Some(refusal) = apply(&mut webhook, &input) {
        return refusal;
    }
    let mut hooks = state.hooks.lock().unwrap();
    webhook["id"] = Value::from(hooks.next_id());
    hooks.subscriptions.push(Stored {
        app: App::Ours,
        hook: webhook.clone(),
    });
    (201, HttpResponse::Created().json(webhook))
}

fn update(state: &State, id: &str, body: &[u8]) -> (u16, HttpResponse) {
    let Some(mut webhook) = find(state, id) else {
        return invalid_id();
    };
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(refusal) = apply(&mut webhook, &input) {
        return refusal;
    }
    webhook["date_modified"] = Value::String(now_rfc3339());
    let mut hooks = state.hooks.lock().unwrap();
    if let Some(stored) = hooks
        .subscriptions
        .iter_mut()
        .find(|s| id_of(state.platform, &s.hook) == id)
    {
        stored.hook = webhook.clone();
    }
    (200, HttpResponse::Ok().json(webhook))
}
