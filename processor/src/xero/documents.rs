//! What both writers (real-time booking, `crate::booking`, and summary mode, `crate::summary`)
//! do with Xero documents, written once: create them in one call (`summarizeErrors=false`, an
//! `Idempotency-Key` per attempt), adopt one Xero already has under the number only when it is
//! the same document, read what is due or left to credit and which payments a document has,
//! and make payments and allocations.

use std::collections::HashMap;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::client::{XeroClient, XeroError, element_errors};
use super::types;
use crate::error::ProcessError;

/// The two kinds of document this product writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    Invoice,
    CreditNote,
}

impl DocumentKind {
    /// The collection's name, in paths and bodies: `Invoices`, `CreditNotes`.
    pub fn list(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "Invoices",
            DocumentKind::CreditNote => "CreditNotes",
        }
    }

    fn id_field(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "InvoiceID",
            DocumentKind::CreditNote => "CreditNoteID",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            DocumentKind::Invoice => "invoice",
            DocumentKind::CreditNote => "credit note",
        }
    }

    /// The document's id in Xero's answer for it.
    pub fn id_of(self, document: &Value) -> String {
        text(document, self.id_field())
    }
}

/// A document to create: its JSON, and what a document already under its number must match
/// to be adopted as this one.
pub struct Draft<'a> {
    pub number: &'a str,
    pub body: Value,
    pub reference: &'a str,
    pub contact_id: &'a str,
    pub total: Decimal,
}

/// A document Xero has now for a [`Draft`].
#[derive(Debug, Clone)]
pub struct Written {
    /// Xero's JSON for it.
    pub document: Value,
    /// Created by this call, rather than found (made by an earlier attempt, whose payments
    /// may exist too).
    pub created: bool,
}

/// A document as Xero has it now.
pub struct DocumentState {
    /// The references of its payments: a payment made before a crash is adopted by its
    /// reference, not made again.
    pub references: Vec<String>,
    /// What is still due (invoice) or left to credit (credit note).
    pub outstanding: Decimal,
    /// What was paid into it.
    pub paid: Decimal,
}

impl DocumentState {
    /// From an element of Xero's `Invoices` or `CreditNotes` list, with the payments' own
    /// records (`GET /Payments`) when the document's summary of them says too little (see
    /// [`payments_listed`]).
    fn of(document: &Value, kind: DocumentKind, payments: Option<&[Value]>) -> DocumentState {
        let listed = document["Payments"].as_array().map(Vec::as_slice);
        let references = payments
            .or(listed)
            .unwrap_or_default()
            .iter()
            .map(|p| text(p, "Reference"))
            .collect();
        let outstanding = match kind {
            DocumentKind::Invoice => decimal(document, "AmountDue"),
            DocumentKind::CreditNote => decimal(document, "RemainingCredit"),
        };
        DocumentState {
            references,
            outstanding,
            paid: decimal(document, "AmountPaid"),
        }
    }
}

/// Whether a document's own `Payments` say what recovery needs, each payment's `Reference`.
/// Xero may leave the list out of list answers, and fields out of its entries (notes §3.3;
/// the simulator's `Readings`): then the payments' own records are read.
fn payments_listed(document: &Value) -> bool {
    match document["Payments"].as_array() {
        Some(payments) => payments.iter().all(|p| !text(p, "Reference").is_empty()),
        // Nothing was paid into an invoice that says so; a credit note does not say.
        None => document
            .get("AmountPaid")
            .is_some_and(|paid| amount(paid).is_zero()),
    }
}

/// A string field of Xero's JSON, empty when absent.
pub fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A money field of Xero's JSON (a number, or a string), zero when absent.
pub fn decimal(value: &Value, field: &str) -> Decimal {
    value.get(field).map(amount).unwrap_or_default()
}

