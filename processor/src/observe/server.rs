//! `/healthz` (the process is up), `/readyz` (it can book events), `/metrics`, and the
//! operator's console under `/console` when an admin token is set (`crate::console`).

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};
use serde_json::json;

use super::Observer;
use crate::console::Console;

/// Serves the routes on `listener`; the returned server runs once spawned.
///
/// # Errors
/// When the listener cannot be served.
pub(crate) fn serve(
    listener: TcpListener,
    observer: Arc<Observer>,
    console: Option<Arc<Console>>,
) -> std::io::Result<Server> {
    let observer = web::Data::from(observer);
    // Probes and a scrape every few seconds: one worker is plenty, and leaves the cores to
    // booking. The console adds one, so a slow page never delays a probe.
    let workers = if console.is_some() { 2 } else { 1 };
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(observer.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
            .configure(crate::console::routes(console.clone()))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn readyz(observer: web::Data<Observer>) -> HttpResponse {
    let readiness = observer
        .health
        .readiness(observer.metrics.shards_held.get())
        .await;
    if readiness.ready() {
        HttpResponse::Ok().json(readiness)
    } else {
        HttpResponse::ServiceUnavailable().json(readiness)
    }
}

async fn metrics(observer: web::Data<Observer>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(observer.metrics.encode())
}
