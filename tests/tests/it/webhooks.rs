//! `xcs-processor webhooks check|sync` against the fake platform APIs' subscription endpoints
//! (`xcs_tests::platform_api`, `hooks/`): per platform, `check` tells healthy, missing, off,
//! failing and elsewhere topics apart; `sync` creates what is missing and turns on what is off,
//! never touches subscriptions of other apps or addresses, and a second `sync` changes nothing;
//! eBay's destinations pass the real ingress's challenge; Etsy and Adobe Commerce print their
//! manual step; `xcs-processor check` has a subscription line per shop.

use std::path::PathBuf;

use serde_json::{Value, json};
use xcs_processor::config::Config;
use xcs_processor::setup::webhooks::{
    self, Options, Outcome, ShopReport, TopicState, Verdict, render_table,
};
use xcs_shared::Platform;
use xcs_tests::platform_api::{FakePlatformApi, Request, credentials};
use xcs_tests::processor::{ShopToml, shop_toml};

use TopicState::{Elsewhere, Failing, Healthy, Missing, Off};

const PUBLIC_URL: &str = "https://hooks.example.com";
const ORDERS_AND_REFUNDS: &str = r#"["order", "refund"]"#;
const EVERYTHING: &str = r#"["order", "refund", "inventory"]"#;

/// A `[shops.NAME]` booking `sync` into the NZ demo company.
fn shop(name: &str, platform: Platform, api: Option<&str>, sync: &str, prefix: &str) -> String {
    shop_toml(&ShopToml {
        name,
        platform,
        tenant: &xcs_xero_sim::DEMO_NZ_TENANT_ID.to_string(),
        contacts: r#"{ strategy = "generic", name = "Sales" }"#,
        prefix,
        clearing: "616",
        api,
    })
    .replacen(
        &format!("[shops.{name}]\n"),
        &format!("[shops.{name}]\nsync = {sync}\n"),
        1,
    )
}

/// A processor config with `shops`: the webhook commands reach no broker, database or Xero.
fn config(public_url: Option<&str>, shops: &str) -> Config {
    let webhooks = public_url.map_or_else(String::new, |url| {
        format!("[webhooks]\npublic_url = \"{url}\"\n")
    });
    let text = format!(
        r#"
[amqp]
uri = "amqp://guest:guest@127.0.0.1:5672/unused"
[postgres]
url = "postgres://postgres@127.0.0.1:5432/postgres"
schema = "unused"
[xero]
api_base = "http://127.0.0.1:9/api.xro/2.0"
identity_base = "http://127.0.0.1:9"
client_id = "unused"
client_secret = "unused"
auth = "custom_connection"
{webhooks}{shops}"#
    );
    Config::from_toml(&text, |_| None).expect("a valid config")
}

/// Where shop `shop` of `platform` must deliver, under [`PUBLIC_URL`].
fn address(platform: Platform, shop: &str) -> String {
    format!("{PUBLIC_URL}/webhooks/{platform}/{shop}")
}

/// The ingress's config at a fresh path.
/// A config with the public URL and one shop whose platform API is `api`.
fn shop_config(
    name: &str,
    platform: Platform,
    api: &FakePlatformApi,
    sync: &str,
    prefix: &str,
) -> Config {
    config(
        Some(PUBLIC_URL),
        &shop(name, platform, Some(&api.api_toml()), sync, prefix),
    )
}

fn ingress_file(text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xcs-webhooks-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ingress.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn with_ingress(path: &std::path::Path) -> Options {
    Options {
        shop: None,
        ingress_config: Some(path.to_owned()),
    }
}

fn report<'r>(reports: &'r [ShopReport], shop: &str) -> &'r ShopReport {
    reports
        .iter()
        .find(|r| r.shop == shop)
        .unwrap_or_else(|| panic!("a report for {shop}: {}", render_table(reports)))
}

/// Each needed topic and how it stands.
fn states(report: &ShopReport) -> Vec<(&str, TopicState)> {
    match &report.outcome {
        Outcome::Checked { topics } => topics.iter().map(|t| (t.topic.as_str(), t.state)).collect(),
        other => panic!("{} was not checked: {other:?}", report.shop),
    }
}

/// The requests that were not reads.
/// `shop`'s report, after asserting every topic of it is healthy and the command succeeds.
fn all_healthy<'r>(reports: &'r [ShopReport], shop: &str) -> &'r ShopReport {
    let report = report(reports, shop);
    assert!(
        states(report).iter().all(|(_, s)| *s == Healthy),
        "{}",
        render_table(reports)
    );
    assert_eq!(webhooks::exit_code(reports), 0, "{}", render_table(reports));
    report
}

fn writes(api: &FakePlatformApi) -> Vec<Request> {
    api.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect()
}

/// Whether `hook`'s numeric id is `id`.
fn same_id(hook: &Value, id: &str) -> bool {
    hook["id"].as_u64() == id.parse().ok()
}

/// The subscription `id` as it was in `before`.
fn as_before(before: &[Value], id: &str) -> Option<Value> {
    before.iter().find(|h| same_id(h, id)).cloned()
}

fn detail<'r>(report: &'r ShopReport, topic: &str) -> &'r str {
    match &report.outcome {
        Outcome::Checked { topics } => topics
            .iter()
            .find(|t| t.topic == topic)
            .map(|t| t.detail.as_str())
            .unwrap_or_else(|| panic!("no topic {topic}")),
        other => panic!("not checked: {other:?}"),
    }
}

