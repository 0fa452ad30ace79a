//! Each platform's JSON documents into the shared domain model ([`xcs_shared::domain`]).
//!
//! Normalisers are pure functions over the bytes the ingress published (or the resources the
//! processor fetched for thin platforms): no I/O, no clock, no configuration, so every rule is
//! tested to the cent against fixtures. What they promise:
//!
//! - **The platform's own figures.** Prices, discounts, taxes and totals are copied (summed
//!   where the platform splits them, never recomputed from rates), parsed straight from the
//!   JSON text into [`Decimal`] without going through `f64`, whether the platform sent a string
//!   (`"199.00"`) or a number (`189.0`). [`Order::total`] and [`Refund::total`] are what the
//!   platform says the customer was charged or credited; [`lines_total`] is what the lines add
//!   up to. When the platform's own figures do not add up, the lines stay as the platform gave
//!   them and the difference is left for the mapping to judge (a rounding line or an error),
//!   never absorbed into a line here.
//! - **One tax basis per document.** Every amount on a line is on the document's [`TaxMode`];
//!   [`Line::tax`] is the tax the platform charged on that line after its discount.
//! - **Discounts where the platform put them.** A discount the platform allocated to a line is
//!   that line's [`Line::discount`]; only what it did not allocate becomes a
//!   [`LineKind::Discount`] line. A discount line holds positive amounts (unit price *and*
//!   tax), which reduce the document; [`lines_total`] and the mapping subtract it.
//! - **Refund lines are positive** (what is credited). An adjustment that credits the customer
//!   is a positive [`LineKind::Adjustment`]; a fee the seller keeps (a restocking fee) is a
//!   negative one.
//! - **Gift cards:** sold, a [`LineKind::GiftCardSale`] line; redeemed, a
//!   [`PaymentMethod::GiftCard`] payment, never a discount. Store credit is paid out of a
//!   customer liability just like a gift card, so it is booked the same way.
//! - **Dates** are the calendar date the platform stamped: at the timestamp's own offset when
//!   it has one (the shop's local date on Shopify), in UTC for platforms that only give UTC.
//! - **Currency** is the one the customer paid in, where the platform distinguishes it from
//!   the shop's (each platform module says which field that is).
//!
//! Every [`NormaliseError`] is permanent: it describes the payload, which a retry would deliver
//! unchanged, so the event belongs in the dead-letter queue with the message, for an operator
//! to fix the subscription, the hydration or this code and replay it.
//!
//! # Layout
//! Each platform's normaliser is in its folder, `crate::platforms::<platform>::normalise`; this
//! module is what they are built from. [`OrderContext`] is what a refund needs from its booked
//! order;
//! [`lines_total`] and [`lines_tax`] add a document's lines up the way the mapping does. The
//! private helpers walk JSON with the path of every field at hand, so that an error names
//! exactly what is missing or unparseable.

pub mod checks;

use std::fmt;

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::{Rfc2822, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime};
use xcs_shared::Platform;
use xcs_shared::domain::{Currency, Customer, Line, LineKind, Order, TaxMode};

pub use checks::{check_order, check_refund, clean_order, clean_refund, clean_stock};

#[cfg(doc)]
use xcs_shared::domain::{PaymentMethod, Refund};

/// What a refund needs from the order it belongs to, which was normalised (and booked)
/// before: refunds are credited in the order's currency and on its tax basis, under its
/// number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderContext {
    /// The order's number as booked ([`Order::number`]).
    pub number: String,
    pub currency: Currency,
    pub tax_mode: TaxMode,
}

impl From<&Order> for OrderContext {
    fn from(order: &Order) -> Self {
        OrderContext {
            number: order.number.clone(),
            currency: order.currency.clone(),
            tax_mode: order.tax_mode,
        }
    }
}

