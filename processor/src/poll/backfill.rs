//! `xcs-processor backfill`: a shop's history, read from its platform API with the poller's
//! listers and booked through the same path as webhooks and polls (`xcs-source: backfill`).
//!
//! Books nothing twice, for the same reason polling does not (`crate::poll`: documents are
//! keyed by the platform's ids). Safe while webhooks arrive, and safe to interrupt: the range's
//! progress is a poll state of its own (`backfill {from}..{to}`), leased like the poller's, so
//! running the same command again resumes where it stopped, and two runs of one range never
//! read at once. A dry run reads the platform's lists (they are what the plan counts) and
//! publishes nothing.

use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;
use xcs_shared::Source;

use super::pass::{Pass, Sink, Tally};
use super::room::ShardRoom;
use super::{LEASE, PollClient, Window, rfc3339};
use crate::config::{Config, ShopConfig, SyncMode};
use crate::ledger::Ledger;
use crate::operate::ProgressBar;
use crate::publisher::Republisher;

/// What a backfill is asked.
pub struct BackfillOptions {
    pub shop: String,
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub dry_run: bool,
    pub progress: ProgressBar,
}

/// What a backfill found (a dry run) or published, and what booking it costs.
#[derive(Debug)]
pub struct Plan {
    pub tally: Tally,
    /// Platform API calls the read made.
    pub platform_calls: usize,
    /// Xero documents booking it makes: invoices and credit notes (real-time mode), or one
    /// invoice and one credit note per period (summary mode).
    pub documents: usize,
    /// Xero calls booking it needs, at the processor's batch size.
    pub xero_calls: usize,
    /// The time those calls take at the tenant's rate limit.
    pub booking_time: Duration,
    /// Where an interrupted run had got to, when this one resumed.
    pub resumed_from: Option<OffsetDateTime>,
}

/// The poll state purpose of a backfill of `[from, to)`.
pub fn purpose(from: OffsetDateTime, to: OffsetDateTime) -> String {
    format!("backfill {}..{}", rfc3339(from), rfc3339(to))
}

