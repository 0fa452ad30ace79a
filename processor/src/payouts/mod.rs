//! Payouts: the clearing account emptied into the bank, deposit by deposit (README "Payouts").
//!
//! Order payments go into a clearing account; the platform (Shopify Payments, Etsy, eBay)
//! pays the seller out of them, less refunds and its fees, plus or minus reserves and other
//! adjustments. For a shop with `payouts = true` the poller reads each paid payout with its
//! parts (`crate::poll::payouts`) and publishes it as a [`Settlement`] event; booking it here
//! makes, in the tenant's order like every event:
//! 1. **The invariant.** Per order the payout names, what the ledger booked into clearing (its
//!    invoices' payments) and back out (its refunds' credit notes' payments), less what other
//!    payouts settled of it, must cover what this payout charges and refunds; and the
//!    payout's own parts must make its deposit ([`Payout::difference`]). Otherwise booking
//!    would leave clearing off by the difference, so the payout is **held**: recorded in
//!    `xcs_payouts` with a reason naming each order and amount missing (`reconcile` lists
//!    it), and its event waits in a retry tier, retries unused, looking again every
//!    `hold_recheck_secs` until the orders are booked (by their webhooks or the poller), then
//!    books. After `hold_max_hours` it is dead-lettered as `payout_unexplained`.
//! 2. **The fees bill** ([`mapping::bill`]): fees and adjustments on their mapped accounts,
//!    with the platform's tax on fees, to the platform's contact, paid from clearing (a
//!    supplier credit refunded into clearing when adjustments outweigh fees). Per payout, or
//!    per day (`fees_per = "day"`, where one event carries the day's payouts).
//! 3. **The transfer** of exactly the deposit from clearing to the bank account of its
//!    currency, dated as the bank shows it and referenced by the payout id, so Xero's bank
//!    reconciliation suggests the match: a bank transfer when clearing is a BANK account,
//!    else money received in the bank coded to clearing. A negative payout (the platform
//!    debited the bank) goes the other way.
//!
//! **Exactly once.** A payout is booked once per shop and payout id (`xcs_payouts`), whichever
//! event brought it (two polls, a replay). Each Xero entry is recorded as it is made
//! (`xcs_payout_entries`): a booking that failed part way makes only the rest. An attempt that
//! may have made an entry the ledger does not show (a retry, a redelivery) first looks for it
//! in Xero by its number or reference, beyond the 6 minutes Xero's idempotency keys cover.
//!
//! **Other platforms.** WooCommerce, BigCommerce and Adobe Commerce are paid out by their
//! payment gateways (Stripe, PayPal, Braintree), not by the store: a gateway's payouts would
//! come from a reader of its own producing the same [`Payout`], published as a [`Settlement`]
//! under this module's topic; everything from here on is platform-blind.

pub mod mapping;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::Date;
use xcs_shared::domain::{Payout, PayoutStatus};

use crate::booking::{Booker, Job, Work};
use crate::config::ShopConfig;
use crate::error::ProcessError;
use crate::ledger::{BookedPayout, EventOutcome};
use crate::xero::documents::{DocumentKind, decimal, is_live, text};
use crate::xero::types::{AccountRef, Payment, PaymentTarget};
use mapping::{Bill, PayoutMapping};

/// The topic of a payout event.
pub const TOPIC: &str = "poll/payouts";

/// The body of a payout event: one payout, or with `fees_per = "day"` a day's of one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The bank's date of every payout in it, when the shop's fees are booked per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub day: Option<Date>,
    pub payouts: Vec<Payout>,
}

