//! Personal data (issue 12 §5), over real HTTP on real databases:
//!
//! - the logs of a full conversation (web and LINE) on the real `serve` binary at debug level, in
//!   text and JSON, contain no message text and no personal data;
//! - erasing a customer (the admin API and `madoguchi erase`) leaves nothing of them in any table
//!   and leaves other customers alone (SQLite and PostgreSQL), and is audited without the data;
//! - the retention job of `serve` deletes what was inactive longer than `retention_days`, with
//!   everything derived from it, and nothing else (SQLite and PostgreSQL);
//! - `madoguchi backup` copies a database while it is served, and a server on the copy has the
//!   transcripts.
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use madoguchi::domain::{AccountRole, InboxDecisionKind, Locale};
use madoguchi::store::{
    new_customer_token, NewAccount, NewConversation, NewInboxDecision, NewLineDelivery,
    NewLineEvent, Store,
};
use serde_json::json;
use uuid::Uuid;

use crate::api::{
    agent_call, call, expect, fake_server, new_conversation, sqlite_url, Server, AGENT_KEY,
    TEST_AGENT_PASSWORD,
};
use crate::util::{block_on, fresh_postgres, madoguchi, show, trained_workspace};

// ---------------------------------------------------------------------------------------------
// A customer with recognisable personal data, planted in every table that can hold it.

/// One customer: their identifiers and personal data, unique to the test run.
struct Person {
    customer_id: String,
    line_user: String,
    name: String,
    email: String,
    phone: String,
    order: String,
}

impl Person {
    fn new(tag: &str) -> Person {
        let n = Uuid::new_v4().simple().to_string();
        Person {
            customer_id: format!("C-{tag}-{}", &n[..8]),
            line_user: format!("U{n}"),
            name: format!("Hanako{}", &n[..6]),
            email: format!("{tag}.{}@example.com", &n[..6]),
            phone: format!("090-{}-{}", &n[..4], &n[4..8])
                .replace(|c: char| c.is_alphabetic(), "7"),
            order: format!("MD{}", &n[..8]).replace(|c: char| c.is_alphabetic(), "3"),
        }
    }

    /// What must not survive the customer's erasure (nor reach the logs).
    fn personal_data(&self) -> Vec<String> {
        vec![
            self.customer_id.clone(),
            self.line_user.clone(),
            self.name.clone(),
            self.email.clone(),
            self.phone.clone(),
            self.order.clone(),
        ]
    }
}

/// The ids of what was planted for one person: every derived row names one of them.
struct Planted {
    ids: Vec<String>,
}

/// A full web conversation over HTTP (metadata, messages with the e-mail, phone and order
/// number, a handoff, an agent's reply and note, a stream ticket, CSAT with a comment), an inbox
/// decision on the first message, and the person's LINE conversation, webhook event and
/// deliveries (written through the store: the channel is off in this server).
fn plant(base: &str, store: &Store, p: &Person) -> Planted {
    let c = new_conversation(
        base,
        json!({ "locale": "en", "customer": { "id": p.customer_id, "name": p.name, "email": p.email } }),
    );
    c.say_ok(&format!(
        "Where is my order {}? Write to {} or call {}",
        p.order, p.email, p.phone
    ));
    let r = c.say_ok(&format!("I want a human, this is {}", p.name));
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a handoff\n{r}"))
        .to_string();
    let path = format!("/v1/handoffs/{ticket}");
    expect(
        agent_call(base, "POST", &format!("{path}/claim"), "alice", None),
        200,
    );
    let reply = json!({ "text": format!("Hello {}, order {} ships today", p.name, p.order) });
    expect(
        agent_call(base, "POST", &format!("{path}/reply"), "alice", Some(reply)),
        200,
    );
    let note = json!({ "text": format!("{} prefers e-mail: {}", p.name, p.email) });
    expect(
        agent_call(base, "POST", &format!("{path}/notes"), "alice", Some(note)),
        200,
    );
    expect(c.post("/events/ticket", json!({})), 200);
    let csat = json!({ "score": 2, "comment": format!("slow; {} here", p.name) });
    expect(c.post("/csat", csat), 200);
    let transcript = c.transcript();
    let messages = transcript["messages"].as_array().expect("messages").clone();
    let first = messages
        .iter()
        .find(|m| m["role"] == "customer")
        .and_then(|m| m["id"].as_str())
        .expect("a customer message")
        .to_string();
    let mut ids = vec![c.id.clone(), ticket];
    ids.extend(
        messages
            .iter()
            .filter_map(|m| m["id"].as_str())
            .map(str::to_string),
    );
    block_on(store.record_inbox_decisions(
        "alice",
        &[NewInboxDecision {
            message_id: first.parse().expect("uuid"),
            kind: InboxDecisionKind::Ignored,
            intent: None,
            locale: None,
            example: None,
        }],
    ))
    .expect("inbox decision");
    ids.push(plant_line(store, p).to_string());
    Planted { ids }
}

