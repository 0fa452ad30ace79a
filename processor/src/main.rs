use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use xcs_processor::config::Config;
use xcs_processor::startup::Processor;

/// Books the events the ingress published in Xero.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The configuration file (see deploy/config/processor.example.toml).
    #[arg(long, env = "XCS_PROCESSOR_CONFIG", default_value = "processor.toml")]
    config: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(&args.config).context("invalid configuration")?;
    xcs_shared::telemetry::init(config.log_format);
    let processor = Processor::build(config)
        .await
        .context("cannot start the processor")?;
    processor
        .run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await;
    Ok(())
}
