//! `xcs-processor check`: proves the setup before the first real order arrives.
//!
//! - PostgreSQL: the ledger is reachable and its schema up to date.
//! - Xero: a token can be had (Custom Connection) or is stored (OAuth), and every tenant a
//!   shop books into answers `GET /Organisation`.
//! - Xero's identity service accepts the app's client id and secret now: a Custom Connection
//!   is granted a token, an OAuth connection's token is refreshed (and the rotated tokens
//!   stored). A stored access token that is still valid would hide a wrong secret until it
//!   expires. The token's scopes cover every call the processor makes, and with a shop in
//!   `inventory = "items"` mode the one that creates items (the `Xero items scope` line).
//! - Each shop's mapping against the live chart of accounts, tax rates and items: every code
//!   exists, is ACTIVE and has a type that fits its role; payments land in a BANK account or
//!   one with payments enabled; every tax type exists, is ACTIVE and applies to the account
//!   class it is used on; every item code of `items` is one of the organisation's items.
//!   Values the config leaves to their default are reported as defaults.
//! - A shop in `inventory = "tracked"` mode: its inventory, cost of goods sold and adjustment
//!   accounts exist, are ACTIVE and of the types Xero needs, and every item code whose stock the
//!   ledger knows for it is a tracked item in Xero ([`check_tracked_accounts`],
//!   [`check_tracked_items`]).
//! - Webhook secrets, from the ingress's own config (`--ingress-config`), which the processor's
//!   config does not hold.
//! - Webhook subscriptions, with `[webhooks] public_url`: each shop's, read from its platform's
//!   API as `xcs-processor webhooks check` reads them (one line per shop; [`super::webhooks`]).
//! - RabbitMQ: every exchange and queue of `xcs_shared::topology` exists (passive declares).

use std::collections::BTreeMap;
use std::path::PathBuf;

use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use reqwest::Method;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use xcs_shared::amqp_connect::ConnectFailure;
use xcs_shared::ingress_shops::IngressShops;
use xcs_shared::platform::WebhookKeys;
use xcs_shared::topology;

use super::{Report, explain_xero};
use crate::config::{Config, InventoryMode, XeroAuthMode};
use crate::error::ProcessError;
use crate::ledger::{Ledger, LedgerFailure};
use crate::mapping::ShopMapping;
use crate::payouts::mapping::PayoutMapping;
use crate::xero::client::{OAUTH_CONNECTION, XeroClient};

/// What `check` looks at besides the processor's config.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The ingress's config file, for the webhook secrets.
    pub ingress_config: Option<PathBuf>,
}

/// A Xero organisation as `check` saw it.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    pub accounts: Vec<Value>,
    pub tax_rates: Vec<Value>,
    /// `GET /Items`, fetched only when a shop of the organisation maps SKUs to items or is in
    /// `inventory = "tracked"` mode.
    pub items: Vec<Value>,
}

/// Runs every check. Never fails itself: whatever goes wrong is a line of the report.
pub async fn run(config: &Config, options: &CheckOptions) -> Report {
    let mut report = Report::default();
    let ledger = check_postgres(config, &mut report).await;
    if let Some(ledger) = ledger {
        super::plan::check(config, &ledger, &mut report).await;
        check_xero(config, ledger, &mut report).await;
    }
    check_webhooks(config, options, &mut report);
    check_platform_apis(config, &mut report).await;
    check_webhook_subscriptions(config, options, &mut report).await;
    check_topology(config, &mut report).await;
    report
}

/// Each shop's platform API, with the call the processor tells wrong settings by: a base URL,
/// API version or store that reaches no API fails here, before its events are dead-lettered.
async fn check_platform_apis(config: &Config, report: &mut Report) {
    let fetcher = crate::platforms::api::Fetcher::default();
    for (name, shop) in &config.shops {
        let Some(api) = &shop.api else {
            continue;
        };
        let subject = format!("platform api {name}");
        match fetcher.probe(shop.platform, api).await {
            Ok(()) => report.ok(
                subject,
                format!(
                    "the {} API answers at {}",
                    shop.platform.display_name(),
                    api.base_url
                ),
            ),
            Err(err) => {
                let next = match &err {
                    ProcessError::PlatformCredentials(_) => format!(
                        "set [shops.{name}.api] token (and key) to credentials the store accepts \
                         (or {}API_TOKEN / _API_KEY)",
                        xcs_shared::shop_env_prefix(name)
                    ),
                    ProcessError::Hydration(_) => {
                        "the API is unreachable or failing now; check base_url and try again"
                            .to_owned()
                    }
                    _ => format!(
                        "fix [shops.{name}.api] base_url (and api_version for Shopify), then run \
                         check again"
                    ),
                };
                report.fail(subject, err.to_string(), next);
            }
        }
    }
}

/// Each shop's webhook subscriptions, as `webhooks check` sees them: a shop that needs a person
/// fails, one with a warning (a manual platform's step, another address also subscribed) warns.
async fn check_webhook_subscriptions(config: &Config, options: &CheckOptions, report: &mut Report) {
    use super::webhooks::{self, Outcome, Verdict};
    if config.webhooks.public_url.is_none() {
        report.skip(
            "webhook subscriptions",
            "not checked: [webhooks] public_url (the ingress's public base URL) is not set",
            "set it (or XCS_WEBHOOKS_PUBLIC_URL) to check every shop's subscriptions with its \
             platform's API",
        );
        return;
    }
    // A broken ingress config is already a failed line of its own (check_webhooks).
    let ingress = options
        .ingress_config
        .as_deref()
        .and_then(|path| IngressShops::load(path).ok());
    let fetcher = crate::platforms::api::Fetcher::default();
    for (name, shop) in &config.shops {
        let health = webhooks::shop_health(
            config,
            &fetcher,
            name,
            shop,
            ingress.as_ref().map(|i| i.get(name)),
        )
        .await;
        let subject = format!("webhook subscriptions {name}");
        let (detail, next) = health.summary();
        match (health.verdict(), &health.outcome) {
            (_, Outcome::NotChecked { .. }) if shop.api.is_none() => {
                report.skip(subject, detail, next.unwrap_or_default())
            }
            (Verdict::Healthy, _) => report.ok(subject, detail),
            (Verdict::Warning, _) => report.warn(subject, detail, next.unwrap_or_default()),
            (Verdict::NeedsPerson, _) => report.fail(
                subject,
                detail,
                next.unwrap_or_else(|| "run `xcs-processor webhooks check`".to_owned()),
            ),
        }
    }
}

async fn check_postgres(config: &Config, report: &mut Report) -> Option<Ledger> {
    let schema = &config.postgres.schema;
    match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        Ledger::connect(&config.postgres),
    )
    .await
    {
        Ok(Ok(ledger)) => {
            report.ok(
                "PostgreSQL",
                format!("ledger in schema {schema} reachable and up to date"),
            );
            Some(ledger)
        }
        failed => {
            let why = match failed {
                Ok(Err(err)) => LedgerFailure::of(&err, &config.postgres).message,
                _ => format!(
                    "no answer within 15 s: check that PostgreSQL is running and reachable, \
                     and the host and port in {}",
                    crate::ledger::failure::SETTING
                ),
            };
            report.fail(
                "PostgreSQL",
                why,
                "the processor records every booking in the ledger: fix what the line says, \
                 then run check again",
            );
            // The Xero checks can still run for a Custom Connection; OAuth tokens live in the
            // ledger, so those fail on their own with the same cause.
            Ledger::lazy(&config.postgres).ok()
        }
    }
}

