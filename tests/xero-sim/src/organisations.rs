//! Organisations added to a running simulator: `POST /__sim/organisations`, the `--organisation
//! FILE` start option and [`crate::RunningSim::add_organisation`] all parse here and join the
//! world through [`crate::state::World::add_organisation`], so a store in any currency can be
//! modelled without editing the seed.
//!
//! The request is a relaxed seed tenant in Xero's PascalCase (as `GET /Organisation`,
//! `GET /Accounts` and `GET /TaxRates` print it): only `Name` and `BaseCurrency` are required.
//! The chart of accounts defaults to the demo company's shape (the codes the local processor
//! config maps), the tax rates to a standard set for the country. What is checked follows
//! Xero's OpenAPI description (`shared/reference/xero/xero_accounting.yaml`, schemas
//! `Organisation`, `CurrencyCode`, `CountryCode`, `Account`, `AccountType`, `TaxRate` and
//! `TaxComponent`), so an organisation the simulator accepts is one Xero could hold.

use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::seed::{Seed, SeedAccount, SeedApp, SeedTaxRate, SeedTenant, class_for_type};
use crate::wire;

/// Why an organisation was refused: the HTTP status (400 for bad input, 409 for an id that is
/// taken), the field at fault as a path (`TaxRates[1].TaxComponents[0].Rate`; `body` for the
/// request as a whole) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct OrganisationError {
    /// HTTP status of the refusal.
    pub status: u16,
    /// The field at fault.
    pub field: String,
    /// What is wrong and what to send instead.
    pub message: String,
}

impl OrganisationError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: 400,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A 409: the id is taken.
    pub(crate) fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: 409,
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A checked organisation, ready to join the world.
#[derive(Debug, Clone)]
pub struct NewOrganisation {
    /// The organisation as a seed tenant: what a reset rebuilds it from.
    pub tenant: SeedTenant,
    /// A Custom Connection app bound to it, when one was asked for.
    pub custom_connection: Option<SeedApp>,
}

/// Parses and checks a request body.
///
/// # Errors
/// 400 naming the field when the body is not a valid organisation.
pub fn from_json(body: &[u8]) -> Result<NewOrganisation, OrganisationError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        OrganisationError::invalid(
            "body",
            format!("is not JSON ({e}); send an object such as {{\"Name\":\"My Store\",\"BaseCurrency\":\"USD\"}}"),
        )
    })?;
    from_value(value)
}

const ORGANISATION_FIELDS: &[&str] = &[
    "TenantId",
    "Name",
    "ShortCode",
    "CountryCode",
    "BaseCurrency",
    "Currencies",
    "SalesTaxRate",
    "Accounts",
    "TaxRates",
    "Contacts",
    "Items",
    "CustomConnection",
    "Plan",
];

/// Checks an organisation given as JSON.
///
/// # Errors
/// 400 naming the field when the value is not a valid organisation.
pub fn from_value(value: Value) -> Result<NewOrganisation, OrganisationError> {
    let mut f = Fields::new("", value, ORGANISATION_FIELDS, &[])?;
    let tenant_id = f
        .take::<Uuid>(
            "TenantId",
            "a UUID such as 6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c",
        )?
        .unwrap_or_else(Uuid::new_v4);
    let name = non_empty(
        &f.path("Name"),
        f.require("Name", "a string, the organisation's name")?,
    )?;
    let short_code = f.take::<String>("ShortCode", "a string such as !xcsUS")?;
    let base_currency = currency(
        &f.path("BaseCurrency"),
        &f.require::<String>("BaseCurrency", "an ISO 4217 code such as USD")?,
    )?;
    let country_code = match f.take::<String>("CountryCode", "a two-letter code such as US")? {
        Some(code) => Some(country(&f.path("CountryCode"), &code)?),
        None => default_country(&base_currency).map(str::to_owned),
    };
    // Multi-currency is modelled as the subscribed list (`GET /Currencies`); an organisation
    // subscribed to its base currency alone refuses others with "Organisation is not
    // subscribed to currency …", as a Xero plan without multi-currency does.
    let mut currencies = vec![base_currency.clone()];
    for (i, code) in f
        .take::<Vec<String>>("Currencies", "a list of ISO 4217 codes")?
        .unwrap_or_default()
        .iter()
        .enumerate()
    {
        let code = currency(&format!("{}[{i}]", f.path("Currencies")), code)?;
        if !currencies.contains(&code) {
            currencies.push(code);
        }
    }
    let sales_tax_rate = match f.map.remove("SalesTaxRate") {
        None | Some(Value::Null) => None,
        Some(value) => Some(rate(&f.path("SalesTaxRate"), &value)?),
    };
    let tax_rates = match f.take::<Vec<Value>>("TaxRates", "a list of tax rates")? {
        Some(list) => {
            if sales_tax_rate.is_some() {
                return Err(OrganisationError::invalid(
                    "SalesTaxRate",
                    "only sets the standard tax rates used when TaxRates is left out; put the rate in TaxRates instead",
                ));
            }
            tax_rates(&f.path("TaxRates"), list, country_code.as_deref())?
        }
        None => default_tax_rates(country_code.as_deref(), sales_tax_rate)?,
    };
    let accounts = match f.take::<Vec<Value>>("Accounts", "a list of accounts")? {
        Some(list) => accounts(&f.path("Accounts"), list, &tax_rates, &currencies)?,
        None => default_chart(&tax_rates),
    };
    let contacts = objects(
        &f.path("Contacts"),
        f.take("Contacts", "a list of contacts")?,
    )?;
    let items = objects(&f.path("Items"), f.take("Items", "a list of items")?)?;
    let custom_connection = match f.map.remove("CustomConnection") {
        None | Some(Value::Null) => None,
        Some(value) => Some(custom_connection(value, tenant_id, &name)?),
    };
    let plan = f
        .take::<crate::plan::Plan>(
            "Plan",
            "an object such as {\"DayLimit\": 1000, \"ApprovedInvoicesPerMonth\": 20}",
        )?
        .unwrap_or_default();
    Ok(NewOrganisation {
        tenant: SeedTenant {
            tenant_id,
            name,
            short_code,
            country_code,
            base_currency,
            currencies,
            accounts,
            tax_rates,
            contacts,
            items,
            plan,
        },
        custom_connection,
    })
}

