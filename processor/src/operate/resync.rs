//! Re-sync: after a mapping fix, a shop's events over a time range go through the processor
//! again.
//!
//! Where the events come from: the stream `xcs.archive`, bound to `xcs.events`, which keeps
//! every event the ingress published, headers and raw body, for 30 days (see
//! `xcs_shared::topology`). Not the ledger, which keeps outcomes and document ids but no
//! payloads; not the platforms' APIs, which half the platforms lack for refunds and stock, and
//! which would give today's state of an order rather than the event. A stream is read without
//! being consumed, from a point in time, by any number of readers.
//!
//! Each matching event is republished to the shards exchange with `xcs-resync` set. The
//! processor then handles it as any delivery, except that an event its ledger recorded as
//! *skipped* (a kind the shop did not sync then) is looked at again. Booked events are not:
//! the ledger, deterministic document numbers and the adopt-on-"must be unique" rule keep them
//! booked exactly once.
//!
//! The end of the stream: AMQP has no "end of stream" signal, so the re-sync first appends a
//! marker of its own to the archive (through the default exchange, so it reaches nothing
//! else) and reads until it meets it.

use std::collections::HashSet;
use std::time::Duration;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use indicatif::ProgressBar;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Connection};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::envelope::header as envelope;
use xcs_shared::topology::{ARCHIVE_QUEUE, SHARDS_EXCHANGE};
use xcs_shared::{EventKind, Platform};

use crate::publisher::{Republisher, header_str, now_rfc3339, rewrite_headers, text};

/// Headers of a re-sync.
pub mod header {
    /// On a republished event: `true`; the processor looks again at events it skipped.
    pub use crate::publisher::RESYNC;
    /// RFC 3339 time of the re-sync.
    pub const RESYNC_AT: &str = "xcs-resync-at";
    /// On the marker a re-sync appends to the archive to know where the stream ends.
    pub const MARKER: &str = "xcs-archive-marker";
}

/// How far before `--from` reading starts: the stream's own clock (the broker's) and the
/// ingress's `xcs-received-at` may differ a little, and a timestamp offset starts at a chunk.
const CLOCK_SLACK: Duration = Duration::from_secs(300);
/// Stream reads are credit-based; this many events in flight.
const PREFETCH: u16 = 500;
/// A stream consumer gets no end signal; once the marker was appended, a silence this long
/// means the broker stopped delivering, which is reported rather than taken for the end.
const STALL: Duration = Duration::from_secs(30);

/// What to re-sync.
#[derive(Debug, Clone)]
pub struct ResyncOptions {
    /// The shop (its name in the config).
    pub shop: String,
    /// Events the ingress received at or after this time...
    pub from: OffsetDateTime,
    /// ...and before this time.
    pub to: OffsetDateTime,
    /// Only this kind.
    pub kind: Option<EventKind>,
    /// Only this platform (a shop name is unique per platform, not across them).
    pub platform: Option<Platform>,
    /// Report what would be republished; publish nothing.
    pub dry_run: bool,
    pub progress: ProgressBar,
}

/// What a re-sync did.
#[derive(Debug, Default, Serialize)]
pub struct ResyncReport {
    /// Archive messages read.
    pub read: u64,
    /// Event ids republished (or, in a dry run, that would be), in archive order, each once.
    pub republished: Vec<String>,
    /// When the oldest event read was received: later than `from` means the archive no longer
    /// reaches back that far (retention), and older events cannot be re-synced from it.
    pub first_received_at: Option<String>,
}

