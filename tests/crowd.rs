//! A crowd of widget-style customers for the crash and replica tests, the real `madoguchi serve`
//! processes they talk to, a webhook receiver that counts deliveries, and the checks run
//! afterwards against the database.
//!
//! Each customer is a thread that starts conversations one after another and sends messages the
//! way the widget does: every message carries a `client_message_id`, and a message that got no
//! 200 (the server was killed, restarting, loading its model, or refused it for now) is resent
//! with the same id, to whichever server the round-robin picks next, until it gets one. Every
//! third conversation asks for a person (a ticket) and every other one of those is then ended
//! by the customer (the ticket resolved), so the outbox gets `handoff.opened` and
//! `handoff.resolved` events. Everything acknowledged is kept in a ledger that [`verify`]
//! holds the database to.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use madoguchi::store::{Role, Store};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::util::block_on;

/// The agent key the served processes are started with.
pub const AGENT_KEY: &str = "crowd-agent-key";
/// The webhook secret they sign with.
pub const WEBHOOK_SECRET: &str = "crowd-webhook-secret";
/// The console password of `admin` (the agent the tests act as).
pub const ADMIN_PASSWORD: &str = "crowd-admin-password";
/// How long one message may go unanswered (resends included) before the test gives up on it.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------------------------------------
// The servers.

/// How to start one `madoguchi serve`.
#[derive(Clone)]
pub struct ServeSpec {
    /// The workspace (catalog and trained model) it runs in.
    pub dir: PathBuf,
    pub encoder: PathBuf,
    pub database: String,
    /// `127.0.0.1:PORT`: a fixed port, so a restarted server is where its clients left it.
    pub bind: String,
    pub webhook_url: Option<String>,
}

/// A running `madoguchi serve` process; killed when dropped.
pub struct Served {
    spec: ServeSpec,
    child: Option<Child>,
    pub base: String,
}

impl Served {
    /// Starts it and waits until it listens (not until the model is loaded).
    pub fn start(spec: ServeSpec) -> Served {
        let base = format!("http://{}", spec.bind);
        let mut served = Served {
            spec,
            child: None,
            base,
        };
        served.spawn();
        served
    }

    fn spawn(&mut self) {
        let spec = &self.spec;
        let mut command = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
        command
            .args(["serve", "--bind", &spec.bind, "--database", &spec.database])
            .arg("--encoder")
            .arg(&spec.encoder)
            .current_dir(&spec.dir)
            .env("MADOGUCHI_AGENT_KEY", AGENT_KEY)
            .env("MADOGUCHI_ADMIN_PASSWORD", ADMIN_PASSWORD)
            // A crowd from one loopback address: the per-address and per-conversation rate
            // limits would refuse it (tests/access.rs covers them).
            .env("MADOGUCHI_CONVERSATIONS_PER_IP_PER_MINUTE", "0")
            .env("MADOGUCHI_MESSAGES_PER_CONVERSATION_PER_MINUTE", "0")
            .env("HF_HUB_OFFLINE", "1")
            .env("RUST_LOG", "warn")
            .env_remove("MADOGUCHI_CONFIG")
            .env_remove("MADOGUCHI_INTENTS")
            .env_remove("MADOGUCHI_TRAINING_DATA")
            .env_remove("MADOGUCHI_MODELS")
            .env_remove("MADOGUCHI_CACHE")
            .env_remove("MADOGUCHI_WEBHOOK_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = &spec.webhook_url {
            command
                .args(["--webhook-url", url, "--webhook-secret", WEBHOOK_SECRET])
                .args(["--webhook-attempts", "20"]);
        }
        let mut child = command.spawn().expect("spawn madoguchi serve");
        let (base, _) = crate::util::wait_listening(&mut child);
        assert_eq!(base, self.base, "serve listens where it was told");
        self.child = Some(child);
    }

