//! Domain documents onto a shop's Xero setup. Pure: no I/O, so every rule here is tested to
//! the cent without a server.
//!
//! The rules that keep the books equal to what the customer was charged:
//! - Each line carries the tax the platform charged. [`ShopMapping::invoice`] and
//!   [`ShopMapping::credit_note`] give it on every line; `for_xero` ([`ShopMapping::for_xero`],
//!   with the organisation's [`XeroTaxRates`]) then sends a `TaxAmount` only where Xero's own
//!   per-line computation (line amount × rate, or × rate / (1 + rate) on an inclusive document,
//!   rounded to cents per line: "Tax and the Xero API") differs, because Xero treats a given
//!   tax as a tax adjustment: shown on tax-exclusive documents, flagged for manual correction on
//!   tax-inclusive ones (notes §4), refused on bank transactions and perhaps on credit notes.
//!   So a document keeps the platform's basis when Xero's tax agrees on every line; an invoice
//!   where it does not is booked tax-exclusive (inclusive lines at their amounts less tax) with
//!   `TaxAmount` on the lines that differ, never an inclusive invoice with an override; a
//!   credit note gives no `TaxAmount` at all, and the cents by which Xero's tax differs from
//!   the platform's go to an untaxed rounding line (more than rounding explains is a Xero rate
//!   unlike the platform's: [`MappingError::XeroTaxDiffers`]). A half cent, which Xero's
//!   undocumented rounding could take either way, is never left to it. README "Tax amounts".
//! - Xero rounds every line amount to 2 dp. Where the platform's total still differs from the
//!   sum Xero will compute, an untaxed rounding line on the shop's rounding account makes up
//!   the difference. A difference larger than rounding can explain is an error, not a line.
//! - Credit notes cannot carry discounts in Xero, so refund lines are sent net.
//! - Gift cards sold go to a liability account; gift cards redeemed are payments out of it.
//! - Tax is booked one of two ways per shop ([`TaxBooking`]): on each line under a Xero tax
//!   type (VAT and GST countries, and US or Canadian organisations whose Xero tax rates have
//!   a component per authority), or, for US-style sales tax, as lines of their own on
//!   sales-tax liability accounts, one per jurisdiction, with the sales lines booked untaxed
//!   at their amounts before tax. Either way the document's total is the platform's.

use std::collections::BTreeMap;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use xcs_shared::Platform;
use xcs_shared::domain::{Line, LineKind, Order, PaymentMethod, Refund, TaxMode};

use crate::xero::types::{
    self, AccountRef, ContactRef, CreditNote, Invoice, LineAmountTypes, LineItem, LineTax,
};

/// Where a shop's money goes in Xero.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopMapping {
    /// Put before the platform's order number to make the Xero invoice number, e.g. `"SH-"`
    /// gives `SH-1001`. Distinct per shop, so two shops' order 1001 do not collide.
    pub document_prefix: String,
    pub accounts: Accounts,
    /// Clearing account per payment gateway (`paypal = "617"`); others use
    /// `accounts.clearing`.
    #[serde(default)]
    pub gateway_accounts: BTreeMap<String, String>,
    pub tax: TaxMapping,
    /// Xero item codes by platform SKU. SKUs not listed are booked without an item, unless
    /// the shop is in `inventory = "items"` mode, where they get [`xero_item_code`].
    #[serde(default)]
    pub items: BTreeMap<String, String>,
    /// The Xero contact stock adjustments are made out to in tracked mode (Xero's guide uses
    /// one named "Inventory Adjustments"); found by name, created when missing.
    #[serde(default = "default_stock_contact")]
    pub stock_contact: String,
    /// Where payouts go, for a shop with `payouts = true` (`crate::payouts::mapping`).
    #[serde(default)]
    pub payouts: Option<crate::payouts::mapping::PayoutMapping>,
    /// Set from the shop's `inventory = "items"` or `"tracked"` (`crate::config`): product
    /// lines whose SKU `items` does not name carry the code [`xero_item_code`] derives from it.
    #[serde(skip)]
    pub derive_item_codes: bool,
    /// Set from the shop's `inventory = "tracked"`: the items are created tracked, and refund
    /// lines the platform says were not restocked carry no item.
    #[serde(skip)]
    pub tracked_inventory: bool,
}

fn default_stock_contact() -> String {
    "Inventory Adjustments".to_owned()
}

/// Xero's longest item code (spec `Item.Code`: "max length = 30").
pub const ITEM_CODE_MAX: usize = 30;
/// Xero's longest item name (spec `Item.Name`: "max length = 50").
pub const ITEM_NAME_MAX: usize = 50;
/// Hex digits of the SKU's SHA-256 in a mapped code: 40 bits.
const ITEM_HASH_HEX: usize = 10;

/// The characters a SKU may have to be its own Xero item code. Xero documents only the length
/// (UNSURE which other characters it accepts), so the set is one every Xero code, URL path and
/// `where` literal takes as it is: ASCII letters, digits, `-`, `_` and `.`.
fn is_item_code_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// The Xero item code for a platform SKU, or `None` for a blank SKU (no item).
///
/// A SKU of 1–30 of `A-Z a-z 0-9 - _ .` is its own code. Any other (too long, another
/// character, a space, leading or trailing blanks) is mapped to at most 30 characters: the
/// SKU's allowed characters (the others left out), cut to 19, then `-` and the first 10 hex
/// digits of the SHA-256 of the SKU exactly as the platform gave it (`SKU` stands in for the
/// prefix when none of its characters is allowed). Pure and deterministic, so every processor
/// and every replay derives the same code (README "Inventory: items mode").
pub fn xero_item_code(sku: &str) -> Option<String> {
    if sku.trim().is_empty() {
        return None;
    }
    if sku.chars().count() <= ITEM_CODE_MAX && sku.chars().all(is_item_code_char) {
        return Some(sku.to_owned());
    }
    let digest = Sha256::digest(sku.as_bytes());
    let hash: String = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .chars()
        .take(ITEM_HASH_HEX)
        .collect();
    let mut prefix: String = sku
        .chars()
        .filter(|c| is_item_code_char(*c))
        .take(ITEM_CODE_MAX - ITEM_HASH_HEX - 1)
        .collect();
    if prefix.is_empty() {
        prefix = "SKU".to_owned();
    }
    Some(format!("{prefix}-{hash}"))
}

/// A product title as a Xero item's name: Xero's `Item.Name` holds 50 characters.
pub fn item_name(title: &str) -> String {
    truncate(title.trim().to_owned(), ITEM_NAME_MAX)
}

/// A Xero item a document's lines name, as it is to be created when Xero lacks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemSpec {
    pub code: String,
    /// The SKU as the platform gave it.
    pub sku: String,
    /// Whether the code was derived from the SKU ([`xero_item_code`]) rather than given in
    /// `mapping.items`.
    pub derived: bool,
    /// The line's title, cut to Xero's 50 characters (the SKU where the title is blank).
    pub name: String,
    /// The line's title, and the SKU where the code is not the SKU itself.
    pub description: String,
    /// In tracked mode, the item is created tracked: `(inventory asset account, cost of goods
    /// sold account)`.
    pub tracked: Option<(String, String)>,
}

/// Account codes, as in the Xero chart of accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accounts {
    pub sales: String,
    pub shipping: String,
    /// Order-level discounts not allocated to a line.
    pub discounts: String,
    /// A liability account with payments enabled: gift cards sold are credited to it,
    /// redemptions are paid out of it.
    pub gift_cards: String,
    /// Fees charged to the customer (surcharges, handling).
    pub fees: String,
    /// The rounding account (Xero's system account ROUNDING, often 860).
    pub rounding: String,
    /// Where payments land: a BANK account or one with payments enabled.
    pub clearing: String,
    /// Refund adjustments that are neither goods nor shipping; defaults to `sales`.
    #[serde(default)]
    pub adjustments: Option<String>,
    /// Tracked inventory (README "Inventory: tracked mode"): the INVENTORY account that holds
    /// the stock's value, the cost-of-goods-sold account Xero posts a sale's cost to, and the
    /// account a stock adjustment's other side goes to (Xero's guide names it "Inventory
    /// Adjustments"). Required with `inventory = "tracked"`, unused otherwise.
    #[serde(default)]
    pub inventory: Option<String>,
    #[serde(default)]
    pub cost_of_goods_sold: Option<String>,
    #[serde(default)]
    pub inventory_adjustments: Option<String>,
}

/// How platform taxes become Xero tax types, or sales-tax lines.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxMapping {
    /// `tax_types` (the default) or `sales_tax_lines`; see [`TaxBooking`].
    #[serde(default)]
    pub mode: TaxBooking,
    /// In `sales_tax_lines` mode: the sales-tax liability account for every jurisdiction not
    /// in `by_jurisdiction` (all of them when that is empty).
    #[serde(default)]
    pub liability: Option<String>,
    /// In `sales_tax_lines` mode: a liability account per jurisdiction, by the platform's name
    /// for the tax (Shopify's tax line title, WooCommerce's rate code, a label or
    /// `"Sales tax"` where the platform names none), compared case-insensitively.
    #[serde(default)]
    pub by_jurisdiction: BTreeMap<String, String>,
    /// By the platform's tax name (Shopify tax line title, WooCommerce rate code), compared
    /// case-insensitively. Checked first.
    #[serde(default)]
    pub by_label: BTreeMap<String, String>,
    /// By rate in percent (`"15" = "OUTPUT2"`, `"7.5" = "TAX001"`).
    #[serde(default)]
    pub by_rate: BTreeMap<String, String>,
    /// For lines on which no tax was charged (zero-rated, exempt, gift cards).
    pub untaxed: String,
    /// For the rounding line: a tax type with no tax that the rounding account accepts,
    /// usually `NONE`.
    #[serde(default = "default_no_tax")]
    pub no_tax: String,
}

fn default_no_tax() -> String {
    "NONE".to_owned()
}

/// How a shop's tax reaches Xero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxBooking {
    /// Each line carries the tax the platform charged as its `TaxAmount`, under the Xero tax
    /// type `by_label`/`by_rate` give its rate. A line taxed by several authorities is mapped
    /// by their combined rate (a Xero tax rate with a component per authority, for Xero's own
    /// sales-tax reports).
    #[default]
    TaxTypes,
    /// Sales tax as a liability, the way US connectors book it: every line untaxed
    /// (`untaxed`) at its amount before tax, and the tax as one line per jurisdiction on its
    /// `by_jurisdiction` account (or `liability`), under `no_tax`. No Xero tax type per
    /// combination of rates is needed.
    SalesTaxLines,
}

/// The jurisdiction of tax the platform names no authority for.
pub const UNNAMED_JURISDICTION: &str = "Sales tax";

/// What an [`MappingError::UnmappedTax`] lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmapped {
    /// A Xero tax type (`tax_types` mode).
    TaxType,
    /// A sales-tax liability account for the jurisdiction `label` (`sales_tax_lines` mode).
    LiabilityAccount,
}

fn unmapped_tax_message(label: &str, rate: &str, unmapped: Unmapped) -> String {
    match unmapped {
        Unmapped::TaxType => format!(
            "no Xero tax type for tax {label:?} at rate {rate}; add it under tax.by_label or \
             tax.by_rate in the shop's mapping"
        ),
        Unmapped::LiabilityAccount => format!(
            "no sales-tax account for jurisdiction {label:?} (rate {rate}); add it under \
             tax.by_jurisdiction ({label:?} = \"<liability account code>\"), or set tax.liability \
             for every jurisdiction not listed, in the shop's mapping"
        ),
    }
}

/// A document that cannot be mapped with the shop's settings. Permanent: fixing the mapping
/// (or the normaliser) and replaying the event is the way out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("{}", unmapped_tax_message(.label, .rate, *.unmapped))]
    UnmappedTax {
        label: String,
        rate: String,
        unmapped: Unmapped,
    },
    #[error(
        "the lines add up to {computed} but the platform's total is {platform}: {gap} apart, \
         more than rounding explains (at most {explained} here, half a cent per amount rounded); \
         check the order on the platform, or the normaliser, then fix and replay"
    )]
    TotalMismatch {
        computed: Decimal,
        platform: Decimal,
        gap: Decimal,
        explained: Decimal,
    },
    #[error(
        "the lines' tax adds up to {lines} but the platform's tax total is {platform}: {gap} \
         apart, more than rounding explains (at most {explained} here, half a cent per tax \
         amount rounded); check the order's taxes on the platform, then fix and replay"
    )]
    TaxMismatch {
        lines: Decimal,
        platform: Decimal,
        gap: Decimal,
        explained: Decimal,
    },
    #[error(
        "Xero computes {xero} tax on these lines with the organisation's tax rates, the \
         platform charged {platform}: {gap} apart, more than rounding explains (at most \
         {explained}); Xero takes no tax amounts of ours on this document, so map the \
         platform's rates to Xero tax types of the same rate (`check` names those that differ), \
         then replay"
    )]
    XeroTaxDiffers {
        xero: Decimal,
        platform: Decimal,
        gap: Decimal,
        explained: Decimal,
    },
    #[error("the document has no lines")]
    NoLines,
    #[error("the total is negative ({0}); Xero accepts no negative documents")]
    NegativeTotal(Decimal),
    /// Figures so large (or so finely divided) that computing with them overflows: no real
    /// sale, and nothing Xero could hold.
    #[error("the document's figures cannot be computed: {0} overflows")]
    Overflow(String),
}

/// Checked arithmetic for the money path: an overflow is the document's fault, named, never a
/// panic.
mod checked {
    use rust_decimal::Decimal;

    use super::MappingError;

    pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, MappingError> {
        a.checked_mul(b)
            .ok_or_else(|| MappingError::Overflow(format!("{a} × {b}")))
    }

    pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, MappingError> {
        a.checked_add(b)
            .ok_or_else(|| MappingError::Overflow(format!("{a} + {b}")))
    }

    pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, MappingError> {
        a.checked_sub(b)
            .ok_or_else(|| MappingError::Overflow(format!("{a} − {b}")))
    }

    pub fn sum(values: impl IntoIterator<Item = Decimal>) -> Result<Decimal, MappingError> {
        values.into_iter().try_fold(Decimal::ZERO, add)
    }

    /// `quantity × unit − discount`.
    pub fn net(line: &xcs_shared::domain::Line) -> Result<Decimal, MappingError> {
        sub(mul(line.quantity, line.unit_price)?, line.discount)
    }
}

/// An invoice ready to send, with what Xero will compute for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedInvoice {
    pub invoice: Invoice,
    /// Equals the platform's total by construction.
    pub total: Decimal,
    pub total_tax: Decimal,
}

/// A credit note ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedCreditNote {
    pub credit_note: CreditNote,
    pub total: Decimal,
    pub total_tax: Decimal,
}

/// A payment to make against a document once it exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedPayment {
    pub account: String,
    pub amount: Decimal,
    pub date: time::Date,
    pub reference: String,
}

impl PlannedPayment {
    /// The Xero payment that makes it, into or out of `target`.
    pub fn to_xero(&self, target: types::PaymentTarget) -> types::Payment {
        types::Payment {
            target,
            account: account(&self.account),
            date: self.date.to_string(),
            amount: self.amount,
            reference: self.reference.clone(),
        }
    }
}

/// Xero accepts 4 decimal places on unit amounts and quantities (with `unitdp=4`).
const UNIT_DP: u32 = 4;

/// Half a cent: the most that rounding one amount to cents can move it.
const HALF_CENT: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

/// Xero's limit on `InvoiceNumber`, `CreditNoteNumber` and `Reference` (max 255, per the OpenAPI spec).
pub const XERO_TEXT_MAX: usize = 255;

/// Hex digits of the identity hash that ends a number or reference that had to be cut or
/// cleaned: 40 bits, so two real orders meet only by design, and adoption checks the rest.
const IDENTITY_HASH_HEX: usize = 10;

