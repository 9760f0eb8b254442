//! One customer turn, the same for every channel: validate → a resend of a known
//! `client_message_id` gets the stored answer → reserve a place in the classifier queue (a full
//! queue is refused before anything is written) → classify (no transaction held) → compute the
//! dialogue turn and commit the customer message, the bot's reply, the dialogue state, any ticket
//! and its outbox row together → announce the new messages on the event bus → the reply.
//!
//! Two turns of one conversation may run at once (two tabs, a double send, two replicas): each is
//! computed from the conversation's stored `version` and committed only if it is unchanged, else
//! recomputed from the fresh state with the same classification.
use chrono::{DateTime, Utc};

use super::events::Event;
use super::reply::{TurnOutcome, TurnReply};
use super::{ConversationError, Conversations};
use crate::dialogue::{BotTurn, CustomerMetadata, DialogueState, Sentence, TurnInput};
use crate::domain::{ClientMessageId, ConversationStatus};
use crate::nlu::Classification;
use crate::store::{
    BotTurnRecord, Conversation, CustomerTurnRecord, NewHandoff, StoreError, StoredTurn,
};

/// How often a turn is recomputed when the conversation keeps changing under it.
const MAX_TURN_ATTEMPTS: u32 = 8;

/// A turn that was just committed.
struct Committed {
    turn: BotTurn,
    stored: StoredTurn,
    new_status: ConversationStatus,
    now: DateTime<Utc>,
}

/// What committing found: a fresh turn, or the same `client_message_id` stored by another request.
enum Commit {
    Fresh(Box<Committed>),
    AlreadyStored(Box<StoredTurn>),
}

impl Conversations {
    /// Runs one customer turn on `conversation` (already authorized).
    #[tracing::instrument(skip_all, fields(conversation_id = %conversation.id))]
    pub async fn customer_turn(
        &self,
        conversation: &Conversation,
        text: &str,
        client_message_id: Option<&ClientMessageId>,
    ) -> Result<TurnReply, ConversationError> {
        self.check_customer_text(text)?;
        if let Some(stored) = self.stored_turn(conversation, client_message_id).await? {
            return self.replay(conversation, stored).await;
        }
        if conversation.status == ConversationStatus::Resolved {
            return Err(ConversationError::Conflict(
                "the conversation is resolved".into(),
            ));
        }
        let (classification, sentences) = self.classify_turn(text).await?;
        let commit = self
            .commit_turn(
                conversation,
                text,
                client_message_id,
                &classification,
                &sentences,
            )
            .await?;
        match commit {
            Commit::Fresh(committed) => {
                self.announce(conversation, &committed).await;
                Ok(self.fresh_reply(conversation, *committed).await)
            }
            Commit::AlreadyStored(stored) => self.replay(conversation, *stored).await,
        }
    }

    /// The message classified as a whole, and each of its sentences when it has several (one
    /// batch: a second question costs one more encoder pass, not a second wait in the queue).
    async fn classify_turn(
        &self,
        text: &str,
    ) -> Result<(Classification, Vec<Sentence>), ConversationError> {
        let request = self.dialogue().classification_text(text).to_string();
        let sentences = self.dialogue().sentences(text);
        if sentences.is_empty() {
            let classification = self.nlu().reserve()?.classify(request).await?;
            return Ok((classification, Vec::new()));
        }
        let texts = std::iter::once(request)
            .chain(sentences.iter().map(|s| s.to_string()))
            .collect();
        let mut classified = self.nlu().classify_many(texts).await?.into_iter();
        let whole = classified
            .next()
            .ok_or_else(|| ConversationError::internal("no classification for the message"))?;
        let sentences = sentences
            .into_iter()
            .zip(classified)
            .map(|(text, classification)| Sentence {
                text: text.to_string(),
                classification,
            })
            .collect();
        Ok((whole, sentences))
    }

    fn check_customer_text(&self, text: &str) -> Result<(), ConversationError> {
        if text.trim().is_empty() {
            return Err(ConversationError::Invalid("text must not be empty".into()));
        }
        let chars = text.chars().count();
        let max = self.settings().max_message_chars;
        if chars > max {
            return Err(ConversationError::Invalid(format!(
                "text is {chars} characters long; the limit is {max}"
            )));
        }
        if text.contains('\0') {
            return Err(ConversationError::Invalid(
                "text must not contain NUL".into(),
            ));
        }
        Ok(())
    }

