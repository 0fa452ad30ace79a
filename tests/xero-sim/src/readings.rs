//! Where Xero's documentation leaves two readings open, the simulator can be switched between
//! them, so a client can be tested against both. Where a rule is UNSURE the default is the
//! stricter reading (deleted numbers stay taken, 3.5 MB bodies); fields Xero may leave out of
//! an answer are printed by default, as the spec shows them, and [`Readings::strict`] leaves
//! them out.

use serde::{Deserialize, Serialize};

use crate::money::TaxRounding;
use crate::ratelimit::DayWindow;
use crate::scopes::ScopeRefusal;

/// The request-size limit of the Accounting API: "A single POST to the Accounting or Payroll
/// APIs has a size limit of 3.5MB" (developer.xero.com/documentation/auth-and-limits/
/// xero-api-limits; notes §3.4). Read as 3,500,000 bytes, the smaller of the two ways to read
/// "MB".
pub const XERO_MAX_REQUEST_BYTES: usize = 3_500_000;

/// The limit a 2026 secondary note gives instead (10 MB; notes §3.4, UNSURE).
pub const LENIENT_MAX_REQUEST_BYTES: usize = 10 * 1024 * 1024;

/// The switches. Every field's default is the strict reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Readings {
    /// Whether a DELETED invoice or credit note frees its number for a new document. Voided
    /// documents keep theirs ("Voiding an invoice retains its number"; integrators such as
    /// ServiceM8 tell users to rename a voided or deleted invoice before syncing it again:
    /// support.servicem8.com "Resolving Xero invoice number conflicts"). Whether deleted ones
    /// do is UNSURE; strict: they keep it (`false`).
    pub deleted_numbers_free: bool,
    /// Whether the `Payments` listed on an invoice or credit note carry each payment's
    /// `Reference`. The spec's `Payment` schema has the field, but Xero leaves empty and
    /// summary fields out of embedded records (UNSURE which it leaves out here). Default: as
    /// the spec shows them; a client's recovery must also work without (`false`).
    pub document_payments_carry_reference: bool,
    /// Whether a created payment's answer element carries its `PaymentID`. Default: as the
    /// spec's `createPayments` example shows it; without it (`false`) the element is printed
    /// with the zero GUID, which is how Xero prints an id it does not give (the spec's
    /// examples), and a client must find the payment another way.
    pub payment_answers_carry_id: bool,
    /// The largest request body accepted, in bytes; larger ones get 413.
    pub max_request_bytes: usize,
    /// How Xero rounds a line's tax to cents (notes §4, §10.5: UNSURE); see
    /// [`TaxRounding`]. Neither reading is stricter: a client must be right under both.
    pub tax_rounding: TaxRounding,
    /// Whether a credit note takes a line `TaxAmount` other than the tax Xero computes. Xero's
    /// UI adjusts tax on credit notes (help.xero.com/int/Tax-Adjustments) and the spec says a
    /// line's `TaxAmount` "can be overriden"; bank transactions refuse it through the API
    /// ("Tax amount 52.23 is incorrect for INPUT2 tax type, should be 52.28", XeroAPI/xero-node
    /// #768) though the UI allows it there too. Whether credit notes do is UNSURE; strict:
    /// they refuse (`false`), with that message.
    pub credit_notes_take_tax_overrides: bool,
    /// From how many cents of overridden tax (the sum of |given − computed| over its lines) a
    /// tax-inclusive invoice or credit note is flagged for a manual tax adjustment. Xero
    /// adjusts tax only on tax-exclusive documents (help.xero.com/int/Tax-Adjustments: "set
    /// Amounts are to Tax Exclusive") and alerts on inclusive ones that carry an override
    /// (notes §4, the SENPOS report); that report says it "occurs when rounding is 6 cents or
    /// more" (UNSURE). Strict: from one cent.
    pub inclusive_tax_flag_from_cents: u32,
    /// How a tenant's day of API calls is counted (notes §2 "Daily window shape", UNSURE; see
    /// [`crate::ratelimit`]). Strict: a rolling 24 hours, where a call comes back only a whole
    /// day after it was made; lenient: a fixed window that resets whole.
    pub day_window: DayWindow,
    /// How a token without the endpoint's scope is answered (notes §5, UNSURE): 401 (the
    /// default, as public reports show it) or 403; see [`ScopeRefusal`].
    pub scope_refusal: ScopeRefusal,
    /// Whether `allowBackorders=true` on `PUT`/`POST /Invoices` lets a sales invoice take a
    /// tracked item below zero (its shortfall then shows as `QuantityOnBackOrder`). Xero's spec
    /// has the parameter from version 16.2.0 (XeroAPI/Xero-OpenAPI #830, August 2026: "Allows
    /// an invoice to be created even when one or more line items contain tracked inventory
    /// where the invoice quantity would cause the available quantity to go negative"); whether
    /// every organisation has the feature is UNSURE. Strict: not honoured (`false`), the
    /// parameter ignored as Xero ignores parameters it does not know, so a client that relies
    /// on it is refused as it would be where Xero has not turned it on.
    pub backorders_honoured: bool,
}

impl Default for Readings {
    fn default() -> Self {
        Self {
            deleted_numbers_free: false,
            document_payments_carry_reference: true,
            payment_answers_carry_id: true,
            max_request_bytes: XERO_MAX_REQUEST_BYTES,
            tax_rounding: TaxRounding::MidpointAwayFromZero,
            credit_notes_take_tax_overrides: false,
            inclusive_tax_flag_from_cents: 1,
            day_window: DayWindow::Rolling,
            scope_refusal: ScopeRefusal::Unauthorized,
            backorders_honoured: false,
        }
    }
}

impl Readings {
    /// Every field Xero may leave out, left out: what a client's recovery must survive.
    pub fn strict() -> Self {
        Self {
            document_payments_carry_reference: false,
            payment_answers_carry_id: false,
            ..Self::default()
        }
    }

    /// The lenient reading of every switch (deleted numbers free, 10 MB bodies, every field
    /// present, tax overrides taken on credit notes and flagged from 6 cents, `allowBackorders`
    /// honoured), and the other rounding of half cents.
    pub fn lenient() -> Self {
        Self {
            deleted_numbers_free: true,
            document_payments_carry_reference: true,
            payment_answers_carry_id: true,
            max_request_bytes: LENIENT_MAX_REQUEST_BYTES,
            tax_rounding: TaxRounding::MidpointNearestEven,
            credit_notes_take_tax_overrides: true,
            inclusive_tax_flag_from_cents: 6,
            day_window: DayWindow::Fixed,
            scope_refusal: ScopeRefusal::Forbidden,
            backorders_honoured: true,
        }
    }
}
