//! The OAuth scopes the processor needs, in both of Xero's schemes (notes §6; the 2026 change
//! as apideck.com/blog/xero-scopes and docs.codat.io's Xero scopes page describe it; the
//! granular names are from secondary sources, UNSURE until an app is registered):
//!
//! | Endpoints the processor calls | granular (apps from 2 March 2026) | broad (older apps, until 13 September 2027) |
//! |---|---|---|
//! | Invoices, CreditNotes (and allocations) | `accounting.invoices` | `accounting.transactions` |
//! | Payments | `accounting.payments` | `accounting.transactions` |
//! | Contacts (read, create) | `accounting.contacts` | `accounting.contacts` |
//! | Accounts, TaxRates, Organisation, Items (read only) | `accounting.settings.read` | `accounting.settings.read` |
//! | Items (create, for shops in `inventory = "items"`) | `accounting.invoices` (UNSURE) | `accounting.settings` |
//! | BankTransfers, BankTransactions (for shops with `payouts = true`) | `accounting.banktransactions` (UNSURE for transfers) | `accounting.transactions` |
//!
//! `connect` asks for exactly one column, with `offline_access` for the refresh token, and
//! the rows for items and payouts only when a shop uses them ([`ScopeScheme::requested_for`]). Before
//! each call the token's granted scopes (the `scope` claim of Xero's JWT access tokens) are
//! checked, so a connection without a scope fails at once with what to do, instead of being
//! answered 401 (which looks like an expired token) or 403 by Xero.

use reqwest::Method;
use serde::Deserialize;

/// Which of Xero's scope schemes `connect` asks for (`[xero] scopes`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeScheme {
    /// Apps created on or after 2 March 2026 can only have these.
    #[default]
    Granular,
    /// Apps created before may ask for these until 13 September 2027.
    Broad,
}

impl ScopeScheme {
    /// What `connect` asks for when a shop is in `inventory = "items"` mode: also the scope
    /// that creates items (README "Inventory: items mode"). The granular `accounting.invoices`
    /// already covers items (UNSURE: as the simulator models it).
    pub fn requested_with_items(self) -> &'static str {
        match self {
            ScopeScheme::Granular => self.requested(),
            ScopeScheme::Broad => {
                "offline_access accounting.transactions accounting.contacts \
                 accounting.settings.read accounting.settings"
            }
        }
    }

    /// What `connect` asks for, given whether a shop is in `inventory = "items"` mode and
    /// whether one has `payouts = true`: a payout's transfer to the bank is a bank transfer or
    /// a bank transaction, which the granular scheme grants apart (`accounting.banktransactions`);
    /// the broad `accounting.transactions` already covers them.
    pub fn requested_for(self, items: bool, payouts: bool) -> String {
        let mut scopes = if items {
            self.requested_with_items()
        } else {
            self.requested()
        }
        .to_owned();
        if payouts && self == ScopeScheme::Granular {
            scopes.push_str(" accounting.banktransactions");
        }
        scopes
    }

    /// What `connect` asks for: exactly the scopes the processor uses.
    pub fn requested(self) -> &'static str {
        match self {
            ScopeScheme::Granular => {
                "offline_access accounting.invoices accounting.payments accounting.contacts \
                 accounting.settings.read"
            }
            ScopeScheme::Broad => {
                "offline_access accounting.transactions accounting.contacts \
                 accounting.settings.read"
            }
        }
    }
}

/// The scopes of which a call needs one: (granular, broad, any that also serves).
struct Need {
    granular: &'static str,
    broad: &'static str,
    also: &'static [&'static str],
}

