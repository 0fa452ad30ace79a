//! The console's reconcile and mapping screens (`/console/reconcile`, `/console/mapping`),
//! driven over HTTP as a browser without JavaScript would: a document lost in Xero is found by
//! a reconcile, fixed from the confirmation page, and found fixed; the mapping check runs and
//! its verdict shows per shop; bad input answers 400. Against the real RabbitMQ and PostgreSQL
//! and the Xero simulator, the console on the processor's own port.

use std::time::Duration;

use xcs_shared::{EventKind, Platform};
use xcs_tests::console::{ADMIN_TOKEN, Answer, ConsoleClient, env_with_console};
use xcs_tests::fixtures;
use xcs_tests::processor::{
    Rig, SHOP, ShopToml, TestProcessor, XeroAuth, connect_demo_app, invoices_numbered, one_invoice,
    payments_on, processor_toml, shop_toml, wait_handled,
};
use xcs_xero_sim::{CUSTOM_CONNECTION_CLIENT_SECRET, DEMO_AU_TENANT_ID, DEMO_NZ_TENANT_ID};

const HANDLED: Duration = Duration::from_secs(30);
/// The day the test publisher stamps on events.
const FROM: &str = "2026-11-27";
const TO: &str = "2026-11-28";

fn event_id(n: u64) -> String {
    format!("shopify:{SHOP}:crc-{n}")
}

async fn publish_order(rig: &Rig, n: u64) {
    rig.publish(
        EventKind::Order,
        "orders/paid",
        &event_id(n),
        &fixtures::shopify_nz_order(9000 + n, n, true),
    )
    .await;
}

