//! From an event to the work it asks for: its platform's reading of it ([`crate::platforms`]),
//! the cleaning and plausibility checks every document gets, and what a cancellation means for
//! an order already booked.

use xcs_shared::Envelope;
use xcs_shared::domain::Normalised;

use crate::booking::Work;
use crate::config::ShopConfig;
use crate::error::ProcessError;
use crate::ledger::Ledger;
use crate::normalise;
use crate::platforms::{self, Event, api::Fetcher};

/// Turns events into work.
#[derive(Default)]
pub struct Dispatcher {
    fetcher: Fetcher,
}

impl From<Normalised> for Work {
    fn from(normalised: Normalised) -> Self {
        match normalised {
            Normalised::Order(order) => Work::Order(order),
            Normalised::Refunds { order, refunds } => Work::Refunds { order, refunds },
            Normalised::Stock(changes) => Work::Stock(changes),
            Normalised::Nothing { reason } => Work::Nothing(reason),
        }
    }
}

/// The cleaning and plausibility checks of [`normalise::checks`] on every document of the
/// work.
fn check(work: &mut Work, today: time::Date) -> Result<(), ProcessError> {
    match work {
        Work::Order(order) => check_documents(Some(order), &mut [], today)?,
        Work::Refunds { order, refunds } => check_documents(order.as_mut(), refunds, today)?,
        Work::Stock(changes) => normalise::clean_stock(changes)?,
        Work::Payouts(settlement) => crate::payouts::check_settlement(settlement, today)?,
        Work::Cancel { .. } | Work::Nothing(_) => {}
    }
    Ok(())
}

/// Cleans and checks an order and its refunds, as booking needs them (the console's preview
/// runs the same).
pub(crate) fn check_documents(
    order: Option<&mut xcs_shared::domain::Order>,
    refunds: &mut [xcs_shared::domain::Refund],
    today: time::Date,
) -> Result<(), ProcessError> {
    if let Some(order) = order {
        normalise::clean_order(order)?;
        normalise::check_order(order, today)?;
    }
    for refund in refunds {
        normalise::clean_refund(refund)?;
        normalise::check_refund(refund, today)?;
    }
    Ok(())
}

impl Dispatcher {
    /// The work an event asks for.
    ///
    /// # Errors
    /// [`ProcessError`]: permanent for payloads that cannot be read, retryable when a platform
    /// API is unavailable or a refund's order is not booked yet.
    pub async fn work_for(
        &self,
        envelope: &Envelope,
        shop: &ShopConfig,
        body: &[u8],
        ledger: &Ledger,
    ) -> Result<Work, ProcessError> {
        let mut work = platforms::work_for(&Event {
            envelope,
            shop,
            body,
            ledger,
            fetcher: &self.fetcher,
        })
        .await?;
        check(&mut work, time::OffsetDateTime::now_utc().date())?;
        // Tracked inventory: what the work moves is in flight from now until it is booked.
        crate::stock::record_moves(ledger, envelope, shop, &work).await?;
        // An order cancelled before it was booked has nothing to book; one cancelled after has
        // its invoice voided (see `Booker::book_cancellation`).
        if let Work::Order(order) = &work
            && order.cancelled
        {
            return Ok(
                match ledger
                    .invoice_for_order(&envelope.shop, &order.order_id)
                    .await?
                {
                    Some(invoice) => Work::Cancel {
                        order: order.clone(),
                        invoice,
                    },
                    // Summary mode (crate::summary): the order may be in an open period's
                    // summary, which the cancellation takes it out of.
                    None if shop.mode == crate::config::SyncMode::Summary => {
                        Work::Order(order.clone())
                    }
                    None => {
                        // Never to be booked: the store no longer counts its units out.
                        ledger
                            .forget_stock_moves(&envelope.shop, "invoice", &order.order_id)
                            .await?;
                        Work::Nothing(format!(
                            "order {} was cancelled before it was booked",
                            order.number
                        ))
                    }
                },
            );
        }
        Ok(work)
    }
}
