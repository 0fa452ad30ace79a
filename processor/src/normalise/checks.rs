//! What a normalised document must look like before anything is booked from it: checks on
//! the result rather than on any one platform's fields, so a hostile or broken payload that
//! every normaliser reads "successfully" still cannot become a wrong booking.
//!
//! - **Quantities** on product and gift-card lines are not negative: an order sells, a refund
//!   credits (its lines are positive by this module's convention), and no platform documents a
//!   negative quantity on either. Fractional quantities are allowed (Adobe Commerce sells by
//!   decimal quantity); the mapping books one that Xero cannot hold as a single amount.
//! - **Dates** fall between [`EARLIEST_DATE`] and two days after `today` (time zones: a
//!   shop's local date can be a day ahead of UTC). A document dated decades ago, or in the
//!   future, is a broken payload or clock, not a sale to book into a closed or unopened
//!   period.
//! - **Text** holds no control characters: PostgreSQL cannot store NUL and Xero refuses
//!   control characters, so in names, descriptions, labels and references they become spaces
//!   ([`clean_order`], [`clean_refund`], [`clean_stock`]); in identifiers (order, refund and item
//!   ids, order numbers), where changing a character could make two documents one, they make
//!   the document implausible.
//! - **Amounts** are bounded where they are parsed ([`MAX_AMOUNT`]), and currencies are
//!   checked against ISO 4217 where they are read ([`super::is_iso_4217`]).

use rust_decimal::Decimal;
use time::{Date, Duration};
use xcs_shared::Platform;
use xcs_shared::domain::{Line, LineKind, Order, Payment, PaymentMethod, Refund, StockChange};

use super::NormaliseError;

/// No platform here sold anything before this date; an earlier one is a broken timestamp.
pub const EARLIEST_DATE: Date = time::macros::date!(2000 - 01 - 01);

/// How far after today (UTC) a document may be dated: a shop's local date runs up to a day
/// ahead of UTC, and a day more covers clock skew.
pub const FUTURE_SLACK_DAYS: i64 = 2;

/// The largest magnitude an amount or quantity may have: a trillion. Larger figures are no
/// real sale, and keeping every figure below it keeps the arithmetic on them (quantity ×
/// price, sums of lines) far from `Decimal`'s limit of about 7.9 × 10^28.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// The most decimal places an amount or quantity may have. Platforms send at most 4 (unit
/// prices) to 6 (tax rates); more cannot be booked and, on a divisor, could overflow.
pub const MAX_SCALE: u32 = 10;

/// Checks an order before it is booked.
///
/// # Errors
/// [`NormaliseError::Implausible`] saying what is wrong.
pub fn check_order(order: &Order, today: Date) -> Result<(), NormaliseError> {
    let document = format!("order {}", order.number);
    check_date(order.platform, &document, order.date, today)?;
    check_lines(order.platform, &document, &order.lines)?;
    for payment in &order.payments {
        check_date(order.platform, &document, payment.date, today)?;
    }
    Ok(())
}

/// Checks a refund before it is booked.
///
/// # Errors
/// [`NormaliseError::Implausible`] saying what is wrong.
pub fn check_refund(refund: &Refund, today: Date) -> Result<(), NormaliseError> {
    let document = format!(
        "refund {} of order {}",
        refund.refund_id, refund.order_number
    );
    check_date(refund.platform, &document, refund.date, today)?;
    check_lines(refund.platform, &document, &refund.lines)?;
    for payment in &refund.returned {
        check_date(refund.platform, &document, payment.date, today)?;
    }
    Ok(())
}

/// Cleans an order's text (see the module docs).
///
/// # Errors
/// [`NormaliseError::Implausible`] for an identifier with a control character.
pub fn clean_order(order: &mut Order) -> Result<(), NormaliseError> {
    let document = format!("order {}", order.number.escape_debug());
    identifier(order.platform, &document, "order id", &order.order_id)?;
    identifier(order.platform, &document, "order number", &order.number)?;
    if let Some(customer) = &mut order.customer {
        for text in [&mut customer.id, &mut customer.email, &mut customer.name]
            .into_iter()
            .flatten()
        {
            clean(text);
        }
    }
    clean_lines(&mut order.lines);
    clean_payments(&mut order.payments);
    Ok(())
}

/// Cleans a refund's text (see the module docs).
///
/// # Errors
/// [`NormaliseError::Implausible`] for an identifier with a control character.
pub fn clean_refund(refund: &mut Refund) -> Result<(), NormaliseError> {
    let document = format!(
        "refund {} of order {}",
        refund.refund_id.escape_debug(),
        refund.order_number.escape_debug()
    );
    for (what, value) in [
        ("refund id", &refund.refund_id),
        ("order id", &refund.order_id),
        ("order number", &refund.order_number),
    ] {
        identifier(refund.platform, &document, what, value)?;
    }
    clean_lines(&mut refund.lines);
    clean_payments(&mut refund.returned);
    Ok(())
}

