//! Load generator for the ingress benchmark (`bench/ingress.sh`, `BENCHMARKS.md`).
//!
//! Sends correctly signed, realistic and unique deliveries to a running ingress and prints the
//! throughput, latency percentiles and errors:
//!
//! ```text
//! loadgen --url http://127.0.0.1:18080 --platform mix --concurrency 64 --duration 12
//! loadgen --url ... --platform standard-webhooks --concurrency 64 --rate 800 --duration 15 --json
//! ```
//!
//! Two helper subcommands keep the ingress's configuration and the load generator in step:
//!
//! - `loadgen keyserver --keys FILE` runs the fake eBay / Adobe key server
//!   ([`xcs_tests::keyserver::KeyServer`]) with freshly generated keys, and writes its URL and
//!   the private keys to `FILE`; pass the same `--keys FILE` to the load run (and to
//!   `ingress-config`) to sign eBay and Adobe deliveries. `KeyServer` picks its own free port,
//!   so the URL is in the file rather than chosen with a `--port`.
//! - `loadgen ingress-config --listen ADDR --amqp-uri URI [--keys FILE]` prints the ingress TOML
//!   whose shops and secrets are the constants below, so the two cannot drift apart.
//!
//! # Shops, tenants and secrets
//!
//! Every platform has [`SHOPS_PER_PLATFORM`] shops named `bench-{platform}-{i}`, and shop `i`
//! books into tenant `i` of [`TENANTS`], so events spread over the 20 tenants and thereby over
//! the shard queues (the shard exchange hashes on the tenant). Request `n` goes to shop
//! `n % SHOPS_PER_PLATFORM`. Secrets are derived from the shop index (see [`Bench`]); they are
//! benchmark values, not secrets.
//!
//! # Bodies
//!
//! Shopify deliveries carry the ~5 KB REST order fixture, WooCommerce the REST v3 order,
//! BigCommerce and Etsy their (thin) documented shapes, eBay an `ORDER_CONFIRMATION`
//! notification, Adobe Commerce an invoice event; every delivery has its own order id / webhook
//! id / event id. The fixtures are rendered once into templates whose ids are substituted per
//! request, so the load generator spends its CPU on signing and HTTP, not on re-reading files.
//!
//! Adobe's RSA-2048 signatures cost the load generator about 3.5 ms of CPU each and eBay's
//! ECDSA P-256 ones about 0.5 ms, which on a small machine would compete with the ingress for
//! CPU; those deliveries are therefore signed ahead of the timed run (a pool sized from the run,
//! `--presign`), and signed during the run (on the blocking pool) only if the pool runs out.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use hdrhistogram::Histogram;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::time::Instant;
use xcs_shared::Platform;
use xcs_tests::signer::{self, Delivery};
use xcs_tests::{fixtures, keyserver};

/// Shops per platform; shop `i` books into tenant `TENANTS[i]`.
pub const SHOPS_PER_PLATFORM: usize = 20;
/// Number of distinct Xero tenants the shops book into.
pub const TENANTS: usize = 20;

/// Shop name prefix; shop `i` of platform `p` is `bench-{p}-{i}`.
const SHOP_PREFIX: &str = "bench";
/// Shopify shop `i` signs with `bench-shopify-secret-{i}`.
const SHOPIFY_SECRET_PREFIX: &str = "bench-shopify-secret-";
/// WooCommerce shop `i` signs with `bench-woo-secret-{i}` (no HTML entities in it).
const WOOCOMMERCE_SECRET_PREFIX: &str = "bench-woo-secret-";
/// BigCommerce shop `i` signs with the raw client secret `bench-bc-client-secret-{i}`.
const BIGCOMMERCE_SECRET_PREFIX: &str = "bench-bc-client-secret-";
/// Etsy shop `i` signs with `whsec_` + base64(`bench-etsy-signing-key-{i}`).
const ETSY_KEY_PREFIX: &str = "bench-etsy-signing-key-";
/// eBay shops answer the endpoint challenge with this token.
const EBAY_VERIFICATION_TOKEN: &str = "bench-ebay-verification-token-0123456789abcdef";
/// The `kid` the fake eBay publishes its key under.
const EBAY_KID: &str = "bench-ebay-kid-1";
/// Adobe Commerce shop `i` expects events addressed to `bench-adobe-client-{i}`.
const ADOBE_CLIENT_PREFIX: &str = "bench-adobe-client-";
/// Where the fake Adobe key host serves the public key.
const ADOBE_KEY_PATH: &str = "/prod/keys/bench-pub-key-1.pem";

