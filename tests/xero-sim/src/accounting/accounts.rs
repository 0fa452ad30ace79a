//! Read-only organisation settings: the chart of accounts, tax rates, the organisation itself and
//! its currencies. The simulator takes these from the seed or `POST /__sim/organisations`; they
//! cannot be changed through the API (Xero allows `PUT /Accounts`, which the processor does not
//! need).

use serde_json::{Value, json};

use super::{Ctx, apply_common_filters, parse_id};
use crate::response::SimResponse;
use crate::store::{Account, TaxRate, Tenant};
use crate::wire;

/// An account as `GET /Accounts` prints it.
pub fn account_json(account: &Account) -> Value {
    let mut value = json!({
        "AccountID": account.id,
        "Code": account.code,
        "Name": account.name,
        "Status": account.status,
        "Type": account.account_type,
        "TaxType": account.tax_type,
        "Class": account.class,
        "EnablePaymentsToAccount": account.enable_payments,
        "ShowInExpenseClaims": false,
        "ReportingCode": "",
        "ReportingCodeName": "",
        "HasAttachments": false,
        "AddToWatchlist": false,
        "UpdatedDateUTC": wire::ms_date(account.updated),
    });
    let optional = [
        ("SystemAccount", &account.system_account),
        ("BankAccountType", &account.bank_account_type),
        ("CurrencyCode", &account.currency_code),
        ("Description", &account.description),
    ];
    for (key, field) in optional {
        if let Some(v) = field {
            value[key] = json!(v);
        }
    }
    value
}

/// A tax rate as `GET /TaxRates` prints it.
pub fn tax_rate_json(rate: &TaxRate) -> Value {
    let can = |class: &str| rate.applies_to.get(class).copied().unwrap_or(true);
    json!({
        "Name": rate.name,
        "TaxType": rate.tax_type,
        "ReportTaxType": rate.report_tax_type,
        "CanApplyToAssets": can("ASSET"),
        "CanApplyToEquity": can("EQUITY"),
        "CanApplyToExpenses": can("EXPENSE"),
        "CanApplyToLiabilities": can("LIABILITY"),
        "CanApplyToRevenue": can("REVENUE"),
        "DisplayTaxRate": wire::number(rate.display_rate, 4),
        "EffectiveRate": wire::number(rate.effective_rate, 4),
        "Status": rate.status,
        "TaxComponents": rate.components,
    })
}

/// `GET /Accounts`.
pub fn list_accounts(ctx: &mut Ctx<'_>) -> SimResponse {
    let records = ctx.tenant.accounts.iter().map(account_json).collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &wire::envelope(ctx.now, "Accounts", list)),
        Err(response) => response,
    }
}

/// `GET /Accounts/{AccountID}`.
pub fn get_account(ctx: &mut Ctx<'_>, id: &str) -> SimResponse {
    match parse_id(id).and_then(|id| ctx.tenant.account_by_id(id)) {
        Some(account) => SimResponse::json(
            200,
            &wire::envelope(ctx.now, "Accounts", vec![account_json(account)]),
        ),
        None => SimResponse::not_found(),
    }
}

/// `GET /TaxRates`.
pub fn list_tax_rates(ctx: &mut Ctx<'_>) -> SimResponse {
    let records = ctx.tenant.tax_rates.iter().map(tax_rate_json).collect();
    match apply_common_filters(ctx, records) {
        Ok(list) => SimResponse::json(200, &wire::envelope(ctx.now, "TaxRates", list)),
        Err(response) => response,
    }
}

/// `GET /Organisation`.
pub fn organisation(ctx: &mut Ctx<'_>) -> SimResponse {
    SimResponse::json(
        200,
        &wire::envelope(
            ctx.now,
            "Organisations",
            vec![organisation_json(ctx.tenant)],
        ),
    )
}

fn organisation_json(tenant: &Tenant) -> Value {
    json!({
        "OrganisationID": tenant.id,
        "Name": tenant.name,
        "LegalName": tenant.name,
        "ShortCode": tenant.short_code,
        "CountryCode": tenant.country_code,
        "BaseCurrency": tenant.base_currency,
        "OrganisationType": "COMPANY",
        "OrganisationStatus": "ACTIVE",
        "IsDemoCompany": true,
        "Version": version(tenant.country_code.as_deref()),
        "PaysTax": true,
        "Timezone": "UTC",
        "LineOfBusiness": "Online retail",
    })
}

/// `Organisation.Version` in Xero's spec: AU, NZ, UK and US have editions of their own, every
/// other country is GLOBAL (the ONRAMP variants are not modelled).
fn version(country_code: Option<&str>) -> &'static str {
    match country_code {
        Some("AU") => "AU",
        Some("NZ") => "NZ",
        Some("GB") => "UK",
        Some("US") => "US",
        _ => "GLOBAL",
    }
}

/// `GET /Currencies`.
pub fn currencies(ctx: &mut Ctx<'_>) -> SimResponse {
    let list = ctx
        .tenant
        .currencies
        .iter()
        .map(|code| json!({ "Code": code, "Description": code }))
        .collect();
    SimResponse::json(200, &wire::envelope(ctx.now, "Currencies", list))
}
