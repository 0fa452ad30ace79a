//! The seed: which apps may connect and which organisations (tenants) exist, with their chart of
//! accounts, tax rates and optional starting contacts and items. Field names follow Xero's
//! PascalCase so a seed reads like `GET /Accounts` output. The format is documented in the
//! crate README.

use std::path::Path;

use anyhow::Context;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The demo seed shipped with the crate (`seed/demo-company.json`).
pub const DEMO_SEED_JSON: &str = include_str!("../seed/demo-company.json");

/// Tenant id of "Demo Company (NZ)" in the demo seed (base NZD, GST 15% as `OUTPUT2`).
pub const DEMO_NZ_TENANT_ID: Uuid = Uuid::from_u128(0xa3a6c1f2_4d0b_4f59_9c1e_5b7e2f1d9a01);
/// Tenant id of "Demo Company (AU)" in the demo seed (base AUD, GST 10% as `OUTPUT`).
pub const DEMO_AU_TENANT_ID: Uuid = Uuid::from_u128(0xb7e2d3c4_8a1f_4e6b_a2d9_3c5f7e9b1a02);
/// The demo seed's authorization-code app.
pub const DEMO_APP_CLIENT_ID: &str = "xcs-demo-app";
/// Its secret.
pub const DEMO_APP_CLIENT_SECRET: &str = "xcs-demo-app-secret";
/// The demo seed's Custom Connection app, bound to the NZ tenant.
pub const CUSTOM_CONNECTION_CLIENT_ID: &str = "xcs-custom-connection";
/// Its secret.
pub const CUSTOM_CONNECTION_CLIENT_SECRET: &str = "xcs-custom-connection-secret";

/// Namespace for ids the simulator derives (extra tenants, account ids), so they are stable
/// across runs and tests can predict them.
const SIM_NAMESPACE: Uuid = Uuid::from_u128(0x5e0c_6b1d_7f3a_4c2e_9d8b_1a2f_3e4d_5c6b);

/// A whole seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Seed {
    /// OAuth clients that may connect.
    pub apps: Vec<SeedApp>,
    /// Organisations.
    pub tenants: Vec<SeedTenant>,
}

/// An OAuth client (a Xero "app").
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedApp {
    /// `client_id`.
    pub client_id: String,
    /// `client_secret`.
    pub client_secret: String,
    /// Display name (shown nowhere but the store snapshot).
    #[serde(default)]
    pub name: Option<String>,
    /// Redirect URIs registered for the authorization-code flow (exact match).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Also accept any `http://localhost…` / `http://127.0.0.1…` redirect (real Xero does not;
    /// convenient for local runs and tests on random ports).
    #[serde(default)]
    pub allow_localhost_redirects: bool,
    /// Set for a Custom Connection: the one tenant its `client_credentials` tokens reach.
    #[serde(default)]
    pub custom_connection_tenant: Option<Uuid>,
    /// Which scopes the app may ask for: `Granular` for an app created on or after 2 March
    /// 2026 (the default), `Broad` for an older one, which may ask for either kind until the
    /// broad ones stop on 13 September 2027 (see [`crate::scopes`]).
    #[serde(default)]
    pub scope_scheme: crate::scopes::ScopeScheme,
    /// A Custom Connection's scopes, space-separated, chosen when it was created and fixed
    /// since; by default every Accounting scope of its scheme this simulator serves.
    #[serde(default)]
    pub custom_connection_scopes: Option<String>,
}

