//! Payouts (`xcs_payouts`), what each settled per order (`xcs_payout_orders`), and the Xero
//! entries their booking made (`xcs_payout_entries`); see `crate::payouts`.

use std::collections::HashMap;

use rust_decimal::Decimal;
use time::Date;

use super::{Ledger, LedgerError};

/// A payout as the ledger holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct PayoutRow {
    pub shop: String,
    pub payout_id: String,
    pub tenant: String,
    pub currency: String,
    pub amount: Decimal,
    pub paid_on: Date,
    /// `held` (waiting for its orders), `dead` (its event dead-lettered) or `booked`.
    pub state: String,
    /// Why it is held: what the ledger is missing of it.
    pub reason: String,
    /// The deposit less what the booked payments, refunds, fees and adjustments explain.
    pub difference: Decimal,
    /// The fees and adjustments its bill (or supplier credit) carries, positive for a bill.
    pub fees: Decimal,
    pub event_id: String,
    /// The Xero number of its fees bill (empty when it had no fees).
    pub bill: String,
    /// The Xero id of its transfer (a bank transfer, or a receive or spend money entry).
    pub transfer: String,
    /// Seconds since it was first seen.
    pub seen_secs: f64,
}

/// What the ledger booked through a clearing account for one order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThroughClearing {
    /// Paid into the clearing account on the order's invoices.
    pub paid_in: Decimal,
    /// Paid back out of it on the credit notes of the order's refunds.
    pub refunded_out: Decimal,
    /// Whether the ledger holds an invoice of the order at all.
    pub invoiced: bool,
}

/// A payout whose booking is done, with what it settled per order.
pub struct BookedPayout<'a> {
    pub shop: &'a str,
    pub payout_id: &'a str,
    pub tenant: &'a str,
    pub currency: &'a str,
    pub amount: Decimal,
    pub paid_on: Date,
    pub fees: Decimal,
    pub event_id: &'a str,
    pub bill: &'a str,
    pub transfer: &'a str,
    /// `(order id, charged, refunded)`.
    pub orders: Vec<(String, Decimal, Decimal)>,
}

const PAYOUT_COLUMNS: &str = "shop, payout_id, tenant, currency, amount, paid_on, state, reason, \
     difference, fees, event_id, bill, transfer, \
     EXTRACT(EPOCH FROM now() - first_seen)::float8";

fn payout_row(row: &tokio_postgres::Row) -> PayoutRow {
    PayoutRow {
        shop: row.get(0),
        payout_id: row.get(1),
        tenant: row.get(2),
        currency: row.get(3),
        amount: row.get(4),
        paid_on: row.get(5),
        state: row.get(6),
        reason: row.get(7),
        difference: row.get(8),
        fees: row.get(9),
        event_id: row.get(10),
        bill: row.get(11),
        transfer: row.get(12),
        seen_secs: row.get(13),
    }
}

