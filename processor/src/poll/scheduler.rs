//! The poller every processor runs: it looks for shops due a poll, leases one at a time, reads
//! its window and publishes what it found. Processors share the shops through the leases, so
//! adding processors adds pollers without any shop being read twice at once.

use std::sync::Arc;
use std::time::Duration;

use lapin::{Connection, ConnectionProperties};
use secrecy::ExposeSecret as _;
use time::OffsetDateTime;
use tokio::sync::watch;
use xcs_shared::Source;

use super::pass::{Pass, Sink, Tally};
use super::{LEASE, Leased, PollClient, PollError, Window, payouts, stock};
use crate::config::{Config, ShopConfig};
use crate::ledger::{Ledger, PollLease};
use crate::observe::Observer;
use crate::publisher::Republisher;

/// The poll state's purpose for the poller (a backfill has its own).
pub const PURPOSE: &str = "poll";
/// How soon a poll that failed is tried again (unless the shop's interval is shorter).
const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);

/// Whether a shop is polled: it has an API and a non-zero interval.
pub fn polled(shop: &ShopConfig) -> bool {
    shop.api.is_some() && shop.poll.interval(shop.platform) > 0
}

/// Whether any shop of the config is polled (for its orders, its stock or its payouts).
pub fn any_polled(config: &Config) -> bool {
    config.shops.values().any(read_at_all)
}

/// Whether the poller reads anything of a shop.
fn read_at_all(shop: &ShopConfig) -> bool {
    polled(shop) || stock::polled(shop) || payouts::polled(shop)
}

