//! Regressions for the faults an outside attack on the ingress found (issue 12), each against
//! the real ingress (in-process, on 127.0.0.1 port 0) and the real RabbitMQ:
//!
//! 1. key responses were read whole into memory, however large;
//! 2. every unknown eBay `kid` and Adobe key path was fetched, at any rate;
//! 3. the unsigned Shopify topic header became a metric label value, so replays grew
//!    `/metrics` without bound;
//! 4. the header timeout applied to the first request of a connection only, so a later
//!    request could dribble its head forever, and an idle connection outlived keep-alive.
//!
//! Every loop is bounded by a count and a time; every server is on the loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;
use xcs_tests::broker::TestBroker;
use xcs_tests::ingress::{ADOBE_KEY_PATH, EBAY_KID, TestIngress, shops, test_config};
use xcs_tests::keyserver::KeyServer;
use xcs_tests::signer::{self, Delivery};
use xcs_tests::{eventually, fixtures};

/// Long enough for anything that should not arrive to have arrived.
const SETTLE: Duration = Duration::from_millis(300);

/// Asserts the shards hold nothing.
async fn assert_nothing_published(broker: &TestBroker) {
    tokio::time::sleep(SETTLE).await;
    let landed = broker.take_all_shards().await;
    assert!(landed.is_empty(), "nothing should be published: {landed:?}");
}

