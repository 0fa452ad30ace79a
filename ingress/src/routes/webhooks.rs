//! `POST /webhooks/{platform}/{shop}`: verify, classify, publish, and only then answer 2xx.
//! `GET` on the same path answers eBay's and Adobe's endpoint challenges.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::header::CONTENT_TYPE;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use tracing::Instrument;
use xcs_shared::{Envelope, Platform};

use crate::config::{AccessLog, Shop};
use crate::error::IngressError;
use crate::platforms::{self, ChallengeQuery, Handshake};
use crate::startup::AppState;
use crate::verify::{Body, Verifier, VerifyError, header};

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/webhooks/{platform}/{shop}")
            .route(web::post().to(receive))
            .route(web::get().to(challenge)),
    );
}

/// Finds the configured shop for the path, or answers 404.
fn find_shop<'a>(
    state: &'a AppState,
    platform: &str,
    shop: &str,
) -> Result<&'a Shop, IngressError> {
    let platform: Platform = platform
        .parse()
        .map_err(|_| IngressError::UnknownPlatform(platform.to_owned()))?;
    state
        .config
        .shops
        .get(shop)
        .filter(|s| s.platform == platform)
        .ok_or_else(|| IngressError::UnknownShop {
            platform: platform.to_string(),
            shop: shop.to_owned(),
        })
}