    async fn stored_turn(
        &self,
        conversation: &Conversation,
        client_message_id: Option<&ClientMessageId>,
    ) -> Result<Option<StoredTurn>, ConversationError> {
        let Some(id) = client_message_id else {
            return Ok(None);
        };
        Ok(self
            .store()
            .turn_by_client_message_id(conversation.id, id.as_str())
            .await?)
    }

    /// Computes the turn from the conversation as stored and commits it, recomputing while the
    /// conversation changes under it.
    async fn commit_turn(
        &self,
        conversation: &Conversation,
        text: &str,
        client_message_id: Option<&ClientMessageId>,
        classification: &Classification,
        sentences: &[Sentence],
    ) -> Result<Commit, ConversationError> {
        let mut attempt = 1;
        let mut reread: Option<Conversation> = None;
        loop {
            // The first attempt builds on the conversation as this request read it; the store
            // refuses the turn as stale if it changed since, and later attempts read it again.
            let current = match &reread {
                Some(fresh) => fresh,
                None => conversation,
            };
            let now = Utc::now();
            let (turn, dstate) = self.dialogue_turn(current, text, classification, sentences, now);
            let bot = bot_turn_record(&turn, classification, &dstate, current)?;
            let new_status = bot.new_status;
            let record = CustomerTurnRecord {
                text: text.to_string(),
                client_message_id: client_message_id.map(|id| id.as_str().to_string()),
                outcome: outcome_json(&turn)?,
                bot,
            };
            match self.store().record_customer_turn(current.id, record).await {
                Ok(stored) => {
                    return Ok(Commit::Fresh(Box::new(Committed {
                        turn,
                        stored,
                        new_status,
                        now,
                    })))
                }
                Err(StoreError::Stale { .. }) if attempt < MAX_TURN_ATTEMPTS => {
                    metrics::counter!(crate::telemetry::STALE_TURNS).increment(1);
                    tracing::debug!(attempt, "conversation changed during the turn; recomputing");
                    attempt += 1;
                    reread = Some(
                        self.store()
                            .conversation(conversation.id)
                            .await?
                            .ok_or(ConversationError::NotFound("conversation"))?,
                    );
                }
                Err(StoreError::DuplicateClientMessage) => {
                    let stored = self.stored_turn(conversation, client_message_id).await?;
                    let stored = stored.ok_or_else(|| {
                        ConversationError::internal("a duplicate message id without its turn")
                    })?;
                    return Ok(Commit::AlreadyStored(Box::new(stored)));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The dialogue's turn on `conversation` as stored, at `now`: the turn and the new state.
    fn dialogue_turn(
        &self,
        conversation: &Conversation,
        text: &str,
        classification: &Classification,
        sentences: &[Sentence],
        now: DateTime<Utc>,
    ) -> (BotTurn, DialogueState) {
        let mut dstate = dialogue_state(conversation);
        let customer: CustomerMetadata = conversation
            .customer
            .as_ref()
            .and_then(|v| v.as_object())
            .cloned()
            .unwrap_or_default();
        let turn = self.dialogue().turn(
            &mut dstate,
            TurnInput {
                text,
                classification,
                locale: conversation.locale.as_ref(),
                customer: &customer,
                now,
                sentences,
            },
        );
        (turn, dstate)
    }

    /// Tells every replica's streams about the stored messages and a new ticket; counts the turn.
    async fn announce(&self, conversation: &Conversation, committed: &Committed) {
        let turn = &committed.turn;
        let intent = turn.intent.as_deref().unwrap_or("none").to_string();
        metrics::counter!(
            crate::telemetry::TURNS,
            "action" => turn.action.as_str(),
            "intent" => intent
        )
        .increment(1);
        let stored = &committed.stored;
        for message in std::iter::once(&stored.message).chain(stored.reply.as_ref()) {
            self.bus()
                .publish(Event::Message {
                    conversation_id: conversation.id,
                    seq: message.seq,
                    role: message.role,
                })
                .await;
        }
        if let Some(ticket) = &stored.handoff {
            if let Some(req) = &turn.handoff {
                metrics::counter!(crate::telemetry::HANDOFFS, "reason" => req.reason.as_str())
                    .increment(1);
            }
            self.publish_ticket(ticket, ConversationStatus::Handoff, None)
                .await;
        }
    }

    async fn fresh_reply(&self, conversation: &Conversation, committed: Committed) -> TurnReply {
        let Committed {
            turn,
            stored,
            new_status,
            now,
        } = committed;
        let handoff = match stored.handoff {
            Some(ticket) => Some(self.handoff_info(&ticket, now).await),
            None if new_status.is_with_human() => self.current_handoff(conversation, now).await,
            None => None,
        };
        TurnReply {
            reply: turn.reply,
            action: turn.action,
            kind: turn.kind,
            intent: turn.intent,
            confidence: turn.confidence,
            quick_replies: turn.quick_replies,
            handoff,
            message_id: stored.message.id,
            reply_id: stored.reply.map(|m| m.id),
            client_message_id: stored.message.client_message_id,
        }
    }

    /// The answer to a resend: what was stored for that message, with the ticket as it is now.
    async fn replay(
        &self,
        conversation: &Conversation,
        stored: StoredTurn,
    ) -> Result<TurnReply, ConversationError> {
        let outcome: TurnOutcome = stored
            .message
            .outcome
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| ConversationError::internal("a stored turn without its outcome"))?;
        metrics::counter!(crate::telemetry::TURNS_REPLAYED).increment(1);
        let handoff = self.current_handoff(conversation, Utc::now()).await;
        Ok(TurnReply {
            reply: stored.reply.as_ref().map(|m| m.text.clone()),
            action: outcome.action,
            kind: outcome.kind,
            intent: outcome.intent,
            confidence: outcome.confidence,
            quick_replies: outcome.quick_replies,
            handoff,
            message_id: stored.message.id,
            reply_id: stored.reply.map(|m| m.id),
            client_message_id: stored.message.client_message_id,
        })
    }

    /// The open ticket's info, if the conversation has one (unknown if it cannot be read).
    async fn current_handoff(
        &self,
        conversation: &Conversation,
        now: DateTime<Utc>,
    ) -> Option<super::reply::HandoffInfo> {
        match self.open_ticket(conversation).await {
            Ok(Some(ticket)) => Some(self.handoff_info(&ticket, now).await),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the conversation's ticket");
                None
            }
        }
    }
}

/// The stored dialogue state, with the store's status as the truth about who has the
/// conversation.
pub(super) fn dialogue_state(conversation: &Conversation) -> DialogueState {
    let mut dstate: DialogueState = serde_json::from_value(conversation.dialogue_state.clone())
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable dialogue state; starting afresh");
            DialogueState::default()
        });
    if conversation.status.is_with_human() {
        dstate.handed_off = true;
    } else if dstate.handed_off {
        dstate.handed_back();
    }
    dstate
}

