//! Books a tenant's batch of normalised events in Xero: invoices first (so a refund in the same
//! batch finds its order), then payments, then credit notes with their allocations and refund
//! payments. Each phase is one Xero call for the whole batch where Xero has a batch endpoint.
//!
//! Exactly once, in effect: every document has a deterministic number and every write an
//! `Idempotency-Key` derived from what it writes; "must be unique" means the document exists,
//! so it is looked up and adopted; the ledger records each document and payment before the
//! event is acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::Envelope;
use xcs_shared::domain::{Customer, Order, Refund, StockChange};

use crate::config::{ContactStrategy, ShopConfig};
use crate::error::ProcessError;
use crate::ledger::{DocumentRow, EventOutcome, Ledger, RecordedPayment};
use crate::mapping::{self, MappedCreditNote, MappedInvoice, PlannedPayment, round2};
use crate::refund_limit;
use crate::xero::client::{XeroClient, XeroError, element_errors};
use crate::xero::documents::{DocumentKind, Draft, decimal, idempotency_key, text};
use crate::xero::types::{ContactRef, PaymentTarget};

/// What one event asks to book.
#[derive(Debug, Clone)]
pub enum Work {
    Order(Order),
    /// Refunds of an order; `order` when the event also carries the order itself
    /// (WooCommerce), so it can be booked first if it is not yet.
    Refunds {
        order: Option<Order>,
        refunds: Vec<Refund>,
    },
    Stock(Vec<StockChange>),
    /// Payouts to empty the clearing account into the bank (`crate::payouts`).
    Payouts(crate::payouts::Settlement),
    /// An order cancelled on the platform after its invoice was booked.
    Cancel {
        order: Order,
        invoice: DocumentRow,
    },
    Nothing(String),
}

/// One event in a batch.
#[derive(Debug, Clone)]
pub struct Job {
    pub envelope: Envelope,
    pub work: Work,
    /// Which attempt this is, for the idempotency keys of its writes: new for every retry and
    /// every replay (`consumer::write_attempt`).
    pub attempt: u32,
    /// Delivered before (a processor died holding it, or it was rejected back to its queue):
    /// the earlier delivery may have booked in Xero what the ledger does not show, and its
    /// requests had the same Idempotency-Keys, so Xero may answer this one with the earlier
    /// answer, describing a document as it was then.
    pub redelivered: bool,
}

/// Books batches; cheap to clone.
#[derive(Clone)]
pub struct Booker {
    pub xero: XeroClient,
    pub ledger: Ledger,
    /// Each organisation's tax rates, for the tax Xero will compute per line.
    pub tax_rates: TaxRateCache,
    /// Tracked inventory: document writes against stock comparisons, per tenant.
    pub stock_guards: crate::stock::StockGuards,
}

/// How long an organisation's tax rates are used before they are asked again: a rate changed
/// in Xero (a new VAT rate) is seen within the hour, for one call an hour per tenant.
const TAX_RATES_FOR: Duration = Duration::from_secs(60 * 60);

/// Each organisation's tax rates (`GET /TaxRates`), asked at most once per [`TAX_RATES_FOR`]
/// per processor, and again as soon as Xero's tax on a new document shows them changed.
#[derive(Clone, Default)]
pub struct TaxRateCache(Arc<Mutex<HashMap<String, (Instant, mapping::XeroTaxRates)>>>);

impl TaxRateCache {
    fn fresh(&self, tenant: &str) -> Option<mapping::XeroTaxRates> {
        let cache = self.0.lock().expect("not poisoned");
        cache
            .get(tenant)
            .filter(|(asked, _)| asked.elapsed() < TAX_RATES_FOR)
            .map(|(_, rates)| rates.clone())
    }

    fn keep(&self, tenant: &str, rates: &mapping::XeroTaxRates) {
        self.0
            .lock()
            .expect("not poisoned")
            .insert(tenant.to_owned(), (Instant::now(), rates.clone()));
    }

    /// Forgets a tenant's rates, so the next booking asks Xero again.
    fn forget(&self, tenant: &str) {
        self.0.lock().expect("not poisoned").remove(tenant);
    }
}

/// A document created or found in this batch.
#[derive(Debug, Clone)]
struct Booked {
    row: DocumentRow,
    /// The amount still due (invoice) or credit remaining (credit note), as Xero said.
    outstanding: Decimal,
    /// Created by this batch (and not possibly by an earlier delivery whose answer Xero
    /// replayed): it cannot have payments we do not know about.
    fresh: bool,
}

/// An allocation of a credit note to the invoice it credits (see `Booker::allocate_due`).
pub(crate) struct Allocation<'a> {
    /// The ledger's key for it.
    pub key: &'a str,
    pub credit_note: &'a DocumentRow,
    /// The ledger's key of the credit note.
    pub credit_note_key: &'a str,
    /// Created by this attempt: all its credit is left.
    pub fresh: bool,
    pub invoice_id: &'a str,
    /// What the invoice still owes.
    pub invoice_due: Decimal,
    pub date: &'a str,
}

/// A batch whose invoices are booked and whose payments, refunds and ledger records are not.
#[derive(Clone)]
pub struct Invoiced {
    jobs: Vec<Job>,
    /// Jobs that already failed.
    failures: Vec<Option<ProcessError>>,
    invoices: HashMap<String, Booked>,
}

impl Invoiced {
    /// Jobs in the batch.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The batch's event ids, in order.
    pub fn event_ids(&self) -> Vec<String> {
        self.jobs
            .iter()
            .map(|job| job.envelope.event_id.clone())
            .collect()
    }

    /// Several batches as one, in order, to be settled together.
    pub fn merge(batches: impl IntoIterator<Item = Invoiced>) -> Invoiced {
        let mut merged = Invoiced {
            jobs: Vec::new(),
            failures: Vec::new(),
            invoices: HashMap::new(),
        };
        for batch in batches {
            merged.jobs.extend(batch.jobs);
            merged.failures.extend(batch.failures);
            merged.invoices.extend(batch.invoices);
        }
        merged
    }
}

impl Invoiced {
    /// A batch of one job that failed before it reached Xero.
    fn failed(job: Job, err: ProcessError) -> Invoiced {
        Invoiced {
            jobs: vec![job],
            failures: vec![Some(err)],
            invoices: HashMap::new(),
        }
    }

    /// The batch's jobs one by one, each with what it needs of the batch's invoices.
    fn split(self) -> Vec<Invoiced> {
        let Invoiced {
            jobs,
            failures,
            mut invoices,
        } = self;
        // What a rerun finds in Xero may include payments the panicked run made.
        for invoice in invoices.values_mut() {
            invoice.fresh = false;
        }
        jobs.into_iter()
            .zip(failures)
            .map(|(job, failure)| Invoiced {
                jobs: vec![job],
                failures: vec![failure],
                invoices: invoices.clone(),
            })
            .collect()
    }
}

/// The document an event books, as its log line names it.
#[derive(Debug, Clone)]
pub struct Described {
    /// The Xero document number; several credit notes' numbers, comma-separated.
    pub number: String,
    pub currency: String,
    /// The total the event states: the order's, the refunds' together, or the voided invoice's.
    pub amount: Decimal,
}

