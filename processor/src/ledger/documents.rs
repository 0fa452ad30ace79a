//! The Xero documents booked (`xcs_documents`), with what each sold or credited per line, the
//! payments and credit allocations made on them (`xcs_payments`), and the Xero contacts cached
//! per contact key (`xcs_contacts`).

use std::collections::{HashMap, HashSet};

use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;
use xcs_shared::domain::TaxMode;

use super::{Ledger, LedgerError, tax_mode_name, tax_mode_of};

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

/// A document the ledger booked, with what it applied to it, for reconcile.
pub(crate) struct BookedDocument {
    pub doc_key: String,
    /// `invoice` or `credit_note`; a summary period's `summary_invoice` or
    /// `summary_credit_note`.
    pub kind: String,
    pub number: String,
    pub xero_id: String,
    pub total: Decimal,
    pub order_number: String,
    /// The order's (or refund's) platform id; a summary document's `summary:{currency}:{period}`.
    pub business_key: String,
    /// The event that booked it; a summary document's `summary:{number}`.
    pub event_id: String,
    /// The payments and credit allocations made on it.
    pub applied: Decimal,
}

/// What the ledger booked for one of a shop's platform ids, for reconcile's platform leg.
pub(crate) struct BookedKey {
    /// `invoice` or `credit_note`; a summary mode shop's `order` or `refund` entry.
    pub kind: String,
    /// The order's (or refund's) platform id.
    pub business_key: String,
    /// The Xero document's number; a summary entry's order (or refund) number.
    pub number: String,
    /// The event that booked it; for a summary entry, the last that changed it.
    pub event_id: String,
    /// How that event reached us (`webhook`, `poll`, `backfill`), as the ledger recorded it;
    /// empty when its record is older than the ledger's `source` column, or gone.
    pub source: String,
    /// The platform's order number (`#1001`).
    pub order_number: String,
}

/// A payment (or credit allocation) the ledger made on a document, for reconcile's advice.
pub(crate) struct LedgerPayment {
    pub doc_key: String,
    /// The account paid into or out of; empty for a credit allocation.
    pub account: String,
    pub amount: Decimal,
}

