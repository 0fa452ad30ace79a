//! Builds the application from typed config: binds the listener (port 0 works, for tests),
//! starts the publisher, and runs until told to stop.

use std::future::Future;
use std::net::TcpListener;
use std::time::Duration;

use actix_http::{HttpService, Protocol};
use actix_service::{ServiceFactoryExt as _, map_config};
use actix_web::dev::{AppConfig, Extensions, Server, Service as _, fn_service};
use actix_web::rt::net::TcpStream;
use actix_web::{App, web};
use tracing_actix_web::TracingLogger;

use crate::config::Config;
use crate::connection::{DeadlineStream, Handling};
use crate::keys::KeyStore;
use crate::metrics::Metrics;
use crate::publisher::Publisher;
use crate::routes;
use crate::routes::webhooks::AccessLogger;

/// How long a kept-alive connection may stay idle between requests (actix-web's default).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// What every request handler shares.
pub struct AppState {
    pub config: Config,
    pub keys: KeyStore,
    pub publisher: Publisher,
    pub metrics: Metrics,
    /// Which accepted deliveries get their log line (`server.access_log`).
    pub(crate) access_log: AccessLogger,
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
        let access_log = AccessLogger::new(
            config.server.access_log,
            config.server.access_log_sample_every,
        );
        let state = web::Data::new(AppState {
            access_log,
            config,
            keys,
            publisher,
            metrics: Metrics::default(),
        });
        let app_state = state.clone();
        // Served through actix-http directly, not actix-web's HttpServer, so that each
        // connection's stream can be wrapped: see `crate::connection` for why.
        let builder = Server::build()
            .workers(workers)
            .shutdown_timeout(shutdown_timeout)
            .disable_signals();
        let graceful_shutdown = builder.graceful_shutdown_signal();
        let local_addr = listener.local_addr()?;
        let server = builder
            .listen("xcs-ingress", listener, move || {
                let app_state = app_state.clone();
                let graceful_shutdown = graceful_shutdown.clone();
                let app = App::new()
                    .wrap(TracingLogger::default())
                    .wrap_fn(|request, service| {
                        let handling = Handling::start(&request);
                        let response = service.call(request);
                        async move {
                            let response = response.await;
                            drop(handling);
                            response
                        }
                    })
                    .app_data(app_state)
                    .configure(routes::webhooks::configure)
                    .configure(routes::health::configure);
                let http = HttpService::build()
                    // A client gets this long for the first request's head (then 408 and the
                    // connection closed); `crate::connection` holds later heads to it too. The
                    // body has `server.body_timeout_ms` in the handler. Idle keep-alive
                    // connections close after KEEP_ALIVE, and a closing client gets 1 s to
                    // finish.
                    .client_request_timeout(header_timeout)
                    .keep_alive(KEEP_ALIVE)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .local_addr(local_addr)
                    // What actix-web's HttpServer does (the hook is doc-hidden in actix-http):
                    // on a graceful stop, kept-alive connections close after their current
                    // request instead of holding the stop until keep-alive ends.
                    .graceful_shutdown_signal(move || {
                        let signal = graceful_shutdown.clone();
                        async move { signal.notified().await }
                    })
                    .on_connect_ext(|io: &DeadlineStream<TcpStream>, data: &mut Extensions| {
                        data.insert(io.clock());
                    })
                    // The config's host only fills in generated URLs (none here) and the logged
                    // host of a request without a Host header; the default does for both.
                    .finish(map_config(app, |()| AppConfig::default()));
                fn_service(move |io: TcpStream| async move {
                    let peer = io.peer_addr().ok();
                    let io = DeadlineStream::new(io, header_timeout, KEEP_ALIVE);
                    Ok((io, Protocol::Http1, peer))
                })
                .and_then(http)
            })?
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