// Shopify.

#[tokio::test]
async fn shopify_check_tells_healthy_failing_elsewhere_and_missing_topics_apart() {
    let api = FakePlatformApi::start(Platform::Shopify).await;
    let ours = address(Platform::Shopify, "wh-shopify");
    api.add_hook(json!({"topic": "orders/create", "address": ours, "format": "json"}));
    api.add_hook(json!({"topic": "orders/updated", "address": ours, "format": "xml"}));
    api.add_hook(json!({"topic": "orders/paid", "address": "https://old.example.com/hooks", "format": "json"}));
    // Another app's subscription to our address: Shopify never shows it to ours.
    api.add_other_apps_hook(
        json!({"topic": "orders/cancelled", "address": ours, "format": "json"}),
    );
    let config = shop_config(
        "wh-shopify",
        Platform::Shopify,
        &api,
        ORDERS_AND_REFUNDS,
        "SW-",
    );
    let reports = webhooks::check(&config, &Options::default()).await.unwrap();
    let shop = report(&reports, "wh-shopify");
    assert_eq!(
        states(shop),
        [
            ("orders/create", Healthy),
            ("orders/updated", Failing),
            ("orders/paid", Elsewhere),
            ("orders/cancelled", Missing),
            ("orders/edited", Missing),
            ("refunds/create", Missing),
        ],
        "{}",
        render_table(&reports)
    );
    assert!(detail(shop, "orders/updated").contains("xml"));
    assert!(detail(shop, "orders/paid").contains("https://old.example.com/hooks"));
    assert_eq!(shop.verdict(), Verdict::NeedsPerson);
    assert_eq!(webhooks::exit_code(&reports), 1);
    let table = render_table(&reports);
    assert!(table.contains("✗ orders/cancelled"), "{table}");
    assert!(table.contains("✓ orders/create"), "{table}");
    assert_eq!(webhooks::to_json(&reports)["healthy"], false);
    assert!(writes(&api).is_empty(), "check writes nothing");
}

#[tokio::test]
async fn shopify_sync_creates_what_is_missing_beside_other_addresses_and_then_check_is_clean() {
    let api = FakePlatformApi::start(Platform::Shopify).await;
    let ours = address(Platform::Shopify, "wh-shopify");
    api.add_hook(json!({"topic": "orders/create", "address": ours, "format": "json"}));
    let old = api.add_hook(json!({"topic": "orders/paid", "address": "https://old.example.com/hooks", "format": "json"}));
    let other_app = api.add_other_apps_hook(
        json!({"topic": "orders/cancelled", "address": ours, "format": "json"}),
    );
    let before = api.hooks();
    let config = shop_config(
        "wh-shopify",
        Platform::Shopify,
        &api,
        ORDERS_AND_REFUNDS,
        "SW-",
    );

    let planned = webhooks::sync(&config, &Options::default(), true)
        .await
        .unwrap();
    assert!(writes(&api).is_empty(), "a dry run writes nothing");
    let plan = &report(&planned, "wh-shopify").actions;
    assert_eq!(plan.len(), 5, "{plan:?}");
    assert!(
        plan.iter().all(|a| a.starts_with("would create ")),
        "{plan:?}"
    );

    let reports = webhooks::sync(&config, &Options::default(), false)
        .await
        .unwrap();
    let shop = all_healthy(&reports, "wh-shopify");
    let created = writes(&api);
    assert_eq!(created.len(), 5, "{created:?}");
    assert!(
        created
            .iter()
            .all(|r| r.method == "POST" && r.status == 201),
        "{created:?}"
    );
    // The old address stays, as a warning; the other app's subscription is untouched.
    assert_eq!(shop.verdict(), Verdict::Warning);
    assert_eq!(api.hook(&old), as_before(&before, &old));
    assert_eq!(api.hook(&other_app), as_before(&before, &other_app));
    let mine: Vec<Value> = api
        .hooks()
        .into_iter()
        .filter(|h| h["address"] == ours.as_str())
        .collect();
    assert_eq!(mine.len(), 7, "ours for six topics, and the other app's");

    let again = webhooks::check(&config, &Options::default()).await.unwrap();
    assert_eq!(webhooks::exit_code(&again), 0, "{}", render_table(&again));
    let second = webhooks::sync(&config, &Options::default(), false)
        .await
        .unwrap();
    assert_eq!(report(&second, "wh-shopify").actions, ["nothing to do"]);
    assert_eq!(writes(&api).len(), 5, "a second sync writes nothing");
}

#[tokio::test]
async fn shopify_sync_names_the_scope_a_refused_topic_needs() {
    let api = FakePlatformApi::start(Platform::Shopify).await;
    api.grant_shopify_scopes(&["read_orders"]);
    let config = config(
        Some(PUBLIC_URL),
        &shop(
            "wh-shopify",
            Platform::Shopify,
            Some(&api.api_toml()),
            r#"["order", "inventory"]"#,
            "SW-",
        ),
    );
    let reports = webhooks::sync(&config, &Options::default(), false)
        .await
        .unwrap();
    let shop = report(&reports, "wh-shopify");
    let refused: Vec<_> = shop.findings.iter().filter(|f| f.fail).collect();
    assert_eq!(
        refused.len(),
        3,
        "the three inventory topics: {}",
        render_table(&reports)
    );
    for finding in refused {
        assert!(
            finding.detail.contains("Is there a missing access scope?"),
            "{finding:?}"
        );
        assert!(finding.next.contains("read_inventory"), "{finding:?}");
    }
    let states = states(shop);
    assert!(
        states
            .iter()
            .filter(|(t, _)| t.starts_with("orders/"))
            .all(|(_, s)| *s == Healthy)
    );
    assert!(
        states
            .iter()
            .filter(|(t, _)| t.starts_with("inventory_levels/"))
            .all(|(_, s)| *s == Missing)
    );
    assert_eq!(webhooks::exit_code(&reports), 1);
}