/// A payload that cannot be normalised. Always permanent: the same bytes fail the same way.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NormaliseError {
    /// The body is not JSON at all.
    #[error("{platform} {document}: the body is not JSON ({source})")]
    NotJson {
        platform: Platform,
        document: String,
        #[source]
        source: serde_json::Error,
    },
    /// A field the document needs is absent or null.
    #[error("{platform} {document}: `{field}` is missing{hint}", hint = missing_hint(*.platform))]
    Missing {
        platform: Platform,
        document: String,
        field: String,
    },
    /// A field is present but cannot be read as what it must be.
    #[error("{platform} {document}: `{field}` is {value}, not {expected}")]
    Invalid {
        platform: Platform,
        document: String,
        field: String,
        /// The JSON as received (shortened).
        value: String,
        expected: &'static str,
    },
    /// A currency code that is not ISO 4217.
    #[error("{platform} {document}: `{field}` is {value:?}, not an ISO 4217 currency code")]
    Currency {
        platform: Platform,
        document: String,
        field: String,
        value: String,
    },
    /// Fields that are each readable but contradict each other (two currencies in one order).
    #[error("{platform} {document}: {message}")]
    Inconsistent {
        platform: Platform,
        document: String,
        message: String,
    },
    /// A document that reads fine but cannot be a real sale or refund (a negative quantity, a
    /// date decades away); see [`checks`].
    #[error("{platform} {document}: {message}")]
    Implausible {
        platform: Platform,
        document: String,
        message: String,
    },
}

impl NormaliseError {
    /// Always true: retrying delivers the same payload, which fails the same way.
    pub fn is_permanent(&self) -> bool {
        true
    }

    pub fn platform(&self) -> Platform {
        match self {
            NormaliseError::NotJson { platform, .. }
            | NormaliseError::Missing { platform, .. }
            | NormaliseError::Invalid { platform, .. }
            | NormaliseError::Currency { platform, .. }
            | NormaliseError::Inconsistent { platform, .. }
            | NormaliseError::Implausible { platform, .. } => *platform,
        }
    }
}

/// What an operator can do about a missing field, by platform.
fn missing_hint(platform: Platform) -> &'static str {
    match platform {
        Platform::Magento => {
            " (Adobe I/O Events sends only the fields subscribed for the event: add it to the \
             event's fields in io_events.xml or `events:subscribe --fields`, then replay)"
        }
        Platform::BigCommerce | Platform::Etsy | Platform::Ebay => {
            " (this platform's webhooks are thin: check that the processor fetched the full \
             resource from the platform's API)"
        }
        Platform::Shopify | Platform::WooCommerce => {
            " (check the webhook's API version: older and newer versions name fields differently)"
        }
    }
}

/// What the lines of a document add up to, the way the mapping books them: each line's net
/// amount, plus its tax when prices exclude tax; discount lines subtract. Unrounded.
pub fn lines_total(lines: &[Line], tax_mode: TaxMode) -> Decimal {
    lines
        .iter()
        .map(|line| {
            let amount = match tax_mode {
                TaxMode::Exclusive => line.net_amount() + line.tax,
                TaxMode::Inclusive => line.net_amount(),
            };
            if line.kind == LineKind::Discount {
                -amount
            } else {
                amount
            }
        })
        .sum()
}

/// The tax the lines of a document carry: discount lines' tax subtracts.
pub fn lines_tax(lines: &[Line]) -> Decimal {
    lines
        .iter()
        .map(|line| {
            if line.kind == LineKind::Discount {
                -line.tax
            } else {
                line.tax
            }
        })
        .sum()
}

// ---------------------------------------------------------------------------------------------
// Walking JSON with paths.

/// The document being normalised, for error messages: `shopify order 450789469`.
pub(crate) struct Ctx {
    platform: Platform,
    document: String,
}

impl Ctx {
    pub(crate) fn new(platform: Platform, document: impl Into<String>) -> Self {
        Ctx {
            platform,
            document: document.into(),
        }
    }

    /// Readable, but no real sale or refund (see [`checks`]).
    pub(crate) fn implausible(&self, message: impl Into<String>) -> NormaliseError {
        NormaliseError::Implausible {
            platform: self.platform,
            document: self.document.clone(),
            message: message.into(),
        }
    }

