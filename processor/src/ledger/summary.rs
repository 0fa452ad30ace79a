//! Summary mode's tables (`crate::summary`): a shop's periods (`xcs_summary_periods`, one per
//! shop, currency and period start, `open` until posted) and what each order, refund or late
//! payment adds to one (`xcs_summary_entries`).
//!
//! Recording into a period and closing it each run in one transaction whose statements lock
//! rows in a set order (entry `FOR UPDATE`, then its period `FOR SHARE`; a period to close
//! `FOR UPDATE SKIP LOCKED`): [`Ledger::summary_client`] lends a connection, and
//! [`SummaryClient::transaction`] begins a [`SummaryTx`], whose methods are those statements.
//! Dropped without [`SummaryTx::commit`], the transaction is rolled back.

use rust_decimal::Decimal;
use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::domain::TaxMode;

use super::documents::{BOOKED_COLUMNS, BookedDocument, DocumentRow, booked_document};
use super::{Ledger, LedgerError, tax_mode_name};

/// An entry's key: the order's (or refund's) platform id, per shop and kind (`order`,
/// `refund` or `late_payment`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryKey<'a> {
    pub shop: &'a str,
    pub kind: &'a str,
    pub business_key: &'a str,
}

/// A period's key: a shop's period in one currency, by its start.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeriodKey<'a> {
    pub shop: &'a str,
    pub currency: &'a str,
    pub start: OffsetDateTime,
}

/// What an entry holds, as of the latest event for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EntryValues<'a> {
    /// The order's (or refund's) number on the platform.
    pub number: &'a str,
    pub tax_mode: TaxMode,
    pub total: Decimal,
    /// Its lines summed per account and tax type (for a late payment: the invoice and period
    /// the money is for).
    pub lines: &'a Value,
    /// Its payments summed per account.
    pub payments: &'a Value,
    pub event_id: &'a str,
}

/// An entry, locked `FOR UPDATE` until the transaction ends.
#[derive(Debug)]
pub(crate) struct LockedEntry {
    pub currency: String,
    pub period_start: OffsetDateTime,
    pub payments: Value,
    pub total: Decimal,
    pub detail: String,
}

/// A period's state, locked `FOR SHARE` (it cannot close meanwhile).
#[derive(Debug)]
pub(crate) struct PeriodState {
    /// `open` until it is posted.
    pub status: String,
    /// Its invoice's number once posted; empty before, or when it had no orders.
    pub invoice_number: String,
}

/// A period to close, locked `FOR UPDATE` by this processor.
#[derive(Debug)]
pub(crate) struct LockedPeriod {
    pub status: String,
    pub period_end: OffsetDateTime,
    pub tenant: String,
    /// Tries to post it so far.
    pub attempts: i32,
}

/// One entry of a period being closed.
#[derive(Debug)]
pub(crate) struct PeriodEntry {
    pub kind: String,
    pub lines: Value,
    pub payments: Value,
}

/// A connection lent from the pool for summary mode's transactions.
pub(crate) struct SummaryClient(deadpool_postgres::Object);

impl SummaryClient {
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn transaction(&mut self) -> Result<SummaryTx<'_>, LedgerError> {
        Ok(SummaryTx(self.0.transaction().await?))
    }
}

/// One transaction of summary mode; rolled back when dropped uncommitted.
pub(crate) struct SummaryTx<'a>(deadpool_postgres::Transaction<'a>);

