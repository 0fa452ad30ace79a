//! The chaos run (issue 6): signed deliveries from several platforms and shops go through the
//! whole system (ingress, RabbitMQ, processors, PostgreSQL, Xero) while faults strike, and at
//! the end the run checks the promise: every delivery the ingress acknowledged is booked in Xero
//! exactly once, or waits in the dead queue with its reason.
//!
//! ```text
//! chaos --short            # CI: ~1,000 deliveries, every kind of fault once or more
//! chaos                    # on demand: ~5,000 deliveries over 10 minutes, production retry delays
//! chaos --orders 10000 --seconds 1800 --seed 7
//! ```
//!
//! Everything it may kill is its own: a RabbitMQ node and a PostgreSQL cluster started for the
//! run in a temporary directory (the shared servers are never touched), the processors as
//! processes of their own. The Xero simulator and the ingress run in this process; the
//! processors reach Xero through a TCP proxy the run can cut. See `README.md` (Chaos run).
//!
//! One Shopify shop's platform drops a share of its webhooks (`--drop-webhooks`, 20% by
//! default) and the processors poll its fake Admin API: what it dropped must be booked too.
//!
//! The first WooCommerce shop tracks inventory: its orders, restocks and stocktakes change
//! a model of its store, its stock webhooks report the levels, and Xero's quantities must end
//! at the store's (`STOCK MISMATCHES`).
//!
//! It prints what it did and a table, and exits 1 when anything was lost, booked twice or
//! booked wrong, an event died that should not have, or the system did not drain in time.

mod load;
mod monkey;
mod rig;
mod stock;
mod verdict;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use serde_json::json;
use tokio::time::Instant;
use xcs_shared::topology;
use xcs_tests::proxy::Proxy;
use xcs_xero_sim::{SimConfig, XeroSim};

use load::{Counters, Order, PlatformApis, Sender, Shop};
use monkey::Monkey;
use rig::{PrivateBroker, PrivatePostgres, Processors};

const VHOST: &str = "xcs";
const SCHEMA: &str = "xcs";

#[derive(Debug, Parser)]
#[command(
    about = "Sends signed deliveries through the whole system while faults strike, \
                   then checks that nothing acknowledged was lost or booked twice"
)]
struct Args {
    /// The CI preset: 600 orders over 60 s, a strike every second, retry delays ×0.1.
    #[arg(long)]
    short: bool,
    /// Orders to send; each is a chain of 1 to 4 deliveries.
    #[arg(long)]
    orders: Option<u64>,
    /// Seconds over which the orders start; faults strike until the load is done and every
    /// kind of fault struck at least once.
    #[arg(long)]
    seconds: Option<u64>,
    /// Pause between strikes, in seconds.
    #[arg(long)]
    strike_every: Option<f64>,
    /// The retry tiers' delays (10 s, 1 min, 10 min, 1 h) multiplied by this.
    #[arg(long)]
    retry_scale: Option<f64>,
    /// Shops, each on a Xero tenant of its own, platforms in turn.
    #[arg(long, default_value_t = 6)]
    shops: usize,
    #[arg(long, default_value_t = 3)]
    processors: usize,
    /// How long a "platform" keeps re-sending a delivery the ingress did not acknowledge.
    #[arg(long, default_value_t = 180)]
    give_up_after: u64,
    /// The share of its webhooks, in percent, that the leaky shop's platform never sends
    /// (the fourth shop, a Shopify one, polled; 0 for none).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=100))]
    drop_webhooks: u64,
    /// How long the system may take to drain once the faults are over.
    #[arg(long)]
    drain_timeout: Option<u64>,
    /// Seeds the fault order; printed, so a run can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Writes the findings as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Keeps the run's directory (service logs, processor logs) instead of removing it.
    #[arg(long)]
    keep: bool,
}

/// The settings of one run, after presets.
#[derive(Debug, Clone, serde::Serialize)]
struct Plan {
    orders: u64,
    seconds: u64,
    strike_every_s: f64,
    retry_scale: f64,
    drain_timeout_s: u64,
    shops: usize,
    processors: usize,
    give_up_after_s: u64,
    drop_webhooks_percent: u64,
    seed: u64,
}

