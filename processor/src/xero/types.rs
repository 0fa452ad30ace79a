//! Request and response bodies of the Xero Accounting API, named as Xero names them
//! (`xero_accounting.yaml`). Money is `Decimal` written as a JSON number with its exact digits;
//! Xero's money fields are numbers, and a float would not be exact.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `Invoice.Type` / `CreditNote.Type` for sales.
pub const ACCREC: &str = "ACCREC";
pub const ACCRECCREDIT: &str = "ACCRECCREDIT";
pub const AUTHORISED: &str = "AUTHORISED";

/// `LineAmountTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LineAmountTypes {
    Exclusive,
    Inclusive,
    NoTax,
}

/// A reference to a contact by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContactRef {
    #[serde(rename = "ContactID")]
    pub contact_id: String,
}

/// One line of an invoice or credit note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LineItem {
    pub description: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub quantity: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub unit_amount: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_code: Option<String>,
    pub account_code: String,
    pub tax_type: String,
    /// The line's tax, sent as `TaxAmount` only when given (see [`LineTax`]).
    #[serde(default, skip_serializing_if = "LineTax::is_computed")]
    pub tax_amount: LineTax,
    /// Only on invoices: Xero refuses discounts on credit notes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub discount_amount: Option<Decimal>,
}

/// A line's tax: what Xero will hold for it, and whether the request says so.
///
/// Xero computes each line's tax from its tax type's rate, rounded to cents per line; a
/// `TaxAmount` in the request overrides that ("This value can be overriden if the calculated
/// <TaxAmount> is not correct", `LineItem.TaxAmount`). An override is a tax adjustment in Xero:
/// shown on tax-exclusive documents, flagged for manual correction on tax-inclusive ones, and
/// refused on some document types (see `mapping`'s module docs), so one is sent only where the
/// platform's tax differs from Xero's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineTax {
    /// Left to Xero, which computes this amount; `TaxAmount` is not sent.
    Computed(Decimal),
    /// Sent as `TaxAmount`.
    Given(Decimal),
}

impl LineTax {
    /// The tax the line carries in Xero.
    pub fn amount(self) -> Decimal {
        match self {
            Self::Computed(amount) | Self::Given(amount) => amount,
        }
    }

    /// Whether the request leaves the tax to Xero.
    pub fn is_computed(&self) -> bool {
        matches!(self, Self::Computed(_))
    }
}

impl Default for LineTax {
    /// What a line read without `TaxAmount` says: nothing given.
    fn default() -> Self {
        Self::Computed(Decimal::ZERO)
    }
}

impl Serialize for LineTax {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&self.amount(), serializer)
    }
}

impl<'de> Deserialize<'de> for LineTax {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        rust_decimal::serde::arbitrary_precision::deserialize(deserializer).map(Self::Given)
    }
}

/// An ACCREC invoice to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invoice {
    #[serde(rename = "Type")]
    pub kind: String,
    pub contact: ContactRef,
    pub date: String,
    pub due_date: String,
    pub invoice_number: String,
    pub reference: String,
    pub currency_code: String,
    pub line_amount_types: LineAmountTypes,
    pub status: String,
    pub line_items: Vec<LineItem>,
}

/// An ACCRECCREDIT credit note to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreditNote {
    #[serde(rename = "Type")]
    pub kind: String,
    pub contact: ContactRef,
    pub date: String,
    pub credit_note_number: String,
    pub reference: String,
    pub currency_code: String,
    pub line_amount_types: LineAmountTypes,
    pub status: String,
    pub line_items: Vec<LineItem>,
}

/// A reference to an account by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    #[serde(rename = "Code")]
    pub code: String,
}

/// What a payment pays: an invoice or a credit note (a refund paid out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaymentTarget {
    #[serde(rename = "Invoice")]
    Invoice {
        #[serde(rename = "InvoiceID")]
        invoice_id: String,
    },
    #[serde(rename = "CreditNote")]
    CreditNote {
        #[serde(rename = "CreditNoteID")]
        credit_note_id: String,
    },
}

/// A payment to create (`PUT /Payments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Payment {
    #[serde(flatten)]
    pub target: PaymentTarget,
    pub account: AccountRef,
    pub date: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
    pub reference: String,
}

/// A credit note allocation (`PUT /CreditNotes/{id}/Allocations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Allocation {
    pub invoice: InvoiceRef,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
    pub date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRef {
    #[serde(rename = "InvoiceID")]
    pub invoice_id: String,
}
