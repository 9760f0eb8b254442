//! The rules the store checks before touching the database, and the diagnoses of refused
//! updates (why a guarded `UPDATE` touched no row, from the record as it is now). No SQL here.
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::error::StoreError;
use super::model::{BotTurnRecord, ConversationStatus, CustomerTurnRecord, Handoff, HandoffStatus};

/// Default and maximum page size of the listings.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// Longest agent id or code we accept (they are identifiers, not prose).
const MAX_CODE_LEN: usize = 200;
/// Longest delivery error kept on an outbox event (longer ones are cut at a char boundary).
const MAX_ERROR_LEN: usize = 1000;

/// The current time at the precision both dialects store (microseconds), so a record read back
/// equals the one returned when it was written.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) fn check_text(text: &str, what: &str) -> Result<(), StoreError> {
    if text.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} is empty")));
    }
    check_no_nul(Some(text), what)
}

/// PostgreSQL cannot store U+0000 in text or jsonb; refuse it in both dialects alike.
pub(super) fn check_no_nul(text: Option<&str>, what: &str) -> Result<(), StoreError> {
    match text {
        Some(text) if text.contains('\0') => Err(StoreError::Invalid(format!(
            "{what} contains a NUL character"
        ))),
        _ => Ok(()),
    }
}

pub(super) fn check_json(value: Option<&Value>, what: &str) -> Result<(), StoreError> {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(s) => s.contains('\0'),
            Value::Array(items) => items.iter().any(has_nul),
            Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if value.is_some_and(has_nul) {
        return Err(StoreError::Invalid(format!(
            "{what} contains a NUL character"
        )));
    }
    Ok(())
}

pub(super) fn check_code(code: &str, what: &str) -> Result<(), StoreError> {
    check_text(code, what)?;
    if code.len() > MAX_CODE_LEN {
        return Err(StoreError::Invalid(format!(
            "{what} is longer than {MAX_CODE_LEN} bytes"
        )));
    }
    Ok(())
}

pub(super) fn check_new_conversation(
    locale: Option<&str>,
    customer: Option<&Value>,
    token_sha256: &str,
) -> Result<(), StoreError> {
    if let Some(locale) = locale {
        check_code(locale, "locale")?;
    }
    check_json(customer, "customer")?;
    check_sha256(token_sha256, "token_sha256")
}

/// What can be checked without the database. (Intent names, reasons and locales are typed, so
/// they are valid by construction.)
pub(super) fn check_bot_turn(turn: &BotTurnRecord) -> Result<(), StoreError> {
    if let Some(reply) = &turn.reply {
        check_text(reply, "reply")?;
    }
    check_json(Some(&turn.dialogue_state), "dialogue state")?;
    check_json(turn.alternatives.as_ref(), "alternatives")?;
    check_json(turn.quick_replies.as_ref(), "quick replies")?;
    if let Some(h) = &turn.handoff {
        check_json(Some(&h.summary), "handoff summary")?;
    }
    if let Some(c) = turn.confidence {
        if !(0.0..=1.0).contains(&c) {
            return Err(StoreError::Invalid(format!(
                "confidence {c} is not within 0..1"
            )));
        }
    }
    match turn.new_status {
        ConversationStatus::Resolved => {
            return Err(StoreError::Invalid(
                "a bot turn does not resolve a conversation (use resolve_conversation)".into(),
            ))
        }
        ConversationStatus::Agent if turn.reply.is_some() || turn.handoff.is_some() => {
            return Err(StoreError::Invalid(
                "only an agent puts a conversation in the agent status".into(),
            ))
        }
        _ => {}
    }
    if turn.handoff.is_some() && turn.new_status != ConversationStatus::Handoff {
        return Err(StoreError::Invalid(
            "a bot turn that opens a ticket must set the handoff status".into(),
        ));
    }
    Ok(())
}

/// A customer turn: its message, then the bot's side as for a bot turn.
pub(super) fn check_customer_turn(turn: &CustomerTurnRecord) -> Result<(), StoreError> {
    check_text(&turn.text, "message text")?;
    if let Some(id) = &turn.client_message_id {
        check_text(id, "client_message_id")?;
    }
    check_json(Some(&turn.outcome), "outcome")?;
    check_bot_turn(&turn.bot)
}

/// Why a bot turn's conditional update touched no row, from the conversation's current status.
pub(super) fn bot_turn_refused(id: Uuid, status: Option<ConversationStatus>) -> StoreError {
    match status {
        None => StoreError::not_found("conversation", id),
        Some(ConversationStatus::Resolved) => {
            StoreError::Conflict("the conversation is resolved".into())
        }
        Some(ConversationStatus::Bot) => StoreError::Invalid(
            "handing off needs a ticket: set `handoff` with the handoff status".into(),
        ),
        Some(ConversationStatus::Handoff | ConversationStatus::Agent) => {
            StoreError::Conflict("a person has this conversation; the bot stays silent".into())
        }
    }
}

/// Why a message could not be added to a conversation.
pub(super) fn message_refused(id: Uuid, status: Option<ConversationStatus>) -> StoreError {
    match status {
        None => StoreError::not_found("conversation", id),
        Some(_) => StoreError::Conflict("the conversation is resolved".into()),
    }
}

/// Why an agent's action on a ticket was refused, from the ticket as it is now.
pub(super) fn ticket_refused(id: Uuid, ticket: Option<Handoff>, agent_id: &str) -> StoreError {
    let Some(ticket) = ticket else {
        return StoreError::not_found("handoff", id);
    };
    let message = match ticket.status {
        HandoffStatus::Claimed if ticket.claimed_by.as_deref() == Some(agent_id) => {
            "the handoff is already claimed by this agent"
        }
        HandoffStatus::Claimed => "the handoff is claimed by another agent",
        HandoffStatus::Waiting | HandoffStatus::Returned => "the handoff must be claimed first",
        HandoffStatus::Resolved => "the handoff is resolved",
    };
    StoreError::Conflict(message.into())
}

/// Why a claim was refused, from the ticket as it is now.
pub(super) fn claim_refused(id: Uuid, ticket: Option<Handoff>) -> StoreError {
    match ticket {
        None => StoreError::not_found("handoff", id),
        Some(t) if t.status == HandoffStatus::Resolved => {
            StoreError::Conflict("the handoff is resolved".into())
        }
        Some(_) => StoreError::Conflict("the handoff is already claimed".into()),
    }
}

/// A page size: `requested` or the default, at most [`MAX_LIMIT`]; 0 is refused.
pub(super) fn limit(requested: Option<u32>) -> Result<i64, StoreError> {
    match requested.unwrap_or(DEFAULT_LIMIT) {
        0 => Err(StoreError::Invalid("limit must be at least 1".into())),
        n => Ok(i64::from(n.min(MAX_LIMIT))),
    }
}

pub(super) fn check_csat(score: u8) -> Result<(), StoreError> {
    if !(1..=5).contains(&score) {
        return Err(StoreError::Invalid(format!(
            "CSAT score {score} is not within 1–5"
        )));
    }
    Ok(())
}

/// SHA-256 hex as the store keeps it (customer and stream tickets).
pub(super) fn check_sha256(hash: &str, what: &str) -> Result<(), StoreError> {
    let is_hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_hex {
        return Err(StoreError::Invalid(format!(
            "{what} must be 64 lowercase hex characters"
        )));
    }
    Ok(())
}

/// A delivery error as stored: NULs dropped, at most [`MAX_ERROR_LEN`] bytes.
pub(super) fn error_text(error: &str) -> String {
    let mut text: String = error.chars().filter(|&c| c != '\0').collect();
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}
