//! Xero's OAuth 2.0 identity service: the consent screen (simulated as an immediate redirect),
//! the token endpoint (authorization code, refresh with rotation, client credentials for Custom
//! Connections), revocation, `/connections`, and the bearer check every API call goes through.
//!
//! Lifetimes (developer.xero.com/faq/oauth2): access tokens 30 minutes; a refresh returns a new
//! refresh token, and the previous one stays usable for a 30-minute grace period; unused refresh
//! tokens expire after 60 days; authorization codes are single-use and expire after 5 minutes.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use crate::response::SimResponse;
use crate::scopes::{self, ScopeScheme};
use crate::seed::SeedApp;
use crate::wire;

/// Access-token lifetime (`expires_in: 1800`).
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a rotated-out refresh token stays usable.
pub const REFRESH_GRACE: Duration = Duration::from_secs(30 * 60);
/// How long an unused refresh token lives.
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(60 * 24 * 60 * 60);
/// Authorization-code lifetime.
pub const CODE_TTL: Duration = Duration::from_secs(5 * 60);

/// A registered app.
#[derive(Debug, Clone)]
pub struct App {
    /// `client_id`.
    pub client_id: String,
    secret: String,
    redirect_uris: Vec<String>,
    allow_localhost: bool,
    /// Set for a Custom Connection.
    pub custom_tenant: Option<Uuid>,
    /// Which scopes it may ask for.
    pub scheme: ScopeScheme,
    /// A Custom Connection's scopes, fixed when it was created.
    custom_scopes: Vec<String>,
}

impl App {
    /// What the app gets when it names no scopes: a Custom Connection its own; any other app
    /// everything its scheme serves, with a refresh token.
    fn default_scope(&self) -> String {
        if self.custom_tenant.is_some() {
            self.custom_scopes.join(" ")
        } else {
            format!("offline_access {}", self.scheme.full())
        }
    }
}

/// A tenant connection of an app (`GET /connections`).
#[derive(Debug, Clone)]
pub struct Connection {
    /// `id`.
    pub id: Uuid,
    /// The app.
    pub client_id: String,
    /// `authEventId`.
    pub auth_event_id: Uuid,
    /// `tenantId`.
    pub tenant_id: Uuid,
    /// `createdDateUtc`.
    pub created: OffsetDateTime,
    /// `updatedDateUtc`.
    pub updated: OffsetDateTime,
}

#[derive(Debug, Clone)]
struct AccessToken {
    client_id: String,
    expires_at: OffsetDateTime,
    custom_tenant: Option<Uuid>,
    scopes: Vec<String>,
}

#[derive(Debug, Clone)]
struct RefreshToken {
    client_id: String,
    scope: String,
    issued_at: OffsetDateTime,
    rotated_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
struct AuthCode {
    client_id: String,
    redirect_uri: String,
    scope: String,
    expires_at: OffsetDateTime,
}

/// Who is calling the Accounting API.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The app.
    pub client_id: String,
    /// The tenant the call is for.
    pub tenant: Uuid,
    /// The scopes the token was granted.
    pub scopes: Vec<String>,
}

/// All identity state.
#[derive(Debug, Default)]
pub struct OAuthState {
    apps: Vec<App>,
    codes: HashMap<String, AuthCode>,
    access: HashMap<String, AccessToken>,
    refresh: HashMap<String, RefreshToken>,
    connections: Vec<Connection>,
}

/// A token endpoint answer, for tests that mint tokens directly.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TokenSet {
    /// Bearer token for API calls.
    pub access_token: String,
    /// Refresh token, when the grant has one.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires (1800).
    pub expires_in: u64,
    /// `Bearer`.
    pub token_type: String,
    /// Granted scopes.
    pub scope: String,
}

fn oauth_error(error: &str) -> SimResponse {
    SimResponse::json(400, &json!({ "error": error }))
}

fn random_token(client_id: &str, scopes: &[String], now: OffsetDateTime, ttl: Duration) -> String {
    // Shaped like Xero's JWT access tokens, whose claims list the granted scopes as an array,
    // so clients that peek at claims find them; the signature is random and nothing verifies
    // it.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({
        "nbf": now.unix_timestamp(),
        "exp": (now + ttl).unix_timestamp(),
        "iss": "https://identity.xero.com",
        "aud": "https://identity.xero.com/resources",
        "client_id": client_id,
        "scope": scopes,
        "jti": Uuid::new_v4().simple().to_string(),
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signature = URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes());
    format!("{header}.{payload}.{signature}")
}

