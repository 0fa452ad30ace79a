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
//! - **Refunds.** eBay sends no refund notifications: the poller reads orders again
//!   (`getOrders` by `lastmodifieddate`) and every read of an order that lists refunds gives
//!   the order and its refunds, which booking books once each by id.
//!
//! ## Refunds: what eBay's reference says (Fulfillment API `OrderRefund`, `LineItemRefund`,
//! `RefundStatusEnum`, `PaymentSummary`)
//!
//! - `paymentSummary.refunds[]` is always returned, empty until the seller refunded. Each
//!   entry has `amount` ("always returned"), `refundStatus` ("always returned": `PENDING`,
//!   "initiated … but not yet completed"; `REFUNDED`, "successfully submitted to the buyer";
//!   `FAILED`), `refundDate` and `refundReferenceId` ("not returned until the refund has been
//!   issued"), and `refundId`, the id `issueRefund` answered, "returned … for pending and
//!   completed refunds"; "for other refunds, see the `refundReferenceId` field". `OrderRefund`
//!   "does not include line item level refunds": when `issueRefund` refunded line items, "these
//!   refund identifiers are returned at the line item level instead".
//! - `lineItems[].refunds[]` has `amount`, `refundDate` (again only once issued), `refundId`,
//!   and `refundReferenceId` "reserved for internal or future use"; no status.
//! - Both amounts are "the seller's net amount … eBay-collected tax will not be included in
//!   this amount, so the actual amount of the buyer's refund may be higher than this value".
//!
//! ## UNSURE, and how both readings are met
//!
//! - **One refund listed at both levels.** Whether a line-level refund also has an
//!   order-level entry (with its status), and whether that entry then carries the `refundId`
//!   or only a `refundReferenceId`, is not said. Each refund is counted once: line entries that
//!   share a `refundId` (else a `refundReferenceId`; entries naming neither, a `refundDate`)
//!   are its parts, and an order-level entry is the same refund when it names the same id;
//!   one that names no `refundId` is also taken to be the refund of the unnamed parts issued at
//!   its `refundDate`, else of the unnamed parts that add up to its amount. (So an order-level
//!   refund without a `refundId` and a line refund of exactly its amount are booked as one.)
//! - **Status.** Only money that went back is booked: `REFUNDED`. A `PENDING` refund is
//!   booked by the read that finds it `REFUNDED` (a credit note booked early could not be taken
//!   back if it then failed); a `FAILED` one never is. A refund with no order-level status
//!   (listed only on its lines) counts as gone back once every entry has its `refundDate`. Any
//!   other status is refused rather than guessed at.
//! - **Identity.** The refund id is eBay's `refundId`, else its `refundReferenceId`, else (no
//!   id at all) the refund's date to the second and its amount (`20250210090000-10.89`, with
//!   `-2`, `-3` for refunds alike in both). Refunds are booked only once issued, when eBay
//!   has filled in every field; their ids then stay the same from read to read, whatever order
//!   eBay lists them in, so the credit note number `{invoice}/R{refund}` does too.
//! - **Tax.** As documented, amounts are the seller's and are credited as they are. If eBay
//!   ever reports the buyer's refund instead, eBay's tax would be in it: an amount equal to what
//!   the buyer paid for the whole order (`pricingSummary.total`) or a line (its `total`), where
//!   that is more than the seller's part, can be nothing else, and the refund is then read so
//!   throughout: each amount reduced to the seller's part in proportion, to the cent (as for
//!   Etsy's receipts). A partial buyer's amount that matches neither cannot be told apart.
//! - **Currency:** as for the order (`convertedFromValue` when eBay converted it).
//!
//! ## How a refund is credited
//!
//! The part attributed to a line credits its goods first (the order's own line, units and
//! all, when all of its goods went back; else one unit of the amount under the line's title,
//! with no SKU, since eBay says how much but not how many), then the line's shipping, then an
//! adjustment. What a refund has beyond its line parts, or a refund only listed at order level,
//! is one `Refund` adjustment line (like Etsy's, as eBay does not say what it was for). A
//! refund of everything the seller got credits the order's own lines. The money goes back
//! through the gateway the order was paid by, on the refund's date, with eBay's
//! `refundReferenceId`.

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
        let seller_tax = (taxes - included).max(Decimal::ZERO);
        let line = row_line(
            LineKind::Product,
            item.opt_string("sku")?,
            title(&item)?,
            quantity,
            (cost, discounted),
            TaxInfo::amount(seller_tax),
        );
        items.push(Item {
            id: item.opt_string("lineItemId")?,
            line: line.clone(),
            goods: discounted + seller_tax,
            shipping: line_shipping(&money, &item)?,
            gross: money.optional(&item, "total")?,
            refunds: item.list("refunds")?,
        });
        lines.push(line);
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

    let listed = match &summary {
        Some(summary) => summary.list("refunds")?,
        None => Vec::new(),
    };
    let sale = Sale {
        order: &order,
        items: &items,
        buyer_total,
        gateway: &gateway_name,
        money: &money,
    };
    let mut refunds = Vec::new();
    for found in gather(&money, &listed, &items)? {
        if let Some(refund) = sale.refund(&found)? {
            refunds.push(refund);
        }
    }
    distinct_ids(&mut refunds);

    Ok(if refunds.is_empty() {
        Normalised::Order(order)
    } else {
        Normalised::Refunds {
            order: Some(order),
            refunds,
        }
    })
}

