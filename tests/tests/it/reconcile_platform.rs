//! Reconcile's platform leg: what the platform's own API lists (the fakes in
//! `xcs_tests::platform_api`) against what the ledger booked. Orders and refunds no webhook
//! brought are named, with whether any event about them reached us; `--fix` publishes them as
//! backfill events and they are booked once; what only the poller booked is reported for
//! information; cancelled, unpaid and still-settling orders are not reported; a shop without
//! `[api]` has the leg skipped, and a failing API is reported beside the rest of the report.
//! Against the real RabbitMQ and PostgreSQL and the Xero simulator.

use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_processor::config::Config;
use xcs_processor::ledger::Ledger;
use xcs_processor::operate::{ProgressBar, parse_time};
use xcs_processor::reconcile::{LegStatus, Problem, ReconcileOptions, Report, reconcile};
use xcs_processor::xero::client::XeroClient;
use xcs_shared::{Envelope, EventKind, Platform, Source};
use xcs_tests::broker::TestBroker;
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    ETSY_SHOP, SHOP, ShopToml, TestProcessor, credit_notes_numbered, invoices_numbered,
    payment_lines, platform_shop, publish, publish_envelope, shop_toml, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const BOOKED: Duration = Duration::from_secs(90);
const SHOPIFY_SHOP: &str = "nz-shopify-reconciled";

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
    api: FakePlatformApi,
}

impl Setup {
    async fn new(platform: Platform) -> Self {
        Setup {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
            api: FakePlatformApi::start(platform).await,
        }
    }

    /// The config with `shop` (its `[shops.NAME]` sections) and its poll settings: polled
    /// every second over the last hour, nothing left to settle, when `polling`; else never
    /// polled, changes of the last five minutes left to settle.
    fn toml(&self, name: &str, shop: &str, polling: bool) -> String {
        let poll = if polling {
            "interval_secs = 1\noverlap_secs = 3600\nsettle_secs = 0\n"
        } else {
            "interval_secs = 0\nsettle_secs = 300\n"
        };
        let extra = format!("{shop}[shops.{name}.poll]\n{poll}");
        let extra = if polling {
            format!("poll_every_ms = 200\n{extra}")
        } else {
            extra
        };
        test_config(&self.broker, &self.schema, &self.sim, &extra)
    }

    fn shopify_toml(&self, polling: bool) -> String {
        let shop = shop_toml(&ShopToml {
            name: SHOPIFY_SHOP,
            platform: Platform::Shopify,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix: "SR-",
            clearing: "615",
            api: Some(&self.api.api_toml()),
        });
        self.toml(SHOPIFY_SHOP, &shop, polling)
    }

    fn etsy_toml(&self) -> String {
        let shop = platform_shop(ETSY_SHOP, Platform::Etsy, Some(&self.api.api_toml()));
        self.toml(ETSY_SHOP, &shop, false)
    }

    /// Reconciles `shop` over `[from, to)` with the config `toml`.
    async fn reconcile_range(
        &self,
        toml: &str,
        shop: &str,
        from: OffsetDateTime,
        to: OffsetDateTime,
        fix: bool,
    ) -> Report {
        let config = Config::from_toml(toml, |_| None).expect("a valid config");
        let xero = XeroClient::new(&config.xero, Ledger::lazy(&config.postgres).unwrap()).unwrap();
        let connection = self.broker.connect().await;
        let report = reconcile(
            &config,
            &xero,
            Some(&connection),
            &ReconcileOptions {
                shop: shop.to_owned(),
                from,
                to,
                fix,
                progress: ProgressBar::hidden(),
            },
        )
        .await
        .expect("reconcile runs");
        let _ = connection.close(200, "done".into()).await;
        report
    }

    /// Reconciles `shop` over the last three hours and the next.
    async fn reconcile(&self, toml: &str, shop: &str, fix: bool) -> Report {
        let now = OffsetDateTime::now_utc();
        self.reconcile_range(
            toml,
            shop,
            now - time::Duration::hours(3),
            now + time::Duration::hours(1),
            fix,
        )
        .await
    }

