//! The processor in-process against the real RabbitMQ and PostgreSQL and the Xero simulator,
//! and a way to publish events exactly as the ingress does.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Confirmation};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use xcs_shared::{Envelope, EventKind, Platform, topology};
use xcs_xero_sim::{
    CUSTOM_CONNECTION_CLIENT_ID, CUSTOM_CONNECTION_CLIENT_SECRET, RunningSim, SimConfig, XeroSim,
};

use crate::broker::TestBroker;
use crate::postgres::{TestSchema, postgres_url};

/// The shop every processor test books into the simulator's NZ demo company.
pub const SHOP: &str = "nz-shopify";
pub const WOO_SHOP: &str = "nz-woo";

/// How a processor config signs in to the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XeroAuth {
    /// The Custom Connection, to the NZ demo company only.
    CustomConnection,
    /// The demo OAuth app, connected to the tenants whose tokens [`connect_demo_app`] stored.
    DemoApp,
}

/// A processor config's sections before its shops: `broker`, `schema` and `sim`, signed in
/// as `auth`, with `extra` appended (sections or `[processing]` keys). Polling is off unless
/// `extra` sets `poll_every_ms`.
pub fn processor_toml(
    broker: &TestBroker,
    schema: &TestSchema,
    sim: &RunningSim,
    auth: XeroAuth,
    extra: &str,
) -> String {
    let (auth, client_id, client_secret, timeout_ms) = match auth {
        XeroAuth::CustomConnection => (
            "custom_connection",
            CUSTOM_CONNECTION_CLIENT_ID,
            CUSTOM_CONNECTION_CLIENT_SECRET,
            5000,
        ),
        XeroAuth::DemoApp => (
            "oauth",
            xcs_xero_sim::DEMO_APP_CLIENT_ID,
            xcs_xero_sim::DEMO_APP_CLIENT_SECRET,
            10000,
        ),
    };
    format!(
        r#"
log_format = "pretty"
[amqp]
uri = "{amqp}"
[postgres]
url = "{pg}"
schema = "{schema}"
pool_size = 4
[xero]
api_base = "{api}"
identity_base = "{identity}"
client_id = "{client_id}"
client_secret = "{client_secret}"
auth = "{auth}"
timeout_ms = {timeout_ms}
# Tests book a handful of documents at once; pacing would only make them slower.
max_burst = 30
[server]
listen = "127.0.0.1:0"
[processing]
batch_size = 50
linger_ms = 100
prefetch = 200
{no_polling}{extra}
"#,
        // Polling is on for every shop with an [api] section; a test that is not about it
        // would count the poller's list calls among the API requests it checks.
        no_polling = if extra.contains("poll_every_ms") {
            ""
        } else {
            "poll_every_ms = 0\n"
        },
        amqp = broker.amqp_uri(),
        pg = postgres_url(),
        schema = schema.name,
        api = sim.base_url(),
        identity = sim.identity_url(),
    )
}

/// A processor config for the simulator's Custom Connection (the NZ demo company), with a
/// Shopify and a WooCommerce shop mapped onto the demo chart of accounts.
pub fn test_config(
    broker: &TestBroker,
    schema: &TestSchema,
    sim: &RunningSim,
    extra: &str,
) -> String {
    let tenant = xcs_xero_sim::DEMO_NZ_TENANT_ID;
    let head = processor_toml(broker, schema, sim, XeroAuth::CustomConnection, extra);
    head + &shop_toml(&ShopToml {
        name: SHOP,
        platform: Platform::Shopify,
        tenant: &tenant.to_string(),
        contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
        prefix: "SH-",
        clearing: "615",
        api: None,
    }) + &shop_toml(&ShopToml {
        name: WOO_SHOP,
        platform: Platform::WooCommerce,
        tenant: &tenant.to_string(),
        contacts: r#"{ strategy = "per_customer", fallback = "WooCommerce Sales" }"#,
        prefix: "WC-",
        clearing: "616",
        api: None,
    })
}

