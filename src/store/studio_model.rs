//! The records of the studio's tables (model publications, the audit log, the regression set),
//! shared by their area files (`model_version.rs`, `audit.rs`, `regression.rs`) and re-exported
//! by the store. No SQL here.
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// How a version came to be published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublishAction {
    Publish,
    Rollback,
}

impl PublishAction {
    pub fn as_str(self) -> &'static str {
        match self {
            PublishAction::Publish => "publish",
            PublishAction::Rollback => "rollback",
        }
    }

    pub fn parse(s: &str) -> Option<PublishAction> {
        match s {
            "publish" => Some(PublishAction::Publish),
            "rollback" => Some(PublishAction::Rollback),
            _ => None,
        }
    }
}

/// One publish or rollback event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Publication {
    pub id: i64,
    /// The model version (`models/<version>/`).
    pub version: String,
    /// The answer threshold chosen at publishing (None: the trained one).
    pub threshold: Option<f64>,
    pub action: PublishAction,
    /// Who published (an account name, `cli`, or `serve` for the first start).
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// What to record.
#[derive(Debug, Clone)]
pub struct NewPublication<'a> {
    pub version: &'a str,
    pub threshold: Option<f64>,
    pub action: PublishAction,
    pub actor: &'a str,
}

/// One audited action.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: i64,
    /// Who: an account name, `cli`, or `serve`.
    pub actor: String,
    /// What, e.g. `model.train`, `model.publish`, `model.rollback`, `intent.edit`.
    pub action: String,
    /// On what, e.g. a model version or an intent name.
    pub subject: String,
    /// Details of the action (a JSON object).
    #[schema(value_type = Object)]
    pub detail: Value,
    pub created_at: DateTime<Utc>,
}

/// One pinned message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RegressionCase {
    pub id: Uuid,
    pub text: String,
    /// The intent the bot must choose (None: any, only the action matters). `out_of_scope` for a
    /// message that must get no intent.
    pub expected_intent: Option<String>,
    /// `answer`, `clarify` or `handoff` (None: any).
    pub expected_action: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// What a lead pins.
#[derive(Debug, Clone)]
pub struct NewRegressionCase<'a> {
    pub text: &'a str,
    pub expected_intent: Option<&'a str>,
    pub expected_action: Option<&'a str>,
    pub created_by: &'a str,
}
