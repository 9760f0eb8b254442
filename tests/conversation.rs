//! The application core over real HTTP: idempotent turns (`client_message_id`), live streams with
//! replay (`Last-Event-ID`), stream tickets and caps, the agent's event stream, the durable
//! webhook outbox (after a restart, once with two replicas), and two `madoguchi serve` processes
//! on one PostgreSQL delivering live across replicas.
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{
    agent_call, call, expect, expect_error, fake_server, new_conversation, Customer, Resp,
    AGENT_KEY,
};
use crate::util::{fresh_postgres, madoguchi, show, trained_workspace};

// ---------------------------------------------------------------------------------------------
// Helpers.

impl Customer<'_> {
    fn say_as(&self, text: &str, client_message_id: &str) -> Resp {
        self.post(
            "/messages",
            json!({ "text": text, "client_message_id": client_message_id }),
        )
    }

    fn events_url(&self) -> String {
        format!("{}/v1/conversations/{}/events", self.base, self.id)
    }
}

/// One SSE event: its name, id and data.
#[derive(Debug, Clone)]
struct SseEvent {
    name: String,
    id: Option<String>,
    data: String,
}

impl SseEvent {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// An open SSE stream read on a thread; dropping `stop` is not needed: the test ends it by
/// dropping the receiver and the server closing.
struct Stream {
    events: mpsc::Receiver<SseEvent>,
    status: u16,
}

/// Opens `url` as an event stream with `headers`.
fn open_stream(url: &str, headers: &[(&str, &str)]) -> Stream {
    let (tx, rx) = mpsc::channel();
    let (status_tx, status_rx) = mpsc::channel();
    let url = url.to_string();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    std::thread::spawn(move || {
        let mut req = ureq::AgentBuilder::new()
            .timeout_read(Duration::from_secs(60))
            .build()
            .get(&url);
        for (k, v) in &headers {
            req = req.set(k, v);
        }
        let response = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, _)) => {
                let _ = status_tx.send(code);
                return;
            }
            Err(e) => panic!("GET {url}: {e}"),
        };
        let _ = status_tx.send(response.status());
        read_events(response.into_reader(), &tx);
    });
    let status = status_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the stream answered");
    Stream { events: rx, status }
}

