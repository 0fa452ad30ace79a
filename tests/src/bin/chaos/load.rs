//! What the run sends, and what it expects in Xero for it.
//!
//! Each shop is on a Xero tenant of its own and a platform in turn (Shopify, WooCommerce,
//! BigCommerce: three signature schemes, whole and thin webhooks). An order is a chain of
//! deliveries sent one after the other, as the platform fires them: a Shopify order is created
//! unpaid (odd orders), paid, sometimes refunded and its stock changed; a WooCommerce order is
//! created paid and sometimes updated; a BigCommerce order is created (the processor fetches it
//! from the fake API) and sometimes has its status updated. A few Shopify orders are poison (a
//! currency that does not exist, a total its lines do not add up to, a NUL in the order number)
//! and must end in the dead queue with their reason, costing their neighbours nothing.
//!
//! Deliveries are sent as platforms send them: whatever is not answered 2xx is sent again with
//! a growing pause, and now and then one already acknowledged is sent again (platforms do when
//! an answer was slow).
//!
//! The first WooCommerce shop tracks inventory (issue 18): its orders sell SKUs of a small
//! catalogue, and its stock webhooks, restocks and stocktakes follow a model of its store
//! (see `stock.rs`).
//!
//! One Shopify shop is *leaky* (issue 16): its platform drops a share of its webhooks (never
//! sends them), as a platform whose subscription was removed or whose deliveries got lost
//! does. Its orders live in the fake Shopify Admin API as well, changed there before each
//! webhook would be sent, and the processors poll it: every order and refund the platform
//! holds must be booked once, whichever webhooks arrived. It has no poison orders (a poison
//! order the poll reads again is dead-lettered again each time it re-reads it).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::time::Instant;
use uuid::Uuid;
use xcs_shared::Platform;
use xcs_tests::platform_api::{FakePlatformApi, credentials, fixture};
use xcs_tests::processor::{ShopToml, shop_toml};
use xcs_tests::signer::{self, Delivery};

use crate::stock::{CATALOGUE, Change, Fired, Store};

const PLATFORMS: [Platform; 3] = [
    Platform::Shopify,
    Platform::WooCommerce,
    Platform::BigCommerce,
];

/// Every `POISON_EVERY`-th Shopify order (counting from `POISON_EVERY / 2`) is poison, of the
/// kinds of [`Poison`] in turn.
const POISON_EVERY: u64 = 40;

/// What makes a poison order poison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poison {
    /// A currency no country uses.
    Currency,
    /// A stated total 9.99 above what its lines add up to: no rounding.
    TotalGap,
    /// A NUL character in the order number.
    NulInNumber,
}

impl Poison {
    const ALL: [Poison; 3] = [Poison::Currency, Poison::TotalGap, Poison::NulInNumber];

    /// The processor's dead-letter reason for it (`ProcessError::reason`).
    pub fn reason(self) -> &'static str {
        match self {
            Poison::Currency => "unparseable_payload",
            Poison::TotalGap => "totals_mismatch",
            Poison::NulInNumber => "implausible_payload",
        }
    }

    fn apply(self, order: &mut Value) {
        match self {
            Poison::Currency => {
                order["currency"] = json!("QQQ");
                order["presentment_currency"] = json!("QQQ");
            }
            Poison::TotalGap => order["total_price"] = json!("73.24"),
            Poison::NulInNumber => {
                let name = order["name"].as_str().unwrap_or_default().to_owned();
                order["name"] = json!(format!("{name}\u{0}"));
            }
        }
    }
}
/// Every `REFUND_EVERY`-th Shopify order is refunded (a busy shop's rate; each refund costs
/// Xero calls of its own).
const REFUND_EVERY: u64 = 8;
/// About one acknowledged delivery in this many is sent again by the "platform".
const RESEND_EVERY: u64 = 25;
/// About one tracked order in this many is followed by a restock of a SKU, and as many by a
/// stocktake that finds fewer.
const RESTOCK_EVERY: u64 = 6;
/// About one stock webhook in this many is sent again later in its chain, as WooCommerce does
/// when an answer was slow: by then other changes of the SKU may have overtaken it.
const STOCK_AGAIN_EVERY: u64 = 4;

/// A shop of the run.
#[derive(Debug, Clone)]
pub struct Shop {
    pub index: usize,
    pub platform: Platform,
    pub name: String,
    pub tenant: Uuid,
    secret: String,
    /// Drops this share of its webhooks, in percent, and is polled (see the module's docs).
    pub drops_percent: u64,
    /// Tracks inventory: the model of its store, when it does.
    pub store: Option<Arc<Mutex<Store>>>,
}