fn opaque_token() -> String {
    format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple())
}

/// Parses an `application/x-www-form-urlencoded` body or query string.
pub fn parse_form(text: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(text.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn form_get<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

impl OAuthState {
    /// Registers the seed's apps.
    pub fn new(apps: &[SeedApp]) -> Self {
        let mut state = Self::default();
        for app in apps {
            state.add_app(app);
        }
        state
    }

    /// Registers one more app (a Custom Connection made with a new organisation).
    pub fn add_app(&mut self, app: &SeedApp) {
        self.apps.push(App {
            client_id: app.client_id.clone(),
            secret: app.client_secret.clone(),
            redirect_uris: app.redirect_uris.clone(),
            allow_localhost: app.allow_localhost_redirects,
            custom_tenant: app.custom_connection_tenant,
            scheme: app.scope_scheme,
            custom_scopes: app
                .custom_connection_scopes
                .as_deref()
                .unwrap_or(app.scope_scheme.full())
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
        });
    }

    /// Whether an app with this client id is registered.
    pub fn has_app(&self, client_id: &str) -> bool {
        self.app(client_id).is_some()
    }

    fn app(&self, client_id: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.client_id == client_id)
    }

    fn redirect_allowed(app: &App, redirect_uri: &str) -> bool {
        app.redirect_uris.iter().any(|r| r == redirect_uri)
            || (app.allow_localhost
                && ["http://localhost", "http://127.0.0.1"]
                    .iter()
                    .any(|prefix| {
                        redirect_uri.strip_prefix(prefix).is_some_and(|rest| {
                            rest.is_empty() || rest.starts_with(':') || rest.starts_with('/')
                        })
                    }))
    }

    /// `GET /identity/connect/authorize`: consents at once and redirects back with a code.
    /// The app is connected to `tenants` (all seeded tenants unless the `tenants` parameter
    /// narrows it).
    pub fn authorize(
        &mut self,
        query: &[(String, String)],
        all_tenants: &[Uuid],
        now: OffsetDateTime,
    ) -> SimResponse {
        let Some(client_id) = form_get(query, "client_id") else {
            return SimResponse::text(400, "invalid_request: client_id is required");
        };
        let Some(app) = self.app(client_id).cloned() else {
            return SimResponse::text(400, "unauthorized_client: unknown client_id");
        };
        if form_get(query, "response_type") != Some("code") {
            return SimResponse::text(400, "unsupported_response_type");
        }
        let Some(redirect_uri) = form_get(query, "redirect_uri") else {
            return SimResponse::text(400, "invalid_request: redirect_uri is required");
        };
        if !Self::redirect_allowed(&app, redirect_uri) {
            return SimResponse::text(400, "invalid_request: redirect_uri is not registered");
        }
        let tenants: Vec<Uuid> = match form_get(query, "tenants") {
            Some(list) => {
                let parsed: Result<Vec<Uuid>, _> =
                    list.split(',').map(|t| t.trim().parse::<Uuid>()).collect();
                match parsed {
                    Ok(ids) if ids.iter().all(|id| all_tenants.contains(id)) => ids,
                    _ => return SimResponse::text(400, "invalid_request: unknown tenant"),
                }
            }
            None => all_tenants.to_vec(),
        };
        let scope = match form_get(query, "scope") {
            // An app created from 2 March 2026 asking for a broad scope, or any app asking for
            // a scope that does not exist: Xero's consent page shows "unauthorized_client :
            // Invalid scope for client" (XeroAPI/xero-python-oauth2-app#14; the 2026 change as
            // help.apideck.com/en/articles/8647746 reports it).
            Some(requested) => match scopes::check_requested(requested, app.scheme) {
                Ok(granted) => granted.join(" "),
                Err(_) => {
                    return SimResponse::text(
                        400,
                        "unauthorized_client : Invalid scope for client",
                    );
                }
            },
            None => app.default_scope(),
        };
        let auth_event_id = Uuid::new_v4();
        self.connect(&app.client_id, &tenants, auth_event_id, now);
        let code = opaque_token();
        self.codes.insert(
            code.clone(),
            AuthCode {
                client_id: app.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                scope: scope.clone(),
                expires_at: now + CODE_TTL,
            },
        );
        let mut params = form_urlencoded::Serializer::new(String::new());
        params.append_pair("code", &code);
        params.append_pair("scope", &scope);
        if let Some(state) = form_get(query, "state") {
            params.append_pair("state", state);
        }
        params.append_pair("session_state", &Uuid::new_v4().simple().to_string());
        let separator = if redirect_uri.contains('?') { '&' } else { '?' };
        let location = format!("{redirect_uri}{separator}{}", params.finish());
        let mut response = SimResponse::text(302, "");
        response.headers.push(("Location".to_owned(), location));
        response
    }

    fn connect(
        &mut self,
        client_id: &str,
        tenants: &[Uuid],
        auth_event_id: Uuid,
        now: OffsetDateTime,
    ) {
        for tenant in tenants {
            match self
                .connections
                .iter_mut()
                .find(|c| c.client_id == client_id && c.tenant_id == *tenant)
            {
                Some(existing) => {
                    existing.auth_event_id = auth_event_id;
                    existing.updated = now;
                }
                None => self.connections.push(Connection {
                    id: Uuid::new_v4(),
                    client_id: client_id.to_owned(),
                    auth_event_id,
                    tenant_id: *tenant,
                    created: now,
                    updated: now,
                }),
            }
        }
    }

    fn client_credentials(
        &self,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> Result<App, SimResponse> {
        let (id, secret) = match authorization.and_then(|h| h.strip_prefix("Basic ")) {
            Some(encoded) => {
                let decoded = STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| oauth_error("invalid_client"))?;
                let (id, secret) = decoded
                    .split_once(':')
                    .ok_or_else(|| oauth_error("invalid_client"))?;
                (id.to_owned(), secret.to_owned())
            }
            None => (
                form_get(form, "client_id").unwrap_or_default().to_owned(),
                form_get(form, "client_secret")
                    .unwrap_or_default()
                    .to_owned(),
            ),
        };
        match self.app(&id) {
            Some(app) if app.secret == secret => Ok(app.clone()),
            _ => Err(oauth_error("invalid_client")),
        }
    }

    /// `POST /connect/token`.
    pub fn token(
        &mut self,
        authorization: Option<&str>,
        form: &[(String, String)],
        now: OffsetDateTime,
    ) -> SimResponse {
        let app = match self.client_credentials(authorization, form) {
            Ok(app) => app,
            Err(response) => return response,
        };
        match form_get(form, "grant_type") {
            Some("authorization_code") => {
                let code = form_get(form, "code").unwrap_or_default();
                // Single use: the code is gone whatever happens next.
                let Some(grant) = self.codes.remove(code) else {
                    return oauth_error("invalid_grant");
                };
                if grant.client_id != app.client_id
                    || now >= grant.expires_at
                    || form_get(form, "redirect_uri") != Some(grant.redirect_uri.as_str())
                {
                    return oauth_error("invalid_grant");
                }
                let set = self.issue(&app.client_id, &grant.scope, None, now);
                token_response(&set)
            }
            Some("refresh_token") => {
                let presented = form_get(form, "refresh_token").unwrap_or_default();
                let Some(token) = self.refresh.get(presented).cloned() else {
                    return oauth_error("invalid_grant");
                };
                let expired = now - token.issued_at >= REFRESH_TOKEN_TTL;
                let grace_over = token
                    .rotated_at
                    .is_some_and(|rotated| now - rotated >= REFRESH_GRACE);
                if token.client_id != app.client_id || expired || grace_over {
                    return oauth_error("invalid_grant");
                }
                if token.rotated_at.is_none()
                    && let Some(entry) = self.refresh.get_mut(presented)
                {
                    entry.rotated_at = Some(now);
                }
                let set = self.issue(&app.client_id, &token.scope, None, now);
                token_response(&set)
            }
            Some("client_credentials") => {
                let Some(tenant) = app.custom_tenant else {
                    return oauth_error("unauthorized_client");
                };
                // A Custom Connection's scopes were chosen when it was created; a request may
                // narrow them, never widen them (UNSURE whether Xero narrows or ignores).
                let scope = match form_get(form, "scope") {
                    Some(requested) => {
                        let all_fixed = requested
                            .split_whitespace()
                            .all(|s| app.custom_scopes.iter().any(|own| own == s));
                        if !all_fixed {
                            return oauth_error("invalid_scope");
                        }
                        requested.split_whitespace().collect::<Vec<_>>().join(" ")
                    }
                    None => app.default_scope(),
                };
                let set = self.issue(&app.client_id, &scope, Some(tenant), now);
                token_response(&set)
            }
            _ => oauth_error("unsupported_grant_type"),
        }
    }

    fn issue(
        &mut self,
        client_id: &str,
        scope: &str,
        custom_tenant: Option<Uuid>,
        now: OffsetDateTime,
    ) -> TokenSet {
        let granted: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        let access_token = random_token(client_id, &granted, now, ACCESS_TOKEN_TTL);
        self.access.insert(
            access_token.clone(),
            AccessToken {
                client_id: client_id.to_owned(),
                expires_at: now + ACCESS_TOKEN_TTL,
                custom_tenant,
                scopes: granted,
            },
        );
        let refresh_token = (custom_tenant.is_none()
            && scope.split_whitespace().any(|s| s == "offline_access"))
        .then(|| {
            let token = opaque_token();
            self.refresh.insert(
                token.clone(),
                RefreshToken {
                    client_id: client_id.to_owned(),
                    scope: scope.to_owned(),
                    issued_at: now,
                    rotated_at: None,
                },
            );
            token
        });
        TokenSet {
            access_token,
            refresh_token,
            expires_in: ACCESS_TOKEN_TTL.as_secs(),
            token_type: "Bearer".to_owned(),
            scope: scope.to_owned(),
        }
    }

    /// Connects an app to tenants and mints tokens without the consent round trip (tests),
    /// with `scope` or, when `None`, what the app gets by default (see `App::default_scope`).
    ///
    /// # Errors
    /// When the app or a tenant is unknown, or the app may not have a scope asked for.
    pub fn issue_directly(
        &mut self,
        client_id: &str,
        tenants: &[Uuid],
        known_tenants: &[Uuid],
        scope: Option<&str>,
        now: OffsetDateTime,
    ) -> anyhow::Result<TokenSet> {
        let app = self
            .app(client_id)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("unknown app {client_id}"))?;
        if let Some(unknown) = tenants.iter().find(|t| !known_tenants.contains(t)) {
            anyhow::bail!("unknown tenant {unknown}");
        }
        let scope = match scope {
            Some(requested) => scopes::check_requested(requested, app.scheme)
                .map_err(|bad| anyhow::anyhow!("app {client_id} may not have scope {bad}"))?
                .join(" "),
            None => app.default_scope(),
        };
        if app.custom_tenant.is_some() {
            return Ok(self.issue(client_id, &scope, app.custom_tenant, now));
        }
        self.connect(client_id, tenants, Uuid::new_v4(), now);
        Ok(self.issue(client_id, &scope, None, now))
    }

    /// `POST /connect/revocation`: revokes a refresh token and disconnects the app.
    pub fn revoke(
        &mut self,
        authorization: Option<&str>,
        form: &[(String, String)],
    ) -> SimResponse {
        let app = match self.client_credentials(authorization, form) {
            Ok(app) => app,
            Err(response) => return response,
        };
        let token = form_get(form, "token").unwrap_or_default();
        if self
            .refresh
            .get(token)
            .is_some_and(|t| t.client_id == app.client_id)
        {
            self.refresh.remove(token);
            self.connections.retain(|c| c.client_id != app.client_id);
        }
        SimResponse::text(200, "")
    }

    fn bearer(
        &self,
        authorization: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<&AccessToken, SimResponse> {
        let token = authorization
            .and_then(|h| {
                h.strip_prefix("Bearer ")
                    .or_else(|| h.strip_prefix("bearer "))
            })
            .map(str::trim)
            .ok_or_else(unauthorized)?;
        let access = self.access.get(token).ok_or_else(unauthorized)?;
        if now >= access.expires_at {
            let fmt = format_description!("[month]/[day]/[year] [hour]:[minute]:[second]");
            let at = access.expires_at.format(&fmt).expect("a UTC time formats");
            return Err(SimResponse::problem(
                401,
                "Unauthorized",
                &format!("TokenExpired: token expired at {at}"),
            ));
        }
        Ok(access)
    }

    /// Checks the bearer token and the `xero-tenant-id` of an Accounting API call.
    ///
    /// # Errors
    /// 401 for a missing, unknown or expired token; 403 when the token has no connection to the
    /// tenant (or no tenant was named and the token is not a Custom Connection).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        tenant_header: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Caller, SimResponse> {
        let access = self.bearer(authorization, now)?;
        let named = match tenant_header.map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => Some(text.parse::<Uuid>().map_err(|_| forbidden())?),
            None => None,
        };
        let tenant = match (access.custom_tenant, named) {
            // "Because Custom Connections are only valid for a single organisation you don't
            // need to pass the xero-tenant-id" (developer.xero.com/faq/custom-integration).
            (Some(own), None) => own,
            (Some(own), Some(named)) if own == named => own,
            (Some(_), Some(_)) | (None, None) => return Err(forbidden()),
            (None, Some(named)) => {
                if !self
                    .connections
                    .iter()
                    .any(|c| c.client_id == access.client_id && c.tenant_id == named)
                {
                    return Err(forbidden());
                }
                named
            }
        };
        Ok(Caller {
            client_id: access.client_id.clone(),
            tenant,
            scopes: access.scopes.clone(),
        })
    }

    /// The app behind a valid bearer token, for journal entries.
    pub fn client_of(&self, authorization: Option<&str>) -> Option<String> {
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        self.access.get(token).map(|a| a.client_id.clone())
    }

    /// `GET /connections`.
    pub fn list_connections(
        &self,
        authorization: Option<&str>,
        query: &[(String, String)],
        tenant_names: &HashMap<Uuid, String>,
        now: OffsetDateTime,
    ) -> SimResponse {
        let access = match self.bearer(authorization, now) {
            Ok(access) => access,
            Err(response) => return response,
        };
        let filter = form_get(query, "authEventId").and_then(|id| id.parse::<Uuid>().ok());
        let list: Vec<Value> = self
            .connections
            .iter()
            .filter(|c| c.client_id == access.client_id)
            .filter(|c| access.custom_tenant.is_none_or(|t| t == c.tenant_id))
            .filter(|c| filter.is_none_or(|id| id == c.auth_event_id))
            .map(|c| connection_json(c, tenant_names))
            .collect();
        let list = match access.custom_tenant {
            // A Custom Connection is connected to its tenant without any consent step.
            Some(tenant) if list.is_empty() => vec![connection_json(
                &Connection {
                    id: tenant,
                    client_id: access.client_id.clone(),
                    auth_event_id: tenant,
                    tenant_id: tenant,
                    created: now,
                    updated: now,
                },
                tenant_names,
            )],
            _ => list,
        };
        SimResponse::json(200, &Value::Array(list))
    }

    /// `DELETE /connections/{id}`.
    pub fn delete_connection(
        &mut self,
        authorization: Option<&str>,
        id: &str,
        now: OffsetDateTime,
    ) -> SimResponse {
        let client_id = match self.bearer(authorization, now) {
            Ok(access) => access.client_id.clone(),
            Err(response) => return response,
        };
        let Ok(id) = id.parse::<Uuid>() else {
            return SimResponse::not_found();
        };
        let before = self.connections.len();
        self.connections
            .retain(|c| !(c.id == id && c.client_id == client_id));
        if self.connections.len() == before {
            return SimResponse::not_found();
        }
        SimResponse::text(204, "")
    }
}

fn connection_json(c: &Connection, tenant_names: &HashMap<Uuid, String>) -> Value {
    json!({
        "id": c.id,
        "authEventId": c.auth_event_id,
        "tenantId": c.tenant_id,
        "tenantType": "ORGANISATION",
        "tenantName": tenant_names.get(&c.tenant_id),
        "createdDateUtc": wire::rfc3339(c.created),
        "updatedDateUtc": wire::rfc3339(c.updated),
    })
}

fn token_response(set: &TokenSet) -> SimResponse {
    let mut body = json!({
        "access_token": set.access_token,
        "expires_in": set.expires_in,
        "token_type": set.token_type,
        "scope": set.scope,
    });
    if let Some(refresh) = &set.refresh_token {
        body["refresh_token"] = json!(refresh);
    }
    SimResponse::json(200, &body)
}

fn unauthorized() -> SimResponse {
    SimResponse::problem(401, "Unauthorized", "AuthenticationUnsuccessful")
}

fn forbidden() -> SimResponse {
    SimResponse::problem(403, "Forbidden", "AuthenticationUnsuccessful")
}