/// An organisation.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedTenant {
    /// The `xero-tenant-id`.
    pub tenant_id: Uuid,
    /// Organisation name (`tenantName` in `/connections`).
    pub name: String,
    /// Short code, as in Xero deep links.
    #[serde(default)]
    pub short_code: Option<String>,
    /// Two-letter country code.
    #[serde(default)]
    pub country_code: Option<String>,
    /// Base currency, e.g. `NZD`.
    pub base_currency: String,
    /// Subscribed currencies (the base currency is added if missing).
    #[serde(default)]
    pub currencies: Vec<String>,
    /// Chart of accounts.
    pub accounts: Vec<SeedAccount>,
    /// Tax rates.
    pub tax_rates: Vec<SeedTaxRate>,
    /// Starting contacts, as Xero contact JSON (`Name`, `EmailAddress`, `ContactNumber`, …).
    #[serde(default)]
    pub contacts: Vec<Value>,
    /// Starting items, as Xero item JSON.
    #[serde(default)]
    pub items: Vec<Value>,
    /// The organisation's plan: approvals per month and calls per day (see [`crate::plan`]).
    #[serde(default)]
    pub plan: crate::plan::Plan,
}

/// An account in the chart of accounts.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedAccount {
    /// Derived from the tenant and code when absent.
    #[serde(rename = "AccountID", default)]
    pub account_id: Option<Uuid>,
    /// Account code, e.g. `200`.
    pub code: String,
    /// Name.
    pub name: String,
    /// Xero account type: `BANK`, `CURRENT`, `REVENUE`, `OVERHEADS`, …
    #[serde(rename = "Type")]
    pub account_type: String,
    /// `ACTIVE` (default), `ARCHIVED` or `DELETED`.
    #[serde(default = "active")]
    pub status: String,
    /// Default tax type for lines on this account.
    #[serde(default)]
    pub tax_type: Option<String>,
    /// "Enable payments to this account": what makes a clearing account payable.
    #[serde(default)]
    pub enable_payments_to_account: bool,
    /// `DEBTORS`, `CREDITORS`, `GST`, `ROUNDING`, …
    #[serde(default)]
    pub system_account: Option<String>,
    /// For BANK accounts: `BANK`, `CREDITCARD`, `PAYPAL`.
    #[serde(default)]
    pub bank_account_type: Option<String>,
    /// `ASSET`, `LIABILITY`, `EQUITY`, `EXPENSE`, `REVENUE`; derived from the type when absent.
    #[serde(default)]
    pub class: Option<String>,
    /// For BANK accounts; the base currency when absent.
    #[serde(default)]
    pub currency_code: Option<String>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// A tax rate.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SeedTaxRate {
    /// The code lines use, e.g. `OUTPUT2`.
    pub tax_type: String,
    /// Display name, e.g. `15% GST on Income`.
    pub name: String,
    /// `ACTIVE` (default), `ARCHIVED`, `DELETED`.
    #[serde(default = "active")]
    pub status: String,
    /// Percent, e.g. 15.
    pub effective_rate: Decimal,
    /// Percent as displayed; the effective rate when absent.
    #[serde(default)]
    pub display_tax_rate: Option<Decimal>,
    /// Report tax type; the tax type when absent.
    #[serde(default)]
    pub report_tax_type: Option<String>,
    /// May be used on revenue accounts.
    #[serde(default = "yes")]
    pub can_apply_to_revenue: bool,
    /// May be used on expense accounts.
    #[serde(default = "yes")]
    pub can_apply_to_expenses: bool,
    /// May be used on asset accounts.
    #[serde(default = "yes")]
    pub can_apply_to_assets: bool,
    /// May be used on liability accounts.
    #[serde(default = "yes")]
    pub can_apply_to_liabilities: bool,
    /// May be used on equity accounts.
    #[serde(default = "yes")]
    pub can_apply_to_equity: bool,
    /// Components, echoed as given.
    #[serde(default)]
    pub tax_components: Vec<Value>,
}

fn active() -> String {
    "ACTIVE".to_owned()
}

fn yes() -> bool {
    true
}

impl Seed {
    /// The shipped demo seed.
    pub fn demo() -> Self {
        Self::from_json(DEMO_SEED_JSON).expect("the shipped demo seed parses")
    }

