//! The ledger in PostgreSQL: which events were handled, and which Xero documents, payments and
//! contacts exist for which business keys. Written before a message is acknowledged, so a
//! redelivery finds what was done and does not do it again.
//!
//! Migrations ship in this file and run at start under an advisory lock, so any number of
//! processors can start at once.

use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use rust_decimal::Decimal;
use secrecy::ExposeSecret;
use tokio_postgres::NoTls;
use xcs_shared::Envelope;
use xcs_shared::domain::TaxMode;

use crate::config::PostgresConfig;
use crate::token_cipher::TokenCipher;

/// Ordered schema migrations; each runs once.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE xcs_events (
    event_id     TEXT PRIMARY KEY,
    platform     TEXT NOT NULL,
    shop         TEXT NOT NULL,
    tenant       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    topic        TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    outcome      TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX xcs_events_shop_time ON xcs_events (shop, processed_at);
CREATE TABLE xcs_documents (
    tenant       TEXT NOT NULL,
    doc_key      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    number       TEXT NOT NULL,
    xero_id      TEXT NOT NULL,
    shop         TEXT NOT NULL,
    business_key TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total        NUMERIC NOT NULL,
    order_number TEXT NOT NULL,
    tax_mode     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, doc_key)
);
CREATE INDEX xcs_documents_order ON xcs_documents (shop, kind, business_key);
CREATE TABLE xcs_payments (
    tenant      TEXT NOT NULL,
    payment_key TEXT NOT NULL,
    xero_id     TEXT NOT NULL,
    doc_key     TEXT NOT NULL,
    account     TEXT NOT NULL,
    amount      NUMERIC NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, payment_key)
);
CREATE INDEX xcs_payments_doc ON xcs_payments (tenant, doc_key);
CREATE TABLE xcs_contacts (
    tenant      TEXT NOT NULL,
    contact_key TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    PRIMARY KEY (tenant, contact_key)
);
CREATE TABLE xcs_stock (
    shop       TEXT NOT NULL,
    item_id    TEXT NOT NULL,
    location   TEXT NOT NULL,
    sku        TEXT,
    level      TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, item_id, location)
);
CREATE TABLE xcs_xero_tokens (
    connection        TEXT PRIMARY KEY,
    refresh_token     TEXT NOT NULL,
    access_token      TEXT,
    access_expires_at TIMESTAMPTZ,
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    r"
CREATE TABLE xcs_xero_connections (
    tenant_id     TEXT PRIMARY KEY,
    connection    TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    tenant_name   TEXT NOT NULL DEFAULT '',
    tenant_type   TEXT NOT NULL DEFAULT '',
    auth_event_id TEXT NOT NULL DEFAULT '',
    connected_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
",
    // Summary mode (`crate::summary`): a shop's periods and what each order or refund adds.
    r"
CREATE TABLE xcs_summary_periods (
    shop           TEXT NOT NULL,
    currency       TEXT NOT NULL,
    period_start   TIMESTAMPTZ NOT NULL,
    period_end     TIMESTAMPTZ NOT NULL,
    tenant         TEXT NOT NULL,
    status         TEXT NOT NULL DEFAULT 'open',
    attempts       INT NOT NULL DEFAULT 0,
    invoice_number TEXT NOT NULL DEFAULT '',
    detail         TEXT NOT NULL DEFAULT '',
    closed_at      TIMESTAMPTZ,
    PRIMARY KEY (shop, currency, period_start)
);
CREATE INDEX xcs_summary_periods_due ON xcs_summary_periods (status, period_end);
CREATE TABLE xcs_summary_entries (
    shop         TEXT NOT NULL,
    kind         TEXT NOT NULL,
    business_key TEXT NOT NULL,
    currency     TEXT NOT NULL,
    period_start TIMESTAMPTZ NOT NULL,
    number       TEXT NOT NULL,
    tax_mode     TEXT NOT NULL,
    total        NUMERIC NOT NULL,
    lines        JSONB NOT NULL,
    payments     JSONB NOT NULL,
    event_id     TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '',
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (shop, kind, business_key)
);
CREATE INDEX xcs_summary_entries_period ON xcs_summary_entries (shop, currency, period_start);
",
    // What an invoice sold and a credit note credited, per line (`crate::refund_limit`), so a
    // refund can be held to what its order has left to refund.
    r"
ALTER TABLE xcs_documents ADD COLUMN quantities JSONB;
CREATE INDEX xcs_documents_order_number ON xcs_documents (tenant, shop, kind, order_number);
",
];

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

/// Quantities per line of a document, keyed as `crate::refund_limit::line_key` keys them.
pub type Quantities = std::collections::BTreeMap<String, Decimal>;

/// A Xero document the ledger knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub xero_id: String,
    /// The Xero document number.
    pub number: String,
    pub currency: String,
    pub total: Decimal,
    /// The platform's order number, and whether its prices included tax: what a later refund
    /// of the order needs.
    pub order_number: String,
    pub tax_mode: TaxMode,
}

