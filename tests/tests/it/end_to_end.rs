//! The whole way through: a webhook signed as the platform signs it is posted to the real
//! ingress, which verifies, classifies and publishes it to RabbitMQ; the processor consumes it,
//! fetches what a thin webhook leaves out from the fake platform API, and books it in the Xero
//! simulator's NZ demo company. Each test has its own vhost, schema, simulator, fake API,
//! ingress and processor.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::Platform;
use xcs_tests::broker::TestBroker;
use xcs_tests::ingress::TestIngress;
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    BIGCOMMERCE_SHOP, SHOP, TestProcessor, WOO_API_SHOP, WOO_SHOP, XeroLine, amount,
    credit_notes_numbered, one_invoice, payment_lines, platform_shop, test_config, wait_handled,
};
use xcs_tests::signer::{self, Delivery};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, RunningSim, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(20);

const SHOPIFY_SECRET: &str = "shpss_nz_shop_client_secret";
/// WooCommerce secrets are whatever the merchant typed.
const WOO_SECRET: &str = "kete shop secret: 7 words & punctuation!";
const WOO_API_SECRET: &str = "kete-api-shop-webhook-secret";
/// BigCommerce keys Standard Webhooks with the app's raw client secret.
const BIGCOMMERCE_SECRET: &str = "bc_nz_app_client_secret";

/// An ingress config whose shops book into the simulator's NZ demo company, under the names the
/// processor's config gives them.
fn ingress_config(amqp_uri: &str) -> String {
    let tenant = DEMO_NZ_TENANT_ID;
    let shop = |name: &str, platform: &str, secret: &str| {
        format!(
            "[shops.{name}]\nplatform = \"{platform}\"\ntenant = \"{tenant}\"\nsecrets = [{}]\n",
            toml::Value::String(secret.to_owned())
        )
    };
    [
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n[amqp]\nuri = \"{amqp_uri}\"\n\
             reconnect_max_backoff_ms = 500\n"
        ),
        shop(SHOP, "shopify", SHOPIFY_SECRET),
        shop(WOO_SHOP, "woocommerce", WOO_SECRET),
        shop(WOO_API_SHOP, "woocommerce", WOO_API_SECRET),
        shop(BIGCOMMERCE_SHOP, "bigcommerce", BIGCOMMERCE_SECRET),
    ]
    .concat()
}

struct Stack {
    // Fields drop in order: the ingress and processor before the broker vhost they use.
    ingress: TestIngress,
    processor: TestProcessor,
    schema: TestSchema,
    sim: RunningSim,
    _broker: TestBroker,
}

/// The whole stack, the processor with the extra `shops` sections.
async fn start(shops: &[String]) -> Stack {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor =
        TestProcessor::start(&test_config(&broker, &schema, &sim, &shops.concat())).await;
    let ingress = TestIngress::start(&ingress_config(&broker.amqp_uri())).await;
    ingress.wait_ready().await;
    Stack {
        ingress,
        processor,
        schema,
        sim,
        _broker: broker,
    }
}