fn need(method: &Method, path: &str) -> Option<Need> {
    let resource = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let read = method == Method::GET;
    let need = match (resource.as_str(), read) {
        ("invoices" | "creditnotes", true) => Need {
            granular: "accounting.invoices",
            broad: "accounting.transactions",
            also: &["accounting.invoices.read", "accounting.transactions.read"],
        },
        ("invoices" | "creditnotes", false) => Need {
            granular: "accounting.invoices",
            broad: "accounting.transactions",
            also: &[],
        },
        ("payments", true) => Need {
            granular: "accounting.payments",
            broad: "accounting.transactions",
            also: &["accounting.payments.read", "accounting.transactions.read"],
        },
        ("payments", false) => Need {
            granular: "accounting.payments",
            broad: "accounting.transactions",
            also: &[],
        },
        ("contacts", true) => Need {
            granular: "accounting.contacts",
            broad: "accounting.contacts",
            also: &["accounting.contacts.read"],
        },
        ("contacts", false) => Need {
            granular: "accounting.contacts",
            broad: "accounting.contacts",
            also: &[],
        },
        ("accounts" | "taxrates" | "organisation" | "currencies" | "items", true) => Need {
            granular: "accounting.settings.read",
            broad: "accounting.settings.read",
            // Items come with the invoices scope too.
            also: if resource == "items" {
                &[
                    "accounting.settings",
                    "accounting.invoices",
                    "accounting.invoices.read",
                ]
            } else {
                &["accounting.settings"]
            },
        },
        // Only shops with `payouts = true` move money between bank accounts.
        ("banktransactions" | "banktransfers", true) => Need {
            granular: "accounting.banktransactions",
            broad: "accounting.transactions",
            also: &[
                "accounting.banktransactions.read",
                "accounting.transactions.read",
            ],
        },
        ("banktransactions" | "banktransfers", false) => Need {
            granular: "accounting.banktransactions",
            broad: "accounting.transactions",
            also: &[],
        },
        // Only shops in `inventory = "items"` mode create items.
        ("items", false) => Need {
            granular: "accounting.invoices",
            broad: "accounting.settings",
            also: &["accounting.settings"],
        },
        _ => return None,
    };
    Some(need)
}

/// When `granted` (the token's scopes; empty when the token does not say) lacks what the call
/// needs: the scope to grant, named for `scheme` (and the other scheme's when it differs).
pub fn missing(
    granted: &[String],
    scheme: ScopeScheme,
    method: &Method,
    path: &str,
) -> Option<String> {
    if granted.is_empty() {
        return None;
    }
    let need = need(method, path)?;
    let has = |scope: &str| granted.iter().any(|g| g == scope);
    if has(need.granular) || has(need.broad) || need.also.iter().any(|s| has(s)) {
        return None;
    }
    let (mine, other) = match scheme {
        ScopeScheme::Granular => (need.granular, need.broad),
        ScopeScheme::Broad => (need.broad, need.granular),
    };
    Some(if mine == other {
        mine.to_owned()
    } else {
        format!("{mine} (or {other})")
    })
}

/// Every call the processor makes, by method and path.
const CALLS: &[(Method, &str)] = &[
    (Method::GET, "/Organisation"),
    (Method::GET, "/Accounts"),
    (Method::GET, "/TaxRates"),
    (Method::GET, "/Items"),
    (Method::GET, "/Contacts"),
    (Method::PUT, "/Contacts"),
    (Method::POST, "/Contacts"),
    (Method::GET, "/Invoices"),
    (Method::PUT, "/Invoices"),
    (Method::POST, "/Invoices/{id}"),
    (Method::GET, "/CreditNotes"),
    (Method::PUT, "/CreditNotes"),
    (Method::PUT, "/CreditNotes/{id}/Allocations"),
    (Method::GET, "/Payments"),
    (Method::PUT, "/Payments"),
    (Method::POST, "/Payments/{id}"),
];

/// The calls booking a payout makes beyond [`CALLS`] (`crate::payouts`): the transfer of the
/// deposit, and the look-up of one a retry may already have made. Apart, so a token without
/// them is only wrong for a shop with `payouts = true`.
const PAYOUT_CALLS: &[(Method, &str)] = &[
    (Method::GET, "/BankTransfers"),
    (Method::PUT, "/BankTransfers"),
    (Method::GET, "/BankTransactions"),
    (Method::PUT, "/BankTransactions"),
];

/// The scopes `granted` lacks for the processor's calls, each once (for `check`).
pub fn missing_for_processor(granted: &[String], scheme: ScopeScheme) -> Vec<String> {
    missing_for(granted, scheme, CALLS)
}

/// The scopes `granted` lacks for booking payouts, each once (for `check`, when a shop has
/// `payouts = true`).
pub fn missing_for_payouts(granted: &[String], scheme: ScopeScheme) -> Vec<String> {
    missing_for(granted, scheme, PAYOUT_CALLS)
}

