//! The records of API keys (the key methods of `Store` are in `api_keys.rs`): scopes, what a
//! key's name may be, and the constant-time comparison every secret goes through.
use chrono::{DateTime, Utc};
use serde::Serialize;
use subtle::ConstantTimeEq;

use super::error::StoreError;

/// What every key starts with, so a leaked one is recognisable (secret scanners, logs).
pub const API_KEY_PREFIX: &str = "mdk_";
/// At most this many characters in a key's name.
pub const MAX_API_KEY_NAME_CHARS: usize = 64;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiScope {
    /// `/v1/classify`.
    Classify,
    /// The handoff queue (`/v1/handoffs…`).
    Agent,
    /// Key management (`/v1/admin/keys`) and, when restricted, `/metrics` and `/docs`.
    Admin,
}

impl ApiScope {
    pub const ALL: &'static [ApiScope] = &[ApiScope::Classify, ApiScope::Agent, ApiScope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Classify => "classify",
            ApiScope::Agent => "agent",
            ApiScope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<ApiScope> {
        ApiScope::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == text.trim())
    }

    /// `classify,agent` → the scopes, sorted and without repeats; at least one.
    pub fn parse_list(text: &str) -> Result<Vec<ApiScope>, StoreError> {
        let mut scopes = text
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                ApiScope::parse(s).ok_or_else(|| {
                    StoreError::Invalid(format!(
                        "unknown scope {:?}; use classify, agent or admin",
                        s.trim()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        scopes.sort();
        scopes.dedup();
        if scopes.is_empty() {
            return Err(StoreError::Invalid(
                "a key needs at least one scope: classify, agent or admin".into(),
            ));
        }
        Ok(scopes)
    }
}

impl std::fmt::Display for ApiScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored key (never the key itself, nor its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// 16 hex characters, random; names the key in listings and revocations.
    pub id: String,
    pub name: String,
    pub scopes: Vec<ApiScope>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    pub fn allows(&self, scope: ApiScope) -> bool {
        self.scopes.contains(&scope)
    }

    pub fn is_live(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A key just created: the record and the key itself (shown once, never stored).
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    pub key: ApiKey,
    pub secret: String,
}

/// A key's name: 1–64 characters, no control characters, not blank.
pub fn check_api_key_name(name: &str) -> Result<(), StoreError> {
    let chars = name.chars().count();
    if name.trim().is_empty() || name.trim() != name {
        return Err(StoreError::Invalid(
            "a key's name must not be empty or start or end with spaces".into(),
        ));
    }
    if chars > MAX_API_KEY_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "name is {chars} characters long; the limit is {MAX_API_KEY_NAME_CHARS}"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a key's name must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// Compares two secrets (keys, tokens, signatures) in time that depends only on their lengths.
pub fn secrets_equal(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
