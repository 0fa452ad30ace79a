//! eBay: the order the processor fetches from the Sell Fulfillment API (`GET
//! /sell/fulfillment/v1/order/{orderId}`) after a thin `ORDER_CONFIRMATION` notification.
//! Field names follow the Fulfillment API's `Order` type (notes §7.6, UNSURE there, checked
//! against eBay's type reference: `PricingSummary`, `LineItem`, `PaymentSummary`, `Amount`).
//!
//! - **eBay Collect and Remit taxes** (US sales tax, UK/EU VAT, AU/NZ/CA GST, ...) are collected
//!   and remitted by eBay as marketplace facilitator: not the seller's tax, not the seller's
//!   money (notes §7.6). eBay's rule for whether they are inside the amounts it reports: when a
//!   line lists them in both `ebayCollectAndRemitTaxes` and `taxes`, they are included in the
//!   line's `total`, `pricingSummary.total` and the payments. Those amounts are taken out:
//!   the order's total and tax, each line's tax, and the payment are the seller's.
//! - **Currency:** when eBay converted the order (`convertedFromCurrency` on the amounts), the
//!   buyer paid in the pre-conversion currency, which is booked, reading `convertedFromValue`
//!   everywhere; otherwise `value` in `currency`.
//! - **Lines:** `lineItemCost` (all units, before discounts) less the line's promotions
//!   (`discountedLineItemCost`, or the sum of `appliedPromotions`); order-level
//!   `deliveryCost` less `deliveryDiscount` as shipping; special fees (`pricingSummary.fee`)
//!   and a positive `adjustment` as fees, a negative one as a discount; `priceDiscount` the
//!   lines do not carry as a discount line. Prices exclude tax.
//! - **Payments:** `paymentSummary.payments` with status `PAID`, less the collect-and-remit
//!   tax they include. An order whose `orderPaymentStatus` is `PENDING` or `FAILED` is not a
//!   sale yet: nothing to book.
//! - **Refunds** (`paymentSummary.refunds`, matched to `lineItems[].refunds` by `refundId`):
//!   the part of a refund attributed to a line is credited to that line, less the line's
//!   collect-and-remit tax (all of it when the whole line total went back, else its
//!   proportional share, to the cent); the rest of the refund is an adjustment, less its share
//!   of the order's remitted tax. A refund of the whole order credits the order's own lines.
//!   Money went back when `refundStatus` is `REFUNDED`; a `FAILED` refund is ignored.

use rust_decimal::Decimal;
use xcs_shared::Platform;
use xcs_shared::domain::{
    Currency, Customer, Line, LineKind, Normalised, Order, Payment, PaymentMethod, Refund, TaxMode,
};

use crate::normalise;
use crate::normalise::{
    Ctx, Node, NormaliseError, TaxInfo, cents, lines_tax, lines_total, parse_json, row_line,
    seller_part, single_line,
};

const PLATFORM: Platform = Platform::Ebay;