    /// Parses and checks a seed.
    ///
    /// # Errors
    /// When the JSON does not match the format, or references are inconsistent.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let seed: Seed =
            serde_json::from_str(text).context("seed JSON does not match the format")?;
        seed.check()?;
        Ok(seed)
    }

    /// Reads a seed file.
    ///
    /// # Errors
    /// When the file cannot be read or is not a valid seed.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read seed file {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("in seed file {}", path.display()))
    }

    fn check(&self) -> anyhow::Result<()> {
        for app in &self.apps {
            if let Some(tenant) = app.custom_connection_tenant {
                anyhow::ensure!(
                    self.tenants.iter().any(|t| t.tenant_id == tenant),
                    "app {} is a Custom Connection to unknown tenant {tenant}",
                    app.client_id
                );
            }
        }
        for tenant in &self.tenants {
            let mut codes: Vec<&str> = tenant.accounts.iter().map(|a| a.code.as_str()).collect();
            codes.sort_unstable();
            codes.dedup();
            anyhow::ensure!(
                codes.len() == tenant.accounts.len(),
                "tenant {} has duplicate account codes",
                tenant.name
            );
        }
        Ok(())
    }

    /// Adds `n` copies of the first tenant with new, predictable ids (for benchmarks that need
    /// many organisations). Copy `i` (1-based) is named "<name> #i".
    pub fn with_extra_tenants(mut self, n: usize) -> Self {
        let Some(template) = self.tenants.first().cloned() else {
            return self;
        };
        for i in 1..=n {
            let mut copy = template.clone();
            copy.tenant_id = extra_tenant_id(i);
            copy.name = format!("{} #{i}", template.name);
            copy.short_code = None;
            for account in &mut copy.accounts {
                account.account_id = None;
            }
            self.tenants.push(copy);
        }
        self
    }
}

/// The id of the `i`-th (1-based) extra tenant added by [`Seed::with_extra_tenants`].
pub fn extra_tenant_id(i: usize) -> Uuid {
    Uuid::new_v5(&SIM_NAMESPACE, format!("extra-tenant-{i}").as_bytes())
}

/// A stable id for a seeded record (accounts), so ids survive a reset.
pub(crate) fn derived_id(tenant: Uuid, kind: &str, key: &str) -> Uuid {
    Uuid::new_v5(&SIM_NAMESPACE, format!("{tenant}/{kind}/{key}").as_bytes())
}

/// Xero's account class for an account type.
pub(crate) fn class_for_type(account_type: &str) -> &'static str {
    match account_type {
        "BANK" | "CURRENT" | "FIXED" | "INVENTORY" | "NONCURRENT" | "PREPAYMENT" => "ASSET",
        "CURRLIAB" | "LIABILITY" | "TERMLIAB" => "LIABILITY",
        "EQUITY" => "EQUITY",
        "REVENUE" | "SALES" | "OTHERINCOME" => "REVENUE",
        _ => "EXPENSE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_seed_has_both_organisations_and_both_apps() {
        let seed = Seed::demo();
        let ids: Vec<Uuid> = seed.tenants.iter().map(|t| t.tenant_id).collect();
        assert_eq!(ids, vec![DEMO_NZ_TENANT_ID, DEMO_AU_TENANT_ID]);
        assert!(seed.apps.iter().any(|a| a.client_id == DEMO_APP_CLIENT_ID));
        assert!(
            seed.apps
                .iter()
                .any(|a| a.client_id == CUSTOM_CONNECTION_CLIENT_ID
                    && a.custom_connection_tenant == Some(DEMO_NZ_TENANT_ID))
        );
    }

    #[test]
    fn extra_tenants_clone_the_first_with_predictable_ids() {
        let seed = Seed::demo().with_extra_tenants(3);
        assert_eq!(seed.tenants.len(), 5);
        assert_eq!(seed.tenants[4].tenant_id, extra_tenant_id(3));
        assert_eq!(seed.tenants[4].name, "Demo Company (NZ) #3");
    }
}
