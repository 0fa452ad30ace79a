//! Starts the ingress in-process on port 0 with a config written for the test.

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::signer::Delivery;

/// A running ingress.
pub struct TestIngress {
    pub base_url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestIngress {
    /// Starts the ingress from a TOML config. `server.listen` defaults to 127.0.0.1:0 here.
    pub async fn start(config_toml: &str) -> Self {
        let toml = if config_toml.contains("[server]") {
            config_toml.to_owned()
        } else {
            format!("[server]\nlisten = \"127.0.0.1:0\"\nworkers = 2\n{config_toml}")
        };
        let config = xcs_ingress::Config::from_toml(&toml, |_| None).expect("valid test config");
        let app = xcs_ingress::Application::build(config).expect("ingress starts");
        let base_url = format!("http://127.0.0.1:{}", app.port());
        let (stop, stopped) = oneshot::channel();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        TestIngress {
            base_url,
            client: reqwest::Client::new(),
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// POSTs a signed delivery.
    pub async fn send(&self, delivery: &Delivery) -> reqwest::Response {
        let mut request = self
            .client
            .post(format!("{}{}", self.base_url, delivery.path()))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        request.send().await.expect("the ingress answers")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("the ingress answers")
    }

    /// Waits until `/readyz` says ready.
    pub async fn wait_ready(&self) {
        crate::eventually(
            std::time::Duration::from_secs(20),
            "the ingress to be ready",
            || async { (self.get("/readyz").await.status() == 200).then_some(()) },
        )
        .await;
    }

    /// Graceful shutdown: in-flight requests finish first.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stops cleanly");
        }
    }
}

impl Drop for TestIngress {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The shops of [`test_config`], with what their deliveries are signed with.
pub mod shops {
    pub const SHOPIFY: &str = "acme-shopify";
    /// The current and the previous client secret, as during a rotation.
    pub const SHOPIFY_SECRETS: [&str; 2] = ["shpss_current_secret", "shpss_previous_secret"];
    pub const WOOCOMMERCE: &str = "acme-woo";
    /// WooCommerce generates secrets with spaces and punctuation.
    pub const WOOCOMMERCE_SECRET: &str = "wc secret, with [punctuation] & spaces";
    pub const BIGCOMMERCE: &str = "acme-bc";
    /// BigCommerce keys Standard Webhooks with the raw app client secret.
    pub const BIGCOMMERCE_SECRET: &str = "bc_app_client_secret";
    /// A BigCommerce shop that also requires the static header its hook was created with.
    pub const BIGCOMMERCE_WITH_HEADER: &str = "acme-bc-header";
    pub const BIGCOMMERCE_HEADER: (&str, &str) = ("X-Hook-Token", "static-hook-token");
    pub const ETSY: &str = "acme-etsy";
    pub const ETSY_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    pub const EBAY: &str = "acme-ebay";
    pub const EBAY_VERIFICATION_TOKEN: &str = "71745723-d031-455c-bfa5-f90d11b4f20a";
    pub const EBAY_ENDPOINT: &str = "http://www.testendpoint.com/webhook";
    pub const MAGENTO: &str = "acme-magento";
    pub const ADOBE_CLIENT_ID: &str = "ca7b36f23be94dcb9d2ebb97f0276e3f";

