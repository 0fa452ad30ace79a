//! The processor end to end: events on the real RabbitMQ, the ledger in the real PostgreSQL,
//! and documents in the Xero simulator. Each test has its own vhost, schema and simulator.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{
    SHOP, TestProcessor, invoices_numbered, publish, test_config, wait_handled,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, SimConfig, XeroSim};

const HANDLED: Duration = Duration::from_secs(20);

fn dec(value: &Value) -> Decimal {
    value.to_string().trim_matches('"').parse().unwrap()
}

struct Setup {
    broker: TestBroker,
    schema: TestSchema,
    sim: xcs_xero_sim::RunningSim,
}

async fn setup() -> Setup {
    Setup {
        broker: TestBroker::with_topology().await,
        schema: TestSchema::new(),
        sim: XeroSim::start(SimConfig::demo()).expect("the simulator starts"),
    }
}

impl Setup {
    fn config(&self) -> String {
        test_config(&self.broker, &self.schema, &self.sim, "")
    }

    async fn publish_order(&self, event_id: &str, topic: &str, body: &[u8]) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            EventKind::Order,
            topic,
            event_id,
            body,
        )
        .await;
    }

    async fn publish_refund(&self, event_id: &str, body: &[u8]) {
        publish(
            &self.broker,
            Platform::Shopify,
            SHOP,
            EventKind::Refund,
            "refunds/create",
            event_id,
            body,
        )
        .await;
    }

    fn payments_on(&self, invoice: &Value) -> Vec<Value> {
        let id = invoice["InvoiceID"].clone();
        self.sim
            .payments(DEMO_NZ_TENANT_ID)
            .into_iter()
            .filter(|p| p["Invoice"]["InvoiceID"] == id && p["Status"] != "DELETED")
            .collect()
    }
}

#[tokio::test]
async fn a_paid_order_becomes_an_authorised_invoice_paid_into_the_clearing_account() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-1",
            "orders/paid",
            &fixtures::shopify_nz_order(5001, 1001, true),
        )
        .await;
    let (outcome, _) = wait_handled(&setup.schema, "shopify:nz-shopify:w-1", HANDLED).await;
    assert_eq!(outcome, "booked");

    let invoices = invoices_numbered(&setup.sim, "SH-1001");
    assert_eq!(invoices.len(), 1);
    let invoice = &invoices[0];
    assert_eq!(invoice["Type"], "ACCREC");
    assert_eq!(invoice["CurrencyCode"], "NZD");
    assert_eq!(dec(&invoice["Total"]), Decimal::new(6325, 2), "{invoice}");
    assert_eq!(dec(&invoice["TotalTax"]), Decimal::new(825, 2));
    assert_eq!(invoice["Status"], "PAID", "paid in full: {invoice}");
    let payments = setup.payments_on(invoice);
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0]["Account"]["Code"], "615");
    assert_eq!(dec(&payments[0]["Amount"]), Decimal::new(6325, 2));
    processor.stop().await;
}