impl Plan {
    fn from(args: &Args) -> Plan {
        let (orders, seconds, every, scale, drain) = if args.short {
            (600, 60, 1.0, 0.1, 600)
        } else {
            (3000, 600, 6.0, 1.0, 75 * 60)
        };
        Plan {
            orders: args.orders.unwrap_or(orders),
            seconds: args.seconds.unwrap_or(seconds),
            strike_every_s: args.strike_every.unwrap_or(every),
            retry_scale: args.retry_scale.unwrap_or(scale),
            drain_timeout_s: args.drain_timeout.unwrap_or(drain),
            shops: args.shops.max(1),
            processors: args.processors.max(1),
            give_up_after_s: args.give_up_after,
            drop_webhooks_percent: args.drop_webhooks,
            seed: args.seed.unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_secs())
            }),
        }
    }
}

/// The run's temporary directory, removed at the end unless `--keep`.
struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if self.keep {
            println!("run directory kept: {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = Plan::from(&args);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut dir = RunDir {
        path: std::env::temp_dir().join(format!("xcs-chaos-{}", uuid::Uuid::new_v4().simple())),
        keep: args.keep,
    };
    std::fs::create_dir_all(&dir.path)?;
    println!("chaos run: {}", serde_json::to_string(&plan)?);

    let outcome = run(&plan, &dir).await;
    // A failed run keeps its logs and Xero's journal for reading.
    dir.keep |= !outcome.as_ref().is_ok_and(verdict::Findings::passed);
    let findings = outcome?;
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&findings)?)?;
    }
    if !findings.passed() {
        eprintln!(
            "chaos run FAILED (seed {}): see the problems above",
            plan.seed
        );
        drop(dir);
        std::process::exit(1);
    }
    Ok(())
}

/// The topology with the retry delays scaled.
fn definitions(retry_scale: f64) -> serde_json::Value {
    let mut definitions = topology::definitions(VHOST);
    for queue in definitions["queues"].as_array_mut().into_iter().flatten() {
        if let Some(ttl) = queue["arguments"]["x-message-ttl"].as_u64() {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let scaled = ((ttl as f64) * retry_scale).max(100.0) as u64;
            queue["arguments"]["x-message-ttl"] = json!(scaled);
        }
    }
    definitions
}

fn processor_config(
    amqp: &str,
    postgres: &str,
    xero: &str,
    shops: &[Shop],
    apis: &PlatformApis,
) -> String {
    let mut config = format!(
        r#"log_format = "json"
[amqp]
uri = "{amqp}"
[postgres]
url = "{postgres}"
schema = "{SCHEMA}"
pool_size = 4
[xero]
api_base = "{xero}/api.xro/2.0"
identity_base = "{xero}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "oauth"
timeout_ms = 5000
[processing]
poll_every_ms = 1000
"#,
        client_id = xcs_xero_sim::DEMO_APP_CLIENT_ID,
        client_secret = xcs_xero_sim::DEMO_APP_CLIENT_SECRET,
    );
    for shop in shops {
        config.push_str(&shop.processor_toml(apis));
    }
    config
}

/// The tracked shop's catalogue in Xero: tracked items holding the store's opening levels.
fn seed_stock(sim: &xcs_xero_sim::RunningSim, shops: &[Shop]) -> anyhow::Result<()> {
    for shop in shops.iter().filter(|s| s.store.is_some()) {
        for (code, _) in stock::CATALOGUE {
            sim.add_item(
                shop.tenant,
                &json!({
                    "Code": code,
                    "Name": code,
                    "IsSold": true,
                    "IsPurchased": true,
                    "SalesDetails": {"AccountCode": "200"},
                    "PurchaseDetails": {"COGSAccountCode": "310"},
                    "InventoryAssetAccountCode": "630",
                    "QuantityOnHand": stock::OPENING,
                    "TotalCostPool": stock::OPENING * stock::OPENING_COST,
                }),
            )
            .map_err(|err| anyhow::anyhow!("seeding {code}: {err}"))?;
        }
    }
    Ok(())
}