/// The shop and secret conventions above, in one place.
struct Bench;

impl Bench {
    fn shop(platform: Platform, index: usize) -> String {
        format!("{SHOP_PREFIX}-{platform}-{index}")
    }

    /// A UUID-shaped Xero organisation id, `TENANTS` of them.
    fn tenant(index: usize) -> String {
        format!("00000000-0000-4000-8000-{:012}", index % TENANTS)
    }

    fn shopify_secret(index: usize) -> String {
        format!("{SHOPIFY_SECRET_PREFIX}{index}")
    }

    fn woocommerce_secret(index: usize) -> String {
        format!("{WOOCOMMERCE_SECRET_PREFIX}{index}")
    }

    fn bigcommerce_secret(index: usize) -> String {
        format!("{BIGCOMMERCE_SECRET_PREFIX}{index}")
    }

    fn etsy_secret(index: usize) -> String {
        use base64::Engine as _;
        let key = format!("{ETSY_KEY_PREFIX}{index}");
        format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(key)
        )
    }

    fn adobe_client_id(index: usize) -> String {
        format!("{ADOBE_CLIENT_PREFIX}{index}")
    }

    fn ebay_endpoint(index: usize) -> String {
        format!(
            "https://hooks.bench.example/webhooks/ebay/{}",
            Self::shop(Platform::Ebay, index)
        )
    }
}

#[derive(Parser)]
#[command(
    about = "Load generator for the xcs ingress",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run the fake eBay / Adobe key server with fresh keys; write its URL and keys to --keys.
    Keyserver {
        /// Where to write the key file (JSON: URL, eBay kid and key, Adobe path and key).
        #[arg(long)]
        keys: PathBuf,
    },
    /// Print the ingress configuration (TOML) matching the load generator's shops and secrets.
    IngressConfig {
        /// `server.listen` of the ingress.
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: SocketAddr,
        /// `amqp.uri` of the ingress.
        #[arg(long)]
        amqp_uri: String,
        /// The key server's file: adds the eBay and Adobe Commerce shops.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// `server.workers` (0: one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum PlatformChoice {
    Shopify,
    Woocommerce,
    Bigcommerce,
    Etsy,
    Ebay,
    Magento,
    /// BigCommerce and Etsy alternately (both sign with Standard Webhooks v1).
    StandardWebhooks,
    /// Every platform in turn (eBay and Adobe Commerce only with --keys).
    Mix,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The ingress's base URL.
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    url: String,
    #[arg(long, value_enum, default_value = "mix")]
    platform: PlatformChoice,
    /// Requests in flight at once (one HTTP connection each).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Send this many requests.
    #[arg(long, conflicts_with = "duration")]
    requests: Option<u64>,
    /// Send for this many seconds (default 10 when --requests is not given).
    #[arg(long)]
    duration: Option<f64>,
    /// Target rate in requests/second in total: request k is due at start + k/rate. Latency is
    /// reported both from the send and from the due time (which counts a late send as waiting).
    #[arg(long)]
    rate: Option<f64>,
    /// Unrecorded requests per connection before the measurement (connections, key caches).
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// The key server's file, for eBay and Adobe Commerce deliveries.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// eBay and Adobe deliveries to sign before the run, besides the warm-up's (default: as many
    /// as the run should need, guessing 3000 req/s when neither --requests nor --rate says).
    #[arg(long)]
    presign: Option<usize>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Also report the CPU use of another process over the measured run, as `NAME=PID` (e.g.
    /// `ingress=1234`; repeatable). Linux only.
    #[arg(long = "cpu-of", value_name = "NAME=PID")]
    cpu_of: Vec<String>,
    /// A label echoed in the output (the scenario name).
    #[arg(long, default_value = "")]
    label: String,
    /// Print one JSON line instead of a table.
    #[arg(long)]
    json: bool,
}

/// The key server's file.
#[derive(Serialize, Deserialize)]
struct KeyFile {
    keyserver_url: String,
    ebay_kid: String,
    /// The P-256 private scalar, hex.
    ebay_private_key_hex: String,
    adobe_key_path: String,
    /// PKCS#8 PEM.
    adobe_private_key_pem: String,
}

struct Keys {
    ebay: p256::ecdsa::SigningKey,
    adobe: rsa::PrivateKey,
}

impl Keys {
    fn load(path: &Path) -> anyhow::Result<Self> {
        use rsa::pkcs8::DecodePrivateKey as _;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?;
        let file: KeyFile = serde_json::from_str(&text).context("the key file is not valid")?;
        let scalar = hex::decode(&file.ebay_private_key_hex).context("eBay key is not hex")?;
        let ebay = p256::ecdsa::SigningKey::from_slice(&scalar)
            .map_err(|err| anyhow::anyhow!("eBay key: {err}"))?;
        let adobe = rsa::PrivateKey::from_pkcs8_pem(&file.adobe_private_key_pem)
            .map_err(|err| anyhow::anyhow!("Adobe key: {err}"))?;
        Ok(Keys { ebay, adobe })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Keyserver { keys }) => run_keyserver(&keys).await,
        Some(Command::IngressConfig {
            listen,
            amqp_uri,
            keys,
            workers,
        }) => {
            let keys = keys
                .map(|path| -> anyhow::Result<KeyFile> {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    Ok(serde_json::from_str(&text)?)
                })
                .transpose()?;
            print!(
                "{}",
                ingress_config(listen, &amqp_uri, keys.as_ref(), workers)
            );
            Ok(())
        }
        None => run_load(cli.run).await,
    }
}

