//! Typed processor configuration: a TOML file with secrets overridable from the environment,
//! validated as a whole at start, read the way both binaries read theirs
//! (`xcs_shared::config_file`). See `deploy/config/processor.example.toml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use xcs_shared::config_file::{self, ConfigFile, Env};
use xcs_shared::telemetry::LogFormat;
use xcs_shared::{EventKind, Platform};

use crate::mapping::ShopMapping;
use crate::platforms::api::PlatformApi;
use crate::timezone::ShopZone;
use crate::xero::scopes::ScopeScheme;

/// Everything the processor needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub amqp: AmqpConfig,
    pub postgres: PostgresConfig,
    pub xero: XeroConfig,
    #[serde(default)]
    pub processing: ProcessingConfig,
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub webhooks: WebhooksConfig,
    pub shops: BTreeMap<String, ShopConfig>,
}

/// Where the platforms deliver webhooks, for `xcs-processor webhooks check|sync` and `check`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// The ingress's public base URL as the platforms reach it (`https://hooks.example.com`,
    /// or with a path prefix behind a proxy): each shop's webhook address is
    /// `{public_url}/webhooks/{platform}/{shop}`. Neither config held it before, and the
    /// subscriptions cannot be checked without it. Overridden by `XCS_WEBHOOKS_PUBLIC_URL`.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl WebhooksConfig {
    /// The address `platform`'s shop `shop` must deliver to, the ingress's route
    /// (`POST /webhooks/{platform}/{shop}`); `None` without a `public_url`.
    pub fn address(&self, platform: Platform, shop: &str) -> Option<String> {
        self.public_url.as_deref().map(|base| {
            format!(
                "{}/webhooks/{}/{shop}",
                base.trim_end_matches('/'),
                platform.as_str()
            )
        })
    }
}

/// A webhook base URL the platforms can be given: absolute http(s), a host, no query or
/// fragment (the shop's path is appended to it).
fn check_public_url(url: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "webhooks.public_url {url:?} {why}; write the ingress's public base URL, e.g. \
             \"https://hooks.example.com\" (or set XCS_WEBHOOKS_PUBLIC_URL)"
        ))
    };
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return refuse("is not an absolute URL");
    };
    if !matches!(parsed.scheme(), "https" | "http") {
        return refuse("is not http or https");
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return refuse("has no host");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || url.contains(['?', '#']) {
        return refuse("has a query or fragment, which the platforms would deliver to as it is");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return refuse("holds credentials, which would be sent to every platform");
    }
    Ok(())
}