    pub(crate) fn inconsistent(&self, message: impl Into<String>) -> NormaliseError {
        NormaliseError::Inconsistent {
            platform: self.platform,
            document: self.document.clone(),
            message: message.into(),
        }
    }
}

/// Parses a body into JSON, or says it is not JSON.
pub(crate) fn parse_json(
    platform: Platform,
    document: &str,
    body: &[u8],
) -> Result<Value, NormaliseError> {
    serde_json::from_slice(body).map_err(|source| NormaliseError::NotJson {
        platform,
        document: document.to_owned(),
        source,
    })
}

/// A REST `GET` answers `{"order": {...}}` where the webhook sends the bare object; accept both
/// so a hydrated resource normalises the same as a delivered one.
pub(crate) fn unwrap_resource(value: Value, keys: &[&str]) -> Value {
    match value {
        Value::Object(mut map)
            if map.len() == 1
                && keys
                    .iter()
                    .any(|k| map.get(*k).is_some_and(Value::is_object)) =>
        {
            let key = keys
                .iter()
                .find(|k| map.contains_key(**k))
                .copied()
                .unwrap_or_default();
            map.remove(key).unwrap_or_default()
        }
        other => other,
    }
}

/// A JSON value with the path it was reached by.
#[derive(Clone)]
pub(crate) struct Node<'a> {
    ctx: &'a Ctx,
    value: &'a Value,
    path: String,
}

impl<'a> Node<'a> {
    /// The document's top level, which must be an object.
    pub(crate) fn root(ctx: &'a Ctx, value: &'a Value) -> Result<Self, NormaliseError> {
        let node = Node {
            ctx,
            value,
            path: String::new(),
        };
        if value.is_object() {
            Ok(node)
        } else {
            Err(node.invalid("a JSON object"))
        }
    }

