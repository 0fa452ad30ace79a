//! `/console/reconcile`: reconcile a shop over a period, see what differs, and `--fix` it.
//!
//! - `GET /reconcile` (`?shop=&from=&to=&what=` prefill it): the form. A period is
//!   `[from, to)`, dates (midnight UTC) or RFC 3339 times, the last 7 days by default, at
//!   most [`MAX_DAYS`]; `what` is the orders and refunds (the default), the payouts, or the
//!   stock (as it stands now: no period).
//! - `POST /reconcile` runs the library's [`reconcile`](crate::reconcile::reconcile) (or
//!   `reconcile_payouts`, `reconcile_stock`) without fixing, as action `reconcile`: its result
//!   is the CLI's table, followed by what `--fix` would do; the shop's last reconcile is
//!   recorded for the overview (ok when nothing differs).
//! - `GET /reconcile/fix/confirm` (linked from that result, `after=` naming it) shows what
//!   the reconcile found, read back from the action journal (nothing runs again), what
//!   `--fix` does and does not do, and a form whose box must be ticked;
//!   `POST /reconcile/fix` runs the reconcile with `fix` as action `reconcile.fix`: its result
//!   is the report after the fix.
//!
//! The reconcile uses the processor's own Xero client (its rate limits apply) and the
//! console's RabbitMQ connection (the archive, the dead queue, republishing).

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::Console;
use super::actions::{self, Outcome, Progress, ledger_down};
use super::auth::Operator;
use super::html::{self, Page};
use crate::operate::ProgressBar;
use crate::reconcile::{
    Discrepancy, ReconcileOptions, Report, StockReport, StockStatus, reconcile, reconcile_payouts,
    reconcile_stock,
};

/// The longest period the console reconciles in one action (the CLI takes any): a quarter,
/// so one action stays minutes, not hours, of Xero's per-tenant rate limit.
pub(crate) const MAX_DAYS: i64 = 92;
/// The default period: the last 7 days, today included.
const DEFAULT_DAYS: i64 = 7;

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/reconcile", web::get().to(form_page))
        .route("/reconcile", web::post().to(start))
        .route("/reconcile/fix/confirm", web::get().to(confirm_page))
        .route("/reconcile/fix", web::post().to(start_fix));
}

/// What is reconciled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    /// Orders and refunds: events, documents, Xero, the platform's API.
    Orders,
    /// Payouts against Xero's bank transfers.
    Payouts,
    /// A tracked shop's stock, as it stands now.
    Stock,
}

impl What {
    const ALL: [What; 3] = [What::Orders, What::Payouts, What::Stock];

    fn as_str(self) -> &'static str {
        match self {
            What::Orders => "orders",
            What::Payouts => "payouts",
            What::Stock => "stock",
        }
    }

    fn label(self) -> &'static str {
        match self {
            What::Orders => "Orders and refunds",
            What::Payouts => "Payouts",
            What::Stock => "Stock, as it stands now (no period)",
        }
    }

    /// Whether `--fix` does anything for it (payouts are reported only).
    fn fixable(self) -> bool {
        self != What::Payouts
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "" | "orders" => Ok(What::Orders),
            "payouts" => Ok(What::Payouts),
            "stock" => Ok(What::Stock),
            other => Err(format!(
                "{other:?} is not something to reconcile; choose orders, payouts or stock"
            )),
        }
    }
}

/// A reconcile asked for, checked: a configured shop and a period reconcile takes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Period {
    shop: String,
    from: OffsetDateTime,
    to: OffsetDateTime,
    what: What,
}

/// A time as the forms and links carry it: a date when it is midnight UTC, else RFC 3339.
fn show_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    if at.time() == time::Time::MIDNIGHT {
        at.date().to_string()
    } else {
        at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
    }
}

/// The default period ending `now`: the last [`DEFAULT_DAYS`] days, today included.
fn default_period(now: OffsetDateTime) -> (OffsetDateTime, OffsetDateTime) {
    let today = now
        .to_offset(time::UtcOffset::UTC)
        .date()
        .midnight()
        .assume_utc();
    let to = today + time::Duration::days(1);
    (to - time::Duration::days(DEFAULT_DAYS), to)
}

