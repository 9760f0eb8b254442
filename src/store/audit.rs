//! The audit log: who trained, published, rolled back or edited what, and when. Append-only.
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::check::{self, now};
use super::dialect::on;
use super::error::StoreError;
use super::studio_model::AuditEntry;
use super::{sql, Store};

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    actor: String,
    action: String,
    subject: String,
    detail: String,
    created_at: DateTime<Utc>,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            id: row.id,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            // Written by `record_audit` from a Value, so it parses; text survives if not.
            detail: serde_json::from_str(&row.detail).unwrap_or(Value::String(row.detail)),
            created_at: row.created_at,
        }
    }
}

/// Longest page of [`Store::audit_log`].
const MAX_AUDIT_PAGE: u32 = 1000;

impl Store {
    /// Appends one entry to the audit log.
    pub async fn record_audit(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        detail: Value,
    ) -> Result<AuditEntry, StoreError> {
        check::check_code(actor, "actor")?;
        check::check_code(action, "action")?;
        check::check_no_nul(Some(subject), "subject")?;
        check::check_json(Some(&detail), "detail")?;
        let detail = detail.to_string();
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: AuditRow = sqlx::query_as(sql::INSERT_AUDIT)
                .bind(actor)
                .bind(action)
                .bind(subject)
                .bind(detail)
                .bind(D::ts(now()))
                .fetch_one(c)
                .await?;
            Ok(row.into())
        })
    }

    /// The newest `limit` entries (at most 1000), newest first; with `before`, only entries with a
    /// smaller id (the next page).
    pub async fn audit_log(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_AUDIT_PAGE));
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<AuditRow> = sqlx::query_as(sql::AUDIT_LOG)
                .bind(before)
                .bind(limit)
                .fetch_all(c)
                .await?;
            Ok(rows.into_iter().map(AuditEntry::from).collect())
        })
    }
}
