//! `xcs-processor webhooks check|sync`: whether each shop's platform delivers the topics its
//! `sync` kinds need to the ingress, read from the platform's own API, and putting right what
//! that API allows.
//!
//! - **The address.** A shop's webhooks must go to `{[webhooks] public_url}/webhooks/{platform}/
//!   {shop}`, the ingress's route. Neither config held the ingress's public URL before; without
//!   it nothing can be compared, and the commands say so (exit 2; `check` skips the lines).
//! - **The topics.** Each platform's `webhooks.rs` lists the topics the ingress books, with the
//!   kinds each is booked as; a shop needs those of its `sync` kinds ([`needed_topics`]).
//! - **What is seen.** Per topic: *healthy* (a subscription of ours that delivers), *missing*,
//!   *off* (ours, but the platform stopped it, or it would be refused: the API can turn it back
//!   on), *failing* (ours and on, but deliveries fail in a way no API call fixes), or
//!   *elsewhere* (only subscriptions to other addresses: none of ours). "Ours" is a
//!   subscription whose address is the shop's address (compared as URLs: case of scheme and
//!   host, default port and a trailing `/` do not matter). A healthy topic that is also
//!   delivered elsewhere is a warning: the seller may have another integration, or an old
//!   address left behind.
//! - **What `sync` does.** Creates what is missing (also beside another address: it adds ours
//!   and never deletes or repoints the seller's other subscriptions), turns back on what is off,
//!   and prints the step a person must take for the rest: failing deliveries, eBay's one
//!   subscription per topic already pointing elsewhere, and Etsy and Adobe Commerce, whose
//!   registrations no API of the shop's reaches. It lists before it writes and writes only what
//!   the listing lacks, so a second run changes nothing; a platform's own refusal of a
//!   duplicate (Shopify's 422, eBay's 409) counts as "already there". It then lists again and
//!   reports what stands.
//! - **Secrets.** A subscription must be signed with, or carry, what the ingress checks:
//!   WooCommerce a webhook secret of the shop's, BigCommerce its `required_headers`, eBay the
//!   verification token and exact endpoint its challenge hashes. Those live in the ingress's
//!   config, which the processor reads only when given (`--ingress-config`, as `check` does).
//!   Without it `sync` does not create such subscriptions (WooCommerce would make up a secret the
//!   ingress refuses, and disable the webhook after its fifth failure), and says to pass it;
//!   `check` cannot compare headers. Secrets are never printed.
//!
//! Exit codes, as `status`: 0 when every shop is healthy (warnings and the manual platforms'
//! steps do not count), 1 when something needs a person (or `sync`), 2 when the command could
//! not run.

use std::fmt::Write as _;
use std::path::PathBuf;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use xcs_shared::ingress_shops::{IngressShop, IngressShops};
use xcs_shared::{EventKind, Platform};

use crate::config::{Config, ShopConfig};
use crate::error::ProcessError;
use crate::platforms::api::{Auth, Fetcher, PlatformApi, Reply};
use crate::platforms::{bigcommerce, ebay, etsy, magento, shopify, woocommerce};

/// A topic a platform delivers, and the kinds of event the ingress books it as.
#[derive(Debug, Clone, Copy)]
pub struct WebhookTopic {
    /// The platform's own name: Shopify's topic, BigCommerce's scope, eBay's topic id…
    pub name: &'static str,
    pub kinds: &'static [EventKind],
}

/// Every topic of `platform` the shop may need (its `webhooks.rs`).
pub fn topics(platform: Platform) -> &'static [WebhookTopic] {
    match platform {
        Platform::Shopify => shopify::webhooks::TOPICS,
        Platform::WooCommerce => woocommerce::webhooks::TOPICS,
        Platform::BigCommerce => bigcommerce::webhooks::TOPICS,
        Platform::Magento => magento::webhooks::TOPICS,
        Platform::Etsy => etsy::webhooks::TOPICS,
        Platform::Ebay => ebay::webhooks::TOPICS,
    }
}

/// The topics a shop booking `sync` needs, in the platform's order.
pub fn needed_topics(platform: Platform, sync: &[EventKind]) -> Vec<&'static str> {
    topics(platform)
        .iter()
        .filter(|topic| topic.kinds.iter().any(|kind| sync.contains(kind)))
        .map(|topic| topic.name)
        .collect()
}

/// One subscription as the platform's API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Subscription {
    /// The platform's id for it (eBay: the subscription's, its destination's in `detail`).
    pub id: String,
    pub topic: String,
    /// Where it delivers.
    pub address: String,
    pub health: Health,
}

/// Whether a subscription delivers.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Health {
    Active,
    /// Delivers nothing now (or only what the ingress refuses), and the platform's API can set
    /// it right ([`repair`]).
    Off {
        why: String,
    },
    /// On, but deliveries fail in a way no API call fixes.
    Failing {
        why: String,
        next: String,
    },
}