/// A period `[from, to)` as a form gives it.
///
/// # Errors
/// What is wrong, in words.
fn parse_range(from: &str, to: &str) -> Result<(OffsetDateTime, OffsetDateTime), String> {
    let time = |text: &str, name: &str| {
        let text = text.trim();
        if text.is_empty() {
            return Err(format!(
                "Give the period's {name} (a date such as 2026-11-20)."
            ));
        }
        crate::operate::parse_time(text).map_err(|why| format!("{name}: {why}"))
    };
    let (from, to) = (time(from, "start")?, time(to, "end")?);
    if from >= to {
        return Err(format!(
            "The period must end after it starts: {} is not before {} (the end is exclusive).",
            show_time(from),
            show_time(to)
        ));
    }
    if to - from > time::Duration::days(MAX_DAYS) {
        return Err(format!(
            "The console reconciles at most {MAX_DAYS} days at a time; split the period, or run \
             `xcs-processor reconcile` for a longer one."
        ));
    }
    Ok((from, to))
}

impl Period {
    /// Checks what a form or a link asks for; `shops` are the configured shops' names.
    ///
    /// # Errors
    /// What is wrong, in words, for a 400 page.
    fn parse(shops: &[&str], shop: &str, from: &str, to: &str, what: &str) -> Result<Self, String> {
        let what = What::parse(what)?;
        let shop = shop.trim();
        if shop.is_empty() {
            return Err("Choose a shop.".to_owned());
        }
        if !shops.contains(&shop) {
            return Err(format!(
                "No shop {shop:?} is configured; choose one of {}.",
                shops.join(", ")
            ));
        }
        let (from, to) = if what == What::Stock {
            // Stock is compared as it stands now; a period given with it says nothing.
            default_period(OffsetDateTime::now_utc())
        } else {
            parse_range(from, to)?
        };
        Ok(Period {
            shop: shop.to_owned(),
            from,
            to,
            what,
        })
    }

    /// The action's subject, which the confirmation page also matches a journal entry by.
    fn subject(&self, fix: bool) -> String {
        let fix = if fix { " --fix" } else { "" };
        match self.what {
            What::Stock => format!("Reconcile{fix} {} stock", self.shop),
            what => format!(
                "Reconcile{fix} {} {} {} to {}",
                self.shop,
                what.as_str(),
                show_time(self.from),
                show_time(self.to)
            ),
        }
    }

    /// `shop=..&from=..&to=..&what=..`, for links.
    fn query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("shop", &self.shop);
        if self.what != What::Stock {
            query.append_pair("from", &show_time(self.from));
            query.append_pair("to", &show_time(self.to));
        }
        query.append_pair("what", self.what.as_str());
        query.finish()
    }

    /// The hidden fields that carry it in a form.
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="shop" value=(self.shop);
            input type="hidden" name="from" value=(show_time(self.from));
            input type="hidden" name="to" value=(show_time(self.to));
            input type="hidden" name="what" value=(self.what.as_str());
        }
    }
}

fn shop_names(console: &Console) -> Vec<&str> {
    console.config.shops.keys().map(String::as_str).collect()
}

fn bad_request(why: &str) -> HttpResponse {
    html::message(StatusCode::BAD_REQUEST, "Cannot reconcile that", why)
}

