//! Dead letters (`/console/dead`): the `dead list` filters as a form over the dead-letter
//! index, each letter with its reason, attempts, last error and what to do about it; replay
//! (a dry run first, then for real, with progress) and purge (after typing the count).
//!
//! - `GET /dead`: a page of 50, newest first, by keyset on the index (`?after=<cursor>`).
//!   It reads only the index in PostgreSQL, never the dead queue (a pass over 100,000
//!   messages takes minutes).
//! - `POST /dead/replay` with `dry_run=1`: an action (`dead.replay.dry_run`) that reads the
//!   queue and says what would be replayed, linking to `GET /dead/replay/confirm`.
//! - `POST /dead/replay` without it: an action (`dead.replay`) that replays at most the
//!   `limit` confirmed; the confirmation is a checkbox, and with no filter at all (everything)
//!   also the count typed.
//! - `GET /dead/purge/confirm` and `POST /dead/purge`: an action (`dead.purge`) that removes
//!   at most the `limit` confirmed, after the count (or `PURGE`) was typed.
//!
//! Every POST goes through `actions::run` (CSRF, recorded once, logged with who did it).

use std::future::Future;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use super::Console;
use super::actions::{self, Outcome, Progress, ledger_down};
use super::auth::Operator;
use super::html::{self, Page};
use crate::ledger::{Cursor, DeadCount, DeadFilter, DeadLetterRow, DeadState};
use crate::operate::ProgressBar;
use crate::operate::dead::{self as queue, Filter, PurgeOptions, ReplayOptions};

/// Dead letters per page.
const PAGE_SIZE: usize = 50;
/// The most characters of a last error the list shows (the event's page shows all of it).
const SHORT_ERROR: usize = 140;
/// The most event ids an action's result lists.
const LISTED: usize = 200;
/// The most rows the purge confirmation counts through the index (one pass reads no more).
const MAX_COUNTED: usize = queue::MAX_PASS as usize;
/// The word that confirms a purge as well as its count.
const PURGE_WORD: &str = "PURGE";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/dead", web::get().to(list_page))
        .route("/dead/replay", web::post().to(replay))
        .route("/dead/replay/confirm", web::get().to(replay_confirm))
        .route("/dead/purge", web::post().to(purge))
        .route("/dead/purge/confirm", web::get().to(purge_confirm));
}

/// What to do about a dead letter of `reason`, in one line. It follows the README's table
/// under "When an event fails" (and the stock reasons under "Dead-letter reasons"): change
/// them together.
pub(crate) fn what_to_do(reason: &str) -> &'static str {
    match reason {
        "unmapped_tax" => "Add the tax (by label or rate) to the shop's mapping.tax, then replay.",
        "totals_mismatch" => {
            "The lines do not add up to the stated total (the error names both): check the order \
             on the platform, fix and replay."
        }
        "xero_tax_rate_differs" => {
            "Xero's tax on the credit note differs from what was refunded: map the platform's \
             rate to a tax type of the same rate (check warns), then replay."
        }
        "implausible_payload" => {
            "The payload cannot be a real sale: check the order on the platform, then purge, or \
             fix and replay."
        }
        "refund_exceeds_order" => {
            "The refund credits more than its order has left (the error names the excess): check \
             it on the platform, then purge, or fix and replay."
        }
        "currency_changed" => {
            "A later event is in another currency than the booked document: book the difference \
             by hand in Xero, then purge."
        }
        "document_number_taken" => {
            "Xero has another document with this number: rename or void it in Xero, then replay."
        }
        "ledger_refused" => {
            "PostgreSQL refused the event's data: look at the payload, fix the normaliser or purge."
        }
        "internal_error" => {
            "A bug (handling panicked): report it with the event; replay once fixed."
        }
        "xero_validation" => {
            "Xero refused the document (the error says why): fix the mapping or the organisation, \
             then replay."
        }
        "xero_contact_archived" => {
            "The shop's contact is archived in Xero: restore it or name another in the shop's \
             contacts, then replay."
        }
        "xero_account_archived" => {
            "An account the document uses is archived in Xero: restore it or map another, check, \
             then replay."
        }
        "xero_insufficient_stock" => {
            "A tracked item would go below zero: raise its quantity in Xero (or stop tracking \
             it), then replay."
        }
        "xero_awaiting_stock" => "Run reconcile --stock --fix for the shop, then replay.",
        "xero_item_untracked" => {
            "The item exists untracked in Xero: track it, or map the SKU to another code in \
             mapping.items, then replay."
        }
        "stock_settling" => {
            "Not a failure: a stock event waiting for its item to be quiet; replay."
        }
        "xero_missing_scope" => {
            "The Xero connection lacks a scope: connect again (xcs-processor connect), then replay."
        }
        "xero_request_too_large" => "Xero answered 413: a fault of ours; report it with the event.",
        "unparseable_payload" => {
            "The payload cannot be read: fix the normaliser or the data, then replay."
        }
        "platform_credentials" => {
            "The platform refused the shop's credentials: fix [shops.NAME.api], then replay."
        }
        "platform_api_missing" => "The shop has no [api] section: add it, then replay.",
        "platform_api_misconfigured" => {
            "The platform API answers 404: fix [shops.NAME.api] (base_url, api_version), confirm \
             with check, then replay."
        }
        "platform_resource_missing" => {
            "The store has no such order or refund: replay once it has, or book it by hand."
        }
        "unknown_shop" => "Add the shop to the processor's config, then replay.",
        "bad_envelope" => "Not published by the ingress: look at it, then purge it.",
        "xero_unavailable" | "xero_rate_limited" => {
            "Xero was down or limiting and the retries ran out: replay."
        }
        "xero_plan_limit" => {
            "The Xero plan approves no more invoices this month: upgrade it (or book in weekly \
             summary mode), then replay."
        }
        "payout_unexplained" => {
            "The payout's orders are not all booked (the error names them): book them, check \
             with reconcile --payouts, then replay."
        }
        "payout_unmapped" => {
            "[mapping.payouts] lacks what the payout needs (the error names it): fix it, check, \
             then replay."
        }
        "xero_day_limit" | "xero_day_budget" => {
            "Not a failure: the tenant's Xero calls for the day are used up; it waits, then is \
             booked."
        }
        "xero_unauthorized" => {
            "The Xero connection was refused: reconnect the organisation (or fix the client \
             secret), then replay."
        }
        "payout_held" => {
            "Not a failure: a payout waits for its orders (after hold_max_hours it is \
             payout_unexplained)."
        }
        "stale_contact" => {
            "The cached contact is gone from Xero: replay (it is found or created again)."
        }
        "order_not_booked" => {
            "Its order never came: look for the order in the dead letters or on the platform, \
             then replay."
        }
        "platform_unavailable" => "The platform's API was down and the retries ran out: replay.",
        "ledger_unavailable" => "PostgreSQL was unreachable and the retries ran out: replay.",
        queue::DELIVERY_LIMIT => {
            "Processors crashed handling it (RabbitMQ's delivery limit): read their logs and the \
             payload, fix, then replay (not before)."
        }
        "unknown" => "Put in the dead queue by hand: look at it, then replay or purge.",
        _ => UNKNOWN_REASON,
    }
}