/// How one needed topic stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TopicState {
    Healthy,
    Missing,
    Off,
    Failing,
    /// Only subscriptions to other addresses.
    Elsewhere,
}

/// One needed topic of a shop.
#[derive(Debug, Clone, Serialize)]
pub struct TopicReport {
    pub topic: String,
    pub state: TopicState,
    /// Ours, when there is one.
    pub subscription: Option<Subscription>,
    /// The topic's subscriptions to other addresses: not ours, never changed by `sync`.
    pub elsewhere: Vec<Subscription>,
    pub detail: String,
    /// What `sync` does about it, or what a person must; `None` when healthy.
    pub next: Option<String>,
    /// Whether `sync` can put it right through the API.
    #[serde(skip)]
    fix: Fix,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    None,
    Create,
    Repair,
}

/// Something about a shop beyond its topics.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// It keeps deliveries from being booked (else a warning).
    pub fail: bool,
    pub detail: String,
    pub next: String,
}

/// What was found for a shop.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Listed from the platform's API.
    Checked { topics: Vec<TopicReport> },
    /// The platform's API cannot list them for this shop: the step a person takes.
    Manual { step: String },
    /// Could not be listed.
    NotChecked { why: String, next: String },
}

/// One shop's webhook health.
#[derive(Debug, Clone, Serialize)]
pub struct ShopReport {
    pub shop: String,
    pub platform: Platform,
    /// Where its webhooks must go.
    pub address: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub findings: Vec<Finding>,
    /// What `sync` did (or, with `--dry-run`, would do), in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
}

/// A shop's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Healthy,
    /// Works; someone should know.
    Warning,
    NeedsPerson,
}

impl ShopReport {
    pub fn verdict(&self) -> Verdict {
        let mut verdict = Verdict::Healthy;
        for finding in &self.findings {
            verdict = verdict.max(if finding.fail {
                Verdict::NeedsPerson
            } else {
                Verdict::Warning
            });
        }
        match &self.outcome {
            Outcome::Checked { topics } => {
                for topic in topics {
                    verdict = verdict.max(match topic.state {
                        TopicState::Healthy if topic.elsewhere.is_empty() => Verdict::Healthy,
                        TopicState::Healthy => Verdict::Warning,
                        _ => Verdict::NeedsPerson,
                    });
                }
                verdict
            }
            // Nothing the processor can read tells; the step is printed every time.
            Outcome::Manual { .. } => verdict.max(Verdict::Warning),
            Outcome::NotChecked { .. } => Verdict::NeedsPerson,
        }
    }

    /// One line for `check`: the verdict's gist and what to do next.
    pub fn summary(&self) -> (String, Option<String>) {
        match &self.outcome {
            Outcome::Manual { step } => (
                format!(
                    "{} webhooks cannot be listed through the shop's API: check them by hand",
                    self.platform.display_name()
                ),
                Some(step.clone()),
            ),
            Outcome::NotChecked { why, next } => (why.clone(), Some(next.clone())),
            Outcome::Checked { topics } => {
                let bad: Vec<String> = topics
                    .iter()
                    .filter(|t| t.state != TopicState::Healthy)
                    .map(|t| format!("{} {}", t.topic, state_word(t.state)))
                    .collect();
                let elsewhere: Vec<&str> = topics
                    .iter()
                    .filter(|t| t.state == TopicState::Healthy && !t.elsewhere.is_empty())
                    .map(|t| t.topic.as_str())
                    .collect();
                let failing: Vec<&Finding> = self.findings.iter().filter(|f| f.fail).collect();
                let mut detail = if bad.is_empty() {
                    format!("{} topic(s) subscribed to {}", topics.len(), self.address)
                } else {
                    format!(
                        "{} of {} topic(s) need attention: {}",
                        bad.len(),
                        topics.len(),
                        bad.join(", ")
                    )
                };
                if !elsewhere.is_empty() {
                    let _ = write!(
                        detail,
                        "; also delivered to another address: {}",
                        elsewhere.join(", ")
                    );
                }
                for finding in &self.findings {
                    let _ = write!(detail, "; {}", finding.detail);
                }
                let next = if !bad.is_empty() || !failing.is_empty() {
                    Some(format!(
                        "run `xcs-processor webhooks check --shop {shop}` for each topic, and \
                         `xcs-processor webhooks sync --shop {shop}` to create or turn on what \
                         the {} API allows",
                        self.platform.display_name(),
                        shop = self.shop
                    ))
                } else if !elsewhere.is_empty() || !self.findings.is_empty() {
                    Some(format!(
                        "see `xcs-processor webhooks check --shop {}`; sync leaves other \
                         addresses as they are",
                        self.shop
                    ))
                } else {
                    None
                };
                (detail, next)
            }
        }
    }
}