#[derive(Debug, Default, Deserialize)]
struct PeriodQuery {
    shop: Option<String>,
    from: Option<String>,
    to: Option<String>,
    what: Option<String>,
    /// The reconcile action whose report the confirmation shows.
    after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReconcileForm {
    csrf: String,
    action_id: String,
    shop: String,
    from: String,
    to: String,
    what: String,
    /// The confirmation box (`POST /reconcile/fix` only).
    confirm: Option<String>,
}

impl ReconcileForm {
    fn period(&self, console: &Console) -> Result<Period, String> {
        Period::parse(
            &shop_names(console),
            &self.shop,
            &self.from,
            &self.to,
            &self.what,
        )
    }
}

async fn form_page(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<PeriodQuery>,
) -> HttpResponse {
    let shops = shop_names(&console);
    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    if let Some(shop) = given(&query.shop)
        && !shops.contains(&shop)
    {
        return bad_request(&format!(
            "No shop {shop:?} is configured; choose one of {}.",
            shops.join(", ")
        ));
    }
    let what = match What::parse(given(&query.what).unwrap_or_default()) {
        Ok(what) => what,
        Err(why) => return bad_request(&why),
    };
    let (default_from, default_to) = default_period(OffsetDateTime::now_utc());
    let (from, to) = match (given(&query.from), given(&query.to)) {
        (None, None) => (show_time(default_from), show_time(default_to)),
        (from, to) => {
            let from = from.map_or_else(|| show_time(default_from), str::to_owned);
            let to = to.map_or_else(|| show_time(default_to), str::to_owned);
            if let Err(why) = parse_range(&from, &to) {
                return bad_request(&why);
            }
            (from, to)
        }
    };
    let checks = match console.ledger.shop_checks().await {
        Ok(checks) => checks,
        Err(err) => return ledger_down(&err),
    };
    let now = OffsetDateTime::now_utc();
    let selected = given(&query.shop);
    Page::new("Reconcile").signed_in(&operator).render(html! {
        h1 { "Reconcile" }
        form.card method="post" action="/console/reconcile" {
            (html::action_fields(&operator))
            p { "Compares what the platform sent (the ledger and xcs.archive), what the platform's \
                 API lists, what the ledger booked and what Xero holds, and lists every \
                 difference with what to do. It changes nothing; fixing is offered after." }
            label { "Shop" select name="shop" required {
                @for shop in &shops {
                    option value=(shop) selected[selected == Some(*shop)] { (shop) }
                }
            } }
            label { "From " small { "(a date, midnight UTC, or an RFC 3339 time)" }
                input type="text" name="from" value=(from) placeholder="2026-11-20" required;
            }
            label { "Before " small { "(exclusive; at most " (MAX_DAYS) " days after From)" }
                input type="text" name="to" value=(to) placeholder="2026-11-27" required;
            }
            label { "What" select name="what" {
                @for option in What::ALL {
                    option value=(option.as_str()) selected[option == what] { (option.label()) }
                }
            } }
            button type="submit" { "Reconcile" }
        }
        h2 { "Last reconcile per shop" }
        @let reconciles: Vec<_> = checks.iter().filter(|c| c.kind == "reconcile").collect();
        @if reconciles.is_empty() {
            p.muted { "None run yet." }
        } @else {
            div.scroll { table #reconciles {
                thead { tr { th { "Shop" } th { "When" } th { "Result" } th { "Summary" } } }
                tbody {
                    @for check in reconciles {
                        tr data-shop=(check.shop) {
                            td { a href={ "/console/shops/" (check.shop) } { (check.shop) } }
                            td { a href={ "/console/actions/" (check.action_id) } { (html::when(check.ran_at, now)) } }
                            td { @if check.ok { (html::badge("ok", "ok")) } @else { (html::badge("bad", "differences")) } }
                            td { (check.summary) }
                        }
                    }
                }
            } }
        }
    })
}

async fn start(
    operator: Operator,
    console: web::Data<Console>,
    form: web::Form<ReconcileForm>,
) -> HttpResponse {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return *refused;
    }
    let period = match form.period(&console) {
        Ok(period) => period,
        Err(why) => return bad_request(&why),
    };
    launch(&console, &operator, &form, period, false).await
}

async fn start_fix(
    operator: Operator,
    console: web::Data<Console>,
    form: web::Form<ReconcileForm>,
) -> HttpResponse {
    if let Err(refused) = operator.check_csrf(&form.csrf) {
        return *refused;
    }
    let period = match form.period(&console) {
        Ok(period) => period,
        Err(why) => return bad_request(&why),
    };
    if !period.what.fixable() {
        return bad_request("Payouts are reported only: --fix changes nothing for them.");
    }
    if form.confirm.as_deref() != Some("yes") {
        return bad_request(
            "Tick the box that confirms the fix (go back to the confirmation page); nothing was \
             done.",
        );
    }
    launch(&console, &operator, &form, period, true).await
}