    pub(crate) fn ctx(&self) -> &'a Ctx {
        self.ctx
    }

    pub(crate) fn value(&self) -> &'a Value {
        self.value
    }

    /// A document whose top level is an array (a list endpoint's answer).
    pub(crate) fn array_root(ctx: &'a Ctx, value: &'a Value) -> Self {
        Node::nested(ctx, value, "")
    }

    /// A value found inside an envelope, named by its path there (`data.value`).
    pub(crate) fn nested(ctx: &'a Ctx, value: &'a Value, path: &str) -> Self {
        Node {
            ctx,
            value,
            path: path.to_owned(),
        }
    }

    fn child(&self, key: &str, value: &'a Value) -> Node<'a> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        };
        Node {
            ctx: self.ctx,
            value,
            path,
        }
    }

    /// The field, unless it is absent or null.
    pub(crate) fn get(&self, key: &str) -> Option<Node<'a>> {
        match self.value.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => Some(self.child(key, value)),
        }
    }

    /// Whether the field is present (even as null).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.value.get(key).is_some()
    }

    /// The field, which must be present and not null.
    pub(crate) fn field(&self, key: &str) -> Result<Node<'a>, NormaliseError> {
        self.get(key).ok_or_else(|| self.missing(key))
    }

    /// This value's elements; it must be an array.
    pub(crate) fn items(&self) -> Result<Vec<Node<'a>>, NormaliseError> {
        let array = self
            .value
            .as_array()
            .ok_or_else(|| self.invalid("an array"))?;
        Ok(array
            .iter()
            .enumerate()
            .map(|(i, value)| Node {
                ctx: self.ctx,
                value,
                path: format!("{}[{i}]", self.path),
            })
            .collect())
    }

    /// The elements of an array field; absent or null reads as empty.
    pub(crate) fn list(&self, key: &str) -> Result<Vec<Node<'a>>, NormaliseError> {
        match self.get(key) {
            Some(node) => node.items(),
            None => Ok(Vec::new()),
        }
    }

    /// A money or quantity value, from a JSON string or number, exactly. At most
    /// [`checks::MAX_AMOUNT`] in magnitude with [`checks::MAX_SCALE`] decimals, so that no
    /// arithmetic on it can overflow.
    pub(crate) fn decimal(&self) -> Result<Decimal, NormaliseError> {
        let parsed = match self.value {
            Value::String(text) => parse_decimal(text),
            Value::Number(number) => parse_decimal(&number.to_string()),
            _ => None,
        };
        let parsed = parsed.ok_or_else(|| self.invalid("a decimal amount"))?;
        if parsed.abs() > checks::MAX_AMOUNT || parsed.normalize().scale() > checks::MAX_SCALE {
            return Err(
                self.invalid("a decimal amount of at most 10^12 with at most 10 decimal places")
            );
        }
        Ok(parsed)
    }

    pub(crate) fn dec(&self, key: &str) -> Result<Decimal, NormaliseError> {
        self.field(key)?.decimal()
    }

    /// An optional amount: absent, null and `""` (WooCommerce's empty price) read as `None`.
    pub(crate) fn opt_dec(&self, key: &str) -> Result<Option<Decimal>, NormaliseError> {
        match self.get(key) {
            Some(node) if node.value.as_str().is_some_and(|s| s.trim().is_empty()) => Ok(None),
            Some(node) => node.decimal().map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn dec_or_zero(&self, key: &str) -> Result<Decimal, NormaliseError> {
        Ok(self.opt_dec(key)?.unwrap_or(Decimal::ZERO))
    }

    /// A string, or a number or boolean as its JSON text (ids are often numbers).
    pub(crate) fn text(&self) -> Result<String, NormaliseError> {
        match self.value {
            Value::String(text) => Ok(text.clone()),
            Value::Number(number) => Ok(number.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            _ => Err(self.invalid("a string")),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Result<String, NormaliseError> {
        self.field(key)?.text()
    }

    /// An optional string; blank reads as `None`.
    pub(crate) fn opt_string(&self, key: &str) -> Result<Option<String>, NormaliseError> {
        match self.get(key) {
            Some(node) => {
                let text = node.text()?;
                let trimmed = text.trim();
                Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
            }
            None => Ok(None),
        }
    }

    /// This value as an optional string (for arrays of strings); blank reads as `None`.
    pub(crate) fn opt_text(&self) -> Result<Option<String>, NormaliseError> {
        let text = self.text()?;
        let trimmed = text.trim();
        Ok((!trimmed.is_empty()).then(|| trimmed.to_owned()))
    }

    /// A flag: JSON booleans, and the `0`/`1`/`"true"` forms PHP platforms send.
    pub(crate) fn boolean(&self) -> Result<bool, NormaliseError> {
        let parsed = match self.value {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => match n.as_u64() {
                Some(0) => Some(false),
                Some(1) => Some(true),
                _ => None,
            },
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => Some(true),
                "0" | "false" | "no" | "" => Some(false),
                _ => None,
            },
            _ => None,
        };
        parsed.ok_or_else(|| self.invalid("a boolean"))
    }

    pub(crate) fn opt_bool(&self, key: &str) -> Result<Option<bool>, NormaliseError> {
        self.get(key).map(|node| node.boolean()).transpose()
    }

    pub(crate) fn currency(&self) -> Result<Currency, NormaliseError> {
        let code = self
            .value
            .as_str()
            .ok_or_else(|| self.invalid("a currency code"))?;
        Currency::try_from(code.to_owned())
            .ok()
            .filter(|currency| is_iso_4217(currency.as_str()))
            .ok_or_else(|| NormaliseError::Currency {
                platform: self.ctx.platform,
                document: self.ctx.document.clone(),
                field: self.path.clone(),
                value: code.to_owned(),
            })
    }

    pub(crate) fn currency_at(&self, key: &str) -> Result<Currency, NormaliseError> {
        self.field(key)?.currency()
    }

    /// An ISO 8601 timestamp (with or without offset, `T` or space) as its calendar date.
    pub(crate) fn iso_date(&self) -> Result<Date, NormaliseError> {
        self.value
            .as_str()
            .and_then(parse_iso_date)
            .ok_or_else(|| self.invalid("an ISO 8601 date-time"))
    }

    /// An RFC 2822 timestamp (`Tue, 20 Nov 2024 18:28:34 +0000`) as its calendar date.
    pub(crate) fn rfc2822_date(&self) -> Result<Date, NormaliseError> {
        self.value
            .as_str()
            .and_then(|s| OffsetDateTime::parse(s.trim(), &Rfc2822).ok())
            .map(OffsetDateTime::date)
            .ok_or_else(|| self.invalid("an RFC 2822 date-time"))
    }

    /// Unix seconds as the UTC calendar date.
    pub(crate) fn unix_date(&self) -> Result<Date, NormaliseError> {
        self.value
            .as_i64()
            .or_else(|| self.value.as_str().and_then(|s| s.trim().parse().ok()))
            .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
            .map(OffsetDateTime::date)
            .ok_or_else(|| self.invalid("a Unix timestamp in seconds"))
    }

    pub(crate) fn missing(&self, key: &str) -> NormaliseError {
        NormaliseError::Missing {
            platform: self.ctx.platform,
            document: self.ctx.document.clone(),
            field: self.child(key, &Value::Null).path,
        }
    }

    pub(crate) fn invalid(&self, expected: &'static str) -> NormaliseError {
        NormaliseError::Invalid {
            platform: self.ctx.platform,
            document: self.ctx.document.clone(),
            field: if self.path.is_empty() {
                "(body)".to_owned()
            } else {
                self.path.clone()
            },
            value: shorten(self.value),
            expected,
        }
    }

    /// The path of this value, for messages.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

impl fmt::Debug for Node<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, shorten(self.value))
    }
}

fn shorten(value: &Value) -> String {
    const MAX: usize = 80;
    let text = value.to_string();
    if text.chars().count() <= MAX {
        text
    } else {
        let cut: String = text.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

/// An exact decimal from its text: plain (`"199.00"`, `"-10"`) or scientific (`"1.5e2"`).
/// Anything else (thousands separators, `NaN`, blanks) is refused rather than guessed at.
/// The customer a document names, or `None` for a guest it names nothing of. `names` are the
/// parts of the name (first and last, or one full name), joined with a space.
pub(crate) fn customer<const N: usize>(
    id: Option<String>,
    email: Option<String>,
    names: [Option<String>; N],
) -> Option<Customer> {
    let name = names.into_iter().flatten().collect::<Vec<_>>().join(" ");
    let name = (!name.is_empty()).then_some(name);
    (id.is_some() || email.is_some() || name.is_some()).then_some(Customer { id, email, name })
}

pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let plain = |b: u8| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+';
    if text.is_empty() || !text.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.bytes().all(plain) {
        Decimal::from_str_exact(text.strip_prefix('+').unwrap_or(text)).ok()
    } else if text.bytes().all(|b| plain(b) || b == b'e' || b == b'E') {
        Decimal::from_scientific(text).ok()
    } else {
        None
    }
}

/// ISO 4217's active currency codes (amendment 179, 2025), and those withdrawn since 2021
/// (a replayed older order may carry one). Not the funds, precious metals and testing codes
/// (`XAU`, `XDR`, `XTS`, `XXX`, ...): nothing is sold in them.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD",
    "CDF", "CHF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP",
    "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF",
    "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK",
    "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK",
    "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU",
    "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR",
    "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR",
    "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC",
    "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "UYU", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF",
    "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Whether `code` (upper case) is a currency a sale can be in; see [`ISO_4217`].
pub fn is_iso_4217(code: &str) -> bool {
    ISO_4217.binary_search(&code).is_ok()
}

const NAIVE_T: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]");
const NAIVE_SPACE: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]");
const DATE_ONLY: &[BorrowedFormatItem<'static>] = format_description!("[year]-[month]-[day]");

/// The calendar date of an ISO 8601 timestamp: at its own offset when it has one (RFC 3339),
/// as written when it has none (WooCommerce's site-local and `_gmt` fields, Magento's UTC
/// `YYYY-MM-DD HH:MM:SS`).
pub(crate) fn parse_iso_date(text: &str) -> Option<Date> {
    let text = text.trim();
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.date());
    }
    [NAIVE_T, NAIVE_SPACE]
        .iter()
        .find_map(|format| PrimitiveDateTime::parse(text, format).ok())
        .map(PrimitiveDateTime::date)
        .or_else(|| Date::parse(text, DATE_ONLY).ok())
}

