//! The state of a replica's training run, shared by the model service (which holds the slot)
//! and the training code (which fills it): no other studio file is needed here.
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::models_error::ModelError;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// No run since the process started.
    Idle,
    Running,
    Succeeded,
    Failed,
}

/// The state of this replica's training run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TrainingStatus {
    pub state: RunState,
    /// What the run does now (`loading`, `embedding`, `fitting`, `comparing`, `regression`,
    /// `done`).
    pub stage: String,
    /// 0 to 1.
    pub progress: f32,
    pub started_by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The version trained (once saved).
    pub version: Option<String>,
    /// Why the run failed.
    pub error: Option<String>,
    pub seconds: Option<f64>,
}

impl Default for TrainingStatus {
    fn default() -> Self {
        TrainingStatus {
            state: RunState::Idle,
            stage: "idle".into(),
            progress: 0.0,
            started_by: None,
            started_at: None,
            finished_at: None,
            version: None,
            error: None,
            seconds: None,
        }
    }
}

/// Options of a studio training run (the rest are `madoguchi train`'s defaults).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Held-out precision the answer threshold is chosen for (default 0.95).
    pub target_precision: Option<f32>,
}

/// The one training run of this replica.
#[derive(Default)]
pub struct TrainingSlot {
    status: Mutex<TrainingStatus>,
}

impl TrainingSlot {
    pub(super) fn get(&self) -> TrainingStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn update(&self, f: impl FnOnce(&mut TrainingStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub(super) fn stage(&self, stage: &str, progress: f32) {
        self.update(|s| {
            s.stage = stage.into();
            s.progress = progress;
        });
    }

    /// Claims the slot for a new run; Conflict while one runs.
    pub(super) fn claim(&self, actor: &str) -> Result<TrainingStatus, ModelError> {
        let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
        if s.state == RunState::Running {
            return Err(ModelError::Conflict(format!(
                "a training run started by {} is in progress ({})",
                s.started_by.as_deref().unwrap_or("someone"),
                s.stage
            )));
        }
        *s = TrainingStatus {
            state: RunState::Running,
            stage: "loading".into(),
            started_by: Some(actor.to_string()),
            started_at: Some(Utc::now()),
            ..TrainingStatus::default()
        };
        Ok(s.clone())
    }
}
