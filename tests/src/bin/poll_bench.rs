//! Meter for the polling and backfill benchmark (`bench/poll.sh`, `BENCHMARKS.md`, issue 16):
//! what a poll costs in platform API calls, and how long a backfill takes to reach Xero at
//! Xero's rate limits. Everything it reads or books goes through the processor's own code:
//! [`Pass`] with the platforms' listers and pacing ([`PollClient`]), the processor's consumer,
//! and the `xcs-processor backfill` command.
//!
//! ```text
//! poll_bench cost --amqp-uri amqp://guest:guest@127.0.0.1:5672/V --postgres-url postgres://... \
//!     --schema S --vhost V --results FILE [--orders 1000] [--refund-every 10]
//! poll_bench backfill --amqp-uri ... --postgres-url ... --schema S --processor BIN --dir DIR \
//!     --results FILE [--orders 10000] [--days 30] [--latency-ms 100]
//! ```
//!
//! `cost`, for each of the six platforms, against the fake of its API
//! (`xcs_tests::platform_api`, which serves each list endpoint with the platform's filters,
//! page-size limit, pagination and rate-limit headers), with one processor in-process booking
//! into an in-process Xero simulator (rate limits off: Xero is not what is measured here):
//! 1. **idle**: a pass over a window as long as a poll's at the default settings (interval +
//!    overlap) in which nothing changed;
//! 2. **read**: `--orders` orders changed in one such window, every `--refund-every`th with a
//!    refund, read by a pass that only counts ([`Sink::Count`], what a dry run does);
//! 3. **poll**: the same window read again by a pass that publishes ([`Sink::Publish`], what
//!    the poller does), and every event booked by the processor: the platform calls the event
//!    path makes (the fetches thin platforms need) are counted apart from the list calls;
//! 4. **again**: the same window once more, as the next poll's overlap reads it: the same
//!    versions, which the pass finds booked in the ledger and leaves alone.
//! 5. **changed**: every order changed once more (a second later, as a fulfilment would move
//!    it; refunds as they were) and the window read again: new versions of orders already
//!    booked, which is also what a poll finds of orders their webhooks booked.
//!
//! Every pass has a new [`PollClient`], so each starts with the platform's pacing fresh; each
//! is timed, pacing waits included. Calls are what the fake answered, 429s included.
//!
//! `backfill`: `--orders` Shopify orders over `--days` days on the fake Shopify API, the Xero
//! simulator in-process with Xero's limits (5 in flight, 60 calls a rolling minute, 5,000 a day
//! per tenant) and `--latency-ms` on every call, the release processor (`--processor`) as a
//! child process with a config written here, then `xcs-processor backfill --dry-run` (its
//! plan) and `xcs-processor backfill` (timed), the simulator's journal read every 250 ms until
//! every order's invoice and payment is in.
//!
//! Each measurement is one JSON line appended to `--results`; progress goes to stderr, and the
//! in-process processor's log (JSON) to stdout.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use xcs_processor::config::{Config, PollConfig};
use xcs_processor::ledger::Ledger;
use xcs_processor::poll::pass::{Pass, Sink, Tally};
use xcs_processor::poll::{PollClient, Window};
use xcs_processor::publisher::Republisher;
use xcs_shared::{Platform, Source};
use xcs_tests::platform_api::{FakePlatformApi, Request, fixture};
use xcs_tests::processor::{ShopToml, TestProcessor, shop_toml};
use xcs_xero_sim::journal::operation;
use xcs_xero_sim::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_NZ_TENANT_ID, RateLimits,
    RunningSim, SimConfig, XeroSim,
};

#[derive(Parser)]
#[command(about = "Polling and backfill benchmark: platform API calls per poll, backfill time")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Platform API calls of a poll, per platform.
    Cost(CostArgs),
    /// A Shopify backfill into one tenant at Xero's limits, timed.
    Backfill(BackfillArgs),
}

#[derive(clap::Args)]
struct Common {
    #[arg(long)]
    amqp_uri: String,
    #[arg(long)]
    postgres_url: String,
    #[arg(long)]
    schema: String,
    /// A file the JSON lines are appended to.
    #[arg(long)]
    results: PathBuf,
}

#[derive(clap::Args)]
struct CostArgs {
    #[command(flatten)]
    common: Common,
    /// The vhost the processor consumes from (for the management API's queue depths).
    #[arg(long)]
    vhost: String,
    #[arg(long, default_value = "http://127.0.0.1:15672")]
    rabbitmq_api: String,
    /// Orders changed in the window.
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// One order in this many has a refund.
    #[arg(long, default_value_t = 10)]
    refund_every: usize,
    /// Platforms to measure (all six by default).
    #[arg(long, value_delimiter = ',')]
    platforms: Vec<Platform>,
    /// Give up waiting for one platform's bookings after this long.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

#[derive(clap::Args)]
struct BackfillArgs {
    #[command(flatten)]
    common: Common,
    /// The release `xcs-processor` binary.
    #[arg(long)]
    processor: PathBuf,
    /// Where the processor's config, its log and its PID file go.
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 10_000)]
    orders: usize,
    /// The history's length: the orders are spread evenly over it.
    #[arg(long, default_value_t = 30)]
    days: i64,
    /// Latency the simulator adds to every call.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// Give up waiting for the invoices and payments after this long.
    #[arg(long, default_value_t = 3600)]
    timeout_secs: u64,
}