/// Reads the shop's history in `[from, to)` and publishes it (or, dry, counts it).
///
/// # Errors
/// When the shop cannot be read or published; what was published stays published, and the
/// same command resumes after the last part done.
pub async fn backfill(
    config: &Config,
    ledger: &Ledger,
    options: &BackfillOptions,
) -> anyhow::Result<Plan> {
    let shop = config
        .shop(&options.shop)
        .ok_or_else(|| anyhow::anyhow!("no shop {:?} in the config", options.shop))?;
    anyhow::ensure!(
        shop.api.is_some(),
        "shop {:?} has no [api] settings: a backfill reads the platform's API",
        options.shop
    );
    anyhow::ensure!(
        options.from < options.to,
        "--from must be before --to (or before now, without --to)"
    );
    let client = PollClient::default();
    let mut tally = Tally::default();
    let span = (options.to - options.from).whole_seconds().max(1);
    let progress = &options.progress;
    progress.set_length(u64::try_from(span).unwrap_or(u64::MAX));
    let mut on_part = |part: &Window, tally: &Tally| {
        progress.set_position(u64::try_from((part.to - options.from).whole_seconds()).unwrap_or(0));
        progress.set_message(format!(
            "{} orders, {} refunds, up to {}",
            tally.orders,
            tally.refunds,
            rfc3339(part.to)
        ));
    };
    let mut resumed_from = None;
    if options.dry_run {
        let pass = Pass {
            name: &options.shop,
            shop,
            client: &client,
            ledger,
            sink: Sink::Count,
            lease: None,
        };
        let window = Window {
            from: options.from,
            to: options.to,
        };
        pass.run(window, &mut tally, &mut on_part).await?;
    } else {
        let purpose = purpose(options.from, options.to);
        let holder = format!("backfill-{}", uuid::Uuid::new_v4().simple());
        let lease = ledger
            .lease_poll(
                &options.shop,
                &purpose,
                shop.platform.as_str(),
                &holder,
                options.from,
                LEASE,
                true,
            )
            .await?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "a backfill of this range of shop {} is running (or one was interrupted \
                     less than {} seconds ago); wait and run it again to resume",
                    options.shop,
                    LEASE.as_secs()
                )
            })?;
        if lease.cursor > options.from {
            resumed_from = Some(lease.cursor);
        }
        let connection = Connection::connect(
            config.amqp.uri.expose_secret(),
            ConnectionProperties::default(),
        )
        .await
        .map_err(|err| anyhow::anyhow!("cannot connect to RabbitMQ: {err}; check [amqp] uri"))?;
        let publisher = Republisher::open(&connection).await?;
        let room = ShardRoom::open(&connection).await?;
        let pass = Pass {
            name: &options.shop,
            shop,
            client: &client,
            ledger,
            sink: Sink::Publish {
                publisher: &publisher,
                source: Source::Backfill,
                room: Some(&room),
            },
            lease: Some(&lease),
        };
        let window = Window {
            from: lease.cursor,
            to: options.to,
        };
        let result = tokio::select! {
            result = pass.run(window, &mut tally, &mut on_part) => result.map_err(anyhow::Error::from),
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!(
                "interrupted; run the same command again to resume"
            )),
        };
        let error = result
            .as_ref()
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        // Released at once, so a run after an interrupt need not wait for the lease to lapse.
        ledger
            .release_poll(
                &lease,
                Duration::ZERO,
                tally.orders + tally.refunds,
                client.calls(),
                &error,
            )
            .await?;
        publisher.close().await;
        room.close().await;
        let _ = connection.close(200, "backfilled".into()).await;
        result?;
    }
    progress.finish_and_clear();
    Ok(plan(
        config,
        shop,
        options,
        tally,
        client.calls(),
        resumed_from,
    ))
}

/// What booking `tally` costs in Xero. Real time: an invoice and its payment per order and a
/// credit note, its allocation and its refund payment per refund, batched `batch_size` a call
/// where Xero has a batch endpoint (invoices, credit notes, payments). Summary: per period
/// of the range, one invoice, its payment, one credit note, its allocation and refund
/// payment. Contacts found or created per customer come on top (`per_customer` shops).
fn plan(
    config: &Config,
    shop: &ShopConfig,
    options: &BackfillOptions,
    tally: Tally,
    platform_calls: usize,
    resumed_from: Option<OffsetDateTime>,
) -> Plan {
    let batch = config.processing.batch_size.max(1);
    let (documents, xero_calls) = match shop.mode {
        SyncMode::Realtime => (
            tally.orders + tally.refunds,
            2 * tally.orders.div_ceil(batch) + 3 * tally.refunds.div_ceil(batch),
        ),
        SyncMode::Summary => {
            let period = match shop.summary_period {
                crate::config::SummaryPeriod::Hourly => 3_600,
                crate::config::SummaryPeriod::Daily => 86_400,
                crate::config::SummaryPeriod::Weekly => 7 * 86_400,
            };
            let periods =
                usize::try_from(((options.to - options.from).whole_seconds() / period).max(1))
                    .unwrap_or(usize::MAX);
            let periods = periods.min(tally.orders + tally.refunds);
            (2 * periods, 5 * periods)
        }
    };
    let per_minute = f64::from(config.xero.max_per_minute.max(1));
    let per_day = f64::from(config.xero.max_per_day.max(1));
    let minutes = xero_calls as f64 / per_minute;
    // Past a day's allowance the day limit, not the minute limit, sets the pace.
    let days = (xero_calls as f64 / per_day).floor();
    let booking_time = Duration::from_secs_f64(minutes * 60.0 + days * 86_400.0);
    Plan {
        tally,
        platform_calls,
        documents,
        xero_calls,
        booking_time,
        resumed_from,
    }
}