async fn launch(
    console: &web::Data<Console>,
    operator: &Operator,
    form: &ReconcileForm,
    period: Period,
    fix: bool,
) -> HttpResponse {
    let job_console: Arc<Console> = console.clone().into_inner();
    let action_id = form.action_id.clone();
    let request = actions::Request {
        operator,
        csrf: &form.csrf,
        action_id: &form.action_id,
        kind: if fix { "reconcile.fix" } else { "reconcile" },
        subject: period.subject(fix),
    };
    actions::run(console, request, move |progress| async move {
        run_reconcile(&job_console, &period, fix, &action_id, &progress).await
    })
    .await
}

/// What one run found, in the forms the action and the overview show it.
struct Found {
    /// The CLI's table, and what `--fix` would do.
    text: String,
    ok: bool,
    /// One line for the overview.
    summary: String,
    /// Whether `--fix` has anything to do.
    fixable: bool,
}

async fn run_reconcile(
    console: &Console,
    period: &Period,
    fix: bool,
    action_id: &str,
    progress: &Progress,
) -> Result<Outcome, String> {
    let found = find(console, period, fix, progress).await;
    let (ok, summary) = match &found {
        Ok(found) => (found.ok, found.summary.clone()),
        Err(why) => (false, format!("could not run: {}", first_line(why))),
    };
    if let Err(err) = console
        .ledger
        .record_shop_check(&period.shop, "reconcile", ok, &summary, action_id)
        .await
    {
        tracing::warn!(shop = %period.shop, error = %err, "cannot record a shop's last reconcile");
    }
    let found = found?;
    let outcome = Outcome::said(found.text);
    Ok(if fix {
        outcome.with_link(format!("/console/reconcile?{}", period.query()))
    } else if found.fixable {
        outcome.with_next_step(
            format!(
                "/console/reconcile/fix/confirm?{}&{}",
                period.query(),
                super::auth::query_pair("after", action_id)
            ),
            "Fix it…",
        )
    } else {
        outcome
    })
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

async fn find(
    console: &Console,
    period: &Period,
    fix: bool,
    progress: &Progress,
) -> Result<Found, String> {
    let config = &console.config;
    let xero = &console.xero;
    match period.what {
        What::Orders => {
            progress.report("connecting to RabbitMQ").await;
            let amqp = match console.broker().await {
                Ok(connection) => Some(connection),
                // Without it the ledger is compared with Xero alone, and the report says so.
                Err(_) if !fix => None,
                Err(err) => return Err(format!("--fix needs RabbitMQ: {err:#}")),
            };
            let bar = ProgressBar::hidden();
            let options = ReconcileOptions {
                shop: period.shop.clone(),
                from: period.from,
                to: period.to,
                fix,
                progress: bar.clone(),
            };
            let report = forwarding(
                reconcile(config, xero, amqp.as_deref(), &options),
                &bar,
                progress,
            )
            .await
            .map_err(|err| format!("{err:#}"))?;
            Ok(orders_found(&report, fix))
        }
        What::Payouts => {
            progress
                .report("reading payouts and Xero's transfers")
                .await;
            let report = reconcile_payouts(config, xero, &period.shop, period.from, period.to)
                .await
                .map_err(|err| format!("{err:#}"))?;
            let differing = report
                .payouts
                .iter()
                .filter(|p| p.status.is_discrepancy())
                .count();
            let summary = if !report.enabled {
                "payouts: not enabled for this shop".to_owned()
            } else if differing == 0 {
                format!("payouts: {} compared, all agree", report.payouts.len())
            } else {
                format!(
                    "payouts: {differing} of {} differ ({} to {})",
                    report.payouts.len(),
                    report.from,
                    report.to
                )
            };
            Ok(Found {
                text: report.table(),
                ok: report.exit_code() == 0,
                summary,
                fixable: false,
            })
        }
        What::Stock => {
            progress
                .report("reading the stock ledger and Xero's items")
                .await;
            let amqp = if fix {
                Some(
                    console
                        .broker()
                        .await
                        .map_err(|err| format!("--fix needs RabbitMQ: {err:#}"))?,
                )
            } else {
                None
            };
            let report = reconcile_stock(config, xero, amqp.as_deref(), &period.shop, fix)
                .await
                .map_err(|err| format!("{err:#}"))?;
            Ok(stock_found(&report, fix))
        }
    }
}

/// Runs `work`, showing the progress bar's message on the action's page as it changes.
async fn forwarding<T>(work: impl Future<Output = T>, bar: &ProgressBar, progress: &Progress) -> T {
    let mut work = std::pin::pin!(work);
    let mut shown = String::new();
    loop {
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(Duration::from_millis(500)) => {
                let message = bar.message();
                if !message.is_empty() && message != shown {
                    progress.report(&message).await;
                    shown = message;
                }
            }
        }
    }
}