    async fn wait_invoice(&self, number: &str) {
        xcs_tests::eventually(BOOKED, &format!("invoice {number}"), || async {
            (!invoices_numbered(&self.sim, number).is_empty()).then_some(())
        })
        .await;
    }

    async fn wait_credit_note_paid(&self, number: &str) {
        xcs_tests::eventually(BOOKED, &format!("credit note {number} paid"), || async {
            credit_notes_numbered(&self.sim, number)
                .iter()
                .any(|n| n["Status"] == "PAID")
                .then_some(())
        })
        .await;
    }

    /// How many of the poller's events for `shop` the ledger recorded.
    async fn polled_events(&self, platform: Platform, shop: &str) -> i64 {
        let client = self.schema.client().await;
        client
            .query_one(
                "SELECT count(*) FROM xcs_events WHERE event_id LIKE $1",
                &[&format!("{platform}:{shop}:api:%")],
            )
            .await
            .unwrap()
            .get(0)
    }
}

fn ago(minutes: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(minutes)
}

/// A paid Shopify order `#number` as the orders list holds it, last changed `minutes` ago.
fn shopify_order(id: u64, number: u64, minutes: i64) -> Value {
    let mut order: Value =
        serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(id, number, true)).unwrap();
    order["updated_at"] = json!(ago(minutes).format(&Rfc3339).unwrap());
    order["refunds"] = json!([]);
    order
}

/// (problem, event id, document) of every row, in the report's order.
fn rows(report: &Report) -> Vec<(Problem, String, String)> {
    report
        .discrepancies
        .iter()
        .map(|d| (d.problem, d.event_id.clone(), d.document.clone()))
        .collect()
}

fn row<'r>(
    report: &'r Report,
    problem: Problem,
    document: &str,
) -> &'r xcs_processor::reconcile::Discrepancy {
    report
        .discrepancies
        .iter()
        .find(|d| d.problem == problem && d.document == document)
        .unwrap_or_else(|| panic!("no {problem:?} row for {document}:\n{}", report.table()))
}

/// The event id the poller (and a backfill) gives `id`'s version `version`.
fn polled_id(platform: Platform, shop: &str, kind: &str, id: &str, version: &str) -> String {
    format!("{platform}:{shop}:api:{kind}:{id}@{version}")
}

