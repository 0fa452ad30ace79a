//! Etsy: the shop receipt the processor fetches (`GET
//! /v3/application/shops/{shop_id}/receipts/{receipt_id}`) after a thin `order.paid` webhook.
//! Money comes as `{"amount", "divisor", "currency_code"}`, the value being `amount / divisor`
//! exactly.
//!
//! - **Marketplace-facilitator tax:** Etsy collects sales tax (in practically every US state)
//!   and VAT/GST (UK, EU, Australia, New Zealand, Norway, ...) as the marketplace facilitator
//!   and remits it itself: `total_tax_cost` and `total_vat_cost` never reach the seller, whose
//!   payout excludes them, and are not the seller's liability. They are therefore left out:
//!   the order's total is `grandtotal` less those two, with no tax on any line. The customer
//!   was charged `grandtotal`; the seller sold for this. A seller who must account for tax
//!   Etsy did not remit would need a per-shop switch this module does not have yet (UNSURE in
//!   the notes; confirm with the seller's accountant).
//! - **Currency:** receipts are in the shop's currency (Etsy converts for buyers paying in
//!   another); all money on a receipt must be in one currency.
//! - **Lines:** each transaction's unit `price` × `quantity`; the coupon (`discount_amt`),
//!   which Etsy does not allocate to transactions, is a discount line; shipping and gift
//!   wrap. A receipt that is not paid (`is_paid` false) is nothing to book; `canceled` is an
//!   order marked cancelled.
//! - **Payments:** one, through `payment_method` (`cc`, `paypal`, ...), for the seller's part,
//!   dated by the transactions' `paid_timestamp`. Etsy gift cards are Etsy's liability, not
//!   the seller's: they are just a way the buyer paid Etsy.
//! - **Refunds** (`receipt.refunds`) carry only an amount, no lines and no id: a refund of
//!   everything the buyer paid credits the order's own lines; a partial one is one adjustment
//!   line. When Etsy remitted tax on the order, the buyer's refund includes a share of it that
//!   Etsy takes back, so the seller is credited the refund's proportional part of the order
//!   (to the cent). The refund's id is `{receipt_id}-{created_timestamp}`; refunds made in the
//!   same second are `-2`, `-3`, ... in the order of their amount, reason and note, so the
//!   ids do not depend on the order the receipt lists them in.
//! - **Dates:** Unix timestamps, as UTC calendar dates.

use rust_decimal::Decimal;
use xcs_shared::Platform;
use xcs_shared::domain::{
    Currency, Customer, Line, LineKind, Normalised, Order, Payment, PaymentMethod, Refund, TaxMode,
};

use crate::normalise;
use crate::normalise::{
    Ctx, Node, NormaliseError, TaxInfo, parse_json, row_line, seller_part, single_line,
};

const PLATFORM: Platform = Platform::Etsy;

