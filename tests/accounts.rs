//! Accounts, sessions and roles of the agent console, over real HTTP on 127.0.0.1:0 with real
//! SQLite (and PostgreSQL for the store, where `MADOGUCHI_TEST_POSTGRES_URL` is set): password
//! hashing, the `user` CLI, login (right, wrong, disabled), the session cookie's flags, CSRF, roles,
//! redirects and 401s without a session, the login rate limit, and `X-Agent-Id` bound to accounts.
use std::time::Duration;

use madoguchi::domain::AccountRole;
use madoguchi::store::{sha256_hex, NewAccount, Store};
use madoguchi::web::console::password::{hash_password, verify_password};
use madoguchi::web::console::StoreSessions;
use serde_json::{json, Value};
use tower_sessions::session::{Id, Record};
use tower_sessions::SessionStore;

use crate::api::{agent_call, expect, fake_server, new_conversation, sqlite_url, Server};
use crate::util::{block_on, fresh_postgres, madoguchi, show};

const ADMIN_PASSWORD: &str = "admin-password-1";

/// A response with the headers the console tests look at.
pub(crate) struct Page {
    pub(crate) status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One request, redirects not followed.
fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, String)>,
) -> Page {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some((content_type, body)) => req.set("Content-Type", content_type).send_string(&body),
        None => req.call(),
    };
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    Page {
        status: response.status(),
        location: response.header("location").map(str::to_string),
        set_cookie: response.header("set-cookie").map(str::to_string),
        body: response.into_string().unwrap_or_default(),
    }
}

fn login(base: &str, name: &str, password: &str) -> Page {
    let form = format!("username={name}&password={password}");
    request(
        "POST",
        &format!("{base}/agent/login"),
        &[],
        Some(("application/x-www-form-urlencoded", form)),
    )
}

/// A logged-in console: its cookie and CSRF token.
pub(crate) struct Console<'a> {
    base: &'a str,
    cookie: String,
    csrf: String,
}

impl Console<'_> {
    pub(crate) fn get(&self, path: &str) -> Page {
        request(
            "GET",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            None,
        )
    }

    pub(crate) fn post(&self, path: &str, body: Value) -> Page {
        request(
            "POST",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie), ("X-CSRF-Token", &self.csrf)],
            Some(("application/json", body.to_string())),
        )
    }

    pub(crate) fn post_without_csrf(&self, path: &str, body: Value) -> Page {
        request(
            "POST",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            Some(("application/json", body.to_string())),
        )
    }
}

pub(crate) fn log_in<'a>(base: &'a str, name: &str, password: &str) -> Console<'a> {
    let r = login(base, name, password);
    assert_eq!(r.status, 303, "login {name}: {}", r.body);
    assert_eq!(r.location.as_deref(), Some("/agent"));
    let set_cookie = r.set_cookie.expect("a session cookie");
    let cookie = set_cookie
        .split(';')
        .next()
        .expect("name=value")
        .to_string();
    let shell = request(
        "GET",
        &format!("{base}/agent"),
        &[("Cookie", &cookie)],
        None,
    );
    assert_eq!(shell.status, 200, "{}", shell.body);
    let csrf = shell
        .body
        .split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the shell carries the CSRF token")
        .to_string();
    Console { base, cookie, csrf }
}

