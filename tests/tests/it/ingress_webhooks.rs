//! The ingress end to end over HTTP, against the real RabbitMQ (a vhost per test, with the
//! topology from deploy/rabbitmq/definitions.json) and a fake eBay/Adobe key server.
//! Needs RabbitMQ with the management and consistent-hash plugins (`.ci/run` starts it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use xcs_ingress::platforms;
use xcs_shared::Platform;
use xcs_shared::envelope::header;
use xcs_tests::broker::Landed;
use xcs_tests::ingress::{ADOBE_KEY_PATH, EBAY_KID, Harness, shops};
use xcs_tests::{fixtures, signer};

const LANDING_TIMEOUT: Duration = Duration::from_secs(10);

async fn json(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON answer")
}

/// Waits a moment for anything that should not arrive, then asserts the shards are empty.
async fn assert_nothing_landed(harness: &Harness) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let landed = harness.broker.take_all_shards().await;
    assert!(
        landed.is_empty(),
        "nothing should be published, found {landed:?}"
    );
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn a_genuine_delivery_of_each_platform_lands_once_with_its_envelope_and_exact_body() {
    let harness = Harness::start().await;
    let mut sent = BTreeMap::new();
    for platform in Platform::ALL {
        let delivery = harness.order_delivery(platform, 1);
        let response = harness.ingress.send(&delivery).await;
        assert_eq!(response.status(), 200, "{platform}");
        let answer = json(response).await;
        assert_eq!(answer["status"], "published", "{platform}: {answer}");
        let event_id = answer["event_id"].as_str().unwrap().to_owned();
        sent.insert(event_id, delivery);
    }

    let landed = harness
        .broker
        .take_shards_when(sent.len(), LANDING_TIMEOUT)
        .await;
    assert_nothing_landed(&harness).await;
    assert_eq!(landed.len(), sent.len(), "each delivery exactly once");
    for message in landed {
        let event_id = message.header(header::EVENT_ID).expect("event id header");
        let delivery = &sent[event_id];
        let platform = delivery.platform;
        assert_eq!(
            message.body, delivery.body,
            "{platform}: byte-identical body"
        );
        assert_eq!(message.header(header::VERSION), Some("1"));
        assert_eq!(message.header(header::PLATFORM), Some(platform.as_str()));
        assert_eq!(message.header(header::SHOP), Some(delivery.shop.as_str()));
        assert_eq!(
            message.header(header::TENANT),
            Some(shops::tenant(&delivery.shop).as_str())
        );
        assert_eq!(message.header(header::KIND), Some("order"), "{platform}");
        assert_eq!(message.routing_key, format!("order.{platform}"));
        assert!(
            event_id.starts_with(&format!("{platform}:{}:", delivery.shop)),
            "{event_id}"
        );
        let delivery_id = message.header(header::DELIVERY_ID).expect("delivery id");
        assert!(uuid::Uuid::parse_str(delivery_id).is_ok(), "{delivery_id}");
        let received_at = message.header(header::RECEIVED_AT).expect("received-at");
        time::OffsetDateTime::parse(received_at, &time::format_description::well_known::Rfc3339)
            .expect("received-at is RFC 3339");
        let topic = message.header(header::TOPIC).expect("topic");
        assert_eq!(
            platforms::topic_kind(platform, topic),
            Some(xcs_shared::EventKind::Order),
            "{topic}"
        );
        assert_eq!(
            message
                .properties
                .message_id()
                .as_ref()
                .map(|id| id.as_str()),
            Some(event_id)
        );
        assert_eq!(*message.properties.delivery_mode(), Some(2), "persistent");
    }
}

