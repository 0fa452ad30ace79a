//! Fetching what thin webhooks leave out: BigCommerce, Etsy and eBay send ids only,
//! WooCommerce's order carries refund ids without their lines, and Shopify's order carries no
//! transactions (fetched when it was paid through several gateways, to split the payment). Each
//! shop's platform API is configured with a base URL (so tests point it at a fake) and
//! credentials.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use xcs_shared::Platform;

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
    /// Etsy `x-api-key` (the app keystring); WooCommerce consumer secret; eBay the app's keyset
    /// `client_id:client_secret`, for the application token the Notification API's
    /// destinations need (`webhooks check|sync` only). Overridden by `XCS_SHOP_<NAME>_API_KEY`.
    #[serde(default = "empty")]
    pub key: SecretString,
    /// Shopify only: the Admin API version in the path (`2026-10`); defaults to
    /// [`SHOPIFY_API_VERSION`].
    #[serde(default)]
    pub api_version: Option<String>,
    /// Etsy only: the shop's numeric id (the `{shop_id}` in the receipt URLs of Etsy webhooks'
    /// `resource_url`), under which the poller lists receipts
    /// (`/v3/application/shops/{shop_id}/receipts`). Required for an Etsy shop that polls, as
    /// polling is the only way Etsy refunds arrive.
    #[serde(default)]
    pub shop_id: Option<String>,
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
    /// The base URLs whose settings were last found wrong, so that is logged once, not per
    /// event.
    misconfigured: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Default for Fetcher {
    fn default() -> Self {
        // As the Xero client does: commands that build a Fetcher without one (`backfill`'s
        // poll client) would otherwise panic in reqwest for want of a crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Fetcher {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .expect("a plain HTTP client builds"),
            misconfigured: std::sync::Mutex::default(),
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
    /// GETs `path` (relative to the API's base URL) as JSON, from `platform`'s API.
    ///
    /// # Errors
    /// [`ProcessError::Hydration`] (retryable) for transport errors, 5xx and 429;
    /// [`ProcessError::PlatformCredentials`] (permanent) for 401 and 403. A 404 is told apart
    /// by asking the platform's settings check ([`super::api_probe`]): when that fails too,
    /// the shop's settings are wrong ([`ProcessError::PlatformApiMisconfigured`], said once
    /// per API in the log until it works again); when it works, the resource does not exist
    /// ([`ProcessError::PlatformResourceMissing`]). Neither is a fault of the payload.
    pub async fn get(
        &self,
        platform: Platform,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Value, ProcessError> {
        match self.send(api, auth, path).await? {
            Answer::Json(value) => {
                self.misconfigured
                    .lock()
                    .expect("never poisoned")
                    .remove(&api.base_url);
                Ok(value)
            }
            Answer::NotFound => Err(self.explain_not_found(platform, api, path).await),
        }
    }

    /// Whether the shop's API settings work: the platform's settings check answers 2xx.
    ///
    /// # Errors
    /// As [`get`](Self::get); a 404 is [`ProcessError::PlatformApiMisconfigured`].
    pub async fn probe(&self, platform: Platform, api: &PlatformApi) -> Result<(), ProcessError> {
        let (auth, path) = super::api_probe(platform, api);
        match self.send(api, auth, &path).await? {
            Answer::Json(_) => Ok(()),
            Answer::NotFound => Err(misconfigured(platform, api, &path, &path)),
        }
    }

    async fn explain_not_found(
        &self,
        platform: Platform,
        api: &PlatformApi,
        path: &str,
    ) -> ProcessError {
        let (auth, probe) = super::api_probe(platform, api);
        match self.send(api, auth, &probe).await {
            Ok(Answer::Json(_)) => {
                self.misconfigured
                    .lock()
                    .expect("never poisoned")
                    .remove(&api.base_url);
                ProcessError::PlatformResourceMissing(format!(
                    "the {} API has nothing at {path} (404), while it answers {probe}",
                    platform.display_name()
                ))
            }
            Ok(Answer::NotFound) => {
                let err = misconfigured(platform, api, path, &probe);
                if self
                    .misconfigured
                    .lock()
                    .expect("never poisoned")
                    .insert(api.base_url.clone())
                {
                    tracing::error!(
                        platform = %platform,
                        base_url = %api.base_url,
                        "{err}; every event of this API's shops that needs it is dead-lettered \
                         as platform_api_misconfigured until then"
                    );
                }
                err
            }
            // The settings check could not be asked (an outage, a refused token): that is
            // the error to act on first.
            Err(err) => err,
        }
    }

    async fn send(
        &self,
        api: &PlatformApi,
        auth: Auth,
        path: &str,
    ) -> Result<Answer, ProcessError> {
        let reply = self
            .call(api, auth, reqwest::Method::GET, path, None)
            .await?;
        let status = reply.status;
        if status.is_success() {
            return Ok(Answer::Json(reply.body));
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProcessError::Hydration(format!("{path} answered {status}")));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(ProcessError::PlatformCredentials(format!(
                "{path} answered {status}"
            )));
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(Answer::NotFound);
        }
        // 400, 405, 410…: what we asked is wrong for this API, whatever the payload said.
        Err(ProcessError::PlatformApiMisconfigured(format!(
            "the platform API answered {status} for {path}"
        )))
    }

    /// Sends one request to the shop's platform API and returns its answer whatever its
    /// status, with the headers: for callers that page through lists (links, totals), pace
    /// themselves by the rate-limit headers, or read statuses their own way (webhook
    /// subscriptions). A success's body must be JSON or empty (BigCommerce answers an empty
    /// list with 204); an error's body is kept when it is JSON, else `Null`.
    ///
    /// # Errors
    /// [`ProcessError::Hydration`] for transport errors and unreadable or oversized answers.
    pub async fn call(
        &self,
        api: &PlatformApi,
        auth: Auth,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ProcessError> {
        let url = format!("{}{path}", api.base_url.trim_end_matches('/'));
        let mut request = self
            .http
            .request(method, &url)
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
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
        let headers = response.headers().clone();
        let bytes = read_capped(response, path).await?;
        let body = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else if status.is_success() {
            serde_json::from_slice(&bytes)
                .map_err(|err| ProcessError::Hydration(format!("{path}: unreadable JSON: {err}")))?
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        Ok(Reply {
            status,
            headers,
            body,
        })
    }
}

/// A platform API's answer to [`Fetcher::call`].
#[derive(Debug)]
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    /// The JSON body; `Null` when there was none.
    pub body: Value,
}

impl Reply {
    /// A header's value as text, if it is present and readable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The most of one platform API answer the processor reads: far more than any order, refund
/// or list page it asks for. A larger answer (a proxy's error page streamed forever, an API
/// gone wrong) is refused rather than held in memory.
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

async fn read_capped(mut response: reqwest::Response, path: &str) -> Result<Vec<u8>, ProcessError> {
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| ProcessError::Hydration(format!("{path}: {}", err.without_url())))?
    {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ProcessError::Hydration(format!(
                "{path}: the answer is over {MAX_ANSWER_BYTES} bytes, more than any document \
                 the processor reads"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What the platform API answered that is not an error of its own.
enum Answer {
    Json(Value),
    NotFound,
}

fn misconfigured(platform: Platform, api: &PlatformApi, path: &str, probe: &str) -> ProcessError {
    ProcessError::PlatformApiMisconfigured(format!(
        "the {} API at {} answers 404 for {path}, and for {probe}, which works whenever the \
         settings are right",
        platform.display_name(),
        api.base_url
    ))
}
