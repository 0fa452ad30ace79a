//! Public keys fetched from the platforms (eBay by `kid`, Adobe by path) and cached, so a burst
//! of webhooks costs one fetch per key, and a forged `kid` cannot make us hammer eBay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use p256::ecdsa::VerifyingKey as EbayKey;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::config::{AdobeConfig, EbayConfig};
use crate::verify::adobe::{self, VerifyingKey as AdobeKey};
use crate::verify::ebay;

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

/// The remote keys the verifiers need.
pub struct KeyStore {
    http: reqwest::Client,
    ebay: EbayConfig,
    ebay_token: Mutex<Option<(SecretString, Instant)>>,
    ebay_keys: Cache<String, Arc<EbayKey>>,
    adobe_host: String,
    adobe_keys: Cache<String, Arc<AdobeKey>>,
    unknown: Cache<String, ()>,
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
    /// # Errors
    /// When the HTTP client cannot be built (no TLS provider).
    pub fn new(ebay: &EbayConfig, adobe: &AdobeConfig) -> anyhow::Result<Self> {
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
        })
    }

    /// eBay's public key `kid`.
    ///
    /// # Errors
    /// [`KeyError`].
    pub async fn ebay_key(&self, kid: &str) -> Result<Arc<EbayKey>, KeyError> {
        let unknown_key = format!("ebay:{kid}");
        if self.unknown.contains_key(&unknown_key) {
            return Err(KeyError::Unknown(kid.to_owned()));
        }
        let result = self
            .ebay_keys
            .try_get_with(kid.to_owned(), self.fetch_ebay_key(kid))
            .await
            .map_err(|err| (*err).clone());
        if let Err(KeyError::Unknown(_)) = &result {
            self.unknown.insert(unknown_key, ()).await;
        }
        result
    }

    /// The Adobe key at `path` on the configured key host.
    ///
    /// # Errors
    /// [`KeyError`]; `Unknown` also for a path we refuse to fetch.
    pub async fn adobe_key(&self, path: &str) -> Result<Arc<AdobeKey>, KeyError> {
        if !adobe::is_safe_key_path(path) {
            return Err(KeyError::Unknown(path.to_owned()));
        }
        let unknown_key = format!("adobe:{path}");
        if self.unknown.contains_key(&unknown_key) {
            return Err(KeyError::Unknown(path.to_owned()));
        }
        let result = self
            .adobe_keys
            .try_get_with(path.to_owned(), self.fetch_adobe_key(path))
            .await
            .map_err(|err| (*err).clone());
        if let Err(KeyError::Unknown(_)) = &result {
            self.unknown.insert(unknown_key, ()).await;
        }
        result
    }

    async fn fetch_adobe_key(&self, path: &str) -> Result<Arc<AdobeKey>, KeyError> {
        let url = format!("{}{path}", self.adobe_host);
        let response = self.http.get(&url).send().await.map_err(unavailable)?;
        let pem = match response.status() {
            status if status.is_success() => response.text().await.map_err(unavailable)?,
            reqwest::StatusCode::NOT_FOUND | reqwest::StatusCode::FORBIDDEN => {
                return Err(KeyError::Unknown(path.to_owned()));
            }
            status => return Err(KeyError::Unavailable(format!("{url} answered {status}"))),
        };
        adobe::parse_public_key(&pem)
            .map(Arc::new)
            .map_err(KeyError::Unavailable)
    }

    async fn fetch_ebay_key(&self, kid: &str) -> Result<Arc<EbayKey>, KeyError> {
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
                    let body: EbayPublicKey = response.json().await.map_err(unavailable)?;
                    return ebay::parse_public_key(&body.key)
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
        let token: EbayToken = response.json().await.map_err(unavailable)?;
        let lifetime = Duration::from_secs(token.expires_in).saturating_sub(TOKEN_EXPIRY_MARGIN);
        let secret = SecretString::from(token.access_token);
        *cached = Some((secret.clone(), Instant::now() + lifetime));
        Ok(secret)
    }
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
