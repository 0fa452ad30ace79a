//! A shop's page (`/console/shops/{shop}`: its state, events per hour, its recent events with
//! their outcome and Xero documents, filterable by kind, outcome and time) and an event's page
//! (`/console/events/{id}`: what the ledger recorded, its documents in Xero, its dead letter
//! if it has one, and what its payload becomes: `preview.rs`).

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use time::OffsetDateTime;

use super::Console;
use super::actions::ledger_down;
use super::auth::Operator;
use super::html::{self, Page};
use super::overview::{Snapshot, mode};
use crate::ledger::{EventDocument, EventFilter, EventRow};

const PAGE_SIZE: i64 = 50;
const KINDS: [&str; 4] = ["order", "refund", "inventory", "payout"];
const OUTCOMES: [&str; 3] = ["booked", "skipped", "summarised"];

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/shops/{shop}", web::get().to(shop_page))
        .route("/events/{id}", web::get().to(event_page));
}

#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    kind: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// The last event of the page before: `<unix microseconds>_<event id>`.
    before: Option<String>,
}

/// A form field left empty means "any".
fn given(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn cursor_of(event: &EventRow) -> String {
    let micros = event.processed_at.unix_timestamp_nanos() / 1_000;
    format!("{micros}_{}", event.event_id)
}

fn parse_cursor(text: &str) -> Option<(OffsetDateTime, String)> {
    let (micros, event_id) = text.split_once('_')?;
    let micros: i128 = micros.parse().ok()?;
    let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1_000)?).ok()?;
    Some((at, event_id.to_owned()))
}

impl EventsQuery {
    fn filter(&self) -> Result<(EventFilter, Option<(OffsetDateTime, String)>), String> {
        let time =
            |value: Option<&String>| given(value).map(crate::operate::parse_time).transpose();
        let choice = |value: Option<&String>, allowed: &[&str], what: &str| {
            given(value)
                .map(|v| {
                    if allowed.contains(&v) {
                        Ok(v.to_owned())
                    } else {
                        Err(format!(
                            "{v:?} is not {what}; choose one of {}",
                            allowed.join(", ")
                        ))
                    }
                })
                .transpose()
        };
        let before = given(self.before.as_ref())
            .map(|c| parse_cursor(c).ok_or_else(|| "that page link is not valid".to_owned()))
            .transpose()?;
        Ok((
            EventFilter {
                kind: choice(self.kind.as_ref(), &KINDS, "a kind")?,
                outcome: choice(self.outcome.as_ref(), &OUTCOMES, "an outcome")?,
                since: time(self.since.as_ref())?,
                until: time(self.until.as_ref())?,
            },
            before,
        ))
    }

    /// This query's link with `before` set to the next page's cursor.
    fn next_page(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("kind", &self.kind),
            ("outcome", &self.outcome),
            ("since", &self.since),
            ("until", &self.until),
        ] {
            if let Some(value) = given(value.as_ref()) {
                query.append_pair(key, value);
            }
        }
        query.append_pair("before", cursor);
        query.finish()
    }
}