impl Job {
    /// The document this job books, by the numbers booking gives it; `None` for stock changes
    /// and events with nothing to book.
    pub fn document(&self, shop: &ShopConfig) -> Option<Described> {
        match &self.work {
            Work::Refunds { refunds, .. } if !refunds.is_empty() => Some(Described {
                number: refunds
                    .iter()
                    .map(|r| {
                        mapping::credit_note_number(&shop.mapping, &r.order_number, &r.refund_id)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                currency: refunds[0].currency.as_str().to_owned(),
                amount: refunds.iter().map(|r| r.total).sum(),
            }),
            Work::Cancel { invoice, .. } => Some(Described {
                number: invoice.number.clone(),
                currency: invoice.currency.clone(),
                amount: invoice.total,
            }),
            work => work.order().map(|order| Described {
                number: mapping::invoice_number(&shop.mapping, &order.number),
                currency: order.currency.as_str().to_owned(),
                amount: order.total,
            }),
        }
    }
}

impl Work {
    /// The order this work books an invoice for, if any.
    pub(crate) fn order(&self) -> Option<&Order> {
        match self {
            Work::Order(order)
            | Work::Refunds {
                order: Some(order), ..
            } => Some(order),
            _ => None,
        }
    }
}

/// Records per page of Xero's paged lists (its default page size).
const XERO_PAGE_SIZE: usize = 100;

/// How many pages of a contact search are read for an exact match: a search term that is a
/// whole e-mail address or contact name matches few contacts.
const CONTACT_SEARCH_PAGES: u32 = 10;

/// `SH-1001` → `invoice:SH-1001`.
fn invoice_key(number: &str) -> String {
    format!("invoice:{number}")
}

fn credit_note_key(number: &str) -> String {
    format!("credit_note:{number}")
}

/// Between an order's invoice number and the count of its bookings, from the second on. Xero
/// keeps the number of a voided invoice (and, strictly read, of a deleted one; notes §3.3), so
/// an order booked again after the processor voided its invoice (cancelled, then reinstated on
/// the platform) needs a new number. Were another order numbered `1001/B2` on the platform
/// (none of the six numbers orders so), Xero's "must be unique" would meet a document whose
/// reference is not this order's, and the event fails as `document_number_taken` rather than
/// booking onto it.
pub const REBOOKING_MARK: &str = "/B";

/// The invoice number of an order's `n`-th booking: `SH-1001`, then `SH-1001/B2`,
/// `SH-1001/B3`, … Derived from the ledger alone (how many of the order's invoices the
/// processor voided), so a retry or a replay asks for the same number and Xero's "must be
/// unique" finds what an earlier attempt created. Cut to Xero's 255 characters from the end
/// of the order's number, keeping the mark and the count.
pub fn booking_number(base: &str, n: u32) -> String {
    if n <= 1 {
        return base.to_owned();
    }
    let suffix = format!("{REBOOKING_MARK}{n}");
    let mut kept = String::new();
    for c in base.chars() {
        if kept.len() + c.len_utf8() + suffix.len() > mapping::XERO_TEXT_MAX {
            break;
        }
        kept.push(c);
    }
    kept + &suffix
}

/// Which invoice an order's event books onto.
enum Booking {
    /// None yet: create one under this number.
    New(String),
    /// This one, booked and live.
    Booked(DocumentRow),
    /// The event was received before the processor voided the order's invoice (the order was
    /// cancelled after it): nothing to book.
    Stale,
}

fn is_missing_contact(messages: &[String]) -> bool {
    messages.iter().any(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("contact") && (m.contains("could not be found") || m.contains("archived"))
    })
}

/// `failures` plus, for each `(follower, first)`, the first's failure for the follower.
fn with_followers(
    mut failures: Vec<(usize, ProcessError)>,
    followers: &[(usize, usize)],
) -> Vec<(usize, ProcessError)> {
    for (follower, first) in followers {
        let inherited = failures
            .iter()
            .find(|(index, _)| index == first)
            .map(|(_, err)| err.clone());
        if let Some(err) = inherited {
            failures.push((*follower, err));
        }
    }
    failures
}

/// Xero refuses a payment larger than what is due: the document may already have it (made by
/// an earlier delivery whose answer never reached the ledger).
fn is_overpayment(messages: &[String]) -> bool {
    messages.iter().any(|m| {
        m.to_ascii_lowercase()
            .contains("exceeds the amount outstanding")
    })
}

/// The contact a document is raised against, before Xero is asked: the ledger's key for it,
/// its name, and the email it is found by (a contact per customer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContactChoice {
    pub key: String,
    pub name: String,
    /// `None` for a contact found by name (the shop's one contact, or its fallback).
    pub email: Option<String>,
}

/// Which contact the shop's contact strategy gives a document of `customer`.
pub(crate) fn contact_choice(
    contacts: &ContactStrategy,
    customer: Option<&Customer>,
) -> ContactChoice {
    let generic = |name: &str| ContactChoice {
        key: format!("name:{name}"),
        name: name.to_owned(),
        email: None,
    };
    match (contacts, customer) {
        (ContactStrategy::Generic { name }, _) => generic(name),
        (ContactStrategy::PerCustomer { fallback }, Some(customer)) => match &customer.email {
            Some(email) if !email.trim().is_empty() => {
                let email = email.trim().to_ascii_lowercase();
                let name = customer
                    .name
                    .clone()
                    .filter(|n| !n.trim().is_empty())
                    .map_or_else(|| email.clone(), |n| format!("{} ({email})", n.trim()));
                ContactChoice {
                    key: format!("email:{email}"),
                    name,
                    email: Some(email),
                }
            }
            _ => generic(fallback),
        },
        (ContactStrategy::PerCustomer { fallback }, None) => generic(fallback),
    }
}

impl Booker {
    pub fn new(xero: XeroClient, ledger: Ledger) -> Self {
        Self {
            xero,
            ledger,
            tax_rates: TaxRateCache::default(),
            stock_guards: crate::stock::StockGuards::default(),
        }
    }

    /// The organisation's tax rates, from the cache or `GET /TaxRates`.
    ///
    /// # Errors
    /// [`ProcessError::Xero`] when Xero cannot be asked (retryable as the call is).
    pub async fn tax_rates(&self, tenant: &str) -> Result<mapping::XeroTaxRates, ProcessError> {
        if let Some(rates) = self.tax_rates.fresh(tenant) {
            return Ok(rates);
        }
        let answer = self
            .xero
            .call(tenant, Method::GET, "/TaxRates", &[], None, None)
            .await?;
        let rates = mapping::XeroTaxRates::from_answer(&answer);
        self.tax_rates.keep(tenant, &rates);
        Ok(rates)
    }

    /// Checks a document Xero just created against the tax the mapping expected of it: a
    /// difference means a tax rate changed in Xero since it was asked, so the rates are asked
    /// again for the next document (this one keeps Xero's figures, which the ledger records).
    fn check_tax(&self, tenant: &str, number: &str, document: &Value, expected: Decimal) {
        let xero = decimal(document, "TotalTax");
        if xero != expected {
            tracing::warn!(%tenant, %number, %xero, %expected, "Xero's tax on a new document is not the one its tax rates gave; asking for the rates again");
            self.tax_rates.forget(tenant);
        }
    }

    /// Books `jobs` (all for `tenant`, in arrival order) and returns each job's outcome in the
    /// same order. Successful jobs are recorded in the ledger.
    pub async fn book(
        &self,
        tenant: &str,
        shops: &BTreeMap<String, ShopConfig>,
        jobs: Vec<Job>,
    ) -> Vec<Result<EventOutcome, ProcessError>> {
        let invoiced = self.invoice(tenant, shops, jobs).await;
        self.settle(tenant, shops, invoiced).await
    }

