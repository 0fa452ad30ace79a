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

/// One deposit a platform made to the seller's bank (or, with a negative amount, one debit it
/// took from it), with what it is made of: the sales paid out through it, less refunds, less the
/// platform's fees, plus or minus whatever else the platform moved (reserves, chargebacks,
/// conversions). Booking it moves exactly [`Payout::amount`] from the clearing account, into
/// which the order payments went, to the bank; the parts say where the rest of clearing goes.
///
/// Signs are the seller's: a part that adds to the deposit is positive in `charges` and
/// `adjustments`, and one that takes from it is positive in `refunds` and `fees` (what they
/// are). [`Payout::difference`] checks that the parts make the deposit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    pub platform: Platform,
    /// The platform's payout id; with the shop, the business key, and the reference Xero's bank
    /// reconciliation matches the bank line by.
    pub payout_id: String,
    pub status: PayoutStatus,
    /// The day the bank shows it (Shopify's `date`).
    pub date: Date,
    pub currency: Currency,
    /// What reached the bank. Negative when the platform debited the bank instead (its balance
    /// went below zero: refunds and chargebacks beyond the period's sales).
    pub amount: Decimal,
    pub charges: Vec<PayoutCharge>,
    pub refunds: Vec<PayoutRefund>,
    pub fees: Vec<PayoutFee>,
    pub adjustments: Vec<PayoutAdjustment>,
}

/// Where the transfer stands, in the platform's words (Shopify's payout `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Made up, not yet sent to the bank: its parts may still change.
    Scheduled,
    /// Sent to the bank, not yet confirmed.
    InTransit,
    /// Deposited: the only status whose amount is on the bank statement.
    Paid,
    /// Declined by the bank: the money went back to the platform's balance, and a later payout
    /// carries it again.
    Failed,
    /// Cancelled by the platform before it was sent.
    Canceled,
}

/// A payment for an order that the payout pays out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutCharge {
    /// The platform's order id, matching [`Order::order_id`]; `None` when the platform names no
    /// order (a charge outside any order), which no booked payment can match.
    pub order_id: Option<String>,
    /// The platform's id of the payment, matching [`Payment::reference`] where it is known.
    pub reference: Option<String>,
    /// What the buyer paid: the payment that went into clearing.
    pub gross: Decimal,
    /// What the platform kept of it for processing.
    pub fee: Decimal,
}

/// A refund to a buyer that the payout pays for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutRefund {
    pub order_id: Option<String>,
    pub reference: Option<String>,
    /// Money back to the buyer, positive; negative for a refund that failed and came back.
    pub amount: Decimal,
    /// The fee charged for the refund, positive; negative where the platform gave part of the
    /// charge's fee back.
    pub fee: Decimal,
}

/// A platform fee not part of a charge or refund (a chargeback fee, a listing or ad fee).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutFee {
    /// The platform's name for it (Shopify's balance transaction type, Etsy's ledger entry
    /// type), which the mapping picks the fee account by.
    pub kind: String,
    /// Charged to the seller, positive; a fee refunded is negative. Tax included.
    pub amount: Decimal,
    /// The tax in `amount`, where the platform states it (GST or VAT on Etsy and eBay fees);
    /// `None` where it does not say, which is not the same as zero.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tax: Option<Decimal>,
    /// The platform's id of what the fee is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Money in the payout that is neither a charge, a refund nor a fee: it must land on a mapped
/// account of its own, never silently in clearing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutAdjustment {
    pub kind: AdjustmentKind,
    /// Added to the deposit, positive (a reserve released, a chargeback won); taken from it,
    /// negative.
    pub amount: Decimal,
    /// The platform's id of what caused it (the dispute, the reserve, the adjustment).
    pub source_id: Option<String>,
    /// The order it concerns, where the platform says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentKind {
    /// Funds held back against future refunds and chargebacks, or released from that hold.
    Reserve,
    /// A dispute: the charge taken back for a chargeback or an inquiry, or returned when the
    /// seller won.
    Chargeback,
    /// The difference from converting between currencies.
    CurrencyConversion,
    /// Anything else, by the platform's name for it.
    Other(String),
}

