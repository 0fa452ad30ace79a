//! `xcs-processor status`: where each shop stands, and whether something needs a person.
//!
//! Per shop: the last event booked and when, how many events were booked, skipped and
//! summarised (the ledger, `xcs_events`), how many wait in the retry tiers and in the dead
//! queue (RabbitMQ), the open summary periods and what they hold, where its poll and its
//! backfills stand (`xcs_poll_state`), and once for the app the Xero token's expiry and scopes.
//!
//! The queues are read the way `dead list` reads `xcs.dead` ([`Scan`]): consumed without a
//! single acknowledgement and the channel closed, so every message goes back. The retry tiers
//! are quorum queues with a TTL: a message held by the pass does not expire meanwhile, and
//! goes on to its shard when it is back if its time came. Reading counts as a delivery, as for
//! the dead queue; the tiers have no delivery limit (RabbitMQ 3.x has no default; 4.x defaults
//! quorum queues to 20, which would need `x-delivery-limit = -1` on the tiers before polling
//! `status` often).
//!
//! "Needs a person": a dead letter of the shop, a Xero token that cannot be had (a refused
//! secret, a refresh token Xero no longer takes), a summary period whose posting failed, a poll
//! that has read nothing new for three of its intervals (failing, or no processor polls). Events
//! waiting in the retry tiers do not: they go through by themselves, and neither does one
//! failed poll (the next one resumes from the cursor).

use std::collections::BTreeMap;

use anyhow::Context as _;
use lapin::Connection;
use rust_decimal::Decimal;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::envelope::header as envelope;
use xcs_shared::topology::RETRY_TIERS;

use super::dead::{self, DeadLetter, Scan};
use crate::config::{Config, ShopConfig, XeroAuthMode};
use crate::ledger::{Ledger, PollState};
use crate::poll::scheduler;
use crate::publisher::header_str;
use crate::setup::explain_xero;
use crate::xero::client::XeroClient;

/// What `status` found.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Something below needs a person (the exit code is then 1).
    pub needs_attention: bool,
    pub xero: TokenStatus,
    pub shops: Vec<ShopStatus>,
    /// A queue held more messages than one pass reads; its counts are a lower bound.
    pub counts_incomplete: bool,
}

/// The app's Xero token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenStatus {
    /// `custom_connection` or `oauth`.
    pub auth: &'static str,
    /// RFC 3339; `None` when no token could be had.
    pub expires_at: Option<String>,
    pub scopes: Vec<String>,
    /// Why no token could be had, and what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Attention>,
}

/// One shop.
#[derive(Debug, Clone, Serialize)]
pub struct ShopStatus {
    pub shop: String,
    pub platform: String,
    pub tenant: String,
    pub last_booked: Option<LastBooked>,
    pub counts: Counts,
    /// Events waiting per retry tier (tiers with none are left out).
    pub retrying_by_tier: BTreeMap<String, u64>,
    /// Summary mode's periods not posted yet.
    pub open_periods: Vec<PeriodStatus>,
    /// Its poll, when the shop is polled (`None` when it is not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll: Option<PollStatus>,
    /// Its payout reads, when it has `payouts = true` (`crate::poll::payouts`): `read_up_to`
    /// is the payout cursor, `last_found` the payouts (or days) the last read published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payouts: Option<PollStatus>,
    /// Backfills run for it, finished or not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backfills: Vec<BackfillStatus>,
    pub needs_attention: Vec<Attention>,
}

/// A shop's poll (README "Polling and backfill").
#[derive(Debug, Clone, Serialize)]
pub struct PollStatus {
    pub every_secs: u64,
    /// Everything changed on the platform before this was read (RFC 3339); `None` before the
    /// first poll.
    pub read_up_to: Option<String>,
    pub last_poll_at: Option<String>,
    pub next_poll_at: Option<String>,
    /// Orders and refunds the last poll listed, and the platform calls it made.
    pub last_found: i32,
    pub last_calls: i32,
    /// Why the last poll failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The processor polling it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polling_now: Option<String>,
}

