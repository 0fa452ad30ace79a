//! `/Payments`: payments against approved invoices, cash refunds of credit notes, and deleting
//! (reversing) a payment. The account paid into must be a BANK account or have "enable payments
//! to this account" switched on: that is what makes a clearing account usable.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::documents::settle;
use super::{Ctx, Paging, apply_common_filters, parse_id};
use crate::money::{round_dp, round2};
use crate::response::SimResponse;
use crate::store::{DocKind, Payment, PaymentTarget, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const PAYMENTS: Collection = Collection {
    name: "Payments",
    error_flag: "HasValidationErrors",
};

/// A payment as `GET /Payments` prints it.
pub fn payment_json(tenant: &Tenant, payment: &Payment) -> Value {
    let account = tenant.account_by_id(payment.account_id);
    let mut value = json!({
        "PaymentID": payment.id,
        "Date": wire::date_ms(payment.date),
        "BankAmount": wire::money(payment.bank_amount),
        "Amount": wire::money(payment.amount),
        "Reference": payment.reference,
        "CurrencyRate": wire::number(payment.currency_rate, 6),
        "PaymentType": payment.payment_type,
        "Status": payment.status,
        "UpdatedDateUTC": wire::ms_date(payment.updated),
        "HasAccount": true,
        "IsReconciled": payment.is_reconciled,
        "Account": {
            "AccountID": payment.account_id,
            "Code": account.map(|a| a.code.clone()),
            "Name": account.map(|a| a.name.clone()),
        },
        "HasValidationErrors": false,
    });
    let (key, kind, id, id_key, number_key) = match payment.target {
        PaymentTarget::Invoice(id) => (
            "Invoice",
            DocKind::Invoice,
            id,
            "InvoiceID",
            "InvoiceNumber",
        ),
        PaymentTarget::CreditNote(id) => (
            "CreditNote",
            DocKind::CreditNote,
            id,
            "CreditNoteID",
            "CreditNoteNumber",
        ),
    };
    let doc = tenant.document(kind, id);
    value[key] = json!({
        id_key: id,
        number_key: doc.and_then(|d| d.number.clone()),
        "Type": doc.map(|d| d.doc_type.clone()),
        "CurrencyCode": doc.map(|d| d.currency_code.clone()),
        "Contact": doc.map(|d| super::contacts::contact_ref_json(tenant.contact(d.contact_id), d.contact_id)),
    });
    value
}

fn find_target(tenant: &Tenant, element: &Map<String, Value>) -> Result<PaymentTarget, String> {
    let lookup = |key: &str, kind: DocKind, id_key: &str, number_key: &str| {
        let reference = element.get(key)?.as_object()?;
        let found = wire::opt_str(reference, id_key)
            .and_then(parse_id)
            .and_then(|id| tenant.document(kind, id))
            .or_else(|| {
                wire::opt_str(reference, number_key)
                    .and_then(|n| tenant.document_by_number(kind, n))
            });
        Some(found.map(|d| d.id))
    };
    if let Some(found) = lookup("Invoice", DocKind::Invoice, "InvoiceID", "InvoiceNumber") {
        return found
            .map(PaymentTarget::Invoice)
            .ok_or_else(|| "The Invoice specified could not be found.".to_owned());
    }
    if let Some(found) = lookup(
        "CreditNote",
        DocKind::CreditNote,
        "CreditNoteID",
        "CreditNoteNumber",
    ) {
        return found
            .map(PaymentTarget::CreditNote)
            .ok_or_else(|| "The CreditNote specified could not be found.".to_owned());
    }
    Err("You must specify either an Invoice, CreditNote, Prepayment or Overpayment for the payment.".to_owned())
}

fn check_payment(ctx: &Ctx<'_>, element: &Map<String, Value>) -> Result<Payment, Vec<String>> {
    let tenant: &Tenant = ctx.tenant;
    let mut errors = Vec::new();
    let target = find_target(tenant, element).map_err(|e| vec![e])?;
    let doc = match target {
        PaymentTarget::Invoice(id) => tenant.document(DocKind::Invoice, id),
        PaymentTarget::CreditNote(id) => tenant.document(DocKind::CreditNote, id),
    }
    .expect("find_target returns existing documents");

    let account_ref = element.get("Account").and_then(Value::as_object);
    let account = account_ref.and_then(|r| {
        wire::opt_str(r, "AccountID")
            .and_then(parse_id)
            .and_then(|id| tenant.account_by_id(id))
            .or_else(|| wire::opt_str(r, "Code").and_then(|c| tenant.account_by_code(c)))
    });
    let named = account_ref.is_some_and(|r| {
        wire::opt_str(r, "AccountID").is_some() || wire::opt_str(r, "Code").is_some()
    });
    match account {
        None if !named => {
            errors
                .push("You must specify an Account code or Account ID for the payment".to_owned());
        }
        None => errors.push("The Account specified could not be found.".to_owned()),
        Some(a) if a.status != "ACTIVE" => errors.push(format!(
            "Account code '{}' has been archived, or has been deleted.",
            a.code
        )),
        Some(a) if !a.accepts_payments() => {
            errors.push("Account type is invalid for making a payment to".to_owned());
        }
        Some(a) => {
            if let Some(currency) = &a.currency_code
                && currency != &doc.currency_code
                && currency != &tenant.base_currency
            {
                errors.push(format!(
                        "The currency of the bank account ({currency}) must match the currency of the document ({}) or the base currency.",
                        doc.currency_code
                    ));
            }
        }
    }

    if doc.status != "AUTHORISED" && doc.status != "PAID" {
        errors.push("Payments can only be made against Authorised documents".to_owned());
    }
    let amount = match element.get("Amount").and_then(wire::parse_decimal) {
        Some(Ok(amount)) if amount > Decimal::ZERO => Some(round2(amount)),
        Some(Ok(_)) => {
            errors.push("Payment amount must be greater than zero.".to_owned());
            None
        }
        Some(Err(())) => {
            errors.push("Amount must be a number.".to_owned());
            None
        }
        None => {
            errors.push("Payment amount must be specified.".to_owned());
            None
        }
    };
    if let Some(amount) = amount
        && (doc.status == "AUTHORISED" || doc.status == "PAID")
        && amount > doc.outstanding()
    {
        // Wording as in the spec's createPayment error example.
        errors.push("Payment amount exceeds the amount outstanding on this document".to_owned());
    }
    let date = match element.get("Date").filter(|v| !v.is_null()) {
        Some(value) => wire::parse_date(value).unwrap_or_else(|| {
            errors.push(format!("Date '{value}' is not a valid date."));
            ctx.now.date()
        }),
        None => ctx.now.date(),
    };
    let currency_rate = match element.get("CurrencyRate").and_then(wire::parse_decimal) {
        Some(Ok(rate)) if rate > Decimal::ZERO => round_dp(rate, 6),
        Some(_) => {
            errors.push("CurrencyRate must be a number greater than zero.".to_owned());
            doc.currency_rate
        }
        None => doc.currency_rate,
    };
    let bank_amount = match element.get("BankAmount").and_then(wire::parse_decimal) {
        Some(Ok(value)) => Some(round2(value)),
        Some(Err(())) => {
            errors.push("BankAmount must be a number.".to_owned());
            None
        }
        None => None,
    };
    let payment_type = match doc.doc_type.as_str() {
        "ACCREC" => "ACCRECPAYMENT",
        "ACCPAY" => "ACCPAYPAYMENT",
        "ACCRECCREDIT" => "ARCREDITPAYMENT",
        _ => "APCREDITPAYMENT",
    };
    match (errors.is_empty(), account, amount) {
        (true, Some(account), Some(amount)) => Ok(Payment {
            id: Uuid::new_v4(),
            target,
            account_id: account.id,
            date,
            amount,
            bank_amount: bank_amount.unwrap_or(amount),
            currency_rate,
            reference: wire::opt_str(element, "Reference").map(str::to_owned),
            is_reconciled: wire::opt_bool(element, "IsReconciled").unwrap_or(false),
            status: "AUTHORISED".to_owned(),
            payment_type: payment_type.to_owned(),
            updated: ctx.now,
        }),
        _ => Err(errors),
    }
}

fn apply_to_document(
    tenant: &mut Tenant,
    payment: &Payment,
    sign: Decimal,
    now: time::OffsetDateTime,
) {
    let (kind, id) = match payment.target {
        PaymentTarget::Invoice(id) => (DocKind::Invoice, id),
        PaymentTarget::CreditNote(id) => (DocKind::CreditNote, id),
    };
    if let Some(doc) = tenant.document_mut(kind, id) {
        doc.amount_paid += sign * payment.amount;
        doc.updated = now;
        settle(doc, now.date());
    }
}

/// `PUT /Payments` (many) and `POST /Payments` (one).
pub fn create(ctx: &mut Ctx<'_>, _single: bool) -> SimResponse {
    let elements = match ctx.elements("Payments") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        match check_payment(ctx, map) {
            Ok(payment) => {
                apply_to_document(ctx.tenant, &payment, Decimal::ONE, ctx.now);
                ctx.tenant.payments.push(payment.clone());
                let mut json = payment_json(ctx.tenant, &payment);
                if !ctx.readings.payment_answers_carry_id {
                    json["PaymentID"] = json!(Uuid::nil());
                }
                results.push(ElementResult::Ok(json));
            }
            Err(messages) => results.push(ElementResult::Err {
                echo: element.clone(),
                messages,
            }),
        }
    }
    validation::batch_response(
        PAYMENTS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}

/// `POST /Payments/{PaymentID}` with `{"Payments":[{"Status":"DELETED"}]}`.
pub fn delete(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    let Some(index) =
        parse_id(id).and_then(|id| ctx.tenant.payments.iter().position(|p| p.id == id))
    else {
        return SimResponse::not_found();
    };
    let elements = match ctx.elements("Payments") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let element = elements.into_iter().next().unwrap_or_else(|| json!({}));
    let map = element.as_object().cloned().unwrap_or_default();
    let message = match wire::opt_str(&map, "Status").map(str::to_ascii_uppercase) {
        Some(s) if s == "DELETED" => {
            if ctx.tenant.payments[index].status == "DELETED" {
                Some("This payment has already been deleted.")
            } else {
                None
            }
        }
        _ => Some("Payments can only be updated to a status of DELETED."),
    };
    if let Some(message) = message {
        return validation::single_validation_error(&element, PAYMENTS.error_flag, message);
    }
    let payment = {
        let payment = &mut ctx.tenant.payments[index];
        payment.status = "DELETED".to_owned();
        payment.updated = ctx.now;
        payment.clone()
    };
    apply_to_document(ctx.tenant, &payment, -Decimal::ONE, ctx.now);
    SimResponse::json(
        200,
        &wire::envelope(
            ctx.now,
            "Payments",
            vec![payment_json(ctx.tenant, &payment)],
        ),
    )
}

/// `GET /Payments`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    let records = ctx
        .tenant
        .payments
        .iter()
        .map(|p| payment_json(ctx.tenant, p))
        .collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &Paging::from(ctx).envelope(ctx.now, "Payments", list)),
        Err(response) => response,
    }
}

/// `GET /Payments/{PaymentID}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    match parse_id(id).and_then(|id| ctx.tenant.payments.iter().find(|p| p.id == id)) {
        Some(payment) => SimResponse::json(
            200,
            &wire::envelope(ctx.now, "Payments", vec![payment_json(ctx.tenant, payment)]),
        ),
        None => SimResponse::not_found(),
    }
}
