//! Abuse and access (issue 12 §3), over real HTTP on 127.0.0.1:0 with a stand-in classifier:
//! rate limits (429 + `Retry-After`, counted in `/metrics`), API keys with scopes through the real
//! `madoguchi key` binary and the admin API (SQLite, and PostgreSQL where
//! `MADOGUCHI_TEST_POSTGRES_URL` is set), size limits (413/422 naming the field, nothing stored),
//! security headers, and `/metrics` restricted to admins.
use std::path::Path;
use std::time::Duration;

use madoguchi::config::{Config, OperationsAccess};
use madoguchi::domain::AccountRole;
use serde_json::{json, Value};

use crate::accounts::{add_account, log_in};
use crate::api::{fake_server, new_conversation, sqlite_url, Server, API_KEY};
use crate::util::{fresh_postgres, madoguchi, show};

/// A response with every header.
struct Reply {
    request: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    text: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "\n{self}");
        self
    }

    /// The API's error shape with `code`, its message containing each of `words`.
    fn expect_error(self, status: u16, code: &str, words: &[&str]) -> Reply {
        let r = self.expect(status);
        assert_eq!(r.body["error"]["code"], code, "\n{r}");
        let message = r.body["error"]["message"].as_str().unwrap_or_default();
        for w in words {
            assert!(message.contains(w), "{w:?} not in the message\n{r}");
        }
        r
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "request: {}\nstatus: {}\nheaders: {:?}\nbody: {}",
            self.request,
            self.status,
            self.headers,
            self.text.chars().take(600).collect::<String>()
        )
    }
}

fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    let request = format!(
        "{method} {url} {headers:?} {}",
        body.map(|b| b.to_string())
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect::<String>()
    );
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.request(method, url);
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
        Err(e) => panic!("request: {request}\ntransport error: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_string())))
        .collect();
    let text = response.into_string().unwrap_or_default();
    Reply {
        request,
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn classify(base: &str, key: &str) -> Reply {
    send(
        "POST",
        &format!("{base}/v1/classify"),
        &[("Authorization", &bearer(key))],
        Some(&json!({ "texts": ["hello"] })),
    )
}

/// The `Retry-After` of a 429: whole seconds, at least 1, at most a minute.
fn assert_retry_after(r: &Reply) {
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After\n{r}"));
    assert!((1..=60).contains(&wait), "Retry-After {wait}\n{r}");
}

/// `madoguchi_rate_limited_total{limit="…"}` is exported with a positive count.
fn assert_counted(base: &str, limit: &str) {
    let m = send("GET", &format!("{base}/metrics"), &[], None).expect(200);
    let prefix = format!("madoguchi_rate_limited_total{{limit=\"{limit}\"}} ");
    let count: f64 = m
        .text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{prefix} missing in /metrics\n{}", m.text));
    assert!(count >= 1.0, "{prefix}{count}");
}

fn server(dir: &Path, tweak: impl FnOnce(&mut Config)) -> Server {
    fake_server(dir, Duration::ZERO, tweak)
}

// ---------------------------------------------------------------------------------------------
// Rate limits.

#[test]
fn conversations_are_rate_limited_per_client_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| c.conversations_per_ip_per_minute = 3);
    let start = |headers: &[(&str, &str)]| {
        send(
            "POST",
            &format!("{}/v1/conversations", s.base),
            headers,
            Some(&json!({ "locale": "en" })),
        )
    };
    // Without a configured proxy header, X-Forwarded-For is the client's word: ignored.
    for i in 0..3 {
        let fake = format!("198.51.100.{i}");
        start(&[("X-Forwarded-For", &fake)]).expect(201);
    }
    let r = start(&[("X-Forwarded-For", "198.51.100.99")]).expect_error(
        429,
        "rate_limited",
        &["conversations"],
    );
    assert_retry_after(&r);
    assert_counted(&s.base, "conversations_per_ip");
}

#[test]
fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| {
        c.conversations_per_ip_per_minute = 1;
        c.trusted_proxy_header = Some("x-forwarded-for".into());
    });
    let start = |forwarded: &str| {
        send(
            "POST",
            &format!("{}/v1/conversations", s.base),
            &[("X-Forwarded-For", forwarded)],
            None,
        )
    };
    start("203.0.113.1").expect(201);
    // The last entry is the one the proxy wrote; what the client put before it does not count.
    start("10.0.0.1, 203.0.113.2").expect(201);
    let r = start("10.0.0.2, 203.0.113.1").expect(429);
    assert_retry_after(&r);
}

