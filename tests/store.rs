//! Storage: one suite, run against SQLite (a temp file) and against PostgreSQL when
//! `MADOGUCHI_TEST_POSTGRES_URL` is set (`make test` starts a server with
//! `scripts/pg-test-server.sh`). Every test gets a database of its own (a fresh file, or a fresh
//! PostgreSQL database created from that URL and dropped afterwards), so they run in parallel.
use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, Utc};
use madoguchi::domain::{HandoffReason, IntentName, Locale, TurnKind};
use madoguchi::store::{
    new_customer_token, sha256_hex, BotAction, BotTurnRecord, Conversation, ConversationStatus,
    CustomerTurnRecord, Handoff, HandoffFilter, HandoffStatus, IntentActions, Message,
    NewConversation, NewHandoff, OutboxStats, Role, Store, StoreError, StoredTurn,
};
use serde_json::{json, Value};
use sqlx::migrate::MigrateDatabase;
use tempfile::TempDir;
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::util::with_database;

const PG_URL_VAR: &str = "MADOGUCHI_TEST_POSTGRES_URL";

#[derive(Debug, Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// A database of one test's own, and the store over it.
struct TestDb {
    store: Store,
    url: String,
    dialect: Dialect,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// None (with the reason printed) when the dialect's server is not configured.
    async fn open(dialect: Dialect, test: &str) -> Option<TestDb> {
        let (url, dir) = match dialect {
            Dialect::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                // A directory that does not exist yet: connect creates it.
                let url = format!("sqlite://{}/data/store.db", dir.path().display());
                (url, Some(dir))
            }
            Dialect::Postgres => {
                let Ok(base) = std::env::var(PG_URL_VAR) else {
                    eprintln!("{test}: skipped: set {PG_URL_VAR} (make test does)");
                    return None;
                };
                let name = format!("madoguchi_test_{}", Uuid::new_v4().simple());
                let url = with_database(&base, &name);
                sqlx::Postgres::create_database(&url)
                    .await
                    .unwrap_or_else(|e| panic!("create database {name} via {base}: {e}"));
                (url, None)
            }
        };
        let store = connect(&url).await;
        Some(TestDb {
            store,
            url,
            dialect,
            _dir: dir,
        })
    }

    /// A second, independent store on the same database (another replica, or after a restart).
    async fn reopen(&self) -> Store {
        connect(&self.url).await
    }

    async fn finish(self) {
        self.store.close().await;
        if let Dialect::Postgres = self.dialect {
            if let Err(e) = sqlx::Postgres::force_drop_database(&self.url).await {
                eprintln!("could not drop {}: {e}", self.url);
            }
        }
    }
}

async fn connect(url: &str) -> Store {
    let store = Store::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate {url}: {e}"));
    store
}

/// Runs a case on a fresh database of the dialect (or skips it). The database is dropped even
/// when the case panics; the panic is then passed on.
async fn run<F, Fut>(dialect: Dialect, test: &str, case: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(db) = TestDb::open(dialect, test).await else {
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

/// Each case runs once per dialect: `store::sqlite::<case>` and `store::postgres::<case>`.
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
    ticket_lifecycle,
    queue_order_and_filters,
    concurrent_claims_have_one_winner,
    concurrent_messages_get_consecutive_seqs,
    concurrent_turns_never_lose_an_update,
    failed_bot_turn_stores_nothing,
    everything_survives_a_restart,
    feedback_and_csat_are_validated,
    kpis_match_hand_computed_numbers,
    messages_after_delivers_new_messages,
    ending_a_conversation_closes_its_tickets,
    customer_turn_stores_all_or_nothing,
    duplicate_client_message_ids_are_refused,
    concurrent_copies_of_a_turn_store_one,
    turn_by_client_message_id_finds_the_stored_turn,
    outbox_is_written_with_its_ticket_only_when_on,
    outbox_claims_retries_and_dead_letters,
    concurrent_outbox_claims_never_share_an_event,
    stream_tickets_are_single_use_and_expire,
    notes_on_a_ticket,
    notify_reaches_a_listener,
    cancelled_writes_leave_no_lock_behind,
);

// ---------------------------------------------------------------------------------------------
// Helpers

async fn conversation(store: &Store, locale: &str) -> Conversation {
    let (_, hash) = new_customer_token();
    store
        .create_conversation(NewConversation {
            locale: Some(loc(locale)),
            customer: Some(json!({"id": "c-1", "name": "山田太郎", "order_ids": ["A-1001"]})),
            token_sha256: hash,
        })
        .await
        .expect("create conversation")
}

fn answer(intent: &str, reply: &str) -> BotTurnRecord {
    BotTurnRecord {
        reply: Some(reply.into()),
        intent: Some(name(intent)),
        confidence: Some(0.91),
        action: BotAction::Answer,
        reason: Some(TurnKind::Answer),
        alternatives: Some(json!([{"intent": "refund", "confidence": 0.04}])),
        quick_replies: None,
        new_status: ConversationStatus::Bot,
        dialogue_state: json!({"turn": intent}),
        handoff: None,
        expected_version: None,
    }
}

fn clarify(intent: &str) -> BotTurnRecord {
    BotTurnRecord {
        action: BotAction::Clarify,
        reason: Some(TurnKind::Clarify),
        quick_replies: Some(json!(["order_status", "refund"])),
        ..answer(intent, "どちらのご用件でしょうか？")
    }
}

fn hand_off(intent: Option<&str>, reason: &str, locale: &str) -> BotTurnRecord {
    BotTurnRecord {
        reply: Some("担当者におつなぎします。".into()),
        intent: intent.map(name),
        confidence: Some(0.42),
        action: BotAction::Handoff,
        reason: Some(TurnKind::Handoff),
        alternatives: None,
        quick_replies: None,
        new_status: ConversationStatus::Handoff,
        dialogue_state: json!({"handed_off": true}),
        handoff: Some(NewHandoff {
            reason: HandoffReason::parse(reason).expect("a handoff reason"),
            intent: intent.map(name),
            locale: loc(locale),
            summary: json!({"order_number": "A-1001", "text": "返品の件でお怒りです"}),
        }),
        expected_version: None,
    }
}

async fn ticket_after_handoff(store: &Store, locale: &str) -> (Conversation, Handoff) {
    let c = conversation(store, locale).await;
    store
        .append_customer_message(c.id, "担当者と話したい")
        .await
        .expect("append");
    let (_, ticket) = store
        .record_bot_turn(
            c.id,
            hand_off(Some("human_agent"), "explicit_request", locale),
        )
        .await
        .expect("hand off");
    (c, ticket.expect("a ticket"))
}

async fn get(store: &Store, id: Uuid) -> Conversation {
    store
        .conversation(id)
        .await
        .expect("read conversation")
        .expect("conversation exists")
}

async fn ticket(store: &Store, id: Uuid) -> Handoff {
    store
        .handoff(id)
        .await
        .expect("read ticket")
        .expect("ticket exists")
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

fn name(intent: &str) -> IntentName {
    IntentName::try_from(intent).expect("an intent name")
}

fn loc(code: &str) -> Locale {
    Locale::parse(code).expect("a locale")
}

/// Puts a waiting ticket on a conversation the bot has (behind the store's back), so that the
/// next ticket the store opens for it breaks the one-open-ticket index mid-transaction.
/// [`remove_planted_tickets`] takes it away again.
async fn plant_open_ticket(db: &TestDb, conversation: Uuid) {
    let sql = format!(
        "INSERT INTO handoffs (id, conversation_id, status, reason, locale, summary, created_at) \
         VALUES ('{}', '{conversation}', 'waiting', 'complaint', 'ja', '{{}}', \
                 '2026-01-01T00:00:00.000000Z')",
        Uuid::new_v4()
    );
    raw_sql(db, &sql).await;
}

async fn remove_planted_tickets(db: &TestDb, conversation: Uuid) {
    let sql = format!(
        "DELETE FROM handoffs WHERE conversation_id = '{conversation}' \
         AND created_at = '2026-01-01T00:00:00.000000Z'"
    );
    raw_sql(db, &sql).await;
}

async fn raw_sql(db: &TestDb, sql: &str) {
    match db.dialect {
        Dialect::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open");
            sqlx::query(sql).execute(&pool).await.expect("plant ticket");
            pool.close().await;
        }
        Dialect::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            sqlx::query(sql).execute(&pool).await.expect("plant ticket");
            pool.close().await;
        }
    }
}

