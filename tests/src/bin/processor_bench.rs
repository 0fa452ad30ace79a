//! Load generator and meter for the processor benchmark (`bench/processor.sh`, `BENCHMARKS.md`,
//! issue 3): signed Shopify `orders/paid` webhooks into a running ingress, booked by a running
//! processor into the Xero simulator, measured from the webhook's POST to the invoice in Xero.
//!
//! ```text
//! processor_bench setup --dir DIR --shops 20 --ingress-listen 127.0.0.1:18180 \
//!     --amqp-uri amqp://guest:guest@127.0.0.1:5672/V --postgres-url postgres://... \
//!     --schema S --sim http://127.0.0.1:18182
//! processor_bench run --ingress http://127.0.0.1:18180 --journal FILE --processor-pid PID \
//!     --label "50 orders/s" --rate 50 --duration 60 --first-number 100000
//! ```
//!
//! `setup` writes `ingress.toml`, `processor.toml` and `tenants.json` (the simulator tenants to
//! connect the app to) into DIR, so the shops, secrets and tenants of the ingress, the
//! processor and the load cannot drift apart: shop `i` is `pbench-{i:02}` (Shopify, secret
//! `pbench-shopify-secret-{i}`, document prefix `P{i:02}-`), booking into the simulator's extra
//! tenant `i + 1` ([`xcs_xero_sim::seed::extra_tenant_id`]).
//!
//! `run` sends orders round-robin over the shops, at a fixed rate (`--rate`, `--duration`) or
//! as fast as `--concurrency` requests in flight allow (`--orders`), every order with its own
//! id, number and webhook id. It tails the simulator's journal (`--journal`, JSON lines, read
//! every 10 ms from where the file ended when the run started): an order counts as booked when
//! the journal shows the `PUT /Invoices` answer that created its invoice (the simulator writes
//! the journal line just before it sends that answer), so an order's latency is the time from
//! just before its webhook was POSTed to the moment the line was read (at most ~10 ms late).
//! Every journal entry under `/api.xro/2.0` during the run (from the first POST until the
//! journal has been quiet for `--quiet-ms` after the last booking) is a Xero call; token calls
//! (`/connect/token`) are counted apart. The processor's resident memory is sampled every
//! 200 ms from `/proc/PID/status`. Prints one JSON object on stdout; progress goes to stderr.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use xcs_tests::{fixtures, signer};
use xcs_xero_sim::journal::operation;

/// Shop name, secret and document prefix of shop `i`.
fn shop_name(i: usize) -> String {
    format!("pbench-{i:02}")
}

fn shop_secret(i: usize) -> String {
    format!("pbench-shopify-secret-{i}")
}

fn document_prefix(i: usize) -> String {
    format!("P{i:02}-")
}

/// The simulator tenant shop `i` books into (extra tenants are numbered from 1).
fn tenant(i: usize) -> String {
    xcs_xero_sim::seed::extra_tenant_id(i + 1).to_string()
}

#[derive(Parser)]
#[command(about = "Processor benchmark: orders from webhook to Xero invoice")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes ingress.toml, processor.toml and tenants.json into --dir.
    Setup(SetupArgs),
    /// Sends orders through the ingress and measures them into the simulator.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct SetupArgs {
    #[arg(long)]
    dir: PathBuf,
    #[arg(long, default_value_t = 20)]
    shops: usize,
    #[arg(long)]
    ingress_listen: String,
    #[arg(long)]
    amqp_uri: String,
    #[arg(long)]
    postgres_url: String,
    #[arg(long)]
    schema: String,
    /// The simulator's root URL (`http://127.0.0.1:18182`).
    #[arg(long)]
    sim: String,
    /// The processor's `processing.linger_ms` (the shipped default is 250).
    #[arg(long, default_value_t = 250)]
    linger_ms: u64,
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
    #[arg(long, default_value_t = 200)]
    prefetch: u16,
}

