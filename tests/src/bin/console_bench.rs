//! The operator console's benchmark (`bench/console.sh`, BENCHMARKS.md "Console", issue 20):
//! page load times of `/console` with many shops and a large dead-letter index.
//!
//! ```text
//! console_bench [--shops 500] [--tenants 50] [--events 200] [--dead-letters 100000] \
//!     [--warmup 5] [--requests 50] [--deep-pages 100]
//! ```
//!
//! Against the real RabbitMQ (127.0.0.1:5672, a vhost of its own with the deployed topology)
//! and PostgreSQL (127.0.0.1:5432, a schema of its own) and the Xero simulator in-process
//! (`--tenants` extra demo organisations, the demo OAuth app connected to all of them), it
//! starts one processor in-process with the console on (`XCS_ADMIN_TOKEN`) and `--shops`
//! Shopify shops spread round-robin over the tenants (shop `i` is `cbench-{i:03}`, document
//! prefix `C{i:03}-`), then fills the ledger directly with SQL, as months of running would
//! have left it:
//! - per shop `--events` events handled today (UTC): 9 in 10 booked (each with its invoice in
//!   `xcs_documents`), 1 in 10 skipped, 1 in 25 read by a poll;
//! - `--dead-letters` dead letters in `xcs_dead_letters` over the last 30 days, skewed over
//!   the shops (a few shops hold most of them) and spread over eight reasons, plus a tenth as
//!   many already replayed;
//! - a poll state for one shop in ten and a check result for one in five; then `ANALYZE`.
//!
//! Then it reads each page with `Authorization: Bearer <admin token>`, sequentially:
//! `--warmup` requests, then `--requests` timed ones (from sending the request to the last
//! byte of the body). Every answer must be 200, and the overview must list every shop
//! (`data-shop=` rows), so an error page cannot pass. The deep dead-letter page is the one
//! reached by following the `Next page` link `--deep-pages` times.
//!
//! Prints Markdown on stdout: the setup, the machine, a table of pages (p50, p95, max in ms,
//! response bytes), and `EXPLAIN ANALYZE` timings of the overview's ledger queries (copies of
//! those in `processor/src/ledger/{console,dead_letters,poll}.rs`). Progress goes to stderr.
//! The schema and the vhost are dropped on exit, also after an error, Ctrl-C or SIGTERM.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use xcs_tests::broker::TestBroker;
use xcs_tests::console::{ADMIN_TOKEN, env_with_console};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    ShopToml, TestProcessor, XeroAuth, connect_demo_app, processor_toml, shop_toml,
};
use xcs_xero_sim::{SimConfig, XeroSim};

#[derive(Parser, Clone)]
#[command(about = "Operator console benchmark: page loads with many shops and dead letters")]
struct Args {
    /// Shopify shops in the processor's config.
    #[arg(long, default_value_t = 500)]
    shops: usize,
    /// Xero organisations (simulator tenants) the shops book into, round-robin.
    #[arg(long, default_value_t = 50)]
    tenants: usize,
    /// Events per shop handled today.
    #[arg(long, default_value_t = 200)]
    events: i32,
    /// Dead letters (state dead) in the index.
    #[arg(long, default_value_t = 100_000)]
    dead_letters: i32,
    /// Untimed requests per page first.
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Timed requests per page.
    #[arg(long, default_value_t = 50)]
    requests: usize,
    /// How many `Next page` links to follow for the deep dead-letter page.
    #[arg(long, default_value_t = 100)]
    deep_pages: usize,
    /// `VACUUM ANALYZE` after the fill instead of `ANALYZE` (sets the visibility map, as
    /// autovacuum would have on a ledger that has been running: index-only scans pay off).
    #[arg(long)]
    vacuum: bool,
    /// The ledger schema (dropped before and after the run).
    #[arg(long, default_value = "xcs_bench_console")]
    schema: String,
}