    /// Each shop's Xero tenant (an organisation id, as the ingress requires). The first two
    /// share one, as two stores of one seller would.
    pub fn tenant(shop: &str) -> String {
        let n = match shop {
            SHOPIFY | WOOCOMMERCE => 1,
            BIGCOMMERCE => 2,
            ETSY => 3,
            EBAY => 4,
            MAGENTO => 5,
            _ => 9,
        };
        format!("00000000-0000-4000-8000-{n:012}")
    }
}

/// An ingress config with one shop per platform (see [`shops`]), publishing to `amqp_uri`, and
/// fetching eBay and Adobe keys from `key_server` (a [`crate::keyserver::KeyServer`]).
pub fn test_config(amqp_uri: &str, key_server: &str) -> String {
    use shops::*;
    use toml::Value;
    let shop = |platform: &str, name: &str, extra: &[(&str, Value)]| {
        let mut table = toml::map::Map::new();
        table.insert("platform".into(), platform.into());
        table.insert("tenant".into(), tenant(name).into());
        for (key, value) in extra {
            table.insert((*key).into(), value.clone());
        }
        (name.to_owned(), Value::Table(table))
    };
    let secrets = |list: &[&str]| Value::Array(list.iter().map(|s| (*s).into()).collect());
    let shops: toml::map::Map<String, Value> = [
        shop(
            "shopify",
            SHOPIFY,
            &[("secrets", secrets(&SHOPIFY_SECRETS))],
        ),
        shop(
            "woocommerce",
            WOOCOMMERCE,
            &[("secrets", secrets(&[WOOCOMMERCE_SECRET]))],
        ),
        shop(
            "bigcommerce",
            BIGCOMMERCE,
            &[("secrets", secrets(&[BIGCOMMERCE_SECRET]))],
        ),
        shop(
            "bigcommerce",
            BIGCOMMERCE_WITH_HEADER,
            &[
                ("secrets", secrets(&[BIGCOMMERCE_SECRET])),
                ("required_headers", {
                    let mut headers = toml::map::Map::new();
                    headers.insert(BIGCOMMERCE_HEADER.0.into(), BIGCOMMERCE_HEADER.1.into());
                    Value::Table(headers)
                }),
            ],
        ),
        shop("etsy", ETSY, &[("secrets", secrets(&[ETSY_SECRET]))]),
        shop(
            "ebay",
            EBAY,
            &[
                ("verification_token", EBAY_VERIFICATION_TOKEN.into()),
                ("endpoint_url", EBAY_ENDPOINT.into()),
            ],
        ),
        shop("magento", MAGENTO, &[("client_id", ADOBE_CLIENT_ID.into())]),
    ]
    .into_iter()
    .collect();
    let mut root = toml::map::Map::new();
    let mut server = toml::map::Map::new();
    server.insert("listen".into(), "127.0.0.1:0".into());
    server.insert("workers".into(), 2.into());
    server.insert("body_limit_bytes".into(), (64 * 1024).into());
    server.insert("confirm_timeout_ms".into(), 2000.into());
    root.insert("server".into(), Value::Table(server));
    let mut amqp = toml::map::Map::new();
    amqp.insert("uri".into(), amqp_uri.into());
    amqp.insert("reconnect_max_backoff_ms".into(), 500.into());
    root.insert("amqp".into(), Value::Table(amqp));
    let mut ebay = toml::map::Map::new();
    ebay.insert("api_base".into(), key_server.into());
    ebay.insert("client_id".into(), crate::keyserver::EBAY_CLIENT_ID.into());
    ebay.insert(
        "client_secret".into(),
        crate::keyserver::EBAY_CLIENT_SECRET.into(),
    );
    root.insert("ebay".into(), Value::Table(ebay));
    let mut adobe = toml::map::Map::new();
    adobe.insert("key_host".into(), key_server.into());
    root.insert("adobe".into(), Value::Table(adobe));
    root.insert("shops".into(), Value::Table(shops));
    toml::to_string(&Value::Table(root)).expect("TOML values serialise")
}

/// A broker vhost with the topology, a fake key server with an eBay and an Adobe key, and an
/// ingress configured by [`test_config`] in front of them.
pub struct Harness {
    pub broker: crate::broker::TestBroker,
    pub keys: crate::keyserver::KeyServer,
    pub ingress: TestIngress,
    pub ebay_key: p256::ecdsa::SigningKey,
    pub adobe_key: rsa::PrivateKey,
}

pub const EBAY_KID: &str = "9936261a-7d7b-4621-a0f1-96ccb428af49";
pub const ADOBE_KEY_PATH: &str = "/prod/keys/pub-key-test-1.pem";

impl Harness {
    pub async fn start() -> Self {
        let broker = crate::broker::TestBroker::with_topology().await;
        let keys = crate::keyserver::KeyServer::start().await;
        let ebay_key = crate::signer::new_ebay_key();
        keys.add_ebay_key(EBAY_KID, &ebay_key);
        let adobe_key = crate::signer::adobe_test_key(1);
        keys.add_adobe_key(ADOBE_KEY_PATH, &adobe_key);
        let ingress = TestIngress::start(&test_config(&broker.amqp_uri(), &keys.base_url)).await;
        ingress.wait_ready().await;
        Harness {
            broker,
            keys,
            ingress,
            ebay_key,
            adobe_key,
        }
    }

    /// A genuine delivery of an order event on `platform`, made distinct by `n`.
    pub fn order_delivery(&self, platform: xcs_shared::Platform, n: u64) -> Delivery {
        use crate::{fixtures, signer};
        use xcs_shared::Platform;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match platform {
            Platform::Shopify => signer::shopify(
                shops::SHOPIFY,
                shops::SHOPIFY_SECRETS[0],
                "orders/paid",
                &format!("b54557e4-bdd9-4b37-8a5f-bf7d70bcd0{n:02}"),
                &fixtures::shopify_order(450_789_469 + n),
            ),
            Platform::WooCommerce => signer::woocommerce(
                shops::WOOCOMMERCE,
                shops::WOOCOMMERCE_SECRET,
                "order.created",
                &fixtures::woocommerce_order(727 + n, "2026-11-27T01:00:00"),
            ),
            Platform::BigCommerce => signer::standard_webhooks(
                Platform::BigCommerce,
                shops::BIGCOMMERCE,
                shops::BIGCOMMERCE_SECRET.as_bytes(),
                &format!("bc_msg_{n}"),
                now,
                &fixtures::bigcommerce("store/order/created", 250 + n, "abc123"),
            ),
            Platform::Etsy => signer::standard_webhooks(
                Platform::Etsy,
                shops::ETSY,
                &signer::whsec_key(shops::ETSY_SECRET),
                &format!("msg_2KWPBgLlAfxdpx2AI54pPJ85f{n}"),
                now,
                &fixtures::etsy("ORDER_PAID", 123_456, 234_567_890 + n),
            ),
            Platform::Ebay => signer::ebay(
                shops::EBAY,
                &self.ebay_key,
                EBAY_KID,
                &fixtures::ebay(
                    "ORDER_CONFIRMATION",
                    &format!("49feeaeb-4982-42d9-a377-9645b84794{n:02}"),
                    &format!("12-34567-{n:05}"),
                ),
            ),
            Platform::Magento => signer::adobe(
                shops::MAGENTO,
                Some((&self.adobe_key, ADOBE_KEY_PATH)),
                None,
                &fixtures::magento_invoice(
                    &format!("b0f2b088-5490-4d16-9ce9-0cb1fb3e5e{n:02}"),
                    shops::ADOBE_CLIENT_ID,
                ),
            ),
        }
    }
}
