//! The journal: every API and identity request, rejected ones included, as one JSON object,
//! kept in memory for `GET /__sim/journal` and optionally appended to a JSON-lines file.
//! `Authorization` is redacted, and so is a `client_secret` in a form body.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One request and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// 1-based sequence number.
    pub seq: u64,
    /// Simulated time the request arrived (RFC 3339).
    pub at: String,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// Tenant the request was for, if any.
    pub tenant: Option<String>,
    /// The app (client id) behind the token, if known.
    pub client_id: Option<String>,
    /// `Idempotency-Key`, if sent.
    pub idempotency_key: Option<String>,
    /// Request headers (lower-case names; `Authorization` redacted).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Body: parsed JSON when it is JSON, otherwise the text.
    pub body: Value,
    /// Status sent; `None` when the connection was dropped instead.
    pub status: Option<u16>,
    /// The body sent, parsed like `body`.
    pub response: Value,
    /// The injected fault that applied, if any.
    pub fault: Option<String>,
    /// Whether the answer was an idempotent replay of a cached one.
    pub replayed: bool,
}

/// The journal store.
#[derive(Debug)]
pub struct Journal {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    entries: Vec<JournalEntry>,
    file: Option<BufWriter<File>>,
    next_seq: u64,
}

impl Journal {
    /// A journal that also appends to `path` when given.
    ///
    /// # Errors
    /// When the file cannot be opened for appending.
    pub fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = path
            .map(|p| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("cannot open journal file {}", p.display()))
                    .map(BufWriter::new)
            })
            .transpose()?;
        Ok(Self {
            inner: Mutex::new(Inner {
                entries: Vec::new(),
                file,
                next_seq: 1,
            }),
        })
    }

    /// Appends an entry, filling in its sequence number.
    pub fn record(&self, mut entry: JournalEntry) {
        let mut inner = self.inner.lock().expect("journal lock poisoned");
        entry.seq = inner.next_seq;
        inner.next_seq += 1;
        if let Some(file) = inner.file.as_mut() {
            let line = serde_json::to_string(&entry).expect("a journal entry serialises");
            // A journal write failure must not fail the request being simulated.
            if writeln!(file, "{line}")
                .and_then(|()| file.flush())
                .is_err()
            {
                tracing::warn!("could not append to the journal file");
            }
        }
        inner.entries.push(entry);
    }

    /// Entries with a sequence number above `after`.
    pub fn entries_after(&self, after: u64) -> Vec<JournalEntry> {
        let inner = self.inner.lock().expect("journal lock poisoned");
        inner
            .entries
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect()
    }
}

/// Parses a body for the journal: JSON when it parses, else text (form bodies get their
/// `client_secret` redacted).
pub fn body_for_journal(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        return value;
    }
    let text = String::from_utf8_lossy(body);
    let redacted: Vec<String> = text
        .split('&')
        .map(|pair| {
            if pair.starts_with("client_secret=") {
                "client_secret=<redacted>".to_owned()
            } else {
                pair.to_owned()
            }
        })
        .collect();
    Value::String(redacted.join("&"))
}

/// A journal entry's operation with its ids taken out, for counting calls by kind:
/// `PUT /api.xro/2.0/CreditNotes/6f…/Allocations` → `PUT /CreditNotes/{id}/Allocations`.
pub fn operation(method: &str, path: &str) -> String {
    let rest = path.strip_prefix("/api.xro/2.0").unwrap_or(path);
    let segments: Vec<&str> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if uuid::Uuid::parse_str(s).is_ok() {
                "{id}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} /{}", segments.join("/"))
}