/// Where the processor serves `/healthz`, `/readyz` and `/metrics`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// `host:port`; port 0 picks a free one (tests). Overridden by `XCS_PROCESSOR_LISTEN`, so
    /// instances sharing one config on a host (`xcs-processor@N`) can each have a port.
    #[serde(default = "defaults::listen")]
    pub listen: String,
    /// The credential of the operator's console (`/console`, README "Operator console") on
    /// this server, the same `XCS_ADMIN_TOKEN` `connect` uses; set only from the environment.
    /// Without it the console is off and its pages answer 404.
    #[serde(skip)]
    pub admin_token: Option<SecretString>,
    /// The address Xero's web app opens documents at, for the console's links to a document
    /// (Xero's deep links, `{xero_web_url}/AccountsReceivable/View.aspx?InvoiceID=...`).
    #[serde(default = "defaults::xero_web_url")]
    pub xero_web_url: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl ServerConfig {
    /// The address to bind (validated at load).
    pub fn listen_addr(&self) -> std::net::SocketAddr {
        self.listen
            .parse()
            .expect("server.listen was validated at load")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AmqpConfig {
    /// Overridden by `XCS_AMQP_URI`, which may set it alone (the table may then be left out).
    #[serde(default = "xcs_shared::config_file::unset_secret")]
    pub uri: SecretString,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            uri: xcs_shared::config_file::unset_secret(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// `postgres://user:pass@host:5432/db`. Overridden by `XCS_POSTGRES_URL`, which may set it
    /// alone.
    #[serde(default = "xcs_shared::config_file::unset_secret")]
    pub url: SecretString,
    /// The schema the ledger lives in (created if missing), so one database can hold several
    /// deployments, and each test its own.
    #[serde(default = "defaults::schema")]
    pub schema: String,
    #[serde(default = "defaults::pool_size")]
    pub pool_size: usize,
    /// Encrypts the stored Xero tokens (AES-256-GCM): 32 bytes as 64 hex digits. Set only by
    /// `XCS_TOKEN_KEY`, never in the file; without it tokens are stored as they are.
    #[serde(skip)]
    pub token_key: Option<SecretString>,
}

/// How to reach Xero and how to authenticate.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XeroConfig {
    #[serde(default = "defaults::xero_api")]
    pub api_base: String,
    #[serde(default = "defaults::xero_identity")]
    pub identity_base: String,
    /// The app's client id.
    pub client_id: String,
    /// Overridden by `XCS_XERO_CLIENT_SECRET`, which may set it alone.
    #[serde(default = "xcs_shared::config_file::unset_secret")]
    pub client_secret: SecretString,
    /// `custom_connection`: client credentials for one organisation. `oauth`: tokens from the
    /// authorization-code flow, kept (and rotated) in PostgreSQL.
    #[serde(default)]
    pub auth: XeroAuthMode,
    /// Per-tenant limits; Xero's are 5 in flight, 60 a minute, 5,000 a day.
    #[serde(default = "defaults::in_flight")]
    pub max_in_flight: usize,
    #[serde(default = "defaults::per_minute")]
    pub max_per_minute: u32,
    #[serde(default = "defaults::per_day")]
    pub max_per_day: u32,
    /// Calls a tenant may make back to back before the rest are paced evenly over the minute.
    /// Small keeps latency steady under load; large suits bursty, light traffic.
    #[serde(default = "defaults::burst")]
    pub max_burst: usize,
    /// Request timeout in milliseconds.
    #[serde(default = "defaults::xero_timeout_ms")]
    pub timeout_ms: u64,
    /// Xero's consent page, where `xcs-processor connect` sends the person connecting.
    #[serde(default = "defaults::xero_authorize")]
    pub authorize_url: String,
    /// Lists the organisations a token may reach (`GET /connections`).
    #[serde(default = "defaults::xero_connections")]
    pub connections_url: String,
    /// Where Xero sends the browser back after consent: `https://<admin host>/xero/callback`,
    /// exactly as registered with the app at developer.xero.com. Needed by `connect` only.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Which of Xero's scope schemes `connect` asks for: `"granular"` (the default; the only
    /// one for apps created from 2 March 2026) or `"broad"` (older apps, until 13 September
    /// 2027). Either way it asks for exactly what the processor uses (see
    /// [`crate::xero::scopes`]), with `offline_access` for the refresh token.
    #[serde(default)]
    pub scopes: ScopeScheme,
    /// What each organisation's plan allows, where it is not Xero's default (5,000 calls a day,
    /// no limit on approved invoices): `[xero.tenants."<tenant id>"]`.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantPlan>,
}

/// An organisation's plan (`[xero.tenants."<tenant id>"]`; README "Xero limits").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantPlan {
    /// Calls a day: 1,000 for an app on Xero's 2026 Starter API tier, else 5,000 (which tier
    /// applies is UNSURE; `X-DayLimit-Remaining` raises it when Xero says more are left).
    pub day_limit: Option<u32>,
    /// Sales invoices the organisation's plan approves a month (Starter-type plans: 20), for
    /// `check` to weigh against the shops' order volume; Xero refuses approvals beyond it.
    pub approved_invoices_per_month: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XeroAuthMode {
    #[default]
    CustomConnection,
    Oauth,
}

/// Batching and retry behaviour.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessingConfig {
    /// Documents per Xero call (Xero recommends at most 50).
    #[serde(default = "defaults::batch_size")]
    pub batch_size: usize,
    /// How long a tenant's batch waits for more events before it is sent, in milliseconds.
    #[serde(default = "defaults::linger_ms")]
    pub linger_ms: u64,
    /// How long invoiced events may wait for their payments call while the tenant has no
    /// calls to spare, in milliseconds; meanwhile more invoiced batches join that one call.
    #[serde(default = "defaults::payment_linger_ms")]
    pub payment_linger_ms: u64,
    /// Unacknowledged deliveries per shard (AMQP prefetch). Events waiting for their payments
    /// stay unacknowledged, so allow for a few seconds of a shard's traffic.
    #[serde(default = "defaults::prefetch")]
    pub prefetch: u16,
    /// How often each processor looks for summary periods to close (shops in
    /// `mode = "summary"`), in milliseconds; 0 turns the background closer off (tests close
    /// on demand).
    #[serde(default = "defaults::summary_close_every_ms")]
    pub summary_close_every_ms: u64,
    /// How often each processor looks for shops due a poll (`crate::poll`), in milliseconds;
    /// 0 turns polling off in this processor.
    #[serde(default = "defaults::poll_every_ms")]
    pub poll_every_ms: u64,
    /// How long after a summary period ends it stays open for late events, in seconds.
    #[serde(default = "defaults::summary_grace_secs")]
    pub summary_grace_secs: u64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl ProcessingConfig {
    pub fn linger(&self) -> Duration {
        Duration::from_millis(self.linger_ms)
    }

    pub fn payment_linger(&self) -> Duration {
        Duration::from_millis(self.payment_linger_ms)
    }

    pub fn summary_grace(&self) -> Duration {
        Duration::from_secs(self.summary_grace_secs)
    }
}

/// One shop: its Xero tenant, what to sync, and its mapping.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    pub platform: Platform,
    pub tenant: String,
    /// Which kinds of event to book; others are acknowledged and recorded as skipped.
    #[serde(default = "defaults::sync")]
    pub sync: Vec<EventKind>,
    #[serde(default)]
    pub contacts: ContactStrategy,
    pub mapping: ShopMapping,
    /// The platform's API, for events that must be fetched (BigCommerce, Etsy, eBay, and
    /// WooCommerce refunds).
    #[serde(default)]
    pub api: Option<PlatformApi>,
    /// `realtime`: a document per order and refund. `summary`: one invoice (and one credit
    /// note) per shop, currency and period; see `crate::summary`.
    #[serde(default)]
    pub mode: SyncMode,
    /// The length of a summary period.
    #[serde(default)]
    pub summary_period: SummaryPeriod,
    /// The shop's time zone, in which summary periods start and end: an IANA name
    /// (`"Europe/London"`), whose daylight saving the periods follow, or a fixed UTC offset
    /// (`"+13:00"`, `"UTC"`); see [`crate::timezone`]. Also spelled `time_zone`.
    #[serde(default, alias = "time_zone")]
    pub timezone: ShopZone,
    /// How often the poller reads the shop's platform API for what webhooks did not bring
    /// (`crate::poll`); needs `api`.
    #[serde(default)]
    pub poll: PollConfig,
    /// Whether the shop's SKUs become Xero items, and whether Xero tracks their stock (README
    /// "Inventory: items mode", "Inventory: tracked mode"): `off` (the default), `items` or
    /// `tracked`.
    #[serde(default)]
    pub inventory: InventoryMode,
    /// How stock changes become Xero adjustments in tracked mode.
    #[serde(default)]
    pub stock: StockConfig,
    /// Whether the platform's payouts and fees are read, so the clearing account empties into
    /// the bank deposit by deposit (README "Payouts", `crate::payouts`): Shopify Payments, Etsy
    /// and eBay only, with `api`, `mode = "realtime"` and `[mapping.payouts]`
    /// ([`check_payouts`]). Default `false`.
    #[serde(default)]
    pub payouts: bool,
}

/// `[shops.NAME.stock]`: tracked inventory's timing (README "Inventory: tracked mode").
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockConfig {
    /// How long an item's stock must have been quiet (no stock event, no order or refund of
    /// it) before its level is compared with Xero's: the platform's stock webhook and the
    /// order that caused it arrive in either order, and an order still on its way would be
    /// counted twice. Default 60.
    pub settle_secs: Option<u64>,
    /// The longest a busy item's comparison waits for a quiet moment; after it, the level is
    /// compared anyway, and an order still on its way is corrected by the next comparison.
    /// Default 1800.
    pub max_wait_secs: Option<u64>,
}

impl StockConfig {
    pub fn settle(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.settle_secs.unwrap_or(60))
    }
    pub fn max_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.max_wait_secs.unwrap_or(1800))
    }
}

/// What a shop's stock is in Xero (README "Inventory: items mode").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryMode {
    /// Lines carry an `ItemCode` only where `mapping.items` names one; stock changes are
    /// recorded in the ledger, nothing more.
    #[default]
    Off,
    /// Every SKU sold or refunded is an untracked Xero item, created on first use, and the
    /// document lines carry its code.
    Items,
    /// Xero tracked inventory: items tracked in Xero, whose quantity the documents move, and
    /// stock changes the sales do not explain posted as inventory adjustments.
    Tracked,
}

impl InventoryMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InventoryMode::Off => "off",
            InventoryMode::Items => "items",
            InventoryMode::Tracked => "tracked",
        }
    }
}

/// `inventory`: summary documents' summed lines have no SKU, and tracked inventory needs its
/// three accounts.
fn check_inventory(name: &str, shop: &ShopConfig) -> Result<(), String> {
    if shop.inventory != InventoryMode::Off && shop.mode == SyncMode::Summary {
        let mode = shop.inventory.as_str();
        return Err(format!(
            "shop {name:?}: inventory = \"{mode}\" cannot go with mode = \"summary\": a \
             summary's lines are sums per account and tax type, with no single SKU to name an \
             item, and a summary books a day's sales at once, so Xero's stock would trail the \
             store's by a period (README \"Inventory: tracked mode\"); use mode = \
             \"realtime\" or inventory = \"off\""
        ));
    }
    if shop.inventory == InventoryMode::Tracked {
        let accounts = &shop.mapping.accounts;
        for (field, value) in [
            ("inventory", &accounts.inventory),
            ("cost_of_goods_sold", &accounts.cost_of_goods_sold),
            ("inventory_adjustments", &accounts.inventory_adjustments),
        ] {
            if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
                return Err(format!(
                    "shop {name:?}: inventory = \"tracked\" needs mapping.accounts.{field} \
                     (README \"Inventory: tracked mode\": the INVENTORY asset account, the \
                     cost-of-goods-sold account and the inventory adjustment account)"
                ));
            }
        }
    }
    Ok(())
}

