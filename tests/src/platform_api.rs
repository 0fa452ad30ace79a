//! A fake of the platform REST APIs the processor fetches from when a webhook is thin
//! (`processor/src/dispatch.rs` names the paths, `processor/src/hydrate.rs` the auth):
//!
//! | Platform | Auth | Paths |
//! |---|---|---|
//! | BigCommerce | `X-Auth-Token` | `/v2/orders/{id}`, `/v2/orders/{id}/products`, `/v3/orders/{id}/payment_actions/refunds`, `/v3/catalog/products/{id}`, `/v3/catalog/products/{id}/variants/{id}`, under `/stores/{store_hash}` |
//! | Etsy | `Authorization: Bearer` and `x-api-key` | `/v3/application/shops/{shop}/receipts/{receipt}`, `/v3/application/shops/{shop}/payment-account/ledger-entries` and its `/payments` and `/{entry}` ([`FakePlatformApi::ledger`], `lists/etsy.rs`) |
//! | eBay | `Authorization: Bearer` | `/sell/fulfillment/v1/order/{orderId}` |
//! | WooCommerce | HTTP basic, consumer key and secret | `/wp-json/wc/v3/orders/{id}/refunds` |
//! | Shopify | `X-Shopify-Access-Token` | `/admin/api/{version}/orders/{id}/transactions.json` ([`shopify_transactions_path`]), `/admin/api/{version}/inventory_items/{id}.json`, `/admin/api/{version}/inventory_levels.json` ([`shopify_inventory_levels_path`], filtered by its query), `/admin/api/{version}/shopify_payments/payouts.json` and `/shopify_payments/balance/transactions.json` ([`FakePlatformApi::payout`], `lists/shopify/payments.rs`) |
//! | Adobe Commerce | `Authorization: Bearer` (an integration access token) | `/rest/V1/orders/{id}`, `/rest/V1/invoices/{id}`, `/rest/V1/creditmemo/{id}`, `/rest/V1/products/{sku}` |
//!
//! Each also answers the call that checks a shop's settings (`settings_checks`), its list
//! endpoints (`lists/`) and its webhook-subscription endpoints (`hooks/`). One server per
//! platform, on 127.0.0.1:0. A test registers JSON documents by path
//! ([`FakePlatformApi::put`], relative to [`FakePlatformApi::base_url`]); every `GET` is
//! counted, wrong or missing credentials get 401 and unknown resources 404, with the bodies the
//! real APIs send, and the server can be told to answer 503 for a while
//! ([`FakePlatformApi::fail_next`], [`FakePlatformApi::set_down`]).
//! [`FakePlatformApi::api_toml`] is the shop's `api` table pointing at it.
//!
//! Documents for the NZ demo company are in `tests/fixtures/platform_api/` ([`fixture`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::http::StatusCode;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine as _;
use serde_json::{Value, json};
use xcs_shared::Platform;

mod hooks;
mod lists;