#[tokio::test]
async fn the_same_event_twice_and_an_echo_of_the_order_book_one_invoice_and_one_payment() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let body = fixtures::shopify_nz_order(5002, 1002, true);
    setup
        .publish_order("shopify:nz-shopify:w-2", "orders/paid", &body)
        .await;
    setup
        .publish_order("shopify:nz-shopify:w-2", "orders/paid", &body)
        .await;
    // orders/updated after payment carries the same order: an echo, not a new sale.
    setup
        .publish_order("shopify:nz-shopify:w-3", "orders/updated", &body)
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:w-2", HANDLED).await;
    wait_handled(&setup.schema, "shopify:nz-shopify:w-3", HANDLED).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let invoices = invoices_numbered(&setup.sim, "SH-1002");
    assert_eq!(invoices.len(), 1);
    assert_eq!(setup.payments_on(&invoices[0]).len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn an_unpaid_order_is_invoiced_and_its_payment_follows_when_it_is_paid() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:c-4",
            "orders/create",
            &fixtures::shopify_nz_order(5004, 1004, false),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:c-4", HANDLED).await;
    let invoice = invoices_numbered(&setup.sim, "SH-1004").remove(0);
    assert_eq!(invoice["Status"], "AUTHORISED");
    assert!(setup.payments_on(&invoice).is_empty());

    setup
        .publish_order(
            "shopify:nz-shopify:p-4",
            "orders/paid",
            &fixtures::shopify_nz_order(5004, 1004, true),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:p-4", HANDLED).await;
    let invoices = invoices_numbered(&setup.sim, "SH-1004");
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["Status"], "PAID");
    assert_eq!(setup.payments_on(&invoices[0]).len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn a_refund_of_a_paid_order_is_a_credit_note_refunded_from_the_clearing_account() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-5",
            "orders/paid",
            &fixtures::shopify_nz_order(5005, 1005, true),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:w-5", HANDLED).await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-5",
            &fixtures::shopify_nz_refund(7005, 5005),
        )
        .await;
    let (outcome, _) = wait_handled(&setup.schema, "shopify:nz-shopify:r-5", HANDLED).await;
    assert_eq!(outcome, "booked");

    let notes: Vec<Value> = setup
        .sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| c["CreditNoteNumber"] == "SH-1005/R7005")
        .collect();
    assert_eq!(notes.len(), 1);
    let note = &notes[0];
    assert_eq!(note["Type"], "ACCRECCREDIT");
    assert_eq!(dec(&note["Total"]), Decimal::new(2300, 2));
    assert_eq!(dec(&note["TotalTax"]), Decimal::new(300, 2));
    let refund_payments: Vec<Value> = setup
        .sim
        .payments(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|p| p["CreditNote"]["CreditNoteID"] == note["CreditNoteID"])
        .collect();
    assert_eq!(
        refund_payments.len(),
        1,
        "the money that left is paid out of clearing"
    );
    assert_eq!(refund_payments[0]["Account"]["Code"], "615");
    assert_eq!(dec(&refund_payments[0]["Amount"]), Decimal::new(2300, 2));
    processor.stop().await;
}

#[tokio::test]
async fn a_500_after_xero_applied_the_invoice_books_it_once_on_the_retry() {
    let setup = setup().await;
    setup.sim.inject_fault(xcs_xero_sim::Fault {
        kind: xcs_xero_sim::FaultKind::ApplyThenStatus { status: 500 },
        matcher: xcs_xero_sim::FaultMatcher {
            method: Some("PUT".into()),
            path_prefix: Some("/api.xro/2.0/Invoices".into()),
            tenant: None,
        },
        count: 1,
    });
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-6",
            "orders/paid",
            &fixtures::shopify_nz_order(5006, 1006, true),
        )
        .await;
    // The first attempt (and its quick retry, answered from Xero's idempotency cache) fails;
    // the retry tier brings the event back after 10 s with a new key, meets "must be unique"
    // and adopts the invoice.
    let (outcome, _) = wait_handled(
        &setup.schema,
        "shopify:nz-shopify:w-6",
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(outcome, "booked");
    let invoices = invoices_numbered(&setup.sim, "SH-1006");
    assert_eq!(invoices.len(), 1);
    assert_eq!(setup.payments_on(&invoices[0]).len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn a_429_of_the_minute_limit_is_waited_out_in_place_not_sent_through_the_retry_tiers() {
    let setup = setup().await;
    setup.sim.inject_fault(
        xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::RateLimited { retry_after_s: 1 })
            .method("PUT")
            .path_prefix("/api.xro/2.0/Invoices")
            .times(2),
    );
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-429",
            "orders/paid",
            &fixtures::shopify_nz_order(5429, 1429, true),
        )
        .await;
    let (outcome, _) = wait_handled(&setup.schema, "shopify:nz-shopify:w-429", HANDLED).await;
    assert_eq!(outcome, "booked");
    assert_eq!(invoices_numbered(&setup.sim, "SH-1429").len(), 1);
    // Two refusals, then the invoice, all under one Idempotency-Key: the same attempt. A trip
    // through a retry tier would have counted an attempt and changed the key.
    let keys: Vec<Option<String>> = setup
        .sim
        .journal()
        .iter()
        .filter(|e| e.method == "PUT" && e.path.ends_with("/Invoices"))
        .map(|e| e.idempotency_key.clone())
        .collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.is_some() && *k == keys[0]),
        "{keys:?}"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_replay_after_xeros_idempotency_window_with_an_empty_ledger_adopts_instead_of_duplicating()
 {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let body = fixtures::shopify_nz_order(5007, 1007, true);
    setup
        .publish_order("shopify:nz-shopify:w-7", "orders/paid", &body)
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:w-7", HANDLED).await;
    processor.stop().await;

    // Seven simulated minutes later, a processor with a fresh ledger (a restored database, a
    // second deployment) is given the same order again.
    setup.sim.advance_clock(Duration::from_secs(7 * 60));
    let fresh_schema = TestSchema::new();
    let processor =
        TestProcessor::start(&test_config(&setup.broker, &fresh_schema, &setup.sim, "")).await;
    setup
        .publish_order("shopify:nz-shopify:w-7-replay", "orders/paid", &body)
        .await;
    let (outcome, _) = wait_handled(&fresh_schema, "shopify:nz-shopify:w-7-replay", HANDLED).await;
    assert_eq!(outcome, "booked");
    let invoices = invoices_numbered(&setup.sim, "SH-1007");
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        setup.payments_on(&invoices[0]).len(),
        1,
        "the payment was adopted, not repeated"
    );
    processor.stop().await;
}