/// A payment (or allocation) made in Xero, as the ledger records it.
#[derive(Debug, Clone, Copy)]
pub struct RecordedPayment<'a> {
    pub key: &'a str,
    pub xero_id: &'a str,
    pub doc_key: &'a str,
    /// The account paid into or out of; empty for a credit allocation.
    pub account: &'a str,
    pub amount: Decimal,
}

/// What the processor did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// Documents were booked (or found already booked) in Xero.
    Booked,
    /// Nothing to book: a kind the shop does not sync, a draft order, a stock change.
    Skipped,
    /// Added to its period's summary (a shop in summary mode), booked when the period closes.
    Summarised,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Booked => "booked",
            EventOutcome::Skipped => "skipped",
            EventOutcome::Summarised => "summarised",
        }
    }
}

/// Where a connection's tokens are stored: what an encrypted token is bound to, so it cannot
/// be moved to another row or column.
fn token_slots(connection: &str) -> (String, String) {
    (
        format!("{connection}:refresh"),
        format!("{connection}:access"),
    )
}

/// The ledger; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    pool: Pool,
    tokens: Arc<TokenCipher>,
}

impl Ledger {
    /// Connects and brings the schema up to date.
    ///
    /// # Errors
    /// [`LedgerError`] when PostgreSQL is unreachable or a migration fails.
    pub async fn connect(config: &PostgresConfig) -> Result<Self, LedgerError> {
        let mut pg = tokio_postgres::Config::from_str(config.url.expose_secret())?;
        pg.options(format!("-c search_path={}", config.schema));
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .build()
            .map_err(|err| LedgerError::Setup(err.to_string()))?;
        let ledger = Ledger {
            pool,
            tokens: Arc::new(TokenCipher::new(config.token_key.as_ref())?),
        };
        ledger.migrate(&config.schema).await?;
        Ok(ledger)
    }

    async fn migrate(&self, schema: &str) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
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

