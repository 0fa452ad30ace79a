//! `GET /console`: every shop at a glance, problems first.
//!
//! Per shop: platform, Xero organisation and connection, sync mode, the last event booked and
//! how long ago, today's events booked / skipped / dead, the last poll and what it found that
//! webhooks had missed, the last reconcile and mapping check; and in one line why a shop that
//! is failing or behind is so. Above the table: the backlog of each shard and retry tier.
//!
//! The page costs a fixed number of queries whatever the number of shops (each an index
//! read; the shops' last events one index probe each), so 500 shops stay well under 200 ms
//! (BENCHMARKS.md, "Console").

use std::collections::{BTreeMap, HashMap};

use actix_web::{HttpResponse, web};
use maud::{Markup, html};
use time::OffsetDateTime;
use xcs_shared::topology::{self, RETRY_TIERS};

use super::Console;
use super::actions::ledger_down;
use super::auth::Operator;
use super::html::{self, Page};
use crate::config::{ShopConfig, SyncMode, XeroAuthMode};
use crate::ledger::{ConnectedTenant, LedgerError, PollState, ShopCheck};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("", web::get().to(overview))
        .route("/", web::get().to(overview));
}

/// How bad a shop's state is; the table lists the worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Severity {
    Failing,
    Behind,
    InSync,
}

impl Severity {
    pub(crate) fn class(self) -> &'static str {
        match self {
            Severity::Failing => "bad",
            Severity::Behind => "warn",
            Severity::InSync => "ok",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Severity::Failing => "failing",
            Severity::Behind => "behind",
            Severity::InSync => "in sync",
        }
    }
}

/// One shop's row.
pub(crate) struct ShopRow<'a> {
    pub name: &'a str,
    pub config: &'a ShopConfig,
    pub organisation: String,
    pub connection: (Severity, String),
    pub last_booked: Option<(OffsetDateTime, String)>,
    pub today: Today,
    pub polls: Vec<&'a PollState>,
    pub checks: Vec<&'a ShopCheck>,
    /// Why it is failing or behind, worst first; empty when in sync.
    pub problems: Vec<(Severity, String)>,
}

impl ShopRow<'_> {
    pub(crate) fn severity(&self) -> Severity {
        self.problems
            .iter()
            .map(|(severity, _)| *severity)
            .min()
            .unwrap_or(Severity::InSync)
    }
}

/// A shop's events today (UTC).
#[derive(Debug, Default, Clone)]
pub(crate) struct Today {
    pub booked: i64,
    pub skipped: i64,
    pub summarised: i64,
    /// In the dead queue now (whenever they died).
    pub dead: i64,
    pub dead_reasons: BTreeMap<String, i64>,
    /// Booked because a poll found them: the webhooks had not brought them.
    pub missed_by_webhooks: i64,
}

/// Everything the overview (and a shop's page) shows of the shops, read in a fixed number of
/// queries.
pub(crate) struct Snapshot {
    pub now: OffsetDateTime,
    pub token: Result<(Option<OffsetDateTime>, Vec<String>), String>,
    pub connections: Option<Vec<ConnectedTenant>>,
    pub activity: HashMap<String, Option<(OffsetDateTime, String)>>,
    pub today: HashMap<String, Today>,
    pub polls: Vec<PollState>,
    pub checks: Vec<ShopCheck>,
    /// Each shard queue, retry tier and the dead queue with the messages waiting in it; why
    /// RabbitMQ could not be read.
    pub queues: Result<Vec<(String, Option<u32>)>, String>,
    /// The shard queue each tenant's events arrive on.
    pub tenant_shards: HashMap<String, String>,
}

