//! A throwaway RabbitMQ vhost per test, holding the topology from
//! `deploy/rabbitmq/definitions.json` (imported through the management API, as an operator
//! would), and helpers to read what landed in it. The vhost is deleted on drop.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::StreamExt as _;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Connection, ConnectionProperties};

/// The management API, overridable for a broker elsewhere.
pub fn management_url() -> String {
    std::env::var("XCS_TEST_RABBITMQ_API").unwrap_or_else(|_| "http://127.0.0.1:15672".into())
}

/// `host:port` of the AMQP listener.
pub fn amqp_addr() -> String {
    std::env::var("XCS_TEST_AMQP_ADDR").unwrap_or_else(|_| "127.0.0.1:5672".into())
}

/// One message read back from a queue.
#[derive(Debug, Clone)]
pub struct Landed {
    pub queue: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub properties: BasicProperties,
    /// String-valued headers.
    pub headers: BTreeMap<String, String>,
}

impl Landed {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// A vhost of our own on the shared broker.
pub struct TestBroker {
    pub vhost: String,
    http: reqwest::Client,
}

impl TestBroker {
    /// A vhost with the full deployed topology.
    pub async fn with_topology() -> Self {
        let broker = Self::empty().await;
        let definitions = std::fs::read_to_string(
            crate::workspace_root().join("deploy/rabbitmq/definitions.json"),
        )
        .expect("deploy/rabbitmq/definitions.json exists");
        broker.import(definitions).await;
        broker
    }

    /// A vhost with nothing in it.
    pub async fn empty() -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let vhost = format!("xcs-test-{}", uuid::Uuid::new_v4().simple());
        let broker = TestBroker {
            vhost,
            http: reqwest::Client::new(),
        };
        broker
            .api(
                reqwest::Method::PUT,
                &format!("/api/vhosts/{}", broker.vhost),
                None,
            )
            .await;
        broker
            .api(
                reqwest::Method::PUT,
                &format!("/api/permissions/{}/guest", broker.vhost),
                Some(r#"{"configure":".*","write":".*","read":".*"}"#.into()),
            )
            .await;
        broker
    }

    /// Imports definitions into this vhost (the vhost named in the file is ignored).
    pub async fn import(&self, definitions: String) {
        self.api(
            reqwest::Method::POST,
            &format!("/api/definitions/{}", self.vhost),
            Some(definitions),
        )
        .await;
    }