/// Whether `--fix` acts on a discrepancy (`reconcile::fix` and the platform leg's fix): its
/// advice is to run again with `--fix`, and it is not a summary's (never posted again).
fn fix_acts_on(discrepancy: &Discrepancy) -> bool {
    discrepancy.fixed.is_none()
        && discrepancy.period.is_none()
        && discrepancy.next_step.starts_with("run again with --fix")
}

/// A reconcile report's bound as a person reads it: a date when it is midnight UTC.
fn day(bound: &str) -> &str {
    bound.strip_suffix("T00:00:00Z").unwrap_or(bound)
}

fn orders_found(report: &Report, fix: bool) -> Found {
    let mut text = report.table();
    let differences: Vec<&Discrepancy> = report
        .discrepancies
        .iter()
        .filter(|d| !d.problem.informational())
        .collect();
    let fixable: Vec<&Discrepancy> = report
        .discrepancies
        .iter()
        .filter(|d| fix_acts_on(d))
        .collect();
    let fixed = report
        .discrepancies
        .iter()
        .filter(|d| d.fixed.is_some())
        .count();
    if !fix && !fixable.is_empty() {
        let _ = writeln!(
            text,
            "\nWhat --fix would put right ({} of the {} differences; the rest need a person):",
            fixable.len(),
            differences.len()
        );
        for d in &fixable {
            let what = if d.document.is_empty() {
                d.event_id.clone()
            } else {
                format!("{} ({})", d.document, d.event_id)
            };
            let _ = writeln!(text, "  {} {what}", d.problem.as_str());
        }
    }
    let summary = if differences.is_empty() {
        format!(
            "no discrepancies ({} to {}: {} events, {} documents)",
            day(&report.from),
            day(&report.to),
            report.events,
            report.documents
        )
    } else {
        let mut kinds: std::collections::BTreeMap<&str, usize> = Default::default();
        for d in &differences {
            *kinds.entry(d.problem.as_str()).or_default() += 1;
        }
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        let tail = if fix {
            format!("; {fixed} re-queued by --fix, reconcile again to confirm")
        } else if fixable.is_empty() {
            String::new()
        } else {
            format!("; {} fixable with --fix", fixable.len())
        };
        format!(
            "{} discrepanc{} ({}) {} to {}{tail}",
            differences.len(),
            if differences.len() == 1 { "y" } else { "ies" },
            kinds.join(", "),
            day(&report.from),
            day(&report.to)
        )
    };
    Found {
        text,
        ok: report.exit_code() == 0,
        summary,
        fixable: !fix && !fixable.is_empty(),
    }
}