fn state_word(state: TopicState) -> &'static str {
    match state {
        TopicState::Healthy => "healthy",
        TopicState::Missing => "missing",
        TopicState::Off => "off",
        TopicState::Failing => "failing",
        TopicState::Elsewhere => "delivered only elsewhere",
    }
}

/// Why a command could not run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "[webhooks] public_url is not set, so there is no address to compare the subscriptions \
         with; set it to the ingress's public base URL (or XCS_WEBHOOKS_PUBLIC_URL), e.g. \
         https://hooks.example.com"
    )]
    NoPublicUrl,
    #[error("no shop {0:?} in the config; the names are the [shops.NAME] sections")]
    UnknownShop(String),
    #[error("the ingress config cannot be read ({0}); fix it or leave out --ingress-config")]
    IngressConfig(String),
}

/// What a platform call went wrong with; each says what to do next ([`WebhookError::next`]).
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Transport error, 5xx or 429: trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    /// 401 or 403: the shop's credentials, or what they may do.
    #[error("{detail}")]
    Refused { detail: String, grant: String },
    /// The subscription must carry a secret only the ingress's config holds.
    #[error("{0}")]
    NeedsIngressConfig(String),
    /// Any other answer, and what to do about it.
    #[error("{detail}")]
    Answered { detail: String, next: String },
}

impl WebhookError {
    pub fn next(&self, shop: &str) -> String {
        match self {
            WebhookError::Unavailable(_) => {
                "the platform's API is unreachable or failing now; check [shops.NAME.api] \
                 base_url and try again"
                    .replace("NAME", shop)
            }
            WebhookError::Refused { grant, .. } => format!(
                "{grant} (token in [shops.{shop}.api], or {}API_TOKEN / _API_KEY)",
                xcs_shared::shop_env_prefix(shop)
            ),
            WebhookError::NeedsIngressConfig(_) => {
                "pass --ingress-config PATH (the ingress's config file), which holds the shop's \
                 secrets; they are never printed"
                    .to_owned()
            }
            WebhookError::Answered { next, .. } => next.clone(),
        }
    }
}

/// What a platform's webhook code works with for one shop.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub fetcher: &'a Fetcher,
    pub shop: &'a str,
    pub api: &'a PlatformApi,
    /// Where the shop's webhooks must go.
    pub address: &'a str,
    /// The shop in the ingress's config, for its secrets; `None` without `--ingress-config`.
    pub ingress: Option<&'a IngressShop>,
}

impl Ctx<'_> {
    /// One call to the platform's API; transport errors, 5xx and 429 are
    /// [`WebhookError::Unavailable`], 401 and 403 [`WebhookError::Refused`] with `grant` (what
    /// the credentials need). Every other answer is the caller's to read.
    pub(crate) async fn call(
        &self,
        auth: Auth,
        method: Method,
        path: &str,
        body: Option<&Value>,
        grant: &str,
    ) -> Result<Reply, WebhookError> {
        let call = format!("{method} {}", path.split('?').next().unwrap_or(path));
        let reply = self
            .fetcher
            .call(self.api, auth, method, path, body)
            .await
            .map_err(|err| {
                // `call` fails only to reach or read the API; its own words name no order.
                let detail = match err {
                    ProcessError::Hydration(detail) => detail,
                    other => other.to_string(),
                };
                WebhookError::Unavailable(format!("{call}: {detail}"))
            })?;
        let status = reply.status;
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(WebhookError::Unavailable(format!(
                "{call} answered {status}"
            )));
        }
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(WebhookError::Refused {
                detail: format!("{call} answered {status}{}", said(&reply.body)),
                grant: grant.to_owned(),
            });
        }
        Ok(reply)
    }
}

/// `: "what the platform said"` for an error answer, short; empty when it said nothing. Error
/// bodies are the platform's words about our request, which never echo the request's secrets.
pub(crate) fn said(body: &Value) -> String {
    if body.is_null() {
        return String::new();
    }
    let text = body.to_string();
    let mut short: String = text.chars().take(300).collect();
    if short.len() < text.len() {
        short.push('…');
    }
    format!(": {short}")
}

/// An answer the caller did not expect, as an error naming the call and what to do.
pub(crate) fn unexpected(what: &str, reply: &Reply, next: &str) -> WebhookError {
    WebhookError::Answered {
        detail: format!(
            "{what}: the API answered {}{}",
            reply.status,
            said(&reply.body)
        ),
        next: next.to_owned(),
    }
}

/// Whether two webhook addresses are the same URL (scheme and host case, default port, a
/// trailing `/`).
pub fn same_address(a: &str, b: &str) -> bool {
    fn normal(url: &str) -> String {
        reqwest::Url::parse(url.trim()).map_or_else(
            |_| url.trim().trim_end_matches('/').to_owned(),
            |u| u.as_str().trim_end_matches('/').to_owned(),
        )
    }
    normal(a) == normal(b)
}

