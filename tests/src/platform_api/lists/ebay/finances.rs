//! eBay's Sell Finances API, served on `apiz.ebay.com` in production (the shop's reader moves
//! eBay's own hosts there; this fake answers on its one base URL), as eBay's references and
//! the OpenAPI document `sell_finances_v1_oas3` describe it:
//! - `getPayouts`, `GET /sell/finances/v1/payout`: `filter` holds comma-separated criteria,
//!   `payoutDate:[a..b]` (UTC with milliseconds, inclusive; without `b`, 90 days from `a`) and
//!   `payoutStatus:{S}`, one of `INITIATED`, `SUCCEEDED`, `RETRYABLE_FAILED`,
//!   `TERMINAL_FAILED`, `REVERSED` (else 400, error 135002; a bad date is 135004). `limit`
//!   1..=200, default 20, and `offset` from 0 (else 135003). Payouts come oldest first by
//!   `payoutDate` ("sorted in ascending order according to the payout date"); `sort` takes
//!   `payoutDate` and `-payoutDate` (newest first) only (else 135005). The answer is `{href,
//!   limit, offset, total, payouts, next?, prev?}`, `next`/`prev` full URLs on `apiz.ebay.com`;
//!   none matching is 204 No Content.
//! - `getPayout`, `GET /sell/finances/v1/payout/{payout_Id}`: the payout, or 404 with error
//!   135001 ("The payout id was not found").
//! - `getTransactions`, `GET /sell/finances/v1/transaction`: criteria `payoutId:{id}`,
//!   `orderId:{id}`, `transactionId:{id}` (only with `transactionType`, else 135009),
//!   `transactionType:{T}` (`SALE`, `REFUND`, `CREDIT`, `DISPUTE`, `NON_SALE_CHARGE`,
//!   `SHIPPING_LABEL`, `TRANSFER`, `ADJUSTMENT`, `WITHDRAWAL`, `LOAN_REPAYMENT`, else 135006),
//!   `transactionStatus:{S}` (`PAYOUT`, `FUNDS_PROCESSING`, `FUNDS_AVAILABLE_FOR_PAYOUT`,
//!   `FUNDS_ON_HOLD`, `COMPLETED`, `FAILED`, else 135007), `transactionDate:[a..b]` (135008);
//!   `limit` 1..=1000, default 20; newest first by `transactionDate` ("sorted in descending
//!   order according to the transaction date"). Same paged answer, `transactions` its list;
//!   204 No Content when none match.
//! - Errors are `{"errors": [{errorId, domain: "API_FINANCES", category: "REQUEST", message}]}`;
//!   a call over the rate limit (asked for by a test) is 429 with eBay's error 2001.
//!
//! UNSURE: the `limit` parameter of `getTransactions` "will be ignored" with a `payoutId`,
//! `orderId` or `transactionId` filter, without saying what page size applies then, and its
//! `Transactions` type gives 200 as the maximum: the fake honours `limit`, so a reader must
//! follow `next` (or `total`) either way.

use actix_web::HttpResponse;
use serde_json::{Value, json};
use time::OffsetDateTime;
use xcs_shared::Platform;

use super::super::{param, throttled, time_of};
use crate::platform_api::{FakePlatformApi, State};

const PAYOUTS: &str = "/sell/finances/v1/payout";
const TRANSACTIONS: &str = "/sell/finances/v1/transaction";
const PAYOUT_STATUSES: [&str; 5] = [
    "INITIATED",
    "SUCCEEDED",
    "RETRYABLE_FAILED",
    "TERMINAL_FAILED",
    "REVERSED",
];
const TRANSACTION_TYPES: [&str; 10] = [
    "SALE",
    "REFUND",
    "CREDIT",
    "DISPUTE",
    "NON_SALE_CHARGE",
    "SHIPPING_LABEL",
    "TRANSFER",
    "ADJUSTMENT",
    "WITHDRAWAL",
    "LOAN_REPAYMENT",
];
const TRANSACTION_STATUSES: [&str; 6] = [
    "PAYOUT",
    "FUNDS_PROCESSING",
    "FUNDS_AVAILABLE_FOR_PAYOUT",
    "FUNDS_ON_HOLD",
    "COMPLETED",
    "FAILED",
];

