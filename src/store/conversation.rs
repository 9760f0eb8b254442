//! Conversations and their transcripts: creating and reading them, customer and bot turns,
//! feedback, CSAT and resolution.
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::check::{self, now};
use super::dialect::{on, Tx};
use super::error::StoreError;
use super::model::{
    BotAction, BotTurnRecord, Conversation, ConversationStatus, CustomerTurnRecord, Handoff,
    Message, NewConversation, NewHandoff, Role, StoredTurn,
};
use super::outbox::{write_outbox, HANDOFF_OPENED, HANDOFF_RESOLVED};
use super::row::{self, ConversationRow, HandoffRow, MessageRow};
use super::{sql, Store};
use crate::domain::{IntentName, Locale, TurnKind};

/// Resolution code given to a conversation's other open tickets when it is resolved.
const CONVERSATION_RESOLVED: &str = "conversation_resolved";

impl Store {
    /// Starts a conversation in the `bot` status with an empty (`{}`) dialogue state.
    pub async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> Result<Conversation, StoreError> {
        check::check_new_conversation(
            new.locale.as_deref(),
            new.customer.as_ref(),
            &new.token_sha256,
        )?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: ConversationRow<D::Id> = sqlx::query_as(sql::INSERT_CONVERSATION)
                .bind(D::id(Uuid::new_v4()))
                .bind(new.locale.as_ref().map(Locale::as_str))
                .bind(new.customer.as_ref().map(Json))
                .bind(&new.token_sha256)
                .bind(Json(serde_json::json!({})))
                .bind(D::ts(now()))
                .fetch_one(c)
                .await?;
            row.try_into()
        })
    }

    pub async fn conversation(&self, id: Uuid) -> Result<Option<Conversation>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<ConversationRow<D::Id>> = sqlx::query_as(sql::CONVERSATION)
                .bind(D::id(id))
                .fetch_optional(c)
                .await?;
            row::convert_one(row)
        })
    }

    /// Stores (committed) the customer's message. `Conflict` when the conversation is resolved,
    /// `Invalid` when the text is blank.
    pub async fn append_customer_message(
        &self,
        conversation_id: Uuid,
        text: &str,
    ) -> Result<Message, StoreError> {
        check::check_text(text, "message text")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let seq = on!(&mut tx, D, c => {
            sqlx::query_scalar::<_, i64>(sql::NEXT_SEQ)
                .bind(D::id(conversation_id))
                .bind(D::ts(now))
                .fetch_optional(c)
                .await?
        });
        let Some(seq) = seq else {
            let status = status_of(&mut tx, conversation_id).await?;
            return Err(check::message_refused(conversation_id, status));
        };
        let insert = MessageInsert::plain(conversation_id, seq, Role::Customer, text, now);
        let message = insert_message(&mut tx, insert).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Stores one bot turn in one transaction: the bot message (when `reply` is Some), the new
    /// status and dialogue state, and the ticket (when `handoff` is Some). On any error nothing
    /// is stored. `Conflict` when the conversation is resolved, or when a person has it and the
    /// turn would speak, hand off or change the status.
    pub async fn record_bot_turn(
        &self,
        conversation_id: Uuid,
        turn: BotTurnRecord,
    ) -> Result<(Option<Message>, Option<Handoff>), StoreError> {
        check::check_bot_turn(&turn)?;
        let mut tx = self.pool.begin_write().await?;
        let stored = self
            .store_turn(&mut tx, conversation_id, &turn, None, now())
            .await?;
        tx.commit().await?;
        Ok((stored.reply, stored.handoff))
    }

    /// One customer turn in one transaction: the customer message (seq n+1, with its
    /// client_message_id and outcome), then exactly what [`Store::record_bot_turn`] does (the
    /// reply at n+2). Nothing is stored on error. Errors: `Stale`, `Conflict`, `NotFound` as for
    /// a bot turn, and `DuplicateClientMessage` when the conversation already has this
    /// client_message_id (also for the loser of two copies racing).
    pub async fn record_customer_turn(
        &self,
        conversation_id: Uuid,
        turn: CustomerTurnRecord,
    ) -> Result<StoredTurn, StoreError> {
        check::check_customer_turn(&turn)?;
        let mut tx = self.pool.begin_write().await?;
        let stored = self
            .store_turn(&mut tx, conversation_id, &turn.bot, Some(&turn), now())
            .await?;
        tx.commit().await?;
        let message = stored
            .customer
            .expect("a customer turn stores the customer's message (this is a bug)");
        Ok(StoredTurn {
            message,
            reply: stored.reply,
            handoff: stored.handoff,
        })
    }

    /// The stored turn of a client_message_id: the customer message, the bot message that
    /// directly follows it in the same turn (if any) and the ticket opened at that turn (if any).
    pub async fn turn_by_client_message_id(
        &self,
        conversation_id: Uuid,
        client_message_id: &str,
    ) -> Result<Option<StoredTurn>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<MessageRow<D::Id>> = sqlx::query_as(sql::MESSAGE_BY_CLIENT_ID)
                .bind(D::id(conversation_id))
                .bind(client_message_id)
                .fetch_optional(&mut *c)
                .await?;
            let Some(message) = row::convert_one::<_, Message>(row)? else {
                return Ok(None);
            };
            // The turn's reply and ticket were written in its transaction, at its time.
            let reply: Option<MessageRow<D::Id>> = sqlx::query_as(sql::TURN_REPLY)
                .bind(D::id(conversation_id))
                .bind(message.seq + 1)
                .bind(D::ts(message.created_at))
                .fetch_optional(&mut *c)
                .await?;
            let handoff: Option<HandoffRow<D::Id>> = sqlx::query_as(sql::HANDOFF_OPENED_AT)
                .bind(D::id(conversation_id))
                .bind(D::ts(message.created_at))
                .fetch_optional(&mut *c)
                .await?;
            Ok(Some(StoredTurn {
                message,
                reply: row::convert_one(reply)?,
                handoff: row::convert_one(handoff)?,
            }))
        })
    }

    /// The transcript, by seq (empty for an unknown conversation).
    pub async fn messages(&self, conversation_id: Uuid) -> Result<Vec<Message>, StoreError> {
        self.messages_after(conversation_id, 0).await
    }

    /// Messages with a seq above `seq`, by seq: poll with the last seq seen for live delivery.
    pub async fn messages_after(
        &self,
        conversation_id: Uuid,
        seq: i64,
    ) -> Result<Vec<Message>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<MessageRow<D::Id>> = sqlx::query_as(sql::MESSAGES_AFTER)
                .bind(D::id(conversation_id))
                .bind(seq)
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    /// Records "did this help?" on a bot message of the conversation (a second call replaces it).
    /// `NotFound` when the message is not the conversation's; `Invalid` when it is not the bot's.
    pub async fn set_feedback(
        &self,
        conversation_id: Uuid,
        message_id: Uuid,
        helpful: bool,
        comment: Option<String>,
    ) -> Result<Message, StoreError> {
        check::check_no_nul(comment.as_deref(), "comment")?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<MessageRow<D::Id>> = sqlx::query_as(sql::SET_FEEDBACK)
                .bind(D::id(conversation_id))
                .bind(D::id(message_id))
                .bind(helpful)
                .bind(comment.as_deref())
                .bind(D::ts(now()))
                .fetch_optional(&mut *c)
                .await?;
            if let Some(row) = row {
                return row.try_into();
            }
            let role: Option<String> = sqlx::query_scalar(sql::MESSAGE_ROLE)
                .bind(D::id(conversation_id))
                .bind(D::id(message_id))
                .fetch_optional(&mut *c)
                .await?;
            Err(feedback_refused(message_id, role))
        })
    }

    /// Records the customer's satisfaction (1–5, else `Invalid`); allowed after resolution.
    pub async fn set_csat(
        &self,
        conversation_id: Uuid,
        score: u8,
        comment: Option<String>,
    ) -> Result<Conversation, StoreError> {
        check::check_csat(score)?;
        check::check_no_nul(comment.as_deref(), "comment")?;
        let mut conn = self.pool.conn().await?;
        let conversation = on!(&mut conn, D, c => {
            let row: Option<ConversationRow<D::Id>> = sqlx::query_as(sql::SET_CSAT)
                .bind(D::id(conversation_id))
                .bind(i32::from(score))
                .bind(comment.as_deref())
                .bind(D::ts(now()))
                .fetch_optional(c)
                .await?;
            row::convert_one(row)?
        });
        conversation.ok_or_else(|| StoreError::not_found("conversation", conversation_id))
    }

    /// Ends the conversation (the customer is done): status `resolved`, first-contact resolution
    /// recorded, open tickets closed with the code `conversation_resolved`. Idempotent.
    pub async fn resolve_conversation(
        &self,
        conversation_id: Uuid,
    ) -> Result<Conversation, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let resolved = self
            .finish_conversation(&mut tx, conversation_id, now())
            .await?;
        let conversation = match resolved {
            Some(conversation) => conversation,
            // Already resolved (ending twice is harmless) or missing.
            None => on!(&mut tx, D, c => {
                let row: Option<ConversationRow<D::Id>> = sqlx::query_as(sql::CONVERSATION)
                    .bind(D::id(conversation_id))
                    .fetch_optional(c)
                    .await?;
                row::convert_one(row)?
            })
            .ok_or_else(|| StoreError::not_found("conversation", conversation_id))?,
        };
        tx.commit().await?;
        Ok(conversation)
    }
}