#[test]
fn messages_are_rate_limited_per_conversation_and_a_refused_one_is_not_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| c.messages_per_conversation_per_minute = 2);
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    c.say_ok("hello");
    c.say_ok("hello again");
    let r = c.say("and again");
    assert_eq!(r.status, 429, "\n{r}");
    assert_eq!(r.body["error"]["code"], "rate_limited", "\n{r}");
    assert!(r.retry_after.is_some(), "\n{r}");
    let messages = c.transcript()["messages"].as_array().map(Vec::len);
    assert_eq!(messages, Some(4), "two turns of two messages each");
    // Another conversation is not affected.
    new_conversation(&s.base, json!({ "locale": "en" })).say_ok("hello");
    assert_counted(&s.base, "messages_per_conversation");
}

#[test]
fn classify_calls_are_rate_limited_per_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| c.classify_per_key_per_minute = 2);
    let other = create_key(
        dir.path(),
        &sqlite_url(dir.path(), "fake.db"),
        "other",
        "classify",
    );
    classify(&s.base, API_KEY).expect(200);
    classify(&s.base, API_KEY).expect(200);
    let r = classify(&s.base, API_KEY).expect_error(429, "rate_limited", &["classify"]);
    assert_retry_after(&r);
    classify(&s.base, &other).expect(200);
    assert_counted(&s.base, "classify_per_key");
}

#[test]
fn login_attempts_per_address_follow_the_configuration() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| {
        c.login_attempts_per_address_per_minute = 2;
        c.login_attempts_per_account_per_minute = 100;
    });
    // Two different accounts from one address, then the address is over its limit.
    let form = |name: &str| {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        match agent
            .post(&format!("{}/agent/login", s.base))
            .send_form(&[("username", name), ("password", "wrong-password")])
        {
            Ok(r) => (r.status(), r.header("retry-after").map(str::to_string)),
            Err(ureq::Error::Status(code, r)) => {
                (code, r.header("retry-after").map(str::to_string))
            }
            Err(e) => panic!("login: {e}"),
        }
    };
    assert_eq!(form("ken").0, 401);
    assert_eq!(form("aiko").0, 401);
    let (status, retry_after) = form("sato");
    assert_eq!(status, 429);
    assert!(retry_after.is_some());
    assert_counted(&s.base, "login_per_address");
}

// ---------------------------------------------------------------------------------------------
// API keys.

