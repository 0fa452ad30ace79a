//! OAuth 2.0: consent, code exchange, refresh rotation with its grace period, expiry on the
//! simulated clock, Custom Connections, and the 401/403 answers.

use std::time::Duration;

use serde_json::Value;
use xcs_xero_sim::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_ID,
    DEMO_APP_CLIENT_SECRET,
};

use crate::helpers::{AU, Answer, NZ, TestSim, read, start};

const REDIRECT: &str = "http://127.0.0.1:8081/xero/callback";

async fn token_call(t: &TestSim, form: &[(&str, &str)]) -> Answer {
    read(
        t.http
            .post(t.sim.token_url())
            .basic_auth(DEMO_APP_CLIENT_ID, Some(DEMO_APP_CLIENT_SECRET))
            .form(form)
            .send()
            .await
            .expect("sent"),
    )
    .await
}

/// Goes through consent and returns the code from the redirect.
async fn consent(t: &TestSim, extra: &[(&str, &str)]) -> String {
    let mut query = vec![
        ("response_type", "code"),
        ("client_id", DEMO_APP_CLIENT_ID),
        ("redirect_uri", REDIRECT),
        (
            "scope",
            "openid offline_access accounting.invoices accounting.settings",
        ),
        ("state", "xyz"),
    ];
    query.extend_from_slice(extra);
    let response = t
        .http
        .get(t.sim.authorize_url())
        .query(&query)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.contains("state=xyz"), "{location}");
    let query = location.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("code="))
        .expect("a code")
        .to_owned()
}

async fn accounts_with(t: &TestSim, token: &str, tenant: Option<&str>) -> Answer {
    let mut request = t.http.get(t.url("/Accounts")).bearer_auth(token);
    if let Some(tenant) = tenant {
        request = request.header("xero-tenant-id", tenant);
    }
    read(request.send().await.expect("sent")).await
}

