//! JSON bodies of every endpoint: the whole app (API, pages, studio) in process, driven with
//! `tower::ServiceExt::oneshot` on a real SQLite database and a stand-in classifier. Every route
//! of the served `/openapi.json` gets structure-aware bodies (valid ones, mutated field by field:
//! wrong types, boundary numbers, hostile strings, unknown fields, deep nesting), byte-mutated
//! JSON (invalid UTF-8, lone surrogate escapes, truncation), hostile path ids and query values,
//! with right, wrong and missing credentials. Properties: never a 5xx, never a panic, and every
//! refusal on `/v1/` is the API's `{"error": {"code", "message"}}` shape.
use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{repo, run, Gen, DICTIONARY};
use crate::cli::serve::build_state;
use crate::cli::Paths;
use crate::config::Config;
use crate::nlu::queue::{ClassifyBackend, Loader};
use crate::nlu::{Action, Classification, NluError, Reason};

const AGENT_KEY: &str = "fuzz-agent-key";
const API_KEY: &str = "fuzz-api-key";
const AGENT: &str = "agent";

/// A confident `greeting` for everything, a person for anything that mentions "human".
struct Stand;

impl ClassifyBackend for Stand {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
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

/// One documented operation.
#[derive(Clone, Debug)]
struct Operation {
    method: Method,
    path: String,
    tag: String,
    query: Vec<String>,
    has_body: bool,
}

/// Ids that exist: a conversation with its token, a bot message, a ticket.
#[derive(Clone, Default)]
struct Live {
    conversation: String,
    token: String,
    message: String,
    ticket: String,
}

struct App {
    router: Router,
    rt: tokio::runtime::Runtime,
}

impl App {
    fn call(&self, req: Request<Body>, read_body: bool) -> (StatusCode, Vec<u8>) {
        self.rt.block_on(async {
            let response = self
                .router
                .clone()
                .oneshot(req)
                .await
                .expect("the router is infallible");
            let status = response.status();
            let body = if read_body {
                let collect = axum::body::to_bytes(response.into_body(), 1 << 22);
                match tokio::time::timeout(Duration::from_secs(10), collect).await {
                    Ok(Ok(b)) => b.to_vec(),
                    _ => Vec::new(),
                }
            } else {
                Vec::new()
            };
            (status, body)
        })
    }

    fn json(&self, method: Method, uri: &str, auth: Option<&str>, body: Value) -> Value {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(a) = auth {
            req = req.header("authorization", a).header("x-agent-id", AGENT);
        }
        let req = req
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let (status, bytes) = self.call(req, true);
        assert!(
            status.is_success(),
            "{uri}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    /// A fresh conversation handed to a person, with its ids.
    fn live(&self) -> Live {
        let created = self.json(
            Method::POST,
            "/v1/conversations",
            None,
            json!({"locale": "en", "customer": {"name": "Fuzz"}}),
        );
        let id = created["id"].as_str().unwrap_or_default().to_string();
        let token = created["token"].as_str().unwrap_or_default().to_string();
        let bearer = format!("Bearer {token}");
        let path = format!("/v1/conversations/{id}/messages");
        self.json(Method::POST, &path, Some(&bearer), json!({"text": "hello"}));
        let handed = self.json(
            Method::POST,
            &path,
            Some(&bearer),
            json!({"text": "a human please"}),
        );
        let ticket = handed["handoff"]["ticket_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let transcript = self.json(
            Method::GET,
            &format!("/v1/conversations/{id}"),
            Some(&bearer),
            Value::Null,
        );
        let message = transcript["messages"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["role"] == "bot"))
            .and_then(|m| m["id"].as_str())
            .unwrap_or_default()
            .to_string();
        Live {
            conversation: id,
            token,
            message,
            ticket,
        }
    }
}

fn start(dir: &Path) -> App {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let paths = Paths {
        intents: repo().join("intents"),
        training_data: repo().join("training-data"),
        models: dir.join("models"),
        encoder: "unused".into(),
        cache: None,
        batch_size: crate::nlu::encoder::DEFAULT_BATCH_SIZE,
        batch_tokens: crate::nlu::encoder::DEFAULT_BATCH_TOKENS,
        precision: Default::default(),
        cpu: Default::default(),
    };
    let config = Config {
        database: format!("sqlite://{}", dir.join("fuzz.db").display()),
        api_key: Some(API_KEY.into()),
        agent_key: Some(AGENT_KEY.into()),
        ..Config::default()
    };
    let loader: Loader = Box::new(|| Ok(Box::new(Stand) as Box<dyn ClassifyBackend>));
    let router = rt.block_on(async {
        let (state, stop, loaded) = build_state(&paths, config, loader).await.expect("state");
        std::mem::forget(stop);
        let _ = loaded.await;
        let hash = crate::web::console::password::hash_password("fuzz-password").expect("hash");
        state
            .store
            .create_account(crate::store::NewAccount {
                name: AGENT,
                display_name: AGENT,
                role: crate::domain::AccountRole::Agent,
                password_hash: &hash,
            })
            .await
            .expect("account");
        crate::web::app(state)
    });
    App { router, rt }
}

/// Every operation of the served `/openapi.json`.
fn operations(app: &App) -> Vec<Operation> {
    let req = Request::get("/openapi.json")
        .body(Body::empty())
        .expect("request");
    let (status, bytes) = app.call(req, true);
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_slice(&bytes).expect("the document is JSON");
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let query = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            out.push(Operation {
                method,
                path: path.clone(),
                tag: op["tags"][0].as_str().unwrap_or_default().to_string(),
                query,
                has_body: op.get("requestBody").is_some(),
            });
        }
    }
    out
}