fn read_events(reader: impl Read, tx: &mpsc::Sender<SseEvent>) {
    let reader = std::io::BufReader::new(reader);
    let (mut name, mut id, mut data) = (String::new(), None, String::new());
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if line.is_empty() {
            if !data.is_empty() || !name.is_empty() {
                let event = SseEvent {
                    name: std::mem::take(&mut name),
                    id: id.take(),
                    data: std::mem::take(&mut data),
                };
                if tx.send(event).is_err() {
                    return;
                }
            }
        } else if let Some(v) = line.strip_prefix("event:") {
            name = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
}

impl Stream {
    /// The next event named `name` within `within`, skipping others.
    fn next(&self, name: &str, within: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.events.recv_timeout(left) {
                Ok(e) if e.name == name => return Some(e),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// `message` events until `count` arrived (panics after `within`): their seqs and texts.
    fn messages(&self, count: usize, within: Duration) -> Vec<(i64, String)> {
        let mut got = Vec::new();
        while got.len() < count {
            let e = self
                .next("message", within)
                .unwrap_or_else(|| panic!("only {} of {count} messages: {got:?}", got.len()));
            let m = e.json();
            let seq = m["seq"].as_i64().expect("seq");
            assert_eq!(e.id.as_deref(), Some(seq.to_string().as_str()), "id = seq");
            got.push((seq, m["text"].as_str().unwrap_or_default().to_string()));
        }
        got
    }

    /// No `message` event within `within`.
    fn assert_no_message(&self, within: Duration) {
        if let Some(e) = self.next("message", within) {
            panic!("unexpected message: {e:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Idempotent turns.

#[test]
fn a_resent_message_gets_the_same_turn_and_stores_nothing_new() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let first = expect(c.say_as("hello there", "msg-1"), 200);
    let again = expect(c.say_as("hello there", "msg-1"), 200);
    for key in [
        "message_id",
        "reply_id",
        "reply",
        "action",
        "intent",
        "client_message_id",
    ] {
        assert_eq!(first[key], again[key], "{key}\n{first}\n{again}");
    }
    assert_eq!(first["client_message_id"], "msg-1", "\n{first}");
    // A new id is a new turn; no id behaves as before.
    let other = expect(c.say_as("hello there", "msg-2"), 200);
    assert_ne!(other["message_id"], first["message_id"]);
    let plain = c.say_ok("hello there");
    assert!(plain.body.get("client_message_id").is_none(), "\n{plain}");
    let messages = c.transcript()["messages"]
        .as_array()
        .expect("messages")
        .clone();
    assert_eq!(messages.len(), 6, "3 turns of two messages: {messages:?}");
    let ids: Vec<&Value> = messages.iter().map(|m| &m["client_message_id"]).collect();
    assert_eq!(ids.iter().filter(|v| **v == "msg-1").count(), 1, "{ids:?}");
}

#[test]
fn concurrent_copies_of_one_message_store_one_turn() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A slow classifier keeps the copies in flight together.
    let s = fake_server(dir.path(), Duration::from_millis(200), |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let replies: Vec<Resp> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| c.say_as("hello at once", "double-click-7")))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for r in &replies {
        assert_eq!(r.status, 200, "\n{r}");
        assert_eq!(r["message_id"], replies[0]["message_id"], "\n{r}");
        assert_eq!(r["reply_id"], replies[0]["reply_id"], "\n{r}");
    }
    let messages = c.transcript()["messages"]
        .as_array()
        .expect("messages")
        .clone();
    assert_eq!(
        messages.len(),
        2,
        "one customer message, one reply: {messages:?}"
    );
}

#[test]
fn a_bad_client_message_id_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    for bad in ["", "has space", "日本語", &"x".repeat(65)] {
        expect_error(c.say_as("hello", bad), 422, "unprocessable");
    }
    let r = c.post(
        "/messages",
        json!({ "text": "hello", "client_message_id": 7 }),
    );
    expect_error(r, 422, "unprocessable");
    assert_eq!(c.transcript()["messages"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// Live streams.

#[test]
fn a_stream_replays_after_last_event_id_then_goes_live_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    for text in ["one", "two", "three"] {
        c.say_ok(text);
    }
    let auth = c.auth();
    // Seen up to seq 2: the replay starts at 3.
    let stream = open_stream(
        &c.events_url(),
        &[("Authorization", &auth), ("Last-Event-ID", "2")],
    );
    assert_eq!(stream.status, 200);
    let replayed = stream.messages(4, Duration::from_secs(10));
    let seqs: Vec<i64> = replayed.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![3, 4, 5, 6], "{replayed:?}");
    c.say_ok("four");
    let live = stream.messages(2, Duration::from_secs(5));
    assert_eq!(live[0], (7, "four".to_string()), "{live:?}");
    assert_eq!(live[1].0, 8);
    stream.assert_no_message(Duration::from_millis(500));
    drop(stream);

    // Reconnect from the last id seen, after more was said meanwhile.
    c.say_ok("five");
    let again = open_stream(
        &c.events_url(),
        &[("Authorization", &auth), ("Last-Event-ID", "8")],
    );
    let resumed = again.messages(2, Duration::from_secs(10));
    assert_eq!(resumed[0], (9, "five".to_string()), "{resumed:?}");
    assert_eq!(resumed[1].0, 10);
    again.assert_no_message(Duration::from_millis(500));
}

#[test]
fn stream_tickets_are_single_use_and_keep_the_token_out_of_the_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let other = new_conversation(&s.base, json!({ "locale": "en" }));
    let ticket = expect(c.post("/events/ticket", json!({})), 200);
    let ticket = ticket["ticket"].as_str().expect("ticket").to_string();
    assert!(!ticket.contains(&c.token));

    let url = format!("{}?ticket={ticket}&after=0", c.events_url());
    let stream = open_stream(&url, &[]);
    assert_eq!(stream.status, 200);
    c.say_ok("hello");
    assert_eq!(stream.messages(1, Duration::from_secs(5))[0].1, "hello");

    // Used once: refused now. Another conversation's ticket opens nothing here.
    let reused = call("GET", &url, &[], None);
    expect_error(reused, 401, "unauthorized");
    let theirs = expect(other.post("/events/ticket", json!({})), 200);
    let theirs = theirs["ticket"].as_str().expect("ticket").to_string();
    let wrong = call(
        "GET",
        &format!("{}?ticket={theirs}", c.events_url()),
        &[],
        None,
    );
    expect_error(wrong, 401, "unauthorized");
    let made_up = call("GET", &format!("{}?ticket=nope", c.events_url()), &[], None);
    expect_error(made_up, 401, "unauthorized");
    // A ticket is issued only with the token.
    let anonymous = call("POST", &format!("{}/ticket", c.events_url()), &[], None);
    expect_error(anonymous, 401, "unauthorized");
}

#[test]
fn open_streams_are_capped_with_a_clear_429() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |c| {
        c.max_streams_per_conversation = 1;
        c.max_streams = 2;
    });
    let a = new_conversation(&s.base, json!({ "locale": "en" }));
    let b = new_conversation(&s.base, json!({ "locale": "en" }));
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let first = open_stream(&a.events_url(), &[("Authorization", &a.auth())]);
    assert_eq!(first.status, 200);
    let second = call(
        "GET",
        &a.events_url(),
        &[("Authorization", &a.auth())],
        None,
    );
    let second = expect_error(second, 429, "too_many");
    assert!(second.retry_after.is_some(), "\n{second}");
    let other = open_stream(&b.events_url(), &[("Authorization", &b.auth())]);
    assert_eq!(other.status, 200);
    let over = call(
        "GET",
        &c.events_url(),
        &[("Authorization", &c.auth())],
        None,
    );
    expect_error(over, 429, "too_many");
    // A closed stream frees its place.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        // The server notices the closed connection on its next write (keep-alive or event).
        a.say_ok("wake the stream");
        let retry = open_stream(&a.events_url(), &[("Authorization", &a.auth())]);
        if retry.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the place was never freed");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn agents_see_the_queue_change_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let bearer = format!("Bearer {AGENT_KEY}");
    let queue = open_stream(
        &format!("{}/v1/handoffs/events", s.base),
        &[("Authorization", &bearer)],
    );
    assert_eq!(queue.status, 200);
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let customer = open_stream(&c.events_url(), &[("Authorization", &c.auth())]);
    let r = c.say_ok("I want a human");
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .expect("ticket")
        .to_string();
    let opened = queue
        .next("queue", Duration::from_secs(5))
        .expect("queue event");
    assert_eq!(opened.json()["ticket_id"], ticket.as_str(), "{opened:?}");
    assert_eq!(opened.json()["status"], "waiting", "{opened:?}");

    let path = format!("/v1/handoffs/{ticket}");
    expect(
        agent_call(&s.base, "POST", &format!("{path}/claim"), "aiko", None),
        200,
    );
    let claimed = queue
        .next("queue", Duration::from_secs(5))
        .expect("claimed");
    assert_eq!(claimed.json()["status"], "claimed", "{claimed:?}");
    assert_eq!(claimed.json()["agent_id"], "aiko", "{claimed:?}");
    let status = customer
        .next("status", Duration::from_secs(5))
        .expect("status");
    assert_eq!(status.json()["status"], "handoff", "{status:?}");
    let status = customer
        .next("status", Duration::from_secs(5))
        .expect("status");
    assert_eq!(status.json()["status"], "agent", "{status:?}");
    assert_eq!(status.json()["agent_id"], "aiko", "{status:?}");

    let typing = agent_call(&s.base, "POST", &format!("{path}/typing"), "aiko", None);
    assert_eq!(typing.status, 204, "\n{typing}");
    assert!(customer.next("typing", Duration::from_secs(5)).is_some());
    let note = agent_call(
        &s.base,
        "POST",
        &format!("{path}/notes"),
        "aiko",
        Some(json!({ "text": "VIP customer" })),
    );
    expect(note, 200);
    let detail = expect(agent_call(&s.base, "GET", &path, "ken", None), 200);
    assert_eq!(detail["notes"][0]["text"], "VIP customer", "\n{detail}");
    let transcript = c.transcript();
    assert!(
        !transcript.text.contains("VIP customer"),
        "notes stay private"
    );

    let body = json!({ "resolution_code": "answered" });
    expect(
        agent_call(
            &s.base,
            "POST",
            &format!("{path}/resolve"),
            "aiko",
            Some(body),
        ),
        200,
    );
    let resolved = queue
        .next("queue", Duration::from_secs(5))
        .expect("resolved");
    assert_eq!(resolved.json()["status"], "resolved", "{resolved:?}");
    assert!(
        customer.next("end", Duration::from_secs(5)).is_some(),
        "the stream ends"
    );
}

// ---------------------------------------------------------------------------------------------
// The durable webhook outbox.

/// A webhook receiver whose answer the test sets (`status`); hands each delivery's id header and
/// body to the test.
struct Receiver {
    url: String,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    deliveries: mpsc::Receiver<(String, Value)>,
}

fn receiver(initial_status: u16) -> Receiver {
    use std::sync::atomic::{AtomicU16, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let status = std::sync::Arc::new(AtomicU16::new(initial_status));
    let answer = status.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (headers, body) = read_request(&mut stream);
            let code = answer.load(Ordering::SeqCst);
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if code == 200 {
                let id = headers
                    .get("x-madoguchi-delivery")
                    .cloned()
                    .unwrap_or_default();
                let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
                if tx.send((id, body)).is_err() {
                    return;
                }
            }
        }
    });
    Receiver {
        url,
        status,
        deliveries: rx,
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> (BTreeMap<String, String>, Vec<u8>) {
    let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
    let mut headers = BTreeMap::new();
    let mut line = String::new();
    let _ = reader.read_line(&mut line);
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    (headers, body)
}

#[test]
fn outbox_events_survive_a_restart_and_are_delivered_once() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().expect("tempdir");
    let hook = receiver(503);
    let webhook = |c: &mut madoguchi::config::Config| {
        c.webhook_url = Some(hook.url.clone());
        c.webhook_secret = Some("secret".into());
        c.webhook_attempts = 50;
    };
    let ticket = {
        let s = fake_server(dir.path(), Duration::ZERO, webhook);
        let c = new_conversation(
            &s.base,
            json!({ "locale": "en", "customer": { "id": "C-9" } }),
        );
        let r = c.say_ok("I want a human");
        let ticket = r["handoff"]["ticket_id"]
            .as_str()
            .expect("ticket")
            .to_string();
        // The receiver is down for the first attempts; the server stops meanwhile.
        std::thread::sleep(Duration::from_millis(1500));
        ticket
    };
    hook.status.store(200, Ordering::SeqCst);
    let _s = fake_server(dir.path(), Duration::ZERO, webhook);
    let (id, body) = hook
        .deliveries
        .recv_timeout(Duration::from_secs(30))
        .expect("delivered after the restart");
    assert_eq!(body["event"], "handoff.created", "{body}");
    assert_eq!(body["ticket"]["id"], ticket.as_str(), "{body}");
    assert_eq!(body["delivery_id"], id.as_str(), "{body}");
    assert!(
        hook.deliveries
            .recv_timeout(Duration::from_secs(3))
            .is_err(),
        "delivered once"
    );
}

