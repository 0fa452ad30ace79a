//! The ledger's dead-letter index (`xcs_dead_letters`), kept in step with the dead queue: the
//! processor records what it dead-letters, `dead replay` and `dead purge` mark what they did,
//! `dead reindex` rebuilds it; and the console's pages, newest first by keyset on indexes.
//! Against the real PostgreSQL and RabbitMQ, each test in a schema and vhost of its own.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use time::OffsetDateTime;
use time::macros::datetime;
use xcs_processor::config::PostgresConfig;
use xcs_processor::ledger::{
    Cursor, DeadCount, DeadFilter, DeadLetterRow, DeadState, Ledger, MAX_PAGE,
};
use xcs_processor::operate::ProgressBar;
use xcs_processor::operate::cli::{self, DeadCommand};
use xcs_processor::operate::dead::{self, Filter, PurgeOptions, ReplayOptions};
use xcs_shared::{EventKind, Platform, topology};
use xcs_tests::broker::TestBroker;
use xcs_tests::dead_letters::{DeadSpec, publish_dead};
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::{Rig, TestProcessor, WOO_SHOP};

const HANDLED: Duration = Duration::from_secs(60);

async fn ledger(schema: &TestSchema) -> Ledger {
    Ledger::connect(&PostgresConfig {
        url: SecretString::from(postgres_url()),
        schema: schema.name.clone(),
        pool_size: 4,
        token_key: None,
    })
    .await
    .expect("the ledger opens")
}

/// What the queue says of each dead letter, as index rows, by event id.
async fn queue_rows(broker: &TestBroker) -> Vec<DeadLetterRow> {
    let connection = broker.connect().await;
    let listing = dead::list(&connection, &Filter::default(), &ProgressBar::hidden())
        .await
        .unwrap();
    let _ = connection.close(200, "done".into()).await;
    let mut rows: Vec<DeadLetterRow> = listing.letters.iter().map(|l| l.index_row()).collect();
    rows.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    rows
}

/// The fields a row shares with the queue message (not its state's).
fn content(row: &DeadLetterRow) -> DeadLetterRow {
    DeadLetterRow {
        state: DeadState::Dead,
        state_at: None,
        state_by: None,
        ..row.clone()
    }
}

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
            "2026-11-22T10:00:00.123456Z",
            br#"{"id": 3}"#.to_vec(),
        ),
    ]
}