#[tokio::test]
async fn an_unmapped_tax_goes_to_the_dead_queue_with_its_reason() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let mut order: Value =
        serde_json::from_slice(&fixtures::shopify_nz_order(5008, 1008, true)).unwrap();
    order["line_items"][0]["tax_lines"][0]["rate"] = json!(0.09);
    order["line_items"][0]["tax_lines"][0]["title"] = json!("Mystery tax");
    setup
        .publish_order(
            "shopify:nz-shopify:w-8",
            "orders/paid",
            &serde_json::to_vec(&order).unwrap(),
        )
        .await;
    let dead = xcs_tests::eventually(HANDLED, "a dead letter", || async {
        let dead = setup
            .broker
            .take_all(xcs_shared::topology::DEAD_QUEUE)
            .await;
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].header("xcs-reason"), Some("unmapped_tax"));
    assert!(
        dead[0]
            .header("xcs-last-error")
            .unwrap()
            .contains("tax.by_rate")
    );
    assert!(invoices_numbered(&setup.sim, "SH-1008").is_empty());
    processor.stop().await;
}

#[tokio::test]
async fn a_refund_that_arrives_before_its_order_waits_in_a_retry_tier() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-9",
            &fixtures::shopify_nz_refund(7009, 5009),
        )
        .await;
    xcs_tests::eventually(HANDLED, "the refund in the first retry tier", || async {
        (setup.broker.depth("xcs.retry.10s").await == 1).then_some(())
    })
    .await;
    processor.stop().await;
}

#[tokio::test]
async fn every_request_the_processor_sends_conforms_to_xeros_openapi_spec() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:c-10",
            "orders/create",
            &fixtures::shopify_nz_order(5010, 1010, false),
        )
        .await;
    setup
        .publish_order(
            "shopify:nz-shopify:p-10",
            "orders/paid",
            &fixtures::shopify_nz_order(5010, 1010, true),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:p-10", HANDLED).await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-10",
            &fixtures::shopify_nz_refund(7010, 5010),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:r-10", HANDLED).await;
    processor.stop().await;

    let api_calls = xcs_tests::openapi::assert_journal_conforms(&setup.sim.journal());
    assert!(
        api_calls >= 5,
        "invoices, contacts, payments, credit notes: {api_calls}"
    );
}