/// Migrates the ledger `config_toml` names and stores tokens for the demo OAuth app's
/// connection to `tenants`, as the authorization-code flow would have left them.
pub async fn connect_demo_app(
    schema: &TestSchema,
    sim: &RunningSim,
    config_toml: &str,
    tenants: &[uuid::Uuid],
) {
    let config = xcs_processor::config::Config::from_toml(config_toml, |_| None)
        .expect("a valid processor config");
    drop(
        xcs_processor::ledger::Ledger::connect(&config.postgres)
            .await
            .expect("the ledger migrates"),
    );
    let tokens = sim
        .issue_tokens(xcs_xero_sim::DEMO_APP_CLIENT_ID, tenants)
        .expect("tokens");
    schema
        .client()
        .await
        .execute(
            "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
             VALUES ('default', $1, $2, now() + interval '30 minutes')",
            &[&tokens.refresh_token.expect("a refresh token"), &tokens.access_token],
        )
        .await
        .expect("tokens stored");
}

/// What nearly every processor test starts from: a broker vhost with the deployed topology,
/// a ledger schema and a Xero simulator, all its own.
pub struct Rig {
    pub broker: TestBroker,
    pub schema: TestSchema,
    pub sim: RunningSim,
}

impl Rig {
    /// On the simulator's demo organisations.
    pub async fn new() -> Self {
        Self::on(SimConfig::demo()).await
    }

    /// On a simulator started with `sim`.
    pub async fn on(sim: SimConfig) -> Self {
        Rig {
            broker: TestBroker::with_topology().await,
            schema: TestSchema::new(),
            sim: XeroSim::start(sim).expect("the simulator starts"),
        }
    }

    /// [`test_config`] for this rig, `extra` appended.
    pub fn config(&self, extra: &str) -> String {
        test_config(&self.broker, &self.schema, &self.sim, extra)
    }

    /// Publishes a [`SHOP`] event as the ingress would (see [`publish`]).
    pub async fn publish(&self, kind: EventKind, topic: &str, event_id: &str, body: &[u8]) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            kind,
            topic,
            event_id,
            body,
        )
        .await;
    }

    /// A Xero client as the processor builds one from `config_toml`, its ledger connected
    /// when first used.
    pub fn xero(&self, config_toml: &str) -> xcs_processor::xero::client::XeroClient {
        let config = xcs_processor::config::Config::from_toml(config_toml, |_| None)
            .expect("a valid processor config");
        let ledger = xcs_processor::ledger::Ledger::lazy(&config.postgres).expect("a ledger");
        xcs_processor::xero::client::XeroClient::new(&config.xero, ledger).expect("a client")
    }
}

/// One shop of a processor config, mapped onto the simulator's demo chart of accounts
/// (15% GST as OUTPUT2).
pub struct ShopToml<'a> {
    pub name: &'a str,
    pub platform: Platform,
    pub tenant: &'a str,
    /// The TOML inline table for `contacts`.
    pub contacts: &'a str,
    pub prefix: &'a str,
    pub clearing: &'a str,
    /// The TOML inline table for `api`, for thin platforms.
    pub api: Option<&'a str>,
}

/// The `[shops.NAME]` sections for one shop.
pub fn shop_toml(shop: &ShopToml<'_>) -> String {
    let api = shop
        .api
        .map_or_else(String::new, |api| format!("api = {api}\n"));
    format!(
        r#"
[shops.{name}]
platform = "{platform}"
tenant = "{tenant}"
contacts = {contacts}
{api}[shops.{name}.mapping]
document_prefix = "{prefix}"
[shops.{name}.mapping.accounts]
sales = "200"
shipping = "205"
discounts = "210"
gift_cards = "825"
fees = "260"
rounding = "860"
clearing = "{clearing}"
[shops.{name}.mapping.tax]
by_rate = {{ "15" = "OUTPUT2" }}
untaxed = "ZERORATED"
"#,
        name = shop.name,
        platform = shop.platform,
        tenant = shop.tenant,
        contacts = shop.contacts,
        prefix = shop.prefix,
        clearing = shop.clearing,
    )
}