/// `inventory = "tracked"` needs the platform's API where stock events alone cannot give an
/// item's SKU and level: Shopify's `inventory_levels/update` names no SKU, BigCommerce's
/// webhooks carry ids (and, for an order's change, no level), and Etsy and eBay send no stock
/// webhooks at all, so their stock is polled. WooCommerce and Adobe Commerce events carry the
/// SKU and level (an Adobe Commerce shop without `api` gets no unit cost, so Xero's average
/// cost values the units an adjustment adds).
fn check_tracked_stock_api(name: &str, shop: &ShopConfig) -> Result<(), String> {
    if shop.inventory != InventoryMode::Tracked || shop.api.is_some() {
        return Ok(());
    }
    let (why, api) = match shop.platform {
        Platform::Shopify => (
            "its inventory_levels/update webhooks name no SKU, which is read (with the unit \
             cost) from the Admin API's inventory items",
            "base_url = \"https://<store>.myshopify.com\", token = an Admin API access token \
             with read_inventory (and read_orders)",
        ),
        Platform::BigCommerce => (
            "its inventory webhooks carry ids, and an order's change no level: the SKU, level \
             and cost_price are read from the catalog API",
            "base_url = \"https://api.bigcommerce.com/stores/<store_hash>\", token = an API \
             account's access token with Products read-only (and Orders)",
        ),
        Platform::Etsy | Platform::Ebay => (
            "it sends no stock webhooks: the levels are polled from its API",
            "base_url and token as for polling its orders",
        ),
        Platform::WooCommerce | Platform::Magento => return Ok(()),
    };
    Err(format!(
        "shop {name:?}: inventory = \"tracked\" on {platform} needs [shops.{name}.api]: {why}; \
         configure it ({api}) or set inventory = \"items\"",
        platform = shop.platform,
    ))
}

/// `payouts = true` needs a platform that reports its payouts and fees through its API, and
/// that API. WooCommerce, BigCommerce and Adobe Commerce take payments through gateways
/// (Stripe, PayPal, Braintree) that pay the seller out themselves: their payouts are the
/// gateway's to read, not the store's.
fn check_payouts(name: &str, shop: &ShopConfig) -> Result<(), String> {
    if !shop.payouts {
        return Ok(());
    }
    let platform = shop.platform.display_name();
    let api = match shop.platform {
        Platform::WooCommerce | Platform::BigCommerce | Platform::Magento => {
            return Err(format!(
                "shop {name:?}: payouts = true, but {platform} settles through its payment \
                 gateways; payouts are read from Shopify Payments, Etsy and eBay only (README); \
                 remove payouts from [shops.{name}]"
            ));
        }
        Platform::Shopify => {
            "base_url = \"https://<store>.myshopify.com\", token = an Admin API access token \
             with read_shopify_payments_payouts (and read_orders)"
        }
        Platform::Etsy => {
            "base_url = \"https://api.etsy.com\", token and key as for polling, and shop_id, \
             with the transactions_r scope"
        }
        Platform::Ebay => {
            "base_url = \"https://api.ebay.com\", token = a user token with the \
             sell.finances scope"
        }
    };
    if shop.api.is_none() {
        return Err(format!(
            "shop {name:?}: payouts = true reads {platform}'s payouts from its API, and the \
             shop has no [shops.{name}.api]; configure it ({api}) or set payouts = false"
        ));
    }
    if shop.mode == SyncMode::Summary {
        // A payout is checked order by order against the payments booked for each; summary
        // mode books a day's payments as one, which no payout's orders can be matched to.
        return Err(format!(
            "shop {name:?}: payouts = true needs mode = \"realtime\": a payout is matched order \
             by order to the payments booked for them, and summary mode books a period's \
             payments as one (README \"Payouts\")"
        ));
    }
    let Some(payouts) = &shop.mapping.payouts else {
        return Err(format!(
            "shop {name:?}: payouts = true needs [shops.{name}.mapping.payouts] with \
             bank_accounts (a BANK account per payout currency), fees (the fee expense \
             account) and adjustments.other (README \"Payouts\")"
        ));
    };
    if payouts.bank_accounts.is_empty() {
        return Err(format!(
            "shop {name:?}: [shops.{name}.mapping.payouts] bank_accounts is empty; name the BANK \
             account of each currency the platform pays out in (NZD = \"090\")"
        ));
    }
    for (currency, account) in &payouts.bank_accounts {
        if xcs_shared::domain::Currency::try_from(currency.clone()).is_err() {
            return Err(format!(
                "shop {name:?}: [shops.{name}.mapping.payouts] bank_accounts names {currency:?}, \
                 which is not a three-letter currency code"
            ));
        }
        if account == payouts.clearing(&shop.mapping.accounts) {
            return Err(format!(
                "shop {name:?}: the payouts' bank account for {currency} is the clearing \
                 account {account}; a payout moves money from clearing to the bank, so they \
                 must differ"
            ));
        }
    }
    if payouts.hold_recheck_secs == Some(0) {
        return Err(format!(
            "shop {name:?}: [shops.{name}.mapping.payouts] hold_recheck_secs must be at least 1"
        ));
    }
    Ok(())
}

/// Xero keeps one quantity per item per organisation, so two shops cannot both have their
/// stock tracked in one: whose level would it be? (Their levels may be one warehouse's seen
/// twice, or two warehouses'.)
fn check_one_tracked_shop_per_tenant(shops: &BTreeMap<String, ShopConfig>) -> Result<(), String> {
    let mut tracked: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, shop) in shops {
        if shop.inventory != InventoryMode::Tracked {
            continue;
        }
        if let Some(other) = tracked.insert(shop.tenant.as_str(), name) {
            return Err(format!(
                "shops {other:?} and {name:?} both have inventory = \"tracked\" in tenant \
                 {:?}: Xero keeps one quantity per item per organisation, so only one shop's \
                 stock can be it (README \"Inventory: tracked mode\"); set the other to \
                 inventory = \"items\"",
                shop.tenant
            ));
        }
    }
    Ok(())
}

/// Etsy and eBay send no stock webhooks: a tracked shop's levels come only from reading its
/// catalogue (`crate::poll::stock`), so that read cannot be turned off, and Etsy's is under the
/// shop's id. (A tracked shop without `api` at all is refused by [`check_tracked_stock_api`].)
fn check_polled_stock(name: &str, shop: &ShopConfig) -> Result<(), String> {
    if shop.inventory != InventoryMode::Tracked
        || !matches!(shop.platform, Platform::Etsy | Platform::Ebay)
    {
        return Ok(());
    }
    let platform = shop.platform.display_name();
    let Some(api) = shop.api.as_ref() else {
        return Ok(());
    };
    if shop.poll.stock_interval() == 0 {
        return Err(format!(
            "shop {name:?}: inventory = \"tracked\" on {platform} with poll.stock_interval_secs \
             = 0 reads no stock levels, and {platform} sends none by webhook; give \
             stock_interval_secs a number of seconds (default 900), or set inventory = \"items\""
        ));
    }
    if shop.platform == Platform::Etsy
        && api.shop_id.as_deref().is_none_or(|id| id.trim().is_empty())
    {
        return Err(format!(
            "shop {name:?}: inventory = \"tracked\" on Etsy needs api.shop_id, the shop's \
             numeric id (the number after /shops/ in its webhooks' resource_url), under which \
             its listings' stock is read"
        ));
    }
    Ok(())
}

