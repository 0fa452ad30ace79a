//! The operators' subcommands of `xcs-processor`: what they accept and what they print.
//! Tables and reports go to stdout, progress and questions to stderr.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;
use xcs_shared::{EventKind, Platform};

use super::dead::{self, Filter, PurgeOptions, ReplayOptions};
use super::progress_bar;
use super::resync::{self, ResyncOptions};
use crate::config::Config;
use crate::ledger::Ledger;

/// How `dead list` and `dead show` print.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum Format {
    /// For people.
    #[default]
    Table,
    /// For scripts (`jq`): one JSON document.
    Json,
}

/// The dead-letter queue `xcs.dead`.
#[derive(Debug, clap::Subcommand)]
pub enum DeadCommand {
    /// List dead letters (all stay in the queue).
    ///
    /// One line each: event id, reason, when it died, attempts, shop, kind, topic, the order's
    /// number and amount when the payload states them; under it the last error in full.
    /// Filters combine (all must match).
    #[command(after_help = "Examples:
  xcs-processor dead list
  xcs-processor dead list --shop acme --reason unmapped_tax --since 2026-11-20
  xcs-processor dead list --format json | jq -r '.[].event_id'")]
    List {
        #[command(flatten)]
        filter: Filter,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one dead letter in full (it stays in the queue).
    ///
    /// Reason, attempts, first failure, last error, every header and the payload (pretty
    /// JSON when it is JSON).
    #[command(after_help = "Example:
  xcs-processor dead show shopify:acme:b54557e4-7c6b-4b5e-9a0e-1b2c3d4e5f60")]
    Show {
        /// The event id, as `dead list` prints it (the xcs-event-id header).
        id: String,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Send matching dead letters back to be processed again (fix the cause first).
    ///
    /// Each event goes back to the shards with a fresh set of retries, and leaves the dead
    /// queue only once RabbitMQ confirmed its copy. Safe to interrupt and to run twice:
    /// nothing is lost, and the processor books each event once.
    #[command(after_help = "Examples:
  xcs-processor dead replay --reason unmapped_tax --shop acme --dry-run
  xcs-processor dead replay --reason unmapped_tax --shop acme --limit 1
  xcs-processor dead replay --reason unmapped_tax --shop acme")]
    Replay {
        #[command(flatten)]
        filter: Filter,
        /// Print what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Replay at most this many events (try one before the rest).
        #[arg(long)]
        limit: Option<usize>,
        /// Table: what was replayed and `replayed N events`; JSON: `{replayed: [...],
        /// count, duplicates, kept, more, dry_run}`.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Delete matching dead letters for good.
    ///
    /// Lists them and asks you to type how many will go; --yes skips the question, and without
    /// a terminal --yes is required.
    #[command(after_help = "Example:
  xcs-processor dead purge --reason bad_envelope")]
    Purge {
        #[command(flatten)]
        filter: Filter,
        /// Do not ask (for scripts).
        #[arg(long)]
        yes: bool,
    },
    /// Rebuild the ledger's dead-letter index (what the console lists) from the queue.
    ///
    /// Reads the whole dead queue once (every message stays) and records each message as
    /// dead; an event the index holds as dead but the queue no longer does becomes `gone`.
    /// The processor, `dead replay` and `dead purge` keep the index in step; run this after
    /// the ledger was down while events died, or when the index was lost. Safe to run twice.
    #[command(after_help = "Example:
  xcs-processor dead reindex")]
    Reindex,
}

/// What `resync` reads back from the archive.
#[derive(Debug, clap::Args)]
pub struct ResyncArgs {
    /// The shop (its name in the config).
    #[arg(long)]
    pub shop: String,
    /// Start of the range (RFC 3339, or a date meaning midnight UTC), by the time the ingress
    /// received each event. The archive keeps 30 days.
    #[arg(long, value_parser = super::parse_time)]
    pub from: OffsetDateTime,
    /// End of the range, exclusive (RFC 3339, or a date meaning midnight UTC).
    #[arg(long, value_parser = super::parse_time)]
    pub to: OffsetDateTime,
    /// Only this kind (order, refund, inventory).
    #[arg(long)]
    pub kind: Option<EventKind>,
    /// Only this platform, if several platforms have a shop of that name.
    #[arg(long)]
    pub platform: Option<Platform>,
    /// Print what would be republished; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `backfill` reads.
#[derive(Debug, clap::Args)]
pub struct BackfillArgs {
    /// The shop (its name in the config); it needs [shops.NAME.api].
    #[arg(long)]
    pub shop: String,
    /// Start of the history (RFC 3339, or a date meaning midnight UTC), by the platform's
    /// modification time of each order.
    #[arg(long, value_parser = super::parse_time)]
    pub from: OffsetDateTime,
    /// End, exclusive (RFC 3339 or a date); default now.
    #[arg(long, value_parser = super::parse_time)]
    pub to: Option<OffsetDateTime>,
    /// Read the platform's lists and print the plan (orders, refunds, documents, Xero calls,
    /// time at the tenant's rate limit); publish nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// What `status` reports on.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Only this shop (its name in the config).
    #[arg(long)]
    pub shop: Option<String>,
    /// One JSON document instead of text (see the README for its shape).
    #[arg(long)]
    pub json: bool,
}

/// `print!` that stops quietly when stdout is gone (`dead list | head`) instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `println!` that stops quietly when stdout is gone.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

async fn connect(config: &Config) -> anyhow::Result<Connection> {
    Connection::connect(
        config.amqp.uri.expose_secret(),
        ConnectionProperties::default(),
    )
    .await
    .context(
        "cannot connect to RabbitMQ; check [amqp].uri (or XCS_AMQP_URI) and that RabbitMQ is up",
    )
}

fn print_json(value: &impl serde::Serialize) {
    outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("reports serialise")
    );
}

/// Runs a `dead` subcommand.
///
/// # Errors
/// What went wrong, and what to do about it.
pub async fn dead(config: &Config, command: DeadCommand) -> anyhow::Result<()> {
    let connection = connect(config).await?;
    let result = run_dead(config, &connection, command).await;
    let _ = connection.close(200, "done".into()).await;
    result
}

/// The dead-letter index for `dead replay` and `dead purge` to keep in step: `None`, with a
/// warning, when the ledger cannot be reached (the queue is the truth; `dead reindex` puts
/// the index right later).
async fn dead_index(config: &Config) -> Option<Ledger> {
    let opened = async {
        let ledger = Ledger::lazy(&config.postgres)?;
        ledger.migrate(&config.postgres.schema).await?;
        Ok::<_, crate::ledger::LedgerError>(ledger)
    };
    match tokio::time::timeout(std::time::Duration::from_secs(15), opened).await {
        Ok(Ok(ledger)) => Some(ledger),
        Ok(Err(err)) => {
            eprintln!(
                "warning: cannot reach the ledger ({err}); the dead-letter index will not be \
                 updated: run `xcs-processor dead reindex` later"
            );
            None
        }
        Err(_) => {
            eprintln!(
                "warning: the ledger did not answer; the dead-letter index will not be \
                 updated: run `xcs-processor dead reindex` later"
            );
            None
        }
    }
}

async fn run_dead(
    config: &Config,
    connection: &Connection,
    command: DeadCommand,
) -> anyhow::Result<()> {
    match command {
        DeadCommand::List { filter, format } => {
            let listing =
                dead::list(connection, &filter, &progress_bar(None, "reading xcs.dead")).await?;
            match format {
                Format::Json => print_json(&listing.letters),
                Format::Table => {
                    out!("{}", dead::table(&listing.letters));
                    eprintln!(
                        "{} of {} dead letters match",
                        listing.letters.len(),
                        listing.in_queue
                    );
                }
            }
            if listing.more {
                eprintln!(
                    "only the first {} messages were read; purge or replay some and list again",
                    dead::MAX_PASS
                );
            }
        }
        DeadCommand::Show { id, format } => {
            let found = dead::show(connection, &id).await?;
            anyhow::ensure!(
                !found.is_empty(),
                "no dead letter with event id {id:?}; `dead list` shows the ids"
            );
            match format {
                Format::Json => print_json(
                    &found
                        .iter()
                        .map(dead::DeadLetter::to_json)
                        .collect::<Vec<_>>(),
                ),
                Format::Table => {
                    for (i, letter) in found.iter().enumerate() {
                        if i > 0 {
                            outln!("\n--- another copy of the same event ---\n");
                        }
                        out!("{}", dead::describe(letter));
                    }
                }
            }
        }
        DeadCommand::Replay {
            filter,
            dry_run,
            limit,
            format,
        } => {
            let options = ReplayOptions {
                dry_run,
                limit,
                progress: progress_bar(Some(0), "replaying"),
                ledger: if dry_run {
                    None
                } else {
                    dead_index(config).await
                },
                operator: None,
            };
            let report = dead::replay(connection, &filter, &options).await?;
            if let Some(warning) = &report.index_warning {
                eprintln!("warning: {warning}");
            }
            match format {
                Format::Table => out!("{}", dead::replay_text(&report, dry_run)),
                Format::Json => print_json(&serde_json::json!({
                    "replayed": report.replayed,
                    "count": report.replayed.len(),
                    "duplicates": report.duplicates,
                    "kept": report.kept,
                    "more": report.more,
                    "dry_run": dry_run,
                })),
            }
        }
        DeadCommand::Purge { filter, yes } => {
            let listing =
                dead::list(connection, &filter, &progress_bar(None, "reading xcs.dead")).await?;
            let count = listing.letters.len();
            if count == 0 {
                outln!("no dead letters match; nothing purged");
                return Ok(());
            }
            if !yes {
                anyhow::ensure!(
                    std::io::stdin().is_terminal(),
                    "refusing to purge {count} dead letter(s) without a terminal to confirm on; \
                     check them with `dead list` and pass --yes"
                );
                out!("{}", dead::table(&listing.letters));
                eprint!(
                    "These {count} dead letter(s) will be deleted for good. Type {count} to go on: "
                );
                std::io::stderr().flush().ok();
                let mut answer = String::new();
                std::io::stdin().lock().read_line(&mut answer)?;
                anyhow::ensure!(
                    answer.trim() == count.to_string(),
                    "not confirmed; nothing purged"
                );
            }
            let options = PurgeOptions {
                // No more than the operator saw and confirmed, should more arrive meanwhile.
                limit: Some(count),
                progress: progress_bar(Some(0), "purging"),
                ledger: dead_index(config).await,
                operator: None,
            };
            let report = dead::purge(connection, &filter, &options).await?;
            if let Some(warning) = &report.index_warning {
                eprintln!("warning: {warning}");
            }
            forget_purged(config, &report.purged).await?;
            outln!(
                "purged {} dead letter(s); {} left in the dead queue",
                report.purged.len(),
                report.kept
            );
        }
        DeadCommand::Reindex => {
            let ledger = Ledger::connect(&config.postgres)
                .await
                .context("cannot reach the ledger to rebuild the dead-letter index")?;
            let report = dead::reindex(connection, &ledger).await?;
            outln!(
                "indexed {} dead letter(s) of {} in xcs.dead; {} no longer in the queue marked gone",
                report.indexed,
                report.in_queue,
                report.gone
            );
            if report.more {
                eprintln!(
                    "the queue holds more than one pass reads ({}): the rest is not indexed and \
                     nothing was marked gone; replay or purge some and run again",
                    dead::MAX_PASS
                );
            }
        }
    }
    Ok(())
}

/// A purged order is gone for good. If it was parked for its plan limit, the ledger forgets it
/// was parked, so a later refund of it waits for it as for any order not yet booked instead of
/// being parked after it. In tracked inventory its units are no longer in flight (README
/// "Inventory: tracked mode").
async fn forget_purged(config: &Config, purged: &[dead::DeadLetter]) -> anyhow::Result<()> {
    if purged.is_empty() {
        return Ok(());
    }
    let parked: Vec<&str> = purged
        .iter()
        .filter(|letter| letter.reason == crate::error::PLAN_LIMIT_REASON)
        .map(|letter| letter.event_id.as_str())
        .collect();
    let all: Vec<&str> = purged.iter().map(|l| l.event_id.as_str()).collect();
    let ledger = crate::ledger::Ledger::connect(&config.postgres)
        .await
        .context("purged, but cannot reach the ledger to forget the purged orders")?;
    if !parked.is_empty() {
        ledger
            .forget_parked_events(&parked)
            .await
            .context("purged, but cannot forget the parked orders in the ledger")?;
    }
    ledger
        .forget_purged_stock_moves(&all)
        .await
        .context("purged, but cannot forget the purged orders' stock in flight in the ledger")?;
    Ok(())
}

/// Runs `resync`.
///
/// # Errors
/// What went wrong, and what to do about it.
pub async fn backfill(config: &Config, args: BackfillArgs) -> anyhow::Result<()> {
    use crate::poll::backfill::{BackfillOptions, backfill};
    let ledger = crate::ledger::Ledger::connect(&config.postgres).await?;
    let options = BackfillOptions {
        shop: args.shop,
        from: args.from,
        to: args.to.unwrap_or_else(OffsetDateTime::now_utc),
        dry_run: args.dry_run,
        progress: progress_bar(Some(1), "reading the platform"),
    };
    let plan = backfill(config, &ledger, &options).await?;
    let minutes = plan.booking_time.as_secs().div_ceil(60);
    if let Some(at) = plan.resumed_from {
        outln!("resumed from {}", crate::poll::rfc3339(at));
    }
    outln!(
        "{verb} {} orders and {} refunds of shop {} ({} platform API calls)",
        plan.tally.orders,
        plan.tally.refunds,
        options.shop,
        plan.platform_calls,
        verb = if options.dry_run {
            "would book"
        } else {
            "published"
        },
    );
    outln!(
        "Xero: {} documents in about {} calls, {} at the tenant's rate limit \
         ({}/minute, {}/day)",
        plan.documents,
        plan.xero_calls,
        if minutes >= 60 {
            format!("{}h{:02}m", minutes / 60, minutes % 60)
        } else {
            format!("{minutes} min")
        },
        config.xero.max_per_minute,
        config.xero.max_per_day,
    );
    if plan.tally.already_booked > 0 {
        outln!(
            "{} more listed were booked already (same order or refund, same version): left alone",
            plan.tally.already_booked
        );
    }
    if plan.tally.waited_for_room.as_secs() > 0 {
        outln!(
            "waited {} s in all for the processors to take what was queued (at most {} events \
             wait in the shards, so webhooks are not held up behind the history)",
            plan.tally.waited_for_room.as_secs(),
            crate::poll::room::MAX_READY
        );
    }
    if options.dry_run {
        outln!("dry run: nothing was published; run without --dry-run to book it");
    } else {
        outln!("the processors book it as they go; `xcs-processor status` shows the backlog");
    }
    Ok(())
}

pub async fn resync(config: &Config, args: ResyncArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.shop(&args.shop).is_some(),
        "no shop {:?} in the config; the names are the [shops.NAME] sections",
        args.shop
    );
    let connection = connect(config).await?;
    let options = ResyncOptions {
        shop: args.shop,
        from: args.from,
        to: args.to,
        kind: args.kind,
        platform: args.platform,
        dry_run: args.dry_run,
        progress: progress_bar(None, "reading xcs.archive"),
    };
    let result = resync::resync(&connection, &options).await;
    let _ = connection.close(200, "done".into()).await;
    let report = result?;
    for event_id in &report.republished {
        outln!("{event_id}");
    }
    outln!(
        "{} {} event(s) of {} read from the archive",
        if options.dry_run {
            "would republish"
        } else {
            "republished"
        },
        report.republished.len(),
        report.read
    );
    if let Some(first) = report
        .first_received_at
        .as_deref()
        .and_then(|at| super::parse_time(at).ok())
        .filter(|first| *first > options.from)
    {
        eprintln!(
            "note: the oldest event read was received at {first}, after --from; if you expected \
             earlier ones, they are past the archive's retention (30 days) and cannot be re-synced"
        );
    }
    Ok(())
}

/// Runs `status` and returns the exit code: 0 when nothing needs a person, 1 when something
/// does, 2 when the status could not be read (the reason on stderr).
pub async fn status(config: &Config, args: StatusArgs) -> i32 {
    let result = async {
        let connection = connect(config).await?;
        let result = super::status::status(config, &connection, args.shop.as_deref()).await;
        let _ = connection.close(200, "done".into()).await;
        result
    }
    .await;
    match result {
        Ok(status) => {
            if args.json {
                print_json(&status);
            } else {
                out!("{}", super::status::render_text(&status));
            }
            i32::from(status.needs_attention)
        }
        Err(err) => {
            eprintln!("status: {err:#}");
            2
        }
    }
}
