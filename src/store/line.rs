//! The LINE channel's durable state: webhook events as received (processed once, in order per
//! user, by whichever replica claims them), the link from a LINE user to their conversations with
//! how far each was relayed, and the outbox of LINE API calls (leased, retried, dead letters).
//!
//! The channel (`crate::channels::line`) owns what the rows mean; the store only keeps them
//! consistent: a relay moves a conversation's `relayed_seq` and writes its deliveries in one
//! transaction (compare-and-set, so two relayers never both write), and a user's events and
//! deliveries are claimed oldest first, one at a time.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use super::check::{self, now};
use super::dialect::on;
use super::error::StoreError;
use super::line_model::{
    LineDelivery, LineDeliveryStats, LineEvent, LineLink, NewLineDelivery, NewLineEvent,
};
use super::model::{Conversation, NewConversation};
use super::row::{self, ConversationRow};
use super::{sql, Store};
use crate::domain::Locale;

impl Store {
    /// Keeps received events in one transaction; redeliveries of a stored event are skipped.
    /// Returns how many were new.
    pub async fn record_line_events(&self, events: &[NewLineEvent]) -> Result<u64, StoreError> {
        for e in events {
            check::check_code(&e.webhook_event_id, "webhookEventId")?;
            check::check_json(Some(&e.event), "event")?;
        }
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let mut inserted = 0;
        for e in events {
            inserted += on!(&mut tx, D, c => {
                sqlx::query(sql::INSERT_LINE_EVENT)
                    .bind(&e.webhook_event_id)
                    .bind(e.user_id.as_deref())
                    .bind(&e.event_type)
                    .bind(Json(&e.event))
                    .bind(e.reply_token.as_deref())
                    .bind(e.reply_until.map(D::ts))
                    .bind(D::ts(now))
                    .execute(c)
                    .await?
                    .rows_affected()
            });
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// Claims up to `limit` events to process, leased for `lease`: each the oldest undone event
    /// of its user, due and not leased by anyone.
    pub async fn claim_line_events(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<LineEvent>, StoreError> {
        let (now, until) = lease_window(lease)?;
        let statement = match self.dialect() {
            "postgres" => sql::CLAIM_LINE_EVENTS_POSTGRES,
            _ => sql::CLAIM_LINE_EVENTS_SQLITE,
        };
        let mut tx = self.pool.begin_write().await?;
        let mut events: Vec<LineEvent> = on!(&mut tx, D, c => {
            let rows: Vec<LineEventRow> = sqlx::query_as(statement)
                .bind(D::ts(now))
                .bind(D::ts(until))
                .bind(i64::from(limit))
                .fetch_all(c)
                .await?;
            row::convert(rows)?
        });
        tx.commit().await?;
        events.sort_by_key(|e| e.seq);
        Ok(events)
    }

    /// The event is processed.
    pub async fn line_event_done(&self, seq: i64) -> Result<(), StoreError> {
        self.update_by_seq(sql::LINE_EVENT_DONE, seq, None, now(), "LINE event")
            .await
    }

    /// The event could not be processed now (the classifier is busy, the database failed): try
    /// again at `next_attempt_at`.
    pub async fn line_event_retry(
        &self,
        seq: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = check::error_text(error);
        self.update_by_seq(
            sql::LINE_EVENT_RETRY,
            seq,
            Some(&error),
            next_attempt_at,
            "LINE event",
        )
        .await
    }

    /// Events not processed yet.
    pub async fn line_events_pending(&self) -> Result<u64, StoreError> {
        let mut conn = self.pool.conn().await?;
        let n: i64 = on!(&mut conn, D, c => {
            sqlx::query_scalar(sql::LINE_EVENTS_PENDING).fetch_one(c).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The LINE user's newest conversation, whatever its status.
    pub async fn current_line_conversation(
        &self,
        user_id: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<ConversationRow<D::Id>> =
                sqlx::query_as(sql::CURRENT_LINE_CONVERSATION)
                    .bind(user_id)
                    .fetch_optional(c)
                    .await?;
            row::convert_one(row)
        })
    }

    /// Starts a conversation on the `line` channel for `user_id` (it becomes the user's current
    /// one) with `dialogue_state` (opaque, the dialogue layer's), in one transaction with its link.
    pub async fn start_line_conversation(
        &self,
        user_id: &str,
        new: NewConversation,
        dialogue_state: Value,
    ) -> Result<Conversation, StoreError> {
        check::check_code(user_id, "LINE user id")?;
        check::check_new_conversation(
            new.locale.as_deref(),
            new.customer.as_ref(),
            &new.token_sha256,
        )?;
        check::check_json(Some(&dialogue_state), "dialogue state")?;
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        let conversation: Conversation = on!(&mut tx, D, c => {
            let row: ConversationRow<D::Id> = sqlx::query_as(sql::INSERT_LINE_CONVERSATION)
                .bind(D::id(Uuid::new_v4()))
                .bind(new.locale.as_ref().map(Locale::as_str))
                .bind(new.customer.as_ref().map(Json))
                .bind(&new.token_sha256)
                .bind(Json(&dialogue_state))
                .bind(D::ts(now))
                .fetch_one(&mut *c)
                .await?;
            let conversation: Conversation = row.try_into()?;
            sqlx::query(sql::INSERT_LINE_LINK)
                .bind(D::id(conversation.id))
                .bind(user_id)
                .bind(D::ts(now))
                .execute(&mut *c)
                .await?;
            conversation
        });
        tx.commit().await?;
        Ok(conversation)
    }

    /// The LINE link of a conversation (None: not a LINE conversation).
    pub async fn line_link(&self, conversation_id: Uuid) -> Result<Option<LineLink>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let row: Option<LineLinkRow<D::Id>> = sqlx::query_as(sql::LINE_LINK)
                .bind(D::id(conversation_id))
                .fetch_optional(c)
                .await?;
            row::convert_one(row)
        })
    }

    /// Up to `limit` LINE conversations with messages or a CSAT question to relay, whose user has
    /// no event in progress.
    pub async fn line_links_to_relay(&self, limit: u32) -> Result<Vec<LineLink>, StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<LineLinkRow<D::Id>> = sqlx::query_as(sql::LINE_LINKS_TO_RELAY)
                .bind(i64::from(limit))
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    /// Moves `link` to `relayed_seq` / `csat_asked` and writes `deliveries`, in one transaction,
    /// if nobody moved it meanwhile. Returns false (nothing written) when someone did.
    pub async fn relay_line(
        &self,
        link: &LineLink,
        relayed_seq: i64,
        csat_asked: bool,
        deliveries: &[NewLineDelivery],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_write().await?;
        let moved = on!(&mut tx, D, c => {
            sqlx::query_scalar::<_, D::Id>(sql::ADVANCE_LINE_LINK)
                .bind(D::id(link.conversation_id))
                .bind(link.relayed_seq)
                .bind(link.csat_asked)
                .bind(relayed_seq)
                .bind(csat_asked)
                .fetch_optional(c)
                .await?
                .is_some()
        });
        if !moved {
            return Ok(false);
        }
        let now = now();
        for delivery in deliveries {
            insert_delivery(&mut tx, delivery, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Marks a conversation's CSAT question as not to be asked (the user blocked the account).
    pub async fn skip_line_csat(&self, conversation_id: Uuid) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            sqlx::query(sql::SKIP_LINE_CSAT)
                .bind(D::id(conversation_id))
                .execute(c)
                .await?;
        });
        Ok(())
    }

    /// Writes deliveries that belong to no conversation's relay (answers to one event); a source
    /// already stored is skipped, so processing an event twice sends its answer once.
    pub async fn enqueue_line_deliveries(
        &self,
        deliveries: &[NewLineDelivery],
    ) -> Result<(), StoreError> {
        let now = now();
        let mut tx = self.pool.begin_write().await?;
        for delivery in deliveries {
            insert_delivery(&mut tx, delivery, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` deliveries, leased for `lease`: each the oldest live undelivered one
    /// of its user, due and not leased.
    pub async fn claim_line_deliveries(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<LineDelivery>, StoreError> {
        let (now, until) = lease_window(lease)?;
        let statement = match self.dialect() {
            "postgres" => sql::CLAIM_LINE_DELIVERIES_POSTGRES,
            _ => sql::CLAIM_LINE_DELIVERIES_SQLITE,
        };
        let mut tx = self.pool.begin_write().await?;
        let mut deliveries: Vec<LineDelivery> = on!(&mut tx, D, c => {
            let rows: Vec<LineDeliveryRow<D::Id>> = sqlx::query_as(statement)
                .bind(D::ts(now))
                .bind(D::ts(until))
                .bind(i64::from(limit))
                .fetch_all(c)
                .await?;
            row::convert(rows)?
        });
        tx.commit().await?;
        deliveries.sort_by_key(|d| d.seq);
        Ok(deliveries)
    }

    /// The delivery went through, by `reply` or `push`.
    pub async fn line_delivered(&self, seq: i64, by: &str) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        let updated = on!(&mut conn, D, c => {
            sqlx::query_scalar::<_, i64>(sql::LINE_DELIVERED)
                .bind(seq)
                .bind(D::ts(now()))
                .bind(by)
                .fetch_optional(c)
                .await?
                .is_some()
        });
        if !updated {
            return Err(StoreError::Invalid(format!("no LINE delivery {seq}")));
        }
        Ok(())
    }

    /// A failed attempt to retry at `next_attempt_at`, by push (the reply token is dropped).
    pub async fn line_delivery_retry(
        &self,
        seq: i64,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let error = check::error_text(error);
        self.update_by_seq(
            sql::LINE_DELIVERY_RETRY,
            seq,
            Some(&error),
            next_attempt_at,
            "LINE delivery",
        )
        .await
    }

    /// A delivery given up on (a dead letter).
    pub async fn line_delivery_dead(&self, seq: i64, error: &str) -> Result<(), StoreError> {
        let error = check::error_text(error);
        self.update_by_seq(
            sql::LINE_DELIVERY_DEAD,
            seq,
            Some(&error),
            now(),
            "LINE delivery",
        )
        .await
    }

    /// Deliveries, newest first, of one conversation or of all (`limit` as for the listings).
    pub async fn line_deliveries(
        &self,
        conversation_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<LineDelivery>, StoreError> {
        let limit = check::limit(Some(limit))?;
        let mut conn = self.pool.conn().await?;
        on!(&mut conn, D, c => {
            let rows: Vec<LineDeliveryRow<D::Id>> = sqlx::query_as(sql::LINE_DELIVERIES)
                .bind(conversation_id.map(D::id))
                .bind(limit)
                .fetch_all(c)
                .await?;
            row::convert(rows)
        })
    }

    /// Deliveries by state.
    pub async fn line_delivery_stats(&self) -> Result<LineDeliveryStats, StoreError> {
        let mut conn = self.pool.conn().await?;
        let (pending, dead, delivered): (i64, i64, i64) = on!(&mut conn, D, c => {
            sqlx::query_as(sql::LINE_DELIVERY_STATS).fetch_one(c).await?
        });
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(LineDeliveryStats {
            pending: count(pending),
            dead: count(dead),
            delivered: count(delivered),
        })
    }

    /// Runs an update keyed by `seq` (`$1`; then the error, if any, and a time).
    async fn update_by_seq(
        &self,
        statement: &'static str,
        seq: i64,
        error: Option<&str>,
        at: DateTime<Utc>,
        what: &str,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.conn().await?;
        let updated = on!(&mut conn, D, c => {
            let mut query = sqlx::query_scalar::<_, i64>(statement).bind(seq);
            if let Some(error) = error {
                query = query.bind(error);
            }
            query.bind(D::ts(at)).fetch_optional(c).await?.is_some()
        });
        if !updated {
            return Err(StoreError::Invalid(format!("no {what} {seq}")));
        }
        Ok(())
    }
}

async fn insert_delivery(
    tx: &mut super::dialect::Tx,
    delivery: &NewLineDelivery,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    check::check_code(&delivery.source, "delivery source")?;
    check::check_json(Some(&delivery.messages), "messages")?;
    on!(tx, D, c => {
        sqlx::query(sql::INSERT_LINE_DELIVERY)
            .bind(&delivery.source)
            .bind(&delivery.user_id)
            .bind(delivery.conversation_id.map(D::id))
            .bind(Json(&delivery.messages))
            .bind(delivery.reply_token.as_deref())
            .bind(delivery.reply_until.map(D::ts))
            .bind(D::id(Uuid::new_v4()))
            .bind(D::ts(now))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// Now, and the end of a lease taken now.
fn lease_window(lease: Duration) -> Result<(DateTime<Utc>, DateTime<Utc>), StoreError> {
    let now = now();
    let until = chrono::Duration::from_std(lease)
        .ok()
        .and_then(|lease| now.checked_add_signed(lease))
        .ok_or_else(|| StoreError::Invalid("the lease is too long".into()))?;
    Ok((now, until))
}

fn attempts(n: i32, what: &str) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|_| StoreError::corrupt(format!("{what}: attempts {n}")))
}

#[derive(sqlx::FromRow)]
struct LineEventRow {
    seq: i64,
    webhook_event_id: String,
    user_id: Option<String>,
    event_type: String,
    event: Json<Value>,
    reply_token: Option<String>,
    reply_until: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    attempts: i32,
    done_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl TryFrom<LineEventRow> for LineEvent {
    type Error = StoreError;

    fn try_from(row: LineEventRow) -> Result<Self, StoreError> {
        Ok(LineEvent {
            attempts: attempts(row.attempts, &format!("LINE event {}", row.seq))?,
            seq: row.seq,
            webhook_event_id: row.webhook_event_id,
            user_id: row.user_id,
            event_type: row.event_type,
            event: row.event.0,
            reply_token: row.reply_token,
            reply_until: row.reply_until,
            received_at: row.received_at,
            done_at: row.done_at,
            last_error: row.last_error,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LineLinkRow<I> {
    conversation_id: I,
    user_id: String,
    relayed_seq: i64,
    csat_asked: bool,
    created_at: DateTime<Utc>,
}

impl<I: Into<Uuid>> TryFrom<LineLinkRow<I>> for LineLink {
    type Error = StoreError;

    fn try_from(row: LineLinkRow<I>) -> Result<Self, StoreError> {
        Ok(LineLink {
            conversation_id: row.conversation_id.into(),
            user_id: row.user_id,
            relayed_seq: row.relayed_seq,
            csat_asked: row.csat_asked,
            created_at: row.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct LineDeliveryRow<I> {
    seq: i64,
    source: String,
    user_id: String,
    conversation_id: Option<I>,
    messages: Json<Value>,
    reply_token: Option<String>,
    reply_until: Option<DateTime<Utc>>,
    retry_key: I,
    created_at: DateTime<Utc>,
    attempts: i32,
    delivered_at: Option<DateTime<Utc>>,
    delivered_by: Option<String>,
    dead_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl<I: Into<Uuid>> TryFrom<LineDeliveryRow<I>> for LineDelivery {
    type Error = StoreError;

    fn try_from(row: LineDeliveryRow<I>) -> Result<Self, StoreError> {
        Ok(LineDelivery {
            attempts: attempts(row.attempts, &format!("LINE delivery {}", row.seq))?,
            seq: row.seq,
            source: row.source,
            user_id: row.user_id,
            conversation_id: row.conversation_id.map(Into::into),
            messages: row.messages.0,
            reply_token: row.reply_token,
            reply_until: row.reply_until,
            retry_key: row.retry_key.into(),
            created_at: row.created_at,
            delivered_at: row.delivered_at,
            delivered_by: row.delivered_by,
            dead_at: row.dead_at,
            last_error: row.last_error,
        })
    }
}