/// The longest a poll interval, overlap or settle time may be: a week covers every sensible
/// setting, and bounds the time arithmetic the poller does with them.
const MAX_POLL_SECS: u64 = 7 * 86_400;

fn check_poll(name: &str, poll: &PollConfig) -> Result<(), String> {
    for (field, value) in [
        ("interval_secs", poll.interval_secs),
        ("overlap_secs", poll.overlap_secs),
        ("settle_secs", poll.settle_secs),
        ("stock_interval_secs", poll.stock_interval_secs),
        ("payouts_interval_secs", poll.payouts_interval_secs),
    ] {
        if value.is_some_and(|secs| secs > MAX_POLL_SECS) {
            return Err(format!(
                "shop {name:?}: poll.{field} is over a week ({MAX_POLL_SECS} seconds); polls \
                 that far apart leave webhooks' losses unbooked for too long"
            ));
        }
    }
    Ok(())
}

/// A shop's polling (`[shops.NAME.poll]`); see README "Polling and backfill".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollConfig {
    /// Seconds between polls; 0 turns polling off. Default 900 (15 minutes), 300 for Etsy and
    /// eBay, whose refunds only polling finds.
    pub interval_secs: Option<u64>,
    /// How far each poll reaches back before the end of the last one, for clock skew between
    /// the platform and us and for late-indexed changes; the overlap is read twice and booked
    /// once. Default 600.
    pub overlap_secs: Option<u64>,
    /// How recent a change may be and still be left to the next poll, so webhooks on their
    /// way are not counted as missed. Default 120.
    pub settle_secs: Option<u64>,
    /// Seconds between reads of the stock levels of a tracked Etsy or eBay shop, neither of
    /// which sends stock webhooks (`crate::poll::stock`); 0 turns them off. Each read lists
    /// the whole catalogue, so it costs calls in proportion to it. Default 900.
    pub stock_interval_secs: Option<u64>,
    /// Seconds between reads of the paid payouts of a shop with `payouts = true`
    /// (`crate::poll::payouts`); 0 turns them off. Platforms pay out daily at most, so an
    /// hour finds each deposit the day the bank shows it. Default 3600.
    pub payouts_interval_secs: Option<u64>,
}

impl PollConfig {
    /// Seconds between polls of a shop of `platform`; 0 is off.
    pub fn interval(&self, platform: Platform) -> u64 {
        self.interval_secs.unwrap_or(match platform {
            Platform::Etsy | Platform::Ebay => 300,
            _ => 900,
        })
    }
    pub fn overlap(&self) -> u64 {
        self.overlap_secs.unwrap_or(600)
    }
    pub fn settle(&self) -> u64 {
        self.settle_secs.unwrap_or(120)
    }
    /// Seconds between stock reads; 0 is off.
    pub fn stock_interval(&self) -> u64 {
        self.stock_interval_secs.unwrap_or(900)
    }
    /// Seconds between payout reads; 0 is off.
    pub fn payouts_interval(&self) -> u64 {
        self.payouts_interval_secs.unwrap_or(3600)
    }
}

/// How a shop's sales reach Xero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncMode {
    #[default]
    Realtime,
    Summary,
}

/// The length of a summary period, in the shop's time zone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SummaryPeriod {
    Hourly,
    #[default]
    Daily,
    /// ISO weeks, Monday to Sunday.
    Weekly,
}

/// Which Xero contact documents are raised against.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum ContactStrategy {
    /// One contact for the whole shop ("Shopify Sales"), as most e-commerce connectors do.
    Generic { name: String },
    /// A contact per customer, matched by email; guests without an email fall back to the
    /// generic contact `fallback`.
    PerCustomer { fallback: String },
}

impl Default for ContactStrategy {
    fn default() -> Self {
        ContactStrategy::Generic {
            name: "Online Store Sales".to_owned(),
        }
    }
}

pub use xcs_shared::config_file::ConfigError;

