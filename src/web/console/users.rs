//! Account management for admins (`/agent/api/users…`): list, add, disable or enable, reset a
//! password. Every endpoint needs the admin role; changing a password or disabling an account
//! ends its sessions (the store does both in one transaction).
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::password::{hash_password, PasswordError};
use super::session::Session;
use super::state::ConsoleState;
use crate::api::extract::ApiJson;
use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::store::{Account, NewAccount, StoreError};

/// An account as admins see it (never the hash).
#[derive(Debug, Serialize)]
pub struct AccountView {
    pub name: String,
    pub display_name: String,
    pub role: AccountRole,
    pub disabled: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            name: a.name,
            display_name: a.display_name,
            role: a.role,
            disabled: a.disabled,
            created_at: a.created_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AccountList {
    pub users: Vec<AccountView>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: AccountRole,
    pub display_name: Option<String>,
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    pub password: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Disabled {
    pub disabled: bool,
}

fn password_problem(e: PasswordError) -> ApiError {
    match e {
        PasswordError::TooShort => ApiError::Unprocessable(e.to_string()),
        PasswordError::Hash(_) => ApiError::Internal(e.to_string()),
    }
}

async fn hashed(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing failed: {e}")))?
        .map_err(password_problem)
}

fn unknown(name: &str) -> ApiError {
    ApiError::NotFound(format!("no account named {name:?}"))
}

pub async fn list(
    State(state): State<ConsoleState>,
    session: Session,
) -> Result<Json<AccountList>, ApiError> {
    session.require(AccountRole::Admin)?;
    let users = state.app.store.accounts().await?;
    Ok(Json(AccountList {
        users: users.into_iter().map(AccountView::from).collect(),
    }))
}

pub async fn add(
    State(state): State<ConsoleState>,
    session: Session,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<Json<AccountView>, ApiError> {
    session.require(AccountRole::Admin)?;
    let hash = hashed(body.password).await?;
    let display_name = body.display_name.unwrap_or_else(|| body.name.clone());
    let account = state
        .app
        .store
        .create_account(NewAccount {
            name: &body.name,
            display_name: &display_name,
            role: body.role,
            password_hash: &hash,
        })
        .await
        .map_err(|e| match e {
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::Unprocessable(m),
            e => e.into(),
        })?;
    tracing::info!(admin = %session.account.name, account = %account.name, "account added");
    Ok(Json(account.into()))
}

pub async fn set_disabled(
    State(state): State<ConsoleState>,
    session: Session,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<Disabled>,
) -> Result<Json<AccountView>, ApiError> {
    session.require(AccountRole::Admin)?;
    if body.disabled && name == session.account.name {
        return Err(ApiError::Conflict(
            "you cannot disable your own account".into(),
        ));
    }
    let account = state
        .app
        .store
        .set_account_disabled(&name, body.disabled)
        .await?
        .ok_or_else(|| unknown(&name))?;
    tracing::info!(admin = %session.account.name, account = %name, disabled = body.disabled, "account changed");
    Ok(Json(account.into()))
}

pub async fn set_password(
    State(state): State<ConsoleState>,
    session: Session,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> Result<Json<AccountView>, ApiError> {
    session.require(AccountRole::Admin)?;
    let hash = hashed(body.password).await?;
    let account = state
        .app
        .store
        .set_account_password(&name, &hash)
        .await?
        .ok_or_else(|| unknown(&name))?;
    tracing::info!(admin = %session.account.name, account = %name, "password reset");
    Ok(Json(account.into()))
}