/// The most pages any listing reads: far more subscriptions than a shop has; a platform whose
/// next link never ends is cut off rather than followed forever.
pub(crate) const MAX_PAGES: usize = 100;

/// Whether a subscription to `subscribed` delivers `needed` (BigCommerce's `store/order/*`).
fn covers(platform: Platform, subscribed: &str, needed: &str) -> bool {
    match platform {
        Platform::BigCommerce => bigcommerce::webhooks::covers(subscribed, needed),
        _ => subscribed == needed,
    }
}

async fn list(platform: Platform, ctx: &Ctx<'_>) -> Result<Listing, WebhookError> {
    match platform {
        Platform::Shopify => shopify::webhooks::list(ctx).await,
        Platform::WooCommerce => woocommerce::webhooks::list(ctx).await,
        Platform::BigCommerce => bigcommerce::webhooks::list(ctx).await,
        Platform::Ebay => ebay::webhooks::list(ctx).await,
        Platform::Etsy | Platform::Magento => Ok(Listing::default()),
    }
}

/// What a platform's listing found: the subscriptions, and what it saw about the shop besides.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub subscriptions: Vec<Subscription>,
    pub findings: Vec<Finding>,
}

/// What a create call came to.
pub(crate) enum Created {
    /// The platform's id of the new subscription.
    New(String),
    /// The platform refused it as a duplicate: it is there already.
    Existed,
}

async fn create(platform: Platform, ctx: &Ctx<'_>, topic: &str) -> Result<Created, WebhookError> {
    match platform {
        Platform::Shopify => shopify::webhooks::create(ctx, topic).await,
        Platform::WooCommerce => woocommerce::webhooks::create(ctx, topic).await,
        Platform::BigCommerce => bigcommerce::webhooks::create(ctx, topic).await,
        Platform::Ebay => ebay::webhooks::create(ctx, topic).await,
        Platform::Etsy | Platform::Magento => unreachable!("manual platforms create nothing"),
    }
}

async fn repair(
    platform: Platform,
    ctx: &Ctx<'_>,
    subscription: &Subscription,
) -> Result<(), WebhookError> {
    match platform {
        Platform::WooCommerce => woocommerce::webhooks::repair(ctx, subscription).await,
        Platform::BigCommerce => bigcommerce::webhooks::repair(ctx, subscription).await,
        Platform::Ebay => ebay::webhooks::repair(ctx, subscription).await,
        // Shopify lists nothing as off (it deletes what keeps failing); the manual platforms
        // list nothing at all.
        Platform::Shopify | Platform::Etsy | Platform::Magento => {
            unreachable!("{platform} lists no subscription that is off")
        }
    }
}

/// The step a person takes for a platform whose subscriptions the shop's API cannot manage.
fn manual_step(platform: Platform, shop: &str, address: &str, topics: &[&str]) -> Option<String> {
    match platform {
        Platform::Etsy => Some(etsy::webhooks::manual_step(shop, address, topics)),
        Platform::Magento => Some(magento::webhooks::manual_step(shop, address, topics)),
        _ => None,
    }
}

/// eBay allows one subscription per topic for the application (or user): one that points
/// elsewhere cannot be joined by ours, only moved, which `sync` leaves to a person.
fn one_subscription_per_topic(platform: Platform) -> bool {
    platform == Platform::Ebay
}

