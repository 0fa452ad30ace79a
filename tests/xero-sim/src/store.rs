//! The in-memory books: one [`Tenant`] per organisation, holding what the Accounting API
//! reads and writes. Records are plain structs; the JSON Xero would print for them is built by
//! the `accounting` modules, so stored values stay typed (decimals, dates, uuids).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::money::LineAmountTypes;
use crate::seed::{SeedTenant, class_for_type, derived_id};

/// An organisation and everything booked in it.
#[derive(Debug, Clone)]
pub struct Tenant {
    /// The `xero-tenant-id`.
    pub id: Uuid,
    /// Organisation name.
    pub name: String,
    /// Short code.
    pub short_code: Option<String>,
    /// Country.
    pub country_code: Option<String>,
    /// Base currency.
    pub base_currency: String,
    /// Subscribed currencies, base included.
    pub currencies: Vec<String>,
    /// Chart of accounts.
    pub accounts: Vec<Account>,
    /// Tax rates.
    pub tax_rates: Vec<TaxRate>,
    /// Contacts, in creation order.
    pub contacts: Vec<Contact>,
    /// Items.
    pub items: Vec<Item>,
    /// Invoices (ACCREC and ACCPAY).
    pub invoices: Vec<Document>,
    /// Credit notes.
    pub credit_notes: Vec<Document>,
    /// Payments, deleted ones included (Xero keeps them with `Status: DELETED`).
    pub payments: Vec<Payment>,
    /// Credit-note allocations.
    pub allocations: Vec<Allocation>,
    /// Spend and receive money (`/BankTransactions`), deleted ones included.
    pub bank_transactions: Vec<BankTransaction>,
    /// Transfers between bank accounts (`/BankTransfers`), deleted ones included.
    pub bank_transfers: Vec<BankTransfer>,
    /// Next number for generated `INV-0001` invoice numbers.
    pub next_invoice_number: u32,
    /// Next number for generated `CN-0001` credit-note numbers.
    pub next_credit_note_number: u32,
    /// What the organisation's plan allows (approvals per month, calls per day).
    pub plan: crate::plan::Plan,
}

/// An account.
#[derive(Debug, Clone)]
pub struct Account {
    /// `AccountID`.
    pub id: Uuid,
    /// `Code`.
    pub code: String,
    /// `Name`.
    pub name: String,
    /// `Type`.
    pub account_type: String,
    /// `Status`.
    pub status: String,
    /// `TaxType`.
    pub tax_type: Option<String>,
    /// `EnablePaymentsToAccount`.
    pub enable_payments: bool,
    /// `SystemAccount`.
    pub system_account: Option<String>,
    /// `BankAccountType`.
    pub bank_account_type: Option<String>,
    /// `Class`.
    pub class: String,
    /// `CurrencyCode`.
    pub currency_code: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
}

impl Account {
    /// Whether a payment may be made to (or from) this account, per the Payments doc: "either
    /// an account of type BANK or have enable payments to this account switched on".
    pub fn accepts_payments(&self) -> bool {
        self.account_type == "BANK" || self.enable_payments
    }
}

/// A tax rate.
#[derive(Debug, Clone)]
pub struct TaxRate {
    /// `TaxType`.
    pub tax_type: String,
    /// `Name`.
    pub name: String,
    /// `Status`.
    pub status: String,
    /// `EffectiveRate`, percent.
    pub effective_rate: Decimal,
    /// `DisplayTaxRate`, percent.
    pub display_rate: Decimal,
    /// `ReportTaxType`.
    pub report_tax_type: String,
    /// `CanApplyTo…` by account class (`REVENUE`, `EXPENSE`, `ASSET`, `LIABILITY`, `EQUITY`).
    pub applies_to: BTreeMap<String, bool>,
    /// `TaxComponents`, as seeded.
    pub components: Vec<Value>,
}