async fn check_xero(config: &Config, ledger: Ledger, report: &mut Report) {
    let mode = config.xero.auth;
    let xero = match XeroClient::new(&config.xero, ledger.clone()) {
        Ok(xero) => xero,
        Err(err) => {
            report.fail(
                "Xero",
                format!("cannot build the HTTP client ({err})"),
                "check the machine's TLS setup",
            );
            return;
        }
    };
    match mode {
        XeroAuthMode::CustomConnection => check_credentials(&xero, mode, config, report).await,
        XeroAuthMode::Oauth => match ledger.has_token(OAUTH_CONNECTION).await {
            Ok(true) => {
                let connected = ledger.connections().await.unwrap_or_default();
                report.ok(
                    "Xero",
                    format!(
                        "OAuth tokens stored; {} organisation{} connected",
                        connected.len(),
                        if connected.len() == 1 { "" } else { "s" }
                    ),
                );
                check_credentials(&xero, mode, config, report).await;
            }
            Ok(false) => {
                report.fail(
                    "Xero",
                    "OAuth mode, but no organisation has been connected yet",
                    "run `xcs-processor connect --listen ADDR` and open /xero/connect in a \
                     browser",
                );
                skip_shops(config, report, "Xero is not connected");
                return;
            }
            Err(_) => {
                skip_shops(config, report, "the OAuth tokens live in the ledger");
                return;
            }
        },
    }

    let mut tenants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, shop) in &config.shops {
        tenants.entry(&shop.tenant).or_default().push(name);
    }
    for (tenant, shops) in tenants {
        let subject = format!("Xero tenant {}", short(tenant));
        let wants_items = shops.iter().any(|shop| {
            let shop = &config.shops[*shop];
            !shop.mapping.items.is_empty() || shop.inventory == InventoryMode::Tracked
        });
        let organisation = match fetch_organisation(&xero, tenant, wants_items).await {
            Ok(organisation) => organisation,
            Err(err) => {
                let (detail, next) = explain_xero(&err, mode);
                report.fail(subject, format!("{tenant}: {detail}"), next);
                for shop in shops {
                    report.skip(
                        format!("shop {shop}"),
                        "mapping not checked: its Xero organisation is unreachable",
                        "fix the Xero line above first",
                    );
                }
                continue;
            }
        };
        report.ok(
            subject,
            format!(
                "{} reachable ({} accounts, {} tax rates); shops: {}",
                organisation.name,
                organisation.accounts.len(),
                organisation.tax_rates.len(),
                shops.join(", ")
            ),
        );
        for shop in shops {
            let mapping = &config.shops[shop].mapping;
            let subject = format!("shop {shop}");
            let mut findings = check_mapping(mapping, &organisation);
            let mut payouts = String::new();
            if config.shops[shop].payouts
                && let Some(payout_mapping) = &mapping.payouts
            {
                let checked = check_payout_mapping(mapping, payout_mapping, &organisation);
                findings.extend(checked.findings);
                payouts = format!("; {}", checked.summary);
            }
            let mut tracked = String::new();
            if config.shops[shop].inventory == InventoryMode::Tracked {
                findings.extend(check_tracked_accounts(mapping, &organisation));
                match crate::reconcile::stock::ledger_codes(&ledger, shop, &config.shops[shop])
                    .await
                {
                    Ok(codes) => {
                        tracked = format!(
                            "; tracked inventory: 3 accounts, {} item codes in the ledger",
                            codes.len()
                        );
                        findings.extend(check_tracked_items(shop, &codes, &organisation));
                    }
                    Err(err) => findings.push(Finding {
                        detail: format!(
                            "the SKUs whose stock the ledger knows could not be read ({err:#}), \
                             so their Xero items were not checked"
                        ),
                        next: "fix the PostgreSQL line above, then run check again".into(),
                        warning: true,
                    }),
                }
            }
            let (roles, taxes) = counts(mapping);
            if findings.is_empty() {
                let items = if mapping.items.is_empty() {
                    String::new()
                } else {
                    format!(", {} item codes", mapping.items.len())
                };
                let defaults = defaults_used(mapping);
                let defaults = if defaults.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", defaults.join("; "))
                };
                report.ok(
                    subject.clone(),
                    format!(
                        "mapping fits {}: {roles} accounts and {taxes} tax types{items}{defaults}{tracked}{payouts}",
                        organisation.name
                    ),
                );
            }
            for finding in findings {
                if finding.warning {
                    report.warn(subject.clone(), finding.detail, finding.next);
                } else {
                    report.fail(subject.clone(), finding.detail, finding.next);
                }
            }
        }
    }
}

