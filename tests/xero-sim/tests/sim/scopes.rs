//! OAuth scopes: each endpoint needs one, the broad and the granular scheme both satisfy it, an
//! app created under the granular scheme cannot ask for a broad one, and a Custom Connection
//! keeps the scopes it was created with.

use serde_json::{Value, json};
use xcs_xero_sim::scopes::{ScopeRefusal, ScopeScheme};
use xcs_xero_sim::seed::{Seed, SeedApp};
use xcs_xero_sim::{DEMO_APP_CLIENT_ID, RateLimits, Readings, SimConfig};

use crate::helpers::{Answer, NZ, TestSim, read, start, start_with};

const BROAD_APP: &str = "xcs-broad-app";

async fn call(
    t: &TestSim,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Answer {
    let mut request = t
        .http
        .request(method, t.url(path))
        .bearer_auth(token)
        .header("xero-tenant-id", NZ.to_string())
        .header("Accept", "application/json");
    if let Some(body) = body {
        request = request.json(body);
    }
    read(request.send().await.expect("sent")).await
}

fn payment_of(invoice: &Value) -> Value {
    json!({"Payments": [{
        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
        "Account": {"Code": "090"},
        "Amount": 1.00,
        "Date": "2026-11-20",
    }]})
}

#[tokio::test]
async fn a_token_without_the_endpoints_scope_gets_xeros_401_and_the_call_is_not_made() {
    // Arrange: invoices and settings, but no payments.
    let t = start();
    let invoice = t.authorised_invoice("SC-1").await;
    let token = t
        .sim
        .issue_tokens_with_scope(
            DEMO_APP_CLIENT_ID,
            &[NZ],
            "accounting.invoices accounting.settings",
        )
        .unwrap()
        .access_token;

    // Act
    let refused = call(
        &t,
        &token,
        reqwest::Method::PUT,
        "/Payments",
        Some(&payment_of(&invoice)),
    )
    .await;
    let listed = call(&t, &token, reqwest::Method::GET, "/Invoices", None).await;
    let contacts = call(&t, &token, reqwest::Method::GET, "/Contacts", None).await;

    // Assert
    assert_eq!(refused.status, 401, "{}", refused.text);
    assert_eq!(refused.json["Title"], "Unauthorized");
    assert_eq!(refused.json["Detail"], "AuthorizationUnsuccessful");
    assert!(t.sim.payments(NZ).is_empty(), "nothing was paid");
    assert_eq!(listed.status, 200, "accounting.invoices reads invoices");
    assert_eq!(contacts.status, 401, "contacts need accounting.contacts");
}

#[tokio::test]
async fn the_other_reading_answers_a_missing_scope_with_403() {
    let t = start();
    t.sim.set_readings(Readings {
        scope_refusal: ScopeRefusal::Forbidden,
        ..Readings::default()
    });
    let token = t
        .sim
        .issue_tokens_with_scope(DEMO_APP_CLIENT_ID, &[NZ], "accounting.invoices")
        .unwrap()
        .access_token;

    let refused = call(&t, &token, reqwest::Method::GET, "/Accounts", None).await;

    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["Detail"], "AuthorizationUnsuccessful");
}

#[tokio::test]
async fn read_scopes_read_and_do_not_write() {
    let t = start();
    let token = t
        .sim
        .issue_tokens_with_scope(
            DEMO_APP_CLIENT_ID,
            &[NZ],
            "accounting.invoices.read accounting.contacts.read",
        )
        .unwrap()
        .access_token;
    let invoice = json!({"Invoices": [{"Type": "ACCREC", "Contact": {"Name": "Read Only"},
        "LineItems": [{"Description": "x", "Quantity": 1, "UnitAmount": 1, "AccountCode": "200"}]}]});

    let read_ok = call(&t, &token, reqwest::Method::GET, "/Invoices", None).await;
    let write = call(
        &t,
        &token,
        reqwest::Method::PUT,
        "/Invoices",
        Some(&invoice),
    )
    .await;

    assert_eq!(read_ok.status, 200);
    assert_eq!(write.status, 401, "{}", write.text);
    assert!(t.sim.invoices(NZ).is_empty());
}

fn with_broad_app() -> SimConfig {
    let mut seed = Seed::demo();
    let mut app: SeedApp = seed
        .apps
        .iter()
        .find(|a| a.client_id == DEMO_APP_CLIENT_ID)
        .cloned()
        .unwrap();
    app.client_id = BROAD_APP.to_owned();
    app.scope_scheme = ScopeScheme::Broad;
    seed.apps.push(app);
    SimConfig::demo()
        .with_seed(seed)
        .with_rate_limits(RateLimits::unlimited())
}

