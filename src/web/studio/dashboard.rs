//! The KPI dashboard's JSON and CSV endpoints (`/studio/api/kpis…`), for leads and admins
//! (console session). The figures and their definitions are `studio::kpis`'; the OpenAPI
//! description is `studio::kpis::api_doc`.
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::studio::kpis::{self, KpiError, KpiReport, KpiTable, RawKpiQuery};
use crate::web::console::{ConsoleState, Session};

/// `GET /studio/api/kpis` and `GET /studio/api/kpis/<table>.csv` for every [`KpiTable`].
pub fn router() -> Router<ConsoleState> {
    let mut router = Router::new().route("/studio/api/kpis", get(report));
    for table in KpiTable::ALL {
        let path = format!("/studio/api/kpis/{}.csv", table.slug());
        router = router.route(
            &path,
            get(move |state, session, query| csv(table, state, session, query)),
        );
    }
    router
}

fn api_error(e: KpiError) -> ApiError {
    match e {
        KpiError::Invalid(message) => ApiError::Unprocessable(message),
        KpiError::Store(e) => e.into(),
        KpiError::Csv(message) => ApiError::Internal(message),
    }
}

fn query(q: Result<Query<RawKpiQuery>, QueryRejection>) -> Result<RawKpiQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(format!("bad query string: {e}")))
}

/// `GET /studio/api/kpis`: every KPI (see `studio::kpis::api_doc::kpis`).
async fn report(
    State(state): State<ConsoleState>,
    session: Session,
    q: Result<Query<RawKpiQuery>, QueryRejection>,
) -> Result<Json<KpiReport>, ApiError> {
    session.require(AccountRole::Lead)?;
    let raw = query(q)?;
    let report = kpis::kpi_report(&state.app.conversations, &raw)
        .await
        .map_err(api_error)?;
    Ok(Json(report))
}

/// `GET /studio/api/kpis/<table>.csv`: one table as a CSV download.
async fn csv(
    table: KpiTable,
    State(state): State<ConsoleState>,
    session: Session,
    q: Result<Query<RawKpiQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    session.require(AccountRole::Lead)?;
    let raw = query(q)?;
    let export = kpis::kpi_csv(&state.app.conversations, &raw, table)
        .await
        .map_err(api_error)?;
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.file_name))
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        export.body,
    )
        .into_response())
}