/// Proves the app's client id and secret with the identity service now (see the module
/// documentation): one line, `Xero credentials`, whose failure names the real cause; then the
/// token's scopes, and with a shop in `inventory = "items"` mode the scope that creates items.
async fn check_credentials(
    xero: &XeroClient,
    mode: XeroAuthMode,
    config: &Config,
    report: &mut Report,
) {
    let scheme = config.xero.scopes;
    let subject = "Xero credentials";
    match xero.token_info(true).await {
        Ok(info) => {
            let how = match mode {
                XeroAuthMode::CustomConnection => "granted a Custom Connection token",
                XeroAuthMode::Oauth => {
                    "refreshed the OAuth token (the rotated tokens are stored, as the processor \
                     stores them)"
                }
            };
            let until = info
                .expires_at
                .and_then(|at| {
                    at.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
                .map_or_else(String::new, |at| format!("; valid until {at}"));
            let scopes = if info.scopes.is_empty() {
                String::new()
            } else {
                format!("; scopes {}", info.scopes.join(" "))
            };
            report.ok(
                subject,
                format!("Xero accepted the client id and secret: {how}{until}{scopes}"),
            );
            let missing = crate::xero::scopes::missing_for_processor(&info.scopes, scheme);
            if !missing.is_empty() {
                let fix = match mode {
                    XeroAuthMode::Oauth => {
                        "connect again with `xcs-processor connect`, which asks for them ([xero] \
                         scopes = \"granular\" or \"broad\", as the app allows)"
                    }
                    XeroAuthMode::CustomConnection => {
                        "add them to the Custom Connection at developer.xero.com/app/manage"
                    }
                };
                report.fail(
                    "Xero scopes",
                    format!(
                        "the token was not granted {}, which the processor needs",
                        missing.join(", ")
                    ),
                    fix.to_owned(),
                );
            }
            check_items_scope(&info.scopes, mode, config, report);
            check_payouts_scope(&info.scopes, mode, config, report);
        }
        Err(err) => {
            let (detail, next) = explain_xero(&err, mode);
            report.fail(subject, detail, next);
        }
    }
}

/// With a shop in `inventory = "items"` mode: whether the token (its `granted` scopes) may
/// create items (`PUT /Items`), one line, `Xero items scope`.
fn check_items_scope(granted: &[String], mode: XeroAuthMode, config: &Config, report: &mut Report) {
    let shops: Vec<&str> = config
        .shops
        .iter()
        .filter(|(_, shop)| shop.inventory == crate::config::InventoryMode::Items)
        .map(|(name, _)| name.as_str())
        .collect();
    if shops.is_empty() {
        return;
    }
    let subject = "Xero items scope";
    let shops = shops.join(", ");
    if granted.is_empty() {
        report.skip(
            subject,
            format!(
                "not checked: the token does not name its scopes; shops in inventory = \"items\" \
                 mode ({shops}) create items"
            ),
            "if the first order of such a shop is dead-lettered as xero_missing_scope, grant the \
             scope it names",
        );
        return;
    }
    match crate::xero::scopes::missing(granted, config.xero.scopes, &Method::PUT, "/Items") {
        None => report.ok(
            subject,
            format!(
                "the token may create items for the shops in inventory = \"items\" mode ({shops})"
            ),
        ),
        Some(scope) => {
            let fix = match mode {
                XeroAuthMode::Oauth => format!(
                    "connect again with `xcs-processor connect`, which asks for {scope} when a \
                     shop is in items mode, or set inventory = \"off\" for {shops}"
                ),
                XeroAuthMode::CustomConnection => format!(
                    "add {scope} to the Custom Connection at developer.xero.com/app/manage, or \
                     set inventory = \"off\" for {shops}"
                ),
            };
            report.fail(
                subject,
                format!(
                    "the token was not granted {scope}, which creating items needs: shops in \
                     inventory = \"items\" mode ({shops}) would have every order with a new SKU \
                     dead-lettered as xero_missing_scope"
                ),
                fix,
            );
        }
    }
}

/// With a shop with `payouts = true`: whether the token (its `granted` scopes) may make and
/// find the bank transfers and bank transactions that move each deposit to the bank, one line,
/// `Xero payouts scope`.
fn check_payouts_scope(
    granted: &[String],
    mode: XeroAuthMode,
    config: &Config,
    report: &mut Report,
) {
    let shops: Vec<&str> = config
        .shops
        .iter()
        .filter(|(_, shop)| shop.payouts)
        .map(|(name, _)| name.as_str())
        .collect();
    if shops.is_empty() {
        return;
    }
    let subject = "Xero payouts scope";
    let shops = shops.join(", ");
    if granted.is_empty() {
        report.skip(
            subject,
            format!(
                "not checked: the token does not name its scopes; shops with payouts = true \
                 ({shops}) make bank transfers or bank transactions"
            ),
            "if the first payout of such a shop is dead-lettered as xero_missing_scope, grant \
             the scope it names",
        );
        return;
    }
    let missing = crate::xero::scopes::missing_for_payouts(granted, config.xero.scopes);
    if missing.is_empty() {
        report.ok(
            subject,
            format!(
                "the token may book the payouts of the shops with payouts = true ({shops}): bank \
                 transfers and bank transactions"
            ),
        );
        return;
    }
    let scopes = missing.join(", ");
    let fix = match mode {
        XeroAuthMode::Oauth => format!(
            "connect again with `xcs-processor connect`, which asks for {scopes} when a shop has \
             payouts = true, or set payouts = false for {shops}"
        ),
        XeroAuthMode::CustomConnection => format!(
            "add {scopes} to the Custom Connection at developer.xero.com/app/manage, or set \
             payouts = false for {shops}"
        ),
    };
    report.fail(
        subject,
        format!(
            "the token was not granted {scopes}, which moving a payout's deposit to the bank \
             needs: the payouts of {shops} would be dead-lettered as xero_missing_scope"
        ),
        fix,
    );
}

/// The mapping's values the config did not set, as `field = value (default)`, so a report
/// does not present them as the operator's choice. Found by deserialising a mapping that sets
/// only what is required, so the defaults are `mapping.rs`'s own.
fn defaults_used(mapping: &ShopMapping) -> Vec<String> {
    let tax = &mapping.tax;
    let Ok(bare) =
        toml::from_str::<crate::mapping::TaxMapping>(&format!("untaxed = {:?}", tax.untaxed))
    else {
        return Vec::new();
    };
    let mut used = Vec::new();
    if tax.no_tax == bare.no_tax {
        used.push(format!(
            "tax.no_tax = {:?} is the default (for the rounding line); set it in the shop's \
             mapping.tax if the rounding account needs another",
            tax.no_tax
        ));
    }
    if mapping.accounts.adjustments.is_none() {
        used.push(format!(
            "accounts.adjustments is not set: refund adjustments go to accounts.sales {:?}",
            mapping.accounts.sales
        ));
    }
    used
}

fn skip_shops(config: &Config, report: &mut Report, why: &str) {
    for shop in config.shops.keys() {
        report.skip(
            format!("shop {shop}"),
            format!("mapping not checked: {why}"),
            "fix the Xero line above first",
        );
    }
}

fn short(tenant: &str) -> String {
    tenant.chars().take(8).collect()
}

async fn fetch_organisation(
    xero: &XeroClient,
    tenant: &str,
    with_items: bool,
) -> Result<Organisation, crate::xero::client::XeroError> {
    let organisation = xero
        .call(tenant, Method::GET, "/Organisation", &[], None, None)
        .await?;
    let name = organisation["Organisations"][0]["Name"]
        .as_str()
        .unwrap_or(tenant)
        .to_owned();
    let accounts = xero
        .call(tenant, Method::GET, "/Accounts", &[], None, None)
        .await?;
    let tax_rates = xero
        .call(tenant, Method::GET, "/TaxRates", &[], None, None)
        .await?;
    let list = |value: &Value, key: &str| value[key].as_array().cloned().unwrap_or_default();
    let items = if with_items {
        let items = xero
            .call(tenant, Method::GET, "/Items", &[], None, None)
            .await?;
        list(&items, "Items")
    } else {
        Vec::new()
    };
    Ok(Organisation {
        name,
        accounts: list(&accounts, "Accounts"),
        tax_rates: list(&tax_rates, "TaxRates"),
        items,
    })
}

/// One problem with a mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub detail: String,
    pub next: String,
    /// Works, but looks wrong.
    pub warning: bool,
}

/// What an account is used for, and so which types fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Invoice lines that are income: sales, shipping, customer fees.
    Revenue,
    /// Income or a contra/expense account: discounts, refund adjustments, rounding.
    RevenueOrExpense,
    /// Gift cards sold: a liability that redemptions are paid out of.
    GiftCards,
    /// Where payments land.
    Payments,
    /// Xero's ROUNDING system account, or an income/expense account.
    Rounding,
    /// Sales tax collected, booked as lines: a liability Xero lets lines use (not its GST or
    /// sales-tax system account, which Xero refuses on a line).
    SalesTax,
}

const REVENUE_TYPES: [&str; 3] = ["REVENUE", "SALES", "OTHERINCOME"];
const EXPENSE_TYPES: [&str; 4] = ["EXPENSE", "OVERHEADS", "DIRECTCOSTS", "DEPRECIATN"];
const LIABILITY_TYPES: [&str; 3] = ["CURRLIAB", "LIABILITY", "TERMLIAB"];

/// The Xero account class of an account type, for `CanApplyTo…` on tax rates.
fn class_of(account_type: &str) -> &'static str {
    match account_type {
        t if REVENUE_TYPES.contains(&t) => "Revenue",
        t if EXPENSE_TYPES.contains(&t) => "Expenses",
        t if LIABILITY_TYPES.contains(&t) => "Liabilities",
        "EQUITY" => "Equity",
        _ => "Assets",
    }
}

