//! What the platform sent: the shop's events the ledger recorded and those in the archive
//! stream `xcs.archive` (which `--fix` also republishes from); the dead letters are read in
//! [`super::reconcile`] with the dead-letter tool.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use anyhow::Context as _;
use lapin::Connection;
use lapin::types::AMQPValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_shared::envelope::header as envelope;
use xcs_shared::topology::SHARDS_EXCHANGE;

use super::ReconcileOptions;
use crate::handoff::header::ATTEMPTS;
use crate::ledger::{Ledger, LedgerError};
use crate::operate::resync::ArchiveReader;
use crate::publisher::{header_str, now_rfc3339, rewrite_headers, text};

/// On an event `--fix` republished: RFC 3339 time of the reconcile.
pub const RECONCILED_AT: &str = "xcs-reconciled-at";

/// How far around the range the ledger and the archive are read: the broker's clock and the
/// ingress's `xcs-received-at` may differ a little.
const CLOCK_SLACK: Duration = Duration::from_secs(300);

/// A ledger event: what the processor did with it and noted about it.
pub(super) struct LedgerEvent {
    /// `booked`, `skipped` or `summarised`.
    pub(super) outcome: String,
    pub(super) detail: String,
}

/// An event read from the archive.
#[derive(Debug, Clone)]
pub(super) struct ArchiveEvent {
    pub(super) event_id: String,
    /// Its `xcs-source`: `webhook` (also when absent), `poll` or `backfill`.
    pub(super) source: String,
    /// The platform ids its payload names ([`named_ids`]), for the platform leg to say which
    /// events reached us for an order it never found booked.
    pub(super) names: Vec<String>,
}

