//! Injected faults: statuses, latency, dropped connections, and "apply then fail".

use std::time::Duration;

use serde_json::json;
use xcs_xero_sim::{Fault, FaultKind};

use crate::helpers::{NZ, invoice, read, start};

#[tokio::test]
async fn a_dropped_connection_is_a_connection_error_for_the_client_and_applies_nothing() {
    // Arrange
    let t = start();
    t.sim
        .inject_fault(Fault::new(FaultKind::Drop).method("PUT"));

    // Act
    let sent = t
        .request(reqwest::Method::PUT, "/Invoices", NZ)
        .json(&json!({"Invoices": [invoice("DROP-1", "AUTHORISED", &[("A", 1, "10.00")])]}))
        .send()
        .await;

    // Assert
    let error = sent.expect_err("no answer arrives");
    assert!(!error.is_status(), "{error}");
    assert!(t.sim.invoices(NZ).is_empty());
    let entry = t.sim.journal().pop().expect("journaled");
    assert_eq!(entry.status, None);
    assert_eq!(entry.fault.as_deref(), Some("drop"));
}

#[tokio::test]
async fn an_injected_503_is_answered_once_then_service_resumes() {
    let t = start();
    t.sim.inject_fault(
        Fault::new(FaultKind::Status {
            status: 503,
            body: None,
        })
        .path_prefix("/api.xro/2.0/Accounts"),
    );

    let first = t.get("/Accounts").await;
    let second = t.get("/Accounts").await;

    assert_eq!(first.status, 503);
    assert_eq!(second.status, 200);
}

#[tokio::test]
async fn apply_then_500_creates_the_invoice_but_reports_a_failure() {
    // Arrange
    let t = start();
    t.sim
        .inject_fault(Fault::new(FaultKind::ApplyThenStatus { status: 500 }).method("PUT"));
    let body = json!({"Invoices": [invoice("TRAP-1", "AUTHORISED", &[("A", 1, "10.00")])]});

    // Act
    let first = t.put("/Invoices", &body).await;
    let retry = t.put("/Invoices", &body).await;

    // Assert: the classic duplicate trap, caught by the unique number.
    assert_eq!(first.status, 500);
    assert_eq!(t.sim.invoices(NZ).len(), 1);
    assert_eq!(retry.status, 400);
    assert_eq!(retry.first_error(), Some("Invoice # must be unique."));
}

#[tokio::test]
async fn apply_then_drop_with_a_key_replays_the_real_answer_on_retry() {
    let t = start();
    t.sim
        .inject_fault(Fault::new(FaultKind::ApplyThenDrop).method("PUT"));
    let body = json!({"Invoices": [invoice("TRAP-2", "AUTHORISED", &[("A", 1, "10.00")])]});

    let first = t
        .request(reqwest::Method::PUT, "/Invoices", NZ)
        .header("Idempotency-Key", "order-2")
        .json(&body)
        .send()
        .await;
    let retry = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            NZ,
            &body,
            Some("order-2"),
        )
        .await;

    assert!(first.is_err());
    assert_eq!(retry.status, 200, "{}", retry.text);
    assert_eq!(retry.json["Invoices"][0]["InvoiceNumber"], "TRAP-2");
    assert_eq!(t.sim.invoices(NZ).len(), 1);
}

#[tokio::test]
async fn injected_latency_delays_the_answer_after_the_write_is_applied() {
    // Arrange
    let t = start();
    t.sim
        .inject_fault(Fault::new(FaultKind::Latency { ms: 800 }).method("PUT"));

    // Act: the client gives up before the answer comes.
    let sent = t
        .request(reqwest::Method::PUT, "/Invoices", NZ)
        .timeout(Duration::from_millis(200))
        .json(&json!({"Invoices": [invoice("SLOW-1", "AUTHORISED", &[("A", 1, "10.00")])]}))
        .send()
        .await;

    // Assert
    assert!(sent.expect_err("times out").is_timeout());
    assert_eq!(t.sim.invoices(NZ).len(), 1);
}

#[tokio::test]
async fn the_default_latency_slows_every_call() {
    let t = start();
    t.sim.set_latency(Duration::from_millis(150));

    let started = std::time::Instant::now();
    let answer = read(
        t.request(reqwest::Method::GET, "/Accounts", NZ)
            .send()
            .await
            .expect("sent"),
    )
    .await;

    assert_eq!(answer.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn a_fault_for_one_tenant_leaves_the_others_alone() {
    let t = start();
    t.sim.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            body: None,
        })
        .tenant(crate::helpers::AU)
        .times(3),
    );

    let nz = t.get("/Accounts").await;

    assert_eq!(nz.status, 200);
    assert_eq!(t.sim.pending_faults().len(), 1);
}
