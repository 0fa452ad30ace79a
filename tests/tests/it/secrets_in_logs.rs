//! No secret reaches a log line or `/metrics` (issue 6). The ingress and the processor run as
//! processes of their own, as deployed, with their secrets in the environment, JSON logs and
//! `RUST_LOG=trace`; their stdout and stderr go to files. Signed webhooks (a Shopify one, one
//! with a wrong signature, a Standard Webhooks one from BigCommerce) go through the ingress and
//! are booked in the Xero simulator over OAuth, with an access token that expires on the way so
//! a refresh happens. Then every captured line, and the ingress's `/metrics`, is searched for
//! every secret the run used: the webhook secrets (raw and base64), the signatures sent, the
//! Xero client secret, every access and refresh token (the stored ones and every one the
//! simulator issued), the AMQP and PostgreSQL passwords and the platform API token.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use serde_json::Value;
use tokio::process::{Child, Command};
use xcs_shared::{Platform, shop_env_prefix};
use xcs_tests::broker::{TestBroker, amqp_addr, management_url};
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::{BIGCOMMERCE_SHOP, SHOP, platform_shop, test_config};
use xcs_tests::{fixtures, signer};
use xcs_xero_sim::{DEMO_APP_CLIENT_ID, DEMO_APP_CLIENT_SECRET, DEMO_NZ_TENANT_ID, SimConfig};

const HANDLED: Duration = Duration::from_secs(30);

/// A RabbitMQ user of our own with a distinctive password, allowed on the test vhost; deleted
/// on drop.
struct BrokerUser {
    name: String,
    password: String,
}

impl BrokerUser {
    async fn create(broker: &TestBroker) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let user = BrokerUser {
            name: format!("xcs-secrets-{id}"),
            password: format!("amqp-password-{id}"),
        };
        let http = reqwest::Client::new();
        for (path, body) in [
            (
                format!("/api/users/{}", user.name),
                serde_json::json!({"password": user.password, "tags": ""}),
            ),
            (
                format!("/api/permissions/{}/{}", broker.vhost, user.name),
                serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
            ),
        ] {
            let response = http
                .put(format!("{}{path}", management_url()))
                .basic_auth("guest", Some("guest"))
                .json(&body)
                .send()
                .await
                .expect("the management API answers");
            assert!(
                response.status().is_success(),
                "{path}: {}",
                response.status()
            );
        }
        user
    }

    fn uri(&self, broker: &TestBroker) -> String {
        format!(
            "amqp://{}:{}@{}/{}",
            self.name,
            self.password,
            amqp_addr(),
            broker.vhost
        )
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let url = format!("{}/api/users/{}", management_url(), self.name);
        xcs_tests::broker::delete_from_drop(url);
    }
}

/// The test PostgreSQL URL with a password in it (the test server trusts local connections, so
/// any password works), and that password.
fn postgres_url_with_password() -> (String, String) {
    let url = postgres_url();
    let (scheme, rest) = url.split_once("://").expect("a postgres:// URL");
    let (userinfo, host) = rest.split_once('@').expect("a user in the test URL");
    match userinfo.split_once(':') {
        Some((_, password)) => (url.clone(), password.to_owned()),
        None => {
            let password = format!("pg-password-{}", uuid::Uuid::new_v4().simple());
            (format!("{scheme}://{userinfo}:{password}@{host}"), password)
        }
    }
}

/// A process whose stdout and stderr go to files under `dir`.
fn spawn_logged(
    bin: &str,
    config: &Path,
    dir: &Path,
    name: &str,
    env: &[(String, String)],
) -> Child {
    let stdout = std::fs::File::create(dir.join(format!("{name}.stdout"))).unwrap();
    let stderr = std::fs::File::create(dir.join(format!("{name}.stderr"))).unwrap();
    let mut command = Command::new(bin);
    command
        .arg(config)
        .env("RUST_LOG", "trace")
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    command.spawn().expect("the process starts")
}

/// SIGTERM, so shutdown is logged too; SIGKILL if it lingers.
async fn terminate(mut child: Child) {
    if let Some(pid) = child.id() {
        let _ = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await;
    }
    if tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

fn read_logs(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "stdout" || ext == "stderr")
        })
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
            (path, text)
        })
        .collect()
}

/// Every `(what, value)` whose value occurs in `text`.
fn found<'s>(text: &str, secrets: &'s [(String, String)]) -> Vec<&'s (String, String)> {
    secrets
        .iter()
        .filter(|(_, value)| text.contains(value.as_str()))
        .collect()
}

