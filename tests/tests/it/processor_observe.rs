//! The processor's `/healthz`, `/readyz` and `/metrics` (issue 15) against the real RabbitMQ and
//! PostgreSQL and the Xero simulator; and what its log looks like to a log shipper.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::{TestBroker, amqp_addr};
use xcs_tests::eventually;
use xcs_tests::fixtures;
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::{SHOP, TestProcessor, publish, test_config, wait_handled};
use xcs_tests::proxy::Proxy;
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, SimConfig, XeroSim};

const SETTLE: Duration = Duration::from_secs(20);

/// Waits until `/readyz` answers `status`, and returns its body.
async fn readyz_becomes(processor: &TestProcessor, status: u16) -> serde_json::Value {
    eventually(SETTLE, &format!("/readyz to answer {status}"), || async {
        let (got, body) = processor.get("/readyz").await;
        (got == status).then(|| serde_json::from_str(&body).expect("/readyz answers JSON"))
    })
    .await
}

/// The value of the metric line starting with `series` (name and labels, exactly).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(series)?.strip_prefix(' ')?;
        value.parse().ok()
    })
}

#[tokio::test]
async fn a_booked_order_shows_in_the_metrics_by_shop_kind_and_outcome() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor = TestProcessor::start(&test_config(&broker, &schema, &sim, "")).await;

    let (status, body) = processor.get("/healthz").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let ready = readyz_becomes(&processor, 200).await;
    assert_eq!(ready["consuming"], true, "{ready}");
    assert_eq!(ready["postgres_connected"], true, "{ready}");

    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        "shopify:nz-shopify:m-1",
        &fixtures::shopify_nz_order(5101, 1101, true),
    )
    .await;
    let (outcome, _) = wait_handled(&schema, "shopify:nz-shopify:m-1", SETTLE).await;
    assert_eq!(outcome, "booked");

    // The ledger is written before the ack, the counter after it: give it a moment.
    let metrics = eventually(SETTLE, "the booked event in /metrics", || async {
        let (status, metrics) = processor.get("/metrics").await;
        assert_eq!(status, 200);
        sample(
            &metrics,
            r#"xcs_processor_events_total{shop="nz-shopify",kind="order",outcome="booked"}"#,
        )
        .is_some_and(|n| n == 1.0)
        .then_some(metrics)
    })
    .await;
    let tenant = DEMO_NZ_TENANT_ID;
    for (series, at_least) in [
        (
            r#"xcs_processor_webhook_to_xero_seconds_count{shop="nz-shopify"}"#.to_owned(),
            1.0,
        ),
        (
            format!(r#"xcs_processor_xero_calls_total{{tenant="{tenant}",result="success"}}"#),
            1.0,
        ),
        (
            format!(r#"xcs_processor_batch_size_count{{tenant="{tenant}"}}"#),
            1.0,
        ),
        (
            format!(r#"xcs_processor_xero_minute_remaining{{tenant="{tenant}"}}"#),
            1.0,
        ),
        (
            format!(r#"xcs_processor_xero_day_remaining{{tenant="{tenant}"}}"#),
            1.0,
        ),
        ("xcs_processor_shards_held".to_owned(), 8.0),
    ] {
        let value = sample(&metrics, &series).unwrap_or_else(|| panic!("{series} in {metrics}"));
        assert!(value >= at_least, "{series} = {value}, want ≥ {at_least}");
    }
    assert!(
        !metrics.contains(r#"outcome="dead""#),
        "nothing dead-lettered: {metrics}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn readyz_is_not_ready_without_rabbitmq_or_postgresql_and_ready_with_them() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let amqp = Proxy::start(amqp_addr()).await;
    let postgres_addr = postgres_url()
        .rsplit_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(addr, _)| addr.to_owned())
        .expect("the test PostgreSQL URL names host:port");
    let postgres = Proxy::start(postgres_addr.clone()).await;
    amqp.cut().await;
    let config = test_config(&broker, &schema, &sim, "")
        .replace(
            &broker.amqp_uri(),
            &format!(
                "amqp://guest:guest@127.0.0.1:{}/{}",
                amqp.port, broker.vhost
            ),
        )
        .replace(
            &format!("@{postgres_addr}/"),
            &format!("@127.0.0.1:{}/", postgres.port),
        );
    let processor = TestProcessor::start(&config).await;

    // Up, but RabbitMQ unreachable: alive, not ready.
    let (status, _) = processor.get("/healthz").await;
    assert_eq!(status, 200);
    let not_ready = readyz_becomes(&processor, 503).await;
    assert_eq!(not_ready["consuming"], false, "{not_ready}");
    assert_eq!(not_ready["postgres_connected"], true, "{not_ready}");

    amqp.restore();
    let ready = readyz_becomes(&processor, 200).await;
    assert_eq!(ready["consuming"], true, "{ready}");

    // PostgreSQL gone: the ledger cannot answer, and the shard claims' session is lost.
    postgres.cut().await;
    let not_ready = readyz_becomes(&processor, 503).await;
    assert_eq!(not_ready["postgres_connected"], false, "{not_ready}");
    postgres.restore();
    let ready = readyz_becomes(&processor, 200).await;
    assert_eq!(ready["postgres_connected"], true, "{ready}");
    processor.stop().await;
}

/// A restart on a migrated schema, as every start after the first is: its output through a
/// pipe has no `NOTICE … already exists` from the migrations and no colour codes.
#[tokio::test]
async fn a_restart_logs_no_migration_notices_and_no_colour_codes_to_a_pipe() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let config = test_config(&broker, &schema, &sim, "");
    let parsed = xcs_processor::config::Config::from_toml(&config, |_| None).unwrap();
    drop(
        xcs_processor::ledger::Ledger::connect(&parsed.postgres)
            .await
            .expect("the first start migrates"),
    );
    let dir = std::env::temp_dir().join(format!("xcs-observe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("processor.toml");
    std::fs::write(&path, &config).unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_run-processor"))
        .arg(&path)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the processor process starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut seen = Vec::new();
    // Migrations run before the consumer connects; the first shard claimed is well after.
    tokio::time::timeout(SETTLE, async {
        while let Some(line) = lines.next_line().await.expect("readable output") {
            let done = line.contains("consuming a shard");
            seen.push(line);
            if done {
                return;
            }
        }
        panic!("the processor exited: {seen:#?}");
    })
    .await
    .unwrap_or_else(|_| panic!("no shard consumed within {SETTLE:?}"));
    child.kill().await.expect("SIGKILL");
    let _ = std::fs::remove_dir_all(&dir);

    let output = seen.join("\n");
    assert!(!output.contains("already exists"), "{output}");
    assert!(!output.contains("NOTICE"), "{output}");
    assert!(
        !output.contains('\u{1b}'),
        "colour codes in a pipe: {output:?}"
    );
}