/// A shop receipt: the order and, when the receipt lists refunds, those refunds too.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable, or money in two
/// currencies.
pub fn receipt(json: &[u8]) -> Result<Normalised, NormaliseError> {
    let value = parse_json(PLATFORM, "receipt", json)?;
    let probe = Ctx::new(PLATFORM, "receipt");
    let id = Node::root(&probe, &value)?.string("receipt_id")?;
    let ctx = Ctx::new(PLATFORM, format!("receipt {id}"));
    let root = Node::root(&ctx, &value)?;
    if !root.field("is_paid")?.boolean()? {
        let status = root
            .opt_string("status")?
            .unwrap_or_else(|| "unpaid".to_owned());
        return Ok(Normalised::Nothing {
            reason: format!("Etsy receipt {id} is not paid ({status})"),
        });
    }

    let grand_total = root.field("grandtotal")?;
    let currency = grand_total.currency_at("currency_code")?;
    let money = Money {
        currency: &currency,
    };
    let grand_total = money.read(&grand_total)?;
    let date = match root.get("created_timestamp") {
        Some(node) => node.unix_date()?,
        None => root.field("create_timestamp")?.unix_date()?,
    };

    let mut lines = Vec::new();
    let mut paid_on = None;
    for transaction in root.list("transactions")? {
        let quantity = transaction.dec("quantity")?;
        let price = money.read(&transaction.field("price")?)?;
        let gross = quantity * price;
        lines.push(row_line(
            LineKind::Product,
            transaction.opt_string("sku")?,
            transaction
                .opt_string("title")?
                .unwrap_or_else(|| "Item".to_owned()),
            quantity,
            (gross, gross),
            TaxInfo::default(),
        ));
        if let Some(paid) = transaction.get("paid_timestamp") {
            let paid = paid.unix_date()?;
            paid_on = Some(paid_on.map_or(paid, |p: time::Date| p.max(paid)));
        }
    }
    for (key, kind, description) in [
        ("discount_amt", LineKind::Discount, "Coupon"),
        ("total_shipping_cost", LineKind::Shipping, "Shipping"),
        ("gift_wrap_price", LineKind::Fee, "Gift wrap"),
    ] {
        let amount = money.optional(&root, key)?.unwrap_or_default();
        if !amount.is_zero() {
            lines.push(single_line(
                kind,
                description.to_owned(),
                amount,
                TaxInfo::default(),
            ));
        }
    }

    let facilitator_tax = money.optional(&root, "total_tax_cost")?.unwrap_or_default()
        + money.optional(&root, "total_vat_cost")?.unwrap_or_default();
    let total = grand_total - facilitator_tax;
    let gateway = PaymentMethod::Gateway {
        name: root
            .opt_string("payment_method")?
            .unwrap_or_else(|| "etsy".to_owned()),
    };
    let order = Order {
        platform: PLATFORM,
        order_id: id.clone(),
        number: id.clone(),
        date,
        currency: currency.clone(),
        tax_mode: TaxMode::Exclusive,
        customer: customer(&root)?,
        payments: vec![Payment {
            method: gateway.clone(),
            amount: total,
            date: paid_on.unwrap_or(date),
            reference: None,
        }],
        total,
        total_tax: Decimal::ZERO,
        cancelled: root
            .opt_string("status")?
            .is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "canceled" | "cancelled")),
        lines,
    };

    // Etsy's refunds have no id: the receipt's and the second a refund was made, refunds of
    // one second numbered by what they are (amount, reason, note), not by where the receipt
    // lists them, so that a receipt read again names each refund as before. Refunds alike in
    // all of that are interchangeable, so their listing order may number them.
    let mut listed_refunds = Vec::new();
    for listed in root.list("refunds")? {
        let stamp = listed.field("created_timestamp")?;
        let content = (
            money.read(&listed.field("amount")?)?,
            listed.opt_string("reason")?,
            listed.opt_string("note_from_issuer")?,
        );
        listed_refunds.push((stamp.text()?, content, stamp.unix_date()?, listed));
    }
    let mut refunds: Vec<Refund> = Vec::new();
    for (at, (stamp, content, refund_date, listed)) in listed_refunds.iter().enumerate() {
        let before = listed_refunds
            .iter()
            .enumerate()
            .filter(|(other_at, (other_stamp, other, ..))| {
                other_stamp == stamp && (other < content || (other == content && *other_at < at))
            })
            .count();
        let refund_id = match before {
            0 => format!("{id}-{stamp}"),
            n => format!("{id}-{stamp}-{}", n + 1),
        };
        let (paid_back, refund_date) = (content.0, *refund_date);
        // The seller's part of what went back to the buyer (see the module docs).
        let credit = seller_part(paid_back, grand_total, total);
        let lines: Vec<Line> = if credit == total {
            order.lines.clone()
        } else {
            let reason = listed
                .opt_string("reason")?
                .or(listed.opt_string("note_from_issuer")?)
                .map_or_else(|| "Refund".to_owned(), |r| format!("Refund: {r}"));
            vec![single_line(
                LineKind::Adjustment,
                reason,
                credit,
                TaxInfo::default(),
            )]
        };
        let settled = listed.opt_string("status")?.is_none_or(|status| {
            !matches!(
                status.to_ascii_lowercase().as_str(),
                "failed" | "pending" | "declined" | "canceled" | "cancelled"
            )
        });
        refunds.push(Refund {
            platform: PLATFORM,
            refund_id,
            order_id: id.clone(),
            order_number: id.clone(),
            date: refund_date,
            currency: currency.clone(),
            tax_mode: TaxMode::Exclusive,
            lines,
            total: credit,
            total_tax: Decimal::ZERO,
            returned: if settled {
                vec![Payment {
                    method: gateway.clone(),
                    amount: credit,
                    date: refund_date,
                    reference: None,
                }]
            } else {
                Vec::new()
            },
        });
    }

    Ok(if refunds.is_empty() {
        Normalised::Order(order)
    } else {
        Normalised::Refunds {
            order: Some(order),
            refunds,
        }
    })
}