/// Cleans stock changes' text (see the module docs).
///
/// # Errors
/// [`NormaliseError::Implausible`] for an item id with a control character.
pub fn clean_stock(changes: &mut [StockChange]) -> Result<(), NormaliseError> {
    for change in changes {
        let document = format!("stock item {}", change.item_id.escape_debug());
        identifier(change.platform, &document, "item id", &change.item_id)?;
        // Bodies the processor publishes itself (polled levels) are read by serde, not by the
        // bounded parser: bound them here too, so a level's sums stay far from `Decimal`'s limit.
        let level = match change.level {
            xcs_shared::domain::StockLevel::Absolute(q)
            | xcs_shared::domain::StockLevel::Delta(q) => q,
        };
        for (what, value) in [("level", Some(level)), ("unit cost", change.unit_cost)] {
            if let Some(value) = value
                && (value.abs() > MAX_AMOUNT || value.normalize().scale() > MAX_SCALE)
            {
                return Err(NormaliseError::Implausible {
                    platform: change.platform,
                    document,
                    message: format!("its {what} {value} is no real stock figure"),
                });
            }
        }
        for text in [&mut change.sku, &mut change.location]
            .into_iter()
            .flatten()
        {
            clean(text);
        }
    }
    Ok(())
}

fn clean_lines(lines: &mut [Line]) {
    for line in lines {
        clean(&mut line.description);
        for text in [&mut line.sku, &mut line.tax_label].into_iter().flatten() {
            clean(text);
        }
    }
}

fn clean_payments(payments: &mut [Payment]) {
    for payment in payments {
        if let PaymentMethod::Gateway { name } = &mut payment.method {
            clean(name);
        }
        if let Some(reference) = &mut payment.reference {
            clean(reference);
        }
    }
}