// WooCommerce.

const WOO: &str = "wh-woo";

fn woo_ingress() -> PathBuf {
    ingress_file(&format!(
        "[shops.{WOO}]\nplatform = \"woocommerce\"\ntenant = \"{}\"\nsecrets = [\"woo-secret-new\", \"woo-secret-old\"]\n",
        xcs_xero_sim::DEMO_NZ_TENANT_ID
    ))
}

#[tokio::test]
async fn woocommerce_check_tells_disabled_paused_elsewhere_and_missing_topics_apart() {
    let api = FakePlatformApi::start(Platform::WooCommerce).await;
    let ours = address(Platform::WooCommerce, WOO);
    let hook = |topic: &str, url: &str, status: &str| json!({"name": topic, "topic": topic, "delivery_url": url, "status": status, "secret": "x"});
    api.add_hook(hook("order.created", &ours, "active"));
    api.add_hook(hook("order.updated", &ours, "disabled"));
    api.add_hook(hook("order.deleted", &ours, "paused"));
    api.add_other_apps_hook(hook(
        "order.restored",
        "https://erp.example.com/woo",
        "active",
    ));
    let config = shop_config(WOO, Platform::WooCommerce, &api, EVERYTHING, "WW-");
    let reports = webhooks::check(&config, &Options::default()).await.unwrap();
    let shop = report(&reports, WOO);
    assert_eq!(
        states(shop),
        [
            ("order.created", Healthy),
            ("order.updated", Off),
            ("order.deleted", Off),
            ("order.restored", Elsewhere),
            ("product.updated", Missing),
        ],
        "{}",
        render_table(&reports)
    );
    assert!(detail(shop, "order.updated").contains("disabled by WooCommerce after more than 5"));
    assert!(detail(shop, "order.deleted").contains("paused"));
    assert!(detail(shop, "order.restored").contains("https://erp.example.com/woo"));
    assert_eq!(webhooks::exit_code(&reports), 1);
    assert!(writes(&api).is_empty());
}

#[tokio::test]
async fn woocommerce_sync_creates_with_the_ingress_secret_turns_on_what_is_off_and_leaves_others() {
    let api = FakePlatformApi::start(Platform::WooCommerce).await;
    let ours = address(Platform::WooCommerce, WOO);
    let hook = |topic: &str, url: &str, status: &str| json!({"name": topic, "topic": topic, "delivery_url": url, "status": status, "secret": "stale"});
    let disabled = api.add_hook(hook("order.updated", &ours, "disabled"));
    let others = [
        api.add_other_apps_hook(hook(
            "order.created",
            "https://erp.example.com/woo",
            "active",
        )),
        api.add_other_apps_hook(hook(
            "order.deleted",
            "https://erp.example.com/woo",
            "disabled",
        )),
    ];
    let before = api.hooks();
    let config = shop_config(WOO, Platform::WooCommerce, &api, EVERYTHING, "WW-");

    let ingress = woo_ingress();
    let planned = webhooks::sync(&config, &with_ingress(&ingress), true)
        .await
        .unwrap();
    let plan = &report(&planned, WOO).actions;
    assert_eq!(
        plan.iter()
            .filter(|a| a.starts_with("would create "))
            .count(),
        4,
        "{plan:?}"
    );
    assert!(
        plan.contains(&format!("would turn order.updated back on (id {disabled})")),
        "{plan:?}"
    );
    assert!(writes(&api).is_empty(), "a dry run writes nothing");

    let reports = webhooks::sync(&config, &with_ingress(&ingress), false)
        .await
        .unwrap();
    all_healthy(&reports, WOO);
    // Turned on with the secret the ingress verifies: the stale one is why it failed.
    let repaired = api.hook(&disabled).unwrap();
    assert_eq!(repaired["status"], "active");
    assert_eq!(repaired["secret"], "woo-secret-new");
    let created: Vec<Value> = api
        .hooks()
        .into_iter()
        .filter(|h| h["delivery_url"] == ours.as_str() && !same_id(h, &disabled))
        .collect();
    let topics: Vec<&str> = created.iter().filter_map(|h| h["topic"].as_str()).collect();
    assert_eq!(
        topics,
        [
            "order.created",
            "order.deleted",
            "order.restored",
            "product.updated"
        ]
    );
    assert!(
        created
            .iter()
            .all(|h| h["secret"] == "woo-secret-new" && h["status"] == "active")
    );
    for id in others {
        assert_eq!(
            api.hook(&id),
            as_before(&before, &id),
            "another integration's webhook is left as it was"
        );
    }
    let posts = writes(&api).len();
    let second = webhooks::sync(&config, &with_ingress(&ingress), false)
        .await
        .unwrap();
    assert_eq!(report(&second, WOO).actions, ["nothing to do"]);
    assert_eq!(writes(&api).len(), posts, "a second sync writes nothing");
}