#[tokio::test]
async fn a_tenants_events_share_one_shard_and_tenants_spread_over_shards() {
    let harness = Harness::start().await;
    let mut expected = 0;
    for n in 0..4 {
        for platform in Platform::ALL {
            let response = harness
                .ingress
                .send(&harness.order_delivery(platform, n))
                .await;
            assert_eq!(response.status(), 200);
            expected += 1;
        }
    }
    let landed = harness
        .broker
        .take_shards_when(expected, LANDING_TIMEOUT)
        .await;
    let mut shards_by_tenant: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for message in &landed {
        shards_by_tenant
            .entry(message.header(header::TENANT).unwrap().to_owned())
            .or_default()
            .insert(message.queue.clone());
    }
    for (tenant, shards) in &shards_by_tenant {
        assert_eq!(shards.len(), 1, "tenant {tenant} spread over {shards:?}");
    }
    let used: BTreeSet<_> = shards_by_tenant.values().flatten().collect();
    assert!(
        used.len() > 1,
        "{} tenants all hashed to {used:?}",
        shards_by_tenant.len()
    );
}

#[tokio::test]
async fn tampered_unsigned_or_wrongly_signed_deliveries_get_401_and_nothing_lands() {
    let harness = Harness::start().await;
    let mut refused = 0;
    for platform in Platform::ALL {
        let genuine = harness.order_delivery(platform, 7);
        let mut tampered_body = genuine.body.clone();
        let middle = tampered_body.len() / 2;
        tampered_body[middle] ^= 0x01;
        let signature_headers = [
            "X-Shopify-Hmac-Sha256",
            "X-WC-Webhook-Signature",
            "webhook-signature",
            "X-EBAY-SIGNATURE",
            "x-adobe-digital-signature-1",
        ];
        let unsigned = signature_headers
            .iter()
            .fold(genuine.clone(), |d, name| d.without_header(name));
        for (case, delivery) in [
            ("tampered body", genuine.clone().with_body(tampered_body)),
            ("no signature", unsigned),
        ] {
            let response = harness.ingress.send(&delivery).await;
            assert_eq!(response.status(), 401, "{platform}: {case}");
            let answer = json(response).await;
            assert_eq!(answer["error"], "invalid_signature", "{platform}: {case}");
            refused += 1;
        }
    }

    let wrong_secret = [
        signer::shopify(shops::SHOPIFY, "not-the-secret", "orders/paid", "w1", b"{}"),
        signer::woocommerce(shops::WOOCOMMERCE, "not-the-secret", "order.created", b"{}"),
        signer::standard_webhooks(
            Platform::Etsy,
            shops::ETSY,
            b"not-the-key",
            "msg_1",
            now(),
            b"{}",
        ),
        signer::ebay(shops::EBAY, &signer::new_ebay_key(), EBAY_KID, b"{}"),
        signer::adobe(
            shops::MAGENTO,
            Some((&signer::adobe_test_key(2), ADOBE_KEY_PATH)),
            None,
            &fixtures::magento_invoice("e-1", shops::ADOBE_CLIENT_ID),
        ),
        // Genuinely signed, but by another shop's secret.
        signer::standard_webhooks(
            Platform::BigCommerce,
            shops::BIGCOMMERCE,
            &signer::whsec_key(shops::ETSY_SECRET),
            "bc_msg_x",
            now(),
            &fixtures::bigcommerce("store/order/created", 1, "abc"),
        ),
    ];
    for delivery in wrong_secret {
        let response = harness.ingress.send(&delivery).await;
        assert_eq!(response.status(), 401, "{}", delivery.platform);
        refused += 1;
    }
    assert_nothing_landed(&harness).await;

    let metrics = harness.ingress.get("/metrics").await.text().await.unwrap();
    let counted: u64 = metrics
        .lines()
        .filter(|l| {
            l.starts_with("xcs_ingress_deliveries_total{") && l.contains("outcome=\"unauthorized\"")
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, refused);
    assert!(metrics.contains(
        "xcs_ingress_verification_failures_total{platform=\"shopify\",reason=\"mismatch\"}"
    ));
}

#[tokio::test]
async fn a_platform_retry_of_the_same_delivery_keeps_its_event_id() {
    let harness = Harness::start().await;
    let body = fixtures::woocommerce_order(900, "2026-11-27T01:00:00");
    let ebay_retry = {
        let mut body: Value =
            serde_json::from_slice(&harness.order_delivery(Platform::Ebay, 3).body).unwrap();
        body["notification"]["publishAttemptCount"] = 2.into();
        signer::ebay(
            shops::EBAY,
            &harness.ebay_key,
            EBAY_KID,
            &serde_json::to_vec(&body).unwrap(),
        )
    };
    let retries = [
        // Shopify resends the same delivery, same webhook id.
        (
            harness.order_delivery(Platform::Shopify, 3),
            harness.order_delivery(Platform::Shopify, 3),
        ),
        // WooCommerce re-sends the same state with a new delivery id.
        (
            signer::woocommerce(
                shops::WOOCOMMERCE,
                shops::WOOCOMMERCE_SECRET,
                "order.updated",
                &body,
            ),
            signer::woocommerce(
                shops::WOOCOMMERCE,
                shops::WOOCOMMERCE_SECRET,
                "order.updated",
                &body,
            ),
        ),
        // Standard Webhooks retries sign a new timestamp under the same webhook-id.
        (
            harness.order_delivery(Platform::Etsy, 3),
            signer::standard_webhooks(
                Platform::Etsy,
                shops::ETSY,
                &signer::whsec_key(shops::ETSY_SECRET),
                "msg_2KWPBgLlAfxdpx2AI54pPJ85f3",
                now() + 5,
                &fixtures::etsy("ORDER_PAID", 123_456, 234_567_893),
            ),
        ),
        // eBay bumps publishAttemptCount, so the body (and signature) differ.
        (harness.order_delivery(Platform::Ebay, 3), ebay_retry),
        (
            harness.order_delivery(Platform::Magento, 3),
            harness
                .order_delivery(Platform::Magento, 3)
                .with_header("x-adobe-retry-count", "1"),
        ),
    ];
    for (first, retry) in &retries {
        let a = json(harness.ingress.send(first).await).await;
        let b = json(harness.ingress.send(retry).await).await;
        assert_eq!(a["status"], "published", "{a}");
        assert_eq!(a["event_id"], b["event_id"], "{}", first.platform);
    }
    let landed = harness
        .broker
        .take_shards_when(retries.len() * 2, LANDING_TIMEOUT)
        .await;
    let mut by_event: BTreeMap<&str, Vec<&Landed>> = BTreeMap::new();
    for message in &landed {
        by_event
            .entry(message.header(header::EVENT_ID).unwrap())
            .or_default()
            .push(message);
    }
    assert_eq!(by_event.len(), retries.len());
    for (event_id, copies) in by_event {
        assert_eq!(copies.len(), 2, "{event_id}");
        assert_ne!(
            copies[0].header(header::DELIVERY_ID),
            copies[1].header(header::DELIVERY_ID),
            "each receipt has its own delivery id"
        );
    }
}

#[tokio::test]
async fn a_rotated_secret_keeps_working_alongside_the_new_one() {
    let harness = Harness::start().await;
    for (n, secret) in shops::SHOPIFY_SECRETS.iter().enumerate() {
        let delivery = signer::shopify(
            shops::SHOPIFY,
            secret,
            "orders/create",
            &format!("rot-{n}"),
            &fixtures::shopify_order(n as u64),
        );
        assert_eq!(
            harness.ingress.send(&delivery).await.status(),
            200,
            "secret {n}"
        );
    }
    harness.broker.take_shards_when(2, LANDING_TIMEOUT).await;
}

#[tokio::test]
async fn standard_webhooks_enforce_the_replay_window_and_accept_any_valid_signature() {
    let harness = Harness::start().await;
    let key = signer::whsec_key(shops::ETSY_SECRET);
    let body = fixtures::etsy("ORDER_PAID", 1, 2);
    for offset in [-301, 301] {
        let stale = signer::standard_webhooks(
            Platform::Etsy,
            shops::ETSY,
            &key,
            "msg_old",
            now() + offset,
            &body,
        );
        assert_eq!(
            harness.ingress.send(&stale).await.status(),
            401,
            "offset {offset}"
        );
    }
    // During rotation the sender signs with old and new keys; one valid entry suffices.
    let fresh =
        signer::standard_webhooks(Platform::Etsy, shops::ETSY, &key, "msg_rot", now(), &body);
    let valid = fresh.header("webhook-signature").unwrap().to_owned();
    let multi = fresh.with_header(
        "webhook-signature",
        &format!("v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU= v2,abc {valid}"),
    );
    assert_eq!(harness.ingress.send(&multi).await.status(), 200);
    // Svix-branded header names carry the same scheme.
    let svix =
        signer::standard_webhooks(Platform::Etsy, shops::ETSY, &key, "msg_svix", now(), &body);
    let renamed = ["id", "timestamp", "signature"]
        .iter()
        .fold(svix.clone(), |d, part| {
            let name = format!("webhook-{part}");
            let value = svix.header(&name).unwrap().to_owned();
            d.without_header(&name)
                .with_header(&format!("svix-{part}"), &value)
        });
    assert_eq!(harness.ingress.send(&renamed).await.status(), 200);
    harness.broker.take_shards_when(2, LANDING_TIMEOUT).await;
}

#[tokio::test]
async fn bigcommerce_static_hook_headers_are_checked_when_configured() {
    let harness = Harness::start().await;
    let delivery = |n: u64| {
        signer::standard_webhooks(
            Platform::BigCommerce,
            shops::BIGCOMMERCE_WITH_HEADER,
            shops::BIGCOMMERCE_SECRET.as_bytes(),
            &format!("bc_h_{n}"),
            now(),
            &fixtures::bigcommerce("store/order/created", n, "abc"),
        )
    };
    let (name, value) = shops::BIGCOMMERCE_HEADER;
    assert_eq!(harness.ingress.send(&delivery(1)).await.status(), 401);
    assert_eq!(
        harness
            .ingress
            .send(&delivery(2).with_header(name, "wrong"))
            .await
            .status(),
        401
    );
    assert_eq!(
        harness
            .ingress
            .send(&delivery(3).with_header(name, value))
            .await
            .status(),
        200
    );
    let landed = harness.broker.take_shards_when(1, LANDING_TIMEOUT).await;
    assert_eq!(landed.len(), 1);
}

#[tokio::test]
async fn topics_we_do_not_book_are_acknowledged_and_counted_but_not_published() {
    let harness = Harness::start().await;
    let product = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "products/update",
        "p-1",
        b"{}",
    );
    let deletion = signer::ebay(
        shops::EBAY,
        &harness.ebay_key,
        EBAY_KID,
        &fixtures::ebay("MARKETPLACE_ACCOUNT_DELETION", "n-del-1", ""),
    );
    for delivery in [&product, &product, &deletion] {
        let response = harness.ingress.send(delivery).await;
        assert_eq!(response.status(), 200);
        assert_eq!(json(response).await["status"], "ignored");
    }
    assert_nothing_landed(&harness).await;
    let metrics = harness.ingress.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"xcs_ingress_ignored_topics_total{platform="shopify",topic="products/update"} 2"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn refunds_and_stock_changes_are_classified_per_platform() {
    let harness = Harness::start().await;
    let woo_refund = signer::woocommerce(
        shops::WOOCOMMERCE,
        shops::WOOCOMMERCE_SECRET,
        "order.updated",
        &fixtures::woocommerce_refunded_order(727, "2026-11-27T02:00:00"),
    );
    let shopify_refund = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "refunds/create",
        "r-1",
        &fixtures::shopify_refund(509_562_969),
    );
    let bc_refund = signer::standard_webhooks(
        Platform::BigCommerce,
        shops::BIGCOMMERCE,
        shops::BIGCOMMERCE_SECRET.as_bytes(),
        "bc_refund_1",
        now(),
        &fixtures::bigcommerce("store/order/refund/created", 250, "abc"),
    );
    let magento_refund = signer::adobe(
        shops::MAGENTO,
        Some((&harness.adobe_key, ADOBE_KEY_PATH)),
        None,
        &fixtures::magento_event(
            "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
            "cm-1",
            shops::ADOBE_CLIENT_ID,
        ),
    );
    let shopify_stock = signer::shopify(
        shops::SHOPIFY,
        shops::SHOPIFY_SECRETS[0],
        "inventory_levels/update",
        "i-1",
        br#"{"inventory_item_id":271878346596884015,"location_id":24826418,"available":10}"#,
    );
    let cases = [
        (woo_refund, "refund"),
        (shopify_refund, "refund"),
        (bc_refund, "refund"),
        (magento_refund, "refund"),
        (shopify_stock, "inventory"),
    ];
    for (delivery, kind) in &cases {
        let answer = json(harness.ingress.send(delivery).await).await;
        assert_eq!(answer["kind"], *kind, "{}: {answer}", delivery.platform);
    }
    let landed = harness
        .broker
        .take_shards_when(cases.len(), LANDING_TIMEOUT)
        .await;
    for message in landed {
        let kind = message.header(header::KIND).unwrap();
        let platform = message.header(header::PLATFORM).unwrap();
        assert_eq!(message.routing_key, format!("{kind}.{platform}"));
    }
}