impl Shop {
    /// `count` shops, platforms in turn; the second Shopify shop (the fourth shop) is leaky
    /// and drops `drops_percent` of its webhooks, so a run with fewer than four has none; the
    /// first WooCommerce shop (the second) tracks inventory.
    pub fn all(count: usize, drops_percent: u64) -> Vec<Shop> {
        (0..count)
            .map(|index| {
                let platform = PLATFORMS[index % PLATFORMS.len()];
                let name = format!("chaos-{index}");
                let secret = format!("chaos shop {index} webhook secret");
                Shop {
                    index,
                    platform,
                    tenant: xcs_xero_sim::seed::extra_tenant_id(index + 1),
                    drops_percent: if index == PLATFORMS.len() {
                        drops_percent
                    } else {
                        0
                    },
                    // The first WooCommerce shop.
                    store: (index == 1).then(|| Store::new(&name, &secret)),
                    name,
                    secret,
                }
            })
            .collect()
    }

    /// Whether its platform drops webhooks and its processors poll it.
    pub fn leaky(&self) -> bool {
        self.drops_percent > 0
    }

    fn prefix(&self) -> String {
        format!("C{}-", self.index)
    }

    /// The ingress's `[shops.NAME]` section.
    pub fn ingress_toml(&self) -> String {
        format!(
            "[shops.{}]\nplatform = \"{}\"\ntenant = \"{}\"\nsecrets = [{}]\n",
            self.name,
            self.platform,
            self.tenant,
            toml::Value::String(self.secret.clone())
        )
    }

    /// The processor's `[shops.NAME]` sections. The leaky shop is polled every 5 seconds,
    /// over the last 10 minutes, with a 2-second settle: production's shape, compressed.
    pub fn processor_toml(&self, apis: &PlatformApis) -> String {
        let contacts = match self.platform {
            Platform::WooCommerce => r#"{ strategy = "per_customer", fallback = "Woo Sales" }"#,
            _ => r#"{ strategy = "generic", name = "Web Sales" }"#,
        };
        let api = match self.platform {
            Platform::BigCommerce => Some(apis.bigcommerce.api_toml()),
            Platform::Shopify if self.leaky() => Some(apis.shopify.api_toml()),
            _ => None,
        };
        let poll = if self.leaky() {
            format!(
                "[shops.{}.poll]\ninterval_secs = 5\noverlap_secs = 600\nsettle_secs = 2\n",
                self.name
            )
        } else {
            String::new()
        };
        let toml = shop_toml(&ShopToml {
            name: &self.name,
            platform: self.platform,
            tenant: &self.tenant.to_string(),
            contacts,
            prefix: &self.prefix(),
            clearing: "615",
            api: api.as_deref(),
        }) + &poll;
        if self.store.is_none() {
            return toml;
        }
        // Tracked on the demo chart (630 inventory, 310 cost of goods sold). Production's 60 s
        // quiet time would hold every level of a shop this busy until the load is over; 2 s
        // lets items settle now and then while sales are still in flight.
        let (header, accounts) = (
            format!("[shops.{}]\n", self.name),
            format!("[shops.{}.mapping.accounts]\n", self.name),
        );
        toml.replacen(&header, &format!("{header}inventory = \"tracked\"\n"), 1)
            .replacen(
                &accounts,
                &format!(
                    "{accounts}inventory = \"630\"\ncost_of_goods_sold = \"310\"\n\
                     inventory_adjustments = \"310\"\n"
                ),
                1,
            )
            + &format!("[shops.{}.stock]\nsettle_secs = 2\n", self.name)
    }
}

/// The fake platform APIs of the run: BigCommerce's, which the processor fetches thin
/// webhooks' orders from, and Shopify's, which holds the leaky shop's orders for its poll.
pub struct PlatformApis {
    pub bigcommerce: FakePlatformApi,
    pub shopify: FakePlatformApi,
}

impl PlatformApis {
    pub async fn start() -> PlatformApis {
        PlatformApis {
            bigcommerce: FakePlatformApi::start(Platform::BigCommerce).await,
            shopify: FakePlatformApi::start(Platform::Shopify).await,
        }
    }

