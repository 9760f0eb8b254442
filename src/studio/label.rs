//! What a lead does with inbox messages (one, or a whole group at once): assign them to an intent,
//! mark them out of scope, ignore them for good, or create a new intent for them — and undo.
//!
//! Labelled messages are masked (personal data → `{order_id}`-style placeholders, unless the lead
//! said not to) and appended to `training-data/<locale>/<intent>.yaml` (or `out_of_scope.yaml`),
//! one line each, so the files stay the one source of truth for the CLI and the studio. A text the
//! training data already has under the same label is not written twice; one labelled differently
//! is refused (it would make `madoguchi validate` fail). The decisions are recorded first (so a
//! message is decided once), then the files are written; a failed write takes the decisions back.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::edit_error::EditError;
use super::intents::{check_new_intent, IntentDraft};
use super::mask::mask_personal_data;
use super::workspace::Studio;
use crate::catalog::{
    append_examples, dedup_key, one_line, remove_examples, training_file, write_intent, Catalog,
    TrainingSet,
};
use crate::conversation::Conversations;
use crate::domain::{InboxDecisionKind, IntentName, Locale};
use crate::store::{InboxMessage, NewInboxDecision};

/// At most this many messages per action.
pub const MAX_MESSAGES: usize = 500;

/// What to do with the messages.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum InboxAction {
    /// Add them to an existing intent's training data.
    Label { intent: String },
    /// Add them to the out-of-scope training data.
    OutOfScope,
    /// Drop them from the inbox for good (nothing is written).
    Ignore,
    /// Create the intent (`intents/<name>.yaml`), then label them with it.
    NewIntent { intent: IntentDraft },
}

impl InboxAction {
    /// What the messages became, for the audit log.
    fn audit_subject(&self) -> String {
        match self {
            InboxAction::Label { intent } => format!("label {intent}"),
            InboxAction::OutOfScope => "out of scope".into(),
            InboxAction::Ignore => "ignore".into(),
            InboxAction::NewIntent { intent } => format!("new intent {}", intent.name),
        }
    }
}

/// One action on inbox messages.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct DecideRequest {
    pub message_ids: Vec<Uuid>,
    #[serde(flatten)]
    pub action: InboxAction,
    /// Mask personal data before writing (default true).
    #[serde(default = "yes")]
    pub mask: bool,
    /// The locale to file messages under when their conversation has none.
    pub locale: Option<String>,
}

fn yes() -> bool {
    true
}

/// One training file the action appended to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WrittenFile {
    pub path: String,
    pub examples: Vec<String>,
}

/// What an action did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DecideReceipt {
    /// Undo with `POST /studio/api/inbox/undo/{batch_id}`.
    pub batch_id: Uuid,
    pub decided: usize,
    pub written: Vec<WrittenFile>,
    /// Texts the training data already had under the same label (not written again).
    pub already_present: Vec<String>,
    /// The intent file created (new intent).
    pub created_intent: Option<String>,
    /// True when the training data changed: the model learns it at the next training.
    pub retrain_needed: bool,
}

/// What an undo did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UndoReceipt {
    pub batch_id: Uuid,
    /// Messages back in the inbox.
    pub restored: usize,
    /// Lines taken out of the training data.
    pub removed_examples: usize,
    pub retrain_needed: bool,
}

/// The messages to write, per training file.
type Plan = BTreeMap<(Locale, Option<IntentName>), Vec<String>>;

