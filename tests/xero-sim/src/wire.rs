//! Xero's JSON wire conventions: `/Date(ms+0000)/` dates with a `DateString` twin, money printed
//! with its scale (`40.00`), the response envelope, and the parsing of request values.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::money::round_dp;

/// Marks a decimal inside a `serde_json::Value` so [`render`] can print it as a bare JSON
/// number with its exact scale. serde_json (without `arbitrary_precision`, which would change
/// number handling for the whole workspace) can only hold f64, which prints `40.0`.
const NUMBER_MARK: char = '\u{1}';

/// A decimal printed with exactly `dp` places, e.g. money at 2, quantities at 4.
pub fn number(value: Decimal, dp: u32) -> Value {
    Value::String(format!("{NUMBER_MARK}{}{NUMBER_MARK}", round_dp(value, dp)))
}

/// Money: 2 decimal places.
pub fn money(value: Decimal) -> Value {
    number(value, 2)
}

/// Serialises a value built with [`number`] into JSON text, unwrapping the marked decimals.
pub fn render(value: &Value) -> String {
    let text = serde_json::to_string(value).expect("a serde_json::Value always serialises");
    let open = "\"\\u0001";
    let close = "\\u0001\"";
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find(open) {
        let after = &rest[start + open.len()..];
        match after.find(close) {
            Some(end) if is_plain_number(&after[..end]) => {
                out.push_str(&rest[..start]);
                out.push_str(&after[..end]);
                rest = &after[end + close.len()..];
            }
            _ => {
                out.push_str(&rest[..start + open.len()]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_plain_number(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
}

/// Reads a decimal that was stored with [`number`] (or a plain JSON number) back out of a value,
/// for `where` comparisons.
pub fn marked_decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::String(s) if s.starts_with(NUMBER_MARK) => s.trim_matches(NUMBER_MARK).parse().ok(),
        Value::Number(n) => parse_decimal_text(&n.to_string()),
        _ => None,
    }
}

/// `/Date(1552262400000+0000)/`, the form used for document dates and `UpdatedDateUTC`.
pub fn ms_date(t: OffsetDateTime) -> String {
    format!("/Date({}+0000)/", unix_millis(t))
}

/// `/Date(1552326816230)/`, the envelope's `DateTimeUTC` form (no offset).
pub fn envelope_date(t: OffsetDateTime) -> String {
    format!("/Date({})/", unix_millis(t))
}

fn unix_millis(t: OffsetDateTime) -> i128 {
    t.unix_timestamp_nanos() / 1_000_000
}

/// A calendar date as `/Date(...)/` at midnight UTC.
pub fn date_ms(d: Date) -> String {
    ms_date(d.midnight().assume_utc())
}

/// A calendar date as Xero's `DateString`, `2019-03-11T00:00:00`.
pub fn date_string(d: Date) -> String {
    let fmt = format_description!("[year]-[month]-[day]T00:00:00");
    d.format(&fmt).expect("a date always formats")
}

/// An RFC 3339 time, for the journal and admin answers.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .expect("a UTC time always formats as RFC 3339")
}

/// Parses a request date: `2019-03-11`, `2019-03-11T00:00:00` (optionally with a zone), or
/// `/Date(1552262400000+0000)/`. Returns `None` for anything else.
pub fn parse_date(value: &Value) -> Option<Date> {
    let text = value.as_str()?.trim();
    if let Some(t) = parse_ms_date(text) {
        return Some(t.date());
    }
    parse_datetime(text).map(|t| t.date())
}

/// Parses a date-time the way Xero reads `If-Modified-Since` and request dates: ISO 8601 with or
/// without a zone (no zone means UTC), a bare date, or an RFC 2822 HTTP date.
pub fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    let text = text.trim();
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    let with_fraction =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    let plain = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    {
        let candidate = text.trim_end_matches('Z');
        if let Ok(t) = PrimitiveDateTime::parse(candidate, &with_fraction) {
            return Some(t.assume_utc());
        }
        if let Ok(t) = PrimitiveDateTime::parse(candidate, &plain) {
            return Some(t.assume_utc());
        }
    }
    if let Ok(d) = Date::parse(text, format_description!("[year]-[month]-[day]")) {
        return Some(d.midnight().assume_utc());
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc2822) {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    // HTTP dates say "GMT", which RFC 2822 parsing in `time` does not accept.
    if let Some(stripped) = text.strip_suffix(" GMT")
        && let Ok(t) = OffsetDateTime::parse(&format!("{stripped} +0000"), &Rfc2822)
    {
        return Some(t.to_offset(UtcOffset::UTC));
    }
    None
}

/// Parses `/Date(1552262400000+0000)/` into a time (for `UpdatedDateUTC` comparisons).
pub fn parse_date_time_ms(text: &str) -> Option<OffsetDateTime> {
    parse_ms_date(text)
}

fn parse_ms_date(text: &str) -> Option<OffsetDateTime> {
    let inner = text.strip_prefix("/Date(")?.strip_suffix(")/")?;
    let digits_end = inner
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map_or(inner.len(), |(i, _)| i);
    let millis: i128 = inner[..digits_end].parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()
}

/// Reads a decimal from a request value. Xero takes JSON numbers; numeric strings are accepted
/// too because Xero's .NET deserialiser does. `Err` means "present but not a number".
pub fn parse_decimal(value: &Value) -> Option<Result<Decimal, ()>> {
    match value {
        Value::Null => None,
        Value::Number(n) => Some(parse_decimal_text(&n.to_string()).ok_or(())),
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(parse_decimal_text(s.trim()).ok_or(())),
        _ => Some(Err(())),
    }
}

fn parse_decimal_text(text: &str) -> Option<Decimal> {
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// A string field, `None` when absent, null or empty.
pub fn opt_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A boolean field that may come as `true` or `"true"`.
pub fn opt_bool(obj: &Map<String, Value>, key: &str) -> Option<bool> {
    match obj.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse::<bool>().ok(),
        _ => None,
    }
}

/// Xero's response envelope around a named collection.
pub fn envelope(now: OffsetDateTime, collection: &str, items: Vec<Value>) -> Value {
    let mut body = envelope_head(now);
    body.insert(collection.to_owned(), Value::Array(items));
    Value::Object(body)
}

/// The envelope fields without a collection, for answers that add more (e.g. `pagination`).
pub fn envelope_head(now: OffsetDateTime) -> Map<String, Value> {
    let head = json!({
        "Id": uuid::Uuid::new_v4(),
        "Status": "OK",
        "ProviderName": "Xero Commerce Sync (xero-sim)",
        "DateTimeUTC": envelope_date(now),
    });
    match head {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn dates_print_as_xero_prints_them() {
        assert_eq!(date_ms(date!(2019 - 03 - 11)), "/Date(1552262400000+0000)/");
        assert_eq!(date_string(date!(2019 - 03 - 11)), "2019-03-11T00:00:00");
        assert_eq!(
            envelope_date(datetime!(2019-03-11 18:33:36.230 UTC)),
            "/Date(1552329216230)/"
        );
    }

    #[test]
    fn request_dates_are_read_in_every_form_xero_accepts() {
        for text in [
            "2019-03-11",
            "2019-03-11T00:00:00",
            "2019-03-11T00:00:00Z",
            "/Date(1552262400000+0000)/",
        ] {
            assert_eq!(
                parse_date(&json!(text)),
                Some(date!(2019 - 03 - 11)),
                "{text}"
            );
        }
        assert_eq!(parse_date(&json!("11/03/2019")), None);
    }

    #[test]
    fn money_renders_with_its_scale() {
        let value = json!({"Total": money("40".parse().unwrap())});
        assert_eq!(render(&value), r#"{"Total":40.00}"#);
        assert_eq!(render(&json!("x\u{1}")), r#""x\u0001""#);
    }
}
