//! `xcs-processor test-transaction`: a sample order through the live path (the ingress, or
//! RabbitMQ directly), booked by a running processor into the Xero simulator, read back, and
//! voided with `--void`.

use std::path::PathBuf;
use std::time::Duration;

use xcs_processor::config::Config;
use xcs_processor::setup::test_transaction::{self, Options};
use xcs_tests::broker::TestBroker;
use xcs_tests::ingress::TestIngress;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{SHOP, TestProcessor, WOO_SHOP, platform_shop, test_config};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim, SimConfig, XeroSim};

struct Setup {
    broker: TestBroker,
    _schema: TestSchema,
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
        _schema: schema,
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
