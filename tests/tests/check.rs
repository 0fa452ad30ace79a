//! `xcs-processor check` against the Xero simulator, the real RabbitMQ (a vhost of its own)
//! and the real PostgreSQL (a schema of its own): a good setup passes, and each kind of bad
//! mapping fails with a line that names the field and says what to do.

use xcs_processor::config::Config;
use xcs_processor::setup::check::{self, CheckOptions};
use xcs_processor::setup::{Report, Status};
use xcs_tests::broker::TestBroker;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::test_config;
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: RunningSim,
}

async fn setup() -> Setup {
    Setup {
        broker: TestBroker::with_topology().await,
        schema: TestSchema::new(),
        sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
    }
}

impl Setup {
    fn config_text(&self) -> String {
        test_config(&self.broker, &self.schema, &self.sim, "")
    }

    async fn check(&self, text: &str, options: &CheckOptions) -> Report {
        let config = Config::from_toml(text, |_| None).expect("a valid config");
        check::run(&config, options).await
    }
}

/// The one failed line about `subject`, which must mention `needle`.
fn failure<'r>(report: &'r Report, subject: &str, needle: &str) -> &'r xcs_processor::setup::Line {
    let text = report.render_text();
    let lines: Vec<_> = report
        .failures()
        .filter(|l| l.subject == subject && l.detail.contains(needle))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "one failure on {subject} mentioning {needle:?}:\n{text}"
    );
    let line = lines[0];
    assert!(
        line.next.as_deref().is_some_and(|n| !n.is_empty()),
        "the failure says what to do next: {line:?}"
    );
    line
}

#[tokio::test]
async fn a_good_setup_passes_every_check() {
    let setup = setup().await;
    let report = setup
        .check(&setup.config_text(), &CheckOptions::default())
        .await;
    let text = report.render_text();
    assert!(report.passed(), "{text}");
    assert!(text.contains("✓ PostgreSQL"), "{text}");
    assert!(text.contains("Demo Company (NZ) reachable"), "{text}");
    assert!(text.contains("mapping fits Demo Company (NZ)"), "{text}");
    assert!(text.contains("topology in place"), "{text}");
    assert!(text.ends_with("All checks passed.\n"), "{text}");
    // Without the ingress's config the secrets are not checked, and the report says how to.
    let skipped = report
        .lines
        .iter()
        .find(|l| l.subject == "webhook secrets")
        .expect("a line about the secrets");
    assert_eq!(skipped.status, Status::Skipped);
    assert!(
        skipped
            .next
            .as_deref()
            .unwrap()
            .contains("--ingress-config")
    );
    let json = report.to_json();
    assert_eq!(json["passed"], true);
    assert!(json["checks"].as_array().unwrap().len() >= 6);
}

#[tokio::test]
async fn each_kind_of_bad_mapping_fails_with_what_to_do() {
    let setup = setup().await;
    // The Shopify shop's mapping, broken in every way at once; the demo chart has 299 Old
    // Sales archived, 400 Advertising (an expense), 620 Prepayments (no payments), tax type
    // OUTPUT archived and ZERORATED active.
    let text = setup
        .config_text()
        .replacen("sales = \"200\"", "sales = \"299\"", 1)
        .replacen("shipping = \"205\"", "shipping = \"999\"", 1)
        .replacen("fees = \"260\"", "fees = \"400\"", 1)
        .replacen("clearing = \"615\"", "clearing = \"620\"", 1)
        .replacen(
            "by_rate = { \"15\" = \"OUTPUT2\" }",
            "by_rate = { \"15\" = \"OUTPUT\" }",
            1,
        )
        .replacen("untaxed = \"ZERORATED\"", "untaxed = \"EXEMPT99\"", 1);
    let report = setup.check(&text, &CheckOptions::default()).await;
    assert!(!report.passed());
    let shop = "shop nz-shopify";
    let archived = failure(&report, shop, "accounts.sales = \"299\"");
    assert!(archived.detail.contains("ARCHIVED"), "{archived:?}");
    assert!(archived.next.as_deref().unwrap().contains("Restore"));
    let unknown = failure(&report, shop, "accounts.shipping = \"999\"");
    assert!(unknown.detail.contains("no account with that code"));
    assert!(
        unknown.next.as_deref().unwrap().contains("200 Sales"),
        "{unknown:?}"
    );
    let wrong_type = failure(&report, shop, "accounts.fees = \"400\"");
    assert!(
        wrong_type.detail.contains("type OVERHEADS"),
        "{wrong_type:?}"
    );
    let clearing = failure(&report, shop, "accounts.clearing = \"620\"");
    assert!(clearing.detail.contains("BANK account"), "{clearing:?}");
    assert!(
        clearing
            .next
            .as_deref()
            .unwrap()
            .contains("Enable payments"),
        "{clearing:?}"
    );
    let inactive = failure(&report, shop, "\"OUTPUT\"");
    assert!(inactive.detail.contains("ARCHIVED"), "{inactive:?}");
    assert!(inactive.next.as_deref().unwrap().contains("OUTPUT2"));
    let unknown_tax = failure(&report, shop, "tax.untaxed = \"EXEMPT99\"");
    assert!(unknown_tax.detail.contains("no such tax type"));
    // The other shop is fine, and says so.
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.subject == "shop nz-woo" && l.status == Status::Ok),
        "{}",
        report.render_text()
    );
    let rendered = report.render_text();
    assert!(rendered.contains("✗ shop nz-shopify"), "{rendered}");
    assert!(rendered.contains(" → "), "{rendered}");
}

