//! The tracked shop's store (issue 18): a WooCommerce shop in `inventory = "tracked"` mode,
//! whose small catalogue the run keeps a model of. Its orders take units of the catalogue's
//! SKUs; restocks (a delivery received) and stocktakes (fewer found) change levels with no
//! order. Each change fires a `product.updated` webhook per product it touched, carrying the
//! new level and the product's modification time, and the run's verdict is that Xero's
//! quantity of every SKU ends at the store's level.
//!
//! A change happens in the model when its chain reaches its first step (the order's webhook
//! or one of its stock webhooks, whichever the chain sends first), not when the chain is
//! planned: chains run side by side and late, and the store's levels are those of the changes
//! in the order they happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::json;
use xcs_tests::signer::{self, Delivery};

/// The SKUs the tracked shop sells, and their WooCommerce product ids. Few enough that each
/// is sold often, enough that each is now and then quiet for the settle time during the load,
/// so levels are compared with sales in flight, not only once the load is over.
pub const CATALOGUE: [(&str, u64); 8] = [
    ("KETE-L", 9001),
    ("KETE-M", 9002),
    ("KETE-S", 9003),
    ("PUTE-S", 9004),
    ("PUTE-L", 9005),
    ("PONGA-BOWL", 9006),
    ("PONGA-CUP", 9007),
    ("KOHA-FB", 9008),
];

/// Each SKU's level in the store, and Xero's quantity on hand, when the run starts: enough
/// that no sale finds Xero short (a sale Xero has no stock for waits for a stock event).
pub const OPENING: i64 = 1000;

/// Xero's unit cost of the opening stock.
pub const OPENING_COST: i64 = 20;

/// A change of the store's stock.
#[derive(Debug, Clone)]
pub enum Change {
    /// An order: units taken per SKU (index into [`CATALOGUE`]).
    Sale(Vec<(usize, i64)>),
    /// A delivery received: units added, no order.
    Restock(usize, i64),
    /// A stocktake that found fewer: units taken, no order (never below zero).
    Stocktake(usize, i64),
}

/// The model of the tracked shop's store.
#[derive(Debug)]
pub struct Store {
    shop: String,
    secret: String,
    levels: [i64; CATALOGUE.len()],
    /// The store's clock of the last change, in Unix seconds: each change is at least a
    /// second after the one before, so every product's `date_modified_gmt` strictly rises
    /// (WooCommerce's times have whole seconds).
    clock: i64,
    pub restocks: u32,
    pub stocktakes: u32,
    pub sales: u32,
}

/// The webhooks one change fired: per SKU (index into [`CATALOGUE`]), its `product.updated`.
pub type Fired = BTreeMap<usize, Delivery>;

impl Store {
    pub fn new(shop: &str, secret: &str) -> Arc<Mutex<Store>> {
        Arc::new(Mutex::new(Store {
            shop: shop.to_owned(),
            secret: secret.to_owned(),
            levels: [OPENING; CATALOGUE.len()],
            clock: 0,
            restocks: 0,
            stocktakes: 0,
            sales: 0,
        }))
    }

    /// Makes `change` happen now, and the webhooks it fires.
    pub fn apply(&mut self, change: &Change) -> Fired {
        let touched: Vec<(usize, i64)> = match change {
            Change::Sale(lines) => {
                self.sales += 1;
                lines.iter().map(|&(sku, units)| (sku, -units)).collect()
            }
            Change::Restock(sku, units) => {
                self.restocks += 1;
                vec![(*sku, *units)]
            }
            Change::Stocktake(sku, units) => {
                self.stocktakes += 1;
                vec![(*sku, -(*units).min(self.levels[*sku]))]
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        self.clock = now.max(self.clock + 1);
        let at = time::OffsetDateTime::from_unix_timestamp(self.clock).expect("a time");
        let modified = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        touched
            .into_iter()
            .map(|(sku, delta)| {
                self.levels[sku] += delta;
                (sku, self.webhook(sku, &modified))
            })
            .collect()
    }

    /// The `product.updated` WooCommerce sends for `sku` at its current level.
    fn webhook(&self, sku: usize, modified: &str) -> Delivery {
        let (code, product_id) = CATALOGUE[sku];
        let body = json!({
            "id": product_id,
            "name": code,
            "sku": code,
            "type": "simple",
            "manage_stock": true,
            "stock_quantity": self.levels[sku],
            "stock_status": if self.levels[sku] > 0 { "instock" } else { "outofstock" },
            "date_modified_gmt": modified,
        });
        signer::woocommerce(
            &self.shop,
            &self.secret,
            "product.updated",
            &serde_json::to_vec(&body).expect("JSON serialises"),
        )
    }

    /// Each SKU's level now.
    pub fn levels(&self) -> BTreeMap<&'static str, i64> {
        CATALOGUE
            .iter()
            .zip(self.levels)
            .map(|((code, _), level)| (*code, level))
            .collect()
    }
}
