//! `xcs-processor connect`: connects Xero organisations with OAuth 2.0's authorization-code
//! flow, behind a small admin HTTP server. The flow itself ([`Flow`]) is also mounted by the
//! operator's console, under `/console/xero` on the processor's own server
//! (`console/mapping.rs`), behind its sign-in instead of the admin credential.
//!
//! - `GET /xero/connect` (admin credential) redirects the browser to Xero's consent page with
//!   the configured scopes and a random `state`, kept in the ledger (`xcs_oauth_states`, as a
//!   SHA-256; single-use, 10 minutes) and in an `HttpOnly` cookie scoped to the flow's path, so
//!   the callback is completed by the browser that started it, on any server of the same
//!   ledger.
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
//! Pending states live in the ledger: a callback may land on another `connect` server or
//! processor than the one that started the flow, as behind a load balancer.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

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
}

impl State {
    fn flow(&self) -> Flow<'_> {
        Flow {
            config: &self.config,
            ledger: &self.ledger,
            http: &self.http,
            base: CONNECT_SERVER_BASE,
            console: false,
        }
    }
}

/// Where the `connect` server serves the flow.
const CONNECT_SERVER_BASE: &str = "/xero";
/// Where the console serves it.
pub(crate) const CONSOLE_BASE: &str = "/console/xero";

/// The authorization-code flow, mounted under `base` (`/xero` on the `connect` server,
/// `/console/xero` in the console): `{base}/connect` starts it, `{base}/callback` finishes
/// it. Whoever mounts it checks who may start it; the callback needs no credential.
pub(crate) struct Flow<'a> {
    pub config: &'a Config,
    pub ledger: &'a Ledger,
    pub http: &'a reqwest::Client,
    pub base: &'static str,
    /// Mounted by the console: its audit log, and a way back to its mapping page.
    pub console: bool,
}

