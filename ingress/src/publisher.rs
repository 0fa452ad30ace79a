//! Durable hand-off to RabbitMQ: a webhook counts as received only once the broker has
//! confirmed it, with no `basic.return` (lapin reports an unroutable `mandatory` message as an
//! *ack* carrying the returned message).
//!
//! A supervisor task owns the connection: it connects, opens a confirm-mode channel, checks the
//! topology, and reconnects with capped exponential backoff whenever the broker goes away. We do
//! not rely on lapin's young auto-recovery; a publish that finds no live channel fails fast with
//! [`PublishError::NotConnected`] and the webhook is answered 503.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lapin::options::{
    BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Notify, watch};
use xcs_shared::amqp_connect::{AmqpTarget, ConnectFailure, ConnectLog};
use xcs_shared::{Envelope, topology};

use crate::verify::VerifiedWebhook;

/// Why an event was not durably published. Every variant means: answer 503, the platform
/// retries, and the processor dedupes whatever did land.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("not connected to RabbitMQ")]
    NotConnected,
    #[error("RabbitMQ did not confirm within {0:?}")]
    ConfirmTimeout(Duration),
    #[error("RabbitMQ refused the message (nack): a shard queue is full or failing")]
    Nacked,
    #[error(
        "RabbitMQ could not route the message ({code} {text}): the topology is missing; import deploy/rabbitmq/definitions.json"
    )]
    Returned { code: u16, text: String },
    #[error("the AMQP channel failed: {0}")]
    Channel(#[from] lapin::Error),
}

/// Publishes verified webhooks with confirms; cheap to clone.
#[derive(Clone)]
pub struct Publisher {
    inner: Arc<Inner>,
}

struct Inner {
    uri: SecretString,
    confirm_timeout: Duration,
    max_backoff: Duration,
    live: RwLock<Option<Live>>,
    topology_ok: AtomicBool,
    /// Wakes the supervisor early when a publish saw the channel fail.
    check_now: Notify,
    shutdown: watch::Sender<bool>,
}

#[derive(Clone)]
struct Live {
    connection: Arc<Connection>,
    channel: Channel,
}

/// How often the supervisor checks the connection, and re-checks a missing topology.
const SUPERVISE_EVERY: Duration = Duration::from_millis(250);
const TOPOLOGY_RECHECK_EVERY: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Publisher {
    /// Starts the supervisor; the publisher becomes ready once it has connected.
    pub fn start(uri: SecretString, confirm_timeout: Duration, max_backoff: Duration) -> Self {
        let (shutdown, _) = watch::channel(false);
        let publisher = Publisher {
            inner: Arc::new(Inner {
                uri,
                confirm_timeout,
                max_backoff,
                live: RwLock::new(None),
                topology_ok: AtomicBool::new(false),
                check_now: Notify::new(),
                shutdown,
            }),
        };
        tokio::spawn(Arc::clone(&publisher.inner).supervise());
        publisher
    }

    /// Connected, with a confirm channel, and the topology in place.
    pub fn is_ready(&self) -> bool {
        self.live().is_some() && self.inner.topology_ok.load(Ordering::Relaxed)
    }

    pub fn is_connected(&self) -> bool {
        self.live().is_some()
    }

    pub fn topology_present(&self) -> bool {
        self.inner.topology_ok.load(Ordering::Relaxed)
    }

    fn live(&self) -> Option<Live> {
        self.inner.live.read().expect("lock poisoned").clone()
    }

    /// Publishes the verified body with the envelope, and waits for the broker's confirm.
    ///
    /// # Errors
    /// [`PublishError`]; the event may or may not have landed, so the caller answers 503.
    pub async fn publish(
        &self,
        envelope: &Envelope,
        webhook: &VerifiedWebhook,
        content_type: Option<&str>,
    ) -> Result<(), PublishError> {
        let live = self.live().ok_or(PublishError::NotConnected)?;
        let headers = envelope.field_table();
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_message_id(envelope.event_id.as_str().into())
            .with_correlation_id(envelope.delivery_id.as_str().into())
            .with_content_type(content_type.unwrap_or("application/json").into())
            .with_timestamp(timestamp)
            .with_app_id("xcs-ingress".into())
            .with_headers(headers);
        let routing_key = topology::routing_key(envelope.kind, envelope.platform);

        // The timeout covers the publish as well as the confirm: a broker under a memory or
        // disk alarm blocks publishers, and that must become a 503, not a hung request.
        let confirmed = tokio::time::timeout(self.inner.confirm_timeout, async {
            live.channel
                .basic_publish(
                    topology::EVENTS_EXCHANGE.into(),
                    routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    webhook.body(),
                    properties,
                )
                .await?
                .await
        })
        .await;
        match confirmed {
            Err(_) => Err(PublishError::ConfirmTimeout(self.inner.confirm_timeout)),
            Ok(Err(err)) => {
                self.inner.check_now.notify_one();
                Err(PublishError::Channel(err))
            }
            Ok(Ok(Confirmation::Ack(None))) => Ok(()),
            Ok(Ok(Confirmation::Ack(Some(returned)))) => {
                self.inner.topology_ok.store(false, Ordering::Relaxed);
                self.inner.check_now.notify_one();
                Err(PublishError::Returned {
                    code: returned.reply_code,
                    text: returned.reply_text.to_string(),
                })
            }
            Ok(Ok(Confirmation::Nack(_))) => Err(PublishError::Nacked),
            Ok(Ok(Confirmation::NotRequested)) => {
                unreachable!("the channel is put in confirm mode before it is shared")
            }
        }
    }

    /// Stops the supervisor and closes the connection. Call after the HTTP server has drained,
    /// so in-flight publishes get their confirms.
    pub async fn close(&self) {
        self.inner.shutdown.send_replace(true);
        let live = self.inner.live.write().expect("lock poisoned").take();
        if let Some(live) = live {
            let _ = live
                .connection
                .close(200, "ingress shutting down".into())
                .await;
        }
    }
}

