//! One customer turn, the same for the HTTP API and `madoguchi chat`: validate → reserve a place in
//! the classifier queue (429 before anything is written) → store the customer message (durable) →
//! classify → dialogue turn → store the bot turn (one transaction) → the reply.
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::ApiError;
use super::AppState;
use crate::catalog::Locale;
use crate::dialogue::{BotTurn, CustomerMetadata, DialogueState, QuickReply, TurnInput};
use crate::nlu::{Action, Classification};
use crate::store::{
    BotAction, BotTurnRecord, Conversation, ConversationStatus, Handoff, HandoffStatus, NewHandoff,
    StoreError,
};

/// The bot's turn, as the customer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TurnReply {
    /// The bot's message; null while a person has the conversation.
    pub reply: Option<String>,
    /// `answer`, `clarify` or `handoff`.
    #[schema(value_type = String, example = "answer")]
    pub action: Action,
    /// The intent understood (null when out of scope).
    pub intent: Option<String>,
    pub confidence: f32,
    /// Buttons for a clarification; sending `value` chooses it.
    #[schema(value_type = Vec<Object>)]
    pub quick_replies: Vec<QuickReply>,
    /// Set when a person has (or will have) the conversation.
    pub handoff: Option<HandoffInfo>,
    /// Id of the customer's message.
    pub message_id: Uuid,
    /// Id of the bot's message (for feedback); null when the bot stayed silent.
    pub reply_id: Option<Uuid>,
}

/// The ticket a conversation waits on.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HandoffInfo {
    pub ticket_id: Uuid,
    /// `waiting`, `claimed`, …
    pub status: String,
    /// 1-based place in the queue while waiting.
    pub position: Option<u32>,
    pub expected_wait: ExpectedWait,
    /// The summary given to the agent (its `text` is the readable version).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

/// An honest estimate of the wait for a person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ExpectedWait {
    /// Are people answering now (business hours)?
    pub open_now: bool,
    /// When people next answer, if not now (RFC 3339, local time of the business hours).
    pub next_open: Option<String>,
    /// Estimated minutes until a person answers (tickets ahead × minutes per ticket, plus the time
    /// until opening); null when no opening is known.
    pub minutes: Option<u64>,
    /// Tickets waiting in the whole queue.
    pub tickets_waiting: u64,
}

