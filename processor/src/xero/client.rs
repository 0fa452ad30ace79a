//! One HTTP client for the Xero Accounting API: authenticates (Custom Connection or rotated
//! OAuth tokens), keeps each tenant within Xero's limits, sends `Idempotency-Key` on writes,
//! and turns every failure into a [`XeroError`] that says whether retrying can help.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Semaphore;

use super::scopes::ScopeScheme;
use crate::config::{XeroAuthMode, XeroConfig};
use crate::ledger::{Ledger, StoredToken};

/// Why a Xero call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum XeroError {
    #[error("Xero rate limit ({problem}) reached; retry after {retry_after:?}")]
    RateLimited {
        problem: String,
        retry_after: Duration,
    },
    #[error("Xero refused the credentials: {0}; reconnect the Xero organisation")]
    Unauthorized(String),
    /// The identity service refused the app itself (`invalid_client`): the client id or
    /// secret is wrong. Reconnecting cannot help, which is why it is not [`Self::Unauthorized`].
    #[error(
        "Xero refused the app's client id or secret (invalid_client); set [xero] client_id and \
         client_secret (or XCS_XERO_CLIENT_SECRET) to the app's at developer.xero.com/app/manage \
         and restart; reconnecting the organisation does not help"
    )]
    ClientRejected,
    #[error("Xero forbids access to this tenant ({0}); check the connection and its scopes")]
    Forbidden(String),
    #[error("Xero validation failed: {}", .0.join("; "))]
    Validation(Vec<String>),
    #[error("Xero answered {status}: {body}")]
    Server { status: u16, body: String },
    /// 413: the request was over Xero's size limit (3.5 MB). The processor splits its writes
    /// below it (`super::documents`), so this is a fault of ours, and the same request would
    /// be refused again.
    #[error(
        "Xero refused a {bytes}-byte request as too large (413; its limit is 3.5 MB); this is a \
         fault in the processor's batching, please report it with this dead letter"
    )]
    TooLarge { bytes: usize },
    #[error("Xero {0} not found")]
    NotFound(String),
    #[error("cannot reach Xero: {0}")]
    Transport(String),
    #[error("cannot obtain a Xero access token: {0}")]
    Token(String),
    /// The organisation's Xero plan approves no more sales invoices this month (Starter-type
    /// plans: 20). Retrying cannot help until the plan changes or the month turns.
    #[error(
        "the Xero organisation's plan approves no more invoices this month (Xero: \"{0}\"); \
         upgrade the organisation's Xero plan, or book its shops in summary mode \
         (mode = \"summary\", summary_period = \"weekly\": about five invoices a month), then \
         `xcs-processor dead replay --reason xero_plan_limit`"
    )]
    PlanLimit(String),
    /// The connection was not granted a scope the call needs (see [`super::scopes`]); found
    /// before calling, from the token's own list. Retrying cannot help until the organisation
    /// is connected again with it.
    #[error(
        "the Xero connection was not granted {scope}, which {call} needs; {fix}, then \
         `xcs-processor dead replay --reason xero_missing_scope`"
    )]
    MissingScope {
        scope: String,
        call: String,
        fix: &'static str,
    },
}

impl XeroError {
    /// Whether the same request may succeed later. A refused connection counts: once an
    /// operator reconnects the organisation, the events waiting in the retry tiers go through
    /// without anyone replaying them.
    pub fn is_retryable(&self) -> bool {
        // PlanLimit is not: the operator replays once the plan changes.
        matches!(
            self,
            XeroError::RateLimited { .. }
                | XeroError::Server { .. }
                | XeroError::Transport(_)
                | XeroError::Token(_)
                | XeroError::Unauthorized(_)
                | XeroError::ClientRejected
                | XeroError::Forbidden(_)
        )
    }

    /// How long the tenant is paused when Xero refused a call for the tenant's day limit: its
    /// events wait that long without using up their retries.
    pub fn day_pause(&self) -> Option<Duration> {
        match self {
            XeroError::RateLimited {
                problem,
                retry_after,
            } if is_day_problem(problem) => Some(*retry_after),
            _ => None,
        }
    }
}

/// Whether an `X-Rate-Limit-Problem` names the day limit: Xero sends `day` (notes §2, a public
/// incident dump); its old limits page wrote `Daily`.
pub fn is_day_problem(problem: &str) -> bool {
    problem.eq_ignore_ascii_case("day") || problem.eq_ignore_ascii_case("daily")
}

/// Xero's refusal of an approval beyond the organisation's plan ("You have reached the limit
/// of invoices you can approve."; notes §2, §5), among a response's validation messages.
pub fn plan_limit(messages: &[String]) -> Option<String> {
    messages
        .iter()
        .find(|m| {
            m.to_ascii_lowercase()
                .contains("limit of invoices you can approve")
        })
        .cloned()
}

