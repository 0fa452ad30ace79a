//! The one model every platform is normalised into, before anything is mapped onto Xero.
//!
//! Money is [`Decimal`], never floating point, always in the document's currency, and always
//! as the platform charged it: a normaliser copies the platform's figures (prices, discounts,
//! taxes, totals) instead of recomputing them, so that the books match what the customer paid.
//! Whether prices include tax is [`TaxMode`]; every amount on a line is on that basis.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::platform::Platform;

/// Whether line prices include tax (typical in the EU, UK, AU, NZ) or exclude it (US, CA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaxMode {
    Exclusive,
    Inclusive,
}

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency(String);

impl Currency {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Currency {
    type Error = DomainError;

    fn try_from(code: String) -> Result<Self, Self::Error> {
        let code = code.trim().to_ascii_uppercase();
        if code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(Currency(code))
        } else {
            Err(DomainError::Currency(code))
        }
    }
}

impl From<Currency> for String {
    fn from(currency: Currency) -> String {
        currency.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A value the model refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0:?} is not an ISO 4217 currency code")]
    Currency(String),
}

/// The buyer, as far as the platform tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// The platform's customer id, when the buyer has an account.
    pub id: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// What a line is, which decides the Xero account it is booked to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Goods or services sold: revenue.
    Product,
    Shipping,
    /// A charge to the customer other than goods and shipping (a surcharge, a handling fee).
    Fee,
    /// A gift card sold: a liability until it is redeemed, not revenue.
    GiftCardSale,
    /// A discount not allocated to any line (an order-level discount), as a positive amount
    /// that reduces the total.
    Discount,
    /// A refund adjustment that is neither goods nor shipping (a goodwill amount, a restocking
    /// fee kept, as a negative amount).
    Adjustment,
}

/// One line of an order or a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    pub kind: LineKind,
    pub sku: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    /// Price of one unit before discounts, on the document's [`TaxMode`] basis.
    pub unit_price: Decimal,
    /// Discount on the whole line (all units), same basis, zero or positive.
    pub discount: Decimal,
    /// The tax the platform charged on this line after its discount.
    pub tax: Decimal,
    /// The tax rate as a fraction (0.15 for 15%), when the platform says; picks the Xero tax
    /// type together with [`Line::tax_label`].
    pub tax_rate: Option<Decimal>,
    /// The platform's name for the tax (Shopify's tax line title, WooCommerce's rate code).
    pub tax_label: Option<String>,
    /// The taxes that make up [`Line::tax`], one per authority (US state, county and city;
    /// Canada's GST and PST), where the platform names them per line (Shopify's `tax_lines`,
    /// WooCommerce's `taxes` by rate id). Empty when the platform gives only the line's total.
    /// Their amounts are the platform's split; where they do not add up to `tax` (a refunded
    /// share), the mapping apportions `tax` by them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tax_parts: Vec<TaxPart>,
    /// On a refund line, whether the platform put the units back into stock (Shopify's
    /// `restock_type`, Adobe Commerce's `back_to_stock`); `None` where it does not say. In
    /// tracked inventory a line that was not restocked carries no item, so Xero's quantity
    /// stays as the platform's (README "Inventory: tracked mode").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restocked: Option<bool>,
}

/// One authority's tax on a line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxPart {
    /// The platform's name for it ("CA State Tax", "GST", WooCommerce's rate code).
    pub label: Option<String>,
    /// As a fraction, when the platform says.
    pub rate: Option<Decimal>,
    pub amount: Decimal,
}

impl Line {
    /// Quantity × unit price − discount, on the document's tax basis, unrounded.
    pub fn net_amount(&self) -> Decimal {
        self.quantity * self.unit_price - self.discount
    }
}

/// How money came in or went out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PaymentMethod {
    /// A payment gateway (`shopify_payments`, `stripe`, `paypal`, ...).
    Gateway { name: String },
    /// A gift card redeemed: paid out of the gift-card liability.
    GiftCard,
}

/// Money received for an order, or returned for a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Decimal,
    pub date: Date,
    /// The platform's transaction id, when it has one.
    pub reference: Option<String>,
}

