//! The processor as a separate process, for tests that kill it with SIGKILL (an in-process
//! processor cannot die that way). Same as `xcs-processor --config FILE`, but for the port of
//! `/healthz`, `/readyz` and `/metrics`: a free one, unless `XCS_PROCESSOR_LISTEN` names one.

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: run-processor CONFIG")?;
    let mut config = xcs_processor::config::Config::load(std::path::Path::new(&path))?;
    // Tests run several of these on one config: each takes a free port unless told one.
    if std::env::var_os("XCS_PROCESSOR_LISTEN").is_none() {
        config.server.listen = "127.0.0.1:0".into();
    }
    xcs_shared::telemetry::init(config.log_format);
    xcs_processor::startup::Processor::build(config)
        .await?
        .run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await;
    Ok(())
}
