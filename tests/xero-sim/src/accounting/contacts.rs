//! Contacts: lookups by email, contact number, name, ids or search term; creates and updates with
//! Xero's rule that a name is unique among active contacts.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Ctx, Paging, apply_common_filters, parse_id};
use crate::response::SimResponse;
use crate::store::{Contact, Tenant};
use crate::validation::{self, Collection, ElementResult};
use crate::wire;

const CONTACTS: Collection = Collection {
    name: "Contacts",
    error_flag: "HasValidationErrors",
};

/// Fields the simulator models; anything else a client sends is kept and echoed.
const MODELLED: &[&str] = &[
    "ContactID",
    "Name",
    "ContactNumber",
    "AccountNumber",
    "EmailAddress",
    "FirstName",
    "LastName",
    "ContactStatus",
    "DefaultCurrency",
    "IsCustomer",
    "IsSupplier",
    "UpdatedDateUTC",
    "HasValidationErrors",
    "ValidationErrors",
    "StatusAttributeString",
];

/// A contact as `GET /Contacts` prints it.
pub fn contact_json(contact: &Contact) -> Value {
    let mut value = json!({
        "ContactID": contact.id,
        "ContactStatus": contact.status,
        "Name": contact.name,
        "IsSupplier": contact.is_supplier,
        "IsCustomer": contact.is_customer,
        "UpdatedDateUTC": wire::ms_date(contact.updated),
        "ContactGroups": [],
        "Addresses": [],
        "Phones": [],
        "ContactPersons": [],
        "HasAttachments": false,
        "HasValidationErrors": false,
    });
    let optional = [
        ("ContactNumber", &contact.contact_number),
        ("AccountNumber", &contact.account_number),
        ("EmailAddress", &contact.email),
        ("FirstName", &contact.first_name),
        ("LastName", &contact.last_name),
        ("DefaultCurrency", &contact.default_currency),
    ];
    for (key, field) in optional {
        if let Some(v) = field {
            value[key] = json!(v);
        }
    }
    for (key, field) in &contact.extra {
        value[key] = field.clone();
    }
    value
}

/// The short contact embedded in documents.
pub fn contact_ref_json(contact: Option<&Contact>, id: Uuid) -> Value {
    match contact {
        Some(c) => {
            let mut value = json!({
                "ContactID": c.id,
                "Name": c.name,
                "ContactStatus": c.status,
                "Addresses": [],
                "Phones": [],
                "ContactGroups": [],
                "ContactPersons": [],
                "HasValidationErrors": false,
            });
            if let Some(number) = &c.contact_number {
                value["ContactNumber"] = json!(number);
            }
            if let Some(email) = &c.email {
                value["EmailAddress"] = json!(email);
            }
            value
        }
        None => json!({ "ContactID": id }),
    }
}

fn is_valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(char::is_whitespace)
}

fn duplicate_name_message(name: &str) -> String {
    format!(
        "The contact name {name} is already assigned to another contact. The contact name must be unique across all active contacts."
    )
}

fn name_taken(tenant: &Tenant, name: &str, except: Option<Uuid>) -> bool {
    tenant.contacts.iter().any(|c| {
        c.status == "ACTIVE"
            && Some(c.id) != except
            && c.name.trim().eq_ignore_ascii_case(name.trim())
    })
}