/// Migrates the ledger and stores the app's tokens for every tenant, as `connect` would.
async fn connect_tenants(
    config: &str,
    postgres_url: &str,
    sim: &xcs_xero_sim::RunningSim,
    shops: &[Shop],
) -> anyhow::Result<()> {
    let parsed = xcs_processor::config::Config::from_toml(config, |_| None)?;
    drop(xcs_processor::ledger::Ledger::connect(&parsed.postgres).await?);
    let tenants: Vec<uuid::Uuid> = shops.iter().map(|s| s.tenant).collect();
    let tokens = sim.issue_tokens(xcs_xero_sim::DEMO_APP_CLIENT_ID, &tenants)?;
    let (client, connection) = tokio_postgres::connect(postgres_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .execute(
            &format!(
                "INSERT INTO {SCHEMA}.xcs_xero_tokens
                   (connection, refresh_token, access_token, access_expires_at)
                 VALUES ('default', $1, $2, now() + interval '30 minutes')"
            ),
            &[
                &tokens.refresh_token.context("a refresh token")?,
                &tokens.access_token,
            ],
        )
        .await?;
    Ok(())
}

async fn run(plan: &Plan, dir: &RunDir) -> anyhow::Result<verdict::Findings> {
    let started = Instant::now();
    let postgres = PrivatePostgres::start(&dir.path).await?;
    let broker = PrivateBroker::start(&dir.path, &definitions(plan.retry_scale)).await?;
    println!(
        "[{:>6.1} s] private RabbitMQ on :{}, PostgreSQL on :{}",
        started.elapsed().as_secs_f64(),
        broker.amqp_port,
        postgres.port
    );
    let shops = Shop::all(plan.shops, plan.drop_webhooks_percent);
    // Xero's journal goes into the run's directory, for reading after a failed run (`--keep`).
    let sim = XeroSim::start(
        SimConfig::demo()
            .with_extra_tenants(plan.shops)
            .with_journal_file(dir.path.join("xero-journal.jsonl")),
    )?;
    seed_stock(&sim, &shops)?;
    let xero_proxy = Proxy::start(sim.addr().to_string()).await;
    let apis = Arc::new(PlatformApis::start().await);
    let amqp = broker.amqp_uri(VHOST);
    let config = processor_config(
        &amqp,
        &postgres.url(),
        &format!("http://127.0.0.1:{}", xero_proxy.port),
        &shops,
        &apis,
    );
    connect_tenants(&config, &postgres.url(), &sim, &shops).await?;
    let processors = Processors::new(&dir.path, plan.processors, &config)?;

    let ingress_config = std::iter::once(format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n\
         [amqp]\nuri = \"{amqp}\"\nreconnect_max_backoff_ms = 500\n"
    ))
    .chain(shops.iter().map(Shop::ingress_toml))
    .collect::<String>();
    let ingress = xcs_tests::ingress::TestIngress::start(&ingress_config).await;
    ingress.wait_ready().await;

    let mut monkey = Monkey::new(
        broker, postgres, processors, &sim, xero_proxy, plan.seed, started,
    );
    let counters = Arc::new(Mutex::new(Counters::default()));
    let sender = Sender {
        ingress_url: ingress.base_url.clone(),
        client: reqwest::Client::new(),
        give_up_after: Duration::from_secs(plan.give_up_after_s),
        counters: Arc::clone(&counters),
        apis: Arc::clone(&apis),
        seed: plan.seed,
    };
    let orders: Vec<Order> = (0..plan.orders)
        .map(|n| {
            let shop = &shops[usize::try_from(n).expect("fits") % shops.len()];
            Order::new(shop, n / shops.len() as u64 + 1, &apis, plan.seed)
        })
        .collect();
    let deliveries_planned: usize = orders.iter().map(Order::planned).sum();

    // The load: orders start evenly over the window, each chain on a task of its own. The
    // monkey strikes until the load is done and every kind of fault has struck.
    let (load_done_tx, load_done) = tokio::sync::watch::channel(false);
    #[allow(clippy::cast_precision_loss)]
    let gap = Duration::from_secs_f64(plan.seconds as f64 / plan.orders.max(1) as f64);
    let load = async {
        let load_started = Instant::now();
        let chains: FuturesUnordered<_> = orders
            .into_iter()
            .enumerate()
            .map(|(n, order)| {
                let at = load_started + gap * u32::try_from(n).expect("fits");
                let sender = sender.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    sender.run(order).await
                })
            })
            .collect();
        let orders: Vec<Order> = chains
            .map(|chain| chain.expect("a chain does not panic"))
            .collect()
            .await;
        println!(
            "[{:>6.1} s] load done: every chain acknowledged or given up",
            started.elapsed().as_secs_f64()
        );
        let _ = load_done_tx.send(true);
        (orders, time::OffsetDateTime::now_utc())
    };
    let strikes = monkey.run(Duration::from_secs_f64(plan.strike_every_s), load_done);
    let ((orders, load_done_at), strikes) = tokio::join!(load, strikes);
    strikes?;
    drop(sender);
    monkey.heal().await?;
    let healed = Instant::now();

    let leaky = shops.iter().find(|s| s.leaky()).map(|s| Leaky {
        shop: &s.name,
        changed_until: load_done_at,
    });
    let drained = drain(&mut monkey, &orders, &amqp, plan, leaky.as_ref()).await?;
    let findings = settle_and_judge(&mut monkey, &shops, &orders, &amqp, &sim).await?;
    let booked_from_polls = match &leaky {
        Some(leaky) => Some(booked_from_polls(&monkey.postgres.url(), leaky.shop).await?),
        None => None,
    };
    let counters = counters.lock().expect("not poisoned").clone();
    report(&Report {
        plan,
        monkey: &monkey,
        orders: &orders,
        deliveries_planned,
        counters: &counters,
        drain: drained.then(|| healed.elapsed()),
        findings: &findings,
        booked_from_polls,
    });
    let mut findings = findings;
    if !drained {
        findings.problems.push(format!(
            "the system did not drain within {} s of the faults ending",
            plan.drain_timeout_s
        ));
    }
    ingress.stop().await;
    drop(monkey);
    if let Some(apis) = Arc::into_inner(apis) {
        apis.stop().await;
    }
    sim.stop().await;
    Ok(findings)
}