// ---------------------------------------------------------------------------------------------
// Building lines.

/// A line's unit price and discount from the row amount before discounts (`gross`) and after
/// (`net`), such that `quantity × unit − discount` is exactly `net`.
///
/// The unit price is `gross / quantity` when that is exact; when it is not (a row of 3 for
/// 10.00), it is rounded up to 4 decimals (Xero's limit) and the discount absorbs the
/// fraction of a cent, so the line still nets to the platform's row amount. A row that nets
/// to more than its gross (a surcharge) is priced from the net, with no discount.
pub(crate) fn unit_and_discount(
    quantity: Decimal,
    gross: Decimal,
    net: Decimal,
) -> (Decimal, Decimal) {
    let base = gross.max(net);
    if quantity.is_zero() {
        return (base, base - net);
    }
    // Decimal division rounds to 28 digits, and so can multiplying back: compare at a scale
    // where the product is exact.
    let quotient = base / quantity;
    let exact = quotient.round_dp(12);
    let unit = if exact * quantity == base {
        exact
    } else {
        quotient.round_dp_with_strategy(4, RoundingStrategy::ToPositiveInfinity)
    };
    (unit, unit * quantity - net)
}

/// The tax on one line: the amount the platform charged, and the rate and name it gives.
#[derive(Debug, Clone, Default)]
pub(crate) struct TaxInfo {
    pub amount: Decimal,
    pub rate: Option<Decimal>,
    pub label: Option<String>,
}

