//! `/console/mapping`: the `check` report per shop, and the Xero connections.
//!
//! - `GET /mapping` (`?shop=` for one shop): each shop's last check (when, whether it passed,
//!   its first problem, a link to the whole report), a form that runs the check again, and the
//!   Xero connections: in OAuth mode the organisations the ledger has connected, which
//!   configured shops book into one and which do not, and where to connect another; with a
//!   Custom Connection, that nothing needs connecting.
//! - `POST /mapping/check` runs [`setup::check::run`](crate::setup::check::run) as action
//!   `check` (without the ingress's config: the webhook secrets are not checked, and the
//!   report says so); its result is the report as `xcs-processor check` prints it, and each
//!   shop's verdict (its own lines, its organisation's, and those every shop depends on) is
//!   recorded for the overview.
//!
//! - `GET /xero/connect` (signed in, with a session) starts connecting an organisation: the
//!   `connect` command's flow ([`setup::connect::Flow`](crate::setup::connect::Flow)) mounted
//!   under `/console/xero`, logged with the operator's name. `GET /xero/callback` is Xero's
//!   redirect back; it carries no credential (the console's cookie is `SameSite=Strict`, so
//!   Xero's redirect does not bring it): the single-use state, kept in the ledger and in a
//!   cookie of the browser that started, stands in for one, so any processor of the
//!   deployment completes a flow any other started. It ends on the connected organisations,
//!   with a link back here. Both are served only when `[xero] auth = "oauth"` and
//!   `redirect_uri` ends in `/console/xero/callback`; otherwise this page says what to set, or
//!   links to the `xcs-processor connect` server that `redirect_uri` names.
//!
//! Nothing here shows a token: organisations are named by their name and tenant id.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use time::OffsetDateTime;

use super::Console;
use super::actions::{self, Outcome, ledger_down};
use super::auth::Operator;
use super::html::{self, Page};
use crate::config::{XeroAuthMode, XeroConfig};
use crate::setup::check::{self, CheckOptions};
use crate::setup::connect::{self, CONSOLE_BASE, CallbackQuery, Flow};
use crate::setup::{Report, Status};

/// The subjects of `check`'s lines about one shop, before the shop's name.
const SHOP_SUBJECTS: [&str; 4] = ["shop", "platform api", "webhook subscriptions", "webhooks"];
/// The subjects of its lines about one Xero organisation, before the tenant id's first 8
/// characters.
const TENANT_SUBJECTS: [&str; 2] = ["Xero tenant", "xero plan"];

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/mapping", web::get().to(page))
        .route("/mapping/check", web::post().to(run_check))
        .route("/xero/connect", web::get().to(connect_start))
        .route("/xero/callback", web::get().to(connect_callback));
}

#[derive(Debug, Default, Deserialize)]
struct MappingQuery {
    shop: Option<String>,
}

/// The shop a `?shop=` names: `Ok(None)` for every shop.
///
/// # Errors
/// When it names no configured shop.
fn chosen_shop<'a>(shops: &[&'a str], query: Option<&str>) -> Result<Option<&'a str>, String> {
    match query.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(shop) => shops
            .iter()
            .find(|s| **s == shop)
            .map(|s| Some(*s))
            .ok_or_else(|| {
                format!(
                    "No shop {shop:?} is configured; choose one of {}.",
                    shops.join(", ")
                )
            }),
    }
}

/// Whom a `check` line concerns.
#[derive(Debug, PartialEq, Eq)]
enum Concerns<'a> {
    Shop(&'a str),
    /// A tenant, by its id's first 8 characters.
    Tenant(&'a str),
    Everyone,
}

fn concerns<'a>(subject: &'a str, shops: &[&str]) -> Concerns<'a> {
    for prefix in SHOP_SUBJECTS {
        if let Some(rest) = subject
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(' '))
            && shops.contains(&rest)
        {
            return Concerns::Shop(rest);
        }
    }
    for prefix in TENANT_SUBJECTS {
        if let Some(rest) = subject
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix(' '))
        {
            return Concerns::Tenant(rest);
        }
    }
    Concerns::Everyone
}

/// One shop's verdict from a report: whether no line it depends on failed, and one line
/// saying so for the overview.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    shop: String,
    ok: bool,
    summary: String,
}

