//! The browser harness the operator console's tests stand on: a real headless Chromium, driven
//! through chromedriver, against a tiny server in the test. Each check here can only pass if
//! the browser really ran: the server sees the typed value and the cookie come back from it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::json;
use xcs_tests::browser::{Browser, PHONE_PIXEL_RATIO, Viewport};

const SESSION_COOKIE: &str = "xcs_session";
const SESSION_VALUE: &str = "s3cr3t-session-token";

/// What the server saw: each request's method, path and `Cookie` header.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(String, String, Option<String>)>>,
}

struct Site {
    base_url: String,
    seen: Arc<Seen>,
    handle: actix_web::dev::ServerHandle,
}

impl Site {
    async fn start() -> Site {
        let seen = Arc::new(Seen::default());
        let state = web::Data::from(Arc::clone(&seen));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/", web::get().to(form_page))
                .route("/submit", web::post().to(submitted))
                .route("/whoami", web::get().to(whoami))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Site {
            base_url: format!("http://127.0.0.1:{port}"),
            seen,
            handle,
        }
    }

    fn requests(&self) -> Vec<(String, String, Option<String>)> {
        self.seen.requests.lock().unwrap().clone()
    }
}

fn record(seen: &Seen, request: &HttpRequest) -> Option<String> {
    let cookie = request
        .headers()
        .get("cookie")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    seen.requests.lock().unwrap().push((
        request.method().to_string(),
        request.path().to_owned(),
        cookie.clone(),
    ));
    cookie
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn html(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{title}</title></head><body>{body}</body></html>"
        ))
}

async fn form_page(seen: web::Data<Seen>, request: HttpRequest) -> HttpResponse {
    record(&seen, &request);
    let mut response = html(
        "Sign in",
        "<h1>Sign in</h1>\
         <form id=\"sign-in\" method=\"post\" action=\"/submit\">\
         <label>Operator <input id=\"operator\" name=\"operator\" value=\"placeholder\"></label>\
         <button type=\"submit\" name=\"action\" value=\"go\">Go</button>\
         </form>",
    );
    response.headers_mut().insert(
        actix_web::http::header::SET_COOKIE,
        actix_web::http::header::HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={SESSION_VALUE}; Path=/; HttpOnly; SameSite=Strict"
        ))
        .expect("a valid header"),
    );
    response
}

async fn submitted(
    seen: web::Data<Seen>,
    request: HttpRequest,
    form: web::Form<HashMap<String, String>>,
) -> HttpResponse {
    let cookie = record(&seen, &request).unwrap_or_default();
    let operator = form.get("operator").map(String::as_str).unwrap_or("");
    let action = form.get("action").map(String::as_str).unwrap_or("");
    html(
        "Signed in",
        &format!(
            "<p id=\"posted\">{}</p><p id=\"action\">{}</p><p id=\"cookie\">{}</p>\
             <a id=\"next\" href=\"/whoami\">next</a>",
            escape(operator),
            escape(action),
            escape(&cookie)
        ),
    )
}

async fn whoami(seen: web::Data<Seen>, request: HttpRequest) -> HttpResponse {
    let cookie = record(&seen, &request).unwrap_or_default();
    html(
        "Who am I",
        &format!("<p id=\"cookie\">{}</p>", escape(&cookie)),
    )
}

fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG: {} bytes starting {:?}",
        png.len(),
        &png[..png.len().min(16)]
    );
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    (width, height)
}