/// The person's LINE conversation (with a message), a received webhook event and two queued
/// deliveries (one of the conversation, one of no conversation).
fn plant_line(store: &Store, p: &Person) -> Uuid {
    let conversation = block_on(store.start_line_conversation(
        &p.line_user,
        NewConversation {
            locale: Locale::parse("en").ok(),
            customer: None,
            token_sha256: new_customer_token().1,
        },
        json!({}),
    ))
    .expect("LINE conversation");
    let text = format!("LINE: order {} for {}", p.order, p.email);
    block_on(store.append_customer_message(conversation.id, &text)).expect("LINE message");
    let event = NewLineEvent {
        webhook_event_id: format!("ev-{}", p.line_user),
        user_id: Some(p.line_user.clone()),
        event_type: "message".into(),
        event: json!({ "type": "message", "message": { "type": "text", "text": text } }),
        reply_token: None,
        reply_until: None,
    };
    block_on(store.record_line_events(&[event])).expect("LINE event");
    let deliveries: Vec<NewLineDelivery> = [Some(conversation.id), None]
        .into_iter()
        .enumerate()
        .map(|(i, conversation_id)| NewLineDelivery {
            source: format!("test-{}-{i}", p.line_user),
            user_id: p.line_user.clone(),
            conversation_id,
            messages: json!([{ "type": "text", "text": format!("Thanks {}", p.name) }]),
            reply_token: None,
            reply_until: None,
        })
        .collect();
    block_on(store.enqueue_line_deliveries(&deliveries)).expect("LINE deliveries");
    conversation.id
}

// ---------------------------------------------------------------------------------------------
// Every row of every table, as text.

/// `table → rows` (each row as one line of text) of the whole database.
fn dump(url: &str) -> BTreeMap<String, Vec<String>> {
    block_on(async {
        if url.starts_with("sqlite:") {
            dump_sqlite(url).await
        } else {
            dump_postgres(url).await
        }
    })
}

async fn dump_sqlite(url: &str) -> BTreeMap<String, Vec<String>> {
    let pool = sqlx::SqlitePool::connect(url).await.expect("open sqlite");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut out = BTreeMap::new();
    for table in tables {
        let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(&table)
            .fetch_all(&pool)
            .await
            .expect("columns");
        let row = columns
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT {row} FROM \"{table}\""))
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("dump {table}: {e}"));
        out.insert(table, rows);
    }
    pool.close().await;
    out
}

async fn dump_postgres(url: &str) -> BTreeMap<String, Vec<String>> {
    let pool = sqlx::PgPool::connect(url).await.expect("open postgres");
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&pool)
            .await
            .expect("tables");
    let mut out = BTreeMap::new();
    for table in tables {
        let rows: Vec<String> =
            sqlx::query_scalar(&format!("SELECT row_to_json(t)::text FROM \"{table}\" t"))
                .fetch_all(&pool)
                .await
                .unwrap_or_else(|e| panic!("dump {table}: {e}"));
        out.insert(table, rows);
    }
    pool.close().await;
    out
}