    /// `kill -9`: no shutdown, no draining, connections cut mid-request.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    /// Kills it (if running) and starts it again on the same address and database.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Waits until `/readyz` answers 200 (the model is loaded); returns how long that took.
    pub fn wait_ready(&self) -> Duration {
        let started = Instant::now();
        loop {
            if let Ok(200) = Http::new().get_status(&format!("{}/readyz", self.base)) {
                return started.elapsed();
            }
            assert!(
                started.elapsed() < Duration::from_secs(180),
                "{} never became ready",
                self.base
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A free loopback address for a server to keep across restarts.
pub fn free_addr() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").to_string()
}

// ---------------------------------------------------------------------------------------------
// HTTP, as a client that expects servers to die under it.

/// What a request came to: a status with its JSON body, or no answer at all.
pub enum Outcome {
    Answer(u16, Value),
    NoAnswer(String),
}

pub struct Http {
    agent: ureq::Agent,
}

impl Default for Http {
    fn default() -> Self {
        Self::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http {
            agent: ureq::AgentBuilder::new()
                .timeout_connect(Duration::from_secs(2))
                .timeout(Duration::from_secs(60))
                .build(),
        }
    }

    pub fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Outcome {
        let mut req = self.agent.request(method, url);
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Outcome::NoAnswer(e.to_string()),
        };
        let status = response.status();
        match response.into_string() {
            Ok(text) => Outcome::Answer(status, serde_json::from_str(&text).unwrap_or(Value::Null)),
            Err(e) => Outcome::NoAnswer(format!("reading the body: {e}")),
        }
    }

    fn get_status(&self, url: &str) -> Result<u16, String> {
        match self.send("GET", url, &[], None) {
            Outcome::Answer(status, _) => Ok(status),
            Outcome::NoAnswer(e) => Err(e),
        }
    }

    /// The agent API as the account `agent`.
    pub fn agent(
        &self,
        base: &str,
        agent: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Outcome {
        let bearer = format!("Bearer {AGENT_KEY}");
        self.send(
            method,
            &format!("{base}{path}"),
            &[("Authorization", &bearer), ("X-Agent-Id", agent)],
            body,
        )
    }
}

/// The servers a crowd talks to, in turn (one server: always that one).
pub struct Targets {
    bases: RwLock<Vec<String>>,
    next: AtomicUsize,
}

impl Targets {
    pub fn new(bases: Vec<String>) -> Arc<Targets> {
        Arc::new(Targets {
            bases: RwLock::new(bases),
            next: AtomicUsize::new(0),
        })
    }

    /// The next server, round-robin.
    pub fn pick(&self) -> String {
        let bases = self.bases.read().expect("targets");
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        bases[i % bases.len()].clone()
    }

    /// Stops sending to `base` (a replica taken away).
    pub fn remove(&self, base: &str) {
        self.bases.write().expect("targets").retain(|b| b != base);
    }
}

// ---------------------------------------------------------------------------------------------
// The crowd.

/// A message the server acknowledged with 200, as the customer saw it.
#[derive(Debug, Clone)]
pub struct Ack {
    pub client_message_id: String,
    pub message_id: String,
    pub reply_id: Option<String>,
    pub ticket_id: Option<String>,
}

/// One conversation, as its customer saw it.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub id: String,
    pub token: String,
    pub acks: Vec<Ack>,
    /// The customer ended it (200).
    pub ended: bool,
}

/// What the customers went through.
#[derive(Default)]
pub struct Tally {
    /// Requests sent again after no answer or a retryable status.
    pub resends: AtomicU64,
    /// Requests that got no answer (connection refused or cut).
    pub no_answer: AtomicU64,
    /// 503 answers (model loading, database unreachable) and 429s.
    pub refused: AtomicU64,
    /// Other 5xx answers (each is retried, and reported).
    pub server_errors: AtomicU64,
    /// Things a customer could not get done (the test fails on any).
    pub failures: Mutex<Vec<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        self.failures.lock().expect("failures").push(what);
    }
}

/// Customers talking until stopped.
pub struct Crowd {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub tally: Arc<Tally>,
}

/// What a customer writes: a few ordinary questions, a request for a person, a last word.
const ASK_EN: &[&str] = &[
    "Where is my order MD12345678?",
    "How much is shipping?",
    "Can I return an item I bought last week?",
    "Which payment methods do you accept?",
];
const ASK_JA: &[&str] = &[
    "注文番号MD12345678の商品がまだ届きません",
    "送料はいくらですか",
    "先週買った商品を返品できますか",
    "支払い方法は何が使えますか",
];
const HUMAN_EN: &str = "I want to talk to a human";
const HUMAN_JA: &str = "担当者と話したいです";

impl Crowd {
    /// `customers` threads talking to `targets` until [`Crowd::finish`].
    pub fn start(targets: &Arc<Targets>, customers: usize) -> Crowd {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let tally = Arc::new(Tally::default());
        let threads = (0..customers)
            .map(|n| {
                let (targets, stop) = (targets.clone(), stop.clone());
                let (seen, tally) = (seen.clone(), tally.clone());
                std::thread::spawn(move || {
                    let http = Http::new();
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let c = Customer {
                            http: &http,
                            targets: &targets,
                            tally: &tally,
                        };
                        if let Some(s) = c.conversation(n + round * customers) {
                            seen.lock().expect("seen").push(s);
                        }
                        round += 1;
                    }
                })
            })
            .collect();
        Crowd {
            stop,
            threads,
            seen,
            tally,
        }
    }