/// The credentials the fake accepts, one set per platform.
pub mod credentials {
    /// BigCommerce: the store's API account access token (`X-Auth-Token`).
    pub const BIGCOMMERCE_TOKEN: &str = "bc-access-token-3k9x7q2m";
    /// The store hash in `https://api.bigcommerce.com/stores/{hash}`.
    pub const BIGCOMMERCE_STORE_HASH: &str = "nz7kq2";
    /// Etsy: the OAuth access token (prefixed with the user id, as Etsy issues them).
    pub const ETSY_TOKEN: &str = "987654321.etsy-oauth-access-token";
    /// Etsy: the app's `x-api-key` (keystring and shared secret).
    pub const ETSY_API_KEY: &str = "etsy-keystring-1a2b:etsy-shared-secret-3c4d";
    /// Etsy: the shop's numeric id, as in its receipt URLs (`api.shop_id`).
    pub const ETSY_SHOP_ID: &str = "31415926";
    /// eBay: a user access token with the `sell.fulfillment` and
    /// `commerce.notification.subscription` scopes.
    pub const EBAY_TOKEN: &str = "v^1.1#i^1#p^3#r^1#f^0#t^user-token-fulfillment";
    /// eBay: the app's keyset, for client-credentials application tokens.
    pub const EBAY_CLIENT_ID: &str = "XcsTest-xcs-PRD-5a1b2c3d4-e5f6a7b8";
    pub const EBAY_CLIENT_SECRET: &str = "PRD-a1b2c3d4e5f6-7a8b-9c0d-1e2f-3a4b";
    /// eBay: the application token the fake mints from that keyset.
    pub const EBAY_APP_TOKEN: &str = "v^1.1#i^1#f^0#p^1#r^0#t^application-token";
    /// WooCommerce: REST API consumer key and secret.
    pub const WOOCOMMERCE_KEY: &str = "ck_4f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6";
    pub const WOOCOMMERCE_SECRET: &str = "cs_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b";
    /// WooCommerce: a REST key with Read access only (its webhooks can be listed, not written).
    pub const WOOCOMMERCE_READ_KEY: &str = "ck_readonly00000000000000000000000000000001";
    pub const WOOCOMMERCE_READ_SECRET: &str = "cs_readonly00000000000000000000000000000001";
    /// Shopify: a custom app's Admin API access token (`X-Shopify-Access-Token`).
    pub const SHOPIFY_ACCESS_TOKEN: &str = "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";
    /// Adobe Commerce: an integration's access token (32 lowercase letters and digits, as
    /// Commerce generates them), used as a bearer token.
    pub const MAGENTO_TOKEN: &str = "q4m8z1x7c3v9b2n6k5j0h8g4f1d7s3a2";
}

/// Where Shopify lists order `order_id`'s transactions, at the Admin API version the processor
/// asks for by default.
pub fn shopify_transactions_path(order_id: u64) -> String {
    format!(
        "/admin/api/{}/orders/{order_id}/transactions.json",
        xcs_processor::platforms::api::SHOPIFY_API_VERSION
    )
}

/// Where Shopify lists inventory levels (`inventory_levels.json`, filtered by the query's
/// `inventory_item_ids` or `location_ids`), at the default Admin API version: a test puts every
/// level of the store there, and the fake answers each request with the levels it asks for.
pub fn shopify_inventory_levels_path() -> String {
    format!(
        "/admin/api/{}/inventory_levels.json",
        xcs_processor::platforms::api::SHOPIFY_API_VERSION
    )
}

/// Where Shopify serves inventory item `id`, at the default Admin API version.
pub fn shopify_inventory_item_path(id: u64) -> String {
    format!(
        "/admin/api/{}/inventory_items/{id}.json",
        xcs_processor::platforms::api::SHOPIFY_API_VERSION
    )
}

/// Reads `tests/fixtures/platform_api/{path}` as JSON.
pub fn fixture(path: &str) -> Value {
    let full = crate::workspace_root()
        .join("tests/fixtures/platform_api")
        .join(path);
    let text = std::fs::read_to_string(&full)
        .unwrap_or_else(|err| panic!("fixture {}: {err}", full.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("fixture {path} is not JSON: {err}"))
}

/// One request the fake answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Relative to the base URL (`/v2/orders/310`).
    pub path: String,
    pub status: u16,
}

struct State {
    platform: Platform,
    /// The base URL's path (`/stores/{hash}` for BigCommerce), before every document path.
    prefix: String,
    documents: Mutex<HashMap<String, Value>>,
    requests: Mutex<Vec<Request>>,
    /// Requests still to be answered 503.
    failing: AtomicUsize,
    down: AtomicBool,
    /// The store's orders as its list endpoints serve them ([`FakePlatformApi::list`]); each
    /// platform's list rules are in `platform_api/lists/`.
    listed: Mutex<Vec<Value>>,
    /// The catalogue a tracked shop's stock is read from ([`FakePlatformApi::stock`]): Etsy's
    /// listings by listing id, eBay's inventory items by SKU.
    stock: Mutex<std::collections::BTreeMap<String, Value>>,
    /// Shopify Payments payouts and balance transactions, as `shopify_payments/payouts.json` and
    /// `shopify_payments/balance/transactions.json` list them ([`FakePlatformApi::payout`]).
    payouts: Mutex<Vec<Value>>,
    balance_transactions: Mutex<Vec<Value>>,
    /// Etsy's payment account ledger entries and the payments behind them
    /// ([`FakePlatformApi::ledger`], `lists/etsy.rs`).
    ledger: Mutex<Vec<Value>>,
    ledger_payments: Mutex<Vec<Value>>,
    /// The platform's rate-limit state, as its list endpoints keep it.
    limits: Mutex<lists::Limits>,
    /// The webhook subscriptions its `hooks/` endpoints keep.
    hooks: Mutex<hooks::Hooks>,
}