    /// Has the broker close every client connection of this vhost, as a broker restart or an
    /// operator's `rabbitmqctl close_all_connections` does.
    pub async fn close_connections(&self) -> usize {
        let url = format!("{}/api/vhosts/{}/connections", management_url(), self.vhost);
        let connections: Vec<serde_json::Value> = self
            .http
            .get(url)
            .basic_auth("guest", Some("guest"))
            .send()
            .await
            .expect("management API")
            .json()
            .await
            .expect("a connection list");
        for connection in &connections {
            let name = connection["name"].as_str().expect("connections have names");
            let encoded: String = name
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect();
            self.api(
                reqwest::Method::DELETE,
                &format!("/api/connections/{encoded}"),
                None,
            )
            .await;
        }
        connections.len()
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<String>) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", management_url()))
            .basic_auth("guest", Some("guest"));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        let response = request.send().await.unwrap_or_else(|err| {
            panic!(
                "RabbitMQ management API unreachable ({err}); run `.ci/run` or enable \
                 rabbitmq_management"
            )
        });
        assert!(
            response.status().is_success(),
            "management API {path}: {} {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }

    /// `amqp://guest:guest@127.0.0.1:5672/<vhost>`.
    pub fn amqp_uri(&self) -> String {
        format!("amqp://guest:guest@{}/{}", amqp_addr(), self.vhost)
    }

    pub async fn connect(&self) -> Connection {
        Connection::connect(&self.amqp_uri(), ConnectionProperties::default())
            .await
            .expect("connect to the test vhost")
    }

    /// Takes every message now in `queue` (acknowledging it). Shard queues have a single
    /// active consumer, which rules out `basic.get`, so this consumes for as many messages as
    /// the queue reports.
    pub async fn take_all(&self, queue: &str) -> Vec<Landed> {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        let count = passive_declare(&channel, queue).await.message_count();
        let mut landed = Vec::new();
        if count > 0 {
            let mut consumer = channel
                .basic_consume(
                    queue.into(),
                    "xcs-test-reader".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("basic.consume");
            while landed.len() < count as usize {
                let next = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await;
                let Ok(Some(delivery)) = next else { break };
                let delivery = delivery.expect("a delivery");
                delivery.ack(BasicAckOptions::default()).await.expect("ack");
                landed.push(Landed {
                    queue: queue.to_owned(),
                    routing_key: delivery.routing_key.to_string(),
                    headers: string_headers(delivery.properties.headers().as_ref()),
                    properties: delivery.properties,
                    body: delivery.data,
                });
            }
        }
        let _ = connection.close(200, "done".into()).await;
        landed
    }

    /// Waits for the one event the dead queue receives, and takes it (panics if more came).
    pub async fn one_dead_letter(&self, timeout: Duration) -> Landed {
        let mut dead = crate::eventually(timeout, "a dead letter", || async {
            let dead = self.take_all(xcs_shared::topology::DEAD_QUEUE).await;
            (!dead.is_empty()).then_some(dead)
        })
        .await;
        assert_eq!(dead.len(), 1, "{dead:#?}");
        dead.remove(0)
    }

    /// Takes every message from every shard queue.
    pub async fn take_all_shards(&self) -> Vec<Landed> {
        let mut all = Vec::new();
        for queue in xcs_shared::topology::shard_queues() {
            all.extend(self.take_all(&queue).await);
        }
        all
    }

    /// Waits until the shards hold at least `count` messages in all, then takes them.
    pub async fn take_shards_when(&self, count: usize, timeout: Duration) -> Vec<Landed> {
        let all = std::sync::Mutex::new(Vec::new());
        crate::eventually(
            timeout,
            &format!("{count} messages on the shards"),
            || async {
                let taken = self.take_all_shards().await;
                let mut all = all.lock().expect("not poisoned");
                all.extend(taken);
                (all.len() >= count).then_some(())
            },
        )
        .await;
        all.into_inner().expect("not poisoned")
    }

    /// How many messages `queue` holds.
    pub async fn depth(&self, queue: &str) -> u32 {
        let connection = self.connect().await;
        let channel = connection.create_channel().await.expect("channel");
        let declared = passive_declare(&channel, queue).await;
        let _ = connection.close(200, "done".into()).await;
        declared.message_count()
    }
}

async fn passive_declare(channel: &lapin::Channel, queue: &str) -> lapin::Queue {
    channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap_or_else(|err| panic!("queue {queue} exists: {err}"))
}

fn string_headers(table: Option<&FieldTable>) -> BTreeMap<String, String> {
    table
        .map(|table| {
            table
                .inner()
                .iter()
                .filter_map(|(name, value)| {
                    let value = match value {
                        AMQPValue::LongString(s) => {
                            String::from_utf8_lossy(s.as_bytes()).into_owned()
                        }
                        AMQPValue::ShortString(s) => s.to_string(),
                        _ => return None,
                    };
                    Some((name.to_string(), value))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `DELETE url` on the management API, from a `Drop`: on a thread of its own, because Drop
/// cannot await and the test's runtime may be shutting down.
pub fn delete_from_drop(url: String) {
    let _ = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for cleanup");
        runtime.block_on(async {
            let _ = reqwest::Client::new()
                .delete(url)
                .basic_auth("guest", Some("guest"))
                .timeout(Duration::from_secs(10))
                .send()
                .await;
        });
    })
    .join();
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // Deleting the vhost deletes its queues; done on a thread of its own because Drop
        // cannot await and the test's runtime may be shutting down.
        let url = format!("{}/api/vhosts/{}", management_url(), self.vhost);
        delete_from_drop(url);
    }
}