impl Ledger {
    /// A connection for summary mode's transactions.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn summary_client(&self) -> Result<SummaryClient, LedgerError> {
        Ok(SummaryClient(self.pool.get().await?))
    }

    /// A shop's order as summarised, shaped as a document: `xero_id` is empty and `number` is
    /// the order's number (the order has no invoice of its own).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(super) async fn summarised_order(
        &self,
        shop: &str,
        order_id: &str,
    ) -> Result<Option<DocumentRow>, LedgerError> {
        self.find_document(
            "SELECT '', number, currency, total, number, tax_mode FROM xcs_summary_entries
             WHERE shop = $1 AND kind = 'order' AND business_key = $2",
            &[&shop, &order_id],
        )
        .await
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

    /// The open periods that ended at or before `ended_by`, oldest first: (shop, currency,
    /// period start).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn due_summary_periods(
        &self,
        ended_by: OffsetDateTime,
    ) -> Result<Vec<(String, String, OffsetDateTime)>, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                "SELECT shop, currency, period_start FROM xcs_summary_periods
                 WHERE status = 'open' AND period_end <= $1
                 ORDER BY period_end, shop, currency",
                &[&ended_by],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }
}

/// A shop's summary period as reconcile reads it.
#[derive(Debug)]
pub(crate) struct SummaryPeriodRow {
    pub currency: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// `open` until it is posted, then `closed`.
    pub status: String,
    /// Its invoice's number once posted; empty before, or when it had no orders.
    pub invoice_number: String,
    /// Tries to post it so far, and what the last one said.
    pub attempts: i32,
    pub detail: String,
    /// Whether its entries called for a credit note: any refund in it.
    pub has_refunds: bool,
}

/// One account and tax type of a period's entries, summed: a line of its summary document.
#[derive(Debug)]
pub(crate) struct SummaryLineSum {
    pub account: String,
    pub tax_type: String,
    pub net: Decimal,
    pub tax: Decimal,
}

impl Ledger {
    /// The periods of `shop` in `tenant` that overlap `[from, to)`, oldest first.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn summary_periods_overlapping(
        &self,
        tenant: &str,
        shop: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<SummaryPeriodRow>, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                "SELECT p.currency, p.period_start, p.period_end, p.status, p.invoice_number,
                        p.attempts, p.detail,
                        EXISTS (SELECT 1 FROM xcs_summary_entries e
                                WHERE e.shop = p.shop AND e.currency = p.currency
                                  AND e.period_start = p.period_start AND e.kind = 'refund')
                 FROM xcs_summary_periods p
                 WHERE p.tenant = $1 AND p.shop = $2 AND p.period_start < $4
                   AND p.period_end > $3
                 ORDER BY p.period_start, p.currency",
                &[&tenant, &shop, &from, &to],
            )
            .await?
            .iter()
            .map(|row| SummaryPeriodRow {
                currency: row.get(0),
                start: row.get(1),
                end: row.get(2),
                status: row.get(3),
                invoice_number: row.get(4),
                attempts: row.get(5),
                detail: row.get(6),
                has_refunds: row.get(7),
            })
            .collect())
    }

    /// The summary documents (`summary_invoice`, `summary_credit_note`) of `shop` in `tenant`
    /// with one of `doc_keys` or `business_keys`, with what the ledger applied to each.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn summary_documents(
        &self,
        tenant: &str,
        shop: &str,
        doc_keys: &[String],
        business_keys: &[String],
    ) -> Result<Vec<BookedDocument>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {BOOKED_COLUMNS} FROM xcs_documents d
                     WHERE d.tenant = $1 AND d.shop = $2
                       AND d.kind IN ('summary_invoice', 'summary_credit_note')
                       AND (d.doc_key = ANY($3) OR d.business_key = ANY($4))
                     ORDER BY d.created_at, d.doc_key"
                ),
                &[&tenant, &shop, &doc_keys, &business_keys],
            )
            .await?;
        Ok(rows.iter().map(booked_document).collect())
    }

    /// What a period's entries of `kind` (`order` or `refund`) add up to per account and tax
    /// type: the lines its invoice (or credit note) was posted with, as the closer summed them.
    /// Lines that sum to nothing are left out, as the closer leaves them out.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn summary_period_lines(
        &self,
        period: PeriodKey<'_>,
        kind: &str,
    ) -> Result<Vec<SummaryLineSum>, LedgerError> {
        let client = self.pool.get().await?;
        Ok(client
            .query(
                "SELECT line->>'account', line->>'tax_type',
                        SUM((line->>'net')::numeric), SUM((line->>'tax')::numeric)
                 FROM xcs_summary_entries e, jsonb_array_elements(e.lines) line
                 WHERE e.shop = $1 AND e.currency = $2 AND e.period_start = $3 AND e.kind = $4
                 GROUP BY 1, 2
                 HAVING SUM((line->>'net')::numeric) <> 0 OR SUM((line->>'tax')::numeric) <> 0
                 ORDER BY 1, 2",
                &[&period.shop, &period.currency, &period.start, &kind],
            )
            .await?
            .iter()
            .map(|row| SummaryLineSum {
                account: row.get(0),
                tax_type: row.get(1),
                net: row.get(2),
                tax: row.get(3),
            })
            .collect())
    }
}