/// Marks the identity hash. Never kept from platform text (see [`is_safe_in_filters`]), so a
/// `~` in a number always starts our hash.
const HASH_MARK: char = '~';

pub fn round2(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// A rate as a fraction, as people write it: `6%`.
fn rate_text(rate: Option<Decimal>) -> String {
    rate.map_or("unknown".to_owned(), |r| {
        r.checked_mul(Decimal::ONE_HUNDRED).map_or_else(
            || format!("{r} (as a fraction)"),
            |p| format!("{}%", p.normalize()),
        )
    })
}

fn has_sub_cents(value: Decimal) -> bool {
    value != round2(value)
}

/// Whether a character can stand in a document number or reference as it is. Numbers and
/// references are sent to Xero inside `where` string literals (whose escaping rules Xero does
/// not document) and comma-separated `InvoiceNumbers` lists, so quotes, backslashes and
/// commas are never kept; nor are control characters, which Xero refuses and PostgreSQL
/// cannot store (NUL).
fn is_safe_in_filters(c: char) -> bool {
    !(c.is_control() || matches!(c, '"' | '\\' | ',' | HASH_MARK))
}

/// `text` as Xero may hold it and our filters may carry it: unchanged when it is short enough
/// and safe; otherwise its safe characters, cut to leave room, then `~` and a hash of the
/// whole `identity`, so two documents whose text differs only where it was cut or cleaned
/// still get different values.
fn unique_within_limit(text: &str, identity: &str) -> String {
    if text.len() <= XERO_TEXT_MAX && text.chars().all(is_safe_in_filters) {
        return text.to_owned();
    }
    let digest = Sha256::digest(identity.as_bytes());
    let hash = &hex::encode(digest)[..IDENTITY_HASH_HEX];
    let room = XERO_TEXT_MAX - HASH_MARK.len_utf8() - hash.len();
    let mut kept = String::with_capacity(room);
    for c in text.chars().filter(|c| is_safe_in_filters(*c)) {
        if kept.len() + c.len_utf8() > room {
            break;
        }
        kept.push(c);
    }
    format!("{kept}{HASH_MARK}{hash}")
}

/// The order number as it appears in document numbers: without a leading `#` or spaces.
fn bare_number(order_number: &str) -> String {
    order_number
        .trim()
        .trim_start_matches('#')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The Xero invoice number for an order: the shop's prefix and the order number without a
/// leading `#` or spaces; unique per order within Xero's limit (cut or cleaned numbers end in `~` and a hash).
pub fn invoice_number(mapping: &ShopMapping, order_number: &str) -> String {
    let text = format!("{}{}", mapping.document_prefix, bare_number(order_number));
    unique_within_limit(
        &text,
        &format!("invoice\0{}\0{order_number}", mapping.document_prefix),
    )
}

/// Between the order's number and the refund's id in a credit note's number. `/` stands
/// nowhere else after the shop's prefix, so a number reads unambiguously as
/// `{prefix}{order}/R{refund id}`, whatever dashes or letters the order and refund ids hold
/// (`EB-27-13902-55814/R5000123456`).
pub const REFUND_MARK: &str = "/R";

/// The most of a refund id a credit-note number keeps before it is cut (and hashed): enough for
/// every platform's ids, and room left for the order's number.
const REFUND_ID_MAX: usize = 64;

/// The Xero credit note number for a refund of an order: the order's invoice number,
/// [`REFUND_MARK`] and the refund id. An order number or refund id holding `/`, whitespace
/// or a character unsafe in filters, or a number too long for Xero, keeps its safe characters
/// (the order's cut first) and ends in `~` and a hash of the whole identity, still with one
/// `/R` between the two.
pub fn credit_note_number(mapping: &ShopMapping, order_number: &str, refund_id: &str) -> String {
    let prefix = &mapping.document_prefix;
    let order = bare_number(order_number);
    let plain = format!("{prefix}{order}{REFUND_MARK}{refund_id}");
    let readable = |part: &str| part.chars().all(|c| is_safe_in_filters(c) && c != '/');
    if plain.len() <= XERO_TEXT_MAX
        && readable(&order)
        && readable(refund_id)
        && !refund_id.chars().any(char::is_whitespace)
    {
        return plain;
    }
    let keep = |part: &str, room: usize| {
        let mut kept = String::new();
        for c in part
            .chars()
            .filter(|c| is_safe_in_filters(*c) && *c != '/' && !c.is_whitespace())
        {
            if kept.len() + c.len_utf8() > room {
                break;
            }
            kept.push(c);
        }
        kept
    };
    let identity = format!("credit_note\0{prefix}\0{order_number}\0{refund_id}");
    let hash = &hex::encode(Sha256::digest(identity.as_bytes()))[..IDENTITY_HASH_HEX];
    let refund = keep(refund_id, REFUND_ID_MAX);
    // The prefix is at most 40 bytes (validated at load), so this never saturates in use.
    let room = XERO_TEXT_MAX.saturating_sub(
        prefix.len() + REFUND_MARK.len() + refund.len() + HASH_MARK.len_utf8() + hash.len(),
    );
    let order = keep(&order, room);
    format!("{prefix}{order}{REFUND_MARK}{refund}{HASH_MARK}{hash}")
}

/// The number [`credit_note_number`] gave before it marked the refund unambiguously
/// (`{invoice number}-R{refund id}`). Credit notes booked then keep it: booking finds them by
/// it, so a refund seen again is not credited twice.
pub fn legacy_credit_note_number(
    mapping: &ShopMapping,
    order_number: &str,
    refund_id: &str,
) -> String {
    let text = format!(
        "{}{}-R{refund_id}",
        mapping.document_prefix,
        bare_number(order_number)
    );
    unique_within_limit(
        &text,
        &format!(
            "credit_note\0{}\0{order_number}\0{refund_id}",
            mapping.document_prefix
        ),
    )
}

/// The `Reference` of an order's invoice: what adoption of an existing invoice checks, and
/// what `reconcile` finds an invoice by when its number was changed in Xero.
pub fn invoice_reference(platform: Platform, order_number: &str) -> String {
    let text = format!("{platform} order {}", order_number.trim());
    unique_within_limit(&text, &format!("{platform}\0{order_number}"))
}

/// The `Reference` of a refund's credit note.
pub fn credit_note_reference(platform: Platform, order_number: &str, refund_id: &str) -> String {
    let text = format!(
        "{platform} refund {refund_id} of order {}",
        order_number.trim()
    );
    unique_within_limit(&text, &format!("{platform}\0{order_number}\0{refund_id}"))
}

fn truncate(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

fn date(d: time::Date) -> String {
    d.to_string()
}

impl ShopMapping {
    /// The Xero item code a line carries: `mapping.items`' for its SKU, or in items mode a
    /// product line's code derived from its SKU. Shipping, fees, discounts, gift cards and
    /// lines without a SKU carry none of their own.
    ///
    /// In tracked mode a refund line the platform says was not restocked carries none: an
    /// item's code on a credit note puts its units back into Xero's stock.
    pub fn item_code(&self, line: &Line) -> Option<String> {
        if self.tracked_inventory && line.restocked == Some(false) {
            return None;
        }
        let sku = line.sku.as_deref()?;
        if let Some(code) = self.items.get(sku) {
            return Some(code.clone());
        }
        if self.derive_item_codes && line.kind == LineKind::Product {
            return xero_item_code(sku);
        }
        None
    }

    /// The Xero item code of a SKU whose stock the platform reported: `mapping.items`' or, in
    /// items and tracked mode, the derived one.
    pub fn stock_item_code(&self, sku: &str) -> Option<String> {
        match self.items.get(sku) {
            Some(code) => Some(code.clone()),
            None if self.derive_item_codes => xero_item_code(sku),
            None => None,
        }
    }

    /// The item to create for a SKU first seen in a stock event: named after the product's
    /// title where the event gives one (cut to Xero's 50 characters), else the SKU; described
    /// as a sale's line would be.
    pub fn stock_item_spec(&self, sku: &str, code: &str, title: Option<&str>) -> ItemSpec {
        let title = title.map(str::trim).filter(|t| !t.is_empty());
        let description = match (title, code == sku) {
            (Some(title), true) => title.to_owned(),
            (Some(title), false) => format!("{title} (SKU {sku})"),
            (None, true) => sku.to_owned(),
            (None, false) => format!("SKU {sku}"),
        };
        ItemSpec {
            code: code.to_owned(),
            sku: sku.to_owned(),
            derived: !self.items.contains_key(sku),
            name: item_name(title.unwrap_or_else(|| sku.trim())),
            description: truncate(description, 4000),
            tracked: self.tracked_accounts(),
        }
    }

    /// In tracked mode, the accounts a tracked item is created with.
    fn tracked_accounts(&self) -> Option<(String, String)> {
        if !self.tracked_inventory {
            return None;
        }
        Some((
            self.accounts.inventory.clone()?,
            self.accounts.cost_of_goods_sold.clone()?,
        ))
    }

    /// In items mode, the items `lines` name, one per code (Xero compares codes
    /// case-insensitively), in line order. Empty otherwise.
    pub fn item_specs(&self, lines: &[Line]) -> Vec<ItemSpec> {
        let mut specs: Vec<ItemSpec> = Vec::new();
        if !self.derive_item_codes {
            return specs;
        }
        for line in lines {
            let (Some(sku), Some(code)) = (line.sku.as_deref(), self.item_code(line)) else {
                continue;
            };
            if specs.iter().any(|s| s.code.eq_ignore_ascii_case(&code)) {
                continue;
            }
            let title = line.description.trim();
            let title = if title.is_empty() { sku.trim() } else { title };
            let derived = !self.items.contains_key(sku);
            let description = if code == sku {
                title.to_owned()
            } else {
                format!("{title} (SKU {sku})")
            };
            specs.push(ItemSpec {
                name: truncate(title.to_owned(), ITEM_NAME_MAX),
                description: truncate(description, 4000),
                code,
                sku: sku.to_owned(),
                derived,
                tracked: self.tracked_accounts(),
            });
        }
        specs
    }

    fn account_for(&self, kind: LineKind) -> &str {
        match kind {
            LineKind::Product => &self.accounts.sales,
            LineKind::Shipping => &self.accounts.shipping,
            LineKind::Fee => &self.accounts.fees,
            LineKind::GiftCardSale => &self.accounts.gift_cards,
            LineKind::Discount => &self.accounts.discounts,
            LineKind::Adjustment => self
                .accounts
                .adjustments
                .as_deref()
                .unwrap_or(&self.accounts.sales),
        }
    }

    fn tax_type_for(&self, line: &Line, mode: TaxMode) -> Result<String, MappingError> {
        // A label can tell zero-rated from exempt or no-tax lines, so it is looked up first.
        if let Some(label) = &line.tax_label
            && let Some((_, tax_type)) = self
                .tax
                .by_label
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(label.trim()))
        {
            return Ok(tax_type.clone());
        }
        if line.tax.is_zero() && line.tax_rate.is_none_or(|rate| rate.is_zero()) {
            return Ok(self.tax.untaxed.clone());
        }
        if let Some(percent) = line
            .tax_rate
            .and_then(|rate| rate.checked_mul(Decimal::ONE_HUNDRED))
        {
            let percent = percent.normalize();
            let found = self.tax.by_rate.iter().find(|(key, _)| {
                key.trim()
                    .trim_end_matches('%')
                    .parse::<Decimal>()
                    .is_ok_and(|k| k.normalize() == percent)
            });
            if let Some((_, tax_type)) = found {
                return Ok(tax_type.clone());
            }
        }
        if line.tax.is_zero() {
            return Ok(self.tax.untaxed.clone());
        }
        // Without a rate, or with one the shop has not configured but that is its rounded
        // form (BigCommerce's, derived from rounded amounts: 8.8% for 8.75%): the configured
        // rate the amounts imply.
        if let Some(tax_type) = self.tax_type_by_implied_rate(line, mode) {
            return Ok(tax_type);
        }
        Err(MappingError::UnmappedTax {
            label: line.tax_label.clone().unwrap_or_default(),
            rate: rate_text(line.tax_rate),
            unmapped: Unmapped::TaxType,
        })
    }

    /// Platforms that give a refund line's tax without its rate (Shopify's refund line items)
    /// still charged one of the shop's rates: the one the amounts imply, within what cent
    /// rounding of the tax allows. Used only when exactly one configured rate fits, and, for
    /// a line that states a rate, only a configured rate as close to it.
    fn tax_type_by_implied_rate(&self, line: &Line, mode: TaxMode) -> Option<String> {
        let net = checked::net(line).ok()?.abs();
        let tax = line.tax.abs();
        // On an inclusive line the net already contains the tax.
        let base = match mode {
            TaxMode::Inclusive if net > tax => net - tax,
            _ => net,
        };
        if base.is_zero() {
            return None;
        }
        // Checked: a tiny base under a large tax is no rate at all, and must not overflow.
        let percent_of = |amount: Decimal| {
            amount
                .checked_div(base)
                .and_then(|ratio| ratio.checked_mul(Decimal::ONE_HUNDRED))
        };
        let implied = percent_of(tax)?;
        // The tax was rounded to half a cent at worst; on an inclusive line that moves the base
        // too, so the implied rate by up to half a cent × net / base² (net = base on others).
        let tolerance = percent_of(HALF_CENT.checked_mul(net)?.checked_div(base)?)?
            .checked_add(Decimal::new(1, 2))?;
        let stated = match line.tax_rate {
            Some(rate) => Some(rate.checked_mul(Decimal::ONE_HUNDRED)?),
            None => None,
        };
        let near = |rate: Decimal, to: Decimal| {
            rate.checked_sub(to)
                .is_some_and(|off| off.abs() <= tolerance)
        };
        let mut fits = self.tax.by_rate.iter().filter(|(key, _)| {
            key.trim()
                .trim_end_matches('%')
                .parse::<Decimal>()
                .is_ok_and(|rate| near(rate, implied) && stated.is_none_or(|s| near(rate, s)))
        });
        match (fits.next(), fits.next()) {
            (Some((_, tax_type)), None) => Some(tax_type.clone()),
            _ => None,
        }
    }

    /// The Xero line for a domain line. `allow_discount` is false for credit notes.
    fn line_item(
        &self,
        line: &Line,
        mode: TaxMode,
        allow_discount: bool,
    ) -> Result<LineItem, MappingError> {
        let tax_type = self.tax_type_for(line, mode)?;
        self.line_item_as(line, allow_discount, tax_type, None)
    }

    /// The Xero line for a domain line under `tax_type`. With `less_tax`, an inclusive line
    /// in sales-tax mode: booked untaxed at its amount less that tax (signed as the line),
    /// which goes onto a sales-tax line instead.
    fn line_item_as(
        &self,
        line: &Line,
        allow_discount: bool,
        tax_type: String,
        less_tax: Option<Decimal>,
    ) -> Result<LineItem, MappingError> {
        // Discounts and negative adjustments reduce the document: their amounts are stored
        // positive on a Discount line.
        let sign = if line.kind == LineKind::Discount {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        };
        let exact_unit = line.unit_price.normalize().scale() <= UNIT_DP
            && line.quantity.normalize().scale() <= UNIT_DP;
        let discount = round2(line.discount);
        let (quantity, unit_amount, discount_amount, description) = if let Some(tax) = less_tax {
            // The tax is inside the unit price, so no unit price holds the amount before tax
            // exactly: one unit of the line's amount less its tax, to the cent, the detail in
            // the description.
            let description = format!(
                "{} ({} × {}{}, less {} tax)",
                line.description,
                line.quantity.normalize(),
                line.unit_price.normalize(),
                if discount.is_zero() {
                    String::new()
                } else {
                    format!(" − {discount}")
                },
                tax.abs()
            );
            (
                Decimal::ONE,
                checked::sub(round2(checked::net(line)?), tax)?,
                None,
                description,
            )
        } else if !exact_unit || (!allow_discount && !discount.is_zero()) {
            // Xero cannot hold the unit price exactly (or cannot hold a discount here): book
            // the line's net amount as one unit and keep the detail in the description.
            let description = format!(
                "{} ({} × {}{})",
                line.description,
                line.quantity.normalize(),
                line.unit_price.normalize(),
                if discount.is_zero() {
                    String::new()
                } else {
                    format!(" − {discount}")
                }
            );
            (Decimal::ONE, round2(checked::net(line)?), None, description)
        } else {
            (
                line.quantity.normalize(),
                line.unit_price.normalize(),
                (!discount.is_zero()).then_some(discount),
                line.description.clone(),
            )
        };
        Ok(LineItem {
            description: truncate(description, 4000),
            quantity,
            unit_amount: unit_amount * sign,
            item_code: self.item_code(line),
            account_code: self.account_for(line.kind).to_owned(),
            tax_type,
            tax_amount: LineTax::Given(round2(line.tax) * sign),
            discount_amount: discount_amount.map(|d| d * sign),
        })
    }

    /// Lines for a document whose platform total is `total` and tax `total_tax`, with the
    /// tax and rounding corrections described in the module docs.
    fn document_lines(
        &self,
        lines: &[Line],
        mode: TaxMode,
        total: Decimal,
        total_tax: Decimal,
        allow_discount: bool,
    ) -> Result<(Vec<LineItem>, Decimal), MappingError> {
        if lines.is_empty() {
            return Err(MappingError::NoLines);
        }
        if total < Decimal::ZERO {
            return Err(MappingError::NegativeTotal(total));
        }
        let explained = rounding_explains(lines, mode, total, total_tax)?;
        if self.tax.mode == TaxBooking::SalesTaxLines {
            let items = self.sales_tax_lines(lines, mode, total_tax, allow_discount, &explained)?;
            return Ok((
                self.with_rounding(items, mode, total, &explained)?,
                Decimal::ZERO,
            ));
        }
        let mut items = lines
            .iter()
            .map(|line| self.line_item(line, mode, allow_discount))
            .collect::<Result<Vec<_>, _>>()?;

        // Per-line tax rounded to cents may not add up to the tax the platform collected
        // (platforms that keep 4 dp per line, or round tax on the subtotal); the cents go to
        // the taxed line with the most tax. More than rounding explains is the platform's
        // figures disagreeing, which a seller must look at.
        let lines_tax = checked::sum(items.iter().map(|i| i.tax_amount.amount()))?;
        let tax_gap = checked::sub(round2(total_tax), lines_tax)?;
        if !tax_gap.is_zero() {
            let largest = items
                .iter_mut()
                .filter(|i| !i.tax_amount.amount().is_zero())
                .max_by_key(|i| i.tax_amount.amount().abs());
            match largest {
                Some(largest) if tax_gap.abs() <= explained.tax => {
                    largest.tax_amount =
                        LineTax::Given(checked::add(largest.tax_amount.amount(), tax_gap)?);
                }
                _ => {
                    return Err(MappingError::TaxMismatch {
                        lines: lines_tax,
                        platform: total_tax,
                        gap: tax_gap.abs(),
                        explained: explained.tax,
                    });
                }
            }
        }
        let tax = checked::sum(items.iter().map(|i| i.tax_amount.amount()))?;
        Ok((self.with_rounding(items, mode, total, &explained)?, tax))
    }

    /// `items` and, where Xero's sum of them misses the platform's `total` by what rounding
    /// explains, the rounding line that makes it up.
    fn with_rounding(
        &self,
        mut items: Vec<LineItem>,
        mode: TaxMode,
        total: Decimal,
        explained: &RoundingExplains,
    ) -> Result<Vec<LineItem>, MappingError> {
        let computed = xero_total(&items, mode)?;
        let gap = checked::sub(round2(total), computed)?;
        if gap.abs() > explained.total {
            return Err(MappingError::TotalMismatch {
                computed,
                platform: total,
                gap: gap.abs(),
                explained: explained.total,
            });
        }
        if !gap.is_zero() {
            items.push(LineItem {
                description: "Rounding adjustment: Xero rounds each line to cents".to_owned(),
                quantity: Decimal::ONE,
                unit_amount: gap,
                item_code: None,
                account_code: self.accounts.rounding.clone(),
                tax_type: self.tax.no_tax.clone(),
                tax_amount: LineTax::Given(Decimal::ZERO),
                discount_amount: None,
            });
        }
        Ok(items)
    }

    /// The lines in `sales_tax_lines` mode: each domain line untaxed at its amount before
    /// tax, then the tax as one line per jurisdiction on its liability account. The tax is
    /// the platform's, to the cent: each line's tax rounded, the cents its rounding lost (within
    /// what rounding explains) put on the line with the most tax, as in `tax_types` mode, and
    /// each line's tax split between its jurisdictions so that the parts add up to it.
    fn sales_tax_lines(
        &self,
        lines: &[Line],
        mode: TaxMode,
        total_tax: Decimal,
        allow_discount: bool,
        explained: &RoundingExplains,
    ) -> Result<Vec<LineItem>, MappingError> {
        let sign = |line: &Line| {
            if line.kind == LineKind::Discount {
                Decimal::NEGATIVE_ONE
            } else {
                Decimal::ONE
            }
        };
        // Each line's tax as the document books it (a discount's reduces the tax).
        let mut taxes: Vec<Decimal> = lines.iter().map(|l| round2(l.tax) * sign(l)).collect();
        let lines_tax = checked::sum(taxes.iter().copied())?;
        let tax_gap = checked::sub(round2(total_tax), lines_tax)?;
        if !tax_gap.is_zero() {
            let largest = taxes
                .iter_mut()
                .filter(|t| !t.is_zero())
                .max_by_key(|t| t.abs());
            match largest {
                Some(largest) if tax_gap.abs() <= explained.tax => {
                    *largest = checked::add(*largest, tax_gap)?;
                }
                _ => {
                    return Err(MappingError::TaxMismatch {
                        lines: lines_tax,
                        platform: total_tax,
                        gap: tax_gap.abs(),
                        explained: explained.tax,
                    });
                }
            }
        }

        let mut items = Vec::with_capacity(lines.len() + 3);
        // (account, jurisdiction as first named, amount), in the order first met.
        let mut by_jurisdiction: Vec<(String, String, Decimal)> = Vec::new();
        for (line, &tax) in lines.iter().zip(&taxes) {
            // An inclusive line's amount holds its tax: booked less it, so that the line and
            // its tax lines add up to what the customer paid for it.
            let less_tax = (mode == TaxMode::Inclusive && !tax.is_zero()).then(|| tax * sign(line));
            let mut item =
                self.line_item_as(line, allow_discount, self.tax.untaxed.clone(), less_tax)?;
            item.tax_amount = LineTax::Given(Decimal::ZERO);
            items.push(item);
            for (jurisdiction, amount) in jurisdiction_parts(line, tax)? {
                let account = self.liability_for(&jurisdiction, line)?;
                let key = jurisdiction.to_lowercase();
                match by_jurisdiction
                    .iter_mut()
                    .find(|(a, j, _)| *a == account && j.to_lowercase() == key)
                {
                    Some((_, _, sum)) => *sum = checked::add(*sum, amount)?,
                    None => by_jurisdiction.push((account, jurisdiction, amount)),
                }
            }
        }
        for (account, jurisdiction, amount) in by_jurisdiction {
            if amount.is_zero() {
                continue;
            }
            items.push(LineItem {
                description: if jurisdiction == UNNAMED_JURISDICTION {
                    jurisdiction
                } else {
                    truncate(format!("Sales tax: {jurisdiction}"), 4000)
                },
                quantity: Decimal::ONE,
                unit_amount: amount,
                item_code: None,
                account_code: account,
                tax_type: self.tax.no_tax.clone(),
                tax_amount: LineTax::Given(Decimal::ZERO),
                discount_amount: None,
            });
        }
        Ok(items)
    }

    /// The sales-tax liability account for `jurisdiction`: its own, or the shop's one.
    fn liability_for(&self, jurisdiction: &str, line: &Line) -> Result<String, MappingError> {
        let wanted = jurisdiction.trim();
        self.tax
            .by_jurisdiction
            .iter()
            .find(|(name, _)| name.trim().eq_ignore_ascii_case(wanted))
            .map(|(_, account)| account.clone())
            .or_else(|| self.tax.liability.clone())
            .ok_or_else(|| MappingError::UnmappedTax {
                label: wanted.to_owned(),
                rate: rate_text(
                    line.tax_parts
                        .iter()
                        .find(|p| p.label.as_deref().map(str::trim) == Some(wanted))
                        .map_or(line.tax_rate, |p| p.rate),
                ),
                unmapped: Unmapped::LiabilityAccount,
            })
    }

    /// The invoice for an order.
    ///
    /// # Errors
    /// [`MappingError`] when a tax is unmapped or the figures do not add up.
    pub fn invoice(
        &self,
        order: &Order,
        contact: ContactRef,
    ) -> Result<MappedInvoice, MappingError> {
        let (line_items, total_tax) = self.document_lines(
            &order.lines,
            order.tax_mode,
            order.total,
            order.total_tax,
            true,
        )?;
        Ok(MappedInvoice {
            invoice: Invoice {
                kind: types::ACCREC.to_owned(),
                contact,
                date: date(order.date),
                due_date: date(order.date),
                invoice_number: invoice_number(self, &order.number),
                reference: invoice_reference(order.platform, &order.number),
                currency_code: order.currency.to_string(),
                line_amount_types: amount_types(order.tax_mode),
                status: types::AUTHORISED.to_owned(),
                line_items,
            },
            total: round2(order.total),
            total_tax,
        })
    }

    /// The credit note for a refund.
    ///
    /// # Errors
    /// [`MappingError`] when a tax is unmapped or the figures do not add up.
    pub fn credit_note(
        &self,
        refund: &Refund,
        contact: ContactRef,
    ) -> Result<MappedCreditNote, MappingError> {
        let (line_items, total_tax) = self.document_lines(
            &refund.lines,
            refund.tax_mode,
            refund.total,
            refund.total_tax,
            false,
        )?;
        Ok(MappedCreditNote {
            credit_note: CreditNote {
                kind: types::ACCRECCREDIT.to_owned(),
                contact,
                date: date(refund.date),
                credit_note_number: credit_note_number(
                    self,
                    &refund.order_number,
                    &refund.refund_id,
                ),
                reference: credit_note_reference(
                    refund.platform,
                    &refund.order_number,
                    &refund.refund_id,
                ),
                currency_code: refund.currency.to_string(),
                line_amount_types: amount_types(refund.tax_mode),
                status: types::AUTHORISED.to_owned(),
                line_items,
            },
            total: round2(refund.total),
            total_tax,
        })
    }

    /// The account a payment by `method` lands in (or, for a refund, leaves from).
    pub fn payment_account(&self, method: &PaymentMethod) -> &str {
        match method {
            PaymentMethod::GiftCard => &self.accounts.gift_cards,
            PaymentMethod::Gateway { name } => self
                .gateway_accounts
                .get(name)
                .unwrap_or(&self.accounts.clearing),
        }
    }

    /// The payments received for an order, capped at the invoice total (a platform that
    /// reports more paid than charged has overcharged; Xero refuses overpayment here).
    pub fn order_payments(&self, order: &Order, invoice_total: Decimal) -> Vec<PlannedPayment> {
        plan_payments(self, &order.payments, invoice_total, &order.number)
    }

    /// The money a refund paid back, capped at what the credit note has left.
    pub fn refund_payments(
        &self,
        refund: &Refund,
        remaining_credit: Decimal,
    ) -> Vec<PlannedPayment> {
        plan_payments(
            self,
            &refund.returned,
            remaining_credit,
            &refund.order_number,
        )
    }
}

fn plan_payments(
    mapping: &ShopMapping,
    payments: &[xcs_shared::domain::Payment],
    cap: Decimal,
    number: &str,
) -> Vec<PlannedPayment> {
    let mut left = cap;
    let mut planned = Vec::new();
    for payment in payments {
        let amount = round2(payment.amount).min(left);
        if amount <= Decimal::ZERO {
            continue;
        }
        left -= amount;
        let method = match &payment.method {
            PaymentMethod::GiftCard => "gift card".to_owned(),
            PaymentMethod::Gateway { name } => name.clone(),
        };
        planned.push(PlannedPayment {
            account: mapping.payment_account(&payment.method).to_owned(),
            amount,
            date: payment.date,
            reference: truncate(
                match &payment.reference {
                    Some(reference) => format!("{method} {reference} ({})", number.trim()),
                    None => format!("{method} ({})", number.trim()),
                },
                255,
            ),
        });
    }
    planned
}

fn amount_types(mode: TaxMode) -> LineAmountTypes {
    match mode {
        TaxMode::Exclusive => LineAmountTypes::Exclusive,
        TaxMode::Inclusive => LineAmountTypes::Inclusive,
    }
}

/// The total Xero computes for these lines: each line amount rounded to cents, plus the
/// explicit tax amounts when prices exclude tax.
///
/// # Errors
/// [`MappingError::Overflow`] for figures beyond `Decimal`.
pub fn xero_total(items: &[LineItem], mode: TaxMode) -> Result<Decimal, MappingError> {
    checked::sum(
        items
            .iter()
            .map(|item| {
                let gross = checked::mul(item.quantity, item.unit_amount)?;
                let amount = round2(checked::sub(
                    gross,
                    item.discount_amount.unwrap_or_default(),
                )?);
                match mode {
                    TaxMode::Exclusive => checked::add(amount, item.tax_amount.amount()),
                    TaxMode::Inclusive => Ok(amount),
                }
            })
            .collect::<Result<Vec<_>, _>>()?,
    )
}

/// A line's amount as Xero computes it: `Quantity × UnitAmount − DiscountAmount`, in cents.
fn xero_line_amount(item: &LineItem) -> Result<Decimal, MappingError> {
    let gross = checked::mul(item.quantity, item.unit_amount)?;
    Ok(round2(checked::sub(
        gross,
        item.discount_amount.unwrap_or_default(),
    )?))
}

/// An organisation's tax rates as Xero applies them: each tax type's `EffectiveRate`, in
/// percent (`GET /TaxRates`), so the tax Xero will compute for a line is known before it is
/// sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XeroTaxRates {
    by_type: BTreeMap<String, Decimal>,
}

impl XeroTaxRates {
    /// From `(TaxType, EffectiveRate in percent)` pairs.
    pub fn new(rates: impl IntoIterator<Item = (String, Decimal)>) -> Self {
        Self {
            by_type: rates
                .into_iter()
                .map(|(tax_type, rate)| (tax_type.to_ascii_uppercase(), rate))
                .collect(),
        }
    }

    /// From the answer to `GET /TaxRates`: the ACTIVE rates (Xero refuses lines under the
    /// others), with `EffectiveRate` as Xero prints it (`15.0000`, or a string).
    pub fn from_answer(answer: &serde_json::Value) -> Self {
        let rates = answer["TaxRates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|rate| rate["Status"] == "ACTIVE")
            .filter_map(|rate| {
                let tax_type = rate["TaxType"].as_str()?;
                let effective = match &rate["EffectiveRate"] {
                    serde_json::Value::String(text) => text.trim().parse().ok()?,
                    serde_json::Value::Number(number) => number.to_string().parse().ok()?,
                    _ => return None,
                };
                Some((tax_type.to_owned(), effective))
            });
        Self::new(rates)
    }

    /// The rate of `tax_type`, in percent, if the organisation has it.
    pub fn rate(&self, tax_type: &str) -> Option<Decimal> {
        self.by_type.get(&tax_type.to_ascii_uppercase()).copied()
    }

    /// Whether no rate is known (nothing asked yet): every line's tax is then given.
    pub fn is_empty(&self) -> bool {
        self.by_type.is_empty()
    }

    /// The tax Xero computes for `item` when its amounts are on `basis`: its line amount
    /// × rate (exclusive) or × rate / (1 + rate) (inclusive), rounded to cents per line
    /// ("Tax and the Xero API": "each line's tax is calculated and rounded separately"). Xero
    /// does not say how it rounds half a cent (notes §4, UNSURE), so a half cent, which the two
    /// readings round apart, is no known figure: `None`, as for a tax type without a rate.
    fn tax_of(
        &self,
        item: &LineItem,
        basis: LineAmountTypes,
    ) -> Result<Option<Decimal>, MappingError> {
        let Some(percent) = self.rate(&item.tax_type) else {
            return Ok(None);
        };
        let amount = xero_line_amount(item)?;
        let rate = percent
            .checked_div(Decimal::ONE_HUNDRED)
            .ok_or_else(|| MappingError::Overflow(format!("{percent} / 100")))?;
        let exact = match basis {
            LineAmountTypes::Exclusive => checked::mul(amount, rate)?,
            // In the order Xero (and the simulator) compute it.
            LineAmountTypes::Inclusive => checked::mul(amount, rate)?
                .checked_div(checked::add(Decimal::ONE, rate)?)
                .ok_or_else(|| {
                    MappingError::Overflow(format!("{amount} × {rate} / (1 + {rate})"))
                })?,
            LineAmountTypes::NoTax => Decimal::ZERO,
        };
        let away = exact.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        let even = exact.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
        Ok((away == even).then_some(away))
    }
}

/// Whether a document type takes a line `TaxAmount` other than the tax Xero computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxOverrides {
    /// Invoices: Xero takes it, and shows it as a tax adjustment on tax-exclusive invoices.
    Taken,
    /// Credit notes: whether Xero takes it is UNSURE (bank transactions refuse it, "Tax
    /// amount … is incorrect for … tax type, should be …"), so none is sent.
    Refused,
}

/// A document's lines as sent to Xero, with the basis of their amounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XeroLines {
    pub items: Vec<LineItem>,
    pub basis: LineAmountTypes,
    /// The tax Xero will hold: the platform's, unless overrides are refused and Xero's per-line
    /// rounding differs (a rounding line then keeps the total).
    pub total_tax: Decimal,
}

