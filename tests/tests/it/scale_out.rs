//! Scale-out (issue 4): several processors, each a process of its own (`run-processor`), share
//! one config, ledger schema and vhost. They split the 8 shard queues between themselves with
//! PostgreSQL session advisory locks (`processor/src/claims.rs`); a crashed processor's shards
//! are taken over, a processor that joins gets its share, and through all of it every event is
//! booked once and each tenant's events are handled in the order they were published.
//!
//! Which processor holds which shard is read from `pg_locks` (each processor connects with its
//! own `application_name`, so a lock's backend names its process) and, independently, from the
//! RabbitMQ management API (each shard queue's consumer and its connection).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation};
use rust_decimal::Decimal;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::process::{Child, Command};
use uuid::Uuid;
use xcs_shared::envelope::header;
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_tests::broker::{TestBroker, management_url};
use xcs_tests::fixtures;
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::{ShopToml, connect_demo_app, shop_toml};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

/// Generous: nothing here is timed, these only stop a broken run from hanging.
const SETTLE: Duration = Duration::from_secs(30);
const ALL_HANDLED: Duration = Duration::from_secs(120);

/// Shops, each on a simulator tenant of its own (tenants are the shard key).
const TENANTS: usize = 8;
/// Orders per tenant published before the crash, and the last order number of the second wave.
const FIRST_WAVE_ORDERS: u64 = 14;
const LAST_ORDER: u64 = 20;
/// Orders 1..=REFUNDED of every tenant get a refund in the second wave.
const REFUNDED: u64 = 3;

fn shop_name(i: usize) -> String {
    format!("scale-{i}")
}

fn prefix(i: usize) -> String {
    format!("S{i}-")
}

fn tenant(i: usize) -> Uuid {
    xcs_xero_sim::seed::extra_tenant_id(i + 1)
}

/// Order `k` of shop `i`: its platform id and its invoice number.
fn order_id(i: usize, k: u64) -> u64 {
    (i as u64 + 1) * 100_000 + k
}

fn invoice_number(i: usize, k: u64) -> String {
    format!("{}{}", prefix(i), 1000 + k)
}

/// One event as the ingress would publish it.
struct Event {
    shop: usize,
    id: String,
    kind: EventKind,
    topic: &'static str,
    body: Vec<u8>,
    /// The order it belongs to.
    order: u64,
}

/// Order `k` of shop `i`: created unpaid (odd orders), paid, and echoed by `orders/updated`
/// (every third order).
fn order_events(i: usize, k: u64) -> Vec<Event> {
    let shop = shop_name(i);
    let mut events = Vec::new();
    let event = |tag: &str, topic: &'static str, paid: bool| Event {
        shop: i,
        id: format!("shopify:{shop}:{tag}-{k}"),
        kind: EventKind::Order,
        topic,
        body: fixtures::shopify_nz_order(order_id(i, k), 1000 + k, paid),
        order: k,
    };
    if k % 2 == 1 {
        events.push(event("c", "orders/create", false));
    }
    events.push(event("p", "orders/paid", true));
    if k.is_multiple_of(3) {
        events.push(event("u", "orders/updated", true));
    }
    events
}

fn refund_event(i: usize, k: u64) -> Event {
    Event {
        shop: i,
        id: format!("shopify:{}:r-{k}", shop_name(i)),
        kind: EventKind::Refund,
        topic: "refunds/create",
        body: fixtures::shopify_nz_refund(700_000 + order_id(i, k), order_id(i, k)),
        order: k,
    }
}

/// The processors' config: an OAuth app connected to every tenant, a Shopify shop per tenant,
/// small batches so each tenant's events take several. `app` becomes the PostgreSQL
/// `application_name` of the process's connections, which is how a shard lock names its holder.
fn config(broker: &TestBroker, schema: &TestSchema, sim: &RunningSim, app: &str) -> String {
    let pg = postgres_url();
    let separator = if pg.contains('?') { '&' } else { '?' };
    let mut config = format!(
        r#"
log_format = "pretty"
[amqp]
uri = "{amqp}"
[postgres]
url = "{pg}{separator}application_name={app}"
schema = "{schema}"
pool_size = 4
[xero]
api_base = "{api}"
identity_base = "{identity}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "oauth"
timeout_ms = 10000
max_burst = 30
[processing]
batch_size = 10
linger_ms = 100
prefetch = 200
"#,
        amqp = broker.amqp_uri(),
        schema = schema.name,
        api = sim.base_url(),
        identity = sim.identity_url(),
        client_id = xcs_xero_sim::DEMO_APP_CLIENT_ID,
        client_secret = xcs_xero_sim::DEMO_APP_CLIENT_SECRET,
    );
    for i in 0..TENANTS {
        config.push_str(&shop_toml(&ShopToml {
            name: &shop_name(i),
            platform: Platform::Shopify,
            tenant: &tenant(i).to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix: &prefix(i),
            clearing: "615",
            api: None,
        }));
    }
    config
}