pub(crate) fn add_account(
    s: &Server,
    dir: &std::path::Path,
    name: &str,
    role: AccountRole,
    password: &str,
) {
    let _ = s;
    block_on(async {
        let store = Store::connect(&sqlite_url(dir, "fake.db"))
            .await
            .expect("connect");
        let hash = hash_password(password).expect("hash");
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

#[test]
fn passwords_hash_to_argon2id_and_verify() {
    let hash = hash_password("長いパスワードです").expect("hash");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password("長いパスワードです", &hash));
    assert!(!verify_password("長いパスワード", &hash));
}

#[test]
fn user_cli_adds_lists_disables_and_changes_passwords() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(dir.path(), "cli.db");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut all = args.to_vec();
        all.extend(["--database", db.as_str()]);
        let out = madoguchi(dir.path(), &all, stdin);
        assert!(out.status.success(), "{}", show(&all.join(" "), &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(
        &[
            "user",
            "add",
            "yuki",
            "--role",
            "agent",
            "--display-name",
            "佐藤 由紀",
        ],
        b"first-password\n",
    );
    run(
        &["user", "add", "mina", "--role", "lead"],
        b"second-password\n",
    );
    let listed = run(&["user", "list"], b"");
    assert!(
        listed.contains("yuki\tagent\tactive\t佐藤 由紀"),
        "{listed}"
    );
    assert!(listed.contains("mina\tlead\tactive"), "{listed}");
    let short = madoguchi(
        dir.path(),
        &["user", "add", "x", "--role", "agent", "--database", &db],
        b"short\n",
    );
    assert!(
        !short.status.success(),
        "{}",
        show("user add (short password)", &short)
    );
    run(&["user", "passwd", "yuki"], b"third-password\n");
    run(&["user", "disable", "mina"], b"");
    let store = block_on(Store::connect(&db)).expect("connect");
    let yuki = block_on(store.account("yuki"))
        .expect("read")
        .expect("yuki");
    assert!(verify_password("third-password", &yuki.password_hash));
    let listed = run(&["user", "list"], b"");
    assert!(listed.contains("mina\tlead\tdisabled"), "{listed}");
}

#[test]
fn login_sets_a_strict_httponly_cookie_and_refuses_bad_passwords_and_disabled_accounts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    add_account(&s, dir.path(), "boss", AccountRole::Admin, ADMIN_PASSWORD);
    let page = request(
        "GET",
        &format!("{}/agent/login", s.base),
        &[("Accept-Language", "ja")],
        None,
    );
    assert_eq!(page.status, 200);
    for label in ["ユーザー名", "パスワード", "ログイン"] {
        assert!(page.body.contains(label), "{label}: {}", page.body);
    }
    let ok = login(&s.base, "agent", "agent-password");
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.set_cookie.expect("cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP in tests: {cookie}");
    assert_eq!(login(&s.base, "agent", "wrong-password").status, 401);
    assert_eq!(login(&s.base, "nobody", "agent-password").status, 401);

    let admin = log_in(&s.base, "boss", ADMIN_PASSWORD);
    let bob = log_in(&s.base, "bob", "agent-password");
    let r = admin.post("/agent/api/users/bob/disabled", json!({"disabled": true}));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        bob.get("/agent/api/me").status,
        401,
        "disabling ends the sessions"
    );
    assert_eq!(login(&s.base, "bob", "agent-password").status, 401);
}

#[test]
fn behind_tls_the_cookie_is_secure_and_host_bound() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |c| c.secure_cookies = true);
    let ok = login(&s.base, "agent", "agent-password");
    assert_eq!(ok.status, 303, "{}", ok.body);
    let cookie = ok.set_cookie.expect("cookie");
    assert!(cookie.starts_with("__Host-madoguchi_console="), "{cookie}");
    for flag in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=43200",
    ] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(
        !cookie.contains("Domain"),
        "__Host- cookies name no domain: {cookie}"
    );
    // The session works (a browser would send it back over TLS; the server does not mind here).
    let name_value = cookie.split(';').next().expect("name=value");
    let me = request(
        "GET",
        &format!("{}/agent/api/me", s.base),
        &[("Cookie", name_value)],
        None,
    );
    assert_eq!(me.status, 200, "{}", me.body);
    let again = me
        .set_cookie
        .expect("the idle expiry slides: the cookie is renewed");
    assert!(again.contains("Max-Age=43200"), "{again}");
}

#[test]
fn sessions_are_needed_csrf_is_checked_and_roles_are_enforced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    add_account(&s, dir.path(), "boss", AccountRole::Admin, ADMIN_PASSWORD);
    let page = request("GET", &format!("{}/agent", s.base), &[], None);
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("/agent/login"));
    assert_eq!(
        request("GET", &format!("{}/agent/api/tickets", s.base), &[], None).status,
        401
    );

    let agent = log_in(&s.base, "alice", "agent-password");
    assert_eq!(agent.get("/agent/api/me").json()["role"], "agent");
    assert_eq!(agent.get("/agent/api/users").status, 403);
    let add = json!({"name": "mallory", "role": "admin", "password": "mallory-password"});
    assert_eq!(agent.post("/agent/api/users", add.clone()).status, 403);
    assert_eq!(
        agent.get("/agent/api/tickets?view=all").status,
        403,
        "leads only"
    );

    let admin = log_in(&s.base, "boss", ADMIN_PASSWORD);
    assert_eq!(
        admin
            .post_without_csrf("/agent/api/users", add.clone())
            .status,
        403
    );
    let wrong = Console {
        base: &s.base,
        cookie: admin.cookie.clone(),
        csrf: "0".repeat(64),
    };
    assert_eq!(wrong.post("/agent/api/users", add.clone()).status, 403);
    let r = admin.post("/agent/api/users", add);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("argon2"), "never the hash: {}", r.body);
    let r = admin.post(
        "/agent/api/users/mallory/password",
        json!({"password": "new-password-9"}),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(login(&s.base, "mallory", "new-password-9").status, 303);

    let logout = request(
        "POST",
        &format!("{}/agent/logout", s.base),
        &[("Cookie", &agent.cookie), ("X-CSRF-Token", &agent.csrf)],
        None,
    );
    assert_eq!(logout.status, 204);
    assert_eq!(agent.get("/agent/api/me").status, 401, "logged out");
}

