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
    /// Set explicitly to the tax the platform charged; Xero would otherwise round per line
    /// its own way.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub tax_amount: Decimal,
    /// Only on invoices: Xero refuses discounts on credit notes.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "rust_decimal::serde::arbitrary_precision_option"
    )]
    pub discount_amount: Option<Decimal>,
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
