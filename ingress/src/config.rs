//! Typed configuration: a TOML file, with secrets overridable from the environment, checked as a
//! whole at start-up so that a mistake stops the ingress before it accepts a single webhook.
//! Read the way both binaries read theirs (`xcs_shared::config_file`); the shops' tables are
//! `xcs_shared::ingress_shops`, from which each platform's file builds its shops' verification.
//!
//! See `deploy/config/ingress.example.toml` for every field with its meaning.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use xcs_shared::Platform;
use xcs_shared::config_file::{self, ConfigFile, Env};
use xcs_shared::ingress_shops::IngressShops;
use xcs_shared::telemetry::LogFormat;

pub use xcs_shared::config_file::ConfigError;

use crate::platforms;
use crate::verify::Scheme;

/// Everything the ingress needs to run.
#[derive(Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub(crate) amqp: AmqpConfig,
    pub(crate) ebay: EbayConfig,
    pub(crate) adobe: AdobeConfig,
    pub(crate) key_lookups: KeyLookupConfig,
    pub(crate) shops: BTreeMap<String, Shop>,
}

/// The HTTP side.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port (tests).
    #[serde(default = "defaults::listen")]
    pub listen: SocketAddr,
    /// Largest webhook body accepted, in bytes; larger ones get 413.
    #[serde(default = "defaults::body_limit_bytes")]
    pub body_limit_bytes: usize,
    /// How long to wait for the broker's confirm before answering 503. Shopify gives up on a
    /// delivery after 5 s in all, so this stays well below that.
    #[serde(default = "defaults::confirm_timeout_ms")]
    pub confirm_timeout_ms: u64,
    /// The `Retry-After` value sent with a 503, in seconds.
    #[serde(default = "defaults::retry_after_secs")]
    pub retry_after_secs: u32,
    /// How long a graceful shutdown waits for in-flight requests.
    #[serde(default = "defaults::shutdown_timeout_secs")]
    pub shutdown_timeout_secs: u64,
    /// Standard Webhooks (Etsy, BigCommerce) replay window, either side of now, in seconds.
    #[serde(default = "defaults::timestamp_tolerance_secs")]
    pub timestamp_tolerance_secs: u64,
    /// How long a client may take to send the request line and headers, in milliseconds;
    /// slower ones get 408 and the connection is closed (actix-web's `client_request_timeout`).
    #[serde(default = "defaults::header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// How long a client may take to send the whole body, in milliseconds; slower ones get 408
    /// and nothing is published. Platforms send their small bodies at once; a client dribbling
    /// bytes is holding a connection.
    #[serde(default = "defaults::body_timeout_ms")]
    pub body_timeout_ms: u64,
    /// HTTP worker threads; 0 means one per core.
    #[serde(default)]
    pub workers: usize,
    #[serde(default)]
    pub log_format: LogFormat,
    /// Which answered deliveries get the per-request log line ("webhook accepted"); refusals
    /// and failures ("webhook refused": every 4xx and 5xx) are logged in every mode.
    #[serde(default)]
    pub access_log: AccessLog,
    /// With `access_log = "sampled"`: one accepted delivery in this many is logged
    /// (1..=1000000); the line carries `sampled_one_in` so counts can be scaled back.
    #[serde(default = "defaults::access_log_sample_every")]
    pub access_log_sample_every: u32,
}

/// The per-request access log line, at `info` (so `RUST_LOG` above `info` turns it off in any
/// mode). Costs are in BENCHMARKS.md, "Ingress CPU per request (issue 21)".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessLog {
    /// Every delivery, accepted or not (the behaviour before the option existed).
    #[default]
    All,
    /// One accepted delivery in `access_log_sample_every`, and every refused one.
    Sampled,
    /// Only refused and failed deliveries (4xx, 5xx); accepted ones are in `/metrics`.
    Errors,
}

impl ServerConfig {
    pub fn confirm_timeout(&self) -> Duration {
        Duration::from_millis(self.confirm_timeout_ms)
    }

    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
}

/// The broker.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (or `amqps://`). Overridden by `XCS_AMQP_URI`,
    /// which may set it alone, keeping the password out of the file.
    #[serde(default = "xcs_shared::config_file::unset_secret")]
    pub uri: SecretString,
    /// The longest pause between reconnection attempts, in milliseconds.
    #[serde(default = "defaults::reconnect_max_backoff_ms")]
    pub reconnect_max_backoff_ms: u64,
}

