//! Adobe Commerce (Magento 2) through Adobe I/O Events: a CloudEvents envelope whose
//! `data.value` holds the fields subscribed for the event (notes §5.4–5.5). The
//! `{"event": {"data": {"value": …}}}` form of Adobe's documentation, and a bare resource (what
//! `GET /rest/V1/orders/{id}` or `/rest/V1/creditmemo/{id}` answers when the processor fetches
//! what an event lacks, `crate::platforms::magento`), are read the same way. A field the
//! booking needs and the event lacks is [`NormaliseError::Missing`], which is what tells the
//! processor to fetch the resource; a field that is only optional reads as zero or none.
//!
//! - **Orders:** an order event (`sales_order_save_after`, `…_commit_after`,
//!   `order_management.place`) or a fetched order is the order as it stands: its lines and
//!   totals as ordered, and as payment what Magento has captured so far (`total_paid`, which
//!   Magento raises with each paid invoice and saves with the order).
//! - **Invoices are captures, never documents.** Adobe's own schema: "An invoice is a record of
//!   the receipt of payment for an order". The Xero invoice is the Magento order, whole, under
//!   the order's number; a Magento invoice (`sales_order_invoice_save_after`) books no document
//!   of its own and is not normalised into one ([`order`] refuses it): [`subject`] reads which
//!   invoice and order it names, and the processor books the order as it stands (fetched) and
//!   pays, by difference, what the order says was captured. An order invoiced in parts is
//!   therefore booked once with every unit it sold, and each part that captures money adds a
//!   payment of exactly that part (`total_paid` before and after it): no unit is booked twice
//!   or lost, whichever of the order's and the invoices' events arrive, and in whichever order.
//!   Invoice states: 1 open (nothing captured yet), 2 paid, 3 cancelled.
//! - **Not a sale:** an order in state `pending_payment` (waiting for an external gateway).
//! - **Currency:** `order_currency_code` and the order-currency amounts (every amount has a
//!   `base_*` twin in the base currency, which is not used).
//! - **Tax basis:** always exclusive: Magento's row amounts (`row_total`, `shipping_amount`)
//!   exclude tax whatever the catalogue setting, and `price_incl_tax` is derived from them.
//!   With prices including tax and discounts applied to them, an item's `discount_amount`
//!   includes the tax it took off (`discount_tax_compensation_amount`); the line's discount is
//!   the difference, so net + `tax_amount` is what the customer paid for the row.
//! - **Lines:** items with a `row_total` (`items` itself must be there: an order or credit
//!   memo always has items, so an event without them was subscribed without them); container
//!   rows (a bundle's parent, a configurable's child) carry no money of their own and are
//!   skipped. A `giftcard` product is a gift card sold.
//! - **Gift cards and store credit:** Magento takes them off `grand_total`; here they are
//!   payments (gift card, and store credit paid from the same kind of liability), so the
//!   order's total is `grand_total` plus `gift_cards_amount` and `customer_balance_amount`.
//!   Reward points taken off the total are a discount line. An event carries these amounts
//!   beside the others; the REST API puts them in `extension_attributes`, read when the
//!   top level has none.
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

/// An order or order-placement event, or a fetched order.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing (often: not subscribed) or
/// unparseable; an invoice event, which is a capture of its order and not an order (see the
/// module docs), is refused.
pub fn order(body: &[u8]) -> Result<Normalised, NormaliseError> {
    let envelope = parse_json(PLATFORM, "event", body)?;
    let probe = Ctx::new(PLATFORM, "event");
    let (event_type, value, path) = event_value(&probe, &envelope)?;
    if is_invoice(event_type.as_deref(), value) {
        let ids = Ids::read(&probe, value, path)?;
        let ctx = Ctx::new(
            PLATFORM,
            format!("invoice {}", ids.entity_id.as_deref().unwrap_or("?")),
        );
        return Err(ctx.inconsistent(
            "an invoice is a capture of its order, not an order: book it through its order \
             (crate::platforms::magento)",
        ));
    }
    sales_order(value, path)
}

