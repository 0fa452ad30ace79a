//! The dead-letter queue `xcs.dead`: list, show, replay and purge, by filter.
//!
//! AMQP cannot read a message in the middle of a queue or remove one selectively, so every
//! operation is one *pass*: consume the queue with manual acknowledgements and a prefetch as
//! large as the queue was when the pass started, decide for each delivery, acknowledge only
//! what is to leave the queue (replayed after the broker confirmed the copy, or purged), and
//! close the channel at the end, which puts every unacknowledged message back. Nothing is
//! rejected with requeue during a pass: a quorum queue would hand the message straight back
//! and the pass would never end. A pass reads at most as many messages as the queue held when
//! it started (and at most [`MAX_PASS`]), so it ends on an empty queue, on a queue that
//! grows meanwhile, and on one with thousands of messages.
//!
//! Reading counts as a delivery: RabbitMQ adds to a kept message's `x-delivery-count` every
//! pass. `xcs.dead` has no delivery limit for that reason; do not add one. Kept messages go
//! back to the head of the queue in the order they were read.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, Consumer};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::envelope::header as envelope;
use xcs_shared::topology::{DEAD_QUEUE, RETRY_TIERS, SHARDS_EXCHANGE};
use xcs_shared::{EventKind, Platform};

use crate::handoff::header as handoff;
use crate::ledger::{DeadFilter, DeadLetterRow, DeadState, Ledger};
use crate::publisher::{Republisher, header_count, header_str, now_rfc3339, rewrite_headers, text};

/// The most messages one pass reads: AMQP's prefetch count is 16 bits, and every message the
/// pass keeps stays unacknowledged until the pass ends. Larger queues take several runs.
pub const MAX_PASS: u32 = u16::MAX as u32;

/// How long a pass waits for the next delivery before deciding the queue has no more for it
/// (someone else took messages after the pass counted them).
const IDLE: Duration = Duration::from_secs(5);
/// How long the end of a pass waits for its kept messages to be back in the queue.
const SETTLE: Duration = Duration::from_secs(10);

/// Headers a replay adds, so a replayed event's history survives its reset.
pub mod header {
    /// How often the event was replayed from the dead queue.
    pub use crate::publisher::REPLAYS;
    /// RFC 3339 time of the last replay.
    pub const REPLAYED_AT: &str = "xcs-replayed-at";
    /// The reason it was dead before its last replay.
    pub const REPLAYED_REASON: &str = "xcs-replayed-reason";
}

/// The reason given to a message RabbitMQ dead-lettered from a shard queue because it was
/// delivered more than the delivery limit allows (RabbitMQ's own name for it).
pub const DELIVERY_LIMIT: &str = "delivery_limit";

/// Which dead letters an operation applies to. Every given criterion must match.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filter {
    /// Only this platform's events (shopify, woocommerce, bigcommerce, magento, etsy, ebay).
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Only this shop's events (the name in the config, as in the webhook URL).
    #[arg(long)]
    pub shop: Option<String>,
    /// Only events for this Xero tenant id.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Only orders, refunds or inventory events.
    #[arg(long)]
    pub kind: Option<EventKind>,
    /// Only this reason (e.g. unmapped_tax, xero_validation, delivery_limit; see README).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only events dead-lettered at or after this time (RFC 3339 or a date, UTC).
    #[arg(long, value_parser = super::parse_time)]
    pub since: Option<OffsetDateTime>,
    /// Only events dead-lettered before this time (RFC 3339 or a date, UTC).
    #[arg(long, value_parser = super::parse_time)]
    pub until: Option<OffsetDateTime>,
    /// Only the event with this id (the xcs-event-id header, as `dead list` shows it).
    #[arg(long = "id")]
    pub event_id: Option<String>,
}

impl Filter {
    /// Whether `letter` matches every criterion given.
    pub fn matches(&self, letter: &DeadLetter) -> bool {
        let same =
            |wanted: Option<&str>, actual: Option<&str>| wanted.is_none_or(|w| Some(w) == actual);
        same(
            self.platform.map(Platform::as_str),
            letter.platform.as_deref(),
        ) && same(self.shop.as_deref(), letter.shop.as_deref())
            && same(self.tenant.as_deref(), letter.tenant.as_deref())
            && same(self.kind.map(EventKind::as_str), letter.kind.as_deref())
            && same(self.reason.as_deref(), Some(&letter.reason))
            && same(self.event_id.as_deref(), Some(&letter.event_id))
            && self
                .since
                .is_none_or(|since| letter.dead_at_time.is_some_and(|at| at >= since))
            && self
                .until
                .is_none_or(|until| letter.dead_at_time.is_some_and(|at| at < until))
    }
}

