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

use crate::booking::{Booker, Job, Work};
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
                        tokio::spawn(batcher(
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
    // Stop taking deliveries; batches already formed finish and settle their deliveries.
    shards.abort_all();
    batchers_tx.lock().await.clear();
    tokio::time::sleep(config.processing.linger() + Duration::from_millis(50)).await;
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
    if let Some(outcome) = booker.ledger.event_outcome(&envelope.event_id).await? {
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

/// One tenant's batcher: waits for a first job, gathers more for the linger time or until
/// the batch is full, books the batch, settles every delivery, and starts over.
async fn batcher(
    tenant: String,
    mut rx: mpsc::Receiver<Pending>,
    config: Arc<Config>,
    booker: Booker,
    handoff: Arc<Handoff>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + config.processing.linger();
        while batch.len() < config.processing.batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(pending)) => batch.push(pending),
                Ok(None) | Err(_) => break,
            }
        }
        let jobs: Vec<Job> = batch.iter().map(|p| p.job.clone()).collect();
        let outcomes = booker.book(&tenant, &config.shops, &jobs).await;
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            let event_id = &pending.job.envelope.event_id;
            let settled = match outcome {
                Ok(outcome) => {
                    tracing::info!(%tenant, event_id, ?outcome, "event handled");
                    pending
                        .delivery
                        .ack(BasicAckOptions::default())
                        .await
                        .map(drop)
                }
                Err(err) => settle_failure(&handoff, &pending.delivery, &err).await,
            };
            if let Err(err) = settled {
                // The channel is gone; the broker redelivers, and the ledger dedupes.
                tracing::warn!(%tenant, event_id, error = %err, "could not settle a delivery");
            }
        }
    }
}

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
