//! Entry points for the cargo-fuzz targets in `fuzz/`, compiled only with the `fuzzing`
//! feature. They reach code the public API guards: classifying needs a [`VerifiedWebhook`],
//! which only verification can make in a normal build, and the platforms' pre-verification
//! body checks are private.

use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use xcs_shared::Platform;

use crate::platforms::{self, Classified, Unclassifiable};
use crate::verify::{Body, VerifiedWebhook};

/// Classifies `body` as if its signature had checked out.
///
/// # Errors
/// [`Unclassifiable`].
pub fn classify(
    platform: Platform,
    shop: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Classified, Unclassifiable> {
    platforms::classify(platform, shop, headers, &VerifiedWebhook::new(body))
}

/// The checks the webhook route makes on a body before verification (WooCommerce's ping,
/// Adobe's asynchronous validation request).
pub fn pre_verification(body: &[u8]) -> (bool, bool) {
    let body = Body::new(Bytes::copy_from_slice(body));
    let handshake = |platform| platforms::of(platform).handshake(&body).is_some();
    (
        handshake(Platform::WooCommerce),
        handshake(Platform::Magento),
    )
}