fn shop_name(i: usize) -> String {
    format!("cbench-{i:03}")
}

fn document_prefix(i: usize) -> String {
    format!("C{i:03}-")
}

/// The simulator tenant shop `i` books into (extra tenants are numbered from 1).
fn tenant_of(i: usize, tenants: usize) -> uuid::Uuid {
    xcs_xero_sim::seed::extra_tenant_id(i % tenants + 1)
}

/// Dead-letter reasons the processor gives (`ProcessError::reason`, the broker's delivery
/// limit), most common first in the fill.
const REASONS: [&str; 8] = [
    "xero_validation",
    "unmapped_tax",
    "totals_mismatch",
    "xero_contact_archived",
    "xero_account_archived",
    "delivery_limit",
    "unparseable_payload",
    "xero_plan_limit",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    ensure!(
        args.shops > 0 && args.tenants > 0 && args.requests > 0,
        "--shops, --tenants and --requests must be positive"
    );
    ensure!(
        args.shops < 1000,
        "--shops must be below 1000 (shop names and prefixes have three digits)"
    );
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // The schema, vhost and simulator live here, so they are dropped (the schema and the vhost
    // deleted) however the run ends; the processor is stopped before them.
    let schema = TestSchema {
        name: args.schema.clone(),
    };
    let outcome = tokio::select! {
        result = run(&args, &schema) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        _ = sigterm.recv() => Err(anyhow::anyhow!("terminated")),
    };
    eprintln!("[cbench] cleaning up: dropping schema {}", schema.name);
    drop(schema);
    outcome
}

async fn run(args: &Args, schema: &TestSchema) -> anyhow::Result<()> {
    let started = Instant::now();
    schema
        .client()
        .await
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", schema.name))
        .await
        .context("dropping a schema left by an earlier run")?;
    let broker = TestBroker::with_topology().await;
    eprintln!("[cbench] vhost {} with the deployed topology", broker.vhost);
    let sim = XeroSim::start(SimConfig::demo().with_extra_tenants(args.tenants))
        .context("the simulator starts")?;
    let tenants: Vec<uuid::Uuid> = (0..args.tenants)
        .map(|t| tenant_of(t, args.tenants))
        .collect();

    let mut config = processor_toml(&broker, schema, &sim, XeroAuth::DemoApp, "");
    for i in 0..args.shops {
        config.push_str(&shop_toml(&ShopToml {
            name: &shop_name(i),
            platform: xcs_shared::Platform::Shopify,
            tenant: &tenant_of(i, args.tenants).to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix: &document_prefix(i),
            clearing: "615",
            api: None,
        }));
    }
    // Migrates the ledger and stores the OAuth app's tokens for every tenant.
    connect_demo_app(schema, &sim, &config, &tenants).await;
    let db = schema.client().await;
    let connections: Vec<(String, String, String)> = tenants
        .iter()
        .enumerate()
        .map(|(t, id)| {
            (
                id.to_string(),
                uuid::Uuid::new_v4().to_string(),
                format!("Demo Company (NZ) #{}", t + 1),
            )
        })
        .collect();
    for (tenant, connection_id, name) in &connections {
        db.execute(
            "INSERT INTO xcs_xero_connections
               (tenant_id, connection, connection_id, tenant_name, tenant_type)
             VALUES ($1, 'default', $2, $3, 'ORGANISATION')",
            &[tenant, connection_id, name],
        )
        .await?;
    }

    let processor = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    eprintln!(
        "[cbench] processor with {} shops on port {} ({:.1} s)",
        args.shops,
        processor.port,
        started.elapsed().as_secs_f64()
    );
    let result = async {
        let filled = fill(&db, args).await?;
        archive(&broker, &filled).await?;
        measure(args, &db, processor.port, &filled).await
    }
    .await;
    processor.stop().await;
    drop(sim);
    drop(broker);
    result
}

