//! Adobe Commerce (Magento 2) through Adobe I/O Events: a CloudEvents envelope whose
//! `data.value` holds the fields subscribed for the event (notes §5.4–5.5). The
//! `{"event": {"data": {"value": …}}}` form of Adobe's documentation, and a bare resource (what
//! a REST `GET` answers, if the processor hydrates), are read the same way.
//!
//! - **Orders and invoices:** an order event (`sales_order_save_after`, `…_commit_after`,
//!   `order_management.place`) is the order as it stands: its lines and totals, and as payment
//!   what Magento has captured so far (`total_paid`, which Magento raises each time an invoice
//!   is paid and re-saves the order). An invoice event (`sales_order_invoice_save_after`) is a
//!   capture: it normalises to the same order (same `order_id`, the order's entity id, and the
//!   order's `increment_id` as its number, never the invoice's), with the invoice's lines and
//!   totals and, once the invoice is paid (state 2), its grand total as the payment. Magento
//!   invoices an order in full unless the merchant splits it, so the two agree; a partial
//!   invoice carries only the lines it invoices, and the processor must treat it as a payment
//!   on the booked order, not as a smaller replacement of it. The invoice does not carry its
//!   order's number: subscribe `order_increment_id`, or have the processor add it.
//! - **Not a sale:** an order in state `pending_payment` (waiting for an external gateway);
//!   a cancelled invoice (state 3).
//! - **Currency:** `order_currency_code` and the order-currency amounts (every amount has a
//!   `base_*` twin in the base currency, which is not used).
//! - **Tax basis:** always exclusive: Magento's row amounts (`row_total`, `shipping_amount`)
//!   exclude tax whatever the catalogue setting, and `price_incl_tax` is derived from them.
//!   With prices including tax and discounts applied to them, an item's `discount_amount`
//!   includes the tax it took off (`discount_tax_compensation_amount`); the line's discount is
//!   the difference, so net + `tax_amount` is what the customer paid for the row.
//! - **Lines:** items with a `row_total`; container rows (a bundle's parent, a configurable's
//!   child) carry no money of their own and are skipped. A `giftcard` product is a gift card
//!   sold.
//! - **Gift cards and store credit:** Magento takes them off `grand_total`; here they are
//!   payments (gift card, and store credit paid from the same kind of liability), so the
//!   order's total is `grand_total` plus `gift_cards_amount` and `customer_balance_amount`.
//!   Reward points taken off the total are a discount line.
//! - **Credit memos:** lines, shipping, `adjustment_positive` (an extra refund, a positive
//!   adjustment) and `adjustment_negative` (a fee kept, a negative one). Money returned is the
//!   grand total once the memo is refunded (state 2), and any gift-card amount goes back to
//!   the gift card.
//! - **Dates** are Magento's `YYYY-MM-DD HH:MM:SS`, in UTC.

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

const PLATFORM: Platform = Platform::Magento;

/// An order, order-placement or invoice event (see the module docs for how an invoice maps to
/// an order).
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing (often: not subscribed) or
/// unparseable.
pub fn order(body: &[u8]) -> Result<Normalised, NormaliseError> {
    let envelope = parse_json(PLATFORM, "event", body)?;
    let probe = Ctx::new(PLATFORM, "event");
    let (event_type, value, path) = event_value(&probe, &envelope)?;
    let is_invoice = match &event_type {
        Some(t) => t.contains("invoice"),
        None => value.get("order_id").is_some(),
    };
    if is_invoice {
        invoice(value, path)
    } else {
        sales_order(value, path)
    }
}

