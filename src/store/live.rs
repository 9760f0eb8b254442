//! Live delivery: single-use stream tickets (how a browser opens a conversation's event stream
//! without putting its bearer token in a URL) and events between replicas (PostgreSQL
//! `LISTEN`/`NOTIFY`; SQLite serves one process, so there is nothing to relay).
use chrono::{DateTime, Utc};
use sqlx::postgres::PgListener;
use uuid::Uuid;

use super::check::{self, now};
use super::dialect::{on, ByDialect};
use super::error::StoreError;
use super::listener::Listener;
use super::{sql, Store};

impl Store {
    /// Stores a stream ticket of a conversation (short-lived, single-use; only its SHA-256, as
    /// lowercase hex, is stored). `NotFound` for an unknown conversation.
    pub async fn create_stream_ticket(
        &self,
        conversation_id: Uuid,
        ticket_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        check::check_sha256(ticket_sha256, "ticket_sha256")?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            sqlx::query(sql::INSERT_STREAM_TICKET)
                .bind(ticket_sha256)
                .bind(D::id(conversation_id))
                .bind(D::ts(expires_at))
                .execute(c)
                .await
                .map_err(|e| StoreError::from_reference(
                    e,
                    "conversation",
                    conversation_id,
                    "this stream ticket is already stored",
                ))?;
        });
        Ok(())
    }

    /// Deletes the ticket and returns its conversation, if it exists and has not expired (else
    /// None): of two consumers of one ticket, one gets it. Also deletes expired tickets.
    pub async fn consume_stream_ticket(
        &self,
        ticket_sha256: &str,
    ) -> Result<Option<Uuid>, StoreError> {
        let now = now();
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let conversation: Option<D::Id> = sqlx::query_scalar(sql::CONSUME_STREAM_TICKET)
                .bind(ticket_sha256)
                .bind(D::ts(now))
                .fetch_optional(&mut *c)
                .await?;
            sqlx::query(sql::DELETE_EXPIRED_STREAM_TICKETS)
                .bind(D::ts(now))
                .execute(&mut *c)
                .await?;
            Ok(conversation.map(D::uuid))
        })
    }

    /// Publishes `payload` on `channel` to every replica listening (PostgreSQL `pg_notify`,
    /// delivered when the surrounding statement commits); SQLite: nothing to do.
    pub async fn notify(&self, channel: &str, payload: &str) -> Result<(), StoreError> {
        if let ByDialect::Postgres(pool) = &self.pool {
            sqlx::query(sql::NOTIFY)
                .bind(channel)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// PostgreSQL: a listener on `channel`, on a connection of its own; SQLite: None.
    pub async fn listen(&self, channel: &str) -> Result<Option<Listener>, StoreError> {
        let ByDialect::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let mut inner = PgListener::connect_with(pool).await?;
        inner.listen(channel).await?;
        Ok(Some(Listener::new(inner)))
    }
}