/// Re-syncs the shop's events in `[from, to)` from the archive.
///
/// # Errors
/// When RabbitMQ is unreachable, the archive stream is missing, or a copy is not confirmed
/// (events republished before stay republished; running again is harmless).
pub async fn resync(
    connection: &Connection,
    options: &ResyncOptions,
) -> anyhow::Result<ResyncReport> {
    anyhow::ensure!(options.from < options.to, "--from must be before --to");
    let mut archive = ArchiveReader::open(connection, options.from, "resync").await?;
    let stamp = now_rfc3339();
    let progress = &options.progress;
    let mut report = ResyncReport::default();
    let mut seen = HashSet::new();
    let result = async {
        while let Some((delivery, received)) = archive.next(options.to).await? {
            report.read += 1;
            progress.inc(1);
            let headers = delivery.properties.headers().as_ref();
            if report.first_received_at.is_none() {
                report.first_received_at = received.format(&Rfc3339).ok();
            }
            let matches = received >= options.from
                && received < options.to
                && header_str(headers, envelope::SHOP).as_deref() == Some(options.shop.as_str())
                && options.kind.is_none_or(|kind| {
                    header_str(headers, envelope::KIND).as_deref() == Some(kind.as_str())
                })
                && options.platform.is_none_or(|platform| {
                    header_str(headers, envelope::PLATFORM).as_deref() == Some(platform.as_str())
                });
            let Some(event_id) = header_str(headers, envelope::EVENT_ID).filter(|_| matches) else {
                continue;
            };
            // A platform's retries of one delivery share the event id; once is enough.
            if !seen.insert(event_id.clone()) {
                continue;
            }
            if !options.dry_run {
                let properties = delivery.properties.clone().with_headers(rewrite_headers(
                    headers,
                    |name| name == "x-stream-offset",
                    vec![
                        (header::RESYNC, text("true")),
                        (header::RESYNC_AT, text(&stamp)),
                    ],
                ));
                archive
                    .publisher
                    .publish(SHARDS_EXCHANGE, "resync", &delivery.data, properties)
                    .await
                    .with_context(|| format!("cannot republish event {event_id}"))?;
            }
            progress.set_message(event_id.clone());
            report.republished.push(event_id);
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    archive.close().await;
    progress.finish_and_clear();
    result?;
    Ok(report)
}

/// Reads the archive from a little before a time up to its end as it was when reading
/// started: it appends a marker of its own first and stops when it meets it (AMQP has no end
/// of stream), or once events are past the end of the range.
pub(crate) struct ArchiveReader {
    /// Publishes with confirms, for readers that republish what they read.
    pub publisher: Republisher,
    channel: lapin::Channel,
    consumer: lapin::Consumer,
    marker: String,
}

impl ArchiveReader {
    /// # Errors
    /// When RabbitMQ is unreachable or the archive stream is missing.
    pub(crate) async fn open(
        connection: &Connection,
        from: OffsetDateTime,
        reader: &str,
    ) -> anyhow::Result<Self> {
        let publisher = Republisher::open(connection).await?;
        let marker = uuid::Uuid::now_v7().to_string();
        publisher
            .publish(
                "",
                ARCHIVE_QUEUE,
                b"",
                BasicProperties::default().with_headers(rewrite_headers(
                    None,
                    |_| false,
                    vec![(header::MARKER, text(&marker))],
                )),
            )
            .await
            .with_context(|| {
                format!("cannot reach the archive stream {ARCHIVE_QUEUE}; {reader} needs it")
            })?;
        let channel = connection
            .create_channel()
            .await
            .context("cannot open a channel to RabbitMQ")?;
        channel
            .basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .context("cannot set the prefetch")?;
        let mut arguments = FieldTable::default();
        let start = from - CLOCK_SLACK;
        arguments.insert(
            ShortString::from("x-stream-offset"),
            AMQPValue::Timestamp(u64::try_from(start.unix_timestamp()).unwrap_or(0)),
        );
        let consumer = channel
            .basic_consume(
                ARCHIVE_QUEUE.into(),
                format!("xcs-{reader}-{marker}").as_str().into(),
                BasicConsumeOptions::default(),
                arguments,
            )
            .await
            .with_context(|| format!("cannot read the archive stream {ARCHIVE_QUEUE}"))?;
        Ok(ArchiveReader {
            publisher,
            channel,
            consumer,
            marker,
        })
    }

    /// The next archived event and when the ingress received it; `None` at the marker or once
    /// events are past `to` (with room for clock differences). Other readers' markers and
    /// messages without a receipt time are passed over.
    ///
    /// # Errors
    /// When the connection fails or the archive stops delivering before its end (running
    /// again is harmless: republishing twice books nothing twice).
    pub(crate) async fn next(
        &mut self,
        to: OffsetDateTime,
    ) -> anyhow::Result<Option<(lapin::message::Delivery, OffsetDateTime)>> {
        loop {
            let delivery = match tokio::time::timeout(STALL, self.consumer.next()).await {
                Ok(Some(delivery)) => delivery.context("the connection to RabbitMQ failed")?,
                Ok(None) => anyhow::bail!("RabbitMQ cancelled the archive reader; run again"),
                Err(_) => anyhow::bail!(
                    "the archive stopped delivering before its end ({STALL:?} without a \
                     message); run again"
                ),
            };
            // Stream deliveries are acknowledged only to grant credit; nothing is removed.
            delivery
                .ack(BasicAckOptions::default())
                .await
                .context("cannot acknowledge an archive message")?;
            let headers = delivery.properties.headers().as_ref();
            if header_str(headers, header::MARKER).as_deref() == Some(self.marker.as_str()) {
                return Ok(None);
            }
            let Some(received) = header_str(headers, envelope::RECEIVED_AT)
                .and_then(|at| OffsetDateTime::parse(&at, &Rfc3339).ok())
            else {
                continue;
            };
            if received >= to + CLOCK_SLACK {
                return Ok(None);
            }
            return Ok(Some((delivery, received)));
        }
    }

    pub(crate) async fn close(self) {
        let _ = self.channel.close(200, "archive read".into()).await;
        self.publisher.close().await;
    }
}
