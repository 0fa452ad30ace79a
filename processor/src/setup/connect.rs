//! `xcs-processor connect`: connects Xero organisations with OAuth 2.0's authorization-code
//! flow, behind a small admin HTTP server.
//!
//! - `GET /xero/connect` (admin credential) redirects the browser to Xero's consent page with
//!   the configured scopes and a random `state`, kept here (single-use, 10 minutes) and in an
//!   `HttpOnly` cookie, so the callback is completed by the browser that started it.
//! - `GET /xero/callback?code&state` (Xero's redirect; it carries no credential, so the
//!   single-use state and the cookie stand in for one) exchanges the code at `/connect/token`,
//!   lists the organisations with `GET /connections`, stores the tokens in the ledger (the row
//!   the processor's OAuth mode rotates) and the organisations, and shows which configured
//!   shops book into a connected organisation and which do not.
//! - `GET /xero` (admin credential): the same page, from what is stored.
//!
//! The admin credential is `XCS_ADMIN_TOKEN`, sent as a bearer token or as the password of
//! HTTP basic auth (so a browser can prompt for it); it is compared in constant time.
//!
//! Pending states live in this process: run one `connect` server at a time.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use crate::config::{Config, XeroAuthMode};
use crate::ledger::{ConnectedTenant, Ledger, StoredToken};
use crate::xero::client::OAUTH_CONNECTION;

/// How long a consent round trip may take.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// The cookie that ties the callback to the browser that started the flow.
pub const STATE_COOKIE: &str = "xcs_xero_state";

struct State {
    config: Arc<Config>,
    ledger: Ledger,
    http: reqwest::Client,
    admin_token: SecretString,
    pending: Mutex<HashMap<String, Instant>>,
}

/// A running admin server.
pub struct AdminServer {
    pub port: u16,
    server: actix_web::dev::Server,
}

impl AdminServer {
    /// Connects the ledger (running migrations) and binds the admin server to `listener`.
    ///
    /// # Errors
    /// When the config is not set up for the flow (OAuth mode, `redirect_uri`), the admin
    /// token is empty, or PostgreSQL is unreachable; each message says what to set.
    pub async fn build(
        config: Config,
        listener: TcpListener,
        admin_token: SecretString,
    ) -> anyhow::Result<Self> {
        if admin_token.expose_secret().trim().len() < 16 {
            anyhow::bail!(
                "set XCS_ADMIN_TOKEN to a random secret of at least 16 characters (e.g. \
                 `openssl rand -hex 32`); the admin pages need it"
            );
        }
        if config.xero.auth != XeroAuthMode::Oauth {
            anyhow::bail!(
                "[xero] auth is \"custom_connection\": a Custom Connection needs no connecting; \
                 run `xcs-processor check` to prove it. To connect organisations with the \
                 authorization-code flow, set auth = \"oauth\" and redirect_uri"
            );
        }
        let Some(redirect_uri) = &config.xero.redirect_uri else {
            anyhow::bail!(
                "set [xero] redirect_uri to this server's callback URL \
                 (https://<host>/xero/callback), exactly as registered for the app at \
                 developer.xero.com/app/manage"
            );
        };
        if !redirect_uri.ends_with("/xero/callback") {
            anyhow::bail!(
                "[xero] redirect_uri {redirect_uri:?} must end in /xero/callback, the path this \
                 server answers Xero's redirect on"
            );
        }
        let ledger = Ledger::connect(&config.postgres).await?;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.xero.timeout_ms))
            .user_agent(concat!("xero-commerce-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(State {
            config: Arc::new(config),
            ledger,
            http,
            admin_token,
            pending: Mutex::new(HashMap::new()),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/xero", web::get().to(status_page))
                .route("/xero/connect", web::get().to(start))
                .route("/xero/callback", web::get().to(callback))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(AdminServer { port, server })
    }

    /// Serves until `shutdown` completes.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.await;
        handle.stop(true).await;
        server.await.unwrap_or(Ok(()))
    }
}

