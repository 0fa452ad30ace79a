//! `reconcile --stock` (README "Inventory: tracked mode", "Reconcile and check"): a tracked
//! shop's stock, per Xero item code, by the rule of `crate::stock`:
//!
//! ```text
//! unexplained  =  level the platform last reported  −  (Xero's quantity on hand  +  in flight)
//! ```
//!
//! - **The platform's level** is the ledger's latest level of each location, summed
//!   ([`Ledger::stock_position`]): what the platform last reported, not read from its API now.
//! - **Xero's quantity** comes from one `GET /Items` per tenant (Xero returns every item, not
//!   paged), read as the processor's comparison reads it: `QuantityAvailable` where Xero sends
//!   it (on hand less backorders), else `QuantityOnHand`.
//! - **In flight** are the units of orders and refunds the processor has read whose Xero
//!   documents are not booked yet (in a retry tier, dead-lettered, refused): the platform
//!   counted them, Xero does not yet. A code whose difference they account for is `explained`.
//!
//! `--fix` publishes, for each code with an unexplained rest (or no Xero item, which the
//! comparison creates tracked), a request to compare it again into the shop's shard
//! (`crate::poll::stock::work_for` says why the request carries no level of its own): the
//! processor compares in the tenant's order once the item is quiet and posts what is left,
//! once; a request published twice compares twice, and the second finds nothing left.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use anyhow::Context as _;
use lapin::Connection;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use xcs_shared::Source;

use super::known_shop;
use super::report::{opt_amount, push_counts, push_csv_row, push_table};
use super::sources::unreadable;
use crate::config::{Config, InventoryMode, ShopConfig};
use crate::ledger::{Ledger, code_key};
use crate::publisher::Republisher;
use crate::xero::client::XeroClient;
use crate::xero::documents::decimal;

/// How one item code's stock compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StockStatus {
    /// The platform's level differs from Xero's quantity and the units in flight.
    Unexplained,
    /// The ledger knows the code; Xero has no item with it.
    MissingInXero,
    /// Xero's item with the code is not tracked as inventory.
    UntrackedInXero,
    /// Only orders moved it, or a location's level is only a change: nothing to compare.
    NoLevel,
    /// A tracked Xero item the shop never reported a level or a sale of.
    NotReported,
    /// The difference is the units in flight.
    Explained,
    /// Xero holds the platform's level.
    Agrees,
}

impl StockStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StockStatus::Unexplained => "unexplained",
            StockStatus::MissingInXero => "missing_in_xero",
            StockStatus::UntrackedInXero => "untracked_in_xero",
            StockStatus::NoLevel => "no_level",
            StockStatus::NotReported => "not_reported",
            StockStatus::Explained => "explained",
            StockStatus::Agrees => "agrees",
        }
    }

    /// Whether the code's stock is wrong or cannot be kept: it sets the exit code to 1.
    pub fn is_discrepancy(self) -> bool {
        matches!(
            self,
            StockStatus::Unexplained | StockStatus::MissingInXero | StockStatus::UntrackedInXero
        )
    }
}

/// One item code.
#[derive(Debug, Clone, Serialize)]
pub struct StockRow {
    pub status: StockStatus,
    /// Xero's item code (as Xero spells it, when it has the item).
    pub code: String,
    /// A SKU the platform reported the code's stock under; empty when it reported none.
    pub sku: String,
    /// The latest level of each location the platform reported, summed.
    pub last_reported_level: Option<Decimal>,
    /// Xero's quantity on hand; `None` without a tracked item.
    pub xero_on_hand: Option<Decimal>,
    /// Units of orders (negative) and refunds (positive) read but not yet booked in Xero.
    pub in_flight: Decimal,
    /// `last_reported_level − (xero_on_hand + in_flight)`, with no item counting as 0 on hand.
    pub unexplained: Option<Decimal>,
    pub detail: String,
    pub next_step: String,
    /// What `--fix` did, if anything.
    pub fixed: Option<String>,
    /// The event `--fix` published to have the code compared again.
    pub fix_event: Option<String>,
}