    /// The outcome recorded for an event, if it was handled before.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn event_outcome(&self, event_id: &str) -> Result<Option<String>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT outcome FROM xcs_events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Records what was done with an event. Recording twice keeps the first record, except
    /// that `booked` replaces `skipped` (a re-sync booked what was skipped before).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_event(
        &self,
        envelope: &Envelope,
        outcome: EventOutcome,
        detail: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_events
                   (event_id, platform, shop, tenant, kind, topic, received_at, outcome, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                 ON CONFLICT (event_id) DO UPDATE
                   SET outcome = EXCLUDED.outcome, detail = EXCLUDED.detail, processed_at = now()
                   WHERE xcs_events.outcome = 'skipped' AND EXCLUDED.outcome = 'booked'",
                &[
                    &envelope.event_id,
                    &envelope.platform.as_str(),
                    &envelope.shop,
                    &envelope.tenant,
                    &envelope.kind.as_str(),
                    &envelope.topic,
                    &envelope.received_at,
                    &outcome.as_str(),
                    &detail,
                ],
            )
            .await?;
        Ok(())
    }

    /// A document booked for `doc_key` in `tenant`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn document(
        &self,
        tenant: &str,
        doc_key: &str,
    ) -> Result<Option<DocumentRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!("SELECT {DOCUMENT_COLUMNS} FROM xcs_documents WHERE tenant = $1 AND doc_key = $2"),
                &[&tenant, &doc_key],
            )
            .await?;
        Ok(row.map(|r| document_row(&r)))
    }

    /// The invoice booked for a shop's order, found by the platform's order id.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn invoice_for_order(
        &self,
        shop: &str,
        order_id: &str,
    ) -> Result<Option<DocumentRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM xcs_documents
                     WHERE shop = $1 AND kind = 'invoice' AND business_key = $2"
                ),
                &[&shop, &order_id],
            )
            .await?;
        Ok(row.map(|r| document_row(&r)))
    }

    /// What a refund of a shop's order needs to know about the order: its booked invoice, or,
    /// for a shop in summary mode, the order as summarised (then `xero_id` is empty and
    /// `number` is the order's number: the order has no invoice of its own).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn order_for_refund(
        &self,
        shop: &str,
        order_id: &str,
    ) -> Result<Option<DocumentRow>, LedgerError> {
        if let Some(invoice) = self.invoice_for_order(shop, order_id).await? {
            return Ok(Some(invoice));
        }
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT '', number, currency, total, number, tax_mode FROM xcs_summary_entries
                 WHERE shop = $1 AND kind = 'order' AND business_key = $2",
                &[&shop, &order_id],
            )
            .await?;
        Ok(row.map(|r| document_row(&r)))
    }

    /// For a refund of a shop's order in summary mode: the order's summarised total and what
    /// the shop's other refunds of it credit, or `None` when the order is not summarised; and
    /// whether this refund is summarised already (a replay or an update).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn summarised_for_refund(
        &self,
        shop: &str,
        order_id: &str,
        refund_id: &str,
    ) -> Result<(Option<(Decimal, Decimal)>, bool), LedgerError> {
        let client = self.pool.get().await?;
        let order = client
            .query_opt(
                "SELECT o.total, COALESCE((SELECT SUM(r.total) FROM xcs_summary_entries r
                     WHERE r.shop = o.shop AND r.kind = 'refund' AND r.number = o.number
                       AND r.business_key <> $3), 0)
                 FROM xcs_summary_entries o
                 WHERE o.shop = $1 AND o.kind = 'order' AND o.business_key = $2",
                &[&shop, &order_id, &refund_id],
            )
            .await?
            .map(|row| (row.get(0), row.get(1)));
        let seen = client
            .query_opt(
                "SELECT 1 FROM xcs_summary_entries
                 WHERE shop = $1 AND kind = 'refund' AND business_key = $2",
                &[&shop, &refund_id],
            )
            .await?
            .is_some();
        Ok((order, seen))
    }

    /// A connection from the pool, for modules with tables of their own (`crate::summary`).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, LedgerError> {
        Ok(self.pool.get().await?)
    }

    /// Records a booked document, with what it sold or credited per line (`quantities`) when
    /// it is an order's invoice or a refund's credit note.
    ///
    /// # Errors
    /// [`LedgerError`].
    #[allow(clippy::too_many_arguments)]
    pub async fn record_document(
        &self,
        tenant: &str,
        doc_key: &str,
        kind: &str,
        row: &DocumentRow,
        shop: &str,
        business_key: &str,
        event_id: &str,
        quantities: Option<&Quantities>,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let quantities = quantities.map(|q| serde_json::to_value(q).expect("quantities serialise"));
        client
            .execute(
                "INSERT INTO xcs_documents
                   (tenant, doc_key, kind, number, xero_id, shop, business_key, currency, total,
                    event_id, order_number, tax_mode, quantities)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                 ON CONFLICT (tenant, doc_key) DO NOTHING",
                &[
                    &tenant,
                    &doc_key,
                    &kind,
                    &row.number,
                    &row.xero_id,
                    &shop,
                    &business_key,
                    &row.currency,
                    &row.total,
                    &event_id,
                    &row.order_number,
                    &tax_mode_name(row.tax_mode),
                    &quantities,
                ],
            )
            .await?;
        Ok(())
    }

    /// What a document sold or credited per line, when it was recorded with it (documents
    /// booked before the ledger kept quantities have none).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn document_quantities(
        &self,
        tenant: &str,
        doc_key: &str,
    ) -> Result<Option<Quantities>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT quantities FROM xcs_documents WHERE tenant = $1 AND doc_key = $2",
                &[&tenant, &doc_key],
            )
            .await?;
        Ok(row
            .and_then(|r| r.get::<_, Option<serde_json::Value>>(0))
            .and_then(|q| serde_json::from_value(q).ok()))
    }

    /// What the credit notes booked so far for a shop's order credit: their total, and their
    /// quantities per line.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn credited_for_order(
        &self,
        tenant: &str,
        shop: &str,
        order_number: &str,
    ) -> Result<(Decimal, Quantities), LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT total, quantities FROM xcs_documents
                 WHERE tenant = $1 AND shop = $2 AND kind = 'credit_note' AND order_number = $3",
                &[&tenant, &shop, &order_number],
            )
            .await?;
        let mut total = Decimal::ZERO;
        let mut quantities = Quantities::new();
        for row in rows {
            total += row.get::<_, Decimal>(0);
            let credited: Quantities = row
                .get::<_, Option<serde_json::Value>>(1)
                .and_then(|q| serde_json::from_value(q).ok())
                .unwrap_or_default();
            for (line, quantity) in credited {
                *quantities.entry(line).or_default() += quantity;
            }
        }
        Ok((total, quantities))
    }

    /// Whether a payment with this key was made.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payment_exists(&self, tenant: &str, key: &str) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM xcs_payments WHERE tenant = $1 AND payment_key = $2",
                &[&tenant, &key],
            )
            .await?
            .is_some())
    }

    /// Records a payment (or a credit allocation, with an empty account) made in Xero.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_payment(
        &self,
        tenant: &str,
        payment: &RecordedPayment<'_>,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_payments (tenant, payment_key, xero_id, doc_key, account, amount)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, payment_key) DO NOTHING",
                &[
                    &tenant,
                    &payment.key,
                    &payment.xero_id,
                    &payment.doc_key,
                    &payment.account,
                    &payment.amount,
                ],
            )
            .await?;
        Ok(())
    }

    /// What the ledger has paid against a document, by account.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn paid_into(
        &self,
        tenant: &str,
        doc_key: &str,
    ) -> Result<std::collections::HashMap<String, Decimal>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT account, SUM(amount) FROM xcs_payments
                 WHERE tenant = $1 AND doc_key = $2 AND account <> '' GROUP BY account",
                &[&tenant, &doc_key],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A Xero contact id cached for a contact key.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn contact(&self, tenant: &str, key: &str) -> Result<Option<String>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT contact_id FROM xcs_contacts WHERE tenant = $1 AND contact_key = $2",
                &[&tenant, &key],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// # Errors
    /// [`LedgerError`].
    pub async fn record_contact(
        &self,
        tenant: &str,
        key: &str,
        contact_id: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_contacts (tenant, contact_key, contact_id) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, contact_key) DO UPDATE SET contact_id = EXCLUDED.contact_id",
                &[&tenant, &key, &contact_id],
            )
            .await?;
        Ok(())
    }

    /// Forgets a cached contact id that Xero no longer knows.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn forget_contact(&self, tenant: &str, contact_id: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "DELETE FROM xcs_contacts WHERE tenant = $1 AND contact_id = $2",
                &[&tenant, &contact_id],
            )
            .await?;
        Ok(())
    }

    /// Records the latest stock level the platform reported for an item.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_stock(
        &self,
        shop: &str,
        change: &xcs_shared::domain::StockChange,
        event_id: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        let level = serde_json::to_string(&change.level).expect("stock levels serialise");
        client
            .execute(
                "INSERT INTO xcs_stock (shop, item_id, location, sku, level, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (shop, item_id, location) DO UPDATE
                   SET sku = EXCLUDED.sku, level = EXCLUDED.level,
                       event_id = EXCLUDED.event_id, updated_at = now()",
                &[
                    &shop,
                    &change.item_id,
                    &change.location.clone().unwrap_or_default(),
                    &change.sku,
                    &level,
                    &event_id,
                ],
            )
            .await?;
        Ok(())
    }

    /// Runs `refresh` for `connection` holding a row lock, so only one processor refreshes a
    /// connection's token at a time (`rejected_access_token` is the access token Xero just
    /// refused, if that is why we are here); `refresh` gets the stored refresh token and returns the
    /// new refresh token and access token, which are stored before the lock is released (and
    /// so before the new token is used).
    ///
    /// # Errors
    /// [`LedgerError`], or `refresh`'s error.
    pub async fn rotate_token<F, Fut, E>(
        &self,
        connection: &str,
        rejected_access_token: Option<&str>,
        refresh: F,
    ) -> Result<Result<StoredToken, E>, LedgerError>
    where
        F: FnOnce(StoredToken) -> Fut,
        Fut: std::future::Future<Output = Result<StoredToken, E>>,
    {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let row = tx
            .query_opt(
                "SELECT refresh_token, access_token, access_expires_at FROM xcs_xero_tokens
                 WHERE connection = $1 FOR UPDATE",
                &[&connection],
            )
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Err(LedgerError::Setup(format!(
                "no Xero tokens stored for connection {connection:?}; connect it first"
            )));
        };
        let (refresh_slot, access_slot) = token_slots(connection);
        let access_token: Option<String> = row.get(1);
        let opened = self
            .tokens
            .open(&refresh_slot, row.get(0))
            .and_then(|refresh_token| {
                Ok(StoredToken {
                    refresh_token,
                    access_token: access_token
                        .map(|token| self.tokens.open(&access_slot, &token))
                        .transpose()?,
                    access_expires_at: row.get(2),
                })
            });
        let stored = match opened {
            Ok(stored) => stored,
            Err(err) => {
                // Release the row lock now rather than whenever the pool recycles the client.
                tx.rollback().await?;
                return Err(err.into());
            }
        };
        // Another processor may have refreshed while we waited for the lock. A token Xero
        // has just refused is not fresh, whatever its stored expiry says.
        let refused = rejected_access_token.is_some()
            && stored.access_token.as_deref() == rejected_access_token;
        if stored.is_fresh() && !refused {
            tx.commit().await?;
            return Ok(Ok(stored));
        }
        match refresh(stored).await {
            Ok(new) => {
                tx.execute(
                    "UPDATE xcs_xero_tokens SET refresh_token = $2, access_token = $3,
                       access_expires_at = $4, updated_at = now() WHERE connection = $1",
                    &[
                        &connection,
                        &self.tokens.seal(&refresh_slot, &new.refresh_token)?,
                        &new.access_token
                            .as_deref()
                            .map(|token| self.tokens.seal(&access_slot, token))
                            .transpose()?,
                        &new.access_expires_at,
                    ],
                )
                .await?;
                tx.commit().await?;
                Ok(Ok(new))
            }
            Err(err) => Ok(Err(err)),
        }
    }

    /// Stores a connection's tokens (after the authorization-code exchange).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn store_token(
        &self,
        connection: &str,
        token: &StoredToken,
    ) -> Result<(), LedgerError> {
        let (refresh_slot, access_slot) = token_slots(connection);
        let refresh_token = self.tokens.seal(&refresh_slot, &token.refresh_token)?;
        let access_token = token
            .access_token
            .as_deref()
            .map(|access| self.tokens.seal(&access_slot, access))
            .transpose()?;
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (connection) DO UPDATE SET refresh_token = EXCLUDED.refresh_token,
                   access_token = EXCLUDED.access_token,
                   access_expires_at = EXCLUDED.access_expires_at, updated_at = now()",
                &[
                    &connection,
                    &refresh_token,
                    &access_token,
                    &token.access_expires_at,
                ],
            )
            .await?;
        Ok(())
    }
}

