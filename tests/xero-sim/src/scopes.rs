//! OAuth scopes: which an app may ask for, and which each Accounting endpoint needs.
//!
//! Two schemes (notes §6; developer.xero.com/documentation/oauth2/scopes; the 2026 change as
//! apideck.com/blog/xero-scopes and docs.codat.io's Xero scopes page describe it):
//! - broad: `accounting.transactions` covers Invoices, CreditNotes, Payments (and the other
//!   business transactions), `.read` its GETs; the spec's `security` lists these.
//! - granular, for apps created on or after 2 March 2026, which cannot ask for
//!   `accounting.transactions` or `accounting.reports.read`: `accounting.invoices` (credit
//!   notes, invoices, items, …), `accounting.payments` (payments, overpayments, prepayments,
//!   batch payments), `accounting.banktransactions`, `accounting.manualjournals`, each with a
//!   `.read`; older apps may ask for either kind until 13 September 2027.
//!
//! `accounting.contacts` and `accounting.settings` (Accounts, TaxRates, Organisation,
//! Currencies, Items) are the same in both; Items are reachable with `accounting.invoices`
//! too. Which scope names exist beyond these is UNSURE (the granular list is from secondary
//! sources), so only these are known; an unknown one is refused as Xero refuses one.

use serde::{Deserialize, Serialize};

/// Which scopes an app may ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeScheme {
    /// Created on or after 2 March 2026: granular scopes only.
    #[default]
    Granular,
    /// Created before: broad or granular.
    Broad,
}

/// The scopes only the broad scheme has.
const BROAD_ONLY: &[&str] = &[
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.reports.read",
];

/// Every scope name this simulator knows.
const KNOWN: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.invoices",
    "accounting.invoices.read",
    "accounting.payments",
    "accounting.payments.read",
    "accounting.banktransactions",
    "accounting.banktransactions.read",
    "accounting.manualjournals",
    "accounting.manualjournals.read",
    "accounting.contacts",
    "accounting.contacts.read",
    "accounting.settings",
    "accounting.settings.read",
    "accounting.attachments",
    "accounting.attachments.read",
    "accounting.journals.read",
    "accounting.reports.read",
    "accounting.budgets.read",
];

impl ScopeScheme {
    /// Every Accounting scope of the scheme that this simulator's endpoints need: what a test
    /// token or a Custom Connection gets unless told otherwise.
    pub fn full(self) -> &'static str {
        match self {
            ScopeScheme::Granular => {
                "accounting.invoices accounting.payments accounting.banktransactions accounting.contacts accounting.settings"
            }
            ScopeScheme::Broad => "accounting.transactions accounting.contacts accounting.settings",
        }
    }
}

/// The requested scopes, when the app may have every one of them; else the first it may not.
///
/// # Errors
/// The first scope that is unknown, or broad for a granular app.
pub fn check_requested(text: &str, scheme: ScopeScheme) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in text.split_whitespace() {
        let allowed = KNOWN.contains(&scope)
            && (scheme == ScopeScheme::Broad || !BROAD_ONLY.contains(&scope));
        if !allowed {
            return Err(scope.to_owned());
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    Ok(scopes)
}

/// The scopes of which an Accounting call needs one, by the resource (the first path segment,
/// any case) and whether it only reads; `None` for what this simulator does not serve.
pub fn required(method: &str, resource: &str) -> Option<&'static [&'static str]> {
    let read = method.eq_ignore_ascii_case("GET");
    let resource = resource.to_ascii_lowercase();
    Some(match (resource.as_str(), read) {
        ("accounts" | "taxrates" | "organisation" | "currencies", true) => {
            &["accounting.settings", "accounting.settings.read"]
        }
        ("accounts" | "taxrates" | "organisation" | "currencies", false) => {
            &["accounting.settings"]
        }
        ("contacts", true) => &["accounting.contacts", "accounting.contacts.read"],
        ("contacts", false) => &["accounting.contacts"],
        ("items", true) => &[
            "accounting.settings",
            "accounting.settings.read",
            "accounting.invoices",
            "accounting.invoices.read",
        ],
        ("items", false) => &["accounting.settings", "accounting.invoices"],
        ("invoices" | "creditnotes", true) => &[
            "accounting.transactions",
            "accounting.transactions.read",
            "accounting.invoices",
            "accounting.invoices.read",
        ],
        ("invoices" | "creditnotes", false) => &["accounting.transactions", "accounting.invoices"],
        ("payments", true) => &[
            "accounting.transactions",
            "accounting.transactions.read",
            "accounting.payments",
            "accounting.payments.read",
        ],
        ("payments", false) => &["accounting.transactions", "accounting.payments"],
        // Spend/receive money and transfers are bank transactions: `accounting.banktransactions`
        // in the granular scheme (notes §6; whether transfers fall under it is UNSURE, the
        // granular list being from secondary sources), `accounting.transactions` in the spec.
        ("banktransactions" | "banktransfers", true) => &[
            "accounting.transactions",
            "accounting.transactions.read",
            "accounting.banktransactions",
            "accounting.banktransactions.read",
        ],
        ("banktransactions" | "banktransfers", false) => {
            &["accounting.transactions", "accounting.banktransactions"]
        }
        _ => return None,
    })
}