/// What [`what_to_do`] says of a reason this version does not know.
const UNKNOWN_REASON: &str =
    "A reason this version does not know: read the last error and the README's reason table.";

/// The filter as a form or query string gives it; every field empty means "any".
#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct FilterQuery {
    platform: Option<String>,
    shop: Option<String>,
    kind: Option<String>,
    reason: Option<String>,
    /// A reason typed instead of chosen; it wins over `reason`.
    other_reason: Option<String>,
    since: Option<String>,
    until: Option<String>,
    event_id: Option<String>,
    /// Where the page starts ([`Cursor`] as text).
    after: Option<String>,
}

/// A form field left empty means "any".
fn given(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

/// A filter parsed: the CLI's criteria, and where the page starts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Parsed {
    pub filter: Filter,
    pub after: Option<Cursor>,
}

impl FilterQuery {
    fn reason(&self) -> Option<&str> {
        given(self.other_reason.as_ref()).or_else(|| given(self.reason.as_ref()))
    }

    /// The criteria as the CLI's `dead` commands take them.
    ///
    /// # Errors
    /// What is wrong with a field, in words.
    pub(crate) fn parse(&self) -> Result<Parsed, String> {
        let time =
            |value: Option<&String>| given(value).map(crate::operate::parse_time).transpose();
        let text = |value: Option<&str>, what: &str| -> Result<Option<String>, String> {
            match value {
                Some(v) if v.len() > 200 || v.chars().any(char::is_control) => {
                    Err(format!("that {what} is not one a dead letter can have"))
                }
                v => Ok(v.map(str::to_owned)),
            }
        };
        let platform = given(self.platform.as_ref())
            .map(|p| p.parse::<Platform>().map_err(|err| err.to_string()))
            .transpose()?;
        let kind = given(self.kind.as_ref())
            .map(|k| k.parse::<EventKind>().map_err(|err| err.to_string()))
            .transpose()?;
        let after = given(self.after.as_ref())
            .map(|c| {
                c.parse::<Cursor>().map_err(|err| {
                    format!("that page link is not valid ({err}); start again from the first page")
                })
            })
            .transpose()?;
        let since = time(self.since.as_ref())?;
        let until = time(self.until.as_ref())?;
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err("\"from\" must be before \"before\"".to_owned());
        }
        Ok(Parsed {
            filter: Filter {
                platform,
                shop: text(given(self.shop.as_ref()), "shop")?,
                tenant: None,
                kind,
                reason: text(self.reason(), "reason")?,
                since,
                until,
                event_id: text(given(self.event_id.as_ref()), "event id")?,
            },
            after,
        })
    }

    /// The criteria given, as `(field, value)` pairs (without the page cursor).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("platform", given(self.platform.as_ref())),
            ("shop", given(self.shop.as_ref())),
            ("kind", given(self.kind.as_ref())),
            ("reason", self.reason()),
            ("since", given(self.since.as_ref())),
            ("until", given(self.until.as_ref())),
            ("event_id", given(self.event_id.as_ref())),
        ]
        .into_iter()
        .filter_map(|(key, value)| value.map(|v| (key, v)))
        .collect()
    }

    /// The criteria as a query string, `extra` appended.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in self.pairs().into_iter().chain(extra.iter().copied()) {
            query.append_pair(key, value);
        }
        query.finish()
    }

    /// The criteria as hidden fields, for the action forms.
    fn hidden(&self) -> Markup {
        html! {
            @for (key, value) in self.pairs() {
                input type="hidden" name=(key) value=(value);
            }
        }
    }

    /// The criteria in words.
    fn describe(&self) -> String {
        let pairs = self.pairs();
        if pairs.is_empty() {
            return "every dead letter".to_owned();
        }
        let words: Vec<String> = pairs
            .iter()
            .map(|(key, value)| {
                let key = match *key {
                    "since" => "from",
                    "until" => "before",
                    "event_id" => "event",
                    other => other,
                };
                format!("{key} {value}")
            })
            .collect();
        format!("dead letters with {}", words.join(", "))
    }

    fn is_empty(&self) -> bool {
        self.pairs().is_empty()
    }
}

/// `text` for a URL path segment (event ids hold `:` and may hold `/`).
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~:@!$'()*+,;=".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn event_link(event_id: &str) -> String {
    format!("/console/events/{}", path_segment(event_id))
}

/// At most `max` characters of `text`'s first line, `…` when cut.
fn shorten(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    let cut: String = line.chars().take(max).collect();
    if cut.len() < text.trim_end().len() {
        format!("{cut}…")
    } else {
        cut
    }
}

fn bad_request(why: &str) -> HttpResponse {
    html::message(StatusCode::BAD_REQUEST, "Not a filter", why)
}

/// The index's filter of the dead letters `filter` names.
fn index_filter(filter: &Filter) -> DeadFilter {
    DeadFilter::from(filter)
}