fn log(message: &str) {
    eprintln!(
        "[poll_bench {}] {message}",
        OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[hour]:[minute]:[second]"
            ))
            .unwrap_or_default()
    );
}

fn append(path: &PathBuf, line: &Value) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(file, "{line}")?;
    eprintln!("{line}");
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Cost(args) => cost(args).await,
        Command::Backfill(args) => backfill(args).await,
    }
}

// --- the platforms' stores ---------------------------------------------------------------------

/// A shop of the benchmark on `platform`: its name and document prefix.
fn shop_of(platform: Platform) -> (String, &'static str) {
    let prefix = match platform {
        Platform::Shopify => "PS-",
        Platform::WooCommerce => "PW-",
        Platform::BigCommerce => "PB-",
        Platform::Magento => "PM-",
        Platform::Etsy => "PT-",
        Platform::Ebay => "PE-",
    };
    (format!("bench-{}", platform.as_str()), prefix)
}

fn contacts_of(platform: Platform) -> String {
    match platform {
        Platform::WooCommerce => {
            r#"{ strategy = "per_customer", fallback = "WooCommerce Sales" }"#.to_owned()
        }
        other => format!(
            r#"{{ strategy = "generic", name = "{} Sales" }}"#,
            other.display_name()
        ),
    }
}

/// The orders per page each lister asks for (`PAGE_SIZE` in
/// `processor/src/platforms/<p>/poll.rs`, which the processor does not export); shown beside
/// the calls, not used to count them.
fn page_size(platform: Platform) -> usize {
    match platform {
        Platform::Shopify | Platform::BigCommerce => 250,
        Platform::Ebay => 200,
        Platform::WooCommerce | Platform::Magento | Platform::Etsy => 100,
    }
}

/// Whether `path` is one of the platform's list endpoints (the poll's own calls) rather than a
/// fetch by id (the event path's).
fn is_list(platform: Platform, path: &str) -> bool {
    match platform {
        Platform::Shopify => path.starts_with("/admin/api/") && path.ends_with("/orders.json"),
        Platform::WooCommerce => path == "/wp-json/wc/v3/orders",
        Platform::BigCommerce => {
            path == "/v2/orders" || path == "/v3/orders/payment_actions/refunds"
        }
        Platform::Magento => path == "/rest/V1/orders" || path == "/rest/V1/creditmemos",
        Platform::Etsy => path.starts_with("/v3/application/shops/") && path.ends_with("/receipts"),
        Platform::Ebay => path == "/sell/fulfillment/v1/order",
    }
}

/// `/v2/orders/5003/products` → `/v2/orders/{id}/products`.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
                "{id}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn utc(format: &(impl time::formatting::Formattable + ?Sized), at: OffsetDateTime) -> String {
    at.format(format).expect("formats a UTC time")
}