impl TaxInfo {
    /// Tax without rate or name (the platform gives only the amount).
    pub(crate) fn amount(amount: Decimal) -> Self {
        TaxInfo {
            amount,
            ..TaxInfo::default()
        }
    }

    /// Several taxes on one line (Canada's GST + PST): amounts added, rates added (they apply
    /// to the same base), names joined with ` + `. No rate when any part lacks one.
    pub(crate) fn combine(parts: Vec<TaxInfo>) -> Self {
        if parts.is_empty() {
            return TaxInfo::default();
        }
        let amount = parts.iter().map(|p| p.amount).sum();
        let rate = parts.iter().map(|p| p.rate).sum::<Option<Decimal>>();
        let labels: Vec<String> = parts.into_iter().filter_map(|p| p.label).collect();
        TaxInfo {
            amount,
            rate,
            label: (!labels.is_empty()).then(|| labels.join(" + ")),
        }
    }

    /// The same tax with its amount scaled (a refunded share of a line), to the cent.
    pub(crate) fn share(&self, fraction: Decimal) -> Self {
        TaxInfo {
            amount: cents(self.amount * fraction),
            rate: self.rate,
            label: self.label.clone(),
        }
    }
}

/// The refusals of a platform's documents read field by field rather than through a [`Ctx`]
/// tree (payouts and their transaction lists, `crate::platforms::*::payouts`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusals(pub Platform);

impl Refusals {
    pub(crate) fn missing(self, document: &str, field: &str) -> NormaliseError {
        NormaliseError::Missing {
            platform: self.0,
            document: document.to_owned(),
            field: field.to_owned(),
        }
    }