#[tokio::test]
async fn woocommerce_sync_creates_nothing_without_the_ingress_secret_or_with_a_read_only_key() {
    let api = FakePlatformApi::start(Platform::WooCommerce).await;
    let shops = |api_toml: &str| {
        shop(
            WOO,
            Platform::WooCommerce,
            Some(api_toml),
            ORDERS_AND_REFUNDS,
            "WW-",
        )
    };
    // Without the ingress's secret WooCommerce would sign with one of its own, which the ingress
    // refuses, and disable the webhook after its failures.
    let blind = config(Some(PUBLIC_URL), &shops(&api.api_toml()));
    let reports = webhooks::sync(&blind, &Options::default(), false)
        .await
        .unwrap();
    let needs: Vec<_> = report(&reports, WOO)
        .findings
        .iter()
        .filter(|f| f.fail)
        .collect();
    assert_eq!(needs.len(), 4, "{}", render_table(&reports));
    assert!(
        needs.iter().all(|f| f.next.contains("--ingress-config")),
        "{needs:?}"
    );
    assert!(writes(&api).is_empty(), "{:?}", writes(&api));
    assert_eq!(webhooks::exit_code(&reports), 1);

    // A key with Read access lists, and is refused every write.
    let read_only = config(
        Some(PUBLIC_URL),
        &shops(&api.api_toml_with(
            credentials::WOOCOMMERCE_READ_KEY,
            credentials::WOOCOMMERCE_READ_SECRET,
        )),
    );
    let checked = webhooks::check(&read_only, &Options::default())
        .await
        .unwrap();
    assert_eq!(
        states(report(&checked, WOO)).len(),
        4,
        "{}",
        render_table(&checked)
    );
    let reports = webhooks::sync(&read_only, &with_ingress(&woo_ingress()), false)
        .await
        .unwrap();
    let refused: Vec<_> = report(&reports, WOO)
        .findings
        .iter()
        .filter(|f| f.fail)
        .collect();
    assert_eq!(refused.len(), 4, "{}", render_table(&reports));
    for finding in refused {
        assert!(
            finding.detail.contains("does not have write permissions"),
            "{finding:?}"
        );
        assert!(finding.next.contains("Read/Write"), "{finding:?}");
    }
    assert!(api.hooks().is_empty());
}

// BigCommerce.

const BC: &str = "wh-bc";
const BC_HEADER: (&str, &str) = ("X-Xcs-Hook", "bc-static-header-value");

fn bc_ingress() -> PathBuf {
    ingress_file(&format!(
        "[shops.{BC}]\nplatform = \"bigcommerce\"\ntenant = \"{}\"\nsecrets = [\"bc_app_client_secret\"]\n\
         required_headers = {{ \"{}\" = \"{}\" }}\n",
        xcs_xero_sim::DEMO_NZ_TENANT_ID,
        BC_HEADER.0,
        BC_HEADER.1
    ))
}

fn bc_hook(scope: &str, destination: &str, active: bool, header: &str) -> Value {
    json!({"scope": scope, "destination": destination, "is_active": active,
           "headers": {BC_HEADER.0: header}})
}

#[tokio::test]
async fn bigcommerce_check_tells_deactivated_wrong_headers_blocked_elsewhere_and_missing_apart() {
    let api = FakePlatformApi::start(Platform::BigCommerce).await;
    let ours = address(Platform::BigCommerce, BC);
    api.add_hook(bc_hook("store/order/created", &ours, true, BC_HEADER.1));
    api.add_hook(bc_hook("store/order/updated", &ours, false, BC_HEADER.1));
    api.add_hook(bc_hook(
        "store/order/statusUpdated",
        &ours,
        true,
        "an old value",
    ));
    api.add_hook(bc_hook(
        "store/order/archived",
        "https://old.example.com/bc",
        true,
        BC_HEADER.1,
    ));
    // Another API account's hook to our address: BigCommerce lists hooks by client_id.
    api.add_other_apps_hook(bc_hook(
        "store/order/transaction/created",
        &ours,
        true,
        BC_HEADER.1,
    ));
    let config = shop_config(BC, Platform::BigCommerce, &api, ORDERS_AND_REFUNDS, "BW-");
    let ingress = bc_ingress();
    let reports = webhooks::check(&config, &with_ingress(&ingress))
        .await
        .unwrap();
    let shop = report(&reports, BC);
    assert_eq!(
        states(shop),
        [
            ("store/order/created", Healthy),
            ("store/order/updated", Off),
            ("store/order/statusUpdated", Off),
            ("store/order/archived", Elsewhere),
            ("store/order/transaction/created", Missing),
            ("store/order/transaction/updated", Missing),
            ("store/order/refund/created", Missing),
        ],
        "{}",
        render_table(&reports)
    );
    assert!(detail(shop, "store/order/updated").contains("is_active false"));
    assert!(detail(shop, "store/order/statusUpdated").contains("required_headers"));
    let table = render_table(&reports);
    assert!(
        !table.contains(BC_HEADER.1) && !table.contains("an old value"),
        "no header values: {table}"
    );

    // A denylisted domain fails every active hook to it, and only the ingress answering helps.
    api.block_domain(PUBLIC_URL, 170);
    let reports = webhooks::check(&config, &with_ingress(&ingress))
        .await
        .unwrap();
    let shop = report(&reports, BC);
    assert_eq!(
        states(shop)[0],
        ("store/order/created", Failing),
        "{}",
        render_table(&reports)
    );
    assert!(detail(shop, "store/order/created").contains("170 s"));
    assert_eq!(states(shop)[1], ("store/order/updated", Off));
    assert!(writes(&api).is_empty());
}

