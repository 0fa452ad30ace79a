//! The library API: configure, start on the current Tokio runtime, and drive the simulator from
//! tests. The helpers call the same code as the `/__sim` admin endpoints, without HTTP.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::clock::SimClock;
use crate::faults::{Fault, QueuedFault};
use crate::journal::{Journal, JournalEntry};
use crate::oauth::TokenSet;
use crate::organisations::{self, NewOrganisation, OrganisationError};
use crate::ratelimit::RateLimits;
use crate::readings::Readings;
use crate::seed::Seed;
use crate::server::{self, API_BASE};
use crate::state::{Records, Shared, World};

/// How to start a simulator.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Apps and organisations.
    pub seed: Seed,
    /// Simulated start time; real now when `None`.
    pub start_at: Option<OffsetDateTime>,
    /// Latency added to every API and identity call.
    pub latency: Duration,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Also append the journal to this JSON-lines file.
    pub journal_path: Option<PathBuf>,
    /// HTTP worker threads.
    pub workers: usize,
    /// Organisations added after the seed's, as `POST /__sim/organisations` adds them.
    pub organisations: Vec<NewOrganisation>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::demo()
    }
}

impl SimConfig {
    /// The demo seed on `127.0.0.1:0`, Xero's default limits, no latency.
    pub fn demo() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: Seed::demo(),
            start_at: None,
            latency: Duration::ZERO,
            rate_limits: RateLimits::default(),
            journal_path: None,
            workers: 1,
            organisations: Vec::new(),
        }
    }

    /// Replaces the seed.
    pub fn with_seed(mut self, seed: Seed) -> Self {
        self.seed = seed;
        self
    }

    /// Adds `n` clones of the first tenant (see [`Seed::with_extra_tenants`]).
    pub fn with_extra_tenants(mut self, n: usize) -> Self {
        self.seed = self.seed.with_extra_tenants(n);
        self
    }

    /// Starts the simulated clock at `at`.
    pub fn starting_at(mut self, at: OffsetDateTime) -> Self {
        self.start_at = Some(at);
        self
    }

    /// Sets the default latency.
    pub fn with_latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Sets the rate limits.
    pub fn with_rate_limits(mut self, limits: RateLimits) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Adds an organisation at start (see [`crate::organisations`]); it joins the seed, so a
    /// reset keeps it.
    pub fn with_organisation(mut self, organisation: NewOrganisation) -> Self {
        self.organisations.push(organisation);
        self
    }

    /// Appends the journal to a file.
    pub fn with_journal_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal_path = Some(path.into());
        self
    }
}

/// Starts simulators.
#[derive(Debug)]
pub struct XeroSim;

impl XeroSim {
    /// Binds the listener and spawns the server on the current Tokio runtime.
    ///
    /// # Errors
    /// When the address cannot be bound, the journal file cannot be opened, the seed's
    /// contacts or items break Xero's rules or an added organisation's id is taken.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    pub fn start(config: SimConfig) -> anyhow::Result<RunningSim> {
        let clock = SimClock::new(config.start_at);
        let mut world = World::from_seed(config.seed, config.rate_limits, clock.now())?;
        for organisation in config.organisations {
            let name = organisation.tenant.name.clone();
            world
                .add_organisation(organisation, clock.now())
                .with_context(|| format!("cannot add the organisation \"{name}\""))?;
        }
        let journal = Journal::open(config.journal_path.as_deref())?;
        let shared = Arc::new(Shared::new(world, clock, journal, config.latency));
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        let data = web::Data::new(Arc::clone(&shared));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                // The largest body any reading allows; `Readings::max_request_bytes` refuses
                // what the reading in force does not (Xero: 3.5 MB, notes §3.4).
                .app_data(web::PayloadConfig::new(
                    crate::readings::LENIENT_MAX_REQUEST_BYTES,
                ))
                .default_service(web::to(server::dispatch))
        })
        .workers(config.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        tracing::info!(%addr, "xero-sim listening");
        Ok(RunningSim {
            addr,
            shared,
            handle,
        })
    }
}

/// A running simulator. Dropping it leaves the server running until the runtime ends; call
/// [`RunningSim::stop`] to stop it earlier.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: ServerHandle,
}