/// How each needed topic stands, from the subscriptions listed.
fn assess(
    platform: Platform,
    address: &str,
    needed: &[&str],
    subscriptions: &[Subscription],
) -> Vec<TopicReport> {
    let name = platform.display_name();
    needed
        .iter()
        .map(|topic| {
            let covering: Vec<&Subscription> = subscriptions
                .iter()
                .filter(|s| covers(platform, &s.topic, topic))
                .collect();
            let (ours, elsewhere): (Vec<&Subscription>, Vec<&Subscription>) = covering
                .into_iter()
                .partition(|s| same_address(&s.address, address));
            let elsewhere: Vec<Subscription> = elsewhere.into_iter().cloned().collect();
            // The best of ours decides: one active is enough, even beside a stopped copy.
            let best = ours
                .iter()
                .find(|s| matches!(s.health, Health::Active))
                .or_else(|| ours.iter().find(|s| matches!(s.health, Health::Off { .. })))
                .or_else(|| ours.first())
                .copied()
                .cloned();
            let (state, detail, next, fix) = match &best {
                Some(sub) => match &sub.health {
                    Health::Active => {
                        let also = if elsewhere.is_empty() {
                            String::new()
                        } else {
                            format!(
                                "; also delivered to {} (not ours: left as it is)",
                                describe(&elsewhere)
                            )
                        };
                        (
                            TopicState::Healthy,
                            format!("subscribed (id {}){also}", sub.id),
                            None,
                            Fix::None,
                        )
                    }
                    Health::Off { why } => (
                        TopicState::Off,
                        format!("off (id {}): {why}", sub.id),
                        Some(format!(
                            "`webhooks sync` turns it back on through the {name} API"
                        )),
                        Fix::Repair,
                    ),
                    Health::Failing { why, next } => (
                        TopicState::Failing,
                        format!("failing (id {}): {why}", sub.id),
                        Some(next.clone()),
                        Fix::None,
                    ),
                },
                None if elsewhere.is_empty() => (
                    TopicState::Missing,
                    "missing: nothing delivers it to the ingress".to_owned(),
                    Some(format!("`webhooks sync` creates it through the {name} API")),
                    Fix::Create,
                ),
                None if one_subscription_per_topic(platform) => (
                    TopicState::Elsewhere,
                    format!(
                        "delivered only to {}, not to the ingress",
                        describe(&elsewhere)
                    ),
                    Some(format!(
                        "{name} allows one subscription per topic, so sync cannot add ours \
                         beside it: if that address is an old one of this shop's, point the \
                         subscription at {address} (updateSubscription) or delete it and run \
                         `webhooks sync`; if it is another integration's, it cannot share the \
                         topic"
                    )),
                    Fix::None,
                ),
                None => (
                    TopicState::Elsewhere,
                    format!(
                        "delivered only to {}, not to the ingress",
                        describe(&elsewhere)
                    ),
                    Some(format!(
                        "`webhooks sync` adds ours and leaves that one as it is; delete it in \
                         {name} if it is an old address of this shop's"
                    )),
                    Fix::Create,
                ),
            };
            TopicReport {
                topic: (*topic).to_owned(),
                state,
                subscription: best,
                elsewhere,
                detail,
                next,
                fix,
            }
        })
        .collect()
}

fn describe(subscriptions: &[Subscription]) -> String {
    subscriptions
        .iter()
        .map(|s| format!("{} (id {})", s.address, s.id))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the commands look at.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Only this shop.
    pub shop: Option<String>,
    /// The ingress's config, for the secrets subscriptions carry.
    pub ingress_config: Option<PathBuf>,
}

struct Prepared<'c> {
    shops: Vec<(&'c String, &'c ShopConfig)>,
    ingress: Option<IngressShops>,
}

fn prepare<'c>(config: &'c Config, options: &Options) -> Result<Prepared<'c>, RunError> {
    if config.webhooks.public_url.is_none() {
        return Err(RunError::NoPublicUrl);
    }
    let shops: Vec<(&String, &ShopConfig)> = match &options.shop {
        Some(name) => {
            let (name, shop) = config
                .shops
                .get_key_value(name)
                .ok_or_else(|| RunError::UnknownShop(name.clone()))?;
            vec![(name, shop)]
        }
        None => config.shops.iter().collect(),
    };
    let ingress = match &options.ingress_config {
        Some(path) => {
            Some(IngressShops::load(path).map_err(|err| RunError::IngressConfig(err.to_string()))?)
        }
        None => None,
    };
    Ok(Prepared { shops, ingress })
}

/// `webhooks check`: every shop's (or one shop's) webhook health.
///
/// # Errors
/// [`RunError`] when nothing can be checked.
pub async fn check(config: &Config, options: &Options) -> Result<Vec<ShopReport>, RunError> {
    let prepared = prepare(config, options)?;
    let fetcher = Fetcher::default();
    let mut reports = Vec::new();
    for (name, shop) in prepared.shops {
        let ingress = prepared.ingress.as_ref().map(|i| i.get(name));
        reports.push(shop_health(config, &fetcher, name, shop, ingress).await);
    }
    Ok(reports)
}

/// `webhooks sync`: creates and turns on what each shop's platform API allows (only prints
/// what it would with `dry_run`), then reports how things stand.
///
/// # Errors
/// [`RunError`] when nothing can be synced.
pub async fn sync(
    config: &Config,
    options: &Options,
    dry_run: bool,
) -> Result<Vec<ShopReport>, RunError> {
    let prepared = prepare(config, options)?;
    let fetcher = Fetcher::default();
    let mut reports = Vec::new();
    for (name, shop) in prepared.shops {
        let ingress = prepared.ingress.as_ref().map(|i| i.get(name));
        let before = shop_health(config, &fetcher, name, shop, ingress).await;
        reports.push(sync_shop(config, &fetcher, name, shop, ingress, before, dry_run).await);
    }
    Ok(reports)
}