/// `madoguchi key create` through the real binary; the key it prints.
fn create_key(cwd: &Path, database: &str, name: &str, scope: &str) -> String {
    let args = [
        "key",
        "create",
        "--name",
        name,
        "--scope",
        scope,
        "--database",
        database,
    ];
    let out = madoguchi(cwd, &args, b"");
    assert!(out.status.success(), "{}", show("key create", &out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        key.starts_with("mdk_") && key.len() == 68,
        "{}",
        show("key create", &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("shown this once"),
        "{}",
        show("key create", &out)
    );
    key
}

fn key_cli(cwd: &Path, database: &str, args: &[&str]) -> String {
    let mut all = vec!["key"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--database", database]);
    let out = madoguchi(cwd, &all, b"");
    assert!(out.status.success(), "{}", show(&all.join(" "), &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `key list` row of `name` (the newest if several).
fn listed(list: &str, name: &str) -> Vec<String> {
    list.lines()
        .rfind(|l| l.split('\t').nth(1) == Some(name))
        .unwrap_or_else(|| panic!("{name} not listed:\n{list}"))
        .split('\t')
        .map(str::to_string)
        .collect()
}

fn handoffs(base: &str, key: &str) -> Reply {
    send(
        "GET",
        &format!("{base}/v1/handoffs"),
        &[("Authorization", &bearer(key))],
        None,
    )
}

/// Create → use → last_used_at → scopes → revoke → 401, through the CLI and the admin API.
fn key_lifecycle(dir: &Path, database: &str) {
    let db = database.to_string();
    let s = server(dir, |c| c.database = db);
    let cwd = dir;
    let ci = create_key(cwd, database, "ci", "classify");
    let row = listed(&key_cli(cwd, database, &["list"]), "ci");
    assert_eq!(row[2], "classify", "{row:?}");
    assert_eq!((row[4].as_str(), row[5].as_str()), ("-", "live"), "{row:?}");
    assert!(
        !key_cli(cwd, database, &["list"]).contains(&ci),
        "a listing never shows the key"
    );

    classify(&s.base, &ci).expect(200);
    let row = listed(&key_cli(cwd, database, &["list"]), "ci");
    assert_ne!(row[4], "-", "last_used_at is set after a use: {row:?}");
    // A key without the scope: 403; no key, or a key nobody issued: 401.
    handoffs(&s.base, &ci).expect_error(403, "forbidden", &["agent"]);
    send("GET", &format!("{}/v1/handoffs", s.base), &[], None).expect(401);
    classify(&s.base, "mdk_0000").expect_error(401, "unauthorized", &[]);
    // The configured keys keep working, with their one scope each.
    classify(&s.base, API_KEY).expect(200);
    handoffs(&s.base, API_KEY).expect(403);

    let out = key_cli(cwd, database, &["revoke", "ci"]);
    assert!(out.starts_with("revoked ci"), "{out}");
    classify(&s.base, &ci).expect_error(401, "unauthorized", &["revoked"]);
    let row = listed(&key_cli(cwd, database, &["list"]), "ci");
    assert_eq!(row[5], "revoked", "{row:?}");
    let out = madoguchi(cwd, &["key", "revoke", "ci", "--database", database], b"");
    assert!(!out.status.success(), "{}", show("revoke twice", &out));

    // The admin API, with an admin key from the CLI.
    let admin = create_key(cwd, database, "ops", "admin");
    let auth = bearer(&admin);
    let url = format!("{}/v1/admin/keys", s.base);
    let created = send(
        "POST",
        &url,
        &[("Authorization", &auth)],
        Some(&json!({ "name": "crm", "scopes": ["agent", "classify"] })),
    )
    .expect(201);
    let secret = created.body["secret"].as_str().expect("secret").to_string();
    assert_eq!(created.body["key"]["scopes"], json!(["classify", "agent"]));
    handoffs(&s.base, &secret).expect(200);
    classify(&s.base, &secret).expect(200);
    let list = send("GET", &url, &[("Authorization", &auth)], None).expect(200);
    let names: Vec<&str> = list.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["name"].as_str())
        .collect();
    assert!(names.contains(&"crm") && names.contains(&"ci"), "{list}");
    assert!(
        !list.text.contains(&secret) && !list.text.contains("sha256"),
        "{list}"
    );
    // Only admins manage keys; bad requests are 409/422.
    send("GET", &url, &[("Authorization", &bearer(&secret))], None).expect(403);
    send("GET", &url, &[], None).expect(401);
    let dup = json!({ "name": "crm", "scopes": ["agent"] });
    send("POST", &url, &[("Authorization", &auth)], Some(&dup)).expect(409);
    let bad = json!({ "name": "x", "scopes": ["root"] });
    send("POST", &url, &[("Authorization", &auth)], Some(&bad)).expect_error(
        422,
        "unprocessable",
        &["root"],
    );
    let revoke = format!("{url}/crm/revoke");
    send("POST", &revoke, &[("Authorization", &auth)], None).expect(200);
    handoffs(&s.base, &secret).expect(401);
    send("POST", &revoke, &[("Authorization", &auth)], None).expect(404);
}

#[test]
fn api_keys_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    key_lifecycle(dir.path(), &sqlite_url(dir.path(), "keys.db"));
}

#[test]
fn api_keys_in_postgres() {
    let Some(db) = fresh_postgres("api_keys_in_postgres") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    key_lifecycle(dir.path(), &db.url);
}

#[test]
fn an_admin_console_session_manages_keys_with_its_csrf_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |_| {});
    add_account(
        &s,
        dir.path(),
        "root",
        AccountRole::Admin,
        "admin-password-1",
    );
    add_account(&s, dir.path(), "lee", AccountRole::Lead, "lead-password-1");
    let admin = log_in(&s.base, "root", "admin-password-1");
    let created = admin.post(
        "/v1/admin/keys",
        json!({ "name": "web", "scopes": ["classify"] }),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.json()["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    classify(&s.base, &secret).expect(200);
    let without = admin.post_without_csrf(
        "/v1/admin/keys",
        json!({ "name": "x", "scopes": ["agent"] }),
    );
    assert_eq!(
        without.status, 401,
        "no CSRF token: the session does not count\n{}",
        without.body
    );
    let lead = log_in(&s.base, "lee", "lead-password-1");
    assert_eq!(
        lead.get("/v1/admin/keys").status,
        401,
        "a lead is not an admin"
    );
    assert_eq!(admin.get("/v1/admin/keys").status, 200);
}

// ---------------------------------------------------------------------------------------------
// Size limits.

#[test]
fn oversize_fields_are_refused_naming_the_field_and_nothing_is_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| c.max_message_chars = 100);
    let c = new_conversation(&s.base, json!({ "locale": "en" }));
    let auth = c.auth();
    let post = |path: &str, body: Value| {
        send(
            "POST",
            &format!("{}/v1/conversations/{}{path}", s.base, c.id),
            &[("Authorization", &auth)],
            Some(&body),
        )
    };
    post("/messages", json!({ "text": "x".repeat(101) })).expect_error(
        422,
        "unprocessable",
        &["text", "100"],
    );
    let reply = c.say_ok("hello");
    let bot_message = reply["reply_id"]
        .as_str()
        .expect("the bot's reply")
        .to_string();
    let long_comment = "ね".repeat(2001);
    post(
        &format!("/messages/{bot_message}/feedback"),
        json!({ "helpful": false, "comment": long_comment }),
    )
    .expect_error(422, "unprocessable", &["comment", "2000"]);
    post("/csat", json!({ "score": 4, "comment": long_comment })).expect_error(
        422,
        "unprocessable",
        &["comment", "2000"],
    );
    let t = c.transcript();
    assert_eq!(t["csat_score"], Value::Null, "\n{t}");
    assert_eq!(t["messages"].as_array().map(Vec::len), Some(2), "\n{t}");
    // Customer metadata beyond 8 KiB of JSON; a body beyond the body limit is a 413.
    let big = json!({ "locale": "en", "customer": { "name": "x".repeat(9000) } });
    send(
        "POST",
        &format!("{}/v1/conversations", s.base),
        &[],
        Some(&big),
    )
    .expect_error(422, "unprocessable", &["customer", "8192"]);
    let huge = json!({ "text": "x".repeat(70 * 1024) });
    post("/messages", huge).expect_error(413, "payload_too_large", &[]);
    assert_eq!(c.transcript()["messages"].as_array().map(Vec::len), Some(2));
    // Agents' notes and replies.
    let human = c.say_ok("I want a human");
    let ticket = human["handoff"]["ticket_id"]
        .as_str()
        .expect("ticket")
        .to_string();
    let agent_auth = bearer(crate::api::AGENT_KEY);
    let note = send(
        "POST",
        &format!("{}/v1/handoffs/{ticket}/notes", s.base),
        &[("Authorization", &agent_auth), ("X-Agent-Id", "ken")],
        Some(&json!({ "text": "n".repeat(10_001) })),
    );
    note.expect_error(422, "unprocessable", &["note", "10000"]);
}

// ---------------------------------------------------------------------------------------------
// Headers and the operations endpoints.

#[test]
fn every_response_carries_security_headers_and_pages_their_frame_ancestors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| {
        c.allowed_origins = vec!["https://shop.example".into()];
    });
    for path in [
        "/",
        "/en",
        "/agent/login",
        "/healthz",
        "/v1/nowhere",
        "/docs/",
        "/widget.js",
    ] {
        let r = send("GET", &format!("{}{path}", s.base), &[], None);
        assert!(r.status < 500, "\n{r}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}\n{r}"
        );
        assert!(r.header("referrer-policy").is_some(), "{path}\n{r}");
        let csp = r
            .header("content-security-policy")
            .unwrap_or_else(|| panic!("{path}: no CSP\n{r}"));
        assert!(csp.contains("frame-ancestors"), "{path}: {csp}");
        assert!(
            !csp.contains("'unsafe-inline'") || path.starts_with("/docs"),
            "{path}: {csp}"
        );
    }
    let shop = send("GET", &format!("{}/", s.base), &[], None).expect(200);
    let csp = shop.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'self' https://shop.example"),
        "{csp}"
    );
    let login = send("GET", &format!("{}/agent/login", s.base), &[], None).expect(200);
    let csp = login.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "the console is never framed: {csp}"
    );
    let json = send("GET", &format!("{}/healthz", s.base), &[], None).expect(200);
    let csp = json.header("content-security-policy").unwrap_or_default();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
}

#[test]
fn metrics_and_docs_can_be_restricted_to_admins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server(dir.path(), |c| {
        c.operations_access = OperationsAccess::Admin
    });
    let db = sqlite_url(dir.path(), "fake.db");
    let admin = create_key(dir.path(), &db, "prometheus", "admin");
    for path in ["/metrics", "/openapi.json", "/docs/"] {
        let url = format!("{}{path}", s.base);
        send("GET", &url, &[], None).expect_error(401, "unauthorized", &[]);
        send("GET", &url, &[("Authorization", &bearer(API_KEY))], None).expect(403);
        send("GET", &url, &[("Authorization", &bearer(&admin))], None).expect(200);
    }
    for path in ["/healthz", "/readyz"] {
        send("GET", &format!("{}{path}", s.base), &[], None).expect(200);
    }
    // An admin's console session opens them too (a browser reading /docs).
    add_account(
        &s,
        dir.path(),
        "root",
        AccountRole::Admin,
        "admin-password-1",
    );
    let console = log_in(&s.base, "root", "admin-password-1");
    assert_eq!(console.get("/metrics").status, 200);
}