/// The HTTP client the flow calls Xero's identity endpoints with.
///
/// # Errors
/// When no client can be built (TLS).
pub(crate) fn http_client(config: &Config) -> reqwest::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_millis(config.xero.timeout_ms))
        .user_agent(concat!("xero-commerce-sync/", env!("CARGO_PKG_VERSION")))
        .build()
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
        if redirect_uri.ends_with("/console/xero/callback") {
            anyhow::bail!(
                "[xero] redirect_uri {redirect_uri:?} is the console's callback: connect from \
                 the processor's console instead (Mapping, \"Connect a Xero organisation\", at \
                 /console/xero/connect), or set redirect_uri to this server's \
                 https://<host>/xero/callback"
            );
        }
        if !redirect_uri.ends_with("/xero/callback") {
            anyhow::bail!(
                "[xero] redirect_uri {redirect_uri:?} must end in /xero/callback, the path this \
                 server answers Xero's redirect on"
            );
        }
        let ledger = Ledger::connect(&config.postgres).await?;
        let http = http_client(&config)?;
        let port = listener.local_addr()?.port();
        let state = web::Data::new(State {
            config: Arc::new(config),
            ledger,
            http,
            admin_token,
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

/// Who the request's admin token signs in (the basic-auth user name, or "bearer token"), if it
/// carries the admin token as a bearer token or a basic-auth password.
fn authorised(request: &HttpRequest, token: &SecretString) -> Option<String> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let (who, presented): (String, Vec<u8>) = if let Some(bearer) = value.strip_prefix("Bearer ") {
        ("bearer token".to_owned(), bearer.trim().as_bytes().to_vec())
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()?;
        let colon = decoded.iter().position(|b| *b == b':')?;
        let user: String = String::from_utf8_lossy(&decoded[..colon])
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        (user, decoded[colon + 1..].to_vec())
    } else {
        return None;
    };
    crate::console::admin_token_matches(&presented, token).then_some(who)
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

/// `GET /xero/connect` on the `connect` server.
async fn start(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let Some(who) = authorised(&request, &state.admin_token) else {
        return unauthorised();
    };
    state.flow().start(&who).await
}

/// `GET /xero/callback` on the `connect` server.
async fn callback(
    request: HttpRequest,
    query: web::Query<CallbackQuery>,
    state: web::Data<State>,
) -> HttpResponse {
    state.flow().callback(&request, query.into_inner()).await
}

/// Xero's redirect back to `{base}/callback`.
#[derive(Deserialize)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Flow<'_> {
    /// `{base}/connect`: sends the browser to Xero's consent page, with a fresh state recorded
    /// as started by `who` (whom the mounter signed in).
    pub(crate) async fn start(&self, who: &str) -> HttpResponse {
        let xero = &self.config.xero;
        let redirect_uri = xero.redirect_uri.as_deref().unwrap_or_default();
        let nonce = random_state();
        let shops = &self.config.shops;
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
                        "<p>[xero] authorize_url {:?} is not a URL ({}). Fix it in the \
                         processor's config and restart it.</p>",
                        escape(&xero.authorize_url),
                        escape(&err.to_string())
                    ),
                );
            }
        };
        if let Err(err) = self.ledger.put_oauth_state(&nonce, who, STATE_TTL).await {
            return page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot start connecting",
                &format!(
                    "<p>The ledger is unreachable ({}), and the connection's state is kept \
                     there; check PostgreSQL and try again.</p>",
                    escape(&err.to_string())
                ),
            );
        }
        if self.console {
            tracing::info!(target: "xcs::console::audit", operator = %who, "started connecting a Xero organisation");
        } else {
            tracing::info!(started_by = %who, "started connecting a Xero organisation");
        }
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
                    "{STATE_COOKIE}={nonce}; Path={}; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
                    self.base,
                    STATE_TTL.as_secs()
                ),
            ))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish()
    }

    fn start_again(&self) -> String {
        format!(
            "<p>Start again at <a href=\"{base}/connect\">{base}/connect</a> (a link is good \
             for 10 minutes and works once).</p>",
            base = self.base
        )
    }

    /// The page's way back to the console, when it mounted the flow.
    fn back(&self) -> &'static str {
        if self.console {
            "<p><a href=\"/console/mapping\">Back to the console's Mapping page</a></p>"
        } else {
            ""
        }
    }

    /// `{base}/callback`: Xero's redirect. The state must be the browser's (its cookie) and
    /// pending in the ledger, which uses it up; then the code is exchanged and the tokens and
    /// organisations stored.
    pub(crate) async fn callback(
        &self,
        request: &HttpRequest,
        query: CallbackQuery,
    ) -> HttpResponse {
        let start_again = self.start_again();
        let presented = query.state.unwrap_or_default();
        let cookie = cookie_value(request, STATE_COOKIE).unwrap_or_default();
        if presented.is_empty()
            || !bool::from(fingerprint(cookie.as_bytes()).ct_eq(&fingerprint(presented.as_bytes())))
        {
            return page(
                StatusCode::BAD_REQUEST,
                "This sign-in did not start here",
                &format!(
                    "<p>The answer from Xero does not belong to a connection started in this \
                     browser (the state does not match), so it was refused.</p>{start_again}"
                ),
            );
        }
        let started_by = match self.ledger.take_oauth_state(&presented).await {
            Ok(Some(started_by)) => started_by,
            Ok(None) => {
                return page(
                    StatusCode::BAD_REQUEST,
                    "This sign-in link was already used or has expired",
                    &start_again,
                );
            }
            Err(err) => {
                return page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Cannot finish connecting",
                    &format!(
                        "<p>The ledger is unreachable ({}); check PostgreSQL.</p>{start_again}",
                        escape(&err.to_string())
                    ),
                );
            }
        };
        let clear_cookie = format!(
            "{STATE_COOKIE}=; Path={}; Max-Age=0; HttpOnly; SameSite=Lax",
            self.base
        );
        if let Some(error) = query.error {
            let description = query.error_description.unwrap_or_default();
            let mut response = page(
                StatusCode::BAD_REQUEST,
                "Xero did not connect",
                &format!(
                    "<p>Xero answered <code>{}</code>{}. If you declined on Xero's page, that \
                     is why; otherwise check that the app's scopes ([xero] scopes) are allowed \
                     for it.</p>{start_again}{}",
                    escape(&error),
                    if description.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", escape(&description))
                    },
                    self.back()
                ),
            );
            clear(&mut response, &clear_cookie);
            return response;
        }
        let Some(code) = query.code.filter(|c| !c.is_empty()) else {
            return page(StatusCode::BAD_REQUEST, "Xero sent no code", &start_again);
        };
        let mut response = match self.finish(&code).await {
            Ok(tenants) => {
                if self.console {
                    tracing::info!(target: "xcs::console::audit", operator = %started_by, organisations = tenants.len(), "connected Xero organisations");
                } else {
                    tracing::info!(started_by = %started_by, organisations = tenants.len(), "Xero connected");
                }
                let body = format!(
                    "{}{}",
                    connections_html(self.config, &tenants, self.base),
                    self.back()
                );
                page(StatusCode::OK, "Xero is connected", &body)
            }
            Err(problem) => page(
                StatusCode::BAD_GATEWAY,
                "Connecting Xero failed",
                &format!("<p>{}</p>{start_again}{}", escape(&problem), self.back()),
            ),
        };
        clear(&mut response, &clear_cookie);
        response
    }
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

impl Flow<'_> {
    /// Exchanges the code, lists the organisations and stores both. The error says what to do.
    async fn finish(&self, code: &str) -> Result<Vec<ConnectedTenant>, String> {
        let xero = &self.config.xero;
        let response = self
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
        let response = self
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
            self.ledger.store_token(OAUTH_CONNECTION, &stored).await?;
            self.ledger
                .replace_connections(OAUTH_CONNECTION, &tenants)
                .await
        };
        store.await.map_err(|err| {
            format!(
                "Xero connected, but the tokens could not be stored ({err}); check PostgreSQL and \
                 connect again."
            )
        })?;
        Ok(tenants)
    }
}

/// `GET /xero`: what is connected now.
async fn status_page(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    if authorised(&request, &state.admin_token).is_none() {
        return unauthorised();
    }
    match state.ledger.connections().await {
        Ok(tenants) => page(
            StatusCode::OK,
            "Xero connections",
            &connections_html(&state.config, &tenants, CONNECT_SERVER_BASE),
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
/// connected, with a link to connect again at `{base}/connect`.
pub fn connections_html(config: &Config, tenants: &[ConnectedTenant], base: &str) -> String {
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
        html.push_str(&format!(
            "</table><p>Their events cannot be booked. <a href=\"{}/connect\">Connect \
             again</a> and tick those organisations on Xero's page, or correct the shops' \
             <code>tenant</code> to one of the ids above.</p>",
            escape(base)
        ));
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