#[derive(clap::Args)]
struct RunArgs {
    /// The ingress's root URL.
    #[arg(long)]
    ingress: String,
    /// The simulator's journal file (JSON lines).
    #[arg(long)]
    journal: PathBuf,
    #[arg(long, default_value_t = 20)]
    shops: usize,
    /// Orders per second; without it, as fast as --concurrency allows.
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to send for at --rate.
    #[arg(long)]
    duration: Option<f64>,
    /// Orders to send (instead of --duration).
    #[arg(long)]
    orders: Option<u64>,
    /// Webhook POSTs in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// The first order number; numbers must not repeat across runs against one simulator.
    #[arg(long, default_value_t = 100_000)]
    first_number: u64,
    #[arg(long, default_value = "run")]
    label: String,
    /// Give up waiting for bookings this many seconds after the last POST.
    #[arg(long, default_value_t = 180.0)]
    drain_timeout: f64,
    /// After the last booking, wait until the journal has been quiet this long (the batch's
    /// payments follow its invoices), at most 15 s.
    #[arg(long, default_value_t = 1500)]
    quiet_ms: u64,
    /// The processor, for its memory and CPU.
    #[arg(long)]
    processor_pid: u32,
    /// Other processes to measure the CPU of, as NAME=PID (repeatable).
    #[arg(long = "cpu-of")]
    cpu_of: Vec<String>,
    /// Every process with this command name (`/proc/PID/comm`), those started during the run
    /// included, e.g. `postgres` for the server and its backends (repeatable).
    #[arg(long = "cpu-of-comm")]
    cpu_of_comm: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Setup(args) => setup(&args),
        Command::Run(args) => run(args).await,
    }
}

fn setup(args: &SetupArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let mut ingress = format!(
        "[server]\nlisten = \"{}\"\nlog_format = \"json\"\n\n[amqp]\nuri = \"{}\"\n",
        args.ingress_listen, args.amqp_uri
    );
    let sim = args.sim.trim_end_matches('/');
    let mut processor = format!(
        r#"log_format = "json"

[amqp]
uri = "{amqp}"

[postgres]
url = "{pg}"
schema = "{schema}"
pool_size = 8

[xero]
api_base = "{sim}/api.xro/2.0"
identity_base = "{sim}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "oauth"
max_in_flight = 5
max_per_minute = 60
max_per_day = 5000
timeout_ms = 30000

[processing]
batch_size = {batch}
linger_ms = {linger}
prefetch = {prefetch}
"#,
        amqp = args.amqp_uri,
        pg = args.postgres_url,
        schema = args.schema,
        client_id = xcs_xero_sim::DEMO_APP_CLIENT_ID,
        client_secret = xcs_xero_sim::DEMO_APP_CLIENT_SECRET,
        batch = args.batch_size,
        linger = args.linger_ms,
        prefetch = args.prefetch,
    );
    let mut tenants = Vec::new();
    for i in 0..args.shops {
        let (name, tenant) = (shop_name(i), tenant(i));
        ingress.push_str(&format!(
            "\n[shops.{name}]\nplatform = \"shopify\"\ntenant = \"{tenant}\"\nsecrets = [\"{}\"]\n",
            shop_secret(i)
        ));
        processor.push_str(&xcs_tests::processor::shop_toml(
            &xcs_tests::processor::ShopToml {
                name: &name,
                platform: xcs_shared::Platform::Shopify,
                tenant: &tenant.to_string(),
                contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
                prefix: &document_prefix(i),
                clearing: "615",
                api: None,
            },
        ));
        tenants.push(tenant);
    }
    // Both configs must load as the binaries will load them.
    xcs_processor::config::Config::from_toml(&processor, |_| None)
        .context("the generated processor config is invalid")?;
    std::fs::write(args.dir.join("ingress.toml"), ingress)?;
    std::fs::write(args.dir.join("processor.toml"), processor)?;
    std::fs::write(
        args.dir.join("tenants.json"),
        serde_json::to_string(&tenants)?,
    )?;
    Ok(())
}

