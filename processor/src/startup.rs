//! Builds the processor from typed config (ledger migrated, Xero client ready) and runs the
//! consumer until told to stop.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::booking::Booker;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::ledger::Ledger;
use crate::xero::client::XeroClient;

/// A processor, ready to consume.
pub struct Processor {
    config: Arc<Config>,
    booker: Booker,
}

impl Processor {
    /// Connects to PostgreSQL (running migrations) and prepares the Xero client.
    ///
    /// # Errors
    /// When PostgreSQL is unreachable or a migration fails.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let ledger = Ledger::connect(&config.postgres).await?;
        let xero = XeroClient::new(&config.xero, ledger.clone())?;
        Ok(Processor {
            config: Arc::new(config),
            booker: Booker { xero, ledger },
        })
    }

    /// The ledger, for operator commands and tests.
    pub fn ledger(&self) -> &Ledger {
        &self.booker.ledger
    }

    /// The Xero client, for its call counter.
    pub fn xero(&self) -> &XeroClient {
        &self.booker.xero
    }

    /// Consumes until `shutdown` completes; batches being booked finish first.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let consumer = tokio::spawn(crate::consumer::run(
            Arc::clone(&self.config),
            self.booker.clone(),
            Arc::new(Dispatcher::default()),
            stopped,
        ));
        shutdown.await;
        tracing::info!("shutting down: finishing the batches in progress");
        stop.send_replace(true);
        let _ = consumer.await;
        tracing::info!("stopped");
    }
}
