//! The HTTP API end to end: a real server on 127.0.0.1:0 spoken to over real HTTP (ureq).
//!
//! Conversation tests use the real encoder and a model trained into a temporary workspace (skipped,
//! saying why, when `make model` has not run); bad-input and overload tests use a stand-in
//! classifier so they always run. Failures print the request, the status and the body.
use std::io::BufRead;
use std::path::Path;
use std::sync::{mpsc, Arc, OnceLock};
use std::time::Duration;

use madoguchi::api;
use madoguchi::cli::serve::{build_state, classifier_loader};
use madoguchi::cli::Paths;
use madoguchi::config::Config;
use madoguchi::nlu::queue::{ClassifyBackend, Loader};
use madoguchi::nlu::{Action, Classification, NluError, Reason};
use serde_json::{json, Value};

use crate::util::{madoguchi, repo, show, trained_workspace};

pub(crate) const AGENT_KEY: &str = "agent-key-for-tests";
pub(crate) const API_KEY: &str = "api-key-for-tests";

// ---------------------------------------------------------------------------------------------
// A server in its own runtime thread.

pub(crate) struct Server {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub(crate) fn test_config(database: String) -> Config {
    Config {
        database,
        api_key: Some(API_KEY.into()),
        agent_key: Some(AGENT_KEY.into()),
        ..Config::default()
    }
}

pub(crate) fn start(paths: Paths, config: Config, loader: Loader) -> Server {
    let (addr_tx, addr_rx) = mpsc::channel::<Result<String, String>>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let built = build_state(&paths, config, loader).await;
            let (state, stop_streams, loaded) = match built {
                Ok(b) => b,
                Err(e) => {
                    let _ = addr_tx.send(Err(format!("{e:#}")));
                    return;
                }
            };
            // The model loads in the background, as in `serve`; tests poll /readyz.
            drop(loaded);
            let store = state.store.clone();
            create_test_agents(&store).await;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let _ = addr_tx.send(Ok(format!("http://{addr}")));
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            api::serve(
                listener,
                madoguchi::web::app(state),
                stop_streams,
                shutdown,
                Duration::from_secs(5),
            )
            .await
            .expect("serve");
            store.close().await;
        });
    });
    let base = addr_rx
        .recv()
        .expect("server thread")
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    Server {
        base,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

/// The accounts the agent tests act as (`X-Agent-Id` must name an active account).
pub(crate) const TEST_AGENTS: &[&str] = &["agent", "a", "alice", "bob", "aiko", "ken", "sato"];
/// Their password.
pub(crate) const TEST_AGENT_PASSWORD: &str = "agent-password";

/// Creates them unless they exist (a restarted server reuses its database).
async fn create_test_agents(store: &madoguchi::store::Store) {
    let hash = madoguchi::web::console::password::hash_password(TEST_AGENT_PASSWORD).expect("hash");
    for name in TEST_AGENTS {
        if store.account(name).await.expect("read account").is_some() {
            continue;
        }
        store
            .create_account(madoguchi::store::NewAccount {
                name,
                display_name: name,
                role: madoguchi::domain::AccountRole::Agent,
                password_hash: &hash,
            })
            .await
            .expect("test account");
    }
}

/// Waits until `/readyz` says ready.
pub(crate) fn wait_ready(s: Server) -> Server {
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        let r = call("GET", &format!("{}/readyz", s.base), &[], None);
        if r.status == 200 {
            return s;
        }
        assert_eq!(r.status, 503, "\n{r}");
        assert!(std::time::Instant::now() < deadline, "never ready\n{r}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------------------
// The real model, trained once per test process.

pub(crate) fn paths_in(dir: &Path, encoder: &Path) -> Paths {
    Paths {
        intents: dir.join("intents"),
        training_data: dir.join("training-data"),
        models: dir.join("models"),
        encoder: encoder.to_string_lossy().into_owned(),
        cache: None,
        batch_size: madoguchi::nlu::encoder::DEFAULT_BATCH_SIZE,
        batch_tokens: madoguchi::nlu::encoder::DEFAULT_BATCH_TOKENS,
        precision: Default::default(),
        cpu: Default::default(),
    }
}

pub(crate) fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

/// A real-model server on a database file of its own in `db_dir`.
fn real_server(db_dir: &Path) -> Option<Server> {
    let (ws, encoder) = trained_workspace()?;
    let paths = paths_in(ws.path(), encoder);
    let loader = classifier_loader(&paths);
    Some(wait_ready(start(
        paths,
        test_config(sqlite_url(db_dir, "madoguchi.db")),
        loader,
    )))
}

/// One real-model server shared by the conversation tests.
fn shared() -> Option<&'static Server> {
    static SERVER: OnceLock<Option<(tempfile::TempDir, Server)>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let server = real_server(dir.path())?;
            Some((dir, server))
        })
        .as_ref()
        .map(|(_, s)| s)
}

