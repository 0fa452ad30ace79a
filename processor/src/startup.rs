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

    /// The summary-period closer (see [`crate::summary`]), for tests and operators to close
    /// due periods on demand; `run_until_stopped` runs one in the background.
    pub fn summary_closer(&self) -> crate::summary::Closer {
        crate::summary::Closer::new(Arc::clone(&self.config), self.booker.clone())
    }

    /// Consumes until `shutdown` completes; batches being booked finish first.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let consumer = tokio::spawn(crate::consumer::run(
            Arc::clone(&self.config),
            self.booker.clone(),
            Arc::new(Dispatcher::default()),
            stopped.clone(),
        ));
        let close_every = self.config.processing.summary_close_every_ms;
        let closer =
            (crate::summary::any_summary_shop(&self.config) && close_every > 0).then(|| {
                tokio::spawn(crate::summary::run(
                    self.summary_closer(),
                    std::time::Duration::from_millis(close_every),
                    stopped,
                ))
            });
        shutdown.await;
        tracing::info!("shutting down: finishing the batches in progress");
        stop.send_replace(true);
        let _ = consumer.await;
        if let Some(closer) = closer {
            let _ = closer.await;
        }
        tracing::info!("stopped");
    }
}