/// A running processor.
pub struct TestProcessor {
    /// Where it serves `/healthz`, `/readyz` and `/metrics`.
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestProcessor {
    pub async fn start(config_toml: &str) -> Self {
        Self::start_with_env(config_toml, |_| None).await
    }

    /// Starts with `env` standing in for the environment (secrets such as `XCS_TOKEN_KEY`).
    pub async fn start_with_env(config_toml: &str, env: impl Fn(&str) -> Option<String>) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            xcs_shared::telemetry::init(xcs_shared::telemetry::LogFormat::Pretty);
        }
        let mut config = xcs_processor::config::Config::from_toml(config_toml, env)
            .expect("a valid processor config");
        // Tests run processors side by side: each on a free port, whatever the config says.
        config.server.listen = "127.0.0.1:0".into();
        let processor = xcs_processor::startup::Processor::build(config)
            .await
            .expect("the processor starts");
        let port = processor.port();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(processor.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestProcessor {
            port,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `GET path` on the processor's health and metrics listener: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("http://127.0.0.1:{}{path}", self.port))
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        let status = response.status().as_u16();
        (status, response.text().await.expect("a body"))
    }

    /// Stops gracefully: batches in progress finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Dies at once, as a killed process would: nothing in flight is settled.
    pub fn kill(mut self) {
        self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for TestProcessor {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Publishes `body` as the ingress would have, for `shop` on `platform`.
pub async fn publish(
    broker: &TestBroker,
    platform: Platform,
    shop: &str,
    kind: EventKind,
    topic: &str,
    event_id: &str,
    body: &[u8],
) {
    let envelope = envelope(platform, shop, kind, topic, event_id);
    publish_envelope(broker, &envelope, body).await;
}

/// The envelope the ingress gives a webhook for `shop` on `platform`, in the NZ demo company,
/// received on the day the tests reconcile (2026-11-27).
pub fn envelope(
    platform: Platform,
    shop: &str,
    kind: EventKind,
    topic: &str,
    event_id: &str,
) -> Envelope {
    Envelope {
        event_id: event_id.to_owned(),
        platform,
        shop: shop.to_owned(),
        tenant: xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        kind,
        topic: topic.to_owned(),
        delivery_id: uuid::Uuid::now_v7().to_string(),
        received_at: "2026-11-27T01:00:00Z".to_owned(),
        source: xcs_shared::Source::Webhook,
    }
}

/// Publishes `body` with `envelope`'s headers as the ingress does, and waits for the confirm.
pub async fn publish_envelope(broker: &TestBroker, envelope: &Envelope, body: &[u8]) {
    let (kind, platform, event_id) = (envelope.kind, envelope.platform, &envelope.event_id);
    let headers = envelope.field_table();
    let connection = broker.connect().await;
    let channel = connection.create_channel().await.expect("channel");
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm mode");
    let confirmation = channel
        .basic_publish(
            topology::EVENTS_EXCHANGE.into(),
            topology::routing_key(kind, platform).as_str().into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(event_id.as_str().into())
                .with_headers(headers),
        )
        .await
        .expect("publish")
        .await
        .expect("confirm");
    assert_eq!(
        confirmation,
        Confirmation::Ack(None),
        "the event was routed"
    );
    let _ = connection.close(200, "published".into()).await;
}

/// Waits until the ledger has handled `event_id`, and returns its outcome and detail.
pub async fn wait_handled(
    schema: &TestSchema,
    event_id: &str,
    timeout: Duration,
) -> (String, String) {
    let client = schema.client().await;
    crate::eventually(timeout, &format!("event {event_id} to be handled"), || {
        let client = &client;
        async move {
            client
                .query_opt(
                    "SELECT outcome, detail FROM xcs_events WHERE event_id = $1",
                    &[&event_id],
                )
                .await
                .ok()
                .flatten()
                .map(|row| (row.get(0), row.get(1)))
        }
    })
    .await
}

/// The simulator's invoices for the NZ demo company with this number.
pub fn invoices_numbered(sim: &RunningSim, number: &str) -> Vec<Value> {
    sim.invoices(xcs_xero_sim::DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|i| i["InvoiceNumber"] == number)
        .collect()
}

/// The one invoice of the NZ demo company with this number (panics unless exactly one).
pub fn one_invoice(sim: &RunningSim, number: &str) -> Value {
    let mut invoices = invoices_numbered(sim, number);
    assert_eq!(invoices.len(), 1, "one invoice {number}: {invoices:#?}");
    invoices.remove(0)
}

/// The live payments on a document as (account code, amount), smallest first.
pub fn payment_lines(sim: &RunningSim, document: &Value) -> Vec<(String, rust_decimal::Decimal)> {
    let mut payments: Vec<(String, rust_decimal::Decimal)> = payments_on(sim, document)
        .iter()
        .map(|p| {
            (
                p["Account"]["Code"].as_str().unwrap_or_default().to_owned(),
                amount(&p["Amount"]),
            )
        })
        .collect();
    payments.sort_by_key(|(_, amount)| *amount);
    payments
}

/// Shops on the other platforms, for [`test_config`]'s `extra` (see [`platform_shop`]).
pub const BIGCOMMERCE_SHOP: &str = "nz-bigcommerce";
pub const ETSY_SHOP: &str = "nz-etsy";
pub const EBAY_SHOP: &str = "nz-ebay";
pub const MAGENTO_SHOP: &str = "nz-magento";
/// A WooCommerce shop with its REST API configured, so refunds can be fetched.
pub const WOO_API_SHOP: &str = "nz-woo-api";

/// The `document_prefix` [`platform_shop`] gives each shop: distinct within the tenant.
pub fn document_prefix(shop: &str) -> &'static str {
    match shop {
        SHOP => "SH-",
        WOO_SHOP => "WC-",
        BIGCOMMERCE_SHOP => "BC-",
        ETSY_SHOP => "ET-",
        EBAY_SHOP => "EB-",
        MAGENTO_SHOP => "MG-",
        WOO_API_SHOP => "WA-",
        other => panic!("no prefix for shop {other:?}"),
    }
}

/// A `[shops.NAME]` section for [`test_config`]'s `extra`: `platform` booking into the NZ demo
/// company on the same chart as the built-in shops (sales 200, shipping 205, discounts 210,
/// gift cards 825, fees 260, rounding 860, 15% = OUTPUT2, untaxed ZERORATED), payments into
/// 616 Gateway Clearing, against one generic contact ("BigCommerce Sales") or, for
/// WooCommerce, a contact per customer. `api` is the shop's inline `api` table (see
/// `crate::platform_api::FakePlatformApi::api_toml`), or `None` for a shop without one.
pub fn platform_shop(name: &str, platform: Platform, api: Option<&str>) -> String {
    let contacts = match platform {
        Platform::WooCommerce => {
            r#"{ strategy = "per_customer", fallback = "WooCommerce Sales" }"#.to_owned()
        }
        Platform::Shopify => r#"{ strategy = "generic", name = "Shopify Sales" }"#.to_owned(),
        Platform::BigCommerce => {
            r#"{ strategy = "generic", name = "BigCommerce Sales" }"#.to_owned()
        }
        Platform::Magento => {
            r#"{ strategy = "generic", name = "Adobe Commerce Sales" }"#.to_owned()
        }
        Platform::Etsy => r#"{ strategy = "generic", name = "Etsy Sales" }"#.to_owned(),
        Platform::Ebay => r#"{ strategy = "generic", name = "eBay Sales" }"#.to_owned(),
    };
    shop_toml(&ShopToml {
        name,
        platform,
        tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        contacts: &contacts,
        prefix: document_prefix(name),
        clearing: "616",
        api,
    })
}

/// The simulator's credit notes for the NZ demo company with this number.
pub fn credit_notes_numbered(sim: &RunningSim, number: &str) -> Vec<Value> {
    sim.credit_notes(xcs_xero_sim::DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["CreditNoteNumber"] == number)
        .collect()
}

/// The live (not deleted) payments on an invoice or a credit note of the NZ demo company.
pub fn payments_on(sim: &RunningSim, document: &Value) -> Vec<Value> {
    let (target, id) = match document.get("InvoiceID") {
        Some(id) => ("Invoice", ("InvoiceID", id)),
        None => ("CreditNote", ("CreditNoteID", &document["CreditNoteID"])),
    };
    sim.payments(xcs_xero_sim::DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|p| &p[target][id.0] == id.1 && p["Status"] != "DELETED")
        .collect()
}

/// A money or quantity field of a Xero document as the simulator printed it (a JSON number
/// or string), exactly; zero when absent.
pub fn amount(value: &Value) -> rust_decimal::Decimal {
    match value {
        Value::Null => rust_decimal::Decimal::ZERO,
        other => other
            .to_string()
            .trim_matches('"')
            .parse()
            .unwrap_or_else(|err| panic!("{other} is not an amount: {err}")),
    }
}

/// A Xero line item, compared to the cent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XeroLine {
    pub description: String,
    pub quantity: rust_decimal::Decimal,
    pub unit_amount: rust_decimal::Decimal,
    pub discount_amount: rust_decimal::Decimal,
    pub line_amount: rust_decimal::Decimal,
    pub account_code: String,
    pub tax_type: String,
    pub tax_amount: rust_decimal::Decimal,
}

impl XeroLine {
    /// A line as written on the invoice: `amounts` is `"2 x 23.00 = 46.00"` or, with a
    /// discount, `"1 x 115.00 - 11.50 = 103.50"` (spaces around ` x `, ` - ` and ` = `).
    pub fn new(
        description: &str,
        amounts: &str,
        account_code: &str,
        tax_type: &str,
        tax_amount: &str,
    ) -> Self {
        let dec = |text: &str| -> rust_decimal::Decimal {
            text.trim()
                .parse()
                .unwrap_or_else(|err| panic!("{text:?} in {amounts:?}: {err}"))
        };
        let (left, line_amount) = amounts
            .split_once(" = ")
            .unwrap_or_else(|| panic!("{amounts:?} has no \" = \""));
        let (product, discount) = left.split_once(" - ").unwrap_or((left, "0"));
        let (quantity, unit_amount) = product
            .split_once(" x ")
            .unwrap_or_else(|| panic!("{amounts:?} has no \" x \""));
        XeroLine {
            description: description.to_owned(),
            quantity: dec(quantity),
            unit_amount: dec(unit_amount),
            discount_amount: dec(discount),
            line_amount: dec(line_amount),
            account_code: account_code.to_owned(),
            tax_type: tax_type.to_owned(),
            tax_amount: dec(tax_amount),
        }
    }

    /// The fixture orders' shipping, NZ Post Courier at 11.50 with 1.50 GST, as booked.
    pub fn nz_post_courier() -> Self {
        XeroLine::new(
            "NZ Post Courier",
            "1 x 11.50 = 11.50",
            "205",
            "OUTPUT2",
            "1.50",
        )
    }

    /// The line items of an invoice or credit note as the simulator holds them.
    pub fn of(document: &Value) -> Vec<XeroLine> {
        document["LineItems"]
            .as_array()
            .unwrap_or_else(|| panic!("the document has no LineItems: {document}"))
            .iter()
            .map(|line| XeroLine {
                description: line["Description"].as_str().unwrap_or_default().to_owned(),
                quantity: amount(&line["Quantity"]),
                unit_amount: amount(&line["UnitAmount"]),
                discount_amount: amount(&line["DiscountAmount"]),
                line_amount: amount(&line["LineAmount"]),
                account_code: line["AccountCode"].as_str().unwrap_or_default().to_owned(),
                tax_type: line["TaxType"].as_str().unwrap_or_default().to_owned(),
                tax_amount: amount(&line["TaxAmount"]),
            })
            .collect()
    }
}