/// Puts order `n` of the benchmark in the fake store, changed at `at`, with a refund made at
/// `refunded` (no later than `at`) if any; with the documents the event path fetches where the
/// platform's events are thin. The shapes are the poll tests' (`tests/tests/it/poll_*.rs`).
fn stock(api: &FakePlatformApi, n: u64, at: OffsetDateTime, refunded: Option<OffsetDateTime>) {
    let rfc3339 = at.format(&Rfc3339).expect("formats");
    let refund_rfc3339 = refunded.map(|r| r.format(&Rfc3339).expect("formats"));
    match api.platform {
        Platform::Shopify => {
            let (id, refund_id) = (7_000_000 + n, 8_000_000 + n);
            let mut order: Value = serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(
                id,
                100_000 + n,
                true,
            ))
            .expect("a fixture");
            order["updated_at"] = json!(rfc3339);
            order["refunds"] = json!([]);
            if let Some(refunded) = &refund_rfc3339 {
                let mut refund: Value =
                    serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_refund(refund_id, id))
                        .expect("a fixture");
                refund["created_at"] = json!(refunded);
                order["refunds"] = json!([refund]);
            }
            api.list(order);
        }
        Platform::WooCommerce => {
            let (id, refund_id) = (50_000 + n, 60_000 + n);
            let gmt =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            let mut order = fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
            order["id"] = json!(id);
            order["number"] = json!(id.to_string());
            order["date_modified_gmt"] = json!(utc(gmt, at));
            order["date_modified"] = json!(utc(gmt, at + time::Duration::hours(13)));
            if refunded.is_some() {
                order["refunds"] =
                    json!([{"id": refund_id, "reason": "Handle frayed", "total": "-41.40"}]);
                let mut refunds = fixture("woocommerce/refunds_4417.json");
                refunds[0]["id"] = json!(refund_id);
                api.put(&format!("/wp-json/wc/v3/orders/{id}/refunds"), refunds);
            }
            api.list(order);
        }
        Platform::BigCommerce => {
            let (id, refund_id) = (50_000 + n, 60_000 + n);
            let mut order = fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json");
            order["id"] = json!(id);
            order["date_modified"] = json!(at.format(&Rfc2822).expect("formats"));
            let mut products = fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json");
            for product in products.as_array_mut().expect("a list") {
                product["order_id"] = json!(id);
            }
            api.put(&format!("/v2/orders/{id}"), order.clone());
            api.put(&format!("/v2/orders/{id}/products"), products);
            api.list(order);
            if let Some(refunded) = &refund_rfc3339 {
                let mut refunds = fixture("bigcommerce/refunds_v3_310.json");
                refunds["data"][0]["id"] = json!(refund_id);
                refunds["data"][0]["order_id"] = json!(id);
                refunds["data"][0]["created"] = json!(refunded);
                api.put(
                    &format!("/v3/orders/{id}/payment_actions/refunds"),
                    refunds.clone(),
                );
                api.list(refunds["data"][0].clone());
            }
        }
        Platform::Magento => {
            let (id, memo_id) = (50_000 + n, 60_000 + n);
            let magento =
                time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
            let mut order =
                fixture("magento/order_save_after_000005120_nzd.json")["data"]["value"].take();
            order["entity_id"] = json!(id.to_string());
            order["increment_id"] = json!(format!("{id:09}"));
            order["total_paid"] = order["grand_total"].clone();
            order["total_invoiced"] = order["grand_total"].clone();
            order["updated_at"] = json!(utc(magento, at));
            api.list(order);
            if let Some(refunded) = refunded {
                let mut memo = fixture("magento/creditmemo_save_after_000005120_nzd.json")["data"]
                    ["value"]
                    .take();
                memo["entity_id"] = json!(memo_id.to_string());
                memo["increment_id"] = json!(format!("{memo_id:09}"));
                memo["order_id"] = json!(id.to_string());
                memo["updated_at"] = json!(utc(magento, refunded));
                api.list(memo);
            }
        }
        Platform::Etsy => {
            let id = 3_200_000_000 + n;
            let mut receipt = fixture("etsy/receipt_2891034567_nzd_export_au.json");
            receipt["receipt_id"] = json!(id);
            receipt["updated_timestamp"] = json!(at.unix_timestamp());
            receipt["update_timestamp"] = json!(at.unix_timestamp());
            for transaction in receipt["transactions"].as_array_mut().expect("a list") {
                transaction["receipt_id"] = json!(id);
            }
            if let Some(refunded) = refunded {
                receipt["status"] = json!("Partially Refunded");
                receipt["refunds"] = json!([{
                    "amount": {"amount": 4180, "divisor": 100, "currency_code": "NZD"},
                    "created_timestamp": refunded.unix_timestamp(),
                    "reason": "One cup arrived broken",
                    "note_from_issuer": null,
                    "status": "Success"
                }]);
            }
            api.list(receipt);
        }
        Platform::Ebay => {
            let id = format!("27-30000-{n:05}");
            let mut order = fixture("ebay/order_27-13902-55814_usd_export_us.json");
            order["orderId"] = json!(id);
            order["lastModifiedDate"] = json!(
                at.replace_millisecond(250)
                    .expect("a valid millisecond")
                    .format(&Rfc3339)
                    .expect("formats")
            );
            if let Some(refunded) = &refund_rfc3339 {
                order["orderPaymentStatus"] = json!("PARTIALLY_REFUNDED");
                let refund = json!({
                    "refundId": format!("70{n:08}"),
                    "refundDate": refunded,
                    "amount": {"value": "10.89", "currency": "USD"},
                    "refundStatus": "REFUNDED",
                    "refundReferenceId": format!("8TX{n:014}")
                });
                order["paymentSummary"]["refunds"] = json!([refund.clone()]);
                let mut line_refund = refund;
                line_refund
                    .as_object_mut()
                    .expect("an object")
                    .remove("refundStatus");
                order["lineItems"][1]["refunds"] = json!([line_refund]);
            }
            api.list(order);
        }
    }
}

// --- cost ------------------------------------------------------------------------------------

/// What one pass did, from the fake's side.
struct Measured {
    list_calls: usize,
    fetches: usize,
    by_status: BTreeMap<u16, usize>,
    fetched: BTreeMap<String, usize>,
}

fn measure(platform: Platform, requests: &[Request]) -> Measured {
    let mut measured = Measured {
        list_calls: 0,
        fetches: 0,
        by_status: BTreeMap::new(),
        fetched: BTreeMap::new(),
    };
    for request in requests {
        *measured.by_status.entry(request.status).or_default() += 1;
        if is_list(platform, &request.path) {
            measured.list_calls += 1;
        } else {
            measured.fetches += 1;
            *measured
                .fetched
                .entry(path_shape(&request.path))
                .or_default() += 1;
        }
    }
    measured
}

fn measured_json(measured: &Measured) -> Value {
    json!({
        "list_calls": measured.list_calls,
        "fetches": measured.fetches,
        "by_status": measured.by_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "fetched": measured.fetched,
        "calls_429": measured.by_status.get(&429).copied().unwrap_or(0),
    })
}