fn is_refused<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid(_) | StoreError::Conflict(_)))
}

fn is_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
}

/// A customer turn answered by `bot`, computed from `version`.
fn customer_turn(
    text: &str,
    client_message_id: Option<&str>,
    version: i64,
    bot: BotTurnRecord,
) -> CustomerTurnRecord {
    CustomerTurnRecord {
        text: text.into(),
        client_message_id: client_message_id.map(str::to_string),
        outcome: json!({"action": bot.action.as_str(), "text": text}),
        bot: BotTurnRecord {
            expected_version: Some(version),
            ..bot
        },
    }
}

fn is_duplicate<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::DuplicateClientMessage))
}

fn seqs(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

// ---------------------------------------------------------------------------------------------
// Cases

async fn ticket_lifecycle(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    assert_eq!(c.status, ConversationStatus::Bot);
    assert_eq!(c.dialogue_state, json!({}));
    assert_eq!(c.last_seq, 0);

    let m1 = s
        .append_customer_message(c.id, "注文はいつ届きますか")
        .await
        .expect("append");
    assert_eq!((m1.seq, m1.role), (1, Role::Customer));
    let (bot, none) = s
        .record_bot_turn(c.id, answer("order_status", "ご注文番号を教えてください。"))
        .await
        .expect("answer");
    let bot = bot.expect("a bot message");
    assert!(none.is_none());
    assert_eq!(
        (bot.seq, bot.role, bot.action),
        (2, Role::Bot, Some(BotAction::Answer))
    );
    assert_eq!(bot.intent.as_deref(), Some("order_status"));
    assert_eq!(bot.confidence, Some(0.91));
    assert_eq!(
        get(s, c.id).await.dialogue_state,
        json!({"turn": "order_status"})
    );

    s.append_customer_message(c.id, "もういい！人と話させて")
        .await
        .expect("append");
    let (msg, t) = s
        .record_bot_turn(
            c.id,
            hand_off(Some("complaint"), "always_handoff_intent", "ja"),
        )
        .await
        .expect("hand off");
    let t = t.expect("a ticket");
    assert_eq!(msg.expect("handoff message").seq, 4);
    assert_eq!(t.status, HandoffStatus::Waiting);
    assert_eq!(t.summary["order_number"], "A-1001");
    assert_eq!(get(s, c.id).await.status, ConversationStatus::Handoff);
    assert_eq!(s.queue_position(t.id).await.expect("position"), Some(1));
    assert_eq!(s.waiting_count().await.expect("count"), 1);
    assert_eq!(
        s.conversation_handoffs(c.id).await.expect("tickets"),
        vec![t.clone()]
    );

    // While a person has the conversation the bot stays silent: speaking is refused and stores
    // nothing; a silent turn may still update the dialogue state.
    let before = s.messages(c.id).await.expect("messages");
    assert!(is_conflict(
        s.record_bot_turn(c.id, answer("order_status", "…")).await
    ));
    assert_eq!(s.messages(c.id).await.expect("messages"), before);
    let silent = BotTurnRecord {
        reply: None,
        new_status: ConversationStatus::Handoff,
        dialogue_state: json!({"entities": {"order_number": "A-1001"}}),
        ..answer("order_status", "unused")
    };
    assert_eq!(
        s.record_bot_turn(c.id, silent).await.expect("silent turn"),
        (None, None)
    );
    let now = get(s, c.id).await;
    assert_eq!(now.status, ConversationStatus::Handoff);
    assert_eq!(now.dialogue_state["entities"]["order_number"], "A-1001");
    assert_eq!(now.last_seq, 4);
    s.append_customer_message(c.id, "まだですか")
        .await
        .expect("customer may write while waiting");

    // Claim, reply, hand back.
    assert!(is_conflict(s.agent_reply(t.id, "alice", "hi").await));
    let claimed = s.claim(t.id, "alice").await.expect("claim");
    assert_eq!(claimed.status, HandoffStatus::Claimed);
    assert_eq!(claimed.claimed_by.as_deref(), Some("alice"));
    assert!(claimed.claimed_at.is_some());
    assert_eq!(get(s, c.id).await.status, ConversationStatus::Agent);
    assert_eq!(s.queue_position(t.id).await.expect("position"), None);
    assert_eq!(s.waiting_count().await.expect("count"), 0);
    assert!(is_conflict(s.claim(t.id, "bob").await));
    assert!(is_conflict(s.claim(t.id, "alice").await));
    assert!(is_conflict(s.agent_reply(t.id, "bob", "hi").await));
    let reply = s
        .agent_reply(t.id, "alice", "担当の佐藤です。確認いたします。")
        .await
        .expect("agent reply");
    assert_eq!((reply.seq, reply.role), (6, Role::Agent));
    assert_eq!(reply.agent_id.as_deref(), Some("alice"));
    assert!(is_conflict(s.hand_back(t.id, "bob").await));
    let back = s.hand_back(t.id, "alice").await.expect("hand back");
    assert_eq!(back.status, HandoffStatus::Returned);
    assert!(back.returned_at.is_some());
    assert_eq!(get(s, c.id).await.status, ConversationStatus::Bot);
    let (m, _) = s
        .record_bot_turn(c.id, answer("shipping_fee", "送料は無料です。"))
        .await
        .expect("the bot speaks again");
    assert_eq!(m.expect("message").seq, 7);

    // A returned ticket can be claimed again; only its holder resolves it.
    s.claim(t.id, "bob").await.expect("reclaim");
    assert!(is_conflict(s.resolve(t.id, "alice", "refund_issued").await));
    assert!(is_invalid(s.resolve(t.id, "bob", " ").await));
    let done = s
        .resolve(t.id, "bob", "refund_issued")
        .await
        .expect("resolve");
    assert_eq!(done.status, HandoffStatus::Resolved);
    assert_eq!(done.resolution_code.as_deref(), Some("refund_issued"));
    let c_done = get(s, c.id).await;
    assert_eq!(c_done.status, ConversationStatus::Resolved);
    assert!(c_done.resolved_at.is_some());
    // Handed back once: not a first-contact resolution.
    assert_eq!(c_done.first_contact_resolution, Some(false));

    assert!(is_conflict(
        s.append_customer_message(c.id, "ありがとう").await
    ));
    assert!(is_conflict(
        s.record_bot_turn(c.id, answer("thanks", "どういたしまして"))
            .await
    ));
    assert!(is_conflict(s.claim(t.id, "alice").await));
    assert_eq!(
        s.resolve_conversation(c.id).await.expect("idempotent"),
        c_done
    );

    let all = s.messages(c.id).await.expect("messages");
    assert_eq!(seqs(&all), (1..=7).collect::<Vec<_>>());
    let roles: Vec<Role> = all.iter().map(|m| m.role).collect();
    use Role::{Agent, Bot, Customer};
    assert_eq!(roles, [Customer, Bot, Customer, Bot, Customer, Agent, Bot]);

    let nobody = Uuid::new_v4();
    assert!(is_not_found(s.claim(nobody, "alice").await));
    assert!(is_not_found(s.agent_reply(nobody, "alice", "x").await));
    assert!(is_not_found(s.hand_back(nobody, "alice").await));
    assert!(is_not_found(s.resolve(nobody, "alice", "x").await));
    assert!(is_not_found(s.queue_position(nobody).await));
    assert!(is_not_found(s.append_customer_message(nobody, "x").await));
    assert!(is_not_found(s.resolve_conversation(nobody).await));
    assert!(s.handoff(nobody).await.expect("read").is_none());
    assert!(s.conversation(nobody).await.expect("read").is_none());
}

async fn queue_order_and_filters(db: Arc<TestDb>) {
    let s = &db.store;
    let (_, t1) = ticket_after_handoff(s, "ja").await;
    let (_, t2) = ticket_after_handoff(s, "en").await;
    let c3 = conversation(s, "ja").await;
    let (_, t3) = s
        .record_bot_turn(c3.id, hand_off(Some("complaint"), "frustration", "ja"))
        .await
        .expect("hand off");
    let t3 = t3.expect("ticket");
    let positions = [t1.id, t2.id, t3.id].map(|id| s.queue_position(id));
    let mut got = Vec::new();
    for p in positions {
        got.push(p.await.expect("position"));
    }
    assert_eq!(got, [Some(1), Some(2), Some(3)]);

    let ids = |v: Vec<Handoff>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let all = s
        .list_handoffs(&HandoffFilter::default())
        .await
        .expect("list");
    assert_eq!(ids(all), [t1.id, t2.id, t3.id]);
    let ja = HandoffFilter {
        locale: Some(loc("ja")),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_handoffs(&ja).await.expect("list")),
        [t1.id, t3.id]
    );
    let complaints = HandoffFilter {
        intent: Some(name("complaint")),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_handoffs(&complaints).await.expect("list")),
        [t3.id]
    );
    let two = HandoffFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_handoffs(&two).await.expect("list")),
        [t1.id, t2.id]
    );
    let zero = HandoffFilter {
        limit: Some(0),
        ..Default::default()
    };
    assert!(is_invalid(s.list_handoffs(&zero).await));

    s.claim(t1.id, "alice").await.expect("claim");
    assert_eq!(s.queue_position(t1.id).await.expect("position"), None);
    assert_eq!(s.queue_position(t2.id).await.expect("position"), Some(1));
    assert_eq!(s.queue_position(t3.id).await.expect("position"), Some(2));
    assert_eq!(s.waiting_count().await.expect("count"), 2);
    let waiting = HandoffFilter {
        status: Some(HandoffStatus::Waiting),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_handoffs(&waiting).await.expect("list")),
        [t2.id, t3.id]
    );
    let claimed = HandoffFilter {
        status: Some(HandoffStatus::Claimed),
        locale: Some(loc("ja")),
        ..Default::default()
    };
    assert_eq!(ids(s.list_handoffs(&claimed).await.expect("list")), [t1.id]);
}