/// A valid body for `path`, to mutate.
fn valid_body(path: &str) -> Value {
    let tail = path.rsplit('/').next().unwrap_or_default();
    match (path, tail) {
        ("/v1/conversations", _) => json!({
            "locale": "ja",
            "customer": {"id": "c-1", "name": "山田 花子", "email": "hanako@example.com", "order_ids": ["MD12345678"]}
        }),
        (_, "messages") => {
            json!({"text": "注文した商品がまだ届きません MD12345678", "client_message_id": "m-1"})
        }
        (_, "feedback") => json!({"helpful": true, "comment": "分かりやすい"}),
        (_, "csat") => json!({"score": 5, "comment": "good"}),
        ("/v1/classify", _) => json!({"texts": ["hello", "返品したい"]}),
        (_, "reply") | (_, "notes") => json!({"text": "お待たせしました"}),
        (_, "resolve") => json!({"resolution_code": "answered"}),
        (_, "publish") | (_, "rollback") | (_, "pin") => json!({"version": "v1", "note": "x"}),
        _ => json!({}),
    }
}

fn random_scalar(g: &mut Gen) -> Value {
    match g.below(10) {
        0 => Value::Null,
        1 => Value::Bool(g.chance(0.5)),
        2 => json!(*g.pick(&[0i64, -1, 1, 5, 6, i64::MAX, i64::MIN, 4_294_967_296])),
        3 => json!(*g.pick(&[u64::MAX, 1 << 53])),
        4 => json!(*g.pick(&[0.5f64, -0.0, 1e308, -1e-308, 3.0])),
        5 => Value::String(g.hostile_text(8)),
        6 => Value::String("x".repeat(1 + g.below(70_000))),
        7 => Value::String(g.pick(DICTIONARY).to_string()),
        8 => json!([g.hostile_text(3), 1, null]),
        _ => json!({ g.hostile_text(2): g.hostile_text(4) }),
    }
}

