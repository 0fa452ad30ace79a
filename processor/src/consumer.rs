//! The consuming side: each processor consumes its share of the shard queues (see
//! [`crate::claims`]); each delivery is read, deduplicated and normalised in arrival order,
//! and handed to its tenant's batcher. A batcher books up to `batch_size` events per Xero call,
//! then acknowledges each delivery only after its outcome is in the ledger, or after the
//! failed event was handed on to a retry tier or the dead queue with a confirm.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument as _;
use xcs_shared::amqp_connect::{AmqpTarget, ConnectFailure, ConnectLog};
use xcs_shared::{Envelope, topology};

use crate::booking::{Booker, Described, Invoiced, Job, Work};
use crate::claims::{ShardClaims, fair_share};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::error::{PLAN_LIMIT_REASON, PauseCause, ProcessError, catch_panic};
use crate::handoff::{HandedOff, Handoff};
use crate::ledger::{EventOutcome, Ledger};
use crate::observe::Observer;
use crate::xero::client::HOLD_IN_PLACE;

/// A delivery waiting in a batcher, with the job it became.
struct Pending {
    delivery: Tracked,
    job: Job,
}

/// Reads string headers out of an AMQP header table.
pub fn envelope_of(headers: Option<&FieldTable>) -> Result<Envelope, ProcessError> {
    let table = headers.map(FieldTable::inner);
    Envelope::from_headers(|name| match table?.get(name)? {
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str()),
        _ => None,
    })
    .map_err(|err| ProcessError::Envelope(err.to_string()))
}

/// Failed attempts recorded on a delivery by earlier hand-offs.
/// Whether a delivery came back from a retry tier: a failure counted its attempt there, or a
/// hold (a paused tenant, a stock event waiting for its item to be quiet) put it there with its
/// attempts unchanged and its reason set. A replay from the dead queue drops both.
fn from_retry_tier(headers: Option<&FieldTable>) -> bool {
    attempts(headers) > 0
        || headers.is_some_and(|h| h.inner().contains_key(crate::handoff::header::REASON))
}

