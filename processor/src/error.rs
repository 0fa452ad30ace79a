//! Why an event could not be booked, and whether trying again can help. The message is what
//! an operator reads on the dead letter: it says what is wrong and what to do.

use crate::ledger::LedgerError;
use crate::mapping::MappingError;
use crate::normalise::NormaliseError;
use crate::xero::client::XeroError;
use xcs_shared::topology::RETRY_TIERS;

/// How often a refund looks again for its order before it is dead-lettered: 10 s, then every
/// minute for longer than an order's own retries take (10 s + 1 min + 10 min + 1 h).
pub const ORDER_WAIT_ATTEMPTS: u32 = 75;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProcessError {
    /// The message lacks the ingress's envelope headers.
    #[error("not an ingress event: {0}")]
    Envelope(String),
    #[error("shop {0:?} is not in the processor's config; add it (with its mapping) and replay")]
    UnknownShop(String),
    #[error("the payload cannot be read: {0}; fix the normaliser or the platform data and replay")]
    Unparseable(String),
    /// The payload reads, but what it says cannot be a real sale or refund (a negative
    /// quantity, a date decades away): booking it would be a wrong booking.
    #[error(
        "the payload is not plausible: {0}; check the order on the platform, then discard or \
         fix and replay"
    )]
    Implausible(String),
    #[error("{0}; fix the shop's mapping and replay")]
    Mapping(#[from] MappingError),
    #[error("Xero rejected {document}: {}; fix the data or the mapping and replay", messages.join("; "))]
    Rejected {
        document: String,
        messages: Vec<String>,
    },
    /// Xero refused a document or payment because an account it is coded to is archived (or
    /// deleted) in the organisation's chart of accounts: every event using the account fails
    /// the same way until the chart or the shop's mapping is fixed.
    #[error(
        "Xero refused {document}: account {code} is archived or deleted in Xero's chart of \
         accounts; restore it there (Accounting → Chart of accounts → Archived → Restore) or map \
         the shop to an active account, confirm with `xcs-processor check`, then \
         `xcs-processor dead replay --reason xero_account_archived`"
    )]
    AccountArchived { document: String, code: String },
    /// The contact the shop's documents are raised against is archived (or merged into another)
    /// in Xero. Xero refuses new documents for it; another contact of the same name would undo
    /// the seller's archiving behind their back, so nothing is booked until they choose.
    #[error(
        "the Xero contact {name:?} ({id}) this shop books to is archived; restore it in Xero \
         (Contacts → Archived → Restore) or name another contact in the shop's [contacts], then \
         `xcs-processor dead replay --reason xero_contact_archived`"
    )]
    ContactArchived { name: String, id: String },
    /// Xero refused to approve a document because it would take an item the organisation
    /// tracks as inventory below zero ("Xero won't let you have a negative inventory
    /// balance", notes §3.7). Retrying cannot help until the stock in Xero is raised or the
    /// item is no longer tracked; the processor does not ask Xero for backorders
    /// (`allowBackorders`), which would book stock the seller does not have.
    #[error(
        "Xero refused {document}: item {item} is tracked as inventory in Xero and has too few \
         on hand for this sale ({message}); raise its quantity in Xero (Products and services → \
         {item} → Adjust quantity, or enter the purchase that brought the stock in) or turn off \
         inventory tracking for the item, then \
         `xcs-processor dead replay --reason xero_insufficient_stock`"
    )]
    InsufficientStock {
        document: String,
        item: String,
        message: String,
    },
    /// In tracked mode, [`ProcessError::InsufficientStock`] is expected to pass: the store sold
    /// what it had, and Xero has too few because the stock that came in is not compared yet
    /// (a new product, a delivery received moments ago). The item's stock comparison raises
    /// Xero's quantity (`crate::stock`), and the sale is retried after it.
    #[error(
        "Xero refused {document}: item {item} has too few on hand in Xero for this sale \
         ({message}); in tracked mode the item's next stock comparison brings Xero to the \
         store's level, and the sale is retried. If it is dead-lettered still, run \
         `xcs-processor reconcile --stock --fix` for the shop, then \
         `xcs-processor dead replay --reason xero_awaiting_stock`"
    )]
    AwaitingStock {
        document: String,
        item: String,
        message: String,
    },
    /// A tracked shop's stock event whose item changed moments ago (another level, an order or
    /// refund of it): compared once the item has been quiet for `stock.settle_secs`, so an
    /// order on its way is not counted twice (`crate::stock`). It waits in a retry tier, its
    /// retries unused.
    #[error(
        "the stock of item {item} changed moments ago; its level is compared with Xero's once \
         it has been quiet for the shop's stock.settle_secs (README \"Inventory: tracked \
         mode\"); nothing to do"
    )]
    StockSettling {
        item: String,
        wait: std::time::Duration,
    },
    /// In tracked mode the shop's item exists in Xero but is not tracked, so Xero keeps no
    /// quantity of it to compare or adjust.
    #[error(
        "Xero item {code} is not tracked as inventory, so Xero keeps no quantity for it; track \
         it in Xero (Products and services → {code} → Track inventory, with the shop's \
         inventory asset and cost-of-goods-sold accounts) or give the SKU another code in \
         [shops.NAME.mapping.items], then `xcs-processor dead replay --reason \
         xero_item_untracked`"
    )]
    ItemUntracked { code: String },
    /// A payout whose parts the ledger does not hold all of (an order or refund not booked,
    /// or booked to another account): booking it would leave clearing off by the difference,
    /// so it waits, its retries unused, until they are booked (`crate::payouts`).
    #[error(
        "{reason}; the payout is held until the ledger books what it pays out, and looks again \
         in a while (README \"Payouts\"); nothing to do unless it stays held"
    )]
    PayoutHeld {
        reason: String,
        wait: std::time::Duration,
    },
    /// A payout held for the shop's `hold_max_hours` without its parts being booked.
    #[error(
        "{reason}; the payout was held for the shop's hold_max_hours. Book what is missing \
         (`xcs-processor backfill` for orders the webhooks and polls missed, or fix the \
         mapping), check with `xcs-processor reconcile --payouts`, then `xcs-processor dead \
         replay --reason payout_unexplained`"
    )]
    PayoutUnexplained { reason: String },
    /// The shop's payouts mapping lacks what a payout needs.
    #[error("{0}; then `xcs-processor dead replay --reason payout_unmapped`")]
    PayoutMapping(crate::payouts::mapping::PayoutMappingError),
    #[error("{0}")]
    Xero(#[from] XeroError),
    /// A refund, or a capture (an Adobe Commerce invoice), arrived before its order's event.
    /// `order` is what the message names (the order's number, or its id when the event gives
    /// no number); `order_id` the platform's id, which with the shop keys the order.
    #[error(
        "order {order} is not booked yet (this event waits for the order's); it will be retried"
    )]
    OrderNotBooked { order: String, order_id: String },
    #[error(
        "the refund returns money whose payment on order {order} is not booked yet; it will be \
         retried"
    )]
    OrderNotPaid { order: String, order_id: String },
    /// The order an event waits for ([`ProcessError::OrderNotBooked`],
    /// [`ProcessError::OrderNotPaid`]) has its own event parked in the dead queue for the
    /// organisation's plan limit: waiting could not help, so the event is parked with it, under
    /// the same reason, and one replay by that reason books both.
    #[error(
        "order {order} is parked: its event {event} is in xcs.dead because the Xero \
         organisation's plan approves no more invoices this month, and this event waits for it; \
         upgrade the plan, or book the shop in summary mode (summary_period = \"weekly\"), then \
         `xcs-processor dead replay --reason xero_plan_limit`, which replays the order first"
    )]
    OrderParked { order: String, event: String },
    #[error("Xero no longer has contact {0}; it was forgotten and will be found or created again")]
    StaleContact(String),
    #[error("cannot fetch the order from the platform: {0}")]
    Hydration(String),
    /// The platform API refused the shop's credentials: retrying cannot help until they are
    /// fixed. Not a payload problem.
    #[error(
        "the platform API refused the shop's credentials ({0}); fix the shop's api token and key \
         (or XCS_SHOP_<NAME>_API_TOKEN / _API_KEY) and replay"
    )]
    PlatformCredentials(String),
    /// The platform API answers 404 even for the call that checks the shop's settings: its
    /// `base_url`, `api_version` or store point at no API. Every event of the shop that needs
    /// the API fails the same way until the settings are fixed; its payload is not at fault.
    #[error(
        "{0}; fix the shop's [api] settings (base_url, api_version), confirm with \
         `xcs-processor check`, then `xcs-processor dead replay --reason \
         platform_api_misconfigured`"
    )]
    PlatformApiMisconfigured(String),
    /// The platform API works but has no such resource (deleted in the store, or an id the
    /// webhook got wrong): retrying cannot make it appear.
    #[error(
        "{0}; if the store still has it, replay the event once it can be fetched, otherwise \
         book it by hand"
    )]
    PlatformResourceMissing(String),
    /// The event must be fetched from the platform, but the shop has no API configured.
    #[error("{0}, but the shop has no [api] section (base_url and credentials); add it and replay")]
    NoPlatformApi(String),
    #[error("the ledger is unavailable: {0}")]
    Ledger(String),
    /// PostgreSQL refused what the event would store (a data exception such as text it cannot
    /// hold): the event's content is at fault, not the database, so retrying cannot help.
    #[error(
        "the ledger refused the event's data: {0}; fix the payload or the normaliser and replay"
    )]
    LedgerRefused(String),
    /// A later event of an order is in another currency than the document booked for it.
    #[error(
        "{document} is booked in {booked}, but this event of the order is in {event}: the order's \
         currency changed on the platform; book the difference by hand in Xero, then purge the \
         event"
    )]
    CurrencyChanged {
        document: String,
        booked: String,
        event: String,
    },
    /// A refund credits more than its order has left to refund.
    #[error(
        "refund {refund} of order {order} credits more than the order has left to refund: \
         {excess}; check the refund on the platform (an edited order, a refund booked by hand?), \
         then discard or fix and replay"
    )]
    RefundExceedsOrder {
        refund: String,
        order: String,
        excess: String,
    },
    /// Xero already has a document with the number this event's document needs, and it is not
    /// this order's or refund's.
    #[error(
        "Xero's {document} is not this event's: {mismatch}; two orders map to one document \
         number (check the shops' document_prefix), or the document was edited in Xero"
    )]
    NumberTaken { document: String, mismatch: String },
    /// The tenant's Xero calls are paused: Xero refused one for the tenant's day limit, or its
    /// remaining day of calls must stretch further than an event may wait unacknowledged. The
    /// event waits in the retry tiers without using up its retries.
    #[error(
        "the tenant's Xero calls are paused for {}s ({cause}); the event is booked once they \
         resume, and has used none of its retries",
        wait.as_secs()
    )]
    TenantPaused {
        wait: std::time::Duration,
        cause: PauseCause,
    },
    /// Handling the event panicked: a bug, caught so that it costs this event alone.
    #[error(
        "internal error while handling the event: {0}; report it with the event, then replay once fixed"
    )]
    Internal(String),
}