#[test]
fn console_actions_reach_the_conversation_and_are_attributed_to_the_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let customer = new_conversation(&s.base, json!({"locale": "ja"}));
    expect(customer.say("a human please"), 200);
    let aiko = log_in(&s.base, "aiko", "agent-password");
    let queue = aiko.get("/agent/api/tickets?view=waiting").json();
    let ticket = queue["tickets"][0]["id"]
        .as_str()
        .expect("a waiting ticket")
        .to_string();
    let path = format!("/agent/api/tickets/{ticket}");
    assert_eq!(
        aiko.post_without_csrf(&format!("{path}/claim"), json!({}))
            .status,
        403
    );
    let claimed = aiko.post(&format!("{path}/claim"), json!({}));
    assert_eq!(claimed.status, 200, "{}", claimed.body);
    assert_eq!(claimed.json()["claimed_by"], "aiko");
    let ken = log_in(&s.base, "ken", "agent-password");
    assert_eq!(ken.get(&path).status, 403, "another agent's ticket");
    let reply = aiko.post(
        &format!("{path}/reply"),
        json!({"text": "<b>担当の愛子です</b>"}),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let transcript = expect(customer.transcript(), 200);
    assert!(transcript.text.contains("担当の愛子です"), "{transcript}");
    let mine = aiko.get("/agent/api/tickets?view=mine").json();
    assert_eq!(mine["tickets"].as_array().map(Vec::len), Some(1), "{mine}");
    let resolved = aiko.post(
        &format!("{path}/resolve"),
        json!({"resolution_code": "answered"}),
    );
    assert_eq!(resolved.status, 200, "{}", resolved.body);
}

#[test]
fn logins_are_rate_limited_per_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let limit = madoguchi::web::console::limit::ATTEMPTS_PER_ACCOUNT_PER_MINUTE;
    for _ in 0..limit {
        assert_eq!(login(&s.base, "ken", "wrong-password").status, 401);
    }
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let limited = agent
        .post(&format!("{}/agent/login", s.base))
        .send_form(&[("username", "ken"), ("password", "agent-password")]);
    let Err(ureq::Error::Status(429, r)) = limited else {
        panic!("expected 429, got {limited:?}");
    };
    let wait: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(
        login(&s.base, "aiko", "agent-password").status,
        303,
        "other accounts still log in"
    );
}

#[test]
fn x_agent_id_must_name_an_active_account() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let customer = new_conversation(&s.base, json!({"locale": "ja"}));
    expect(customer.say("a human please"), 200);
    let list = expect(
        agent_call(&s.base, "GET", "/v1/handoffs", "agent", None),
        200,
    );
    let ticket = list["handoffs"][0]["id"]
        .as_str()
        .expect("ticket")
        .to_string();
    let claim = format!("/v1/handoffs/{ticket}/claim");
    assert_eq!(
        agent_call(&s.base, "POST", &claim, "nobody", None).status,
        403
    );
    let r = expect(agent_call(&s.base, "POST", &claim, "sato", None), 200);
    assert_eq!(r["claimed_by"], "sato");
}

/// A session record as the console's login makes it.
fn login_record(account: &str, logged_in: chrono::DateTime<chrono::Utc>, idle: Duration) -> Record {
    let mut data = std::collections::HashMap::new();
    data.insert(
        "login".to_string(),
        json!({"account": account, "csrf_token": "c".repeat(43), "at": logged_in}),
    );
    Record {
        id: Id::default(),
        data,
        expiry_date: time::OffsetDateTime::now_utc() + idle,
    }
}

