//! The operator's console: web pages on the processor's own HTTP server (`/console`, beside
//! `/metrics` and `/readyz`) that say which shops' books are in sync, what failed and why, and
//! offer the fixes the CLI offers (README "Operator console").
//!
//! - `auth.rs`: the admin token (`XCS_ADMIN_TOKEN`, as `connect` uses) exchanged at a sign-in
//!   form for a signed session cookie, the CSRF token every form carries, and who is signed in.
//! - `actions.rs`: every change goes through one journal (`xcs_console_actions`): a POST with a
//!   fresh action id, confirmed, logged with who did it, run once however often it is sent,
//!   with a page that shows its progress and result.
//! - `html.rs`: the page shell, the style sheet and small formatting helpers.
//! - One module per screen: `overview.rs`, `shop.rs` (a shop's events and one event),
//!   `dead.rs` (dead letters: filter, replay, purge), `reconcile.rs`, `mapping.rs` (the `check`
//!   report and the Xero connections), `chart.rs` (events per hour, as SVG).
//!
//! Read pages change nothing and need no JavaScript; nothing a page shows comes from a secret
//! (tokens, keys, the database URL) or from customer data Xero does not already hold.

mod actions;
mod auth;
mod chart;
mod dead;
mod html;
mod mapping;
mod overview;
mod preview;
mod reconcile;
mod shop;

use std::sync::Arc;

use actix_web::web;
use secrecy::{ExposeSecret as _, SecretString};

use crate::config::Config;
use crate::ledger::Ledger;
use crate::xero::client::XeroClient;

pub(crate) use self::auth::admin_token_matches;

/// The shortest admin token accepted: it is the only thing between the internet and the books.
const MIN_TOKEN_LEN: usize = 16;

/// Refuses an admin token too short to be a secret.
///
/// # Errors
/// What to set instead.
pub(crate) fn check_admin_token(token: &SecretString) -> Result<(), String> {
    if token.expose_secret().trim().len() < MIN_TOKEN_LEN {
        return Err(format!(
            "XCS_ADMIN_TOKEN must be a random secret of at least {MIN_TOKEN_LEN} characters \
             (e.g. `openssl rand -hex 32`); unset it to turn the console off"
        ));
    }
    Ok(())
}

/// What the console's pages read and act on.
pub(crate) struct Console {
    pub config: Arc<Config>,
    pub ledger: Ledger,
    pub xero: XeroClient,
    keys: auth::Keys,
    jobs: actions::Jobs,
    broker: tokio::sync::Mutex<Option<Arc<lapin::Connection>>>,
}

impl Console {
    /// The console of a processor with an admin token; `None` (the console off) without one.
    /// `runtime` runs the long actions (replays, reconciles), off the HTTP server's threads.
    pub(crate) fn new(
        config: Arc<Config>,
        ledger: Ledger,
        xero: XeroClient,
        runtime: tokio::runtime::Handle,
    ) -> Option<Arc<Self>> {
        let keys = auth::Keys::from_admin_token(config.server.admin_token.as_ref()?);
        Some(Arc::new(Console {
            config,
            ledger,
            xero,
            keys,
            jobs: actions::Jobs::new(runtime),
            broker: tokio::sync::Mutex::new(None),
        }))
    }

    /// The console's connection to RabbitMQ, opened on first use and again after it failed.
    ///
    /// # Errors
    /// When RabbitMQ cannot be reached; the message says what to check.
    pub(crate) async fn broker(&self) -> anyhow::Result<Arc<lapin::Connection>> {
        let mut held = self.broker.lock().await;
        if let Some(connection) = held.as_ref()
            && connection.status().connected()
        {
            return Ok(Arc::clone(connection));
        }
        let connection = Arc::new(
            lapin::Connection::connect(
                self.config.amqp.uri.expose_secret(),
                lapin::ConnectionProperties::default(),
            )
            .await
            .map_err(|err| {
                anyhow::anyhow!(
                    "cannot connect to RabbitMQ ({err}); check [amqp].uri (or XCS_AMQP_URI) and \
                     that RabbitMQ is up"
                )
            })?,
        );
        *held = Some(Arc::clone(&connection));
        Ok(connection)
    }

    /// Messages waiting in each of `queues` (`None` for one that cannot be read).
    ///
    /// # Errors
    /// When RabbitMQ cannot be reached.
    pub(crate) async fn queue_depths(&self, queues: &[String]) -> anyhow::Result<Vec<Option<u32>>> {
        let connection = self.broker().await?;
        let mut depths = Vec::with_capacity(queues.len());
        let mut channel = connection.create_channel().await?;
        for queue in queues {
            let depth = crate::operate::dead::depth(&channel, queue).await;
            if depth.is_none() {
                // A refused passive declare closes the channel.
                channel = connection.create_channel().await?;
            }
            depths.push(depth);
        }
        let _ = channel.close(200, "read".into()).await;
        Ok(depths)
    }
}

/// The console's routes, under `/console`; without a console they answer 404 saying how to
/// turn it on.
pub(crate) fn routes(console: Option<Arc<Console>>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| match console {
        Some(console) => {
            cfg.app_data(web::Data::from(console));
            cfg.service(
                web::scope("/console")
                    .configure(auth::routes)
                    .configure(html::routes)
                    .configure(actions::routes)
                    .configure(overview::routes)
                    .configure(shop::routes)
                    .configure(dead::routes)
                    .configure(reconcile::routes)
                    .configure(mapping::routes),
            );
        }
        None => {
            cfg.service(web::scope("/console").default_service(web::to(html::console_off)));
        }
    }
}