/// Why a tenant's Xero calls are paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseCause {
    /// Xero answered 429 for the day limit, with its `Retry-After`.
    DayLimit,
    /// The calls left today are spread over the rest of the day
    /// ([`crate::xero::client::DayBudget`]).
    DayBudget,
}

impl std::fmt::Display for PauseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PauseCause::DayLimit => "Xero's day limit for the organisation is reached",
            PauseCause::DayBudget => {
                "the organisation's calls left today are spread over the rest of the day"
            }
        })
    }
}

/// The reason of an event parked for the organisation's plan limit (and of those waiting for
/// its order): the ledger keeps such orders until one of their events is handled again or
/// purged.
pub const PLAN_LIMIT_REASON: &str = "xero_plan_limit";

impl ProcessError {
    /// How long the event waits, uncounted, because its tenant is paused; `None` for a failure
    /// of the event's own.
    pub fn pause(&self) -> Option<std::time::Duration> {
        match self {
            ProcessError::TenantPaused { wait, .. }
            | ProcessError::StockSettling { wait, .. }
            | ProcessError::PayoutHeld { wait, .. } => Some(*wait),
            ProcessError::Xero(err) => err.day_pause(),
            _ => None,
        }
    }

    /// Retryable failures go through the retry tiers; the others go to the dead queue at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Xero(err) => err.is_retryable(),
            ProcessError::OrderNotBooked { .. }
            | ProcessError::OrderNotPaid { .. }
            | ProcessError::StaleContact(_)
            | ProcessError::Hydration(_)
            | ProcessError::TenantPaused { .. }
            | ProcessError::StockSettling { .. }
            | ProcessError::PayoutHeld { .. }
            | ProcessError::AwaitingStock { .. }
            | ProcessError::Ledger(_) => true,
            ProcessError::Envelope(_)
            | ProcessError::UnknownShop(_)
            | ProcessError::Unparseable(_)
            | ProcessError::Implausible(_)
            | ProcessError::PlatformCredentials(_)
            | ProcessError::PlatformApiMisconfigured(_)
            | ProcessError::PlatformResourceMissing(_)
            | ProcessError::NoPlatformApi(_)
            | ProcessError::Mapping(_)
            | ProcessError::Rejected { .. }
            | ProcessError::AccountArchived { .. }
            | ProcessError::ContactArchived { .. }
            | ProcessError::InsufficientStock { .. }
            | ProcessError::ItemUntracked { .. }
            | ProcessError::PayoutUnexplained { .. }
            | ProcessError::PayoutMapping(_)
            | ProcessError::LedgerRefused(_)
            | ProcessError::CurrencyChanged { .. }
            | ProcessError::RefundExceedsOrder { .. }
            | ProcessError::NumberTaken { .. }
            | ProcessError::OrderParked { .. }
            | ProcessError::Internal(_) => false,
        }
    }

    /// The retry tier (index into `RETRY_TIERS`) for the `attempt`-th failure (from 1), or
    /// `None` when the event goes to the dead queue.
    ///
    /// A refund waiting for its order is not failing itself: it comes back every minute (not
    /// after 10 minutes, then an hour) for as long as the order's own retries can take, so it
    /// is booked within a minute of its order. The chaos run found refunds booked an hour after
    /// their order when the order had been held up by a few faults in a row.
    pub fn retry_tier(&self, attempt: u32) -> Option<usize> {
        if !self.is_retryable() {
            return None;
        }
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        match self {
            ProcessError::OrderNotBooked { .. } | ProcessError::OrderNotPaid { .. } => {
                (attempt <= ORDER_WAIT_ATTEMPTS).then_some(index.min(1))
            }
            _ => (index < RETRY_TIERS.len()).then_some(index),
        }
    }

    /// A short, stable label for the dead-letter `xcs-reason` header and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ProcessError::Envelope(_) => "bad_envelope",
            ProcessError::UnknownShop(_) => "unknown_shop",
            ProcessError::Unparseable(_) => "unparseable_payload",
            ProcessError::Implausible(_) => "implausible_payload",
            ProcessError::Mapping(MappingError::UnmappedTax { .. }) => "unmapped_tax",
            ProcessError::Mapping(MappingError::Overflow(_)) => "implausible_payload",
            ProcessError::Mapping(MappingError::XeroTaxDiffers { .. }) => "xero_tax_rate_differs",
            ProcessError::Mapping(_) => "totals_mismatch",
            ProcessError::Rejected { .. } => "xero_validation",
            ProcessError::AccountArchived { .. } => "xero_account_archived",
            ProcessError::ContactArchived { .. } => "xero_contact_archived",
            ProcessError::InsufficientStock { .. } => "xero_insufficient_stock",
            ProcessError::AwaitingStock { .. } => "xero_awaiting_stock",
            ProcessError::StockSettling { .. } => "stock_settling",
            ProcessError::ItemUntracked { .. } => "xero_item_untracked",
            ProcessError::PayoutHeld { .. } => "payout_held",
            ProcessError::PayoutUnexplained { .. } => "payout_unexplained",
            ProcessError::PayoutMapping(_) => "payout_unmapped",
            ProcessError::Xero(XeroError::RateLimited { problem, .. })
                if crate::xero::client::is_day_problem(problem) =>
            {
                "xero_day_limit"
            }
            ProcessError::Xero(XeroError::RateLimited { .. }) => "xero_rate_limited",
            ProcessError::Xero(XeroError::PlanLimit(_)) | ProcessError::OrderParked { .. } => {
                PLAN_LIMIT_REASON
            }
            ProcessError::TenantPaused {
                cause: PauseCause::DayLimit,
                ..
            } => "xero_day_limit",
            ProcessError::TenantPaused {
                cause: PauseCause::DayBudget,
                ..
            } => "xero_day_budget",
            ProcessError::Xero(XeroError::MissingScope { .. }) => "xero_missing_scope",
            ProcessError::Xero(
                XeroError::Unauthorized(_) | XeroError::ClientRejected | XeroError::Forbidden(_),
            ) => "xero_unauthorized",
            ProcessError::Xero(XeroError::Validation(_)) => "xero_validation",
            ProcessError::Xero(XeroError::TooLarge { .. }) => "xero_request_too_large",
            ProcessError::Xero(_) => "xero_unavailable",
            ProcessError::OrderNotBooked { .. } | ProcessError::OrderNotPaid { .. } => {
                "order_not_booked"
            }
            ProcessError::StaleContact(_) => "stale_contact",
            ProcessError::Hydration(_) => "platform_unavailable",
            ProcessError::PlatformCredentials(_) => "platform_credentials",
            ProcessError::PlatformApiMisconfigured(_) => "platform_api_misconfigured",
            ProcessError::PlatformResourceMissing(_) => "platform_resource_missing",
            ProcessError::NoPlatformApi(_) => "platform_api_missing",
            ProcessError::Ledger(_) => "ledger_unavailable",
            ProcessError::LedgerRefused(_) => "ledger_refused",
            ProcessError::CurrencyChanged { .. } => "currency_changed",
            ProcessError::RefundExceedsOrder { .. } => "refund_exceeds_order",
            ProcessError::NumberTaken { .. } => "document_number_taken",
            ProcessError::Internal(_) => "internal_error",
        }
    }
}