fn roles(mapping: &ShopMapping) -> Vec<(String, &str, Role)> {
    let a = &mapping.accounts;
    let mut roles = vec![
        ("accounts.sales".to_owned(), a.sales.as_str(), Role::Revenue),
        ("accounts.shipping".to_owned(), &a.shipping, Role::Revenue),
        ("accounts.fees".to_owned(), &a.fees, Role::Revenue),
        (
            "accounts.discounts".to_owned(),
            &a.discounts,
            Role::RevenueOrExpense,
        ),
        (
            "accounts.gift_cards".to_owned(),
            &a.gift_cards,
            Role::GiftCards,
        ),
        ("accounts.rounding".to_owned(), &a.rounding, Role::Rounding),
        ("accounts.clearing".to_owned(), &a.clearing, Role::Payments),
    ];
    if let Some(adjustments) = &a.adjustments {
        roles.push((
            "accounts.adjustments".to_owned(),
            adjustments,
            Role::RevenueOrExpense,
        ));
    }
    for (gateway, code) in &mapping.gateway_accounts {
        roles.push((format!("gateway_accounts.{gateway}"), code, Role::Payments));
    }
    // Only sales-tax-lines mode books onto them; tax-types mode refuses them at load.
    if let Some(liability) = &mapping.tax.liability {
        roles.push(("tax.liability".to_owned(), liability, Role::SalesTax));
    }
    for (jurisdiction, code) in &mapping.tax.by_jurisdiction {
        roles.push((
            format!("tax.by_jurisdiction.{jurisdiction:?}"),
            code,
            Role::SalesTax,
        ));
    }
    roles
}

/// Tax types and the account class each is applied to.
fn tax_uses(mapping: &ShopMapping) -> Vec<(String, &str, Option<String>)> {
    let t = &mapping.tax;
    let mut uses = Vec::new();
    for (label, tax_type) in &t.by_label {
        uses.push((format!("tax.by_label.{label:?}"), tax_type.as_str(), None));
    }
    for (rate, tax_type) in &t.by_rate {
        uses.push((
            format!("tax.by_rate.{rate:?}"),
            tax_type.as_str(),
            Some(rate.clone()),
        ));
    }
    uses.push(("tax.untaxed".to_owned(), &t.untaxed, None));
    uses.push(("tax.no_tax".to_owned(), &t.no_tax, None));
    uses
}

/// How a finding names a mapping field: with `(default)` when the config did not set it.
fn field_label(mapping: &ShopMapping, field: &str) -> String {
    let defaulted = field == "tax.no_tax"
        && defaults_used(mapping)
            .iter()
            .any(|d| d.starts_with("tax.no_tax"));
    if defaulted {
        format!("{field} (default, not set in the config)")
    } else {
        field.to_owned()
    }
}

fn counts(mapping: &ShopMapping) -> (usize, usize) {
    let accounts: std::collections::BTreeSet<&str> =
        roles(mapping).iter().map(|(_, code, _)| *code).collect();
    let taxes: std::collections::BTreeSet<&str> =
        tax_uses(mapping).iter().map(|(_, t, _)| *t).collect();
    (accounts.len(), taxes.len())
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_default()
}

/// Up to three of `org`'s active accounts that `fits`, to map instead of a wrong one; how to
/// make one when it has none.
fn suggest_accounts(org: &Organisation, fits: &dyn Fn(&Value) -> bool) -> String {
    let names: Vec<String> = org
        .accounts
        .iter()
        .filter(|a| text(a, "Status") == "ACTIVE" && fits(a))
        .take(3)
        .map(|a| format!("{} {}", text(a, "Code"), text(a, "Name")))
        .collect();
    if names.is_empty() {
        "create a fitting account in Xero (Accounting → Chart of accounts)".to_owned()
    } else {
        format!("e.g. {}", names.join(", "))
    }
}

