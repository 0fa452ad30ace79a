//! Tracked inventory (README "Inventory: tracked mode"): Xero's quantity of each item kept at
//! the platform's, without counting a sale twice.
//!
//! Sales and refunds move Xero's stock themselves: an approved invoice line with a tracked
//! item's code takes its units out (and posts their cost of goods sold), a credit note line
//! puts them back. What the documents do not explain (a delivery received, a stocktake,
//! breakage, a correction typed into the store) is found by comparing, per item code,
//!
//! ```text
//! platform level  −  (Xero's quantity on hand  +  units in flight)
//! ```
//!
//! where the units in flight are those of orders and refunds the processor has read whose
//! documents the ledger does not hold yet: the platform counted them, Xero does not yet. The
//! rest, when not zero, is posted as Xero's tracked-inventory guide describes, valued at the
//! platform's unit cost or Xero's average cost.
//!
//! Why this counts each sale once, whichever arrives first:
//! - **Order first.** Its units are in flight from the moment it is read (`record_moves`, at
//!   dispatch) until its invoice is recorded, so a stock event compared in between expects the
//!   platform to have counted them, and one compared after finds them in Xero's quantity.
//! - **Stock event first.** A stock event is compared only once the item has been quiet (no
//!   level reported, no order or refund of it read) for `stock.settle_secs`; until then it
//!   waits in a retry tier, uncounted. The order that caused it arrives meanwhile and is in
//!   flight or booked by then. A later stock event for the same item replaces it, and only the
//!   latest level of each location is compared.
//! - **Documents in flight.** Comparing reads Xero's quantity and the in-flight units at one
//!   moment: a tenant's document writes hold [`StockGuards`]' read side and a comparison its
//!   write side, so no invoice is half booked (in Xero, not yet in the ledger) while one runs.
//! - **An older level.** Under a backlog a level can be compared after later sales of the item
//!   are booked (their stock events still queued behind): a level is not compared when orders
//!   or refunds of its item reached the ingress more than `settle_secs` after it, as their own
//!   stock events bring a newer level.
//! - **Anything missed** (an order whose webhook never came and that the poller finds an hour
//!   later) makes one comparison wrong by its units, and the next comparison of the item (its
//!   next stock event, or `reconcile --fix`) puts it right: each comparison is absolute, not a
//!   sum of changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use xcs_shared::domain::{Line, StockChange};

use crate::booking::{Booker, Job, Work};
use crate::config::{InventoryMode, ShopConfig};
use crate::error::ProcessError;
use crate::ledger::{EventOutcome, Ledger, LedgerError, RecordedAdjustment, StockMoves, code_key};
use crate::mapping::ShopMapping;
use crate::xero::client::{XeroError, element_errors};
use crate::xero::documents::{decimal, text};

/// What the orders and refunds of `work` move in a tracked shop, per document.
pub fn moves_of(mapping: &ShopMapping, work: &Work) -> Vec<StockMoves> {
    if !mapping.tracked_inventory {
        return Vec::new();
    }
    let order = |order: &xcs_shared::domain::Order| StockMoves {
        kind: "invoice",
        business_key: order.order_id.clone(),
        units: units(mapping, &order.lines, Decimal::NEGATIVE_ONE),
    };
    let moves = match work {
        Work::Order(o) if !o.cancelled => vec![order(o)],
        Work::Refunds { order: o, refunds } => o
            .iter()
            .filter(|o| !o.cancelled)
            .map(order)
            .chain(refunds.iter().map(|refund| StockMoves {
                kind: "credit_note",
                business_key: refund.refund_id.clone(),
                units: units(mapping, &refund.lines, Decimal::ONE),
            }))
            .collect(),
        _ => Vec::new(),
    };
    moves.into_iter().filter(|m| !m.units.is_empty()).collect()
}