/// One JSON object's fields, taken one at a time so every error can name its field.
struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    /// Refuses anything but an object, and any field not in `known` (a typo such as `Currency`
    /// for `BaseCurrency` is caught here rather than silently defaulted). Fields in `ignored`
    /// are dropped: printed by Xero but not modelled.
    fn new(
        path: &str,
        value: Value,
        known: &[&str],
        ignored: &[&str],
    ) -> Result<Self, OrganisationError> {
        let Value::Object(mut map) = value else {
            let at = if path.is_empty() { "body" } else { path };
            return Err(OrganisationError::invalid(at, "must be a JSON object"));
        };
        map.retain(|key, _| !ignored.contains(&key.as_str()));
        let fields = Self {
            path: path.to_owned(),
            map,
        };
        if let Some(unknown) = fields.map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(OrganisationError::invalid(
                fields.path(unknown),
                format!(
                    "is not a field of this object (field names are case-sensitive); the fields are {}",
                    known.join(", ")
                ),
            ));
        }
        Ok(fields)
    }

    fn path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field, `None` when absent or null.
    fn take<T: DeserializeOwned>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<Option<T>, OrganisationError> {
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value).map(Some).map_err(|_| {
                OrganisationError::invalid(self.path(key), format!("must be {expected}"))
            }),
        }
    }

    fn require<T: DeserializeOwned>(
        &mut self,
        key: &str,
        expected: &str,
    ) -> Result<T, OrganisationError> {
        self.take(key, expected)?.ok_or_else(|| {
            OrganisationError::invalid(self.path(key), format!("is required: {expected}"))
        })
    }

    fn flag(&mut self, key: &str) -> Result<Option<bool>, OrganisationError> {
        self.take(key, "true or false")
    }
}

fn non_empty(field: &str, text: String) -> Result<String, OrganisationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(OrganisationError::invalid(field, "must not be empty"));
    }
    Ok(trimmed.to_owned())
}

fn objects(field: &str, list: Option<Vec<Value>>) -> Result<Vec<Value>, OrganisationError> {
    let list = list.unwrap_or_default();
    if let Some(i) = list.iter().position(|v| !v.is_object()) {
        return Err(OrganisationError::invalid(
            format!("{field}[{i}]"),
            "must be a JSON object, as Xero prints one",
        ));
    }
    Ok(list)
}

/// The currencies Xero knows: the `CurrencyCode` enum of Xero's OpenAPI description (ISO 4217
/// codes, including a few retired ones Xero still lists, such as EEK and LTL).
const CURRENCY_CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BYR", "BZD",
    "CAD", "CDF", "CHF", "CLF", "CLP", "CNY", "COP", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF",
    "DKK", "DOP", "DZD", "EEK", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS",
    "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HRK", "HTG", "HUF", "IDR", "ILS", "INR",
    "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD",
    "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LTL", "LVL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRO", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN",
    "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN",
    "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
    "SKK", "SLE", "SLL", "SOS", "SRD", "STD", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT",
    "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VEF", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZMK", "ZWD",
];

/// The countries Xero knows: the `CountryCode` enum of Xero's OpenAPI description (ISO 3166-1
/// alpha-2, with Kosovo as XK and the Netherlands Antilles as AN).
const COUNTRY_CODES: &[&str] = &[
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AN", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BR", "BS", "BT",
    "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR",
    "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH",
    "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GG", "GH", "GI",
    "GL", "GM", "GN", "GQ", "GR", "GT", "GU", "GW", "GY", "HK", "HN", "HR", "HT", "HU", "ID", "IE",
    "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI",
    "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU",
    "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MR",
    "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NG", "NI", "NL", "NO", "NP",
    "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT",
    "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI",
    "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TG",
    "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "US", "UY",
    "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
];

fn currency(field: &str, code: &str) -> Result<String, OrganisationError> {
    if CURRENCY_CODES.contains(&code) {
        return Ok(code.to_owned());
    }
    let upper = code.trim().to_ascii_uppercase();
    let hint = if CURRENCY_CODES.contains(&upper.as_str()) {
        format!("write it as {upper}")
    } else {
        "use a three-letter ISO 4217 code from Xero's CurrencyCode list, such as USD, EUR or CAD"
            .to_owned()
    };
    Err(OrganisationError::invalid(
        field,
        format!("'{code}' is not a currency Xero knows; {hint}"),
    ))
}

fn country(field: &str, code: &str) -> Result<String, OrganisationError> {
    if COUNTRY_CODES.contains(&code) {
        return Ok(code.to_owned());
    }
    let upper = code.trim().to_ascii_uppercase();
    let hint = if COUNTRY_CODES.contains(&upper.as_str()) {
        format!("write it as {upper}")
    } else {
        "use a two-letter ISO 3166 code from Xero's CountryCode list, such as US, GB or CA"
            .to_owned()
    };
    Err(OrganisationError::invalid(
        field,
        format!("'{code}' is not a country Xero knows; {hint}"),
    ))
}

/// The country of the currencies one country owns, so `{"BaseCurrency":"USD"}` alone gets US
/// tax rates. A shared currency (EUR, XCD) says nothing about the country: none is assumed.
fn default_country(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "NZD" => "NZ",
        "AUD" => "AU",
        "GBP" => "GB",
        "USD" => "US",
        "CAD" => "CA",
        "ZAR" => "ZA",
        "SGD" => "SG",
        "HKD" => "HK",
        "JPY" => "JP",
        "CHF" => "CH",
        "SEK" => "SE",
        "NOK" => "NO",
        "DKK" => "DK",
        "MXN" => "MX",
        "INR" => "IN",
        _ => return None,
    })
}