/// The poller: runs until `stop` turns true; a poll in progress is abandoned at once (its
/// cursor stays at the last part done).
pub async fn run(
    config: Arc<Config>,
    ledger: Ledger,
    observer: Arc<Observer>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let holder = format!(
        "{}-{}-{}",
        hostname(),
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let client = PollClient::default();
    let mut publisher: Option<(Connection, Republisher)> = None;
    loop {
        for (name, shop) in config.shops.iter().filter(|(_, shop)| read_at_all(shop)) {
            if *stop.borrow() {
                return;
            }
            let poll = poll_shop(
                &config,
                &ledger,
                &client,
                &mut publisher,
                &holder,
                name,
                shop,
            );
            tokio::select! {
                result = poll => record(&observer, name, result),
                _ = stop.changed() => return,
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME").unwrap_or_else(|_| "processor".to_owned())
}

fn record(observer: &Observer, shop: &str, result: Result<Option<Tally>, PollError>) {
    match result {
        Ok(None) => {}
        Ok(Some(tally)) => {
            observer.metrics.poll(shop, "done");
            tracing::debug!(
                shop,
                orders = tally.orders,
                refunds = tally.refunds,
                "polled"
            );
        }
        Err(err) => {
            observer.metrics.poll(shop, "failed");
            tracing::warn!(shop, error = %err, "poll failed: {err}");
        }
    }
}

/// Polls one shop if it is due and no other process holds it: its orders and refunds, then
/// its stock if that is due (under the same lease, taken for the stock alone when the orders
/// are not due).
async fn poll_shop(
    config: &Config,
    ledger: &Ledger,
    client: &PollClient,
    publisher: &mut Option<(Connection, Republisher)>,
    holder: &str,
    name: &str,
    shop: &ShopConfig,
) -> Result<Option<Tally>, PollError> {
    let now = OffsetDateTime::now_utc();
    let settle = time::Duration::seconds(i64::try_from(shop.poll.settle()).unwrap_or(i64::MAX));
    let overlap = time::Duration::seconds(i64::try_from(shop.poll.overlap()).unwrap_or(i64::MAX));
    let take = |even_if_not_due| {
        ledger.lease_poll(
            name,
            PURPOSE,
            shop.platform.as_str(),
            holder,
            now - settle,
            LEASE,
            even_if_not_due,
        )
    };
    let mut lease = None;
    if polled(shop) {
        lease = take(false).await?;
    }
    let orders_due = lease.is_some();
    if !orders_due
        && ((stock::polled(shop) && stock::due(ledger, name).await?)
            || (payouts::polled(shop) && payouts::due(ledger, name).await?))
    {
        lease = take(true).await?;
    }
    let Some(lease) = lease else {
        return Ok(None);
    };
    if !orders_due {
        let result = read_others(
            config, ledger, client, publisher, holder, name, shop, &lease,
        )
        .await;
        if !matches!(result, Err(PollError::LeaseLost)) {
            ledger.unlease_poll(&lease).await?;
        }
        return result.map(|()| None);
    }
    let calls_before = client.calls();
    let mut tally = Tally::default();
    let result = async {
        let republisher = connected(config, publisher).await?;
        let pass = Pass {
            name,
            shop,
            client,
            ledger,
            sink: Sink::Publish {
                publisher: republisher,
                source: Source::Poll,
                room: None,
            },
            lease: Some(&lease),
        };
        let window = Window {
            from: lease.cursor - overlap,
            to: now - settle,
        };
        pass.run(window, &mut tally, |_, _| {}).await
    }
    .await;
    if matches!(result, Err(PollError::Publish(_))) {
        *publisher = None;
    }
    let interval = Duration::from_secs(shop.poll.interval(shop.platform));
    let (next_in, error) = match &result {
        Ok(()) => (interval, String::new()),
        Err(err) => (interval.min(RETRY_FAILED_AFTER), err.to_string()),
    };
    let calls = client.calls() - calls_before;
    let result = match result {
        Ok(()) => {
            read_others(
                config, ledger, client, publisher, holder, name, shop, &lease,
            )
            .await
        }
        other => other,
    };
    if !matches!(result, Err(PollError::LeaseLost)) {
        ledger
            .release_poll(&lease, next_in, tally.orders + tally.refunds, calls, &error)
            .await?;
    }
    result.map(|()| Some(tally))
}

/// Reads the shop's stock and its payouts under `lease`, each if it is read at all and due.
#[allow(clippy::too_many_arguments)]
async fn read_others(
    config: &Config,
    ledger: &Ledger,
    client: &PollClient,
    publisher: &mut Option<(Connection, Republisher)>,
    holder: &str,
    name: &str,
    shop: &ShopConfig,
    lease: &PollLease,
) -> Result<(), PollError> {
    let shop_read = ShopRead {
        config,
        ledger,
        client,
        holder,
        name,
        shop,
        lease,
    };
    if stock::polled(shop) {
        shop_read
            .run(publisher, "stock", async |leased| {
                stock::Reader { leased }.read_if_due().await.map(drop)
            })
            .await?;
    }
    if payouts::polled(shop) {
        shop_read
            .run(publisher, "payout", async |leased| {
                payouts::Reader { leased }.read_if_due().await.map(drop)
            })
            .await?;
    }
    Ok(())
}

/// What the reads beside a shop's orders (stock, payouts) share: the shop, the poller's
/// client and ledger, and the lease they run under.
struct ShopRead<'a> {
    config: &'a Config,
    ledger: &'a Ledger,
    client: &'a PollClient,
    holder: &'a str,
    name: &'a str,
    shop: &'a ShopConfig,
    lease: &'a PollLease,
}

impl ShopRead<'_> {
    /// Runs `read` if it is due. A failed read is logged, kept in its poll state and retried
    /// at its own schedule: it does not fail the order poll, whose cursor has moved already.
    async fn run(
        &self,
        publisher: &mut Option<(Connection, Republisher)>,
        what: &str,
        read: impl AsyncFnOnce(Leased<'_>) -> Result<(), PollError>,
    ) -> Result<(), PollError> {
        let result = async {
            connected(self.config, publisher).await?;
            let (connection, republisher) = publisher.as_ref().expect("connected above");
            read(Leased {
                name: self.name,
                shop: self.shop,
                client: self.client,
                ledger: self.ledger,
                holder: self.holder,
                lease: self.lease,
                connection,
                republisher,
            })
            .await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(PollError::LeaseLost) => Err(PollError::LeaseLost),
            Err(err) => {
                if matches!(err, PollError::Publish(_)) {
                    *publisher = None;
                }
                tracing::warn!(shop = self.name, error = %err, "{what} read failed: {err}");
                Ok(())
            }
        }
    }
}

async fn connected<'p>(
    config: &Config,
    publisher: &'p mut Option<(Connection, Republisher)>,
) -> Result<&'p Republisher, PollError> {
    if publisher
        .as_ref()
        .is_some_and(|(connection, _)| !connection.status().connected())
    {
        *publisher = None;
    }
    if publisher.is_none() {
        let connection = Connection::connect(
            config.amqp.uri.expose_secret(),
            ConnectionProperties::default(),
        )
        .await
        .map_err(|err| PollError::Publish(format!("cannot connect: {err}")))?;
        let republisher = Republisher::open(&connection)
            .await
            .map_err(|err| PollError::Publish(format!("{err:#}")))?;
        *publisher = Some((connection, republisher));
    }
    Ok(&publisher.as_ref().expect("connected above").1)
}
