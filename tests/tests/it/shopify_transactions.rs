//! A Shopify order paid through several gateways (a gift card and a card): the order webhook
//! does not say how the total was split, so the processor fetches the order's transactions
//! from the Admin REST API (the fake in `xcs_tests::platform_api`) and books one payment per
//! successful sale, the gift card's out of the gift-card liability and the card's into
//! clearing. Without an `[api]` section the invoice is booked unpaid; refused credentials
//! dead-letter the event; an outage is retried. Each test has its own vhost, schema,
//! simulator and fake API.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::{Landed, TestBroker};
use xcs_tests::platform_api::{FakePlatformApi, shopify_transactions_path};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, ShopToml, TestProcessor, amount, invoices_numbered, one_invoice, payment_lines, publish,
    shop_toml, test_config, wait_handled,
};
use xcs_xero_sim::{RunningSim, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(20);

/// A Shopify shop with its Admin API configured (the built-in [`SHOP`] has none).
const API_SHOP: &str = "nz-shopify-api";

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// `orders/paid` for `id` (`#number`): 63.25 NZD (two mugs and shipping, 8.25 GST), paid
/// 20.00 with a gift card and 43.25 by card.
fn split_order(id: u64, number: u64) -> Value {
    let mut order: Value =
        serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(id, number, true)).unwrap();
    order["gateway"] = json!("gift_card");
    order["payment_gateway_names"] = json!(["gift_card", "shopify_payments"]);
    order
}

/// One transaction as `GET /admin/api/{version}/orders/{id}/transactions.json` lists it: the
/// amount in the presentment currency, no money bag.
fn transaction(id: u64, order_id: u64, gateway: &str, amount: &str, status: &str) -> Value {
    json!({
        "id": id,
        "order_id": order_id,
        "kind": "sale",
        "gateway": gateway,
        "status": status,
        "message": if status == "success" { "Transaction approved" } else { "Card declined" },
        "created_at": "2026-11-20T10:00:00+13:00",
        "processed_at": "2026-11-20T10:00:00+13:00",
        "test": false,
        "authorization": null,
        "parent_id": null,
        "amount": amount,
        "currency": "NZD",
        "source_name": "web",
        "error_code": if status == "success" { Value::Null } else { json!("card_declined") },
        "payment_id": format!("#{order_id}.{id}"),
    })
}

/// The order's transactions: the gift card's 20.00, a declined card attempt, then the card's
/// 43.25.
fn split_transactions(order_id: u64) -> Value {
    json!({"transactions": [
        transaction(9_001, order_id, "gift_card", "20.00", "success"),
        transaction(9_002, order_id, "shopify_payments", "43.25", "failure"),
        transaction(9_003, order_id, "shopify_payments", "43.25", "success"),
    ]})
}

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
    /// The test config plus [`API_SHOP`] with `api` (an inline table), paying into 615 like
    /// [`SHOP`] and selling gift cards against 825.
    fn config(&self, api: &str) -> String {
        let shop = shop_toml(&ShopToml {
            name: API_SHOP,
            platform: Platform::Shopify,
            tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix: "SA-",
            clearing: "615",
            api: Some(api),
        });
        test_config(&self.broker, &self.schema, &self.sim, &shop)
    }

    async fn publish(&self, shop: &str, id: &str, body: &Value) -> String {
        let event_id = format!("shopify:{shop}:{id}");
        publish(
            &self.broker,
            Platform::Shopify,
            shop,
            EventKind::Order,
            "orders/paid",
            &event_id,
            &serde_json::to_vec(body).unwrap(),
        )
        .await;
        event_id
    }

    async fn booked(&self, event_id: &str) {
        let (outcome, detail) = wait_handled(&self.schema, event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{event_id}: {detail}");
    }

    fn invoice(&self, number: &str) -> Value {
        one_invoice(&self.sim, number)
    }

    /// The payments on a document as (account code, amount), smallest first.
    fn payments(&self, invoice: &Value) -> Vec<(String, Decimal)> {
        payment_lines(&self.sim, invoice)
    }

    /// The one event the dead queue receives.
    async fn dead_letter(&self) -> Landed {
        self.broker.one_dead_letter(HANDLED).await
    }
}