fn sales_order(value: &Value, path: &str) -> Result<Normalised, NormaliseError> {
    let probe = Ctx::new(PLATFORM, "order");
    let entity_id = Node::at(&probe, value, path)?.string("entity_id")?;
    let ctx = Ctx::new(PLATFORM, format!("order {entity_id}"));
    let root = Node::at(&ctx, value, path)?;
    let number = root.string("increment_id")?;
    let state = root.opt_string("state")?.unwrap_or_default();
    if state == "pending_payment" {
        return Ok(Normalised::Nothing {
            reason: format!(
                "Adobe Commerce order {number} is pending_payment: the gateway has not \
                 confirmed it"
            ),
        });
    }
    let date = root.field("created_at")?.iso_date()?;
    let document = Document::read(&root, "qty_ordered")?;

    let mut payments = document.liability_payments(date);
    let paid = root.dec_or_zero("total_paid")?;
    if paid > Decimal::ZERO {
        let paid_on = match root.get("updated_at") {
            Some(node) => node.iso_date()?,
            None => date,
        };
        payments.push(Payment {
            method: gateway(&root)?,
            amount: paid,
            date: paid_on,
            reference: None,
        });
    }
    Ok(Normalised::Order(Order {
        platform: PLATFORM,
        order_id: entity_id,
        number,
        date,
        currency: root.currency_at("order_currency_code")?,
        tax_mode: TaxMode::Exclusive,
        customer: customer(&root)?,
        total: document.total,
        total_tax: document.total_tax,
        lines: document.lines,
        payments,
        cancelled: matches!(state.as_str(), "canceled" | "cancelled"),
    }))
}

/// Invoice states: `Magento\Sales\Model\Order\Invoice::STATE_*`.
const INVOICE_PAID: &str = "2";
const INVOICE_CANCELED: &str = "3";

fn invoice(value: &Value, path: &str) -> Result<Normalised, NormaliseError> {
    let probe = Ctx::new(PLATFORM, "invoice");
    let entity_id = Node::at(&probe, value, path)?.string("entity_id")?;
    let ctx = Ctx::new(PLATFORM, format!("invoice {entity_id}"));
    let root = Node::at(&ctx, value, path)?;
    let invoice_number = root.opt_string("increment_id")?;
    let state = root.opt_string("state")?.unwrap_or_default();
    if state == INVOICE_CANCELED {
        return Ok(Normalised::Nothing {
            reason: format!("Adobe Commerce invoice {entity_id} is cancelled: nothing captured"),
        });
    }
    let order_id = root.string("order_id")?;
    let number = match root.get("order").and_then(|o| o.get("increment_id")) {
        Some(nested) => nested.text()?,
        None => root.string("order_increment_id")?,
    };
    let date = root.field("created_at")?.iso_date()?;
    let document = Document::read(&root, "qty")?;

    let mut payments = document.liability_payments(date);
    if state == INVOICE_PAID {
        let captured = root.dec("grand_total")?;
        if captured > Decimal::ZERO {
            payments.push(Payment {
                method: gateway(&root)?,
                amount: captured,
                date,
                reference: match root.opt_string("transaction_id")? {
                    Some(tx) => Some(tx),
                    None => invoice_number,
                },
            });
        }
    }
    Ok(Normalised::Order(Order {
        platform: PLATFORM,
        order_id,
        number,
        date,
        currency: root.currency_at("order_currency_code")?,
        tax_mode: TaxMode::Exclusive,
        customer: customer(&root)?,
        total: document.total,
        total_tax: document.total_tax,
        lines: document.lines,
        payments,
        cancelled: false,
    }))
}

/// A `sales_order_creditmemo_save_after` event as a [`Refund`] of the order described by
/// `order`. A cancelled credit memo (state 3) credits nothing and is refused.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable, or a credit memo in
/// another currency than its order.
pub fn refund(body: &[u8], order: &OrderContext) -> Result<Refund, NormaliseError> {
    let envelope = parse_json(PLATFORM, "credit memo", body)?;
    let probe = Ctx::new(PLATFORM, "credit memo");
    let (_, value, path) = event_value(&probe, &envelope)?;
    let entity_id = Node::at(&probe, value, path)?.string("entity_id")?;
    let ctx = Ctx::new(
        PLATFORM,
        format!("credit memo {entity_id} of order {}", order.number),
    );
    let root = Node::at(&ctx, value, path)?;
    let state = root.opt_string("state")?.unwrap_or_default();
    if state == "3" {
        return Err(ctx.inconsistent(
            "the credit memo is cancelled (state 3): it credits nothing; discard the event",
        ));
    }
    if let Some(code) = root.get("order_currency_code") {
        let code = code.currency()?;
        if code != order.currency {
            return Err(ctx.inconsistent(format!(
                "the credit memo is in {code}, but the order was booked in {}",
                order.currency
            )));
        }
    }
    let date = root.field("created_at")?.iso_date()?;
    let mut document = Document::read(&root, "qty")?;
    for (key, description, sign) in [
        ("adjustment_positive", "Adjustment refund", Decimal::ONE),
        (
            "adjustment_negative",
            "Adjustment fee",
            Decimal::NEGATIVE_ONE,
        ),
    ] {
        let amount = root.dec_or_zero(key)?.abs();
        if !amount.is_zero() {
            document.lines.push(single_line(
                LineKind::Adjustment,
                description.to_owned(),
                sign * amount,
                TaxInfo::default(),
            ));
        }
    }

    let mut returned = Vec::new();
    if state.is_empty() || state == "2" {
        let grand_total = root.dec("grand_total")?;
        if grand_total > Decimal::ZERO {
            returned.push(Payment {
                method: gateway(&root)?,
                amount: grand_total,
                date,
                reference: root.opt_string("transaction_id")?,
            });
        }
    }
    returned.extend(document.liability_payments(date));
    Ok(Refund {
        platform: PLATFORM,
        refund_id: entity_id,
        order_id: root.string("order_id")?,
        order_number: order.number.clone(),
        date,
        currency: order.currency.clone(),
        tax_mode: TaxMode::Exclusive,
        total: document.total,
        total_tax: document.total_tax,
        lines: document.lines,
        returned,
    })
}

