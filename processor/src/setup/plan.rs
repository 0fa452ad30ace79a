//! `check`'s look at each organisation's plan against its shops' order volume: a Starter-type
//! plan approves 20 sales invoices a month, and an app on the 2026 Starter API tier has 1,000
//! calls a day (notes xero.md §2). Neither can be read from Xero (the plan's actions endpoint is
//! UNSURE), so both come from `[xero.tenants.ID]`; the volume comes from the ledger's last 30
//! days.

use std::collections::BTreeMap;

use time::{Duration, OffsetDateTime};

use super::Report;
use crate::config::{Config, SummaryPeriod, SyncMode, TenantPlan};
use crate::ledger::Ledger;

/// Documents a month a summary shop books per currency at each period length (a month of
/// hours, days, weeks), and the calls each booked order costs at worst (an invoice and a
/// payment call of its own, when orders come one at a time).
const PER_MONTH: [(SummaryPeriod, u32); 3] = [
    (SummaryPeriod::Hourly, 24 * 31),
    (SummaryPeriod::Daily, 31),
    (SummaryPeriod::Weekly, 5),
];
const CALLS_PER_LONE_ORDER: i64 = 2;

fn per_month(period: SummaryPeriod) -> u32 {
    PER_MONTH
        .iter()
        .find(|(p, _)| *p == period)
        .map_or(31, |(_, n)| *n)
}

/// What the plan holds against what the shops booked: `None` when it holds, else the problem
/// and what to do.
pub fn weigh(
    plan: &TenantPlan,
    default_day_limit: u32,
    shops: &[(&str, SyncMode, SummaryPeriod)],
    invoices_30d: i64,
    orders_30d: i64,
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let realtime: Vec<&str> = shops
        .iter()
        .filter(|(_, mode, _)| *mode == SyncMode::Realtime)
        .map(|(name, ..)| *name)
        .collect();
    if let Some(limit) = plan.approved_invoices_per_month {
        let summary_invoices: u32 = shops
            .iter()
            .filter(|(_, mode, _)| *mode == SyncMode::Summary)
            .map(|(_, _, period)| per_month(*period))
            .sum();
        let needed =
            i64::from(summary_invoices) + if realtime.is_empty() { 0 } else { invoices_30d };
        if needed > i64::from(limit) {
            problems.push((
                format!(
                    "the organisation's plan approves {limit} invoices a month, and its shops \
                     would need about {needed} (the last 30 days booked {invoices_30d} \
                     invoices; summary shops post one per period and currency); Xero refuses \
                     the rest, and the processor parks them as xero_plan_limit"
                ),
                weekly_advice(shops),
            ));
        }
    }
    let day_limit = plan.day_limit.unwrap_or(default_day_limit);
    let orders_a_day = orders_30d / 30;
    if !realtime.is_empty() && orders_a_day * CALLS_PER_LONE_ORDER > i64::from(day_limit) {
        problems.push((
            format!(
                "the organisation has {day_limit} Xero calls a day, and its shops booked about \
                 {orders_a_day} orders a day over the last 30 days; booked one at a time that \
                 is {} calls, so the processor spreads the day's calls and batches orders \
                 (latency grows as the budget tightens, README \"Xero limits\")",
                orders_a_day * CALLS_PER_LONE_ORDER
            ),
            weekly_advice(shops),
        ));
    }
    problems
}

fn weekly_advice(shops: &[(&str, SyncMode, SummaryPeriod)]) -> String {
    let not_weekly: Vec<&str> = shops
        .iter()
        .filter(|(_, mode, period)| *mode == SyncMode::Realtime || *period != SummaryPeriod::Weekly)
        .map(|(name, ..)| *name)
        .collect();
    if not_weekly.is_empty() {
        return "upgrade the organisation's Xero plan: its shops already post weekly summaries"
            .to_owned();
    }
    format!(
        "set mode = \"summary\" and summary_period = \"weekly\" on shop{} {} (about five \
         invoices a month per currency), or upgrade the organisation's Xero plan",
        if not_weekly.len() == 1 { "" } else { "s" },
        not_weekly.join(", ")
    )
}

/// One line per organisation with a `[xero.tenants.ID]` plan.
pub async fn check(config: &Config, ledger: &Ledger, report: &mut Report) {
    let mut by_tenant: BTreeMap<String, Vec<(&str, SyncMode, SummaryPeriod)>> = BTreeMap::new();
    for (name, shop) in &config.shops {
        by_tenant
            .entry(shop.tenant.to_ascii_lowercase())
            .or_default()
            .push((name.as_str(), shop.mode, shop.summary_period));
    }
    let since = OffsetDateTime::now_utc() - Duration::days(30);
    for (tenant, plan) in &config.xero.tenants {
        let subject = format!("xero plan {}", &tenant[..tenant.len().min(8)]);
        let shops = by_tenant
            .get(&tenant.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        let (invoices, orders) = match ledger.tenant_volume_since(tenant, since).await {
            Ok(volume) => volume,
            Err(err) => {
                report.warn(
                    subject,
                    format!("cannot read the organisation's last 30 days from the ledger ({err})"),
                    "run check again once PostgreSQL answers",
                );
                continue;
            }
        };
        let problems = weigh(plan, config.xero.max_per_day, &shops, invoices, orders);
        if problems.is_empty() {
            report.ok(
                subject.clone(),
                format!(
                    "the plan holds the last 30 days' {invoices} invoices and {orders} order \
                     events"
                ),
            );
        }
        for (detail, next) in problems {
            report.warn(subject.clone(), detail, next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starter() -> TenantPlan {
        TenantPlan {
            day_limit: None,
            approved_invoices_per_month: Some(20),
        }
    }

    #[test]
    fn a_starter_plan_does_not_hold_a_realtime_shops_month_and_weekly_summaries_do() {
        let realtime = [("acme", SyncMode::Realtime, SummaryPeriod::Daily)];
        let problems = weigh(&starter(), 5_000, &realtime, 45, 60);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].0.contains("approves 20 invoices"),
            "{}",
            problems[0].0
        );
        assert!(
            problems[0].1.contains("summary_period = \"weekly\""),
            "{}",
            problems[0].1
        );

        let daily = [("acme", SyncMode::Summary, SummaryPeriod::Daily)];
        assert_eq!(weigh(&starter(), 5_000, &daily, 31, 900).len(), 1);
        let weekly = [("acme", SyncMode::Summary, SummaryPeriod::Weekly)];
        assert!(weigh(&starter(), 5_000, &weekly, 5, 900).is_empty());
    }

    #[test]
    fn a_1000_a_day_tier_warns_when_lone_orders_would_spend_more() {
        let plan = TenantPlan {
            day_limit: Some(1_000),
            approved_invoices_per_month: None,
        };
        let realtime = [("acme", SyncMode::Realtime, SummaryPeriod::Daily)];
        assert!(weigh(&plan, 5_000, &realtime, 9_000, 9_000).is_empty());
        let problems = weigh(&plan, 5_000, &realtime, 18_000, 18_000);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].0.contains("1000 Xero calls a day"),
            "{}",
            problems[0].0
        );
    }
}
