//! The platforms' webhook-subscription endpoints, which `xcs-processor webhooks check|sync`
//! reads and writes: list, create and update (or re-enable) with each platform's request and
//! answer shapes, its auth and its error bodies. One file per platform, each naming the
//! documentation it follows:
//!
//! | Platform | Paths |
//! |---|---|
//! | Shopify | `/admin/api/{version}/webhooks.json`, `/webhooks/{id}.json` |
//! | WooCommerce | `/wp-json/wc/v3/webhooks`, `/webhooks/{id}` |
//! | BigCommerce | `/v3/hooks`, `/v3/hooks/{id}`, `/v3/hooks/admin` |
//! | eBay | `/identity/v1/oauth2/token`, `/commerce/notification/v1/{destination,subscription,topic}…` |
//!
//! A subscription belongs to an app: the one whose credentials the fake accepts ("ours",
//! [`FakePlatformApi::add_hook`]) or another ([`FakePlatformApi::add_other_apps_hook`]), which
//! Shopify, BigCommerce and eBay never show to ours (WooCommerce lists the whole store's).

mod bigcommerce;
mod ebay;
mod shopify;
mod woocommerce;

use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use xcs_shared::Platform;

use super::{FakePlatformApi, State};

/// Whose a stored subscription is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum App {
    /// The app whose credentials the fake accepts.
    Ours,
    /// Another app or integration of the same store.
    Other,
    /// eBay: our application's own subscriptions (to application topics), which its
    /// application token lists, not the seller's token.
    Application,
}

/// One subscription, as the platform holds it.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub app: App,
    pub hook: Value,
}

/// The subscription state the endpoints keep.
#[derive(Debug, Default)]
pub(super) struct Hooks {
    pub subscriptions: Vec<Stored>,
    /// eBay's destinations, the application's.
    pub destinations: Vec<Value>,
    pub last_id: u64,
    /// Shopify: the access scopes the token was granted; `None` is every scope.
    pub shopify_scopes: Option<Vec<String>>,
    /// BigCommerce's denylisted destination domains, with the seconds each has left.
    pub blocked: Vec<(String, u64)>,
}

impl Hooks {
    /// Stores `hook` in place of this app's subscription `id`, if it has one.
    pub fn replace_ours(&mut self, platform: Platform, id: &str, hook: Value) {
        if let Some(stored) = self
            .subscriptions
            .iter_mut()
            .find(|s| s.app == App::Ours && id_of(platform, &s.hook) == id)
        {
            stored.hook = hook;
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        // Ids in the platforms' ranges are long numbers; any distinct ones do here.
        4_759_306_000 + self.last_id
    }
}

/// The field each platform keeps a subscription's id in.
fn id_field(platform: Platform) -> &'static str {
    match platform {
        Platform::Ebay => "subscriptionId",
        _ => "id",
    }
}

/// A stored subscription's id, as text.
pub(super) fn id_of(platform: Platform, hook: &Value) -> String {
    match &hook[id_field(platform)] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The answer of a subscription endpoint, with its status, when `path` is one.
pub(super) async fn answer(
    state: &State,
    request: &HttpRequest,
    path: &str,
    body: &[u8],
) -> Option<(u16, HttpResponse)> {
    let query = super::lists::query(request);
    match state.platform {
        Platform::Shopify => shopify::answer(state, request, path, &query, body),
        Platform::WooCommerce => woocommerce::answer(state, request, path, &query, body),
        Platform::BigCommerce => bigcommerce::answer(state, request, path, &query, body),
        Platform::Ebay => ebay::answer(state, request, path, &query, body).await,
        Platform::Etsy | Platform::Magento => None,
    }
}

/// The value of query parameter `name`.
pub(super) fn param<'q>(query: &'q [(String, String)], name: &str) -> Option<&'q str> {
    query
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

pub(super) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("a time formats")
}

impl FakePlatformApi {
    /// Stores `hook` (a subscription in the platform's own shape, without its id) as one of
    /// our app's, as if it had been made through the API earlier; returns its id.
    pub fn add_hook(&self, hook: Value) -> String {
        self.store(App::Ours, hook)
    }

    /// Stores `hook` as another app's (or, for WooCommerce, another integration's).
    pub fn add_other_apps_hook(&self, hook: Value) -> String {
        self.store(App::Other, hook)
    }

    fn store(&self, app: App, mut hook: Value) -> String {
        let mut hooks = self.state.hooks.lock().unwrap();
        let id = hooks.next_id();
        hook[id_field(self.platform)] = match self.platform {
            Platform::Ebay => Value::String(id.to_string()),
            _ => Value::from(id),
        };
        if self.platform == Platform::BigCommerce {
            bigcommerce::complete(app, &mut hook);
        }
        hooks.subscriptions.push(Stored { app, hook });
        id.to_string()
    }

    /// Every subscription the platform holds, ours and others', in the order they were made.
    pub fn hooks(&self) -> Vec<Value> {
        let hooks = self.state.hooks.lock().unwrap();
        hooks.subscriptions.iter().map(|s| s.hook.clone()).collect()
    }

    /// The subscription with `id`.
    pub fn hook(&self, id: &str) -> Option<Value> {
        self.hooks()
            .into_iter()
            .find(|h| id_of(self.platform, h) == id)
    }

    /// eBay: stores a destination (without its `destinationId`); returns its id.
    pub fn add_destination(&self, mut destination: Value) -> String {
        let mut hooks = self.state.hooks.lock().unwrap();
        let id = format!("dest-{}", hooks.next_id());
        destination["destinationId"] = Value::String(id.clone());
        hooks.destinations.push(destination);
        id
    }

    /// eBay: the application's destinations.
    pub fn destinations(&self) -> Vec<Value> {
        self.state.hooks.lock().unwrap().destinations.clone()
    }

    /// Shopify: the token was granted only `scopes` (`read_orders`, …).
    pub fn grant_shopify_scopes(&self, scopes: &[&str]) {
        self.state.hooks.lock().unwrap().shopify_scopes =
            Some(scopes.iter().map(|s| (*s).to_owned()).collect());
    }

    /// BigCommerce: `destination`'s domain is on the denylist for `seconds` more.
    pub fn block_domain(&self, destination: &str, seconds: u64) {
        self.state
            .hooks
            .lock()
            .unwrap()
            .blocked
            .push((destination.to_owned(), seconds));
    }
}