async fn concurrent_claims_have_one_winner(db: Arc<TestDb>) {
    // Two replicas: two independent pools on the same database.
    let a = db.store.clone();
    let b = db.reopen().await;
    for round in 0..8 {
        let (_, t) = ticket_after_handoff(&a, "ja").await;
        let barrier = Arc::new(Barrier::new(2));
        let claim = |store: Store, agent: &'static str| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.claim(t.id, agent).await
            })
        };
        let (ra, rb) = tokio::join!(claim(a.clone(), "alice"), claim(b.clone(), "bob"));
        let (ra, rb) = (ra.expect("join"), rb.expect("join"));
        let winner = match (&ra, &rb) {
            (Ok(h), Err(StoreError::Conflict(_))) | (Err(StoreError::Conflict(_)), Ok(h)) => {
                h.claimed_by.clone().expect("claimed_by")
            }
            _ => panic!("round {round}: expected exactly one winner, got {ra:?} and {rb:?}"),
        };
        let stored = ticket(&a, t.id).await;
        assert_eq!(stored.status, HandoffStatus::Claimed);
        assert_eq!(stored.claimed_by, Some(winner));
    }
    b.close().await;
}

async fn concurrent_messages_get_consecutive_seqs(db: Arc<TestDb>) {
    let c = conversation(&db.store, "en").await;
    let other = db.reopen().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .append_customer_message(c.id, &format!("message {i}"))
                .await
        }));
    }
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.expect("join").expect("append").seq);
    }
    got.sort_unstable();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    assert_eq!(get(&db.store, c.id).await.last_seq, 20);
    other.close().await;
}

/// A request whose client goes away is dropped wherever it is waiting, also half-way through
/// starting a transaction. Hundreds of writes cancelled at staggered moments (four at a time, as
/// disconnecting customers would) must leave no connection holding a transaction: every write
/// afterwards completes at once — on every pooled connection — and everything acknowledged is
/// there.
async fn cancelled_writes_leave_no_lock_behind(db: Arc<TestDb>) {
    let c = conversation(&db.store, "en").await;
    let mut acknowledged = 0;
    for round in 0..150u64 {
        let mut tasks = Vec::new();
        for k in 0..4u64 {
            let store = db.store.clone();
            // 0–1.5 ms: before, during and after BEGIN, the statements and COMMIT.
            let budget = std::time::Duration::from_micros((round * 97 + k * 389) % 1500);
            tasks.push(tokio::spawn(async move {
                tokio::time::timeout(budget, store.append_customer_message(c.id, "hello")).await
            }));
        }
        for t in tasks {
            if let Ok(result) = t.await.expect("join") {
                result.expect("a write that finished succeeded");
                acknowledged += 1;
            }
        }
    }
    // Sixteen writes at once use every connection of the pool.
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::timeout(
                std::time::Duration::from_secs(5),
                store.append_customer_message(c.id, &format!("after {i}")),
            )
            .await
        }));
    }
    for t in tasks {
        t.await
            .expect("join")
            .expect("a write after cancelled ones waited for a lock nobody releases")
            .expect("a write after cancelled ones failed");
    }
    let stored = db.store.messages(c.id).await.expect("messages");
    let hellos = stored.iter().filter(|m| m.text == "hello").count();
    assert!(
        hellos >= acknowledged,
        "{hellos} stored < {acknowledged} acknowledged"
    );
    assert_eq!(stored.len(), hellos + 16);
}