async fn sync_shop(
    config: &Config,
    fetcher: &Fetcher,
    name: &str,
    shop: &ShopConfig,
    ingress: Option<Option<&IngressShop>>,
    mut report: ShopReport,
    dry_run: bool,
) -> ShopReport {
    let platform = shop.platform;
    // The manual platforms' step is the report's outcome already; what could not be listed
    // cannot be put right.
    let (Outcome::Checked { topics }, Some(api)) = (&report.outcome, shop.api.as_ref()) else {
        return report;
    };
    let mut todo: Vec<(String, Fix, Option<Subscription>)> = Vec::new();
    for topic in topics.iter().filter(|t| t.fix != Fix::None) {
        // One subscription may stand for several topics (BigCommerce's `store/order/*`): it is
        // turned back on once.
        let repeated = topic.fix == Fix::Repair
            && todo.iter().any(|(_, fix, sub)| {
                *fix == Fix::Repair
                    && sub.as_ref().map(|s| &s.id) == topic.subscription.as_ref().map(|s| &s.id)
            });
        if !repeated {
            todo.push((topic.topic.clone(), topic.fix, topic.subscription.clone()));
        }
    }
    let address = report.address.clone();
    if todo.is_empty() {
        report.actions.push("nothing to do".to_owned());
        return report;
    }
    let ctx = Ctx {
        fetcher,
        shop: name,
        api,
        address: &address,
        ingress: ingress.flatten(),
    };
    let mut changed = false;
    let mut failed = Vec::new();
    for (topic, fix, subscription) in todo {
        match (fix, dry_run) {
            (Fix::Create, true) => report
                .actions
                .push(format!("would create {topic} → {address}")),
            (Fix::Repair, true) => report.actions.push(format!(
                "would turn {topic} back on (id {})",
                subscription.as_ref().map_or("?", |s| s.id.as_str())
            )),
            (Fix::Create, false) => match create(platform, &ctx, &topic).await {
                Ok(Created::New(id)) => {
                    changed = true;
                    report
                        .actions
                        .push(format!("created {topic} → {address} (id {id})"));
                }
                Ok(Created::Existed) => {
                    changed = true;
                    report.actions.push(format!(
                        "{topic}: {} says it exists already; nothing created",
                        platform.display_name()
                    ));
                }
                Err(err) => {
                    report
                        .actions
                        .push(format!("could not create {topic}: {err}"));
                    failed.push(Finding {
                        fail: true,
                        detail: format!("could not create {topic}: {err}"),
                        next: err.next(name),
                    });
                }
            },
            (Fix::Repair, false) => {
                let Some(subscription) = subscription else {
                    continue;
                };
                match repair(platform, &ctx, &subscription).await {
                    Ok(()) => {
                        changed = true;
                        report
                            .actions
                            .push(format!("turned {topic} back on (id {})", subscription.id));
                    }
                    Err(err) => {
                        report
                            .actions
                            .push(format!("could not turn {topic} back on: {err}"));
                        failed.push(Finding {
                            fail: true,
                            detail: format!("could not turn {topic} back on: {err}"),
                            next: err.next(name),
                        });
                    }
                }
            }
            (Fix::None, _) => {}
        }
    }
    if changed {
        // What stands now, as the platform lists it: the proof that it worked.
        let actions = std::mem::take(&mut report.actions);
        report = shop_health(config, fetcher, name, shop, ingress).await;
        report.actions = actions;
    }
    report.findings.extend(failed);
    report
}

/// One shop's webhook health, read from its platform's API. `ingress` is `None` without an
/// ingress config, `Some(None)` when the ingress config has no such shop.
pub async fn shop_health(
    config: &Config,
    fetcher: &Fetcher,
    name: &str,
    shop: &ShopConfig,
    ingress: Option<Option<&IngressShop>>,
) -> ShopReport {
    let platform = shop.platform;
    let address = config.webhooks.address(platform, name).unwrap_or_default();
    let needed = needed_topics(platform, &shop.sync);
    let mut report = ShopReport {
        shop: name.to_owned(),
        platform,
        address: address.clone(),
        outcome: Outcome::Checked { topics: Vec::new() },
        findings: Vec::new(),
        actions: Vec::new(),
    };
    if let Some(None) = ingress {
        report.findings.push(Finding {
            fail: true,
            detail: format!(
                "the ingress config has no [shops.{name}]: it refuses every delivery to {address}"
            ),
            next: format!("add [shops.{name}] to the ingress's config"),
        });
    }
    if needed.is_empty() {
        report.findings.push(Finding {
            fail: false,
            detail: format!(
                "its sync kinds ({}) are no topics {} delivers: nothing to subscribe",
                shop.sync
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                platform.display_name()
            ),
            next: "polling books them (README \"Polling and backfill\")".to_owned(),
        });
        return report;
    }
    if let Some(step) = manual_step(platform, name, &address, &needed) {
        report.outcome = Outcome::Manual { step };
        return report;
    }
    let Some(api) = shop.api.as_ref() else {
        report.outcome = Outcome::NotChecked {
            why: format!(
                "no [shops.{name}.api]: the {} API cannot be asked for its webhooks",
                platform.display_name()
            ),
            next: format!(
                "configure [shops.{name}.api] (README \"Webhook health\" names the permissions), \
                 or check by hand that {} is subscribed to {} for {}",
                platform.display_name(),
                address,
                needed.join(", ")
            ),
        };
        return report;
    };
    let ctx = Ctx {
        fetcher,
        shop: name,
        api,
        address: &address,
        ingress: ingress.flatten(),
    };
    match list(platform, &ctx).await {
        Ok(listing) => {
            report.findings.extend(listing.findings);
            report.outcome = Outcome::Checked {
                topics: assess(platform, &address, &needed, &listing.subscriptions),
            };
        }
        Err(err) => {
            report.outcome = Outcome::NotChecked {
                why: format!(
                    "cannot list the {} webhooks: {err}",
                    platform.display_name()
                ),
                next: err.next(name),
            };
        }
    }
    report
}

