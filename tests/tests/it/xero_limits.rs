//! Xero's limits that are not the minute's (issue 17, README "Xero limits"), with the real
//! RabbitMQ and PostgreSQL and the simulator's organisation plans: a tenant at its day limit
//! pauses alone and resumes after `Retry-After`, nothing dead-lettered and no retry used up; a
//! plan that approves no more invoices parks the events with a reason an operator can act on,
//! and they book once the plan changes; a tenant short of its day's calls batches more.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;
use xcs_processor::operate::ProgressBar;
use xcs_processor::operate::cli::{self, DeadCommand};
use xcs_processor::operate::dead::{self, Filter, ReplayOptions};
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_tests::broker::management_url;
use xcs_tests::fixtures;
use xcs_tests::processor::{
    Rig, ShopToml, TestProcessor, XeroAuth, connect_demo_app, envelope, processor_toml,
    publish_envelope, shop_toml, wait_handled,
};
use xcs_xero_sim::{DEMO_APP_CLIENT_ID, Plan, SimConfig};

const HANDLED: Duration = Duration::from_secs(60);

/// Two shops, each on a simulator organisation of its own.
const SHOPS: [(&str, &str); 2] = [("limit-a", "LA-"), ("limit-b", "LB-")];

fn tenant(i: usize) -> Uuid {
    xcs_xero_sim::seed::extra_tenant_id(i + 1)
}

/// The rig on the simulator (Xero's own limits) with two more organisations, and the demo
/// OAuth app connected to both.
async fn rig() -> Rig {
    let rig = Rig::on(SimConfig::demo().with_extra_tenants(2)).await;
    connect_demo_app(
        &rig.schema,
        &rig.sim,
        &config(&rig, ""),
        &[tenant(0), tenant(1)],
    )
    .await;
    rig
}

/// The processor config for [`SHOPS`] through the demo OAuth app, `extra` appended.
fn config(rig: &Rig, extra: &str) -> String {
    let mut config = processor_toml(&rig.broker, &rig.schema, &rig.sim, XeroAuth::DemoApp, extra);
    for (i, (name, prefix)) in SHOPS.iter().enumerate() {
        config.push_str(&shop_toml(&ShopToml {
            name,
            platform: Platform::Shopify,
            tenant: &tenant(i).to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix,
            clearing: "615",
            api: None,
        }));
    }
    config
}

/// Publishes paid order `number` of shop `i`; returns its event id.
async fn order(rig: &Rig, i: usize, number: u64) -> String {
    let (shop, _) = SHOPS[i];
    let event_id = format!("shopify:{shop}:o-{number}");
    let envelope = Envelope {
        tenant: tenant(i).to_string(),
        ..envelope(
            Platform::Shopify,
            shop,
            EventKind::Order,
            "orders/paid",
            &event_id,
        )
    };
    let body = fixtures::shopify_nz_order(900_000 + number, number, true);
    publish_envelope(&rig.broker, &envelope, &body).await;
    event_id
}

async fn outcome(rig: &Rig, event_id: &str) -> Option<String> {
    rig.schema
        .client()
        .await
        .query_opt(
            "SELECT outcome FROM xcs_events WHERE event_id = $1",
            &[&event_id],
        )
        .await
        .expect("the ledger answers")
        .map(|row| row.get(0))
}

/// The `PUT /Invoices` calls Xero answered for tenant `i`, with the invoices in each.
fn invoice_calls(rig: &Rig, i: usize) -> Vec<usize> {
    let tenant = tenant(i).to_string();
    rig.sim
        .journal()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/Invoices"))
        .filter(|e| e.tenant.as_deref() == Some(tenant.as_str()) && e.status == Some(200))
        .map(|e| e.body["Invoices"].as_array().map_or(0, Vec::len))
        .collect()
}

/// The messages in `queue`, peeked through the management API (they stay).
async fn peek(rig: &Rig, queue: &str) -> Vec<Value> {
    let url = format!(
        "{}/api/queues/{}/{queue}/get",
        management_url(),
        urlencoding(&rig.broker.vhost)
    );
    reqwest::Client::new()
        .post(url)
        .basic_auth("guest", Some("guest"))
        .json(&json!({"count": 100, "ackmode": "ack_requeue_true", "encoding": "auto"}))
        .send()
        .await
        .expect("the management API answers")
        .json()
        .await
        .expect("JSON")
}

