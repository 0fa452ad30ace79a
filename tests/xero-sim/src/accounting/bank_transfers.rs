//! `/BankTransfers`: money moved between two of the organisation's bank accounts, following
//! Xero's Bank Transfers doc (developer.xero.com/documentation/api/accounting/banktransfers)
//! and the spec's `BankTransfer` schema:
//!
//! - Required: `FromBankAccount`, `ToBankAccount` (each by `Code` or `AccountID`: "If Code is
//!   not included then AccountID is required") and `Amount`; optional `Date` ("Defaults to
//!   current date"), `Reference`, `FromIsReconciled`/`ToIsReconciled`, `FromTracking`/
//!   `ToTracking` (echoed, as line tracking is).
//! - Both accounts are of type BANK (the doc links both to an account "of Type BANK"; Linx's
//!   mirror of it: "FromBankAccount: An account of Type BANK to transfer from"), active, and
//!   not the same account.
//! - A transfer is one `Amount`: what leaves the one account is what reaches the other, so a
//!   request cannot state two sides that differ, and there is no unbalanced transfer to refuse
//!   in one currency. The case where the two sides would differ is a transfer between accounts
//!   of different currencies, which needs an amount in each: Xero's API takes no second amount
//!   (`CurrencyRate` is read-only in the spec) and integrators document "You cannot transfer
//!   between accounts in different currencies" (Linx's Xero CreateBankTransfer page), so it is
//!   refused.
//! - The created transfer carries its two bank-side transactions' ids (`FromBankTransactionID`,
//!   the SPEND-TRANSFER side; `ToBankTransactionID`, the RECEIVE-TRANSFER side); `GET
//!   /BankTransactions` does not list them ("This endpoint does not return ... transfers
//!   between bank accounts", the Bank Transactions doc).
//! - Deleting: `POST /BankTransfers` with `[{BankTransferID, Status: "DELETED"}]` and `POST
//!   /BankTransfers/{id}` with `{"Status":"DELETED"}`, and `includeDeleted` on the list, are in
//!   the spec from June 2026 (XeroAPI/Xero-OpenAPI #822, "Bank Transfers extended
//!   functionality: delete transfers, add tracking"); there is no other update. Deleted
//!   transfers are left out of lists unless `includeDeleted=true`.
//! - Paging: the spec gives `GET /BankTransfers` no `page`; every transfer comes at once.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::bank_transactions::{account_ref_json, bank_account};
use super::{Ctx, apply_order, parse_id};
use crate::response::SimResponse;
use crate::store::{BankTransfer, PaymentTarget, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const BANK_TRANSFERS: Collection = Collection {
    name: "BankTransfers",
    error_flag: "HasValidationErrors",
};

/// A transfer as Xero prints it (the spec's `getBankTransfer` example).
pub fn bank_transfer_json(tenant: &Tenant, transfer: &BankTransfer) -> Value {
    let mut value = json!({
        "BankTransferID": transfer.id,
        "CreatedDateUTCString": created_string(transfer.created),
        "CreatedDateUTC": wire::ms_date(transfer.created),
        "DateString": wire::date_string(transfer.date),
        "Date": wire::date_ms(transfer.date),
        "Status": transfer.status,
        "FromBankAccount": account_ref_json(tenant, transfer.from_account_id),
        "ToBankAccount": account_ref_json(tenant, transfer.to_account_id),
        "Amount": wire::money(transfer.amount),
        "FromBankTransactionID": transfer.from_transaction_id,
        "ToBankTransactionID": transfer.to_transaction_id,
        "FromIsReconciled": transfer.from_is_reconciled,
        "ToIsReconciled": transfer.to_is_reconciled,
        "CurrencyRate": wire::number(transfer.currency_rate, 6),
        "HasAttachments": false,
        "FromTracking": transfer.from_tracking,
        "ToTracking": transfer.to_tracking,
    });
    if let Some(reference) = &transfer.reference {
        value["Reference"] = json!(reference);
    }
    value
}

/// `CreatedDateUTCString` as the spec's example prints it: `2016-10-17T20:46:01`.
fn created_string(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn check_transfer(
    ctx: &Ctx<'_>,
    element: &Map<String, Value>,
) -> Result<BankTransfer, Vec<String>> {
    let tenant: &Tenant = ctx.tenant;
    let mut errors = Vec::new();
    let from = bank_account(tenant, element.get("FromBankAccount"), "FromBankAccount")
        .map_err(|e| errors.push(e))
        .ok();
    let to = bank_account(tenant, element.get("ToBankAccount"), "ToBankAccount")
        .map_err(|e| errors.push(e))
        .ok();
    if let (Some(from), Some(to)) = (from, to) {
        if from.id == to.id {
            errors.push(format!(
                "The FromBankAccount and ToBankAccount must be different accounts; both are account code '{}'.",
                from.code
            ));
        }
        let currency = |a: &crate::store::Account| {
            a.currency_code
                .clone()
                .unwrap_or_else(|| tenant.base_currency.clone())
        };
        if currency(from) != currency(to) {
            errors.push(format!(
                "A bank transfer between accounts in different currencies ({} to {}) needs an amount on each side, which the API does not take; transfer between accounts of one currency.",
                currency(from),
                currency(to)
            ));
        }
    }
    let amount = match element.get("Amount").and_then(wire::parse_decimal) {
        Some(Ok(amount)) if amount <= Decimal::ZERO => {
            errors.push("The Amount of a bank transfer must be greater than zero.".to_owned());
            None
        }
        // Money has two decimal places in Xero ("Rounding in Xero": amounts are held to
        // 2 dp); a transfer of 10.005 is refused rather than rounded to a cent the bank did
        // not move.
        Some(Ok(amount)) if amount.normalize().scale() > 2 => {
            errors.push(format!(
                "The Amount of a bank transfer must have at most 2 decimal places, not {amount}."
            ));
            None
        }
        Some(Ok(amount)) => Some(crate::money::round2(amount)),
        Some(Err(())) => {
            errors.push("Amount must be a number.".to_owned());
            None
        }
        None => {
            errors.push("The Amount of a bank transfer must be specified.".to_owned());
            None
        }
    };
    let date = match element.get("Date").filter(|v| !v.is_null()) {
        Some(value) => wire::parse_date(value).unwrap_or_else(|| {
            errors.push(format!("Date '{value}' is not a valid date."));
            ctx.now.date()
        }),
        None => ctx.now.date(),
    };
    match (errors.is_empty(), from, to, amount) {
        (true, Some(from), Some(to), Some(amount)) => Ok(BankTransfer {
            id: Uuid::new_v4(),
            from_account_id: from.id,
            to_account_id: to.id,
            amount,
            date,
            reference: wire::opt_str(element, "Reference").map(str::to_owned),
            currency_rate: Decimal::ONE,
            from_transaction_id: Uuid::new_v4(),
            to_transaction_id: Uuid::new_v4(),
            from_is_reconciled: wire::opt_bool(element, "FromIsReconciled").unwrap_or(false),
            to_is_reconciled: wire::opt_bool(element, "ToIsReconciled").unwrap_or(false),
            from_tracking: element
                .get("FromTracking")
                .cloned()
                .unwrap_or_else(|| json!([])),
            to_tracking: element
                .get("ToTracking")
                .cloned()
                .unwrap_or_else(|| json!([])),
            status: "AUTHORISED".to_owned(),
            created: ctx.now,
            updated: ctx.now,
        }),
        _ => Err(errors),
    }
}

/// `PUT /BankTransfers`: creates each transfer of the batch.
pub fn create(ctx: &mut Ctx<'_>) -> SimResponse {
    let elements = match ctx.elements("BankTransfers") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        match check_transfer(ctx, map) {
            Ok(transfer) => {
                results.push(ElementResult::Ok(bank_transfer_json(ctx.tenant, &transfer)));
                ctx.tenant.bank_transfers.push(transfer);
            }
            Err(messages) => results.push(ElementResult::Err {
                echo: element.clone(),
                messages,
            }),
        }
    }
    validation::batch_response(
        BANK_TRANSFERS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}

/// Deletes one transfer, or says why not.
fn delete_one(
    ctx: &mut Ctx<'_>,
    id: Option<Uuid>,
    element: &Map<String, Value>,
) -> Result<Value, String> {
    let index = id
        .and_then(|id| ctx.tenant.bank_transfers.iter().position(|t| t.id == id))
        .ok_or_else(|| "The BankTransfer specified could not be found.".to_owned())?;
    match wire::opt_str(element, "Status").map(str::to_ascii_uppercase) {
        Some(s) if s == "DELETED" => {}
        _ => return Err("Bank transfers can only be updated to a status of DELETED.".to_owned()),
    }
    let transfer = &mut ctx.tenant.bank_transfers[index];
    if transfer.status == "DELETED" {
        return Err("This bank transfer has already been deleted.".to_owned());
    }
    // As for bank transactions, Xero's UI unreconciles before removing (UNSURE for the API).
    if transfer.from_is_reconciled || transfer.to_is_reconciled {
        return Err("This bank transfer cannot be deleted as it has been reconciled.".to_owned());
    }
    "DELETED".clone_into(&mut transfer.status);
    transfer.updated = ctx.now;
    let transfer = transfer.clone();
    Ok(bank_transfer_json(ctx.tenant, &transfer))
}

/// `POST /BankTransfers` (`[{BankTransferID, Status: "DELETED"}]`) and `POST
/// /BankTransfers/{id}` (`{"Status":"DELETED"}`).
pub fn delete(ctx: &mut Ctx<'_>, path_id: Option<&str>) -> SimResponse {
    if let Some(id) = path_id
        && parse_id(id)
            .filter(|id| ctx.tenant.bank_transfers.iter().any(|t| t.id == *id))
            .is_none()
    {
        return SimResponse::not_found();
    }
    let elements = match ctx.elements("BankTransfers") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        let id = path_id
            .or_else(|| wire::opt_str(map, "BankTransferID"))
            .and_then(parse_id);
        match delete_one(ctx, id, map) {
            Ok(json) => results.push(ElementResult::Ok(json)),
            Err(message) => results.push(ElementResult::error(element, message)),
        }
    }
    validation::batch_response(
        BANK_TRANSFERS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}

/// `GET /BankTransfers`: `where`, `order`, `If-Modified-Since` (transfers "created or
/// modified since"), `includeDeleted`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    let filter = match ctx.where_filter() {
        Ok(filter) => filter,
        Err(response) => return response,
    };
    let since = ctx.if_modified_since();
    let include_deleted = ctx.flag("includeDeleted");
    let records: Vec<Value> = ctx
        .tenant
        .bank_transfers
        .iter()
        .filter(|t| include_deleted || t.status != "DELETED")
        .filter(|t| since.is_none_or(|since| t.updated >= since))
        .map(|t| bank_transfer_json(ctx.tenant, t))
        .filter(|json| filter.as_ref().is_none_or(|f| f.matches(json)))
        .collect();
    match apply_order(ctx, records) {
        Ok(list) => SimResponse::json(200, &wire::envelope(ctx.now, "BankTransfers", list)),
        Err(response) => response,
    }
}

