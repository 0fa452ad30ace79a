//! A payout's parts onto the shop's Xero accounts (`[shops.NAME.mapping.payouts]`). Pure: the
//! entries a settlement becomes, to the cent, tested without a server.
//!
//! What goes where (README "Payouts"):
//! - **Fees** (the processing fees of charges and refunds, and every other platform fee) are
//!   lines of one bill to the platform's contact, on the fee account of their kind, with the
//!   tax the platform states on them under `fee_tax_type` (Etsy's and eBay's VAT or GST on
//!   fees), else under `untaxed_tax_type`.
//! - **Adjustments** (reserves, chargebacks, currency conversion, anything else) are lines of
//!   the same bill on the account of their kind, untaxed, negative where they added to the
//!   deposit. So are charges and refunds that name no order: no booked payment put their
//!   money into clearing, so it goes to the `other` adjustment account.
//! - The bill (a supplier credit note when adjustments outweigh the fees) is paid from the
//!   clearing account, and the deposit moves from clearing to the bank account of its
//!   currency. Clearing then holds nothing of the payout: it received the booked payments,
//!   paid the booked refunds, and paid out `fees − adjustments + deposit`, their difference.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;
use time::Date;
use xcs_shared::Platform;
use xcs_shared::domain::{AdjustmentKind, Payout};

/// `[shops.NAME.mapping.payouts]`: where a shop's payouts go in Xero. Required with
/// `payouts = true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayoutMapping {
    /// The account the platform's order payments go into and its payouts empty; defaults to
    /// `accounts.clearing`. A BANK account (the payout is a bank transfer from it) or one with
    /// payments enabled (the payout is money received in the bank, coded to it).
    #[serde(default)]
    pub clearing: Option<String>,
    /// The BANK account each payout currency is deposited to (`NZD = "090"`).
    pub bank_accounts: BTreeMap<String, String>,
    /// The expense account for fees whose kind `fee_accounts` does not name.
    pub fees: String,
    /// Fee accounts by the platform's name for the fee (Shopify's balance transaction type,
    /// Etsy's ledger entry type, eBay's fee type; `processing` for the fees of charges,
    /// `refund` for those of refunds), compared case-insensitively.
    #[serde(default)]
    pub fee_accounts: BTreeMap<String, String>,
    /// The Xero tax type of fees the platform charges tax on (an input tax, e.g. `INPUT2`).
    /// Needed once such a fee is booked.
    #[serde(default)]
    pub fee_tax_type: Option<String>,
    /// The Xero tax type of fees without tax, and of adjustments. Default `NONE`.
    #[serde(default = "default_untaxed")]
    pub untaxed_tax_type: String,
    pub adjustments: AdjustmentAccounts,
    /// The Xero contact the fees bill is made out to; default the platform's payments
    /// service ("Shopify Payments", "Etsy Payments", "eBay Managed Payments").
    #[serde(default)]
    pub contact: Option<String>,
    /// `payout` (the default): a fees bill per payout. `day`: one per day, for the payouts the
    /// bank shows that day.
    #[serde(default)]
    pub fees_per: FeesPer,
    /// How often a held payout looks again for what it is missing. Default 600.
    #[serde(default)]
    pub hold_recheck_secs: Option<u64>,
    /// How long a payout is held before it is dead-lettered (`payout_unexplained`) for an
    /// operator. Default 168 (a week).
    #[serde(default)]
    pub hold_max_hours: Option<u64>,
}

fn default_untaxed() -> String {
    "NONE".to_owned()
}

/// Accounts for what a payout moves that is neither a payment nor a fee.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentAccounts {
    /// Anything without an account of its own below.
    pub other: String,
    /// Funds held back against refunds and chargebacks, and their release: usually a current
    /// asset ("Reserve held by Shopify").
    #[serde(default)]
    pub reserve: Option<String>,
    /// Charges taken back for disputes, and returned when won.
    #[serde(default)]
    pub chargeback: Option<String>,
    /// Conversion differences.
    #[serde(default)]
    pub currency_conversion: Option<String>,
}

/// How fees are grouped into bills.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeesPer {
    #[default]
    Payout,
    Day,
}