    pub async fn stop(self) {
        self.bigcommerce.stop().await;
        self.shopify.stop().await;
    }
}

/// What one delivery is, for the report and for what it should leave in Xero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Created,
    Paid,
    Updated,
    Refund,
    Stock,
}

/// One delivery of a chain and what became of it.
#[derive(Debug, Clone)]
pub struct Sent {
    pub role: Role,
    /// The event id the ingress gave it, once acknowledged.
    pub event_id: Option<String>,
    /// Answers other than 2xx (and transport errors) before it was acknowledged.
    pub refused: u32,
    /// Acknowledged again when the platform re-sent it.
    pub resent: bool,
    /// Not acknowledged before the platform gave up.
    pub gave_up: bool,
    /// A 4xx: the platform would not send it again.
    pub rejected: Option<String>,
    /// Never sent: the leaky shop's platform dropped it.
    pub dropped: bool,
}

/// An order and what Xero should hold for it.
pub struct Order {
    pub shop: usize,
    pub k: u64,
    pub poison: Option<Poison>,
    pub invoice_number: String,
    pub invoice_total: Decimal,
    /// The payments the invoice gets once the money is reported received (a BigCommerce
    /// order is paid partly by gift certificate: two payments).
    pub payments: Vec<Decimal>,
    /// The credit note's number and total, when the chain refunds.
    pub refund: Option<(String, Decimal)>,
    deliveries: Vec<Step>,
    pub sent: Vec<Sent>,
    /// Its shop's platform drops webhooks and is polled: what Xero must hold follows what
    /// happened on the platform, not what was acknowledged.
    pub polled: bool,
    drops_percent: u64,
    /// The steps that happened on the platform (the fake API holds their outcome).
    pub happened: Vec<Role>,
    /// The tracked shop's store, and the changes of it this chain makes.
    store: Option<Arc<Mutex<Store>>>,
    changes: Vec<Change>,
    /// The SKUs (indices into [`CATALOGUE`]) whose stock webhooks of this chain were not all
    /// acknowledged: the store changed, Xero may never hear of it.
    pub stock_unsent: Vec<usize>,
}

/// One step of an order's life on its platform: what the platform's API lists afterwards
/// (for the leaky shop), and the webhook it fires.
struct Step {
    role: Role,
    outgoing: Outgoing,
    listed: Option<Value>,
    /// The store change (index into the order's `changes`) that happens when this step is
    /// reached, if it has not yet.
    change: Option<usize>,
}

impl Step {
    /// A step only a webhook tells of (the platform's API is not polled).
    fn webhook(role: Role, outgoing: Outgoing) -> Step {
        Step {
            role,
            outgoing,
            listed: None,
            change: None,
        }
    }

    /// The stock webhook `change` fires for `sku`.
    fn level(change: usize, sku: usize) -> Step {
        Step {
            role: Role::Stock,
            outgoing: Outgoing::Level { change, sku },
            listed: None,
            change: Some(change),
        }
    }
}

impl Order {
    /// Order `k` (from 1) of `shop`. BigCommerce orders are put into the fake API here;
    /// `seed` picks a tracked order's SKUs and the order of its webhooks.
    pub fn new(shop: &Shop, k: u64, apis: &PlatformApis, seed: u64) -> Order {
        let poison = (shop.platform == Platform::Shopify
            && !shop.leaky()
            && k % POISON_EVERY == POISON_EVERY / 2)
            .then(|| {
                let turn = usize::try_from(k / POISON_EVERY).unwrap_or(0) + shop.index;
                Poison::ALL[turn % Poison::ALL.len()]
            });
        let Chain {
            invoice_number,
            invoice_total,
            refund,
            deliveries,
            changes,
        } = match shop.platform {
            Platform::Shopify => shopify_order(shop, k, poison),
            Platform::WooCommerce => woocommerce_order(shop, k, seed),
            _ => bigcommerce_order(shop, k, &apis.bigcommerce),
        };
        let payments = match shop.platform {
            Platform::BigCommerce => vec![Decimal::new(2500, 2), Decimal::new(13830, 2)],
            _ => vec![invoice_total],
        };
        Order {
            shop: shop.index,
            k,
            poison,
            invoice_number,
            invoice_total,
            payments,
            refund,
            deliveries,
            sent: Vec::new(),
            polled: shop.leaky(),
            drops_percent: shop.drops_percent,
            happened: Vec::new(),
            store: shop.store.clone(),
            changes,
            stock_unsent: Vec::new(),
        }
    }