// ---------------------------------------------------------------------------------------------
// Helper subcommands
// ---------------------------------------------------------------------------------------------

async fn run_keyserver(path: &Path) -> anyhow::Result<()> {
    use rsa::pkcs8::EncodePrivateKey as _;
    let server = keyserver::KeyServer::start().await;
    let ebay = signer::new_ebay_key();
    let adobe = tokio::task::spawn_blocking(signer::new_adobe_key).await?;
    server.add_ebay_key(EBAY_KID, &ebay);
    server.add_adobe_key(ADOBE_KEY_PATH, &adobe);
    let file = KeyFile {
        keyserver_url: server.base_url.clone(),
        ebay_kid: EBAY_KID.to_owned(),
        ebay_private_key_hex: hex::encode(ebay.to_bytes()),
        adobe_key_path: ADOBE_KEY_PATH.to_owned(),
        adobe_private_key_pem: adobe
            .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
            .map_err(|err| anyhow::anyhow!("encoding the Adobe key: {err}"))?
            .to_string(),
    };
    // Written whole and then renamed, so a reader never sees half a file.
    let partial = path.with_extension("partial");
    std::fs::write(&partial, serde_json::to_vec_pretty(&file)?)?;
    std::fs::rename(&partial, path)?;
    eprintln!(
        "key server at {}; keys in {}",
        server.base_url,
        path.display()
    );
    xcs_shared::telemetry::shutdown_signal().await;
    server.stop().await;
    Ok(())
}

fn ingress_config(
    listen: SocketAddr,
    amqp_uri: &str,
    keys: Option<&KeyFile>,
    workers: usize,
) -> String {
    use std::fmt::Write as _;
    let mut toml = format!(
        "# Written by `loadgen ingress-config`: the shops and secrets the load generator signs with.\n\
         [server]\nlisten = \"{listen}\"\nworkers = {workers}\nlog_format = \"json\"\n\n\
         [amqp]\nuri = \"{amqp_uri}\"\n\n"
    );
    if let Some(keys) = keys {
        let _ = write!(
            toml,
            "[ebay]\napi_base = \"{url}\"\nclient_id = \"{id}\"\nclient_secret = \"{secret}\"\n\n\
             [adobe]\nkey_host = \"{url}\"\n\n",
            url = keys.keyserver_url,
            id = keyserver::EBAY_CLIENT_ID,
            secret = keyserver::EBAY_CLIENT_SECRET,
        );
    }
    for i in 0..SHOPS_PER_PLATFORM {
        let tenant = Bench::tenant(i);
        let mut shop = |platform: Platform, extra: String| {
            let _ = write!(
                toml,
                "[shops.{name}]\nplatform = \"{platform}\"\ntenant = \"{tenant}\"\n{extra}\n",
                name = Bench::shop(platform, i),
            );
        };
        shop(
            Platform::Shopify,
            format!("secrets = [\"{}\"]\n", Bench::shopify_secret(i)),
        );
        shop(
            Platform::WooCommerce,
            format!("secrets = [\"{}\"]\n", Bench::woocommerce_secret(i)),
        );
        shop(
            Platform::BigCommerce,
            format!("secrets = [\"{}\"]\n", Bench::bigcommerce_secret(i)),
        );
        shop(
            Platform::Etsy,
            format!("secrets = [\"{}\"]\n", Bench::etsy_secret(i)),
        );
        if keys.is_some() {
            shop(
                Platform::Ebay,
                format!(
                    "verification_token = \"{EBAY_VERIFICATION_TOKEN}\"\nendpoint_url = \"{}\"\n",
                    Bench::ebay_endpoint(i)
                ),
            );
            shop(
                Platform::Magento,
                format!("client_id = \"{}\"\n", Bench::adobe_client_id(i)),
            );
        }
    }
    toml
}