impl Snapshot {
    /// Reads the state of `shops`; `whole` when they are every configured shop (the counts
    /// are then read for all at once, without a filter).
    ///
    /// # Errors
    /// When the ledger cannot be read.
    pub(crate) async fn read(
        console: &Console,
        shops: &[String],
        whole: bool,
    ) -> Result<Self, LedgerError> {
        let only = (!whole).then_some(shops);
        let now = OffsetDateTime::now_utc();
        let ledger = &console.ledger;
        let midnight = now.replace_time(time::Time::MIDNIGHT);
        let (activity, outcomes, dead, polls, checks, tenant_shards) = tokio::try_join!(
            ledger.shop_activity(shops),
            ledger.outcomes_since(midnight, only),
            ledger.dead_letter_counts(only),
            ledger.poll_states(None),
            ledger.shop_checks(),
            ledger.tenant_shards(),
        )?;
        let mut queues: Vec<String> = topology::shard_queues().collect();
        queues.extend(RETRY_TIERS.iter().map(|(tier, _)| (*tier).to_owned()));
        queues.push(topology::DEAD_QUEUE.to_owned());
        let queues = match console.queue_depths(&queues).await {
            Ok(depths) => Ok(queues.into_iter().zip(depths).collect()),
            Err(err) => Err(err.to_string()),
        };
        let mut today: HashMap<String, Today> = HashMap::new();
        for count in outcomes {
            let entry = today.entry(count.shop).or_default();
            match count.outcome.as_str() {
                "booked" => entry.booked += count.count,
                "skipped" => entry.skipped += count.count,
                "summarised" => entry.summarised += count.count,
                _ => {}
            }
            if count.source == "poll" && count.outcome != "skipped" {
                entry.missed_by_webhooks += count.count;
            }
        }
        for count in dead {
            let entry = today.entry(count.shop).or_default();
            entry.dead += count.count;
            *entry.dead_reasons.entry(count.reason).or_default() += count.count;
        }
        let connections = match console.config.xero.auth {
            XeroAuthMode::Oauth => Some(ledger.connections().await?),
            XeroAuthMode::CustomConnection => None,
        };
        let token = console
            .xero
            .token_info(false)
            .await
            .map(|info| (info.expires_at, info.scopes))
            .map_err(|err| crate::setup::explain_xero(&err, console.config.xero.auth).0);
        Ok(Snapshot {
            now,
            token,
            connections,
            activity: activity
                .into_iter()
                .map(|a| (a.shop, a.last_booked))
                .collect(),
            today,
            polls,
            checks,
            queues,
            tenant_shards: tenant_shards.into_iter().collect(),
        })
    }

    /// The shard queue `tenant`'s events arrive on and the messages waiting there.
    pub(crate) fn backlog(&self, tenant: &str) -> Option<(&str, Option<u32>)> {
        let queue = self.tenant_shards.get(tenant)?;
        let depth = self
            .queues
            .as_ref()
            .ok()
            .and_then(|queues| queues.iter().find(|(name, _)| name == queue))
            .and_then(|(_, depth)| *depth);
        Some((queue.as_str(), depth))
    }

    /// The row of shop `name`.
    pub(crate) fn row<'a>(&'a self, name: &'a str, config: &'a ShopConfig) -> ShopRow<'a> {
        let organisation = self
            .connections
            .as_ref()
            .and_then(|c| c.iter().find(|c| c.tenant_id == config.tenant))
            .map_or_else(|| config.tenant.clone(), |c| c.tenant_name.clone());
        let connection = match (&self.token, &self.connections) {
            (Err(why), _) => (Severity::Failing, format!("no Xero token: {why}")),
            (Ok(_), Some(connections))
                if !connections.iter().any(|c| c.tenant_id == config.tenant) =>
            {
                (
                    Severity::Failing,
                    "organisation not connected: connect it (Mapping page)".to_owned(),
                )
            }
            (Ok(_), Some(_)) => (Severity::InSync, "connected (OAuth)".to_owned()),
            (Ok(_), None) => (Severity::InSync, "custom connection".to_owned()),
        };
        let today = self.today.get(name).cloned().unwrap_or_default();
        let polls: Vec<&PollState> = self.polls.iter().filter(|p| p.shop == name).collect();
        let checks: Vec<&ShopCheck> = self.checks.iter().filter(|c| c.shop == name).collect();
        let mut problems = Vec::new();
        if connection.0 == Severity::Failing {
            problems.push(connection.clone());
        }
        if today.dead > 0 {
            let reasons: Vec<String> = today
                .dead_reasons
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            problems.push((
                Severity::Failing,
                format!(
                    "{} dead letter{} ({}): open Dead letters, fix the cause, replay",
                    today.dead,
                    if today.dead == 1 { "" } else { "s" },
                    reasons.join(", ")
                ),
            ));
        }
        for check in &checks {
            if !check.ok {
                problems.push((
                    Severity::Failing,
                    format!("last {}: {}", check.kind, first_line(&check.summary)),
                ));
            }
        }
        for poll in &polls {
            if !poll.last_error.is_empty() {
                problems.push((
                    Severity::Behind,
                    format!(
                        "{} read failed: {}",
                        poll.purpose,
                        first_line(&poll.last_error)
                    ),
                ));
            } else if poll.next_poll_at + time::Duration::minutes(30) < self.now {
                problems.push((
                    Severity::Behind,
                    format!(
                        "{} read overdue since {} (is a processor polling?)",
                        poll.purpose,
                        html::ago(poll.next_poll_at, self.now)
                    ),
                ));
            }
        }
        ShopRow {
            name,
            config,
            organisation,
            connection,
            last_booked: self.activity.get(name).cloned().flatten(),
            today,
            polls,
            checks,
            problems,
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

pub(crate) fn mode(config: &ShopConfig) -> &'static str {
    match config.mode {
        SyncMode::Realtime => "realtime",
        SyncMode::Summary => "summary",
    }
}

