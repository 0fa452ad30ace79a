//! The made-up paid order `xcs-processor test-transaction` sends, and the platforms that can
//! carry one: those whose order webhook holds the whole order. The others' webhooks name an
//! order the processor then fetches from the platform, where a made-up one does not exist.
//!
//! A platform that can joins by giving a [`TestOrders`] from its folder and its arm in [`of`].

use rust_decimal::Decimal;
use serde_json::Value;
use xcs_shared::Platform;
use xcs_shared::domain::Order;

use crate::mapping::round2;
use crate::normalise::NormaliseError;

/// One product at 20.00 and shipping at 5.00, taxed at one rate (or untaxed), numbered so it
/// cannot collide with a real order.
pub(crate) struct SampleOrder {
    pub order_id: String,
    pub number: String,
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Percent.
    pub rate: Decimal,
    /// The tax's name; empty for an untaxed order.
    pub label: String,
    pub gateway: String,
}

impl SampleOrder {
    pub const PRODUCT: Decimal = Decimal::from_parts(2000, 0, 0, false, 2);
    pub const SHIPPING: Decimal = Decimal::from_parts(500, 0, 0, false, 2);

    pub fn tax(&self, amount: Decimal) -> Decimal {
        round2(amount * self.rate / Decimal::ONE_HUNDRED)
    }

    pub fn product_tax(&self) -> Decimal {
        self.tax(Self::PRODUCT)
    }

    pub fn shipping_tax(&self) -> Decimal {
        self.tax(Self::SHIPPING)
    }

    pub fn total_tax(&self) -> Decimal {
        self.product_tax() + self.shipping_tax()
    }

    pub fn total(&self) -> Decimal {
        Self::PRODUCT + Self::SHIPPING + self.total_tax()
    }

    pub fn taxed(&self) -> bool {
        !self.label.is_empty()
    }

    /// The order id as the number the platforms send.
    pub fn numeric_id(&self) -> u64 {
        self.order_id.parse().unwrap_or_default()
    }
}

/// How one platform carries the sample order.
pub(crate) struct TestOrders {
    /// The topic of a paid order's webhook.
    pub topic: &'static str,
    /// The webhook body.
    pub body: fn(&SampleOrder) -> Value,
    /// The webhook's headers for shop `shop`, with the body's `signature` (base64 HMAC-SHA256
    /// with the shop's secret) and a fresh `delivery` id.
    pub headers: fn(shop: &str, signature: String, delivery: String) -> Vec<(&'static str, String)>,
    /// The body as the processor reads it, so a mapping that cannot book it is found first.
    pub normalise: fn(&[u8]) -> Result<Order, NormaliseError>,
}

/// The platform's sample orders, or `None` where its webhooks cannot carry one.
pub(crate) fn of(platform: Platform) -> Option<&'static TestOrders> {
    match platform {
        Platform::Shopify => Some(&super::shopify::sample::TEST_ORDERS),
        Platform::WooCommerce => Some(&super::woocommerce::sample::TEST_ORDERS),
        Platform::BigCommerce | Platform::Magento | Platform::Etsy | Platform::Ebay => None,
    }
}

/// The platforms that can carry a sample order, for messages.
pub(crate) fn platforms() -> Vec<&'static str> {
    Platform::ALL
        .into_iter()
        .filter(|platform| of(*platform).is_some())
        .map(Platform::display_name)
        .collect()
}