impl ProcessError {
    /// The order (its platform id) this event waits for, when it fails only for waiting.
    pub fn waits_for_order(&self) -> Option<&str> {
        match self {
            ProcessError::OrderNotBooked { order_id, .. }
            | ProcessError::OrderNotPaid { order_id, .. } => Some(order_id),
            _ => None,
        }
    }

    /// This waiting event, parked with its order, whose event `event` is parked for the plan
    /// limit; any other failure unchanged.
    #[must_use]
    pub fn parked_with(self, event: &str) -> ProcessError {
        match self {
            ProcessError::OrderNotBooked { order, .. }
            | ProcessError::OrderNotPaid { order, .. } => ProcessError::OrderParked {
                order,
                event: event.to_owned(),
            },
            other => other,
        }
    }

    /// In a tracked shop, a sale Xero refused for want of stock waits for the item's stock
    /// comparison instead of going to the dead queue ([`ProcessError::AwaitingStock`]).
    #[must_use]
    pub fn awaiting_stock(self) -> ProcessError {
        match self {
            ProcessError::InsufficientStock {
                document,
                item,
                message,
            } => ProcessError::AwaitingStock {
                document,
                item,
                message,
            },
            other => other,
        }
    }

    /// Xero's refusal of `document` with `messages`: [`ProcessError::AccountArchived`] when
    /// Xero says an account is archived ("Account code '200' has been archived, or has been
    /// deleted." is Xero's wording on lines and payments), [`ProcessError::InsufficientStock`]
    /// when it says a tracked item is short of stock, else [`ProcessError::Rejected`].
    pub fn rejected(document: String, messages: Vec<String>) -> ProcessError {
        let archived = messages.iter().find_map(|m| {
            let rest = m.strip_prefix("Account code '")?;
            let (code, tail) = rest.split_once('\'')?;
            tail.contains("has been archived").then(|| code.to_owned())
        });
        if let Some(code) = archived {
            return ProcessError::AccountArchived { document, code };
        }
        match messages.iter().find(|m| is_short_of_stock(m)) {
            Some(message) => ProcessError::InsufficientStock {
                document,
                item: quoted(message).map_or_else(
                    || "(not named by Xero: see the document's tracked items)".to_owned(),
                    str::to_owned,
                ),
                message: message.clone(),
            },
            None => ProcessError::Rejected { document, messages },
        }
    }
}