async fn receive(
    request: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngressError> {
    let (platform_name, shop_name) = path.into_inner();
    let delivery_id = uuid::Uuid::now_v7().to_string();
    let span = tracing::info_span!(
        "webhook",
        platform = %platform_name,
        shop = %shop_name,
        delivery_id = %delivery_id,
        event_id = tracing::field::Empty,
        topic = tracing::field::Empty,
        kind = tracing::field::Empty,
    );
    let in_flight = InFlight::enter(&state.metrics.in_flight);
    let result = handle(
        &request,
        &platform_name,
        &shop_name,
        delivery_id,
        payload,
        &state,
    )
    .instrument(span.clone())
    .await;
    drop(in_flight);

    let _entered = span.enter();
    let label = platform_label(&platform_name);
    match &result {
        Ok((outcome, _)) => {
            state.metrics.delivery(label, outcome);
            match state.access_log.accepted() {
                Some(1) => tracing::info!(outcome, "webhook accepted"),
                Some(one_in) => {
                    tracing::info!(outcome, sampled_one_in = one_in, "webhook accepted")
                }
                None => {}
            }
        }
        Err(err) => {
            state.metrics.delivery(label, err.outcome());
            if let IngressError::Unauthorized(reason) = err {
                state
                    .metrics
                    .verification_failures
                    .get_or_create(&crate::metrics::FailureLabels {
                        platform: label,
                        reason: reason.reason(),
                    })
                    .inc();
            }
            match err {
                IngressError::Unavailable { .. } => tracing::warn!(error = %err, "webhook refused"),
                _ => tracing::info!(error = %err, "webhook refused"),
            }
        }
    }
    result.map(|(_, response)| response)
}

/// Decides which accepted deliveries get the "webhook accepted" line (`server.access_log`);
/// refusals are always logged, by the caller.
pub(crate) struct AccessLogger {
    /// 0: none; 1: all; n: one in n.
    one_in: u64,
    accepted: AtomicU64,
}

impl AccessLogger {
    pub(crate) fn new(mode: AccessLog, sample_every: u32) -> Self {
        let one_in = match mode {
            AccessLog::All => 1,
            AccessLog::Sampled => u64::from(sample_every.max(1)),
            AccessLog::Errors => 0,
        };
        AccessLogger {
            one_in,
            accepted: AtomicU64::new(0),
        }
    }

    /// For an accepted delivery: `Some(n)` when it is to be logged as one in `n`.
    fn accepted(&self) -> Option<u64> {
        match self.one_in {
            0 => None,
            1 => Some(1),
            n => {
                let seen = self.accepted.fetch_add(1, Ordering::Relaxed);
                seen.is_multiple_of(n).then_some(n)
            }
        }
    }
}

/// Counts a request in flight until dropped, including when the client goes away and actix
/// drops the handler mid-way.
struct InFlight<'a>(&'a prometheus_client::metrics::gauge::Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        InFlight(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Unknown platform names must not become metric labels.
fn platform_label(name: &str) -> &'static str {
    name.parse::<Platform>().map_or("unknown", Platform::as_str)
}

async fn handle(
    request: &HttpRequest,
    platform_name: &str,
    shop_name: &str,
    delivery_id: String,
    payload: web::Payload,
    state: &AppState,
) -> Result<(&'static str, HttpResponse), IngressError> {
    let shop = find_shop(state, platform_name, shop_name)?;
    let (platform, webhooks) = (shop.platform, platforms::of(shop.platform));
    let received_at = time::OffsetDateTime::now_utc();
    let server = &state.config.server;
    // Parsed as JSON at most once, by whichever of the handshake check, the verifier and the
    // classification first needs it.
    let body = Body::new(
        read_body(
            request,
            payload,
            server.body_limit_bytes,
            server.body_timeout(),
        )
        .await?,
    );

    if let Some(handshake) = webhooks.handshake(&body) {
        if let Handshake::NeedsOperator(what_to_do) = handshake {
            tracing::warn!("{what_to_do}");
        }
        return Ok(("handshake", HttpResponse::Ok().finish()));
    }

    let verifier = Verifier {
        keys: &state.keys,
        now: unix_now(),
        timestamp_tolerance: state.config.server.timestamp_tolerance_secs,
    };
    let mut webhook = verifier
        .verify(shop, request.headers(), body)
        .await
        .map_err(|err| match err {
            VerifyError::Rejected(reason) => IngressError::Unauthorized(reason),
            VerifyError::KeysUnavailable(err) => state.unavailable(err.to_string()),
        })?;

    let classified = platforms::classify(platform, &shop.name, request.headers(), &webhook)
        .map_err(|err| IngressError::BadRequest(err.to_string()))?;
    webhook.release_json();
    let span = tracing::Span::current();
    span.record("event_id", classified.event_id.as_str());
    span.record("topic", classified.topic.as_str());

    let Some(kind) = classified.kind else {
        state
            .metrics
            .ignored_topics
            .get_or_create(&crate::metrics::TopicLabels {
                platform: platform.as_str(),
                topic: webhooks.topic_label(&classified.topic),
            })
            .inc();
        let body = json!({"status": "ignored", "topic": classified.topic});
        return Ok(("ignored", HttpResponse::Ok().json(body)));
    };
    span.record("kind", kind.as_str());

    let envelope = Envelope {
        event_id: classified.event_id,
        platform,
        shop: shop.name.clone(),
        tenant: shop.tenant.clone(),
        kind,
        topic: classified.topic,
        delivery_id,
        received_at: received_at
            .format(&time::format_description::well_known::Rfc3339)
            .expect("a current UTC time formats as RFC 3339"),
        source: xcs_shared::Source::Webhook,
    };
    let started = Instant::now();
    state
        .publisher
        .publish(
            &envelope,
            &webhook,
            header(request.headers(), CONTENT_TYPE.as_str()),
        )
        .await
        .map_err(|err| state.unavailable(err.to_string()))?;
    state
        .metrics
        .publish_seconds
        .observe(started.elapsed().as_secs_f64());
    let body = json!({"status": "published", "event_id": envelope.event_id, "kind": kind});
    Ok(("published", HttpResponse::Ok().json(body)))
}

/// Reads the whole body, refusing it as soon as it passes the limit or takes longer than
/// `timeout` to arrive.
async fn read_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, IngressError> {
    let declared =
        header(request.headers(), "content-length").and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(IngressError::PayloadTooLarge { limit });
    }
    let read = async {
        use futures_util::StreamExt as _;
        let mut body = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|err| IngressError::BadRequest(format!("cannot read the body: {err}")))?;
            if body.len() + chunk.len() > limit {
                return Err(IngressError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| IngressError::BodyTimeout)?
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A GET on the webhook URL: the platform's endpoint validation (eBay's `challenge_code`,
/// Adobe I/O's `challenge`).
async fn challenge(
    path: web::Path<(String, String)>,
    query: web::Query<ChallengeQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, IngressError> {
    let (platform_name, shop_name) = path.into_inner();
    let shop = find_shop(&state, &platform_name, &shop_name)?;
    let answer = platforms::of(shop.platform).challenge(shop, &query);
    let label = shop.platform.as_str();
    match &answer {
        Ok(_) => state.metrics.delivery(label, "handshake"),
        Err(IngressError::MethodNotAllowed(_)) => state.metrics.delivery(label, "bad_request"),
        Err(_) => {}
    }
    Ok(HttpResponse::Ok().json(answer?))
}

impl AppState {
    fn unavailable(&self, reason: String) -> IngressError {
        IngressError::Unavailable {
            reason,
            retry_after_secs: self.config.server.retry_after_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::SignatureError;

    #[test]
    fn the_access_log_keeps_all_one_in_n_or_no_accepted_deliveries() {
        let logged = |mode, every| {
            let logger = AccessLogger::new(mode, every);
            (0..1000)
                .filter_map(|_| logger.accepted())
                .collect::<Vec<_>>()
        };
        assert_eq!(logged(AccessLog::All, 100), vec![1; 1000]);
        assert_eq!(logged(AccessLog::Sampled, 100), vec![100; 10]);
        assert_eq!(logged(AccessLog::Sampled, 1), vec![1; 1000]);
        assert!(logged(AccessLog::Errors, 100).is_empty());
    }

    #[test]
    fn signature_errors_do_not_leak_into_responses() {
        use actix_web::ResponseError;
        let response = IngressError::Unauthorized(SignatureError::Mismatch).error_response();
        assert_eq!(response.status(), 401);
    }
}