/// Each of `shops` (name, tenant id) judged by the lines of `report` about it, about its
/// organisation, and about what every shop depends on (PostgreSQL, Xero, RabbitMQ, ...).
fn verdicts(report: &Report, shops: &[(&str, &str)]) -> Vec<Verdict> {
    let names: Vec<&str> = shops.iter().map(|(name, _)| *name).collect();
    shops
        .iter()
        .map(|(name, tenant)| {
            let short: String = tenant.chars().take(8).collect();
            let lines: Vec<_> = report
                .lines
                .iter()
                .filter(|line| match concerns(&line.subject, &names) {
                    Concerns::Shop(shop) => shop == *name,
                    Concerns::Tenant(t) => t == short,
                    Concerns::Everyone => true,
                })
                .collect();
            let failed: Vec<_> = lines.iter().filter(|l| l.status == Status::Fail).collect();
            let warned = lines.iter().filter(|l| l.status == Status::Warn).count();
            let summary = match failed.first() {
                Some(first) => {
                    let more = if failed.len() > 1 {
                        format!(" (and {} more failing)", failed.len() - 1)
                    } else {
                        String::new()
                    };
                    format!("{}: {}{more}", first.subject, first.detail)
                }
                None => {
                    let passed = lines.iter().filter(|l| l.status == Status::Ok).count();
                    let warned = if warned > 0 {
                        format!(", {warned} warning{}", if warned == 1 { "" } else { "s" })
                    } else {
                        String::new()
                    };
                    format!("{passed} checks passed{warned}")
                }
            };
            Verdict {
                shop: (*name).to_owned(),
                ok: failed.is_empty(),
                summary,
            }
        })
        .collect()
}

/// Where the `connect` server starts the flow: beside `redirect_uri`'s `/xero/callback`.
fn connect_url(redirect_uri: Option<&str>) -> Option<String> {
    let base = redirect_uri?.trim().strip_suffix("/xero/callback")?;
    (base.starts_with("https://") || base.starts_with("http://"))
        .then(|| format!("{base}/xero/connect"))
}

/// Where organisations are connected, as `[xero]` says.
#[derive(Debug, PartialEq, Eq)]
enum ConnectAt {
    /// Here: `redirect_uri` is the console's callback.
    Console,
    /// On the `connect` server at this URL, which `redirect_uri` names.
    ConnectServer(String),
    /// Nowhere yet: what to set.
    Unset(String),
}

fn connect_at(xero: &XeroConfig) -> ConnectAt {
    if xero.auth != XeroAuthMode::Oauth {
        return ConnectAt::Unset(
            "A Custom Connection ([xero] auth = \"custom_connection\") needs no connecting; \
             set auth = \"oauth\" and redirect_uri to connect organisations with an OAuth app."
                .to_owned(),
        );
    }
    let redirect_uri = xero.redirect_uri.as_deref().map(str::trim);
    match redirect_uri {
        Some(uri)
            if uri.ends_with("/console/xero/callback")
                && (uri.starts_with("https://") || uri.starts_with("http://")) =>
        {
            ConnectAt::Console
        }
        _ => match connect_url(redirect_uri) {
            Some(url) => ConnectAt::ConnectServer(url),
            None => ConnectAt::Unset(format!(
                "To connect organisations from here, set [xero] redirect_uri to this console's \
                 https://HOST/console/xero/callback (HOST: the address the processors are \
                 reached at), register exactly that at developer.xero.com/app/manage, and \
                 restart the processors{}.",
                redirect_uri.map_or_else(String::new, |uri| format!(
                    " (now {uri:?}, neither the console's nor the connect server's \
                     /xero/callback)"
                ))
            )),
        },
    }
}

/// The flow as the console mounts it.
fn flow<'a>(console: &'a Console, http: &'a reqwest::Client) -> Flow<'a> {
    Flow {
        config: &console.config,
        ledger: &console.ledger,
        http,
        base: CONSOLE_BASE,
        console: true,
    }
}

/// Why the console does not serve the flow, when it does not.
fn not_here(xero: &XeroConfig) -> Option<HttpResponse> {
    let why = match connect_at(xero) {
        ConnectAt::Console => return None,
        ConnectAt::ConnectServer(url) => format!(
            "[xero] redirect_uri points at the xcs-processor connect server: connect there \
             ({url}), or set redirect_uri to this console's https://HOST/console/xero/callback \
             to connect from here."
        ),
        ConnectAt::Unset(why) => why,
    };
    Some(html::message(
        StatusCode::NOT_FOUND,
        "Connecting is not set up here",
        &why,
    ))
}