#[derive(serde::Deserialize)]
struct OverviewQuery {
    /// Reload the page every this many seconds (an operator watching it on a wall screen).
    refresh: Option<u32>,
}

/// The auto-refresh intervals offered; any other value is treated as none.
const REFRESH_CHOICES: [u32; 3] = [10, 30, 60];

async fn overview(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<OverviewQuery>,
) -> HttpResponse {
    let refresh = query.refresh.filter(|secs| REFRESH_CHOICES.contains(secs));
    let names: Vec<String> = console.config.shops.keys().cloned().collect();
    let snapshot = match Snapshot::read(&console, &names, true).await {
        Ok(snapshot) => snapshot,
        Err(err) => return ledger_down(&err),
    };
    let mut rows: Vec<ShopRow<'_>> = console
        .config
        .shops
        .iter()
        .map(|(name, config)| snapshot.row(name, config))
        .collect();
    rows.sort_by(|a, b| a.severity().cmp(&b.severity()).then(a.name.cmp(b.name)));
    let failing = rows
        .iter()
        .filter(|r| r.severity() == Severity::Failing)
        .count();
    let behind = rows
        .iter()
        .filter(|r| r.severity() == Severity::Behind)
        .count();
    let now = snapshot.now;
    let mut page = Page::new("Overview").signed_in(&operator);
    if let Some(secs) = refresh {
        page = page.refresh(secs);
    }
    page.render(html! {
        h1 { "Overview" }
        p.muted {
            "As of " (html::timestamp(now)) ". "
            @match refresh {
                Some(secs) => { "Reloads every " (secs) " s · " a href="/console" { "stop" } }
                None => { "Reload every " @for (i, secs) in REFRESH_CHOICES.iter().enumerate() {
                    @if i > 0 { ", " } a href={ "/console?refresh=" (secs) } { (secs) " s" }
                } }
            }
        }
        div.summary {
            div.card { strong { (rows.len()) } "shops" }
            div.card { strong.problem { (failing) } "failing" }
            div.card { strong.why { (behind) } "behind" }
            div.card { strong { (rows.len() - failing - behind) } "in sync" }
        }
        (token_panel(&snapshot))
        (queue_panel(&snapshot.queues))
        div.scroll { table #shops {
            thead { tr {
                th { "Shop" } th { "State" } th.hide-narrow { "Platform" } th { "Xero organisation" }
                th.hide-narrow { "Mode" } th { "Last booked" } th.num.hide-narrow { "Backlog" }
                th.num { "Booked today" } th.num.hide-narrow { "Skipped" } th.num { "Dead" }
                th.hide-narrow { "Last poll" } th.hide-narrow { "Checks" }
            } }
            tbody {
                @for row in &rows {
                    @let severity = row.severity();
                    tr class=(severity.class()) data-shop=(row.name) {
                        td { a href={ "/console/shops/" (row.name) } { (row.name) } }
                        td {
                            (html::badge(severity.class(), severity.label()))
                            @if let Some((_, why)) = row.problems.first() {
                                div.why { (why) }
                            }
                        }
                        td.hide-narrow { (row.config.platform.as_str()) }
                        td { (organisation(row)) div.muted { (row.connection.1) } }
                        td.hide-narrow { (mode(row.config)) }
                        td { @match &row.last_booked {
                            Some((at, _)) => (html::when(*at, now)),
                            None => span.muted { "never" },
                        } }
                        td.num.hide-narrow { @match snapshot.backlog(&row.config.tenant) {
                            Some((queue, Some(depth))) => span title=(queue) { (depth) },
                            Some((queue, None)) => span.problem title=(queue) { "?" },
                            None => span.muted { "–" },
                        } }
                        td.num { (row.today.booked + row.today.summarised) }
                        td.num.hide-narrow { (row.today.skipped) }
                        td.num { @if row.today.dead > 0 {
                            a.problem href={ "/console/dead?shop=" (row.name) } { (row.today.dead) }
                        } @else { "0" } }
                        td.hide-narrow { (polls(row, now)) }
                        td.hide-narrow { (checks(row, now)) }
                    }
                }
            }
        } }
    })
}