/// Sends every delivery, at most `parallel` at a time, and returns the status codes.
async fn send_all(ingress: &TestIngress, deliveries: Vec<Delivery>, parallel: usize) -> Vec<u16> {
    // Pooled connections are dropped well before the server's keep-alive closes them, so a
    // request never races the server's close of the connection it was sent on.
    let client = reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(1))
        .build()
        .expect("a client");
    let base = ingress.base_url.clone();
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = JoinSet::new();
    for delivery in deliveries {
        let (client, base) = (client.clone(), base.clone());
        let permit = Arc::clone(&permits).acquire_owned().await.expect("open");
        tasks.spawn(async move {
            let mut request = client
                .post(format!("{base}{}", delivery.path()))
                .body(delivery.body.clone());
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            let status = request.send().await.expect("the ingress answers").status();
            drop(permit);
            status.as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = tasks.join_next().await {
        statuses.push(status.expect("the sender does not panic"));
    }
    statuses
}

// ---------------------------------------------------------------------------------------------
// 1. Key responses are capped.

/// How a [`HugeKeyHost`] route answers.
#[derive(Clone, Copy)]
enum Answer {
    /// A real eBay token response.
    Token,
    /// 200 with a 100 MB body that starts like the real thing: declared with Content-Length,
    /// or chunked with no length up front.
    Huge { declared: bool },
}

/// The size of a [`Answer::Huge`] body: what the attack's key server sent.
const HUGE: u64 = 100 * 1024 * 1024;

/// A key server that answers with huge bodies, counting the body bytes the kernel accepted from
/// it before the client hung up.
struct HugeKeyHost {
    base_url: String,
    sent: Arc<AtomicU64>,
    /// Connections answered to the end or to a write error.
    finished: Arc<AtomicUsize>,
}

impl HugeKeyHost {
    /// `token` answers eBay's token endpoint, `ebay_key` its key lookup, `adobe_key` any other
    /// path.
    async fn start(token: Answer, ebay_key: Answer, adobe_key: Answer) -> Self {
        let socket = TcpSocket::new_v4().expect("a socket");
        // A small send buffer keeps what the kernel takes on our side small, so the count is
        // close to what the client read.
        socket.set_send_buffer_size(64 * 1024).expect("SO_SNDBUF");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bind the loopback");
        let listener = socket.listen(64).expect("listen");
        let base_url = format!("http://{}", listener.local_addr().expect("bound"));
        let sent = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (counter, done) = (Arc::clone(&sent), Arc::clone(&finished));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (counter, done) = (Arc::clone(&counter), Arc::clone(&done));
                tokio::spawn(async move {
                    answer_huge(stream, token, ebay_key, adobe_key, &counter).await;
                    done.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        HugeKeyHost {
            base_url,
            sent,
            finished,
        }
    }

    /// The body bytes sent once `connections` connections have ended (at most 30 s).
    async fn sent_after(&self, connections: usize) -> u64 {
        eventually(
            Duration::from_secs(30),
            "the key host's answers to end",
            || {
                let done = self.finished.load(Ordering::SeqCst) >= connections;
                async move { done.then_some(()) }
            },
        )
        .await;
        self.sent.load(Ordering::SeqCst)
    }
}

async fn answer_huge(
    mut stream: TcpStream,
    token: Answer,
    ebay_key: Answer,
    adobe_key: Answer,
    sent: &AtomicU64,
) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split(' ').nth(1).unwrap_or_default();
    let (answer, prefix): (Answer, &[u8]) = if path.starts_with("/identity/v1/oauth2/token") {
        (token, br#"{"access_token":""#)
    } else if path.starts_with("/commerce/notification/v1/public_key/") {
        (ebay_key, br#"{"algorithm":"ECDSA","digest":"SHA1","key":""#)
    } else {
        (adobe_key, b"-----BEGIN PUBLIC KEY-----\n")
    };
    let Answer::Huge { declared } = answer else {
        let body = br#"{"access_token":"v^1.1#fake","expires_in":7200}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.write_all(body).await;
        return;
    };
    let framing = if declared {
        format!("Content-Length: {HUGE}")
    } else {
        "Transfer-Encoding: chunked".to_owned()
    };
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    if stream.write_all(response.as_bytes()).await.is_err() {
        return;
    }
    // The body starts like the real thing, so only its size is wrong with it.
    let mut first = vec![b'A'; 16 * 1024];
    first[..prefix.len()].copy_from_slice(prefix);
    let rest = vec![b'A'; 16 * 1024];
    let mut remaining = HUGE;
    let mut chunk = &first;
    while remaining > 0 {
        let len = chunk.len().min(usize::try_from(remaining).expect("small"));
        let written = if declared {
            stream.write_all(&chunk[..len]).await
        } else {
            let mut framed = format!("{len:x}\r\n").into_bytes();
            framed.extend_from_slice(&chunk[..len]);
            framed.extend_from_slice(b"\r\n");
            stream.write_all(&framed).await
        };
        if written.is_err() {
            return;
        }
        sent.fetch_add(len as u64, Ordering::SeqCst);
        remaining -= len as u64;
        chunk = &rest;
    }
    if !declared {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
}

/// A real key is a few hundred bytes and the ingress reads at most 16 KiB of a key response;
/// what the kernels buffer on both ends of a loopback connection comes on top. 100 MB read
/// whole is far above this.
const SENT_BOUND: u64 = 8 * 1024 * 1024;

/// An ingress fetching eBay and Adobe keys from `key_host`.
async fn ingress_fetching_keys_from(broker: &TestBroker, key_host: &str) -> TestIngress {
    let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), key_host)).await;
    ingress.wait_ready().await;
    ingress
}

fn forged_ebay(key: &p256::ecdsa::SigningKey, n: u64, kid: &str) -> Delivery {
    signer::ebay(
        shops::EBAY,
        key,
        kid,
        &fixtures::ebay(
            "ORDER_CONFIRMATION",
            &format!("49feeaeb-4982-42d9-a377-{n:012}"),
            &format!("12-34567-{n:05}"),
        ),
    )
}

fn adobe_with_path(key: &rsa::PrivateKey, path: &str, n: u64) -> Delivery {
    signer::adobe(
        shops::MAGENTO,
        Some((key, path)),
        None,
        &fixtures::magento_invoice(
            &format!("b0f2b088-5490-4d16-9ce9-{n:012}"),
            shops::ADOBE_CLIENT_ID,
        ),
    )
}

/// The attack: a key server answering 100 MB took the ingress to 484 MB for one lookup.
#[tokio::test]
async fn a_key_server_answering_100_mb_is_cut_off_and_the_delivery_gets_503() {
    let broker = TestBroker::with_topology().await;
    let host = HugeKeyHost::start(
        Answer::Token,
        Answer::Huge { declared: false },
        Answer::Huge { declared: true },
    )
    .await;
    let ingress = ingress_fetching_keys_from(&broker, &host.base_url).await;

    // eBay, the key streamed without a length: the token request and the key request.
    let response = ingress
        .send(&forged_ebay(&signer::new_ebay_key(), 1, EBAY_KID))
        .await;
    assert_eq!(
        response.status(),
        503,
        "a key host answering nonsense: retry"
    );
    assert!(response.headers().contains_key("retry-after"));
    let ebay_sent = host.sent_after(2).await;
    assert!(
        ebay_sent < SENT_BOUND,
        "the chunked eBay key answer was read far past the cap: {ebay_sent} bytes sent"
    );

    // Adobe, the key declared 100 MB long.
    let adobe = adobe_with_path(&signer::adobe_test_key(1), ADOBE_KEY_PATH, 1);
    let response = ingress.send(&adobe).await;
    assert_eq!(response.status(), 503);
    let adobe_sent = host.sent_after(3).await - ebay_sent;
    assert!(
        adobe_sent < SENT_BOUND,
        "the declared-length Adobe key answer was read: {adobe_sent} bytes sent"
    );
    eprintln!("body bytes sent before the ingress hung up: eBay {ebay_sent}, Adobe {adobe_sent}");
    assert_nothing_published(&broker).await;
    ingress.stop().await;
}

/// The eBay token response is capped like the keys: a token endpoint answering 100 MB.
#[tokio::test]
async fn an_ebay_token_endpoint_answering_100_mb_is_cut_off_and_the_delivery_gets_503() {
    let broker = TestBroker::with_topology().await;
    let host = HugeKeyHost::start(
        Answer::Huge { declared: false },
        Answer::Token,
        Answer::Token,
    )
    .await;
    let ingress = ingress_fetching_keys_from(&broker, &host.base_url).await;
    let response = ingress
        .send(&forged_ebay(&signer::new_ebay_key(), 2, EBAY_KID))
        .await;
    assert_eq!(response.status(), 503);
    let sent = host.sent_after(1).await;
    eprintln!("token body bytes sent before the ingress hung up: {sent}");
    assert!(
        sent < SENT_BOUND,
        "the token answer was read: {sent} bytes sent"
    );
    assert_nothing_published(&broker).await;
    ingress.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Fresh key ids are looked up at a bounded rate.

/// The limits the next test runs with (set in its config; see `[key_lookups]`).
const HOST_BURST: usize = 10;
const SHOP_BURST: usize = 5;
const SHOP_PER_MINUTE: usize = 30;
const FLOOD: u64 = 300;

/// The most lookups a shop's bucket allows in `elapsed` after starting full.
fn shop_bound(elapsed: Duration) -> usize {
    SHOP_BURST + (elapsed.as_secs_f64() * SHOP_PER_MINUTE as f64 / 60.0).ceil() as usize
}

/// The attack: 300 deliveries with fresh `kid`s made 300 lookups at eBay's API, 300 fresh
/// Adobe key paths made 300 fetches, all in 0.6 s.
#[tokio::test]
async fn fresh_key_ids_are_looked_up_at_a_bounded_rate_and_real_keys_still_resolve() {
    const EBAY_OTHER: &str = "acme-ebay-2";
    let broker = TestBroker::with_topology().await;
    let keys = KeyServer::start().await;
    let ebay_key = signer::new_ebay_key();
    keys.add_ebay_key(EBAY_KID, &ebay_key);
    let adobe_key = signer::adobe_test_key(1);
    keys.add_adobe_key(ADOBE_KEY_PATH, &adobe_key);
    let mut config: toml::Table =
        toml::from_str(&test_config(&broker.amqp_uri(), &keys.base_url)).expect("TOML");
    let mut other = config["shops"][shops::EBAY].clone();
    other.as_table_mut().expect("a shop table").insert(
        "tenant".into(),
        "00000000-0000-4000-8000-0000000000bb".into(),
    );
    config["shops"]
        .as_table_mut()
        .expect("[shops]")
        .insert(EBAY_OTHER.into(), other);
    let limits: toml::Table = toml::from_str(&format!(
        "per_minute = 120\nburst = {HOST_BURST}\nconcurrency = 4\n\
         shop_per_minute = {SHOP_PER_MINUTE}\nshop_burst = {SHOP_BURST}\n"
    ))
    .expect("TOML");
    config.insert("key_lookups".into(), limits.into());
    let ingress = TestIngress::start(&toml::to_string(&config).expect("TOML")).await;
    ingress.wait_ready().await;

    let genuine_ebay = |shop: &str, key: &p256::ecdsa::SigningKey, kid: &str, n: u64| {
        signer::ebay(
            shop,
            key,
            kid,
            &fixtures::ebay(
                "ORDER_CONFIRMATION",
                &format!("49feeaeb-4982-42d9-a377-9645b{n:07}"),
                &format!("12-34567-{n:05}"),
            ),
        )
    };
    // The real keys, fetched once before the flood.
    let warm = ingress
        .send(&genuine_ebay(shops::EBAY, &ebay_key, EBAY_KID, 1))
        .await;
    assert_eq!(warm.status(), 200);
    let warm = ingress
        .send(&adobe_with_path(&adobe_key, ADOBE_KEY_PATH, 1))
        .await;
    assert_eq!(warm.status(), 200);
    broker.take_shards_when(2, Duration::from_secs(10)).await;
    let (ebay_before, adobe_before) = (keys.ebay_key_requests(), keys.adobe_key_requests());

    // Act: the flood, every delivery at one eBay shop and one Adobe shop with a fresh key id.
    // The lookup comes before any signature check, so one signature serves them all.
    let forger = signer::new_ebay_key();
    let adobe_forged = adobe_with_path(&adobe_key, ADOBE_KEY_PATH, 0);
    let forged: Vec<Delivery> = (0..FLOOD)
        .flat_map(|n| {
            let path = format!("/prod/keys/pub-key-{}.pem", uuid::Uuid::new_v4().simple());
            [
                forged_ebay(&forger, n, &uuid::Uuid::new_v4().to_string()),
                adobe_forged
                    .clone()
                    .with_header("x-adobe-public-key1-path", &path),
            ]
        })
        .collect();
    let started = Instant::now();
    let statuses = send_all(&ingress, forged, 32).await;
    let elapsed = started.elapsed();

    // Assert: nothing forged is accepted, and the lookups stayed within the shop's budget.
    let (ebay_lookups, adobe_lookups) = (
        keys.ebay_key_requests() - ebay_before,
        keys.adobe_key_requests() - adobe_before,
    );
    let refused = statuses.iter().filter(|s| **s == 503).count();
    eprintln!(
        "{} forged deliveries in {elapsed:?}: {ebay_lookups} eBay and {adobe_lookups} Adobe \
         lookups, {refused} answered 503",
        statuses.len()
    );
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 503),
        "forged deliveries get 401 (unknown key) or 503 (lookup refused): {statuses:?}"
    );
    for (platform, lookups) in [("eBay", ebay_lookups), ("Adobe", adobe_lookups)] {
        assert!(
            lookups <= shop_bound(elapsed),
            "{FLOOD} fresh {platform} key ids made {lookups} lookups in {elapsed:?}"
        );
    }
    assert_nothing_published(&broker).await;

    // Cached keys resolve at once, at the flooded shops too.
    let cached = ingress
        .send(&genuine_ebay(shops::EBAY, &ebay_key, EBAY_KID, 2))
        .await;
    assert_eq!(cached.status(), 200, "a cached eBay key still resolves");
    let cached = ingress
        .send(&adobe_with_path(&adobe_key, ADOBE_KEY_PATH, 2))
        .await;
    assert_eq!(cached.status(), 200, "a cached Adobe key still resolves");

    // A new genuine key at another shop resolves at once: one shop's forgeries do not spend
    // another's budget.
    let new_kid = "0d4c8f7e-5b1a-4c2d-9e3f-a1b2c3d4e5f6";
    let new_key = signer::new_ebay_key();
    keys.add_ebay_key(new_kid, &new_key);
    let other_shop = ingress
        .send(&genuine_ebay(EBAY_OTHER, &new_key, new_kid, 3))
        .await;
    assert_eq!(other_shop.status(), 200, "another shop's new key resolves");

    // A new genuine key at the flooded shop resolves once its budget refills, as the
    // platform's retry would find (a token every 2 s here).
    let later_kid = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d";
    let later_key = signer::new_ebay_key();
    keys.add_ebay_key(later_kid, &later_key);
    let retried = genuine_ebay(shops::EBAY, &later_key, later_kid, 4);
    eventually(
        Duration::from_secs(20),
        "the new key to resolve",
        || async {
            let status = ingress.send(&retried).await.status();
            assert!(status == 200 || status == 503, "only 200 or 503: {status}");
            (status == 200).then_some(())
        },
    )
    .await;
    let published = broker.take_shards_when(4, Duration::from_secs(10)).await;
    assert_eq!(
        published.len(),
        4,
        "the four genuine deliveries and nothing else"
    );
    ingress.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 3. Metric labels are bounded.

/// The attack: 3,000 replays of one captured body with distinct 4 KB topics grew `/metrics`
/// from 62 KB to 12 MB. Shopify's HMAC covers the body only, so every replay verifies.
#[tokio::test]
async fn replays_with_random_topics_do_not_grow_the_metrics() {
    const REPLAYS: usize = 3_000;
    let broker = TestBroker::with_topology().await;
    let keys = KeyServer::start().await;
    let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), &keys.base_url)).await;
    ingress.wait_ready().await;
    let before = ingress.get("/metrics").await.text().await.expect("text");

    let captured = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "products/update",
        "b54557e4-bdd9-4b37-8a5f-000000000001",
        &fixtures::shopify_order(450_789_469),
    );
    let woo_captured = signer::woocommerce(
        shops::WOOCOMMERCE,
        shops::WOOCOMMERCE_SECRET,
        "coupon.created",
        br#"{"id":12,"code":"SAVE10","date_modified_gmt":"2026-11-27T01:00:00"}"#,
    );
    let topic = |n: usize| format!("{}/{n}-{}", uuid::Uuid::new_v4().simple(), "x".repeat(4000));
    let mut replays: Vec<Delivery> = (0..REPLAYS)
        .map(|n| captured.clone().with_header("X-Shopify-Topic", &topic(n)))
        .collect();
    replays.extend((0..300).map(|n| {
        woo_captured
            .clone()
            .with_header("X-WC-Webhook-Topic", &topic(n))
    }));
    // The documented topics keep their names.
    replays.push(captured.clone());
    replays.push(
        captured
            .clone()
            .with_header("X-Shopify-Topic", "app/uninstalled"),
    );
    replays.push(woo_captured.clone());

    let statuses = send_all(&ingress, replays, 16).await;
    assert!(
        statuses.iter().all(|s| *s == 200),
        "every replay verifies and is ignored"
    );
    assert_nothing_published(&broker).await;

    let metrics = ingress.get("/metrics").await.text().await.expect("text");
    let topics: std::collections::BTreeSet<&str> = metrics
        .lines()
        .filter(|line| line.starts_with("xcs_ingress_ignored_topics_total{"))
        .filter_map(|line| line.split("topic=\"").nth(1)?.split('"').next())
        .collect();
    eprintln!(
        "/metrics: {} bytes before, {} bytes after; {} topic label values",
        before.len(),
        metrics.len(),
        topics.len()
    );
    assert!(
        metrics.len() < 16 * 1024,
        "/metrics grew to {} bytes",
        metrics.len()
    );
    let expected: std::collections::BTreeSet<&str> = [
        "app/uninstalled",
        "coupon.created",
        "other",
        "products/update",
    ]
    .into_iter()
    .collect();
    assert!(
        topics == expected,
        "unknown topics fold into one value; got {} values",
        topics.len()
    );
    let other_shopify = format!(
        "xcs_ingress_ignored_topics_total{{platform=\"shopify\",topic=\"other\"}} {REPLAYS}"
    );
    assert!(metrics.contains(&other_shopify), "{metrics}");
    ingress.stop().await;
}