/// The work of a payout event: its settlement, from our own publishers only.
pub(crate) fn work_for(event: &crate::platforms::Event<'_>) -> Result<Work, ProcessError> {
    if event.envelope.source == xcs_shared::Source::Webhook || event.envelope.topic != TOPIC {
        return Err(ProcessError::Unparseable(format!(
            "a payout event must come from the poller under topic {TOPIC}; this one came by \
             {:?} under {:?}",
            event.envelope.source, event.envelope.topic
        )));
    }
    let settlement: Settlement = serde_json::from_slice(event.body).map_err(|err| {
        ProcessError::Unparseable(format!(
            "the payout event's body is not a settlement: {err}"
        ))
    })?;
    if settlement.payouts.is_empty() {
        return Err(ProcessError::Unparseable(
            "the payout event carries no payout".into(),
        ));
    }
    Ok(Work::Payouts(settlement))
}

/// The plausibility checks every document gets (`crate::normalise::checks`), for a
/// settlement's payouts: bounded amounts, ids Xero can be asked for, a believable date.
///
/// # Errors
/// [`ProcessError::Implausible`] naming the payout and what is wrong.
pub(crate) fn check_settlement(settlement: &Settlement, today: Date) -> Result<(), ProcessError> {
    use crate::normalise::checks::{EARLIEST_DATE, FUTURE_SLACK_DAYS, MAX_AMOUNT, MAX_SCALE};
    for payout in &settlement.payouts {
        let name = format!("payout {:?}", payout.payout_id);
        let implausible = |what: String| Err(ProcessError::Implausible(format!("{name}: {what}")));
        if payout.payout_id.trim().is_empty()
            || payout.payout_id.len() > 255
            || crate::xero::filter::string_literal(&payout.payout_id).is_none()
        {
            return implausible("its id cannot be a Xero reference".into());
        }
        let latest = today + time::Duration::days(FUTURE_SLACK_DAYS);
        if payout.date < EARLIEST_DATE || payout.date > latest {
            return implausible(format!("it is dated {}", payout.date));
        }
        if settlement.day.is_some_and(|day| day != payout.date) {
            return implausible("it is not of its settlement's day".into());
        }
        let amounts = std::iter::once(payout.amount)
            .chain(payout.charges.iter().flat_map(|c| [c.gross, c.fee]))
            .chain(payout.refunds.iter().flat_map(|r| [r.amount, r.fee]))
            .chain(
                payout
                    .fees
                    .iter()
                    .flat_map(|f| [f.amount, f.tax.unwrap_or_default()]),
            )
            .chain(payout.adjustments.iter().map(|a| a.amount));
        for amount in amounts {
            if amount.abs() > MAX_AMOUNT || amount.scale() > MAX_SCALE {
                return implausible(format!("it carries the amount {amount}"));
            }
        }
        if settlement.payouts[0].currency != payout.currency {
            return implausible("its settlement mixes currencies".into());
        }
    }
    Ok(())
}

/// What a payout lacks in the ledger, per order.
#[derive(Debug, Default)]
struct Shortfall {
    lines: Vec<String>,
    /// The deposit less what the booked parts explain.
    difference: Decimal,
}

impl Booker {
    /// Books a payout event: the payouts of `settlement` that are paid and not booked yet.
    /// A payout its event cannot book (held too long, unmapped, refused by Xero) is recorded
    /// as `dead` with the reason, so the poller does not publish it again while it waits in
    /// the dead queue for an operator's replay.
    pub(crate) async fn book_settlement(
        &self,
        job: &Job,
        shop: &ShopConfig,
        settlement: &Settlement,
    ) -> Result<(EventOutcome, String), ProcessError> {
        let Some(mapping) = shop.mapping.payouts.as_ref() else {
            return Err(ProcessError::Internal(
                "payouts = true without [mapping.payouts] passed the config check".into(),
            ));
        };
        let mut notes = Vec::new();
        let mut due = Vec::new();
        for payout in &settlement.payouts {
            if payout.status != PayoutStatus::Paid {
                notes.push(format!(
                    "payout {} is {:?}, not paid: booked once the bank has it",
                    payout.payout_id, payout.status
                ));
                continue;
            }
            match self
                .ledger
                .payout(&job.envelope.shop, &payout.payout_id)
                .await?
            {
                Some(row) if row.state == "booked" => notes.push(format!(
                    "payout {} was booked already (event {})",
                    payout.payout_id, row.event_id
                )),
                _ => due.push(payout),
            }
        }
        if due.is_empty() {
            return Ok((EventOutcome::Skipped, notes.join("; ")));
        }
        match self
            .book_due(job, shop, mapping, settlement.day, &due, &mut notes)
            .await
        {
            Ok(()) => Ok((EventOutcome::Booked, notes.join("; "))),
            Err(err) => {
                if !err.is_retryable() {
                    for payout in &due {
                        self.ledger
                            .hold_payout(
                                &job.envelope.tenant,
                                payout,
                                &job.envelope.shop,
                                &job.envelope.event_id,
                                ("dead", &err.to_string()),
                                Decimal::ZERO,
                            )
                            .await?;
                    }
                }
                Err(err)
            }
        }
    }