/// The `href` of the first link in `page` that starts with `prefix`, unescaped.
fn link(page: &str, prefix: &str) -> Option<String> {
    let at = page.find(&format!("href=\"{prefix}"))? + "href=\"".len();
    let rest = &page[at..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&"))
}

/// Reconciles the test day from a fresh form page; the finished action's page.
async fn reconcile(console: &mut ConsoleClient) -> String {
    let page = console
        .page(&format!(
            "/console/reconcile?shop={SHOP}&from={FROM}&to={TO}"
        ))
        .await;
    let answer = console
        .submit(
            &page,
            "/console/reconcile",
            &[
                ("shop", SHOP),
                ("from", FROM),
                ("to", TO),
                ("what", "orders"),
            ],
        )
        .await;
    assert_eq!(answer.status, 303, "{answer:?}");
    console.wait_action(&answer).await
}

fn assert_no_secret(page: &str) {
    assert!(
        !page.contains(ADMIN_TOKEN),
        "the admin token reached a page"
    );
    assert!(
        !page.contains(CUSTOM_CONNECTION_CLIENT_SECRET),
        "the Xero client secret reached a page"
    );
}

fn assert_refused(answer: &Answer, why: &str) {
    assert_eq!(answer.status, 400, "{why}: {answer:?}");
    assert!(answer.body.contains(why), "{why}: {}", answer.body);
}

#[tokio::test]
async fn a_document_lost_in_xero_is_found_fixed_after_confirming_and_found_fixed() {
    let rig = Rig::new().await;
    let processor =
        TestProcessor::start_with_env(&rig.config(""), env_with_console(|_| None)).await;
    publish_order(&rig, 4301).await;
    publish_order(&rig, 4302).await;
    for n in [4301, 4302] {
        let (outcome, detail) = wait_handled(&rig.schema, &event_id(n), HANDLED).await;
        assert_eq!(outcome, "booked", "{detail}");
    }
    let gone = one_invoice(&rig.sim, "SH-4301");
    assert_eq!(rig.sim.forget_document(DEMO_NZ_TENANT_ID, "SH-4301"), 1);

    let mut console = ConsoleClient::sign_in(processor.port, "Ana Tester").await;

    // The form, prefilled from the link; by default the last 7 days.
    let page = console
        .page(&format!(
            "/console/reconcile?shop={SHOP}&from={FROM}&to={TO}"
        ))
        .await;
    assert!(page.contains(&format!("value=\"{FROM}\"")), "{page}");
    assert!(page.contains("name=\"action_id\""), "{page}");
    let blank = console.page("/console/reconcile").await;
    assert!(blank.contains("name=\"from\""), "{blank}");

    // Bad input is refused with a page saying why, and nothing runs.
    for (fields, why) in [
        ([("shop", "nowhere"), ("from", FROM), ("to", TO)], "No shop"),
        (
            [("shop", SHOP), ("from", "yesterday"), ("to", TO)],
            "not a time",
        ),
        (
            [("shop", SHOP), ("from", TO), ("to", FROM)],
            "must end after",
        ),
        (
            [("shop", SHOP), ("from", FROM), ("to", FROM)],
            "must end after",
        ),
        (
            [("shop", SHOP), ("from", "2026-01-01"), ("to", TO)],
            "at most",
        ),
    ] {
        let answer = console.submit(&page, "/console/reconcile", &fields).await;
        assert_refused(&answer, why);
    }
    assert_refused(
        &console.get("/console/reconcile?shop=nowhere").await,
        "No shop",
    );
    assert_refused(
        &console
            .get(&format!(
                "/console/reconcile/fix/confirm?shop={SHOP}&from={TO}&to={FROM}"
            ))
            .await,
        "must end after",
    );
    assert_refused(
        &console.get("/console/mapping?shop=nowhere").await,
        "No shop",
    );

    // The reconcile finds the lost invoice and says what --fix would do.
    let found = reconcile(&mut console).await;
    assert!(found.contains(">done<"), "{found}");
    assert!(found.contains("missing_in_xero"), "{found}");
    assert!(found.contains("SH-4301"), "{found}");
    assert!(found.contains("What --fix would put right"), "{found}");
    assert!(!found.contains("SH-4302 "), "{found}");
    assert_no_secret(&found);

    // The overview shows the shop's last reconcile: differences.
    let overview = console.page("/console").await;
    assert!(
        overview.contains("reconcile: <span class=\"problem\">problems</span>"),
        "{overview}"
    );

    // Its result links to the confirmation, which shows the report from the journal.
    let confirm = link(&found, "/console/reconcile/fix/confirm?").expect("a link to the fix");
    let confirm_page = console.page(&confirm).await;
    assert!(confirm_page.contains("What --fix does"), "{confirm_page}");
    assert!(confirm_page.contains("SH-4301"), "{confirm_page}");
    assert!(confirm_page.contains("name=\"confirm\""), "{confirm_page}");
    assert!(
        !confirm_page.contains("No report on record"),
        "{confirm_page}"
    );

    // Without the box ticked nothing is done.
    let unconfirmed = console
        .submit(&confirm_page, "/console/reconcile/fix", &[])
        .await;
    assert_refused(&unconfirmed, "Tick the box");
    assert_eq!(invoices_numbered(&rig.sim, "SH-4301").len(), 0);

    let answer = console
        .submit(
            &confirm_page,
            "/console/reconcile/fix",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(answer.status, 303, "{answer:?}");
    let fixed = console.wait_action(&answer).await;
    assert!(fixed.contains(">done<"), "{fixed}");
    assert!(
        fixed.contains("ledger record cleared; event re-queued from xcs.archive"),
        "{fixed}"
    );
    // Sent again (a double click), the fix is the same action, not a second one.
    let again = console
        .submit(
            &confirm_page,
            "/console/reconcile/fix",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!((again.status, &again.location), (303, &answer.location));

    // The processor books it again: one invoice, paid once.
    let (outcome, detail) = wait_handled(&rig.schema, &event_id(4301), HANDLED).await;
    assert_eq!(outcome, "booked", "{detail}");
    let rebooked = xcs_tests::eventually(HANDLED, "SH-4301 booked again", || async {
        invoices_numbered(&rig.sim, "SH-4301").pop()
    })
    .await;
    assert_ne!(rebooked["InvoiceID"], gone["InvoiceID"]);
    xcs_tests::eventually(HANDLED, "the payment of SH-4301", || async {
        (payments_on(&rig.sim, &rebooked).len() == 1).then_some(())
    })
    .await;

    // Reconciled again: clean, and the overview says so.
    let clean = reconcile(&mut console).await;
    assert!(clean.contains("OK: no discrepancies."), "{clean}");
    assert!(
        link(&clean, "/console/reconcile/fix/confirm?").is_none(),
        "{clean}"
    );
    let overview = console.page("/console").await;
    let row = &overview[overview
        .find(&format!("data-shop=\"{SHOP}\""))
        .expect("the shop's row")..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    assert!(row.contains("reconcile: <span>ok</span>"), "{row}");
    let reconcile_page = console.page("/console/reconcile").await;
    assert!(
        reconcile_page.contains("no discrepancies"),
        "{reconcile_page}"
    );

    // The actions are in the journal, with who took them.
    let actions = console.page("/console/actions").await;
    assert!(
        actions.contains(&format!("Reconcile --fix {SHOP} orders {FROM} to {TO}")),
        "{actions}"
    );
    assert!(actions.contains("Ana Tester"), "{actions}");
    assert_eq!(invoices_numbered(&rig.sim, "SH-4301").len(), 1);
    assert_eq!(invoices_numbered(&rig.sim, "SH-4302").len(), 1);
    processor.stop().await;
}

#[tokio::test]
async fn the_mapping_check_runs_and_its_verdict_shows_per_shop() {
    let rig = Rig::new().await;
    let processor =
        TestProcessor::start_with_env(&rig.config(""), env_with_console(|_| None)).await;
    let mut console = ConsoleClient::sign_in(processor.port, "Ana Tester").await;

    let page = console.page("/console/mapping").await;
    assert!(page.contains("Custom Connection"), "{page}");
    assert!(page.contains(">not run<"), "{page}");
    assert_no_secret(&page);

    let answer = console.submit(&page, "/console/mapping/check", &[]).await;
    assert_eq!(answer.status, 303, "{answer:?}");
    let result = console.wait_action(&answer).await;
    assert!(result.contains(">done<"), "{result}");
    assert!(result.contains(&format!("shop {SHOP}")), "{result}");
    assert!(result.contains("PostgreSQL"), "{result}");
    assert!(result.contains("webhook secrets"), "{result}");
    assert_no_secret(&result);

    let page = console.page(&format!("/console/mapping?shop={SHOP}")).await;
    let row = &page[page
        .find(&format!("data-shop=\"{SHOP}\""))
        .expect("the shop's row")..];
    let row = &row[..row.find("</tr>").unwrap_or(row.len())];
    assert!(
        row.contains(">passed<") || row.contains(">failed<"),
        "{row}"
    );
    assert!(!page.contains(">not run<"), "{page}");
    // One shop asked for: the other is not listed.
    assert!(!page.contains("data-shop=\"nz-woo\""), "{page}");
    assert_no_secret(&page);

    let overview = console.page("/console").await;
    assert!(overview.contains("check: "), "{overview}");
    processor.stop().await;
}

#[tokio::test]
async fn in_oauth_mode_the_mapping_page_shows_which_shops_organisations_are_connected() {
    let rig = Rig::new().await;
    let head = processor_toml(&rig.broker, &rig.schema, &rig.sim, XeroAuth::DemoApp, "").replace(
        "auth = \"oauth\"",
        "auth = \"oauth\"\nredirect_uri = \"https://admin.example.com/xero/callback\"",
    );
    let shop = |name, tenant: uuid::Uuid, prefix| {
        shop_toml(&ShopToml {
            name,
            platform: Platform::Shopify,
            tenant: &tenant.to_string(),
            contacts: r#"{ strategy = "generic", name = "Shopify Sales" }"#,
            prefix,
            clearing: "615",
            api: None,
        })
    };
    let config =
        head + &shop(SHOP, DEMO_NZ_TENANT_ID, "SH-") + &shop("au-shop", DEMO_AU_TENANT_ID, "AU-");
    connect_demo_app(&rig.schema, &rig.sim, &config, &[DEMO_NZ_TENANT_ID]).await;
    let client = rig.schema.client().await;
    client
        .execute(
            "INSERT INTO xcs_xero_connections (tenant_id, connection, connection_id, tenant_name,
                tenant_type) VALUES ($1, 'default', 'c-1', 'Demo Company (NZ)', 'ORGANISATION')",
            &[&DEMO_NZ_TENANT_ID.to_string()],
        )
        .await
        .expect("a connection stored");
    let tokens = client
        .query_one(
            "SELECT refresh_token, access_token FROM xcs_xero_tokens",
            &[],
        )
        .await
        .expect("the tokens");
    let (refresh, access): (String, Option<String>) = (tokens.get(0), tokens.get(1));
    let processor = TestProcessor::start_with_env(&config, env_with_console(|_| None)).await;
    let mut console = ConsoleClient::sign_in(processor.port, "Ana Tester").await;

    let page = console.page("/console/mapping").await;
    assert!(page.contains("Demo Company (NZ)"), "{page}");
    let row = |page: &str, shop: &str| {
        let marker = format!("data-shop=\"{shop}\"");
        let at = page
            .rfind(&marker)
            .unwrap_or_else(|| panic!("no row of {shop}"));
        let row = &page[at..];
        row[..row.find("</tr>").unwrap_or(row.len())].to_owned()
    };
    assert!(row(&page, SHOP).contains(">connected<"), "{page}");
    assert!(row(&page, "au-shop").contains(">not connected<"), "{page}");
    assert!(
        page.contains("href=\"https://admin.example.com/xero/connect\""),
        "{page}"
    );
    assert!(page.contains("Connect a Xero organisation"), "{page}");
    assert!(!page.contains("href=\"/console/xero/connect\""), "{page}");
    // redirect_uri names the connect server: the console does not start the flow itself.
    let here = console.get("/console/xero/connect").await;
    assert_eq!(here.status, 404, "{here:?}");
    assert!(here.body.contains("connect server"), "{here:?}");
    assert_no_secret(&page);
    assert!(!page.contains(&refresh), "a refresh token reached the page");
    if let Some(access) = access {
        assert!(!page.contains(&access), "an access token reached the page");
    }
    processor.stop().await;
}
