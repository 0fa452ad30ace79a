//! The six commerce platforms and how their topics map onto the three kinds of event we book.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A commerce platform whose webhooks we accept. The lowercase name is the path segment in
/// `POST /webhooks/{platform}/{shop}` and the value of the `xcs-platform` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Shopify,
    WooCommerce,
    BigCommerce,
    /// Adobe Commerce (Magento 2) through Adobe I/O Events.
    Magento,
    Etsy,
    Ebay,
}

impl Platform {
    pub const ALL: [Platform; 6] = [
        Platform::Shopify,
        Platform::WooCommerce,
        Platform::BigCommerce,
        Platform::Magento,
        Platform::Etsy,
        Platform::Ebay,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Shopify => "shopify",
            Platform::WooCommerce => "woocommerce",
            Platform::BigCommerce => "bigcommerce",
            Platform::Magento => "magento",
            Platform::Etsy => "etsy",
            Platform::Ebay => "ebay",
        }
    }

    /// Which kind of event a platform topic is, or `None` when we do not book that topic.
    ///
    /// `topic` is the platform's own name for the event: Shopify's `X-Shopify-Topic`,
    /// WooCommerce's `X-WC-Webhook-Topic`, BigCommerce's `scope`, Etsy's `event_type`, eBay's
    /// `metadata.topic`, Adobe I/O's CloudEvents `type`. WooCommerce has no refund topic; the
    /// ingress decides that case from the payload (see `classify_woocommerce_order_update`).
    pub fn classify(self, topic: &str) -> Option<EventKind> {
        use EventKind::{Inventory, Order, Refund};
        match self {
            Platform::Shopify => match topic {
                "orders/create" | "orders/updated" | "orders/paid" | "orders/cancelled"
                | "orders/edited" => Some(Order),
                "refunds/create" => Some(Refund),
                "inventory_levels/update"
                | "inventory_levels/connect"
                | "inventory_levels/disconnect" => Some(Inventory),
                _ => None,
            },
            Platform::WooCommerce => match topic {
                "order.created" | "order.updated" | "order.deleted" | "order.restored" => {
                    Some(Order)
                }
                "product.updated"
                | "action.woocommerce_product_set_stock"
                | "action.woocommerce_variation_set_stock" => Some(Inventory),
                _ => None,
            },
            Platform::BigCommerce => match topic {
                "store/order/created"
                | "store/order/updated"
                | "store/order/statusUpdated"
                | "store/order/archived"
                | "store/order/transaction/created"
                | "store/order/transaction/updated" => Some(Order),
                "store/order/refund/created" => Some(Refund),
                "store/product/inventory/updated"
                | "store/product/inventory/order/updated"
                | "store/sku/inventory/updated"
                | "store/sku/inventory/order/updated" => Some(Inventory),
                t if t.starts_with("store/channel/")
                    && t.ends_with("/inventory/product/stock_changed") =>
                {
                    Some(Inventory)
                }
                _ => None,
            },
            Platform::Magento => {
                let event = topic.strip_prefix("com.adobe.commerce.").unwrap_or(topic);
                match event {
                    "observer.sales_order_save_after"
                    | "observer.sales_order_save_commit_after"
                    | "plugin.sales.api.order_management.place"
                    | "observer.sales_order_invoice_save_after" => Some(Order),
                    "observer.sales_order_creditmemo_save_after" => Some(Refund),
                    "observer.cataloginventory_stock_item_save_after"
                    | "observer.cataloginventory_stock_item_save_commit_after" => Some(Inventory),
                    _ => None,
                }
            }
            // Etsy's docs say `ORDER_PAID`, a third-party contract says `order.paid`: accept both.
            Platform::Etsy => match topic.to_ascii_lowercase().replace('_', ".").as_str() {
                "order.paid" | "order.canceled" | "order.cancelled" => Some(Order),
                _ => None,
            },
            Platform::Ebay => match topic {
                "ORDER_CONFIRMATION" => Some(Order),
                _ => None,
            },
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platform named in a URL or header is not one we support.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown platform {0:?}; expected one of shopify, woocommerce, bigcommerce, magento, etsy, ebay"
)]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

/// What a webhook means to the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Order,
    Refund,
    Inventory,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Order => "order",
            EventKind::Refund => "refund",
            EventKind::Inventory => "inventory",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event kind named in a header is not one we know.
#[derive(Debug, thiserror::Error)]
#[error("unknown event kind {0:?}; expected order, refund or inventory")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "order" => Ok(EventKind::Order),
            "refund" => Ok(EventKind::Refund),
            "inventory" => Ok(EventKind::Inventory),
            other => Err(UnknownEventKind(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_names_round_trip() {
        for platform in Platform::ALL {
            assert_eq!(platform.as_str().parse::<Platform>().unwrap(), platform);
        }
        assert!("amazon".parse::<Platform>().is_err());
    }

    #[test]
    fn accounting_topics_are_classified_and_others_are_not() {
        let cases = [
            (Platform::Shopify, "orders/paid", Some(EventKind::Order)),
            (Platform::Shopify, "refunds/create", Some(EventKind::Refund)),
            (
                Platform::Shopify,
                "inventory_levels/update",
                Some(EventKind::Inventory),
            ),
            (Platform::Shopify, "products/update", None),
            (Platform::Shopify, "app/uninstalled", None),
            (
                Platform::WooCommerce,
                "order.created",
                Some(EventKind::Order),
            ),
            (
                Platform::WooCommerce,
                "product.updated",
                Some(EventKind::Inventory),
            ),
            (Platform::WooCommerce, "customer.created", None),
            (
                Platform::BigCommerce,
                "store/order/refund/created",
                Some(EventKind::Refund),
            ),
            (
                Platform::BigCommerce,
                "store/channel/1/inventory/product/stock_changed",
                Some(EventKind::Inventory),
            ),
            (Platform::BigCommerce, "store/customer/created", None),
            (
                Platform::Magento,
                "com.adobe.commerce.observer.sales_order_creditmemo_save_after",
                Some(EventKind::Refund),
            ),
            (
                Platform::Magento,
                "com.adobe.commerce.observer.catalog_product_save_commit_after",
                None,
            ),
            (Platform::Etsy, "ORDER_PAID", Some(EventKind::Order)),
            (Platform::Etsy, "order.paid", Some(EventKind::Order)),
            (Platform::Etsy, "order.shipped", None),
            (Platform::Ebay, "ORDER_CONFIRMATION", Some(EventKind::Order)),
            (Platform::Ebay, "MARKETPLACE_ACCOUNT_DELETION", None),
        ];
        for (platform, topic, expected) in cases {
            assert_eq!(platform.classify(topic), expected, "{platform} {topic}");
        }
    }
}
