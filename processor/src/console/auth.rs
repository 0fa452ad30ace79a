//! Who may use the console, and proof that a form was sent from it.
//!
//! - **Sign-in.** `GET /console/sign-in` is a form asking for the operator's name (for the
//!   action log) and the admin token (`XCS_ADMIN_TOKEN`); `POST` compares the token in constant
//!   time and answers with a session cookie: `HttpOnly` (no script reads it), `SameSite=Strict`
//!   (no other site's page sends it), `Secure` when the request came over HTTPS, 12 hours.
//! - **The session** is signed, not stored: `name.expires.nonce.mac`, the MAC an HMAC-SHA256
//!   under a key derived from the admin token. Any processor behind one address accepts it, a
//!   restart keeps it, and changing the admin token signs everyone out.
//! - **CSRF.** Every form carries a token derived from the session's nonce under the same key;
//!   a POST without the right one is refused (403), as is one whose `Origin` is another site.
//! - **Scripts** may read pages with `Authorization: Bearer <admin token>`; every change needs
//!   a signed-in session and its CSRF token.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::Payload;
use actix_web::http::{Method, StatusCode, header};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use base64::Engine as _;
use hmac::{KeyInit as _, Mac as _};
use maud::html;
use secrecy::{ExposeSecret as _, SecretString};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use time::OffsetDateTime;

use super::Console;
use super::html::{self, Page};

type HmacSha256 = hmac::Hmac<Sha256>;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "xcs_console";
/// How long a sign-in lasts.
const SESSION_SECS: i64 = 12 * 60 * 60;
/// The longest operator name kept (it is shown and logged).
const MAX_NAME: usize = 64;

/// Whether `presented` is the admin token; the time taken does not depend on where they differ,
/// nor on their lengths.
pub(crate) fn admin_token_matches(presented: &[u8], token: &SecretString) -> bool {
    let fingerprint = |secret: &[u8]| -> [u8; 32] { Sha256::digest(secret).into() };
    bool::from(fingerprint(presented).ct_eq(&fingerprint(token.expose_secret().trim().as_bytes())))
}

/// The admin token and the key sessions and CSRF tokens are signed with.
pub(crate) struct Keys {
    admin_token: SecretString,
    signing: [u8; 32],
}

impl Keys {
    pub(crate) fn from_admin_token(token: &SecretString) -> Self {
        // A key of its own, so a MAC shown in a cookie says nothing about the token itself.
        let mut mac = HmacSha256::new_from_slice(token.expose_secret().trim().as_bytes())
            .expect("any key length");
        mac.update(b"xcs-console-session-v1");
        Keys {
            admin_token: token.clone(),
            signing: mac.finalize().into_bytes().into(),
        }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.signing).expect("any key length");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn session_value(&self, name: &str, expires: i64, nonce: &str) -> String {
        let name = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name);
        let expires = expires.to_string();
        let mac = self.mac(&["session", &name, &expires, nonce]);
        format!("{name}.{expires}.{nonce}.{mac}")
    }

    /// The operator a cookie value signs in, if it is ours and not expired.
    fn verify_session(&self, value: &str, now: i64) -> Option<Operator> {
        let mut parts = value.split('.');
        let (name, expires, nonce, mac) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expected = self.mac(&["session", name, expires, nonce]);
        if !bool::from(expected.as_bytes().ct_eq(mac.as_bytes())) {
            return None;
        }
        if expires.parse::<i64>().ok()? <= now {
            return None;
        }
        let name = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(name)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())?;
        Some(Operator {
            name,
            csrf: Some(self.mac(&["csrf", nonce])),
        })
    }
}

/// Who is signed in. Extracting it from a request refuses one without a session: a page
/// request is sent to the sign-in form, anything else answered 401.
#[derive(Debug, Clone)]
pub(crate) struct Operator {
    pub name: String,
    /// The CSRF token of the session; `None` for a script reading with the bearer token,
    /// which may change nothing.
    csrf: Option<String>,
}

impl Operator {
    /// The CSRF token forms carry (empty for a bearer-token reader, whose POSTs are refused).
    pub(crate) fn csrf(&self) -> &str {
        self.csrf.as_deref().unwrap_or_default()
    }

