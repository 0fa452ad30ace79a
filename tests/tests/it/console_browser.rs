//! The operator's console (issue 20) in a real headless Chromium, against the real processor,
//! RabbitMQ, PostgreSQL and the Xero simulator: an event fails, the operator finds it on the
//! overview, opens it, fixes the mapping (the processor restarted on a corrected config),
//! replays it and sees it booked; a reconcile discrepancy is found and fixed from the page;
//! a form without the session's CSRF token, one without a session and one from another site
//! are refused.
//!
//! `screenshots_of_every_console_page` (ignored; `scripts/console-screenshots.sh` runs it)
//! saves each page at desktop and phone width under `docs/console/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::browser::{Browser, Viewport};
use xcs_tests::console::{ADMIN_TOKEN, env_with_console};
use xcs_tests::fixtures;
use xcs_tests::processor::{
    Rig, SHOP, ShopToml, TestProcessor, invoices_numbered, publish, shop_toml, wait_handled,
};

const HANDLED: Duration = Duration::from_secs(60);
const ACTION_DONE: Duration = Duration::from_secs(120);
/// The mapping that books [`SHOP`]'s 15% GST, and one that lacks it (an order dies
/// `unmapped_tax`).
const GOOD_TAX: &str = r#"by_rate = { "15" = "OUTPUT2" }"#;
const BAD_TAX: &str = r#"by_rate = { "9" = "OUTPUT2" }"#;
/// The day the test publisher stamps on events (`received_at`), and the next.
const RECEIVED_ON: &str = "2026-11-27";
const DAY_AFTER: &str = "2026-11-28";

/// `config` with the first shop's (that is [`SHOP`]'s) 15% rate unmapped.
fn without_the_gst_rate(config: &str) -> String {
    assert!(config.contains(GOOD_TAX), "the test config maps 15% GST");
    config.replacen(GOOD_TAX, BAD_TAX, 1)
}

async fn processor_with_console(config: &str) -> TestProcessor {
    TestProcessor::start_with_env(config, env_with_console(|_| None)).await
}

fn base(processor: &TestProcessor) -> String {
    format!("http://127.0.0.1:{}", processor.port)
}