// ---------------------------------------------------------------------------------------------
// Deliveries
// ---------------------------------------------------------------------------------------------

/// A fixture body rendered once with sentinel ids, split where the ids go.
struct Template {
    /// `slots.len() + 1` pieces of literal body.
    pieces: Vec<Vec<u8>>,
    /// Which value fills each gap.
    slots: Vec<usize>,
}

impl Template {
    /// Splits `body` at every occurrence of the sentinels, each of which must occur once.
    fn new(body: &[u8], sentinels: &[&str]) -> Self {
        let mut found: Vec<(usize, usize, usize)> = Vec::new(); // (offset, len, value index)
        for (index, sentinel) in sentinels.iter().enumerate() {
            let needle = sentinel.as_bytes();
            let hits: Vec<usize> = body
                .windows(needle.len())
                .enumerate()
                .filter(|(_, w)| *w == needle)
                .map(|(at, _)| at)
                .collect();
            assert_eq!(hits.len(), 1, "sentinel {sentinel} must occur once");
            found.push((hits[0], needle.len(), index));
        }
        found.sort_unstable();
        let mut pieces = Vec::new();
        let mut slots = Vec::new();
        let mut at = 0;
        for (offset, len, index) in found {
            pieces.push(body[at..offset].to_vec());
            slots.push(index);
            at = offset + len;
        }
        pieces.push(body[at..].to_vec());
        Template { pieces, slots }
    }

    fn render(&self, values: &[&str]) -> Vec<u8> {
        let size = self.pieces.iter().map(Vec::len).sum::<usize>()
            + self.slots.iter().map(|&s| values[s].len()).sum::<usize>();
        let mut body = Vec::with_capacity(size);
        for (piece, slot) in self.pieces.iter().zip(&self.slots) {
            body.extend_from_slice(piece);
            body.extend_from_slice(values[*slot].as_bytes());
        }
        body.extend_from_slice(self.pieces.last().expect("at least one piece"));
        body
    }
}

const NUMERIC_SENTINEL: u64 = 987_654_321_012_345;
const TEXT_SENTINEL: &str = "SENTINEL-7f3a9c41";
const TEXT_SENTINEL_2: &str = "SENTINEL-b2e8d605";

/// Builds unique, signed deliveries.
struct Generator {
    platforms: Vec<Platform>,
    /// Unique to this run, so two runs never share an id.
    run: u64,
    shopify_order: Template,
    woocommerce_order: Template,
    ebay: Template,
    magento: Template,
    keys: Option<Keys>,
    /// eBay and Adobe deliveries signed ahead of time, by sequence number.
    presigned: std::sync::Mutex<BTreeMap<u64, Delivery>>,
    /// eBay and Adobe deliveries the pool did not have, signed during the run.
    signed_inline: AtomicU64,
}

const SHOPIFY_TOPICS: [&str; 3] = ["orders/create", "orders/paid", "orders/updated"];
const WOOCOMMERCE_TOPICS: [&str; 2] = ["order.created", "order.updated"];
const BIGCOMMERCE_SCOPES: [&str; 2] = ["store/order/created", "store/order/statusUpdated"];