/// What the fill left, for the report and the pages to read.
struct Filled {
    events: i64,
    documents: i64,
    dead: i64,
    replayed: i64,
    polls: i64,
    checks: i64,
    /// The shop with the most dead letters (the heaviest shop page and `?shop=` filter).
    busiest_shop: String,
    busiest_dead: i64,
    /// That shop's newest booked event, for the event page (its payload in the archive).
    event_id: String,
    /// Its `received_at` and tenant, for the archived copy.
    event_received_at: String,
    event_tenant: String,
    /// An older booked event of that shop whose payload is not in the archive.
    unarchived_id: String,
    fill_secs: f64,
}

async fn fill(db: &tokio_postgres::Client, args: &Args) -> anyhow::Result<Filled> {
    let started = Instant::now();
    let shops: Vec<String> = (0..args.shops).map(shop_name).collect();
    let tenants: Vec<String> = (0..args.shops)
        .map(|i| tenant_of(i, args.tenants).to_string())
        .collect();
    let prefixes: Vec<String> = (0..args.shops).map(document_prefix).collect();
    let now = time::OffsetDateTime::now_utc();
    let midnight = now.replace_time(time::Time::MIDNIGHT);
    // Today (UTC) up to a second ago, as the overview counts it.
    let until = (now - time::Duration::seconds(1)).max(midnight);
    eprintln!(
        "[cbench] filling: {} events, {} dead letters",
        args.shops as i64 * i64::from(args.events),
        args.dead_letters
    );
    // Events n = 1..E of each shop: n % 10 = 0 skipped, else booked; n % 25 = 1 from a poll.
    let events = db
        .execute(
            "INSERT INTO xcs_events (event_id, platform, shop, tenant, kind, topic, received_at,
                 processed_at, outcome, detail, source)
             SELECT 'shopify:' || s.shop || ':order-' || n, 'shopify', s.shop, s.tenant, 'order',
                    'orders/paid', to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    t.at,
                    CASE WHEN n % 10 = 0 THEN 'skipped' ELSE 'booked' END,
                    CASE WHEN n % 10 = 0 THEN 'order not paid yet: nothing to book' ELSE '' END,
                    CASE WHEN n % 25 = 1 THEN 'poll' ELSE 'webhook' END
               FROM unnest($1::text[], $2::text[]) AS s(shop, tenant)
              CROSS JOIN generate_series(1, $3::int) AS n
              CROSS JOIN LATERAL (SELECT $4::timestamptz
                                         + ($5::timestamptz - $4::timestamptz) * random() AS at) t",
            &[&shops, &tenants, &args.events, &midnight, &until],
        )
        .await
        .context("filling xcs_events")?;
    let documents = db
        .execute(
            "INSERT INTO xcs_documents (tenant, doc_key, kind, number, xero_id, shop, business_key,
                 currency, total, order_number, tax_mode, event_id, created_at)
             SELECT e.tenant, 'invoice:' || s.prefix || (1000 + n), 'invoice',
                    s.prefix || (1000 + n), md5(e.event_id)::uuid::text, e.shop,
                    (9000000000 + n)::text, 'NZD', 115.00 + (n % 7) * 10, (1000 + n)::text,
                    'inclusive', e.event_id, e.processed_at
               FROM unnest($1::text[], $2::text[]) AS s(shop, prefix)
              CROSS JOIN generate_series(1, $3::int) AS n
               JOIN xcs_events e ON e.event_id = 'shopify:' || s.shop || ':order-' || n
              WHERE n % 10 <> 0",
            &[&shops, &prefixes, &args.events],
        )
        .await
        .context("filling xcs_documents")?;
    // Dead letters: shop index skewed (random()^3: the first shops hold most), reason skewed
    // too (the first reasons most), over the last 30 days.
    let reasons: Vec<String> = REASONS.iter().map(|r| (*r).to_owned()).collect();
    let replayed_count = args.dead_letters / 10;
    let mut dead_rows = 0;
    for (state, count, tag) in [
        ("dead", args.dead_letters, "dead"),
        ("replayed", replayed_count, "replayed"),
    ] {
        dead_rows += db
            .execute(
                "INSERT INTO xcs_dead_letters (event_id, platform, shop, tenant, kind, topic,
                     reason, by_broker, attempts, last_error, dead_at, state, state_at, state_by)
                 SELECT 'shopify:' || s.shop || ':' || $6 || '-' || d.n, 'shopify', s.shop,
                        s.tenant, 'order', 'orders/paid', d.reason, d.reason = 'delivery_limit',
                        CASE WHEN d.reason = 'delivery_limit' THEN 20 ELSE 5 END,
                        'Xero answered 400: A validation exception occurred (' || d.reason
                            || ') on invoice ' || d.n,
                        now() - interval '30 days' * random(), $5,
                        CASE WHEN $5 = 'dead' THEN NULL ELSE now() END,
                        CASE WHEN $5 = 'dead' THEN NULL ELSE 'cbench' END
                   FROM (SELECT n,
                                1 + (floor(power(random(), 3) * $3::int))::int AS shop_at,
                                ($4::text[])[1 + (floor(power(random(), 2) * 8))::int] AS reason
                           FROM generate_series(1, $7::int) AS n) d
                   JOIN unnest($1::text[], $2::text[]) WITH ORDINALITY AS s(shop, tenant, i)
                     ON s.i = d.shop_at",
                &[
                    &shops,
                    &tenants,
                    &i32::try_from(args.shops)?,
                    &reasons,
                    &state,
                    &tag,
                    &count,
                ],
            )
            .await
            .context("filling xcs_dead_letters")?;
    }
    // One shop in ten is polled (a poll a few minutes ago), one in five has a check result.
    let polls = db
        .execute(
            "INSERT INTO xcs_poll_state (shop, purpose, platform, cursor, next_poll_at,
                 last_poll_at, last_found, last_calls)
             SELECT shop, 'orders', 'shopify', now() - interval '5 minutes',
                    now() + interval '3 minutes', now() - interval '2 minutes', i % 3, 2
               FROM unnest($1::text[]) WITH ORDINALITY AS s(shop, i) WHERE i % 10 = 1",
            &[&shops],
        )
        .await?;
    let checks = db
        .execute(
            "INSERT INTO xcs_shop_checks (shop, kind, ok, summary, action_id)
             SELECT shop, 'check', i % 50 <> 3, 'mapping check: 14 items checked',
                    md5(shop)::uuid::text
               FROM unnest($1::text[]) WITH ORDINALITY AS s(shop, i) WHERE i % 5 = 2",
            &[&shops],
        )
        .await?;
    db.batch_execute(if args.vacuum {
        "VACUUM ANALYZE"
    } else {
        "ANALYZE"
    })
    .await?;
    let busiest = db
        .query_one(
            "SELECT shop, count(*) FROM xcs_dead_letters WHERE state = 'dead'
              GROUP BY shop ORDER BY 2 DESC, 1 LIMIT 1",
            &[],
        )
        .await?;
    let busiest_shop: String = busiest.get(0);
    let booked = db
        .query(
            "SELECT event_id, received_at, tenant FROM xcs_events
              WHERE shop = $1 AND outcome = 'booked' ORDER BY processed_at DESC LIMIT 2",
            &[&busiest_shop],
        )
        .await?;
    ensure!(
        booked.len() == 2,
        "--events gives the shop fewer than 2 booked events"
    );
    let event_id: String = booked[0].get(0);
    let fill_secs = started.elapsed().as_secs_f64();
    eprintln!("[cbench] filled in {fill_secs:.1} s");
    Ok(Filled {
        events: i64::try_from(events)?,
        documents: i64::try_from(documents)?,
        dead: i64::from(args.dead_letters),
        replayed: i64::try_from(dead_rows)? - i64::from(args.dead_letters),
        polls: i64::try_from(polls)?,
        checks: i64::try_from(checks)?,
        busiest_dead: busiest.get(1),
        busiest_shop,
        event_id,
        event_received_at: booked[0].get(1),
        event_tenant: booked[0].get(2),
        unarchived_id: booked[1].get(0),
        fill_secs,
    })
}