#[tokio::test]
async fn a_gift_card_and_card_order_fetches_its_transactions_and_books_two_payments_to_the_cent() {
    let setup = setup().await;
    let api = FakePlatformApi::start(Platform::Shopify).await;
    api.put(&shopify_transactions_path(5101), split_transactions(5101));
    let processor = TestProcessor::start(&setup.config(&api.api_toml())).await;

    let event = setup
        .publish(API_SHOP, "split-5101", &split_order(5101, 1101))
        .await;
    setup.booked(&event).await;

    let invoice = setup.invoice("SA-1101");
    assert_eq!(amount(&invoice["Total"]), dec("63.25"));
    assert_eq!(amount(&invoice["TotalTax"]), dec("8.25"));
    assert_eq!(invoice["Status"], "PAID", "{invoice:#}");
    assert_eq!(amount(&invoice["AmountDue"]), Decimal::ZERO);
    // The gift card out of the liability, the card into clearing; the declined attempt is no
    // payment.
    assert_eq!(
        setup.payments(&invoice),
        [
            ("825".to_owned(), dec("20.00")),
            ("615".to_owned(), dec("43.25"))
        ]
    );
    assert_eq!(
        api.request_count(&shopify_transactions_path(5101)),
        1,
        "{:?}",
        api.requests()
    );

    // An order through one gateway is paid through it without asking the API.
    let mut single: Value =
        serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(5102, 1102, true)).unwrap();
    single["payment_gateway_names"] = json!(["shopify_payments"]);
    let event = setup.publish(API_SHOP, "single-5102", &single).await;
    setup.booked(&event).await;
    assert_eq!(
        setup.payments(&setup.invoice("SA-1102")),
        [("615".to_owned(), dec("63.25"))]
    );
    assert_eq!(api.requests().len(), 1, "{:?}", api.requests());
    processor.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn without_an_api_section_a_split_payment_order_is_booked_unpaid_and_recorded() {
    let setup = setup().await;
    // Only the built-in shop, which has no [api] section.
    let processor =
        TestProcessor::start(&test_config(&setup.broker, &setup.schema, &setup.sim, "")).await;

    let event = setup
        .publish(SHOP, "split-5201", &split_order(5201, 1201))
        .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event, HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");

    let invoice = setup.invoice("SH-1201");
    assert_eq!(invoice["Status"], "AUTHORISED", "{invoice:#}");
    assert_eq!(amount(&invoice["Total"]), dec("63.25"));
    assert_eq!(
        amount(&invoice["AmountDue"]),
        dec("63.25"),
        "the split is unknown: no payment is guessed"
    );
    assert!(setup.payments(&invoice).is_empty());
    assert_eq!(
        setup.broker.depth(xcs_shared::topology::DEAD_QUEUE).await,
        0
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_refused_shopify_access_token_dead_letters_the_order_naming_the_shop_and_the_token() {
    let setup = setup().await;
    let api = FakePlatformApi::start(Platform::Shopify).await;
    api.put(&shopify_transactions_path(5301), split_transactions(5301));
    let revoked = "shpat_revoked0000000000000000000000";
    let processor = TestProcessor::start(&setup.config(&api.api_toml_with(revoked, ""))).await;

    setup
        .publish(API_SHOP, "split-5301", &split_order(5301, 1301))
        .await;
    let dead = setup.dead_letter().await;
    assert_eq!(dead.header("xcs-reason"), Some("platform_credentials"));
    let error = dead.header("xcs-last-error").unwrap();
    for needle in [
        "401",
        "Shopify shop nz-shopify-api",
        "[shops.nz-shopify-api.api]",
        "XCS_SHOP_NZ_SHOPIFY_API_API_TOKEN",
        "read_orders",
    ] {
        assert!(error.contains(needle), "{needle:?} in {error}");
    }
    assert!(
        !error.contains(revoked),
        "no secret in the dead letter: {error}"
    );
    assert_eq!(
        api.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [401]
    );
    assert!(invoices_numbered(&setup.sim, "SA-1301").is_empty());
    processor.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn a_shopify_api_answering_503_is_retried_and_the_order_booked_with_both_payments() {
    let setup = setup().await;
    let api = FakePlatformApi::start(Platform::Shopify).await;
    api.put(&shopify_transactions_path(5401), split_transactions(5401));
    api.fail_next(1);
    let processor = TestProcessor::start(&setup.config(&api.api_toml())).await;

    let event = setup
        .publish(API_SHOP, "split-5401", &split_order(5401, 1401))
        .await;
    let (outcome, detail) = wait_handled(&setup.schema, &event, Duration::from_secs(40)).await;
    assert_eq!(outcome, "booked", "{detail}");
    assert_eq!(
        setup.payments(&setup.invoice("SA-1401")),
        [
            ("825".to_owned(), dec("20.00")),
            ("615".to_owned(), dec("43.25"))
        ]
    );
    assert_eq!(
        api.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [503, 200],
        "not booked unpaid meanwhile"
    );
    assert_eq!(
        setup.broker.depth(xcs_shared::topology::DEAD_QUEUE).await,
        0
    );
    processor.stop().await;
    api.stop().await;
}

/// A 404 caused by the shop's own settings (an Admin API version Shopify does not serve) is no
/// bad payload: the event is dead-lettered as `platform_api_misconfigured` with the settings to
/// fix, `check` fails the shop before any event, and once the settings are right a 404 names
/// the missing resource instead.
#[tokio::test]
async fn a_404_from_the_shops_own_settings_is_a_misconfiguration_not_a_bad_payload() {
    let setup = setup().await;
    let api = FakePlatformApi::start(Platform::Shopify).await;
    let wrong_version = api
        .api_toml()
        .replace(" }", r#", api_version = "2019-04" }"#);
    let config_toml = setup.config(&wrong_version);

    let config =
        xcs_processor::config::Config::from_toml(&config_toml, |_| None).expect("a valid config");
    let options = xcs_processor::setup::check::CheckOptions {
        ingress_config: None,
    };
    let report = xcs_processor::setup::check::run(&config, &options).await;
    let line = report
        .lines
        .iter()
        .find(|line| line.subject == format!("platform api {API_SHOP}"))
        .expect("check looks at the shop's API");
    assert_eq!(line.status, xcs_processor::setup::Status::Fail, "{line:?}");
    assert!(
        line.detail.contains("/admin/api/2019-04/shop.json"),
        "{line:?}"
    );
    assert!(
        line.next.as_deref().unwrap_or("").contains("api_version"),
        "{line:?}"
    );

    let processor = TestProcessor::start(&config_toml).await;
    setup
        .publish(API_SHOP, "split-5601", &split_order(5601, 1601))
        .await;
    let dead = setup.dead_letter().await;
    assert_eq!(
        dead.header("xcs-reason"),
        Some("platform_api_misconfigured")
    );
    let error = dead.header("xcs-last-error").unwrap();
    for needle in [
        "2019-04",
        "api_version",
        "dead replay --reason platform_api_misconfigured",
    ] {
        assert!(error.contains(needle), "{needle:?} in {error}");
    }
    processor.stop().await;

    // Right settings, an order the store does not have: the resource is named as missing.
    let processor = TestProcessor::start(&setup.config(&api.api_toml())).await;
    setup
        .publish(API_SHOP, "split-5602", &split_order(5602, 1602))
        .await;
    let dead = setup.dead_letter().await;
    assert_eq!(dead.header("xcs-reason"), Some("platform_resource_missing"));
    assert!(
        dead.header("xcs-last-error")
            .unwrap()
            .contains("/orders/5602/transactions.json"),
        "{:?}",
        dead.header("xcs-last-error")
    );
    processor.stop().await;
    api.stop().await;
}