/// Whether Xero's `message` refuses a sale of a tracked item for want of stock. Xero does not
/// publish the wording (notes §3.7, §10.4: UNSURE), so this matches what such a message must
/// speak of, stock, and its shortfall, rather than one text; the simulator's ("The quantity on
/// hand of tracked item 'MUG-1' cannot go below zero: …") and the one integrators quote ("No
/// items available to sell") both are. A line's own negative quantity ("Quantity must not be
/// less than zero") speaks of no stock and is not.
fn is_short_of_stock(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    let about_stock = [
        "quantity on hand",
        "inventory",
        "stock",
        "available to sell",
    ]
    .iter()
    .any(|s| m.contains(s));
    let short = [
        "below zero",
        "negative",
        "insufficient",
        "not enough",
        "no items available",
    ]
    .iter()
    .any(|s| m.contains(s));
    about_stock && short
}

/// The first text in single quotes: how Xero names codes in its messages (`Account code
/// '200'`, `Item code 'X'`).
fn quoted(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('\'')?;
    let (inner, _) = rest.split_once('\'')?;
    (!inner.is_empty()).then_some(inner)
}

impl From<LedgerError> for ProcessError {
    fn from(err: LedgerError) -> Self {
        if err.is_data_refused() {
            ProcessError::LedgerRefused(err.to_string())
        } else {
            ProcessError::Ledger(err.to_string())
        }
    }
}