    pub(crate) fn invalid(
        self,
        document: &str,
        field: &str,
        value: &str,
        expected: &'static str,
    ) -> NormaliseError {
        NormaliseError::Invalid {
            platform: self.0,
            document: document.to_owned(),
            field: field.to_owned(),
            value: value.chars().take(80).collect(),
            expected,
        }
    }

    pub(crate) fn inconsistent(self, document: &str, message: String) -> NormaliseError {
        NormaliseError::Inconsistent {
            platform: self.0,
            document: document.to_owned(),
            message,
        }
    }

    pub(crate) fn currency(self, document: &str, value: &str) -> NormaliseError {
        NormaliseError::Currency {
            platform: self.0,
            document: document.to_owned(),
            field: "currency".to_owned(),
            value: value.to_owned(),
        }
    }
}

/// A line from its row amounts before and after discount; see [`unit_and_discount`].
pub(crate) fn row_line(
    kind: LineKind,
    sku: Option<String>,
    description: String,
    quantity: Decimal,
    (gross, net): (Decimal, Decimal),
    tax: TaxInfo,
) -> Line {
    let (unit_price, discount) = unit_and_discount(quantity, gross, net);
    Line {
        kind,
        sku,
        description,
        quantity,
        unit_price,
        discount,
        tax: tax.amount,
        tax_rate: tax.rate,
        tax_label: tax.label,
        tax_parts: Vec::new(),
        restocked: None,
    }
}

/// A one-unit line (shipping, a fee, an adjustment) of `amount` after any discount.
pub(crate) fn single_line(
    kind: LineKind,
    description: String,
    amount: Decimal,
    tax: TaxInfo,
) -> Line {
    Line {
        kind,
        sku: None,
        description,
        quantity: Decimal::ONE,
        unit_price: amount,
        discount: Decimal::ZERO,
        tax: tax.amount,
        tax_rate: tax.rate,
        tax_label: tax.label,
        tax_parts: Vec::new(),
        restocked: None,
    }
}

/// The seller's part of `paid_back`, an amount the buyer got back from an order of which the
/// buyer paid `buyer_total` and the seller kept `seller_total` (a marketplace collected and
/// remitted the difference as tax). Refunded in full, it is exactly the seller's total;
/// otherwise the same proportion, to the cent. Without a difference it is `paid_back` itself.
pub(crate) fn seller_part(
    paid_back: Decimal,
    buyer_total: Decimal,
    seller_total: Decimal,
) -> Decimal {
    if paid_back == buyer_total {
        seller_total
    } else if buyer_total == seller_total || buyer_total.is_zero() {
        paid_back
    } else {
        cents(paid_back * seller_total / buyer_total)
    }
}

/// Rounded to the cent, half to even (banker's), for the few shares this module must compute.
pub(crate) fn cents(amount: Decimal) -> Decimal {
    amount.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven)
}

