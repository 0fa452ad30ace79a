//! The consuming side: every shard queue is consumed (RabbitMQ makes one processor the active
//! consumer of each), each delivery is read, deduplicated and normalised in arrival order,
//! and handed to its tenant's batcher. A batcher books up to `batch_size` events per Xero call,
//! then acknowledges each delivery only after its outcome is in the ledger, or after the
//! failed event was handed on to a retry tier or the dead queue with a confirm.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use xcs_shared::Envelope;

use crate::booking::{Booker, Invoiced, Job, Work};
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::error::ProcessError;
use crate::handoff::{HandedOff, Handoff};
use crate::ledger::EventOutcome;

/// A delivery waiting in a batcher, with the job it became.
struct Pending {
    delivery: Delivery,
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
fn attempts(headers: Option<&FieldTable>) -> u32 {
    match headers.and_then(|h| h.inner().get(crate::handoff::header::ATTEMPTS)) {
        Some(AMQPValue::LongLongInt(n)) => u32::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

/// Consumes until `shutdown` flips, reconnecting when the broker goes away.
pub async fn run(
    config: Arc<Config>,
    booker: Booker,
    dispatcher: Arc<Dispatcher>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    while !*shutdown.borrow() {
        match session(&config, &booker, &dispatcher, &mut shutdown).await {
            Ok(()) => return,
            Err(err) => {
                tracing::warn!(error = %err, retry_in = ?backoff, "consumer session ended; reconnecting");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = shutdown.changed() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// One connection's worth of consuming. Returns `Ok` on shutdown, `Err` when the connection
/// failed (unacknowledged deliveries go back to their queues and are redelivered).
async fn session(
    config: &Arc<Config>,
    booker: &Booker,
    dispatcher: &Arc<Dispatcher>,
    shutdown: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let connection = Arc::new(
        Connection::connect(
            config.amqp.uri.expose_secret(),
            ConnectionProperties::default(),
        )
        .await?,
    );
    let handoff = Arc::new(Handoff::open(&connection).await?);
    let channel = connection.create_channel().await?;
    channel
        .basic_qos(config.processing.prefetch, BasicQosOptions::default())
        .await?;
    tracing::info!("connected to RabbitMQ; consuming the shard queues");

    let batchers_tx: Arc<tokio::sync::Mutex<HashMap<String, mpsc::Sender<Pending>>>> =
        Arc::default();
    let batcher_tasks: Arc<std::sync::Mutex<JoinSet<()>>> = Arc::default();
    let mut shards = JoinSet::new();
    let consumer_tag = format!("xcs-processor-{}", uuid::Uuid::now_v7().simple());
    for queue in crate::handoff::consumed_queues() {
        let consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("{consumer_tag}-{queue}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let batchers = Arc::clone(&batchers_tx);
        let tasks = Arc::clone(&batcher_tasks);
        let (config, booker, dispatcher, handoff) = (
            Arc::clone(config),
            booker.clone(),
            Arc::clone(dispatcher),
            Arc::clone(&handoff),
        );
        shards.spawn(async move {
            let mut consumer = consumer;
            while let Some(delivery) = consumer.next().await {
                let delivery = delivery?;
                let pending = match prepare(&config, &booker, &dispatcher, &delivery).await {
                    Ok(Some(job)) => Pending { delivery, job },
                    Ok(None) => {
                        delivery.ack(BasicAckOptions::default()).await?;
                        continue;
                    }
                    Err(err) => {
                        settle_failure(&handoff, &delivery, &err).await?;
                        continue;
                    }
                };
                let tenant = pending.job.envelope.tenant.clone();
                let mut batchers = batchers.lock().await;
                let sender: &mut mpsc::Sender<Pending> =
                    batchers.entry(tenant.clone()).or_insert_with(|| {
                        let (tx, rx) = mpsc::channel(1024);
                        tasks.lock().expect("not poisoned").spawn(batcher(
                            tenant,
                            rx,
                            Arc::clone(&config),
                            booker.clone(),
                            Arc::clone(&handoff),
                        ));
                        tx
                    });
                if sender.send(pending).await.is_err() {
                    anyhow::bail!("a tenant batcher stopped");
                }
            }
            Ok::<(), anyhow::Error>(())
        });
    }
    let result = tokio::select! {
        _ = shutdown.changed() => Ok(()),
        finished = shards.join_next() => match finished {
            Some(Ok(Err(err))) => Err(err),
            _ => Err(anyhow::anyhow!("a shard consumer stopped")),
        },
    };
    // Stop taking deliveries; the batchers book and settle what they hold, then end.
    shards.abort_all();
    batchers_tx.lock().await.clear();
    let mut batchers = std::mem::take(&mut *batcher_tasks.lock().expect("not poisoned"));
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while batchers.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "batches still in Xero after {DRAIN_TIMEOUT:?}; their events will be redelivered"
        );
    }
    let _ = connection.close(200, "processor stopping".into()).await;
    result
}

/// Reads a delivery into a job; `None` when it needs nothing more than an ack (seen before,
/// or a kind the shop does not sync, which is recorded).
async fn prepare(
    config: &Config,
    booker: &Booker,
    dispatcher: &Dispatcher,
    delivery: &Delivery,
) -> Result<Option<Job>, ProcessError> {
    let envelope = envelope_of(delivery.properties.headers().as_ref())?;
    if let Some(outcome) = booker.ledger.event_outcome(&envelope.event_id).await?
        && !resync_looks_again(delivery, &envelope, &outcome)
    {
        tracing::debug!(event_id = %envelope.event_id, outcome, "already handled; acknowledging");
        return Ok(None);
    }
    let shop = config
        .shop(&envelope.shop)
        .ok_or_else(|| ProcessError::UnknownShop(envelope.shop.clone()))?;
    if !shop.sync.contains(&envelope.kind) {
        booker
            .ledger
            .record_event(
                &envelope,
                EventOutcome::Skipped,
                &format!("the shop does not sync {} events", envelope.kind),
            )
            .await?;
        return Ok(None);
    }
    let work = dispatcher
        .work_for(&envelope, shop, &delivery.data, &booker.ledger)
        .await?;
    Ok(Some(Job {
        envelope,
        work,
        attempt: attempts(delivery.properties.headers().as_ref()),
    }))
}

/// Whether a re-sync (`xcs-processor resync`) should handle an event the ledger has seen: only
/// an order or refund it skipped (a kind the shop did not sync then). Booked events stay
/// booked once; a stock change is not applied again, as an old level would overwrite a newer.
fn resync_looks_again(delivery: &Delivery, envelope: &Envelope, outcome: &str) -> bool {
    outcome == "skipped"
        && envelope.kind != xcs_shared::EventKind::Inventory
        && crate::operate::resync::is_resync(delivery.properties.headers().as_ref())
}

/// Sends a failed delivery on (retry tier or dead queue) and acknowledges it; if the broker
/// will not take the copy, rejects it back to its queue, where the delivery limit bounds how
/// often that can happen.
async fn settle_failure(
    handoff: &Handoff,
    delivery: &Delivery,
    error: &ProcessError,
) -> Result<(), lapin::Error> {
    match handoff
        .hand_off(&delivery.data, &delivery.properties, error)
        .await
    {
        Ok(HandedOff::Retry { tier, attempt }) => {
            tracing::warn!(error = %error, tier, attempt, "event failed; retrying later");
            delivery.ack(BasicAckOptions::default()).await.map(drop)
        }
        Ok(HandedOff::Dead { attempts }) => {
            tracing::error!(error = %error, reason = error.reason(), attempts, "event dead-lettered");
            delivery.ack(BasicAckOptions::default()).await.map(drop)
        }
        Err(handoff_error) => {
            tracing::error!(error = %error, %handoff_error, "cannot hand the event on; rejecting it to its queue");
            delivery
                .reject(BasicRejectOptions { requeue: true })
                .await
                .map(drop)
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
) {
    let (invoiced_tx, invoiced_rx) = mpsc::channel(64);
    let settler = tokio::spawn(settle_stage(
        tenant.clone(),
        invoiced_rx,
        Arc::clone(&config),
        booker.clone(),
        handoff,
    ));
    let processing = &config.processing;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let linger_until = tokio::time::Instant::now() + processing.linger();
        while batch.len() < processing.batch_size {
            let wait = linger_until
                .saturating_duration_since(tokio::time::Instant::now())
                .max(booker.xero.wait_for_call(&tenant));
            if wait.is_zero() {
                break;
            }
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(pending)) => batch.push(pending),
                Ok(None) => break,
                // Time to look again: the wait for Xero may have changed meanwhile.
                Err(_) => {}
            }
        }
        let (deliveries, jobs): (Vec<Delivery>, Vec<Job>) =
            batch.into_iter().map(|p| (p.delivery, p.job)).unzip();
        let invoiced = booker.invoice(&tenant, &config.shops, jobs).await;
        if invoiced_tx.send((deliveries, invoiced)).await.is_err() {
            break;
        }
    }
    drop(invoiced_tx);
    let _ = settler.await;
}

/// The settle stage of a tenant's batcher (see [`batcher`]).
async fn settle_stage(
    tenant: String,
    mut rx: mpsc::Receiver<(Vec<Delivery>, Invoiced)>,
    config: Arc<Config>,
    booker: Booker,
    handoff: Arc<Handoff>,
) {
    let processing = &config.processing;
    while let Some(first) = rx.recv().await {
        let mut gathered = vec![first];
        let mut jobs = gathered[0].1.len();
        let give_up_at = tokio::time::Instant::now() + processing.payment_linger();
        // Two spare calls: paying now still leaves the next invoice call one.
        while jobs < processing.batch_size && booker.xero.spare_calls(&tenant) < 2.0 {
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
        let job_ids: Vec<String> = invoiced.event_ids();
        let outcomes = booker.settle(&tenant, &config.shops, invoiced).await;
        for ((delivery, event_id), outcome) in deliveries.into_iter().zip(job_ids).zip(outcomes) {
            let settled = match outcome {
                Ok(outcome) => {
                    tracing::info!(%tenant, event_id, ?outcome, "event handled");
                    delivery.ack(BasicAckOptions::default()).await.map(drop)
                }
                Err(err) => settle_failure(&handoff, &delivery, &err).await,
            };
            if let Err(err) = settled {
                // The channel is gone; the broker redelivers, and the ledger dedupes.
                tracing::warn!(%tenant, event_id, error = %err, "could not settle a delivery");
            }
        }
    }
}

/// How long a stopping processor waits for the batches it holds.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a gathering settle stage looks whether the tenant has calls to spare.
const SPARE_CALLS_POLL: Duration = Duration::from_millis(100);

impl Work {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Work::Order(_) => "order",
            Work::Refunds { .. } => "refunds",
            Work::Stock(_) => "stock",
            Work::Nothing(_) => "nothing",
        }
    }
}
