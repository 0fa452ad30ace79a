//! The Accounting API (`/api.xro/2.0/...`): routing and what every endpoint shares.
//!
//! # Layout
//! - [`accounts`]: `Accounts`, `TaxRates`, `Organisation`, `Currencies` (read-only settings).
//! - [`contacts`], [`items`]: master data; [`inventory`]: the stock of tracked items.
//! - [`documents`]: lines, tax and totals shared by invoices and credit notes;
//!   [`tax_overrides`]: lines whose tax is given, the documents Xero would flag for them.
//! - [`invoices`], [`credit_notes`] (with allocations), [`payments`].
//! - [`bank_transactions`] (spend and receive money), [`bank_transfers`] (and the money in an
//!   account, [`bank_transfers::account_balance`]).
//! - [`filter`]: the `where` parameter.

pub mod accounts;
pub mod bank_transactions;
pub mod bank_transfers;
pub mod contacts;
pub mod credit_notes;
pub mod documents;
pub mod filter;
pub mod inventory;
pub mod invoices;
pub mod items;
pub mod payments;
pub mod tax_overrides;

use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::response::SimResponse;
use crate::store::Tenant;
use crate::wire;

/// Everything a handler needs about one request.
pub struct Ctx<'a> {
    /// The organisation the call is for.
    pub tenant: &'a mut Tenant,
    /// The calling app.
    pub client_id: &'a str,
    /// Simulated time.
    pub now: OffsetDateTime,
    /// Decoded query parameters.
    pub query: &'a [(String, String)],
    /// Request headers (lower-case names).
    pub headers: &'a [(String, String)],
    /// Raw body.
    pub body: &'a [u8],
    /// See `World::lists_carry_payments`.
    pub lists_carry_payments: bool,
    /// See `World::readings`.
    pub readings: crate::readings::Readings,
}

impl Ctx<'_> {
    /// A query parameter, matched case-insensitively (Xero's parameters are).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// A boolean query parameter.
    pub fn flag(&self, name: &str) -> bool {
        self.param(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// A comma-separated list parameter (`IDs`, `InvoiceNumbers`, `Statuses`), with the
    /// optional quotes the SDK examples put around values removed.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        self.param(name).map(|v| {
            v.split(',')
                .map(|s| s.trim().trim_matches('"').to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// `unitdp=4` opts in to 4-decimal unit amounts.
    pub fn unit_dp(&self) -> u32 {
        if self.param("unitdp") == Some("4") {
            4
        } else {
            2
        }
    }

    /// `If-Modified-Since`, parsed.
    pub fn if_modified_since(&self) -> Option<OffsetDateTime> {
        self.headers
            .iter()
            .find(|(k, _)| k == "if-modified-since")
            .and_then(|(_, v)| wire::parse_datetime(v))
    }

    /// The parsed `where` filter.
    ///
    /// # Errors
    /// A `QueryParseException` answer for a filter that does not parse.
    pub fn where_filter(&self) -> Result<Option<filter::Expr>, SimResponse> {
        self.param("where")
            .map(|w| filter::parse(w).map_err(|e| SimResponse::query_parse_error(&e)))
            .transpose()
    }

    /// The elements of a write body: `{"Invoices":[…]}`, a single `{"Invoices":{…}}`, or a bare
    /// element (what the SDKs send for single-object endpoints).
    ///
    /// # Errors
    /// `PostDataInvalidException` for a body that is not a JSON object.
    pub fn elements(&self, collection: &str) -> Result<Vec<Value>, SimResponse> {
        let body: Value = serde_json::from_slice(self.body)
            .map_err(|e| SimResponse::post_data_invalid(&e.to_string()))?;
        let Value::Object(map) = body else {
            return Err(SimResponse::post_data_invalid(
                "the body must be a JSON object",
            ));
        };
        let wrapped = map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(collection))
            .map(|(_, v)| v.clone());
        match wrapped {
            Some(Value::Array(items)) => {
                if let Some(bad) = items.iter().find(|i| !i.is_object()) {
                    return Err(SimResponse::post_data_invalid(&format!(
                        "expected an object in {collection}, found {bad}"
                    )));
                }
                Ok(items)
            }
            Some(single @ Value::Object(_)) => Ok(vec![single]),
            Some(other) => Err(SimResponse::post_data_invalid(&format!(
                "{collection} must be an array, found {other}"
            ))),
            None => Ok(vec![Value::Object(map)]),
        }
    }
}

/// Paging as Xero does it: only when `page` is given, 100 per page by default, at most 1000.
pub struct Paging {
    /// 1-based page, when paging.
    pub page: Option<usize>,
    /// Page size.
    pub size: usize,
}

impl Paging {
    /// Reads `page` and `pageSize`.
    pub fn from(ctx: &Ctx<'_>) -> Self {
        let page = ctx
            .param("page")
            .and_then(|p| p.parse::<usize>().ok())
            .map(|p| p.max(1));
        let size = ctx
            .param("pageSize")
            .and_then(|p| p.parse::<usize>().ok())
            .map_or(100, |s| s.clamp(1, 1000));
        Self { page, size }
    }

    /// Applies the paging to a list and builds the envelope, with a `pagination` object when
    /// paging (as in the spec's `getInvoices` example).
    pub fn envelope(&self, now: OffsetDateTime, collection: &str, items: Vec<Value>) -> Value {
        let Some(page) = self.page else {
            return wire::envelope(now, collection, items);
        };
        let item_count = items.len();
        let page_items: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * self.size)
            .take(self.size)
            .collect();
        let mut head = wire::envelope_head(now);
        head.insert(
            "pagination".to_owned(),
            json!({
                "page": page,
                "pageSize": self.size,
                "pageCount": item_count.div_ceil(self.size),
                "itemCount": item_count,
            }),
        );
        head.insert(collection.to_owned(), Value::Array(page_items));
        Value::Object(head)
    }
}