    /// Refuses a form not sent from one of this session's pages.
    ///
    /// # Errors
    /// A 403 page saying so.
    pub(crate) fn check_csrf(&self, presented: &str) -> Result<(), Box<HttpResponse>> {
        match &self.csrf {
            Some(csrf) if bool::from(csrf.as_bytes().ct_eq(presented.as_bytes())) => Ok(()),
            _ => Err(Box::new(forbidden(
                "This form was not sent from a page of your session (its CSRF token is missing \
                 or stale). Reload the page and send it again.",
            ))),
        }
    }
}

fn forbidden(why: &str) -> HttpResponse {
    html::message(StatusCode::FORBIDDEN, "Refused", why)
}

/// Whether a POST comes from another site: browsers send `Origin` on every POST, and it must
/// name the host the request was sent to.
fn cross_site(request: &HttpRequest) -> bool {
    let Some(origin) = request.headers().get(header::ORIGIN) else {
        return false;
    };
    let host = request.connection_info().host().to_owned();
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin.split_once("://").map_or("", |(_, rest)| rest);
    origin == "null" || !origin_host.eq_ignore_ascii_case(&host)
}

impl FromRequest for Operator {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(signed_in(request).map_err(|response| {
            actix_web::error::InternalError::from_response("not signed in", *response).into()
        }))
    }
}

fn signed_in(request: &HttpRequest) -> Result<Operator, Box<HttpResponse>> {
    let Some(console) = request.app_data::<web::Data<Console>>() else {
        return Err(Box::new(html::message(
            StatusCode::NOT_FOUND,
            "Console off",
            "The console is not configured.",
        )));
    };
    let reading = matches!(*request.method(), Method::GET | Method::HEAD);
    if request.method() == Method::POST && cross_site(request) {
        return Err(Box::new(forbidden("This form was sent from another site.")));
    }
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if let Some(operator) = request
        .cookie(SESSION_COOKIE)
        .and_then(|cookie| console.keys.verify_session(cookie.value(), now))
    {
        return Ok(operator);
    }
    if reading
        && let Some(bearer) = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        && admin_token_matches(bearer.trim().as_bytes(), &console.keys.admin_token)
    {
        return Ok(Operator {
            name: "bearer token".to_owned(),
            csrf: None,
        });
    }
    if reading {
        let back = request
            .uri()
            .path_and_query()
            .map_or("/console", |p| p.as_str());
        let location = format!("/console/sign-in?{}", query_pair("next", back));
        return Err(Box::new(
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish(),
        ));
    }
    Err(Box::new(html::message(
        StatusCode::UNAUTHORIZED,
        "Sign in first",
        "This needs a signed-in session: sign in at /console/sign-in.",
    )))
}

pub(crate) fn query_pair(key: &str, value: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish()
}

/// Where to go after signing in: a console path only, so the form cannot send anyone away.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(next)
            if next.starts_with("/console")
                && !next.starts_with("//")
                && !next.contains(['\\', '\r', '\n']) =>
        {
            next
        }
        _ => "/console",
    }
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/sign-in", web::get().to(sign_in_form))
        .route("/sign-in", web::post().to(sign_in))
        .route("/sign-out", web::post().to(sign_out));
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn sign_in_page(status: StatusCode, next: &str, problem: Option<&str>) -> HttpResponse {
    Page::new("Sign in").status(status).render(html! {
        form.card.sign-in method="post" action="/console/sign-in" {
            h1 { "Sign in to the console" }
            @if let Some(problem) = problem {
                p.problem role="alert" { (problem) }
            }
            input type="hidden" name="next" value=(next);
            label { "Your name " small { "(shown in the action log)" }
                input type="text" name="name" required maxlength=(MAX_NAME) autocomplete="username";
            }
            label { "Admin token " small { "(XCS_ADMIN_TOKEN)" }
                input type="password" name="token" required autocomplete="current-password";
            }
            button type="submit" { "Sign in" }
        }
    })
}