#[tokio::test]
async fn a_tax_type_that_cannot_apply_to_revenue_and_a_system_account_fail() {
    let setup = setup().await;
    let text = setup
        .config_text()
        .replacen(
            "by_rate = { \"15\" = \"OUTPUT2\" }",
            "by_rate = { \"15\" = \"INPUT2\" }",
            1,
        )
        .replacen("gift_cards = \"825\"", "gift_cards = \"820\"", 1);
    let report = setup.check(&text, &CheckOptions::default()).await;
    let tax = failure(&report, "shop nz-shopify", "\"INPUT2\"");
    assert!(
        tax.detail.contains("cannot be used on revenue accounts"),
        "{tax:?}"
    );
    let gift = failure(&report, "shop nz-shopify", "accounts.gift_cards = \"820\"");
    assert!(gift.detail.contains("GST system account"), "{gift:?}");
}

#[tokio::test]
async fn a_missing_topology_fails_and_says_how_to_load_it() {
    let setup = Setup {
        broker: TestBroker::empty().await,
        schema: TestSchema::new(),
        sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
    };
    let report = setup
        .check(&setup.config_text(), &CheckOptions::default())
        .await;
    let line = failure(&report, "RabbitMQ", "missing");
    assert!(line.detail.contains("exchange xcs.events"), "{line:?}");
    assert!(line.detail.contains("queue xcs.shard.0"), "{line:?}");
    assert!(line.next.as_deref().unwrap().contains("import_definitions"));
}

#[tokio::test]
async fn a_custom_connection_for_another_organisation_and_bad_credentials_fail() {
    let setup = setup().await;
    let other = "b7e2d3c4-8a1f-4e6b-a2d9-3c5f7e9b1a02";
    let text = setup.config_text().replacen(
        &format!("tenant = \"{}\"", xcs_xero_sim::DEMO_NZ_TENANT_ID),
        &format!("tenant = \"{other}\""),
        1,
    );
    let report = setup.check(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero tenant b7e2d3c4", "does not reach");
    assert!(line.next.as_deref().unwrap().contains("tenant"));

    let text = setup.config_text().replace(
        xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_SECRET,
        "not-the-secret",
    );
    let report = setup.check(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero tenant a3a6c1f2", "refused");
    assert!(
        line.next.as_deref().unwrap().contains("client_secret"),
        "{line:?}"
    );
}

#[tokio::test]
async fn webhook_secrets_are_checked_against_the_ingress_config() {
    let setup = setup().await;
    let tenant = xcs_xero_sim::DEMO_NZ_TENANT_ID;
    let dir = std::env::temp_dir().join(format!("xcs-check-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("ingress.toml");
    let amqp = setup.broker.amqp_uri();
    std::fs::write(
        &good,
        format!(
            r#"
[amqp]
uri = "{amqp}"
[shops.nz-shopify]
platform = "shopify"
tenant = "{tenant}"
secrets = ["shpss_one", "shpss_two"]
[shops.nz-woo]
platform = "woocommerce"
tenant = "{tenant}"
secrets = ["woo secret"]
"#
        ),
    )
    .unwrap();
    let report = setup
        .check(
            &setup.config_text(),
            &CheckOptions {
                ingress_config: Some(good),
            },
        )
        .await;
    assert!(report.passed(), "{}", report.render_text());
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.subject == "webhooks nz-shopify" && l.detail.contains("2 signing key")),
        "{}",
        report.render_text()
    );

    let bad = dir.join("ingress-bad.toml");
    std::fs::write(
        &bad,
        format!(
            r#"
[amqp]
uri = "{amqp}"
[shops.nz-shopify]
platform = "shopify"
tenant = "{tenant}"
secrets = ["shpss_one"]
[shops.stray]
platform = "shopify"
tenant = "{tenant}"
secrets = ["x"]
"#
        ),
    )
    .unwrap();
    let report = setup
        .check(
            &setup.config_text(),
            &CheckOptions {
                ingress_config: Some(bad),
            },
        )
        .await;
    failure(
        &report,
        "webhooks nz-woo",
        "the ingress has no [shops.nz-woo]",
    );
    failure(&report, "webhooks stray", "dead-lettered");
    let _ = std::fs::remove_dir_all(dir);
}