/// The console path of an event's page (as `console::dead::event_link` writes it).
fn event_path(event_id: &str) -> String {
    let mut out = String::from("/console/events/");
    for byte in event_id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@!$'()*+,;=".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Polls `check` every 200 ms until it gives `Some`, or panics after `timeout`.
async fn until<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The path (and query) of the page the browser shows.
async fn path_of(browser: &Browser) -> String {
    let url = browser.current_url().await;
    let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or_else(|| "/".to_owned(), |at| after_scheme[at..].to_owned())
}

/// Waits until the browser shows a page whose URL starts with `prefix` (a navigation a form
/// or a script started).
async fn wait_for_url(browser: &Browser, prefix: &str) {
    until(
        Duration::from_secs(20),
        &format!("the browser to load {prefix}"),
        || async {
            let url = browser.current_url().await;
            let loaded = browser.execute("return document.readyState", vec![]).await;
            (url.starts_with(prefix) && loaded == json!("complete")).then_some(())
        },
    )
    .await;
}

/// The HTTP status of the page shown, as Chromium's Navigation Timing records it.
async fn status_of(browser: &Browser) -> u64 {
    let status = browser
        .execute(
            "const nav = performance.getEntriesByType('navigation')[0]; \
             return nav ? nav.responseStatus : null;",
            vec![],
        )
        .await;
    status
        .as_u64()
        .unwrap_or_else(|| panic!("no response status recorded: {status}"))
}

/// Signs in through the form as `name`, starting from `base`'s overview (which sends a
/// browser without a session to the form); back on the overview after.
async fn sign_in(browser: &Browser, base: &str, name: &str) {
    browser.goto(&format!("{base}/console")).await;
    assert_eq!(
        path_of(browser).await,
        "/console/sign-in?next=%2Fconsole",
        "without a session the overview sends to the sign-in form"
    );
    browser.fill("input[name=name]", name).await;
    browser.fill("input[name=token]", ADMIN_TOKEN).await;
    browser.submit_form("form[action='/console/sign-in']").await;
    browser.find("table#shops").await;
    assert_eq!(path_of(browser).await, "/console");
}

/// Waits on an action's page (it refreshes itself) until the action is done or failed; its
/// state and its result.
async fn action_result(browser: &Browser) -> (String, String) {
    wait_for_url_path(browser, "/console/actions/").await;
    until(ACTION_DONE, "the action to finish", || async {
        let source = browser.page_source().await;
        if source.contains(">running<") {
            return None;
        }
        let state = browser.text_of("main dl dd .badge").await;
        let result = match browser.find_all("main pre").await.first() {
            Some(pre) => pre.text().await.unwrap_or_default(),
            None => String::new(),
        };
        Some((state, result))
    })
    .await
}

async fn wait_for_url_path(browser: &Browser, path: &str) {
    until(
        Duration::from_secs(20),
        &format!("the browser to show {path}"),
        || async { path_of(browser).await.starts_with(path).then_some(()) },
    )
    .await;
}

/// Follows the action page's "See the result" link.
async fn follow_result_link(browser: &Browser, prefix: &str) {
    let css = format!("main a[href^='{prefix}']");
    browser.click(&css).await;
    wait_for_url_path(browser, prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_event_is_found_fixed_and_replayed_from_the_console() {
    let rig = Rig::new().await;
    let fixed_config = rig.config("");
    let first = processor_with_console(&without_the_gst_rate(&fixed_config)).await;
    let event_id = "shopify:nz-shopify:console-browser-1";
    rig.publish(
        EventKind::Order,
        "orders/paid",
        event_id,
        &fixtures::shopify_nz_order(7_200_000_001, 7201, true),
    )
    .await;
    let client = rig.schema.client().await;
    let reason: String = xcs_tests::eventually(HANDLED, "the order to die", || async {
        client
            .query_opt(
                "SELECT reason FROM xcs_dead_letters WHERE event_id = $1 AND state = 'dead'",
                &[&event_id],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.get(0))
    })
    .await;
    assert_eq!(reason, "unmapped_tax");
    assert!(invoices_numbered(&rig.sim, "SH-7201").is_empty());

    let browser = Browser::start(Viewport::Desktop).await;
    let console = base(&first);
    sign_in(&browser, &console, "Ana").await;
    let session = browser
        .cookies()
        .await
        .into_iter()
        .find(|cookie| cookie.name() == "xcs_console")
        .expect("a session cookie");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(format!("{:?}", session.same_site()), "Some(Strict)");

    // The overview: the shop failing, and why in one line.
    let row = format!("tr[data-shop='{SHOP}']");
    assert_eq!(browser.text_of(&format!("{row} .badge")).await, "failing");
    let why = browser.text_of(&format!("{row} .why")).await;
    assert!(
        why.contains("1 dead letter (1 unmapped_tax)"),
        "the why line names the dead letter: {why}"
    );
    assert_eq!(
        browser.text_of("tr[data-shop='nz-woo'] .badge").await,
        "in sync"
    );

    // Its shop's page, then its dead letters.
    browser
        .click(&format!("{row} a[href='/console/shops/{SHOP}']"))
        .await;
    wait_for_url_path(&browser, &format!("/console/shops/{SHOP}")).await;
    assert!(browser.text_of("h1").await.contains("failing"));
    let problem = browser.text_of("dd.problem").await;
    assert!(problem.contains("unmapped_tax"), "{problem}");
    browser
        .click(&format!("main a[href='/console/dead?shop={SHOP}']"))
        .await;
    wait_for_url_path(&browser, "/console/dead?shop=").await;
    let letter = format!("tr[data-event='{event_id}']");
    let line = browser.text_of(&letter).await;
    assert!(line.contains("unmapped_tax"), "{line}");
    assert!(line.contains("mapping.tax"), "what to do: {line}");

    // The event's page: the reason, the error and what to do.
    browser.click(&format!("{letter} a")).await;
    wait_for_url_path(&browser, "/console/events/").await;
    assert!(browser.text_of("h1").await.contains(event_id));
    let card = browser.text_of("#dead-letter").await;
    assert!(card.contains("unmapped_tax"), "{card}");
    assert!(
        card.contains("Add the tax (by label or rate) to the shop's mapping.tax"),
        "{card}"
    );
    assert_eq!(browser.text_of("#dead-state").await, "dead");
    let error = browser.text_of("#dead-letter pre").await;
    assert!(error.contains("tax"), "the last error: {error}");

    // The operator fixes the mapping where it lives, the config, and restarts the processor.
    // The session is signed, not stored: the new processor (same admin token) accepts it.
    first.stop().await;
    let second = processor_with_console(&fixed_config).await;
    let console = base(&second);
    browser
        .goto(&format!("{console}/console/dead?shop={SHOP}"))
        .await;
    assert_eq!(
        path_of(&browser).await,
        format!("/console/dead?shop={SHOP}"),
        "still signed in on the restarted processor"
    );
    browser.find(&letter).await;

    // The dry run, its confirmation, the replay for real.
    browser.submit_form("#actions form").await;
    let (state, result) = action_result(&browser).await;
    assert_eq!(state, "done", "{result}");
    assert!(result.contains("Would replay 1 event"), "{result}");
    assert!(result.contains(event_id), "{result}");
    follow_result_link(&browser, "/console/dead/replay/confirm?").await;
    assert_eq!(browser.text_of("#found").await, "1");
    let button = browser
        .text_of("form[action='/console/dead/replay'] button")
        .await;
    assert_eq!(button, "Replay 1 for real");
    browser
        .click("form[action='/console/dead/replay'] input[name=confirm]")
        .await;
    browser
        .submit_form("form[action='/console/dead/replay']")
        .await;
    let (state, result) = action_result(&browser).await;
    assert_eq!(state, "done", "{result}");
    assert!(result.contains("Replayed 1 event"), "{result}");
    assert!(result.contains(event_id), "{result}");

    // Booked: the event's page says so with the invoice, and Xero holds it.
    let (outcome, detail) = wait_handled(&rig.schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    browser
        .goto(&format!("{console}{}", event_path(event_id)))
        .await;
    let booked = browser.text_of("main section.card").await;
    assert!(booked.contains("booked"), "{booked}");
    assert!(booked.contains("SH-7201"), "the invoice number: {booked}");
    let state = browser.text_of("#dead-state").await;
    assert!(state.contains("replayed by Ana"), "{state}");
    assert_eq!(invoices_numbered(&rig.sim, "SH-7201").len(), 1);

    // And the overview has the shop in sync again.
    browser.goto(&format!("{console}/console")).await;
    assert_eq!(browser.text_of(&format!("{row} .badge")).await, "in sync");

    browser.close().await;
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_discrepancy_is_found_and_fixed_from_the_console() {
    let rig = Rig::new().await;
    // An order the platform sent that never reached a processor: in xcs.archive, lost from
    // the shards.
    let lost = "shopify:nz-shopify:console-browser-lost";
    rig.publish(
        EventKind::Order,
        "orders/paid",
        lost,
        &fixtures::shopify_nz_order(7_300_000_009, 7309, true),
    )
    .await;
    assert_eq!(rig.broker.take_all_shards().await.len(), 1);
    let processor = processor_with_console(&rig.config("")).await;
    for n in [1, 2] {
        let event_id = format!("shopify:nz-shopify:console-browser-rc-{n}");
        rig.publish(
            EventKind::Order,
            "orders/paid",
            &event_id,
            &fixtures::shopify_nz_order(7_300_000_000 + n, 7300 + n, true),
        )
        .await;
        let (outcome, detail) = wait_handled(&rig.schema, &event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }

    let browser = Browser::start(Viewport::Desktop).await;
    let console = base(&processor);
    sign_in(&browser, &console, "Ana").await;

    // Reconcile the day from the page.
    let (state, result) = reconcile_the_day(&browser, &console).await;
    assert_eq!(state, "done", "{result}");
    assert!(result.contains("not_booked"), "{result}");
    assert!(result.contains(lost), "{result}");
    assert!(result.contains("--fix"), "what a fix does: {result}");

    // The confirmation shows what was found; the fix, confirmed.
    follow_result_link(&browser, "/console/reconcile/fix/confirm?").await;
    let found = browser.text_of("main pre").await;
    assert!(found.contains(lost), "the report on record: {found}");
    browser
        .click("form[action='/console/reconcile/fix'] input[name=confirm]")
        .await;
    browser
        .submit_form("form[action='/console/reconcile/fix']")
        .await;
    let (state, result) = action_result(&browser).await;
    assert_eq!(state, "done", "{result}");
    assert!(result.contains(lost), "{result}");
    let (outcome, detail) = wait_handled(&rig.schema, lost, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(invoices_numbered(&rig.sim, "SH-7309").len(), 1);

    // Reconciled again: nothing differs.
    let (state, result) = reconcile_the_day(&browser, &console).await;
    assert_eq!(state, "done", "{result}");
    assert!(result.contains("OK: no discrepancies."), "{result}");
    browser.goto(&format!("{console}/console/reconcile")).await;
    let last = browser
        .text_of(&format!("#reconciles tr[data-shop='{SHOP}']"))
        .await;
    assert!(
        last.contains("ok") && last.contains("no discrepancies"),
        "{last}"
    );

    // The overview shows the shop's last reconcile.
    browser.goto(&format!("{console}/console")).await;
    let row = browser.text_of(&format!("tr[data-shop='{SHOP}']")).await;
    assert!(row.contains("reconcile: ok"), "{row}");
    assert_eq!(
        browser
            .text_of(&format!("tr[data-shop='{SHOP}'] .badge"))
            .await,
        "in sync"
    );

    browser.close().await;
    processor.stop().await;
}

/// Reconciles [`SHOP`]'s orders received on [`RECEIVED_ON`] from the reconcile page; the
/// action's state and result.
async fn reconcile_the_day(browser: &Browser, console: &str) -> (String, String) {
    browser
        .goto(&format!("{console}/console/reconcile?shop={SHOP}"))
        .await;
    browser.fill("input[name=from]", RECEIVED_ON).await;
    browser.fill("input[name=to]", DAY_AFTER).await;
    browser
        .submit_form("form[action='/console/reconcile']")
        .await;
    action_result(browser).await
}

/// A site of another origin (`localhost`, not the console's `127.0.0.1`: another site, so a
/// `SameSite=Strict` cookie is not sent), serving pages at given paths.
struct OtherSite {
    base: String,
    handle: actix_web::dev::ServerHandle,
}

impl OtherSite {
    async fn start(pages: HashMap<String, String>) -> OtherSite {
        let pages = web::Data::new(pages);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(pages.clone())
                .default_service(web::to(other_site_page))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        OtherSite {
            base: format!("http://localhost:{port}"),
            handle,
        }
    }
}

async fn other_site_page(
    pages: web::Data<HashMap<String, String>>,
    request: HttpRequest,
) -> HttpResponse {
    match pages.get(request.path()) {
        Some(page) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .body(page.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}

/// A page that posts `fields` to `action` as soon as it loads.
fn auto_submitting(action: &str, fields: &[(&str, &str)]) -> String {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!("<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"))
        .collect();
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Win a prize</title></head>\
         <body><form id=\"f\" method=\"post\" action=\"{action}\">{inputs}</form>\
         <script>document.getElementById('f').submit();</script></body></html>"
    )
}

/// Builds a form in the page shown and posts it (as a forged or scripted request would).
async fn post_from_the_page(browser: &Browser, action: &str, fields: Value) {
    browser
        .execute(
            "const form = document.createElement('form'); \
             form.method = 'post'; form.action = arguments[0]; \
             for (const [name, value] of Object.entries(arguments[1])) { \
               const input = document.createElement('input'); \
               input.type = 'hidden'; input.name = name; input.value = value; \
               form.appendChild(input); \
             } \
             document.body.appendChild(form); form.submit();",
            vec![json!(action), fields],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_without_the_session_s_csrf_token_or_without_a_session_are_refused() {
    let rig = Rig::new().await;
    let processor = processor_with_console(&rig.config("")).await;
    let console = base(&processor);
    let browser = Browser::start(Viewport::Desktop).await;
    sign_in(&browser, &console, "Ana").await;
    let csrf = browser
        .find("form.signout input[name=csrf]")
        .await
        .attr("value")
        .await
        .expect("read the CSRF field")
        .expect("the sign-out form carries the session's CSRF token");
    assert_eq!(csrf.len(), 64);
    let action_id = "0123456789abcdef0123456789abcdef";

    // A form with a forged CSRF token, sent from the console's own page: refused.
    post_from_the_page(
        &browser,
        "/console/dead/replay",
        json!({"csrf": "forged", "action_id": action_id, "dry_run": "1", "shop": SHOP}),
    )
    .await;
    wait_for_url(&browser, &format!("{console}/console/dead/replay")).await;
    assert_eq!(status_of(&browser).await, 403);
    assert_eq!(browser.text_of("h1").await, "Refused");
    assert!(browser.text_of("main").await.contains("CSRF token"));
    browser.goto(&format!("{console}/console")).await;
    post_from_the_page(&browser, "/console/sign-out", json!({"csrf": "forged"})).await;
    wait_for_url(&browser, &format!("{console}/console/sign-out")).await;
    assert_eq!(status_of(&browser).await, 403);
    assert_eq!(browser.text_of("h1").await, "Refused");

    // A page of another site posting to the console, even with the right token: the cookie
    // is SameSite=Strict (not sent) and the Origin is another site's. Refused, nothing done.
    let other = OtherSite::start(HashMap::from([
        (
            "/sign-out".to_owned(),
            auto_submitting(
                &format!("{console}/console/sign-out"),
                &[("csrf", csrf.as_str())],
            ),
        ),
        (
            "/replay".to_owned(),
            auto_submitting(
                &format!("{console}/console/dead/replay"),
                &[
                    ("csrf", csrf.as_str()),
                    ("action_id", action_id),
                    ("dry_run", "1"),
                    ("shop", SHOP),
                ],
            ),
        ),
    ]))
    .await;
    for (page, target) in [
        ("/sign-out", "/console/sign-out"),
        ("/replay", "/console/dead/replay"),
    ] {
        browser.goto(&format!("{}{page}", other.base)).await;
        wait_for_url(&browser, &format!("{console}{target}")).await;
        let status = status_of(&browser).await;
        assert!(
            status == 401 || status == 403,
            "a cross-site POST to {target} answered {status}: {}",
            browser.text_of("main").await
        );
        let title = browser.text_of("h1").await;
        assert!(title == "Refused" || title == "Sign in first", "{title}");
    }
    // Still signed in (the sign-out did not happen), and no action was run.
    browser.goto(&format!("{console}/console/actions")).await;
    assert_eq!(path_of(&browser).await, "/console/actions");
    assert_eq!(browser.text_of("main p.muted").await, "None yet.");
    other.handle.stop(true).await;
    browser.close().await;

    // A fresh browser, never signed in: pages send it to the sign-in form, a POST is refused.
    let stranger = Browser::start(Viewport::Desktop).await;
    stranger
        .goto(&format!("{console}/console/dead?shop={SHOP}"))
        .await;
    assert_eq!(
        path_of(&stranger).await,
        format!("/console/sign-in?next=%2Fconsole%2Fdead%3Fshop%3D{SHOP}")
    );
    stranger.find("form[action='/console/sign-in']").await;
    assert!(stranger.cookie_names().await.is_empty());
    post_from_the_page(
        &stranger,
        "/console/dead/replay",
        json!({"csrf": csrf, "action_id": action_id, "dry_run": "1", "shop": SHOP}),
    )
    .await;
    wait_for_url(&stranger, &format!("{console}/console/dead/replay")).await;
    assert_eq!(status_of(&stranger).await, 401);
    assert_eq!(stranger.text_of("h1").await, "Sign in first");
    stranger.close().await;

    // Nothing was recorded in the action journal.
    let client = rig.schema.client().await;
    let actions: i64 = client
        .query_one("SELECT count(*) FROM xcs_console_actions", &[])
        .await
        .expect("count the actions")
        .get(0);
    assert_eq!(actions, 0);
    processor.stop().await;
}

// ---- Screenshots (scripts/console-screenshots.sh) ----

/// Extra shops for the screenshots, booking into the NZ demo company like [`SHOP`].
const OUTLET: &str = "nz-outlet";
const WHOLESALE: &str = "nz-wholesale";

fn screenshot_config(rig: &Rig) -> String {
    let shop = |name: &str, prefix: &str| {
        shop_toml(&ShopToml {
            name,
            platform: Platform::Shopify,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix,
            clearing: "615",
            api: None,
        })
    };
    // The wholesale shop's mapping lacks the 15% rate: its order dies unmapped_tax.
    rig.config("") + &shop(OUTLET, "OU-") + &shop(WHOLESALE, "WS-").replace(GOOD_TAX, BAD_TAX)
}

/// Where the screenshots go: `XCS_SCREENSHOTS_DIR`, or `docs/console/` of the workspace.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("XCS_SCREENSHOTS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| xcs_tests::workspace_root().join("docs/console"))
}

/// Saves the page shown as `<page>-<viewport>.png`, the whole page's height on a desktop.
async fn save(browser: &Browser, page: &str) {
    let viewport = match browser.viewport() {
        Viewport::Desktop => "desktop",
        Viewport::Phone => "phone",
    };
    if browser.viewport() == Viewport::Desktop {
        let height = browser
            .execute(
                // The window holds the page and the browser's own frame around it.
                "return Math.ceil(document.documentElement.scrollHeight) \
                 + (window.outerHeight - window.innerHeight)",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(800)
            .clamp(800, 3000);
        browser
            .client()
            .set_window_size(1280, u32::try_from(height).unwrap_or(800))
            .await
            .expect("resize the window");
    }
    let width_overflow = browser
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await;
    if width_overflow.as_i64().unwrap_or(0) > 0 {
        eprintln!(
            "{page} at {viewport}: the page is {width_overflow} px wider than the screen \
             (scrolls sideways)"
        );
    }
    let path = screenshot_dir().join(format!("{page}-{viewport}.png"));
    browser.screenshot(&path).await;
    eprintln!("saved {}", path.display());
    if browser.viewport() == Viewport::Desktop {
        browser
            .client()
            .set_window_size(1280, 800)
            .await
            .expect("resize the window");
    }
}

/// What the screenshots show, made once: the action pages the desktop pass made.
#[derive(Default)]
struct Made {
    dry_run_confirm: Option<String>,
    reconcile_result: Option<String>,
}

async fn screenshot_pass(viewport: Viewport, console: &str, dead_event: &str, made: &mut Made) {
    let browser = Browser::start(viewport).await;
    browser
        .goto(&format!("{console}/console/sign-in?next=%2Fconsole"))
        .await;
    browser.find("form[action='/console/sign-in']").await;
    save(&browser, "sign-in").await;
    browser.fill("input[name=name]", "Ana Ruiz").await;
    browser.fill("input[name=token]", ADMIN_TOKEN).await;
    browser.submit_form("form[action='/console/sign-in']").await;
    browser.find("table#shops").await;
    save(&browser, "overview").await;

    browser
        .goto(&format!("{console}/console/shops/{SHOP}"))
        .await;
    save(&browser, "shop").await;
    browser
        .goto(&format!("{console}{}", event_path(dead_event)))
        .await;
    save(&browser, "event").await;
    browser.goto(&format!("{console}/console/dead")).await;
    browser.find("table#dead").await;
    save(&browser, "dead").await;

    let confirm = match made.dry_run_confirm.clone() {
        Some(confirm) => confirm,
        None => {
            browser.submit_form("#actions form").await;
            let (state, result) = action_result(&browser).await;
            assert_eq!(state, "done", "{result}");
            follow_result_link(&browser, "/console/dead/replay/confirm?").await;
            let confirm = path_of(&browser).await;
            made.dry_run_confirm = Some(confirm.clone());
            confirm
        }
    };
    browser.goto(&format!("{console}{confirm}")).await;
    save(&browser, "dead-replay-confirm").await;

    let reconcile = match made.reconcile_result.clone() {
        Some(result) => result,
        None => {
            let (state, result) = reconcile_the_day(&browser, console).await;
            assert_eq!(state, "done", "{result}");
            let page = path_of(&browser).await;
            made.reconcile_result = Some(page.clone());
            page
        }
    };
    browser.goto(&format!("{console}{reconcile}")).await;
    save(&browser, "reconcile").await;

    if viewport == Viewport::Desktop {
        // Run the check once, so the mapping page has each shop's verdict.
        browser.goto(&format!("{console}/console/mapping")).await;
        browser
            .submit_form("form[action='/console/mapping/check']")
            .await;
        action_result(&browser).await;
    }
    browser.goto(&format!("{console}/console/mapping")).await;
    save(&browser, "mapping").await;
    browser.goto(&format!("{console}/console/actions")).await;
    save(&browser, "actions").await;
    browser.close().await;
}

/// Saves every console page at desktop and phone width (docs/console/<page>-<viewport>.png)
/// for a reviewer: four shops, orders booked, one dead, one skipped, one lost (which the
/// reconcile finds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes docs/console/*.png; run by scripts/console-screenshots.sh"]
async fn screenshots_of_every_console_page() {
    let rig = Rig::new().await;
    let config = screenshot_config(&rig);
    // Lost before any processor ran: the reconcile finds it not booked.
    let lost = "shopify:nz-shopify:shots-lost";
    rig.publish(
        EventKind::Order,
        "orders/paid",
        lost,
        &fixtures::shopify_nz_order(7_400_000_099, 7499, true),
    )
    .await;
    assert_eq!(rig.broker.take_all_shards().await.len(), 1);
    let processor = processor_with_console(&config).await;

    let mut handled = Vec::new();
    for n in 1..=3 {
        let event_id = format!("shopify:{SHOP}:shots-{n}");
        rig.publish(
            EventKind::Order,
            "orders/paid",
            &event_id,
            &fixtures::shopify_nz_order(7_400_000_000 + n, 7400 + n, true),
        )
        .await;
        handled.push((event_id, "booked"));
    }
    let cancelled =
        fixtures::shopify_cancelled(&fixtures::shopify_nz_order(7_400_000_010, 7410, false));
    let skipped = format!("shopify:{SHOP}:shots-cancelled");
    rig.publish(EventKind::Order, "orders/cancelled", &skipped, &cancelled)
        .await;
    handled.push((skipped, "skipped"));
    for n in 1..=2 {
        let event_id = format!("shopify:{OUTLET}:shots-{n}");
        publish(
            &rig.broker,
            Platform::Shopify,
            OUTLET,
            EventKind::Order,
            "orders/paid",
            &event_id,
            &fixtures::shopify_nz_order(7_410_000_000 + n, 7410 + n, true),
        )
        .await;
        handled.push((event_id, "booked"));
    }
    let dead_event = format!("shopify:{WHOLESALE}:shots-1");
    publish(
        &rig.broker,
        Platform::Shopify,
        WHOLESALE,
        EventKind::Order,
        "orders/paid",
        &dead_event,
        &fixtures::shopify_nz_order(7_420_000_001, 7421, true),
    )
    .await;
    for (event_id, expected) in &handled {
        let (outcome, detail) = wait_handled(&rig.schema, event_id, HANDLED).await;
        assert_eq!(&outcome, expected, "{event_id}: {detail}");
    }
    let client = rig.schema.client().await;
    xcs_tests::eventually(HANDLED, "the wholesale order to die", || async {
        client
            .query_opt(
                "SELECT 1 FROM xcs_dead_letters WHERE event_id = $1 AND state = 'dead'",
                &[&dead_event],
            )
            .await
            .ok()
            .flatten()
            .map(|_| ())
    })
    .await;

    let console = base(&processor);
    let mut made = Made::default();
    for viewport in [Viewport::Desktop, Viewport::Phone] {
        screenshot_pass(viewport, &console, &dead_event, &mut made).await;
    }
    processor.stop().await;
}