/// Every problem with `mapping` against an organisation's chart of accounts and tax rates.
pub fn check_mapping(mapping: &ShopMapping, org: &Organisation) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let mut fail = |detail: String, next: String| {
        findings.push(Finding {
            detail,
            next,
            warning: false,
        });
    };
    let find_account = |code: &str| org.accounts.iter().find(|a| text(a, "Code") == code);
    let suggest = |fits: &dyn Fn(&Value) -> bool| suggest_accounts(org, fits);
    let mut used_classes: Vec<&'static str> = Vec::new();
    let mut rounding_class = "Liabilities";
    let mut gift_card_class = "Liabilities";

    for (role_name, code, role) in roles(mapping) {
        let fits = |a: &Value| -> bool {
            let t = text(a, "Type");
            let system = text(a, "SystemAccount");
            let payments = t == "BANK" || a["EnablePaymentsToAccount"] == Value::Bool(true);
            match role {
                Role::Revenue => REVENUE_TYPES.contains(&t) && system.is_empty(),
                Role::RevenueOrExpense => {
                    (REVENUE_TYPES.contains(&t) || EXPENSE_TYPES.contains(&t)) && system.is_empty()
                }
                Role::GiftCards => LIABILITY_TYPES.contains(&t) && system.is_empty() && payments,
                Role::SalesTax => LIABILITY_TYPES.contains(&t) && system.is_empty(),
                Role::Payments => payments,
                Role::Rounding => {
                    system == "ROUNDING"
                        || ((REVENUE_TYPES.contains(&t) || EXPENSE_TYPES.contains(&t))
                            && system.is_empty())
                }
            }
        };
        let Some(account) = find_account(code) else {
            fail(
                format!(
                    "{role_name} = {code:?}: no account with that code in {}",
                    org.name
                ),
                format!(
                    "correct the code in the shop's mapping ({}), or create the account in Xero",
                    suggest(&fits)
                ),
            );
            continue;
        };
        let name = text(account, "Name");
        let status = text(account, "Status");
        let account_type = text(account, "Type");
        let system = text(account, "SystemAccount");
        if status != "ACTIVE" {
            fail(
                format!(
                    "{role_name} = {code:?} ({name}) is {status} in Xero; Xero refuses lines and payments on it"
                ),
                format!(
                    "restore it in Xero (Chart of accounts → Archive → Restore) or map an active account ({})",
                    suggest(&fits)
                ),
            );
            continue;
        }
        if fits(account) {
            // Tax types are checked against the classes of the accounts that fit; a wrong
            // account is reported once, above, not again for every tax type.
            match role {
                Role::Rounding => rounding_class = class_of(account_type),
                Role::GiftCards => gift_card_class = class_of(account_type),
                Role::Revenue | Role::RevenueOrExpense => {
                    used_classes.push(class_of(account_type));
                }
                Role::Payments | Role::SalesTax => {}
            }
            continue;
        }
        let wanted = match role {
            Role::Revenue => "an income account (type REVENUE, SALES or OTHERINCOME)",
            Role::RevenueOrExpense => "an income or expense account",
            Role::GiftCards => {
                "a liability account (CURRLIAB) with payments enabled: gift cards \
                                sold are owed to the customer, and redemptions are paid out of it"
            }
            Role::Payments => {
                "a BANK account or one with \"Enable payments to this account\" \
                               ticked: payments are recorded into it"
            }
            Role::Rounding => {
                "Xero's ROUNDING system account (often 860) or an income/expense account"
            }
            Role::SalesTax => {
                "a liability account (CURRLIAB or LIABILITY) of your own for the sales tax \
                 collected; Xero refuses its system accounts (GST, sales tax) on a line"
            }
        };
        let kind = if system.is_empty() {
            format!("type {account_type}")
        } else {
            format!("Xero's {system} system account")
        };
        let payments_only = matches!(role, Role::Payments | Role::GiftCards)
            && (role == Role::Payments
                || (LIABILITY_TYPES.contains(&account_type) && system.is_empty()));
        let next = if payments_only {
            format!(
                "in Xero open {code} {name} (Chart of accounts), tick \"Enable payments to this account\" and save; or map {}",
                suggest(&fits)
            )
        } else {
            format!("map {} instead", suggest(&fits))
        };
        fail(
            format!("{role_name} = {code:?} ({name}) is {kind}; it must be {wanted}"),
            next,
        );
    }

    let active_types = |class: &str| -> String {
        let names: Vec<&str> = org
            .tax_rates
            .iter()
            .filter(|r| {
                text(r, "Status") == "ACTIVE"
                    && r[format!("CanApplyTo{class}").as_str()] == Value::Bool(true)
            })
            .map(|r| text(r, "TaxType"))
            .collect();
        names.join(", ")
    };
    for (field, tax_type, rate) in tax_uses(mapping) {
        let use_name = field_label(mapping, &field);
        let classes: Vec<&str> = match field.as_str() {
            "tax.no_tax" => vec![rounding_class],
            "tax.untaxed" => {
                let mut c = used_classes.clone();
                c.push(gift_card_class);
                c
            }
            _ => used_classes.clone(),
        };
        // Suggestions are for the class the tax type is mostly used on.
        let first_class = if field == "tax.no_tax" {
            rounding_class
        } else {
            "Revenue"
        };
        let Some(found) = org
            .tax_rates
            .iter()
            .find(|r| text(r, "TaxType").eq_ignore_ascii_case(tax_type))
        else {
            fail(
                format!(
                    "{use_name} = {tax_type:?}: no such tax type in {}",
                    org.name
                ),
                format!(
                    "use one of the organisation's tax types (Xero → Settings → Tax rates): {}",
                    active_types(first_class)
                ),
            );
            continue;
        };
        let status = text(found, "Status");
        if status != "ACTIVE" {
            fail(
                format!(
                    "{use_name} = {tax_type:?} ({}) is {status} in Xero; Xero refuses lines with it",
                    text(found, "Name")
                ),
                format!(
                    "map an active tax type instead: {}",
                    active_types(first_class)
                ),
            );
            continue;
        }
        let mut unique = classes.clone();
        unique.sort_unstable();
        unique.dedup();
        for class in unique {
            if found[format!("CanApplyTo{class}").as_str()] == Value::Bool(false) {
                fail(
                    format!(
                        "{use_name} = {tax_type:?} ({}) cannot be used on {} accounts, which it is mapped onto",
                        text(found, "Name"),
                        class.to_lowercase()
                    ),
                    format!("map a tax type that can: {}", active_types(class)),
                );
            }
        }
        if let Some(rate) = rate
            && let (Ok(expected), Some(effective)) = (
                rate.trim().parse::<rust_decimal::Decimal>(),
                found["EffectiveRate"]
                    .to_string()
                    .trim_matches('"')
                    .parse::<rust_decimal::Decimal>()
                    .ok(),
            )
            && expected.normalize() != effective.normalize()
        {
            warnings.push(Finding {
                detail: format!(
                    "{use_name} = {tax_type:?}: the platform's {expected}% is booked on a Xero rate of {effective}%; invoices keep the platform's tax (as TaxAmount), but refunds are refused (xero_tax_rate_differs: credit notes carry Xero's own tax), and Xero's tax reports will look off"
                ),
                next: "map a tax type whose rate matches".into(),
                warning: true,
            });
        }
    }
    for (sku, code) in &mapping.items {
        let known = org
            .items
            .iter()
            .any(|item| text(item, "Code").eq_ignore_ascii_case(code));
        if !known {
            let codes: Vec<&str> = org
                .items
                .iter()
                .map(|item| text(item, "Code"))
                .take(5)
                .collect();
            // In items mode a missing code is made on first use (README "Inventory: items
            // mode"), unless a quote or backslash keeps it from being looked up; an explicit
            // code names an item of the seller's, so one Xero lacks is still a mistake.
            let made = mapping.derive_item_codes && !code.contains(['"', '\\']);
            let consequence = if made {
                format!(
                    "in inventory = \"items\" mode the first order with SKU {sku} would make a \
                     new item {code} instead of booking to one of yours"
                )
            } else {
                format!(
                    "every order with SKU {sku} would be dead-lettered (\"Item code '{code}' is \
                     not valid\")"
                )
            };
            findings.push(Finding {
                detail: format!(
                    "items.{sku:?} = {code:?}: no item with that code in {}; {consequence}",
                    org.name
                ),
                next: format!(
                    "create the item {code} in Xero (Business → Products and services), correct \
                     the code in the shop's mapping.items{}, or remove the SKU from \
                     mapping.items {}",
                    if codes.is_empty() {
                        String::new()
                    } else {
                        format!(" (the organisation's items: {})", codes.join(", "))
                    },
                    if mapping.derive_item_codes {
                        "to let it have its own derived code"
                    } else {
                        "to book it without an item"
                    }
                ),
                warning: false,
            });
        }
    }
    findings.extend(warnings);
    findings
}

/// What `check` found of a shop's `[mapping.payouts]`: its problems, and for the shop's line
/// what it maps and which way each payout's deposit will be booked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCheck {
    pub findings: Vec<Finding>,
    pub summary: String,
}

/// How a payouts mapping field is used, and so what its account must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PayoutUse {
    /// A line of the fees bill for a fee: best an expense account.
    Fee,
    /// A line of the fees bill for an adjustment: any account Xero lets a line use.
    Adjustment,
}

/// Xero's system accounts a bill's line may not use; its ROUNDING account is the one it may.
fn refuses_lines(account: &Value) -> bool {
    let system = text(account, "SystemAccount");
    !system.is_empty() && system != "ROUNDING"
}

fn is_expense(account: &Value) -> bool {
    text(account, "Class") == "EXPENSE" || EXPENSE_TYPES.contains(&text(account, "Type"))
}

