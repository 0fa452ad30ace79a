//! WooCommerce: `order.*` and `product.updated` webhook bodies (the REST v3 resources, built at
//! delivery time), and the refunds list the processor fetches (`GET
//! /wp-json/wc/v3/orders/{id}/refunds`), since an order's webhook lists only refund ids and
//! totals.
//!
//! - **What is a sale:** `pending` (awaiting payment), `checkout-draft` (an unfinished block
//!   checkout) and `failed` (payment failed) are not sales yet: nothing to book. `cancelled`
//!   is an order marked cancelled. `refunded` stays an ordinary order: it was a sale, and its
//!   refunds are credit notes of their own. A deleted order's body is only `{"id": …}`:
//!   nothing to normalise.
//! - **Currency:** `currency`, the order's (multi-currency plugins set it to what the customer
//!   paid in).
//! - **Tax basis:** `prices_include_tax`. WooCommerce stores line `subtotal`/`total` excluding
//!   tax whatever the setting, with the tax beside them (`subtotal_tax`/`total_tax`); on a
//!   tax-inclusive order the line amounts are those sums, the platform's own figures added,
//!   not tax recomputed.
//! - **Discounts:** coupons are allocated to lines by WooCommerce itself (`subtotal` −
//!   `total`), so `coupon_lines` add nothing; only `discount_total` beyond the lines'
//!   allocation would become a discount line. A negative fee (how plugins grant an
//!   order-level discount) is a discount line.
//! - **Dates:** `date_created` and `date_paid`, the site-local calendar date the merchant
//!   sees, falling back to `*_gmt`. (The `_gmt` fields are the right instants for ordering
//!   and dedupe; a booking date is a day in the shop's calendar.)
//! - **Payments:** paid when `date_paid` is set (WooCommerce sets it on payment, and on the
//!   move to `processing`/`completed`), through `payment_method`, for the order `total`.
//!   `processing` alone is not proof: cash on delivery orders sit there unpaid.
//! - **Gift cards:** WooCommerce core has none; extensions record them in meta data, which is
//!   not read.
//! - **Refunds:** the refund's `amount` is the credit (it takes precedence over its lines on
//!   the platform too); lines come negated from the refund's `line_items`, `shipping_lines`
//!   and `fee_lines`, and whatever `amount` has beyond them (an amount-only refund) is an
//!   adjustment. Money went back only when `refunded_payment` is true (the gateway refunded
//!   it); a manual refund leaves the credit note open, since how the merchant paid it back is
//!   not in the payload.

use std::collections::HashMap;

use rust_decimal::Decimal;
use xcs_shared::Platform;
use xcs_shared::domain::{
    Currency, Customer, Line, LineKind, Normalised, Order, Payment, PaymentMethod, Refund,
    StockChange, StockLevel, TaxMode, TaxPart,
};

use crate::normalise;
use crate::normalise::{
    Ctx, Node, NormaliseError, TaxInfo, lines_total, parse_json, row_line, single_line,
};

const PLATFORM: Platform = Platform::WooCommerce;

/// Statuses that are not (yet) a sale.
const NOT_SALES: [&str; 5] = ["pending", "checkout-draft", "failed", "auto-draft", "trash"];