/// What the run reads back: the ledger's outcomes and the dead queue.
struct Readback {
    ledger: BTreeMap<String, String>,
    dead: BTreeMap<String, Vec<String>>,
    /// Messages ready in the shard and retry queues.
    queued: u32,
    /// The leaky shop's poll cursor: everything changed before it has been read.
    poll_cursor: Option<time::OffsetDateTime>,
}

/// The shop whose platform drops webhooks, and when its last order changed.
struct Leaky<'a> {
    shop: &'a str,
    changed_until: time::OffsetDateTime,
}

async fn read_back(
    amqp: &str,
    postgres_url: &str,
    ids: &[&str],
    leaky: Option<&Leaky<'_>>,
) -> anyhow::Result<Readback> {
    let (client, connection) = tokio_postgres::connect(postgres_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let poll_cursor = match leaky {
        Some(leaky) => client
            .query_opt(
                &format!(
                    "SELECT cursor FROM {SCHEMA}.xcs_poll_state WHERE shop = $1 AND purpose = $2"
                ),
                &[&leaky.shop, &xcs_processor::poll::scheduler::PURPOSE],
            )
            .await?
            .map(|row| row.get(0)),
        None => None,
    };
    let ledger = client
        .query(
            &format!("SELECT event_id, outcome FROM {SCHEMA}.xcs_events WHERE event_id = ANY($1)"),
            &[&ids],
        )
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let connection =
        lapin::Connection::connect(amqp, lapin::ConnectionProperties::default()).await?;
    let listing = xcs_processor::operate::dead::list(
        &connection,
        &xcs_processor::operate::dead::Filter::default(),
        &xcs_processor::operate::ProgressBar::hidden(),
    )
    .await?;
    let mut dead: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for letter in listing.letters {
        dead.entry(letter.event_id).or_default().push(letter.reason);
    }
    let channel = connection.create_channel().await?;
    let mut queued = 0;
    for queue in topology::shard_queues().chain(
        topology::RETRY_TIERS
            .iter()
            .map(|(name, _)| (*name).to_owned()),
    ) {
        let declared = channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        queued += declared.message_count();
    }
    let _ = connection.close(200, "read".into()).await;
    Ok(Readback {
        ledger,
        dead,
        queued,
        poll_cursor,
    })
}

/// The leaky shop's documents that an event from a poll booked: what its webhooks missed.
async fn booked_from_polls(postgres_url: &str, shop: &str) -> anyhow::Result<i64> {
    let (client, connection) = tokio_postgres::connect(postgres_url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let row = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {SCHEMA}.xcs_documents d
                   JOIN {SCHEMA}.xcs_events e ON e.event_id = d.event_id
                  WHERE e.shop = $1 AND d.event_id LIKE '%:api:%'"
            ),
            &[&shop],
        )
        .await?;
    Ok(row.get(0))
}