impl From<&Filter> for DeadFilter {
    /// The same criteria, for a page of the dead-letter index (its rows that are dead).
    fn from(filter: &Filter) -> Self {
        DeadFilter {
            platform: filter.platform,
            shop: filter.shop.clone(),
            tenant: filter.tenant.clone(),
            kind: filter.kind,
            reason: filter.reason.clone(),
            since: filter.since,
            until: filter.until,
            event_id: filter.event_id.clone(),
            state: None,
        }
    }
}

/// One message in the dead queue, as an operator reads it.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    /// The event id (`xcs-event-id`); for a message without one, its `message_id`, or a hash
    /// of its body.
    pub event_id: String,
    /// Why it is dead: the processor's `xcs-reason`, or RabbitMQ's (`delivery_limit`).
    pub reason: String,
    /// RabbitMQ dead-lettered it (from a shard queue), not the processor.
    pub by_broker: bool,
    /// Failed attempts the processor counted, if it counted any.
    pub attempts: Option<u32>,
    /// RFC 3339 time it was dead-lettered.
    pub dead_at: Option<String>,
    pub first_failure_at: Option<String>,
    pub last_error: Option<String>,
    pub platform: Option<String>,
    pub shop: Option<String>,
    pub tenant: Option<String>,
    pub kind: Option<String>,
    pub topic: Option<String>,
    pub received_at: Option<String>,
    /// The order's number on the platform (`#1001`), or `order id …` when the payload names
    /// only an id; from a light look at the payload (see [`peek_order`]).
    pub order: Option<String>,
    /// The order's total and currency as the payload states them (`28.75 NZD`).
    pub amount: Option<String>,
    /// How often it was replayed before.
    pub replays: u32,
    #[serde(skip)]
    pub replayed_at: Option<String>,
    #[serde(skip)]
    pub dead_at_time: Option<OffsetDateTime>,
    /// Every header, for `show`.
    #[serde(skip)]
    pub headers: BTreeMap<String, serde_json::Value>,
    #[serde(skip)]
    pub body: Vec<u8>,
    #[serde(skip)]
    pub properties: BasicProperties,
}

/// The newest `x-death` entry: where and why RabbitMQ last dead-lettered the message.
struct Death {
    reason: String,
    queue: String,
    time: Option<OffsetDateTime>,
}

fn newest_death(headers: Option<&FieldTable>) -> Option<Death> {
    let AMQPValue::FieldArray(deaths) = headers?.inner().get("x-death")? else {
        return None;
    };
    let AMQPValue::FieldTable(entry) = deaths.as_slice().first()? else {
        return None;
    };
    let field = |name: &str| header_str(Some(entry), name).unwrap_or_default();
    let time = match entry.inner().get("time") {
        Some(AMQPValue::Timestamp(t)) => i64::try_from(*t)
            .ok()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok()),
        _ => None,
    };
    Some(Death {
        reason: field("reason"),
        queue: field("queue"),
        time,
    })
}