/// What a line of the order can have refunded, in the seller's figures.
struct Item<'a> {
    id: Option<String>,
    /// The order's own line, credited as it is when the whole of it went back.
    line: Line,
    /// The goods after promotions plus the seller's own tax on them (not eBay's).
    goods: Decimal,
    /// The line's delivery cost after its shipping discount.
    shipping: Decimal,
    /// What the buyer paid for the line (`total`), eBay's remitted tax included.
    gross: Option<Decimal>,
    refunds: Vec<Node<'a>>,
}

impl Item<'_> {
    fn whole(&self) -> Decimal {
        self.goods + self.shipping
    }

    fn label(&self) -> String {
        match &self.id {
            Some(id) => format!("{} (line {id})", self.line.description),
            None => self.line.description.clone(),
        }
    }

    /// The lines that credit `amount` (the seller's) of this line: the goods first, the
    /// order's own line when all of them went back; then its shipping; anything beyond is an
    /// adjustment.
    fn credit(&self, amount: Decimal) -> Vec<Line> {
        let mut lines = Vec::new();
        let mut rest = amount;
        if rest >= self.goods {
            lines.push(self.line.clone());
            rest -= self.goods;
        } else {
            // eBay says how much, never how many: a part of a line claims no units (no SKU),
            // or a second part refund of a one-unit line would be refused as returning more
            // than was sold.
            let tax = if self.line.tax.is_zero() {
                Decimal::ZERO
            } else {
                rest - cents(rest * (self.goods - self.line.tax) / self.goods)
            };
            lines.push(single_line(
                LineKind::Product,
                self.label(),
                rest - tax,
                TaxInfo::amount(tax),
            ));
            rest = Decimal::ZERO;
        }
        let shipping = rest.min(self.shipping);
        if shipping > Decimal::ZERO {
            lines.push(single_line(
                LineKind::Shipping,
                match &self.id {
                    Some(id) => format!("Shipping (line {id})"),
                    None => "Shipping".to_owned(),
                },
                shipping,
                TaxInfo::default(),
            ));
            rest -= shipping;
        }
        if rest > Decimal::ZERO {
            lines.push(single_line(
                LineKind::Adjustment,
                format!("Refund: {}", self.label()),
                rest,
                TaxInfo::default(),
            ));
        }
        lines
    }
}

/// A line's delivery cost less its shipping discount.
fn line_shipping(money: &Money, item: &Node<'_>) -> Result<Decimal, NormaliseError> {
    let Some(delivery) = item.get("deliveryCost") else {
        return Ok(Decimal::ZERO);
    };
    let cost = money
        .optional(&delivery, "shippingCost")?
        .unwrap_or_default()
        + money
            .optional(&delivery, "handlingCost")?
            .unwrap_or_default();
    let discount = money
        .optional(&delivery, "discountAmount")?
        .unwrap_or_default()
        .abs();
    Ok((cost - discount).max(Decimal::ZERO))
}

