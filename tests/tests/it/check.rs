//! `xcs-processor check` against the Xero simulator, the real RabbitMQ (a vhost of its own)
//! and the real PostgreSQL (a schema of its own): a good setup passes, and each kind of bad
//! mapping fails with a line that names the field and says what to do.

use xcs_processor::config::Config;
use xcs_processor::setup::check::{self, CheckOptions};
use xcs_processor::setup::{Report, Status};
use xcs_tests::broker::TestBroker;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::Rig;
use xcs_xero_sim::{SimConfig, XeroSim};

/// `check` on the processor config `text`.
async fn check_text(text: &str, options: &CheckOptions) -> Report {
    let config = Config::from_toml(text, |_| None).expect("a valid config");
    check::run(&config, options).await
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
    let setup = Rig::new().await;
    let report = check_text(&setup.config(""), &CheckOptions::default()).await;
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
    let setup = Rig::new().await;
    // The Shopify shop's mapping, broken in every way at once; the demo chart has 299 Old
    // Sales archived, 400 Advertising (an expense), 620 Prepayments (no payments), tax type
    // OUTPUT archived and ZERORATED active.
    let text = setup
        .config("")
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
    let report = check_text(&text, &CheckOptions::default()).await;
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
    let setup = Rig::new().await;
    let text = setup
        .config("")
        .replacen(
            "by_rate = { \"15\" = \"OUTPUT2\" }",
            "by_rate = { \"15\" = \"INPUT2\" }",
            1,
        )
        .replacen("gift_cards = \"825\"", "gift_cards = \"820\"", 1);
    let report = check_text(&text, &CheckOptions::default()).await;
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
    let setup = Rig {
        broker: TestBroker::empty().await,
        schema: TestSchema::new(),
        sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
    };
    let report = check_text(&setup.config(""), &CheckOptions::default()).await;
    let line = failure(&report, "RabbitMQ", "missing");
    assert!(line.detail.contains("exchange xcs.events"), "{line:?}");
    assert!(line.detail.contains("queue xcs.shard.0"), "{line:?}");
    assert!(line.next.as_deref().unwrap().contains("import_definitions"));
}