    /// Lets every customer finish the conversation they are in, then returns what they saw.
    pub fn finish(self) -> (Vec<Seen>, Arc<Tally>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("customer thread");
        }
        let seen = std::mem::take(&mut *self.seen.lock().expect("seen"));
        (seen, self.tally)
    }

    /// Conversations finished so far.
    pub fn conversations(&self) -> usize {
        self.seen.lock().expect("seen").len()
    }
}

struct Customer<'a> {
    http: &'a Http,
    targets: &'a Targets,
    tally: &'a Tally,
}

impl Customer<'_> {
    /// Conversation number `n`: its script depends on n only.
    fn conversation(&self, n: usize) -> Option<Seen> {
        let ja = n % 2 == 1;
        let created = self.until_answered("start", |base| {
            let body = json!({ "locale": if ja { "ja" } else { "en" } });
            (format!("{base}/v1/conversations"), Some(body), None)
        })?;
        let mut seen = Seen {
            id: created["id"].as_str().unwrap_or_default().to_string(),
            token: created["token"].as_str().unwrap_or_default().to_string(),
            ..Seen::default()
        };
        let asks = if ja { ASK_JA } else { ASK_EN };
        let wants_human = n.is_multiple_of(3);
        let mut script: Vec<&str> = (0..3).map(|i| asks[(n + i) % asks.len()]).collect();
        if wants_human {
            script.insert(1, if ja { HUMAN_JA } else { HUMAN_EN });
        }
        for text in script {
            let ack = self.message(&seen, text)?;
            seen.acks.push(ack);
        }
        if wants_human && n.is_multiple_of(2) {
            self.until_answered("end", |base| {
                (
                    format!("{base}/v1/conversations/{}/end", seen.id),
                    Some(json!({})),
                    Some(seen.token.clone()),
                )
            })?;
            seen.ended = true;
        }
        Some(seen)
    }

    fn message(&self, seen: &Seen, text: &str) -> Option<Ack> {
        let cmid = Uuid::new_v4().to_string();
        let r = self.until_answered("message", |base| {
            (
                format!("{base}/v1/conversations/{}/messages", seen.id),
                Some(json!({ "text": text, "client_message_id": cmid })),
                Some(seen.token.clone()),
            )
        })?;
        let text_of = |v: &Value| v.as_str().map(str::to_string);
        Some(Ack {
            client_message_id: cmid,
            message_id: text_of(&r["message_id"]).unwrap_or_default(),
            reply_id: text_of(&r["reply_id"]),
            ticket_id: text_of(&r["handoff"]["ticket_id"]),
        })
    }

    /// Sends one request (built for the server picked) until it is answered 2xx; resends after
    /// no answer, 429, 5xx. Another answer, or no success before the deadline, is a failure.
    fn until_answered(
        &self,
        what: &str,
        request: impl Fn(&str) -> (String, Option<Value>, Option<String>),
    ) -> Option<Value> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let (url, body, token) = request(&self.targets.pick());
            let auth = token.map(|t| format!("Bearer {t}"));
            let headers: Vec<(&str, &str)> = auth
                .as_deref()
                .map(|a| vec![("Authorization", a)])
                .unwrap_or_default();
            let problem = match self.http.send("POST", &url, &headers, body.as_ref()) {
                Outcome::Answer(status, v) if (200..300).contains(&status) => return Some(v),
                Outcome::Answer(status @ (429 | 503), v) => {
                    self.tally.refused.fetch_add(1, Ordering::Relaxed);
                    format!("{status} {v}")
                }
                Outcome::Answer(status, v) if status >= 500 => {
                    self.tally.server_errors.fetch_add(1, Ordering::Relaxed);
                    format!("{status} {v}")
                }
                Outcome::Answer(status, v) => {
                    self.tally
                        .fail(format!("{what}: POST {url} {body:?} → {status} {v}"));
                    return None;
                }
                Outcome::NoAnswer(e) => {
                    self.tally.no_answer.fetch_add(1, Ordering::Relaxed);
                    e
                }
            };
            if started.elapsed() > MESSAGE_DEADLINE {
                self.tally.fail(format!(
                    "{what}: POST {url} {body:?} unanswered after {attempt} resends: {problem}"
                ));
                return None;
            }
            attempt += 1;
            self.tally.resends.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20 * u64::from(attempt.min(10))));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The webhook receiver.

