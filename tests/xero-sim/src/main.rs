//! `xero-sim`: runs the Xero simulator on its own, for local runs and manual testing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_xero_sim::{RateLimits, Seed, SimConfig, XeroSim, organisations};

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
    /// Add the organisation described in this JSON file (the body of `POST
    /// /__sim/organisations`: name, base currency, optional chart, tax rates, Custom
    /// Connection). Repeat for more.
    #[arg(long = "organisation", value_name = "FILE")]
    organisations: Vec<PathBuf>,
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
    for path in &args.organisations {
        let text = std::fs::read(path)
            .with_context(|| format!("cannot read organisation file {}", path.display()))?;
        let organisation = organisations::from_json(&text)
            .with_context(|| format!("in organisation file {}", path.display()))?;
        config = config.with_organisation(organisation);
    }
    // The ids are what a processor config's `tenant` needs, and are random unless the file
    // names one, so they are printed.
    let announcements: Vec<String> = config
        .organisations
        .iter()
        .map(|o| {
            let connection = o
                .custom_connection
                .as_ref()
                .map(|app| format!(", Custom Connection {}", app.client_id))
                .unwrap_or_default();
            format!(
                "xero-sim: organisation {} \"{}\" ({}){connection}",
                o.tenant.tenant_id, o.tenant.name, o.tenant.base_currency
            )
        })
        .collect();
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
    for line in &announcements {
        println!("{line}");
    }
    tokio::signal::ctrl_c().await?;
    sim.stop().await;
    Ok(())
}
