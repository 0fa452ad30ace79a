//! The broker's ceiling for the ingress benchmark: how many messages per second the RabbitMQ
//! the ingress uses takes, published the way the ingress publishes them.
//!
//! One connection, one confirm-mode channel (as the ingress), persistent and `mandatory`
//! messages with the envelope headers, to `xcs.events` with the ingress's routing keys, spread
//! over 20 tenants so the consistent-hash exchange uses every shard. `--in-flight` publishes
//! await their confirms at once. Only an ack without a returned message counts as a success, as
//! in the ingress.
//!
//! The bodies are the load generator's (`--bodies`): the ~5 KB Shopify order (the default),
//! the thin BigCommerce/Etsy bodies of the `standard-webhooks` scenario, or the six-platform
//! `mix`, so each ingress scenario can be set against the broker's rate for the same messages.
//!
//! ```text
//! broker_ceiling amqp://guest:guest@127.0.0.1:5672/xcs-bench --in-flight 64 --duration 10
//! ```

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use clap::{Parser, ValueEnum as _};
use hdrhistogram::Histogram;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties};
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use xcs_shared::{Envelope, EventKind, Platform, topology};

/// Tenants the messages are spread over (as the load generator's shops).
const TENANTS: usize = 20;

#[derive(Parser)]
#[command(about = "Raw publish rate of RabbitMQ with publisher confirms, as the ingress publishes")]
struct Args {
    /// `amqp://user:password@host:port/vhost`; the vhost needs the deployed topology.
    amqp_uri: String,
    /// Publishes awaiting their confirm at once.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
    /// Seconds to publish for, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds to publish for first without counting: a freshly declared quorum queue is slow
    /// for its first second or so.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Which bodies to publish.
    #[arg(long, value_enum, default_value = "shopify")]
    bodies: Bodies,
    /// Print one JSON line instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Bodies {
    /// The Shopify REST order, about 5 KB.
    Shopify,
    /// BigCommerce and Etsy alternately, a few hundred bytes.
    StandardWebhooks,
    /// One of each platform's in turn.
    Mix,
}