/// An `order.created` / `order.updated` / `order.restored` body: the order, or nothing for an
/// unpaid checkout (see the module docs).
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn order(body: &[u8]) -> Result<Normalised, NormaliseError> {
    let value = parse_json(PLATFORM, "order", body)?;
    let probe = Ctx::new(PLATFORM, "order");
    let id = Node::root(&probe, &value)?.string("id")?;
    if value.as_object().is_some_and(|o| o.len() == 1) {
        return Ok(Normalised::Nothing {
            reason: format!("WooCommerce order {id} was deleted: the webhook carries only its id"),
        });
    }
    let ctx = Ctx::new(PLATFORM, format!("order {id}"));
    let root = Node::root(&ctx, &value)?;
    let status = root.string("status")?;
    if NOT_SALES.contains(&status.as_str()) {
        return Ok(Normalised::Nothing {
            reason: format!("WooCommerce order {id} is {status}: not a sale (yet)"),
        });
    }

    let header = Header::read(&root, id)?;
    let rates = Rates::read(&root)?;
    let mut lines = Vec::new();
    let mut allocated = Allocated::default();
    for item in root.list("line_items")? {
        let quantity = item.dec("quantity")?;
        let (subtotal, subtotal_tax) = (item.dec("subtotal")?, item.dec_or_zero("subtotal_tax")?);
        let (total, total_tax) = (item.dec("total")?, item.dec_or_zero("total_tax")?);
        allocated.add(subtotal - total, subtotal_tax - total_tax);
        lines.push(item_line(
            &item,
            header.tax_mode,
            &rates,
            quantity,
            (subtotal, subtotal_tax),
            (total, total_tax),
        )?);
    }
    for ship in root.list("shipping_lines")? {
        let (total, tax) = (ship.dec("total")?, ship.dec_or_zero("total_tax")?);
        lines.push(with_parts(
            single_line(
                LineKind::Shipping,
                ship.opt_string("method_title")?
                    .unwrap_or_else(|| "Shipping".to_owned()),
                header.amount(total, tax),
                rates.tax(&ship, tax)?,
            ),
            rates.parts(&ship, tax)?,
        ));
    }
    for fee in root.list("fee_lines")? {
        let (total, tax) = (fee.dec("total")?, fee.dec_or_zero("total_tax")?);
        let name = item_name(&fee)?;
        if total.is_sign_negative() && !total.is_zero() {
            // A negative fee is an order-level discount: booked positive, as discount lines are.
            lines.push(with_parts(
                single_line(
                    LineKind::Discount,
                    name,
                    -header.amount(total, tax),
                    TaxInfo {
                        amount: -tax,
                        ..rates.tax(&fee, tax)?
                    },
                ),
                rates.parts(&fee, -tax)?,
            ));
        } else {
            lines.push(with_parts(
                single_line(
                    LineKind::Fee,
                    name,
                    header.amount(total, tax),
                    rates.tax(&fee, tax)?,
                ),
                rates.parts(&fee, tax)?,
            ));
        }
    }
    let order_discount = root.dec_or_zero("discount_total")?;
    let order_discount_tax = root.dec_or_zero("discount_tax")?;
    let unallocated = order_discount - allocated.amount;
    if unallocated > Decimal::ZERO {
        let tax = (order_discount_tax - allocated.tax).max(Decimal::ZERO);
        lines.push(single_line(
            LineKind::Discount,
            "Order discount".to_owned(),
            header.amount(unallocated, tax),
            TaxInfo::amount(tax),
        ));
    }

    let total = root.dec("total")?;
    let payments = match paid_date(&root)? {
        Some(date) => vec![Payment {
            method: PaymentMethod::Gateway {
                name: header.gateway.clone(),
            },
            amount: total,
            date,
            reference: root.opt_string("transaction_id")?,
        }],
        None => Vec::new(),
    };
    Ok(Normalised::Order(Order {
        platform: PLATFORM,
        order_id: header.id,
        number: header.number,
        date: header.date,
        currency: header.currency,
        tax_mode: header.tax_mode,
        customer: customer(&root)?,
        lines,
        total,
        total_tax: root.dec("total_tax")?,
        payments,
        cancelled: status == "cancelled",
    }))
}

/// The refunds of an order: `order_body` is the order (the webhook body), `refunds_body` the
/// list `GET /wp-json/wc/v3/orders/{id}/refunds` answered (a single refund object is accepted
/// too).
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable, in the order or in a
/// refund.
pub fn refunds(order_body: &[u8], refunds_body: &[u8]) -> Result<Vec<Refund>, NormaliseError> {
    let order_value = parse_json(PLATFORM, "order", order_body)?;
    let probe = Ctx::new(PLATFORM, "order");
    let id = Node::root(&probe, &order_value)?.string("id")?;
    let order_ctx = Ctx::new(PLATFORM, format!("order {id}"));
    let order = Node::root(&order_ctx, &order_value)?;
    let header = Header::read(&order, id)?;
    let rates = Rates::read(&order)?;

    let list_name = format!("refunds of order {}", header.number);
    let list_value = parse_json(PLATFORM, &list_name, refunds_body)?;
    let list_ctx = Ctx::new(PLATFORM, list_name);
    let list = match list_value.as_array() {
        Some(_) => Node::array_root(&list_ctx, &list_value).items()?,
        None => vec![Node::root(&list_ctx, &list_value)?],
    };

    let mut refunds = Vec::new();
    for listed in list {
        let refund_id = listed.string("id")?;
        let ctx = Ctx::new(
            PLATFORM,
            format!("refund {refund_id} of order {}", header.number),
        );
        let node = Node::root(&ctx, listed.value())?;
        refunds.push(refund(&node, refund_id, &header, &rates)?);
    }
    Ok(refunds)
}