/// How many letters match, from the per-shop, platform and reason counts, when those are all
/// the filter names (the other criteria would need a count over every row).
fn exact_count(filter: &Filter, counts: &[DeadCount]) -> Option<i64> {
    if filter.kind.is_some()
        || filter.since.is_some()
        || filter.until.is_some()
        || filter.event_id.is_some()
        || filter.tenant.is_some()
    {
        return None;
    }
    Some(
        counts
            .iter()
            .filter(|c| {
                filter.platform.is_none_or(|p| p.as_str() == c.platform)
                    && filter.shop.as_ref().is_none_or(|s| *s == c.shop)
                    && filter.reason.as_ref().is_none_or(|r| *r == c.reason)
            })
            .map(|c| c.count)
            .sum(),
    )
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

async fn list_page(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<FilterQuery>,
) -> HttpResponse {
    let parsed = match query.parse() {
        Ok(parsed) => parsed,
        Err(why) => return bad_request(&why),
    };
    let filter = index_filter(&parsed.filter);
    let read = tokio::try_join!(
        console
            .ledger
            .dead_letter_page(&filter, parsed.after.as_ref(), PAGE_SIZE),
        console.ledger.dead_letter_counts(None),
    );
    let (page, counts) = match read {
        Ok(read) => read,
        Err(err) => return ledger_down(&err),
    };
    let now = OffsetDateTime::now_utc();
    let count = exact_count(&parsed.filter, &counts);
    let mut reasons: Vec<(String, i64)> = Vec::new();
    for c in &counts {
        match reasons.iter_mut().find(|(r, _)| *r == c.reason) {
            Some((_, n)) => *n += c.count,
            None => reasons.push((c.reason.clone(), c.count)),
        }
    }
    reasons.sort();
    let shops: Vec<&String> = console.config.shops.keys().collect();
    let next = page
        .next
        .as_ref()
        .map(|cursor| query.query(&[("after", &cursor.to_string())]));
    Page::new("Dead letters").signed_in(&operator).render(html! {
        h1 { "Dead letters" }
        (filter_form(&query, &shops, &reasons))
        p #count {
            @match count {
                Some(n) => { (n) " dead letter" @if n != 1 { "s" } " match." }
                None if page.next.is_some() => { (PAGE_SIZE) "+ dead letters match." }
                None if parsed.after.is_some() => { "More dead letters on this page and before it." }
                None => { (page.rows.len()) " dead letter" @if page.rows.len() != 1 { "s" } " match." }
            }
            " "
            span.muted { "From the dead-letter index; " code { "dead reindex" } " rebuilds it from the queue." }
        }
        @if !page.rows.is_empty() {
            section.card #actions {
                form.inline method="post" action="/console/dead/replay" {
                    (html::action_fields(&operator))
                    (query.hidden())
                    input type="hidden" name="dry_run" value="1";
                    button type="submit" { "Dry run: what would be replayed" }
                }
                " "
                a href={ "/console/dead/purge/confirm?" (query.query(&[])) } { "Purge these…" }
                p.muted { "A dry run reads the dead queue and changes nothing; it then offers to \
                    replay what it found. Fix the cause first (see \"What to do\")." }
            }
        }
        (rows_table(&page.rows, now))
        @if let Some(next) = next {
            p.pager { a rel="next" href={ "/console/dead?" (next) } { "Next page (older)" } }
        }
        @if parsed.after.is_some() {
            p.pager { a href={ "/console/dead?" (query.query(&[])) } { "First page" } }
        }
    })
}

fn filter_form(query: &FilterQuery, shops: &[&String], reasons: &[(String, i64)]) -> Markup {
    let platform = given(query.platform.as_ref());
    let shop = given(query.shop.as_ref());
    let kind = given(query.kind.as_ref());
    let reason = query.reason();
    let reason_listed = reason.is_none_or(|r| reasons.iter().any(|(seen, _)| seen == r));
    html! {
        form.filters method="get" action="/console/dead" {
            label { "Platform" select name="platform" {
                option value="" { "any" }
                @for p in Platform::ALL {
                    option value=(p.as_str()) selected[platform == Some(p.as_str())] { (p.display_name()) }
                }
            } }
            label { "Shop" select name="shop" {
                option value="" { "any" }
                @for name in shops {
                    option value=(name) selected[shop == Some(name.as_str())] { (name) }
                }
                @if let Some(shop) = shop.filter(|s| !shops.iter().any(|n| n.as_str() == *s)) {
                    option value=(shop) selected { (shop) " (not configured)" }
                }
            } }
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for k in [EventKind::Order, EventKind::Refund, EventKind::Inventory, EventKind::Payout] {
                    option value=(k.as_str()) selected[kind == Some(k.as_str())] { (k.as_str()) }
                }
            } }
            label { "Reason" select name="reason" {
                option value="" { "any" }
                @for (seen, n) in reasons {
                    option value=(seen) selected[reason == Some(seen.as_str())] { (seen) " (" (n) ")" }
                }
                @if !reason_listed {
                    @if let Some(reason) = reason { option value=(reason) selected { (reason) } }
                }
            } }
            label { "or another reason" input type="text" name="other_reason" placeholder="xero_validation"; }
            label { "From" input type="text" name="since" placeholder="2026-11-20" value=[given(query.since.as_ref())]; }
            label { "Before" input type="text" name="until" placeholder="2026-11-21T09:00:00Z" value=[given(query.until.as_ref())]; }
            label { "Event id" input type="text" name="event_id" value=[given(query.event_id.as_ref())]; }
            button type="submit" { "Filter" }
            a href="/console/dead" { "Clear" }
        }
    }
}

