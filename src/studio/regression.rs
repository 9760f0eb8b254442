//! The regression set as the studio uses it: pin a message with what the bot must do, and check
//! a candidate model against every pin next to the published model — which pins it fixes,
//! breaks, or answers differently.
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::models::ModelService;
use super::models_error::ModelError;
use crate::nlu::loader::ModelChoice;
use crate::nlu::Classification;
use crate::store::{NewRegressionCase, RegressionCase};

/// The name a pin uses for "no intent" (the catalog's out-of-scope name).
pub const OUT_OF_SCOPE: &str = crate::eval::metrics::OUT_OF_SCOPE_NAME;

/// What a model did with a pinned message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Outcome {
    /// `out_of_scope` when the model gave no intent.
    pub intent: String,
    /// `answer`, `clarify` or `handoff`.
    pub action: String,
    pub confidence: f32,
    /// Whether it is what the pin expects.
    pub passes: bool,
}

/// How the candidate does on a pin compared with the published model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaseStatus {
    /// Passes under both (and decides the same).
    Pass,
    /// Fails under both (and decides the same).
    Fail,
    /// Failed under the published model, passes under the candidate.
    Fixed,
    /// Passed under the published model, fails under the candidate.
    Broken,
    /// Passes (or fails) under both, but the decision changed.
    Changed,
}

/// One pin under both models.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseResult {
    pub id: Uuid,
    pub text: String,
    pub expected_intent: Option<String>,
    pub expected_action: Option<String>,
    /// None when nothing is published.
    pub published: Option<Outcome>,
    pub candidate: Outcome,
    pub status: CaseStatus,
}

/// What a lead pins (the API body).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPin {
    pub text: String,
    /// An intent name, or `out_of_scope`.
    pub expected_intent: Option<String>,
    /// `answer`, `clarify` or `handoff`.
    pub expected_action: Option<String>,
}

fn outcome(case: &RegressionCase, c: &Classification) -> Outcome {
    let intent = c
        .intent
        .as_ref()
        .map_or(OUT_OF_SCOPE.to_string(), |i| i.as_str().to_string());
    let action = c.action.as_str().to_string();
    let passes = case.expected_intent.as_ref().is_none_or(|e| *e == intent)
        && case.expected_action.as_ref().is_none_or(|e| *e == action);
    Outcome {
        intent,
        action,
        confidence: c.confidence,
        passes,
    }
}

fn status(published: Option<&Outcome>, candidate: &Outcome) -> CaseStatus {
    match published {
        Some(p) if p.passes && !candidate.passes => CaseStatus::Broken,
        Some(p) if !p.passes && candidate.passes => CaseStatus::Fixed,
        Some(p)
            if (p.intent.as_str(), p.action.as_str())
                != (candidate.intent.as_str(), candidate.action.as_str()) =>
        {
            CaseStatus::Changed
        }
        _ if candidate.passes => CaseStatus::Pass,
        _ => CaseStatus::Fail,
    }
}

impl ModelService {
    /// Pins a message; the intent must exist in the catalog (or be `out_of_scope`).
    pub async fn pin(&self, actor: &str, pin: NewPin) -> Result<RegressionCase, ModelError> {
        if let Some(intent) = &pin.expected_intent {
            if intent != OUT_OF_SCOPE && !self.catalog_has(intent).await? {
                return Err(ModelError::Invalid(format!(
                    "expected_intent {intent:?} is not an intent of the catalog"
                )));
            }
        }
        let case = self
            .conversations()
            .store()
            .add_regression_case(NewRegressionCase {
                text: &pin.text,
                expected_intent: pin.expected_intent.as_deref(),
                expected_action: pin.expected_action.as_deref(),
                created_by: actor,
            })
            .await?;
        Ok(case)
    }

    /// Whether the catalog on disk defines `intent`.
    async fn catalog_has(&self, intent: &str) -> Result<bool, ModelError> {
        let dir = self.paths().intents.clone();
        let intent = intent.to_string();
        tokio::task::spawn_blocking(move || {
            let mut problems = Vec::new();
            let catalog = crate::catalog::Catalog::load(&dir, &mut problems)
                .map_err(|e| ModelError::Internal(format!("cannot load the catalog: {e}")))?;
            Ok(catalog.intents.iter().any(|i| i.name.as_str() == intent))
        })
        .await
        .map_err(ModelError::internal)?
    }

    pub async fn pins(&self) -> Result<Vec<RegressionCase>, ModelError> {
        Ok(self.conversations().store().regression_cases().await?)
    }

    pub async fn unpin(&self, id: Uuid) -> Result<(), ModelError> {
        Ok(self
            .conversations()
            .store()
            .delete_regression_case(id)
            .await?)
    }

    /// Every pin under `candidate` and under the published version.
    pub async fn check_pins(&self, candidate: &str) -> Result<Vec<CaseResult>, ModelError> {
        let cases = self.pins().await?;
        let published = self
            .conversations()
            .store()
            .published_model()
            .await?
            .map(|p| super::publishing::choice_of(&p));
        let texts: Vec<String> = cases.iter().map(|c| c.text.clone()).collect();
        let loader = self.loader().clone();
        let cand = ModelChoice {
            version: candidate.to_string(),
            threshold: None,
        };
        let (cand_out, pub_out) = tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let classify = |choice: &ModelChoice| -> Result<Vec<Classification>, ModelError> {
                if refs.is_empty() {
                    return Ok(Vec::new());
                }
                let classifier = loader
                    .load(choice)
                    .map_err(|e| ModelError::unloadable(&choice.version, e))?;
                classifier.classify(&refs).map_err(ModelError::internal)
            };
            let published = match &published {
                // A published version that no longer loads is shown as absent.
                Some(p) => classify(p).ok(),
                None => None,
            };
            Ok::<_, ModelError>((classify(&cand)?, published))
        })
        .await
        .map_err(ModelError::internal)??;
        Ok(cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                let candidate = outcome(case, &cand_out[i]);
                let published = pub_out.as_ref().map(|p| outcome(case, &p[i]));
                CaseResult {
                    id: case.id,
                    text: case.text.clone(),
                    expected_intent: case.expected_intent.clone(),
                    expected_action: case.expected_action.clone(),
                    status: status(published.as_ref(), &candidate),
                    published,
                    candidate,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(intent: &str, action: &str, passes: bool) -> Outcome {
        Outcome {
            intent: intent.into(),
            action: action.into(),
            confidence: 0.9,
            passes,
        }
    }

    #[test]
    fn statuses_say_what_the_candidate_changes() {
        let (a, b) = (o("x", "answer", true), o("y", "answer", false));
        assert_eq!(status(Some(&a), &b), CaseStatus::Broken);
        assert_eq!(status(Some(&b), &a), CaseStatus::Fixed);
        assert_eq!(status(Some(&a), &a), CaseStatus::Pass);
        assert_eq!(status(Some(&b), &b), CaseStatus::Fail);
        assert_eq!(
            status(Some(&o("z", "clarify", false)), &b),
            CaseStatus::Changed
        );
        assert_eq!(status(None, &a), CaseStatus::Pass);
    }
}