/// Counts webhook calls by `X-Madoguchi-Delivery` (answers every one 200).
pub struct Hooks {
    pub url: String,
    deliveries: Arc<Mutex<HashMap<String, u32>>>,
}

impl Hooks {
    pub fn start() -> Hooks {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let deliveries: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
        let counts = deliveries.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counts = counts.clone();
                std::thread::spawn(move || receive(stream, &counts));
            }
        });
        Hooks { url, deliveries }
    }

    /// Delivery id → how many times it arrived.
    pub fn deliveries(&self) -> HashMap<String, u32> {
        self.deliveries.lock().expect("deliveries").clone()
    }
}

/// Reads one request, counts its delivery id, answers 200.
fn receive(mut stream: std::net::TcpStream, counts: &Mutex<HashMap<String, u32>>) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = std::io::BufReader::new(clone);
    let mut line = String::new();
    let (mut length, mut delivery) = (0usize, None);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            match k.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = v.trim().parse().unwrap_or(0),
                "x-madoguchi-delivery" => delivery = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if let Some(id) = delivery {
        *counts.lock().expect("deliveries").entry(id).or_default() += 1;
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// What [`verify`] counted.
#[derive(Debug, Default)]
pub struct Counts {
    pub conversations: usize,
    pub messages: usize,
    pub replies: usize,
    pub tickets: usize,
    pub outbox_events: usize,
    pub deliveries: usize,
    pub redeliveries: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} conversations, {} acknowledged messages each stored once ({} with their reply), \
             {} tickets (none lost or doubled), {} outbox events all delivered \
             ({} webhook calls, {} of them repeats of a delivery id)",
            self.conversations,
            self.messages,
            self.replies,
            self.tickets,
            self.outbox_events,
            self.deliveries,
            self.redeliveries
        )
    }
}

