//! Public keys fetched from the platforms (eBay by `kid`, Adobe by path) and cached, so a burst
//! of webhooks costs one fetch per key. Keys that are not cached are fetched within the limits
//! of [`crate::lookup_limits`], so fresh forged `kid`s cannot make us hammer eBay, and no more
//! than [`MAX_RESPONSE_BYTES`] of any answer is read, so a hostile key host cannot fill memory.
//! A key is cached parsed and ready to verify with, behind an `Arc`: a request clones the
//! pointer, never the key.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{AdobeConfig, EbayConfig, KeyLookupConfig};
use crate::lookup_limits::{KeyHost, LookupLimits, LookupPermit};
use crate::verify::adobe::{self, VerifyingKey as AdobeKey};
use crate::verify::ebay::{self, EbayKey};

/// Why a key could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KeyError {
    /// The platform says there is no such key: the signature cannot be genuine.
    #[error("the platform has no key {0:?}")]
    Unknown(String),
    /// The key host could not be asked, or answered nonsense; the delivery may well be genuine,
    /// so the platform should retry later.
    #[error("cannot fetch the signing key: {0}")]
    Unavailable(String),
}

/// How long an unknown `kid` or key path is remembered as unknown.
const UNKNOWN_KEY_TTL: Duration = Duration::from_secs(60);
/// Keys in memory at most; real platforms use a handful.
const MAX_KEYS: u64 = 1_000;
/// Renew the eBay application token this long before eBay says it expires.
const TOKEN_EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// The most of a key host's answer that is read. A public key is a few hundred bytes and
/// eBay's token answer a few thousand; anything much larger is not a key, and reading it whole
/// let one lookup at a hostile host take hundreds of megabytes.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024;

/// The remote keys the verifiers need.
pub struct KeyStore {
    http: reqwest::Client,
    ebay: EbayConfig,
    ebay_token: Mutex<Option<(SecretString, Instant)>>,
    ebay_keys: Cache<String, Arc<EbayKey>>,
    adobe_host: String,
    adobe_keys: Cache<String, Arc<AdobeKey>>,
    unknown: Cache<String, ()>,
    limits: LookupLimits,
}

#[derive(Deserialize)]
struct EbayToken {
    access_token: String,
    expires_in: u64,
}

#[derive(Deserialize)]
struct EbayPublicKey {
    key: String,
}