#[tokio::test]
async fn the_broad_scheme_satisfies_the_same_endpoints_for_an_app_made_before_march_2026() {
    // Arrange
    let t = start_with(with_broad_app());
    let invoice = t.authorised_invoice("SC-2").await;
    let broad = t
        .sim
        .issue_tokens_with_scope(BROAD_APP, &[NZ], "accounting.transactions")
        .unwrap()
        .access_token;

    // Act
    let paid = call(
        &t,
        &broad,
        reqwest::Method::PUT,
        "/Payments",
        Some(&payment_of(&invoice)),
    )
    .await;
    let accounts = call(&t, &broad, reqwest::Method::GET, "/Accounts", None).await;

    // Assert
    assert_eq!(paid.status, 200, "{}", paid.text);
    assert_eq!(
        accounts.status, 401,
        "accounting.transactions does not cover settings"
    );
    // The granular app may not have it at all.
    let refused =
        t.sim
            .issue_tokens_with_scope(DEMO_APP_CLIENT_ID, &[NZ], "accounting.transactions");
    assert!(refused.is_err());
}

#[tokio::test]
async fn an_app_of_the_granular_scheme_cannot_consent_to_a_broad_scope() {
    let t = start();
    let consent = |scope: &'static str| {
        t.http
            .get(t.sim.authorize_url())
            .query(&[
                ("response_type", "code"),
                ("client_id", DEMO_APP_CLIENT_ID),
                ("redirect_uri", "http://127.0.0.1:8081/xero/callback"),
                ("scope", scope),
            ])
            .send()
    };

    let broad = read(
        consent("offline_access accounting.transactions")
            .await
            .unwrap(),
    )
    .await;
    let granular = consent("offline_access accounting.invoices accounting.payments")
        .await
        .unwrap();

    assert_eq!(broad.status, 400);
    assert!(
        broad.text.contains("Invalid scope for client"),
        "{}",
        broad.text
    );
    assert_eq!(granular.status().as_u16(), 302);
    let location = granular.headers()["location"].to_str().unwrap();
    assert!(
        location.contains("scope=offline_access+accounting.invoices+accounting.payments"),
        "{location}"
    );
}

#[tokio::test]
async fn a_custom_connection_keeps_the_scopes_it_was_created_with() {
    // Arrange: an organisation whose Custom Connection was given contacts and invoices only.
    let t = start();
    t.sim
        .add_organisation(json!({
            "Name": "Scoped Ltd",
            "BaseCurrency": "NZD",
            "CustomConnection": {
                "ClientId": "scoped-cc",
                "ClientSecret": "scoped-cc-secret",
                "Scopes": "accounting.contacts accounting.invoices"
            }
        }))
        .unwrap();
    let token_call = |scope: Option<&'static str>| {
        let mut form = vec![("grant_type", "client_credentials")];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        t.http
            .post(t.sim.token_url())
            .basic_auth("scoped-cc", Some("scoped-cc-secret"))
            .form(&form)
            .send()
    };

    // Act
    let granted = read(token_call(None).await.unwrap()).await;
    let wider = read(
        token_call(Some("accounting.contacts accounting.payments"))
            .await
            .unwrap(),
    )
    .await;
    let token = granted.json["access_token"].as_str().unwrap().to_owned();
    let get = |path: &'static str| {
        let request = t.http.get(t.url(path)).bearer_auth(&token);
        async move { read(request.send().await.unwrap()).await }
    };
    let pay = get("/Payments").await;
    let contacts = get("/Contacts").await;

    // Assert
    assert_eq!(
        granted.json["scope"],
        "accounting.contacts accounting.invoices"
    );
    assert_eq!(wider.status, 400);
    assert_eq!(wider.json["error"], "invalid_scope");
    assert_eq!(pay.status, 401, "{}", pay.text);
    assert_eq!(contacts.status, 200, "{}", contacts.text);
    // A broad scope cannot be chosen for a Custom Connection made now.
    let refused = t.sim.add_organisation(json!({
        "Name": "Broad Ltd",
        "BaseCurrency": "NZD",
        "CustomConnection": {"ClientId": "broad-cc", "ClientSecret": "s", "Scopes": "accounting.transactions"}
    }));
    let error = refused.unwrap_err();
    assert_eq!(error.field, "CustomConnection.Scopes", "{error}");
}