async fn indexed(ledger: &Ledger, event_id: &str) -> DeadLetterRow {
    ledger
        .dead_letter(event_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{event_id} is not in the index"))
}

#[tokio::test]
async fn an_event_the_processor_dead_letters_is_indexed_replay_marks_it_and_dying_again_revives_it()
{
    let rig = Rig::new().await;
    let event_id = "shopify:nz-shopify:not-json";
    let processor = TestProcessor::start(&rig.config("")).await;
    rig.publish(EventKind::Order, "orders/paid", event_id, b"not json")
        .await;
    let ledger = ledger(&rig.schema).await;
    let first = xcs_tests::eventually(HANDLED, "the dead letter in the index", || async {
        ledger.dead_letter(event_id).await.ok().flatten()
    })
    .await;
    processor.stop().await;

    // The row says what the queue message says, field for field.
    let in_queue = queue_rows(&rig.broker).await;
    assert_eq!(in_queue.len(), 1, "{in_queue:#?}");
    assert_eq!(content(&first), in_queue[0]);
    assert_eq!(first.reason, "unparseable_payload");
    assert_eq!(first.state, DeadState::Dead);
    assert_eq!(first.shop.as_deref(), Some("nz-shopify"));
    assert_eq!(first.kind.as_deref(), Some("order"));
    assert_eq!(first.attempts, Some(1));
    assert!(first.last_error.is_some());
    let page = ledger
        .dead_letter_page(&DeadFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(page.rows, std::slice::from_ref(&first));
    assert_eq!(
        ledger.dead_letter_counts(None).await.unwrap(),
        [DeadCount {
            shop: "nz-shopify".into(),
            platform: "shopify".into(),
            reason: "unparseable_payload".into(),
            count: 1,
        }]
    );

    // A replay by a named operator marks it replayed, and it leaves the pages.
    let connection = rig.broker.connect().await;
    let report = dead::replay(
        &connection,
        &Filter::default(),
        &ReplayOptions {
            ledger: Some(ledger.clone()),
            operator: Some("alice".into()),
            ..ReplayOptions::default()
        },
    )
    .await
    .unwrap();
    let _ = connection.close(200, "done".into()).await;
    assert_eq!(report.replayed.len(), 1);
    assert!(report.index_warning.is_none(), "{:?}", report.index_warning);
    let replayed = indexed(&ledger, event_id).await;
    assert_eq!(replayed.state, DeadState::Replayed);
    assert_eq!(replayed.state_by.as_deref(), Some("alice"));
    assert!(replayed.state_at.is_some());
    let page = ledger
        .dead_letter_page(&DeadFilter::default(), None, 50)
        .await
        .unwrap();
    assert!(page.rows.is_empty(), "{page:#?}");

    // It fails again: dead again, with its new time.
    let processor = TestProcessor::start(&rig.config("")).await;
    let again = xcs_tests::eventually(HANDLED, "the event dead again in the index", || async {
        ledger
            .dead_letter(event_id)
            .await
            .ok()
            .flatten()
            .filter(|row| row.state == DeadState::Dead)
    })
    .await;
    processor.stop().await;
    assert!(again.dead_at > first.dead_at, "{again:#?} {first:#?}");
    assert_eq!(again.state_by, None);
    assert_eq!(content(&again), queue_rows(&rig.broker).await[0]);
}

#[tokio::test]
async fn purge_marks_purged_and_a_ledger_out_of_reach_does_not_stop_a_replay() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let ledger = ledger(&schema).await;
    publish_dead(&broker, &three()).await;
    let connection = broker.connect().await;
    let report = dead::reindex(&connection, &ledger).await.unwrap();
    assert_eq!((report.indexed, report.gone), (3, 0));

    let report = dead::purge(
        &connection,
        &Filter {
            reason: Some("xero_validation".into()),
            ..Filter::default()
        },
        &PurgeOptions {
            ledger: Some(ledger.clone()),
            ..PurgeOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.purged.len(), 1);
    let purged = indexed(&ledger, "woocommerce:nz-woo:b").await;
    assert_eq!(purged.state, DeadState::Purged);
    assert_eq!(purged.state_by.as_deref(), Some("cli"));
    assert_eq!(
        indexed(&ledger, "shopify:nz-shopify:a").await.state,
        DeadState::Dead
    );

    // A ledger that cannot be reached: the replay happens, with a warning.
    let unreachable = Ledger::lazy(&PostgresConfig {
        url: SecretString::from("postgres://postgres@127.0.0.1:1/postgres".to_owned()),
        schema: schema.name.clone(),
        pool_size: 1,
        token_key: None,
    })
    .unwrap();
    let report = dead::replay(
        &connection,
        &Filter {
            event_id: Some("shopify:nz-shopify:a".into()),
            ..Filter::default()
        },
        &ReplayOptions {
            ledger: Some(unreachable),
            ..ReplayOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(report.replayed.len(), 1);
    let warning = report.index_warning.expect("a warning");
    assert!(warning.contains("dead reindex"), "{warning}");
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 1);
    // The index still says dead; a reindex sees it is not in the queue.
    assert_eq!(
        indexed(&ledger, "shopify:nz-shopify:a").await.state,
        DeadState::Dead
    );
    let report = dead::reindex(&connection, &ledger).await.unwrap();
    assert_eq!((report.indexed, report.gone), (1, 1));
    assert_eq!(
        indexed(&ledger, "shopify:nz-shopify:a").await.state,
        DeadState::Gone
    );
    let _ = connection.close(200, "done".into()).await;
}

#[tokio::test]
async fn reindex_rebuilds_a_deleted_index_and_marks_gone_what_the_queue_no_longer_holds() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let ledger = ledger(&schema).await;
    let mut letters = three();
    // Two copies of one event, as at-least-once dead-lettering can leave: one row.
    letters.push(letters[0].clone());
    publish_dead(&broker, &letters).await;
    // In the index, dead, but in no queue.
    let mut lost = queue_rows(&broker).await[0].clone();
    lost.event_id = "shopify:nz-shopify:lost".into();
    ledger.record_dead_letter(&lost).await.unwrap();

    let connection = broker.connect().await;
    let report = dead::reindex(&connection, &ledger).await.unwrap();
    assert_eq!((report.indexed, report.gone, report.more), (4, 1, false));
    assert_eq!(
        indexed(&ledger, "shopify:nz-shopify:lost").await.state,
        DeadState::Gone
    );
    let expected = queue_rows(&broker).await;
    let mut expected_ids: Vec<&str> = expected.iter().map(|r| r.event_id.as_str()).collect();
    expected_ids.dedup();
    assert_eq!(expected_ids.len(), 3);
    let page = |filter: DeadFilter| {
        let ledger = &ledger;
        async move { ledger.dead_letter_page(&filter, None, 50).await.unwrap() }
    };
    let rows = page(DeadFilter::default()).await.rows;
    assert_eq!(
        rows.iter().map(|r| r.event_id.as_str()).collect::<Vec<_>>(),
        [
            "shopify:nz-shopify:c",
            "woocommerce:nz-woo:b",
            "shopify:nz-shopify:a"
        ]
    );
    for row in &rows {
        let queued = expected
            .iter()
            .find(|e| e.event_id == row.event_id)
            .unwrap();
        assert_eq!(&content(row), queued);
    }
    // The microseconds survive, so the row and the queue message agree on the time.
    assert_eq!(rows[0].dead_at, datetime!(2026-11-22 10:00:00.123456 UTC));

    // The index lost: a reindex rebuilds it as it was. Running it twice changes nothing.
    let client = schema.client().await;
    client
        .execute("DELETE FROM xcs_dead_letters", &[])
        .await
        .unwrap();
    for _ in 0..2 {
        let report = dead::reindex(&connection, &ledger).await.unwrap();
        assert_eq!((report.indexed, report.gone), (4, 0));
        let rebuilt = page(DeadFilter::default()).await.rows;
        assert_eq!(
            rebuilt.iter().map(content).collect::<Vec<_>>(),
            rows.iter().map(content).collect::<Vec<_>>()
        );
    }
    assert_eq!(broker.depth(topology::DEAD_QUEUE).await, 4);

    // The queue emptied by other means: every row is gone.
    broker.take_all(topology::DEAD_QUEUE).await;
    let report = dead::reindex(&connection, &ledger).await.unwrap();
    assert_eq!((report.indexed, report.gone), (0, 3));
    assert!(page(DeadFilter::default()).await.rows.is_empty());
    let _ = connection.close(200, "done".into()).await;
}

/// `count` rows: shops `shop-0..5`, reasons of three kinds, platforms and kinds alternating,
/// and several rows to each time (the event id breaks the tie).
fn generated(count: usize) -> Vec<DeadLetterRow> {
    let start = datetime!(2026-11-01 00:00 UTC);
    (0..count)
        .map(|i| {
            let platform = if i % 2 == 0 { "shopify" } else { "woocommerce" };
            DeadLetterRow {
                event_id: format!("{platform}:shop-{}:{i:04}", i % 5),
                platform: Some(platform.into()),
                shop: Some(format!("shop-{}", i % 5)),
                tenant: Some(format!("tenant-{}", i % 2)),
                kind: Some(if i % 3 == 0 { "refund" } else { "order" }.into()),
                topic: Some("orders/paid".into()),
                reason: ["unmapped_tax", "xero_validation", "delivery_limit"][i % 3].into(),
                by_broker: i % 3 == 2,
                attempts: Some(u32::try_from(i % 4).unwrap() + 1),
                last_error: Some(format!("error {i}")),
                dead_at: start + time::Duration::minutes(i64::try_from(i / 3).unwrap()),
                state: DeadState::Dead,
                state_at: None,
                state_by: None,
            }
        })
        .collect()
}

fn selects(filter: &DeadFilter, row: &DeadLetterRow) -> bool {
    let same =
        |wanted: Option<&str>, actual: Option<&str>| wanted.is_none_or(|w| Some(w) == actual);
    same(
        filter.platform.map(Platform::as_str),
        row.platform.as_deref(),
    ) && same(filter.shop.as_deref(), row.shop.as_deref())
        && same(filter.tenant.as_deref(), row.tenant.as_deref())
        && same(filter.kind.map(EventKind::as_str), row.kind.as_deref())
        && same(filter.reason.as_deref(), Some(&row.reason))
        && same(filter.event_id.as_deref(), Some(&row.event_id))
        && filter.since.is_none_or(|since| row.dead_at >= since)
        && filter.until.is_none_or(|until| row.dead_at < until)
}

/// Every page of `filter`, `limit` at a time, through the text of each next cursor.
async fn all_pages(ledger: &Ledger, filter: &DeadFilter, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<Cursor> = None;
    loop {
        let page = ledger
            .dead_letter_page(filter, after.as_ref(), limit)
            .await
            .unwrap();
        assert!(page.rows.len() <= limit);
        ids.extend(page.rows.iter().map(|r| r.event_id.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(page.rows.len(), limit, "a full page before a next one");
                let last = page.rows.last().unwrap();
                assert_eq!(
                    (&next.dead_at, &next.event_id),
                    (&last.dead_at, &last.event_id)
                );
                after = Some(next.to_string().parse().expect("the cursor parses back"));
            }
            None => return ids,
        }
    }
}

#[tokio::test]
async fn pages_give_each_row_once_newest_first_by_every_filter_and_refuse_a_garbage_cursor() {
    let schema = TestSchema::new();
    let ledger = ledger(&schema).await;
    let mut rows = generated(250);
    ledger.record_dead_letters(&rows).await.unwrap();
    // Some replayed and purged: out of the pages.
    let replayed: Vec<(String, Option<OffsetDateTime>)> = rows
        .iter()
        .step_by(25)
        .map(|r| (r.event_id.clone(), Some(r.dead_at)))
        .collect();
    assert_eq!(
        ledger
            .mark_dead_letters(&replayed, DeadState::Replayed, "cli")
            .await
            .unwrap(),
        10
    );
    let gone: HashSet<&String> = replayed.iter().map(|(id, _)| id).collect();
    rows.retain(|r| !gone.contains(&r.event_id));
    rows.sort_by(|a, b| (b.dead_at, &b.event_id).cmp(&(a.dead_at, &a.event_id)));

    let at =
        |minutes: i64| Some(datetime!(2026-11-01 00:00 UTC) + time::Duration::minutes(minutes));
    let filters = [
        DeadFilter::default(),
        DeadFilter {
            shop: Some("shop-3".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            reason: Some("unmapped_tax".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            shop: Some("shop-1".into()),
            reason: Some("xero_validation".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            platform: Some(Platform::WooCommerce),
            kind: Some(EventKind::Order),
            tenant: Some("tenant-1".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            since: at(10),
            until: at(50),
            reason: Some("delivery_limit".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            event_id: Some(rows[7].event_id.clone()),
            ..DeadFilter::default()
        },
        DeadFilter {
            shop: Some("nobody".into()),
            ..DeadFilter::default()
        },
    ];
    for filter in &filters {
        let expected: Vec<String> = rows
            .iter()
            .filter(|r| selects(filter, r))
            .map(|r| r.event_id.clone())
            .collect();
        for limit in [1, 7, 20, 500] {
            let got = all_pages(&ledger, filter, limit).await;
            assert_eq!(got, expected, "{filter:?}, {limit} a page");
        }
    }
    assert_eq!(
        all_pages(&ledger, &DeadFilter::default(), 20).await.len(),
        240
    );

    // The replayed ones, by state.
    let replayed_page = ledger
        .dead_letter_page(
            &DeadFilter {
                state: Some(DeadState::Replayed),
                ..DeadFilter::default()
            },
            None,
            MAX_PAGE,
        )
        .await
        .unwrap();
    assert_eq!(replayed_page.rows.len(), 10);
    assert!(replayed_page.next.is_none());

    // The overview, in one query.
    let counts = ledger.dead_letter_counts(None).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<i64>(), 240);
    for count in &counts {
        let expected = rows
            .iter()
            .filter(|r| {
                r.shop.as_deref() == Some(&count.shop)
                    && r.platform.as_deref() == Some(&count.platform)
                    && r.reason == count.reason
            })
            .count();
        assert_eq!(count.count, i64::try_from(expected).unwrap(), "{count:?}");
    }

    // A cursor not given out is refused, not taken for the start.
    for garbage in ["", "garbage", "1_", "x_YQ", "123_%%", "1764000000000000"] {
        assert!(garbage.parse::<Cursor>().is_err(), "{garbage:?}");
    }
}

/// Fills the index with `count` rows in one statement: 500 shops, four reasons, one in ten
/// replayed.
async fn fill(schema: &TestSchema, count: i32) {
    let client = schema.client().await;
    client
        .execute(
            "INSERT INTO xcs_dead_letters (event_id, platform, shop, tenant, kind, topic, reason,
                 attempts, last_error, dead_at, state, state_at)
             SELECT 'shopify:shop-' || (i % 500) || ':' || i, 'shopify', 'shop-' || (i % 500),
                 'tenant-' || (i % 50), CASE WHEN i % 3 = 0 THEN 'refund' ELSE 'order' END,
                 'orders/paid',
                 (ARRAY['unmapped_tax', 'xero_validation', 'unparseable_payload',
                        'delivery_limit'])[1 + i % 4],
                 1 + i % 5, 'error ' || i, timestamptz '2026-01-01' + i * interval '1 minute',
                 CASE WHEN i % 10 = 0 THEN 'replayed' ELSE 'dead' END, now()
               FROM generate_series(1, $1) AS i",
            &[&count],
        )
        .await
        .unwrap();
    client
        .batch_execute("ANALYZE xcs_dead_letters")
        .await
        .unwrap();
}

#[tokio::test]
async fn the_page_query_uses_an_index_whatever_the_filter() {
    let schema = TestSchema::new();
    let ledger = ledger(&schema).await;
    fill(&schema, 5000).await;
    let cursor = Cursor {
        dead_at: datetime!(2026-01-02 00:00 UTC),
        event_id: "shopify:shop-1:1".into(),
    };
    let filters = [
        DeadFilter::default(),
        DeadFilter {
            shop: Some("shop-7".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            reason: Some("xero_validation".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            shop: Some("shop-7".into()),
            reason: Some("xero_validation".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            platform: Some(Platform::Shopify),
            kind: Some(EventKind::Refund),
            tenant: Some("tenant-3".into()),
            ..DeadFilter::default()
        },
        DeadFilter {
            platform: Some(Platform::Shopify),
            kind: Some(EventKind::Order),
            ..DeadFilter::default()
        },
        DeadFilter {
            since: Some(datetime!(2026-01-02 00:00 UTC)),
            until: Some(datetime!(2026-01-03 00:00 UTC)),
            ..DeadFilter::default()
        },
        DeadFilter {
            event_id: Some("shopify:shop-7:7".into()),
            ..DeadFilter::default()
        },
    ];
    for filter in &filters {
        for after in [None, Some(&cursor)] {
            let plan = ledger
                .explain_dead_letter_page(filter, after, 50)
                .await
                .unwrap();
            assert!(
                plan.contains("Index Scan") && !plan.contains("Seq Scan"),
                "{filter:?} after {after:?}:\n{plan}"
            );
        }
    }
}

/// The figure for 100,000 dead letters (run with `--run-ignored all`; prints, asserts no time).
#[tokio::test]
#[ignore = "a measurement: 100,000 rows"]
async fn a_page_of_a_hundred_thousand_dead_letters_measured() {
    let schema = TestSchema::new();
    let ledger = ledger(&schema).await;
    let started = Instant::now();
    fill(&schema, 100_000).await;
    println!("insert 100000 rows + ANALYZE: {:?}", started.elapsed());
    let filter = DeadFilter {
        shop: Some("shop-42".into()),
        reason: Some("unparseable_payload".into()),
        ..DeadFilter::default()
    };
    let first = ledger.dead_letter_page(&filter, None, 50).await.unwrap();
    let cursor = first.next.clone();
    for (name, filter, after) in [
        ("newest 50, no filter", DeadFilter::default(), None),
        ("newest 50, shop + reason", filter.clone(), None),
        ("next 50, shop + reason", filter.clone(), cursor.as_ref()),
        (
            "newest 50, reason",
            DeadFilter {
                reason: Some("xero_validation".into()),
                ..DeadFilter::default()
            },
            None,
        ),
    ] {
        let mut times = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let page = ledger.dead_letter_page(&filter, after, 50).await.unwrap();
            times.push(started.elapsed());
            assert!(!page.rows.is_empty());
        }
        times.sort();
        println!(
            "{name}: median {:?}, max {:?} (20 runs)",
            times[times.len() / 2],
            times[times.len() - 1]
        );
    }
    let started = Instant::now();
    let counts = ledger.dead_letter_counts(None).await.unwrap();
    println!(
        "counts ({} shop/platform/reason groups): {:?}",
        counts.len(),
        started.elapsed()
    );
    println!(
        "plan:\n{}",
        ledger
            .explain_dead_letter_page(&filter, cursor.as_ref(), 50)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn the_reindex_and_purge_commands_keep_the_index_in_step() {
    let rig = Rig::new().await;
    publish_dead(&rig.broker, &three()).await;
    let config = xcs_processor::config::Config::from_toml(&rig.config(""), |_| None).unwrap();
    cli::dead(&config, DeadCommand::Reindex).await.unwrap();
    let ledger = ledger(&rig.schema).await;
    let page = ledger
        .dead_letter_page(&DeadFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 3);
    assert!(page.next.is_none());

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
    let purged = indexed(&ledger, "woocommerce:nz-woo:b").await;
    assert_eq!(
        (purged.state, purged.state_by.as_deref()),
        (DeadState::Purged, Some("cli"))
    );
    let page = ledger
        .dead_letter_page(&DeadFilter::default(), None, 50)
        .await
        .unwrap();
    assert_eq!(page.rows.len(), 2);
}
