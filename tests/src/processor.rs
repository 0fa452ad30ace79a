//! The processor in-process against the real RabbitMQ and PostgreSQL and the Xero simulator,
//! and a way to publish events exactly as the ingress does.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_xero_sim::{CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, RunningSim};

use crate::broker::TestBroker;
use crate::postgres::{TestSchema, postgres_url};

/// The shop every processor test books into the simulator's NZ demo company.
pub const SHOP: &str = "nz-shopify";
pub const WOO_SHOP: &str = "nz-woo";

/// A processor config for the simulator's Custom Connection (the NZ demo company), with a
/// Shopify and a WooCommerce shop mapped onto the demo chart of accounts.
pub fn test_config(
    broker: &TestBroker,
    schema: &TestSchema,
    sim: &RunningSim,
    extra: &str,
) -> String {
    let tenant = xcs_xero_sim::DEMO_NZ_TENANT_ID;
    format!(
        r#"
log_format = "pretty"
[amqp]
uri = "{amqp}"
[postgres]
url = "{pg}"
schema = "{schema}"
pool_size = 4
[xero]
api_base = "{api}"
identity_base = "{identity}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "custom_connection"
timeout_ms = 5000
[processing]
batch_size = 50
linger_ms = 100
prefetch = 200
{extra}
[shops.{SHOP}]
platform = "shopify"
tenant = "{tenant}"
contacts = {{ strategy = "generic", name = "Shopify Sales" }}
[shops.{SHOP}.mapping]
document_prefix = "SH-"
[shops.{SHOP}.mapping.accounts]
sales = "200"
shipping = "205"
discounts = "210"
gift_cards = "825"
fees = "260"
rounding = "860"
clearing = "615"
[shops.{SHOP}.mapping.tax]
by_rate = {{ "15" = "OUTPUT2" }}
untaxed = "ZERORATED"

[shops.{WOO_SHOP}]
platform = "woocommerce"
tenant = "{tenant}"
contacts = {{ strategy = "per_customer", fallback = "WooCommerce Sales" }}
[shops.{WOO_SHOP}.mapping]
document_prefix = "WC-"
[shops.{WOO_SHOP}.mapping.accounts]
sales = "200"
shipping = "205"
discounts = "210"
gift_cards = "825"
fees = "260"
rounding = "860"
clearing = "616"
[shops.{WOO_SHOP}.mapping.tax]
by_rate = {{ "15" = "OUTPUT2" }}
untaxed = "ZERORATED"
"#,
        amqp = broker.amqp_uri(),
        pg = postgres_url(),
        schema = schema.name,
        api = sim.base_url(),
        identity = sim.identity_url(),
        client_id = CUSTOM_CONNECTION_CLIENT_ID,
        client_secret = CUSTOM_CONNECTION_CLIENT_SECRET,
    )
}

/// A running processor.
pub struct TestProcessor {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestProcessor {
    pub async fn start(config_toml: &str) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            xcs_shared::telemetry::init(xcs_shared::telemetry::LogFormat::Pretty);
        }
        let config = xcs_processor::config::Config::from_toml(config_toml, |_| None)
            .expect("a valid processor config");
        let processor = xcs_processor::startup::Processor::build(config)
            .await
            .expect("the processor starts");
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(processor.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestProcessor {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gracefully: batches in progress finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Dies at once, as a killed process would: nothing in flight is settled.
    pub fn kill(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for TestProcessor {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Publishes `body` as the ingress would have, for `shop` on `platform`.
pub async fn publish(
    broker: &TestBroker,
    platform: Platform,
    shop: &str,
    kind: EventKind,
    topic: &str,
    event_id: &str,
    body: &[u8],
) {
    let envelope = Envelope {
        event_id: event_id.to_owned(),
        platform,
        shop: shop.to_owned(),
        tenant: xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        kind,
        topic: topic.to_owned(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        received_at: "2026-11-27T01:00:00Z".to_owned(),
    };
    let mut headers = FieldTable::default();
    for (name, value) in envelope.headers() {
        headers.insert(
            ShortString::from(name),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirmation = channel
        .basic_publish(
            topology::EVENTS_EXCHANGE.into(),
            topology::routing_key(kind, platform).as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(event_id.into())
                .with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert_eq!(
        confirmation,
        Confirmation::Ack(None),
        "the event was routed"
    );
    let _ = connection.close(200, "published".into()).await;
}

/// Waits until the ledger has handled `event_id`, and returns its outcome and detail.
pub async fn wait_handled(
    schema: &TestSchema,
    event_id: &str,
    timeout: Duration,
) -> (String, String) {
    let client = schema.client().await;
    crate::eventually(timeout, &format!("event {event_id} to be handled"), || {
        let client = &client;
        async move {
            client
                .query_opt(
                    "SELECT outcome, detail FROM xcs_events WHERE event_id = $1",
                    &[&event_id],
                )
                .await
                .ok()
                .flatten()
                .map(|row| (row.get(0), row.get(1)))
        }
    })
    .await
}

/// The simulator's invoices for the NZ demo company with this number.
pub fn invoices_numbered(sim: &RunningSim, number: &str) -> Vec<Value> {
    sim.invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["InvoiceNumber"] == number)
        .collect()
}