/// One refund, from however many places eBay lists it.
struct Found<'a> {
    /// Its `paymentSummary.refunds[]` entry, which has the status.
    entry: Option<Node<'a>>,
    /// Its `lineItems[].refunds[]` entries: (index of the line, entry, amount).
    parts: Vec<(usize, Node<'a>, Decimal)>,
}

impl Found<'_> {
    fn nodes(&self) -> impl Iterator<Item = &Node<'_>> {
        self.entry
            .iter()
            .chain(self.parts.iter().map(|(_, node, _)| node))
    }

    /// The first of the refund's entries that carries `key`.
    fn first(&self, key: &str) -> Result<Option<String>, NormaliseError> {
        for node in self.nodes() {
            if let Some(value) = node.opt_string(key)? {
                return Ok(Some(value));
            }
        }
        Ok(None)
    }

    fn names(&self, key: &str, value: &str) -> Result<bool, NormaliseError> {
        for node in self.nodes() {
            if node.opt_string(key)?.as_deref() == Some(value) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn parts_total(&self) -> Decimal {
        self.parts.iter().map(|(_, _, amount)| amount).sum()
    }
}

/// Every refund the order lists, each once (see the module docs): line entries that name one
/// refund are its parts; an order-level entry joins the parts that name it, or, naming no
/// `refundId` itself, the parts no entry named that were issued at its `refundDate` or add up
/// to its amount.
fn gather<'a>(
    money: &Money,
    listed: &[Node<'a>],
    items: &[Item<'a>],
) -> Result<Vec<Found<'a>>, NormaliseError> {
    let mut found: Vec<Found<'a>> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        for entry in &item.refunds {
            let amount = money.read(&entry.field("amount")?)?;
            let mut joined = None;
            for (at, refund) in found.iter().enumerate() {
                if same_refund(entry, refund)? {
                    joined = Some(at);
                    break;
                }
            }
            let part = (index, entry.clone(), amount);
            match joined {
                Some(at) => found[at].parts.push(part),
                None => found.push(Found {
                    entry: None,
                    parts: vec![part],
                }),
            }
        }
    }
    let from_lines = found.len();
    for entry in listed {
        let unclaimed = |refund: &Found<'_>| refund.entry.is_none();
        let mut joined = None;
        for (at, refund) in found.iter().enumerate().take(from_lines) {
            if unclaimed(refund) && named_by(entry, refund)? {
                joined = Some(at);
                break;
            }
        }
        if joined.is_none() && entry.opt_string("refundId")?.is_none() {
            let amount = money.read(&entry.field("amount")?)?;
            let date = entry.opt_string("refundDate")?;
            let reference = entry.opt_string("refundReferenceId")?;
            let mut by_date = None;
            let mut by_amount = None;
            for (at, refund) in found.iter().enumerate().take(from_lines) {
                // Two different references are two refunds.
                if !unclaimed(refund)
                    || (reference.is_some() && refund.first("refundReferenceId")?.is_some())
                {
                    continue;
                }
                if by_date.is_none() && date.is_some() && refund.first("refundDate")? == date {
                    by_date = Some(at);
                }
                if by_amount.is_none() && refund.parts_total() == amount {
                    by_amount = Some(at);
                }
            }
            joined = by_date.or(by_amount);
        }
        match joined {
            Some(at) => found[at].entry = Some(entry.clone()),
            None => found.push(Found {
                entry: Some(entry.clone()),
                parts: Vec::new(),
            }),
        }
    }
    Ok(found)
}

/// Whether a line entry is a part of `refund`: they name the same `refundId`, else the same
/// `refundReferenceId`; entries naming neither, the same `refundDate` among such entries.
fn same_refund(entry: &Node<'_>, refund: &Found<'_>) -> Result<bool, NormaliseError> {
    if named_by(entry, refund)? {
        return Ok(true);
    }
    let nameless = |node: &Node<'_>| -> Result<bool, NormaliseError> {
        Ok(node.opt_string("refundId")?.is_none()
            && node.opt_string("refundReferenceId")?.is_none())
    };
    if !nameless(entry)? || refund.first("refundId")?.is_some() {
        return Ok(false);
    }
    if refund.first("refundReferenceId")?.is_some() {
        return Ok(false);
    }
    Ok(match entry.opt_string("refundDate")? {
        Some(date) => refund.names("refundDate", &date)?,
        None => false,
    })
}