/// A contact.
#[derive(Debug, Clone)]
pub struct Contact {
    /// `ContactID`.
    pub id: Uuid,
    /// `Name`.
    pub name: String,
    /// `ContactNumber`.
    pub contact_number: Option<String>,
    /// `AccountNumber`.
    pub account_number: Option<String>,
    /// `EmailAddress`.
    pub email: Option<String>,
    /// `FirstName`.
    pub first_name: Option<String>,
    /// `LastName`.
    pub last_name: Option<String>,
    /// `ACTIVE` or `ARCHIVED`.
    pub status: String,
    /// `IsCustomer`, set once an ACCREC document exists for the contact.
    pub is_customer: bool,
    /// `IsSupplier`, set once an ACCPAY document exists.
    pub is_supplier: bool,
    /// `DefaultCurrency`.
    pub default_currency: Option<String>,
    /// Other fields the client sent (`Addresses`, `Phones`, …), echoed back as given.
    pub extra: Map<String, Value>,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
}

/// An item (product or service).
#[derive(Debug, Clone)]
pub struct Item {
    /// `ItemID`.
    pub id: Uuid,
    /// `Code`.
    pub code: String,
    /// `Name`.
    pub name: Option<String>,
    /// `Description`.
    pub description: Option<String>,
    /// `PurchaseDescription`.
    pub purchase_description: Option<String>,
    /// `IsSold`.
    pub is_sold: bool,
    /// `IsPurchased`.
    pub is_purchased: bool,
    /// `SalesDetails`.
    pub sales: Option<ItemDetails>,
    /// `PurchaseDetails`.
    pub purchase: Option<ItemDetails>,
    /// The stock of an item tracked as inventory (`IsTrackedAsInventory`); `None` for an
    /// untracked item.
    pub tracked: Option<Tracked>,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
}

/// A tracked item's inventory (see `accounting::inventory`).
#[derive(Debug, Clone)]
pub struct Tracked {
    /// `InventoryAssetAccountCode` (an INVENTORY account).
    pub inventory_asset_account_code: String,
    /// Units in stock; below zero only for units sold on backorder (`allowBackorders`), which
    /// Xero prints as `QuantityOnBackOrder` with a `QuantityOnHand` of 0.
    pub quantity: Decimal,
    /// `TotalCostPool`: the value of the units on hand at average cost.
    pub cost_pool: Decimal,
}

/// `SalesDetails` / `PurchaseDetails` of an item.
#[derive(Debug, Clone, Default)]
pub struct ItemDetails {
    /// `UnitPrice`.
    pub unit_price: Option<Decimal>,
    /// `AccountCode`.
    pub account_code: Option<String>,
    /// `TaxType`.
    pub tax_type: Option<String>,
    /// `COGSAccountCode`: on the purchase details of a tracked item only.
    pub cogs_account_code: Option<String>,
}

/// Whether a [`Document`] is an invoice or a credit note; both share lines and totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// `/Invoices`: `ACCREC`, `ACCPAY`.
    Invoice,
    /// `/CreditNotes`: `ACCRECCREDIT`, `ACCPAYCREDIT`.
    CreditNote,
}

/// An invoice or credit note.
#[derive(Debug, Clone)]
pub struct Document {
    /// `InvoiceID` / `CreditNoteID`.
    pub id: Uuid,
    /// Which endpoint owns it.
    pub kind: DocKind,
    /// `Type`.
    pub doc_type: String,
    /// `InvoiceNumber` / `CreditNoteNumber`.
    pub number: Option<String>,
    /// `Reference`.
    pub reference: Option<String>,
    /// `Contact.ContactID`.
    pub contact_id: Uuid,
    /// `Date`.
    pub date: Date,
    /// `DueDate`.
    pub due_date: Option<Date>,
    /// `Status`.
    pub status: String,
    /// `LineAmountTypes`.
    pub line_amount_types: LineAmountTypes,
    /// `CurrencyCode`.
    pub currency_code: String,
    /// `CurrencyRate` (units of this currency per base unit, as Xero stores it).
    pub currency_rate: Decimal,
    /// `LineItems`.
    pub lines: Vec<Line>,
    /// `SubTotal`.
    pub sub_total: Decimal,
    /// `TotalTax`.
    pub total_tax: Decimal,
    /// `Total`.
    pub total: Decimal,
    /// `TotalDiscount`.
    pub total_discount: Decimal,
    /// Sum of live payments (`AmountPaid`; for credit notes, cash refunds).
    pub amount_paid: Decimal,
    /// Sum of live credit allocations (`AmountCredited` on invoices; allocated credit on
    /// credit notes).
    pub amount_credited: Decimal,
    /// `Url`.
    pub url: Option<String>,
    /// `SentToContact`.
    pub sent_to_contact: bool,
    /// The app (client id) that created it, for `createdByMyApp`.
    pub created_by: String,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
    /// `FullyPaidOnDate`.
    pub fully_paid_on: Option<Date>,
    /// Whether Xero would flag the document for a manual tax adjustment: tax-inclusive with
    /// overridden line tax (see `Readings::inclusive_tax_flag_from_cents`). Not in Xero's
    /// JSON; the admin API's `tax-review` records show it.
    pub tax_flagged: bool,
}