/// Holds the database at `database` to what the customers were told: every acknowledged message
/// stored exactly once with its reply right after it, transcripts numbered 1..n without gaps,
/// every ticket a customer was told about stored once and no other, conversations the
/// customers ended resolved, and (with `hooks`) every outbox event delivered, each delivery id
/// received. Waits up to `outbox_wait` for the outbox to drain. Panics listing every problem.
pub fn verify(
    database: &str,
    seen: &[Seen],
    hooks: Option<&Hooks>,
    outbox_wait: Duration,
) -> Counts {
    let store = block_on(Store::connect(database)).expect("open the database");
    let mut problems = Vec::new();
    let mut counts = Counts {
        conversations: seen.len(),
        ..Counts::default()
    };
    for s in seen {
        check_conversation(&store, s, &mut counts, &mut problems);
    }
    if let Some(hooks) = hooks {
        check_outbox(&store, seen, hooks, outbox_wait, &mut counts, &mut problems);
    }
    block_on(store.close());
    assert!(
        problems.is_empty(),
        "{} problem(s) after the run ({counts}):\n{}",
        problems.len(),
        problems
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    counts
}

fn check_conversation(store: &Store, s: &Seen, counts: &mut Counts, problems: &mut Vec<String>) {
    let Ok(id) = Uuid::parse_str(&s.id) else {
        problems.push(format!("conversation id {:?} is not a UUID", s.id));
        return;
    };
    let messages = block_on(store.messages(id)).expect("read messages");
    let conversation = block_on(store.conversation(id)).expect("read conversation");
    let Some(conversation) = conversation else {
        problems.push(format!("conversation {id} is missing"));
        return;
    };
    let at = |p: String| format!("conversation {id}: {p}");
    for (i, m) in messages.iter().enumerate() {
        if m.seq != i as i64 + 1 {
            problems.push(at(format!("message {} has seq {}", i + 1, m.seq)));
        }
    }
    let by_id: HashMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.id.to_string(), i))
        .collect();
    let customer: Vec<_> = messages
        .iter()
        .filter(|m| m.role == Role::Customer)
        .collect();
    if customer.len() != s.acks.len() {
        problems.push(at(format!(
            "{} customer messages stored, {} acknowledged",
            customer.len(),
            s.acks.len()
        )));
    }
    for ack in &s.acks {
        counts.messages += 1;
        let stored: Vec<_> = customer
            .iter()
            .filter(|m| m.client_message_id.as_deref() == Some(ack.client_message_id.as_str()))
            .collect();
        match stored.as_slice() {
            [m] if m.id.to_string() == ack.message_id => {}
            [m] => problems.push(at(format!(
                "message {} stored as {}, acknowledged as {}",
                ack.client_message_id, m.id, ack.message_id
            ))),
            other => problems.push(at(format!(
                "message {} stored {} times",
                ack.client_message_id,
                other.len()
            ))),
        }
        check_reply(&messages, &by_id, ack, &at, counts, problems);
    }
    check_tickets(store, &conversation, s, counts, problems);
}

fn check_reply(
    messages: &[madoguchi::store::Message],
    by_id: &HashMap<String, usize>,
    ack: &Ack,
    at: &dyn Fn(String) -> String,
    counts: &mut Counts,
    problems: &mut Vec<String>,
) {
    let Some(&i) = by_id.get(&ack.message_id) else {
        return;
    };
    let next = messages.get(i + 1);
    match (&ack.reply_id, next) {
        (Some(reply), Some(m)) if m.id.to_string() == *reply && m.role == Role::Bot => {
            counts.replies += 1
        }
        (Some(reply), _) => problems.push(at(format!(
            "the reply {reply} to {} is not the next message",
            ack.client_message_id
        ))),
        (None, Some(m)) if m.role == Role::Bot => problems.push(at(format!(
            "a silent turn {} has a bot message after it",
            ack.client_message_id
        ))),
        (None, _) => {}
    }
}