/// The report for people: per shop its address, a line per topic, findings and actions; a
/// closing verdict.
pub fn render_table(reports: &[ShopReport]) -> String {
    let mut out = String::new();
    for report in reports {
        let _ = writeln!(
            out,
            "{} ({}) → {}",
            report.shop,
            report.platform.display_name(),
            report.address
        );
        match &report.outcome {
            Outcome::Checked { topics } => {
                let width = topics
                    .iter()
                    .map(|t| t.topic.chars().count())
                    .max()
                    .unwrap_or(0);
                for topic in topics {
                    let mark = match topic.state {
                        TopicState::Healthy if topic.elsewhere.is_empty() => "✓",
                        TopicState::Healthy => "!",
                        _ => "✗",
                    };
                    let pad = width - topic.topic.chars().count();
                    let _ = write!(
                        out,
                        "  {mark} {}{}  {}",
                        topic.topic,
                        " ".repeat(pad),
                        topic.detail
                    );
                    if let Some(next) = &topic.next {
                        let _ = write!(out, " → {next}");
                    }
                    out.push('\n');
                }
            }
            Outcome::Manual { step } => {
                let _ = writeln!(out, "  ! manual: {step}");
            }
            Outcome::NotChecked { why, next } => {
                let _ = writeln!(out, "  ✗ {why} → {next}");
            }
        }
        for finding in &report.findings {
            let mark = if finding.fail { "✗" } else { "!" };
            let _ = writeln!(out, "  {mark} {} → {}", finding.detail, finding.next);
        }
        for action in &report.actions {
            let _ = writeln!(out, "  · {action}");
        }
    }
    let needing = reports
        .iter()
        .filter(|r| r.verdict() == Verdict::NeedsPerson)
        .count();
    if needing == 0 {
        let _ = writeln!(
            out,
            "{} shop(s): every subscription the platforms' APIs show is in place.",
            reports.len()
        );
    } else {
        let _ = writeln!(
            out,
            "{needing} of {} shop(s) need attention: do what the ✗ lines say (`xcs-processor \
             webhooks sync` does what the APIs allow), then check again.",
            reports.len()
        );
    }
    out
}

/// For scripts: `{"healthy": bool, "shops": [ShopReport]}`.
pub fn to_json(reports: &[ShopReport]) -> Value {
    serde_json::json!({
        "healthy": reports.iter().all(|r| r.verdict() != Verdict::NeedsPerson),
        "shops": reports,
    })
}

/// 0 healthy, 1 something needs a person.
pub fn exit_code(reports: &[ShopReport]) -> i32 {
    i32::from(reports.iter().any(|r| r.verdict() == Verdict::NeedsPerson))
}

/// How the webhook commands print.
#[derive(Debug, Clone, Copy, Default, clap::ValueEnum)]
pub enum Format {
    /// For people: per shop, a line per topic.
    #[default]
    Table,
    /// For scripts: `{"healthy": bool, "shops": [...]}`.
    Json,
}

/// `xcs-processor webhooks`.
#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// List, from each platform's API, the subscriptions each shop needs and how they stand:
    /// healthy, missing, off, failing, or delivered only to another address.
    ///
    /// Exits 0 when every shop is healthy, 1 when something needs a person (or `sync`), 2 when
    /// it could not run. Etsy and Adobe Commerce print the step to check by hand.
    #[command(after_help = "Examples:
  xcs-processor webhooks check
  xcs-processor webhooks check --shop acme --ingress-config /etc/xcs/ingress.toml --format json")]
    Check(CheckArgs),
    /// Create what is missing and turn back on what is off, as each platform's API allows
    /// (Shopify, WooCommerce, BigCommerce, eBay); print the manual step elsewhere.
    ///
    /// Never deletes or repoints the seller's other subscriptions; safe to run twice (it
    /// creates only what the listing lacks). Exits as `check` on what stands afterwards.
    #[command(after_help = "Examples:
  xcs-processor webhooks sync --dry-run
  xcs-processor webhooks sync --shop acme --ingress-config /etc/xcs/ingress.toml")]
    Sync(SyncArgs),
}