/// A per-tenant limiter: at most `in_flight` requests at once, `per_minute` in any minute and
/// `per_day` in any day, and nothing while Xero has asked us to wait.
///
/// Calls are also paced by a token bucket (`burst` tokens, refilled so that a full bucket plus
/// a minute's refill is exactly `per_minute`): a tenant under sustained load gets a call about
/// every second instead of spending its minute in the first seconds and then stalling for the
/// rest of it, so the events waiting meanwhile form the next, larger batch.
struct TenantLimiter {
    in_flight: Semaphore,
    window: Mutex<Window>,
}

struct Window {
    minute: VecDeque<Instant>,
    day: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    tokens: f64,
    refilled_at: Instant,
    budget: DayBudget,
}

/// How long a tenant's remaining calls must last: a day. Xero's day is a rolling 24 hours or a
/// fixed window that resets at a time of its own (notes §2, UNSURE); either way the budget is
/// whole again within a day, and `X-DayLimit-Remaining` says when it comes back sooner.
pub const DAY_HORIZON: Duration = Duration::from_secs(24 * 3600);

/// The gap between calls that makes `left` calls of a day of `limit` last `horizon`:
/// `horizon × (1/left − 1/limit)`. Nothing while the whole day is left (the minute limits
/// pace alone), one even share of the day per call at half of it (17 s at 5,000 a day, 86 s
/// at 1,000), and without bound as the budget nears zero: spent at this pace the budget never
/// runs out before the day resets, and it runs out exactly then when the reset is
/// `horizon` away. With nothing left, one even share of the day: the next call then finds out
/// whether calls came back (a refusal costs no call, and its `Retry-After` pauses the tenant
/// for exactly as long as Xero says), where waiting the whole horizon would stall a tenant
/// whose rolling day gives calls back all the time.
pub fn pace_interval(left: u32, limit: u32, horizon: Duration) -> Duration {
    if left == 0 {
        return horizon / limit.max(1);
    }
    let limit = f64::from(limit.max(left));
    let gap = (1.0 / f64::from(left) - 1.0 / limit).max(0.0);
    horizon.mul_f64(gap.min(1.0))
}

/// A tenant's day of calls: what is left, and when its next batch may start for what is left
/// to last the day (a theoretical arrival time: each call started pushes it on by the gap
/// [`pace_interval`] gives for the calls then left). Calls within a batch are not held back,
/// so no batch waits half-done; the next batch waits for the debt its calls ran up.
#[derive(Debug, Clone)]
pub struct DayBudget {
    /// The tenant's calls a day: its configuration, raised when Xero says more are left.
    limit: u32,
    /// `X-DayLimit-Remaining` as Xero last said it, less the calls started since.
    left: Option<u32>,
    paced_until: Instant,
}

impl DayBudget {
    pub fn new(limit: u32, now: Instant) -> Self {
        DayBudget {
            limit: limit.max(1),
            left: None,
            paced_until: now,
        }
    }

    /// The calls left: as Xero last said, or the limit less the calls counted here.
    pub fn left(&self, counted_here: usize) -> u32 {
        self.left.unwrap_or_else(|| {
            self.limit
                .saturating_sub(u32::try_from(counted_here).unwrap_or(u32::MAX))
        })
    }

    /// The tenant's calls a day as known now.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// A call starts.
    pub fn spend(&mut self, now: Instant, counted_here: usize) {
        if let Some(left) = &mut self.left {
            *left = left.saturating_sub(1);
        }
        let gap = pace_interval(self.left(counted_here), self.limit, DAY_HORIZON);
        self.paced_until = (self.paced_until.max(now) + gap).min(now + DAY_HORIZON);
    }

    /// Xero said `remaining` calls are left today. The debt already run up is repriced at the
    /// gap for what is left now: a budget that came back (a new day) frees the tenant at once,
    /// one spent by someone else slows it.
    pub fn learn(&mut self, remaining: u32, now: Instant, counted_here: usize) {
        let before = pace_interval(self.left(counted_here), self.limit, DAY_HORIZON);
        if remaining >= self.limit {
            // The header counts the call it answers: the day holds at least one more.
            self.limit = remaining.saturating_add(1);
        }
        self.left = Some(remaining);
        let after = pace_interval(remaining, self.limit, DAY_HORIZON);
        if self.paced_until > now {
            let owed = if before.is_zero() {
                0.0
            } else {
                (self.paced_until - now).as_secs_f64() / before.as_secs_f64()
            };
            let repriced = after
                .mul_f64(owed.min(f64::from(u32::MAX)))
                .min(DAY_HORIZON);
            self.paced_until = now + repriced;
        }
    }

    /// Xero refused a call for the day and said when calls come back: then, not later. The
    /// share of the day that pacing gives an empty budget is for when Xero has not said;
    /// what is left after `until` the next answer tells.
    pub fn refused_until(&mut self, until: Instant) {
        self.paced_until = self.paced_until.min(until);
        self.left = None;
    }

    /// How long until the next batch may start.
    pub fn wait(&self, now: Instant) -> Duration {
        self.paced_until.saturating_duration_since(now)
    }
}

