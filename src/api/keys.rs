//! Key management for admins (`/v1/admin/keys`): list, create (the key is in the answer, once),
//! revoke. Needs a key with the admin scope or an admin's console session (with its CSRF token);
//! every change is written to the audit log. The same operations are `madoguchi key …`.
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{authorize_admin, Caller};
use super::error::{ApiError, ErrorBody};
use super::extract::ApiJson;
use super::AppState;
use crate::store::{ApiKey, ApiScope};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/admin/keys", get(list).post(create))
        .route("/v1/admin/keys/{key}/revoke", post(revoke))
}

/// A key as admins see it (never the key itself, nor its hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// 16 hex characters.
    pub id: String,
    pub name: String,
    /// Each of `classify`, `agent`, `admin`.
    pub scopes: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set once revoked: the key opens nothing any more.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        KeyView {
            id: k.id,
            name: k.name,
            scopes: k.scopes.iter().map(|s| s.as_str().to_string()).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    /// 1–64 characters; unique among live keys.
    pub name: String,
    /// One or more of `classify`, `agent`, `admin`.
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: KeyView,
    /// The key itself (`mdk_…`): shown this once, never stored; send it as
    /// `Authorization: Bearer <secret>`.
    pub secret: String,
}

async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Caller, ApiError> {
    authorize_admin(state, headers, extensions).await
}

/// Every key, live and revoked, oldest first.
#[utoipa::path(get, path = "/v1/admin/keys", tag = "admin", security(("api_key" = [])),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<KeyList>, ApiError> {
    admin(&state, &headers, &extensions).await?;
    let keys = state.store.api_keys().await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

/// Create a key; the answer holds the key itself, once.
#[utoipa::path(post, path = "/v1/admin/keys", tag = "admin", security(("api_key" = [])),
    request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: Extensions,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let caller = admin(&state, &headers, &extensions).await?;
    let scopes = ApiScope::parse_list(&body.scopes.join(","))?;
    let created = state.store.create_api_key(&body.name, &scopes).await?;
    let detail = json!({ "id": created.key.id, "scopes": body.scopes });
    audit(&state, &caller, "api_key.create", &created.key.name, detail).await;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: created.key.into(),
            secret: created.secret,
        }),
    ))
}

/// Revoke the live key with this id or name: it opens nothing from now on.
#[utoipa::path(post, path = "/v1/admin/keys/{key}/revoke", tag = "admin", security(("api_key" = [])),
    params(("key" = String, Path, description = "the key's id or name")),
    responses((status = 200, body = KeyList), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    extensions: Extensions,
) -> Result<Json<KeyList>, ApiError> {
    let caller = admin(&state, &headers, &extensions).await?;
    let revoked = state.store.revoke_api_key(&key).await?;
    if revoked.is_empty() {
        return Err(ApiError::NotFound(format!("no live key named {key:?}")));
    }
    for k in &revoked {
        audit(
            &state,
            &caller,
            "api_key.revoke",
            &k.name,
            json!({ "id": k.id }),
        )
        .await;
    }
    Ok(Json(KeyList {
        keys: revoked.into_iter().map(KeyView::from).collect(),
    }))
}

/// Audit failures are logged, not answered: the change itself is done.
async fn audit(
    state: &AppState,
    caller: &Caller,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) {
    if let Err(e) = state
        .store
        .record_audit(&caller.actor(), action, subject, detail)
        .await
    {
        tracing::warn!(error = %e, action, "could not write the audit log");
    }
}