/// Runs one customer turn on `conversation` (already authorized).
#[tracing::instrument(skip_all, fields(conversation_id = %conversation.id))]
pub async fn customer_turn(
    state: &AppState,
    conversation: &Conversation,
    text: &str,
) -> Result<TurnReply, ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::Unprocessable("text must not be empty".into()));
    }
    let chars = text.chars().count();
    if chars > state.config.max_message_chars {
        return Err(ApiError::Unprocessable(format!(
            "text is {chars} characters long; the limit is {}",
            state.config.max_message_chars
        )));
    }
    if text.contains('\0') {
        return Err(ApiError::Unprocessable("text must not contain NUL".into()));
    }
    if conversation.status == ConversationStatus::Resolved {
        return Err(ApiError::Conflict("the conversation is resolved".into()));
    }
    let slot = state.nlu.reserve()?;
    let message = state
        .store
        .append_customer_message(conversation.id, text)
        .await?;
    let classification = slot.classify(text.to_string()).await?;

    // Optimistic concurrency: the turn is computed from the conversation as stored now and
    // stored only if nothing changed it meanwhile (another message of the same customer, an agent
    // claiming or handing back); otherwise it is recomputed from the fresh state. The
    // classification does not depend on the state, so it is reused.
    let mut attempt = 1;
    let (conversation, turn, now, reply_message, ticket) = loop {
        let conversation = state
            .store
            .conversation(conversation.id)
            .await?
            .ok_or_else(|| ApiError::NotFound("conversation not found".into()))?;
        let now = Utc::now();
        let (turn, dstate) = dialogue_turn(state, &conversation, text, &classification, now);
        let mut record = bot_turn_record(&turn, &classification, &dstate, conversation.status)?;
        record.expected_version = Some(conversation.version);
        match state.store.record_bot_turn(conversation.id, record).await {
            Ok((reply_message, ticket)) => break (conversation, turn, now, reply_message, ticket),
            Err(StoreError::Stale { .. }) if attempt < MAX_TURN_ATTEMPTS => {
                metrics::counter!(crate::telemetry::STALE_TURNS).increment(1);
                tracing::debug!(attempt, "conversation changed during the turn; recomputing");
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    };
    let with_human = conversation.status.is_with_human();

    let intent_label = turn.intent.as_deref().unwrap_or("none").to_string();
    metrics::counter!(
        crate::telemetry::TURNS,
        "action" => action_str(turn.action),
        "intent" => intent_label
    )
    .increment(1);

    let handoff = match ticket {
        Some(ticket) => {
            if let Some(req) = &turn.handoff {
                metrics::counter!(crate::telemetry::HANDOFFS, "reason" => req.reason.as_str())
                    .increment(1);
            }
            if let Some(webhook) = &state.webhook {
                webhook.notify(&ticket, &conversation);
            }
            Some(handoff_info(state, &ticket, now).await?)
        }
        None if with_human => match open_ticket(state, conversation.id).await? {
            Some(ticket) => Some(handoff_info(state, &ticket, now).await?),
            None => None,
        },
        None => None,
    };
    Ok(TurnReply {
        reply: turn.reply.clone(),
        action: turn.action,
        intent: turn.intent.as_ref().map(|i| i.to_string()),
        confidence: turn.confidence,
        quick_replies: turn.quick_replies.clone(),
        handoff,
        message_id: message.id,
        reply_id: reply_message.map(|m| m.id),
    })
}

/// How often a turn is recomputed when the conversation keeps changing under it.
const MAX_TURN_ATTEMPTS: u32 = 8;

/// The dialogue's turn on `conversation` as stored, at `now`: the turn and the new dialogue state.
fn dialogue_turn(
    state: &AppState,
    conversation: &Conversation,
    text: &str,
    classification: &Classification,
    now: DateTime<Utc>,
) -> (BotTurn, DialogueState) {
    let mut dstate: DialogueState = serde_json::from_value(conversation.dialogue_state.clone())
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable dialogue state; starting afresh");
            DialogueState::default()
        });
    // The store's status is the truth about who has the conversation.
    if conversation.status.is_with_human() {
        dstate.handed_off = true;
    } else if dstate.handed_off {
        dstate.handed_back();
    }
    let customer: CustomerMetadata = conversation
        .customer
        .as_ref()
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let locale = conversation
        .locale
        .as_deref()
        .and_then(|l| Locale::parse(l).ok());
    let turn = state.dialogue.turn(
        &mut dstate,
        TurnInput {
            text,
            classification,
            locale: locale.as_ref(),
            customer: &customer,
            now,
        },
    );
    (turn, dstate)
}

fn action_str(action: Action) -> &'static str {
    match action {
        Action::Answer => "answer",
        Action::Clarify => "clarify",
        Action::Handoff => "handoff",
    }
}

