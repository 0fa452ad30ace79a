//! What invoices and credit notes share: parsing and checking line items, Xero's per-line tax
//! arithmetic, numbering, status rules, the JSON shape, and the batch create/update handler.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use time::Date;
use uuid::Uuid;

use super::{Ctx, Paging, apply_common_filters, contacts, inventory, parse_id, tax_overrides};
use crate::money::{self, Discount, LineAmountTypes, round_dp, round2};
use crate::readings::Readings;
use crate::response::SimResponse;
use crate::store::{Account, DocKind, Document, Line, PaymentTarget, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

/// The differences between the two document endpoints.
#[derive(Debug)]
pub struct Spec {
    /// Which store list.
    pub kind: DocKind,
    /// Envelope key and error flag.
    pub collection: Collection,
    /// `InvoiceID` / `CreditNoteID`.
    pub id_key: &'static str,
    /// `InvoiceNumber` / `CreditNoteNumber`.
    pub number_key: &'static str,
    /// Accepted `Type`s; the first is the sales-side one whose numbers are unique.
    pub types: [&'static str; 2],
    /// Generated-number prefix.
    pub number_prefix: &'static str,
    /// "Invoice" / "Credit Note", for messages.
    pub label: &'static str,
}

/// `/Invoices`.
pub const INVOICES: Spec = Spec {
    kind: DocKind::Invoice,
    collection: Collection {
        name: "Invoices",
        error_flag: "HasErrors",
    },
    id_key: "InvoiceID",
    number_key: "InvoiceNumber",
    types: ["ACCREC", "ACCPAY"],
    number_prefix: "INV-",
    label: "Invoice",
};

/// `/CreditNotes`.
pub const CREDIT_NOTES: Spec = Spec {
    kind: DocKind::CreditNote,
    collection: Collection {
        name: "CreditNotes",
        error_flag: "HasErrors",
    },
    id_key: "CreditNoteID",
    number_key: "CreditNoteNumber",
    types: ["ACCRECCREDIT", "ACCPAYCREDIT"],
    number_prefix: "CN-",
    label: "Credit Note",
};

fn is_sales(doc_type: &str) -> bool {
    doc_type == "ACCREC" || doc_type == "ACCRECCREDIT"
}

/// The line-item JSON (also the lines of bank transactions).
pub fn line_json(line: &Line, unit_dp: u32) -> Value {
    let mut value = json!({
        "LineItemID": line.id,
        "Quantity": wire::number(line.quantity, 4),
        "UnitAmount": wire::number(line.unit_amount, unit_dp),
        "TaxAmount": wire::money(line.tax_amount),
        "LineAmount": wire::money(line.line_amount),
        "Tracking": line.tracking,
    });
    let optional = [
        ("Description", &line.description),
        ("ItemCode", &line.item_code),
        ("AccountCode", &line.account_code),
        ("TaxType", &line.tax_type),
    ];
    for (key, field) in optional {
        if let Some(v) = field {
            value[key] = json!(v);
        }
    }
    if let Some(id) = line.account_id {
        value["AccountID"] = json!(id);
    }
    if let Some(rate) = line.discount_rate {
        value["DiscountRate"] = wire::money(rate);
    }
    if let Some(amount) = line.discount_amount {
        value["DiscountAmount"] = wire::money(amount);
    }
    value
}

fn date_fields(value: &mut Value, key: &str, date: Date) {
    value[key] = json!(wire::date_ms(date));
    value[format!("{key}String")] = json!(wire::date_string(date));
}

/// A document as Xero prints it. `with_lines` is false for unpaged list answers.
pub fn document_json(tenant: &Tenant, doc: &Document, unit_dp: u32, with_lines: bool) -> Value {
    let spec = match doc.kind {
        DocKind::Invoice => &INVOICES,
        DocKind::CreditNote => &CREDIT_NOTES,
    };
    let mut value = json!({
        "Type": doc.doc_type,
        "Contact": contacts::contact_ref_json(tenant.contact(doc.contact_id), doc.contact_id),
        "Status": doc.status,
        "LineAmountTypes": doc.line_amount_types.as_str(),
        "SubTotal": wire::money(doc.sub_total),
        "TotalTax": wire::money(doc.total_tax),
        "Total": wire::money(doc.total),
        "UpdatedDateUTC": wire::ms_date(doc.updated),
        "CurrencyCode": doc.currency_code,
        "CurrencyRate": wire::number(doc.currency_rate, 6),
        "HasAttachments": false,
        "HasErrors": false,
    });
    value[spec.id_key] = json!(doc.id);
    date_fields(&mut value, "Date", doc.date);
    if let Some(due) = doc.due_date {
        date_fields(&mut value, "DueDate", due);
    }
    if let Some(paid_on) = doc.fully_paid_on {
        value["FullyPaidOnDate"] = json!(wire::date_ms(paid_on));
    }
    if let Some(number) = &doc.number {
        value[spec.number_key] = json!(number);
    }
    if let Some(reference) = &doc.reference {
        value["Reference"] = json!(reference);
    }
    if let Some(url) = &doc.url {
        value["Url"] = json!(url);
    }
    if with_lines {
        value["LineItems"] = doc.lines.iter().map(|l| line_json(l, unit_dp)).collect();
    }
    let payments: Vec<Value> = tenant
        .payments
        .iter()
        .filter(|p| p.status == "AUTHORISED")
        .filter(|p| match p.target {
            PaymentTarget::Invoice(id) | PaymentTarget::CreditNote(id) => id == doc.id,
        })
        .map(|p| {
            json!({
                "PaymentID": p.id,
                "Date": wire::date_ms(p.date),
                "Amount": wire::money(p.amount),
                "Reference": p.reference,
                "CurrencyRate": wire::number(p.currency_rate, 6),
                "HasAccount": false,
                "HasValidationErrors": false,
            })
        })
        .collect();
    value["Payments"] = Value::Array(payments);
    let live_allocations = tenant.allocations.iter().filter(|a| !a.is_deleted);
    match doc.kind {
        DocKind::Invoice => {
            value["AmountDue"] = wire::money(doc.outstanding());
            value["AmountPaid"] = wire::money(doc.amount_paid);
            value["AmountCredited"] = wire::money(doc.amount_credited);
            value["IsDiscounted"] = json!(!doc.total_discount.is_zero());
            if !doc.total_discount.is_zero() {
                value["TotalDiscount"] = wire::money(doc.total_discount);
            }
            value["SentToContact"] = json!(doc.sent_to_contact);
            value["Prepayments"] = json!([]);
            value["Overpayments"] = json!([]);
            let credits: Vec<Value> = live_allocations
                .filter(|a| a.invoice_id == doc.id)
                .filter_map(|a| {
                    let note = tenant.document(DocKind::CreditNote, a.credit_note_id)?;
                    Some(json!({
                        "CreditNoteID": note.id,
                        "CreditNoteNumber": note.number,
                        "ID": note.id,
                        "AppliedAmount": wire::money(a.amount),
                        "Date": wire::date_ms(a.date),
                        "DateString": wire::date_string(a.date),
                        "Total": wire::money(note.total),
                        "HasErrors": false,
                    }))
                })
                .collect();
            value["CreditNotes"] = Value::Array(credits);
        }
        DocKind::CreditNote => {
            value["RemainingCredit"] = wire::money(doc.outstanding());
            value["AppliedAmount"] = wire::money(doc.amount_paid + doc.amount_credited);
            value["ID"] = json!(doc.id);
            let allocations: Vec<Value> = live_allocations
                .filter(|a| a.credit_note_id == doc.id)
                .map(|a| {
                    let invoice = tenant.document(DocKind::Invoice, a.invoice_id);
                    json!({
                        "AllocationID": a.id,
                        "Amount": wire::money(a.amount),
                        "Date": wire::date_ms(a.date),
                        "Invoice": {
                            "InvoiceID": a.invoice_id,
                            "InvoiceNumber": invoice.and_then(|i| i.number.clone()),
                        },
                        "IsDeleted": false,
                    })
                })
                .collect();
            value["Allocations"] = Value::Array(allocations);
        }
    }
    value
}

/// Why an account cannot take a line, in Xero's words.
fn account_problem(account: Option<&Account>, code: &str) -> Option<String> {
    match account {
        None => Some(format!(
            "Account code '{code}' is not a valid code for this document."
        )),
        Some(a) if a.status != "ACTIVE" => Some(format!(
            "Account code '{code}' has been archived, or has been deleted. Each line item must reference a valid account."
        )),
        // Bank accounts and the control accounts Xero posts to itself cannot be coded to;
        // the rounding account can (that is what rounding lines are for).
        Some(a)
            if a.account_type == "BANK"
                || a.system_account.as_deref().is_some_and(|s| s != "ROUNDING") =>
        {
            Some(format!(
                "Account code '{code}' is not a valid code for this document."
            ))
        }
        Some(_) => None,
    }
}

fn decimal_field(map: &Map<String, Value>, key: &str, errors: &mut Vec<String>) -> Option<Decimal> {
    match map.get(key).and_then(wire::parse_decimal) {
        Some(Ok(value)) => Some(value),
        Some(Err(())) => {
            errors.push(format!("{key} must be a number."));
            None
        }
        None => None,
    }
}

/// What the lines being parsed belong to: discounts, tax overrides and tracked items follow
/// different rules on each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOwner {
    /// An invoice or credit note.
    Document(DocKind),
    /// A spend or receive money transaction (`accounting::bank_transactions`).
    BankTransaction,
}

/// How to read one document's lines.
pub struct LineContext<'a> {
    /// The organisation (accounts, tax rates, items).
    pub tenant: &'a Tenant,
    /// Whose lines they are.
    pub owner: LineOwner,
    /// Whether the lines sell (ACCREC, ACCRECCREDIT, RECEIVE money): an item's sales details
    /// apply, else its purchase details.
    pub sales: bool,
    /// `LineAmountTypes`.
    pub types: LineAmountTypes,
    /// Decimal places of `UnitAmount` (`unitdp`).
    pub unit_dp: u32,
    /// Whether a line needs an account code (every status but DRAFT).
    pub strict: bool,
    /// The readings in force.
    pub readings: Readings,
}