impl DeadLetter {
    /// Reads a dead queue message.
    pub fn read(properties: &BasicProperties, body: &[u8]) -> Self {
        let headers = properties.headers().as_ref();
        let get = |name: &str| header_str(headers, name);
        let processor_dead_at = get(handoff::DEAD_AT);
        let processor_dead_time = processor_dead_at
            .as_deref()
            .and_then(|at| OffsetDateTime::parse(at, &Rfc3339).ok());
        // Expiry from a retry tier is how a retry goes back to its shard, not a death. Any
        // other newest x-death newer than the processor's own dead-lettering is RabbitMQ's.
        let broker_death = newest_death(headers).filter(|death| {
            let from_retry_tier = RETRY_TIERS.iter().any(|(queue, _)| *queue == death.queue);
            !from_retry_tier
                && death.reason != "expired"
                && match (death.time, processor_dead_time) {
                    (Some(broker), Some(processor)) => {
                        broker.unix_timestamp() >= processor.unix_timestamp()
                    }
                    (_, None) => true,
                    (None, Some(_)) => false,
                }
        });
        let event_id = get(envelope::EVENT_ID)
            .or_else(|| properties.message_id().as_ref().map(ToString::to_string))
            .unwrap_or_else(|| {
                use sha2::Digest as _;
                format!(
                    "body-sha256:{}",
                    &hex::encode(sha2::Sha256::digest(body))[..16]
                )
            });
        let (reason, by_broker, dead_at_time, last_error) = match &broker_death {
            Some(death) => {
                let why = if death.reason == DELIVERY_LIMIT {
                    "was delivered more often than its delivery limit allows without being \
                     settled: a processor crashed, was killed or lost its connection each time \
                     it handled this event"
                        .to_owned()
                } else {
                    format!("was dead-lettered by RabbitMQ ({})", death.reason)
                };
                let mut error = format!("{} {why}", death.queue);
                if let Some(earlier) = get(handoff::LAST_ERROR) {
                    error.push_str(&format!("; an earlier attempt failed with: {earlier}"));
                }
                (death.reason.clone(), true, death.time, Some(error))
            }
            None => (
                get(handoff::REASON).unwrap_or_else(|| "unknown".to_owned()),
                false,
                processor_dead_time,
                get(handoff::LAST_ERROR),
            ),
        };
        let (order, amount) = match get(envelope::KIND).as_deref() {
            Some("order" | "refund") => peek_order(body),
            _ => (None, None),
        };
        DeadLetter {
            order,
            amount,
            event_id,
            reason,
            by_broker,
            attempts: header_count(headers, handoff::ATTEMPTS),
            dead_at: dead_at_time.and_then(|at| at.format(&Rfc3339).ok()),
            first_failure_at: get(handoff::FIRST_FAILURE_AT),
            last_error,
            platform: get(envelope::PLATFORM),
            shop: get(envelope::SHOP),
            tenant: get(envelope::TENANT),
            kind: get(envelope::KIND),
            topic: get(envelope::TOPIC),
            received_at: get(envelope::RECEIVED_AT),
            replays: header_count(headers, header::REPLAYS).unwrap_or(0),
            replayed_at: get(header::REPLAYED_AT),
            dead_at_time,
            headers: headers
                .map(|h| {
                    h.inner()
                        .iter()
                        .map(|(k, v)| (k.to_string(), super::to_json(v)))
                        .collect()
                })
                .unwrap_or_default(),
            body: body.to_vec(),
            properties: properties.clone(),
        }
    }

    /// The properties a replay publishes with: the retry count reset so the event gets every
    /// retry tier again, the processor's and RabbitMQ's death records removed (a kept `x-death`
    /// naming a shard queue would make RabbitMQ's cycle detection drop the event the next
    /// time a retry tier sends it back to that shard), and the history kept in
    /// `xcs-replays`, `xcs-replayed-at` and `xcs-replayed-reason`. The envelope, the body and
    /// `message_id` stay as they were, so the processor's dedupe by event id still works.
    pub fn replay_properties(&self, replayed_at: &str) -> BasicProperties {
        let headers = rewrite_headers(
            self.properties.headers().as_ref(),
            |name| {
                [
                    handoff::ATTEMPTS,
                    handoff::REASON,
                    handoff::LAST_ERROR,
                    handoff::DEAD_AT,
                    "x-delivery-count",
                    "x-death",
                ]
                .contains(&name)
                    || name.starts_with("x-first-death-")
                    || name.starts_with("x-last-death-")
            },
            vec![
                (
                    header::REPLAYS,
                    AMQPValue::LongLongInt(i64::from(self.replays) + 1),
                ),
                (header::REPLAYED_AT, text(replayed_at)),
                (header::REPLAYED_REASON, text(&self.reason)),
            ],
        );
        self.properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2)
    }

    /// The dead-letter index's row of this message, dead, as the index stores it. A message
    /// without a time of death (neither the processor's nor RabbitMQ's) is dead as of now.
    pub fn index_row(&self) -> DeadLetterRow {
        DeadLetterRow {
            event_id: self.event_id.clone(),
            platform: self.platform.clone(),
            shop: self.shop.clone(),
            tenant: self.tenant.clone(),
            kind: self.kind.clone(),
            topic: self.topic.clone(),
            reason: self.reason.clone(),
            by_broker: self.by_broker,
            attempts: self.attempts,
            last_error: self.last_error.clone(),
            // To the microsecond, as PostgreSQL keeps it.
            dead_at: {
                let at = self.dead_at_time.unwrap_or_else(OffsetDateTime::now_utc);
                at.replace_nanosecond(at.nanosecond() / 1000 * 1000)
                    .unwrap_or(at)
            },
            state: DeadState::Dead,
            state_at: None,
            state_by: None,
        }
    }

    /// The payload as an operator wants to read it: pretty JSON when it is JSON.
    pub fn payload_text(&self) -> String {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(json) => serde_json::to_string_pretty(&json).expect("JSON values serialise"),
            Err(_) => match std::str::from_utf8(&self.body) {
                Ok(text) => text.to_owned(),
                Err(_) => {
                    use base64::Engine as _;
                    format!(
                        "({} bytes, not UTF-8; base64:)\n{}",
                        self.body.len(),
                        base64::engine::general_purpose::STANDARD.encode(&self.body)
                    )
                }
            },
        }
    }

    /// Everything `show --format json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = serde_json::to_value(self).expect("a dead letter serialises");
        json["headers"] = serde_json::to_value(&self.headers).expect("JSON values serialise");
        json["payload"] = serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| serde_json::Value::String(self.payload_text()));
        json
    }
}

