//! What people do with the handoff queue: list and read tickets, claim (atomic: of two agents one
//! wins), reply (delivered live to the customer), private notes, typing, hand back to the bot,
//! resolve. Every change is announced on the event bus for consoles and the customer's stream.
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::events::Event;
use super::{ConversationError, Conversations};
use crate::domain::{ConversationStatus, HandoffStatus, Role};
use crate::store::{BotTurnRecord, Handoff, HandoffFilter, Message, Note, StoreError};

pub use super::fields::MAX_AGENT_TEXT_CHARS;

/// A ticket with its place in the queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ticket {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub handoff: Handoff,
    /// 1-based place in the queue while waiting.
    pub position: Option<u32>,
}

/// A ticket with the conversation's transcript and the agents' private notes.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Message>,
    #[schema(value_type = Vec<Object>)]
    pub notes: Vec<Note>,
}

impl Conversations {
    /// Tickets matching `filter`, oldest first, with queue positions.
    pub async fn tickets(&self, filter: &HandoffFilter) -> Result<Vec<Ticket>, ConversationError> {
        let mut tickets = Vec::new();
        for handoff in self.store().list_handoffs(filter).await? {
            tickets.push(self.with_position(handoff).await?);
        }
        Ok(tickets)
    }

    /// One ticket with its transcript and notes.
    pub async fn ticket(&self, ticket_id: Uuid) -> Result<TicketDetail, ConversationError> {
        let handoff = self.load_ticket(ticket_id).await?;
        let messages = self.store().messages(handoff.conversation_id).await?;
        let notes = self.store().notes(handoff.id).await?;
        Ok(TicketDetail {
            ticket: self.with_position(handoff).await?,
            messages,
            notes,
        })
    }

    /// Takes a waiting (or returned) ticket; the conversation becomes the agent's.
    pub async fn claim(&self, ticket_id: Uuid, agent: &str) -> Result<Ticket, ConversationError> {
        let id = self.load_ticket(ticket_id).await?.id;
        let handoff = self.store().claim(id, agent).await?;
        tracing::info!(ticket_id = %id, conversation_id = %handoff.conversation_id, agent, "ticket claimed");
        self.publish_ticket(&handoff, ConversationStatus::Agent, Some(agent))
            .await;
        self.with_position(handoff).await
    }

    /// The agent's message to the customer, delivered live on their stream.
    pub async fn agent_reply(
        &self,
        ticket_id: Uuid,
        agent: &str,
        text: &str,
    ) -> Result<Message, ConversationError> {
        check_agent_text(text, "text")?;
        let id = self.load_ticket(ticket_id).await?.id;
        let message = self.store().agent_reply(id, agent, text).await?;
        self.bus()
            .publish(Event::Message {
                conversation_id: message.conversation_id,
                seq: message.seq,
                role: Role::Agent,
            })
            .await;
        Ok(message)
    }

    /// A private note on the ticket (never shown to the customer).
    pub async fn add_note(
        &self,
        ticket_id: Uuid,
        agent: &str,
        text: &str,
    ) -> Result<Note, ConversationError> {
        check_agent_text(text, "note")?;
        let id = self.load_ticket(ticket_id).await?.id;
        Ok(self.store().add_note(id, agent, text).await?)
    }

    /// The agent is composing a reply: the customer's typing indicator.
    pub async fn agent_typing(
        &self,
        ticket_id: Uuid,
        agent: &str,
    ) -> Result<(), ConversationError> {
        let handoff = self.load_ticket(ticket_id).await?;
        if handoff.status != HandoffStatus::Claimed || handoff.claimed_by.as_deref() != Some(agent)
        {
            return Err(ConversationError::Conflict(
                "only the agent who claimed the ticket types to the customer".into(),
            ));
        }
        self.bus()
            .publish(Event::Typing {
                conversation_id: handoff.conversation_id,
                role: Role::Agent,
                agent_id: Some(agent.to_string()),
            })
            .await;
        Ok(())
    }

