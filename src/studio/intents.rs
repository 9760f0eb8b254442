//! Intents and templates (issue 9 §2): browse the intents with their example counts per locale and
//! the current model's figures; check, preview and save an edited intent.
//!
//! An edit is checked with the checks of `madoguchi validate` (`catalog::check_intent`) and by
//! building the dialogue engine with it (templates compile, variables are declared), and written to
//! `intents/<name>.yaml`. Edits to templates, variables, follow-ups or the description apply to
//! the running bot once the catalog reloads (no retrain); a changed handoff setting or threshold is
//! part of the trained model, so it needs a retrain.
use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::edit_error::EditError;
use super::workspace::{Studio, Workspace};
use crate::catalog::{
    check_intent, write_intent, Catalog, HandoffMode, Intent, Problem, TrainingSet,
};
use crate::conversation::Conversations;
use crate::dialogue::{Dialogue, DialogueConfig};
use crate::domain::IntentName;

/// A new intent, created from the inbox.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntentDraft {
    pub name: String,
    pub description: String,
    #[serde(default)]
    #[schema(value_type = String, example = "auto")]
    pub handoff: HandoffMode,
    /// First templates, per locale.
    #[serde(default)]
    pub templates: BTreeMap<String, Vec<String>>,
}

impl IntentDraft {
    pub fn name(&self) -> Result<IntentName, EditError> {
        IntentName::try_from(self.name.clone()).map_err(EditError::Invalid)
    }

    pub fn into_intent(self, intents_dir: &std::path::Path) -> Result<Intent, EditError> {
        let name = self.name()?;
        Ok(Intent {
            source: intents_dir.join(format!("{name}.yaml")),
            name,
            description: self.description.trim().to_string(),
            handoff: self.handoff,
            answered_when: BTreeMap::new(),
            threshold: None,
            variables: BTreeMap::new(),
            follow_up: BTreeMap::new(),
            templates: self
                .templates
                .into_iter()
                .map(|(l, list)| {
                    (
                        l,
                        list.into_iter().filter(|t| !t.trim().is_empty()).collect(),
                    )
                })
                .collect(),
        })
    }
}

/// Refuses texts over the limits of [`crate::conversation::fields`] (naming the field).
fn check_sizes(intent: &Intent) -> Result<(), EditError> {
    crate::conversation::fields::check_intent(intent).map_err(|e| EditError::Invalid(e.to_string()))
}

/// Refuses a new intent whose name is taken or whose file would not validate.
pub fn check_new_intent(catalog: &Catalog, draft: &IntentDraft) -> Result<(), EditError> {
    let name = draft.name()?;
    if catalog.get(name.as_str()).is_some() {
        return Err(EditError::Conflict(format!("intent {name} already exists")));
    }
    let intent = draft.clone().into_intent(std::path::Path::new("intents"))?;
    check_sizes(&intent)?;
    let problems = check_intent(&intent, &catalog.locales);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(EditError::Rejected(problems))
    }
}

/// One intent in the list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntentSummary {
    pub name: String,
    pub description: String,
    #[schema(value_type = String)]
    pub handoff: HandoffMode,
    pub threshold: Option<f32>,
    /// Training examples per locale.
    pub examples: BTreeMap<String, usize>,
    /// Template variations per locale.
    pub templates: BTreeMap<String, usize>,
    /// The current model's figures for this intent, when its manifest has them.
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<serde_json::Value>,
}

/// The intents, the locales and the current model.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntentList {
    pub intents: Vec<IntentSummary>,
    pub locales: Vec<String>,
    /// Fewer examples than this per locale fails validation.
    pub min_examples: usize,
    /// Out-of-scope examples per locale.
    pub out_of_scope: BTreeMap<String, usize>,
    /// The current model's manifest summary (version, created_at, thresholds, metrics).
    #[schema(value_type = Option<Object>)]
    pub model: Option<serde_json::Value>,
    /// What `madoguchi validate` would say now (empty when valid).
    pub problems: Vec<String>,
}

/// One intent, for the editor.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntentDetail {
    /// As in `intents/<name>.yaml`.
    #[schema(value_type = Object)]
    pub intent: Intent,
    /// Training examples per locale (file order).
    pub examples: BTreeMap<String, Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metrics: Option<serde_json::Value>,
}

/// The result of checking an edit.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckResult {
    pub problems: Vec<String>,
}

/// What a save did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SaveReceipt {
    pub path: String,
    /// `at_once` (templates, variables, follow-ups, description) or `after_retrain`.
    pub applies: String,
    pub retrain_needed: bool,
    /// The fields that changed.
    pub changed: Vec<String>,
}

