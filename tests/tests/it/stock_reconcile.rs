//! `reconcile --stock` and `check` for a tracked shop (README "Inventory: tracked mode",
//! "Reconcile and check"): what Xero's quantity lost of the store's level is reported per item
//! code (units of orders not yet booked explain their part), `--fix` has it compared again and
//! posted once however often it is asked, and `check` names what keeps a shop's stock from
//! being tracked.
//!
//! The shop is WooCommerce, whose stock events carry the SKU and the level themselves; a fix's
//! comparison request goes through `platforms::work_for` as any platform's would.

use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::json;
use xcs_processor::config::Config;
use xcs_processor::ledger::Ledger;
use xcs_processor::reconcile::{StockReport, StockStatus, reconcile_stock};
use xcs_processor::setup::check::{self, CheckOptions};
use xcs_shared::Platform;
use xcs_shared::domain::{StockChange, StockLevel};
use xcs_tests::processor::{Rig, TestProcessor, WOO_SHOP, wait_handled};
use xcs_tests::stock::{
    add_tracked_item, adjustment_line, adjustments, on_hand, send_woo_level, send_woo_order,
    tracked,
};
use xcs_xero_sim::{DEMO_NZ_TENANT_ID, Fault, FaultKind};

/// A stock event waits out the quiet time in the 10 s retry tier at least once.
const HANDLED: Duration = Duration::from_secs(60);

fn config_text(rig: &Rig) -> String {
    tracked(&rig.config(""), WOO_SHOP, 2)
}

fn config(text: &str) -> Config {
    Config::from_toml(text, |_| None).expect("a valid config")
}

/// Waits until the processor has read order `id` (its units are in flight).
async fn in_flight(rig: &Rig, id: u64) {
    let client = rig.schema.client().await;
    let key = id.to_string();
    xcs_tests::eventually(HANDLED, &format!("order {id}'s units in flight"), || {
        let (client, key) = (&client, &key);
        async move {
            let row = client
                .query_one(
                    "SELECT count(*) FROM xcs_stock_moves WHERE business_key = $1",
                    &[key],
                )
                .await
                .ok()?;
            (row.get::<_, i64>(0) >= 2).then_some(())
        }
    })
    .await;
}

async fn reconcile(rig: &Rig, fix: bool) -> StockReport {
    let config = config(&config_text(rig));
    let connection = rig.broker.connect().await;
    let report = reconcile_stock(
        &config,
        &rig.xero(&config_text(rig)),
        Some(&connection),
        WOO_SHOP,
        fix,
    )
    .await
    .expect("reconcile --stock runs");
    let _ = connection.close(200, "done".into()).await;
    report
}

/// `(status, code, unexplained)` of every row but those that agree.
fn rows(report: &StockReport) -> Vec<(StockStatus, String, Option<Decimal>)> {
    report
        .rows
        .iter()
        .filter(|r| r.status != StockStatus::Agrees)
        .map(|r| (r.status, r.code.clone(), r.unexplained))
        .collect()
}