impl Payout {
    /// What the parts add up to: charges less their fees, less refunds and their fees, less
    /// fees, plus adjustments. Equal to [`Payout::amount`] for a payout that explains itself.
    pub fn parts_total(&self) -> Decimal {
        let charges: Decimal = self.charges.iter().map(|c| c.gross - c.fee).sum();
        let refunds: Decimal = self.refunds.iter().map(|r| r.amount + r.fee).sum();
        let fees: Decimal = self.fees.iter().map(|f| f.amount).sum();
        let adjustments: Decimal = self.adjustments.iter().map(|a| a.amount).sum();
        charges - refunds - fees + adjustments
    }

    /// The deposit less what its parts add up to: zero when the payout's own arithmetic holds;
    /// otherwise the amount nothing in it explains, which must not be booked to clearing.
    pub fn difference(&self) -> Decimal {
        self.amount - self.parts_total()
    }
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

    fn payout() -> Payout {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        Payout {
            platform: Platform::Shopify,
            payout_id: "623721858".into(),
            status: PayoutStatus::Paid,
            date: time::macros::date!(2026 - 11 - 24),
            currency: Currency::try_from("NZD".to_owned()).unwrap(),
            amount: d("152.35"),
            charges: vec![
                PayoutCharge {
                    order_id: Some("1001".into()),
                    reference: Some("9001".into()),
                    gross: d("115.00"),
                    fee: d("3.35"),
                },
                PayoutCharge {
                    order_id: Some("1002".into()),
                    reference: None,
                    gross: d("60.00"),
                    fee: d("1.80"),
                },
            ],
            refunds: vec![PayoutRefund {
                order_id: Some("1001".into()),
                reference: Some("9003".into()),
                amount: d("23.00"),
                fee: d("-0.50"),
            }],
            fees: vec![PayoutFee {
                kind: "chargeback_fee".into(),
                amount: d("15.00"),
                tax: None,
                reference: Some("77".into()),
            }],
            adjustments: vec![
                PayoutAdjustment {
                    kind: AdjustmentKind::Reserve,
                    amount: d("20.00"),
                    source_id: Some("5".into()),
                    order_id: None,
                },
                PayoutAdjustment {
                    kind: AdjustmentKind::Chargeback,
                    amount: d("-0.00"),
                    source_id: None,
                    order_id: None,
                },
            ],
        }
    }

    #[test]
    fn a_payout_whose_parts_make_the_deposit_has_no_difference() {
        // 115.00 - 3.35 + 60.00 - 1.80 - (23.00 - 0.50) - 15.00 + 20.00 = 152.35
        let payout = payout();
        assert_eq!(payout.parts_total(), Decimal::new(15235, 2));
        assert_eq!(payout.difference(), Decimal::ZERO);
    }

    #[test]
    fn a_payout_with_a_part_missing_names_the_difference() {
        let mut payout = payout();
        // An order's charge the platform paid out but the parts do not carry.
        payout.charges.pop();
        assert_eq!(payout.difference(), Decimal::new(5820, 2));
        // A debit from the bank: the parts take more than they give.
        let mut debit = self::payout();
        debit.amount = Decimal::new(-1000, 2);
        debit.charges.clear();
        debit.refunds.clear();
        debit.adjustments.clear();
        debit.fees[0].amount = Decimal::new(1000, 2);
        assert_eq!(debit.parts_total(), Decimal::new(-1000, 2));
        assert_eq!(debit.difference(), Decimal::ZERO);
    }

    #[test]
    fn payouts_serialise_with_their_kinds_and_exact_money() {
        let mut payout = payout();
        payout.adjustments.push(PayoutAdjustment {
            kind: AdjustmentKind::Other("payout_failure".into()),
            amount: Decimal::ZERO,
            source_id: None,
            order_id: None,
        });
        let json = serde_json::to_value(&payout).unwrap();
        assert_eq!(json["status"], "paid");
        assert_eq!(json["amount"], "152.35");
        assert_eq!(json["date"], serde_json::to_value(payout.date).unwrap());
        assert_eq!(json["adjustments"][0]["kind"], "reserve");
        assert_eq!(
            json["adjustments"][2]["kind"],
            serde_json::json!({"other": "payout_failure"})
        );
        assert!(json["fees"][0].get("tax").is_none());
        let back: Payout = serde_json::from_value(json).unwrap();
        assert_eq!(back, payout);
    }
}