/// `webhooks check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Only this shop (its name in the config).
    #[arg(long)]
    pub shop: Option<String>,
    /// The ingress's config file: its secrets are compared with what BigCommerce hooks carry.
    #[arg(long)]
    pub ingress_config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// `webhooks sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {
    /// Only this shop (its name in the config).
    #[arg(long)]
    pub shop: Option<String>,
    /// The ingress's config file: WooCommerce webhooks are created with the shop's secret,
    /// BigCommerce hooks with its required_headers, eBay destinations with its verification
    /// token. Without it those are not created, and the report says so.
    #[arg(long)]
    pub ingress_config: Option<PathBuf>,
    /// Print what would be created or turned on; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// Runs a `webhooks` subcommand, prints its report to stdout, and returns the exit code.
pub async fn run_cli(config: &Config, command: WebhooksCommand) -> i32 {
    let (result, format) = match command {
        WebhooksCommand::Check(args) => (
            check(
                config,
                &Options {
                    shop: args.shop,
                    ingress_config: args.ingress_config,
                },
            )
            .await,
            args.format,
        ),
        WebhooksCommand::Sync(args) => (
            sync(
                config,
                &Options {
                    shop: args.shop,
                    ingress_config: args.ingress_config,
                },
                args.dry_run,
            )
            .await,
            args.format,
        ),
    };
    match result {
        Ok(reports) => {
            let text = match format {
                Format::Table => render_table(&reports),
                Format::Json => {
                    serde_json::to_string_pretty(&to_json(&reports)).expect("reports serialise")
                        + "\n"
                }
            };
            {
                use std::io::Write as _;
                let _ = std::io::stdout().lock().write_all(text.as_bytes());
            }
            exit_code(&reports)
        }
        Err(err) => {
            eprintln!("webhooks: {err}");
            2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, topic: &str, address: &str, health: Health) -> Subscription {
        Subscription {
            id: id.to_owned(),
            topic: topic.to_owned(),
            address: address.to_owned(),
            health,
        }
    }

    const OURS: &str = "https://hooks.example.com/webhooks/shopify/acme";

    #[test]
    fn addresses_compare_as_urls() {
        assert!(same_address(
            OURS,
            "HTTPS://Hooks.Example.com:443/webhooks/shopify/acme/"
        ));
        assert!(!same_address(
            OURS,
            "https://hooks.example.com/webhooks/shopify/acme2"
        ));
        assert!(!same_address(
            OURS,
            "http://hooks.example.com/webhooks/shopify/acme"
        ));
    }

    #[test]
    fn each_topic_is_healthy_missing_off_failing_or_elsewhere() {
        let other = "https://old.example.com/hook";
        let subs = vec![
            sub("1", "orders/create", OURS, Health::Active),
            sub("2", "orders/create", other, Health::Active),
            sub("3", "orders/paid", OURS, Health::Off { why: "x".into() }),
            sub("4", "refunds/create", other, Health::Active),
            sub(
                "5",
                "orders/updated",
                OURS,
                Health::Failing {
                    why: "y".into(),
                    next: "z".into(),
                },
            ),
        ];
        let needed = [
            "orders/create",
            "orders/paid",
            "refunds/create",
            "orders/updated",
            "orders/cancelled",
        ];
        let topics = assess(Platform::Shopify, OURS, &needed, &subs);
        let states: Vec<TopicState> = topics.iter().map(|t| t.state).collect();
        assert_eq!(
            states,
            [
                TopicState::Healthy,
                TopicState::Off,
                TopicState::Elsewhere,
                TopicState::Failing,
                TopicState::Missing
            ]
        );
        assert_eq!(
            topics[0].elsewhere.len(),
            1,
            "the other address is reported"
        );
        assert_eq!(
            topics.iter().map(|t| t.fix).collect::<Vec<_>>(),
            [Fix::None, Fix::Repair, Fix::Create, Fix::None, Fix::Create]
        );
        // eBay cannot add a second subscription to a topic.
        let ebay = assess(
            Platform::Ebay,
            OURS,
            &["ORDER_CONFIRMATION"],
            &[sub("9", "ORDER_CONFIRMATION", other, Health::Active)],
        );
        assert_eq!(ebay[0].state, TopicState::Elsewhere);
        assert_eq!(ebay[0].fix, Fix::None);
    }

    #[test]
    fn a_shop_needs_the_topics_of_its_sync_kinds() {
        let orders = needed_topics(Platform::WooCommerce, &[EventKind::Order]);
        assert!(orders.contains(&"order.updated") && !orders.contains(&"product.updated"));
        let refunds = needed_topics(Platform::WooCommerce, &[EventKind::Refund]);
        assert_eq!(refunds, ["order.updated"], "refunds come as order.updated");
        assert!(needed_topics(Platform::Ebay, &[EventKind::Refund]).is_empty());
    }
}