/// An order as the customer was charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub platform: Platform,
    /// The platform's id for the order; with the shop, the business key.
    pub order_id: String,
    /// The number people see ("#1001", "727", "000000042").
    pub number: String,
    pub date: Date,
    pub currency: Currency,
    pub tax_mode: TaxMode,
    pub customer: Option<Customer>,
    pub lines: Vec<Line>,
    /// The order's total as charged, tax included.
    pub total: Decimal,
    pub total_tax: Decimal,
    /// Money received so far (gateways and gift cards). Empty for an unpaid order.
    pub payments: Vec<Payment>,
    /// Cancelled or voided on the platform.
    pub cancelled: bool,
}

impl Order {
    pub fn amount_paid(&self) -> Decimal {
        self.payments.iter().map(|p| p.amount).sum()
    }
}

/// A refund of (part of) an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub platform: Platform,
    pub refund_id: String,
    pub order_id: String,
    pub order_number: String,
    pub date: Date,
    pub currency: Currency,
    pub tax_mode: TaxMode,
    /// What is credited: returned goods, shipping, adjustments; amounts positive.
    pub lines: Vec<Line>,
    /// The credit's total, tax included.
    pub total: Decimal,
    pub total_tax: Decimal,
    /// Money that left the seller (to the card, to PayPal). Less than `total` when part of the
    /// refund was store credit.
    pub returned: Vec<Payment>,
}

/// A stock level changed on the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockChange {
    pub platform: Platform,
    /// The platform's id for the stock item (Shopify inventory item, WooCommerce product, ...).
    pub item_id: String,
    pub sku: Option<String>,
    pub location: Option<String>,
    pub level: StockLevel,
    /// What one unit cost the seller, where the platform keeps it (Shopify's inventory item
    /// `cost`, BigCommerce's `cost_price`, Adobe Commerce's `cost` attribute): the value of
    /// units a stock adjustment adds in Xero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<Decimal>,
    /// When the platform says the level was this (RFC 3339): Shopify's `updated_at`,
    /// WooCommerce's `date_modified_gmt`, the time a poll read it. Stock webhooks arrive in any
    /// order, and the latest level is the one with the latest time, not the one read last;
    /// without it, the ingress's time of receipt stands in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    /// The product's title, where the event carries it (WooCommerce and Adobe Commerce product
    /// bodies): the Xero item's name, kept up to date in items and tracked mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "quantity", rename_all = "snake_case")]
pub enum StockLevel {
    /// The quantity now on hand.
    Absolute(Decimal),
    /// The change (negative when stock went out).
    Delta(Decimal),
}

/// Anything a platform event normalises into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Normalised {
    Order(Order),
    /// WooCommerce reports refunds on the order, so one event can carry the order and its
    /// refunds; other platforms carry one refund.
    Refunds {
        order: Option<Order>,
        refunds: Vec<Refund>,
    },
    Stock(Vec<StockChange>),
    /// Nothing to book (a draft, an incomplete checkout), with why.
    Nothing {
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_three_letter_codes() {
        assert_eq!(
            Currency::try_from("nzd".to_owned()).unwrap().as_str(),
            "NZD"
        );
        assert!(Currency::try_from("NZ".to_owned()).is_err());
        assert!(Currency::try_from("N2D".to_owned()).is_err());
        let json = serde_json::to_string(&Currency::try_from("EUR".to_owned()).unwrap()).unwrap();
        assert_eq!(json, "\"EUR\"");
        assert!(serde_json::from_str::<Currency>("\"EURO\"").is_err());
    }

    #[test]
    fn money_serialises_as_exact_strings() {
        let line = Line {
            kind: LineKind::Product,
            sku: None,
            description: "Mug".into(),
            quantity: Decimal::new(3, 0),
            unit_price: Decimal::new(3333, 2),
            discount: Decimal::new(1, 2),
            tax: Decimal::ZERO,
            tax_rate: None,
            tax_label: None,
            tax_parts: Vec::new(),
            restocked: None,
        };
        assert_eq!(line.net_amount(), Decimal::new(9998, 2));
        let json = serde_json::to_value(&line).unwrap();
        assert_eq!(json["unit_price"], "33.33");
        let back: Line = serde_json::from_value(json).unwrap();
        assert_eq!(back, line);
    }
}
