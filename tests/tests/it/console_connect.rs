//! Connecting Xero from the console (`/console/xero/connect`, `/console/xero/callback`): the
//! authorization-code flow against the Xero simulator's consent and token endpoints, started
//! by a signed-in operator, finished on the same processor or on another one of the same
//! ledger (the pending state lives in PostgreSQL), and the refusals: a replayed, forged,
//! foreign or expired state, a start without a session, and a config whose `redirect_uri` is
//! not the console's.

use reqwest::redirect::Policy;
use xcs_tests::console::{ADMIN_TOKEN, ConsoleClient, env_with_console};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{Rig, SHOP, TestProcessor, WOO_SHOP};
use xcs_xero_sim::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_ID,
    DEMO_APP_CLIENT_SECRET,
};

/// The deployment's address as registered with Xero; the tests send the browser's callback to
/// whichever processor they choose, as a load balancer in front of them would.
const ADDRESS: &str = "http://127.0.0.1:9";

/// The rig's config on the simulator's OAuth app, Xero sending the browser back to the
/// console's callback.
fn oauth_config(rig: &Rig) -> String {
    rig.config("")
        .replace(
            &format!("client_id = \"{CUSTOM_CONNECTION_CLIENT_ID}\""),
            &format!("client_id = \"{DEMO_APP_CLIENT_ID}\""),
        )
        .replace(CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_APP_CLIENT_SECRET)
        .replace(
            "auth = \"custom_connection\"",
            &format!(
                "auth = \"oauth\"\nredirect_uri = \"{ADDRESS}/console/xero/callback\"\n\
                 authorize_url = \"{}\"\nconnections_url = \"{}\"",
                rig.sim.authorize_url(),
                rig.sim.connections_url()
            ),
        )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
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

/// The `Set-Cookie` header of `name`, whole.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Signs in to the console on `port` as a browser does; the session cookie (`name=value`).
async fn session(port: u16, name: &str) -> String {
    let answer = client()
        .post(format!("http://127.0.0.1:{port}/console/sign-in"))
        .form(&[("name", name), ("token", ADMIN_TOKEN), ("next", "/console")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "{answer:?}");
    let cookie = set_cookie(&answer, "xcs_console").expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// What a browser holds after starting on the console and consenting on Xero's page.
struct Consented {
    /// The callback's path and query, for any processor.
    callback: String,
    /// The browser's state cookie (`name=value`).
    cookie: String,
    state: String,
}

/// Starts connecting on the console on `port` with `session`, and consents on the
/// simulator's page, which redirects back.
async fn consent(rig: &Rig, port: u16, session: &str) -> Consented {
    let http = client();
    let start = http
        .get(format!("http://127.0.0.1:{port}/console/xero/connect"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 302, "{start:?}");
    let to_xero = location(&start);
    assert!(to_xero.starts_with(&rig.sim.authorize_url()), "{to_xero}");
    assert!(to_xero.contains("scope=offline_access"), "{to_xero}");
    let header = set_cookie(&start, "xcs_xero_state").expect("a state cookie");
    assert!(header.contains("; Path=/console/xero;"), "{header}");
    assert!(header.contains("; HttpOnly"), "{header}");
    assert!(header.contains("; SameSite=Lax"), "{header}");
    let cookie = header.split(';').next().unwrap().to_owned();
    let state = cookie.strip_prefix("xcs_xero_state=").unwrap().to_owned();
    let consent = http.get(&to_xero).send().await.unwrap();
    assert_eq!(consent.status(), 302, "{consent:?}");
    let back = location(&consent);
    let callback = back
        .strip_prefix(ADDRESS)
        .unwrap_or_else(|| panic!("Xero sent the browser back to {back}"))
        .to_owned();
    assert!(
        callback.starts_with("/console/xero/callback?code="),
        "{callback}"
    );
    assert!(callback.contains(&format!("state={state}")), "{callback}");
    Consented {
        callback,
        cookie,
        state,
    }
}

/// `GET path` on `port` with `cookie` (and nothing else: Xero's redirect brings no session).
async fn get(port: u16, path: &str, cookie: &str) -> (u16, String) {
    let mut request = client().get(format!("http://127.0.0.1:{port}{path}"));
    if !cookie.is_empty() {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn count(schema: &TestSchema, table: &str) -> i64 {
    schema
        .client()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// The `<tr>` of `shop` in the mapping page's last table that has one.
fn row(page: &str, shop: &str) -> String {
    let at = page
        .rfind(&format!("data-shop=\"{shop}\""))
        .unwrap_or_else(|| panic!("no row of {shop}: {page}"));
    let row = &page[at..];
    row[..row.find("</tr>").unwrap_or(row.len())].to_owned()
}

#[tokio::test]
async fn an_operator_connects_from_the_console_and_the_mapping_shows_the_shops_connected() {
    let rig = Rig::new().await;
    let config = oauth_config(&rig);
    let processor = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    let mut console = ConsoleClient::sign_in(processor.port, "Ana Tester").await;
    let page = console.page("/console/mapping").await;
    assert!(
        page.contains("No Xero organisation is connected yet"),
        "{page}"
    );
    assert!(page.contains("href=\"/console/xero/connect\""), "{page}");
    assert!(row(&page, SHOP).contains(">not connected<"), "{page}");

    // Without a session: to the sign-in form; with the bearer token (a script): refused.
    let (status, _) = get(processor.port, "/console/xero/connect", "").await;
    assert_eq!(status, 303);
    let bearer = client()
        .get(format!(
            "http://127.0.0.1:{}/console/xero/connect",
            processor.port
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 403);
    assert_eq!(count(&rig.schema, "xcs_oauth_states").await, 0);

    let session = session(processor.port, "Ana Tester").await;
    let consented = consent(&rig, processor.port, &session).await;
    // Xero's redirect brings the state cookie, not the console's SameSite=Strict session.
    let (status, page) = get(processor.port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Xero is connected"), "{page}");
    assert!(page.contains("Demo Company (NZ)"), "{page}");
    assert!(page.contains("Demo Company (AU)"), "{page}");
    assert!(page.contains(&format!("{SHOP}, {WOO_SHOP}")), "{page}");
    assert!(page.contains("href=\"/console/mapping\""), "{page}");
    assert_eq!(count(&rig.schema, "xcs_xero_tokens").await, 1);
    assert_eq!(count(&rig.schema, "xcs_xero_connections").await, 2);
    assert_eq!(count(&rig.schema, "xcs_oauth_states").await, 0, "used up");

    let page = console.page("/console/mapping").await;
    assert!(row(&page, SHOP).contains(">connected<"), "{page}");
    assert!(row(&page, WOO_SHOP).contains(">connected<"), "{page}");
    assert!(page.contains("Demo Company (NZ)"), "{page}");

    // The same callback again: the state was single-use.
    let (status, page) = get(processor.port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used or has expired"), "{page}");
    processor.stop().await;
}

#[tokio::test]
async fn a_connection_started_on_one_processor_completes_on_another() {
    let rig = Rig::new().await;
    let config = oauth_config(&rig);
    let a = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    let b = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    let session = session(a.port, "Ana Tester").await;
    let consented = consent(&rig, a.port, &session).await;
    // The ledger keeps a hash of the state, not the state.
    let stored: Vec<String> = rig
        .schema
        .client()
        .await
        .query("SELECT state_hash FROM xcs_oauth_states", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_ne!(stored[0], consented.state);
    assert_eq!(stored[0].len(), 64, "{stored:?}");

    let (status, page) = get(b.port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Xero is connected"), "{page}");
    assert_eq!(count(&rig.schema, "xcs_xero_connections").await, 2);
    // Used up on B, it is used up on A too.
    let (status, page) = get(a.port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used or has expired"), "{page}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_forged_foreign_expired_or_replayed_state_is_refused() {
    let rig = Rig::new().await;
    let config = oauth_config(&rig);
    let processor = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    let port = processor.port;
    let session = session(port, "Ana Tester").await;

    // A state no console issued, even with a matching cookie.
    let (status, page) = get(
        port,
        "/console/xero/callback?code=abc&state=forged",
        "xcs_xero_state=forged",
    )
    .await;
    assert_eq!(status, 400);
    assert!(page.contains("already used or has expired"), "{page}");

    // A genuine answer in another browser (an attacker's link): no cookie, or another one.
    let consented = consent(&rig, port, &session).await;
    for cookie in ["", "xcs_xero_state=someone-elses"] {
        let (status, page) = get(port, &consented.callback, cookie).await;
        assert_eq!(status, 400, "{cookie}");
        assert!(page.contains("did not start here"), "{page}");
    }
    assert_eq!(count(&rig.schema, "xcs_xero_tokens").await, 0);
    // The refusals did not use the genuine state up; once used, it is refused.
    let (status, page) = get(port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 200, "{page}");
    let (status, page) = get(port, &consented.callback, &consented.cookie).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used or has expired"), "{page}");

    // An expired state.
    let stale = consent(&rig, port, &session).await;
    rig.schema
        .client()
        .await
        .execute(
            "UPDATE xcs_oauth_states SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let (status, page) = get(port, &stale.callback, &stale.cookie).await;
    assert_eq!(status, 400);
    assert!(page.contains("already used or has expired"), "{page}");
    // Expired states are deleted when the next one is recorded.
    let _stale = consent(&rig, port, &session).await;
    rig.schema
        .client()
        .await
        .execute(
            "UPDATE xcs_oauth_states SET expires_at = now() - interval '1 second'",
            &[],
        )
        .await
        .unwrap();
    let _fresh = consent(&rig, port, &session).await;
    assert_eq!(count(&rig.schema, "xcs_oauth_states").await, 1);
    processor.stop().await;
}