/// Units per item code of `lines` that carry one, times `sign`.
fn units(mapping: &ShopMapping, lines: &[Line], sign: Decimal) -> Vec<(String, Decimal)> {
    let mut by_code: BTreeMap<String, Decimal> = BTreeMap::new();
    for line in lines {
        if let Some(code) = mapping.item_code(line) {
            *by_code.entry(code_key(&code)).or_default() += sign * line.quantity;
        }
    }
    by_code.into_iter().filter(|(_, u)| !u.is_zero()).collect()
}

/// Records what `work`, read from event `event_id`, moves (see the module's rule: in flight
/// from now on).
///
/// # Errors
/// [`LedgerError`].
pub async fn record_moves(
    ledger: &Ledger,
    envelope: &xcs_shared::Envelope,
    shop: &ShopConfig,
    work: &Work,
) -> Result<(), LedgerError> {
    for moves in moves_of(&shop.mapping, work) {
        ledger
            .record_stock_moves(
                &envelope.shop,
                &moves,
                &envelope.event_id,
                &envelope.received_at,
            )
            .await?;
    }
    Ok(())
}

/// Per tenant, the lock between document writes (read side, many at once) and stock
/// comparisons (write side): see the module's "Documents in flight".
#[derive(Clone, Default)]
pub struct StockGuards(Arc<Mutex<HashMap<String, Arc<tokio::sync::RwLock<()>>>>>);

impl StockGuards {
    pub fn of(&self, tenant: &str) -> Arc<tokio::sync::RwLock<()>> {
        Arc::clone(
            self.0
                .lock()
                .expect("not poisoned")
                .entry(tenant.to_owned())
                .or_default(),
        )
    }
}

/// A Xero item's stock, as `GET /Items` gives it.
struct XeroStock {
    on_hand: Decimal,
    /// The value of what is on hand ("average cost accounting").
    cost_pool: Decimal,
}

impl XeroStock {
    /// Xero's average cost of a unit on hand, to 2 places; `None` with nothing on hand.
    fn average_cost(&self) -> Option<Decimal> {
        (self.on_hand > Decimal::ZERO)
            .then(|| crate::mapping::round2(self.cost_pool / self.on_hand))
    }
}

