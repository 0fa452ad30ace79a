//! Why the ledger could not be opened, in words that name the setting to fix: for the
//! processor's start (which waits for a PostgreSQL that does not answer yet, and exits on one
//! that answers and refuses) and for `check`. The URL is a secret (it may carry the password),
//! so messages name its host, port, database and user only.

use std::str::FromStr as _;

use secrecy::ExposeSecret as _;
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;

use super::LedgerError;
use crate::config::PostgresConfig;

/// Where the PostgreSQL URL is set, as every message names it.
pub const SETTING: &str = "[postgres].url or XCS_POSTGRES_URL";

/// What kind of failure opening the ledger met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerFailureKind {
    /// Nothing answered: refused, unresolvable, timed out. PostgreSQL may not be up yet.
    Unreachable,
    /// PostgreSQL refused the user or password.
    LoginRefused,
    /// The database does not exist.
    DatabaseMissing,
    /// PostgreSQL answered and refused something else (a migration, the schema).
    Other,
}

/// One failed attempt to open the ledger, explained.
#[derive(Debug, Clone)]
pub struct LedgerFailure {
    pub kind: LedgerFailureKind,
    /// tokio-postgres's (and PostgreSQL's) words, which never hold the password.
    pub cause: String,
    /// What failed, where, and what to check: one sentence naming the setting.
    pub message: String,
}

impl LedgerFailure {
    /// Explains `err`, met opening the ledger `config` describes.
    pub fn of(err: &LedgerError, config: &PostgresConfig) -> Self {
        let kind = classify(err);
        let cause = err.to_string();
        let parsed = tokio_postgres::Config::from_str(config.url.expose_secret()).ok();
        let (address, user, database) = match &parsed {
            Some(pg) => {
                let host = match pg.get_hosts().first() {
                    Some(Host::Tcp(host)) => host.clone(),
                    #[cfg(unix)]
                    Some(Host::Unix(path)) => path.display().to_string(),
                    None => "localhost".to_owned(),
                };
                let port = pg.get_ports().first().copied().unwrap_or(5432);
                let user = pg.get_user().unwrap_or("").to_owned();
                // PostgreSQL's default database is the user's name.
                let database = pg.get_dbname().unwrap_or(&user).to_owned();
                (format!("{host}:{port}"), user, database)
            }
            None => ("(unreadable URL)".to_owned(), String::new(), String::new()),
        };
        let schema = &config.schema;
        let message = match kind {
            LedgerFailureKind::Unreachable => format!(
                "cannot reach PostgreSQL at {address} (database {database:?}; {cause}): check \
                 that PostgreSQL is running and reachable at {address}, and the host and port \
                 in {SETTING}"
            ),
            LedgerFailureKind::LoginRefused => format!(
                "PostgreSQL at {address} refused user {user:?} for database {database:?} \
                 ({cause}): check the user and password in {SETTING}, and that pg_hba.conf \
                 lets this host in"
            ),
            LedgerFailureKind::DatabaseMissing => format!(
                "PostgreSQL at {address} has no database {database:?}: create it (`createdb \
                 -U {user} {database}` on that server) or fix the database in {SETTING}"
            ),
            LedgerFailureKind::Other => format!(
                "cannot open the ledger in PostgreSQL at {address}/{database} ({cause}): check \
                 {SETTING}, and that user {user:?} may create schema {schema:?} and its tables \
                 there ([postgres].schema)"
            ),
        };
        LedgerFailure {
            kind,
            cause,
            message,
        }
    }

    /// Waiting helps: PostgreSQL may come up. A server that answered and refused needs a
    /// person.
    pub fn may_pass(&self) -> bool {
        self.kind == LedgerFailureKind::Unreachable
    }
}

fn classify(err: &LedgerError) -> LedgerFailureKind {
    let pg = match err {
        LedgerError::Postgres(err) => err,
        LedgerError::Pool(deadpool_postgres::PoolError::Backend(err)) => err,
        LedgerError::Pool(deadpool_postgres::PoolError::Timeout(_)) => {
            return LedgerFailureKind::Unreachable;
        }
        _ => return LedgerFailureKind::Other,
    };
    match pg.code() {
        Some(code)
            if *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION =>
        {
            LedgerFailureKind::LoginRefused
        }
        Some(code) if *code == SqlState::INVALID_CATALOG_NAME => LedgerFailureKind::DatabaseMissing,
        // The server is starting or shutting down: it will answer soon.
        Some(code) if *code == SqlState::CANNOT_CONNECT_NOW => LedgerFailureKind::Unreachable,
        Some(_) => LedgerFailureKind::Other,
        None => {
            // No SQLSTATE: nothing answered. tokio-postgres keeps the socket's error as the
            // source; its own connect timeout has none but says so.
            let io = std::error::Error::source(pg)
                .is_some_and(|source| source.downcast_ref::<std::io::Error>().is_some());
            if io || pg.to_string().contains("timeout") || pg.is_closed() {
                LedgerFailureKind::Unreachable
            } else if pg.to_string().contains("password missing") {
                LedgerFailureKind::LoginRefused
            } else {
                LedgerFailureKind::Other
            }
        }
    }
}
