//! The simulator's state: the books and the identity, idempotency, fault and rate-limit state
//! behind one lock ([`World`]), plus what lives outside it ([`Shared`]): the clock, the journal,
//! the in-flight counter and the default latency. Holding one lock for a whole write keeps each
//! request atomic, as a real API call is, including its idempotency check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::accounting::{
    accounts, bank_transactions, bank_transfers, contacts, credit_notes, documents, items,
    payments, tax_overrides,
};
use crate::clock::SimClock;
use crate::faults::FaultQueue;
use crate::idempotency::IdempotencyCache;
use crate::journal::Journal;
use crate::oauth::OAuthState;
use crate::organisations::{NewOrganisation, OrganisationError};
use crate::ratelimit::{InFlight, RateLimits, RateWindows};
use crate::readings::Readings;
use crate::seed::{Seed, SeedTenant};
use crate::store::Tenant;
use crate::wire;

/// A tenant's record lists, as exposed by the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Records {
    /// Invoices (with line items).
    Invoices,
    /// Credit notes.
    CreditNotes,
    /// Payments, deleted ones included.
    Payments,
    /// Contacts, archived ones included.
    Contacts,
    /// Items.
    Items,
    /// Credit-note allocations.
    Allocations,
    /// Spend and receive money (with line items), deleted ones included.
    BankTransactions,
    /// Bank transfers, deleted ones included.
    BankTransfers,
    /// Accounts.
    Accounts,
    /// Tax rates.
    TaxRates,
    /// Per invoice and credit note, its overridden line tax and whether Xero would flag it for
    /// a manual tax adjustment (`accounting::tax_overrides`); the simulator's own view.
    TaxReview,
}

impl Records {
    /// Parses the admin path segment (`invoices`, `credit-notes`, …).
    pub fn parse(segment: &str) -> Option<Self> {
        Some(match segment {
            "invoices" => Self::Invoices,
            "credit-notes" => Self::CreditNotes,
            "payments" => Self::Payments,
            "contacts" => Self::Contacts,
            "items" => Self::Items,
            "allocations" => Self::Allocations,
            "bank-transactions" => Self::BankTransactions,
            "bank-transfers" => Self::BankTransfers,
            "accounts" => Self::Accounts,
            "tax-rates" => Self::TaxRates,
            "tax-review" => Self::TaxReview,
            _ => return None,
        })
    }
}

/// Everything behind the lock.
#[derive(Debug)]
pub struct World {
    /// The seed, kept for resets.
    pub seed: Seed,
    /// Organisations.
    pub tenants: Vec<Tenant>,
    /// Apps, tokens, codes, connections.
    pub oauth: OAuthState,
    /// Cached keyed answers.
    pub idempotency: IdempotencyCache,
    /// Injected faults.
    pub faults: FaultQueue,
    /// Rate-limit windows.
    pub rate: RateWindows,
    /// Limits in force.
    pub limits: RateLimits,
    /// Whether `GET /Invoices` and `GET /CreditNotes` lists carry each document's `Payments`.
    /// This simulator's default says yes; Xero's docs do not say clearly (UNSURE), so a client
    /// can be tested against the other reading too. A single document's `GET` always does.
    pub lists_carry_payments: bool,
    /// The other readings of Xero's documentation the simulator can be switched between.
    pub readings: Readings,
}

impl World {
    /// Builds the world a seed describes.
    ///
    /// # Errors
    /// When a seeded contact or item breaks Xero's rules.
    pub fn from_seed(seed: Seed, limits: RateLimits, now: OffsetDateTime) -> anyhow::Result<Self> {
        let mut tenants = Vec::with_capacity(seed.tenants.len());
        for seeded in &seed.tenants {
            let tenant = build_tenant(seeded, now).map_err(|(field, message)| {
                anyhow::anyhow!("seeded {field} in {}: {message}", seeded.name)
            })?;
            tenants.push(tenant);
        }
        Ok(Self {
            oauth: OAuthState::new(&seed.apps),
            seed,
            tenants,
            idempotency: IdempotencyCache::default(),
            faults: FaultQueue::default(),
            lists_carry_payments: true,
            readings: Readings::default(),
            rate: RateWindows::default(),
            limits,
        })
    }

