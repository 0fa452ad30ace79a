//! What an order still has to refund. A refund that credits more than that (in money, or in
//! units of a line) is no refund the platform could have made of this order: booking it would
//! put a credit note larger than the sale into the books (an outside check booked 1,150.00 of
//! credit against a 63.25 order). It is refused at once, naming the excess, before anything is
//! written to Xero.

use rust_decimal::Decimal;
use xcs_shared::domain::{Line, LineKind, Refund};

use crate::error::ProcessError;
use crate::ledger::Quantities;
use crate::mapping::round2;

/// The key a line's quantity is kept under: its SKU, or its description when it has none.
/// Only goods are counted (products and gift cards sold); shipping and adjustments are held to
/// the order's total alone.
fn line_key(line: &Line) -> Option<String> {
    if !matches!(line.kind, LineKind::Product | LineKind::GiftCardSale) {
        return None;
    }
    let sku = line.sku.as_deref().map(str::trim).filter(|s| !s.is_empty());
    Some(match sku {
        Some(sku) => format!("sku:{sku}"),
        None => format!("description:{}", line.description.trim()),
    })
}

/// The units of goods on `lines`, per line key.
pub fn quantities(lines: &[Line]) -> Quantities {
    let mut quantities = Quantities::new();
    for line in lines {
        if let Some(key) = line_key(line) {
            let quantity = quantities.entry(key).or_default();
            *quantity = quantity.saturating_add(line.quantity);
        }
    }
    quantities
}

/// What an order has had so far: its total and the units it sold (when known), and what its
/// earlier refunds credited.
pub struct OrderSoFar<'a> {
    /// The order's document, for messages (`invoice SH-1001`).
    pub document: &'a str,
    pub total: Decimal,
    /// `None` for an order booked before the ledger kept quantities: its refunds are held to
    /// its total alone.
    pub sold: Option<&'a Quantities>,
    pub credited: Decimal,
    pub credited_quantities: &'a Quantities,
}

/// Refuses `refund` when it credits more than `order` has left to refund.
///
/// # Errors
/// [`ProcessError::RefundExceedsOrder`] naming each excess.
pub fn check(refund: &Refund, order: &OrderSoFar<'_>) -> Result<(), ProcessError> {
    let mut excess = Vec::new();
    let credit = round2(refund.total);
    let left = order.total.saturating_sub(order.credited);
    if credit > left {
        excess.push(format!(
            "it credits {credit} while {} totals {} and {} of it was credited before, so {} is \
             too much",
            order.document,
            order.total,
            order.credited,
            credit.saturating_sub(left)
        ));
    }
    if let Some(sold) = order.sold {
        for (key, quantity) in quantities(&refund.lines) {
            // A line the order's record does not name (the platform renamed it) is held to the
            // total alone, rather than refused on a guess.
            let Some(sold_quantity) = sold.get(&key) else {
                continue;
            };
            let before = order
                .credited_quantities
                .get(&key)
                .copied()
                .unwrap_or_default();
            if quantity.saturating_add(before) > *sold_quantity {
                excess.push(format!(
                    "it returns {} of {} while the order sold {} and {} were returned before",
                    quantity.normalize(),
                    key.split_once(':').map_or(key.as_str(), |(_, name)| name),
                    sold_quantity.normalize(),
                    before.normalize()
                ));
            }
        }
    }
    if excess.is_empty() {
        Ok(())
    } else {
        Err(ProcessError::RefundExceedsOrder {
            refund: refund.refund_id.clone(),
            order: refund.order_number.clone(),
            excess: excess.join("; "),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use xcs_shared::Platform;
    use xcs_shared::domain::{Currency, TaxMode};

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn goods(sku: Option<&str>, description: &str, quantity: &str) -> Line {
        Line {
            kind: LineKind::Product,
            sku: sku.map(str::to_owned),
            description: description.to_owned(),
            quantity: d(quantity),
            unit_price: d("27.50"),
            discount: Decimal::ZERO,
            tax: Decimal::ZERO,
            tax_rate: None,
            tax_label: None,
            tax_parts: Vec::new(),
            restocked: None,
        }
    }

    fn refund(lines: Vec<Line>, total: &str) -> Refund {
        Refund {
            platform: Platform::Shopify,
            refund_id: "77".into(),
            order_id: "9".into(),
            order_number: "#1001".into(),
            date: time::macros::date!(2026 - 11 - 28),
            currency: Currency::try_from("NZD".to_owned()).unwrap(),
            tax_mode: TaxMode::Inclusive,
            lines,
            total: d(total),
            total_tax: Decimal::ZERO,
            returned: vec![],
        }
    }

    fn so_far<'a>(sold: Option<&'a Quantities>, credited: &'a Quantities) -> OrderSoFar<'a> {
        OrderSoFar {
            document: "invoice SH-1001",
            total: d("63.25"),
            sold,
            credited: d("10.00"),
            credited_quantities: credited,
        }
    }

    #[test]
    fn a_refund_within_what_is_left_passes() {
        let sold = quantities(&[goods(Some("MUG"), "Mug", "2")]);
        let credited = quantities(&[goods(Some("MUG"), "Mug", "1")]);
        check(
            &refund(vec![goods(Some("MUG"), "Mug", "1")], "53.25"),
            &so_far(Some(&sold), &credited),
        )
        .unwrap();
    }

    #[test]
    fn more_money_than_is_left_is_refused_naming_the_excess() {
        let none = Quantities::new();
        let err = check(&refund(vec![], "1150.00"), &so_far(None, &none)).unwrap_err();
        assert_eq!(err.reason(), "refund_exceeds_order");
        assert!(!err.is_retryable());
        assert!(
            err.to_string().contains("1150.00")
                && err.to_string().contains("63.25")
                && err.to_string().contains("1096.75 is too much"),
            "{err}"
        );
    }

    #[test]
    fn more_units_than_were_sold_are_refused_even_when_the_money_fits() {
        let sold = quantities(&[goods(Some("MUG"), "Mug", "2"), goods(None, "Card", "1")]);
        let credited = quantities(&[goods(Some("MUG"), "Mug", "1")]);
        let err = check(
            &refund(vec![goods(Some("MUG"), "Mug", "40")], "1.00"),
            &so_far(Some(&sold), &credited),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("returns 40 of MUG while the order sold 2 and 1 were returned before"),
            "{err}"
        );
        let err = check(
            &refund(vec![goods(None, "Card", "2")], "1.00"),
            &so_far(Some(&sold), &credited),
        )
        .unwrap_err();
        assert!(err.to_string().contains("returns 2 of Card"), "{err}");
    }

    #[test]
    fn lines_the_order_does_not_name_are_held_to_the_total_alone() {
        let sold = quantities(&[goods(Some("MUG"), "Mug", "2")]);
        let none = Quantities::new();
        check(
            &refund(vec![goods(Some("RENAMED"), "Mug", "2")], "50.00"),
            &so_far(Some(&sold), &none),
        )
        .unwrap();
    }
}
