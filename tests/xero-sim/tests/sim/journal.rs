//! The journal: every request, rejected ones too, with its answer and the token redacted.

use serde_json::json;
use xcs_xero_sim::SimConfig;

use crate::helpers::{NZ, invoice, read, start, start_with};

#[tokio::test]
async fn every_request_is_journaled_with_its_answer_and_the_token_redacted() {
    // Arrange
    let t = start();

    // Act
    let unauthorised = read(t.http.get(t.url("/Invoices")).send().await.unwrap()).await;
    let created = t
        .send(
            reqwest::Method::PUT,
            "/Invoices",
            NZ,
            &json!({"Invoices": [invoice("J-1", "AUTHORISED", &[("A", 1, "10.00")])]}),
            Some("j-key"),
        )
        .await;

    // Assert
    assert_eq!(unauthorised.status, 401);
    let journal = t.sim.journal();
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0].seq, 1);
    assert_eq!(journal[0].status, Some(401));
    let entry = &journal[1];
    assert_eq!(entry.method, "PUT");
    assert_eq!(entry.path, "/api.xro/2.0/Invoices");
    assert_eq!(entry.status, Some(created.status));
    assert_eq!(entry.tenant.as_deref(), Some(NZ.to_string().as_str()));
    assert_eq!(entry.idempotency_key.as_deref(), Some("j-key"));
    assert_eq!(
        entry.client_id.as_deref(),
        Some(xcs_xero_sim::DEMO_APP_CLIENT_ID)
    );
    assert_eq!(entry.headers["authorization"], "Bearer <redacted>");
    assert_eq!(entry.body["Invoices"][0]["InvoiceNumber"], "J-1");
    assert_eq!(entry.response["Invoices"][0]["InvoiceNumber"], "J-1");
    assert!(!entry.at.is_empty());
}

#[tokio::test]
async fn the_journal_is_appended_to_a_file_as_json_lines() {
    let path =
        std::env::temp_dir().join(format!("xero-sim-journal-{}.jsonl", uuid::Uuid::new_v4()));
    let t = start_with(SimConfig::demo().with_journal_file(&path));

    t.get("/Accounts").await;
    t.get("/TaxRates").await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["path"], "/api.xro/2.0/TaxRates");
    let _ = std::fs::remove_file(path);
}