/// Publishes a refund of tenant A's order 1; its event id.
async fn refund_of_order_1(rig: &Rig) -> String {
    let (shop, _) = SHOPS[0];
    let refund_event = format!("shopify:{shop}:r-1");
    let envelope = Envelope {
        tenant: tenant(0).to_string(),
        ..envelope(
            Platform::Shopify,
            shop,
            EventKind::Refund,
            "refunds/create",
            &refund_event,
        )
    };
    publish_envelope(
        &rig.broker,
        &envelope,
        &fixtures::shopify_nz_refund(7001, 900_001),
    )
    .await;
    refund_event
}

/// Tenant A's organisation approves `invoices` sales invoices a month.
fn approves_a_month(rig: &Rig, invoices: u32) {
    rig.sim.set_plan(
        tenant(0),
        Plan {
            day_limit: None,
            approved_invoices_per_month: Some(invoices),
        },
    );
}

/// Waits until the first retry tier holds something; what it holds, peeked.
async fn held_in_the_first_tier(rig: &Rig, what: &str) -> Vec<Value> {
    xcs_tests::eventually(
        HANDLED,
        &format!("{what} to wait in a retry tier"),
        || async {
            let held = peek(rig, "xcs.retry.10s").await;
            (!held.is_empty()).then_some(held)
        },
    )
    .await
}

/// The operator's way out: tenant A's plan upgraded, the parked events replayed by reason.
async fn upgrade_and_replay(rig: &Rig, connection: &lapin::Connection) -> dead::ReplayReport {
    rig.sim.set_plan(tenant(0), Plan::default());
    dead::replay(
        connection,
        &Filter {
            reason: Some("xero_plan_limit".into()),
            ..Filter::default()
        },
        &ReplayOptions::default(),
    )
    .await
    .expect("the replay runs")
}

fn urlencoding(vhost: &str) -> String {
    vhost.replace('/', "%2F")
}

