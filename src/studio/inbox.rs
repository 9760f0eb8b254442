//! The annotation inbox (issue 9 §1): the customer messages the bot did not answer confidently
//! (clarify, low confidence, out of scope, handed off after a miss), the ones whose answer got 👎,
//! and the messages of conversations rated CSAT ≤ 2 — read from the stored turns, filtered, and
//! grouped into near-duplicates by embedding similarity (largest group first).
//!
//! What a lead does with them is in `label` (assign, out of scope, ignore, new intent, undo).
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::edit_error::EditError;
use super::workspace::{similarity, Studio};
use crate::catalog::dedup_key;
use crate::conversation::Conversations;
use crate::domain::InboxReason;
use crate::store::{InboxMessage, InboxScan};

/// A bot message below this confidence counts as a miss.
pub const LOW_CONFIDENCE: f64 = 0.5;
/// Two messages whose embeddings are at least this similar are near-duplicates (default).
pub const DEFAULT_SIMILARITY: f32 = 0.9;
/// At most this many messages are read per listing.
pub const MAX_ITEMS: i64 = 1000;

/// Which inbox messages to show.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct InboxFilter {
    /// From this time (inclusive), RFC 3339.
    pub since: Option<DateTime<Utc>>,
    /// Until this time (exclusive), RFC 3339.
    pub until: Option<DateTime<Utc>>,
    /// The conversation's locale.
    pub locale: Option<String>,
    /// Only messages in the inbox for this reason.
    #[schema(value_type = Option<String>)]
    pub reason: Option<InboxReason>,
    /// The intent the bot predicted (`none` for out of scope).
    pub intent: Option<String>,
    pub min_confidence: Option<f64>,
    pub max_confidence: Option<f64>,
    /// Text search (case-insensitive, width-insensitive).
    pub q: Option<String>,
    /// Similarity for near-duplicates, 0.5–1 (default 0.9).
    pub similarity: Option<f32>,
}

/// One runner-up intent of a classification.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Alternative {
    pub intent: String,
    pub confidence: f64,
}

/// One customer message in the inbox.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxItem {
    pub message_id: Uuid,
    pub conversation_id: Uuid,
    pub seq: i64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub locale: Option<String>,
    /// The intent the bot predicted (null: out of scope).
    pub intent: Option<String>,
    pub confidence: Option<f64>,
    /// What the bot did: `answer`, `clarify`, `handoff`.
    pub action: Option<String>,
    pub alternatives: Vec<Alternative>,
    /// Why it is in the inbox (one or more).
    #[schema(value_type = Vec<String>)]
    pub reasons: Vec<InboxReason>,
}

/// Near-duplicate messages, labelled with one action.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxGroup {
    /// The first (newest) message's id.
    pub id: Uuid,
    pub size: usize,
    /// The intent most of its messages were predicted as (null: out of scope).
    pub predicted_intent: Option<String>,
    pub items: Vec<InboxItem>,
}

/// An inbox listing.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InboxPage {
    /// Largest group first.
    pub groups: Vec<InboxGroup>,
    pub total_items: usize,
    /// `embedding` (near-duplicates by similarity), or `exact_text` when the model could not
    /// embed (not loaded).
    pub grouping: String,
}

impl Studio {
    /// The inbox: undecided missed messages matching `filter`, grouped.
    pub async fn inbox(
        &self,
        conversations: &Conversations,
        filter: &InboxFilter,
    ) -> Result<InboxPage, EditError> {
        let threshold = filter.similarity.unwrap_or(DEFAULT_SIMILARITY);
        if !(0.5..=1.0).contains(&threshold) {
            return Err(EditError::Invalid(format!(
                "similarity {threshold} is outside 0.5..1"
            )));
        }
        let scan = InboxScan {
            since: filter.since,
            until: filter.until,
            low_confidence: LOW_CONFIDENCE,
            limit: MAX_ITEMS,
        };
        let messages = conversations.store().inbox_candidates(&scan).await?;
        let items: Vec<InboxItem> = messages
            .into_iter()
            .map(item)
            .filter(|i| matches(i, filter))
            .collect();
        let total_items = items.len();
        let texts: Vec<String> = items.iter().map(|i| i.text.clone()).collect();
        let (groups, grouping) = match self.embed(conversations.nlu(), &texts).await {
            Ok(vectors) => (group_by_similarity(items, &vectors, threshold), "embedding"),
            Err(e) => {
                tracing::info!(error = %e, "inbox grouped by exact text (cannot embed)");
                (group_by_text(items), "exact_text")
            }
        };
        Ok(InboxPage {
            groups,
            total_items,
            grouping: grouping.to_string(),
        })
    }
}