/// A backfill of a range (`xcs-processor backfill`).
#[derive(Debug, Clone, Serialize)]
pub struct BackfillStatus {
    /// `backfill FROM..TO`.
    pub range: String,
    /// Read and queued up to here (RFC 3339); the range's end when it finished.
    pub done_up_to: String,
    pub running: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastBooked {
    pub event_id: String,
    pub kind: String,
    pub topic: String,
    /// When the processor booked it (RFC 3339).
    pub at: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Counts {
    pub booked: i64,
    pub skipped: i64,
    /// Added to a summary period (summary mode).
    pub summarised: i64,
    pub retrying: u64,
    pub dead: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodStatus {
    pub currency: String,
    pub start: String,
    pub end: String,
    pub orders: i64,
    pub refunds: i64,
    pub orders_total: Decimal,
    pub refunds_total: Decimal,
    /// Failed tries to post it.
    pub failed_attempts: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Something a person has to do.
#[derive(Debug, Clone, Serialize)]
pub struct Attention {
    pub what: String,
    pub next: String,
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_else(|_| at.to_string())
}

/// Collects the status of `shop` (every shop when `None`).
///
/// # Errors
/// When the shop is not in the config, or the ledger or RabbitMQ cannot be read (a failing
/// Xero is part of the status, not an error).
pub async fn status(
    config: &Config,
    connection: &Connection,
    shop: Option<&str>,
) -> anyhow::Result<Status> {
    if let Some(shop) = shop {
        anyhow::ensure!(
            config.shop(shop).is_some(),
            "no shop {shop:?} in the config; the names are the [shops.NAME] sections"
        );
    }
    let ledger = Ledger::connect(&config.postgres).await.context(
        "cannot open the ledger; check [postgres] url (or XCS_POSTGRES_URL) and that \
         PostgreSQL is up",
    )?;
    let xero = token_status(config, ledger.clone()).await;

    // Who is in which queue, by (platform, shop): one pass over each queue for all shops.
    let mut dead_by_shop: BTreeMap<(String, String), Vec<DeadLetter>> = BTreeMap::new();
    let listing = dead::list(
        connection,
        &dead::Filter::default(),
        &super::ProgressBar::hidden(),
    )
    .await?;
    let mut incomplete = listing.more;
    for letter in listing.letters {
        let key = (
            letter.platform.clone().unwrap_or_default(),
            letter.shop.clone().unwrap_or_default(),
        );
        dead_by_shop.entry(key).or_default().push(letter);
    }
    let mut retrying: BTreeMap<(String, String), BTreeMap<String, u64>> = BTreeMap::new();
    for (tier, _) in RETRY_TIERS {
        let mut scan = Scan::open_queue(connection, tier).await?;
        let result = async {
            while let Some(delivery) = scan.next().await? {
                let headers = delivery.properties.headers().as_ref();
                let key = (
                    header_str(headers, envelope::PLATFORM).unwrap_or_default(),
                    header_str(headers, envelope::SHOP).unwrap_or_default(),
                );
                *retrying
                    .entry(key)
                    .or_default()
                    .entry(tier.to_owned())
                    .or_default() += 1;
            }
            anyhow::Ok(())
        }
        .await;
        incomplete |= scan.more();
        scan.close(0).await;
        result?;
    }

    let mut shops = Vec::new();
    for (name, shop_config) in &config.shops {
        if shop.is_some_and(|wanted| wanted != name) {
            continue;
        }
        let platform = shop_config.platform.as_str().to_owned();
        let key = (platform.clone(), name.clone());
        let tally = ledger
            .shop_tally(&platform, name)
            .await
            .with_context(|| format!("cannot read shop {name}'s events from the ledger"))?;
        let count = |outcome: &str| {
            tally
                .by_outcome
                .iter()
                .find(|(o, _)| o == outcome)
                .map_or(0, |(_, n)| *n)
        };
        let dead = dead_by_shop.remove(&key).unwrap_or_default();
        let retrying_by_tier = retrying.remove(&key).unwrap_or_default();
        let periods = ledger
            .open_periods(name)
            .await
            .with_context(|| format!("cannot read shop {name}'s summary periods"))?;
        let now = OffsetDateTime::now_utc();
        let poll_states = ledger
            .poll_states(Some(name))
            .await
            .with_context(|| format!("cannot read shop {name}'s poll state"))?;
        let (poll, backfills, poll_attention) = polls(shop_config, &poll_states, now);
        let (payouts, payouts_attention) = payout_reads(name, shop_config, &poll_states);
        let mut needs_attention = Vec::new();
        if !dead.is_empty() {
            let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
            for letter in &dead {
                *reasons.entry(letter.reason.as_str()).or_default() += 1;
            }
            let reasons: Vec<String> = reasons
                .iter()
                .map(|(reason, n)| format!("{n} {reason}"))
                .collect();
            needs_attention.push(Attention {
                what: format!(
                    "{} dead letter{} ({})",
                    dead.len(),
                    if dead.len() == 1 { "" } else { "s" },
                    reasons.join(", ")
                ),
                next: format!(
                    "`xcs-processor dead list --shop {name}` shows each error; fix the cause \
                     (README, \"When an event fails\"), then `dead replay --shop {name}`"
                ),
            });
            // Parked by the organisation's plan, not by anything wrong with the events.
            if let Some(parked) = reasons_count(&dead, "xero_plan_limit") {
                needs_attention.push(Attention {
                    what: format!(
                        "{parked} event{} parked: the Xero organisation's plan approves no more \
                         invoices this month",
                        if parked == 1 { "" } else { "s" }
                    ),
                    next: format!(
                        "upgrade the organisation's Xero plan, or set mode = \"summary\" and \
                         summary_period = \"weekly\" on shop {name}; then `xcs-processor dead \
                         replay --reason xero_plan_limit --shop {name}`"
                    ),
                });
            }
        }
        for period in &periods {
            if period.attempts > 0 && period.end <= now {
                needs_attention.push(Attention {
                    what: format!(
                        "the {} summary period from {} failed to post {} time{}: {}",
                        period.currency,
                        rfc3339(period.start),
                        period.attempts,
                        if period.attempts == 1 { "" } else { "s" },
                        period.detail
                    ),
                    next: "fix what the error names (the mapping or the Xero organisation); \
                           the processor tries again by itself"
                        .to_owned(),
                });
            }
        }
        shops.push(ShopStatus {
            shop: name.clone(),
            platform,
            tenant: shop_config.tenant.clone(),
            last_booked: tally
                .last_booked
                .map(|(event_id, kind, topic, at)| LastBooked {
                    event_id,
                    kind,
                    topic,
                    at: rfc3339(at),
                }),
            counts: Counts {
                booked: count("booked"),
                skipped: count("skipped"),
                summarised: count("summarised"),
                retrying: retrying_by_tier.values().sum(),
                dead: dead.len() as u64,
            },
            retrying_by_tier,
            open_periods: periods
                .into_iter()
                .map(|p| PeriodStatus {
                    currency: p.currency,
                    start: rfc3339(p.start),
                    end: rfc3339(p.end),
                    orders: p.orders,
                    refunds: p.refunds,
                    orders_total: p.orders_total,
                    refunds_total: p.refunds_total,
                    failed_attempts: p.attempts,
                    last_error: (p.attempts > 0 && !p.detail.is_empty()).then_some(p.detail),
                })
                .collect(),
            poll,
            payouts,
            backfills,
            needs_attention: needs_attention
                .into_iter()
                .chain(poll_attention)
                .chain(payouts_attention)
                .collect(),
        });
    }
    let needs_attention =
        xero.problem.is_some() || shops.iter().any(|s| !s.needs_attention.is_empty());
    Ok(Status {
        needs_attention,
        xero,
        shops,
        counts_incomplete: incomplete,
    })
}

/// A shop's poll and backfills from its poll states, and what needs a person: a poll whose
/// cursor is three intervals behind (the settle time aside) has failed or gone unread that
/// long, so it will not catch up by itself.
fn polls(
    shop: &ShopConfig,
    states: &[PollState],
    now: OffsetDateTime,
) -> (Option<PollStatus>, Vec<BackfillStatus>, Option<Attention>) {
    let error =
        |state: &PollState| (!state.last_error.is_empty()).then(|| state.last_error.clone());
    let backfills = states
        .iter()
        .filter(|s| s.purpose.starts_with("backfill "))
        .map(|s| BackfillStatus {
            range: s.purpose.clone(),
            done_up_to: rfc3339(s.cursor),
            running: s.leased_by.is_some(),
            last_error: error(s),
        })
        .collect();
    if !scheduler::polled(shop) {
        return (None, backfills, None);
    }
    let every = shop.poll.interval(shop.platform);
    let state = states.iter().find(|s| s.purpose == scheduler::PURPOSE);
    let poll = PollStatus {
        every_secs: every,
        read_up_to: state.map(|s| rfc3339(s.cursor)),
        last_poll_at: state.and_then(|s| s.last_poll_at).map(rfc3339),
        next_poll_at: state.map(|s| rfc3339(s.next_poll_at)),
        last_found: state.map_or(0, |s| s.last_found),
        last_calls: state.map_or(0, |s| s.last_calls),
        last_error: state.and_then(error),
        polling_now: state.and_then(|s| s.leased_by.clone()),
    };
    let allowed = time::Duration::seconds(
        i64::try_from(shop.poll.settle().saturating_add(every.saturating_mul(3)))
            .unwrap_or(i64::MAX),
    );
    let attention = state
        .filter(|s| (now - s.cursor) > allowed)
        .map(|s| Attention {
            what: format!(
                "the poll has read nothing changed after {} for over three of its {every} s \
             intervals; {}",
                rfc3339(s.cursor),
                match (&poll.last_error, &poll.polling_now) {
                    (Some(err), _) => format!("its last try failed: {err}"),
                    (None, Some(by)) => format!("a poll by {by} is under way and not past it yet"),
                    (None, None) => {
                        "no try failed: is every processor's [processing] poll_every_ms 0?"
                            .to_owned()
                    }
                }
            ),
            next: "fix what the error names (README, \"Polling and backfill\"); the next poll \
               resumes from the cursor, nothing is skipped"
                .to_owned(),
        });
    (Some(poll), backfills, attention)
}

/// A shop's payout reads from their `payouts` poll state, and what needs a person: a read
/// that failed, or a payout it could not normalise, which is not booked until that is fixed.
fn payout_reads(
    name: &str,
    shop: &ShopConfig,
    states: &[PollState],
) -> (Option<PollStatus>, Option<Attention>) {
    if !crate::poll::payouts::polled(shop) {
        return (None, None);
    }
    let state = states
        .iter()
        .find(|s| s.purpose == crate::poll::payouts::PURPOSE);
    let last_error = state
        .filter(|s| !s.last_error.is_empty())
        .map(|s| s.last_error.clone());
    let attention = last_error.as_ref().map(|err| Attention {
        what: format!("the last payout read left payouts unpublished: {err}"),
        next: format!(
            "fix what the error names (the shop's API token and its scopes, or the platform's \
             answer: the processor's log has the payout); the next read, within \
             poll.payouts_interval_secs, reads shop {name}'s payouts again from its cursor"
        ),
    });
    let reads = PollStatus {
        every_secs: shop.poll.payouts_interval(),
        read_up_to: state.map(|s| rfc3339(s.cursor)),
        last_poll_at: state.and_then(|s| s.last_poll_at).map(rfc3339),
        next_poll_at: state.map(|s| rfc3339(s.next_poll_at)),
        last_found: state.map_or(0, |s| s.last_found),
        last_calls: state.map_or(0, |s| s.last_calls),
        last_error,
        polling_now: state.and_then(|s| s.leased_by.clone()),
    };
    (Some(reads), attention)
}

/// How many of `dead` died for `reason`, when any did.
fn reasons_count(dead: &[DeadLetter], reason: &str) -> Option<usize> {
    let n = dead.iter().filter(|l| l.reason == reason).count();
    (n > 0).then_some(n)
}

/// The token as the processor would use it next: a Custom Connection is granted one (which
/// proves the secret; nothing is stored), an OAuth connection's stored token is used, and
/// refreshed only when it is stale, through the processor's own rotation (the new tokens are
/// stored). A fresh OAuth token is not refreshed: `status` is polled by scripts and should not
/// rotate tokens each time; `check` proves the secret.
async fn token_status(config: &Config, ledger: Ledger) -> TokenStatus {
    let mode = config.xero.auth;
    let auth = match mode {
        XeroAuthMode::CustomConnection => "custom_connection",
        XeroAuthMode::Oauth => "oauth",
    };
    let problem = |what: String, next: String| TokenStatus {
        auth,
        expires_at: None,
        scopes: Vec::new(),
        problem: Some(Attention { what, next }),
    };
    let xero = match XeroClient::new(&config.xero, ledger) {
        Ok(xero) => xero,
        Err(err) => {
            return problem(
                format!("cannot build the HTTP client ({err})"),
                "check the machine's TLS setup".to_owned(),
            );
        }
    };
    match xero.token_info(false).await {
        Ok(info) => TokenStatus {
            auth,
            expires_at: info.expires_at.map(rfc3339),
            scopes: info.scopes,
            problem: None,
        },
        Err(err) => {
            let (what, next) = explain_xero(&err, mode);
            problem(what, next)
        }
    }
}

/// For people: a block per shop, and what needs a person last.
pub fn render_text(status: &Status) -> String {
    let mut out = String::new();
    let token = &status.xero;
    out.push_str(&format!(
        "Xero token ({}): {}\n",
        token.auth,
        match (&token.problem, &token.expires_at) {
            (Some(problem), _) => format!("PROBLEM: {} → {}", problem.what, problem.next),
            (None, Some(at)) => format!(
                "valid until {at}; scopes {}",
                if token.scopes.is_empty() {
                    "not stated by Xero".to_owned()
                } else {
                    token.scopes.join(" ")
                }
            ),
            (None, None) => "no expiry stated".to_owned(),
        }
    ));
    for shop in &status.shops {
        let c = &shop.counts;
        out.push_str(&format!(
            "\nshop {} ({}, tenant {})\n",
            shop.shop, shop.platform, shop.tenant
        ));
        out.push_str(&format!(
            "  last booked  {}\n",
            shop.last_booked.as_ref().map_or_else(
                || "nothing yet".to_owned(),
                |l| format!("{} ({} {}) at {}", l.event_id, l.kind, l.topic, l.at)
            )
        ));
        out.push_str(&format!(
            "  events       {} booked, {} skipped, {} summarised, {} retrying, {} dead\n",
            c.booked, c.skipped, c.summarised, c.retrying, c.dead
        ));
        if !shop.retrying_by_tier.is_empty() {
            let tiers: Vec<String> = shop
                .retrying_by_tier
                .iter()
                .map(|(tier, n)| format!("{n} in {tier}"))
                .collect();
            out.push_str(&format!("  retrying     {}\n", tiers.join(", ")));
        }
        for period in &shop.open_periods {
            out.push_str(&format!(
                "  open period  {} {} to {}: {} orders {}, {} refunds {}{}\n",
                period.currency,
                period.start,
                period.end,
                period.orders,
                period.orders_total,
                period.refunds,
                period.refunds_total,
                if period.failed_attempts > 0 {
                    format!("; {} failed tries to post", period.failed_attempts)
                } else {
                    String::new()
                }
            ));
        }
        if let Some(poll) = &shop.poll {
            out.push_str(&format!(
                "  poll         every {} s; {}{}\n",
                poll.every_secs,
                match (&poll.read_up_to, &poll.last_poll_at) {
                    (Some(cursor), Some(last)) => format!(
                        "read up to {cursor}; last at {last} (found {}, {} calls)",
                        poll.last_found, poll.last_calls
                    ),
                    (Some(cursor), None) => format!("first poll from {cursor} under way"),
                    _ => "not polled yet".to_owned(),
                },
                poll.polling_now
                    .as_ref()
                    .map_or_else(String::new, |by| format!("; polling now: {by}"))
            ));
            if let Some(err) = &poll.last_error {
                out.push_str(&format!("  poll failed  {err}\n"));
            }
        }
        for backfill in &shop.backfills {
            out.push_str(&format!(
                "  {}: {} up to {}{}\n",
                backfill.range,
                if backfill.running {
                    "running, done"
                } else {
                    "done"
                },
                backfill.done_up_to,
                backfill
                    .last_error
                    .as_ref()
                    .map_or_else(String::new, |err| format!("; last error: {err}"))
            ));
        }
        for attention in &shop.needs_attention {
            out.push_str(&format!("  ✗ {} → {}\n", attention.what, attention.next));
        }
    }
    if status.counts_incomplete {
        out.push_str(
            "\nA queue held more messages than one read takes; the retrying and dead counts are \
             at least what is shown.\n",
        );
    }
    out.push_str(if status.needs_attention {
        "\nSomething needs a person: see the ✗ lines (and the Xero token line).\n"
    } else {
        "\nNothing needs a person.\n"
    });
    out
}