/// The app's Xero token: until when it is good and what it may do (the same for every shop).
fn token_panel(snapshot: &Snapshot) -> Markup {
    html! {
        details.card #token {
            @match &snapshot.token {
                Ok((expires_at, scopes)) => {
                    summary {
                        "Xero token: valid"
                        @if let Some(at) = expires_at { " until " (html::timestamp(*at)) }
                        " · " (scopes.len()) " scope" @if scopes.len() != 1 { "s" }
                    }
                    p.muted { @if scopes.is_empty() { "Xero did not say which scopes." } @else { (scopes.join(" ")) } }
                }
                Err(why) => {
                    summary.problem { "Xero token: none can be had" }
                    p { (why) }
                }
            }
        }
    }
}

fn queue_panel(queues: &Result<Vec<(String, Option<u32>)>, String>) -> Markup {
    html! {
        details.card {
            @match queues {
                Ok(queues) => {
                    @let waiting: u64 = queues.iter().filter_map(|(_, d)| *d).map(u64::from).sum();
                    summary { "Queues: " (waiting) " message" @if waiting != 1 { "s" } " waiting" }
                    table { tbody {
                        @for (queue, depth) in queues {
                            tr { td { (queue) } td.num { @match depth {
                                Some(depth) => (depth),
                                None => span.problem { "missing" },
                            } } }
                        }
                    } }
                }
                Err(err) => {
                    summary.problem { "Queues: RabbitMQ cannot be read" }
                    p { (err) }
                }
            }
        }
    }
}

/// The organisation's name; a tenant id without a name (a custom connection) shortened to
/// what tells organisations apart, in full on hover.
fn organisation(row: &ShopRow<'_>) -> Markup {
    let name = &row.organisation;
    html! {
        @if *name == row.config.tenant && name.len() > 8 {
            span title=(name) { (name[..8]) "…" }
        } @else {
            (name)
        }
    }
}

fn polls(row: &ShopRow<'_>, now: OffsetDateTime) -> Markup {
    html! {
        @if row.polls.is_empty() { span.muted { "not polled" } }
        @if row.today.missed_by_webhooks > 0 {
            div.why { (row.today.missed_by_webhooks) " booked today that webhooks missed" }
        }
        @for poll in &row.polls {
            div {
                (poll.purpose) ": "
                @match poll.last_poll_at {
                    Some(at) => { (html::when(at, now)) ", found " (poll.last_found) }
                    None => span.muted { "not yet" },
                }
            }
        }
    }
}

fn checks(row: &ShopRow<'_>, now: OffsetDateTime) -> Markup {
    html! {
        @if row.checks.is_empty() { span.muted { "none run" } }
        @for check in &row.checks {
            div {
                a href={ "/console/actions/" (check.action_id) } {
                    (check.kind) ": "
                    @if check.ok { span { "ok" } } @else { span.problem { "problems" } }
                }
                " " (html::when(check.ran_at, now))
            }
        }
    }
}
