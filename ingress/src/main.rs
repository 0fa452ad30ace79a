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
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config).context("invalid configuration")?;
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