/// How long one call waits out 429s of a short limit, in all, before it fails. A minute limit
/// clears within a minute of the last call it counted, but `Retry-After` names only when the
/// oldest call leaves the window, so a tenant over its limit meets several 429s in a row (the
/// chaos run's storms did, and three waits were not enough).
const RATE_LIMIT_WAIT_BUDGET: Duration = Duration::from_secs(90);

/// The longest a tenant's call, or batch, waits in place for Xero's limits; beyond it the
/// events wait in the retry tiers (see [`XeroClient::paused_for`]). Longer than any minute
/// wait, so the minute limits are still waited out in place.
pub const HOLD_IN_PLACE: Duration = RATE_LIMIT_WAIT_BUDGET;

/// The pause before the one in-place retry of a failed request.
const QUICK_RETRY_PAUSE: Duration = Duration::from_millis(250);
const MINUTE: Duration = Duration::from_secs(60);
/// The share of a busy tenant's calls that go to invoices (see [`XeroClient::invoice_pace`]).
const INVOICE_SHARE: f64 = 0.75;
const DAY: Duration = Duration::from_secs(24 * 3600);

struct Limits {
    in_flight: usize,
    per_minute: usize,
    per_day: usize,
    /// Tenants whose day is not `per_day` (`[xero.tenants.ID] day_limit`: 1,000 under the 2026
    /// Starter API tier).
    tenant_day: HashMap<String, usize>,
    /// Bucket capacity, and its refill in tokens per second.
    burst: f64,
    refill_per_second: f64,
}

impl Limits {
    fn new(config: &XeroConfig) -> Self {
        let per_minute = (config.max_per_minute as usize).max(1);
        let burst = config.max_burst.clamp(1, per_minute);
        // A bucket that refills `per_minute - burst` a minute never exceeds `per_minute` in
        // any minute; a burst as large as the minute still refills one call a minute.
        let refill_per_minute = (per_minute - burst).max(1);
        Limits {
            in_flight: config.max_in_flight,
            per_minute,
            per_day: config.max_per_day as usize,
            tenant_day: config
                .tenants
                .iter()
                .filter_map(|(tenant, plan)| {
                    plan.day_limit
                        .map(|limit| (tenant.to_ascii_lowercase(), limit as usize))
                })
                .collect(),
            burst: burst as f64,
            refill_per_second: refill_per_minute as f64 / 60.0,
        }
    }
}

impl Limits {
    /// The tenant's calls a day.
    fn per_day(&self, tenant: &str) -> usize {
        self.tenant_day
            .get(&tenant.to_ascii_lowercase())
            .copied()
            .unwrap_or(self.per_day)
            .min(self.per_day)
    }
}

impl Window {
    fn new(limits: &Limits, tenant: &str) -> Self {
        let now = Instant::now();
        Window {
            minute: VecDeque::new(),
            day: VecDeque::new(),
            blocked_until: None,
            tokens: limits.burst,
            refilled_at: now,
            budget: DayBudget::new(
                u32::try_from(limits.per_day(tenant)).unwrap_or(u32::MAX),
                now,
            ),
        }
    }

    /// How long until a call may start; zero when one may start now.
    fn wait(&mut self, limits: &Limits, now: Instant) -> Duration {
        while self.minute.front().is_some_and(|t| now - *t >= MINUTE) {
            self.minute.pop_front();
        }
        while self.day.front().is_some_and(|t| now - *t >= DAY) {
            self.day.pop_front();
        }
        let elapsed = (now - self.refilled_at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * limits.refill_per_second).min(limits.burst);
        self.refilled_at = now;
        if let Some(until) = self.blocked_until.filter(|until| *until > now) {
            until - now
        } else if self.minute.len() >= limits.per_minute {
            MINUTE - (now - self.minute[0])
        } else if self.day.len() >= self.budget.limit() as usize {
            DAY - (now - self.day[0])
        } else if self.tokens < 1.0 {
            Duration::from_secs_f64((1.0 - self.tokens) / limits.refill_per_second)
        } else {
            Duration::ZERO
        }
    }
}