/// A percentage rate: 0 to 100, at most 4 decimal places (`TaxComponent.Rate`: "Tax Rate (up to
/// 4dp)").
fn rate(field: &str, value: &Value) -> Result<Decimal, OrganisationError> {
    let Some(Ok(rate)) = wire::parse_decimal(value) else {
        return Err(OrganisationError::invalid(
            field,
            "must be a percentage as a number, such as 8.875 for 8.875%",
        ));
    };
    if rate < Decimal::ZERO || rate > Decimal::ONE_HUNDRED {
        return Err(OrganisationError::invalid(
            field,
            format!("{rate} is not a percentage between 0 and 100 (15% is 15, not 0.15)"),
        ));
    }
    if rate.normalize().scale() > 4 {
        return Err(OrganisationError::invalid(
            field,
            format!("{rate} has more than the 4 decimal places Xero keeps for a rate"),
        ));
    }
    Ok(rate.normalize())
}

// ---- Tax rates ----------------------------------------------------------------------------

const TAX_RATE_FIELDS: &[&str] = &[
    "TaxType",
    "Name",
    "Status",
    "TaxComponents",
    "EffectiveRate",
    "DisplayTaxRate",
    "ReportTaxType",
    "CanApplyToRevenue",
    "CanApplyToExpenses",
    "CanApplyToAssets",
    "CanApplyToLiabilities",
    "CanApplyToEquity",
];

const COMPONENT_FIELDS: &[&str] = &["Name", "Rate", "IsCompound", "IsNonRecoverable"];

/// `TaxRate.Status` in Xero's spec. Only ACTIVE rates can be used on a line.
const TAX_RATE_STATUSES: &[&str] = &["ACTIVE", "DELETED", "ARCHIVED", "PENDING"];

/// One `TaxComponents` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// `Name`.
    pub name: String,
    /// `Rate`, percent.
    pub rate: Decimal,
    /// `IsCompound`: charged on the amount plus the other components' tax.
    pub compound: bool,
    /// `IsNonRecoverable` (Canada only, per Xero's spec).
    pub non_recoverable: bool,
}

/// Xero's `DisplayTaxRate` and `EffectiveRate` for a rate made of components. The display rate
/// is the components' sum; in the effective rate a compound component is charged on the amount
/// plus the tax of the components before it. Xero's developer forum has the worked example: 6%
/// plus a compound 4% displays as 10.00% with an effective rate of 10.24%
/// (community.xero.com/developer/discussion/109027464). Non-compound components are all charged
/// on the amount, so they come first; several compound components stack in the order given
/// (UNSURE: no Xero source on more than one compound component).
pub fn display_and_effective(components: &[Component]) -> (Decimal, Decimal) {
    let display: Decimal = components.iter().map(|c| c.rate).sum();
    let mut effective: Decimal = components
        .iter()
        .filter(|c| !c.compound)
        .map(|c| c.rate)
        .sum();
    for component in components.iter().filter(|c| c.compound) {
        effective += component.rate * (Decimal::ONE_HUNDRED + effective) / Decimal::ONE_HUNDRED;
    }
    // "Effective Tax Rate (decimal to 4dp)" (spec `TaxRate.EffectiveRate`).
    (display.normalize(), effective.round_dp(4).normalize())
}

fn component_json(c: &Component) -> Value {
    serde_json::json!({
        "Name": c.name,
        "Rate": wire::number(c.rate, 4),
        "IsCompound": c.compound,
        "IsNonRecoverable": c.non_recoverable,
    })
}

fn tax_rates(
    field: &str,
    list: Vec<Value>,
    country_code: Option<&str>,
) -> Result<Vec<SeedTaxRate>, OrganisationError> {
    if list.is_empty() {
        return Err(OrganisationError::invalid(
            field,
            "is empty: give at least one tax rate (a zero-rated or exempt one too, for untaxed lines), or leave TaxRates out for the country's standard set",
        ));
    }
    let mut rates: Vec<SeedTaxRate> = Vec::with_capacity(list.len());
    let mut named: Vec<Option<String>> = Vec::with_capacity(list.len());
    for (i, value) in list.into_iter().enumerate() {
        let (rate, explicit_type) = tax_rate(&format!("{field}[{i}]"), value, country_code)?;
        if let Some(tax_type) = &explicit_type
            && let Some(j) = named.iter().position(|t| {
                t.as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case(tax_type))
            })
        {
            return Err(OrganisationError::invalid(
                format!("{field}[{i}].TaxType"),
                format!(
                    "'{tax_type}' is already the TaxType of {field}[{j}]; each rate needs its own"
                ),
            ));
        }
        named.push(explicit_type);
        rates.push(rate);
    }
    // Rates created without a TaxType get Xero's user-defined codes TAX001, TAX002, …, in order,
    // skipping any the request names itself (notes §3.9: "User-defined rates are TAX001,
    // TAX002, …"; the PUT /TaxRates example in Xero's spec answers TAX002).
    let mut taken: Vec<String> = named
        .iter()
        .flatten()
        .map(|t| t.to_ascii_uppercase())
        .collect();
    let mut next = 1;
    for (rate, explicit) in rates.iter_mut().zip(&named) {
        if explicit.is_none() {
            let code = loop {
                let candidate = format!("TAX{next:03}");
                next += 1;
                if !taken.contains(&candidate) {
                    break candidate;
                }
            };
            taken.push(code.clone());
            rate.tax_type = code;
        }
        if rate.report_tax_type.is_none() {
            rate.report_tax_type = Some(default_report_type(rate));
        }
    }
    Ok(rates)
}

/// A rate's `ReportTaxType` when none is given. Xero's own codes (OUTPUT2, NONE, …) report as
/// themselves, as the seed's rates do; a user-defined TAX001 reports OUTPUT when it may be used
/// on revenue, INPUT otherwise. Xero asks AU, NZ and UK organisations for it on `PUT /TaxRates`
/// and its spec example pairs INPUT with `CanApplyToRevenue: false`; what it picks elsewhere is
/// UNSURE.
fn default_report_type(rate: &SeedTaxRate) -> String {
    let user_defined = rate
        .tax_type
        .strip_prefix("TAX")
        .is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if !user_defined {
        rate.tax_type.clone()
    } else if rate.can_apply_to_revenue {
        "OUTPUT".to_owned()
    } else {
        "INPUT".to_owned()
    }
}