#[tokio::test]
async fn bigcommerce_sync_turns_a_wildcard_hook_on_once_and_creates_the_rest_with_the_headers() {
    let api = FakePlatformApi::start(Platform::BigCommerce).await;
    let ours = address(Platform::BigCommerce, BC);
    let wildcard = api.add_hook(bc_hook("store/order/*", &ours, false, "an old value"));
    let elsewhere = api.add_hook(bc_hook(
        "store/product/inventory/updated",
        "https://old.example.com/bc",
        true,
        "x",
    ));
    let other_app =
        api.add_other_apps_hook(bc_hook("store/sku/inventory/updated", &ours, false, "y"));
    let before = api.hooks();
    let config = shop_config(BC, Platform::BigCommerce, &api, EVERYTHING, "BW-");
    let ingress = bc_ingress();
    let checked = webhooks::check(&config, &with_ingress(&ingress))
        .await
        .unwrap();
    let order_topics: Vec<_> = states(report(&checked, BC))
        .into_iter()
        .filter(|(t, _)| t.starts_with("store/order/"))
        .collect();
    assert_eq!(order_topics.len(), 7);
    assert!(
        order_topics.iter().all(|(_, s)| *s == Off),
        "store/order/* covers them: {order_topics:?}"
    );

    let reports = webhooks::sync(&config, &with_ingress(&ingress), false)
        .await
        .unwrap();
    all_healthy(&reports, BC);
    let written = writes(&api);
    let puts: Vec<_> = written.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(
        puts.len(),
        1,
        "the wildcard hook is turned on once: {written:?}"
    );
    assert_eq!(puts[0].path, format!("/v3/hooks/{wildcard}"));
    assert_eq!(
        written.iter().filter(|r| r.method == "POST").count(),
        4,
        "{written:?}"
    );
    let repaired = api.hook(&wildcard).unwrap();
    assert_eq!(repaired["is_active"], true);
    assert_eq!(repaired["headers"][BC_HEADER.0], BC_HEADER.1);
    let created: Vec<Value> = api
        .hooks()
        .into_iter()
        .filter(|h| h["destination"] == ours.as_str() && h["client_id"] == repaired["client_id"])
        .filter(|h| h["id"] != repaired["id"])
        .collect();
    assert_eq!(created.len(), 4);
    assert!(
        created
            .iter()
            .all(|h| h["headers"][BC_HEADER.0] == BC_HEADER.1 && h["is_active"] == true)
    );
    for id in [elsewhere, other_app] {
        assert_eq!(
            api.hook(&id),
            as_before(&before, &id),
            "hooks to other destinations and other accounts' hooks are left as they were"
        );
    }
    let count = writes(&api).len();
    let second = webhooks::sync(&config, &with_ingress(&ingress), false)
        .await
        .unwrap();
    assert_eq!(report(&second, BC).actions, ["nothing to do"]);
    assert_eq!(writes(&api).len(), count, "a second sync writes nothing");
}

// eBay.

const EBAY_VERIFICATION_TOKEN: &str = "71745723-d031-455c-bfa5-f90d11b4f20a";

/// The shop's `api` table with the seller's token and the app's keyset.
fn ebay_api(api: &FakePlatformApi) -> String {
    api.api_toml_with(
        credentials::EBAY_TOKEN,
        &format!(
            "{}:{}",
            credentials::EBAY_CLIENT_ID,
            credentials::EBAY_CLIENT_SECRET
        ),
    )
}

fn ebay_destination(endpoint: &str, status: &str) -> Value {
    json!({"name": "xcs", "status": status,
           "deliveryConfig": {"endpoint": endpoint, "verificationToken": "an-older-token-0123456789abcdef01"}})
}

fn ebay_subscription(destination: &str, status: &str) -> Value {
    json!({"topicId": "ORDER_CONFIRMATION", "status": status, "destinationId": destination,
           "creationDate": "2026-11-02T03:04:05.000Z",
           "payload": {"format": "JSON", "schemaVersion": "1.0", "deliveryProtocol": "HTTPS"}})
}