/// Parses a `LineItems` list, pushing every problem to `errors`.
pub fn parse_lines(cx: &LineContext<'_>, lines: &[Value], errors: &mut Vec<String>) -> Vec<Line> {
    let mut parsed = Vec::with_capacity(lines.len());
    for line in lines {
        match line.as_object() {
            Some(map) => parsed.push(parse_line(cx, map, errors)),
            None => errors.push("Each line item must be an object.".to_owned()),
        }
    }
    parsed
}

fn parse_line(cx: &LineContext<'_>, map: &Map<String, Value>, errors: &mut Vec<String>) -> Line {
    let tenant = cx.tenant;
    let item = wire::opt_str(map, "ItemCode").and_then(|code| {
        let found = tenant.item_by_code(code);
        if found.is_none() {
            errors.push(format!("Item code '{code}' is not valid."));
        }
        found
    });
    // Spend and receive money move a tracked item's stock in Xero ("Tracked inventory",
    // xero.md §3.7), which the simulator does not model for bank transactions: refused rather
    // than booked with the stock left where it was.
    if cx.owner == LineOwner::BankTransaction
        && let Some(tracked) = item.filter(|i| i.tracked.is_some())
    {
        errors.push(format!(
            "Item code '{}' is tracked as inventory; spend and receive money with tracked items is not supported by the simulator.",
            tracked.code
        ));
    }
    let item_details = item.and_then(|i| {
        if cx.sales {
            i.sales.as_ref()
        } else {
            i.purchase.as_ref()
        }
    });
    let description = wire::opt_str(map, "Description")
        .map(str::to_owned)
        .or_else(|| item.and_then(|i| i.description.clone()));

    let quantity = decimal_field(map, "Quantity", errors);
    let unit_amount = decimal_field(map, "UnitAmount", errors)
        .or_else(|| item_details.and_then(|d| d.unit_price));
    let given_line_amount = decimal_field(map, "LineAmount", errors);
    let given_tax = decimal_field(map, "TaxAmount", errors);
    let discount_rate = decimal_field(map, "DiscountRate", errors);
    let discount_amount = decimal_field(map, "DiscountAmount", errors);
    // "The quantity value '-1.0000' is invalid. Quantity must not be less than zero." (the
    // message integrators quote, support.workguru.io "Xero API error messages"); negative
    // unit amounts are allowed (the tracked-inventory guide's adjustment lines have them).
    if let Some(q) = quantity
        && q < Decimal::ZERO
    {
        let mut shown = round_dp(q, 4);
        shown.rescale(4);
        errors.push(format!(
            "The quantity value '{shown}' is invalid. Quantity must not be less than zero."
        ));
    }
    // DiscountRate is a percentage of the line (spec `LineItem.DiscountRate`).
    if let Some(rate) = discount_rate
        && (rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED)
    {
        errors.push(format!("The discount rate '{}' is invalid.", round2(rate)));
    }
    // "Any LineItem can have a maximum of 2 <TrackingCategory> elements" (spec
    // `LineItem.Tracking`).
    if map
        .get("Tracking")
        .and_then(Value::as_array)
        .is_some_and(|t| t.len() > 2)
    {
        errors.push("A line item can have at most 2 tracking categories.".to_owned());
    }

    let discounted = discount_rate.is_some() || discount_amount.is_some();
    if cx.owner == LineOwner::Document(DocKind::CreditNote) && discounted {
        errors.push("Discounts are not supported on credit notes.".to_owned());
    } else if (!cx.sales || cx.owner == LineOwner::BankTransaction) && discounted {
        errors.push("Discounts are only supported on ACCREC invoices.".to_owned());
    } else if discount_rate.is_some() && discount_amount.is_some() {
        errors.push("Only one of DiscountRate or DiscountAmount can be specified.".to_owned());
    }
    let discount = match (discount_rate, discount_amount) {
        (Some(rate), _) => Discount::Rate(rate),
        (None, Some(amount)) => Discount::Amount(round2(amount)),
        (None, None) => Discount::None,
    };

    // Xero fills in whichever of Quantity/UnitAmount is missing from LineAmount.
    let (quantity, unit_amount) = match (quantity, unit_amount, given_line_amount) {
        (Some(q), Some(u), _) => (q, u),
        (Some(q), None, Some(total)) if !q.is_zero() => (q, total / q),
        (None, Some(u), _) => (Decimal::ONE, u),
        (None, None, Some(total)) => (Decimal::ONE, total),
        (q, _, _) => (q.unwrap_or(Decimal::ONE), Decimal::ZERO),
    };
    let quantity = round_dp(quantity, 4);
    let unit_amount = round_dp(unit_amount, cx.unit_dp);
    let line_amount = money::line_amount(quantity, unit_amount, discount);
    if let Some(given) = given_line_amount
        && round2(given) != line_amount
        && map.get("Quantity").is_some()
        && map.get("UnitAmount").is_some()
    {
        errors.push(format!(
            "The line total {} does not match the expected line total {line_amount}.",
            round2(given)
        ));
    }
    if description.is_none() && item.is_none() {
        errors.push("The description field is mandatory for each line item.".to_owned());
    }

    let account_code = wire::opt_str(map, "AccountCode")
        .map(str::to_owned)
        .or_else(|| {
            wire::opt_str(map, "AccountID")
                .and_then(parse_id)
                .and_then(|id| tenant.account_by_id(id))
                .map(|a| a.code.clone())
        })
        .or_else(|| item_details.and_then(|d| d.account_code.clone()))
        // A tracked item's purchase goes to its inventory asset account (the spec: the
        // purchase `AccountCode` is "Not applicable to the purchase details of tracked items").
        .or_else(|| {
            item.filter(|_| !cx.sales)
                .and_then(|i| i.tracked.as_ref())
                .map(|t| t.inventory_asset_account_code.clone())
        });
    let account = account_code
        .as_deref()
        .and_then(|c| tenant.account_by_code(c));
    match &account_code {
        Some(code) => {
            if let Some(problem) = account_problem(account, code) {
                errors.push(problem);
            }
        }
        None if cx.strict && !line_amount.is_zero() => {
            errors.push("Account code must be specified for each line item.".to_owned());
        }
        None => {}
    }

    let tax_type = if cx.types == LineAmountTypes::NoTax {
        wire::opt_str(map, "TaxType")
            .map(str::to_owned)
            .or_else(|| Some("NONE".to_owned()))
    } else {
        wire::opt_str(map, "TaxType")
            .map(str::to_owned)
            .or_else(|| item_details.and_then(|d| d.tax_type.clone()))
            .or_else(|| account.and_then(|a| a.tax_type.clone()))
            .or_else(|| Some("NONE".to_owned()))
    };
    let mut rate_percent = Decimal::ZERO;
    if let Some(tax) = &tax_type {
        match tenant.tax_rate(tax) {
            Some(rate) if rate.status == "ACTIVE" => {
                rate_percent = rate.effective_rate;
                if let Some(account) = account
                    && !rate.applies_to.get(&account.class).copied().unwrap_or(true) {
                        errors.push(format!(
                            "The TaxType code '{tax}' cannot be used with account code '{}'.",
                            account.code
                        ));
                    }
            }
            _ => errors.push(format!(
                "The TaxType code '{tax}' does not exist or cannot be used with this type of transaction."
            )),
        }
    }
    let computed_tax = money::line_tax(
        line_amount,
        rate_percent,
        cx.types,
        cx.readings.tax_rounding,
    );
    let tax_amount = match (cx.types, given_tax) {
        (LineAmountTypes::NoTax, _) => round2(Decimal::ZERO),
        // "This value can be overriden if the calculated <TaxAmount> is not correct."
        (_, Some(explicit)) => round2(explicit),
        (_, None) => computed_tax,
    };
    if tax_amount != computed_tax
        && tax_overrides::refused(cx.owner, cx.readings)
        && let Some(tax) = &tax_type
    {
        errors.push(tax_overrides::refusal(tax_amount, tax, computed_tax));
    }

    Line {
        id: wire::opt_str(map, "LineItemID")
            .and_then(parse_id)
            .unwrap_or_else(Uuid::new_v4),
        description,
        quantity,
        unit_amount,
        item_code: item.map(|i| i.code.clone()),
        account_code: account.map(|a| a.code.clone()).or(account_code),
        account_id: account.map(|a| a.id),
        tax_type,
        tax_amount,
        computed_tax,
        line_amount,
        discount_rate: discount_rate.map(round2),
        discount_amount: discount_amount.map(round2),
        tracking: map.get("Tracking").cloned().unwrap_or_else(|| json!([])),
    }
}

