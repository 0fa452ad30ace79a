//! Injected faults: a queue of "the next N matching requests go wrong this way". Each kind
//! reproduces a failure a Xero client must survive, most importantly "apply then 500": the write
//! happened but the client was told it failed, the classic source of duplicates.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::response::SimResponse;

/// Which requests a fault applies to. Empty fields match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultMatcher {
    /// HTTP method, e.g. `PUT` (case-insensitive).
    pub method: Option<String>,
    /// Path prefix, e.g. `/api.xro/2.0/Invoices` (case-insensitive).
    pub path_prefix: Option<String>,
    /// Tenant, from `xero-tenant-id` or the Custom Connection's tenant.
    pub tenant: Option<Uuid>,
}

impl FaultMatcher {
    fn matches(&self, method: &str, path: &str, tenant: Option<Uuid>) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self
                .path_prefix
                .as_deref()
                .is_none_or(|p| path.len() >= p.len() && path[..p.len()].eq_ignore_ascii_case(p))
            && self.tenant.is_none_or(|t| tenant == Some(t))
    }
}

/// What happens to a matching request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum FaultKind {
    /// Answer with this status without doing anything (500/503 get Xero-ish bodies).
    Status {
        /// HTTP status.
        status: u16,
        /// Body to send instead of the default for the status.
        #[serde(default)]
        body: Option<String>,
    },
    /// Refuse as Xero's minute limit does (429, `Retry-After`, `X-Rate-Limit-Problem:
    /// minute`), applying nothing and caching nothing under the idempotency key.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after_s: u64,
    },
    /// Process normally, then wait this long before answering, so a client that times out has
    /// still had its write applied.
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Close the connection without answering; nothing is applied.
    Drop,
    /// Apply the write, then answer with this status (cached as the key's answer).
    ApplyThenStatus {
        /// HTTP status.
        status: u16,
    },
    /// Apply the write, then close the connection without answering. The real answer is
    /// cached under the idempotency key, so a keyed retry gets it.
    ApplyThenDrop,
}

/// A fault with its matcher and how many requests it still applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Which requests.
    #[serde(flatten)]
    pub matcher: FaultMatcher,
    /// What happens.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests it applies to (default 1).
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Fault {
    /// A fault for every request, once.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            matcher: FaultMatcher::default(),
            kind,
            count: 1,
        }
    }

    /// Only for this method.
    pub fn method(mut self, method: &str) -> Self {
        self.matcher.method = Some(method.to_owned());
        self
    }

    /// Only for paths starting with this.
    pub fn path_prefix(mut self, prefix: &str) -> Self {
        self.matcher.path_prefix = Some(prefix.to_owned());
        self
    }

    /// Only for this tenant.
    pub fn tenant(mut self, tenant: Uuid) -> Self {
        self.matcher.tenant = Some(tenant);
        self
    }

    /// For this many matching requests.
    pub fn times(mut self, count: u32) -> Self {
        self.count = count;
        self
    }
}

/// A queued fault with its id (for listing).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedFault {
    /// Id given when queued.
    pub id: u64,
    /// The fault; `count` is what is left.
    #[serde(flatten)]
    pub fault: Fault,
}

/// The fault queue; the first matching fault wins.
#[derive(Debug, Default)]
pub struct FaultQueue {
    queue: Vec<QueuedFault>,
    next_id: u64,
}

impl FaultQueue {
    /// Queues a fault and returns its id.
    pub fn push(&mut self, fault: Fault) -> u64 {
        self.next_id += 1;
        if fault.count > 0 {
            self.queue.push(QueuedFault {
                id: self.next_id,
                fault,
            });
        }
        self.next_id
    }

    /// Takes one use of the first fault matching the request.
    pub fn take(&mut self, method: &str, path: &str, tenant: Option<Uuid>) -> Option<FaultKind> {
        let index = self
            .queue
            .iter()
            .position(|q| q.fault.matcher.matches(method, path, tenant))?;
        let entry = &mut self.queue[index];
        entry.fault.count -= 1;
        let kind = entry.fault.kind.clone();
        if entry.fault.count == 0 {
            self.queue.remove(index);
        }
        Some(kind)
    }

    /// Faults still queued.
    pub fn pending(&self) -> Vec<QueuedFault> {
        self.queue.clone()
    }

    /// Empties the queue.
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

/// The answer an injected status sends: Xero-ish bodies for 500 and 503.
pub fn status_response(status: u16, body: Option<&str>) -> SimResponse {
    if let Some(body) = body {
        let mut response = SimResponse::text(status, body);
        if serde_json::from_str::<serde_json::Value>(body).is_ok() {
            response.content_type = crate::response::JSON;
        }
        return response;
    }
    match status {
        // The wording Xero's SDKs and integrators quote for unhandled errors.
        500 => SimResponse::problem(
            500,
            "An error occurred",
            "An error occurred in Xero. Check the API Status page http://status.developer.xero.com for current service status. Contact the API support team at api@xero.com for more assistance.",
        ),
        // "When the API is offline, you'll get just plain text" (old http-response-codes page).
        503 => SimResponse::text(503, "The Xero API is currently offline for maintenance"),
        other => SimResponse::problem(other, "Injected fault", "Injected by xero-sim"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_apply_to_matching_requests_the_given_number_of_times() {
        let mut queue = FaultQueue::default();
        queue.push(
            Fault::new(FaultKind::Status {
                status: 500,
                body: None,
            })
            .method("PUT")
            .path_prefix("/api.xro/2.0/Invoices")
            .times(2),
        );
        assert_eq!(queue.take("GET", "/api.xro/2.0/Invoices", None), None);
        assert!(queue.take("put", "/api.xro/2.0/invoices", None).is_some());
        assert!(queue.take("PUT", "/api.xro/2.0/Invoices/x", None).is_some());
        assert_eq!(queue.take("PUT", "/api.xro/2.0/Invoices", None), None);
    }

    #[test]
    fn faults_read_from_flat_json() {
        let fault: Fault = serde_json::from_str(
            r#"{"method":"PUT","path_prefix":"/api.xro/2.0/Invoices","kind":"apply_then_status","status":500,"count":1}"#,
        )
        .unwrap();
        assert_eq!(fault.kind, FaultKind::ApplyThenStatus { status: 500 });
    }
}
