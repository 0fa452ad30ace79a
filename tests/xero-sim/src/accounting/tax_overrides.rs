//! Tax overrides: a line whose `TaxAmount` is given instead of the tax Xero computes from its
//! tax type's rate, what Xero calls a tax adjustment.
//!
//! - The spec allows it on document lines: `TaxAmount` is "auto calculated … This value can be
//!   overriden if the calculated <TaxAmount> is not correct" (`LineItem.TaxAmount`).
//! - Xero adjusts tax on tax-exclusive transactions: "In your transaction, set Amounts are to
//!   Tax Exclusive … Enter your non-standard amount in the Tax Amount column. Xero adds a line
//!   above the transaction total to display the adjustment amount" (help.xero.com/int/
//!   Tax-Adjustments, which lists invoices, bills, credit notes, prepayments, spend and receive
//!   money and manual journals). A tax-inclusive document with overridden tax has no such form:
//!   Xero opens it with an alert to correct the tax ("Switch to Classic Invoicing and back, or
//!   Change the amounts to Tax Exclusive and back": the SENPOS report, notes §4). The simulator
//!   records those as flagged ([`flagged`]); the admin API's `tax-review` records list every
//!   document's adjustments and flag ([`review_json`]).
//! - Bank transactions refuse an override through the API ("Tax amount 52.23 is incorrect for
//!   INPUT2 tax type, should be 52.28", XeroAPI/xero-node #768), and so do the simulator's
//!   (`accounting::bank_transactions`); whether credit notes refuse as well is UNSURE, and the
//!   strict reading (`Readings::credit_notes_take_tax_overrides = false`) refuses them with
//!   that message.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::documents::LineOwner;
use crate::money::LineAmountTypes;
use crate::readings::Readings;
use crate::store::{DocKind, Document, Tenant};
use crate::wire;

/// Whether lines of `owner` refuse a `TaxAmount` other than Xero's own.
pub fn refused(owner: LineOwner, readings: Readings) -> bool {
    match owner {
        LineOwner::Document(DocKind::Invoice) => false,
        LineOwner::Document(DocKind::CreditNote) => !readings.credit_notes_take_tax_overrides,
        LineOwner::BankTransaction => true,
    }
}

/// The refusal, in the words Xero uses for bank transactions.
pub fn refusal(given: Decimal, tax_type: &str, computed: Decimal) -> String {
    format!("Tax amount {given} is incorrect for {tax_type} tax type, should be {computed}")
}

/// How much of a document's tax was overridden: the sum over its lines of |given − computed|.
pub fn adjusted(doc: &Document) -> Decimal {
    doc.lines
        .iter()
        .map(|l| (l.tax_amount - l.computed_tax).abs())
        .sum()
}

/// Whether Xero would flag the document for a manual tax adjustment: tax-inclusive, with at
/// least `readings.inclusive_tax_flag_from_cents` of overridden tax.
pub fn flagged(doc: &Document, readings: Readings) -> bool {
    let from = Decimal::new(i64::from(readings.inclusive_tax_flag_from_cents.max(1)), 2);
    doc.line_amount_types == LineAmountTypes::Inclusive && adjusted(doc) >= from
}

/// Every document's tax adjustments and flag, for `GET /__sim/tenants/{id}/tax-review`.
pub fn review_json(tenant: &Tenant) -> Vec<Value> {
    let kinds = [
        ("Invoice", &tenant.invoices),
        ("CreditNote", &tenant.credit_notes),
    ];
    kinds
        .into_iter()
        .flat_map(|(kind, docs)| docs.iter().map(move |doc| (kind, doc)))
        .map(|(kind, doc)| {
            let adjustments: Vec<Value> = doc
                .lines
                .iter()
                .filter(|l| l.tax_amount != l.computed_tax)
                .map(|l| {
                    json!({
                        "LineItemID": l.id,
                        "Description": l.description,
                        "TaxType": l.tax_type,
                        "LineAmount": wire::money(l.line_amount),
                        "ComputedTax": wire::money(l.computed_tax),
                        "TaxAmount": wire::money(l.tax_amount),
                    })
                })
                .collect();
            json!({
                "Kind": kind,
                "Type": doc.doc_type,
                "ID": doc.id,
                "Number": doc.number,
                "Status": doc.status,
                "LineAmountTypes": doc.line_amount_types.as_str(),
                "TaxAdjustments": adjustments,
                "AdjustedTax": wire::money(adjusted(doc)),
                "FlaggedForTaxAdjustment": doc.tax_flagged,
            })
        })
        .collect()
}
