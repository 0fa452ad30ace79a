//! `/CreditNotes` and their allocations to invoices. Refunds are booked as an ACCRECCREDIT
//! credit note, then either allocated to the invoice (if it still has an amount due) or paid out
//! with a payment against the credit note (`ARCREDITPAYMENT`, see [`super::payments`]).

use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

use super::documents::{self, CREDIT_NOTES, settle};
use super::{Ctx, parse_id};
use crate::response::SimResponse;
use crate::store::{Allocation, DocKind, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const ALLOCATIONS: Collection = Collection {
    name: "Allocations",
    error_flag: "HasValidationErrors",
};

/// `GET /CreditNotes` (numbers filter through `where=CreditNoteNumber=="…"` as in Xero, or the
/// simulator's extra `CreditNoteNumbers`).
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    documents::list(ctx, &CREDIT_NOTES, "CreditNoteNumbers")
}

/// `GET /CreditNotes/{CreditNoteID or CreditNoteNumber}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    documents::get(ctx, &CREDIT_NOTES, id)
}

/// `PUT /CreditNotes`, `POST /CreditNotes`, `POST /CreditNotes/{id}`.
pub fn write(ctx: &mut Ctx<'_>, update: bool, path_id: Option<&str>) -> SimResponse {
    documents::write(ctx, &CREDIT_NOTES, update, path_id)
}

/// An allocation as the allocations endpoint prints it.
pub fn allocation_json(tenant: &Tenant, allocation: &Allocation) -> Value {
    let invoice = tenant.document(DocKind::Invoice, allocation.invoice_id);
    let note = tenant.document(DocKind::CreditNote, allocation.credit_note_id);
    json!({
        "AllocationID": allocation.id,
        "Amount": wire::money(allocation.amount),
        "Date": wire::date_ms(allocation.date),
        "Invoice": {
            "InvoiceID": allocation.invoice_id,
            "InvoiceNumber": invoice.and_then(|i| i.number.clone()),
        },
        "CreditNote": {
            "CreditNoteID": allocation.credit_note_id,
            "CreditNoteNumber": note.and_then(|n| n.number.clone()),
        },
        "IsDeleted": allocation.is_deleted,
        "HasValidationErrors": false,
    })
}

/// Checks one allocation against the credit note and invoice; returns the invoice id, amount
/// and date.
fn check_allocation(
    ctx: &Ctx<'_>,
    note_id: Uuid,
    element: &serde_json::Map<String, Value>,
) -> Result<(Uuid, Decimal, time::Date), Vec<String>> {
    let mut errors = Vec::new();
    let note = ctx
        .tenant
        .document(DocKind::CreditNote, note_id)
        .expect("checked by the caller");
    let invoice = element
        .get("Invoice")
        .and_then(Value::as_object)
        .and_then(|r| {
            wire::opt_str(r, "InvoiceID")
                .and_then(parse_id)
                .and_then(|id| ctx.tenant.document(DocKind::Invoice, id))
                .or_else(|| {
                    wire::opt_str(r, "InvoiceNumber")
                        .and_then(|n| ctx.tenant.document_by_number(DocKind::Invoice, n))
                })
        });
    let amount = match element.get("Amount").and_then(wire::parse_decimal) {
        Some(Ok(amount)) if amount > Decimal::ZERO => Some(crate::money::round2(amount)),
        Some(Ok(_)) => {
            errors.push("Amount must be greater than zero.".to_owned());
            None
        }
        Some(Err(())) => {
            errors.push("Amount must be a number.".to_owned());
            None
        }
        None => {
            errors.push("Amount is required.".to_owned());
            None
        }
    };
    let date = match element.get("Date").filter(|v| !v.is_null()) {
        Some(value) => wire::parse_date(value).or_else(|| {
            errors.push(format!("Date '{value}' is not a valid date."));
            None
        }),
        None => {
            errors.push("Date is required.".to_owned());
            None
        }
    };
    if note.status != "AUTHORISED" {
        errors.push("Only AUTHORISED credit notes can be allocated.".to_owned());
    }
    let Some(invoice) = invoice else {
        errors.push("The Invoice specified could not be found.".to_owned());
        return Err(errors);
    };
    if invoice.status != "AUTHORISED" {
        errors.push("Credit can only be allocated to AUTHORISED invoices.".to_owned());
    }
    let matching_type = match note.doc_type.as_str() {
        "ACCRECCREDIT" => "ACCREC",
        _ => "ACCPAY",
    };
    if invoice.doc_type != matching_type {
        errors.push(format!(
            "A {} credit note can only be allocated to an {matching_type} invoice.",
            note.doc_type
        ));
    }
    if invoice.currency_code != note.currency_code {
        errors.push(
            "The currency of the credit note must match the currency of the invoice.".to_owned(),
        );
    }
    if let Some(amount) = amount {
        if amount > note.outstanding() {
            errors.push(
                "The amount allocated cannot exceed the remaining credit on the credit note."
                    .to_owned(),
            );
        }
        if amount > invoice.outstanding() {
            errors.push(
                "The amount allocated cannot exceed the amount due on the invoice.".to_owned(),
            );
        }
    }
    match (errors.is_empty(), amount, date) {
        (true, Some(amount), Some(date)) => Ok((invoice.id, amount, date)),
        _ => Err(errors),
    }
}

/// `PUT /CreditNotes/{CreditNoteID}/Allocations`.
pub fn allocate(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    let Some(note_id) = parse_id(id)
        .and_then(|id| ctx.tenant.document(DocKind::CreditNote, id))
        .map(|n| n.id)
    else {
        return SimResponse::not_found();
    };
    let elements = match ctx.elements("Allocations") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        match check_allocation(ctx, note_id, map) {
            Ok((invoice_id, amount, date)) => {
                let allocation = Allocation {
                    id: Uuid::new_v4(),
                    credit_note_id: note_id,
                    invoice_id,
                    amount,
                    date,
                    is_deleted: false,
                    updated: ctx.now,
                };
                let today = ctx.now.date();
                for (kind, doc_id) in [
                    (DocKind::CreditNote, note_id),
                    (DocKind::Invoice, invoice_id),
                ] {
                    let doc = ctx
                        .tenant
                        .document_mut(kind, doc_id)
                        .expect("checked above");
                    doc.amount_credited += amount;
                    doc.updated = ctx.now;
                    settle(doc, today);
                }
                ctx.tenant.allocations.push(allocation.clone());
                results.push(ElementResult::Ok(allocation_json(ctx.tenant, &allocation)));
            }
            Err(messages) => results.push(ElementResult::Err {
                echo: element.clone(),
                messages,
            }),
        }
    }
    validation::batch_response(
        ALLOCATIONS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}