/// `item`, whose amounts include its tax, at its amount less that tax (`direction` −1: an
/// exclusive line at its amount plus its tax), the detail in the description. Its quantity
/// stays when the new amount divides into a unit amount Xero holds exactly (4 decimals), so an
/// item keeps its count; otherwise it is one unit of the amount.
fn rebased(item: &LineItem, direction: Decimal) -> Result<LineItem, MappingError> {
    let tax = item.tax_amount.amount();
    if tax.is_zero() {
        return Ok(item.clone());
    }
    let amount = xero_line_amount(item)?;
    let detail = format!(
        "{} × {}{}",
        item.quantity.normalize(),
        item.unit_amount.normalize(),
        item.discount_amount
            .map_or_else(String::new, |d| format!(" − {}", d.normalize()))
    );
    let (target, description) = if direction.is_sign_positive() {
        (
            checked::sub(amount, tax)?,
            format!("{} ({detail}, less {} tax)", item.description, tax.abs()),
        )
    } else {
        (
            checked::add(amount, tax)?,
            format!("{} ({detail}, plus {} tax)", item.description, tax.abs()),
        )
    };
    let per_unit = target
        .checked_div(item.quantity)
        .map(|unit| unit.normalize())
        .filter(|unit| unit.scale() <= UNIT_DP && unit.checked_mul(item.quantity) == Some(target));
    let (quantity, unit_amount) = match per_unit {
        Some(unit) => (item.quantity, unit),
        None => (Decimal::ONE, target),
    };
    Ok(LineItem {
        description: truncate(description, 4000),
        quantity,
        unit_amount,
        discount_amount: None,
        ..item.clone()
    })
}

