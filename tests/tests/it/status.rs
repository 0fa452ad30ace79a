//! `xcs-processor status` against the real RabbitMQ (a vhost of its own), the real PostgreSQL
//! (a schema of its own) and the Xero simulator: counts from the ledger and the queues, the
//! exit code scripts wait on, and the JSON they read.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Confirmation};
use xcs_processor::config::Config;
use xcs_processor::operate::cli::{self, StatusArgs};
use xcs_processor::operate::status;
use xcs_shared::{EventKind, Platform, topology};
use xcs_tests::broker::TestBroker;
use xcs_tests::dead_letters::{DeadSpec, publish_dead};
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{SHOP, TestProcessor, WOO_SHOP, publish, test_config, wait_handled};
use xcs_xero_sim::{SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(30);

/// Puts a failed event of `spec`'s shop in a retry tier, as the processor's hand-off does.
async fn publish_retrying(broker: &TestBroker, spec: &DeadSpec, tier: &str) {
    let mut headers = FieldTable::default();
    for (name, value) in spec.envelope().headers() {
        headers.insert(
            ShortString::from(name),
            AMQPValue::LongString(LongString::from(value)),
        );
    }
    headers.insert(
        ShortString::from(xcs_processor::handoff::header::ATTEMPTS),
        AMQPValue::LongLongInt(3),
    );
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirmation = channel
        .basic_publish(
            topology::RETRY_EXCHANGE.into(),
            tier.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            &spec.body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(spec.event_id.as_str().into())
                .with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert_eq!(confirmation, Confirmation::Ack(None), "routed to {tier}");
    let _ = connection.close(200, "published".into()).await;
}

#[tokio::test]
async fn a_shop_with_a_dead_letter_needs_a_person_and_a_clean_shop_does_not() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let text = test_config(&broker, &schema, &sim, "");
    let config = Config::from_toml(&text, |_| None).expect("a valid config");

    // One order booked...
    let processor = TestProcessor::start(&text).await;
    let booked = "shopify:nz-shopify:st-1";
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        booked,
        &fixtures::shopify_nz_order(7001, 1701, true),
    )
    .await;
    assert_eq!(wait_handled(&schema, booked, HANDLED).await.0, "booked");
    processor.stop().await;
    // ...one dead, one waiting an hour in the retry tiers.
    publish_dead(
        &broker,
        &[DeadSpec::order(
            "shopify:nz-shopify:st-2",
            "xero_validation",
            "2026-11-20T10:00:00Z",
            fixtures::shopify_nz_order(7002, 1702, true),
        )],
    )
    .await;
    let waiting = DeadSpec::order(
        "shopify:nz-shopify:st-3",
        "xero_unavailable",
        "2026-11-20T10:00:00Z",
        fixtures::shopify_nz_order(7003, 1703, true),
    );
    publish_retrying(&broker, &waiting, "xcs.retry.1h").await;

    let connection = broker.connect().await;
    let found = status::status(&config, &connection, Some(SHOP))
        .await
        .expect("the status is read");
    assert!(found.needs_attention);
    assert_eq!(found.shops.len(), 1);
    let shop = &found.shops[0];
    assert_eq!(shop.counts.booked, 1, "{shop:?}");
    assert_eq!(shop.counts.skipped, 0, "{shop:?}");
    assert_eq!(shop.counts.dead, 1, "{shop:?}");
    assert_eq!(shop.counts.retrying, 1, "{shop:?}");
    assert_eq!(shop.retrying_by_tier.get("xcs.retry.1h"), Some(&1));
    assert_eq!(
        shop.last_booked.as_ref().map(|l| l.event_id.as_str()),
        Some(booked)
    );
    assert_eq!(shop.needs_attention.len(), 1, "{shop:?}");
    assert!(
        shop.needs_attention[0]
            .what
            .contains("1 dead letter (1 xero_validation)"),
        "{shop:?}"
    );
    assert!(
        shop.needs_attention[0]
            .next
            .contains("dead list --shop nz-shopify"),
        "{shop:?}"
    );
    // The Custom Connection's token, as Xero granted it.
    assert!(found.xero.problem.is_none(), "{:?}", found.xero);
    assert!(found.xero.expires_at.is_some(), "{:?}", found.xero);

    let json = serde_json::to_value(&found).unwrap();
    assert_eq!(json["needs_attention"], true);
    assert_eq!(json["xero"]["auth"], "custom_connection");
    let shop_json = &json["shops"][0];
    assert_eq!(shop_json["shop"], SHOP);
    assert_eq!(shop_json["platform"], "shopify");
    assert_eq!(shop_json["counts"]["booked"], 1);
    assert_eq!(shop_json["counts"]["skipped"], 0);
    assert_eq!(shop_json["counts"]["retrying"], 1);
    assert_eq!(shop_json["counts"]["dead"], 1);
    assert_eq!(shop_json["last_booked"]["event_id"], booked);
    assert!(shop_json["last_booked"]["at"].is_string());
    assert!(shop_json["open_periods"].as_array().unwrap().is_empty());
    assert!(shop_json["needs_attention"][0]["next"].is_string());

    let text = status::render_text(&found);
    assert!(
        text.contains("1 booked, 0 skipped, 0 summarised, 1 retrying, 1 dead"),
        "{text}"
    );
    assert!(text.contains("Something needs a person"), "{text}");

    // Reading took nothing away.
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 1);
    assert_eq!(broker.depth("xcs.retry.1h").await, 1);

    // The exit codes scripts wait on: 1 for the shop with a dead letter, 0 for the clean one.
    let exit = |shop: &str| {
        cli::status(
            &config,
            StatusArgs {
                shop: Some(shop.to_owned()),
                json: true,
            },
        )
    };
    assert_eq!(exit(SHOP).await, 1);
    assert_eq!(exit(WOO_SHOP).await, 0);
    let clean = status::status(&config, &connection, Some(WOO_SHOP))
        .await
        .unwrap();
    assert!(!clean.needs_attention, "{clean:?}");
    assert_eq!(clean.shops[0].counts.dead, 0);
    assert!(clean.shops[0].last_booked.is_none());
    // An unknown shop cannot be read: exit 2, not a clean bill.
    assert_eq!(exit("nope").await, 2);
    let _ = connection.close(200, "done".into()).await;
}