/// The comparison of one item code.
struct Compared {
    code: String,
    level: Decimal,
    on_hand: Decimal,
    in_flight: Decimal,
    /// Posted: `(units, unit cost, Xero document type, Xero id)`.
    posted: Option<(Decimal, Decimal, &'static str, String)>,
    /// Units to take out that Xero does not have (it refuses to go below zero): left for a
    /// later comparison, once the refunds in flight that put units back are booked.
    short: Decimal,
}

impl Booker {
    /// Books a stock event: records each level, and in tracked mode compares the event's items
    /// with Xero (the module's rule) and posts what the sales do not explain.
    pub(crate) async fn book_stock(
        &self,
        job: &Job,
        shop: &ShopConfig,
        changes: &[StockChange],
    ) -> Result<(EventOutcome, String), ProcessError> {
        let envelope = &job.envelope;
        if shop.inventory != InventoryMode::Tracked {
            let mut notes = vec![
                "stock level recorded; Xero quantities change only through transactions".to_owned(),
            ];
            for change in changes {
                self.ledger
                    .record_stock(&envelope.shop, change, &envelope.event_id)
                    .await?;
                // Items mode: every SKU the store stocks is a Xero item, named as the product.
                if shop.inventory == InventoryMode::Items
                    && let Some(sku) = change.sku.as_deref()
                    && let Some(code) = shop.mapping.stock_item_code(sku)
                    && let Some(note) = self
                        .keep_item(job, shop, &code, sku, change.name.as_deref())
                        .await?
                {
                    notes.push(note);
                }
            }
            return Ok((EventOutcome::Skipped, notes.join("; ")));
        }
        // Recorded once; back from a retry tier, the event has waited since then.
        let reported_before = self.ledger.stock_reported_ago(&envelope.event_id).await?;
        let waiting = Duration::from_secs_f64(reported_before.unwrap_or(0.0).max(0.0));
        let mut codes: BTreeMap<String, (String, String, Option<String>)> = BTreeMap::new();
        let mut current: Vec<String> = Vec::new();
        let mut without_sku = 0;
        for change in changes {
            let Some((sku, code)) = change
                .sku
                .as_deref()
                .and_then(|sku| Some((sku, shop.mapping.stock_item_code(sku)?)))
            else {
                without_sku += 1;
                continue;
            };
            if reported_before.is_none() {
                self.ledger
                    .record_tracked_stock(
                        &envelope.shop,
                        change,
                        &code,
                        &envelope.event_id,
                        &envelope.received_at,
                    )
                    .await?;
            }
            let key = code_key(&code);
            codes
                .entry(key.clone())
                .or_insert_with(|| (code, sku.to_owned(), change.name.clone()));
            if !current.contains(&key)
                && self
                    .ledger
                    .stock_is_current(&envelope.shop, &change.item_id, &envelope.event_id)
                    .await?
            {
                current.push(key);
            }
        }
        if reported_before.is_none() {
            self.ledger.mark_stock_reported(&envelope.event_id).await?;
        }
        let mut notes = Vec::new();
        if without_sku > 0 {
            notes.push(format!(
                "{without_sku} stock level(s) name no SKU on the platform, so no Xero item; \
                 give the product a SKU to track it"
            ));
        }
        if current.is_empty() {
            notes.push("a later stock event for the same items replaced this one's levels".into());
            return Ok((EventOutcome::Skipped, notes.join("; ")));
        }
        self.wait_for_quiet(job, shop, &current, waiting).await?;

        let guard = self.stock_guards.of(&envelope.tenant);
        let _comparing = guard.write().await;
        let mut posted_any = false;
        for key in &current {
            let (code, sku, name) = &codes[key];
            // Sales the ingress received well after this level cannot be in it: their own stock
            // events bring a newer level, and comparing this older one with a Xero that counts
            // them would post an adjustment the next level takes back.
            let later = self
                .ledger
                .stock_moved_after(
                    &envelope.shop,
                    code,
                    &envelope.received_at,
                    shop.stock.settle().as_secs_f64(),
                )
                .await?;
            if !later.is_zero() {
                notes.push(format!(
                    "{code}: {later} units sold or returned after this level was reported; \
                     their own stock events compare it"
                ));
                continue;
            }
            let compared = self
                .compare_stock(job, shop, code, sku, name.as_deref())
                .await?;
            let Some(compared) = compared else {
                notes.push(format!(
                    "{code}: a location's level is only a change, with no level to compare"
                ));
                continue;
            };
            notes.push(compared.describe());
            posted_any |= compared.posted.is_some();
        }
        let outcome = if posted_any {
            EventOutcome::Booked
        } else {
            EventOutcome::Skipped
        };
        Ok((outcome, notes.join("; ")))
    }

    /// Sends the event to wait in a retry tier while one of its items is not quiet yet, unless
    /// it has `waited` `stock.max_wait_secs` already.
    async fn wait_for_quiet(
        &self,
        job: &Job,
        shop: &ShopConfig,
        keys: &[String],
        waited: Duration,
    ) -> Result<(), ProcessError> {
        let settle = shop.stock.settle();
        if waited >= shop.stock.max_wait() {
            return Ok(());
        }
        for key in keys {
            let position = self.ledger.stock_position(&job.envelope.shop, key).await?;
            let quiet = position
                .quiet_secs
                .map_or(settle, |secs| Duration::from_secs_f64(secs.max(0.0)));
            if quiet < settle {
                return Err(ProcessError::StockSettling {
                    item: key.clone(),
                    wait: settle - quiet,
                });
            }
        }
        Ok(())
    }