fn outcome_json(turn: &BotTurn) -> Result<serde_json::Value, ConversationError> {
    serde_json::to_value(TurnOutcome {
        action: turn.action,
        intent: turn.intent.clone(),
        confidence: turn.confidence,
        quick_replies: turn.quick_replies.clone(),
        kind: turn.kind,
    })
    .map_err(ConversationError::internal)
}

fn bot_turn_record(
    turn: &BotTurn,
    classification: &Classification,
    dstate: &DialogueState,
    conversation: &Conversation,
) -> Result<BotTurnRecord, ConversationError> {
    let json = |v: serde_json::Result<serde_json::Value>| v.map_err(ConversationError::internal);
    let handoff = match &turn.handoff {
        Some(req) => Some(NewHandoff {
            reason: req.reason,
            intent: turn.intent.clone(),
            locale: req.summary.locale.clone(),
            summary: json(serde_json::to_value(&req.summary))?,
        }),
        None => None,
    };
    let new_status = if handoff.is_some() {
        ConversationStatus::Handoff
    } else if conversation.status.is_with_human() {
        conversation.status
    } else {
        ConversationStatus::Bot
    };
    Ok(BotTurnRecord {
        reply: turn.reply.clone(),
        intent: turn.intent.clone(),
        confidence: Some(turn.confidence.clamp(0.0, 1.0)),
        action: turn.action,
        reason: Some(turn.kind),
        alternatives: Some(json(serde_json::to_value(&classification.alternatives))?),
        quick_replies: Some(json(serde_json::to_value(&turn.quick_replies))?),
        new_status,
        dialogue_state: json(serde_json::to_value(dstate))?,
        handoff,
        expected_version: Some(conversation.version),
    })
}
