//! The ledger in PostgreSQL: which events were handled, and which Xero documents, payments and
//! contacts exist for which business keys. Written before a message is acknowledged, so a
//! redelivery finds what was done and does not do it again.
//!
//! Every SQL statement of the processor (but the shard claims' advisory locks, which hold a
//! session of their own: `crate::claims`) is a method of [`Ledger`], in the file of its concern.
//!
//! # Layout
//! - `mod.rs` (here): the pool ([`Ledger::connect`], [`Ledger::lazy`]), the migration runner,
//!   and [`LedgerError`].
//! - `failure.rs`: why the ledger could not be opened, naming host, database and setting
//!   ([`LedgerFailure`]), for the processor's start and `check`.
//! - `migrations.rs`: the schema, as ordered migrations; run at start under an advisory lock,
//!   so any number of processors can start at once.
//! - `events.rs`: what was done with each event (`xcs_events`), and the orders whose event is
//!   parked for the plan limit (`xcs_parked_orders`).
//! - `documents.rs`: the Xero documents booked, with their payments and per-line quantities,
//!   and the contacts cached (`xcs_documents`, `xcs_payments`, `xcs_contacts`).
//! - `stock.rs`: the latest stock levels reported (`xcs_stock`).
//! - `tokens.rs`: the Xero connections' OAuth tokens, sealed, and the organisations they reach
//!   (`xcs_xero_tokens`, `xcs_xero_connections`).
//! - `summary.rs`: summary mode's periods and entries (`xcs_summary_periods`,
//!   `xcs_summary_entries`), and the transaction their statements share.
//! - `stock_moves.rs`: tracked inventory's levels per Xero item code, the units orders and
//!   refunds move until their documents are booked, and the adjustments posted
//!   (`xcs_stock_moves`, `xcs_stock_adjustments`).
//! - `dead_letters.rs`: the dead-letter index (`xcs_dead_letters`), kept in step with the dead
//!   queue, for the console's pages.
//! - Poll cursors (how far a polling source has read each shop's changes) go in a
//!   `cursors.rs` of their own here, their table in a new migration.

mod console;
mod dead_letters;
mod documents;
mod events;
pub mod failure;
mod migrations;
mod payouts;
mod poll;
mod stock;
mod stock_moves;
mod summary;
mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use secrecy::ExposeSecret;
use tokio_postgres::NoTls;
use xcs_shared::domain::TaxMode;

pub use self::console::{
    ConsoleAction, EventDocument, EventFilter, EventRow, OutcomeCount, ShopActivity, ShopCheck,
};
pub use self::dead_letters::{
    Cursor, CursorError, DeadCount, DeadFilter, DeadLetterRow, DeadPage, DeadState, MAX_PAGE,
};
pub(crate) use self::documents::{BookedDocument, BookedKey};
pub use self::documents::{DocumentRow, Quantities, RecordedPayment};
pub use self::events::EventOutcome;
pub(crate) use self::events::ShopEvent;
pub use self::failure::{LedgerFailure, LedgerFailureKind};
use self::migrations::MIGRATIONS;
pub use self::payouts::{BookedPayout, PayoutRow, ThroughClearing};
pub use self::poll::{PollLease, PollState};
pub use self::stock_moves::{RecordedAdjustment, StockMoves, StockPosition, code_key};
pub(crate) use self::summary::{EntryKey, EntryValues, PeriodEntry, PeriodKey, SummaryTx};
pub use self::tokens::{ConnectedTenant, StoredToken};
use crate::config::PostgresConfig;
use crate::token_cipher::TokenCipher;

/// A ledger failure: the database is unreachable or refused a statement. Retrying later helps,
/// unless [`LedgerError::is_data_refused`].
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("cannot set up the PostgreSQL pool: {0}")]
    Setup(String),
    #[error(transparent)]
    Tokens(#[from] crate::token_cipher::TokenCipherError),
}

impl LedgerError {
    /// PostgreSQL refused the values themselves (SQLSTATE class 22, data exception, such as a
    /// NUL in text; or class 54, a value beyond a limit such as an index row): the same event
    /// will be refused every time, so it is no outage to retry.
    pub fn is_data_refused(&self) -> bool {
        let LedgerError::Postgres(err) = self else {
            return false;
        };
        err.code()
            .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("54"))
    }
}