/// What an order-kind event is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// An order event, or a fetched order.
    Order(Ids),
    /// An invoice event, or a fetched invoice: a capture of the order `order_id`.
    Invoice(Ids),
}

/// The ids and state an event carries, read before anything is normalised or fetched. Each is
/// `None` when the subscription left it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// The resource's own entity id (the order's, the invoice's or the credit memo's).
    pub entity_id: Option<String>,
    /// The order an invoice or credit memo belongs to (its entity id).
    pub order_id: Option<String>,
    /// Magento's `state`: for an invoice `1` open, `2` paid, `3` cancelled.
    pub state: Option<String>,
}

/// Invoice states: `Magento\Sales\Model\Order\Invoice::STATE_*`.
const INVOICE_OPEN: &str = "1";
const INVOICE_CANCELED: &str = "3";

impl Ids {
    fn read(ctx: &Ctx, value: &Value, path: &str) -> Result<Ids, NormaliseError> {
        let root = Node::at(ctx, value, path)?;
        Ok(Ids {
            entity_id: root.opt_string("entity_id")?,
            order_id: root.opt_string("order_id")?,
            state: root.opt_string("state")?,
        })
    }

    /// An invoice that captured nothing yet (to be paid offline, by bank transfer...).
    pub fn invoice_open(&self) -> bool {
        self.state.as_deref() == Some(INVOICE_OPEN)
    }

    /// An invoice cancelled (voided): it captured nothing.
    pub fn invoice_cancelled(&self) -> bool {
        self.state.as_deref() == Some(INVOICE_CANCELED)
    }
}

/// Which order or invoice an order-kind event is about.
///
/// # Errors
/// [`NormaliseError`] for a body that is not an event or an id that is not text.
pub fn subject(body: &[u8]) -> Result<Subject, NormaliseError> {
    let envelope = parse_json(PLATFORM, "event", body)?;
    let ctx = Ctx::new(PLATFORM, "event");
    let (event_type, value, path) = event_value(&ctx, &envelope)?;
    let ids = Ids::read(&ctx, value, path)?;
    Ok(if is_invoice(event_type.as_deref(), value) {
        Subject::Invoice(ids)
    } else {
        Subject::Order(ids)
    })
}

/// The ids an event (a credit memo's, most often) or a fetched resource carries.
///
/// # Errors
/// [`NormaliseError`] for a body that is not an event or an id that is not text.
pub fn ids(body: &[u8]) -> Result<Ids, NormaliseError> {
    let envelope = parse_json(PLATFORM, "event", body)?;
    let ctx = Ctx::new(PLATFORM, "event");
    let (_, value, path) = event_value(&ctx, &envelope)?;
    Ids::read(&ctx, value, path)
}