fn rows_table(rows: &[DeadLetterRow], now: OffsetDateTime) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "No dead letters match." }
        } @else {
            div.scroll { table #dead {
                thead { tr {
                    th { "Dead" } th { "Shop" } th { "Kind" } th { "Event" } th { "Reason" }
                    th.num { "Attempts" } th { "Last error" } th { "What to do" }
                } }
                tbody {
                    @for row in rows {
                        tr data-event=(row.event_id) {
                            td { (html::when(row.dead_at, now)) }
                            td { (row.shop.as_deref().unwrap_or("-"))
                                 @if let Some(platform) = &row.platform { div.muted { (platform) } } }
                            td { (row.kind.as_deref().unwrap_or("-")) }
                            td { a href=(event_link(&row.event_id)) { (row.event_id) } }
                            td { (html::badge("bad", &row.reason))
                                 @if row.by_broker { div.muted { "by RabbitMQ" } } }
                            td.num { @match row.attempts { Some(n) => (n), None => "-" } }
                            td { @match &row.last_error {
                                Some(error) => span title=(error) { (shorten(error, SHORT_ERROR)) },
                                None => span.muted { "-" },
                            } }
                            td { (what_to_do(&row.reason)) }
                        }
                    }
                }
            } }
        }
    }
}

/// A replay or purge form as sent: the filter, and the confirmation.
#[derive(Debug, Default, Deserialize)]
struct ActionForm {
    #[serde(flatten)]
    filter: FilterQuery,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action_id: String,
    /// `1` for a dry run.
    dry_run: Option<String>,
    /// The confirmation checkbox.
    confirm: Option<String>,
    /// The count (or, for a purge, `PURGE`) typed as confirmation.
    typed: Option<String>,
    /// The most events to replay or purge: the count confirmed.
    limit: Option<String>,
}

impl ActionForm {
    fn limit(&self) -> Result<usize, String> {
        given(self.limit.as_ref())
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l >= 1)
            .ok_or_else(|| {
                "this form did not say how many to do; start again from the confirmation page"
                    .to_owned()
            })
    }
}

fn refused(why: &str) -> HttpResponse {
    html::message(StatusCode::BAD_REQUEST, "Not confirmed", why)
}

/// Reports `bar`'s count every second while `work` runs.
async fn reporting<T>(
    progress: &Progress,
    bar: &ProgressBar,
    doing: &str,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = tick.tick() => {
                let last = bar.message();
                let text = match bar.length() {
                    Some(length) if length > 0 => format!(
                        "{doing}: read {} of {length} messages of the dead queue{}",
                        bar.position(),
                        if last.is_empty() { String::new() } else { format!("; last {last}") }
                    ),
                    _ => format!("{doing}: reading the dead queue"),
                };
                progress.report(&text).await;
            }
        }
    }
}

/// The event ids of `ids`, at most [`LISTED`], one a line.
fn listed<'a>(ids: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = ids.len();
    let mut out: String = ids.take(LISTED).map(|id| format!("  {id}\n")).collect();
    if total > LISTED {
        out.push_str(&format!("  … and {} more\n", total - LISTED));
    }
    out
}

async fn replay(
    operator: Operator,
    console: web::Data<Console>,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return *refused;
    }
    let parsed = match form.filter.parse() {
        Ok(parsed) => parsed,
        Err(why) => return bad_request(&why),
    };
    let filter = parsed.filter;
    let words = form.filter.describe();
    let dry_run = given(form.dry_run.as_ref()).is_some_and(|d| d != "0");
    if dry_run {
        let console_ref = console.clone().into_inner();
        let filters = form.filter.clone();
        let dry_run_id = form.action_id.clone();
        let name = operator.name.clone();
        return actions::run(
            &console,
            actions::Request {
                operator: &operator,
                csrf: &form.csrf,
                action_id: &form.action_id,
                kind: "dead.replay.dry_run",
                subject: format!("Dry run: replay {words}"),
            },
            move |progress| async move {
                let connection = console_ref.broker().await.map_err(|err| err.to_string())?;
                let bar = ProgressBar::hidden();
                let options = ReplayOptions {
                    dry_run: true,
                    progress: bar.clone(),
                    operator: Some(name),
                    ..ReplayOptions::default()
                };
                let report = reporting(
                    &progress,
                    &bar,
                    "Dry run",
                    queue::replay(&connection, &filter, &options),
                )
                .await
                .map_err(|err| format!("The dry run failed, nothing was changed: {err:#}"))?;
                let found = report.replayed.len();
                let mut text = format!("Would replay {}:\n", plural(found, "event", "events"));
                text.push_str(&listed(report.replayed.iter().map(|l| l.event_id.as_str())));
                text.push_str(&format!(
                    "{} duplicate copies seen; {} other messages left in the dead queue.\n",
                    report.duplicates, report.kept
                ));
                if report.more {
                    text.push_str(
                        "The queue holds more than one pass reads: replay, then run again.\n",
                    );
                }
                if found == 0 {
                    text.push_str("Nothing to replay.");
                    return Ok(Outcome::said(text)
                        .with_link(format!("/console/dead?{}", filters.query(&[]))));
                }
                text.push_str(
                    "Nothing was changed. Replay them for real from the confirmation page.",
                );
                let found = found.to_string();
                Ok(Outcome::said(text).with_next_step(
                    format!(
                        "/console/dead/replay/confirm?{}",
                        filters.query(&[("found", &found), ("dry_run_id", &dry_run_id)])
                    ),
                    "Replay them for real…",
                ))
            },
        )
        .await;
    }
    if given(form.confirm.as_ref()).is_none() {
        return refused("Tick the box to confirm the replay, then send the form again.");
    }
    let limit = match form.limit() {
        Ok(limit) => limit,
        Err(why) => return refused(&why),
    };
    if form.filter.is_empty() && given(form.typed.as_ref()) != Some(limit.to_string().as_str()) {
        return refused(&format!(
            "With no filter this replays every dead letter: type the count ({limit}) to confirm."
        ));
    }
    let console_ref = console.clone().into_inner();
    let filters = form.filter.clone();
    let name = operator.name.clone();
    actions::run(
        &console,
        actions::Request {
            operator: &operator,
            csrf: &form.csrf,
            action_id: &form.action_id,
            kind: "dead.replay",
            subject: format!("Replay {} of {words}", plural(limit, "event", "events")),
        },
        move |progress| async move {
            progress
                .report(&format!(
                    "Replaying at most {limit} of {}",
                    filters.describe()
                ))
                .await;
            let connection = console_ref.broker().await.map_err(|err| err.to_string())?;
            let bar = ProgressBar::hidden();
            let options = ReplayOptions {
                dry_run: false,
                limit: Some(limit),
                progress: bar.clone(),
                ledger: Some(console_ref.ledger.clone()),
                operator: Some(name),
            };
            let report = reporting(
                &progress,
                &bar,
                "Replaying",
                queue::replay(&connection, &filter, &options),
            )
            .await
            .map_err(|err| {
                format!(
                    "The replay stopped: {err:#}. What was replayed before stays replayed (the \
                     dead-letter list shows what is left); send it again to go on."
                )
            })?;
            let done = report.replayed.len();
            let mut text = format!("Replayed {}:\n", plural(done, "event", "events"));
            text.push_str(&listed(report.replayed.iter().map(|l| l.event_id.as_str())));
            text.push_str(&format!(
                "{} duplicate copies removed; {} messages left in the dead queue.\n",
                report.duplicates, report.kept
            ));
            if report.more {
                text.push_str(
                    "The queue holds more than one pass reads: run again for the rest.\n",
                );
            }
            if let Some(warning) = &report.index_warning {
                text.push_str(warning);
                text.push('\n');
            }
            Ok(Outcome::said(text).with_link(format!("/console/dead?{}", filters.query(&[]))))
        },
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
struct ConfirmQuery {
    #[serde(flatten)]
    filter: FilterQuery,
    /// How many the dry run found.
    found: Option<String>,
    /// The dry run's action, to link to.
    dry_run_id: Option<String>,
}

async fn replay_confirm(operator: Operator, query: web::Query<ConfirmQuery>) -> HttpResponse {
    if let Err(why) = query.filter.parse() {
        return bad_request(&why);
    }
    let found = given(query.found.as_ref()).and_then(|f| f.parse::<usize>().ok());
    let dry_run_id = given(query.dry_run_id.as_ref())
        .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()));
    Page::new("Replay dead letters")
        .signed_in(&operator)
        .render(replay_confirm_body(
            &operator,
            &query.filter,
            found,
            dry_run_id,
        ))
}