    /// Books `due`, all paid and none booked: held when the ledger lacks what they pay out,
    /// else the fees bill, the transfers, and the ledger's record of them in one transaction.
    async fn book_due(
        &self,
        job: &Job,
        shop: &ShopConfig,
        mapping: &PayoutMapping,
        day: Option<Date>,
        due: &[&Payout],
        notes: &mut Vec<String>,
    ) -> Result<(), ProcessError> {
        // A currency without a bank account is refused before anything is written: the fees
        // bill would otherwise be made (and paid) for a deposit that cannot be transferred.
        for payout in due {
            let currency = payout.currency.as_str();
            if mapping.bank_account(currency).is_none() {
                return Err(ProcessError::PayoutMapping(
                    mapping::PayoutMappingError::NoBankAccount {
                        currency: currency.to_owned(),
                    },
                ));
            }
        }
        let clearing = mapping.clearing(&shop.mapping.accounts);
        let mut held = Vec::new();
        let mut settled = HashMap::new();
        for payout in due {
            let (shortfall, orders) = self.shortfall(job, clearing, payout).await?;
            if shortfall.lines.is_empty() {
                settled.insert(payout.payout_id.clone(), orders);
            } else {
                held.push((*payout, shortfall));
            }
        }
        if !held.is_empty() {
            return Err(self.hold(job, mapping, &held).await?);
        }

        let tenant = &job.envelope.tenant;
        let owned: Vec<Payout> = due.iter().map(|p| (*p).clone()).collect();
        let (number_of, date) = match day {
            Some(day) => (day_bill_suffix(day, &owned), day),
            None => (owned[0].payout_id.clone(), owned[0].date),
        };
        let bill = mapping::bill(
            mapping,
            &shop.mapping.document_prefix,
            &number_of,
            date,
            &owned,
        )
        .map_err(ProcessError::PayoutMapping)?;
        let clearing_is_bank = self.is_bank_account(tenant, clearing).await?;
        let bill_number = match &bill {
            Some(bill) => {
                self.book_bill(job, shop, mapping, clearing, bill).await?;
                notes.push(format!("fees bill {} of {}", bill.number, bill.total()));
                bill.number.clone()
            }
            None => String::new(),
        };
        let mut transfers = Vec::with_capacity(due.len());
        for payout in due {
            let transfer = self
                .book_transfer(job, shop, mapping, clearing, clearing_is_bank, payout)
                .await?;
            notes.push(format!(
                "payout {} of {} {} moved from {clearing} to the bank ({transfer})",
                payout.payout_id,
                payout.amount,
                payout.currency.as_str()
            ));
            transfers.push(transfer);
        }
        let booked: Vec<BookedPayout<'_>> = due
            .iter()
            .zip(&transfers)
            .map(|(payout, transfer)| BookedPayout {
                shop: &job.envelope.shop,
                payout_id: &payout.payout_id,
                tenant,
                currency: payout.currency.as_str(),
                amount: payout.amount,
                paid_on: payout.date,
                fees: fees_less_adjustments(payout),
                event_id: &job.envelope.event_id,
                bill: &bill_number,
                transfer,
                orders: settled.remove(&payout.payout_id).unwrap_or_default(),
            })
            .collect();
        self.ledger.record_payouts_booked(&booked).await?;
        Ok(())
    }