/// Applies a contact element to a new or existing contact, checking Xero's rules.
fn apply(
    tenant: &Tenant,
    existing: Option<&Contact>,
    element: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<Contact, Vec<String>> {
    let mut errors = Vec::new();
    let mut contact = existing.cloned().unwrap_or_else(|| Contact {
        id: Uuid::new_v4(),
        name: String::new(),
        contact_number: None,
        account_number: None,
        email: None,
        first_name: None,
        last_name: None,
        status: "ACTIVE".to_owned(),
        is_customer: false,
        is_supplier: false,
        default_currency: None,
        extra: Map::new(),
        updated: now,
    });
    if let Some(name) = wire::opt_str(element, "Name") {
        contact.name = name.to_owned();
    }
    if contact.name.is_empty() {
        errors.push("The contact name must be specified.".to_owned());
    } else if contact.name.chars().count() > 255 {
        errors.push("The contact name must not exceed 255 characters.".to_owned());
    }
    let strings = [
        ("ContactNumber", &mut contact.contact_number),
        ("AccountNumber", &mut contact.account_number),
        ("EmailAddress", &mut contact.email),
        ("FirstName", &mut contact.first_name),
        ("LastName", &mut contact.last_name),
        ("DefaultCurrency", &mut contact.default_currency),
    ];
    for (key, field) in strings {
        if element.contains_key(key) {
            *field = wire::opt_str(element, key).map(str::to_owned);
        }
    }
    if let Some(status) = wire::opt_str(element, "ContactStatus") {
        match status.to_ascii_uppercase().as_str() {
            s @ ("ACTIVE" | "ARCHIVED") => contact.status = s.to_owned(),
            _ => errors.push(format!("'{status}' is not a valid ContactStatus.")),
        }
    }
    if contact
        .contact_number
        .as_ref()
        .is_some_and(|n| n.chars().count() > 50)
    {
        errors.push("The ContactNumber must not exceed 50 characters.".to_owned());
    }
    if let Some(email) = &contact.email
        && !is_valid_email(email)
    {
        errors.push("Email address must be valid.".to_owned());
    }
    if let Some(currency) = &contact.default_currency
        && !tenant.currencies.contains(currency)
    {
        errors.push(format!(
            "Organisation is not subscribed to currency {currency}"
        ));
    }
    if contact.status == "ACTIVE"
        && !contact.name.is_empty()
        && name_taken(tenant, &contact.name, Some(contact.id))
    {
        errors.push(duplicate_name_message(&contact.name));
    }
    for (key, value) in element {
        if !MODELLED.contains(&key.as_str()) {
            contact.extra.insert(key.clone(), value.clone());
        }
    }
    contact.updated = now;
    if errors.is_empty() {
        Ok(contact)
    } else {
        Err(errors)
    }
}

fn save(tenant: &mut Tenant, contact: Contact) {
    match tenant.contacts.iter_mut().find(|c| c.id == contact.id) {
        Some(slot) => *slot = contact,
        None => tenant.contacts.push(contact),
    }
}

/// Adds a seeded contact through the same rules as the API.
///
/// # Errors
/// The validation messages, for a seed that breaks Xero's rules.
pub fn seed_contact(
    tenant: &mut Tenant,
    element: &Value,
    now: OffsetDateTime,
) -> Result<(), String> {
    let map = element
        .as_object()
        .ok_or("a seeded contact must be an object")?;
    let contact = apply(tenant, None, map, now).map_err(|e| e.join("; "))?;
    save(tenant, contact);
    Ok(())
}

/// Checks a document's contact reference without creating anything, so a document that fails
/// for other reasons leaves no new contact behind.
pub fn check_document_reference(tenant: &Tenant, contact: Option<&Value>) -> Option<String> {
    const MISSING: &str = "A Contact must be specified for this type of transaction";
    let Some(map) = contact.and_then(Value::as_object) else {
        return Some(MISSING.to_owned());
    };
    if let Some(id) = wire::opt_str(map, "ContactID") {
        return parse_id(id)
            .filter(|id| tenant.contact(*id).is_some())
            .is_none()
            .then(|| format!("Contact with ContactID '{id}' could not be found."));
    }
    let by_number = wire::opt_str(map, "ContactNumber").is_some_and(|number| {
        tenant.contacts.iter().any(|c| {
            c.contact_number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
        })
    });
    (!by_number && wire::opt_str(map, "Name").is_none()).then(|| MISSING.to_owned())
}

/// Xero's refusal of a new invoice or credit note for an archived contact: "The contact with
/// the specified contact details has been archived. The contact must be un-archived before
/// creating new invoices or credit notes." (the message integrators quote, e.g.
/// knowledgebase.agridigital.io "Xero Errors - archived contacts", support.servicem8.com
/// "Resolving contact archive errors"). A contact named by `Name` alone is matched among active
/// contacts only, so it is never the archived one.
pub fn archived_problem(tenant: &Tenant, contact: Option<&Value>) -> Option<String> {
    let map = contact.and_then(Value::as_object)?;
    let found = match wire::opt_str(map, "ContactID") {
        Some(id) => parse_id(id).and_then(|id| tenant.contact(id)),
        None => wire::opt_str(map, "ContactNumber").and_then(|number| {
            tenant.contacts.iter().find(|c| {
                c.contact_number
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(number))
            })
        }),
    }?;
    (found.status == "ARCHIVED").then(|| {
        "The contact with the specified contact details has been archived. The contact must be \
         un-archived before creating new invoices or credit notes."
            .to_owned()
    })
}

