//! BigCommerce Webhooks v3, under `/stores/{store_hash}/v3`, as `bigcommerce/docs`
//! (`reference/webhooks.v3.yml`, "Webhooks Overview") has them:
//! - `GET /hooks` "returns a list of all webhooks on a store associated to the `client_id` used
//!   to authenticate the request" (hooks made with another token are not seen), paged by `page`
//!   and `limit` with `meta.pagination`, filtered by `is_active`, `scope` and `destination`.
//! - `POST /hooks` with `scope`, `destination`, `is_active` and `headers` answers 200 `{data,
//!   meta}`. A missing field is 422 `errorDetailed` (`errors: {"destination":
//!   "error.path.missing"}`). "Only one webhook is allowed per unique combination of
//!   `store_id` + `client_id` + `scope` + `destination`": a second is refused 422 (UNSURE: the status and
//!   words of that refusal are not documented). The destination "must be served on port 443".
//! - `GET` and `PUT /hooks/{id}` read and change one (a PUT changes what it sends; UNSURE
//!   whether BigCommerce keeps what it leaves out: kept here); unknown is 404 "Webhook with id
//!   [{id}] not found".
//! - `GET /hooks/admin`: the notification emails, the `client_id`'s hooks and its denylisted
//!   `blocked_domains` (`destination`, `time_left`).
//! - No OAuth scope is needed ("Create and manage webhooks with the default scope of an API
//!   account").

use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::{App, Stored, id_of, param};
use crate::platform_api::{State, credentials};

/// The `client_id` of the API account whose token the fake accepts.
pub const CLIENT_ID: &str = "bc-api-account-7c1x";
const OTHER_CLIENT_ID: &str = "another-app-9q2w";
const STATUS_CODES: &str =
    "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes";