/// An inbox item from a stored turn, with its reasons.
pub fn item(m: InboxMessage) -> InboxItem {
    let reasons = reasons(&m);
    let alternatives = m
        .alternatives
        .and_then(|v| serde_json::from_value::<Vec<Alternative>>(v).ok())
        .unwrap_or_default();
    InboxItem {
        message_id: m.message_id,
        conversation_id: m.conversation_id,
        seq: m.seq,
        text: m.text,
        created_at: m.created_at,
        locale: m.locale,
        intent: m.intent,
        confidence: m.confidence,
        action: m.action,
        alternatives,
        reasons,
    }
}

fn reasons(m: &InboxMessage) -> Vec<InboxReason> {
    let kind = m.turn_kind.as_deref();
    let mut out = Vec::new();
    if kind == Some("clarify") {
        out.push(InboxReason::Clarify);
    }
    // Out of scope has no intent to be unsure about: its (near-zero) confidence says nothing more.
    let unsure = m.intent.is_some() && m.confidence.is_some_and(|c| c < LOW_CONFIDENCE);
    if kind == Some("rephrase") || unsure {
        out.push(InboxReason::LowConfidence);
    }
    if kind == Some("out_of_scope") {
        out.push(InboxReason::OutOfScope);
    }
    if matches!(
        m.handoff_reason.as_deref(),
        Some("low_confidence" | "out_of_scope")
    ) {
        out.push(InboxReason::HandedOff);
    }
    if m.feedback_helpful == Some(false) {
        out.push(InboxReason::ThumbsDown);
    }
    if m.csat_score.is_some_and(|s| s <= 2) {
        out.push(InboxReason::LowCsat);
    }
    out
}

fn matches(item: &InboxItem, f: &InboxFilter) -> bool {
    let locale_ok = f
        .locale
        .as_deref()
        .is_none_or(|l| item.locale.as_deref() == Some(l));
    let reason_ok = f.reason.is_none_or(|r| item.reasons.contains(&r));
    let intent_ok = f.intent.as_deref().is_none_or(|want| match want {
        "none" => item.intent.is_none(),
        name => item.intent.as_deref() == Some(name),
    });
    let confidence = item.confidence.unwrap_or(0.0);
    let confidence_ok = f.min_confidence.is_none_or(|m| confidence >= m)
        && f.max_confidence.is_none_or(|m| confidence <= m);
    let text_ok =
        f.q.as_deref()
            .map(str::trim)
            .is_none_or(|q| q.is_empty() || dedup_key(&item.text).contains(&dedup_key(q)));
    locale_ok && reason_ok && intent_ok && confidence_ok && text_ok
}

/// Leader clustering: each message joins the most similar group whose first message is at least
/// `threshold` similar (same locale only), else starts one. Largest groups first; ties by recency.
pub fn group_by_similarity(
    items: Vec<InboxItem>,
    vectors: &[Arc<[f32]>],
    threshold: f32,
) -> Vec<InboxGroup> {
    let mut leaders: Vec<(usize, Option<String>)> = Vec::new();
    let mut members: Vec<Vec<InboxItem>> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let best = leaders
            .iter()
            .enumerate()
            .filter(|(_, (_, locale))| *locale == item.locale)
            .map(|(g, (leader, _))| (g, similarity(&vectors[*leader], &vectors[i])))
            .filter(|(_, s)| *s >= threshold)
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((g, _)) => members[g].push(item),
            None => {
                leaders.push((i, item.locale.clone()));
                members.push(vec![item]);
            }
        }
    }
    finish(members)
}

/// Without embeddings: messages that are the same text (ignoring width, case and spaces).
pub fn group_by_text(items: Vec<InboxItem>) -> Vec<InboxGroup> {
    let mut index: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut members: Vec<Vec<InboxItem>> = Vec::new();
    for item in items {
        let key = (dedup_key(&item.text), item.locale.clone());
        match index.get(&key) {
            Some(&g) => members[g].push(item),
            None => {
                index.insert(key, members.len());
                members.push(vec![item]);
            }
        }
    }
    finish(members)
}

fn finish(members: Vec<Vec<InboxItem>>) -> Vec<InboxGroup> {
    let mut groups: Vec<InboxGroup> = members
        .into_iter()
        .filter_map(|items| {
            let first = items.first()?;
            Some(InboxGroup {
                id: first.message_id,
                size: items.len(),
                predicted_intent: most_common_intent(&items),
                items,
            })
        })
        .collect();
    // A stable sort keeps newest-first among groups of one size.
    groups.sort_by_key(|g| std::cmp::Reverse(g.size));
    groups
}

fn most_common_intent(items: &[InboxItem]) -> Option<String> {
    let mut counts: HashMap<Option<&str>, usize> = HashMap::new();
    for i in items {
        *counts.entry(i.intent.as_deref()).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .and_then(|(intent, _)| intent.map(str::to_string))
}