    /// Deliveries in its chain.
    pub fn planned(&self) -> usize {
        self.deliveries.len()
    }

    pub fn acknowledged(&self, role: Role) -> bool {
        self.sent
            .iter()
            .any(|s| s.role == role && s.event_id.is_some())
    }

    /// Whether Xero must know of `role`: its delivery was acknowledged, or, on a polled
    /// shop, it happened on the platform (the poll reads it whether or not a webhook came).
    fn expected(&self, role: Role) -> bool {
        self.acknowledged(role) || (self.polled && self.happened.contains(&role))
    }

    /// Whether Xero must have the invoice.
    pub fn invoice_expected(&self) -> bool {
        [Role::Created, Role::Paid, Role::Updated]
            .into_iter()
            .any(|role| self.expected(role))
    }

    /// Whether the money was reported received: every platform but a Shopify order that only
    /// got as far as `orders/create` (unpaid).
    pub fn paid_expected(&self) -> bool {
        self.expected(Role::Paid) || self.expected(Role::Updated)
    }

    /// Whether Xero must have the refund's credit note.
    pub fn refund_expected(&self) -> bool {
        self.refund.is_some() && self.expected(Role::Refund)
    }
}

/// A delivery as the platform sends it. HMAC-over-the-body platforms send the same bytes on
/// every attempt; Standard Webhooks signs each attempt with its own timestamp, and the ingress
/// refuses a timestamp more than 5 minutes old (a long run first signed them all up front, and
/// the ingress rightly refused those sent late).
#[derive(Clone)]
enum Outgoing {
    Signed(Delivery),
    SignedAtSend(Arc<dyn Fn(i64) -> Delivery + Send + Sync>),
    /// The `product.updated` that store change `change` fired for `sku`: its level is known
    /// once the change has happened.
    Level {
        change: usize,
        sku: usize,
    },
}

impl Outgoing {
    fn now(&self, fired: &BTreeMap<usize, Fired>) -> Delivery {
        match self {
            Outgoing::Signed(delivery) => delivery.clone(),
            Outgoing::SignedAtSend(sign) => sign(time::OffsetDateTime::now_utc().unix_timestamp()),
            Outgoing::Level { change, sku } => fired[change][sku].clone(),
        }
    }
}

/// An order's deliveries and the documents they call for.
struct Chain {
    invoice_number: String,
    invoice_total: Decimal,
    /// The credit note's number and total.
    refund: Option<(String, Decimal)>,
    deliveries: Vec<Step>,
    /// The tracked store's changes its steps make.
    changes: Vec<Change>,
}

fn shopify_order(shop: &Shop, k: u64, poison: Option<Poison>) -> Chain {
    let id = (shop.index as u64 + 1) * 1_000_000 + k;
    let number = 1000 + k;
    let order = |paid: bool| {
        let mut order: Value =
            serde_json::from_slice(&xcs_tests::fixtures::shopify_nz_order(id, number, paid))
                .expect("the fixture is JSON");
        if let Some(poison) = poison {
            poison.apply(&mut order);
        }
        order
    };
    // The order as the leaky shop's Admin API lists it after the step (`updated_at` is set
    // when the step happens).
    let listed = |mut order: Value, refunds: Value| {
        shop.leaky().then(|| {
            order["refunds"] = refunds;
            order
        })
    };
    let send = |role: Role, topic: &str, tag: &str, body: &[u8], listed: Option<Value>| {
        let webhook_id = format!("{tag}-{}-{k}-{}", shop.index, Uuid::new_v4().simple());
        Step {
            role,
            outgoing: Outgoing::Signed(signer::shopify(
                &shop.name,
                &shop.secret,
                topic,
                &webhook_id,
                body,
            )),
            listed,
            change: None,
        }
    };
    let json_bytes = |value: &Value| serde_json::to_vec(value).expect("JSON serialises");
    let mut deliveries = Vec::new();
    if k % 2 == 1 && poison.is_none() {
        let unpaid = order(false);
        let listed = listed(unpaid.clone(), json!([]));
        deliveries.push(send(
            Role::Created,
            "orders/create",
            "c",
            &json_bytes(&unpaid),
            listed,
        ));
    }
    let paid = order(true);
    deliveries.push(send(
        Role::Paid,
        "orders/paid",
        "p",
        &json_bytes(&paid),
        listed(paid.clone(), json!([])),
    ));
    let mut refund = None;
    if k.is_multiple_of(REFUND_EVERY) && poison.is_none() {
        let refund_id = 700_000_000 + id;
        let body = xcs_tests::fixtures::shopify_nz_refund(refund_id, id);
        let resource: Value = serde_json::from_slice(&body).expect("the fixture is JSON");
        deliveries.push(send(
            Role::Refund,
            "refunds/create",
            "r",
            &body,
            listed(paid, json!([resource])),
        ));
        refund = Some((
            format!("{}{number}/R{refund_id}", shop.prefix()),
            Decimal::new(2300, 2),
        ));
    }
    if k.is_multiple_of(6) {
        let level = json!({
            "inventory_item_id": 808_950_810 + k,
            "location_id": 905_684_977,
            "available": k % 17,
            "updated_at": "2026-11-27T09:00:00+13:00",
        });
        deliveries.push(send(
            Role::Stock,
            "inventory_levels/update",
            "s",
            &json_bytes(&level),
            None,
        ));
    }
    Chain {
        invoice_number: format!("{}{number}", shop.prefix()),
        invoice_total: Decimal::new(6325, 2),
        refund,
        deliveries,
        changes: Vec::new(),
    }
}

