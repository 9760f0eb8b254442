//! People's accounts (agents, leads, admins) and their console sessions. The store keeps only
//! what it is given: password hashes (hashing is the console's job) and sessions under the
//! SHA-256 of their ids, so a copy of the database opens no session (what a session holds is the
//! console's business: see `web::console::session_store`).
use chrono::{DateTime, Utc};

use super::account_model::{check_account_name, Account, NewAccount, StoredSession};
use super::check::{self, now};
use super::dialect::on;
use super::error::StoreError;
use super::{sql, Store};
use crate::domain::AccountRole;

#[derive(sqlx::FromRow)]
struct AccountRow {
    name: String,
    display_name: String,
    role: String,
    password_hash: String,
    disabled: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> Result<Self, StoreError> {
        let role = AccountRole::parse(&row.role).ok_or_else(|| {
            StoreError::Invalid(format!(
                "account {:?} has unknown role {:?}",
                row.name, row.role
            ))
        })?;
        Ok(Account {
            name: row.name,
            display_name: row.display_name,
            role,
            password_hash: row.password_hash,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

fn convert(row: Option<AccountRow>) -> Result<Option<Account>, StoreError> {
    row.map(Account::try_from).transpose()
}

impl Store {
    /// Creates an account; `Conflict` when the name is taken.
    pub async fn create_account(&self, new: NewAccount<'_>) -> Result<Account, StoreError> {
        check_account_name(new.name)?;
        check::check_text(new.display_name, "display name")?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: AccountRow = sqlx::query_as(sql::INSERT_ACCOUNT)
                .bind(new.name)
                .bind(new.display_name.trim())
                .bind(new.role.as_str())
                .bind(new.password_hash)
                .bind(false)
                .bind(D::ts(now()))
                .fetch_one(c)
                .await
                .map_err(|e| StoreError::from_write(e, &format!("account {:?} exists", new.name)))?;
            Account::try_from(row)
        })
    }

    pub async fn account(&self, name: &str) -> Result<Option<Account>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<AccountRow> = sqlx::query_as(sql::ACCOUNT)
                .bind(name)
                .fetch_optional(c)
                .await?;
            convert(row)
        })
    }

    /// Every account, by name.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<AccountRow> = sqlx::query_as(sql::ACCOUNTS).fetch_all(c).await?;
            rows.into_iter().map(Account::try_from).collect()
        })
    }

    pub async fn account_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.conn().await?;
        let n: i64 = on!(&mut conn, D, c => {
            sqlx::query_scalar(sql::ACCOUNT_COUNT).fetch_one(c).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Disables (or re-enables) an account; disabling ends its sessions in the same
    /// transaction. None for an unknown name.
    pub async fn set_account_disabled(
        &self,
        name: &str,
        disabled: bool,
    ) -> Result<Option<Account>, StoreError> {
        self.update_account(
            name,
            sql::SET_ACCOUNT_DISABLED,
            AccountChange::Disabled(disabled),
        )
        .await
    }

    /// Replaces an account's password hash and ends its sessions. None for an unknown name.
    pub async fn set_account_password(
        &self,
        name: &str,
        password_hash: &str,
    ) -> Result<Option<Account>, StoreError> {
        self.update_account(
            name,
            sql::SET_ACCOUNT_PASSWORD,
            AccountChange::Password(password_hash),
        )
        .await
    }

    async fn update_account(
        &self,
        name: &str,
        statement: &str,
        change: AccountChange<'_>,
    ) -> Result<Option<Account>, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let account = on!(&mut tx, D, c => {
            let query = sqlx::query_as(statement).bind(name);
            let query = match change {
                AccountChange::Disabled(disabled) => query.bind(disabled),
                AccountChange::Password(hash) => query.bind(hash.to_string()),
            };
            let row: Option<AccountRow> = query.fetch_optional(&mut *c).await?;
            let account = convert(row)?;
            let ends_sessions = !matches!(change, AccountChange::Disabled(false));
            if account.is_some() && ends_sessions {
                sqlx::query(sql::DELETE_ACCOUNT_SESSIONS)
                    .bind(name)
                    .execute(&mut *c)
                    .await?;
            }
            account
        });
        tx.commit().await?;
        Ok(account)
    }

    /// Stores a new console session; `false` (and nothing stored) when its id is taken.
    pub async fn insert_web_session(&self, session: &StoredSession) -> Result<bool, StoreError> {
        self.write_web_session(sql::INSERT_WEB_SESSION, session)
            .await
    }

    /// Saves a session that still exists; `false` when it is gone (logged out or revoked), which
    /// then stays gone.
    pub async fn update_web_session(&self, session: &StoredSession) -> Result<bool, StoreError> {
        self.write_web_session(sql::UPDATE_WEB_SESSION, session)
            .await
    }

    async fn write_web_session(
        &self,
        statement: &str,
        session: &StoredSession,
    ) -> Result<bool, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let done = sqlx::query(statement)
                .bind(&session.id_sha256)
                .bind(session.account_name.as_deref())
                .bind(&session.data)
                .bind(D::ts(session.expires_at))
                .execute(c)
                .await
                .map_err(|e| StoreError::from_write(e, "the session could not be saved"))?;
            Ok(done.rows_affected() == 1)
        })
    }

    /// The live (unexpired) session with this id hash.
    pub async fn web_session(&self, id_sha256: &str) -> Result<Option<StoredSession>, StoreError> {
        let mut conn = self.pool.conn().await?;
        let found: Option<(Option<String>, String, DateTime<Utc>)> = on!(&mut conn, D, c => {
            sqlx::query_as(sql::WEB_SESSION)
                .bind(id_sha256)
                .bind(D::ts(now()))
                .fetch_optional(c)
                .await?
        });
        Ok(found.map(|(account_name, data, expires_at)| StoredSession {
            id_sha256: id_sha256.to_string(),
            account_name,
            data,
            expires_at,
        }))
    }

    /// Ends one session (logout).
    pub async fn delete_web_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            sqlx::query(sql::DELETE_WEB_SESSION).bind(id_sha256).execute(c).await?;
        });
        Ok(())
    }

    /// Forgets expired sessions; returns how many.
    pub async fn delete_expired_web_sessions(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let done = sqlx::query(sql::DELETE_EXPIRED_SESSIONS)
                .bind(D::ts(now()))
                .execute(c)
                .await?;
            Ok(done.rows_affected())
        })
    }
}

#[derive(Clone, Copy)]
enum AccountChange<'a> {
    Disabled(bool),
    Password(&'a str),
}
