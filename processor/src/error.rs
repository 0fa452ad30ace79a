//! Why an event could not be booked, and whether trying again can help. The message is what
//! an operator reads on the dead letter: it says what is wrong and what to do.

use crate::ledger::LedgerError;
use crate::mapping::MappingError;
use crate::normalise::NormaliseError;
use crate::xero::client::XeroError;

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
    #[error("{0}")]
    Xero(#[from] XeroError),
    #[error("the refund's order {order} is not booked yet; it will be retried")]
    OrderNotBooked { order: String },
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
    /// The event must be fetched from the platform, but the shop has no API configured.
    #[error("{0}, but the shop has no [api] section (base_url and credentials); add it and replay")]
    NoPlatformApi(String),
    #[error("the ledger is unavailable: {0}")]
    Ledger(String),
}

impl ProcessError {
    /// Retryable failures go through the retry tiers; the others go to the dead queue at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProcessError::Xero(err) => err.is_retryable(),
            ProcessError::OrderNotBooked { .. }
            | ProcessError::StaleContact(_)
            | ProcessError::Hydration(_)
            | ProcessError::Ledger(_) => true,
            ProcessError::Envelope(_)
            | ProcessError::UnknownShop(_)
            | ProcessError::Unparseable(_)
            | ProcessError::Implausible(_)
            | ProcessError::PlatformCredentials(_)
            | ProcessError::NoPlatformApi(_)
            | ProcessError::Mapping(_)
            | ProcessError::Rejected { .. } => false,
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
            ProcessError::Mapping(_) => "totals_mismatch",
            ProcessError::Rejected { .. } => "xero_validation",
            ProcessError::Xero(XeroError::RateLimited { .. }) => "xero_rate_limited",
            ProcessError::Xero(XeroError::Unauthorized(_) | XeroError::Forbidden(_)) => {
                "xero_unauthorized"
            }
            ProcessError::Xero(XeroError::Validation(_)) => "xero_validation",
            ProcessError::Xero(_) => "xero_unavailable",
            ProcessError::OrderNotBooked { .. } => "order_not_booked",
            ProcessError::StaleContact(_) => "stale_contact",
            ProcessError::Hydration(_) => "platform_unavailable",
            ProcessError::PlatformCredentials(_) => "platform_credentials",
            ProcessError::NoPlatformApi(_) => "platform_api_missing",
            ProcessError::Ledger(_) => "ledger_unavailable",
        }
    }
}

impl From<LedgerError> for ProcessError {
    fn from(err: LedgerError) -> Self {
        ProcessError::Ledger(err.to_string())
    }
}

impl From<NormaliseError> for ProcessError {
    fn from(err: NormaliseError) -> Self {
        match err {
            NormaliseError::Implausible { .. } => ProcessError::Implausible(err.to_string()),
            _ => ProcessError::Unparseable(err.to_string()),
        }
    }
}
