//! Online backup of a SQLite database: `VACUUM INTO` writes a consistent, compacted copy of the
//! database as of one read transaction into a new file, while the service keeps serving (WAL:
//! writers are not blocked). The copy is a complete database: `serve --database sqlite://COPY`
//! runs on it as it is. PostgreSQL databases are backed up with `pg_dump` (see the README).
use std::path::Path;

use super::dialect::ByDialect;
use super::error::StoreError;
use super::privacy_model::PG_DUMP_HINT;
use super::{sql, Store};

impl Store {
    /// Copies the SQLite database into `path`, which must not exist yet. `Invalid` for a
    /// PostgreSQL store, an existing `path` or a path that is not UTF-8.
    pub async fn backup_into(&self, path: &Path) -> Result<(), StoreError> {
        let ByDialect::Sqlite(db) = &self.pool else {
            return Err(StoreError::Invalid(format!(
                "this is a PostgreSQL database: {PG_DUMP_HINT}"
            )));
        };
        if path.exists() {
            return Err(StoreError::Invalid(format!(
                "{} already exists; a backup never overwrites a file",
                path.display()
            )));
        }
        let target = path.to_str().ok_or_else(|| {
            StoreError::Invalid(format!("{} is not a UTF-8 path", path.display()))
        })?;
        sqlx::query(sql::BACKUP_INTO)
            .bind(target)
            .execute(&db.pool)
            .await?;
        Ok(())
    }
}