impl ShopMapping {
    /// A document's lines as Xero is to get them. `items` carry the platform's tax as given
    /// and amounts on `basis`; the answer sends `TaxAmount` only where it must, and never
    /// where Xero would flag or refuse it:
    ///
    /// 1. On `basis` (the platform's), when Xero's own per-line tax is the platform's on
    ///    every line: no `TaxAmount` at all.
    /// 2. Otherwise, where overrides are [`TaxOverrides::Taken`] (invoices): tax-exclusive
    ///    (an inclusive platform's lines at their amounts less tax), `TaxAmount` only on the
    ///    lines whose tax Xero would compute otherwise. Xero adjusts tax on exclusive
    ///    documents without flags; it flags inclusive ones with adjusted tax.
    /// 3. Otherwise ([`TaxOverrides::Refused`], credit notes): the other basis if Xero's tax
    ///    agrees there on every line; else tax-exclusive with Xero's own tax on every line and
    ///    the difference from the platform's tax on an untaxed rounding line, so the total is
    ///    still the platform's (tax-inclusive, with Xero's tax, where a half cent leaves
    ///    Xero's exclusive tax open and its inclusive tax is known: the total is the lines'
    ///    there). A difference more than rounding explains (`explained`) is a Xero tax rate
    ///    unlike the platform's: [`MappingError::XeroTaxDiffers`].
    ///
    /// A line whose tax Xero's rounding leaves open (a half cent, which the two readings of
    /// its rounding round apart) or whose tax type has no known rate keeps its tax given.
    ///
    /// # Errors
    /// [`MappingError::XeroTaxDiffers`], [`MappingError::Overflow`].
    pub fn for_xero(
        &self,
        items: Vec<LineItem>,
        basis: LineAmountTypes,
        overrides: TaxOverrides,
        rates: &XeroTaxRates,
        explained: Decimal,
    ) -> Result<XeroLines, MappingError> {
        let given: Vec<Decimal> = items.iter().map(|i| i.tax_amount.amount()).collect();
        let total_given = checked::sum(given.iter().copied())?;
        let computed = |items: &[LineItem], basis| {
            items
                .iter()
                .map(|item| rates.tax_of(item, basis))
                .collect::<Result<Vec<_>, _>>()
        };
        let agrees = |xero: &[Option<Decimal>]| {
            xero.iter()
                .zip(&given)
                .all(|(xero, given)| *xero == Some(*given))
        };
        let left_to_xero = |items: Vec<LineItem>, basis| XeroLines {
            items: items
                .into_iter()
                .map(|item| LineItem {
                    tax_amount: LineTax::Computed(item.tax_amount.amount()),
                    ..item
                })
                .collect(),
            basis,
            total_tax: total_given,
        };
        if basis != LineAmountTypes::NoTax && agrees(&computed(&items, basis)?) {
            return Ok(left_to_xero(items, basis));
        }
        let exclusive = match basis {
            LineAmountTypes::Inclusive => items
                .iter()
                .map(|item| rebased(item, Decimal::ONE))
                .collect::<Result<Vec<_>, _>>()?,
            LineAmountTypes::Exclusive | LineAmountTypes::NoTax => items.clone(),
        };
        let on_exclusive = computed(&exclusive, LineAmountTypes::Exclusive)?;
        if overrides == TaxOverrides::Taken {
            let items = exclusive
                .into_iter()
                .zip(&on_exclusive)
                .map(|(item, xero)| {
                    let tax = item.tax_amount.amount();
                    LineItem {
                        tax_amount: if *xero == Some(tax) {
                            LineTax::Computed(tax)
                        } else {
                            LineTax::Given(tax)
                        },
                        ..item
                    }
                })
                .collect();
            return Ok(XeroLines {
                items,
                basis: LineAmountTypes::Exclusive,
                total_tax: total_given,
            });
        }
        let inclusive = match basis {
            LineAmountTypes::Exclusive => items
                .iter()
                .map(|item| rebased(item, Decimal::NEGATIVE_ONE))
                .collect::<Result<Vec<_>, _>>()?,
            LineAmountTypes::Inclusive | LineAmountTypes::NoTax => items,
        };
        let on_inclusive = computed(&inclusive, LineAmountTypes::Inclusive)?;
        if basis == LineAmountTypes::Exclusive && agrees(&on_inclusive) {
            return Ok(left_to_xero(inclusive, LineAmountTypes::Inclusive));
        }
        // Xero's own tax on every line: exclusive, where it is known on every line (the cents
        // it differs by from the platform's then go to the rounding account, untaxed), else
        // inclusive if known there (the total is the lines' either way); failing both, a line
        // whose tax is a half cent keeps the platform's, given.
        let known = |xero: &[Option<Decimal>]| xero.iter().all(Option::is_some);
        let (chosen, xero, chosen_basis) = if !known(&on_exclusive) && known(&on_inclusive) {
            (inclusive, on_inclusive, LineAmountTypes::Inclusive)
        } else {
            (exclusive, on_exclusive, LineAmountTypes::Exclusive)
        };
        let mut items: Vec<LineItem> = chosen
            .into_iter()
            .zip(&xero)
            .map(|(item, xero)| {
                let tax_amount = match xero {
                    Some(xero) => LineTax::Computed(*xero),
                    None => item.tax_amount,
                };
                LineItem { tax_amount, ..item }
            })
            .collect();
        let total_tax = checked::sum(items.iter().map(|i| i.tax_amount.amount()))?;
        let gap = checked::sub(total_tax, total_given)?;
        if gap.abs() > explained {
            return Err(MappingError::XeroTaxDiffers {
                xero: total_tax,
                platform: total_given,
                gap: gap.abs(),
                explained,
            });
        }
        if !gap.is_zero() && chosen_basis == LineAmountTypes::Exclusive {
            let no_tax = match rates.rate(&self.tax.no_tax) {
                Some(rate) if rate.is_zero() => LineTax::Computed(Decimal::ZERO),
                _ => LineTax::Given(Decimal::ZERO),
            };
            items.push(LineItem {
                description: "Rounding adjustment: Xero's per-line tax differs from the \
                              platform's"
                    .to_owned(),
                quantity: Decimal::ONE,
                unit_amount: -gap,
                item_code: None,
                account_code: self.accounts.rounding.clone(),
                tax_type: self.tax.no_tax.clone(),
                tax_amount: no_tax,
                discount_amount: None,
            });
        }
        Ok(XeroLines {
            items,
            basis: chosen_basis,
            total_tax,
        })
    }
}

/// How far Xero's per-line tax can be from the platform's by rounding alone, over
/// `taxed_lines` platform lines: half a cent for each line's rounding by the platform and half
/// a cent for Xero's, and once more for the platform's tax total.
pub fn tax_rounding_explains(taxed_lines: usize) -> Decimal {
    Decimal::from(2 * taxed_lines + 1) * HALF_CENT
}

fn taxed_lines(items: &[LineItem]) -> usize {
    items
        .iter()
        .filter(|i| !i.tax_amount.amount().is_zero())
        .count()
}

impl ShopMapping {
    /// A document's `items` on `basis`, and its `total_tax`, made what Xero is to get (see
    /// [`ShopMapping::for_xero`]), in place: invoices and credit notes differ only in
    /// `overrides`, and hold their lines in fields of their own.
    fn document_for_xero(
        &self,
        items: &mut Vec<LineItem>,
        basis: &mut LineAmountTypes,
        total_tax: &mut Decimal,
        overrides: TaxOverrides,
        rates: &XeroTaxRates,
    ) -> Result<(), MappingError> {
        let taken = std::mem::take(items);
        let explained = tax_rounding_explains(taxed_lines(&taken));
        let lines = self.for_xero(taken, *basis, overrides, rates, explained)?;
        *items = lines.items;
        *basis = lines.basis;
        *total_tax = lines.total_tax;
        Ok(())
    }
}

impl MappedInvoice {
    /// The invoice as Xero is to get it (see [`ShopMapping::for_xero`]): overrides taken.
    ///
    /// # Errors
    /// [`MappingError::Overflow`].
    pub fn for_xero(
        mut self,
        mapping: &ShopMapping,
        rates: &XeroTaxRates,
    ) -> Result<Self, MappingError> {
        let invoice = &mut self.invoice;
        mapping.document_for_xero(
            &mut invoice.line_items,
            &mut invoice.line_amount_types,
            &mut self.total_tax,
            TaxOverrides::Taken,
            rates,
        )?;
        Ok(self)
    }
}

impl MappedCreditNote {
    /// The credit note as Xero is to get it (see [`ShopMapping::for_xero`]): no overrides.
    ///
    /// # Errors
    /// [`MappingError::XeroTaxDiffers`], [`MappingError::Overflow`].
    pub fn for_xero(
        mut self,
        mapping: &ShopMapping,
        rates: &XeroTaxRates,
    ) -> Result<Self, MappingError> {
        let note = &mut self.credit_note;
        mapping.document_for_xero(
            &mut note.line_items,
            &mut note.line_amount_types,
            &mut self.total_tax,
            TaxOverrides::Refused,
            rates,
        )?;
        Ok(self)
    }
}

/// How far rounding can move a document's figures from the sum of its lines as Xero computes
/// them: half a cent for each amount actually rounded, and nothing for amounts in whole cents.
/// A gap larger than this is no rounding (an outside check booked 39.99 as a "rounding
/// adjustment" when the tolerance grew with the number of lines, whole cents or not).
struct RoundingExplains {
    /// Of the total.
    total: Decimal,
    /// Of the tax total.
    tax: Decimal,
}

fn rounding_explains(
    lines: &[Line],
    mode: TaxMode,
    total: Decimal,
    total_tax: Decimal,
) -> Result<RoundingExplains, MappingError> {
    let mut for_total = Decimal::ZERO;
    let mut rounded_taxes = 0_u32;
    let half_cent_if = |rounded: bool| if rounded { HALF_CENT } else { Decimal::ZERO };
    for line in lines {
        let net = checked::net(line)?;
        // Xero rounds each line amount (and the discount we send) to cents.
        for_total = checked::add(for_total, half_cent_if(has_sub_cents(net)))?;
        for_total = checked::add(for_total, half_cent_if(has_sub_cents(line.discount)))?;
        // A unit price finer than cents: the platform may have charged each unit at cents
        // (3 × 33.3333 charged as 99.99), which moves the line by what that rounding moves.
        if has_sub_cents(line.unit_price) {
            let per_unit = checked::mul(line.quantity, round2(line.unit_price))?;
            let exact = checked::mul(line.quantity, line.unit_price)?;
            for_total = checked::add(for_total, checked::sub(exact, per_unit)?.abs())?;
        }
        if tax_was_rounded(line, mode, net)? {
            rounded_taxes += 1;
        }
    }
    // The stated totals, when not in whole cents, are rounded once more here; and a platform
    // that rounded line taxes rounded its tax total from them.
    for_total = checked::add(for_total, half_cent_if(has_sub_cents(total)))?;
    if mode == TaxMode::Exclusive {
        for_total = checked::add(for_total, half_cent_if(has_sub_cents(total_tax)))?;
    }
    let tax_totals_rounded = u32::from(rounded_taxes > 0 || has_sub_cents(total_tax));
    let tax = checked::mul(HALF_CENT, Decimal::from(rounded_taxes + tax_totals_rounded))?;
    Ok(RoundingExplains {
        total: for_total,
        tax,
    })
}

/// Whether a line's tax is a rounded figure: it has sub-cents (rounded here), or its rate
/// applied to the line does not come out in whole cents (rounded by the platform), or it has
/// no rate to tell and is not zero.
fn tax_was_rounded(line: &Line, mode: TaxMode, net: Decimal) -> Result<bool, MappingError> {
    if has_sub_cents(line.tax) {
        return Ok(true);
    }
    let Some(rate) = line.tax_rate else {
        return Ok(!line.tax.is_zero());
    };
    let exact = match mode {
        TaxMode::Exclusive => checked::mul(net, rate)?,
        // The net includes the tax: tax = net × rate / (1 + rate).
        TaxMode::Inclusive => checked::mul(net, rate)?
            .checked_div(checked::add(Decimal::ONE, rate)?)
            .ok_or_else(|| MappingError::Overflow(format!("{net} × {rate} / (1 + {rate})")))?,
    };
    Ok(has_sub_cents(exact))
}

