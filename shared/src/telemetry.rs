//! Logging: JSON lines in production, human-readable when asked; filtered by `RUST_LOG`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line, with the current span's fields (for log shippers).
    #[default]
    Json,
    /// Human-readable, for a terminal.
    Pretty,
}

/// Installs the global subscriber. Call once, from `main`; a second call is ignored so tests
/// that start several apps in one process do not fail.
pub fn init(format: LogFormat) {
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info"))
        // At debug, tokio-postgres logs every statement's parameters: OAuth tokens among them.
        .add_directive(
            "tokio_postgres::query=info"
                .parse()
                .expect("a valid directive"),
        );
    // lapin logs every failed connection attempt at ERROR, three lines each ("Connection
    // closed", "Connection error", and "Exponential backoff attempts exhausted, aborting
    // recovery", which only means that lapin's own recovery is off: we reconnect ourselves).
    // Each of those errors also reaches the caller, which says what failed and which setting
    // to fix, once and then once a minute (`crate::amqp_connect`). Only a panicking lapin
    // thread is news nobody else reports. `RUST_LOG` naming lapin gets lapin's own lines.
    if !asked.contains("lapin") {
        for directive in ["lapin=off", "lapin::thread=error"] {
            filter = filter.add_directive(directive.parse().expect("a valid directive"));
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a person at a terminal: in a file, a pipe or a log shipper
        // they are noise in every line.
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// Completes on SIGINT or SIGTERM (what Kubernetes and systemd send).
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler cannot fail at start-up");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