// ---------------------------------------------------------------------------------------------
// 4. Slow and idle clients on kept-alive connections.

/// The header timeout of the next tests, and actix-web's keep-alive, as configured.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// Time for timers to fire and a close to reach us on a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(3);

async fn ingress_with_short_header_timeout(broker: &TestBroker) -> TestIngress {
    let keys_url = "http://127.0.0.1:9"; // never asked: these tests fetch no key
    let mut config: toml::Table =
        toml::from_str(&test_config(&broker.amqp_uri(), keys_url)).expect("TOML");
    let server = config["server"].as_table_mut().expect("[server]");
    server.insert(
        "header_timeout_ms".into(),
        i64::try_from(HEADER_TIMEOUT.as_millis())
            .expect("small")
            .into(),
    );
    server.insert("body_timeout_ms".into(), 1000.into());
    let ingress = TestIngress::start(&toml::to_string(&config).expect("TOML")).await;
    ingress.wait_ready().await;
    ingress
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Reads `count` HTTP/1.1 responses with Content-Length bodies; `None` when the connection
/// ends first.
async fn read_responses(stream: &mut TcpStream, count: usize) -> Option<Vec<String>> {
    let mut bytes = Vec::new();
    let mut responses = Vec::new();
    let mut buf = [0u8; 1024];
    while responses.len() < count {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().expect("a length"));
            if bytes.len() >= end + 4 + length {
                let whole: Vec<u8> = bytes.drain(..end + 4 + length).collect();
                responses.push(String::from_utf8_lossy(&whole).into_owned());
                continue;
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("an answer within 10 s")
            .ok()?;
        if n == 0 {
            return None;
        }
        bytes.extend_from_slice(&buf[..n]);
    }
    assert!(bytes.is_empty(), "no more than {count} responses");
    Some(responses)
}

/// Sends `requests` on `stream` and asserts each is answered 200.
async fn assert_served(stream: &mut TcpStream, requests: usize) {
    stream
        .write_all(&HEALTHZ.repeat(requests))
        .await
        .expect("send");
    let responses = read_responses(stream, requests).await.expect("answers");
    for response in responses {
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
}

/// A connection that has had one request answered and is kept alive.
async fn kept_alive_connection(ingress: &TestIngress) -> TcpStream {
    let mut stream = TcpStream::connect(ingress.base_url.trim_start_matches("http://"))
        .await
        .expect("connect");
    assert_served(&mut stream, 1).await;
    stream
}

/// Writes `bytes` one at a time, `pause` apart, while watching for the server to close the
/// connection (or answer 408 and close); returns how long after the first write that happened
/// and what the server sent, or `None` if the connection was still open `SLACK` after the last
/// byte.
async fn dribble(stream: TcpStream, bytes: &[u8], pause: Duration) -> Option<(Duration, String)> {
    let (mut reader, mut writer) = stream.into_split();
    let started = Instant::now();
    let closed = tokio::spawn(async move {
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        // A reset counts as closed.
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            answer.extend_from_slice(&buf[..n]);
        }
        (
            started.elapsed(),
            String::from_utf8_lossy(&answer).into_owned(),
        )
    });
    for byte in bytes {
        if closed.is_finished() || writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(pause).await;
    }
    match tokio::time::timeout(SLACK, closed).await {
        Ok(outcome) => Some(outcome.expect("the reader does not panic")),
        Err(_) => None,
    }
}

/// The attack: after one request, the next request's head at one byte every two seconds held
/// the connection indefinitely (actix-http clears its head timer after the first request).
#[tokio::test]
async fn a_second_request_dribbling_its_head_on_a_kept_alive_connection_is_cut_off() {
    let broker = TestBroker::with_topology().await;
    let ingress = ingress_with_short_header_timeout(&broker).await;

    // Keep-alive itself still works: a second request after a pause, then two pipelined ones,
    // on the same connection are answered.
    let mut stream = kept_alive_connection(&ingress).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_served(&mut stream, 1).await;
    assert_served(&mut stream, 2).await;

    // 40 bytes at one a second would take 40 s; the head must be cut off after about 1 s.
    let head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {}",
        "a".repeat(40)
    );
    let outcome = dribble(stream, &head.as_bytes()[..40], Duration::from_secs(1)).await;
    let Some((after, answer)) = outcome else {
        panic!("a second request's head was dribbled for 40 s and the connection kept open");
    };
    eprintln!("dribbled second head: closed {after:?} after its first byte; answer {answer:?}");
    assert!(
        after <= HEADER_TIMEOUT + SLACK,
        "closed only {after:?} after the head began (header timeout {HEADER_TIMEOUT:?})"
    );
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "a 408 or a closed connection: {answer:?}"
    );
    ingress.stop().await;
}

