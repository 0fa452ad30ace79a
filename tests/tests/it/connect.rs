//! `xcs-processor connect`: the OAuth 2.0 authorization-code flow end to end against the Xero
//! simulator (redirect to its consent endpoint, back to the callback, tokens and organisations
//! stored in the real PostgreSQL), then the processor booking with those tokens; and the
//! refusals: a replayed or foreign state, and admin pages without the admin token.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::redirect::Policy;
use secrecy::SecretString;
use xcs_processor::config::Config;
use xcs_processor::setup::check::{self, CheckOptions};
use xcs_processor::setup::connect::AdminServer;
use xcs_shared::EventKind;
use xcs_tests::broker::TestBroker;
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, invoices_numbered, publish, test_config, wait_handled,
};
use xcs_xero_sim::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_ID,
    DEMO_APP_CLIENT_SECRET, DEMO_AU_TENANT_ID, RunningSim, SimConfig, XeroSim,
};

const ADMIN_TOKEN: &str = "admin-token-for-the-connect-tests";

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
    config: String,
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The processor's test config switched to the simulator's OAuth app.
fn oauth_config(broker: &TestBroker, schema: &TestSchema, sim: &RunningSim, port: u16) -> String {
    test_config(broker, schema, sim, "")
        .replace(
            &format!("client_id = \"{CUSTOM_CONNECTION_CLIENT_ID}\""),
            &format!("client_id = \"{DEMO_APP_CLIENT_ID}\""),
        )
        .replace(CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_SECRET)
        .replace(
            "auth = \"custom_connection\"",
            &format!(
                "auth = \"oauth\"\nredirect_uri = \"http://127.0.0.1:{port}/xero/callback\"\n\
                 authorize_url = \"{}\"\nconnections_url = \"{}\"",
                sim.authorize_url(),
                sim.connections_url()
            ),
        )
}

async fn setup() -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = oauth_config(&broker, &schema, &sim, port);
    let server = AdminServer::build(
        Config::from_toml(&config, |_| None).expect("a valid config"),
        listener,
        SecretString::from(ADMIN_TOKEN),
    )
    .await
    .expect("the admin server starts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Setup {
        broker,
        schema,
        sim,
        config,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap(),
        stop: Some(stop),
    }
}

fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("a redirect: {response:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `name=value` of the state cookie the server set.
fn state_cookie(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("xcs_xero_state="))
        .expect("a state cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

impl Setup {
    /// Starts the flow as the admin, and follows the redirect to the simulator's consent page,
    /// which answers with the redirect back: the callback URL and the browser's cookie.
    async fn consent(&self, extra_query: &str) -> (String, String) {
        let start = self
            .client
            .get(format!("{}/xero/connect", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), StatusCode::FOUND);
        let to_xero = location(&start);
        assert!(to_xero.starts_with(&self.sim.authorize_url()), "{to_xero}");
        assert!(to_xero.contains("scope=offline_access"), "{to_xero}");
        assert!(to_xero.contains("response_type=code"), "{to_xero}");
        let cookie = state_cookie(&start);
        let consent = self
            .client
            .get(format!("{to_xero}{extra_query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(consent.status(), StatusCode::FOUND, "{consent:?}");
        let back = location(&consent);
        assert!(
            back.starts_with(&format!("{}/xero/callback?code=", self.base)),
            "{back}"
        );
        (back, cookie)
    }

    async fn get_with_cookie(&self, url: &str, cookie: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

#[tokio::test]
async fn the_whole_flow_stores_the_tokens_and_the_processor_books_with_them() {
    let setup = setup().await;
    let config = Config::from_toml(&setup.config, |_| None).unwrap();
    // Before connecting, `check` says what to do.
    let report = check::run(&config, &CheckOptions::default()).await;
    let line = report
        .failures()
        .find(|l| l.subject == "Xero")
        .unwrap_or_else(|| panic!("{}", report.render_text()));
    assert!(
        line.detail.contains("no organisation has been connected"),
        "{line:?}"
    );
    assert!(
        line.next.as_deref().unwrap().contains("/xero/connect"),
        "{line:?}"
    );

    let (callback, cookie) = setup.consent("").await;
    let (status, page) = setup.get_with_cookie(&callback, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Xero is connected"), "{page}");
    // After, the connection and both shops' mappings check out with the stored tokens.
    let report = check::run(&config, &CheckOptions::default()).await;
    assert!(report.passed(), "{}", report.render_text());
    assert!(
        report
            .render_text()
            .contains("OAuth tokens stored; 2 organisations connected"),
        "{}",
        report.render_text()
    );
    assert!(page.contains("Demo Company (NZ)"), "{page}");
    assert!(page.contains("Demo Company (AU)"), "{page}");
    assert!(page.contains("nz-shopify, nz-woo"), "{page}");
    assert!(page.contains("Every configured shop books into a connected organisation"));

    let db = setup.schema.client().await;
    let token = db
        .query_one(
            "SELECT refresh_token, access_token FROM xcs_xero_tokens WHERE connection = 'default'",
            &[],
        )
        .await
        .expect("tokens stored");
    assert!(!token.get::<_, String>(0).is_empty());
    let tenants: Vec<String> = db
        .query(
            "SELECT tenant_id FROM xcs_xero_connections ORDER BY tenant_name",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tenants.len(), 2, "{tenants:?}");

    // The same callback again: the state was single-use.
    let (status, page) = setup.get_with_cookie(&callback, &cookie).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used"), "{page}");

    // The processor books with the stored tokens, and rotates them when they expire.
    let processor = TestProcessor::start(&setup.config).await;
    publish(
        &setup.broker,
        xcs_shared::Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:connect-1",
        &fixtures::shopify_nz_order(7001, 7001, true),
    )
    .await;
    let (outcome, detail) = wait_handled(
        &setup.schema,
        "shopify:nz-shopify:connect-1",
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(invoices_numbered(&setup.sim, "SH-7001").len(), 1);
    processor.stop().await;
    let rotated: String = db
        .query_one(
            "SELECT refresh_token FROM xcs_xero_tokens WHERE connection = 'default'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Fresh from the exchange, the access token needed no refresh yet.
    assert_eq!(rotated, token.get::<_, String>(0));
}

#[tokio::test]
async fn a_foreign_or_replayed_state_is_refused() {
    let setup = setup().await;
    let (callback, cookie) = setup.consent("").await;
    // Another browser (or an attacker's link) without the cookie.
    let (status, page) = setup
        .get_with_cookie(&callback, "xcs_xero_state=someone-elses")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("did not start here"), "{page}");
    // A state this server never issued, even with a matching cookie.
    let forged = format!("{}/xero/callback?code=abc&state=forged", setup.base);
    let (status, page) = setup
        .get_with_cookie(&forged, "xcs_xero_state=forged")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(page.contains("already used or has expired"), "{page}");
    // The refusals did not use the genuine state up.
    let (status, page) = setup.get_with_cookie(&callback, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let db = setup.schema.client().await;
    assert!(
        db.query_opt("SELECT 1 FROM xcs_xero_tokens", &[])
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn shops_whose_organisation_was_not_ticked_are_listed_as_not_connected() {
    let setup = setup().await;
    // Consent to the AU organisation only; the shops book into the NZ one.
    let (callback, cookie) = setup
        .consent(&format!("&tenants={DEMO_AU_TENANT_ID}"))
        .await;
    let (status, page) = setup.get_with_cookie(&callback, &cookie).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Demo Company (AU)"), "{page}");
    assert!(
        page.contains("Shops whose organisation is not connected"),
        "{page}"
    );
    assert!(page.contains("nz-shopify"), "{page}");
    assert!(page.contains("Connect"), "{page}");
}

#[tokio::test]
async fn the_admin_pages_need_the_admin_token() {
    let setup = setup().await;
    let connect = format!("{}/xero/connect", setup.base);
    let none = setup.client.get(&connect).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert!(none.text().await.unwrap().contains("XCS_ADMIN_TOKEN"));
    let wrong = setup
        .client
        .get(&connect)
        .bearer_auth("not-the-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let basic = setup
        .client
        .get(&connect)
        .basic_auth("anyone", Some(ADMIN_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::FOUND);
    let status = setup
        .client
        .get(format!("{}/xero", setup.base))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::UNAUTHORIZED);
    let status = setup
        .client
        .get(format!("{}/xero", setup.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    let page = status.text().await.unwrap();
    assert!(page.contains("None."), "{page}");
    assert!(page.contains("nz-shopify"), "{page}");
}

#[tokio::test]
async fn connect_refuses_to_start_without_what_it_needs() {
    let broker = TestBroker::empty().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).unwrap();
    let listener = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let custom = test_config(&broker, &schema, &sim, "");
    let err = AdminServer::build(
        Config::from_toml(&custom, |_| None).unwrap(),
        listener(),
        SecretString::from(ADMIN_TOKEN),
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("Custom Connection needs no connecting"),
        "{err}"
    );
    let oauth = oauth_config(&broker, &schema, &sim, 1);
    let err = AdminServer::build(
        Config::from_toml(&oauth, |_| None).unwrap(),
        listener(),
        SecretString::from("short"),
    )
    .await
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("XCS_ADMIN_TOKEN"), "{err}");
}