/// Runs one event's (or one batch's) handling so that a panic in it becomes
/// [`ProcessError::Internal`] for that work instead of unwinding through the consumer: a panic
/// there would end the consumer session, send every delivery it held back to the queue, and
/// cost innocent events their delivery limit (found by an outside check: 21 panics in a row,
/// genuine orders dead-lettered by RabbitMQ).
pub async fn catch_panic<T>(work: impl std::future::Future<Output = T>) -> Result<T, ProcessError> {
    use futures_util::FutureExt as _;
    std::panic::AssertUnwindSafe(work)
        .catch_unwind()
        .await
        .map_err(|panic| ProcessError::Internal(panic_message(panic.as_ref())))
}

/// The message a panic was raised with.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

impl From<NormaliseError> for ProcessError {
    fn from(err: NormaliseError) -> Self {
        match err {
            NormaliseError::Implausible { .. } => ProcessError::Implausible(err.to_string()),
            _ => ProcessError::Unparseable(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archived_account_is_named_and_other_refusals_stay_xeros() {
        let archived = ProcessError::rejected(
            "invoice SH-1".into(),
            vec![
                "Account code '200' has been archived, or has been deleted. Each line item must \
                 reference a valid account."
                    .into(),
            ],
        );
        assert_eq!(archived.reason(), "xero_account_archived");
        assert!(
            archived.to_string().contains("account 200 is archived"),
            "{archived}"
        );
        assert_eq!(archived.retry_tier(1), None);
        let other = ProcessError::rejected("invoice SH-1".into(), vec!["Bad date".into()]);
        assert_eq!(other.reason(), "xero_validation");
    }

    #[test]
    fn a_tracked_item_short_of_stock_is_named_with_the_way_out_and_never_retried() {
        let short = ProcessError::rejected(
            "invoice SH-1202".into(),
            vec![
                "The quantity on hand of tracked item 'MUG-1' cannot go below zero: 1.0000 on \
                 hand, 2.0000 needed."
                    .into(),
            ],
        );
        assert_eq!(short.reason(), "xero_insufficient_stock");
        assert_eq!(short.retry_tier(1), None);
        let text = short.to_string();
        for part in [
            "invoice SH-1202",
            "item MUG-1 is tracked as inventory",
            "1.0000 on hand",
            "turn off inventory tracking",
            "dead replay --reason xero_insufficient_stock",
        ] {
            assert!(text.contains(part), "{part:?} in {text}");
        }
        // Another wording of the same refusal, without the item's name.
        let unnamed = ProcessError::rejected(
            "invoice SH-1".into(),
            vec!["No items available to sell".into()],
        );
        assert_eq!(unnamed.reason(), "xero_insufficient_stock");
        assert!(
            unnamed.to_string().contains("not named by Xero"),
            "{unnamed}"
        );
        // A line's negative quantity is the data's fault, not the stock's.
        let negative = ProcessError::rejected(
            "invoice SH-1".into(),
            vec![
                "The quantity value '-1.0000' is invalid. Quantity must not be less than zero."
                    .into(),
            ],
        );
        assert_eq!(negative.reason(), "xero_validation");
    }

    #[test]
    fn failures_climb_the_tiers_then_die_and_permanent_ones_die_at_once() {
        let down = ProcessError::Ledger("connection refused".into());
        let tiers: Vec<Option<usize>> = (1..=5).map(|a| down.retry_tier(a)).collect();
        assert_eq!(tiers, [Some(0), Some(1), Some(2), Some(3), None]);
        assert_eq!(ProcessError::Unparseable("x".into()).retry_tier(1), None);
    }

    #[test]
    fn a_refund_waiting_for_its_order_comes_back_every_minute_until_the_order_cannot_come() {
        let waiting = ProcessError::OrderNotBooked {
            order: "1001".into(),
            order_id: "820982911946154508".into(),
        };
        assert_eq!(waiting.retry_tier(1), Some(0));
        for attempt in 2..=ORDER_WAIT_ATTEMPTS {
            assert_eq!(waiting.retry_tier(attempt), Some(1), "attempt {attempt}");
        }
        assert_eq!(waiting.retry_tier(ORDER_WAIT_ATTEMPTS + 1), None);
        // Longer than the order's own retries can take.
        let waited_ms: u64 = (1..=ORDER_WAIT_ATTEMPTS)
            .filter_map(|a| waiting.retry_tier(a))
            .map(|i| RETRY_TIERS[i].1)
            .sum();
        let order_retries_ms: u64 = RETRY_TIERS.iter().map(|(_, ms)| ms).sum();
        assert!(
            waited_ms > order_retries_ms,
            "{waited_ms} > {order_retries_ms}"
        );
    }
    #[test]
    fn an_event_waiting_for_an_order_parked_for_the_plan_limit_is_parked_with_it_at_once() {
        for waiting in [
            ProcessError::OrderNotBooked {
                order: "#1001".into(),
                order_id: "9001".into(),
            },
            ProcessError::OrderNotPaid {
                order: "#1001".into(),
                order_id: "9001".into(),
            },
        ] {
            assert_eq!(waiting.waits_for_order(), Some("9001"));
            let parked = waiting.parked_with("shopify:acme:o-1001");

            assert!(!parked.is_retryable());
            assert_eq!(parked.retry_tier(1), None, "dead at once, no retries spent");
            assert_eq!(parked.reason(), "xero_plan_limit");
            assert_eq!(parked.waits_for_order(), None);
            let message = parked.to_string();
            for part in [
                "order #1001 is parked",
                "shopify:acme:o-1001",
                "dead replay --reason xero_plan_limit",
                "summary_period = \"weekly\"",
            ] {
                assert!(message.contains(part), "{part:?} in {message}");
            }
        }
        // Any other failure is no waiting and stays as it is.
        let down = ProcessError::Ledger("connection refused".into());
        assert_eq!(down.waits_for_order(), None);
        assert_eq!(down.parked_with("e").reason(), "ledger_unavailable");
    }
}