/// Control characters become spaces.
fn clean(text: &mut String) {
    if text.chars().any(char::is_control) {
        *text = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
}

fn identifier(
    platform: Platform,
    document: &str,
    what: &str,
    value: &str,
) -> Result<(), NormaliseError> {
    match value.chars().find(|c| c.is_control()) {
        None => Ok(()),
        Some(c) => Err(NormaliseError::Implausible {
            platform,
            document: document.to_owned(),
            message: format!(
                "its {what} {value:?} holds the control character {c:?}; no platform issues such \
                 ids"
            ),
        }),
    }
}

fn check_date(
    platform: Platform,
    document: &str,
    date: Date,
    today: Date,
) -> Result<(), NormaliseError> {
    let latest = today.saturating_add(Duration::days(FUTURE_SLACK_DAYS));
    if date < EARLIEST_DATE || date > latest {
        return Err(NormaliseError::Implausible {
            platform,
            document: document.to_owned(),
            message: format!(
                "it is dated {date}, outside {EARLIEST_DATE} to {latest}: a broken timestamp, \
                 not a sale to book"
            ),
        });
    }
    Ok(())
}

fn check_lines(platform: Platform, document: &str, lines: &[Line]) -> Result<(), NormaliseError> {
    for (index, line) in lines.iter().enumerate() {
        let sold = matches!(line.kind, LineKind::Product | LineKind::GiftCardSale);
        if sold && line.quantity.is_sign_negative() && !line.quantity.is_zero() {
            return Err(NormaliseError::Implausible {
                platform,
                document: document.to_owned(),
                message: format!(
                    "line {} ({:?}) has the negative quantity {}; no platform documents one on \
                     an order or refund line",
                    index + 1,
                    line.description,
                    line.quantity
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::macros::date;

    use super::*;
    use crate::error::ProcessError;
    use crate::normalise::test_support::{d, edited};
    use crate::platforms::shopify::normalise as shopify;

    const TODAY: Date = date!(2026 - 11 - 27);

    fn order_with(edit: impl FnOnce(&mut serde_json::Value)) -> Result<Order, NormaliseError> {
        shopify::order(&edited("shopify/order_usd_paid.json", edit))
    }

    #[test]
    fn the_amount_bound_is_a_trillion() {
        assert_eq!(MAX_AMOUNT, Decimal::from(1_000_000_000_000_i64));
    }

    #[test]
    fn the_fixture_passes() {
        check_order(&order_with(|_| {}).unwrap(), TODAY).unwrap();
    }

    /// Fuzzing finding (normalise_shopify): a price of `Decimal::MAX` times a quantity of 2
    /// panicked with "Multiplication overflowed", which took the processor's shard consumer
    /// down and left the event to be redelivered to the next one.
    #[test]
    fn an_amount_near_decimals_limit_is_refused_before_any_arithmetic() {
        for price in [
            json!("79228162514264337593543950335"),
            json!("1000000000000.01"),
            json!("0.00000000001"),
        ] {
            let err = order_with(|o| {
                o["line_items"][0]["quantity"] = json!(2);
                o["line_items"][0]["price"] = price.clone();
            })
            .unwrap_err();
            assert!(
                err.to_string().contains("`line_items[0].price` is")
                    && err.to_string().contains("10^12"),
                "{price}: {err}"
            );
        }
        let max = order_with(|o| o["line_items"][0]["price"] = json!("1000000000000")).unwrap();
        assert_eq!(max.lines[0].unit_price, d("1000000000000"));
    }

    #[test]
    fn numbers_beyond_decimal_are_unparseable_not_rounded() {
        for total in ["1e400", "99999999999999999999999999999", "-1e400"] {
            let body = String::from_utf8(edited("shopify/order_usd_paid.json", |_| {}))
                .unwrap()
                .replacen(
                    "\"total_price\":\"210.34\"",
                    &format!("\"total_price\":{total}"),
                    1,
                );
            assert!(body.contains(total), "{total}");
            let err = shopify::order(body.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, NormaliseError::Invalid { field, .. } if field == "total_price"),
                "{total}: {err}"
            );
            assert_eq!(ProcessError::from(err).reason(), "unparseable_payload");
        }
    }

    #[test]
    fn three_letters_that_are_no_iso_4217_currency_are_refused() {
        for code in ["QQQ", "XXX", "XTS", "ABC"] {
            let err = order_with(|o| {
                o["currency"] = json!(code);
                o["presentment_currency"] = json!(code);
            })
            .unwrap_err();
            assert!(
                matches!(err, NormaliseError::Currency { .. }),
                "{code}: {err}"
            );
        }
        for code in ["usd", "EUR", "XOF", "HRK"] {
            order_with(|o| {
                o["currency"] = json!(code);
                o["presentment_currency"] = json!(code);
            })
            .unwrap_or_else(|err| panic!("{code}: {err}"));
        }
    }

    #[test]
    fn a_stock_level_or_cost_beyond_the_amount_bound_is_implausible() {
        use xcs_shared::domain::StockLevel;
        let change = |level: Decimal, unit_cost: Option<Decimal>| StockChange {
            platform: Platform::Etsy,
            item_id: "MUG".into(),
            sku: Some("MUG".into()),
            location: None,
            level: StockLevel::Absolute(level),
            unit_cost,
            as_of: None,
            name: None,
        };
        assert!(clean_stock(&mut [change(Decimal::from(12), Some(Decimal::new(825, 2)))]).is_ok());
        for mut odd in [
            change(Decimal::MAX, None),
            change(Decimal::from(3), Some(-Decimal::MAX)),
            change(Decimal::new(1, 20), None),
        ] {
            let err = clean_stock(std::slice::from_mut(&mut odd)).unwrap_err();
            assert!(matches!(err, NormaliseError::Implausible { .. }), "{err}");
        }
    }

    #[test]
    fn a_negative_quantity_is_implausible() {
        let order = order_with(|o| o["line_items"][0]["quantity"] = json!(-1)).unwrap();
        let err = check_order(&order, TODAY).unwrap_err();
        assert!(matches!(err, NormaliseError::Implausible { .. }), "{err}");
        assert!(err.to_string().contains("negative quantity -1"), "{err}");
        let err = ProcessError::from(err);
        assert_eq!(err.reason(), "implausible_payload");
        assert!(!err.is_retryable());
    }

    #[test]
    fn a_fractional_quantity_is_kept() {
        let order = order_with(|o| o["line_items"][0]["quantity"] = json!(1.5)).unwrap();
        check_order(&order, TODAY).unwrap();
        assert_eq!(order.lines[0].quantity, d("1.5"));
    }

    #[test]
    fn dates_decades_ago_or_in_the_future_are_implausible() {
        for (stamp, ok) in [
            ("1970-01-01T00:00:00Z", false),
            ("1999-12-31T23:59:59Z", false),
            ("2000-01-01T00:00:00Z", true),
            ("2026-11-29T23:00:00+13:00", true),
            ("2026-11-30T00:00:00Z", false),
            ("2999-01-01T00:00:00Z", false),
        ] {
            let order = order_with(|o| {
                o["processed_at"] = json!(stamp);
                o["created_at"] = json!(stamp);
            })
            .unwrap();
            let result = check_order(&order, TODAY);
            assert_eq!(result.is_ok(), ok, "{stamp}: {result:?}");
        }
        let order = order_with(|_| {}).unwrap();
        assert!(
            check_order(&order, Date::MAX).is_ok(),
            "no overflow at the end of time"
        );
    }
}