#[tokio::test]
async fn shopify_orders_and_refunds_no_webhook_brought_are_named_and_fix_books_them_once() {
    let setup = Setup::new(Platform::Shopify).await;
    let quiet = setup.shopify_toml(false);

    // #2401 came by webhook (received long before the range: booked is booked, whichever
    // range's event did it).
    let by_webhook = shopify_order(7401, 2401, 40);
    let processor = TestProcessor::start(&quiet).await;
    let webhook = format!("shopify:{SHOPIFY_SHOP}:webhook-7401");
    publish(
        &setup.broker,
        Platform::Shopify,
        SHOPIFY_SHOP,
        EventKind::Order,
        "orders/paid",
        &webhook,
        &serde_json::to_vec(&by_webhook).unwrap(),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &webhook, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    processor.stop().await;

    // #2402 only the poller found; #2403 was cancelled before anything booked it.
    let mut cancelled = shopify_order(7403, 2403, 30);
    cancelled["cancelled_at"] = json!(ago(30).format(&Rfc3339).unwrap());
    cancelled["financial_status"] = json!("voided");
    setup.api.list(by_webhook);
    setup.api.list(shopify_order(7402, 2402, 35));
    setup.api.list(cancelled);
    let poller = TestProcessor::start(&setup.shopify_toml(true)).await;
    setup.wait_invoice("SR-2402").await;
    xcs_tests::eventually(BOOKED, "the poller's three events handled", || async {
        (setup.polled_events(Platform::Shopify, SHOPIFY_SHOP).await >= 3).then_some(())
    })
    .await;
    poller.stop().await;
    assert!(invoices_numbered(&setup.sim, "SR-2403").is_empty());

    // While no processor ran: #2404 and its refund reached us by no way at all; #2407's
    // webhook reached the archive and was lost from the shards; #2408 changed a minute ago,
    // and a webhook may still be bringing it.
    let mut refunded = shopify_order(7404, 2404, 10);
    let mut refund: Value =
        serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_refund(8404, 7404)).unwrap();
    refund["created_at"] = json!(ago(10).format(&Rfc3339).unwrap());
    refunded["refunds"] = json!([refund.clone()]);
    setup.api.list(refunded.clone());
    let lost = shopify_order(7407, 2407, 12);
    setup.api.list(lost.clone());
    setup.api.list(shopify_order(7408, 2408, 1));
    let lost_webhook = format!("shopify:{SHOPIFY_SHOP}:lost-7407");
    publish_envelope(
        &setup.broker,
        &Envelope {
            event_id: lost_webhook.clone(),
            platform: Platform::Shopify,
            shop: SHOPIFY_SHOP.to_owned(),
            tenant: xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            kind: EventKind::Order,
            topic: "orders/paid".to_owned(),
            delivery_id: uuid::Uuid::now_v7().to_string(),
            received_at: ago(12).format(&Rfc3339).unwrap(),
            source: Source::Webhook,
        },
        &serde_json::to_vec(&lost).unwrap(),
    )
    .await;
    assert_eq!(setup.broker.take_all_shards().await.len(), 1);

    let report = setup.reconcile(&quiet, SHOPIFY_SHOP, false).await;
    let version = |order: &Value| order["updated_at"].as_str().unwrap().to_owned();
    let order_event = |id: &str, order: &Value| {
        polled_id(
            Platform::Shopify,
            SHOPIFY_SHOP,
            "order",
            id,
            &version(order),
        )
    };
    let refund_event = polled_id(
        Platform::Shopify,
        SHOPIFY_SHOP,
        "refund",
        "8404",
        refund["created_at"].as_str().unwrap(),
    );
    let by_poll = report
        .discrepancies
        .iter()
        .find(|d| d.problem == Problem::MissedByWebhooks)
        .map(|d| d.event_id.clone())
        .unwrap_or_default();
    assert_eq!(
        rows(&report),
        [
            (Problem::NotBooked, lost_webhook.clone(), String::new()),
            (
                Problem::PlatformNotBooked,
                order_event("7404", &refunded),
                "SR-2404".to_owned()
            ),
            (
                Problem::PlatformNotBooked,
                order_event("7407", &lost),
                "SR-2407".to_owned()
            ),
            (
                Problem::PlatformNotBooked,
                refund_event,
                "SR-2404/R8404".to_owned()
            ),
            (
                Problem::MissedByWebhooks,
                by_poll.clone(),
                "SR-2402".to_owned()
            ),
        ],
        "{}",
        report.table()
    );
    assert!(
        by_poll.starts_with(&format!("shopify:{SHOPIFY_SHOP}:api:order:7402@")),
        "{by_poll}"
    );
    assert_eq!(report.exit_code(), 1);
    let leg = &report.platform;
    assert_eq!(leg.status, LegStatus::Read, "{leg:?}");
    assert_eq!(
        (leg.orders, leg.refunds, leg.not_bookable),
        (5, 1, 1),
        "{leg:?}"
    );
    assert!(leg.calls >= 1, "{leg:?}");
    // The settle time: the leg read up to five minutes ago, so #2408 is not in it.
    let read_to = OffsetDateTime::parse(&leg.to, &Rfc3339).unwrap();
    assert!(read_to <= ago(5) && read_to > ago(6), "{leg:?}");

    let never = row(&report, Problem::PlatformNotBooked, "SR-2404");
    assert!(
        never.detail.contains("no event about it reached us"),
        "{}",
        never.detail
    );
    assert!(
        never.detail.contains("dated 2026-11-20"),
        "{}",
        never.detail
    );
    assert!(never.next_step.contains("--fix"), "{}", never.next_step);
    let platform = never.platform.as_ref().unwrap();
    assert_eq!(
        (
            platform.kind.as_str(),
            platform.id.as_str(),
            platform.order_number.as_str()
        ),
        ("order", "7404", "#2404")
    );
    let its_refund = row(&report, Problem::PlatformNotBooked, "SR-2404/R8404");
    assert!(
        its_refund
            .detail
            .contains("its order (platform id 7404) is not booked either"),
        "{}",
        its_refund.detail
    );
    let came = row(&report, Problem::PlatformNotBooked, "SR-2407");
    assert!(
        came.detail.contains(&format!(
            "webhook event {lost_webhook} (never recorded by the processor"
        )),
        "{}",
        came.detail
    );
    let missed = row(&report, Problem::MissedByWebhooks, "SR-2402");
    assert!(
        missed.detail.contains("the poller's event"),
        "{}",
        missed.detail
    );
    let table = report.table();
    for words in [
        "Platform API: changes",
        "5 orders and 1 refunds listed (1 of them booked by nothing",
        "4 discrepancies: 1 not_booked, 3 platform_not_booked; for information: 1 \
         missed_by_webhooks",
    ] {
        assert!(table.contains(words), "{words:?} in\n{table}");
    }
    let json: Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["platform"]["status"], "read");
    assert_eq!(json["discrepancies"][1]["platform"]["id"], "7404");

    // --fix: the lost webhook is re-queued from the archive, what the platform has is
    // published as backfill events; the processors book each once.
    let fixed = setup.reconcile(&quiet, SHOPIFY_SHOP, true).await;
    let fixes: Vec<(Problem, String, Option<String>)> = fixed
        .discrepancies
        .iter()
        .map(|d| (d.problem, d.document.clone(), d.fixed.clone()))
        .collect();
    let backfilled = Some(
        "published from the platform's API as a backfill event (xcs-source: backfill)".to_owned(),
    );
    assert_eq!(
        fixes,
        [
            (
                Problem::NotBooked,
                String::new(),
                Some("re-queued from xcs.archive".to_owned())
            ),
            (
                Problem::PlatformNotBooked,
                "SR-2404".to_owned(),
                backfilled.clone()
            ),
            (
                Problem::PlatformNotBooked,
                "SR-2407".to_owned(),
                backfilled.clone()
            ),
            (
                Problem::PlatformNotBooked,
                "SR-2404/R8404".to_owned(),
                backfilled
            ),
            (Problem::MissedByWebhooks, "SR-2402".to_owned(), None),
        ],
        "{}",
        fixed.table()
    );
    let processor = TestProcessor::start(&quiet).await;
    setup.wait_invoice("SR-2404").await;
    setup.wait_invoice("SR-2407").await;
    setup.wait_credit_note_paid("SR-2404/R8404").await;
    let (outcome, detail) = wait_handled(&setup.schema, &lost_webhook, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    processor.stop().await;
    for number in ["SR-2401", "SR-2402", "SR-2404", "SR-2407"] {
        let invoices = invoices_numbered(&setup.sim, number);
        assert_eq!(invoices.len(), 1, "{number}: {invoices:#?}");
        assert_eq!(
            payment_lines(&setup.sim, &invoices[0]).len(),
            1,
            "{number} paid once"
        );
    }
    assert!(invoices_numbered(&setup.sim, "SR-2403").is_empty());
    assert_eq!(credit_notes_numbered(&setup.sim, "SR-2404/R8404").len(), 1);

    // The next reconcile differs in nothing: what the fix booked is (for information) what
    // webhooks missed.
    let after = setup.reconcile(&quiet, SHOPIFY_SHOP, false).await;
    assert_eq!(after.exit_code(), 0, "{}", after.table());
    assert!(
        after
            .discrepancies
            .iter()
            .all(|d| d.problem.informational()),
        "{}",
        after.table()
    );
    let mut missed: Vec<&str> = after
        .discrepancies
        .iter()
        .map(|d| d.document.as_str())
        .filter(|d| *d != "SR-2407")
        .collect();
    missed.sort_unstable();
    assert_eq!(
        missed,
        ["SR-2402", "SR-2404", "SR-2404/R8404"],
        "{}",
        after.table()
    );
    assert!(after.table().contains("OK: no discrepancies."));
}

