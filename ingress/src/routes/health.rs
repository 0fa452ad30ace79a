//! `/healthz` (the process is up), `/readyz` (it can accept webhooks), `/metrics`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::startup::AppState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics));
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready means a webhook would be published now: connected, confirm channel open, and the
/// exchanges and shard queues present. Not ready takes the pod out of the load balancer, so
/// platforms retry against a ready replica instead of getting 503s.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let body = json!({
        "broker_connected": state.publisher.is_connected(),
        "topology_present": state.publisher.topology_present(),
    });
    if state.publisher.is_ready() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.encode())
}
