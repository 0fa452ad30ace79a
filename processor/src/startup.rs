//! Builds the processor from typed config (ledger migrated, Xero client ready, the health and
//! metrics listener bound: port 0 works, for tests) and runs the consumer until told to stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use xcs_shared::amqp_connect::ConnectLog;

use crate::booking::Booker;
use crate::config::Config;
use crate::dispatch::Dispatcher;
use crate::ledger::{Ledger, LedgerFailure};
use crate::observe::{Health, Metrics, Observer};
use crate::xero::client::XeroClient;

/// A processor, ready to consume.
pub struct Processor {
    config: Arc<Config>,
    booker: Booker,
    observer: Arc<Observer>,
    /// `/healthz`, `/readyz` and `/metrics`, served from the start: while the processor waits
    /// for PostgreSQL it is alive and not ready.
    server: actix_web::dev::ServerHandle,
    serving: tokio::task::JoinHandle<std::io::Result<()>>,
    port: u16,
}

/// How often the processor tries PostgreSQL again while it waits for it at start.
const LEDGER_RETRY_EVERY: Duration = Duration::from_secs(5);

impl Processor {
    /// Binds `[server] listen` and serves the probes, connects to PostgreSQL (running
    /// migrations) and prepares the Xero client.
    ///
    /// A PostgreSQL that does not answer is waited for, tried every few seconds and logged
    /// once and then once a minute (a processor started before its database, as compose and
    /// Kubernetes may, need not crash-loop); `/readyz` answers 503 meanwhile. One that answers
    /// and refuses (login, database missing, a migration) ends the start: only a person fixes
    /// that.
    ///
    /// # Errors
    /// When PostgreSQL refuses the ledger, the address cannot be bound or the Xero client
    /// cannot be built; each names what to fix.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let ledger = Ledger::unopened(&config.postgres)?;
        let observer = Arc::new(Observer {
            metrics: Metrics::new(&config),
            health: Health::new(ledger.clone()),
        });
        let xero = XeroClient::observed(&config.xero, ledger.clone(), Arc::clone(&observer))?;
        let listen = config.server.listen_addr();
        let listener = std::net::TcpListener::bind(listen).map_err(|err| {
            anyhow::anyhow!(
                "cannot listen on {listen} (server.listen) for /healthz, /readyz and /metrics: \
                 {err}; free the port or set another with XCS_PROCESSOR_LISTEN"
            )
        })?;
        let port = listener.local_addr()?.port();
        let console = crate::console::Console::new(
            Arc::clone(&config),
            ledger.clone(),
            xero.clone(),
            tokio::runtime::Handle::current(),
        );
        let server = crate::observe::serve(listener, Arc::clone(&observer), console)?;
        let handle = server.handle();
        let serving = tokio::spawn(server);
        if let Err(err) = open_ledger(&ledger, &config).await {
            handle.stop(false).await;
            let _ = serving.await;
            return Err(err);
        }
        Ok(Processor {
            config,
            booker: Booker::new(xero, ledger),
            observer,
            server: handle,
            serving,
            port,
        })
    }

    /// The port `/healthz`, `/readyz` and `/metrics` are served on.
    pub fn port(&self) -> u16 {
        self.port
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

    /// Serves the health and metrics routes and consumes until `shutdown` completes; batches
    /// being booked finish first, and the routes answer until the consumer has stopped.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) {
        tracing::info!(port = self.port, "serving /healthz, /readyz and /metrics");
        let (stop, stopped) = watch::channel(false);
        let consumer = tokio::spawn(crate::consumer::run(
            Arc::clone(&self.config),
            self.booker.clone(),
            Arc::new(Dispatcher::default()),
            Arc::clone(&self.observer),
            stopped.clone(),
        ));
        let stop_poller = stopped.clone();
        let close_every = self.config.processing.summary_close_every_ms;
        let summary_closer = self.summary_closer();
        let server = self.server;
        let serving = self.serving;
        let closer =
            (crate::summary::any_summary_shop(&self.config) && close_every > 0).then(|| {
                tokio::spawn(crate::summary::run(
                    summary_closer,
                    std::time::Duration::from_millis(close_every),
                    stopped,
                ))
            });
        let poll_every = self.config.processing.poll_every_ms;
        let poller =
            (crate::poll::scheduler::any_polled(&self.config) && poll_every > 0).then(|| {
                tokio::spawn(crate::poll::scheduler::run(
                    Arc::clone(&self.config),
                    self.booker.ledger.clone(),
                    Arc::clone(&self.observer),
                    Duration::from_millis(poll_every),
                    stop_poller,
                ))
            });
        shutdown.await;
        tracing::info!("shutting down: finishing the batches in progress");
        stop.send_replace(true);
        let _ = consumer.await;
        if let Some(closer) = closer {
            let _ = closer.await;
        }
        if let Some(poller) = poller {
            let _ = poller.await;
        }
        server.stop(true).await;
        let _ = serving.await;
        tracing::info!("stopped");
    }
}

/// Migrates the ledger, waiting for a PostgreSQL that does not answer (see
/// [`Processor::build`]).
async fn open_ledger(ledger: &Ledger, config: &Config) -> anyhow::Result<()> {
    let mut log = ConnectLog::new("PostgreSQL");
    loop {
        let failure = match ledger.migrate(&config.postgres.schema).await {
            Ok(()) => {
                log.connected(None);
                return Ok(());
            }
            Err(err) => LedgerFailure::of(&err, &config.postgres),
        };
        if !failure.may_pass() {
            anyhow::bail!("{}", failure.message);
        }
        log.record(
            &format!("{:?}", failure.kind),
            &failure.cause,
            &failure.message,
        );
        tokio::time::sleep(LEDGER_RETRY_EVERY).await;
    }
}
