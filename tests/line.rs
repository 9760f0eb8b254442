//! The LINE channel end to end: signed webhooks over real HTTP into a real server (stand-in
//! classifier, real dialogue and store: SQLite, and PostgreSQL where it matters), and a fake LINE
//! Messaging API — a small axum app on a loopback port that checks the bearer token, the request
//! schema and LINE's limits, records every call, and fails on demand.
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use madoguchi::channels::line::{
    sign, LineCopy, MAX_LABEL_UNITS, MAX_MESSAGES_PER_CALL, MAX_QUICK_REPLIES, MAX_TEXT_UNITS,
};
use madoguchi::config::Config;
use madoguchi::store::Store;
use serde_json::{json, Value};

use crate::api::{agent_call, expect, expect_error, fake_server, Resp, Server};
use crate::util::{block_on, fresh_postgres};

const SECRET: &str = "line-channel-secret-for-tests";
const TOKEN: &str = "line-access-token-for-tests";

// ---------------------------------------------------------------------------------------------
// The fake LINE API.

/// One call the fake received.
#[derive(Debug, Clone)]
struct Call {
    path: String,
    retry_key: Option<String>,
    body: Value,
    /// What the fake answered.
    status: u16,
}

#[derive(Default)]
struct Fake {
    calls: Vec<Call>,
    /// Statuses to answer the next calls with, in order (then 200 again).
    fail_next: VecDeque<u16>,
    /// Reply tokens given out with webhooks and not used yet.
    reply_tokens: HashSet<String>,
    /// Retry keys of accepted pushes.
    accepted_keys: HashSet<String>,
    /// Requests that broke LINE's schema or limits (the test fails if any).
    violations: Vec<String>,
}