#[tokio::test]
async fn a_custom_connection_for_another_organisation_and_bad_credentials_fail() {
    let setup = Rig::new().await;
    let other = "b7e2d3c4-8a1f-4e6b-a2d9-3c5f7e9b1a02";
    let text = setup.config("").replacen(
        &format!("tenant = \"{}\"", xcs_xero_sim::DEMO_NZ_TENANT_ID),
        &format!("tenant = \"{other}\""),
        1,
    );
    let report = check_text(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero tenant b7e2d3c4", "does not reach");
    assert!(line.next.as_deref().unwrap().contains("tenant"));

    let text = setup.config("").replace(
        xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_SECRET,
        "not-the-secret",
    );
    let report = check_text(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero tenant a3a6c1f2", "refused");
    assert!(
        line.next.as_deref().unwrap().contains("client_secret"),
        "{line:?}"
    );
}

#[tokio::test]
async fn webhook_secrets_are_checked_against_the_ingress_config() {
    let setup = Rig::new().await;
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
    let report = check_text(
        &setup.config(""),
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
    let report = check_text(
        &setup.config(""),
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

#[tokio::test]
async fn an_item_code_xero_does_not_have_fails_naming_the_code_and_the_fix() {
    let setup = Rig::new().await;
    // The demo company has one item, SKU-1.
    let text = setup.config("").replacen(
        "document_prefix = \"SH-\"",
        "document_prefix = \"SH-\"\nitems = { \"RED-XL\" = \"SHIRT-RED-XL\", \"W-1\" = \"sku-1\" }",
        1,
    );
    let report = check_text(&text, &CheckOptions::default()).await;
    assert!(!report.passed(), "{}", report.render_text());
    let line = failure(
        &report,
        "shop nz-shopify",
        "items.\"RED-XL\" = \"SHIRT-RED-XL\"",
    );
    assert!(line.detail.contains("no item with that code"), "{line:?}");
    let next = line.next.as_deref().unwrap();
    assert!(
        next.contains("create the item SHIRT-RED-XL") && next.contains("SKU-1"),
        "{line:?}"
    );
    // The known code (Xero compares item codes without case) is not reported.
    assert!(
        !report.render_text().contains("\"W-1\""),
        "{}",
        report.render_text()
    );
}

/// A config for the simulator's OAuth app (the authorization-code flow's tokens stored in the
/// ledger), with `secret` as the app's client secret.
fn oauth_config(setup: &Rig, secret: &str) -> String {
    setup
        .config("")
        .replace("auth = \"custom_connection\"", "auth = \"oauth\"")
        .replace(
            &format!(
                "client_id = \"{}\"",
                xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_ID
            ),
            &format!("client_id = \"{}\"", xcs_xero_sim::DEMO_APP_CLIENT_ID),
        )
        .replace(
            &format!(
                "client_secret = \"{}\"",
                xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_SECRET
            ),
            &format!("client_secret = \"{secret}\""),
        )
}

#[tokio::test]
async fn a_wrong_client_secret_fails_while_the_access_token_is_still_valid() {
    let setup = Rig::new().await;
    let good = oauth_config(&setup, xcs_xero_sim::DEMO_APP_CLIENT_SECRET);
    // Ensure the schema exists (check migrates it), then store what `connect` would have.
    let first = check_text(&good, &CheckOptions::default()).await;
    assert!(
        first
            .failures()
            .any(|l| l.detail.contains("no organisation")),
        "{}",
        first.render_text()
    );
    let tokens = setup
        .sim
        .issue_tokens(
            xcs_xero_sim::DEMO_APP_CLIENT_ID,
            &[xcs_xero_sim::DEMO_NZ_TENANT_ID],
        )
        .unwrap();
    let first_refresh = tokens.refresh_token.clone().unwrap();
    let db = setup.schema.client().await;
    db.execute(
        "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
         VALUES ('default', $1, $2, now() + interval '30 minutes')",
        &[&first_refresh, &tokens.access_token],
    )
    .await
    .unwrap();
    let stored = || async {
        db.query_one(
            "SELECT refresh_token FROM xcs_xero_tokens WHERE connection = 'default'",
            &[],
        )
        .await
        .unwrap()
        .get::<_, String>(0)
    };

    // The wrong secret: the valid access token would reach Xero, but check asks the identity
    // service, and says the fix is the secret, not connecting again.
    let report = check_text(
        &oauth_config(&setup, "not-the-secret"),
        &CheckOptions::default(),
    )
    .await;
    assert!(!report.passed(), "{}", report.render_text());
    let line = failure(&report, "Xero credentials", "client id or secret");
    let next = line.next.as_deref().unwrap();
    assert!(next.contains("client_secret"), "{line:?}");
    assert!(next.contains("does not help"), "{line:?}");
    assert_eq!(
        stored().await,
        first_refresh,
        "a refused refresh stores nothing"
    );

    // The right secret: the refresh rotates the refresh token, and the new one is stored.
    let report = check_text(&good, &CheckOptions::default()).await;
    assert!(report.passed(), "{}", report.render_text());
    let line = report
        .lines
        .iter()
        .find(|l| l.subject == "Xero credentials")
        .expect("a credentials line");
    assert_eq!(line.status, Status::Ok, "{line:?}");
    assert!(line.detail.contains("refreshed"), "{line:?}");
    let rotated = stored().await;
    assert_ne!(
        rotated, first_refresh,
        "the rotated refresh token is stored"
    );
    // Once the old refresh token's grace period is over, the stored one is what works.
    setup
        .sim
        .advance_clock(std::time::Duration::from_secs(31 * 60));
    let report = check_text(&good, &CheckOptions::default()).await;
    assert!(report.passed(), "{}", report.render_text());
}

#[tokio::test]
async fn a_custom_connection_secret_is_proved_and_defaults_are_marked() {
    let setup = Rig::new().await;
    let report = check_text(&setup.config(""), &CheckOptions::default()).await;
    let line = report
        .lines
        .iter()
        .find(|l| l.subject == "Xero credentials")
        .expect("a credentials line");
    assert_eq!(line.status, Status::Ok, "{line:?}");
    assert!(line.detail.contains("Custom Connection token"), "{line:?}");
    // The test config sets no tax.no_tax: the report says NONE is the default.
    let shop = report
        .lines
        .iter()
        .find(|l| l.subject == "shop nz-shopify")
        .unwrap();
    assert!(
        shop.detail.contains("tax.no_tax = \"NONE\" is the default"),
        "{shop:?}"
    );
    let text = setup.config("").replace(
        xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_SECRET,
        "not-the-secret",
    );
    let report = check_text(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero credentials", "client id or secret");
    assert!(
        line.next.as_deref().unwrap().contains("client_secret"),
        "{line:?}"
    );
}

/// Sales tax booked as lines goes to liability accounts the shop names: Xero refuses its GST
/// or sales-tax system account on a line, so `check` fails it before the first order does.
#[tokio::test]
async fn a_sales_tax_liability_xero_refuses_on_lines_fails_naming_the_jurisdiction() {
    let setup = Rig::new().await;
    let text = setup.config("").replacen(
        "by_rate = { \"15\" = \"OUTPUT2\" }\nuntaxed = \"ZERORATED\"",
        "mode = \"sales_tax_lines\"\nuntaxed = \"NONE\"\nliability = \"825\"\n\
         by_jurisdiction = { \"GST\" = \"820\" }",
        1,
    );
    assert_ne!(text, setup.config(""), "the shop's tax table was rewritten");
    let report = check_text(&text, &CheckOptions::default()).await;
    let line = failure(
        &report,
        "shop nz-shopify",
        "tax.by_jurisdiction.\"GST\" = \"820\"",
    );
    assert!(
        line.detail.contains("GST system account") && line.detail.contains("liability"),
        "{line:?}"
    );
    assert!(
        !report
            .failures()
            .any(|l| l.detail.contains("tax.liability = \"825\"")),
        "825 is a liability lines may use"
    );
}

/// A shop in `inventory = "items"` mode: `check` proves the connection may create items, and
/// names each `mapping.items` code Xero lacks (in items mode it would be made anew on the first
/// order instead of booking to the seller's item).
#[tokio::test]
async fn items_mode_checks_the_scope_that_creates_items_and_the_mapped_item_codes() {
    let items_mode = |rig: &Rig| {
        rig.config("").replacen(
            "document_prefix = \"SH-\"",
            "document_prefix = \"SH-\"\nitems = { \"RED-XL\" = \"SHIRT-RED-XL\", \"W-1\" = \"sku-1\" }",
            1,
        )
        .replacen("[shops.nz-shopify]\n", "[shops.nz-shopify]\ninventory = \"items\"\n", 1)
    };
    // The Custom Connection has every scope the processor needs: items can be created.
    let rig = Rig::new().await;
    let report = check_text(&items_mode(&rig), &CheckOptions::default()).await;
    let scope = report
        .lines
        .iter()
        .find(|l| l.subject == "Xero items scope")
        .expect("a line about the items scope");
    assert_eq!(scope.status, Status::Ok, "{scope:?}");
    assert!(scope.detail.contains("nz-shopify"), "{scope:?}");
    let line = failure(
        &report,
        "shop nz-shopify",
        "items.\"RED-XL\" = \"SHIRT-RED-XL\"",
    );
    assert!(
        line.detail.contains("would make a new item SHIRT-RED-XL"),
        "{line:?}"
    );
    assert!(
        line.next
            .as_deref()
            .unwrap()
            .contains("create the item SHIRT-RED-XL"),
        "{line:?}"
    );
    assert!(
        !report.render_text().contains("\"W-1\""),
        "{}",
        report.render_text()
    );

    // An older app's Custom Connection with the broad scopes but not accounting.settings: it
    // may book, not create items.
    let mut seed = xcs_xero_sim::seed::Seed::demo();
    for app in &mut seed.apps {
        if app.client_id == xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_ID {
            app.custom_connection_scopes = Some(
                "accounting.transactions accounting.contacts accounting.settings.read".to_owned(),
            );
        }
    }
    let rig = Rig::on(SimConfig::demo().with_seed(seed)).await;
    let text = items_mode(&rig).replacen(
        "auth = \"custom_connection\"\n",
        "auth = \"custom_connection\"\nscopes = \"broad\"\n",
        1,
    );
    let report = check_text(&text, &CheckOptions::default()).await;
    let line = failure(&report, "Xero items scope", "accounting.settings");
    assert!(line.detail.contains("nz-shopify"), "{line:?}");
    let next = line.next.as_deref().unwrap();
    assert!(
        next.contains("Custom Connection") && next.contains("inventory = \"off\""),
        "{line:?}"
    );
    // Booking itself is covered: no other scope is reported missing.
    assert!(
        !report.failures().any(|l| l.subject == "Xero scopes"),
        "{}",
        report.render_text()
    );

    // A shop left off has no items-scope line.
    let report = check_text(
        &rig.config("").replacen(
            "auth = \"custom_connection\"\n",
            "auth = \"custom_connection\"\nscopes = \"broad\"\n",
            1,
        ),
        &CheckOptions::default(),
    )
    .await;
    assert!(
        !report.lines.iter().any(|l| l.subject == "Xero items scope"),
        "{}",
        report.render_text()
    );
}

/// The Shopify shop with `payouts = true`, its API on `fake` and `[mapping.payouts]` set to
/// `mapping` (TOML lines).
fn with_payouts(
    rig: &Rig,
    fake: &xcs_tests::platform_api::FakePlatformApi,
    mapping: &str,
) -> String {
    let text = rig
        .config("")
        .replacen(
            "[shops.nz-shopify]\n",
            &format!("[shops.nz-shopify]\npayouts = true\napi = {}\n", fake.api_toml()),
            1,
        )
        .replacen(
            "[shops.nz-shopify.mapping.accounts]\n",
            &format!("[shops.nz-shopify.mapping.payouts]\n{mapping}\n[shops.nz-shopify.mapping.accounts]\n"),
            1,
        );
    assert!(
        text.contains("[shops.nz-shopify.mapping.payouts]"),
        "the shop's tables moved"
    );
    text
}

/// A shop with `payouts = true`: its payouts mapping is checked against the chart of accounts
/// and tax rates, the shop's line says which way each deposit is booked, and the token's scope
/// for bank transfers and transactions is proved.
#[tokio::test]
async fn a_good_payouts_mapping_passes_and_says_how_deposits_are_booked() {
    let rig = Rig::new().await;
    let fake = xcs_tests::platform_api::FakePlatformApi::start(xcs_shared::Platform::Shopify).await;
    // The demo chart: 615 Shopify Clearing has payments enabled, 090 and 091 are NZD BANK
    // accounts, 404 and 405 expenses, 620 Prepayments a current asset.
    let good = "bank_accounts = { NZD = \"090\" }\nfees = \"404\"\n\
                fee_accounts = { listing = \"405\" }\nfee_tax_type = \"INPUT2\"\n\
                adjustments = { other = \"429\", reserve = \"620\" }";
    let report = check_text(&with_payouts(&rig, &fake, good), &CheckOptions::default()).await;
    let text = report.render_text();
    assert!(report.passed(), "{text}");
    let shop = report
        .lines
        .iter()
        .find(|l| l.subject == "shop nz-shopify")
        .expect("a line about the shop");
    assert_eq!(shop.status, Status::Ok, "{shop:?}");
    assert!(
        shop.detail.contains("payouts: 6 accounts and 2 tax types")
            && shop.detail.contains("money received in the bank account"),
        "{shop:?}"
    );
    let scope = report
        .lines
        .iter()
        .find(|l| l.subject == "Xero payouts scope")
        .expect("a line about the payouts scope");
    assert_eq!(scope.status, Status::Ok, "{scope:?}");

    // A BANK account as clearing: each payout is a bank transfer.
    let transfer = format!("clearing = \"091\"\n{good}");
    let report = check_text(
        &with_payouts(&rig, &fake, &transfer),
        &CheckOptions::default(),
    )
    .await;
    assert!(report.passed(), "{}", report.render_text());
    assert!(
        report
            .lines
            .iter()
            .any(|l| l.subject == "shop nz-shopify" && l.detail.contains("bank transfer from it")),
        "{}",
        report.render_text()
    );

    // The shop without payouts has no payouts scope line and no payouts in its line.
    let report = check_text(&rig.config(""), &CheckOptions::default()).await;
    assert!(
        !report
            .lines
            .iter()
            .any(|l| l.subject == "Xero payouts scope" || l.detail.contains("payouts:")),
        "{}",
        report.render_text()
    );
    fake.stop().await;
}

#[tokio::test]
async fn each_kind_of_bad_payouts_mapping_fails_with_what_to_do() {
    let rig = Rig::new().await;
    let fake = xcs_tests::platform_api::FakePlatformApi::start(xcs_shared::Platform::Shopify).await;
    // 620 Prepayments has no payments; 615 is not a BANK account; 091 is an NZD account; 200
    // Sales is income; 299 Old Sales is archived; 820 is the GST system account; OUTPUT2 is
    // an income tax type.
    let bad = "clearing = \"620\"\nbank_accounts = { NZD = \"615\", USD = \"091\" }\n\
               fees = \"200\"\nfee_accounts = { listing = \"405\", ads = \"999\" }\n\
               fee_tax_type = \"OUTPUT2\"\nuntaxed_tax_type = \"EXEMPT99\"\n\
               adjustments = { other = \"299\", reserve = \"820\" }";
    let report = check_text(&with_payouts(&rig, &fake, bad), &CheckOptions::default()).await;
    assert!(!report.passed(), "{}", report.render_text());
    let shop = "shop nz-shopify";
    let clearing = failure(&report, shop, "payouts.clearing = \"620\"");
    assert!(
        clearing.detail.contains("BANK account") && clearing.detail.contains("payments enabled"),
        "{clearing:?}"
    );
    assert!(
        clearing
            .next
            .as_deref()
            .unwrap()
            .contains("Enable payments"),
        "{clearing:?}"
    );
    let not_bank = failure(&report, shop, "payouts.bank_accounts.NZD = \"615\"");
    assert!(not_bank.detail.contains("type CURRENT"), "{not_bank:?}");
    assert!(
        not_bank
            .next
            .as_deref()
            .unwrap()
            .contains("090 Business Bank Account"),
        "{not_bank:?}"
    );
    let currency = failure(&report, shop, "payouts.bank_accounts.USD = \"091\"");
    assert!(
        currency
            .detail
            .contains("is a NZD bank account; USD payouts"),
        "{currency:?}"
    );
    assert!(
        currency.next.as_deref().unwrap().contains("currency USD"),
        "{currency:?}"
    );
    let unknown = failure(&report, shop, "payouts.fee_accounts.\"ads\" = \"999\"");
    assert!(
        unknown.detail.contains("no account with that code"),
        "{unknown:?}"
    );
    let archived = failure(&report, shop, "payouts.adjustments.other = \"299\"");
    assert!(archived.detail.contains("ARCHIVED"), "{archived:?}");
    assert!(archived.next.as_deref().unwrap().contains("Restore"));
    let system = failure(&report, shop, "payouts.adjustments.reserve = \"820\"");
    assert!(system.detail.contains("GST system account"), "{system:?}");
    let fee_tax = failure(&report, shop, "payouts.fee_tax_type = \"OUTPUT2\"");
    assert!(
        fee_tax
            .detail
            .contains("cannot be used on expenses accounts"),
        "{fee_tax:?}"
    );
    assert!(
        fee_tax.next.as_deref().unwrap().contains("INPUT2"),
        "{fee_tax:?}"
    );
    let untaxed = failure(&report, shop, "payouts.untaxed_tax_type = \"EXEMPT99\"");
    assert!(untaxed.detail.contains("no such tax type"), "{untaxed:?}");
    // A fee on an income account works, but looks wrong: a warning, not a failure.
    let income = report
        .lines
        .iter()
        .find(|l| l.subject == shop && l.detail.contains("payouts.fees = \"200\""))
        .expect("a line about the income fee account");
    assert_eq!(income.status, Status::Warn, "{income:?}");
    assert!(
        income.detail.contains("not an expense account"),
        "{income:?}"
    );
    fake.stop().await;
}

/// A Custom Connection without `accounting.banktransactions`: it may book orders, not move a
/// payout's deposit to the bank.
#[tokio::test]
async fn a_token_without_the_bank_transactions_scope_fails_for_a_shop_with_payouts() {
    let mut seed = xcs_xero_sim::seed::Seed::demo();
    for app in &mut seed.apps {
        if app.client_id == xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_ID {
            app.custom_connection_scopes = Some(
                "accounting.invoices accounting.payments accounting.contacts \
                 accounting.settings.read"
                    .to_owned(),
            );
        }
    }
    let rig = Rig::on(SimConfig::demo().with_seed(seed)).await;
    let fake = xcs_tests::platform_api::FakePlatformApi::start(xcs_shared::Platform::Shopify).await;
    let mapping =
        "bank_accounts = { NZD = \"090\" }\nfees = \"404\"\nadjustments = { other = \"429\" }";
    let report = check_text(
        &with_payouts(&rig, &fake, mapping),
        &CheckOptions::default(),
    )
    .await;
    let line = failure(&report, "Xero payouts scope", "accounting.banktransactions");
    assert!(line.detail.contains("nz-shopify"), "{line:?}");
    let next = line.next.as_deref().unwrap();
    assert!(
        next.contains("Custom Connection") && next.contains("payouts = false"),
        "{line:?}"
    );
    assert!(
        !report.failures().any(|l| l.subject == "Xero scopes"),
        "{}",
        report.render_text()
    );
    fake.stop().await;
}