/// One tax rate, and the TaxType it named (none: one is assigned afterwards).
fn tax_rate(
    path: &str,
    value: Value,
    country_code: Option<&str>,
) -> Result<(SeedTaxRate, Option<String>), OrganisationError> {
    let mut f = Fields::new(path, value, TAX_RATE_FIELDS, &[])?;
    let tax_type = match f.take::<String>("TaxType", "a code such as OUTPUT or TAX001")? {
        Some(code) => {
            if code.is_empty()
                || code.len() > 20
                || !code
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            {
                return Err(OrganisationError::invalid(
                    f.path("TaxType"),
                    format!(
                        "'{code}' is not a tax type code: use capital letters and digits, such as OUTPUT, INPUT2 or TAX001, or leave it out to get TAX001, TAX002, …"
                    ),
                ));
            }
            Some(code)
        }
        None => None,
    };
    let name = non_empty(
        &f.path("Name"),
        f.require("Name", "a string, the rate's display name")?,
    )?;
    let status = f.take::<String>("Status", "ACTIVE, ARCHIVED, DELETED or PENDING")?;
    let status = status.unwrap_or_else(|| "ACTIVE".to_owned());
    if !TAX_RATE_STATUSES.contains(&status.as_str()) {
        return Err(OrganisationError::invalid(
            f.path("Status"),
            format!(
                "'{status}' is not a tax rate status; use ACTIVE, ARCHIVED, DELETED or PENDING"
            ),
        ));
    }
    let mut components = Vec::new();
    for (j, value) in f
        .take::<Vec<Value>>("TaxComponents", "a list of {Name, Rate, IsCompound}")?
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        components.push(component(
            &format!("{}[{j}]", f.path("TaxComponents")),
            value,
            country_code,
        )?);
    }
    let given_effective = match f.map.remove("EffectiveRate") {
        None | Some(Value::Null) => None,
        Some(value) => Some(rate(&f.path("EffectiveRate"), &value)?),
    };
    let given_display = match f.map.remove("DisplayTaxRate") {
        None | Some(Value::Null) => None,
        Some(value) => Some(rate(&f.path("DisplayTaxRate"), &value)?),
    };
    // Xero's PUT /TaxRates takes the components and works out both rates (they are read-only
    // in the spec). A rate given without components becomes one component of that rate; rates
    // given with components must agree with them, so a pasted `GET /TaxRates` answer is taken
    // and a typo is not.
    if components.is_empty() {
        let Some(effective) = given_effective.or(given_display) else {
            return Err(OrganisationError::invalid(
                f.path("TaxComponents"),
                "is required unless EffectiveRate is given: list the components, e.g. [{\"Name\":\"State\",\"Rate\":4},{\"Name\":\"City\",\"Rate\":4.5}], or give \"EffectiveRate\": 8.5",
            ));
        };
        components.push(Component {
            name: name.clone(),
            rate: effective,
            compound: false,
            non_recoverable: false,
        });
    }
    let (display, effective) = display_and_effective(&components);
    for (key, given, computed) in [
        ("EffectiveRate", given_effective, effective),
        ("DisplayTaxRate", given_display, display),
    ] {
        if let Some(given) = given
            && given != computed
        {
            return Err(OrganisationError::invalid(
                f.path(key),
                format!(
                    "{given} does not match the components, which give {computed}; leave it out and it is worked out"
                ),
            ));
        }
    }
    let report_tax_type = f.take::<String>("ReportTaxType", "a code such as OUTPUT or INPUT")?;
    // The CanApplyTo… flags are read-only in Xero's spec and how Xero sets them is not
    // documented; here they default the way Xero's own rates read: sales rates not on
    // expenses, purchase rates not on revenue (the spec's PUT /TaxRates example answers INPUT
    // with CanApplyToRevenue false).
    let report = report_tax_type
        .as_deref()
        .unwrap_or(tax_type.as_deref().unwrap_or(""));
    let sales_only = report.starts_with("OUTPUT") || report.ends_with("OUTPUT");
    let purchases_only = report.starts_with("INPUT") || report.ends_with("INPUT");
    let rate = SeedTaxRate {
        tax_type: tax_type.clone().unwrap_or_default(),
        name,
        status,
        effective_rate: effective,
        display_tax_rate: Some(display),
        report_tax_type,
        can_apply_to_revenue: f.flag("CanApplyToRevenue")?.unwrap_or(!purchases_only),
        can_apply_to_expenses: f.flag("CanApplyToExpenses")?.unwrap_or(!sales_only),
        can_apply_to_assets: f.flag("CanApplyToAssets")?.unwrap_or(true),
        can_apply_to_liabilities: f.flag("CanApplyToLiabilities")?.unwrap_or(true),
        can_apply_to_equity: f.flag("CanApplyToEquity")?.unwrap_or(true),
        tax_components: components.iter().map(component_json).collect(),
    };
    Ok((rate, tax_type))
}

fn component(
    path: &str,
    value: Value,
    country_code: Option<&str>,
) -> Result<Component, OrganisationError> {
    let mut f = Fields::new(path, value, COMPONENT_FIELDS, &[])?;
    let name = non_empty(
        &f.path("Name"),
        f.require("Name", "the component's name, such as GST or State")?,
    )?;
    let Some(value) = f.map.remove("Rate").filter(|v| !v.is_null()) else {
        return Err(OrganisationError::invalid(
            f.path("Rate"),
            "is required: the component's percentage, such as 5 for 5%",
        ));
    };
    let rate = rate(&f.path("Rate"), &value)?;
    let compound = f.flag("IsCompound")?.unwrap_or(false);
    let non_recoverable = f.flag("IsNonRecoverable")?.unwrap_or(false);
    // "Non-recoverable rates are only applicable to Canadian organisations" (spec
    // `TaxComponent.IsNonRecoverable`).
    if non_recoverable && country_code != Some("CA") {
        return Err(OrganisationError::invalid(
            f.path("IsNonRecoverable"),
            "is only for Canadian organisations (CountryCode CA), per Xero's TaxComponent docs",
        ));
    }
    Ok(Component {
        name,
        rate,
        compound,
        non_recoverable,
    })
}