    /// Adds an organisation (and its Custom Connection app, if it has one) to the running
    /// world. It joins the seed too, so a reset empties its books but keeps it, as it keeps
    /// the seeded ones. No app is connected to it: as in Xero, a user consents to each
    /// organisation (the consent screen, which offers every organisation, or
    /// `POST /__sim/tokens`); its Custom Connection reaches it at once.
    ///
    /// # Errors
    /// 409 when the tenant id or the Custom Connection's client id is taken; 400 naming the
    /// contact or item that breaks Xero's rules.
    pub fn add_organisation(
        &mut self,
        organisation: NewOrganisation,
        now: OffsetDateTime,
    ) -> Result<(), OrganisationError> {
        let NewOrganisation {
            tenant: seeded,
            custom_connection,
        } = organisation;
        if let Some(existing) = self.tenant(seeded.tenant_id) {
            return Err(OrganisationError::conflict(
                "TenantId",
                format!(
                    "{} is already the organisation \"{}\"; leave TenantId out to get a new id",
                    existing.id, existing.name
                ),
            ));
        }
        if let Some(app) = &custom_connection
            && self.oauth.has_app(&app.client_id)
        {
            return Err(OrganisationError::conflict(
                "CustomConnection.ClientId",
                format!(
                    "an app with client_id {} already exists; choose another",
                    app.client_id
                ),
            ));
        }
        let tenant = build_tenant(&seeded, now).map_err(|(field, message)| OrganisationError {
            status: 400,
            field,
            message,
        })?;
        self.tenants.push(tenant);
        self.seed.tenants.push(seeded);
        if let Some(app) = custom_connection {
            self.oauth.add_app(&app);
            self.seed.apps.push(app);
        }
        Ok(())
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: Uuid) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    /// The tenant with this id, mutably.
    pub fn tenant_mut(&mut self, id: Uuid) -> Option<&mut Tenant> {
        self.tenants.iter_mut().find(|t| t.id == id)
    }

    /// All tenant ids.
    pub fn tenant_ids(&self) -> Vec<Uuid> {
        self.tenants.iter().map(|t| t.id).collect()
    }

    /// Tenant names by id, for `/connections`.
    pub fn tenant_names(&self) -> HashMap<Uuid, String> {
        self.tenants
            .iter()
            .map(|t| (t.id, t.name.clone()))
            .collect()
    }
}

/// A tenant's books as a seed describes them: the chart and rates, then the starting contacts
/// and items through the same code as API creates. The error names the record at fault
/// (`Contacts[0]`) and why.
fn build_tenant(seeded: &SeedTenant, now: OffsetDateTime) -> Result<Tenant, (String, String)> {
    let mut tenant = Tenant::from_seed(seeded, now);
    for (i, contact) in seeded.contacts.iter().enumerate() {
        contacts::seed_contact(&mut tenant, contact, now)
            .map_err(|e| (format!("Contacts[{i}]"), e))?;
    }
    for (i, item) in seeded.items.iter().enumerate() {
        items::seed_item(&mut tenant, item, now).map_err(|e| (format!("Items[{i}]"), e))?;
    }
    Ok(tenant)
}

/// State shared by all requests.
#[derive(Debug)]
pub struct Shared {
    world: Mutex<World>,
    /// Simulated time.
    pub clock: SimClock,
    /// Request journal.
    pub journal: Journal,
    /// Requests in flight, for the concurrency limit.
    pub in_flight: InFlight,
    latency_ms: AtomicU64,
}

impl Shared {
    /// Wraps a world.
    pub fn new(world: World, clock: SimClock, journal: Journal, latency: Duration) -> Self {
        Self {
            world: Mutex::new(world),
            clock,
            journal,
            in_flight: InFlight::default(),
            latency_ms: AtomicU64::new(u64::try_from(latency.as_millis()).unwrap_or(u64::MAX)),
        }
    }

