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
    /// From an element of Xero's `Invoices` or `CreditNotes` list.
    fn of(document: &Value, kind: DocumentKind) -> DocumentState {
        let references = document["Payments"]
            .as_array()
            .into_iter()
            .flatten()
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

    /// Creates `drafts` in one call, each element's outcome in order: created; found under its
    /// number and adopted, when its reference, contact and total are the draft's; or refused
    /// ([`ProcessError::Rejected`] with Xero's messages, [`ProcessError::NumberTaken`] naming
    /// what differs).
    ///
    /// # Errors
    /// [`XeroError`] when the call itself failed: nothing is known of any element.
    pub async fn put_documents(
        &self,
        tenant: &str,
        attempt: u32,
        kind: DocumentKind,
        drafts: &[Draft<'_>],
    ) -> Result<Vec<Result<Written, ProcessError>>, XeroError> {
        let body = json!({ kind.list(): drafts.iter().map(|d| &d.body).collect::<Vec<_>>() });
        let response = self
            .write_with(
                tenant,
                attempt,
                Method::PUT,
                &format!("/{}", kind.list()),
                &[("unitdp", "4")],
                &body,
            )
            .await?;
        let elements = response[kind.list()]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut results = Vec::with_capacity(drafts.len());
        let mut taken = Vec::new();
        for (index, draft) in drafts.iter().enumerate() {
            let Some(element) = elements.get(index) else {
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
            } else {
                results.push(Err(ProcessError::Rejected {
                    document: format!("{} {}", kind.noun(), draft.number),
                    messages: errors,
                }));
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
        Ok(DocumentState::of(&response[kind.list()][0], kind))
    }

    /// What Xero has now for several invoices, by id: one list call per 50. An invoice listed
    /// without its `Payments` is read on its own (whether Xero's lists carry them is not
    /// documented clearly; its single-invoice answer does).
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn invoice_states(
        &self,
        tenant: &str,
        ids: &[&str],
    ) -> Result<HashMap<String, DocumentState>, XeroError> {
        let mut states = HashMap::new();
        for invoice in self.invoices_where(tenant, "IDs", ids).await? {
            let id = text(&invoice, "InvoiceID");
            let state = if invoice.get("Payments").is_some() {
                DocumentState::of(&invoice, DocumentKind::Invoice)
            } else {
                self.document_state(tenant, DocumentKind::Invoice, &id)
                    .await?
            };
            states.insert(id, state);
        }
        Ok(states)
    }

    /// Makes `payments` in one call; each element's outcome in order: Xero's `PaymentID`, or
    /// its messages.
    ///
    /// # Errors
    /// [`XeroError`] when the call itself failed.
    pub async fn put_payments(
        &self,
        tenant: &str,
        attempt: u32,
        payments: &[types::Payment],
    ) -> Result<Vec<Result<String, Vec<String>>>, XeroError> {
        let body = json!({ "Payments": payments });
        let response = self
            .write(tenant, attempt, Method::PUT, "/Payments", &body)
            .await?;
        let elements = response["Payments"].as_array().cloned().unwrap_or_default();
        Ok((0..payments.len())
            .map(|index| {
                let element = elements.get(index).unwrap_or(&Value::Null);
                let errors = element_errors(element);
                let id = text(element, "PaymentID");
                if errors.is_empty() && !id.is_empty() {
                    Ok(id)
                } else if errors.is_empty() {
                    Err(vec!["Xero returned no payment for it".to_owned()])
                } else {
                    Err(errors)
                }
            })
            .collect())
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