fn acknowledged_ids(orders: &[Order]) -> Vec<&str> {
    orders
        .iter()
        .flat_map(|o| o.sent.iter())
        .filter_map(|s| s.event_id.as_deref())
        .collect()
}

/// Waits until every acknowledged event is in the ledger or dead, the leaky shop's poll has
/// read past its last change, and the shard and retry queues are empty, three looks in a row
/// (a processor may hold a duplicate copy unacked).
async fn drain(
    monkey: &mut Monkey<'_>,
    orders: &[Order],
    amqp: &str,
    plan: &Plan,
    leaky: Option<&Leaky<'_>>,
) -> anyhow::Result<bool> {
    let ids = acknowledged_ids(orders);
    let deadline = Instant::now() + Duration::from_secs(plan.drain_timeout_s);
    let mut quiet = 0;
    let mut last_print = Instant::now();
    let postgres_url = monkey.postgres.url();
    while Instant::now() < deadline {
        match read_back(amqp, &postgres_url, &ids, leaky).await {
            Ok(seen) => {
                let waiting = ids
                    .iter()
                    .filter(|id| !seen.ledger.contains_key(**id) && !seen.dead.contains_key(**id))
                    .count();
                let polled = leaky.is_none_or(|leaky| {
                    seen.poll_cursor
                        .is_some_and(|cursor| cursor > leaky.changed_until)
                });
                quiet = if waiting == 0 && seen.queued == 0 && polled {
                    quiet + 1
                } else {
                    0
                };
                if quiet >= 3 {
                    return Ok(true);
                }
                if last_print.elapsed() > Duration::from_secs(10) {
                    println!(
                        "draining: {waiting} acknowledged events not yet handled, {} queued{}",
                        seen.queued,
                        if polled {
                            ""
                        } else {
                            ", the leaky shop not polled since the load"
                        }
                    );
                    last_print = Instant::now();
                }
            }
            Err(err) => println!("draining: cannot read back yet: {err:#}"),
        }
        monkey.pause(Duration::from_secs(1)).await?;
    }
    Ok(false)
}

/// Judges what Xero holds; payments may still be lingering in the processors' second stage
/// (up to `payment_linger_ms`), so a finding of "missing" is looked at again for a while.
async fn settle_and_judge(
    monkey: &mut Monkey<'_>,
    shops: &[Shop],
    orders: &[Order],
    amqp: &str,
    sim: &xcs_xero_sim::RunningSim,
) -> anyhow::Result<verdict::Findings> {
    let ids = acknowledged_ids(orders);
    let postgres_url = monkey.postgres.url();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = read_back(amqp, &postgres_url, &ids, None).await?;
        let findings = verdict::judge(
            shops,
            orders,
            &verdict::Observed {
                sim,
                ledger: &seen.ledger,
                dead: &seen.dead,
            },
        );
        if findings.passed() || Instant::now() > deadline {
            return Ok(findings);
        }
        monkey.pause(Duration::from_secs(2)).await?;
    }
}

