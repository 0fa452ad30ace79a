//! `xcs-processor test-transaction`: a sample order through the live path (the ingress, or
//! RabbitMQ directly), booked by a running processor into the Xero simulator, read back, and
//! voided with `--void`.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use xcs_processor::config::Config;
use xcs_processor::ledger::Ledger;
use xcs_processor::operate::ProgressBar;
use xcs_processor::reconcile::{Problem, ReconcileOptions, Report, reconcile};
use xcs_processor::setup::test_transaction::{self, Options};
use xcs_processor::xero::client::{XeroClient, element_errors};
use xcs_shared::{Envelope, EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::fixtures;
use xcs_tests::ingress::TestIngress;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, WOO_SHOP, invoices_numbered, one_invoice, payments_on, platform_shop,
    publish_envelope, test_config, wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim, SimConfig, XeroSim};

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
    config_text: String,
    dir: PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn setup() -> Setup {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let config_text = test_config(&broker, &schema, &sim, "")
        + &platform_shop("nz-etsy", xcs_shared::Platform::Etsy, None);
    let dir = std::env::temp_dir().join(format!("xcs-test-tx-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    Setup {
        broker,
        schema,
        sim,
        config_text,
        dir,
    }
}

impl Setup {
    fn config(&self) -> Config {
        Config::from_toml(&self.config_text, |_| None).expect("a valid config")
    }

    fn ingress_toml(&self) -> String {
        format!(
            r#"
[amqp]
uri = "{amqp}"
[shops.{SHOP}]
platform = "shopify"
tenant = "{DEMO_NZ_TENANT_ID}"
secrets = ["shpss_test_transaction"]
[shops.{WOO_SHOP}]
platform = "woocommerce"
tenant = "{DEMO_NZ_TENANT_ID}"
secrets = ["woo secret, with spaces"]
"#,
            amqp = self.broker.amqp_uri()
        )
    }

    fn xero(&self) -> XeroClient {
        let config = self.config();
        XeroClient::new(&config.xero, Ledger::lazy(&config.postgres).unwrap()).unwrap()
    }

    /// Voids an invoice as someone working in Xero would (its payments deleted first).
    async fn void_in_xero(&self, number: &str) {
        let invoice = one_invoice(&self.sim, number);
        let mut writes: Vec<(String, serde_json::Value)> = payments_on(&self.sim, &invoice)
            .iter()
            .map(|p| {
                (
                    format!("/Payments/{}", p["PaymentID"].as_str().unwrap()),
                    json!({"Payments": [{"Status": "DELETED"}]}),
                )
            })
            .collect();
        writes.push((
            format!("/Invoices/{}", invoice["InvoiceID"].as_str().unwrap()),
            json!({"Invoices": [{"InvoiceID": invoice["InvoiceID"], "Status": "VOIDED"}]}),
        ));
        for (path, body) in writes {
            let response = self
                .xero()
                .call(
                    &DEMO_NZ_TENANT_ID.to_string(),
                    reqwest::Method::POST,
                    &path,
                    &[("summarizeErrors", "false")],
                    Some(&body),
                    None,
                )
                .await
                .unwrap_or_else(|err| panic!("{path}: {err}"));
            let collection = body.as_object().unwrap().keys().next().unwrap().clone();
            let errors = element_errors(&response[&collection][0]);
            assert!(errors.is_empty(), "{path}: {errors:?}");
        }
    }

    /// Reconciles `shop` over the hour either side of now.
    async fn reconcile(&self, shop: &str, fix: bool) -> Report {
        let now = OffsetDateTime::now_utc();
        let connection = self.broker.connect().await;
        let report = reconcile(
            &self.config(),
            &self.xero(),
            Some(&connection),
            &ReconcileOptions {
                shop: shop.to_owned(),
                from: now - time::Duration::HOUR,
                to: now + time::Duration::HOUR,
                fix,
                progress: ProgressBar::hidden(),
            },
        )
        .await
        .expect("reconcile runs");
        let _ = connection.close(200, "done".into()).await;
        report
    }

    async fn ingress(&self) -> (TestIngress, PathBuf) {
        let path = self.dir.join("ingress.toml");
        std::fs::write(&path, self.ingress_toml()).unwrap();
        let ingress = TestIngress::start(&self.ingress_toml()).await;
        ingress.wait_ready().await;
        (ingress, path)
    }
}

fn options(shop: &str) -> Options {
    Options {
        shop: shop.to_owned(),
        ingress: None,
        ingress_config: None,
        void: false,
        timeout: Duration::from_secs(30),
    }
}

#[tokio::test]
async fn a_sample_order_published_to_rabbitmq_is_booked_and_printed() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config_text).await;
    let outcome = test_transaction::run(&setup.config(), &options(SHOP))
        .await
        .expect("the sample is booked");
    processor.stop().await;
    let invoice = &outcome.invoice;
    let number = invoice["InvoiceNumber"].as_str().unwrap();
    assert!(number.starts_with("SH-TEST"), "{invoice}");
    assert_eq!(invoice["Status"], "PAID", "{invoice}");
    assert_eq!(invoice["Total"].to_string(), "28.75", "{invoice}");
    assert_eq!(outcome.payments.len(), 1);
    let report = &outcome.report;
    assert!(report.contains("straight to RabbitMQ"), "{report}");
    assert!(
        report.contains(&format!("Invoice  {number}  PAID")),
        "{report}"
    );
    assert!(report.contains("Contact  Shopify Sales"), "{report}");
    assert!(
        report.contains("1.0000 × 20.00  Test product (xcs test-transaction)  account 200  OUTPUT2 tax 3.00  = 20.00"),
        "{report}"
    );
    assert!(report.contains("Test shipping  account 205"), "{report}");
    assert!(
        report.contains("subtotal 25.00  tax 3.75  total 28.75"),
        "{report}"
    );
    assert!(
        report.contains("Payments 28.75 into 615 Shopify Clearing"),
        "{report}"
    );
    // The payment's date as Xero holds it (payments have `Date`, no `DateString`).
    let paid_on = report
        .lines()
        .find(|l| l.starts_with("Payments "))
        .and_then(|l| l.split_once(" on "))
        .and_then(|(_, rest)| rest.get(..10))
        .map(str::to_owned)
        .unwrap_or_default();
    let held_date = outcome.payments[0]["Date"].as_str().unwrap_or_default();
    assert!(
        time::Date::parse(
            &paid_on,
            time::macros::format_description!("[year]-[month]-[day]")
        )
        .is_ok(),
        "the payment's date {paid_on:?} (Xero: {held_date:?}) in:\n{report}"
    );
    assert!(report.contains("--void"), "{report}");
    // It is in the simulator as printed.
    let held = setup
        .sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["InvoiceNumber"] == number)
        .expect("in Xero");
    assert_eq!(held["Status"], "PAID");
}

