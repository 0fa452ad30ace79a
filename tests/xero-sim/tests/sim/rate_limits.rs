//! Rate limits: the headers on every answer, the minute, day and concurrency limits.

use std::time::Duration;

use xcs_xero_sim::{RateLimits, SimConfig};

use crate::helpers::{NZ, read, start_with};

#[tokio::test]
async fn the_sixty_first_call_in_a_minute_gets_429_until_the_window_rolls() {
    // Arrange
    let t = start_with(SimConfig::demo());

    // Act
    let mut last_ok = None;
    for _ in 0..60 {
        let answer = t.get("/TaxRates").await;
        assert_eq!(answer.status, 200);
        last_ok = Some(answer);
    }
    let refused = t.get("/TaxRates").await;
    t.sim.advance_clock(Duration::from_secs(60));
    let after = t.get("/TaxRates").await;

    // Assert
    let last_ok = last_ok.unwrap();
    assert_eq!(last_ok.header("X-MinLimit-Remaining"), Some("0"));
    assert_eq!(last_ok.header("X-DayLimit-Remaining"), Some("4940"));
    assert_eq!(last_ok.header("X-AppMinLimit-Remaining"), Some("9940"));
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("X-Rate-Limit-Problem"), Some("minute"));
    let retry_after: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(after.status, 200);
    assert_eq!(after.header("X-MinLimit-Remaining"), Some("59"));
}

#[tokio::test]
async fn the_day_limit_answers_429_day_with_a_long_retry_after() {
    let t = start_with(SimConfig::demo().with_rate_limits(RateLimits {
        per_day: 2,
        ..RateLimits::default()
    }));

    t.get("/Accounts").await;
    t.get("/Accounts").await;
    let refused = t.get("/Accounts").await;

    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("X-Rate-Limit-Problem"), Some("day"));
    assert_eq!(refused.header("X-DayLimit-Remaining"), Some("0"));
    let retry_after: u64 = refused.header("Retry-After").unwrap().parse().unwrap();
    assert!(retry_after > 80_000, "{retry_after}");
}

#[tokio::test]
async fn a_sixth_call_in_flight_for_a_tenant_gets_429_concurrent() {
    // Arrange: every call takes 400 ms, so eight sent together overlap.
    let t = start_with(SimConfig::demo().with_latency(Duration::from_millis(400)));

    // Act
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let request = t.request(reqwest::Method::GET, "/Accounts", NZ);
            tokio::spawn(async move { read(request.send().await.expect("sent")).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.expect("the call task finishes"));
    }

    // Assert
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(ok, 5);
    assert_eq!(refused.len(), 3);
    assert!(
        refused
            .iter()
            .all(|a| a.header("X-Rate-Limit-Problem") == Some("concurrent"))
    );
    assert!(refused.iter().all(|a| a.header("Retry-After").is_some()));
}

#[tokio::test]
async fn replays_with_an_idempotency_key_count_towards_the_limit() {
    let t = start_with(SimConfig::demo().with_rate_limits(RateLimits {
        per_minute: 2,
        ..RateLimits::default()
    }));
    let body = serde_json::json!({"Contacts": [{"Name": "Replay Ltd"}]});

    t.send(reqwest::Method::PUT, "/Contacts", NZ, &body, Some("r-1"))
        .await;
    t.send(reqwest::Method::PUT, "/Contacts", NZ, &body, Some("r-1"))
        .await;
    let third = t
        .send(reqwest::Method::PUT, "/Contacts", NZ, &body, Some("r-1"))
        .await;

    assert_eq!(third.status, 429);
}
