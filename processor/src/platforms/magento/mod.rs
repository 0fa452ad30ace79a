//! Adobe Commerce (Magento 2): Adobe I/O Events carry the order, credit memo or stock item.

pub mod normalise;

use xcs_shared::EventKind;

use super::{Event, id_at, json};
use crate::booking::Work;
use crate::error::ProcessError;

pub(crate) async fn work_for(event: &Event<'_>) -> Result<Work, ProcessError> {
    Ok(match event.envelope.kind {
        EventKind::Order => normalise::order(event.body)?.into(),
        EventKind::Refund => {
            // The CloudEvents envelope, Adobe's documented nested form, or a bare memo.
            let memo = json(event.body, "the credit memo")?;
            let order_id = [
                "/data/value/order_id",
                "/event/data/value/order_id",
                "/order_id",
            ]
            .iter()
            .find_map(|pointer| id_at(&memo, pointer, "the credit memo").ok())
            .ok_or_else(|| ProcessError::Unparseable("the credit memo has no order_id".into()))?;
            let context = event.order_context(&order_id).await?;
            Work::Refunds {
                order: None,
                refunds: vec![normalise::refund(event.body, &context)?],
            }
        }
        EventKind::Inventory => Work::Stock(normalise::stock(event.body)?),
    })
}
