//! Hostile and broken input, end to end: the ingress over HTTP (and raw TCP, for clients that
//! misbehave below HTTP) against the real RabbitMQ, and the processor against the real
//! RabbitMQ, PostgreSQL and the Xero simulator. Each case asserts what is answered, that
//! nothing is published or booked that should not be, and that the service still serves.
//!
//! Decided behaviour for a body that is not UTF-8 (or not JSON) but carries a valid signature:
//! the signature is over bytes, so it is genuine. Where the ingress needs nothing from the body
//! to classify it (Shopify, WooCommerce: topic and id are headers), it is accepted and
//! published byte for byte, and the processor dead-letters it as `unparseable_payload`, with
//! the raw body kept in `xcs.dead` for an operator. Where the topic or id is in the body
//! (BigCommerce, Etsy, eBay, Adobe), it cannot be classified: 400, nothing published.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use xcs_shared::envelope::header;
use xcs_shared::{EventKind, Platform, topology};
use xcs_tests::broker::{Landed, TestBroker};
use xcs_tests::ingress::{ADOBE_KEY_PATH, EBAY_KID, Harness, TestIngress, shops, test_config};
use xcs_tests::keyserver::KeyServer;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, amount, invoices_numbered, publish, test_config as processor_config,
    wait_handled,
};
use xcs_tests::{fixtures, signer};
use xcs_xero_sim::{SimConfig, XeroSim};

const LANDING: Duration = Duration::from_secs(10);
const HANDLED: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// The ingress.

/// A harness whose ingress config is `test_config` with `edit` applied.
async fn harness_with(edit: impl FnOnce(&mut toml::Table)) -> Harness {
    let broker = TestBroker::with_topology().await;
    let keys = KeyServer::start().await;
    let ebay_key = signer::new_ebay_key();
    keys.add_ebay_key(EBAY_KID, &ebay_key);
    let adobe_key = signer::adobe_test_key(1);
    keys.add_adobe_key(ADOBE_KEY_PATH, &adobe_key);
    let mut config: toml::Table =
        toml::from_str(&test_config(&broker.amqp_uri(), &keys.base_url)).expect("TOML");
    edit(&mut config);
    let ingress = TestIngress::start(&toml::to_string(&config).expect("TOML")).await;
    ingress.wait_ready().await;
    Harness {
        broker,
        keys,
        ingress,
        ebay_key,
        adobe_key,
    }
}

/// Test timeouts short enough to wait for: 1 s for the request head and for the body.
fn short_client_timeouts(config: &mut toml::Table) {
    let server = config["server"].as_table_mut().expect("[server]");
    server.insert("header_timeout_ms".into(), 1000.into());
    server.insert("body_timeout_ms".into(), 1000.into());
}

/// Waits a moment for anything that should not arrive, then asserts the shards are empty.
async fn assert_nothing_landed(harness: &Harness) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let landed = harness.broker.take_all_shards().await;
    assert!(landed.is_empty(), "nothing should be published: {landed:?}");
}

/// A genuine Shopify order delivery still gets through, and is the only thing that lands.
async fn assert_still_serves(harness: &Harness, n: u64) -> Landed {
    let genuine = harness.order_delivery(Platform::Shopify, n);
    let response = harness.ingress.send(&genuine).await;
    assert_eq!(response.status(), 200, "the ingress still serves others");
    let mut landed = harness.broker.take_shards_when(1, LANDING).await;
    assert_nothing_landed(harness).await;
    assert_eq!(landed.len(), 1, "only the genuine delivery lands");
    let landed = landed.remove(0);
    assert_eq!(landed.body, genuine.body);
    landed
}

fn address(harness: &Harness) -> String {
    harness
        .ingress
        .base_url
        .trim_start_matches("http://")
        .to_owned()
}

/// The request head for `delivery` as raw HTTP/1.1, with `framing` (a Content-Length or
/// Transfer-Encoding header line).
fn request_head(harness: &Harness, delivery: &signer::Delivery, framing: &str) -> Vec<u8> {
    let mut head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\n{framing}",
        delivery.path(),
        address(harness)
    );
    for (name, value) in &delivery.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// Everything the server sends on `stream` until it closes (or 10 s pass); a reset counts as
