use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use xcs_ingress::{Application, Config};

/// Receives commerce webhooks, verifies them and publishes them to RabbitMQ.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The configuration file (see deploy/config/ingress.example.toml).
    #[arg(long, env = "XCS_INGRESS_CONFIG", default_value = "ingress.toml")]
    config: PathBuf,
    /// Check the configuration (every section, with the environment's overrides) and exit:
    /// 0 when the ingress would start with it, 1 with the reason when not. Connects to
    /// nothing.
    #[arg(long)]
    check_config: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config).context("invalid configuration")?;
    if args.check_config {
        for warning in config.warnings() {
            println!("warning: {warning}");
        }
        println!(
            "{}: the ingress would start with this configuration",
            args.config.display()
        );
        return Ok(());
    }
    xcs_shared::telemetry::init(config.server.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let app = Application::build(config).context("cannot start the ingress")?;
    tracing::info!(port = app.port(), "ingress listening");
    app.run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await
        .context("the HTTP server failed")
}