/// Rows (outside the audit log, which names erased customer ids by design) containing any of
/// `needles`.
fn rows_with<'a>(
    dump: &'a BTreeMap<String, Vec<String>>,
    needles: &[String],
) -> Vec<(&'a str, &'a str)> {
    dump.iter()
        .filter(|(table, _)| table.as_str() != "audit_log")
        .flat_map(|(table, rows)| rows.iter().map(move |r| (table.as_str(), r.as_str())))
        .filter(|(_, row)| needles.iter().any(|n| row.contains(n.as_str())))
        .collect()
}

/// The tables one planted person has rows in.
const PLANTED_TABLES: &[&str] = &[
    "conversations",
    "messages",
    "handoffs",
    "ticket_notes",
    "outbox",
    "stream_tickets",
    "inbox_decisions",
    "line_conversations",
    "line_events",
    "line_deliveries",
];

fn needles(p: &Person, planted: &Planted) -> Vec<String> {
    let mut all = p.personal_data();
    all.extend(planted.ids.iter().cloned());
    all
}

fn assert_gone(url: &str, p: &Person, planted: &Planted) {
    let dump = dump(url);
    let left = rows_with(&dump, &needles(p, planted));
    assert!(
        left.is_empty(),
        "rows of {} remain: {left:#?}",
        p.customer_id
    );
}

fn assert_kept(url: &str, p: &Person, planted: &Planted) {
    let dump = dump(url);
    let rows = rows_with(&dump, &needles(p, planted));
    for table in PLANTED_TABLES {
        assert!(
            rows.iter().any(|(t, _)| t == table),
            "{} has no row in {table} any more: {rows:#?}",
            p.customer_id
        );
    }
}

/// A stand-in server on `database` with the webhook outbox on (its receiver never answers, so
/// events stay in the outbox) and `tweak` applied.
fn server_on(
    dir: &Path,
    database: &str,
    tweak: impl FnOnce(&mut madoguchi::config::Config),
) -> Server {
    let database = database.to_string();
    fake_server(dir, Duration::ZERO, move |c| {
        c.database = database;
        c.webhook_url = Some("http://127.0.0.1:9/unreachable".into());
        c.webhook_secret = Some("webhook-secret".into());
        tweak(c);
    })
}