fn woocommerce_order(shop: &Shop, k: u64, seed: u64) -> Chain {
    let number = 5000 + k;
    let mut order = fixture("woocommerce/order_4417_nzd_tax_inclusive.json");
    order["id"] = json!(number);
    order["number"] = json!(number.to_string());
    let mut changes = Vec::new();
    let mut levels_first = false;
    if shop.store.is_some() {
        changes.push(Change::Sale(sell(&mut order, |salt| mix(seed, k, salt))));
        levels_first = mix(seed, k, 10).is_multiple_of(2);
    }
    let mut paid = Step::webhook(
        Role::Paid,
        Outgoing::Signed(signer::woocommerce(
            &shop.name,
            &shop.secret,
            "order.created",
            &serde_json::to_vec(&order).expect("JSON serialises"),
        )),
    );
    let mut deliveries = Vec::new();
    let levels: Vec<Step> = match changes.first() {
        Some(Change::Sale(lines)) => {
            paid.change = Some(0);
            lines.iter().map(|&(sku, _)| Step::level(0, sku)).collect()
        }
        _ => Vec::new(),
    };
    if levels_first {
        deliveries.extend(levels);
        deliveries.push(paid);
    } else {
        deliveries.push(paid);
        deliveries.extend(levels);
    }
    if k.is_multiple_of(5) {
        // A note added later: the same order, modified again.
        order["date_modified_gmt"] = json!("2026-11-27T02:00:00");
        order["customer_note"] = json!("Please leave by the door");
        deliveries.push(Step::webhook(
            Role::Updated,
            Outgoing::Signed(signer::woocommerce(
                &shop.name,
                &shop.secret,
                "order.updated",
                &serde_json::to_vec(&order).expect("JSON serialises"),
            )),
        ));
    }
    if shop.store.is_some() {
        let sku = usize::try_from(mix(seed, k, 11) % CATALOGUE.len() as u64).expect("fits");
        let turn = k % RESTOCK_EVERY;
        let change = if turn == 1 {
            Some(Change::Restock(
                sku,
                10 + i64::try_from(mix(seed, k, 12) % 31).expect("fits"),
            ))
        } else if turn == RESTOCK_EVERY / 2 + 1 {
            Some(Change::Stocktake(
                sku,
                1 + i64::try_from(mix(seed, k, 12) % 3).expect("fits"),
            ))
        } else {
            None
        };
        if let Some(change) = change {
            changes.push(change);
            deliveries.push(Step::level(changes.len() - 1, sku));
        }
        // Some stock webhooks again at the end of the chain: the same delivery, late.
        let again: Vec<Step> = deliveries
            .iter()
            .enumerate()
            .filter_map(|(n, step)| match step.outgoing {
                Outgoing::Level { change, sku }
                    if mix(seed, k, 20 + n as u64).is_multiple_of(STOCK_AGAIN_EVERY) =>
                {
                    Some(Step::level(change, sku))
                }
                _ => None,
            })
            .collect();
        deliveries.extend(again);
    }
    Chain {
        invoice_number: format!("{}{number}", shop.prefix()),
        invoice_total: Decimal::new(10430, 2),
        refund: None,
        deliveries,
        changes,
    }
}