#[tokio::test]
async fn stock_changed_in_xero_alone_is_reported_and_fix_posts_it_once_however_often_asked() {
    let rig = Rig::new().await;
    add_tracked_item(&rig.sim, "KETE-L", "Kete", 10, 20);
    add_tracked_item(&rig.sim, "KOHA-FB", "Koha", 10, 20);
    add_tracked_item(&rig.sim, "PUTE-S", "Pute", 5, 12);
    // Xero refuses every sales invoice: order 5601 is read (its units in flight) and never
    // booked.
    rig.sim.inject_fault(
        Fault::new(FaultKind::Status {
            status: 400,
            body: Some(
                json!({"ErrorNumber": 10, "Type": "ValidationException",
                       "Message": "A validation exception occurred",
                       "Elements": [{"ValidationErrors": [
                           {"Message": "The contact is archived"}]}]})
                .to_string(),
            ),
        })
        .method("PUT")
        .path_prefix("/api.xro/2.0/Invoices")
        .times(1000),
    );
    let processor = TestProcessor::start(&config_text(&rig)).await;
    send_woo_order(&rig, 5601).await;
    in_flight(&rig, 5601).await;
    // The store's levels count the sale; Xero's quantities and the sale in flight match them.
    let levels = [
        send_woo_level(&rig, 1, 81, "KETE-L", 8).await,
        send_woo_level(&rig, 2, 82, "KOHA-FB", 9).await,
        send_woo_level(&rig, 3, 83, "PUTE-S", 5).await,
    ];
    for event in &levels {
        let (outcome, detail) = wait_handled(&rig.schema, event, HANDLED).await;
        assert_eq!(outcome, "skipped", "{event}: {detail}");
        assert!(detail.contains("nothing to adjust"), "{event}: {detail}");
    }
    // Someone counts three more pute into Xero, behind the processor's back.
    rig.sim
        .adjust_stock(DEMO_NZ_TENANT_ID, "PUTE-S", Decimal::from(3), None)
        .expect("an adjustment in Xero");

    let report = reconcile(&rig, false).await;
    assert_eq!(
        rows(&report),
        [
            (
                StockStatus::Unexplained,
                "PUTE-S".to_owned(),
                Some(Decimal::from(-3))
            ),
            (
                StockStatus::Explained,
                "KETE-L".to_owned(),
                Some(Decimal::ZERO)
            ),
            (
                StockStatus::Explained,
                "KOHA-FB".to_owned(),
                Some(Decimal::ZERO)
            ),
        ],
        "{}",
        report.table()
    );
    let pute = &report.rows[0];
    assert_eq!(
        (pute.last_reported_level, pute.xero_on_hand, pute.in_flight),
        (
            Some(Decimal::from(5)),
            Some(Decimal::from(8)),
            Decimal::ZERO
        )
    );
    assert_eq!(report.rows[1].in_flight, Decimal::from(-2));
    assert_eq!(report.exit_code(), 1);
    let table = report.table();
    for words in [
        "the level it last reported",
        "1 discrepancies: 1 unexplained; for information: 2 explained",
        "unexplained: run again with --fix",
    ] {
        assert!(table.contains(words), "{words:?} in\n{table}");
    }
    let json: serde_json::Value = serde_json::from_str(&report.json()).unwrap();
    assert_eq!(json["rows"][0]["status"], "unexplained");
    assert_eq!(json["rows"][0]["last_reported_level"], "5");
    let csv = report.csv();
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|row| row.starts_with("unexplained,PUTE-S,PUTE-S,5,8,0,-3,")),
        "{csv}"
    );

    // Asked twice before the processor handles either request.
    processor.stop().await;
    let first = reconcile(&rig, true).await;
    let second = reconcile(&rig, true).await;
    let requests: Vec<String> = [&first, &second]
        .iter()
        .map(|r| {
            let row = &r.rows[0];
            assert_eq!(row.code, "PUTE-S");
            assert!(row.fixed.is_some(), "{}", r.table());
            row.fix_event.clone().expect("a request published")
        })
        .collect();
    assert_ne!(requests[0], requests[1]);
    assert!(
        first.rows.iter().skip(1).all(|r| r.fix_event.is_none()),
        "{}",
        first.table()
    );
    let processor = TestProcessor::start(&config_text(&rig)).await;
    let mut outcomes = Vec::new();
    for event in &requests {
        let (outcome, detail) = wait_handled(&rig.schema, event, HANDLED).await;
        outcomes.push(outcome.clone());
        if outcome == "booked" {
            assert!(detail.contains("adjusted by -3"), "{detail}");
        }
    }
    outcomes.sort();
    assert_eq!(outcomes, ["booked", "skipped"]);
    assert_eq!(on_hand(&rig.sim, "PUTE-S"), Decimal::from(5));
    let posted = adjustments(&rig.sim);
    assert_eq!(posted.len(), 1, "{posted:#?}");
    let (kind, code, quantity, _) = adjustment_line(&posted[0]);
    assert_eq!(
        (kind.as_str(), code.as_str(), quantity),
        ("ACCPAYCREDIT", "PUTE-S", Decimal::from(3))
    );
    let again = reconcile(&rig, false).await;
    // The requests recorded the levels again as they were, under their own items: none is
    // counted twice.
    assert_eq!(
        rows(&again),
        [
            (
                StockStatus::Explained,
                "KETE-L".to_owned(),
                Some(Decimal::ZERO)
            ),
            (
                StockStatus::Explained,
                "KOHA-FB".to_owned(),
                Some(Decimal::ZERO)
            ),
        ],
        "{}",
        again.table()
    );
    assert_eq!(again.exit_code(), 0, "{}", again.table());
    assert!(
        again.table().contains("OK: no discrepancies."),
        "{}",
        again.table()
    );
    assert!(
        again
            .rows
            .iter()
            .all(|r| r.status != StockStatus::Unexplained),
        "{}",
        again.table()
    );
    processor.stop().await;
}