/// Runs SQL written for the test (backdating rows) on `url`.
fn exec(url: &str, statement: &str) {
    block_on(async {
        if url.starts_with("sqlite:") {
            let pool = sqlx::SqlitePool::connect(url).await.expect("open sqlite");
            sqlx::query(statement)
                .execute(&pool)
                .await
                .expect(statement);
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(url).await.expect("open postgres");
            sqlx::query(statement)
                .execute(&pool)
                .await
                .expect(statement);
            pool.close().await;
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Erasure.

/// A console login: its cookie and CSRF token.
struct Console {
    cookie: String,
    csrf: String,
}

fn log_in(base: &str, name: &str, password: &str) -> Console {
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let form = format!("username={name}&password={password}");
    let response = agent
        .post(&format!("{base}/agent/login"))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&form)
        .unwrap_or_else(|e| panic!("login {name}: {e}"));
    assert_eq!(response.status(), 303, "login {name}");
    let cookie = response
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let shell = call(
        "GET",
        &format!("{base}/agent"),
        &[("Cookie", &cookie)],
        None,
    );
    let csrf = shell
        .text
        .split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the shell carries the CSRF token")
        .to_string();
    Console { cookie, csrf }
}

fn erase_via_api(base: &str, console: &Console, customer_id: &str) -> crate::api::Resp {
    let body = json!({ "customer_id": customer_id }).to_string();
    call(
        "POST",
        &format!("{base}/agent/api/erasures"),
        &[("Cookie", &console.cookie), ("X-CSRF-Token", &console.csrf)],
        Some(body.as_bytes()),
    )
}

/// Two customers with everything; an agent may not erase; an admin erases one customer's web
/// identity through the console API and `madoguchi erase` their LINE identity; nothing of them
/// is left in any table, the other customer is whole, and the audit log says who erased which id.
fn erasure_on(database: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = server_on(dir.path(), database, |_| {});
    let store = block_on(Store::connect(database)).expect("the test's store");
    let hash = madoguchi::web::console::password::hash_password("admin-password-1").expect("hash");
    block_on(store.create_account(NewAccount {
        name: "dpo",
        display_name: "Data protection",
        role: AccountRole::Admin,
        password_hash: &hash,
    }))
    .expect("admin account");
    let gone = Person::new("erase");
    let kept = Person::new("keep");
    let gone_rows = plant(&s.base, &store, &gone);
    let kept_rows = plant(&s.base, &store, &kept);
    assert_kept(database, &gone, &gone_rows);

    let agent = log_in(&s.base, "alice", TEST_AGENT_PASSWORD);
    let r = erase_via_api(&s.base, &agent, &gone.customer_id);
    assert_eq!(r.status, 403, "\n{r}");
    assert_kept(database, &gone, &gone_rows);

    let admin = log_in(&s.base, "dpo", "admin-password-1");
    let r = expect(erase_via_api(&s.base, &admin, &gone.customer_id), 200);
    assert_eq!(r["conversations"], 1, "\n{r}");
    assert_eq!(r["tickets"], 1, "\n{r}");
    assert_eq!(r["notes"], 1, "\n{r}");
    assert_eq!(r["inbox_decisions"], 1, "\n{r}");
    assert_eq!(r["stream_tickets"], 1, "\n{r}");
    assert!(r["messages"].as_u64().is_some_and(|n| n >= 5), "\n{r}");
    assert!(r["outbox_events"].as_u64().is_some_and(|n| n >= 1), "\n{r}");
    let empty = json!({ "customer_id": "  " }).to_string();
    let r = call(
        "POST",
        &format!("{}/agent/api/erasures", s.base),
        &[("Cookie", &admin.cookie), ("X-CSRF-Token", &admin.csrf)],
        Some(empty.as_bytes()),
    );
    assert_eq!(r.status, 422, "\n{r}");

    let args = [
        "erase",
        "--customer",
        &gone.line_user,
        "--actor",
        "dpo-cli",
        "--database",
        database,
    ];
    let out = madoguchi(dir.path(), &args, b"");
    assert!(out.status.success(), "{}", show("madoguchi erase", &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("erased 1 conversation(s), 1 message(s)")
            && stdout.contains("1 LINE event(s), 2 LINE deliveries"),
        "{}",
        show("madoguchi erase", &out)
    );

    assert_gone(database, &gone, &gone_rows);
    assert_kept(database, &kept, &kept_rows);
    let audit = block_on(store.audit_log(100, None)).expect("audit log");
    let erasures: Vec<(String, String)> = audit
        .iter()
        .filter(|e| e.action == madoguchi::store::ERASE_ACTION)
        .map(|e| (e.actor.clone(), e.subject.clone()))
        .collect();
    assert_eq!(
        erasures,
        vec![
            ("dpo-cli".to_string(), gone.line_user.clone()),
            ("dpo".to_string(), gone.customer_id.clone()),
        ]
    );
    let audit_text = format!("{audit:?}");
    for data in [&gone.name, &gone.email, &gone.phone, &gone.order] {
        assert!(
            !audit_text.contains(data.as_str()),
            "{data} in the audit log: {audit_text}"
        );
    }
    block_on(store.close());
}

#[test]
fn erasure_leaves_nothing_of_the_customer_and_spares_the_others_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    erasure_on(&sqlite_url(dir.path(), "erase.db"));
}

#[test]
fn erasure_leaves_nothing_of_the_customer_and_spares_the_others_postgres() {
    let Some(db) = fresh_postgres("erasure_postgres") else {
        return;
    };
    erasure_on(&db.url);
}

// ---------------------------------------------------------------------------------------------
// Retention.

/// Two customers; one's conversations (web and LINE) and LINE event and deliveries are backdated
/// a year; a server with `retention_days = 30` deletes exactly those at start.
fn retention_on(database: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = Person::new("old");
    let fresh = Person::new("fresh");
    let store = block_on(Store::connect(database)).expect("the test's store");
    let (old_rows, fresh_rows) = {
        let s = server_on(dir.path(), database, |_| {});
        (plant(&s.base, &store, &old), plant(&s.base, &store, &fresh))
    };
    let year_ago = (chrono::Utc::now() - chrono::Duration::days(365))
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    // Planted ids: the web conversation first, the LINE one last.
    let conversations = [
        &old_rows.ids[0],
        old_rows.ids.last().expect("LINE conversation"),
    ];
    for id in conversations {
        exec(
            database,
            &format!("UPDATE conversations SET created_at = '{year_ago}', updated_at = '{year_ago}' WHERE id = '{id}'"),
        );
    }
    let user = &old.line_user;
    exec(
        database,
        &format!("UPDATE line_events SET received_at = '{year_ago}' WHERE user_id = '{user}'"),
    );
    exec(
        database,
        &format!("UPDATE line_deliveries SET created_at = '{year_ago}' WHERE user_id = '{user}'"),
    );
    assert_kept(database, &old, &old_rows);

    let s = server_on(dir.path(), database, |c| c.retention_days = Some(30));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !rows_with(&dump(database), &needles(&old, &old_rows)).is_empty() {
        assert!(Instant::now() < deadline, "the retention job did not run");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_gone(database, &old, &old_rows);
    assert_kept(database, &fresh, &fresh_rows);
    // A second sweep finds nothing more; the fresh customer is still served.
    let again = block_on(madoguchi::conversation::privacy::sweep(&store, 30)).expect("sweep");
    assert_eq!(again, madoguchi::store::Swept::default());
    expect(call("GET", &format!("{}/healthz", s.base), &[], None), 200);
    block_on(store.close());
}

#[test]
fn retention_deletes_what_is_older_than_configured_and_nothing_else_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    retention_on(&sqlite_url(dir.path(), "retention.db"));
}

#[test]
fn retention_deletes_what_is_older_than_configured_and_nothing_else_postgres() {
    let Some(db) = fresh_postgres("retention_postgres") else {
        return;
    };
    retention_on(&db.url);
}

#[test]
fn retention_days_must_be_positive() {
    let err = madoguchi::config::ServeArgs {
        retention_days: Some(0),
        ..Default::default()
    }
    .resolve()
    .expect_err("0 days");
    assert!(err.to_string().contains("retention_days"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Backup and restore.

#[test]
fn backup_while_serving_then_serve_the_copy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let live = sqlite_url(dir.path(), "live.db");
    let s = server_on(dir.path(), &live, |_| {});
    let store = block_on(Store::connect(&live)).expect("the test's store");
    let p = Person::new("backup");
    plant(&s.base, &store, &p);
    let settled = new_conversation(&s.base, json!({ "locale": "en" }));
    for text in ["hello", "what are your opening hours?", "thanks"] {
        settled.say_ok(text);
    }
    let before = settled.transcript();
    let settled = (settled.id.clone(), settled.token.clone());
    // Customers keep writing while the backup runs.
    let busy = new_conversation(&s.base, json!({ "locale": "en" }));
    let busy = (busy.id.clone(), busy.token.clone());
    let (writing, base) = (busy.clone(), s.base.clone());
    let writer = std::thread::spawn(move || {
        let c = crate::api::Customer {
            base: &base,
            id: writing.0,
            token: writing.1,
        };
        for i in 0..20 {
            c.say_ok(&format!("message {i}"));
        }
        c.transcript().body
    });
    let copy = dir.path().join("copy.db");
    let copy_arg = copy.to_str().expect("utf-8");
    let out = madoguchi(dir.path(), &["backup", copy_arg, "--database", &live], b"");
    assert!(out.status.success(), "{}", show("madoguchi backup", &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let size = std::fs::metadata(&copy).expect("the copy").len();
    assert!(
        size > 0 && stdout.contains(&format!("({size} bytes)")),
        "{stdout}"
    );
    let busy_final = writer.join().expect("writer");

    // Never overwrites; PostgreSQL and missing databases are refused with the reason.
    let out = madoguchi(dir.path(), &["backup", copy_arg, "--database", &live], b"");
    assert!(
        !out.status.success(),
        "{}",
        show("backup over a file", &out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("already exists"),
        "{}",
        show("backup", &out)
    );
    assert_eq!(std::fs::metadata(&copy).expect("the copy").len(), size);
    let other = dir.path().join("other.db");
    let other_arg = other.to_str().expect("utf-8");
    let out = madoguchi(
        dir.path(),
        &[
            "backup",
            other_arg,
            "--database",
            "postgres://u@127.0.0.1:9/x",
        ],
        b"",
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
        "{}",
        show("backup pg", &out)
    );
    let missing = sqlite_url(dir.path(), "missing.db");
    let out = madoguchi(
        dir.path(),
        &["backup", other_arg, "--database", &missing],
        b"",
    );
    assert!(
        !out.status.success() && !other.exists(),
        "{}",
        show("backup missing", &out)
    );

    drop(s);
    let restored = server_on(dir.path(), &format!("sqlite://{}", copy.display()), |_| {});
    let on_copy = crate::api::Customer {
        base: &restored.base,
        id: settled.0,
        token: settled.1,
    };
    assert_eq!(on_copy.transcript()["messages"], before["messages"]);
    // The conversation written during the backup is there up to some consistent point.
    let copied = crate::api::Customer {
        base: &restored.base,
        id: busy.0,
        token: busy.1,
    }
    .transcript();
    let copied = copied["messages"].as_array().expect("messages").clone();
    let all = busy_final["messages"].as_array().expect("messages").clone();
    assert!(
        copied.len() <= all.len() && copied[..] == all[..copied.len()],
        "{copied:?}"
    );
    block_on(store.close());
}

// ---------------------------------------------------------------------------------------------
// Logs.

/// A stand-in LINE Messaging API: answers every call 200 `{}` and counts them.
fn fake_line_api() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 8192];
            // Read the head, then as much body as Content-Length says.
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0usize);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            counted.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            );
        }
    });
    (base, calls)
}

const LINE_SECRET: &str = "line-secret-for-privacy-tests";

/// Runs `serve` (real model) at debug level in `format`, has a full conversation on the web and
/// one on LINE, stops it, and returns everything it wrote, with the texts that must not be in it.
fn logged_conversation(ws: &Path, encoder: &Path, format: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (line_api, line_calls) = fake_line_api();
    let log_path = dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", format])
        .arg("--database")
        .arg(sqlite_url(dir.path(), "logs.db"))
        .arg("--encoder")
        .arg(encoder)
        .current_dir(ws)
        .env("MADOGUCHI_LOG", "debug")
        .env("MADOGUCHI_AGENT_KEY", AGENT_KEY)
        .env("MADOGUCHI_ADMIN_PASSWORD", "admin-password-1")
        .env("MADOGUCHI_LINE_CHANNEL_SECRET", LINE_SECRET)
        .env(
            "MADOGUCHI_LINE_CHANNEL_ACCESS_TOKEN",
            "line-token-for-privacy-tests",
        )
        .env("MADOGUCHI_LINE_API_BASE", &line_api)
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("MADOGUCHI_INTENTS")
        .env_remove("MADOGUCHI_TRAINING_DATA")
        .env_remove("MADOGUCHI_MODELS")
        .env_remove("MADOGUCHI_CONFIG")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log file"))
        .stderr(log)
        .spawn()
        .expect("spawn madoguchi serve");
    let read_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(120);
    let base = loop {
        let text = read_log();
        if let Some(url) = text
            .split("madoguchi: listening on ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        {
            break url.to_string();
        }
        if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
            let _ = child.kill();
            panic!("serve did not start:\n{text}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    while call("GET", &format!("{base}/readyz"), &[], None).status != 200 {
        assert!(Instant::now() < deadline, "never ready:\n{}", read_log());
        std::thread::sleep(Duration::from_millis(200));
    }

    let p = Person::new("logs");
    let mut texts = web_conversation(&base, &p);
    texts.extend(line_conversation(&base, &p, &line_calls));
    // A refused body echoes its value in the answer; it must not reach the logs either.
    let bad = json!({ "score": p.email }).to_string();
    call(
        "POST",
        &format!("{base}/v1/conversations/{}/csat", Uuid::nil()),
        &[],
        Some(bad.as_bytes()),
    );

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let stop = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > stop {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut secrets = p.personal_data();
    secrets.extend(texts);
    (read_log(), secrets)
}

/// The web conversation of the log test; returns every text written.
fn web_conversation(base: &str, p: &Person) -> Vec<String> {
    let c = new_conversation(
        base,
        json!({ "locale": "en", "customer": { "id": p.customer_id, "name": p.name, "email": p.email } }),
    );
    let first = format!(
        "My order {} has not arrived. Please email {} or call {}",
        p.order, p.email, p.phone
    );
    c.say_ok(&first);
    let human = "I want to talk to a human".to_string();
    let r = c.say_ok(&human);
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .unwrap_or_else(|| panic!("a handoff\n{r}"))
        .to_string();
    let path = format!("/v1/handoffs/{ticket}");
    let reply = format!("Hello {}, parcel {} is on its way", p.name, p.order);
    let note = format!("{} asked for a callback at {}", p.name, p.phone);
    let comment = format!("Thanks, quick help for {}", p.name);
    expect(
        agent_call(base, "POST", &format!("{path}/claim"), "admin", None),
        200,
    );
    let body = json!({ "text": reply });
    expect(
        agent_call(base, "POST", &format!("{path}/reply"), "admin", Some(body)),
        200,
    );
    let body = json!({ "text": note });
    expect(
        agent_call(base, "POST", &format!("{path}/notes"), "admin", Some(body)),
        200,
    );
    expect(
        agent_call(base, "POST", &format!("{path}/hand-back"), "admin", None),
        200,
    );
    expect(
        c.post("/csat", json!({ "score": 4, "comment": comment })),
        200,
    );
    expect(c.post("/end", json!({})), 200);
    vec![first, reply, note, comment]
}

/// A signed LINE text message with personal data; waits until the bot has answered it.
fn line_conversation(
    base: &str,
    p: &Person,
    calls: &std::sync::atomic::AtomicUsize,
) -> Vec<String> {
    let text = format!("LINE here: order {} for {}", p.order, p.email);
    let body = json!({
        "destination": "Ubot",
        "events": [{
            "type": "message",
            "mode": "active",
            "timestamp": chrono::Utc::now().timestamp_millis(),
            "source": { "type": "user", "userId": p.line_user },
            "webhookEventId": format!("01PRIVACY{}", &p.line_user[1..18]),
            "deliveryContext": { "isRedelivery": false },
            "replyToken": "reply-token-privacy",
            "message": { "id": "m-privacy", "type": "text", "quoteToken": "q", "text": text },
        }],
    })
    .to_string();
    let signature = madoguchi::channels::line::sign(LINE_SECRET, body.as_bytes());
    let r = call(
        "POST",
        &format!("{base}/channels/line/webhook"),
        &[("x-line-signature", &signature)],
        Some(body.as_bytes()),
    );
    expect(r, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    while calls.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "the LINE message was never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    vec![text]
}

#[test]
fn logs_at_debug_level_hold_no_message_text_or_personal_data() {
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    for format in ["text", "json"] {
        let (log, secrets) = logged_conversation(ws.path(), encoder, format);
        // Debug level, with the request logs and the database statements.
        for expected in ["DEBUG", "finished processing request", "sqlx::query"] {
            assert!(
                log.contains(expected),
                "{format} logs lack {expected:?}:\n{log}"
            );
        }
        let leaks: Vec<(&String, Vec<&str>)> = secrets
            .iter()
            .map(|s| {
                (
                    s,
                    log.lines()
                        .filter(|l| l.contains(s.as_str()))
                        .collect::<Vec<_>>(),
                )
            })
            .filter(|(_, lines)| !lines.is_empty())
            .collect();
        assert!(
            leaks.is_empty(),
            "{format} logs leak personal data: {leaks:#?}"
        );
    }
}