impl SummaryTx<'_> {
    /// # Errors
    /// [`LedgerError`]; then nothing of the transaction is kept.
    pub(crate) async fn commit(self) -> Result<(), LedgerError> {
        Ok(self.0.commit().await?)
    }

    /// An entry, locked `FOR UPDATE`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn entry_for_update(
        &self,
        key: EntryKey<'_>,
    ) -> Result<Option<LockedEntry>, LedgerError> {
        Ok(self
            .0
            .query_opt(
                "SELECT e.currency, e.period_start, e.payments, e.total, e.detail
                 FROM xcs_summary_entries e
                 WHERE e.shop = $1 AND e.kind = $2 AND e.business_key = $3 FOR UPDATE",
                &[&key.shop, &key.kind, &key.business_key],
            )
            .await?
            .map(|row| LockedEntry {
                currency: row.get(0),
                period_start: row.get(1),
                payments: row.get(2),
                total: row.get(3),
                detail: row.get(4),
            }))
    }

    /// A period's state, locked `FOR SHARE`; `None` if it does not exist.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn period_for_share(
        &self,
        period: PeriodKey<'_>,
    ) -> Result<Option<PeriodState>, LedgerError> {
        Ok(self
            .0
            .query_opt(
                "SELECT status, invoice_number FROM xcs_summary_periods
                 WHERE shop = $1 AND currency = $2 AND period_start = $3 FOR SHARE",
                &[&period.shop, &period.currency, &period.start],
            )
            .await?
            .map(|row| PeriodState {
                status: row.get(0),
                invoice_number: row.get(1),
            }))
    }

    /// Creates a period of `tenant`, ending at `end`, unless it exists.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn create_period(
        &self,
        period: PeriodKey<'_>,
        end: OffsetDateTime,
        tenant: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "INSERT INTO xcs_summary_periods (shop, currency, period_start, period_end, tenant)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&period.shop, &period.currency, &period.start, &end, &tenant],
            )
            .await?;
        Ok(())
    }

    /// The status of a period that exists, locked `FOR SHARE`.
    ///
    /// # Errors
    /// [`LedgerError`], also when there is no such period.
    pub(crate) async fn period_status(&self, period: PeriodKey<'_>) -> Result<String, LedgerError> {
        Ok(self
            .0
            .query_one(
                "SELECT status FROM xcs_summary_periods
                 WHERE shop = $1 AND currency = $2 AND period_start = $3 FOR SHARE",
                &[&period.shop, &period.currency, &period.start],
            )
            .await?
            .get(0))
    }

    /// Adds an entry to the period starting at `period_start`.
    ///
    /// # Errors
    /// [`LedgerError`], also when the entry exists.
    pub(crate) async fn insert_entry(
        &self,
        key: EntryKey<'_>,
        currency: &str,
        period_start: OffsetDateTime,
        values: &EntryValues<'_>,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "INSERT INTO xcs_summary_entries (shop, kind, business_key, currency, period_start,
               number, tax_mode, total, lines, payments, event_id, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &key.shop,
                    &key.kind,
                    &key.business_key,
                    &currency,
                    &period_start,
                    &values.number,
                    &tax_mode_name(values.tax_mode),
                    &values.total,
                    values.lines,
                    values.payments,
                    &values.event_id,
                    &detail,
                ],
            )
            .await?;
        Ok(())
    }

    /// Adds a `late_payment` entry to `period`, unless one with
    /// its key exists (its key carries the running total it pays up to, so it is added once).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn insert_late_payment(
        &self,
        period: PeriodKey<'_>,
        business_key: &str,
        values: &EntryValues<'_>,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "INSERT INTO xcs_summary_entries (shop, kind, business_key, currency,
                           period_start, number, tax_mode, total, lines, payments, event_id,
                           detail)
                         VALUES ($1, 'late_payment', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                         ON CONFLICT DO NOTHING",
                &[
                    &period.shop,
                    &business_key,
                    &period.currency,
                    &period.start,
                    &values.number,
                    &tax_mode_name(values.tax_mode),
                    &values.total,
                    values.lines,
                    values.payments,
                    &values.event_id,
                    &detail,
                ],
            )
            .await?;
        Ok(())
    }

    /// Replaces an entry's values with a newer event's; its period, currency and detail stay.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn update_entry(
        &self,
        key: EntryKey<'_>,
        values: &EntryValues<'_>,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "UPDATE xcs_summary_entries SET number = $4, tax_mode = $5, total = $6,
                   lines = $7, payments = $8, event_id = $9, updated_at = now()
                 WHERE shop = $1 AND kind = $2 AND business_key = $3",
                &[
                    &key.shop,
                    &key.kind,
                    &key.business_key,
                    &values.number,
                    &tax_mode_name(values.tax_mode),
                    &values.total,
                    values.lines,
                    values.payments,
                    &values.event_id,
                ],
            )
            .await?;
        Ok(())
    }

    /// Replaces an entry's payments only (its period is posted: its lines stay).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn update_entry_payments(
        &self,
        key: EntryKey<'_>,
        payments: &Value,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "UPDATE xcs_summary_entries SET payments = $4, updated_at = now()
                         WHERE shop = $1 AND kind = $2 AND business_key = $3",
                &[&key.shop, &key.kind, &key.business_key, payments],
            )
            .await?;
        Ok(())
    }

    /// The lines of a shop's order entry, which must exist.
    ///
    /// # Errors
    /// [`LedgerError`], also when there is no such entry.
    pub(crate) async fn order_lines(
        &self,
        shop: &str,
        order_id: &str,
    ) -> Result<Value, LedgerError> {
        Ok(self
            .0
            .query_one(
                "SELECT lines FROM xcs_summary_entries
                 WHERE shop = $1 AND kind = 'order' AND business_key = $2",
                &[&shop, &order_id],
            )
            .await?
            .get(0))
    }

    /// Records a shop's order entry as cancelled: `lines` and `total` (emptied, or as
    /// posted), no payments, and the cancelling event and `detail`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn cancel_order_entry(
        &self,
        shop: &str,
        order_id: &str,
        lines: &Value,
        total: Decimal,
        event_id: &str,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "UPDATE xcs_summary_entries SET lines = $3, total = $4, payments = '[]',
           event_id = $5, detail = $6, updated_at = now()
         WHERE shop = $1 AND kind = 'order' AND business_key = $2",
                &[&shop, &order_id, lines, &total, &event_id, &detail],
            )
            .await?;
        Ok(())
    }

    /// A period to close, locked `FOR UPDATE` until this transaction ends; `None` while
    /// another processor holds it (`SKIP LOCKED`), or when it does not exist.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn lock_period(
        &self,
        period: PeriodKey<'_>,
    ) -> Result<Option<LockedPeriod>, LedgerError> {
        Ok(self
            .0
            .query_opt(
                "SELECT status, period_end, tenant, attempts FROM xcs_summary_periods
                 WHERE shop = $1 AND currency = $2 AND period_start = $3
                 FOR UPDATE SKIP LOCKED",
                &[&period.shop, &period.currency, &period.start],
            )
            .await?
            .map(|row| LockedPeriod {
                status: row.get(0),
                period_end: row.get(1),
                tenant: row.get(2),
                attempts: row.get(3),
            }))
    }

    /// A period's entries, by kind and key.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn period_entries(
        &self,
        period: PeriodKey<'_>,
    ) -> Result<Vec<PeriodEntry>, LedgerError> {
        Ok(self
            .0
            .query(
                "SELECT kind, lines, payments FROM xcs_summary_entries
                 WHERE shop = $1 AND currency = $2 AND period_start = $3
                 ORDER BY kind, business_key",
                &[&period.shop, &period.currency, &period.start],
            )
            .await?
            .iter()
            .map(|row| PeriodEntry {
                kind: row.get(0),
                lines: row.get(1),
                payments: row.get(2),
            })
            .collect())
    }

    /// Marks a period posted (`closed`), with its invoice's number and what it held.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn mark_period_closed(
        &self,
        period: PeriodKey<'_>,
        invoice_number: &str,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "UPDATE xcs_summary_periods SET status = 'closed', closed_at = now(),
                       attempts = attempts + 1, invoice_number = $4, detail = $5
                     WHERE shop = $1 AND currency = $2 AND period_start = $3",
                &[
                    &period.shop,
                    &period.currency,
                    &period.start,
                    &invoice_number,
                    &detail,
                ],
            )
            .await?;
        Ok(())
    }

    /// Counts a failed try to post a period, with why it failed; the period stays open.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn mark_period_failed(
        &self,
        period: PeriodKey<'_>,
        detail: &str,
    ) -> Result<(), LedgerError> {
        self.0
            .execute(
                "UPDATE xcs_summary_periods SET attempts = attempts + 1, detail = $4
                     WHERE shop = $1 AND currency = $2 AND period_start = $3",
                &[&period.shop, &period.currency, &period.start, &detail],
            )
            .await?;
        Ok(())
    }
}