impl PayoutMapping {
    /// The account the payouts empty.
    pub fn clearing<'a>(&'a self, accounts: &'a crate::mapping::Accounts) -> &'a str {
        self.clearing.as_deref().unwrap_or(&accounts.clearing)
    }

    /// The bank account of a currency.
    pub fn bank_account(&self, currency: &str) -> Option<&str> {
        self.bank_accounts
            .iter()
            .find(|(code, _)| code.eq_ignore_ascii_case(currency))
            .map(|(_, account)| account.as_str())
    }

    fn fee_account(&self, kind: &str) -> &str {
        self.fee_accounts
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(kind))
            .map_or(&self.fees, |(_, account)| account)
    }

    fn adjustment_account(&self, kind: &AdjustmentKind) -> &str {
        let own = match kind {
            AdjustmentKind::Reserve => &self.adjustments.reserve,
            AdjustmentKind::Chargeback => &self.adjustments.chargeback,
            AdjustmentKind::CurrencyConversion => &self.adjustments.currency_conversion,
            AdjustmentKind::Other(_) => &None,
        };
        own.as_deref().unwrap_or(&self.adjustments.other)
    }

    /// The contact of the fees bills.
    pub fn contact(&self, platform: Platform) -> String {
        self.contact.clone().unwrap_or_else(|| {
            match platform {
                Platform::Shopify => "Shopify Payments",
                Platform::Etsy => "Etsy Payments",
                Platform::Ebay => "eBay Managed Payments",
                Platform::WooCommerce => "WooCommerce Payments",
                Platform::BigCommerce => "BigCommerce Payments",
                Platform::Magento => "Adobe Commerce Payments",
            }
            .to_owned()
        })
    }

    pub fn hold_recheck(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.hold_recheck_secs.unwrap_or(600))
    }

    pub fn hold_max(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.hold_max_hours.unwrap_or(168) * 3600)
    }
}

/// One line of a fees bill: tax-exclusive, with the tax the platform stated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    pub description: String,
    pub account: String,
    pub tax_type: String,
    /// Before tax.
    pub amount: Decimal,
    pub tax: Decimal,
}

/// The fees and adjustments of a settlement, as one Xero purchase document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// `{prefix}PO-{payout id}`, or `{prefix}PO-{date}-{currency}-{digest of its payouts}` for a
    /// day's.
    pub number: String,
    pub date: Date,
    pub currency: String,
    /// Lines as a bill's: a fee positive, an adjustment that added to the deposit negative.
    pub lines: Vec<BillLine>,
}

impl Bill {
    /// With tax: positive is a bill the clearing account pays, negative a supplier credit it
    /// is refunded.
    pub fn total(&self) -> Decimal {
        self.lines.iter().map(|l| l.amount + l.tax).sum()
    }
}

/// Why a settlement cannot be mapped: the mapping lacks what it needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutMappingError {
    #[error(
        "the payout is in {currency} and [shops.NAME.mapping.payouts] bank_accounts names no \
         bank account for {currency}; add {currency} = \"<BANK account code>\""
    )]
    NoBankAccount { currency: String },
    #[error(
        "the {kind} fees carry {tax} of tax and [shops.NAME.mapping.payouts] has no \
         fee_tax_type; set it to the Xero input tax type the platform charges (e.g. INPUT2)"
    )]
    NoFeeTaxType { kind: String, tax: Decimal },
    #[error(
        "the payouts' clearing account code {code:?} cannot be looked up in Xero; fix \
         [shops.NAME.mapping.payouts] clearing (or accounts.clearing)"
    )]
    BadAccountCode { code: String },
    #[error(
        "the payouts' clearing account {code} is not in the Xero organisation's chart of \
         accounts; create it (a BANK account, or one with payments enabled) or fix \
         [shops.NAME.mapping.payouts] clearing"
    )]
    AccountMissing { code: String },
}