impl Ledger {
    /// The payout `payout_id` of `shop`, if it was seen.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payout(
        &self,
        shop: &str,
        payout_id: &str,
    ) -> Result<Option<PayoutRow>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {PAYOUT_COLUMNS} FROM xcs_payouts WHERE shop = $1 AND payout_id = $2"
                ),
                &[&shop, &payout_id],
            )
            .await?;
        Ok(row.as_ref().map(payout_row))
    }

    /// The payouts of `shop` paid on `from..=to` (the bank's dates), newest first.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payouts_between(
        &self,
        shop: &str,
        from: Date,
        to: Date,
    ) -> Result<Vec<PayoutRow>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PAYOUT_COLUMNS} FROM xcs_payouts
                     WHERE shop = $1 AND paid_on BETWEEN $2 AND $3
                     ORDER BY paid_on DESC, payout_id DESC"
                ),
                &[&shop, &from, &to],
            )
            .await?;
        Ok(rows.iter().map(payout_row).collect())
    }

    /// Records `payout` as `held` (waiting for its orders) or `dead` (its event is in the dead
    /// queue) for `reason`, unless it is booked, and answers how many seconds it has waited:
    /// since it was first held, or since now when it was dead (a replay waits afresh).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn hold_payout(
        &self,
        tenant: &str,
        payout: &xcs_shared::domain::Payout,
        shop: &str,
        event_id: &str,
        (state, reason): (&str, &str),
        difference: Decimal,
    ) -> Result<f64, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "INSERT INTO xcs_payouts
                   (shop, payout_id, tenant, currency, amount, paid_on, state, reason,
                    difference, event_id)
                 VALUES ($1, $2, $3, $4, $5, $6, $10, $7, $8, $9)
                 ON CONFLICT (shop, payout_id) DO UPDATE
                   SET state = EXCLUDED.state, reason = EXCLUDED.reason,
                       difference = EXCLUDED.difference, event_id = EXCLUDED.event_id,
                       first_seen = CASE WHEN xcs_payouts.state = 'dead' THEN now()
                                         ELSE xcs_payouts.first_seen END
                   WHERE xcs_payouts.state <> 'booked'
                 RETURNING EXTRACT(EPOCH FROM now() - first_seen)::float8",
                &[
                    &shop,
                    &payout.payout_id,
                    &tenant,
                    &payout.currency.as_str(),
                    &payout.amount,
                    &payout.date,
                    &reason,
                    &difference,
                    &event_id,
                    &state,
                ],
            )
            .await?;
        Ok(row.map_or(0.0, |r| r.get(0)))
    }

    /// What the ledger booked into and back out of `clearing` for each of `order_ids` of
    /// `shop`: payments on the orders' invoices, and payments on the credit notes of their
    /// refunds (found by the order's number, as credit notes are recorded).
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn through_clearing(
        &self,
        tenant: &str,
        shop: &str,
        clearing: &str,
        order_ids: &[String],
    ) -> Result<HashMap<String, ThroughClearing>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "WITH invoices AS (
                   SELECT business_key AS order_id, doc_key, order_number
                   FROM xcs_documents
                   WHERE tenant = $1 AND shop = $2 AND kind = 'invoice'
                     AND business_key = ANY($4)
                 )
                 SELECT i.order_id,
                   COALESCE((SELECT SUM(p.amount) FROM xcs_payments p
                             WHERE p.tenant = $1 AND p.doc_key = i.doc_key
                               AND p.account = $3), 0),
                   COALESCE((SELECT SUM(p.amount) FROM xcs_documents c
                             JOIN xcs_payments p ON p.tenant = c.tenant AND p.doc_key = c.doc_key
                             WHERE c.tenant = $1 AND c.shop = $2 AND c.kind = 'credit_note'
                               AND c.order_number = i.order_number AND p.account = $3), 0)
                 FROM invoices i",
                &[&tenant, &shop, &clearing, &order_ids],
            )
            .await?;
        let mut booked: HashMap<String, ThroughClearing> = HashMap::new();
        for row in rows {
            // An order booked again after a cancellation has two invoices; the credit notes
            // of its number are counted once.
            let entry = booked.entry(row.get(0)).or_default();
            entry.paid_in += row.get::<_, Decimal>(1);
            entry.refunded_out = entry.refunded_out.max(row.get(2));
            entry.invoiced = true;
        }
        Ok(booked)
    }

    /// What payouts of `shop` other than `payout_id` settled of each of `order_ids`:
    /// `(charged, refunded)`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn settled_by_other_payouts(
        &self,
        shop: &str,
        payout_id: &str,
        order_ids: &[String],
    ) -> Result<HashMap<String, (Decimal, Decimal)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT order_id, SUM(charged), SUM(refunded) FROM xcs_payout_orders
                 WHERE shop = $1 AND payout_id <> $2 AND order_id = ANY($3)
                 GROUP BY order_id",
                &[&shop, &payout_id, &order_ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect())
    }

    /// The Xero id of the entry `entry_key` a payout's booking made, if it made it.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payout_entry(
        &self,
        tenant: &str,
        entry_key: &str,
    ) -> Result<Option<String>, LedgerError> {
        let client = self.pool.get().await?;
        let row = client
            .query_opt(
                "SELECT xero_id FROM xcs_payout_entries WHERE tenant = $1 AND entry_key = $2",
                &[&tenant, &entry_key],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// The transfers recorded for `payout_ids` of `shop` in `tenant`, by payout id: `(kind,
    /// Xero id, amount)`, the kind being the Xero collection (`BankTransfers`,
    /// `BankTransactions`) or `none` for a payout of zero, the amount the signed deposit.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payout_transfers(
        &self,
        tenant: &str,
        shop: &str,
        payout_ids: &[String],
    ) -> Result<HashMap<String, (String, String, Decimal)>, LedgerError> {
        let keys: HashMap<String, &String> = payout_ids
            .iter()
            .map(|id| (format!("payout:{shop}:{id}:transfer"), id))
            .collect();
        let wanted: Vec<&String> = keys.keys().collect();
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT entry_key, kind, xero_id, amount FROM xcs_payout_entries
                 WHERE tenant = $1 AND entry_key = ANY($2)",
                &[&tenant, &wanted],
            )
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                let id = keys.get(&r.get::<_, String>(0))?;
                Some(((*id).clone(), (r.get(1), r.get(2), r.get(3))))
            })
            .collect())
    }

    /// What each of `payout_ids` of `shop` settled, over its orders: `(charged, refunded)`.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn payouts_settled(
        &self,
        shop: &str,
        payout_ids: &[String],
    ) -> Result<HashMap<String, (Decimal, Decimal)>, LedgerError> {
        let client = self.pool.get().await?;
        let rows = client
            .query(
                "SELECT payout_id, SUM(charged), SUM(refunded) FROM xcs_payout_orders
                 WHERE shop = $1 AND payout_id = ANY($2)
                 GROUP BY payout_id",
                &[&shop, &payout_ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect())
    }

    /// Records an entry a payout's booking made in Xero.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_payout_entry(
        &self,
        tenant: &str,
        entry_key: &str,
        kind: &str,
        xero_id: &str,
        amount: Decimal,
    ) -> Result<(), LedgerError> {
        let client = self.pool.get().await?;
        client
            .execute(
                "INSERT INTO xcs_payout_entries (tenant, entry_key, kind, xero_id, amount)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, entry_key) DO NOTHING",
                &[&tenant, &entry_key, &kind, &xero_id, &amount],
            )
            .await?;
        Ok(())
    }

    /// Records the payouts of a settlement booked, with what each settled per order, in one
    /// transaction: none is booked unless all are.
    ///
    /// # Errors
    /// [`LedgerError`].
    pub async fn record_payouts_booked(
        &self,
        payouts: &[BookedPayout<'_>],
    ) -> Result<(), LedgerError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        for booked in payouts {
            tx.execute(
                "INSERT INTO xcs_payouts
               (shop, payout_id, tenant, currency, amount, paid_on, state, fees, event_id, bill,
                transfer, booked_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'booked', $7, $8, $9, $10, now())
             ON CONFLICT (shop, payout_id) DO UPDATE
               SET state = 'booked', reason = '', difference = 0, fees = EXCLUDED.fees,
                   event_id = EXCLUDED.event_id, bill = EXCLUDED.bill,
                   transfer = EXCLUDED.transfer, booked_at = now()",
                &[
                    &booked.shop,
                    &booked.payout_id,
                    &booked.tenant,
                    &booked.currency,
                    &booked.amount,
                    &booked.paid_on,
                    &booked.fees,
                    &booked.event_id,
                    &booked.bill,
                    &booked.transfer,
                ],
            )
            .await?;
            for (order_id, charged, refunded) in &booked.orders {
                tx.execute(
                    "INSERT INTO xcs_payout_orders (shop, payout_id, order_id, charged, refunded)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (shop, payout_id, order_id) DO UPDATE
                   SET charged = EXCLUDED.charged, refunded = EXCLUDED.refunded",
                    &[&booked.shop, &booked.payout_id, order_id, charged, refunded],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}