impl Setup {
    /// The test config with the OAuth app instead of the Custom Connection.
    fn oauth_config(&self) -> String {
        self.config()
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
                &format!(
                    "client_secret = \"{}\"",
                    xcs_xero_sim::DEMO_APP_CLIENT_SECRET
                ),
            )
    }
}

#[tokio::test]
async fn with_a_token_key_the_rotated_tokens_are_stored_encrypted_and_need_that_key() {
    let setup = setup().await;
    let key = "5a".repeat(32);
    let config = setup.oauth_config();
    let with_key = |name: &str| (name == "XCS_TOKEN_KEY").then(|| key.clone());
    let processor = TestProcessor::start_with_env(&config, with_key).await;
    // Tokens stored before encryption was turned on, and already expired in Xero's clock.
    let tokens = setup
        .sim
        .issue_tokens(xcs_xero_sim::DEMO_APP_CLIENT_ID, &[DEMO_NZ_TENANT_ID])
        .unwrap();
    let db = setup.schema.client().await;
    db.execute(
        "INSERT INTO xcs_xero_tokens (connection, refresh_token, access_token, access_expires_at)
         VALUES ('default', $1, $2, now() - interval '1 minute')",
        &[&tokens.refresh_token.clone().unwrap(), &tokens.access_token],
    )
    .await
    .unwrap();
    setup
        .publish_order(
            "shopify:nz-shopify:o-21",
            "orders/paid",
            &fixtures::shopify_nz_order(5021, 1021, true),
        )
        .await;
    assert_eq!(
        wait_handled(&setup.schema, "shopify:nz-shopify:o-21", HANDLED)
            .await
            .0,
        "booked"
    );
    processor.stop().await;

    let row = db
        .query_one(
            "SELECT refresh_token, access_token FROM xcs_xero_tokens WHERE connection = 'default'",
            &[],
        )
        .await
        .unwrap();
    let (refresh, access): (String, String) = (row.get(0), row.get(1));
    for stored in [&refresh, &access] {
        assert!(stored.starts_with("xcs-enc:v1:"), "{stored}");
    }
    let issued = setup
        .sim
        .journal()
        .into_iter()
        .filter(|entry| entry.path == "/connect/token")
        .count();
    assert!(issued >= 1, "the expired token was refreshed");

    // Without the key (or with another) the stored tokens cannot be used, and the error says
    // what to do.
    for env_key in [None, Some("6b".repeat(32))] {
        let config = xcs_processor::config::Config::from_toml(&config, |name| {
            (name == "XCS_TOKEN_KEY").then(|| env_key.clone()).flatten()
        })
        .unwrap();
        let ledger = xcs_processor::ledger::Ledger::connect(&config.postgres)
            .await
            .unwrap();
        let refused = ledger
            .rotate_token("default", None, |stored| async move {
                Ok::<_, std::convert::Infallible>(stored)
            })
            .await
            .expect_err("the tokens cannot be read")
            .to_string();
        assert!(refused.contains("XCS_TOKEN_KEY"), "{refused}");
    }
    // A key that is not 32 bytes of hex is refused at start.
    let invalid = xcs_processor::config::Config::from_toml(&config, |name| {
        (name == "XCS_TOKEN_KEY").then(|| "not-a-key".to_owned())
    })
    .expect_err("a bad key is refused")
    .to_string();
    assert!(invalid.contains("64 hex digits"), "{invalid}");
}