impl Stack {
    /// Posts the delivery, asserts the ingress published it as `kind`, waits until the
    /// processor booked it, and returns its event id.
    async fn deliver(&self, delivery: &Delivery, kind: &str) -> String {
        let response = self.ingress.send(delivery).await;
        let status = response.status();
        let answer: Value = response.json().await.expect("a JSON answer");
        assert_eq!(status, 200, "{answer}");
        assert_eq!(
            (answer["status"].as_str(), answer["kind"].as_str()),
            (Some("published"), Some(kind)),
            "{answer}"
        );
        let event_id = answer["event_id"].as_str().expect("an event id").to_owned();
        let (outcome, detail) = wait_handled(&self.schema, &event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{event_id}: {detail}");
        event_id
    }

    fn invoice(&self, number: &str) -> Value {
        one_invoice(&self.sim, number)
    }

    /// The payments on a document as (account code, amount), smallest first.
    fn payments(&self, document: &Value) -> Vec<(String, Decimal)> {
        payment_lines(&self.sim, document)
    }

    async fn stop(self) {
        self.ingress.stop().await;
        self.processor.stop().await;
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn totals(document: &Value) -> (String, String, Decimal, Decimal) {
    (
        document["Status"].as_str().unwrap_or_default().to_owned(),
        document["CurrencyCode"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        amount(&document["Total"]),
        amount(&document["TotalTax"]),
    )
}

/// A Shopify `orders/paid` body from a New Zealand shop, prices including GST: a kauri bowl
/// and courier shipping, paid through Shopify Payments.
fn shopify_paid_order() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": 5_830_112_004_217_u64,
        "name": "#1101",
        "order_number": 1101,
        "email": "tama.rangi@example.co.nz",
        "created_at": "2026-11-26T09:41:12+13:00",
        "processed_at": "2026-11-26T09:41:12+13:00",
        "updated_at": "2026-11-26T09:41:15+13:00",
        "currency": "NZD",
        "presentment_currency": "NZD",
        "financial_status": "paid",
        "gateway": "shopify_payments",
        "payment_gateway_names": ["shopify_payments"],
        "taxes_included": true,
        "total_line_items_price": "149.50",
        "total_discounts": "0.00",
        "subtotal_price": "149.50",
        "total_tax": "21.00",
        "total_price": "161.00",
        "customer": {
            "id": 7_230_118_005_112_u64, "email": "tama.rangi@example.co.nz",
            "first_name": "Tama", "last_name": "Rangi"
        },
        "line_items": [{
            "id": 14_522_870_001_u64, "title": "Kauri serving bowl", "sku": "BOWL-KAURI",
            "quantity": 1, "price": "149.50", "total_discount": "0.00", "taxable": true,
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "19.50"}]
        }],
        "shipping_lines": [{
            "title": "NZ Post Courier", "price": "11.50", "discounted_price": "11.50",
            "tax_lines": [{"title": "GST", "rate": 0.15, "price": "1.50"}]
        }],
        "tax_lines": [{"title": "GST", "rate": 0.15, "price": "21.00"}],
        "refunds": []
    }))
    .unwrap()
}