/// What `reconcile --stock` found (and fixed).
#[derive(Debug, Clone, Serialize)]
pub struct StockReport {
    pub shop: String,
    pub tenant: String,
    /// Whether the shop is in `inventory = "tracked"` mode; nothing is compared otherwise.
    pub tracked: bool,
    /// Why nothing was compared; empty when compared.
    pub skipped: String,
    /// Tracked items in Xero.
    pub xero_tracked_items: usize,
    /// Every item code compared, the ones that agree too.
    pub rows: Vec<StockRow>,
    pub warnings: Vec<String>,
}

/// The CSV columns of `reconcile --stock`, in order.
pub const STOCK_CSV_HEADER: &str = "status,code,sku,last_reported_level,xero_on_hand,in_flight,unexplained,detail,next_step,fixed,fix_event";

/// Reconciles the stock of the shop `name`; with `fix` (and `amqp`), requests a comparison of
/// every code with a rest `--fix` can post.
///
/// # Errors
/// When the shop is unknown, the ledger or Xero cannot be read, or a request is not confirmed
/// by RabbitMQ. Each message says what to do.
pub async fn reconcile_stock(
    config: &Config,
    xero: &XeroClient,
    amqp: Option<&Connection>,
    name: &str,
    fix: bool,
) -> anyhow::Result<StockReport> {
    let shop = known_shop(config, name)?;
    let mut report = StockReport {
        shop: name.to_owned(),
        tenant: shop.tenant.clone(),
        tracked: shop.inventory == InventoryMode::Tracked,
        skipped: String::new(),
        xero_tracked_items: 0,
        rows: Vec::new(),
        warnings: Vec::new(),
    };
    if !report.tracked {
        report.skipped = format!(
            "not tracked (inventory = \"{}\"): Xero keeps no stock of this shop's items, so \
             there is none to reconcile",
            shop.inventory.as_str()
        );
        return Ok(report);
    }
    if fix && amqp.is_none() {
        anyhow::bail!("--fix publishes comparisons and needs RabbitMQ; check [amqp].uri");
    }
    let ledger = Ledger::lazy(&config.postgres)
        .context("[postgres].url is not a PostgreSQL URL; fix it (or XCS_POSTGRES_URL)")?;
    let codes = ledger_codes(&ledger, name, shop).await?;
    let answer = xero
        .call(&shop.tenant, Method::GET, "/Items", &[], None, None)
        .await
        .with_context(|| {
            format!(
                "cannot read Xero's items of tenant {}; run `xcs-processor check` for the \
                 connection, then run again",
                shop.tenant
            )
        })?;
    let items: BTreeMap<String, &Value> = answer["Items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| (code_key(text(item, "Code")), item))
        .collect();
    report.xero_tracked_items = items.values().filter(|i| tracked(i)).count();

    for (key, sku) in &codes {
        let position = ledger.stock_position(name, key).await.map_err(unreadable(
            "cannot read the stock ledger; check [postgres], then run again",
        ))?;
        report.rows.push(compare(
            key,
            sku.clone(),
            &position,
            items.get(key).copied(),
        ));
    }
    for (key, item) in &items {
        if tracked(item) && !codes.contains_key(key) {
            report.rows.push(StockRow {
                status: StockStatus::NotReported,
                code: text(item, "Code").to_owned(),
                sku: String::new(),
                last_reported_level: None,
                xero_on_hand: Some(on_hand(item)),
                in_flight: Decimal::ZERO,
                unexplained: None,
                detail: "tracked in Xero; the shop never reported its stock or sold it".into(),
                next_step: "nothing, if the store does not sell it; else give the product this \
                            code as its SKU (or map its SKU to it in mapping.items)"
                    .into(),
                fixed: None,
                fix_event: None,
            });
        }
    }
    report
        .rows
        .sort_by(|a, b| (a.status, &a.code).cmp(&(b.status, &b.code)));
    if fix && let Some(connection) = amqp {
        request_comparisons(connection, name, shop, &mut report).await?;
    }
    Ok(report)
}

/// Every item code (its key) whose stock the ledger knows for the shop (a level or a sale),
/// each with a SKU the platform reported its level under (empty when only sales moved it).
///
/// # Errors
/// When the ledger cannot be read; the message says what to do.
pub(crate) async fn ledger_codes(
    ledger: &Ledger,
    name: &str,
    shop: &ShopConfig,
) -> anyhow::Result<BTreeMap<String, String>> {
    let hint = "cannot read xcs_stock; start a processor of this version once (it migrates the \
                ledger), then run again";
    let mut codes: BTreeMap<String, String> = ledger
        .stock_codes(name)
        .await
        .map_err(unreadable(hint))?
        .into_iter()
        .map(|key| (key, String::new()))
        .collect();
    let levels = ledger
        .recorded_levels(name, shop.platform, None)
        .await
        .map_err(unreadable(hint))?;
    for (key, change) in levels {
        if let Some(sku) = change.sku {
            let known = codes.entry(key).or_default();
            if known.is_empty() {
                *known = sku;
            }
        }
    }
    Ok(codes)
}

fn compare(
    key: &str,
    sku: String,
    position: &crate::ledger::StockPosition,
    item: Option<&Value>,
) -> StockRow {
    // Xero gives quantities to 4 places: 8.0000 is reported as 8, as the store counts it.
    let level = position.platform_level.map(|l| l.normalize());
    let in_flight = position.in_flight.normalize();
    let mut row = StockRow {
        status: StockStatus::Agrees,
        code: item.map_or(key, |i| text(i, "Code")).to_owned(),
        sku,
        last_reported_level: level,
        xero_on_hand: None,
        in_flight,
        unexplained: None,
        detail: String::new(),
        next_step: String::new(),
        fixed: None,
        fix_event: None,
    };
    let Some(item) = item else {
        row.status = StockStatus::MissingInXero;
        row.unexplained = level.map(|l| (l - in_flight).normalize());
        row.detail = format!("Xero has no item {key}");
        row.next_step = if level.is_some() && !row.sku.is_empty() {
            "run again with --fix: the comparison creates the item tracked and posts the \
             store's level"
                .into()
        } else {
            "create it in Xero as a tracked item (Products and services), with the shop's \
             inventory and cost of goods sold accounts"
                .into()
        };
        return row;
    };
    if !tracked(item) {
        row.status = StockStatus::UntrackedInXero;
        row.detail = format!("Xero's item {} is not tracked as inventory", row.code);
        row.next_step = "in Xero open the item (Products and services), tick \"Track inventory \
                         item\" with the shop's inventory and cost of goods sold accounts, then \
                         run reconcile --stock --fix; until then its stock events are \
                         dead-lettered"
            .into();
        return row;
    }
    let on_hand = on_hand(item);
    row.xero_on_hand = Some(on_hand);
    let Some(level) = level else {
        row.status = StockStatus::NoLevel;
        row.detail = "the platform has reported no level of it as a quantity (only sales, or \
                      only changes)"
            .into();
        row.next_step = "nothing to compare until the platform reports its level; save the \
                         product's stock on the platform to send one"
            .into();
        return row;
    };
    let rest = (level - (on_hand + in_flight)).normalize();
    row.unexplained = Some(rest);
    if !rest.is_zero() {
        row.status = StockStatus::Unexplained;
        row.detail = format!(
            "store {level}, Xero {on_hand} + {in_flight} in flight: {rest:+} not explained by \
             the orders and refunds (changed in Xero, or a sale or stock event missed)"
        );
        row.next_step = if row.sku.is_empty() {
            "post the difference in Xero by hand (an inventory adjustment)".into()
        } else {
            "run again with --fix: the processor compares the item again and posts the rest \
             as an inventory adjustment"
                .into()
        };
    } else if !in_flight.is_zero() {
        row.status = StockStatus::Explained;
        row.detail = format!(
            "store {level} = Xero {on_hand} + {in_flight} in flight (orders or refunds read, not \
             yet booked in Xero)"
        );
        row.next_step = "nothing: booking them moves Xero's quantity; if they stay, see \
                         `xcs-processor dead list`"
            .into();
    } else {
        row.detail = format!("store {level} = Xero {on_hand}");
    }
    row
}

/// Publishes a comparison request ([`crate::poll::stock::comparison_request`]) for every row
/// `--fix` can put right, as the poller publishes its levels.
async fn request_comparisons(
    connection: &Connection,
    name: &str,
    shop: &ShopConfig,
    report: &mut StockReport,
) -> anyhow::Result<()> {
    let wanted: Vec<usize> = (0..report.rows.len())
        .filter(|&i| {
            let row = &report.rows[i];
            matches!(
                row.status,
                StockStatus::Unexplained | StockStatus::MissingInXero
            ) && row.last_reported_level.is_some()
                && !row.sku.is_empty()
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let publisher = Republisher::open(connection).await?;
    let now = OffsetDateTime::now_utc();
    let mut result = Ok(());
    for i in wanted {
        let row = &mut report.rows[i];
        let found = crate::poll::stock::comparison_request(
            &row.sku,
            row.last_reported_level.unwrap_or_default(),
            now,
        );
        if let Err(err) =
            crate::poll::pass::publish(&publisher, name, shop, &found, Source::Backfill).await
        {
            result = Err(err);
            break;
        }
        row.fixed = Some(
            "comparison requested: the processor compares it once the item is quiet and posts \
             what is left"
                .into(),
        );
        row.fix_event = Some(found.event_id(shop.platform, name));
    }
    publisher.close().await;
    result.context(
        "publishing the comparisons failed part-way; run reconcile --stock --fix again (a code \
         compared twice is adjusted once)",
    )
}

/// Whether a Xero item (as `GET /Items` gives it) is tracked as inventory.
pub(crate) fn tracked(item: &Value) -> bool {
    item["IsTrackedAsInventory"].as_bool() == Some(true)
}

/// As the processor's comparison reads it (`crate::stock`): from API 16.2.0 (backorders)
/// `QuantityOnHand` is 0 while units are on backorder, and `QuantityAvailable` is on hand less
/// backorders, what the store's level compares with.
fn on_hand(item: &Value) -> Decimal {
    let quantity = if item.get("QuantityAvailable").is_some() {
        decimal(item, "QuantityAvailable")
    } else {
        decimal(item, "QuantityOnHand")
    };
    quantity.normalize()
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key].as_str().unwrap_or_default()
}

impl StockRow {
    /// The cells the table and the CSV both begin a row with: status, code, SKU, the store's
    /// level, Xero's quantity, in flight and the unexplained rest.
    fn cells(&self) -> Vec<String> {
        vec![
            self.status.as_str().to_owned(),
            self.code.clone(),
            self.sku.clone(),
            opt_amount(self.last_reported_level),
            opt_amount(self.xero_on_hand),
            self.in_flight.to_string(),
            opt_amount(self.unexplained),
        ]
    }
}

impl StockReport {
    /// 0 when every code agrees or is explained, 1 when one differs or cannot be kept.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.rows.iter().any(|r| r.status.is_discrepancy()))
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report serialises")
    }

    /// The report as CSV: a header row and one row per item code.
    pub fn csv(&self) -> String {
        let mut out = format!("{STOCK_CSV_HEADER}\n");
        for r in &self.rows {
            let mut fields = r.cells();
            fields.extend([
                r.detail.clone(),
                r.next_step.clone(),
                r.fixed.clone().unwrap_or_default(),
                r.fix_event.clone().unwrap_or_default(),
            ]);
            push_csv_row(&mut out, &fields);
        }
        out
    }

    /// The report for people: what was compared, a row per code that does not simply agree,
    /// then what to do about each kind.
    pub fn table(&self) -> String {
        let mut out = String::new();
        if !self.tracked {
            let _ = writeln!(
                out,
                "Shop {} (tenant {}), stock: {}",
                self.shop, self.tenant, self.skipped
            );
            return out;
        }
        let agree = self
            .rows
            .iter()
            .filter(|r| r.status == StockStatus::Agrees)
            .count();
        let _ = writeln!(
            out,
            "Shop {} (tenant {}), stock: {} item codes compared ({agree} agree), {} tracked \
             items in Xero. The store's level is the level it last reported, summed over its \
             locations; in flight are orders and refunds read but not yet booked in Xero.",
            self.shop,
            self.tenant,
            self.rows.len(),
            self.xero_tracked_items
        );
        for warning in &self.warnings {
            let _ = writeln!(out, "warning: {warning}");
        }
        let mut counts: BTreeMap<StockStatus, usize> = BTreeMap::new();
        for r in &self.rows {
            if r.status != StockStatus::Agrees {
                *counts.entry(r.status).or_default() += 1;
            }
        }
        if !push_counts(
            &mut out,
            &counts,
            |s| !s.is_discrepancy(),
            StockStatus::as_str,
        ) {
            return out;
        }
        let header = [
            "STATUS",
            "CODE",
            "SKU",
            "STORE (LAST REPORTED)",
            "XERO ON HAND",
            "IN FLIGHT",
            "UNEXPLAINED",
            "FIXED",
            "DETAIL",
        ];
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .filter(|r| r.status != StockStatus::Agrees)
            .map(|r| {
                let mut cells = r.cells();
                cells.extend([
                    r.fixed.as_ref().map_or("", |_| "requested").to_owned(),
                    r.detail.clone(),
                ]);
                cells
            })
            .collect();
        push_table(&mut out, &header, &rows);
        let _ = writeln!(out, "\nWhat to do:");
        let mut said = HashSet::new();
        for r in &self.rows {
            if r.status != StockStatus::Agrees
                && r.fixed.is_none()
                && said.insert((r.status, r.next_step.clone()))
            {
                let _ = writeln!(out, "  {}: {}", r.status.as_str(), r.next_step);
            }
        }
        if self.rows.iter().any(|r| r.fixed.is_some()) {
            let _ = writeln!(
                out,
                "  requested: once the processor has compared them (after the item's quiet \
                 time, stock.settle_secs), run reconcile --stock again to confirm"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::StockPosition;
    use serde_json::json;

    fn position(level: Option<i64>, in_flight: i64) -> StockPosition {
        StockPosition {
            platform_level: level.map(Decimal::from),
            in_flight: Decimal::from(in_flight),
            quiet_secs: None,
            unit_cost: None,
        }
    }

    #[test]
    fn a_rest_the_units_in_flight_explain_is_no_discrepancy() {
        let item = json!({"Code": "Kete-L", "IsTrackedAsInventory": true, "QuantityOnHand": 10});
        let explained = compare(
            "KETE-L",
            "KETE-L".into(),
            &position(Some(8), -2),
            Some(&item),
        );
        assert_eq!(explained.status, StockStatus::Explained);
        assert_eq!(explained.code, "Kete-L");
        assert_eq!(explained.unexplained, Some(Decimal::ZERO));
        let short = compare(
            "KETE-L",
            "KETE-L".into(),
            &position(Some(5), -2),
            Some(&item),
        );
        assert_eq!(short.status, StockStatus::Unexplained);
        assert_eq!(short.unexplained, Some(Decimal::from(-3)));
        assert!(short.status.is_discrepancy());
        // Xero's available quantity (on hand less backorders) is what the level compares with.
        let backordered = json!({"Code": "K", "IsTrackedAsInventory": true,
                                 "QuantityOnHand": 0, "QuantityAvailable": 8});
        let row = compare("K", "K".into(), &position(Some(8), 0), Some(&backordered));
        assert_eq!(row.status, StockStatus::Agrees);
    }

    #[test]
    fn a_missing_or_untracked_item_is_a_discrepancy_and_a_level_unknown_is_not() {
        let missing = compare("MUG", "mug".into(), &position(Some(4), -1), None);
        assert_eq!(missing.status, StockStatus::MissingInXero);
        assert_eq!(missing.unexplained, Some(Decimal::from(5)));
        assert!(missing.next_step.contains("--fix"), "{missing:?}");
        let untracked = json!({"Code": "MUG", "IsTrackedAsInventory": false});
        let row = compare("MUG", "mug".into(), &position(Some(4), 0), Some(&untracked));
        assert_eq!(row.status, StockStatus::UntrackedInXero);
        assert!(row.status.is_discrepancy());
        let item = json!({"Code": "MUG", "IsTrackedAsInventory": true, "QuantityOnHand": 3});
        let row = compare("MUG", String::new(), &position(None, -1), Some(&item));
        assert_eq!(row.status, StockStatus::NoLevel);
        assert!(!row.status.is_discrepancy());
    }
}
