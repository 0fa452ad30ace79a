//! The operators' dead-letter tools (`xcs-processor dead list|show|replay|purge`) against the
//! real RabbitMQ, each test in a vhost of its own; the replay that matters most end to end,
//! with the processor, PostgreSQL and the Xero simulator.

use std::io::IsTerminal as _;
use std::time::Duration;

use lapin::types::AMQPValue;
use serde_json::json;
use xcs_processor::operate::cli::{self, DeadCommand};
use xcs_processor::operate::dead::{self, DeadLetter, Filter, PurgeOptions, ReplayOptions, Scan};
use xcs_processor::operate::{ProgressBar, parse_time};
use xcs_processor::publisher::Republisher;
use xcs_shared::{EventKind, Platform, topology};
use xcs_tests::broker::{Landed, TestBroker};
use xcs_tests::dead_letters::{DeadSpec, dead_by_delivery_limit, publish_dead};
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, WOO_SHOP, invoices_numbered, payments_on, publish, test_config,
    wait_handled,
};
use xcs_xero_sim::{SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(30);

/// Three dead letters: two Shopify orders with different reasons, one WooCommerce refund.
fn three() -> Vec<DeadSpec> {
    let mut refund = DeadSpec::order(
        "woocommerce:nz-woo:b",
        "xero_validation",
        "2026-11-21T10:00:00Z",
        br#"{"id": 2}"#.to_vec(),
    );
    refund.platform = Platform::WooCommerce;
    refund.shop = WOO_SHOP.to_owned();
    refund.kind = EventKind::Refund;
    refund.topic = "order.updated".to_owned();
    vec![
        DeadSpec::order(
            "shopify:nz-shopify:a",
            "unmapped_tax",
            "2026-11-20T10:00:00Z",
            br#"{"id": 1}"#.to_vec(),
        ),
        refund,
        DeadSpec::order(
            "shopify:nz-shopify:c",
            "unmapped_tax",
            "2026-11-22T10:00:00Z",
            br#"{"id": 3}"#.to_vec(),
        ),
    ]
}

fn ids(letters: &[DeadLetter]) -> Vec<String> {
    let mut ids: Vec<String> = letters.iter().map(|l| l.event_id.clone()).collect();
    ids.sort();
    ids
}

fn at(text: &str) -> Option<time::OffsetDateTime> {
    Some(parse_time(text).unwrap())
}

async fn list(broker: &TestBroker, filter: Filter) -> Vec<String> {
    let connection = broker.connect().await;
    let listing = dead::list(&connection, &filter, &ProgressBar::hidden())
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    ids(&listing.letters)
}

fn header<'a>(landed: &'a Landed, name: &str) -> Option<&'a AMQPValue> {
    landed
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name))
}

