//! `xero-sim`: runs the Xero simulator on its own, for local runs and manual testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_xero_sim::{RateLimits, Seed, SimConfig, XeroSim};

/// A stand-in for the Xero Accounting API.
#[derive(Debug, Parser)]
#[command(name = "xero-sim", version)]
struct Args {
    /// Seed file (apps and organisations); the shipped demo company when omitted.
    #[arg(long)]
    seed: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8082")]
    listen: SocketAddr,
    /// Append every request to this JSON-lines file.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Add N clones of the first organisation (for benchmarks).
    #[arg(long, default_value_t = 0)]
    extra_tenants: usize,
    /// Latency added to every call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Start the simulated clock at this RFC 3339 time instead of now.
    #[arg(long)]
    start_at: Option<String>,
    /// Turn all rate limits off.
    #[arg(long)]
    no_rate_limits: bool,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let seed = match &args.seed {
        Some(path) => Seed::from_file(path)?,
        None => Seed::demo(),
    };
    let mut config = SimConfig::demo()
        .with_seed(seed)
        .with_extra_tenants(args.extra_tenants)
        .with_latency(Duration::from_millis(args.latency_ms));
    config.listen = args.listen;
    config.workers = args.workers;
    if args.no_rate_limits {
        config.rate_limits = RateLimits::unlimited();
    }
    if let Some(journal) = args.journal {
        config = config.with_journal_file(journal);
    }
    if let Some(at) = &args.start_at {
        config = config.starting_at(OffsetDateTime::parse(at, &Rfc3339)?);
    }
    let sim = XeroSim::start(config)?;
    println!(
        "xero-sim: API {}  identity {}",
        sim.base_url(),
        sim.identity_url()
    );
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}