impl FakePlatformApi {
    /// Puts an eBay payout (the Finances API's `Payout` type: `payoutId`, `payoutStatus`,
    /// `payoutDate`, `amount`, ...) in the seller's payouts, replacing the one with the same
    /// `payoutId`, and its monetary transactions (the `Transaction` type, each with its
    /// `payoutId`) in the transactions list, replacing those with the same `transactionId`.
    pub fn ebay_payout(&self, payout: Value, transactions: Vec<Value>) {
        assert_eq!(
            self.platform,
            Platform::Ebay,
            "eBay payouts are faked by an eBay fake"
        );
        let mut payouts = self.state.payouts.lock().unwrap();
        payouts.retain(|p| p["payoutId"] != payout["payoutId"]);
        payouts.push(payout);
        let mut listed = self.state.balance_transactions.lock().unwrap();
        listed.retain(|t| {
            !transactions
                .iter()
                .any(|new| new["transactionId"] == t["transactionId"])
        });
        listed.extend(transactions);
    }
}

pub(super) fn answer(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Option<(u16, HttpResponse)> {
    let one = path
        .strip_prefix(PAYOUTS)
        .and_then(|rest| rest.strip_prefix('/'))
        .filter(|id| !id.is_empty() && !id.contains('/'));
    if path != PAYOUTS && path != TRANSACTIONS && one.is_none() {
        return None;
    }
    if throttled(state) {
        return Some((
            429,
            HttpResponse::TooManyRequests().json(json!({"errors": [{
                "errorId": 2001, "domain": "ACCESS", "category": "REQUEST",
                "message": "Too many requests. The request limit has been reached for the resource.",
            }]})),
        ));
    }
    if let Some(id) = one {
        let found = state
            .payouts
            .lock()
            .unwrap()
            .iter()
            .find(|p| p["payoutId"] == id)
            .cloned();
        return Some(match found {
            Some(payout) => (200, HttpResponse::Ok().json(payout)),
            None => (
                404,
                HttpResponse::NotFound().json(error(135001, "The payout id was not found.")),
            ),
        });
    }
    Some(match list(state, path, query) {
        Ok(answer) => answer,
        Err((error_id, message)) => (
            400,
            HttpResponse::BadRequest().json(error(error_id, &message)),
        ),
    })
}

fn error(error_id: u32, message: &str) -> Value {
    json!({"errors": [{
        "errorId": error_id, "domain": "API_FINANCES", "category": "REQUEST", "message": message,
    }]})
}

type Refusal = (u32, String);

/// One criterion of a filter: `name:{value}` or `name:[a..b]`.
fn criteria(filter: &str) -> Vec<(&str, &str)> {
    filter
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.split_once(':').unwrap_or((c, "")))
        .collect()
}

/// `{value}`.
fn braced(value: &str) -> Option<&str> {
    value.strip_prefix('{')?.strip_suffix('}')
}

/// `[a..b]` or `[a..]`, each a UTC timestamp with milliseconds; an open end is 90 days on.
fn range(value: &str) -> Option<(OffsetDateTime, OffsetDateTime)> {
    let (from, to) = value
        .strip_prefix('[')?
        .strip_suffix(']')?
        .split_once("..")?;
    let stamp = |text: &str| {
        let millis = text.strip_suffix('Z')?.rsplit_once('.')?.1;
        (millis.len() == 3 && millis.bytes().all(|b| b.is_ascii_digit()))
            .then(|| time_of(text))
            .flatten()
    };
    let from = stamp(from)?;
    let to = if to.is_empty() {
        from + time::Duration::days(90)
    } else {
        stamp(to)?
    };
    Some((from, to))
}