async fn shop_page(
    operator: Operator,
    console: web::Data<Console>,
    shop: web::Path<String>,
    query: web::Query<EventsQuery>,
) -> HttpResponse {
    let Some((name, config)) = console.config.shops.get_key_value(shop.as_str()) else {
        return html::message(
            StatusCode::NOT_FOUND,
            "No such shop",
            "No shop of this name is configured.",
        );
    };
    let (filter, before) = match query.filter() {
        Ok(filter) => filter,
        Err(why) => return html::message(StatusCode::BAD_REQUEST, "Not a filter", &why),
    };
    let now = OffsetDateTime::now_utc();
    let since = now - time::Duration::hours(24);
    let read = async {
        let snapshot = Snapshot::read(&console, std::slice::from_ref(name), false).await?;
        let events = console
            .ledger
            .shop_events(name, &filter, before, PAGE_SIZE)
            .await?;
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let documents = console.ledger.documents_of_events(&ids).await?;
        let mut hourly = console.ledger.shop_hourly(name, since).await?;
        hourly.extend(console.ledger.shop_dead_hourly(name, since).await?);
        Ok::<_, crate::ledger::LedgerError>((snapshot, events, documents, hourly))
    };
    let (snapshot, events, documents, hourly) = match read.await {
        Ok(read) => read,
        Err(err) => return ledger_down(&err),
    };
    let row = snapshot.row(name, config);
    let severity = row.severity();
    let mut by_event: HashMap<&str, Vec<&EventDocument>> = HashMap::new();
    for document in &documents {
        by_event
            .entry(document.event_id.as_str())
            .or_default()
            .push(document);
    }
    let next = (events.len() as i64 == PAGE_SIZE)
        .then(|| events.last().map(|e| query.next_page(&cursor_of(e))))
        .flatten();
    let web_url = console.config.server.xero_web_url.trim_end_matches('/');
    Page::new(format!("Shop {name}")).signed_in(&operator).render(html! {
        h1 { "Shop " (name) " " (html::badge(severity.class(), match severity {
            super::overview::Severity::Failing => "failing",
            super::overview::Severity::Behind => "behind",
            super::overview::Severity::InSync => "in sync",
        })) }
        section.card {
            dl {
                dt { "Platform" } dd { (config.platform.as_str()) }
                dt { "Xero organisation" } dd { (row.organisation) " · " (row.connection.1) }
                dt { "Mode" } dd { (mode(config)) }
                dt { "Last booked" } dd { @match &row.last_booked {
                    Some((at, event_id)) => { (html::when(*at, now)) " · " a href={ "/console/events/" (event_id) } { (event_id) } }
                    None => "never",
                } }
                dt { "Backlog" } dd { @match snapshot.backlog(&config.tenant) {
                    Some((queue, Some(depth))) => { (depth) " waiting in " (queue) }
                    Some((queue, None)) => { (queue) " cannot be read" }
                    None => "no event seen yet",
                } }
                dt { "Today" } dd {
                    (row.today.booked) " booked, " (row.today.summarised) " summarised, "
                    (row.today.skipped) " skipped; "
                    a href={ "/console/dead?shop=" (name) } { (row.today.dead) " dead" }
                }
                @for (_, problem) in &row.problems {
                    dt.problem { "Needs a person" } dd.problem { (problem) }
                }
            }
            p {
                a href={ "/console/reconcile?shop=" (name) } { "Reconcile this shop" } " · "
                a href={ "/console/mapping?shop=" (name) } { "Check its mapping" }
            }
        }
        h2 { "Events per hour" }
        (super::chart::events_per_hour(&hourly, now))
        h2 { "Events" }
        form.filters method="get" {
            label { "Kind" select name="kind" {
                option value="" { "any" }
                @for kind in KINDS { option value=(kind) selected[filter.kind.as_deref() == Some(kind)] { (kind) } }
            } }
            label { "Outcome" select name="outcome" {
                option value="" { "any" }
                @for outcome in OUTCOMES { option value=(outcome) selected[filter.outcome.as_deref() == Some(outcome)] { (outcome) } }
            } }
            label { "From" input type="text" name="since" placeholder="2026-11-20" value=[given(query.since.as_ref())]; }
            label { "Before" input type="text" name="until" placeholder="2026-11-21T09:00:00Z" value=[given(query.until.as_ref())]; }
            button type="submit" { "Filter" }
        }
        (events_table(&events, &by_event, web_url, now))
        @if let Some(next) = next {
            p.pager { a href={ "/console/shops/" (name) "?" (next) } { "Older events" } }
        }
    })
}

fn events_table(
    events: &[EventRow],
    documents: &HashMap<&str, Vec<&EventDocument>>,
    web_url: &str,
    now: OffsetDateTime,
) -> Markup {
    html! {
        @if events.is_empty() {
            p.muted { "No events match." }
        } @else {
            div.scroll { table #events {
                thead { tr {
                    th { "Handled" } th { "Event" } th { "Kind" } th { "Outcome" } th { "Xero documents" }
                } }
                tbody {
                    @for event in events {
                        tr {
                            td { (html::when(event.processed_at, now)) }
                            td { a href={ "/console/events/" (event.event_id) } { (event.event_id) }
                                 div.muted { (event.topic) " · " (event.source) } }
                            td { (event.kind) }
                            td { (outcome_badge(&event.outcome)) @if !event.detail.is_empty() { div.muted { (event.detail) } } }
                            td { @for document in documents.get(event.event_id.as_str()).into_iter().flatten() {
                                div { (document_link(document, web_url)) }
                            } }
                        }
                    }
                }
            } }
        }
    }
}

