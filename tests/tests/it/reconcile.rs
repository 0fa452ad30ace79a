//! Reconcile (`xcs-processor reconcile`): a shop's events (ledger and xcs.archive), the
//! ledger's documents and what Xero holds, compared; `--fix` re-queues what can be booked
//! again. Against the real RabbitMQ and PostgreSQL and the Xero simulator.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use xcs_processor::config::Config;
use xcs_processor::ledger::Ledger;
use xcs_processor::operate::{ProgressBar, parse_time};
use xcs_processor::reconcile::{CSV_HEADER, Problem, ReconcileOptions, Report, reconcile};
use xcs_processor::xero::client::{XeroClient, element_errors};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, invoices_numbered, one_invoice, payments_on, publish, test_config,
    wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(30);

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
}

fn event_id(n: u64) -> String {
    format!("shopify:{SHOP}:rc-{n}")
}

impl Setup {
    async fn new() -> Self {
        Setup {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
        }
    }

    fn toml(&self) -> String {
        test_config(&self.broker, &self.schema, &self.sim, "")
    }

    fn config(&self) -> Config {
        Config::from_toml(&self.toml(), |_| None).expect("a valid config")
    }

    fn xero(&self) -> XeroClient {
        let config = self.config();
        XeroClient::new(&config.xero, Ledger::lazy(&config.postgres).unwrap()).unwrap()
    }

    /// Publishes order `n` (Shopify order id 9000+n, number n) as the ingress would.
    async fn publish_order(&self, n: u64, paid: bool) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            EventKind::Order,
            if paid { "orders/paid" } else { "orders/create" },
            &event_id(n),
            &fixtures::shopify_nz_order(9000 + n, n, paid),
        )
        .await;
    }

    /// Reconciles the test shop over the day the test publisher stamps on events.
    async fn reconcile(&self, fix: bool) -> Report {
        let config = self.config();
        let connection = self.broker.connect().await;
        let report = reconcile(
            &config,
            &self.xero(),
            Some(&connection),
            &ReconcileOptions {
                shop: SHOP.to_owned(),
                from: parse_time("2026-11-27").unwrap(),
                to: parse_time("2026-11-28").unwrap(),
                fix,
                progress: ProgressBar::hidden(),
            },
        )
        .await
        .expect("reconcile runs");
        let _ = connection.close(200, "done".into()).await;
        report
    }

    /// A write to the simulator as someone working in Xero would make it.
    async fn write(&self, method: Method, path: &str, body: Value) -> Value {
        let response = self
            .xero()
            .call(
                &DEMO_NZ_TENANT_ID.to_string(),
                method,
                path,
                &[("summarizeErrors", "false")],
                Some(&body),
                None,
            )
            .await
            .unwrap_or_else(|err| panic!("{path}: {err}"));
        let collection = body
            .as_object()
            .and_then(|o| o.keys().next())
            .unwrap()
            .clone();
        let element = response[&collection][0].clone();
        assert!(
            element_errors(&element).is_empty(),
            "{path}: {:?}",
            element_errors(&element)
        );
        element
    }

    fn invoice(&self, number: &str) -> Value {
        one_invoice(&self.sim, number)
    }
}

fn problems(report: &Report) -> Vec<(Problem, String, String)> {
    report
        .discrepancies
        .iter()
        .map(|d| (d.problem, d.event_id.clone(), d.document.clone()))
        .collect()
}

#[tokio::test]
async fn a_clean_range_reports_nothing_and_exits_zero() {
    let setup = Setup::new().await;
    let processor = TestProcessor::start(&setup.toml()).await;
    setup.publish_order(2101, true).await;
    setup.publish_order(2102, true).await;
    setup.publish_order(2103, false).await;
    for n in [2101, 2102, 2103] {
        let (outcome, detail) = wait_handled(&setup.schema, &event_id(n), HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }
    processor.stop().await;

    let report = setup.reconcile(false).await;
    assert!(report.discrepancies.is_empty(), "{}", report.table());
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.events, 3);
    assert_eq!(report.documents, 3);
    assert_eq!(report.sources.ledger_events, 3);
    assert_eq!(report.sources.archive_events, Some(3));
    assert_eq!(report.sources.dead_letters, Some(0));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    assert!(report.table().contains("OK: no discrepancies."));
    assert_eq!(report.csv(), format!("{CSV_HEADER}\n"));

    // --fix on a clean range changes nothing.
    let fixed = setup.reconcile(true).await;
    assert!(fixed.discrepancies.is_empty(), "{}", fixed.table());
    assert_eq!(invoices_numbered(&setup.sim, "SH-2101").len(), 1);
}