// ---------------------------------------------------------------------------------------------
// A stand-in classifier, after `delay`: a message with "human" asks for a person, everything else
// is a confident `greeting`.

pub(crate) struct Fake {
    delay: Duration,
}

impl ClassifyBackend for Fake {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        std::thread::sleep(self.delay);
        Ok(texts
            .iter()
            .map(|t| {
                let (intent, action, reason) = if t.contains("human") {
                    ("human_agent", Action::Handoff, Reason::AlwaysHandoff)
                } else {
                    ("greeting", Action::Answer, Reason::Confident)
                };
                Classification {
                    text: t.to_string(),
                    intent: Some(intent.try_into().expect("a valid intent name")),
                    confidence: 0.95,
                    action,
                    reason,
                    alternatives: Vec::new(),
                    threshold: 0.6,
                }
            })
            .collect())
    }
}

pub(crate) fn fake_server(dir: &Path, delay: Duration, tweak: impl FnOnce(&mut Config)) -> Server {
    wait_ready(fake_server_loading(dir, delay, Duration::ZERO, tweak))
}

/// A stand-in server whose model takes `load` to load (not waited for).
pub(crate) fn fake_server_loading(
    dir: &Path,
    delay: Duration,
    load: Duration,
    tweak: impl FnOnce(&mut Config),
) -> Server {
    let paths = paths_in(&repo(), Path::new("unused"));
    let mut config = test_config(sqlite_url(dir, "fake.db"));
    tweak(&mut config);
    let loader: Loader = Box::new(move || {
        std::thread::sleep(load);
        Ok(Box::new(Fake { delay }) as Box<dyn ClassifyBackend>)
    });
    start(paths, config, loader)
}

// ---------------------------------------------------------------------------------------------
// HTTP.

pub(crate) struct Resp {
    pub request: String,
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Value,
    pub text: String,
}

impl std::fmt::Display for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request: {}\nstatus: {}\nbody: {}",
            self.request, self.status, self.text
        )
    }
}

impl std::ops::Index<&str> for Resp {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        &self.body[key]
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

pub(crate) fn call(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Resp {
    let shown_body = body.map(|b| {
        let s = String::from_utf8_lossy(b);
        if s.len() > 300 {
            format!(
                "{}… ({} bytes)",
                &s[..s.floor_char_boundary_compat(300)],
                b.len()
            )
        } else {
            s.into_owned()
        }
    });
    let request = format!(
        "{method} {url} {headers:?} {}",
        shown_body.unwrap_or_default()
    );
    let mut req = agent().request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_bytes(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request: {request}\ntransport error: {e}"),
    };
    let status = response.status();
    let retry_after = response.header("retry-after").map(str::to_string);
    let text = response.into_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        request,
        status,
        retry_after,
        body,
        text,
    }
}

trait CharBoundary {
    fn floor_char_boundary_compat(&self, i: usize) -> usize;
}

impl CharBoundary for str {
    fn floor_char_boundary_compat(&self, mut i: usize) -> usize {
        while i > 0 && !self.is_char_boundary(i) {
            i -= 1;
        }
        i
    }
}

pub(crate) fn expect(r: Resp, status: u16) -> Resp {
    assert_eq!(r.status, status, "\n{r}");
    r
}

/// The error shape: `{"error": {"code", "message"}}` with `code`.
pub(crate) fn expect_error(r: Resp, status: u16, code: &str) -> Resp {
    assert_eq!(r.status, status, "\n{r}");
    assert_eq!(r.body["error"]["code"], code, "\n{r}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "\n{r}"
    );
    r
}

pub(crate) struct Customer<'a> {
    pub base: &'a str,
    pub id: String,
    pub token: String,
}

impl Customer<'_> {
    pub(crate) fn auth(&self) -> String {
        format!("Bearer {}", self.token)
    }

    pub(crate) fn say(&self, text: &str) -> Resp {
        let body = json!({ "text": text }).to_string();
        call(
            "POST",
            &format!("{}/v1/conversations/{}/messages", self.base, self.id),
            &[("Authorization", &self.auth())],
            Some(body.as_bytes()),
        )
    }

    pub(crate) fn say_ok(&self, text: &str) -> Resp {
        expect(self.say(text), 200)
    }

    pub(crate) fn post(&self, path: &str, body: Value) -> Resp {
        call(
            "POST",
            &format!("{}/v1/conversations/{}{path}", self.base, self.id),
            &[("Authorization", &self.auth())],
            Some(body.to_string().as_bytes()),
        )
    }

    pub(crate) fn transcript(&self) -> Resp {
        expect(
            call(
                "GET",
                &format!("{}/v1/conversations/{}", self.base, self.id),
                &[("Authorization", &self.auth())],
                None,
            ),
            200,
        )
    }
}