#[tokio::test]
async fn form_post_and_strict_http_only_cookie_round_trip() {
    let site = Site::start().await;
    let started = Instant::now();
    let browser = Browser::start(Viewport::Desktop).await;
    eprintln!("Browser::start took {:?}", started.elapsed());

    browser.goto(&format!("{}/", site.base_url)).await;
    assert_eq!(browser.text_of("h1").await, "Sign in");
    assert_eq!(
        browser.execute("return window.innerWidth", vec![]).await,
        json!(1280),
        "the desktop viewport is 1280 CSS pixels wide"
    );

    // The cookie is HttpOnly: the browser holds it, but the page's scripts cannot read it.
    assert_eq!(
        browser.cookie_names().await,
        vec![SESSION_COOKIE.to_owned()]
    );
    let cookie = browser
        .cookies()
        .await
        .into_iter()
        .find(|cookie| cookie.name() == SESSION_COOKIE)
        .expect("the session cookie");
    assert_eq!(cookie.value(), SESSION_VALUE);
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(
        cookie.same_site().map(|same_site| same_site.to_string()),
        Some("Strict".to_owned())
    );
    assert_eq!(
        browser.execute("return document.cookie", vec![]).await,
        json!(""),
        "an HttpOnly cookie is hidden from scripts"
    );

    browser.fill("#operator", "Ada <Lovelace> & co").await;
    browser.submit_form("#sign-in").await;

    assert_eq!(browser.text_of("#posted").await, "Ada <Lovelace> & co");
    assert_eq!(
        browser.text_of("#action").await,
        "go",
        "the button's value is sent"
    );
    assert_eq!(
        browser.text_of("#cookie").await,
        format!("{SESSION_COOKIE}={SESSION_VALUE}")
    );
    assert_eq!(
        browser.current_url().await,
        format!("{}/submit", site.base_url)
    );
    assert!(browser.page_source().await.contains("id=\"posted\""));

    browser.click("#next").await;
    assert_eq!(
        browser.text_of("#cookie").await,
        format!("{SESSION_COOKIE}={SESSION_VALUE}")
    );
    assert_eq!(
        browser.current_url().await,
        format!("{}/whoami", site.base_url)
    );

    // The server's own record: the page, the POST and the link, the cookie on both of the last.
    let requests: Vec<_> = site
        .requests()
        .into_iter()
        .filter(|(_, path, _)| path != "/favicon.ico")
        .collect();
    let sent_back = Some(format!("{SESSION_COOKIE}={SESSION_VALUE}"));
    assert_eq!(
        requests,
        vec![
            ("GET".to_owned(), "/".to_owned(), None),
            ("POST".to_owned(), "/submit".to_owned(), sent_back.clone()),
            ("GET".to_owned(), "/whoami".to_owned(), sent_back),
        ]
    );

    browser.close().await;
    site.handle.stop(true).await;
}

#[tokio::test]
async fn phone_screenshot_is_390_css_pixels_wide() {
    let site = Site::start().await;
    let started = Instant::now();
    let browser = Browser::start(Viewport::Phone).await;
    eprintln!("Browser::start took {:?}", started.elapsed());

    browser.goto(&format!("{}/", site.base_url)).await;
    assert_eq!(
        browser.execute("return window.innerWidth", vec![]).await,
        json!(390)
    );
    let ratio = browser
        .execute("return window.devicePixelRatio", vec![])
        .await
        .as_f64()
        .expect("devicePixelRatio is a number");
    assert_eq!(ratio, f64::from(PHONE_PIXEL_RATIO));
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("browser_harness")
        .join(format!("phone-{}.png", std::process::id()));
    let png = browser.screenshot(&path).await;
    assert_eq!(
        std::fs::read(&path).expect("the screenshot was written"),
        png
    );
    let (width, height) = png_size(&png);
    assert_eq!(width, 390 * PHONE_PIXEL_RATIO);
    assert_eq!(
        f64::from(width),
        (390.0 * ratio).round(),
        "PNG width at ratio {ratio}"
    );
    assert_eq!(
        f64::from(height),
        (844.0 * ratio).round(),
        "PNG height at ratio {ratio}"
    );
    let _ = std::fs::remove_file(&path);

    browser.close().await;
    site.handle.stop(true).await;
}

/// A test that panics drops its `Browser` without closing it: Chromium must not outlive it.
#[tokio::test]
async fn dropping_a_browser_kills_chromium() {
    let browser = Browser::start(Viewport::Desktop).await;
    let chromium = browser
        .client()
        .capabilities()
        .and_then(|capabilities| capabilities.get("goog:processID"))
        .and_then(|pid| pid.as_u64())
        .expect("chromedriver reports Chromium's process id");
    assert!(alive(chromium), "Chromium {chromium} runs");
    drop(browser);
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(chromium) {
        assert!(
            Instant::now() < deadline,
            "Chromium {chromium} still runs after its Browser was dropped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a process runs (a zombie waiting for its reaper does not).
fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X")
    })
}