    /// What the ledger lacks for `payout` to be booked, and what it settles per order
    /// `(order id, charged, refunded)`.
    async fn shortfall(
        &self,
        job: &Job,
        clearing: &str,
        payout: &Payout,
    ) -> Result<(Shortfall, Vec<(String, Decimal, Decimal)>), ProcessError> {
        let mut shortfall = Shortfall::default();
        let own = payout.difference();
        if !own.is_zero() {
            shortfall.lines.push(format!(
                "the platform's parts of the payout add up to {}, the deposit is {}",
                payout.parts_total(),
                payout.amount
            ));
            shortfall.difference += own;
        }
        let mut per_order: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
        for charge in &payout.charges {
            if let Some(order) = &charge.order_id {
                per_order.entry(order.clone()).or_default().0 += charge.gross;
            }
        }
        for refund in &payout.refunds {
            if let Some(order) = &refund.order_id {
                per_order.entry(order.clone()).or_default().1 += refund.amount;
            }
        }
        let ids: Vec<String> = per_order.keys().cloned().collect();
        let booked = self
            .ledger
            .through_clearing(&job.envelope.tenant, &job.envelope.shop, clearing, &ids)
            .await?;
        let others = self
            .ledger
            .settled_by_other_payouts(&job.envelope.shop, &payout.payout_id, &ids)
            .await?;
        for (order, (charged, refunded)) in &per_order {
            let booked = booked.get(order).copied().unwrap_or_default();
            let (other_charged, other_refunded) = others.get(order).copied().unwrap_or_default();
            let short_in = *charged - (booked.paid_in - other_charged);
            if short_in > Decimal::ZERO {
                shortfall.difference += short_in;
                shortfall.lines.push(if booked.invoiced {
                    format!(
                        "order {order}: {charged} is paid out, {} of it is booked into clearing \
                         account {clearing}",
                        (booked.paid_in - other_charged).max(Decimal::ZERO)
                    )
                } else {
                    format!("order {order} ({charged} paid out) is not booked")
                });
            }
            let short_out = *refunded - (booked.refunded_out - other_refunded);
            if short_out > Decimal::ZERO {
                shortfall.difference -= short_out;
                shortfall.lines.push(format!(
                    "order {order}: {refunded} of refunds is paid out, {} of it is booked out of \
                     clearing account {clearing}",
                    (booked.refunded_out - other_refunded).max(Decimal::ZERO)
                ));
            }
        }
        let orders = per_order
            .into_iter()
            .map(|(order, (charged, refunded))| (order, charged, refunded))
            .collect();
        Ok((shortfall, orders))
    }

    /// Records the held payouts and answers the error their event waits (or, held too long,
    /// is dead-lettered) with.
    async fn hold(
        &self,
        job: &Job,
        mapping: &PayoutMapping,
        held: &[(&Payout, Shortfall)],
    ) -> Result<ProcessError, ProcessError> {
        let mut reasons = Vec::new();
        let mut longest = 0.0_f64;
        for (payout, shortfall) in held {
            let reason = format!(
                "{} unexplained: {}",
                shortfall.difference,
                shortfall.lines.join("; ")
            );
            let secs = self
                .ledger
                .hold_payout(
                    &job.envelope.tenant,
                    payout,
                    &job.envelope.shop,
                    &job.envelope.event_id,
                    ("held", &reason),
                    shortfall.difference,
                )
                .await?;
            longest = longest.max(secs);
            reasons.push(format!("payout {}: {reason}", payout.payout_id));
        }
        let reason = reasons.join(" | ");
        if Duration::from_secs_f64(longest.max(0.0)) >= mapping.hold_max() {
            return Ok(ProcessError::PayoutUnexplained { reason });
        }
        Ok(ProcessError::PayoutHeld {
            reason,
            wait: mapping.hold_recheck(),
        })
    }