#[tokio::test]
async fn list_filters_by_every_criterion_and_leaves_every_message_in_the_queue() {
    let broker = TestBroker::with_topology().await;
    publish_dead(&broker, &three()).await;
    let (a, b, c) = (
        "shopify:nz-shopify:a",
        "woocommerce:nz-woo:b",
        "shopify:nz-shopify:c",
    );

    assert_eq!(list(&broker, Filter::default()).await, [a, c, b]);
    let by = |filter: Filter| list(&broker, filter);
    assert_eq!(
        by(Filter {
            reason: Some("unmapped_tax".into()),
            ..Filter::default()
        })
        .await,
        [a, c]
    );
    assert_eq!(
        by(Filter {
            shop: Some(WOO_SHOP.into()),
            ..Filter::default()
        })
        .await,
        [b]
    );
    assert_eq!(
        by(Filter {
            platform: Some(Platform::Shopify),
            kind: Some(EventKind::Order),
            ..Filter::default()
        })
        .await,
        [a, c]
    );
    assert_eq!(
        by(Filter {
            kind: Some(EventKind::Refund),
            tenant: Some(xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string()),
            ..Filter::default()
        })
        .await,
        [b]
    );
    assert_eq!(
        by(Filter {
            since: at("2026-11-21"),
            ..Filter::default()
        })
        .await,
        [c, b]
    );
    assert_eq!(
        by(Filter {
            since: at("2026-11-21"),
            until: at("2026-11-22T10:00:00Z"),
            ..Filter::default()
        })
        .await,
        [b]
    );
    assert_eq!(
        by(Filter {
            event_id: Some(c.into()),
            ..Filter::default()
        })
        .await,
        [c]
    );
    assert!(
        by(Filter {
            tenant: Some("another-tenant".into()),
            ..Filter::default()
        })
        .await
        .is_empty()
    );

    // The JSON form carries what the table shows.
    let connection = broker.connect().await;
    let listing = dead::list(
        &connection,
        &Filter {
            event_id: Some(a.into()),
            ..Filter::default()
        },
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    let json = serde_json::to_value(&listing.letters).unwrap();
    assert_eq!(json[0]["event_id"], a);
    assert_eq!(json[0]["reason"], "unmapped_tax");
    assert_eq!(json[0]["by_broker"], false);
    assert_eq!(json[0]["attempts"], 1);
    assert_eq!(json[0]["dead_at"], "2026-11-20T10:00:00Z");
    assert_eq!(json[0]["shop"], SHOP);
    assert_eq!(json[0]["kind"], "order");
    assert_eq!(json[0]["last_error"], "unmapped_tax: what went wrong");
    let table = dead::table(&listing.letters);
    assert!(table.starts_with("EVENT ID"), "{table}");
    assert!(
        table.contains(a) && table.contains("unmapped_tax"),
        "{table}"
    );

    // After all those passes, every message is still there.
    assert_eq!(listing.in_queue, 3);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 3);
    assert_eq!(list(&broker, Filter::default()).await, [a, c, b]);
}

#[tokio::test]
async fn list_ends_on_an_empty_queue_and_reads_thousands_without_losing_one() {
    let broker = TestBroker::with_topology().await;
    assert!(list(&broker, Filter::default()).await.is_empty());

    let letters: Vec<DeadSpec> = (0..3000)
        .map(|i| {
            DeadSpec::order(
                &format!("shopify:nz-shopify:{i:05}"),
                if i % 3 == 0 {
                    "unmapped_tax"
                } else {
                    "xero_validation"
                },
                "2026-11-20T10:00:00Z",
                format!(r#"{{"id": {i}}}"#).into_bytes(),
            )
        })
        .collect();
    publish_dead(&broker, &letters).await;
    let all = list(&broker, Filter::default()).await;
    assert_eq!(all.len(), 3000);
    assert_eq!(
        all,
        letters
            .iter()
            .map(|l| l.event_id.clone())
            .collect::<Vec<_>>()
    );
    let unmapped = list(
        &broker,
        Filter {
            reason: Some("unmapped_tax".into()),
            ..Filter::default()
        },
    )
    .await;
    assert_eq!(unmapped.len(), 1000);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 3000);
}

#[tokio::test]
async fn show_gives_the_reason_the_history_every_header_and_the_payload() {
    let broker = TestBroker::with_topology().await;
    let mut spec = DeadSpec::order(
        "shopify:nz-shopify:s-1",
        "unmapped_tax",
        "2026-11-20T10:05:00Z",
        serde_json::to_vec(&json!({"id": 42, "name": "#1042"})).unwrap(),
    );
    spec.attempts = 3;
    spec.first_failure_at = "2026-11-20T09:00:00Z".into();
    spec.last_error = "no tax type for GST 15% (rate 15); add it to mapping.tax".into();
    publish_dead(&broker, &[spec]).await;

    let connection = broker.connect().await;
    let found = dead::show(&connection, "shopify:nz-shopify:s-1")
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    let letter = &found[0];
    assert_eq!(letter.reason, "unmapped_tax");
    assert_eq!(letter.attempts, Some(3));
    assert_eq!(
        letter.first_failure_at.as_deref(),
        Some("2026-11-20T09:00:00Z")
    );
    assert_eq!(letter.dead_at.as_deref(), Some("2026-11-20T10:05:00Z"));
    assert_eq!(letter.headers["xcs-shop"], SHOP);
    assert_eq!(letter.headers["xcs-topic"], "orders/paid");
    assert!(
        letter.payload_text().contains("\n  \"id\": 42"),
        "pretty JSON"
    );

    let text = dead::describe(letter);
    for expected in [
        "unmapped_tax",
        "2026-11-20T09:00:00Z",
        "no tax type for GST 15%",
        "xcs-tenant:",
        "message_id: shopify:nz-shopify:s-1",
        "\"name\": \"#1042\"",
    ] {
        assert!(text.contains(expected), "{expected:?} in:\n{text}");
    }
    let json = letter.to_json();
    assert_eq!(json["payload"]["id"], 42);
    assert_eq!(json["headers"]["xcs-attempts"], 3);

    assert!(
        dead::show(&connection, "shopify:nz-shopify:nope")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 1);
}