pub(crate) fn new_conversation<'a>(base: &'a str, body: Value) -> Customer<'a> {
    let r = expect(
        call(
            "POST",
            &format!("{base}/v1/conversations"),
            &[],
            Some(body.to_string().as_bytes()),
        ),
        201,
    );
    let id = r["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    let token = r["token"]
        .as_str()
        .unwrap_or_else(|| panic!("{r}"))
        .to_string();
    Customer { base, id, token }
}

pub(crate) fn agent_call(
    base: &str,
    method: &str,
    path: &str,
    agent_id: &str,
    body: Option<Value>,
) -> Resp {
    let bearer = format!("Bearer {AGENT_KEY}");
    let body = body.map(|b| b.to_string());
    call(
        method,
        &format!("{base}{path}"),
        &[("Authorization", &bearer), ("X-Agent-Id", agent_id)],
        body.as_deref().map(str::as_bytes),
    )
}

/// Reads SSE `message` events in a thread; the receiver gets each event's JSON.
pub(crate) fn subscribe(c: &Customer<'_>) -> mpsc::Receiver<Value> {
    let url = format!("{}/v1/conversations/{}/events", c.base, c.id);
    let auth = c.auth();
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let response = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(60))
            .build()
            .get(&url)
            .set("Authorization", &auth)
            .call();
        let response = match response {
            Ok(r) => r,
            Err(e) => panic!("GET {url}: {e}"),
        };
        let _ = ready_tx.send(response.header("content-type").map(str::to_string));
        let reader = std::io::BufReader::new(response.into_reader());
        let mut event = String::new();
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(name) = line.strip_prefix("event:") {
                event = name.trim().to_string();
            } else if let Some(data) = line.strip_prefix("data:") {
                if event == "message" {
                    if let Ok(v) = serde_json::from_str(data.trim()) {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                }
            }
        }
    });
    let content_type = ready_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("SSE stream opened");
    assert!(
        content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/event-stream")),
        "{content_type:?}"
    );
    rx
}

// ---------------------------------------------------------------------------------------------
// Conversations with the real model.

#[test]
fn confident_answers_in_japanese_and_english() {
    let Some(s) = shared() else { return };
    for (locale, text, intent) in [
        ("ja", "営業時間を教えてください", "business_hours"),
        ("en", "What are your support hours?", "business_hours"),
        ("ja", "送料はいくらかかりますか", "shipping_fees"),
        ("en", "How much is shipping to Osaka?", "shipping_fees"),
    ] {
        let c = new_conversation(&s.base, json!({ "locale": locale }));
        let r = c.say_ok(text);
        assert_eq!(r["action"], "answer", "\n{r}");
        assert_eq!(r["intent"], intent, "\n{r}");
        assert!(r["reply"].as_str().is_some_and(|t| !t.is_empty()), "\n{r}");
        assert!(r["confidence"].as_f64().is_some_and(|c| c > 0.5), "\n{r}");
        assert!(r["handoff"].is_null(), "\n{r}");
        assert!(r["quick_replies"].is_array(), "\n{r}");
        // Feedback on the answer.
        let reply_id = r["reply_id"].as_str().expect("reply id").to_string();
        expect(
            c.post(
                &format!("/messages/{reply_id}/feedback"),
                json!({ "helpful": true, "comment": "thanks" }),
            ),
            200,
        );
        let t = c.transcript();
        let messages = t["messages"].as_array().expect("messages");
        assert_eq!(messages.len(), 2, "\n{t}");
        assert_eq!(messages[0]["role"], "customer");
        assert_eq!(messages[0]["text"], text);
        assert_eq!(messages[1]["role"], "bot");
        assert_eq!(messages[1]["feedback_helpful"], true, "\n{t}");
    }
}

#[test]
fn clarify_then_answer() {
    let Some(s) = shared() else { return };
    // Japanese: "支払い" is between payment methods and a failed payment.
    let c = new_conversation(&s.base, json!({ "locale": "ja" }));
    let r = c.say_ok("支払い");
    assert_eq!(r["action"], "clarify", "\n{r}");
    let choices = r["quick_replies"]
        .as_array()
        .expect("quick replies")
        .clone();
    assert!(choices.len() >= 2, "\n{r}");
    let chosen = choices[0]["value"].as_str().expect("value").to_string();
    let r = c.say_ok(&chosen);
    assert_eq!(r["action"], "answer", "\n{r}");
    assert_eq!(r["intent"], chosen.as_str(), "\n{r}");
    // English: out of scope → suggestions; choosing one answers it.
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let r = c.say_ok("Who won the football match yesterday?");
    assert_eq!(r["action"], "clarify", "\n{r}");
    let values: Vec<&str> = r["quick_replies"]
        .as_array()
        .expect("quick replies")
        .iter()
        .filter_map(|q| q["value"].as_str())
        .collect();
    assert!(values.contains(&"payment_methods"), "\n{r}");
    let r = c.say_ok("payment_methods");
    assert_eq!(r["action"], "answer", "\n{r}");
    assert_eq!(r["intent"], "payment_methods", "\n{r}");
}