/// For a shop with `payouts = true`, its `[mapping.payouts]` against the organisation (README
/// "Payouts"): the clearing account is ACTIVE and a BANK account (each payout a bank transfer
/// from it) or one with payments enabled (each payout money received in the bank, coded to
/// it), since the fees bill is paid from it; each `bank_accounts` entry is an ACTIVE BANK
/// account of its currency where Xero states one; the fee and adjustment accounts exist, are
/// ACTIVE and usable on a bill's lines (a fee account that is not an expense is a warning);
/// `fee_tax_type` and `untaxed_tax_type` exist, are ACTIVE and apply to the classes of the
/// accounts they are used on. A clearing account left to `accounts.clearing` is only reported
/// there, once.
pub fn check_payout_mapping(
    mapping: &ShopMapping,
    payouts: &PayoutMapping,
    org: &Organisation,
) -> PayoutCheck {
    let mut findings = Vec::new();
    let find_account = |code: &str| org.accounts.iter().find(|a| text(a, "Code") == code);
    let restore = |suggestion: String| {
        format!(
            "restore it in Xero (Chart of accounts → Archive → Restore) or map an active \
             account ({suggestion})"
        )
    };

    let clearing = payouts.clearing(&mapping.accounts);
    let explicit = payouts.clearing.is_some();
    let clearing_field = if explicit {
        "payouts.clearing"
    } else {
        "accounts.clearing (payouts.clearing is not set)"
    };
    let payable =
        |a: &Value| text(a, "Type") == "BANK" || a["EnablePaymentsToAccount"] == Value::Bool(true);
    let mut direction = None;
    match find_account(clearing) {
        None if explicit => findings.push(Finding {
            detail: format!(
                "{clearing_field} = {clearing:?}: no account with that code in {}",
                org.name
            ),
            next: format!(
                "correct the code in the shop's mapping.payouts ({}), or create the account in \
                 Xero",
                suggest_accounts(org, &payable)
            ),
            warning: false,
        }),
        Some(account) if explicit && text(account, "Status") != "ACTIVE" => {
            findings.push(Finding {
                detail: format!(
                    "{clearing_field} = {clearing:?} ({}) is {} in Xero; Xero refuses the \
                     payouts' payments and transfers on it",
                    text(account, "Name"),
                    text(account, "Status")
                ),
                next: restore(suggest_accounts(org, &payable)),
                warning: false,
            });
        }
        // accounts.clearing's own line says it is not active.
        Some(account) if text(account, "Status") != "ACTIVE" => {}
        Some(account) if text(account, "Type") == "BANK" => {
            direction = Some(format!(
                "clearing {clearing} ({}) is a BANK account, so each payout is a bank transfer \
                 from it to the bank account of its currency",
                text(account, "Name")
            ));
        }
        Some(account) if payable(account) => {
            direction = Some(format!(
                "clearing {clearing} ({}) is not a BANK account but has payments enabled, so \
                 each payout is money received in the bank account of its currency, coded to \
                 it",
                text(account, "Name")
            ));
        }
        Some(account) if explicit => {
            let name = text(account, "Name");
            findings.push(Finding {
                detail: format!(
                    "{clearing_field} = {clearing:?} ({name}) is type {}; it must be a BANK \
                     account (each payout is then a bank transfer from it) or one with payments \
                     enabled (each payout is then money received in the bank, coded to it): \
                     the payout's fees bill is paid from it",
                    text(account, "Type")
                ),
                next: format!(
                    "in Xero open {clearing} {name} (Chart of accounts), tick \"Enable payments \
                     to this account\" and save; or map {}",
                    suggest_accounts(org, &payable)
                ),
                warning: false,
            });
        }
        // accounts.clearing's own line says what is wrong with it.
        _ => {}
    }

    for (currency, code) in &payouts.bank_accounts {
        let field = format!("payouts.bank_accounts.{currency}");
        let of_currency = |a: &Value| {
            text(a, "Type") == "BANK"
                && a["CurrencyCode"]
                    .as_str()
                    .is_none_or(|c| c.eq_ignore_ascii_case(currency))
        };
        let suggest = || suggest_accounts(org, &of_currency);
        let Some(account) = find_account(code) else {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?}: no account with that code in {}",
                    org.name
                ),
                next: format!(
                    "correct the code in the shop's mapping.payouts ({}), or add the bank \
                     account in Xero (Accounting → Bank accounts → Add bank account)",
                    suggest()
                ),
                warning: false,
            });
            continue;
        };
        let name = text(account, "Name");
        let status = text(account, "Status");
        if status != "ACTIVE" {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is {status} in Xero; Xero refuses the payouts' \
                     deposits into it"
                ),
                next: restore(suggest()),
                warning: false,
            });
            continue;
        }
        if text(account, "Type") != "BANK" {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is type {}; it must be a BANK account: the \
                     deposit is booked into it, for bank reconciliation to match with the bank \
                     statement's line",
                    text(account, "Type")
                ),
                next: format!(
                    "map the bank account the platform pays into ({})",
                    suggest()
                ),
                warning: false,
            });
            continue;
        }
        if let Some(stated) = account["CurrencyCode"].as_str()
            && !stated.eq_ignore_ascii_case(currency)
        {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is a {stated} bank account; {currency} payouts \
                     must be deposited in a {currency} one"
                ),
                next: format!(
                    "map the {currency} bank account the platform pays into ({}), or add one in \
                     Xero (Accounting → Bank accounts → Add bank account, currency {currency})",
                    suggest()
                ),
                warning: false,
            });
        }
    }

    let a = &payouts.adjustments;
    let mut uses: Vec<(String, &str, PayoutUse)> = vec![(
        "payouts.fees".to_owned(),
        payouts.fees.as_str(),
        PayoutUse::Fee,
    )];
    for (kind, code) in &payouts.fee_accounts {
        uses.push((
            format!("payouts.fee_accounts.{kind:?}"),
            code.as_str(),
            PayoutUse::Fee,
        ));
    }
    uses.push((
        "payouts.adjustments.other".to_owned(),
        a.other.as_str(),
        PayoutUse::Adjustment,
    ));
    for (kind, code) in [
        ("reserve", &a.reserve),
        ("chargeback", &a.chargeback),
        ("currency_conversion", &a.currency_conversion),
    ] {
        if let Some(code) = code {
            uses.push((
                format!("payouts.adjustments.{kind}"),
                code.as_str(),
                PayoutUse::Adjustment,
            ));
        }
    }
    let mut fee_classes: Vec<&'static str> = Vec::new();
    let mut line_classes: Vec<&'static str> = Vec::new();
    for (field, code, usage) in &uses {
        let usable = |a: &Value| !refuses_lines(a) && text(a, "Type") != "BANK";
        let fits = |a: &Value| usable(a) && (*usage == PayoutUse::Adjustment || is_expense(a));
        let Some(account) = find_account(code) else {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?}: no account with that code in {}",
                    org.name
                ),
                next: format!(
                    "correct the code in the shop's mapping.payouts ({}), or create the account \
                     in Xero",
                    suggest_accounts(org, &fits)
                ),
                warning: false,
            });
            continue;
        };
        let name = text(account, "Name");
        let status = text(account, "Status");
        if status != "ACTIVE" {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is {status} in Xero; Xero refuses the fees \
                     bill's lines on it"
                ),
                next: restore(suggest_accounts(org, &fits)),
                warning: false,
            });
            continue;
        }
        if !usable(account) {
            let kind = if refuses_lines(account) {
                format!("Xero's {} system account", text(account, "SystemAccount"))
            } else {
                "a BANK account".to_owned()
            };
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is {kind}, which Xero refuses on a bill's lines"
                ),
                next: format!("map {} instead", suggest_accounts(org, &fits)),
                warning: false,
            });
            continue;
        }
        let class = class_of(text(account, "Type"));
        line_classes.push(class);
        if *usage == PayoutUse::Fee {
            fee_classes.push(class);
            if !is_expense(account) {
                findings.push(Finding {
                    detail: format!(
                        "{field} = {code:?} ({name}) is type {}, not an expense account: the \
                         platform's fees would be booked as {} rather than as a cost",
                        text(account, "Type"),
                        class.to_lowercase()
                    ),
                    next: format!(
                        "map an expense account if that is not intended ({})",
                        suggest_accounts(org, &fits)
                    ),
                    warning: true,
                });
            }
        }
    }

    let mut taxes = vec![(
        "payouts.untaxed_tax_type",
        payouts.untaxed_tax_type.as_str(),
        line_classes,
    )];
    if let Some(fee_tax) = &payouts.fee_tax_type {
        taxes.push(("payouts.fee_tax_type", fee_tax.as_str(), fee_classes));
    }
    let tax_count = taxes.len();
    for (field, tax_type, classes) in taxes {
        findings.extend(check_payout_tax(org, field, tax_type, classes));
    }

    let mut codes: std::collections::BTreeSet<&str> =
        uses.iter().map(|(_, code, _)| *code).collect();
    codes.insert(clearing);
    codes.extend(payouts.bank_accounts.values().map(String::as_str));
    let summary = format!(
        "payouts: {} accounts and {tax_count} tax types; {}",
        codes.len(),
        direction.unwrap_or_else(|| format!("clearing {clearing}"))
    );
    PayoutCheck { findings, summary }
}