fn replay_confirm_body(
    operator: &Operator,
    filter: &FilterQuery,
    found: Option<usize>,
    dry_run_id: Option<&str>,
) -> Markup {
    html! {
        h1 { "Replay " (filter.describe()) }
        section.card {
            @match found.filter(|n| *n > 0) {
                Some(n) => {
                    p { "The dry run found " strong #found { (n) } " to replay"
                        @if let Some(id) = dry_run_id {
                            " (" a href={ "/console/actions/" (id) } { "see which" } ")"
                        } "." }
                    p.muted { "A replay sends each back to be processed again with fresh retries; \
                        what was booked before is not booked twice. At most " (n) " \
                        replayed, even if more died since the dry run." }
                    form method="post" action="/console/dead/replay" {
                        (html::action_fields(operator))
                        (filter.hidden())
                        input type="hidden" name="limit" value=(n);
                        p { label { input type="checkbox" name="confirm" value="yes" required;
                            " I fixed the cause; replay " (n) " event" @if n != 1 { "s" } } }
                        @if filter.is_empty() {
                            p.problem { "No filter: this replays every dead letter." }
                            p { label { "Type " (n) " to confirm"
                                input type="text" name="typed" required inputmode="numeric" autocomplete="off"; } }
                        }
                        button type="submit" { "Replay " (n) " for real" }
                    }
                }
                None => {
                    p { "Run a dry run first: it says what would be replayed." }
                    form method="post" action="/console/dead/replay" {
                        (html::action_fields(operator))
                        (filter.hidden())
                        input type="hidden" name="dry_run" value="1";
                        button type="submit" { "Dry run: what would be replayed" }
                    }
                }
            }
            p { a href={ "/console/dead?" (filter.query(&[])) } { "Back to the dead letters" } }
        }
    }
}

async fn purge_confirm(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<FilterQuery>,
) -> HttpResponse {
    let parsed = match query.parse() {
        Ok(parsed) => parsed,
        Err(why) => return bad_request(&why),
    };
    let filter = index_filter(&parsed.filter);
    let read = async {
        let first = console
            .ledger
            .dead_letter_page(&filter, None, PAGE_SIZE)
            .await?;
        let count = match exact_count(
            &parsed.filter,
            &console.ledger.dead_letter_counts(None).await?,
        ) {
            Some(n) => usize::try_from(n).unwrap_or(0),
            None if first.next.is_none() => first.rows.len(),
            None => {
                // Through the index by its pages: no more than one pass of the queue reads.
                let mut count = 0;
                let mut after: Option<Cursor> = None;
                loop {
                    let page = console
                        .ledger
                        .dead_letter_page(&filter, after.as_ref(), crate::ledger::MAX_PAGE)
                        .await?;
                    count += page.rows.len();
                    match page.next {
                        Some(next) if count < MAX_COUNTED => after = Some(next),
                        _ => break,
                    }
                }
                count
            }
        };
        Ok::<_, crate::ledger::LedgerError>((first, count.min(MAX_COUNTED)))
    };
    let (first, count) = match read.await {
        Ok(read) => read,
        Err(err) => return ledger_down(&err),
    };
    let now = OffsetDateTime::now_utc();
    Page::new("Purge dead letters").signed_in(&operator).render(html! {
        (purge_confirm_body(&operator, &query, count))
        @if count > 0 {
            h2 { @if count > first.rows.len() { "The newest " (first.rows.len()) " of them" } @else { "They are" } }
            (rows_table(&first.rows, now))
        }
    })
}

