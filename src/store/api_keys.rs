//! Named API keys with scopes (`classify`, `agent`, `admin`). A key is 256 random bits shown once
//! at creation; the store keeps only its SHA-256 (a high-entropy key needs no slow hash), so a
//! copy of the database opens nothing. Keys are revoked, not deleted, so the listing shows them;
//! `last_used_at` is stamped at most once per interval (the caller's), on every replica together.
use chrono::{DateTime, Utc};
use rand::RngCore;

use super::api_key_model::{
    check_api_key_name, secrets_equal, ApiKey, ApiScope, CreatedApiKey, API_KEY_PREFIX,
};
use super::check::now;
use super::dialect::on;
use super::error::StoreError;
use super::{sha256_hex, sql, Store};

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: String,
    name: String,
    scopes: String,
    key_sha256: String,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> Result<Self, StoreError> {
        let scopes = ApiScope::parse_list(&row.scopes)
            .map_err(|e| StoreError::corrupt(format!("api key {} has bad scopes: {e}", row.id)))?;
        Ok(ApiKey {
            id: row.id,
            name: row.name,
            scopes,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

impl Store {
    /// Creates a key named `name` with `scopes`; `Conflict` when a live key has the name.
    pub async fn create_api_key(
        &self,
        name: &str,
        scopes: &[ApiScope],
    ) -> Result<CreatedApiKey, StoreError> {
        check_api_key_name(name)?;
        let scopes: Vec<&str> = {
            let mut s = scopes.to_vec();
            s.sort();
            s.dedup();
            s.into_iter().map(ApiScope::as_str).collect()
        };
        if scopes.is_empty() {
            return Err(StoreError::Invalid("a key needs at least one scope".into()));
        }
        let secret = format!("{API_KEY_PREFIX}{}", random_hex(32));
        let mut conn = self.pool.conn().await?;
        let row: ApiKeyRow = on!(&mut conn, D, c => {
            sqlx::query_as(sql::INSERT_API_KEY)
                .bind(random_hex(8))
                .bind(name)
                .bind(scopes.join(","))
                .bind(sha256_hex(&secret))
                .bind(D::ts(now()))
                .fetch_one(c)
                .await
                .map_err(|e| StoreError::from_write(e, &format!("a live key named {name:?} exists")))?
        });
        Ok(CreatedApiKey {
            key: ApiKey::try_from(row)?,
            secret,
        })
    }

    /// Every key, live and revoked, oldest first.
    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let mut conn = self.pool.conn().await?;
        let rows: Vec<ApiKeyRow> = on!(&mut conn, D, c => {
            sqlx::query_as(sql::API_KEYS).fetch_all(c).await?
        });
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// The key (live or revoked) whose secret is `secret`, if any. Looked up by its SHA-256 and
    /// then compared in constant time.
    pub async fn api_key_by_secret(&self, secret: &str) -> Result<Option<ApiKey>, StoreError> {
        let digest = sha256_hex(secret);
        let mut conn = self.pool.conn().await?;
        let row: Option<ApiKeyRow> = on!(&mut conn, D, c => {
            sqlx::query_as(sql::API_KEY_BY_SHA256)
                .bind(&digest)
                .fetch_optional(c)
                .await?
        });
        row.filter(|r| secrets_equal(&r.key_sha256, &digest))
            .map(ApiKey::try_from)
            .transpose()
    }

    /// Revokes the live key whose id or name is `id_or_name`; the keys revoked (none when no
    /// live key matches).
    pub async fn revoke_api_key(&self, id_or_name: &str) -> Result<Vec<ApiKey>, StoreError> {
        let mut conn = self.pool.conn().await?;
        let rows: Vec<ApiKeyRow> = on!(&mut conn, D, c => {
            sqlx::query_as(sql::REVOKE_API_KEY)
                .bind(id_or_name)
                .bind(D::ts(now()))
                .fetch_all(c)
                .await?
        });
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// Stamps `last_used_at` unless it was stamped less than `interval` ago; whether it wrote.
    pub async fn touch_api_key(
        &self,
        id: &str,
        interval: chrono::Duration,
    ) -> Result<bool, StoreError> {
        let at = now();
        let mut conn = self.pool.conn().await?;
        let done = on!(&mut conn, D, c => {
            sqlx::query(sql::TOUCH_API_KEY)
                .bind(id)
                .bind(D::ts(at))
                .bind(D::ts(at - interval))
                .execute(c)
                .await?
                .rows_affected()
        });
        Ok(done > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_sorted_without_repeats() {
        let s = ApiScope::parse_list("agent, classify,agent").expect("parse");
        assert_eq!(s, vec![ApiScope::Classify, ApiScope::Agent]);
        assert!(ApiScope::parse_list("").is_err());
        assert!(ApiScope::parse_list("classify,root").is_err());
    }

    #[test]
    fn names_are_checked() {
        assert!(check_api_key_name("ci-bot").is_ok());
        assert!(check_api_key_name("").is_err());
        assert!(check_api_key_name(" x").is_err());
        assert!(check_api_key_name("a\u{7}b").is_err());
        assert!(check_api_key_name(&"n".repeat(65)).is_err());
    }

    #[tokio::test]
    async fn create_find_touch_revoke() {
        let store = Store::connect("sqlite::memory:").await.expect("connect");
        store.migrate().await.expect("migrate");
        let created = store
            .create_api_key("ci", &[ApiScope::Classify])
            .await
            .expect("create");
        assert!(created.secret.starts_with(API_KEY_PREFIX));
        let found = store
            .api_key_by_secret(&created.secret)
            .await
            .expect("find")
            .expect("the key");
        assert_eq!(found.id, created.key.id);
        assert!(store
            .api_key_by_secret("mdk_nope")
            .await
            .expect("find")
            .is_none());
        let minute = chrono::Duration::minutes(1);
        assert!(store.touch_api_key(&found.id, minute).await.expect("touch"));
        assert!(!store.touch_api_key(&found.id, minute).await.expect("touch"));
        let dup = store.create_api_key("ci", &[ApiScope::Agent]).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
        let revoked = store.revoke_api_key("ci").await.expect("revoke");
        assert_eq!(revoked.len(), 1);
        assert!(store.revoke_api_key("ci").await.expect("again").is_empty());
        let again = store
            .create_api_key("ci", &[ApiScope::Agent])
            .await
            .expect("the name is free again");
        assert_ne!(again.key.id, created.key.id);
    }
}