/// What the journal showed during the run.
#[derive(Default)]
struct JournalStats {
    /// Invoice number → when the answer that created it was read.
    booked: HashMap<String, Instant>,
    /// Accounting API calls (under `/api.xro/2.0`), refused ones included.
    api_calls: u64,
    /// `/connect/token` calls.
    token_calls: u64,
    /// Other identity or unknown paths.
    other_calls: u64,
    by_status: BTreeMap<String, u64>,
    /// `PUT /Invoices`, `GET /Contacts`, ...
    by_operation: BTreeMap<String, u64>,
    /// Accounting calls per tenant.
    by_tenant: BTreeMap<String, u64>,
    /// Invoices created by each successful `PUT /Invoices` (the batch sizes).
    invoice_batches: Vec<u64>,
    /// Payments created by each successful `PUT /Payments`.
    payment_batches: Vec<u64>,
    /// Invoice elements Xero refused.
    invoice_errors: u64,
    replayed: u64,
    /// When the last entry was read.
    last_entry: Option<Instant>,
    /// Lines that were not journal entries.
    unreadable: u64,
}

/// The fields of a journal entry the meter needs; the bodies are skipped unless the answer
/// creates invoices or payments.
#[derive(Deserialize)]
struct Entry {
    method: String,
    path: String,
    tenant: Option<String>,
    status: Option<u16>,
    #[serde(default)]
    replayed: bool,
}

#[derive(Deserialize)]
struct EntryWithResponse {
    #[serde(default)]
    response: Value,
}

fn ok_elements(response: &Value, list: &str) -> (Vec<String>, u64) {
    let mut ok = Vec::new();
    let mut errors = 0;
    for element in response[list].as_array().into_iter().flatten() {
        let failed = element["StatusAttributeString"] == "ERROR"
            || element["ValidationErrors"]
                .as_array()
                .is_some_and(|e| !e.is_empty());
        if failed {
            errors += 1;
        } else {
            ok.push(
                element["InvoiceNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            );
        }
    }
    (ok, errors)
}

impl JournalStats {
    fn absorb(&mut self, line: &str, seen: Instant) {
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            self.unreadable += 1;
            return;
        };
        self.last_entry = Some(seen);
        if !entry.path.starts_with("/api.xro/2.0") {
            if entry.path.eq_ignore_ascii_case("/connect/token") {
                self.token_calls += 1;
            } else {
                self.other_calls += 1;
            }
            return;
        }
        self.api_calls += 1;
        let status = entry
            .status
            .map_or_else(|| "dropped".to_owned(), |s| s.to_string());
        *self.by_status.entry(status).or_default() += 1;
        let op = operation(&entry.method, &entry.path);
        *self.by_operation.entry(op.clone()).or_default() += 1;
        if let Some(tenant) = &entry.tenant {
            *self.by_tenant.entry(tenant.clone()).or_default() += 1;
        }
        if entry.replayed {
            self.replayed += 1;
        }
        if entry.status != Some(200) {
            return;
        }
        match op.as_str() {
            "PUT /Invoices" => {
                let Ok(full) = serde_json::from_str::<EntryWithResponse>(line) else {
                    return;
                };
                let (numbers, errors) = ok_elements(&full.response, "Invoices");
                self.invoice_errors += errors;
                self.invoice_batches.push(numbers.len() as u64);
                for number in numbers {
                    self.booked.entry(number).or_insert(seen);
                }
            }
            "PUT /Payments" => {
                let Ok(full) = serde_json::from_str::<EntryWithResponse>(line) else {
                    return;
                };
                let (payments, _) = ok_elements(&full.response, "Payments");
                self.payment_batches.push(payments.len() as u64);
            }
            _ => {}
        }
    }
}

/// Tails the journal file from its current end on a thread of its own, every 10 ms.
fn tail_journal(
    path: &Path,
    stats: Arc<Mutex<JournalStats>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the journal {}", path.display()))?;
    file.seek(SeekFrom::End(0))?;
    Ok(std::thread::spawn(move || {
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = vec![0_u8; 1 << 20];
        loop {
            let stopping = stop.load(Ordering::Relaxed);
            loop {
                match file.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => pending.extend_from_slice(&chunk[..n]),
                }
            }
            if let Some(end) = pending.iter().rposition(|b| *b == b'\n') {
                let seen = Instant::now();
                let mut stats = stats.lock().expect("not poisoned");
                for line in pending[..end].split(|b| *b == b'\n') {
                    if !line.is_empty() {
                        stats.absorb(&String::from_utf8_lossy(line), seen);
                    }
                }
                drop(stats);
                pending.drain(..=end);
            }
            if stopping {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }))
}

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A process's CPU time so far (user + system), in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// CPU seconds so far of every process named `comm`, by PID.
fn cpu_seconds_of_comm(comm: &str) -> HashMap<String, f64> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return HashMap::new();
    };
    dir.filter_map(Result::ok)
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.to_owned();
            pid.bytes().all(|b| b.is_ascii_digit()).then_some(pid)
        })
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .filter_map(|pid| Some((pid.clone(), cpu_seconds(&pid)?)))
        .collect()
}

