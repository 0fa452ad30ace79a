//! Xero's arithmetic: line amounts, per-line tax rounded to 2 dp, document totals.
//!
//! Xero computes tax per line and rounds each line to two decimal places before summing
//! ("Rounding in Xero", developer.xero.com/documentation/api-guides/rounding-in-xero; "Tax and
//! the Xero API", developer.xero.com/documentation/api-guides/tax-in-xero: "each line's tax is
//! calculated and rounded separately"), which is why its total can differ by a cent from a shop
//! that taxes the subtotal. Exclusive lines are taxed `LineAmount × rate`, inclusive ones
//! `LineAmount × rate / (1 + rate)`. The rounding mode of the tax is not documented (xero.md
//! §4, §10.5: UNSURE): [`TaxRounding`] has both readings, midpoint away from zero by default.

use rust_decimal::{Decimal, RoundingStrategy};

/// How line amounts relate to tax (`LineAmountTypes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineAmountTypes {
    /// Line amounts exclude tax; tax is added on top. Xero's default.
    Exclusive,
    /// Line amounts include tax; tax is carved out of them.
    Inclusive,
    /// No tax at all.
    NoTax,
}

impl LineAmountTypes {
    /// Parses Xero's spelling, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "exclusive" => Some(Self::Exclusive),
            "inclusive" => Some(Self::Inclusive),
            "notax" => Some(Self::NoTax),
            _ => None,
        }
    }

    /// Xero's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exclusive => "Exclusive",
            Self::Inclusive => "Inclusive",
            Self::NoTax => "NoTax",
        }
    }
}

/// Rounds to `dp` decimal places, midpoint away from zero, and pins the scale so the value
/// prints with exactly `dp` places (Xero prints `40.00`, not `40`).
pub fn round_dp(value: Decimal, dp: u32) -> Decimal {
    let mut rounded = value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    rounded.rescale(dp);
    rounded
}

/// Money is always shown and summed at 2 dp.
pub fn round2(value: Decimal) -> Decimal {
    round_dp(value, 2)
}

/// A line's discount, as Xero accepts it (one or the other, never both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discount {
    /// No discount.
    None,
    /// A percentage, `DiscountRate`.
    Rate(Decimal),
    /// An absolute amount off the line, `DiscountAmount`.
    Amount(Decimal),
}

/// `LineAmount = Quantity × UnitAmount − DiscountAmount`, or `× (100 − DiscountRate) / 100`,
/// rounded to 2 dp (Xero's `LineItem.LineAmount` description).
pub fn line_amount(quantity: Decimal, unit_amount: Decimal, discount: Discount) -> Decimal {
    let gross = quantity * unit_amount;
    round2(match discount {
        Discount::None => gross,
        Discount::Amount(amount) => gross - amount,
        Discount::Rate(rate) => gross * (Decimal::ONE_HUNDRED - rate) / Decimal::ONE_HUNDRED,
    })
}

/// The discount a line carries in money, for `TotalDiscount`.
pub fn discount_value(quantity: Decimal, unit_amount: Decimal, discount: Discount) -> Decimal {
    match discount {
        Discount::None => Decimal::ZERO,
        Discount::Amount(amount) => round2(amount),
        Discount::Rate(rate) => round2(quantity * unit_amount * rate / Decimal::ONE_HUNDRED),
    }
}

/// How a line's tax is rounded to cents: Xero does not say (xero.md §4 "Rounding mode", §10.5:
/// UNSURE; one vendor claims banker's rounding, its own examples contradict it), so the
/// simulator can be run with either, and a client must be right under both.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaxRounding {
    /// Half a cent rounds away from zero (0.125 → 0.13). The default.
    #[default]
    MidpointAwayFromZero,
    /// Half a cent rounds to the even cent (0.125 → 0.12, 0.135 → 0.14): banker's rounding.
    MidpointNearestEven,
}

impl TaxRounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Self::MidpointAwayFromZero => RoundingStrategy::MidpointAwayFromZero,
            Self::MidpointNearestEven => RoundingStrategy::MidpointNearestEven,
        }
    }
}

/// Tax on one line, rounded to 2 dp the `rounding` way. `rate_percent` is the tax rate's
/// `EffectiveRate` (15 for 15%).
pub fn line_tax(
    line_amount: Decimal,
    rate_percent: Decimal,
    types: LineAmountTypes,
    rounding: TaxRounding,
) -> Decimal {
    let rate = rate_percent / Decimal::ONE_HUNDRED;
    let exact = match types {
        LineAmountTypes::Exclusive => line_amount * rate,
        LineAmountTypes::Inclusive => line_amount * rate / (Decimal::ONE + rate),
        LineAmountTypes::NoTax => Decimal::ZERO,
    };
    let mut rounded = exact.round_dp_with_strategy(2, rounding.strategy());
    rounded.rescale(2);
    rounded
}

/// A document's summary amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sum of the lines without tax.
    pub sub_total: Decimal,
    /// Sum of the per-line (already rounded) tax amounts.
    pub total_tax: Decimal,
    /// `SubTotal + TotalTax`.
    pub total: Decimal,
}