/// The platform ids a payload names, from a light look at its JSON rather than the platforms'
/// normalisers (a dead letter is often one they could not read, and a thin webhook names ids
/// only): the id fields at the top level (Shopify, WooCommerce, a fetched BigCommerce or Adobe
/// Commerce resource, a listed Etsy receipt or eBay order), in `data` and `data.refund`
/// (BigCommerce's webhooks), `data.value` (Adobe I/O Events) and `notification.data` (eBay),
/// and the receipt in an Etsy webhook's `resource_url`. Nested ids (line items, transactions)
/// are not read: they would name other things.
pub(super) fn named_ids(body: &[u8]) -> Vec<String> {
    use serde_json::Value;
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let places = [
        &json,
        &json["data"],
        &json["data"]["refund"],
        &json["data"]["value"],
        &json["notification"]["data"],
    ];
    let keys = [
        "id",
        "order_id",
        "orderId",
        "receipt_id",
        "entity_id",
        "refund_id",
        "refundId",
    ];
    let mut names = Vec::new();
    for place in places {
        for key in keys {
            let name = match &place[key] {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_owned(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    if let Some(receipt) = json["resource_url"]
        .as_str()
        .and_then(|url| url.split("/receipts/").nth(1))
        .and_then(|rest| rest.split(['/', '?']).next())
        .filter(|id| !id.is_empty())
        && !names.iter().any(|n| n == receipt)
    {
        names.push(receipt.to_owned());
    }
    names
}

const POSTGRES_HINT: &str = "cannot read the ledger; check [postgres].url and schema (or \
                             XCS_POSTGRES_URL) and that PostgreSQL is up";

/// What to say when the ledger cannot be read: that PostgreSQL is unreachable, or, when it
/// refused the statement, `what`.
pub(super) fn unreadable(what: &'static str) -> impl FnOnce(LedgerError) -> anyhow::Error {
    move |err| {
        let context = if matches!(err, LedgerError::Pool(_)) {
            POSTGRES_HINT
        } else {
            what
        };
        anyhow::Error::new(err).context(context)
    }
}

/// The shop's events the ledger recorded, received in the range.
pub(super) async fn ledger_events(
    ledger: &Ledger,
    options: &ReconcileOptions,
) -> anyhow::Result<BTreeMap<String, LedgerEvent>> {
    // Processed after received (give or take clocks): the index on processed_at narrows it.
    let since = options.from - CLOCK_SLACK;
    let rows = ledger
        .shop_events_since(&options.shop, since)
        .await
        .map_err(unreadable(
            "cannot read xcs_events; is [postgres].schema the processor's schema, and has the \
             processor started once (it creates the tables)?",
        ))?;
    let mut events = BTreeMap::new();
    for row in rows {
        let Ok(at) = OffsetDateTime::parse(&row.received_at, &Rfc3339) else {
            continue;
        };
        if at >= options.from && at < options.to {
            events.insert(
                row.event_id,
                LedgerEvent {
                    outcome: row.outcome,
                    detail: row.detail,
                },
            );
        }
    }
    Ok(events)
}

/// Reads the shop's events in the range from the archive; with `republish`, republishes
/// those events (each once) to the shards with confirms. Returns the events read and the ids
/// republished.
pub(super) async fn scan_archive(
    connection: &Connection,
    options: &ReconcileOptions,
    republish: Option<&HashMap<String, bool>>,
) -> anyhow::Result<(Vec<ArchiveEvent>, Vec<String>)> {
    let mut archive = ArchiveReader::open(connection, options.from, "reconcile").await?;
    let stamp = now_rfc3339();
    let mut events = Vec::new();
    let mut republished = Vec::new();
    let mut seen = HashSet::new();
    let result = async {
        while let Some((delivery, received)) = archive.next(options.to).await? {
            let headers = delivery.properties.headers().as_ref();
            let matches = received >= options.from
                && received < options.to
                && header_str(headers, envelope::SHOP).as_deref() == Some(options.shop.as_str());
            let Some(event_id) = header_str(headers, envelope::EVENT_ID).filter(|_| matches) else {
                continue;
            };
            if !seen.insert(event_id.clone()) {
                continue;
            }
            if let Some(cleared) = republish.and_then(|wanted| wanted.get(&event_id)) {
                let mut set = vec![(RECONCILED_AT, text(&stamp))];
                if *cleared {
                    // Counted as one attempt, so the booking's idempotency keys differ from
                    // the first booking's: within 6 minutes Xero would otherwise replay its
                    // cached answer, naming the document that is gone.
                    set.push((ATTEMPTS, AMQPValue::LongLongInt(1)));
                }
                let properties = delivery.properties.clone().with_headers(rewrite_headers(
                    headers,
                    |name| name == "x-stream-offset" || name == ATTEMPTS,
                    set,
                ));
                archive
                    .publisher
                    .publish(SHARDS_EXCHANGE, "reconcile", &delivery.data, properties)
                    .await
                    .with_context(|| format!("cannot republish event {event_id}"))?;
                republished.push(event_id.clone());
            }
            events.push(ArchiveEvent {
                event_id,
                source: header_str(headers, envelope::SOURCE).unwrap_or_else(|| "webhook".into()),
                names: named_ids(&delivery.data),
            });
        }
        Ok::<(), anyhow::Error>(())
    }
    .await;
    archive.close().await;
    result?;
    Ok((events, republished))
}

#[cfg(test)]
mod tests {
    use super::named_ids;

    #[test]
    fn a_payload_names_its_own_ids_not_its_lines() {
        let shopify_refund = br#"{"id": 8101, "order_id": 7101,
            "refund_line_items": [{"id": 1, "line_item_id": 2}]}"#;
        assert_eq!(named_ids(shopify_refund), ["8101", "7101"]);
        let bigcommerce = br#"{"scope": "store/order/refund/created",
            "data": {"type": "order", "id": 310, "refund": {"refund_id": 12}}}"#;
        assert_eq!(named_ids(bigcommerce), ["310", "12"]);
        let ebay = br#"{"notification": {"data": {"orderId": "12-34567-89012"}}}"#;
        assert_eq!(named_ids(ebay), ["12-34567-89012"]);
        let etsy = br#"{"resource_url":
            "https://openapi.etsy.com/v3/application/shops/31415926/receipts/2891034567"}"#;
        assert_eq!(named_ids(etsy), ["2891034567"]);
        assert!(named_ids(b"not json").is_empty());
    }
}
