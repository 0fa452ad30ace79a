//! The Xero Accounting API as the processor uses it: one client ([`client`]: auth, limits,
//! errors), the documents both writers create, adopt, pay and allocate ([`documents`]), the
//! values put into filters ([`filter`]), the OAuth scopes each call needs ([`scopes`]), and the
//! request and response types ([`types`]).

pub mod client;
pub mod documents;
pub mod filter;
pub mod scopes;
pub mod types;

/// A Xero date as `YYYY-MM-DD`, from either form Xero prints: MS-JSON `/Date(1552262400000+0000)/`
/// (the only date a payment has: payments carry `Date`, not `DateString`) or ISO
/// `2019-03-11T00:00:00`.
pub fn date_text(value: &serde_json::Value) -> String {
    let Some(text) = value.as_str() else {
        return String::new();
    };
    let Some(inner) = text
        .strip_prefix("/Date(")
        .and_then(|rest| rest.strip_suffix(")/"))
    else {
        return text.get(..10).unwrap_or(text).to_owned();
    };
    // The offset after the milliseconds says which zone printed it; the instant is UTC.
    let millis = inner
        .find(['+', '-'])
        .filter(|at| *at > 0)
        .map_or(inner, |at| &inner[..at]);
    millis
        .parse::<i64>()
        .ok()
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok())
        .map(|at| at.date().to_string())
        .unwrap_or_else(|| text.to_owned())
}