#[tokio::test]
async fn replay_republishes_matching_events_to_the_shards_reset_and_removes_only_them() {
    let broker = TestBroker::with_topology().await;
    let mut letters = three();
    letters[2].attempts = 5;
    publish_dead(&broker, &letters).await;

    let connection = broker.connect().await;
    let report = dead::replay(
        &connection,
        &Filter {
            reason: Some("unmapped_tax".into()),
            ..Filter::default()
        },
        &ReplayOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        ids(&report.replayed),
        ["shopify:nz-shopify:a", "shopify:nz-shopify:c"]
    );
    assert_eq!(report.kept, 1);
    assert_eq!(
        list(&broker, Filter::default()).await,
        ["woocommerce:nz-woo:b"]
    );

    let mut landed = broker.take_all_shards().await;
    landed.sort_by(|x, y| x.header("xcs-event-id").cmp(&y.header("xcs-event-id")));
    assert_eq!(landed.len(), 2);
    for (landed, original) in landed.iter().zip([&letters[0], &letters[2]]) {
        assert_eq!(
            landed.header("xcs-event-id"),
            Some(original.event_id.as_str())
        );
        assert_eq!(landed.body, original.body, "the body byte for byte");
        assert_eq!(
            landed.properties.message_id().as_ref().map(|m| m.as_str()),
            Some(original.event_id.as_str())
        );
        // A fresh set of retries...
        for gone in [
            "xcs-attempts",
            "xcs-reason",
            "xcs-dead-at",
            "xcs-last-error",
        ] {
            assert_eq!(header(landed, gone), None, "{gone}");
        }
        // ...with the history kept.
        assert_eq!(
            header(landed, "xcs-replays"),
            Some(&AMQPValue::LongLongInt(1))
        );
        assert_eq!(landed.header("xcs-replayed-reason"), Some("unmapped_tax"));
        assert!(landed.header("xcs-replayed-at").is_some());
        assert_eq!(
            landed.header("xcs-first-failure-at"),
            Some(original.first_failure_at.as_str())
        );
        assert_eq!(
            landed.header("xcs-tenant"),
            Some(original.envelope().tenant.as_str())
        );
    }
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_a_limit_replays_that_many() {
    let broker = TestBroker::with_topology().await;
    publish_dead(&broker, &three()).await;
    let connection = broker.connect().await;

    let dry = dead::replay(
        &connection,
        &Filter::default(),
        &ReplayOptions {
            dry_run: true,
            ..ReplayOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(dry.replayed.len(), 3);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 3);
    assert!(broker.take_all_shards().await.is_empty());

    let one = dead::replay(
        &connection,
        &Filter::default(),
        &ReplayOptions {
            limit: Some(1),
            ..ReplayOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(one.replayed.len(), 1);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 2);
    let landed = broker.take_all_shards().await;
    assert_eq!(landed.len(), 1);
    assert_eq!(
        landed[0].header("xcs-event-id"),
        Some(one.replayed[0].event_id.as_str())
    );
}

#[tokio::test]
async fn two_copies_of_one_dead_event_are_replayed_once_and_both_removed() {
    let broker = TestBroker::with_topology().await;
    let letter = three().remove(0);
    publish_dead(&broker, &[letter.clone(), letter]).await;
    let connection = broker.connect().await;
    let report = dead::replay(&connection, &Filter::default(), &ReplayOptions::default())
        .await
        .unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(report.duplicates, 1);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 0);
    assert_eq!(broker.take_all_shards().await.len(), 1);
}

#[tokio::test]
async fn an_interrupted_replay_loses_nothing_and_replaying_again_books_the_order_once() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let event_id = "shopify:nz-shopify:replay-1";
    publish_dead(
        &broker,
        &[DeadSpec::order(
            event_id,
            "xero_unavailable",
            "2026-11-20T10:00:00Z",
            fixtures::shopify_nz_order(5101, 1101, true),
        )],
    )
    .await;

    // A replay that dies after RabbitMQ confirmed the copy, before removing the dead message:
    // the same steps `dead::replay` takes, stopped in between.
    {
        let connection = broker.connect().await;
        let mut scan = Scan::open(&connection).await.unwrap();
        let delivery = scan.next().await.unwrap().expect("the dead letter");
        let letter = DeadLetter::read(&delivery.properties, &delivery.data);
        let publisher = Republisher::open(&connection).await.unwrap();
        dead::publish_copy(&publisher, &letter, "2026-11-27T02:00:00Z")
            .await
            .unwrap();
        // The crash: the connection goes, the delivery was never acknowledged.
        connection.close(320, "killed".into()).await.unwrap();
    }
    // Nothing lost: RabbitMQ puts the unacknowledged dead letter back.
    xcs_tests::eventually(
        HANDLED,
        "the dead letter to be back in xcs.dead",
        || async { (broker.depth(topology::DEAD_QUEUE).await == 1).then_some(()) },
    )
    .await;

    // Run again: the event is replayed a second time and leaves the dead queue.
    let connection = broker.connect().await;
    let report = dead::replay(&connection, &Filter::default(), &ReplayOptions::default())
        .await
        .unwrap();
    assert_eq!(ids(&report.replayed), [event_id]);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 0);
    let mut on_shards = 0;
    for queue in topology::shard_queues() {
        on_shards += broker.depth(&queue).await;
    }
    assert_eq!(on_shards, 2, "both copies wait on the shards");

    // The processor books the order once.
    let processor = TestProcessor::start(&test_config(&broker, &schema, &sim, "")).await;
    let (outcome, _) = wait_handled(&schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked");
    // A later event of the same tenant, on the same shard: once it is handled, so is the copy.
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:after",
        &fixtures::shopify_nz_order(5102, 1102, true),
    )
    .await;
    wait_handled(&schema, "shopify:nz-shopify:after", HANDLED).await;
    processor.stop().await;

    let invoices = invoices_numbered(&sim, "SH-1101");
    assert_eq!(invoices.len(), 1);
    assert_eq!(payments_on(&sim, &invoices[0]).len(), 1);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 0);
}