impl Document {
    /// `AmountDue` for invoices, `RemainingCredit` for credit notes; nothing is owed on a
    /// voided or deleted document.
    pub fn outstanding(&self) -> Decimal {
        if matches!(self.status.as_str(), "VOIDED" | "DELETED") {
            return Decimal::ZERO;
        }
        self.total - self.amount_paid - self.amount_credited
    }

    /// Whether payments or allocations touch the document, which freezes its lines.
    pub fn has_money_applied(&self) -> bool {
        !self.amount_paid.is_zero() || !self.amount_credited.is_zero()
    }
}

/// A line item.
#[derive(Debug, Clone)]
pub struct Line {
    /// `LineItemID`.
    pub id: Uuid,
    /// `Description`.
    pub description: Option<String>,
    /// `Quantity`.
    pub quantity: Decimal,
    /// `UnitAmount`.
    pub unit_amount: Decimal,
    /// `ItemCode`.
    pub item_code: Option<String>,
    /// `AccountCode`.
    pub account_code: Option<String>,
    /// `AccountID`.
    pub account_id: Option<Uuid>,
    /// `TaxType`.
    pub tax_type: Option<String>,
    /// `TaxAmount`: the tax Xero computed, or the override the request gave.
    pub tax_amount: Decimal,
    /// The tax Xero computes for the line from its tax type's rate, whatever was given; where
    /// it differs from `tax_amount` the line's tax was overridden (a tax adjustment).
    pub computed_tax: Decimal,
    /// `LineAmount`.
    pub line_amount: Decimal,
    /// `DiscountRate`.
    pub discount_rate: Option<Decimal>,
    /// `DiscountAmount`.
    pub discount_amount: Option<Decimal>,
    /// `Tracking`, echoed as given.
    pub tracking: Value,
}

/// What a payment is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentTarget {
    /// An invoice (`ACCRECPAYMENT` / `ACCPAYPAYMENT`).
    Invoice(Uuid),
    /// A credit note: a cash refund (`ARCREDITPAYMENT` / `APCREDITPAYMENT`).
    CreditNote(Uuid),
}

/// A payment.
#[derive(Debug, Clone)]
pub struct Payment {
    /// `PaymentID`.
    pub id: Uuid,
    /// The document paid.
    pub target: PaymentTarget,
    /// `Account.AccountID`.
    pub account_id: Uuid,
    /// `Date`.
    pub date: Date,
    /// `Amount`, in the document's currency.
    pub amount: Decimal,
    /// `BankAmount`.
    pub bank_amount: Decimal,
    /// `CurrencyRate`.
    pub currency_rate: Decimal,
    /// `Reference`.
    pub reference: Option<String>,
    /// `IsReconciled`.
    pub is_reconciled: bool,
    /// `AUTHORISED` or `DELETED`.
    pub status: String,
    /// `PaymentType`.
    pub payment_type: String,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
}

/// A credit-note allocation.
#[derive(Debug, Clone)]
pub struct Allocation {
    /// `AllocationID`.
    pub id: Uuid,
    /// The credit note.
    pub credit_note_id: Uuid,
    /// The invoice credited.
    pub invoice_id: Uuid,
    /// `Amount`.
    pub amount: Decimal,
    /// `Date`.
    pub date: Date,
    /// `IsDeleted`.
    pub is_deleted: bool,
    /// When it was made.
    pub updated: OffsetDateTime,
}