/// eBay Notification API, where eBay's public keys are fetched by `kid`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EbayConfig {
    #[serde(default = "defaults::ebay_api_base")]
    pub api_base: String,
    /// The eBay application (keyset) client id, for the client-credentials token.
    #[serde(default)]
    pub client_id: String,
    /// Overridden by `XCS_EBAY_CLIENT_SECRET`.
    #[serde(default = "defaults::empty_secret")]
    pub client_secret: SecretString,
    /// How long a fetched public key is trusted, in seconds.
    #[serde(default = "defaults::ebay_key_ttl_secs")]
    pub key_ttl_secs: u64,
}

/// Adobe I/O Events, whose public keys are fetched from one fixed host.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdobeConfig {
    /// The only host public keys are fetched from; the path comes from the request.
    #[serde(default = "defaults::adobe_key_host")]
    pub key_host: String,
    /// How long a fetched public key is trusted, in seconds (Adobe: at most 24 h).
    #[serde(default = "defaults::adobe_key_ttl_secs")]
    pub key_ttl_secs: u64,
}

/// Bounds on fetching keys that are not cached. A delivery names its key (eBay's `kid`, Adobe's
/// key path) before anything is verified, so every forged delivery with a fresh name would
/// otherwise be a request to eBay or Adobe. A lookup these refuse is answered like an
/// unreachable key host (503, so a genuine platform retries); cached keys are never limited.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyLookupConfig {
    /// Lookups a minute at each key host (eBay's API, Adobe's key host), all shops together.
    #[serde(default = "defaults::key_lookups_per_minute")]
    pub per_minute: u32,
    /// Lookups a key host may get in a burst after a quiet spell.
    #[serde(default = "defaults::key_lookup_burst")]
    pub burst: u32,
    /// Lookups in flight at once at each key host.
    #[serde(default = "defaults::key_lookup_concurrency")]
    pub concurrency: u32,
    /// Lookups a minute one shop's deliveries may cause, so that one shop's forgeries cannot
    /// spend what another shop's genuine new keys need.
    #[serde(default = "defaults::key_lookups_per_shop_minute")]
    pub shop_per_minute: u32,
    /// Lookups one shop's deliveries may cause in a burst.
    #[serde(default = "defaults::key_lookup_shop_burst")]
    pub shop_burst: u32,
}

impl Default for KeyLookupConfig {
    fn default() -> Self {
        toml::from_str("").expect("every key_lookups field has a default")
    }
}

impl Default for EbayConfig {
    fn default() -> Self {
        toml::from_str("").expect("every eBay field has a default")
    }
}

impl Default for AdobeConfig {
    fn default() -> Self {
        toml::from_str("").expect("every Adobe field has a default")
    }
}

/// One shop: which platform it is on, which Xero organisation it books into, and how its
/// webhooks are verified.
#[derive(Debug)]
pub(crate) struct Shop {
    pub name: String,
    pub platform: Platform,
    pub tenant: String,
    pub scheme: Scheme,
}

/// The file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "defaults::server")]
    server: ServerConfig,
    #[serde(default = "defaults::amqp")]
    amqp: AmqpConfig,
    #[serde(default)]
    ebay: EbayConfig,
    #[serde(default)]
    adobe: AdobeConfig,
    #[serde(default)]
    key_lookups: KeyLookupConfig,
    #[serde(default)]
    shops: IngressShops,
}

impl ConfigFile for File {
    type Config = Config;

    fn apply_env(&mut self, env: &Env<'_>) {
        env.override_with(&mut self.amqp.uri, "XCS_AMQP_URI");
        env.override_with(&mut self.ebay.client_secret, "XCS_EBAY_CLIENT_SECRET");
        self.shops.apply_env(env);
    }

