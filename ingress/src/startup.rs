//! Builds the application from typed config: binds the listener (port 0 works, for tests),
//! starts the publisher, and runs until told to stop.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::keys::KeyStore;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::routes;

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub keys: KeyStore,
    pub publisher: Publisher,
    pub metrics: Metrics,
}

/// A bound, not yet running ingress.
pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Binds the listener and starts connecting to the broker. Call inside a Tokio runtime.
    ///
    /// # Errors
    /// When the address cannot be bound or the HTTP client cannot be built.
    pub fn build(config: Config) -> anyhow::Result<Self> {
        // reqwest is built without a bundled crypto provider so the tree has one TLS stack
        // (rustls on ring, shared with lapin); install it once per process.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let listener = TcpListener::bind(config.server.listen)?;
        let port = listener.local_addr()?.port();
        let publisher = Publisher::start(
            config.amqp.uri.clone(),
            config.server.confirm_timeout(),
            Duration::from_millis(config.amqp.reconnect_max_backoff_ms),
        );
        let keys = KeyStore::new(
            &config.ebay,
            &config.adobe,
            &config.key_lookups,
            config.shops.keys().map(String::as_str),
        )?;
        let workers = match config.server.workers {
            0 => std::thread::available_parallelism().map_or(2, usize::from),
            n => n,
        };
        let shutdown_timeout = config.server.shutdown_timeout_secs;
        let header_timeout = config.server.header_timeout();
        let state = web::Data::new(AppState {
            config,
            keys,
            publisher,
            metrics: Metrics::default(),
        });
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(app_state.clone())
                .configure(routes::webhooks::configure)
                .configure(routes::health::configure)
        })
        .workers(workers)
        // A client gets this long for the request head (then 408 and the connection closed);
        // the body has `server.body_timeout_ms` in the handler. Idle keep-alive connections
        // close after 5 s, and a closing client gets 1 s to finish (actix-web's defaults, made
        // explicit).
        .client_request_timeout(header_timeout)
        .keep_alive(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .shutdown_timeout(shutdown_timeout)
        .disable_signals()
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            state,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// their publishes (up to `server.shutdown_timeout_secs`), and closes the broker connection.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let handle = self.server.handle();
        let server = tokio::spawn(self.server);
        shutdown.await;
        tracing::info!("shutting down: finishing in-flight webhooks");
        handle.stop(true).await;
        let result = server
            .await
            .unwrap_or_else(|err| Err(std::io::Error::other(err)));
        self.state.publisher.close().await;
        tracing::info!("stopped");
        result
    }
}