/// A spend or receive money transaction.
#[derive(Debug, Clone)]
pub struct BankTransaction {
    /// `BankTransactionID`.
    pub id: Uuid,
    /// `Type`: `SPEND` or `RECEIVE`.
    pub txn_type: String,
    /// `Contact.ContactID`.
    pub contact_id: Uuid,
    /// `BankAccount.AccountID`.
    pub bank_account_id: Uuid,
    /// `Date`.
    pub date: Date,
    /// `Reference`.
    pub reference: Option<String>,
    /// `AUTHORISED` or `DELETED`.
    pub status: String,
    /// `LineAmountTypes`.
    pub line_amount_types: LineAmountTypes,
    /// `CurrencyCode`: the bank account's.
    pub currency_code: String,
    /// `CurrencyRate`.
    pub currency_rate: Decimal,
    /// `LineItems`.
    pub lines: Vec<Line>,
    /// `SubTotal`.
    pub sub_total: Decimal,
    /// `TotalTax`.
    pub total_tax: Decimal,
    /// `Total`: what leaves (SPEND) or reaches (RECEIVE) the bank account.
    pub total: Decimal,
    /// `IsReconciled`.
    pub is_reconciled: bool,
    /// `Url`.
    pub url: Option<String>,
    /// `UpdatedDateUTC`.
    pub updated: OffsetDateTime,
}

/// A transfer between two bank accounts.
#[derive(Debug, Clone)]
pub struct BankTransfer {
    /// `BankTransferID`.
    pub id: Uuid,
    /// `FromBankAccount.AccountID`.
    pub from_account_id: Uuid,
    /// `ToBankAccount.AccountID`.
    pub to_account_id: Uuid,
    /// `Amount`: what leaves the one account and reaches the other.
    pub amount: Decimal,
    /// `Date`.
    pub date: Date,
    /// `Reference`.
    pub reference: Option<String>,
    /// `CurrencyRate`.
    pub currency_rate: Decimal,
    /// `FromBankTransactionID`: the SPEND-TRANSFER side.
    pub from_transaction_id: Uuid,
    /// `ToBankTransactionID`: the RECEIVE-TRANSFER side.
    pub to_transaction_id: Uuid,
    /// `FromIsReconciled`.
    pub from_is_reconciled: bool,
    /// `ToIsReconciled`.
    pub to_is_reconciled: bool,
    /// `FromTracking`, echoed as given.
    pub from_tracking: Value,
    /// `ToTracking`, echoed as given.
    pub to_tracking: Value,
    /// `AUTHORISED` or `DELETED`.
    pub status: String,
    /// `CreatedDateUTC`.
    pub created: OffsetDateTime,
    /// Last change (creation or deletion), for `If-Modified-Since`.
    pub updated: OffsetDateTime,
}

