//! The KPI dashboard: one test per KPI with known data, run against SQLite and against
//! PostgreSQL (when `MADOGUCHI_TEST_POSTGRES_URL` is set), each on a database of its own; the
//! date-range, time-zone and locale filters; CSV export; and the HTTP endpoints over a real server
//! (a lead gets the figures and the CSV, an agent is refused, no session is 401).
//!
//! Data is built through the real store API (conversations, customer turns, tickets, claims,
//! agent replies, feedback, CSAT, resolution); the store stamps everything with the clock, so
//! each test then moves the stamps to the times it wants with plain `UPDATE`s.
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use madoguchi::domain::{HandoffReason, IntentName, Locale, TurnKind};
use madoguchi::store::{
    new_customer_token, BotAction, BotTurnRecord, ConversationStatus, CustomerTurnRecord,
    NewConversation, NewHandoff, Store,
};
use madoguchi::studio::kpis::{report, KpiQuery, KpiReport, KpiTable, RawKpiQuery, ReportZone};
use serde_json::json;
use sqlx::migrate::MigrateDatabase;
use tempfile::TempDir;
use uuid::Uuid;

use crate::util::with_database;

const PG_URL_VAR: &str = "MADOGUCHI_TEST_POSTGRES_URL";

// ---------------------------------------------------------------------------------------------
// A database per test, both dialects.

/// The test's store, and a plain pool on the same database to set times with.
struct Db {
    store: Store,
    raw: Raw,
    url: String,
    _dir: Option<TempDir>,
}

enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

#[derive(Debug, Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Db {
    async fn open(dialect: Dialect, test: &str) -> Option<Db> {
        let (url, dir) = match dialect {
            Dialect::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                (
                    format!("sqlite://{}/kpis.db", dir.path().display()),
                    Some(dir),
                )
            }
            Dialect::Postgres => {
                let Ok(base) = std::env::var(PG_URL_VAR) else {
                    eprintln!("{test}: skipped: set {PG_URL_VAR} (make test does)");
                    return None;
                };
                let url = with_database(
                    &base,
                    &format!("madoguchi_test_{}", Uuid::new_v4().simple()),
                );
                sqlx::Postgres::create_database(&url)
                    .await
                    .unwrap_or_else(|e| panic!("create database {url}: {e}"));
                (url, None)
            }
        };
        let store = Store::connect(&url).await.expect("connect");
        store.migrate().await.expect("migrate");
        let raw = match dialect {
            Dialect::Sqlite => Raw::Sqlite(sqlx::SqlitePool::connect(&url).await.expect("pool")),
            Dialect::Postgres => Raw::Postgres(sqlx::PgPool::connect(&url).await.expect("pool")),
        };
        Some(Db {
            store,
            raw,
            url,
            _dir: dir,
        })
    }

    async fn finish(self) {
        self.store.close().await;
        if let Raw::Postgres(pool) = self.raw {
            pool.close().await;
            if let Err(e) = sqlx::Postgres::force_drop_database(&self.url).await {
                eprintln!("could not drop {}: {e}", self.url);
            }
        }
    }

    /// Sets `table.column` of the row `id` to `at`.
    async fn set_time(&self, table: &str, column: &str, id: Uuid, at: DateTime<Utc>) {
        let sql = format!("UPDATE {table} SET {column} = $1 WHERE id = $2");
        let updated = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(&sql)
                .bind(at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string())
                .bind(id.hyphenated().to_string())
                .execute(pool)
                .await
                .expect("update")
                .rows_affected(),
            Raw::Postgres(pool) => sqlx::query(&sql)
                .bind(at)
                .bind(id)
                .execute(pool)
                .await
                .expect("update")
                .rows_affected(),
        };
        assert_eq!(updated, 1, "{sql} ({id})");
    }

    /// Marks a conversation as coming from `channel` (as the LINE channel records it).
    async fn set_channel(&self, id: Uuid, channel: &str) {
        let sql = "UPDATE conversations SET channel = $1 WHERE id = $2";
        let updated = match &self.raw {
            Raw::Sqlite(pool) => sqlx::query(sql)
                .bind(channel)
                .bind(id.hyphenated().to_string())
                .execute(pool)
                .await
                .expect("update")
                .rows_affected(),
            Raw::Postgres(pool) => sqlx::query(sql)
                .bind(channel)
                .bind(id)
                .execute(pool)
                .await
                .expect("update")
                .rows_affected(),
        };
        assert_eq!(updated, 1);
    }

    /// The report for `from`…`to` (local days in `tz`), in `locale`.
    async fn report(&self, from: &str, to: &str, tz: &str, locale: Option<&str>) -> KpiReport {
        self.report_for(from, to, tz, locale, None).await
    }

    /// The report for `from`…`to`, in `locale`, from `channel`.
    async fn report_for(
        &self,
        from: &str,
        to: &str,
        tz: &str,
        locale: Option<&str>,
        channel: Option<&str>,
    ) -> KpiReport {
        let raw = RawKpiQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            tz: Some(tz.into()),
            locale: locale.map(str::to_string),
            channel: channel.map(str::to_string),
        };
        let query = KpiQuery::parse(&raw, ReportZone::named("UTC").expect("utc")).expect("query");
        report(&self.store, &query).await.expect("report")
    }
}

