//! The operator's console (issue 20) without a browser: who may use it, and what its read
//! pages show of a booked order, against the real RabbitMQ, PostgreSQL and the Xero simulator.

use std::time::Duration;

use xcs_shared::{EventKind, Platform};
use xcs_tests::broker::TestBroker;
use xcs_tests::console::{ADMIN_TOKEN, ConsoleClient, env_with_console};
use xcs_tests::fixtures;
use xcs_tests::postgres::TestSchema;
use xcs_tests::processor::{SHOP, TestProcessor, publish, test_config, wait_handled};
use xcs_xero_sim::{SimConfig, XeroSim};

const SETTLE: Duration = Duration::from_secs(20);

async fn processor_with_console(
    broker: &TestBroker,
    schema: &TestSchema,
    sim: &xcs_xero_sim::RunningSim,
) -> TestProcessor {
    TestProcessor::start_with_env(
        &test_config(broker, schema, sim, ""),
        env_with_console(|_| None),
    )
    .await
}

#[tokio::test]
async fn without_an_admin_token_the_console_is_off() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor = TestProcessor::start(&test_config(&broker, &schema, &sim, "")).await;
    let (status, body) = processor.get("/console").await;
    assert_eq!(status, 404);
    assert!(body.contains("XCS_ADMIN_TOKEN"), "{body}");
    let (status, _) = processor.get("/console/sign-in").await;
    assert_eq!(status, 404, "no sign-in form either");
}

#[tokio::test]
async fn only_the_admin_token_signs_in_and_only_the_session_s_forms_change_anything() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor = processor_with_console(&broker, &schema, &sim).await;

    // A page without a session goes to the sign-in form, and back after it.
    let mut anonymous = ConsoleClient::new(processor.port);
    let answer = anonymous.get("/console/shops/nz-shopify").await;
    assert_eq!(answer.status, 303);
    assert_eq!(
        answer.location.as_deref(),
        Some("/console/sign-in?next=%2Fconsole%2Fshops%2Fnz-shopify")
    );
    // Anything else without a session is refused outright.
    let answer = anonymous
        .send_form("/console/sign-out", &[("csrf", "x")])
        .await;
    assert_eq!(answer.status, 401, "{answer:?}");

    // The wrong token is refused; no cookie is set.
    let answer = anonymous
        .send_form(
            "/console/sign-in",
            &[("name", "mallory"), ("token", "not-the-admin-token-at-all")],
        )
        .await;
    assert_eq!(answer.status, 401);
    assert!(
        anonymous.get("/console").await.status == 303,
        "still signed out"
    );
    // A sign-in never sends the browser to another site.
    let mut ana = ConsoleClient::new(processor.port);
    let answer = ana
        .send_form(
            "/console/sign-in",
            &[
                ("name", "Ana"),
                ("token", ADMIN_TOKEN),
                ("next", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        (answer.status, answer.location.as_deref()),
        (303, Some("/console"))
    );

    let overview = ana.page("/console").await;
    assert!(overview.contains("data-shop=\"nz-shopify\""), "{overview}");
    assert!(overview.contains("Ana"), "the operator's name is shown");
    assert!(
        !overview.contains(ADMIN_TOKEN),
        "no secret reaches the page"
    );

    // A form without the session's CSRF token is refused, as is one from another site.
    let answer = ana
        .send_form("/console/sign-out", &[("csrf", "forged")])
        .await;
    assert_eq!(answer.status, 403, "{answer:?}");
    let csrf = xcs_tests::console::hidden_fields(&overview, "/console/sign-out");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cross_site = http
        .post(format!("{}/console/sign-out", ana.base))
        .header("Origin", "https://evil.example")
        .form(&csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert!(ana.get("/console").await.status == 200, "still signed in");

    // A script may read with the bearer token, and change nothing.
    let read = http
        .get(format!("{}/console", ana.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let wrong = http
        .get(format!("{}/console", ana.base))
        .bearer_auth("not-the-admin-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 303, "sent to sign in");

    // Signing out with the session's own form ends the session.
    let answer = ana.submit(&overview, "/console/sign-out", &[]).await;
    assert_eq!(answer.status, 303, "{answer:?}");
    assert_eq!(ana.get("/console").await.status, 303);
}

#[tokio::test]
async fn a_booked_order_shows_on_the_overview_its_shop_and_its_own_page() {
    let broker = TestBroker::with_topology().await;
    let schema = TestSchema::new();
    let sim = XeroSim::start(SimConfig::demo()).expect("the simulator starts");
    let processor = processor_with_console(&broker, &schema, &sim).await;
    let event_id = "shopify:nz-shopify:console-1";
    publish(
        &broker,
        Platform::Shopify,
        SHOP,
        EventKind::Order,
        "orders/paid",
        event_id,
        &fixtures::shopify_nz_order(7101, 3101, true),
    )
    .await;
    assert_eq!(wait_handled(&schema, event_id, SETTLE).await.0, "booked");

    let mut console = ConsoleClient::sign_in(processor.port, "Ana").await;
    let overview = console.page("/console").await;
    let row = &overview[overview.find("data-shop=\"nz-shopify\"").unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("in sync"), "{row}");
    assert!(row.contains(" s ago"), "last booked seconds ago: {row}");

    let shop = console.page("/console/shops/nz-shopify").await;
    assert!(shop.contains(event_id), "{shop}");
    assert!(shop.contains("3101"), "the invoice number: {shop}");
    assert!(
        shop.contains("InvoiceID="),
        "a link that opens the invoice in Xero"
    );
    assert!(shop.contains("<svg"), "the chart");
    // Filtering by another kind leaves it out; a bad filter is a clear 400.
    let refunds = console.page("/console/shops/nz-shopify?kind=refund").await;
    assert!(refunds.contains("No events match."), "{refunds}");
    assert_eq!(
        console
            .get("/console/shops/nz-shopify?since=yesterday")
            .await
            .status,
        400
    );
    assert_eq!(console.get("/console/shops/nope").await.status, 404);

    let event = console
        .page(&format!("/console/events/{}", event_id.replace(':', "%3A")))
        .await;
    assert!(event.contains("booked"), "{event}");
    assert!(event.contains("3101"), "{event}");
    assert_eq!(
        console.get("/console/events/no-such-event").await.status,
        404
    );
}
