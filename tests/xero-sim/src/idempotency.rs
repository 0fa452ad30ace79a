//! Xero's `Idempotency-Key`: for POST/PUT/PATCH, the whole answer is cached per app and key for
//! 6 minutes from the first call, and a replay inside that window gets the cached answer without
//! anything being applied again, errors included ("the error will be cached and returned when the
//! request is re-run even if the internal error is resolved"). The same key on a different
//! request is refused with 400. After 6 minutes the key is forgotten and the request is processed
//! as new, which creates a duplicate: the reason a durable ledger is needed on the client side.

use std::collections::HashMap;
use std::time::Duration;

use time::OffsetDateTime;

use crate::response::SimResponse;

/// How long a key is remembered, in simulated time.
pub const KEY_TTL: Duration = Duration::from_secs(6 * 60);
/// Longest accepted key ("128 character max", `components.parameters.idempotencyKey`).
pub const MAX_KEY_LEN: usize = 128;

/// What identifies "the same request" for a key. Secondary sources say Xero compares method,
/// URL and body; the tenant is included too, so reusing a key across organisations is caught
/// (UNSURE: Xero may scope keys per app only and replay across tenants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// HTTP method.
    pub method: String,
    /// Path and query string.
    pub url: String,
    /// The tenant the request was for.
    pub tenant: String,
    /// The raw body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Entry {
    fingerprint: Fingerprint,
    response: SimResponse,
    stored_at: OffsetDateTime,
}

/// What the cache says about a keyed request.
#[derive(Debug)]
pub enum Lookup {
    /// Not seen (or expired): process it.
    Miss,
    /// Seen with the same request: answer with this.
    Replay(SimResponse),
    /// Seen with a different request: refuse.
    Mismatch,
}

/// Cached answers by (app client id, key).
#[derive(Debug, Default)]
pub struct IdempotencyCache {
    entries: HashMap<(String, String), Entry>,
}

impl IdempotencyCache {
    /// Checks a key, forgetting it first if its window has passed.
    pub fn lookup(
        &mut self,
        client_id: &str,
        key: &str,
        fingerprint: &Fingerprint,
        now: OffsetDateTime,
    ) -> Lookup {
        let slot = (client_id.to_owned(), key.to_owned());
        match self.entries.get(&slot) {
            None => Lookup::Miss,
            Some(entry) if now - entry.stored_at >= KEY_TTL => {
                self.entries.remove(&slot);
                Lookup::Miss
            }
            Some(entry) if &entry.fingerprint == fingerprint => {
                Lookup::Replay(entry.response.clone())
            }
            Some(_) => Lookup::Mismatch,
        }
    }

    /// Remembers the answer to a keyed request.
    pub fn store(
        &mut self,
        client_id: &str,
        key: &str,
        fingerprint: Fingerprint,
        response: SimResponse,
        now: OffsetDateTime,
    ) {
        self.entries.insert(
            (client_id.to_owned(), key.to_owned()),
            Entry {
                fingerprint,
                response,
                stored_at: now,
            },
        );
    }

    /// Forgets everything (admin reset).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The refusal for a reused key (message per secondary notes, UNSURE; shape as Xero's other
/// gateway errors).
pub fn mismatch_response(key: &str) -> SimResponse {
    SimResponse::problem(
        400,
        "Bad Request",
        &format!("Idempotency Key: {key} is used with a different request."),
    )
}

/// The refusal for a key that is too long or empty.
pub fn invalid_key_response(key: &str) -> SimResponse {
    let detail = if key.is_empty() {
        "Idempotency Key must not be empty.".to_owned()
    } else {
        format!("Idempotency Key must be {MAX_KEY_LEN} characters or fewer.")
    };
    SimResponse::problem(400, "Bad Request", &detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(body: &str) -> Fingerprint {
        Fingerprint {
            method: "PUT".into(),
            url: "/api.xro/2.0/Invoices".into(),
            tenant: "t".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_replay_within_six_minutes_and_are_forgotten_after() {
        let mut cache = IdempotencyCache::default();
        let t0 = OffsetDateTime::UNIX_EPOCH;
        cache.store("app", "k", fp("a"), SimResponse::text(200, "first"), t0);
        assert!(matches!(
            cache.lookup("app", "k", &fp("a"), t0 + Duration::from_secs(359)),
            Lookup::Replay(r) if r.body == "first"
        ));
        assert!(matches!(
            cache.lookup("app", "k", &fp("b"), t0 + Duration::from_secs(10)),
            Lookup::Mismatch
        ));
        assert!(matches!(
            cache.lookup("other-app", "k", &fp("b"), t0),
            Lookup::Miss
        ));
        assert!(matches!(
            cache.lookup("app", "k", &fp("b"), t0 + KEY_TTL),
            Lookup::Miss
        ));
    }
}
