//! The commerce platforms, and the kinds of event we book from them. What each platform's
//! webhooks look like is the ingress's business (`ingress/src/platforms/`), what its payloads
//! mean the processor's (`processor/src/platforms/`); here is only what both must agree on.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Declares [`Platform`] from one line per platform, its variant, its lowercase name, the
/// name people know it by and who holds its webhooks' keys, so that adding a platform here is
/// adding that line.
macro_rules! platforms {
    ($($(#[$attr:meta])* $variant:ident = $name:literal ($display:literal, $keys:ident),)+) => {
        /// A commerce platform whose webhooks we accept. The lowercase name is the path segment
        /// in `POST /webhooks/{platform}/{shop}` and the value of the `xcs-platform` header.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        pub enum Platform {
            $($(#[$attr])* #[serde(rename = $name)] $variant,)+
        }

        impl Platform {
            /// Every platform, in the order declared.
            pub const ALL: [Platform; [$(Platform::$variant),+].len()] = [$(Platform::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Platform::$variant => $name,)+
                }
            }

            /// The name people know it by, for reports: "Adobe Commerce", "eBay".
            pub fn display_name(self) -> &'static str {
                match self {
                    $(Platform::$variant => $display,)+
                }
            }

            /// Who holds the keys its webhooks are verified with: which settings of the
            /// ingress's `[shops.NAME]` it needs.
            pub fn webhook_keys(self) -> WebhookKeys {
                match self {
                    $(Platform::$variant => WebhookKeys::$keys,)+
                }
            }
        }
    };
}

platforms! {
    Shopify = "shopify" ("Shopify", SharedSecret),
    WooCommerce = "woocommerce" ("WooCommerce", SharedSecret),
    BigCommerce = "bigcommerce" ("BigCommerce", SharedSecret),
    /// Adobe Commerce (Magento 2) through Adobe I/O Events.
    Magento = "magento" ("Adobe Commerce", PlatformKeys),
    Etsy = "etsy" ("Etsy", SharedSecret),
    Ebay = "ebay" ("eBay", PlatformKeys),
}

/// Who holds the keys a platform's webhooks are verified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKeys {
    /// A secret the shop and the ingress share (`secrets` in `[shops.NAME]`).
    SharedSecret,
    /// The platform signs with its own private key; the ingress fetches the public keys, and
    /// a shop has no secret.
    PlatformKeys,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The platform named in a URL or header is not one we support.
#[derive(Debug, thiserror::Error)]
#[error("unknown platform {0:?}; expected one of {names}", names = Platform::ALL.map(Platform::as_str).join(", "))]
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
    /// A deposit the platform made to the seller's bank, with its fees (read from the
    /// platform's API by the poller; no webhook carries one).
    Payout,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Order => "order",
            EventKind::Refund => "refund",
            EventKind::Inventory => "inventory",
            EventKind::Payout => "payout",
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
#[error("unknown event kind {0:?}; expected order, refund, inventory or payout")]
pub struct UnknownEventKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownEventKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "order" => Ok(EventKind::Order),
            "refund" => Ok(EventKind::Refund),
            "inventory" => Ok(EventKind::Inventory),
            "payout" => Ok(EventKind::Payout),
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
            let json = serde_json::to_string(&platform).unwrap();
            assert_eq!(json, format!("\"{platform}\""), "serde uses the same name");
        }
        let err = "amazon".parse::<Platform>().unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown platform \"amazon\"; expected one of shopify, woocommerce, bigcommerce, \
             magento, etsy, ebay"
        );
    }
}