    fn validate(self) -> Result<Config, String> {
        xcs_shared::config_file::require_secret(&self.amqp.uri, "amqp.uri", "XCS_AMQP_URI")?;
        validate_server(&self.server)?;
        validate_key_lookups(&self.key_lookups)?;
        validate_url("adobe.key_host", &self.adobe.key_host)?;
        validate_url("ebay.api_base", &self.ebay.api_base)?;
        self.shops.validate()?;
        let mut shops = BTreeMap::new();
        for (name, shop) in self.shops {
            let scheme = platforms::scheme(&name, &shop)
                .map_err(|problem| format!("shop {name:?}: {problem}"))?;
            let shop = Shop {
                name: name.clone(),
                platform: shop.platform,
                tenant: shop.tenant,
                scheme,
            };
            shops.insert(name, shop);
        }
        if self.ebay.client_id.is_empty() != self.ebay.client_secret.expose_secret().is_empty() {
            return Err(
                "[ebay] needs both client_id and client_secret (or XCS_EBAY_CLIENT_SECRET), or \
                 neither"
                    .into(),
            );
        }
        Ok(Config {
            server: self.server,
            amqp: self.amqp,
            ebay: self.ebay,
            adobe: self.adobe,
            key_lookups: self.key_lookups,
            shops,
        })
    }
}

impl Config {
    /// Reads `path`, applies environment overrides, and validates the result.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line, field or shop that is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        config_file::load::<File>(path)
    }

    /// Parses and validates a configuration, with `env` standing in for the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the line, field or shop that is wrong.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        config_file::from_toml::<File>(text, env)
    }

    /// Things that work but that an operator should know; logged at start.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let has = |platform| self.shops.values().any(|s| s.platform == platform);
        if has(Platform::Ebay) && self.ebay.client_id.is_empty() {
            warnings.push(
                "[ebay] has no client_id/client_secret: eBay's public keys are fetched without \
                 an application token, which the real eBay API refuses"
                    .to_owned(),
            );
        }
        warnings.extend(
            self.shops
                .values()
                .filter_map(|shop| platforms::of(shop.platform).warning(shop)),
        );
        warnings
    }
}

fn validate_server(server: &ServerConfig) -> Result<(), String> {
    if server.body_limit_bytes < 1024 {
        return Err("server.body_limit_bytes below 1024 would reject real webhooks".into());
    }
    for (field, value) in [
        ("header_timeout_ms", server.header_timeout_ms),
        ("body_timeout_ms", server.body_timeout_ms),
    ] {
        if !(100..=60_000).contains(&value) {
            return Err(format!("server.{field} must be 100..=60000 (milliseconds)"));
        }
    }
    if !(1..=1_000_000).contains(&server.access_log_sample_every) {
        return Err("server.access_log_sample_every must be 1..=1000000 (one in N)".into());
    }
    if !(100..=4_500).contains(&server.confirm_timeout_ms) {
        return Err(
            "server.confirm_timeout_ms must be 100..=4500: Shopify drops a delivery after 5 s"
                .into(),
        );
    }
    Ok(())
}

fn validate_key_lookups(limits: &KeyLookupConfig) -> Result<(), String> {
    for (field, value) in [
        ("per_minute", limits.per_minute),
        ("burst", limits.burst),
        ("concurrency", limits.concurrency),
        ("shop_per_minute", limits.shop_per_minute),
        ("shop_burst", limits.shop_burst),
    ] {
        if !(1..=10_000).contains(&value) {
            return Err(format!(
                "key_lookups.{field} must be 1..=10000 (0 would refuse every new key)"
            ));
        }
    }
    if limits.shop_per_minute > limits.per_minute || limits.shop_burst > limits.burst {
        return Err(
            "key_lookups.shop_per_minute and shop_burst must not exceed per_minute and burst: \
             one shop's forged deliveries could then use up every shop's key lookups"
                .into(),
        );
    }
    Ok(())
}

fn validate_url(field: &str, url: &str) -> Result<(), String> {
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(())
    } else {
        Err(format!("{field} must be an http(s) URL, got {url:?}"))
    }
}

mod defaults {
    use secrecy::SecretString;
    use std::net::SocketAddr;