fn missing_for(granted: &[String], scheme: ScopeScheme, calls: &[(Method, &str)]) -> Vec<String> {
    let mut missing_scopes: Vec<String> = Vec::new();
    for (method, path) in calls {
        if let Some(scope) = missing(granted, scheme, method, path)
            && !missing_scopes.contains(&scope)
        {
            missing_scopes.push(scope);
        }
    }
    missing_scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn what_connect_asks_for_covers_every_call_the_processor_makes_in_either_scheme() {
        for scheme in [ScopeScheme::Granular, ScopeScheme::Broad] {
            let granted = scopes(scheme.requested());
            assert_eq!(
                missing_for_processor(&granted, scheme),
                Vec::<String>::new(),
                "{scheme:?}"
            );
        }
        let granted = scopes("offline_access accounting.invoices");
        assert_eq!(
            missing_for_processor(&granted, ScopeScheme::Granular),
            [
                "accounting.settings.read",
                "accounting.contacts",
                "accounting.payments (or accounting.transactions)"
            ]
        );
        // Exactly: nothing is asked for that no call needs.
        let needed: Vec<&str> = ScopeScheme::Granular
            .requested()
            .split_whitespace()
            .collect();
        assert!(
            !needed.contains(&"accounting.settings"),
            "read-only settings suffice"
        );
    }

    #[test]
    fn a_missing_scope_is_named_in_the_configured_scheme_and_an_unknown_grant_is_not_judged() {
        let granted = scopes("offline_access accounting.invoices accounting.contacts");
        assert_eq!(
            missing(&granted, ScopeScheme::Granular, &Method::PUT, "/Payments").as_deref(),
            Some("accounting.payments (or accounting.transactions)")
        );
        assert_eq!(
            missing(&granted, ScopeScheme::Broad, &Method::GET, "/Accounts").as_deref(),
            Some("accounting.settings.read")
        );
        assert_eq!(
            missing(&granted, ScopeScheme::Granular, &Method::GET, "/Items"),
            None
        );
        // Creating items (items mode): the broad scheme needs `accounting.settings`, which
        // `connect` asks for when a shop is in items mode.
        let broad = scopes(ScopeScheme::Broad.requested());
        assert_eq!(
            missing(&broad, ScopeScheme::Broad, &Method::PUT, "/Items").as_deref(),
            Some("accounting.settings (or accounting.invoices)")
        );
        let broad = scopes(ScopeScheme::Broad.requested_with_items());
        assert_eq!(
            missing(&broad, ScopeScheme::Broad, &Method::PUT, "/Items"),
            None
        );
        let granular = scopes(ScopeScheme::Granular.requested_with_items());
        assert_eq!(
            missing(&granular, ScopeScheme::Granular, &Method::PUT, "/Items"),
            None
        );
        let read_only = scopes("accounting.transactions.read");
        assert_eq!(
            missing(
                &read_only,
                ScopeScheme::Broad,
                &Method::GET,
                "/BankTransfers"
            ),
            None
        );
        assert!(
            missing(
                &read_only,
                ScopeScheme::Broad,
                &Method::PUT,
                "/BankTransfers"
            )
            .is_some()
        );
        assert!(missing(&read_only, ScopeScheme::Broad, &Method::PUT, "/Invoices").is_some());
        assert_eq!(
            missing(&read_only, ScopeScheme::Broad, &Method::GET, "/Invoices"),
            None
        );
        assert_eq!(
            missing(&[], ScopeScheme::Granular, &Method::PUT, "/Payments"),
            None
        );
    }

    #[test]
    fn payouts_need_the_bank_transactions_scope_which_connect_asks_for_only_with_payouts() {
        let granular = scopes(ScopeScheme::Granular.requested());
        assert_eq!(
            missing_for_payouts(&granular, ScopeScheme::Granular),
            ["accounting.banktransactions (or accounting.transactions)"]
        );
        assert_eq!(
            missing(
                &granular,
                ScopeScheme::Granular,
                &Method::PUT,
                "/BankTransactions"
            )
            .as_deref(),
            Some("accounting.banktransactions (or accounting.transactions)")
        );
        for scheme in [ScopeScheme::Granular, ScopeScheme::Broad] {
            for items in [false, true] {
                let asked = scheme.requested_for(items, true);
                let granted = scopes(&asked);
                assert_eq!(
                    missing_for_payouts(&granted, scheme),
                    Vec::<String>::new(),
                    "{scheme:?} {asked}"
                );
                assert_eq!(
                    missing_for_processor(&granted, scheme),
                    Vec::<String>::new(),
                    "{scheme:?} {asked}"
                );
                if items {
                    assert_eq!(
                        missing(&granted, scheme, &Method::PUT, "/Items"),
                        None,
                        "{scheme:?} {asked}"
                    );
                }
                // Without payouts nothing is asked for that no call needs.
                assert_eq!(
                    scheme.requested_for(items, false),
                    if items {
                        scheme.requested_with_items()
                    } else {
                        scheme.requested()
                    }
                );
            }
        }
        // The broad scheme's transactions scope covers the transfers: nothing is added.
        assert_eq!(
            ScopeScheme::Broad.requested_for(false, true),
            ScopeScheme::Broad.requested()
        );
        // A shop without payouts is not judged by them.
        assert_eq!(
            missing_for_processor(&granular, ScopeScheme::Granular),
            Vec::<String>::new()
        );
    }
}