/// A summary period not posted yet, as `status` reports it.
#[derive(Debug, Clone)]
pub struct OpenPeriod {
    pub currency: String,
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    pub orders: i64,
    pub refunds: i64,
    /// The orders' totals, and the refunds', as summarised so far.
    pub orders_total: Decimal,
    pub refunds_total: Decimal,
    /// Failed tries to post it; the last failure's message in `detail`.
    pub attempts: i32,
    pub detail: String,
}

impl Ledger {
    /// A shop's open summary periods, oldest first, with what they hold.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn open_periods(&self, shop: &str) -> Result<Vec<OpenPeriod>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT p.currency, p.period_start, p.period_end, p.attempts, p.detail,
                        count(e.*) FILTER (WHERE e.kind = 'order'),
                        count(e.*) FILTER (WHERE e.kind = 'refund'),
                        COALESCE(sum(e.total) FILTER (WHERE e.kind = 'order'), 0),
                        COALESCE(sum(e.total) FILTER (WHERE e.kind = 'refund'), 0)
                 FROM xcs_summary_periods p
                 LEFT JOIN xcs_summary_entries e ON e.shop = p.shop AND e.currency = p.currency
                   AND e.period_start = p.period_start
                 WHERE p.shop = $1 AND p.status = 'open'
                 GROUP BY p.currency, p.period_start, p.period_end, p.attempts, p.detail
                 ORDER BY p.period_start, p.currency",
                &[&shop],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| OpenPeriod {
                currency: r.get(0),
                start: r.get(1),
                end: r.get(2),
                attempts: r.get(3),
                detail: r.get(4),
                orders: r.get(5),
                refunds: r.get(6),
                orders_total: r.get(7),
                refunds_total: r.get(8),
            })
            .collect())
    }
}