impl Config {
    /// Reads and validates `path`, with secrets from the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line, field or shop that is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        config_file::load::<Config>(path)
    }

    /// Parses and validates a configuration, with `env` standing in for the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the line, field or shop that is wrong.
    pub fn from_toml(
        text: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        config_file::from_toml::<Config>(text, env)
    }

    /// Checks the whole; the problem names the field and the fix.
    fn validate_fields(&self) -> Result<(), String> {
        use xcs_shared::config_file::require_secret;
        require_secret(&self.amqp.uri, "amqp.uri", "XCS_AMQP_URI")?;
        require_secret(&self.postgres.url, "postgres.url", "XCS_POSTGRES_URL")?;
        require_secret(
            &self.xero.client_secret,
            "xero.client_secret",
            "XCS_XERO_CLIENT_SECRET",
        )?;
        let invalid = |m: String| Err(m);
        if let Err(err) = crate::token_cipher::TokenCipher::new(self.postgres.token_key.as_ref()) {
            return invalid(err.to_string());
        }
        let schema_ok = !self.postgres.schema.is_empty()
            && self.postgres.schema.len() <= 63
            && self
                .postgres
                .schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !schema_ok {
            return invalid(format!(
                "postgres.schema {:?} must be 1-63 of a-z, 0-9, _",
                self.postgres.schema
            ));
        }
        if self.server.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid(format!(
                "server.listen {:?} is not an address with a port; write it as \"0.0.0.0:9102\" \
                 (or set XCS_PROCESSOR_LISTEN)",
                self.server.listen
            ));
        }
        if let Some(url) = &self.webhooks.public_url {
            check_public_url(url)?;
        }
        if let Some(token) = &self.server.admin_token {
            crate::console::check_admin_token(token)?;
        }
        if !(1..=50).contains(&self.processing.batch_size) {
            return invalid(
                "processing.batch_size must be 1..=50 (Xero's recommended batch)".into(),
            );
        }
        if self.xero.max_in_flight == 0 || self.xero.max_per_minute == 0 {
            return invalid("xero.max_in_flight and xero.max_per_minute must be positive".into());
        }
        for (tenant, plan) in &self.xero.tenants {
            check_tenant_plan(tenant, plan, self.xero.max_per_day, &self.shops)?;
        }
        for (name, shop) in &self.shops {
            xcs_shared::config_file::check_tenant(name, &shop.tenant)?;
            check_document_prefix(name, &shop.mapping.document_prefix)?;
            check_tax(name, &shop.mapping.tax)?;
            check_etsy_shop_id(name, shop)?;
            check_poll(name, &shop.poll)?;
            check_inventory(name, shop)?;
            check_polled_stock(name, shop)?;
            check_tracked_stock_api(name, shop)?;
            check_payouts(name, shop)?;
        }
        check_one_tracked_shop_per_tenant(&self.shops)?;
        let shops: Vec<(&String, &ShopConfig)> = self.shops.iter().collect();
        for (i, (name, shop)) in shops.iter().enumerate() {
            for (other, other_shop) in &shops[i + 1..] {
                if shop.tenant != other_shop.tenant {
                    continue;
                }
                let (mine, theirs) = (
                    &shop.mapping.document_prefix,
                    &other_shop.mapping.document_prefix,
                );
                if let Some(example) = colliding_prefixes(mine, theirs) {
                    return invalid(format!(
                        "shops {name:?} (document_prefix {mine:?}) and {other:?} \
                         (document_prefix {theirs:?}) book into the same tenant, and one prefix \
                         starts the other: {example}; give them prefixes neither of which \
                         starts the other (\"SH-\" and \"WC-\", not \"HA-\" and \"HA-1\")"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The shops booking into `tenant`.
    pub fn shop(&self, name: &str) -> Option<&ShopConfig> {
        self.shops.get(name)
    }
}

impl ConfigFile for Config {
    type Config = Config;

    fn apply_env(&mut self, env: &Env<'_>) {
        env.override_with(&mut self.amqp.uri, "XCS_AMQP_URI");
        env.override_with(&mut self.postgres.url, "XCS_POSTGRES_URL");
        if let Some(key) = env.var("XCS_TOKEN_KEY") {
            self.postgres.token_key = Some(key.into());
        }
        env.override_with(&mut self.xero.client_secret, "XCS_XERO_CLIENT_SECRET");
        env.override_with(&mut self.server.listen, "XCS_PROCESSOR_LISTEN");
        if let Some(token) = env.var("XCS_ADMIN_TOKEN") {
            self.server.admin_token = Some(token.into());
        }
        if let Some(url) = env.var("XCS_WEBHOOKS_PUBLIC_URL") {
            self.webhooks.public_url = Some(url);
        }
        for (name, shop) in &mut self.shops {
            if let Some(api) = &mut shop.api {
                if let Some(token) = env.shop_var(name, "API_TOKEN") {
                    api.token = token.into();
                }
                if let Some(key) = env.shop_var(name, "API_KEY") {
                    api.key = key.into();
                }
            }
        }
    }

    fn validate(mut self) -> Result<Config, String> {
        self.validate_fields()?;
        for shop in self.shops.values_mut() {
            shop.mapping.derive_item_codes = shop.inventory != InventoryMode::Off;
            shop.mapping.tracked_inventory = shop.inventory == InventoryMode::Tracked;
        }
        Ok(self)
    }
}

/// `[xero.tenants.ID]`: an organisation id some shop books into, and limits Xero could have.
fn check_tenant_plan(
    tenant: &str,
    plan: &TenantPlan,
    max_per_day: u32,
    shops: &BTreeMap<String, ShopConfig>,
) -> Result<(), String> {
    let field = format!("xero.tenants.\"{tenant}\"");
    if uuid::Uuid::parse_str(tenant).is_err() {
        return Err(format!(
            "{field}: {tenant:?} is not a Xero organisation id; use the tenant id (a UUID) the \
             shops' tenant fields give"
        ));
    }
    if !shops
        .values()
        .any(|s| s.tenant.eq_ignore_ascii_case(tenant))
    {
        return Err(format!(
            "{field} names an organisation no shop books into; fix the id or remove the section"
        ));
    }
    if let Some(limit) = plan.day_limit
        && !(1..=max_per_day).contains(&limit)
    {
        return Err(format!(
            "{field}.day_limit must be 1..={max_per_day} (xero.max_per_day): Xero's tiers give \
             1,000 or 5,000 calls a day"
        ));
    }
    if plan.approved_invoices_per_month == Some(0) {
        return Err(format!(
            "{field}.approved_invoices_per_month must be positive; leave it out for a plan \
             without a limit"
        ));
    }
    Ok(())
}

/// An Etsy shop that polls lists its receipts under its shop id, which only configuration
/// gives (Etsy's webhooks carry it, the poller has none).
fn check_etsy_shop_id(name: &str, shop: &ShopConfig) -> Result<(), String> {
    let Some(api) = shop.api.as_ref() else {
        return Ok(());
    };
    if shop.platform != Platform::Etsy || shop.poll.interval(shop.platform) == 0 {
        return Ok(());
    }
    match api.shop_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && id != "0" => Ok(()),
        Some(id) => Err(format!(
            "shop {name:?}: api.shop_id {id:?} is not an Etsy shop id; give the shop's numeric id \
             (the number after /shops/ in its webhooks' resource_url)"
        )),
        None => Err(format!(
            "shop {name:?}: an Etsy shop that polls needs api.shop_id, the shop's numeric id (the \
             number after /shops/ in its webhooks' resource_url): polling is how Etsy refunds \
             arrive; add it, or set [shops.{name}.poll] interval_secs = 0 to turn polling off"
        )),
    }
}

/// The longest document prefix: it leaves room for the order number within Xero's 255.
const MAX_DOCUMENT_PREFIX: usize = 40;

/// The tax settings of one mode only: a jurisdiction's account set for a shop booking tax
/// types would be silently unused, and sales-tax lines need an account for every tax.
fn check_tax(shop: &str, tax: &crate::mapping::TaxMapping) -> Result<(), String> {
    use crate::mapping::TaxBooking;
    let blank = |code: &str| code.trim().is_empty();
    match tax.mode {
        TaxBooking::TaxTypes => {
            if tax.liability.is_some() || !tax.by_jurisdiction.is_empty() {
                return Err(format!(
                    "shop {shop:?}: mapping.tax.liability and mapping.tax.by_jurisdiction are \
                     used only with mapping.tax.mode = \"sales_tax_lines\"; set that mode to \
                     book sales tax on liability accounts, or remove them to keep booking tax \
                     types"
                ));
            }
        }
        TaxBooking::SalesTaxLines => {
            if tax.liability.is_none() && tax.by_jurisdiction.is_empty() {
                return Err(format!(
                    "shop {shop:?}: mapping.tax.mode = \"sales_tax_lines\" books the tax on \
                     liability accounts, and none is set; add mapping.tax.liability = \"<account \
                     code>\" (every jurisdiction), mapping.tax.by_jurisdiction = {{ \"CA State \
                     Tax\" = \"<account code>\" }}, or both"
                ));
            }
            if tax.liability.as_deref().is_some_and(blank) {
                return Err(format!(
                    "shop {shop:?}: mapping.tax.liability is empty; give the sales-tax \
                     liability account's code, or remove it"
                ));
            }
            if let Some((jurisdiction, _)) = tax
                .by_jurisdiction
                .iter()
                .find(|(name, code)| blank(name) || blank(code))
            {
                return Err(format!(
                    "shop {shop:?}: mapping.tax.by_jurisdiction {jurisdiction:?} needs a \
                     jurisdiction's name (as the platform names the tax) and an account code"
                ));
            }
        }
    }
    Ok(())
}

/// A document prefix must be non-empty, short, and made of characters that stand in Xero
/// filters and number lists as they are (see `mapping::invoice_number`).
fn check_document_prefix(shop: &str, prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Err(format!(
            "shop {shop:?}: mapping.document_prefix is empty; give each shop its own prefix so \
             invoice numbers cannot collide"
        ));
    }
    if prefix.len() > MAX_DOCUMENT_PREFIX {
        return Err(format!(
            "shop {shop:?}: mapping.document_prefix is {} bytes; at most {MAX_DOCUMENT_PREFIX} \
             leave room for the order number within Xero's 255",
            prefix.len()
        ));
    }
    if let Some(c) = prefix
        .chars()
        .find(|c| c.is_control() || c.is_whitespace() || matches!(c, '"' | '\\' | ',' | '~'))
    {
        return Err(format!(
            "shop {shop:?}: mapping.document_prefix {prefix:?} holds {c:?}; use letters, digits \
             and punctuation other than quotes, backslashes, commas and '~'"
        ));
    }
    Ok(())
}

/// When one shop's prefix starts the other's (compared as Xero compares numbers, ignoring
/// case), the first shop's numbers can be the second's: an example of two orders that would
/// get one number. `None` when no number of one can be a number of the other.
fn colliding_prefixes(a: &str, b: &str) -> Option<String> {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let starts = long
        .get(..short.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(short));
    if !starts {
        return None;
    }
    let rest = &long[short.len()..];
    Some(format!(
        "order {rest}7103 of the {short:?} shop and order 7103 of the {long:?} shop would both \
         be {long}7103"
    ))
}

mod defaults {
    use xcs_shared::EventKind;

    pub fn schema() -> String {
        "xcs".into()
    }
    pub fn listen() -> String {
        "0.0.0.0:9102".into()
    }
    pub fn xero_web_url() -> String {
        "https://go.xero.com".into()
    }
    pub fn pool_size() -> usize {
        8
    }
    pub fn xero_api() -> String {
        "https://api.xero.com/api.xro/2.0".into()
    }
    pub fn xero_identity() -> String {
        "https://identity.xero.com".into()
    }
    pub fn in_flight() -> usize {
        5
    }
    pub fn per_minute() -> u32 {
        60
    }
    pub fn burst() -> usize {
        5
    }
    pub fn per_day() -> u32 {
        5_000
    }
    pub fn xero_timeout_ms() -> u64 {
        30_000
    }
    pub fn xero_authorize() -> String {
        "https://login.xero.com/identity/connect/authorize".into()
    }
    pub fn xero_connections() -> String {
        "https://api.xero.com/connections".into()
    }
    pub fn batch_size() -> usize {
        50
    }
    pub fn linger_ms() -> u64 {
        250
    }
    pub fn payment_linger_ms() -> u64 {
        5_000
    }
    pub fn prefetch() -> u16 {
        500
    }
    pub fn poll_every_ms() -> u64 {
        5_000
    }
    pub fn summary_close_every_ms() -> u64 {
        30_000
    }
    pub fn summary_grace_secs() -> u64 {
        300
    }
    pub fn sync() -> Vec<EventKind> {
        vec![EventKind::Order, EventKind::Refund, EventKind::Inventory]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_config_is_valid() {
        let config = Config::from_toml(
            include_str!("../../deploy/config/processor.local.toml"),
            |_| None,
        )
        .unwrap();
        assert!(config.shops.contains_key("demo-shopify"));
    }

    #[test]
    fn the_shipped_example_config_is_valid() {
        let config = Config::from_toml(
            include_str!("../../deploy/config/processor.example.toml"),
            |_| None,
        )
        .unwrap();
        assert_eq!(config.shops.len(), 2);
        assert!(config.shops["acme-bc"].api.is_some());
    }

    /// A deployment keeps every secret out of the file: the fields may be absent when the
    /// environment sets them, and a start with neither names the field and the variable.
    #[test]
    fn secrets_may_come_from_the_environment_alone_and_tenants_must_be_organisation_ids() {
        use secrecy::ExposeSecret as _;
        let example = include_str!("../../deploy/config/processor.example.toml");
        let without: String = example
            .lines()
            .filter(|line| {
                !(line.starts_with("uri =")
                    || line.starts_with("url =")
                    || line.starts_with("client_secret ="))
            })
            .collect::<Vec<_>>()
            .join("\n");
        assert_ne!(without, example, "the example sets the secrets in the file");
        let env = |name: &str| match name {
            "XCS_AMQP_URI" => Some("amqp://u:p@broker/xcs".to_owned()),
            "XCS_POSTGRES_URL" => Some("postgres://u:p@db/xcs".to_owned()),
            "XCS_XERO_CLIENT_SECRET" => Some("from-env".to_owned()),
            _ => None,
        };
        let config = Config::from_toml(&without, env).unwrap();
        assert_eq!(config.xero.client_secret.expose_secret(), "from-env");
        for (variable, field) in [
            ("XCS_AMQP_URI", "amqp.uri"),
            ("XCS_POSTGRES_URL", "postgres.url"),
            ("XCS_XERO_CLIENT_SECRET", "xero.client_secret"),
        ] {
            let err = Config::from_toml(
                &without,
                |name| {
                    if name == variable { None } else { env(name) }
                },
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(field) && err.contains(variable), "{err}");
        }
        let tenant = config.shops.values().next().unwrap().tenant.clone();
        let err = Config::from_toml(&example.replace(&tenant, "Acme Ltd"), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Xero organisation id"), "{err}");
    }

    #[test]
    fn shops_sharing_a_tenant_need_distinct_prefixes_and_secrets_come_from_the_environment() {
        let text = include_str!("../../deploy/config/processor.example.toml")
            .replace(
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000001",
            )
            .replace("document_prefix = \"BC-\"", "document_prefix = \"SH-\"");
        let err = Config::from_toml(&text, |_| None).unwrap_err().to_string();
        assert!(err.contains("document_prefix"), "{err}");
        // An outside check: HA- and HA-1 gave order 17103 of one shop and 7103 of the other
        // the same invoice number, HA-17103.
        let text = include_str!("../../deploy/config/processor.example.toml")
            .replace(
                "00000000-0000-0000-0000-000000000002",
                "00000000-0000-0000-0000-000000000001",
            )
            .replace("document_prefix = \"BC-\"", "document_prefix = \"sh-1\"");
        let err = Config::from_toml(&text, |_| None).unwrap_err().to_string();
        assert!(
            err.contains("one prefix starts the other") && err.contains("sh-17103"),
            "{err}"
        );

        let config = Config::from_toml(
            include_str!("../../deploy/config/processor.example.toml"),
            |name| (name == "XCS_SHOP_ACME_BC_API_TOKEN").then(|| "from-env".to_owned()),
        )
        .unwrap();
        use secrecy::ExposeSecret;
        let api = config.shops["acme-bc"].api.as_ref().unwrap();
        assert_eq!(api.token.expose_secret(), "from-env");
    }

    #[test]
    fn inventory_defaults_to_off_items_and_tracked_are_taken_and_the_rest_refused() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        let shop = &config.shops["acme-bc"];
        assert_eq!(shop.inventory, InventoryMode::Off);
        assert!(!shop.mapping.derive_item_codes);
        let with = |settings: &str| {
            example.replacen(
                "[shops.acme-bc]\n",
                &format!("[shops.acme-bc]\n{settings}\n"),
                1,
            )
        };
        let config = Config::from_toml(&with("inventory = \"items\""), |_| None).unwrap();
        let shop = &config.shops["acme-bc"];
        assert_eq!(shop.inventory, InventoryMode::Items);
        assert!(shop.mapping.derive_item_codes && !shop.mapping.tracked_inventory);

        // Tracked needs its three accounts.
        let err = Config::from_toml(&with("inventory = \"tracked\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme-bc")
                && err.contains("mapping.accounts.inventory")
                && err.contains("Inventory: tracked mode"),
            "{err}"
        );
        let accounts = "[shops.acme-bc.mapping.accounts]\n";
        let tracked = with("inventory = \"tracked\"").replacen(
            accounts,
            &format!(
                "{accounts}inventory = \"630\"\ncost_of_goods_sold = \"310\"\n\
                 inventory_adjustments = \"311\"\n"
            ),
            1,
        );
        let config = Config::from_toml(&tracked, |_| None).unwrap();
        let shop = &config.shops["acme-bc"];
        assert_eq!(shop.inventory, InventoryMode::Tracked);
        assert!(shop.mapping.derive_item_codes && shop.mapping.tracked_inventory);
        assert_eq!(shop.stock.settle(), std::time::Duration::from_secs(60));

        let err = Config::from_toml(&with("inventory = \"items\"\nmode = \"summary\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("summary") && err.contains("SKU"), "{err}");
        let err = Config::from_toml(&with("inventory = \"stock\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("stock") && err.contains("items"), "{err}");
    }

    #[test]
    fn payouts_default_off_and_are_refused_for_gateway_platforms_and_shops_without_api() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        assert!(!config.shops["acme-shopify"].payouts);

        let shopify = example.replacen(
            "[shops.acme-shopify]\n",
            "[shops.acme-shopify]\npayouts = true\n",
            1,
        );
        assert_ne!(shopify, example, "the example's Shopify shop moved");
        let err = Config::from_toml(&shopify, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[shops.acme-shopify.mapping.payouts]") && err.contains("bank_accounts"),
            "{err}"
        );
        let mapped = shopify.replacen(
            "[shops.acme-shopify.mapping.accounts]\n",
            "[shops.acme-shopify.mapping.payouts]\nbank_accounts = { NZD = \"090\" }\n\
             fees = \"404\"\nadjustments = { other = \"830\" }\n\n\
             [shops.acme-shopify.mapping.accounts]\n",
            1,
        );
        assert_ne!(mapped, shopify, "the example's Shopify accounts moved");
        let config = Config::from_toml(&mapped, |_| None).unwrap();
        let payouts = config.shops["acme-shopify"]
            .mapping
            .payouts
            .as_ref()
            .unwrap();
        assert_eq!(payouts.bank_account("NZD"), Some("090"));
        let summary = mapped.replacen(
            "payouts = true\n",
            "payouts = true\nmode = \"summary\"\n",
            1,
        );
        let err = Config::from_toml(&summary, |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("realtime"), "{err}");
        let same = mapped.replacen("NZD = \"090\"", "NZD = \"615\"", 1);
        let err = Config::from_toml(&same, |_| None).unwrap_err().to_string();
        assert!(err.contains("must differ"), "{err}");

        let bigcommerce =
            example.replacen("[shops.acme-bc]\n", "[shops.acme-bc]\npayouts = true\n", 1);
        assert_ne!(bigcommerce, example, "the example's BigCommerce shop moved");
        let err = Config::from_toml(&bigcommerce, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme-bc")
                && err.contains(
                    "settles through its payment gateways; payouts are read from Shopify \
                     Payments, Etsy and eBay only (README)"
                ),
            "{err}"
        );

        let api = "[shops.acme-shopify.api]\nbase_url = \"https://acme.myshopify.com\"\n\
                   token = \"placeholder\"";
        let (before, after) = shopify
            .split_once(api)
            .expect("the example's Shopify api moved");
        let after = after.split_once("\n[").map_or("", |(_, rest)| rest);
        let without_api = format!("{before}[{after}");
        let err = Config::from_toml(&without_api, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme-shopify")
                && err.contains("[shops.acme-shopify.api]")
                && err.contains("shopify_payments_payouts")
                && err.contains("payouts = false"),
            "{err}"
        );
        let off = without_api.replacen("payouts = true\n", "", 1);
        Config::from_toml(&off, |_| None).unwrap();

        // The example's commented [mapping.payouts], its settings uncommented, is one the
        // shop starts with.
        let start = shopify
            .find("# [shops.acme-shopify.mapping.payouts]")
            .expect("the example's payouts mapping moved");
        let last = start
            + shopify[start..]
                .find("# currency_conversion")
                .expect("the example's payouts adjustments moved");
        let end = last + shopify[last..].find('\n').unwrap_or(shopify.len() - last);
        let setting = |line: &&str| {
            line.starts_with('[')
                || line
                    .split_once(" = ")
                    .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        };
        let block: Vec<&str> = shopify[start..end]
            .lines()
            .filter_map(|line| line.strip_prefix("# "))
            .filter(setting)
            .collect();
        let uncommented = format!(
            "{}{}{}",
            &shopify[..start],
            block.join("\n"),
            &shopify[end..]
        );
        let config = Config::from_toml(&uncommented, |_| None).unwrap();
        let payouts = config.shops["acme-shopify"]
            .mapping
            .payouts
            .as_ref()
            .expect("the example's payouts mapping, uncommented");
        assert_eq!(payouts.bank_account("NZD"), Some("090"));
        assert_eq!(payouts.adjustments.reserve.as_deref(), Some("620"));
    }

    #[test]
    fn two_tracked_shops_cannot_share_an_organisation() {
        let mut shops = BTreeMap::new();
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        for (name, mut shop) in config.shops.into_iter().take(2) {
            shop.tenant = "00000000-0000-0000-0000-000000000001".to_owned();
            shop.inventory = InventoryMode::Tracked;
            shops.insert(name, shop);
        }
        let err = check_one_tracked_shop_per_tenant(&shops).unwrap_err();
        assert!(err.contains("one quantity per item"), "{err}");
        shops.values_mut().next().unwrap().inventory = InventoryMode::Items;
        assert!(check_one_tracked_shop_per_tenant(&shops).is_ok());
    }

    #[test]
    fn tracked_stock_without_the_platform_api_is_refused_where_events_lack_the_sku() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let api = "[shops.acme-shopify.api]\nbase_url = \"https://acme.myshopify.com\"\n";
        assert!(
            example.contains(api),
            "the example's Shopify api section moved"
        );
        let tracked = example
            .replacen("inventory = \"off\"\n", "inventory = \"tracked\"\n", 1)
            .replacen(
                "[shops.acme-shopify.mapping.accounts]\n",
                "[shops.acme-shopify.mapping.accounts]\ninventory = \"630\"\n\
                 cost_of_goods_sold = \"310\"\ninventory_adjustments = \"311\"\n",
                1,
            );
        let config = Config::from_toml(&tracked, |_| None).unwrap();
        assert_eq!(
            config.shops["acme-shopify"].inventory,
            InventoryMode::Tracked
        );
        let without_api = tracked.replacen(api, "[shops.acme-shopify.api-gone]\n", 1);
        let without_api = without_api
            .split('\n')
            .scan(false, |in_gone, line| {
                if line.starts_with('[') {
                    *in_gone = line == "[shops.acme-shopify.api-gone]";
                }
                Some((!*in_gone).then_some(line))
            })
            .flatten()
            .collect::<Vec<_>>()
            .join("\n");
        let err = Config::from_toml(&without_api, |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("acme-shopify")
                && err.contains("[shops.acme-shopify.api]")
                && err.contains("no SKU")
                && err.contains("inventory = \"items\""),
            "{err}"
        );
        // Without tracked mode the same shop needs no API.
        let items = without_api.replacen("inventory = \"tracked\"", "inventory = \"items\"", 1);
        Config::from_toml(&items, |_| None).unwrap();
    }

    #[test]
    fn summary_mode_settings_default_to_realtime_and_bad_ones_are_refused_at_start() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        let shop = &config.shops["acme-bc"];
        assert_eq!(shop.mode, SyncMode::Realtime);
        assert_eq!(shop.summary_period, SummaryPeriod::Daily);
        assert_eq!(shop.timezone.name(), "UTC");

        let with = |settings: &str| {
            example.replacen(
                "[shops.acme-bc]\n",
                &format!("[shops.acme-bc]\n{settings}\n"),
                1,
            )
        };
        let config = Config::from_toml(
            &with("mode = \"summary\"\nsummary_period = \"hourly\"\ntimezone = \"+13:00\""),
            |_| None,
        )
        .unwrap();
        let shop = &config.shops["acme-bc"];
        assert_eq!(shop.mode, SyncMode::Summary);
        assert_eq!(shop.summary_period, SummaryPeriod::Hourly);
        let at = time::macros::datetime!(2026-07-01 12:00 UTC);
        assert_eq!(
            shop.timezone.local(at).offset(),
            time::UtcOffset::from_hms(13, 0, 0).unwrap()
        );
        // An IANA name follows daylight saving (`time_zone` is the other spelling).
        let config = Config::from_toml(&with("time_zone = \"Europe/London\""), |_| None).unwrap();
        let london = &config.shops["acme-bc"].timezone;
        assert_eq!(
            london.local(at).offset(),
            time::UtcOffset::from_hms(1, 0, 0).unwrap()
        );
        let winter = time::macros::datetime!(2026-12-01 12:00 UTC);
        assert_eq!(london.local(winter).offset(), time::UtcOffset::UTC);

        let err = Config::from_toml(&with("summary_period = \"monthly\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("monthly") && err.contains("daily"), "{err}");
        let err = Config::from_toml(&with("timezone = \"Pacific/Aukland\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("Pacific/Aukland")
                && err.contains("Europe/London")
                && err.contains("+13:00"),
            "{err}"
        );
        use crate::timezone::parse_offset;
        assert_eq!(
            parse_offset("-0530"),
            time::UtcOffset::from_hms(-5, -30, 0).ok()
        );
        assert_eq!(parse_offset("+5"), time::UtcOffset::from_hms(5, 0, 0).ok());
        assert_eq!(parse_offset("+25:00"), None);
    }

    #[test]
    fn poll_times_over_a_week_are_refused_naming_the_shop_and_field() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let with = |poll: &str| {
            example.replacen(
                "[shops.acme-bc.mapping]\n",
                &format!("[shops.acme-bc.poll]\n{poll}\n[shops.acme-bc.mapping]\n"),
                1,
            )
        };
        Config::from_toml(&with("overlap_secs = 604800"), |_| None).unwrap();
        let err = Config::from_toml(&with("settle_secs = 604801"), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"acme-bc\"") && err.contains("poll.settle_secs"),
            "{err}"
        );
    }

    #[test]
    fn an_etsy_shop_that_polls_needs_its_shop_id() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let etsy = |api: &str, poll: &str| {
            example
                .replacen("platform = \"bigcommerce\"", "platform = \"etsy\"", 1)
                .replacen(
                    "token = \"placeholder\"  # X-Auth-Token",
                    &format!("{api}\ntoken = \"placeholder\"  # X-Auth-Token"),
                    1,
                )
                .replacen(
                    "[shops.acme-bc.mapping]\n",
                    &format!("{poll}[shops.acme-bc.mapping]\n"),
                    1,
                )
        };
        let err = Config::from_toml(&etsy("", ""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\"acme-bc\"")
                && err.contains("needs api.shop_id")
                && err.contains("interval_secs = 0"),
            "{err}"
        );
        let err = Config::from_toml(&etsy("shop_id = \"acme\"", ""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"acme\" is not an Etsy shop id"), "{err}");
        let config = Config::from_toml(&etsy("shop_id = \"31415926\"", ""), |_| None).unwrap();
        let api = config.shops["acme-bc"].api.as_ref().unwrap();
        assert_eq!(api.shop_id.as_deref(), Some("31415926"));
        // Not polled: nothing needs the shop id.
        Config::from_toml(
            &etsy("", "[shops.acme-bc.poll]\ninterval_secs = 0\n"),
            |_| None,
        )
        .unwrap();
    }

    #[test]
    fn sales_tax_lines_need_a_liability_account_and_their_settings_need_the_mode() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        assert_eq!(
            config.shops["acme-bc"].mapping.tax.mode,
            crate::mapping::TaxBooking::TaxTypes,
            "tax types unless a shop says otherwise"
        );
        let with = |settings: &str| {
            example.replacen(
                "[shops.acme-bc.mapping.tax]\n",
                &format!("[shops.acme-bc.mapping.tax]\n{settings}\n"),
                1,
            )
        };
        let config = Config::from_toml(
            &with("mode = \"sales_tax_lines\"\nby_jurisdiction = { \"CA State Tax\" = \"2210\" }"),
            |_| None,
        )
        .unwrap();
        let tax = &config.shops["acme-bc"].mapping.tax;
        assert_eq!(tax.mode, crate::mapping::TaxBooking::SalesTaxLines);
        assert_eq!(tax.by_jurisdiction["CA State Tax"], "2210");

        for (settings, expected) in [
            ("mode = \"sales_tax_lines\"", "mapping.tax.liability"),
            ("mode = \"sales_tax_lines\"\nliability = \" \"", "is empty"),
            ("liability = \"2200\"", "mode = \"sales_tax_lines\""),
            (
                "mode = \"sales_tax_lines\"\nby_jurisdiction = { \"GST\" = \"\" }",
                "\"GST\"",
            ),
        ] {
            let err = Config::from_toml(&with(settings), |_| None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected) && err.contains("acme-bc"),
                "{settings}: {err}"
            );
        }
        let err = Config::from_toml(&with("mode = \"sales_tax\""), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sales_tax_lines"), "{err}");
    }

    #[test]
    fn the_webhook_address_is_the_ingress_route_under_a_validated_public_url() {
        let example = include_str!("../../deploy/config/processor.example.toml");
        let config = Config::from_toml(example, |_| None).unwrap();
        assert_eq!(
            config.webhooks.address(Platform::Shopify, "acme-shopify"),
            None,
            "no address without a public_url"
        );
        let with = |url: &str| {
            example.replacen(
                "[amqp]",
                &format!("[webhooks]\npublic_url = {url:?}\n[amqp]"),
                1,
            )
        };
        let config = Config::from_toml(&with("https://hooks.example.com/xcs/"), |_| None).unwrap();
        assert_eq!(
            config
                .webhooks
                .address(Platform::BigCommerce, "acme-bc")
                .as_deref(),
            Some("https://hooks.example.com/xcs/webhooks/bigcommerce/acme-bc")
        );
        let config = Config::from_toml(&with("https://file.example"), |name| {
            (name == "XCS_WEBHOOKS_PUBLIC_URL").then(|| "https://env.example".to_owned())
        })
        .unwrap();
        assert_eq!(
            config.webhooks.public_url.as_deref(),
            Some("https://env.example"),
            "the environment replaces the file's"
        );
        for (url, why) in [
            ("hooks.example.com", "not an absolute URL"),
            ("ftp://hooks.example.com", "not http or https"),
            ("https://hooks.example.com/?shop=1", "query or fragment"),
            ("https://user:pw@hooks.example.com", "credentials"),
        ] {
            let err = Config::from_toml(&with(url), |_| None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("webhooks.public_url") && err.contains(why),
                "{url}: {err}"
            );
        }
    }
}
