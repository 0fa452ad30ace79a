//! Setting a shop up and proving it works: connect the Xero organisations
//! ([`connect`], the OAuth2 authorization-code flow behind a small admin server), check every
//! connection, mapping, webhook secret and queue ([`check`]), and push one sample order
//! through the live path ([`test_transaction`]); and whether each shop's platform delivers the
//! webhooks it needs, putting right what the platform's API allows ([`webhooks`]).
//!
//! Each prints a report a person reads in ten seconds: one line per check, `✓` or `✗`, the
//! reason, and what to do next.

pub mod check;
pub mod cli;
pub mod connect;
pub mod plan;
pub mod test_transaction;
pub mod webhooks;

use serde::Serialize;

use crate::config::XeroAuthMode;
use crate::xero::client::XeroError;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, but someone should know.
    Warn,
    Fail,
    /// Not checked (say why in the detail).
    Skipped,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
            Status::Skipped => "-",
        }
    }
}

/// One line of a report.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub status: Status,
    /// What was checked: `Xero`, `shop acme`, `RabbitMQ`, …
    pub subject: String,
    pub detail: String,
    /// What to do about it; set on every failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// A list of checks, in the order they ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub lines: Vec<Line>,
}

impl Report {
    pub fn ok(&mut self, subject: impl Into<String>, detail: impl Into<String>) {
        self.push(Status::Ok, subject, detail, None);
    }

    pub fn warn(
        &mut self,
        subject: impl Into<String>,
        detail: impl Into<String>,
        next: impl Into<String>,
    ) {
        self.push(Status::Warn, subject, detail, Some(next.into()));
    }

    pub fn fail(
        &mut self,
        subject: impl Into<String>,
        detail: impl Into<String>,
        next: impl Into<String>,
    ) {
        self.push(Status::Fail, subject, detail, Some(next.into()));
    }

    pub fn skip(
        &mut self,
        subject: impl Into<String>,
        detail: impl Into<String>,
        next: impl Into<String>,
    ) {
        self.push(Status::Skipped, subject, detail, Some(next.into()));
    }

    fn push(
        &mut self,
        status: Status,
        subject: impl Into<String>,
        detail: impl Into<String>,
        next: Option<String>,
    ) {
        self.lines.push(Line {
            status,
            subject: subject.into(),
            detail: detail.into(),
            next,
        });
    }

    /// No check failed (warnings and skipped checks pass).
    pub fn passed(&self) -> bool {
        self.failures().next().is_none()
    }

    pub fn failures(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| l.status == Status::Fail)
    }

    /// For people: one line per check, aligned, with a closing verdict.
    pub fn render_text(&self) -> String {
        let width = self
            .lines
            .iter()
            .map(|l| l.subject.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        for line in &self.lines {
            let pad = width - line.subject.chars().count();
            out.push_str(&format!(
                "{} {}{}  {}",
                line.status.mark(),
                line.subject,
                " ".repeat(pad),
                line.detail
            ));
            if let Some(next) = &line.next
                && line.status != Status::Ok
            {
                out.push_str(&format!(" → {next}"));
            }
            out.push('\n');
        }
        let failed = self.failures().count();
        if failed == 0 {
            out.push_str("All checks passed.\n");
        } else {
            out.push_str(&format!(
                "{failed} check{} failed; fix what the ✗ lines say, then run `xcs-processor check` again.\n",
                if failed == 1 { "" } else { "s" }
            ));
        }
        out
    }

    /// For scripts: `{"passed": bool, "checks": [{status, subject, detail, next}]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "passed": self.passed(), "checks": self.lines })
    }
}

/// What a Xero failure means for the person running the command, and what to do next.
pub fn explain_xero(err: &XeroError, mode: XeroAuthMode) -> (String, String) {
    let reconnect = "run `xcs-processor connect --listen ADDR` and open /xero/connect in a \
                     browser to connect the organisation again";
    match (err, mode) {
        // Before any stored token is blamed: a wrong secret fails the same way in both modes,
        // and connecting again would only fail again.
        (XeroError::ClientRejected, _) => (
            "Xero's identity service refused the app's client id or secret (invalid_client)".into(),
            "set [xero] client_id and client_secret (or XCS_XERO_CLIENT_SECRET) to the app's at \
             developer.xero.com/app/manage (generate a new secret there if it is lost), then run \
             check again; connecting the organisation again does not help"
                .into(),
        ),
        (XeroError::Unauthorized(detail), XeroAuthMode::CustomConnection) => (
            format!("Xero refused the Custom Connection's credentials ({detail})"),
            "check [xero] client_id and client_secret (or XCS_XERO_CLIENT_SECRET) against the \
             Custom Connection at developer.xero.com/app/manage"
                .into(),
        ),
        (XeroError::Unauthorized(detail), XeroAuthMode::Oauth) => (
            format!("Xero refused the stored tokens ({detail})"),
            reconnect.into(),
        ),
        (XeroError::Forbidden(_), XeroAuthMode::CustomConnection) => (
            "the Custom Connection does not reach this organisation (a Custom Connection \
             serves exactly one)"
                .into(),
            "set the shop's tenant to the Custom Connection's organisation, or use an OAuth app \
             (auth = \"oauth\") for several organisations"
                .into(),
        ),
        (XeroError::Forbidden(_), XeroAuthMode::Oauth) => (
            "this organisation is not connected to the app (or the app lacks a scope)".into(),
            format!("{reconnect}, and tick this organisation on Xero's consent page"),
        ),
        (XeroError::Token(detail), XeroAuthMode::Oauth) if detail.contains("connect it first") => {
            ("no Xero tokens are stored yet".into(), reconnect.into())
        }
        (XeroError::Token(detail), _) => (
            format!("cannot obtain an access token ({detail})"),
            "check [xero] identity_base and that Xero's identity service is reachable".into(),
        ),
        (XeroError::Transport(detail), _) => (
            format!("cannot reach Xero ({detail})"),
            "check [xero] api_base and the network (proxy, firewall, DNS)".into(),
        ),
        (XeroError::RateLimited { retry_after, .. }, _) => (
            "Xero's rate limit is reached for this organisation".into(),
            format!(
                "wait {} s and run the command again",
                retry_after.as_secs().max(1)
            ),
        ),
        (other, _) => (
            other.to_string(),
            "run the command again; if it persists, check status.developer.xero.com".into(),
        ),
    }
}
