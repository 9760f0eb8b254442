//! The records of people's accounts and console sessions, and what makes an account name valid
//! (the account methods of `Store` are in `account.rs`).
use chrono::{DateTime, Utc};

use super::error::StoreError;
use crate::domain::AccountRole;

/// At most this many bytes in an account name.
pub const MAX_ACCOUNT_NAME_LEN: usize = 64;

/// A person's account.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// The login name, unique; also the agent id tickets and messages carry.
    pub name: String,
    pub display_name: String,
    pub role: AccountRole,
    /// argon2id, PHC string.
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// What creating an account takes.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub name: &'a str,
    pub display_name: &'a str,
    pub role: AccountRole,
    pub password_hash: &'a str,
}

/// A console login session as the store keeps it (the console's tower-sessions `SessionStore`
/// decides what `data` holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// SHA-256 (hex) of the session id the cookie carries.
    pub id_sha256: String,
    /// The logged-in account, if any: its sessions end when it is disabled or its password changes.
    pub account_name: Option<String>,
    /// The session's record, JSON.
    pub data: String,
    pub expires_at: DateTime<Utc>,
}

/// A name is 1–64 characters of ASCII letters, digits, `.`, `_` and `-`.
pub fn check_account_name(name: &str) -> Result<(), StoreError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ACCOUNT_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "account name {name:?} must be 1 to {MAX_ACCOUNT_NAME_LEN} ASCII letters, digits, '.', '_' or '-'"
        )))
    }
}