fn check_tickets(
    store: &Store,
    conversation: &madoguchi::store::Conversation,
    s: &Seen,
    counts: &mut Counts,
    problems: &mut Vec<String>,
) {
    let id = conversation.id;
    let told: HashSet<&str> = s
        .acks
        .iter()
        .filter_map(|a| a.ticket_id.as_deref())
        .collect();
    let tickets = block_on(store.conversation_handoffs(id)).expect("read tickets");
    let stored: HashSet<String> = tickets.iter().map(|t| t.id.to_string()).collect();
    counts.tickets += tickets.len();
    if tickets.len() != told.len() || told.iter().any(|t| !stored.contains(*t)) {
        problems.push(format!(
            "conversation {id}: customer was told of tickets {told:?}, the database has {stored:?}"
        ));
    }
    let open = tickets
        .iter()
        .any(|t| t.status != madoguchi::store::HandoffStatus::Resolved);
    if open != conversation.status.is_with_human() {
        problems.push(format!(
            "conversation {id}: status {} with tickets {:?}",
            conversation.status.as_str(),
            tickets
                .iter()
                .map(|t| t.status.as_str())
                .collect::<Vec<_>>()
        ));
    }
    let state = serde_json::from_value::<madoguchi::dialogue::DialogueState>(
        conversation.dialogue_state.clone(),
    );
    if let Err(e) = state {
        problems.push(format!("conversation {id}: unreadable dialogue state: {e}"));
    }
    if s.ended && conversation.status.as_str() != "resolved" {
        problems.push(format!(
            "conversation {id}: ended by the customer but {}",
            conversation.status.as_str()
        ));
    }
}

fn check_outbox(
    store: &Store,
    seen: &[Seen],
    hooks: &Hooks,
    wait: Duration,
    counts: &mut Counts,
    problems: &mut Vec<String>,
) {
    let deadline = Instant::now() + wait;
    let events = loop {
        let events = block_on(store.list_outbox(false, 1000)).expect("read the outbox");
        let delivered = |e: &madoguchi::store::OutboxEvent| e.delivered_at.is_some();
        let received = hooks.deliveries();
        let all_in = events
            .iter()
            .all(|e| delivered(e) && received.contains_key(&e.id.to_string()));
        if all_in || Instant::now() > deadline {
            break events;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let received = hooks.deliveries();
    counts.outbox_events = events.len();
    counts.deliveries = received.values().map(|&n| n as usize).sum();
    counts.redeliveries = counts.deliveries - received.len();
    let ours: HashSet<String> = seen.iter().map(|s| s.id.clone()).collect();
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    for e in &events {
        if ours.contains(&e.conversation_id.to_string()) {
            *per_kind.entry(e.event.clone()).or_default() += 1;
        }
        if e.delivered_at.is_none() || e.dead_at.is_some() {
            problems.push(format!(
                "outbox event {} ({}) not delivered after {wait:?}: attempts {}, dead {:?}, last error {:?}",
                e.id, e.event, e.attempts, e.dead_at, e.last_error
            ));
        } else if !received.contains_key(&e.id.to_string()) {
            problems.push(format!(
                "outbox event {} marked delivered but never received",
                e.id
            ));
        }
    }
    let known: HashSet<String> = events.iter().map(|e| e.id.to_string()).collect();
    for id in received.keys().filter(|id| !known.contains(*id)) {
        problems.push(format!("a delivery {id} of no outbox event"));
    }
    let opened = per_kind.get("handoff.opened").copied().unwrap_or(0);
    let resolved = per_kind.get("handoff.resolved").copied().unwrap_or(0);
    let tickets = seen
        .iter()
        .flat_map(|s| s.acks.iter().filter_map(|a| a.ticket_id.clone()))
        .collect::<HashSet<_>>();
    if opened != tickets.len() {
        problems.push(format!(
            "{opened} handoff.opened events for {} tickets",
            tickets.len()
        ));
    }
    let ended = seen
        .iter()
        .filter(|s| s.ended && s.acks.iter().any(|a| a.ticket_id.is_some()))
        .count();
    if resolved != ended {
        problems.push(format!(
            "{resolved} handoff.resolved events for {ended} conversations ended with a ticket"
        ));
    }
}

/// Prints a line the test's output keeps (`cargo test -- --nocapture` shows it).
pub fn report(line: &str) {
    eprintln!("{line}");
    let _ = std::io::stderr().flush();
}
