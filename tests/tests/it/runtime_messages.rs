//! What the ingress and the processor say at run time when they cannot reach RabbitMQ or
//! PostgreSQL (issue 15): the failure, the setting to fix (`[amqp].uri` or `XCS_AMQP_URI`,
//! `[postgres].url` or `XCS_POSTGRES_URL`), the host and vhost or database, and what to check;
//! never the password; once, not at every attempt. Each binary runs as its own process, JSON
//! logs to a file, against the real broker and database, and its output is read as an
//! operator would read it; and the one line the processor writes per event.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::{Child, Command};
use xcs_tests::broker::{TestBroker, amqp_addr, management_url};
use xcs_tests::postgres::{TestSchema, postgres_url};
use xcs_tests::processor::test_config;
use xcs_xero_sim::{SimConfig, XeroSim};

/// How long each binary's output is watched: long enough for a dozen reconnect attempts.
const WATCH: Duration = Duration::from_secs(5);

const AMQP_SETTING: &str = "[amqp].uri or XCS_AMQP_URI";
const POSTGRES_SETTING: &str = "[postgres].url or XCS_POSTGRES_URL";

/// A RabbitMQ user with a distinctive password and no permissions anywhere; deleted on drop.
struct BrokerUser {
    name: String,
    password: String,
}

impl BrokerUser {
    async fn create() -> Self {
        // reqwest is built without a crypto provider of its own; this test may run first.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let user = BrokerUser {
            name: format!("xcs-messages-{id}"),
            password: format!("amqp-password-{id}"),
        };
        let response = reqwest::Client::new()
            .put(format!("{}/api/users/{}", management_url(), user.name))
            .basic_auth("guest", Some("guest"))
            .json(&serde_json::json!({"password": user.password, "tags": ""}))
            .send()
            .await
            .expect("the management API answers");
        assert!(response.status().is_success(), "{}", response.status());
        user
    }
}

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let url = format!("{}/api/users/{}", management_url(), self.name);
        xcs_tests::broker::delete_from_drop(url);
    }
}

/// A broken AMQP URI, the password it holds, and what the message must name.
struct BadBroker {
    uri: String,
    password: String,
    vhost: String,
    /// What to check, in the message's words.
    advice: &'static str,
    _user: Option<BrokerUser>,
}

/// The guest user with a password that is not its own, on the test vhost.
fn wrong_password(broker: &TestBroker) -> BadBroker {
    let password = format!("wrong-password-{}", uuid::Uuid::new_v4().simple());
    BadBroker {
        uri: format!("amqp://guest:{password}@{}/{}", amqp_addr(), broker.vhost),
        password,
        vhost: broker.vhost.clone(),
        advice: "check the user and password",
        _user: None,
    }
}

/// A real user and password, on a vhost that does not exist.
async fn missing_vhost() -> BadBroker {
    let user = BrokerUser::create().await;
    let vhost = format!("xcs-missing-{}", uuid::Uuid::new_v4().simple());
    BadBroker {
        uri: format!(
            "amqp://{}:{}@{}/{vhost}",
            user.name,
            user.password,
            amqp_addr()
        ),
        password: user.password.clone(),
        advice: "rabbitmqctl list_permissions -p",
        vhost,
        _user: Some(user),
    }
}