#[tokio::test]
async fn a_shop_not_tracked_has_no_stock_to_reconcile() {
    let rig = Rig::new().await;
    let text = rig.config("");
    let report = reconcile_stock(&config(&text), &rig.xero(&text), None, WOO_SHOP, true)
        .await
        .expect("reconcile --stock runs");
    assert!(!report.tracked);
    assert_eq!(report.exit_code(), 0);
    assert!(report.table().contains("not tracked"), "{}", report.table());
}

/// Records `sku`'s level in the ledger as the processor does for a stock event.
async fn record_level(config: &Config, sku: &str, product: &str) {
    let ledger = Ledger::connect(&config.postgres).await.expect("the ledger");
    let change = StockChange {
        platform: Platform::WooCommerce,
        item_id: product.to_owned(),
        sku: Some(sku.to_owned()),
        location: None,
        level: StockLevel::Absolute(Decimal::from(4)),
        unit_cost: None,
        as_of: None,
        name: None,
    };
    ledger
        .record_tracked_stock(
            WOO_SHOP,
            &change,
            sku,
            &format!("woocommerce:{WOO_SHOP}:s-{product}"),
            "2026-11-27T09:00:00Z",
        )
        .await
        .expect("recorded");
}

#[tokio::test]
async fn check_names_an_untracked_item_and_a_cost_of_goods_sold_account_of_the_wrong_type() {
    let rig = Rig::new().await;
    add_tracked_item(&rig.sim, "KETE-L", "Kete", 10, 20);
    rig.sim
        .add_item(
            DEMO_NZ_TENANT_ID,
            &json!({"Code": "TOKO-U", "Name": "Toko", "IsSold": true,
                    "SalesDetails": {"AccountCode": "200"}}),
        )
        .expect("an untracked item");
    let good = config_text(&rig);
    for (sku, product) in [("KETE-L", "81"), ("TOKO-U", "84"), ("WAKA-M", "85")] {
        record_level(&config(&good), sku, product).await;
    }
    let subject = format!("shop {WOO_SHOP}");

    let report = check::run(&config(&good), &CheckOptions::default()).await;
    let text = report.render_text();
    let failures: Vec<_> = report.failures().filter(|l| l.subject == subject).collect();
    assert_eq!(failures.len(), 2, "{text}");
    let untracked = failures
        .iter()
        .find(|l| l.detail.contains("not tracked as inventory"))
        .unwrap_or_else(|| panic!("an untracked line in\n{text}"));
    assert!(
        untracked.detail.contains("TOKO-U") && !untracked.detail.contains("KETE-L"),
        "{untracked:?}"
    );
    assert!(
        untracked
            .next
            .as_deref()
            .is_some_and(|n| n.contains("Track inventory item")),
        "{untracked:?}"
    );
    let missing = failures
        .iter()
        .find(|l| l.detail.contains("have no item"))
        .unwrap_or_else(|| panic!("a missing line in\n{text}"));
    assert!(missing.detail.contains("WAKA-M"), "{missing:?}");
    assert!(
        missing
            .next
            .as_deref()
            .is_some_and(|n| n.contains("reconcile --stock")),
        "{missing:?}"
    );

    // Revenue is no cost of goods sold.
    let wrong = good.replacen(
        "cost_of_goods_sold = \"310\"",
        "cost_of_goods_sold = \"200\"",
        1,
    );
    let report = check::run(&config(&wrong), &CheckOptions::default()).await;
    let text = report.render_text();
    let cogs: Vec<_> = report
        .failures()
        .filter(|l| l.subject == subject && l.detail.contains("accounts.cost_of_goods_sold"))
        .collect();
    assert_eq!(cogs.len(), 1, "{text}");
    assert!(
        cogs[0].detail.contains("is type REVENUE") && cogs[0].detail.contains("expense"),
        "{:?}",
        cogs[0]
    );
    assert!(
        cogs[0].next.as_deref().is_some_and(|n| n.contains("310")),
        "{:?}",
        cogs[0]
    );
    assert!(
        !text.contains("accounts.inventory = "),
        "the inventory account fits:\n{text}"
    );
}
