//! The admin API under `/__sim`: move the clock, queue faults, set latency and rate limits,
//! read the store and the journal, mint tokens, add organisations, reset. Not journaled, not
//! rate-limited.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::faults::Fault;
use crate::organisations::{self, OrganisationError};
use crate::ratelimit::RateLimits;
use crate::response::SimResponse;
use crate::server::Incoming;
use crate::state::{Records, Shared};
use crate::wire;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Latency {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    client_id: String,
    #[serde(default)]
    tenants: Vec<Uuid>,
    /// The scopes to grant, space-separated; by default what the app gets.
    #[serde(default)]
    scope: Option<String>,
}

fn bad_request(detail: impl std::fmt::Display) -> SimResponse {
    SimResponse::json(400, &json!({ "error": detail.to_string() }))
}

fn parse<T: for<'de> Deserialize<'de>>(incoming: &Incoming) -> Result<T, SimResponse> {
    serde_json::from_slice(&incoming.body).map_err(bad_request)
}

fn refused(error: &OrganisationError) -> SimResponse {
    SimResponse::json(
        error.status,
        &json!({ "error": error.to_string(), "field": error.field }),
    )
}

fn ok(value: &Value) -> SimResponse {
    SimResponse::json(200, value)
}

/// Handles a `/__sim/...` request.
pub fn handle(shared: &Shared, incoming: &Incoming) -> SimResponse {
    let segments: Vec<&str> = incoming
        .path
        .trim_start_matches("/__sim")
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match (incoming.method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => ok(&json!({ "status": "ok" })),
        ("GET", ["clock"]) => ok(&json!({ "now": wire::rfc3339(shared.clock.now()) })),
        ("POST", ["clock", "advance"]) => match parse::<Advance>(incoming) {
            Ok(advance) => {
                let now = shared.clock.advance(Duration::from_secs(advance.seconds));
                ok(&json!({ "now": wire::rfc3339(now) }))
            }
            Err(response) => response,
        },
        ("GET", ["faults"]) => ok(&json!(shared.world().faults.pending())),
        ("POST", ["faults"]) => match parse::<Fault>(incoming) {
            Ok(fault) => {
                let id = shared.world().faults.push(fault);
                ok(&json!({ "id": id }))
            }
            Err(response) => response,
        },
        ("DELETE", ["faults"]) => {
            shared.world().faults.clear();
            ok(&json!({ "cleared": true }))
        }
        ("GET", ["latency"]) => ok(&json!({ "ms": shared.latency().as_millis() })),
        ("PUT" | "POST", ["latency"]) => match parse::<Latency>(incoming) {
            Ok(latency) => {
                shared.set_latency(Duration::from_millis(latency.ms));
                ok(&json!({ "ms": latency.ms }))
            }
            Err(response) => response,
        },
        ("GET", ["rate-limits"]) => ok(&json!(shared.world().limits)),
        ("PUT" | "POST", ["rate-limits"]) => match parse::<RateLimits>(incoming) {
            Ok(limits) => {
                shared.world().limits = limits;
                ok(&json!(limits))
            }
            Err(response) => response,
        },
        ("GET", ["store"]) => ok(&shared.snapshot()),
        ("GET", ["tenants", tenant, records]) => {
            let (Ok(tenant), Some(records)) = (tenant.parse::<Uuid>(), Records::parse(records))
            else {
                return SimResponse::not_found();
            };
            match shared.records(tenant, records) {
                Some(list) => ok(&Value::Array(list)),
                None => SimResponse::not_found(),
            }
        }
        ("GET", ["organisations"]) => ok(&Value::Array(shared.organisations())),
        // An organisation with its own currency, chart and tax rates, for modelling a store
        // the seed does not have (crate::organisations says what is checked, after Xero's
        // Organisation, Accounts and TaxRates docs).
        ("POST", ["organisations"]) => {
            match organisations::from_json(&incoming.body)
                .and_then(|organisation| shared.add_organisation(organisation))
            {
                Ok(answer) => SimResponse::json(201, &answer),
                Err(error) => refused(&error),
            }
        }
        // The organisation's plan (crate::plan): what an owner changing plans in Xero does.
        ("PUT" | "POST", ["organisations", tenant, "plan"]) => {
            let Ok(tenant) = tenant.parse::<Uuid>() else {
                return SimResponse::not_found();
            };
            match parse::<crate::plan::Plan>(incoming) {
                Ok(plan) => match shared.world().tenant_mut(tenant) {
                    Some(t) => {
                        t.plan = plan;
                        ok(&json!(plan))
                    }
                    None => SimResponse::not_found(),
                },
                Err(response) => response,
            }
        }
        ("POST", ["reset"]) => {
            shared.reset();
            ok(&json!({ "reset": true }))
        }
        ("GET", ["journal"]) => {
            let after = incoming
                .query
                .iter()
                .find(|(k, _)| k == "after")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            ok(&json!(shared.journal.entries_after(after)))
        }
        ("POST", ["tokens"]) => match parse::<TokenRequest>(incoming) {
            Ok(request) => {
                let now = shared.clock.now();
                let mut world = shared.world();
                let known = world.tenant_ids();
                match world.oauth.issue_directly(
                    &request.client_id,
                    &request.tenants,
                    &known,
                    request.scope.as_deref(),
                    now,
                ) {
                    Ok(tokens) => ok(&json!(tokens)),
                    Err(e) => bad_request(e),
                }
            }
            Err(response) => response,
        },
        _ => SimResponse::not_found(),
    }
}
