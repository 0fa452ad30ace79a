//! The setup subcommands of `xcs-processor`: `connect`, `check` and `test-transaction`, what
//! they accept and what they print. Reports go to stdout; a failure exits non-zero.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;

use super::check::{self, CheckOptions};
use super::connect::AdminServer;
use super::test_transaction::{self, Options};
use crate::config::Config;

/// How `check` prints.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum Format {
    /// For people: one line per check.
    #[default]
    Text,
    /// For scripts: `{"passed": bool, "checks": [{status, subject, detail, next}]}`.
    Json,
}

/// `xcs-processor connect`.
#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Where the admin server listens; [xero] redirect_uri must reach it.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: String,
    /// The admin credential: sent as a bearer token, or as the password of HTTP basic auth
    /// (any user name) when a browser asks.
    #[arg(long, env = "XCS_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
}

/// `xcs-processor check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The ingress's config file, to check every shop's webhook secret (the processor's config
    /// holds none). Without it that check is skipped, and the report says so.
    #[arg(long)]
    pub ingress_config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `xcs-processor test-transaction`.
#[derive(Debug, clap::Args)]
pub struct TestTransactionArgs {
    /// The shop (a [shops.NAME] of the config); Shopify and WooCommerce shops.
    #[arg(long)]
    pub shop: String,
    /// The ingress's base URL (e.g. https://hooks.example.com): the order is signed with the
    /// shop's secret and POSTed there. Without it, it is published to RabbitMQ directly.
    #[arg(long)]
    pub ingress: Option<String>,
    /// The ingress's config file, for the shop's secret (needed with --ingress).
    #[arg(long)]
    pub ingress_config: Option<PathBuf>,
    /// Void the invoice afterwards (its payments are deleted first).
    #[arg(long)]
    pub void: bool,
    /// Seconds to wait for a running processor to book the order.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

/// Runs the admin server until Ctrl-C or SIGTERM.
///
/// # Errors
/// When the config is not set up for the flow, or the address cannot be bound.
pub async fn connect(config: Config, args: ConnectArgs) -> anyhow::Result<()> {
    xcs_shared::telemetry::init(config.log_format);
    let listener = std::net::TcpListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let redirect = config.xero.redirect_uri.clone().unwrap_or_default();
    let server = AdminServer::build(config, listener, SecretString::from(args.admin_token))
        .await
        .context("cannot start the connect server")?;
    println!(
        "Open http://{address}/xero/connect in a browser (sign in with any user name and the \
         admin token as password), consent on Xero's page, and Xero sends you back to \
         {redirect}. Ctrl-C stops the server."
    );
    server
        .run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await?;
    Ok(())
}

/// Prints the report; exits with status 1 when a check failed.
pub async fn check(config: &Config, args: CheckArgs) -> anyhow::Result<()> {
    let report = check::run(
        config,
        &CheckOptions {
            ingress_config: args.ingress_config,
        },
    )
    .await;
    match args.format {
        Format::Text => print!("{}", report.render_text()),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report.to_json()).expect("JSON values serialise")
        ),
    }
    if !report.passed() {
        std::process::exit(1);
    }
    Ok(())
}

/// Prints what was booked (and voided).
///
/// # Errors
/// When the order cannot be sent, is not booked in time, or Xero cannot be read; the message
/// says what to do next.
pub async fn test_transaction(config: &Config, args: TestTransactionArgs) -> anyhow::Result<()> {
    let outcome = test_transaction::run(
        config,
        &Options {
            shop: args.shop,
            ingress: args.ingress,
            ingress_config: args.ingress_config,
            void: args.void,
            timeout: Duration::from_secs(args.timeout),
        },
    )
    .await?;
    print!("{}", outcome.report);
    Ok(())
}