impl Studio {
    /// Applies one action to inbox messages, as `decided_by`.
    pub async fn decide(
        &self,
        conversations: &Conversations,
        decided_by: &str,
        req: DecideRequest,
    ) -> Result<DecideReceipt, EditError> {
        if req.message_ids.is_empty() || req.message_ids.len() > MAX_MESSAGES {
            return Err(EditError::Invalid(format!(
                "message_ids must name 1 to {MAX_MESSAGES} messages"
            )));
        }
        let _files = self.lock_files().await;
        let ws = self.workspace().clone();
        let mut problems = Vec::new();
        let catalog = Catalog::load(&ws.intents, &mut problems)?;
        let label = self.label_for(&catalog, &req.action)?;
        let messages = self.messages(conversations, &req.message_ids).await?;
        let fallback = parse_locale(req.locale.as_deref())?;
        let mut decisions = Vec::new();
        let mut plan = Plan::new();
        for m in &messages {
            let (decision, entry) =
                plan_one(conversations, &catalog, m, &req, label.as_ref(), &fallback)?;
            if let Some((key, example)) = entry {
                plan.entry(key).or_default().push(example);
            }
            decisions.push(decision);
        }
        let already_present = drop_known(&ws.training_data, &catalog, &mut plan)?;
        keep_written_examples(&mut decisions, &plan);
        let detail = serde_json::json!({ "messages": decisions.len(), "mask": req.mask });
        conversations
            .store()
            .record_audit(
                decided_by,
                "inbox.decide",
                &req.action.audit_subject(),
                detail,
            )
            .await?;
        let batch_id = conversations
            .store()
            .record_inbox_decisions(decided_by, &decisions)
            .await?;
        let created_intent = match &req.action {
            InboxAction::NewIntent { intent } => {
                let draft = intent.clone().into_intent(&ws.intents)?;
                Some(write_intent(&ws.intents, &draft).map(|p| p.display().to_string()))
            }
            _ => None,
        }
        .transpose();
        let written = match created_intent {
            Ok(created) => write_plan(&ws.training_data, &plan).map(|w| (w, created)),
            Err(e) => Err(e),
        };
        match written {
            Ok((written, created_intent)) => Ok(DecideReceipt {
                batch_id,
                decided: decisions.len(),
                retrain_needed: !written.is_empty() || created_intent.is_some(),
                written,
                already_present,
                created_intent,
            }),
            Err(e) => {
                conversations.store().undo_inbox_batch(batch_id).await?;
                Err(e.into())
            }
        }
    }

    /// Undoes one action: its messages return to the inbox and its lines leave the training data.
    pub async fn undo(
        &self,
        conversations: &Conversations,
        undone_by: &str,
        batch_id: Uuid,
    ) -> Result<UndoReceipt, EditError> {
        let _files = self.lock_files().await;
        let decisions = conversations.store().undo_inbox_batch(batch_id).await?;
        if decisions.is_empty() {
            return Err(EditError::NotFound(format!(
                "no inbox action {batch_id} (already undone?)"
            )));
        }
        let detail = serde_json::json!({ "messages": decisions.len() });
        conversations
            .store()
            .record_audit(undone_by, "inbox.undo", &batch_id.to_string(), detail)
            .await?;
        let mut by_file: BTreeMap<std::path::PathBuf, Vec<String>> = BTreeMap::new();
        for d in &decisions {
            let (Some(example), Some(locale)) = (&d.example, &d.locale) else {
                continue;
            };
            let Ok(locale) = Locale::parse(locale) else {
                continue;
            };
            let intent = d.intent.clone().and_then(|i| IntentName::try_from(i).ok());
            let path = training_file(&self.workspace().training_data, &locale, intent.as_ref());
            by_file.entry(path).or_default().push(example.clone());
        }
        let mut removed = 0;
        for (path, texts) in &by_file {
            removed += remove_examples(path, texts)?;
        }
        Ok(UndoReceipt {
            batch_id,
            restored: decisions.len(),
            removed_examples: removed,
            retrain_needed: removed > 0,
        })
    }

    /// The training label of an action (`Some(None)` = out of scope; None = nothing written).
    fn label_for(
        &self,
        catalog: &Catalog,
        action: &InboxAction,
    ) -> Result<Option<Option<IntentName>>, EditError> {
        Ok(match action {
            InboxAction::Label { intent } => {
                let known = catalog.get(intent).map(|i| i.name.clone());
                Some(Some(known.ok_or_else(|| {
                    EditError::Invalid(format!("there is no intent {intent:?}"))
                })?))
            }
            InboxAction::OutOfScope => Some(None),
            InboxAction::Ignore => None,
            InboxAction::NewIntent { intent } => {
                check_new_intent(catalog, intent)?;
                Some(Some(intent.name()?))
            }
        })
    }

    async fn messages(
        &self,
        conversations: &Conversations,
        ids: &[Uuid],
    ) -> Result<Vec<InboxMessage>, EditError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let m = conversations.store().inbox_message(*id).await?;
            out.push(m.ok_or_else(|| EditError::NotFound(format!("no customer message {id}")))?);
        }
        Ok(out)
    }
}

type PlanEntry = ((Locale, Option<IntentName>), String);

