//! Prometheus metrics, served at `/metrics`. Every label value is a `&'static str` from our own
//! code: platform names, outcomes, reasons, and the topics each platform documents
//! (`crate::platforms`). Request data never becomes a label value: a verified delivery's topic may still come
//! from an unsigned header (Shopify, WooCommerce), so each distinct value would be a new series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub platform: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub platform: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabels {
    pub platform: &'static str,
    pub topic: &'static str,
}

/// The ingress's metrics.
pub struct Metrics {
    registry: Registry,
    /// Every answered webhook request, by platform and outcome.
    pub deliveries: Family<DeliveryLabels, Counter>,
    /// Deliveries refused as not genuine, by reason.
    pub verification_failures: Family<FailureLabels, Counter>,
    /// Verified deliveries of topics we do not book; topics no platform documents are `other`.
    pub ignored_topics: Family<TopicLabels, Counter>,
    /// Publish-to-confirm time of successful publishes.
    pub publish_seconds: Histogram,
    /// Webhook requests being handled now.
    pub in_flight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("xcs_ingress");
        let deliveries = Family::default();
        let verification_failures = Family::default();
        let ignored_topics = Family::default();
        let publish_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
        ]);
        let in_flight = Gauge::default();
        registry.register(
            "deliveries",
            "Webhook requests answered, by platform and outcome",
            deliveries.clone(),
        );
        registry.register(
            "verification_failures",
            "Webhook deliveries refused as not genuine, by reason",
            verification_failures.clone(),
        );
        registry.register(
            "ignored_topics",
            "Verified deliveries of topics that are not booked",
            ignored_topics.clone(),
        );
        registry.register(
            "publish_duration_seconds",
            "Time from publish to broker confirm",
            publish_seconds.clone(),
        );
        registry.register(
            "in_flight",
            "Webhook requests being handled",
            in_flight.clone(),
        );
        Metrics {
            registry,
            deliveries,
            verification_failures,
            ignored_topics,
            publish_seconds,
            in_flight,
        }
    }
}

impl Metrics {
    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn delivery(&self, platform: &'static str, outcome: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { platform, outcome })
            .inc();
    }
}