fn purge_confirm_body(operator: &Operator, filter: &FilterQuery, count: usize) -> Markup {
    html! {
        h1 { "Purge " (filter.describe()) }
        section.card {
            @if count == 0 {
                p { "No dead letters match: nothing to purge." }
            } @else {
                p { "This removes " strong #count { (count) } " dead letter" @if count != 1 { "s" }
                    " (" (filter.describe()) ", as the index counts them) from the dead queue "
                    strong { "for good" } "." }
                p.problem { "A purge cannot be undone: the events are not booked, and nothing \
                    keeps their payloads. Purge only what must never be booked (or was booked by hand)." }
                form method="post" action="/console/dead/purge" {
                    (html::action_fields(operator))
                    (filter.hidden())
                    input type="hidden" name="limit" value=(count);
                    p { label { "Type " (count) " (or " (PURGE_WORD) ") to confirm"
                        input type="text" name="typed" required autocomplete="off"; } }
                    button.danger type="submit" { "Purge " (count) " for good" }
                }
            }
            p { a href={ "/console/dead?" (filter.query(&[])) } { "Back to the dead letters" } }
        }
    }
}

async fn purge(
    operator: Operator,
    console: web::Data<Console>,
    form: web::Form<ActionForm>,
) -> HttpResponse {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return *refused;
    }
    let parsed = match form.filter.parse() {
        Ok(parsed) => parsed,
        Err(why) => return bad_request(&why),
    };
    let limit = match form.limit() {
        Ok(limit) => limit,
        Err(why) => return refused(&why),
    };
    let typed = given(form.typed.as_ref());
    if typed != Some(limit.to_string().as_str()) && typed != Some(PURGE_WORD) {
        return refused(&format!(
            "Type the count ({limit}) or {PURGE_WORD} to confirm the purge; nothing was removed."
        ));
    }
    let filter = parsed.filter;
    let words = form.filter.describe();
    let console_ref = console.clone().into_inner();
    let filters = form.filter.clone();
    let name = operator.name.clone();
    actions::run(
        &console,
        actions::Request {
            operator: &operator,
            csrf: &form.csrf,
            action_id: &form.action_id,
            kind: "dead.purge",
            subject: format!("Purge {} of {words}", plural(limit, "event", "events")),
        },
        move |progress| async move {
            progress
                .report(&format!(
                    "Purging at most {limit} of {}",
                    filters.describe()
                ))
                .await;
            let connection = console_ref.broker().await.map_err(|err| err.to_string())?;
            let bar = ProgressBar::hidden();
            let options = PurgeOptions {
                limit: Some(limit),
                progress: bar.clone(),
                ledger: Some(console_ref.ledger.clone()),
                operator: Some(name),
            };
            let report = reporting(
                &progress,
                &bar,
                "Purging",
                queue::purge(&connection, &filter, &options),
            )
            .await
            .map_err(|err| {
                format!("The purge stopped: {err:#}. What was removed before stays removed.")
            })?;
            let done = report.purged.len();
            let mut text = format!("Purged {}:\n", plural(done, "event", "events"));
            text.push_str(&listed(report.purged.iter().map(|l| l.event_id.as_str())));
            text.push_str(&format!(
                "{} messages left in the dead queue.\n",
                report.kept
            ));
            if let Some(warning) = &report.index_warning {
                text.push_str(warning);
                text.push('\n');
            }
            Ok(Outcome::said(text).with_link(format!("/console/dead?{}", filters.query(&[]))))
        },
    )
    .await
}