/// A stock item event (`cataloginventory_stock_item_save_after` and `…_commit_after`:
/// `product_id`, `qty`), or a product event carrying `stock_data.qty`: the quantity on hand.
/// An MSI `source_code` is the location.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn stock(body: &[u8]) -> Result<Vec<StockChange>, NormaliseError> {
    let envelope = parse_json(PLATFORM, "stock item", body)?;
    let ctx = Ctx::new(PLATFORM, "stock item");
    let (_, value, path) = event_value(&ctx, &envelope)?;
    let root = Node::at(&ctx, value, path)?;
    let sku = root.opt_string("sku")?;
    let item_id = match (
        root.opt_string("product_id")?,
        root.opt_string("entity_id")?,
        &sku,
    ) {
        (Some(id), _, _) | (None, Some(id), _) => id,
        (None, None, Some(sku)) => sku.clone(),
        (None, None, None) => return Err(root.missing("product_id")),
    };
    let quantity = match root.get("stock_data") {
        Some(data) => data.dec("qty")?,
        None => root.dec("qty")?,
    };
    Ok(vec![StockChange {
        platform: PLATFORM,
        item_id,
        sku,
        location: root.opt_string("source_code")?,
        level: StockLevel::Absolute(quantity),
    }])
}

/// The event's type (without `com.adobe.commerce.`), its `data.value`, and that value's path.
fn event_value<'v>(
    ctx: &Ctx,
    envelope: &'v Value,
) -> Result<(Option<String>, &'v Value, &'static str), NormaliseError> {
    let root = Node::root(ctx, envelope)?;
    let event_type = root
        .opt_string("type")?
        .map(|t| t.trim_start_matches("com.adobe.commerce.").to_owned());
    let (value, path) = if let Some(value) = envelope.pointer("/data/value") {
        (value, "data.value")
    } else if let Some(value) = envelope.pointer("/event/data/value") {
        (value, "event.data.value")
    } else if root.has("data") || root.has("event") {
        return Err(root.missing("data.value"));
    } else {
        (envelope, "")
    };
    Ok((event_type, value, path))
}

impl<'a> Node<'a> {
    /// A node for `value`, reached by `path`; it must be an object.
    fn at(ctx: &'a Ctx, value: &'a Value, path: &str) -> Result<Node<'a>, NormaliseError> {
        let node = Node::nested(ctx, value, path);
        if value.is_object() {
            Ok(node)
        } else {
            Err(node.invalid("a JSON object"))
        }
    }
}

/// Lines and totals shared by orders, invoices and credit memos.
struct Document {
    lines: Vec<Line>,
    total: Decimal,
    total_tax: Decimal,
    gift_cards: Decimal,
    store_credit: Decimal,
}

