//! The `/__sim` admin API over HTTP, as a process outside the test would use it.

use serde_json::{Value, json};

use crate::helpers::{NZ, read, start};

#[tokio::test]
async fn the_admin_api_moves_the_clock_queues_faults_and_shows_the_store() {
    // Arrange
    let t = start();
    let admin = |path: &str| format!("{}/__sim{path}", t.sim.root_url());
    let before = t.sim.now();

    // Act
    let advanced = read(
        t.http
            .post(admin("/clock/advance"))
            .json(&json!({"seconds": 3600}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let queued = read(
        t.http
            .post(admin("/faults"))
            .json(&json!({"method": "GET", "path_prefix": "/api.xro/2.0/Accounts", "kind": "status", "status": 503, "count": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let tokens = read(
        t.http
            .post(admin("/tokens"))
            .json(&json!({"client_id": xcs_xero_sim::DEMO_APP_CLIENT_ID, "tenants": [NZ]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let faulted = read(
        t.http
            .get(t.url("/Accounts"))
            .bearer_auth(tokens.json["access_token"].as_str().unwrap())
            .header("xero-tenant-id", NZ.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let contacts = read(
        t.http
            .get(admin(&format!("/tenants/{NZ}/contacts")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let store = read(t.http.get(admin("/store")).send().await.unwrap()).await;
    let journal = read(t.http.get(admin("/journal")).send().await.unwrap()).await;
    let limits = read(
        t.http
            .put(admin("/rate-limits"))
            .json(&json!({"per_minute": 10}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let reset = read(t.http.post(admin("/reset")).send().await.unwrap()).await;

    // Assert
    assert_eq!(advanced.status, 200);
    assert!(t.sim.now() - before >= time::Duration::hours(1));
    assert!(queued.json["id"].is_number());
    assert_eq!(faulted.status, 503);
    assert!(
        contacts
            .json
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Name"] == "Ridgeway University")
    );
    let tenants = store.json["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    assert_eq!(tenants[0]["Name"], "Demo Company (NZ)");
    assert_eq!(journal.json.as_array().unwrap().len(), 1);
    assert_eq!(journal.json[0]["status"], 503);
    assert_eq!(limits.json["per_minute"], 10);
    assert_eq!(limits.json["concurrent"], 5);
    assert_eq!(reset.status, 200);
    assert_eq!(
        t.get("/Accounts").await.status,
        401,
        "tokens are forgotten on reset"
    );
}

#[tokio::test]
async fn extra_tenants_clone_the_demo_company() {
    let t = crate::helpers::start_with(
        xcs_xero_sim::SimConfig::demo()
            .with_rate_limits(xcs_xero_sim::RateLimits::unlimited())
            .with_extra_tenants(20),
    );
    let store: Value = t.sim.store();

    assert_eq!(store["tenants"].as_array().unwrap().len(), 22);
    let extra = xcs_xero_sim::seed::extra_tenant_id(20);
    assert_eq!(
        t.sim.records(extra, xcs_xero_sim::Records::Accounts).len(),
        23
    );
}