/// The bill of `payouts` (one payout, or a day's of one currency), `None` when nothing in them
/// is a fee or an adjustment.
///
/// # Errors
/// [`PayoutMappingError::NoFeeTaxType`].
pub fn bill(
    mapping: &PayoutMapping,
    prefix: &str,
    number_of: &str,
    date: Date,
    payouts: &[Payout],
) -> Result<Option<Bill>, PayoutMappingError> {
    // (description, account, taxed) → (amount with tax, tax)
    let mut lines: BTreeMap<(String, String, bool), (Decimal, Decimal)> = BTreeMap::new();
    let mut add = |description: String, account: &str, amount: Decimal, tax: Option<Decimal>| {
        let tax = tax.unwrap_or_default();
        let entry = lines
            .entry((description, account.to_owned(), !tax.is_zero()))
            .or_default();
        entry.0 += amount;
        entry.1 += tax;
    };
    let currency = payouts
        .first()
        .map(|p| p.currency.as_str().to_owned())
        .unwrap_or_default();
    for payout in payouts {
        let platform = payout.platform.display_name();
        for charge in &payout.charges {
            add(
                format!("{platform} processing fees"),
                mapping.fee_account("processing"),
                charge.fee,
                None,
            );
            if charge.order_id.is_none() {
                add(
                    format!("{platform} charges without an order"),
                    &mapping.adjustments.other,
                    -charge.gross,
                    None,
                );
            }
        }
        for refund in &payout.refunds {
            add(
                format!("{platform} refund fees"),
                mapping.fee_account("refund"),
                refund.fee,
                None,
            );
            if refund.order_id.is_none() {
                add(
                    format!("{platform} refunds without an order"),
                    &mapping.adjustments.other,
                    refund.amount,
                    None,
                );
            }
        }
        for fee in &payout.fees {
            add(
                format!("{platform} fees: {}", fee.kind),
                mapping.fee_account(&fee.kind),
                fee.amount,
                fee.tax,
            );
        }
        for adjustment in &payout.adjustments {
            let kind = match &adjustment.kind {
                AdjustmentKind::Reserve => "reserve".to_owned(),
                AdjustmentKind::Chargeback => "chargeback".to_owned(),
                AdjustmentKind::CurrencyConversion => "currency conversion".to_owned(),
                AdjustmentKind::Other(name) => name.clone(),
            };
            add(
                format!("{platform} {kind}"),
                mapping.adjustment_account(&adjustment.kind),
                -adjustment.amount,
                None,
            );
        }
    }
    let mut bill_lines = Vec::new();
    for ((description, account, taxed), (amount, tax)) in lines {
        if amount.is_zero() && tax.is_zero() {
            continue;
        }
        let tax_type = if taxed {
            mapping
                .fee_tax_type
                .clone()
                .ok_or_else(|| PayoutMappingError::NoFeeTaxType {
                    kind: description.clone(),
                    tax,
                })?
        } else {
            mapping.untaxed_tax_type.clone()
        };
        bill_lines.push(BillLine {
            description,
            account,
            tax_type,
            amount: amount - tax,
            tax,
        });
    }
    if bill_lines.is_empty() {
        return Ok(None);
    }
    Ok(Some(Bill {
        number: format!("{prefix}PO-{number_of}"),
        date,
        currency,
        lines: bill_lines,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use xcs_shared::domain::{
        PayoutAdjustment, PayoutCharge, PayoutFee, PayoutRefund, PayoutStatus,
    };

    fn mapping() -> PayoutMapping {
        toml::from_str(
            r#"
            bank_accounts = { NZD = "090" }
            fees = "404"
            fee_accounts = { listing = "405" }
            fee_tax_type = "INPUT2"
            adjustments = { other = "830", reserve = "820" }
            "#,
        )
        .unwrap()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn payout() -> Payout {
        Payout {
            platform: Platform::Etsy,
            payout_id: "77".into(),
            status: PayoutStatus::Paid,
            date: time::macros::date!(2026 - 11 - 30),
            currency: "NZD".to_owned().try_into().unwrap(),
            amount: d("150.30"),
            charges: vec![
                PayoutCharge {
                    order_id: Some("1".into()),
                    reference: None,
                    gross: d("100.00"),
                    fee: d("3.20"),
                },
                PayoutCharge {
                    order_id: None,
                    reference: None,
                    gross: d("80.00"),
                    fee: d("2.50"),
                },
            ],
            refunds: vec![PayoutRefund {
                order_id: Some("1".into()),
                reference: None,
                amount: d("10.00"),
                fee: d("-0.30"),
            }],
            fees: vec![
                PayoutFee {
                    kind: "listing".into(),
                    amount: d("0.23"),
                    tax: Some(d("0.03")),
                    reference: None,
                },
                PayoutFee {
                    kind: "listing".into(),
                    amount: d("0.23"),
                    tax: Some(d("0.03")),
                    reference: None,
                },
                PayoutFee {
                    kind: "ads".into(),
                    amount: d("5.00"),
                    tax: None,
                    reference: None,
                },
            ],
            adjustments: vec![PayoutAdjustment {
                kind: AdjustmentKind::Reserve,
                amount: d("-8.84"),
                source_id: None,
                order_id: None,
            }],
        }
    }

    #[test]
    fn fees_and_adjustments_become_one_bill_that_empties_clearing_of_the_payout() {
        let payout = payout();
        assert!(payout.difference().is_zero(), "{}", payout.difference());
        let bill = bill(
            &mapping(),
            "ET-",
            "77",
            payout.date,
            std::slice::from_ref(&payout),
        )
        .unwrap()
        .unwrap();
        assert_eq!(bill.number, "ET-PO-77");
        let find = |description: &str| {
            bill.lines
                .iter()
                .find(|l| l.description == description)
                .unwrap_or_else(|| panic!("no {description} in {:?}", bill.lines))
        };
        assert_eq!(find("Etsy processing fees").amount, d("5.70"));
        assert_eq!(find("Etsy refund fees").amount, d("-0.30"));
        let listing = find("Etsy fees: listing");
        assert_eq!(
            (
                listing.account.as_str(),
                listing.amount,
                listing.tax,
                listing.tax_type.as_str()
            ),
            ("405", d("0.40"), d("0.06"), "INPUT2")
        );
        let ads = find("Etsy fees: ads");
        assert_eq!(
            (ads.account.as_str(), ads.tax_type.as_str()),
            ("404", "NONE")
        );
        assert_eq!(find("Etsy reserve").amount, d("8.84"));
        let orderless = find("Etsy charges without an order");
        assert_eq!(
            (orderless.account.as_str(), orderless.amount),
            ("830", d("-80.00"))
        );
        // Clearing holds the booked payment less the booked refund; it pays the bill and the
        // deposit, which together are exactly that.
        let through_clearing = d("100.00") - d("10.00");
        assert_eq!(bill.total() + payout.amount, through_clearing);
    }

    #[test]
    fn taxed_fees_need_a_fee_tax_type_and_a_payout_of_payments_only_has_no_bill() {
        let mut mapping = mapping();
        mapping.fee_tax_type = None;
        let payout = payout();
        let err = bill(
            &mapping,
            "ET-",
            "77",
            payout.date,
            std::slice::from_ref(&payout),
        )
        .unwrap_err();
        assert!(
            matches!(err, PayoutMappingError::NoFeeTaxType { .. }),
            "{err}"
        );
        let bare = Payout {
            charges: vec![PayoutCharge {
                order_id: Some("1".into()),
                reference: None,
                gross: d("10"),
                fee: Decimal::ZERO,
            }],
            refunds: vec![],
            fees: vec![],
            adjustments: vec![],
            amount: d("10"),
            ..payout
        };
        assert_eq!(
            bill(
                &mapping,
                "ET-",
                "77",
                bare.date,
                std::slice::from_ref(&bare)
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn accounts_are_found_by_kind_case_insensitively_with_defaults() {
        let mapping = mapping();
        assert_eq!(mapping.fee_account("Listing"), "405");
        assert_eq!(mapping.fee_account("offsite_ads"), "404");
        assert_eq!(mapping.adjustment_account(&AdjustmentKind::Reserve), "820");
        assert_eq!(
            mapping.adjustment_account(&AdjustmentKind::Chargeback),
            "830"
        );
        assert_eq!(mapping.bank_account("nzd"), Some("090"));
        assert_eq!(mapping.bank_account("AUD"), None);
        assert_eq!(mapping.contact(Platform::Shopify), "Shopify Payments");
    }
}