/// Puts the measured event's payload in the archive stream, as the ingress's publish to the
/// events exchange would have (the stream only: the shards must not book it again), so its
/// page can show what the payload becomes.
async fn archive(broker: &TestBroker, filled: &Filled) -> anyhow::Result<()> {
    use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
    let mut envelope = xcs_tests::processor::envelope(
        xcs_shared::Platform::Shopify,
        &filled.busiest_shop,
        xcs_shared::EventKind::Order,
        "orders/paid",
        &filled.event_id,
    );
    envelope.tenant.clone_from(&filled.event_tenant);
    envelope.received_at.clone_from(&filled.event_received_at);
    let body = xcs_tests::fixtures::shopify_nz_order(9_000_000_001, 1001, true);
    let connection = broker.connect().await;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;
    let confirmation = channel
        .basic_publish(
            "".into(),
            xcs_shared::topology::ARCHIVE_QUEUE.into(),
            BasicPublishOptions::default(),
            &body,
            lapin::BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(filled.event_id.as_str().into())
                .with_headers(envelope.field_table()),
        )
        .await?
        .await?;
    ensure!(
        confirmation.is_ack(),
        "the archive refused the payload: {confirmation:?}"
    );
    let _ = connection.close(200, "archived".into()).await;
    Ok(())
}

