//! Which trained model version every replica serves: a history of publish and rollback events in
//! `model_publications`; the newest row is the published version. Replicas poll
//! [`Store::published_model`] (cheap: one indexed row) and listen for a notification.
use chrono::{DateTime, Utc};

use super::check::{self, now};
use super::dialect::on;
use super::error::StoreError;
use super::studio_model::{NewPublication, Publication, PublishAction};
use super::{sql, Store};

#[derive(sqlx::FromRow)]
struct PublicationRow {
    id: i64,
    version: String,
    threshold: Option<f64>,
    action: String,
    actor: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<PublicationRow> for Publication {
    type Error = StoreError;

    fn try_from(row: PublicationRow) -> Result<Self, StoreError> {
        let action = PublishAction::parse(&row.action).ok_or_else(|| {
            StoreError::Invalid(format!("unknown publish action {:?}", row.action))
        })?;
        Ok(Publication {
            id: row.id,
            version: row.version,
            threshold: row.threshold,
            action,
            actor: row.actor,
            created_at: row.created_at,
        })
    }
}

impl Store {
    /// Records a publish or rollback; the new row is the published version from now on.
    pub async fn record_publication(
        &self,
        new: NewPublication<'_>,
    ) -> Result<Publication, StoreError> {
        check::check_code(new.version, "model version")?;
        check::check_code(new.actor, "actor")?;
        if let Some(t) = new.threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(StoreError::Invalid(format!(
                    "threshold {t} is not between 0 and 1"
                )));
            }
        }
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: PublicationRow = sqlx::query_as(sql::INSERT_PUBLICATION)
                .bind(new.version)
                .bind(new.threshold)
                .bind(new.action.as_str())
                .bind(new.actor)
                .bind(D::ts(now()))
                .fetch_one(c)
                .await?;
            Publication::try_from(row)
        })
    }

    /// The published version (the newest event), or None before anything was published.
    pub async fn published_model(&self) -> Result<Option<Publication>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<PublicationRow> = sqlx::query_as(sql::LATEST_PUBLICATION)
                .fetch_optional(c)
                .await?;
            row.map(Publication::try_from).transpose()
        })
    }

    /// Every publish and rollback event, oldest first.
    pub async fn publications(&self) -> Result<Vec<Publication>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<PublicationRow> = sqlx::query_as(sql::PUBLICATIONS)
                .fetch_all(c)
                .await?;
            rows.into_iter().map(Publication::try_from).collect()
        })
    }
}