#[cfg(test)]
pub(crate) mod test_support;

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn decimals_are_read_exactly_from_strings_and_numbers() {
        let value: Value = serde_json::from_str(
            r#"{"s":"199.00","n":189.0,"i":3,"neg":"-10.00","sci":1.5e2,"tiny":0.1,"big":12345678901.2345678}"#,
        )
        .unwrap();
        let ctx = Ctx::new(Platform::Shopify, "order 1");
        let root = Node::root(&ctx, &value).unwrap();
        assert_eq!(root.dec("s").unwrap(), d("199.00"));
        assert_eq!(root.dec("n").unwrap(), d("189"));
        assert_eq!(root.dec("i").unwrap(), d("3"));
        assert_eq!(root.dec("neg").unwrap(), d("-10"));
        assert_eq!(root.dec("sci").unwrap(), d("150"));
        assert_eq!(root.dec("tiny").unwrap(), d("0.1"));
        assert_eq!(
            root.dec("big").unwrap(),
            d("12345678901.2345678"),
            "no f64 on the way: 18 significant digits survive"
        );
    }

    #[test]
    fn unparseable_amounts_name_the_field_and_value() {
        let value: Value = serde_json::from_str(
            r#"{"lines":[{"price":"1,234.00"},{"price":"NaN"},{"price":true}]}"#,
        )
        .unwrap();
        let ctx = Ctx::new(Platform::WooCommerce, "order 727");
        let root = Node::root(&ctx, &value).unwrap();
        for (i, line) in root.list("lines").unwrap().iter().enumerate() {
            let err = line.dec("price").unwrap_err();
            assert!(
                matches!(&err, NormaliseError::Invalid { field, .. } if *field == format!("lines[{i}].price")),
                "{err}"
            );
        }
        let err = root.list("lines").unwrap()[0].dec("price").unwrap_err();
        assert_eq!(
            err.to_string(),
            "woocommerce order 727: `lines[0].price` is \"1,234.00\", not a decimal amount"
        );
        assert!(err.is_permanent());
    }

    #[test]
    fn missing_fields_say_where_and_what_to_check() {
        let value: Value = serde_json::from_str(r#"{"data":{"value":{}}}"#).unwrap();
        let ctx = Ctx::new(Platform::Magento, "order");
        let root = Node::root(&ctx, &value).unwrap();
        let err = root
            .field("data")
            .unwrap()
            .field("value")
            .unwrap()
            .dec("grand_total")
            .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("magento order: `data.value.grand_total` is missing"),
            "{message}"
        );
        assert!(message.contains("subscribed"), "{message}");
    }

    #[test]
    fn a_rest_wrapper_is_unwrapped_but_a_lone_field_is_not() {
        let wrapped: Value = serde_json::from_str(r#"{"order":{"id":1}}"#).unwrap();
        assert_eq!(
            unwrap_resource(wrapped, &["order"]),
            serde_json::json!({"id": 1})
        );
        let lone: Value = serde_json::from_str(r#"{"order":7}"#).unwrap();
        assert_eq!(unwrap_resource(lone.clone(), &["order"]), lone);
        let other: Value = serde_json::from_str(r#"{"refund":{"id":1}}"#).unwrap();
        assert_eq!(unwrap_resource(other.clone(), &["order"]), other);
    }

    #[test]
    fn timestamps_become_the_calendar_date_they_were_stamped_with() {
        let cases = [
            ("2008-01-10T11:00:00-05:00", "2008-01-10"),
            ("2025-01-10T23:30:00-05:00", "2025-01-10"),
            ("2021-03-19T20:43:59.462Z", "2021-03-19"),
            ("2017-03-22T16:28:02", "2017-03-22"),
            ("2025-07-17 15:48:40", "2025-07-17"),
            ("2025-07-17", "2025-07-17"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_iso_date(text).unwrap().to_string(),
                expected,
                "{text}"
            );
        }
        assert!(parse_iso_date("yesterday").is_none());
        assert!(parse_iso_date("2025-13-01T00:00:00Z").is_none());
    }

    #[test]
    fn a_row_that_does_not_divide_evenly_still_nets_to_the_platform_amount() {
        let (unit, discount) = unit_and_discount(d("3"), d("10.00"), d("10.00"));
        assert_eq!(unit, d("3.3334"));
        assert_eq!(d("3") * unit - discount, d("10.00"));
        assert!(discount >= Decimal::ZERO && discount < d("0.001"));

        let (unit, discount) = unit_and_discount(d("2"), d("6.00"), d("5.40"));
        assert_eq!((unit, discount), (d("3"), d("0.60")));
    }

    #[test]
    fn discount_lines_subtract_and_tax_counts_only_when_prices_exclude_it() {
        let product = single_line(
            LineKind::Product,
            "Mug".into(),
            d("100"),
            TaxInfo::amount(d("15")),
        );
        let discount = single_line(
            LineKind::Discount,
            "Promo".into(),
            d("10"),
            TaxInfo::amount(d("1.50")),
        );
        let lines = [product, discount];
        assert_eq!(lines_total(&lines, TaxMode::Exclusive), d("103.50"));
        assert_eq!(lines_total(&lines, TaxMode::Inclusive), d("90"));
    }
}