/// Reads Etsy money objects, all in the receipt's currency.
struct Money<'c> {
    currency: &'c Currency,
}

impl Money<'_> {
    fn read(&self, node: &Node<'_>) -> Result<Decimal, NormaliseError> {
        let code = node.currency_at("currency_code")?;
        if &code != self.currency {
            return Err(node.ctx().inconsistent(format!(
                "`{}` is in {code}, but the receipt's grand total is in {}",
                node.path(),
                self.currency
            )));
        }
        let amount = node.dec("amount")?;
        let divisor_node = node.field("divisor")?;
        let divisor = divisor_node.decimal()?;
        if divisor <= Decimal::ZERO {
            return Err(divisor_node.invalid("a positive divisor"));
        }
        // Compared at a scale where multiplying back is exact (28-digit division rounds).
        let value = (amount / divisor).round_dp(12);
        if value * divisor != amount {
            return Err(divisor_node.invalid("a divisor that divides the amount exactly"));
        }
        Ok(value)
    }

    fn optional(&self, node: &Node<'_>, key: &str) -> Result<Option<Decimal>, NormaliseError> {
        node.get(key).map(|money| self.read(&money)).transpose()
    }
}

fn customer(root: &Node<'_>) -> Result<Option<Customer>, NormaliseError> {
    Ok(normalise::customer(
        root.opt_string("buyer_user_id")?,
        root.opt_string("buyer_email")?,
        [root.opt_string("name")?],
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;
    use xcs_shared::domain::LineKind::{Adjustment, Discount, Fee, Product, Shipping};

    use super::*;
    use crate::normalise::lines_total;
    use crate::normalise::test_support::{self, assert_adds_up, assert_line, d, edited, fixture};

    fn order_and_refunds(body: &[u8]) -> (Order, Vec<Refund>) {
        test_support::order_and_refunds(receipt(body).unwrap())
    }

    #[test]
    fn the_tax_etsy_remits_is_left_out_of_the_sellers_order() {
        // Arrange: a US receipt, 6.52 of sales tax Etsy collected and remits, a 10% coupon,
        // shipping, gift wrap; one partial refund of 21.00 to the buyer.
        let body = fixture("etsy/receipt_usd_facilitator_tax.json");

        // Act
        let (order, refunds) = order_and_refunds(&body);

        // Assert
        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("3456789012", "3456789012")
        );
        assert_eq!(order.date, date!(2025 - 01 - 10));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.lines.len(), 5);
        assert_line(
            &order.lines[0],
            Product,
            Some("MUG-1"),
            ("2", "29.99", "0"),
            "0",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("TOWEL-2"),
            ("1", "15.00", "0"),
            "0",
        );
        assert_line(&order.lines[2], Discount, None, ("1", "7.50", "0"), "0");
        assert_line(&order.lines[3], Shipping, None, ("1", "6.00", "0"), "0");
        assert_line(&order.lines[4], Fee, None, ("1", "4.00", "0"), "0");
        // The buyer paid 84.00; 6.52 of it was Etsy's to remit.
        assert_eq!(order.total, d("77.48"));
        assert_eq!(order.total_tax, Decimal::ZERO);
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(
            order.payments,
            vec![Payment {
                method: PaymentMethod::Gateway { name: "cc".into() },
                amount: d("77.48"),
                date: date!(2025 - 01 - 10),
                reference: None,
            }]
        );
        let customer = order.customer.unwrap();
        assert_eq!(customer.email.as_deref(), Some("bo@example.com"));

        assert_eq!(refunds.len(), 1);
        let refund = &refunds[0];
        assert_eq!(refund.refund_id, "3456789012-1736935200");
        assert_eq!(refund.date, date!(2025 - 01 - 15));
        // 21.00 back to the buyer; the seller's part is 21.00 × 77.48 / 84.00.
        assert_eq!(refund.lines.len(), 1);
        assert_line(&refund.lines[0], Adjustment, None, ("1", "19.37", "0"), "0");
        assert_eq!(refund.lines[0].description, "Refund: Mug arrived chipped");
        assert_eq!(refund.total, d("19.37"));
        assert_eq!(refund.returned.len(), 1);
        assert_eq!(refund.returned[0].amount, d("19.37"));
    }

    #[test]
    fn a_full_refund_credits_the_orders_own_lines_in_the_shop_currency() {
        let (order, refunds) = order_and_refunds(&fixture("etsy/receipt_gbp_fully_refunded.json"));

        assert_eq!(order.currency.as_str(), "GBP");
        assert_eq!(order.total, d("21.50"));
        assert_eq!(lines_total(&order.lines, order.tax_mode), order.total);
        let refund = &refunds[0];
        assert_eq!(refund.currency.as_str(), "GBP");
        assert_eq!(refund.lines, order.lines);
        assert_eq!(refund.total, d("21.50"));
        assert_eq!(refund.date, date!(2025 - 03 - 04));
        assert_eq!(
            refund.returned[0].method,
            PaymentMethod::Gateway {
                name: "paypal".into()
            }
        );
    }

    #[test]
    fn an_unpaid_receipt_books_nothing_and_one_without_refunds_is_just_the_order() {
        let unpaid = edited("etsy/receipt_usd_facilitator_tax.json", |r| {
            r["is_paid"] = json!(false);
            r["status"] = json!("payment processing");
        });
        assert!(matches!(
            receipt(&unpaid).unwrap(),
            Normalised::Nothing { reason } if reason == "Etsy receipt 3456789012 is not paid (payment processing)"
        ));

        let no_refunds = edited("etsy/receipt_usd_facilitator_tax.json", |r| {
            r["refunds"] = json!([]);
            r["status"] = json!("Canceled");
        });
        match receipt(&no_refunds).unwrap() {
            Normalised::Order(order) => assert!(order.cancelled),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refunds_made_in_the_same_second_keep_their_ids_whatever_order_they_are_listed_in() {
        // Two refunds of one second: the chipped mug (21.00) and the towel (15.00).
        let towel = json!({
            "amount": {"amount": 1500, "divisor": 100, "currency_code": "USD"},
            "created_timestamp": 1736935200,
            "reason": "Towel not as pictured",
            "status": "Success"
        });
        let listed = |towel_first: bool| {
            let towel = towel.clone();
            edited("etsy/receipt_usd_facilitator_tax.json", move |r| {
                let refunds = r["refunds"].as_array_mut().unwrap();
                if towel_first {
                    refunds.insert(0, towel);
                } else {
                    refunds.push(towel);
                }
            })
        };
        let ids = |body: &[u8]| {
            let mut ids: Vec<(String, Decimal)> = order_and_refunds(body)
                .1
                .into_iter()
                .map(|r| (r.refund_id, r.total))
                .collect();
            ids.sort();
            ids
        };

        let first_read = ids(&listed(false));
        let second_read = ids(&listed(true));

        assert_eq!(
            first_read,
            [
                ("3456789012-1736935200".to_owned(), d("13.84")),
                ("3456789012-1736935200-2".to_owned(), d("19.37")),
            ]
        );
        assert_eq!(second_read, first_read);
    }

    #[test]
    fn money_that_is_not_exact_or_in_another_currency_is_refused() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r["total_shipping_cost"]["currency_code"] = json!("EUR");
                }),
                "etsy receipt 3456789012: `total_shipping_cost` is in EUR, but the receipt's grand \
                 total is in USD",
            ),
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r["transactions"][0]["price"]["divisor"] = json!(0);
                }),
                "etsy receipt 3456789012: `transactions[0].price.divisor` is 0, not a positive divisor",
            ),
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r["transactions"][0]["price"]["divisor"] = json!(3);
                }),
                "etsy receipt 3456789012: `transactions[0].price.divisor` is 3, not a divisor that",
            ),
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r["transactions"][1]["price"]["amount"] = json!("15 dollars");
                }),
                "etsy receipt 3456789012: `transactions[1].price.amount` is \"15 dollars\", not a \
                 decimal amount",
            ),
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r.as_object_mut().unwrap().remove("grandtotal");
                }),
                "etsy receipt 3456789012: `grandtotal` is missing (this platform's webhooks are thin",
            ),
            (
                edited("etsy/receipt_usd_facilitator_tax.json", |r| {
                    r["grandtotal"]["currency_code"] = json!("usdollar");
                }),
                "etsy receipt 3456789012: `grandtotal.currency_code` is \"usdollar\", not an ISO 4217",
            ),
        ];
        for (body, expected) in cases {
            let err = receipt(&body).unwrap_err();
            assert!(
                err.to_string().starts_with(expected),
                "expected {expected:?}, got {err}"
            );
        }
    }
}