    /// Whether `code` is a BANK account in Xero (else one with payments enabled).
    async fn is_bank_account(&self, tenant: &str, code: &str) -> Result<bool, ProcessError> {
        let literal = crate::xero::filter::string_literal(code).ok_or_else(|| {
            ProcessError::PayoutMapping(mapping::PayoutMappingError::BadAccountCode {
                code: code.to_owned(),
            })
        })?;
        let answer = self
            .xero
            .get_where(tenant, "/Accounts", &format!("Code=={literal}"))
            .await?;
        let account = answer["Accounts"]
            .as_array()
            .and_then(|accounts| accounts.first())
            .ok_or_else(|| {
                ProcessError::PayoutMapping(mapping::PayoutMappingError::AccountMissing {
                    code: code.to_owned(),
                })
            })?;
        Ok(text(account, "Type") == "BANK")
    }

    /// Makes the fees bill (or supplier credit) and its payment from clearing, each once.
    async fn book_bill(
        &self,
        job: &Job,
        shop: &ShopConfig,
        mapping: &PayoutMapping,
        clearing: &str,
        bill: &Bill,
    ) -> Result<(), ProcessError> {
        let tenant = &job.envelope.tenant;
        let total = bill.total();
        let credit = total < Decimal::ZERO;
        let (kind, collection, id_field, number_field, document_kind) = if credit {
            (
                "ACCPAYCREDIT",
                "CreditNotes",
                "CreditNoteID",
                "CreditNoteNumber",
                DocumentKind::CreditNote,
            )
        } else {
            (
                "ACCPAY",
                "Invoices",
                "InvoiceID",
                "InvoiceNumber",
                DocumentKind::Invoice,
            )
        };
        let bill_key = format!("payout:{}:{}:bill", job.envelope.shop, bill.number);
        let may_have_written = job.attempt > 0 || job.redelivered;
        let document_id = match self.ledger.payout_entry(tenant, &bill_key).await? {
            Some(id) => id,
            None => {
                let found = if may_have_written {
                    self.xero
                        .find_documents(tenant, document_kind, &[&bill.number])
                        .await?
                        .remove(&bill.number)
                        .filter(|d| text(d, "Type") == kind)
                } else {
                    None
                };
                let id = match found {
                    Some(existing) => text(&existing, id_field),
                    None => {
                        let contact = self
                            .named_contact(tenant, job.attempt, &mapping.contact(shop.platform))
                            .await?;
                        let sign = if credit { -Decimal::ONE } else { Decimal::ONE };
                        let lines: Vec<Value> = bill
                            .lines
                            .iter()
                            .map(|line| {
                                json!({
                                    "Description": line.description,
                                    "Quantity": "1",
                                    "UnitAmount": (line.amount * sign).to_string(),
                                    "AccountCode": line.account,
                                    "TaxType": line.tax_type,
                                    "TaxAmount": (line.tax * sign).to_string(),
                                })
                            })
                            .collect();
                        let mut document = json!({
                            "Type": kind,
                            "Contact": {"ContactID": contact},
                            "Date": bill.date.to_string(),
                            "CurrencyCode": bill.currency,
                            "LineAmountTypes": "Exclusive",
                            "Status": "AUTHORISED",
                            "LineItems": lines,
                        });
                        document[number_field] = json!(bill.number);
                        if !credit {
                            document["DueDate"] = json!(bill.date.to_string());
                        }
                        let element = self
                            .write_element(
                                job,
                                (Method::PUT, &format!("/{collection}")),
                                &json!({ collection: [document] }),
                                collection,
                                &format!(
                                    "payout fees {} {}",
                                    if credit { "credit" } else { "bill" },
                                    bill.number
                                ),
                            )
                            .await?;
                        text(&element, id_field)
                    }
                };
                self.ledger
                    .record_payout_entry(tenant, &bill_key, kind, &id, total)
                    .await?;
                id
            }
        };
        if total.is_zero() {
            return Ok(());
        }
        let payment_key = format!("{bill_key}-payment");
        if self
            .ledger
            .payout_entry(tenant, &payment_key)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let (target, target_name) = if credit {
            (
                PaymentTarget::CreditNote {
                    credit_note_id: document_id.clone(),
                },
                "CreditNote",
            )
        } else {
            (
                PaymentTarget::Invoice {
                    invoice_id: document_id.clone(),
                },
                "Invoice",
            )
        };
        let payment = Payment {
            target,
            account: AccountRef {
                code: clearing.to_owned(),
            },
            date: bill.date.to_string(),
            amount: total.abs(),
            reference: bill.number.clone(),
        };
        let existing = if may_have_written {
            self.xero
                .payments_on(tenant, &[(target_name, &document_id)])
                .await?
                .into_iter()
                .find(|p| {
                    text(p, "Reference") == payment.reference
                        && decimal(p, "Amount") == payment.amount
                        && is_live(p)
                })
                .map(|p| text(&p, "PaymentID"))
        } else {
            None
        };
        let payment_id = match existing {
            Some(id) => id,
            None => {
                let made = self
                    .xero
                    .put_payments(tenant, job.attempt, std::slice::from_ref(&payment))
                    .await?;
                match made.into_iter().next() {
                    Some(Ok(id)) => id,
                    Some(Err(messages)) => {
                        return Err(ProcessError::rejected(
                            format!("payment of payout fees {}", bill.number),
                            messages,
                        ));
                    }
                    None => {
                        return Err(ProcessError::Internal(
                            "Xero answered no payment for the one sent".into(),
                        ));
                    }
                }
            }
        };
        self.ledger
            .record_payout_entry(tenant, &payment_key, "payment", &payment_id, total.abs())
            .await?;
        Ok(())
    }

