//! What the run found: every acknowledged event accounted for (in the ledger or in the dead
//! queue), and Xero holding exactly the documents the acknowledged deliveries call for, once
//! each, to the cent; and Xero's quantity of each of the tracked shop's SKUs at the store's
//! level.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use xcs_tests::processor::amount;
use xcs_xero_sim::RunningSim;

use crate::load::{Order, Shop};

/// The findings, as printed and as written with `--json`.
#[derive(Debug, Default, Serialize)]
pub struct Findings {
    pub events_acknowledged: usize,
    pub events_in_ledger: BTreeMap<String, usize>,
    pub events_dead: BTreeMap<String, usize>,
    pub events_unaccounted: usize,
    pub invoices_expected: usize,
    pub credit_notes_expected: usize,
    pub payments_expected: usize,
    pub invoices_found: usize,
    pub credit_notes_found: usize,
    pub payments_found: usize,
    pub duplicates: usize,
    pub lost: usize,
    pub wrong: usize,
    pub dead_expected: usize,
    pub dead_unexpected: usize,
    /// The tracked shop's SKUs compared, and those whose Xero quantity is not the store's.
    pub stock_skus: usize,
    pub stock_mismatches: usize,
    /// Inventory adjustments in Xero, against the store changes no order explains.
    pub stock_adjustments: usize,
    pub stock_restocks: u32,
    pub stock_stocktakes: u32,
    /// One line per problem, for the operator reading the run.
    pub problems: Vec<String>,
}

impl Findings {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What the run read back after the drain.
pub struct Observed<'a> {
    pub sim: &'a RunningSim,
    /// `event_id` → outcome, from `xcs_events`.
    pub ledger: &'a BTreeMap<String, String>,
    /// `event_id` → reasons of its copies in the dead queue.
    pub dead: &'a BTreeMap<String, Vec<String>>,
}

fn live(document: &Value) -> bool {
    !matches!(document["Status"].as_str(), Some("DELETED" | "VOIDED"))
}

/// A tenant's sales documents by number, the live payments by document id, and its stock
/// adjustments (zero-total purchase documents) by number.
struct Books {
    invoices: BTreeMap<String, Vec<Value>>,
    credit_notes: BTreeMap<String, Vec<Value>>,
    payments: BTreeMap<String, Vec<Decimal>>,
    adjustments: BTreeMap<String, Vec<Value>>,
}

/// The contact the processor posts stock adjustments to (`mapping.stock_contact`'s default).
const ADJUSTMENTS_CONTACT: &str = "Inventory Adjustments";

fn purchase(document: &Value) -> bool {
    matches!(document["Type"].as_str(), Some("ACCPAY" | "ACCPAYCREDIT"))
}

impl Books {
    fn read(sim: &RunningSim, shop: &Shop) -> Books {
        let by_number = |documents: Vec<&Value>, field: &str| {
            let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            for document in documents.into_iter().filter(|d| live(d)).cloned() {
                let number = document[field].as_str().unwrap_or_default().to_owned();
                map.entry(number).or_default().push(document);
            }
            map
        };
        let mut payments: BTreeMap<String, Vec<Decimal>> = BTreeMap::new();
        for payment in sim.payments(shop.tenant) {
            if payment["Status"] == "DELETED" {
                continue;
            }
            let target = payment["Invoice"]["InvoiceID"]
                .as_str()
                .or_else(|| payment["CreditNote"]["CreditNoteID"].as_str())
                .unwrap_or_default()
                .to_owned();
            payments
                .entry(target)
                .or_default()
                .push(amount(&payment["Amount"]));
        }
        let (invoices, credit_notes) = (sim.invoices(shop.tenant), sim.credit_notes(shop.tenant));
        fn sales(documents: &[Value]) -> Vec<&Value> {
            documents.iter().filter(|d| !purchase(d)).collect()
        }
        let mut adjustments = by_number(
            invoices.iter().filter(|d| purchase(d)).collect(),
            "InvoiceNumber",
        );
        adjustments.extend(by_number(
            credit_notes.iter().filter(|d| purchase(d)).collect(),
            "CreditNoteNumber",
        ));
        Books {
            invoices: by_number(sales(&invoices), "InvoiceNumber"),
            credit_notes: by_number(sales(&credit_notes), "CreditNoteNumber"),
            payments,
            adjustments,
        }
    }
}