fn refund(
    node: &Node<'_>,
    refund_id: String,
    header: &Header,
    rates: &Rates,
) -> Result<Refund, NormaliseError> {
    let date = match node.get("date_created") {
        Some(local) => local.iso_date()?,
        None => node.field("date_created_gmt")?.iso_date()?,
    };
    let amount = node.dec("amount")?.abs();
    let mut lines = Vec::new();
    for item in node.list("line_items")? {
        // Refund lines are negative on the platform: quantity and every amount.
        let quantity = item.dec("quantity")?.abs();
        let (subtotal, subtotal_tax) = (-item.dec("subtotal")?, -item.dec_or_zero("subtotal_tax")?);
        let (total, total_tax) = (-item.dec("total")?, -item.dec_or_zero("total_tax")?);
        lines.push(item_line(
            &item,
            header.tax_mode,
            rates,
            quantity,
            (subtotal, subtotal_tax),
            (total, total_tax),
        )?);
    }
    for (key, kind) in [
        ("shipping_lines", LineKind::Shipping),
        ("fee_lines", LineKind::Fee),
    ] {
        for charge in node.list(key)? {
            let (total, tax) = (-charge.dec("total")?, -charge.dec_or_zero("total_tax")?);
            let name = match charge.opt_string("method_title")? {
                Some(title) => title,
                None => item_name(&charge)?,
            };
            lines.push(with_parts(
                single_line(
                    kind,
                    name,
                    header.amount(total, tax),
                    rates.tax(&charge, tax)?,
                ),
                rates.parts(&charge, tax)?,
            ));
        }
    }
    // The tax refunded, as the refund's tax lines state it: a store that rounds tax at the
    // subtotal refunds a tax whose per-line parts, each rounded, need not add up to it. The
    // gap is tax, which the mapping books on the line with the most tax; left in the
    // remainder it would be an untaxed adjustment, understating the tax returned.
    let lines_tax: Decimal = lines.iter().map(|l: &Line| l.tax).sum();
    let total_tax = match stated_tax(node)? {
        Some(stated) => stated,
        None => lines_tax,
    };
    let tax_gap = match header.tax_mode {
        TaxMode::Exclusive => total_tax - lines_tax,
        // Inclusive line amounts already hold their tax, however it is split.
        TaxMode::Inclusive => Decimal::ZERO,
    };
    let remainder = amount - lines_total(&lines, header.tax_mode) - tax_gap;
    if !remainder.is_zero() {
        let reason = node
            .opt_string("reason")?
            .unwrap_or_else(|| "Refund".to_owned());
        lines.push(single_line(
            LineKind::Adjustment,
            reason,
            remainder,
            TaxInfo::default(),
        ));
    }
    let returned = if node.opt_bool("refunded_payment")?.unwrap_or(false) {
        vec![Payment {
            method: PaymentMethod::Gateway {
                name: header.gateway.clone(),
            },
            amount,
            date,
            reference: None,
        }]
    } else {
        Vec::new()
    };
    Ok(Refund {
        platform: PLATFORM,
        refund_id,
        order_id: header.id.clone(),
        order_number: header.number.clone(),
        date,
        currency: header.currency.clone(),
        tax_mode: header.tax_mode,
        total_tax,
        lines,
        total: amount,
        returned,
    })
}

/// The tax a refund returned by its `tax_lines` (`tax_total` + `shipping_tax_total`, negative
/// on a refund like its other amounts), or `None` when it has none to say (webhooks of older
/// stores, and amount-only refunds, carry no tax lines; an empty list says nothing either).
fn stated_tax(node: &Node<'_>) -> Result<Option<Decimal>, NormaliseError> {
    let tax_lines = node.list("tax_lines")?;
    if tax_lines.is_empty() {
        return Ok(None);
    }
    let mut total = Decimal::ZERO;
    for tax in &tax_lines {
        total += tax.dec_or_zero("tax_total")?.abs() + tax.dec_or_zero("shipping_tax_total")?.abs();
    }
    Ok(Some(total))
}

/// A `product.updated` body (or an `action.woocommerce_*_set_stock` body whose `arg` is the
/// product): its stock level when WooCommerce manages the product's stock. A variation whose
/// stock is managed by its parent (`manage_stock: "parent"`) reports the parent's level, which
/// the parent's own event books. The unit cost is the product's cost of goods
/// (`cost_of_goods_sold.total_value`), which WooCommerce's REST products carry once the store
/// enables Cost of Goods Sold (core since 9.9, WooCommerce > Settings > Advanced > Features;
/// woocommerce/woocommerce#51675); a variation's total already adds its parent's cost where
/// it is additive. Without the feature the product has no cost.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn stock(body: &[u8]) -> Result<Vec<StockChange>, NormaliseError> {
    let value = parse_json(PLATFORM, "product", body)?;
    let probe = Ctx::new(PLATFORM, "product");
    let top = Node::root(&probe, &value)?;
    let product_value = match top.get("arg") {
        Some(arg) if top.has("action") => {
            if !arg.value().is_object() {
                return Err(arg.invalid(
                    "a product object (this action sends only an id: fetch the product)",
                ));
            }
            arg.value()
        }
        _ => &value,
    };
    let id = Node::root(&probe, product_value)?.string("id")?;
    let ctx = Ctx::new(PLATFORM, format!("product {id}"));
    let product = Node::root(&ctx, product_value)?;
    let managed = match product.get("manage_stock") {
        Some(flag) if flag.value().as_str() == Some("parent") => false,
        Some(flag) => flag.boolean()?,
        None => false,
    };
    if !managed {
        return Ok(Vec::new());
    }
    Ok(vec![StockChange {
        platform: PLATFORM,
        item_id: id,
        sku: product.opt_string("sku")?,
        location: None,
        level: StockLevel::Absolute(product.dec("stock_quantity")?),
        unit_cost: match product.get("cost_of_goods_sold") {
            Some(cogs) => cogs.opt_dec("total_value")?,
            None => None,
        },
        // WooCommerce's `_gmt` times are UTC without an offset.
        as_of: product.opt_string("date_modified_gmt")?.map(|at| {
            if at.ends_with('Z') {
                at
            } else {
                format!("{at}Z")
            }
        }),
        name: product.opt_string("name")?.filter(|n| !n.trim().is_empty()),
    }])
}

