//! Operators' tools: the dead-letter queue ([`dead`]: list, show, replay, purge) and re-sync
//! of a shop's past events from the archive stream ([`resync`]). [`cli`] is their command line;
//! `main` only dispatches to it.
//!
//! Everything here republishes with publisher confirms and `mandatory`, and removes or
//! acknowledges a source message only after the broker confirmed its copy: interrupted at any
//! point, a tool leaves a duplicate at worst, and the processor dedupes by event id.

pub mod cli;
pub mod dead;
pub mod resync;

use std::collections::BTreeMap;
use std::io::IsTerminal as _;

use anyhow::Context as _;
/// What the tools report progress on; [`ProgressBar::hidden`] for none.
pub use indicatif::ProgressBar;
use indicatif::{ProgressDrawTarget, ProgressStyle};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// A progress bar on stderr, hidden when stderr is not a terminal (logs, pipes, CI), so the
/// tools' stdout stays clean for `jq` and scripts.
pub fn progress_bar(length: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match length {
        Some(length) => ProgressBar::with_draw_target(Some(length), ProgressDrawTarget::stderr())
            .with_style(
                ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
                    .expect("a valid template")
                    .progress_chars("=> "),
            ),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
            ProgressStyle::with_template("{msg} {pos} read ({elapsed})").expect("a valid template"),
        ),
    };
    bar.with_message(what.to_owned())
}

/// Reads a time given on the command line: RFC 3339 (`2026-11-20T09:00:00Z`,
/// `2026-11-20T09:00:00+13:00`) or a date, taken as midnight UTC.
///
/// # Errors
/// A message saying which forms are accepted.
pub fn parse_time(text: &str) -> Result<OffsetDateTime, String> {
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Ok(at);
    }
    let date_format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &date_format)
        .map(|date| date.midnight().assume_utc())
        .map_err(|_| {
            format!(
                "{text:?} is not a time; write RFC 3339 (2026-11-20T09:00:00Z) or a date (2026-11-20)"
            )
        })
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

/// An AMQP value as JSON, for `show` and `--format json`.
pub fn to_json(value: &AMQPValue) -> serde_json::Value {
    use serde_json::{Value, json};
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => json!(format!("{d:?}")),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => json!(String::from_utf8_lossy(s.as_bytes())),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(to_json).collect()),
        AMQPValue::Timestamp(t) => i64::try_from(*t)
            .ok()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
            .and_then(|t| t.format(&Rfc3339).ok())
            .map_or_else(|| json!(t), Value::String),
        AMQPValue::FieldTable(t) => Value::Object(
            t.inner()
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        AMQPValue::ByteArray(b) => json!(hex::encode(b.as_slice())),
        AMQPValue::Void => Value::Null,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_dates() {
        assert_eq!(
            parse_time("2026-11-20").unwrap(),
            time::macros::datetime!(2026-11-20 0:00 UTC)
        );
        assert_eq!(
            parse_time("2026-11-20T09:00:00+13:00").unwrap(),
            time::macros::datetime!(2026-11-19 20:00 UTC)
        );
        assert!(parse_time("yesterday").unwrap_err().contains("RFC 3339"));
    }
}