impl Generator {
    fn new(choice: PlatformChoice, keys: Option<Keys>) -> anyhow::Result<Self> {
        let platforms = match choice {
            PlatformChoice::Shopify => vec![Platform::Shopify],
            PlatformChoice::Woocommerce => vec![Platform::WooCommerce],
            PlatformChoice::Bigcommerce => vec![Platform::BigCommerce],
            PlatformChoice::Etsy => vec![Platform::Etsy],
            PlatformChoice::Ebay => vec![Platform::Ebay],
            PlatformChoice::Magento => vec![Platform::Magento],
            PlatformChoice::StandardWebhooks => vec![Platform::BigCommerce, Platform::Etsy],
            PlatformChoice::Mix if keys.is_some() => vec![
                Platform::Shopify,
                Platform::WooCommerce,
                Platform::BigCommerce,
                Platform::Etsy,
                Platform::Ebay,
                Platform::Magento,
            ],
            PlatformChoice::Mix => vec![
                Platform::Shopify,
                Platform::WooCommerce,
                Platform::BigCommerce,
                Platform::Etsy,
            ],
        };
        if keys.is_none()
            && platforms
                .iter()
                .any(|p| matches!(p, Platform::Ebay | Platform::Magento))
        {
            bail!("eBay and Adobe Commerce deliveries need --keys (see `loadgen keyserver`)");
        }
        let numeric = NUMERIC_SENTINEL.to_string();
        let run = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(0));
        Ok(Generator {
            platforms,
            run,
            shopify_order: Template::new(
                &fixtures::shopify_order(NUMERIC_SENTINEL),
                &[numeric.as_str()],
            ),
            woocommerce_order: Template::new(
                &fixtures::woocommerce_order(NUMERIC_SENTINEL, TEXT_SENTINEL),
                &[numeric.as_str(), TEXT_SENTINEL],
            ),
            ebay: Template::new(
                &fixtures::ebay("ORDER_CONFIRMATION", TEXT_SENTINEL, TEXT_SENTINEL_2),
                &[TEXT_SENTINEL, TEXT_SENTINEL_2],
            ),
            magento: {
                // The CloudEvents `id` is a random UUID in the fixture; it becomes a slot too.
                let body = fixtures::magento_invoice(TEXT_SENTINEL, TEXT_SENTINEL_2);
                let parsed: serde_json::Value = serde_json::from_slice(&body)?;
                let id = parsed["id"].as_str().context("CloudEvents id")?.to_owned();
                Template::new(&body, &[TEXT_SENTINEL, TEXT_SENTINEL_2, &id])
            },
            keys,
            presigned: std::sync::Mutex::new(BTreeMap::new()),
            signed_inline: AtomicU64::new(0),
        })
    }

    fn platform(&self, n: u64) -> Platform {
        self.platforms[usize::try_from(n).unwrap_or(0) % self.platforms.len()]
    }

    /// Deliveries whose signing is too costly to do during the run.
    fn costly(platform: Platform) -> bool {
        matches!(platform, Platform::Ebay | Platform::Magento)
    }

    /// Delivery number `n` of this run. A costly delivery missing from the pre-signed pool is
    /// signed on the blocking pool, so the signing does not stall the other connections.
    async fn delivery(self: &Arc<Self>, n: u64) -> Delivery {
        let platform = self.platform(n);
        if !Self::costly(platform) {
            return self.build(n, platform);
        }
        let presigned = self.presigned.lock().expect("not poisoned").remove(&n);
        match presigned {
            Some(delivery) => delivery,
            None => {
                self.signed_inline.fetch_add(1, Ordering::Relaxed);
                let generator = Arc::clone(self);
                tokio::task::spawn_blocking(move || generator.build(n, platform))
                    .await
                    .expect("signing does not panic")
            }
        }
    }

    fn build(&self, n: u64, platform: Platform) -> Delivery {
        // Consecutive requests of one platform go to consecutive shops (and tenants).
        let round = n / self.platforms.len() as u64;
        let index = usize::try_from(round % SHOPS_PER_PLATFORM as u64).unwrap_or(0);
        let shop = Bench::shop(platform, index);
        let unique = format!("{:x}-{n:08x}", self.run);
        // A per-run order id space: run millis * 1e6 + n stays well inside u64 and JSON's
        // exact integers are not needed by the ingress.
        let order_id = (self.run % 1_000_000_000) * 1_000_000 + n;
        match platform {
            Platform::Shopify => {
                let body = self.shopify_order.render(&[&order_id.to_string()]);
                let topic = SHOPIFY_TOPICS[usize::try_from(round).unwrap_or(0) % 3];
                signer::shopify(
                    &shop,
                    &Bench::shopify_secret(index),
                    topic,
                    &format!("bench-{unique}"),
                    &body,
                )
            }
            Platform::WooCommerce => {
                let modified = time::OffsetDateTime::now_utc()
                    .format(&time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second]"
                    ))
                    .unwrap_or_default();
                let body = self
                    .woocommerce_order
                    .render(&[&order_id.to_string(), &modified]);
                let topic = WOOCOMMERCE_TOPICS[usize::try_from(round).unwrap_or(0) % 2];
                signer::woocommerce(&shop, &Bench::woocommerce_secret(index), topic, &body)
            }
            Platform::BigCommerce => {
                let scope = BIGCOMMERCE_SCOPES[usize::try_from(round).unwrap_or(0) % 2];
                let body = fixtures::bigcommerce(scope, order_id, &format!("bench{index}"));
                signer::standard_webhooks(
                    platform,
                    &shop,
                    Bench::bigcommerce_secret(index).as_bytes(),
                    &format!("msg_{unique}"),
                    unix_now(),
                    &body,
                )
            }
            Platform::Etsy => {
                let body = fixtures::etsy("ORDER_PAID", 40_000_000 + index as u64, order_id);
                signer::standard_webhooks(
                    platform,
                    &shop,
                    &signer::whsec_key(&Bench::etsy_secret(index)),
                    &format!("msg_{unique}"),
                    unix_now(),
                    &body,
                )
            }
            Platform::Ebay => {
                let keys = self.keys.as_ref().expect("checked in new");
                let body = self
                    .ebay
                    .render(&[&format!("bench-{unique}"), &format!("27-{order_id}")]);
                signer::ebay(&shop, &keys.ebay, EBAY_KID, &body)
            }
            Platform::Magento => {
                let keys = self.keys.as_ref().expect("checked in new");
                let cloud_event_id = uuid::Uuid::new_v4().to_string();
                let body = self.magento.render(&[
                    &format!("bench-{unique}"),
                    &Bench::adobe_client_id(index),
                    &cloud_event_id,
                ]);
                signer::adobe(&shop, Some((&keys.adobe, ADOBE_KEY_PATH)), None, &body)
            }
        }
    }

    /// Signs the eBay and Adobe deliveries among sequence numbers `range` ahead of time, on
    /// every core.
    /// Returns how many were signed.
    async fn presign(self: &Arc<Self>, range: std::ops::Range<u64>, limit: usize) -> usize {
        let wanted: Vec<u64> = range
            .filter(|&n| Self::costly(self.platform(n)))
            .take(limit)
            .collect();
        if wanted.is_empty() {
            return 0;
        }
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let chunk = wanted.len().div_ceil(threads);
        let mut tasks = Vec::new();
        for part in wanted.chunks(chunk) {
            let part = part.to_vec();
            let generator = Arc::clone(self);
            tasks.push(tokio::task::spawn_blocking(move || {
                part.into_iter()
                    .map(|n| (n, generator.build(n, generator.platform(n))))
                    .collect::<Vec<_>>()
            }));
        }
        for task in tasks {
            let signed = task.await.expect("signing does not panic");
            self.presigned.lock().expect("not poisoned").extend(signed);
        }
        wanted.len()
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

/// What one connection saw.
struct WorkerStats {
    latency: Histogram<u64>,
    /// From the due time (rate mode only).
    latency_from_due: Histogram<u64>,
    ok: u64,
    published: u64,
    by_status: BTreeMap<u16, u64>,
    transport: BTreeMap<&'static str, u64>,
    max_lag_us: u64,
}

impl WorkerStats {
    fn new() -> Self {
        let histogram = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        WorkerStats {
            latency: histogram(),
            latency_from_due: histogram(),
            ok: 0,
            published: 0,
            by_status: BTreeMap::new(),
            transport: BTreeMap::new(),
            max_lag_us: 0,
        }
    }

    fn merge(&mut self, other: WorkerStats) {
        self.latency.add(&other.latency).expect("same bounds");
        self.latency_from_due
            .add(&other.latency_from_due)
            .expect("same bounds");
        self.ok += other.ok;
        self.published += other.published;
        for (status, count) in other.by_status {
            *self.by_status.entry(status).or_default() += count;
        }
        for (kind, count) in other.transport {
            *self.transport.entry(kind).or_default() += count;
        }
        self.max_lag_us = self.max_lag_us.max(other.max_lag_us);
    }
}

/// When to stop and how to pace.
#[derive(Clone, Copy)]
struct Plan {
    requests: Option<u64>,
    deadline: Option<Instant>,
    start: Instant,
    rate: Option<f64>,
    /// Sequence numbers start here (after the warm-up).
    first: u64,
}

impl Plan {
    fn due(&self, k: u64) -> Option<Instant> {
        self.rate
            .map(|rate| self.start + Duration::from_secs_f64((k - self.first) as f64 / rate))
    }
}

fn request_for(
    client: &reqwest::Client,
    base: &str,
    delivery: Delivery,
) -> reqwest::RequestBuilder {
    let mut headers = HeaderMap::with_capacity(delivery.headers.len());
    for (name, value) in &delivery.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.insert(name, value);
        }
    }
    client
        .post(format!("{base}{}", delivery.path()))
        .headers(headers)
        .body(delivery.body)
}