impl Inner {
    async fn supervise(self: Arc<Self>) {
        let mut shutdown = self.shutdown.subscribe();
        let mut backoff = Duration::from_millis(100);
        // Says what failed and which setting to fix, once and then once a minute, rather than
        // the broker's words at every attempt.
        let mut log = ConnectLog::new("RabbitMQ");
        while !*shutdown.borrow() {
            let failure = match tokio::time::timeout(CONNECT_TIMEOUT, self.connect()).await {
                Ok(Ok(live)) => {
                    backoff = Duration::from_millis(100);
                    if !log.is_failing() {
                        tracing::info!("connected to RabbitMQ");
                    }
                    log.connected(
                        AmqpTarget::parse(self.uri.expose_secret())
                            .map(|t| t.address())
                            .as_deref(),
                    );
                    self.check_topology(&live.connection).await;
                    *self.live.write().expect("lock poisoned") = Some(live.clone());
                    self.watch(live, &mut shutdown).await;
                    *self.live.write().expect("lock poisoned") = None;
                    if *shutdown.borrow() {
                        return;
                    }
                    tracing::warn!(
                        "lost the RabbitMQ connection; webhooks get 503 until it is back"
                    );
                    continue;
                }
                Ok(Err(err)) => ConnectFailure::of(&err, self.uri.expose_secret()),
                Err(_) => ConnectFailure::timed_out(CONNECT_TIMEOUT, self.uri.expose_secret()),
            };
            log.failed(&failure);
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    async fn connect(&self) -> Result<Live, lapin::Error> {
        let connection =
            Connection::connect(self.uri.expose_secret(), ConnectionProperties::default()).await?;
        let channel = Self::confirm_channel(&connection).await?;
        Ok(Live {
            connection: Arc::new(connection),
            channel,
        })
    }

    async fn confirm_channel(connection: &Connection) -> Result<Channel, lapin::Error> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(channel)
    }

    /// Returns when the connection is gone or shutdown is requested; replaces a channel the
    /// broker closed (publishing to a missing exchange does that) while the connection lives.
    async fn watch(&self, mut live: Live, shutdown: &mut watch::Receiver<bool>) {
        let mut last_topology_check = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(SUPERVISE_EVERY) => {}
                () = self.check_now.notified() => {}
                _ = shutdown.changed() => return,
            }
            if !live.connection.status().connected() {
                return;
            }
            if !live.channel.status().connected() {
                match Self::confirm_channel(&live.connection).await {
                    Ok(channel) => {
                        live.channel = channel;
                        *self.live.write().expect("lock poisoned") = Some(live.clone());
                    }
                    Err(_) => return,
                }
            }
            let topology_ok = self.topology_ok.load(Ordering::Relaxed);
            if !topology_ok && last_topology_check.elapsed() >= TOPOLOGY_RECHECK_EVERY {
                last_topology_check = tokio::time::Instant::now();
                self.check_topology(&live.connection).await;
            }
        }
    }

    /// Passively declares what the ingress publishes into. A passive declare of something
    /// missing closes its channel, hence a channel of its own.
    async fn check_topology(&self, connection: &Connection) {
        let present = async {
            let channel = connection.create_channel().await?;
            let passive = ExchangeDeclareOptions {
                passive: true,
                ..ExchangeDeclareOptions::default()
            };
            for exchange in [topology::EVENTS_EXCHANGE, topology::SHARDS_EXCHANGE] {
                channel
                    .exchange_declare(
                        exchange.into(),
                        ExchangeKind::Topic,
                        passive,
                        FieldTable::default(),
                    )
                    .await?;
            }
            for queue in topology::shard_queues() {
                channel
                    .queue_declare(
                        queue.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await?;
            }
            let _ = channel.close(200, "topology checked".into()).await;
            Ok::<_, lapin::Error>(())
        }
        .await;
        match present {
            Ok(()) => self.topology_ok.store(true, Ordering::Relaxed),
            Err(err) => {
                self.topology_ok.store(false, Ordering::Relaxed);
                tracing::error!(error = %err, "RabbitMQ topology is missing; import deploy/rabbitmq/definitions.json");
            }
        }
    }
}