pub fn judge(shops: &[Shop], orders: &[Order], seen: &Observed<'_>) -> Findings {
    let mut f = Findings::default();
    let problem = |f: &mut Findings, line: String| f.problems.push(line);

    let acknowledged: BTreeSet<&str> = orders
        .iter()
        .flat_map(|o| o.sent.iter())
        .filter_map(|s| s.event_id.as_deref())
        .collect();
    f.events_acknowledged = acknowledged.len();
    for id in &acknowledged {
        let in_ledger = seen.ledger.get(*id);
        let dead = seen.dead.get(*id);
        if let Some(outcome) = in_ledger {
            *f.events_in_ledger.entry(outcome.clone()).or_default() += 1;
        }
        for reason in dead.into_iter().flatten() {
            *f.events_dead.entry(reason.clone()).or_default() += 1;
        }
        if in_ledger.is_none() && dead.is_none() {
            f.events_unaccounted += 1;
            problem(
                &mut f,
                format!("lost: event {id} was acknowledged and is neither in the ledger nor dead"),
            );
        }
    }
    for (id, reasons) in seen.dead {
        if reasons.iter().any(String::is_empty) {
            problem(&mut f, format!("dead letter {id} has no reason"));
        }
    }

    let books: Vec<Books> = shops.iter().map(|s| Books::read(seen.sim, s)).collect();
    let mut expected_numbers: Vec<BTreeSet<String>> = vec![BTreeSet::new(); shops.len()];
    for order in orders {
        let books = &books[order.shop];
        let dead_reasons: Vec<&String> = order
            .sent
            .iter()
            .filter_map(|s| s.event_id.as_ref())
            .filter_map(|id| seen.dead.get(id))
            .flatten()
            .collect();
        let name = &order.invoice_number;
        let invoices = books.invoices.get(name).map_or(&[][..], Vec::as_slice);
        expected_numbers[order.shop].insert(name.clone());
        for sent in &order.sent {
            if let Some(why) = &sent.rejected {
                problem(
                    &mut f,
                    format!("{name}: the ingress refused a genuine delivery: {why}"),
                );
            }
        }

        if let Some(poison) = order.poison {
            if order.invoice_expected() {
                f.dead_expected += 1;
                let reason = poison.reason();
                if !dead_reasons.iter().any(|r| r.as_str() == reason) {
                    problem(
                        &mut f,
                        format!("{name}: {poison:?} order not dead as {reason}: {dead_reasons:?}"),
                    );
                }
            }
            if !invoices.is_empty() {
                f.wrong += 1;
                problem(&mut f, format!("{name}: a poison order was booked"));
            }
            continue;
        }
        f.dead_unexpected += dead_reasons.len();
        for reason in &dead_reasons {
            problem(
                &mut f,
                format!("{name}: an event of this order is dead ({reason})"),
            );
        }

        if order.invoice_expected() {
            f.invoices_expected += 1;
            f.invoices_found += invoices.len().min(1);
            match invoices {
                [] if dead_reasons.is_empty() => {
                    f.lost += 1;
                    problem(&mut f, format!("{name}: acknowledged, no invoice in Xero"));
                }
                [] => {}
                [invoice, extra @ ..] => {
                    if !extra.is_empty() {
                        f.duplicates += extra.len();
                        problem(&mut f, format!("{name}: {} invoices", invoices.len()));
                    }
                    if amount(&invoice["Total"]) != order.invoice_total {
                        f.wrong += 1;
                        problem(
                            &mut f,
                            format!(
                                "{name}: total {} instead of {}",
                                invoice["Total"], order.invoice_total
                            ),
                        );
                    }
                    let id = invoice["InvoiceID"].as_str().unwrap_or_default();
                    let expected = if order.paid_expected() {
                        &order.payments[..]
                    } else {
                        &[]
                    };
                    check_payments(&mut f, name, books.payments.get(id), expected);
                }
            }
        }

        if let (Some((number, total)), true) = (&order.refund, order.refund_expected()) {
            expected_numbers[order.shop].insert(number.clone());
            f.credit_notes_expected += 1;
            let notes = books
                .credit_notes
                .get(number)
                .map_or(&[][..], Vec::as_slice);
            f.credit_notes_found += notes.len().min(1);
            match notes {
                [] if dead_reasons.is_empty() => {
                    f.lost += 1;
                    problem(
                        &mut f,
                        format!("{number}: refund acknowledged, no credit note"),
                    );
                }
                [] => {}
                [note, extra @ ..] => {
                    if !extra.is_empty() {
                        f.duplicates += extra.len();
                        problem(&mut f, format!("{number}: {} credit notes", notes.len()));
                    }
                    if amount(&note["Total"]) != *total {
                        f.wrong += 1;
                        problem(&mut f, format!("{number}: total {}", note["Total"]));
                    }
                    let id = note["CreditNoteID"].as_str().unwrap_or_default();
                    check_payments(&mut f, number, books.payments.get(id), &[*total]);
                }
            }
        }
    }

    // Nothing in Xero that no acknowledged delivery asked for.
    for (shop, books) in books.iter().enumerate() {
        for number in books.invoices.keys().chain(books.credit_notes.keys()) {
            if !expected_numbers[shop].contains(number) {
                f.wrong += 1;
                problem(
                    &mut f,
                    format!("{number}: in Xero, but no delivery asked for it"),
                );
            }
        }
        let tracked = shops[shop].store.is_some();
        for (number, documents) in &books.adjustments {
            if !tracked
                || documents
                    .iter()
                    .any(|d| d["Contact"]["Name"] != ADJUSTMENTS_CONTACT)
            {
                f.wrong += documents.len();
                problem(
                    &mut f,
                    format!("{number}: a purchase document in Xero no stock change explains"),
                );
                continue;
            }
            f.stock_adjustments += 1;
            if documents.len() > 1 {
                f.duplicates += documents.len() - 1;
                problem(
                    &mut f,
                    format!(
                        "{number}: stock adjustment posted {} times",
                        documents.len()
                    ),
                );
            }
        }
    }
    judge_stock(&mut f, shops, orders, seen.sim);
    f
}