/// A running binary whose stdout and stderr go to files.
struct Logged {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Logged {
    fn spawn(bin: &str, config_toml: &str, env: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("xcs-messages-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(&config, config_toml).unwrap();
        let stdout = dir.join("stdout");
        let stderr = dir.join("stderr");
        let mut command = Command::new(bin);
        command
            .arg(&config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(std::fs::File::create(&stdout).unwrap()))
            .stderr(Stdio::from(std::fs::File::create(&stderr).unwrap()))
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        Logged {
            child: command.spawn().expect("the binary starts"),
            stdout,
            stderr,
        }
    }

    fn read(path: &Path) -> String {
        String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
    }

    /// Everything written so far, stdout then stderr.
    fn output(&self) -> String {
        format!("{}{}", Self::read(&self.stdout), Self::read(&self.stderr))
    }

    /// The JSON log lines at WARN or ERROR so far.
    fn complaints(&self) -> Vec<Value> {
        Self::read(&self.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["level"] == "WARN" || line["level"] == "ERROR")
            .collect()
    }
}

/// After [`WATCH`], what `logged` said about the broken broker: the failure once, naming the
/// setting, host:port, vhost and what to check, without the password.
fn assert_said_once(logged: &Logged, bad: &BadBroker) {
    let said = said_once(logged, &bad.password, AMQP_SETTING);
    for part in [amqp_addr().as_str(), bad.vhost.as_str(), bad.advice] {
        assert!(said.contains(part), "{part:?} missing from {said:?}");
    }
}

/// After [`WATCH`], the one complaint of `logged` that holds `needle`: at most two warnings and
/// errors in all, and never `password`.
fn said_once(logged: &Logged, password: &str, needle: &str) -> String {
    let output = logged.output();
    assert!(
        !output.contains(password),
        "the password reached the output:\n{output}"
    );
    let complaints = logged.complaints();
    assert!(
        complaints.len() <= 2,
        "{} warnings and errors in {WATCH:?}, one is enough:\n{output}",
        complaints.len()
    );
    complaints
        .iter()
        .filter_map(|line| line["message"].as_str())
        .find(|message| message.contains(needle))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no line names {needle}:\n{output}"))
}

fn ingress_toml(uri: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
workers = 1
log_format = "json"
[amqp]
uri = "{uri}"
reconnect_max_backoff_ms = 500
[shops.acme]
platform = "shopify"
tenant = "{tenant}"
secrets = ["a-webhook-secret"]
"#,
        tenant = xcs_xero_sim::DEMO_NZ_TENANT_ID
    )
}

async fn ingress_says_once(bad: BadBroker) {
    let logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-ingress"),
        &ingress_toml("amqp://placeholder:placeholder@127.0.0.1:1/none"),
        &[("XCS_AMQP_URI", &bad.uri)],
    );
    tokio::time::sleep(WATCH).await;
    assert_said_once(&logged, &bad);
}

/// A processor config on the test schema and the simulator, `[amqp].uri` and `[postgres].url`
/// left for the environment, JSON logs.
fn processor_toml(
    broker: &TestBroker,
    schema: &TestSchema,
    sim: &xcs_xero_sim::RunningSim,
) -> String {
    test_config(broker, schema, sim, "")
        .replace("log_format = \"pretty\"", "log_format = \"json\"")
        .replace(
            &broker.amqp_uri(),
            "amqp://placeholder:placeholder@127.0.0.1:1/none",
        )
        .replace(&postgres_url(), "postgres://placeholder@127.0.0.1:1/none")
}

async fn processor_says_once(broker: &TestBroker, bad: BadBroker) {
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_toml(broker, &schema, &sim),
        &[
            ("XCS_AMQP_URI", &bad.uri),
            ("XCS_POSTGRES_URL", &postgres_url()),
        ],
    );
    tokio::time::sleep(WATCH).await;
    assert_said_once(&logged, &bad);
}

#[tokio::test]
async fn the_ingress_names_the_setting_for_a_wrong_amqp_password_once() {
    let broker = TestBroker::with_topology().await;
    ingress_says_once(wrong_password(&broker)).await;
}

#[tokio::test]
async fn the_ingress_names_the_setting_for_a_missing_vhost_once() {
    ingress_says_once(missing_vhost().await).await;
}

#[tokio::test]
async fn the_processor_names_the_setting_for_a_wrong_amqp_password_once() {
    let broker = TestBroker::with_topology().await;
    let bad = wrong_password(&broker);
    processor_says_once(&broker, bad).await;
}

#[tokio::test]
async fn the_processor_names_the_setting_for_a_missing_vhost_once() {
    let broker = TestBroker::with_topology().await;
    processor_says_once(&broker, missing_vhost().await).await;
}

/// A port nothing listens on, for `XCS_PROCESSOR_LISTEN`.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A PostgreSQL that does not answer is waited for: the processor stays up (alive, not ready),
/// says once where it looked and which setting says so, and tries again.
#[tokio::test]
async fn the_processor_waits_for_an_unreachable_postgres_naming_the_setting() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let port = free_port();
    let closed = format!("127.0.0.1:{}", free_port());
    let password = format!("pg-password-{}", uuid::Uuid::new_v4().simple());
    let url = format!("postgres://postgres:{password}@{closed}/xcs_ledger");
    let mut logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_toml(&broker, &schema, &sim),
        &[
            ("XCS_AMQP_URI", &broker.amqp_uri()),
            ("XCS_POSTGRES_URL", &url),
            ("XCS_PROCESSOR_LISTEN", &format!("127.0.0.1:{port}")),
        ],
    );
    tokio::time::sleep(WATCH).await;
    let output = logged.output();
    assert!(
        logged.child.try_wait().unwrap().is_none(),
        "the processor exited instead of waiting for PostgreSQL:\n{output}"
    );
    let get = |path: &'static str| async move {
        reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .unwrap_or_else(|err| panic!("GET {path} while waiting: {err}"))
            .status()
            .as_u16()
    };
    assert_eq!(get("/healthz").await, 200, "{output}");
    assert_eq!(get("/readyz").await, 503, "{output}");
    assert!(
        !output.contains(&password),
        "the password reached the output:\n{output}"
    );
    let complaints = logged.complaints();
    assert_eq!(complaints.len(), 1, "one line is enough:\n{output}");
    let said = complaints[0]["message"].as_str().unwrap_or_default();
    for part in [
        POSTGRES_SETTING,
        closed.as_str(),
        "xcs_ledger",
        "PostgreSQL is running",
    ] {
        assert!(said.contains(part), "{part:?} missing from {said:?}");
    }
}