/// A rate of the standard sets, with one component named after its tax.
fn standard(
    tax_type: &str,
    name: &str,
    percent: Decimal,
    report: &str,
    component: &str,
    (revenue, expenses): (bool, bool),
) -> SeedTaxRate {
    SeedTaxRate {
        tax_type: tax_type.to_owned(),
        name: name.to_owned(),
        status: "ACTIVE".to_owned(),
        effective_rate: percent,
        display_tax_rate: Some(percent),
        report_tax_type: Some(report.to_owned()),
        can_apply_to_revenue: revenue,
        can_apply_to_expenses: expenses,
        can_apply_to_assets: true,
        can_apply_to_liabilities: true,
        can_apply_to_equity: true,
        tax_components: vec![component_json(&Component {
            name: component.to_owned(),
            rate: percent,
            compound: false,
            non_recoverable: false,
        })],
    }
}

/// The tax rates of a new organisation that names none. NZ and AU get the demo companies'
/// active rates (GST 15% and 10%), GB Xero's UK VAT codes, and every other country Xero's
/// global/US set, whose sales and purchase rates are `SalesTaxRate` (0 when not given: these
/// countries have no one national rate Xero could assume).
fn default_tax_rates(
    country_code: Option<&str>,
    sales_tax_rate: Option<Decimal>,
) -> Result<Vec<SeedTaxRate>, OrganisationError> {
    let both = (true, true);
    let sales = (true, false);
    let purchases = (false, true);
    let demo = |tenant: usize| {
        let mut rates = Seed::demo().tenants[tenant].tax_rates.clone();
        rates.retain(|r| r.status == "ACTIVE");
        rates
    };
    let national = match country_code {
        Some("NZ") => Some(demo(0)),
        Some("AU") => Some(demo(1)),
        // Xero's UK VAT codes (the TaxType enum of its spec); the names are as Xero's UK
        // organisations show them (UNSURE: from memory of the product, not a document).
        Some("GB") => Some(vec![
            standard(
                "OUTPUT2",
                "20% (VAT on Income)",
                Decimal::from(20),
                "OUTPUT",
                "VAT",
                sales,
            ),
            standard(
                "INPUT2",
                "20% (VAT on Expenses)",
                Decimal::from(20),
                "INPUT",
                "VAT",
                purchases,
            ),
            standard(
                "RROUTPUT",
                "5% (VAT on Income)",
                Decimal::from(5),
                "OUTPUT",
                "VAT",
                sales,
            ),
            standard(
                "RRINPUT",
                "5% (VAT on Expenses)",
                Decimal::from(5),
                "INPUT",
                "VAT",
                purchases,
            ),
            standard(
                "ZERORATEDOUTPUT",
                "Zero Rated Income",
                Decimal::ZERO,
                "OUTPUT",
                "VAT",
                sales,
            ),
            standard(
                "ZERORATEDINPUT",
                "Zero Rated Expenses",
                Decimal::ZERO,
                "INPUT",
                "VAT",
                purchases,
            ),
            standard(
                "EXEMPTOUTPUT",
                "Exempt Income",
                Decimal::ZERO,
                "EXEMPTOUTPUT",
                "VAT",
                sales,
            ),
            standard(
                "EXEMPTINPUT",
                "Exempt Expenses",
                Decimal::ZERO,
                "EXEMPTINPUT",
                "VAT",
                purchases,
            ),
            standard("NONE", "No VAT", Decimal::ZERO, "NONE", "VAT", both),
        ]),
        _ => None,
    };
    if let Some(rates) = national {
        if sales_tax_rate.is_some() {
            return Err(OrganisationError::invalid(
                "SalesTaxRate",
                format!(
                    "is for countries without one national rate; {} gets its standard rates. Give TaxRates to use others",
                    country_code.unwrap_or_default()
                ),
            ));
        }
        return Ok(rates);
    }
    // Xero's US and global organisations: OUTPUT "Tax on Sales", INPUT "Tax on Purchases",
    // NONE "Tax Exempt", GSTONIMPORTS "Sales Tax on Imports" (the codes are in the TaxType
    // enum of its spec; the names are as Xero shows them, UNSURE).
    let percent = sales_tax_rate.unwrap_or(Decimal::ZERO);
    Ok(vec![
        standard(
            "OUTPUT",
            "Tax on Sales",
            percent,
            "OUTPUT",
            "Sales Tax",
            sales,
        ),
        standard(
            "INPUT",
            "Tax on Purchases",
            percent,
            "INPUT",
            "Sales Tax",
            purchases,
        ),
        standard(
            "NONE",
            "Tax Exempt",
            Decimal::ZERO,
            "NONE",
            "Sales Tax",
            both,
        ),
        standard(
            "GSTONIMPORTS",
            "Sales Tax on Imports",
            Decimal::ZERO,
            "GSTONIMPORTS",
            "Sales Tax",
            purchases,
        ),
    ])
}

// ---- Accounts -----------------------------------------------------------------------------

const ACCOUNT_FIELDS: &[&str] = &[
    "AccountID",
    "Code",
    "Name",
    "Type",
    "Status",
    "TaxType",
    "EnablePaymentsToAccount",
    "SystemAccount",
    "BankAccountType",
    "Class",
    "CurrencyCode",
    "Description",
];

/// Printed by `GET /Accounts` but not modelled: accepted and dropped, so a real organisation's
/// chart can be pasted in.
const IGNORED_ACCOUNT_FIELDS: &[&str] = &[
    "ShowInExpenseClaims",
    "ReportingCode",
    "ReportingCodeName",
    "HasAttachments",
    "AddToWatchlist",
    "UpdatedDateUTC",
];