#[tokio::test]
async fn a_signed_woocommerce_order_through_the_ingress_is_booked_then_voided() {
    let setup = setup().await;
    let (ingress, path) = setup.ingress().await;
    let processor = TestProcessor::start(&setup.config_text).await;
    let outcome = test_transaction::run(
        &setup.config(),
        &Options {
            ingress: Some(ingress.base_url.clone()),
            ingress_config: Some(path),
            void: true,
            ..options(WOO_SHOP)
        },
    )
    .await
    .expect("the sample is booked and voided");
    processor.stop().await;
    assert!(
        outcome.event_id.starts_with("woocommerce:nz-woo:"),
        "{}",
        outcome.event_id
    );
    let report = &outcome.report;
    assert!(report.contains("through the ingress"), "{report}");
    assert!(
        report.contains("Payments 28.75 into 616 Gateway Clearing"),
        "{report}"
    );
    assert!(report.contains("Voided: 1 payment(s) deleted"), "{report}");
    assert!(report.contains("is now VOIDED"), "{report}");
    assert_eq!(outcome.invoice["Status"], "VOIDED");
    let number = outcome.invoice["InvoiceNumber"].as_str().unwrap();
    assert!(number.starts_with("WC-TEST"), "{number}");
    let held = setup
        .sim
        .invoices(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|i| i["InvoiceNumber"] == number)
        .unwrap();
    assert_eq!(held["Status"], "VOIDED");
    let live_payments = setup
        .sim
        .payments(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|p| p["Invoice"]["InvoiceID"] == held["InvoiceID"] && p["Status"] != "DELETED")
        .count();
    assert_eq!(live_payments, 0);
    ingress.stop().await;
}

#[tokio::test]
async fn a_signed_shopify_order_through_the_ingress_is_booked() {
    let setup = setup().await;
    let (ingress, path) = setup.ingress().await;
    let processor = TestProcessor::start(&setup.config_text).await;
    let outcome = test_transaction::run(
        &setup.config(),
        &Options {
            ingress: Some(ingress.base_url.clone()),
            ingress_config: Some(path),
            ..options(SHOP)
        },
    )
    .await
    .expect("the sample is booked");
    processor.stop().await;
    assert!(outcome.event_id.starts_with("shopify:nz-shopify:"));
    assert_eq!(outcome.invoice["Status"], "PAID");
    ingress.stop().await;
}