/// `GET /BankTransfers/{BankTransferID}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    match parse_id(id).and_then(|id| ctx.tenant.bank_transfers.iter().find(|t| t.id == id)) {
        Some(transfer) => SimResponse::json(
            200,
            &wire::envelope(
                ctx.now,
                "BankTransfers",
                vec![bank_transfer_json(ctx.tenant, transfer)],
            ),
        ),
        None => SimResponse::not_found(),
    }
}

/// The money in an account, debit positive: live payments into it (received payments and
/// supplier refunds in, paid bills and customer refunds out, at their `BankAmount`), live
/// spend (out) and receive (in) money on it, live transfers from (out) and to (in) it, and
/// the lines of live spend and receive money coded to it.
///
/// The coded lines are the other side of a bank transaction: Xero's "Receive money" posts the
/// bank account as the debit and each line's account as the credit, "Spend money" the reverse
/// (Xero Central, "Spend or receive money in a bank account"; the Bank Transactions doc:
/// `LineItems` carry the `AccountCode` each amount is coded to). So money received in the
/// bank coded to a payments-enabled clearing account takes it out of clearing, as a payout
/// booked that way must. Each line moves its account by its amount before tax (the tax goes
/// to the tax account): `LineAmount` less `TaxAmount` where amounts are tax inclusive. Lines
/// of invoices and credit notes are not counted: their money moves through payments, and the
/// simulator keeps no general ledger.
pub fn account_balance(tenant: &Tenant, account_id: Uuid) -> Decimal {
    let payments: Decimal = tenant
        .payments
        .iter()
        .filter(|p| p.status == "AUTHORISED" && p.account_id == account_id)
        .map(|p| {
            let incoming = match p.target {
                PaymentTarget::Invoice(_) => p.payment_type == "ACCRECPAYMENT",
                PaymentTarget::CreditNote(_) => p.payment_type == "APCREDITPAYMENT",
            };
            if incoming {
                p.bank_amount
            } else {
                -p.bank_amount
            }
        })
        .sum();
    let bank_transactions: Decimal = tenant
        .bank_transactions
        .iter()
        .filter(|t| t.status == "AUTHORISED" && t.bank_account_id == account_id)
        .map(|t| {
            if t.txn_type == "RECEIVE" {
                t.total
            } else {
                -t.total
            }
        })
        .sum();
    let transfers: Decimal = tenant
        .bank_transfers
        .iter()
        .filter(|t| t.status == "AUTHORISED")
        .map(|t| {
            if t.to_account_id == account_id {
                t.amount
            } else if t.from_account_id == account_id {
                -t.amount
            } else {
                Decimal::ZERO
            }
        })
        .sum();
    let code = tenant.account_by_id(account_id).map(|a| a.code.as_str());
    let coded: Decimal = tenant
        .bank_transactions
        .iter()
        .filter(|t| t.status == "AUTHORISED")
        .flat_map(|t| t.lines.iter().map(move |line| (t, line)))
        .filter(|(_, line)| {
            line.account_id == Some(account_id)
                || (line.account_id.is_none()
                    && code.is_some_and(|code| {
                        line.account_code
                            .as_deref()
                            .is_some_and(|c| c.eq_ignore_ascii_case(code))
                    }))
        })
        .map(|(t, line)| {
            let net = match t.line_amount_types {
                crate::money::LineAmountTypes::Inclusive => line.line_amount - line.tax_amount,
                crate::money::LineAmountTypes::Exclusive | crate::money::LineAmountTypes::NoTax => {
                    line.line_amount
                }
            };
            if t.txn_type == "RECEIVE" { -net } else { net }
        })
        .sum();
    crate::money::round2(payments + bank_transactions + transfers + coded)
}