#[tokio::test]
async fn oauth_tokens_are_refreshed_when_they_expire_and_the_rotated_refresh_token_is_stored() {
    let setup = setup().await;
    let config = setup.oauth_config();
    let processor = TestProcessor::start(&config).await;

    // What the authorization-code flow would have stored.
    let tokens = setup
        .sim
        .issue_tokens(xcs_xero_sim::DEMO_APP_CLIENT_ID, &[DEMO_NZ_TENANT_ID])
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

    setup
        .publish_order(
            "shopify:nz-shopify:o-11",
            "orders/paid",
            &fixtures::shopify_nz_order(5011, 1011, true),
        )
        .await;
    assert_eq!(
        wait_handled(&setup.schema, "shopify:nz-shopify:o-11", HANDLED)
            .await
            .0,
        "booked"
    );

    // Half an hour later in Xero's clock, the access token has expired.
    setup.sim.advance_clock(Duration::from_secs(31 * 60));
    setup
        .publish_order(
            "shopify:nz-shopify:o-12",
            "orders/paid",
            &fixtures::shopify_nz_order(5012, 1012, true),
        )
        .await;
    assert_eq!(
        wait_handled(&setup.schema, "shopify:nz-shopify:o-12", HANDLED)
            .await
            .0,
        "booked"
    );
    assert_eq!(invoices_numbered(&setup.sim, "SH-1012").len(), 1);

    let stored: String = db
        .query_one(
            "SELECT refresh_token FROM xcs_xero_tokens WHERE connection = 'default'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_ne!(
        stored, first_refresh,
        "the rotated refresh token replaced the old one"
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_processor_killed_between_the_xero_write_and_the_ack_books_nothing_twice() {
    let setup = setup().await;
    // Payments answer slowly, so the processor is killed after the invoice was written and
    // before the event was acknowledged.
    setup.sim.inject_fault(
        xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::Latency { ms: 3_000 })
            .method("PUT")
            .path_prefix("/api.xro/2.0/Payments"),
    );
    let dir = std::env::temp_dir().join(format!("xcs-kill-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let config_path = dir.join("processor.toml");
    std::fs::write(&config_path, setup.config()).unwrap();
    let spawn = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_run-processor"))
            .arg(&config_path)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true)
            .spawn()
            .expect("the processor process starts")
    };

    let mut first = spawn();
    setup
        .publish_order(
            "shopify:nz-shopify:k-13",
            "orders/paid",
            &fixtures::shopify_nz_order(5013, 1013, true),
        )
        .await;
    xcs_tests::eventually(HANDLED, "the invoice in Xero", || async {
        (!invoices_numbered(&setup.sim, "SH-1013").is_empty()).then_some(())
    })
    .await;
    first.kill().await.expect("SIGKILL");

    let mut second = spawn();
    let (outcome, _) = wait_handled(
        &setup.schema,
        "shopify:nz-shopify:k-13",
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(outcome, "booked");
    let invoices = invoices_numbered(&setup.sim, "SH-1013");
    assert_eq!(invoices.len(), 1);
    // The killed processor's payment may have been applied after it died; either way, one.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        setup.payments_on(&invoices[0]).len(),
        1,
        "{:#?}",
        setup.payments_on(&invoices[0])
    );
    second.kill().await.ok();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_later_capture_of_a_booked_order_pays_only_what_is_new() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let unpaid = fixtures::shopify_nz_order(5014, 1014, false);
    setup
        .publish_order("shopify:nz-shopify:c-14", "orders/create", &unpaid)
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:c-14", HANDLED).await;
    let paid = fixtures::shopify_nz_order(5014, 1014, true);
    for (n, event) in ["p-14", "u-14", "u2-14"].iter().enumerate() {
        let topic = if n == 0 {
            "orders/paid"
        } else {
            "orders/updated"
        };
        let event_id = format!("shopify:nz-shopify:{event}");
        setup.publish_order(&event_id, topic, &paid).await;
        wait_handled(&setup.schema, &event_id, HANDLED).await;
    }
    let invoices = invoices_numbered(&setup.sim, "SH-1014");
    assert_eq!(invoices.len(), 1);
    let payments = setup.payments_on(&invoices[0]);
    assert_eq!(payments.len(), 1, "{payments:#?}");
    assert_eq!(dec(&payments[0]["Amount"]), Decimal::new(6325, 2));
    processor.stop().await;
}

#[tokio::test]
async fn an_order_cancelled_before_it_was_booked_books_nothing() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let mut order: Value =
        serde_json::from_slice(&fixtures::shopify_nz_order(5015, 1015, false)).unwrap();
    order["cancelled_at"] = json!("2026-11-20T11:00:00+13:00");
    order["cancel_reason"] = json!("customer");
    order["financial_status"] = json!("voided");
    setup
        .publish_order(
            "shopify:nz-shopify:x-15",
            "orders/cancelled",
            &serde_json::to_vec(&order).unwrap(),
        )
        .await;
    let (outcome, detail) = wait_handled(&setup.schema, "shopify:nz-shopify:x-15", HANDLED).await;
    assert_eq!(outcome, "skipped");
    assert!(detail.contains("cancelled"), "{detail}");
    assert!(invoices_numbered(&setup.sim, "SH-1015").is_empty());
    processor.stop().await;
}