fn stock_found(report: &StockReport, fix: bool) -> Found {
    let differing = report
        .rows
        .iter()
        .filter(|r| r.status.is_discrepancy())
        .count();
    // What `--stock --fix` puts right: a reported level Xero does not hold.
    let fixable = report
        .rows
        .iter()
        .filter(|r| {
            r.fixed.is_none()
                && matches!(
                    r.status,
                    StockStatus::Unexplained | StockStatus::MissingInXero
                )
                && r.last_reported_level.is_some()
                && !r.sku.is_empty()
        })
        .count();
    let summary = if !report.skipped.is_empty() {
        format!("stock: {}", report.skipped)
    } else if differing == 0 {
        format!("stock: {} item codes, all agree", report.rows.len())
    } else {
        let tail = if fix {
            "; comparisons requested by --fix, reconcile again to confirm".to_owned()
        } else if fixable > 0 {
            format!("; {fixable} fixable with --fix")
        } else {
            String::new()
        };
        format!(
            "stock: {differing} of {} item codes differ{tail}",
            report.rows.len()
        )
    };
    Found {
        text: report.table(),
        ok: report.exit_code() == 0,
        summary,
        fixable: !fix && fixable > 0,
    }
}

async fn confirm_page(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<PeriodQuery>,
) -> HttpResponse {
    let field = |v: &Option<String>| v.clone().unwrap_or_default();
    let period = match Period::parse(
        &shop_names(&console),
        &field(&query.shop),
        &field(&query.from),
        &field(&query.to),
        &field(&query.what),
    ) {
        Ok(period) => period,
        Err(why) => return bad_request(&why),
    };
    if !period.what.fixable() {
        return bad_request("Payouts are reported only: --fix changes nothing for them.");
    }
    // What the reconcile found, from the journal: only a finished reconcile of this very shop
    // and period counts.
    let found = match query
        .after
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(after) => match console.ledger.console_action(after).await {
            Ok(action) => action.filter(|a| {
                a.action == "reconcile" && a.state == "done" && a.subject == period.subject(false)
            }),
            Err(err) => return ledger_down(&err),
        },
        None => None,
    };
    let now = OffsetDateTime::now_utc();
    let title = period.subject(true);
    Page::new(title.clone()).signed_in(&operator).render(html! {
        h1 { (title) }
        section.card {
            h2 { "What --fix does" }
            @if period.what == What::Stock {
                p { "For every item code whose level the platform reported and Xero does not \
                     hold (unexplained by the units in flight, or no item in Xero), it has the \
                     code compared again and the rest posted as a stock adjustment. Nothing \
                     else changes." }
            } @else {
                ul {
                    li { "A document missing or deleted in Xero: its ledger record is cleared and \
                          the event that booked it re-queued from xcs.archive." }
                    li { "An event never booked: re-queued from xcs.archive." }
                    li { "An order or refund the platform's API lists that nothing booked: \
                          published as a backfill event." }
                }
                p { "A voided document, an amount changed in Xero, a duplicate or a missing \
                     payment is reported only: each needs someone to decide. Whatever is \
                     re-queued is booked once, however often the fix runs." }
            }
            p { "The fix reconciles the period again first, and acts on what it finds then." }
        }
        section.card {
            @match &found {
                Some(action) => {
                    h2 { "What the reconcile found " (html::when(action.finished_at.unwrap_or(action.updated_at), now)) }
                    p { "By " (action.operator) " · " a href={ "/console/actions/" (action.action_id) } { "its action" } }
                    pre { (action.result) }
                }
                None => {
                    h2 { "No report on record" }
                    p { "No finished reconcile of this shop and period is on record here. "
                        a href={ "/console/reconcile?" (period.query()) } { "Reconcile it first" }
                        " to see what differs." }
                }
            }
        }
        form.card method="post" action="/console/reconcile/fix" {
            (html::action_fields(&operator))
            (period.hidden())
            label.confirm {
                input type="checkbox" name="confirm" value="yes" required;
                " I have read what the fix does, and want it done for " (period.shop)
                @if period.what != What::Stock { " from " (show_time(period.from)) " to " (show_time(period.to)) }
                "."
            }
            button type="submit" { "Fix" }
            " "
            a href={ "/console/reconcile?" (period.query()) } { "Cancel" }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const SHOPS: [&str; 2] = ["acme", "nz-shopify"];

    #[test]
    fn a_period_is_parsed_from_dates_or_times() {
        let period = Period::parse(&SHOPS, " acme ", "2026-11-20", "2026-11-27", "").unwrap();
        assert_eq!(
            period,
            Period {
                shop: "acme".into(),
                from: datetime!(2026-11-20 0:00 UTC),
                to: datetime!(2026-11-27 0:00 UTC),
                what: What::Orders,
            }
        );
        let period = Period::parse(
            &SHOPS,
            "acme",
            "2026-11-20T09:00:00+13:00",
            "2026-11-21",
            "payouts",
        )
        .unwrap();
        assert_eq!(period.from, datetime!(2026-11-19 20:00 UTC));
        assert_eq!(period.what, What::Payouts);
        assert_eq!(
            period.query(),
            "shop=acme&from=2026-11-19T20%3A00%3A00Z&to=2026-11-21&what=payouts"
        );
        assert_eq!(
            period.subject(true),
            "Reconcile --fix acme payouts 2026-11-19T20:00:00Z to 2026-11-21"
        );
        // Stock takes no period.
        let stock = Period::parse(&SHOPS, "acme", "", "garbage", "stock").unwrap();
        assert_eq!(
            (stock.what, stock.subject(false)),
            (What::Stock, "Reconcile acme stock".to_owned())
        );
        assert_eq!(stock.query(), "shop=acme&what=stock");
    }

    #[test]
    fn a_bad_period_says_what_is_wrong() {
        let err = |shop, from, to, what| Period::parse(&SHOPS, shop, from, to, what).unwrap_err();
        assert!(err("", "2026-11-20", "2026-11-21", "").contains("Choose a shop"));
        assert!(err("evil", "2026-11-20", "2026-11-21", "").contains("acme, nz-shopify"));
        assert!(err("acme", "yesterday", "2026-11-21", "").contains("start"));
        assert!(err("acme", "2026-11-20", "", "").contains("end"));
        assert!(err("acme", "2026-11-21", "2026-11-21", "").contains("must end after"));
        assert!(err("acme", "2026-11-22", "2026-11-21", "").contains("must end after"));
        assert!(err("acme", "2026-01-01", "2026-06-01", "").contains("at most 92 days"));
        assert!(err("acme", "2026-11-20", "2026-11-21", "parcels").contains("orders, payouts"));
        assert!(Period::parse(&SHOPS, "acme", "2026-01-01", "2026-04-03", "").is_ok());
    }

    #[test]
    fn the_default_period_is_the_last_seven_days_today_included() {
        let (from, to) = default_period(datetime!(2026-12-07 15:30 UTC));
        assert_eq!(
            (from, to),
            (
                datetime!(2026-12-01 0:00 UTC),
                datetime!(2026-12-08 0:00 UTC)
            )
        );
        assert_eq!(
            (show_time(from), show_time(to)),
            ("2026-12-01".into(), "2026-12-08".into())
        );
        let (from, to) = default_period(datetime!(2026-12-07 23:30 -05:00));
        assert_eq!(
            (from, to),
            (
                datetime!(2026-12-02 0:00 UTC),
                datetime!(2026-12-09 0:00 UTC)
            )
        );
    }

    #[test]
    fn a_fix_form_parses_and_payouts_are_not_fixable() {
        let form: ReconcileForm = form_of(
            "csrf=c&action_id=a&shop=acme&from=2026-11-20&to=2026-11-21&what=orders&confirm=yes",
        );
        assert_eq!(form.confirm.as_deref(), Some("yes"));
        assert_eq!((form.shop.as_str(), form.what.as_str()), ("acme", "orders"));
        let form: ReconcileForm = form_of("csrf=c&action_id=a&shop=acme");
        assert_eq!((form.confirm, form.from.as_str()), (None, ""));
        assert!(What::Orders.fixable() && What::Stock.fixable() && !What::Payouts.fixable());
    }

    /// A form body as actix's `web::Form` reads it.
    fn form_of(body: &str) -> ReconcileForm {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let value = serde_json::Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
        serde_json::from_value(value).expect("a form")
    }
}