/// The whole machine's busy CPU time (all cores, idle and iowait excluded), in seconds.
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .filter_map(|field| field.parse().ok())
        .collect();
    let total: f64 = ticks.iter().take(8).sum();
    Some((total - ticks.get(3)? - ticks.get(4)?) / 100.0)
}

/// One order, ready to POST.
struct Order {
    number: String,
    delivery: signer::Delivery,
}

/// What happened to one POST.
struct Sent {
    index: usize,
    at: Instant,
    outcome: Result<u16, String>,
}

fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    if args.shops == 0 || args.concurrency == 0 {
        bail!("--shops and --concurrency must be positive");
    }
    let count = match (args.orders, args.rate, args.duration) {
        (Some(n), _, None) => n,
        (None, Some(rate), Some(secs)) if rate > 0.0 && secs > 0.0 => (rate * secs).round() as u64,
        _ => bail!("give --orders N, or --rate R with --duration S"),
    };
    let count = usize::try_from(count)?;

    // Every order signed before the clock starts.
    let run_tag = uuid::Uuid::new_v4().simple().to_string();
    let orders: Arc<Vec<Order>> = Arc::new(
        (0..count)
            .map(|n| {
                let shop = n % args.shops;
                let number = args.first_number + n as u64;
                let body = fixtures::shopify_nz_order(9_000_000_000 + number, number, true);
                let webhook_id = format!("pbench-{run_tag}-{n}");
                Order {
                    number: format!("{}{number}", document_prefix(shop)),
                    delivery: signer::shopify(
                        &shop_name(shop),
                        &shop_secret(shop),
                        "orders/paid",
                        &webhook_id,
                        &body,
                    ),
                }
            })
            .collect(),
    );

    let stats = Arc::new(Mutex::new(JournalStats::default()));
    let stop_tail = Arc::new(AtomicBool::new(false));
    let tail = tail_journal(&args.journal, Arc::clone(&stats), Arc::clone(&stop_tail))?;

    // Memory sampler.
    let pid = args.processor_pid;
    let rss_start_kb = proc_status_kb(pid, "VmRSS:").context("the processor is not running")?;
    let peak_rss = Arc::new(std::sync::atomic::AtomicU64::new(rss_start_kb));
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, stop) = (Arc::clone(&peak_rss), Arc::clone(&stop_sampler));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(kb) = proc_status_kb(pid, "VmRSS:") {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };

    // CPU per name (several PIDs under one name are added up), over the whole run.
    let mut cpu_pids: Vec<(String, String)> = vec![
        ("processor".into(), pid.to_string()),
        ("loadgen".into(), std::process::id().to_string()),
    ];
    for spec in &args.cpu_of {
        let (name, pid) = spec
            .split_once('=')
            .with_context(|| format!("--cpu-of {spec}: expected NAME=PID"))?;
        cpu_pids.push((name.to_owned(), pid.to_owned()));
    }
    let cpu_before: Vec<Option<f64>> = cpu_pids.iter().map(|(_, p)| cpu_seconds(p)).collect();
    let comm_before: Vec<HashMap<String, f64>> = args
        .cpu_of_comm
        .iter()
        .map(|comm| cpu_seconds_of_comm(comm))
        .collect();
    let machine_before = machine_busy_seconds();

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let base: Arc<str> = Arc::from(args.ingress.trim_end_matches('/'));
    let permits = Arc::new(Semaphore::new(args.concurrency));
    let start = Instant::now();
    eprintln!(
        "[{}] sending {count} orders over {} shops{}",
        args.label,
        args.shops,
        args.rate.map_or_else(
            || " as fast as possible".to_owned(),
            |r| format!(" at {r}/s")
        )
    );

    // Progress on stderr while it runs, and a timeline (every 5 s: seconds, invoices booked and
    // Xero calls so far) for the result.
    let timeline: Arc<Mutex<Vec<[u64; 3]>>> = Arc::default();
    let progress = {
        let (stats, label, timeline) = (
            Arc::clone(&stats),
            args.label.clone(),
            Arc::clone(&timeline),
        );
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let s = stats.lock().expect("not poisoned");
                let secs = start.elapsed().as_secs_f64();
                eprintln!(
                    "[{label}] t={secs:>5.1}s booked {} calls {} (429: {}) rss {} MB",
                    s.booked.len(),
                    s.api_calls,
                    s.by_status.get("429").copied().unwrap_or(0),
                    proc_status_kb(pid, "VmRSS:").unwrap_or(0) / 1024,
                );
                timeline.lock().expect("not poisoned").push([
                    secs.round() as u64,
                    s.booked.len() as u64,
                    s.api_calls,
                ]);
            }
        })
    };

    let mut posts = JoinSet::new();
    for index in 0..count {
        if let Some(rate) = args.rate {
            let due = start + Duration::from_secs_f64(index as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (client, base, orders) = (client.clone(), Arc::clone(&base), Arc::clone(&orders));
        posts.spawn(async move {
            let delivery = &orders[index].delivery;
            let mut request = client
                .post(format!("{base}{}", delivery.path()))
                .body(delivery.body.clone());
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            let at = Instant::now();
            let outcome = match request.send().await {
                Ok(response) => Ok(response.status().as_u16()),
                Err(err) => Err(if err.is_timeout() {
                    "timeout".to_owned()
                } else {
                    "transport".to_owned()
                }),
            };
            drop(permit);
            Sent { index, at, outcome }
        });
    }
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut http_errors: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(joined) = posts.join_next().await {
        let sent = joined?;
        match sent.outcome {
            Ok(status) if (200..300).contains(&status) => sent_at[sent.index] = Some(sent.at),
            Ok(status) => *http_errors.entry(status.to_string()).or_default() += 1,
            Err(kind) => *http_errors.entry(kind).or_default() += 1,
        }
    }
    let send_secs = start.elapsed().as_secs_f64();
    let accepted = sent_at.iter().filter(|s| s.is_some()).count();
    eprintln!(
        "[{}] {accepted} of {count} accepted by the ingress in {send_secs:.1} s; waiting for the bookings",
        args.label
    );

    // Wait for every accepted order's invoice, then for the journal to go quiet.
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_timeout);
    loop {
        let booked = {
            let s = stats.lock().expect("not poisoned");
            orders
                .iter()
                .zip(&sent_at)
                .filter(|(o, s_at)| s_at.is_some() && s.booked.contains_key(&o.number))
                .count()
        };
        if booked >= accepted || Instant::now() > drain_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let quiet = Duration::from_millis(args.quiet_ms);
    let quiet_deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let last = stats.lock().expect("not poisoned").last_entry;
        if last.is_none_or(|t| t.elapsed() >= quiet) || Instant::now() > quiet_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    progress.abort();
    let end = Instant::now();
    stop_tail.store(true, Ordering::Relaxed);
    tail.join()
        .map_err(|_| anyhow::anyhow!("the journal reader panicked"))?;
    stop_sampler.store(true, Ordering::Relaxed);
    sampler.await?;
    let wall = (end - start).as_secs_f64();
    let mut cpu_used: BTreeMap<String, f64> = BTreeMap::new();
    for ((name, pid), before) in cpu_pids.iter().zip(cpu_before) {
        if let (Some(after), Some(before)) = (cpu_seconds(pid), before) {
            *cpu_used.entry(name.clone()).or_default() += after - before;
        }
    }
    for (comm, before) in args.cpu_of_comm.iter().zip(&comm_before) {
        let used: f64 = cpu_seconds_of_comm(comm)
            .iter()
            .map(|(pid, after)| after - before.get(pid).copied().unwrap_or(0.0))
            .sum();
        *cpu_used.entry(comm.clone()).or_default() += used;
    }
    if let (Some(after), Some(before)) = (machine_busy_seconds(), machine_before) {
        cpu_used.insert("machine".to_owned(), after - before);
    }
    let cpu_pct: BTreeMap<String, f64> = cpu_used
        .iter()
        .map(|(name, used)| (name.clone(), round1(used / wall * 100.0)))
        .collect();
    let processor_cpu_s = cpu_used.get("processor").copied().unwrap_or(0.0);

    let stats = Arc::try_unwrap(stats)
        .map_err(|_| anyhow::anyhow!("the journal stats are still shared"))?
        .into_inner()
        .expect("not poisoned");
    let mut latencies_ms = Vec::new();
    let mut last_booked: Option<Instant> = None;
    for (order, at) in orders.iter().zip(&sent_at) {
        let (Some(at), Some(booked)) = (at, stats.booked.get(&order.number)) else {
            continue;
        };
        latencies_ms.push(booked.saturating_duration_since(*at).as_secs_f64() * 1000.0);
        last_booked = Some(last_booked.map_or(*booked, |l: Instant| l.max(*booked)));
    }
    latencies_ms.sort_by(f64::total_cmp);
    let booked = latencies_ms.len();
    let first_sent = sent_at.iter().flatten().min().copied();
    let booking_secs = match (first_sent, last_booked) {
        (Some(first), Some(last)) => (last - first).as_secs_f64(),
        _ => 0.0,
    };
    let mean = |v: &[u64]| {
        if v.is_empty() {
            0.0
        } else {
            round1(v.iter().sum::<u64>() as f64 / v.len() as f64)
        }
    };
    let max_tenant_calls = stats.by_tenant.values().copied().max().unwrap_or(0);
    let result = json!({
        "label": args.label,
        "shops": args.shops,
        "target_rate": args.rate,
        "orders": count,
        "accepted": accepted,
        "http_errors": http_errors,
        "send_secs": round1(send_secs),
        "sent_per_s": round1(accepted as f64 / send_secs.max(1e-9)),
        "booked": booked,
        "booking_secs": round1(booking_secs),
        "orders_per_s": if booking_secs > 0.0 { round1(booked as f64 / booking_secs) } else { 0.0 },
        "latency_ms": {
            "p50": percentile(&latencies_ms, 50.0).map(round1),
            "p90": percentile(&latencies_ms, 90.0).map(round1),
            "p99": percentile(&latencies_ms, 99.0).map(round1),
            "max": latencies_ms.last().copied().map(round1),
        },
        "xero": {
            "api_calls": stats.api_calls,
            "calls_per_order": if booked > 0 { (stats.api_calls as f64 / booked as f64 * 1000.0).round() / 1000.0 } else { 0.0 },
            "token_calls": stats.token_calls,
            "other_calls": stats.other_calls,
            "by_status": stats.by_status,
            "by_operation": stats.by_operation,
            "tenants": stats.by_tenant.len(),
            "max_calls_one_tenant": max_tenant_calls,
            "invoice_calls_ok": stats.invoice_batches.len(),
            "mean_invoices_per_call": mean(&stats.invoice_batches),
            "max_invoices_per_call": stats.invoice_batches.iter().max(),
            "mean_payments_per_call": mean(&stats.payment_batches),
            "payments": stats.payment_batches.iter().sum::<u64>(),
            "invoice_errors": stats.invoice_errors,
            "replayed": stats.replayed,
            "unreadable_lines": stats.unreadable,
        },
        "processor": {
            "rss_start_mb": round1(rss_start_kb as f64 / 1024.0),
            "rss_peak_mb": round1(peak_rss.load(Ordering::Relaxed) as f64 / 1024.0),
            "rss_end_mb": proc_status_kb(pid, "VmRSS:").map(|kb| round1(kb as f64 / 1024.0)),
            "hwm_mb": proc_status_kb(pid, "VmHWM:").map(|kb| round1(kb as f64 / 1024.0)),
            "cpu_s": round1(processor_cpu_s),
            "cpu_ms_per_order": if booked > 0 { round1(processor_cpu_s * 1000.0 / booked as f64) } else { 0.0 },
        },
        "cpu_pct": cpu_pct,
        "wall_secs": round1(wall),
        "timeline": *timeline.lock().expect("not poisoned"),
    });
    println!("{result}");
    Ok(())
}