#[test]
fn order_status_asks_for_the_order_number_then_answers_with_it() {
    let Some(s) = shared() else { return };
    for (locale, ask, number_message, number) in [
        (
            "ja",
            "注文した商品はいつ届きますか",
            "MD12345678です",
            "MD12345678",
        ),
        ("en", "Where is my order?", "It is MD87654321", "MD87654321"),
    ] {
        let c = new_conversation(&s.base, json!({ "locale": locale }));
        let r = c.say_ok(ask);
        assert_eq!(r["intent"], "order_status", "\n{r}");
        assert_eq!(r["action"], "clarify", "asks for the number\n{r}");
        assert!(
            r["reply"].as_str().is_some_and(|t| t.contains("MD")),
            "\n{r}"
        );
        let r = c.say_ok(number_message);
        assert_eq!(r["action"], "answer", "\n{r}");
        assert_eq!(r["intent"], "order_status", "\n{r}");
        assert!(
            r["reply"].as_str().is_some_and(|t| t.contains(number)),
            "the answer names the order\n{r}"
        );
    }
}

/// Two messages of one customer at the same moment: both are answered, and neither turn's
/// dialogue state overwrites the other's (the order number given in one is known afterwards).
#[test]
fn simultaneous_messages_keep_both_turns() {
    let Some(s) = shared() else { return };
    for round in 0..4 {
        let c = new_conversation(&s.base, json!({ "locale": "en" }));
        let number = format!("MD{:08}", 31_415_920 + round);
        let with_number = format!("My order number is {number}");
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| c.say_ok(&with_number));
            let b = scope.spawn(|| c.say_ok("How much is shipping?"));
            (
                a.join().expect("first message"),
                b.join().expect("second message"),
            )
        });
        for r in [&a, &b] {
            assert!(r["reply"].as_str().is_some_and(|t| !t.is_empty()), "\n{r}");
        }
        let t = c.transcript();
        let roles: Vec<&str> = t["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["role"].as_str())
            .collect();
        assert_eq!(
            roles.iter().filter(|r| **r == "customer").count(),
            2,
            "\n{t}"
        );
        assert_eq!(roles.iter().filter(|r| **r == "bot").count(), 2, "\n{t}");
        let r = c.say_ok("Where is my order?");
        assert_eq!(r["intent"], "order_status", "round {round}\n{r}");
        assert_eq!(r["action"], "answer", "the number is remembered\n{r}");
        assert!(
            r["reply"].as_str().is_some_and(|t| t.contains(&number)),
            "round {round}: the answer names the order\n{r}"
        );
    }
}

#[test]
fn rephrase_then_handoff() {
    let Some(s) = shared() else { return };
    for (locale, first, second) in [
        (
            "en",
            "Who won the football match yesterday?",
            "What is the capital of Australia?",
        ),
        ("ja", "今日の東京の天気を教えて", "おすすめの映画は？"),
    ] {
        let c = new_conversation(&s.base, json!({ "locale": locale }));
        let r = c.say_ok(first);
        assert_ne!(r["action"], "handoff", "first miss: ask again\n{r}");
        assert!(r["handoff"].is_null(), "\n{r}");
        assert!(r["reply"].as_str().is_some_and(|t| !t.is_empty()), "\n{r}");
        let r = c.say_ok(second);
        assert_eq!(r["action"], "handoff", "second miss hands off\n{r}");
        let h = &r["handoff"];
        assert!(h["ticket_id"].is_string(), "\n{r}");
        assert!(
            h["summary"]["text"].as_str().is_some_and(|t| !t.is_empty()),
            "\n{r}"
        );
        assert!(h["expected_wait"]["open_now"].is_boolean(), "\n{r}");
    }
}