/// A money value of Xero's JSON (a number, or a string), zero when unreadable.
pub fn amount(value: &Value) -> Decimal {
    match value {
        Value::Number(n) => n.to_string().parse().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

/// A money amount as a JSON number with its exact digits.
pub fn number_value(amount: Decimal) -> Value {
    Value::Number(amount.to_string().parse().expect("decimals are numbers"))
}

/// The most elements one write carries: "we recommend you look to batch elements in bundles of
/// up to 50" (Xero's API limits page, notes §3.4).
pub const MAX_ELEMENTS_PER_REQUEST: usize = 50;

/// The largest body one write may have: "A single POST to the Accounting or Payroll APIs has a
/// size limit of 3.5MB" (Xero's API limits page, notes §3.4), read as 3,500,000 bytes, the
/// smaller way to read "MB". Xero answers a larger one with 413.
pub const MAX_REQUEST_BYTES: usize = 3_500_000;

/// Splits `elements` into consecutive runs each of which, sent as `{"<list>": [...]}`, has at
/// most `max_elements` elements and at most `max_bytes` bytes as `reqwest` serialises it
/// (compact JSON). An element too large to fit even alone is a run of its own; the caller
/// refuses it rather than sending it.
pub(crate) fn request_chunks(
    list: &str,
    elements: &[Value],
    max_elements: usize,
    max_bytes: usize,
) -> Vec<std::ops::Range<usize>> {
    // `{"<list>":[` and `]}`.
    let envelope = list.len() + 7;
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = envelope;
    for (index, element) in elements.iter().enumerate() {
        let size = element.to_string().len();
        let count = index - start;
        let grown = bytes + size + usize::from(count > 0);
        if count > 0 && (count == max_elements || grown > max_bytes) {
            chunks.push(start..index);
            start = index;
            bytes = envelope + size;
        } else {
            bytes = grown;
        }
    }
    if start < elements.len() {
        chunks.push(start..elements.len());
    }
    chunks
}

/// Why a single element is not sent: alone it is larger than Xero takes in one request.
fn too_large(noun: &str, element: &Value, list: &str) -> Option<String> {
    let bytes = list.len() + 7 + element.to_string().len();
    (bytes > MAX_REQUEST_BYTES).then(|| {
        format!(
            "the {noun} is {bytes} bytes as JSON, more than the {MAX_REQUEST_BYTES} bytes Xero \
             takes in one request; split the order on the platform or book it by hand"
        )
    })
}

/// Xero prints an id it does not give as the zero GUID.
fn is_no_id(id: &str) -> bool {
    id.is_empty() || id.trim_matches(|c| c == '0' || c == '-').is_empty()
}

/// An `Idempotency-Key` for a write: the tenant, the attempt and exactly what is written,
/// hashed. The client's quick retry of a write reuses the key, so Xero answers it from its
/// cache; a later attempt (after a retry tier) gets a new key, because Xero caches errors too:
/// a 500 after the write was applied would otherwise be replayed for 6 minutes. That attempt
/// then meets "must be unique" and adopts the document.
pub fn idempotency_key(tenant: &str, attempt: u32, operation: &str, body: &Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tenant.as_bytes());
    hasher.update([0]);
    hasher.update(attempt.to_be_bytes());
    hasher.update([0]);
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(body.to_string().as_bytes());
    format!("xcs-{}", hex::encode(&hasher.finalize()[..24]))
}

/// `("Invoice", id)` or `("CreditNote", id)`: what a payment pays.
fn target_of(target: &types::PaymentTarget) -> (&'static str, &str) {
    match target {
        types::PaymentTarget::Invoice { invoice_id } => ("Invoice", invoice_id),
        types::PaymentTarget::CreditNote { credit_note_id } => ("CreditNote", credit_note_id),
    }
}

/// The id of the document a payment of `GET /Payments` pays.
fn listed_target(payment: &Value) -> String {
    let invoice = text(&payment["Invoice"], "InvoiceID");
    if invoice.is_empty() {
        text(&payment["CreditNote"], "CreditNoteID")
    } else {
        invoice
    }
}

/// Xero says the number is taken: the document exists.
fn is_unique_violation(messages: &[String]) -> bool {
    messages
        .iter()
        .any(|m| m.to_ascii_lowercase().contains("must be unique"))
}

/// Why a document Xero already has under our number is not the one we would write (another
/// order's, or edited in Xero), or `None` when it is: adopting another order's invoice would
/// book this order onto it and lose it from the books without an error.
fn not_this_documents(existing: &Value, draft: &Draft<'_>) -> Option<String> {
    let mut differences = Vec::new();
    let theirs = text(existing, "Reference");
    if theirs.trim() != draft.reference.trim() {
        differences.push(format!(
            "its reference is {theirs:?}, this one's {:?}",
            draft.reference
        ));
    }
    let their_contact = text(&existing["Contact"], "ContactID");
    if !their_contact.eq_ignore_ascii_case(draft.contact_id) {
        differences.push(format!(
            "its contact is {their_contact}, this one's {}",
            draft.contact_id
        ));
    }
    let their_total = decimal(existing, "Total");
    if their_total != draft.total {
        differences.push(format!(
            "its total is {their_total}, this one's {}",
            draft.total
        ));
    }
    (!differences.is_empty()).then(|| differences.join("; "))
}

/// Not deleted or voided.
pub fn is_live(document: &Value) -> bool {
    !matches!(document["Status"].as_str(), Some("DELETED" | "VOIDED"))
}

impl XeroClient {
    /// A write with `summarizeErrors=false` (each element's outcome in the answer) and an
    /// `Idempotency-Key` derived from the tenant, the attempt, the operation and the body.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn write(
        &self,
        tenant: &str,
        attempt: u32,
        method: Method,
        path: &str,
        body: &Value,
    ) -> Result<Value, XeroError> {
        self.write_with(tenant, attempt, method, path, &[], body)
            .await
    }

    /// [`XeroClient::write`] with more query parameters (`unitdp=4` for documents, whose unit
    /// amounts carry 4 decimals).
    async fn write_with(
        &self,
        tenant: &str,
        attempt: u32,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: &Value,
    ) -> Result<Value, XeroError> {
        let key = idempotency_key(tenant, attempt, &format!("{method} {path}"), body);
        let mut query = vec![("summarizeErrors", "false")];
        query.extend_from_slice(extra);
        self.call(tenant, method, path, &query, Some(body), Some(&key))
            .await
    }

    /// `GET path?where=filter`; the filter's literals come from `xero::filter::string_literal`.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn get_where(
        &self,
        tenant: &str,
        path: &str,
        filter: &str,
    ) -> Result<Value, XeroError> {
        self.call(tenant, Method::GET, path, &[("where", filter)], None, None)
            .await
    }

    /// Creates `drafts`, each element's outcome in order: created; found under its number and
    /// adopted, when its reference, contact and total are the draft's; or refused
    /// ([`ProcessError::Rejected`] with Xero's messages, [`ProcessError::NumberTaken`] naming
    /// what differs). One call per [`MAX_ELEMENTS_PER_REQUEST`] drafts and
    /// [`MAX_REQUEST_BYTES`]; a call after the first that fails fails its drafts and the rest.
    ///
    /// # Errors
    /// [`XeroError`] when the first call itself failed: nothing is known of any element.
    pub async fn put_documents(
        &self,
        tenant: &str,
        attempt: u32,
        kind: DocumentKind,
        drafts: &[Draft<'_>],
    ) -> Result<Vec<Result<Written, ProcessError>>, XeroError> {
        let bodies: Vec<Value> = drafts.iter().map(|d| d.body.clone()).collect();
        let mut results: Vec<Result<Written, ProcessError>> = Vec::with_capacity(drafts.len());
        let mut taken = Vec::new();
        let chunks = request_chunks(
            kind.list(),
            &bodies,
            MAX_ELEMENTS_PER_REQUEST,
            MAX_REQUEST_BYTES,
        );
        for (n, chunk) in chunks.into_iter().enumerate() {
            if chunk.len() == 1
                && let Some(problem) = too_large(kind.noun(), &bodies[chunk.start], kind.list())
            {
                results.push(Err(ProcessError::Rejected {
                    document: format!("{} {}", kind.noun(), drafts[chunk.start].number),
                    messages: vec![problem],
                }));
                continue;
            }
            let body = json!({ kind.list(): &bodies[chunk.clone()] });
            let response = match self
                .write_with(
                    tenant,
                    attempt,
                    Method::PUT,
                    &format!("/{}", kind.list()),
                    &[("unitdp", "4")],
                    &body,
                )
                .await
            {
                Ok(response) => response,
                Err(err) if n == 0 => return Err(err),
                Err(err) => {
                    // The calls before this one stand; this one's drafts and the rest wait
                    // for the retry, which adopts what it finds under their numbers.
                    results.resize_with(drafts.len(), || Err(ProcessError::Xero(err.clone())));
                    break;
                }
            };
            let elements = response[kind.list()]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for (offset, index) in chunk.enumerate() {
                let draft = &drafts[index];
                let Some(element) = elements.get(offset) else {
                    results.push(Err(ProcessError::Xero(XeroError::Server {
                        status: 200,
                        body: format!("Xero returned fewer {} than were sent", kind.list()),
                    })));
                    continue;
                };
                let errors = element_errors(element);
                if errors.is_empty() && !kind.id_of(element).is_empty() {
                    results.push(Ok(Written {
                        document: element.clone(),
                        created: true,
                    }));
                } else if is_unique_violation(&errors) {
                    taken.push(index);
                    results.push(Ok(Written {
                        document: Value::Null,
                        created: false,
                    }));
                } else if let Some(message) = super::client::plan_limit(&errors) {
                    results.push(Err(ProcessError::Xero(XeroError::PlanLimit(message))));
                } else {
                    results.push(Err(ProcessError::rejected(
                        format!("{} {}", kind.noun(), draft.number),
                        errors,
                    )));
                }
            }
        }
        if taken.is_empty() {
            return Ok(results);
        }
        let numbers: Vec<&str> = taken.iter().map(|i| drafts[*i].number).collect();
        let found = self.find_documents(tenant, kind, &numbers).await;
        for index in taken {
            let draft = &drafts[index];
            results[index] = match &found {
                Err(err) => Err(ProcessError::Xero(err.clone())),
                Ok(found) => match found.get(draft.number) {
                    None => Err(ProcessError::Rejected {
                        document: format!("{} {}", kind.noun(), draft.number),
                        messages: vec![
                            "Xero says the number is taken but no live document has it; it may \
                             be a voided or deleted document"
                                .into(),
                        ],
                    }),
                    Some(existing) => match not_this_documents(existing, draft) {
                        Some(mismatch) => Err(ProcessError::NumberTaken {
                            document: format!("{} {}", kind.noun(), draft.number),
                            mismatch,
                        }),
                        None => Ok(Written {
                            document: existing.clone(),
                            created: false,
                        }),
                    },
                },
            };
        }
        Ok(results)
    }

    /// Live documents by number, keyed by number: invoices 50 numbers a call
    /// (`InvoiceNumbers`), credit notes one `where` each (Xero has no list filter for their
    /// numbers).
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn find_documents(
        &self,
        tenant: &str,
        kind: DocumentKind,
        numbers: &[&str],
    ) -> Result<HashMap<String, Value>, XeroError> {
        let number_field = match kind {
            DocumentKind::Invoice => "InvoiceNumber",
            DocumentKind::CreditNote => "CreditNoteNumber",
        };
        let found = match kind {
            DocumentKind::Invoice => {
                self.invoices_where(tenant, "InvoiceNumbers", numbers)
                    .await?
            }
            DocumentKind::CreditNote => {
                let mut found = Vec::new();
                for number in numbers {
                    // Numbers are filter-safe by construction (`mapping::credit_note_number`);
                    // one that is not cannot be looked up, and is not found.
                    let Some(literal) = super::filter::string_literal(number) else {
                        continue;
                    };
                    let mut answer = self
                        .get_where(
                            tenant,
                            "/CreditNotes",
                            &format!("{number_field}=={literal}"),
                        )
                        .await?;
                    if let Value::Array(list) = answer["CreditNotes"].take() {
                        found.extend(list);
                    }
                }
                found
            }
        };
        Ok(found
            .into_iter()
            .filter(is_live)
            .map(|d| (text(&d, number_field), d))
            .collect())
    }

    /// The invoices whose `filter` (`IDs`, `InvoiceNumbers`) is one of `values`, 50 a call.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn invoices_where(
        &self,
        tenant: &str,
        filter: &str,
        values: &[&str],
    ) -> Result<Vec<Value>, XeroError> {
        let mut invoices = Vec::new();
        for chunk in values.chunks(50) {
            let joined = chunk.join(",");
            let mut response = self
                .call(
                    tenant,
                    Method::GET,
                    "/Invoices",
                    &[(filter, &joined), ("unitdp", "4")],
                    None,
                    None,
                )
                .await?;
            if let Value::Array(list) = response["Invoices"].take() {
                invoices.extend(list);
            }
        }
        Ok(invoices)
    }

    /// A document as Xero has it now.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn document_state(
        &self,
        tenant: &str,
        kind: DocumentKind,
        id: &str,
    ) -> Result<DocumentState, XeroError> {
        let response = self
            .call(
                tenant,
                Method::GET,
                &format!("/{}/{id}", kind.list()),
                &[],
                None,
                None,
            )
            .await?;
        let document = &response[kind.list()][0];
        if payments_listed(document) {
            return Ok(DocumentState::of(document, kind, None));
        }
        let target = match kind {
            DocumentKind::Invoice => "Invoice",
            DocumentKind::CreditNote => "CreditNote",
        };
        let payments = self.payments_on(tenant, &[(target, id)]).await?;
        Ok(DocumentState::of(document, kind, Some(&payments)))
    }

    /// What Xero has now for several invoices, by id: one list call per 50, and for those
    /// whose listing does not name their payments' references (Xero's lists may leave
    /// `Payments` out, and its entries their `Reference`), one `GET /Payments` per 25.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn invoice_states(
        &self,
        tenant: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, DocumentState>, XeroError> {
        let invoices = self.invoices_where(tenant, "IDs", ids).await?;
        let unnamed: Vec<(&str, &str)> = invoices
            .iter()
            .filter(|invoice| !payments_listed(invoice))
            .filter_map(|invoice| invoice["InvoiceID"].as_str())
            .map(|id| ("Invoice", id))
            .collect();
        let mut payments: HashMap<String, Vec<Value>> = HashMap::new();
        if !unnamed.is_empty() {
            for payment in self.payments_on(tenant, &unnamed).await? {
                payments
                    .entry(listed_target(&payment).to_ascii_lowercase())
                    .or_default()
                    .push(payment);
            }
        }
        let mut states = HashMap::new();
        for invoice in &invoices {
            let id = text(invoice, "InvoiceID");
            let state = if payments_listed(invoice) {
                DocumentState::of(invoice, DocumentKind::Invoice, None)
            } else {
                let own = payments
                    .get(&id.to_ascii_lowercase())
                    .map_or(&[][..], Vec::as_slice);
                DocumentState::of(invoice, DocumentKind::Invoice, Some(own))
            };
            states.insert(id, state);
        }
        Ok(states)
    }

    /// Makes `payments`, one call per [`MAX_ELEMENTS_PER_REQUEST`] payments and
    /// [`MAX_REQUEST_BYTES`] (the settle stage merges batches, so it can hold more than Xero
    /// takes at once); each element's outcome in order: Xero's `PaymentID`, or its messages. A
    /// payment Xero accepted without printing its id is made: its id is looked up by what it
    /// pays and its reference, and is `adopted` when Xero's lists do not show it either.
    ///
    /// # Errors
    /// [`XeroError`] when a call itself failed. The calls before it stand: their payments are
    /// made, and the retry adopts them by their references (see [`DocumentState`]).
    pub async fn put_payments(
        &self,
        tenant: &str,
        attempt: u32,
        payments: &[types::Payment],
    ) -> Result<Vec<Result<String, Vec<String>>>, XeroError> {
        let bodies: Vec<Value> = payments.iter().map(|p| json!(p)).collect();
        let mut results = Vec::with_capacity(payments.len());
        let mut unnamed = Vec::new();
        for chunk in request_chunks(
            "Payments",
            &bodies,
            MAX_ELEMENTS_PER_REQUEST,
            MAX_REQUEST_BYTES,
        ) {
            if chunk.len() == 1
                && let Some(problem) = too_large("payment", &bodies[chunk.start], "Payments")
            {
                results.push(Err(vec![problem]));
                continue;
            }
            let body = json!({ "Payments": &bodies[chunk.clone()] });
            let response = self
                .write(tenant, attempt, Method::PUT, "/Payments", &body)
                .await?;
            let elements = response["Payments"].as_array().cloned().unwrap_or_default();
            for (offset, index) in chunk.enumerate() {
                let element = elements.get(offset).unwrap_or(&Value::Null);
                let errors = element_errors(element);
                let id = text(element, "PaymentID");
                if !errors.is_empty() {
                    results.push(Err(errors));
                } else if element.is_null() {
                    results.push(Err(vec!["Xero returned no payment for it".to_owned()]));
                } else if is_no_id(&id) {
                    unnamed.push(index);
                    results.push(Ok(String::new()));
                } else {
                    results.push(Ok(id));
                }
            }
        }
        if !unnamed.is_empty() {
            let wanted: Vec<&types::Payment> = unnamed.iter().map(|i| &payments[*i]).collect();
            let found = self.payment_ids(tenant, &wanted).await?;
            for (index, id) in unnamed.into_iter().zip(found) {
                results[index] = Ok(id.unwrap_or_else(|| "adopted".to_owned()));
            }
        }
        Ok(results)
    }

    /// The ids of live payments Xero has for `payments`, by what each pays, its reference and
    /// amount (`GET /Payments` with a `where` filter on the document's id); `None` for one it
    /// does not list.
    ///
    /// # Errors
    /// [`XeroError`].
    async fn payment_ids(
        &self,
        tenant: &str,
        payments: &[&types::Payment],
    ) -> Result<Vec<Option<String>>, XeroError> {
        let targets: Vec<(&str, &str)> = payments.iter().map(|p| target_of(&p.target)).collect();
        let listed = self.payments_on(tenant, &targets).await?;
        let mut taken = std::collections::HashSet::new();
        Ok(payments
            .iter()
            .zip(&targets)
            .map(|(payment, (_, id))| {
                let found = listed.iter().find(|p| {
                    let id_now = text(p, "PaymentID");
                    !taken.contains(&id_now)
                        && text(p, "Reference") == payment.reference
                        && decimal(p, "Amount") == payment.amount
                        && listed_target(p).eq_ignore_ascii_case(id)
                })?;
                let id = text(found, "PaymentID");
                taken.insert(id.clone());
                Some(id)
            })
            .collect())
    }

    /// Xero's live payments on the documents `targets` names (`("Invoice", id)` or
    /// `("CreditNote", id)`), from `GET /Payments`: the payments' own records, which carry
    /// their `Reference` even when a document's summary of them does not. 25 documents a call,
    /// to keep the filter short.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn payments_on(
        &self,
        tenant: &str,
        targets: &[(&str, &str)],
    ) -> Result<Vec<Value>, XeroError> {
        let mut payments = Vec::new();
        for chunk in targets.chunks(25) {
            let matches: Vec<String> = chunk
                .iter()
                // Ids are Xero's GUIDs; one that is not cannot be in a filter, nor have payments.
                .filter(|(_, id)| id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
                .map(|(kind, id)| {
                    let field = if *kind == "Invoice" {
                        "Invoice.InvoiceID"
                    } else {
                        "CreditNote.CreditNoteID"
                    };
                    format!("{field}==guid(\"{id}\")")
                })
                .collect();
            if matches.is_empty() {
                continue;
            }
            let filter = format!("Status==\"AUTHORISED\" AND ({})", matches.join(" OR "));
            let mut answer = self.get_where(tenant, "/Payments", &filter).await?;
            if let Value::Array(list) = answer["Payments"].take() {
                payments.extend(list);
            }
        }
        Ok(payments)
    }

    /// Allocates `amount` of a credit note to an invoice.
    ///
    /// # Errors
    /// [`ProcessError::Rejected`] with Xero's messages, or [`ProcessError::Xero`].
    pub async fn allocate(
        &self,
        tenant: &str,
        attempt: u32,
        credit_note_id: &str,
        invoice_id: &str,
        amount: Decimal,
        date: &str,
    ) -> Result<(), ProcessError> {
        let path = format!("/CreditNotes/{credit_note_id}/Allocations");
        let body = json!({"Allocations": [{
            "Invoice": {"InvoiceID": invoice_id},
            "Amount": number_value(amount),
            "Date": date,
        }]});
        let response = self
            .write(tenant, attempt, Method::PUT, &path, &body)
            .await?;
        let errors = element_errors(&response["Allocations"][0]);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ProcessError::Rejected {
                document: format!("allocation of credit note {credit_note_id}"),
                messages: errors,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(reference: &str) -> Value {
        json!({
            "Invoice": {"InvoiceID": "00000000-0000-0000-0000-000000000001"},
            "Account": {"Code": "615"},
            "Date": "2026-11-20",
            "Amount": 63.25,
            "Reference": reference,
        })
    }

    fn size(list: &str, elements: &[Value]) -> usize {
        json!({ list: elements }).to_string().len()
    }

    #[test]
    fn more_than_fifty_payments_go_in_calls_of_fifty() {
        let payments: Vec<Value> = (0..120).map(|n| payment(&format!("order {n}"))).collect();
        let chunks = request_chunks("Payments", &payments, 50, MAX_REQUEST_BYTES);
        assert_eq!(chunks, vec![0..50, 50..100, 100..120]);
    }

    #[test]
    fn large_elements_go_in_calls_within_the_byte_limit_each_as_large_as_it_can_be() {
        // About 0.9 MB each: four would be 3.6 MB, over the limit.
        let long = "x".repeat(900_000);
        let payments: Vec<Value> = (0..10).map(|_| payment(&long)).collect();
        let chunks = request_chunks("Payments", &payments, 50, MAX_REQUEST_BYTES);
        assert_eq!(chunks, vec![0..3, 3..6, 6..9, 9..10]);
        for chunk in &chunks {
            assert!(size("Payments", &payments[chunk.clone()]) <= MAX_REQUEST_BYTES);
        }
        // The measure is exact: a limit of exactly three elements' body still takes three.
        let three = size("Payments", &payments[0..3]);
        assert_eq!(request_chunks("Payments", &payments, 50, three)[0], 0..3);
        assert_eq!(
            request_chunks("Payments", &payments, 50, three - 1)[0],
            0..2
        );
    }

    #[test]
    fn an_element_too_large_alone_is_a_call_of_its_own_and_refused_before_sending() {
        let huge = payment(&"x".repeat(MAX_REQUEST_BYTES));
        let payments = vec![payment("a"), huge.clone(), payment("b")];
        let chunks = request_chunks("Payments", &payments, 50, MAX_REQUEST_BYTES);
        assert_eq!(chunks, vec![0..1, 1..2, 2..3]);
        assert!(too_large("payment", &huge, "Payments").is_some());
        assert!(too_large("payment", &payments[0], "Payments").is_none());
        assert!(request_chunks("Payments", &[], 50, MAX_REQUEST_BYTES).is_empty());
    }

    #[test]
    fn recovery_reads_the_payments_own_records_when_the_document_leaves_references_out() {
        let listed = json!({"AmountPaid": 10, "Payments": [{"PaymentID": "p", "Reference": "r"}]});
        let unreferenced = json!({"AmountPaid": 10, "Payments": [{"PaymentID": "p"}]});
        let unlisted = json!({"AmountPaid": 10});
        let unpaid = json!({"AmountPaid": 0});
        assert!(payments_listed(&listed));
        assert!(!payments_listed(&unreferenced));
        assert!(!payments_listed(&unlisted));
        assert!(payments_listed(&unpaid));
        let own = [json!({"Reference": "r"})];
        let state = DocumentState::of(&unreferenced, DocumentKind::Invoice, Some(&own));
        assert_eq!(state.references, ["r"]);
    }

    #[test]
    fn the_zero_guid_is_no_id() {
        assert!(is_no_id(""));
        assert!(is_no_id("00000000-0000-0000-0000-000000000000"));
        assert!(!is_no_id("0d2f6a31-0000-0000-0000-000000000000"));
    }
}