/// A preview request: the intent as being edited, sample values for its variables.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct PreviewRequest {
    #[schema(value_type = Object)]
    pub intent: Intent,
    pub locale: String,
    #[serde(default)]
    pub samples: BTreeMap<String, String>,
}

/// Each template of the locale, rendered (or why not).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    pub rendered: Vec<RenderedTemplate>,
    /// The sample values used (given, else built-in examples).
    pub samples: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RenderedTemplate {
    pub text: Option<String>,
    pub error: Option<String>,
}

impl Studio {
    /// Every intent with its counts, and the current model.
    pub fn intents(&self) -> Result<IntentList, EditError> {
        let ws = self.workspace();
        let (catalog, data, mut problems) = load_all(ws)?;
        let manifest = current_manifest(ws);
        let counts = data.counts();
        let count_map = |name: Option<&IntentName>| {
            catalog
                .locales
                .iter()
                .map(|l| {
                    let n = counts
                        .get(&(name.cloned(), l.clone()))
                        .copied()
                        .unwrap_or(0);
                    (l.to_string(), n)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let intents = catalog
            .intents
            .iter()
            .map(|i| IntentSummary {
                name: i.name.to_string(),
                description: i.description.clone(),
                handoff: i.handoff,
                threshold: i.threshold,
                examples: count_map(Some(&i.name)),
                templates: i
                    .templates
                    .iter()
                    .map(|(l, t)| (l.clone(), t.len()))
                    .collect(),
                metrics: intent_metrics(manifest.as_ref(), i.name.as_str()),
            })
            .collect();
        problems.sort();
        Ok(IntentList {
            intents,
            locales: catalog.locales.iter().map(|l| l.to_string()).collect(),
            min_examples: catalog.min_examples,
            out_of_scope: count_map(None),
            model: manifest.map(model_summary),
            problems,
        })
    }

    /// One intent with its examples.
    pub fn intent(&self, name: &str) -> Result<IntentDetail, EditError> {
        let ws = self.workspace();
        let (catalog, data, _) = load_all(ws)?;
        let intent = catalog
            .get(name)
            .cloned()
            .ok_or_else(|| EditError::NotFound(format!("no intent {name:?}")))?;
        let mut examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for u in data
            .examples
            .iter()
            .filter(|u| u.intent.as_ref() == Some(&intent.name))
        {
            examples
                .entry(u.locale.to_string())
                .or_default()
                .push(u.text.clone());
        }
        Ok(IntentDetail {
            metrics: intent_metrics(current_manifest(ws).as_ref(), name),
            intent,
            examples,
        })
    }

    /// The problems an edited intent would have (empty: it can be saved).
    pub fn check_intent_edit(&self, name: &str, edited: &Intent) -> Result<CheckResult, EditError> {
        let ws = self.workspace();
        let mut problems = Vec::new();
        let catalog = Catalog::load(&ws.intents, &mut problems)?;
        Ok(CheckResult {
            problems: edit_problems(ws, &catalog, name, edited)
                .iter()
                .map(|p| p.message.clone())
                .collect(),
        })
    }

    /// Saves an edited intent to `intents/<name>.yaml` (refused with every problem when invalid).
    pub async fn save_intent(
        &self,
        conversations: &Conversations,
        actor: &str,
        name: &str,
        edited: Intent,
    ) -> Result<SaveReceipt, EditError> {
        check_sizes(&edited)?;
        let _files = self.lock_files().await;
        let ws = self.workspace();
        let mut problems = Vec::new();
        let catalog = Catalog::load(&ws.intents, &mut problems)?;
        let old = catalog
            .get(name)
            .cloned()
            .ok_or_else(|| EditError::NotFound(format!("no intent {name:?}")))?;
        let problems = edit_problems(ws, &catalog, name, &edited);
        if !problems.is_empty() {
            return Err(EditError::Rejected(problems));
        }
        let changed = changed_fields(&old, &edited);
        let path = write_intent(&ws.intents, &edited)?;
        let detail = serde_json::json!({ "changed": changed });
        conversations
            .store()
            .record_audit(actor, "intent.edit", name, detail)
            .await?;
        let retrain_needed = changed.iter().any(|f| f == "handoff" || f == "threshold");
        // Templates, descriptions and variables apply to this replica at once; what the model
        // learns waits for a retrain (the catalog reloads with the next published version).
        if !retrain_needed {
            conversations.reload_catalog().await?;
        }
        Ok(SaveReceipt {
            path: path.display().to_string(),
            applies: if retrain_needed {
                "after_retrain"
            } else {
                "at_once"
            }
            .to_string(),
            retrain_needed,
            changed,
        })
    }
}

/// Renders each template of `req.locale` with sample values, as the bot would.
pub fn preview(req: &PreviewRequest) -> Preview {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let samples: BTreeMap<String, String> = req
        .intent
        .variables
        .keys()
        .map(|v| {
            let value = req
                .samples
                .get(v)
                .cloned()
                .unwrap_or_else(|| sample_value(v));
            (v.clone(), value)
        })
        .collect();
    let rendered = req
        .intent
        .templates
        .get(&req.locale)
        .map(|list| list.iter().map(|t| render(&env, t, &samples)).collect())
        .unwrap_or_default();
    Preview { rendered, samples }
}

fn render(
    env: &Environment<'_>,
    source: &str,
    samples: &BTreeMap<String, String>,
) -> RenderedTemplate {
    match env.render_str(source, samples) {
        Ok(text) => RenderedTemplate {
            text: Some(text.trim().to_string()),
            error: None,
        },
        Err(e) => RenderedTemplate {
            text: None,
            error: Some(e.to_string()),
        },
    }
}

/// A made-up value for a variable, so a preview reads naturally.
fn sample_value(variable: &str) -> String {
    match variable {
        "order_id" => "MD12345678",
        "email" => "taro@example.com",
        "phone" => "090-1234-5678",
        "tracking_number" => "123456789012",
        "date" => "11月4日",
        "customer_name" => "Yamada",
        _ => "…",
    }
    .to_string()
}

/// The catalog and training data as they are (problems listed, not fatal).
pub(crate) fn load_all(ws: &Workspace) -> Result<(Catalog, TrainingSet, Vec<String>), EditError> {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let catalog = Catalog::load(&ws.intents, &mut problems)?;
    let data = TrainingSet::load(&ws.training_data, &catalog, &mut problems, &mut warnings)?;
    Ok((
        catalog,
        data,
        problems.iter().map(|p| p.to_string()).collect(),
    ))
}

/// `madoguchi validate`'s checks of the edited intent, then the dialogue engine built with it.
fn edit_problems(ws: &Workspace, catalog: &Catalog, name: &str, edited: &Intent) -> Vec<Problem> {
    let mut edited = edited.clone();
    edited.source = ws.intents.join(format!("{name}.yaml"));
    if edited.name.as_str() != name {
        return vec![Problem::new(
            &edited.source,
            None,
            format!(
                "name {:?} differs from the intent edited ({name}); renaming is not supported",
                edited.name.as_str()
            ),
        )];
    }
    let problems = check_intent(&edited, &catalog.locales);
    if !problems.is_empty() {
        return problems;
    }
    let mut with_edit = catalog.clone();
    if let Some(slot) = with_edit
        .intents
        .iter_mut()
        .find(|i| i.name.as_str() == name)
    {
        *slot = edited;
    }
    let built = DialogueConfig::load(&ws.intents).and_then(|c| Dialogue::new(&with_edit, c));
    match built {
        Ok(_) => Vec::new(),
        Err(crate::dialogue::DialogueError::Invalid(problems)) => problems,
        Err(e) => vec![Problem::new(&ws.intents, None, e.to_string())],
    }
}

fn changed_fields(old: &Intent, new: &Intent) -> Vec<String> {
    let mut changed = Vec::new();
    let mut note = |field: &str, differs: bool| {
        if differs {
            changed.push(field.to_string());
        }
    };
    note("description", old.description != new.description);
    note("handoff", old.handoff != new.handoff);
    note("threshold", old.threshold != new.threshold);
    note("variables", old.variables != new.variables);
    note("follow_up", old.follow_up != new.follow_up);
    note("templates", old.templates != new.templates);
    changed
}

/// The manifest of `models/current`, as JSON (None when there is no model).
fn current_manifest(ws: &Workspace) -> Option<serde_json::Value> {
    let version = std::fs::read_to_string(ws.models.join("current")).ok()?;
    let path = ws.models.join(version.trim()).join("manifest.json");
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

fn model_summary(manifest: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "version": manifest.get("version"),
        "created_at": manifest.get("created_at"),
        "thresholds": manifest.get("thresholds"),
        "metrics": manifest.get("metrics"),
    })
}

/// The per-intent figures a manifest carries (`metrics.per_intent.<name>`), if any.
fn intent_metrics(manifest: Option<&serde_json::Value>, name: &str) -> Option<serde_json::Value> {
    manifest?
        .get("metrics")?
        .get("per_intent")?
        .get(name)
        .cloned()
}
