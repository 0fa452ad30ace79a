//! `/BankTransactions`: spend and receive money, following Xero's Bank Transactions doc
//! (developer.xero.com/documentation/api/accounting/banktransactions) and the spec's
//! `BankTransaction` schema:
//!
//! - Mandatory: `Type`, `Contact`, `LineItems` ("At least one is required to create a bank
//!   transaction"), `BankAccount` ("Bank account for transaction", by `Code` or `AccountID`).
//! - Types: `SPEND` and `RECEIVE`. The prepayment and overpayment types create prepayments and
//!   overpayments, which the simulator does not keep (README, "No ledger"): refused with a
//!   "not supported by the simulator" message rather than booked half. `SPEND-TRANSFER` and
//!   `RECEIVE-TRANSFER` are the two sides of a bank transfer (`accounting::bank_transfers`),
//!   made only through `/BankTransfers`; and, as the doc says, "This endpoint does not return
//!   payments applied to invoices, expense claims or transfers between bank accounts".
//! - `CurrencyCode`: "Setting currency is only supported on overpayments", so a transaction is
//!   in its bank account's currency; `CurrencyRate` is kept as sent, else 1 (the simulator has
//!   no XE.com rates, as for invoices).
//! - Status codes: `AUTHORISED` (created so) and `DELETED` (by an update).
//! - Lines are the invoices' lines (`documents::parse_lines`): the same per-line tax, account
//!   and tax-type rules; no discounts (the spec: discounts are "only supported on ACCREC
//!   invoices"), and a `TaxAmount` other than Xero's is refused ("Tax amount 52.23 is incorrect
//!   for INPUT2 tax type, should be 52.28", XeroAPI/xero-node #768).
//! - Paging: "Up to 100 bank transactions will be returned in a single API call with line items
//!   details" with `page` (the spec's `getBankTransactions`); without it, as for invoices, the
//!   list comes without line items.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::documents::{LineContext, LineOwner, line_json, parse_lines};
use super::{Ctx, Paging, apply_common_filters, apply_order, contacts, parse_id};
use crate::money::{self, LineAmountTypes, round_dp};
use crate::response::SimResponse;
use crate::store::{Account, BankTransaction, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const BANK_TRANSACTIONS: Collection = Collection {
    name: "BankTransactions",
    error_flag: "HasErrors",
};

/// An account reference as bank records print it: `{AccountID, Code, Name}`.
pub fn account_ref_json(tenant: &Tenant, id: Uuid) -> Value {
    let account = tenant.account_by_id(id);
    json!({
        "AccountID": id,
        "Code": account.map(|a| a.code.clone()),
        "Name": account.map(|a| a.name.clone()),
    })
}

/// A bank transaction as Xero prints it; `with_lines` is false for unpaged lists.
pub fn bank_transaction_json(
    tenant: &Tenant,
    txn: &BankTransaction,
    unit_dp: u32,
    with_lines: bool,
) -> Value {
    let mut value = json!({
        "BankTransactionID": txn.id,
        "BankAccount": account_ref_json(tenant, txn.bank_account_id),
        "Type": txn.txn_type,
        "Reference": txn.reference.clone().unwrap_or_default(),
        "IsReconciled": txn.is_reconciled,
        "CurrencyRate": wire::number(txn.currency_rate, 6),
        "Contact": contacts::contact_ref_json(tenant.contact(txn.contact_id), txn.contact_id),
        "Date": wire::date_ms(txn.date),
        "DateString": wire::date_string(txn.date),
        "Status": txn.status,
        "LineAmountTypes": txn.line_amount_types.as_str(),
        "SubTotal": wire::money(txn.sub_total),
        "TotalTax": wire::money(txn.total_tax),
        "Total": wire::money(txn.total),
        "UpdatedDateUTC": wire::ms_date(txn.updated),
        "CurrencyCode": txn.currency_code,
        "HasAttachments": false,
    });
    if let Some(url) = &txn.url {
        value["Url"] = json!(url);
    }
    if with_lines {
        value["LineItems"] = txn.lines.iter().map(|l| line_json(l, unit_dp)).collect();
    }
    value
}

/// The bank account a `BankAccount` (or `FromBankAccount`/`ToBankAccount`) reference names,
/// checked as Xero's bank endpoints need it: given by `AccountID` or `Code`, existing, active,
/// and of type BANK. `role` names the field in messages.
///
/// # Errors
/// The validation message.
pub fn bank_account<'t>(
    tenant: &'t Tenant,
    reference: Option<&Value>,
    role: &str,
) -> Result<&'t Account, String> {
    let reference = reference.and_then(Value::as_object);
    let id = reference.and_then(|r| wire::opt_str(r, "AccountID"));
    let code = reference.and_then(|r| wire::opt_str(r, "Code"));
    if id.is_none() && code.is_none() {
        return Err(format!(
            "A {role} must be specified, by its AccountID or Code."
        ));
    }
    let found = id
        .and_then(parse_id)
        .and_then(|id| tenant.account_by_id(id))
        .or_else(|| code.and_then(|c| tenant.account_by_code(c)));
    match found {
        None => Err(format!("The {role} specified could not be found.")),
        Some(a) if a.status != "ACTIVE" => Err(format!(
            "Account code '{}' has been archived, or has been deleted.",
            a.code
        )),
        Some(a) if a.account_type != "BANK" => Err(format!(
            "The {role} must be an account of type BANK; account code '{}' is of type {}.",
            a.code, a.account_type
        )),
        Some(a) => Ok(a),
    }
}