fn no_http(err: &reqwest::Error) -> HttpResponse {
    html::message(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Cannot reach Xero",
        &format!("No HTTP client for Xero's identity endpoints: {err}."),
    )
}

/// `GET /console/xero/connect`: to Xero's consent page, as the signed-in operator.
async fn connect_start(operator: Operator, console: web::Data<Console>) -> HttpResponse {
    if let Some(refused) = not_here(&console.config.xero) {
        return refused;
    }
    if operator.csrf().is_empty() {
        return html::message(
            StatusCode::FORBIDDEN,
            "Sign in first",
            "Connecting an organisation needs a signed-in session, not the bearer token: sign \
             in at /console/sign-in.",
        );
    }
    let http = match connect::http_client(&console.config) {
        Ok(http) => http,
        Err(err) => return no_http(&err),
    };
    flow(&console, &http).start(&operator.name).await
}

/// `GET /console/xero/callback`: Xero's redirect back, on whichever processor it lands.
async fn connect_callback(
    request: HttpRequest,
    console: web::Data<Console>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    if let Some(refused) = not_here(&console.config.xero) {
        return refused;
    }
    let http = match connect::http_client(&console.config) {
        Ok(http) => http,
        Err(err) => return no_http(&err),
    };
    flow(&console, &http)
        .callback(&request, query.into_inner())
        .await
}

async fn page(
    operator: Operator,
    console: web::Data<Console>,
    query: web::Query<MappingQuery>,
) -> HttpResponse {
    let names: Vec<&str> = console.config.shops.keys().map(String::as_str).collect();
    let chosen = match chosen_shop(&names, query.shop.as_deref()) {
        Ok(chosen) => chosen,
        Err(why) => return html::message(StatusCode::BAD_REQUEST, "No such shop", &why),
    };
    let oauth = console.config.xero.auth == XeroAuthMode::Oauth;
    let read = async {
        let checks = console.ledger.shop_checks().await?;
        let connections = if oauth {
            Some(console.ledger.connections().await?)
        } else {
            None
        };
        Ok::<_, crate::ledger::LedgerError>((checks, connections))
    };
    let (checks, connections) = match read.await {
        Ok(read) => read,
        Err(err) => return ledger_down(&err),
    };
    let shops: Vec<(&String, &crate::config::ShopConfig)> = console
        .config
        .shops
        .iter()
        .filter(|(name, _)| chosen.is_none_or(|c| c == name.as_str()))
        .collect();
    let now = OffsetDateTime::now_utc();
    let connect = connect_at(&console.config.xero);
    let title = chosen.map_or_else(|| "Mapping".to_owned(), |shop| format!("Mapping of {shop}"));
    Page::new(title.clone()).signed_in(&operator).render(html! {
        h1 { (title) }
        form.card method="post" action="/console/mapping/check" {
            (html::action_fields(&operator))
            p { "Runs " code { "xcs-processor check" } " for every shop: the ledger, the Xero \
                 connection and each organisation's accounts, tax rates and items against the \
                 shop's mapping, the platforms' APIs and webhook subscriptions, and RabbitMQ. \
                 It changes nothing. The webhook secrets live in the ingress's config and are \
                 not checked here (run " code { "check --ingress-config" } " for them)." }
            button type="submit" { "Run check" }
        }
        h2 { "Last check per shop" }
        div.scroll { table #checks {
            thead { tr { th { "Shop" } th { "Last check" } th { "Result" } th { "Summary" } } }
            tbody {
                @for (name, _) in &shops {
                    @let check = checks.iter().find(|c| c.kind == "check" && &c.shop == *name);
                    tr data-shop=(name) {
                        td { a href={ "/console/shops/" (name) } { (name) } }
                        @match check {
                            Some(check) => {
                                td { a href={ "/console/actions/" (check.action_id) } { (html::when(check.ran_at, now)) } }
                                td { @if check.ok { (html::badge("ok", "passed")) } @else { (html::badge("bad", "failed")) } }
                                td { (check.summary) }
                            }
                            None => {
                                td.muted { "never" } td { (html::badge("quiet", "not run")) } td {}
                            }
                        }
                    }
                }
            }
        } }
        h2 { "Xero connections" }
        @match &connections {
            None => section.card {
                p { "This processor signs in with a Custom Connection ("
                    code { "[xero] auth = \"custom_connection\"" } "): it reaches exactly one \
                    organisation and needs no connecting. Run the check to prove it reaches \
                    each shop's organisation." }
            },
            Some(connections) => section.card {
                @if connections.is_empty() {
                    p.problem { "No Xero organisation is connected yet." }
                } @else {
                    table #organisations {
                        thead { tr { th { "Organisation" } th { "Tenant id" } th { "Type" } } }
                        tbody {
                            @for connection in connections {
                                tr { td { (connection.tenant_name) } td { code { (connection.tenant_id) } } td { (connection.tenant_type) } }
                            }
                        }
                    }
                }
                h3 { "Shops" }
                table #shop-connections {
                    thead { tr { th { "Shop" } th { "Tenant" } th { "Connection" } } }
                    tbody {
                        @for (name, shop) in &shops {
                            @let connected = connections.iter().find(|c| c.tenant_id == shop.tenant);
                            tr data-shop=(name) {
                                td { (name) }
                                td { code { (shop.tenant) } }
                                td { @match connected {
                                    Some(c) => { (html::badge("ok", "connected")) " " (c.tenant_name) },
                                    None => { (html::badge("bad", "not connected")) },
                                } }
                            }
                        }
                    }
                }
                h3 { "Connect a Xero organisation" }
                @match &connect {
                    ConnectAt::Console => {
                        p { "Opens Xero's consent page: sign in to Xero there and tick the \
                             organisations your shops book into. Xero sends you back here, \
                             and they show on this page." }
                        p { a href="/console/xero/connect" { "Connect a Xero organisation" } }
                    }
                    ConnectAt::ConnectServer(url) => {
                        p { "Connecting runs on the " code { "xcs-processor connect" } " server, \
                             where Xero sends the browser back to (" code { "[xero] redirect_uri" } "): \
                             start it with " code { "xcs-processor connect --listen ADDR" } " (and \
                             XCS_ADMIN_TOKEN), open its " code { "/xero/connect" } ", sign in with \
                             the admin token as password, and tick the organisations on Xero's \
                             consent page. They show here once connected. To connect from this \
                             console instead, set " code { "[xero] redirect_uri" } " to its "
                             code { "https://HOST/console/xero/callback" } "." }
                        p { a href=(url) rel="noreferrer" { "Connect a Xero organisation" } " (" (url) ")" }
                    }
                    ConnectAt::Unset(why) => p.why { (why) },
                }
            },
        }
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CheckForm {
    csrf: String,
    action_id: String,
}