#[tokio::test]
async fn ebay_check_tells_marked_down_elsewhere_and_missing_apart_with_the_application_token() {
    let down = FakePlatformApi::start(Platform::Ebay).await;
    let moved = FakePlatformApi::start(Platform::Ebay).await;
    let none = FakePlatformApi::start(Platform::Ebay).await;
    let keyless = FakePlatformApi::start(Platform::Ebay).await;
    let d = down.add_destination(ebay_destination(
        &address(Platform::Ebay, "bay-down"),
        "MARKED_DOWN",
    ));
    down.add_hook(ebay_subscription(&d, "ENABLED"));
    let m = moved.add_destination(ebay_destination("https://old.example.com/ebay", "ENABLED"));
    moved.add_hook(ebay_subscription(&m, "ENABLED"));
    let shops = shop(
        "bay-down",
        Platform::Ebay,
        Some(&ebay_api(&down)),
        ORDERS_AND_REFUNDS,
        "E1-",
    ) + &shop(
        "bay-moved",
        Platform::Ebay,
        Some(&ebay_api(&moved)),
        ORDERS_AND_REFUNDS,
        "E2-",
    ) + &shop(
        "bay-none",
        Platform::Ebay,
        Some(&ebay_api(&none)),
        ORDERS_AND_REFUNDS,
        "E3-",
    ) + &shop(
        "bay-keyless",
        Platform::Ebay,
        Some(&keyless.api_toml()),
        ORDERS_AND_REFUNDS,
        "E4-",
    );
    let config = config(Some(PUBLIC_URL), &shops);
    let reports = webhooks::check(&config, &Options::default()).await.unwrap();
    let table = render_table(&reports);

    let marked = report(&reports, "bay-down");
    assert_eq!(states(marked), [("ORDER_CONFIRMATION", Off)], "{table}");
    assert!(
        detail(marked, "ORDER_CONFIRMATION").contains("marked its destination"),
        "{table}"
    );

    let elsewhere = report(&reports, "bay-moved");
    assert_eq!(
        states(elsewhere),
        [("ORDER_CONFIRMATION", Elsewhere)],
        "{table}"
    );
    let Outcome::Checked { topics } = &elsewhere.outcome else {
        unreachable!()
    };
    assert!(
        topics[0]
            .next
            .as_deref()
            .unwrap()
            .contains("one subscription per topic"),
        "eBay's one subscription per topic is left to a person: {table}"
    );

    assert_eq!(
        states(report(&reports, "bay-none")),
        [("ORDER_CONFIRMATION", Missing)],
        "{table}"
    );

    // Without the keyset the seller's token is tried for destinations, which eBay refuses.
    let keyless_report = report(&reports, "bay-keyless");
    let Outcome::NotChecked { why, next } = &keyless_report.outcome else {
        panic!("{table}");
    };
    assert!(why.contains("403"), "{why}");
    assert!(next.contains("client_id:client_secret"), "{next}");
    // Destinations and topics were asked with the application token, subscriptions with the
    // seller's: the fake refuses any other pairing.
    for api in [&down, &moved, &none] {
        assert!(
            api.requests().iter().all(|r| r.status == 200),
            "{:?}",
            api.requests()
        );
    }
}