    /// Gives the conversation back to the bot, which answers the next message keeping what it
    /// learnt (the dialogue state is reset for a fresh start after the person).
    pub async fn hand_back(
        &self,
        ticket_id: Uuid,
        agent: &str,
    ) -> Result<Ticket, ConversationError> {
        let id = self.load_ticket(ticket_id).await?.id;
        let handoff = self.store().hand_back(id, agent).await?;
        // Best effort: should this fail (or race with a customer message), the next turn does it
        // anyway, since the store's status is the truth about who has the conversation.
        if let Err(e) = self.reset_after_hand_back(handoff.conversation_id).await {
            tracing::warn!(error = %e, conversation_id = %handoff.conversation_id, "cannot reset the dialogue state");
        }
        self.publish_ticket(&handoff, ConversationStatus::Bot, None)
            .await;
        self.with_position(handoff).await
    }

    /// Closes the ticket with a resolution code; the conversation is resolved (the customer is
    /// then asked for CSAT).
    pub async fn resolve_ticket(
        &self,
        ticket_id: Uuid,
        agent: &str,
        resolution_code: &str,
    ) -> Result<Ticket, ConversationError> {
        let code = resolution_code.trim();
        if code.is_empty() || code.len() > 64 {
            return Err(ConversationError::Invalid(
                "resolution_code must be 1 to 64 characters".into(),
            ));
        }
        let id = self.load_ticket(ticket_id).await?.id;
        let handoff = self.store().resolve(id, agent, code).await?;
        self.publish_ticket(&handoff, ConversationStatus::Resolved, Some(agent))
            .await;
        self.with_position(handoff).await
    }

    /// Announces a ticket's new state and its conversation's new status.
    pub(super) async fn publish_ticket(
        &self,
        handoff: &Handoff,
        status: ConversationStatus,
        agent: Option<&str>,
    ) {
        let agent_id = agent.map(str::to_string);
        self.bus()
            .publish(Event::Queue {
                ticket_id: handoff.id,
                conversation_id: handoff.conversation_id,
                status: handoff.status,
                agent_id: agent_id.clone(),
            })
            .await;
        self.bus()
            .publish(Event::Status {
                conversation_id: handoff.conversation_id,
                status,
                agent_id,
            })
            .await;
    }

    async fn load_ticket(&self, ticket_id: Uuid) -> Result<Handoff, ConversationError> {
        self.store()
            .handoff(ticket_id)
            .await?
            .ok_or(ConversationError::NotFound("ticket"))
    }

    async fn with_position(&self, handoff: Handoff) -> Result<Ticket, ConversationError> {
        let position = if handoff.status == HandoffStatus::Waiting {
            self.store().queue_position(handoff.id).await?
        } else {
            None
        };
        Ok(Ticket { handoff, position })
    }

    /// After an agent handed the conversation back: the dialogue state's `handed_back()`, stored.
    async fn reset_after_hand_back(&self, conversation_id: Uuid) -> Result<(), ConversationError> {
        let Some(conversation) = self.store().conversation(conversation_id).await? else {
            return Err(ConversationError::NotFound("conversation"));
        };
        if conversation.status != ConversationStatus::Bot {
            return Ok(());
        }
        let dstate = super::turn::dialogue_state(&conversation);
        let record = BotTurnRecord {
            reply: None,
            intent: None,
            confidence: None,
            action: crate::domain::Action::Answer,
            reason: None,
            alternatives: None,
            quick_replies: None,
            new_status: ConversationStatus::Bot,
            dialogue_state: serde_json::to_value(&dstate).map_err(ConversationError::internal)?,
            handoff: None,
            expected_version: Some(conversation.version),
        };
        match self.store().record_bot_turn(conversation_id, record).await {
            // A customer turn got there first, and resets the state itself on seeing the status.
            Ok(_) | Err(StoreError::Stale { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

fn check_agent_text(text: &str, what: &str) -> Result<(), ConversationError> {
    if text.trim().is_empty() {
        return Err(ConversationError::Invalid(format!(
            "{what} must not be empty"
        )));
    }
    let chars = text.chars().count();
    if chars > MAX_AGENT_TEXT_CHARS {
        return Err(ConversationError::Invalid(format!(
            "{what} is {chars} characters long; the limit is {MAX_AGENT_TEXT_CHARS}"
        )));
    }
    Ok(())
}