fn next_number(tenant: &mut Tenant, spec: &Spec) -> String {
    loop {
        let counter = match spec.kind {
            DocKind::Invoice => &mut tenant.next_invoice_number,
            DocKind::CreditNote => &mut tenant.next_credit_note_number,
        };
        let candidate = format!("{}{:04}", spec.number_prefix, *counter);
        *counter += 1;
        if tenant.document_by_number(spec.kind, &candidate).is_none() {
            return candidate;
        }
    }
}

/// Whether another document of the type holds `number`. A voided document keeps its number
/// (voiding "retains its number"; integrators tell users to rename a voided or deleted invoice
/// before syncing it again, support.servicem8.com "Resolving Xero invoice number conflicts"); a
/// deleted one keeps it too unless the reading says otherwise (`Readings::deleted_numbers_free`,
/// UNSURE).
fn number_taken(
    tenant: &Tenant,
    spec: &Spec,
    doc_type: &str,
    number: &str,
    except: Uuid,
    deleted_numbers_free: bool,
) -> bool {
    tenant.documents(spec.kind).iter().any(|d| {
        d.id != except
            && d.doc_type == doc_type
            && !(deleted_numbers_free && d.status == "DELETED")
            && d.number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
    })
}

/// Checks a status change on an existing document, in Xero's words.
fn status_change_problem(spec: &Spec, doc: &Document, requested: &str) -> Option<String> {
    let noun = spec.label.to_lowercase();
    let invalid = format!("{} not of valid status for modification", spec.label);
    if requested == doc.status {
        return None;
    }
    match (doc.status.as_str(), requested) {
        ("DRAFT" | "SUBMITTED", "DRAFT" | "SUBMITTED" | "AUTHORISED" | "DELETED") => None,
        ("AUTHORISED", "VOIDED" | "DRAFT" | "SUBMITTED") if doc.has_money_applied() => {
            Some(format!(
                "The status {requested} cannot be applied to the {noun} because it has payments or credit notes allocated to it."
            ))
        }
        ("AUTHORISED", "VOIDED") => None,
        _ => Some(invalid),
    }
}

