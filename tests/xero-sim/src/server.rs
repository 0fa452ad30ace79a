//! The HTTP front: one catch-all handler that runs every API request through the same pipeline
//! in Xero's order (authenticate, rate-limit, idempotency, then the call itself), applies
//! injected faults and latency, and journals the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use uuid::Uuid;

use crate::accounting::{self, Ctx};
use crate::admin;
use crate::faults::{self, FaultKind};
use crate::idempotency::{self, Fingerprint, Lookup, MAX_KEY_LEN};
use crate::journal::{self, JournalEntry};
use crate::oauth::{self, Caller};
use crate::response::SimResponse;
use crate::state::{Shared, World};
use crate::wire;

/// Base path of the Accounting API.
pub const API_BASE: &str = "/api.xro/2.0";

/// A request, read once into plain data.
#[derive(Debug)]
pub struct Incoming {
    /// Upper-case method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub raw_query: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Headers with lower-case names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: web::Bytes,
}

impl Incoming {
    fn from_request(req: &HttpRequest, body: web::Bytes) -> Self {
        Self {
            method: req.method().as_str().to_ascii_uppercase(),
            path: req.path().to_owned(),
            raw_query: req.query_string().to_owned(),
            query: oauth::parse_form(req.query_string()),
            headers: req
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
        }
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_write(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH")
    }
}

/// What the pipeline decided, for the HTTP answer and the journal.
struct Outcome {
    /// `None`: close the connection without answering.
    response: Option<SimResponse>,
    tenant: Option<Uuid>,
    client_id: Option<String>,
    fault: Option<String>,
    replayed: bool,
}

impl Outcome {
    fn answer(response: SimResponse) -> Self {
        Self {
            response: Some(response),
            tenant: None,
            client_id: None,
            fault: None,
            replayed: false,
        }
    }
}

/// The catch-all actix handler.
pub async fn dispatch(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Arc<Shared>>,
) -> HttpResponse {
    let incoming = Incoming::from_request(&req, body);
    if incoming.path.starts_with("/__sim") {
        return into_http(Some(admin::handle(&shared, &incoming)));
    }
    let at = shared.clock.now();
    let outcome = handle(&shared, &incoming).await;
    record(&shared, &incoming, &outcome, at);
    into_http(outcome.response)
}

fn record(shared: &Shared, incoming: &Incoming, outcome: &Outcome, at: time::OffsetDateTime) {
    let headers: BTreeMap<String, String> = incoming
        .headers
        .iter()
        .map(|(k, v)| {
            let value = if k == "authorization" {
                let scheme = v.split_whitespace().next().unwrap_or_default();
                format!("{scheme} <redacted>")
            } else {
                v.clone()
            };
            (k.clone(), value)
        })
        .collect();
    shared.journal.record(JournalEntry {
        seq: 0,
        at: wire::rfc3339(at),
        method: incoming.method.clone(),
        path: incoming.path.clone(),
        query: incoming.raw_query.clone(),
        tenant: outcome
            .tenant
            .map(|t| t.to_string())
            .or_else(|| incoming.header("xero-tenant-id").map(str::to_owned)),
        client_id: outcome.client_id.clone(),
        idempotency_key: incoming.header("idempotency-key").map(str::to_owned),
        headers,
        body: journal::body_for_journal(&incoming.body),
        status: outcome.response.as_ref().map(|r| r.status),
        response: outcome
            .response
            .as_ref()
            .map_or(serde_json::Value::Null, SimResponse::body_value),
        fault: outcome.fault.clone(),
        replayed: outcome.replayed,
    });
}

fn into_http(response: Option<SimResponse>) -> HttpResponse {
    let Some(response) = response else {
        // A body that fails before its first chunk makes actix close the connection without
        // writing the status line, so the client sees a dropped connection, not an answer.
        let failing = futures_util::stream::once(async {
            Err::<web::Bytes, std::io::Error>(std::io::Error::other("xero-sim: dropped connection"))
        });
        return HttpResponse::Ok().streaming(failing);
    };
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut builder = HttpResponse::build(status);
    if !response.body.is_empty() {
        builder.content_type(response.content_type);
    }
    for (name, value) in &response.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            builder.insert_header((name, value));
        }
    }
    builder.body(response.body)
}

enum Route<'a> {
    Accounting(Vec<&'a str>),
    Identity,
}

fn route(path: &str) -> Option<Route<'_>> {
    let lower = path.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix(&API_BASE.to_ascii_lowercase())
        && (rest.is_empty() || rest.starts_with('/'))
    {
        let segments = path[API_BASE.len()..]
            .split('/')
            .filter(|s| !s.is_empty())
            .collect();
        return Some(Route::Accounting(segments));
    }
    let identity = lower == "/connect/token"
        || lower == "/connect/revocation"
        || lower == "/identity/connect/authorize"
        || lower == "/connections"
        || lower.starts_with("/connections/");
    identity.then_some(Route::Identity)
}