/// closed.
async fn read_answer(mut stream: tokio::net::tcp::OwnedReadHalf) -> String {
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_oversized_body_gets_413_whether_declared_or_streamed_and_nothing_is_published() {
    let harness = Harness::start().await;
    // Signed correctly: size is the only thing wrong with it.
    let mut body = fixtures::shopify_order(450_789_470);
    body.resize(64 * 1024 + 1, b' ');
    let delivery = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "orders/paid",
        "b54557e4-bdd9-4b37-8a5f-oversized001",
        &body,
    );
    let response = harness.ingress.send(&delivery).await;
    assert_eq!(response.status(), 413, "declared by Content-Length");

    // Chunked, with no length up front: refused once the limit is passed.
    let stream = TcpStream::connect(address(&harness)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_answer(reader));
    let _ = writer
        .write_all(&request_head(
            &harness,
            &delivery,
            "Transfer-Encoding: chunked\r\n",
        ))
        .await;
    for chunk in body.chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        if writer.write_all(&framed).await.is_err() {
            break; // the server answered and closed
        }
    }
    let _ = writer.write_all(b"0\r\n\r\n").await;
    let answer = answer.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    assert_nothing_landed(&harness).await;
    assert_still_serves(&harness, 2).await;
}

#[tokio::test]
async fn a_client_dribbling_its_body_gets_408_or_a_closed_connection_and_others_are_served() {
    let harness = harness_with(short_client_timeouts).await;
    let slow = harness.order_delivery(Platform::Shopify, 1);
    let stream = TcpStream::connect(address(&harness)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_answer(reader));
    writer
        .write_all(&request_head(
            &harness,
            &slow,
            &format!("Content-Length: {}\r\n", slow.body.len()),
        ))
        .await
        .unwrap();
    // Five bytes a second, far fewer than the body has, for three seconds: the body timeout
    // (1 s in this config) passes long before the body is complete.
    let dribble = async {
        for byte in slow.body.iter().take(15) {
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    // While it dribbles, a genuine delivery is answered at once.
    let (_, landed) = tokio::join!(dribble, async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_still_serves(&harness, 2).await
    });
    assert_eq!(landed.header(header::SHOP), Some(shops::SHOPIFY));
    let answer = answer.await.unwrap();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a 408 or a closed connection, got {answer:?}"
    );
    assert_nothing_landed(&harness).await;
}