struct FakeLine {
    base: String,
    state: Arc<Mutex<Fake>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl FakeLine {
    fn start() -> FakeLine {
        let state = Arc::new(Mutex::new(Fake::default()));
        let app = Router::new()
            .route("/v2/bot/message/reply", post(reply))
            .route("/v2/bot/message/push", post(push))
            .route("/v2/bot/chat/loading/start", post(loading))
            .with_state(state.clone());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let _ = addr_tx.send(listener.local_addr().expect("addr"));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let addr = addr_rx.recv().expect("fake LINE address");
        FakeLine {
            base: format!("http://{addr}"),
            state,
            _stop: stop_tx,
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Fake) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    fn give_reply_token(&self, token: &str) {
        self.with(|f| f.reply_tokens.insert(token.to_string()));
    }

    fn fail_next(&self, statuses: &[u16]) {
        self.with(|f| f.fail_next.extend(statuses));
    }

    fn calls(&self) -> Vec<Call> {
        self.with(|f| f.calls.clone())
    }

    /// Successful reply and push calls to `user` (a reply's user is its token's owner: the test
    /// knows which token it gave).
    fn delivered(&self, path_end: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.ends_with(path_end) && c.status == 200)
            .collect()
    }

    /// Waits until `count` calls match `pred`; panics with every call after `within`.
    fn wait_for(&self, count: usize, within: Duration, pred: impl Fn(&Call) -> bool) -> Vec<Call> {
        let deadline = Instant::now() + within;
        loop {
            let matching: Vec<Call> = self.calls().into_iter().filter(|c| pred(c)).collect();
            if matching.len() >= count {
                return matching;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} expected calls to the fake LINE API; all calls:\n{:#?}",
                matching.len(),
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_no_violations(&self) {
        let violations = self.with(|f| f.violations.clone());
        assert!(
            violations.is_empty(),
            "requests that break LINE's rules: {violations:#?}"
        );
    }
}

type FakeState = State<Arc<Mutex<Fake>>>;
type FakeAnswer = (StatusCode, Json<Value>);

fn error(status: u16, message: &str) -> FakeAnswer {
    (
        StatusCode::from_u16(status).expect("status"),
        Json(json!({ "message": message })),
    )
}

/// Checks the bearer token and the body's messages; records the call; answers a queued failure
/// if there is one. `check` sees the fake after the generic checks (reply tokens, retry keys).
fn handle(
    state: &Arc<Mutex<Fake>>,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
    check: impl FnOnce(&mut Fake) -> Result<(), FakeAnswer>,
) -> FakeAnswer {
    let mut fake = state.lock().expect("fake state");
    let retry_key = headers
        .get("x-line-retry-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let answer = (|| {
        if headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("Bearer {TOKEN}"))
        {
            return Err(error(401, "Authentication failed"));
        }
        if let Some(queued) = fake.fail_next.pop_front() {
            return Err(error(queued, "failing on demand"));
        }
        if path.contains("/message/") {
            if let Err(why) = check_messages(&body["messages"]) {
                fake.violations.push(format!("{path}: {why}: {body}"));
                return Err(error(400, &why));
            }
        }
        check(&mut fake)
    })();
    let (status, json) = match answer {
        Ok(()) => (StatusCode::OK, Json(json!({}))),
        Err(e) => e,
    };
    fake.calls.push(Call {
        path: path.to_string(),
        retry_key,
        body: body.clone(),
        status: status.as_u16(),
    });
    (status, json)
}

fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// LINE's rules for `messages`: 1 to 5 text objects of 1 to 5,000 UTF-16 units; quick replies
/// only on the last, at most 13, labels of 1 to 20 units, postback data at most 300 characters.
fn check_messages(messages: &Value) -> Result<(), String> {
    let list = messages.as_array().ok_or("messages is not an array")?;
    if list.is_empty() || list.len() > MAX_MESSAGES_PER_CALL {
        return Err(format!("{} messages", list.len()));
    }
    for (i, m) in list.iter().enumerate() {
        if m["type"] != "text" {
            return Err(format!("message {i} is not text"));
        }
        let text = m["text"].as_str().unwrap_or("");
        if text.is_empty() || units(text) > MAX_TEXT_UNITS {
            return Err(format!("message {i} has {} UTF-16 units", units(text)));
        }
        let Some(quick) = m.get("quickReply") else {
            continue;
        };
        if i + 1 != list.len() {
            return Err(format!("quick reply on message {i}, not the last"));
        }
        let items = quick["items"].as_array().ok_or("quickReply.items")?;
        if items.is_empty() || items.len() > MAX_QUICK_REPLIES {
            return Err(format!("{} quick reply items", items.len()));
        }
        for item in items {
            let action = &item["action"];
            let label = action["label"].as_str().unwrap_or("");
            if item["type"] != "action" || label.is_empty() || units(label) > MAX_LABEL_UNITS {
                return Err(format!("bad quick reply item {item}"));
            }
            let data_ok = action["data"].as_str().is_some_and(|d| d.len() <= 300);
            if action["type"] != "postback" || !data_ok {
                return Err(format!("bad quick reply action {action}"));
            }
        }
    }
    Ok(())
}

async fn reply(State(state): FakeState, headers: HeaderMap, Json(body): Json<Value>) -> FakeAnswer {
    let token = body["replyToken"].as_str().unwrap_or("").to_string();
    handle(&state, "/v2/bot/message/reply", &headers, &body, |fake| {
        // Single use, and only tokens the test gave out with a webhook.
        if fake.reply_tokens.remove(&token) {
            Ok(())
        } else {
            Err(error(400, "Invalid reply token"))
        }
    })
}

async fn push(State(state): FakeState, headers: HeaderMap, Json(body): Json<Value>) -> FakeAnswer {
    let key = headers
        .get("x-line-retry-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    handle(&state, "/v2/bot/message/push", &headers, &body, |fake| {
        if body["to"].as_str().unwrap_or("").is_empty() {
            return Err(error(
                400,
                "The property, 'to', in the request body is invalid",
            ));
        }
        let Some(key) = key else {
            return Ok(());
        };
        if uuid::Uuid::parse_str(&key).is_err() {
            fake.violations
                .push(format!("retry key {key:?} is not a UUID"));
            return Err(error(400, "The retry key is invalid"));
        }
        if !fake.accepted_keys.insert(key) {
            return Err(error(409, "The retry key is already accepted"));
        }
        Ok(())
    })
}

async fn loading(
    State(state): FakeState,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> FakeAnswer {
    handle(
        &state,
        "/v2/bot/chat/loading/start",
        &headers,
        &body,
        |fake| {
            let seconds = body["loadingSeconds"].as_i64().unwrap_or(0);
            let chat = body["chatId"].as_str().unwrap_or("");
            if chat.is_empty() || !(5..=60).contains(&seconds) || seconds % 5 != 0 {
                fake.violations.push(format!("loading: {body}"));
                return Err(error(400, "bad loading request"));
            }
            Ok(())
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The server under test and its webhooks.

struct Setup {
    server: Server,
    line: FakeLine,
    /// The server's store, opened by the test (same database).
    store: Store,
    database: String,
    _dir: tempfile::TempDir,
}

fn line_config(config: &mut Config, line: &FakeLine) {
    config.line_channel_secret = Some(SECRET.into());
    config.line_channel_access_token = Some(TOKEN.into());
    config.line_api_base = line.base.clone();
}

/// A server with the LINE channel on (stand-in classifier taking `delay`), on SQLite or on
/// `database` when given.
fn setup(delay: Duration, database: Option<String>) -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = FakeLine::start();
    let database =
        database.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("fake.db").display()));
    let db = database.clone();
    let server = fake_server(dir.path(), delay, |c| {
        line_config(c, &line);
        c.database = db;
    });
    let store = block_on(Store::connect(&database)).expect("the test's store");
    Setup {
        server,
        line,
        store,
        database,
        _dir: dir,
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// A one-to-one text message event.
fn text_event(id: &str, user: &str, text: &str, reply_token: &str) -> Value {
    json!({
        "type": "message",
        "mode": "active",
        "timestamp": ms(chrono::Utc::now()),
        "source": { "type": "user", "userId": user },
        "webhookEventId": id,
        "deliveryContext": { "isRedelivery": false },
        "replyToken": reply_token,
        "message": { "id": format!("m-{id}"), "type": "text", "quoteToken": "q", "text": text },
    })
}

fn webhook_body(events: &[Value]) -> Vec<u8> {
    json!({ "destination": "Ubot", "events": events })
        .to_string()
        .into_bytes()
}

/// POSTs `body` to the webhook with `signature` (None: no header).
fn post_webhook(base: &str, body: &[u8], signature: Option<&str>) -> Resp {
    let url = format!("{base}/channels/line/webhook");
    let mut headers = Vec::new();
    if let Some(s) = signature {
        headers.push(("x-line-signature", s));
    }
    crate::api::call("POST", &url, &headers, Some(body))
}

/// Signs and POSTs `events`; the webhook must answer 200.
fn send(base: &str, events: &[Value]) -> Resp {
    let body = webhook_body(events);
    expect(post_webhook(base, &body, Some(&sign(SECRET, &body))), 200)
}

/// The user's current conversation's messages (role, text), once `count` are stored.
fn transcript(store: &Store, user: &str, count: usize) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let conversation = block_on(store.current_line_conversation(user)).expect("read");
        if let Some(c) = conversation {
            let messages = block_on(store.messages(c.id)).expect("messages");
            if messages.len() >= count {
                return messages
                    .into_iter()
                    .map(|m| (m.role.to_string(), m.text))
                    .collect();
            }
        }
        assert!(Instant::now() < deadline, "fewer than {count} messages");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_reply(c: &Call) -> bool {
    c.path.ends_with("/reply") && c.status == 200
}

fn push_to(user: &str) -> impl Fn(&Call) -> bool + '_ {
    move |c: &Call| c.path.ends_with("/push") && c.status == 200 && c.body["to"] == user
}

fn has_kana(text: &str) -> bool {
    text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c))
}

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------------
// Tests.

/// A signed text message is a turn: the bot's Japanese answer goes back by the reply API with the
/// event's reply token, and the conversation is stored on the `line` channel.
fn a_signed_message_is_answered_with_its_reply_token(s: &Setup) {
    s.line.give_reply_token("rt-hello");
    let started = Instant::now();
    send(
        &s.server.base,
        &[text_event("01HELLO", "U-hello", "こんにちは", "rt-hello")],
    );
    let webhook_took = started.elapsed();
    let replies = s.line.wait_for(1, WAIT, is_reply);
    let reply = &replies[0].body;
    assert_eq!(reply["replyToken"], "rt-hello");
    let text = reply["messages"][0]["text"].as_str().expect("text");
    assert!(has_kana(text), "not Japanese: {text}");
    let stored = transcript(&s.store, "U-hello", 2);
    assert_eq!(
        stored,
        vec![
            ("customer".to_string(), "こんにちは".to_string()),
            ("bot".to_string(), text.to_string())
        ]
    );
    assert!(
        webhook_took < Duration::from_secs(2),
        "the webhook took {webhook_took:?}"
    );
    let conversation = block_on(s.store.current_line_conversation("U-hello"))
        .expect("read")
        .expect("a conversation");
    assert_eq!(channel_of(&s.database, conversation.id), "line");
    // A message that shows no language is answered in Japanese (the channel's default).
    s.line.give_reply_token("rt-ok");
    send(&s.server.base, &[text_event("01OK", "U-ok", "ok", "rt-ok")]);
    let replies = s
        .line
        .wait_for(1, WAIT, |c| is_reply(c) && c.body["replyToken"] == "rt-ok");
    let text = replies[0].body["messages"][0]["text"]
        .as_str()
        .expect("text");
    assert!(has_kana(text), "not Japanese: {text}");
    s.line.assert_no_violations();
}

/// The conversation's `channel` column, read directly.
fn channel_of(database: &str, id: uuid::Uuid) -> String {
    block_on(async {
        if database.starts_with("postgres") {
            let pool = sqlx::PgPool::connect(database).await.expect("pg");
            let channel = sqlx::query_scalar("SELECT channel FROM conversations WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .expect("channel");
            pool.close().await;
            channel
        } else {
            let pool = sqlx::SqlitePool::connect(database).await.expect("sqlite");
            let channel = sqlx::query_scalar("SELECT channel FROM conversations WHERE id = $1")
                .bind(id.hyphenated().to_string())
                .fetch_one(&pool)
                .await
                .expect("channel");
            pool.close().await;
            channel
        }
    })
}

/// The same event twice (LINE redelivers when our answer was lost) is one turn and one answer.
fn a_redelivered_event_is_processed_once(s: &Setup) {
    s.line.give_reply_token("rt-again-1");
    s.line.give_reply_token("rt-again-2");
    let first = text_event("01AGAIN", "U-again", "こんばんは", "rt-again-1");
    let mut again = text_event("01AGAIN", "U-again", "こんばんは", "rt-again-2");
    again["deliveryContext"]["isRedelivery"] = json!(true);
    send(&s.server.base, &[first]);
    send(&s.server.base, &[again.clone()]);
    s.line.wait_for(1, WAIT, |c| {
        is_reply(c) && c.body["replyToken"] == "rt-again-1"
    });
    // A redelivery arriving after the first was processed changes nothing either.
    send(&s.server.base, &[again]);
    std::thread::sleep(Duration::from_millis(1500));
    let answers: Vec<Call> = s
        .line
        .calls()
        .into_iter()
        .filter(|c| c.status == 200 && c.path.contains("/message/"))
        .filter(|c| c.body["to"] == "U-again" || c.body["replyToken"] == "rt-again-1")
        .collect();
    assert_eq!(answers.len(), 1, "{answers:#?}");
    assert_eq!(transcript(&s.store, "U-again", 2).len(), 2);
}

#[test]
fn a_signed_message_is_answered_and_a_redelivery_once_sqlite() {
    let s = setup(Duration::ZERO, None);
    a_signed_message_is_answered_with_its_reply_token(&s);
    a_redelivered_event_is_processed_once(&s);
}

#[test]
fn a_signed_message_is_answered_and_a_redelivery_once_postgres() {
    let Some(pg) = fresh_postgres("line postgres") else {
        return;
    };
    let s = setup(Duration::ZERO, Some(pg.url.clone()));
    a_signed_message_is_answered_with_its_reply_token(&s);
    a_redelivered_event_is_processed_once(&s);
    drop(s);
}

#[test]
fn a_missing_or_wrong_signature_is_refused_and_nothing_is_stored() {
    let s = setup(Duration::ZERO, None);
    s.line.give_reply_token("rt-forged");
    let body = webhook_body(&[text_event(
        "01FORGED",
        "U-forged",
        "こんにちは",
        "rt-forged",
    )]);
    expect_error(
        post_webhook(&s.server.base, &body, None),
        401,
        "unauthorized",
    );
    let wrong = sign("another-secret", &body);
    expect_error(
        post_webhook(&s.server.base, &body, Some(&wrong)),
        401,
        "unauthorized",
    );
    // A body changed after signing is refused too.
    let tampered = webhook_body(&[text_event(
        "01FORGED",
        "U-forged",
        "こんばんは",
        "rt-forged",
    )]);
    expect_error(
        post_webhook(&s.server.base, &tampered, Some(&sign(SECRET, &body))),
        401,
        "unauthorized",
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(s.line.calls().is_empty(), "{:#?}", s.line.calls());
    assert_eq!(block_on(s.store.line_events_pending()).expect("count"), 0);
    assert!(block_on(s.store.current_line_conversation("U-forged"))
        .expect("read")
        .is_none());
    // A signed body that is not a webhook is a clear error, not a 500.
    let junk = b"{\"destination\":\"U\"}".to_vec();
    expect_error(
        post_webhook(&s.server.base, &junk, Some(&sign(SECRET, &junk))),
        422,
        "unprocessable",
    );
    // LINE's "Verify" button sends no events.
    send(&s.server.base, &[]);
}

#[test]
fn an_expired_reply_token_is_answered_by_push_with_a_retry_key() {
    let s = setup(Duration::ZERO, None);
    s.line.give_reply_token("rt-late");
    let mut event = text_event("01LATE", "U-late", "こんにちは", "rt-late");
    // The webhook reaches us three minutes after the message: its reply token has expired.
    event["timestamp"] = json!(ms(chrono::Utc::now() - chrono::Duration::minutes(3)));
    send(&s.server.base, &[event]);
    let pushes = s.line.wait_for(1, WAIT, push_to("U-late"));
    let key = pushes[0].retry_key.as_deref().expect("X-Line-Retry-Key");
    assert!(uuid::Uuid::parse_str(key).is_ok(), "{key}");
    assert!(has_kana(
        pushes[0].body["messages"][0]["text"].as_str().unwrap_or("")
    ));
    assert!(
        s.line.delivered("/reply").is_empty(),
        "{:#?}",
        s.line.calls()
    );
    s.line.assert_no_violations();
}

#[test]
fn a_sticker_gets_a_polite_request_for_text() {
    let s = setup(Duration::ZERO, None);
    s.line.give_reply_token("rt-sticker");
    let mut event = text_event("01STICKER", "U-sticker", "", "rt-sticker");
    event["message"] =
        json!({ "id": "s1", "type": "sticker", "packageId": "446", "stickerId": "1988" });
    send(&s.server.base, &[event]);
    let replies = s.line.wait_for(1, WAIT, is_reply);
    let copy = LineCopy::built_in().expect("copy");
    assert_eq!(replies[0].body["replyToken"], "rt-sticker");
    assert_eq!(
        replies[0].body["messages"][0]["text"],
        copy.lines(None).text_only.as_str()
    );
    // A sticker is not a turn.
    assert!(block_on(s.store.current_line_conversation("U-sticker"))
        .expect("read")
        .is_none());
}

#[test]
fn line_api_failures_are_retried_and_delivered_once() {
    let s = setup(Duration::ZERO, None);
    s.line.give_reply_token("rt-flaky");
    s.line.fail_next(&[500, 500]);
    send(
        &s.server.base,
        &[text_event("01FLAKY", "U-flaky", "こんにちは", "rt-flaky")],
    );
    let delivered = s.line.wait_for(1, WAIT, |c| c.status == 200);
    std::thread::sleep(Duration::from_millis(1500));
    let calls = s.line.calls();
    let ok: Vec<&Call> = calls.iter().filter(|c| c.status == 200).collect();
    assert_eq!(ok.len(), 1, "{calls:#?}");
    assert_eq!(
        calls.iter().filter(|c| c.status == 500).count(),
        2,
        "{calls:#?}"
    );
    // The retries push with one retry key.
    let keys: HashSet<_> = calls.iter().filter_map(|c| c.retry_key.clone()).collect();
    assert_eq!(keys.len(), 1, "{calls:#?}");
    assert_eq!(delivered[0].retry_key, keys.into_iter().next());
    let deliveries = block_on(s.store.line_deliveries(None, 10)).expect("deliveries");
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].attempts, 2);
    assert_eq!(deliveries[0].delivered_by.as_deref(), Some("push"));
}

#[test]
fn a_slow_turn_shows_the_loading_animation() {
    let s = setup(Duration::from_millis(1800), None);
    s.line.give_reply_token("rt-slow");
    send(
        &s.server.base,
        &[text_event("01SLOW", "U-slow", "こんにちは", "rt-slow")],
    );
    s.line.wait_for(1, WAIT, is_reply);
    let calls = s.line.calls();
    let loading = calls
        .iter()
        .position(|c| c.path.ends_with("/loading/start"))
        .unwrap_or_else(|| panic!("no loading animation: {calls:#?}"));
    assert_eq!(calls[loading].body["chatId"], "U-slow");
    let reply = calls.iter().position(is_reply).expect("reply");
    assert!(loading < reply, "{calls:#?}");
    s.line.assert_no_violations();
}

/// A request for a person: LINE is told a person will answer; the agent's reply from the API is
/// pushed; resolving asks for CSAT with five buttons; the tapped score is stored.
#[test]
fn a_handoff_reaches_line_and_the_agents_reply_is_pushed() {
    let s = setup(Duration::ZERO, None);
    let base = &s.server.base;
    s.line.give_reply_token("rt-human");
    send(
        base,
        &[text_event(
            "01HUMAN",
            "U-human",
            "human の担当者と話したいです",
            "rt-human",
        )],
    );
    let replies = s.line.wait_for(1, WAIT, is_reply);
    let notice = replies[0].body["messages"][0]["text"]
        .as_str()
        .expect("text");
    let stored = transcript(&s.store, "U-human", 2);
    assert_eq!(stored[1], ("bot".to_string(), notice.to_string()));
    assert!(has_kana(notice), "{notice}");
    let conversation = block_on(s.store.current_line_conversation("U-human"))
        .expect("read")
        .expect("conversation");
    let tickets = block_on(s.store.conversation_handoffs(conversation.id)).expect("tickets");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let ticket = tickets[0].id;

    let path = |action: &str| format!("/v1/handoffs/{ticket}/{action}");
    expect(agent_call(base, "POST", &path("claim"), "sato", None), 200);
    let words = "担当の佐藤です。ご不便をおかけして申し訳ございません。";
    expect(
        agent_call(
            base,
            "POST",
            &path("reply"),
            "sato",
            Some(json!({ "text": words })),
        ),
        200,
    );
    let pushes = s.line.wait_for(1, WAIT, push_to("U-human"));
    assert_eq!(pushes[0].body["messages"][0]["text"], words);
    assert!(pushes[0].retry_key.is_some());

    expect(
        agent_call(
            base,
            "POST",
            &path("resolve"),
            "sato",
            Some(json!({ "resolution_code": "answered" })),
        ),
        200,
    );
    let pushes = s.line.wait_for(2, WAIT, push_to("U-human"));
    let question = &pushes[1].body["messages"][0];
    let items = question["quickReply"]["items"].as_array().expect("buttons");
    assert_eq!(items.len(), 5, "{question}");
    let four = items[3]["action"]["data"]
        .as_str()
        .expect("data")
        .to_string();

    s.line.give_reply_token("rt-csat");
    let mut tap = text_event("01CSAT", "U-human", "", "rt-csat");
    tap["type"] = json!("postback");
    tap["postback"] = json!({ "data": four });
    tap.as_object_mut().expect("object").remove("message");
    send(base, &[tap]);
    let thanks = s.line.wait_for(1, WAIT, |c| {
        is_reply(c) && c.body["replyToken"] == "rt-csat"
    });
    let copy = LineCopy::built_in().expect("copy");
    assert_eq!(
        thanks[0].body["messages"][0]["text"],
        copy.lines(None).csat_thanks.as_str()
    );
    let rated = block_on(s.store.conversation(conversation.id))
        .expect("read")
        .expect("conversation");
    assert_eq!(rated.csat_score, Some(4));
    s.line.assert_no_violations();
}

/// An agent's reply LINE refuses for good is a dead letter the agents see on the ticket.
#[test]
fn a_delivery_line_refuses_is_a_dead_letter_noted_on_the_ticket() {
    let s = setup(Duration::ZERO, None);
    let base = &s.server.base;
    s.line.give_reply_token("rt-dead");
    send(
        base,
        &[text_event(
            "01DEAD",
            "U-dead",
            "human の担当者と話したい",
            "rt-dead",
        )],
    );
    s.line.wait_for(1, WAIT, is_reply);
    let conversation = block_on(s.store.current_line_conversation("U-dead"))
        .expect("read")
        .expect("conversation");
    let ticket = block_on(s.store.conversation_handoffs(conversation.id)).expect("tickets")[0].id;
    expect(
        agent_call(
            base,
            "POST",
            &format!("/v1/handoffs/{ticket}/claim"),
            "ken",
            None,
        ),
        200,
    );
    // The user blocked the account meanwhile: LINE answers 400 to the push.
    s.line.fail_next(&[400]);
    expect(
        agent_call(
            base,
            "POST",
            &format!("/v1/handoffs/{ticket}/reply"),
            "ken",
            Some(json!({ "text": "お待たせしました。" })),
        ),
        200,
    );
    let deadline = Instant::now() + WAIT;
    let notes = loop {
        let detail = expect(
            agent_call(base, "GET", &format!("/v1/handoffs/{ticket}"), "ken", None),
            200,
        );
        let notes = detail["notes"].as_array().cloned().unwrap_or_default();
        if !notes.is_empty() {
            break notes;
        }
        assert!(Instant::now() < deadline, "no note on the ticket\n{detail}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let note = notes[0]["text"].as_str().unwrap_or("");
    assert!(note.contains("LINE") && note.contains("400"), "{note}");
    let stats = block_on(s.store.line_delivery_stats()).expect("stats");
    assert_eq!((stats.dead, stats.pending), (1, 0), "{stats:?}");
    // Given up at once: one attempt, no retry.
    assert_eq!(s.line.calls().iter().filter(|c| c.status == 400).count(), 1);
    // Counted (the gauge of dead letters is shared by every server of this test process).
    let metrics = crate::api::call("GET", &format!("{base}/metrics"), &[], None);
    assert!(
        metrics
            .text
            .lines()
            .any(|l| l.starts_with("madoguchi_line_deliveries_total{")
                && l.contains("outcome=\"dead\"")),
        "{}",
        metrics.text
    );
}

/// A restart loses nothing: a delivery still failing when the server stops is delivered (once)
/// by the next one, and an event stored but not processed (the process died after the 200) is
/// processed by it.
#[test]
fn what_is_pending_at_a_restart_is_done_after_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let line = FakeLine::start();
    let start = || fake_server(dir.path(), Duration::ZERO, |c| line_config(c, &line));
    let database = format!("sqlite://{}", dir.path().join("fake.db").display());
    let first = start();
    let store = block_on(Store::connect(&database)).expect("store");
    line.give_reply_token("rt-restart");
    line.fail_next(&[503; 8]);
    send(
        &first.base,
        &[text_event(
            "01RESTART",
            "U-restart",
            "こんにちは",
            "rt-restart",
        )],
    );
    // Two failed attempts recorded, then the server stops.
    let deadline = Instant::now() + WAIT;
    while block_on(store.line_deliveries(None, 10))
        .expect("deliveries")
        .first()
        .is_none_or(|d| d.attempts < 2)
    {
        assert!(Instant::now() < deadline, "{:#?}", line.calls());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(first);
    line.with(|f| f.fail_next.clear());
    // Stored by a webhook whose process died before processing it.
    let event = text_event("01ORPHAN", "U-restart", "ありがとう", "rt-orphan");
    line.give_reply_token("rt-orphan");
    let orphan = madoguchi::store::NewLineEvent {
        webhook_event_id: "01ORPHAN".into(),
        user_id: Some("U-restart".into()),
        event_type: "message".into(),
        event,
        reply_token: Some("rt-orphan".into()),
        reply_until: Some(chrono::Utc::now() + chrono::Duration::seconds(50)),
    };
    assert_eq!(
        block_on(store.record_line_events(&[orphan])).expect("store"),
        1
    );

    let _second = start();
    let pushed = line.wait_for(1, WAIT, push_to("U-restart"));
    let answered = line.wait_for(1, WAIT, |c| {
        is_reply(c) && c.body["replyToken"] == "rt-orphan"
    });
    let stored = transcript(&store, "U-restart", 4);
    assert_eq!(
        stored[1].1,
        pushed[0].body["messages"][0]["text"].as_str().unwrap_or("")
    );
    assert_eq!(
        stored[3].1,
        answered[0].body["messages"][0]["text"]
            .as_str()
            .unwrap_or("")
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(line.delivered("/push").len(), 1, "{:#?}", line.calls());
    assert_eq!(block_on(store.line_events_pending()).expect("pending"), 0);
    line.assert_no_violations();
}
