//! Fetching what thin webhooks leave out: BigCommerce, Etsy and eBay send ids only,
//! WooCommerce's order carries refund ids without their lines, and Shopify's order carries no
//! transactions (fetched when it was paid through several gateways, to split the payment). Each
//! shop's platform API is configured with a base URL (so tests point it at a fake) and
//! credentials.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::error::ProcessError;

/// The Shopify Admin REST API version asked for when a shop's `api.api_version` is not set:
/// the stable release of October 2026. Shopify releases a version every quarter (`YYYY-01`,
/// `-04`, `-07`, `-10`) and supports each for at least twelve months; a request for a version
/// no longer supported is answered with the oldest supported one. The transactions resource
/// read here (`GET /admin/api/{version}/orders/{id}/transactions.json`) has kept its shape
/// across versions; move this forward (or set `api_version`) within the year.
pub const SHOPIFY_API_VERSION: &str = "2026-10";

/// A shop's platform API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformApi {
    /// `https://api.bigcommerce.com/stores/{store_hash}`, `https://api.etsy.com`,
    /// `https://api.ebay.com`, the WooCommerce site URL (`https://shop.example`), or the
    /// Shopify store (`https://{store}.myshopify.com`).
    pub base_url: String,
    /// BigCommerce `X-Auth-Token`; Etsy and eBay OAuth bearer token; WooCommerce consumer key;
    /// Shopify Admin API access token (`X-Shopify-Access-Token`, `shpat_…`, with the
    /// `read_orders` scope). Overridden by `XCS_SHOP_<NAME>_API_TOKEN`.
    #[serde(default = "empty")]
    pub token: SecretString,
    /// Etsy `x-api-key` (the app keystring); WooCommerce consumer secret.
    /// Overridden by `XCS_SHOP_<NAME>_API_KEY`.
    #[serde(default = "empty")]
    pub key: SecretString,
    /// Shopify only: the Admin API version in the path (`2026-10`); defaults to
    /// [`SHOPIFY_API_VERSION`].
    #[serde(default)]
    pub api_version: Option<String>,
}

impl PlatformApi {
    /// The Shopify Admin API version to ask for.
    pub fn shopify_api_version(&self) -> &str {
        self.api_version.as_deref().unwrap_or(SHOPIFY_API_VERSION)
    }
}

fn empty() -> SecretString {
    SecretString::from(String::new())
}

/// What the platform API answered.
pub struct Fetcher {
    http: reqwest::Client,
}

impl Default for Fetcher {
    fn default() -> Self {
        Fetcher {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("a plain HTTP client builds"),
        }
    }
}

/// How a platform authenticates API calls.
#[derive(Debug, Clone, Copy)]
pub enum Auth {
    /// BigCommerce: `X-Auth-Token`.
    AuthToken,
    /// eBay: `Authorization: Bearer`.
    Bearer,
    /// Etsy: bearer token plus `x-api-key`.
    BearerAndApiKey,
    /// WooCommerce: HTTP basic with consumer key and secret.
    Basic,
    /// Shopify: `X-Shopify-Access-Token`.
    ShopifyAccessToken,
}

impl Fetcher {
    /// GETs `path` (relative to the API's base URL) as JSON.
    ///
    /// # Errors
    /// [`ProcessError::Hydration`] (retryable) for transport errors, 5xx and 429;
    /// [`ProcessError::PlatformCredentials`] (permanent) for 401 and 403;
    /// [`ProcessError::Unparseable`] (permanent) when the resource does not exist, which
    /// retrying will not fix.
    pub async fn get(
        &self,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Value, ProcessError> {
        let url = format!("{}{path}", api.base_url.trim_end_matches('/'));
        let mut request = self.http.get(&url).header("Accept", "application/json");
        request = match auth {
            Auth::AuthToken => request.header("X-Auth-Token", api.token.expose_secret()),
            Auth::Bearer => request.bearer_auth(api.token.expose_secret()),
            Auth::BearerAndApiKey => request
                .bearer_auth(api.token.expose_secret())
                .header("x-api-key", api.key.expose_secret()),
            Auth::Basic => {
                request.basic_auth(api.token.expose_secret(), Some(api.key.expose_secret()))
            }
            Auth::ShopifyAccessToken => {
                request.header("X-Shopify-Access-Token", api.token.expose_secret())
            }
        };
        let response = request
            .send()
            .await
            .map_err(|err| ProcessError::Hydration(err.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|err| ProcessError::Hydration(format!("{path}: unreadable JSON: {err}")));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProcessError::Hydration(format!("{path} answered {status}")));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ProcessError::PlatformCredentials(format!(
                "{path} answered {status}"
            )));
        }
        Err(ProcessError::Unparseable(format!(
            "the platform API answered {status} for {path}; check the shop's api credentials"
        )))
    }
}
