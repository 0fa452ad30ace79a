//! The ingress as a separate process, for tests that read its logs as an operator would. Same
//! as `xcs-ingress --config FILE` (the tests crate cannot reach another package's binary).

use anyhow::Context as _;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: run-ingress CONFIG")?;
    let config = xcs_ingress::Config::load(std::path::Path::new(&path))?;
    xcs_shared::telemetry::init(config.server.log_format);
    for warning in config.warnings() {
        tracing::warn!("{warning}");
    }
    let app = xcs_ingress::Application::build(config)?;
    tracing::info!(port = app.port(), "ingress listening");
    app.run_until_stopped(xcs_shared::telemetry::shutdown_signal())
        .await?;
    Ok(())
}