impl Ledger {
    /// A ledger that has not connected yet and runs no migrations: for `check`, so the Xero
    /// checks still run while PostgreSQL is down (each use then fails on its own).
    ///
    /// # Errors
    /// [`LedgerError`] when the URL is not valid.
    pub fn lazy(config: &PostgresConfig) -> Result<Self, LedgerError> {
        let mut pg = tokio_postgres::Config::from_str(config.url.expose_secret())?;
        pg.options(format!("-c search_path={}", config.schema));
        pg.connect_timeout(std::time::Duration::from_secs(5));
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(2)
            .build()
            .map_err(|err| LedgerError::Setup(err.to_string()))?;
        Ok(Ledger {
            pool,
            tokens: Arc::new(TokenCipher::new(config.token_key.as_ref())?),
        })
    }

    /// Replaces what is known about `connection`'s organisations with `tenants`, the answer
    /// of Xero's `GET /connections` right after the user consented.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn replace_connections(
        &self,
        connection: &str,
        tenants: &[ConnectedTenant],
    ) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            "DELETE FROM xcs_xero_connections WHERE connection = $1",
            &[&connection],
        )
        .await?;
        for tenant in tenants {
            tx.execute(
                "INSERT INTO xcs_xero_connections
                   (tenant_id, connection, connection_id, tenant_name, tenant_type, auth_event_id)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant_id) DO UPDATE SET connection = EXCLUDED.connection,
                   connection_id = EXCLUDED.connection_id, tenant_name = EXCLUDED.tenant_name,
                   tenant_type = EXCLUDED.tenant_type, auth_event_id = EXCLUDED.auth_event_id,
                   connected_at = now()",
                &[
                    &tenant.tenant_id,
                    &connection,
                    &tenant.connection_id,
                    &tenant.tenant_name,
                    &tenant.tenant_type,
                    &tenant.auth_event_id,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The organisations connected through the authorization-code flow, by name.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn connections(&self) -> Result<Vec<ConnectedTenant>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT tenant_id, connection_id, tenant_name, tenant_type, auth_event_id
                 FROM xcs_xero_connections ORDER BY tenant_name, tenant_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| ConnectedTenant {
                tenant_id: r.get(0),
                connection_id: r.get(1),
                tenant_name: r.get(2),
                tenant_type: r.get(3),
                auth_event_id: r.get(4),
            })
            .collect())
    }

    /// Whether tokens are stored for `connection` (the authorization-code flow ran).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn has_token(&self, connection: &str) -> Result<bool, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query_opt(
                "SELECT 1 FROM xcs_xero_tokens WHERE connection = $1",
                &[&connection],
            )
            .await?
            .is_some())
    }

    /// The outcome and detail recorded for an event, if it was handled.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn event_record(
        &self,
        event_id: &str,
    ) -> Result<Option<(String, String)>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT outcome, detail FROM xcs_events WHERE event_id = $1",
                &[&event_id],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }
}

