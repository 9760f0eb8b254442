//! The studio's model endpoints (`/studio/api/models…`, `/studio/api/regression…`,
//! `/studio/api/audit`): train in the background, read the compare report and turn the dial,
//! pin regression cases, publish and roll back, list versions and the audit log. Lead or admin
//! session; state-changing requests carry the CSRF header (the [`Session`] extractor checks it).
use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use crate::api::extract::{ApiJson, ApiJsonOrDefault};
use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::store::{Publication, RegressionCase};
use crate::studio::models::Versions;
use crate::studio::models_api_doc::{AuditPage, CheckResults, PinList, PublishBody, RollbackBody};
use crate::studio::regression::NewPin;
use crate::studio::report::{self, CompareReport, DialSetting};
use crate::studio::training_state::{TrainOptions, TrainingStatus};
use crate::studio::{ModelError, ModelService};
use crate::web::console::{ConsoleState, Session};

pub fn router() -> Router<ConsoleState> {
    Router::new()
        .route("/studio/api/models", get(versions))
        .route("/studio/api/models/train", get(training).post(train))
        .route("/studio/api/models/rollback", post(rollback))
        .route("/studio/api/models/{version}/report", get(compare_report))
        .route("/studio/api/models/{version}/dial", get(dial))
        .route("/studio/api/models/{version}/publish", post(publish))
        .route("/studio/api/regression", get(pins).post(pin))
        .route("/studio/api/regression/{id}", delete(unpin))
        .route("/studio/api/regression/check/{version}", get(check))
        .route("/studio/api/audit", get(audit))
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        match e {
            ModelError::NotFound(m) => ApiError::NotFound(m),
            ModelError::Refused(m) | ModelError::Invalid(m) => ApiError::Unprocessable(m),
            ModelError::Conflict(m) => ApiError::Conflict(m),
            ModelError::Internal(m) => ApiError::Internal(m),
        }
    }
}

/// The lead's session and the model service.
fn lead(state: &ConsoleState, session: &Session) -> Result<ModelService, ApiError> {
    session.require(AccountRole::Lead)?;
    Ok(state.app.models.clone())
}

/// The trained versions, which is published, which this replica serves.
pub async fn versions(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Json<Versions>, ApiError> {
    Ok(Json(lead(&state, &session)?.versions().await?))
}

/// The training run of this replica: stage, progress, the version it made.
pub async fn training(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Json<TrainingStatus>, ApiError> {
    Ok(Json(lead(&state, &session)?.training_status()))
}

/// Starts a training run in the background (poll `GET /studio/api/models/train`); 409 while
/// one runs.
pub async fn train(
    State(state): State<ConsoleState>,
    session: Session,
    ApiJsonOrDefault(options): ApiJsonOrDefault<TrainOptions>,
) -> Result<(StatusCode, Json<TrainingStatus>), ApiError> {
    let models = lead(&state, &session)?;
    let status = models.start_training(&session.account.name, options)?;
    Ok((StatusCode::ACCEPTED, Json(status)))
}

/// The compare report of a version trained in the studio.
pub async fn compare_report(
    State(state): State<ConsoleState>,
    session: Session,
    Path(version): Path<String>,
) -> Result<Json<CompareReport>, ApiError> {
    Ok(Json(lead(&state, &session)?.report(&version).await?))
}

/// The dial: `?precision=0.95` gives the threshold and the coverage it buys; `?threshold=0.6`
/// the precision and coverage of that threshold (cross-validated, from the report).
pub async fn dial(
    State(state): State<ConsoleState>,
    session: Session,
    Path(version): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<DialSetting>, ApiError> {
    let report = lead(&state, &session)?.report(&version).await?;
    let curve = &report.candidate_cv.curve;
    let setting = match (unit(&query, "precision")?, unit(&query, "threshold")?) {
        (Some(p), None) => report::dial_for_precision(curve, p),
        (None, Some(t)) => report::dial_for_threshold(curve, t),
        _ => {
            return Err(ApiError::Unprocessable(
                "give exactly one of precision and threshold".into(),
            ))
        }
    };
    setting
        .map(Json)
        .ok_or_else(|| ApiError::NotFound("the report has no coverage curve".into()))
}

/// A query parameter between 0 and 1, if present.
fn unit(query: &HashMap<String, String>, name: &str) -> Result<Option<f32>, ApiError> {
    let Some(raw) = query.get(name) else {
        return Ok(None);
    };
    match raw.parse::<f32>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(Some(v)),
        _ => Err(ApiError::Unprocessable(format!(
            "{name} must be a number between 0 and 1, not {raw:?}"
        ))),
    }
}

/// Publishes a version on every replica (atomically: no request fails). 422 when the version
/// cannot be loaded; the model in service keeps serving.
pub async fn publish(
    State(state): State<ConsoleState>,
    session: Session,
    Path(version): Path<String>,
    ApiJsonOrDefault(body): ApiJsonOrDefault<PublishBody>,
) -> Result<Json<Publication>, ApiError> {
    let models = lead(&state, &session)?;
    let p = models
        .publish(&session.account.name, &version, body.threshold)
        .await?;
    Ok(Json(p))
}

/// Rolls back to the previously published version (or `to`), on every replica.
pub async fn rollback(
    State(state): State<ConsoleState>,
    session: Session,
    ApiJsonOrDefault(body): ApiJsonOrDefault<RollbackBody>,
) -> Result<Json<Publication>, ApiError> {
    let models = lead(&state, &session)?;
    let p = models
        .rollback(&session.account.name, body.to.as_deref())
        .await?;
    Ok(Json(p))
}

pub async fn pins(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Json<PinList>, ApiError> {
    let cases = lead(&state, &session)?.pins().await?;
    Ok(Json(PinList { cases }))
}

/// Pins a message with its expected intent (`out_of_scope` for none) and/or action.
pub async fn pin(
    State(state): State<ConsoleState>,
    session: Session,
    ApiJson(body): ApiJson<NewPin>,
) -> Result<(StatusCode, Json<RegressionCase>), ApiError> {
    let models = lead(&state, &session)?;
    let case = models.pin(&session.account.name, body).await?;
    Ok((StatusCode::CREATED, Json(case)))
}

pub async fn unpin(
    State(state): State<ConsoleState>,
    session: Session,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let models = lead(&state, &session)?;
    let id = uuid::Uuid::parse_str(&id)
        .map_err(|_| ApiError::NotFound(format!("no regression case {id:?}")))?;
    models.unpin(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every pin under `version` and under the published model: which it fixes, breaks or changes.
pub async fn check(
    State(state): State<ConsoleState>,
    session: Session,
    Path(version): Path<String>,
) -> Result<Json<CheckResults>, ApiError> {
    let results = lead(&state, &session)?.check_pins(&version).await?;
    Ok(Json(CheckResults { version, results }))
}

/// The audit log, newest first (`?limit=100&before=ID` pages back).
pub async fn audit(
    State(state): State<ConsoleState>,
    session: Session,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    let models = lead(&state, &session)?;
    let number = |name: &str| -> Result<Option<i64>, ApiError> {
        query
            .get(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::Unprocessable(format!("{name} must be a whole number")))
            })
            .transpose()
    };
    let limit = number("limit")?.unwrap_or(100).clamp(1, 1000) as u32;
    let entries = models.audit(limit, number("before")?).await?;
    Ok(Json(AuditPage { entries }))
}