#[tokio::test]
async fn a_client_dribbling_its_headers_gets_408_or_a_closed_connection() {
    let harness = harness_with(short_client_timeouts).await;
    let stream = TcpStream::connect(address(&harness)).await.unwrap();
    let (reader, mut writer) = stream.into_split();
    let answer = tokio::spawn(read_answer(reader));
    let head = format!(
        "POST /webhooks/shopify/{} HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n",
        shops::SHOPIFY,
        "a".repeat(64)
    );
    for byte in head.bytes() {
        if writer.write_all(&[byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = answer.await.unwrap();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a 408 or a closed connection, got {answer:?}"
    );
    assert_still_serves(&harness, 3).await;
}

#[tokio::test]
async fn a_signed_body_that_is_not_utf8_is_published_for_shopify_and_refused_for_etsy() {
    let harness = Harness::start().await;
    let bytes = b"{\"id\": \"\xff\xfe\xc3\x28 not utf-8\"}".to_vec();
    assert!(std::str::from_utf8(&bytes).is_err());

    // Etsy's topic is in the body: unreadable, so unclassifiable.
    let etsy = signer::standard_webhooks(
        Platform::Etsy,
        shops::ETSY,
        &signer::whsec_key(shops::ETSY_SECRET),
        "msg_not_utf8",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &bytes,
    );
    let response = harness.ingress.send(&etsy).await;
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    assert!(
        answer["detail"].as_str().unwrap().contains("not JSON"),
        "{answer}"
    );
    assert_nothing_landed(&harness).await;

    // Shopify's topic and id are headers: genuine, so published exactly as signed.
    let shopify = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "orders/paid",
        "b54557e4-bdd9-4b37-8a5f-notutf8000001",
        &bytes,
    );
    let response = harness.ingress.send(&shopify).await;
    assert_eq!(response.status(), 200);
    let landed = harness.broker.take_shards_when(1, LANDING).await;
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].body, bytes, "byte for byte");

    // ... and the processor dead-letters it as unparseable, booking nothing.
    let processing = Processing::start().await;
    let dead = processing
        .dead_letter_for("shopify:nz-shopify:not-utf8", &bytes)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("unparseable_payload"));
    assert!(
        dead.header("xcs-last-error").unwrap().contains("not JSON"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    assert_eq!(dead.body, bytes, "the raw body is kept for an operator");
    processing.assert_still_books(9001).await;
}

/// `[[[[…]]]]` nested `depth` deep, inside an object with `prefix`'s fields.
fn deeply_nested(prefix: &str, depth: usize) -> Vec<u8> {
    format!(
        "{{{prefix}\"nested\":{}{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    )
    .into_bytes()
}

#[tokio::test]
async fn deeply_nested_json_is_refused_by_the_ingress_without_a_stack_overflow() {
    let harness = Harness::start().await;
    for depth in [129, 30_000] {
        let body = deeply_nested(r#""event_type":"ORDER_PAID","#, depth);
        let etsy = signer::standard_webhooks(
            Platform::Etsy,
            shops::ETSY,
            &signer::whsec_key(shops::ETSY_SECRET),
            &format!("msg_deep_{depth}"),
            time::OffsetDateTime::now_utc().unix_timestamp(),
            &body,
        );
        let response = harness.ingress.send(&etsy).await;
        assert_eq!(response.status(), 400, "depth {depth}");
    }
    assert_nothing_landed(&harness).await;
    assert_still_serves(&harness, 4).await;
}

// ---------------------------------------------------------------------------------------------
// The processor.

/// A processor on its own vhost, schema and simulator, booking Shopify shop `nz-shopify`.
struct Processing {
    broker: TestBroker,
    sim: xcs_xero_sim::RunningSim,
    schema: TestSchema,
    processor: Option<TestProcessor>,
}

impl Processing {
    async fn start() -> Self {
        let broker = TestBroker::with_topology().await;
        let schema = TestSchema::new();
        let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
        let processor = TestProcessor::start(&processor_config(&broker, &schema, &sim, "")).await;
        Processing {
            broker,
            sim,
            schema,
            processor: Some(processor),
        }
    }

    async fn publish_order(&self, event_id: &str, body: &[u8]) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            EventKind::Order,
            "orders/paid",
            event_id,
            body,
        )
        .await;
    }

    /// Publishes `body` as a Shopify order and returns its dead letter.
    async fn dead_letter_for(&self, event_id: &str, body: &[u8]) -> Landed {
        self.publish_order(event_id, body).await;
        let mut dead = xcs_tests::eventually(HANDLED, "a dead letter", || async {
            let dead = self.broker.take_all(topology::DEAD_QUEUE).await;
            (!dead.is_empty()).then_some(dead)
        })
        .await;
        assert_eq!(dead.len(), 1, "{dead:?}");
        let dead = dead.remove(0);
        assert_eq!(dead.header(header::EVENT_ID), Some(event_id));
        dead
    }

    /// A good order is still booked: the processor survived what came before.
    async fn assert_still_books(self, number: u64) {
        let event_id = format!("shopify:nz-shopify:good-{number}");
        self.publish_order(&event_id, &fixtures::shopify_nz_order(number, number, true))
            .await;
        let (outcome, detail) = wait_handled(&self.schema, &event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
        assert_eq!(
            invoices_numbered(&self.sim, &format!("SH-{number}")).len(),
            1
        );
        self.stop().await;
    }

    async fn stop(mut self) {
        if let Some(processor) = self.processor.take() {
            processor.stop().await;
        }
    }

    fn nothing_booked(&self, number: u64) {
        assert!(
            invoices_numbered(&self.sim, &format!("SH-{number}")).is_empty(),
            "nothing booked for order {number}"
        );
    }
}

/// The NZ test order numbered `number`, with `edit` applied.
fn nz_order(number: u64, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut order: Value =
        serde_json::from_slice(&fixtures::shopify_nz_order(number, number, true))
            .expect("the fixture is JSON");
    edit(&mut order);
    serde_json::to_vec(&order).expect("JSON")
}

/// The NZ test order with its `total_price` replaced by the JSON number `total`, written as
/// is (a `Value` could not hold `1e400`).
fn nz_order_with_total(number: u64, total: &str) -> Vec<u8> {
    let body = String::from_utf8(nz_order(number, |o| {
        o["total_price"] = json!("__TOTAL__");
    }))
    .unwrap();
    body.replace("\"__TOTAL__\"", total).into_bytes()
}

#[tokio::test]
async fn deeply_nested_json_is_dead_lettered_by_the_processor_without_a_stack_overflow() {
    let processing = Processing::start().await;
    let body = deeply_nested(r#""id":1,"currency":"NZD","#, 100_000);
    let dead = processing
        .dead_letter_for("shopify:nz-shopify:deep", &body)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("unparseable_payload"));
    assert!(
        dead.header("xcs-last-error")
            .unwrap()
            .contains("recursion limit"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processing.assert_still_books(9002).await;
}

#[tokio::test]
async fn an_amount_beyond_decimal_is_dead_lettered_never_booked() {
    let processing = Processing::start().await;
    for (n, total) in [(7001, "1e400"), (7002, "99999999999999999999999999999")] {
        let dead = processing
            .dead_letter_for(
                &format!("shopify:nz-shopify:huge-{n}"),
                &nz_order_with_total(n, total),
            )
            .await;
        assert_eq!(
            dead.header("xcs-reason"),
            Some("unparseable_payload"),
            "{total}"
        );
        assert!(
            dead.header("xcs-last-error")
                .unwrap()
                .contains("`total_price`"),
            "{total}: {:?}",
            dead.header("xcs-last-error")
        );
        processing.nothing_booked(n);
    }
    processing.assert_still_books(9003).await;
}

/// Fuzzing finding: a quantity times a price beyond `Decimal`'s range panicked in the
/// normaliser, which stopped the processor's shard consumer.
#[tokio::test]
async fn a_price_that_would_overflow_the_line_amount_is_dead_lettered_and_the_processor_lives_on() {
    let processing = Processing::start().await;
    let body = nz_order(7003, |o| {
        o["line_items"][0]["price"] = json!("79228162514264337593543950335");
    });
    let dead = processing
        .dead_letter_for("shopify:nz-shopify:overflow", &body)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("unparseable_payload"));
    assert!(
        dead.header("xcs-last-error").unwrap().contains("10^12"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processing.nothing_booked(7003);
    processing.assert_still_books(9004).await;
}

#[tokio::test]
async fn a_negative_quantity_is_dead_lettered_as_implausible() {
    let processing = Processing::start().await;
    let body = nz_order(7004, |o| o["line_items"][0]["quantity"] = json!(-2));
    let dead = processing
        .dead_letter_for("shopify:nz-shopify:negative", &body)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("implausible_payload"));
    assert!(
        dead.header("xcs-last-error")
            .unwrap()
            .contains("negative quantity -2"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processing.nothing_booked(7004);
    processing.assert_still_books(9005).await;
}

#[tokio::test]
async fn a_fractional_quantity_is_booked_exactly_as_charged() {
    let processing = Processing::start().await;
    // 1.5 × 20.00 − 5.00 = 25.00 + 15% GST 3.75; shipping 10.00 + 1.50.
    let body = nz_order(7005, |o| {
        let item = &mut o["line_items"][0];
        item["quantity"] = json!(1.5);
        item["price"] = json!("20.00");
        item["tax_lines"][0]["price"] = json!("3.75");
        o["total_line_items_price"] = json!("30.00");
        o["subtotal_price"] = json!("25.00");
        o["total_tax"] = json!("5.25");
        o["tax_lines"][0]["price"] = json!("5.25");
        o["total_price"] = json!("40.25");
    });
    let event_id = "shopify:nz-shopify:fractional";
    processing.publish_order(event_id, &body).await;
    let (outcome, detail) = wait_handled(&processing.schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let invoices = invoices_numbered(&processing.sim, "SH-7005");
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    let decimal = |text: &str| text.parse::<rust_decimal::Decimal>().unwrap();
    assert_eq!(amount(&invoice["Total"]), decimal("40.25"));
    let mug = &invoice["LineItems"][0];
    assert_eq!(amount(&mug["Quantity"]), decimal("1.5"));
    assert_eq!(amount(&mug["UnitAmount"]), decimal("20.00"));
    processing.stop().await;
}

#[tokio::test]
async fn an_unknown_currency_is_dead_lettered_never_booked() {
    let processing = Processing::start().await;
    let body = nz_order(7006, |o| {
        o["currency"] = json!("QQQ");
        o["presentment_currency"] = json!("QQQ");
    });
    let dead = processing
        .dead_letter_for("shopify:nz-shopify:currency", &body)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("unparseable_payload"));
    assert!(
        dead.header("xcs-last-error").unwrap().contains("ISO 4217"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processing.nothing_booked(7006);
    processing.assert_still_books(9006).await;
}

async fn assert_dated_order_is_implausible(number: u64, stamp: &str) {
    let processing = Processing::start().await;
    let body = nz_order(number, |o| {
        for field in ["created_at", "processed_at", "updated_at"] {
            o[field] = json!(stamp);
        }
    });
    let dead = processing
        .dead_letter_for(&format!("shopify:nz-shopify:dated-{number}"), &body)
        .await;
    assert_eq!(dead.header("xcs-reason"), Some("implausible_payload"));
    assert!(
        dead.header("xcs-last-error").unwrap().contains("is dated"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processing.nothing_booked(number);
    processing.assert_still_books(number + 2000).await;
}

#[tokio::test]
async fn an_order_dated_decades_ago_is_dead_lettered_as_implausible() {
    assert_dated_order_is_implausible(7007, "1970-01-01T00:00:00Z").await;
}

#[tokio::test]
async fn an_order_dated_in_the_far_future_is_dead_lettered_as_implausible() {
    assert_dated_order_is_implausible(7008, "2999-01-01T00:00:00Z").await;
}

#[tokio::test]
async fn a_valid_signature_made_with_another_shops_secret_gets_401() {
    const OTHER: &str = "other-shopify";
    const OTHER_SECRET: &str = "shpss_other_shops_secret";
    let harness = harness_with(|config| {
        let mut shop = toml::Table::new();
        shop.insert("platform".into(), "shopify".into());
        shop.insert(
            "tenant".into(),
            "00000000-0000-4000-8000-0000000000aa".into(),
        );
        shop.insert(
            "secrets".into(),
            vec![toml::Value::from(OTHER_SECRET)].into(),
        );
        config["shops"]
            .as_table_mut()
            .expect("[shops]")
            .insert(OTHER.into(), shop.into());
    })
    .await;
    let body = fixtures::shopify_order(450_789_480);
    let webhook_id = "b54557e4-bdd9-4b37-8a5f-othershop0001";
    // Genuinely signed by Shopify, for the other shop, replayed against this one.
    let forged = signer::shopify(
        shops::SHOPIFY,
        OTHER_SECRET,
        "orders/paid",
        webhook_id,
        &body,
    );
    let response = harness.ingress.send(&forged).await;
    assert_eq!(response.status(), 401);
    assert_nothing_landed(&harness).await;

    // The same delivery at the other shop's own URL is accepted, for that shop.
    let own = signer::shopify(OTHER, OTHER_SECRET, "orders/paid", webhook_id, &body);
    assert_eq!(harness.ingress.send(&own).await.status(), 200);
    let landed = harness.broker.take_shards_when(1, LANDING).await;
    assert_eq!(landed.len(), 1);
    assert_eq!(landed[0].header(header::SHOP), Some(OTHER));
    assert_eq!(
        landed[0].header(header::TENANT),
        Some("00000000-0000-4000-8000-0000000000aa")
    );
}