/// What a turn stored.
struct TurnWrites {
    customer: Option<Message>,
    reply: Option<Message>,
    handoff: Option<Handoff>,
}

impl Store {
    /// The writes of one turn, inside `tx`: the seqs, status and dialogue state under the
    /// conversation's guard, then the customer's message (customer turns), the reply, the ticket
    /// and its outbox event.
    async fn store_turn(
        &self,
        tx: &mut Tx,
        conversation_id: Uuid,
        turn: &BotTurnRecord,
        customer: Option<&CustomerTurnRecord>,
        now: DateTime<Utc>,
    ) -> Result<TurnWrites, StoreError> {
        let last_seq = on!(&mut *tx, D, c => {
            sqlx::query_scalar::<_, i64>(sql::TURN)
                .bind(D::id(conversation_id))
                .bind(turn.new_status.as_str())
                .bind(Json(&turn.dialogue_state))
                .bind(D::ts(now))
                .bind(turn.reply.is_some())
                .bind(turn.handoff.is_some())
                .bind(turn.expected_version)
                .bind(i64::from(customer.is_some()))
                .fetch_optional(c)
                .await?
        });
        let client_message_id = customer.and_then(|c| c.client_message_id.as_deref());
        let Some(last_seq) = last_seq else {
            let why = turn_refused(tx, conversation_id, turn, client_message_id).await?;
            return Err(why);
        };
        let reply_seq = last_seq;
        let customer = match customer {
            Some(record) => {
                let seq = last_seq - i64::from(turn.reply.is_some());
                let insert = MessageInsert {
                    client_message_id,
                    outcome: Some(&record.outcome),
                    ..MessageInsert::plain(conversation_id, seq, Role::Customer, &record.text, now)
                };
                Some(insert_message(tx, insert).await?)
            }
            None => None,
        };
        let reply = match &turn.reply {
            Some(text) => {
                let insert = MessageInsert::bot(conversation_id, reply_seq, text, turn, now);
                Some(insert_message(tx, insert).await?)
            }
            None => None,
        };
        let handoff = match &turn.handoff {
            Some(new) => Some(self.open_ticket(tx, conversation_id, new, now).await?),
            None => None,
        };
        Ok(TurnWrites {
            customer,
            reply,
            handoff,
        })
    }