    pub fn server() -> super::ServerConfig {
        toml::from_str("").expect("every server field has a default")
    }
    pub fn listen() -> SocketAddr {
        SocketAddr::from(([0, 0, 0, 0], 8080))
    }
    pub fn body_limit_bytes() -> usize {
        1024 * 1024
    }
    pub fn confirm_timeout_ms() -> u64 {
        3_000
    }
    pub fn header_timeout_ms() -> u64 {
        5_000
    }
    pub fn body_timeout_ms() -> u64 {
        10_000
    }
    pub fn retry_after_secs() -> u32 {
        10
    }
    pub fn shutdown_timeout_secs() -> u64 {
        20
    }
    pub fn timestamp_tolerance_secs() -> u64 {
        300
    }
    pub fn access_log_sample_every() -> u32 {
        100
    }
    pub fn reconnect_max_backoff_ms() -> u64 {
        5_000
    }
    pub fn ebay_api_base() -> String {
        "https://api.ebay.com".into()
    }
    pub fn empty_secret() -> SecretString {
        SecretString::from(String::new())
    }
    /// No `[amqp]` table: the URI comes from `XCS_AMQP_URI`, or the start is refused.
    pub fn amqp() -> super::AmqpConfig {
        super::AmqpConfig {
            uri: empty_secret(),
            reconnect_max_backoff_ms: reconnect_max_backoff_ms(),
        }
    }
    pub fn ebay_key_ttl_secs() -> u64 {
        3_600
    }
    pub fn adobe_key_host() -> String {
        "https://static.adobeioevents.com".into()
    }
    pub fn adobe_key_ttl_secs() -> u64 {
        86_400
    }
    // Keys rotate a few times a year; a handful of lookups a minute is far more than genuine
    // deliveries need, and bounds what forged ones can make us send.
    pub fn key_lookups_per_minute() -> u32 {
        120
    }
    pub fn key_lookup_burst() -> u32 {
        10
    }
    pub fn key_lookup_concurrency() -> u32 {
        4
    }
    pub fn key_lookups_per_shop_minute() -> u32 {
        6
    }
    pub fn key_lookup_shop_burst() -> u32 {
        5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [amqp]
        uri = "amqp://guest:guest@127.0.0.1:5672/xcs"

        [shops.acme]
        platform = "shopify"
        tenant = "00000000-0000-4000-8000-000000000001"
        secrets = ["file-secret"]
    "#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_minimal_config_gets_defaults() {
        let config = Config::from_toml(MINIMAL, no_env).unwrap();
        assert_eq!(config.server.body_limit_bytes, 1024 * 1024);
        assert_eq!(config.server.header_timeout(), Duration::from_secs(5));
        assert_eq!(config.server.body_timeout(), Duration::from_secs(10));
        assert_eq!(config.shops["acme"].platform, Platform::Shopify);
        assert_eq!(config.server.access_log, AccessLog::All);
        assert_eq!(config.server.access_log_sample_every, 100);
    }

    #[test]
    fn the_access_log_mode_is_one_of_three_and_its_sample_is_bounded() {
        let with =
            |server: &str| Config::from_toml(&format!("[server]\n{server}\n{MINIMAL}"), no_env);
        let config = with("access_log = \"sampled\"\naccess_log_sample_every = 10").unwrap();
        assert_eq!(config.server.access_log, AccessLog::Sampled);
        assert_eq!(config.server.access_log_sample_every, 10);
        assert_eq!(
            with("access_log = \"errors\"").unwrap().server.access_log,
            AccessLog::Errors
        );
        assert!(with("access_log = \"some\"").is_err());
        let err = with("access_log_sample_every = 0").unwrap_err().to_string();
        assert!(err.contains("access_log_sample_every"), "{err}");
    }