/// Whether `granted` holds one of `needed`.
pub fn covers(granted: &[String], needed: &[&str]) -> bool {
    granted.iter().any(|g| needed.contains(&g.as_str()))
}

/// How Xero answers a token that lacks the endpoint's scope (notes §5; UNSURE which): a
/// `401` with `Detail: "AuthorizationUnsuccessful"`, as public reports of a missing scope show
/// it (XeroAPI/Xero-NetStandard#178, a missing `accounting.settings` on `GET /Accounts`;
/// XeroAPI/xero-ruby-oauth2-app#82), or the `403` secondary notes describe.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeRefusal {
    /// `401 Unauthorized`, `AuthorizationUnsuccessful`: what a client may take for an expired
    /// token, refresh, and get again.
    #[default]
    Unauthorized,
    /// `403 Forbidden`, `AuthorizationUnsuccessful`.
    Forbidden,
}

impl ScopeRefusal {
    /// The answer.
    pub fn response(self) -> crate::response::SimResponse {
        match self {
            ScopeRefusal::Unauthorized => crate::response::SimResponse::problem(
                401,
                "Unauthorized",
                "AuthorizationUnsuccessful",
            ),
            ScopeRefusal::Forbidden => {
                crate::response::SimResponse::problem(403, "Forbidden", "AuthorizationUnsuccessful")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_granular_app_cannot_ask_for_the_broad_scopes_and_unknown_ones_are_refused() {
        let granular = "offline_access accounting.invoices accounting.payments accounting.contacts";
        assert!(check_requested(granular, ScopeScheme::Granular).is_ok());
        assert!(check_requested(granular, ScopeScheme::Broad).is_ok());
        assert_eq!(
            check_requested("accounting.transactions", ScopeScheme::Granular),
            Err("accounting.transactions".to_owned())
        );
        assert!(check_requested("accounting.transactions", ScopeScheme::Broad).is_ok());
        assert_eq!(
            check_requested("accounting.everything", ScopeScheme::Broad),
            Err("accounting.everything".to_owned())
        );
    }

    #[test]
    fn either_scheme_satisfies_an_endpoint_and_read_scopes_only_reads() {
        let broad = vec!["accounting.transactions".to_owned()];
        let granular = vec!["accounting.invoices".to_owned()];
        let read = vec!["accounting.invoices.read".to_owned()];
        let need = |m, r| required(m, r).unwrap();
        assert!(covers(&broad, need("PUT", "Invoices")));
        assert!(covers(&granular, need("PUT", "Invoices")));
        assert!(covers(&read, need("GET", "Invoices")));
        assert!(!covers(&read, need("PUT", "Invoices")));
        assert!(
            !covers(&granular, need("PUT", "Payments")),
            "payments is its own scope"
        );
        assert!(covers(&broad, need("PUT", "Payments")));
        assert!(
            covers(&granular, need("GET", "Items")),
            "items come with invoices too"
        );
        assert!(!covers(&granular, need("GET", "Accounts")));
        assert_eq!(required("GET", "Journals"), None);
    }
}