    /// Inserts the ticket a turn opens, and its `handoff.opened` event.
    async fn open_ticket(
        &self,
        tx: &mut Tx,
        conversation_id: Uuid,
        new: &NewHandoff,
        now: DateTime<Utc>,
    ) -> Result<Handoff, StoreError> {
        let handoff = on!(&mut *tx, D, c => {
            let row: HandoffRow<D::Id> = sqlx::query_as(sql::INSERT_HANDOFF)
                .bind(D::id(Uuid::new_v4()))
                .bind(D::id(conversation_id))
                .bind(new.reason.as_str())
                .bind(new.intent.as_ref().map(IntentName::as_str))
                .bind(new.locale.as_str())
                .bind(Json(&new.summary))
                .bind(D::ts(now))
                .fetch_one(c)
                .await
                .map_err(|e| {
                    StoreError::from_write(
                        e,
                        "handoff ticket (one open ticket per conversation; \
                         non-empty reason and locale)",
                    )
                })?;
            Handoff::try_from(row)?
        });
        if self.outbox {
            write_outbox(tx, HANDOFF_OPENED, handoff.id, conversation_id, now).await?;
        }
        Ok(handoff)
    }

    /// Resolves the conversation (None when it is already resolved or missing), records
    /// first-contact resolution, closes its other open tickets (and writes their
    /// `handoff.resolved` events).
    pub(super) async fn finish_conversation(
        &self,
        tx: &mut Tx,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<Conversation>, StoreError> {
        let finished = on!(&mut *tx, D, c => {
            let row: Option<ConversationRow<D::Id>> = sqlx::query_as(sql::RESOLVE_CONVERSATION)
                .bind(D::id(id))
                .bind(D::ts(now))
                .fetch_optional(&mut *c)
                .await?;
            match row {
                None => None,
                Some(row) => {
                    let closed: Vec<D::Id> = sqlx::query_scalar(sql::CLOSE_TICKETS)
                        .bind(D::id(id))
                        .bind(D::ts(now))
                        .bind(CONVERSATION_RESOLVED)
                        .fetch_all(&mut *c)
                        .await?;
                    let closed: Vec<Uuid> = closed.into_iter().map(D::uuid).collect();
                    Some((Conversation::try_from(row)?, closed))
                }
            }
        });
        let Some((conversation, closed)) = finished else {
            return Ok(None);
        };
        if self.outbox {
            for ticket in closed {
                write_outbox(tx, HANDOFF_RESOLVED, ticket, id, now).await?;
            }
        }
        Ok(Some(conversation))
    }
}

/// Why a turn's guarded update touched no row. A duplicate is reported before staleness: the
/// first copy of a resend has changed the version.
async fn turn_refused(
    tx: &mut Tx,
    conversation_id: Uuid,
    turn: &BotTurnRecord,
    client_message_id: Option<&str>,
) -> Result<StoreError, StoreError> {
    let (duplicate, version) = on!(&mut *tx, D, c => {
        let duplicate = match client_message_id {
            Some(client_id) => sqlx::query_scalar::<_, D::Id>(sql::MESSAGE_ID_BY_CLIENT_ID)
                .bind(D::id(conversation_id))
                .bind(client_id)
                .fetch_optional(&mut *c)
                .await?
                .is_some(),
            None => false,
        };
        let version: Option<i64> = sqlx::query_scalar(sql::CONVERSATION_VERSION)
            .bind(D::id(conversation_id))
            .fetch_optional(&mut *c)
            .await?;
        (duplicate, version)
    });
    if duplicate {
        return Ok(StoreError::DuplicateClientMessage);
    }
    if let (Some(expected), Some(version)) = (turn.expected_version, version) {
        if expected != version {
            return Ok(StoreError::Stale {
                id: conversation_id,
            });
        }
    }
    let status = status_of(tx, conversation_id).await?;
    Ok(check::bot_turn_refused(conversation_id, status))
}

fn feedback_refused(message_id: Uuid, role: Option<String>) -> StoreError {
    match role {
        Some(role) => StoreError::Invalid(format!(
            "feedback is for the bot's messages; this one is the {role}'s"
        )),
        None => StoreError::not_found("message", message_id),
    }
}

pub(super) async fn status_of(
    tx: &mut Tx,
    id: Uuid,
) -> Result<Option<ConversationStatus>, StoreError> {
    let status: Option<String> = on!(tx, D, c => {
        sqlx::query_scalar(sql::CONVERSATION_STATUS)
            .bind(D::id(id))
            .fetch_optional(c)
            .await?
    });
    status
        .map(|s| {
            ConversationStatus::parse(&s)
                .ok_or_else(|| StoreError::corrupt(format!("conversation status {s:?} of {id}")))
        })
        .transpose()
}

/// A message to insert (the columns all kinds of message share).
pub(super) struct MessageInsert<'a> {
    pub conversation_id: Uuid,
    pub seq: i64,
    pub role: Role,
    pub text: &'a str,
    pub created_at: DateTime<Utc>,
    pub intent: Option<&'a str>,
    pub confidence: Option<f64>,
    pub action: Option<BotAction>,
    pub reason: Option<&'a str>,
    pub alternatives: Option<&'a Value>,
    pub quick_replies: Option<&'a Value>,
    pub agent_id: Option<&'a str>,
    pub client_message_id: Option<&'a str>,
    pub outcome: Option<&'a Value>,
}