struct Report<'a> {
    plan: &'a Plan,
    monkey: &'a Monkey<'a>,
    orders: &'a [Order],
    deliveries_planned: usize,
    counters: &'a Counters,
    drain: Option<Duration>,
    findings: &'a verdict::Findings,
    /// The leaky shop's documents booked from its poll, when there is one.
    booked_from_polls: Option<i64>,
}

fn report(r: &Report<'_>) {
    let f = r.findings;
    let sent: Vec<&load::Sent> = r.orders.iter().flat_map(|o| o.sent.iter()).collect();
    let acknowledged = sent.iter().filter(|s| s.event_id.is_some()).count();
    let gave_up = sent.iter().filter(|s| s.gave_up).count();
    let resent = sent.iter().filter(|s| s.resent).count();
    let dropped = sent.iter().filter(|s| s.dropped).count();
    let by = |map: &BTreeMap<String, usize>| {
        map.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut rows: Vec<(String, String)> = vec![
        (
            "deliveries planned".into(),
            r.deliveries_planned.to_string(),
        ),
        (
            "requests to the ingress".into(),
            r.counters.requests.to_string(),
        ),
        (
            "  answered 5xx / no answer (sent again)".into(),
            format!(
                "{} / {}",
                r.counters.answered_5xx, r.counters.transport_errors
            ),
        ),
        (
            "deliveries acknowledged (2xx)".into(),
            acknowledged.to_string(),
        ),
        ("  also re-sent by the platform".into(), resent.to_string()),
        ("  given up by the platform".into(), gave_up.to_string()),
        (
            "webhooks dropped by the leaky platform".into(),
            r.booked_from_polls.map_or_else(
                || "none (no leaky shop)".to_owned(),
                |_| dropped.to_string(),
            ),
        ),
        (
            "  its documents booked from the poll".into(),
            r.booked_from_polls
                .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        ),
        (
            "events acknowledged (unique)".into(),
            f.events_acknowledged.to_string(),
        ),
        ("  in the ledger".into(), by(&f.events_in_ledger)),
        ("  dead-lettered, by reason".into(), by(&f.events_dead)),
        (
            "invoices: expected / in Xero".into(),
            format!("{} / {}", f.invoices_expected, f.invoices_found),
        ),
        (
            "credit notes: expected / in Xero".into(),
            format!("{} / {}", f.credit_notes_expected, f.credit_notes_found),
        ),
        (
            "payments: expected / in Xero".into(),
            format!("{} / {}", f.payments_expected, f.payments_found),
        ),
        ("DUPLICATES".into(), f.duplicates.to_string()),
        ("LOST".into(), (f.lost + f.events_unaccounted).to_string()),
        (
            "tracked SKUs compared with the store".into(),
            f.stock_skus.to_string(),
        ),
        ("STOCK MISMATCHES".into(), f.stock_mismatches.to_string()),
        (
            "  adjustments posted / restocks + stocktakes".into(),
            format!(
                "{} / {} + {}",
                f.stock_adjustments, f.stock_restocks, f.stock_stocktakes
            ),
        ),
        (
            "wrong (amount, unasked, poison booked)".into(),
            f.wrong.to_string(),
        ),
        (
            "dead: poison (expected) / other".into(),
            format!("{} / {}", f.dead_expected, f.dead_unexpected),
        ),
        (
            "time to drain after the faults".into(),
            r.drain.map_or_else(
                || format!("did not drain in {} s", r.plan.drain_timeout_s),
                |d| format!("{:.1} s", d.as_secs_f64()),
            ),
        ),
        (
            "processors: starts / exits on their own".into(),
            format!(
                "{} / {}",
                r.monkey.processors.starts(),
                r.monkey.processors.unplanned_exits.len()
            ),
        ),
    ];
    for (strike, count) in &r.monkey.struck {
        rows.push((format!("fault: {}", strike.label()), count.to_string()));
    }
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n{:-<1$}", "", width + 24);
    for (key, value) in &rows {
        println!("{key:<width$}  {value}");
    }
    println!("{:-<1$}", "", width + 24);
    for problem in f.problems.iter().take(50) {
        println!("PROBLEM: {problem}");
    }
    if f.problems.len() > 50 {
        println!("… and {} more problems", f.problems.len() - 50);
    }
}