/// `tax`, a line's tax as booked (rounded, signed, with any cents the tax total put on it),
/// split between the jurisdictions that charged it: the platform's parts as they are when
/// they add up to it, otherwise apportioned by their amounts (a refunded share of the line's
/// tax, or cents the tax total moved), to the cent with the remainder on the largest part. A
/// line whose platform names no parts is one jurisdiction: its tax label, or
/// [`UNNAMED_JURISDICTION`].
fn jurisdiction_parts(line: &Line, tax: Decimal) -> Result<Vec<(String, Decimal)>, MappingError> {
    if tax.is_zero() {
        return Ok(Vec::new());
    }
    let named = |label: Option<&String>| {
        label
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .or_else(|| {
                line.tax_label
                    .as_deref()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
            })
            .unwrap_or(UNNAMED_JURISDICTION)
            .to_owned()
    };
    let parts: Vec<_> = line
        .tax_parts
        .iter()
        .filter(|p| !p.amount.is_zero())
        .collect();
    // Apportioned by amount; failing that (parts without amounts), by rate.
    let weights: Vec<Decimal> = if parts.is_empty() {
        let rated: Vec<_> = line
            .tax_parts
            .iter()
            .filter(|p| p.rate.is_some_and(|r| !r.is_zero()))
            .collect();
        if rated.is_empty() {
            return Ok(vec![(named(None), tax)]);
        }
        return apportion(
            tax,
            &rated
                .iter()
                .map(|p| named(p.label.as_ref()))
                .collect::<Vec<_>>(),
            &rated.iter().filter_map(|p| p.rate).collect::<Vec<_>>(),
        );
    } else {
        parts.iter().map(|p| p.amount).collect()
    };
    let labels: Vec<String> = parts.iter().map(|p| named(p.label.as_ref())).collect();
    let sign = if line.kind == LineKind::Discount {
        Decimal::NEGATIVE_ONE
    } else {
        Decimal::ONE
    };
    let as_given: Vec<Decimal> = weights.iter().map(|w| round2(*w) * sign).collect();
    if checked::sum(as_given.iter().copied())? == tax {
        return Ok(labels.into_iter().zip(as_given).collect());
    }
    apportion(tax, &labels, &weights)
}

