//! BigCommerce. Webhooks are thin (`{"scope", "data": {"type", "id"}}`), so orders and refunds
//! are normalised from what the processor fetched: the V2 order (`GET /v2/orders/{id}`) with
//! its products (`GET /v2/orders/{id}/products`), and a V3 refund (one element of `GET
//! /v3/orders/{id}/payment_actions/refunds`). Inventory webhooks carry their figures and are
//! read directly.
//!
//! - **What is a sale:** status 0 (Incomplete: payment page reached, not completed), 1
//!   (Pending: checkout started, not completed) and 6 (Declined) are not sales: nothing to
//!   book (`store/order/created` fires for them too). 5 (Cancelled) is an order marked
//!   cancelled. (Status ids per notes §4.5, UNSURE there.)
//! - **Currency:** `default_currency_code`, the *transactional* currency the shopper was
//!   charged in, not `currency_code`, which is only the currency prices were displayed in. The
//!   V2 money fields are read as being in the transactional currency
//!   (`store_default_to_transactional_exchange_rate` converts the store's default into it).
//! - **Tax basis:** `is_tax_inclusive_pricing`; product rows are `total_inc_tax` or
//!   `total_ex_tax` accordingly, shipping, handling and wrapping likewise.
//! - **Discounts:** a product's `applied_discounts` (coupons and promotions BigCommerce
//!   allocated to it) are its line discount, on the order's basis. `discount_amount` plus
//!   `coupon_discount` beyond what the products carry is a discount line.
//! - **Tax:** a product's `total_tax` is its line tax (read as after discounts, so that the
//!   lines add up to the order's `total_tax`); shipping, handling and wrapping use their
//!   `*_tax` fields, or the difference between their inc- and ex-tax costs. BigCommerce gives
//!   no rates (nor which authorities charged them), so each line's rate is derived from its
//!   amounts ([`derived_rate`]): the rate in percent with the fewest decimals, at most 4,
//!   that reproduces the line's tax within its rounding, when it is the only one at that
//!   precision; otherwise none, and the mapping finds the configured rate the amounts imply
//!   as it does for any line without one.
//! - **Payments:** a payment is captured when `payment_status` says so (`captured`,
//!   `partially refunded`, `refunded`) or, without it, when the status implies it (shipped,
//!   completed, awaiting fulfilment, pickup or shipment, refunded, disputed). The gateway is
//!   paid `total_inc_tax` less gift certificates and store credit, which are payments out of
//!   the customer's liability. The V2 order has no payment date: the order date stands in.
//! - **Gift certificates:** sold as products of type `giftcertificate`; redeemed as
//!   `gift_certificate_amount`.
//! - **Refunds** give their `total_amount` and `total_tax`, amounts only for amount-bound items
//!   (shipping, handling, wrapping, an order-level amount) and a quantity for products. The
//!   products' line is what the refund's total leaves after the other items, and the refund's
//!   tax, reported only in total, sits on that line (or on the first line when no product was
//!   refunded). Amount-bound items are read on the order's tax basis (UNSURE: the reference
//!   does not say). An `ORDER` item is an adjustment. Money returned is the refund's payments
//!   that were not declined; store credit and gift certificates go back to the customer's
//!   liability.
//! - **Dates:** the V2 order's RFC 2822 `date_created` (UTC in practice), the refund's
//!   `created`.

use rust_decimal::Decimal;
use serde_json::Value;
use xcs_shared::Platform;
use xcs_shared::domain::{
    Customer, Line, LineKind, Normalised, Order, Payment, PaymentMethod, Refund, StockChange,
    StockLevel, TaxMode,
};

use crate::normalise;
use crate::normalise::{
    Ctx, Node, NormaliseError, OrderContext, TaxInfo, parse_json, row_line, single_line,
};

const PLATFORM: Platform = Platform::BigCommerce;

/// Statuses that are not sales: 0 Incomplete, 1 Pending, 6 Declined.
const NOT_SALES: [u64; 3] = [0, 1, 6];
/// Statuses that imply the payment was captured, when `payment_status` is absent.
const PAID: [u64; 9] = [2, 3, 4, 8, 9, 10, 11, 13, 14];

