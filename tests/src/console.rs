//! A signed-in client of the operator's console (`/console` on a processor's HTTP port), for
//! tests that drive its pages without a browser: it signs in through the form, keeps the
//! session cookie, and sends forms the way a browser would (with the CSRF token and the action
//! id scraped from the page).

use std::time::Duration;

/// The admin token the console tests give their processors.
pub const ADMIN_TOKEN: &str = "console-test-admin-token-0123456789";

/// The environment of a processor with the console on (and `base` for anything else).
pub fn env_with_console(base: impl Fn(&str) -> Option<String>) -> impl Fn(&str) -> Option<String> {
    move |name| {
        if name == "XCS_ADMIN_TOKEN" {
            Some(ADMIN_TOKEN.to_owned())
        } else {
            base(name)
        }
    }
}

/// A console session.
pub struct ConsoleClient {
    pub base: String,
    http: reqwest::Client,
    /// `name=value` of the session cookie, once signed in.
    cookie: Option<String>,
}

/// A page's answer: status, `Location` (for a redirect) and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl ConsoleClient {
    /// A client of the console on `port`, not signed in.
    pub fn new(port: u16) -> Self {
        ConsoleClient {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a client"),
            cookie: None,
        }
    }

    /// Signs in as `name` with the admin token; panics when refused.
    pub async fn sign_in(port: u16, name: &str) -> Self {
        let mut client = ConsoleClient::new(port);
        let answer = client
            .send_form(
                "/console/sign-in",
                &[("name", name), ("token", ADMIN_TOKEN), ("next", "/console")],
            )
            .await;
        assert_eq!(answer.status, 303, "sign-in refused: {}", answer.body);
        assert!(client.cookie.is_some(), "sign-in set no session cookie");
        client
    }

    async fn answer(&mut self, response: reqwest::Response) -> Answer {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let value = value.to_str().unwrap_or_default();
            if let Some(pair) = value.split(';').next()
                && pair.starts_with("xcs_console=")
            {
                self.cookie = (pair != "xcs_console=").then(|| pair.to_owned());
            }
        }
        Answer {
            status: response.status().as_u16(),
            location: response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: response.text().await.unwrap_or_default(),
        }
    }

    fn with_cookie(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
            None => request,
        }
    }

    /// `GET path`, redirects not followed.
    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.with_cookie(self.http.get(format!("{}{path}", self.base)));
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        self.answer(response).await
    }

    /// `GET path` that must answer 200; its body.
    pub async fn page(&mut self, path: &str) -> String {
        let answer = self.get(path).await;
        assert_eq!(answer.status, 200, "GET {path}: {answer:?}");
        answer.body
    }

    /// `POST path` with exactly these fields.
    pub async fn send_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self.with_cookie(self.http.post(format!("{}{path}", self.base)));
        let response = request
            .form(fields)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        self.answer(response).await
    }

    /// Sends the form of `page` whose `action` is `action`, with its hidden fields (the CSRF
    /// token, the action id) and `fields` added; the answer.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let hidden = hidden_fields(page, action);
        let mut all: Vec<(&str, &str)> = hidden
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        all.extend_from_slice(fields);
        self.send_form(action, &all).await
    }

    /// Follows an action's redirect to its page and waits until it is done or failed; the
    /// page.
    pub async fn wait_action(&mut self, answer: &Answer) -> String {
        let location = answer
            .location
            .clone()
            .unwrap_or_else(|| panic!("the action did not redirect: {answer:?}"));
        assert!(location.starts_with("/console/actions/"), "{location}");
        for _ in 0..600 {
            let page = self.page(&location).await;
            if !page.contains(">running<") {
                return page;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("action {location} still running after a minute");
    }
}

/// The hidden inputs of the form in `page` posting to `action`, as (name, value).
pub fn hidden_fields(page: &str, action: &str) -> Vec<(String, String)> {
    let marker = format!("action=\"{action}\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no form posting to {action} in the page:\n{page}"));
    let form = &page[start..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    let mut fields = Vec::new();
    for input in form.split("<input").skip(1) {
        let tag = &input[..input.find('>').unwrap_or(input.len())];
        if !tag.contains("type=\"hidden\"") {
            continue;
        }
        let attribute = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).map(|at| {
                let rest = &tag[at + key.len()..];
                unescape(&rest[..rest.find('"').unwrap_or(rest.len())])
            })
        };
        if let (Some(name), Some(value)) = (attribute("name"), attribute("value")) {
            fields.push((name, value));
        }
    }
    fields
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}