/// An idle kept-alive connection is closed within keep-alive, and one a client keeps "busy"
/// with empty lines (which HTTP/1.1 servers skip before a request line) within the header
/// timeout of its first one.
#[tokio::test]
async fn idle_kept_alive_connections_are_closed_within_the_keep_alive_time() {
    let broker = TestBroker::with_topology().await;
    let ingress = ingress_with_short_header_timeout(&broker).await;

    let idle = kept_alive_connection(&ingress).await;
    let started = Instant::now();
    let (mut reader, _writer) = idle.into_split();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(KEEP_ALIVE + SLACK, reader.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "an idle connection was still open {:?} after its last response: {read:?}",
        KEEP_ALIVE + SLACK
    );
    eprintln!(
        "idle connection closed {:?} after its last response",
        started.elapsed()
    );

    let pinging = kept_alive_connection(&ingress).await;
    let outcome = dribble(pinging, &b"\r\n".repeat(10), Duration::from_secs(2)).await;
    let Some((after, answer)) = outcome else {
        panic!("a connection sending empty lines, a byte every 2 s, was kept open for 40 s");
    };
    eprintln!("empty-line pings: closed {after:?} after the first; answer {answer:?}");
    assert!(
        after <= HEADER_TIMEOUT + SLACK,
        "closed only {after:?} after the first empty line"
    );
    ingress.stop().await;
}