#[tokio::test]
async fn a_tenant_at_its_day_limit_pauses_alone_and_resumes_after_retry_after_with_its_retries() {
    // Arrange: tenant A (1,000 calls a day) used its day in calls made a day less 8 s ago, so
    // Xero answers its next call 429 `day` with a Retry-After of about 8 s; tenant B has its
    // whole day.
    let rig = rig().await;
    rig.sim.set_plan(
        tenant(0),
        Plan {
            day_limit: Some(1_000),
            approved_invoices_per_month: None,
        },
    );
    let day = Duration::from_secs(24 * 3600);
    rig.sim.record_day_calls(
        DEMO_APP_CLIENT_ID,
        tenant(0),
        1_000,
        day - Duration::from_secs(8),
    );
    let extra = format!("[xero.tenants.\"{}\"]\nday_limit = 1000\n", tenant(0));
    let processor = TestProcessor::start(&config(&rig, &extra)).await;

    // Act
    let mut a = Vec::new();
    let mut b = Vec::new();
    for number in 1..=3 {
        a.push(order(&rig, 0, number).await);
        b.push(order(&rig, 1, number).await);
    }

    // Assert: B books while A's refused batch waits in a retry tier, its attempts untouched
    // (A's later events wait out the few seconds in place).
    for event in &b {
        assert_eq!(wait_handled(&rig.schema, event, HANDLED).await.0, "booked");
    }
    let paused = held_in_the_first_tier(&rig, "A's events").await;
    for message in &paused {
        let headers = &message["properties"]["headers"];
        assert_eq!(headers["xcs-reason"], "xero_day_limit", "{headers}");
        assert!(
            headers.get("xcs-attempts").is_none(),
            "no retry used: {headers}"
        );
        assert_eq!(headers["xcs-tenant"], tenant(0).to_string());
    }
    let waiting = &paused[0]["properties"]["headers"]["xcs-event-id"];
    assert_eq!(
        outcome(&rig, waiting.as_str().unwrap_or_default()).await,
        None,
        "{waiting} waits"
    );
    // Xero's day came back: A books, and nothing was dead-lettered.
    for event in &a {
        assert_eq!(wait_handled(&rig.schema, event, HANDLED).await.0, "booked");
    }
    assert_eq!(rig.broker.depth(topology::DEAD_QUEUE).await, 0);
    let refusals: Vec<_> = rig
        .sim
        .journal()
        .into_iter()
        .filter(|e| e.status == Some(429))
        .collect();
    assert!(!refusals.is_empty(), "A met its day limit");
    assert!(
        refusals
            .iter()
            .all(|e| e.tenant.as_deref() == Some(tenant(0).to_string().as_str())),
        "only A was refused"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_plan_that_approves_no_more_invoices_parks_the_event_until_the_operator_replays_it() {
    // Arrange: A's organisation approves two invoices a month.
    let rig = rig().await;
    approves_a_month(&rig, 2);
    let config = config(&rig, "");
    let processor = TestProcessor::start(&config).await;

    // Act
    let mut events = Vec::new();
    for number in 1..=3 {
        events.push(order(&rig, 0, number).await);
    }

    // Assert: two booked, the third parked at once with what to do.
    let connection = rig.broker.connect().await;
    let parked = xcs_tests::eventually(HANDLED, "the third order to be parked", || {
        let connection = &connection;
        async move {
            let listing = dead::list(connection, &Filter::default(), &ProgressBar::hidden())
                .await
                .ok()?;
            (listing.letters.len() == 1).then(|| listing.letters[0].clone())
        }
    })
    .await;
    let booked = [
        outcome(&rig, &events[0]).await,
        outcome(&rig, &events[1]).await,
        outcome(&rig, &events[2]).await,
    ];
    assert_eq!(
        booked
            .iter()
            .filter(|o| o.as_deref() == Some("booked"))
            .count(),
        2,
        "{booked:?}"
    );
    assert_eq!(parked.reason, "xero_plan_limit");
    assert_eq!(parked.attempts, Some(1), "parked at once, no retries spent");
    let error = parked.last_error.clone().unwrap_or_default();
    assert!(error.contains("plan approves no more invoices"), "{error}");
    assert!(error.contains("summary_period = \"weekly\""), "{error}");
    assert!(
        error.contains("dead replay --reason xero_plan_limit"),
        "{error}"
    );

    let parsed = xcs_processor::config::Config::from_toml(&config, |_| None).unwrap();
    let status = xcs_processor::operate::status::status(&parsed, &connection, Some(SHOPS[0].0))
        .await
        .expect("the status reads");
    let attention: Vec<String> = status.shops[0]
        .needs_attention
        .iter()
        .map(|a| format!("{} → {}", a.what, a.next))
        .collect();
    assert!(
        attention
            .iter()
            .any(|a| a.contains("1 event parked") && a.contains("--reason xero_plan_limit")),
        "{attention:?}"
    );

    // The operator upgrades the plan and replays: the order books.
    let report = upgrade_and_replay(&rig, &connection).await;
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(
        wait_handled(&rig.schema, &parked.event_id, HANDLED).await.0,
        "booked"
    );
    let numbers: Vec<String> = rig
        .sim
        .invoices(tenant(0))
        .iter()
        .map(|i| i["InvoiceNumber"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(numbers.len(), 3, "{numbers:?}");
    assert_eq!(rig.broker.depth(topology::DEAD_QUEUE).await, 0);
    processor.stop().await;
}

#[tokio::test]
async fn a_tenant_short_of_its_days_calls_batches_more_and_never_runs_out() {
    // Arrange: both organisations have 1,000 calls a day (the 2026 Starter tier); A has spent
    // 60 of them, B none.
    let rig = rig().await;
    let thousand = Plan {
        day_limit: Some(1_000),
        approved_invoices_per_month: None,
    };
    let mut extra = String::new();
    for i in 0..2 {
        rig.sim.set_plan(tenant(i), thousand);
        extra.push_str(&format!(
            "[xero.tenants.\"{}\"]\nday_limit = 1000\n",
            tenant(i)
        ));
    }
    rig.sim
        .record_day_calls(DEMO_APP_CLIENT_ID, tenant(0), 60, Duration::from_secs(3600));
    let processor = TestProcessor::start(&config(&rig, &extra)).await;

    // Act: the same trickle of orders to both, one each every 250 ms.
    let mut events = Vec::new();
    for number in 1..=24 {
        events.push(order(&rig, 0, number).await);
        events.push(order(&rig, 1, number).await);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for event in &events {
        assert_eq!(wait_handled(&rig.schema, event, HANDLED).await.0, "booked");
    }

    // Assert (measured, not timed): A's invoices came in fewer, larger calls.
    let (a, b) = (invoice_calls(&rig, 0), invoice_calls(&rig, 1));
    eprintln!(
        "invoice calls per tenant (invoices in each): A (940 left) {a:?}, B (1000 left) {b:?}"
    );
    assert_eq!(a.iter().sum::<usize>(), 24);
    assert_eq!(b.iter().sum::<usize>(), 24);
    assert!(a.len() < b.len(), "A {a:?} batches more than B {b:?}");
    let calls = |i: usize| {
        let tenant = tenant(i).to_string();
        rig.sim
            .journal()
            .iter()
            .filter(|e| e.tenant.as_deref() == Some(tenant.as_str()))
            .count()
    };
    eprintln!("calls: A {}, B {}", calls(0), calls(1));
    assert!(calls(0) < calls(1), "A spent fewer calls");
    assert_eq!(rig.broker.depth(topology::DEAD_QUEUE).await, 0);
    processor.stop().await;
}

#[tokio::test]
async fn a_refund_of_an_order_parked_for_the_plan_limit_is_parked_with_it_and_replayed_after_it() {
    // Arrange: A's organisation approves no more invoices this month; its order 1 is parked.
    let rig = rig().await;
    approves_a_month(&rig, 0);
    let processor = TestProcessor::start(&config(&rig, "")).await;
    let order_event = order(&rig, 0, 1).await;
    let connection = rig.broker.connect().await;
    let dead_letters = |count: usize| {
        let connection = &connection;
        async move {
            let listing = dead::list(connection, &Filter::default(), &ProgressBar::hidden())
                .await
                .ok()?;
            (listing.letters.len() == count).then_some(listing.letters)
        }
    };
    xcs_tests::eventually(HANDLED, "the order to be parked", || dead_letters(1)).await;

    // Act: its refund arrives.
    let published = tokio::time::Instant::now();
    let refund_event = refund_of_order_1(&rig).await;

    // Assert: the refund is parked with its order at once, not after the retry tiers.
    let letters =
        xcs_tests::eventually(HANDLED, "the refund to be parked", || dead_letters(2)).await;
    let waited = published.elapsed();
    assert!(waited < Duration::from_secs(10), "parked in {waited:?}");
    let refund = letters
        .iter()
        .find(|l| l.event_id == refund_event)
        .expect("the refund is dead");
    assert_eq!(refund.reason, "xero_plan_limit");
    assert_eq!(refund.attempts, Some(1), "parked at once, no retries spent");
    let error = refund.last_error.clone().unwrap_or_default();
    assert!(error.contains("order 900001 is parked"), "{error}");
    assert!(
        error.contains(&order_event),
        "names the order's event: {error}"
    );
    assert!(
        error.contains("dead replay --reason xero_plan_limit"),
        "{error}"
    );
    assert!(letters.iter().all(|l| l.reason == "xero_plan_limit"));

    // The operator upgrades the plan and replays by reason: the order first, then its refund,
    // each booked once.
    let report = upgrade_and_replay(&rig, &connection).await;
    let replayed: Vec<&str> = report
        .replayed
        .iter()
        .map(|l| l.event_id.as_str())
        .collect();
    assert_eq!(replayed, [order_event.as_str(), refund_event.as_str()]);
    for event in [&order_event, &refund_event] {
        assert_eq!(wait_handled(&rig.schema, event, HANDLED).await.0, "booked");
    }
    let invoices: Vec<String> = rig
        .sim
        .invoices(tenant(0))
        .iter()
        .map(|i| i["InvoiceNumber"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(invoices, ["LA-1"]);
    let notes: Vec<String> = rig
        .sim
        .credit_notes(tenant(0))
        .iter()
        .map(|c| {
            c["CreditNoteNumber"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(notes, ["LA-1/R7001"]);
    assert_eq!(rig.broker.depth(topology::DEAD_QUEUE).await, 0);
    processor.stop().await;
}

#[tokio::test]
async fn a_purged_parked_order_is_forgotten_and_a_later_refund_of_it_waits_for_it() {
    // Arrange: A's order 1 is parked for the plan limit, and the operator purges it (booked
    // by hand in Xero, say).
    let rig = rig().await;
    approves_a_month(&rig, 0);
    let toml = config(&rig, "");
    let processor = TestProcessor::start(&toml).await;
    order(&rig, 0, 1).await;
    xcs_tests::eventually(HANDLED, "the order to be parked", || async {
        (rig.broker.depth(topology::DEAD_QUEUE).await == 1).then_some(())
    })
    .await;
    let config = xcs_processor::config::Config::from_toml(&toml, |_| None).unwrap();
    cli::dead(
        &config,
        DeadCommand::Purge {
            filter: Filter {
                reason: Some("xero_plan_limit".into()),
                ..Filter::default()
            },
            yes: true,
        },
    )
    .await
    .expect("the purge runs");

    // Act: a refund of the purged order arrives.
    let refund_event = refund_of_order_1(&rig).await;

    // Assert: it waits for its order as any early refund does, in a retry tier, instead of
    // being parked after an order nobody will replay.
    let waiting = held_in_the_first_tier(&rig, "the refund").await;
    let headers = &waiting[0]["properties"]["headers"];
    assert_eq!(headers["xcs-event-id"], refund_event.as_str(), "{headers}");
    assert_eq!(headers["xcs-reason"], "order_not_booked", "{headers}");
    assert_eq!(rig.broker.depth(topology::DEAD_QUEUE).await, 0);
    processor.stop().await;
}
