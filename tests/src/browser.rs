//! Headless Chromium driven through WebDriver, for the operator console's tests.
//!
//! [`Browser::start`] spawns a `chromedriver --port=0` of its own (so tests running in parallel,
//! each in its own process under nextest, never share one), connects to it over plain HTTP with
//! [`fantoccini`] and opens a session on Debian's `/usr/bin/chromium` with a fresh profile
//! directory. `scripts/browser.sh` installs both; `scripts/test.sh` runs it first.
//!
//! The helpers panic with a message naming what failed, as test helpers do; [`Browser::client`]
//! gives the raw [`fantoccini::Client`] for anything else.
//!
//! No Chromium outlives its test: [`Browser::close`] ends the session cleanly, and dropping a
//! `Browser` (a test that panicked) kills chromedriver and every process under it (Chromium
//! does not exit by itself when chromedriver dies), then removes the profile directory. The
//! processes stay in the test's process group, so nextest's kill on a timeout reaches them too.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long chromedriver gets to say which port it listens on, and a lookup to find an element.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// The device pixel ratio of [`Viewport::Phone`] (a 390 x 844 phone's): screenshots are
/// 1170 pixels wide.
pub const PHONE_PIXEL_RATIO: u32 = 3;

/// The browser window's size in CSS pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Viewport {
    /// 1280 x 800.
    Desktop,
    /// 390 x 844 at a device pixel ratio of 3, a common phone's, emulated (mobile, touch).
    Phone,
}

impl Viewport {
    /// Width and height in CSS pixels.
    pub fn size(self) -> (u32, u32) {
        match self {
            Viewport::Desktop => (1280, 800),
            Viewport::Phone => (390, 844),
        }
    }
}

/// A headless Chromium with its own chromedriver and profile directory.
pub struct Browser {
    client: Option<Client>,
    driver: Child,
    /// Holds `profile/` (Chromium's user data dir) and `tmp/` (TMPDIR for chromedriver and
    /// Chromium, which leave folders there): all removed on drop.
    dir: PathBuf,
    viewport: Viewport,
}