/// The console's tower-sessions `SessionStore` over our store, on one dialect: create, load,
/// slide, the absolute limit, expiry, logout, and the account's sessions ending with a new
/// password or a disabled account (and a save never bringing a revoked session back).
async fn session_store_case(url: &str) {
    let store = Store::connect(url).await.expect("connect");
    store.migrate().await.expect("migrate");
    let hash = hash_password("pg-password-1").expect("hash");
    for name in ["pg", "other"] {
        let new = NewAccount {
            name,
            display_name: "PG",
            role: AccountRole::Lead,
            password_hash: &hash,
        };
        store.create_account(new).await.expect("create");
    }
    let sessions = StoreSessions::new(store.clone());
    let now = chrono::Utc::now();
    let hour = Duration::from_secs(3600);

    let mut live = login_record("pg", now, hour);
    sessions.create(&mut live).await.expect("create");
    let loaded = sessions.load(&live.id).await.expect("load").expect("live");
    assert_eq!(loaded.data, live.data);
    let stored = store
        .web_session(&sha256_hex(&live.id.to_string()))
        .await
        .expect("row")
        .expect("kept under the id's hash");
    assert_eq!(stored.account_name.as_deref(), Some("pg"));
    assert!(
        !stored.data.contains(&live.id.to_string()),
        "never the id itself"
    );
    assert!(store
        .web_session(&live.id.to_string())
        .await
        .expect("row")
        .is_none());

    // Use slides the idle expiry, never past the absolute limit (7 days after login).
    let mut old = login_record(
        "pg",
        now - chrono::Duration::days(7) + chrono::Duration::minutes(5),
        hour,
    );
    sessions.create(&mut old).await.expect("create");
    let capped = sessions.load(&old.id).await.expect("load").expect("live");
    let limit = (now + chrono::Duration::minutes(5)).timestamp();
    assert!(
        capped.expiry_date.unix_timestamp() <= limit,
        "capped at the absolute limit"
    );
    let mut expired = login_record("pg", now, Duration::ZERO);
    expired.expiry_date = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    sessions.create(&mut expired).await.expect("create");
    assert!(
        sessions.load(&expired.id).await.expect("load").is_none(),
        "expired"
    );
    assert!(store.delete_expired_web_sessions().await.expect("sweep") >= 1);

    // Logout deletes; a later save (a request in flight) does not bring it back.
    let mut out = login_record("pg", now, hour);
    sessions.create(&mut out).await.expect("create");
    sessions.delete(&out.id).await.expect("delete");
    sessions.save(&out).await.expect("save");
    assert!(
        sessions.load(&out.id).await.expect("load").is_none(),
        "logged out stays out"
    );

    // A new password ends all of the account's sessions, and only its own.
    let mut others = login_record("other", now, hour);
    sessions.create(&mut others).await.expect("create");
    store
        .set_account_password("pg", &hash)
        .await
        .expect("passwd")
        .expect("pg");
    assert!(
        sessions.load(&live.id).await.expect("load").is_none(),
        "a new password ends it"
    );
    sessions.save(&live).await.expect("save");
    assert!(
        sessions.load(&live.id).await.expect("load").is_none(),
        "not brought back"
    );
    assert!(
        sessions.load(&others.id).await.expect("load").is_some(),
        "other accounts keep theirs"
    );
    store
        .set_account_disabled("other", true)
        .await
        .expect("disable")
        .expect("other");
    assert!(
        sessions.load(&others.id).await.expect("load").is_none(),
        "disabling ends it"
    );
    store.close().await;
}

#[test]
fn session_store_in_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    block_on(session_store_case(&sqlite_url(dir.path(), "sessions.db")));
}

#[test]
fn session_store_in_postgres() {
    let Some(db) = fresh_postgres("session_store_in_postgres") else {
        return;
    };
    block_on(session_store_case(&db.url));
}

#[test]
fn a_login_form_posted_from_another_site_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = fake_server(dir.path(), Duration::ZERO, |_| {});
    let r = request(
        "POST",
        &format!("{}/agent/login", s.base),
        &[("Origin", "https://evil.example")],
        Some((
            "application/x-www-form-urlencoded",
            "username=agent&password=agent-password".into(),
        )),
    );
    assert_eq!(r.status, 403, "{}", r.body);
}