/// What every document of an order shares.
struct Header {
    id: String,
    number: String,
    date: time::Date,
    currency: Currency,
    tax_mode: TaxMode,
    gateway: String,
}

impl Header {
    fn read(root: &Node<'_>, id: String) -> Result<Self, NormaliseError> {
        let date = match root.get("date_created") {
            Some(local) => local.iso_date()?,
            None => root.field("date_created_gmt")?.iso_date()?,
        };
        Ok(Header {
            number: root.opt_string("number")?.unwrap_or_else(|| id.clone()),
            id,
            date,
            currency: root.currency_at("currency")?,
            tax_mode: if root.field("prices_include_tax")?.boolean()? {
                TaxMode::Inclusive
            } else {
                TaxMode::Exclusive
            },
            gateway: root
                .opt_string("payment_method")?
                .unwrap_or_else(|| "woocommerce".to_owned()),
        })
    }

    /// A one-unit charge (shipping, fee) on the order's basis, from WooCommerce's ex-tax
    /// total and its tax.
    fn amount(&self, total: Decimal, tax: Decimal) -> Decimal {
        match self.tax_mode {
            TaxMode::Exclusive => total,
            TaxMode::Inclusive => total + tax,
        }
    }
}

/// The line discounts WooCommerce allocated, ex tax, with the tax they took off.
#[derive(Default)]
struct Allocated {
    amount: Decimal,
    tax: Decimal,
}

impl Allocated {
    fn add(&mut self, amount: Decimal, tax: Decimal) {
        self.amount += amount;
        self.tax += tax;
    }
}

/// The order's tax rates by id (`tax_lines[].rate_id`): rate and code.
struct Rates(HashMap<String, (Option<Decimal>, Option<String>)>);

impl Rates {
    fn read(root: &Node<'_>) -> Result<Self, NormaliseError> {
        let mut rates = HashMap::new();
        for line in root.list("tax_lines")? {
            let Some(rate_id) = line.opt_string("rate_id")? else {
                continue;
            };
            let rate = line
                .opt_dec("rate_percent")?
                .map(|percent| percent / Decimal::ONE_HUNDRED);
            let label = match line.opt_string("rate_code")? {
                Some(code) => Some(code),
                None => line.opt_string("label")?,
            };
            rates.insert(rate_id, (rate, label));
        }
        Ok(Rates(rates))
    }

    /// The tax on a line: `amount` as the platform charged it, with the rate and code of the
    /// rates its `taxes[]` name.
    fn tax(&self, line: &Node<'_>, amount: Decimal) -> Result<TaxInfo, NormaliseError> {
        let parts = line
            .list("taxes")?
            .iter()
            .map(|tax| {
                let id = tax.string("id")?;
                let (rate, label) = self.0.get(&id).cloned().unwrap_or_default();
                Ok(TaxInfo {
                    amount: Decimal::ZERO,
                    rate,
                    label,
                })
            })
            .collect::<Result<Vec<_>, NormaliseError>>()?;
        Ok(TaxInfo {
            amount,
            ..TaxInfo::combine(parts)
        })
    }

    /// Each rate's part of a line's tax (`taxes[].total` by rate id), named by the rate's
    /// code like the line, and signed like the line's `amount` (refunds list them negative).
    fn parts(&self, line: &Node<'_>, amount: Decimal) -> Result<Vec<TaxPart>, NormaliseError> {
        line.list("taxes")?
            .iter()
            .map(|tax| {
                let (rate, label) = self.0.get(&tax.string("id")?).cloned().unwrap_or_default();
                let total = tax.dec_or_zero("total")?.abs();
                Ok(TaxPart {
                    label,
                    rate,
                    amount: if amount.is_sign_negative() {
                        -total
                    } else {
                        total
                    },
                })
            })
            .collect()
    }
}

/// `line` with its tax's parts per authority.
/// An order's or a refund's product line from its subtotal (before discounts) and total, each
/// with its tax, signed as the document books them.
fn item_line(
    item: &Node<'_>,
    tax_mode: TaxMode,
    rates: &Rates,
    quantity: Decimal,
    (subtotal, subtotal_tax): (Decimal, Decimal),
    (total, total_tax): (Decimal, Decimal),
) -> Result<Line, NormaliseError> {
    let (gross, net) = match tax_mode {
        TaxMode::Exclusive => (subtotal, total),
        TaxMode::Inclusive => (subtotal + subtotal_tax, total + total_tax),
    };
    Ok(with_parts(
        row_line(
            LineKind::Product,
            item.opt_string("sku")?,
            item_name(item)?,
            quantity,
            (gross, net),
            rates.tax(item, total_tax)?,
        ),
        rates.parts(item, total_tax)?,
    ))
}