impl Document {
    /// `quantity_key`: `qty_ordered` on orders, `qty` on invoices and credit memos.
    fn read(root: &Node<'_>, quantity_key: &str) -> Result<Self, NormaliseError> {
        let mut lines = Vec::new();
        let mut item_discounts = Decimal::ZERO;
        let items = root.list("items")?;
        for item in &items {
            let Some(row_total) = item.opt_dec("row_total")? else {
                continue; // a container row: its children carry the money
            };
            let quantity = item.dec(quantity_key)?;
            let tax = item.dec_or_zero("tax_amount")?;
            let discount = item.dec_or_zero("discount_amount")?.abs();
            let hidden_tax = item.dec_or_zero("discount_tax_compensation_amount")?;
            let price = item.dec_or_zero("price")?;
            if quantity.is_zero()
                || (row_total.is_zero() && tax.is_zero() && discount.is_zero() && price.is_zero())
            {
                continue; // not in this document (credit memos list every order item), or a child row
            }
            item_discounts += discount;
            let gift_card = item.opt_string("product_type")?.as_deref() == Some("giftcard");
            lines.push(row_line(
                if gift_card {
                    LineKind::GiftCardSale
                } else {
                    LineKind::Product
                },
                item.opt_string("sku")?,
                item.opt_string("name")?
                    .unwrap_or_else(|| "Item".to_owned()),
                quantity,
                (row_total, row_total - (discount - hidden_tax)),
                TaxInfo {
                    amount: tax,
                    rate: item
                        .opt_dec("tax_percent")?
                        .map(|percent| percent / Decimal::ONE_HUNDRED),
                    label: None,
                },
            ));
        }
        if !items.is_empty() && lines.is_empty() && root.dec_or_zero("subtotal")? != Decimal::ZERO {
            return Err(items[0].missing("row_total"));
        }

        let shipping = root.dec_or_zero("shipping_amount")?;
        let shipping_discount = root.dec_or_zero("shipping_discount_amount")?.abs();
        let shipping_tax = root.dec_or_zero("shipping_tax_amount")?;
        if !shipping.is_zero() || !shipping_tax.is_zero() {
            let hidden = root.dec_or_zero("shipping_discount_tax_compensation_amount")?;
            lines.push(row_line(
                LineKind::Shipping,
                None,
                root.opt_string("shipping_description")?
                    .unwrap_or_else(|| "Shipping".to_owned()),
                Decimal::ONE,
                (shipping, shipping - (shipping_discount - hidden)),
                TaxInfo::amount(shipping_tax),
            ));
        }

        let order_discount = root.dec_or_zero("discount_amount")?.abs();
        let unallocated = order_discount - item_discounts - shipping_discount;
        if unallocated > Decimal::ZERO {
            lines.push(single_line(
                LineKind::Discount,
                root.opt_string("discount_description")?
                    .unwrap_or_else(|| "Order discount".to_owned()),
                unallocated,
                TaxInfo::default(),
            ));
        }
        let rewards = root.dec_or_zero("reward_currency_amount")?;
        if rewards > Decimal::ZERO {
            lines.push(single_line(
                LineKind::Discount,
                "Reward points".to_owned(),
                rewards,
                TaxInfo::default(),
            ));
        }

        let gift_cards = root.dec_or_zero("gift_cards_amount")?;
        let store_credit = root.dec_or_zero("customer_balance_amount")?;
        Ok(Document {
            lines,
            total: root.dec("grand_total")? + gift_cards + store_credit,
            total_tax: root.dec_or_zero("tax_amount")?,
            gift_cards,
            store_credit,
        })
    }

    /// Gift cards and store credit used on the document, as payments out of (or, on a credit
    /// memo, back into) the customer's liability.
    fn liability_payments(&self, date: time::Date) -> Vec<Payment> {
        [self.gift_cards, self.store_credit]
            .into_iter()
            .filter(|amount| *amount > Decimal::ZERO)
            .map(|amount| Payment {
                method: PaymentMethod::GiftCard,
                amount,
                date,
                reference: None,
            })
            .collect()
    }
}

/// The payment method, when the subscription includes it (`payment.method`).
fn gateway(root: &Node<'_>) -> Result<PaymentMethod, NormaliseError> {
    let name = match root.get("payment").and_then(|p| p.get("method")) {
        Some(method) => Some(method.text()?),
        None => root.opt_string("payment_method")?,
    };
    Ok(PaymentMethod::Gateway {
        name: name.unwrap_or_else(|| "magento".to_owned()),
    })
}