/// One pass over the dead queue (see the module documentation).
pub struct Scan {
    queue: &'static str,
    channel: Channel,
    /// A second channel, to watch the queue's depth after the pass.
    probe: Channel,
    consumer: Option<Consumer>,
    /// Messages in the queue when the pass started.
    pub in_queue: u32,
    /// How many this pass will read at most.
    pub to_read: u32,
    read: u32,
}

impl Scan {
    /// Starts a pass.
    ///
    /// # Errors
    /// When RabbitMQ is unreachable or the dead queue does not exist.
    pub async fn open(connection: &Connection) -> anyhow::Result<Scan> {
        Self::open_queue(connection, DEAD_QUEUE).await
    }

    /// Starts a pass over another queue read the same way: `status` reads the retry tiers'
    /// messages with it (and acknowledges none, so each stays, as in the dead queue).
    ///
    /// # Errors
    /// When RabbitMQ is unreachable or the queue does not exist.
    pub async fn open_queue(connection: &Connection, queue: &'static str) -> anyhow::Result<Scan> {
        let channel = connection
            .create_channel()
            .await
            .context("cannot open a channel to RabbitMQ")?;
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .with_context(|| {
                format!(
                    "queue {queue} not found; is the config's amqp uri the right vhost, and \
                     is deploy/rabbitmq/definitions.json imported?"
                )
            })?;
        let in_queue = declared.message_count();
        let probe = connection
            .create_channel()
            .await
            .context("cannot open a channel to RabbitMQ")?;
        let to_read = in_queue.min(MAX_PASS);
        let consumer = if to_read == 0 {
            None
        } else {
            channel
                .basic_qos(
                    u16::try_from(to_read).unwrap_or(u16::MAX),
                    BasicQosOptions::default(),
                )
                .await
                .context("cannot set the prefetch")?;
            Some(
                channel
                    .basic_consume(
                        queue.into(),
                        format!("xcs-scan-{}", uuid::Uuid::now_v7().simple())
                            .as_str()
                            .into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .with_context(|| format!("cannot consume {queue}"))?,
            )
        };
        Ok(Scan {
            queue,
            channel,
            probe,
            consumer,
            in_queue,
            to_read,
            read: 0,
        })
    }

    /// The next message of the pass, or `None` when the pass has read all it will.
    ///
    /// # Errors
    /// When the connection failed (every unacknowledged message goes back to the queue).
    pub async fn next(&mut self) -> anyhow::Result<Option<Delivery>> {
        if self.read >= self.to_read {
            return Ok(None);
        }
        let Some(consumer) = self.consumer.as_mut() else {
            return Ok(None);
        };
        match tokio::time::timeout(IDLE, consumer.next()).await {
            Err(_) | Ok(None) => Ok(None),
            Ok(Some(delivery)) => {
                self.read += 1;
                Ok(Some(delivery.context("the connection to RabbitMQ failed")?))
            }
        }
    }

    /// Whether the queue held more than one pass reads.
    pub fn more(&self) -> bool {
        self.in_queue > self.to_read
    }

    /// Whether the pass read every message the queue held when it started (none left unread
    /// past [`MAX_PASS`], none taken by someone else meanwhile).
    pub fn saw_all(&self) -> bool {
        !self.more() && self.read >= self.to_read
    }

    /// Ends the pass: every message not acknowledged goes back to the queue. `removed` is how
    /// many the pass acknowledged. Returns once the kept messages are back (RabbitMQ returns
    /// them a moment after the channel closed), so a pass right after this one sees them all;
    /// gives up waiting after a while if others change the queue meanwhile.
    pub async fn close(self, removed: usize) {
        let kept = self
            .read
            .saturating_sub(u32::try_from(removed).unwrap_or(u32::MAX));
        let ready_while_held = depth(&self.probe, self.queue).await;
        let _ = self.channel.close(200, "pass done".into()).await;
        if let Some(ready_while_held) = ready_while_held.filter(|_| kept > 0) {
            let deadline = tokio::time::Instant::now() + SETTLE;
            while tokio::time::Instant::now() < deadline {
                match depth(&self.probe, self.queue).await {
                    Some(ready) if ready < ready_while_held + kept => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    _ => break,
                }
            }
        }
        let _ = self.probe.close(200, "pass done".into()).await;
    }
}

/// Messages ready in `queue` (not those a pass holds).
pub(crate) async fn depth(channel: &Channel, queue: &str) -> Option<u32> {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .ok()
        .map(|queue| queue.message_count())
}

/// What `list` found.
#[derive(Debug, Serialize)]
pub struct Listing {
    pub letters: Vec<DeadLetter>,
    /// Messages in the queue when the listing started.
    pub in_queue: u32,
    /// The queue held more than one pass reads ([`MAX_PASS`]); the rest were not looked at.
    pub more: bool,
}

/// Lists the dead letters matching `filter`, leaving every message in the queue.
///
/// # Errors
/// When RabbitMQ is unreachable or the dead queue is missing.
pub async fn list(
    connection: &Connection,
    filter: &Filter,
    progress: &ProgressBar,
) -> anyhow::Result<Listing> {
    let mut scan = Scan::open(connection).await?;
    progress.set_length(u64::from(scan.to_read));
    let mut letters = Vec::new();
    let result = async {
        while let Some(delivery) = scan.next().await? {
            progress.inc(1);
            let mut letter = DeadLetter::read(&delivery.properties, &delivery.data);
            if filter.matches(&letter) {
                letter.body = Vec::new();
                letters.push(letter);
            }
        }
        anyhow::Ok(())
    }
    .await;
    let (in_queue, more) = (scan.in_queue, scan.more());
    scan.close(0).await;
    progress.finish_and_clear();
    result?;
    Ok(Listing {
        letters,
        in_queue,
        more,
    })
}

/// Every copy of the event `event_id` in the dead queue (usually one; at-least-once
/// dead-lettering can leave two), leaving them in the queue.
///
/// # Errors
/// When RabbitMQ is unreachable or the dead queue is missing.
pub async fn show(connection: &Connection, event_id: &str) -> anyhow::Result<Vec<DeadLetter>> {
    let mut scan = Scan::open(connection).await?;
    let mut found = Vec::new();
    let result = async {
        while let Some(delivery) = scan.next().await? {
            let letter = DeadLetter::read(&delivery.properties, &delivery.data);
            if letter.event_id == event_id {
                found.push(letter);
            }
        }
        anyhow::Ok(())
    }
    .await;
    scan.close(0).await;
    result?;
    Ok(found)
}

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Report what would be replayed; publish and remove nothing.
    pub dry_run: bool,
    /// Replay at most this many events.
    pub limit: Option<usize>,
    pub progress: ProgressBar,
    /// The dead-letter index to mark the replayed events in (`None`: none to keep in step).
    pub ledger: Option<Ledger>,
    /// Who replays, as the index records it; `None` is `cli`.
    pub operator: Option<String>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            dry_run: false,
            limit: None,
            progress: ProgressBar::hidden(),
            ledger: None,
            operator: None,
        }
    }
}