#[tokio::test]
async fn a_cached_contact_xero_no_longer_has_is_forgotten_and_the_order_booked_on_the_retry() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    // A ledger that outlived the organisation's data (or a contact deleted in Xero).
    let db = setup.schema.client().await;
    db.execute(
        "INSERT INTO xcs_contacts (tenant, contact_key, contact_id) VALUES ($1, 'name:Shopify Sales', $2)",
        &[&DEMO_NZ_TENANT_ID.to_string(), &"928de421-1059-41e6-bb7a-6e06765f663f"],
    )
    .await
    .unwrap();
    setup
        .publish_order(
            "shopify:nz-shopify:s-16",
            "orders/paid",
            &fixtures::shopify_nz_order(5016, 1016, true),
        )
        .await;
    let (outcome, _) = wait_handled(
        &setup.schema,
        "shopify:nz-shopify:s-16",
        Duration::from_secs(40),
    )
    .await;
    assert_eq!(outcome, "booked");
    assert_eq!(invoices_numbered(&setup.sim, "SH-1016").len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn an_unpaid_order_cancelled_after_it_was_booked_has_its_invoice_voided_once() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let unpaid = fixtures::shopify_nz_order(5017, 1017, false);
    setup
        .publish_order("shopify:nz-shopify:c-17", "orders/create", &unpaid)
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:c-17", HANDLED).await;
    assert_eq!(
        invoices_numbered(&setup.sim, "SH-1017")[0]["Status"],
        "AUTHORISED"
    );

    // The cancellation, and Shopify's retry of it.
    for event in ["x-17", "x2-17"] {
        let event_id = format!("shopify:nz-shopify:{event}");
        setup
            .publish_order(
                &event_id,
                "orders/cancelled",
                &fixtures::shopify_cancelled(&unpaid),
            )
            .await;
        let (outcome, detail) = wait_handled(&setup.schema, &event_id, HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
        assert!(detail.contains("voided"), "{detail}");
    }
    let invoices = invoices_numbered(&setup.sim, "SH-1017");
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0]["Status"], "VOIDED");
    processor.stop().await;
}

#[tokio::test]
async fn a_paid_order_cancelled_after_it_was_booked_keeps_its_invoice_for_the_refund() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    let paid = fixtures::shopify_nz_order(5018, 1018, true);
    setup
        .publish_order("shopify:nz-shopify:p-18", "orders/paid", &paid)
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:p-18", HANDLED).await;
    setup
        .publish_order(
            "shopify:nz-shopify:x-18",
            "orders/cancelled",
            &fixtures::shopify_cancelled(&paid),
        )
        .await;
    let (outcome, detail) = wait_handled(&setup.schema, "shopify:nz-shopify:x-18", HANDLED).await;
    assert_eq!(outcome, "skipped");
    assert!(detail.contains("refunds book the money back"), "{detail}");
    let invoices = invoices_numbered(&setup.sim, "SH-1018");
    assert_eq!(invoices[0]["Status"], "PAID");
    assert_eq!(setup.payments_on(&invoices[0]).len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn a_refund_right_behind_its_order_is_booked_in_its_place_not_after_a_retry() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    // The refund is read while its order is still in the batch being booked; the order after
    // it must not overtake it (a trip through the retry tiers would let it).
    setup
        .publish_order(
            "shopify:nz-shopify:o-19",
            "orders/paid",
            &fixtures::shopify_nz_order(5019, 1019, true),
        )
        .await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-19",
            &fixtures::shopify_nz_refund(7019, 5019),
        )
        .await;
    setup
        .publish_order(
            "shopify:nz-shopify:o-20",
            "orders/paid",
            &fixtures::shopify_nz_order(5020, 1020, true),
        )
        .await;
    for event in ["o-19", "r-19", "o-20"] {
        let event_id = format!("shopify:nz-shopify:{event}");
        assert_eq!(
            wait_handled(&setup.schema, &event_id, HANDLED).await.0,
            "booked"
        );
    }
    let db = setup.schema.client().await;
    let order: Vec<String> = db
        .query(
            "SELECT event_id FROM xcs_events ORDER BY processed_at, event_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let position = |id: &str| order.iter().position(|e| e.ends_with(id)).unwrap();
    assert!(position("r-19") < position("o-20"), "{order:?}");
    processor.stop().await;
}

