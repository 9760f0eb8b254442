//! The regression set: messages a lead pinned with what the bot must do with them (an intent,
//! an action, or both). Every candidate model is checked against it before publishing.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::check::{self, now};
use super::dialect::on;
use super::error::StoreError;
use super::studio_model::{NewRegressionCase, RegressionCase};
use super::{sql, Store};

/// Longest pinned message, in characters.
const MAX_CASE_CHARS: usize = 2000;
/// The actions a case may expect (the classifier's `action`).
const ACTIONS: [&str; 3] = ["answer", "clarify", "handoff"];

/// A row of `regression_cases` (id, text, expected intent and action, created by, at).
type CaseRow<Id> = (
    Id,
    String,
    Option<String>,
    Option<String>,
    String,
    DateTime<Utc>,
);

impl Store {
    /// Pins a message.
    pub async fn add_regression_case(
        &self,
        new: NewRegressionCase<'_>,
    ) -> Result<RegressionCase, StoreError> {
        check_case(&new)?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: CaseRow<D::Id> =
                sqlx::query_as(sql::INSERT_REGRESSION_CASE)
                    .bind(D::id(Uuid::new_v4()))
                    .bind(new.text.trim())
                    .bind(new.expected_intent)
                    .bind(new.expected_action)
                    .bind(new.created_by)
                    .bind(D::ts(now()))
                    .fetch_one(c)
                    .await?;
            Ok(case(D::uuid(row.0), row.1, row.2, row.3, row.4, row.5))
        })
    }

    /// Every pinned message, oldest first.
    pub async fn regression_cases(&self) -> Result<Vec<RegressionCase>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<CaseRow<D::Id>> =
                sqlx::query_as(sql::REGRESSION_CASES).fetch_all(c).await?;
            Ok(rows
                .into_iter()
                .map(|r| case(D::uuid(r.0), r.1, r.2, r.3, r.4, r.5))
                .collect())
        })
    }

    /// Unpins a message; NotFound when there is no such case.
    pub async fn delete_regression_case(&self, id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        let deleted = on!(&mut conn, D, c => {
            sqlx::query(sql::DELETE_REGRESSION_CASE)
                .bind(D::id(id))
                .execute(c)
                .await?
                .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::not_found("regression case", id));
        }
        Ok(())
    }
}

fn case(
    id: Uuid,
    text: String,
    expected_intent: Option<String>,
    expected_action: Option<String>,
    created_by: String,
    created_at: DateTime<Utc>,
) -> RegressionCase {
    RegressionCase {
        id,
        text,
        expected_intent,
        expected_action,
        created_by,
        created_at,
    }
}

fn check_case(new: &NewRegressionCase<'_>) -> Result<(), StoreError> {
    check::check_text(new.text, "text")?;
    if new.text.chars().count() > MAX_CASE_CHARS {
        return Err(StoreError::Invalid(format!(
            "text is longer than {MAX_CASE_CHARS} characters"
        )));
    }
    check::check_code(new.created_by, "created_by")?;
    if let Some(intent) = new.expected_intent {
        check::check_code(intent, "expected_intent")?;
    }
    if let Some(action) = new.expected_action {
        if !ACTIONS.contains(&action) {
            return Err(StoreError::Invalid(format!(
                "expected_action {action:?} is not one of answer, clarify, handoff"
            )));
        }
    }
    if new.expected_intent.is_none() && new.expected_action.is_none() {
        return Err(StoreError::Invalid(
            "a pinned message needs an expected intent or action".into(),
        ));
    }
    Ok(())
}
