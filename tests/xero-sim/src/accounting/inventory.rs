//! Tracked inventory: how invoices and credit notes move a tracked item's stock, and Xero's
//! refusal to let it go below zero (notes §3.7).
//!
//! - Stock moves when a document is approved, not before: "Xero updates your tracked inventory
//!   item's quantity on hand and value when a transaction is approved … Invoice, bill, credit
//!   note - The transaction is approved" (help.xero.com/int/Inventory_TSUpdate). A DRAFT or
//!   SUBMITTED document holds no stock; an AUTHORISED or PAID one does; voiding it gives the
//!   stock back, as the document no longer counts.
//! - Sales (ACCREC invoices) "decrease … by creating sales transactions (ACCREC Invoices …)";
//!   purchases (ACCPAY invoices) increase it (Xero's Items doc, notes §3.7; the
//!   tracked-inventory guide raises stock with a zero-total ACCPAY invoice). A sales credit
//!   note takes the goods back; a purchase credit note returns them to the supplier.
//! - "Xero won't let you have a negative inventory balance" (help.xero.com/us/InventoryTracked):
//!   a change that would take an item below zero is refused, naming the item. The wording of
//!   Xero's message is not published (notes §10.4); the simulator's is an approximation.
//! - `allowBackorders=true` on `PUT`/`POST /Invoices` (spec 16.2.0) lets a sales invoice take
//!   an item below zero, when [`Readings::backorders_honoured`] says Xero honours it.
//! - Value: "Calculated using average cost accounting" (spec `Item.TotalCostPool`). Units go out
//!   at the average cost of those on hand; purchased units come in at their line's net amount;
//!   units a customer returns come back at the average cost (UNSURE: Xero may use the cost of
//!   the original sale; none when nothing is on hand). Amounts are in the document's currency
//!   (the simulator has no currency rates).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::money::{self, LineAmountTypes, round2};
use crate::readings::Readings;
use crate::store::{Document, Tenant};

/// One tracked item's change of stock from one document write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    item: Uuid,
    /// Units into (+) or out of (−) stock.
    quantity: Decimal,
    /// What units coming in are worth, when the document says (a purchase's net amount).
    value: Option<Decimal>,
}

/// Per tracked item, the units `doc` holds out of (−) or puts into (+) stock while it stands,
/// and the net value of the units a purchase puts in.
fn holding(tenant: &Tenant, doc: &Document) -> BTreeMap<Uuid, (Decimal, Decimal)> {
    let mut held = BTreeMap::new();
    if !matches!(doc.status.as_str(), "AUTHORISED" | "PAID") {
        return held;
    }
    let sign = match doc.doc_type.as_str() {
        "ACCREC" | "ACCPAYCREDIT" => Decimal::NEGATIVE_ONE,
        _ => Decimal::ONE,
    };
    for line in &doc.lines {
        let Some(item) = line
            .item_code
            .as_deref()
            .and_then(|code| tenant.item_by_code(code))
            .filter(|i| i.tracked.is_some())
        else {
            continue;
        };
        let net = match doc.line_amount_types {
            LineAmountTypes::Inclusive => line.line_amount - line.tax_amount,
            _ => line.line_amount,
        };
        let entry = held
            .entry(item.id)
            .or_insert((Decimal::ZERO, Decimal::ZERO));
        entry.0 += sign * line.quantity;
        entry.1 += net;
    }
    held
}