async fn sign_in_form(query: web::Query<NextQuery>) -> HttpResponse {
    sign_in_page(StatusCode::OK, safe_next(query.next.as_deref()), None)
}

#[derive(Deserialize)]
struct SignIn {
    name: String,
    token: String,
    next: Option<String>,
}

async fn sign_in(
    request: HttpRequest,
    console: web::Data<Console>,
    form: web::Form<SignIn>,
) -> HttpResponse {
    let next = safe_next(form.next.as_deref());
    if cross_site(&request) {
        return forbidden("This form was sent from another site.");
    }
    let name: String = form.name.trim().chars().take(MAX_NAME).collect();
    if name.is_empty() || name.chars().any(char::is_control) {
        return sign_in_page(
            StatusCode::BAD_REQUEST,
            next,
            Some("Give your name (it is shown beside everything you do here)."),
        );
    }
    if !admin_token_matches(form.token.trim().as_bytes(), &console.keys.admin_token) {
        tracing::warn!(target: "xcs::console::audit", operator = %name, "console sign-in refused: wrong admin token");
        return sign_in_page(
            StatusCode::UNAUTHORIZED,
            next,
            Some("That is not the admin token (XCS_ADMIN_TOKEN of this processor)."),
        );
    }
    let expires = OffsetDateTime::now_utc().unix_timestamp() + SESSION_SECS;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let cookie = Cookie::build(
        SESSION_COOKIE,
        console.keys.session_value(&name, expires, &nonce),
    )
    .path("/console")
    .http_only(true)
    .same_site(SameSite::Strict)
    .secure(request.connection_info().scheme() == "https")
    .max_age(actix_web::cookie::time::Duration::seconds(SESSION_SECS))
    .finish();
    tracing::info!(target: "xcs::console::audit", operator = %name, "signed in to the console");
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, next))
        .finish()
}

#[derive(Deserialize)]
struct SignOut {
    csrf: String,
}

async fn sign_out(operator: Operator, form: web::Form<SignOut>) -> HttpResponse {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return *refused;
    }
    let mut cookie = Cookie::build(SESSION_COOKIE, "").path("/console").finish();
    cookie.make_removal();
    tracing::info!(target: "xcs::console::audit", operator = %operator.name, "signed out of the console");
    HttpResponse::SeeOther()
        .cookie(cookie)
        .insert_header((header::LOCATION, "/console/sign-in"))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(token: &str) -> Keys {
        Keys::from_admin_token(&SecretString::from(token.to_owned()))
    }

    #[test]
    fn a_session_signs_in_its_operator_until_it_expires() {
        let keys = keys("a-token-of-enough-length");
        let value = keys.session_value("Ana Ruiz", 1_000, "n1");
        let operator = keys.verify_session(&value, 999).expect("valid");
        assert_eq!(operator.name, "Ana Ruiz");
        assert!(operator.check_csrf(&keys.mac(&["csrf", "n1"])).is_ok());
        assert!(operator.check_csrf("").is_err());
        assert!(keys.verify_session(&value, 1_000).is_none(), "expired");
    }

    #[test]
    fn a_session_altered_or_signed_with_another_token_is_refused() {
        let keys = keys("a-token-of-enough-length");
        let value = keys.session_value("ana", 1_000, "n1");
        let other = super::tests::keys("another-token-of-length");
        assert!(other.verify_session(&value, 0).is_none());
        let longer = value.replacen(".1000.", ".9999.", 1);
        assert!(keys.verify_session(&longer, 0).is_none());
        let renamed = value.replacen(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("ana"),
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("eve"),
            1,
        );
        assert!(keys.verify_session(&renamed, 0).is_none());
        assert!(keys.verify_session("garbage", 0).is_none());
        assert!(keys.verify_session(&format!("{value}.x"), 0).is_none());
    }

    #[test]
    fn sign_in_sends_only_to_console_pages() {
        assert_eq!(
            safe_next(Some("/console/dead?reason=x")),
            "/console/dead?reason=x"
        );
        assert_eq!(safe_next(Some("https://evil.example")), "/console");
        assert_eq!(safe_next(Some("//evil.example")), "/console");
        assert_eq!(safe_next(None), "/console");
    }
}