/// A running fake of one platform's API.
pub struct FakePlatformApi {
    pub platform: Platform,
    /// What the shop's `api.base_url` is set to.
    pub base_url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl FakePlatformApi {
    /// Starts a fake of `platform`'s API (BigCommerce, Etsy, eBay, WooCommerce, Shopify's
    /// Admin API for order transactions, or Adobe Commerce's REST API for sales documents).
    pub async fn start(platform: Platform) -> Self {
        let prefix = match platform {
            Platform::BigCommerce => format!("/stores/{}", credentials::BIGCOMMERCE_STORE_HASH),
            Platform::Etsy
            | Platform::Ebay
            | Platform::WooCommerce
            | Platform::Shopify
            | Platform::Magento => String::new(),
        };
        let state = Arc::new(State {
            platform,
            prefix: prefix.clone(),
            documents: Mutex::default(),
            requests: Mutex::default(),
            failing: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            listed: Mutex::default(),
            stock: Mutex::default(),
            payouts: Mutex::default(),
            balance_transactions: Mutex::default(),
            ledger: Mutex::default(),
            ledger_payments: Mutex::default(),
            limits: Mutex::default(),
            hooks: Mutex::default(),
        });
        state
            .documents
            .lock()
            .unwrap()
            .extend(settings_checks(platform));
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let port = listener.local_addr().expect("bound").port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::route().to(answer))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        FakePlatformApi {
            platform,
            base_url: format!("http://127.0.0.1:{port}{prefix}"),
            state,
            handle,
        }
    }

    /// Serves `document` at `path` (relative to the base URL), replacing what was there.
    pub fn put(&self, path: &str, document: Value) {
        self.state
            .documents
            .lock()
            .unwrap()
            .insert(path.to_owned(), document);
    }

    /// Puts `resource` (an order, or a receipt, as the platform's list endpoint returns it) in
    /// the store's list, replacing the one with the same id: what the poller and backfill read.
    pub fn list(&self, resource: Value) {
        let mut listed = self.state.listed.lock().unwrap();
        let id = lists::id_of(self.platform, &resource);
        listed.retain(|r| lists::id_of(self.platform, r) != id);
        listed.push(resource);
    }

    /// Puts `resource` in the catalogue the stock endpoints serve, replacing the one with the
    /// same id: for Etsy a `ShopListing` with its `inventory` (and `state`, default
    /// `active`), for eBay an inventory item (`sku`, `availability`).
    pub fn stock(&self, resource: Value) {
        let id = match self.platform {
            Platform::Etsy => resource["listing_id"].to_string(),
            Platform::Ebay => resource["sku"].as_str().unwrap_or_default().to_owned(),
            other => panic!("the fake serves no stock list for {other}"),
        };
        self.state.stock.lock().unwrap().insert(id, resource);
    }