/// A dead letter on its event's page: why it died, where it stands, what to do, and (while
/// it is dead) a form to replay just this event.
pub(super) fn letter_card(
    letter: &DeadLetterRow,
    operator: &Operator,
    now: OffsetDateTime,
) -> Markup {
    let by = letter.state_by.as_deref().unwrap_or("someone");
    let only_this = FilterQuery {
        event_id: Some(letter.event_id.clone()),
        ..FilterQuery::default()
    };
    html! {
        section.card #dead-letter {
            h2 { "Dead letter" }
            dl {
                dt { "Reason" } dd { (html::badge("bad", &letter.reason))
                    @if letter.by_broker { " (dead-lettered by RabbitMQ)" } }
                dt { "Attempts" } dd { @match letter.attempts { Some(n) => (n), None => "-" } }
                dt { "Dead at" } dd { (html::when(letter.dead_at, now)) }
                dt { "State" } dd #dead-state {
                    @match letter.state {
                        DeadState::Dead => (html::badge("bad", "dead")),
                        DeadState::Replayed => { (html::badge("ok", "replayed")) " by " (by)
                            @if let Some(at) = letter.state_at { " " (html::when(at, now)) } }
                        DeadState::Purged => { (html::badge("quiet", "purged")) " by " (by)
                            @if let Some(at) = letter.state_at { " " (html::when(at, now)) } }
                        DeadState::Gone => { (html::badge("quiet", "gone"))
                            " (no longer in the dead queue)"
                            @if let Some(at) = letter.state_at { " " (html::when(at, now)) } }
                    }
                }
                dt { "What to do" } dd { (what_to_do(&letter.reason)) }
            }
            h3 { "Last error" }
            pre { (letter.last_error.as_deref().unwrap_or("-")) }
            @if letter.state == DeadState::Dead {
                form method="post" action="/console/dead/replay" {
                    (html::action_fields(operator))
                    (only_this.hidden())
                    input type="hidden" name="limit" value="1";
                    p { label { input type="checkbox" name="confirm" value="yes" required;
                        " I fixed the cause; replay this event" } }
                    button type="submit" { "Replay this event" }
                }
                p { a href={ "/console/dead/purge/confirm?" (only_this.query(&[])) } { "Purge it…" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason the processor can give a dead letter: those `ProcessError::reason`
    /// returns (read from its source, so a new one fails this test until it has a line), the
    /// broker's, the one for a message without any, and every one the README's table names.
    fn every_reason() -> Vec<String> {
        let source = include_str!("../error.rs");
        let start = source
            .find("pub fn reason(&self)")
            .expect("error.rs has fn reason");
        let body = &source[start..];
        let body = &body[..body.find("\n    }\n").expect("fn reason ends")];
        let mut reasons: Vec<String> = body
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        assert!(reasons.len() > 20, "fn reason read: {reasons:?}");
        reasons.push(crate::error::PLAN_LIMIT_REASON.to_owned());
        reasons.push(queue::DELIVERY_LIMIT.to_owned());
        reasons.push("unknown".to_owned());
        let readme = include_str!("../../../README.md");
        let table = &readme[readme
            .find("### When an event fails")
            .expect("the README's section")..];
        let table = &table[table.find("| `xcs-reason`").expect("the reason table")..];
        for line in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
            let first = line.split('|').nth(1).unwrap_or_default();
            reasons.extend(first.split('`').skip(1).step_by(2).map(str::to_owned));
        }
        reasons.sort();
        reasons.dedup();
        reasons
    }

    #[test]
    fn every_reason_says_what_to_do() {
        let reasons = every_reason();
        assert!(
            reasons.contains(&"totals_mismatch".to_owned()),
            "{reasons:?}"
        );
        for reason in &reasons {
            assert_ne!(
                what_to_do(reason),
                UNKNOWN_REASON,
                "reason {reason:?} has no line in console::dead::what_to_do (take it from the \
                 README's reason table)"
            );
        }
        assert_eq!(what_to_do("made_up"), UNKNOWN_REASON);
    }

    fn query(text: &str) -> FilterQuery {
        web::Query::<FilterQuery>::from_query(text)
            .expect("a query")
            .into_inner()
    }

    #[test]
    fn a_filter_parses_from_a_query_into_the_clis_criteria() {
        let parsed = query(
            "platform=shopify&shop=nz-shopify&kind=refund&reason=unmapped_tax&since=2026-11-20\
             &until=2026-11-21T09%3A00%3A00Z&event_id=shopify%3Anz-shopify%3A1",
        )
        .parse()
        .unwrap();
        let filter = parsed.filter;
        assert_eq!(filter.platform, Some(Platform::Shopify));
        assert_eq!(filter.shop.as_deref(), Some("nz-shopify"));
        assert_eq!(filter.kind, Some(EventKind::Refund));
        assert_eq!(filter.reason.as_deref(), Some("unmapped_tax"));
        assert_eq!(
            filter.since,
            Some(time::macros::datetime!(2026-11-20 0:00 UTC))
        );
        assert_eq!(
            filter.until,
            Some(time::macros::datetime!(2026-11-21 9:00 UTC))
        );
        assert_eq!(filter.event_id.as_deref(), Some("shopify:nz-shopify:1"));
        assert!(parsed.after.is_none());

        // Empty fields are "any"; a typed reason wins; a cursor round-trips.
        let cursor = Cursor {
            dead_at: time::macros::datetime!(2026-11-20 10:00:00.5 UTC),
            event_id: "a/b".into(),
        };
        let parsed = query(&format!(
            "platform=&shop=&kind=&reason=unmapped_tax&other_reason=xero_validation&after={cursor}"
        ))
        .parse()
        .unwrap();
        assert_eq!(parsed.filter.platform, None);
        assert_eq!(parsed.filter.shop, None);
        assert_eq!(parsed.filter.reason.as_deref(), Some("xero_validation"));
        assert_eq!(parsed.after, Some(cursor));
        assert!(query("").is_empty());
        assert_eq!(query("").describe(), "every dead letter");
        assert_eq!(
            query("shop=a&reason=&other_reason=b").query(&[("after", "x")]),
            "shop=a&reason=b&after=x"
        );
    }

    #[test]
    fn a_bad_filter_says_what_is_wrong() {
        for (text, says) in [
            ("platform=amazon", "unknown platform"),
            ("kind=parcel", "unknown event kind"),
            ("since=yesterday", "RFC 3339"),
            ("until=2026-13-01", "RFC 3339"),
            ("since=2026-11-21&until=2026-11-20", "before"),
            ("after=garbage", "page link"),
            ("after=123_%21%21", "page link"),
            ("shop=a%0Ab", "not one a dead letter"),
        ] {
            let err = query(text).parse().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn an_event_link_encodes_what_a_path_cannot_hold() {
        assert_eq!(event_link("shopify:nz:1"), "/console/events/shopify:nz:1");
        assert_eq!(event_link("a/b?c#d e"), "/console/events/a%2Fb%3Fc%23d%20e");
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("long long line", 4), "long…");
        assert_eq!(shorten("one\ntwo", 10), "one…");
    }

    const TOKEN: &str = "a-token-of-enough-length";

    /// A console on the local config (its ledger never opened), as the processor serves it.
    fn console() -> std::sync::Arc<Console> {
        let config = crate::config::Config::from_toml(
            include_str!("../../../deploy/config/processor.local.toml"),
            |name| (name == "XCS_ADMIN_TOKEN").then(|| TOKEN.to_owned()),
        )
        .expect("the local config");
        let ledger = crate::ledger::Ledger::unopened(&config.postgres).expect("a ledger");
        let observer = std::sync::Arc::new(crate::observe::Observer {
            metrics: crate::observe::Metrics::new(&config),
            health: crate::observe::Health::new(ledger.clone()),
        });
        let xero = crate::xero::client::XeroClient::observed(
            &config.xero,
            ledger.clone(),
            std::sync::Arc::clone(&observer),
        )
        .expect("a Xero client");
        Console::new(
            std::sync::Arc::new(config),
            ledger,
            xero,
            tokio::runtime::Handle::current(),
        )
        .expect("a console")
    }

    /// Every `<form method="post">` in `html` carries the session's CSRF token and an action id.
    fn assert_forms_protected(html: &str, csrf: &str) {
        let forms: Vec<&str> = html.split("<form").skip(1).collect();
        assert!(!forms.is_empty(), "no form in {html}");
        for form in forms {
            let form = &form[..form.find("</form>").expect("a closed form")];
            // The page shell's sign-out form carries the token only: it is no action.
            if !form.contains(r#"method="post""#) || form.contains("/console/sign-out") {
                continue;
            }
            assert!(
                form.contains(&format!(r#"name="csrf" value="{csrf}""#)),
                "no csrf: {form}"
            );
            let id = form
                .split(r#"name="action_id" value=""#)
                .nth(1)
                .expect("an action id");
            assert!(id[..32].bytes().all(|b| b.is_ascii_hexdigit()), "{form}");
        }
    }

    fn letter(state: DeadState) -> DeadLetterRow {
        DeadLetterRow {
            event_id: "shopify:nz-shopify:1".into(),
            platform: Some("shopify".into()),
            shop: Some("nz-shopify".into()),
            tenant: None,
            kind: Some("order".into()),
            topic: Some("orders/paid".into()),
            reason: "unmapped_tax".into(),
            by_broker: false,
            attempts: Some(1),
            last_error: Some("no tax mapping for GST 15%\nsecond line".into()),
            dead_at: time::macros::datetime!(2026-12-07 10:00 UTC),
            state,
            state_at: Some(time::macros::datetime!(2026-12-07 11:00 UTC)),
            state_by: Some("Ana".into()),
        }
    }

    /// What a test route renders for the signed-in operator: its CSRF token, then the
    /// fragments, split by [`SPLIT`].
    async fn fragments(operator: Operator) -> HttpResponse {
        let now = time::macros::datetime!(2026-12-07 12:00 UTC);
        let filter = query("reason=unmapped_tax");
        let parts = [
            operator.csrf().to_owned(),
            letter_card(&letter(DeadState::Dead), &operator, now).into_string(),
            letter_card(&letter(DeadState::Replayed), &operator, now).into_string(),
            replay_confirm_body(&operator, &filter, Some(3), None).into_string(),
            replay_confirm_body(&operator, &filter, None, None).into_string(),
            replay_confirm_body(&operator, &query(""), Some(3), None).into_string(),
            purge_confirm_body(&operator, &filter, 3).into_string(),
        ];
        HttpResponse::Ok().body(parts.join(SPLIT))
    }

    const SPLIT: &str = "\n=====\n";

    #[actix_web::test]
    async fn every_action_form_carries_the_csrf_token_and_an_action_id() {
        use actix_web::test;
        let app = test::init_service(
            actix_web::App::new()
                .configure(super::super::routes(Some(console())))
                .route("/fragments", web::get().to(fragments)),
        )
        .await;
        let signed_in = test::call_service(
            &app,
            test::TestRequest::post()
                .uri("/console/sign-in")
                .set_form([("name", "Ana"), ("token", TOKEN)])
                .to_request(),
        )
        .await;
        assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
        let cookie = signed_in
            .response()
            .cookies()
            .next()
            .expect("a session cookie")
            .into_owned();
        let get = |uri: &str| {
            test::TestRequest::get()
                .uri(uri)
                .cookie(cookie.clone())
                .to_request()
        };
        let body = test::read_body(test::call_service(&app, get("/fragments")).await).await;
        let body = String::from_utf8(body.to_vec()).unwrap();
        let parts: Vec<&str> = body.split(SPLIT).collect();
        let (csrf, [dead, replayed, confirm, no_dry_run, everything, purge]) =
            (parts[0], <[&str; 6]>::try_from(&parts[1..]).unwrap());
        assert_eq!(csrf.len(), 64, "a session's token: {csrf}");
        for html in [dead, confirm, no_dry_run, everything, purge] {
            assert_forms_protected(html, csrf);
        }
        assert!(
            dead.contains(r#"name="event_id" value="shopify:nz-shopify:1""#),
            "{dead}"
        );
        assert!(dead.contains("second line"), "the last error in full");
        assert!(dead.contains(what_to_do("unmapped_tax")));
        assert!(
            replayed.contains("replayed") && replayed.contains("by Ana"),
            "{replayed}"
        );
        assert!(!replayed.contains("<form"), "nothing to replay: {replayed}");
        assert!(confirm.contains(r#"name="limit" value="3""#), "{confirm}");
        assert!(
            !confirm.contains(r#"name="typed""#),
            "a filter: the box is enough"
        );
        assert!(
            no_dry_run.contains(r#"name="dry_run" value="1""#),
            "{no_dry_run}"
        );
        assert!(
            everything.contains(r#"name="typed""#),
            "no filter: the count typed"
        );
        assert!(purge.contains(r#"class="danger""#) && purge.contains("cannot be undone"));
        assert!(purge.contains(r#"name="limit" value="3""#));

        // The confirmation page itself, as served (it reads nothing).
        let page = test::call_service(
            &app,
            get("/console/dead/replay/confirm?reason=unmapped_tax&found=2"),
        )
        .await;
        assert_eq!(page.status(), StatusCode::OK);
        let page = String::from_utf8(test::read_body(page).await.to_vec()).unwrap();
        assert_forms_protected(&page, csrf);
        assert!(page.contains("Replay 2 for real"), "{page}");

        // Bad input is a 400 page, before anything is read.
        for uri in [
            "/console/dead?platform=amazon",
            "/console/dead?after=garbage",
            "/console/dead/replay/confirm?since=yesterday",
            "/console/dead/purge/confirm?kind=parcel",
        ] {
            let answer = test::call_service(&app, get(uri)).await;
            assert_eq!(answer.status(), StatusCode::BAD_REQUEST, "{uri}");
        }

        // A POST without the CSRF token is refused; one without a session too.
        let post = |with_cookie: bool, form: &[(&str, &str)]| {
            let request = test::TestRequest::post()
                .uri("/console/dead/replay")
                .set_form(form);
            if with_cookie {
                request.cookie(cookie.clone())
            } else {
                request
            }
            .to_request()
        };
        let form = [("reason", "unmapped_tax"), ("dry_run", "1")];
        let answer = test::call_service(&app, post(true, &form)).await;
        assert_eq!(answer.status(), StatusCode::FORBIDDEN);
        let form = [("reason", "unmapped_tax"), ("dry_run", "1"), ("csrf", csrf)];
        let answer = test::call_service(&app, post(false, &form)).await;
        assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
        // Not confirmed: refused before anything is recorded.
        let form = [("reason", "unmapped_tax"), ("limit", "2"), ("csrf", csrf)];
        let answer = test::call_service(&app, post(true, &form)).await;
        assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    }
}