#[test]
fn two_replicas_deliver_each_outbox_event_once() {
    let Some(db) = fresh_postgres("two_replicas_deliver_each_outbox_event_once") else {
        return;
    };
    let hook = receiver(200);
    let config = |c: &mut madoguchi::config::Config| {
        c.database = db.url.clone();
        c.webhook_url = Some(hook.url.clone());
        c.webhook_secret = Some("secret".into());
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let a = fake_server(dir.path(), Duration::ZERO, config);
    let b = fake_server(dir.path(), Duration::ZERO, config);
    let mut tickets = BTreeSet::new();
    for i in 0..12 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let c = new_conversation(base, json!({ "locale": "en" }));
        let r = c.say_ok("I want a human");
        tickets.insert(
            r["handoff"]["ticket_id"]
                .as_str()
                .expect("ticket")
                .to_string(),
        );
    }
    let mut seen = BTreeMap::<String, usize>::new();
    let mut delivered = BTreeSet::new();
    while delivered.len() < tickets.len() {
        let (id, body) = hook
            .deliveries
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{} of {} delivered", delivered.len(), tickets.len()));
        *seen.entry(id).or_default() += 1;
        delivered.insert(
            body["ticket"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    assert!(
        hook.deliveries
            .recv_timeout(Duration::from_secs(3))
            .is_err(),
        "no extra delivery"
    );
    assert_eq!(delivered, tickets);
    assert!(
        seen.values().all(|n| *n == 1),
        "each delivery id once: {seen:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Two `madoguchi serve` processes on one PostgreSQL.

/// A `madoguchi serve` process on a free loopback port; killed when dropped.
struct Replica {
    child: Child,
    base: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(workspace: &Path, encoder: &Path, database: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
        .arg("--encoder")
        .arg(encoder)
        .current_dir(workspace)
        .env("MADOGUCHI_AGENT_KEY", AGENT_KEY)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("MADOGUCHI_INTENTS")
        .env_remove("MADOGUCHI_TRAINING_DATA")
        .env_remove("MADOGUCHI_MODELS")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn madoguchi serve");
    let (base, _) = crate::util::wait_listening(&mut child);
    let replica = Replica { child, base };
    let deadline = Instant::now() + Duration::from_secs(120);
    while call("GET", &format!("{}/readyz", replica.base), &[], None).status != 200 {
        assert!(Instant::now() < deadline, "replica never ready");
        std::thread::sleep(Duration::from_millis(200));
    }
    replica
}

#[test]
fn two_serve_processes_on_postgres_deliver_live_across_replicas() {
    let Some(db) = fresh_postgres("two_serve_processes_on_postgres_deliver_live") else {
        return;
    };
    let Some((workspace, encoder)) = trained_workspace() else {
        return;
    };
    // Agent actions are attributed to real accounts: `sato` is one.
    let args = [
        "user",
        "add",
        "sato",
        "--role",
        "agent",
        "--database",
        &db.url,
    ];
    let out = madoguchi(workspace.path(), &args, b"correct-horse-battery\n");
    assert!(out.status.success(), "{}", show("madoguchi user add", &out));
    let a = replica(workspace.path(), encoder, &db.url);
    let b = replica(workspace.path(), encoder, &db.url);

    // The customer is on replica A, the agent on replica B.
    let c = new_conversation(&a.base, json!({ "locale": "ja" }));
    let stream = open_stream(&c.events_url(), &[("Authorization", &c.auth())]);
    assert_eq!(stream.status, 200);
    let r = c.say_ok("担当者と話したいです");
    assert_eq!(r["action"], "handoff", "\n{r}");
    stream.messages(2, Duration::from_secs(5));
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .expect("ticket")
        .to_string();
    let path = format!("/v1/handoffs/{ticket}");
    expect(
        agent_call(&b.base, "POST", &format!("{path}/claim"), "sato", None),
        200,
    );

    let sent = Instant::now();
    let reply = json!({ "text": "担当の佐藤です。ご用件を伺います。" });
    let m = expect(
        agent_call(
            &b.base,
            "POST",
            &format!("{path}/reply"),
            "sato",
            Some(reply),
        ),
        200,
    );
    let got = stream.messages(1, Duration::from_secs(1));
    assert!(
        sent.elapsed() < Duration::from_secs(1),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(got[0].0, m["seq"].as_i64().expect("seq"));

    // The stream dies; meanwhile the agent writes twice; the customer resumes from the last id.
    let last = got[0].0;
    drop(stream);
    let mut expected = Vec::new();
    for text in ["お待たせしました。", "返金手続きを進めます。"] {
        let body = json!({ "text": text });
        let m = expect(
            agent_call(
                &b.base,
                "POST",
                &format!("{path}/reply"),
                "sato",
                Some(body),
            ),
            200,
        );
        expected.push((m["seq"].as_i64().expect("seq"), text.to_string()));
    }
    let last_id = last.to_string();
    let resumed = open_stream(
        &c.events_url(),
        &[("Authorization", &c.auth()), ("Last-Event-ID", &last_id)],
    );
    assert_eq!(resumed.messages(2, Duration::from_secs(5)), expected);
    // Live again, across replicas, exactly once.
    let body = json!({ "text": "以上でよろしいでしょうか。" });
    let m = expect(
        agent_call(
            &b.base,
            "POST",
            &format!("{path}/reply"),
            "sato",
            Some(body),
        ),
        200,
    );
    let live = resumed.messages(1, Duration::from_secs(1));
    assert_eq!(live[0].0, m["seq"].as_i64().expect("seq"));
    resumed.assert_no_message(Duration::from_millis(500));
}
