//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: the model is loaded and the
//! database answers) and Prometheus metrics (`/metrics`).
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Object)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready to serve customers.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Object), (status = 503, body = super::error::ErrorBody)))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if !state.nlu.is_ready() {
        return Err(ApiError::NotReady("the model is still loading".into()));
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "database ping failed");
        return Err(ApiError::NotReady("the database does not answer".into()));
    }
    Ok(Json(
        json!({ "status": "ready", "queued": state.nlu.queued() }),
    ))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let Some(handle) = crate::telemetry::metrics() else {
        return Err(ApiError::NotReady(
            "metrics are not available in this process".into(),
        ));
    };
    // KPIs from the database (shared by every replica), read at scrape time.
    match state.store.kpis(None).await {
        Ok(k) => {
            let gauges = [
                (crate::telemetry::CONTAINMENT_RATE, k.containment_rate),
                (crate::telemetry::HANDOFF_RATE, k.handoff_rate),
                (
                    crate::telemetry::HANDOFF_MEAN_WAIT,
                    k.mean_time_to_claim_seconds,
                ),
            ];
            for (name, value) in gauges {
                if let Some(value) = value {
                    metrics::gauge!(name).set(value);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot compute KPIs"),
    }
    match state.store.waiting_count().await {
        Ok(n) => metrics::gauge!(crate::telemetry::HANDOFF_QUEUE_LENGTH).set(n as f64),
        Err(e) => tracing::warn!(error = %e, "cannot count waiting tickets"),
    }
    metrics::gauge!(crate::telemetry::QUEUE_LENGTH).set(state.nlu.queued() as f64);
    handle.run_upkeep();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}