/// Whether the request carries the admin token, as a bearer token or a basic-auth password.
fn authorised(request: &HttpRequest, token: &SecretString) -> bool {
    let Some(value) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let presented: Vec<u8> = if let Some(bearer) = value.strip_prefix("Bearer ") {
        bearer.trim().as_bytes().to_vec()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(basic.trim()) else {
            return false;
        };
        match decoded.iter().position(|b| *b == b':') {
            Some(colon) => decoded[colon + 1..].to_vec(),
            None => return false,
        }
    } else {
        return false;
    };
    crate::console::admin_token_matches(&presented, token)
}

fn unauthorised() -> HttpResponse {
    HttpResponse::Unauthorized()
        .insert_header((
            header::WWW_AUTHENTICATE,
            "Basic realm=\"xcs-processor admin\", charset=\"UTF-8\"",
        ))
        .content_type("text/plain; charset=utf-8")
        .body(
            "The admin pages need the admin token (XCS_ADMIN_TOKEN of the `connect` server): \
             sign in with any user name and the token as password, or send it as a bearer \
             token.\n",
        )
}

fn fingerprint(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

fn random_state() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `GET /xero/connect`.
async fn start(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if !authorised(&request, &state.admin_token) {
        return unauthorised();
    }
    let xero = &state.config.xero;
    let redirect_uri = xero.redirect_uri.as_deref().unwrap_or_default();
    let nonce = random_state();
    {
        let mut pending = state.pending.lock().expect("not poisoned");
        let now = Instant::now();
        pending.retain(|_, expires| *expires > now);
        pending.insert(nonce.clone(), now + STATE_TTL);
    }
    let shops = &state.config.shops;
    let items = shops
        .values()
        .any(|s| s.inventory == crate::config::InventoryMode::Items);
    let payouts = shops.values().any(|s| s.payouts);
    let scope = xero.scopes.requested_for(items, payouts);
    let location = match reqwest::Url::parse_with_params(
        &xero.authorize_url,
        &[
            ("response_type", "code"),
            ("client_id", xero.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", scope.as_str()),
            ("state", nonce.as_str()),
        ],
    ) {
        Ok(url) => url.to_string(),
        Err(err) => {
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot build Xero's consent URL",
                &format!(
                    "<p>[xero] authorize_url {:?} is not a URL ({}). Fix it in the processor's \
                     config and restart <code>xcs-processor connect</code>.</p>",
                    escape(&xero.authorize_url),
                    escape(&err.to_string())
                ),
            );
        }
    };
    let secure = if redirect_uri.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HttpResponse::Found()
        .insert_header((header::LOCATION, location))
        .insert_header((
            header::SET_COOKIE,
            format!(
                "{STATE_COOKIE}={nonce}; Path=/xero; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                STATE_TTL.as_secs()
            ),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

const START_AGAIN: &str = "<p>Start again at <a href=\"/xero/connect\">/xero/connect</a> (a \
     link is good for 10 minutes and works once).</p>";

/// `GET /xero/callback`.
async fn callback(
    request: HttpRequest,
    query: web::Query<CallbackQuery>,
    state: web::Data<State>,
) -> HttpResponse {
    let query = query.into_inner();
    let presented = query.state.unwrap_or_default();
    let cookie = cookie_value(&request, STATE_COOKIE).unwrap_or_default();
    if presented.is_empty()
        || !bool::from(fingerprint(cookie.as_bytes()).ct_eq(&fingerprint(presented.as_bytes())))
    {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in did not start here",
            &format!(
                "<p>The answer from Xero does not belong to a connection started in this \
                 browser (the state does not match), so it was refused.</p>{START_AGAIN}"
            ),
        );
    }
    let fresh = {
        let mut pending = state.pending.lock().expect("not poisoned");
        pending
            .remove(&presented)
            .is_some_and(|expires| expires > Instant::now())
    };
    if !fresh {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in link was already used or has expired",
            START_AGAIN,
        );
    }
    let clear_cookie = format!("{STATE_COOKIE}=; Path=/xero; Max-Age=0; HttpOnly; SameSite=Lax");
    if let Some(error) = query.error {
        let description = query.error_description.unwrap_or_default();
        let mut response = page(
            StatusCode::BAD_REQUEST,
            "Xero did not connect",
            &format!(
                "<p>Xero answered <code>{}</code>{}. If you declined on Xero's page, that is \
                 why; otherwise check that the app's scopes ([xero] scopes) are allowed for \
                 it.</p>{START_AGAIN}",
                escape(&error),
                if description.is_empty() {
                    String::new()
                } else {
                    format!(": {}", escape(&description))
                }
            ),
        );
        clear(&mut response, &clear_cookie);
        return response;
    }
    let Some(code) = query.code.filter(|c| !c.is_empty()) else {
        return page(StatusCode::BAD_REQUEST, "Xero sent no code", START_AGAIN);
    };
    let mut response = match finish(&state, &code).await {
        Ok(tenants) => {
            let body = connections_html(&state.config, &tenants);
            page(StatusCode::OK, "Xero is connected", &body)
        }
        Err(problem) => page(
            StatusCode::BAD_GATEWAY,
            "Connecting Xero failed",
            &format!("<p>{}</p>{START_AGAIN}", escape(&problem)),
        ),
    };
    clear(&mut response, &clear_cookie);
    response
}

fn clear(response: &mut HttpResponse, cookie: &str) {
    if let Ok(value) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A cookie's value from the `Cookie` headers (actix-web's cookie feature is off).
fn cookie_value(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    refresh_token: Option<String>,
    expires_in: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConnectionAnswer {
    id: String,
    tenant_id: String,
    #[serde(default)]
    tenant_type: Option<String>,
    #[serde(default)]
    tenant_name: Option<String>,
    #[serde(default)]
    auth_event_id: Option<String>,
}

/// Exchanges the code, lists the organisations and stores both. The error says what to do.
async fn finish(state: &State, code: &str) -> Result<Vec<ConnectedTenant>, String> {
    let xero = &state.config.xero;
    let response = state
        .http
        .post(format!(
            "{}/connect/token",
            xero.identity_base.trim_end_matches('/')
        ))
        .basic_auth(&xero.client_id, Some(xero.client_secret.expose_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            (
                "redirect_uri",
                xero.redirect_uri.as_deref().unwrap_or_default(),
            ),
        ])
        .send()
        .await
        .map_err(|err| {
            format!(
                "Cannot reach Xero's token endpoint ({}); check [xero] identity_base and the \
                 network.",
                err.without_url()
            )
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        return Err(if body.contains("invalid_client") {
            "Xero refused the app's credentials (invalid_client): check [xero] client_id and \
             client_secret (or XCS_XERO_CLIENT_SECRET) against developer.xero.com/app/manage."
                .to_owned()
        } else if body.contains("invalid_grant") {
            "Xero refused the authorization code (invalid_grant): codes last 5 minutes and work \
             once, and redirect_uri must be exactly the registered one."
                .to_owned()
        } else {
            format!("Xero's token endpoint answered {status}.")
        });
    }
    let token: TokenAnswer = serde_json::from_str(&body)
        .map_err(|err| format!("Xero's token answer is unreadable ({err})."))?;
    let Some(refresh_token) = token.refresh_token else {
        return Err(
            "Xero granted no refresh token, so the connection would die in 30 minutes: add \
             offline_access on Xero's consent page (the app may not allow it) and connect again."
                .to_owned(),
        );
    };
    let response = state
        .http
        .get(&xero.connections_url)
        .bearer_auth(&token.access_token)
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|err| {
            format!(
                "Cannot reach Xero's connections endpoint ({}); check [xero] connections_url.",
                err.without_url()
            )
        })?;
    if !response.status().is_success() {
        return Err(format!(
            "Xero's connections endpoint answered {}; check [xero] connections_url.",
            response.status()
        ));
    }
    let listed: Vec<ConnectionAnswer> = response
        .json()
        .await
        .map_err(|err| format!("Xero's connections answer is unreadable ({err})."))?;
    let tenants: Vec<ConnectedTenant> = listed
        .into_iter()
        .map(|c| ConnectedTenant {
            tenant_id: c.tenant_id,
            connection_id: c.id,
            tenant_name: c.tenant_name.unwrap_or_default(),
            tenant_type: c.tenant_type.unwrap_or_default(),
            auth_event_id: c.auth_event_id.unwrap_or_default(),
        })
        .collect();
    let stored = StoredToken {
        refresh_token,
        access_token: Some(token.access_token),
        access_expires_at: Some(
            time::OffsetDateTime::now_utc() + time::Duration::seconds(token.expires_in.max(0)),
        ),
    };
    let store = async {
        state.ledger.store_token(OAUTH_CONNECTION, &stored).await?;
        state
            .ledger
            .replace_connections(OAUTH_CONNECTION, &tenants)
            .await
    };
    store.await.map_err(|err| {
        format!(
            "Xero connected, but the tokens could not be stored ({err}); check PostgreSQL and \
             connect again."
        )
    })?;
    tracing::info!(organisations = tenants.len(), "Xero connected");
    Ok(tenants)
}

/// `GET /xero`: what is connected now.
async fn status_page(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if !authorised(&request, &state.admin_token) {
        return unauthorised();
    }
    match state.ledger.connections().await {
        Ok(tenants) => page(
            StatusCode::OK,
            "Xero connections",
            &connections_html(&state.config, &tenants),
        ),
        Err(err) => page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot read the connections",
            &format!(
                "<p>The ledger is unreachable ({}); check PostgreSQL.</p>",
                escape(&err.to_string())
            ),
        ),
    }
}

/// The organisations, the shops booking into each, and the shops whose organisation is not
/// connected.
pub fn connections_html(config: &Config, tenants: &[ConnectedTenant]) -> String {
    let mut html = String::from(
        "<h2>Connected organisations</h2><table><tr><th>Organisation</th><th>Tenant id</th>\
         <th>Shops booking into it</th></tr>",
    );
    if tenants.is_empty() {
        html.push_str("<tr><td colspan=\"3\">None.</td></tr>");
    }
    for tenant in tenants {
        let shops: Vec<String> = config
            .shops
            .iter()
            .filter(|(_, s)| s.tenant.eq_ignore_ascii_case(&tenant.tenant_id))
            .map(|(name, _)| escape(name))
            .collect();
        html.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>",
            escape(&tenant.tenant_name),
            escape(&tenant.tenant_id),
            if shops.is_empty() {
                "none configured".to_owned()
            } else {
                shops.join(", ")
            }
        ));
    }
    html.push_str("</table>");
    let missing: Vec<(&String, &String)> = config
        .shops
        .iter()
        .filter(|(_, s)| {
            !tenants
                .iter()
                .any(|t| t.tenant_id.eq_ignore_ascii_case(&s.tenant))
        })
        .map(|(name, s)| (name, &s.tenant))
        .collect();
    if missing.is_empty() {
        html.push_str(
            "<p class=\"ok\">✓ Every configured shop books into a connected organisation. \
             Next: <code>xcs-processor check</code>.</p>",
        );
    } else {
        html.push_str(
            "<h2>✗ Shops whose organisation is not connected</h2><table><tr><th>Shop</th>\
             <th>Tenant id</th></tr>",
        );
        for (name, tenant) in missing {
            html.push_str(&format!(
                "<tr><td>{}</td><td><code>{}</code></td></tr>",
                escape(name),
                escape(tenant)
            ));
        }
        html.push_str(
            "</table><p>Their events cannot be booked. <a href=\"/xero/connect\">Connect \
             again</a> and tick those organisations on Xero's page, or correct the shops' \
             <code>tenant</code> to one of the ids above.</p>",
        );
    }
    html
}

fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>\
             <style>body{{font-family:sans-serif;max-width:50em;margin:2em auto}}\
             td,th{{padding:.2em .8em;text-align:left}}</style></head>\
             <body><h1>{title}</h1>{body}</body></html>",
            title = escape(title)
        ))
}

/// HTML text escaping.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
