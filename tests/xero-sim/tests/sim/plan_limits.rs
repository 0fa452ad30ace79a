//! Organisation plans (xero.md §2): a Starter-type plan's monthly limit of approved sales
//! invoices, a 1,000-a-day API tier, and the day counted as a rolling or a fixed window.

use std::time::Duration;

use serde_json::json;
use xcs_xero_sim::{DEMO_APP_CLIENT_ID, Plan, RateLimits, Readings, SimConfig};

use crate::helpers::{NZ, invoice, start, start_with};

fn approvals(n: u32) -> Plan {
    Plan {
        day_limit: None,
        approved_invoices_per_month: Some(n),
    }
}

#[tokio::test]
async fn approving_beyond_the_plans_monthly_limit_is_refused_with_xeros_message() {
    // Arrange: two approvals a month; two August invoices approved.
    let t = start();
    assert!(t.sim.set_plan(NZ, approvals(2)));
    t.authorised_invoice("PLAN-1").await;
    t.authorised_invoice("PLAN-2").await;

    // Act: a third in August, in a batch with a draft and a September invoice.
    let mut september = invoice("PLAN-4", "AUTHORISED", &[("Widget", 1, "10.00")]);
    september["Date"] = json!("2026-09-01");
    let answer = t
        .put(
            "/Invoices?summarizeErrors=false",
            &json!({"Invoices": [
                invoice("PLAN-3", "AUTHORISED", &[("Widget", 1, "10.00")]),
                invoice("PLAN-D", "DRAFT", &[("Widget", 1, "10.00")]),
                september,
            ]}),
        )
        .await;

    // Assert: only the August approval is refused; a draft is no approval, and the invoice
    // date decides the month.
    assert_eq!(answer.status, 200, "{}", answer.text);
    let results = answer.json["Invoices"].as_array().unwrap();
    assert_eq!(results[0]["StatusAttributeString"], "ERROR");
    assert_eq!(
        results[0]["ValidationErrors"][0]["Message"],
        "You have reached the limit of invoices you can approve."
    );
    assert_eq!(results[1]["Status"], "DRAFT");
    assert_eq!(results[2]["Status"], "AUTHORISED");
    let numbers: Vec<String> = t
        .sim
        .invoices(NZ)
        .iter()
        .map(|i| i["InvoiceNumber"].as_str().unwrap().to_owned())
        .collect();
    assert!(!numbers.contains(&"PLAN-3".to_owned()), "{numbers:?}");
}

#[tokio::test]
async fn approving_a_draft_counts_and_an_upgraded_plan_approves_again() {
    let t = start();
    assert!(t.sim.set_plan(NZ, approvals(1)));
    t.authorised_invoice("UP-1").await;
    let draft = t
        .put(
            "/Invoices",
            &json!({"Invoices": [invoice("UP-2", "DRAFT", &[("Widget", 1, "10.00")])]}),
        )
        .await;
    assert_eq!(draft.status, 200, "{}", draft.text);

    let approve = json!({"Invoices": [{"InvoiceNumber": "UP-2", "Status": "AUTHORISED"}]});
    let refused = t.post("/Invoices", &approve).await;
    assert_eq!(
        refused.status, 400,
        "summarised, the refusal is the request's"
    );
    assert_eq!(
        refused.first_error(),
        Some("You have reached the limit of invoices you can approve.")
    );

    assert!(t.sim.set_plan(NZ, Plan::default()));
    let approved = t.post("/Invoices", &approve).await;
    assert_eq!(approved.status, 200, "{}", approved.text);
    assert_eq!(approved.json["Invoices"][0]["Status"], "AUTHORISED");
}

#[tokio::test]
async fn an_organisation_on_a_1000_a_day_tier_says_so_in_its_remaining_header() {
    // Arrange: the demo app connected to a new organisation on the 2026 Starter API tier.
    let t = start_with(SimConfig::demo().with_rate_limits(RateLimits::default()));
    let tenant = t
        .sim
        .add_organisation(json!({"Name": "Tiny Shop", "BaseCurrency": "NZD",
                                 "Plan": {"DayLimit": 1000}}))
        .unwrap();
    let token = t
        .sim
        .issue_tokens(DEMO_APP_CLIENT_ID, &[tenant])
        .unwrap()
        .access_token;
    let get = |tenant: uuid::Uuid| {
        t.http
            .get(t.url("/Accounts"))
            .bearer_auth(&token)
            .header("xero-tenant-id", tenant.to_string())
            .send()
    };

    let small = get(tenant).await.unwrap();
    let demo = get(NZ).await.unwrap();

    assert_eq!(small.headers()["X-DayLimit-Remaining"], "999");
    assert_eq!(demo.headers()["X-DayLimit-Remaining"], "4999");
}

#[tokio::test]
async fn the_day_limit_of_the_plan_refuses_with_problem_day_until_the_day_rolls() {
    // Arrange: a 3-call day, used up by calls made a day less 5 s ago.
    let t = start_with(SimConfig::demo().with_rate_limits(RateLimits::default()));
    t.sim.set_plan(
        NZ,
        Plan {
            day_limit: Some(3),
            approved_invoices_per_month: None,
        },
    );
    let day = Duration::from_secs(24 * 3600);
    t.sim
        .record_day_calls(DEMO_APP_CLIENT_ID, NZ, 3, day - Duration::from_secs(5));

    // Act
    let refused = t.get("/Accounts").await;
    t.sim.advance_clock(Duration::from_secs(6));
    let after = t.get("/Accounts").await;

    // Assert
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("X-Rate-Limit-Problem"), Some("day"));
    assert_eq!(refused.header("X-DayLimit-Remaining"), Some("0"));
    let wait: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((4..=5).contains(&wait), "{wait}");
    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(
        after.header("X-DayLimit-Remaining"),
        Some("2"),
        "the three calls left the day together"
    );
}

#[tokio::test]
async fn under_the_fixed_reading_the_whole_day_comes_back_at_once() {
    let t = start_with(SimConfig::demo().with_rate_limits(RateLimits {
        per_day: 3,
        ..RateLimits::default()
    }));
    t.sim.set_readings(Readings {
        day_window: xcs_xero_sim::ratelimit::DayWindow::Fixed,
        ..Readings::default()
    });
    let day = Duration::from_secs(24 * 3600);
    t.sim.record_day_calls(DEMO_APP_CLIENT_ID, NZ, 1, day);
    t.sim
        .record_day_calls(DEMO_APP_CLIENT_ID, NZ, 2, Duration::from_secs(60));

    let after = t.get("/Accounts").await;

    assert_eq!(after.status, 200, "{}", after.text);
    assert_eq!(after.header("X-DayLimit-Remaining"), Some("2"));
}