fn with_parts(line: Line, tax_parts: Vec<TaxPart>) -> Line {
    Line { tax_parts, ..line }
}

fn paid_date(root: &Node<'_>) -> Result<Option<time::Date>, NormaliseError> {
    match (root.get("date_paid"), root.get("date_paid_gmt")) {
        (Some(local), _) => local.iso_date().map(Some),
        (None, Some(gmt)) => gmt.iso_date().map(Some),
        (None, None) => Ok(None),
    }
}

fn item_name(item: &Node<'_>) -> Result<String, NormaliseError> {
    Ok(item
        .opt_string("name")?
        .map(|name| html_unescape(&name))
        .unwrap_or_else(|| "Item".to_owned()))
}

fn customer(root: &Node<'_>) -> Result<Option<Customer>, NormaliseError> {
    // customer_id 0 is a guest checkout.
    let id = root.opt_string("customer_id")?.filter(|id| id != "0");
    Ok(match root.get("billing") {
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

/// WooCommerce sends item names HTML-escaped (`Ship Your Idea &ndash; Color: Black`).
fn html_unescape(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|end| *end <= 10).and_then(|end| {
            let entity = &rest[1..end];
            let ch = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "hellip" => Some('…'),
                "lsquo" => Some('‘'),
                "rsquo" => Some('’'),
                "sbquo" => Some('‚'),
                "ldquo" => Some('“'),
                "rdquo" => Some('”'),
                "bdquo" => Some('„'),
                "laquo" => Some('«'),
                "raquo" => Some('»'),
                "euro" => Some('€'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|ch| (ch, end))
        });
        match decoded {
            Some((ch, end)) => {
                out.push(ch);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;
    use xcs_shared::domain::LineKind::{Adjustment, Discount, Fee, Product, Shipping};

    use super::*;
    use crate::normalise::lines_tax;
    use crate::normalise::test_support::{
        assert_adds_up, assert_credit_returns_stated_tax, assert_line, d, edited, fixture,
    };

    fn booked(body: &[u8]) -> Order {
        match order(body).unwrap() {
            Normalised::Order(order) => order,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn stripe() -> PaymentMethod {
        PaymentMethod::Gateway {
            name: "stripe".into(),
        }
    }

    #[test]
    fn the_reference_order_adds_up_to_its_total_to_the_cent() {
        let order = booked(&fixture("woocommerce/order_create_response.json"));

        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("727", "727")
        );
        assert_eq!(order.date, date!(2017 - 03 - 22));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.tax_mode, TaxMode::Exclusive);
        assert_eq!(order.lines.len(), 3);
        assert_line(&order.lines[0], Product, None, ("2", "3.00", "0"), "0.45");
        assert_eq!(order.lines[0].tax_label.as_deref(), Some("US-CA-STATE TAX"));
        assert_eq!(
            order.lines[0].tax_rate, None,
            "this version gives no rate_percent"
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("Bar3"),
            ("1", "12.00", "0"),
            "0.90",
        );
        assert_eq!(
            order.lines[1].description, "Ship Your Idea – Color: Black, Size: M Test",
            "HTML entities decoded"
        );
        assert_line(&order.lines[2], Shipping, None, ("1", "10.00", "0"), "0.00");
        assert_eq!(order.lines[2].description, "Flat Rate");
        assert_eq!(order.total, d("29.35"));
        assert_eq!(order.total_tax, d("1.35"));
        assert_eq!(lines_total(&order.lines, order.tax_mode), order.total);
        assert_eq!(
            order.payments,
            vec![Payment {
                method: PaymentMethod::Gateway {
                    name: "bacs".into()
                },
                amount: d("29.35"),
                date: date!(2017 - 03 - 22),
                reference: None,
            }],
            "date_paid is set: the bank transfer was received"
        );
        let customer = order.customer.unwrap();
        assert_eq!(customer.id, None, "customer_id 0 is a guest");
        assert_eq!(customer.email.as_deref(), Some("john.doe@example.com"));
        assert_eq!(customer.name.as_deref(), Some("John Doe"));
    }

    #[test]
    fn a_tax_inclusive_euro_order_books_coupons_on_lines_and_a_negative_fee_as_a_discount() {
        // Arrange: German shop, prices including VAT at 19%, 7% and 0%, a 10% coupon on two
        // lines, gift wrapping, a loyalty discount entered as a negative fee.
        let body = fixture("woocommerce/order_eur_tax_inclusive.json");

        // Act
        let order = booked(&body);

        // Assert
        assert_eq!(order.currency.as_str(), "EUR");
        assert_eq!(order.tax_mode, TaxMode::Inclusive);
        assert_eq!(
            order.date,
            date!(2025 - 07 - 01),
            "the shop's date, not GMT's 30 June"
        );
        assert_eq!(
            order.lines.len(),
            6,
            "the coupon is on the lines: no discount line for it"
        );
        let mug = &order.lines[0];
        assert_line(
            mug,
            Product,
            Some("MUG-BLUE"),
            ("3", "11.90", "3.57"),
            "5.13",
        );
        assert_eq!(mug.description, "Kaffeebecher „Blau“ – 350 ml");
        assert_eq!(
            (mug.tax_rate, mug.tax_label.as_deref()),
            (Some(d("0.19")), Some("DE-MWST.-1"))
        );
        let book = &order.lines[1];
        assert_line(
            book,
            Product,
            Some("BOOK-COOK"),
            ("1", "21.40", "2.14"),
            "1.26",
        );
        assert_eq!(book.tax_rate, Some(d("0.07")));
        let solar = &order.lines[2];
        assert_line(
            solar,
            Product,
            Some("SOLAR-100W"),
            ("1", "89.00", "0"),
            "0.00",
        );
        assert_eq!(solar.tax_rate, Some(Decimal::ZERO), "zero-rated");
        assert_line(&order.lines[3], Shipping, None, ("1", "4.90", "0"), "0.78");
        assert_line(&order.lines[4], Fee, None, ("1", "2.38", "0"), "0.38");
        assert_eq!(order.lines[4].description, "Geschenkverpackung");
        assert_line(&order.lines[5], Discount, None, ("1", "5.00", "0"), "0.80");
        assert_eq!(order.lines[5].description, "Treuerabatt");
        assert_eq!(order.total, d("142.67"));
        assert_eq!(order.total_tax, d("6.75"));
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(lines_tax(&order.lines), order.total_tax);
        assert_eq!(
            order.payments,
            vec![Payment {
                method: stripe(),
                amount: d("142.67"),
                date: date!(2025 - 07 - 01),
                reference: Some("ch_3PXzK2LkdIwHu7ix0M4n2Vq8".into()),
            }]
        );
        assert_eq!(order.customer.unwrap().id.as_deref(), Some("88"));
    }

    #[test]
    fn unpaid_checkouts_and_deleted_orders_book_nothing() {
        for status in ["pending", "checkout-draft", "failed"] {
            let body = edited("woocommerce/order_create_response.json", |o| {
                o["status"] = json!(status);
            });
            match order(&body).unwrap() {
                Normalised::Nothing { reason } => {
                    assert_eq!(
                        reason,
                        format!("WooCommerce order 727 is {status}: not a sale (yet)")
                    );
                }
                other => panic!("{status}: {other:?}"),
            }
        }
        assert!(matches!(
            order(br#"{"id":727}"#).unwrap(),
            Normalised::Nothing { reason } if reason.contains("deleted")
        ));
    }

    #[test]
    fn cancelled_orders_are_flagged_and_refunded_ones_stay_sales() {
        let cancelled = edited("woocommerce/order_create_response.json", |o| {
            o["status"] = json!("cancelled");
        });
        assert!(booked(&cancelled).cancelled);
        let refunded = edited("woocommerce/order_create_response.json", |o| {
            o["status"] = json!("refunded");
        });
        let order = booked(&refunded);
        assert!(!order.cancelled);
        assert_eq!(order.amount_paid(), d("29.35"));
    }

    #[test]
    fn an_order_without_a_paid_date_has_no_payment_even_when_processing() {
        // Cash on delivery: processing, not paid.
        let body = edited("woocommerce/order_create_response.json", |o| {
            o["payment_method"] = json!("cod");
            o["date_paid"] = json!(null);
            o["date_paid_gmt"] = json!(null);
        });
        assert!(booked(&body).payments.is_empty());
    }

    #[test]
    fn reference_refunds_credit_an_amount_only_refund_as_an_adjustment() {
        // The documentation's refunds belong to its order 723; only the order's number,
        // currency and tax basis are taken from the order, so the 727 sample stands in.
        let refunds = refunds(
            &fixture("woocommerce/order_create_response.json"),
            &fixture("woocommerce/refunds_list_response.json"),
        )
        .unwrap();

        assert_eq!(refunds.len(), 2);
        let amount_only = &refunds[0];
        assert_eq!(amount_only.refund_id, "726");
        assert_eq!(
            (
                amount_only.order_id.as_str(),
                amount_only.order_number.as_str()
            ),
            ("727", "727")
        );
        assert_eq!(amount_only.date, date!(2017 - 03 - 21));
        assert_eq!(amount_only.lines.len(), 1);
        assert_line(
            &amount_only.lines[0],
            Adjustment,
            None,
            ("1", "10.00", "0"),
            "0",
        );
        assert_eq!(amount_only.total, d("10.00"));
        assert!(
            amount_only.returned.is_empty(),
            "refunded_payment false: no money moved through the gateway"
        );

        let item = &refunds[1];
        assert_eq!(item.refund_id, "724");
        assert_eq!(
            item.lines.len(),
            1,
            "the line accounts for the whole amount"
        );
        assert_line(&item.lines[0], Product, None, ("1", "9.00", "0"), "0.00");
        assert_eq!(item.lines[0].description, "Woo Album #2");
        assert_eq!(item.total, d("9.00"));
        assert_eq!(lines_total(&item.lines, item.tax_mode), item.total);
    }

    /// Sales tax booked per jurisdiction needs each rate's part of a line's tax: WooCommerce
    /// lists them per rate id (`taxes[]`), named by the order's `tax_lines`.
    #[test]
    fn each_rates_tax_on_a_line_is_kept_as_a_part_named_by_its_rate_code() {
        let body = edited("woocommerce/order_eur_tax_inclusive.json", |o| {
            o["tax_lines"].as_array_mut().unwrap().push(json!({
                "id": 913, "rate_code": "CA-BC-PST-4", "rate_id": 4, "label": "PST",
                "compound": false, "tax_total": "0.07", "shipping_tax_total": "0.00",
                "rate_percent": 7
            }));
            o["line_items"][1]["taxes"] = json!([
                {"id": 2, "total": "1.26", "subtotal": "1.4"},
                {"id": 4, "total": "0.07", "subtotal": "0.07"}
            ]);
        });
        let order = booked(&body);
        let parts: Vec<(Option<&str>, Option<Decimal>, Decimal)> = order.lines[1]
            .tax_parts
            .iter()
            .map(|p| (p.label.as_deref(), p.rate, p.amount))
            .collect();
        assert_eq!(
            parts,
            [
                (Some("DE-MWST. ERM.-2"), Some(d("0.07")), d("1.26")),
                (Some("CA-BC-PST-4"), Some(d("0.07")), d("0.07")),
            ]
        );
        // Refunds list their taxes negative; the parts are signed like the line's tax.
        let refunds = refunds(
            &fixture("woocommerce/order_eur_tax_inclusive.json"),
            &fixture("woocommerce/refunds_eur_tax_inclusive.json"),
        )
        .unwrap();
        let line = &refunds[0].lines[0];
        assert_eq!(line.tax, d("1.71"));
        assert_eq!(line.tax_parts.len(), 1);
        assert_eq!(line.tax_parts[0].amount, d("1.71"));
        assert_eq!(line.tax_parts[0].label.as_deref(), Some("DE-MWST.-1"));
    }

    #[test]
    fn a_gateway_refund_of_a_tax_inclusive_order_credits_goods_and_shipping() {
        let refunds = refunds(
            &fixture("woocommerce/order_eur_tax_inclusive.json"),
            &fixture("woocommerce/refunds_eur_tax_inclusive.json"),
        )
        .unwrap();

        assert_eq!(refunds.len(), 1);
        let refund = &refunds[0];
        assert_eq!(
            (refund.refund_id.as_str(), refund.order_id.as_str()),
            ("5290", "5281")
        );
        assert_eq!(refund.currency.as_str(), "EUR");
        assert_eq!(refund.tax_mode, TaxMode::Inclusive);
        assert_eq!(refund.lines.len(), 2);
        assert_line(
            &refund.lines[0],
            Product,
            Some("MUG-BLUE"),
            ("1", "10.71", "0"),
            "1.71",
        );
        assert_eq!(refund.lines[0].tax_rate, Some(d("0.19")));
        assert_line(&refund.lines[1], Shipping, None, ("1", "4.90", "0"), "0.78");
        assert_eq!(refund.total, d("15.61"));
        assert_eq!(refund.total_tax, d("2.49"));
        assert_eq!(
            lines_total(&refund.lines, refund.tax_mode),
            refund.total,
            "no adjustment needed"
        );
        assert_eq!(
            refund.returned,
            vec![Payment {
                method: stripe(),
                amount: d("15.61"),
                date: date!(2025 - 07 - 04),
                reference: None,
            }]
        );
    }

    #[test]
    fn a_refund_taxed_at_the_subtotal_returns_the_tax_its_tax_lines_state() {
        // A store that rounds tax at the subtotal: two lines of 3.00 at 7.5% each show 0.23,
        // but the refund returned 0.45 of tax (6.00 × 7.5%), and 6.45 in all.
        let line = |id: u64, item: u64| {
            json!({"id": id, "name": "Ship Your Idea", "product_id": 22, "quantity": -1,
                   "subtotal": "-3.00", "subtotal_tax": "-0.23", "total": "-3.00",
                   "total_tax": "-0.23", "taxes": [{"id": 75, "total": "-0.23",
                                                   "subtotal": "-0.23"}],
                   "meta_data": [{"key": "_refunded_item_id", "value": item.to_string()}],
                   "sku": format!("SYI-{item}")})
        };
        let refund = json!([{
            "id": 731, "date_created_gmt": "2025-01-11T09:00:00", "amount": "6.45",
            "reason": "", "refunded_by": 1, "refunded_payment": true,
            "line_items": [line(740, 315), line(741, 316)],
            "tax_lines": [{"id": 742, "rate_code": "US-CA-STATE TAX", "rate_id": 75,
                           "label": "State Tax", "compound": false, "tax_total": "-0.45",
                           "shipping_tax_total": "0.00", "rate_percent": 7.5}],
            "shipping_lines": [], "fee_lines": []
        }]);
        let refunds = refunds(
            &fixture("woocommerce/order_create_response.json"),
            &serde_json::to_vec(&refund).unwrap(),
        )
        .unwrap();
        let refund = &refunds[0];
        assert_eq!(refund.total_tax, d("0.45"));
        assert!(
            refund.lines.iter().all(|line| line.kind == Product),
            "no adjustment line for a tax cent: {:#?}",
            refund.lines
        );
        assert_credit_returns_stated_tax(refund, "0.45");
    }

    #[test]
    fn managed_stock_is_an_absolute_level_and_unmanaged_stock_is_nothing() {
        assert!(
            stock(&fixture("woocommerce/product_retrieve_response.json"))
                .unwrap()
                .is_empty(),
            "manage_stock false"
        );

        let managed = br#"{"id":794,"sku":"HOODIE-BLUE-M","type":"simple","manage_stock":true,
            "stock_quantity":18,"stock_status":"instock","price":"45.00","date_modified_gmt":"2025-01-10T17:06:00"}"#;
        let expected = vec![StockChange {
            platform: Platform::WooCommerce,
            item_id: "794".into(),
            sku: Some("HOODIE-BLUE-M".into()),
            location: None,
            level: StockLevel::Absolute(d("18")),
            unit_cost: None,
            as_of: None,
            name: None,
        }];
        // The product's modification time (UTC, WooCommerce's `_gmt` has no offset) orders
        // its levels.
        let mut dated = expected.clone();
        dated[0].as_of = Some("2025-01-10T17:06:00Z".into());
        assert_eq!(stock(managed).unwrap(), dated);

        let action =
            br#"{"action":"woocommerce_product_set_stock","arg":{"id":794,"sku":"HOODIE-BLUE-M",
            "manage_stock":true,"stock_quantity":18}}"#;
        assert_eq!(stock(action).unwrap(), expected);

        let id_only = br#"{"action":"woocommerce_variation_set_stock","arg":795}"#;
        let err = stock(id_only).unwrap_err();
        assert!(err.to_string().contains("`arg` is 795"), "{err}");

        let inherited =
            br#"{"id":795,"sku":"HOODIE-BLUE-L","manage_stock":"parent","stock_quantity":18}"#;
        assert!(stock(inherited).unwrap().is_empty());
    }

    #[test]
    fn a_products_cost_of_goods_is_its_unit_cost() {
        let with_cogs = br#"{"id":794,"sku":"HOODIE-BLUE-M","manage_stock":true,
            "stock_quantity":18,"cost_of_goods_sold":{"values":[{"defined_value":12.5,
            "effective_value":12.5}],"total_value":12.5}}"#;
        assert_eq!(stock(with_cogs).unwrap()[0].unit_cost, Some(d("12.5")));
        let broken = br#"{"id":794,"manage_stock":true,"stock_quantity":18,
            "cost_of_goods_sold":{"total_value":"a lot"}}"#;
        assert!(stock(broken).is_err());
    }

    #[test]
    fn broken_orders_are_refused_with_the_field_at_fault() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edited("woocommerce/order_create_response.json", |o| {
                    o.as_object_mut().unwrap().remove("total");
                }),
                "woocommerce order 727: `total` is missing",
            ),
            (
                edited("woocommerce/order_create_response.json", |o| {
                    o["line_items"][1]["subtotal"] = json!("twelve");
                }),
                "woocommerce order 727: `line_items[1].subtotal` is \"twelve\", not a decimal amount",
            ),
            (
                edited("woocommerce/order_create_response.json", |o| {
                    o["currency"] = json!("US$")
                }),
                "woocommerce order 727: `currency` is \"US$\", not an ISO 4217 currency code",
            ),
        ];
        for (body, expected) in cases {
            let err = order(&body).unwrap_err();
            assert!(
                err.to_string().starts_with(expected),
                "expected {expected:?}, got {err}"
            );
        }
        let err = refunds(
            &fixture("woocommerce/order_create_response.json"),
            b"[{\"id\":1}]",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "woocommerce refund 1 of order 727: `date_created_gmt` is missing (check the webhook's \
             API version: older and newer versions name fields differently)"
        );
    }
}