/// One page's timings.
struct Timed {
    label: String,
    path: String,
    ms: Vec<f64>,
    bytes: usize,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Reader {
    http: reqwest::Client,
    base: String,
}

impl Reader {
    /// `GET path` with the bearer token; the body of a 200, the time to its last byte.
    async fn get(&self, path: &str) -> anyhow::Result<(String, Duration)> {
        let start = Instant::now();
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let body = response.text().await?;
        let took = start.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!(
                "GET {path}: {status}: {}",
                body.chars().take(400).collect::<String>()
            );
        }
        Ok((body, took))
    }

    async fn time(
        &self,
        args: &Args,
        label: &str,
        path: &str,
        check: impl Fn(&str) -> anyhow::Result<()>,
    ) -> anyhow::Result<Timed> {
        let mut bytes = 0;
        for _ in 0..args.warmup {
            let (body, _) = self.get(path).await?;
            check(&body).with_context(|| format!("GET {path}"))?;
        }
        let mut ms = Vec::with_capacity(args.requests);
        for _ in 0..args.requests {
            let (body, took) = self.get(path).await?;
            check(&body).with_context(|| format!("GET {path}"))?;
            bytes = body.len();
            ms.push(took.as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        eprintln!(
            "[cbench] {label}: p50 {:.1} ms, p95 {:.1} ms",
            percentile(&ms, 50.0),
            percentile(&ms, 95.0)
        );
        Ok(Timed {
            label: label.to_owned(),
            path: path.to_owned(),
            ms,
            bytes,
        })
    }
}

/// The `Next page` link of a dead-letter page, unescaped.
fn next_link(body: &str) -> Option<String> {
    let at = body.find("rel=\"next\"")?;
    let rest = &body[at..];
    let href = rest.find("href=\"")? + 6;
    let end = rest[href..].find('"')?;
    Some(rest[href..href + end].replace("&amp;", "&"))
}

fn count_of(body: &str, needle: &str) -> usize {
    body.matches(needle).count()
}

async fn measure(
    args: &Args,
    db: &tokio_postgres::Client,
    port: u16,
    filled: &Filled,
) -> anyhow::Result<()> {
    let reader = Reader {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()?,
        base: format!("http://127.0.0.1:{port}"),
    };
    let shops = args.shops;
    let dead_page = |body: &str| -> anyhow::Result<()> {
        ensure!(
            body.contains("<h1>Dead letters</h1>"),
            "not the dead-letter page"
        );
        ensure!(body.contains("rel=\"next\""), "the page has no next link");
        Ok(())
    };
    let mut timed = Vec::new();
    timed.push(
        reader
            .time(args, "overview", "/console", |body| {
                let rows = count_of(body, "data-shop=");
                ensure!(
                    rows == shops,
                    "the overview lists {rows} shops, not {shops}"
                );
                Ok(())
            })
            .await?,
    );
    let shop = &filled.busiest_shop;
    timed.push(
        reader
            .time(
                args,
                &format!("shop page ({shop}, {} dead)", filled.busiest_dead),
                &format!("/console/shops/{shop}"),
                |body| {
                    ensure!(
                        body.contains(&filled.event_id),
                        "the shop page lacks its newest event"
                    );
                    Ok(())
                },
            )
            .await?,
    );
    timed.push(
        reader
            .time(
                args,
                "event page (booked, its invoice, payload in the archive)",
                &format!("/console/events/{}", filled.event_id),
                |body| {
                    ensure!(body.contains(&filled.event_id), "not the event's page");
                    ensure!(
                        body.contains("the archive xcs.archive"),
                        "the event's payload was not found in the archive"
                    );
                    Ok(())
                },
            )
            .await?,
    );
    // An event whose payload is not in the archive: the page waits out its read (at most
    // 10 timed requests, they are slow).
    let few = Args {
        warmup: args.warmup.min(1),
        requests: args.requests.min(10),
        ..args.clone()
    };
    timed.push(
        reader
            .time(
                &few,
                "event page (booked, payload not in the archive)",
                &format!("/console/events/{}", filled.unarchived_id),
                |body| {
                    ensure!(body.contains(&filled.unarchived_id), "not the event's page");
                    Ok(())
                },
            )
            .await?,
    );
    // The dead-letter pages: measured if the page is there (it was being written).
    let probe = reader.get("/console/dead").await;
    let mut dead_note = None;
    match probe {
        Ok(_) => {
            timed.push(
                reader
                    .time(args, "dead letters, first page", "/console/dead", dead_page)
                    .await?,
            );
            timed.push(
                reader
                    .time(
                        args,
                        &format!("dead letters ?shop= ({shop}, first page)"),
                        &format!("/console/dead?shop={shop}"),
                        dead_page,
                    )
                    .await?,
            );
            timed.push(
                reader
                    .time(
                        args,
                        "dead letters ?reason=unmapped_tax (first page)",
                        "/console/dead?reason=unmapped_tax",
                        dead_page,
                    )
                    .await?,
            );
            let mut path = "/console/dead".to_owned();
            for _ in 0..args.deep_pages {
                let (body, _) = reader.get(&path).await?;
                path = next_link(&body).context("a dead-letter page without a next link")?;
            }
            timed.push(
                reader
                    .time(
                        args,
                        &format!(
                            "dead letters, page {} (rows {}-{}, by cursor)",
                            args.deep_pages + 1,
                            args.deep_pages * 50 + 1,
                            args.deep_pages * 50 + 50
                        ),
                        &path,
                        dead_page,
                    )
                    .await?,
            );
        }
        Err(err) => {
            eprintln!("[cbench] /console/dead not measured: {err:#}");
            dead_note = Some(format!("{err:#}"));
        }
    }

    // --- report ---
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let pg: String = db.query_one("SHOW server_version", &[]).await?.get(0);
    let size: String = db
        .query_one(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid)))
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = current_schema() AND c.relkind = 'r'",
            &[],
        )
        .await?
        .get(0);
    println!("### Console page loads\n");
    println!(
        "- setup: {} shops (Shopify) over {} Xero organisations (OAuth); {} events today \
         ({} documents), {} dead letters (state dead; {} more replayed) over 30 days, {} poll \
         states, {} check results; ledger {size} (filled in {:.1} s, then {})",
        args.shops,
        args.tenants,
        filled.events,
        filled.documents,
        filled.dead,
        filled.replayed,
        filled.polls,
        filled.checks,
        filled.fill_secs,
        if args.vacuum {
            "VACUUM ANALYZE"
        } else {
            "ANALYZE"
        }
    );
    println!(
        "- machine: {cores} cores (nproc), {cpu}; PostgreSQL {pg} and RabbitMQ on the same \
         machine; release build, processor in-process"
    );
    println!(
        "- each page: {} warm-up then {} timed requests, sequential, bearer token; time to the \
         last byte of the body\n",
        args.warmup, args.requests
    );
    println!("| page | p50 ms | p95 ms | max ms | response bytes |");
    println!("|---|---:|---:|---:|---:|");
    for t in &timed {
        println!(
            "| {} (`{}`) | {:.1} | {:.1} | {:.1} | {} |",
            t.label,
            if t.path.len() > 60 {
                format!("{}…", &t.path[..60])
            } else {
                t.path.clone()
            },
            percentile(&t.ms, 50.0),
            percentile(&t.ms, 95.0),
            t.ms.last().copied().unwrap_or_default(),
            t.bytes
        );
    }
    if let Some(note) = dead_note {
        println!("| dead letters (`/console/dead`) | not measured: {note} | | | |");
    }
    explain_overview(db, &filled.busiest_shop, args).await?;
    Ok(())
}