/// A vhost, a schema, the simulator, and processor processes with their config files.
struct Cluster {
    /// First, so they are killed (on drop) before their vhost and schema go.
    processors: BTreeMap<String, Child>,
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
    dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Cluster {
    /// Everything but the processors; the ledger is migrated and holds tokens for the app's
    /// connection to every tenant (what the authorization-code flow would have stored).
    async fn new() -> Self {
        let broker = TestBroker::with_topology().await;
        let schema = TestSchema::new();
        let sim = XeroSim::start(SimConfig::demo().with_extra_tenants(TENANTS))
            .expect("the simulator starts");
        let dir = std::env::temp_dir().join(format!("xcs-scale-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let cluster = Cluster {
            processors: BTreeMap::new(),
            broker,
            schema,
            sim,
            dir: TempDir(dir),
        };
        let tenants: Vec<Uuid> = (0..TENANTS).map(tenant).collect();
        connect_demo_app(
            &cluster.schema,
            &cluster.sim,
            &config(
                &cluster.broker,
                &cluster.schema,
                &cluster.sim,
                "xcs-scale-setup",
            ),
            &tenants,
        )
        .await;
        cluster
    }

    /// Starts processor `name` as a process of its own.
    fn spawn(&mut self, name: &str) {
        let path = self.dir.0.join(format!("{name}.toml"));
        std::fs::write(&path, config(&self.broker, &self.schema, &self.sim, name))
            .expect("config written");
        let log = if std::env::var_os("TEST_LOG").is_some() {
            "info"
        } else {
            "warn"
        };
        let child = Command::new(env!("CARGO_BIN_EXE_run-processor"))
            .arg(&path)
            .env("RUST_LOG", log)
            .kill_on_drop(true)
            .spawn()
            .expect("the processor process starts");
        self.processors.insert(name.to_owned(), child);
    }

    /// SIGKILL: nothing in flight is settled, every connection just ends.
    async fn kill(&mut self, name: &str) {
        let mut child = self.processors.remove(name).expect("a running processor");
        child.kill().await.expect("SIGKILL");
    }

    /// SIGTERM: the processor stops consuming, settles what it holds and exits.
    async fn terminate(&mut self, name: &str) {
        let mut child = self.processors.remove(name).expect("a running processor");
        let pid = child.id().expect("not yet reaped");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill(1) runs");
        assert!(status.success(), "SIGTERM sent");
        let exited = tokio::time::timeout(SETTLE, child.wait())
            .await
            .expect("the processor exits after SIGTERM")
            .expect("wait");
        assert!(exited.success(), "a clean exit: {exited}");
    }

    /// Which processor (`application_name`) holds each shard's lock, from `pg_locks`.
    async fn shard_holders(&self, db: &tokio_postgres::Client) -> BTreeMap<usize, String> {
        let class = i64::from(lock_class("shards", &self.schema.name));
        db.query(
            "SELECT l.objid::bigint, a.application_name FROM pg_locks l
             JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
               AND l.classid::bigint = $1",
            &[&class],
        )
        .await
        .expect("pg_locks")
        .iter()
        .map(|row| {
            let shard: i64 = row.get(0);
            (usize::try_from(shard).expect("a shard"), row.get(1))
        })
        .collect()
    }

    /// The shards, grouped by holder, once all 8 are held by exactly `holders` (by name), with
    /// no more than a fair share each, and RabbitMQ agrees: each shard queue has one consumer,
    /// and the shards group by consumer connection exactly as they group by lock holder.
    async fn wait_spread(
        &self,
        db: &tokio_postgres::Client,
        holders: &[&str],
    ) -> BTreeMap<String, BTreeSet<usize>> {
        let expected: BTreeSet<String> = holders.iter().map(|h| (*h).to_owned()).collect();
        let share = topology::SHARD_COUNT.div_ceil(holders.len());
        let mut last = String::new();
        let what = format!("the 8 shards spread over {holders:?}");
        let found = tokio::time::timeout(SETTLE, async {
            loop {
                let by_holder = group(self.shard_holders(db).await);
                let held: usize = by_holder.values().map(BTreeSet::len).sum();
                let names: BTreeSet<String> = by_holder.keys().cloned().collect();
                let fair = by_holder.values().all(|shards| shards.len() <= share);
                let consumers = self.shard_consumers().await;
                let by_connection: BTreeSet<BTreeSet<usize>> = consumers
                    .as_ref()
                    .map(|c| group(c.clone()).into_values().collect())
                    .unwrap_or_default();
                let by_lock: BTreeSet<BTreeSet<usize>> = by_holder.values().cloned().collect();
                if held == topology::SHARD_COUNT
                    && names == expected
                    && fair
                    && consumers.is_some()
                    && by_connection == by_lock
                {
                    return by_holder;
                }
                last = format!("locks {by_holder:?}, consumers {consumers:?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await;
        found.unwrap_or_else(|_| {
            panic!("timed out after {SETTLE:?} waiting for {what}; last seen {last}")
        })
    }

    /// Each shard queue's one consumer's connection, from the management API; `None` while
    /// some shard has no consumer or more than one.
    async fn shard_consumers(&self) -> Option<BTreeMap<usize, String>> {
        let http = reqwest::Client::new();
        let mut consumers = BTreeMap::new();
        for shard in 0..topology::SHARD_COUNT {
            let queue: Value = http
                .get(format!(
                    "{}/api/queues/{}/{}",
                    management_url(),
                    self.broker.vhost,
                    topology::shard_queue(shard)
                ))
                .basic_auth("guest", Some("guest"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let details = queue["consumer_details"].as_array()?;
            let [consumer] = details.as_slice() else {
                return None;
            };
            let tag = consumer["consumer_tag"].as_str()?;
            assert!(
                tag.starts_with("xcs-processor-") && tag.ends_with(&topology::shard_queue(shard)),
                "a processor's consumer tag: {tag}"
            );
            let connection = consumer["channel_details"]["connection_name"].as_str()?;
            consumers.insert(shard, connection.to_owned());
        }
        Some(consumers)
    }

    /// Publishes `events` in order on one confirming channel.
    async fn publish(&self, events: &[Event]) {
        let connection = self.broker.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm mode");
        let mut confirms = Vec::with_capacity(events.len());
        for event in events {
            let envelope = Envelope {
                event_id: event.id.clone(),
                platform: Platform::Shopify,
                shop: shop_name(event.shop),
                tenant: tenant(event.shop).to_string(),
                kind: event.kind,
                topic: event.topic.to_owned(),
                delivery_id: Uuid::now_v7().to_string(),
                received_at: "2026-11-27T01:00:00Z".to_owned(),
                source: xcs_shared::Source::Webhook,
            };
            let mut headers = FieldTable::default();
            for (name, value) in envelope.headers() {
                headers.insert(
                    ShortString::from(name),
                    AMQPValue::LongString(LongString::from(value)),
                );
            }
            let confirm = channel
                .basic_publish(
                    topology::EVENTS_EXCHANGE.into(),
                    topology::routing_key(event.kind, Platform::Shopify)
                        .as_str()
                        .into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &event.body,
                    BasicProperties::default()
                        .with_delivery_mode(2)
                        .with_message_id(event.id.as_str().into())
                        .with_headers(headers),
                )
                .await
                .expect("publish");
            confirms.push(confirm);
        }
        for confirm in confirms {
            assert_eq!(
                confirm.await.expect("confirm"),
                Confirmation::Ack(None),
                "every event was routed"
            );
        }
        let _ = connection.close(200, "published".into()).await;
    }

    /// Which shard each tenant's events land on: one probe per tenant, read back before any
    /// processor runs (the probes are taken off the queues).
    async fn shards_of_tenants(&self) -> BTreeMap<usize, usize> {
        let probes: Vec<Event> = (0..TENANTS)
            .map(|i| Event {
                shop: i,
                id: format!("probe-{i}"),
                kind: EventKind::Order,
                topic: "orders/paid",
                body: b"{}".to_vec(),
                order: 0,
            })
            .collect();
        self.publish(&probes).await;
        let landed = self.broker.take_shards_when(TENANTS, SETTLE).await;
        let mut shards = BTreeMap::new();
        for message in landed {
            let tenant_id = message.header(header::TENANT).expect("a tenant header");
            let i = (0..TENANTS)
                .find(|i| tenant(*i).to_string() == tenant_id)
                .expect("one of ours");
            let shard = message
                .queue
                .strip_prefix("xcs.shard.")
                .and_then(|n| n.parse().ok())
                .expect("a shard queue");
            shards.insert(i, shard);
        }
        assert_eq!(shards.len(), TENANTS, "every probe came back");
        shards
    }

    /// Every event id the ledger has handled.
    async fn handled(&self, db: &tokio_postgres::Client) -> BTreeSet<String> {
        db.query("SELECT event_id FROM xcs_events", &[])
            .await
            .expect("xcs_events")
            .iter()
            .map(|row| row.get(0))
            .collect()
    }

    fn live_payments(&self, i: usize, target: &str, id_field: &str, document: &Value) -> usize {
        self.sim
            .payments(tenant(i))
            .into_iter()
            .filter(|p| p[target][id_field] == document[id_field] && p["Status"] != "DELETED")
            .count()
    }
}

/// The lock class `processor/src/claims.rs` derives for `purpose` in `schema`.
fn lock_class(purpose: &str, schema: &str) -> i32 {
    let digest = Sha256::digest(format!("xcs-processor:{purpose}:{schema}"));
    i32::from_be_bytes(digest[..4].try_into().expect("4 bytes")) & i32::MAX
}

fn group<K: Ord + Copy, V: Ord>(by_key: BTreeMap<K, V>) -> BTreeMap<V, BTreeSet<K>> {
    let mut groups: BTreeMap<V, BTreeSet<K>> = BTreeMap::new();
    for (key, value) in by_key {
        groups.entry(value).or_default().insert(key);
    }
    groups
}

fn amount(value: &Value) -> Decimal {
    xcs_tests::processor::amount(value)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_share_the_shards_and_take_over_a_stopped_ones() {
    let mut cluster = Cluster::new().await;
    let db = cluster.schema.client().await;
    for name in ["p1", "p2", "p3"] {
        cluster.spawn(name);
    }
    let spread = cluster.wait_spread(&db, &["p1", "p2", "p3"]).await;
    eprintln!("three processors: {spread:?}");

    // A crash: PostgreSQL frees the dead session's locks and RabbitMQ drops its consumers.
    let started = std::time::Instant::now();
    cluster.kill("p1").await;
    xcs_tests::eventually(SETTLE, "p2 and p3 to hold every shard lock", || async {
        let holders = cluster.shard_holders(&db).await;
        (holders.len() == topology::SHARD_COUNT && holders.values().all(|h| h != "p1"))
            .then_some(())
    })
    .await;
    let locks_taken = started.elapsed();
    let spread = cluster.wait_spread(&db, &["p2", "p3"]).await;
    eprintln!(
        "p1 killed; p2 and p3 held every shard lock after {locks_taken:?}, and consumed every \
         shard as the management API shows after {:?}: {spread:?}",
        started.elapsed()
    );

    // A clean stop gives everything to the last one.
    cluster.terminate("p2").await;
    let spread = cluster.wait_spread(&db, &["p3"]).await;
    eprintln!("p2 stopped; {spread:?}");

    // And a newcomer gets its share back from it.
    cluster.spawn("p4");
    let spread = cluster.wait_spread(&db, &["p3", "p4"]).await;
    eprintln!("p4 joined; {spread:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_and_a_newcomer_mid_stream_lose_nothing_book_nothing_twice_and_keep_each_tenants_order()
 {
    let mut cluster = Cluster::new().await;
    let db = cluster.schema.client().await;
    let shard_of = cluster.shards_of_tenants().await;
    let distinct: BTreeSet<usize> = shard_of.values().copied().collect();
    assert!(
        distinct.len() >= 3,
        "the tenants should spread over several shards: {shard_of:?}"
    );
    eprintln!("tenant → shard: {shard_of:?}");

    // Slow writes keep batches in flight: an invoice call, then a longer payments call (the
    // latency comes after the write is applied, so a processor killed meanwhile has written
    // to Xero and not yet recorded or acknowledged anything of the batch).
    for (path, ms) in [
        ("/api.xro/2.0/Invoices", 300),
        ("/api.xro/2.0/Payments", 1_000),
    ] {
        cluster.sim.inject_fault(
            xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::Latency { ms })
                .method("PUT")
                .path_prefix(path)
                .times(u32::MAX),
        );
    }

    for name in ["p1", "p2", "p3"] {
        cluster.spawn(name);
    }
    cluster.wait_spread(&db, &["p1", "p2", "p3"]).await;

    // Each tenant's events in publish order.
    let mut published: BTreeMap<usize, Vec<Event>> = BTreeMap::new();
    let first_wave: Vec<Event> = (1..=FIRST_WAVE_ORDERS)
        .flat_map(|k| (0..TENANTS).flat_map(move |i| order_events(i, k)))
        .collect();
    cluster.publish(&first_wave).await;
    for event in first_wave {
        published.entry(event.shop).or_default().push(event);
    }

    // Kill the processor holding a tenant that has an invoice in Xero whose events are not
    // in the ledger yet: that tenant's batch is between the Xero write and the ack.
    let (victim_tenant, victim) = xcs_tests::eventually(
        SETTLE,
        "a batch between its Xero write and its ledger record",
        || {
            let (cluster, db, published, shard_of) = (&cluster, &db, &published, &shard_of);
            async move {
                let handled = cluster.handled(db).await;
                for (i, events) in published {
                    let recorded: BTreeSet<String> = events
                        .iter()
                        .filter(|e| handled.contains(&e.id))
                        .map(|e| invoice_number(*i, e.order))
                        .collect();
                    let in_flight = cluster
                        .sim
                        .invoices(tenant(*i))
                        .iter()
                        .filter_map(|inv| inv["InvoiceNumber"].as_str().map(str::to_owned))
                        .any(|number| !recorded.contains(&number));
                    if in_flight {
                        let holders = cluster.shard_holders(db).await;
                        if let Some(holder) = holders.get(&shard_of[i]) {
                            return Some((*i, holder.clone()));
                        }
                    }
                }
                None
            }
        },
    )
    .await;
    cluster.kill(&victim).await;
    let survivors: Vec<String> = ["p1", "p2", "p3"]
        .into_iter()
        .filter(|p| *p != victim)
        .map(str::to_owned)
        .collect();
    eprintln!(
        "killed {victim} in the middle of tenant {victim_tenant}'s batch (shard {})",
        shard_of[&victim_tenant]
    );
    let survivor_names: Vec<&str> = survivors.iter().map(String::as_str).collect();
    cluster.wait_spread(&db, &survivor_names).await;

    // Refunds of orders already booked (a refund read before its order is booked waits in a
    // retry tier by design, which would reorder it), then more orders; and a fourth processor
    // joins while they are in flight, so shards are handed over mid-stream too.
    let refunded: Vec<String> = (0..TENANTS)
        .flat_map(|i| (1..=REFUNDED).map(move |k| format!("shopify:{}:p-{k}", shop_name(i))))
        .collect();
    xcs_tests::eventually(ALL_HANDLED, "the orders to refund booked", || {
        let (cluster, db, refunded) = (&cluster, &db, &refunded);
        async move {
            let handled = cluster.handled(db).await;
            refunded.iter().all(|id| handled.contains(id)).then_some(())
        }
    })
    .await;
    let mut second_wave: Vec<Event> = (0..TENANTS)
        .flat_map(|i| (1..=REFUNDED).map(move |k| refund_event(i, k)))
        .collect();
    second_wave.extend(
        (FIRST_WAVE_ORDERS + 1..=LAST_ORDER)
            .flat_map(|k| (0..TENANTS).flat_map(move |i| order_events(i, k))),
    );
    cluster.publish(&second_wave).await;
    for event in second_wave {
        published.entry(event.shop).or_default().push(event);
    }
    cluster.spawn("p4");
    let all = [survivor_names.as_slice(), &["p4"]].concat();

    // Nothing lost: every event handled.
    let total: usize = published.values().map(Vec::len).sum();
    xcs_tests::eventually(ALL_HANDLED, &format!("all {total} events handled"), || {
        let (cluster, db, published) = (&cluster, &db, &published);
        async move {
            let handled = cluster.handled(db).await;
            published
                .values()
                .flatten()
                .all(|e| handled.contains(&e.id))
                .then_some(())
        }
    })
    .await;
    let spread = cluster.wait_spread(&db, &all).await;
    eprintln!("{total} events handled; shards now {spread:?}");
    let outcomes: BTreeMap<String, String> = db
        .query("SELECT event_id, outcome FROM xcs_events", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(outcomes.len(), total, "nothing else was recorded");
    assert!(
        outcomes.values().all(|o| o == "booked"),
        "every event booked: {outcomes:?}"
    );
    for queue in [topology::DEAD_QUEUE]
        .into_iter()
        .chain(topology::RETRY_TIERS.iter().map(|(name, _)| *name))
    {
        assert_eq!(cluster.broker.depth(queue).await, 0, "{queue} is empty");
    }

    // Nothing booked twice: per tenant one invoice per order, paid once in full; one credit
    // note per refund, its money returned once.
    let total_price = Decimal::new(6325, 2);
    for i in 0..TENANTS {
        let invoices = cluster.sim.invoices(tenant(i));
        let numbers: Vec<String> = invoices
            .iter()
            .map(|inv| inv["InvoiceNumber"].as_str().unwrap_or_default().to_owned())
            .collect();
        let expected: Vec<String> = (1..=LAST_ORDER).map(|k| invoice_number(i, k)).collect();
        let mut sorted = numbers.clone();
        sorted.sort();
        let mut expected_sorted = expected.clone();
        expected_sorted.sort();
        assert_eq!(sorted, expected_sorted, "tenant {i}: one invoice per order");
        for invoice in &invoices {
            assert_eq!(amount(&invoice["Total"]), total_price, "{invoice}");
            assert_eq!(
                cluster.live_payments(i, "Invoice", "InvoiceID", invoice),
                1,
                "tenant {i}: {} paid once",
                invoice["InvoiceNumber"]
            );
            assert_eq!(invoice["Status"], "PAID", "{invoice}");
        }
        let notes = cluster.sim.credit_notes(tenant(i));
        let mut note_numbers: Vec<&str> = notes
            .iter()
            .map(|n| n["CreditNoteNumber"].as_str().unwrap_or_default())
            .collect();
        note_numbers.sort_unstable();
        note_numbers.dedup();
        assert_eq!(
            (notes.len(), note_numbers.len()),
            (REFUNDED as usize, REFUNDED as usize),
            "tenant {i}: one credit note per refund: {note_numbers:?}"
        );
        for note in &notes {
            assert_eq!(
                cluster.live_payments(i, "CreditNote", "CreditNoteID", note),
                1,
                "tenant {i}: {} refunded once",
                note["CreditNoteNumber"]
            );
        }
    }

    // Each tenant's order kept. processed_at is now() of the event's INSERT, so the ledger
    // shows when each event was handled. Per tenant, it must not go down in publish order:
    // - a tenant's events are on one shard queue (FIFO) which one processor consumes at a
    //   time (its shard lock, with single active consumer behind it), reading them in order,
    //   handing them to the tenant's one batcher, and recording them one by one in order;
    // - when a processor dies, its unacknowledged deliveries go back to the head of the queue
    //   (RabbitMQ's quorum queues serve returned messages before the rest), so the next holder
    //   reads them first; those the dead one had recorded are acknowledged without a second
    //   record (ON CONFLICT DO NOTHING) and keep their earlier time, and they are a prefix of
    //   what it read, since it recorded in order; the dead one's last INSERT started before it
    //   died, so before the next holder could claim the shard;
    // - a processor giving a shard away settles what it read from it first, then closes the
    //   channel (the unread prefetch returns to the head), then frees the lock;
    // - what would break it by design is an event failing into a retry tier (a refund read
    //   before its order is booked), which is why refunds are published after their orders
    //   are in the ledger, and why every event must be "booked" above.
    // Equal times are allowed (two records in the same microsecond are not out of order).
    for (i, events) in &published {
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let times: BTreeMap<String, std::time::SystemTime> = db
            .query(
                "SELECT event_id, processed_at FROM xcs_events WHERE event_id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        for pair in ids.windows(2) {
            let (before, after) = (times[pair[0]], times[pair[1]]);
            assert!(
                before <= after,
                "tenant {i}: {} was published before {} but handled after it ({before:?} > {after:?})",
                pair[0],
                pair[1]
            );
        }
    }
}