/// Who the index records as having replayed or purged, when no operator is named.
pub const CLI_OPERATOR: &str = "cli";

/// What a replay did.
#[derive(Debug, Default, Serialize)]
pub struct ReplayReport {
    /// The events replayed (or, in a dry run, that would be), in order.
    pub replayed: Vec<DeadLetter>,
    /// Further copies of an event replayed in this pass, removed (a dry run keeps them).
    pub duplicates: usize,
    /// Messages read and left in the queue (not matching, or past the limit).
    pub kept: usize,
    /// The queue held more than one pass reads; run again for the rest.
    pub more: bool,
    /// Why the dead-letter index could not be marked (the replay happened all the same;
    /// `dead reindex` puts the index right).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_warning: Option<String>,
}

/// Marks `letters` as `state` in the dead-letter index, if there is one; a failure is a
/// warning (returned and logged), never an error: the queue is the truth, and `dead reindex`
/// puts the index right.
async fn mark_in_index(
    ledger: Option<&Ledger>,
    letters: &[DeadLetter],
    state: DeadState,
    operator: Option<&str>,
) -> Option<String> {
    let ledger = ledger?;
    if letters.is_empty() {
        return None;
    }
    let marks: Vec<(String, Option<OffsetDateTime>)> = letters
        .iter()
        .map(|l| (l.event_id.clone(), l.dead_at_time))
        .collect();
    let by = operator.unwrap_or(CLI_OPERATOR);
    let mut failure = None;
    for chunk in marks.chunks(1000) {
        if let Err(err) = ledger.mark_dead_letters(chunk, state, by).await {
            failure = Some(err);
            break;
        }
    }
    let err = failure?;
    let warning = format!(
        "the dead letters were {state}, but the dead-letter index could not be marked ({err}); \
         run `xcs-processor dead reindex` to put it right"
    );
    tracing::warn!(error = %err, %state, "cannot mark dead letters in the index");
    Some(warning)
}