fn customer(root: &Node<'_>) -> Result<Option<Customer>, NormaliseError> {
    Ok(normalise::customer(
        root.opt_string("customer_id")?,
        root.opt_string("customer_email")?,
        [
            root.opt_string("customer_firstname")?,
            root.opt_string("customer_lastname")?,
        ],
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;
    use xcs_shared::domain::Currency;
    use xcs_shared::domain::LineKind::{Adjustment, GiftCardSale, Product, Shipping};

    use super::*;
    use crate::normalise::lines_total;
    use crate::normalise::test_support::{assert_adds_up, assert_line, d, edited, fixture};

    fn booked(body: &[u8]) -> Order {
        match order(body).unwrap() {
            Normalised::Order(order) => order,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    fn eur_order() -> OrderContext {
        OrderContext {
            number: "000004711".into(),
            currency: Currency::try_from("EUR".to_owned()).unwrap(),
            tax_mode: TaxMode::Exclusive,
        }
    }

    #[test]
    fn an_order_event_books_tax_inclusive_catalogue_discounts_net_of_their_hidden_tax() {
        // Arrange: EUR, catalogue prices including VAT, a 10% coupon applied to prices
        // including tax (so discounts carry `discount_tax_compensation_amount`), a zero-rated
        // donation, a gift card sold, a configurable's child row, 50.00 paid by gift card.
        let body = fixture("magento/order_save_after_eur.json");

        // Act
        let order = booked(&body);

        // Assert
        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("4711", "000004711")
        );
        assert_eq!(order.date, date!(2025 - 05 - 05));
        assert_eq!(order.currency.as_str(), "EUR");
        assert_eq!(order.tax_mode, TaxMode::Exclusive);
        assert_eq!(
            order.lines.len(),
            5,
            "the configurable's child row carries no money"
        );
        let machine = &order.lines[0];
        // 10% of 357.00 incl. VAT is 35.70, of which 5.70 is VAT: 30.00 off the net price.
        assert_line(
            machine,
            Product,
            Some("ESP-200"),
            ("1", "300.00", "30.00"),
            "51.30",
        );
        assert_eq!(machine.tax_rate, Some(d("0.19")));
        assert_line(
            &order.lines[1],
            Product,
            Some("BEANS-1KG"),
            ("2", "20.00", "4.00"),
            "2.52",
        );
        assert_eq!(order.lines[1].tax_rate, Some(d("0.07")));
        let donation = &order.lines[2];
        assert_line(donation, Product, Some("DONATE-5"), ("1", "5.00", "0"), "0");
        assert_eq!(donation.tax_rate, Some(Decimal::ZERO), "zero-rated");
        assert_line(
            &order.lines[3],
            GiftCardSale,
            Some("GIFT-25"),
            ("1", "25.00", "0"),
            "0",
        );
        assert_line(&order.lines[4], Shipping, None, ("1", "5.00", "0"), "0.95");
        assert_eq!(order.lines[4].description, "DHL - Standard");
        // grand_total 345.77 is after the 50.00 gift card: the charge is 395.77.
        assert_eq!(order.total, d("395.77"));
        assert_eq!(order.total_tax, d("54.77"));
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(
            order.payments,
            vec![
                Payment {
                    method: PaymentMethod::GiftCard,
                    amount: d("50.00"),
                    date: date!(2025 - 05 - 05),
                    reference: None,
                },
                Payment {
                    method: PaymentMethod::Gateway {
                        name: "braintree".into()
                    },
                    amount: d("345.77"),
                    date: date!(2025 - 05 - 05),
                    reference: None,
                },
            ]
        );
        assert_eq!(order.amount_paid(), order.total);
        assert_eq!(order.customer.unwrap().name.as_deref(), Some("Jonas Weber"));
    }

    #[test]
    fn orders_awaiting_the_gateway_book_nothing_and_cancelled_ones_are_flagged() {
        let pending = edited("magento/order_save_after_eur.json", |e| {
            e["data"]["value"]["state"] = json!("pending_payment");
        });
        assert!(matches!(
            order(&pending).unwrap(),
            Normalised::Nothing { .. }
        ));

        let cancelled = edited("magento/order_save_after_eur.json", |e| {
            e["data"]["value"]["state"] = json!("canceled");
            e["data"]["value"]["total_paid"] = json!(null);
        });
        let order = booked(&cancelled);
        assert!(order.cancelled);
        assert_eq!(
            order.payments.len(),
            1,
            "only the gift card, which Magento refunds separately"
        );
    }

    #[test]
    fn an_invoice_is_the_order_as_captured_under_the_orders_number() {
        // The documentation's invoice event, with the order's number added to its fields.
        let body = edited(
            "magento/io_event_sales_order_invoice_save_after.json",
            |e| {
                e["event"]["data"]["value"]["order_increment_id"] = json!("000000008");
            },
        );

        let order = booked(&body);

        assert_eq!(
            order.order_id, "8",
            "the order's entity id, not the invoice's 13"
        );
        assert_eq!(
            order.number, "000000008",
            "the order's number, not the invoice's"
        );
        assert_eq!(order.date, date!(2023 - 04 - 06));
        assert_eq!(order.currency.as_str(), "USD");
        assert_eq!(order.lines.len(), 2);
        assert_line(
            &order.lines[0],
            Product,
            Some("simple-product-2"),
            ("3", "200", "0"),
            "0",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("simple-product-1"),
            ("5", "100", "0"),
            "0",
        );
        assert_eq!(order.total, d("1100"));
        assert_eq!(lines_total(&order.lines, order.tax_mode), order.total);
        assert_eq!(
            order.payments,
            vec![Payment {
                method: PaymentMethod::Gateway {
                    name: "magento".into()
                },
                amount: d("1100"),
                date: date!(2023 - 04 - 06),
                reference: Some("000000013".into()),
            }],
            "state 2: paid"
        );
        assert_eq!(order.customer, None);
    }

    #[test]
    fn an_invoice_without_its_orders_number_names_the_field_to_subscribe() {
        let err = order(&fixture(
            "magento/io_event_sales_order_invoice_save_after.json",
        ))
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(
                "magento invoice 13: `event.data.value.order_increment_id` is missing (Adobe I/O \
                 Events sends only the fields subscribed"
            ),
            "{message}"
        );
    }

    #[test]
    fn an_invoice_with_percentage_discounts_keeps_them_on_its_lines() {
        let order = booked(&fixture("magento/invoice_save_after_with_discount.json"));

        assert_eq!(
            (order.order_id.as_str(), order.number.as_str()),
            ("3", "000000003")
        );
        assert_eq!(order.lines.len(), 4);
        // 20% off each row, as Magento allocated it.
        assert_line(
            &order.lines[0],
            Product,
            Some("24-WB03"),
            ("20", "36", "144"),
            "0",
        );
        assert_line(
            &order.lines[1],
            Product,
            Some("24-WB01"),
            ("40", "32", "256"),
            "0",
        );
        assert_line(
            &order.lines[2],
            Product,
            Some("240-LV06"),
            ("1", "22", "4.4"),
            "0",
        );
        assert_line(&order.lines[3], Shipping, None, ("1", "300", "0"), "0");
        assert_eq!(order.total, d("1917.6"));
        assert_adds_up(&order.lines, order.tax_mode, order.total);
        assert_eq!(order.amount_paid(), d("1917.6"));
        assert_eq!(
            order.payments[0].method,
            PaymentMethod::Gateway {
                name: "checkmo".into()
            }
        );
    }

    #[test]
    fn an_open_invoice_is_not_a_payment_and_a_cancelled_one_books_nothing() {
        let open = edited("magento/invoice_save_after_with_discount.json", |e| {
            e["data"]["value"]["state"] = json!(1);
        });
        assert!(booked(&open).payments.is_empty());
        let cancelled = edited("magento/invoice_save_after_with_discount.json", |e| {
            e["data"]["value"]["state"] = json!("3");
        });
        assert!(matches!(
            order(&cancelled).unwrap(),
            Normalised::Nothing { .. }
        ));
    }

    #[test]
    fn a_credit_memo_credits_goods_shipping_and_both_adjustments() {
        let refund = refund(
            &fixture("magento/creditmemo_save_after_eur.json"),
            &eur_order(),
        )
        .unwrap();

        assert_eq!(refund.refund_id, "19");
        assert_eq!(
            (refund.order_id.as_str(), refund.order_number.as_str()),
            ("4711", "000004711")
        );
        assert_eq!(refund.date, date!(2025 - 05 - 12));
        assert_eq!(
            refund.lines.len(),
            4,
            "items not refunded (qty 0) are left out"
        );
        assert_line(
            &refund.lines[0],
            Product,
            Some("BEANS-1KG"),
            ("1", "20.00", "2.00"),
            "1.26",
        );
        assert_line(&refund.lines[1], Shipping, None, ("1", "5.00", "0"), "0.95");
        assert_line(&refund.lines[2], Adjustment, None, ("1", "2.00", "0"), "0");
        assert_eq!(refund.lines[2].description, "Adjustment refund");
        assert_line(&refund.lines[3], Adjustment, None, ("1", "-5.00", "0"), "0");
        assert_eq!(refund.lines[3].description, "Adjustment fee");
        assert_eq!(refund.total, d("22.21"));
        assert_eq!(refund.total_tax, d("2.21"));
        assert_adds_up(&refund.lines, refund.tax_mode, refund.total);
        assert_eq!(
            refund.returned,
            vec![Payment {
                method: PaymentMethod::Gateway {
                    name: "magento".into()
                },
                amount: d("22.21"),
                date: date!(2025 - 05 - 12),
                reference: Some("7xk2p9m1-refund".into()),
            }]
        );
    }

    #[test]
    fn a_credit_memo_in_another_currency_or_cancelled_is_refused() {
        let usd = OrderContext {
            currency: Currency::try_from("USD".to_owned()).unwrap(),
            ..eur_order()
        };
        let err = refund(&fixture("magento/creditmemo_save_after_eur.json"), &usd).unwrap_err();
        assert!(
            err.to_string()
                .contains("in EUR, but the order was booked in USD"),
            "{err}"
        );

        let cancelled = edited("magento/creditmemo_save_after_eur.json", |e| {
            e["data"]["value"]["state"] = json!("3");
        });
        let err = refund(&cancelled, &eur_order()).unwrap_err();
        assert!(err.to_string().contains("cancelled"), "{err}");
    }

    #[test]
    fn stock_events_give_the_quantity_on_hand() {
        assert_eq!(
            stock(&fixture("magento/stock_item_save_commit_after.json")).unwrap(),
            vec![StockChange {
                platform: Platform::Magento,
                item_id: "2045".into(),
                sku: Some("ESP-200".into()),
                location: None,
                level: StockLevel::Absolute(d("37")),
            }]
        );
        // Adobe's product-save example carries the level in stock_data, and only a SKU.
        assert_eq!(
            stock(&fixture(
                "magento/io_event_catalog_product_save_commit_after_cloudevent.json"
            ))
            .unwrap(),
            vec![StockChange {
                platform: Platform::Magento,
                item_id: "eventtest1".into(),
                sku: Some("eventtest1".into()),
                location: None,
                level: StockLevel::Absolute(d("65")),
            }]
        );
    }

    #[test]
    fn unsubscribed_or_broken_fields_are_refused_with_the_field_at_fault() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                edited("magento/order_save_after_eur.json", |e| {
                    e["data"]["value"]
                        .as_object_mut()
                        .unwrap()
                        .remove("grand_total");
                }),
                "magento order 4711: `data.value.grand_total` is missing (Adobe I/O Events",
            ),
            (
                edited("magento/order_save_after_eur.json", |e| {
                    for item in e["data"]["value"]["items"].as_array_mut().unwrap() {
                        item.as_object_mut().unwrap().remove("row_total");
                    }
                }),
                "magento order 4711: `data.value.items[0].row_total` is missing",
            ),
            (
                edited("magento/order_save_after_eur.json", |e| {
                    e["data"]["value"]["tax_amount"] = json!("54,77");
                }),
                "magento order 4711: `data.value.tax_amount` is \"54,77\", not a decimal amount",
            ),
            (
                edited("magento/order_save_after_eur.json", |e| {
                    e["data"]["value"]["order_currency_code"] = json!("€");
                }),
                "magento order 4711: `data.value.order_currency_code` is \"€\", not an ISO 4217",
            ),
            (
                br#"{"specversion":"1.0","data":{"key":"k"}}"#.to_vec(),
                "magento event: `data.value` is missing",
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
