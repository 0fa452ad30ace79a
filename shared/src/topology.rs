//! The RabbitMQ topology, named once.
//!
//! ```text
//! ingress ─▶ xcs.events (topic, key "{kind}.{platform}")
//!              └─#─▶ xcs.shards (x-consistent-hash on header xcs-tenant)
//!                      ├─▶ xcs.shard.0 … xcs.shard.{SHARD_COUNT-1}
//!                      │     quorum, single active consumer, delivery limit,
//!                      │     dead-letters (at least once) to xcs.dead
//! processor ─▶ xcs.retry (direct, key = tier) ─▶ xcs.retry.{10s,1m,10m,1h}
//!                      queue TTL, dead-letters back to xcs.shards (same tenant → same shard)
//! processor ─▶ xcs.dead (fanout) ─▶ xcs.dead (quorum)
//! xcs.events ─#─▶ xcs.archive (stream, kept ARCHIVE_MAX_AGE): what re-sync reads back
//! ```
//!
//! `deploy/rabbitmq/definitions.json` is [`definitions`] for the vhost [`DEFAULT_VHOST`]; a test
//! fails when the two differ, so the file and the code cannot drift apart.

use serde_json::{Value, json};

use crate::envelope::header;

/// The vhost the deployment files use.
pub const DEFAULT_VHOST: &str = "xcs";

/// Where the ingress publishes. A topic exchange, so other consumers (an audit log, a stream for
/// re-sync) can bind to `order.*` or `*.shopify` without touching the ingress.
pub const EVENTS_EXCHANGE: &str = "xcs.events";
/// Spreads events over the shard queues by Xero tenant.
pub const SHARDS_EXCHANGE: &str = "xcs.shards";
/// The processor republishes a failed event here, with the tier's queue name as routing key.
pub const RETRY_EXCHANGE: &str = "xcs.retry";
/// Events that cannot be booked, with their reason.
pub const DEAD_EXCHANGE: &str = "xcs.dead";
pub const DEAD_QUEUE: &str = "xcs.dead";

/// Every event the ingress published, as published, for re-sync (`xcs-processor resync`). A
/// stream: reading it removes nothing, and readers start from a point in time. The ledger cannot
/// serve instead because it keeps outcomes, not payloads.
pub const ARCHIVE_QUEUE: &str = "xcs.archive";
/// How long the archive keeps events (RabbitMQ's `x-max-age` units), so a re-sync can reach back
/// over a month-end close.
pub const ARCHIVE_MAX_AGE: &str = "30D";
/// A size cap besides the age, so a flood of webhooks cannot fill the broker's disk (the disk
/// alarm would block the ingress). Retention removes whole segments, oldest first.
pub const ARCHIVE_MAX_BYTES: u64 = 20 * 1024 * 1024 * 1024;

/// Number of shard queues. Changing it remaps tenants to shards (a brief reordering window), so
/// drain the shards first.
pub const SHARD_COUNT: usize = 8;
const SHARD_QUEUE_PREFIX: &str = "xcs.shard.";

/// How often a quorum queue redelivers a message that processors keep rejecting before it is
/// dead-lettered as a poison message (RabbitMQ 3.10 has no default; 4.x defaults to 20).
/// RabbitMQ counts every delivery a dead consumer held unacknowledged, not only the one that
/// killed it: at 5, the chaos run's repeated processor kills dead-lettered some 200 innocent
/// events waiting in a busy tenant's prefetch. 20 still sets a poison event aside after 20
/// crashes, each followed by a restart of a second or two.
pub const SHARD_DELIVERY_LIMIT: u32 = 20;
/// With `reject-publish`, a full shard makes the broker nack; the ingress then answers 503 and
/// the platform retries later, instead of the broker dropping events.
pub const SHARD_MAX_LENGTH: u64 = 1_000_000;

/// The retry tiers, shortest first: (queue name, delay in milliseconds).
pub const RETRY_TIERS: [(&str, u64); 4] = [
    ("xcs.retry.10s", 10_000),
    ("xcs.retry.1m", 60_000),
    ("xcs.retry.10m", 600_000),
    ("xcs.retry.1h", 3_600_000),
];

/// The name of shard queue `index`.
pub fn shard_queue(index: usize) -> String {
    format!("{SHARD_QUEUE_PREFIX}{index}")
}

/// All shard queue names.
pub fn shard_queues() -> impl Iterator<Item = String> {
    (0..SHARD_COUNT).map(shard_queue)
}

