//! The page shell every screen shares, the style sheet, and the few formatting helpers the
//! screens have in common. Pages are plain HTML forms and links: everything works without
//! JavaScript, and a page that shows work in progress refreshes itself with `<meta refresh>`.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, web};
use maud::{DOCTYPE, Markup, html};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::auth::Operator;

/// A page being built: its title, who is signed in (for the navigation and the sign-out
/// form), its status code, and whether it refreshes itself.
pub(crate) struct Page<'a> {
    title: String,
    operator: Option<&'a Operator>,
    status: StatusCode,
    refresh_secs: Option<u32>,
}

impl<'a> Page<'a> {
    pub(crate) fn new(title: impl Into<String>) -> Self {
        Page {
            title: title.into(),
            operator: None,
            status: StatusCode::OK,
            refresh_secs: None,
        }
    }

    pub(crate) fn signed_in(mut self, operator: &'a Operator) -> Self {
        self.operator = Some(operator);
        self
    }

    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Reloads the page every `secs` (work in progress), without JavaScript.
    pub(crate) fn refresh(mut self, secs: u32) -> Self {
        self.refresh_secs = Some(secs);
        self
    }

    pub(crate) fn render(self, body: Markup) -> HttpResponse {
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    @if let Some(secs) = self.refresh_secs {
                        meta http-equiv="refresh" content=(secs);
                    }
                    title { (self.title) " · Xero Commerce Sync" }
                    link rel="stylesheet" href="/console/style.css";
                }
                body {
                    @if let Some(operator) = self.operator {
                        header {
                            nav {
                                a.brand href="/console" { "Xero Commerce Sync" }
                                a href="/console" { "Overview" }
                                a href="/console/dead" { "Dead letters" }
                                a href="/console/reconcile" { "Reconcile" }
                                a href="/console/mapping" { "Mapping" }
                                a href="/console/actions" { "Actions" }
                            }
                            form.signout method="post" action="/console/sign-out" {
                                input type="hidden" name="csrf" value=(operator.csrf());
                                span { (operator.name) }
                                button type="submit" { "Sign out" }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        };
        HttpResponse::build(self.status)
            .content_type("text/html; charset=utf-8")
            // Pages show the books' state now; a back button must not show a stale one, and
            // no shared cache may keep what a signed-in operator saw.
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(("X-Frame-Options", "DENY"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ))
            .insert_header(("Referrer-Policy", "same-origin"))
            .body(page.into_string())
    }
}

/// A page that only says something (a refusal, a missing thing).
pub(crate) fn message(status: StatusCode, title: &str, text: &str) -> HttpResponse {
    Page::new(title).status(status).render(html! {
        section.card {
            h1 { (title) }
            p { (text) }
            p { a href="/console" { "Back to the overview" } }
        }
    })
}

/// Every console path while the console is off.
pub(crate) async fn console_off() -> HttpResponse {
    message(
        StatusCode::NOT_FOUND,
        "The console is off",
        "Set XCS_ADMIN_TOKEN (a random secret of at least 16 characters) in the processor's \
         environment and restart it to turn the operator's console on (README, \"Operator \
         console\").",
    )
}

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/style.css", web::get().to(style));
}

async fn style() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(STYLE)
}

const STYLE: &str = include_str!("style.css");

/// `at` as RFC 3339 in UTC, to the second.
pub(crate) fn timestamp(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}

/// How long ago `at` was, as a person says it: "40 s", "12 min", "3 h", "5 d".
pub(crate) fn ago(at: OffsetDateTime, now: OffsetDateTime) -> String {
    let secs = (now - at).whole_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3_600 => format!("{} min ago", secs / 60),
        3_600..172_800 => format!("{} h ago", secs / 3_600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A time with how long ago it was, the exact time on hover.
pub(crate) fn when(at: OffsetDateTime, now: OffsetDateTime) -> Markup {
    html! { time datetime=(timestamp(at)) title=(timestamp(at)) { (ago(at, now)) } }
}

/// A small coloured label: `ok`, `warn`, `bad` or `quiet`.
pub(crate) fn badge(class: &str, text: &str) -> Markup {
    html! { span class={ "badge " (class) } { (text) } }
}

/// The hidden fields every action form carries: the session's CSRF token and a fresh action
/// id, which makes sending the same form twice do the action once.
pub(crate) fn action_fields(operator: &Operator) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(operator.csrf());
        input type="hidden" name="action_id" value=(uuid::Uuid::new_v4().simple().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn ago_says_it_as_a_person_would() {
        let now = datetime!(2026-12-07 12:00 UTC);
        assert_eq!(ago(datetime!(2026-12-07 11:59:20 UTC), now), "40 s ago");
        assert_eq!(ago(datetime!(2026-12-07 11:48 UTC), now), "12 min ago");
        assert_eq!(ago(datetime!(2026-12-07 09:00 UTC), now), "3 h ago");
        assert_eq!(ago(datetime!(2026-12-02 12:00 UTC), now), "5 d ago");
        assert_eq!(ago(datetime!(2026-12-07 12:01 UTC), now), "0 s ago");
    }
}