#[tokio::test]
async fn purge_removes_only_what_matches_and_wants_a_confirmation() {
    let broker = TestBroker::with_topology().await;
    publish_dead(&broker, &three()).await;
    let connection = broker.connect().await;

    let report = dead::purge(
        &connection,
        &Filter {
            shop: Some(SHOP.into()),
            since: at("2026-11-21"),
            ..Filter::default()
        },
        &PurgeOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(ids(&report.purged), ["shopify:nz-shopify:c"]);
    assert_eq!(
        list(&broker, Filter::default()).await,
        ["shopify:nz-shopify:a", "woocommerce:nz-woo:b"]
    );

    // The command refuses without --yes when nobody is at a terminal to type the count...
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let config =
        xcs_processor::config::Config::from_toml(&test_config(&broker, &schema, &sim, ""), |_| {
            None
        })
        .unwrap();
    if !std::io::stdin().is_terminal() {
        let refused = cli::dead(
            &config,
            DeadCommand::Purge {
                filter: Filter::default(),
                yes: false,
            },
        )
        .await
        .unwrap_err();
        assert!(refused.to_string().contains("--yes"), "{refused}");
        assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 2);
    }
    // ...and with it purges what matches.
    cli::dead(
        &config,
        DeadCommand::Purge {
            filter: Filter {
                reason: Some("xero_validation".into()),
                ..Filter::default()
            },
            yes: true,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        list(&broker, Filter::default()).await,
        ["shopify:nz-shopify:a"]
    );
}

#[tokio::test]
async fn an_event_rabbitmq_dead_lettered_past_the_delivery_limit_is_listed_and_replayable() {
    let broker = TestBroker::with_topology().await;
    let event_id = "shopify:nz-shopify:poison-1";
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        event_id,
        &fixtures::shopify_nz_order(5201, 1201, true),
    )
    .await;
    dead_by_delivery_limit(&broker, 0).await;

    let connection = broker.connect().await;
    let listing = dead::list(
        &connection,
        &Filter {
            reason: Some(dead::DELIVERY_LIMIT.into()),
            ..Filter::default()
        },
        &ProgressBar::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(ids(&listing.letters), [event_id]);
    let letter = &listing.letters[0];
    assert!(letter.by_broker);
    assert_eq!(letter.reason, "delivery_limit");
    assert!(letter.dead_at.is_some(), "from x-death");
    let error = letter.last_error.as_deref().unwrap();
    assert!(
        error.contains("xcs.shard.") && error.contains("delivery limit"),
        "{error}"
    );
    assert!(
        dead::describe(&dead::show(&connection, event_id).await.unwrap()[0])
            .contains("dead-lettered by RabbitMQ")
    );

    let report = dead::replay(
        &connection,
        &Filter {
            reason: Some("delivery_limit".into()),
            ..Filter::default()
        },
        &ReplayOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 0);
    let landed = broker.take_all_shards().await;
    assert_eq!(landed.len(), 1);
    // RabbitMQ's death record goes: kept, it would make RabbitMQ drop the event as a
    // dead-letter cycle when a retry tier later sends it back to the same shard.
    assert_eq!(header(&landed[0], "x-death"), None);
    assert_eq!(
        landed[0].header("xcs-replayed-reason"),
        Some("delivery_limit")
    );
    assert_eq!(landed[0].header("xcs-event-id"), Some(event_id));
}

/// A dead letter replayed inside Xero's six-minute idempotency window is a new attempt to Xero:
/// Xero answers a key it has seen from its cache, errors included, so a replay sending its
/// failed attempt's keys would get the old refusal however the cause was fixed. Here the first
/// attempt even wrote the invoice before Xero refused it: the replay finds it ("must be
/// unique") and adopts it, so the order is booked once.
#[tokio::test]
async fn a_replay_inside_xeros_idempotency_window_is_a_new_attempt_and_books_once() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    sim.inject_fault(
        xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::ApplyThenStatus { status: 400 })
            .path_prefix("/api.xro/2.0/Invoices"),
    );
    let processor = TestProcessor::start(&test_config(&broker, &schema, &sim, "")).await;
    let event_id = "shopify:nz-shopify:replay-window";
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        event_id,
        &fixtures::shopify_nz_order(5111, 1111, true),
    )
    .await;
    xcs_tests::eventually(HANDLED, "the refused order to be dead", || async {
        (broker.depth(topology::DEAD_QUEUE).await == 1).then_some(())
    })
    .await;
    assert_eq!(
        invoices_numbered(&sim, "SH-1111").len(),
        1,
        "the refused write was applied"
    );

    // At once: well inside the window in which Xero would replay its cached refusal.
    let connection = broker.connect().await;
    let report = dead::replay(&connection, &Filter::default(), &ReplayOptions::default())
        .await
        .unwrap();
    assert_eq!(ids(&report.replayed), [event_id]);
    let (outcome, detail) = wait_handled(&schema, event_id, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    processor.stop().await;

    let invoices = invoices_numbered(&sim, "SH-1111");
    assert_eq!(invoices.len(), 1, "booked once");
    assert_eq!(payments_on(&sim, &invoices[0]).len(), 1, "and paid once");
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 0);
}

