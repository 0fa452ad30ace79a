//! The console's dead letters (`/console/dead`) through its HTML forms, as a browser without
//! JavaScript uses them: sign in, find the dead letter in the list, a dry run, the
//! confirmation, the replay for real, and the index marking it replayed by the operator.
//! Against the real RabbitMQ, PostgreSQL and the Xero simulator.

use std::time::Duration;

use secrecy::SecretString;
use time::format_description::well_known::Rfc3339;
use xcs_processor::config::PostgresConfig;
use xcs_processor::ledger::{DeadState, Ledger};
use xcs_processor::operate::dead;
use xcs_tests::dead_letters::{DeadSpec, publish_dead};
use xcs_tests::fixtures;
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::{Rig, TestProcessor};

const ADMIN_TOKEN: &str = "console-dead-test-admin-token-0123456789";
const ACTION_DONE: Duration = Duration::from_secs(60);

async fn ledger(schema: &TestSchema) -> Ledger {
    Ledger::connect(&PostgresConfig {
        url: SecretString::from(postgres_url()),
        schema: schema.name.clone(),
        pool_size: 2,
        token_key: None,
    })
    .await
    .expect("the ledger opens")
}

/// A browser without JavaScript: a session cookie, no redirects followed.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

impl Browser {
    fn new(port: u16) -> Self {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: format!("http://127.0.0.1:{port}"),
            cookie: None,
        }
    }

    async fn sign_in(&mut self, name: &str) {
        let answer = self
            .http
            .post(format!("{}/console/sign-in", self.base))
            .form(&[("name", name), ("token", ADMIN_TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 303, "signed in");
        let set = answer
            .headers()
            .get(reqwest::header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .unwrap();
        self.cookie = Some(set.split(';').next().unwrap().to_owned());
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let mut request = self.http.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let answer = request.send().await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    }

    /// POSTs `form`; the status and where it sends the browser.
    async fn post(&self, path: &str, form: &[(String, String)]) -> (u16, String) {
        let mut request = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        let answer = request.send().await.unwrap();
        let status = answer.status().as_u16();
        let location = answer
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location)
    }

    /// Waits for the action at `location` to finish; its page.
    async fn finished(&self, location: &str) -> String {
        assert!(location.starts_with("/console/actions/"), "{location}");
        xcs_tests::eventually(ACTION_DONE, "the action finished", || async {
            let (status, page) = self.get(location).await;
            assert_eq!(status, 200, "{page}");
            (!page.contains(">running<")).then_some(page)
        })
        .await
    }
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// An attribute of one tag's text.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// The fields of the first POST form to `action` on `page` that contains `marker`: every
/// input with a value but the checkboxes (not ticked), as the browser would send them.
fn form_fields(page: &str, action: &str, marker: &str) -> Vec<(String, String)> {
    let form = page
        .split("<form")
        .skip(1)
        .map(|f| &f[..f.find("</form>").unwrap_or(f.len())])
        .find(|f| f.contains(&format!("action=\"{action}\"")) && f.contains(marker))
        .unwrap_or_else(|| panic!("no form to {action} with {marker:?} in:\n{page}"));
    assert!(form.contains("method=\"post\""), "{form}");
    form.split("<input")
        .skip(1)
        .filter_map(|input| {
            let tag = &input[..input.find('>').unwrap_or(input.len())];
            // A checkbox is sent only when ticked.
            if attribute(tag, "type").as_deref() == Some("checkbox") {
                return None;
            }
            Some((attribute(tag, "name")?, attribute(tag, "value")?))
        })
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn an_operator_finds_a_dead_letter_dry_runs_and_replays_it_through_the_forms() {
    let rig = Rig::new().await;
    let processor = TestProcessor::start_with_env(&rig.config(""), |name| {
        (name == "XCS_ADMIN_TOKEN").then(|| ADMIN_TOKEN.to_owned())
    })
    .await;
    // A good order, dead for a cause since fixed: its replay books it.
    let event_id = "shopify:nz-shopify:console-dead-1";
    let dead_at = time::OffsetDateTime::now_utc().format(&Rfc3339).unwrap();
    publish_dead(
        &rig.broker,
        &[DeadSpec::order(
            event_id,
            "unmapped_tax",
            &dead_at,
            fixtures::shopify_nz_order(7_100_000_001, 7101, true),
        )],
    )
    .await;
    let ledger = ledger(&rig.schema).await;
    let connection = rig.broker.connect().await;
    dead::reindex(&connection, &ledger).await.unwrap();
    let _ = connection.close(200, "done".into()).await;
    assert_eq!(
        ledger.dead_letter(event_id).await.unwrap().unwrap().state,
        DeadState::Dead
    );

    let mut browser = Browser::new(processor.port);
    // Without a session a POST is refused; a page sends to the sign-in form.
    let (status, _) = browser
        .post(
            "/console/dead/replay",
            &[("dry_run".into(), "1".into()), ("csrf".into(), "x".into())],
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(browser.get("/console/dead").await.0, 303);
    browser.sign_in("Ana").await;

    // The list: the letter with its reason, attempts, error and what to do.
    let list_path = "/console/dead?reason=unmapped_tax";
    let (status, list) = browser.get(list_path).await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list.contains(&format!("data-event=\"{event_id}\"")),
        "{list}"
    );
    assert!(list.contains("unmapped_tax: what went wrong"), "{list}");
    assert!(list.contains("mapping.tax"), "what to do: {list}");
    assert!(list.contains("1 dead letter match."), "{list}");
    // Bad input is a 400 page.
    assert_eq!(browser.get("/console/dead?kind=parcel").await.0, 400);
    assert_eq!(browser.get("/console/dead?after=nonsense").await.0, 400);

    // A POST without the form's CSRF token is refused.
    let mut dry_run = form_fields(&list, "/console/dead/replay", "dry_run");
    assert_eq!(field(&dry_run, "reason"), Some("unmapped_tax"));
    let without_csrf: Vec<(String, String)> = dry_run
        .iter()
        .filter(|(n, _)| n != "csrf")
        .cloned()
        .collect();
    assert_eq!(
        browser.post("/console/dead/replay", &without_csrf).await.0,
        403
    );

    // The dry run: says what would be replayed, changes nothing.
    let (status, location) = browser.post("/console/dead/replay", &dry_run).await;
    assert_eq!(status, 303);
    let result = browser.finished(&location).await;
    assert!(result.contains(">done<"), "{result}");
    assert!(result.contains("Would replay 1 event"), "{result}");
    assert!(result.contains(event_id), "{result}");
    assert_eq!(
        ledger.dead_letter(event_id).await.unwrap().unwrap().state,
        DeadState::Dead,
        "a dry run changes nothing"
    );
    // Sent again (a double click), the same action: not run twice.
    assert_eq!(
        browser.post("/console/dead/replay", &dry_run).await.1,
        location
    );
    dry_run.clear();

    // The confirmation, then the replay for real.
    let confirm = result
        .split("href=\"")
        .map(|rest| unescape(&rest[..rest.find('"').unwrap()]))
        .find(|href| href.starts_with("/console/dead/replay/confirm?"))
        .unwrap_or_else(|| panic!("no link to the confirmation:\n{result}"));
    let (status, page) = browser.get(&confirm).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Replay 1 for real"), "{page}");
    let mut replay = form_fields(&page, "/console/dead/replay", "limit");
    assert_eq!(field(&replay, "limit"), Some("1"));
    // Without the box ticked, nothing is done.
    assert_eq!(browser.post("/console/dead/replay", &replay).await.0, 400);
    replay.push(("confirm".into(), "yes".into()));
    let (status, location) = browser.post("/console/dead/replay", &replay).await;
    assert_eq!(status, 303);
    let result = browser.finished(&location).await;
    assert!(result.contains(">done<"), "{result}");
    assert!(result.contains("Replayed 1 event"), "{result}");
    assert!(result.contains(event_id), "{result}");

    // The index says who replayed it, and the list no longer shows it.
    let row = ledger.dead_letter(event_id).await.unwrap().unwrap();
    assert_eq!(row.state, DeadState::Replayed, "{row:?}");
    assert_eq!(row.state_by.as_deref(), Some("Ana"));
    let (_, list) = browser.get(list_path).await;
    assert!(
        !list.contains(&format!("data-event=\"{event_id}\"")),
        "{list}"
    );
    assert!(list.contains("No dead letters match."), "{list}");

    processor.stop().await;
}
