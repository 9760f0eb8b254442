//! "Try it" (issue 9 §2): what the bot would do with a message — the intent, the calibrated
//! confidence and the alternatives, the action, the reply it would send at the start of a fresh
//! conversation (nothing is stored), and the nearest training examples (why it decided so).
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::edit_error::EditError;
use super::intents::load_all;
use super::workspace::{similarity, Studio};
use crate::conversation::Conversations;
use crate::dialogue::{CustomerMetadata, DialogueState, QuickReply, TurnInput};
use crate::domain::Locale;
use crate::nlu::model::Alternative;

/// How many neighbours to show.
const NEIGHBOURS: usize = 5;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    pub text: String,
    /// The customer's language (default: the catalog's first).
    pub locale: Option<String>,
}

/// A training example close to the message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Neighbour {
    pub text: String,
    /// null: out of scope.
    pub intent: Option<String>,
    pub locale: String,
    pub similarity: f32,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TryResult {
    pub text: String,
    pub intent: Option<String>,
    /// Calibrated probability of the intent.
    pub confidence: f32,
    /// The classifier's decision: `answer`, `clarify`, `handoff`.
    pub action: String,
    /// Why: `confident`, `ambiguous`, `low_confidence`, `out_of_scope`, `always_handoff`.
    pub reason: String,
    #[schema(value_type = Vec<Object>)]
    pub alternatives: Vec<Alternative>,
    /// What the dialogue does on a fresh conversation (`answer`, `clarify`, `ask_slot`, …).
    pub turn: String,
    /// The reply the bot would send.
    pub reply: Option<String>,
    #[schema(value_type = Vec<Object>)]
    pub quick_replies: Vec<QuickReply>,
    /// Set when the bot would hand off.
    pub handoff_reason: Option<String>,
    /// Nearest training examples, most similar first (empty when the model cannot embed).
    pub neighbours: Vec<Neighbour>,
}

impl Studio {
    pub async fn try_it(
        &self,
        conversations: &Conversations,
        req: TryRequest,
    ) -> Result<TryResult, EditError> {
        let locale = match req.locale.as_deref() {
            Some(code) => Locale::parse(code).map_err(EditError::Invalid)?,
            None => conversations
                .locales()
                .first()
                .cloned()
                .ok_or_else(|| EditError::Internal("the catalog has no locale".into()))?,
        };
        if !conversations.locales().contains(&locale) {
            return Err(EditError::Invalid(format!(
                "the catalog has no locale {locale}"
            )));
        }
        let classified = conversations
            .classify(vec![req.text.clone()])
            .await
            .map_err(|e| EditError::Invalid(e.to_string()))?;
        let c = classified
            .into_iter()
            .next()
            .ok_or_else(|| EditError::Internal("no classification".into()))?;
        let mut state = DialogueState::default();
        let turn = conversations.dialogue().turn(
            &mut state,
            TurnInput {
                text: &req.text,
                classification: &c,
                locale: Some(&locale),
                customer: &CustomerMetadata::default(),
                now: Utc::now(),
                sentences: &[],
            },
        );
        let neighbours = self.neighbours(conversations, &req.text, &locale).await;
        Ok(TryResult {
            text: req.text,
            intent: c.intent.map(|i| i.to_string()),
            confidence: c.confidence,
            action: c.action.as_str().to_string(),
            reason: c.reason.as_str().to_string(),
            alternatives: c.alternatives,
            turn: turn.kind.as_str().to_string(),
            reply: turn.reply,
            quick_replies: turn.quick_replies,
            handoff_reason: turn.handoff.map(|h| h.reason.as_str().to_string()),
            neighbours,
        })
    }

    /// The training examples of `locale` nearest to `text` (empty, and logged, when they cannot
    /// be embedded).
    async fn neighbours(
        &self,
        conversations: &Conversations,
        text: &str,
        locale: &Locale,
    ) -> Vec<Neighbour> {
        match self.nearest_examples(conversations, text, locale).await {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(error = %e, "try it: no neighbours");
                Vec::new()
            }
        }
    }

    async fn nearest_examples(
        &self,
        conversations: &Conversations,
        text: &str,
        locale: &Locale,
    ) -> Result<Vec<Neighbour>, EditError> {
        let (_, mut data, _) = load_all(self.workspace())?;
        data.examples.retain(|u| &u.locale == locale);
        let mut texts: Vec<String> = data.examples.iter().map(|u| u.text.clone()).collect();
        texts.push(text.to_string());
        let vectors = self.embed(conversations.nlu(), &texts).await?;
        let (query, examples) = vectors
            .split_last()
            .ok_or_else(|| EditError::Internal("no query vector".into()))?;
        let mut scored: Vec<(f32, usize)> = examples
            .iter()
            .enumerate()
            .map(|(i, v)| (similarity(query, v), i))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        Ok(scored
            .into_iter()
            .take(NEIGHBOURS)
            .map(|(s, i)| {
                let u = &data.examples[i];
                Neighbour {
                    text: u.text.clone(),
                    intent: u.intent.as_ref().map(|n| n.to_string()),
                    locale: u.locale.to_string(),
                    similarity: (s * 10_000.0).round() / 10_000.0,
                }
            })
            .collect())
    }
}