impl Ledger {
    /// A document booked for `doc_key` in `tenant`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn document(
        &self,
        tenant: &str,
        doc_key: &str,
    ) -> Result<Option<DocumentRow>, LedgerError> {
        self.find_document(
            &format!(
                "SELECT {DOCUMENT_COLUMNS} FROM xcs_documents WHERE tenant = $1 AND doc_key = $2"
            ),
            &[&tenant, &doc_key],
        )
        .await
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
        self.find_document(
            &format!(
                "SELECT {DOCUMENT_COLUMNS} FROM xcs_documents
                 WHERE shop = $1 AND kind = 'invoice' AND business_key = $2
                 ORDER BY created_at DESC, number DESC LIMIT 1"
            ),
            &[&shop, &order_id],
        )
        .await
    }

    /// Records that the processor voided the document `doc_key` (its order was cancelled).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn mark_voided(&self, tenant: &str, doc_key: &str) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "UPDATE xcs_documents SET voided_at = COALESCE(voided_at, now())
                 WHERE tenant = $1 AND doc_key = $2",
                &[&tenant, &doc_key],
            )
            .await?;
        Ok(())
    }

    /// Whether the processor voided the document `doc_key`: `None` when it did not, else
    /// whether it did so before `instant` (RFC 3339), i.e. whether an event received at
    /// `instant` came after the cancellation.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn voided_before(
        &self,
        tenant: &str,
        doc_key: &str,
        instant: &str,
    ) -> Result<Option<bool>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT voided_at < $3::text::timestamptz FROM xcs_documents
                 WHERE tenant = $1 AND doc_key = $2 AND voided_at IS NOT NULL",
                &[&tenant, &doc_key, &instant],
            )
            .await?;
        Ok(row.map(|r| r.get::<_, Option<bool>>(0).unwrap_or(true)))
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
        self.summarised_order(shop, order_id).await
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
    ) -> Result<HashMap<String, Decimal>, LedgerError> {
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

    /// The Xero item cached for `code` in `tenant`: its id, and the SKU whose derived code it
    /// is (`None` for a code from `mapping.items`).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn item(
        &self,
        tenant: &str,
        code: &str,
    ) -> Result<Option<(String, Option<String>)>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT item_id, sku FROM xcs_items WHERE tenant = $1 AND code_key = upper($2)",
                &[&tenant, &code],
            )
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    /// Records that `tenant` has the item `code` (`item_id`), for `sku` when its code is
    /// derived, unless a row for the code is there already (another processor's); answers the
    /// row as it stands.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_item(
        &self,
        tenant: &str,
        code: &str,
        item_id: &str,
        sku: Option<&str>,
    ) -> Result<(String, Option<String>), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_items (tenant, code_key, code, item_id, sku)
                 VALUES ($1, upper($2), $2, $3, $4) ON CONFLICT (tenant, code_key) DO NOTHING",
                &[&tenant, &code, &item_id, &sku],
            )
            .await?;
        let row = client
            .query_one(
                "SELECT item_id, sku FROM xcs_items WHERE tenant = $1 AND code_key = upper($2)",
                &[&tenant, &code],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
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

    /// The documents of `shop` in `tenant` that `event_ids` booked, oldest first, with what the
    /// ledger applied to each.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn documents_booked_by(
        &self,
        tenant: &str,
        shop: &str,
        event_ids: &[String],
    ) -> Result<Vec<BookedDocument>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {BOOKED_COLUMNS} FROM xcs_documents d
                     WHERE d.tenant = $1 AND d.shop = $2 AND d.event_id = ANY($3)
                     ORDER BY d.created_at, d.doc_key"
                ),
                &[&tenant, &shop, &event_ids],
            )
            .await?;
        Ok(rows.iter().map(booked_document).collect())
    }

    /// The payments and credit allocations the ledger made on `doc_keys` of `tenant`, oldest
    /// first.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn payments_on(
        &self,
        tenant: &str,
        doc_keys: &[String],
    ) -> Result<Vec<LedgerPayment>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT doc_key, account, amount FROM xcs_payments
                 WHERE tenant = $1 AND doc_key = ANY($2)
                 ORDER BY created_at, payment_key",
                &[&tenant, &doc_keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerPayment {
                doc_key: r.get(0),
                account: r.get(1),
                amount: r.get(2),
            })
            .collect())
    }

    /// The documents booked for a shop's platform ids, and (summary mode) the orders and refunds
    /// summarised under them, each with how the event that booked it reached us: reconcile's
    /// platform leg, which knows the platform's ids, not the events.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn booked_for_keys(
        &self,
        tenant: &str,
        shop: &str,
        business_keys: &[String],
    ) -> Result<Vec<BookedKey>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT d.kind, d.business_key, d.number, d.event_id, COALESCE(e.source, ''),
                        d.order_number
                   FROM xcs_documents d LEFT JOIN xcs_events e ON e.event_id = d.event_id
                  WHERE d.tenant = $1 AND d.shop = $2 AND d.kind IN ('invoice', 'credit_note')
                    AND d.business_key = ANY($3)
                 UNION ALL
                 SELECT s.kind, s.business_key, s.number, s.event_id, COALESCE(e.source, ''),
                        s.number
                   FROM xcs_summary_entries s LEFT JOIN xcs_events e ON e.event_id = s.event_id
                  WHERE s.shop = $2 AND s.kind IN ('order', 'refund')
                    AND s.business_key = ANY($3)",
                &[&tenant, &shop, &business_keys],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| BookedKey {
                kind: r.get(0),
                business_key: r.get(1),
                number: r.get(2),
                event_id: r.get(3),
                source: r.get(4),
                order_number: r.get(5),
            })
            .collect())
    }

    /// Records that `event_id` carries `xcs-processor test-transaction`'s sample order
    /// `order_id` for `shop`, so that reconcile knows its documents are no sale (voided or
    /// deleted, they are no discrepancy; --fix never books one again). Recording twice keeps
    /// the first record.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_test_transaction(
        &self,
        event_id: &str,
        shop: &str,
        tenant: &str,
        order_id: &str,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_test_transactions (event_id, shop, tenant, order_id)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) DO NOTHING",
                &[&event_id, &shop, &tenant, &order_id],
            )
            .await?;
        Ok(())
    }

    /// Which of `event_ids` of `shop` carried a test-transaction's sample order.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub(crate) async fn test_transaction_events(
        &self,
        shop: &str,
        event_ids: &[String],
    ) -> Result<HashSet<String>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT event_id FROM xcs_test_transactions
                 WHERE shop = $1 AND event_id = ANY($2)",
                &[&shop, &event_ids],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Forgets `documents` of `tenant` in one transaction: each one's record, its payments,
    /// and the record of the event that booked it, so that the event, delivered again, books
    /// the document again (reconcile's fix for a document gone from Xero).
    ///
    /// # Errors
    /// [`LedgerError`]; then nothing was forgotten.
    pub(crate) async fn forget_documents(
        &self,
        tenant: &str,
        documents: &[&BookedDocument],
    ) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for document in documents {
            tx.execute(
                "DELETE FROM xcs_payments WHERE tenant = $1 AND doc_key = $2",
                &[&tenant, &document.doc_key],
            )
            .await?;
            tx.execute(
                "DELETE FROM xcs_documents WHERE tenant = $1 AND doc_key = $2",
                &[&tenant, &document.doc_key],
            )
            .await?;
            tx.execute(
                "DELETE FROM xcs_events WHERE event_id = $1",
                &[&document.event_id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

const DOCUMENT_COLUMNS: &str = "xero_id, number, currency, total, order_number, tax_mode";

/// What [`booked_document`] reads, from `xcs_documents d`: the document and the sum of what
/// the ledger applied to it.
pub(super) const BOOKED_COLUMNS: &str = "d.doc_key, d.kind, d.number, d.xero_id, d.total, \
     d.order_number, d.business_key, d.event_id, \
     COALESCE((SELECT SUM(p.amount) FROM xcs_payments p \
               WHERE p.tenant = d.tenant AND p.doc_key = d.doc_key), 0)";

/// A document as [`BOOKED_COLUMNS`] select it.
pub(super) fn booked_document(row: &tokio_postgres::Row) -> BookedDocument {
    BookedDocument {
        doc_key: row.get(0),
        kind: row.get(1),
        number: row.get(2),
        xero_id: row.get(3),
        total: row.get(4),
        order_number: row.get(5),
        business_key: row.get(6),
        event_id: row.get(7),
        applied: row.get(8),
    }
}

impl Ledger {
    /// The document `sql` finds, selecting what [`document_row`] reads, if it finds one.
    pub(super) async fn find_document(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<DocumentRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client.query_opt(sql, params).await?;
        Ok(row.map(|r| document_row(&r)))
    }
}

/// A document as [`DOCUMENT_COLUMNS`] select it.
fn document_row(row: &tokio_postgres::Row) -> DocumentRow {
    DocumentRow {
        xero_id: row.get(0),
        number: row.get(1),
        currency: row.get(2),
        total: row.get(3),
        order_number: row.get(4),
        tax_mode: tax_mode_of(row.get(5)),
    }
}