/// A complaint hands off at once; the summary has the order number given earlier. The agent
/// claims it, replies (the customer gets it live on SSE), hands it back, and the bot answers
/// again; CSAT is stored.
#[test]
fn complaint_handoff_agent_live_reply_hand_back_and_csat() {
    let Some(s) = shared() else { return };
    for (locale, order, complaint, back) in [
        (
            "en",
            "My order MD12345678 has not arrived yet",
            "This is terrible service, I want to complain",
            "What are your support hours?",
        ),
        (
            "ja",
            "注文番号MD23456789の商品がまだ届きません",
            "対応が最悪です。苦情を申し立てます",
            "営業時間を教えてください",
        ),
    ] {
        let c = new_conversation(
            &s.base,
            json!({ "locale": locale, "customer": { "name": "Test Customer", "email": "t@example.com" } }),
        );
        let number = order
            .split(|ch: char| !ch.is_ascii_alphanumeric())
            .find(|w| w.starts_with("MD"))
            .expect("number");
        c.say_ok(order);
        let r = c.say_ok(complaint);
        assert_eq!(r["action"], "handoff", "\n{r}");
        assert_eq!(r["intent"], "complaint", "\n{r}");
        let h = &r["handoff"];
        let ticket = h["ticket_id"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_string();
        assert!(h["position"].as_u64().is_some_and(|p| p >= 1), "\n{r}");
        let summary = &h["summary"];
        assert!(
            summary["entities"].to_string().contains(number),
            "summary has the order number\n{r}"
        );
        assert!(
            summary["text"].as_str().is_some_and(|t| !t.is_empty()),
            "\n{r}"
        );
        assert_eq!(summary["customer"]["name"], "Test Customer", "\n{r}");

        // The agent sees it in the queue (filtered) and in detail.
        let list = expect(
            agent_call(
                &s.base,
                "GET",
                &format!("/v1/handoffs?status=waiting&locale={locale}&intent=complaint"),
                "alice",
                None,
            ),
            200,
        );
        assert!(
            list["handoffs"]
                .as_array()
                .expect("handoffs")
                .iter()
                .any(|t| t["id"] == ticket.as_str()),
            "\n{list}"
        );
        let detail = expect(
            agent_call(
                &s.base,
                "GET",
                &format!("/v1/handoffs/{ticket}"),
                "alice",
                None,
            ),
            200,
        );
        assert!(detail["summary"]["text"].is_string(), "\n{detail}");
        assert_eq!(
            detail["messages"].as_array().map(Vec::len),
            Some(4),
            "\n{detail}"
        );

        let events = subscribe(&c);
        expect(
            agent_call(
                &s.base,
                "POST",
                &format!("/v1/handoffs/{ticket}/claim"),
                "alice",
                None,
            ),
            200,
        );
        expect_error(
            agent_call(
                &s.base,
                "POST",
                &format!("/v1/handoffs/{ticket}/claim"),
                "bob",
                None,
            ),
            409,
            "conflict",
        );
        // While a person has it, the bot is silent.
        let r = c.say_ok("Hello?");
        assert!(r["reply"].is_null(), "\n{r}");
        assert_eq!(r["action"], "handoff", "\n{r}");
        let words = format!("Hello, this is Alice ({locale})");
        expect(
            agent_call(
                &s.base,
                "POST",
                &format!("/v1/handoffs/{ticket}/reply"),
                "alice",
                Some(json!({ "text": words })),
            ),
            200,
        );
        let live = loop {
            let e = events
                .recv_timeout(Duration::from_secs(20))
                .expect("the agent's message arrives live");
            if e["role"] == "agent" {
                break e;
            }
        };
        assert_eq!(live["text"], words.as_str(), "{live}");
        assert_eq!(live["agent_id"], "alice", "{live}");

        // Hand back: the bot answers again.
        expect(
            agent_call(
                &s.base,
                "POST",
                &format!("/v1/handoffs/{ticket}/hand-back"),
                "alice",
                None,
            ),
            200,
        );
        let r = c.say_ok(back);
        assert_eq!(r["action"], "answer", "\n{r}");
        assert!(r["reply"].is_string(), "\n{r}");

        expect_error(c.post("/csat", json!({ "score": 0 })), 422, "unprocessable");
        expect(
            c.post("/csat", json!({ "score": 5, "comment": "great" })),
            200,
        );
        expect(c.post("/end", json!({})), 200);
        let t = c.transcript();
        assert_eq!(t["csat_score"], 5, "\n{t}");
        assert_eq!(t["csat_comment"], "great", "\n{t}");
        assert_eq!(t["status"], "resolved", "\n{t}");
        expect_error(c.say("one more thing"), 409, "conflict");
    }
}

#[test]
fn developer_classify_returns_classify_jsonl_lines() {
    let Some(s) = shared() else { return };
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    let texts = [
        "hello",
        "送料はいくらかかりますか",
        "What is the capital of Australia?",
    ];
    let bearer = format!("Bearer {API_KEY}");
    let r = expect(
        call(
            "POST",
            &format!("{}/v1/classify", s.base),
            &[("Authorization", &bearer)],
            Some(json!({ "texts": texts }).to_string().as_bytes()),
        ),
        200,
    );
    let out = madoguchi(
        ws.path(),
        &[
            "classify",
            "--format",
            "jsonl",
            "--encoder",
            encoder.to_str().expect("path"),
        ],
        (texts.join("\n") + "\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", show("classify", &out));
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(r["results"].as_array(), Some(&lines), "\n{r}");
    expect_error(
        call(
            "POST",
            &format!("{}/v1/classify", s.base),
            &[("Authorization", "Bearer wrong")],
            Some(br#"{"texts":["hi"]}"#),
        ),
        401,
        "unauthorized",
    );
}

/// A transcript without the minutes of the expected wait, which the clock moves.
fn without_wait_minutes(mut transcript: Value) -> Value {
    if let Some(wait) = transcript["handoff"]["expected_wait"].as_object_mut() {
        wait.remove("minutes");
    }
    transcript
}

#[test]
fn restart_keeps_everything() {
    if trained_workspace().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (id, token, ticket, before) = {
        let s = real_server(dir.path()).expect("server");
        let c = new_conversation(&s.base, json!({ "locale": "en" }));
        c.say_ok("My order MD12345678 has not arrived yet");
        let r = c.say_ok("I want to talk to a human");
        assert_eq!(r["action"], "handoff", "\n{r}");
        let ticket = r["handoff"]["ticket_id"]
            .as_str()
            .expect("ticket")
            .to_string();
        let before = c.transcript().body;
        (c.id.clone(), c.token.clone(), ticket, before)
    };
    let s = real_server(dir.path()).expect("server after restart");
    let c = Customer {
        base: &s.base,
        id,
        token,
    };
    let after = c.transcript().body;
    // The expected wait is counted from the clock at each read (minutes until the desk opens):
    // everything stored must be the same, and the wait may have moved by the restart's minute.
    let minutes = |t: &Value| t["handoff"]["expected_wait"]["minutes"].as_i64();
    let (wait_before, wait_after) = (minutes(&before), minutes(&after));
    assert!(wait_before.is_some(), "\n{before}");
    assert!(
        wait_after
            .zip(wait_before)
            .is_some_and(|(a, b)| (a - b).abs() <= 1),
        "{wait_before:?} → {wait_after:?}"
    );
    assert_eq!(without_wait_minutes(after), without_wait_minutes(before));
    let detail = expect(
        agent_call(
            &s.base,
            "GET",
            &format!("/v1/handoffs/{ticket}"),
            "agent",
            None,
        ),
        200,
    );
    assert_eq!(detail["status"], "waiting", "\n{detail}");
    // Still with a person: the bot stays silent after the restart.
    let r = c.say_ok("hello?");
    assert!(r["reply"].is_null(), "\n{r}");
}

// ---------------------------------------------------------------------------------------------
// Bad input, overload and operations (stand-in classifier: always runs).

#[test]
fn bad_input_gets_clear_json_errors_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let other = new_conversation(&s.base, json!({}));
    let url = format!("{}/v1/conversations/{}/messages", s.base, c.id);
    let auth = c.auth();
    let with_token: &[(&str, &str)] = &[("Authorization", &auth)];

    expect_error(c.say(""), 422, "unprocessable");
    expect_error(c.say(" \n\t　"), 422, "unprocessable");
    let big = json!({ "text": "あ".repeat(100 * 1024 / 3 + 10) }).to_string();
    assert!(big.len() > 100 * 1024);
    expect_error(
        call("POST", &url, with_token, Some(big.as_bytes())),
        413,
        "payload_too_large",
    );
    expect_error(
        call("POST", &url, with_token, Some(b"{\"text\": \"\xff\xfe\"}")),
        400,
        "bad_request",
    );
    expect_error(
        call("POST", &url, with_token, Some(b"{\"text\": ")),
        400,
        "bad_request",
    );
    expect_error(
        call("POST", &url, with_token, Some(b"not json")),
        400,
        "bad_request",
    );
    expect_error(
        call("POST", &url, with_token, Some(b"{\"text\": 5}")),
        422,
        "unprocessable",
    );
    expect_error(
        call("POST", &url, with_token, Some(b"{}")),
        422,
        "unprocessable",
    );
    expect_error(
        call("POST", &url, &[], Some(br#"{"text":"hi"}"#)),
        401,
        "unauthorized",
    );
    expect_error(
        call(
            "POST",
            &url,
            &[("Authorization", "Basic abc")],
            Some(br#"{"text":"hi"}"#),
        ),
        401,
        "unauthorized",
    );
    let other_auth = other.auth();
    expect_error(
        call(
            "POST",
            &url,
            &[("Authorization", &other_auth)],
            Some(br#"{"text":"hi"}"#),
        ),
        403,
        "forbidden",
    );
    for unknown in ["00000000-0000-0000-0000-000000000000", "not-a-uuid"] {
        expect_error(
            call(
                "POST",
                &format!("{}/v1/conversations/{unknown}/messages", s.base),
                with_token,
                Some(br#"{"text":"hi"}"#),
            ),
            404,
            "not_found",
        );
    }
    expect_error(
        call(
            "POST",
            &format!("{}/v1/conversations", s.base),
            &[],
            Some(br#"{"locale":"xx"}"#),
        ),
        422,
        "unprocessable",
    );
    // Agent API: credentials and unknown tickets.
    expect_error(
        call("GET", &format!("{}/v1/handoffs", s.base), &[], None),
        401,
        "unauthorized",
    );
    expect_error(
        call(
            "GET",
            &format!("{}/v1/handoffs", s.base),
            &[("Authorization", "Bearer nope")],
            None,
        ),
        401,
        "unauthorized",
    );
    expect_error(
        agent_call(
            &s.base,
            "GET",
            "/v1/handoffs/00000000-0000-0000-0000-000000000000",
            "a",
            None,
        ),
        404,
        "not_found",
    );
    expect_error(
        agent_call(&s.base, "GET", "/v1/handoffs?status=bogus", "a", None),
        422,
        "unprocessable",
    );
    expect_error(
        call("GET", &format!("{}/no/such/route", s.base), &[], None),
        404,
        "not_found",
    );

    // Nothing was stored by any of those.
    let t = c.transcript();
    assert_eq!(t["messages"].as_array().map(Vec::len), Some(0), "\n{t}");

    // The server still serves; a resolved conversation refuses messages.
    let r = c.say_ok("hello");
    assert!(r["reply"].is_string(), "\n{r}");
    expect(c.post("/end", json!({})), 200);
    expect_error(c.say("hello again"), 409, "conflict");
    let t = c.transcript();
    assert_eq!(t["messages"].as_array().map(Vec::len), Some(2), "\n{t}");
    expect(call("GET", &format!("{}/healthz", s.base), &[], None), 200);
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::from_millis(1500), |c| {
        c.queue_capacity = 1;
        c.max_batch = 1;
    });
    let base = Arc::new(s.base.clone());
    let conversations: Vec<(String, String)> = (0..4)
        .map(|_| {
            let c = new_conversation(&base, json!({ "locale": "en" }));
            (c.id, c.token)
        })
        .collect();
    let handles: Vec<_> = conversations
        .iter()
        .cloned()
        .map(|(id, token)| {
            let base = base.clone();
            std::thread::spawn(move || {
                let c = Customer {
                    base: &base,
                    id,
                    token,
                };
                c.say("hello")
            })
        })
        .collect();
    let responses: Vec<Resp> = handles
        .into_iter()
        .map(|h| h.join().expect("join"))
        .collect();
    let busy: Vec<&Resp> = responses.iter().filter(|r| r.status == 429).collect();
    assert!(
        !busy.is_empty(),
        "expected a 429: {:?}",
        responses.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for r in &busy {
        assert_eq!(r.body["error"]["code"], "overloaded", "\n{r}");
        assert!(r.retry_after.is_some(), "Retry-After\n{r}");
    }
    for r in responses.iter().filter(|r| r.status != 429) {
        assert_eq!(r.status, 200, "\n{r}");
    }
    // A refused message was not stored.
    for ((id, token), r) in conversations.iter().zip(&responses) {
        let c = Customer {
            base: &base,
            id: id.clone(),
            token: token.clone(),
        };
        let n = c.transcript()["messages"].as_array().map(Vec::len);
        assert_eq!(n, Some(if r.status == 429 { 0 } else { 2 }), "\n{r}");
    }
    expect(call("GET", &format!("{}/readyz", base), &[], None), 200);
}

#[test]
fn health_metrics_and_openapi() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "ja" }));
    c.say_ok("こんにちは");
    expect(c.post("/csat", json!({ "score": 4 })), 200);
    let r = expect(call("GET", &format!("{}/readyz", s.base), &[], None), 200);
    assert_eq!(r["status"], "ready", "\n{r}");
    let m = expect(call("GET", &format!("{}/metrics", s.base), &[], None), 200);
    for name in [
        "madoguchi_http_requests_total",
        "madoguchi_http_request_duration_seconds_bucket",
        "madoguchi_turns_total{action=\"answer\",intent=\"greeting\"}",
        "madoguchi_inference_batch_size",
        "madoguchi_queue_wait_seconds",
        "madoguchi_csat_score",
        "madoguchi_containment_rate",
        "madoguchi_handoff_rate",
        "madoguchi_handoff_queue_length",
    ] {
        assert!(m.text.contains(name), "{name} missing from\n{}", m.text);
    }
    let doc = expect(
        call("GET", &format!("{}/openapi.json", s.base), &[], None),
        200,
    );
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "\n{doc}"
    );
    assert!(doc["paths"]["/v1/conversations/{id}/messages"].is_object());
    let ui = expect(call("GET", &format!("{}/docs/", s.base), &[], None), 200);
    assert!(ui.text.contains("<html"), "\n{ui}");
}

#[test]
fn not_ready_while_the_model_loads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server_loading(dir.path(), Duration::ZERO, Duration::from_secs(3), |_| {});
    expect(call("GET", &format!("{}/healthz", s.base), &[], None), 200);
    expect_error(
        call("GET", &format!("{}/readyz", s.base), &[], None),
        503,
        "not_ready",
    );
    let (id, token) = {
        let c = new_conversation(&s.base, json!({ "locale": "en" }));
        expect_error(c.say("hello"), 503, "not_ready");
        assert_eq!(c.transcript()["messages"].as_array().map(Vec::len), Some(0));
        (c.id, c.token)
    };
    let s = wait_ready(s);
    let c = Customer {
        base: &s.base,
        id,
        token,
    };
    expect(c.say("hello"), 200);
}

/// A tiny HTTP receiver: answers the first request 500 and the others 200; hands each request's
/// headers (lowercased names) and body to the test.
/// One received webhook call: headers (lowercased names) and body.
type Delivery = (Vec<(String, String)>, Vec<u8>);

fn webhook_receiver() -> (String, mpsc::Receiver<Delivery>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).expect("request line");
            loop {
                line.clear();
                reader.read_line(&mut line).expect("header");
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            reader.read_exact(&mut body).expect("body");
            let status = if n == 0 {
                "500 Internal Server Error"
            } else {
                "200 OK"
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if tx.send((headers, body)).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn handoff_webhook_is_signed_and_retried() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, requests) = webhook_receiver();
    let secret = "hook-secret";
    let s = fake_server(dir.path(), Duration::ZERO, |c| {
        c.webhook_url = Some(url);
        c.webhook_secret = Some(secret.into());
        c.webhook_attempts = 3;
    });
    let c = new_conversation(
        &s.base,
        json!({ "locale": "en", "customer": { "id": "C-1" } }),
    );
    let r = c.say_ok("I want a human");
    assert_eq!(r["action"], "handoff", "\n{r}");
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .expect("ticket")
        .to_string();
    let mut deliveries = Vec::new();
    for _ in 0..2 {
        deliveries.push(
            requests
                .recv_timeout(Duration::from_secs(20))
                .expect("webhook delivery (retried after a 500)"),
        );
    }
    for (headers, body) in &deliveries {
        let sig = headers
            .iter()
            .find(|(k, _)| k == "x-madoguchi-signature")
            .map(|(_, v)| v.clone())
            .expect("signature header");
        assert_eq!(
            sig,
            madoguchi::conversation::outbox::signature(secret, body)
        );
        let v: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(v["event"], "handoff.created", "{v}");
        assert_eq!(v["ticket"]["id"], ticket.as_str(), "{v}");
        assert_eq!(v["conversation"]["customer"]["id"], "C-1", "{v}");
    }
}

// ---------------------------------------------------------------------------------------------
// The binary: `madoguchi serve` with no config file, and `madoguchi chat`.

#[test]
fn serve_runs_without_a_config_file_and_stops_on_sigterm() {
    use std::process::{Command, Stdio};
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    let db = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database",
            &sqlite_url(db.path(), "serve.db"),
            "--encoder",
            encoder.to_str().expect("path"),
        ])
        .current_dir(ws.path())
        .env_remove("MADOGUCHI_CONFIG")
        .env("MADOGUCHI_AGENT_KEY", "env-agent-key")
        .env("MADOGUCHI_API_KEY", "env-api-key")
        .env("HF_HUB_OFFLINE", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn madoguchi serve");
    let (base, line) = crate::util::wait_listening(&mut child);
    assert!(
        !line.contains("env-agent-key"),
        "secrets are redacted: {line}"
    );
    let s = wait_ready(Server {
        base,
        stop: None,
        thread: None,
    });
    expect(call("GET", &format!("{}/healthz", s.base), &[], None), 200);
    expect(
        call(
            "GET",
            &format!("{}/v1/handoffs", s.base),
            &[("Authorization", "Bearer env-agent-key")],
            None,
        ),
        200,
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "serve exited with {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "serve did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn chat_in_the_terminal() {
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    let out = madoguchi(
        ws.path(),
        &[
            "chat",
            "--encoder",
            encoder.to_str().expect("path"),
            "--locale",
            "en",
        ],
        "What are your support hours?\nI want to talk to a human\n".as_bytes(),
    );
    assert!(out.status.success(), "{}", show("madoguchi chat", &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("answer · business_hours"),
        "{}",
        show("madoguchi chat", &out)
    );
    assert!(
        stdout.contains("handoff: ticket"),
        "{}",
        show("madoguchi chat", &out)
    );
}