/// Whether `node` and `refund` name the same refund: the same `refundId` when both have
/// one, else the same `refundReferenceId` when both have one.
fn named_by(node: &Node<'_>, refund: &Found<'_>) -> Result<bool, NormaliseError> {
    for key in ["refundId", "refundReferenceId"] {
        if let Some(id) = node.opt_string(key)?
            && refund.first(key)?.is_some()
        {
            return refund.names(key, &id);
        }
    }
    Ok(false)
}

/// What a refund is credited against.
struct Sale<'a> {
    order: &'a Order,
    items: &'a [Item<'a>],
    buyer_total: Decimal,
    gateway: &'a str,
    money: &'a Money,
}

impl Sale<'_> {
    /// The refund, once its money went back to the buyer; `None` while it is pending and for
    /// one that failed.
    fn refund(&self, found: &Found<'_>) -> Result<Option<Refund>, NormaliseError> {
        if !moved(found)? {
            return Ok(None);
        }
        let amount = match &found.entry {
            Some(entry) => self.money.read(&entry.field("amount")?)?,
            None => found.parts_total(),
        };
        if amount.is_zero() {
            return Ok(None);
        }
        let date = match found.entry.as_ref().and_then(|e| e.get("refundDate")) {
            Some(node) => node.iso_date()?,
            None => {
                let mut latest = None;
                for (_, part, _) in &found.parts {
                    if let Some(node) = part.get("refundDate") {
                        let date = node.iso_date()?;
                        latest = Some(latest.map_or(date, |l: time::Date| l.max(date)));
                    }
                }
                latest.unwrap_or(self.order.date)
            }
        };
        let refund_id = match found.first("refundId")? {
            Some(id) => id,
            None => match found.first("refundReferenceId")? {
                Some(id) => id,
                None => fallback_id(found, amount)?,
            },
        };

        // An amount that equals what the buyer paid for the order or a line, where that is
        // more than the seller's part, can only include eBay's tax: the refund is read so.
        let includes_remitted = (amount == self.buyer_total && amount != self.order.total)
            || found.parts.iter().any(|(index, _, part)| {
                let item = &self.items[*index];
                item.gross
                    .is_some_and(|gross| *part == gross && gross != item.whole())
            });
        let sellers = |paid_back: Decimal, gross: Decimal, seller: Decimal| {
            if includes_remitted {
                seller_part(paid_back, gross, seller)
            } else {
                paid_back
            }
        };

        if sellers(amount, self.buyer_total, self.order.total) == self.order.total {
            return Ok(Some(self.refund_of(
                found,
                refund_id,
                date,
                self.order.lines.clone(),
            )?));
        }
        let mut lines = Vec::new();
        let mut per_item: Vec<(usize, Decimal)> = Vec::new();
        for (index, _, part) in &found.parts {
            match per_item.iter_mut().find(|(at, _)| at == index) {
                Some((_, sum)) => *sum += *part,
                None => per_item.push((*index, *part)),
            }
        }
        for (index, part) in per_item.into_iter().filter(|(_, part)| !part.is_zero()) {
            let item = &self.items[index];
            let whole = item.whole();
            lines.extend(item.credit(sellers(part, item.gross.unwrap_or(whole), whole)));
        }
        let rest = amount - found.parts_total();
        if rest < Decimal::ZERO {
            return Err(self.order_ctx_error(format!(
                "refund {refund_id} is {amount}, less than the {} its line items list",
                found.parts_total()
            )));
        }
        let rest = sellers(rest, self.buyer_total, self.order.total);
        if !rest.is_zero() {
            lines.push(single_line(
                LineKind::Adjustment,
                "Refund".to_owned(),
                rest,
                TaxInfo::default(),
            ));
        }
        if lines_total(&lines, TaxMode::Exclusive) == self.order.total {
            lines.clone_from(&self.order.lines);
        }
        Ok(Some(self.refund_of(found, refund_id, date, lines)?))
    }

    fn refund_of(
        &self,
        found: &Found<'_>,
        refund_id: String,
        date: time::Date,
        lines: Vec<Line>,
    ) -> Result<Refund, NormaliseError> {
        let credit = lines_total(&lines, TaxMode::Exclusive);
        Ok(Refund {
            platform: PLATFORM,
            refund_id,
            order_id: self.order.order_id.clone(),
            order_number: self.order.number.clone(),
            date,
            currency: self.order.currency.clone(),
            tax_mode: TaxMode::Exclusive,
            total: credit,
            total_tax: lines_tax(&lines),
            lines,
            returned: vec![Payment {
                method: PaymentMethod::Gateway {
                    name: self.gateway.to_owned(),
                },
                amount: credit,
                date,
                reference: found.first("refundReferenceId")?,
            }],
        })
    }

    fn order_ctx_error(&self, message: String) -> NormaliseError {
        Ctx::new(PLATFORM, format!("order {}", self.order.order_id)).inconsistent(message)
    }
}

