//! `xcs-processor reconcile`: its arguments, and the report printed in the format asked for.

use anyhow::Context as _;
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;

use super::report::Format;
use super::{ReconcileOptions, known_shop, reconcile, reconcile_payouts, reconcile_stock};
use crate::config::Config;
use crate::xero::client::XeroClient;

/// `xcs-processor reconcile`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// The shop (its name in the config).
    #[arg(long)]
    pub shop: String,
    /// Start of the range (RFC 3339, or a date meaning midnight UTC), by the time the ingress
    /// received each event (and, for what the platform's API lists, by the platform's
    /// modification time).
    #[arg(
        long,
        value_parser = crate::operate::parse_time,
        required_unless_present = "stock",
        conflicts_with = "stock"
    )]
    pub from: Option<OffsetDateTime>,
    /// End of the range, exclusive (RFC 3339, or a date meaning midnight UTC).
    #[arg(
        long,
        value_parser = crate::operate::parse_time,
        required_unless_present = "stock",
        conflicts_with = "stock"
    )]
    pub to: Option<OffsetDateTime>,
    /// Reconcile the shop's stock instead (inventory = "tracked"): per Xero item code, the
    /// level the platform last reported against Xero's quantity on hand and the units in
    /// flight. Takes no range: stock is compared as it stands now.
    #[arg(long)]
    pub stock: bool,
    /// Reconcile the shop's payouts instead: per payout the bank shows on the range's dates,
    /// the deposit against the transfer Xero holds and what its booking left in the clearing
    /// account (zero when it agrees), and held payouts with their reason. Nothing is fixed.
    #[arg(long, conflicts_with_all = ["stock", "fix"])]
    pub payouts: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Re-queue what can be booked again: documents missing or deleted in Xero (their stale
    /// ledger records are cleared) and events never booked, from xcs.archive; and what the
    /// platform's API lists that nothing booked, published as backfill events. With --stock:
    /// have every item code whose difference is unexplained compared again, and the rest posted.
    #[arg(long)]
    pub fix: bool,
}

/// Runs `reconcile` and prints the report to stdout; returns the exit code: 0 when everything
/// agrees, 1 when there are discrepancies, 2 when the reconcile could not run (the reason and
/// what to do are printed to stderr).
pub async fn run_cli(config: &Config, args: ReconcileArgs) -> i32 {
    match run(config, args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            2
        }
    }
}

async fn run(config: &Config, args: ReconcileArgs) -> anyhow::Result<i32> {
    known_shop(config, &args.shop)?;
    let range = args.from.zip(args.to);
    if let Some((from, to)) = range {
        anyhow::ensure!(
            from < to,
            "--from must be before --to (the range is [from, to))"
        );
    }
    let ledger = crate::ledger::Ledger::lazy(&config.postgres)
        .context("[postgres].url is not valid; fix it (or XCS_POSTGRES_URL)")?;
    let xero = XeroClient::new(&config.xero, ledger)
        .context("cannot set up the Xero client; check [xero]")?;
    // Stock and payouts are compared from the ledger and Xero alone; only stock's --fix
    // publishes.
    let amqp = if (args.stock || args.payouts) && !args.fix {
        Ok(None)
    } else {
        lapin::Connection::connect(
            config.amqp.uri.expose_secret(),
            lapin::ConnectionProperties::default(),
        )
        .await
        .map(Some)
    };
    let amqp = match amqp {
        Ok(connection) => connection,
        Err(err) if !args.fix => {
            eprintln!(
                "warning: cannot connect to RabbitMQ ({err}); comparing the ledger with Xero \
                 only. Check [amqp].uri (or XCS_AMQP_URI) to include xcs.archive"
            );
            None
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(
                "--fix needs RabbitMQ; check [amqp].uri (or XCS_AMQP_URI) and that RabbitMQ is up",
            ));
        }
    };
    let (text, code) = match range {
        Some((from, to)) if args.payouts => {
            let report = reconcile_payouts(config, &xero, &args.shop, from, to).await?;
            let text = match args.format {
                Format::Table => report.table(),
                Format::Json => report.json() + "\n",
                Format::Csv => report.csv(),
            };
            (text, report.exit_code())
        }
        Some((from, to)) if !args.stock => {
            let options = ReconcileOptions {
                shop: args.shop,
                from,
                to,
                fix: args.fix,
                progress: crate::operate::progress_bar(None, "reconciling"),
            };
            let report = reconcile(config, &xero, amqp.as_ref(), &options).await;
            close(amqp).await;
            let report = report?;
            let text = match args.format {
                Format::Table => report.table(),
                Format::Json => report.json() + "\n",
                Format::Csv => report.csv(),
            };
            (text, report.exit_code())
        }
        _ => {
            let report = reconcile_stock(config, &xero, amqp.as_ref(), &args.shop, args.fix).await;
            close(amqp).await;
            let report = report?;
            let text = match args.format {
                Format::Table => report.table(),
                Format::Json => report.json() + "\n",
                Format::Csv => report.csv(),
            };
            (text, report.exit_code())
        }
    };
    {
        use std::io::Write as _;
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
    }
    Ok(code)
}

async fn close(amqp: Option<lapin::Connection>) {
    if let Some(connection) = amqp {
        let _ = connection.close(200, "done".into()).await;
    }
}