/// The NZ demo Etsy receipt as receipt `id`, last changed `minutes` ago.
fn receipt(id: u64, minutes: i64) -> Value {
    let mut receipt = fixture("etsy/receipt_2891034567_nzd_export_au.json");
    let changed = ago(minutes).unix_timestamp();
    receipt["receipt_id"] = json!(id);
    receipt["updated_timestamp"] = json!(changed);
    receipt["update_timestamp"] = json!(changed);
    for transaction in receipt["transactions"].as_array_mut().unwrap() {
        transaction["receipt_id"] = json!(id);
    }
    receipt
}

#[tokio::test]
async fn etsy_receipts_and_refunds_no_webhook_brought_are_named_and_fix_books_them_once() {
    let setup = Setup::new(Platform::Etsy).await;
    let toml = setup.etsy_toml();
    let receipts = format!(
        "/v3/application/shops/{}/receipts",
        credentials::ETSY_SHOP_ID
    );

    // 3400000001 came by webhook, which fetched the receipt.
    let by_webhook = receipt(3_400_000_001, 40);
    setup
        .api
        .put(&format!("{receipts}/3400000001"), by_webhook.clone());
    let processor = TestProcessor::start(&toml).await;
    let webhook = format!("etsy:{ETSY_SHOP}:webhook-3400000001");
    publish(
        &setup.broker,
        Platform::Etsy,
        ETSY_SHOP,
        EventKind::Order,
        "ORDER_PAID",
        &webhook,
        &xcs_tests::fixtures::etsy(
            "ORDER_PAID",
            credentials::ETSY_SHOP_ID.parse().unwrap(),
            3_400_000_001,
        ),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &webhook, BOOKED).await;
    assert_eq!(outcome, "booked", "{detail}");
    processor.stop().await;

    // 3400000002 was paid and partly refunded, and no webhook brought it (Etsy has none for
    // refunds); 3400000003 is not paid, so nothing books it.
    let mut refunded = receipt(3_400_000_002, 20);
    refunded["status"] = json!("Partially Refunded");
    refunded["refunds"] = json!([{
        "amount": {"amount": 4180, "divisor": 100, "currency_code": "NZD"},
        "created_timestamp": 1_795_403_400,
        "reason": "One cup arrived broken",
        "note_from_issuer": null,
        "status": "Success"
    }]);
    let mut unpaid = receipt(3_400_000_003, 25);
    unpaid["is_paid"] = json!(false);
    unpaid["status"] = json!("Payment Processing");
    setup.api.list(by_webhook);
    setup.api.list(refunded.clone());
    setup.api.list(unpaid);

    let report = setup.reconcile(&toml, ETSY_SHOP, false).await;
    let event = polled_id(
        Platform::Etsy,
        ETSY_SHOP,
        "refund",
        "3400000002",
        &refunded["updated_timestamp"].to_string(),
    );
    let note = "ET-3400000002/R3400000002-1795403400";
    assert_eq!(
        rows(&report),
        [
            (
                Problem::PlatformNotBooked,
                event.clone(),
                "ET-3400000002".to_owned()
            ),
            (Problem::PlatformNotBooked, event.clone(), note.to_owned()),
        ],
        "{}",
        report.table()
    );
    let leg = &report.platform;
    assert_eq!(leg.status, LegStatus::Read, "{leg:?}");
    assert_eq!(
        (leg.orders, leg.refunds, leg.not_bookable),
        (2, 1, 1),
        "{leg:?}"
    );
    let credit = row(&report, Problem::PlatformNotBooked, note);
    assert_eq!(credit.document_kind, "credit_note");
    assert!(
        credit.detail.contains("no event about it reached us"),
        "{}",
        credit.detail
    );

    let fixed = setup.reconcile(&toml, ETSY_SHOP, true).await;
    assert!(
        fixed.discrepancies.iter().all(|d| d.fixed.is_some()),
        "{}",
        fixed.table()
    );
    let processor = TestProcessor::start(&toml).await;
    setup.wait_invoice("ET-3400000002").await;
    setup.wait_credit_note_paid(note).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    processor.stop().await;
    for number in ["ET-3400000001", "ET-3400000002"] {
        assert_eq!(invoices_numbered(&setup.sim, number).len(), 1, "{number}");
    }
    assert!(invoices_numbered(&setup.sim, "ET-3400000003").is_empty());
    assert_eq!(credit_notes_numbered(&setup.sim, note).len(), 1);

    let after = setup.reconcile(&toml, ETSY_SHOP, false).await;
    assert_eq!(after.exit_code(), 0, "{}", after.table());
    let missed: Vec<(Problem, String)> = after
        .discrepancies
        .iter()
        .map(|d| (d.problem, d.document.clone()))
        .collect();
    assert_eq!(
        missed,
        [
            (Problem::MissedByWebhooks, "ET-3400000002".to_owned()),
            (Problem::MissedByWebhooks, note.to_owned()),
        ],
        "{}",
        after.table()
    );
    assert!(
        after.discrepancies[0].detail.contains("a backfill's"),
        "{}",
        after.discrepancies[0].detail
    );
}