/// `total` split in proportion to `weights`, each share in cents, the cents left over on the
/// share with the largest weight, so the shares add up to `total` exactly.
fn apportion(
    total: Decimal,
    labels: &[String],
    weights: &[Decimal],
) -> Result<Vec<(String, Decimal)>, MappingError> {
    let sum = checked::sum(weights.iter().copied())?;
    if sum.is_zero() {
        return Ok(vec![(labels[0].clone(), total)]);
    }
    let mut shares = weights
        .iter()
        .map(|w| {
            checked::mul(total, *w)?
                .checked_div(sum)
                .map(round2)
                .ok_or_else(|| MappingError::Overflow(format!("{total} × {w} / {sum}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let left = checked::sub(total, checked::sum(shares.iter().copied())?)?;
    if let Some(largest) = (0..weights.len()).max_by_key(|&i| weights[i].abs()) {
        shares[largest] = checked::add(shares[largest], left)?;
    }
    Ok(labels.iter().cloned().zip(shares).collect())
}

/// A plain account reference.
pub fn account(code: &str) -> AccountRef {
    AccountRef {
        code: code.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use xcs_shared::Platform;
    use xcs_shared::domain::{Currency, Payment, TaxPart};

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn mapping() -> ShopMapping {
        toml_mapping(
            r#"
            document_prefix = "SH-"
            gateway_accounts = { paypal = "617" }
            items = { "IPOD-342-N" = "IPOD" }
            [accounts]
            sales = "200"
            shipping = "205"
            discounts = "210"
            gift_cards = "825"
            fees = "260"
            rounding = "860"
            clearing = "615"
            [tax]
            by_label = { "GST" = "OUTPUT2" }
            by_rate = { "15" = "OUTPUT2", "7.5" = "TAX001" }
            untaxed = "ZERORATED"
            "#,
        )
    }

    fn toml_mapping(text: &str) -> ShopMapping {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn a_sku_that_can_be_a_xero_code_is_kept_as_it_is() {
        for sku in ["MUG-KAURI", "tea_towel.2", "A", &"X".repeat(30)] {
            assert_eq!(xero_item_code(sku).as_deref(), Some(sku), "{sku}");
        }
        for blank in ["", "   ", "\t"] {
            assert_eq!(xero_item_code(blank), None, "{blank:?}");
        }
    }

    #[test]
    fn a_sku_that_cannot_be_a_xero_code_is_mapped_stably_within_xeros_limit() {
        let long = "LINEN-TEA-TOWEL-POHUTUKAWA-LARGE-2026";
        let mapped = xero_item_code(long).unwrap();
        // The same on every call, processor and replay: pinned, not just compared.
        assert_eq!(mapped, xero_item_code(long).unwrap());
        assert_eq!(mapped.len(), ITEM_CODE_MAX);
        assert!(mapped.starts_with("LINEN-TEA-TOWEL-POH-"), "{mapped}");
        let hash = &mapped[mapped.len() - ITEM_HASH_HEX..];
        let expected: String = Sha256::digest(long.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hash, &expected[..ITEM_HASH_HEX]);
        for sku in [
            long,
            "Pōhutukawa mug",
            " MUG-KAURI",
            "MUG-KAURI ",
            "MUG KAURI",
            "茶杯",
            "a\"b",
            "x/y?z",
        ] {
            let code = xero_item_code(sku).unwrap();
            assert!(code.chars().count() <= ITEM_CODE_MAX, "{code}");
            assert!(code.chars().all(is_item_code_char), "{code}");
            assert_ne!(code, sku);
        }
        assert!(xero_item_code("茶杯").unwrap().starts_with("SKU-"));
        assert_eq!(
            xero_item_code("Pōhutukawa mug").unwrap()[..10],
            *"Phutukawam"
        );
    }

    #[test]
    fn skus_that_differ_only_in_what_is_left_out_get_different_codes() {
        // Blanks, other characters and what lies past 30 characters are left out of the
        // prefix, so the hash of the whole SKU tells these apart.
        let skus = [
            "MUG-KAURI",
            " MUG-KAURI",
            "MUG-KAURI ",
            "MUG-KAURI  ",
            "MUG KAURI",
            "MUG/KAURI",
            &format!("{}1", "A".repeat(30)),
            &format!("{}2", "A".repeat(30)),
        ];
        let codes: std::collections::BTreeSet<String> =
            skus.iter().map(|s| xero_item_code(s).unwrap()).collect();
        assert_eq!(codes.len(), skus.len(), "{codes:?}");
        // Many near-identical long SKUs: no two share a code (40 bits of hash).
        let many: std::collections::BTreeSet<String> = (0..20_000)
            .map(|n| xero_item_code(&format!("{}-{n}", "VARIANT".repeat(5))).unwrap())
            .collect();
        assert_eq!(many.len(), 20_000);
    }

    #[test]
    fn in_items_mode_product_lines_carry_a_code_and_an_explicit_one_wins() {
        let mut mapping = mapping();
        let with_sku = |kind: LineKind, sku: &str| Line {
            sku: Some(sku.to_owned()),
            ..line(kind, "1", "10", "0", "1.50", Some("0.15"))
        };
        let mug = with_sku(LineKind::Product, "MUG-KAURI");
        let ipod = with_sku(LineKind::Product, "IPOD-342-N");
        let long = with_sku(LineKind::Product, "LINEN-TEA-TOWEL-POHUTUKAWA-LARGE-2026");
        let shipping = with_sku(LineKind::Shipping, "SHIP-COURIER");
        let plain = line(LineKind::Product, "1", "10", "0", "1.50", Some("0.15"));
        // Off: only the explicit entry, as before.
        assert_eq!(mapping.item_code(&mug), None);
        assert_eq!(mapping.item_code(&ipod).as_deref(), Some("IPOD"));
        assert!(mapping.item_specs(&[mug.clone(), ipod.clone()]).is_empty());
        mapping.derive_item_codes = true;
        assert_eq!(mapping.item_code(&mug).as_deref(), Some("MUG-KAURI"));
        assert_eq!(mapping.item_code(&ipod).as_deref(), Some("IPOD"));
        assert_eq!(mapping.item_code(&shipping), None);
        assert_eq!(mapping.item_code(&plain), None);
        let specs = mapping.item_specs(&[
            mug.clone(),
            ipod.clone(),
            long.clone(),
            mug.clone(),
            shipping,
            plain,
        ]);
        let codes: Vec<(&str, bool)> = specs.iter().map(|s| (s.code.as_str(), s.derived)).collect();
        let long_code = xero_item_code("LINEN-TEA-TOWEL-POHUTUKAWA-LARGE-2026").unwrap();
        assert_eq!(
            codes,
            [
                ("MUG-KAURI", true),
                ("IPOD", false),
                (long_code.as_str(), true)
            ]
        );
        assert_eq!(specs[0].name, "Product");
        assert_eq!(
            specs[2].description,
            "Product (SKU LINEN-TEA-TOWEL-POHUTUKAWA-LARGE-2026)"
        );
        let long_title = Line {
            description: "T".repeat(80),
            ..mug
        };
        assert_eq!(
            mapping.item_specs(&[long_title])[0].name.len(),
            ITEM_NAME_MAX
        );
        let invoice = mapping
            .invoice(
                &order(TaxMode::Exclusive, vec![ipod, long], "23.00", "3.00"),
                contact(),
            )
            .unwrap();
        let carried: Vec<Option<&str>> = invoice
            .invoice
            .line_items
            .iter()
            .map(|l| l.item_code.as_deref())
            .collect();
        assert_eq!(carried, [Some("IPOD"), Some(long_code.as_str())]);
    }

    fn line(
        kind: LineKind,
        qty: &str,
        unit: &str,
        discount: &str,
        tax: &str,
        rate: Option<&str>,
    ) -> Line {
        Line {
            kind,
            sku: None,
            description: format!("{kind:?}"),
            quantity: d(qty),
            unit_price: d(unit),
            discount: d(discount),
            tax: d(tax),
            tax_rate: rate.map(d),
            tax_label: None,
            tax_parts: Vec::new(),
            restocked: None,
        }
    }

    fn order(mode: TaxMode, lines: Vec<Line>, total: &str, tax: &str) -> Order {
        Order {
            platform: Platform::Shopify,
            order_id: "820982911946154508".into(),
            number: "#1001".into(),
            date: time::macros::date!(2026 - 11 - 27),
            currency: Currency::try_from("NZD".to_owned()).unwrap(),
            tax_mode: mode,
            customer: None,
            lines,
            total: d(total),
            total_tax: d(tax),
            payments: vec![],
            cancelled: false,
        }
    }

    fn contact() -> ContactRef {
        ContactRef {
            contact_id: "c-1".into(),
        }
    }

    fn xero_tax(items: &[LineItem]) -> Decimal {
        items.iter().map(|i| i.tax_amount.amount()).sum()
    }

    fn part(label: &str, rate: &str, amount: &str) -> TaxPart {
        TaxPart {
            label: Some(label.into()),
            rate: Some(d(rate)),
            amount: d(amount),
        }
    }

    /// A line taxed by several authorities, as Shopify and WooCommerce give it.
    fn taxed(kind: LineKind, qty: &str, unit: &str, parts: Vec<TaxPart>) -> Line {
        let tax: Decimal = parts.iter().map(|p| p.amount).sum();
        let rate = parts.iter().map(|p| p.rate).sum::<Option<Decimal>>();
        let labels: Vec<String> = parts.iter().filter_map(|p| p.label.clone()).collect();
        Line {
            tax_label: Some(labels.join(" + ")),
            tax_rate: rate,
            tax_parts: parts,
            ..line(kind, qty, unit, "0", &tax.to_string(), None)
        }
    }

    /// A US shop: no Xero tax type per combination of rates, a liability account per
    /// jurisdiction, and one for the rest.
    fn sales_tax_mapping() -> ShopMapping {
        let mut mapping = mapping();
        mapping.tax = toml::from_str(
            r#"
            mode = "sales_tax_lines"
            untaxed = "NONE"
            liability = "2200"
            by_jurisdiction = { "CA State Tax" = "2210", "los angeles county tax" = "2211" }
            "#,
        )
        .unwrap();
        mapping
    }

    /// README's worked US example: a Los Angeles order, state 6% + county 0.25% + city 2.5%
    /// on a 100.00 item and 10.00 shipping.
    fn california_lines() -> Vec<Line> {
        vec![
            taxed(
                LineKind::Product,
                "1",
                "100.00",
                vec![
                    part("CA State Tax", "0.06", "6.00"),
                    part("Los Angeles County Tax", "0.0025", "0.25"),
                    part("Los Angeles City Tax", "0.025", "2.50"),
                ],
            ),
            taxed(
                LineKind::Shipping,
                "1",
                "10.00",
                vec![
                    part("CA State Tax", "0.06", "0.60"),
                    part("Los Angeles County Tax", "0.0025", "0.03"),
                    part("Los Angeles City Tax", "0.025", "0.25"),
                ],
            ),
        ]
    }

    fn booked(items: &[LineItem]) -> Vec<(String, String, Decimal, Decimal)> {
        items
            .iter()
            .map(|i| {
                (
                    i.account_code.clone(),
                    i.tax_type.clone(),
                    round2(i.quantity * i.unit_amount - i.discount_amount.unwrap_or_default()),
                    i.tax_amount.amount(),
                )
            })
            .collect()
    }

    fn row(
        account: &str,
        tax_type: &str,
        amount: &str,
        tax: &str,
    ) -> (String, String, Decimal, Decimal) {
        (account.into(), tax_type.into(), d(amount), d(tax))
    }

    #[test]
    fn a_multi_jurisdiction_us_order_in_tax_types_mode_is_mapped_by_its_combined_rate() {
        let mut mapping = mapping();
        mapping.tax.by_rate.insert("8.75".into(), "TAX002".into());
        let mapped = mapping
            .invoice(
                &order(TaxMode::Exclusive, california_lines(), "119.63", "9.63"),
                contact(),
            )
            .unwrap();
        assert_eq!(
            booked(&mapped.invoice.line_items),
            [
                row("200", "TAX002", "100.00", "8.75"),
                row("205", "TAX002", "10.00", "0.88"),
            ]
        );
        assert_eq!(mapped.total_tax, d("9.63"));
    }

    #[test]
    fn sales_tax_lines_book_the_sales_untaxed_and_the_tax_per_jurisdiction_on_liabilities() {
        let mapped = sales_tax_mapping()
            .invoice(
                &order(TaxMode::Exclusive, california_lines(), "119.63", "9.63"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(
            booked(items),
            [
                row("200", "NONE", "100.00", "0"),
                row("205", "NONE", "10.00", "0"),
                row("2210", "NONE", "6.60", "0"),
                row("2211", "NONE", "0.28", "0"),
                row("2200", "NONE", "2.75", "0"),
            ]
        );
        let names: Vec<&str> = items[2..].iter().map(|i| i.description.as_str()).collect();
        assert_eq!(
            names,
            [
                "Sales tax: CA State Tax",
                "Sales tax: Los Angeles County Tax",
                "Sales tax: Los Angeles City Tax"
            ]
        );
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("119.63"));
        assert_eq!(mapped.total, d("119.63"));
        assert_eq!(
            mapped.total_tax,
            Decimal::ZERO,
            "Xero books no tax on these lines"
        );
        // In summary mode they sum by account like any line.
        let summary = crate::summary::summary_lines(items, TaxMode::Exclusive);
        let liabilities: Decimal = summary
            .iter()
            .filter(|l| l.account.starts_with("22"))
            .map(|l| l.net)
            .sum();
        assert_eq!(liabilities, d("9.63"));
    }

    #[test]
    fn a_bc_order_books_gst_and_pst_apart_or_under_one_combined_tax_type() {
        let lines = vec![
            taxed(
                LineKind::Product,
                "1",
                "100.00",
                vec![part("GST", "0.05", "5.00"), part("PST", "0.07", "7.00")],
            ),
            taxed(
                LineKind::Shipping,
                "1",
                "10.00",
                vec![part("GST", "0.05", "0.50"), part("PST", "0.07", "0.70")],
            ),
        ];
        let bc = order(TaxMode::Exclusive, lines, "123.20", "13.20");
        let mut types = mapping();
        types.tax.by_label.clear();
        types.tax.by_rate.insert("12".into(), "TAX003".into());
        let mapped = types.invoice(&bc, contact()).unwrap();
        assert_eq!(
            booked(&mapped.invoice.line_items),
            [
                row("200", "TAX003", "100.00", "12.00"),
                row("205", "TAX003", "10.00", "1.20"),
            ]
        );
        let mut lines_mode = mapping();
        lines_mode.tax = toml::from_str(
            r#"
            mode = "sales_tax_lines"
            untaxed = "NONE"
            by_jurisdiction = { GST = "2300", PST = "2310" }
            "#,
        )
        .unwrap();
        let mapped = lines_mode.invoice(&bc, contact()).unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(
            booked(items),
            [
                row("200", "NONE", "100.00", "0"),
                row("205", "NONE", "10.00", "0"),
                row("2300", "NONE", "5.50", "0"),
                row("2310", "NONE", "7.70", "0"),
            ]
        );
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("123.20"));
    }

    #[test]
    fn a_jurisdiction_without_an_account_is_refused_naming_it_and_the_settings() {
        let mut mapping = sales_tax_mapping();
        mapping.tax.liability = None;
        let err = mapping
            .invoice(
                &order(TaxMode::Exclusive, california_lines(), "119.63", "9.63"),
                contact(),
            )
            .unwrap_err();
        assert_eq!(
            err,
            MappingError::UnmappedTax {
                label: "Los Angeles City Tax".into(),
                rate: "2.5%".into(),
                unmapped: Unmapped::LiabilityAccount,
            }
        );
        let text = err.to_string();
        assert!(
            text.contains("tax.by_jurisdiction") && text.contains("tax.liability"),
            "{text}"
        );
        assert_eq!(
            crate::error::ProcessError::from(err).reason(),
            "unmapped_tax"
        );
        // A platform that names no authority: one "Sales tax" line on the shop's account.
        let bare = vec![line(LineKind::Product, "2", "50.00", "0", "8.25", None)];
        let mapped = sales_tax_mapping()
            .invoice(
                &order(TaxMode::Exclusive, bare, "108.25", "8.25"),
                contact(),
            )
            .unwrap();
        let tax = &mapped.invoice.line_items[1];
        assert_eq!(
            (
                tax.description.as_str(),
                tax.account_code.as_str(),
                tax.unit_amount
            ),
            ("Sales tax", "2200", d("8.25"))
        );
        assert_eq!(
            mapped.invoice.line_items[0].quantity,
            d("2"),
            "exclusive lines keep their units"
        );
    }

    #[test]
    fn a_refund_returns_each_jurisdictions_share_of_the_tax_to_its_account() {
        // One of three units at 33.33 refunded: the refund's 2.92 of tax, split as the
        // original line's 6.00 / 0.25 / 2.50 (of 8.75) was, to the cent.
        let mut returned = taxed(
            LineKind::Product,
            "1",
            "33.33",
            vec![
                part("CA State Tax", "0.06", "6.00"),
                part("Los Angeles County Tax", "0.0025", "0.25"),
                part("Los Angeles City Tax", "0.025", "2.50"),
            ],
        );
        returned.tax = d("2.92");
        let refund = Refund {
            platform: Platform::Shopify,
            refund_id: "77".into(),
            order_id: "820982911946154508".into(),
            order_number: "#1001".into(),
            date: time::macros::date!(2026 - 11 - 28),
            currency: Currency::try_from("USD".to_owned()).unwrap(),
            tax_mode: TaxMode::Exclusive,
            lines: vec![returned],
            total: d("36.25"),
            total_tax: d("2.92"),
            returned: vec![],
        };
        let mapped = sales_tax_mapping().credit_note(&refund, contact()).unwrap();
        let items = &mapped.credit_note.line_items;
        assert_eq!(
            booked(items),
            [
                row("200", "NONE", "33.33", "0"),
                row("2210", "NONE", "2.01", "0"),
                row("2211", "NONE", "0.08", "0"),
                row("2200", "NONE", "0.83", "0"),
            ]
        );
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("36.25"));
    }

    #[test]
    fn tax_inclusive_lines_in_sales_tax_mode_are_booked_less_their_tax_to_the_cent() {
        let mut mapping = sales_tax_mapping();
        mapping.tax.liability = Some("2200".into());
        // 2 × 56.00 including 5% GST and 7% PST: 100.00 before tax.
        let mug = taxed(
            LineKind::Product,
            "2",
            "56.00",
            vec![part("GST", "0.05", "5.00"), part("PST", "0.07", "7.00")],
        );
        let mapped = mapping
            .invoice(
                &order(TaxMode::Inclusive, vec![mug], "112.00", "12.00"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(
            booked(items),
            [
                row("200", "NONE", "100.00", "0"),
                row("2200", "NONE", "5.00", "0"),
                row("2200", "NONE", "7.00", "0"),
            ]
        );
        assert!(
            items[0].description.contains("less 12.00 tax"),
            "{}",
            items[0].description
        );
        assert_eq!(xero_total(items, TaxMode::Inclusive).unwrap(), d("112.00"));
        // 3 × 33.3333 including 13.04 of tax, charged 99.99: Xero's 100.00 less the tax, the
        // tax, and the cent of rounding make exactly what the customer paid.
        let odd = vec![line(
            LineKind::Product,
            "3",
            "33.3333",
            "0",
            "13.04",
            Some("0.15"),
        )];
        let mapped = mapping
            .invoice(&order(TaxMode::Inclusive, odd, "99.99", "13.04"), contact())
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(
            booked(items),
            [
                row("200", "NONE", "86.96", "0"),
                row("2200", "NONE", "13.04", "0"),
                row("860", "NONE", "-0.01", "0"),
            ]
        );
        assert_eq!(xero_total(items, TaxMode::Inclusive).unwrap(), d("99.99"));
    }

    #[test]
    fn tax_cents_and_discounts_reach_the_jurisdictions_in_sales_tax_mode() {
        // A platform keeping 4 dp per line: 3.8150 + 3.8150 = 7.63 once, 7.64 rounded per
        // line; the cent comes off the larger line's tax, then off its largest jurisdiction.
        let half = |unit: &str| {
            taxed(
                LineKind::Product,
                "1",
                unit,
                vec![
                    part("CA State Tax", "0.06", "2.616"),
                    part("Los Angeles City Tax", "0.09", "1.199"),
                ],
            )
        };
        let mut lines = vec![half("25.4333"), half("25.4333")];
        // An order discount of 10.00 with its 0.88 of tax, one authority named.
        let mut discount = line(LineKind::Discount, "1", "10.00", "0", "0.88", None);
        discount.tax_label = Some("CA State Tax".into());
        lines.push(discount);
        let mapped = sales_tax_mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "47.62", "6.75"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        let tax: Decimal = items
            .iter()
            .filter(|i| i.account_code.starts_with("22"))
            .map(|i| i.unit_amount)
            .sum();
        assert_eq!(tax, d("6.75"));
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("47.62"));
        assert_eq!(items[2].unit_amount, d("-10.00"));
    }

    #[test]
    fn per_line_tax_from_the_platform_keeps_xeros_rounding_example_exact() {
        // Xero's rounding guide: three lines at 15% whose tax rounded per line totals 11.44,
        // while the platform taxed the 76.30 subtotal: 11.45. The platform's per-line figures
        // are sent as TaxAmount, so Xero's tax is the platform's.
        let lines = vec![
            line(LineKind::Product, "1", "25.43", "0", "3.82", Some("0.15")),
            line(LineKind::Product, "1", "25.43", "0", "3.81", Some("0.15")),
            line(LineKind::Product, "1", "25.44", "0", "3.82", Some("0.15")),
        ];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "87.75", "11.45"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(items.len(), 3, "no rounding line needed");
        assert_eq!(xero_tax(items), d("11.45"));
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("87.75"));
        assert!(
            items
                .iter()
                .all(|i| i.tax_type == "OUTPUT2" && i.account_code == "200")
        );
        assert_eq!(mapped.invoice.invoice_number, "SH-1001");
        assert_eq!(mapped.invoice.line_amount_types, LineAmountTypes::Exclusive);
    }

    #[test]
    fn tax_cents_lost_to_per_line_rounding_go_to_the_largest_line() {
        // A platform keeping 4 dp per line: 3.8150 + 3.8150 + 3.8200 = 11.45, but rounded per
        // line it would be 11.46.
        let lines = vec![
            line(
                LineKind::Product,
                "1",
                "25.4333",
                "0",
                "3.8150",
                Some("0.15"),
            ),
            line(
                LineKind::Product,
                "1",
                "25.4333",
                "0",
                "3.8150",
                Some("0.15"),
            ),
            line(
                LineKind::Product,
                "1",
                "25.4334",
                "0",
                "3.8200",
                Some("0.15"),
            ),
        ];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "87.75", "11.45"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(xero_tax(items), d("11.45"));
        assert_eq!(mapped.total_tax, d("11.45"));
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("87.75"));
    }

    #[test]
    fn an_inclusive_total_xero_would_round_differently_gets_a_rounding_line() {
        // 3 × 33.3333 incl. tax: Xero computes 100.00, the customer paid 99.99.
        let lines = vec![line(
            LineKind::Product,
            "3",
            "33.3333",
            "0",
            "13.04",
            Some("0.15"),
        )];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Inclusive, lines, "99.99", "13.04"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(items.len(), 2);
        let rounding = &items[1];
        assert_eq!(rounding.account_code, "860");
        assert_eq!(rounding.tax_type, "NONE");
        assert_eq!(rounding.unit_amount, d("-0.01"));
        assert_eq!(rounding.tax_amount.amount(), Decimal::ZERO);
        assert_eq!(xero_total(items, TaxMode::Inclusive).unwrap(), d("99.99"));
        assert_eq!(
            xero_tax(items),
            d("13.04"),
            "the tax account is untouched by rounding"
        );
    }

    #[test]
    fn fixed_and_percentage_discounts_shipping_and_zero_rated_lines() {
        let mut gift = line(LineKind::GiftCardSale, "1", "50", "0", "0", None);
        gift.description = "Gift card".into();
        let mut ipod = line(
            LineKind::Product,
            "1",
            "199.00",
            "10.00",
            "28.35",
            Some("0.15"),
        );
        ipod.sku = Some("IPOD-342-N".into());
        let lines = vec![
            ipod,
            // 10% off 3 × 19.99 = 5.997, which the platform rounded to 6.00.
            line(
                LineKind::Product,
                "3",
                "19.99",
                "6.00",
                "8.10",
                Some("0.15"),
            ),
            line(LineKind::Shipping, "1", "10.00", "0", "1.50", Some("0.15")),
            line(LineKind::Product, "2", "4.50", "0", "0", Some("0")),
            gift,
        ];
        // 189.00 + 53.97 + 10.00 + 9.00 + 50.00 = 311.97; tax 37.95
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "349.92", "37.95"),
                contact(),
            )
            .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].discount_amount, Some(d("10.00")));
        assert_eq!(items[0].item_code.as_deref(), Some("IPOD"));
        assert_eq!(items[1].discount_amount, Some(d("6.00")));
        assert_eq!(items[2].account_code, "205");
        assert_eq!(items[3].tax_type, "ZERORATED");
        assert_eq!(
            items[4].account_code, "825",
            "a gift card sold is a liability"
        );
        assert_eq!(items[4].tax_type, "ZERORATED");
        assert_eq!(xero_total(items, TaxMode::Exclusive).unwrap(), d("349.92"));
        assert_eq!(mapped.total, d("349.92"));
    }

    #[test]
    fn an_order_level_discount_is_a_negative_line_on_the_discount_account() {
        let lines = vec![
            line(LineKind::Product, "2", "50.00", "0", "13.50", Some("0.15")),
            line(LineKind::Discount, "1", "10.00", "0", "1.50", Some("0.15")),
        ];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "102.00", "12.00"),
                contact(),
            )
            .unwrap();
        let discount = &mapped.invoice.line_items[1];
        assert_eq!(discount.account_code, "210");
        assert_eq!(discount.unit_amount, d("-10.00"));
        assert_eq!(discount.tax_amount.amount(), d("-1.50"));
        assert_eq!(
            xero_total(&mapped.invoice.line_items, TaxMode::Exclusive).unwrap(),
            d("102.00")
        );
    }

    #[test]
    fn taxes_are_found_by_label_before_rate_and_unmapped_ones_are_refused() {
        let mut labelled = line(LineKind::Product, "1", "100", "0", "15", Some("0.12"));
        labelled.tax_label = Some("gst".into());
        assert_eq!(
            mapping()
                .tax_type_for(&labelled, TaxMode::Exclusive)
                .unwrap(),
            "OUTPUT2"
        );
        let by_rate = line(LineKind::Product, "1", "100", "0", "7.5", Some("0.075"));
        assert_eq!(
            mapping()
                .tax_type_for(&by_rate, TaxMode::Exclusive)
                .unwrap(),
            "TAX001"
        );
        let mut unknown = line(LineKind::Product, "1", "100", "0", "6", Some("0.06"));
        unknown.tax_label = Some("State Tax".into());
        let err = mapping()
            .tax_type_for(&unknown, TaxMode::Exclusive)
            .unwrap_err();
        assert_eq!(
            err,
            MappingError::UnmappedTax {
                label: "State Tax".into(),
                rate: "6%".into(),
                unmapped: Unmapped::TaxType,
            }
        );
        assert!(err.to_string().contains("tax.by_rate"));
    }

    #[test]
    fn a_refund_line_without_its_rate_gets_the_rate_its_amounts_imply() {
        let bare = line(LineKind::Product, "1", "20.00", "0", "3.00", None);
        assert_eq!(
            mapping().tax_type_for(&bare, TaxMode::Exclusive).unwrap(),
            "OUTPUT2"
        );
        // 23.00 including 3.00 of tax is 15% on 20.00.
        let inclusive = line(LineKind::Product, "1", "23.00", "0", "3.00", None);
        assert_eq!(
            mapping()
                .tax_type_for(&inclusive, TaxMode::Inclusive)
                .unwrap(),
            "OUTPUT2"
        );
        // Small amounts: 0.05 on 0.33 is 15.15%, within a half-cent of 15%.
        let small = line(LineKind::Product, "1", "0.33", "0", "0.05", None);
        assert_eq!(
            mapping().tax_type_for(&small, TaxMode::Exclusive).unwrap(),
            "OUTPUT2"
        );
        let odd = line(LineKind::Product, "1", "20.00", "0", "2.00", None);
        assert!(mapping().tax_type_for(&odd, TaxMode::Exclusive).is_err());
    }

    /// BigCommerce derives a line's rate from its rounded amounts, with the fewest decimals
    /// that fit: 8.75% of 10.00 (0.875) charged as 0.88 reads as 8.8%.
    #[test]
    fn a_stated_rate_that_is_a_configured_rate_rounded_maps_to_it() {
        let mut mapping = mapping();
        mapping.tax.by_rate.insert("8.75".into(), "TAX002".into());
        let shipping = line(LineKind::Shipping, "1", "10.00", "0", "0.88", Some("0.088"));
        assert_eq!(
            mapping.tax_type_for(&shipping, TaxMode::Exclusive).unwrap(),
            "TAX002"
        );
        // A stated rate no configured rate is near stays unmapped, whatever the amounts.
        let stated = line(LineKind::Product, "1", "100.00", "0", "15.00", Some("0.12"));
        assert!(mapping.tax_type_for(&stated, TaxMode::Exclusive).is_err());
    }

    /// Found while fuzzing the mapping: Shopify's EUR refund fixture refunds 5.00 of shipping
    /// including 23% VAT with its tax (0.935, charged as 0.93) but no rate. Rounding the tax
    /// moves an inclusive line's base as well (5.00 − 0.93 = 4.07, not 4.065), so the implied
    /// 22.85% is further from 23% than half a cent on the base explains; the refund was
    /// dead-lettered as `unmapped_tax` although 23% is mapped.
    #[test]
    fn an_inclusive_refund_line_without_its_rate_allows_for_the_base_its_rounded_tax_moved() {
        let mut mapping = mapping();
        mapping.tax.by_rate.insert("23".into(), "OUTPUT23".into());
        mapping.tax.by_rate.insert("21".into(), "OUTPUT21".into());
        let shipping = line(LineKind::Shipping, "1", "5.00", "0", "0.93", None);
        assert_eq!(
            mapping.tax_type_for(&shipping, TaxMode::Inclusive).unwrap(),
            "OUTPUT23"
        );
        // Exclusive lines keep their tolerance: 0.93 on 4.07 is no configured rate.
        let exclusive = line(LineKind::Shipping, "1", "4.07", "0", "0.93", None);
        assert!(
            mapping
                .tax_type_for(&exclusive, TaxMode::Exclusive)
                .is_err()
        );
    }

    #[test]
    fn figures_that_do_not_add_up_are_an_error_not_a_rounding_line() {
        let lines = vec![line(
            LineKind::Product,
            "1",
            "100.00",
            "0",
            "15.00",
            Some("0.15"),
        )];
        let err = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "125.00", "15.00"),
                contact(),
            )
            .unwrap_err();
        assert!(matches!(err, MappingError::TotalMismatch { .. }), "{err}");
    }

    #[test]
    fn prices_beyond_four_decimals_are_booked_as_one_exact_line() {
        let lines = vec![line(
            LineKind::Product,
            "3",
            "3.33333",
            "0",
            "1.50",
            Some("0.15"),
        )];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "11.50", "1.50"),
                contact(),
            )
            .unwrap();
        let item = &mapped.invoice.line_items[0];
        assert_eq!(
            (item.quantity, item.unit_amount),
            (Decimal::ONE, d("10.00"))
        );
        assert!(
            item.description.contains("3 × 3.33333"),
            "{}",
            item.description
        );
    }

    #[test]
    fn credit_notes_carry_no_discounts_and_keep_the_refund_total() {
        let refund = Refund {
            platform: Platform::Shopify,
            refund_id: "509562969".into(),
            order_id: "820982911946154508".into(),
            order_number: "#1001".into(),
            date: time::macros::date!(2026 - 11 - 28),
            currency: Currency::try_from("USD".to_owned()).unwrap(),
            tax_mode: TaxMode::Exclusive,
            lines: vec![
                line(
                    LineKind::Product,
                    "3",
                    "19.99",
                    "6.00",
                    "8.10",
                    Some("0.15"),
                ),
                line(LineKind::Shipping, "1", "10.00", "0", "1.50", Some("0.15")),
            ],
            total: d("73.57"),
            total_tax: d("9.60"),
            returned: vec![Payment {
                method: PaymentMethod::Gateway {
                    name: "paypal".into(),
                },
                amount: d("80.00"),
                date: time::macros::date!(2026 - 11 - 28),
                reference: Some("tx-9".into()),
            }],
        };
        let mapped = mapping().credit_note(&refund, contact()).unwrap();
        let note = &mapped.credit_note;
        assert_eq!(note.credit_note_number, "SH-1001/R509562969");
        assert_eq!(note.currency_code, "USD");
        assert!(note.line_items.iter().all(|i| i.discount_amount.is_none()));
        assert_eq!(note.line_items[0].unit_amount, d("53.97"));
        assert_eq!(
            xero_total(&note.line_items, TaxMode::Exclusive).unwrap(),
            d("73.57")
        );
        let payments = mapping().refund_payments(&refund, mapped.total);
        assert_eq!(payments.len(), 1);
        assert_eq!(payments[0].account, "617");
        assert_eq!(payments[0].amount, d("73.57"), "never more than the credit");
    }

    #[test]
    fn gift_card_redemptions_are_paid_from_the_liability_and_gateways_from_clearing() {
        let mut paid = order(
            TaxMode::Exclusive,
            vec![line(LineKind::Product, "1", "100", "0", "15", Some("0.15"))],
            "115.00",
            "15.00",
        );
        let day = time::macros::date!(2026 - 11 - 27);
        paid.payments = vec![
            Payment {
                method: PaymentMethod::GiftCard,
                amount: d("20.00"),
                date: day,
                reference: None,
            },
            Payment {
                method: PaymentMethod::Gateway {
                    name: "shopify_payments".into(),
                },
                amount: d("95.00"),
                date: day,
                reference: Some("ch_1".into()),
            },
        ];
        let payments = mapping().order_payments(&paid, d("115.00"));
        let summary: Vec<(&str, Decimal)> = payments
            .iter()
            .map(|p| (p.account.as_str(), p.amount))
            .collect();
        assert_eq!(summary, [("825", d("20.00")), ("615", d("95.00"))]);
    }

    /// An outside check: a tiny quantity × tiny price under a huge tax that names no rate
    /// overflowed `Decimal` while looking for the rate it implies, and the panic took the
    /// consumer session down.
    #[test]
    fn a_tiny_line_under_a_huge_tax_is_a_named_error_not_a_panic() {
        let lines = vec![line(
            LineKind::Product,
            "0.0000000001",
            "0.0000000001",
            "0",
            "1000000000000",
            None,
        )];
        let err = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines, "1000000000000", "1000000000000"),
                contact(),
            )
            .unwrap_err();
        assert!(matches!(err, MappingError::UnmappedTax { .. }), "{err}");
        // Figures beyond Decimal in the sums are an overflow error, whatever the tax.
        let huge = line(
            LineKind::Product,
            "79228162514264337593543950335",
            "2",
            "0",
            "0",
            Some("0"),
        );
        let err = mapping()
            .invoice(&order(TaxMode::Exclusive, vec![huge], "1", "0"), contact())
            .unwrap_err();
        assert!(matches!(err, MappingError::Overflow(_)), "{err}");
        assert_eq!(
            crate::error::ProcessError::from(err).reason(),
            "implausible_payload"
        );
    }

    /// An outside check: lines of whole cents summing to 4,600.00 under a stated total of
    /// 4,639.99 were booked with a 39.99 rounding line, the tolerance growing with the lines.
    #[test]
    fn a_gap_between_whole_cent_lines_and_the_total_is_a_mismatch_however_many_lines() {
        let lines: Vec<Line> = (0..4000)
            .map(|_| line(LineKind::Product, "1", "1.15", "0", "0", Some("0")))
            .collect();
        let err = mapping()
            .invoice(&order(TaxMode::Inclusive, lines, "4639.99", "0"), contact())
            .unwrap_err();
        let MappingError::TotalMismatch {
            computed,
            platform,
            explained,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((*computed, *platform), (d("4600.00"), d("4639.99")));
        assert_eq!(*explained, Decimal::ZERO, "whole cents explain nothing");
        assert!(
            err.to_string().contains("4600.00") && err.to_string().contains("4639.99"),
            "{err}"
        );
        assert_eq!(
            crate::error::ProcessError::from(err).reason(),
            "totals_mismatch"
        );
        // Even a cent is too much when nothing was rounded.
        let whole = vec![line(LineKind::Product, "2", "10.00", "0", "0", Some("0"))];
        assert!(
            mapping()
                .invoice(&order(TaxMode::Inclusive, whole, "20.01", "0"), contact())
                .is_err()
        );
    }

    #[test]
    fn a_tax_total_beyond_what_its_lines_rounding_explains_is_a_mismatch_not_one_lines_tax() {
        // 2 × 15% of 100.00 is exactly 15.00 each: nothing was rounded.
        let lines = vec![
            line(LineKind::Product, "1", "100.00", "0", "15.00", Some("0.15")),
            line(LineKind::Product, "1", "100.00", "0", "15.00", Some("0.15")),
        ];
        let err = mapping()
            .invoice(
                &order(TaxMode::Exclusive, lines.clone(), "269.99", "69.99"),
                contact(),
            )
            .unwrap_err();
        let MappingError::TaxMismatch {
            lines: lines_tax,
            platform,
            ..
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!((*lines_tax, *platform), (d("30.00"), d("69.99")));
        assert_eq!(
            crate::error::ProcessError::from(err).reason(),
            "totals_mismatch"
        );
        // Rounded line taxes (15% of 25.43 is 3.8145) explain a cent of difference.
        let rounded = vec![
            line(LineKind::Product, "1", "25.43", "0", "3.81", Some("0.15")),
            line(LineKind::Product, "1", "25.43", "0", "3.81", Some("0.15")),
        ];
        let mapped = mapping()
            .invoice(
                &order(TaxMode::Exclusive, rounded, "58.49", "7.63"),
                contact(),
            )
            .unwrap();
        assert_eq!(mapped.total_tax, d("7.63"));
        assert!(
            mapped
                .invoice
                .line_items
                .iter()
                .all(|i| i.tax_type == "OUTPUT2"),
            "the cent went onto a taxed line"
        );
    }

    /// An outside check: two orders whose long names differ only after the cut got one
    /// invoice number, and the second was booked onto the first's invoice.
    #[test]
    fn numbers_cut_to_xeros_limit_stay_unique_per_order_and_readable() {
        let long_a = format!("{}-A", "9".repeat(300));
        let long_b = format!("{}-B", "9".repeat(300));
        let a = invoice_number(&mapping(), &long_a);
        let b = invoice_number(&mapping(), &long_b);
        assert_ne!(a, b);
        for number in [&a, &b] {
            assert!(number.len() <= XERO_TEXT_MAX, "{}", number.len());
            assert!(number.starts_with("SH-9999"), "{number}");
            assert!(number.contains('~'), "{number}");
        }
        assert_eq!(a, invoice_number(&mapping(), &long_a), "stable");
        // Short, plain numbers are as before.
        assert_eq!(invoice_number(&mapping(), "#1001"), "SH-1001");
        assert_eq!(
            credit_note_number(&mapping(), "#1001", "509562969"),
            "SH-1001/R509562969"
        );
        let (ra, rb) = (
            credit_note_number(&mapping(), &long_a, "1"),
            credit_note_number(&mapping(), &long_b, "1"),
        );
        assert_ne!(ra, rb);
        assert!(ra.len() <= XERO_TEXT_MAX && rb.len() <= XERO_TEXT_MAX);
        let (fa, fb) = (
            invoice_reference(Platform::Shopify, &long_a),
            invoice_reference(Platform::Shopify, &long_b),
        );
        assert_ne!(fa, fb);
        assert!(fa.len() <= XERO_TEXT_MAX);
    }

    /// Outside checks could not tell order, refund id and a second refund apart in
    /// `EB-27-13902-55814-R5000123456`: the refund mark is the one `/` after the prefix.
    #[test]
    fn a_credit_note_number_reads_as_prefix_order_and_refund_one_way_only() {
        let parse = |number: &str| {
            let rest = number.strip_prefix("SH-").expect("the prefix");
            let (order, refund) = rest.rsplit_once(REFUND_MARK).expect("one refund mark");
            assert!(!order.contains('/') && !refund.contains('/'), "{number}");
            (order.to_owned(), refund.to_owned())
        };
        for (order, refund) in [
            ("27-13902-55814", "5000123456"),
            ("27-13902-55814-R5", "000123456"),
            ("2891034567", "2891034567-1795403400"),
            ("#1001", "R2"),
        ] {
            let number = credit_note_number(&mapping(), order, refund);
            assert_eq!(parse(&number), (bare_number(order), refund.to_owned()));
        }
        // An order number or refund id holding the mark keeps one mark and a hash.
        let a = credit_note_number(&mapping(), "A/1", "5");
        let b = credit_note_number(&mapping(), "A1", "5");
        let c = credit_note_number(&mapping(), "A", "1/R5");
        assert!(a != b && a != c && b != c, "{a} {b} {c}");
        for number in [&a, &c] {
            assert_eq!(number.matches('/').count(), 1, "{number}");
            assert!(number.contains('~'), "{number}");
        }
        // Cut to Xero's limit, the refund id and its mark stay.
        let long = credit_note_number(&mapping(), &"9".repeat(400), "77");
        assert!(long.len() <= XERO_TEXT_MAX, "{}", long.len());
        assert!(long.contains("/R77~"), "{long}");
        // Credit notes booked before keep the number they were booked with.
        assert_eq!(
            legacy_credit_note_number(&mapping(), "#1001", "509562969"),
            "SH-1001-R509562969"
        );
    }

    #[test]
    fn numbers_and_references_never_carry_what_could_break_a_filter() {
        for hostile in ["10\"01", "10,01", "10\\01", "10\u{0}01", "10~01"] {
            let number = invoice_number(&mapping(), hostile);
            let reference = invoice_reference(Platform::Shopify, hostile);
            for text in [&number, &reference] {
                assert!(
                    crate::xero::filter::string_literal(text).is_some() && !text.contains(','),
                    "{text:?}"
                );
            }
            assert_ne!(number, invoice_number(&mapping(), "1001"), "{hostile:?}");
        }
    }

    // --------------------------------------------------------------------------------------
    // Tax amounts: what Xero computes, and what is sent.

    /// The demo organisation's rates: OUTPUT2 15%, TAX001 7.5%, ZERORATED and NONE 0%.
    fn xero_rates() -> XeroTaxRates {
        XeroTaxRates::new([
            ("OUTPUT2".to_owned(), d("15.0000")),
            ("TAX001".to_owned(), d("7.5000")),
            ("ZERORATED".to_owned(), d("0.0000")),
            ("NONE".to_owned(), d("0.0000")),
        ])
    }

    fn refund(mode: TaxMode, lines: Vec<Line>, total: &str, tax: &str) -> Refund {
        Refund {
            platform: Platform::Shopify,
            refund_id: "77".into(),
            order_id: "820982911946154508".into(),
            order_number: "#1001".into(),
            date: time::macros::date!(2026 - 11 - 28),
            currency: Currency::try_from("NZD".to_owned()).unwrap(),
            tax_mode: mode,
            lines,
            total: d(total),
            total_tax: d(tax),
            returned: vec![],
        }
    }

    /// `order`'s invoice as Xero is to get it under `rates`.
    fn invoice_for_xero(
        order: &Order,
        rates: &XeroTaxRates,
    ) -> Result<MappedInvoice, MappingError> {
        mapping()
            .invoice(order, contact())
            .unwrap()
            .for_xero(&mapping(), rates)
    }

    /// `refund`'s credit note as Xero is to get it under `rates`.
    fn credit_note_for_xero(
        refund: &Refund,
        rates: &XeroTaxRates,
    ) -> Result<MappedCreditNote, MappingError> {
        mapping()
            .credit_note(refund, contact())
            .unwrap()
            .for_xero(&mapping(), rates)
    }

    /// What Xero books for `items` on `basis`, computed the way Xero documents it (each line's
    /// amount in cents, its tax × rate or × rate / (1 + rate) rounded per line, a given
    /// `TaxAmount` instead where there is one), with half cents rounded `strategy`'s way:
    /// (total, tax).
    fn xero_books(
        items: &[LineItem],
        basis: LineAmountTypes,
        strategy: RoundingStrategy,
    ) -> (Decimal, Decimal) {
        let rates = xero_rates();
        let (mut amounts, mut taxes) = (Decimal::ZERO, Decimal::ZERO);
        for item in items {
            let amount =
                round2(item.quantity * item.unit_amount - item.discount_amount.unwrap_or_default());
            let tax = match item.tax_amount {
                LineTax::Given(tax) => tax,
                LineTax::Computed(_) => {
                    let rate = rates
                        .rate(&item.tax_type)
                        .expect("a computed line has a rate")
                        / Decimal::ONE_HUNDRED;
                    let exact = match basis {
                        LineAmountTypes::Exclusive => amount * rate,
                        LineAmountTypes::Inclusive => amount * rate / (Decimal::ONE + rate),
                        LineAmountTypes::NoTax => Decimal::ZERO,
                    };
                    exact.round_dp_with_strategy(2, strategy)
                }
            };
            amounts += amount;
            taxes += tax;
        }
        match basis {
            LineAmountTypes::Inclusive => (amounts, taxes),
            _ => (amounts + taxes, taxes),
        }
    }

    const ROUNDINGS: [RoundingStrategy; 2] = [
        RoundingStrategy::MidpointAwayFromZero,
        RoundingStrategy::MidpointNearestEven,
    ];

    fn given(items: &[LineItem]) -> Vec<Decimal> {
        items
            .iter()
            .filter(|i| !i.tax_amount.is_computed())
            .map(|i| i.tax_amount.amount())
            .collect()
    }

    #[test]
    fn xero_is_left_to_compute_the_tax_where_its_per_line_rounding_is_the_platforms() {
        // Xero's rounding example, taxed per line by the platform as Xero taxes it.
        let lines = ["10.01", "10.01", "56.28"]
            .map(|unit| {
                let tax = round2(d(unit) * d("0.15")).to_string();
                line(LineKind::Product, "1", unit, "0", &tax, Some("0.15"))
            })
            .to_vec();
        let mapped = invoice_for_xero(
            &order(TaxMode::Exclusive, lines, "87.74", "11.44"),
            &xero_rates(),
        )
        .unwrap();
        let invoice = &mapped.invoice;
        assert_eq!(invoice.line_amount_types, LineAmountTypes::Exclusive);
        assert!(given(&invoice.line_items).is_empty(), "{invoice:#?}");
        let body = serde_json::to_value(invoice).unwrap();
        assert!(
            body["LineItems"]
                .as_array()
                .unwrap()
                .iter()
                .all(|line| line.get("TaxAmount").is_none()),
            "{body:#}"
        );
        // An inclusive shop's 19.99 at 15% carries 2.61, as Xero computes: left inclusive.
        let bowl = line(LineKind::Product, "2", "19.99", "0", "5.21", Some("0.15"));
        let mapped = invoice_for_xero(
            &order(TaxMode::Inclusive, vec![bowl], "39.98", "5.21"),
            &xero_rates(),
        )
        .unwrap();
        assert_eq!(mapped.invoice.line_amount_types, LineAmountTypes::Inclusive);
        assert!(given(&mapped.invoice.line_items).is_empty());
        assert_eq!(mapped.total_tax, d("5.21"));
    }

    /// Xero's rounding example taxed on the subtotal by the platform (11.45, not 11.44): the
    /// cent goes to the largest line, whose tax Xero would compute otherwise.
    fn subtotal_taxed() -> Vec<Line> {
        vec![
            line(LineKind::Product, "1", "10.01", "0", "1.50", Some("0.15")),
            line(LineKind::Product, "1", "10.01", "0", "1.50", Some("0.15")),
            line(LineKind::Product, "1", "56.28", "0", "8.44", Some("0.15")),
        ]
    }

    #[test]
    fn an_exclusive_platform_that_taxes_the_subtotal_overrides_only_the_line_that_took_the_cent() {
        let mapped = invoice_for_xero(
            &order(TaxMode::Exclusive, subtotal_taxed(), "87.75", "11.45"),
            &xero_rates(),
        )
        .unwrap();
        let items = &mapped.invoice.line_items;
        assert_eq!(mapped.invoice.line_amount_types, LineAmountTypes::Exclusive);
        assert_eq!(
            items.iter().map(|i| i.tax_amount).collect::<Vec<_>>(),
            [
                LineTax::Computed(d("1.50")),
                LineTax::Computed(d("1.50")),
                LineTax::Given(d("8.45")),
            ]
        );
        for strategy in ROUNDINGS {
            assert_eq!(
                xero_books(items, LineAmountTypes::Exclusive, strategy),
                (d("87.75"), d("11.45"))
            );
        }
    }

    #[test]
    fn a_credit_note_takes_xeros_own_tax_and_a_rounding_line_for_the_cent() {
        let mapped = credit_note_for_xero(
            &refund(TaxMode::Exclusive, subtotal_taxed(), "87.75", "11.45"),
            &xero_rates(),
        )
        .unwrap();
        let note = &mapped.credit_note;
        assert_eq!(note.line_amount_types, LineAmountTypes::Exclusive);
        assert!(given(&note.line_items).is_empty(), "{note:#?}");
        assert_eq!(
            booked(&note.line_items),
            [
                row("200", "OUTPUT2", "10.01", "1.50"),
                row("200", "OUTPUT2", "10.01", "1.50"),
                row("200", "OUTPUT2", "56.28", "8.44"),
                row("860", "NONE", "0.01", "0"),
            ]
        );
        assert_eq!(mapped.total_tax, d("11.44"));
        assert_eq!(mapped.total, d("87.75"));
        for strategy in ROUNDINGS {
            assert_eq!(
                xero_books(&note.line_items, LineAmountTypes::Exclusive, strategy),
                (d("87.75"), d("11.44"))
            );
        }
    }

    /// Two 19.99 lines inclusive of 15%, whose platform put the total's tax (5.21, not
    /// Xero's 2.61 + 2.61) on them as 2.61 and 2.60.
    fn inclusive_pair() -> Vec<Line> {
        vec![
            line(LineKind::Product, "1", "19.99", "0", "2.61", Some("0.15")),
            line(LineKind::Product, "1", "19.99", "0", "2.60", Some("0.15")),
        ]
    }

    #[test]
    fn an_inclusive_order_whose_tax_xero_would_round_otherwise_is_booked_exclusive() {
        let mapped = invoice_for_xero(
            &order(TaxMode::Inclusive, inclusive_pair(), "39.98", "5.21"),
            &xero_rates(),
        )
        .unwrap();
        let invoice = &mapped.invoice;
        // Never inclusive with an override (Xero flags that): exclusive, the amounts less
        // their tax, the one line whose tax Xero computes otherwise (17.39 × 15% = 2.61)
        // given.
        assert_eq!(invoice.line_amount_types, LineAmountTypes::Exclusive);
        assert_eq!(
            booked(&invoice.line_items),
            [
                row("200", "OUTPUT2", "17.38", "2.61"),
                row("200", "OUTPUT2", "17.39", "2.60"),
            ]
        );
        assert_eq!(given(&invoice.line_items), [d("2.60")]);
        assert_eq!(
            invoice.line_items[1].description,
            "Product (1 × 19.99, less 2.60 tax)"
        );
        assert_eq!(mapped.total_tax, d("5.21"));
        for strategy in ROUNDINGS {
            assert_eq!(
                xero_books(&invoice.line_items, LineAmountTypes::Exclusive, strategy),
                (d("39.98"), d("5.21"))
            );
        }

        // Its refund cannot carry the 2.60: Xero's 2.61 and a rounding line of −0.01.
        let mapped = credit_note_for_xero(
            &refund(TaxMode::Inclusive, inclusive_pair(), "39.98", "5.21"),
            &xero_rates(),
        )
        .unwrap();
        let note = &mapped.credit_note;
        assert!(given(&note.line_items).is_empty(), "{note:#?}");
        assert_eq!(
            booked(&note.line_items),
            [
                row("200", "OUTPUT2", "17.38", "2.61"),
                row("200", "OUTPUT2", "17.39", "2.61"),
                row("860", "NONE", "-0.01", "0"),
            ]
        );
        for strategy in ROUNDINGS {
            assert_eq!(
                xero_books(&note.line_items, note.line_amount_types, strategy),
                (d("39.98"), d("5.22"))
            );
        }
    }

    #[test]
    fn a_half_cent_of_tax_is_never_left_to_xeros_rounding() {
        // 1.10 × 15% = 0.165: 0.17 or 0.16, as Xero rounds half cents (UNSURE).
        let half = || line(LineKind::Product, "1", "1.10", "0", "0.17", Some("0.15"));
        let mapped = invoice_for_xero(
            &order(TaxMode::Exclusive, vec![half()], "1.27", "0.17"),
            &xero_rates(),
        )
        .unwrap();
        assert_eq!(given(&mapped.invoice.line_items), [d("0.17")]);
        assert_eq!(mapped.invoice.line_amount_types, LineAmountTypes::Exclusive);
        // A credit note gives none: inclusive, 1.27 carries 0.1657 → 0.17 either way.
        let mapped = credit_note_for_xero(
            &refund(TaxMode::Exclusive, vec![half()], "1.27", "0.17"),
            &xero_rates(),
        )
        .unwrap();
        let note = &mapped.credit_note;
        assert_eq!(note.line_amount_types, LineAmountTypes::Inclusive);
        assert!(given(&note.line_items).is_empty());
        assert_eq!(
            booked(&note.line_items),
            [row("200", "OUTPUT2", "1.27", "0.17")]
        );
        for strategy in ROUNDINGS {
            assert_eq!(
                xero_books(&note.line_items, note.line_amount_types, strategy),
                (d("1.27"), d("0.17"))
            );
        }
    }

    #[test]
    fn without_the_organisations_rates_tax_is_given_and_never_on_an_inclusive_document() {
        let mapped = invoice_for_xero(
            &order(TaxMode::Inclusive, inclusive_pair(), "39.98", "5.21"),
            &XeroTaxRates::default(),
        )
        .unwrap();
        assert_eq!(mapped.invoice.line_amount_types, LineAmountTypes::Exclusive);
        assert_eq!(given(&mapped.invoice.line_items), [d("2.61"), d("2.60")]);
    }

    #[test]
    fn a_refund_under_a_xero_rate_unlike_the_platforms_is_refused_not_rounded() {
        // The platform charged 15%; the tax type it maps to is 12.5% in this organisation.
        let rates = XeroTaxRates::new([
            ("OUTPUT2".to_owned(), d("12.5")),
            ("NONE".to_owned(), d("0")),
        ]);
        let sale = || line(LineKind::Product, "1", "100.00", "0", "15.00", Some("0.15"));
        let err = credit_note_for_xero(
            &refund(TaxMode::Exclusive, vec![sale()], "115.00", "15.00"),
            &rates,
        )
        .unwrap_err();
        assert!(
            matches!(err, MappingError::XeroTaxDiffers { gap, .. } if gap == d("2.50")),
            "{err}"
        );
        assert_eq!(
            crate::error::ProcessError::Mapping(err).reason(),
            "xero_tax_rate_differs"
        );
        // An invoice keeps the platform's tax, given.
        let mapped = invoice_for_xero(
            &order(TaxMode::Exclusive, vec![sale()], "115.00", "15.00"),
            &rates,
        )
        .unwrap();
        assert_eq!(given(&mapped.invoice.line_items), [d("15.00")]);
    }

    #[test]
    fn the_tax_rates_answer_gives_the_active_rates() {
        let rates = XeroTaxRates::from_answer(&serde_json::json!({"TaxRates": [
            {"TaxType": "OUTPUT2", "Status": "ACTIVE", "EffectiveRate": 15.0},
            {"TaxType": "TAX002", "Status": "ACTIVE", "EffectiveRate": "8.875"},
            {"TaxType": "OLD", "Status": "ARCHIVED", "EffectiveRate": 12.5},
        ]}));
        assert_eq!(rates.rate("output2"), Some(d("15")));
        assert_eq!(rates.rate("TAX002"), Some(d("8.875")));
        assert_eq!(rates.rate("OLD"), None);
    }

    /// Orders and refunds across a range of prices, taxed by a platform per line as Xero does,
    /// per unit, or with banker's rounding, on both bases: Xero books the platform's total to
    /// the cent under both readings of its rounding, invoices carry the platform's tax, no
    /// inclusive document carries a `TaxAmount`, and no credit note does.
    #[test]
    fn every_document_books_the_platforms_total_and_no_inclusive_one_carries_tax() {
        let rate = d("0.15");
        let taxed_by = |mode: TaxMode, qty: Decimal, unit: Decimal, way: usize| {
            let exact = |amount: Decimal| match mode {
                TaxMode::Exclusive => amount * rate,
                TaxMode::Inclusive => amount * rate / (Decimal::ONE + rate),
            };
            match way {
                0 => round2(exact(qty * unit)),
                1 => round2(exact(unit)) * qty,
                _ => exact(qty * unit)
                    .round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven),
            }
        };
        let (mut checked, mut overridden, mut rebased_inclusive, mut rounded) = (0, 0, 0, 0);
        for cents in (1..=3000).step_by(37) {
            let unit = Decimal::new(cents, 2);
            for (qty, way, mode) in [
                (1, 0, TaxMode::Exclusive),
                (3, 1, TaxMode::Exclusive),
                (2, 2, TaxMode::Exclusive),
                (1, 0, TaxMode::Inclusive),
                (3, 1, TaxMode::Inclusive),
                (2, 2, TaxMode::Inclusive),
            ] {
                let qty = Decimal::from(qty);
                let item_tax = taxed_by(mode, qty, unit, way);
                let ship_tax = taxed_by(mode, Decimal::ONE, d("4.99"), way);
                let lines = vec![
                    line(
                        LineKind::Product,
                        &qty.to_string(),
                        &unit.to_string(),
                        "0",
                        &item_tax.to_string(),
                        Some("0.15"),
                    ),
                    line(
                        LineKind::Shipping,
                        "1",
                        "4.99",
                        "0",
                        &ship_tax.to_string(),
                        Some("0.15"),
                    ),
                ];
                let gross = qty * unit + d("4.99");
                let tax = item_tax + ship_tax;
                let total = match mode {
                    TaxMode::Exclusive => gross + tax,
                    TaxMode::Inclusive => gross,
                };
                let (total, tax) = (total.to_string(), tax.to_string());
                let invoice =
                    invoice_for_xero(&order(mode, lines.clone(), &total, &tax), &xero_rates())
                        .unwrap();
                let note = credit_note_for_xero(&refund(mode, lines, &total, &tax), &xero_rates())
                    .unwrap();
                let case = format!("{qty} × {unit} {mode:?}, taxed way {way}");
                for strategy in ROUNDINGS {
                    let (xero_total, xero_tax) = xero_books(
                        &invoice.invoice.line_items,
                        invoice.invoice.line_amount_types,
                        strategy,
                    );
                    assert_eq!((xero_total, xero_tax), (d(&total), d(&tax)), "{case}");
                    let (note_total, _) = xero_books(
                        &note.credit_note.line_items,
                        note.credit_note.line_amount_types,
                        strategy,
                    );
                    assert_eq!(note_total, d(&total), "{case}: {note:#?}");
                }
                if invoice.invoice.line_amount_types == LineAmountTypes::Inclusive {
                    assert!(given(&invoice.invoice.line_items).is_empty(), "{case}");
                }
                assert!(
                    given(&note.credit_note.line_items).is_empty(),
                    "{case}: {note:#?}"
                );
                checked += 1;
                overridden += usize::from(!given(&invoice.invoice.line_items).is_empty());
                rebased_inclusive += usize::from(
                    mode == TaxMode::Inclusive
                        && invoice.invoice.line_amount_types == LineAmountTypes::Exclusive,
                );
                rounded += usize::from(
                    note.credit_note
                        .line_items
                        .iter()
                        .any(|i| i.account_code == "860"),
                );
            }
        }
        assert_eq!(checked, 82 * 6);
        // The range reaches every case: overrides, inclusive orders booked exclusive, and
        // credit notes whose Xero tax needed a rounding line.
        assert!(overridden > 0 && rebased_inclusive > 0 && rounded > 0);
    }
}
