//! A fake of the two key services the ingress calls: eBay's Notification API (client-credentials
//! token, `GET /commerce/notification/v1/public_key/{kid}`) and Adobe's static key host.
//! It behaves like the real ones where the ingress can tell: eBay's PEM comes without line
//! breaks, the key lookup wants the bearer token, unknown keys are 404.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use p256::pkcs8::EncodePublicKey;

pub const EBAY_CLIENT_ID: &str = "fake-ebay-app";
pub const EBAY_CLIENT_SECRET: &str = "fake-ebay-app-secret";
const EBAY_TOKEN: &str = "v^1.1#fake-application-token";

#[derive(Default)]
struct Keys {
    ebay: Mutex<HashMap<String, String>>,
    adobe: Mutex<HashMap<String, String>>,
    ebay_key_requests: AtomicUsize,
    adobe_key_requests: AtomicUsize,
    token_requests: AtomicUsize,
    /// When set, every key request fails with 503.
    down: std::sync::atomic::AtomicBool,
}

/// A running fake key server.
pub struct KeyServer {
    pub base_url: String,
    keys: Arc<Keys>,
    handle: actix_web::dev::ServerHandle,
}

impl KeyServer {
    pub async fn start() -> Self {
        let keys = Arc::new(Keys::default());
        let state = web::Data::from(Arc::clone(&keys));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/identity/v1/oauth2/token", web::post().to(token))
                .route(
                    "/commerce/notification/v1/public_key/{kid}",
                    web::get().to(ebay_key),
                )
                .default_service(web::get().to(adobe_key))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        KeyServer {
            base_url: format!("http://127.0.0.1:{port}"),
            keys,
            handle,
        }
    }

    /// Publishes an eBay key under `kid`, in eBay's one-line PEM form.
    pub fn add_ebay_key(&self, kid: &str, key: &p256::ecdsa::SigningKey) {
        let der = key
            .verifying_key()
            .to_public_key_der()
            .expect("P-256 public keys encode");
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----{}-----END PUBLIC KEY-----",
            base64::engine::general_purpose::STANDARD.encode(der.as_bytes())
        );
        self.add_ebay_pem(kid, &pem);
    }

    /// Publishes an eBay key exactly as given.
    pub fn add_ebay_pem(&self, kid: &str, pem: &str) {
        self.keys
            .ebay
            .lock()
            .unwrap()
            .insert(kid.to_owned(), pem.to_owned());
    }

    /// Publishes an Adobe key at `path`.
    pub fn add_adobe_key(&self, path: &str, key: &rsa::PrivateKey) {
        let pem = key
            .to_public_key()
            .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
            .expect("RSA public keys encode");
        self.keys.adobe.lock().unwrap().insert(path.to_owned(), pem);
    }

    pub fn set_down(&self, down: bool) {
        self.keys.down.store(down, Ordering::SeqCst);
    }

    pub fn ebay_key_requests(&self) -> usize {
        self.keys.ebay_key_requests.load(Ordering::SeqCst)
    }

    pub fn adobe_key_requests(&self) -> usize {
        self.keys.adobe_key_requests.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

async fn token(request: HttpRequest, keys: web::Data<Keys>) -> HttpResponse {
    keys.token_requests.fetch_add(1, Ordering::SeqCst);
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{EBAY_CLIENT_ID}:{EBAY_CLIENT_SECRET}"))
    );
    let authorised = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorised {
        return HttpResponse::Unauthorized().json(serde_json::json!({
            "error": "invalid_client", "error_description": "client authentication failed"
        }));
    }
    HttpResponse::Ok().json(serde_json::json!({
        "access_token": EBAY_TOKEN, "expires_in": 7200, "token_type": "Application Access Token"
    }))
}

async fn ebay_key(
    request: HttpRequest,
    kid: web::Path<String>,
    keys: web::Data<Keys>,
) -> HttpResponse {
    keys.ebay_key_requests.fetch_add(1, Ordering::SeqCst);
    if keys.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {EBAY_TOKEN}")) {
        return HttpResponse::Unauthorized().finish();
    }
    match keys.ebay.lock().unwrap().get(kid.as_str()) {
        Some(pem) => HttpResponse::Ok().json(serde_json::json!({
            "algorithm": "ECDSA", "digest": "SHA1", "key": pem
        })),
        None => HttpResponse::NotFound().json(serde_json::json!({
            "errors": [{"errorId": 195000, "message": "Resource not found"}]
        })),
    }
}

async fn adobe_key(request: HttpRequest, keys: web::Data<Keys>) -> HttpResponse {
    keys.adobe_key_requests.fetch_add(1, Ordering::SeqCst);
    if keys.down.load(Ordering::SeqCst) {
        return HttpResponse::ServiceUnavailable().finish();
    }
    match keys.adobe.lock().unwrap().get(request.path()) {
        Some(pem) => HttpResponse::Ok()
            .content_type("application/x-pem-file")
            .body(pem.clone()),
        None => HttpResponse::NotFound().finish(),
    }
}