/// Replays the dead letters matching `filter`: each is republished to the shards exchange
/// with its retry count reset and, once the broker confirmed the copy, removed from the dead
/// queue. Interrupted, it leaves at most one event both replayed and still dead; replaying
/// again republishes it, and the processor's ledger books it once.
///
/// # Errors
/// When RabbitMQ is unreachable or does not confirm a copy; what was replayed before stays
/// replayed, and the rest stays dead.
pub async fn replay(
    connection: &Connection,
    filter: &Filter,
    options: &ReplayOptions,
) -> anyhow::Result<ReplayReport> {
    let publisher = if options.dry_run {
        None
    } else {
        Some(Republisher::open(connection).await?)
    };
    let mut scan = Scan::open(connection).await?;
    let progress = &options.progress;
    progress.set_length(u64::from(scan.to_read));
    let stamp = now_rfc3339();
    let mut report = ReplayReport::default();
    let mut replayed_ids = HashSet::new();
    let result =
        async {
            while let Some(delivery) = scan.next().await? {
                progress.inc(1);
                let letter = DeadLetter::read(&delivery.properties, &delivery.data);
                // Replayed by this very pass and already dead again: leave it for the operator.
                let from_this_pass = letter.replayed_at.as_deref() == Some(stamp.as_str());
                if from_this_pass || !filter.matches(&letter) {
                    report.kept += 1;
                    continue;
                }
                if replayed_ids.contains(&letter.event_id) {
                    // Its twin's copy is confirmed on the shards; this one adds nothing.
                    if !options.dry_run {
                        delivery
                            .ack(BasicAckOptions::default())
                            .await
                            .context("cannot remove a duplicate from the dead queue")?;
                    }
                    report.duplicates += 1;
                    continue;
                }
                if options
                    .limit
                    .is_some_and(|limit| report.replayed.len() >= limit)
                {
                    report.kept += 1;
                    break;
                }
                if let Some(publisher) = &publisher {
                    publish_copy(publisher, &letter, &stamp).await?;
                    delivery.ack(BasicAckOptions::default()).await.with_context(|| {
                    format!(
                        "event {} was replayed but could not be removed from the dead queue; \
                         it stays there, and replaying it again books nothing twice",
                        letter.event_id
                    )
                })?;
                }
                progress.set_message(letter.event_id.clone());
                replayed_ids.insert(letter.event_id.clone());
                let mut letter = letter;
                letter.body = Vec::new();
                report.replayed.push(letter);
            }
            anyhow::Ok(())
        }
        .await;
    report.more = scan.more();
    let removed = if options.dry_run {
        0
    } else {
        report.replayed.len() + report.duplicates
    };
    scan.close(removed).await;
    if let Some(publisher) = publisher {
        publisher.close().await;
    }
    progress.finish_and_clear();
    // What was replayed is marked even when the pass stopped part way.
    if !options.dry_run {
        report.index_warning = mark_in_index(
            options.ledger.as_ref(),
            &report.replayed,
            DeadState::Replayed,
            options.operator.as_deref(),
        )
        .await;
    }
    result?;
    Ok(report)
}

/// Publishes the replay copy of `letter` to the shards exchange and waits for the confirm;
/// the first half of a replay, before the dead message is removed.
///
/// # Errors
/// When the broker did not confirm the copy.
pub async fn publish_copy(
    publisher: &Republisher,
    letter: &DeadLetter,
    replayed_at: &str,
) -> anyhow::Result<()> {
    // The consistent-hash exchange routes on the xcs-tenant header; the key is only a label.
    publisher
        .publish(
            SHARDS_EXCHANGE,
            "replay",
            &letter.body,
            letter.replay_properties(replayed_at),
        )
        .await
        .with_context(|| format!("cannot replay event {}; it stays dead", letter.event_id))
}

/// How to purge.
#[derive(Debug, Clone)]
pub struct PurgeOptions {
    /// Remove at most this many messages (the count the operator confirmed).
    pub limit: Option<usize>,
    pub progress: ProgressBar,
    /// The dead-letter index to mark the purged events in (`None`: none to keep in step).
    pub ledger: Option<Ledger>,
    /// Who purges, as the index records it; `None` is `cli`.
    pub operator: Option<String>,
}

impl Default for PurgeOptions {
    fn default() -> Self {
        PurgeOptions {
            limit: None,
            progress: ProgressBar::hidden(),
            ledger: None,
            operator: None,
        }
    }
}