/// Routes an Accounting API call. `segments` are the path parts after `/api.xro/2.0`.
pub fn handle(ctx: &mut Ctx<'_>, method: &str, segments: &[&str]) -> SimResponse {
    let Some((first, rest)) = segments.split_first() else {
        return SimResponse::not_found();
    };
    let resource = first.to_ascii_lowercase();
    match (resource.as_str(), method, rest) {
        ("accounts", "GET", []) => accounts::list_accounts(ctx),
        ("accounts", "GET", [id]) => accounts::get_account(ctx, id),
        ("taxrates", "GET", []) => accounts::list_tax_rates(ctx),
        ("organisation", "GET", []) => accounts::organisation(ctx),
        ("currencies", "GET", []) => accounts::currencies(ctx),
        ("contacts", "GET", []) => contacts::list(ctx),
        ("contacts", "GET", [id]) => contacts::get(ctx, id),
        ("contacts", "PUT", []) => contacts::write(ctx, false, None),
        ("contacts", "POST", []) => contacts::write(ctx, true, None),
        ("contacts", "POST", [id]) => contacts::write(ctx, true, Some(id)),
        ("items", "GET", []) => items::list(ctx),
        ("items", "GET", [id]) => items::get(ctx, id),
        ("items", "PUT", []) => items::write(ctx, false, None),
        ("items", "POST", []) => items::write(ctx, true, None),
        ("items", "POST", [id]) => items::write(ctx, true, Some(id)),
        ("invoices", "GET", []) => invoices::list(ctx),
        ("invoices", "GET", [id]) => invoices::get(ctx, id),
        ("invoices", "PUT", []) => invoices::write(ctx, false, None),
        ("invoices", "POST", []) => invoices::write(ctx, true, None),
        ("invoices", "POST", [id]) => invoices::write(ctx, true, Some(id)),
        ("creditnotes", "GET", []) => credit_notes::list(ctx),
        ("creditnotes", "GET", [id]) => credit_notes::get(ctx, id),
        ("creditnotes", "PUT", []) => credit_notes::write(ctx, false, None),
        ("creditnotes", "POST", []) => credit_notes::write(ctx, true, None),
        ("creditnotes", "POST", [id]) => credit_notes::write(ctx, true, Some(id)),
        ("creditnotes", "PUT", [id, sub]) if sub.eq_ignore_ascii_case("allocations") => {
            credit_notes::allocate(ctx, id)
        }
        ("payments", "GET", []) => payments::list(ctx),
        ("payments", "GET", [id]) => payments::get(ctx, id),
        ("payments", "PUT", []) => payments::create(ctx, false),
        ("payments", "POST", []) => payments::create(ctx, true),
        ("payments", "POST", [id]) => payments::delete(ctx, id),
        ("banktransactions", "GET", []) => bank_transactions::list(ctx),
        ("banktransactions", "GET", [id]) => bank_transactions::get(ctx, id),
        ("banktransactions", "PUT", []) => bank_transactions::write(ctx, false, None),
        ("banktransactions", "POST", []) => bank_transactions::write(ctx, true, None),
        ("banktransactions", "POST", [id]) => bank_transactions::write(ctx, true, Some(id)),
        ("banktransfers", "GET", []) => bank_transfers::list(ctx),
        ("banktransfers", "GET", [id]) => bank_transfers::get(ctx, id),
        ("banktransfers", "PUT", []) => bank_transfers::create(ctx),
        ("banktransfers", "POST", []) => bank_transfers::delete(ctx, None),
        ("banktransfers", "POST", [id]) => bank_transfers::delete(ctx, Some(id)),
        (
            "accounts" | "taxrates" | "organisation" | "currencies" | "contacts" | "items"
            | "invoices" | "creditnotes" | "payments" | "banktransactions" | "banktransfers",
            _,
            _,
        ) => SimResponse::text(
            405,
            format!("The requested resource does not support http method '{method}'."),
        ),
        _ => SimResponse::not_found(),
    }
}