impl TenantLimiter {
    async fn acquire(&self, limits: &Limits) -> tokio::sync::SemaphorePermit<'_> {
        let permit = self
            .in_flight
            .acquire()
            .await
            .expect("the semaphore is never closed");
        loop {
            let wait = {
                let mut window = self.window.lock().expect("not poisoned");
                let now = Instant::now();
                let wait = window.wait(limits, now);
                if wait.is_zero() {
                    window.minute.push_back(now);
                    window.day.push_back(now);
                    window.tokens -= 1.0;
                    let counted = window.day.len();
                    window.budget.spend(now, counted);
                }
                wait
            };
            if wait.is_zero() {
                return permit;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// How long until a call could start, and the calls that could start at once.
    fn budget(&self, limits: &Limits) -> (Duration, f64) {
        let mut window = self.window.lock().expect("not poisoned");
        let wait = window.wait(limits, Instant::now());
        let spare = if wait.is_zero() { window.tokens } else { 0.0 };
        (wait, spare)
    }

    /// How long until the tenant's next batch may start for its day to last (see
    /// [`DayBudget`]).
    fn day_pace(&self) -> Duration {
        let window = self.window.lock().expect("not poisoned");
        window.budget.wait(Instant::now())
    }

    /// How long Xero has asked the tenant to wait, if it has.
    fn paused_for(&self) -> Duration {
        let window = self.window.lock().expect("not poisoned");
        window.blocked_until.map_or(Duration::ZERO, |until| {
            until.saturating_duration_since(Instant::now())
        })
    }

    /// Reads the day budget Xero states on every answer (`X-DayLimit-Remaining`).
    fn learn(&self, headers: &reqwest::header::HeaderMap) {
        let Some(remaining) = headers
            .get("x-daylimit-remaining")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok())
        else {
            return;
        };
        let mut window = self.window.lock().expect("not poisoned");
        let counted = window.day.len();
        window.budget.learn(remaining, Instant::now(), counted);
    }

    fn day_refused(&self, retry_after: Duration) {
        let mut window = self.window.lock().expect("not poisoned");
        window.budget.refused_until(Instant::now() + retry_after);
    }

    fn block_for(&self, wait: Duration) {
        let mut window = self.window.lock().expect("not poisoned");
        let until = Instant::now() + wait;
        if window.blocked_until.is_none_or(|current| current < until) {
            window.blocked_until = Some(until);
        }
    }
}

/// The Xero client; cheap to clone.
#[derive(Clone)]
pub struct XeroClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_base: String,
    identity_base: String,
    client_id: String,
    client_secret: SecretString,
    mode: XeroAuthMode,
    /// The scheme `connect` asks for, to name a missing scope in.
    scopes: ScopeScheme,
    ledger: Ledger,
    limits: Limits,
    tenants: Mutex<HashMap<String, Arc<TenantLimiter>>>,
    /// The Custom Connection token (or the cached OAuth access token) and its expiry.
    token: tokio::sync::Mutex<Option<(SecretString, Instant)>>,
    /// Calls made, for the benchmark's calls-per-order figure.
    calls: std::sync::atomic::AtomicU64,
    /// Where each call's result and Xero's budget headers are counted (the running processor;
    /// the tools have none).
    observer: Option<Arc<crate::observe::Observer>>,
}

/// The name of the OAuth connection in the token table. One app token covers every tenant the
/// user connected.
pub const OAUTH_CONNECTION: &str = "default";

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    expires_in: u64,
    refresh_token: Option<String>,
    /// Space-separated, as OAuth 2.0 gives it.
    #[serde(default)]
    scope: Option<String>,
}

/// The app's access token as `check` and `status` report it.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub expires_at: Option<time::OffsetDateTime>,
    /// The scopes granted, as the token response or the token's own claims state them; empty
    /// when neither does.
    pub scopes: Vec<String>,
}