/// Whether the refund's money went back: its order-level `refundStatus` says so (`REFUNDED`;
/// `PENDING` not yet, `FAILED` never); without one, every entry has its `refundDate`, which
/// eBay gives only once the refund was issued.
fn moved(found: &Found<'_>) -> Result<bool, NormaliseError> {
    if let Some(entry) = &found.entry
        && let Some(status) = entry.opt_string("refundStatus")?
    {
        return match status.as_str() {
            "REFUNDED" => Ok(true),
            "PENDING" | "FAILED" => Ok(false),
            _ => Err(entry.ctx().inconsistent(format!(
                "`{}.refundStatus` is {status:?}, none of REFUNDED, PENDING or FAILED: whether \
                 its money went back is unknown",
                entry.path()
            ))),
        };
    }
    Ok(found.nodes().all(|node| node.get("refundDate").is_some()))
}

/// The id of a refund eBay gives no id for: its date and amount, which do not change once it
/// was issued.
fn fallback_id(found: &Found<'_>, amount: Decimal) -> Result<String, NormaliseError> {
    let mut stamp = String::new();
    if let Some(date) = found.first("refundDate")? {
        stamp = date.chars().filter(char::is_ascii_digit).take(14).collect();
    }
    Ok(format!("{stamp}-{}", amount.round_dp(2)))
}

