//! The console's sessions on tower-sessions: [`StoreSessions`], its `SessionStore` over our
//! [`Store`] (SQLite or PostgreSQL, so every replica sees every session and a revocation at
//! once), and [`layer`], the session middleware with the console's cookie.
//!
//! A record is kept under the SHA-256 of its id (the cookie's value), with its account as a column
//! (so disabling an account or changing its password deletes its sessions) and an expiry that
//! slides with use but never passes the login's absolute limit.
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use time::OffsetDateTime;
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};
use tower_sessions::SessionManagerLayer;

use super::session::{idle_expiry, Login, ABSOLUTE, LOGIN_KEY};
use crate::config::Config;
use crate::store::{sha256_hex, Store, StoreError, StoredSession};

/// The session cookie's name (`__Host-` prefix when Secure: bound to this host and path `/`).
pub const COOKIE: &str = "madoguchi_console";
pub const SECURE_COOKIE: &str = "__Host-madoguchi_console";

/// How often `create` picks a new id when the random one is taken (never, in practice).
const ID_TRIES: usize = 4;

/// tower-sessions' `SessionStore` over our [`Store`].
#[derive(Clone)]
pub struct StoreSessions {
    store: Store,
}

impl std::fmt::Debug for StoreSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreSessions")
    }
}

impl StoreSessions {
    pub fn new(store: Store) -> Self {
        StoreSessions { store }
    }
}

/// The session middleware: HttpOnly, SameSite=Strict, path `/`, Secure with a `__Host-` name when
/// `secure_cookies`; 12 h idle expiry, slid by every request of a logged-in person (the extractor
/// marks the session; requests that never look at it cost no query). The absolute limit is kept
/// by the store and checked by the [`super::Session`] extractor.
pub fn layer(config: &Config, store: Store) -> SessionManagerLayer<StoreSessions> {
    let secure = config.secure_cookies;
    SessionManagerLayer::new(StoreSessions::new(store))
        .with_name(if secure { SECURE_COOKIE } else { COOKIE })
        .with_secure(secure)
        .with_http_only(true)
        .with_same_site(SameSite::Strict)
        .with_path("/")
        .with_expiry(idle_expiry())
}

fn backend(e: StoreError) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn to_chrono(at: OffsetDateTime) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), at.nanosecond()).unwrap_or(DateTime::UNIX_EPOCH)
}

fn to_time(at: DateTime<Utc>) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(at.timestamp()).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// The row for a record: its login's account, and an expiry capped by the login's absolute limit.
fn stored(record: &Record) -> session_store::Result<StoredSession> {
    let login: Option<Login> = record
        .data
        .get(LOGIN_KEY)
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    let mut expires_at = to_chrono(record.expiry_date);
    if let Some(login) = &login {
        expires_at = expires_at.min(login.at + ABSOLUTE);
    }
    let data = serde_json::to_string(&record.data)
        .map_err(|e| session_store::Error::Encode(e.to_string()))?;
    Ok(StoredSession {
        id_sha256: sha256_hex(&record.id.to_string()),
        account_name: login.map(|l| l.account),
        data,
        expires_at,
    })
}

#[async_trait]
impl SessionStore for StoreSessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        for _ in 0..ID_TRIES {
            if self
                .store
                .insert_web_session(&stored(record)?)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            record.id = Id::default();
        }
        Err(session_store::Error::Backend(
            "no free session id after several tries".into(),
        ))
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        // A session deleted meanwhile (logout, revocation) is not brought back.
        self.store
            .update_web_session(&stored(record)?)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(row) = self
            .store
            .web_session(&sha256_hex(&id.to_string()))
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_str(&row.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date: to_time(row.expires_at),
        }))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.store
            .delete_web_session(&sha256_hex(&id.to_string()))
            .await
            .map_err(backend)
    }
}