impl RunningSim {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn root_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The Accounting API base, `http://127.0.0.1:PORT/api.xro/2.0` (Xero:
    /// `https://api.xero.com/api.xro/2.0`).
    pub fn base_url(&self) -> String {
        format!("{}{API_BASE}", self.root_url())
    }

    /// The identity base, `http://127.0.0.1:PORT` (Xero: `https://identity.xero.com`); the token
    /// endpoint is `{identity_url}/connect/token`.
    pub fn identity_url(&self) -> String {
        self.root_url()
    }

    /// `{identity_url}/connect/token`.
    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.root_url())
    }

    /// The consent URL (Xero: `https://login.xero.com/identity/connect/authorize`).
    pub fn authorize_url(&self) -> String {
        format!("{}/identity/connect/authorize", self.root_url())
    }

    /// `GET /connections` (Xero: `https://api.xero.com/connections`).
    pub fn connections_url(&self) -> String {
        format!("{}/connections", self.root_url())
    }

    /// Simulated now.
    pub fn now(&self) -> OffsetDateTime {
        self.shared.clock.now()
    }

    /// Moves the simulated clock forward; returns the new time.
    pub fn advance_clock(&self, by: Duration) -> OffsetDateTime {
        self.shared.clock.advance(by)
    }

    /// Queues a fault; returns its id.
    pub fn inject_fault(&self, fault: Fault) -> u64 {
        self.shared.world().faults.push(fault)
    }

    /// Faults still queued.
    pub fn pending_faults(&self) -> Vec<QueuedFault> {
        self.shared.world().faults.pending()
    }

    /// Removes all queued faults.
    pub fn clear_faults(&self) {
        self.shared.world().faults.clear();
    }

    /// Sets the latency added to every call.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.set_latency(latency);
    }

    /// Whether invoice and credit-note lists carry each document's `Payments` (default yes;
    /// see `World::lists_carry_payments`).
    pub fn set_lists_carry_payments(&self, carry: bool) {
        self.shared.world().lists_carry_payments = carry;
    }

    /// Switches between the readings of Xero's documentation (see [`Readings`]; the default is
    /// the strict one).
    pub fn set_readings(&self, readings: Readings) {
        self.shared.world().readings = readings;
    }

    /// The readings in force.
    pub fn readings(&self) -> Readings {
        self.shared.world().readings
    }

    /// Sets an account's `Status` (`ACTIVE`, `ARCHIVED`), as archiving it in Xero's chart of
    /// accounts does; `false` when the tenant has no account with that code.
    pub fn set_account_status(&self, tenant: Uuid, code: &str, status: &str) -> bool {
        let now = self.now();
        let mut world = self.shared.world();
        let Some(account) = world.tenant_mut(tenant).and_then(|t| {
            t.accounts
                .iter_mut()
                .find(|a| a.code.eq_ignore_ascii_case(code))
        }) else {
            return false;
        };
        status.clone_into(&mut account.status);
        account.updated = now;
        true
    }

    /// Changes an organisation's plan (see [`crate::plan`]), as its owner upgrading or
    /// downgrading it in Xero does; `false` for an unknown tenant. A reset restores the seed's.
    pub fn set_plan(&self, tenant: Uuid, plan: crate::plan::Plan) -> bool {
        let mut world = self.shared.world();
        match world.tenant_mut(tenant) {
            Some(t) => {
                t.plan = plan;
                true
            }
            None => false,
        }
    }

    /// Adds an item to a tenant through the API's rules, as the seed's `Items` do: a tracked
    /// one (`InventoryAssetAccountCode` and `PurchaseDetails.COGSAccountCode`) may carry its
    /// opening balance (`QuantityOnHand`, `TotalCostPool`), as Xero's opening-balance import
    /// sets it.
    ///
    /// # Errors
    /// The validation messages, or an unknown tenant.
    pub fn add_item(&self, tenant: Uuid, item: &Value) -> Result<(), String> {
        let now = self.now();
        let mut world = self.shared.world();
        let tenant = world.tenant_mut(tenant).ok_or("no such tenant")?;
        crate::accounting::items::seed_item(tenant, item, now)
    }

    /// Raises (or, negative, lowers) a tracked item's stock by `quantity` units worth `value`,
    /// as an inventory adjustment in Xero's UI does (help.xero.com/us/Inventory_AdjGS); see
    /// `accounting::inventory::adjust`.
    ///
    /// # Errors
    /// An unknown tenant or item, an untracked item, or stock that would go below zero.
    pub fn adjust_stock(
        &self,
        tenant: Uuid,
        code: &str,
        quantity: rust_decimal::Decimal,
        value: Option<rust_decimal::Decimal>,
    ) -> Result<(), String> {
        let now = self.now();
        let mut world = self.shared.world();
        let tenant = world.tenant_mut(tenant).ok_or("no such tenant")?;
        crate::accounting::inventory::adjust(tenant, code, quantity, value, now)
    }

    /// A tenant's items as `GET /Items` prints them (tracked ones with their stock).
    pub fn items(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::Items)
    }

    /// Counts `calls` calls of `client_id` on `tenant`, made `ago` before now, towards the
    /// tenant's day, as if the app had made them then: a test can start with a day nearly used
    /// and its reset a few seconds away.
    pub fn record_day_calls(&self, client_id: &str, tenant: Uuid, calls: u32, ago: Duration) {
        let at = self.now() - ago;
        self.shared
            .world()
            .rate
            .record_day_calls(client_id, tenant, calls, at);
    }

    /// Replaces the rate limits.
    pub fn set_rate_limits(&self, limits: RateLimits) {
        self.shared.world().limits = limits;
    }

    /// The whole store (every tenant's documents, payments, contacts, …) as JSON.
    pub fn store(&self) -> Value {
        self.shared.snapshot()
    }

    /// One tenant's records as Xero prints them; empty for an unknown tenant.
    pub fn records(&self, tenant: Uuid, records: Records) -> Vec<Value> {
        self.shared.records(tenant, records).unwrap_or_default()
    }

    /// A tenant's invoices.
    pub fn invoices(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::Invoices)
    }

    /// A tenant's credit notes.
    pub fn credit_notes(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::CreditNotes)
    }

    /// A tenant's payments.
    pub fn payments(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::Payments)
    }

    /// A tenant's spend and receive money transactions, as `GET /BankTransactions/{id}` prints
    /// them (deleted ones included).
    pub fn bank_transactions(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::BankTransactions)
    }

    /// A tenant's bank transfers, as `GET /BankTransfers/{id}` prints them (deleted ones
    /// included).
    pub fn bank_transfers(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::BankTransfers)
    }

    /// The money in the account with `code`, debit positive: live payments into and out of
    /// it, spend and receive money on it, transfers from and to it, and the lines of spend
    /// (in) and receive (out) money coded to it (`accounting::bank_transfers::account_balance`).
    /// `None` for an unknown tenant or code.
    pub fn account_balance(&self, tenant: Uuid, code: &str) -> Option<rust_decimal::Decimal> {
        self.shared.account_balance(tenant, code)
    }

    /// A tenant's contacts.
    pub fn contacts(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::Contacts)
    }

    /// Per invoice and credit note of a tenant: its overridden line tax (`TaxAdjustments`,
    /// `AdjustedTax`) and whether Xero would flag it for a manual tax adjustment
    /// (`FlaggedForTaxAdjustment`); see `accounting::tax_overrides`.
    pub fn tax_review(&self, tenant: Uuid) -> Vec<Value> {
        self.records(tenant, Records::TaxReview)
    }

    /// Removes every invoice and credit note numbered `number` (case-insensitive), with their
    /// payments and allocations, as if the organisation had been restored from a backup taken
    /// before they were booked. Xero's API cannot delete an approved document (only void it);
    /// this is for tests of books that lost a document the ledger still records. Returns how
    /// many documents went.
    pub fn forget_document(&self, tenant: Uuid, number: &str) -> usize {
        let mut world = self.shared.world();
        let Some(tenant) = world.tenant_mut(tenant) else {
            return 0;
        };
        let matches = |d: &crate::store::Document| {
            d.number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
        };
        let gone: Vec<Uuid> = tenant
            .invoices
            .iter()
            .chain(tenant.credit_notes.iter())
            .filter(|d| matches(d))
            .map(|d| d.id)
            .collect();
        tenant.invoices.retain(|d| !matches(d));
        tenant.credit_notes.retain(|d| !matches(d));
        tenant.payments.retain(|p| match p.target {
            crate::store::PaymentTarget::Invoice(id)
            | crate::store::PaymentTarget::CreditNote(id) => !gone.contains(&id),
        });
        tenant
            .allocations
            .retain(|a| !gone.contains(&a.credit_note_id) && !gone.contains(&a.invoice_id));
        gone.len()
    }

    /// The journal so far.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.entries_after(0)
    }

    /// Journal entries after sequence number `seq`.
    pub fn journal_after(&self, seq: u64) -> Vec<JournalEntry> {
        self.shared.journal.entries_after(seq)
    }

    /// Restores the seeded books; forgets tokens, keys, rate windows and faults.
    pub fn reset(&self) {
        self.shared.reset();
    }

    /// Adds an organisation while the simulator runs, exactly as `POST /__sim/organisations`
    /// does (the same JSON; see the crate README), and returns its tenant id. Connect an app to
    /// it with [`RunningSim::issue_tokens`].
    ///
    /// # Errors
    /// The field at fault and why (status 400), or a taken id (409).
    pub fn add_organisation(&self, organisation: Value) -> Result<Uuid, OrganisationError> {
        let organisation = organisations::from_value(organisation)?;
        let id = organisation.tenant.tenant_id;
        self.shared.add_organisation(organisation)?;
        Ok(id)
    }

    /// Connects an app to tenants and returns fresh tokens, skipping the consent round trip.
    /// For a Custom Connection app the tenants are ignored.
    ///
    /// # Errors
    /// When the app or a tenant is unknown.
    pub fn issue_tokens(&self, client_id: &str, tenants: &[Uuid]) -> anyhow::Result<TokenSet> {
        let now = self.now();
        let mut world = self.shared.world();
        let known = world.tenant_ids();
        world
            .oauth
            .issue_directly(client_id, tenants, &known, None, now)
    }

    /// [`RunningSim::issue_tokens`] with exactly `scope` (space-separated) granted.
    ///
    /// # Errors
    /// When the app or a tenant is unknown, or the app may not have a scope (a broad one for an
    /// app of the granular scheme).
    pub fn issue_tokens_with_scope(
        &self,
        client_id: &str,
        tenants: &[Uuid],
        scope: &str,
    ) -> anyhow::Result<TokenSet> {
        let now = self.now();
        let mut world = self.shared.world();
        let known = world.tenant_ids();
        world
            .oauth
            .issue_directly(client_id, tenants, &known, Some(scope), now)
    }

    /// Stops the server, letting in-flight requests finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