/// Xero's quantity of every tracked SKU against the store's level at the end.
fn judge_stock(f: &mut Findings, shops: &[Shop], orders: &[Order], sim: &RunningSim) {
    for shop in shops {
        let Some(store) = &shop.store else { continue };
        let (levels, restocks, stocktakes) = {
            let store = store.lock().expect("not poisoned");
            (store.levels(), store.restocks, store.stocktakes)
        };
        f.stock_restocks += restocks;
        f.stock_stocktakes += stocktakes;
        let unsent: BTreeSet<&str> = orders
            .iter()
            .filter(|o| o.shop == shop.index)
            .flat_map(|o| o.stock_unsent.iter())
            .map(|&sku| crate::stock::CATALOGUE[sku].0)
            .collect();
        let items = sim.items(shop.tenant);
        for (code, level) in levels {
            f.stock_skus += 1;
            let item = items.iter().find(|i| {
                i["Code"]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(code))
            });
            let quantity = item.map(|item| match item.get("QuantityAvailable") {
                Some(available) => amount(available),
                None => amount(&item["QuantityOnHand"]),
            });
            if quantity != Some(Decimal::from(level)) {
                f.stock_mismatches += 1;
                let why = if unsent.contains(code) {
                    " (a stock webhook of it was never acknowledged)"
                } else {
                    ""
                };
                f.problems.push(format!(
                    "stock {code} of {}: Xero {}, the store {level}{why}",
                    shop.name,
                    quantity.map_or_else(|| "has no item".to_owned(), |q| q.to_string()),
                ));
            }
        }
    }
}

/// The payments a document has against those it should have (none when no money was
/// reported received), as amounts.
fn check_payments(
    f: &mut Findings,
    name: &str,
    found: Option<&Vec<Decimal>>,
    expected: &[Decimal],
) {
    let mut found = found.cloned().unwrap_or_default();
    found.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    f.payments_expected += expected.len();
    let mut missing = Vec::new();
    for amount in &expected {
        match found.iter().position(|p| p == amount) {
            Some(i) => {
                found.remove(i);
                f.payments_found += 1;
            }
            None => missing.push(*amount),
        }
    }
    // What is left of `found` matched nothing expected.
    if !found.is_empty() {
        if found.iter().all(|extra| expected.contains(extra)) {
            f.duplicates += found.len();
            f.problems.push(format!("{name}: paid again: {found:?}"));
        } else {
            f.wrong += 1;
            f.problems
                .push(format!("{name}: unexpected payments {found:?}"));
        }
    }
    if !missing.is_empty() {
        f.lost += missing.len();
        f.problems
            .push(format!("{name}: payments missing: {missing:?}"));
    }
}