    /// Locks the world. A panic inside a handler poisons the lock; the simulator keeps going
    /// with whatever state the handler left, which is good enough for a test double.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The latency added to every API and identity call before it is processed.
    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Sets that latency.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(
            u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Restores the seeded books and forgets tokens, idempotency keys, rate windows and faults.
    /// The clock, the journal, the limits and the readings carry on.
    pub fn reset(&self) {
        let now = self.clock.now();
        let mut world = self.world();
        let seed = world.seed.clone();
        let limits = world.limits;
        let readings = world.readings;
        *world = World::from_seed(seed, limits, now).expect("the seed was valid at start");
        world.readings = readings;
    }

    /// Adds an organisation while the simulator runs (see [`World::add_organisation`]) and
    /// returns it as the admin call answers: the organisation with its accounts and tax rates
    /// as `GET /Accounts` and `GET /TaxRates` print them.
    ///
    /// # Errors
    /// As [`World::add_organisation`].
    pub fn add_organisation(
        &self,
        organisation: NewOrganisation,
    ) -> Result<Value, OrganisationError> {
        let id = organisation.tenant.tenant_id;
        let custom_connection = organisation
            .custom_connection
            .as_ref()
            .map(|app| app.client_id.clone());
        let now = self.clock.now();
        let mut world = self.world();
        world.add_organisation(organisation, now)?;
        let tenant = world.tenant(id).expect("the organisation was just added");
        let mut answer = organisation_summary(tenant);
        answer["CustomConnection"] = json!(custom_connection);
        answer["Accounts"] = Value::Array(records_json(tenant, Records::Accounts));
        answer["TaxRates"] = Value::Array(records_json(tenant, Records::TaxRates));
        Ok(answer)
    }

    /// Every organisation: id, name, country and currencies.
    pub fn organisations(&self) -> Vec<Value> {
        self.world()
            .tenants
            .iter()
            .map(organisation_summary)
            .collect()
    }

    /// One tenant's records as Xero prints them; `None` for an unknown tenant.
    pub fn records(&self, tenant_id: Uuid, records: Records) -> Option<Vec<Value>> {
        let world = self.world();
        let tenant = world.tenant(tenant_id)?;
        Some(records_json(tenant, records))
    }

    /// The money in a tenant's account (see `bank_transfers::account_balance`); `None` for an
    /// unknown tenant or account code.
    pub fn account_balance(&self, tenant_id: Uuid, code: &str) -> Option<rust_decimal::Decimal> {
        let world = self.world();
        let tenant = world.tenant(tenant_id)?;
        let account = tenant.account_by_code(code)?;
        Some(bank_transfers::account_balance(tenant, account.id))
    }

    /// The whole store as JSON.
    pub fn snapshot(&self) -> Value {
        let now = self.clock.now();
        let world = self.world();
        let tenants: Vec<Value> = world
            .tenants
            .iter()
            .map(|t| {
                json!({
                    "TenantId": t.id,
                    "Name": t.name,
                    "BaseCurrency": t.base_currency,
                    "Currencies": t.currencies,
                    "Invoices": records_json(t, Records::Invoices),
                    "CreditNotes": records_json(t, Records::CreditNotes),
                    "Payments": records_json(t, Records::Payments),
                    "Allocations": records_json(t, Records::Allocations),
                    "BankTransactions": records_json(t, Records::BankTransactions),
                    "BankTransfers": records_json(t, Records::BankTransfers),
                    "Contacts": records_json(t, Records::Contacts),
                    "Items": records_json(t, Records::Items),
                })
            })
            .collect();
        // Round-trip through text so money comes out as plain JSON numbers.
        let text = wire::render(&json!({ "now": wire::rfc3339(now), "tenants": tenants }));
        serde_json::from_str(&text).expect("rendered JSON parses")
    }
}

fn organisation_summary(tenant: &Tenant) -> Value {
    json!({
        "TenantId": tenant.id,
        "Name": tenant.name,
        "CountryCode": tenant.country_code,
        "BaseCurrency": tenant.base_currency,
        "Currencies": tenant.currencies,
    })
}

fn records_json(tenant: &Tenant, records: Records) -> Vec<Value> {
    let list: Vec<Value> = match records {
        Records::Invoices => tenant
            .invoices
            .iter()
            .map(|d| documents::document_json(tenant, d, 4, true))
            .collect(),
        Records::CreditNotes => tenant
            .credit_notes
            .iter()
            .map(|d| documents::document_json(tenant, d, 4, true))
            .collect(),
        Records::Payments => tenant
            .payments
            .iter()
            .map(|p| payments::payment_json(tenant, p))
            .collect(),
        Records::Contacts => tenant.contacts.iter().map(contacts::contact_json).collect(),
        Records::Items => tenant
            .items
            .iter()
            .map(|i| items::item_json(i, 4))
            .collect(),
        Records::Allocations => tenant
            .allocations
            .iter()
            .map(|a| credit_notes::allocation_json(tenant, a))
            .collect(),
        Records::BankTransactions => tenant
            .bank_transactions
            .iter()
            .map(|t| bank_transactions::bank_transaction_json(tenant, t, 4, true))
            .collect(),
        Records::BankTransfers => tenant
            .bank_transfers
            .iter()
            .map(|t| bank_transfers::bank_transfer_json(tenant, t))
            .collect(),
        Records::Accounts => tenant.accounts.iter().map(accounts::account_json).collect(),
        Records::TaxRates => tenant
            .tax_rates
            .iter()
            .map(accounts::tax_rate_json)
            .collect(),
        Records::TaxReview => tax_overrides::review_json(tenant),
    };
    let text = wire::render(&Value::Array(list));
    match serde_json::from_str(&text) {
        Ok(Value::Array(list)) => list,
        _ => unreachable!("rendered JSON of an array parses as an array"),
    }
}
