//! Liveness (`/healthz`: the process answers), readiness (`/readyz`: the model is loaded, the
//! inference worker is not restarting, and the database answers) and Prometheus metrics
//! (`/metrics`, cheap to scrape: the database KPIs come from a cache refreshed at most every few
//! seconds, see [`crate::conversation::kpis`]).
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use super::error::{ApiError, ErrorDetail};
use super::AppState;
use crate::nlu::queue::NluStatus;

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

/// What `/readyz` answers, ready or not.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// Why not ready, each of `model_loading`, `inference_restarting`, `database_unreachable`;
    /// empty when ready.
    pub reasons: Vec<&'static str>,
    /// The loaded model's version (null while none is loaded).
    pub model: Option<String>,
    /// Messages waiting for the classifier.
    pub queued: usize,
    /// Inference worker restarts since the process started.
    pub restarts: u64,
    /// When not ready: the API's usual error shape (`code` is `not_ready`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

/// Ready to serve customers: 200 when ready, else 503 saying why.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    let mut explanations = Vec::new();
    match state.nlu.status() {
        NluStatus::Ready => {}
        NluStatus::Loading => {
            reasons.push("model_loading");
            explanations.push("the model is still loading");
        }
        NluStatus::Restarting => {
            reasons.push("inference_restarting");
            explanations.push("the inference worker failed and is restarting");
        }
    }
    if let Err(e) = state.store.ping().await {
        tracing::warn!(error = %e, "database ping failed");
        reasons.push("database_unreachable");
        explanations.push("the database does not answer");
    }
    let error = (!reasons.is_empty()).then(|| ApiError::NotReady(explanations.join("; ")));
    let body = Readiness {
        status: if error.is_some() {
            "not_ready"
        } else {
            "ready"
        },
        reasons,
        model: state.nlu.model_version(),
        queued: state.nlu.queued(),
        restarts: state.nlu.restarts(),
        error: error.as_ref().map(|e| ErrorDetail {
            code: e.code(),
            message: e.to_string(),
        }),
    };
    match error {
        Some(e) => (e.status(), Json(body)).into_response(),
        None => Json(body).into_response(),
    }
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let Some(handle) = crate::telemetry::metrics() else {
        return Err(ApiError::NotReady(
            "metrics are not available in this process".into(),
        ));
    };
    export_kpis(&state).await;
    metrics::gauge!(crate::telemetry::QUEUE_LENGTH).set(state.nlu.queued() as f64);
    handle.run_upkeep();
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    ))
}

/// Sets the KPI gauges from the cached snapshot (shared by every replica's database, refreshed
/// at most once per TTL). When the database cannot be read the gauges keep their last values.
async fn export_kpis(state: &AppState) {
    let snapshot = match state.kpis.get().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            tracing::warn!(error = %e, "cannot compute KPIs");
            return;
        }
    };
    let k = &snapshot.kpis;
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
    metrics::gauge!(crate::telemetry::HANDOFF_QUEUE_LENGTH).set(snapshot.waiting_tickets as f64);
}