/// One Xero organisation a connection reaches (`GET /connections`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedTenant {
    pub tenant_id: String,
    /// The connection's own id (`id`), which `DELETE /connections/{id}` takes.
    pub connection_id: String,
    pub tenant_name: String,
    pub tenant_type: String,
    pub auth_event_id: String,
}

const DOCUMENT_COLUMNS: &str = "xero_id, number, currency, total, order_number, tax_mode";

fn document_row(row: &tokio_postgres::Row) -> DocumentRow {
    DocumentRow {
        xero_id: row.get(0),
        number: row.get(1),
        currency: row.get(2),
        total: row.get(3),
        order_number: row.get(4),
        tax_mode: if row.get::<_, &str>(5) == "inclusive" {
            TaxMode::Inclusive
        } else {
            TaxMode::Exclusive
        },
    }
}

pub(crate) fn tax_mode_name(mode: TaxMode) -> &'static str {
    match mode {
        TaxMode::Exclusive => "exclusive",
        TaxMode::Inclusive => "inclusive",
    }
}

/// A connection's tokens as stored.
#[derive(Clone)]
pub struct StoredToken {
    pub refresh_token: String,
    pub access_token: Option<String>,
    pub access_expires_at: Option<time::OffsetDateTime>,
}

impl StoredToken {
    /// Usable for at least another minute.
    pub fn is_fresh(&self) -> bool {
        self.access_token.is_some()
            && self
                .access_expires_at
                .is_some_and(|at| at > time::OffsetDateTime::now_utc() + time::Duration::minutes(1))
    }
}

impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_expires_at", &self.access_expires_at)
            .finish_non_exhaustive()
    }
}