#[tokio::test]
async fn the_table_shows_the_whole_error_and_the_orders_number_and_amount_and_replay_its_count() {
    let broker = TestBroker::with_topology().await;
    let mut shopify = DeadSpec::order(
        "shopify:nz-shopify:t-1",
        "xero_validation",
        "2026-11-20T10:00:00Z",
        serde_json::to_vec(&json!({
            "id": 450789469,
            "name": "#1001",
            "total_price": "28.75",
            "currency": "NZD",
        }))
        .unwrap(),
    );
    let long_error = "Xero validation failed: Item code 'SKU-RED-XL' is not valid.; map the SKU \
                      to an item code Xero has ([shops.nz-shopify.mapping.items]) and replay";
    shopify.last_error = long_error.to_owned();
    let mut woo = DeadSpec::order(
        "woocommerce:nz-woo:t-2",
        "unmapped_tax",
        "2026-11-20T10:01:00Z",
        serde_json::to_vec(
            &json!({"id": 77, "number": "1077", "total": "40.00", "currency": "NZD"}),
        )
        .unwrap(),
    );
    woo.platform = Platform::WooCommerce;
    woo.shop = WOO_SHOP.to_owned();
    woo.last_error = "first line\nsecond line".to_owned();
    let thin = DeadSpec::order(
        "shopify:nz-shopify:t-3",
        "unparseable_payload",
        "2026-11-20T10:02:00Z",
        b"not json".to_vec(),
    );
    publish_dead(&broker, &[shopify, woo, thin]).await;

    let connection = broker.connect().await;
    let listing = dead::list(&connection, &Filter::default(), &ProgressBar::hidden())
        .await
        .unwrap();
    let table = dead::table(&listing.letters);
    let header = table.lines().next().unwrap();
    assert!(
        header.contains("ORDER") && header.contains("AMOUNT"),
        "{table}"
    );
    let row = table
        .lines()
        .find(|l| l.starts_with("shopify:nz-shopify:t-1"))
        .expect("a row for the Shopify order");
    assert!(
        row.contains("#1001") && row.contains("28.75 NZD"),
        "{table}"
    );
    assert!(
        table.contains(&format!("    error: {long_error}\n")),
        "the error in full, on its own line:\n{table}"
    );
    assert!(
        table.contains("    error: first line\n           second line\n"),
        "{table}"
    );
    let woo_row = table
        .lines()
        .find(|l| l.starts_with("woocommerce:nz-woo:t-2"))
        .unwrap();
    assert!(
        woo_row.contains("1077") && woo_row.contains("40.00 NZD"),
        "{table}"
    );
    // A payload that is not JSON shows dashes, not a guess.
    let thin_row = table
        .lines()
        .find(|l| l.starts_with("shopify:nz-shopify:t-3"))
        .unwrap();
    let cells: Vec<&str> = thin_row.split_whitespace().collect();
    assert_eq!(cells[cells.len() - 2..], ["-", "-"], "{table}");
    let json = serde_json::to_value(&listing.letters).unwrap();
    assert_eq!(json[0]["order"], "#1001");
    assert_eq!(json[0]["amount"], "28.75 NZD");
    assert_eq!(json[0]["last_error"], long_error);

    // Replay says how many, in text as in JSON.
    let options = ReplayOptions {
        dry_run: true,
        ..ReplayOptions::default()
    };
    let report = dead::replay(
        &connection,
        &Filter {
            shop: Some(SHOP.into()),
            ..Filter::default()
        },
        &options,
    )
    .await
    .unwrap();
    let text = dead::replay_text(&report, true);
    assert!(text.contains("\nwould replay 2 events; "), "{text}");
    let report = dead::replay(
        &connection,
        &Filter {
            event_id: Some("shopify:nz-shopify:t-1".into()),
            ..Filter::default()
        },
        &ReplayOptions::default(),
    )
    .await
    .unwrap();
    let text = dead::replay_text(&report, false);
    assert!(text.contains("#1001"), "{text}");
    assert!(
        text.contains("\nreplayed 1 event; 0 duplicate copies removed; 2 left in the dead queue\n"),
        "{text}"
    );
    let _ = connection.close(200, "done".into()).await;
}