/// One kind of message: its envelope kind, platform and topic, and its body.
type Sample = (EventKind, Platform, &'static str, Vec<u8>);

fn samples(bodies: Bodies) -> Vec<Sample> {
    use xcs_tests::fixtures;
    let shopify = (
        EventKind::Order,
        Platform::Shopify,
        "orders/paid",
        fixtures::shopify_order(820_982_911_946_154_508),
    );
    let bigcommerce = (
        EventKind::Order,
        Platform::BigCommerce,
        "store/order/created",
        fixtures::bigcommerce("store/order/created", 1_700_000_123_000_001, "bench0"),
    );
    let etsy = (
        EventKind::Order,
        Platform::Etsy,
        "ORDER_PAID",
        fixtures::etsy("ORDER_PAID", 40_000_000, 1_700_000_123_000_002),
    );
    match bodies {
        Bodies::Shopify => vec![shopify],
        Bodies::StandardWebhooks => vec![bigcommerce, etsy],
        Bodies::Mix => vec![
            shopify,
            (
                EventKind::Order,
                Platform::WooCommerce,
                "order.created",
                fixtures::woocommerce_order(1_700_000_123_000_003, "2026-11-27T01:00:00"),
            ),
            bigcommerce,
            etsy,
            (
                EventKind::Order,
                Platform::Ebay,
                "ORDER_CONFIRMATION",
                fixtures::ebay("ORDER_CONFIRMATION", "bench-notification", "27-1"),
            ),
            (
                EventKind::Order,
                Platform::Magento,
                "com.adobe.commerce.observer.sales_order_invoice_save_after",
                fixtures::magento_invoice("bench-event", "bench-adobe-client-0"),
            ),
        ],
    }
}

#[derive(Default)]
struct Counts {
    acked: AtomicU64,
    returned: AtomicU64,
    nacked: AtomicU64,
    failed: AtomicU64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    anyhow::ensure!(args.in_flight > 0, "--in-flight must be at least 1");

    let connection = Connection::connect(&args.amqp_uri, ConnectionProperties::default())
        .await
        .context("cannot connect to RabbitMQ")?;
    let channel = connection.create_channel().await?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await?;

    // The broker does not look inside a body, so one of each kind serves; the envelope (event
    // id, delivery id, tenant) differs on every message.
    let samples = samples(args.bodies);
    let mean_body_bytes = samples.iter().map(|s| s.3.len()).sum::<usize>() / samples.len();
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());

    let counts = Arc::new(Counts::default());
    let latency = Arc::new(Mutex::new(
        Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"),
    ));
    let permits = Arc::new(Semaphore::new(args.in_flight));
    let warmup_end = Instant::now() + Duration::from_secs_f64(args.warmup);
    let deadline = warmup_end + Duration::from_secs_f64(args.duration);
    let mut start = None;
    let mut sequence: u64 = 0;
    let mut published: u64 = 0;
    let mut publish_errors: BTreeMap<String, u64> = BTreeMap::new();

    while Instant::now() < deadline {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        // Only what is published after the warm-up is counted.
        let counted = Instant::now() >= warmup_end;
        if counted && start.is_none() {
            start = Some(Instant::now());
        }
        let n = sequence;
        sequence += 1;
        if counted {
            published += 1;
        }
        let (kind, platform, topic, body) =
            &samples[usize::try_from(n).unwrap_or(0) % samples.len()];
        let (kind, platform) = (*kind, *platform);
        let envelope = Envelope {
            event_id: format!("{platform}:bench-ceiling:{run:x}-{n}"),
            platform,
            shop: format!("bench-{platform}-{}", n % TENANTS as u64),
            tenant: format!("00000000-0000-4000-8000-{:012}", n % TENANTS as u64),
            kind,
            topic: (*topic).to_owned(),
            delivery_id: uuid::Uuid::now_v7().to_string(),
            received_at: time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            source: xcs_shared::Source::Webhook,
        };
        let mut headers = FieldTable::default();
        for (name, value) in envelope.headers() {
            headers.insert(
                ShortString::from(name),
                AMQPValue::LongString(LongString::from(value)),
            );
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(envelope.event_id.as_str().into())
            .with_correlation_id(envelope.delivery_id.as_str().into())
            .with_content_type("application/json".into())
            .with_timestamp(timestamp)
            .with_app_id("xcs-broker-ceiling".into())
            .with_headers(headers);
        let routing_key = topology::routing_key(kind, platform);

        let sent = Instant::now();
        let confirm = match channel
            .basic_publish(
                topology::EVENTS_EXCHANGE.into(),
                routing_key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                body,
                properties,
            )
            .await
        {
            Ok(confirm) => confirm,
            Err(err) => {
                *publish_errors.entry(err.to_string()).or_default() += 1;
                if counted {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
                if !channel.status().connected() {
                    break;
                }
                continue;
            }
        };
        let counts = Arc::clone(&counts);
        let latency = Arc::clone(&latency);
        tokio::spawn(async move {
            let outcome = confirm.await;
            drop(permit);
            if !counted {
                return;
            }
            let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
            match outcome {
                Ok(Confirmation::Ack(None)) => {
                    counts.acked.fetch_add(1, Ordering::Relaxed);
                    latency
                        .lock()
                        .expect("not poisoned")
                        .saturating_record(micros.max(1));
                }
                Ok(Confirmation::Ack(Some(_))) => {
                    counts.returned.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Confirmation::Nack(_)) => {
                    counts.nacked.fetch_add(1, Ordering::Relaxed);
                }
                Ok(Confirmation::NotRequested) | Err(_) => {
                    counts.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    // Wait for the confirms still outstanding.
    let in_flight = u32::try_from(args.in_flight).unwrap_or(u32::MAX);
    let drained = tokio::time::timeout(Duration::from_secs(30), permits.acquire_many(in_flight))
        .await
        .is_ok();
    let elapsed = start.map_or(0.0, |start| start.elapsed().as_secs_f64());
    let _ = connection.close(200, "ceiling measured".into()).await;

    let acked = counts.acked.load(Ordering::Relaxed);
    let latency = latency.lock().expect("not poisoned");
    let ms = |q: f64| (latency.value_at_quantile(q) as f64) / 1000.0;
    let summary = json!({
        "in_flight": args.in_flight,
        "bodies": args.bodies.to_possible_value().map(|v| v.get_name().to_owned()),
        "body_bytes": mean_body_bytes,
        "published": published,
        "acked": acked,
        "returned": counts.returned.load(Ordering::Relaxed),
        "nacked": counts.nacked.load(Ordering::Relaxed),
        "failed": counts.failed.load(Ordering::Relaxed),
        "publish_errors": publish_errors,
        "drained": drained,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "msg_per_s": (acked as f64 / elapsed).round(),
        "confirm_p50_ms": ms(0.50),
        "confirm_p99_ms": ms(0.99),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "broker ceiling: {} msg/s ({} acked of {} published in {:.1} s, {} in flight, {} B bodies on average)",
            summary["msg_per_s"], acked, published, elapsed, args.in_flight, mean_body_bytes
        );
        println!(
            "  returned {}, nacked {}, failed {}; confirm latency p50 {} ms, p99 {} ms",
            summary["returned"],
            summary["nacked"],
            summary["failed"],
            summary["confirm_p50_ms"],
            summary["confirm_p99_ms"]
        );
    }
    anyhow::ensure!(acked > 0, "no message was confirmed");
    Ok(())
}
