//! Publishing as the database sees it, shared by the running service and the CLI
//! (`madoguchi model publish|rollback --database URL`): check that a version's files load,
//! record the publish or rollback with an audit entry, and tell every replica
//! ([`MODELS_CHANNEL`] on PostgreSQL; replicas also poll, so SQLite works too).
use std::path::Path;

use serde_json::json;

use super::models_error::ModelError;
use crate::nlu::loader::ModelChoice;
use crate::nlu::versions::check_version_name;
use crate::nlu::TrainedModel;
use crate::store::{NewPublication, Publication, PublishAction, Store};

/// The PostgreSQL channel a publish is announced on (the payload is the version).
pub const MODELS_CHANNEL: &str = "madoguchi_models";

/// The choice a publication stands for.
pub fn choice_of(p: &Publication) -> ModelChoice {
    ModelChoice {
        version: p.version.clone(),
        threshold: p.threshold.map(|t| t as f32),
    }
}

/// Loads `models_dir/<version>/` (head, index, manifest; not the encoder) to prove it is whole.
pub async fn check_version_files(models_dir: &Path, version: &str) -> Result<(), ModelError> {
    check_version_name(version).map_err(|e| ModelError::Invalid(e.to_string()))?;
    let dir = models_dir.join(version);
    let v = version.to_string();
    tokio::task::spawn_blocking(move || TrainedModel::load(&dir).map(|_| ()))
        .await
        .map_err(ModelError::internal)?
        .map_err(|e| ModelError::unloadable(&v, e))
}

/// Records that `choice` is published (by `actor`, as a publish or a rollback), writes the audit
/// entry and announces it to every replica. The caller has checked that the version loads.
pub async fn record_publish(
    store: &Store,
    choice: &ModelChoice,
    action: PublishAction,
    actor: &str,
) -> Result<Publication, ModelError> {
    let publication = store
        .record_publication(NewPublication {
            version: &choice.version,
            threshold: choice.threshold.map(f64::from),
            action,
            actor,
        })
        .await?;
    let detail = json!({ "threshold": choice.threshold });
    let audit_action = format!("model.{}", action.as_str());
    if let Err(e) = store
        .record_audit(actor, &audit_action, &choice.version, detail)
        .await
    {
        tracing::error!(error = %e, "cannot write the audit entry of a publish");
    }
    // Replicas also poll the published version, so a lost notification only delays them.
    if let Err(e) = store.notify(MODELS_CHANNEL, &choice.version).await {
        tracing::warn!(error = %e, "cannot NOTIFY the replicas of a publish; they will poll");
    }
    Ok(publication)
}

/// What `serve` starts with: the published version, or — when the database has none yet — the
/// last trained one (`models/current`), which is then recorded as published by `serve` (so a fresh
/// clone runs). None when there is neither.
pub async fn published_or_current(
    store: &Store,
    models_dir: &Path,
) -> Result<Option<ModelChoice>, ModelError> {
    if let Some(p) = store.published_model().await? {
        return Ok(Some(choice_of(&p)));
    }
    let Some(version) = crate::nlu::versions::current_version(models_dir) else {
        return Ok(None);
    };
    let choice = ModelChoice {
        version,
        threshold: None,
    };
    record_publish(store, &choice, PublishAction::Publish, "serve").await?;
    Ok(Some(choice))
}

/// The version a rollback goes to. History is replayed as a stack: a publish pushes its version,
/// a rollback pops back to the version it went to. Without `to`, the target is the version below
/// the top (the previously published one); with `to`, the newest earlier publication of that
/// version.
pub fn rollback_target(
    history: &[Publication],
    to: Option<&str>,
) -> Result<ModelChoice, ModelError> {
    let stack = replay(history);
    let Some(top) = stack.last() else {
        return Err(ModelError::Conflict(
            "no model has been published yet".into(),
        ));
    };
    match to {
        None => stack
            .iter()
            .rev()
            .find(|c| c.version != top.version)
            .cloned()
            .ok_or_else(|| {
                ModelError::Conflict(format!(
                    "nothing to roll back to: {} is the only version ever published",
                    top.version
                ))
            }),
        Some(version) => history
            .iter()
            .rev()
            .find(|p| p.version == version)
            .map(choice_of)
            .ok_or_else(|| {
                ModelError::NotFound(format!(
                    "model version {version} was never published; publish it instead"
                ))
            }),
    }
}

fn replay(history: &[Publication]) -> Vec<ModelChoice> {
    let mut stack: Vec<ModelChoice> = Vec::new();
    for p in history {
        let choice = choice_of(p);
        match p.action {
            PublishAction::Publish => stack.push(choice),
            PublishAction::Rollback => {
                while stack.last().is_some_and(|c| c.version != choice.version) {
                    stack.pop();
                }
                if let Some(top) = stack.last_mut() {
                    *top = choice;
                } else {
                    stack.push(choice);
                }
            }
        }
    }
    stack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, version: &str, action: PublishAction) -> Publication {
        Publication {
            id,
            version: version.into(),
            threshold: None,
            action,
            actor: "t".into(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_rollback_walks_back_the_publish_history() {
        use PublishAction::{Publish, Rollback};
        let mut h = vec![
            event(1, "a", Publish),
            event(2, "b", Publish),
            event(3, "c", Publish),
        ];
        assert_eq!(rollback_target(&h, None).expect("target").version, "b");
        h.push(event(4, "b", Rollback));
        assert_eq!(rollback_target(&h, None).expect("target").version, "a");
        h.push(event(5, "a", Rollback));
        assert!(matches!(
            rollback_target(&h, None),
            Err(ModelError::Conflict(_))
        ));
        assert_eq!(rollback_target(&h, Some("c")).expect("to c").version, "c");
        assert!(matches!(
            rollback_target(&h, Some("zzz")),
            Err(ModelError::NotFound(_))
        ));
        assert!(matches!(
            rollback_target(&[], None),
            Err(ModelError::Conflict(_))
        ));
    }
}