    /// Compares one item code's platform level with Xero's and posts the difference. `None`
    /// when the platform's level is not known as a quantity.
    async fn compare_stock(
        &self,
        job: &Job,
        shop: &ShopConfig,
        code: &str,
        sku: &str,
        name: Option<&str>,
    ) -> Result<Option<Compared>, ProcessError> {
        let (tenant, shop_name) = (&job.envelope.tenant, &job.envelope.shop);
        let position = self.ledger.stock_position(shop_name, code).await?;
        let Some(level) = position.platform_level else {
            return Ok(None);
        };
        let xero = self.tracked_item(job, shop, code, sku, name).await?;
        let mut compared = Compared {
            code: code.to_owned(),
            level,
            on_hand: xero.on_hand,
            in_flight: position.in_flight,
            posted: None,
            short: Decimal::ZERO,
        };
        let mut units = level - (xero.on_hand + position.in_flight);
        if units < -xero.on_hand {
            compared.short = -xero.on_hand - units;
            units = -xero.on_hand;
        }
        if units.is_zero() {
            return Ok(Some(compared));
        }
        let unit_cost = if units > Decimal::ZERO {
            position.unit_cost.or_else(|| xero.average_cost())
        } else {
            xero.average_cost()
        }
        .unwrap_or_default();
        let (kind, xero_id) = self
            .post_adjustment(job, shop, code, units, unit_cost, &compared)
            .await?;
        self.ledger
            .record_stock_adjustment(&RecordedAdjustment {
                tenant,
                shop: shop_name,
                event_id: &job.envelope.event_id,
                code_key: &code_key(code),
                platform_level: level,
                xero_on_hand: xero.on_hand,
                in_flight: position.in_flight,
                units,
                unit_cost,
                xero_id: &xero_id,
                kind,
            })
            .await?;
        compared.posted = Some((units, unit_cost, kind, xero_id));
        Ok(Some(compared))
    }

    /// The tracked Xero item `code`, created tracked when Xero has none.
    async fn tracked_item(
        &self,
        job: &Job,
        shop: &ShopConfig,
        code: &str,
        sku: &str,
        name: Option<&str>,
    ) -> Result<XeroStock, ProcessError> {
        let tenant = &job.envelope.tenant;
        let Some(item) = self.xero_item(tenant, code).await? else {
            // New in Xero: created tracked, with nothing on hand yet.
            self.create_stock_item(job, shop, code, sku, name).await?;
            return Ok(XeroStock {
                on_hand: Decimal::ZERO,
                cost_pool: Decimal::ZERO,
            });
        };
        if item["IsTrackedAsInventory"].as_bool() != Some(true) {
            return Err(ProcessError::ItemUntracked {
                code: code.to_owned(),
            });
        }
        // The event names the product otherwise (renamed on the platform): so does Xero.
        if let Some(wanted) = name.map(crate::mapping::item_name)
            && text(&item, "Name") != wanted
        {
            self.rename_item(job, &text(&item, "ItemID"), code, &wanted)
                .await?;
        }
        // From API 16.2.0 (backorders) QuantityOnHand is 0 while units are on backorder, and
        // QuantityAvailable is on hand less backorders: what the store's level compares with.
        let on_hand = if item.get("QuantityAvailable").is_some() {
            decimal(&item, "QuantityAvailable")
        } else {
            decimal(&item, "QuantityOnHand")
        };
        Ok(XeroStock {
            on_hand,
            cost_pool: decimal(&item, "TotalCostPool"),
        })
    }

    /// Items mode: the Xero item a stock event's SKU names exists, under the product's name
    /// where the event gives one. A cached item costs no call unless its name changed (or was
    /// never known: an item adopted from Xero); a note for the event's detail when an item was
    /// made or renamed.
    async fn keep_item(
        &self,
        job: &Job,
        shop: &ShopConfig,
        code: &str,
        sku: &str,
        name: Option<&str>,
    ) -> Result<Option<String>, ProcessError> {
        let tenant = &job.envelope.tenant;
        let wanted = name.map(crate::mapping::item_name);
        let cached = match self.ledger.item_name(tenant, code).await? {
            Some(known) => self
                .ledger
                .item(tenant, code)
                .await?
                .map(|(id, _)| (id, known)),
            None => None,
        };
        let (id, current) = match cached {
            Some((id, Some(known))) => (id, known),
            Some((id, None)) => match self.xero_item(tenant, code).await? {
                Some(item) => (id, text(&item, "Name")),
                None => (id, String::new()),
            },
            None => match self.xero_item(tenant, code).await? {
                Some(item) => {
                    let id = text(&item, "ItemID");
                    let derived = (!shop.mapping.items.contains_key(sku)).then_some(sku);
                    self.ledger.record_item(tenant, code, &id, derived).await?;
                    (id, text(&item, "Name"))
                }
                None => {
                    self.create_stock_item(job, shop, code, sku, name).await?;
                    return Ok(Some(format!("item {code} made")));
                }
            },
        };
        match wanted {
            Some(wanted) if wanted != current => {
                self.rename_item(job, &id, code, &wanted).await?;
                Ok(Some(format!("item {code} renamed {wanted:?}")))
            }
            _ => {
                self.ledger.record_item_name(tenant, code, &current).await?;
                Ok(None)
            }
        }
    }