#[tokio::test]
async fn no_secret_reaches_the_logs_or_the_metrics() {
    let broker = TestBroker::with_topology().await;
    let user = BrokerUser::create(&broker).await;
    let amqp_uri = user.uri(&broker);
    let (pg_url, pg_password) = postgres_url_with_password();
    let schema = TestSchema::new();
    let sim = xcs_xero_sim::XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let api = FakePlatformApi::start(Platform::BigCommerce).await;
    api.put(
        "/v2/orders/310",
        fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json"),
    );
    api.put(
        "/v2/orders/310/products",
        fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json"),
    );
    api.put(
        "/v3/orders/310/payment_actions/refunds",
        fixture("bigcommerce/refunds_v3_310.json"),
    );

    let id = uuid::Uuid::new_v4().simple().to_string();
    let shopify_secret = format!("shpss_log_test_{id}");
    let bigcommerce_secret = format!("bc_client_secret_{id}");
    let dir = std::env::temp_dir().join(format!("xcs-secrets-{id}"));
    std::fs::create_dir_all(&dir).unwrap();

    // The ingress: secrets only in the environment, the file holds placeholders.
    let tenant = DEMO_NZ_TENANT_ID.to_string();
    let ingress_toml = format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 2
log_format = "json"
[amqp]
uri = "amqp://placeholder:placeholder@127.0.0.1:1/none"
reconnect_max_backoff_ms = 500
[shops.{SHOP}]
platform = "shopify"
tenant = "{tenant}"
secrets = ["placeholder"]
[shops.{BIGCOMMERCE_SHOP}]
platform = "bigcommerce"
tenant = "{tenant}"
secrets = ["placeholder"]
"#
    );
    let ingress_config = dir.join("ingress.toml");
    std::fs::write(&ingress_config, ingress_toml).unwrap();
    let ingress = spawn_logged(
        env!("CARGO_BIN_EXE_run-ingress"),
        &ingress_config,
        &dir,
        "ingress",
        &[
            ("XCS_AMQP_URI".into(), amqp_uri.clone()),
            (
                format!("{}SECRETS", shop_env_prefix(SHOP)),
                shopify_secret.clone(),
            ),
            (
                format!("{}SECRETS", shop_env_prefix(BIGCOMMERCE_SHOP)),
                bigcommerce_secret.clone(),
            ),
        ],
    );

    // The processor, on the simulator's OAuth app; secrets again only in the environment.
    let processor_toml = test_config(
        &broker,
        &schema,
        &sim,
        &platform_shop(
            BIGCOMMERCE_SHOP,
            Platform::BigCommerce,
            Some(&api.api_toml_with("placeholder", "")),
        ),
    )
    .replace("log_format = \"pretty\"", "log_format = \"json\"")
    .replace(
        &broker.amqp_uri(),
        "amqp://placeholder:placeholder@127.0.0.1:1/none",
    )
    .replace(&postgres_url(), "postgres://placeholder@127.0.0.1:1/none")
    .replace("auth = \"custom_connection\"", "auth = \"oauth\"")
    .replace(
        &format!(
            "client_id = \"{}\"",
            xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_ID
        ),
        &format!("client_id = \"{DEMO_APP_CLIENT_ID}\""),
    )
    .replace(
        &format!(
            "client_secret = \"{}\"",
            xcs_xero_sim::CUSTOM_CONNECTION_CLIENT_SECRET
        ),
        "client_secret = \"placeholder\"",
    );
    let processor_config = dir.join("processor.toml");
    std::fs::write(&processor_config, processor_toml).unwrap();
    let processor = spawn_logged(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_config,
        &dir,
        "processor",
        &[
            ("XCS_AMQP_URI".into(), amqp_uri.clone()),
            ("XCS_POSTGRES_URL".into(), pg_url.clone()),
            (
                "XCS_XERO_CLIENT_SECRET".into(),
                DEMO_APP_CLIENT_SECRET.into(),
            ),
            (
                format!("{}API_TOKEN", shop_env_prefix(BIGCOMMERCE_SHOP)),
                credentials::BIGCOMMERCE_TOKEN.into(),
            ),
        ],
    );

    // The ingress says where it listens.
    let port = xcs_tests::eventually(HANDLED, "the ingress to listen", || async {
        let text = std::fs::read_to_string(dir.join("ingress.stdout")).ok()?;
        text.lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line["message"] == "ingress listening")
            .and_then(|line| line["port"].as_u64())
    })
    .await;
    let base_url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    xcs_tests::eventually(HANDLED, "the ingress to be ready", || async {
        let response = http.get(format!("{base_url}/readyz")).send().await.ok()?;
        (response.status() == 200).then_some(())
    })
    .await;

    // What the authorization-code flow would have stored, once the processor made its tables.
    let tokens = sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[DEMO_NZ_TENANT_ID])
        .unwrap();
    let db = schema.client().await;
    xcs_tests::eventually(HANDLED, "the processor's tables", || async {
        db.execute(
            "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
             VALUES ('default', $1, $2, now() + interval '30 minutes')",
            &[&tokens.refresh_token, &tokens.access_token],
        )
        .await
        .ok()
    })
    .await;

    let send = |delivery: signer::Delivery| {
        let http = http.clone();
        let url = format!("{base_url}{}", delivery.path());
        async move {
            let mut request = http.post(url).body(delivery.body.clone());
            for (name, value) in &delivery.headers {
                request = request.header(name, value);
            }
            request.send().await.expect("the ingress answers").status()
        }
    };
    let booked = |count: i64| {
        let db = &db;
        async move {
            xcs_tests::eventually(HANDLED, &format!("{count} events booked"), || async {
                let row = db
                    .query_one(
                        "SELECT count(*) FROM xcs_events WHERE outcome = 'booked'",
                        &[],
                    )
                    .await
                    .ok()?;
                (row.get::<_, i64>(0) >= count).then_some(())
            })
            .await;
        }
    };

    let mut signatures = Vec::new();
    let shopify_order = |n: u64| {
        signer::shopify(
            SHOP,
            &shopify_secret,
            "orders/paid",
            &format!("{}-{n}", uuid::Uuid::new_v4()),
            &fixtures::shopify_nz_order(5000 + n, 1000 + n, true),
        )
    };
    let first = shopify_order(21);
    signatures.push(first.header("X-Shopify-Hmac-Sha256").unwrap().to_owned());
    assert!(send(first).await.is_success());

    let forged = shopify_order(22);
    let wrong = BASE64.encode(format!("not-the-signature-{id}"));
    signatures.push(wrong.clone());
    assert_eq!(
        send(forged.with_header("X-Shopify-Hmac-Sha256", &wrong)).await,
        401
    );

    let bigcommerce = signer::standard_webhooks(
        Platform::BigCommerce,
        BIGCOMMERCE_SHOP,
        bigcommerce_secret.as_bytes(),
        &format!("msg_secrets_{id}"),
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &fixtures::bigcommerce(
            "store/order/created",
            310,
            credentials::BIGCOMMERCE_STORE_HASH,
        ),
    );
    let header = bigcommerce.header("webhook-signature").unwrap().to_owned();
    signatures.push(header.trim_start_matches("v1,").to_owned());
    signatures.push(header);
    assert!(send(bigcommerce).await.is_success());
    booked(2).await;

    // Half an hour later in Xero's clock the access token has expired: the next booking
    // refreshes it.
    sim.advance_clock(Duration::from_secs(31 * 60));
    let second = shopify_order(23);
    signatures.push(second.header("X-Shopify-Hmac-Sha256").unwrap().to_owned());
    assert!(send(second).await.is_success());
    booked(3).await;

    let metrics = http
        .get(format!("{base_url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    terminate(ingress).await;
    terminate(processor).await;

    // Every token: the ones stored, and every one the simulator handed out or was sent.
    let (final_refresh, final_access): (String, String) = {
        let row = db
            .query_one(
                "SELECT refresh_token, access_token FROM xcs_xero_tokens WHERE connection = 'default'",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    let first_refresh = tokens.refresh_token.clone().unwrap();
    assert_ne!(final_refresh, first_refresh, "a refresh happened");
    let mut token_values = vec![
        ("stored refresh token".to_owned(), final_refresh),
        ("stored access token".to_owned(), final_access),
        ("first refresh token".to_owned(), first_refresh),
        ("first access token".to_owned(), tokens.access_token.clone()),
    ];
    let mut refreshes = 0;
    for entry in sim.journal() {
        if !entry.path.ends_with("/connect/token") {
            continue;
        }
        refreshes += 1;
        for field in ["access_token", "refresh_token"] {
            if let Some(token) = entry.response[field].as_str() {
                token_values.push((format!("issued {field}"), token.to_owned()));
            }
        }
    }
    assert!(refreshes > 0, "the processor refreshed its access token");

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (what, raw) in [
        ("Shopify webhook secret", shopify_secret.as_str()),
        ("BigCommerce webhook secret", bigcommerce_secret.as_str()),
        ("Xero client secret", DEMO_APP_CLIENT_SECRET),
        ("BigCommerce API token", credentials::BIGCOMMERCE_TOKEN),
    ] {
        secrets.push((what.to_owned(), raw.to_owned()));
        secrets.push((format!("{what} (base64)"), BASE64.encode(raw)));
        secrets.push((format!("{what} (base64url)"), BASE64URL.encode(raw)));
    }
    secrets.extend(
        signatures
            .into_iter()
            .map(|signature| ("webhook signature".to_owned(), signature)),
    );
    secrets.extend(token_values);
    secrets.push(("AMQP password".to_owned(), user.password.clone()));
    secrets.push(("PostgreSQL password".to_owned(), pg_password));
    for (what, value) in &secrets {
        assert!(
            value.len() >= 12,
            "{what} is too short to search for: {value:?}"
        );
    }

    let logs = read_logs(&dir);
    let total: usize = logs.iter().map(|(_, text)| text.lines().count()).sum();
    let all: String = logs.iter().map(|(_, text)| text.as_str()).collect();
    // The capture worked: trace-level lines of both processes, the booking and the rejection.
    assert!(
        total > 100,
        "only {total} log lines captured in {}",
        dir.display()
    );
    assert!(
        all.contains("\"level\":\"TRACE\""),
        "trace lines are captured"
    );
    for (path, text) in &logs {
        for (n, line) in text.lines().enumerate() {
            let hits = found(line, &secrets);
            assert!(
                hits.is_empty(),
                "{} line {}: {:?} in {line}",
                path.display(),
                n + 1,
                hits.iter().map(|(what, _)| what).collect::<Vec<_>>()
            );
        }
    }
    let hits = found(&metrics, &secrets);
    assert!(hits.is_empty(), "/metrics shows {hits:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