    #[test]
    fn the_broker_uri_may_come_from_the_environment_alone_and_tenants_must_be_organisation_ids() {
        let without = MINIMAL
            .replace("[amqp]", "")
            .replace("uri = \"amqp://guest:guest@127.0.0.1:5672/xcs\"", "");
        let config = Config::from_toml(&without, |name| {
            (name == "XCS_AMQP_URI").then(|| "amqp://u:p@broker/xcs".to_owned())
        })
        .unwrap();
        assert_eq!(config.amqp.uri.expose_secret(), "amqp://u:p@broker/xcs");
        let err = Config::from_toml(&without, no_env).unwrap_err().to_string();
        assert!(
            err.contains("amqp.uri") && err.contains("XCS_AMQP_URI"),
            "{err}"
        );
        let err = Config::from_toml(
            &MINIMAL.replace("00000000-0000-4000-8000-000000000001", "acme-tenant"),
            no_env,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a Xero organisation id"), "{err}");
    }

    #[test]
    fn client_timeouts_are_bounded() {
        for bad in ["header_timeout_ms = 0", "body_timeout_ms = 600000"] {
            let text = format!("[server]\n{bad}\n{MINIMAL}");
            let err = Config::from_toml(&text, no_env).unwrap_err().to_string();
            assert!(err.contains("100..=60000"), "{err}");
        }
    }

    #[test]
    fn key_lookup_limits_have_defaults_and_a_shop_cannot_exceed_the_host() {
        let config = Config::from_toml(MINIMAL, no_env).unwrap();
        assert_eq!(config.key_lookups.burst, 10);
        assert_eq!(config.key_lookups.shop_burst, 5);
        for (bad, expected) in [
            ("burst = 0", "1..=10000"),
            ("shop_burst = 20", "must not exceed"),
            ("shop_per_minute = 121", "must not exceed"),
        ] {
            let text = format!("[key_lookups]\n{bad}\n{MINIMAL}");
            let err = Config::from_toml(&text, no_env).unwrap_err().to_string();
            assert!(err.contains(expected), "{bad}: {err}");
        }
    }

    #[test]
    fn environment_secrets_replace_the_file_ones_one_per_line() {
        let config = Config::from_toml(MINIMAL, |name| {
            (name == "XCS_SHOP_ACME_SECRETS").then(|| "new, with comma\nold secret\n".to_owned())
        })
        .unwrap();
        let Scheme::BodyHmac { keys, .. } = &config.shops["acme"].scheme else {
            panic!("shopify uses a body HMAC");
        };
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.expose_secret()).collect();
        assert_eq!(keys, [&b"new, with comma"[..], b"old secret"]);
    }

    #[test]
    fn unknown_fields_and_missing_secrets_are_refused_with_the_shop_named() {
        let typo = MINIMAL.replace("secrets =", "secret =");
        assert!(matches!(
            Config::from_toml(&typo, no_env),
            Err(ConfigError::Parse { .. })
        ));

        let no_secret = MINIMAL.replace(r#"secrets = ["file-secret"]"#, "");
        let err = Config::from_toml(&no_secret, no_env)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme") && err.contains("XCS_SHOP_ACME_SECRETS"),
            "{err}"
        );
    }

    #[test]
    fn an_ebay_challenge_needs_both_token_and_endpoint() {
        let ebay = r#"
            [amqp]
            uri = "amqp://localhost"
            [shops.bay]
            platform = "ebay"
            tenant = "00000000-0000-4000-8000-000000000001"
            endpoint_url = "https://hooks.example.com/webhooks/ebay/bay"
        "#;
        let err = Config::from_toml(ebay, no_env).unwrap_err().to_string();
        assert!(err.contains("verification_token"), "{err}");
        let config = Config::from_toml(ebay, |name| {
            (name == "XCS_SHOP_BAY_VERIFICATION_TOKEN").then(|| "token".to_owned())
        })
        .unwrap();
        assert!(matches!(
            config.shops["bay"].scheme,
            Scheme::Ebay { challenge: Some(_) }
        ));
        assert!(config.warnings().iter().any(|w| w.contains("client_id")));
    }

    #[test]
    fn woocommerce_secrets_are_tried_as_stored_and_entity_decoded() {
        let woo = MINIMAL
            .replace("shopify", "woocommerce")
            .replace("file-secret", "a&amp;b");
        let config = Config::from_toml(&woo, no_env).unwrap();
        let Scheme::BodyHmac { keys, .. } = &config.shops["acme"].scheme else {
            panic!("woocommerce uses a body HMAC");
        };
        let keys: Vec<&[u8]> = keys.iter().map(|k| k.expose_secret()).collect();
        assert_eq!(keys, [&b"a&amp;b"[..], b"a&b"]);
    }
}

#[cfg(test)]
mod shipped_config_tests {
    use super::*;

    #[test]
    fn the_shipped_example_and_local_configs_are_valid() {
        for (name, text) in [
            (
                "example",
                include_str!("../../deploy/config/ingress.example.toml"),
            ),
            (
                "local",
                include_str!("../../deploy/config/ingress.local.toml"),
            ),
        ] {
            let config = Config::from_toml(text, |_| None)
                .unwrap_or_else(|err| panic!("deploy/config/ingress.{name}.toml: {err}"));
            assert!(!config.shops.is_empty(), "{name}");
        }
    }
}