/// Read-modify-write of the dialogue state from two replicas at once: with `expected_version`
/// every increment survives (a stale turn is refused whole and recomputed), and a turn computed
/// before an agent claimed the conversation is refused too.
async fn concurrent_turns_never_lose_an_update(db: Arc<TestDb>) {
    let c = conversation(&db.store, "ja").await;
    let other = db.reopen().await;
    const TURNS: i64 = 12;
    let mut tasks = Vec::new();
    for i in 0..TURNS {
        let store = if i % 2 == 0 {
            db.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            loop {
                let now = store
                    .conversation(c.id)
                    .await
                    .expect("read")
                    .expect("exists");
                let count = now.dialogue_state["count"].as_i64().unwrap_or(0);
                let turn = BotTurnRecord {
                    dialogue_state: json!({ "count": count + 1 }),
                    expected_version: Some(now.version),
                    ..answer("order_status", &format!("turn {i}"))
                };
                match store.record_bot_turn(c.id, turn).await {
                    Ok(_) => return,
                    Err(StoreError::Stale { id }) => assert_eq!(id, c.id),
                    Err(e) => panic!("turn {i}: {e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("join");
    }
    let after = get(&db.store, c.id).await;
    assert_eq!(after.dialogue_state["count"], TURNS);
    assert_eq!(after.version, TURNS);
    assert_eq!(
        after.last_seq, TURNS,
        "one bot message per stored turn, none from a stale one"
    );

    // A turn computed, then an agent claims (status change bumps the version): refused whole.
    let (c2, t2) = ticket_after_handoff(&db.store, "ja").await;
    let read = get(&db.store, c2.id).await;
    let before = db.store.messages(c2.id).await.expect("messages");
    db.store.claim(t2.id, "alice").await.expect("claim");
    let late = BotTurnRecord {
        reply: None,
        new_status: ConversationStatus::Handoff,
        expected_version: Some(read.version),
        ..answer("order_status", "unused")
    };
    assert!(matches!(
        db.store.record_bot_turn(c2.id, late).await,
        Err(StoreError::Stale { .. })
    ));
    let claimed = get(&db.store, c2.id).await;
    assert_eq!(claimed.status, ConversationStatus::Agent);
    assert_eq!(claimed.version, read.version + 1);
    assert_eq!(claimed.dialogue_state, read.dialogue_state);
    assert_eq!(db.store.messages(c2.id).await.expect("messages"), before);
    other.close().await;
}

async fn failed_bot_turn_stores_nothing(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    s.append_customer_message(c.id, "返品したい")
        .await
        .expect("append");
    s.record_bot_turn(c.id, answer("refund", "返品はこちらから。"))
        .await
        .expect("answer");
    let messages_before = s.messages(c.id).await.expect("messages");

    // The message and the status change are written before the ticket, which the database
    // refuses (a second open ticket): the whole turn must roll back.
    plant_open_ticket(&db, c.id).await;
    let before = get(s, c.id).await;
    let bad = hand_off(Some("refund"), "low_confidence", "ja");
    let err = s.record_bot_turn(c.id, bad).await.expect_err("refused");
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    remove_planted_tickets(&db, c.id).await;
    assert_eq!(get(s, c.id).await, before);
    assert_eq!(s.messages(c.id).await.expect("messages"), messages_before);
    assert!(s
        .conversation_handoffs(c.id)
        .await
        .expect("tickets")
        .is_empty());
    assert_eq!(s.waiting_count().await.expect("count"), 0);

    // Refused before touching the database.
    let no_ticket = BotTurnRecord {
        handoff: None,
        ..hand_off(None, "low_confidence", "ja")
    };
    assert!(is_invalid(s.record_bot_turn(c.id, no_ticket).await));
    let bad_confidence = BotTurnRecord {
        confidence: Some(1.5),
        ..answer("refund", "x")
    };
    assert!(is_invalid(s.record_bot_turn(c.id, bad_confidence).await));
    let blank = BotTurnRecord {
        reply: Some("  ".into()),
        ..answer("refund", "x")
    };
    assert!(is_invalid(s.record_bot_turn(c.id, blank).await));
    assert!(is_not_found(
        s.record_bot_turn(Uuid::new_v4(), answer("refund", "x"))
            .await
    ));
    assert_eq!(get(s, c.id).await, before);

    // The same turn, valid, takes the next seq: no gap was left behind.
    let (m, t) = s
        .record_bot_turn(c.id, hand_off(Some("refund"), "low_confidence", "ja"))
        .await
        .expect("hand off");
    assert_eq!(m.expect("message").seq, before.last_seq + 1);
    assert_eq!(t.expect("ticket").reason, HandoffReason::LowConfidence);
}

async fn everything_survives_a_restart(db: Arc<TestDb>) {
    let s = &db.store;
    let (c, t) = ticket_after_handoff(s, "ja").await;
    s.claim(t.id, "alice").await.expect("claim");
    s.agent_reply(t.id, "alice", "お待たせしました")
        .await
        .expect("reply");
    let c2 = conversation(s, "en").await;
    s.append_customer_message(c2.id, "Where is my order?")
        .await
        .expect("append");
    let (bot, _) = s
        .record_bot_turn(c2.id, answer("order_status", "It ships tomorrow."))
        .await
        .expect("answer");
    let bot = bot.expect("message");
    s.set_feedback(c2.id, bot.id, true, Some("thanks".into()))
        .await
        .expect("feedback");
    s.resolve_conversation(c2.id).await.expect("resolve");
    s.set_csat(c2.id, 4, Some("quick".into()))
        .await
        .expect("csat");

    let snapshot = (
        get(s, c.id).await,
        s.messages(c.id).await.expect("messages"),
        ticket(s, t.id).await,
        get(s, c2.id).await,
        s.messages(c2.id).await.expect("messages"),
        s.kpis(None).await.expect("kpis"),
    );
    s.close().await;

    let again = db.reopen().await;
    let restored = (
        get(&again, c.id).await,
        again.messages(c.id).await.expect("messages"),
        ticket(&again, t.id).await,
        get(&again, c2.id).await,
        again.messages(c2.id).await.expect("messages"),
        again.kpis(None).await.expect("kpis"),
    );
    assert_eq!(restored, snapshot);
    assert_eq!(restored.4[1].feedback_helpful, Some(true));
    assert_eq!(restored.3.csat_score, Some(4));
    // The store goes on where it left off.
    let next = again
        .agent_reply(t.id, "alice", "発送済みです")
        .await
        .expect("reply after restart");
    assert_eq!(next.seq, restored.1.len() as i64 + 1);
    again.close().await;
}

async fn feedback_and_csat_are_validated(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    let customer = s
        .append_customer_message(c.id, "送料は？")
        .await
        .expect("append");
    let (bot, _) = s
        .record_bot_turn(c.id, answer("shipping_fee", "送料は無料です。"))
        .await
        .expect("answer");
    let bot = bot.expect("message");

    let rated = s
        .set_feedback(c.id, bot.id, true, Some("わかりやすい".into()))
        .await
        .expect("feedback");
    assert_eq!(rated.feedback_helpful, Some(true));
    assert_eq!(rated.feedback_comment.as_deref(), Some("わかりやすい"));
    let changed = s
        .set_feedback(c.id, bot.id, false, None)
        .await
        .expect("feedback again");
    assert_eq!(
        (changed.feedback_helpful, changed.feedback_comment),
        (Some(false), None)
    );
    assert!(is_invalid(
        s.set_feedback(c.id, customer.id, true, None).await
    ));
    let other = conversation(s, "ja").await;
    assert!(is_not_found(
        s.set_feedback(other.id, bot.id, true, None).await
    ));
    assert!(is_not_found(
        s.set_feedback(c.id, Uuid::new_v4(), true, None).await
    ));

    for bad in [0, 6, 255] {
        assert!(is_invalid(s.set_csat(c.id, bad, None).await), "score {bad}");
    }
    assert_eq!(get(s, c.id).await.csat_score, None);
    let scored = s
        .set_csat(c.id, 5, Some("最高".into()))
        .await
        .expect("csat");
    assert_eq!(scored.csat_score, Some(5));
    assert_eq!(scored.csat_comment.as_deref(), Some("最高"));
    assert!(is_not_found(s.set_csat(Uuid::new_v4(), 3, None).await));

    // Other input the store refuses (NUL: PostgreSQL cannot store it, so neither dialect does).
    assert!(is_invalid(s.append_customer_message(c.id, " \n ").await));
    assert!(is_invalid(s.append_customer_message(c.id, "a\0b").await));
    assert!(is_invalid(s.set_csat(c.id, 4, Some("\0".into())).await));
    let nul_customer = NewConversation {
        locale: None,
        customer: Some(json!({"name": "x\u{0}y"})),
        token_sha256: new_customer_token().1,
    };
    assert!(is_invalid(s.create_conversation(nul_customer).await));
    let nul_state = BotTurnRecord {
        dialogue_state: json!({"last": ["\0"]}),
        ..answer("shipping_fee", "x")
    };
    assert!(is_invalid(s.record_bot_turn(c.id, nul_state).await));
    let bad_hash = NewConversation {
        locale: None,
        customer: None,
        token_sha256: "not a hash".into(),
    };
    assert!(is_invalid(s.create_conversation(bad_hash).await));
    let (_, t) = ticket_after_handoff(s, "ja").await;
    assert!(is_invalid(s.claim(t.id, "").await));
    assert_eq!(get(s, c.id).await.last_seq, 2);
}

async fn kpis_match_hand_computed_numbers(db: Arc<TestDb>) {
    let s = &db.store;
    let since = Utc::now() - Duration::seconds(5);

    // 1: the bot answers, helpfully; resolved; CSAT 5.
    let c1 = conversation(s, "ja").await;
    s.append_customer_message(c1.id, "注文状況")
        .await
        .expect("append");
    let (m, _) = s
        .record_bot_turn(c1.id, answer("order_status", "発送済みです"))
        .await
        .expect("turn");
    s.set_feedback(c1.id, m.expect("m").id, true, None)
        .await
        .expect("feedback");
    let c1 = s.resolve_conversation(c1.id).await.expect("resolve");
    s.set_csat(c1.id, 5, None).await.expect("csat");

    // 2: clarify, then an unhelpful answer; still open.
    let c2 = conversation(s, "en").await;
    s.record_bot_turn(c2.id, clarify("order_status"))
        .await
        .expect("turn");
    let (m, _) = s
        .record_bot_turn(c2.id, answer("shipping_fee", "Shipping is free."))
        .await
        .expect("turn");
    s.set_feedback(c2.id, m.expect("m").id, false, Some("wrong".into()))
        .await
        .expect("feedback");

    // 3: a complaint handed off, claimed and resolved by an agent; CSAT 3.
    let c3 = conversation(s, "ja").await;
    let (_, t3) = s
        .record_bot_turn(
            c3.id,
            hand_off(Some("complaint"), "always_handoff_intent", "ja"),
        )
        .await
        .expect("turn");
    let t3 = t3.expect("ticket");
    let t3_claimed = s.claim(t3.id, "alice").await.expect("claim");
    s.agent_reply(t3.id, "alice", "申し訳ございません")
        .await
        .expect("reply");
    s.resolve(t3.id, "alice", "apologized")
        .await
        .expect("resolve");
    let c3 = get(s, c3.id).await;
    s.set_csat(c3.id, 3, None).await.expect("csat");

    // 4: a helpful answer, then an out-of-scope handoff nobody claims; the customer leaves.
    let c4 = conversation(s, "ja").await;
    let (m, _) = s
        .record_bot_turn(c4.id, answer("refund", "返品はこちら"))
        .await
        .expect("turn");
    s.set_feedback(c4.id, m.expect("m").id, true, None)
        .await
        .expect("feedback");
    s.record_bot_turn(c4.id, hand_off(None, "out_of_scope", "ja"))
        .await
        .expect("turn");
    let c4 = s.resolve_conversation(c4.id).await.expect("resolve");

    assert_eq!(c1.first_contact_resolution, Some(true));
    assert_eq!(get(s, c2.id).await.first_contact_resolution, None);
    assert_eq!(c3.first_contact_resolution, Some(true));
    assert_eq!(c4.first_contact_resolution, Some(false));

    let k = s.kpis(None).await.expect("kpis");
    assert_eq!(k.conversations, 4);
    assert_eq!(k.contained, 1);
    assert_eq!(k.handoffs, 2);
    assert_eq!(k.tickets, 2);
    assert_eq!(k.handoff_rate, Some(0.5));
    assert_eq!(k.containment_rate, Some(0.25));
    assert_eq!(k.csat_average, Some(4.0));
    assert_eq!(k.csat_responses, 2);
    assert_eq!(k.first_contact_resolution_rate, Some(2.0 / 3.0));
    assert_eq!(k.helpful_rate, Some(2.0 / 3.0));
    assert_eq!(k.feedback_responses, 3);
    let secs = |c: &Conversation| {
        (c.resolved_at.expect("resolved") - c.created_at)
            .num_microseconds()
            .expect("µs") as f64
            / 1e6
    };
    let mttr = (secs(&c1) + secs(&c3) + secs(&c4)) / 3.0;
    let got = k.mean_time_to_resolution_seconds.expect("mttr");
    // SQLite's date functions keep milliseconds.
    assert!((got - mttr).abs() < 0.003, "mttr {got} vs {mttr}");
    let wait = (t3_claimed.claimed_at.expect("claimed") - t3.created_at)
        .num_microseconds()
        .expect("µs") as f64
        / 1e6;
    let got = k.mean_time_to_claim_seconds.expect("claim wait");
    assert!((got - wait).abs() < 0.003, "claim wait {got} vs {wait}");
    let row = |intent: Option<&str>, answers, clarifies, handoffs| IntentActions {
        intent: intent.map(str::to_string),
        answers,
        clarifies,
        handoffs,
    };
    assert_eq!(
        k.answers_by_intent,
        vec![
            row(Some("complaint"), 0, 0, 1),
            row(Some("order_status"), 1, 1, 0),
            row(Some("refund"), 1, 0, 0),
            row(Some("shipping_fee"), 1, 0, 0),
            row(None, 0, 0, 1),
        ]
    );

    // A window that started before everything counts the same; one in the future counts nothing.
    let windowed = s.kpis(Some(since)).await.expect("kpis");
    assert_eq!(
        (windowed.conversations, windowed.contained, windowed.tickets),
        (4, 1, 2)
    );
    assert_eq!(windowed.answers_by_intent, k.answers_by_intent);
    let future = s
        .kpis(Some(Utc::now() + Duration::hours(1)))
        .await
        .expect("kpis");
    assert_eq!((future.conversations, future.tickets), (0, 0));
    assert_eq!(
        (
            future.handoff_rate,
            future.csat_average,
            future.helpful_rate
        ),
        (None, None, None)
    );
    assert!(future.answers_by_intent.is_empty());
    let json: Value = serde_json::to_value(&k).expect("serialize");
    assert_eq!(json["answers_by_intent"][0]["intent"], "complaint");
}

async fn messages_after_delivers_new_messages(db: Arc<TestDb>) {
    let s = &db.store;
    let (c, t) = ticket_after_handoff(s, "en").await;
    let seen = get(s, c.id).await.last_seq;
    assert_eq!(seen, 2);
    assert!(s.messages_after(c.id, seen).await.expect("poll").is_empty());
    s.claim(t.id, "alice").await.expect("claim");
    let r1 = s
        .agent_reply(t.id, "alice", "Hi, I'm Alice.")
        .await
        .expect("reply");
    let r2 = s
        .agent_reply(t.id, "alice", "Let me check.")
        .await
        .expect("reply");
    assert_eq!(
        s.messages_after(c.id, seen).await.expect("poll"),
        vec![r1, r2.clone()]
    );
    assert_eq!(s.messages_after(c.id, 3).await.expect("poll"), vec![r2]);
    assert_eq!(
        seqs(&s.messages_after(c.id, 0).await.expect("poll")),
        [1, 2, 3, 4]
    );
    assert!(s
        .messages_after(Uuid::new_v4(), 0)
        .await
        .expect("poll")
        .is_empty());
}

async fn ending_a_conversation_closes_its_tickets(db: Arc<TestDb>) {
    let s = &db.store;
    let (c, t) = ticket_after_handoff(s, "ja").await;
    let ended = s.resolve_conversation(c.id).await.expect("resolve");
    assert_eq!(ended.status, ConversationStatus::Resolved);
    assert_eq!(ended.first_contact_resolution, Some(false));
    let closed = ticket(s, t.id).await;
    assert_eq!(closed.status, HandoffStatus::Resolved);
    assert_eq!(
        closed.resolution_code.as_deref(),
        Some("conversation_resolved")
    );
    assert_eq!(s.waiting_count().await.expect("count"), 0);
    assert!(is_conflict(s.claim(t.id, "alice").await));
    // CSAT comes after the end.
    assert_eq!(
        s.set_csat(c.id, 2, None).await.expect("csat").csat_score,
        Some(2)
    );
}

async fn customer_turn_stores_all_or_nothing(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    let turn = customer_turn(
        "注文はどこ？",
        Some("m-1"),
        c.version,
        answer("order_status", "配送中です。"),
    );
    let stored = s.record_customer_turn(c.id, turn).await.expect("turn");
    assert_eq!(
        (stored.message.seq, stored.message.role),
        (1, Role::Customer)
    );
    assert_eq!(stored.message.text, "注文はどこ？");
    assert_eq!(stored.message.client_message_id.as_deref(), Some("m-1"));
    assert_eq!(
        stored.message.outcome.as_ref().expect("outcome")["action"],
        "answer"
    );
    let reply = stored.reply.clone().expect("reply");
    assert_eq!((reply.seq, reply.role), (2, Role::Bot));
    assert_eq!(reply.intent.as_deref(), Some("order_status"));
    assert!(stored.handoff.is_none());
    assert_eq!(
        s.messages(c.id).await.expect("messages"),
        [stored.message.clone(), reply]
    );
    let after = get(s, c.id).await;
    assert_eq!((after.last_seq, after.version), (2, c.version + 1));
    // The outcome is the store's and the dialogue's: never in the transcript's JSON.
    let shown = serde_json::to_value(&stored.message).expect("json");
    assert_eq!(shown["client_message_id"], "m-1");
    assert!(shown.get("outcome").is_none(), "{shown}");
    let shown = serde_json::to_value(stored.reply.as_ref()).expect("json");
    assert!(shown.get("client_message_id").is_none(), "{shown}");

    // A stale turn stores no customer message either.
    let stale = customer_turn(
        "まだ？",
        Some("m-2"),
        c.version,
        answer("order_status", "x"),
    );
    let err = s
        .record_customer_turn(c.id, stale)
        .await
        .expect_err("stale");
    assert!(
        matches!(err, StoreError::Stale { id } if id == c.id),
        "{err:?}"
    );
    assert_eq!(get(s, c.id).await, after);
    assert_eq!(s.messages(c.id).await.expect("messages").len(), 2);

    // A write the database refuses after the customer's message (a second open ticket).
    plant_open_ticket(&db, c.id).await;
    let after = get(s, c.id).await;
    let bad = hand_off(Some("refund"), "low_confidence", "ja");
    let bad = customer_turn("返品", Some("m-3"), after.version, bad);
    assert!(is_refused(s.record_customer_turn(c.id, bad).await));
    remove_planted_tickets(&db, c.id).await;
    assert_eq!(get(s, c.id).await, after);
    assert_eq!(s.messages(c.id).await.expect("messages").len(), 2);
    assert!(s
        .turn_by_client_message_id(c.id, "m-3")
        .await
        .expect("lookup")
        .is_none());

    // A turn that hands off: customer message, reply and ticket together.
    let hand = customer_turn(
        "返品",
        Some("m-3"),
        after.version,
        hand_off(Some("refund"), "low_confidence", "ja"),
    );
    let stored = s.record_customer_turn(c.id, hand).await.expect("hand off");
    assert_eq!(stored.message.seq, 3);
    assert_eq!(stored.reply.as_ref().map(|m| m.seq), Some(4));
    let ticket = stored.handoff.expect("ticket");
    assert_eq!(ticket.status, HandoffStatus::Waiting);
    let handed = get(s, c.id).await;
    assert_eq!(handed.status, ConversationStatus::Handoff);

    // While a person has it: a turn that would speak is refused whole; a silent one stores the
    // customer's message and the dialogue state.
    let speak = customer_turn(
        "まだ？",
        Some("m-4"),
        handed.version,
        answer("order_status", "x"),
    );
    assert!(is_conflict(s.record_customer_turn(c.id, speak).await));
    assert_eq!(get(s, c.id).await, handed);
    let silent = BotTurnRecord {
        reply: None,
        new_status: ConversationStatus::Handoff,
        dialogue_state: json!({"waiting": true}),
        ..answer("order_status", "unused")
    };
    let quiet = customer_turn("まだ？", Some("m-4"), handed.version, silent.clone());
    let stored = s
        .record_customer_turn(c.id, quiet)
        .await
        .expect("silent turn");
    assert_eq!(stored.message.seq, 5);
    assert!(stored.reply.is_none() && stored.handoff.is_none());
    assert_eq!(get(s, c.id).await.dialogue_state, json!({"waiting": true}));

    // Resolved, unknown, blank.
    let version = get(s, c.id).await.version;
    let blank = customer_turn(" ", None, version, silent.clone());
    assert!(is_invalid(s.record_customer_turn(c.id, blank).await));
    s.resolve_conversation(c.id).await.expect("resolve");
    let version = get(s, c.id).await.version;
    let late = customer_turn("もしもし", None, version, silent.clone());
    assert!(is_conflict(s.record_customer_turn(c.id, late).await));
    let nowhere = customer_turn("もしもし", None, 0, answer("greeting", "x"));
    assert!(is_not_found(
        s.record_customer_turn(Uuid::new_v4(), nowhere).await
    ));
    assert_eq!(s.messages(c.id).await.expect("messages").len(), 5);
}

async fn duplicate_client_message_ids_are_refused(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "en").await;
    let first = customer_turn(
        "where is my order",
        Some("m-1"),
        c.version,
        answer("order_status", "On its way."),
    );
    s.record_customer_turn(c.id, first.clone())
        .await
        .expect("first");
    let after = get(s, c.id).await;

    // A resend computed from the old version: a duplicate, not stale (the first copy is what
    // changed the version).
    assert!(is_duplicate(
        s.record_customer_turn(c.id, first.clone()).await
    ));
    // Computed from the current version, or with no version check: the unique index refuses it.
    let current = customer_turn(
        "where is my order",
        Some("m-1"),
        after.version,
        answer("order_status", "x"),
    );
    assert!(is_duplicate(s.record_customer_turn(c.id, current).await));
    let unchecked = CustomerTurnRecord {
        bot: BotTurnRecord {
            expected_version: None,
            ..first.bot.clone()
        },
        ..first.clone()
    };
    assert!(is_duplicate(s.record_customer_turn(c.id, unchecked).await));
    assert_eq!(get(s, c.id).await, after);
    assert_eq!(s.messages(c.id).await.expect("messages").len(), 2);

    // The id is per conversation; messages without one never collide.
    let other = conversation(s, "en").await;
    let same_id = customer_turn(
        "hello",
        Some("m-1"),
        other.version,
        answer("greeting", "Hi!"),
    );
    s.record_customer_turn(other.id, same_id)
        .await
        .expect("other conversation");
    for text in ["a", "b"] {
        let version = get(s, other.id).await.version;
        let turn = customer_turn(text, None, version, answer("greeting", "Hi!"));
        s.record_customer_turn(other.id, turn)
            .await
            .expect("no client id");
    }
    assert_eq!(
        seqs(&s.messages(other.id).await.expect("messages")),
        [1, 2, 3, 4, 5, 6]
    );
}

/// Two copies of one turn sent at once (a client retrying, two replicas): one is stored, the
/// other is refused as a duplicate — never a database error, never two messages.
async fn concurrent_copies_of_a_turn_store_one(db: Arc<TestDb>) {
    let a = db.store.clone();
    let b = db.reopen().await;
    for round in 0..8 {
        let c = conversation(&a, "ja").await;
        let id = c.id;
        let mut turn = customer_turn(
            "返品したい",
            Some("dup"),
            c.version,
            answer("refund", "こちらから。"),
        );
        if round % 2 == 1 {
            // Without a version check the second copy gets past the guard to the unique index.
            turn.bot.expected_version = None;
        }
        let barrier = Arc::new(Barrier::new(2));
        let send = |store: Store| {
            let (barrier, turn) = (Arc::clone(&barrier), turn.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.record_customer_turn(id, turn).await
            })
        };
        let (ra, rb) = tokio::join!(send(a.clone()), send(b.clone()));
        let (ra, rb) = (ra.expect("join"), rb.expect("join"));
        let stored = match (ra, rb) {
            (Ok(t), Err(StoreError::DuplicateClientMessage))
            | (Err(StoreError::DuplicateClientMessage), Ok(t)) => t,
            (ra, rb) => {
                panic!("round {round}: expected one stored and one duplicate: {ra:?} {rb:?}")
            }
        };
        let messages = a.messages(c.id).await.expect("messages");
        assert_eq!(seqs(&messages), [1, 2], "round {round}");
        assert_eq!(messages[0], stored.message);
    }
    b.close().await;
}

async fn turn_by_client_message_id_finds_the_stored_turn(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    assert_eq!(
        s.turn_by_client_message_id(c.id, "m-1")
            .await
            .expect("lookup"),
        None
    );
    let turn = customer_turn(
        "注文はどこ？",
        Some("m-1"),
        c.version,
        answer("order_status", "配送中です。"),
    );
    let answered = s.record_customer_turn(c.id, turn).await.expect("turn");
    let version = get(s, c.id).await.version;
    let turn = customer_turn(
        "担当者を",
        Some("m-2"),
        version,
        hand_off(Some("human_agent"), "always_handoff_intent", "ja"),
    );
    let handed = s.record_customer_turn(c.id, turn).await.expect("hand off");
    assert!(handed.handoff.is_some());

    let cid = c.id;
    let found = |id: &'static str| async move {
        s.turn_by_client_message_id(cid, id)
            .await
            .expect("lookup")
            .expect("found")
    };
    assert_eq!(found("m-1").await, answered);
    assert_eq!(found("m-2").await, handed);

    // A silent turn while a person has it: no reply, no ticket — even when the agent's message
    // follows it.
    let ticket = handed.handoff.expect("ticket");
    let version = get(s, c.id).await.version;
    let silent = BotTurnRecord {
        reply: None,
        new_status: ConversationStatus::Handoff,
        ..answer("order_status", "unused")
    };
    let turn = customer_turn("まだですか", Some("m-3"), version, silent);
    let quiet = s.record_customer_turn(c.id, turn).await.expect("silent");
    s.claim(ticket.id, "alice").await.expect("claim");
    s.agent_reply(ticket.id, "alice", "お待たせしました。")
        .await
        .expect("reply");
    let expected = StoredTurn {
        message: quiet.message,
        reply: None,
        handoff: None,
    };
    assert_eq!(found("m-3").await, expected);
    // Per conversation.
    let other = conversation(s, "ja").await;
    assert_eq!(
        s.turn_by_client_message_id(other.id, "m-1")
            .await
            .expect("lookup"),
        None
    );
}

async fn outbox_is_written_with_its_ticket_only_when_on(db: Arc<TestDb>) {
    let off = db.store.clone();
    ticket_after_handoff(&off, "ja").await;
    let zero = OutboxStats {
        pending: 0,
        dead: 0,
        delivered: 0,
    };
    assert_eq!(off.outbox_stats().await.expect("stats"), zero);

    let s = db.store.clone().with_outbox(true);
    let (c1, t1) = ticket_after_handoff(&s, "ja").await;
    let c2 = conversation(&s, "en").await;
    let turn = customer_turn(
        "agent please",
        Some("m-1"),
        c2.version,
        hand_off(None, "always_handoff_intent", "en"),
    );
    let t2 = s
        .record_customer_turn(c2.id, turn)
        .await
        .expect("turn")
        .handoff
        .expect("ticket");
    // A refused turn writes no event.
    let stale = customer_turn(
        "again",
        Some("m-2"),
        c2.version,
        hand_off(None, "always_handoff_intent", "en"),
    );
    assert!(s.record_customer_turn(c2.id, stale).await.is_err());
    s.claim(t1.id, "alice").await.expect("claim");
    s.resolve(t1.id, "alice", "refunded")
        .await
        .expect("resolve");
    s.resolve_conversation(c2.id).await.expect("end");
    s.resolve_conversation(c2.id).await.expect("end twice");

    let events = s.list_outbox(false, 100).await.expect("list");
    let mut got: Vec<(&str, Uuid, Uuid)> = events
        .iter()
        .map(|e| (e.event.as_str(), e.ticket_id, e.conversation_id))
        .collect();
    let mut expected = vec![
        ("handoff.opened", t1.id, c1.id),
        ("handoff.opened", t2.id, c2.id),
        ("handoff.resolved", t1.id, c1.id),
        ("handoff.resolved", t2.id, c2.id),
    ];
    got.sort();
    expected.sort();
    assert_eq!(got, expected, "{events:#?}");
    assert!(
        events
            .windows(2)
            .all(|w| w[0].created_at >= w[1].created_at),
        "newest first"
    );
    for e in &events {
        assert_eq!((e.attempts, e.delivered_at, e.dead_at), (0, None, None));
        assert_eq!(e.next_attempt_at, e.created_at);
    }
    assert_eq!(s.outbox_stats().await.expect("stats").pending, 4);
    assert!(s.list_outbox(true, 100).await.expect("dead").is_empty());
}

async fn outbox_claims_retries_and_dead_letters(db: Arc<TestDb>) {
    let s = db.store.clone().with_outbox(true);
    for _ in 0..3 {
        ticket_after_handoff(&s, "ja").await;
    }
    let lease = std::time::Duration::from_secs(60);
    let claimed = s.claim_outbox(10, lease).await.expect("claim");
    assert_eq!(claimed.len(), 3);
    assert!(s.claim_outbox(10, lease).await.expect("leased").is_empty());
    let (e1, e2, e3) = (claimed[0].id, claimed[1].id, claimed[2].id);

    s.outbox_delivered(e1).await.expect("delivered");
    let retry_at = Utc::now() - Duration::seconds(1);
    s.outbox_retry(e2, "HTTP 500", retry_at)
        .await
        .expect("retry");
    s.outbox_dead(e3, "HTTP 410").await.expect("dead");
    let again = s.claim_outbox(10, lease).await.expect("claim the retry");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!((again[0].id, again[0].attempts), (e2, 1));
    assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));

    let later = Utc::now() + Duration::hours(1);
    s.outbox_retry(e2, "timeout\0", later)
        .await
        .expect("retry later");
    assert!(s.claim_outbox(10, lease).await.expect("not due").is_empty());
    assert_eq!(
        s.outbox_stats().await.expect("stats"),
        OutboxStats {
            pending: 1,
            dead: 1,
            delivered: 1
        }
    );
    let dead = s.list_outbox(true, 10).await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].id, dead[0].attempts), (e3, 1));
    assert!(dead[0].dead_at.is_some());
    assert_eq!(dead[0].last_error.as_deref(), Some("HTTP 410"));
    let all = s.list_outbox(false, 2).await.expect("list");
    assert_eq!(all.len(), 2);
    let e2_now = s.list_outbox(false, 10).await.expect("list");
    let e2_now = e2_now.iter().find(|e| e.id == e2).expect("e2");
    assert_eq!(
        (e2_now.attempts, e2_now.last_error.as_deref()),
        (2, Some("timeout"))
    );
    assert_eq!(e2_now.next_attempt_at.timestamp(), later.timestamp());

    // A lease that ends lets the event be claimed again (the claimer died mid-delivery).
    let (_, _) = ticket_after_handoff(&s, "ja").await;
    let short = s
        .claim_outbox(10, std::time::Duration::ZERO)
        .await
        .expect("claim");
    assert_eq!(short.len(), 1);
    assert_eq!(
        s.claim_outbox(10, lease).await.expect("reclaim")[0].id,
        short[0].id
    );

    assert!(is_not_found(s.outbox_delivered(Uuid::new_v4()).await));
    assert!(is_not_found(s.outbox_dead(Uuid::new_v4(), "x").await));
    assert!(is_invalid(s.claim_outbox(0, lease).await));
}