/// The `scope` claim of a Xero access token (a JWT), read without verifying it: only to
/// report the scopes, never to decide access.
fn jwt_scopes(token: &str) -> Vec<String> {
    use base64::Engine as _;
    let claims = token
        .split('.')
        .nth(1)
        .and_then(|payload| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload.trim_end_matches('='))
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    match claims.as_ref().map(|c| &c["scope"]) {
        Some(Value::Array(scopes)) => scopes
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(scopes)) => scopes.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

impl XeroClient {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(config: &XeroConfig, ledger: Ledger) -> anyhow::Result<Self> {
        Self::build(config, ledger, None)
    }

    /// A client whose calls are counted in `observer`'s metrics.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn observed(
        config: &XeroConfig,
        ledger: Ledger,
        observer: Arc<crate::observe::Observer>,
    ) -> anyhow::Result<Self> {
        Self::build(config, ledger, Some(observer))
    }

    fn build(
        config: &XeroConfig,
        ledger: Ledger,
        observer: Option<Arc<crate::observe::Observer>>,
    ) -> anyhow::Result<Self> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("xero-commerce-sync/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(XeroClient {
            inner: Arc::new(Inner {
                http,
                api_base: config.api_base.trim_end_matches('/').to_owned(),
                identity_base: config.identity_base.trim_end_matches('/').to_owned(),
                client_id: config.client_id.clone(),
                client_secret: config.client_secret.clone(),
                mode: config.auth,
                scopes: config.scopes,
                ledger,
                limits: Limits::new(config),
                tenants: Mutex::new(HashMap::new()),
                token: tokio::sync::Mutex::new(None),
                calls: std::sync::atomic::AtomicU64::new(0),
                observer,
            }),
        })
    }

    /// Counts one call's answer (`headers` is `None` when none came).
    fn observe(
        &self,
        tenant: &str,
        result: &'static str,
        headers: Option<&reqwest::header::HeaderMap>,
    ) {
        if let Some(observer) = &self.inner.observer {
            observer.metrics.xero_call(tenant, result, headers);
        }
    }

    /// Xero calls made so far.
    pub fn calls(&self) -> u64 {
        self.inner.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn limiter(&self, tenant: &str) -> Arc<TenantLimiter> {
        let mut tenants = self.inner.tenants.lock().expect("not poisoned");
        Arc::clone(tenants.entry(tenant.to_owned()).or_insert_with(|| {
            Arc::new(TenantLimiter {
                in_flight: Semaphore::new(self.inner.limits.in_flight),
                window: Mutex::new(Window::new(&self.inner.limits, tenant)),
            })
        }))
    }

    /// How long until `tenant` could make a call without waiting on its limits.
    pub fn wait_for_call(&self, tenant: &str) -> Duration {
        self.limiter(tenant).budget(&self.inner.limits).0
    }

    /// How long until `tenant`'s next batch may start for its remaining day of calls to last
    /// the day ([`DayBudget`]); zero while it has calls to spare.
    pub fn day_pace(&self, tenant: &str) -> Duration {
        self.limiter(tenant).day_pace()
    }

    /// How long Xero has asked `tenant` to wait (a 429's `Retry-After`); zero when it has not.
    pub fn paused_for(&self, tenant: &str) -> Duration {
        self.limiter(tenant).paused_for()
    }

    /// The interval between invoice calls of a tenant short of calls: the share of the paced
    /// rate that leaves the rest to payments calls made every few seconds.
    pub fn invoice_pace(&self) -> Duration {
        Duration::from_secs_f64(1.0 / (self.inner.limits.refill_per_second * INVOICE_SHARE))
    }

    /// How many calls `tenant` could make at once without waiting on its limits.
    pub fn spare_calls(&self, tenant: &str) -> f64 {
        self.limiter(tenant).budget(&self.inner.limits).1
    }

    /// A valid access token, fetching or refreshing one when needed. `rejected` is the token
    /// Xero just refused, which must not be handed out again.
    async fn access_token(
        &self,
        rejected: Option<&SecretString>,
    ) -> Result<SecretString, XeroError> {
        let mut cached = self.inner.token.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() + Duration::from_secs(60) < *expires
            && rejected.is_none_or(|r| r.expose_secret() != token.expose_secret())
        {
            return Ok(token.clone());
        }
        let (token, lifetime) = match self.inner.mode {
            XeroAuthMode::CustomConnection => {
                let response = self
                    .token_request(&[("grant_type", "client_credentials")])
                    .await?;
                (response.access_token, response.expires_in)
            }
            XeroAuthMode::Oauth => {
                let stored = self
                    .rotate_oauth_token(rejected.map(|r| r.expose_secret().to_owned()), false)
                    .await?;
                let lifetime = stored
                    .access_expires_at
                    .map(|at| {
                        (at - time::OffsetDateTime::now_utc())
                            .whole_seconds()
                            .max(0)
                    })
                    .unwrap_or(0);
                (
                    stored.access_token.unwrap_or_default(),
                    u64::try_from(lifetime).unwrap_or(0),
                )
            }
        };
        let secret = SecretString::from(token);
        *cached = Some((
            secret.clone(),
            Instant::now() + Duration::from_secs(lifetime),
        ));
        Ok(secret)
    }

    /// The app's access token as the identity service grants it now, for `check` and
    /// `status`: a Custom Connection asks for one (the client-credentials grant), which proves
    /// the client secret. OAuth uses the stored token, refreshed when it is stale or when
    /// `prove` is set, which is what proves the secret while an access token is still valid;
    /// the refresh rotates the refresh token and stores both exactly as a booking's refresh.
    ///
    /// # Errors
    /// [`XeroError::ClientRejected`] for a wrong client id or secret,
    /// [`XeroError::Unauthorized`] for a refresh token Xero no longer accepts, and the rest.
    pub async fn token_info(&self, prove: bool) -> Result<TokenInfo, XeroError> {
        let now = time::OffsetDateTime::now_utc();
        let (token, info) = match self.inner.mode {
            XeroAuthMode::CustomConnection => {
                let response = self
                    .token_request(&[("grant_type", "client_credentials")])
                    .await?;
                let lifetime = i64::try_from(response.expires_in).unwrap_or(0);
                let scopes = response
                    .scope
                    .as_deref()
                    .map(|s| s.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_else(|| jwt_scopes(&response.access_token));
                let info = TokenInfo {
                    expires_at: Some(now + time::Duration::seconds(lifetime)),
                    scopes,
                };
                (response.access_token, info)
            }
            XeroAuthMode::Oauth => {
                let stored = self.rotate_oauth_token(None, prove).await?;
                let token = stored.access_token.unwrap_or_default();
                let info = TokenInfo {
                    expires_at: stored.access_expires_at,
                    scopes: jwt_scopes(&token),
                };
                (token, info)
            }
        };
        let lifetime = info
            .expires_at
            .map_or(0, |at| (at - now).whole_seconds().max(0));
        *self.inner.token.lock().await = Some((
            SecretString::from(token),
            Instant::now() + Duration::from_secs(u64::try_from(lifetime).unwrap_or(0)),
        ));
        Ok(info)
    }

    /// Refreshes the stored OAuth token under the ledger's row lock; the new refresh token is
    /// stored before the access token is used, so a crash cannot lose it. Without `force` a
    /// token another processor refreshed meanwhile is used as it is.
    async fn rotate_oauth_token(
        &self,
        rejected: Option<String>,
        force: bool,
    ) -> Result<StoredToken, XeroError> {
        let client = self.clone();
        let refresh = move |stored: StoredToken| async move {
            let response = client
                .token_request(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", &stored.refresh_token),
                ])
                .await?;
            Ok(StoredToken {
                refresh_token: response.refresh_token.unwrap_or(stored.refresh_token),
                access_token: Some(response.access_token),
                access_expires_at: Some(
                    time::OffsetDateTime::now_utc()
                        + time::Duration::seconds(i64::try_from(response.expires_in).unwrap_or(0)),
                ),
            })
        };
        let ledger = &self.inner.ledger;
        let rotated = if force {
            ledger.refresh_token_now(OAUTH_CONNECTION, refresh).await
        } else {
            ledger
                .rotate_token(OAUTH_CONNECTION, rejected.as_deref(), refresh)
                .await
        };
        rotated.map_err(|err| XeroError::Token(err.to_string()))?
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenResponse, XeroError> {
        let response = self
            .inner
            .http
            .post(format!("{}/connect/token", self.inner.identity_base))
            .basic_auth(
                &self.inner.client_id,
                Some(self.inner.client_secret.expose_secret()),
            )
            .form(form)
            .send()
            .await
            .map_err(|err| XeroError::Transport(err.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return response
                .json()
                .await
                .map_err(|err| XeroError::Token(format!("unreadable token response: {err}")));
        }
        let body = response.text().await.unwrap_or_default();
        if status == StatusCode::BAD_REQUEST && body.contains("invalid_grant") {
            return Err(XeroError::Unauthorized(
                "the refresh token was refused (invalid_grant)".into(),
            ));
        }
        if status == StatusCode::UNAUTHORIZED || body.contains("invalid_client") {
            return Err(XeroError::ClientRejected);
        }
        Err(XeroError::Token(format!(
            "token endpoint answered {status}"
        )))
    }

    /// Calls the Accounting API for `tenant`. Writes carry `idempotency_key`.
    ///
    /// # Errors
    /// [`XeroError`].
    pub async fn call(
        &self,
        tenant: &str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        idempotency_key: Option<&str>,
    ) -> Result<Value, XeroError> {
        let limiter = self.limiter(tenant);
        let mut rejected: Option<SecretString> = None;
        let mut quick_retry = true;
        let mut rate_limit_waited = Duration::ZERO;
        loop {
            // A tenant paused for longer than a delivery may wait unacknowledged (Xero's day
            // limit, whose `Retry-After` runs to hours) fails at once: its events wait in the
            // retry tiers, uncounted, instead of in this call.
            let paused = limiter.paused_for();
            if paused > HOLD_IN_PLACE {
                return Err(XeroError::RateLimited {
                    problem: "day".to_owned(),
                    retry_after: paused,
                });
            }
            let token = self.access_token(rejected.as_ref()).await?;
            if let Some(scope) = super::scopes::missing(
                &jwt_scopes(token.expose_secret()),
                self.inner.scopes,
                &method,
                path,
            ) {
                return Err(XeroError::MissingScope {
                    scope,
                    call: format!("{method} {path}"),
                    fix: match self.inner.mode {
                        XeroAuthMode::Oauth => {
                            "connect the organisation again with `xcs-processor connect` ([xero] \
                             scopes = \"granular\" for an app created from 2 March 2026, \
                             \"broad\" for an older one)"
                        }
                        XeroAuthMode::CustomConnection => {
                            "add the scope to the Custom Connection at \
                             developer.xero.com/app/manage (its scopes are chosen there, not by \
                             the processor) and have the organisation authorise it again"
                        }
                    },
                });
            }
            let _permit = limiter.acquire(&self.inner.limits).await;
            self.inner
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut request = self
                .inner
                .http
                .request(method.clone(), format!("{}{path}", self.inner.api_base))
                .bearer_auth(token.expose_secret())
                .header("xero-tenant-id", tenant)
                .header("Accept", "application/json")
                .query(query);
            if let Some(key) = idempotency_key.filter(|k| !k.is_empty()) {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = match request.send().await {
                Ok(response) => response,
                // One quick retry with the same Idempotency-Key: if the first request was
                // applied, Xero answers from its cache instead of applying it twice.
                Err(_) if quick_retry => {
                    self.observe(tenant, "transport", None);
                    quick_retry = false;
                    tokio::time::sleep(QUICK_RETRY_PAUSE).await;
                    continue;
                }
                Err(err) => {
                    self.observe(tenant, "transport", None);
                    return Err(XeroError::Transport(err.without_url().to_string()));
                }
            };
            let status = response.status();
            let headers = response.headers().clone();
            self.observe(tenant, result_class(status), Some(&headers));
            limiter.learn(&headers);
            // `X-MinLimit-Remaining: 0` needs no action of its own: the local window already
            // holds these calls and frees a slot when the oldest is a minute old. Blocking for
            // a whole minute here stalled a tenant up to 16 s longer than Xero requires.
            let text = response
                .text()
                .await
                .map_err(|err| XeroError::Transport(err.without_url().to_string()))?;
            match status {
                s if s.is_success() => {
                    return serde_json::from_str(&text).map_err(|err| XeroError::Server {
                        status: s.as_u16(),
                        body: format!("unreadable JSON: {err}"),
                    });
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let retry_after = headers
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map_or(MINUTE, Duration::from_secs);
                    limiter.block_for(retry_after);
                    let problem = headers
                        .get("x-rate-limit-problem")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("unknown")
                        .to_owned();
                    // The day limit passes only when Xero's day does, however short its
                    // `Retry-After`: the tenant pauses (the limiter holds its calls, its events
                    // wait in the retry tiers without using up their retries), the others go on.
                    if is_day_problem(&problem) {
                        limiter.day_refused(retry_after);
                        return Err(XeroError::RateLimited {
                            problem,
                            retry_after,
                        });
                    }
                    // Refused before anything was applied. A minute or concurrency limit
                    // passes within a minute: wait for it here (the limiter holds the tenant's
                    // calls until then) instead of sending the batch through the retry tiers,
                    // whose delays grow to an hour (the chaos run's 429 storms pushed events
                    // to the 10-minute tier). The daily limit does not pass soon: the tiers.
                    if retry_after <= MINUTE
                        && rate_limit_waited + retry_after <= RATE_LIMIT_WAIT_BUDGET
                    {
                        rate_limit_waited += retry_after;
                        continue;
                    }
                    return Err(XeroError::RateLimited {
                        problem,
                        retry_after,
                    });
                }
                StatusCode::UNAUTHORIZED if rejected.is_none() => {
                    // An access token expired early or was revoked: renew once.
                    rejected = Some(token);
                    continue;
                }
                StatusCode::UNAUTHORIZED => return Err(XeroError::Unauthorized(detail(&text))),
                StatusCode::FORBIDDEN => return Err(XeroError::Forbidden(detail(&text))),
                StatusCode::NOT_FOUND => return Err(XeroError::NotFound(path.to_owned())),
                StatusCode::PAYLOAD_TOO_LARGE => {
                    return Err(XeroError::TooLarge {
                        bytes: body.map_or(0, |b| b.to_string().len()),
                    });
                }
                StatusCode::BAD_REQUEST => {
                    let messages = validation_messages(&text);
                    return Err(match plan_limit(&messages) {
                        Some(message) => XeroError::PlanLimit(message),
                        None => XeroError::Validation(messages),
                    });
                }
                s if s.is_server_error() && quick_retry => {
                    quick_retry = false;
                    tokio::time::sleep(QUICK_RETRY_PAUSE).await;
                    continue;
                }
                s => {
                    return Err(XeroError::Server {
                        status: s.as_u16(),
                        body: text.chars().take(300).collect(),
                    });
                }
            }
        }
    }
}

/// A call's answer as the `result` label of `xcs_processor_xero_calls_total`.
fn result_class(status: StatusCode) -> &'static str {
    match status {
        s if s.is_success() => "success",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => "validation",
        s if s.is_server_error() => "server_error",
        _ => "other",
    }
}

fn detail(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("Detail").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(200).collect())
}

/// Every validation message in a Xero error body (`Elements[].ValidationErrors[].Message`, or
/// the top-level `Message`).
pub fn validation_messages(body: &str) -> Vec<String> {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return vec![body.chars().take(300).collect()];
    };
    let mut messages: Vec<String> = value
        .get("Elements")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(element_errors)
        .collect();
    if messages.is_empty()
        && let Some(message) = value.get("Message").and_then(Value::as_str)
    {
        messages.push(message.to_owned());
    }
    messages
}

