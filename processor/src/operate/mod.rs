//! Operators' tools: the dead-letter queue ([`dead`]: list, show, replay, purge), re-sync
//! of a shop's past events from the archive stream ([`resync`]), and where each shop stands
//! ([`status`]). [`cli`] is their command line;
//! `main` only dispatches to it.
//!
//! Everything here republishes through [`crate::publisher::Republisher`] (publisher confirms
//! and `mandatory`), and removes or acknowledges a source message only after the broker
//! confirmed its copy: interrupted at any point, a tool leaves a duplicate at worst, and the
//! processor dedupes by event id. The tools use the pipeline's pieces (the publisher, the
//! header helpers, the ledger); the pipeline uses nothing from here.

pub mod cli;
pub mod dead;
pub mod resync;
pub mod status;

use std::io::IsTerminal as _;

/// What the tools report progress on; [`ProgressBar::hidden`] for none.
pub use indicatif::ProgressBar;
use indicatif::{ProgressDrawTarget, ProgressStyle};
use lapin::types::AMQPValue;
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