/// A Fulfillment API order: the order and, when it lists refunds, those refunds too; nothing
/// while its payment is pending or failed.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable, or amounts in two
/// currencies.
pub fn order(fulfillment_order_json: &[u8]) -> Result<Normalised, NormaliseError> {
    let value = parse_json(PLATFORM, "order", fulfillment_order_json)?;
    let probe = Ctx::new(PLATFORM, "order");
    let top = Node::root(&probe, &value)?;
    if top.has("notification") && top.has("metadata") {
        let topic = top
            .field("metadata")?
            .opt_string("topic")?
            .unwrap_or_default();
        return Err(probe.inconsistent(format!(
            "this is a {topic} notification, not a Fulfillment API order: the processor must \
             fetch GET /sell/fulfillment/v1/order/{{orderId}} and normalise that"
        )));
    }
    let id = top.string("orderId")?;
    let ctx = Ctx::new(PLATFORM, format!("order {id}"));
    let root = Node::root(&ctx, &value)?;
    let payment_status = root.opt_string("orderPaymentStatus")?.unwrap_or_default();
    if matches!(payment_status.as_str(), "PENDING" | "FAILED") {
        return Ok(Normalised::Nothing {
            reason: format!("eBay order {id} payment is {payment_status}: not a sale yet"),
        });
    }

    let pricing = root.field("pricingSummary")?;
    let money = Money::of(&pricing.field("total")?)?;
    let buyer_total = money.read(&pricing.field("total")?)?;
    let date = root.field("creationDate")?.iso_date()?;

    let mut lines = Vec::new();
    let mut items = Vec::new();
    let mut remitted = Decimal::ZERO;
    let mut line_discounts = Decimal::ZERO;
    for item in root.list("lineItems")? {
        let quantity = item.dec("quantity")?;
        let cost = money.read(&item.field("lineItemCost")?)?;
        let discounted = match item.get("discountedLineItemCost") {
            Some(node) => money.read(&node)?,
            None => {
                let promotions = item
                    .list("appliedPromotions")?
                    .iter()
                    .map(|p| money.read(&p.field("discountAmount")?).map(|a| a.abs()))
                    .sum::<Result<Decimal, _>>()?;
                cost - promotions
            }
        };
        line_discounts += cost - discounted;
        let taxes = money.sum(&item.list("taxes")?, "amount")?;
        let collected = item.list("ebayCollectAndRemitTaxes")?;
        // eBay's rule: listed in both containers means included in the totals.
        let included = if item.list("taxes")?.is_empty() {
            Decimal::ZERO
        } else {
            money.sum(&collected, "amount")?
        };
        remitted += included;
        let line_total = match item.get("total") {
            Some(total) => Some(money.read(&total)?),
            None => None,
        };
        items.push(ItemRefunds {
            id: item.opt_string("lineItemId")?,
            sku: item.opt_string("sku")?,
            title: title(&item)?,
            refunds: item.list("refunds")?,
            total: line_total,
            remitted: included,
        });
        lines.push(row_line(
            LineKind::Product,
            item.opt_string("sku")?,
            title(&item)?,
            quantity,
            (cost, discounted),
            TaxInfo::amount((taxes - included).max(Decimal::ZERO)),
        ));
    }

    let delivery = money
        .optional(&pricing, "deliveryCost")?
        .unwrap_or_default();
    let delivery_discount = money
        .optional(&pricing, "deliveryDiscount")?
        .unwrap_or_default()
        .abs();
    if !delivery.is_zero() {
        lines.push(row_line(
            LineKind::Shipping,
            None,
            "Shipping".to_owned(),
            Decimal::ONE,
            (delivery, delivery - delivery_discount),
            TaxInfo::default(),
        ));
    }
    if let Some(fee) = money.optional(&pricing, "fee")?.filter(|f| !f.is_zero()) {
        lines.push(single_line(
            LineKind::Fee,
            "Special fees".to_owned(),
            fee,
            TaxInfo::default(),
        ));
    }
    if let Some(adjustment) = money
        .optional(&pricing, "adjustment")?
        .filter(|a| !a.is_zero())
    {
        let (kind, amount) = if adjustment.is_sign_negative() {
            (LineKind::Discount, -adjustment)
        } else {
            (LineKind::Fee, adjustment)
        };
        lines.push(single_line(
            kind,
            "Price adjustment".to_owned(),
            amount,
            TaxInfo::default(),
        ));
    }
    let price_discount = money
        .optional(&pricing, "priceDiscount")?
        .unwrap_or_default()
        .abs();
    let unallocated = price_discount - line_discounts;
    if unallocated > Decimal::ZERO {
        lines.push(single_line(
            LineKind::Discount,
            "Order discount".to_owned(),
            unallocated,
            TaxInfo::default(),
        ));
    }

    let total = buyer_total - remitted;
    let total_tax = money.optional(&pricing, "tax")?.unwrap_or_default() - remitted;
    let summary = root.get("paymentSummary");
    let mut payments = Vec::new();
    let mut gateway_name = "EBAY".to_owned();
    if let Some(summary) = &summary {
        let mut to_deduct = remitted;
        for payment in summary.list("payments")? {
            let method = payment.opt_string("paymentMethod")?;
            if let Some(method) = &method {
                gateway_name.clone_from(method);
            }
            if payment.opt_string("paymentStatus")?.as_deref() != Some("PAID") {
                continue;
            }
            let paid = money.read(&payment.field("amount")?)?;
            let deducted = to_deduct.min(paid);
            to_deduct -= deducted;
            let paid_on = match payment.get("paymentDate") {
                Some(node) => node.iso_date()?,
                None => date,
            };
            payments.push(Payment {
                method: PaymentMethod::Gateway {
                    name: method.unwrap_or_else(|| "EBAY".to_owned()),
                },
                amount: paid - deducted,
                date: paid_on,
                reference: payment.opt_string("paymentReferenceId")?,
            });
        }
    }

    let order = Order {
        platform: PLATFORM,
        order_id: id.clone(),
        number: id.clone(),
        date,
        currency: money.currency.clone(),
        tax_mode: TaxMode::Exclusive,
        customer: customer(&root)?,
        lines,
        total,
        total_tax,
        payments,
        cancelled: root
            .get("cancelStatus")
            .and_then(|c| c.opt_string("cancelState").ok().flatten())
            .as_deref()
            == Some("CANCELED"),
    };

    let mut refunds = Vec::new();
    if let Some(summary) = &summary {
        for listed in summary.list("refunds")? {
            let status = listed.opt_string("refundStatus")?.unwrap_or_default();
            if status == "FAILED" {
                continue;
            }
            let refund_id = listed.string("refundId")?;
            let refund_date = match listed.get("refundDate") {
                Some(node) => node.iso_date()?,
                None => date,
            };
            let paid_back = money.read(&listed.field("amount")?)?;
            let lines = if paid_back == buyer_total {
                order.lines.clone()
            } else {
                refund_lines(&money, &items, &refund_id, paid_back, buyer_total, total)?
            };
            let credit = lines_total(&lines, TaxMode::Exclusive);
            refunds.push(Refund {
                platform: PLATFORM,
                refund_id,
                order_id: id.clone(),
                order_number: id.clone(),
                date: refund_date,
                currency: money.currency.clone(),
                tax_mode: TaxMode::Exclusive,
                total: credit,
                total_tax: lines_tax(&lines),
                lines,
                returned: if status == "REFUNDED" {
                    vec![Payment {
                        method: PaymentMethod::Gateway {
                            name: gateway_name.clone(),
                        },
                        amount: credit,
                        date: refund_date,
                        reference: listed.opt_string("refundReferenceId")?,
                    }]
                } else {
                    Vec::new()
                },
            });
        }
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

/// What a line needs to credit its share of a refund.
struct ItemRefunds<'a> {
    id: Option<String>,
    sku: Option<String>,
    title: String,
    refunds: Vec<Node<'a>>,
    total: Option<Decimal>,
    remitted: Decimal,
}

/// The lines of a partial refund: each line's part of it less that line's remitted tax, the
/// rest an adjustment less its share of the order's remitted tax.
fn refund_lines(
    money: &Money,
    items: &[ItemRefunds<'_>],
    refund_id: &str,
    paid_back: Decimal,
    buyer_total: Decimal,
    seller_total: Decimal,
) -> Result<Vec<Line>, NormaliseError> {
    let mut lines = Vec::new();
    let mut attributed = Decimal::ZERO;
    for item in items {
        let mut amount = Decimal::ZERO;
        for refund in &item.refunds {
            if refund.opt_string("refundId")?.as_deref() == Some(refund_id) {
                amount += money.read(&refund.field("amount")?)?;
            }
        }
        if amount.is_zero() {
            continue;
        }
        attributed += amount;
        let remitted = match item.total {
            Some(total) if total == amount => item.remitted,
            Some(total) if !total.is_zero() => cents(item.remitted * amount / total),
            _ => Decimal::ZERO,
        };
        lines.push(single_line(
            LineKind::Product,
            item.title.clone(),
            amount - remitted,
            TaxInfo::default(),
        ));
        if let Some(line) = lines.last_mut() {
            line.sku.clone_from(&item.sku);
            if let Some(id) = &item.id {
                line.description = format!("{} (line {id})", item.title);
            }
        }
    }
    let rest = paid_back - attributed;
    if !rest.is_zero() {
        lines.push(single_line(
            LineKind::Adjustment,
            "Refund".to_owned(),
            seller_part(rest, buyer_total, seller_total),
            TaxInfo::default(),
        ));
    }
    Ok(lines)
}

/// Reads eBay amounts in the order's booked currency.
struct Money {
    currency: Currency,
    /// eBay converted the amounts: the buyer's figures are `convertedFromValue`.
    converted: bool,
}

impl Money {
    /// The booked currency, from the order's total.
    fn of(total: &Node<'_>) -> Result<Self, NormaliseError> {
        Ok(match total.get("convertedFromCurrency") {
            Some(code) => Money {
                currency: code.currency()?,
                converted: true,
            },
            None => Money {
                currency: total.currency_at("currency")?,
                converted: false,
            },
        })
    }

    fn read(&self, amount: &Node<'_>) -> Result<Decimal, NormaliseError> {
        let (value_key, currency_key) = if self.converted {
            ("convertedFromValue", "convertedFromCurrency")
        } else {
            ("value", "currency")
        };
        let code = amount.currency_at(currency_key)?;
        if code != self.currency {
            return Err(amount.ctx().inconsistent(format!(
                "`{}` is in {code}, but the order is booked in {}",
                amount.path(),
                self.currency
            )));
        }
        amount.dec(value_key)
    }

    fn optional(&self, node: &Node<'_>, key: &str) -> Result<Option<Decimal>, NormaliseError> {
        node.get(key).map(|amount| self.read(&amount)).transpose()
    }

    fn sum(&self, nodes: &[Node<'_>], key: &str) -> Result<Decimal, NormaliseError> {
        nodes.iter().map(|node| self.read(&node.field(key)?)).sum()
    }
}

fn title(item: &Node<'_>) -> Result<String, NormaliseError> {
    Ok(item
        .opt_string("title")?
        .unwrap_or_else(|| "Item".to_owned()))
}

fn customer(root: &Node<'_>) -> Result<Option<Customer>, NormaliseError> {
    let Some(buyer) = root.get("buyer") else {
        return Ok(None);
    };
    let id = buyer.opt_string("username")?;
    Ok(match buyer.get("buyerRegistrationAddress") {
        Some(address) => normalise::customer(
            id,
            address.opt_string("email")?,
            [address.opt_string("fullName")?],
        ),
        None => normalise::customer(id, None, [None]),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;
    use xcs_shared::domain::LineKind::{Adjustment, Product, Shipping};

    use super::*;
    use crate::normalise::lines_total;
    use crate::normalise::test_support::{self, assert_adds_up, assert_line, d, edited, fixture};

    fn order_and_refunds(body: &[u8]) -> (Order, Vec<Refund>) {
        test_support::order_and_refunds(order(body).unwrap())
    }

    fn ebay() -> PaymentMethod {
        PaymentMethod::Gateway {
            name: "EBAY".into(),
        }
    }

    #[test]
    fn collect_and_remit_tax_is_taken_out_of_the_sellers_order_and_payment() {
        // Arrange: a New York buyer; eBay collected 10.48 of sales tax and remits it; a 10%
        // promotion on the lens, a shipping discount, then the lens caps refunded.
        let body = fixture("ebay/order_usd_collect_and_remit.json");

        // Act
        let (order, refunds) = order_and_refunds(&body);

        // Assert
        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("12-12345-67890", "12-12345-67890")
        );
        assert_eq!(order.date, date!(2025 - 02 - 03));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.tax_mode, TaxMode::Exclusive);
        assert_eq!(order.lines.len(), 3);
        assert_line(
            &order.lines[0],
            Product,
            Some("LENS-50"),
            ("1", "120.00", "12.00"),
            "0",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("CAP-52"),
            ("2", "5.00", "0"),
            "0",
        );
        assert_line(&order.lines[2], Shipping, None, ("1", "8.00", "3.00"), "0");
        assert_eq!(
            order.total,
            d("123.00"),
            "133.48 charged, 10.48 of it eBay's to remit"
        );
        assert_eq!(order.total_tax, Decimal::ZERO);
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(
            order.payments,
            vec![Payment {
                method: ebay(),
                amount: d("123.00"),
                date: date!(2025 - 02 - 03),
                reference: Some("2TY34567AB123456C".into()),
            }]
        );
        let customer = order.customer.unwrap();
        assert_eq!(
            (customer.id.as_deref(), customer.name.as_deref()),
            (Some("photo_fan_77"), Some("Pat Lee"))
        );

        assert_eq!(refunds.len(), 1);
        let refund = &refunds[0];
        assert_eq!(refund.refund_id, "5000123456");
        assert_eq!(refund.date, date!(2025 - 02 - 10));
        // The whole cap line went back (10.89): 10.00 of goods, 0.89 of eBay's tax.
        assert_eq!(refund.lines.len(), 1);
        assert_line(
            &refund.lines[0],
            Product,
            Some("CAP-52"),
            ("1", "10.00", "0"),
            "0",
        );
        assert_eq!(refund.total, d("10.00"));
        assert_eq!(
            refund.returned,
            vec![Payment {
                method: ebay(),
                amount: d("10.00"),
                date: date!(2025 - 02 - 10),
                reference: Some("8TX12345AB6789012".into()),
            }]
        );
    }

    #[test]
    fn a_converted_order_is_booked_in_the_currency_the_buyer_paid() {
        // A US seller's item bought on eBay UK: amounts converted to USD, paid in GBP, UK VAT
        // collected by eBay.
        let order = match order(&fixture("ebay/order_gbp_converted.json")).unwrap() {
            Normalised::Order(order) => order,
            other => panic!("{other:?}"),
        };

        assert_eq!(order.currency.as_str(), "GBP");
        assert_eq!(order.lines.len(), 2);
        assert_line(
            &order.lines[0],
            Product,
            Some("CAM-OM1"),
            ("1", "80.00", "0"),
            "0",
        );
        assert_line(&order.lines[1], Shipping, None, ("1", "12.00", "0"), "0");
        assert_eq!(order.total, d("92.00"));
        assert_eq!(lines_total(&order.lines, order.tax_mode), order.total);
        assert_eq!(order.amount_paid(), d("92.00"));
    }

    #[test]
    fn a_full_refund_credits_the_orders_own_lines_and_the_rest_of_a_partial_one_is_an_adjustment() {
        let full = edited("ebay/order_usd_collect_and_remit.json", |o| {
            o["paymentSummary"]["refunds"][0]["amount"]["value"] = json!("133.48");
        });
        let (order, refunds) = order_and_refunds(&full);
        assert_eq!(refunds[0].lines, order.lines);
        assert_eq!(refunds[0].total, d("123.00"));

        // 5.00 more than the cap line, attributed to no line: its share of eBay's tax is
        // taken out in proportion (5.00 × 123.00 / 133.48).
        let goodwill = edited("ebay/order_usd_collect_and_remit.json", |o| {
            o["paymentSummary"]["refunds"][0]["amount"]["value"] = json!("15.89");
        });
        let (_, refunds) = order_and_refunds(&goodwill);
        let refund = &refunds[0];
        assert_eq!(refund.lines.len(), 2);
        assert_line(&refund.lines[1], Adjustment, None, ("1", "4.61", "0"), "0");
        assert_eq!(refund.total, d("14.61"));
    }

    #[test]
    fn unpaid_orders_book_nothing_and_failed_refunds_are_ignored() {
        for status in ["PENDING", "FAILED"] {
            let body = edited("ebay/order_usd_collect_and_remit.json", |o| {
                o["orderPaymentStatus"] = json!(status);
            });
            assert!(
                matches!(order(&body).unwrap(), Normalised::Nothing { .. }),
                "{status}"
            );
        }
        let failed = edited("ebay/order_usd_collect_and_remit.json", |o| {
            o["paymentSummary"]["refunds"][0]["refundStatus"] = json!("FAILED");
        });
        assert!(matches!(order(&failed).unwrap(), Normalised::Order(_)));
    }

    #[test]
    fn a_notification_is_refused_with_what_to_fetch_instead() {
        let err = order(&fixture(
            "ebay/notification_marketplace_account_deletion.json",
        ))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ebay order: this is a MARKETPLACE_ACCOUNT_DELETION notification, not a Fulfillment \
             API order: the processor must fetch GET /sell/fulfillment/v1/order/{orderId} and \
             normalise that"
        );
    }

    #[test]
    fn broken_orders_are_refused_with_the_field_at_fault() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edited("ebay/order_usd_collect_and_remit.json", |o| {
                    o["pricingSummary"].as_object_mut().unwrap().remove("total");
                }),
                "ebay order 12-12345-67890: `pricingSummary.total` is missing (this platform's \
                 webhooks are thin",
            ),
            (
                edited("ebay/order_usd_collect_and_remit.json", |o| {
                    o["lineItems"][1]["lineItemCost"]["currency"] = json!("EUR");
                }),
                "ebay order 12-12345-67890: `lineItems[1].lineItemCost` is in EUR, but the order is \
                 booked in USD",
            ),
            (
                edited("ebay/order_usd_collect_and_remit.json", |o| {
                    o["lineItems"][0]["lineItemCost"]["value"] = json!("120,00");
                }),
                "ebay order 12-12345-67890: `lineItems[0].lineItemCost.value` is \"120,00\", not a \
                 decimal amount",
            ),
            (
                edited("ebay/order_gbp_converted.json", |o| {
                    o["lineItems"][0]["lineItemCost"]
                        .as_object_mut()
                        .unwrap()
                        .remove("convertedFromValue");
                }),
                "ebay order 27-98765-43210: `lineItems[0].lineItemCost.convertedFromValue` is missing",
            ),
            (
                edited("ebay/order_usd_collect_and_remit.json", |o| {
                    o["pricingSummary"]["total"]["currency"] = json!("dollars");
                }),
                "ebay order 12-12345-67890: `pricingSummary.total.currency` is \"dollars\", not an \
                 ISO 4217",
            ),
        ];
        for (body, expected) in cases {
            let err = order(&body).unwrap_err();
            assert!(
                err.to_string().starts_with(expected),
                "expected {expected:?}, got {err}"
            );
        }
    }
}
