//! The processor's Prometheus metrics, prefixed `xcs_processor_`. Every label value is either
//! from our own code (kinds, outcomes, reasons, Xero result classes) or a shop or tenant of the
//! config: an envelope names its shop and tenant in headers, and a shop the config does not
//! know is counted as `other`, so no message can add series.

use std::collections::BTreeSet;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use xcs_shared::Envelope;

use crate::config::Config;

/// The label value of a shop or tenant the config does not name.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub shop: String,
    pub kind: String,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShopLabels {
    pub shop: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PollLabels {
    pub shop: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MissedLabels {
    pub shop: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeadLabels {
    pub shop: String,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabels {
    pub tenant: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct XeroCallLabels {
    pub tenant: String,
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitLabels {
    pub tenant: String,
    pub problem: &'static str,
}

/// The processor's metrics.
pub struct Metrics {
    registry: Registry,
    shops: BTreeSet<String>,
    tenants: BTreeSet<String>,
    /// Every delivery settled, by shop, kind and outcome.
    pub events: Family<EventLabels, Counter>,
    /// Events this process handed to a retry tier and not yet saw handled.
    pub retrying: Family<ShopLabels, Gauge>,
    /// Events this process dead-lettered, by reason.
    pub dead: Family<DeadLabels, Counter>,
    /// From the ingress receiving the webhook to the event's documents booked in Xero.
    pub webhook_to_xero_seconds: Family<ShopLabels, Histogram>,
    /// Xero API calls, by tenant and result.
    pub xero_calls: Family<XeroCallLabels, Counter>,
    /// Xero's 429s, by tenant and the limit Xero named.
    pub xero_rate_limited: Family<RateLimitLabels, Counter>,
    /// Xero's `X-MinLimit-Remaining` and `X-DayLimit-Remaining`, as last answered.
    pub xero_minute_remaining: Family<TenantLabels, Gauge>,
    pub xero_day_remaining: Family<TenantLabels, Gauge>,
    /// Xero's `X-AppMinLimit-Remaining`: the app's calls left this minute, over all tenants.
    pub xero_app_minute_remaining: Gauge,
    /// Events per invoice batch, by tenant.
    pub batch_size: Family<TenantLabels, Histogram>,
    /// Shard queues this process holds and consumes.
    pub shards_held: Gauge,
    /// Polls of a shop's platform API this process made, by result.
    pub polls: Family<PollLabels, Counter>,
    /// Polled (or backfilled) events that booked a document no webhook had brought.
    pub missed_by_webhooks: Family<MissedLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // From a second (booked at once) to a day (through the retry tiers, up to an hour apart).
    Histogram::new([
        0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0,
        86400.0,
    ])
}

fn batch_histogram() -> Histogram {
    // Xero's recommended batch is at most 50 (`processing.batch_size`).
    Histogram::new([1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0])
}

impl Metrics {
    /// The metrics of a processor running `config`: its shops and tenants are the label values.
    pub fn new(config: &Config) -> Self {
        let mut registry = Registry::with_prefix("xcs_processor");
        let metrics = Metrics {
            shops: config.shops.keys().cloned().collect(),
            tenants: config.shops.values().map(|s| s.tenant.clone()).collect(),
            events: Family::default(),
            retrying: Family::default(),
            dead: Family::default(),
            webhook_to_xero_seconds: Family::new_with_constructor(latency_histogram),
            xero_calls: Family::default(),
            xero_rate_limited: Family::default(),
            xero_minute_remaining: Family::default(),
            xero_day_remaining: Family::default(),
            xero_app_minute_remaining: Gauge::default(),
            batch_size: Family::new_with_constructor(batch_histogram),
            shards_held: Gauge::default(),
            polls: Family::default(),
            missed_by_webhooks: Family::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events",
            "Deliveries settled, by shop, kind and outcome (booked, skipped, summarised, \
             duplicate, retry, dead, requeued)",
            metrics.events.clone(),
        );
        registry.register(
            "retrying",
            "Events this process handed to a retry tier, less those it later saw handled; sum \
             over processors",
            metrics.retrying.clone(),
        );
        registry.register(
            "dead",
            "Events this process dead-lettered, by shop and reason",
            metrics.dead.clone(),
        );
        registry.register(
            "webhook_to_xero_seconds",
            "Time from the ingress receiving the webhook to the event booked in Xero",
            metrics.webhook_to_xero_seconds.clone(),
        );
        registry.register(
            "xero_calls",
            "Xero API calls, by tenant and result",
            metrics.xero_calls.clone(),
        );
        registry.register(
            "xero_rate_limited",
            "Xero 429 answers, by tenant and the limit Xero named",
            metrics.xero_rate_limited.clone(),
        );
        registry.register(
            "xero_minute_remaining",
            "Xero calls left this minute for the tenant (X-MinLimit-Remaining, last answer)",
            metrics.xero_minute_remaining.clone(),
        );
        registry.register(
            "xero_day_remaining",
            "Xero calls left today for the tenant (X-DayLimit-Remaining, last answer)",
            metrics.xero_day_remaining.clone(),
        );
        registry.register(
            "xero_app_minute_remaining",
            "Xero calls left this minute for the app over all tenants (X-AppMinLimit-Remaining)",
            metrics.xero_app_minute_remaining.clone(),
        );
        registry.register(
            "batch_size",
            "Events per invoice batch, by tenant",
            metrics.batch_size.clone(),
        );
        registry.register(
            "shards_held",
            "Shard queues this process holds and consumes",
            metrics.shards_held.clone(),
        );
        registry.register(
            "polls",
            "Polls of a shop's platform API by this process, by result (done, failed)",
            metrics.polls.clone(),
        );
        registry.register(
            "missed_by_webhooks",
            "Polled or backfilled events that booked a document no webhook had brought, by \
             shop and kind",
            metrics.missed_by_webhooks.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// `shop` when the config names it, else `other`.
    pub fn shop_label(&self, shop: &str) -> String {
        bounded(&self.shops, shop)
    }

    /// `tenant` when a shop of the config books into it, else `other`.
    pub fn tenant_label(&self, tenant: &str) -> String {
        bounded(&self.tenants, tenant)
    }

    /// A settled delivery; `envelope` is `None` when its headers were unreadable.
    pub fn event(&self, envelope: Option<&Envelope>, outcome: &'static str) {
        let (shop, kind) = match envelope {
            Some(envelope) => (
                self.shop_label(&envelope.shop),
                envelope.kind.as_str().to_owned(),
            ),
            None => (OTHER.to_owned(), OTHER.to_owned()),
        };
        self.events
            .get_or_create(&EventLabels {
                shop,
                kind,
                outcome,
            })
            .inc();
    }

    pub fn retrying(&self, envelope: Option<&Envelope>) -> Gauge {
        let shop = envelope.map_or_else(|| OTHER.to_owned(), |e| self.shop_label(&e.shop));
        self.retrying.get_or_create(&ShopLabels { shop }).clone()
    }

    pub fn dead(&self, envelope: Option<&Envelope>, reason: &'static str) {
        let shop = envelope.map_or_else(|| OTHER.to_owned(), |e| self.shop_label(&e.shop));
        self.dead.get_or_create(&DeadLabels { shop, reason }).inc();
    }

    /// A poll of `shop` ended with `result`.
    pub fn poll(&self, shop: &str, result: &'static str) {
        self.polls
            .get_or_create(&PollLabels {
                shop: self.shop_label(shop),
                result,
            })
            .inc();
    }

    /// A polled event booked what no webhook had brought.
    pub fn missed_by_webhooks(&self, envelope: &Envelope) {
        self.missed_by_webhooks
            .get_or_create(&MissedLabels {
                shop: self.shop_label(&envelope.shop),
                kind: envelope.kind.as_str().to_owned(),
            })
            .inc();
    }

    /// An event booked now, received by the ingress at `envelope.received_at` (a polled one
    /// is not timed: its wait says how often the shop is polled, not how fast we book).
    pub fn booked(&self, envelope: &Envelope) {
        if envelope.source != xcs_shared::Source::Webhook {
            return;
        }
        let Ok(received) = time::OffsetDateTime::parse(
            &envelope.received_at,
            &time::format_description::well_known::Rfc3339,
        ) else {
            return;
        };
        let waited = (time::OffsetDateTime::now_utc() - received).as_seconds_f64();
        self.webhook_to_xero_seconds
            .get_or_create(&ShopLabels {
                shop: self.shop_label(&envelope.shop),
            })
            .observe(waited.max(0.0));
    }

    pub fn batch(&self, tenant: &str, size: usize) {
        self.batch_size
            .get_or_create(&TenantLabels {
                tenant: self.tenant_label(tenant),
            })
            .observe(size as f64);
    }

    /// One Xero call's answer: its result class, and the budget its headers state.
    pub fn xero_call(
        &self,
        tenant: &str,
        result: &'static str,
        headers: Option<&reqwest::header::HeaderMap>,
    ) {
        let tenant = self.tenant_label(tenant);
        self.xero_calls
            .get_or_create(&XeroCallLabels {
                tenant: tenant.clone(),
                result,
            })
            .inc();
        let Some(headers) = headers else {
            return;
        };
        let number =
            |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
        let labels = TenantLabels { tenant };
        if let Some(left) = number("x-minlimit-remaining") {
            self.xero_minute_remaining.get_or_create(&labels).set(left);
        }
        if let Some(left) = number("x-daylimit-remaining") {
            self.xero_day_remaining.get_or_create(&labels).set(left);
        }
        if let Some(left) = number("x-appminlimit-remaining") {
            self.xero_app_minute_remaining.set(left);
        }
        if result == "rate_limited" {
            let problem = match headers
                .get("x-rate-limit-problem")
                .and_then(|v| v.to_str().ok())
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("minute") => "minute",
                // Xero's own header says `day`; its old documentation wrote `Daily`.
                Some("day" | "daily") => "daily",
                Some("appminute") => "appminute",
                Some("concurrent") => "concurrent",
                _ => OTHER,
            };
            self.xero_rate_limited
                .get_or_create(&RateLimitLabels {
                    tenant: labels.tenant,
                    problem,
                })
                .inc();
        }
    }
}

fn bounded(known: &BTreeSet<String>, value: &str) -> String {
    if known.contains(value) {
        value.to_owned()
    } else {
        OTHER.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> Metrics {
        let config = Config::from_toml(
            include_str!("../../../deploy/config/processor.local.toml"),
            |_| None,
        )
        .expect("the local config is valid");
        Metrics::new(&config)
    }

    #[test]
    fn a_shop_or_tenant_the_config_does_not_name_is_other() {
        let metrics = metrics();
        let envelope = Envelope {
            event_id: "e1".into(),
            platform: xcs_shared::Platform::Shopify,
            shop: "made-up-by-a-header".into(),
            tenant: "made-up-tenant".into(),
            kind: xcs_shared::EventKind::Order,
            topic: "orders/create".into(),
            delivery_id: "d1".into(),
            received_at: "2026-11-27T01:00:00Z".into(),
            source: xcs_shared::Source::Webhook,
        };
        metrics.event(Some(&envelope), "booked");
        metrics.xero_call("made-up-tenant", "success", None);
        let text = metrics.encode();
        assert!(!text.contains("made-up"), "{text}");
        assert!(text.contains(r#"shop="other""#), "{text}");
        assert!(text.contains(r#"tenant="other""#), "{text}");
    }

    #[test]
    fn the_budget_headers_set_the_tenants_gauges() {
        let metrics = metrics();
        let tenant = metrics.tenants.first().expect("a tenant").clone();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("X-MinLimit-Remaining", "57".parse().unwrap());
        headers.insert("X-DayLimit-Remaining", "4990".parse().unwrap());
        headers.insert("X-AppMinLimit-Remaining", "9990".parse().unwrap());
        headers.insert("X-Rate-Limit-Problem", "Minute".parse().unwrap());
        metrics.xero_call(&tenant, "rate_limited", Some(&headers));
        let text = metrics.encode();
        for line in [
            format!("xcs_processor_xero_minute_remaining{{tenant=\"{tenant}\"}} 57"),
            format!("xcs_processor_xero_day_remaining{{tenant=\"{tenant}\"}} 4990"),
            "xcs_processor_xero_app_minute_remaining 9990".to_owned(),
            format!(
                "xcs_processor_xero_rate_limited_total{{tenant=\"{tenant}\",problem=\"minute\"}} 1"
            ),
        ] {
            assert!(text.contains(&line), "{line} in {text}");
        }
    }
}