/// A PostgreSQL that answers and has no such database needs a person: the processor exits at
/// once, naming the server, the database and the setting.
#[tokio::test]
async fn the_processor_exits_on_a_missing_database_naming_the_setting() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let server = postgres_url();
    let (server, _) = server.rsplit_once('/').expect("a database in the test URL");
    let database = format!("xcs_missing_{}", uuid::Uuid::new_v4().simple());
    let url = format!("{server}/{database}");
    let mut logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_toml(&broker, &schema, &sim),
        &[
            ("XCS_AMQP_URI", &broker.amqp_uri()),
            ("XCS_POSTGRES_URL", &url),
        ],
    );
    let status = tokio::time::timeout(Duration::from_secs(15), logged.child.wait())
        .await
        .expect("the processor exits")
        .unwrap();
    let output = logged.output();
    assert!(!status.success(), "{output}");
    let host = server.rsplit_once('@').map_or(server, |(_, host)| host);
    for part in [POSTGRES_SETTING, host, database.as_str(), "createdb"] {
        assert!(output.contains(part), "{part:?} missing from:\n{output}");
    }
}

/// A user who may log in to the vhost but not use its queues: every session ends as it starts.
/// That is one failure repeating, said once with the permissions to grant, not a warning every
/// few seconds.
#[tokio::test]
async fn the_processor_names_the_permissions_for_queues_it_may_not_use_once() {
    let broker = TestBroker::with_topology().await;
    let user = BrokerUser::create().await;
    let response = reqwest::Client::new()
        .put(format!(
            "{}/api/permissions/{}/{}",
            management_url(),
            broker.vhost,
            user.name
        ))
        .basic_auth("guest", Some("guest"))
        .json(&serde_json::json!({"configure": "", "write": "", "read": ""}))
        .send()
        .await
        .expect("the management API answers");
    assert!(response.status().is_success(), "{}", response.status());
    let uri = format!(
        "amqp://{}:{}@{}/{}",
        user.name,
        user.password,
        amqp_addr(),
        broker.vhost
    );
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_toml(&broker, &schema, &sim),
        &[
            ("XCS_AMQP_URI", &uri),
            ("XCS_POSTGRES_URL", &postgres_url()),
        ],
    );
    tokio::time::sleep(WATCH).await;
    let said = said_once(&logged, &user.password, "set_permissions");
    for part in [user.name.as_str(), broker.vhost.as_str(), AMQP_SETTING] {
        assert!(said.contains(part), "{part:?} missing from {said:?}");
    }
}

/// The one line an operator reads per event: shop, kind, outcome, the document and its amount,
/// inside the event's span (its id, platform and tenant).
#[tokio::test]
async fn each_event_handled_is_one_line_naming_shop_kind_outcome_document_and_amount() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let logged = Logged::spawn(
        env!("CARGO_BIN_EXE_run-processor"),
        &processor_toml(&broker, &schema, &sim),
        &[
            ("XCS_AMQP_URI", &broker.amqp_uri()),
            ("XCS_POSTGRES_URL", &postgres_url()),
        ],
    );
    let event_id = "shopify:nz-shopify:logged-1";
    xcs_tests::processor::publish(
        &broker,
        xcs_shared::Platform::Shopify,
        xcs_tests::processor::SHOP,
        xcs_shared::EventKind::Order,
        "orders/paid",
        event_id,
        &xcs_tests::fixtures::shopify_nz_order(5801, 1801, true),
    )
    .await;
    let (outcome, detail) =
        xcs_tests::processor::wait_handled(&schema, event_id, Duration::from_secs(30)).await;
    assert_eq!(outcome, "booked", "{detail}");
    let line = xcs_tests::eventually(Duration::from_secs(10), "the event's log line", || async {
        Logged::read(&logged.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .find(|line| line.to_string().contains("event handled"))
    })
    .await;
    let text = line.to_string();
    for part in [
        "\"nz-shopify\"",
        "\"order\"",
        "\"booked\"",
        "SH-1801",
        "63.25",
        event_id,
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
}