impl Tenant {
    /// Builds a tenant's fixed data from its seed. Seeded contacts and items are added by the
    /// caller through the same code as API creates, so they get the same defaults.
    pub fn from_seed(seed: &SeedTenant, now: OffsetDateTime) -> Self {
        let mut currencies = seed.currencies.clone();
        if !currencies.contains(&seed.base_currency) {
            currencies.insert(0, seed.base_currency.clone());
        }
        let accounts = seed
            .accounts
            .iter()
            .map(|a| Account {
                id: a
                    .account_id
                    .unwrap_or_else(|| derived_id(seed.tenant_id, "account", &a.code)),
                code: a.code.clone(),
                name: a.name.clone(),
                account_type: a.account_type.clone(),
                status: a.status.clone(),
                tax_type: a.tax_type.clone(),
                enable_payments: a.enable_payments_to_account,
                system_account: a.system_account.clone(),
                bank_account_type: a.bank_account_type.clone(),
                class: a
                    .class
                    .clone()
                    .unwrap_or_else(|| class_for_type(&a.account_type).to_owned()),
                currency_code: a
                    .currency_code
                    .clone()
                    .or_else(|| (a.account_type == "BANK").then(|| seed.base_currency.clone())),
                description: a.description.clone(),
                updated: now,
            })
            .collect();
        let tax_rates = seed
            .tax_rates
            .iter()
            .map(|r| TaxRate {
                tax_type: r.tax_type.clone(),
                name: r.name.clone(),
                status: r.status.clone(),
                effective_rate: r.effective_rate,
                display_rate: r.display_tax_rate.unwrap_or(r.effective_rate),
                report_tax_type: r
                    .report_tax_type
                    .clone()
                    .unwrap_or_else(|| r.tax_type.clone()),
                applies_to: [
                    ("REVENUE", r.can_apply_to_revenue),
                    ("EXPENSE", r.can_apply_to_expenses),
                    ("ASSET", r.can_apply_to_assets),
                    ("LIABILITY", r.can_apply_to_liabilities),
                    ("EQUITY", r.can_apply_to_equity),
                ]
                .into_iter()
                .map(|(class, allowed)| (class.to_owned(), allowed))
                .collect(),
                components: r.tax_components.clone(),
            })
            .collect();
        Self {
            id: seed.tenant_id,
            plan: seed.plan,
            name: seed.name.clone(),
            short_code: seed.short_code.clone(),
            country_code: seed.country_code.clone(),
            base_currency: seed.base_currency.clone(),
            currencies,
            accounts,
            tax_rates,
            contacts: Vec::new(),
            items: Vec::new(),
            invoices: Vec::new(),
            credit_notes: Vec::new(),
            payments: Vec::new(),
            allocations: Vec::new(),
            bank_transactions: Vec::new(),
            bank_transfers: Vec::new(),
            next_invoice_number: 1,
            next_credit_note_number: 1,
        }
    }

    /// The account with this code (any status).
    pub fn account_by_code(&self, code: &str) -> Option<&Account> {
        self.accounts
            .iter()
            .find(|a| a.code.eq_ignore_ascii_case(code))
    }

    /// The account with this id.
    pub fn account_by_id(&self, id: Uuid) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The tax rate with this tax type (any status).
    pub fn tax_rate(&self, tax_type: &str) -> Option<&TaxRate> {
        self.tax_rates
            .iter()
            .find(|r| r.tax_type.eq_ignore_ascii_case(tax_type))
    }

    /// The contact with this id.
    pub fn contact(&self, id: Uuid) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.id == id)
    }

    /// The contact with this id, mutably.
    pub fn contact_mut(&mut self, id: Uuid) -> Option<&mut Contact> {
        self.contacts.iter_mut().find(|c| c.id == id)
    }

    /// The item with this code.
    pub fn item_by_code(&self, code: &str) -> Option<&Item> {
        self.items
            .iter()
            .find(|i| i.code.eq_ignore_ascii_case(code))
    }

    /// Documents of a kind.
    pub fn documents(&self, kind: DocKind) -> &Vec<Document> {
        match kind {
            DocKind::Invoice => &self.invoices,
            DocKind::CreditNote => &self.credit_notes,
        }
    }

    /// Documents of a kind, mutably.
    pub fn documents_mut(&mut self, kind: DocKind) -> &mut Vec<Document> {
        match kind {
            DocKind::Invoice => &mut self.invoices,
            DocKind::CreditNote => &mut self.credit_notes,
        }
    }

    /// The document of a kind with this id.
    pub fn document(&self, kind: DocKind, id: Uuid) -> Option<&Document> {
        self.documents(kind).iter().find(|d| d.id == id)
    }

    /// The document of a kind with this id, mutably.
    pub fn document_mut(&mut self, kind: DocKind, id: Uuid) -> Option<&mut Document> {
        self.documents_mut(kind).iter_mut().find(|d| d.id == id)
    }

    /// The document of a kind with this number (case-insensitive, as Xero's lookups are).
    pub fn document_by_number(&self, kind: DocKind, number: &str) -> Option<&Document> {
        self.documents(kind).iter().find(|d| {
            d.number
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(number))
        })
    }
}