fn outcome_badge(outcome: &str) -> Markup {
    let class = match outcome {
        "booked" | "summarised" => "ok",
        "dead" => "bad",
        _ => "quiet",
    };
    html::badge(class, outcome)
}

/// A document with its number, total and status, linked to where Xero's web app opens it
/// (Xero's documented deep links by document id).
fn document_link(document: &EventDocument, web_url: &str) -> Markup {
    let path = match document.kind.as_str() {
        "invoice" => Some("AccountsReceivable/View.aspx?InvoiceID="),
        "credit_note" => Some("AccountsReceivable/ViewCreditNote.aspx?creditNoteID="),
        _ => None,
    };
    html! {
        @match path.filter(|_| !document.xero_id.is_empty()) {
            Some(path) => a href={ (web_url) "/" (path) (document.xero_id) } rel="noreferrer" target="_blank" { (document.number) },
            None => span { (document.number) },
        }
        " " (document.currency) " " (document.total) " "
        @if document.voided { (html::badge("quiet", "voided")) } @else { (html::badge("ok", "authorised")) }
    }
}

async fn event_page(
    operator: Operator,
    console: web::Data<Console>,
    id: web::Path<String>,
) -> HttpResponse {
    let read = async {
        let event = console.ledger.event_row(&id).await?;
        let documents = console
            .ledger
            .documents_of_events(std::slice::from_ref(&*id))
            .await?;
        let dead = console.ledger.dead_letter(&id).await?;
        Ok::<_, crate::ledger::LedgerError>((event, documents, dead))
    };
    let (event, documents, dead) = match read.await {
        Ok(read) => read,
        Err(err) => return ledger_down(&err),
    };
    if event.is_none() && dead.is_none() {
        return html::message(
            StatusCode::NOT_FOUND,
            "No such event",
            "The ledger has no event with this id: not handled yet (it may be waiting in a queue), \
             or not an event id.",
        );
    }
    let now = OffsetDateTime::now_utc();
    let web_url = console.config.server.xero_web_url.trim_end_matches('/');
    let preview = super::preview::section(&console, &id, event.as_ref(), dead.as_ref()).await;
    Page::new(format!("Event {id}")).signed_in(&operator).render(html! {
        h1 { "Event " (id) }
        @if let Some(event) = &event {
            section.card {
                dl {
                    dt { "Shop" } dd { a href={ "/console/shops/" (event.shop) } { (event.shop) } " (" (event.platform) ")" }
                    dt { "Kind" } dd { (event.kind) " · " (event.topic) }
                    dt { "Came by" } dd { (event.source) }
                    dt { "Received" } dd { (event.received_at) }
                    dt { "Handled" } dd { (html::when(event.processed_at, now)) }
                    dt { "Outcome" } dd { (outcome_badge(&event.outcome)) " " (event.detail) }
                    dt { "Xero documents" } dd {
                        @if documents.is_empty() { span.muted { "none" } }
                        @for document in &documents { div { (document_link(document, web_url)) } }
                    }
                }
            }
        }
        @if let Some(dead) = &dead {
            (super::dead::letter_card(dead, &operator, now))
        }
        (preview)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_cursor_round_trips_and_garbage_is_refused() {
        let at = time::macros::datetime!(2026-12-07 10:11:12.345678 UTC);
        let cursor = format!("{}_{}", at.unix_timestamp_nanos() / 1_000, "ev_1_x");
        assert_eq!(parse_cursor(&cursor), Some((at, "ev_1_x".to_owned())));
        assert_eq!(parse_cursor("garbage"), None);
        assert_eq!(parse_cursor("99999999999999999999999_x"), None);
    }

    #[test]
    fn a_filter_names_what_is_wrong() {
        let query = EventsQuery {
            kind: Some("parcel".into()),
            ..EventsQuery::default()
        };
        assert!(query.filter().unwrap_err().contains("order, refund"));
        let query = EventsQuery {
            since: Some("yesterday".into()),
            ..EventsQuery::default()
        };
        assert!(query.filter().unwrap_err().contains("RFC 3339"));
        let query = EventsQuery {
            kind: Some(String::new()),
            outcome: Some("booked".into()),
            ..EventsQuery::default()
        };
        let (filter, before) = query.filter().unwrap();
        assert_eq!(
            (filter.kind, filter.outcome.as_deref(), before),
            (None, Some("booked"), None)
        );
    }
}
