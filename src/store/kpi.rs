//! Key figures, aggregated in SQL and assembled here: the all-time figures of `/metrics`
//! ([`Store::kpis`]) and the dashboard's figures over a scope ([`Store::kpi_data`]).
use chrono::{DateTime, Utc};

use super::dialect::on;
use super::error::StoreError;
use super::kpi_model::{
    ConversationBucket, DurationKind, HandoffReasonCount, IntentFeedback, KpiData, KpiDuration,
    KpiOutcomes, KpiScope, UnansweredText,
};
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

/// Binds a [`KpiScope`] as $1–$4 (see `kpi_scope!` in sql.rs).
macro_rules! bind_scope {
    ($query:expr, $d:ident, $scope:expr) => {
        $query
            .bind($d::ts($scope.from))
            .bind($d::ts($scope.until))
            .bind($scope.locale.as_ref().map(crate::domain::Locale::as_str))
            .bind($scope.channel.as_deref())
    };
}

#[derive(sqlx::FromRow)]
struct OutcomeRow {
    conversations: i64,
    contained: i64,
    handed_off: i64,
    fcr_yes: i64,
    fcr_known: i64,
    csat_1: i64,
    csat_2: i64,
    csat_3: i64,
    csat_4: i64,
    csat_5: i64,
}

#[derive(sqlx::FromRow)]
struct BucketRow {
    bucket: i64,
    intent: Option<String>,
    conversations: i64,
}

#[derive(sqlx::FromRow)]
struct ReasonRow {
    reason: String,
    conversations: i64,
    tickets: i64,
}

#[derive(sqlx::FromRow)]
struct DurationRow {
    kind: String,
    seconds: Option<f64>,
    n: i64,
}

#[derive(sqlx::FromRow)]
struct FeedbackRow {
    intent: Option<String>,
    answers: i64,
    rated: i64,
    unhelpful: i64,
}

#[derive(sqlx::FromRow)]
struct UnansweredRow {
    intent: Option<String>,
    text: String,
    messages: i64,
}

/// The raw rows of one scope.
struct KpiRows {
    outcomes: OutcomeRow,
    buckets: Vec<BucketRow>,
    reasons: Vec<ReasonRow>,
    durations: Vec<DurationRow>,
    feedback: Vec<FeedbackRow>,
    unanswered: Vec<UnansweredRow>,
}

impl Store {
    /// The dashboard's figures over the conversations started in `scope` (one connection, six
    /// aggregate statements; see `KPI_*` in sql.rs for what each counts).
    pub async fn kpi_data(&self, scope: &KpiScope) -> Result<KpiData, StoreError> {
        let mut conn = self.pool.conn().await?;
        let rows = on!(&mut conn, D, c => {
            KpiRows {
                outcomes: bind_scope!(sqlx::query_as(sql::KPI_OUTCOMES), D, scope)
                    .fetch_one(&mut *c)
                    .await?,
                buckets: bind_scope!(sqlx::query_as(D::sql::KPI_CONVERSATION_BUCKETS), D, scope)
                    .bind(scope.bucket_seconds)
                    .fetch_all(&mut *c)
                    .await?,
                reasons: bind_scope!(sqlx::query_as(sql::KPI_HANDOFF_REASONS), D, scope)
                    .fetch_all(&mut *c)
                    .await?,
                durations: bind_scope!(sqlx::query_as(D::sql::KPI_DURATIONS), D, scope)
                    .fetch_all(&mut *c)
                    .await?,
                feedback: bind_scope!(sqlx::query_as(sql::KPI_FEEDBACK_BY_INTENT), D, scope)
                    .fetch_all(&mut *c)
                    .await?,
                unanswered: bind_scope!(sqlx::query_as(sql::KPI_UNANSWERED), D, scope)
                    .fetch_all(&mut *c)
                    .await?,
            }
        });
        assemble_data(rows, scope.bucket_seconds)
    }
}

/// Named intents first (by bytes: collations differ between dialects), None last.
fn by_intent(a: &Option<String>, b: &Option<String>) -> std::cmp::Ordering {
    match (a, b) {
        (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
        (a, b) => a.is_none().cmp(&b.is_none()),
    }
}

fn assemble_data(rows: KpiRows, bucket_seconds: i64) -> Result<KpiData, StoreError> {
    let o = rows.outcomes;
    let outcomes = KpiOutcomes {
        conversations: count(o.conversations),
        contained: count(o.contained),
        handed_off: count(o.handed_off),
        first_contact_resolved: count(o.fcr_yes),
        resolved: count(o.fcr_known),
        csat: [o.csat_1, o.csat_2, o.csat_3, o.csat_4, o.csat_5].map(count),
    };
    let mut buckets = rows
        .buckets
        .into_iter()
        .map(|r| {
            let start = DateTime::from_timestamp(r.bucket.saturating_mul(bucket_seconds), 0)
                .ok_or_else(|| StoreError::Invalid(format!("bucket {} out of range", r.bucket)))?;
            Ok(ConversationBucket {
                start,
                intent: r.intent,
                conversations: count(r.conversations),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    buckets.sort_by(|a, b| a.start.cmp(&b.start).then(by_intent(&a.intent, &b.intent)));
    let mut handoff_reasons: Vec<_> = rows
        .reasons
        .into_iter()
        .map(|r| HandoffReasonCount {
            reason: r.reason,
            conversations: count(r.conversations),
            tickets: count(r.tickets),
        })
        .collect();
    handoff_reasons.sort_by(|a, b| a.reason.as_bytes().cmp(b.reason.as_bytes()));
    let durations = rows
        .durations
        .into_iter()
        .filter_map(|r| {
            let kind = DurationKind::parse(&r.kind)?;
            Some(KpiDuration {
                kind,
                seconds: r.seconds?,
                count: count(r.n),
            })
        })
        .collect();
    let mut feedback: Vec<_> = rows
        .feedback
        .into_iter()
        .map(|r| IntentFeedback {
            intent: r.intent,
            answers: count(r.answers),
            rated: count(r.rated),
            unhelpful: count(r.unhelpful),
        })
        .collect();
    feedback.sort_by(|a, b| by_intent(&a.intent, &b.intent));
    let unanswered = rows
        .unanswered
        .into_iter()
        .map(|r| UnansweredText {
            intent: r.intent,
            text: r.text,
            messages: count(r.messages),
        })
        .collect();
    Ok(KpiData {
        outcomes,
        buckets,
        handoff_reasons,
        durations,
        feedback,
        unanswered,
    })
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