#[tokio::test]
async fn a_signed_shopify_orders_paid_webhook_becomes_a_paid_invoice_in_xero() {
    let stack = start(&[]).await;

    let delivery = signer::shopify(
        SHOP,
        SHOPIFY_SECRET,
        "orders/paid",
        "b54557e4-bdd9-4b37-8a5f-bf7d70bcd101",
        &shopify_paid_order(),
    );
    let event_id = stack.deliver(&delivery, "order").await;
    assert_eq!(
        event_id,
        "shopify:nz-shopify:b54557e4-bdd9-4b37-8a5f-bf7d70bcd101"
    );

    let invoice = stack.invoice("SH-1101");
    assert_eq!(
        totals(&invoice),
        ("PAID".into(), "NZD".into(), dec("161.00"), dec("21.00"))
    );
    assert_eq!(invoice["LineAmountTypes"], "Inclusive");
    assert_eq!(
        XeroLine::of(&invoice),
        [
            XeroLine::new(
                "Kauri serving bowl",
                "1 x 149.50 = 149.50",
                "200",
                "OUTPUT2",
                "19.50"
            ),
            XeroLine::nz_post_courier(),
        ]
    );
    assert_eq!(
        stack.payments(&invoice),
        [("615".to_owned(), dec("161.00"))]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_signed_woocommerce_order_created_webhook_becomes_a_paid_invoice_in_xero() {
    let stack = start(&[]).await;

    let body =
        serde_json::to_vec(&fixture("woocommerce/order_4417_nzd_tax_inclusive.json")).unwrap();
    let delivery = signer::woocommerce(WOO_SHOP, WOO_SECRET, "order.created", &body);
    stack.deliver(&delivery, "order").await;

    let invoice = stack.invoice("WC-4417");
    assert_eq!(
        totals(&invoice),
        ("PAID".into(), "NZD".into(), dec("104.30"), dec("12.30"))
    );
    assert_eq!(
        XeroLine::of(&invoice),
        [
            XeroLine::new(
                "Harakeke kete – large",
                "2 x 46.00 - 9.20 = 82.80",
                "200",
                "OUTPUT2",
                "10.80"
            ),
            XeroLine::new(
                "Koha to Forest & Bird",
                "1 x 10.00 = 10.00",
                "200",
                "ZERORATED",
                "0"
            ),
            XeroLine::nz_post_courier(),
        ]
    );
    assert_eq!(
        stack.payments(&invoice),
        [("616".to_owned(), dec("104.30"))]
    );
    stack.stop().await;
}

#[tokio::test]
async fn a_woocommerce_refund_through_the_ingress_is_published_as_a_refund_and_booked_from_the_refunds_api()
 {
    let api = FakePlatformApi::start(Platform::WooCommerce).await;
    api.put(
        "/wp-json/wc/v3/orders/4417/refunds",
        fixture("woocommerce/refunds_4417.json"),
    );
    let stack = start(&[platform_shop(
        WOO_API_SHOP,
        Platform::WooCommerce,
        Some(&api.api_toml()),
    )])
    .await;

    let order = fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    let created = signer::woocommerce(
        WOO_API_SHOP,
        WOO_API_SECRET,
        "order.created",
        &serde_json::to_vec(&order).unwrap(),
    );
    stack.deliver(&created, "order").await;

    // WooCommerce has no refund topic: the refund fires order.updated, listing it.
    let mut updated = order;
    updated["date_modified_gmt"] = json!("2026-11-24T20:12:04");
    updated["refunds"] = json!([{"id": 4431, "reason": "Handle frayed", "total": "-41.40"}]);
    let updated = signer::woocommerce(
        WOO_API_SHOP,
        WOO_API_SECRET,
        "order.updated",
        &serde_json::to_vec(&updated).unwrap(),
    );
    stack.deliver(&updated, "refund").await;

    let notes = credit_notes_numbered(&stack.sim, "WA-4417/R4431");
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert_eq!(
        totals(&notes[0]),
        ("PAID".into(), "NZD".into(), dec("41.40"), dec("5.40"))
    );
    assert_eq!(
        XeroLine::of(&notes[0]),
        [XeroLine::new(
            "Harakeke kete – large",
            "1 x 41.40 = 41.40",
            "200",
            "OUTPUT2",
            "5.40"
        )]
    );
    assert_eq!(
        stack.payments(&notes[0]),
        [("616".to_owned(), dec("41.40"))]
    );
    assert_eq!(api.request_count("/wp-json/wc/v3/orders/4417/refunds"), 1);
    stack.stop().await;
}

#[tokio::test]
async fn a_standard_webhooks_signed_bigcommerce_order_is_hydrated_from_the_api_and_booked_in_xero()
{
    let api = FakePlatformApi::start(Platform::BigCommerce).await;
    api.put(
        "/v2/orders/310",
        fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json"),
    );
    api.put(
        "/v2/orders/310/products",
        fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json"),
    );
    let stack = start(&[platform_shop(
        BIGCOMMERCE_SHOP,
        Platform::BigCommerce,
        Some(&api.api_toml()),
    )])
    .await;

    let body = xcs_tests::fixtures::bigcommerce(
        "store/order/created",
        310,
        credentials::BIGCOMMERCE_STORE_HASH,
    );
    let delivery = signer::standard_webhooks(
        Platform::BigCommerce,
        BIGCOMMERCE_SHOP,
        BIGCOMMERCE_SECRET.as_bytes(),
        "msg_2Nf8Kq310e2e",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &body,
    );
    let event_id = stack.deliver(&delivery, "order").await;
    assert_eq!(event_id, "bigcommerce:nz-bigcommerce:msg_2Nf8Kq310e2e");

    let invoice = stack.invoice("BC-310");
    assert_eq!(
        totals(&invoice),
        ("PAID".into(), "NZD".into(), dec("163.30"), dec("21.30"))
    );
    assert_eq!(
        XeroLine::of(&invoice),
        [
            XeroLine::new(
                "Pounamu toki pendant",
                "1 x 115.00 - 11.50 = 103.50",
                "200",
                "OUTPUT2",
                "13.50"
            ),
            XeroLine::new(
                "Kawakawa balm 50 ml",
                "2 x 23.00 = 46.00",
                "200",
                "OUTPUT2",
                "6.00"
            ),
            XeroLine::new("Shipping", "1 x 13.80 = 13.80", "205", "OUTPUT2", "1.80"),
        ]
    );
    let mut payments = stack.payments(&invoice);
    payments.sort();
    assert_eq!(
        payments,
        [
            ("616".to_owned(), dec("138.30")),
            ("825".to_owned(), dec("25.00"))
        ]
    );
    assert_eq!(
        (
            api.request_count("/v2/orders/310"),
            api.request_count("/v2/orders/310/products")
        ),
        (1, 1)
    );
    stack.stop().await;
}