/// A V2 order and its products (`GET /v2/orders/{id}` and `…/products`): the order, or
/// nothing for an unfinished checkout.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable, in the order or its
/// products.
pub fn order(order_json: &[u8], products_json: &[u8]) -> Result<Normalised, NormaliseError> {
    let value = parse_json(PLATFORM, "order", order_json)?;
    let probe = Ctx::new(PLATFORM, "order");
    let id = Node::root(&probe, &value)?.string("id")?;
    let ctx = Ctx::new(PLATFORM, format!("order {id}"));
    let root = Node::root(&ctx, &value)?;
    let status_node = root.field("status_id")?;
    let status_id = status_node
        .text()?
        .parse::<u64>()
        .map_err(|_| status_node.invalid("a status id"))?;
    if NOT_SALES.contains(&status_id) {
        let status = root
            .opt_string("status")?
            .unwrap_or_else(|| status_id.to_string());
        return Ok(Normalised::Nothing {
            reason: format!("BigCommerce order {id} is {status}: not a sale"),
        });
    }
    let tax_mode = if root.field("is_tax_inclusive_pricing")?.boolean()? {
        TaxMode::Inclusive
    } else {
        TaxMode::Exclusive
    };
    let total_key = match tax_mode {
        TaxMode::Exclusive => "total_ex_tax",
        TaxMode::Inclusive => "total_inc_tax",
    };

    let products_name = format!("products of order {id}");
    let products_value = parse_json(PLATFORM, &products_name, products_json)?;
    let products_ctx = Ctx::new(PLATFORM, products_name);
    let products = match products_value.get("data") {
        Some(data @ Value::Array(_)) => Node::nested(&products_ctx, data, "data").items()?,
        _ => Node::array_root(&products_ctx, &products_value).items()?,
    };

    let mut lines = Vec::new();
    let mut allocated = Decimal::ZERO;
    for product in &products {
        let quantity = product.dec("quantity")?;
        let gross = product.dec(total_key)?;
        let tax = product.dec_or_zero("total_tax")?;
        let discount = product
            .list("applied_discounts")?
            .iter()
            .map(|d| d.dec("amount"))
            .sum::<Result<Decimal, _>>()?;
        if quantity.is_zero() || (gross.is_zero() && tax.is_zero() && discount.is_zero()) {
            continue; // a bundle's pick-list row: its parent carries the price
        }
        allocated += discount;
        let gift = product.opt_string("type")?.as_deref() == Some("giftcertificate");
        let tax = TaxInfo {
            rate: derived_rate(tax, gross - discount, tax_mode),
            ..TaxInfo::amount(tax)
        };
        lines.push(row_line(
            if gift {
                LineKind::GiftCardSale
            } else {
                LineKind::Product
            },
            product.opt_string("sku")?,
            product
                .opt_string("name")?
                .unwrap_or_else(|| "Item".to_owned()),
            quantity,
            (gross, gross - discount),
            tax,
        ));
    }

    for (prefix, kind, description) in [
        ("shipping_cost", LineKind::Shipping, "Shipping"),
        ("handling_cost", LineKind::Fee, "Handling"),
        ("wrapping_cost", LineKind::Fee, "Gift wrapping"),
    ] {
        let ex = root.dec_or_zero(&format!("{prefix}_ex_tax"))?;
        let inc = root.dec_or_zero(&format!("{prefix}_inc_tax"))?;
        if ex.is_zero() && inc.is_zero() {
            continue;
        }
        let tax = match root.opt_dec(&format!("{prefix}_tax"))? {
            Some(tax) => tax,
            None => inc - ex,
        };
        let amount = match tax_mode {
            TaxMode::Exclusive => ex,
            TaxMode::Inclusive => inc,
        };
        lines.push(single_line(
            kind,
            description.to_owned(),
            amount,
            TaxInfo {
                rate: derived_rate(tax, amount, tax_mode),
                ..TaxInfo::amount(tax)
            },
        ));
    }

    let order_discounts =
        root.dec_or_zero("discount_amount")? + root.dec_or_zero("coupon_discount")?;
    let unallocated = order_discounts - allocated;
    if unallocated > Decimal::ZERO {
        lines.push(single_line(
            LineKind::Discount,
            "Order discount".to_owned(),
            unallocated,
            TaxInfo::default(),
        ));
    }

    let date = root.field("date_created")?.rfc2822_date()?;
    let total = root.dec("total_inc_tax")?;
    let gift_certificates = root.dec_or_zero("gift_certificate_amount")?;
    let store_credit = root.dec_or_zero("store_credit_amount")?;
    let paid = match root.opt_string("payment_status")? {
        Some(status) => matches!(
            status.to_ascii_lowercase().as_str(),
            "captured" | "paid" | "partially refunded" | "refunded"
        ),
        None => PAID.contains(&status_id),
    };
    let mut payments = Vec::new();
    for amount in [gift_certificates, store_credit] {
        if amount > Decimal::ZERO {
            payments.push(Payment {
                method: PaymentMethod::GiftCard,
                amount,
                date,
                reference: None,
            });
        }
    }
    let gateway_amount = total - gift_certificates - store_credit;
    if paid && gateway_amount > Decimal::ZERO {
        payments.push(Payment {
            method: PaymentMethod::Gateway {
                name: root
                    .opt_string("payment_method")?
                    .unwrap_or_else(|| "bigcommerce".to_owned()),
            },
            amount: gateway_amount,
            date,
            reference: root.opt_string("payment_provider_id")?,
        });
    }

    Ok(Normalised::Order(Order {
        platform: PLATFORM,
        order_id: id.clone(),
        number: id,
        date,
        currency: root.currency_at("default_currency_code")?,
        tax_mode,
        customer: customer(&root)?,
        lines,
        total,
        total_tax: root.dec_or_zero("total_tax")?,
        payments,
        cancelled: status_id == 5,
    }))
}