/// `v` with one node changed.
fn mutate_value(g: &mut Gen, v: &mut Value, depth: usize) {
    match v {
        Value::Object(map) if !map.is_empty() && g.chance(0.8) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = g.pick(&keys).clone();
            match g.below(6) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(g.hostile_text(2), random_scalar(g));
                }
                _ => {
                    if let Some(child) = map.get_mut(&key) {
                        mutate_value(g, child, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && g.chance(0.8) => {
            let i = g.below(items.len());
            match g.below(4) {
                0 => {
                    items.remove(i);
                }
                1 => {
                    let extra = items[i].clone();
                    for _ in 0..g.below(100) {
                        items.push(extra.clone());
                    }
                }
                _ => mutate_value(g, &mut items[i], depth + 1),
            }
        }
        Value::String(s) if g.chance(0.7) => {
            let seed = s.clone();
            *s = g.mutate_text(&seed, &[], 70_000);
        }
        _ if depth < 4 && g.chance(0.1) => {
            let mut nested = json!(null);
            for _ in 0..g.below(200) {
                nested = json!([nested]);
            }
            *v = nested;
        }
        _ => *v = random_scalar(g),
    }
}

/// A body for `op`: valid and mutated, then sometimes broken at the byte level.
fn body(g: &mut Gen, op: &Operation) -> Vec<u8> {
    if !op.has_body && g.chance(0.7) {
        return Vec::new();
    }
    let mut value = valid_body(&op.path);
    if g.chance(0.85) {
        for _ in 0..1 + g.below(3) {
            mutate_value(g, &mut value, 0);
        }
    }
    let text = value.to_string();
    match g.below(10) {
        0 | 1 => g.mutate_bytes(text.as_bytes(), 80_000),
        2 => {
            // A lone surrogate (or NUL) escape inside a string.
            let escape = *g.pick(&["\\ud800", "\\udfff", "\\u0000", "\\ud83d\\ude00", "\\ud83d"]);
            match text.rfind("\"}") {
                Some(i) => format!("{}{escape}{}", &text[..i], &text[i..]).into_bytes(),
                None => text.into_bytes(),
            }
        }
        _ => text.into_bytes(),
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn id_or_junk(g: &mut Gen, real: &str) -> String {
    if g.chance(0.85) {
        real.to_string()
    } else {
        encode(&g.hostile_text(4))
    }
}

fn uri(g: &mut Gen, op: &Operation, live: &Live) -> String {
    let mut path = op.path.clone();
    for (param, real) in [
        ("{id}", &live.conversation),
        ("{message_id}", &live.message),
        ("{ticket_id}", &live.ticket),
    ] {
        if path.contains(param) {
            let id = id_or_junk(g, real);
            path = path.replace(param, &id);
        }
    }
    // Any other path parameter (studio versions, …): something hostile.
    while let (Some(a), Some(b)) = (path.find('{'), path.find('}')) {
        if b < a {
            break;
        }
        let junk = encode(&g.hostile_text(3));
        path.replace_range(a..=b, if junk.is_empty() { "x" } else { &junk });
    }
    let mut params: Vec<String> = Vec::new();
    for name in &op.query {
        if !g.chance(0.5) {
            continue;
        }
        let value = match g.below(4) {
            0 => g.below(1000).to_string(),
            1 => "-1".to_string(),
            2 => "waiting".to_string(),
            _ => g.hostile_text(4),
        };
        params.push(format!("{name}={}", encode(&value)));
    }
    if params.is_empty() {
        path
    } else {
        format!("{path}?{}", params.join("&"))
    }
}

fn credentials(g: &mut Gen, op: &Operation, live: &Live) -> Vec<(&'static str, String)> {
    let right = match op.tag.as_str() {
        "customer" => format!("Bearer {}", live.token),
        "agent" => format!("Bearer {AGENT_KEY}"),
        "developer" => format!("Bearer {API_KEY}"),
        _ => format!("Bearer {}", g.hostile_text(2).escape_default()),
    };
    let mut headers = Vec::new();
    match g.below(10) {
        0 => {}
        1 => headers.push(("authorization", "Bearer wrong".to_string())),
        2 => headers.push((
            "authorization",
            format!("Basic {}", encode(&g.hostile_text(3))),
        )),
        _ => headers.push(("authorization", right)),
    }
    if op.tag == "agent" {
        let agent = if g.chance(0.9) {
            AGENT.to_string()
        } else {
            encode(&g.hostile_text(3))
        };
        headers.push(("x-agent-id", agent));
    }
    if g.chance(0.8) {
        headers.push(("content-type", "application/json".to_string()));
    }
    headers
}

#[test]
fn fuzz_api_bodies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = start(dir.path());
    let ops = operations(&app);
    assert!(ops.len() >= 20, "{} operations in /openapi.json", ops.len());
    let mut live = app.live();
    let mut count = 0u64;
    run(
        "api_bodies",
        |g: &mut Gen| {
            count += 1;
            if count.is_multiple_of(500) {
                live = app.live();
            }
            let op = g.pick(&ops).clone();
            let uri = uri(g, &op, &live);
            let headers = credentials(g, &op, &live);
            let body = body(g, &op);
            // The request as bytes: method, URI, headers, then the body (kept for the failure file).
            let mut input = format!("{} {uri}\n", op.method).into_bytes();
            for (k, v) in &headers {
                input.extend_from_slice(format!("{k}: {v}\n").as_bytes());
            }
            input.push(b'\n');
            input.extend_from_slice(&body);
            input
        },
        |input: &Vec<u8>| check_request(&app, input),
    );
}

/// Sends the request `input` describes and checks the answer.
fn check_request(app: &App, input: &[u8]) {
    let split = input
        .windows(2)
        .position(|w| w == b"\n\n")
        .unwrap_or(input.len());
    let head = String::from_utf8_lossy(&input[..split]).into_owned();
    let body = input.get(split + 2..).unwrap_or_default().to_vec();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, uri) = first.split_once(' ').unwrap_or(("GET", "/"));
    let mut req = Request::builder().method(method).uri(uri);
    for line in lines {
        if let Some((k, v)) = line.split_once(": ") {
            req = req.header(k, v);
        }
    }
    let Ok(req) = req.body(Body::from(body)) else {
        return; // not a request http can even express
    };
    let stream = uri.contains("/events") && !uri.contains("/events/ticket");
    let (status, bytes) = app.call(req, !stream);
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !status.is_server_error(),
        "{method} {uri} answered {status}: {text}"
    );
    if uri.starts_with("/v1/") && !status.is_success() && !stream {
        let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!("{method} {uri} answered {status} with a non-JSON body: {text}")
        });
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{method} {uri} answered {status} without the error shape: {text}"
        );
    }
}