    /// Moves the deposit from clearing to the bank (or, for a debit, back), once; answers the
    /// Xero id of the entry.
    async fn book_transfer(
        &self,
        job: &Job,
        shop: &ShopConfig,
        mapping: &PayoutMapping,
        clearing: &str,
        clearing_is_bank: bool,
        payout: &Payout,
    ) -> Result<String, ProcessError> {
        let tenant = &job.envelope.tenant;
        let key = format!("payout:{}:{}:transfer", job.envelope.shop, payout.payout_id);
        if let Some(id) = self.ledger.payout_entry(tenant, &key).await? {
            return Ok(id);
        }
        if payout.amount.is_zero() {
            self.ledger
                .record_payout_entry(tenant, &key, "none", "", Decimal::ZERO)
                .await?;
            return Ok(String::new());
        }
        let currency = payout.currency.as_str();
        let bank = mapping.bank_account(currency).ok_or_else(|| {
            ProcessError::PayoutMapping(mapping::PayoutMappingError::NoBankAccount {
                currency: currency.to_owned(),
            })
        })?;
        let reference = payout.payout_id.clone();
        let amount = payout.amount.abs();
        let date = payout.date.to_string();
        let (path, collection, id_field, body) = if clearing_is_bank {
            let (from, to) = if payout.amount > Decimal::ZERO {
                (clearing, bank)
            } else {
                (bank, clearing)
            };
            (
                "/BankTransfers",
                "BankTransfers",
                "BankTransferID",
                json!({
                    "FromBankAccount": {"Code": from},
                    "ToBankAccount": {"Code": to},
                    "Amount": amount.to_string(),
                    "Date": date,
                    "Reference": reference,
                }),
            )
        } else {
            let contact = self
                .named_contact(tenant, job.attempt, &mapping.contact(shop.platform))
                .await?;
            (
                "/BankTransactions",
                "BankTransactions",
                "BankTransactionID",
                json!({
                    "Type": if payout.amount > Decimal::ZERO { "RECEIVE" } else { "SPEND" },
                    "Contact": {"ContactID": contact},
                    "BankAccount": {"Code": bank},
                    "Date": date,
                    "Reference": reference,
                    "CurrencyCode": currency,
                    "LineAmountTypes": "NoTax",
                    "Status": "AUTHORISED",
                    "LineItems": [{
                        "Description": format!("{} payout {}", payout.platform.display_name(), payout.payout_id),
                        "Quantity": "1",
                        "UnitAmount": amount.to_string(),
                        "AccountCode": clearing,
                    }],
                }),
            )
        };
        let found = if job.attempt > 0 || job.redelivered {
            self.entry_by_reference(tenant, collection, &reference, amount)
                .await?
                .map(|entry| text(&entry, id_field))
        } else {
            None
        };
        let id = match found {
            Some(id) => id,
            None => {
                let element = self
                    .write_element(
                        job,
                        (Method::PUT, path),
                        &json!({ collection: [body] }),
                        collection,
                        &format!("transfer of payout {}", payout.payout_id),
                    )
                    .await?;
                text(&element, id_field)
            }
        };
        self.ledger
            .record_payout_entry(tenant, &key, collection, &id, payout.amount)
            .await?;
        Ok(id)
    }