#[tokio::test]
async fn platform_handshakes_are_answered_and_publish_nothing() {
    let harness = Harness::start().await;
    let ingress = &harness.ingress;

    // WooCommerce's unsigned ping when a webhook is saved must get exactly 200.
    let ping = ingress
        .client
        .post(format!(
            "{}/webhooks/woocommerce/{}",
            ingress.base_url,
            shops::WOOCOMMERCE
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("webhook_id=142")
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), 200);

    // eBay's endpoint challenge, with the values of the reference vector.
    let code = "71745723-d031-455c-bfa5-f90d11b4f20a";
    let answer = ingress
        .get(&format!(
            "/webhooks/ebay/{}?challenge_code={code}",
            shops::EBAY
        ))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        json(answer).await["challengeResponse"],
        "048de9ffd0e35021fefc0388d5c52e0f475324f582f3778ca81a53354ccbbc97"
    );
    assert_eq!(
        ingress
            .get(&format!("/webhooks/ebay/{}", shops::EBAY))
            .await
            .status(),
        400
    );

    // Adobe I/O's challenge is echoed; its asynchronous validation post is acknowledged.
    let answer = ingress
        .get(&format!(
            "/webhooks/magento/{}?challenge=8ec8d794-e0ab-42df-9017-e3dada8e84f7",
            shops::MAGENTO
        ))
        .await;
    assert_eq!(answer.status(), 200);
    assert_eq!(
        json(answer).await["challenge"],
        "8ec8d794-e0ab-42df-9017-e3dada8e84f7"
    );
    assert_eq!(
        ingress
            .get(&format!("/webhooks/magento/{}?challenge=", shops::MAGENTO))
            .await
            .status(),
        400
    );
    let validation = ingress
        .client
        .post(format!("{}/webhooks/magento/{}", ingress.base_url, shops::MAGENTO))
        .body(r#"{"validationUrl":"https://csm.adobe.io/csm/registrations/validate?id=1&challenge=2"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(validation.status(), 200);

    // Platforms without a GET handshake.
    assert_eq!(
        ingress
            .get(&format!("/webhooks/shopify/{}", shops::SHOPIFY))
            .await
            .status(),
        405
    );
    assert_nothing_landed(&harness).await;
}