/// A free port on 127.0.0.1, for an ingress whose own address must be in its config.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn ebay_sync_makes_destinations_the_ingress_answers_and_turns_a_marked_down_one_on() {
    let broker = xcs_tests::broker::TestBroker::with_topology().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let tenant = xcs_xero_sim::DEMO_NZ_TENANT_ID;
    let ebay_shop = |name: &str, endpoint: &str| {
        format!(
            "[shops.{name}]\nplatform = \"ebay\"\ntenant = \"{tenant}\"\n\
             verification_token = \"{EBAY_VERIFICATION_TOKEN}\"\nendpoint_url = \"{endpoint}\"\n"
        )
    };
    let ingress_toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\nworkers = 1\n[amqp]\nuri = \"{}\"\n{}{}{}{}",
        broker.amqp_uri(),
        ebay_shop("bay-new", &format!("{base}/webhooks/ebay/bay-new")),
        ebay_shop("bay-down", &format!("{base}/webhooks/ebay/bay-down")),
        ebay_shop("bay-idle", &format!("{base}/webhooks/ebay/bay-idle")),
        // The ingress hashes another URL than the one eBay is given: the challenge fails.
        ebay_shop("bay-wrong", &format!("{base}/webhooks/ebay/bay-elsewhere")),
    );
    let ingress = xcs_tests::ingress::TestIngress::start(&ingress_toml).await;
    let ingress_path = ingress_file(&ingress_toml);

    let fresh = FakePlatformApi::start(Platform::Ebay).await;
    let down = FakePlatformApi::start(Platform::Ebay).await;
    let wrong = FakePlatformApi::start(Platform::Ebay).await;
    let down_endpoint = format!("{base}/webhooks/ebay/bay-down");
    let d = down.add_destination(ebay_destination(&down_endpoint, "MARKED_DOWN"));
    let sub = down.add_hook(ebay_subscription(&d, "DISABLED"));
    // Our destination, switched off, with no subscription: it must be on before one is made.
    let idle = FakePlatformApi::start(Platform::Ebay).await;
    idle.add_destination(ebay_destination(
        &format!("{base}/webhooks/ebay/bay-idle"),
        "DISABLED",
    ));
    let shops = shop(
        "bay-new",
        Platform::Ebay,
        Some(&ebay_api(&fresh)),
        ORDERS_AND_REFUNDS,
        "E1-",
    ) + &shop(
        "bay-down",
        Platform::Ebay,
        Some(&ebay_api(&down)),
        ORDERS_AND_REFUNDS,
        "E2-",
    ) + &shop(
        "bay-wrong",
        Platform::Ebay,
        Some(&ebay_api(&wrong)),
        ORDERS_AND_REFUNDS,
        "E3-",
    ) + &shop(
        "bay-idle",
        Platform::Ebay,
        Some(&ebay_api(&idle)),
        ORDERS_AND_REFUNDS,
        "E4-",
    );
    let config = config(Some(&base), &shops);

    // Without the ingress's verification token no destination is made.
    let blind = webhooks::sync(&config, &Options::default(), false)
        .await
        .unwrap();
    assert!(
        report(&blind, "bay-new")
            .findings
            .iter()
            .any(|f| f.next.contains("--ingress-config"))
    );
    assert!(fresh.destinations().is_empty());

    let down_seen = writes(&down).len();
    let reports = webhooks::sync(&config, &with_ingress(&ingress_path), false)
        .await
        .unwrap();
    let table = render_table(&reports);
    assert_eq!(
        states(report(&reports, "bay-new")),
        [("ORDER_CONFIRMATION", Healthy)],
        "{table}"
    );
    let made = fresh.destinations();
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(
        made[0]["deliveryConfig"]["endpoint"],
        format!("{base}/webhooks/ebay/bay-new")
    );
    assert_eq!(
        made[0]["deliveryConfig"]["verificationToken"],
        EBAY_VERIFICATION_TOKEN
    );
    assert_eq!(made[0]["status"], "ENABLED");
    let subscribed = fresh.hooks();
    assert_eq!(subscribed.len(), 1);
    assert_eq!(subscribed[0]["destinationId"], made[0]["destinationId"]);
    assert_eq!(subscribed[0]["status"], "ENABLED");
    assert_eq!(subscribed[0]["payload"]["schemaVersion"], "1.0");

    // The marked-down destination passed the challenge again, then its subscription was enabled.
    assert_eq!(
        states(report(&reports, "bay-down")),
        [("ORDER_CONFIRMATION", Healthy)],
        "{table}"
    );
    assert_eq!(down.destinations()[0]["status"], "ENABLED");
    assert_eq!(
        down.destinations()[0]["deliveryConfig"]["verificationToken"],
        EBAY_VERIFICATION_TOKEN
    );
    assert_eq!(down.hook(&sub).unwrap()["status"], "ENABLED");
    let down_writes: Vec<(String, String)> = writes(&down)
        .into_iter()
        .skip(down_seen)
        .map(|r| (r.method, r.path))
        .collect();
    let token = ("POST".to_owned(), "/identity/v1/oauth2/token".to_owned());
    assert_eq!(
        down_writes,
        [
            token.clone(),
            token.clone(),
            (
                "PUT".to_owned(),
                format!("/commerce/notification/v1/destination/{d}")
            ),
            (
                "POST".to_owned(),
                format!("/commerce/notification/v1/subscription/{sub}/enable")
            ),
            token,
        ],
        "the last token is the check after the repair"
    );

    assert_eq!(
        states(report(&reports, "bay-idle")),
        [("ORDER_CONFIRMATION", Healthy)],
        "{table}"
    );
    assert_eq!(
        idle.destinations().len(),
        1,
        "its own destination, turned on"
    );
    assert_eq!(idle.destinations()[0]["status"], "ENABLED");
    assert_eq!(
        idle.hooks()[0]["destinationId"],
        idle.destinations()[0]["destinationId"]
    );

    // eBay's challenge to the shop whose endpoint_url differs fails, and check says why.
    let failed = report(&reports, "bay-wrong");
    assert!(
        failed
            .findings
            .iter()
            .any(|f| f.fail && f.detail.contains("bay-elsewhere")),
        "the ingress's endpoint_url is reported: {table}"
    );
    assert!(
        failed
            .findings
            .iter()
            .any(|f| f.detail.contains("195020") && f.next.contains("challenge")),
        "{table}"
    );
    assert!(wrong.destinations().is_empty());
    assert_eq!(webhooks::exit_code(&reports), 1);

    let only_good = Options {
        shop: Some("bay-new".to_owned()),
        ingress_config: Some(ingress_path.clone()),
    };
    let changes = |api: &FakePlatformApi| {
        writes(api)
            .into_iter()
            .filter(|r| !r.path.starts_with("/identity/"))
            .count()
    };
    let before = changes(&fresh);
    let second = webhooks::sync(&config, &only_good, false).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].actions, ["nothing to do"]);
    assert_eq!(changes(&fresh), before, "a second sync changes nothing");
    ingress.stop().await;
}

// Etsy and Adobe Commerce.

#[tokio::test]
async fn etsy_and_adobe_commerce_print_their_manual_step_and_sync_changes_nothing() {
    let etsy = FakePlatformApi::start(Platform::Etsy).await;
    let magento = FakePlatformApi::start(Platform::Magento).await;
    let shops = shop(
        "wh-etsy",
        Platform::Etsy,
        Some(&etsy.api_toml()),
        ORDERS_AND_REFUNDS,
        "ET-",
    ) + &shop(
        "wh-adobe",
        Platform::Magento,
        Some(&magento.api_toml()),
        EVERYTHING,
        "AD-",
    );
    let config = config(Some(PUBLIC_URL), &shops);
    for reports in [
        webhooks::check(&config, &Options::default()).await.unwrap(),
        webhooks::sync(&config, &Options::default(), false)
            .await
            .unwrap(),
    ] {
        let table = render_table(&reports);
        let Outcome::Manual { step } = &report(&reports, "wh-etsy").outcome else {
            panic!("{table}");
        };
        assert!(step.contains(&address(Platform::Etsy, "wh-etsy")), "{step}");
        assert!(
            step.contains("order.paid, order.canceled") && step.contains("Webhook portal"),
            "{step}"
        );
        assert!(step.contains("XCS_SHOP_WH_ETSY_SECRETS"), "{step}");
        let Outcome::Manual { step } = &report(&reports, "wh-adobe").outcome else {
            panic!("{table}");
        };
        assert!(
            step.contains(&address(Platform::Magento, "wh-adobe")),
            "{step}"
        );
        for event in [
            "observer.sales_order_save_commit_after",
            "observer.sales_order_creditmemo_save_after",
            "observer.cataloginventory_stock_item_save_commit_after",
        ] {
            assert!(step.contains(event), "{event}: {step}");
        }
        assert!(step.contains("Developer Console"), "{step}");
        assert!(
            reports
                .iter()
                .all(|r| r.verdict() == Verdict::Warning && r.actions.is_empty())
        );
        assert_eq!(
            webhooks::exit_code(&reports),
            0,
            "a manual step alone needs no one now"
        );
        assert_eq!(table.matches("! manual: ").count(), 2, "{table}");
    }
    assert!(etsy.requests().is_empty() && magento.requests().is_empty());
}

