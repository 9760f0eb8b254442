//! Erasure of one customer's personal data on request (the right to be forgotten).
//!
//! A customer is named by their **customer id**: the `id` of the customer metadata a conversation
//! was started with (`{"customer": {"id": "C-1", …}}`, compared as text), or a LINE user id
//! (`U…`), which `line_conversations` maps to that user's conversations. Erasing deletes, in one
//! transaction, those conversations and everything derived from them — messages (with feedback
//! and turn outcomes), handoff tickets, their notes, webhook outbox events, stream tickets, inbox
//! decisions, LINE links — plus the LINE user's received webhook events and queued deliveries, and
//! appends an audit entry saying who erased which customer id and how many rows (never the data).
use super::check::{self, now};
use super::dialect::{on, Tx};
use super::error::StoreError;
use super::privacy_model::{Erased, ERASE_ACTION};
use super::{sql, Store};

impl Store {
    /// Deletes every record of customer `customer_id` (see the module docs) and records the
    /// erasure in the audit log as done by `actor`, all in one transaction. A customer id with no
    /// data erases nothing (and is still audited: the request was made).
    pub async fn erase_customer(
        &self,
        customer_id: &str,
        actor: &str,
    ) -> Result<Erased, StoreError> {
        check::check_code(customer_id, "customer id")?;
        check::check_code(actor, "actor")?;
        let mut tx = self.pool.begin_write().await?;
        let mut erased = Erased {
            notes: delete(&mut tx, sql::ERASE_NOTES, customer_id).await?,
            outbox_events: delete(&mut tx, sql::ERASE_OUTBOX, customer_id).await?,
            inbox_decisions: delete(&mut tx, sql::ERASE_INBOX_DECISIONS, customer_id).await?,
            stream_tickets: delete(&mut tx, sql::ERASE_STREAM_TICKETS, customer_id).await?,
            line_deliveries: delete(&mut tx, sql::ERASE_LINE_DELIVERIES, customer_id).await?,
            messages: delete(&mut tx, sql::ERASE_MESSAGES, customer_id).await?,
            tickets: delete(&mut tx, sql::ERASE_HANDOFFS, customer_id).await?,
            ..Erased::default()
        };
        erased.conversations = delete(&mut tx, sql::ERASE_CONVERSATIONS, customer_id).await?;
        delete(&mut tx, sql::ERASE_LINE_CONVERSATIONS, customer_id).await?;
        erased.line_events = delete(&mut tx, sql::ERASE_LINE_EVENTS, customer_id).await?;
        audit(&mut tx, actor, customer_id, &erased).await?;
        tx.commit().await?;
        Ok(erased)
    }
}

/// Runs one erasure statement for `customer_id`; the number of rows it deleted.
async fn delete(
    tx: &mut Tx,
    statement: &'static str,
    customer_id: &str,
) -> Result<u64, StoreError> {
    on!(tx, D, c => {
        Ok(sqlx::query(statement)
            .bind(customer_id)
            .execute(c)
            .await?
            .rows_affected())
    })
}

/// The audit entry: who erased which customer id, and the counts (no data).
async fn audit(
    tx: &mut Tx,
    actor: &str,
    customer_id: &str,
    erased: &Erased,
) -> Result<(), StoreError> {
    let detail = serde_json::to_value(erased)
        .map_err(|e| StoreError::Invalid(format!("erasure counts: {e}")))?
        .to_string();
    on!(tx, D, c => {
        sqlx::query(sql::INSERT_AUDIT)
            .bind(actor)
            .bind(ERASE_ACTION)
            .bind(customer_id)
            .bind(detail)
            .bind(D::ts(now()))
            .execute(c)
            .await?;
    });
    Ok(())
}
