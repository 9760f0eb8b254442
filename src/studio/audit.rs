//! The audit log as the studio shows it (the store's `audit_log`, newest first).
use super::models::ModelService;
use super::models_error::ModelError;
use crate::store::AuditEntry;

impl ModelService {
    /// The newest `limit` entries, or those before the entry with id `before`.
    pub async fn audit(
        &self,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditEntry>, ModelError> {
        Ok(self
            .conversations()
            .store()
            .audit_log(limit, before)
            .await?)
    }
}