/// One tax type of a payouts mapping: it exists, is ACTIVE and applies to each of `classes`
/// (the classes of the accounts its lines are on).
fn check_payout_tax(
    org: &Organisation,
    field: &str,
    tax_type: &str,
    mut classes: Vec<&'static str>,
) -> Vec<Finding> {
    let active_types = |class: &str| -> String {
        let names: Vec<&str> = org
            .tax_rates
            .iter()
            .filter(|r| {
                text(r, "Status") == "ACTIVE"
                    && r[format!("CanApplyTo{class}").as_str()] == Value::Bool(true)
            })
            .map(|r| text(r, "TaxType"))
            .collect();
        names.join(", ")
    };
    let Some(found) = org
        .tax_rates
        .iter()
        .find(|r| text(r, "TaxType").eq_ignore_ascii_case(tax_type))
    else {
        return vec![Finding {
            detail: format!("{field} = {tax_type:?}: no such tax type in {}", org.name),
            next: format!(
                "use one of the organisation's tax types (Xero → Settings → Tax rates): {}",
                active_types("Expenses")
            ),
            warning: false,
        }];
    };
    let name = text(found, "Name");
    let status = text(found, "Status");
    if status != "ACTIVE" {
        return vec![Finding {
            detail: format!(
                "{field} = {tax_type:?} ({name}) is {status} in Xero; Xero refuses the fees \
                 bill's lines with it"
            ),
            next: format!(
                "map an active tax type instead: {}",
                active_types("Expenses")
            ),
            warning: false,
        }];
    }
    classes.sort_unstable();
    classes.dedup();
    classes
        .into_iter()
        .filter(|class| found[format!("CanApplyTo{class}").as_str()] == Value::Bool(false))
        .map(|class| Finding {
            detail: format!(
                "{field} = {tax_type:?} ({name}) cannot be used on {} accounts, which it is \
                 mapped onto",
                class.to_lowercase()
            ),
            next: format!("map a tax type that can: {}", active_types(class)),
            warning: false,
        })
        .collect()
}

/// The account types Xero lets an item's `PurchaseDetails.COGSAccountCode` be: the expense
/// class a sale's cost is posted to. (UNSURE: Xero's API documents no list; its item form
/// offers the expense-class accounts, and these three are the ones a cost of sales belongs in.)
const COGS_TYPES: [&str; 3] = ["DIRECTCOSTS", "EXPENSE", "OVERHEADS"];

/// For a shop in `inventory = "tracked"` mode, its three accounts (README "Inventory: tracked
/// mode"): each exists and is ACTIVE; `inventory` is Xero's INVENTORY type (Xero refuses a
/// tracked item's `InventoryAssetAccountCode` of any other), `cost_of_goods_sold` is of
/// [`COGS_TYPES`].
pub fn check_tracked_accounts(mapping: &ShopMapping, org: &Organisation) -> Vec<Finding> {
    let a = &mapping.accounts;
    let uses: [(&str, Option<&String>, &[&str], &str); 3] = [
        (
            "accounts.inventory",
            a.inventory.as_ref(),
            &["INVENTORY"],
            "an INVENTORY account (Xero's type \"Inventory\"): it holds the stock's value",
        ),
        (
            "accounts.cost_of_goods_sold",
            a.cost_of_goods_sold.as_ref(),
            &COGS_TYPES,
            "an expense account (type DIRECTCOSTS, EXPENSE or OVERHEADS; usually Direct Costs): \
             Xero posts each sale's cost to it",
        ),
        (
            "accounts.inventory_adjustments",
            a.inventory_adjustments.as_ref(),
            &[],
            "",
        ),
    ];
    let mut findings = Vec::new();
    for (field, code, types, wanted) in uses {
        // The config refuses tracked mode without all three, so a missing one is not reached.
        let Some(code) = code else { continue };
        let fits = |account: &Value| types.is_empty() || types.contains(&text(account, "Type"));
        let suggest = || suggest_accounts(org, &fits);
        let Some(account) = org.accounts.iter().find(|acc| text(acc, "Code") == code) else {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?}: no account with that code in {}",
                    org.name
                ),
                next: format!(
                    "correct the code in the shop's mapping ({}), or create the account in Xero",
                    suggest()
                ),
                warning: false,
            });
            continue;
        };
        let name = text(account, "Name");
        let status = text(account, "Status");
        if status != "ACTIVE" {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is {status} in Xero; Xero refuses tracked items \
                     and adjustments on it"
                ),
                next: format!(
                    "restore it in Xero (Chart of accounts → Archive → Restore) or map an active \
                     account ({})",
                    suggest()
                ),
                warning: false,
            });
            continue;
        }
        if !fits(account) {
            findings.push(Finding {
                detail: format!(
                    "{field} = {code:?} ({name}) is type {}; it must be {wanted}",
                    text(account, "Type")
                ),
                next: format!("map {} instead", suggest()),
                warning: false,
            });
        }
    }
    findings
}