    /// [`Booker::invoice`], with a panic costing only the job that caused it: the batch is
    /// invoiced again job by job, and the job that panics alone fails with
    /// [`ProcessError::Internal`] (dead-lettered), while its neighbours are booked.
    pub async fn invoice_isolating_panics(
        &self,
        tenant: &str,
        shops: &BTreeMap<String, ShopConfig>,
        jobs: Vec<Job>,
    ) -> Invoiced {
        let whole = crate::error::catch_panic(self.invoice(tenant, shops, jobs.clone())).await;
        let Err(err) = whole else {
            return whole.expect("checked above");
        };
        tracing::error!(%tenant, error = %err, jobs = jobs.len(), "a batch panicked; invoicing its events one by one");
        let mut parts = Vec::with_capacity(jobs.len());
        for job in jobs {
            parts.push(
                match crate::error::catch_panic(self.invoice(tenant, shops, vec![job.clone()]))
                    .await
                {
                    Ok(invoiced) => invoiced,
                    Err(err) => Invoiced::failed(job, err),
                },
            );
        }
        Invoiced::merge(parts)
    }

    /// [`Booker::settle`], with a panic costing only the job that caused it (see
    /// [`Booker::invoice_isolating_panics`]). Rerun jobs read their invoices' state from Xero,
    /// so a payment the panicked run made is adopted, not made again.
    pub async fn settle_isolating_panics(
        &self,
        tenant: &str,
        shops: &BTreeMap<String, ShopConfig>,
        invoiced: Invoiced,
    ) -> Vec<Result<EventOutcome, ProcessError>> {
        let whole = crate::error::catch_panic(self.settle(tenant, shops, invoiced.clone())).await;
        let Err(err) = whole else {
            return whole.expect("checked above");
        };
        tracing::error!(%tenant, error = %err, jobs = invoiced.len(), "a batch panicked; settling its events one by one");
        let mut outcomes = Vec::with_capacity(invoiced.len());
        for one in invoiced.split() {
            match crate::error::catch_panic(self.settle(tenant, shops, one)).await {
                Ok(outcome) => outcomes.extend(outcome),
                Err(err) => outcomes.push(Err(err)),
            }
        }
        outcomes
    }