/// The routing key the ingress publishes with.
pub fn routing_key(kind: crate::EventKind, platform: crate::Platform) -> String {
    format!("{kind}.{platform}")
}

/// Every exchange the topology declares.
pub const EXCHANGES: [&str; 4] = [
    EVENTS_EXCHANGE,
    SHARDS_EXCHANGE,
    RETRY_EXCHANGE,
    DEAD_EXCHANGE,
];

/// Every queue the topology declares.
pub fn queues() -> Vec<String> {
    shard_queues()
        .chain(RETRY_TIERS.iter().map(|(name, _)| (*name).to_owned()))
        .chain([DEAD_QUEUE.to_owned(), ARCHIVE_QUEUE.to_owned()])
        .collect()
}

/// The RabbitMQ definitions (the format of `rabbitmqctl import_definitions`) for `vhost`.
pub fn definitions(vhost: &str) -> Value {
    let exchange = |name: &str, kind: &str, arguments: Value| {
        json!({"name": name, "vhost": vhost, "type": kind, "durable": true,
               "auto_delete": false, "internal": false, "arguments": arguments})
    };
    let queue = |name: &str, arguments: Value| {
        json!({"name": name, "vhost": vhost, "durable": true, "auto_delete": false,
               "arguments": arguments})
    };
    let binding = |source: &str, destination: &str, destination_type: &str, key: &str| {
        json!({"source": source, "vhost": vhost, "destination": destination,
               "destination_type": destination_type, "routing_key": key, "arguments": {}})
    };

    let mut queues: Vec<Value> = shard_queues()
        .map(|name| {
            queue(
                &name,
                json!({
                    "x-queue-type": "quorum",
                    "x-single-active-consumer": true,
                    "x-delivery-limit": SHARD_DELIVERY_LIMIT,
                    "x-dead-letter-exchange": DEAD_EXCHANGE,
                    "x-dead-letter-strategy": "at-least-once",
                    "x-overflow": "reject-publish",
                    "x-max-length": SHARD_MAX_LENGTH,
                }),
            )
        })
        .collect();
    queues.extend(RETRY_TIERS.iter().map(|(name, delay_ms)| {
        queue(
            name,
            json!({
                "x-queue-type": "quorum",
                "x-message-ttl": delay_ms,
                "x-dead-letter-exchange": SHARDS_EXCHANGE,
                "x-dead-letter-strategy": "at-least-once",
                "x-overflow": "reject-publish",
            }),
        )
    }));
    // No delivery limit: the operators' tools read xcs.dead by consuming without acking, which
    // counts as a delivery each time (see processor::operate::dead).
    queues.push(queue(DEAD_QUEUE, json!({"x-queue-type": "quorum"})));
    queues.push(queue(
        ARCHIVE_QUEUE,
        json!({
            "x-queue-type": "stream",
            "x-max-age": ARCHIVE_MAX_AGE,
            "x-max-length-bytes": ARCHIVE_MAX_BYTES,
        }),
    ));

    let mut bindings = vec![binding(EVENTS_EXCHANGE, SHARDS_EXCHANGE, "exchange", "#")];
    // For x-consistent-hash the binding key is the shard's weight, not a pattern.
    bindings.extend(shard_queues().map(|name| binding(SHARDS_EXCHANGE, &name, "queue", "1")));
    bindings.extend(
        RETRY_TIERS
            .iter()
            .map(|(name, _)| binding(RETRY_EXCHANGE, name, "queue", name)),
    );
    bindings.push(binding(DEAD_EXCHANGE, DEAD_QUEUE, "queue", ""));
    bindings.push(binding(EVENTS_EXCHANGE, ARCHIVE_QUEUE, "queue", "#"));

    json!({
        "vhosts": [{"name": vhost}],
        "permissions": [{"user": "guest", "vhost": vhost,
                         "configure": ".*", "write": ".*", "read": ".*"}],
        "exchanges": [
            exchange(EVENTS_EXCHANGE, "topic", json!({})),
            exchange(SHARDS_EXCHANGE, "x-consistent-hash", json!({"hash-header": header::TENANT})),
            exchange(RETRY_EXCHANGE, "direct", json!({})),
            exchange(DEAD_EXCHANGE, "fanout", json!({})),
        ],
        "queues": queues,
        "bindings": bindings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_declare_every_named_object() {
        let defs = definitions("v");
        let names = |key: &str| -> Vec<String> {
            defs[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(names("exchanges"), EXCHANGES);
        assert_eq!(names("queues"), queues());
    }
}