/// `AccountType` in Xero's spec.
const ACCOUNT_TYPES: &[&str] = &[
    "BANK",
    "CURRENT",
    "CURRLIAB",
    "DEPRECIATN",
    "DIRECTCOSTS",
    "EQUITY",
    "EXPENSE",
    "FIXED",
    "INVENTORY",
    "LIABILITY",
    "NONCURRENT",
    "OTHERINCOME",
    "OVERHEADS",
    "PREPAYMENT",
    "REVENUE",
    "SALES",
    "TERMLIAB",
    "PAYG",
];

/// `Account.SystemAccount` in Xero's spec.
const SYSTEM_ACCOUNTS: &[&str] = &[
    "DEBTORS",
    "CREDITORS",
    "BANKCURRENCYGAIN",
    "GST",
    "GSTONIMPORTS",
    "HISTORICAL",
    "REALISEDCURRENCYGAIN",
    "RETAINEDEARNINGS",
    "ROUNDING",
    "TRACKINGTRANSFERS",
    "UNPAIDEXPCLM",
    "UNREALISEDCURRENCYGAIN",
    "WAGEPAYABLES",
    "CISASSETS",
    "CISASSET",
    "CISLABOUR",
    "CISLABOUREXPENSE",
    "CISLABOURINCOME",
    "CISLIABILITY",
    "CISMATERIALS",
];

fn accounts(
    field: &str,
    list: Vec<Value>,
    tax_rates: &[SeedTaxRate],
    currencies: &[String],
) -> Result<Vec<SeedAccount>, OrganisationError> {
    if list.is_empty() {
        return Err(OrganisationError::invalid(
            field,
            "is empty: give the chart of accounts, or leave Accounts out for the standard chart",
        ));
    }
    let mut accounts: Vec<SeedAccount> = Vec::with_capacity(list.len());
    for (i, value) in list.into_iter().enumerate() {
        let path = format!("{field}[{i}]");
        let account = account(&path, value, tax_rates, currencies)?;
        // Codes are looked up case-insensitively, so they must differ that way too.
        if let Some(j) = accounts
            .iter()
            .position(|a| a.code.eq_ignore_ascii_case(&account.code))
        {
            return Err(OrganisationError::invalid(
                format!("{path}.Code"),
                format!(
                    "'{}' is already the code of {field}[{j}]; account codes are unique",
                    account.code
                ),
            ));
        }
        if let Some(id) = account.account_id
            && let Some(j) = accounts.iter().position(|a| a.account_id == Some(id))
        {
            return Err(OrganisationError::invalid(
                format!("{path}.AccountID"),
                format!("{id} is already the AccountID of {field}[{j}]"),
            ));
        }
        if let Some(system) = &account.system_account
            && let Some(j) = accounts
                .iter()
                .position(|a| a.system_account.as_ref() == Some(system))
        {
            return Err(OrganisationError::invalid(
                format!("{path}.SystemAccount"),
                format!(
                    "{field}[{j}] is already the {system} account; an organisation has one of each"
                ),
            ));
        }
        accounts.push(account);
    }
    Ok(accounts)
}

fn account(
    path: &str,
    value: Value,
    tax_rates: &[SeedTaxRate],
    currencies: &[String],
) -> Result<SeedAccount, OrganisationError> {
    let mut f = Fields::new(path, value, ACCOUNT_FIELDS, IGNORED_ACCOUNT_FIELDS)?;
    let account_id = f.take::<Uuid>("AccountID", "a UUID")?;
    let code = non_empty(
        &f.path("Code"),
        f.require("Code", "the account code, such as 200")?,
    )?;
    // "Customer defined alpha numeric account code e.g 200 or SALES (max length = 10)".
    if code.chars().count() > 10 {
        return Err(OrganisationError::invalid(
            f.path("Code"),
            format!("'{code}' is longer than Xero's 10 characters"),
        ));
    }
    let name = non_empty(
        &f.path("Name"),
        f.require("Name", "a string, the account's name")?,
    )?;
    if name.chars().count() > 150 {
        return Err(OrganisationError::invalid(
            f.path("Name"),
            "is longer than Xero's 150 characters",
        ));
    }
    let account_type: String = f.require("Type", "an account type such as REVENUE or BANK")?;
    if !ACCOUNT_TYPES.contains(&account_type.as_str()) {
        return Err(OrganisationError::invalid(
            f.path("Type"),
            format!(
                "'{account_type}' is not a Xero account type; use one of {}",
                ACCOUNT_TYPES.join(", ")
            ),
        ));
    }
    let status = f
        .take::<String>("Status", "ACTIVE, ARCHIVED or DELETED")?
        .unwrap_or_else(|| "ACTIVE".to_owned());
    if !["ACTIVE", "ARCHIVED", "DELETED"].contains(&status.as_str()) {
        return Err(OrganisationError::invalid(
            f.path("Status"),
            format!("'{status}' is not an account status; use ACTIVE, ARCHIVED or DELETED"),
        ));
    }
    let tax_type = f.take::<String>("TaxType", "one of the organisation's tax types")?;
    if let Some(tax) = &tax_type
        && !tax_rates
            .iter()
            .any(|r| r.tax_type.eq_ignore_ascii_case(tax))
    {
        let known: Vec<&str> = tax_rates.iter().map(|r| r.tax_type.as_str()).collect();
        return Err(OrganisationError::invalid(
            f.path("TaxType"),
            format!(
                "'{tax}' is not one of this organisation's tax types ({}); rates given without a TaxType are numbered TAX001, TAX002, … in order",
                known.join(", ")
            ),
        ));
    }
    let enable_payments = f.flag("EnablePaymentsToAccount")?.unwrap_or(false);
    let system_account = f
        .take::<String>(
            "SystemAccount",
            "a system account such as DEBTORS or ROUNDING",
        )?
        .filter(|s| !s.is_empty());
    if let Some(system) = &system_account
        && !SYSTEM_ACCOUNTS.contains(&system.as_str())
    {
        return Err(OrganisationError::invalid(
            f.path("SystemAccount"),
            format!(
                "'{system}' is not a Xero system account; use one of {}",
                SYSTEM_ACCOUNTS.join(", ")
            ),
        ));
    }
    let bank_account_type = f
        .take::<String>("BankAccountType", "BANK, CREDITCARD or PAYPAL")?
        .filter(|s| !s.is_empty() && s != "NONE");
    let bank_account_type = match (account_type.as_str(), bank_account_type) {
        ("BANK", None) => Some("BANK".to_owned()),
        ("BANK", Some(kind)) if ["BANK", "CREDITCARD", "PAYPAL"].contains(&kind.as_str()) => {
            Some(kind)
        }
        ("BANK", Some(kind)) => {
            return Err(OrganisationError::invalid(
                f.path("BankAccountType"),
                format!("'{kind}' is not a bank account type; use BANK, CREDITCARD or PAYPAL"),
            ));
        }
        (_, None) => None,
        (_, Some(_)) => {
            // "For bank accounts only" (spec `Account.BankAccountType`).
            return Err(OrganisationError::invalid(
                f.path("BankAccountType"),
                "is for BANK accounts only; leave it out or make the Type BANK",
            ));
        }
    };
    let class = class_for_type(&account_type);
    if let Some(given) =
        f.take::<String>("Class", "ASSET, EQUITY, EXPENSE, LIABILITY or REVENUE")?
        && given != class
    {
        return Err(OrganisationError::invalid(
            f.path("Class"),
            format!(
                "is {given} but Xero derives it from the Type: {account_type} is {class}; leave Class out"
            ),
        ));
    }
    let currency_code = match f.take::<String>("CurrencyCode", "an ISO 4217 code")? {
        Some(code) => {
            let code = currency(&f.path("CurrencyCode"), &code)?;
            if !currencies.contains(&code) {
                return Err(OrganisationError::invalid(
                    f.path("CurrencyCode"),
                    format!("the organisation is not subscribed to {code}; add it to Currencies"),
                ));
            }
            Some(code)
        }
        None => None,
    };
    let description = f.take::<String>("Description", "a string")?;
    Ok(SeedAccount {
        account_id,
        code,
        name,
        account_type,
        status,
        tax_type,
        enable_payments_to_account: enable_payments,
        system_account,
        bank_account_type,
        class: Some(class.to_owned()),
        currency_code,
        description,
    })
}