/// The ledger; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
    tokens: Arc<TokenCipher>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").finish_non_exhaustive()
    }
}

impl Ledger {
    /// Connects and brings the schema up to date.
    ///
    /// # Errors
    /// [`LedgerError`] when PostgreSQL is unreachable or a migration fails.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, LedgerError> {
        let ledger = Ledger::with_pool(config, config.pool_size, None)?;
        ledger.migrate(&config.schema).await?;
        Ok(ledger)
    }

    /// The processor's pool, not connected yet: it serves its probes while it waits for
    /// PostgreSQL, then calls [`Ledger::migrate`]. A connection attempt gives up after 10 s,
    /// so a host that drops packets is retried like one that refuses.
    ///
    /// # Errors
    /// [`LedgerError`] when the URL is not valid.
    pub fn unopened(config: &PostgresConfig) -> Result<Self, LedgerError> {
        Ledger::with_pool(config, config.pool_size, Some(Duration::from_secs(10)))
    }

    /// A ledger that has not connected yet and runs no migrations: for `check` and
    /// `reconcile`, so the Xero checks still run while PostgreSQL is down (each use then fails
    /// on its own).
    ///
    /// # Errors
    /// [`LedgerError`] when the URL is not valid.
    pub fn lazy(config: &PostgresConfig) -> Result<Self, LedgerError> {
        Ledger::with_pool(config, 2, Some(Duration::from_secs(5)))
    }

    /// A pool of at most `max_size` connections on the ledger's schema; none is opened yet.
    fn with_pool(
        config: &PostgresConfig,
        max_size: usize,
        connect_timeout: Option<Duration>,
    ) -> Result<Self, LedgerError> {
        let mut pg = tokio_postgres::Config::from_str(config.url.expose_secret())?;
        pg.options(format!("-c search_path={}", config.schema));
        if let Some(timeout) = connect_timeout {
            pg.connect_timeout(timeout);
        }
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .build()
            .map_err(|err| LedgerError::Setup(err.to_string()))?;
        Ok(Ledger {
            pool,
            tokens: Arc::new(TokenCipher::new(config.token_key.as_ref())?),
        })
    }

    /// Whether PostgreSQL answers a query on a pooled connection now.
    ///
    /// # Errors
    /// [`LedgerError`] when it does not.
    pub async fn ping(&self) -> Result<(), LedgerError> {
        self.pool.get().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    /// Brings the schema up to date, under an advisory lock so any number of processors can
    /// start at once.
    ///
    /// # Errors
    /// [`LedgerError`] when PostgreSQL is unreachable or a migration fails.
    pub async fn migrate(&self, schema: &str) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        // Every start after the first finds the schema and `xcs_migrations` there; PostgreSQL
        // says so in a NOTICE per `IF NOT EXISTS`, which tokio-postgres logs at info as if it
        // were news. For this transaction only.
        tx.batch_execute("SET LOCAL client_min_messages = warning")
            .await?;
        // One migrator at a time across every processor sharing the database.
        tx.execute("SELECT pg_advisory_xact_lock(7243901)", &[])
            .await?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.xcs_migrations (version INT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now());"
        ))
        .await?;
        let applied: i32 = tx
            .query_one(
                &format!("SELECT COALESCE(MAX(version), 0) FROM {schema}.xcs_migrations"),
                &[],
            )
            .await?
            .get(0);
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let version = i32::try_from(index + 1).expect("fewer than 2^31 migrations");
            if version > applied {
                tx.batch_execute(sql).await?;
                tx.execute(
                    &format!("INSERT INTO {schema}.xcs_migrations (version) VALUES ($1)"),
                    &[&version],
                )
                .await?;
                tracing::info!(version, "applied ledger migration");
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

/// How a tax mode is stored (`tax_mode` of documents and summary entries).
fn tax_mode_name(mode: TaxMode) -> &'static str {
    match mode {
        TaxMode::Exclusive => "exclusive",
        TaxMode::Inclusive => "inclusive",
    }
}

/// A stored tax mode; anything but `inclusive` is exclusive.
fn tax_mode_of(name: &str) -> TaxMode {
    if name == "inclusive" {
        TaxMode::Inclusive
    } else {
        TaxMode::Exclusive
    }
}