#[tokio::test]
async fn the_authorization_code_flow_issues_tokens_that_reach_the_consented_tenants() {
    // Arrange
    let t = start();
    let code = consent(&t, &[("tenants", &NZ.to_string())]).await;

    // Act
    let tokens = token_call(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;

    // Assert
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert_eq!(tokens.json["expires_in"], 1800);
    assert_eq!(tokens.json["token_type"], "Bearer");
    let access = tokens.json["access_token"].as_str().unwrap();
    assert!(tokens.json["refresh_token"].is_string());
    let connections = read(
        t.http
            .get(t.sim.connections_url())
            .bearer_auth(access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(connections.status, 200);
    let list = connections.json.as_array().unwrap();
    assert!(list.iter().any(|c| c["tenantId"] == NZ.to_string()
        && c["tenantType"] == "ORGANISATION"
        && c["tenantName"] == "Demo Company (NZ)"
        && c["authEventId"].is_string()));
    assert_eq!(
        accounts_with(&t, access, Some(&NZ.to_string()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_authorization_code_works_once_only() {
    let t = start();
    let code = consent(&t, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];

    let first = token_call(&t, &form).await;
    let second = token_call(&t, &form).await;

    assert_eq!(first.status, 200);
    assert_eq!(second.status, 400);
    assert_eq!(second.json["error"], "invalid_grant");
}

#[tokio::test]
async fn an_authorization_code_expires_after_five_minutes() {
    let t = start();
    let code = consent(&t, &[]).await;
    t.sim.advance_clock(Duration::from_secs(301));

    let answer = token_call(
        &t,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;

    assert_eq!(answer.json["error"], "invalid_grant");
}

#[tokio::test]
async fn refreshing_rotates_the_token_and_the_old_one_works_only_for_a_thirty_minute_grace() {
    // Arrange
    let t = start();
    let first = t.sim.issue_tokens(DEMO_APP_CLIENT_ID, &[NZ]).unwrap();
    let old = first.refresh_token.unwrap();

    // Act
    let rotated = token_call(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
    )
    .await;
    let retried_in_grace = token_call(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
    )
    .await;
    t.sim.advance_clock(Duration::from_secs(30 * 60 + 1));
    let retried_after_grace = token_call(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", &old)],
    )
    .await;
    let newest = retried_in_grace.json["refresh_token"].as_str().unwrap();
    let newest_still_works = token_call(
        &t,
        &[("grant_type", "refresh_token"), ("refresh_token", newest)],
    )
    .await;

    // Assert
    assert_eq!(rotated.status, 200);
    assert_ne!(rotated.json["refresh_token"], Value::String(old.clone()));
    assert_eq!(retried_in_grace.status, 200);
    assert_eq!(retried_after_grace.status, 400);
    assert_eq!(
        retried_after_grace.json,
        serde_json::json!({"error": "invalid_grant"})
    );
    assert_eq!(newest_still_works.status, 200);
}

#[tokio::test]
async fn an_unused_refresh_token_expires_after_sixty_days() {
    let t = start();
    let tokens = t.sim.issue_tokens(DEMO_APP_CLIENT_ID, &[NZ]).unwrap();
    t.sim.advance_clock(Duration::from_secs(60 * 24 * 60 * 60));

    let answer = token_call(
        &t,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens.refresh_token.as_deref().unwrap()),
        ],
    )
    .await;

    assert_eq!(answer.json["error"], "invalid_grant");
}

#[tokio::test]
async fn an_access_token_expires_after_thirty_simulated_minutes() {
    let t = start();
    assert_eq!(t.get("/Accounts").await.status, 200);

    t.sim.advance_clock(Duration::from_secs(1800));
    let answer = t.get("/Accounts").await;

    assert_eq!(answer.status, 401);
    assert_eq!(answer.json["Title"], "Unauthorized");
    assert!(answer.json["Type"].is_null());
    let detail = answer.json["Detail"].as_str().unwrap();
    assert!(
        detail.starts_with("TokenExpired: token expired at "),
        "{detail}"
    );
}

#[tokio::test]
async fn a_missing_or_unknown_token_gets_401() {
    let t = start();

    let missing = read(
        t.http
            .get(t.url("/Accounts"))
            .header("xero-tenant-id", NZ.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    let unknown = accounts_with(&t, "not-a-token", Some(&NZ.to_string())).await;

    for answer in [missing, unknown] {
        assert_eq!(answer.status, 401);
        assert_eq!(answer.json["Detail"], "AuthenticationUnsuccessful");
    }
}

#[tokio::test]
async fn a_tenant_the_token_is_not_connected_to_gets_403() {
    // Arrange: start() connects the app to both tenants; a reset forgets that.
    let t = start();
    t.sim.reset();
    let nz_only = t
        .sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[NZ])
        .unwrap()
        .access_token;

    let answer = accounts_with(&t, &nz_only, Some(&AU.to_string())).await;
    let no_tenant = accounts_with(&t, &nz_only, None).await;

    assert_eq!(answer.status, 403);
    assert_eq!(answer.json["Title"], "Forbidden");
    assert_eq!(answer.json["Detail"], "AuthenticationUnsuccessful");
    assert_eq!(no_tenant.status, 403);
}

#[tokio::test]
async fn a_custom_connection_token_needs_no_tenant_header_and_reaches_only_its_tenant() {
    // Arrange
    let t = start();
    let tokens = read(
        t.http
            .post(t.sim.token_url())
            .basic_auth(
                CUSTOM_CONNECTION_CLIENT_ID,
                Some(CUSTOM_CONNECTION_CLIENT_SECRET),
            )
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    assert!(tokens.json.get("refresh_token").is_none());
    let access = tokens.json["access_token"].as_str().unwrap();

    // Act
    let organisation = read(
        t.http
            .get(t.url("/Organisation"))
            .bearer_auth(access)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let with_own = accounts_with(&t, access, Some(&NZ.to_string())).await;
    let with_other = accounts_with(&t, access, Some(&AU.to_string())).await;

    // Assert
    assert_eq!(
        organisation.json["Organisations"][0]["Name"],
        "Demo Company (NZ)"
    );
    assert_eq!(with_own.status, 200);
    assert_eq!(with_other.status, 403);
}

#[tokio::test]
async fn client_credentials_are_refused_for_an_app_that_is_not_a_custom_connection() {
    let t = start();

    let answer = token_call(&t, &[("grant_type", "client_credentials")]).await;
    let wrong_secret = read(
        t.http
            .post(t.sim.token_url())
            .basic_auth(DEMO_APP_CLIENT_ID, Some("wrong"))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(answer.json["error"], "unauthorized_client");
    assert_eq!(wrong_secret.json["error"], "invalid_client");
}