async fn run_check(
    operator: Operator,
    console: web::Data<Console>,
    form: web::Form<CheckForm>,
) -> HttpResponse {
    let job_console: Arc<Console> = console.clone().into_inner();
    let action_id = form.action_id.clone();
    let request = actions::Request {
        operator: &operator,
        csrf: &form.csrf,
        action_id: &form.action_id,
        kind: "check",
        subject: "Check every shop's mapping and connections".to_owned(),
    };
    actions::run(&console, request, move |progress| async move {
        progress
            .report("checking the ledger, Xero, the platforms and RabbitMQ")
            .await;
        let config = &job_console.config;
        let report = check::run(config, &CheckOptions::default()).await;
        let shops: Vec<(&str, &str)> = config
            .shops
            .iter()
            .map(|(name, shop)| (name.as_str(), shop.tenant.as_str()))
            .collect();
        for verdict in verdicts(&report, &shops) {
            if let Err(err) = job_console
                .ledger
                .record_shop_check(&verdict.shop, "check", verdict.ok, &verdict.summary, &action_id)
                .await
            {
                tracing::warn!(shop = %verdict.shop, error = %err, "cannot record a shop's last check");
            }
        }
        Ok(Outcome::said(report.render_text()).with_link("/console/mapping"))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOPS: [&str; 3] = ["acme", "nz-shopify", "shop"];

    #[test]
    fn a_shop_query_names_a_configured_shop_or_every_shop() {
        assert_eq!(chosen_shop(&SHOPS, None), Ok(None));
        assert_eq!(chosen_shop(&SHOPS, Some(" ")), Ok(None));
        assert_eq!(chosen_shop(&SHOPS, Some("acme")), Ok(Some("acme")));
        assert!(
            chosen_shop(&SHOPS, Some("evil"))
                .unwrap_err()
                .contains("acme, nz-shopify")
        );
    }

    #[test]
    fn each_line_concerns_a_shop_a_tenant_or_everyone() {
        assert_eq!(concerns("shop acme", &SHOPS), Concerns::Shop("acme"));
        assert_eq!(
            concerns("platform api nz-shopify", &SHOPS),
            Concerns::Shop("nz-shopify")
        );
        assert_eq!(
            concerns("webhook subscriptions acme", &SHOPS),
            Concerns::Shop("acme")
        );
        assert_eq!(concerns("webhooks acme", &SHOPS), Concerns::Shop("acme"));
        assert_eq!(concerns("shop shop", &SHOPS), Concerns::Shop("shop"));
        assert_eq!(
            concerns("Xero tenant 1a2b3c4d", &SHOPS),
            Concerns::Tenant("1a2b3c4d")
        );
        assert_eq!(
            concerns("xero plan 1a2b3c4d", &SHOPS),
            Concerns::Tenant("1a2b3c4d")
        );
        assert_eq!(concerns("PostgreSQL", &SHOPS), Concerns::Everyone);
        assert_eq!(
            concerns("webhook subscriptions", &SHOPS),
            Concerns::Everyone
        );
        assert_eq!(concerns("shop gone", &SHOPS), Concerns::Everyone);
    }

    #[test]
    fn a_shop_fails_by_its_own_lines_its_tenants_and_everyones() {
        let mut report = Report::default();
        report.ok("PostgreSQL", "reachable");
        report.ok("Xero tenant 11111111", "Demo NZ reachable");
        report.fail("Xero tenant 22222222", "not connected", "connect it");
        report.ok("shop acme", "mapping fits");
        report.warn("platform api acme", "slow", "look");
        report.skip("shop nz-shopify", "not checked", "fix the Xero line");
        let shops = [("acme", "11111111-aaaa"), ("nz-shopify", "22222222-bbbb")];
        let verdicts = verdicts(&report, &shops);
        assert_eq!(
            verdicts,
            [
                Verdict {
                    shop: "acme".into(),
                    ok: true,
                    summary: "3 checks passed, 1 warning".into()
                },
                Verdict {
                    shop: "nz-shopify".into(),
                    ok: false,
                    summary: "Xero tenant 22222222: not connected".into()
                },
            ]
        );
        report.fail("RabbitMQ", "unreachable", "start it");
        let verdicts = super::verdicts(&report, &shops);
        assert!(!verdicts[0].ok);
        assert_eq!(verdicts[0].summary, "RabbitMQ: unreachable");
        assert_eq!(
            verdicts[1].summary,
            "Xero tenant 22222222: not connected (and 1 more failing)"
        );
    }

    #[test]
    fn the_console_connects_when_the_redirect_uri_is_its_callback() {
        let config = |auth: &str, redirect: Option<&str>| {
            let redirect =
                redirect.map_or_else(String::new, |r| format!("redirect_uri = \"{r}\"\n"));
            toml::from_str::<XeroConfig>(&format!(
                "client_id = \"id\"\nclient_secret = \"secret\"\nauth = \"{auth}\"\n{redirect}"
            ))
            .expect("a [xero] section")
        };
        let xero = config(
            "oauth",
            Some("https://ops.example.com/console/xero/callback"),
        );
        assert_eq!(connect_at(&xero), ConnectAt::Console);
        let xero = config("oauth", Some("https://admin.example.com/xero/callback"));
        assert_eq!(
            connect_at(&xero),
            ConnectAt::ConnectServer("https://admin.example.com/xero/connect".into())
        );
        for xero in [
            config("oauth", None),
            config("oauth", Some("https://admin.example.com/other")),
            config(
                "custom_connection",
                Some("https://ops.example.com/console/xero/callback"),
            ),
        ] {
            assert!(matches!(connect_at(&xero), ConnectAt::Unset(_)), "{xero:?}");
        }
    }

    #[test]
    fn the_connect_link_sits_beside_the_redirect_uri() {
        assert_eq!(
            connect_url(Some("https://admin.example.com/xero/callback")).as_deref(),
            Some("https://admin.example.com/xero/connect")
        );
        assert_eq!(connect_url(Some("https://admin.example.com/other")), None);
        assert_eq!(connect_url(Some("javascript:x/xero/callback")), None);
        assert_eq!(connect_url(None), None);
    }
}
