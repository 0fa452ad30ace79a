//! The one way the console changes anything: an action.
//!
//! Each action form carries a fresh action id (`html::action_fields`). Posting it records the
//! action in `xcs_console_actions` (who, what, when) and runs it once in the background; posting
//! the same form again, or reloading after a slow answer, finds the action already recorded and
//! shows it instead of running it twice. The browser is sent to the action's page, which
//! refreshes itself while the action runs (its progress, as the action reports it) and then
//! shows the result. Every action is also logged (target `xcs::console::audit`) with the
//! operator's name.
//!
//! An action whose processor stopped while it ran stops reporting; its page then says it was
//! interrupted. Every action here is safe to run again (replay and `--fix` book nothing twice).

use std::future::Future;
use std::time::Duration;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use maud::html;
use serde::Deserialize;
use time::OffsetDateTime;

use super::Console;
use super::auth::Operator;
use super::html::{self, Page};
use crate::ledger::{ConsoleAction, Ledger};

/// How often a running action says it is alive; one silent for [`STALE_AFTER`] was
/// interrupted.
const HEARTBEAT: Duration = Duration::from_secs(5);
const STALE_AFTER: time::Duration = time::Duration::seconds(30);
const PAGE_SIZE: i64 = 50;

/// Where the long actions run: the processor's runtime, not the HTTP server's thread.
pub(crate) struct Jobs {
    runtime: tokio::runtime::Handle,
}

impl Jobs {
    pub(crate) fn new(runtime: tokio::runtime::Handle) -> Self {
        Jobs { runtime }
    }
}

/// What an action reports while it runs.
#[derive(Clone)]
pub(crate) struct Progress {
    ledger: Ledger,
    action_id: String,
}

impl Progress {
    /// Shows `text` as the action's progress on its page.
    pub(crate) async fn report(&self, text: &str) {
        if let Err(err) = self
            .ledger
            .console_action_progress(&self.action_id, text)
            .await
        {
            tracing::warn!(action_id = %self.action_id, error = %err, "cannot record a console action's progress");
        }
    }
}

/// How an action ended: what it did in words, and a page that shows it.
pub(crate) struct Outcome {
    pub text: String,
    pub link: Option<String>,
    /// The link's words ("See the result" when not given).
    pub link_text: Option<&'static str>,
}

impl Outcome {
    pub(crate) fn said(text: impl Into<String>) -> Self {
        Outcome {
            text: text.into(),
            link: None,
            link_text: None,
        }
    }

    pub(crate) fn with_link(mut self, link: impl Into<String>) -> Self {
        self.link = Some(link.into());
        self
    }

    /// A link to the next step, in words that say what it is.
    pub(crate) fn with_next_step(mut self, link: impl Into<String>, text: &'static str) -> Self {
        self.link = Some(link.into());
        self.link_text = Some(text);
        self
    }
}

/// An action a form asked for: `kind` (such as `dead.replay`) and what it is done to, in words.
pub(crate) struct Request<'a> {
    pub operator: &'a Operator,
    pub csrf: &'a str,
    pub action_id: &'a str,
    pub kind: &'static str,
    pub subject: String,
}

/// Runs the action `request` asks for once, in the background, and sends the browser to its
/// page. A form that is not the session's (CSRF), or whose action id is not one the console
/// made, is refused; one sent again shows the first run.
pub(crate) async fn run<F, Fut>(console: &Console, request: Request<'_>, job: F) -> HttpResponse
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Outcome, String>> + Send + 'static,
{
    if let Err(refused) = request.operator.check_csrf(request.csrf) {
        return *refused;
    }
    let id = request.action_id;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return html::message(
            StatusCode::BAD_REQUEST,
            "Not a console form",
            "This action came without the action id the console's forms carry; send it from \
             the console's page.",
        );
    }
    let location = format!("/console/actions/{id}");
    let started = console
        .ledger
        .start_console_action(id, &request.operator.name, request.kind, &request.subject)
        .await;
    match started {
        Ok(false) => {
            // Sent twice (a double click, a reload): the first run is the one.
            return see_other(&location);
        }
        Ok(true) => {}
        Err(err) => {
            return html::message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Cannot record the action",
                &format!(
                    "Nothing was done: the ledger (PostgreSQL) did not record the action ({err}). \
                     Try again once it answers."
                ),
            );
        }
    }
    tracing::info!(
        target: "xcs::console::audit",
        operator = %request.operator.name,
        action = request.kind,
        action_id = id,
        subject = %request.subject,
        "console action started"
    );
    let progress = Progress {
        ledger: console.ledger.clone(),
        action_id: id.to_owned(),
    };
    let (ledger, action_id, operator, kind) = (
        console.ledger.clone(),
        id.to_owned(),
        request.operator.name.clone(),
        request.kind,
    );
    console.jobs.runtime.spawn(async move {
        let heartbeat = {
            let progress = progress.clone();
            async move {
                loop {
                    tokio::time::sleep(HEARTBEAT).await;
                    let _ = progress
                        .ledger
                        .console_action_progress(&progress.action_id, "")
                        .await
                        .map_err(|err| tracing::debug!(error = %err, "heartbeat not recorded"));
                }
            }
        };
        let result = tokio::select! {
            result = job(progress.clone()) => result,
            () = heartbeat => unreachable!("the heartbeat never ends"),
        };
        let (ok, text, link, link_text) = match result {
            Ok(outcome) => (
                true,
                outcome.text,
                outcome.link.unwrap_or_default(),
                outcome.link_text.unwrap_or_default(),
            ),
            Err(text) => (false, text, String::new(), ""),
        };
        tracing::info!(
            target: "xcs::console::audit",
            operator = %operator,
            action = kind,
            action_id = %action_id,
            succeeded = ok,
            result = %text,
            "console action finished"
        );
        if let Err(err) = ledger
            .finish_console_action(&action_id, ok, &text, (&link, link_text))
            .await {
            tracing::error!(action_id = %action_id, error = %err, "cannot record how a console action ended");
        }
    });
    see_other(&location)
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/actions", web::get().to(list))
        .route("/actions/{id}", web::get().to(show));
}