/// The validation messages of one element of a batch response.
pub fn element_errors(element: &Value) -> Vec<String> {
    element
        .get("ValidationErrors")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("Message").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn the_gap_is_nothing_on_a_whole_day_an_even_share_at_half_and_grows_towards_the_end() {
        assert_eq!(pace_interval(5_000, 5_000, DAY_HORIZON), Duration::ZERO);
        let even = |limit: u32| DAY_HORIZON / limit;
        assert_eq!(pace_interval(2_500, 5_000, DAY_HORIZON), even(5_000));
        assert_eq!(pace_interval(500, 1_000, DAY_HORIZON), even(1_000));
        let gaps: Vec<Duration> = [900, 500, 100, 10, 1]
            .iter()
            .map(|left| pace_interval(*left, 1_000, DAY_HORIZON))
            .collect();
        assert!(gaps.windows(2).all(|w| w[0] < w[1]), "{gaps:?}");
        assert_eq!(pace_interval(0, 1_000, DAY_HORIZON), even(1_000));
    }

    /// Spends a tenant's budget at full demand (a call whenever the pace allows one) for
    /// `hours`, with Xero stating what is left after each call; returns the calls left.
    fn spend_at_full_demand(limit: u32, horizon_reset: bool, hours: u64) -> (u32, u32) {
        let start = Instant::now();
        let mut budget = DayBudget::new(limit, start);
        let mut left = limit;
        let mut now = start;
        let mut calls = 0;
        let end = start + HOUR * u32::try_from(hours).unwrap();
        while now < end && left > 0 {
            now += budget.wait(now);
            if now >= end {
                break;
            }
            budget.spend(now, 0);
            left -= 1;
            calls += 1;
            budget.learn(left, now, 0);
            if horizon_reset {
                // A fixed day that resets `end - now` from now: the gap shrinks with it.
                let gap = pace_interval(left, limit, end - now);
                budget.paced_until = now + gap;
            }
        }
        (left, calls)
    }

    #[test]
    fn spent_at_full_demand_a_day_of_calls_lasts_the_day_and_is_mostly_used() {
        // Rolling day, reset unknown: a day at full demand never runs the budget out.
        let (left, calls) = spend_at_full_demand(1_000, false, 24);
        assert!(left > 0, "{left} left after {calls} calls");
        assert!(calls > 600, "{calls} calls in a day");
        // A known reset at the end of the day: the budget is all but used by then.
        let (left, calls) = spend_at_full_demand(1_000, true, 24);
        assert!(left < 50, "{left} left after {calls} calls");
    }

    #[test]
    fn a_day_refusal_paces_no_longer_than_its_retry_after() {
        let now = Instant::now();
        let mut budget = DayBudget::new(1_000, now);
        budget.spend(now, 1);
        // The answer comes before the first call's debt (86 ms) is paid, and says the
        // day is spent: the debt repriced at an empty budget's pace is a share of the day.
        let answered = now + Duration::from_millis(10);
        budget.learn(0, answered, 1);
        assert!(budget.wait(answered) > Duration::from_secs(60));
        // But its Retry-After says the calls are back in 8 s.
        budget.refused_until(answered + Duration::from_secs(8));
        assert!(budget.wait(answered) <= Duration::from_secs(8));
        assert_eq!(
            budget.left(0),
            1_000,
            "what is left is for the next answer to say"
        );
    }

    #[test]
    fn a_budget_that_comes_back_frees_the_tenant_and_one_spent_elsewhere_slows_it() {
        let now = Instant::now();
        let mut budget = DayBudget::new(1_000, now);
        for _ in 0..3 {
            budget.spend(now, 0);
            budget.learn(20, now, 0);
        }
        let tight = budget.wait(now);
        assert!(tight > HOUR, "{tight:?}");
        // The day reset: Xero says 999 left.
        budget.learn(999, now, 0);
        assert!(
            budget.wait(now) < Duration::from_secs(1),
            "{:?}",
            budget.wait(now)
        );

        let mut slowed = DayBudget::new(1_000, now);
        slowed.spend(now, 0);
        slowed.learn(900, now, 0);
        slowed.spend(now, 0);
        slowed.learn(899, now, 0);
        let before = slowed.wait(now);
        assert!(before > Duration::ZERO);
        slowed.learn(400, now, 0);
        assert!(slowed.wait(now) > before);
    }

    #[test]
    fn a_header_showing_more_than_the_configured_day_raises_the_limit() {
        let now = Instant::now();
        let mut budget = DayBudget::new(1_000, now);
        budget.spend(now, 1);
        budget.learn(4_999, now, 1);
        assert_eq!(budget.limit(), 5_000);
        assert_eq!(budget.left(1), 4_999);
    }

    #[test]
    fn the_day_limit_is_told_apart_and_plan_limits_are_found_among_messages() {
        let day = XeroError::RateLimited {
            problem: "Daily".into(),
            retry_after: HOUR,
        };
        assert_eq!(day.day_pause(), Some(HOUR));
        let minute = XeroError::RateLimited {
            problem: "minute".into(),
            retry_after: HOUR,
        };
        assert_eq!(minute.day_pause(), None);
        let messages = vec![
            "Email address must be valid.".to_owned(),
            "You have reached the limit of invoices you can approve.".to_owned(),
        ];
        assert_eq!(plan_limit(&messages).as_deref(), Some(messages[1].as_str()));
        assert!(!XeroError::PlanLimit(messages[1].clone()).is_retryable());
    }
}