/// The next `PUT /Payments` answers 500; its quick retry, under the same Idempotency-Key, gets
/// that answer again from Xero's cache, so the events go to a retry tier.
fn fail_payments(setup: &Setup) {
    setup.sim.inject_fault(
        xcs_xero_sim::Fault::new(xcs_xero_sim::FaultKind::Status {
            status: 500,
            body: None,
        })
        .method("PUT")
        .path_prefix("/api.xro/2.0/Payments"),
    );
}

#[tokio::test]
async fn a_refund_read_while_its_orders_payment_waits_in_a_retry_tier_waits_for_it() {
    let setup = setup().await;
    fail_payments(&setup);
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-8",
            "orders/paid",
            &fixtures::shopify_nz_order(5008, 1008, true),
        )
        .await;
    // The invoice is booked; its payment failed and waits 10 s in a retry tier.
    xcs_tests::eventually(HANDLED, "the invoice in Xero", || async {
        (invoices_numbered(&setup.sim, "SH-1008").len() == 1).then_some(())
    })
    .await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-8",
            &fixtures::shopify_nz_refund(7008, 5008),
        )
        .await;
    let wait = Duration::from_secs(60);
    let (outcome, _) = wait_handled(&setup.schema, "shopify:nz-shopify:r-8", wait).await;
    assert_eq!(outcome, "booked");
    let (outcome, _) = wait_handled(&setup.schema, "shopify:nz-shopify:w-8", wait).await;
    assert_eq!(outcome, "booked");

    // As the gateway moved the money: 63.25 in, 23.00 out; nothing set against the invoice.
    let invoice = &invoices_numbered(&setup.sim, "SH-1008")[0];
    let paid: Vec<Decimal> = setup
        .payments_on(invoice)
        .iter()
        .map(|p| dec(&p["Amount"]))
        .collect();
    assert_eq!(paid, [Decimal::new(6325, 2)], "{invoice}");
    assert_eq!(dec(&invoice["AmountCredited"]), Decimal::ZERO, "{invoice}");
    let note = setup
        .sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|c| c["CreditNoteNumber"] == "SH-1008/R7008")
        .expect("the credit note");
    let refunded: Vec<Decimal> = setup
        .sim
        .payments(DEMO_NZ_TENANT_ID)
        .iter()
        .filter(|p| p["CreditNote"]["CreditNoteID"] == note["CreditNoteID"])
        .map(|p| dec(&p["Amount"]))
        .collect();
    assert_eq!(refunded, [Decimal::new(2300, 2)], "{note}");
    processor.stop().await;
}

