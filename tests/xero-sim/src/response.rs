//! A response as the simulator builds it, before it becomes an HTTP response. Keeping it plain
//! data lets the idempotency cache store and replay it byte for byte, and the journal record it.

use serde_json::{Value, json};

use crate::wire;

/// Status, headers and body of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers (rate-limit headers are added later, per request).
    pub headers: Vec<(String, String)>,
    /// The body text.
    pub body: String,
}

/// JSON content type, as Xero sends it.
pub const JSON: &str = "application/json; charset=utf-8";
/// Plain text content type.
pub const TEXT: &str = "text/plain; charset=utf-8";

impl SimResponse {
    /// A JSON answer; decimals built with [`wire::number`] print with their scale.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: JSON,
            headers: Vec::new(),
            body: wire::render(body),
        }
    }

    /// A plain-text answer.
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: TEXT,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// The problem-details shape Xero's gateway uses for 401/403 and similar:
    /// `{"Type":null,"Title":…,"Status":…,"Detail":…,"Instance":…,"Extensions":{}}`.
    pub fn problem(status: u16, title: &str, detail: &str) -> Self {
        Self::json(
            status,
            &json!({
                "Type": null,
                "Title": title,
                "Status": status,
                "Detail": detail,
                "Instance": uuid::Uuid::new_v4(),
                "Extensions": {},
            }),
        )
    }

    /// Xero's 404, verified against the live API by pyxero's tests: plain text.
    pub fn not_found() -> Self {
        Self::text(404, "The resource you're looking for cannot be found")
    }

    /// A body that could not be read as the expected JSON (Xero's `PostDataInvalidException`,
    /// `ErrorNumber` 14, as seen in public issue reports).
    pub fn post_data_invalid(detail: &str) -> Self {
        Self::json(
            400,
            &json!({
                "ErrorNumber": 14,
                "Type": "PostDataInvalidException",
                "Message": format!("JSON request body could not be read, Error: {detail}"),
            }),
        )
    }

    /// A `where`/`order` clause the simulator cannot parse (Xero: `QueryParseException`).
    pub fn query_parse_error(detail: &str) -> Self {
        Self::json(
            400,
            &json!({
                "ErrorNumber": 16,
                "Type": "QueryParseException",
                "Message": detail,
            }),
        )
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The body parsed back as JSON when it is JSON, else as a string (for the journal).
    pub fn body_value(&self) -> Value {
        if self.content_type == JSON {
            serde_json::from_str(&self.body).unwrap_or_else(|_| Value::String(self.body.clone()))
        } else {
            Value::String(self.body.clone())
        }
    }
}