#[tokio::test]
async fn no_api_skips_the_platform_leg_and_a_failing_api_is_reported_beside_the_rest() {
    let setup = Setup::new(Platform::Shopify).await;
    let refused = "nz-shopify-refused";
    let shop = shop_toml(&ShopToml {
        name: refused,
        platform: Platform::Shopify,
        tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
        prefix: "SF-",
        clearing: "615",
        api: Some(&setup.api.api_toml_with("shpat_revoked", "")),
    });
    let toml = setup.toml(refused, &shop, false);
    setup.api.list(shopify_order(7501, 2501, 30));
    let processor = TestProcessor::start(&toml).await;
    for (shop, n) in [(SHOP, 2511u64), (refused, 2501)] {
        let event_id = format!("shopify:{shop}:webhook-{n}");
        publish(
            &setup.broker,
            Platform::Shopify,
            shop,
            EventKind::Order,
            "orders/paid",
            &event_id,
            &xcs_tests::fixtures::shopify_nz_order(5000 + n, n, true),
        )
        .await;
        let (outcome, detail) = wait_handled(&setup.schema, &event_id, BOOKED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }
    processor.stop().await;
    // The day the test publisher stamps on events.
    let (from, to) = (
        parse_time("2026-11-27").unwrap(),
        parse_time("2026-11-28").unwrap(),
    );

    let skipped = setup.reconcile_range(&toml, SHOP, from, to, false).await;
    assert_eq!(skipped.platform.status, LegStatus::Skipped);
    assert!(
        skipped
            .platform
            .reason
            .contains(&format!("no [shops.{SHOP}.api] section")),
        "{:?}",
        skipped.platform
    );
    assert!(skipped.discrepancies.is_empty(), "{}", skipped.table());
    assert!(skipped.warnings.is_empty(), "{:?}", skipped.warnings);
    assert_eq!(skipped.exit_code(), 0);
    assert!(
        skipped
            .table()
            .contains("Platform API: skipped: shop nz-shopify has no"),
        "{}",
        skipped.table()
    );

    let failed = setup.reconcile_range(&toml, refused, from, to, false).await;
    assert_eq!(
        failed.platform.status,
        LegStatus::Failed,
        "{:?}",
        failed.platform
    );
    assert!(
        failed
            .platform
            .reason
            .contains("refused the shop's credentials"),
        "{:?}",
        failed.platform
    );
    assert!(
        failed
            .warnings
            .iter()
            .any(|w| w.contains("the platform's API could not be read to the end")),
        "{:?}",
        failed.warnings
    );
    // The rest of the report is there: the webhook's order was compared with Xero.
    assert_eq!((failed.events, failed.documents), (1, 1));
    assert!(failed.discrepancies.is_empty(), "{}", failed.table());
    assert!(
        failed.table().contains("Platform API: FAILED:"),
        "{}",
        failed.table()
    );
    assert!(
        setup.api.requests().iter().any(|r| r.status == 401),
        "{:?}",
        setup.api.requests()
    );
}