#[tokio::test]
async fn two_copies_of_an_event_in_one_batch_share_the_fate_of_its_failed_payment() {
    let setup = setup().await;
    fail_payments(&setup);
    // Both copies are queued before the processor starts, so they land in one batch.
    let body = fixtures::shopify_nz_order(5009, 1009, true);
    for _ in 0..2 {
        setup
            .publish_order("shopify:nz-shopify:w-9", "orders/paid", &body)
            .await;
    }
    let processor = TestProcessor::start(&setup.config()).await;
    // Were the second copy recorded as booked while the first failed, the first's retry would
    // be dropped as a duplicate and the invoice never paid.
    let paid = xcs_tests::eventually(Duration::from_secs(60), "the invoice paid", || async {
        let invoices = invoices_numbered(&setup.sim, "SH-1009");
        let payments = invoices.first().map(|i| setup.payments_on(i))?;
        (!payments.is_empty()).then_some(payments)
    })
    .await;
    assert_eq!(paid.len(), 1, "{paid:#?}");
    assert_eq!(dec(&paid[0]["Amount"]), Decimal::new(6325, 2));
    processor.stop().await;
}

/// Credit notes booked before numbers marked the refund with `/R` (`SH-1012-R7012`) keep their
/// number: the same refund seen again, in a new event, finds its credit note under the old
/// number and credits nothing a second time.
#[tokio::test]
async fn a_refund_booked_under_the_old_numbering_is_not_credited_twice() {
    let setup = setup().await;
    let processor = TestProcessor::start(&setup.config()).await;
    setup
        .publish_order(
            "shopify:nz-shopify:w-12",
            "orders/paid",
            &fixtures::shopify_nz_order(5012, 1012, true),
        )
        .await;
    wait_handled(&setup.schema, "shopify:nz-shopify:w-12", HANDLED).await;
    setup
        .publish_refund(
            "shopify:nz-shopify:r-12",
            &fixtures::shopify_nz_refund(7012, 5012),
        )
        .await;
    let (outcome, detail) = wait_handled(&setup.schema, "shopify:nz-shopify:r-12", HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");

    // As an older release booked it: the old number in Xero and in the ledger.
    let config = xcs_processor::config::Config::from_toml(&setup.config(), |_| None).unwrap();
    let ledger = xcs_processor::ledger::Ledger::lazy(&config.postgres).unwrap();
    let xero = xcs_processor::xero::client::XeroClient::new(&config.xero, ledger).unwrap();
    let note = setup
        .sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .find(|c| c["CreditNoteNumber"] == "SH-1012/R7012")
        .unwrap_or_else(|| {
            panic!(
                "the credit note: {:?}",
                setup
                    .sim
                    .credit_notes(DEMO_NZ_TENANT_ID)
                    .iter()
                    .map(|c| c["CreditNoteNumber"].clone())
                    .collect::<Vec<_>>()
            )
        });
    let id = note["CreditNoteID"].as_str().unwrap();
    xero.call(
        &DEMO_NZ_TENANT_ID.to_string(),
        reqwest::Method::POST,
        &format!("/CreditNotes/{id}"),
        &[],
        Some(&json!({"CreditNotes": [{"CreditNoteID": id, "CreditNoteNumber": "SH-1012-R7012"}]})),
        None,
    )
    .await
    .unwrap();
    let updated = setup
        .schema
        .client()
        .await
        .execute(
            "UPDATE xcs_documents SET doc_key = 'credit_note:SH-1012-R7012',
                    number = 'SH-1012-R7012'
             WHERE doc_key = 'credit_note:SH-1012/R7012'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(updated, 1);
    // Past Xero's idempotency window, which would otherwise answer for the first attempt.
    setup.sim.advance_clock(Duration::from_secs(7 * 60));

    setup
        .publish_refund(
            "shopify:nz-shopify:r-12-again",
            &fixtures::shopify_nz_refund(7012, 5012),
        )
        .await;
    let (outcome, detail) =
        wait_handled(&setup.schema, "shopify:nz-shopify:r-12-again", HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let notes: Vec<Value> = setup
        .sim
        .credit_notes(DEMO_NZ_TENANT_ID)
        .into_iter()
        .filter(|c| {
            c["Status"] != "VOIDED" && c["Reference"].as_str().unwrap_or("").contains("7012")
        })
        .collect();
    assert_eq!(notes.len(), 1, "one credit note: {notes:#?}");
    assert_eq!(notes[0]["CreditNoteNumber"], "SH-1012-R7012");
    processor.stop().await;
}