/// `EXPLAIN ANALYZE` of the overview's ledger queries (copies of the ledger's, with the
/// overview's parameters), best of three: the execution time and the plan's top node.
async fn explain_overview(
    db: &tokio_postgres::Client,
    shop: &str,
    args: &Args,
) -> anyhow::Result<()> {
    let shops: Vec<String> = (0..args.shops).map(shop_name).collect();
    let midnight = time::OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT);
    let none: Option<String> = None;
    let day_ago = time::OffsetDateTime::now_utc() - time::Duration::hours(24);
    let shop_owned = shop.to_owned();
    let no_time: Option<time::OffsetDateTime> = None;
    let queries: Vec<(
        &str,
        String,
        Vec<&(dyn tokio_postgres::types::ToSql + Sync)>,
    )> = vec![
        (
            "shop_activity (last booked per shop)",
            "SELECT s.shop, e.processed_at, e.event_id
               FROM unnest($1::text[]) AS s(shop)
               LEFT JOIN LATERAL (
                   SELECT processed_at, event_id FROM xcs_events
                   WHERE shop = s.shop AND outcome IN ('booked', 'summarised')
                   ORDER BY processed_at DESC LIMIT 1
               ) e ON true"
                .to_owned(),
            vec![&shops],
        ),
        (
            "outcomes_since (today per shop)",
            "SELECT shop, outcome, source, count(*) FROM xcs_events WHERE processed_at >= $1
              GROUP BY shop, outcome, source"
                .to_owned(),
            vec![&midnight],
        ),
        (
            "dead_letter_counts",
            "SELECT shop, platform, reason, count(*) FROM xcs_dead_letters
              WHERE state = 'dead' GROUP BY shop, platform, reason
              ORDER BY shop, platform, reason"
                .to_owned(),
            vec![],
        ),
        (
            "poll_states",
            "SELECT shop, purpose, cursor, leased_by, last_poll_at, next_poll_at, last_found,
                    last_calls, last_error
               FROM xcs_poll_state WHERE $1::TEXT IS NULL OR shop = $1
              ORDER BY shop, purpose"
                .to_owned(),
            vec![&none],
        ),
        (
            "shop_checks",
            "SELECT shop, kind, ran_at, ok, summary, action_id FROM xcs_shop_checks".to_owned(),
            vec![],
        ),
        (
            "connections",
            "SELECT tenant_id, connection_id, tenant_name, tenant_type, auth_event_id
               FROM xcs_xero_connections ORDER BY tenant_name, tenant_id"
                .to_owned(),
            vec![],
        ),
        (
            "shop page: shop_events (first page)",
            "SELECT event_id, platform, shop, tenant, kind, topic, received_at, processed_at,
                    outcome, detail, source FROM xcs_events
              WHERE shop = $1
                AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR outcome = $3)
                AND ($4::timestamptz IS NULL OR processed_at >= $4)
                AND ($5::timestamptz IS NULL OR processed_at < $5)
                AND ($6::timestamptz IS NULL OR (processed_at, event_id) < ($6, $7))
              ORDER BY processed_at DESC, event_id DESC LIMIT 50"
                .to_owned(),
            vec![
                &shop_owned,
                &none,
                &none,
                &no_time,
                &no_time,
                &no_time,
                &none,
            ],
        ),
        (
            "shop page: shop_hourly",
            "SELECT date_trunc('hour', processed_at), outcome, count(*) FROM xcs_events
              WHERE shop = $1 AND processed_at >= $2 GROUP BY 1, 2 ORDER BY 1"
                .to_owned(),
            vec![&shop_owned, &day_ago],
        ),
        (
            "shop page: shop_dead_hourly",
            "SELECT date_trunc('hour', dead_at), 'dead', count(*) FROM xcs_dead_letters
              WHERE shop = $1 AND dead_at >= $2 GROUP BY 1 ORDER BY 1"
                .to_owned(),
            vec![&shop_owned, &day_ago],
        ),
        (
            "dead page, first page",
            "SELECT * FROM xcs_dead_letters WHERE state = 'dead'
              ORDER BY dead_at DESC, event_id DESC LIMIT 51"
                .to_owned(),
            vec![],
        ),
        (
            "dead page, ?shop= (busiest shop)",
            format!(
                "SELECT * FROM xcs_dead_letters WHERE state = 'dead' AND shop = '{shop}'
                  ORDER BY dead_at DESC, event_id DESC LIMIT 51"
            ),
            vec![],
        ),
    ];
    println!(
        "\nThe pages' ledger queries, `EXPLAIN (ANALYZE)` on the filled schema (best of 3):\n"
    );
    println!("| query | rows | execution ms | plan (top nodes) |");
    println!("|---|---:|---:|---|");
    for (name, sql, params) in &queries {
        let mut best: Option<(f64, i64, String)> = None;
        for _ in 0..3 {
            let row = db
                .query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), params)
                .await
                .with_context(|| format!("EXPLAIN {name}"))?;
            let plan: serde_json::Value = match row.try_get::<_, serde_json::Value>(0) {
                Ok(plan) => plan,
                Err(_) => serde_json::from_str(&row.get::<_, String>(0))?,
            };
            let top = &plan[0];
            let ms = top["Execution Time"].as_f64().unwrap_or_default();
            let rows = top["Plan"]["Actual Rows"].as_i64().unwrap_or_default();
            let mut nodes = Vec::new();
            let mut node = &top["Plan"];
            while nodes.len() < 4 {
                let mut text = node["Node Type"].as_str().unwrap_or("?").to_owned();
                if let Some(index) = node["Index Name"].as_str() {
                    text.push_str(&format!(" on {index}"));
                }
                nodes.push(text);
                match node["Plans"].as_array().and_then(|p| p.first()) {
                    Some(child) => node = child,
                    None => break,
                }
            }
            if best.as_ref().is_none_or(|(b, _, _)| ms < *b) {
                best = Some((ms, rows, nodes.join(" ← ")));
            }
        }
        if let Some((ms, rows, nodes)) = best {
            println!("| {name} | {rows} | {ms:.1} | {nodes} |");
        }
    }
    Ok(())
}