impl Browser {
    /// Starts chromedriver and a Chromium session at `viewport`'s size. Panics if chromedriver
    /// is missing (run `scripts/browser.sh`) or the browser does not start.
    pub async fn start(viewport: Viewport) -> Browser {
        let dir = fresh_dir();
        let mut driver = match Command::new("chromedriver")
            .arg("--port=0")
            .env("TMPDIR", dir.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(driver) => driver,
            Err(error) => {
                let _ = std::fs::remove_dir_all(&dir);
                panic!(
                    "cannot run chromedriver ({error}): run scripts/browser.sh to install \
                     Debian's chromium and chromium-driver"
                )
            }
        };
        let stdout = driver
            .stdout
            .take()
            .expect("chromedriver's stdout is piped");
        let mut browser = Browser {
            client: None,
            driver,
            dir,
            viewport,
        };

        // "ChromeDriver was started successfully on port N."
        let mut lines = BufReader::new(stdout).lines();
        let mut seen = Vec::new();
        let port = tokio::time::timeout(STARTUP_TIMEOUT, async {
            while let Some(line) = lines.next_line().await.expect("read chromedriver's stdout") {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().ok();
                }
                seen.push(line);
            }
            None
        })
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| {
            panic!(
                "chromedriver did not say which port it listens on; it printed: {seen:?} \
                 (scripts/browser.sh installs a matching chromium and chromium-driver)"
            )
        });
        // Keep reading, so a chatty chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let (width, height) = viewport.size();
        let mut options = json!({
            "args": [
                "--headless=new",
                // Required as root in a container, where the sandbox cannot start.
                "--no-sandbox",
                "--disable-dev-shm-usage",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", browser.dir.join("profile").display()),
                "--no-first-run",
                "--no-default-browser-check",
            ],
        });
        if viewport == Viewport::Phone {
            // A window is never narrower than 500 pixels, so a phone's width is emulated, as
            // DevTools' device mode does: the page sees a 390 x 844 touch screen at the device
            // pixel ratio below, and honours `<meta name="viewport">` as a phone does.
            options["mobileEmulation"] = json!({
                "deviceMetrics": {
                    "width": width,
                    "height": height,
                    "pixelRatio": PHONE_PIXEL_RATIO,
                    "mobile": true,
                    "touch": true,
                },
            });
        }
        if Path::new("/usr/bin/chromium").exists() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".to_owned(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".to_owned(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|error| {
                panic!("chromedriver on port {port} did not open a Chromium session: {error}")
            });
        browser.client = Some(client);
        browser
    }

    /// The raw WebDriver client, for anything the helpers here do not cover.
    pub fn client(&self) -> &Client {
        self.client.as_ref().expect("the session is open")
    }

    pub fn viewport(&self) -> Viewport {
        self.viewport
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) {
        self.client()
            .goto(url)
            .await
            .unwrap_or_else(|error| panic!("navigate to {url}: {error}"));
    }

    /// The first element matching the CSS selector `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        match self
            .client()
            .wait()
            .at_most(FIND_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(error) => panic!(
                "no element matches {css:?} at {} ({error})",
                self.url_for_message().await
            ),
        }
    }

    /// Every element matching `css` now (no waiting; empty if none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client()
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("find {css:?}: {error}"))
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|error| panic!("text of {css:?}: {error}"))
    }

    /// Replaces the value of the field matching `css` by typing `value` into it.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|error| panic!("clear {css:?}: {error}"));
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|error| panic!("type into {css:?}: {error}"));
    }

    /// Clicks the element matching `css` (a link or button: waits for a navigation it starts).
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|error| panic!("click {css:?}: {error}"));
    }

    /// Submits the form matching `css` as a user would: by clicking its first submit button
    /// (so the button's own name and value are sent), or, if it has none, directly.
    pub async fn submit_form(&self, css: &str) {
        let form = self.find(css).await;
        let buttons = form
            .find_all(Locator::Css(
                "button[type=submit], button:not([type]), input[type=submit]",
            ))
            .await
            .unwrap_or_else(|error| panic!("find the submit button of {css:?}: {error}"));
        match buttons.first() {
            Some(button) => button
                .click()
                .await
                .unwrap_or_else(|error| panic!("click the submit button of {css:?}: {error}")),
            None => {
                self.client()
                    .form(Locator::Css(css))
                    .await
                    .unwrap_or_else(|error| panic!("form {css:?}: {error}"))
                    .submit_direct()
                    .await
                    .unwrap_or_else(|error| panic!("submit {css:?}: {error}"));
            }
        }
    }

    /// The address of the page shown now.
    pub async fn current_url(&self) -> String {
        self.client()
            .current_url()
            .await
            .expect("read the current URL")
            .to_string()
    }

    /// The page's DOM, serialised as HTML.
    pub async fn page_source(&self) -> String {
        self.client().source().await.expect("read the page source")
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client()
            .execute(script, args)
            .await
            .unwrap_or_else(|error| panic!("run script {script:?}: {error}"))
    }

    /// Takes a PNG screenshot of the viewport, writes it to `path` (creating its folder) and
    /// returns its bytes.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Vec<u8> {
        let path = path.as_ref();
        let png = self.client().screenshot().await.expect("take a screenshot");
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|error| panic!("create {}: {error}", dir.display()));
        }
        std::fs::write(path, &png)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
        png
    }

    /// The cookies the browser holds for the current page, with their attributes as WebDriver
    /// reports them (`http_only()`, `same_site()`, `secure()`, `path()`).
    pub async fn cookies(&self) -> Vec<Cookie<'static>> {
        self.client()
            .get_all_cookies()
            .await
            .expect("read the cookies")
    }

    /// The names of the cookies the browser holds for the current page, sorted.
    pub async fn cookie_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .cookies()
            .await
            .iter()
            .map(|cookie| cookie.name().to_owned())
            .collect();
        names.sort();
        names
    }

    /// Ends the session (Chromium exits) and chromedriver.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            client.close().await.expect("end the WebDriver session");
        }
        // Drop kills chromedriver and anything left, and removes the profile directory.
    }

    async fn url_for_message(&self) -> String {
        match self.client().current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => format!("an unknown page ({error})"),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium survives a killed chromedriver, so kill the whole tree under it, collected
        // before any of it dies (the dying parents' children would move to init).
        if let Some(driver) = self.driver.id() {
            let mut tree = descendants(driver);
            tree.push(driver);
            for pid in tree {
                if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let _ = self.driver.start_kill();
        for _ in 0..20 {
            match std::fs::remove_dir_all(&self.dir) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => break,
            }
        }
    }
}

/// A new directory under the temp dir for one browser, with empty `profile/` and `tmp/`.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    let dir = std::env::temp_dir().join(format!(
        "xcs-chromium-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    for sub in ["profile", "tmp"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|error| panic!("create {}: {error}", path.display()));
    }
    dir
}

/// Every process below `root`, from /proc (Linux).
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|name| name.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|ppid| ppid.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for &(pid, ppid) in &parents {
            if ppid == parent && !found.contains(&pid) {
                found.push(pid);
                frontier.push(pid);
            }
        }
    }
    found
}
