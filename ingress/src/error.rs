//! What can go wrong with a webhook request, and the status code each answer carries.

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, RETRY_AFTER};
use actix_web::{HttpResponse, ResponseError};

use crate::verify::SignatureError;

/// A webhook request that is not answered 2xx.
#[derive(Debug, thiserror::Error)]
pub enum IngressError {
    #[error("unknown platform {0:?}")]
    UnknownPlatform(String),
    #[error("no {platform} shop named {shop:?} is configured")]
    UnknownShop { platform: String, shop: String },
    #[error("the body is larger than the {limit}-byte limit")]
    PayloadTooLarge { limit: usize },
    #[error("the client sent the body too slowly")]
    BodyTimeout,
    #[error("signature verification failed: {0}")]
    Unauthorized(#[from] SignatureError),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(&'static str),
    /// Not durably stored, or not verifiable right now: the platform should retry.
    #[error("temporarily unavailable: {reason}")]
    Unavailable {
        reason: String,
        retry_after_secs: u32,
    },
}

impl IngressError {
    /// The metrics label for this answer.
    pub fn outcome(&self) -> &'static str {
        match self {
            IngressError::UnknownPlatform(_) | IngressError::UnknownShop { .. } => "not_found",
            IngressError::PayloadTooLarge { .. } => "payload_too_large",
            IngressError::BodyTimeout => "body_timeout",
            IngressError::Unauthorized(_) => "unauthorized",
            IngressError::BadRequest(_) | IngressError::MethodNotAllowed(_) => "bad_request",
            IngressError::Unavailable { .. } => "unavailable",
        }
    }

    fn code(&self) -> &'static str {
        match self {
            IngressError::UnknownPlatform(_) => "unknown_platform",
            IngressError::UnknownShop { .. } => "unknown_shop",
            IngressError::PayloadTooLarge { .. } => "payload_too_large",
            IngressError::BodyTimeout => "body_timeout",
            IngressError::Unauthorized(_) => "invalid_signature",
            IngressError::BadRequest(_) => "bad_request",
            IngressError::MethodNotAllowed(_) => "method_not_allowed",
            IngressError::Unavailable { .. } => "unavailable",
        }
    }
}

impl ResponseError for IngressError {
    fn status_code(&self) -> StatusCode {
        match self {
            IngressError::UnknownPlatform(_) | IngressError::UnknownShop { .. } => {
                StatusCode::NOT_FOUND
            }
            IngressError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            IngressError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IngressError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            IngressError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngressError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            IngressError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if let IngressError::Unavailable {
            retry_after_secs, ..
        } = self
        {
            response.insert_header((RETRY_AFTER, retry_after_secs.to_string()));
        }
        // A bad signature gets no detail beyond "invalid": the caller learns nothing about
        // which secret or check failed.
        let detail = match self {
            IngressError::Unauthorized(_) => {
                "the webhook signature is missing or invalid".to_owned()
            }
            other => other.to_string(),
        };
        response
            .insert_header((CONTENT_TYPE, "application/json"))
            .body(serde_json::json!({"error": self.code(), "detail": detail}).to_string())
    }
}