/// What a purge removed.
#[derive(Debug, Default, Serialize)]
pub struct PurgeReport {
    pub purged: Vec<DeadLetter>,
    pub kept: usize,
    pub more: bool,
    /// Why the dead-letter index could not be marked (the purge happened all the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_warning: Option<String>,
}

/// Removes the dead letters matching `filter` for good.
///
/// # Errors
/// When RabbitMQ is unreachable; what was removed before stays removed.
pub async fn purge(
    connection: &Connection,
    filter: &Filter,
    options: &PurgeOptions,
) -> anyhow::Result<PurgeReport> {
    let mut scan = Scan::open(connection).await?;
    let progress = &options.progress;
    progress.set_length(u64::from(scan.to_read));
    let mut report = PurgeReport::default();
    let result = async {
        while let Some(delivery) = scan.next().await? {
            progress.inc(1);
            let mut letter = DeadLetter::read(&delivery.properties, &delivery.data);
            if !filter.matches(&letter) {
                report.kept += 1;
                continue;
            }
            if options
                .limit
                .is_some_and(|limit| report.purged.len() >= limit)
            {
                report.kept += 1;
                break;
            }
            delivery
                .ack(BasicAckOptions::default())
                .await
                .context("cannot remove a message from the dead queue")?;
            letter.body = Vec::new();
            report.purged.push(letter);
        }
        anyhow::Ok(())
    }
    .await;
    report.more = scan.more();
    scan.close(report.purged.len()).await;
    progress.finish_and_clear();
    report.index_warning = mark_in_index(
        options.ledger.as_ref(),
        &report.purged,
        DeadState::Purged,
        options.operator.as_deref(),
    )
    .await;
    result?;
    Ok(report)
}

/// What `dead reindex` did.
#[derive(Debug, Default, Serialize)]
pub struct ReindexReport {
    /// Messages read and recorded as dead (copies of one event count once each).
    pub indexed: usize,
    /// Rows dead in the index but not in the queue, now `gone`.
    pub gone: u64,
    /// Messages in the queue when the pass started.
    pub in_queue: u32,
    /// The queue held more than one pass reads: nothing was marked gone; run again after
    /// replaying or purging some.
    pub more: bool,
}

/// Rebuilds the dead-letter index from the queue: one pass (every message stays) records
/// each message as dead; when the pass read the whole queue, the rows dead in the index that
/// it did not see (and that died before the pass started) become `gone`. Safe to run any time
/// and twice; run it after the index was lost or the ledger was down while events died.
///
/// # Errors
/// When RabbitMQ is unreachable, or the ledger refuses a statement.
pub async fn reindex(connection: &Connection, ledger: &Ledger) -> anyhow::Result<ReindexReport> {
    /// Rows recorded per statement.
    const BATCH: usize = 500;
    let started = OffsetDateTime::now_utc();
    let mut scan = Scan::open(connection).await?;
    let mut report = ReindexReport {
        in_queue: scan.in_queue,
        more: scan.more(),
        ..ReindexReport::default()
    };
    let mut seen: HashSet<String> = HashSet::new();
    let mut batch: Vec<DeadLetterRow> = Vec::with_capacity(BATCH);
    let result = async {
        while let Some(delivery) = scan.next().await? {
            let letter = DeadLetter::read(&delivery.properties, &delivery.data);
            seen.insert(letter.event_id.clone());
            batch.push(letter.index_row());
            report.indexed += 1;
            if batch.len() >= BATCH {
                ledger
                    .record_dead_letters(&batch)
                    .await
                    .context("cannot record dead letters in the index")?;
                batch.clear();
            }
        }
        ledger
            .record_dead_letters(&batch)
            .await
            .context("cannot record dead letters in the index")?;
        anyhow::Ok(())
    }
    .await;
    let read_all = scan.saw_all();
    scan.close(0).await;
    result?;
    if read_all {
        let seen: Vec<String> = seen.into_iter().collect();
        report.gone = ledger
            .mark_dead_letters_gone(&seen, started)
            .await
            .context("cannot mark the dead letters no longer in the queue")?;
    }
    Ok(report)
}