/// Gives the order's two lines SKUs of the catalogue (two different ones), the first line 1,
/// 2 or 4 units at the same line total (its unit price divides it exactly, so the order books
/// as before), and returns what the sale takes.
fn sell(order: &mut Value, pick: impl Fn(u64) -> u64) -> Vec<(usize, i64)> {
    let n = CATALOGUE.len() as u64;
    let first = usize::try_from(pick(1) % n).expect("fits");
    let second = usize::try_from((first as u64 + 1 + pick(2) % (n - 1)) % n).expect("fits");
    let units: i64 = [1, 2, 4][usize::try_from(pick(3) % 3).expect("fits")];
    let lines = order["line_items"]
        .as_array_mut()
        .expect("the fixture has lines");
    lines[0]["quantity"] = json!(units);
    lines[0]["price"] = json!(72 / units);
    let mut sold = Vec::new();
    for (line, (sku, units)) in lines.iter_mut().zip([(first, units), (second, 1)]) {
        let (code, product_id) = CATALOGUE[sku];
        line["sku"] = json!(code);
        line["product_id"] = json!(product_id);
        sold.push((sku, units));
    }
    sold
}

fn bigcommerce_order(shop: &Shop, k: u64, api: &FakePlatformApi) -> Chain {
    let id = (shop.index as u64 + 1) * 100_000 + k;
    let mut order = fixture("bigcommerce/order_v2_310_nzd_tax_inclusive.json");
    order["id"] = json!(id);
    let mut products = fixture("bigcommerce/products_v2_310_nzd_tax_inclusive.json");
    for product in products.as_array_mut().into_iter().flatten() {
        product["order_id"] = json!(id);
    }
    api.put(&format!("/v2/orders/{id}"), order);
    api.put(&format!("/v2/orders/{id}/products"), products);
    let hook = |scope: &str, tag: &str| {
        let (name, secret) = (shop.name.clone(), shop.secret.clone());
        let message_id = format!("msg_{tag}{}x{k}x{}", shop.index, Uuid::new_v4().simple());
        let body = xcs_tests::fixtures::bigcommerce(scope, id, credentials::BIGCOMMERCE_STORE_HASH);
        Outgoing::SignedAtSend(Arc::new(move |timestamp| {
            signer::standard_webhooks(
                Platform::BigCommerce,
                &name,
                secret.as_bytes(),
                &message_id,
                timestamp,
                &body,
            )
        }))
    };
    let mut deliveries = vec![Step::webhook(Role::Paid, hook("store/order/created", "c"))];
    if k.is_multiple_of(5) {
        deliveries.push(Step::webhook(
            Role::Updated,
            hook("store/order/statusUpdated", "u"),
        ));
    }
    Chain {
        invoice_number: format!("{}{id}", shop.prefix()),
        invoice_total: Decimal::new(16330, 2),
        refund: None,
        deliveries,
        changes: Vec::new(),
    }
}

impl Sent {
    fn new(role: Role) -> Sent {
        Sent {
            role,
            event_id: None,
            refused: 0,
            resent: false,
            gave_up: false,
            rejected: None,
            dropped: false,
        }
    }
}

/// Whether the leaky platform drops delivery `n` of order `k`: about `percent` in a hundred,
/// spread by a hash so neighbours do not drop together.
fn dropped(seed: u64, percent: u64, k: u64, n: usize) -> bool {
    percent != 0 && mix(seed, k, n as u64) % 100 < percent
}

/// A pseudo-random number for `salt` of order `k` (SplitMix64's finaliser), so a run can be
/// repeated from its seed.
fn mix(seed: u64, k: u64, salt: u64) -> u64 {
    let mut x = seed ^ (k << 8) ^ salt;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// How a delivery is sent: like the platforms, again and again until it is answered 2xx.
#[derive(Clone)]
pub struct Sender {
    pub ingress_url: String,
    pub client: reqwest::Client,
    /// How long a platform keeps trying one delivery (Shopify: 48 hours; compressed here).
    pub give_up_after: Duration,
    pub counters: Arc<Mutex<Counters>>,
    /// Where the leaky shop's orders are listed as they change.
    pub apis: Arc<PlatformApis>,
    /// Picks which of the leaky shop's webhooks are dropped, so a run can be repeated.
    pub seed: u64,
}

/// Totals over all deliveries.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub requests: u64,
    pub answered_2xx: u64,
    pub answered_5xx: u64,
    pub transport_errors: u64,
    pub other: u64,
}