#[tokio::test]
async fn unknown_platforms_and_shops_get_404_and_oversized_bodies_get_413() {
    let harness = Harness::start().await;
    let genuine = harness.order_delivery(Platform::Shopify, 1);
    let post = |path: String, body: Vec<u8>| {
        let mut request = harness
            .ingress
            .client
            .post(format!("{}{path}", harness.ingress.base_url))
            .body(body);
        for (name, value) in &genuine.headers {
            request = request.header(name, value);
        }
        request.send()
    };
    for path in [
        "/webhooks/amazon/acme".to_owned(),
        "/webhooks/shopify/no-such-shop".to_owned(),
        // The shop exists, on another platform.
        format!("/webhooks/shopify/{}", shops::WOOCOMMERCE),
    ] {
        let response = post(path.clone(), genuine.body.clone()).await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
    let oversized = vec![b' '; 64 * 1024 + 1];
    let response = post(genuine.path(), oversized).await.unwrap();
    assert_eq!(response.status(), 413);
    // Exactly at the limit is fine as far as size goes (the signature then fails).
    let response = post(genuine.path(), vec![b' '; 64 * 1024]).await.unwrap();
    assert_eq!(response.status(), 401);
    assert_nothing_landed(&harness).await;
}

#[tokio::test]
async fn ebay_keys_are_fetched_once_unknown_keys_refused_and_an_outage_is_a_503() {
    let harness = Harness::start().await;
    for n in 10..13 {
        let response = harness
            .ingress
            .send(&harness.order_delivery(Platform::Ebay, n))
            .await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(
        harness.keys.ebay_key_requests(),
        1,
        "one fetch, then the cache"
    );

    let stranger = signer::ebay(
        shops::EBAY,
        &signer::new_ebay_key(),
        "00000000-0000-0000-0000-000000000000",
        &fixtures::ebay("ORDER_CONFIRMATION", "n-x", "o-x"),
    );
    assert_eq!(harness.ingress.send(&stranger).await.status(), 401);
    assert_eq!(harness.ingress.send(&stranger).await.status(), 401);
    assert_eq!(
        harness.keys.ebay_key_requests(),
        2,
        "unknown kids are remembered briefly"
    );

    // The key host is down and the key not cached: we cannot tell, so the platform retries.
    harness.keys.set_down(true);
    let new_key = signer::new_ebay_key();
    harness
        .keys
        .add_ebay_key("11111111-2222-3333-4444-555555555555", &new_key);
    let pending = signer::ebay(
        shops::EBAY,
        &new_key,
        "11111111-2222-3333-4444-555555555555",
        &fixtures::ebay("ORDER_CONFIRMATION", "n-y", "o-y"),
    );
    let response = harness.ingress.send(&pending).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    harness.keys.set_down(false);
    assert_eq!(harness.ingress.send(&pending).await.status(), 200);
    harness.broker.take_shards_when(4, LANDING_TIMEOUT).await;
}

#[tokio::test]
async fn adobe_accepts_either_signature_fetches_keys_only_from_its_host_and_checks_the_recipient() {
    let harness = Harness::start().await;
    let body = fixtures::magento_invoice("evt-either", shops::ADOBE_CLIENT_ID);
    let other_key = signer::adobe_test_key(2);
    // Key 1 was rotated away (404 at the key host); key 2 verifies.
    let rotating = signer::adobe(
        shops::MAGENTO,
        Some((&other_key, "/prod/keys/retired.pem")),
        Some((&harness.adobe_key, ADOBE_KEY_PATH)),
        &body,
    );
    assert_eq!(harness.ingress.send(&rotating).await.status(), 200);

    let fetches = harness.keys.adobe_key_requests();
    let elsewhere = signer::adobe(
        shops::MAGENTO,
        Some((&other_key, "https://evil.example/key.pem")),
        None,
        &fixtures::magento_invoice("evt-evil", shops::ADOBE_CLIENT_ID),
    );
    assert_eq!(harness.ingress.send(&elsewhere).await.status(), 401);
    assert_eq!(
        harness.keys.adobe_key_requests(),
        fetches,
        "no fetch for a foreign key URL"
    );

    let not_ours = signer::adobe(
        shops::MAGENTO,
        Some((&harness.adobe_key, ADOBE_KEY_PATH)),
        None,
        &fixtures::magento_invoice("evt-other", "someone-elses-client-id"),
    );
    assert_eq!(harness.ingress.send(&not_ours).await.status(), 401);
    let landed = harness.broker.take_shards_when(1, LANDING_TIMEOUT).await;
    assert_eq!(landed.len(), 1);
    assert_nothing_landed(&harness).await;
}

#[tokio::test]
async fn health_readiness_and_metrics_are_served() {
    let harness = Harness::start().await;
    assert_eq!(harness.ingress.get("/healthz").await.status(), 200);
    let ready = harness.ingress.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready = json(ready).await;
    assert_eq!(ready["broker_connected"], true);
    assert_eq!(ready["topology_present"], true);

    harness
        .ingress
        .send(&harness.order_delivery(Platform::Shopify, 1))
        .await;
    let metrics = harness.ingress.get("/metrics").await.text().await.unwrap();
    for expected in [
        r#"xcs_ingress_deliveries_total{platform="shopify",outcome="published"} 1"#,
        "xcs_ingress_publish_duration_seconds_count 1",
        "xcs_ingress_in_flight 0",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
}