#[tokio::test]
async fn what_cannot_be_done_says_what_to_do_instead() {
    let setup = setup().await;
    let config = setup.config();
    let err = test_transaction::run(&config, &options("nz-etsy"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("Shopify and WooCommerce shops only"), "{err}");
    assert!(err.contains("Place a test order in the store"), "{err}");

    let err = test_transaction::run(&config, &options("nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nz-shopify"), "{err}");

    let err = test_transaction::run(
        &config,
        &Options {
            ingress: Some("http://127.0.0.1:9".to_owned()),
            ..options(SHOP)
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("--ingress-config"), "{err}");

    // No processor running: the wait ends with where to look.
    let err = test_transaction::run(
        &config,
        &Options {
            timeout: Duration::from_secs(2),
            ..options(SHOP)
        },
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("Is a processor running"), "{err}");
    assert!(err.contains("dead list --shop nz-shopify"), "{err}");
}

#[tokio::test]
async fn a_summary_mode_shop_is_refused_and_its_period_stays_the_sellers() {
    let setup = setup().await;
    let config_text = setup.config_text.replacen(
        &format!("[shops.{SHOP}]\n"),
        &format!("[shops.{SHOP}]\nmode = \"summary\"\ntimezone = \"+13:00\"\n"),
        1,
    );
    let processor = TestProcessor::start(&config_text).await;
    let config = Config::from_toml(&config_text, |_| None).unwrap();
    let err = test_transaction::run(&config, &options(SHOP))
        .await
        .unwrap_err()
        .to_string();
    // Had anything been sent, the processor would have had time to summarise it meanwhile.
    tokio::time::sleep(Duration::from_secs(1)).await;
    processor.stop().await;
    for part in [
        "summary mode",
        "posted to its Xero with the seller's sales",
        "mode = \"realtime\"",
        "test-transaction --shop nz-shopify-test --void",
    ] {
        assert!(err.contains(part), "{part:?} in {err}");
    }
    let client = setup.schema.client().await;
    for table in ["xcs_summary_entries", "xcs_events", "xcs_test_transactions"] {
        let rows: i64 = client
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 0, "{table}: nothing was sent");
    }
    assert!(setup.broker.take_all_shards().await.is_empty());
}

#[tokio::test]
async fn reconcile_leaves_test_transactions_alone_and_still_reports_a_sale_voided_in_xero() {
    let setup = setup().await;
    let (ingress, path) = setup.ingress().await;
    let processor = TestProcessor::start(&setup.config_text).await;
    // The sample through RabbitMQ, and a WooCommerce one through the ingress (whose event id
    // is the ingress's: nothing in it says "test"), each voided by --void.
    let shopify = test_transaction::run(
        &setup.config(),
        &Options {
            void: true,
            ..options(SHOP)
        },
    )
    .await
    .expect("the Shopify sample is booked and voided");
    let woo = test_transaction::run(
        &setup.config(),
        &Options {
            ingress: Some(ingress.base_url.clone()),
            ingress_config: Some(path),
            void: true,
            ..options(WOO_SHOP)
        },
    )
    .await
    .expect("the WooCommerce sample is booked and voided");
    assert!(!woo.event_id.contains("xcs-test"), "{}", woo.event_id);
    for outcome in [&shopify, &woo] {
        assert_eq!(outcome.invoice["Status"], "VOIDED", "{}", outcome.report);
    }
    // A real sale of the same hour, voided by someone in Xero.
    let sale = format!("shopify:{SHOP}:tt-sale");
    publish_envelope(
        &setup.broker,
        &Envelope {
            event_id: sale.clone(),
            platform: Platform::Shopify,
            shop: SHOP.to_owned(),
            tenant: DEMO_NZ_TENANT_ID.to_string(),
            kind: EventKind::Order,
            topic: "orders/paid".to_owned(),
            delivery_id: uuid::Uuid::now_v7().to_string(),
            received_at: OffsetDateTime::now_utc().format(&Rfc3339).unwrap(),
            source: xcs_shared::Source::Webhook,
        },
        &fixtures::shopify_nz_order(9801, 801, true),
    )
    .await;
    let (outcome, detail) = wait_handled(&setup.schema, &sale, Duration::from_secs(30)).await;
    assert_eq!(outcome, "booked", "{detail}");
    processor.stop().await;
    setup.void_in_xero("SH-801").await;

    let report = setup.reconcile(SHOP, false).await;
    let found: Vec<_> = report
        .discrepancies
        .iter()
        .map(|d| (d.problem, d.event_id.clone(), d.document.clone()))
        .collect();
    assert_eq!(
        found,
        [(Problem::Voided, sale, "SH-801".to_owned())],
        "the sample's void is no discrepancy: {}",
        report.table()
    );
    assert_eq!(report.documents, 2, "{}", report.table());
    let report = setup.reconcile(WOO_SHOP, false).await;
    assert!(report.discrepancies.is_empty(), "{}", report.table());
    assert_eq!(report.documents, 1, "{}", report.table());
    assert_eq!(report.exit_code(), 0);

    // Gone from Xero altogether, a sample is no discrepancy either, and --fix never books it
    // again into the seller's books.
    let number = woo.invoice["InvoiceNumber"].as_str().unwrap().to_owned();
    assert_eq!(setup.sim.forget_document(DEMO_NZ_TENANT_ID, &number), 1);
    let processor = TestProcessor::start(&setup.config_text).await;
    let fixed = setup.reconcile(WOO_SHOP, true).await;
    assert!(fixed.discrepancies.is_empty(), "{}", fixed.table());
    tokio::time::sleep(Duration::from_secs(2)).await;
    processor.stop().await;
    assert!(invoices_numbered(&setup.sim, &number).is_empty());
    ingress.stop().await;
}