/// Finds or creates the contact an invoice or credit note names: by `ContactID`, else
/// `ContactNumber`, else `Name` (an unknown name creates a contact, as Xero does).
///
/// # Errors
/// The validation message to report on the document.
pub fn resolve_for_document(
    tenant: &mut Tenant,
    contact: Option<&Value>,
    now: OffsetDateTime,
) -> Result<Uuid, String> {
    const MISSING: &str = "A Contact must be specified for this type of transaction";
    let Some(map) = contact.and_then(Value::as_object) else {
        return Err(MISSING.to_owned());
    };
    if let Some(id) = wire::opt_str(map, "ContactID") {
        return parse_id(id)
            .filter(|id| tenant.contact(*id).is_some())
            .ok_or_else(|| format!("Contact with ContactID '{id}' could not be found."));
    }
    if let Some(number) = wire::opt_str(map, "ContactNumber")
        && let Some(found) = tenant.contacts.iter().find(|c| {
            c.contact_number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
        })
    {
        return Ok(found.id);
    }
    let Some(name) = wire::opt_str(map, "Name") else {
        return Err(MISSING.to_owned());
    };
    if let Some(found) = tenant
        .contacts
        .iter()
        .find(|c| c.status == "ACTIVE" && c.name.trim().eq_ignore_ascii_case(name))
    {
        return Ok(found.id);
    }
    let contact = apply(tenant, None, map, now).map_err(|e| e.join(" "))?;
    let id = contact.id;
    save(tenant, contact);
    Ok(id)
}

/// `GET /Contacts`.
pub fn list(ctx: &mut Ctx<'_>) -> SimResponse {
    let ids: Option<Vec<Uuid>> = ctx
        .list("IDs")
        .map(|ids| ids.iter().filter_map(|i| parse_id(i)).collect());
    let include_archived = ctx.flag("includeArchived") || ids.is_some();
    let search = ctx.param("searchTerm").map(str::to_lowercase);
    let records: Vec<Value> = ctx
        .tenant
        .contacts
        .iter()
        .filter(|c| include_archived || c.status == "ACTIVE")
        .filter(|c| ids.as_ref().is_none_or(|ids| ids.contains(&c.id)))
        .filter(|c| {
            search.as_ref().is_none_or(|term| {
                [
                    Some(&c.name),
                    c.first_name.as_ref(),
                    c.last_name.as_ref(),
                    c.contact_number.as_ref(),
                    c.email.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|field| field.to_lowercase().contains(term))
            })
        })
        .map(contact_json)
        .collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &Paging::from(ctx).envelope(ctx.now, "Contacts", list)),
        Err(response) => response,
    }
}

/// `GET /Contacts/{ContactID or ContactNumber}`.
pub fn get(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    let found = match parse_id(id) {
        Some(uuid) => ctx.tenant.contact(uuid),
        None => ctx.tenant.contacts.iter().find(|c| {
            c.contact_number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(id))
        }),
    };
    match found {
        Some(contact) => SimResponse::json(
            200,
            &wire::envelope(ctx.now, "Contacts", vec![contact_json(contact)]),
        ),
        None => SimResponse::not_found(),
    }
}

/// `PUT /Contacts` (create), `POST /Contacts` (update or create), `POST /Contacts/{id}`.
pub fn write(ctx: &mut Ctx<'_>, update: bool, path_id: Option<&str>) -> SimResponse {
    let elements = match ctx.elements("Contacts") {
        Ok(elements) => elements,
        Err(response) => return response,
    };
    let path_contact = match path_id {
        Some(id) => match parse_id(id).filter(|id| ctx.tenant.contact(*id).is_some()) {
            Some(id) => Some(id),
            None => return SimResponse::not_found(),
        },
        None => None,
    };
    let mut results = Vec::with_capacity(elements.len());
    for element in &elements {
        let map = element.as_object().expect("elements() returns objects");
        let target = if update {
            path_contact.or_else(|| {
                wire::opt_str(map, "ContactID")
                    .and_then(parse_id)
                    .filter(|id| ctx.tenant.contact(*id).is_some())
                    .or_else(|| {
                        wire::opt_str(map, "ContactNumber").and_then(|number| {
                            ctx.tenant
                                .contacts
                                .iter()
                                .find(|c| c.contact_number.as_deref() == Some(number))
                                .map(|c| c.id)
                        })
                    })
            })
        } else {
            None
        };
        let existing = target.and_then(|id| ctx.tenant.contact(id)).cloned();
        match apply(ctx.tenant, existing.as_ref(), map, ctx.now) {
            Ok(contact) => {
                let json = contact_json(&contact);
                save(ctx.tenant, contact);
                results.push(ElementResult::Ok(json));
            }
            Err(messages) => results.push(ElementResult::Err {
                echo: element.clone(),
                messages,
            }),
        }
    }
    validation::batch_response(
        CONTACTS,
        results,
        validation::summarize_errors(ctx.query),
        ctx.now,
    )
}