    /// A live bank transfer or bank transaction with `reference` and `amount`.
    async fn entry_by_reference(
        &self,
        tenant: &str,
        collection: &str,
        reference: &str,
        amount: Decimal,
    ) -> Result<Option<Value>, ProcessError> {
        let Some(literal) = crate::xero::filter::string_literal(reference) else {
            return Ok(None);
        };
        let mut answer = self
            .xero
            .get_where(
                tenant,
                &format!("/{collection}"),
                &format!("Reference=={literal}"),
            )
            .await?;
        let amount_field = if collection == "BankTransfers" {
            "Amount"
        } else {
            "Total"
        };
        Ok(match answer[collection].take() {
            Value::Array(entries) => entries
                .into_iter()
                .find(|e| is_live(e) && decimal(e, amount_field) == amount),
            _ => None,
        })
    }
}

/// The number of a day's fees bill after the prefix and `PO-`: the day, the currency, and a
/// digest of the payouts it bills. A payout of the day found after another settlement of the
/// day was booked (or held) comes in a settlement of its own (`crate::poll::payouts`), whose
/// bill must not be taken for the first's; the same settlement retried bills the same payouts,
/// since none is recorded booked before all its entries are made.
fn day_bill_suffix(day: Date, payouts: &[Payout]) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = payouts.iter().map(|p| p.payout_id.as_str()).collect();
    ids.sort_unstable();
    let digest = Sha256::digest(ids.join(",").as_bytes());
    let hex: String = digest.iter().take(3).map(|b| format!("{b:02x}")).collect();
    let currency = payouts.first().map_or("", |p| p.currency.as_str());
    format!("{day}-{currency}-{hex}")
}

/// What a payout's parts other than its order payments and refunds take from its deposit: its
/// fees less its adjustments (`reconcile` shows it).
fn fees_less_adjustments(payout: &Payout) -> Decimal {
    // Charges and refunds naming no order are adjustments of the bill (`mapping::bill`): no
    // booked payment moved their money through clearing.
    let charges: Decimal = payout
        .charges
        .iter()
        .filter(|c| c.order_id.is_some())
        .map(|c| c.gross)
        .sum();
    let refunds: Decimal = payout
        .refunds
        .iter()
        .filter(|r| r.order_id.is_some())
        .map(|r| r.amount)
        .sum();
    charges - refunds - payout.amount
}