fn list(
    state: &State,
    path: &str,
    query: &[(String, String)],
) -> Result<(u16, HttpResponse), Refusal> {
    let payouts = path == PAYOUTS;
    let max = if payouts { 200 } else { 1000 };
    let limit: usize = match param(query, "limit").map(str::parse) {
        None => 20,
        Some(Ok(n)) if (1..=max).contains(&n) => n,
        Some(_) => return Err((135003, "The value of pagination is invalid.".into())),
    };
    let offset: usize = match param(query, "offset").map(str::parse) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return Err((135003, "The value of pagination is invalid.".into())),
    };
    let filter = param(query, "filter").unwrap_or_default();
    let at = |resource: &Value, key: &str| resource[key].as_str().and_then(time_of);
    let mut found: Vec<Value> = if payouts {
        let mut dates = None;
        let mut status = None;
        for (name, value) in criteria(filter) {
            match name {
                "payoutDate" => {
                    dates = Some(range(value).ok_or((
                        135004,
                        "The value of payout date filter is invalid.".to_owned(),
                    ))?);
                }
                "payoutStatus" => {
                    status = Some(
                        braced(value)
                            .filter(|s| PAYOUT_STATUSES.contains(s))
                            .ok_or((
                                135002,
                                "The value of payout status filter is invalid.".to_owned(),
                            ))?,
                    );
                }
                _ => return Err((135004, format!("Invalid filter: {name}"))),
            }
        }
        let descending = match param(query, "sort") {
            None | Some("payoutDate") => false,
            Some("-payoutDate") => true,
            Some(_) => return Err((135005, "The value of sorting is invalid.".into())),
        };
        let mut found: Vec<Value> = state
            .payouts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| {
                status.is_none_or(|s| p["payoutStatus"] == s)
                    && dates.is_none_or(|(from, to)| {
                        at(p, "payoutDate").is_some_and(|d| d >= from && d <= to)
                    })
            })
            .cloned()
            .collect();
        found.sort_by_key(|p| {
            (
                at(p, "payoutDate"),
                p["payoutId"].as_str().map(str::to_owned),
            )
        });
        if descending {
            found.reverse();
        }
        found
    } else {
        let mut equal: Vec<(&str, &str)> = Vec::new();
        let mut dates = None;
        for (name, value) in criteria(filter) {
            let value_of = |error_id: u32, what: &str, allowed: &[&str]| {
                braced(value)
                    .filter(|v| allowed.is_empty() || allowed.contains(v))
                    .ok_or((error_id, format!("The value of {what} filter is invalid.")))
            };
            match name {
                "transactionType" => {
                    equal.push((
                        name,
                        value_of(135006, "transaction type", &TRANSACTION_TYPES)?,
                    ));
                }
                "transactionStatus" => equal.push((
                    name,
                    value_of(135007, "transaction status", &TRANSACTION_STATUSES)?,
                )),
                "payoutId" | "orderId" | "transactionId" | "buyerUsername" => {
                    equal.push((name, value_of(135006, name, &[])?));
                }
                "transactionDate" => {
                    dates = Some(range(value).ok_or((
                        135008,
                        "The value of transaction date filter is invalid.".to_owned(),
                    ))?);
                }
                _ => return Err((135006, format!("Invalid filter: {name}"))),
            }
        }
        let named = |key: &str| equal.iter().any(|(name, _)| *name == key);
        if named("transactionId") && !named("transactionType") {
            return Err((135009, "Transaction type filter is missing.".into()));
        }
        let mut found: Vec<Value> = state
            .balance_transactions
            .lock()
            .unwrap()
            .iter()
            .filter(|t| {
                equal.iter().all(|(name, value)| match *name {
                    "buyerUsername" => t["buyer"]["username"] == *value,
                    other => t[other] == *value,
                }) && dates.is_none_or(|(from, to)| {
                    at(t, "transactionDate").is_some_and(|d| d >= from && d <= to)
                })
            })
            .cloned()
            .collect();
        found.sort_by_key(|t| {
            std::cmp::Reverse((
                at(t, "transactionDate"),
                t["transactionId"].as_str().map(str::to_owned),
            ))
        });
        found
    };
    let total = found.len();
    if total == 0 {
        return Ok((204, HttpResponse::NoContent().finish()));
    }
    let page: Vec<Value> = found.drain(..).skip(offset).take(limit).collect();
    let url = |offset: usize| {
        let mut url = format!("https://apiz.ebay.com{path}?");
        if !filter.is_empty() {
            url += &format!("filter={}&", super::encode(filter));
        }
        url + &format!("limit={limit}&offset={offset}")
    };
    let name = if payouts { "payouts" } else { "transactions" };
    let mut body = json!({
        "href": url(offset), "limit": limit, "offset": offset, "total": total, name: page,
    });
    if offset + limit < total {
        body["next"] = json!(url(offset + limit));
    }
    if offset > 0 {
        body["prev"] = json!(url(offset.saturating_sub(limit)));
    }
    Ok((200, HttpResponse::Ok().json(body)))
}
