//! `Idempotency-Key`: replays within 6 simulated minutes, refusal of a reused key, expiry, and
//! cached errors.

use std::time::Duration;

use serde_json::{Value, json};
use xcs_xero_sim::{Fault, FaultKind};

use crate::helpers::{NZ, invoice, start};

fn unnumbered() -> Value {
    let mut body = invoice("", "AUTHORISED", &[("A", 1, "10.00")]);
    body.as_object_mut().unwrap().remove("InvoiceNumber");
    json!({"Invoices": [body]})
}

#[tokio::test]
async fn a_replay_with_the_same_key_returns_the_cached_answer_and_creates_nothing() {
    // Arrange
    let t = start();
    let body = unnumbered();

    // Act
    let first = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-1"))
        .await;
    let replay = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-1"))
        .await;

    // Assert
    assert_eq!(first.status, 200);
    assert_eq!(replay.status, 200);
    assert_eq!(first.text, replay.text, "the whole answer is replayed");
    assert_eq!(t.sim.invoices(NZ).len(), 1);
    assert!(t.sim.journal().last().unwrap().replayed);
}

#[tokio::test]
async fn a_key_reused_on_a_different_request_is_refused() {
    let t = start();
    t.send(
        reqwest::Method::PUT,
        "/Invoices",
        NZ,
        &unnumbered(),
        Some("k-2"),
    )
    .await;

    let other = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            NZ,
            &json!({"Invoices": []}),
            Some("k-2"),
        )
        .await;

    assert_eq!(other.status, 400);
    assert_eq!(
        other.json["Detail"],
        "Idempotency Key: k-2 is used with a different request."
    );
}

#[tokio::test]
async fn a_key_is_forgotten_after_six_simulated_minutes_so_a_retry_duplicates() {
    let t = start();
    let body = unnumbered();
    t.send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-3"))
        .await;

    t.sim.advance_clock(Duration::from_secs(5 * 60 + 59));
    t.send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-3"))
        .await;
    assert_eq!(t.sim.invoices(NZ).len(), 1, "still inside the window");
    t.sim.advance_clock(Duration::from_secs(2));
    let late = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-3"))
        .await;

    assert_eq!(late.status, 200);
    assert_eq!(t.sim.invoices(NZ).len(), 2, "processed as a new request");
}

#[tokio::test]
async fn an_injected_500_is_cached_and_replayed_even_after_the_fault_is_gone() {
    // Arrange
    let t = start();
    t.sim.inject_fault(
        Fault::new(FaultKind::Status {
            status: 500,
            body: None,
        })
        .method("PUT"),
    );
    let body = unnumbered();

    // Act
    let first = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-4"))
        .await;
    let replay = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-4"))
        .await;
    let fresh_key = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-5"))
        .await;

    // Assert
    assert_eq!(first.status, 500);
    assert_eq!(replay.status, 500);
    assert_eq!(fresh_key.status, 200);
    assert_eq!(t.sim.invoices(NZ).len(), 1);
}

#[tokio::test]
async fn validation_errors_are_cached_too() {
    let t = start();
    let mut body = unnumbered();
    body["Invoices"][0]["LineItems"][0]["AccountCode"] = json!("999");

    let first = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-6"))
        .await;
    let replay = t
        .send(reqwest::Method::PUT, "/Invoices", NZ, &body, Some("k-6"))
        .await;

    assert_eq!(first.status, 400);
    assert_eq!(replay.text, first.text);
}

#[tokio::test]
async fn keys_longer_than_128_characters_are_refused() {
    let t = start();
    let long = "k".repeat(129);

    let refused = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            NZ,
            &unnumbered(),
            Some(&long),
        )
        .await;
    let longest = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            NZ,
            &unnumbered(),
            Some(&"k".repeat(128)),
        )
        .await;

    assert_eq!(refused.status, 400);
    assert_eq!(longest.status, 200);
}
