//! Key figures, aggregated in SQL and assembled here.
use chrono::{DateTime, Utc};

use super::dialect::on;
use super::error::StoreError;
use super::model::{IntentActions, Kpis};
use super::row::{ConversationKpiRow, FeedbackKpiRow, IntentKpiRow, TicketKpiRow};
use super::{sql, Store};

impl Store {
    /// Key figures over conversations (and their messages and tickets) created since `since`
    /// (everything when None), aggregated in SQL.
    pub async fn kpis(&self, since: Option<DateTime<Utc>>) -> Result<Kpis, StoreError> {
        let mut conn = self.pool.conn().await?;
        let (conversations, tickets, intents, feedback) = on!(&mut conn, D, c => {
            let at = since.map(D::ts);
            let conversations: ConversationKpiRow = sqlx::query_as(D::sql::KPI_CONVERSATIONS)
                .bind(at.as_ref())
                .fetch_one(&mut *c)
                .await?;
            let tickets: TicketKpiRow = sqlx::query_as(D::sql::KPI_TICKETS)
                .bind(at.as_ref())
                .fetch_one(&mut *c)
                .await?;
            let intents: Vec<IntentKpiRow> = sqlx::query_as(sql::KPI_INTENTS)
                .bind(at.as_ref())
                .fetch_all(&mut *c)
                .await?;
            let feedback: FeedbackKpiRow = sqlx::query_as(sql::KPI_FEEDBACK)
                .bind(at.as_ref())
                .fetch_one(&mut *c)
                .await?;
            (conversations, tickets, intents, feedback)
        });
        Ok(assemble(since, conversations, tickets, intents, feedback))
    }
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

/// Assembles the KPIs from the aggregates the SQL computed.
fn assemble(
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