#[tokio::test]
async fn without_a_public_url_the_commands_refuse_and_name_the_setting() {
    let config = config(
        None,
        &shop(
            "wh-shopify",
            Platform::Shopify,
            None,
            ORDERS_AND_REFUNDS,
            "SW-",
        ),
    );
    let err = webhooks::check(&config, &Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("public_url") && err.contains("XCS_WEBHOOKS_PUBLIC_URL"),
        "{err}"
    );
    let config = config_with_shop();
    let err = webhooks::sync(
        &config,
        &Options {
            shop: Some("nobody".to_owned()),
            ingress_config: None,
        },
        false,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.contains("no shop \"nobody\""), "{err}");
}

fn config_with_shop() -> Config {
    config(
        Some(PUBLIC_URL),
        &shop(
            "wh-shopify",
            Platform::Shopify,
            None,
            ORDERS_AND_REFUNDS,
            "SW-",
        ),
    )
}

// `xcs-processor check`.

#[tokio::test]
async fn check_has_a_subscription_line_per_shop_from_its_platform() {
    use xcs_processor::setup::Status;
    use xcs_processor::setup::check::{self, CheckOptions};

    let broker = xcs_tests::broker::TestBroker::with_topology().await;
    let schema = xcs_tests::postgres::TestSchema::new();
    let sim = xcs_xero_sim::XeroSim::start(xcs_xero_sim::SimConfig::demo())
        .expect("the simulator starts");
    let healthy = FakePlatformApi::start(Platform::Shopify).await;
    let missing = FakePlatformApi::start(Platform::BigCommerce).await;
    let ours = address(Platform::Shopify, "wh-shopify");
    for topic in [
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/edited",
    ] {
        healthy.add_hook(json!({"topic": topic, "address": ours, "format": "json"}));
    }
    let shops = shop(
        "wh-shopify",
        Platform::Shopify,
        Some(&healthy.api_toml()),
        r#"["order"]"#,
        "SW-",
    ) + &shop(
        "wh-bc",
        Platform::BigCommerce,
        Some(&missing.api_toml()),
        ORDERS_AND_REFUNDS,
        "BW-",
    );
    let text = |webhooks: &str| {
        xcs_tests::processor::test_config(&broker, &schema, &sim, &format!("{webhooks}{shops}"))
    };
    let run = |text: String| async move {
        let config = Config::from_toml(&text, |_| None).expect("a valid config");
        check::run(&config, &CheckOptions::default()).await
    };

    let report = run(text(&format!(
        "[webhooks]\npublic_url = \"{PUBLIC_URL}\"\n"
    )))
    .await;
    let rendered = report.render_text();
    let line = |subject: &str| {
        report
            .lines
            .iter()
            .find(|l| l.subject == subject)
            .unwrap_or_else(|| panic!("a line about {subject}:\n{rendered}"))
    };
    let ok = line("webhook subscriptions wh-shopify");
    assert_eq!(ok.status, Status::Ok, "{rendered}");
    assert!(
        ok.detail
            .contains(&format!("5 topic(s) subscribed to {ours}")),
        "{ok:?}"
    );
    let failed = line("webhook subscriptions wh-bc");
    assert_eq!(failed.status, Status::Fail, "{rendered}");
    assert!(
        failed.detail.contains("7 of 7 topic(s) need attention"),
        "{failed:?}"
    );
    assert!(
        failed
            .next
            .as_deref()
            .unwrap()
            .contains("webhooks sync --shop wh-bc"),
        "{failed:?}"
    );
    // The config's own shops have no [api]: nothing can be asked, and the line says how.
    let skipped = line("webhook subscriptions nz-shopify");
    assert_eq!(skipped.status, Status::Skipped, "{rendered}");
    assert!(
        skipped
            .next
            .as_deref()
            .unwrap()
            .contains("[shops.nz-shopify.api]"),
        "{skipped:?}"
    );
    assert!(!report.passed());

    // Without a public URL the subscriptions are one skipped line.
    let report = run(text("")).await;
    let lines: Vec<_> = report
        .lines
        .iter()
        .filter(|l| l.subject.starts_with("webhook subscriptions"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", report.render_text());
    assert_eq!(lines[0].status, Status::Skipped);
    assert!(
        lines[0]
            .next
            .as_deref()
            .unwrap()
            .contains("XCS_WEBHOOKS_PUBLIC_URL")
    );
}