    /// Creates the item a stock event's SKU names (tracked in tracked mode), and caches it
    /// with its name.
    async fn create_stock_item(
        &self,
        job: &Job,
        shop: &ShopConfig,
        code: &str,
        sku: &str,
        name: Option<&str>,
    ) -> Result<(), ProcessError> {
        let tenant = &job.envelope.tenant;
        let spec = shop.mapping.stock_item_spec(sku, code, name);
        let created = self
            .find_or_create_item(
                tenant,
                job.attempt,
                &spec,
                &shop.mapping.accounts.sales,
                None,
            )
            .await?;
        if let Some(id) = created {
            let derived = spec.derived.then_some(sku);
            self.ledger.record_item(tenant, code, &id, derived).await?;
            self.ledger
                .record_item_name(tenant, code, &spec.name)
                .await?;
        }
        Ok(())
    }

    /// Renames the Xero item `code` (`POST /Items/{ItemID}` with its code and new name; the
    /// other fields are not sent, UNSURE whether Xero keeps every one it is not sent, as the
    /// simulator does), and records the name.
    async fn rename_item(
        &self,
        job: &Job,
        item_id: &str,
        code: &str,
        name: &str,
    ) -> Result<(), ProcessError> {
        let tenant = &job.envelope.tenant;
        let body = json!({"Items": [{"ItemID": item_id, "Code": code, "Name": name}]});
        let path = format!("/Items/{item_id}");
        self.write_element(
            job,
            (Method::POST, &path),
            &body,
            "Items",
            &format!("item {code}"),
        )
        .await?;
        self.ledger.record_item_name(tenant, code, name).await?;
        Ok(())
    }

    /// Writes a one-element `body` of `collection` and answers the element Xero returned,
    /// or its refusal as the error of `document` (whole-request or element-level).
    pub(crate) async fn write_element(
        &self,
        job: &Job,
        (method, path): (Method, &str),
        body: &Value,
        collection: &str,
        document: &str,
    ) -> Result<Value, ProcessError> {
        let answer = self
            .xero
            .write(&job.envelope.tenant, job.attempt, method, path, body)
            .await
            .map_err(|err| match err {
                XeroError::Validation(messages) => {
                    ProcessError::rejected(document.to_owned(), messages)
                }
                err => err.into(),
            })?;
        let element = answer[collection][0].clone();
        let errors = element_errors(&element);
        if !errors.is_empty() {
            return Err(ProcessError::rejected(document.to_owned(), errors));
        }
        Ok(element)
    }

