//! The customer's side of a conversation other than turns: start it, prove access with its token,
//! read the transcript, say whether an answer helped, rate the conversation, end it, and get a
//! short-lived single-use ticket for the live stream (so the token stays out of URLs).
use std::time::Duration;

use chrono::Utc;
use rand::RngCore;
use uuid::Uuid;

use super::events::Event;
use super::reply::ExpectedWait;
use super::{ConversationError, Conversations};
use crate::domain::{ConversationStatus, HandoffStatus, Locale};
use crate::store::{new_customer_token, sha256_hex, Conversation, Message, NewConversation};

/// How long a stream ticket may wait to be used.
pub const STREAM_TICKET_TTL: Duration = Duration::from_secs(60);

/// The conversation's open ticket as the customer sees it, so a widget reloaded mid-handoff can
/// say again where the customer stands: in the queue (position, expected wait, or the business
/// hours when nobody is on shift), or with which person.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct CustomerTicket {
    pub ticket_id: Uuid,
    /// `waiting` or `claimed`.
    pub status: String,
    /// 1-based place in the queue while waiting.
    pub position: Option<u32>,
    pub expected_wait: ExpectedWait,
    /// The account of the person who has the conversation (as on their messages)…
    pub agent_id: Option<String>,
    /// …and the name the customer is shown.
    pub agent_name: Option<String>,
}

/// A conversation just started: its id and the customer's bearer token (shown once).
#[derive(Debug)]
pub struct Started {
    pub conversation: Conversation,
    pub token: String,
}

impl Conversations {
    /// Starts a conversation in `locale` (one of the catalog's, or detected per message).
    pub async fn start(
        &self,
        locale: Option<&str>,
        customer: Option<serde_json::Map<String, serde_json::Value>>,
    ) -> Result<Started, ConversationError> {
        super::fields::check_customer(customer.as_ref())?;
        let locale = locale.map(|l| self.catalog_locale(l)).transpose()?;
        let (token, token_sha256) = new_customer_token();
        let conversation = self
            .store()
            .create_conversation(NewConversation {
                locale,
                customer: customer.map(serde_json::Value::Object),
                token_sha256,
            })
            .await?;
        tracing::info!(conversation_id = %conversation.id, "conversation started");
        Ok(Started {
            conversation,
            token,
        })
    }

    /// The catalog's locale `code`, or why not.
    fn catalog_locale(&self, code: &str) -> Result<Locale, ConversationError> {
        if let Some(locale) = self.locales().iter().find(|l| l.as_str() == code) {
            return Ok(locale.clone());
        }
        let known: Vec<&str> = self.locales().iter().map(Locale::as_str).collect();
        Err(ConversationError::Invalid(format!(
            "unknown locale {code:?}; use one of {}",
            known.join(", ")
        )))
    }

    /// The conversation, if `token` is its customer token.
    pub async fn authorize(
        &self,
        id: Uuid,
        token: &str,
    ) -> Result<Conversation, ConversationError> {
        let conversation = self
            .store()
            .conversation(id)
            .await?
            .ok_or(ConversationError::NotFound("conversation"))?;
        if !conversation.token_matches(token) {
            return Err(ConversationError::Forbidden);
        }
        Ok(conversation)
    }

    /// The whole transcript, by seq.
    pub async fn transcript(
        &self,
        conversation: &Conversation,
    ) -> Result<Vec<Message>, ConversationError> {
        Ok(self.store().messages(conversation.id).await?)
    }

    /// The open ticket's state for the customer; None when no person has or will have the
    /// conversation.
    pub async fn customer_ticket(
        &self,
        conversation: &Conversation,
    ) -> Result<Option<CustomerTicket>, ConversationError> {
        let Some(ticket) = self.open_ticket(conversation).await? else {
            return Ok(None);
        };
        let info = self.handoff_info(&ticket, Utc::now()).await;
        let agent_name = match &ticket.claimed_by {
            Some(name) => Some(
                self.store()
                    .account(name)
                    .await?
                    .map_or_else(|| name.clone(), |a| a.display_name),
            ),
            None => None,
        };
        Ok(Some(CustomerTicket {
            ticket_id: ticket.id,
            status: info.status,
            position: info.position,
            expected_wait: info.expected_wait,
            agent_id: ticket.claimed_by,
            agent_name,
        }))
    }

