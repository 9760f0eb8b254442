//! `POST /channels/line/webhook`: checks `x-line-signature` (Base64 of HMAC-SHA256 of the raw body
//! under the channel secret) before reading the body, stores every event at once (a redelivery of
//! a stored event is skipped) and answers 200; the processor takes the events from the store, so
//! nothing the customer wrote is lost between this answer and their turn.
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::inbound::{to_store, Skipped};
use super::settings::EVENTS_METRIC;
use crate::api::ApiError;
use crate::store::Store;

/// The webhook's path.
pub const WEBHOOK_PATH: &str = "/channels/line/webhook";

/// Largest webhook body accepted (LINE batches events; each is small).
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Clone)]
struct Webhook {
    secret: String,
    store: Store,
}

/// The webhook's router.
pub fn router(secret: String, store: Store) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(Webhook { secret, store })
}

/// Whether `signature` (the header's Base64) is the HMAC-SHA256 of `body` under `secret`, compared
/// in constant time.
pub fn signature_matches(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length (this is a bug)");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

/// The header LINE sends for `body` (for tests and tools).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length (this is a bug)");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn receive(
    State(hook): State<Webhook>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let signature = headers
        .get("x-line-signature")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::Unauthorized("x-line-signature is missing".into()))?;
    if !signature_matches(&hook.secret, &body, signature) {
        return Err(ApiError::Unauthorized(
            "x-line-signature does not match the body".into(),
        ));
    }
    let payload: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not JSON: {e}")))?;
    let events = payload["events"]
        .as_array()
        .ok_or_else(|| ApiError::Unprocessable("the body has no `events` array".into()))?;
    let now = chrono::Utc::now();
    let mut keep = Vec::with_capacity(events.len());
    for event in events {
        match to_store(event, now) {
            Ok(e) => keep.push(e),
            Err(Skipped::NoEventId) => {
                tracing::warn!("a LINE event without webhookEventId; skipped")
            }
        }
    }
    let new = hook
        .store
        .record_line_events(&keep)
        .await
        .map_err(ApiError::internal)?;
    metrics::counter!(EVENTS_METRIC, "outcome" => "received").increment(new);
    metrics::counter!(EVENTS_METRIC, "outcome" => "redelivered")
        .increment(keep.len() as u64 - new.min(keep.len() as u64));
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_base64_hmac_sha256() {
        // RFC 4231 test case 2, in Base64.
        let body = b"what do ya want for nothing?";
        assert_eq!(
            sign("Jefe", body),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
        assert!(signature_matches("Jefe", body, &sign("Jefe", body)));
        assert!(!signature_matches("Jefe", b"tampered", &sign("Jefe", body)));
        assert!(!signature_matches("other", body, &sign("Jefe", body)));
        assert!(!signature_matches("Jefe", body, "not base64!"));
    }
}