struct Outcome {
    doc: Document,
    contact: Option<Value>,
}

/// Builds a new document, or the updated version of `existing`, from one request element.
fn build(
    ctx: &Ctx<'_>,
    spec: &Spec,
    existing: Option<&Document>,
    element: &Map<String, Value>,
) -> Result<Outcome, Vec<String>> {
    let tenant: &Tenant = ctx.tenant;
    let mut errors = Vec::new();
    let creating = existing.is_none();
    let mut doc = existing.cloned().unwrap_or_else(|| Document {
        id: Uuid::new_v4(),
        kind: spec.kind,
        doc_type: String::new(),
        number: None,
        reference: None,
        contact_id: Uuid::nil(),
        date: ctx.now.date(),
        due_date: None,
        status: "DRAFT".to_owned(),
        line_amount_types: LineAmountTypes::Exclusive,
        currency_code: tenant.base_currency.clone(),
        currency_rate: Decimal::ONE,
        lines: Vec::new(),
        sub_total: Decimal::ZERO,
        total_tax: Decimal::ZERO,
        total: Decimal::ZERO,
        total_discount: Decimal::ZERO,
        amount_paid: Decimal::ZERO,
        amount_credited: Decimal::ZERO,
        url: None,
        sent_to_contact: false,
        created_by: ctx.client_id.to_owned(),
        updated: ctx.now,
        fully_paid_on: None,
        tax_flagged: false,
    });

    if creating {
        match wire::opt_str(element, "Type").map(str::to_ascii_uppercase) {
            Some(t) if spec.types.contains(&t.as_str()) => doc.doc_type = t,
            Some(t) => errors.push(format!("'{t}' is not a valid {} type.", spec.label)),
            None => errors.push(format!("{} Type must be specified.", spec.label)),
        }
    }

    let requested_status = wire::opt_str(element, "Status").map(str::to_ascii_uppercase);
    if creating {
        match requested_status.as_deref() {
            None => {}
            Some(s @ ("DRAFT" | "SUBMITTED" | "AUTHORISED")) => doc.status = s.to_owned(),
            Some(_) => errors.push(format!("{} not of valid status for creation", spec.label)),
        }
    } else if let Some(requested) = &requested_status
        && let Some(problem) = status_change_problem(spec, &doc, requested)
    {
        errors.push(problem);
    }
    let frozen = matches!(doc.status.as_str(), "VOIDED" | "DELETED");
    if !creating && frozen && requested_status.as_deref() != Some(doc.status.as_str()) {
        errors.push(format!(
            "{} not of valid status for modification",
            spec.label
        ));
    }

    let contact_given = element.get("Contact");
    if (creating || contact_given.is_some())
        && let Some(problem) = contacts::check_document_reference(tenant, contact_given)
    {
        errors.push(problem);
    } else if creating && let Some(problem) = contacts::archived_problem(tenant, contact_given) {
        errors.push(problem);
    }

    for (key, slot) in [("Date", &mut doc.date)] {
        if let Some(value) = element.get(key).filter(|v| !v.is_null()) {
            match wire::parse_date(value) {
                Some(date) => *slot = date,
                None => errors.push(format!("{key} '{value}' is not a valid date.")),
            }
        }
    }
    if let Some(value) = element.get("DueDate").filter(|v| !v.is_null()) {
        match wire::parse_date(value) {
            Some(date) => doc.due_date = Some(date),
            None => errors.push(format!("DueDate '{value}' is not a valid date.")),
        }
    }

    if let Some(currency) = wire::opt_str(element, "CurrencyCode") {
        let currency = currency.to_ascii_uppercase();
        if !tenant.currencies.contains(&currency) {
            errors.push(format!(
                "Organisation is not subscribed to currency {currency}"
            ));
        } else if currency != doc.currency_code && doc.has_money_applied() {
            errors.push("This document cannot be edited as it has a payment or credit note allocated to it.".to_string());
        } else {
            doc.currency_code = currency;
        }
    }
    if let Some(rate) = decimal_field(element, "CurrencyRate", &mut errors) {
        if rate <= Decimal::ZERO {
            errors.push("CurrencyRate must be greater than zero.".to_owned());
        } else {
            doc.currency_rate = round_dp(rate, 6);
        }
    } else if creating && doc.currency_code != tenant.base_currency {
        // Xero would use the XE.com rate for the date; the simulator has no rates and keeps 1.
        doc.currency_rate = Decimal::ONE;
    }

    if let Some(text) = wire::opt_str(element, "LineAmountTypes") {
        match LineAmountTypes::parse(text) {
            Some(types) => doc.line_amount_types = types,
            None => errors.push(format!("'{text}' is not a valid LineAmountTypes value.")),
        }
    }

    if element.contains_key(spec.number_key) {
        doc.number = wire::opt_str(element, spec.number_key).map(str::to_owned);
    }
    if doc.number.as_ref().is_some_and(|n| n.chars().count() > 255) {
        errors.push(format!("{} # must not exceed 255 characters.", spec.label));
    }
    if let Some(number) = &doc.number
        && doc.doc_type == spec.types[0]
        && number_taken(
            tenant,
            spec,
            &doc.doc_type,
            number,
            doc.id,
            ctx.readings.deleted_numbers_free,
        )
    {
        errors.push(format!("{} # must be unique.", spec.label));
    }
    if element.contains_key("Reference") {
        doc.reference = wire::opt_str(element, "Reference").map(str::to_owned);
    }
    if element.contains_key("Url") {
        doc.url = wire::opt_str(element, "Url").map(str::to_owned);
    }
    if let Some(sent) = wire::opt_bool(element, "SentToContact") {
        doc.sent_to_contact = sent;
    }

    let target_status = requested_status
        .clone()
        .unwrap_or_else(|| doc.status.clone());
    let lines_given = element.get("LineItems");
    let lines_or_types_changed = lines_given.is_some() || element.contains_key("LineAmountTypes");
    if lines_or_types_changed && !creating && doc.has_money_applied() {
        errors.push(
            "This document cannot be edited as it has a payment or credit note allocated to it."
                .to_owned(),
        );
    }
    match lines_given {
        Some(Value::Array(lines)) => {
            let cx = LineContext {
                tenant,
                owner: LineOwner::Document(spec.kind),
                sales: is_sales(&doc.doc_type),
                types: doc.line_amount_types,
                unit_dp: ctx.unit_dp(),
                strict: target_status != "DRAFT",
                readings: ctx.readings,
            };
            doc.lines = parse_lines(&cx, lines, &mut errors);
        }
        Some(Value::Null) | None => {}
        Some(_) => errors.push("LineItems must be a list.".to_owned()),
    }
    if doc.lines.is_empty() && target_status != "DRAFT" && target_status != "DELETED" {
        errors.push("One or more line items must be specified".to_owned());
    }

    let pairs: Vec<(Decimal, Decimal)> = doc
        .lines
        .iter()
        .map(|l| (l.line_amount, l.tax_amount))
        .collect();
    let totals = money::totals(&pairs, doc.line_amount_types);
    doc.sub_total = totals.sub_total;
    doc.total_tax = totals.total_tax;
    doc.total = totals.total;
    doc.tax_flagged = tax_overrides::flagged(&doc, ctx.readings);
    doc.total_discount = doc
        .lines
        .iter()
        .map(|l| {
            let discount = match (l.discount_rate, l.discount_amount) {
                (Some(rate), _) => Discount::Rate(rate),
                (None, Some(amount)) => Discount::Amount(amount),
                (None, None) => Discount::None,
            };
            money::discount_value(l.quantity, l.unit_amount, discount)
        })
        .sum();
    if doc.total < Decimal::ZERO {
        errors.push(format!("{} total cannot be negative.", spec.label));
    }

    if let Some(requested) = requested_status {
        doc.status = requested;
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    doc.updated = ctx.now;
    Ok(Outcome {
        doc,
        contact: contact_given.cloned(),
    })
}

/// Marks a document PAID when nothing is outstanding (also true of zero-total approvals), or
/// back to AUTHORISED when a payment is removed.
pub fn settle(doc: &mut Document, today: Date) {
    if doc.status == "AUTHORISED" && doc.outstanding() <= Decimal::ZERO {
        doc.status = "PAID".to_owned();
        doc.fully_paid_on = Some(today);
    } else if doc.status == "PAID" && doc.outstanding() > Decimal::ZERO {
        doc.status = "AUTHORISED".to_owned();
        doc.fully_paid_on = None;
    }
}

fn find_for_update(tenant: &Tenant, spec: &Spec, element: &Map<String, Value>) -> Option<Uuid> {
    if let Some(id) = wire::opt_str(element, spec.id_key).and_then(parse_id) {
        return tenant.document(spec.kind, id).map(|d| d.id);
    }
    let number = wire::opt_str(element, spec.number_key)?;
    tenant.document_by_number(spec.kind, number).map(|d| d.id)
}

/// `PUT` (create) and `POST` (update or create; `path_id` for `POST /Xxx/{id}`).
pub fn write(ctx: &mut Ctx<'_>, spec: &Spec, update: bool, path_id: Option<&str>) -> SimResponse {
    let elements = match ctx.elements(spec.collection.name) {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let path_doc = match path_id {
        Some(id) => {
            let found = match parse_id(id) {
                Some(uuid) => ctx.tenant.document(spec.kind, uuid).map(|d| d.id),
                None => ctx.tenant.document_by_number(spec.kind, id).map(|d| d.id),
            };
            match found {
                Some(found) => Some(found),
                None => return SimResponse::not_found(),
            }
        }
        None => None,
    };
    let unit_dp = ctx.unit_dp();
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        let target = if update {
            path_doc.or_else(|| find_for_update(ctx.tenant, spec, map))
        } else {
            None
        };
        if !update && wire::opt_str(map, spec.id_key).is_some() {
            // A PUT naming an existing id is a create of something that exists.
            if let Some(id) = wire::opt_str(map, spec.id_key).and_then(parse_id)
                && ctx.tenant.document(spec.kind, id).is_some()
            {
                results.push(ElementResult::error(
                    element,
                    format!("{} # must be unique.", spec.label),
                ));
                continue;
            }
        }
        let existing = target
            .and_then(|id| ctx.tenant.document(spec.kind, id))
            .cloned();
        match build(ctx, spec, existing.as_ref(), map) {
            Ok(Outcome { mut doc, contact }) => {
                // Approving a sales invoice counts against the plan's monthly limit
                // (crate::plan): a new AUTHORISED one, or a draft approved now.
                let approving = spec.kind == DocKind::Invoice
                    && doc.doc_type == "ACCREC"
                    && doc.status == "AUTHORISED"
                    && existing.as_ref().is_none_or(|e| {
                        !matches!(e.status.as_str(), "AUTHORISED" | "PAID" | "VOIDED")
                    });
                if approving && let Err(message) = crate::plan::check_approval(ctx.tenant, doc.date)
                {
                    results.push(ElementResult::error(element, message));
                    continue;
                }
                // Approving, editing or voiding moves tracked stock; a move below zero is
                // refused (see `inventory`). `allowBackorders` is a parameter of /Invoices.
                let backorders = spec.kind == DocKind::Invoice && ctx.flag("allowBackorders");
                let stock = match inventory::moves(
                    ctx.tenant,
                    existing.as_ref(),
                    &doc,
                    backorders,
                    ctx.readings,
                ) {
                    Ok(stock) => stock,
                    Err(messages) => {
                        results.push(ElementResult::Err {
                            echo: element.clone(),
                            messages,
                        });
                        continue;
                    }
                };
                if existing.is_none() || contact.is_some() {
                    match contacts::resolve_for_document(ctx.tenant, contact.as_ref(), ctx.now) {
                        Ok(contact_id) => doc.contact_id = contact_id,
                        Err(message) => {
                            results.push(ElementResult::error(element, message));
                            continue;
                        }
                    }
                }
                if doc.number.is_none() && doc.doc_type == spec.types[0] {
                    doc.number = Some(next_number(ctx.tenant, spec));
                }
                inventory::apply(ctx.tenant, &stock, ctx.now);
                settle(&mut doc, ctx.now.date());
                mark_contact_role(ctx.tenant, &doc);
                let json = document_json(ctx.tenant, &doc, unit_dp, true);
                let list = ctx.tenant.documents_mut(spec.kind);
                match list.iter_mut().find(|d| d.id == doc.id) {
                    Some(slot) => *slot = doc,
                    None => list.push(doc),
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
        spec.collection,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}

fn mark_contact_role(tenant: &mut Tenant, doc: &Document) {
    let sales = is_sales(&doc.doc_type);
    if let Some(contact) = tenant.contact_mut(doc.contact_id) {
        if sales {
            contact.is_customer = true;
        } else {
            contact.is_supplier = true;
        }
    }
}

/// `GET /Invoices` or `GET /CreditNotes`: `IDs`, numbers (`numbers_param`), `ContactIDs`,
/// `Statuses`, `where`, `searchTerm`, `createdByMyApp`, `If-Modified-Since`, paging. Without
/// `page`, documents come without their line items, as Xero's docs describe.
pub fn list(ctx: &mut Ctx<'_>, spec: &Spec, numbers_param: &str) -> SimResponse {
    let ids: Option<Vec<Uuid>> = ctx
        .list("IDs")
        .map(|ids| ids.iter().filter_map(|i| parse_id(i)).collect());
    let numbers = ctx.list(numbers_param);
    let contact_ids: Option<Vec<Uuid>> = ctx
        .list("ContactIDs")
        .map(|ids| ids.iter().filter_map(|i| parse_id(i)).collect());
    let statuses = ctx.list("Statuses");
    let search = ctx.param("searchTerm").map(str::to_lowercase);
    let mine = ctx.flag("createdByMyApp");
    let paging = Paging::from(ctx);
    let with_lines = paging.page.is_some() && !ctx.flag("summaryOnly");
    let unit_dp = ctx.unit_dp();
    let tenant: &Tenant = ctx.tenant;
    let records: Vec<Value> = tenant
        .documents(spec.kind)
        .iter()
        .filter(|d| ids.as_ref().is_none_or(|ids| ids.contains(&d.id)))
        .filter(|d| {
            numbers.as_ref().is_none_or(|numbers| {
                d.number
                    .as_ref()
                    .is_some_and(|n| numbers.iter().any(|x| x.eq_ignore_ascii_case(n)))
            })
        })
        .filter(|d| {
            contact_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&d.contact_id))
        })
        .filter(|d| {
            statuses
                .as_ref()
                .is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(&d.status)))
        })
        .filter(|d| {
            search.as_ref().is_none_or(|term| {
                [d.number.as_ref(), d.reference.as_ref()]
                    .into_iter()
                    .flatten()
                    .any(|f| f.to_lowercase().contains(term))
            })
        })
        .filter(|d| !mine || d.created_by == ctx.client_id)
        .map(|d| {
            let mut json = document_json(tenant, d, unit_dp, with_lines);
            if !ctx.lists_carry_payments {
                json.as_object_mut().map(|o| o.remove("Payments"));
            }
            as_read(&mut json, ctx.readings);
            json
        })
        .collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &paging.envelope(ctx.now, spec.collection.name, list)),
        Err(response) => response,
    }
}

/// `GET /Invoices/{id or number}`, `GET /CreditNotes/{id or number}`.
pub fn get(ctx: &mut Ctx<'_>, spec: &Spec, id: &str) -> SimResponse {
    let found = match parse_id(id) {
        Some(uuid) => ctx.tenant.document(spec.kind, uuid),
        None => ctx.tenant.document_by_number(spec.kind, id),
    };
    match found {
        Some(doc) => {
            let mut json = document_json(ctx.tenant, doc, ctx.unit_dp(), true);
            as_read(&mut json, ctx.readings);
            SimResponse::json(
                200,
                &wire::envelope(ctx.now, spec.collection.name, vec![json]),
            )
        }
        None => SimResponse::not_found(),
    }
}

/// A read document as the readings in force print it: its payments without their
/// `Reference` when [`Readings::document_payments_carry_reference`] is off.
fn as_read(document: &mut Value, readings: Readings) {
    if readings.document_payments_carry_reference {
        return;
    }
    if let Some(payments) = document.get_mut("Payments").and_then(Value::as_array_mut) {
        for payment in payments {
            payment.as_object_mut().map(|p| p.remove("Reference"));
        }
    }
}