/// The stock moves of replacing `before` (none for a new document) by `after`, or the
/// refusal, one message per item that would go below zero. `backorders` is whether the request
/// asked for `allowBackorders=true` on `/Invoices`; it lets a sales invoice through only when
/// the readings honour it.
///
/// # Errors
/// Xero's refusal, naming each item short of stock.
pub fn moves(
    tenant: &Tenant,
    before: Option<&Document>,
    after: &Document,
    backorders: bool,
    readings: Readings,
) -> Result<Vec<Move>, Vec<String>> {
    let old = before.map(|d| holding(tenant, d)).unwrap_or_default();
    let new = holding(tenant, after);
    let backorder = backorders && readings.backorders_honoured && after.doc_type == "ACCREC";
    let mut moves = Vec::new();
    let mut refusals = Vec::new();
    let items: std::collections::BTreeSet<Uuid> = old.keys().chain(new.keys()).copied().collect();
    for id in items {
        let (was, was_value) = old.get(&id).copied().unwrap_or_default();
        let (now, now_value) = new.get(&id).copied().unwrap_or_default();
        let quantity = now - was;
        if quantity.is_zero() {
            continue;
        }
        let item = tenant
            .items
            .iter()
            .find(|i| i.id == id)
            .expect("held items exist");
        let on_hand = item.tracked.as_ref().map_or(Decimal::ZERO, |t| t.quantity);
        if quantity < Decimal::ZERO && on_hand + quantity < Decimal::ZERO && !backorder {
            refusals.push(short_of_stock(&item.code, on_hand, -quantity));
            continue;
        }
        let purchase = matches!(after.doc_type.as_str(), "ACCPAY");
        moves.push(Move {
            item: id,
            quantity,
            value: (purchase && quantity > Decimal::ZERO).then(|| now_value - was_value),
        });
    }
    if refusals.is_empty() {
        Ok(moves)
    } else {
        Err(refusals)
    }
}

/// Xero's refusal of a change that would take `code` below zero (the wording is the
/// simulator's: Xero's is not published).
pub fn short_of_stock(code: &str, on_hand: Decimal, needed: Decimal) -> String {
    let four = |d: Decimal| {
        let mut d = money::round_dp(d.max(Decimal::ZERO), 4);
        d.rescale(4);
        d
    };
    format!(
        "The quantity on hand of tracked item '{code}' cannot go below zero: {} on hand, {} needed.",
        four(on_hand),
        four(needed)
    )
}

/// Applies checked `moves` to the tenant's items, at average cost.
pub fn apply(tenant: &mut Tenant, moves: &[Move], now: OffsetDateTime) {
    for m in moves {
        let Some(item) = tenant.items.iter_mut().find(|i| i.id == m.item) else {
            continue;
        };
        let Some(stock) = item.tracked.as_mut() else {
            continue;
        };
        let (before, pool) = (stock.quantity, stock.cost_pool);
        let average = if before > Decimal::ZERO {
            pool / before
        } else {
            Decimal::ZERO
        };
        if m.quantity > Decimal::ZERO {
            let unit = m.value.map_or(average, |v| v / m.quantity);
            stock.cost_pool = if before >= Decimal::ZERO {
                round2(pool + unit * m.quantity)
            } else {
                // Units on backorder take the first of those coming in.
                round2(unit * (before + m.quantity).max(Decimal::ZERO))
            };
        } else if before > Decimal::ZERO {
            let out = (-m.quantity).min(before);
            stock.cost_pool = if out == before {
                Decimal::ZERO
            } else {
                round2(pool - average * out)
            };
        }
        stock.quantity = money::round_dp(before + m.quantity, 4);
        item.updated = now;
    }
}

/// Adds `quantity` units worth `value` to (or, negative, takes them from) a tracked item, as an
/// inventory adjustment in Xero's UI does ("Increase quantity" / "Decrease quantity",
/// help.xero.com/us/Inventory_AdjGS, /us/Inventory_DecQtyAdj), refused as Xero refuses it when
/// the item would go below zero. A decrease with no `value` goes out at average cost.
///
/// # Errors
/// The item is unknown or not tracked, or would go below zero.
pub fn adjust(
    tenant: &mut Tenant,
    code: &str,
    quantity: Decimal,
    value: Option<Decimal>,
    now: OffsetDateTime,
) -> Result<(), String> {
    let item = tenant
        .item_by_code(code)
        .ok_or_else(|| format!("Item code '{code}' is not valid."))?;
    let stock = item
        .tracked
        .as_ref()
        .ok_or_else(|| format!("Item '{code}' is not tracked as inventory."))?;
    if quantity < Decimal::ZERO && stock.quantity + quantity < Decimal::ZERO {
        return Err(short_of_stock(&item.code, stock.quantity, -quantity));
    }
    let id = item.id;
    let value = (quantity > Decimal::ZERO).then(|| value.unwrap_or_default());
    apply(
        tenant,
        &[Move {
            item: id,
            quantity,
            value,
        }],
        now,
    );
    Ok(())
}