/// Fills in what BigCommerce adds to a stored hook.
pub(super) fn complete(app: App, hook: &mut Value) {
    let client = match app {
        App::Ours => CLIENT_ID,
        App::Other | App::Application => OTHER_CLIENT_ID,
    };
    hook["client_id"] = Value::String(client.to_owned());
    hook["store_hash"] = Value::String(credentials::BIGCOMMERCE_STORE_HASH.to_owned());
    for field in ["created_at", "updated_at"] {
        if hook[field].is_null() {
            hook[field] = Value::from(now());
        }
    }
    if hook["is_active"].is_null() {
        hook["is_active"] = Value::Bool(true);
    }
    if hook["headers"].is_null() {
        hook["headers"] = Value::Null;
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn problem(status: u16, title: &str, errors: Option<Value>) -> (u16, HttpResponse) {
    let http = actix_web::http::StatusCode::from_u16(status).expect("a status code");
    let mut body = json!({"status": status, "title": title, "type": STATUS_CODES});
    if let Some(errors) = errors {
        body["errors"] = errors;
    }
    (status, HttpResponse::build(http).json(body))
}

pub(super) fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Option<(u16, HttpResponse)> {
    let one = match path.strip_prefix("/v3/hooks")? {
        "" => None,
        rest => Some(rest.strip_prefix('/')?.to_owned()),
    };
    if !state.authorised(request) {
        return Some(problem(
            401,
            "Unauthorized - the v3 Auth client ID or token in the request are not a valid combination for this store.",
            None,
        ));
    }
    let method = request.method().as_str();
    Some(match (one.as_deref(), method) {
        (None, "GET") => list(state, query),
        (None, "POST") => create(state, body),
        (Some("admin"), "GET") => admin(state),
        (Some(id), "GET") => match find(state, id) {
            Some(hook) => (
                200,
                HttpResponse::Ok().json(json!({"data": hook, "meta": {}})),
            ),
            None => not_found(id),
        },
        (Some(id), "PUT") => update(state, id, body),
        _ => problem(405, "Method Not Allowed", None),
    })
}

fn not_found(id: &str) -> (u16, HttpResponse) {
    problem(404, &format!("Webhook with id [{id}] not found"), None)
}

fn ours(state: &State) -> Vec<Value> {
    state
        .hooks
        .lock()
        .unwrap()
        .subscriptions
        .iter()
        .filter(|s| s.app == App::Ours)
        .map(|s| s.hook.clone())
        .collect()
}

fn find(state: &State, id: &str) -> Option<Value> {
    ours(state)
        .into_iter()
        .find(|h| id_of(state.platform, h) == id)
}

fn list(state: &State, query: &[(String, String)]) -> (u16, HttpResponse) {
    let number = |name: &str, default: usize| {
        param(query, name).map_or(Some(default), |v| v.parse().ok().filter(|n| *n >= 1))
    };
    let (Some(page), Some(limit)) = (number("page", 1), number("limit", 50)) else {
        return problem(400, "Input is invalid.", None);
    };
    let hooks: Vec<Value> = ours(state)
        .into_iter()
        .filter(|h| {
            param(query, "is_active").is_none_or(|a| a.parse().ok() == h["is_active"].as_bool())
                && param(query, "scope").is_none_or(|s| h["scope"] == s)
                && param(query, "destination").is_none_or(|d| h["destination"] == d)
        })
        .collect();
    let total = hooks.len();
    let pages = total.div_ceil(limit).max(1);
    let data: Vec<Value> = hooks
        .into_iter()
        .skip((page - 1) * limit)
        .take(limit)
        .collect();
    let mut links = json!({"current": format!("?limit={limit}&page={page}")});
    if page < pages {
        links["next"] = Value::String(format!("?limit={limit}&page={}", page + 1));
    }
    (
        200,
        HttpResponse::Ok().json(json!({
            "data": data,
            "meta": {"pagination": {
                "total": total, "count": data.len(), "per_page": limit,
                "current_page": page, "total_pages": pages, "links": links,
            }},
        })),
    )
}

/// Checks a hook's fields; the refusal BigCommerce answers when one is wrong.
fn validate(state: &State, hook: &Value) -> Option<(u16, HttpResponse)> {
    for field in ["scope", "destination"] {
        if hook[field].as_str().is_none_or(str::is_empty) {
            return Some(problem(
                422,
                "JSON data is missing or invalid",
                Some(json!({field: "error.path.missing"})),
            ));
        }
    }
    let destination = hook["destination"].as_str().unwrap_or_default();
    let on_443 = reqwest::Url::parse(destination)
        .is_ok_and(|url| url.scheme() == "https" && url.port_or_known_default() == Some(443));
    if !on_443 {
        return Some(problem(
            422,
            "JSON data is missing or invalid",
            Some(json!({"destination": "must be served over HTTPS on port 443"})),
        ));
    }
    let taken = ours(state).iter().any(|h| {
        h["id"] != hook["id"]
            && h["scope"] == hook["scope"]
            && h["destination"] == hook["destination"]
    });
    if taken {
        return Some(problem(
            422,
            "A webhook with this scope and destination already exists",
            None,
        ));
    }
    None
}

fn create(state: &State, body: &[u8]) -> (u16, HttpResponse) {
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut hook = json!({
        "scope": input["scope"],
        "destination": input["destination"],
        "is_active": input["is_active"].as_bool().unwrap_or(true),
        "headers": input["headers"],
    });
    if let Some(refusal) = validate(state, &hook) {
        return refusal;
    }
    let mut hooks = state.hooks.lock().unwrap();
    hook["id"] = Value::from(hooks.next_id());
    complete(App::Ours, &mut hook);
    hooks.subscriptions.push(Stored {
        app: App::Ours,
        hook: hook.clone(),
    });
    (
        200,
        HttpResponse::Ok().json(json!({"data": hook, "meta": {}})),
    )
}

fn update(state: &State, id: &str, body: &[u8]) -> (u16, HttpResponse) {
    let Some(mut hook) = find(state, id) else {
        return not_found(id);
    };
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    for field in ["scope", "destination", "is_active", "headers"] {
        if let Some(value) = input.get(field) {
            hook[field] = value.clone();
        }
    }
    if let Some(refusal) = validate(state, &hook) {
        return refusal;
    }
    hook["updated_at"] = Value::from(now());
    state
        .hooks
        .lock()
        .unwrap()
        .replace_ours(state.platform, id, hook.clone());
    (
        200,
        HttpResponse::Ok().json(json!({"data": hook, "meta": {}})),
    )
}

fn admin(state: &State) -> (u16, HttpResponse) {
    let hooks_list: Vec<Value> = ours(state)
        .into_iter()
        .map(|mut h| {
            h["status"] = Value::String(
                if h["is_active"] == Value::Bool(true) {
                    "active"
                } else {
                    "deactivated"
                }
                .to_owned(),
            );
            h
        })
        .collect();
    let blocked: Vec<Value> = state
        .hooks
        .lock()
        .unwrap()
        .blocked
        .iter()
        .map(|(destination, left)| {
            json!({"destination": destination, "time_left": left, "reasons": [{
                "failure_description": "Success ratio below 90% over 2 minutes",
                "count": 100, "timestamp": now(),
            }]})
        })
        .collect();
    (
        200,
        HttpResponse::Ok().json(json!({
            "data": {"emails": [], "hooks_list": hooks_list, "blocked_domains": blocked},
            "meta": {},
        })),
    )
}