async fn handle(shared: &Shared, incoming: &Incoming) -> Outcome {
    match route(&incoming.path) {
        Some(Route::Accounting(segments)) => handle_accounting(shared, incoming, &segments).await,
        Some(Route::Identity) => handle_identity(shared, incoming).await,
        None => Outcome::answer(SimResponse::not_found()),
    }
}

fn describe(kind: &FaultKind) -> String {
    match kind {
        FaultKind::Status { status, .. } => format!("status {status}"),
        FaultKind::RateLimited { retry_after_s } => format!("429, retry after {retry_after_s} s"),
        FaultKind::Latency { ms } => format!("latency {ms}ms"),
        FaultKind::Drop => "drop".to_owned(),
        FaultKind::ApplyThenStatus { status } => format!("apply then status {status}"),
        FaultKind::ApplyThenDrop => "apply then drop".to_owned(),
    }
}

/// Runs `process` under the fault that applies: returns the answer (or `None` to drop), the
/// answer to cache under an idempotency key, and the latency to add afterwards.
fn run_with_fault(
    fault: Option<&FaultKind>,
    process: impl FnOnce() -> SimResponse,
) -> (Option<SimResponse>, Option<SimResponse>, Duration) {
    match fault {
        None => {
            let response = process();
            (Some(response.clone()), Some(response), Duration::ZERO)
        }
        Some(FaultKind::Status { status, body }) => {
            let response = faults::status_response(*status, body.as_deref());
            (Some(response.clone()), Some(response), Duration::ZERO)
        }
        Some(FaultKind::RateLimited { retry_after_s }) => (
            Some(crate::ratelimit::refusal_response(
                crate::ratelimit::Problem::Minute,
                *retry_after_s,
            )),
            None,
            Duration::ZERO,
        ),
        Some(FaultKind::Latency { ms }) => {
            let response = process();
            (
                Some(response.clone()),
                Some(response),
                Duration::from_millis(*ms),
            )
        }
        Some(FaultKind::Drop) => (None, None, Duration::ZERO),
        Some(FaultKind::ApplyThenStatus { status }) => {
            let _applied = process();
            let response = faults::status_response(*status, None);
            (Some(response.clone()), Some(response), Duration::ZERO)
        }
        Some(FaultKind::ApplyThenDrop) => {
            let applied = process();
            (None, Some(applied), Duration::ZERO)
        }
    }
}

