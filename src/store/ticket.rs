//! Handoff tickets: the queue, claiming, an agent's replies, handing back, resolving, and the
//! agents' private notes.
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::check::{self, now};
use super::conversation::{insert_message, MessageInsert};
use super::dialect::{on, Tx};
use super::error::StoreError;
use super::model::{
    ConversationStatus, Handoff, HandoffFilter, HandoffStatus, Message, Note, Role,
};
use super::outbox::{write_outbox, HANDOFF_RESOLVED};
use super::row::{self, HandoffRow, NoteRow};
use super::{sql, Store};
use crate::domain::{IntentName, Locale};

impl Store {
    /// Tickets matching `filter`, oldest first.
    pub async fn list_handoffs(&self, filter: &HandoffFilter) -> Result<Vec<Handoff>, StoreError> {
        let limit = check::limit(filter.limit)?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<HandoffRow<D::Id>> = sqlx::query_as(sql::LIST_HANDOFFS)
                .bind(filter.status.map(HandoffStatus::as_str))
                .bind(filter.intent.as_ref().map(IntentName::as_str))
                .bind(filter.locale.as_ref().map(Locale::as_str))
                .bind(limit)
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    pub async fn handoff(&self, id: Uuid) -> Result<Option<Handoff>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<HandoffRow<D::Id>> = sqlx::query_as(sql::HANDOFF)
                .bind(D::id(id))
                .fetch_optional(c)
                .await?;
            row::convert_one(row)
        })
    }

    /// All tickets of a conversation, oldest first (the open one, if any, is the last).
    pub async fn conversation_handoffs(
        &self,
        conversation_id: Uuid,
    ) -> Result<Vec<Handoff>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<HandoffRow<D::Id>> = sqlx::query_as(sql::CONVERSATION_HANDOFFS)
                .bind(D::id(conversation_id))
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    /// 1-based place of a waiting ticket in the queue (oldest first); None when it is not waiting.
    /// `NotFound` for an unknown ticket.
    pub async fn queue_position(&self, id: Uuid) -> Result<Option<u32>, StoreError> {
        let mut conn = self.pool.conn().await?;
        let row: Option<(String, i64)> = on!(&mut conn, D, c => {
            sqlx::query_as(sql::QUEUE_POSITION)
                .bind(D::id(id))
                .fetch_optional(c)
                .await?
        });
        match row {
            None => Err(StoreError::not_found("handoff", id)),
            Some((status, position)) if status == HandoffStatus::Waiting.as_str() => {
                Ok(Some(u32::try_from(position).unwrap_or(u32::MAX)))
            }
            Some(_) => Ok(None),
        }
    }

    /// Tickets waiting for a person.
    pub async fn waiting_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.conn().await?;
        let n: i64 = on!(&mut conn, D, c => {
            sqlx::query_scalar(sql::WAITING_COUNT).fetch_one(c).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Takes a waiting (or returned) ticket; the conversation goes to `agent`. Atomic: of
    /// concurrent claims exactly one succeeds, the others get `Conflict`.
    pub async fn claim(&self, id: Uuid, agent_id: &str) -> Result<Handoff, StoreError> {
        check::check_code(agent_id, "agent id")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        // Conditional on the status: of two agents claiming at once, the second finds the
        // ticket claimed (PostgreSQL re-checks the condition after the first commits).
        let row = on!(&mut tx, D, c => {
            let row: Option<HandoffRow<D::Id>> = sqlx::query_as(sql::CLAIM)
                .bind(D::id(id))
                .bind(agent_id)
                .bind(D::ts(now))
                .fetch_optional(c)
                .await
                .map_err(|e| {
                    StoreError::from_write(e, "the conversation has another open handoff")
                })?;
            row::convert_one::<_, Handoff>(row)?
        });
        let Some(handoff) = row else {
            let ticket = ticket_of(&mut tx, id).await?;
            return Err(check::claim_refused(id, ticket));
        };
        set_status(
            &mut tx,
            handoff.conversation_id,
            ConversationStatus::Agent,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(handoff)
    }

    /// An agent's message on a ticket they have claimed (else `Conflict`).
    pub async fn agent_reply(
        &self,
        id: Uuid,
        agent_id: &str,
        text: &str,
    ) -> Result<Message, StoreError> {
        check::check_code(agent_id, "agent id")?;
        check::check_text(text, "message text")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let next = on!(&mut tx, D, c => {
            sqlx::query_as::<_, (D::Id, i64)>(sql::AGENT_NEXT_SEQ)
                .bind(D::id(id))
                .bind(agent_id)
                .bind(D::ts(now))
                .fetch_optional(c)
                .await?
                .map(|(conversation_id, seq)| (D::uuid(conversation_id), seq))
        });
        let Some((conversation_id, seq)) = next else {
            let ticket = ticket_of(&mut tx, id).await?;
            return Err(check::ticket_refused(id, ticket, agent_id));
        };
        let insert = MessageInsert {
            agent_id: Some(agent_id),
            ..MessageInsert::plain(conversation_id, seq, Role::Agent, text, now)
        };
        let message = insert_message(&mut tx, insert).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Gives the conversation back to the bot: ticket `returned`, conversation `bot`. Only by the
    /// agent who claimed it.
    pub async fn hand_back(&self, id: Uuid, agent_id: &str) -> Result<Handoff, StoreError> {
        check::check_code(agent_id, "agent id")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let handoff = agent_update(&mut tx, sql::HAND_BACK, id, agent_id, now, None).await?;
        set_status(
            &mut tx,
            handoff.conversation_id,
            ConversationStatus::Bot,
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(handoff)
    }

    /// Closes a claimed ticket with a resolution code and resolves its conversation (as
    /// [`Store::resolve_conversation`] does). Only by the agent who claimed it.
    pub async fn resolve(
        &self,
        id: Uuid,
        agent_id: &str,
        resolution_code: &str,
    ) -> Result<Handoff, StoreError> {
        check::check_code(agent_id, "agent id")?;
        check::check_code(resolution_code, "resolution code")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let code = Some(resolution_code);
        let handoff = agent_update(&mut tx, sql::RESOLVE_HANDOFF, id, agent_id, now, code).await?;
        if self.outbox {
            write_outbox(&mut tx, HANDOFF_RESOLVED, id, handoff.conversation_id, now).await?;
        }
        self.finish_conversation(&mut tx, handoff.conversation_id, now)
            .await?;
        tx.commit().await?;
        Ok(handoff)
    }

    /// Adds a private note to a ticket (any agent may; not part of the transcript). `NotFound`
    /// for an unknown ticket.
    pub async fn add_note(
        &self,
        handoff_id: Uuid,
        agent_id: &str,
        text: &str,
    ) -> Result<Note, StoreError> {
        check::check_code(agent_id, "agent id")?;
        check::check_text(text, "note text")?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: NoteRow<D::Id> = sqlx::query_as(sql::INSERT_NOTE)
                .bind(D::id(Uuid::new_v4()))
                .bind(D::id(handoff_id))
                .bind(agent_id)
                .bind(text)
                .bind(D::ts(now()))
                .fetch_one(c)
                .await
                .map_err(|e| StoreError::from_reference(e, "handoff", handoff_id, "note"))?;
            row.try_into()
        })
    }

    /// A ticket's notes, oldest first (empty for an unknown ticket).
    pub async fn notes(&self, handoff_id: Uuid) -> Result<Vec<Note>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<NoteRow<D::Id>> = sqlx::query_as(sql::NOTES)
                .bind(D::id(handoff_id))
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }
}

/// Runs an agent's guarded update of a claimed ticket (`$1` id, `$2` agent, `$3` now, `$4` the
/// resolution code for `RESOLVE_HANDOFF`); when it touches no row, says why.
async fn agent_update(
    tx: &mut Tx,
    statement: &'static str,
    id: Uuid,
    agent_id: &str,
    now: DateTime<Utc>,
    resolution_code: Option<&str>,
) -> Result<Handoff, StoreError> {
    let row = on!(&mut *tx, D, c => {
        let mut query = sqlx::query_as::<_, HandoffRow<D::Id>>(statement)
            .bind(D::id(id))
            .bind(agent_id)
            .bind(D::ts(now));
        if let Some(code) = resolution_code {
            query = query.bind(code);
        }
        row::convert_one::<_, Handoff>(query.fetch_optional(c).await?)?
    });
    match row {
        Some(handoff) => Ok(handoff),
        None => {
            let ticket = ticket_of(tx, id).await?;
            Err(check::ticket_refused(id, ticket, agent_id))
        }
    }
}

async fn ticket_of(tx: &mut Tx, id: Uuid) -> Result<Option<Handoff>, StoreError> {
    on!(tx, D, c => {
        let row: Option<HandoffRow<D::Id>> = sqlx::query_as(sql::HANDOFF)
            .bind(D::id(id))
            .fetch_optional(c)
            .await?;
        row::convert_one(row)
    })
}

async fn set_status(
    tx: &mut Tx,
    conversation_id: Uuid,
    status: ConversationStatus,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    on!(tx, D, c => {
        sqlx::query(sql::SET_STATUS)
            .bind(D::id(conversation_id))
            .bind(status.as_str())
            .bind(D::ts(now))
            .execute(c)
            .await?;
    });
    Ok(())
}