fn bot_turn_record(
    turn: &BotTurn,
    classification: &Classification,
    dstate: &DialogueState,
    status: ConversationStatus,
) -> Result<BotTurnRecord, ApiError> {
    let json = |v: serde_json::Result<serde_json::Value>| v.map_err(ApiError::internal);
    let handoff = match &turn.handoff {
        Some(req) => Some(NewHandoff {
            reason: req.reason.as_str().to_string(),
            intent: turn.intent.as_ref().map(|i| i.to_string()),
            locale: req.summary.locale.to_string(),
            summary: json(serde_json::to_value(&req.summary))?,
        }),
        None => None,
    };
    let new_status = if handoff.is_some() {
        ConversationStatus::Handoff
    } else if status.is_with_human() {
        status
    } else {
        ConversationStatus::Bot
    };
    let reason = json(serde_json::to_value(turn.kind))?
        .as_str()
        .map(str::to_string);
    Ok(BotTurnRecord {
        reply: turn.reply.clone(),
        intent: turn.intent.as_ref().map(|i| i.to_string()),
        confidence: Some(turn.confidence.clamp(0.0, 1.0)),
        action: match turn.action {
            Action::Answer => BotAction::Answer,
            Action::Clarify => BotAction::Clarify,
            Action::Handoff => BotAction::Handoff,
        },
        reason,
        alternatives: Some(json(serde_json::to_value(&classification.alternatives))?),
        quick_replies: Some(json(serde_json::to_value(&turn.quick_replies))?),
        new_status,
        dialogue_state: json(serde_json::to_value(dstate))?,
        handoff,
        expected_version: None,
    })
}

/// After an agent handed the conversation back: the dialogue state's `handed_back()`, stored.
pub async fn reset_after_hand_back(
    state: &AppState,
    conversation_id: Uuid,
) -> Result<(), ApiError> {
    let Some(conversation) = state.store.conversation(conversation_id).await? else {
        return Err(ApiError::NotFound("conversation not found".into()));
    };
    if conversation.status != ConversationStatus::Bot {
        return Ok(());
    }
    let mut dstate: DialogueState =
        serde_json::from_value(conversation.dialogue_state).unwrap_or_default();
    if !dstate.handed_off {
        return Ok(());
    }
    dstate.handed_back();
    let record = BotTurnRecord {
        reply: None,
        intent: None,
        confidence: None,
        action: BotAction::Answer,
        reason: None,
        alternatives: None,
        quick_replies: None,
        new_status: ConversationStatus::Bot,
        dialogue_state: serde_json::to_value(&dstate).map_err(ApiError::internal)?,
        handoff: None,
        expected_version: Some(conversation.version),
    };
    match state.store.record_bot_turn(conversation_id, record).await {
        // A customer turn got there first, and resets the state itself on seeing the bot status.
        Ok(_) | Err(StoreError::Stale { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The conversation's open (waiting or claimed) ticket.
pub async fn open_ticket(
    state: &AppState,
    conversation_id: Uuid,
) -> Result<Option<Handoff>, ApiError> {
    Ok(state
        .store
        .conversation_handoffs(conversation_id)
        .await?
        .into_iter()
        .rev()
        .find(|h| matches!(h.status, HandoffStatus::Waiting | HandoffStatus::Claimed)))
}

/// Ticket, queue position and expected wait.
pub async fn handoff_info(
    state: &AppState,
    ticket: &Handoff,
    now: DateTime<Utc>,
) -> Result<HandoffInfo, ApiError> {
    let position = state.store.queue_position(ticket.id).await?;
    let waiting = state.store.waiting_count().await?;
    Ok(HandoffInfo {
        ticket_id: ticket.id,
        status: ticket.status.as_str().to_string(),
        position,
        expected_wait: expected_wait(state, position, waiting, now),
        summary: ticket.summary.clone(),
    })
}

fn expected_wait(
    state: &AppState,
    position: Option<u32>,
    waiting: u64,
    now: DateTime<Utc>,
) -> ExpectedWait {
    let ahead = f64::from(position.unwrap_or(0));
    let work = (ahead * state.config.minutes_per_ticket).ceil();
    match state.dialogue.business_hours() {
        Some(hours) if !hours.is_open(now) => {
            let next = hours.next_open(now);
            ExpectedWait {
                open_now: false,
                next_open: next.map(|t| t.to_rfc3339()),
                minutes: next.map(|t| {
                    let until = (t.with_timezone(&Utc) - now).num_minutes().max(0) as f64;
                    (until + work) as u64
                }),
                tickets_waiting: waiting,
            }
        }
        _ => ExpectedWait {
            open_now: true,
            next_open: None,
            minutes: Some(work as u64),
            tickets_waiting: waiting,
        },
    }
}