/// The processor's count of deliveries of `shop` it finished with, by outcome
/// (`xcs_processor_events_total`; a retry is not an end).
async fn handled(processor: &TestProcessor, shop: &str) -> BTreeMap<String, u64> {
    let (_, metrics) = processor.get("/metrics").await;
    let mut outcomes = BTreeMap::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("xcs_processor_events_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|pair| pair.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_owned())
        };
        if label("shop").as_deref() != Some(shop) {
            continue;
        }
        let outcome = label("outcome").unwrap_or_default();
        if outcome == "retry" || outcome == "requeued" {
            continue;
        }
        let count: f64 = value.trim().parse().unwrap_or(0.0);
        *outcomes.entry(outcome).or_default() += count as u64;
    }
    outcomes
}

fn total(outcomes: &BTreeMap<String, u64>) -> u64 {
    outcomes.values().sum()
}

/// Messages ready or unacknowledged in the vhost's shard queues and retry tiers.
async fn queued(http: &reqwest::Client, api: &str, vhost: &str) -> Option<u64> {
    let queues: Value = http
        .get(format!(
            "{api}/api/queues/{vhost}?columns=name,messages,messages_unacknowledged"
        ))
        .basic_auth("guest", Some("guest"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        queues
            .as_array()?
            .iter()
            .filter(|q| {
                q["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("xcs.shard") || n.starts_with("xcs.retry"))
            })
            .map(|q| {
                q["messages"].as_u64().unwrap_or(0)
                    + q["messages_unacknowledged"].as_u64().unwrap_or(0)
            })
            .sum(),
    )
}

fn documents(sim: &RunningSim, prefix: &str) -> (usize, usize) {
    let count = |documents: Vec<Value>, number: &str| {
        documents
            .iter()
            .filter(|d| d[number].as_str().is_some_and(|n| n.starts_with(prefix)))
            .count()
    };
    (
        count(sim.invoices(DEMO_NZ_TENANT_ID), "InvoiceNumber"),
        count(sim.credit_notes(DEMO_NZ_TENANT_ID), "CreditNoteNumber"),
    )
}

/// Runs one pass over `window` with a new client and returns the tally, the seconds it took
/// and the calls it made by the client's own count.
async fn pass(
    config: &Config,
    ledger: &Ledger,
    shop: &str,
    sink: Sink<'_>,
    window: Window,
) -> anyhow::Result<(Tally, f64, usize)> {
    let client = PollClient::default();
    let pass = Pass {
        name: shop,
        shop: config.shop(shop).context("the shop is in the config")?,
        client: &client,
        ledger,
        sink,
        lease: None,
    };
    let mut tally = Tally::default();
    let started = Instant::now();
    pass.run(window, &mut tally, |_, _| {})
        .await
        .with_context(|| format!("the pass over {shop} failed"))?;
    Ok((tally, started.elapsed().as_secs_f64(), client.calls()))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

async fn cost(args: CostArgs) -> anyhow::Result<()> {
    xcs_shared::telemetry::init(xcs_shared::telemetry::LogFormat::Json);
    let platforms = if args.platforms.is_empty() {
        Platform::ALL.to_vec()
    } else {
        args.platforms.clone()
    };
    let sim = XeroSim::start(SimConfig::demo().with_rate_limits(RateLimits::unlimited()))
        .context("the simulator starts")?;
    let mut fakes = Vec::new();
    for platform in &platforms {
        fakes.push(FakePlatformApi::start(*platform).await);
    }
    let mut toml = processor_toml(
        &args.common,
        &sim,
        "# Xero is not what this measures: the simulator's limits are off, and so is the pacing.\n\
         max_per_minute = 1000000\nmax_per_day = 100000000\nmax_burst = 100000\n",
        "127.0.0.1:0",
        "poll_every_ms = 0\n",
    );
    for fake in &fakes {
        let (shop, prefix) = shop_of(fake.platform);
        // The passes below are the only reads: the processor's own poller is off.
        toml += &(shop_toml(&ShopToml {
            name: &shop,
            platform: fake.platform,
            tenant: &DEMO_NZ_TENANT_ID.to_string(),
            contacts: &contacts_of(fake.platform),
            prefix,
            clearing: "616",
            api: Some(&fake.api_toml()),
        }) + &format!("[shops.{shop}.poll]\ninterval_secs = 0\n"));
    }
    let config = Config::from_toml(&toml, |_| None).context("the generated config is invalid")?;
    let ledger = Ledger::connect(&config.postgres)
        .await
        .context("the ledger opens")?;
    let processor = TestProcessor::start(&toml).await;
    let connection = lapin::Connection::connect(
        &args.common.amqp_uri,
        lapin::ConnectionProperties::default(),
    )
    .await
    .context("RabbitMQ")?;
    let publisher = Republisher::open(&connection).await?;
    let http = reqwest::Client::new();
    let ctx = Ctx {
        config: &config,
        ledger: &ledger,
        processor: &processor,
        publisher: &publisher,
        http: &http,
        args: &args,
    };

    for fake in &fakes {
        let platform = fake.platform;
        let (shop, prefix) = shop_of(platform);
        let poll = PollConfig::default();
        let interval = poll.interval(platform);
        // The window of a poll at the default settings: from the last poll's end less the
        // overlap, to now less the settle time.
        let length = i64::try_from(interval + poll.overlap()).unwrap_or(i64::MAX);
        let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
        let to = now - time::Duration::seconds(i64::try_from(poll.settle()).unwrap_or(0));
        let window = Window {
            from: to - time::Duration::seconds(length),
            to,
        };
        log(&format!("{platform}: idle pass over {length} s"));
        let before = fake.requests().len();
        let (_, idle_secs, idle_client_calls) =
            pass(&config, &ledger, &shop, Sink::Count, window).await?;
        let idle = measure(platform, &fake.requests()[before..]);

        let orders = args.orders;
        let refund_every = args.refund_every.max(1);
        let stocked_at = |n: usize| {
            let offset =
                i64::try_from(n).unwrap_or(0) * length / i64::try_from(orders).unwrap_or(1);
            window.from + time::Duration::seconds(offset)
        };
        let refunded = |n: usize| (n % refund_every == refund_every - 1).then(|| stocked_at(n));
        for n in 0..orders {
            stock(fake, n as u64, stocked_at(n), refunded(n));
        }
        // Let the platform's own rate-limit state recover between passes (Shopify's bucket
        // drains 2 calls a second, Etsy counts per second).
        tokio::time::sleep(Duration::from_secs(3)).await;

        log(&format!("{platform}: reading {orders} orders (counting)"));
        let before = fake.requests().len();
        let (read_tally, read_secs, read_client_calls) =
            pass(&config, &ledger, &shop, Sink::Count, window).await?;
        let read = measure(platform, &fake.requests()[before..]);
        tokio::time::sleep(Duration::from_secs(5)).await;

        log(&format!(
            "{platform}: polling {orders} orders (publishing, booking)"
        ));
        let handled_before = total(&handled(&processor, &shop).await);
        let before = fake.requests().len();
        let started = Instant::now();
        let (poll_tally, poll_secs, _) = pass(
            &config,
            &ledger,
            &shop,
            Sink::Publish {
                publisher: &publisher,
                source: Source::Poll,
                room: None,
            },
            window,
        )
        .await?;
        let published = (poll_tally.orders + poll_tally.refunds) as u64;
        let refunds_expected = orders / refund_every;
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        let mut complete = false;
        while Instant::now() < deadline {
            let (invoices, notes) = documents(&sim, prefix);
            let done = total(&handled(&processor, &shop).await) - handled_before;
            if invoices >= orders && notes >= refunds_expected && done >= published {
                complete = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let booked_secs = started.elapsed().as_secs_f64();
        settle(fake, &http, &args).await;
        let polled = measure(platform, &fake.requests()[before..]);
        let (invoices, notes) = documents(&sim, prefix);
        let outcomes = handled(&processor, &shop).await;

        log(&format!(
            "{platform}: the same window again (the next poll's overlap)"
        ));
        let again = republish(&ctx, fake, &shop, window).await?;
        log(&format!(
            "{platform}: every order changed again (booked ones, new versions)"
        ));
        for n in 0..orders {
            let at =
                (stocked_at(n) + time::Duration::seconds(1)).min(to - time::Duration::seconds(1));
            // A later change to the order (a fulfilment, say); its refund stays as made.
            stock(fake, n as u64, at, refunded(n));
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        let changed = republish(&ctx, fake, &shop, window).await?;

        append(
            &args.common.results,
            &json!({
                "kind": "cost",
                "platform": platform.as_str(),
                "platform_name": platform.display_name(),
                "page_size": page_size(platform),
                "orders": orders,
                "refunds": refunds_expected,
                "window_secs": length,
                "interval_secs": interval,
                "idle": {"secs": round2(idle_secs), "client_calls": idle_client_calls, "calls": measured_json(&idle)},
                "read": {
                    "secs": round2(read_secs), "client_calls": read_client_calls,
                    "orders": read_tally.orders, "refunds": read_tally.refunds,
                    "windows": read_tally.windows, "calls": measured_json(&read),
                },
                "poll": {
                    "secs": round2(poll_secs), "booked_secs": round2(booked_secs),
                    "published": published, "complete": complete,
                    "invoices": invoices, "credit_notes": notes,
                    "outcomes": outcomes, "calls": measured_json(&polled),
                },
                "again": again,
                "changed": changed,
            }),
        )?;
    }
    publisher.close().await;
    let _ = connection.close(200, "measured".into()).await;
    processor.stop().await;
    for fake in fakes {
        fake.stop().await;
    }
    sim.stop().await;
    Ok(())
}

/// What the passes that publish need.
struct Ctx<'a> {
    config: &'a Config,
    ledger: &'a Ledger,
    processor: &'a TestProcessor,
    publisher: &'a Republisher,
    http: &'a reqwest::Client,
    args: &'a CostArgs,
}

/// A publishing pass over a window whose orders the processor has all booked: what it
/// publishes, what the processor did with it and the calls it cost, the event path's
/// included.
async fn republish(
    ctx: &Ctx<'_>,
    fake: &FakePlatformApi,
    shop: &str,
    window: Window,
) -> anyhow::Result<Value> {
    let outcomes_before = handled(ctx.processor, shop).await;
    let before = fake.requests().len();
    let (tally, secs, _) = pass(
        ctx.config,
        ctx.ledger,
        shop,
        Sink::Publish {
            publisher: ctx.publisher,
            source: Source::Poll,
            room: None,
        },
        window,
    )
    .await?;
    let published = (tally.orders + tally.refunds) as u64;
    let deadline = Instant::now() + Duration::from_secs(ctx.args.timeout_secs);
    while Instant::now() < deadline
        && total(&handled(ctx.processor, shop).await) - total(&outcomes_before) < published
    {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    settle(fake, ctx.http, ctx.args).await;
    let calls = measure(fake.platform, &fake.requests()[before..]);
    // The counter is the processor's since it started: this pass's part only.
    let mut outcomes = handled(ctx.processor, shop).await;
    for (outcome, count) in &mut outcomes {
        *count -= outcomes_before.get(outcome).copied().unwrap_or(0);
    }
    outcomes.retain(|_, count| *count > 0);
    Ok(json!({
        "secs": round2(secs), "published": published,
        "already_booked": tally.already_booked, "outcomes": outcomes,
        "calls": measured_json(&calls),
    }))
}

/// Waits until the processor has nothing of the pass left (shards and retry tiers empty, which
/// the management API reports a few seconds late) and the fake has heard nothing for 3 s.
async fn settle(fake: &FakePlatformApi, http: &reqwest::Client, args: &CostArgs) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen = fake.requests().len();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = fake.requests().len();
        if now != seen {
            seen = now;
            quiet_since = Instant::now();
            continue;
        }
        let empty = queued(http, &args.rabbitmq_api, &args.vhost).await == Some(0);
        if empty && quiet_since.elapsed() >= Duration::from_secs(3) {
            return;
        }
    }
    log("still busy after 120 s; counting what there is");
}

// --- backfill ----------------------------------------------------------------------------------

/// What the simulator's journal showed.
#[derive(Default)]
struct Journal {
    seq: u64,
    api_calls: u64,
    token_calls: u64,
    by_status: BTreeMap<String, u64>,
    by_operation: BTreeMap<String, u64>,
    invoices: u64,
    payments: u64,
    invoice_batches: Vec<u64>,
    payment_batches: Vec<u64>,
    /// Times of the accounting calls, for the busiest rolling minute.
    call_times: Vec<OffsetDateTime>,
    last_invoice: Option<f64>,
    last_payment: Option<f64>,
    first_call: Option<f64>,
}

/// Elements of a batch answer that Xero created (not refused).
fn created(response: &Value, list: &str) -> u64 {
    response[list]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|element| {
            element["StatusAttributeString"] != "ERROR"
                && element["ValidationErrors"]
                    .as_array()
                    .is_none_or(|errors| errors.is_empty())
        })
        .count() as u64
}

impl Journal {
    fn read(&mut self, sim: &RunningSim, elapsed: f64) {
        for entry in sim.journal_after(self.seq) {
            self.seq = self.seq.max(entry.seq);
            if !entry.path.starts_with("/api.xro/2.0") {
                if entry.path.eq_ignore_ascii_case("/connect/token") {
                    self.token_calls += 1;
                }
                continue;
            }
            self.api_calls += 1;
            self.first_call.get_or_insert(elapsed);
            if let Ok(at) = OffsetDateTime::parse(&entry.at, &Rfc3339) {
                self.call_times.push(at);
            }
            let status = entry
                .status
                .map_or_else(|| "dropped".to_owned(), |s| s.to_string());
            *self.by_status.entry(status).or_default() += 1;
            let op = operation(&entry.method, &entry.path);
            *self.by_operation.entry(op.clone()).or_default() += 1;
            if entry.status != Some(200) {
                continue;
            }
            match op.as_str() {
                "PUT /Invoices" | "POST /Invoices" => {
                    let made = created(&entry.response, "Invoices");
                    self.invoices += made;
                    self.invoice_batches.push(made);
                    self.last_invoice = Some(elapsed);
                }
                "PUT /Payments" | "POST /Payments" => {
                    let made = created(&entry.response, "Payments");
                    self.payments += made;
                    self.payment_batches.push(made);
                    self.last_payment = Some(elapsed);
                }
                _ => {}
            }
        }
    }

    /// The most accounting calls in any 60 s.
    fn busiest_minute(&self) -> usize {
        let mut times = self.call_times.clone();
        times.sort();
        let mut most = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= time::Duration::seconds(60) {
                start += 1;
            }
            most = most.max(end + 1 - start);
        }
        most
    }
}

fn mean(values: &[u64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<u64>() as f64 / values.len() as f64
}

/// Runs `xcs-processor --config CONFIG backfill ARGS`, returning its output and how long it
/// took.
async fn run_backfill(
    processor: &PathBuf,
    config: &PathBuf,
    args: &[String],
) -> anyhow::Result<(String, f64)> {
    let started = Instant::now();
    let output = tokio::process::Command::new(processor)
        .arg("--config")
        .arg(config)
        .arg("backfill")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .context("cannot run xcs-processor backfill")?;
    let secs = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "xcs-processor backfill {args:?} failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok((stdout, secs))
}

/// The figures of a backfill's plan: `... ({N} platform API calls)` and `Xero: {D} documents in
/// about {C} calls, {T} at the tenant's rate limit`.
fn plan_of(output: &str) -> Value {
    let number_before = |text: &str, marker: &str| -> Option<u64> {
        let end = text.find(marker)?;
        text[..end]
            .rsplit(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    };
    let number_after = |text: &str, marker: &str| -> Option<u64> {
        let start = text.find(marker)? + marker.len();
        text[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
    };
    let time = output
        .find(" calls, ")
        .map(|at| &output[at + " calls, ".len()..])
        .and_then(|rest| rest.split(" at the tenant").next())
        .map(str::to_owned);
    json!({
        "platform_calls": number_before(output, " platform API calls"),
        "documents": number_after(output, "Xero: "),
        "xero_calls": number_after(output, "documents in about "),
        "booking_time": time,
        "text": output.trim(),
    })
}

/// A processor config without shops, booking into `sim` with a custom connection; `xero`,
/// `processing` are lines of those sections.
fn processor_toml(
    common: &Common,
    sim: &RunningSim,
    xero: &str,
    listen: &str,
    processing: &str,
) -> String {
    format!(
        r#"log_format = "json"
[amqp]
uri = "{amqp}"
[postgres]
url = "{pg}"
schema = "{schema}"
pool_size = 8
[xero]
api_base = "{api}"
identity_base = "{identity}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "custom_connection"
timeout_ms = 30000
{xero}[server]
listen = "{listen}"
[processing]
{processing}"#,
        amqp = common.amqp_uri,
        pg = common.postgres_url,
        schema = common.schema,
        api = sim.base_url(),
        identity = sim.identity_url(),
        client_id = CUSTOM_CONNECTION_CLIENT_ID,
        client_secret = CUSTOM_CONNECTION_CLIENT_SECRET,
    )
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn backfill(args: BackfillArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let limits = RateLimits {
        concurrent: 5,
        per_minute: 60,
        per_day: 5_000,
        app_per_minute: 10_000,
    };
    let mut sim_config = SimConfig::demo()
        .with_rate_limits(limits)
        .with_latency(Duration::from_millis(args.latency_ms));
    sim_config.workers = 2;
    let sim = XeroSim::start(sim_config).context("the simulator starts")?;
    let api = FakePlatformApi::start(Platform::Shopify).await;
    let shop = "bench-backfill";
    let prefix = "BF-";
    let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
    let span = time::Duration::days(args.days);
    let orders = args.orders;
    log(&format!(
        "putting {orders} Shopify orders over {} days in the fake store",
        args.days
    ));
    let stocked = Instant::now();
    for n in 0..orders {
        let at = now - span
            + time::Duration::seconds(
                i64::try_from(n).unwrap_or(0) * span.whole_seconds()
                    / i64::try_from(orders).unwrap_or(1),
            );
        let mut order: Value = serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(
            9_000_000 + n as u64,
            300_000 + n as u64,
            true,
        ))?;
        order["updated_at"] = json!(at.format(&Rfc3339)?);
        order["refunds"] = json!([]);
        api.list(order);
    }
    log(&format!(
        "stocked in {:.1} s",
        stocked.elapsed().as_secs_f64()
    ));
    let from = now - span - time::Duration::hours(1);
    let to = now + time::Duration::minutes(1);

    let port = free_port()?;
    let toml = processor_toml(
        &args.common,
        &sim,
        "max_in_flight = 5\nmax_per_minute = 60\nmax_per_day = 5000\n",
        &format!("127.0.0.1:{port}"),
        "batch_size = 50\n",
    ) + &shop_toml(&ShopToml {
        name: shop,
        platform: Platform::Shopify,
        tenant: &DEMO_NZ_TENANT_ID.to_string(),
        contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
        prefix,
        clearing: "615",
        api: Some(&api.api_toml()),
    }) + &format!(
        // The backfill is the only reader of the shop: its poller is off.
        "[shops.{shop}.poll]\ninterval_secs = 0\n"
    );
    Config::from_toml(&toml, |_| None).context("the generated config is invalid")?;
    let config_path = args.dir.join("processor.toml");
    std::fs::write(&config_path, &toml)?;

    log("starting the release processor");
    let processor_log = std::fs::File::create(args.dir.join("processor.log"))?;
    let mut processor = tokio::process::Command::new(&args.processor)
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(processor_log.try_clone()?)
        .stderr(processor_log)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start the processor")?;
    if let Some(pid) = processor.id() {
        std::fs::write(args.dir.join("processor.pid"), pid.to_string())?;
    }
    let http = reqwest::Client::new();
    let ready = async {
        loop {
            let answer = http
                .get(format!("http://127.0.0.1:{port}/readyz"))
                .send()
                .await;
            if answer.is_ok_and(|a| a.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::select! {
        () = ready => {}
        exit = processor.wait() => bail!("the processor exited at start: {exit:?}; see its log"),
        () = tokio::time::sleep(Duration::from_secs(60)) => bail!("the processor was not ready in 60 s"),
    }

    let range = vec![
        "--shop".to_owned(),
        shop.to_owned(),
        "--from".to_owned(),
        from.format(&Rfc3339)?,
        "--to".to_owned(),
        to.format(&Rfc3339)?,
    ];
    log("dry run");
    let before = api.requests().len();
    let mut dry_args = range.clone();
    dry_args.push("--dry-run".to_owned());
    let (dry_output, dry_secs) = run_backfill(&args.processor, &config_path, &dry_args).await?;
    let dry_calls = measure(Platform::Shopify, &api.requests()[before..]);
    let dry_plan = plan_of(&dry_output);
    log(&format!(
        "dry run: {}",
        dry_output.trim().replace('\n', " / ")
    ));

    // The dry run read the whole list; Shopify's bucket drains 2 calls a second.
    tokio::time::sleep(Duration::from_secs(20)).await;
    log("backfill");
    let mut journal = Journal::default();
    journal.read(&sim, 0.0);
    journal = Journal {
        seq: journal.seq,
        ..Journal::default()
    };
    let before = api.requests().len();
    let started = Instant::now();
    let command = run_backfill(&args.processor, &config_path, &range);
    tokio::pin!(command);
    let mut read_phase: Option<(String, f64)> = None;
    let mut timeline = Vec::new();
    let mut next_sample = 0.0;
    let deadline = Duration::from_secs(args.timeout_secs);
    let target = orders as u64;
    loop {
        let elapsed = started.elapsed().as_secs_f64();
        journal.read(&sim, elapsed);
        if elapsed >= next_sample {
            timeline.push(json!([
                elapsed.round(),
                journal.invoices,
                journal.payments,
                journal.api_calls
            ]));
            next_sample += 30.0;
        }
        if journal.invoices >= target && journal.payments >= target && read_phase.is_some() {
            break;
        }
        if started.elapsed() > deadline {
            log("timed out; reporting what was booked");
            break;
        }
        if read_phase.is_none() {
            tokio::select! {
                result = &mut command => {
                    let (output, secs) = result?;
                    log(&format!("backfill read and published in {secs:.1} s: {}", output.trim().replace('\n', " / ")));
                    read_phase = Some((output, secs));
                }
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        if let Ok(Some(exit)) = processor.try_wait() {
            bail!("the processor exited during the backfill: {exit}; see its log");
        }
    }
    let booked_secs = started.elapsed().as_secs_f64();
    // Calls after the last booking (none expected) are part of the run too.
    tokio::time::sleep(Duration::from_secs(10)).await;
    journal.read(&sim, started.elapsed().as_secs_f64());
    let read_calls = measure(Platform::Shopify, &api.requests()[before..]);

    let invoices: Vec<Value> = sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| {
            i["InvoiceNumber"]
                .as_str()
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    let mut numbers: Vec<&str> = invoices
        .iter()
        .filter_map(|i| i["InvoiceNumber"].as_str())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let paid = invoices.iter().filter(|i| i["Status"] == "PAID").count();

    // SIGTERM: the processor finishes its batches and stops.
    if let Some(pid) = processor.id() {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), processor.wait()).await;
    let _ = std::fs::remove_file(args.dir.join("processor.pid"));
    let log_text = std::fs::read_to_string(args.dir.join("processor.log")).unwrap_or_default();
    let level = |level: &str| {
        log_text
            .lines()
            .filter(|l| l.contains(&format!("\"level\":\"{level}\"")))
            .count()
    };
    let (read_output, read_secs) = read_phase.unwrap_or_default();
    append(
        &args.common.results,
        &json!({
            "kind": "backfill",
            "orders": orders,
            "days": args.days,
            "latency_ms": args.latency_ms,
            "rate_limits": limits,
            "dry_run": {"secs": round2(dry_secs), "plan": dry_plan, "calls": measured_json(&dry_calls)},
            "backfill": {
                "read_secs": round2(read_secs), "plan": plan_of(&read_output),
                "calls": measured_json(&read_calls),
            },
            "booked_secs": round2(booked_secs),
            "first_xero_call_secs": journal.first_call.map(round2),
            "last_invoice_secs": journal.last_invoice.map(round2),
            "last_payment_secs": journal.last_payment.map(round2),
            "invoices_created": journal.invoices,
            "payments_created": journal.payments,
            "invoices_in_xero": invoices.len(),
            "distinct_invoice_numbers": numbers.len(),
            "paid_invoices": paid,
            "xero": {
                "api_calls": journal.api_calls,
                "token_calls": journal.token_calls,
                "by_status": journal.by_status,
                "by_operation": journal.by_operation,
                "calls_429": journal.by_status.get("429").copied().unwrap_or(0),
                "busiest_minute": journal.busiest_minute(),
                "invoice_batches": journal.invoice_batches.len(),
                "mean_invoices_per_call": round2(mean(&journal.invoice_batches)),
                "payment_batches": journal.payment_batches.len(),
                "mean_payments_per_call": round2(mean(&journal.payment_batches)),
            },
            "timeline": timeline,
            "processor_log": {"warn": level("WARN"), "error": level("ERROR")},
        }),
    )?;
    api.stop().await;
    sim.stop().await;
    Ok(())
}