    /// Posts `units` of `code` as Xero's tracked-inventory guide does ("Integrating with Xero
    /// Tracked Inventory", notes §3.7): a zero-total purchase document with the item's line
    /// (quantity and value into or out of the inventory asset account) and a line of the
    /// opposite amount on the inventory adjustment account. An increase is an `ACCPAY`
    /// invoice (a bill); a decrease, the matching credit, an `ACCPAYCREDIT` credit note
    /// (UNSURE whether the guide's decrease uses it or a zero-total sales invoice; both move
    /// the quantity the same way, and a purchase credit keeps the adjustment off the sales
    /// reports).
    async fn post_adjustment(
        &self,
        job: &Job,
        shop: &ShopConfig,
        code: &str,
        units: Decimal,
        unit_cost: Decimal,
        compared: &Compared,
    ) -> Result<(&'static str, String), ProcessError> {
        let tenant = &job.envelope.tenant;
        let accounts = &shop.mapping.accounts;
        let (Some(inventory), Some(adjustments)) =
            (&accounts.inventory, &accounts.inventory_adjustments)
        else {
            return Err(ProcessError::Internal(
                "tracked mode without its accounts passed the config check".into(),
            ));
        };
        let contact = self
            .named_contact(tenant, job.attempt, &shop.mapping.stock_contact)
            .await?;
        let quantity = units.abs();
        let number = adjustment_number(&shop.mapping.document_prefix, &job.envelope.event_id, code);
        let reference = format!(
            "Stock of {code}: store {}, Xero {} + {} in flight",
            compared.level, compared.on_hand, compared.in_flight
        );
        let date = shop
            .timezone
            .local(time::OffsetDateTime::now_utc())
            .date()
            .to_string();
        let lines = json!([
            {
                "ItemCode": code,
                "Description": format!("Stock adjustment: {code}"),
                "Quantity": quantity.to_string(),
                "UnitAmount": unit_cost.to_string(),
                "AccountCode": inventory,
            },
            {
                "Description": format!("Inventory adjustment: {code}"),
                "Quantity": quantity.to_string(),
                "UnitAmount": (-unit_cost).to_string(),
                "AccountCode": adjustments,
            },
        ]);
        let (path, collection, kind, id_field, number_field) = if units > Decimal::ZERO {
            (
                "/Invoices",
                "Invoices",
                "ACCPAY",
                "InvoiceID",
                "InvoiceNumber",
            )
        } else {
            (
                "/CreditNotes",
                "CreditNotes",
                "ACCPAYCREDIT",
                "CreditNoteID",
                "CreditNoteNumber",
            )
        };
        let mut document = json!({
            "Type": kind,
            "Contact": {"ContactID": contact},
            "Date": date,
            "LineAmountTypes": "NoTax",
            "Status": "AUTHORISED",
            "Reference": reference,
            "LineItems": lines,
        });
        document[number_field] = json!(number);
        if kind == "ACCPAY" {
            document["DueDate"] = json!(date);
        }
        let body = json!({ collection: [document] });
        let element = self
            .write_element(
                job,
                (Method::PUT, path),
                &body,
                collection,
                &format!("stock adjustment {number}"),
            )
            .await?;
        Ok((kind, text(&element, id_field)))
    }
}

impl Compared {
    fn describe(&self) -> String {
        let Compared {
            code,
            level,
            on_hand,
            in_flight,
            posted,
            short,
        } = self;
        let done = match posted {
            None if short.is_zero() => format!(
                "{code}: store {level} = Xero {on_hand} + {in_flight} in flight; nothing to adjust"
            ),
            None => format!("{code}: store {level}, Xero {on_hand} + {in_flight} in flight"),
            Some((units, cost, kind, id)) => format!(
                "{code}: store {level}, Xero {on_hand} + {in_flight} in flight: adjusted by \
                 {units:+} at {cost} ({kind} {id})"
            ),
        };
        if short.is_zero() {
            done
        } else {
            format!(
                "{done}; {short} more to take out than Xero has, left for the next comparison \
                 (Xero refuses to go below zero)"
            )
        }
    }
}

/// An adjustment's document number: the shop's prefix, `SA-`, and a digest of the event and
/// code, the same for every attempt of one comparison and distinct between comparisons.
fn adjustment_number(prefix: &str, event_id: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{event_id}\n{code}").as_bytes());
    let hex: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}SA-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adjustment_number_is_stable_per_comparison_and_differs_between_them() {
        let one = adjustment_number("SH-", "shopify:a:1", "MUG");
        assert_eq!(one, adjustment_number("SH-", "shopify:a:1", "MUG"));
        assert_ne!(one, adjustment_number("SH-", "shopify:a:2", "MUG"));
        assert_ne!(one, adjustment_number("SH-", "shopify:a:1", "CUP"));
        assert!(one.starts_with("SH-SA-") && one.len() == 16, "{one}");
    }
}
