//! Putting copies of messages on an exchange, for the pipeline ([`crate::handoff`]: retry
//! tiers and the dead queue) and the operators' tools alike: a confirm channel that publishes
//! with `mandatory` and reads the broker's answer ([`Republisher`]), and the AMQP header
//! helpers both read and write events with, including the re-sync mark ([`is_resync`]).

use std::collections::BTreeMap;

use anyhow::Context as _;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A channel in confirm mode that republishes with `mandatory` and waits for each confirm.
pub struct Republisher {
    channel: Channel,
}

impl Republisher {
    /// # Errors
    /// When the channel cannot be opened.
    pub async fn open(connection: &Connection) -> anyhow::Result<Self> {
        let channel = connection
            .create_channel()
            .await
            .context("cannot open a channel to RabbitMQ")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("cannot put the channel in confirm mode")?;
        Ok(Republisher { channel })
    }

    /// Publishes and waits for the broker's confirm. A returned message (no queue bound) is a
    /// failure, even though the broker then acks it.
    ///
    /// # Errors
    /// When the broker did not confirm, refused, or could not route the message.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: BasicProperties,
    ) -> anyhow::Result<()> {
        let confirmation = self
            .channel
            .basic_publish(
                exchange.into(),
                routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
            .with_context(|| format!("cannot publish to {exchange}"))?
            .await
            .with_context(|| format!("{exchange} did not confirm the message"))?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => anyhow::bail!(
                "{exchange} could not route the message ({} {}); import \
                 deploy/rabbitmq/definitions.json into this vhost",
                returned.reply_code,
                returned.reply_text
            ),
            Confirmation::Nack(_) => anyhow::bail!(
                "{exchange} refused the message (nack: a queue is full or failing); try again \
                 when the shards have drained"
            ),
            Confirmation::NotRequested => anyhow::bail!("the channel lost confirm mode"),
        }
    }

    pub async fn close(self) {
        let _ = self.channel.close(200, "done".into()).await;
    }
}

/// Now, in RFC 3339 UTC with the fraction of a second (so two runs get distinct stamps).
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .expect("a current UTC time formats as RFC 3339")
}

/// A string header (`LongString` or `ShortString`).
pub fn header_str(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    match headers?.inner().get(name)? {
        AMQPValue::LongString(s) => Some(String::from_utf8_lossy(s.as_bytes()).into_owned()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// A counter header, whether it was written as a number or as a string.
pub fn header_count(headers: Option<&FieldTable>, name: &str) -> Option<u32> {
    match headers?.inner().get(name)? {
        AMQPValue::LongLongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongUInt(n) => Some(*n),
        AMQPValue::ShortInt(n) => u32::try_from(*n).ok(),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

/// `headers` without the names `drop` says to drop, plus `set`.
pub fn rewrite_headers(
    headers: Option<&FieldTable>,
    drop: impl Fn(&str) -> bool,
    set: Vec<(&str, AMQPValue)>,
) -> FieldTable {
    let mut table: BTreeMap<ShortString, AMQPValue> = headers
        .map(|h| {
            h.inner()
                .iter()
                .filter(|(name, _)| !drop(name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect()
        })
        .unwrap_or_default();
    for (name, value) in set {
        table.insert(ShortString::from(name), value);
    }
    FieldTable::from(table)
}

/// A `LongString` header value.
pub fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value))
}

/// How often an event was replayed from the dead queue (`xcs-processor dead replay`), which
/// resets its failed attempts: the processor tells a replay's writes from its first attempt's
/// by it (`crate::consumer`).
pub const REPLAYS: &str = "xcs-replays";

/// On an event a re-sync republished (`xcs-processor resync`): `true`; the processor looks
/// again at events it skipped.
pub const RESYNC: &str = "xcs-resync";

/// Whether a delivery is a re-sync's republished event.
pub fn is_resync(headers: Option<&FieldTable>) -> bool {
    header_str(headers, RESYNC).as_deref() == Some("true")
}