/// The decision for one message and, when it is labelled, the line to write.
fn plan_one(
    conversations: &Conversations,
    catalog: &Catalog,
    m: &InboxMessage,
    req: &DecideRequest,
    label: Option<&Option<IntentName>>,
    fallback: &Option<Locale>,
) -> Result<(NewInboxDecision, Option<PlanEntry>), EditError> {
    let kind = match label {
        None => InboxDecisionKind::Ignored,
        Some(None) => InboxDecisionKind::OutOfScope,
        Some(Some(_)) => InboxDecisionKind::Labelled,
    };
    let Some(label) = label else {
        let decision = NewInboxDecision {
            message_id: m.message_id,
            kind,
            intent: None,
            locale: m.locale.clone(),
            example: None,
        };
        return Ok((decision, None));
    };
    let locale = message_locale(catalog, m, fallback)?;
    let text = if req.mask {
        mask_personal_data(conversations.dialogue().extractor(), &m.text)
    } else {
        m.text.clone()
    };
    let example = one_line(&text);
    let decision = NewInboxDecision {
        message_id: m.message_id,
        kind,
        intent: label.as_ref().map(|n| n.to_string()),
        locale: Some(locale.to_string()),
        example: Some(example.clone()),
    };
    Ok((decision, Some(((locale, label.clone()), example))))
}

fn message_locale(
    catalog: &Catalog,
    m: &InboxMessage,
    fallback: &Option<Locale>,
) -> Result<Locale, EditError> {
    let locale = match (&m.locale, fallback) {
        (Some(l), _) => parse_locale(Some(l))?,
        (None, Some(f)) => Some(f.clone()),
        (None, None) => None,
    };
    match locale {
        Some(l) if catalog.has_locale(&l) => Ok(l),
        Some(l) => Err(EditError::Invalid(format!(
            "message {} is in locale {l}, which the catalog does not have",
            m.message_id
        ))),
        None => Err(EditError::Invalid(format!(
            "message {}'s conversation has no locale: say which with `locale`",
            m.message_id
        ))),
    }
}

fn parse_locale(code: Option<&str>) -> Result<Option<Locale>, EditError> {
    code.map(|c| Locale::parse(c).map_err(EditError::Invalid))
        .transpose()
}

/// Takes out of `plan` the texts the training data already has under the same label (and
/// repeats within the plan); refuses texts it has under another label. Returns those taken out.
fn drop_known(
    training_dir: &std::path::Path,
    catalog: &Catalog,
    plan: &mut Plan,
) -> Result<Vec<String>, EditError> {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let data = TrainingSet::load(training_dir, catalog, &mut problems, &mut warnings)?;
    let mut known: BTreeMap<(String, Locale), (Option<IntentName>, String)> = BTreeMap::new();
    for u in &data.examples {
        known
            .entry((dedup_key(&u.text), u.locale.clone()))
            .or_insert((u.intent.clone(), u.location()));
    }
    let mut dropped = Vec::new();
    for ((locale, label), texts) in plan.iter_mut() {
        let mut kept = Vec::new();
        for text in texts.drain(..) {
            let key = (dedup_key(&text), locale.clone());
            match known.get(&key) {
                Some((l, _)) if l == label => dropped.push(text),
                Some((l, at)) => {
                    let other = l.as_ref().map_or("out_of_scope", IntentName::as_str);
                    return Err(EditError::Conflict(format!(
                        "{text:?} is already labelled {other} at {at}"
                    )));
                }
                None => {
                    known.insert(key, (label.clone(), "this action".into()));
                    kept.push(text);
                }
            }
        }
        *texts = kept;
    }
    plan.retain(|_, texts| !texts.is_empty());
    Ok(dropped)
}

/// Each line the plan writes stays on exactly one decision (undo takes out one line per
/// decision); decisions whose text was not written carry none.
fn keep_written_examples(decisions: &mut [NewInboxDecision], plan: &Plan) {
    let mut to_write: BTreeMap<(String, Option<String>, String), usize> = BTreeMap::new();
    for ((locale, label), texts) in plan {
        for text in texts {
            let key = (
                locale.to_string(),
                label.as_ref().map(|l| l.to_string()),
                text.clone(),
            );
            *to_write.entry(key).or_default() += 1;
        }
    }
    for d in decisions.iter_mut() {
        let (Some(locale), Some(example)) = (&d.locale, &d.example) else {
            continue;
        };
        let key = (locale.clone(), d.intent.clone(), example.clone());
        match to_write.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => d.example = None,
        }
    }
}

fn write_plan(
    training_dir: &std::path::Path,
    plan: &Plan,
) -> Result<Vec<WrittenFile>, crate::catalog::CatalogError> {
    let mut written = Vec::new();
    for ((locale, label), texts) in plan {
        let path = append_examples(training_dir, locale, label.as_ref(), texts)?;
        written.push(WrittenFile {
            path: path.display().to_string(),
            examples: texts.clone(),
        });
    }
    Ok(written)
}