async fn handle_identity(shared: &Shared, incoming: &Incoming) -> Outcome {
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let now = shared.clock.now();
    let (response, delay, fault) = {
        let mut world = shared.world();
        let fault = world.faults.take(&incoming.method, &incoming.path, None);
        let (response, _cached, delay) =
            run_with_fault(fault.as_ref(), || identity_call(&mut world, incoming, now));
        (response, delay, fault.as_ref().map(describe))
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    Outcome {
        response,
        tenant: None,
        client_id: None,
        fault,
        replayed: false,
    }
}

fn identity_call(world: &mut World, incoming: &Incoming, now: time::OffsetDateTime) -> SimResponse {
    let authorization = incoming.header("authorization");
    let path = incoming.path.to_ascii_lowercase();
    match (incoming.method.as_str(), path.as_str()) {
        ("POST", "/connect/token") => {
            let form = oauth::parse_form(&String::from_utf8_lossy(&incoming.body));
            world.oauth.token(authorization, &form, now)
        }
        ("POST", "/connect/revocation") => {
            let form = oauth::parse_form(&String::from_utf8_lossy(&incoming.body));
            world.oauth.revoke(authorization, &form)
        }
        ("GET", "/identity/connect/authorize") => {
            let tenants = world.tenant_ids();
            world.oauth.authorize(&incoming.query, &tenants, now)
        }
        ("GET", "/connections") => {
            let names = world.tenant_names();
            world
                .oauth
                .list_connections(authorization, &incoming.query, &names, now)
        }
        ("DELETE", p) if p.starts_with("/connections/") => {
            let id = &incoming.path["/connections/".len()..];
            world.oauth.delete_connection(authorization, id, now)
        }
        _ => SimResponse::text(405, "Method not allowed"),
    }
}

async fn handle_accounting(shared: &Shared, incoming: &Incoming, segments: &[&str]) -> Outcome {
    let now = shared.clock.now();
    let caller = {
        let world = shared.world();
        world.oauth.authenticate(
            incoming.header("authorization"),
            incoming.header("xero-tenant-id"),
            now,
        )
    };
    let Caller {
        client_id,
        tenant,
        scopes: granted,
    } = match caller {
        Ok(caller) => caller,
        Err(response) => {
            let client_id = shared
                .world()
                .oauth
                .client_of(incoming.header("authorization"));
            return Outcome {
                client_id,
                ..Outcome::answer(response)
            };
        }
    };
    let outcome = |response: Option<SimResponse>, fault: Option<String>, replayed: bool| Outcome {
        response,
        tenant: Some(tenant),
        client_id: Some(client_id.clone()),
        fault,
        replayed,
    };

    // The token's scopes, checked with the credentials, before the call counts against any
    // limit (see `crate::scopes`; which answer Xero gives is a reading).
    if let Some(needed) = segments
        .first()
        .and_then(|resource| crate::scopes::required(&incoming.method, resource))
        && !crate::scopes::covers(&granted, needed)
    {
        let refusal = shared.world().readings.scope_refusal;
        return outcome(Some(refusal.response()), None, false);
    }

    // Rate limits come first, and count replays too ("Idempotency is checked after rate limits
    // have been applied").
    let (in_flight_before, _slot) = shared.in_flight.enter(&client_id, tenant);
    let admitted = {
        let mut world = shared.world();
        let limits = world.limits;
        // The organisation's plan sets its day (1,000 under the 2026 Starter API tier; notes
        // §2), the simulator's limits otherwise.
        let day_rule = crate::ratelimit::DayRule {
            limit: world
                .tenant(tenant)
                .and_then(|t| t.plan.day_limit)
                .unwrap_or(limits.per_day),
            window: world.readings.day_window,
        };
        world
            .rate
            .admit(&limits, day_rule, &client_id, tenant, in_flight_before, now)
    };
    let remaining = match admitted {
        Ok(remaining) => remaining,
        Err(refusal) => return outcome(Some(refusal), None, false),
    };

    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let now = shared.clock.now();

    let key = incoming
        .header("idempotency-key")
        .filter(|_| incoming.is_write())
        .map(str::to_owned);
    if let Some(key) = &key
        && (key.is_empty() || key.chars().count() > MAX_KEY_LEN)
    {
        return outcome(
            Some(remaining.apply(idempotency::invalid_key_response(key))),
            None,
            false,
        );
    }
    let fingerprint = Fingerprint {
        method: incoming.method.clone(),
        url: format!("{}?{}", incoming.path, incoming.raw_query),
        tenant: tenant.to_string(),
        body: incoming.body.to_vec(),
    };

    let (response, delay, fault, replayed) = {
        let mut world = shared.world();
        let lookup = match &key {
            Some(key) => world.idempotency.lookup(&client_id, key, &fingerprint, now),
            None => Lookup::Miss,
        };
        match lookup {
            Lookup::Replay(cached) => (Some(cached), Duration::ZERO, None, true),
            Lookup::Mismatch => (
                Some(idempotency::mismatch_response(
                    key.as_deref().unwrap_or_default(),
                )),
                Duration::ZERO,
                None,
                false,
            ),
            Lookup::Miss => {
                let fault = world
                    .faults
                    .take(&incoming.method, &incoming.path, Some(tenant));
                let (response, cached, delay) = run_with_fault(fault.as_ref(), || {
                    accounting_call(&mut world, &client_id, tenant, incoming, segments, now)
                });
                if let (Some(key), Some(cached)) = (&key, cached) {
                    world
                        .idempotency
                        .store(&client_id, key, fingerprint, cached, now);
                }
                (response, delay, fault.as_ref().map(describe), false)
            }
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    outcome(response.map(|r| remaining.apply(r)), fault, replayed)
}

fn accounting_call(
    world: &mut World,
    client_id: &str,
    tenant_id: Uuid,
    incoming: &Incoming,
    segments: &[&str],
    now: time::OffsetDateTime,
) -> SimResponse {
    if incoming.is_write() {
        let json = incoming.header("content-type").is_some_and(|ct| {
            ct.trim()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
        if !json {
            return SimResponse::problem(
                415,
                "Unsupported Media Type",
                "xero-sim accepts JSON only: send Content-Type: application/json",
            );
        }
    }
    // "A single POST to the Accounting or Payroll APIs has a size limit of 3.5MB" (Xero API
    // limits page; notes §3.4): refused before anything is read.
    if incoming.body.len() > world.readings.max_request_bytes {
        return SimResponse::problem(
            413,
            "Request Entity Too Large",
            &format!(
                "The request body of {} bytes exceeds the limit of {} bytes",
                incoming.body.len(),
                world.readings.max_request_bytes
            ),
        );
    }
    let lists_carry_payments = world.lists_carry_payments;
    let readings = world.readings;
    let Some(tenant) = world.tenant_mut(tenant_id) else {
        return SimResponse::problem(403, "Forbidden", "AuthenticationUnsuccessful");
    };
    let mut ctx = Ctx {
        tenant,
        client_id,
        now,
        query: &incoming.query,
        headers: &incoming.headers,
        body: &incoming.body,
        lists_carry_payments,
        readings,
    };
    accounting::handle(&mut ctx, &incoming.method, segments)
}
