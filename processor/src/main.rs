use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use xcs_processor::config::Config;
use xcs_processor::operate::cli::{self, BackfillArgs, DeadCommand, ResyncArgs, StatusArgs};
use xcs_processor::reconcile::{self, ReconcileArgs};
use xcs_processor::setup::cli::{self as setup, CheckArgs, ConnectArgs, TestTransactionArgs};
use xcs_processor::setup::webhooks::{self, WebhooksCommand};
use xcs_processor::startup::Processor;

/// Books the events the ingress published in Xero; and the operators' tools for the events
/// that could not be booked.
///
/// Without a subcommand it runs the processor (as `run` does).
#[derive(Parser)]
#[command(
    version,
    after_help = "Examples:
  xcs-processor --config /etc/xcs/processor.toml           run the processor
  xcs-processor --config F status                          per shop: booked, retrying, dead; exit 1 if a person is needed
  xcs-processor --config F dead list                       what could not be booked, and why
  xcs-processor --config F dead show EVENT_ID              one dead letter in full
  xcs-processor --config F dead replay --reason unmapped_tax --dry-run
  xcs-processor --config F resync --shop acme --from 2026-11-01 --to 2026-11-20
  xcs-processor --config F connect --listen 127.0.0.1:8081   connect Xero organisations (OAuth)
  xcs-processor --config F check --ingress-config I          prove the whole setup
  xcs-processor --config F test-transaction --shop acme --void
  xcs-processor --config F webhooks check                    each shop's subscriptions; exit 1 if a person is needed
  xcs-processor --config F webhooks sync --ingress-config I  create or turn on what the platforms' APIs allow

Each subcommand has its own --help. The README's \"When an event fails\" says what each
dead-letter reason means and what to do about it."
)]
struct Args {
    /// The configuration file (see deploy/config/processor.example.toml). The tools use its
    /// [amqp] and [shops] sections.
    #[arg(
        long,
        global = true,
        env = "XCS_PROCESSOR_CONFIG",
        default_value = "processor.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Consume the shard queues and book events in Xero until SIGTERM or Ctrl-C (the default).
    Run,
    /// Where each shop stands: the last event booked, counts booked / skipped / retrying /
    /// dead, open summary periods, the Xero token's expiry and scopes.
    ///
    /// Exits 0 when nothing needs a person, 1 when something does (dead letters, a Xero token
    /// that cannot be had, a summary period failing to post), 2 when it could not run. Reads
    /// the queues without removing anything.
    #[command(after_help = "Examples:
  xcs-processor status
  xcs-processor status --shop acme --json | jq '.shops[0].counts'")]
    Status(StatusArgs),
    /// Inspect, replay or purge the dead letters in xcs.dead.
    #[command(subcommand)]
    Dead(DeadCommand),
    /// Send a shop's past events through the processor again (after a mapping fix).
    ///
    /// Every event the ingress received for the shop in [--from, --to) is read back from the
    /// archive stream xcs.archive (kept 30 days) and republished to the shards. Events booked
    /// before stay booked once; orders and refunds skipped before (a kind the shop did not
    /// sync then) are looked at again. Safe to interrupt and to run twice.
    #[command(after_help = "Example:
  xcs-processor resync --shop acme --from 2026-11-01 --to 2026-11-20 --kind refund --dry-run
  xcs-processor resync --shop acme --from 2026-11-01 --to 2026-11-20 --kind refund")]
    Resync(ResyncArgs),
    /// Book a shop's history from its platform's API (orders and refunds modified in
    /// [--from, --to)), through the same path as webhooks.
    ///
    /// Books nothing twice (what webhooks or polls booked stays booked once), safe while
    /// webhooks arrive, and safe to interrupt: the same command resumes where it stopped.
    /// --dry-run reads the lists and prints the plan: orders, refunds, documents, Xero calls
    /// and the time they take at the tenant's rate limit.
    #[command(after_help = "Examples:
  xcs-processor backfill --shop acme --from 2026-06-01 --dry-run
  xcs-processor backfill --shop acme --from 2026-06-01 --to 2026-12-01")]
    Backfill(BackfillArgs),
    /// Connect Xero organisations (OAuth2 authorization code): serves /xero/connect, which
    /// sends a browser to Xero's consent page, and the callback that stores the tokens.
    ///
    /// Needs [xero] auth = "oauth" and redirect_uri, and XCS_ADMIN_TOKEN. A Custom Connection
    /// needs no connecting: run `check`.
    #[command(after_help = "Example:
  XCS_ADMIN_TOKEN=$(openssl rand -hex 32) xcs-processor connect --listen 127.0.0.1:8081")]
    Connect(ConnectArgs),
    /// Prove the setup: Xero connection and tenants, every shop's mapping against the live
    /// chart of accounts and tax rates, webhook secrets, RabbitMQ topology. Exits 1 on any
    /// failure.
    #[command(after_help = "Example:
  xcs-processor check --ingress-config /etc/xcs/ingress.toml")]
    Check(CheckArgs),
    /// Push one sample order for a shop through the live path, wait for a running processor
    /// to book it, and print the Xero invoice; --void voids it afterwards.
    #[command(after_help = "Examples:
  xcs-processor test-transaction --shop acme                      via RabbitMQ
  xcs-processor test-transaction --shop acme --ingress https://hooks.example.com \\
      --ingress-config /etc/xcs/ingress.toml --void                signed, via the ingress")]
    TestTransaction(TestTransactionArgs),
    /// Compare a shop's events (ledger and xcs.archive), the ledger's documents and payments,
    /// and what Xero holds, over a range; --fix re-queues what can be booked again.
    ///
    /// Reports documents missing, deleted or voided in Xero, totals changed in Xero,
    /// duplicates, payments missing and events never booked, each with the event, the document
    /// and what to do. Exits 0 when everything agrees, 1 on discrepancies, 2 when it could not
    /// run.
    #[command(after_help = "Examples:
  xcs-processor reconcile --shop acme --from 2026-11-01 --to 2026-11-20
  xcs-processor reconcile --shop acme --from 2026-11-01 --to 2026-11-20 --format csv > diff.csv
  xcs-processor reconcile --shop acme --from 2026-11-01 --to 2026-11-20 --fix")]
    Reconcile(ReconcileArgs),
    /// Each shop's webhook subscriptions, read from its platform's API: `check` lists what is
    /// missing, off, failing or delivered elsewhere; `sync` creates and turns on what the API
    /// allows and prints the manual step elsewhere.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config).context("invalid configuration")?;
    match args.command.unwrap_or(Command::Run) {
        Command::Run => {
            xcs_shared::telemetry::init(config.log_format);
            let processor = Processor::build(config)
                .await
                .context("cannot start the processor")?;
            processor
                .run_until_stopped(xcs_shared::telemetry::shutdown_signal())
                .await;
        }
        Command::Status(args) => std::process::exit(cli::status(&config, args).await),
        Command::Dead(command) => cli::dead(&config, command).await?,
        Command::Resync(args) => cli::resync(&config, args).await?,
        Command::Backfill(args) => cli::backfill(&config, args).await?,
        Command::Connect(args) => setup::connect(config, args).await?,
        Command::Check(args) => setup::check(&config, args).await?,
        Command::TestTransaction(args) => setup::test_transaction(&config, args).await?,
        Command::Reconcile(args) => std::process::exit(reconcile::run_cli(&config, args).await),
        Command::Webhooks(command) => std::process::exit(webhooks::run_cli(&config, command).await),
    }
    Ok(())
}
