//! What a customer is told after a turn: the bot's reply, and — when a person has or will have the
//! conversation — the ticket with an honest wait estimate.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::Conversations;
use crate::dialogue::QuickReply;
use crate::domain::{Action, HandoffStatus, IntentName, TurnKind};
use crate::store::{Conversation, Handoff};

/// The bot's turn, as the customer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TurnReply {
    /// The bot's message; null while a person has the conversation.
    pub reply: Option<String>,
    /// `answer`, `clarify` or `handoff`.
    #[schema(value_type = String, example = "answer")]
    pub action: Action,
    /// What exactly the bot did: `answer`, `clarify`, `ask_slot` (asked for a value such as the
    /// order number), `rephrase`, `out_of_scope`, `handoff`, or `silent` (a person has it).
    #[schema(value_type = String, example = "answer")]
    pub kind: TurnKind,
    /// The intent understood (null when out of scope).
    #[schema(value_type = Option<String>)]
    pub intent: Option<IntentName>,
    pub confidence: f32,
    /// Buttons for a clarification, the guesses of a `rephrase`, the topics of an `out_of_scope`
    /// reply, or a person offered after a repeated answer; sending `value` chooses it.
    #[schema(value_type = Vec<Object>)]
    pub quick_replies: Vec<QuickReply>,
    /// Set when a person has (or will have) the conversation.
    pub handoff: Option<HandoffInfo>,
    /// Id of the customer's message.
    pub message_id: Uuid,
    /// Id of the bot's message (for feedback); null when the bot stayed silent.
    pub reply_id: Option<Uuid>,
    /// The client's id of the message, echoed when it was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_message_id: Option<String>,
}

/// What a turn decided, stored with the customer's message so that a resend of the same
/// `client_message_id` gets the same answer without classifying again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TurnOutcome {
    pub action: Action,
    pub intent: Option<IntentName>,
    pub confidence: f32,
    pub quick_replies: Vec<QuickReply>,
    pub kind: TurnKind,
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

impl Conversations {
    /// The conversation's open (waiting or claimed) ticket.
    pub async fn open_ticket(
        &self,
        conversation: &Conversation,
    ) -> Result<Option<Handoff>, super::ConversationError> {
        let tickets = self.store().conversation_handoffs(conversation.id).await?;
        Ok(tickets
            .into_iter()
            .rev()
            .find(|h| matches!(h.status, HandoffStatus::Waiting | HandoffStatus::Claimed)))
    }

    /// Ticket, queue position and expected wait. The turn is already stored when this runs, so a
    /// failing queue read only makes the estimate unknown; it never fails the turn.
    pub async fn handoff_info(&self, ticket: &Handoff, now: DateTime<Utc>) -> HandoffInfo {
        let store = self.store();
        let (position, waiting) = match (
            store.queue_position(ticket.id).await,
            store.waiting_count().await,
        ) {
            (Ok(position), Ok(waiting)) => (position, Some(waiting)),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, ticket_id = %ticket.id, "cannot read the queue");
                (None, None)
            }
        };
        HandoffInfo {
            ticket_id: ticket.id,
            status: ticket.status.as_str().to_string(),
            position,
            expected_wait: self.expected_wait(position, waiting, now),
            summary: ticket.summary.clone(),
        }
    }

    fn expected_wait(
        &self,
        position: Option<u32>,
        waiting: Option<u64>,
        now: DateTime<Utc>,
    ) -> ExpectedWait {
        let known = waiting.is_some();
        let ahead = f64::from(position.unwrap_or(0));
        let work = (ahead * self.settings().minutes_per_ticket).ceil();
        let tickets_waiting = waiting.unwrap_or(0);
        match self.dialogue().business_hours() {
            Some(hours) if !hours.is_open(now) => {
                let next = hours.next_open(now);
                ExpectedWait {
                    open_now: false,
                    next_open: next.map(|t| t.to_rfc3339()),
                    minutes: next.filter(|_| known).map(|t| {
                        let until = (t.with_timezone(&Utc) - now).num_minutes().max(0) as f64;
                        (until + work) as u64
                    }),
                    tickets_waiting,
                }
            }
            _ => ExpectedWait {
                open_now: true,
                next_open: None,
                minutes: known.then_some(work as u64),
                tickets_waiting,
            },
        }
    }
}