/// An invoice event by its type; a bare resource by its `order_id`, which an invoice has and
/// an order does not.
fn is_invoice(event_type: Option<&str>, value: &Value) -> bool {
    match event_type {
        Some(t) => t.contains("invoice"),
        None => value.get("order_id").is_some(),
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
        unit_cost: None,
        as_of: None,
        // A product event carries the product's name; a stock item event does not.
        name: root.opt_string("name")?.filter(|n| !n.trim().is_empty()),
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

/// The order items a credit memo put back into stock, where it lists them: the
/// `return_to_stock_items` (order item ids) of its creation arguments' `extension_attributes`
/// (`sales-data-creditmemo-creation-arguments-extension-interface`, Adobe's REST schema, as
/// `POST /V1/order/{id}/refund` takes them), when the event carries them at the top level or
/// in the memo's own `extension_attributes`. `None` when it does not say.
fn returned_to_stock(root: &Node<'_>) -> Result<Option<Vec<String>>, NormaliseError> {
    let list = root.get("return_to_stock_items").or_else(|| {
        root.get("extension_attributes")
            .and_then(|e| e.get("return_to_stock_items"))
    });
    let Some(list) = list else {
        return Ok(None);
    };
    let mut ids = Vec::new();
    for id in list.items()? {
        ids.extend(id.opt_text()?);
    }
    Ok(Some(ids))
}

/// Whether a credit memo item's units went back into stock: its `back_to_stock` flag (what
/// the admin's "Return to Stock" box sets on the item, and what Magento's inventory observer
/// reads), else whether the memo's `return_to_stock_items` name its order item. `None` when
/// the event carries neither (they are subscribed fields; Commerce's REST credit memo has
/// neither).
fn back_to_stock(
    item: &Node<'_>,
    returned: Option<&[String]>,
) -> Result<Option<bool>, NormaliseError> {
    if let Some(flag) = item.get("back_to_stock") {
        return Ok(Some(match flag.value() {
            Value::String(text) => !matches!(text.trim(), "" | "0" | "false"),
            Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
            _ => flag.boolean()?,
        }));
    }
    let Some(returned) = returned else {
        return Ok(None);
    };
    let order_item = item.opt_string("order_item_id")?;
    Ok(Some(order_item.is_some_and(|id| returned.contains(&id))))
}

/// A product's unit cost, as `GET /rest/V1/products/{sku}` answers it
/// (`catalog-data-product-interface`): the `cost` attribute among its `custom_attributes`,
/// `None` where the merchant set none.
///
/// # Errors
/// [`NormaliseError`] naming the field that is missing or unparseable.
pub fn product_cost(body: &[u8]) -> Result<Option<Decimal>, NormaliseError> {
    let value = parse_json(PLATFORM, "product", body)?;
    let ctx = Ctx::new(PLATFORM, "product");
    let root = Node::root(&ctx, &value)?;
    let Some(attributes) = root.get("custom_attributes") else {
        return Ok(None);
    };
    for attribute in attributes.items()? {
        if attribute.opt_string("attribute_code")?.as_deref() == Some("cost") {
            return attribute.opt_dec("value");
        }
    }
    Ok(None)
}

/// Lines and totals shared by orders and credit memos.
struct Document {
    lines: Vec<Line>,
    total: Decimal,
    total_tax: Decimal,
    gift_cards: Decimal,
    store_credit: Decimal,
}

impl Document {
    /// `quantity_key`: `qty_ordered` on orders, `qty` on credit memos.
    fn read(root: &Node<'_>, quantity_key: &str) -> Result<Self, NormaliseError> {
        let mut lines = Vec::new();
        let mut item_discounts = Decimal::ZERO;
        let items = root.field("items")?.items()?;
        let returned_to_stock = returned_to_stock(root)?;
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
            let restocked = if quantity_key == "qty" {
                back_to_stock(item, returned_to_stock.as_deref())?
            } else {
                None
            };
            let line = row_line(
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
            );
            lines.push(Line { restocked, ..line });
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
        let rewards = extension_amount(root, "reward_currency_amount")?;
        if rewards > Decimal::ZERO {
            lines.push(single_line(
                LineKind::Discount,
                "Reward points".to_owned(),
                rewards,
                TaxInfo::default(),
            ));
        }

        let gift_cards = extension_amount(root, "gift_cards_amount")?;
        let store_credit = extension_amount(root, "customer_balance_amount")?;
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

/// An amount Adobe Commerce adds to the sales documents (gift cards, store credit, reward
/// points): beside the others in an event, in `extension_attributes` in a REST answer.
fn extension_amount(root: &Node<'_>, key: &str) -> Result<Decimal, NormaliseError> {
    match (root.get(key), root.get("extension_attributes")) {
        (None, Some(extension)) => extension.dec_or_zero(key),
        _ => root.dec_or_zero(key),
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
    use crate::normalise::test_support::{
        assert_adds_up, assert_line, d, edited, fixture, fixture_json,
    };

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
    fn a_fetched_order_reads_as_its_event_does_with_adobes_amounts_in_extension_attributes() {
        // What GET /rest/V1/orders/4711 answers: the order's fields, bare, with the gift card
        // redeemed in extension_attributes (where the REST API puts Adobe Commerce's amounts).
        let event = booked(&fixture("magento/order_save_after_eur.json"));
        let mut rest = fixture_json("magento/order_save_after_eur.json")["data"]["value"].take();
        let gift_cards = rest
            .as_object_mut()
            .unwrap()
            .remove("gift_cards_amount")
            .unwrap();
        rest["extension_attributes"] = json!({"gift_cards_amount": gift_cards});

        let fetched = booked(&serde_json::to_vec(&rest).unwrap());

        assert_eq!(fetched, event);
        assert_eq!(fetched.total, d("395.77"), "grand total plus the gift card");
    }

    #[test]
    fn an_invoice_names_its_invoice_and_order_and_is_never_read_as_an_order() {
        // Adobe's documented invoice event (invoice 13 of order 8, paid), and the REST
        // invoice of the inventory tutorial wrapped as an event (invoice 3 of order 3).
        assert_eq!(
            subject(&fixture(
                "magento/io_event_sales_order_invoice_save_after.json"
            ))
            .unwrap(),
            Subject::Invoice(Ids {
                entity_id: Some("13".into()),
                order_id: Some("8".into()),
                state: Some("2".into()),
            })
        );
        let rest = fixture("magento/rest_v1_invoice_with_discount_response.json");
        assert_eq!(
            subject(&rest).unwrap(),
            Subject::Invoice(Ids {
                entity_id: Some("3".into()),
                order_id: Some("3".into()),
                state: Some("2".into()),
            }),
            "a bare invoice, as GET /rest/V1/invoices/3 answers"
        );

        for body in [
            fixture("magento/invoice_save_after_with_discount.json"),
            rest,
        ] {
            let err = order(&body).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("magento invoice 3: an invoice is a capture of its order"),
                "{err}"
            );
        }
    }

    #[test]
    fn an_invoices_state_says_whether_it_captured_anything() {
        let state = |state: Value| {
            let body = edited("magento/invoice_save_after_with_discount.json", |e| {
                e["data"]["value"]["state"] = state;
            });
            match subject(&body).unwrap() {
                Subject::Invoice(ids) => (ids.invoice_open(), ids.invoice_cancelled()),
                other => panic!("not an invoice: {other:?}"),
            }
        };
        assert_eq!(state(json!(1)), (true, false), "open: to be paid offline");
        assert_eq!(state(json!("2")), (false, false), "paid");
        assert_eq!(state(json!("3")), (false, true), "cancelled");
        assert_eq!(
            state(json!(null)),
            (false, false),
            "not subscribed: unknown"
        );
    }

    #[test]
    fn an_order_events_subject_is_its_order_with_whatever_ids_were_subscribed() {
        assert_eq!(
            subject(&fixture("magento/order_save_after_eur.json")).unwrap(),
            Subject::Order(Ids {
                entity_id: Some("4711".into()),
                order_id: None,
                state: Some("processing".into()),
            })
        );
        let memo = edited("magento/creditmemo_save_after_eur.json", |e| {
            e["data"]["value"]
                .as_object_mut()
                .unwrap()
                .remove("order_id");
        });
        assert_eq!(
            ids(&memo).unwrap(),
            Ids {
                entity_id: Some("19".into()),
                order_id: None,
                state: Some("2".into()),
            }
        );
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
    fn credit_memo_items_say_whether_they_went_back_to_stock_where_the_event_tells() {
        let memo = "magento/creditmemo_save_after_eur.json";
        let restocked = |body: &[u8]| -> Vec<Option<bool>> {
            refund(body, &eur_order())
                .unwrap()
                .lines
                .iter()
                .map(|l| l.restocked)
                .collect()
        };
        // Neither field subscribed: the memo does not say.
        assert_eq!(
            restocked(&fixture(memo)),
            [None, None, None, None],
            "goods, shipping, adjustments"
        );
        for (flag, expected) in [
            (json!("1"), Some(true)),
            (json!(true), Some(true)),
            (json!(1), Some(true)),
            (json!("0"), Some(false)),
            (json!(false), Some(false)),
        ] {
            let body = edited(memo, |e| {
                e["data"]["value"]["items"][1]["back_to_stock"] = flag.clone();
            });
            assert_eq!(restocked(&body)[0], expected, "back_to_stock {flag}");
        }
        // The creation arguments' list of order items returned to stock, in the shape of
        // Adobe's `POST /V1/order/{id}/refund` reference request.
        let request = fixture_json("magento/rest_v1_order_refund_request.json");
        let listed = request["arguments"]["extension_attributes"].clone();
        assert_eq!(listed["return_to_stock_items"], json!([3]));
        for (items, expected) in [(json!([102]), Some(true)), (json!([3]), Some(false))] {
            let body = edited(memo, |e| {
                let mut attributes = listed.clone();
                attributes["return_to_stock_items"] = items.clone();
                e["data"]["value"]["extension_attributes"] = attributes;
            });
            assert_eq!(restocked(&body)[0], expected, "listed {items}");
            assert_eq!(restocked(&body)[1], None, "shipping is no stock");
        }
    }

    #[test]
    fn a_fetched_credit_memo_reads_as_its_event_does_and_one_without_items_is_missing_them() {
        let event = refund(
            &fixture("magento/creditmemo_save_after_eur.json"),
            &eur_order(),
        )
        .unwrap();
        let rest = fixture_json("magento/creditmemo_save_after_eur.json")["data"]["value"].take();
        let fetched = refund(&serde_json::to_vec(&rest).unwrap(), &eur_order()).unwrap();
        assert_eq!(fetched, event);

        // Not an adjustment-only memo (Magento lists every order item on a memo, refunded or
        // not): a subscription without the items, which the processor then fetches.
        let without_items = edited("magento/creditmemo_save_after_eur.json", |e| {
            e["data"]["value"].as_object_mut().unwrap().remove("items");
        });
        let err = refund(&without_items, &eur_order()).unwrap_err();
        assert!(
            matches!(&err, NormaliseError::Missing { field, .. } if field == "data.value.items"),
            "{err}"
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
                unit_cost: None,
                as_of: None,
                name: None,
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
                unit_cost: None,
                as_of: None,
                name: Some("eventtest r".into()),
            }]
        );
    }

    #[test]
    fn a_products_cost_attribute_is_its_unit_cost() {
        let product = br#"{"id":1,"sku":"ESP-200","price":129,"custom_attributes":[
            {"attribute_code":"description","value":"<p>Espresso</p>"},
            {"attribute_code":"cost","value":"61.500000"}]}"#;
        assert_eq!(product_cost(product).unwrap(), Some(d("61.5")));
        let costless = br#"{"id":1,"sku":"ESP-200","custom_attributes":[
            {"attribute_code":"description","value":"x"}]}"#;
        assert_eq!(product_cost(costless).unwrap(), None);
        assert_eq!(product_cost(br#"{"id":1,"sku":"ESP-200"}"#).unwrap(), None);
        let broken = br#"{"custom_attributes":[{"attribute_code":"cost","value":"cheap"}]}"#;
        assert!(product_cost(broken).is_err());
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
                // Every order has items: an event without them was subscribed without them, and
                // must not book an order of no lines.
                edited("magento/order_save_after_eur.json", |e| {
                    e["data"]["value"].as_object_mut().unwrap().remove("items");
                }),
                "magento order 4711: `data.value.items` is missing (Adobe I/O Events",
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