impl Sender {
    async fn post(&self, delivery: &Delivery) -> Result<(u16, Value), String> {
        let mut request = self
            .client
            .post(format!("{}{}", self.ingress_url, delivery.path()))
            .timeout(Duration::from_secs(10))
            .body(delivery.body.clone());
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Sends until acknowledged, the platform gives up, or the ingress refuses it for good.
    async fn deliver(
        &self,
        role: Role,
        outgoing: &Outgoing,
        fired: &BTreeMap<usize, Fired>,
    ) -> Sent {
        let mut sent = Sent::new(role);
        let deadline = Instant::now() + self.give_up_after;
        let mut pause = Duration::from_millis(500);
        loop {
            let answer = self.post(&outgoing.now(fired)).await;
            let settled = {
                let mut counters = self.counters.lock().expect("not poisoned");
                counters.requests += 1;
                match answer {
                    Ok((status, body)) if (200..300).contains(&status) => {
                        counters.answered_2xx += 1;
                        sent.event_id = body["event_id"].as_str().map(str::to_owned);
                        if sent.event_id.is_none() {
                            sent.rejected = Some(format!("2xx without an event id: {body}"));
                        }
                        true
                    }
                    Ok((status, body)) if (400..500).contains(&status) => {
                        counters.other += 1;
                        sent.rejected = Some(format!("{status}: {body}"));
                        true
                    }
                    Ok((status, _)) if status >= 500 => {
                        counters.answered_5xx += 1;
                        false
                    }
                    Ok(_) => {
                        counters.other += 1;
                        false
                    }
                    Err(_) => {
                        counters.transport_errors += 1;
                        false
                    }
                }
            };
            if settled {
                return sent;
            }
            sent.refused += 1;
            if Instant::now() + pause > deadline {
                sent.gave_up = true;
                return sent;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }

    /// Makes each step of the order happen on the platform and sends its webhook, in turn; a
    /// chain stops where one is not acknowledged (the platform's later events would find a
    /// different order state, so the run does not guess). A dropped webhook stops nothing:
    /// the platform carries on without knowing.
    pub async fn run(&self, mut order: Order) -> Order {
        let deliveries = std::mem::take(&mut order.deliveries);
        let mut fired: BTreeMap<usize, Fired> = BTreeMap::new();
        for (n, step) in deliveries.iter().enumerate() {
            let (role, delivery) = (&step.role, &step.outgoing);
            if let (Some(change), Some(store)) = (step.change, &order.store)
                && !fired.contains_key(&change)
            {
                let webhooks = store
                    .lock()
                    .expect("not poisoned")
                    .apply(&order.changes[change]);
                fired.insert(change, webhooks);
            }
            if let Some(listed) = &step.listed {
                let mut listed = listed.clone();
                let now = time::OffsetDateTime::now_utc()
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats");
                listed["updated_at"] = json!(now);
                for refund in listed["refunds"].as_array_mut().into_iter().flatten() {
                    refund["created_at"] = json!(now);
                }
                self.apis.shopify.list(listed);
            }
            order.happened.push(*role);
            if dropped(self.seed, order.drops_percent, order.k, n) {
                order.sent.push(Sent {
                    dropped: true,
                    ..Sent::new(*role)
                });
                continue;
            }
            let mut sent = self.deliver(*role, delivery, &fired).await;
            let acknowledged = sent.event_id.is_some();
            if acknowledged && (order.k + n as u64 * 7).is_multiple_of(RESEND_EVERY) {
                let again = self.deliver(*role, delivery, &fired).await;
                sent.resent = again.event_id.is_some();
                if again.event_id.is_some() && again.event_id != sent.event_id {
                    sent.rejected = Some(format!(
                        "the same delivery got another event id: {:?} then {:?}",
                        sent.event_id, again.event_id
                    ));
                }
            }
            order.sent.push(sent);
            if !acknowledged {
                break;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        // A change made whose webhooks did not all get through: the chain stopped early.
        for (change, webhooks) in &fired {
            for sku in webhooks.keys() {
                let through = order.sent.iter().zip(&deliveries).any(|(sent, step)| {
                    sent.event_id.is_some()
                        && matches!(step.outgoing, Outgoing::Level { change: c, sku: s }
                            if c == *change && s == *sku)
                });
                if !through {
                    order.stock_unsent.push(*sku);
                }
            }
        }
        order
    }
}