    /// The first half of [`Booker::book`]: the invoices of every order in the batch, in one
    /// call. The caller may gather several of these before settling them together, so that
    /// one payments call serves several invoice calls.
    pub async fn invoice(
        &self,
        tenant: &str,
        shops: &BTreeMap<String, ShopConfig>,
        jobs: Vec<Job>,
    ) -> Invoiced {
        let mut outcomes: Vec<Option<ProcessError>> = vec![None; jobs.len()];
        let mut invoices: HashMap<String, Booked> = HashMap::new();
        let attempt = jobs.iter().map(|j| j.attempt).max().unwrap_or(0);
        let mut orders = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            match shops.get(&job.envelope.shop) {
                None => {
                    outcomes[index] = Some(ProcessError::UnknownShop(job.envelope.shop.clone()));
                }
                Some(shop) => {
                    if let Some(order) = job.work.order() {
                        orders.push((index, shop, order));
                    }
                }
            }
        }
        let guard = self.stock_guards.of(tenant);
        let writing = guard.read().await;
        if let Err(failures) = self
            .book_invoices(tenant, attempt, &orders, &jobs, &mut invoices)
            .await
        {
            for (index, err) in failures {
                let tracked = shops
                    .get(&jobs[index].envelope.shop)
                    .is_some_and(|shop| shop.inventory == crate::config::InventoryMode::Tracked);
                outcomes[index] = Some(if tracked { err.awaiting_stock() } else { err });
            }
        }
        drop(writing);
        Invoiced {
            jobs,
            failures: outcomes,
            invoices,
        }
    }

    /// The second half of [`Booker::book`]: payments for the invoiced orders (one call for
    /// all of them), then refunds, then the ledger record of every success.
    pub async fn settle(
        &self,
        tenant: &str,
        shops: &BTreeMap<String, ShopConfig>,
        invoiced: Invoiced,
    ) -> Vec<Result<EventOutcome, ProcessError>> {
        let Invoiced {
            jobs,
            failures: mut outcomes,
            mut invoices,
        } = invoiced;
        let attempt = jobs.iter().map(|j| j.attempt).max().unwrap_or(0);

        let mut payments = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let (Some(shop), Some(order), None) = (
                shops.get(&job.envelope.shop),
                job.work.order(),
                &outcomes[index],
            ) else {
                continue;
            };
            let number = mapping::invoice_number(&shop.mapping, &order.number);
            if let Some(invoice) = invoices.get(&invoice_key(&number)) {
                payments.push((index, shop, order, invoice.clone()));
            }
        }
        for (index, err) in self.book_order_payments(tenant, attempt, &payments).await {
            outcomes[index] = Some(err);
        }

        // Refunds, now that the orders before them are booked.
        let guard = self.stock_guards.of(tenant);
        let writing = guard.read().await;
        for (index, job) in jobs.iter().enumerate() {
            if outcomes[index].is_some() {
                continue;
            }
            let shop = &shops[&job.envelope.shop];
            if let Work::Refunds { refunds, .. } = &job.work {
                for refund in refunds {
                    if let Err(err) = self
                        .book_refund(tenant, shop, job, refund, &mut invoices)
                        .await
                    {
                        outcomes[index] = Some(err);
                        break;
                    }
                }
            }
        }

        drop(writing);

        // Stock and nothing-to-book, then the ledger record for every success.
        let mut results = Vec::with_capacity(jobs.len());
        for (job, failure) in jobs.iter().zip(outcomes) {
            results.push(match failure {
                Some(err) => Err(err),
                None => self.finish(job, &shops[&job.envelope.shop]).await,
            });
        }
        results
    }

    async fn finish(&self, job: &Job, shop: &ShopConfig) -> Result<EventOutcome, ProcessError> {
        let (outcome, detail) = match &job.work {
            Work::Order(_) | Work::Refunds { .. } => (EventOutcome::Booked, String::new()),
            Work::Stock(changes) => self.book_stock(job, shop, changes).await?,
            Work::Payouts(settlement) => self.book_settlement(job, shop, settlement).await?,
            Work::Cancel { invoice, .. } => {
                self.book_cancellation(&job.envelope.tenant, job.attempt, invoice)
                    .await?
            }
            Work::Nothing(reason) => (EventOutcome::Skipped, reason.clone()),
        };
        self.ledger
            .record_event(&job.envelope, outcome, &detail)
            .await?;
        Ok(outcome)
    }

    /// Voids the invoice of an order cancelled after it was booked, unless money was paid or
    /// credited against it: then the platform's refunds book that money back, and voiding
    /// would leave them nothing to refund.
    async fn book_cancellation(
        &self,
        tenant: &str,
        attempt: u32,
        invoice: &DocumentRow,
    ) -> Result<(EventOutcome, String), ProcessError> {
        let applied: Decimal = self
            .ledger
            .paid_into(tenant, &invoice_key(&invoice.number))
            .await?
            .values()
            .sum();
        if applied > Decimal::ZERO {
            return Ok((
                EventOutcome::Skipped,
                format!(
                    "the order was cancelled after {applied} was paid or credited on invoice {}; \
                     it stays, and the order's refunds book the money back",
                    invoice.number
                ),
            ));
        }
        let path = format!("/Invoices/{}", invoice.xero_id);
        let body = json!({"Invoices": [{
            "InvoiceID": invoice.xero_id,
            "InvoiceNumber": invoice.number,
            "Status": "VOIDED",
        }]});
        let key = idempotency_key(tenant, attempt, &format!("POST {path}"), &body);
        self.xero
            .call(tenant, Method::POST, &path, &[], Some(&body), Some(&key))
            .await?;
        // Xero keeps the voided invoice's number: an order booked again gets the next one.
        self.ledger
            .mark_voided(tenant, &invoice_key(&invoice.number))
            .await?;
        Ok((
            EventOutcome::Booked,
            format!("invoice {} voided: the order was cancelled", invoice.number),
        ))
    }

    /// Which invoice an event of the order whose first invoice number is `base`, received at
    /// `received_at`, books onto: the latest of the order's bookings when it is live; the next
    /// number when the processor voided it before the event was received (the order was
    /// reinstated on the platform, or booked again); nothing when it voided it after.
    async fn booking_of(
        &self,
        tenant: &str,
        base: &str,
        received_at: &str,
    ) -> Result<Booking, crate::ledger::LedgerError> {
        let mut n = 1;
        loop {
            let number = booking_number(base, n);
            let key = invoice_key(&number);
            let Some(row) = self.ledger.document(tenant, &key).await? else {
                return Ok(Booking::New(number));
            };
            match self.ledger.voided_before(tenant, &key, received_at).await? {
                None => return Ok(Booking::Booked(row)),
                Some(false) => return Ok(Booking::Stale),
                Some(true) => n += 1,
            }
        }
    }

    /// The latest of the bookings of the order whose first invoice number is `base`, voided
    /// or not.
    async fn latest_booking(
        &self,
        tenant: &str,
        base: &str,
    ) -> Result<Option<DocumentRow>, crate::ledger::LedgerError> {
        let mut latest = None;
        for n in 1.. {
            match self
                .ledger
                .document(tenant, &invoice_key(&booking_number(base, n)))
                .await?
            {
                Some(row) => latest = Some(row),
                None => break,
            }
        }
        Ok(latest)
    }

    /// Creates the invoices not yet in the ledger, in one call, adopting any Xero already has.
    async fn book_invoices(
        &self,
        tenant: &str,
        attempt: u32,
        orders: &[(usize, &ShopConfig, &Order)],
        jobs: &[Job],
        booked: &mut HashMap<String, Booked>,
    ) -> Result<(), Vec<(usize, ProcessError)>> {
        let mut failures = Vec::new();
        // Invoice number → (mapped invoice, the jobs waiting for it, order).
        let mut to_create: BTreeMap<String, (MappedInvoice, Vec<usize>, &Order)> = BTreeMap::new();
        // Asked when the first invoice is to be mapped.
        let mut rates: Option<mapping::XeroTaxRates> = None;
        // Booking number → the order's key in `booked` (the key of its first number).
        let mut slots: HashMap<String, String> = HashMap::new();
        for (index, shop, order) in orders {
            let base = mapping::invoice_number(&shop.mapping, &order.number);
            let key = invoice_key(&base);
            if booked.contains_key(&key) {
                continue;
            }
            let received_at = &jobs[*index].envelope.received_at;
            let number = match self.booking_of(tenant, &base, received_at).await {
                Ok(Booking::New(number)) => number,
                // Received before the order was cancelled: its invoice is voided, and this
                // event has nothing to add to it.
                Ok(Booking::Stale) => continue,
                Ok(Booking::Booked(row))
                    if !row.currency.eq_ignore_ascii_case(order.currency.as_str()) =>
                {
                    failures.push((
                        *index,
                        ProcessError::CurrencyChanged {
                            document: format!("invoice {}", row.number),
                            booked: row.currency,
                            event: order.currency.to_string(),
                        },
                    ));
                    continue;
                }
                Ok(Booking::Booked(row)) => {
                    booked.insert(
                        key,
                        Booked {
                            outstanding: Decimal::MIN,
                            row,
                            fresh: false,
                        },
                    );
                    continue;
                }
                Err(err) => {
                    failures.push((*index, err.into()));
                    continue;
                }
            };
            if let Some(entry) = to_create.get_mut(&number) {
                entry.1.push(*index);
                continue;
            }
            slots.insert(number.clone(), key);
            let contact = match self
                .contact(tenant, attempt, shop, order.customer.as_ref())
                .await
            {
                Ok(contact) => contact,
                Err(err) => {
                    failures.push((*index, err));
                    continue;
                }
            };
            #[cfg(feature = "test-faults")]
            crate::faults::mapping(&order.number);
            if rates.is_none() {
                match self.tax_rates(tenant).await {
                    Ok(found) => rates = Some(found),
                    Err(err) => {
                        failures.push((*index, err));
                        continue;
                    }
                }
            }
            let rates = rates.as_ref().expect("asked above");
            match shop
                .mapping
                .invoice(order, contact)
                .and_then(|mapped| mapped.for_xero(&shop.mapping, rates))
            {
                Ok(mut mapped) => {
                    if let Err(err) = self
                        .ensure_items(
                            tenant,
                            attempt,
                            &shop.mapping,
                            &order.lines,
                            &mapped.invoice.line_items,
                        )
                        .await
                    {
                        failures.push((*index, err));
                        continue;
                    }
                    // An order booked again after its invoice was voided has a number of its
                    // own (see `booking_number`).
                    mapped.invoice.invoice_number.clone_from(&number);
                    to_create.insert(number, (mapped, vec![*index], order));
                }
                Err(err) => failures.push((*index, err.into())),
            }
        }
        if to_create.is_empty() {
            return if failures.is_empty() {
                Ok(())
            } else {
                Err(failures)
            };
        }

        let drafts: Vec<Draft<'_>> = to_create
            .iter()
            .map(|(number, (mapped, ..))| Draft {
                number,
                body: json!(&mapped.invoice),
                reference: &mapped.invoice.reference,
                contact_id: &mapped.invoice.contact.contact_id,
                total: mapped.total,
            })
            .collect();
        let written = match self
            .xero
            .put_documents(tenant, attempt, DocumentKind::Invoice, &drafts)
            .await
        {
            Ok(written) => written,
            Err(err) => {
                for (_, waiting, ..) in to_create.values() {
                    failures.extend(
                        waiting
                            .iter()
                            .map(|i| (*i, ProcessError::Xero(err.clone()))),
                    );
                }
                return Err(failures);
            }
        };
        for ((number, (mapped, waiting, order)), written) in to_create.iter().zip(written) {
            let outcome = match written {
                Ok(written) => {
                    // A redelivered job's "created" may be Xero replaying the answer to an
                    // earlier delivery, whose payments may have been made since.
                    let fresh = written.created && !waiting.iter().any(|i| jobs[*i].redelivered);
                    if written.created {
                        self.check_tax(tenant, number, &written.document, mapped.total_tax);
                    }
                    self.record_invoice(
                        tenant,
                        &written.document,
                        number,
                        order,
                        &jobs[waiting[0]],
                        fresh,
                    )
                    .await
                }
                Err(ProcessError::Rejected { messages, .. }) if is_missing_contact(&messages) => {
                    // The cached contact was deleted or archived in Xero (or the ledger
                    // outlived the organisation's data): forget it, and the retry finds or
                    // creates it anew.
                    let contact_id = &mapped.invoice.contact.contact_id;
                    Err(match self.ledger.forget_contact(tenant, contact_id).await {
                        Ok(()) => ProcessError::StaleContact(contact_id.clone()),
                        Err(err) => err.into(),
                    })
                }
                Err(err) => Err(err),
            };
            match outcome {
                Ok(invoice) => {
                    let slot = slots
                        .get(number)
                        .cloned()
                        .unwrap_or_else(|| invoice_key(number));
                    booked.insert(slot, invoice);
                }
                Err(err) => failures.extend(waiting.iter().map(|i| (*i, err.clone()))),
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures)
        }
    }

    /// Records an invoice Xero created or already had (`xero_invoice` is its JSON), for the
    /// order; `fresh` when this batch created it.
    async fn record_invoice(
        &self,
        tenant: &str,
        xero_invoice: &Value,
        number: &str,
        order: &Order,
        job: &Job,
        fresh: bool,
    ) -> Result<Booked, ProcessError> {
        let row = DocumentRow {
            xero_id: text(xero_invoice, "InvoiceID"),
            number: number.to_owned(),
            currency: text(xero_invoice, "CurrencyCode"),
            total: decimal(xero_invoice, "Total"),
            order_number: order.number.clone(),
            tax_mode: order.tax_mode,
        };
        self.record_document(tenant, "invoice", &row, &order.order_id, job, &order.lines)
            .await?;
        Ok(Booked {
            outstanding: decimal(xero_invoice, "AmountDue"),
            row,
            fresh,
        })
    }

    async fn record_document(
        &self,
        tenant: &str,
        kind: &str,
        row: &DocumentRow,
        business_key: &str,
        job: &Job,
        lines: &[xcs_shared::domain::Line],
    ) -> Result<(), ProcessError> {
        let key = if kind == "invoice" {
            invoice_key(&row.number)
        } else {
            credit_note_key(&row.number)
        };
        self.ledger
            .record_document(
                tenant,
                &key,
                kind,
                row,
                &job.envelope.shop,
                business_key,
                &job.envelope.event_id,
                Some(&refund_limit::quantities(lines)),
            )
            .await?;
        Ok(())
    }

    /// A payment Xero refused as larger than what is due: adopted when the invoice already
    /// has it (same reference), refused for the operator otherwise (paid some other way).
    async fn adopt_payment(
        &self,
        tenant: &str,
        invoice_id: &str,
        key: &str,
        payment: &PlannedPayment,
        doc_key: &str,
        errors: Vec<String>,
    ) -> Result<(), ProcessError> {
        let state = self
            .xero
            .document_state(tenant, DocumentKind::Invoice, invoice_id)
            .await?;
        if !state.references.contains(&payment.reference) {
            return Err(ProcessError::Rejected {
                document: format!("payment {key}"),
                messages: errors,
            });
        }
        let adopted = RecordedPayment {
            key,
            xero_id: "adopted",
            doc_key,
            account: &payment.account,
            amount: payment.amount,
        };
        Ok(self.ledger.record_payment(tenant, &adopted).await?)
    }

    /// Pays the batch's invoices what their orders say was received, in one call.
    async fn book_order_payments(
        &self,
        tenant: &str,
        attempt: u32,
        payments: &[(usize, &ShopConfig, &Order, Booked)],
    ) -> Vec<(usize, ProcessError)> {
        let mut failures = Vec::new();
        let mut planned: Vec<(usize, String, String, PlannedPayment, String)> = Vec::new();
        // Two events of one batch can report the same order paid (Shopify's orders/create and
        // orders/paid arrive together, or the platform sent one event twice): the payment they
        // both ask for is made once, by the first, and the others share its fate. Were a
        // second copy of an event recorded as booked while the first failed, the first's
        // retry would be dropped as a duplicate and the payment never made (found by the
        // chaos run).
        let mut planned_keys: HashMap<String, usize> = HashMap::new();
        let mut followers: Vec<(usize, usize)> = Vec::new();
        let mut wanted = Vec::new();
        for (index, shop, order, invoice) in payments {
            // The platform's payments into each account, against what the ledger has paid
            // into it: only the difference is paid, so a later capture (or a second event
            // reporting more paid) books what is new, and an echo books nothing and costs no
            // call. The key names the cumulative amount, so the same state always yields the
            // same payment.
            let doc_key = invoice_key(&invoice.row.number);
            let recorded = match self.ledger.paid_into(tenant, &doc_key).await {
                Ok(recorded) => recorded,
                Err(err) => {
                    failures.push((*index, err.into()));
                    continue;
                }
            };
            let mut by_account: BTreeMap<String, (Decimal, PlannedPayment)> = BTreeMap::new();
            for payment in shop.mapping.order_payments(order, invoice.row.total) {
                by_account
                    .entry(payment.account.clone())
                    .and_modify(|(total, _)| *total += payment.amount)
                    .or_insert((payment.amount, payment));
            }
            let mut unseen = Vec::new();
            for (account, (target, first)) in by_account {
                let missing = target - recorded.get(&account).copied().unwrap_or_default();
                if missing <= Decimal::ZERO {
                    continue;
                }
                let key = format!("payment:{}:{account}:{target}", invoice.row.number);
                let already = recorded.get(&account).copied().unwrap_or_default();
                // A later capture names the cumulative amount, so it cannot be mistaken for
                // the first payment when looking for payments made before a crash.
                let reference = if already.is_zero() {
                    first.reference.clone()
                } else {
                    format!("{}, to {target}", first.reference)
                };
                unseen.push((
                    key,
                    PlannedPayment {
                        amount: missing,
                        reference: reference.chars().take(255).collect(),
                        ..first
                    },
                ));
            }
            if !unseen.is_empty() {
                wanted.push((*index, invoice, doc_key, unseen));
            }
        }

        // An invoice this batch did not create may have payments the ledger does not know
        // (made before a crash): what Xero has now, for all of them in one call.
        let not_fresh: Vec<&str> = wanted
            .iter()
            .filter(|(_, invoice, ..)| !invoice.fresh)
            .map(|(_, invoice, ..)| invoice.row.xero_id.as_str())
            .collect();
        let states = match self.xero.invoice_states(tenant, &not_fresh).await {
            Ok(states) => states,
            Err(err) => {
                failures.extend(
                    wanted
                        .iter()
                        .filter(|(_, invoice, ..)| !invoice.fresh)
                        .map(|(index, ..)| (*index, ProcessError::Xero(err.clone()))),
                );
                wanted.retain(|(_, invoice, ..)| invoice.fresh);
                HashMap::new()
            }
        };

        // Events of one order report what is paid so far, each against the same recorded
        // figure: only the highest target per invoice and account is paid (the others'
        // payments are part of it, and they share its fate), and what is due is spent once
        // per invoice. Paying each event's difference would pay 218.50 and then 330.60 more
        // of a 330.60 order (found with Adobe Commerce's captures in a backlog).
        let mut highest: HashMap<(&str, &str), (usize, &str, Decimal)> = HashMap::new();
        for (index, _, doc_key, unseen) in &wanted {
            for (key, payment) in unseen {
                let slot = (doc_key.as_str(), payment.account.as_str());
                let entry = highest
                    .entry(slot)
                    .or_insert((*index, key.as_str(), payment.amount));
                if payment.amount > entry.2 {
                    *entry = (*index, key.as_str(), payment.amount);
                }
            }
        }
        let highest: HashMap<(String, String), (usize, String)> = highest
            .into_iter()
            .map(|((doc, account), (index, key, _))| {
                (
                    (doc.to_owned(), account.to_owned()),
                    (index, key.to_owned()),
                )
            })
            .collect();
        let mut dues: HashMap<String, Decimal> = HashMap::new();
        for (index, invoice, doc_key, unseen) in wanted {
            let (existing, outstanding) = if invoice.fresh {
                (&[][..], invoice.outstanding)
            } else if let Some(state) = states.get(&invoice.row.xero_id) {
                (state.references.as_slice(), state.outstanding)
            } else {
                failures.push((
                    index,
                    ProcessError::Xero(XeroError::NotFound(format!(
                        "/Invoices/{}",
                        invoice.row.xero_id
                    ))),
                ));
                continue;
            };
            let due = dues
                .entry(invoice.row.xero_id.clone())
                .or_insert(outstanding);
            for (key, payment) in unseen {
                if let Some((top, top_key)) =
                    highest.get(&(doc_key.clone(), payment.account.clone()))
                    && *top_key != key
                {
                    if *top != index {
                        followers.push((index, *top));
                    }
                    continue;
                }
                if let Some(first) = planned_keys.get(&key) {
                    if *first != index {
                        followers.push((index, *first));
                    }
                    continue;
                }
                planned_keys.insert(key.clone(), index);
                if existing.contains(&payment.reference) {
                    // Made before a crash: adopt it.
                    let adopted = RecordedPayment {
                        key: &key,
                        xero_id: "adopted",
                        doc_key: &doc_key,
                        account: &payment.account,
                        amount: payment.amount,
                    };
                    if let Err(err) = self.ledger.record_payment(tenant, &adopted).await {
                        failures.push((index, err.into()));
                    }
                    continue;
                }
                let amount = payment.amount.min(*due);
                if amount <= Decimal::ZERO {
                    continue;
                }
                *due -= amount;
                planned.push((
                    index,
                    key,
                    invoice.row.xero_id.clone(),
                    PlannedPayment { amount, ..payment },
                    doc_key.clone(),
                ));
            }
        }
        if planned.is_empty() {
            return failures;
        }
        let payments: Vec<_> = planned
            .iter()
            .map(|(_, _, invoice_id, p, _)| {
                p.to_xero(PaymentTarget::Invoice {
                    invoice_id: invoice_id.clone(),
                })
            })
            .collect();
        let made = match self.xero.put_payments(tenant, attempt, &payments).await {
            Ok(made) => made,
            Err(err) => {
                failures.extend(
                    planned
                        .iter()
                        .map(|(i, ..)| (*i, ProcessError::Xero(err.clone()))),
                );
                return with_followers(failures, &followers);
            }
        };
        for ((index, key, invoice_id, payment, doc_key), made) in planned.iter().zip(made) {
            match made {
                Err(errors) if is_overpayment(&errors) => {
                    if let Err(err) = self
                        .adopt_payment(tenant, invoice_id, key, payment, doc_key, errors)
                        .await
                    {
                        failures.push((*index, err));
                    }
                }
                Ok(payment_id) => {
                    let made = RecordedPayment {
                        key,
                        xero_id: &payment_id,
                        doc_key,
                        account: &payment.account,
                        amount: payment.amount,
                    };
                    if let Err(err) = self.ledger.record_payment(tenant, &made).await {
                        failures.push((*index, err.into()));
                    }
                }
                Err(errors) => {
                    failures.push((
                        *index,
                        ProcessError::rejected(format!("payment {key}"), errors),
                    ));
                }
            }
        }
        with_followers(failures, &followers)
    }

    /// The refund's credit-note number and its ledger row if it is booked: under today's
    /// number, or under the one it was booked with before numbers marked the refund
    /// unambiguously, which it then keeps.
    async fn credit_note_booked(
        &self,
        tenant: &str,
        shop: &ShopConfig,
        refund: &Refund,
    ) -> Result<(String, Option<DocumentRow>), ProcessError> {
        let number =
            mapping::credit_note_number(&shop.mapping, &refund.order_number, &refund.refund_id);
        if let Some(row) = self
            .ledger
            .document(tenant, &credit_note_key(&number))
            .await?
        {
            return Ok((number, Some(row)));
        }
        let legacy = mapping::legacy_credit_note_number(
            &shop.mapping,
            &refund.order_number,
            &refund.refund_id,
        );
        match self
            .ledger
            .document(tenant, &credit_note_key(&legacy))
            .await?
        {
            Some(row) => Ok((legacy, Some(row))),
            None => Ok((number, None)),
        }
    }

    /// Books one refund: the credit note, its allocation to the invoice while anything is due,
    /// and a refund payment for the money that left.
    async fn book_refund(
        &self,
        tenant: &str,
        shop: &ShopConfig,
        job: &Job,
        refund: &Refund,
        invoices: &mut HashMap<String, Booked>,
    ) -> Result<(), ProcessError> {
        let attempt = job.attempt;
        let invoice_number = mapping::invoice_number(&shop.mapping, &refund.order_number);
        let invoice = match invoices.get(&invoice_key(&invoice_number)) {
            Some(invoice) => invoice.row.clone(),
            None => self
                .latest_booking(tenant, &invoice_number)
                .await?
                .ok_or_else(|| ProcessError::OrderNotBooked {
                    order: refund.order_number.clone(),
                    order_id: refund.order_id.clone(),
                })?,
        };
        if !invoice
            .currency
            .eq_ignore_ascii_case(refund.currency.as_str())
        {
            return Err(ProcessError::CurrencyChanged {
                document: format!("invoice {}", invoice.number),
                booked: invoice.currency,
                event: refund.currency.to_string(),
            });
        }
        let (number, booked_note) = self.credit_note_booked(tenant, shop, refund).await?;
        let key = credit_note_key(&number);
        if booked_note.is_none() {
            // Checked before anything is written, and before waiting for the order's payment:
            // a refund larger than its order would otherwise wait out the retry tiers for
            // money that can never be enough.
            let sold = self
                .ledger
                .document_quantities(tenant, &invoice_key(&invoice.number))
                .await?;
            let (credited, credited_quantities) = self
                .ledger
                .credited_for_order(tenant, &job.envelope.shop, &invoice.order_number)
                .await?;
            refund_limit::check(
                refund,
                &refund_limit::OrderSoFar {
                    document: &format!("invoice {}", invoice.number),
                    total: invoice.total,
                    sold: sold.as_ref(),
                    credited,
                    credited_quantities: &credited_quantities,
                },
            )?;
        }
        let allocation_key = format!("allocation:{number}");
        let invoice_now = if self.ledger.payment_exists(tenant, &allocation_key).await? {
            None
        } else {
            let state = self
                .xero
                .document_state(tenant, DocumentKind::Invoice, &invoice.xero_id)
                .await?;
            // Money goes back only after it came in. A refund read while its order's payment
            // is still on its way (in a retry tier, or another batch) would be set against the
            // unpaid invoice and the payment then cut to what is left: the clearing account
            // would show neither the payment nor the refund as the gateway made them (found by
            // the chaos run). So it waits, as for an order not booked yet.
            let money_out: Decimal = refund.returned.iter().map(|p| round2(p.amount)).sum();
            if money_out > state.paid {
                return Err(ProcessError::OrderNotPaid {
                    order: refund.order_number.clone(),
                    order_id: refund.order_id.clone(),
                });
            }
            Some(state)
        };
        let (credit_note, fresh) = match booked_note {
            Some(row) => (row, false),
            None => {
                let contact = self
                    .refund_contact(tenant, job.attempt, shop, &invoice)
                    .await?;
                let rates = self.tax_rates(tenant).await?;
                let mapped = shop
                    .mapping
                    .credit_note(refund, contact)?
                    .for_xero(&shop.mapping, &rates)?;
                self.ensure_items(
                    tenant,
                    job.attempt,
                    &shop.mapping,
                    &refund.lines,
                    &mapped.credit_note.line_items,
                )
                .await?;
                let row = self
                    .create_credit_note(tenant, job.attempt, &number, &mapped, refund)
                    .await?;
                self.record_document(
                    tenant,
                    "credit_note",
                    &row,
                    &refund.refund_id,
                    job,
                    &refund.lines,
                )
                .await?;
                (row, true)
            }
        };

        // Allocate what the invoice still owes; the rest of the credit is paid out.
        let remaining = match invoice_now {
            Some(invoice_now) => {
                self.allocate_due(
                    tenant,
                    attempt,
                    &Allocation {
                        key: &allocation_key,
                        credit_note: &credit_note,
                        credit_note_key: &key,
                        fresh,
                        invoice_id: &invoice.xero_id,
                        invoice_due: invoice_now.outstanding,
                        date: &refund.date.to_string(),
                    },
                )
                .await?
            }
            None if fresh => credit_note.total,
            None => {
                self.xero
                    .document_state(tenant, DocumentKind::CreditNote, &credit_note.xero_id)
                    .await?
                    .outstanding
            }
        };

        for (n, payment) in shop
            .mapping
            .refund_payments(refund, remaining)
            .into_iter()
            .enumerate()
        {
            let payment_key = format!("refund_payment:{number}:{n}");
            if self.ledger.payment_exists(tenant, &payment_key).await? {
                continue;
            }
            let target = PaymentTarget::CreditNote {
                credit_note_id: credit_note.xero_id.clone(),
            };
            let made = self
                .xero
                .put_payments(tenant, attempt, &[payment.to_xero(target)])
                .await?
                .remove(0)
                .map_err(|messages| {
                    ProcessError::rejected(format!("refund payment {payment_key}"), messages)
                })?;
            self.ledger
                .record_payment(
                    tenant,
                    &RecordedPayment {
                        key: &payment_key,
                        xero_id: &made,
                        doc_key: &key,
                        account: &payment.account,
                        amount: payment.amount,
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Allocates to an invoice as much of a credit note as the invoice still owes (once: the
    /// allocation is recorded under its key, even when nothing was due), and returns the
    /// credit left, which is paid out.
    pub(crate) async fn allocate_due(
        &self,
        tenant: &str,
        attempt: u32,
        allocation: &Allocation<'_>,
    ) -> Result<Decimal, ProcessError> {
        let credit_note = allocation.credit_note;
        let credit_left = if allocation.fresh {
            credit_note.total
        } else {
            self.xero
                .document_state(tenant, DocumentKind::CreditNote, &credit_note.xero_id)
                .await?
                .outstanding
        };
        let amount = round2(allocation.invoice_due.min(credit_left));
        if amount > Decimal::ZERO {
            self.xero
                .allocate(
                    tenant,
                    attempt,
                    &credit_note.xero_id,
                    allocation.invoice_id,
                    amount,
                    allocation.date,
                )
                .await?;
        }
        self.ledger
            .record_payment(
                tenant,
                &RecordedPayment {
                    key: allocation.key,
                    xero_id: "allocation",
                    doc_key: allocation.credit_note_key,
                    account: "",
                    amount,
                },
            )
            .await?;
        Ok(credit_left - amount)
    }

    async fn create_credit_note(
        &self,
        tenant: &str,
        attempt: u32,
        number: &str,
        mapped: &MappedCreditNote,
        refund: &Refund,
    ) -> Result<DocumentRow, ProcessError> {
        let note = &mapped.credit_note;
        let draft = Draft {
            number,
            body: json!(note),
            reference: &note.reference,
            contact_id: &note.contact.contact_id,
            total: mapped.total,
        };
        let written = self
            .xero
            .put_documents(tenant, attempt, DocumentKind::CreditNote, &[draft])
            .await?
            .remove(0)?;
        if written.created {
            self.check_tax(tenant, number, &written.document, mapped.total_tax);
        }
        Ok(DocumentRow {
            xero_id: DocumentKind::CreditNote.id_of(&written.document),
            number: number.to_owned(),
            currency: note.currency_code.clone(),
            total: if written.created {
                mapped.total
            } else {
                decimal(&written.document, "Total")
            },
            order_number: refund.order_number.clone(),
            tax_mode: refund.tax_mode,
        })
    }

    /// The contact a refund of `invoice` is credited to: the invoice's own. With a contact per
    /// customer that is read from the invoice in Xero (refunds rarely carry the customer, and
    /// crediting the fallback contact would leave the customer owing and the fallback in
    /// credit); the generic contact is the invoice's anyway.
    async fn refund_contact(
        &self,
        tenant: &str,
        attempt: u32,
        shop: &ShopConfig,
        invoice: &DocumentRow,
    ) -> Result<ContactRef, ProcessError> {
        if let ContactStrategy::PerCustomer { .. } = shop.contacts {
            let found = self
                .xero
                .call(
                    tenant,
                    Method::GET,
                    &format!("/Invoices/{}", invoice.xero_id),
                    &[],
                    None,
                    None,
                )
                .await?;
            let id = text(&found["Invoices"][0]["Contact"], "ContactID");
            if !id.is_empty() {
                return Ok(ContactRef { contact_id: id });
            }
        }
        self.contact(tenant, attempt, shop, None).await
    }

    /// `GET /Contacts` with `query`.
    async fn get_contacts(
        &self,
        tenant: &str,
        query: &[(&str, &str)],
    ) -> Result<Value, ProcessError> {
        Ok(self
            .xero
            .call(tenant, Method::GET, "/Contacts", query, None, None)
            .await?)
    }

    /// The id of an archived contact named `name`, if Xero has one.
    async fn archived_contact(
        &self,
        tenant: &str,
        name: &str,
    ) -> Result<Option<String>, ProcessError> {
        let Some(literal) = crate::xero::filter::string_literal(name) else {
            return Ok(None);
        };
        let filter = format!("Name=={literal}");
        let found = self
            .get_contacts(tenant, &[("where", &filter), ("includeArchived", "true")])
            .await?;
        Ok(found["Contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| {
                text(c, "ContactStatus") == "ARCHIVED"
                    && text(c, "Name").trim().eq_ignore_ascii_case(name.trim())
            })
            .map(|c| text(c, "ContactID")))
    }

    /// The active contact whose `field` (`EmailAddress` or `Name`) is `value`, compared as Xero
    /// compares (case-insensitively): by a `where` filter when `value` can stand in one, and
    /// otherwise by `searchTerm` (a plain parameter, no expression), page by page, matched
    /// exactly here. Either way the contact returned is checked to be the one asked for.
    async fn find_contact(
        &self,
        tenant: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, ProcessError> {
        let is_it = |contact: &Value| {
            text(contact, field)
                .trim()
                .eq_ignore_ascii_case(value.trim())
        };
        if let Some(literal) = crate::xero::filter::string_literal(value) {
            let found = self
                .xero
                .get_where(tenant, "/Contacts", &format!("{field}=={literal}"))
                .await?;
            return Ok(found["Contacts"]
                .as_array()
                .and_then(|contacts| contacts.iter().find(|c| is_it(c)))
                .map(|contact| text(contact, "ContactID")));
        }
        for page in 1..=CONTACT_SEARCH_PAGES {
            let page = page.to_string();
            let found = self
                .get_contacts(tenant, &[("searchTerm", value), ("page", &page)])
                .await?;
            let contacts = found["Contacts"].as_array().cloned().unwrap_or_default();
            if let Some(contact) = contacts.iter().find(|c| is_it(c)) {
                return Ok(Some(text(contact, "ContactID")));
            }
            if contacts.len() < XERO_PAGE_SIZE {
                break;
            }
        }
        Ok(None)
    }

    /// In items mode, makes sure every item `lines` name exists in Xero before a document
    /// carrying their codes is sent (`mapped` are the document's Xero lines, whose account and
    /// tax type a new item's sales details take). Each code costs Xero calls once per tenant:
    /// the ledger's `xcs_items` answers after that. README "Inventory: items mode".
    async fn ensure_items(
        &self,
        tenant: &str,
        attempt: u32,
        mapping: &mapping::ShopMapping,
        lines: &[xcs_shared::domain::Line],
        mapped: &[crate::xero::types::LineItem],
    ) -> Result<(), ProcessError> {
        for spec in mapping.item_specs(lines) {
            let Some(line) = mapped.iter().find(|l| {
                l.item_code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(&spec.code))
            }) else {
                continue;
            };
            let claimed = match self.ledger.item(tenant, &spec.code).await? {
                Some(row) => row,
                None => {
                    let Some(id) = self
                        .find_or_create_item(
                            tenant,
                            attempt,
                            &spec,
                            &line.account_code,
                            Some(&line.tax_type),
                        )
                        .await?
                    else {
                        continue;
                    };
                    let sku = spec.derived.then_some(spec.sku.as_str());
                    self.ledger
                        .record_item(tenant, &spec.code, &id, sku)
                        .await?
                }
            };
            if let (true, Some(other)) = (spec.derived, &claimed.1)
                && !other.eq_ignore_ascii_case(&spec.sku)
            {
                return Err(ProcessError::Rejected {
                    document: format!("item {}", spec.code),
                    messages: vec![format!(
                        "SKU {:?} maps to the Xero item code {}, which SKU {other:?} already \
                         has; give one of them its own code in [shops.NAME.mapping.items]",
                        spec.sku, spec.code
                    )],
                });
            }
        }
        Ok(())
    }

    /// The id of the Xero item `code`, if Xero has one.
    async fn find_item(&self, tenant: &str, code: &str) -> Result<Option<String>, ProcessError> {
        Ok(self
            .xero_item(tenant, code)
            .await?
            .map(|item| text(&item, "ItemID")))
    }

    /// The Xero item `code` as `GET /Items?where=Code=="…"` gives it, if Xero has one (Xero
    /// compares codes case-insensitively); `None` also for a code that cannot stand in a
    /// `where` filter (a quote or backslash, from `mapping.items`), left to the seller to have
    /// made.
    pub(crate) async fn xero_item(
        &self,
        tenant: &str,
        code: &str,
    ) -> Result<Option<Value>, ProcessError> {
        let Some(literal) = crate::xero::filter::string_literal(code) else {
            return Ok(None);
        };
        let found = self
            .xero
            .get_where(tenant, "/Items", &format!("Code=={literal}"))
            .await?;
        Ok(found["Items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| text(i, "Code").eq_ignore_ascii_case(code))
            .cloned())
    }

    /// The item `spec` names: found in Xero, or created there, sold with `account` and
    /// `tax_type` (the account's default tax without one): untracked and not purchased, or in
    /// tracked mode tracked, with the inventory asset and cost-of-goods-sold accounts Xero
    /// requires of a tracked item (spec `Item.InventoryAssetAccountCode`). Two processors
    /// creating the same code at once: Xero refuses the second as a duplicate, which then
    /// finds the first's. `None` for a code from `mapping.items` that cannot stand in a
    /// `where` filter: it is left to the seller to have made, as without items mode.
    pub(crate) async fn find_or_create_item(
        &self,
        tenant: &str,
        attempt: u32,
        spec: &mapping::ItemSpec,
        account: &str,
        tax_type: Option<&str>,
    ) -> Result<Option<String>, ProcessError> {
        if crate::xero::filter::string_literal(&spec.code).is_none() {
            return Ok(None);
        }
        if let Some(id) = self.find_item(tenant, &spec.code).await? {
            return Ok(Some(id));
        }
        let mut sales = json!({"AccountCode": account});
        if let Some(tax_type) = tax_type {
            sales["TaxType"] = json!(tax_type);
        }
        let mut item = json!({
            "Code": spec.code,
            "Name": spec.name,
            "Description": spec.description,
            "IsSold": true,
            "IsPurchased": false,
            "SalesDetails": sales,
        });
        if let Some((inventory, cost_of_goods_sold)) = &spec.tracked {
            item["IsPurchased"] = json!(true);
            item["InventoryAssetAccountCode"] = json!(inventory);
            item["PurchaseDetails"] = json!({"COGSAccountCode": cost_of_goods_sold});
        }
        let body = json!({"Items": [item]});
        let messages = match self
            .xero
            .write(tenant, attempt, Method::PUT, "/Items", &body)
            .await
        {
            Ok(created) => {
                let element = &created["Items"][0];
                let errors = element_errors(element);
                if errors.is_empty() {
                    return Ok(Some(text(element, "ItemID")));
                }
                errors
            }
            Err(XeroError::Validation(messages)) => messages,
            Err(err) => return Err(err.into()),
        };
        if messages
            .iter()
            .any(|m| m.to_ascii_lowercase().contains("already exists"))
            && let Some(id) = self.find_item(tenant, &spec.code).await?
        {
            return Ok(Some(id));
        }
        Err(ProcessError::rejected(
            format!("item {}", spec.code),
            messages,
        ))
    }

    /// The contact to raise documents against, created in Xero on first use.
    pub(crate) async fn contact(
        &self,
        tenant: &str,
        attempt: u32,
        shop: &ShopConfig,
        customer: Option<&Customer>,
    ) -> Result<ContactRef, ProcessError> {
        let ContactChoice { key, name, email } = contact_choice(&shop.contacts, customer);
        self.contact_by(tenant, attempt, &key, name, email).await
    }

    /// The contact named `name`, found in Xero or created (stock adjustments' supplier).
    pub(crate) async fn named_contact(
        &self,
        tenant: &str,
        attempt: u32,
        name: &str,
    ) -> Result<String, ProcessError> {
        let contact = self
            .contact_by(
                tenant,
                attempt,
                &format!("name:{name}"),
                name.to_owned(),
                None,
            )
            .await?;
        Ok(contact.contact_id)
    }

    /// The contact the ledger knows by `key`, else found in Xero by email or name, else
    /// created.
    async fn contact_by(
        &self,
        tenant: &str,
        attempt: u32,
        key: &str,
        name: String,
        email: Option<String>,
    ) -> Result<ContactRef, ProcessError> {
        if let Some(id) = self.ledger.contact(tenant, key).await? {
            return Ok(ContactRef { contact_id: id });
        }
        let found = match &email {
            Some(email) => self.find_contact(tenant, "EmailAddress", email).await?,
            None => self.find_contact(tenant, "Name", &name).await?,
        };
        let id = match found {
            Some(id) => id,
            None => {
                // The shop's own contact, archived (or merged away) in Xero: a new one of the
                // same name would undo that behind the seller's back. A customer's contact is
                // made anew instead: sellers archive customers they have not sold to for a
                // while, and the customer's new order must still be booked.
                if email.is_none()
                    && let Some(archived) = self.archived_contact(tenant, &name).await?
                {
                    return Err(ProcessError::ContactArchived { name, id: archived });
                }
                let mut contact = json!({"Name": name});
                if let Some(email) = &email {
                    contact["EmailAddress"] = json!(email);
                }
                let body = json!({"Contacts": [contact]});
                let created = self
                    .xero
                    .write(tenant, attempt, Method::PUT, "/Contacts", &body)
                    .await?;
                let element = &created["Contacts"][0];
                let errors = element_errors(element);
                if !errors.is_empty() {
                    return Err(ProcessError::Rejected {
                        document: format!("contact {name}"),
                        messages: errors,
                    });
                }
                text(element, "ContactID")
            }
        };
        self.ledger.record_contact(tenant, key, &id).await?;
        Ok(ContactRef { contact_id: id })
    }
}

#[cfg(test)]
mod numbering_tests {
    use super::*;

    #[test]
    fn an_order_booked_again_gets_the_next_number_and_the_same_one_every_time() {
        assert_eq!(booking_number("SH-1001", 1), "SH-1001");
        assert_eq!(booking_number("SH-1001", 2), "SH-1001/B2");
        assert_eq!(booking_number("SH-1001", 3), "SH-1001/B3");
        assert_eq!(booking_number("SH-1001", 2), booking_number("SH-1001", 2));
        // The count never runs into another booking's key.
        assert_ne!(
            invoice_key(&booking_number("SH-1001", 2)),
            invoice_key("SH-1001")
        );
    }

    #[test]
    fn a_number_at_xeros_limit_is_cut_before_the_mark_and_count() {
        let base = "E".repeat(mapping::XERO_TEXT_MAX);
        let again = booking_number(&base, 12);
        assert_eq!(again.len(), mapping::XERO_TEXT_MAX);
        assert!(again.ends_with("/B12"), "{again}");
        assert_ne!(booking_number(&base, 12), booking_number(&base, 13));
    }
}
