//! The processor as a separate process, for tests that kill it with SIGKILL (an in-process
//! processor cannot die that way). Same as `xcs-processor --config FILE`.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: run-processor CONFIG")?;
    let config = xcs_processor::config::Config::load(std::path::Path::new(&path))?;
    xcs_shared::telemetry::init(config.log_format);
    xcs_processor::startup::Processor::build(config)
        .await?
        .run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await;
    Ok(())
}