struct Outcome {
    txn: BankTransaction,
    contact: Option<Value>,
}

/// Builds a new transaction, or the updated version of `existing`, from one element.
fn build(
    ctx: &Ctx<'_>,
    existing: Option<&BankTransaction>,
    element: &Map<String, Value>,
) -> Result<Outcome, Vec<String>> {
    let tenant: &Tenant = ctx.tenant;
    let mut errors = Vec::new();
    let creating = existing.is_none();
    let mut txn = existing.cloned().unwrap_or_else(|| BankTransaction {
        id: Uuid::new_v4(),
        txn_type: String::new(),
        contact_id: Uuid::nil(),
        bank_account_id: Uuid::nil(),
        date: ctx.now.date(),
        reference: None,
        status: "AUTHORISED".to_owned(),
        line_amount_types: LineAmountTypes::Exclusive,
        currency_code: tenant.base_currency.clone(),
        currency_rate: Decimal::ONE,
        lines: Vec::new(),
        sub_total: Decimal::ZERO,
        total_tax: Decimal::ZERO,
        total: Decimal::ZERO,
        is_reconciled: false,
        url: None,
        updated: ctx.now,
    });

    let requested_type = wire::opt_str(element, "Type").map(str::to_ascii_uppercase);
    match (requested_type.as_deref(), creating) {
        (None, true) => errors.push("Bank Transaction Type must be specified.".to_owned()),
        (None, false) => {}
        (Some(t @ ("SPEND" | "RECEIVE")), true) => t.clone_into(&mut txn.txn_type),
        (Some(t), false) if t == txn.txn_type => {}
        (Some("SPEND" | "RECEIVE"), false) => {
            errors.push("The Type of a bank transaction cannot be changed.".to_owned());
        }
        (
            Some(
                t @ ("SPEND-PREPAYMENT" | "RECEIVE-PREPAYMENT" | "SPEND-OVERPAYMENT"
                | "RECEIVE-OVERPAYMENT"),
            ),
            _,
        ) => errors.push(format!(
            "Bank transactions of type {t} (prepayments and overpayments) are not supported by the simulator."
        )),
        (Some(t @ ("SPEND-TRANSFER" | "RECEIVE-TRANSFER")), _) => errors.push(format!(
            "Bank transactions of type {t} are made by creating a bank transfer (PUT /BankTransfers)."
        )),
        (Some(t), _) => errors.push(format!("'{t}' is not a valid Bank Transaction type.")),
    }

    let requested_status = wire::opt_str(element, "Status").map(str::to_ascii_uppercase);
    let deleting = !creating && requested_status.as_deref() == Some("DELETED");
    if creating {
        if requested_status
            .as_deref()
            .is_some_and(|s| s != "AUTHORISED")
        {
            errors.push("Bank Transaction not of valid status for creation".to_owned());
        }
    } else if txn.status == "DELETED"
        || requested_status
            .as_deref()
            .is_some_and(|s| s != "AUTHORISED" && s != "DELETED")
    {
        errors.push("Bank Transaction not of valid status for modification".to_owned());
    }
    // Xero's UI asks for a reconciled transaction to be unreconciled before it is changed or
    // removed; the API message is not documented (UNSURE), the rule is kept.
    let money_fields = [
        "LineItems",
        "LineAmountTypes",
        "BankAccount",
        "Date",
        "Type",
    ];
    if !creating
        && txn.is_reconciled
        && (deleting || money_fields.iter().any(|k| element.contains_key(*k)))
    {
        errors.push("This Bank Transaction cannot be edited as it has been reconciled.".to_owned());
    }

    let contact_given = element.get("Contact");
    if (creating || contact_given.is_some())
        && let Some(problem) = contacts::check_document_reference(tenant, contact_given)
    {
        errors.push(problem);
    }

    let mut account_known = !creating;
    if creating || element.contains_key("BankAccount") {
        match bank_account(tenant, element.get("BankAccount"), "BankAccount") {
            Ok(account) => {
                account_known = true;
                txn.bank_account_id = account.id;
                txn.currency_code = account
                    .currency_code
                    .clone()
                    .unwrap_or_else(|| tenant.base_currency.clone());
            }
            Err(message) => {
                account_known = false;
                errors.push(message);
            }
        }
    }
    if let Some(currency) = wire::opt_str(element, "CurrencyCode")
        && account_known
        && !currency.eq_ignore_ascii_case(&txn.currency_code)
    {
        errors.push(format!(
            "Setting currency is only supported on overpayments: a bank transaction is in its bank account's currency ({}), not {}.",
            txn.currency_code,
            currency.to_ascii_uppercase()
        ));
    }
    match element.get("CurrencyRate").and_then(wire::parse_decimal) {
        Some(Ok(rate)) if rate > Decimal::ZERO => txn.currency_rate = round_dp(rate, 6),
        Some(_) => errors.push("CurrencyRate must be a number greater than zero.".to_owned()),
        None => {}
    }
    if txn.currency_code == tenant.base_currency {
        txn.currency_rate = Decimal::ONE;
    }

    if let Some(value) = element.get("Date").filter(|v| !v.is_null()) {
        match wire::parse_date(value) {
            Some(date) => txn.date = date,
            None => errors.push(format!("Date '{value}' is not a valid date.")),
        }
    }
    if element.contains_key("Reference") {
        txn.reference = wire::opt_str(element, "Reference").map(str::to_owned);
    }
    if element.contains_key("Url") {
        txn.url = wire::opt_str(element, "Url").map(str::to_owned);
    }
    if let Some(reconciled) = wire::opt_bool(element, "IsReconciled") {
        txn.is_reconciled = reconciled;
    }
    if let Some(text) = wire::opt_str(element, "LineAmountTypes") {
        match LineAmountTypes::parse(text) {
            Some(types) => txn.line_amount_types = types,
            None => errors.push(format!("'{text}' is not a valid LineAmountTypes value.")),
        }
    }

    // A RECEIVE sells (an item's sales details apply), a SPEND buys.
    match element.get("LineItems") {
        Some(Value::Array(lines)) => {
            let cx = LineContext {
                tenant,
                owner: LineOwner::BankTransaction,
                sales: txn.txn_type == "RECEIVE",
                types: txn.line_amount_types,
                unit_dp: ctx.unit_dp(),
                strict: true,
                readings: ctx.readings,
            };
            txn.lines = parse_lines(&cx, lines, &mut errors);
        }
        Some(Value::Null) | None => {}
        Some(_) => errors.push("LineItems must be a list.".to_owned()),
    }
    if txn.lines.is_empty() && !deleting {
        errors.push("One or more line items must be specified".to_owned());
    }
    let pairs: Vec<(Decimal, Decimal)> = txn
        .lines
        .iter()
        .map(|l| (l.line_amount, l.tax_amount))
        .collect();
    let totals = money::totals(&pairs, txn.line_amount_types);
    txn.sub_total = totals.sub_total;
    txn.total_tax = totals.total_tax;
    txn.total = totals.total;
    if txn.total < Decimal::ZERO {
        errors.push("Bank Transaction total cannot be negative.".to_owned());
    }

    if deleting {
        "DELETED".clone_into(&mut txn.status);
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    txn.updated = ctx.now;
    Ok(Outcome {
        txn,
        contact: contact_given.cloned(),
    })
}

/// `PUT /BankTransactions` (create), `POST /BankTransactions` (update by `BankTransactionID`,
/// else create) and `POST /BankTransactions/{id}` (update, delete).
pub fn write(ctx: &mut Ctx<'_>, update: bool, path_id: Option<&str>) -> SimResponse {
    let elements = match ctx.elements("BankTransactions") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let path_txn = match path_id {
        Some(id) => match parse_id(id).filter(|id| find(ctx.tenant, *id).is_some()) {
            Some(found) => Some(found),
            None => return SimResponse::not_found(),
        },
        None => None,
    };
    let unit_dp = ctx.unit_dp();
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        let named = wire::opt_str(map, "BankTransactionID")
            .and_then(parse_id)
            .filter(|id| find(ctx.tenant, *id).is_some());
        if !update && named.is_some() {
            results.push(ElementResult::error(
                element,
                "A bank transaction with this BankTransactionID already exists; update it with POST.",
            ));
            continue;
        }
        let existing = if update { path_txn.or(named) } else { None }
            .and_then(|id| find(ctx.tenant, id))
            .cloned();
        match build(ctx, existing.as_ref(), map) {
            Ok(Outcome { mut txn, contact }) => {
                if existing.is_none() || contact.is_some() {
                    match contacts::resolve_for_document(ctx.tenant, contact.as_ref(), ctx.now) {
                        Ok(contact_id) => txn.contact_id = contact_id,
                        Err(message) => {
                            results.push(ElementResult::error(element, message));
                            continue;
                        }
                    }
                }
                let json = bank_transaction_json(ctx.tenant, &txn, unit_dp, true);
                let list = &mut ctx.tenant.bank_transactions;
                match list.iter_mut().find(|t| t.id == txn.id) {
                    Some(slot) => *slot = txn,
                    None => list.push(txn),
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
        BANK_TRANSACTIONS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}

fn find(tenant: &Tenant, id: Uuid) -> Option<&BankTransaction> {
    tenant.bank_transactions.iter().find(|t| t.id == id)
}

/// `GET /BankTransactions`: `where`, `order`, `If-Modified-Since`, `page`/`pageSize`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    let paging = Paging::from(ctx);
    let with_lines = paging.page.is_some();
    let unit_dp = ctx.unit_dp();
    let records = ctx
        .tenant
        .bank_transactions
        .iter()
        .map(|t| bank_transaction_json(ctx.tenant, t, unit_dp, with_lines))
        .collect();
    match apply_common_filters(ctx, records).and_then(|list| apply_order(ctx, list)) {
        Ok(list) => SimResponse::json(200, &paging.envelope(ctx.now, "BankTransactions", list)),
        Err(response) => response,
    }
}

/// `GET /BankTransactions/{BankTransactionID}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    match parse_id(id).and_then(|id| find(ctx.tenant, id)) {
        Some(txn) => SimResponse::json(
            200,
            &wire::envelope(
                ctx.now,
                "BankTransactions",
                vec![bank_transaction_json(ctx.tenant, txn, ctx.unit_dp(), true)],
            ),
        ),
        None => SimResponse::not_found(),
    }
}
