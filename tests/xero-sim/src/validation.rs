//! Xero's validation-error conventions for batch writes.
//!
//! Every write endpoint takes a list (`{"Invoices":[…]}`) and handles each element on its own.
//! With `summarizeErrors=false` the answer is always 200 and each element carries
//! `StatusAttributeString` `OK` or `ERROR`. With the default (`summarizeErrors=true`) a single
//! bad element turns the whole answer into `400 ValidationException` listing only the bad
//! elements, **while the good elements have still been saved**, and their ids are nowhere in the
//! answer (StackOverflow 52706101, answered by Xero staff). The simulator reproduces that trap.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::response::SimResponse;
use crate::wire;

/// The outcome of one element of a batch write.
#[derive(Debug, Clone)]
pub enum ElementResult {
    /// Saved; the record as Xero prints it.
    Ok(Value),
    /// Rejected; the submitted element (echoed back, as Xero does) and the messages.
    Err {
        /// The element as submitted.
        echo: Value,
        /// `ValidationErrors[].Message`.
        messages: Vec<String>,
    },
}

impl ElementResult {
    /// A rejection of `element` with one message.
    pub fn error(element: &Value, message: impl Into<String>) -> Self {
        Self::Err {
            echo: element.clone(),
            messages: vec![message.into()],
        }
    }
}

/// How a collection marks a failed element (`HasErrors` on documents,
/// `HasValidationErrors` on payments, contacts, items, allocations).
#[derive(Debug, Clone, Copy)]
pub struct Collection {
    /// The envelope key, e.g. `Invoices`.
    pub name: &'static str,
    /// The boolean error flag's name.
    pub error_flag: &'static str,
}

/// Builds the answer to a batch write.
pub fn batch_response(
    collection: Collection,
    results: Vec<ElementResult>,
    summarize_errors: bool,
    now: OffsetDateTime,
) -> SimResponse {
    let any_error = results
        .iter()
        .any(|r| matches!(r, ElementResult::Err { .. }));
    if summarize_errors && any_error {
        let elements = results
            .into_iter()
            .filter_map(|r| match r {
                ElementResult::Err { echo, messages } => {
                    Some(error_element(echo, &messages, collection.error_flag))
                }
                ElementResult::Ok(_) => None,
            })
            .collect();
        return validation_exception(elements);
    }
    let items = results
        .into_iter()
        .map(|r| match r {
            ElementResult::Ok(value) => {
                if summarize_errors {
                    value
                } else {
                    with_field(value, "StatusAttributeString", json!("OK"))
                }
            }
            ElementResult::Err { echo, messages } => with_field(
                error_element(echo, &messages, collection.error_flag),
                "StatusAttributeString",
                json!("ERROR"),
            ),
        })
        .collect();
    SimResponse::json(200, &wire::envelope(now, collection.name, items))
}

/// `400 {"ErrorNumber":10,"Type":"ValidationException",…}` with the given elements.
pub fn validation_exception(elements: Vec<Value>) -> SimResponse {
    SimResponse::json(
        400,
        &json!({
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        }),
    )
}

/// A single-message validation failure of one element.
pub fn single_validation_error(element: &Value, flag: &str, message: &str) -> SimResponse {
    validation_exception(vec![error_element(
        element.clone(),
        &[message.to_owned()],
        flag,
    )])
}

fn error_element(echo: Value, messages: &[String], flag: &str) -> Value {
    let errors: Vec<Value> = messages.iter().map(|m| json!({ "Message": m })).collect();
    let value = with_field(echo, flag, json!(true));
    with_field(value, "ValidationErrors", Value::Array(errors))
}

fn with_field(value: Value, key: &str, field: Value) -> Value {
    let mut map = match value {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("Value".to_owned(), other);
            map
        }
    };
    map.insert(key.to_owned(), field);
    Value::Object(map)
}

/// Reads `summarizeErrors` the way Xero does: anything but an explicit `false` means summarise
/// (the effective default is `true`, although the spec marks `default: false`).
pub fn summarize_errors(query: &[(String, String)]) -> bool {
    !query
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("summarizeErrors") && v.eq_ignore_ascii_case("false"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVOICES: Collection = Collection {
        name: "Invoices",
        error_flag: "HasErrors",
    };

    #[test]
    fn one_bad_element_fails_the_summarised_answer_but_lists_only_the_bad_one() {
        let results = vec![
            ElementResult::Ok(json!({"InvoiceNumber": "A"})),
            ElementResult::error(&json!({"InvoiceNumber": "B"}), "Invoice # must be unique."),
        ];
        let response = batch_response(INVOICES, results, true, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(response.status, 400);
        let body: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["Elements"].as_array().unwrap().len(), 1);
        assert_eq!(body["Elements"][0]["InvoiceNumber"], "B");
        assert_eq!(body["Elements"][0]["HasErrors"], true);
    }

    #[test]
    fn unsummarised_answers_mark_every_element() {
        let results = vec![
            ElementResult::Ok(json!({"InvoiceNumber": "A"})),
            ElementResult::error(&json!({"InvoiceNumber": "B"}), "Invoice # must be unique."),
        ];
        let response = batch_response(INVOICES, results, false, OffsetDateTime::UNIX_EPOCH);
        assert_eq!(response.status, 200);
        let body: Value = serde_json::from_str(&response.body).unwrap();
        assert_eq!(body["Invoices"][0]["StatusAttributeString"], "OK");
        assert_eq!(body["Invoices"][1]["StatusAttributeString"], "ERROR");
        assert_eq!(
            body["Invoices"][1]["ValidationErrors"][0]["Message"],
            "Invoice # must be unique."
        );
    }
}
