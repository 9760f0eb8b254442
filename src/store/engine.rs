//! The store's logic, written once for both dialects.
//!
//! [`engine!`] expands, inside `sqlite.rs` and `postgres.rs`, into an `Engine` over that dialect's
//! pool. The expansion relies on what each dialect module defines beside it:
//!
//! - `Uuid` and `StoreError` in scope;
//! - `type Db` (the sqlx database) and `type DbId` with `fn db_id(Uuid) -> DbId` (how an id is
//!   bound and decoded), `type DbTs` with `fn db_ts(DateTime<Utc>) -> DbTs` (how a time is bound);
//! - `async fn begin_write(&Pool<Db>)` (a transaction that takes the write lock up front);
//! - `mod q`: the dialect's SQL, one constant per statement, with the same names in both files.
//!
//! So the SQL sits side by side in the two dialect files while the Rust around it (validation,
//! transactions, diagnosing why an update touched no row) exists once. Everything that must hold
//! across replicas is decided by the database: sequence numbers are taken under the
//! conversation's row lock, a claim is a conditional `UPDATE`, queue positions are counted in SQL.
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::error::StoreError;
use super::model::{
    BotAction, BotTurnRecord, ConversationStatus, Handoff, HandoffFilter, HandoffStatus,
    IntentActions, Kpis, Role,
};
use super::row::{ConversationKpiRow, FeedbackKpiRow, IntentKpiRow, TicketKpiRow};

/// Default and maximum page size of `list_handoffs`.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;
/// Longest agent id or code we accept (they are identifiers, not prose).
const MAX_CODE_LEN: usize = 200;

/// The current time at the precision both dialects store (microseconds), so a record read back
/// equals the one returned when it was written.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A message to insert (the columns both kinds of message share).
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
        }
    }

    pub fn bot(
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
            reason: turn.reason.as_deref(),
            alternatives: turn.alternatives.as_ref(),
            quick_replies: turn.quick_replies.as_ref(),
            ..MessageInsert::plain(conversation_id, seq, Role::Bot, text, created_at)
        }
    }
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
    let is_hex = token_sha256.len() == 64
        && token_sha256
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !is_hex {
        return Err(StoreError::Invalid(
            "token_sha256 must be 64 lowercase hex characters".into(),
        ));
    }
    Ok(())
}