/// The most decimals, in percent, a derived rate has (Xero's `EffectiveRate` has 4).
const RATE_DP: u32 = 4;

/// The tax rate (as a fraction) that `tax` on a line of `amount` (after discounts, on the
/// order's basis) implies, when the amounts leave no doubt: in percent with the fewest
/// decimals (at most [`RATE_DP`]) that reproduces the tax within the half cent its rounding
/// may have moved it, and the only such rate at that precision. `None` for an untaxed line,
/// or when two rates at the precision first reached fit (a small line: 0.01 on 0.10 is 5% to
/// 15%), so that no rate is made up. A rate whose rounded tax also fits a finer rate (8.88 on
/// 100.00 is 8.88%, and 8.875% too) is the coarser one; the mapping takes it for the
/// configured rate the amounts imply.
fn derived_rate(tax: Decimal, amount: Decimal, mode: TaxMode) -> Option<Decimal> {
    let half_cent = Decimal::new(5, 3);
    let (tax, amount) = (tax.abs(), amount.abs());
    if tax.is_zero() {
        return None;
    }
    // What the rate charges on the line: on the amount, or inside it when prices include tax.
    let charged = |percent: Decimal| -> Option<Decimal> {
        let rate = percent.checked_div(Decimal::ONE_HUNDRED)?;
        match mode {
            TaxMode::Exclusive => amount.checked_mul(rate),
            TaxMode::Inclusive => amount
                .checked_mul(rate)?
                .checked_div(Decimal::ONE.checked_add(rate)?),
        }
    };
    let base = match mode {
        TaxMode::Exclusive => amount,
        TaxMode::Inclusive => amount.checked_sub(tax)?,
    };
    if base <= Decimal::ZERO {
        return None;
    }
    let implied = tax.checked_div(base)?.checked_mul(Decimal::ONE_HUNDRED)?;
    for dp in 0..=RATE_DP {
        let step = Decimal::new(1, dp);
        let nearest = implied.round_dp(dp);
        let mut fits = [
            nearest.checked_sub(step)?,
            nearest,
            nearest.checked_add(step)?,
        ]
        .into_iter()
        .filter(|p| *p > Decimal::ZERO)
        .filter(|p| charged(*p).is_some_and(|c| (c - tax).abs() <= half_cent));
        match (fits.next(), fits.next()) {
            (Some(percent), None) => {
                return percent
                    .checked_div(Decimal::ONE_HUNDRED)
                    .map(|r| r.normalize());
            }
            (Some(_), Some(_)) => return None,
            (None, _) => {}
        }
    }
    None
}

/// A V3 refund states its tax as one total. When one rate explains it over every line (a
/// store that taxes all it sells at one rate, shipping included), each line carries its share
/// at that rate, in cents, the rounding left on the largest; otherwise the total stays on the
/// first line, which the mapping books by the rate its amounts imply or refuses by name.
fn spread_refund_tax(lines: &mut [Line], total_tax: Decimal, mode: TaxMode) {
    if total_tax.is_zero() || lines.is_empty() {
        return;
    }
    let amounts: Decimal = lines.iter().map(Line::net_amount).sum();
    let Some(rate) = derived_rate(total_tax, amounts, mode) else {
        lines[0].tax = total_tax;
        return;
    };
    let share = |amount: Decimal| match mode {
        TaxMode::Exclusive => normalise::cents(amount * rate),
        TaxMode::Inclusive => normalise::cents(amount * rate / (Decimal::ONE + rate)),
    };
    let mut spread = Decimal::ZERO;
    for line in lines.iter_mut() {
        line.tax = share(line.net_amount());
        line.tax_rate = Some(rate);
        spread += line.tax;
    }
    if let Some(largest) = lines.iter_mut().max_by_key(|line| line.net_amount().abs()) {
        largest.tax += total_tax - spread;
    }
}