/// Two refunds eBay gave the same fallback id (same second, same amount) cannot be told apart:
/// the second is `-2`, and so on.
fn distinct_ids(refunds: &mut [Refund]) {
    let mut seen: Vec<String> = Vec::new();
    for refund in refunds.iter_mut() {
        let base = refund.refund_id.clone();
        let mut n = 1;
        while seen.contains(&refund.refund_id) {
            n += 1;
            refund.refund_id = format!("{base}-{n}");
        }
        seen.push(refund.refund_id.clone());
    }
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
    use serde_json::{Value, json};
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
        assert_eq!(refund.lines, [order.lines[1].clone()]);
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

    // Refunds, on `order_usd_refunds.json`: a 60.00 ball head with 7.00 shipping and three
    // lens cloths for 12.00; 8.10 of Washington sales tax eBay collects and remits (the
    // buyer's 87.10, the seller's 79.00).
    const ORDER: &str = "ebay/order_usd_refunds.json";
    const HEAD: usize = 0;
    const CLOTHS: usize = 1;

    /// An order-level entry (`paymentSummary.refunds[]`) as eBay gives one once issued.
    fn issued(id: &str, amount: &str) -> Value {
        json!({
            "refundId": id,
            "refundDate": "2025-03-08T14:30:00.000Z",
            "amount": {"value": amount, "currency": "USD"},
            "refundStatus": "REFUNDED",
            "refundReferenceId": format!("9RF{id}")
        })
    }

    /// The entry of the same refund on a line (`lineItems[].refunds[]`): no status.
    fn on_line(entry: &Value, amount: &str) -> Value {
        let mut part = entry.clone();
        part.as_object_mut().unwrap().remove("refundStatus");
        part["amount"]["value"] = json!(amount);
        part
    }

    /// The order with these order-level entries and (line, entry) line-level ones.
    fn refunded(order_level: Vec<Value>, line_level: &[(usize, Value)]) -> Vec<u8> {
        edited(ORDER, |o| {
            o["orderPaymentStatus"] = json!("PARTIALLY_REFUNDED");
            o["paymentSummary"]["refunds"] = json!(order_level);
            for (line, entry) in line_level {
                o["lineItems"][*line]["refunds"]
                    .as_array_mut()
                    .unwrap()
                    .push(entry.clone());
            }
        })
    }

    fn refunds_of(body: &[u8]) -> Vec<Refund> {
        order_and_refunds(body).1
    }

    #[test]
    fn a_partial_refund_of_one_line_credits_that_much_of_it_without_claiming_a_unit() {
        // Arrange: 4.00 back for one of the three cloths, listed at both levels.
        let entry = issued("5001000001", "4.00");
        let body = refunded(vec![entry.clone()], &[(CLOTHS, on_line(&entry, "4.00"))]);

        // Act
        let (order, refunds) = order_and_refunds(&body);

        // Assert
        assert_eq!(order.total, d("79.00"));
        assert_eq!(refunds.len(), 1);
        let refund = &refunds[0];
        assert_eq!(refund.refund_id, "5001000001");
        assert_eq!(
            (refund.order_id.as_str(), refund.date),
            ("04-11223-44556", date!(2025 - 03 - 08))
        );
        assert_eq!(refund.lines.len(), 1);
        assert_line(&refund.lines[0], Product, None, ("1", "4.00", "0"), "0");
        assert_eq!(
            refund.lines[0].description,
            "Microfibre lens cloth (line 10077002000102)"
        );
        assert_eq!((refund.total, refund.total_tax), (d("4.00"), d("0")));
        assert_adds_up(&refund.lines, refund.tax_mode, refund.total);
        assert_eq!(
            refund.returned,
            vec![Payment {
                method: ebay(),
                amount: d("4.00"),
                date: date!(2025 - 03 - 08),
                reference: Some("9RF5001000001".into()),
            }]
        );
    }

    #[test]
    fn a_full_refund_credits_the_orders_own_lines_whether_ebay_says_the_sellers_or_the_buyers_amount()
     {
        // eBay documents the seller's 79.00; 87.10 would be the buyer's, eBay's tax included.
        for amount in ["79.00", "87.10"] {
            let body = edited(ORDER, |o| {
                o["orderPaymentStatus"] = json!("FULLY_REFUNDED");
                o["paymentSummary"]["refunds"] = json!([issued("5001000002", amount)]);
            });

            let (order, refunds) = order_and_refunds(&body);

            assert_eq!(refunds.len(), 1, "{amount}");
            assert_eq!(refunds[0].lines, order.lines, "{amount}");
            assert_eq!(refunds[0].total, d("79.00"), "{amount}");
            assert_eq!(refunds[0].returned[0].amount, d("79.00"), "{amount}");
        }
    }

    #[test]
    fn a_line_refunded_with_its_shipping_credits_the_line_and_then_its_shipping() {
        // The ball head (60.00) and its 7.00 shipping; the buyer's 73.87 with eBay's 6.87 of
        // tax reads the same; 63.00 is the head and 3.00 of its shipping.
        for (amount, shipping) in [("67.00", "7.00"), ("73.87", "7.00"), ("63.00", "3.00")] {
            let entry = issued("5001000003", amount);
            let body = refunded(vec![entry.clone()], &[(HEAD, on_line(&entry, amount))]);

            let (order, refunds) = order_and_refunds(&body);

            let refund = &refunds[0];
            assert_eq!(refund.lines.len(), 2, "{amount}");
            assert_eq!(
                refund.lines[0], order.lines[0],
                "{amount}: the head, as sold"
            );
            assert_line(&refund.lines[1], Shipping, None, ("1", shipping, "0"), "0");
            assert_eq!(
                refund.lines[1].description,
                "Shipping (line 10077002000101)"
            );
            assert_eq!(refund.total, d("60.00") + d(shipping), "{amount}");
            assert_adds_up(&refund.lines, refund.tax_mode, refund.total);
        }
    }

    #[test]
    fn a_pending_refund_is_booked_by_the_read_that_finds_its_money_gone_back_a_failed_one_never() {
        // As issueRefund leaves it: PENDING, no date, no reference yet.
        let mut pending = issued("5001000004", "4.00");
        for key in ["refundDate", "refundReferenceId"] {
            pending.as_object_mut().unwrap().remove(key);
        }
        pending["refundStatus"] = json!("PENDING");
        let first_read = refunded(
            vec![pending.clone()],
            &[(CLOTHS, on_line(&pending, "4.00"))],
        );
        assert!(matches!(order(&first_read).unwrap(), Normalised::Order(_)));

        let done = issued("5001000004", "4.00");
        let next_read = refunded(vec![done.clone()], &[(CLOTHS, on_line(&done, "4.00"))]);
        let refunds = refunds_of(&next_read);
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].refund_id, "5001000004");
        assert_eq!(refunds[0].total, d("4.00"));

        let mut failed = done.clone();
        failed["refundStatus"] = json!("FAILED");
        let failed = refunded(vec![failed], &[(CLOTHS, on_line(&done, "4.00"))]);
        assert!(matches!(order(&failed).unwrap(), Normalised::Order(_)));

        // Listed on its line only (no status): gone back once eBay dates it.
        let mut undated = on_line(&done, "4.00");
        undated.as_object_mut().unwrap().remove("refundDate");
        assert!(matches!(
            order(&refunded(vec![], &[(CLOTHS, undated)])).unwrap(),
            Normalised::Order(_)
        ));
        let refunds = refunds_of(&refunded(vec![], &[(CLOTHS, on_line(&done, "4.00"))]));
        assert_eq!(
            (refunds[0].refund_id.as_str(), refunds[0].total),
            ("5001000004", d("4.00"))
        );
    }

    #[test]
    fn two_refunds_are_credited_apart_whatever_order_ebay_lists_them_in() {
        let cloth = issued("5001000005", "4.00");
        let head = issued("5001000006", "60.00");
        let lines = [
            (CLOTHS, on_line(&cloth, "4.00")),
            (HEAD, on_line(&head, "60.00")),
        ];
        let body = refunded(vec![cloth.clone(), head.clone()], &lines);
        let reversed = refunded(vec![head, cloth], &[lines[1].clone(), lines[0].clone()]);

        let mut refunds = refunds_of(&body);
        let mut read_again = refunds_of(&reversed);

        refunds.sort_by(|a, b| a.refund_id.cmp(&b.refund_id));
        read_again.sort_by(|a, b| a.refund_id.cmp(&b.refund_id));
        assert_eq!(refunds, read_again);
        let summary: Vec<_> = refunds
            .iter()
            .map(|r| (r.refund_id.as_str(), r.total, r.returned[0].amount))
            .collect();
        assert_eq!(
            summary,
            [
                ("5001000005", d("4.00"), d("4.00")),
                ("5001000006", d("60.00"), d("60.00"))
            ]
        );
        assert_eq!(
            refunds[1].lines,
            [order_and_refunds(&body).0.lines[0].clone()]
        );
    }

    #[test]
    fn a_refund_listed_at_both_levels_is_counted_once() {
        // The same refundId at both levels.
        let entry = issued("5001000007", "4.00");
        let both = refunded(vec![entry.clone()], &[(CLOTHS, on_line(&entry, "4.00"))]);
        let refunds = refunds_of(&both);
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].total, d("4.00"));

        // The refundId on the line only ("returned at the line item level instead"), the
        // order-level entry with its status and reference: one refund, eBay's refundId.
        let mut order_level = entry.clone();
        order_level.as_object_mut().unwrap().remove("refundId");
        let mut line_level = on_line(&entry, "4.00");
        line_level
            .as_object_mut()
            .unwrap()
            .remove("refundReferenceId");
        let split = refunded(vec![order_level.clone()], &[(CLOTHS, line_level)]);
        let refunds = refunds_of(&split);
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].refund_id, "5001000007");
        assert_eq!(refunds[0].total, d("4.00"));
        assert_eq!(
            refunds[0].returned[0].reference.as_deref(),
            Some("9RF5001000007")
        );

        // No id on the line at all, the same date: the line is the order-level refund's part,
        // which is more than the line (the rest is an adjustment).
        let mut bare = on_line(&entry, "4.00");
        for key in ["refundId", "refundReferenceId"] {
            bare.as_object_mut().unwrap().remove(key);
        }
        let mut larger = order_level;
        larger["amount"]["value"] = json!("5.50");
        let refunds = refunds_of(&refunded(vec![larger], &[(CLOTHS, bare)]));
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].lines.len(), 2);
        assert_line(
            &refunds[0].lines[1],
            Adjustment,
            None,
            ("1", "1.50", "0"),
            "0",
        );
        assert_eq!(refunds[0].total, d("5.50"));
    }

    #[test]
    fn a_part_refund_of_a_line_with_the_sellers_own_tax_returns_its_share_of_that_tax() {
        // The cloths' 1.23 of tax is the seller's to remit (eBay does not collect it); 4.41 is
        // one cloth with its tax, 13.23 all three.
        let sellers_tax = |o: &mut Value| {
            o["lineItems"][CLOTHS]["ebayCollectAndRemitTaxes"] = json!([]);
        };
        for (amount, tax) in [("4.41", "0.41"), ("13.23", "1.23")] {
            let entry = issued("5001000013", amount);
            let mut body: Value = serde_json::from_slice(&refunded(
                vec![entry.clone()],
                &[(CLOTHS, on_line(&entry, amount))],
            ))
            .unwrap();
            sellers_tax(&mut body);

            let (order, refunds) = order_and_refunds(&serde_json::to_vec(&body).unwrap());

            assert_eq!((order.total, order.total_tax), (d("80.23"), d("1.23")));
            let refund = &refunds[0];
            assert_eq!(refund.lines.len(), 1, "{amount}");
            assert_eq!(refund.lines[0].tax, d(tax), "{amount}");
            assert_eq!((refund.total, refund.total_tax), (d(amount), d(tax)));
            assert_adds_up(&refund.lines, refund.tax_mode, refund.total);
        }
    }

    #[test]
    fn a_refund_of_two_lines_is_one_refund_with_a_part_for_each() {
        // One refundId for the head and one cloth, on both lines and once at order level.
        let entry = issued("5001000011", "64.00");
        let body = refunded(
            vec![entry.clone()],
            &[
                (HEAD, on_line(&entry, "60.00")),
                (CLOTHS, on_line(&entry, "4.00")),
            ],
        );

        let (order, refunds) = order_and_refunds(&body);

        assert_eq!(refunds.len(), 1);
        let refund = &refunds[0];
        assert_eq!(refund.lines.len(), 2);
        assert_eq!(refund.lines[0], order.lines[0]);
        assert_line(&refund.lines[1], Product, None, ("1", "4.00", "0"), "0");
        assert_eq!(refund.total, d("64.00"));
    }

    #[test]
    fn a_refund_smaller_than_its_line_parts_is_refused() {
        let mut entry = issued("5001000012", "3.00");
        let part = on_line(&entry, "4.00");
        entry["amount"]["value"] = json!("3.00");
        let err = order(&refunded(vec![entry], &[(CLOTHS, part)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ebay order 04-11223-44556: refund 5001000012 is 3.00, less than the 4.00 its line \
             items list"
        );
    }

    #[test]
    fn a_refund_without_a_refund_id_keeps_one_id_from_read_to_read() {
        // Refunds not made through issueRefund have only eBay's refundReferenceId.
        let mut referenced = issued("5001000008", "4.00");
        referenced.as_object_mut().unwrap().remove("refundId");
        // Nothing to name one by: its date and amount, twice alike.
        let mut bare = issued("5001000009", "2.50");
        for key in ["refundId", "refundReferenceId"] {
            bare.as_object_mut().unwrap().remove(key);
        }
        let body = refunded(vec![referenced.clone(), bare.clone(), bare.clone()], &[]);
        let later = edited(ORDER, |o| {
            o["lastModifiedDate"] = json!("2025-03-09T08:00:00.000Z");
            o["paymentSummary"]["refunds"] = json!([bare, referenced, bare]);
        });

        let ids = |body: &[u8]| {
            let mut ids: Vec<String> = refunds_of(body).into_iter().map(|r| r.refund_id).collect();
            ids.sort();
            ids
        };

        assert_eq!(
            ids(&body),
            [
                "20250308143000-2.50",
                "20250308143000-2.50-2",
                "9RF5001000008"
            ]
        );
        assert_eq!(ids(&later), ids(&body));
    }

    #[test]
    fn a_refund_status_ebay_does_not_document_is_refused() {
        let mut entry = issued("5001000010", "4.00");
        entry["refundStatus"] = json!("REVERSED");
        let err = order(&refunded(vec![entry], &[])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ebay order 04-11223-44556: `paymentSummary.refunds[0].refundStatus` is \"REVERSED\", \
             none of REFUNDED, PENDING or FAILED: whether its money went back is unknown"
        );
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