/// The order number and amount a dead letter's payload states, for the table: a light look
/// at the JSON, not the processor's normalisers, because a dead letter is often one the
/// normalisers could not read. The order is at the top level (Shopify, WooCommerce, a
/// BigCommerce or Adobe Commerce order as fetched), in `data.value` (Adobe I/O Events), `data`
/// (BigCommerce's webhook, an id only) or `notification.data` (eBay). Thin payloads give an
/// id or nothing; a refund gives its order's id, seldom an amount.
pub fn peek_order(body: &[u8]) -> (Option<String>, Option<String>) {
    use serde_json::Value;
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let scalar = |value: &Value| match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let places = [
        &json,
        &json["data"]["value"],
        &json["data"],
        &json["notification"]["data"],
    ];
    let first = |keys: &[&str]| {
        places.iter().find_map(|place| {
            keys.iter()
                .find_map(|key| scalar(&place[*key]).map(|v| (v, *place)))
        })
    };
    let order = first(&[
        "name",
        "order_number",
        "number",
        "increment_id",
        "orderId",
        "receipt_id",
    ])
    .map(|(number, _)| number)
    .or_else(|| first(&["order_id", "id", "entity_id"]).map(|(id, _)| format!("order id {id}")));
    let amount =
        first(&["total_price", "grand_total", "total_inc_tax", "total"]).map(|(amount, place)| {
            match ["currency", "order_currency_code", "currency_code"]
                .iter()
                .find_map(|key| scalar(&place[*key]))
            {
                Some(currency) => format!("{amount} {currency}"),
                None => amount,
            }
        });
    (order, amount)
}

/// The dead letters as a table: one line each, and under it the last error in full, on lines
/// of its own (an error cut short hides the part that says what to fix).
pub fn table(letters: &[DeadLetter]) -> String {
    let dash = || "-".to_owned();
    let rows: Vec<[String; 9]> = letters
        .iter()
        .map(|l| {
            [
                l.event_id.clone(),
                l.reason.clone(),
                l.dead_at.clone().unwrap_or_else(dash),
                l.attempts.map_or_else(dash, |a| a.to_string()),
                l.shop.clone().unwrap_or_else(dash),
                l.kind.clone().unwrap_or_else(dash),
                l.topic.clone().unwrap_or_else(dash),
                l.order.clone().unwrap_or_else(dash),
                l.amount.clone().unwrap_or_else(dash),
            ]
        })
        .collect();
    let titles = [
        "EVENT ID", "REASON", "DEAD AT", "ATTEMPTS", "SHOP", "KIND", "TOPIC", "ORDER", "AMOUNT",
    ];
    let mut widths = titles.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(titles.to_vec());
    for (row, letter) in rows.iter().zip(letters) {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        let error = letter.last_error.as_deref().unwrap_or("-");
        for (i, part) in error.lines().enumerate() {
            out.push_str(if i == 0 { "    error: " } else { "           " });
            out.push_str(part.trim_end());
            out.push('\n');
        }
    }
    out
}

/// What `dead replay` prints in text: the table of what was replayed and the count.
pub fn replay_text(report: &ReplayReport, dry_run: bool) -> String {
    let count = report.replayed.len();
    format!(
        "{}{} {count} event{}; {} duplicate copies {}; {} left in the dead queue{}\n",
        table(&report.replayed),
        if dry_run { "would replay" } else { "replayed" },
        if count == 1 { "" } else { "s" },
        report.duplicates,
        if dry_run { "seen" } else { "removed" },
        report.kept,
        if report.more {
            "; the queue holds more than one pass reads: run again"
        } else {
            ""
        }
    )
}

/// One dead letter in full, for `show`.
pub fn describe(letter: &DeadLetter) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let mut out = String::new();
    let mut field = |name: &str, value: String| out.push_str(&format!("{name:<18}{value}\n"));
    field("event id", letter.event_id.clone());
    field(
        "reason",
        if letter.by_broker {
            format!("{} (dead-lettered by RabbitMQ)", letter.reason)
        } else {
            letter.reason.clone()
        },
    );
    field(
        "attempts",
        letter
            .attempts
            .map_or_else(|| "-".to_owned(), |a| a.to_string()),
    );
    field("first failure at", or_dash(&letter.first_failure_at));
    field("dead at", or_dash(&letter.dead_at));
    field("replayed before", letter.replays.to_string());
    field("last error", or_dash(&letter.last_error));
    out.push_str("\nheaders\n");
    for (name, value) in &letter.headers {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!("  {name}: {value}\n"));
    }
    out.push_str("\nproperties\n");
    let properties = &letter.properties;
    let mut property = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push_str(&format!("  {name}: {value}\n"));
        }
    };
    property(
        "content_type",
        properties.content_type().as_ref().map(ToString::to_string),
    );
    property(
        "message_id",
        properties.message_id().as_ref().map(ToString::to_string),
    );
    property(
        "correlation_id",
        properties
            .correlation_id()
            .as_ref()
            .map(ToString::to_string),
    );
    property(
        "app_id",
        properties.app_id().as_ref().map(ToString::to_string),
    );
    out.push_str(&format!("\npayload ({} bytes)\n", letter.body.len()));
    out.push_str(&letter.payload_text());
    out.push('\n');
    out
}