/// Two replicas draining the outbox at once: every event is claimed exactly once.
async fn concurrent_outbox_claims_never_share_an_event(db: Arc<TestDb>) {
    let a = db.store.clone().with_outbox(true);
    let b = db.reopen().await.with_outbox(true);
    const EVENTS: usize = 24;
    for _ in 0..EVENTS {
        ticket_after_handoff(&a, "ja").await;
    }
    let barrier = Arc::new(Barrier::new(2));
    let drain = |store: Store| {
        let barrier = Arc::clone(&barrier);
        tokio::spawn(async move {
            barrier.wait().await;
            let mut ids = Vec::new();
            loop {
                let lease = std::time::Duration::from_secs(300);
                let got = store.claim_outbox(3, lease).await.expect("claim");
                if got.is_empty() {
                    return ids;
                }
                ids.extend(got.into_iter().map(|e| e.id));
            }
        })
    };
    let (ra, rb) = tokio::join!(drain(a.clone()), drain(b.clone()));
    let mut all = ra.expect("join");
    all.extend(rb.expect("join"));
    let claimed = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        (claimed, all.len()),
        (EVENTS, EVENTS),
        "an event was claimed twice or never"
    );
    b.close().await;
}

async fn stream_tickets_are_single_use_and_expire(db: Arc<TestDb>) {
    let s = &db.store;
    let c = conversation(s, "ja").await;
    let hash = |n: u32| sha256_hex(&format!("stream ticket {n}"));
    let soon = Utc::now() + Duration::seconds(60);
    s.create_stream_ticket(c.id, &hash(1), soon)
        .await
        .expect("create");
    assert_eq!(
        s.consume_stream_ticket(&hash(1)).await.expect("consume"),
        Some(c.id)
    );
    assert_eq!(
        s.consume_stream_ticket(&hash(1)).await.expect("again"),
        None
    );

    let past = Utc::now() - Duration::seconds(1);
    s.create_stream_ticket(c.id, &hash(2), past)
        .await
        .expect("create expired");
    assert_eq!(
        s.consume_stream_ticket(&hash(2)).await.expect("expired"),
        None
    );
    s.create_stream_ticket(c.id, &hash(6), past)
        .await
        .expect("create expired");
    s.create_stream_ticket(c.id, &hash(7), soon)
        .await
        .expect("create");
    assert_eq!(stream_ticket_rows(&db).await, 2);
    // Consuming any ticket (even an unknown one) sweeps the expired ones.
    assert_eq!(
        s.consume_stream_ticket(&hash(8)).await.expect("unknown"),
        None
    );
    assert_eq!(stream_ticket_rows(&db).await, 1);
    assert_eq!(
        s.consume_stream_ticket(&hash(3)).await.expect("unknown"),
        None
    );

    assert!(is_not_found(
        s.create_stream_ticket(Uuid::new_v4(), &hash(4), soon).await
    ));
    assert!(is_invalid(
        s.create_stream_ticket(c.id, "not-a-hash", soon).await
    ));
    s.create_stream_ticket(c.id, &hash(5), soon)
        .await
        .expect("create");
    assert!(is_conflict(
        s.create_stream_ticket(c.id, &hash(5), soon).await
    ));

    // Two replicas presenting one ticket at once: one gets it.
    let other = db.reopen().await;
    let h5 = hash(5);
    let (ra, rb) = tokio::join!(
        s.consume_stream_ticket(&h5),
        other.consume_stream_ticket(&h5)
    );
    let mut got = [ra.expect("consume"), rb.expect("consume")];
    got.sort();
    assert_eq!(got, [None, Some(c.id)]);
    other.close().await;
}