fn transport_kind(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connect"
    } else if err.is_body() || err.is_decode() {
        "body"
    } else {
        "other"
    }
}

async fn worker(
    client: reqwest::Client,
    base: Arc<str>,
    generator: Arc<Generator>,
    next: Arc<AtomicU64>,
    plan: Plan,
    record: bool,
) -> WorkerStats {
    let mut stats = WorkerStats::new();
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        if plan.requests.is_some_and(|limit| k >= plan.first + limit) {
            break;
        }
        let due = plan.due(k);
        if let Some(deadline) = plan.deadline
            && (due.unwrap_or_else(Instant::now) >= deadline)
        {
            break;
        }
        let request = request_for(&client, &base, generator.delivery(k).await);
        if let Some(due) = due {
            tokio::time::sleep_until(due).await;
        }
        let sent = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        let done = Instant::now();
        if !record {
            continue;
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        stats.latency.saturating_record(micros(done - sent));
        if let Some(due) = due {
            stats.latency_from_due.saturating_record(micros(done - due));
            stats.max_lag_us = stats
                .max_lag_us
                .max(micros(sent.saturating_duration_since(due)));
        }
        match result {
            Ok((status, body)) if status.is_success() => {
                stats.ok += 1;
                if body.windows(11).any(|w| w == b"\"published\"") {
                    stats.published += 1;
                }
            }
            Ok((status, _)) => *stats.by_status.entry(status.as_u16()).or_default() += 1,
            Err(err) => *stats.transport.entry(transport_kind(&err)).or_default() += 1,
        }
    }
    stats
}

