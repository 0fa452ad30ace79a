//! Dead letters as the processor and RabbitMQ leave them in `xcs.dead`, for the operators'
//! tools' tests: one the processor handed off with its reason, and one RabbitMQ dead-lettered
//! itself past a shard queue's delivery limit.

use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, BasicRejectOptions,
    ConfirmSelectOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation};
use xcs_processor::handoff::header as handoff;
use xcs_shared::{Envelope, EventKind, Platform, topology};

use crate::broker::TestBroker;

/// A dead letter to put in `xcs.dead`, as the processor's hand-off writes it.
#[derive(Debug, Clone)]
pub struct DeadSpec {
    pub event_id: String,
    pub platform: Platform,
    pub shop: String,
    pub kind: EventKind,
    pub topic: String,
    pub reason: String,
    pub last_error: String,
    pub attempts: i64,
    pub first_failure_at: String,
    pub dead_at: String,
    pub body: Vec<u8>,
}

impl DeadSpec {
    /// A Shopify order of the test shop, dead with `reason` at `dead_at`.
    pub fn order(event_id: &str, reason: &str, dead_at: &str, body: Vec<u8>) -> Self {
        DeadSpec {
            event_id: event_id.to_owned(),
            platform: Platform::Shopify,
            shop: crate::processor::SHOP.to_owned(),
            kind: EventKind::Order,
            topic: "orders/paid".to_owned(),
            reason: reason.to_owned(),
            last_error: format!("{reason}: what went wrong"),
            attempts: 1,
            first_failure_at: dead_at.to_owned(),
            dead_at: dead_at.to_owned(),
            body,
        }
    }

    /// The envelope the ingress gave the event.
    pub fn envelope(&self) -> Envelope {
        Envelope {
            event_id: self.event_id.clone(),
            platform: self.platform,
            shop: self.shop.clone(),
            tenant: xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            kind: self.kind,
            topic: self.topic.clone(),
            delivery_id: uuid::Uuid::now_v7().to_string(),
            received_at: "2026-11-27T01:00:00Z".to_owned(),
            source: xcs_shared::Source::Webhook,
        }
    }

    fn properties(&self) -> BasicProperties {
        let mut headers = FieldTable::default();
        let text = |value: &str| AMQPValue::LongString(LongString::from(value));
        for (name, value) in self.envelope().headers() {
            headers.insert(ShortString::from(name), text(value));
        }
        headers.insert(ShortString::from(handoff::REASON), text(&self.reason));
        headers.insert(
            ShortString::from(handoff::LAST_ERROR),
            text(&self.last_error),
        );
        headers.insert(
            ShortString::from(handoff::ATTEMPTS),
            AMQPValue::LongLongInt(self.attempts),
        );
        headers.insert(
            ShortString::from(handoff::FIRST_FAILURE_AT),
            text(&self.first_failure_at),
        );
        headers.insert(ShortString::from(handoff::DEAD_AT), text(&self.dead_at));
        BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(self.event_id.as_str().into())
            .with_content_type("application/json".into())
            .with_headers(headers)
    }
}

/// Puts dead letters in `xcs.dead` through its exchange, as the processor does, with
/// confirms (pipelined, so thousands take a moment).
pub async fn publish_dead(broker: &TestBroker, letters: &[DeadSpec]) {
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let mut confirms = Vec::with_capacity(letters.len());
    for letter in letters {
        confirms.push(
            channel
                .basic_publish(
                    topology::DEAD_EXCHANGE.into(),
                    "".into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &letter.body,
                    letter.properties(),
                )
                .await
                .expect("publish"),
        );
    }
    for confirm in confirms {
        assert_eq!(
            confirm.await.expect("confirm"),
            Confirmation::Ack(None),
            "the dead letter was queued"
        );
    }
    let _ = connection.close(200, "published".into()).await;
}

/// Has RabbitMQ dead-letter the event published on the shards by redelivering it past the
/// shard queue's delivery limit: a consumer takes every delivery and rejects it back, as a
/// processor that crashes on an event does, until the event is in `xcs.dead`.
pub async fn dead_by_delivery_limit(broker: &TestBroker, dead_before: u32) {
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .basic_qos(1, BasicQosOptions::default())
        .await
        .expect("qos");
    let mut rejecters = Vec::new();
    for queue in topology::shard_queues() {
        let mut consumer = channel
            .basic_consume(
                queue.as_str().into(),
                format!("xcs-test-crasher-{queue}").as_str().into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume a shard");
        rejecters.push(tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let _ = delivery.reject(BasicRejectOptions { requeue: true }).await;
            }
        }));
    }
    crate::eventually(
        Duration::from_secs(20),
        "RabbitMQ to dead-letter the event past the delivery limit",
        || async { (broker.depth(topology::DEAD_QUEUE).await > dead_before).then_some(()) },
    )
    .await;
    let _ = connection.close(200, "done".into()).await;
    for rejecter in rejecters {
        rejecter.abort();
    }
}