async fn notes_on_a_ticket(db: Arc<TestDb>) {
    let s = &db.store;
    let (c, t) = ticket_after_handoff(s, "ja").await;
    let transcript = s.messages(c.id).await.expect("messages");
    assert!(s.notes(t.id).await.expect("notes").is_empty());
    let n1 = s
        .add_note(t.id, "alice", "常連のお客様")
        .await
        .expect("note");
    let n2 = s
        .add_note(t.id, "bob", "返金済みか確認")
        .await
        .expect("note");
    assert_eq!((n1.handoff_id, n1.agent_id.as_str()), (t.id, "alice"));
    assert_eq!(s.notes(t.id).await.expect("notes"), [n1, n2]);
    assert_eq!(
        s.messages(c.id).await.expect("messages"),
        transcript,
        "not in the transcript"
    );

    assert!(is_not_found(s.add_note(Uuid::new_v4(), "alice", "x").await));
    assert!(is_invalid(s.add_note(t.id, "alice", "  ").await));
    assert!(is_invalid(s.add_note(t.id, "", "x").await));
    assert!(s.notes(Uuid::new_v4()).await.expect("notes").is_empty());
}

async fn notify_reaches_a_listener(db: Arc<TestDb>) {
    let s = &db.store;
    let listener = s.listen("madoguchi_events").await.expect("listen");
    let Dialect::Postgres = db.dialect else {
        assert!(listener.is_none(), "SQLite has no listener");
        s.notify("madoguchi_events", "{}").await.expect("no-op");
        return;
    };
    let mut listener = listener.expect("a PostgreSQL listener");
    // From another replica.
    let other = db.reopen().await;
    other
        .notify("madoguchi_events", r#"{"conversation":"c-1"}"#)
        .await
        .expect("notify");
    other
        .notify("other_channel", "ignored")
        .await
        .expect("notify");
    other
        .notify("madoguchi_events", "second")
        .await
        .expect("notify");
    let first = recv(&mut listener).await;
    assert_eq!(first.as_deref(), Some(r#"{"conversation":"c-1"}"#));
    let second = recv(&mut listener).await;
    assert_eq!(second.as_deref(), Some("second"));
    drop(listener);
    other.close().await;
}

/// The listener's next payload, within 10 s.
async fn recv(listener: &mut madoguchi::store::Listener) -> Option<String> {
    tokio::time::timeout(std::time::Duration::from_secs(10), listener.recv())
        .await
        .expect("a notification in time")
        .expect("recv")
}

/// Stream tickets stored, counted behind the store's back.
async fn stream_ticket_rows(db: &TestDb) -> i64 {
    const COUNT: &str = "SELECT COUNT(*) FROM stream_tickets";
    match db.dialect {
        Dialect::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("open");
            let n = sqlx::query_scalar(COUNT)
                .fetch_one(&pool)
                .await
                .expect("count");
            pool.close().await;
            n
        }
        Dialect::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            let n = sqlx::query_scalar(COUNT)
                .fetch_one(&pool)
                .await
                .expect("count");
            pool.close().await;
            n
        }
    }
}
