//! Who is calling the key-protected APIs, and may they: `Authorization: Bearer <key>` names either
//! a configured key (`api_key`: the `classify` scope; `agent_key`: the `agent` scope; kept so
//! existing deployments work unchanged) or a stored, named key with its scopes
//! (`madoguchi key create`, `/v1/admin/keys`). A missing, unknown or revoked key is a 401; a key
//! without the needed scope a 403. Every comparison of secrets is constant-time (`subtle`).
//!
//! The admin scope may also come from an admin's console session: the web layer, which owns
//! sessions, marks such requests with [`ConsoleAdmin`] before they reach the API.
use axum::http::{Extensions, HeaderMap};

use super::error::ApiError;
use super::extract::bearer;
use super::AppState;
use crate::store::{secrets_equal, sha256_hex, ApiKey, ApiScope};

pub use super::key_uses::LAST_USED_INTERVAL;

/// A request the web layer found to come from an admin's live console session (with a valid
/// CSRF token when it changes state). Holds the account name.
#[derive(Debug, Clone)]
pub struct ConsoleAdmin(pub String);

/// Who called.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A key of the configuration (`api_key` or `agent_key`), with its one scope.
    Configured(ApiScope),
    /// A stored key.
    Key(ApiKey),
    /// An admin's console session (the account name).
    Console(String),
}

impl Caller {
    /// What rate limits count this caller by.
    pub fn limit_key(&self) -> String {
        match self {
            Caller::Configured(scope) => format!("config:{scope}"),
            Caller::Key(key) => format!("key:{}", key.id),
            Caller::Console(name) => format!("console:{name}"),
        }
    }

    /// For logs and the audit trail: `key:NAME`, `config:SCOPE`, or the account name.
    pub fn actor(&self) -> String {
        match self {
            Caller::Configured(scope) => format!("config:{scope}"),
            Caller::Key(key) => format!("key:{}", key.name),
            Caller::Console(name) => name.clone(),
        }
    }
}

/// The caller, if the request's bearer key has `scope` (see the module docs).
pub async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: ApiScope,
) -> Result<Caller, ApiError> {
    let given = bearer(headers)?;
    let digest = sha256_hex(given);
    let configured = [
        (state.config.api_key.as_deref(), ApiScope::Classify),
        (state.config.agent_key.as_deref(), ApiScope::Agent),
    ];
    let mut known = false;
    for (key, key_scope) in configured {
        if key.is_some_and(|k| secrets_equal(&sha256_hex(k), &digest)) {
            if key_scope == scope {
                return Ok(Caller::Configured(scope));
            }
            known = true;
        }
    }
    if known {
        return Err(no_scope(scope));
    }
    let key = state
        .store
        .api_key_by_secret(given)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown API key".into()))?;
    if !key.is_live() {
        return Err(ApiError::Unauthorized(
            "this API key has been revoked".into(),
        ));
    }
    if !key.allows(scope) {
        return Err(no_scope(scope));
    }
    if state.key_uses.due(&key.id) {
        let interval = chrono::Duration::from_std(LAST_USED_INTERVAL).unwrap_or_default();
        if let Err(e) = state.store.touch_api_key(&key.id, interval).await {
            tracing::warn!(error = %e, key = %key.id, "could not record the key's use");
        }
    }
    Ok(Caller::Key(key))
}

/// An admin: the console session the web layer vouched for, or a key with the admin scope.
pub async fn authorize_admin(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> Result<Caller, ApiError> {
    if let Some(ConsoleAdmin(name)) = extensions.get::<ConsoleAdmin>() {
        return Ok(Caller::Console(name.clone()));
    }
    authorize(state, headers, ApiScope::Admin).await
}

fn no_scope(scope: ApiScope) -> ApiError {
    ApiError::Forbidden(format!("this key does not have the {scope} scope"))
}