/// A process's CPU time so far (user + system, all threads), from `/proc/{pid}/stat`.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// CPU time the whole machine has spent busy (all cores, idle and iowait excluded), from
/// `/proc/stat`, in seconds.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum(); // guest time is already in user
    let idle = ticks.get(3)? + ticks.get(4)?;
    Some((total - idle) / 100.0)
}

async fn run_load(args: RunArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        bail!("--rate must be positive");
    }
    let keys = args.keys.as_deref().map(Keys::load).transpose()?;
    let generator = Arc::new(Generator::new(args.platform, keys)?);
    let base: Arc<str> = Arc::from(args.url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        // Below actix-web's 5 s keep-alive and request-head timeouts, so the client never
        // sends on a connection the server is about to close (that shows up as a 408).
        .pool_idle_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs_f64(args.timeout))
        .tcp_nodelay(true)
        .build()?;

    let duration = match (args.requests, args.duration) {
        (Some(_), _) => None,
        (None, d) => Some(Duration::from_secs_f64(d.unwrap_or(10.0))),
    };
    let warmup = args.warmup * args.concurrency as u64;
    // Expected requests, to size the Adobe pre-signing.
    let expected = args.requests.unwrap_or_else(|| {
        let seconds = duration.map_or(10.0, |d| d.as_secs_f64());
        // Without a rate: a generous guess of what this machine can do.
        (args.rate.unwrap_or(3_000.0) * seconds * 1.2) as u64
    });
    let presign = args
        .presign
        .map_or(usize::MAX, |n| n + usize::try_from(warmup).unwrap_or(0));
    let presigned = generator.presign(0..warmup + expected, presign).await;

    let next = Arc::new(AtomicU64::new(0));
    if warmup > 0 {
        let plan = Plan {
            requests: Some(warmup),
            deadline: None,
            start: Instant::now(),
            rate: None,
            first: 0,
        };
        let tasks: Vec<_> = (0..args.concurrency)
            .map(|_| {
                tokio::spawn(worker(
                    client.clone(),
                    Arc::clone(&base),
                    Arc::clone(&generator),
                    Arc::clone(&next),
                    plan,
                    false,
                ))
            })
            .collect();
        for task in tasks {
            task.await?;
        }
        next.store(warmup, Ordering::SeqCst);
    }

    let mut watched: Vec<(String, String)> = vec![("loadgen".into(), "self".into())];
    for spec in &args.cpu_of {
        let (name, pid) = spec
            .split_once('=')
            .with_context(|| format!("--cpu-of wants NAME=PID, got {spec:?}"))?;
        watched.push((name.to_owned(), pid.to_owned()));
    }
    let cpu_before: Vec<Option<f64>> = watched.iter().map(|(_, pid)| cpu_seconds(pid)).collect();
    let machine_before = machine_busy_seconds();
    let start = Instant::now();
    let plan = Plan {
        requests: args.requests,
        deadline: duration.map(|d| start + d),
        start,
        rate: args.rate,
        first: warmup,
    };
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            tokio::spawn(worker(
                client.clone(),
                Arc::clone(&base),
                Arc::clone(&generator),
                Arc::clone(&next),
                plan,
                true,
            ))
        })
        .collect();
    let mut stats = WorkerStats::new();
    for task in tasks {
        stats.merge(task.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    // CPU over the measured run, in % of one core.
    // `machine` is every process on every core (200 = two cores fully busy); what it has beyond
    // the watched processes is other work on the machine, which skews the run.
    let mut cpu_pct: BTreeMap<&str, Option<f64>> = watched
        .iter()
        .zip(&cpu_before)
        .map(|((name, pid), before)| {
            let used = cpu_seconds(pid)
                .zip(*before)
                .map(|(after, before)| after - before);
            (name.as_str(), used.map(|s| (s / elapsed * 100.0).round()))
        })
        .collect();
    let machine = machine_busy_seconds()
        .zip(machine_before)
        .map(|(after, before)| ((after - before) / elapsed * 100.0).round());
    cpu_pct.insert("machine", machine);

    let total = stats.latency.len();
    let non_2xx: u64 = stats.by_status.values().sum();
    let transport: u64 = stats.transport.values().sum();
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let platform = args
        .platform
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    let summary = json!({
        "label": args.label,
        "platform": platform,
        "platforms": generator.platforms.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        "concurrency": args.concurrency,
        "target_rate": args.rate,
        "requests": total,
        "ok": stats.ok,
        "published": stats.published,
        "elapsed_s": round3(elapsed),
        "rps": round3(stats.ok as f64 / elapsed),
        "p50_ms": round3(ms(&stats.latency, 0.50)),
        "p90_ms": round3(ms(&stats.latency, 0.90)),
        "p99_ms": round3(ms(&stats.latency, 0.99)),
        "max_ms": round3(stats.latency.max() as f64 / 1000.0),
        "p50_from_due_ms": args.rate.map(|_| round3(ms(&stats.latency_from_due, 0.50))),
        "p99_from_due_ms": args.rate.map(|_| round3(ms(&stats.latency_from_due, 0.99))),
        "max_send_lag_ms": args.rate.map(|_| round3(stats.max_lag_us as f64 / 1000.0)),
        "errors": non_2xx + transport,
        "non_2xx": non_2xx,
        "by_status": stats.by_status.iter().map(|(s, c)| (s.to_string(), *c)).collect::<BTreeMap<_, _>>(),
        "transport_errors": stats.transport,
        "cpu_pct": cpu_pct,
        "presigned": presigned,
        "signed_during_run": generator.signed_inline.load(Ordering::Relaxed),
    });
    if args.json {
        println!("{summary}");
    } else {
        print_table(&summary);
    }
    Ok(())
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn print_table(s: &serde_json::Value) {
    let row = |name: &str, value: String| println!("  {name:<20} {value}");
    println!(
        "loadgen {} (platforms: {})",
        s["platform"].as_str().unwrap_or_default(),
        s["platforms"]
    );
    row("concurrency", s["concurrency"].to_string());
    if !s["target_rate"].is_null() {
        row("target rate", format!("{} req/s", s["target_rate"]));
    }
    row(
        "requests",
        format!(
            "{} in {} s ({} 2xx, {} published)",
            s["requests"], s["elapsed_s"], s["ok"], s["published"]
        ),
    );
    row("throughput", format!("{} req/s (2xx)", s["rps"]));
    row(
        "latency",
        format!(
            "p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
            s["p50_ms"], s["p90_ms"], s["p99_ms"], s["max_ms"]
        ),
    );
    if !s["target_rate"].is_null() {
        row(
            "latency from due",
            format!(
                "p50 {} ms, p99 {} ms (max send lag {} ms)",
                s["p50_from_due_ms"], s["p99_from_due_ms"], s["max_send_lag_ms"]
            ),
        );
    }
    row(
        "errors",
        format!(
            "{} (non-2xx by status: {}, transport: {})",
            s["errors"], s["by_status"], s["transport_errors"]
        ),
    );
    row(
        "CPU (% of a core)",
        format!(
            "{} ({} eBay/Adobe deliveries signed during the run)",
            s["cpu_pct"], s["signed_during_run"]
        ),
    );
}