/// Sums lines given as `(LineAmount, TaxAmount)` pairs. For inclusive documents the line
/// amounts already contain the tax, so the subtotal is what is left after taking it out.
pub fn totals(lines: &[(Decimal, Decimal)], types: LineAmountTypes) -> Totals {
    let amounts: Decimal = lines.iter().map(|(amount, _)| *amount).sum();
    let total_tax: Decimal = lines.iter().map(|(_, tax)| *tax).sum();
    let (sub_total, total) = match types {
        LineAmountTypes::Inclusive => (amounts - total_tax, amounts),
        LineAmountTypes::Exclusive | LineAmountTypes::NoTax => (amounts, amounts + total_tax),
    };
    Totals {
        sub_total: round2(sub_total),
        total_tax: round2(total_tax),
        total: round2(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().expect("a decimal literal")
    }

    #[test]
    fn tax_rounded_per_line_differs_from_tax_on_the_subtotal_as_in_xeros_example() {
        // Three lines at 15% with a 76.30 subtotal: Xero's per-line tax is 11.44, while tax on
        // the subtotal would be 11.45 (developer.xero.com rounding guide).
        let lines: Vec<(Decimal, Decimal)> = [dec("10.01"), dec("10.01"), dec("56.28")]
            .into_iter()
            .map(|amount| {
                (
                    amount,
                    line_tax(
                        amount,
                        dec("15"),
                        LineAmountTypes::Exclusive,
                        TaxRounding::default(),
                    ),
                )
            })
            .collect();
        let t = totals(&lines, LineAmountTypes::Exclusive);
        assert_eq!(t.sub_total, dec("76.30"));
        assert_eq!(t.total_tax, dec("11.44"));
        assert_eq!(round2(dec("76.30") * dec("0.15")), dec("11.45"));
        assert_eq!(t.total, dec("87.74"));
    }

    #[test]
    fn inclusive_tax_is_carved_out_of_the_line() {
        let inclusive = |amount: &str| {
            line_tax(
                dec(amount),
                dec("15"),
                LineAmountTypes::Inclusive,
                TaxRounding::default(),
            )
        };
        assert_eq!(inclusive("115"), dec("15.00"));
        assert_eq!(inclusive("19.99"), dec("2.61"));
    }

    #[test]
    fn tax_is_rounded_per_line_on_both_bases_as_the_tax_guide_computes_it() {
        let tax = |amount: &str, rate: &str, types| {
            line_tax(dec(amount), dec(rate), types, TaxRounding::default())
        };
        // "Tax and the Xero API": 45.45 at 10% is 4.545 a line, 4.55 rounded; two lines 9.10.
        assert_eq!(tax("45.45", "10", LineAmountTypes::Exclusive), dec("4.55"));
        // The same money entered inclusive: 49.995 is not a price, 50.00 at 10% carries
        // 4.545454…, 4.55; 49.99 carries 4.544545…, 4.54.
        assert_eq!(tax("50.00", "10", LineAmountTypes::Inclusive), dec("4.55"));
        assert_eq!(tax("49.99", "10", LineAmountTypes::Inclusive), dec("4.54"));
        // An AU coffee sale of 10.74 inclusive of 10% GST carries 0.976…, 0.98 (SENPOS sent
        // 0.99 and was flagged, xero.md §4).
        assert_eq!(tax("10.74", "10", LineAmountTypes::Inclusive), dec("0.98"));
        // Negative lines (discounts) round symmetrically.
        assert_eq!(
            tax("-45.45", "10", LineAmountTypes::Exclusive),
            dec("-4.55")
        );
        assert_eq!(tax("100", "15", LineAmountTypes::NoTax), dec("0.00"));
    }

    #[test]
    fn the_two_readings_of_the_rounding_mode_differ_only_on_half_cents() {
        let both = |amount: &str| {
            [
                TaxRounding::MidpointAwayFromZero,
                TaxRounding::MidpointNearestEven,
            ]
            .map(|r| line_tax(dec(amount), dec("10"), LineAmountTypes::Exclusive, r))
        };
        // 1.25 × 10% = 0.125: away from zero 0.13, to even 0.12.
        assert_eq!(both("1.25"), [dec("0.13"), dec("0.12")]);
        // 1.35 × 10% = 0.135: both 0.14.
        assert_eq!(both("1.35"), [dec("0.14"), dec("0.14")]);
        assert_eq!(both("1.26"), [dec("0.13"), dec("0.13")]);
    }

    #[test]
    fn discounts_reduce_the_line_amount() {
        assert_eq!(
            line_amount(dec("2"), dec("19.99"), Discount::Amount(dec("2"))),
            dec("37.98")
        );
        assert_eq!(
            line_amount(dec("1"), dec("2120.44"), Discount::Rate(dec("10"))),
            dec("1908.40")
        );
    }

    #[test]
    fn midpoints_round_away_from_zero() {
        assert_eq!(round2(dec("0.125")), dec("0.13"));
        assert_eq!(round2(dec("-0.125")), dec("-0.13"));
        assert_eq!(round2(dec("5")).to_string(), "5.00");
    }
}