/// The tax types the standard chart puts on its accounts: sales on revenue, purchases on
/// expenses, exempt on the rest. Taken from the organisation's own rates: the first active one
/// with a rate that may be used on revenue (expenses), else any that may; exempt is the first
/// active zero rate usable on both.
struct ChartTaxes {
    sales: Option<String>,
    purchases: Option<String>,
    exempt: Option<String>,
}

impl ChartTaxes {
    fn pick(rates: &[SeedTaxRate]) -> Self {
        let active: Vec<&SeedTaxRate> = rates.iter().filter(|r| r.status == "ACTIVE").collect();
        let first = |ok: &dyn Fn(&SeedTaxRate) -> bool| {
            active
                .iter()
                .find(|r| ok(r) && !r.effective_rate.is_zero())
                .or_else(|| active.iter().find(|r| ok(r)))
                .map(|r| r.tax_type.clone())
        };
        Self {
            sales: first(&|r| r.can_apply_to_revenue),
            purchases: first(&|r| r.can_apply_to_expenses),
            exempt: active
                .iter()
                .find(|r| {
                    r.effective_rate.is_zero() && r.can_apply_to_revenue && r.can_apply_to_expenses
                })
                .or_else(|| active.iter().find(|r| r.effective_rate.is_zero()))
                .map(|r| r.tax_type.clone()),
        }
    }
}

/// The standard chart: the demo company's accounts (less its archived one), so the local
/// processor config's mapping (200 sales, 205 shipping, 210 discounts, 260 fees, 825 gift
/// cards, 860 rounding, 615/616 clearing) works on any new organisation.
fn default_chart(tax_rates: &[SeedTaxRate]) -> Vec<SeedAccount> {
    let taxes = ChartTaxes::pick(tax_rates);
    let (sales, purchases, exempt) = (&taxes.sales, &taxes.purchases, &taxes.exempt);
    let account = |code: &str, name: &str, kind: &str, tax: &Option<String>| SeedAccount {
        account_id: None,
        code: code.to_owned(),
        name: name.to_owned(),
        account_type: kind.to_owned(),
        status: "ACTIVE".to_owned(),
        tax_type: tax.clone(),
        enable_payments_to_account: false,
        system_account: None,
        bank_account_type: (kind == "BANK").then(|| "BANK".to_owned()),
        class: None,
        currency_code: None,
        description: None,
    };
    let system = |mut a: SeedAccount, system: &str| {
        a.system_account = Some(system.to_owned());
        a
    };
    let payable = |mut a: SeedAccount, description: &str| {
        a.enable_payments_to_account = true;
        a.description = Some(description.to_owned());
        a
    };
    vec![
        account("090", "Business Bank Account", "BANK", exempt),
        account("200", "Sales", "REVENUE", sales),
        account("205", "Shipping Income", "REVENUE", sales),
        account("210", "Sales Discounts", "REVENUE", sales),
        account("260", "Other Revenue", "REVENUE", sales),
        account("270", "Interest Income", "REVENUE", exempt),
        account("310", "Cost of Goods Sold", "DIRECTCOSTS", purchases),
        account("400", "Advertising", "OVERHEADS", purchases),
        account("404", "Bank Fees", "OVERHEADS", exempt),
        account("405", "Merchant Fees", "OVERHEADS", purchases),
        account("429", "General Expenses", "OVERHEADS", purchases),
        system(
            account("610", "Accounts Receivable", "CURRENT", exempt),
            "DEBTORS",
        ),
        payable(
            account("615", "Shopify Clearing", "CURRENT", exempt),
            "Shopify Payments payouts clear through here",
        ),
        payable(
            account("616", "Gateway Clearing", "CURRENT", exempt),
            "PayPal and other gateways clear through here",
        ),
        account("620", "Prepayments", "CURRENT", exempt),
        account("630", "Inventory", "INVENTORY", exempt),
        system(
            account("800", "Accounts Payable", "CURRLIAB", exempt),
            "CREDITORS",
        ),
        system(account("820", "Sales Tax", "CURRLIAB", exempt), "GST"),
        payable(
            account("825", "Gift Card Liability", "CURRLIAB", exempt),
            "Gift cards sold and not yet redeemed",
        ),
        system(account("860", "Rounding", "CURRLIAB", exempt), "ROUNDING"),
        system(
            account("960", "Retained Earnings", "EQUITY", exempt),
            "RETAINEDEARNINGS",
        ),
    ]
}