async fn run<F, Fut>(dialect: Dialect, test: &str, case: F)
where
    F: FnOnce(Arc<Db>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = Db::open(dialect, test).await else {
        return;
    };
    let db = Arc::new(db);
    let outcome = tokio::spawn(case(Arc::clone(&db))).await;
    match Arc::try_unwrap(db) {
        Ok(db) => db.finish().await,
        Err(_) => eprintln!("{test}: the case kept its database handle; not dropped"),
    }
    if let Err(e) = outcome {
        match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("{test}: {e}"),
        }
    }
}

/// Each case runs once per dialect: `kpis::sqlite::<case>` and `kpis::postgres::<case>`.
macro_rules! suite {
    ($($case:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(super::Dialect::Sqlite, stringify!($case), super::$case).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::run(super::Dialect::Postgres, stringify!($case), super::$case).await;
                }
            )+
        }
    };
}

suite!(
    conversations_per_day_by_intent_in_local_days,
    containment_rate,
    handoff_rate_by_reason,
    first_contact_resolution,
    csat_average_and_distribution,
    durations_median_and_p90,
    unhelpful_answers_per_intent,
    top_unanswered_groups_link_into_the_inbox,
    date_range_and_locale_filters,
    channel_filter,
    an_empty_range_is_no_data_not_zeros,
    csv_export_quotes_and_round_trips,
);

// ---------------------------------------------------------------------------------------------
// Building conversations.

/// 2026-12-01 00:00 UTC plus `minutes`.
fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
        .single()
        .expect("time")
        + Duration::minutes(minutes)
}

fn intent(name: &str) -> IntentName {
    IntentName::try_from(name).expect("intent name")
}

fn locale(code: &str) -> Locale {
    Locale::try_from(code).expect("locale")
}