#[tokio::test]
async fn voided_edited_duplicated_unpaid_and_unbooked_are_reported_and_the_unbooked_fixed() {
    let setup = Setup::new().await;
    let processor = TestProcessor::start(&setup.toml()).await;
    setup.publish_order(2201, false).await;
    setup.publish_order(2202, false).await;
    setup.publish_order(2203, true).await;
    setup.publish_order(2204, true).await;
    for n in [2201, 2202, 2203, 2204] {
        let (outcome, detail) = wait_handled(&setup.schema, &event_id(n), HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }
    processor.stop().await;
    // An order the platform sent that never reached the processor: still in the archive, lost
    // from the shards.
    setup.publish_order(2205, true).await;
    let lost = setup.broker.take_all_shards().await;
    assert_eq!(lost.len(), 1);

    // What people did in Xero meanwhile.
    let voided = setup.invoice("SH-2201");
    setup
        .write(
            Method::POST,
            &format!("/Invoices/{}", voided["InvoiceID"].as_str().unwrap()),
            json!({"Invoices": [{"InvoiceID": voided["InvoiceID"], "Status": "VOIDED"}]}),
        )
        .await;
    let edited = setup.invoice("SH-2202");
    setup
        .write(
            Method::POST,
            &format!("/Invoices/{}", edited["InvoiceID"].as_str().unwrap()),
            json!({"Invoices": [{"InvoiceID": edited["InvoiceID"], "LineItems": [{
                "Description": "Edited in Xero", "Quantity": 1, "UnitAmount": 100,
                "AccountCode": "200", "TaxType": "OUTPUT2"}]}]}),
        )
        .await;
    let unpaid = setup.invoice("SH-2203");
    let payment = payments_on(&setup.sim, &unpaid);
    assert_eq!(payment.len(), 1);
    setup
        .write(
            Method::POST,
            &format!("/Payments/{}", payment[0]["PaymentID"].as_str().unwrap()),
            json!({"Payments": [{"Status": "DELETED"}]}),
        )
        .await;
    let original = setup.invoice("SH-2204");
    setup
        .write(
            Method::PUT,
            "/Invoices",
            json!({"Invoices": [{
                "Type": "ACCREC", "Contact": {"Name": "Shopify Sales"},
                "InvoiceNumber": "MANUAL-2204", "Reference": original["Reference"],
                "Date": "2026-11-20", "DueDate": "2026-11-20", "Status": "AUTHORISED",
                "LineAmountTypes": "Exclusive",
                "LineItems": [{"Description": "Typed in again", "Quantity": 1,
                    "UnitAmount": 55, "AccountCode": "200", "TaxType": "OUTPUT2"}]}]}),
        )
        .await;

    let report = setup.reconcile(false).await;
    assert_eq!(
        problems(&report),
        [
            (Problem::Voided, event_id(2201), "SH-2201".to_owned()),
            (
                Problem::AmountMismatch,
                event_id(2202),
                "SH-2202".to_owned()
            ),
            (Problem::Duplicate, event_id(2204), "SH-2204".to_owned()),
            (
                Problem::PaymentMissing,
                event_id(2203),
                "SH-2203".to_owned()
            ),
            (Problem::NotBooked, event_id(2205), String::new()),
        ],
        "{}",
        report.table()
    );
    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.events, 5);
    assert_eq!(report.sources.archive_events, Some(5));
    let mismatch = &report.discrepancies[1];
    assert_eq!(mismatch.ledger_amount, Some("63.25".parse().unwrap()));
    assert_eq!(mismatch.xero_amount, Some("115.00".parse().unwrap()));
    assert!(report.discrepancies[2].detail.contains("MANUAL-2204"));
    let payment_missing = &report.discrepancies[3];
    assert_eq!(
        payment_missing.ledger_amount,
        Some("63.25".parse().unwrap())
    );
    assert_eq!(payment_missing.xero_amount, Some("0".parse().unwrap()));
    for d in &report.discrepancies {
        assert!(!d.next_step.is_empty(), "{d:?}");
        assert!(d.fixed.is_none(), "{d:?}");
    }

    // The table: one row per discrepancy, and what to do.
    let table = report.table();
    for word in [
        "5 discrepancies",
        "voided",
        "amount_mismatch",
        "duplicate",
        "payment_missing",
        "not_booked",
        "What to do:",
        "63.25 / 115.00",
    ] {
        assert!(table.contains(word), "{word:?} in\n{table}");
    }

    // CSV: a header and a row per discrepancy, quoted where needed.
    let csv = report.csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert_eq!(lines[0], CSV_HEADER);
    assert!(
        lines[1].starts_with(&format!("voided,{},invoice,SH-2201,", event_id(2201))),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(",63.25,115.00,"),
        "amounts in their columns: {}",
        lines[2]
    );
    assert!(lines[5].starts_with(&format!("not_booked,{},,,,,,", event_id(2205))));

    // JSON: the whole report.
    let parsed: Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(parsed["shop"], SHOP);
    assert_eq!(parsed["tenant"], DEMO_NZ_TENANT_ID.to_string());
    assert_eq!(parsed["sources"]["archive_events"], 5);
    assert_eq!(parsed["discrepancies"].as_array().unwrap().len(), 5);
    let first = &parsed["discrepancies"][0];
    for field in [
        "problem",
        "event_id",
        "document_kind",
        "document",
        "xero_id",
        "ledger_amount",
        "xero_amount",
        "detail",
        "next_step",
        "fixed",
    ] {
        assert!(first.get(field).is_some(), "{field} in {first}");
    }
    assert_eq!(first["problem"], "voided");
    assert_eq!(parsed["discrepancies"][1]["xero_amount"], "115.00");

    // --fix re-queues the unbooked event only; the rest need a person.
    let fixed = setup.reconcile(true).await;
    let fixes: Vec<_> = fixed
        .discrepancies
        .iter()
        .filter_map(|d| {
            d.fixed
                .as_deref()
                .map(|f| (d.event_id.clone(), f.to_owned()))
        })
        .collect();
    assert_eq!(
        fixes,
        [(event_id(2205), "re-queued from xcs.archive".to_owned())]
    );
    assert_eq!(invoices_numbered(&setup.sim, "SH-2201").len(), 1);

    let processor = TestProcessor::start(&setup.toml()).await;
    let (outcome, detail) = wait_handled(&setup.schema, &event_id(2205), HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    processor.stop().await;
    let booked = setup.invoice("SH-2205");
    assert_eq!(payments_on(&setup.sim, &booked).len(), 1);

    let after = setup.reconcile(false).await;
    assert_eq!(after.discrepancies.len(), 4, "{}", after.table());
    assert!(
        after
            .discrepancies
            .iter()
            .all(|d| d.problem != Problem::NotBooked)
    );
}

#[tokio::test]
async fn a_document_missing_in_xero_is_reported_and_booked_again_once_by_fix() {
    let setup = Setup::new().await;
    let processor = TestProcessor::start(&setup.toml()).await;
    setup.publish_order(2301, true).await;
    setup.publish_order(2302, true).await;
    for n in [2301, 2302] {
        wait_handled(&setup.schema, &event_id(n), HANDLED).await;
    }
    let gone = setup.invoice("SH-2301");
    // The organisation lost the invoice (restored from an older backup, say).
    assert_eq!(setup.sim.forget_document(DEMO_NZ_TENANT_ID, "SH-2301"), 1);
    assert!(invoices_numbered(&setup.sim, "SH-2301").is_empty());

    let report = setup.reconcile(false).await;
    assert_eq!(
        problems(&report),
        [(Problem::MissingInXero, event_id(2301), "SH-2301".to_owned())],
        "{}",
        report.table()
    );
    assert_eq!(
        report.discrepancies[0].xero_id,
        gone["InvoiceID"].as_str().unwrap()
    );
    assert!(report.discrepancies[0].next_step.contains("--fix"));
    assert_eq!(report.exit_code(), 1);

    let fixed = setup.reconcile(true).await;
    assert_eq!(
        fixed.discrepancies[0].fixed.as_deref(),
        Some("ledger record cleared; event re-queued from xcs.archive"),
        "{}",
        fixed.table()
    );
    // The processor (still running) books it again: one invoice, paid once, a new id.
    let (outcome, detail) = wait_handled(&setup.schema, &event_id(2301), HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let rebooked = setup.invoice("SH-2301");
    assert_ne!(rebooked["InvoiceID"], gone["InvoiceID"]);
    xcs_tests::eventually(HANDLED, "the payment of SH-2301", || async {
        (payments_on(&setup.sim, &rebooked).len() == 1).then_some(())
    })
    .await;

    let again = setup.reconcile(false).await;
    assert!(again.discrepancies.is_empty(), "{}", again.table());
    // A second --fix has nothing to do, and nothing is booked twice.
    let twice = setup.reconcile(true).await;
    assert!(twice.discrepancies.is_empty(), "{}", twice.table());
    tokio::time::sleep(Duration::from_secs(1)).await;
    processor.stop().await;
    assert_eq!(invoices_numbered(&setup.sim, "SH-2301").len(), 1);
    assert_eq!(invoices_numbered(&setup.sim, "SH-2302").len(), 1);
    assert_eq!(payments_on(&setup.sim, &setup.invoice("SH-2301")).len(), 1);
}