/// A V3 refund (one element of `GET /v3/orders/{id}/payment_actions/refunds`; a `{"data": …}`
/// wrapper is accepted) as a [`Refund`] of the order described by `order`.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn refund(refund_json: &[u8], order: &OrderContext) -> Result<Refund, NormaliseError> {
    let envelope = parse_json(PLATFORM, "refund", refund_json)?;
    let value = match envelope.get("data") {
        Some(data @ Value::Object(_)) => data,
        _ => &envelope,
    };
    let probe = Ctx::new(PLATFORM, "refund");
    let id = Node::root(&probe, value)?.string("id")?;
    let ctx = Ctx::new(PLATFORM, format!("refund {id} of order {}", order.number));
    let root = Node::root(&ctx, value)?;
    let date = root.field("created")?.iso_date()?;
    let total = root.dec("total_amount")?;
    let total_tax = root.dec_or_zero("total_tax")?;
    let net_total = match order.tax_mode {
        TaxMode::Exclusive => total - total_tax,
        TaxMode::Inclusive => total,
    };

    let mut lines: Vec<Line> = Vec::new();
    let mut products: Vec<(String, Decimal)> = Vec::new();
    for item in root.list("items")? {
        let item_type = item.string("item_type")?.to_ascii_uppercase();
        let item_id = item.opt_string("item_id")?.unwrap_or_default();
        match (item_type.as_str(), item.opt_dec("requested_amount")?) {
            ("PRODUCT", None) => products.push((item_id, item.dec("quantity")?)),
            ("TAX", _) => {} // a tax-only refund: already in total_tax
            (kind, Some(amount)) => {
                let (kind, description) = match kind {
                    "PRODUCT" => (LineKind::Product, format!("Order product {item_id}")),
                    "SHIPPING" => (LineKind::Shipping, "Shipping".to_owned()),
                    "HANDLING" => (LineKind::Fee, "Handling".to_owned()),
                    "GIFT_WRAPPING" => (LineKind::Fee, "Gift wrapping".to_owned()),
                    _ => (
                        LineKind::Adjustment,
                        item.opt_string("reason")?
                            .unwrap_or_else(|| "Refund".to_owned()),
                    ),
                };
                lines.push(single_line(kind, description, amount, TaxInfo::default()));
            }
            (_, None) => return Err(item.missing("requested_amount")),
        }
    }
    let listed: Decimal = lines.iter().map(Line::net_amount).sum();
    let remainder = net_total - listed;
    if !products.is_empty() {
        let (quantity, description) = match products.as_slice() {
            [(item_id, quantity)] => (*quantity, format!("Order product {item_id}")),
            many => (
                Decimal::ONE,
                format!(
                    "Order products {}",
                    many.iter()
                        .map(|(id, qty)| format!("{id} × {}", qty.normalize()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
        };
        lines.insert(
            0,
            row_line(
                LineKind::Product,
                None,
                description,
                quantity,
                (remainder, remainder),
                TaxInfo::default(),
            ),
        );
    } else if !remainder.is_zero() {
        lines.push(single_line(
            LineKind::Adjustment,
            "Refund difference".to_owned(),
            remainder,
            TaxInfo::default(),
        ));
    }
    spread_refund_tax(&mut lines, total_tax, order.tax_mode);

    let mut returned = Vec::new();
    for payment in root.list("payments")? {
        if payment.opt_bool("is_declined")?.unwrap_or(false) {
            continue;
        }
        let provider = payment
            .opt_string("provider_id")?
            .unwrap_or_else(|| "bigcommerce".to_owned());
        let method = match provider.to_ascii_lowercase().as_str() {
            "storecredit" | "store_credit" | "giftcertificate" | "gift_certificate" => {
                PaymentMethod::GiftCard
            }
            _ => PaymentMethod::Gateway { name: provider },
        };
        returned.push(Payment {
            method,
            amount: payment.dec("amount")?,
            date,
            reference: payment.opt_string("id")?,
        });
    }

    Ok(Refund {
        platform: PLATFORM,
        refund_id: id,
        order_id: root.string("order_id")?,
        order_number: order.number.clone(),
        date,
        currency: order.currency.clone(),
        tax_mode: order.tax_mode,
        lines,
        total,
        total_tax,
        returned,
    })
}

/// The product and variant an inventory webhook names: `data.inventory`'s, or the
/// multi-location `stock_changed` scope's `data.product_id` and `data.variant_id`. `None` for a
/// body naming no product.
///
/// # Errors
/// [`NormaliseError`] naming the field that is unparseable.
pub fn stock_item(webhook_body: &[u8]) -> Result<Option<(String, Option<String>)>, NormaliseError> {
    let value = parse_json(PLATFORM, "inventory webhook", webhook_body)?;
    let ctx = Ctx::new(PLATFORM, "inventory webhook");
    let root = Node::root(&ctx, &value)?;
    let data = root.field("data")?;
    let ids = data.get("inventory").unwrap_or(data);
    Ok(match ids.opt_string("product_id")? {
        Some(product) => Some((product, ids.opt_string("variant_id")?)),
        None => None,
    })
}

/// A product's or variant's stock as the V3 Catalog API answers it (`GET
/// /v3/catalog/products/{id}` or `/v3/catalog/products/{id}/variants/{variant_id}`, its
/// `data`): the SKU (`None` when blank), `inventory_level` (the quantity the catalog holds,
/// which on a multi-location store is the sum over its locations) and `cost_price` (`None`
/// when zero, BigCommerce's "not set").
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn catalog_stock(
    body: &[u8],
) -> Result<(Option<String>, Decimal, Option<Decimal>), NormaliseError> {
    let value = parse_json(PLATFORM, "catalog item", body)?;
    let ctx = Ctx::new(PLATFORM, "catalog item");
    let root = Node::root(&ctx, &value)?;
    let data = root.field("data")?;
    let cost = data.opt_dec("cost_price")?.filter(|cost| !cost.is_zero());
    Ok((data.opt_string("sku")?, data.dec("inventory_level")?, cost))
}

/// An inventory webhook body: `data.inventory` with `method` `absolute` (the level now, UNSURE
/// in the notes) or `relative` (the change an order made). The item is the product, or
/// `product:variant` for a variant. The multi-location `stock_changed` scope names the item
/// and location but no quantity: nothing to book without fetching the level.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn stock(webhook_body: &[u8]) -> Result<Vec<StockChange>, NormaliseError> {
    let value = parse_json(PLATFORM, "inventory webhook", webhook_body)?;
    let ctx = Ctx::new(PLATFORM, "inventory webhook");
    let root = Node::root(&ctx, &value)?;
    let data = root.field("data")?;
    let Some(inventory) = data.get("inventory") else {
        return Ok(Vec::new());
    };
    let product_id = inventory.string("product_id")?;
    let item_id = match inventory.opt_string("variant_id")? {
        Some(variant) => format!("{product_id}:{variant}"),
        None => product_id,
    };
    let amount = inventory.dec("value")?;
    let method = inventory.field("method")?;
    let level = match method.text()?.as_str() {
        "absolute" => StockLevel::Absolute(amount),
        "relative" => StockLevel::Delta(amount),
        _ => return Err(method.invalid("\"absolute\" or \"relative\"")),
    };
    Ok(vec![StockChange {
        platform: PLATFORM,
        item_id,
        sku: None,
        location: data.opt_string("location_id")?,
        level,
        unit_cost: None,
        as_of: None,
        name: None,
    }])
}

fn customer(root: &Node<'_>) -> Result<Option<Customer>, NormaliseError> {
    let id = root.opt_string("customer_id")?.filter(|id| id != "0");
    Ok(match root.get("billing_address") {
        Some(billing) => normalise::customer(
            id,
            billing.opt_string("email")?,
            [
                billing.opt_string("first_name")?,
                billing.opt_string("last_name")?,
            ],
        ),
        None => normalise::customer(id, None, [None]),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;
    use xcs_shared::domain::Currency;
    use xcs_shared::domain::LineKind::{
        Adjustment, Discount, Fee, GiftCardSale, Product, Shipping,
    };

    use super::*;
    use crate::normalise::lines_total;
    use crate::normalise::test_support::{
        assert_adds_up, assert_line, d, edited, fixture, fixture_json,
    };

    fn booked(order_json: &[u8], products_json: &[u8]) -> Order {
        match order(order_json, products_json).unwrap() {
            Normalised::Order(order) => order,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn usd_products() -> Vec<u8> {
        fixture("bigcommerce/products_v2_usd.json")
    }

    fn eur_order() -> OrderContext {
        OrderContext {
            number: "312".into(),
            currency: Currency::try_from("EUR".to_owned()).unwrap(),
            tax_mode: TaxMode::Inclusive,
        }
    }

    #[test]
    fn a_tax_exclusive_order_books_coupons_handling_and_gift_certificates() {
        // Arrange: US store, a 10% coupon on the mugs, untaxed coffee beans, a gift
        // certificate sold, handling, 20.00 paid with a gift certificate.
        let order = booked(&fixture("bigcommerce/order_v2_usd.json"), &usd_products());

        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("250", "250")
        );
        assert_eq!(order.date, date!(2024 - 11 - 20));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.tax_mode, TaxMode::Exclusive);
        assert_eq!(order.lines.len(), 5);
        assert_line(
            &order.lines[0],
            Product,
            Some("MUG-ENAMEL"),
            ("2", "12.00", "2.40"),
            "1.73",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("BEANS-500"),
            ("1", "18.00", "0"),
            "0",
        );
        assert_line(
            &order.lines[2],
            GiftCardSale,
            None,
            ("1", "25.00", "0"),
            "0",
        );
        assert_eq!(order.lines[2].description, "$25 Gift Certificate");
        assert_line(&order.lines[3], Shipping, None, ("1", "8.00", "0"), "0");
        assert_line(&order.lines[4], Fee, None, ("1", "2.00", "0"), "0");
        assert_eq!(order.lines[4].description, "Handling");
        assert_eq!(order.total, d("76.33"));
        assert_eq!(order.total_tax, d("1.73"));
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(
            order.payments,
            vec![
                Payment {
                    method: PaymentMethod::GiftCard,
                    amount: d("20.00"),
                    date: date!(2024 - 11 - 20),
                    reference: None,
                },
                Payment {
                    method: PaymentMethod::Gateway {
                        name: "Credit Card".into()
                    },
                    amount: d("56.33"),
                    date: date!(2024 - 11 - 20),
                    reference: Some("ch_3QJ9f8e7d6c5b4a3".into()),
                },
            ]
        );
        assert_eq!(order.amount_paid(), order.total);
        let customer = order.customer.unwrap();
        assert_eq!(
            (customer.id.as_deref(), customer.name.as_deref()),
            (Some("11"), Some("Jane Doe"))
        );
    }

    #[test]
    fn a_lines_rate_is_derived_from_its_amounts_when_they_leave_no_doubt() {
        let order = booked(&fixture("bigcommerce/order_v2_usd.json"), &usd_products());
        // 1.73 on 24.00 less 2.40: 8% (1.728), the only whole rate that gives it.
        assert_eq!(order.lines[0].tax_rate, Some(d("0.08")));
        assert_eq!(order.lines[1].tax_rate, None, "untaxed beans");
        let exclusive =
            |tax: &str, amount: &str| derived_rate(d(tax), d(amount), TaxMode::Exclusive);
        assert_eq!(exclusive("8.75", "100.00"), Some(d("0.0875")));
        // 0.875 (8.75% of 10.00) charged as 0.88 is 8.8% too, the coarser rate; the mapping
        // takes it for a configured 8.75%, which its amounts imply.
        assert_eq!(exclusive("0.88", "10.00"), Some(d("0.088")));
        assert_eq!(exclusive("7.25", "100.00"), Some(d("0.0725")));
        assert_eq!(exclusive("1.23", "13.37"), Some(d("0.092")));
        // 0.01 on 0.10 is anything from 5% to 15%: no rate is made up.
        assert_eq!(exclusive("0.01", "0.10"), None);
        assert_eq!(exclusive("0", "10.00"), None);
        assert_eq!(exclusive("5.00", "0"), None);
        // Prices including tax: 9.00 inside 60.00 less 6.00 is 20% on 45.00.
        assert_eq!(
            derived_rate(d("9.00"), d("54.00"), TaxMode::Inclusive),
            Some(d("0.2"))
        );
        // Figures beyond Decimal are no rate, not a panic.
        assert_eq!(
            exclusive(
                "79228162514264337593543950335",
                "0.0000000000000000000000000001"
            ),
            None
        );
    }

    #[test]
    fn a_tax_inclusive_order_is_booked_in_the_transactional_currency() {
        // Store default USD; the shopper was charged in EUR.
        let order = booked(
            &fixture("bigcommerce/order_v2_eur_tax_inclusive.json"),
            &fixture("bigcommerce/products_v2_eur_tax_inclusive.json"),
        );

        assert_eq!(order.currency.as_str(), "EUR");
        assert_eq!(order.tax_mode, TaxMode::Inclusive);
        assert_eq!(order.lines.len(), 3);
        assert_line(
            &order.lines[0],
            Product,
            Some("SCARF-WOOL"),
            ("1", "60.00", "6.00"),
            "9.00",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("BOOK-KERRY"),
            ("1", "12.00", "0"),
            "0",
        );
        assert_line(&order.lines[2], Shipping, None, ("1", "6.00", "0"), "1.00");
        assert_eq!(order.total, d("72.00"));
        assert_eq!(order.total_tax, d("10.00"));
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(
            order
                .payments
                .iter()
                .map(|p| (&p.method, p.amount))
                .collect::<Vec<_>>(),
            vec![
                (&PaymentMethod::GiftCard, d("10.00")),
                (
                    &PaymentMethod::Gateway {
                        name: "PayPal".into()
                    },
                    d("62.00")
                ),
            ],
            "store credit is paid from the customer's liability"
        );
        assert_eq!(order.customer.unwrap().id, None, "customer_id 0 is a guest");

        // A display currency other than the transactional one changes nothing.
        let displayed_in_chf = edited("bigcommerce/order_v2_eur_tax_inclusive.json", |o| {
            o["currency_code"] = json!("CHF");
        });
        let order = booked(
            &displayed_in_chf,
            &fixture("bigcommerce/products_v2_eur_tax_inclusive.json"),
        );
        assert_eq!(order.currency.as_str(), "EUR");
    }

    #[test]
    fn unfinished_and_declined_checkouts_book_nothing() {
        for (status_id, status) in [(0, "Incomplete"), (1, "Pending"), (6, "Declined")] {
            let body = edited("bigcommerce/order_v2_usd.json", |o| {
                o["status_id"] = json!(status_id);
                o["status"] = json!(status);
            });
            match order(&body, &usd_products()).unwrap() {
                Normalised::Nothing { reason } => {
                    assert_eq!(
                        reason,
                        format!("BigCommerce order 250 is {status}: not a sale")
                    );
                }
                other => panic!("{status}: {other:?}"),
            }
        }
    }

    #[test]
    fn only_captured_payments_are_payments() {
        let awaiting = edited("bigcommerce/order_v2_usd.json", |o| {
            o["status_id"] = json!(7);
            o["status"] = json!("Awaiting Payment");
            o["payment_status"] = json!("");
        });
        let payments = booked(&awaiting, &usd_products()).payments;
        assert_eq!(payments.len(), 1, "the gift certificate, not the gateway");
        assert_eq!(payments[0].method, PaymentMethod::GiftCard);

        let authorized = edited("bigcommerce/order_v2_usd.json", |o| {
            o["payment_status"] = json!("authorized");
        });
        assert_eq!(booked(&authorized, &usd_products()).payments.len(), 1);

        let cancelled = edited("bigcommerce/order_v2_usd.json", |o| {
            o["status_id"] = json!(5);
            o["payment_status"] = json!("void");
        });
        let order = booked(&cancelled, &usd_products());
        assert!(order.cancelled);
        assert_eq!(order.payments.len(), 1);
    }

    #[test]
    fn order_discounts_the_products_do_not_carry_become_a_discount_line() {
        let body = edited("bigcommerce/order_v2_usd.json", |o| {
            o["discount_amount"] = json!("5.0000");
        });
        let order = booked(&body, &usd_products());
        let last = order.lines.last().unwrap();
        assert_line(last, Discount, None, ("1", "5.00", "0"), "0");
    }

    #[test]
    fn a_refund_tax_no_one_rate_explains_stays_whole_on_its_first_line() {
        // 10.00 of tax over 54.00 and 6.00 (inclusive): 20%. Make it 7.31: no rate of at most
        // four decimals explains 7.31 of 60.00 across both lines, so nothing is guessed.
        let body = edited("bigcommerce/refund_v3_eur_tax_inclusive.json", |r| {
            let refund = if r.get("data").is_some() {
                &mut r["data"]
            } else {
                r
            };
            refund["total_tax"] = json!(7.31);
        });
        let refund = refund(&body, &eur_order()).unwrap();
        assert_eq!(refund.lines[0].tax, d("7.31"));
        assert_eq!(refund.lines[0].tax_rate, None);
        assert!(refund.lines[1..].iter().all(|line| line.tax.is_zero()));
    }

    #[test]
    fn a_refund_prices_its_products_with_what_its_total_leaves_after_shipping() {
        let refund = refund(
            &fixture("bigcommerce/refund_v3_eur_tax_inclusive.json"),
            &eur_order(),
        )
        .unwrap();

        assert_eq!(refund.refund_id, "7");
        assert_eq!(
            (refund.order_id.as_str(), refund.order_number.as_str()),
            ("312", "312")
        );
        assert_eq!(refund.date, date!(2025 - 02 - 20));
        assert_eq!(refund.lines.len(), 2);
        // Tax-inclusive: 60.00 − 6.00 shipping. The refund reports its 10.00 tax in total; 20%
        // explains it over both lines (10.00 of 50.00 before tax), so each carries its share
        // at that rate, as the order's lines did.
        assert_line(&refund.lines[0], Product, None, ("1", "54.00", "0"), "9.00");
        assert_eq!(refund.lines[0].description, "Order product 41");
        assert_line(&refund.lines[1], Shipping, None, ("1", "6.0", "0"), "1.00");
        for line in &refund.lines {
            assert_eq!(line.tax_rate, Some(d("0.2")), "{}", line.description);
        }
        assert_eq!(refund.total, d("60.00"));
        assert_eq!(refund.total_tax, d("10.00"));
        assert_adds_up(&refund.lines, refund.tax_mode, refund.total);
        assert_eq!(
            refund
                .returned
                .iter()
                .map(|p| (&p.method, p.amount))
                .collect::<Vec<_>>(),
            vec![
                (
                    &PaymentMethod::Gateway {
                        name: "paypal".into()
                    },
                    d("50")
                ),
                (&PaymentMethod::GiftCard, d("10")),
            ],
            "the store-credit part goes back to the customer's liability"
        );
    }

    #[test]
    fn the_notes_refund_example_credits_its_product_net_of_tax() {
        let listed = fixture_json("bigcommerce/refunds_v3_notes_example.json");
        let body = serde_json::to_vec(&listed["data"][0]).unwrap();
        let usd = OrderContext {
            number: "250".into(),
            currency: Currency::try_from("USD".to_owned()).unwrap(),
            tax_mode: TaxMode::Exclusive,
        };

        let refund = refund(&body, &usd).unwrap();

        assert_eq!(refund.lines.len(), 1);
        assert_line(&refund.lines[0], Product, None, ("1", "50.0", "0"), "4.0");
        assert_eq!(refund.total, d("54.00"));
        assert_eq!(lines_total(&refund.lines, refund.tax_mode), refund.total);
        assert_eq!(refund.returned.len(), 1);
        assert_eq!(refund.returned[0].amount, d("54"));
    }

    #[test]
    fn an_order_level_refund_amount_is_an_adjustment() {
        let body = br#"{"id":8,"order_id":312,"created":"2025-02-21T08:00:00+00:00","reason":"Goodwill",
            "total_amount":5.0,"total_tax":0,
            "items":[{"item_type":"ORDER","item_id":312,"requested_amount":5.0,"reason":"Goodwill"}],
            "payments":[{"id":13,"provider_id":"paypal","amount":5.0,"offline":false,"is_declined":false},
                        {"id":14,"provider_id":"paypal","amount":5.0,"offline":false,"is_declined":true}]}"#;
        let refund = refund(body, &eur_order()).unwrap();
        assert_eq!(refund.lines.len(), 1);
        assert_line(&refund.lines[0], Adjustment, None, ("1", "5.0", "0"), "0");
        assert_eq!(refund.lines[0].description, "Goodwill");
        assert_eq!(
            refund.returned.len(),
            1,
            "the declined attempt returned nothing"
        );
    }

    #[test]
    fn inventory_webhooks_name_their_item_and_the_catalog_its_sku_level_and_cost() {
        let located = br#"{"scope":"store/channel/1/inventory/product/stock_changed",
            "data":{"variant_id":101,"product_id":77,"location_id":2}}"#;
        assert_eq!(
            stock_item(located).unwrap(),
            Some(("77".into(), Some("101".into())))
        );
        let base = br#"{"scope":"store/product/inventory/updated",
            "data":{"type":"product","id":77,"inventory":{"product_id":77,"method":"absolute","value":15}}}"#;
        assert_eq!(stock_item(base).unwrap(), Some(("77".into(), None)));
        assert_eq!(stock_item(br#"{"data":{"type":"product"}}"#).unwrap(), None);

        let variant = br#"{"data":{"id":101,"product_id":77,"sku":"MUG-KAURI-BLUE",
            "cost_price":8.25,"inventory_level":14,"price":25}}"#;
        assert_eq!(
            catalog_stock(variant).unwrap(),
            (Some("MUG-KAURI-BLUE".into()), d("14"), Some(d("8.25")))
        );
        let bare = br#"{"data":{"id":77,"sku":"","cost_price":0,"inventory_level":3}}"#;
        assert_eq!(catalog_stock(bare).unwrap(), (None, d("3"), None));
        assert!(catalog_stock(br#"{"data":{"id":77,"sku":"A"}}"#).is_err());
    }

    #[test]
    fn inventory_webhooks_are_absolute_levels_or_changes() {
        let absolute = br#"{"scope":"store/product/inventory/updated","store_id":"1025646",
            "data":{"type":"product","id":77,"inventory":{"product_id":77,"method":"absolute","value":15}},
            "hash":"a1","created_at":1561479335,"producer":"stores/abc123"}"#;
        assert_eq!(
            stock(absolute).unwrap(),
            vec![StockChange {
                platform: Platform::BigCommerce,
                item_id: "77".into(),
                sku: None,
                location: None,
                level: StockLevel::Absolute(d("15")),
                unit_cost: None,
                as_of: None,
                name: None,
            }]
        );
        let relative = br#"{"scope":"store/sku/inventory/order/updated","store_id":"1025646",
            "data":{"type":"sku","id":101,"inventory":{"product_id":77,"variant_id":101,"method":"relative","value":-2}},
            "hash":"a2","created_at":1561479336,"producer":"stores/abc123"}"#;
        let changes = stock(relative).unwrap();
        assert_eq!(changes[0].item_id, "77:101");
        assert_eq!(changes[0].level, StockLevel::Delta(d("-2")));

        let located = br#"{"scope":"store/channel/1/inventory/product/stock_changed",
            "data":{"variant_id":101,"product_id":77,"location_id":2}}"#;
        assert!(
            stock(located).unwrap().is_empty(),
            "no quantity in the webhook"
        );

        let odd = br#"{"data":{"inventory":{"product_id":77,"method":"set","value":1}}}"#;
        let err = stock(odd).unwrap_err();
        assert!(
            err.to_string()
                .contains("`data.inventory.method` is \"set\""),
            "{err}"
        );
    }

    #[test]
    fn broken_orders_are_refused_with_the_field_at_fault() {
        let cases: Vec<(Vec<u8>, Vec<u8>, &str)> = vec![
            (
                edited("bigcommerce/order_v2_usd.json", |o| {
                    o.as_object_mut().unwrap().remove("total_inc_tax");
                }),
                usd_products(),
                "bigcommerce order 250: `total_inc_tax` is missing (this platform's webhooks are \
                 thin",
            ),
            (
                fixture("bigcommerce/order_v2_usd.json"),
                edited("bigcommerce/products_v2_usd.json", |p| {
                    p[0]["total_ex_tax"] = json!("24.00 USD");
                }),
                "bigcommerce products of order 250: `[0].total_ex_tax` is \"24.00 USD\", not a \
                 decimal amount",
            ),
            (
                edited("bigcommerce/order_v2_usd.json", |o| {
                    o["default_currency_code"] = json!("");
                }),
                usd_products(),
                "bigcommerce order 250: `default_currency_code` is \"\", not an ISO 4217",
            ),
            (
                fixture("bigcommerce/order_v2_usd.json"),
                br#"{"status":404,"title":"not found"}"#.to_vec(),
                "bigcommerce products of order 250: `(body)` is {\"status\":404",
            ),
        ];
        for (order_json, products_json, expected) in cases {
            let err = order(&order_json, &products_json).unwrap_err();
            assert!(
                err.to_string().starts_with(expected),
                "expected {expected:?}, got {err}"
            );
        }
    }
}
