//! Canned replies for agents: the catalog's templates of a ticket's intents (the one it was
//! handed off for, then the others the customer raised, latest first), in the customer's language, rendered with the conversation's variables (customer metadata, entities) by the
//! dialogue's own responder, so the agent starts from what the bot would say and edits it.
use serde::Serialize;
use uuid::Uuid;

use super::{ConversationError, Conversations};
use crate::dialogue::{template_vars, CustomerMetadata};
use crate::domain::IntentName;

/// Templates of at most this many intents.
const MAX_INTENTS: usize = 3;

/// One canned reply.
#[derive(Debug, Clone, Serialize)]
pub struct CannedReply {
    /// The intent's name for people, numbered when it has several templates ("配送状況の確認 2").
    pub label: String,
    pub text: String,
}

impl Conversations {
    /// The rendered templates of the ticket's intent (empty when it has none, or none renders
    /// with what the conversation knows).
    pub async fn canned_replies(
        &self,
        ticket_id: Uuid,
    ) -> Result<Vec<CannedReply>, ConversationError> {
        let handoff = self
            .store()
            .handoff(ticket_id)
            .await?
            .ok_or(ConversationError::NotFound("ticket"))?;
        let conversation = self
            .store()
            .conversation(handoff.conversation_id)
            .await?
            .ok_or(ConversationError::NotFound("conversation"))?;
        let customer: CustomerMetadata = conversation
            .customer
            .as_ref()
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default();
        let dstate = super::turn::dialogue_state(&conversation);
        let vars = template_vars(&customer, &dstate);
        let mut intents: Vec<&IntentName> = handoff.intent.iter().collect();
        for entry in dstate.timeline.iter().rev() {
            if let Some(intent) = &entry.intent {
                if !intents.contains(&intent) {
                    intents.push(intent);
                }
            }
        }
        let dialogue = self.dialogue();
        let responder = dialogue.responder();
        let mut replies = Vec::new();
        for intent in intents.into_iter().take(MAX_INTENTS) {
            let count = responder.variations(intent.as_str(), &handoff.locale);
            for i in 0..count {
                // A template needing a variable the conversation lacks is left out.
                if let Ok(text) = responder.intent(intent.as_str(), &handoff.locale, i, &vars) {
                    let name = dialogue.config().label(intent.as_str(), &handoff.locale);
                    let label = if count > 1 {
                        format!("{name} {}", i + 1)
                    } else {
                        name.to_string()
                    };
                    replies.push(CannedReply { label, text });
                }
            }
        }
        Ok(replies)
    }
}