impl KeyStore {
    /// A store fetching within `limits`, on behalf of the configured `shops`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub fn new<'a>(
        ebay: &EbayConfig,
        adobe: &AdobeConfig,
        limits: &KeyLookupConfig,
        shops: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(3))
            .user_agent(concat!("xcs-ingress/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(KeyStore {
            http,
            ebay_keys: key_cache(ebay.key_ttl_secs),
            adobe_keys: key_cache(adobe.key_ttl_secs),
            unknown: Cache::builder()
                .max_capacity(10 * MAX_KEYS)
                .time_to_live(UNKNOWN_KEY_TTL)
                .build(),
            ebay: ebay.clone(),
            ebay_token: Mutex::new(None),
            adobe_host: adobe.key_host.trim_end_matches('/').to_owned(),
            limits: LookupLimits::new(limits, shops),
        })
    }

    /// eBay's public key `kid`, for a delivery to `shop` (whose budget a fetch is charged to).
    ///
    /// # Errors
    /// [`KeyError`]; `Unavailable` also when the lookup limits refuse a fetch.
    pub async fn ebay_key(&self, kid: &str, shop: &str) -> Result<Arc<EbayKey>, KeyError> {
        // The common case first: a cached key, with no allocation and no second cache.
        if let Some(key) = self.ebay_keys.get(kid).await {
            return Ok(key);
        }
        let unknown_key = format!("ebay:{kid}");
        if self.unknown.contains_key(&unknown_key) {
            return Err(KeyError::Unknown(kid.to_owned()));
        }
        let result = self
            .ebay_keys
            .try_get_with(kid.to_owned(), self.fetch_ebay_key(kid, shop))
            .await
            .map_err(|err| (*err).clone());
        if let Err(KeyError::Unknown(_)) = &result {
            self.unknown.insert(unknown_key, ()).await;
        }
        result
    }

    /// The Adobe key at `path` on the configured key host, for a delivery to `shop`.
    ///
    /// # Errors
    /// [`KeyError`]; `Unknown` also for a path we refuse to fetch, `Unavailable` also when the
    /// lookup limits refuse a fetch.
    pub async fn adobe_key(&self, path: &str, shop: &str) -> Result<Arc<AdobeKey>, KeyError> {
        if !adobe::is_safe_key_path(path) {
            return Err(KeyError::Unknown(path.to_owned()));
        }
        if let Some(key) = self.adobe_keys.get(path).await {
            return Ok(key);
        }
        let unknown_key = format!("adobe:{path}");
        if self.unknown.contains_key(&unknown_key) {
            return Err(KeyError::Unknown(path.to_owned()));
        }
        let result = self
            .adobe_keys
            .try_get_with(path.to_owned(), self.fetch_adobe_key(path, shop))
            .await
            .map_err(|err| (*err).clone());
        if let Err(KeyError::Unknown(_)) = &result {
            self.unknown.insert(unknown_key, ()).await;
        }
        result
    }

    async fn fetch_adobe_key(&self, path: &str, shop: &str) -> Result<Arc<AdobeKey>, KeyError> {
        let _permit = self.admit(KeyHost::Adobe, shop)?;
        let url = format!("{}{path}", self.adobe_host);
        let response = self.http.get(&url).send().await.map_err(unavailable)?;
        let pem = match response.status() {
            status if status.is_success() => {
                let bytes = read_capped(response, "Adobe's key host").await?;
                String::from_utf8(bytes).map_err(|_| {
                    KeyError::Unavailable(
                        "Adobe's key host answered a key that is not text; check [adobe] key_host"
                            .into(),
                    )
                })?
            }
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::FORBIDDEN => {
                return Err(KeyError::Unknown(path.to_owned()));
            }
            status => return Err(KeyError::Unavailable(format!("{url} answered {status}"))),
        };
        adobe::parse_public_key(&pem)
            .map(Arc::new)
            .map_err(KeyError::Unavailable)
    }

    async fn fetch_ebay_key(&self, kid: &str, shop: &str) -> Result<Arc<EbayKey>, KeyError> {
        // One admission covers the token request and the retry below: they serve one lookup.
        let _permit = self.admit(KeyHost::Ebay, shop)?;
        let url = format!(
            "{}/commerce/notification/v1/public_key/{kid}",
            self.ebay.api_base.trim_end_matches('/')
        );
        // One retry with a fresh token, in case eBay revoked the cached one early.
        for attempt in 0..2 {
            let mut request = self.http.get(&url);
            // Without app credentials (a key proxy or a test double), ask without a token.
            if !self.ebay.client_id.is_empty() {
                let token = self.ebay_token(attempt > 0).await?;
                request = request.bearer_auth(token.expose_secret());
            }
            let response = request.send().await.map_err(unavailable)?;
            match response.status() {
                status if status.is_success() => {
                    let bytes = read_capped(response, "eBay's public key lookup").await?;
                    let body: EbayPublicKey = serde_json::from_slice(&bytes).map_err(|err| {
                        KeyError::Unavailable(format!(
                            "eBay's public key lookup answered unexpected JSON: {err}"
                        ))
                    })?;
                    return ebay::parse_key(&body.key)
                        .map(Arc::new)
                        .map_err(KeyError::Unavailable);
                }
                reqwest::StatusCode::NOT_FOUND => return Err(KeyError::Unknown(kid.to_owned())),
                reqwest::StatusCode::UNAUTHORIZED if attempt == 0 => continue,
                status => {
                    return Err(KeyError::Unavailable(format!(
                        "eBay public key lookup answered {status}"
                    )));
                }
            }
        }
        Err(KeyError::Unavailable(
            "eBay refused a freshly issued application token; check [ebay] client_id and client_secret".into(),
        ))
    }

    /// Admits one fetch at `host` for `shop`; a refusal is answered like an unreachable host.
    fn admit(&self, host: KeyHost, shop: &str) -> Result<LookupPermit, KeyError> {
        self.limits
            .admit(host, shop)
            .map_err(|refused| KeyError::Unavailable(refused.to_string()))
    }

    /// A client-credentials application token, from cache unless `renew`.
    async fn ebay_token(&self, renew: bool) -> Result<SecretString, KeyError> {
        let mut cached = self.ebay_token.lock().await;
        if !renew
            && let Some((token, expires)) = cached.as_ref()
            && Instant::now() < *expires
        {
            return Ok(token.clone());
        }
        let url = format!(
            "{}/identity/v1/oauth2/token",
            self.ebay.api_base.trim_end_matches('/')
        );
        let response = self
            .http
            .post(&url)
            .basic_auth(
                &self.ebay.client_id,
                Some(self.ebay.client_secret.expose_secret()),
            )
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "https://api.ebay.com/oauth/api_scope"),
            ])
            .send()
            .await
            .map_err(unavailable)?;
        if !response.status().is_success() {
            return Err(KeyError::Unavailable(format!(
                "eBay token endpoint answered {}; check [ebay] client_id and client_secret",
                response.status()
            )));
        }
        let bytes = read_capped(response, "eBay's token endpoint").await?;
        let token: EbayToken = serde_json::from_slice(&bytes).map_err(|err| {
            KeyError::Unavailable(format!(
                "eBay's token endpoint answered unexpected JSON: {err}"
            ))
        })?;
        let lifetime = Duration::from_secs(token.expires_in).saturating_sub(TOKEN_EXPIRY_MARGIN);
        let secret = SecretString::from(token.access_token);
        *cached = Some((secret.clone(), Instant::now() + lifetime));
        Ok(secret)
    }
}

/// The body of `response`, read chunk by chunk and refused as soon as it passes
/// [`MAX_RESPONSE_BYTES`] (or declares more up front); dropping the response then closes the
/// connection, so the rest is never read.
async fn read_capped(mut response: reqwest::Response, what: &str) -> Result<Vec<u8>, KeyError> {
    let too_large = || {
        KeyError::Unavailable(format!(
            "{what} answered more than {MAX_RESPONSE_BYTES} bytes, which no key is; refused \
             unread (is the configured host the platform's?)"
        ))
    };
    if response
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn key_cache<K: Send + Sync + 'static>(ttl_secs: u64) -> Cache<String, Arc<K>> {
    Cache::builder()
        .max_capacity(MAX_KEYS)
        .time_to_live(Duration::from_secs(ttl_secs))
        .build()
}

fn unavailable(err: reqwest::Error) -> KeyError {
    // Without the URL: it may carry a key path an attacker chose, and logs need no more.
    KeyError::Unavailable(err.without_url().to_string())
}