/// For a shop in `inventory = "tracked"` mode, the item codes whose stock the ledger knows
/// (`codes`: code key to a SKU, see `reconcile::stock::ledger_codes`) that Xero has no item
/// for, or an item not tracked as inventory: one failure each, naming them.
pub fn check_tracked_items(
    shop: &str,
    codes: &BTreeMap<String, String>,
    org: &Organisation,
) -> Vec<Finding> {
    let items: BTreeMap<String, &Value> = org
        .items
        .iter()
        .map(|item| (crate::ledger::code_key(text(item, "Code")), item))
        .collect();
    let named = |key: &String, sku: &String| {
        let code = items.get(key).map_or(key.as_str(), |i| text(i, "Code"));
        if sku.is_empty() || sku == code {
            code.to_owned()
        } else {
            format!("{code} (SKU {sku})")
        }
    };
    let list = |names: &[String]| {
        const SHOWN: usize = 10;
        let mut text = names
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        if names.len() > SHOWN {
            let _ = std::fmt::Write::write_fmt(
                &mut text,
                format_args!(" and {} more", names.len() - SHOWN),
            );
        }
        text
    };
    let missing: Vec<String> = codes
        .iter()
        .filter(|(key, _)| !items.contains_key(*key))
        .map(|(key, sku)| named(key, sku))
        .collect();
    let untracked: Vec<String> = codes
        .iter()
        .filter(|(key, _)| {
            items
                .get(*key)
                .is_some_and(|i| !crate::reconcile::stock::tracked(i))
        })
        .map(|(key, sku)| named(key, sku))
        .collect();
    let mut findings = Vec::new();
    if !missing.is_empty() {
        findings.push(Finding {
            detail: format!(
                "{} item code(s) whose stock the shop reported have no item in {}: {}",
                missing.len(),
                org.name,
                list(&missing)
            ),
            next: format!(
                "run `xcs-processor reconcile --stock --shop {shop} --fix` to have them created \
                 tracked at the store's level, or create them in Xero as tracked items \
                 (Business → Products and services)"
            ),
            warning: false,
        });
    }
    if !untracked.is_empty() {
        findings.push(Finding {
            detail: format!(
                "{} item(s) in {} are not tracked as inventory, so their stock cannot follow the \
                 store's and their stock events are dead-lettered (xero_item_untracked): {}",
                untracked.len(),
                org.name,
                list(&untracked)
            ),
            next: format!(
                "in Xero open each item (Business → Products and services) and tick \"Track \
                 inventory item\" with the shop's inventory and cost of goods sold accounts, \
                 then run `xcs-processor reconcile --stock --shop {shop} --fix`"
            ),
            warning: false,
        });
    }
    findings
}

fn check_webhooks(config: &Config, options: &CheckOptions, report: &mut Report) {
    let Some(path) = &options.ingress_config else {
        report.skip(
            "webhook secrets",
            "not checked: the processor's config holds no webhook secrets",
            "pass --ingress-config PATH (the ingress's config file) to check them",
        );
        return;
    };
    let ingress = match IngressShops::load(path) {
        Ok(ingress) => ingress,
        Err(err) => {
            report.fail(
                "ingress config",
                err.to_string(),
                "fix the ingress config; the ingress refuses to start with it too",
            );
            return;
        }
    };
    // The processor reads the ingress's shops only (it does not link the ingress): the rest
    // of that file (its server, key hosts and lookup limits, the form of each secret) is the
    // ingress's own to check.
    report.skip(
        "ingress config",
        "its shops are read here; its other settings are not",
        format!(
            "run `xcs-ingress --config {} --check-config` for the rest",
            path.display()
        ),
    );
    for (name, shop) in &config.shops {
        let subject = format!("webhooks {name}");
        let Some(ingress_shop) = ingress.get(name) else {
            report.fail(
                subject,
                format!("the ingress has no [shops.{name}]: it refuses this shop's webhooks"),
                format!(
                    "add [shops.{name}] with platform = \"{}\", tenant and secrets to {}",
                    shop.platform,
                    path.display()
                ),
            );
            continue;
        };
        if ingress_shop.platform != shop.platform {
            report.fail(
                subject,
                format!(
                    "the ingress says {}, the processor says {}",
                    ingress_shop.platform, shop.platform
                ),
                "make [shops.NAME] platform the same in both configs",
            );
            continue;
        }
        if ingress_shop.tenant != shop.tenant {
            report.fail(
                subject,
                format!(
                    "the ingress routes it to tenant {}, the processor books into {}",
                    ingress_shop.tenant, shop.tenant
                ),
                "make [shops.NAME] tenant the same in both configs",
            );
            continue;
        }
        match ingress_shop.platform.webhook_keys() {
            WebhookKeys::PlatformKeys => report.ok(
                subject,
                format!(
                    "verified with {}'s public keys, no secret; `xcs-ingress --check-config` \
                     checks its handshake settings",
                    ingress_shop.platform.display_name()
                ),
            ),
            WebhookKeys::SharedSecret => {
                let secrets = ingress_shop.secrets.len();
                if secrets == 0 {
                    report.fail(
                        subject,
                        "no webhook secret",
                        format!(
                            "set secrets for [shops.{name}] (or {}SECRETS)",
                            xcs_shared::shop_env_prefix(name)
                        ),
                    );
                } else {
                    report.ok(subject, format!("{secrets} signing key(s) configured"));
                }
            }
        }
    }
    for name in ingress.names() {
        if !config.shops.contains_key(name) {
            report.fail(
                format!("webhooks {name}"),
                "the ingress accepts this shop, but the processor has no [shops.{name}]: its events are dead-lettered (unknown_shop)"
                    .replace("{name}", name),
                "add the shop and its mapping to the processor's config, or remove it from the ingress's",
            );
        }
    }
}

async fn check_topology(config: &Config, report: &mut Report) {
    let connection = match tokio::time::timeout(
        std::time::Duration::from_secs(15),
        Connection::connect(
            config.amqp.uri.expose_secret(),
            ConnectionProperties::default(),
        ),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        failed => {
            let uri = config.amqp.uri.expose_secret();
            let failure = match failed {
                Ok(Err(err)) => ConnectFailure::of(&err, uri),
                _ => ConnectFailure::timed_out(std::time::Duration::from_secs(15), uri),
            };
            report.fail(
                "RabbitMQ",
                format!("{} ({})", failure.message, failure.cause),
                "the ingress and the processor connect with the same URI: fix what the line \
                 says, then run check again",
            );
            return;
        }
    };
    let mut missing = Vec::new();
    let mut channel = None;
    let exchanges: Vec<(String, bool)> = topology::EXCHANGES
        .iter()
        .map(|e| ((*e).to_owned(), true))
        .chain(topology::queues().into_iter().map(|q| (q, false)))
        .collect();
    for (name, is_exchange) in &exchanges {
        if channel.is_none() {
            match connection.create_channel().await {
                Ok(c) => channel = Some(c),
                Err(err) => {
                    report.fail(
                        "RabbitMQ",
                        format!("cannot open a channel ({err})"),
                        "check the broker's logs",
                    );
                    return;
                }
            }
        }
        let c = channel.as_ref().expect("opened above");
        let declared = if *is_exchange {
            c.exchange_declare(
                name.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|_| ())
        } else {
            c.queue_declare(
                name.as_str().into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map(|_| ())
        };
        if declared.is_err() {
            // A failed passive declare closes the channel.
            channel = None;
            missing.push(format!(
                "{} {name}",
                if *is_exchange { "exchange" } else { "queue" }
            ));
        }
    }
    let _ = connection.close(200, "checked".into()).await;
    let total = exchanges.len();
    if missing.is_empty() {
        report.ok(
            "RabbitMQ",
            format!(
                "topology in place ({} exchanges, {} queues)",
                topology::EXCHANGES.len(),
                total - topology::EXCHANGES.len()
            ),
        );
    } else {
        report.fail(
            "RabbitMQ",
            format!("missing {}: {}", missing.len(), missing.join(", ")),
            "import the topology into the config's vhost: rabbitmqctl import_definitions \
             deploy/rabbitmq/definitions.json (for another vhost than xcs, generate it with \
             `cargo run -p xcs-tests --bin definitions`)",
        );
    }
}