impl<'a> MessageInsert<'a> {
    pub fn plain(
        conversation_id: Uuid,
        seq: i64,
        role: Role,
        text: &'a str,
        created_at: DateTime<Utc>,
    ) -> Self {
        MessageInsert {
            conversation_id,
            seq,
            role,
            text,
            created_at,
            intent: None,
            confidence: None,
            action: None,
            reason: None,
            alternatives: None,
            quick_replies: None,
            agent_id: None,
            client_message_id: None,
            outcome: None,
        }
    }

    fn bot(
        conversation_id: Uuid,
        seq: i64,
        text: &'a str,
        turn: &'a BotTurnRecord,
        created_at: DateTime<Utc>,
    ) -> Self {
        MessageInsert {
            intent: turn.intent.as_deref(),
            confidence: turn.confidence.map(f64::from),
            action: Some(turn.action),
            reason: turn.reason.map(TurnKind::as_str),
            alternatives: turn.alternatives.as_ref(),
            quick_replies: turn.quick_replies.as_ref(),
            ..MessageInsert::plain(conversation_id, seq, Role::Bot, text, created_at)
        }
    }
}

/// Inserts a message; a second copy of a client_message_id is `DuplicateClientMessage`.
pub(super) async fn insert_message(
    tx: &mut Tx,
    m: MessageInsert<'_>,
) -> Result<Message, StoreError> {
    on!(tx, D, c => {
        let row: MessageRow<D::Id> = sqlx::query_as(sql::INSERT_MESSAGE)
            .bind(D::id(Uuid::new_v4()))
            .bind(D::id(m.conversation_id))
            .bind(m.seq)
            .bind(m.role.as_str())
            .bind(m.text)
            .bind(D::ts(m.created_at))
            .bind(m.intent)
            .bind(m.confidence)
            .bind(m.action.map(BotAction::as_str))
            .bind(m.reason)
            .bind(m.alternatives.map(Json))
            .bind(m.quick_replies.map(Json))
            .bind(m.agent_id)
            .bind(m.client_message_id)
            .bind(m.outcome.map(Json))
            .fetch_one(c)
            .await
            .map_err(|e| match e.as_database_error().map(|d| d.kind()) {
                Some(sqlx::error::ErrorKind::UniqueViolation) if m.client_message_id.is_some() => {
                    StoreError::DuplicateClientMessage
                }
                _ => StoreError::Database(e),
            })?;
        row.try_into()
    })
}