/// Filters listed records by `where` and `If-Modified-Since` (by `UpdatedDateUTC`).
///
/// # Errors
/// A `QueryParseException` answer.
pub fn apply_common_filters(ctx: &Ctx<'_>, records: Vec<Value>) -> Result<Vec<Value>, SimResponse> {
    let filter = ctx.where_filter()?;
    let since = ctx.if_modified_since();
    Ok(records
        .into_iter()
        .filter(|r| filter.as_ref().is_none_or(|f| f.matches(r)))
        .filter(|r| {
            since.is_none_or(|since| {
                r.get("UpdatedDateUTC")
                    .and_then(|v| v.as_str())
                    .and_then(wire::parse_date_time_ms)
                    .is_some_and(|updated| updated >= since)
            })
        })
        .collect())
}

/// Sorts listed records by `order` ("Order by any element returned", the Bank Transfers and
/// Bank Transactions docs; the spec's example `Amount ASC`): comma-separated `Field [ASC|DESC]`
/// keys on the printed JSON (dotted paths allowed), money and numbers by value, `/Date(…)/`
/// by time, text case-insensitively, missing fields first. Stable, so ties keep creation
/// order.
///
/// # Errors
/// A `QueryParseException` answer for a direction other than `ASC` or `DESC`.
pub fn apply_order(ctx: &Ctx<'_>, mut records: Vec<Value>) -> Result<Vec<Value>, SimResponse> {
    let Some(order) = ctx.param("order") else {
        return Ok(records);
    };
    let mut keys: Vec<(Vec<String>, bool)> = Vec::new();
    for part in order.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = part.split_whitespace();
        let field = words.next().unwrap_or_default();
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(other) => {
                return Err(SimResponse::query_parse_error(&format!(
                    "'{other}' is not a sort direction in order '{order}'; use ASC or DESC"
                )));
            }
        };
        keys.push((field.split('.').map(str::to_owned).collect(), descending));
    }
    records.sort_by(|a, b| {
        keys.iter()
            .map(|(path, descending)| {
                let ordering = compare_for_order(filter::lookup(a, path), filter::lookup(b, path));
                if *descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    Ok(records)
}

fn compare_for_order(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let decimal = wire::marked_decimal;
    match (a.filter(|v| !v.is_null()), b.filter(|v| !v.is_null())) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            if let (Some(x), Some(y)) = (decimal(a), decimal(b)) {
                return x.cmp(&y);
            }
            let (x, y) = (
                a.as_str().unwrap_or_default(),
                b.as_str().unwrap_or_default(),
            );
            match (wire::parse_date_time_ms(x), wire::parse_date_time_ms(y)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => x.to_lowercase().cmp(&y.to_lowercase()),
            }
        }
    }
}

/// Reads a `{"XxxID": …}` or `{"Code": …}`-style reference object.
pub fn reference<'a>(element: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    element.get(key).and_then(Value::as_object)
}

/// Parses an id that may be a GUID.
pub fn parse_id(text: &str) -> Option<Uuid> {
    text.trim().parse().ok()
}