fn attempts(headers: Option<&FieldTable>) -> u32 {
    match headers.and_then(|h| h.inner().get(crate::handoff::header::ATTEMPTS)) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

/// The attempt a delivery's Xero writes name in their idempotency keys: a new one for every
/// retry and for every replay from the dead queue. A replay resets the failed attempts, and
/// Xero answers a key it saw in the last six minutes from its cache, errors included: with its
/// failed attempt's keys, a replay after the cause was fixed in Xero would get the old refusal.
/// Exactly once does not rest on the keys: the ledger and the document numbers (adopted on
/// "must be unique") keep a second attempt from writing a second document.
fn write_attempt(headers: Option<&FieldTable>) -> u32 {
    let replays = crate::publisher::header_count(headers, crate::publisher::REPLAYS).unwrap_or(0);
    replays
        .saturating_mul(REPLAY_ATTEMPT_STRIDE)
        .saturating_add(attempts(headers) % REPLAY_ATTEMPT_STRIDE)
}

/// Attempts numbered per replay: far more than the retry tiers ever make.
const REPLAY_ATTEMPT_STRIDE: u32 = 1 << 16;

/// How long a consumer session must have run for its end to be a new failure.
const HEALTHY_SESSION: Duration = Duration::from_secs(60);

/// What an ended session's error means and what to do about it: a refusal on the queues names
/// the user's permissions to fix; anything else says what ended it.
fn session_ended(cause: &str, uri: &str) -> (&'static str, String) {
    let target = AmqpTarget::parse(uri);
    if cause.contains("ACCESS_REFUSED") {
        let (user, vhost) = target.as_ref().map_or(("the user", "the vhost"), |t| {
            (t.user.as_str(), t.vhost.as_str())
        });
        return (
            "queue_access_refused",
            format!(
                "RabbitMQ refused user {user:?} the queues it consumes on vhost {vhost:?} \
                 ({cause}): grant it configure, write and read there (`rabbitmqctl \
                 set_permissions -p {vhost} {user} '.*' '.*' '.*'`), or use another user in \
                 [amqp].uri or XCS_AMQP_URI"
            ),
        );
    }
    (
        "session_ended",
        format!(
            "the consumer session with RabbitMQ{} ended ({cause})",
            target.map_or_else(String::new, |t| format!(" at {}", t.address()))
        ),
    )
}

/// Consumes until `shutdown` flips, reconnecting when the broker goes away.
pub async fn run(
    config: Arc<Config>,
    booker: Booker,
    dispatcher: Arc<Dispatcher>,
    observer: Arc<Observer>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    let uri = config.amqp.uri.expose_secret();
    // Says what failed and which setting to fix, once and then once a minute, rather than the
    // broker's words at every attempt.
    let mut log = ConnectLog::new("RabbitMQ");
    // A session that ends as soon as it starts, again and again (a user without rights on the
    // queues, the shard claims' database gone), is one failure repeating: said once, then
    // once a minute, like a refused connection.
    let mut sessions = ConnectLog::new("RabbitMQ");
    while !*shutdown.borrow() {
        let connected = tokio::select! {
            connected = Connection::connect(uri, ConnectionProperties::default()) => connected,
            _ = shutdown.changed() => return,
        };
        let connection = match connected {
            Ok(connection) => {
                log.connected(AmqpTarget::parse(uri).map(|t| t.address()).as_deref());
                connection
            }
            Err(err) => {
                log.failed(&ConnectFailure::of(&err, uri));
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = shutdown.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let started = std::time::Instant::now();
        let ended = session(
            connection,
            &config,
            &booker,
            &dispatcher,
            &observer,
            &mut shutdown,
        )
        .await;
        observer.health.set_consuming(false);
        observer.metrics.shards_held.set(0);
        match ended {
            Ok(()) => return,
            Err(err) => {
                if started.elapsed() >= HEALTHY_SESSION {
                    // It ran: its end is news, not the same failure again.
                    sessions.connected(None);
                }
                let cause = format!("{err:#}");
                let (kind, message) = session_ended(&cause, uri);
                sessions.record(kind, &cause, &message);
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// What every shard consumer of a session shares.
#[derive(Clone)]
struct Shared {
    config: Arc<Config>,
    booker: Booker,
    dispatcher: Arc<Dispatcher>,
    handoff: Arc<Handoff>,
    observer: Arc<Observer>,
    batchers: Arc<tokio::sync::Mutex<HashMap<String, mpsc::Sender<Pending>>>>,
    batcher_tasks: Arc<std::sync::Mutex<JoinSet<()>>>,
}

/// A shard this processor holds and consumes, on a channel of its own.
struct ActiveShard {
    channel: Channel,
    task: JoinHandle<anyhow::Result<()>>,
    /// Deliveries read from the shard and not yet settled; watched, so that whoever waits for
    /// them to settle is woken when they do.
    in_flight: Arc<watch::Sender<usize>>,
}

/// A delivery not yet settled, counted on its shard until it is dropped, with the span every
/// log line about its event is recorded in.
struct Tracked {
    delivery: Delivery,
    span: tracing::Span,
    /// `None` when the headers were unreadable.
    envelope: Option<Envelope>,
    /// Back from a retry tier: counted in `xcs_processor_retrying` until it is handled.
    from_retry_tier: bool,
    /// What it books, once it is a job: for its last log line.
    document: Option<Described>,
    /// The platform's id of the order whose invoice it books, once it is a job: parked for the
    /// plan limit, the order is recorded as parked.
    order_id: Option<String>,
    _in_flight: InFlight,
}

impl Tracked {
    /// Counts the delivery's last outcome here (a retry is no last outcome: the event comes
    /// back), and takes it out of the retrying count if it was in it.
    fn count(&self, observer: &Observer, outcome: &'static str) {
        let metrics = &observer.metrics;
        metrics.event(self.envelope.as_ref(), outcome);
        let retrying = outcome == "retry";
        if self.from_retry_tier != retrying {
            let gauge = metrics.retrying(self.envelope.as_ref());
            if retrying {
                gauge.inc();
            } else {
                gauge.dec();
            }
        }
    }

    /// The delivery's handling ended with `outcome`: its one line in the log, and its count.
    fn handled(&self, observer: &Observer, outcome: &'static str) {
        self.count(observer, outcome);
        let (shop, kind) = self
            .envelope
            .as_ref()
            .map_or(("", ""), |e| (e.shop.as_str(), e.kind.as_str()));
        let document = self.document.as_ref();
        tracing::info!(
            parent: &self.span,
            shop,
            kind,
            outcome,
            document = document.map(|d| d.number.as_str()),
            amount = document.map(|d| tracing::field::display(d.amount)),
            currency = document.map(|d| d.currency.as_str()),
            "event handled"
        );
    }
}

struct InFlight(Arc<watch::Sender<usize>>);

impl InFlight {
    fn new(counter: &Arc<watch::Sender<usize>>) -> Self {
        counter.send_modify(|n| *n += 1);
        InFlight(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// The span of one event: its id, platform, shop, tenant and kind, so that one filter finds
/// every log line about it, from the shard consumer through its batch to its settling.
fn event_span(envelope: Option<&Envelope>) -> tracing::Span {
    match envelope {
        Some(envelope) => tracing::info_span!(
            "event",
            event_id = %envelope.event_id,
            platform = %envelope.platform,
            shop = %envelope.shop,
            tenant = %envelope.tenant,
            kind = %envelope.kind,
        ),
        None => tracing::info_span!("event", event_id = "(no envelope)"),
    }
}

/// One connection's worth of consuming, on `connection` just made. Returns `Ok` on shutdown,
/// `Err` when the connection failed (unacknowledged deliveries go back to their queues and are
/// redelivered).
async fn session(
    connection: Connection,
    config: &Arc<Config>,
    booker: &Booker,
    dispatcher: &Arc<Dispatcher>,
    observer: &Arc<Observer>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let shared = Shared {
        config: Arc::clone(config),
        booker: booker.clone(),
        dispatcher: Arc::clone(dispatcher),
        handoff: Arc::new(Handoff::open(&connection).await?),
        observer: Arc::clone(observer),
        batchers: Arc::default(),
        batcher_tasks: Arc::default(),
    };
    let claims = ShardClaims::join(&config.postgres).await?;
    tracing::info!("connected to RabbitMQ; claiming shards");
    observer.health.set_consuming(true);

    let mut active: BTreeMap<usize, ActiveShard> = BTreeMap::new();
    let mut rebalance_tick = tokio::time::interval(REBALANCE_EVERY);
    let result = loop {
        tokio::select! {
            _ = shutdown.changed() => break Ok(()),
            _ = rebalance_tick.tick() => {}
        }
        if let Some(shard) = active
            .iter()
            .find_map(|(shard, active)| active.task.is_finished().then_some(*shard))
        {
            let ended = active.remove(&shard).expect("found above").task.await;
            break Err(match ended {
                Ok(Err(err)) => err.context(format!("the consumer of shard {shard} stopped")),
                _ => anyhow::anyhow!("the consumer of shard {shard} stopped"),
            });
        }
        let rebalanced = rebalance(&connection, &shared, &claims, &mut active).await;
        observer
            .metrics
            .shards_held
            .set(i64::try_from(active.len()).unwrap_or(i64::MAX));
        if let Err(err) = rebalanced {
            break Err(err);
        }
    };
    // Stop taking deliveries; the batchers book and settle what they hold, then end.
    for shard in active.values() {
        shard.task.abort();
    }
    shared.batchers.lock().await.clear();
    let mut batchers = std::mem::take(&mut *shared.batcher_tasks.lock().expect("not poisoned"));
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while batchers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "batches still in Xero after {DRAIN_TIMEOUT:?}; their events will be redelivered"
        );
        // Stopped before the shards are freed, so no batch of ours books an event another
        // processor is booking too.
        batchers.shutdown().await;
    }
    let _ = connection.close(200, "processor stopping".into()).await;
    // Dropping the claims ends their session, which frees every shard for the others.
    drop(claims);
    result
}

/// Brings the shards this processor holds to its fair share: claims free shards while it holds
/// too few, and gives one back per round while it holds too many (a processor joined), after
/// settling what it read from that shard, so the next holder starts where this one stopped and
/// each tenant's events stay in order.
async fn rebalance(
    connection: &Connection,
    shared: &Shared,
    claims: &ShardClaims,
    active: &mut BTreeMap<usize, ActiveShard>,
) -> anyhow::Result<()> {
    let members = claims.members().await?;
    let share = fair_share(topology::SHARD_COUNT, members);
    if active.len() > share {
        let (shard, held) = active.pop_last().expect("more than a share is not empty");
        tracing::info!(shard, members, share, "giving a shard to another processor");
        give_back(shard, held).await;
        claims.release(shard).await?;
        return Ok(());
    }
    let first = usize::try_from(claims.member_id().unsigned_abs()).unwrap_or(0);
    for offset in 0..topology::SHARD_COUNT {
        if active.len() >= share {
            break;
        }
        let shard = (first + offset) % topology::SHARD_COUNT;
        if active.contains_key(&shard) || !claims.try_claim(shard).await? {
            continue;
        }
        match consume_shard(connection, shared, shard).await {
            Ok(consuming) => {
                tracing::info!(shard, members, share, "consuming a shard");
                active.insert(shard, consuming);
            }
            Err(err) => {
                claims.release(shard).await?;
                return Err(err.into());
            }
        }
    }
    Ok(())
}

/// Waits until every delivery read from the shard before the current one is settled; `false`
/// when there were none (so nothing can have changed) or they took too long.
async fn settled_before(in_flight: &watch::Sender<usize>) -> bool {
    if *in_flight.borrow() <= 1 {
        return false;
    }
    let mut settled = in_flight.subscribe();
    tokio::time::timeout(DRAIN_TIMEOUT, settled.wait_for(|n| *n <= 1))
        .await
        .is_ok_and(|waited| waited.is_ok())
}

/// Stops reading `shard`, waits until what was read from it is settled, and closes its channel
/// (which returns what was prefetched but not read to the queue, in order).
async fn give_back(shard: usize, held: ActiveShard) {
    held.task.abort();
    let _ = held.task.await;
    // The shard is freed only once all it read is settled: a delivery still being booked here
    // would otherwise be redelivered to the next holder and booked by both. Xero calls time
    // out and rate-limit waits end, so this ends too.
    let mut settled = held.in_flight.subscribe();
    let mut waited = Duration::ZERO;
    while tokio::time::timeout(DRAIN_TIMEOUT, settled.wait_for(|n| *n == 0))
        .await
        .is_err()
    {
        waited += DRAIN_TIMEOUT;
        tracing::warn!(
            shard,
            ?waited,
            "still settling a shard before giving it back"
        );
    }
    let _ = held.channel.close(200, "shard given back".into()).await;
}

/// Starts consuming `shard`: each delivery is read, deduplicated and normalised in arrival
/// order, and handed to its tenant's batcher.
async fn consume_shard(
    connection: &Connection,
    shared: &Shared,
    shard: usize,
) -> Result<ActiveShard, lapin::Error> {
    let queue = topology::shard_queue(shard);
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(
            shared.config.processing.prefetch,
            BasicQosOptions::default(),
        )
        .await?;
    let tag = format!("xcs-processor-{}-{queue}", uuid::Uuid::now_v7().simple());
    let mut consumer = channel
        .basic_consume(
            queue.as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let in_flight = Arc::new(watch::Sender::new(0));
    let counter = Arc::clone(&in_flight);
    let shared = shared.clone();
    let task = tokio::spawn(async move {
        let Shared {
            config,
            booker,
            dispatcher,
            handoff,
            observer,
            batchers,
            batcher_tasks,
        } = shared;
        let mut tenants_seen = std::collections::HashSet::new();
        while let Some(delivery) = consumer.next().await {
            let delivery = delivery?;
            // Read once: the span, and each look at the delivery, use the same envelope.
            let envelope = envelope_of(delivery.properties.headers().as_ref());
            if let Ok(envelope) = &envelope
                && tenants_seen.insert(envelope.tenant.clone())
            {
                note_tenant_shard(&booker.ledger, &envelope.tenant, &queue);
            }
            let mut delivery = Tracked {
                span: event_span(envelope.as_ref().ok()),
                envelope: envelope.as_ref().ok().cloned(),
                from_retry_tier: from_retry_tier(delivery.properties.headers().as_ref()),
                document: None,
                order_id: None,
                delivery,
                _in_flight: InFlight::new(&counter),
            };
            let prepare_guarded = || {
                catch_panic(prepare(
                    &config,
                    &booker,
                    &dispatcher,
                    &delivery.delivery,
                    &envelope,
                ))
                .instrument(delivery.span.clone())
            };
            let mut prepared = prepare_guarded().await.and_then(std::convert::identity);
            if matches!(prepared, Err(ProcessError::OrderNotBooked { .. }))
                && settled_before(&counter).await
            {
                // The order was in a batch still being booked: with it settled, look again
                // rather than sending the refund to a retry tier behind later events.
                prepared = prepare_guarded().await.and_then(std::convert::identity);
            }
            let pending = match prepared {
                Ok(Prepared::Job(job)) => {
                    delivery.document = config
                        .shop(&job.envelope.shop)
                        .and_then(|shop| job.document(shop));
                    delivery.order_id = job.work.order().map(|order| order.order_id.clone());
                    Pending {
                        delivery,
                        job: *job,
                    }
                }
                Ok(Prepared::Done(outcome)) => {
                    delivery.delivery.ack(BasicAckOptions::default()).await?;
                    delivery.handled(&observer, outcome);
                    continue;
                }
                Err(err) => {
                    settle_failure(&handoff, &observer, &booker.ledger, &delivery, &err).await?;
                    continue;
                }
            };
            let tenant = pending.job.envelope.tenant.clone();
            let mut batchers = batchers.lock().await;
            let sender: &mut mpsc::Sender<Pending> =
                batchers.entry(tenant.clone()).or_insert_with(|| {
                    let (tx, rx) = mpsc::channel(1024);
                    batcher_tasks.lock().expect("not poisoned").spawn(batcher(
                        tenant,
                        rx,
                        Arc::clone(&config),
                        booker.clone(),
                        Arc::clone(&handoff),
                        Arc::clone(&observer),
                    ));
                    tx
                });
            if sender.send(pending).await.is_err() {
                anyhow::bail!("a tenant batcher stopped");
            }
        }
        Ok::<(), anyhow::Error>(())
    });
    Ok(ActiveShard {
        channel,
        task,
        in_flight,
    })
}

/// Records, once per shard consumer and tenant, which shard the tenant's events arrive on, so
/// the console can show each shop's backlog (the consistent-hash exchange decides the shard;
/// nothing else knows it). Off the delivery's path: a ledger that does not answer costs the
/// console that figure, never an event.
fn note_tenant_shard(ledger: &Ledger, tenant: &str, queue: &str) {
    let (ledger, tenant, queue) = (ledger.clone(), tenant.to_owned(), queue.to_owned());
    tokio::spawn(async move {
        if let Err(err) = ledger.note_tenant_shard(&tenant, &queue).await {
            tracing::debug!(error = %err, tenant, queue, "cannot record the tenant's shard");
        }
    });
}

/// What reading a delivery came to.
enum Prepared {
    /// Work for its tenant's batcher.
    Job(Box<Job>),
    /// Nothing more than an ack, with the outcome: `duplicate` (handled before), `skipped` (a
    /// kind the shop does not sync, recorded) or `summarised`.
    Done(&'static str),
}

/// Reads a delivery into a job, or into what it came to without one.
async fn prepare(
    config: &Config,
    booker: &Booker,
    dispatcher: &Dispatcher,
    delivery: &Delivery,
    envelope: &Result<Envelope, ProcessError>,
) -> Result<Prepared, ProcessError> {
    let envelope = envelope.clone()?;
    #[cfg(feature = "test-faults")]
    crate::faults::preparing(&envelope.event_id);
    if let Some(outcome) = booker.ledger.event_outcome(&envelope.event_id).await?
        && !resync_looks_again(delivery, &envelope, &outcome)
    {
        tracing::debug!(event_id = %envelope.event_id, outcome, "already handled; acknowledging");
        return Ok(Prepared::Done("duplicate"));
    }
    let shop = config
        .shop(&envelope.shop)
        .ok_or_else(|| ProcessError::UnknownShop(envelope.shop.clone()))?;
    // Payouts are booked when the shop asks for them (`payouts = true`), whatever it syncs.
    if envelope.kind != xcs_shared::EventKind::Payout && !shop.sync.contains(&envelope.kind) {
        booker
            .ledger
            .record_event(
                &envelope,
                EventOutcome::Skipped,
                &format!("the shop does not sync {} events", envelope.kind),
            )
            .await?;
        return Ok(Prepared::Done("skipped"));
    }
    let work = dispatcher
        .work_for(&envelope, shop, &delivery.data, &booker.ledger)
        .await?;
    // A replayed event of an order parked for the plan limit: the order is parked no more, so
    // the events waiting for it (replayed after it) wait for its booking as usual.
    if let Some(order) = work.order()
        && crate::publisher::header_count(
            delivery.properties.headers().as_ref(),
            crate::publisher::REPLAYS,
        )
        .is_some()
    {
        booker
            .ledger
            .unpark_order(&envelope.shop, &order.order_id)
            .await?;
    }
    // Summary mode (crate::summary): an order or refund is added to its period's summary and
    // recorded as summarised; only the ack is left.
    if crate::summary::summarise(shop, &envelope, &work, booker).await? {
        return Ok(Prepared::Done("summarised"));
    }
    Ok(Prepared::Job(Box::new(Job {
        envelope,
        work,
        attempt: write_attempt(delivery.properties.headers().as_ref()),
        redelivered: delivery.redelivered,
    })))
}

/// Whether a re-sync (`xcs-processor resync`) should handle an event the ledger has seen: only
/// an order or refund it skipped (a kind the shop did not sync then). Booked events stay
/// booked once; a stock change is not applied again, as an old level would overwrite a newer.
fn resync_looks_again(delivery: &Delivery, envelope: &Envelope, outcome: &str) -> bool {
    outcome == "skipped"
        && envelope.kind != xcs_shared::EventKind::Inventory
        && crate::publisher::is_resync(delivery.properties.headers().as_ref())
}

/// Sends a failed delivery on (retry tier or dead queue) and acknowledges it; if the broker
/// will not take the copy, rejects it back to its queue, where the delivery limit bounds how
/// often that can happen. An event waiting for an order parked for the plan limit is parked
/// with it; an order's event parked for it is recorded as parked in the ledger.
async fn settle_failure(
    handoff: &Handoff,
    observer: &Observer,
    ledger: &Ledger,
    tracked: &Tracked,
    error: &ProcessError,
) -> Result<(), lapin::Error> {
    let (delivery, span) = (&tracked.delivery, &tracked.span);
    let parked = parked_with_order(ledger, tracked, error).await;
    let error = parked.as_ref().unwrap_or(error);
    match handoff
        .hand_off(&delivery.data, &delivery.properties, error)
        .await
    {
        Ok(HandedOff::Retry { tier, attempt }) => {
            tracked.count(observer, "retry");
            tracing::warn!(parent: span, outcome = "retry", error = %error, tier, attempt, "event failed; retrying later");
            delivery.ack(BasicAckOptions::default()).await.map(drop)
        }
        Ok(HandedOff::Paused { tier, attempts }) => {
            // In a tier like a retry (the retrying gauge counts it), but no failure of its own.
            tracked.count(observer, "retry");
            tracing::info!(parent: span, outcome = "paused", reason = error.reason(), error = %error, tier, attempts, "the event waits in a retry tier, its retries unused");
            delivery.ack(BasicAckOptions::default()).await.map(drop)
        }
        Ok(HandedOff::Dead {
            attempts,
            properties,
        }) => {
            if error.reason() == PLAN_LIMIT_REASON
                && let (Some(envelope), Some(order_id)) = (&tracked.envelope, &tracked.order_id)
                && let Err(err) = ledger
                    .park_order(envelope, order_id, PLAN_LIMIT_REASON)
                    .await
            {
                tracing::warn!(parent: span, error = %err, "cannot record the order as parked; events waiting for it retry as usual");
            }
            tracked.count(observer, "dead");
            observer
                .metrics
                .dead(tracked.envelope.as_ref(), error.reason());
            tracing::error!(parent: span, outcome = "dead", error = %error, reason = error.reason(), attempts, "event dead-lettered");
            index_dead_letter(ledger, span, &properties, &delivery.data).await;
            delivery.ack(BasicAckOptions::default()).await.map(drop)
        }
        Err(handoff_error) => {
            observer
                .metrics
                .event(tracked.envelope.as_ref(), "requeued");
            tracing::error!(parent: span, outcome = "requeued", error = %error, %handoff_error, "cannot hand the event on; rejecting it to its queue");
            delivery
                .reject(BasicRejectOptions { requeue: true })
                .await
                .map(drop)
        }
    }
}

/// How long recording a dead letter in the index may hold up its ack.
const INDEX_TIMEOUT: Duration = Duration::from_secs(5);

/// Records a dead letter in the ledger's dead-letter index, read from the very properties its
/// dead copy was published with, as `dead reindex` would read it from the queue. The broker
/// has confirmed the copy, so the event is dead whatever happens here: a ledger that fails or
/// is slow only costs the index its row (a warning; `dead reindex` puts it right), never the
/// event or its ack.
async fn index_dead_letter(
    ledger: &Ledger,
    span: &tracing::Span,
    properties: &lapin::BasicProperties,
    body: &[u8],
) {
    let row = crate::operate::dead::DeadLetter::read(properties, body).index_row();
    match tokio::time::timeout(INDEX_TIMEOUT, ledger.record_dead_letter(&row)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => {
            tracing::warn!(parent: span, error = %err, "cannot record the dead letter in the dead-letter index; it is in the dead queue all the same (`dead reindex` adds it)");
        }
        Err(_) => {
            tracing::warn!(parent: span, timeout_s = INDEX_TIMEOUT.as_secs(), "the ledger took too long to record the dead letter in the dead-letter index; it is in the dead queue all the same (`dead reindex` adds it)");
        }
    }
}

/// The failure of an event waiting for an order (a refund, a capture) whose own event is
/// parked for the plan limit: parked with it at once, no retries spent, since waiting cannot
/// help, and one `dead replay --reason xero_plan_limit` replays both, the order first (the dead
/// queue keeps the order they were parked in). `None` when it waits for no order or for one
/// that is not parked; a ledger that cannot tell leaves the event waiting as usual.
async fn parked_with_order(
    ledger: &Ledger,
    tracked: &Tracked,
    error: &ProcessError,
) -> Option<ProcessError> {
    let order_id = error.waits_for_order()?;
    let shop = &tracked.envelope.as_ref()?.shop;
    match ledger.parked_order(shop, order_id).await {
        Ok(Some((event, reason))) if reason == PLAN_LIMIT_REASON => {
            Some(error.clone().parked_with(&event))
        }
        Ok(_) => None,
        Err(err) => {
            tracing::warn!(parent: &tracked.span, error = %err, "cannot tell whether the order waited for is parked; the event waits as usual");
            None
        }
    }
}

/// One tenant's batcher, in two stages so that one payments call can serve several invoice
/// calls when the tenant's Xero budget is tight. The invoice stage waits for a first job and
/// gathers more until the linger time has passed and the tenant may call Xero (or the batch is
/// full), so jobs that arrive while the tenant is paced join the batch instead of waiting for
/// the next one; then it books the batch's invoices. The settle stage takes invoiced batches
/// in order and settles them (payments, refunds, ledger, acknowledgements): at once while the
/// tenant has calls to spare, otherwise after gathering invoiced batches for up to
/// `payment_linger`, so invoices, which is what a seller waits to see, get the calls first.
async fn batcher(
    tenant: String,
    mut rx: mpsc::Receiver<Pending>,
    config: Arc<Config>,
    booker: Booker,
    handoff: Arc<Handoff>,
    observer: Arc<Observer>,
) {
    let (invoiced_tx, invoiced_rx) = mpsc::channel(64);
    let mut settler = AbortOnDrop(tokio::spawn(settle_stage(
        tenant.clone(),
        invoiced_rx,
        Arc::clone(&config),
        booker.clone(),
        Arc::clone(&handoff),
        Arc::clone(&observer),
    )));
    let processing = &config.processing;
    let mut last_call: Option<tokio::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let linger_until = tokio::time::Instant::now() + processing.linger();
        while batch.len() < processing.batch_size {
            let now = tokio::time::Instant::now();
            // While the tenant is short of calls, invoice calls keep to a pace that leaves
            // room for the payments calls, so a payments call does not push the next
            // invoice call back (which would double some orders' wait).
            let paced_until = last_call
                .filter(|_| booker.xero.spare_calls(&tenant) < 2.0)
                .map_or(now, |last| last + booker.xero.invoice_pace());
            // A tenant short of its day's calls waits for its budget too (README "Xero
            // limits"): the events arriving meanwhile make the batch larger.
            let wait = linger_until
                .max(paced_until)
                .saturating_duration_since(now)
                .max(booker.xero.wait_for_call(&tenant))
                .max(booker.xero.day_pace(&tenant));
            if wait.is_zero() || wait > HOLD_IN_PLACE {
                break;
            }
            // Looked at again every second at least: a call in flight when the wait was
            // computed may bring news (Xero's day back) that shortens it.
            match tokio::time::timeout(wait.min(LOOK_AGAIN), rx.recv()).await {
                Ok(Some(pending)) => batch.push(pending),
                Ok(None) => break,
                // Time to look again: the wait for Xero may have changed meanwhile.
                Err(_) => {}
            }
        }
        // Held longer than a delivery may wait unacknowledged (RabbitMQ closes a channel
        // whose delivery waits 30 minutes), the batch waits in the retry tiers instead: its
        // shard goes on with the other tenants, and no retry is used up.
        if let Some(paused) = pause_of(&booker, &tenant) {
            for pending in batch {
                if let Err(err) = settle_failure(
                    &handoff,
                    &observer,
                    &booker.ledger,
                    &pending.delivery,
                    &paused,
                )
                .await
                {
                    tracing::warn!(parent: &pending.delivery.span, error = %err, "could not settle a delivery");
                }
            }
            continue;
        }
        observer.metrics.batch(&tenant, batch.len());
        let (deliveries, jobs): (Vec<Tracked>, Vec<Job>) =
            batch.into_iter().map(|p| (p.delivery, p.job)).unzip();
        last_call = Some(tokio::time::Instant::now());
        let invoiced = booker
            .invoice_isolating_panics(&tenant, &config.shops, jobs)
            .await;
        if invoiced_tx.send((deliveries, invoiced)).await.is_err() {
            break;
        }
    }
    drop(invoiced_tx);
    let _ = (&mut settler.0).await;
}

/// The pause a batch of `tenant` would wait longer than [`HOLD_IN_PLACE`] for: Xero's day
/// limit, or the spreading of the day's last calls.
fn pause_of(booker: &Booker, tenant: &str) -> Option<ProcessError> {
    let paused = booker.xero.paused_for(tenant);
    let paced = booker.xero.day_pace(tenant);
    let (wait, cause) = if paused >= paced {
        (paused, PauseCause::DayLimit)
    } else {
        (paced, PauseCause::DayBudget)
    };
    (wait > HOLD_IN_PLACE).then_some(ProcessError::TenantPaused { wait, cause })
}

/// Aborts its task when dropped. A batcher aborted when its session ends takes its settle stage
/// with it: a detached settle stage would go on paying invoices whose deliveries the broker has
/// already handed to another processor (found by the chaos run: payments made twice over,
/// which Xero refused as exceeding what was due).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The settle stage of a tenant's batcher (see [`batcher`]).
async fn settle_stage(
    tenant: String,
    mut rx: mpsc::Receiver<(Vec<Tracked>, Invoiced)>,
    config: Arc<Config>,
    booker: Booker,
    handoff: Arc<Handoff>,
    observer: Arc<Observer>,
) {
    let processing = &config.processing;
    while let Some(first) = rx.recv().await {
        let mut gathered = vec![first];
        let mut jobs = gathered[0].1.len();
        let give_up_at = tokio::time::Instant::now() + processing.payment_linger();
        while jobs < processing.batch_size
            && booker.xero.spare_calls(&tenant) < PAY_AT_ONCE_WITH_SPARE_CALLS
        {
            let left = give_up_at.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match tokio::time::timeout(left.min(SPARE_CALLS_POLL), rx.recv()).await {
                Ok(Some(next)) => {
                    jobs += next.1.len();
                    gathered.push(next);
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        let mut deliveries = Vec::with_capacity(jobs);
        let mut batches = Vec::with_capacity(gathered.len());
        for (batch_deliveries, invoiced) in gathered {
            deliveries.extend(batch_deliveries);
            batches.push(invoiced);
        }
        let invoiced = Invoiced::merge(batches);
        let outcomes = booker
            .settle_isolating_panics(&tenant, &config.shops, invoiced)
            .await;
        for (tracked, outcome) in deliveries.into_iter().zip(outcomes) {
            let settled = match outcome {
                Ok(outcome) => {
                    let acked = tracked
                        .delivery
                        .ack(BasicAckOptions::default())
                        .await
                        .map(drop);
                    if outcome == EventOutcome::Booked
                        && let Some(envelope) = &tracked.envelope
                    {
                        observer.metrics.booked(envelope);
                        // A backfill reads history, mostly from before the shop was
                        // connected: no webhook was ever going to bring it, and a month of
                        // it would bury the log in warnings.
                        if envelope.source == xcs_shared::Source::Poll {
                            note_missed(&booker.ledger, &observer, envelope).await;
                        }
                    }
                    tracked.handled(&observer, outcome.as_str());
                    acked
                }
                Err(err) => {
                    settle_failure(&handoff, &observer, &booker.ledger, &tracked, &err).await
                }
            };
            if let Err(err) = settled {
                // The channel is gone; the broker redelivers, and the ledger dedupes.
                tracing::warn!(parent: &tracked.span, error = %err, "could not settle a delivery");
            }
        }
    }
}

/// A polled event that booked documents itself brought what no webhook did: said, so an
/// operator sees how leaky each platform's webhooks are.
async fn note_missed(ledger: &crate::ledger::Ledger, observer: &Observer, envelope: &Envelope) {
    match ledger.documents_of_event(&envelope.event_id).await {
        Ok(0) => {}
        Ok(documents) => {
            observer.metrics.missed_by_webhooks(envelope);
            tracing::warn!(
                shop = %envelope.shop,
                platform = %envelope.platform,
                event = %envelope.event_id,
                source = envelope.source.as_str(),
                documents,
                "missed by webhooks: no webhook had brought this {} of shop {}; the poll found \
                 and booked it",
                envelope.kind,
                envelope.shop
            );
        }
        Err(err) => tracing::debug!(error = %err, "cannot tell whether a webhook was missed"),
    }
}

/// The longest a lingering batch waits before it looks at its tenant's limits again.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// How often a processor looks whether it holds its fair share of the shards.
const REBALANCE_EVERY: Duration = Duration::from_secs(1);

/// How long a stopping processor waits for the batches it holds.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Calls to spare at which payments go at once: a tenant with this many is not short of calls
/// (a quiet tenant's bucket is full), and the next invoice calls still find theirs.
const PAY_AT_ONCE_WITH_SPARE_CALLS: f64 = 3.0;

/// How often a gathering settle stage looks whether the tenant has calls to spare.
const SPARE_CALLS_POLL: Duration = Duration::from_millis(100);

impl Work {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Work::Order(_) => "order",
            Work::Refunds { .. } => "refunds",
            Work::Stock(_) => "stock",
            Work::Payouts(_) => "payouts",
            Work::Cancel { .. } => "cancel",
            Work::Nothing(_) => "nothing",
        }
    }
}