// ---- Custom Connection --------------------------------------------------------------------

/// A Custom Connection app bound to the new organisation: "machine-to-machine access to a
/// single organisation" with the `client_credentials` grant (developer.xero.com/faq/
/// custom-integration), which is how the processor's local config reaches Xero.
fn custom_connection(
    value: Value,
    tenant_id: Uuid,
    name: &str,
) -> Result<SeedApp, OrganisationError> {
    let mut f = Fields::new(
        "CustomConnection",
        value,
        &["ClientId", "ClientSecret", "Scopes"],
        &[],
    )?;
    let client_id = non_empty(
        &f.path("ClientId"),
        f.require(
            "ClientId",
            "the app's client_id, such as my-store-connection",
        )?,
    )?;
    let client_secret = non_empty(
        &f.path("ClientSecret"),
        f.require("ClientSecret", "the app's client_secret")?,
    )?;
    // "Scopes": chosen when the connection is created and fixed since (its tokens get them).
    let custom_connection_scopes =
        match f.take::<String>("Scopes", "the scopes, space-separated")? {
            Some(scopes) => Some(
                crate::scopes::check_requested(&scopes, crate::scopes::ScopeScheme::default())
                    .map_err(|bad| {
                        OrganisationError::invalid(
                            f.path("Scopes"),
                            format!("names {bad}, which a Custom Connection made now cannot have"),
                        )
                    })?
                    .join(" "),
            ),
            None => None,
        };
    Ok(SeedApp {
        client_id,
        client_secret,
        name: Some(format!("Custom Connection to {name}")),
        redirect_uris: Vec::new(),
        allow_localhost_redirects: false,
        custom_connection_tenant: Some(tenant_id),
        scope_scheme: crate::scopes::ScopeScheme::default(),
        custom_connection_scopes,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn component(rate: i64, scale: u32, compound: bool) -> Component {
        Component {
            name: "C".to_owned(),
            rate: Decimal::new(rate, scale),
            compound,
            non_recoverable: false,
        }
    }

    #[test]
    fn a_compound_component_is_charged_on_the_tax_before_it() {
        // Xero's forum example: 6% plus a compound 4% is 10.00% displayed, 10.24% effective.
        let (display, effective) =
            display_and_effective(&[component(6, 0, false), component(4, 0, true)]);
        assert_eq!(
            (display, effective),
            (Decimal::from(10), Decimal::new(1024, 2))
        );

        // Quebec before 2013: GST 5% and QST 9.5% on the GST-inclusive price.
        let (display, effective) =
            display_and_effective(&[component(95, 1, true), component(5, 0, false)]);
        assert_eq!(display, Decimal::new(145, 1));
        assert_eq!(effective, Decimal::new(14975, 3));
    }

    #[test]
    fn components_without_compounding_add_up() {
        let (display, effective) = display_and_effective(&[
            component(4, 0, false),
            component(45, 1, false),
            component(375, 3, false),
        ]);
        assert_eq!(display, Decimal::new(8875, 3));
        assert_eq!(effective, display);
    }

    #[test]
    fn only_name_and_currency_are_needed() {
        let org = from_value(json!({"Name": "Shop", "BaseCurrency": "USD"})).unwrap();
        assert_eq!(org.tenant.country_code.as_deref(), Some("US"));
        assert_eq!(org.tenant.currencies, vec!["USD"]);
        let sales = org
            .tenant
            .accounts
            .iter()
            .find(|a| a.code == "200")
            .unwrap();
        assert_eq!(sales.tax_type.as_deref(), Some("OUTPUT"));
        assert!(org.tenant.tax_rates.iter().any(|r| r.tax_type == "NONE"));
    }

    #[test]
    fn errors_name_the_field() {
        let field = |body: Value| from_value(body).unwrap_err().field;
        assert_eq!(
            field(json!({"Name": "S", "BaseCurrency": "usd"})),
            "BaseCurrency"
        );
        assert_eq!(field(json!({"Name": "S", "Currency": "USD"})), "Currency");
        assert_eq!(
            field(json!({"Name": "S", "BaseCurrency": "USD", "Currencies": ["EUR", "XXX"]})),
            "Currencies[1]"
        );
        assert_eq!(
            field(json!({"Name": "S", "BaseCurrency": "USD",
                "TaxRates": [{"Name": "T", "TaxComponents": [{"Name": "A", "Rate": "x"}]}]})),
            "TaxRates[0].TaxComponents[0].Rate"
        );
        assert_eq!(
            field(json!({"Name": "S", "BaseCurrency": "USD",
                "Accounts": [{"Code": "1", "Name": "A", "Type": "SALES", "TaxType": "NOPE"}]})),
            "Accounts[0].TaxType"
        );
    }

    #[test]
    fn unnamed_rates_are_numbered_around_the_named_ones() {
        let org = from_value(json!({"Name": "S", "BaseCurrency": "EUR", "TaxRates": [
            {"Name": "A", "EffectiveRate": 1},
            {"Name": "B", "TaxType": "TAX001", "EffectiveRate": 2},
            {"Name": "C", "EffectiveRate": 3},
        ]}))
        .unwrap();
        let types: Vec<&str> = org
            .tenant
            .tax_rates
            .iter()
            .map(|r| r.tax_type.as_str())
            .collect();
        assert_eq!(types, vec!["TAX002", "TAX001", "TAX003"]);
    }
}
