//! Storage: one suite, run against SQLite (a temp file) and against PostgreSQL when
//! `MADOGUCHI_TEST_POSTGRES_URL` is set (`make test` starts a server with
//! `scripts/pg-test-server.sh`). Every test gets a database of its own (a fresh file, or a fresh
//! PostgreSQL database created from that URL and dropped afterwards), so they run in parallel.
use std::future::Future;
use std::sync::Arc;

use chrono::{Duration, Utc};
use madoguchi::store::{
    new_customer_token, BotAction, BotTurnRecord, Conversation, ConversationStatus, Handoff,
    HandoffFilter, HandoffStatus, IntentActions, Message, NewConversation, NewHandoff, Role, Store,
    StoreError,
};
use serde_json::{json, Value};
use sqlx::migrate::MigrateDatabase;
use tempfile::TempDir;
use tokio::sync::Barrier;
use uuid::Uuid;

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

/// `base` with its database name replaced by `name`.
fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match url[authority_end..].find('/') {
        Some(slash) => &url[..authority_end + slash],
        None => url,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
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
);

// ---------------------------------------------------------------------------------------------
// Helpers

async fn conversation(store: &Store, locale: &str) -> Conversation {
    let (_, hash) = new_customer_token();
    store
        .create_conversation(NewConversation {
            locale: Some(locale.into()),
            customer: Some(json!({"id": "c-1", "name": "山田太郎", "order_ids": ["A-1001"]})),
            token_sha256: hash,
        })
        .await
        .expect("create conversation")
}

fn answer(intent: &str, reply: &str) -> BotTurnRecord {
    BotTurnRecord {
        reply: Some(reply.into()),
        intent: Some(intent.into()),
        confidence: Some(0.91),
        action: BotAction::Answer,
        reason: Some("confident".into()),
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
        reason: Some("ambiguous".into()),
        quick_replies: Some(json!(["order_status", "refund"])),
        ..answer(intent, "どちらのご用件でしょうか？")
    }
}

fn hand_off(intent: Option<&str>, reason: &str, locale: &str) -> BotTurnRecord {
    BotTurnRecord {
        reply: Some("担当者におつなぎします。".into()),
        intent: intent.map(str::to_string),
        confidence: Some(0.42),
        action: BotAction::Handoff,
        reason: Some(reason.into()),
        alternatives: None,
        quick_replies: None,
        new_status: ConversationStatus::Handoff,
        dialogue_state: json!({"handed_off": true}),
        handoff: Some(NewHandoff {
            reason: reason.into(),
            intent: intent.map(str::to_string),
            locale: locale.into(),
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
            hand_off(Some("human_agent"), "always_handoff", locale),
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

fn is_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid(_)))
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound { .. }))
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
        .record_bot_turn(c.id, hand_off(Some("complaint"), "always_handoff", "ja"))
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
        locale: Some("ja".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(s.list_handoffs(&ja).await.expect("list")),
        [t1.id, t3.id]
    );
    let complaints = HandoffFilter {
        intent: Some("complaint".into()),
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
        locale: Some("ja".into()),
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
    let before = get(s, c.id).await;
    let messages_before = s.messages(c.id).await.expect("messages");

    // The message and the status change are written before the ticket, whose empty reason the
    // database refuses: the whole turn must roll back.
    let mut bad = hand_off(Some("refund"), "low_confidence", "ja");
    if let Some(h) = bad.handoff.as_mut() {
        h.reason = String::new();
    }
    let err = s.record_bot_turn(c.id, bad).await.expect_err("refused");
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
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
    assert_eq!(t.expect("ticket").reason, "low_confidence");
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
        .record_bot_turn(c3.id, hand_off(Some("complaint"), "always_handoff", "ja"))
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
