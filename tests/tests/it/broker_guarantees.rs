//! What the ingress promises about the broker: 2xx only after a confirm with no return; 503
//! with Retry-After when the broker is gone, refuses, or cannot route; back to 200 on its own
//! when the broker returns; nothing acknowledged is ever missing. Real RabbitMQ, a vhost per
//! test; "the broker is down" is a TCP proxy cut between this ingress and RabbitMQ, so other
//! tests keep their broker.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use xcs_shared::topology;
use xcs_tests::broker::{TestBroker, amqp_addr};
use xcs_tests::ingress::{Harness, TestIngress, shops, test_config};
use xcs_tests::keyserver::KeyServer;
use xcs_tests::proxy::Proxy;
use xcs_tests::{eventually, fixtures, signer};

fn shopify_delivery(n: u64) -> signer::Delivery {
    signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "orders/paid",
        &format!("outage-{n}"),
        &fixtures::shopify_order(n),
    )
}

#[tokio::test]
async fn with_the_broker_gone_webhooks_get_503_and_after_it_returns_nothing_acknowledged_is_missing()
 {
    let broker = TestBroker::with_topology().await;
    let proxy = Proxy::start(amqp_addr()).await;
    let keys = KeyServer::start().await;
    let uri = format!(
        "amqp://guest:guest@127.0.0.1:{}/{}",
        proxy.port, broker.vhost
    );
    let ingress = Arc::new(TestIngress::start(&test_config(&uri, &keys.base_url)).await);
    ingress.wait_ready().await;

    // A steady stream of deliveries throughout: before, during and after the outage.
    let acknowledged = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
    let refused = Arc::new(AtomicU64::new(0));
    let running = Arc::new(AtomicBool::new(true));
    let sender = tokio::spawn({
        let (ingress, acknowledged, refused, running) = (
            Arc::clone(&ingress),
            Arc::clone(&acknowledged),
            Arc::clone(&refused),
            Arc::clone(&running),
        );
        async move {
            let mut n = 0;
            while running.load(Ordering::SeqCst) {
                n += 1;
                let response = ingress.send(&shopify_delivery(n)).await;
                match response.status().as_u16() {
                    200 => {
                        let answer: Value = response.json().await.unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(answer["event_id"].as_str().unwrap().to_owned());
                    }
                    503 => {
                        assert!(
                            response.headers().contains_key("retry-after"),
                            "503 carries Retry-After"
                        );
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("unexpected status {other}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });

    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.cut().await;
    eventually(
        Duration::from_secs(10),
        "the ingress to notice and refuse",
        || async { (refused.load(Ordering::SeqCst) > 0).then_some(()) },
    )
    .await;
    assert_eq!(
        ingress.get("/readyz").await.status(),
        503,
        "not ready while the broker is gone"
    );
    let during = ingress.send(&shopify_delivery(1_000_000)).await;
    assert_eq!(during.status(), 503);

    proxy.restore();
    ingress.wait_ready().await;
    let after = acknowledged.lock().unwrap().len();
    eventually(
        Duration::from_secs(10),
        "deliveries to be accepted again",
        || async { (acknowledged.lock().unwrap().len() > after + 5).then_some(()) },
    )
    .await;
    running.store(false, Ordering::SeqCst);
    sender.await.unwrap();

    let acknowledged = acknowledged.lock().unwrap().clone();
    let landed = broker
        .take_shards_when(acknowledged.len(), Duration::from_secs(10))
        .await;
    let landed_ids: BTreeSet<String> = landed
        .iter()
        .map(|m| {
            m.header(xcs_shared::envelope::header::EVENT_ID)
                .unwrap()
                .to_owned()
        })
        .collect();
    let missing: Vec<_> = acknowledged.difference(&landed_ids).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not in RabbitMQ: {missing:?}"
    );
    assert!(refused.load(Ordering::SeqCst) > 0);
}

#[tokio::test]
async fn when_the_broker_closes_the_connection_the_ingress_reconnects_on_its_own() {
    let harness = Harness::start().await;
    assert_eq!(
        harness.ingress.send(&shopify_delivery(1)).await.status(),
        200
    );
    let closed = eventually(
        Duration::from_secs(5),
        "the ingress's connection",
        || async {
            let closed = harness.broker.close_connections().await;
            (closed > 0).then_some(closed)
        },
    )
    .await;
    assert!(closed >= 1);
    eventually(
        Duration::from_secs(10),
        "a 200 after the reconnection",
        || async {
            (harness.ingress.send(&shopify_delivery(2)).await.status() == 200).then_some(())
        },
    )
    .await;
    harness.ingress.wait_ready().await;
    let landed = harness
        .broker
        .take_shards_when(2, Duration::from_secs(10))
        .await;
    assert_eq!(landed.len(), 2);
}

#[tokio::test]
async fn a_message_the_broker_cannot_route_is_a_503_not_a_success() {
    // The exchanges and queues exist but nothing binds them: every publish comes back as a
    // basic.return, which lapin reports as an ack carrying the returned message.
    let broker = TestBroker::empty().await;
    let mut definitions = topology::definitions(&broker.vhost);
    definitions["bindings"] = Value::Array(vec![]);
    broker.import(definitions.to_string()).await;
    let keys = KeyServer::start().await;
    let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), &keys.base_url)).await;
    ingress.wait_ready().await;

    let response = ingress.send(&shopify_delivery(1)).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["detail"].as_str().unwrap().contains("NO_ROUTE"),
        "{answer}"
    );
}

#[tokio::test]
async fn a_full_shard_nacks_and_the_webhook_gets_503() {
    // Shards that hold one message and reject publishes beyond it (the deployed ones hold a
    // million): the second event of a tenant is nacked by the broker.
    let broker = TestBroker::empty().await;
    let mut definitions = topology::definitions(&broker.vhost);
    for queue in definitions["queues"].as_array_mut().unwrap() {
        if queue["arguments"].get("x-max-length").is_some() {
            queue["arguments"]["x-max-length"] = 1.into();
        }
    }
    broker.import(definitions.to_string()).await;
    let keys = KeyServer::start().await;
    let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), &keys.base_url)).await;
    ingress.wait_ready().await;

    // Quorum queues apply the limit once they are over it, so a message or two more may be
    // accepted first; what matters is that the overflow is refused, and never acknowledged.
    let mut accepted = 0;
    let mut refusal = None;
    for n in 0..5 {
        let response = ingress.send(&shopify_delivery(n)).await;
        match response.status().as_u16() {
            200 => accepted += 1,
            503 => {
                refusal = Some(response.json::<Value>().await.unwrap());
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let refusal = refusal.expect("the full shard refused a publish");
    assert!(
        refusal["detail"].as_str().unwrap().contains("nack"),
        "{refusal}"
    );
    assert_eq!(broker.take_all_shards().await.len(), accepted);
}

#[tokio::test]
async fn without_the_topology_the_ingress_is_not_ready_and_refuses() {
    let broker = TestBroker::empty().await;
    let keys = KeyServer::start().await;
    let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), &keys.base_url)).await;
    eventually(Duration::from_secs(10), "a connection", || async {
        let ready: Value = ingress.get("/readyz").await.json().await.unwrap();
        (ready["broker_connected"] == true).then_some(ready)
    })
    .await;
    let ready = ingress.get("/readyz").await;
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["topology_present"], false);
    assert_eq!(ingress.send(&shopify_delivery(1)).await.status(), 503);

    // An operator imports the definitions; the ingress notices without a restart.
    broker
        .import(topology::definitions(&broker.vhost).to_string())
        .await;
    ingress.wait_ready().await;
    eventually(
        Duration::from_secs(10),
        "a 200 after the import",
        || async { (ingress.send(&shopify_delivery(2)).await.status() == 200).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_webhooks() {
    let Harness {
        broker, ingress, ..
    } = Harness::start().await;
    let delivery = shopify_delivery(1);
    let address = ingress.base_url.trim_start_matches("http://").to_owned();

    // A webhook whose body is still arriving when the shutdown starts.
    let in_flight = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: ingress\r\nContent-Length: {}\r\nConnection: close\r\n",
            delivery.path(),
            delivery.body.len()
        );
        for (name, value) in &delivery.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(&delivery.body[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        stream.write_all(&delivery.body[10..]).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    ingress.stop().await;

    let response = in_flight.await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let landed = broker.take_shards_when(1, Duration::from_secs(10)).await;
    assert_eq!(landed.len(), 1);
}

#[tokio::test]
async fn the_deployed_definitions_are_the_shared_topology_and_declare_every_name() {
    let file = std::fs::read_to_string(
        xcs_tests::workspace_root().join("deploy/rabbitmq/definitions.json"),
    )
    .unwrap();
    let deployed: Value = serde_json::from_str(&file).unwrap();
    assert_eq!(
        deployed,
        topology::definitions(topology::DEFAULT_VHOST),
        "deploy/rabbitmq/definitions.json is stale; regenerate it with \
         `cargo run -p xcs-tests --bin definitions > deploy/rabbitmq/definitions.json`"
    );

    // Imported into a broker, every exchange and queue named in `shared` exists.
    let broker = TestBroker::with_topology().await;
    let connection = broker.connect().await;
    for exchange in topology::EXCHANGES {
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.into(),
                lapin::ExchangeKind::Topic,
                lapin::options::ExchangeDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                lapin::types::FieldTable::default(),
            )
            .await
            .unwrap_or_else(|err| panic!("exchange {exchange}: {err}"));
    }
    for queue in topology::queues() {
        assert_eq!(broker.depth(&queue).await, 0, "{queue}");
    }
}