/// What can be checked without the database. (A ticket's reason and locale are left to the
/// database's constraints, which roll the whole turn back.)
pub(super) fn check_bot_turn(turn: &BotTurnRecord) -> Result<(), StoreError> {
    if let Some(reply) = &turn.reply {
        check_text(reply, "reply")?;
    }
    check_no_nul(turn.intent.as_deref(), "intent")?;
    check_no_nul(turn.reason.as_deref(), "reason")?;
    check_json(Some(&turn.dialogue_state), "dialogue state")?;
    check_json(turn.alternatives.as_ref(), "alternatives")?;
    check_json(turn.quick_replies.as_ref(), "quick replies")?;
    if let Some(h) = &turn.handoff {
        check_no_nul(Some(&h.reason), "handoff reason")?;
        check_no_nul(h.intent.as_deref(), "handoff intent")?;
        check_no_nul(Some(&h.locale), "handoff locale")?;
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

pub(super) fn limit(filter: &HandoffFilter) -> Result<i64, StoreError> {
    match filter.limit.unwrap_or(DEFAULT_LIMIT) {
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

/// Resolution code given to a conversation's other open tickets when it is resolved.
pub(super) const CONVERSATION_RESOLVED: &str = "conversation_resolved";

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Assembles the KPIs from the aggregates the dialect's SQL computed.
pub(super) fn kpis(
    since: Option<DateTime<Utc>>,
    conv: ConversationKpiRow,
    tickets: TicketKpiRow,
    intents: Vec<IntentKpiRow>,
    feedback: FeedbackKpiRow,
) -> Kpis {
    let conversations = count(conv.conversations);
    let contained = count(conv.contained);
    let handoffs = count(conv.handed_off);
    let mut answers_by_intent: Vec<IntentActions> = intents
        .into_iter()
        .map(|r| IntentActions {
            intent: r.intent,
            answers: count(r.answers),
            clarifies: count(r.clarifies),
            handoffs: count(r.handoffs),
        })
        .collect();
    // Sorted here, not in SQL: collations differ between the dialects (and PostgreSQL servers).
    answers_by_intent.sort_by(|a, b| match (&a.intent, &b.intent) {
        (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
        // Named intents first, the unnamed (out-of-scope) group last.
        (a, b) => a.is_none().cmp(&b.is_none()),
    });
    Kpis {
        since,
        conversations,
        contained,
        handoffs,
        tickets: count(tickets.tickets),
        handoff_rate: ratio(handoffs, conversations),
        containment_rate: ratio(contained, conversations),
        csat_average: conv.csat_average,
        csat_responses: count(conv.csat_responses),
        first_contact_resolution_rate: ratio(count(conv.fcr_yes), count(conv.fcr_known)),
        mean_time_to_resolution_seconds: conv.mean_resolution_seconds,
        mean_time_to_claim_seconds: tickets.mean_claim_seconds,
        answers_by_intent,
        helpful_rate: ratio(count(feedback.helpful), count(feedback.responses)),
        feedback_responses: count(feedback.responses),
    }
}

/// Expands into the dialect's `Engine` (see the module docs for what it needs in scope).
macro_rules! engine {
    () => {
        use sqlx::types::Json;
        use $crate::store::engine as shared;
        use $crate::store::model::*;
        use $crate::store::row::{self, ConversationRow, HandoffRow, MessageRow};

        type Conn = <Db as sqlx::Database>::Connection;

        /// The store over one dialect's connection pool.
        #[derive(Clone)]
        pub(super) struct Engine {
            pool: sqlx::Pool<Db>,
        }

        impl Engine {
            pub(super) async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query(q::PING).execute(&self.pool).await?;
                Ok(())
            }

            pub(super) async fn close(&self) {
                self.pool.close().await;
            }

            pub(super) async fn create_conversation(
                &self,
                new: NewConversation,
            ) -> Result<Conversation, StoreError> {
                shared::check_new_conversation(
                    new.locale.as_deref(),
                    new.customer.as_ref(),
                    &new.token_sha256,
                )?;
                let row: ConversationRow<DbId> = sqlx::query_as(q::INSERT_CONVERSATION)
                    .bind(db_id(Uuid::new_v4()))
                    .bind(new.locale)
                    .bind(new.customer.map(Json))
                    .bind(new.token_sha256)
                    .bind(Json(serde_json::json!({})))
                    .bind(db_ts(shared::now()))
                    .fetch_one(&self.pool)
                    .await?;
                row.try_into()
            }

            pub(super) async fn conversation(
                &self,
                id: Uuid,
            ) -> Result<Option<Conversation>, StoreError> {
                let row: Option<ConversationRow<DbId>> = sqlx::query_as(q::CONVERSATION)
                    .bind(db_id(id))
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(Conversation::try_from).transpose()
            }

            pub(super) async fn append_customer_message(
                &self,
                conversation_id: Uuid,
                text: &str,
            ) -> Result<Message, StoreError> {
                shared::check_text(text, "message text")?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                let seq: Option<i64> = sqlx::query_scalar(q::NEXT_SEQ)
                    .bind(db_id(conversation_id))
                    .bind(db_ts(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(seq) = seq else {
                    let status = status_of(&mut tx, conversation_id).await?;
                    return Err(shared::message_refused(conversation_id, status));
                };
                let insert =
                    shared::MessageInsert::plain(conversation_id, seq, Role::Customer, text, now);
                let message = insert_message(&mut tx, insert).await?;
                tx.commit().await?;
                Ok(message)
            }

            pub(super) async fn record_bot_turn(
                &self,
                conversation_id: Uuid,
                turn: BotTurnRecord,
            ) -> Result<(Option<Message>, Option<Handoff>), StoreError> {
                shared::check_bot_turn(&turn)?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                // The status guard and the sequence number in one conditional update: the bot
                // may speak or hand off only while the conversation is the bot's.
                let seq: Option<i64> = sqlx::query_scalar(q::BOT_TURN)
                    .bind(db_id(conversation_id))
                    .bind(turn.new_status.as_str())
                    .bind(Json(&turn.dialogue_state))
                    .bind(db_ts(now))
                    .bind(turn.reply.is_some())
                    .bind(turn.handoff.is_some())
                    .bind(turn.expected_version)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(seq) = seq else {
                    let version: Option<i64> = sqlx::query_scalar(q::CONVERSATION_VERSION)
                        .bind(db_id(conversation_id))
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let (Some(expected), Some(version)) = (turn.expected_version, version) {
                        if expected != version {
                            return Err(StoreError::Stale {
                                id: conversation_id,
                            });
                        }
                    }
                    let status = status_of(&mut tx, conversation_id).await?;
                    return Err(shared::bot_turn_refused(conversation_id, status));
                };
                let message = match &turn.reply {
                    Some(text) => {
                        let insert =
                            shared::MessageInsert::bot(conversation_id, seq, text, &turn, now);
                        Some(insert_message(&mut tx, insert).await?)
                    }
                    None => None,
                };
                let handoff = match &turn.handoff {
                    Some(new) => {
                        let row: HandoffRow<DbId> = sqlx::query_as(q::INSERT_HANDOFF)
                            .bind(db_id(Uuid::new_v4()))
                            .bind(db_id(conversation_id))
                            .bind(&new.reason)
                            .bind(&new.intent)
                            .bind(&new.locale)
                            .bind(Json(&new.summary))
                            .bind(db_ts(now))
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(|e| {
                                StoreError::from_write(
                                    e,
                                    "handoff ticket (one open ticket per conversation; \
                                     non-empty reason and locale)",
                                )
                            })?;
                        Some(Handoff::try_from(row)?)
                    }
                    None => None,
                };
                tx.commit().await?;
                Ok((message, handoff))
            }

            pub(super) async fn messages(
                &self,
                conversation_id: Uuid,
            ) -> Result<Vec<Message>, StoreError> {
                self.messages_after(conversation_id, 0).await
            }

            pub(super) async fn messages_after(
                &self,
                conversation_id: Uuid,
                seq: i64,
            ) -> Result<Vec<Message>, StoreError> {
                let rows: Vec<MessageRow<DbId>> = sqlx::query_as(q::MESSAGES_AFTER)
                    .bind(db_id(conversation_id))
                    .bind(seq)
                    .fetch_all(&self.pool)
                    .await?;
                row::convert(rows)
            }

            pub(super) async fn set_feedback(
                &self,
                conversation_id: Uuid,
                message_id: Uuid,
                helpful: bool,
                comment: Option<String>,
            ) -> Result<Message, StoreError> {
                shared::check_no_nul(comment.as_deref(), "comment")?;
                let row: Option<MessageRow<DbId>> = sqlx::query_as(q::SET_FEEDBACK)
                    .bind(db_id(conversation_id))
                    .bind(db_id(message_id))
                    .bind(helpful)
                    .bind(comment)
                    .bind(db_ts(shared::now()))
                    .fetch_optional(&self.pool)
                    .await?;
                if let Some(row) = row {
                    return row.try_into();
                }
                let role: Option<String> = sqlx::query_scalar(q::MESSAGE_ROLE)
                    .bind(db_id(conversation_id))
                    .bind(db_id(message_id))
                    .fetch_optional(&self.pool)
                    .await?;
                Err(match role {
                    Some(role) => StoreError::Invalid(format!(
                        "feedback is for the bot's messages; this one is the {role}'s"
                    )),
                    None => StoreError::not_found("message", message_id),
                })
            }

            pub(super) async fn set_csat(
                &self,
                conversation_id: Uuid,
                score: u8,
                comment: Option<String>,
            ) -> Result<Conversation, StoreError> {
                shared::check_csat(score)?;
                shared::check_no_nul(comment.as_deref(), "comment")?;
                let row: Option<ConversationRow<DbId>> = sqlx::query_as(q::SET_CSAT)
                    .bind(db_id(conversation_id))
                    .bind(i32::from(score))
                    .bind(comment)
                    .bind(db_ts(shared::now()))
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(row) => row.try_into(),
                    None => Err(StoreError::not_found("conversation", conversation_id)),
                }
            }

            pub(super) async fn resolve_conversation(
                &self,
                conversation_id: Uuid,
            ) -> Result<Conversation, StoreError> {
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                let resolved = finish_conversation(&mut tx, conversation_id, now).await?;
                let conversation = match resolved {
                    Some(conversation) => conversation,
                    // Already resolved (ending twice is harmless) or missing.
                    None => {
                        let row: Option<ConversationRow<DbId>> = sqlx::query_as(q::CONVERSATION)
                            .bind(db_id(conversation_id))
                            .fetch_optional(&mut *tx)
                            .await?;
                        match row {
                            Some(row) => Conversation::try_from(row)?,
                            None => {
                                return Err(StoreError::not_found("conversation", conversation_id))
                            }
                        }
                    }
                };
                tx.commit().await?;
                Ok(conversation)
            }

            pub(super) async fn list_handoffs(
                &self,
                filter: &HandoffFilter,
            ) -> Result<Vec<Handoff>, StoreError> {
                let limit = shared::limit(filter)?;
                let rows: Vec<HandoffRow<DbId>> = sqlx::query_as(q::LIST_HANDOFFS)
                    .bind(filter.status.map(HandoffStatus::as_str))
                    .bind(filter.intent.as_deref())
                    .bind(filter.locale.as_deref())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                row::convert(rows)
            }

            pub(super) async fn handoff(&self, id: Uuid) -> Result<Option<Handoff>, StoreError> {
                let row: Option<HandoffRow<DbId>> = sqlx::query_as(q::HANDOFF)
                    .bind(db_id(id))
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(Handoff::try_from).transpose()
            }

            pub(super) async fn conversation_handoffs(
                &self,
                conversation_id: Uuid,
            ) -> Result<Vec<Handoff>, StoreError> {
                let rows: Vec<HandoffRow<DbId>> = sqlx::query_as(q::CONVERSATION_HANDOFFS)
                    .bind(db_id(conversation_id))
                    .fetch_all(&self.pool)
                    .await?;
                row::convert(rows)
            }

            pub(super) async fn queue_position(&self, id: Uuid) -> Result<Option<u32>, StoreError> {
                let row: Option<(String, i64)> = sqlx::query_as(q::QUEUE_POSITION)
                    .bind(db_id(id))
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    None => Err(StoreError::not_found("handoff", id)),
                    Some((status, position)) if status == HandoffStatus::Waiting.as_str() => {
                        Ok(Some(u32::try_from(position).unwrap_or(u32::MAX)))
                    }
                    Some(_) => Ok(None),
                }
            }

            pub(super) async fn waiting_count(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar(q::WAITING_COUNT)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            pub(super) async fn claim(
                &self,
                id: Uuid,
                agent_id: &str,
            ) -> Result<Handoff, StoreError> {
                shared::check_code(agent_id, "agent id")?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                // Conditional on the status: of two agents claiming at once, the second finds
                // the ticket claimed (PostgreSQL re-checks the condition after the first commits).
                let row: Option<HandoffRow<DbId>> = sqlx::query_as(q::CLAIM)
                    .bind(db_id(id))
                    .bind(agent_id)
                    .bind(db_ts(now))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(|e| {
                        StoreError::from_write(e, "the conversation has another open handoff")
                    })?;
                let Some(row) = row else {
                    let ticket = ticket_of(&mut tx, id).await?;
                    return Err(claim_refused(id, ticket));
                };
                let handoff = Handoff::try_from(row)?;
                sqlx::query(q::SET_STATUS)
                    .bind(db_id(handoff.conversation_id))
                    .bind(ConversationStatus::Agent.as_str())
                    .bind(db_ts(now))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(handoff)
            }

            pub(super) async fn agent_reply(
                &self,
                id: Uuid,
                agent_id: &str,
                text: &str,
            ) -> Result<Message, StoreError> {
                shared::check_code(agent_id, "agent id")?;
                shared::check_text(text, "message text")?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                let next: Option<(DbId, i64)> = sqlx::query_as(q::AGENT_NEXT_SEQ)
                    .bind(db_id(id))
                    .bind(agent_id)
                    .bind(db_ts(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((conversation_id, seq)) = next else {
                    let ticket = ticket_of(&mut tx, id).await?;
                    return Err(shared::ticket_refused(id, ticket, agent_id));
                };
                let insert = shared::MessageInsert {
                    agent_id: Some(agent_id),
                    ..shared::MessageInsert::plain(
                        conversation_id.into(),
                        seq,
                        Role::Agent,
                        text,
                        now,
                    )
                };
                let message = insert_message(&mut tx, insert).await?;
                tx.commit().await?;
                Ok(message)
            }

            pub(super) async fn hand_back(
                &self,
                id: Uuid,
                agent_id: &str,
            ) -> Result<Handoff, StoreError> {
                shared::check_code(agent_id, "agent id")?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                let row: Option<HandoffRow<DbId>> = sqlx::query_as(q::HAND_BACK)
                    .bind(db_id(id))
                    .bind(agent_id)
                    .bind(db_ts(now))
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    let ticket = ticket_of(&mut tx, id).await?;
                    return Err(shared::ticket_refused(id, ticket, agent_id));
                };
                let handoff = Handoff::try_from(row)?;
                sqlx::query(q::SET_STATUS)
                    .bind(db_id(handoff.conversation_id))
                    .bind(ConversationStatus::Bot.as_str())
                    .bind(db_ts(now))
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(handoff)
            }

            pub(super) async fn resolve(
                &self,
                id: Uuid,
                agent_id: &str,
                resolution_code: &str,
            ) -> Result<Handoff, StoreError> {
                shared::check_code(agent_id, "agent id")?;
                shared::check_code(resolution_code, "resolution code")?;
                let now = shared::now();
                let mut tx = begin_write(&self.pool).await?;
                let row: Option<HandoffRow<DbId>> = sqlx::query_as(q::RESOLVE_HANDOFF)
                    .bind(db_id(id))
                    .bind(agent_id)
                    .bind(db_ts(now))
                    .bind(resolution_code)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    let ticket = ticket_of(&mut tx, id).await?;
                    return Err(shared::ticket_refused(id, ticket, agent_id));
                };
                let handoff = Handoff::try_from(row)?;
                finish_conversation(&mut tx, handoff.conversation_id, now).await?;
                tx.commit().await?;
                Ok(handoff)
            }

            pub(super) async fn kpis(
                &self,
                since: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<Kpis, StoreError> {
                let at = since.map(db_ts);
                let conversations: row::ConversationKpiRow = sqlx::query_as(q::KPI_CONVERSATIONS)
                    .bind(&at)
                    .fetch_one(&self.pool)
                    .await?;
                let tickets: row::TicketKpiRow = sqlx::query_as(q::KPI_TICKETS)
                    .bind(&at)
                    .fetch_one(&self.pool)
                    .await?;
                let intents: Vec<row::IntentKpiRow> = sqlx::query_as(q::KPI_INTENTS)
                    .bind(&at)
                    .fetch_all(&self.pool)
                    .await?;
                let feedback: row::FeedbackKpiRow = sqlx::query_as(q::KPI_FEEDBACK)
                    .bind(&at)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(shared::kpis(
                    since,
                    conversations,
                    tickets,
                    intents,
                    feedback,
                ))
            }
        }

        async fn status_of(
            conn: &mut Conn,
            id: Uuid,
        ) -> Result<Option<ConversationStatus>, StoreError> {
            let status: Option<String> = sqlx::query_scalar(q::CONVERSATION_STATUS)
                .bind(db_id(id))
                .fetch_optional(&mut *conn)
                .await?;
            status
                .map(|s| {
                    ConversationStatus::parse(&s).ok_or_else(|| {
                        StoreError::corrupt(format!("conversation status {s:?} of {id}"))
                    })
                })
                .transpose()
        }

        async fn ticket_of(conn: &mut Conn, id: Uuid) -> Result<Option<Handoff>, StoreError> {
            let row: Option<HandoffRow<DbId>> = sqlx::query_as(q::HANDOFF)
                .bind(db_id(id))
                .fetch_optional(&mut *conn)
                .await?;
            row.map(Handoff::try_from).transpose()
        }

        fn claim_refused(id: Uuid, ticket: Option<Handoff>) -> StoreError {
            match ticket {
                None => StoreError::not_found("handoff", id),
                Some(t) if t.status == HandoffStatus::Resolved => {
                    StoreError::Conflict("the handoff is resolved".into())
                }
                Some(_) => StoreError::Conflict("the handoff is already claimed".into()),
            }
        }

        async fn insert_message(
            conn: &mut Conn,
            m: shared::MessageInsert<'_>,
        ) -> Result<Message, StoreError> {
            let row: MessageRow<DbId> = sqlx::query_as(q::INSERT_MESSAGE)
                .bind(db_id(Uuid::new_v4()))
                .bind(db_id(m.conversation_id))
                .bind(m.seq)
                .bind(m.role.as_str())
                .bind(m.text)
                .bind(db_ts(m.created_at))
                .bind(m.intent)
                .bind(m.confidence)
                .bind(m.action.map(BotAction::as_str))
                .bind(m.reason)
                .bind(m.alternatives.map(Json))
                .bind(m.quick_replies.map(Json))
                .bind(m.agent_id)
                .fetch_one(&mut *conn)
                .await?;
            row.try_into()
        }

        /// Resolves the conversation (None when it is already resolved or missing), records
        /// first-contact resolution, and closes its other open tickets.
        async fn finish_conversation(
            conn: &mut Conn,
            id: Uuid,
            now: chrono::DateTime<chrono::Utc>,
        ) -> Result<Option<Conversation>, StoreError> {
            let row: Option<ConversationRow<DbId>> = sqlx::query_as(q::RESOLVE_CONVERSATION)
                .bind(db_id(id))
                .bind(db_ts(now))
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            sqlx::query(q::CLOSE_TICKETS)
                .bind(db_id(id))
                .bind(db_ts(now))
                .bind(shared::CONVERSATION_RESOLVED)
                .execute(&mut *conn)
                .await?;
            Ok(Some(row.try_into()?))
        }
    };
}

pub(super) use engine;