    /// "Did this help?" on one of the bot's messages (a second call replaces it).
    pub async fn feedback(
        &self,
        conversation: &Conversation,
        message_id: Uuid,
        helpful: bool,
        comment: Option<String>,
    ) -> Result<Message, ConversationError> {
        super::fields::check_comment("comment", comment.as_deref())?;
        Ok(self
            .store()
            .set_feedback(conversation.id, message_id, helpful, comment)
            .await?)
    }

    /// The customer's satisfaction, 1–5, with an optional comment (also after resolution).
    pub async fn csat(
        &self,
        conversation: &Conversation,
        score: i64,
        comment: Option<String>,
    ) -> Result<Conversation, ConversationError> {
        let score = u8::try_from(score)
            .ok()
            .filter(|s| (1..=5).contains(s))
            .ok_or_else(|| {
                ConversationError::Invalid("score must be an integer from 1 to 5".into())
            })?;
        super::fields::check_comment("comment", comment.as_deref())?;
        let conversation = self
            .store()
            .set_csat(conversation.id, score, comment)
            .await?;
        metrics::histogram!(crate::telemetry::CSAT).record(f64::from(score));
        Ok(conversation)
    }

    /// The customer is done: the conversation is resolved and its open tickets closed.
    pub async fn end(
        &self,
        conversation: &Conversation,
    ) -> Result<Conversation, ConversationError> {
        let open: Vec<_> = self
            .store()
            .conversation_handoffs(conversation.id)
            .await?
            .into_iter()
            .filter(|h| h.status != HandoffStatus::Resolved)
            .collect();
        let resolved = self.store().resolve_conversation(conversation.id).await?;
        if conversation.status != ConversationStatus::Resolved {
            for ticket in &open {
                self.bus()
                    .publish(Event::Queue {
                        ticket_id: ticket.id,
                        conversation_id: conversation.id,
                        status: HandoffStatus::Resolved,
                        agent_id: None,
                    })
                    .await;
            }
            self.bus()
                .publish(Event::Status {
                    conversation_id: conversation.id,
                    status: ConversationStatus::Resolved,
                    agent_id: None,
                })
                .await;
        }
        Ok(resolved)
    }

    /// A short-lived, single-use ticket that opens the conversation's live stream in place of
    /// the token (`?ticket=`), so the token never appears in a URL.
    pub async fn stream_ticket(
        &self,
        conversation: &Conversation,
    ) -> Result<String, ConversationError> {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let ticket = hex::encode(bytes);
        let ttl =
            chrono::Duration::from_std(STREAM_TICKET_TTL).map_err(ConversationError::internal)?;
        self.store()
            .create_stream_ticket(conversation.id, &sha256_hex(&ticket), Utc::now() + ttl)
            .await?;
        Ok(ticket)
    }

    /// The conversation a stream ticket opens (it is used up). Unknown, used or expired tickets,
    /// and tickets for another conversation, are refused alike.
    pub async fn redeem_stream_ticket(
        &self,
        id: Uuid,
        ticket: &str,
    ) -> Result<Conversation, ConversationError> {
        let refused = || {
            ConversationError::Unauthorized("the stream ticket is unknown, used or expired".into())
        };
        let owner = self
            .store()
            .consume_stream_ticket(&sha256_hex(ticket))
            .await?
            .ok_or_else(refused)?;
        if owner != id {
            return Err(refused());
        }
        self.store()
            .conversation(id)
            .await?
            .ok_or(ConversationError::NotFound("conversation"))
    }
}