/// What the bot does on a turn.
#[derive(Clone, Copy)]
enum Bot<'a> {
    Answer(&'a str),
    Clarify(&'a str),
    OutOfScope,
    Handoff(HandoffReason, Option<&'a str>),
}

fn bot_turn(bot: Bot<'_>) -> BotTurnRecord {
    let (intent_name, action, kind, handoff) = match bot {
        Bot::Answer(i) => (Some(i), BotAction::Answer, TurnKind::Answer, None),
        Bot::Clarify(i) => (Some(i), BotAction::Clarify, TurnKind::Clarify, None),
        Bot::OutOfScope => (None, BotAction::Handoff, TurnKind::OutOfScope, None),
        Bot::Handoff(reason, i) => (i, BotAction::Handoff, TurnKind::Handoff, Some(reason)),
    };
    BotTurnRecord {
        reply: Some("…".into()),
        intent: intent_name.map(intent),
        confidence: Some(0.5),
        action,
        reason: Some(kind),
        alternatives: None,
        quick_replies: None,
        new_status: if handoff.is_some() {
            ConversationStatus::Handoff
        } else {
            ConversationStatus::Bot
        },
        dialogue_state: json!({}),
        handoff: handoff.map(|reason| NewHandoff {
            reason,
            intent: intent_name.map(intent),
            locale: locale("ja"),
            summary: json!({}),
        }),
        expected_version: None,
    }
}

/// A turn's stored ids: the customer's message, the bot's reply, the ticket it opened.
struct Turn {
    reply: Uuid,
    ticket: Option<Uuid>,
}

impl Db {
    /// A conversation in `loc` started at `at`.
    async fn conversation(&self, loc: &str, at: DateTime<Utc>) -> Uuid {
        let (_, token_sha256) = new_customer_token();
        let c = self
            .store
            .create_conversation(NewConversation {
                locale: Some(locale(loc)),
                customer: None,
                token_sha256,
            })
            .await
            .expect("create conversation");
        self.set_time("conversations", "created_at", c.id, at).await;
        c.id
    }

    /// The customer says `text` at `at` and the bot does `bot` (a ticket opens at `at` too).
    async fn turn(&self, conversation: Uuid, text: &str, bot: Bot<'_>, at: DateTime<Utc>) -> Turn {
        let stored = self
            .store
            .record_customer_turn(
                conversation,
                CustomerTurnRecord {
                    text: text.into(),
                    client_message_id: None,
                    outcome: json!({}),
                    bot: bot_turn(bot),
                },
            )
            .await
            .expect("customer turn");
        let reply = stored.reply.expect("a reply").id;
        self.set_time("messages", "created_at", stored.message.id, at)
            .await;
        self.set_time("messages", "created_at", reply, at).await;
        let ticket = stored.handoff.map(|h| h.id);
        if let Some(ticket) = ticket {
            self.set_time("handoffs", "created_at", ticket, at).await;
        }
        Turn { reply, ticket }
    }

    async fn claim(&self, ticket: Uuid, agent: &str, at: DateTime<Utc>) {
        self.store.claim(ticket, agent).await.expect("claim");
        self.set_time("handoffs", "claimed_at", ticket, at).await;
    }

    async fn agent_reply(&self, ticket: Uuid, agent: &str, at: DateTime<Utc>) {
        let m = self
            .store
            .agent_reply(ticket, agent, "お待たせしました")
            .await
            .expect("agent reply");
        self.set_time("messages", "created_at", m.id, at).await;
    }

    async fn hand_back(&self, ticket: Uuid, agent: &str, at: DateTime<Utc>) {
        self.store
            .hand_back(ticket, agent)
            .await
            .expect("hand back");
        self.set_time("handoffs", "returned_at", ticket, at).await;
    }

    /// The agent resolves the ticket (and so the conversation) at `at`.
    async fn resolve_ticket(
        &self,
        conversation: Uuid,
        ticket: Uuid,
        agent: &str,
        at: DateTime<Utc>,
    ) {
        self.store
            .resolve(ticket, agent, "answered")
            .await
            .expect("resolve");
        self.set_time("handoffs", "resolved_at", ticket, at).await;
        self.set_time("conversations", "resolved_at", conversation, at)
            .await;
    }

    /// The customer ends the conversation at `at` (its open tickets close then too).
    async fn end(&self, conversation: Uuid, at: DateTime<Utc>) {
        self.store
            .resolve_conversation(conversation)
            .await
            .expect("resolve conversation");
        self.set_time("conversations", "resolved_at", conversation, at)
            .await;
        for h in self
            .store
            .conversation_handoffs(conversation)
            .await
            .expect("tickets")
        {
            if h.resolution_code.as_deref() == Some("conversation_resolved") {
                self.set_time("handoffs", "resolved_at", h.id, at).await;
            }
        }
    }

    async fn csat(&self, conversation: Uuid, score: u8) {
        self.store
            .set_csat(conversation, score, None)
            .await
            .expect("csat");
    }

    async fn feedback(&self, conversation: Uuid, message: Uuid, helpful: bool) {
        self.store
            .set_feedback(conversation, message, helpful, None)
            .await
            .expect("feedback");
    }
}

fn close(actual: Option<f64>, expected: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: no value"));
    assert!(
        (actual - expected).abs() < 0.01,
        "{what}: {actual} ≠ {expected}"
    );
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

// ---------------------------------------------------------------------------------------------
// One test per KPI.

/// Days are local to the report's zone: 14:59 UTC on Nov 30 is Nov 30 in Tokyo, 15:00 is Dec 1.
/// A conversation's intent is the first one the bot recognised in it.
async fn conversations_per_day_by_intent_in_local_days(db: Arc<Db>) {
    let late = db.conversation("ja", t(-9 * 60 - 1)).await; // 2026-11-30 23:59 JST
    db.turn(late, "注文はどこ", Bot::Answer("order_status"), t(-9 * 60))
        .await;
    let midnight = db.conversation("ja", t(-9 * 60)).await; // 2026-12-01 00:00 JST
    db.turn(midnight, "asdf", Bot::OutOfScope, t(-9 * 60)).await;
    db.turn(midnight, "返品したい", Bot::Answer("refund"), t(-8 * 60))
        .await;
    for at in [t(60), t(120)] {
        let c = db.conversation("ja", at).await;
        db.turn(c, "注文は", Bot::Answer("order_status"), at).await;
    }
    let silent = db.conversation("ja", t(180)).await; // no message: no intent
    let _ = silent;
    let outside = db.conversation("ja", t(15 * 60)).await; // 2026-12-02 00:00 JST
    db.turn(outside, "注文は", Bot::Answer("order_status"), t(15 * 60))
        .await;

    let r = db
        .report("2026-11-30", "2026-12-01", "Asia/Tokyo", None)
        .await;
    assert_eq!(r.conversations, 5);
    assert_eq!(r.per_day.days, vec![date("2026-11-30"), date("2026-12-01")]);
    let rows: Vec<(String, Option<&str>, u64)> = r
        .per_day
        .rows
        .iter()
        .map(|c| (c.date.to_string(), c.intent.as_deref(), c.conversations))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("2026-11-30".into(), Some("order_status"), 1),
            ("2026-12-01".into(), None, 1),
            ("2026-12-01".into(), Some("order_status"), 2),
            ("2026-12-01".into(), Some("refund"), 1),
        ]
    );
    assert_eq!(
        r.per_day.intents,
        vec![Some("order_status".into()), Some("refund".into()), None]
    );
    // In UTC the same conversations fall on other days.
    let utc = db.report("2026-11-30", "2026-12-01", "UTC", None).await;
    let nov30: u64 = utc
        .per_day
        .rows
        .iter()
        .filter(|c| c.date == date("2026-11-30"))
        .map(|c| c.conversations)
        .sum();
    assert_eq!(nov30, 2);
}

/// Contained: resolved with no ticket at all, over every conversation started.
async fn containment_rate(db: Arc<Db>) {
    let bot_only = db.conversation("ja", t(0)).await;
    db.turn(bot_only, "注文は", Bot::Answer("order_status"), t(1))
        .await;
    db.end(bot_only, t(2)).await;
    let handed = db.conversation("ja", t(0)).await;
    let turn = db
        .turn(
            handed,
            "人と話したい",
            Bot::Handoff(HandoffReason::ExplicitRequest, None),
            t(1),
        )
        .await;
    db.claim(turn.ticket.expect("ticket"), "alice", t(2)).await;
    db.resolve_ticket(handed, turn.ticket.expect("ticket"), "alice", t(3))
        .await;
    let open = db.conversation("ja", t(0)).await;
    db.turn(open, "注文は", Bot::Answer("order_status"), t(1))
        .await;
    let waiting = db.conversation("ja", t(0)).await;
    db.turn(
        waiting,
        "文句",
        Bot::Handoff(HandoffReason::Complaint, None),
        t(1),
    )
    .await;

    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    assert_eq!((r.containment.numerator, r.containment.denominator), (1, 4));
    close(r.containment.rate, 0.25, "containment");
}

/// Handoff rate: conversations with a ticket; by reason, conversations with a ticket of it.
async fn handoff_rate_by_reason(db: Arc<Db>) {
    for _ in 0..2 {
        let c = db.conversation("ja", t(0)).await;
        db.turn(
            c,
            "???",
            Bot::Handoff(HandoffReason::LowConfidence, None),
            t(1),
        )
        .await;
    }
    let complaint = db.conversation("ja", t(0)).await;
    db.turn(
        complaint,
        "ひどい",
        Bot::Handoff(HandoffReason::Complaint, None),
        t(1),
    )
    .await;
    // Two tickets of two reasons in one conversation: it counts under both.
    let twice = db.conversation("ja", t(0)).await;
    let first = db
        .turn(
            twice,
            "もう！",
            Bot::Handoff(HandoffReason::Frustration, None),
            t(1),
        )
        .await;
    let ticket = first.ticket.expect("ticket");
    db.claim(ticket, "alice", t(2)).await;
    db.hand_back(ticket, "alice", t(3)).await;
    db.turn(
        twice,
        "人を",
        Bot::Handoff(HandoffReason::ExplicitRequest, None),
        t(4),
    )
    .await;
    let none = db.conversation("ja", t(0)).await;
    db.turn(none, "注文は", Bot::Answer("order_status"), t(1))
        .await;

    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    assert_eq!(
        (r.handoff.rate.numerator, r.handoff.rate.denominator),
        (4, 5)
    );
    let reasons: Vec<(&str, u64, u64, u64)> = r
        .handoff
        .by_reason
        .iter()
        .map(|x| {
            (
                x.reason.as_str(),
                x.rate.numerator,
                x.tickets,
                x.rate.denominator,
            )
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("low_confidence", 2, 2, 5),
            ("complaint", 1, 1, 5),
            ("explicit_request", 1, 1, 5),
            ("frustration", 1, 1, 5),
        ]
    );
    close(r.handoff.by_reason[0].rate.rate, 0.4, "low_confidence rate");
}

/// First-contact resolution, among resolved conversations: the bot alone, or the first person
/// who claimed the only ticket, never handed back.
async fn first_contact_resolution(db: Arc<Db>) {
    let bot = db.conversation("ja", t(0)).await;
    db.turn(bot, "注文は", Bot::Answer("order_status"), t(1))
        .await;
    db.end(bot, t(2)).await;
    let agent = db.conversation("ja", t(0)).await;
    let ticket = db
        .turn(
            agent,
            "人を",
            Bot::Handoff(HandoffReason::ExplicitRequest, None),
            t(1),
        )
        .await
        .ticket
        .expect("ticket");
    db.claim(ticket, "alice", t(2)).await;
    db.resolve_ticket(agent, ticket, "alice", t(3)).await;
    let returned = db.conversation("ja", t(0)).await;
    let ticket = db
        .turn(
            returned,
            "人を",
            Bot::Handoff(HandoffReason::ExplicitRequest, None),
            t(1),
        )
        .await
        .ticket
        .expect("ticket");
    db.claim(ticket, "alice", t(2)).await;
    db.hand_back(ticket, "alice", t(3)).await;
    db.end(returned, t(4)).await;
    let unclaimed = db.conversation("ja", t(0)).await;
    db.turn(
        unclaimed,
        "人を",
        Bot::Handoff(HandoffReason::ExplicitRequest, None),
        t(1),
    )
    .await;
    db.end(unclaimed, t(5)).await;
    let open = db.conversation("ja", t(0)).await;
    db.turn(open, "注文は", Bot::Answer("order_status"), t(1))
        .await;

    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    let fcr = r.first_contact_resolution;
    assert_eq!((fcr.numerator, fcr.denominator), (2, 4));
    close(fcr.rate, 0.5, "first-contact resolution");
}

async fn csat_average_and_distribution(db: Arc<Db>) {
    for score in [5, 5, 4, 1] {
        let c = db.conversation("ja", t(0)).await;
        db.csat(c, score).await;
    }
    db.conversation("ja", t(0)).await; // no answer
    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    assert_eq!(r.csat.responses, 4);
    close(r.csat.average, 3.75, "CSAT average");
    let distribution: Vec<(u8, u64)> = r
        .csat
        .distribution
        .iter()
        .map(|s| (s.score, s.responses))
        .collect();
    assert_eq!(distribution, vec![(1, 1), (2, 0), (3, 0), (4, 1), (5, 2)]);
}

/// Time to first response, to resolution, agent handle time and wait: mean, median and p90
/// (interpolated) over durations set to the minute.
async fn durations_median_and_p90(db: Arc<Db>) {
    let bot = db.conversation("ja", t(0)).await;
    db.turn(bot, "注文は", Bot::Answer("order_status"), t(0))
        .await;
    db.end(bot, t(1)).await;
    // (ticket, claimed, first agent reply, resolved by the agent) in minutes.
    for (opened, claimed, replied, resolved) in [(1, 3, 4, 10), (2, 7, 12, 20)] {
        let c = db.conversation("ja", t(0)).await;
        let ticket = db
            .turn(
                c,
                "人を",
                Bot::Handoff(HandoffReason::ExplicitRequest, None),
                t(opened),
            )
            .await
            .ticket
            .expect("ticket");
        db.claim(ticket, "alice", t(claimed)).await;
        db.agent_reply(ticket, "alice", t(replied)).await;
        db.resolve_ticket(c, ticket, "alice", t(resolved)).await;
    }
    // Handed back after 3 minutes; the customer ends it at 30.
    let back = db.conversation("ja", t(0)).await;
    let ticket = db
        .turn(
            back,
            "人を",
            Bot::Handoff(HandoffReason::ExplicitRequest, None),
            t(1),
        )
        .await
        .ticket
        .expect("ticket");
    db.claim(ticket, "bob", t(2)).await;
    db.agent_reply(ticket, "bob", t(3)).await;
    db.hand_back(ticket, "bob", t(5)).await;
    db.end(back, t(30)).await;

    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    let get = |kpi: &str| {
        r.durations
            .iter()
            .find(|d| d.kpi == kpi)
            .unwrap_or_else(|| panic!("{kpi} missing"))
    };
    // kpi, count, mean, median, p90 (seconds)
    for (kpi, count, mean, median, p90) in [
        ("first_response", 3, 300.0, 180.0, 516.0),
        ("resolution", 4, 915.0, 900.0, 1620.0),
        ("handle", 3, 460.0, 420.0, 708.0),
        ("wait", 3, 160.0, 120.0, 264.0),
    ] {
        let d = get(kpi);
        assert_eq!(d.count, count, "{kpi} count");
        close(d.mean_seconds, mean, &format!("{kpi} mean"));
        close(d.median_seconds, median, &format!("{kpi} median"));
        close(d.p90_seconds, p90, &format!("{kpi} p90"));
    }
}

/// 👎 per intent: among the bot's answers of each predicted intent (other replies don't count).
async fn unhelpful_answers_per_intent(db: Arc<Db>) {
    let c = db.conversation("ja", t(0)).await;
    for (i, helpful) in [(1, Some(false)), (2, Some(false)), (3, Some(true))] {
        let turn = db
            .turn(c, "注文は", Bot::Answer("order_status"), t(i))
            .await;
        if let Some(helpful) = helpful {
            db.feedback(c, turn.reply, helpful).await;
        }
    }
    let g1 = db
        .turn(c, "こんにちは", Bot::Answer("greeting"), t(4))
        .await;
    db.feedback(c, g1.reply, false).await;
    db.turn(c, "こんにちは", Bot::Answer("greeting"), t(5))
        .await;
    let clarify = db.turn(c, "えっと", Bot::Clarify("refund"), t(6)).await;
    db.feedback(c, clarify.reply, false).await;

    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    let rows: Vec<(Option<&str>, u64, u64, u64)> = r
        .feedback_by_intent
        .iter()
        .map(|f| {
            (
                f.intent.as_deref(),
                f.answers,
                f.unhelpful.denominator,
                f.unhelpful.numerator,
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![(Some("order_status"), 3, 3, 2), (Some("greeting"), 2, 1, 1)]
    );
}

/// Unanswered: clarifications, out-of-scope replies and handoffs for not understanding, grouped
/// by predicted intent, largest first, each linking into the inbox.
async fn top_unanswered_groups_link_into_the_inbox(db: Arc<Db>) {
    for _ in 0..2 {
        let c = db.conversation("ja", t(0)).await;
        db.turn(c, "荷物どこ", Bot::Clarify("order_status"), t(1))
            .await;
    }
    let c = db.conversation("ja", t(0)).await;
    db.turn(c, "配送, \"至急\"", Bot::Clarify("order_status"), t(1))
        .await;
    db.turn(c, "asdf", Bot::OutOfScope, t(2)).await;
    db.turn(
        c,
        "お金",
        Bot::Handoff(HandoffReason::LowConfidence, Some("refund")),
        t(3),
    )
    .await;
    // Answered, or handed off for another reason: not unanswered.
    let d = db.conversation("ja", t(0)).await;
    db.turn(d, "注文は", Bot::Answer("order_status"), t(1))
        .await;
    db.turn(
        d,
        "ひどい",
        Bot::Handoff(HandoffReason::Complaint, Some("complaint")),
        t(2),
    )
    .await;

    let r = db
        .report("2026-12-01", "2026-12-01", "UTC", Some("ja"))
        .await;
    let groups: Vec<(Option<&str>, u64, u64)> = r
        .unanswered
        .iter()
        .map(|g| (g.intent.as_deref(), g.messages, g.texts))
        .collect();
    assert_eq!(
        groups,
        vec![
            (Some("order_status"), 3, 2),
            (Some("refund"), 1, 1),
            (None, 1, 1)
        ]
    );
    let top = &r.unanswered[0];
    assert_eq!(top.examples[0].text, "荷物どこ");
    assert_eq!(top.examples[0].messages, 2);
    assert_eq!(
        top.inbox,
        "#inbox?intent=order_status&from=2026-12-01&to=2026-12-01&locale=ja"
    );
    assert!(r.unanswered[2].inbox.starts_with("#inbox?intent=none&"));
}

/// The range is whole local days (start of `from` to the end of `to`); the locale filter keeps
/// only that locale's conversations.
async fn date_range_and_locale_filters(db: Arc<Db>) {
    // Local (Tokyo) times: Nov 30 23:59:59, Dec 1 00:00, Dec 2 23:59, Dec 3 00:00.
    let before = t(-9 * 60) - Duration::seconds(1);
    for (loc, at) in [
        ("ja", before),
        ("ja", t(-9 * 60)),
        ("en", t(-9 * 60)),
        ("en", t(39 * 60 - 1)),
        ("ja", t(39 * 60)),
    ] {
        let c = db.conversation(loc, at).await;
        db.turn(c, "hello", Bot::Answer("greeting"), at).await;
    }
    let all = db
        .report("2026-12-01", "2026-12-02", "Asia/Tokyo", None)
        .await;
    assert_eq!(all.conversations, 3);
    assert_eq!(all.scope.time_zone, "Asia/Tokyo");
    let en = db
        .report("2026-12-01", "2026-12-02", "Asia/Tokyo", Some("en"))
        .await;
    assert_eq!(en.conversations, 2);
    assert_eq!(en.scope.locale.as_deref(), Some("en"));
    let ja = db
        .report("2026-12-01", "2026-12-02", "Asia/Tokyo", Some("ja"))
        .await;
    assert_eq!(ja.conversations, 1);
    let one_day = db
        .report("2026-12-02", "2026-12-02", "Asia/Tokyo", None)
        .await;
    assert_eq!(one_day.conversations, 1);
}

async fn channel_filter(db: Arc<Db>) {
    let mut line = Vec::new();
    for (i, channel) in ["web", "line", "line", "api"].into_iter().enumerate() {
        let at = t(60 + i as i64);
        let c = db.conversation("ja", at).await;
        db.turn(c, "こんにちは", Bot::Answer("greeting"), at).await;
        db.set_channel(c, channel).await;
        if channel == "line" {
            line.push(c);
        }
    }
    let (from, to) = ("2026-12-01", "2026-12-01");
    let all = db.report_for(from, to, "UTC", None, None).await;
    assert_eq!(all.conversations, 4);
    let from_line = db.report_for(from, to, "UTC", None, Some("line")).await;
    assert_eq!(from_line.conversations, line.len() as u64);
    let web = db
        .report_for(from, to, "UTC", Some("ja"), Some("web"))
        .await;
    assert_eq!(web.conversations, 1);
}

/// Nothing in the range: counts are 0, but every rate, average and duration is null.
async fn an_empty_range_is_no_data_not_zeros(db: Arc<Db>) {
    let c = db.conversation("ja", t(0)).await;
    db.turn(c, "注文は", Bot::Answer("order_status"), t(1))
        .await;
    db.csat(c, 5).await;
    let r = db.report("2026-11-01", "2026-11-02", "UTC", None).await;
    assert_eq!(r.conversations, 0);
    assert!(r.per_day.rows.is_empty());
    assert_eq!(r.per_day.days.len(), 2);
    assert_eq!(r.containment.rate, None);
    assert_eq!(r.handoff.rate.rate, None);
    assert_eq!(r.first_contact_resolution.rate, None);
    assert_eq!(r.csat.average, None);
    assert!(r
        .durations
        .iter()
        .all(|d| d.count == 0 && d.median_seconds.is_none()));
    assert!(r.feedback_by_intent.is_empty() && r.unanswered.is_empty());
    let rates = String::from_utf8(KpiTable::Rates.csv(&r).expect("csv")).expect("utf-8");
    assert!(rates.contains("containment,0,0,\n"), "{rates}");
}

/// Every table is CSV with a header; texts with commas, quotes and line breaks round-trip.
async fn csv_export_quotes_and_round_trips(db: Arc<Db>) {
    let nasty = "配送, \"至急\"\nお願いします";
    let c = db.conversation("ja", t(0)).await;
    db.turn(c, nasty, Bot::Clarify("order_status"), t(1)).await;
    let r = db.report("2026-12-01", "2026-12-01", "UTC", None).await;
    for table in KpiTable::ALL {
        let bytes = table.csv(&r).expect("csv");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(bytes.as_slice());
        let header = reader.headers().expect("header").clone();
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("record")).collect();
        let expected = table.rows(&r);
        assert_eq!(
            header.iter().collect::<Vec<_>>(),
            expected[0],
            "{}",
            table.slug()
        );
        assert_eq!(rows.len(), expected.len() - 1, "{}", table.slug());
        for (row, want) in rows.iter().zip(&expected[1..]) {
            assert_eq!(row.iter().collect::<Vec<_>>(), *want, "{}", table.slug());
        }
    }
    let unanswered = KpiTable::Unanswered.csv(&r).expect("csv");
    let mut reader = csv::Reader::from_reader(unanswered.as_slice());
    let row = reader.records().next().expect("a row").expect("record");
    assert_eq!(&row[0], "order_status");
    assert_eq!(&row[3], nasty);
}

// ---------------------------------------------------------------------------------------------
// Over HTTP.

mod http {
    use std::time::Duration;

    use madoguchi::domain::AccountRole;
    use madoguchi::store::{NewAccount, Store};
    use madoguchi::web::console::password::hash_password;
    use serde_json::json;

    use crate::api::{call, expect, expect_error, fake_server, new_conversation, sqlite_url, Resp};
    use crate::util::block_on;

    const PASSWORD: &str = "studio-password-1";

    fn add_account(dir: &std::path::Path, name: &str, role: AccountRole) {
        block_on(async {
            let store = Store::connect(&sqlite_url(dir, "fake.db"))
                .await
                .expect("store");
            let hash = hash_password(PASSWORD).expect("hash");
            store
                .create_account(NewAccount {
                    name,
                    display_name: name,
                    role,
                    password_hash: &hash,
                })
                .await
                .expect("account");
            store.close().await;
        });
    }

    /// Logs in; the session cookie.
    fn log_in(base: &str, name: &str) -> String {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(30))
            .build();
        let r = agent
            .post(&format!("{base}/agent/login"))
            .send_form(&[("username", name), ("password", PASSWORD)]);
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("login {name}: {e}"),
        };
        assert_eq!(r.status(), 303, "login {name}");
        r.header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_string()
    }

    fn get(base: &str, path: &str, cookie: Option<&str>) -> Resp {
        let headers: Vec<(&str, &str)> = cookie.map(|c| ("Cookie", c)).into_iter().collect();
        call("GET", &format!("{base}{path}"), &headers, None)
    }

    fn raw_get(base: &str, path: &str, cookie: &str) -> ureq::Response {
        match ureq::get(&format!("{base}{path}"))
            .set("Cookie", cookie)
            .call()
        {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    #[test]
    fn a_lead_gets_the_figures_and_csv_an_agent_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = fake_server(dir.path(), Duration::ZERO, |_| {});
        add_account(dir.path(), "lena", AccountRole::Lead);
        add_account(dir.path(), "andy", AccountRole::Agent);
        // Three conversations through the customer API: two answered, one handed off.
        for text in ["hello", "hello again", "a human please"] {
            let c = new_conversation(&s.base, json!({"locale": "en"}));
            c.say_ok(text);
        }
        let today = chrono::Utc::now().date_naive();
        let range = format!(
            "?from={}&to={}&tz=UTC",
            today - chrono::Duration::days(1),
            today
        );

        expect_error(
            get(&s.base, &format!("/studio/api/kpis{range}"), None),
            401,
            "unauthorized",
        );
        let agent = log_in(&s.base, "andy");
        expect_error(
            get(&s.base, &format!("/studio/api/kpis{range}"), Some(&agent)),
            403,
            "forbidden",
        );
        assert_eq!(
            raw_get(&s.base, "/studio/api/kpis/rates.csv", &agent).status(),
            403
        );
        assert_eq!(raw_get(&s.base, "/studio", &agent).status(), 403);

        let lead = log_in(&s.base, "lena");
        let r = expect(
            get(&s.base, &format!("/studio/api/kpis{range}"), Some(&lead)),
            200,
        );
        assert_eq!(r["conversations"], 3, "\n{r}");
        assert_eq!(r["handoff"]["rate"]["numerator"], 1, "\n{r}");
        assert_eq!(
            r["per_day"]["days"].as_array().map(Vec::len),
            Some(2),
            "\n{r}"
        );
        assert_eq!(r["scope"]["time_zone"], "UTC");

        let csv = raw_get(
            &s.base,
            &format!("/studio/api/kpis/conversations-per-day.csv{range}"),
            &lead,
        );
        assert_eq!(csv.status(), 200);
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(csv
            .header("content-disposition")
            .is_some_and(|d| d.contains("kpi-conversations-per-day-")));
        let body = csv.into_string().expect("body");
        let mut reader = csv::Reader::from_reader(body.as_bytes());
        assert_eq!(
            reader.headers().expect("header").iter().collect::<Vec<_>>(),
            ["date", "intent", "conversations"]
        );
        let total: u64 = reader
            .records()
            .map(|r| r.expect("record")[2].parse::<u64>().expect("count"))
            .sum();
        assert_eq!(total, 3, "{body}");

        let doc = expect(get(&s.base, "/openapi.json", None), 200);
        for path in ["/studio/api/kpis", "/studio/api/kpis/{table}.csv"] {
            assert_eq!(
                doc["paths"][path]["get"]["tags"][0], "studio",
                "{path} documented"
            );
        }

        let page = raw_get(&s.base, "/studio", &lead);
        assert_eq!(page.status(), 200);
        assert!(page.into_string().expect("page").contains("studio.js"));
    }

    #[test]
    fn bad_parameters_are_422_naming_the_parameter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = fake_server(dir.path(), Duration::ZERO, |_| {});
        add_account(dir.path(), "lena", AccountRole::Lead);
        let lead = log_in(&s.base, "lena");
        for (query, word) in [
            ("?from=2026-02-30", "from"),
            ("?from=2026-12-02&to=2026-12-01", "after"),
            ("?tz=Mars/Olympus", "tz"),
            ("?locale=", "conversations"), // blank: all locales, not an error
            ("?channel=fax", "channel"),
            ("?from=2020-01-01&to=2026-01-01", "366"),
        ] {
            let r = get(&s.base, &format!("/studio/api/kpis{query}"), Some(&lead));
            if word == "conversations" {
                expect(r, 200);
                continue;
            }
            let r = expect_error(r, 422, "unprocessable");
            let message = r["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(word), "{query}: {message}");
        }
    }
}