    /// Sets what is available of `sku`: for Etsy the quantity of every enabled offering of
    /// the products with that SKU, for eBay the item's ship-to-home quantity.
    pub fn set_stock_level(&self, sku: &str, quantity: u64) {
        let mut stock = self.state.stock.lock().unwrap();
        let mut found = false;
        for resource in stock.values_mut() {
            match self.platform {
                Platform::Ebay if resource["sku"] == sku => {
                    resource["availability"]["shipToLocationAvailability"]["quantity"] =
                        json!(quantity);
                    found = true;
                }
                Platform::Etsy => {
                    let products = resource["inventory"]["products"].as_array_mut();
                    for product in products.into_iter().flatten() {
                        if product["sku"] != sku {
                            continue;
                        }
                        let offerings = product["offerings"].as_array_mut();
                        for offering in offerings.into_iter().flatten() {
                            if offering["is_enabled"] == true {
                                offering["quantity"] = json!(quantity);
                                found = true;
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        assert!(found, "no stock of SKU {sku} in the fake");
    }

    /// Puts a Shopify Payments payout (the Payouts resource: `id`, `status`, `date`,
    /// `currency`, `amount`, `summary`) in the store's payouts list, replacing the one with the
    /// same id, and its balance transactions (the Transactions resource, each with its
    /// `payout_id`) in the balance list, replacing those with the same ids.
    pub fn payout(&self, payout: Value, transactions: Vec<Value>) {
        assert_eq!(
            self.platform,
            Platform::Shopify,
            "only Shopify Payments payouts are faked"
        );
        let mut payouts = self.state.payouts.lock().unwrap();
        payouts.retain(|p| p["id"] != payout["id"]);
        payouts.push(payout);
        let mut listed = self.state.balance_transactions.lock().unwrap();
        listed.retain(|t| !transactions.iter().any(|new| new["id"] == t["id"]));
        listed.extend(transactions);
    }

    /// Puts Etsy payment account ledger entries (`PaymentAccountLedgerEntry`) in the shop's
    /// ledger, replacing those with the same `entry_id`, and the `Payment`s behind them in
    /// what `ledger-entries/payments` answers, replacing those with the same `payment_id`.
    pub fn ledger(&self, entries: Vec<Value>, payments: Vec<Value>) {
        assert_eq!(
            self.platform,
            Platform::Etsy,
            "only Etsy's payment account ledger is faked"
        );
        let mut ledger = self.state.ledger.lock().unwrap();
        ledger.retain(|e| !entries.iter().any(|new| new["entry_id"] == e["entry_id"]));
        ledger.extend(entries);
        let mut listed = self.state.ledger_payments.lock().unwrap();
        listed.retain(|p| {
            !payments
                .iter()
                .any(|new| new["payment_id"] == p["payment_id"])
        });
        listed.extend(payments);
    }

    /// Answers the next `count` list requests 429, as a platform whose rate limit is spent.
    pub fn throttle_next(&self, count: usize) {
        self.state.limits.lock().unwrap().throttle_next = count;
    }

    /// Stops serving `path`: it is 404 from now on.
    pub fn remove(&self, path: &str) {
        self.state.documents.lock().unwrap().remove(path);
    }

    /// Answers the next `count` requests with 503, as an API having an outage does.
    pub fn fail_next(&self, count: usize) {
        self.state.failing.store(count, Ordering::SeqCst);
    }

    /// While down, every request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.state.requests.lock().unwrap().clone()
    }

    /// How many requests asked for `path`, whatever they were answered.
    pub fn request_count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    /// The shop's `api` table (inline TOML) with the credentials the fake accepts.
    pub fn api_toml(&self) -> String {
        let (token, key) = good_credentials(self.platform);
        self.api_toml_with(token, key)
    }

    /// The shop's `api` table (inline TOML) with the given token and key.
    pub fn api_toml_with(&self, token: &str, key: &str) -> String {
        // Etsy's poller lists receipts under the shop's id, which the config must give.
        let shop_id = if self.platform == Platform::Etsy {
            format!(", shop_id = {}", toml_string(credentials::ETSY_SHOP_ID))
        } else {
            String::new()
        };
        format!(
            "{{ base_url = {}, token = {}, key = {}{shop_id} }}",
            toml_string(&self.base_url),
            toml_string(token),
            toml_string(key)
        )
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

/// What each API answers to the call the processor checks a shop's settings with
/// (`xcs_processor::platforms::api_probe`), at the path without its query (the fake, like the
/// APIs, serves a list whatever `per_page`, `limit` or `searchCriteria` ask): trimmed examples
/// from each API's reference for that call. A test removes one ([`FakePlatformApi::remove`])
/// to model settings that reach no API.
fn settings_checks(platform: Platform) -> Vec<(String, Value)> {
    let (path, document) = match platform {
        // Shopify Admin REST API, Shop: "Retrieves the shop's configuration"; an unsupported
        // version is 404.
        Platform::Shopify => (
            format!(
                "/admin/api/{}/shop.json",
                xcs_processor::platforms::api::SHOPIFY_API_VERSION
            ),
            json!({"shop": {"id": 690933842, "name": "NZ Demo Store",
                            "myshopify_domain": "nz-demo.myshopify.com", "currency": "NZD"}}),
        ),
        // WooCommerce REST API v3, "List all orders": a JSON array.
        Platform::WooCommerce => ("/wp-json/wc/v3/orders".to_owned(), json!([])),
        // BigCommerce Store Information API, `GET /v2/store`.
        Platform::BigCommerce => (
            "/v2/store".to_owned(),
            json!({"id": credentials::BIGCOMMERCE_STORE_HASH, "name": "NZ Demo Store",
                   "currency": "NZD"}),
        ),
        // Adobe Commerce, `GET /V1/orders` with searchCriteria: a search result.
        Platform::Magento => (
            "/rest/V1/orders".to_owned(),
            json!({"items": [], "search_criteria": {"filter_groups": []}, "total_count": 0}),
        ),
        // Etsy Open API v3, ping: the application id of the key.
        Platform::Etsy => (
            "/v3/application/openapi-ping".to_owned(),
            json!({"application_id": 1234567}),
        ),
        // eBay Fulfillment API, getOrders: an order search page.
        Platform::Ebay => (
            "/sell/fulfillment/v1/order".to_owned(),
            json!({"href": "https://api.ebay.com/sell/fulfillment/v1/order?limit=1&offset=0",
                   "limit": 1, "offset": 0, "orders": [], "total": 0}),
        ),
    };
    vec![(path, document)]
}

/// The token and key a shop's `api` table holds for `platform` (key empty where unused).
pub fn good_credentials(platform: Platform) -> (&'static str, &'static str) {
    use credentials::*;
    match platform {
        Platform::BigCommerce => (BIGCOMMERCE_TOKEN, ""),
        Platform::Etsy => (ETSY_TOKEN, ETSY_API_KEY),
        Platform::Ebay => (EBAY_TOKEN, ""),
        Platform::WooCommerce => (WOOCOMMERCE_KEY, WOOCOMMERCE_SECRET),
        Platform::Shopify => (SHOPIFY_ACCESS_TOKEN, ""),
        Platform::Magento => (MAGENTO_TOKEN, ""),
    }
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn header<'r>(request: &'r HttpRequest, name: &str) -> Option<&'r str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

impl State {
    /// Whether the request carries the platform's credentials.
    fn authorised(&self, request: &HttpRequest) -> bool {
        use credentials::*;
        let bearer =
            |token: &str| header(request, "authorization") == Some(&format!("Bearer {token}"));
        match self.platform {
            Platform::BigCommerce => header(request, "x-auth-token") == Some(BIGCOMMERCE_TOKEN),
            Platform::Etsy => {
                bearer(ETSY_TOKEN) && header(request, "x-api-key") == Some(ETSY_API_KEY)
            }
            Platform::Ebay => bearer(EBAY_TOKEN),
            Platform::WooCommerce => {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{WOOCOMMERCE_KEY}:{WOOCOMMERCE_SECRET}"));
                header(request, "authorization") == Some(&format!("Basic {basic}"))
            }
            Platform::Shopify => {
                header(request, "x-shopify-access-token") == Some(SHOPIFY_ACCESS_TOKEN)
            }
            // Since 2.4.4 an integration's access token works alone only with "Allow OAuth
            // Access Tokens to be used as standalone Bearer tokens" (Adobe, "Token-based
            // authentication", Integration tokens); a store without it refuses the token as
            // this fake refuses a wrong one.
            Platform::Magento => bearer(MAGENTO_TOKEN),
        }
    }

    /// The body the real API sends with `status`.
    fn error_body(&self, status: StatusCode, path: &str) -> Value {
        match (self.platform, status.as_u16()) {
            (Platform::BigCommerce, 401) => json!({
                "status": 401,
                "title": "You are not authorized to perform this action. Please check that the X-Auth-Token header is correct.",
                "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            }),
            (Platform::BigCommerce, 404) if path.starts_with("/v2/") => {
                json!([{"status": 404, "message": "The requested resource was not found."}])
            }
            // The V3 Catalog API's answer for a product or variant id it does not have.
            (Platform::BigCommerce, 404) if path.starts_with("/v3/catalog/") => json!({
                "status": 404,
                "title": "The requested product or variant was not found.",
                "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            }),
            (Platform::BigCommerce, 404) => json!({
                "status": 404,
                "title": "Order not found",
                "type": "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes",
            }),
            (Platform::Etsy, 401) => json!({"error": "invalid_token"}),
            (Platform::Etsy, 404) => {
                json!({"error": "Could not find a receipt with the given receipt_id"})
            }
            (Platform::Ebay, 401) => json!({"errors": [{
                "errorId": 1001, "domain": "OAuth", "category": "REQUEST",
                "message": "Invalid access token",
                "longMessage": "Invalid access token. Check the value of the Authorization HTTP request header."
            }]}),
            (Platform::Ebay, 404) => json!({"errors": [{
                "errorId": 32100, "domain": "API_FULFILLMENT", "category": "REQUEST",
                "message": "Invalid Order Id",
            }]}),
            (Platform::WooCommerce, 401) => json!({
                "code": "woocommerce_rest_cannot_view",
                "message": "Sorry, you cannot list resources.",
                "data": {"status": 401},
            }),
            (Platform::WooCommerce, 404) => json!({
                "code": "woocommerce_rest_shop_order_invalid_id",
                "message": "Invalid ID.",
                "data": {"status": 404},
            }),
            (Platform::Shopify, 401) => json!({
                "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)",
            }),
            (Platform::Shopify, 404) => json!({"errors": "Not Found"}),
            // Adobe's "Status codes and REST responses" (developer.adobe.com/commerce/webapi/
            // get-started/gs-web-api-response): an error body is `message`, with `parameters`
            // filled into its `%placeholders`. 401 is "the request included an invalid token":
            // Commerce takes an unknown token for no token, and the route's ACL resource is
            // refused with this message (the AuthorizationException of Magento's
            // `Webapi\Controller\Rest\RequestValidator`; the message and the resource names
            // are Magento's source, which the documents do not quote: UNSURE per version).
            (Platform::Magento, 401) => json!({
                "message": "The consumer isn't authorized to access %resources.",
                "parameters": {"resources": magento_route(path).map_or("", |(acl, _)| acl)},
            }),
            // A sales document that does not exist: its repository's NoSuchEntityException,
            // which Commerce answers 404 with this message.
            (Platform::Magento, 404) if magento_route(path).is_some_and(|(_, by_id)| by_id) => {
                json!({
                    "message": "The entity that was requested doesn't exist. Verify the entity and try again.",
                })
            }
            // No route at all (a base_url pointing elsewhere, a wrong path): "The specified REST
            // endpoint does not exist" in Adobe's table, the REST router's message.
            (Platform::Magento, 404) => json!({"message": "Request does not match any route."}),
            (_, 503) => json!({"error": "Service Unavailable", "status": 503}),
            (_, code) => json!({"status": code, "title": status.canonical_reason()}),
        }
    }
}

async fn answer(request: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let full_path = request.path().to_owned();
    let path = full_path
        .strip_prefix(&state.prefix)
        .filter(|rest| rest.starts_with('/'))
        .map(str::to_owned);
    let status = if state.down.load(Ordering::SeqCst)
        || state
            .failing
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        StatusCode::SERVICE_UNAVAILABLE
    } else if let Some((code, response)) = match path.as_deref() {
        Some(p) => hooks::answer(&state, &request, p, &body).await,
        None => None,
    } {
        record(&state, &request, &full_path, code);
        return response;
    } else if request.method() != actix_web::http::Method::GET {
        StatusCode::METHOD_NOT_ALLOWED
    } else if state.platform == Platform::Magento
        && magento_route(path.as_deref().unwrap_or(&full_path)).is_none()
    {
        // Commerce matches the route before it looks at the token.
        StatusCode::NOT_FOUND
    } else if !state.authorised(&request) {
        StatusCode::UNAUTHORIZED
    } else if header(&request, "accept")
        .is_some_and(|accept| !accept.contains("json") && !accept.contains("*/*"))
    {
        // BigCommerce's V2 answers XML unless asked for JSON; none of them is asked for XML here.
        StatusCode::NOT_ACCEPTABLE
    } else if let Some(response) = path
        .as_deref()
        .and_then(|p| lists::answer(&state, &request, p))
    {
        let (code, response) = response;
        record(&state, &request, &full_path, code);
        return response;
    } else {
        match path
            .as_ref()
            .and_then(|p| state.documents.lock().unwrap().get(p).cloned())
        {
            Some(document) => {
                let Some(document) = shopify_levels_filter(&state, &request, document) else {
                    record(&state, &request, &full_path, 422);
                    // Shopify's REST InventoryLevel list: "inventory_item_ids / location_ids:
                    // ... one of them is required"; without either it is a 422.
                    return HttpResponse::UnprocessableEntity().json(json!({
                        "errors": "Missing parameter inventory_item_ids or location_ids",
                    }));
                };
                record(&state, &request, &full_path, 200);
                return HttpResponse::Ok().json(document);
            }
            None => StatusCode::NOT_FOUND,
        }
    };
    record(&state, &request, &full_path, status.as_u16());
    let mut response = HttpResponse::build(status);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.insert_header(("Retry-After", "10"));
    }
    if status == StatusCode::UNAUTHORIZED && state.platform == Platform::WooCommerce {
        response.insert_header(("WWW-Authenticate", "Basic realm=\"WooCommerce REST API\""));
    }
    response.json(state.error_body(status, path.as_deref().unwrap_or(&full_path)))
}

/// Shopify's inventory level list (Admin REST API, InventoryLevel, "Retrieves a list of
/// inventory levels"): the levels of the items in `inventory_item_ids` and the locations in
/// `location_ids` (comma-separated; at least one of the two is required, else `None`), at most
/// `limit` of them (default 50, at most 250). Other documents pass unchanged.
fn shopify_levels_filter(state: &State, request: &HttpRequest, document: Value) -> Option<Value> {
    if state.platform != Platform::Shopify || !request.path().ends_with("/inventory_levels.json") {
        return Some(document);
    }
    let query = lists::query(request);
    let ids = |key: &str| -> Option<Vec<String>> {
        lists::param(&query, key)
            .map(|list| list.split(',').map(|id| id.trim().to_owned()).collect())
    };
    let (items, locations) = (ids("inventory_item_ids"), ids("location_ids"));
    if items.is_none() && locations.is_none() {
        return None;
    }
    let limit = lists::param(&query, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(50)
        .min(250);
    let matches = |level: &Value, key: &str, wanted: &Option<Vec<String>>| {
        let id = level[key].to_string();
        wanted.as_ref().is_none_or(|ids| ids.contains(&id))
    };
    let levels: Vec<Value> = document["inventory_levels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| {
            matches(l, "inventory_item_id", &items) && matches(l, "location_id", &locations)
        })
        .take(limit)
        .cloned()
        .collect();
    Some(json!({ "inventory_levels": levels }))
}

/// The Adobe Commerce sales route `path` is on: its ACL resource, and whether it is one
/// document by id (`/rest/V1/orders/5120`) rather than a search (`/rest/V1/orders`).
fn magento_route(path: &str) -> Option<(&'static str, bool)> {
    let rest = path.strip_prefix("/rest/V1/")?;
    // `GET /V1/products/{sku}` (catalogProductRepositoryV1): a SKU, not an entity id, and a
    // product that does not exist is its repository's NoSuchEntityException.
    if let Some(sku) = rest.strip_prefix("products/")
        && !sku.is_empty()
        && !sku.contains('/')
    {
        return Some(("Magento_Catalog::products", true));
    }
    let (collection, id) = match rest.split_once('/') {
        Some((collection, id)) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) => {
            (collection, true)
        }
        Some(_) => return None,
        None => (rest, false),
    };
    let acl = match (collection, id) {
        ("orders", _) => "Magento_Sales::actions_view",
        ("invoices", _) => "Magento_Sales::sales_invoice",
        ("creditmemo", true) | ("creditmemos", false) => "Magento_Sales::sales_creditmemo",
        _ => return None,
    };
    Some((acl, id))
}

fn record(state: &State, request: &HttpRequest, full_path: &str, status: u16) {
    let path = full_path
        .strip_prefix(&state.prefix)
        .unwrap_or(full_path)
        .to_owned();
    state.requests.lock().unwrap().push(Request {
        method: request.method().to_string(),
        path,
        status,
    });
}