/// The state shown for an action: `running` turns `interrupted` once it stops reporting.
fn state_of(action: &ConsoleAction, now: OffsetDateTime) -> (&'static str, &'static str) {
    match action.state.as_str() {
        "done" => ("ok", "done"),
        "failed" => ("bad", "failed"),
        _ if now - action.updated_at > STALE_AFTER => ("bad", "interrupted"),
        _ => ("warn", "running"),
    }
}

async fn show(
    operator: Operator,
    console: web::Data<Console>,
    id: web::Path<String>,
) -> HttpResponse {
    let action = match console.ledger.console_action(&id).await {
        Ok(Some(action)) => action,
        Ok(None) => {
            return html::message(
                StatusCode::NOT_FOUND,
                "No such action",
                "No action with this id was taken in the console.",
            );
        }
        Err(err) => return ledger_down(&err),
    };
    let now = OffsetDateTime::now_utc();
    let (class, state) = state_of(&action, now);
    let mut page = Page::new(action.subject.clone()).signed_in(&operator);
    if state == "running" {
        page = page.refresh(1);
    }
    page.render(html! {
        h1 { (action.subject) }
        section.card {
            dl {
                dt { "State" } dd { (html::badge(class, state)) }
                dt { "By" } dd { (action.operator) }
                dt { "Started" } dd { (html::when(action.started_at, now)) }
                @if let Some(finished) = action.finished_at {
                    dt { "Finished" } dd { (html::when(finished, now)) }
                }
                @if !action.progress.is_empty() && action.finished_at.is_none() {
                    dt { "Progress" } dd { (action.progress) }
                }
            }
            @if state == "interrupted" {
                p.problem { "The processor running this action stopped before it finished. \
                    What it did stays done; send the action again from its page to finish it \
                    (it does nothing twice)." }
            }
            @if !action.result.is_empty() {
                h2 { "Result" }
                pre { (action.result) }
            }
            @if !action.link.is_empty() {
                p { a href=(action.link) {
                    @if action.link_text.is_empty() { "See the result" } @else { (action.link_text) }
                } }
            }
        }
    })
}

#[derive(Deserialize)]
struct ListQuery {
    /// Actions started before this (RFC 3339), for the next page.
    before: Option<String>,
}

async fn list(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    let before = match query.before.as_deref().map(crate::operate::parse_time) {
        Some(Err(err)) => return html::message(StatusCode::BAD_REQUEST, "Not a time", &err),
        Some(Ok(at)) => Some(at),
        None => None,
    };
    let actions = match console.ledger.console_actions(before, PAGE_SIZE).await {
        Ok(actions) => actions,
        Err(err) => return ledger_down(&err),
    };
    let now = OffsetDateTime::now_utc();
    let next = (actions.len() as i64 == PAGE_SIZE)
        .then(|| actions.last().map(|a| html::timestamp(a.started_at)))
        .flatten();
    Page::new("Actions").signed_in(&operator).render(html! {
        h1 { "Actions taken in the console" }
        @if actions.is_empty() {
            p.muted { "None yet." }
        } @else {
            div.scroll { table {
                thead { tr { th { "When" } th { "Who" } th { "Action" } th { "State" } } }
                tbody {
                    @for action in &actions {
                        @let (class, state) = state_of(action, now);
                        tr {
                            td { (html::when(action.started_at, now)) }
                            td { (action.operator) }
                            td { a href={ "/console/actions/" (action.action_id) } { (action.subject) } }
                            td { (html::badge(class, state)) }
                        }
                    }
                }
            } }
        }
        @if let Some(next) = next {
            p.pager { a href={ "/console/actions?" (super::auth::query_pair("before", &next)) } { "Older" } }
        }
    })
}

/// The page shown when the ledger cannot be read.
pub(crate) fn ledger_down(err: &crate::ledger::LedgerError) -> HttpResponse {
    html::message(
        StatusCode::SERVICE_UNAVAILABLE,
        "The ledger does not answer",
        &format!("PostgreSQL could not be read ({err}); the page works again once it answers."),
    )
}
