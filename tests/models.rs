//! Model versions: train → publish → hot swap → roll back, on real `madoguchi serve` processes
//! (real HTTP, the real encoder, SQLite and PostgreSQL), driven by the real CLI.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{call, new_conversation, sqlite_url, API_KEY};
use crate::util::{copy_catalog, fresh_postgres, madoguchi, real_encoder, repo, show};

/// A message only the second version knows how to answer (its intent is added for it).
const PROBE: &str = "The warp drive of my starship needs a repair";
const PROBE_INTENT: &str = "warp_drive";
/// The probe intent's English answer (the catalog reloads with the model).
const PROBE_ANSWER: &str = "Our starship workshop will look at your warp drive.";

/// A workspace with two trained versions: `v1` on the default catalog, `v2` with the extra
/// `warp_drive` intent. `models/current` is v2; nothing is published.
struct TwoVersions {
    dir: tempfile::TempDir,
    encoder: PathBuf,
    v1: String,
    v2: String,
    /// Seconds each `madoguchi train` took (warm embedding cache).
    train_seconds: Vec<f64>,
}

fn two_versions() -> Option<&'static TwoVersions> {
    static WS: OnceLock<Option<TwoVersions>> = OnceLock::new();
    WS.get_or_init(|| {
        let encoder = real_encoder()?;
        let dir = tempfile::tempdir().expect("tempdir");
        copy_catalog(dir.path());
        let mut train_seconds = Vec::new();
        let v1 = train(dir.path(), &encoder, &mut train_seconds);
        add_probe_intent(dir.path());
        let v2 = train(dir.path(), &encoder, &mut train_seconds);
        assert_ne!(v1, v2);
        Some(TwoVersions {
            dir,
            encoder,
            v1,
            v2,
            train_seconds,
        })
    })
    .as_ref()
}

/// Trains with the real binary (the shared embedding cache keeps it to the fitting) and returns
/// the new version.
fn train(dir: &Path, encoder: &Path, seconds: &mut Vec<f64>) -> String {
    let cache = repo().join("target/test-embedding-cache");
    let args = [
        "train",
        "--quiet",
        "--encoder",
        encoder.to_str().expect("utf-8 path"),
        "--cache",
        cache.to_str().expect("utf-8 path"),
    ];
    let started = Instant::now();
    let out = madoguchi(dir, &args, b"");
    seconds.push(started.elapsed().as_secs_f64());
    assert!(out.status.success(), "{}", show("madoguchi train", &out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("not published"), "{stdout}");
    std::fs::read_to_string(dir.join("models/current"))
        .expect("models/current")
        .trim()
        .to_string()
}

/// Adds the `warp_drive` intent: its definition with templates, and 48 utterances per language.
fn add_probe_intent(dir: &Path) {
    let intent = format!(
        "name: {PROBE_INTENT}\ndescription: The customer's starship warp drive needs a repair.\n\
         handoff: never\ntemplates:\n  ja:\n    - \"宇宙船工房がワープドライブを点検します。\"\n  \
         en:\n    - \"{PROBE_ANSWER}\"\n"
    );
    std::fs::write(dir.join(format!("intents/{PROBE_INTENT}.yaml")), intent).expect("intent");
    let dialogue_path = dir.join("intents/_dialogue.yaml");
    let dialogue = std::fs::read_to_string(&dialogue_path).expect("_dialogue.yaml");
    let label = format!(
        "intent_labels:\n  {PROBE_INTENT}: {{ ja: \"ワープドライブ\", en: \"Warp drive\" }}\n"
    );
    assert!(dialogue.contains("intent_labels:\n"), "{dialogue}");
    std::fs::write(
        &dialogue_path,
        dialogue.replacen("intent_labels:\n", &label, 1),
    )
    .expect("write _dialogue.yaml");
    let en_parts = [
        "my warp drive",
        "the warp drive of my starship",
        "our starship's warp drive",
        "the warp core",
    ];
    let en_problems = [
        "is broken",
        "needs a repair",
        "makes a strange noise",
        "will not engage",
        "overheats at warp 5",
        "lost containment",
        "keeps dropping out of warp",
        "needs servicing",
        "is leaking plasma",
        "has a cracked dilithium crystal",
        "stalls during the jump",
        "won't go faster than light",
    ];
    let ja_parts = [
        "ワープドライブが",
        "宇宙船のワープエンジンが",
        "ワープコアが",
        "うちの宇宙船のワープ装置が",
    ];
    let ja_problems = [
        "壊れました",
        "修理が必要です",
        "変な音がします",
        "起動しません",
        "ワープ5で過熱します",
        "プラズマ漏れしています",
        "ワープから落ちてしまいます",
        "点検してほしいです",
        "ダイリチウム結晶が割れました",
        "ジャンプ中に止まります",
        "光速を超えられません",
        "整備をお願いしたいです",
    ];
    for (locale, parts, problems, sep) in [
        ("en", &en_parts, &en_problems, " "),
        ("ja", &ja_parts, &ja_problems, ""),
    ] {
        let mut yaml = format!("# {PROBE_INTENT} (test)\n");
        for p in parts.iter() {
            for q in problems.iter() {
                yaml.push_str(&format!("- \"{p}{sep}{q}\"\n"));
            }
        }
        let path = dir.join(format!("training-data/{locale}/{PROBE_INTENT}.yaml"));
        std::fs::write(path, yaml).expect("training data");
    }
}

/// A `madoguchi serve` process; killed when dropped.
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

fn serve(ws: &TwoVersions, database: &str) -> Replica {
    serve_env(ws, database, &[])
}

fn serve_env(ws: &TwoVersions, database: &str, env: &[(&str, &Path)]) -> Replica {
    let mut command = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    command.env_remove("MADOGUCHI_CACHE");
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command
        .args(["serve", "--bind", "127.0.0.1:0", "--database", database])
        .arg("--encoder")
        .arg(&ws.encoder)
        .current_dir(ws.dir.path())
        .env("MADOGUCHI_API_KEY", API_KEY)
        // The load of these tests comes from one address and one key: no rate limits.
        .env("MADOGUCHI_CONVERSATIONS_PER_IP_PER_MINUTE", "0")
        .env("MADOGUCHI_CLASSIFY_PER_KEY_PER_MINUTE", "0")
        .env("HF_HUB_OFFLINE", "1")
        .env_remove("MADOGUCHI_CONFIG")
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
        std::thread::sleep(Duration::from_millis(100));
    }
    replica
}

fn cli(ws: &TwoVersions, args: &[&str]) -> std::process::Output {
    madoguchi(ws.dir.path(), args, b"")
}

fn cli_ok(ws: &TwoVersions, args: &[&str]) -> String {
    let out = cli(ws, args);
    assert!(out.status.success(), "{}", show(&args.join(" "), &out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn served_model(base: &str) -> Option<String> {
    let r = call("GET", &format!("{base}/readyz"), &[], None);
    r.body["model"].as_str().map(str::to_string)
}

/// Waits until `/readyz` of `base` reports `version`; returns how long it took.
fn wait_for_model(base: &str, version: &str, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(10);
    loop {
        if served_model(base).as_deref() == Some(version) {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "{base} still serves {:?}, not {version}",
            served_model(base)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn classify(base: &str, text: &str) -> (u16, Value) {
    let bearer = format!("Bearer {API_KEY}");
    let body = json!({ "texts": [text] }).to_string();
    let r = call(
        "POST",
        &format!("{base}/v1/classify"),
        &[("Authorization", &bearer)],
        Some(body.as_bytes()),
    );
    (r.status, r.body["results"][0].clone())
}

fn probe_intent(base: &str) -> Option<String> {
    let (status, c) = classify(base, PROBE);
    assert_eq!(status, 200, "{c}");
    c["intent"].as_str().map(str::to_string)
}

/// Clients classifying and chatting continuously until stopped: every request's status is kept.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    done: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    /// The probe's answers seen by the chatting clients, in order.
    answers: Arc<Mutex<Vec<String>>>,
}

impl Load {
    fn start(base: &str, clients: usize) -> Load {
        let load = Load {
            stop: Arc::default(),
            threads: Vec::new(),
            done: Arc::default(),
            failures: Arc::default(),
            answers: Arc::default(),
        };
        let mut load = load;
        for i in 0..clients {
            let (base, stop) = (base.to_string(), load.stop.clone());
            let (done, failures, answers) = (
                load.done.clone(),
                load.failures.clone(),
                load.answers.clone(),
            );
            load.threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let failed = if i % 2 == 0 {
                        let (status, c) = classify(&base, "where is my order?");
                        (status != 200).then(|| format!("classify {status}: {c}"))
                    } else {
                        chat_once(&base, &answers)
                    };
                    done.fetch_add(1, Ordering::Relaxed);
                    if let Some(f) = failed {
                        failures.lock().expect("lock").push(f);
                    }
                }
            }));
        }
        load
    }

    fn finish(self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("client thread");
        }
        let failures = self.failures.lock().expect("lock").clone();
        let answers = self.answers.lock().expect("lock").clone();
        (self.done.load(Ordering::Relaxed), failures, answers)
    }
}

/// One conversation saying the probe; the failure, if any. Records the bot's answer.
fn chat_once(base: &str, answers: &Mutex<Vec<String>>) -> Option<String> {
    let c = new_conversation(base, json!({ "locale": "en" }));
    let r = c.say(PROBE);
    if r.status != 200 {
        return Some(format!("chat: {r}"));
    }
    let text = r.body["reply"].as_str().unwrap_or_default();
    answers.lock().expect("lock").push(text.to_string());
    None
}

#[test]
fn publish_and_rollback_under_load_switch_answers_and_fail_no_request() {
    let Some(ws) = two_versions() else {
        return;
    };
    let db_dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(db_dir.path(), "models.db");
    cli_ok(ws, &["model", "publish", &ws.v1, "--database", &db]);
    let replica = serve(ws, &db);
    assert_eq!(served_model(&replica.base).as_deref(), Some(ws.v1.as_str()));
    assert_ne!(probe_intent(&replica.base).as_deref(), Some(PROBE_INTENT));

    let load = Load::start(&replica.base, 4);
    std::thread::sleep(Duration::from_millis(500));
    // The 2 s count from the moment the publish is recorded (the CLI has returned).
    let cli_started = Instant::now();
    let out = cli_ok(ws, &["model", "publish", &ws.v2, "--database", &db]);
    let cli_took = cli_started.elapsed();
    assert!(out.contains(&ws.v2), "{out}");
    let publish_took = wait_for_model(&replica.base, &ws.v2, Instant::now());
    assert_eq!(probe_intent(&replica.base).as_deref(), Some(PROBE_INTENT));
    std::thread::sleep(Duration::from_millis(500));

    let out = cli_ok(ws, &["model", "rollback", "--database", &db]);
    assert!(out.contains(&ws.v1), "{out}");
    let rollback_took = wait_for_model(&replica.base, &ws.v1, Instant::now());
    std::thread::sleep(Duration::from_millis(300));
    let (done, failures, answers) = load.finish();

    eprintln!(
        "SQLite: publish reached the replica {publish_took:?} after the CLI returned (the CLI \
         took {cli_took:?}), rollback {rollback_took:?}; {done} requests under load; trains \
         took {:?} s",
        ws.train_seconds
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:#?}",
        failures.len()
    );
    assert!(done > 20, "only {done} requests");
    assert!(publish_took < Duration::from_secs(2), "{publish_took:?}");
    assert!(rollback_took < Duration::from_secs(2), "{rollback_took:?}");
    // The chat answered the probe with the new intent's template while v2 served (the catalog
    // reloaded with it), and not before or after.
    let first = answers.iter().position(|a| a == PROBE_ANSWER);
    let last = answers.iter().rposition(|a| a == PROBE_ANSWER);
    let (Some(first), Some(last)) = (first, last) else {
        panic!("the probe was never answered by v2: {answers:#?}");
    };
    assert!(first > 0 && last + 1 < answers.len(), "{answers:#?}");
    assert_ne!(probe_intent(&replica.base).as_deref(), Some(PROBE_INTENT));
}

#[test]
fn two_replicas_on_postgres_switch_within_two_seconds_of_the_cli() {
    let Some(pg) = fresh_postgres("two_replicas_on_postgres_switch") else {
        return;
    };
    let Some(ws) = two_versions() else {
        return;
    };
    // A fresh database: serve records the last trained version (v2) as published.
    let a = serve(ws, &pg.url);
    let b = serve(ws, &pg.url);
    for r in [&a, &b] {
        assert_eq!(served_model(&r.base).as_deref(), Some(ws.v2.as_str()));
    }
    let cli_started = Instant::now();
    cli_ok(ws, &["model", "publish", &ws.v1, "--database", &pg.url]);
    let (cli_took, t) = (cli_started.elapsed(), Instant::now());
    let took_a = wait_for_model(&a.base, &ws.v1, t);
    let took_b = wait_for_model(&b.base, &ws.v1, t);
    eprintln!(
        "PostgreSQL: publish reached replica A {took_a:?} and B {took_b:?} after the CLI \
         returned (the CLI took {cli_took:?})"
    );
    assert!(
        took_a.max(took_b) < Duration::from_secs(2),
        "{took_a:?} {took_b:?}"
    );
    for r in [&a, &b] {
        assert_ne!(probe_intent(&r.base).as_deref(), Some(PROBE_INTENT));
    }
    let t = Instant::now();
    cli_ok(ws, &["model", "rollback", "--database", &pg.url]);
    for r in [&a, &b] {
        wait_for_model(&r.base, &ws.v2, t);
        assert_eq!(probe_intent(&r.base).as_deref(), Some(PROBE_INTENT));
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

/// Copies version `from` to a new version `name` (its manifest renamed and dated `created_at`).
fn copy_version(ws: &TwoVersions, from: &str, name: &str, created_at: &str) -> PathBuf {
    let models = ws.dir.path().join("models");
    let to = models.join(name);
    crate::util::copy_dir(&models.join(from), &to);
    let path = to.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    manifest["version"] = json!(name);
    manifest["created_at"] = json!(created_at);
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    to
}

#[test]
fn a_broken_version_is_refused_and_one_a_replica_cannot_load_leaves_the_old_model_serving() {
    let Some(ws) = two_versions() else {
        return;
    };
    let db_dir = tempfile::tempdir().expect("tempdir");
    let db = sqlite_url(db_dir.path(), "broken.db");
    cli_ok(ws, &["model", "publish", &ws.v1, "--database", &db]);

    // Corrupt files: the CLI refuses, and nothing is recorded.
    let broken = copy_version(ws, &ws.v1, "v-broken-head", "2000-01-01T00:00:00+00:00");
    std::fs::write(broken.join("head.safetensors"), b"not a tensor file").expect("corrupt");
    for version in ["v-broken-head", "v-does-not-exist", "../escape"] {
        let out = cli(ws, &["model", "publish", version, "--database", &db]);
        assert!(!out.status.success(), "{}", show(version, &out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to publish") || err.contains("not a model version"),
            "{err}"
        );
    }
    let list = cli_ok(ws, &["model", "list", "--database", &db, "--json"]);
    let published: Vec<Value> = list
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .filter(|v: &Value| v["published"] == true)
        .collect();
    assert_eq!(published.len(), 1, "{list}");
    assert_eq!(published[0]["version"], ws.v1.as_str());

    // Files that load, for another encoder: only a replica can tell; it keeps serving v1.
    let replica = serve(ws, &db);
    let foreign = copy_version(ws, &ws.v2, "v-other-encoder", "2000-01-02T00:00:00+00:00");
    let path = foreign.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    manifest["encoder"]["fingerprint"] = json!("another-encoder");
    std::fs::write(&path, manifest.to_string()).expect("write");
    cli_ok(
        ws,
        &["model", "publish", "v-other-encoder", "--database", &db],
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(served_model(&replica.base).as_deref(), Some(ws.v1.as_str()));
    let (status, c) = classify(&replica.base, "where is my order?");
    assert_eq!(status, 200, "{c}");
    // Publishing a good version again is followed.
    let t = Instant::now();
    cli_ok(ws, &["model", "publish", &ws.v2, "--database", &db]);
    wait_for_model(&replica.base, &ws.v2, t);
    for v in ["v-broken-head", "v-other-encoder"] {
        std::fs::remove_dir_all(ws.dir.path().join("models").join(v)).expect("clean up");
    }
}

#[test]
fn prune_keeps_the_newest_and_never_the_published_or_current_version() {
    let Some(ws) = two_versions() else {
        return;
    };
    // A models directory of its own: old copies of v1 (published) and v2 (current).
    let scratch = tempfile::tempdir().expect("tempdir");
    let models = scratch.path().join("models");
    std::fs::create_dir_all(&models).expect("mkdir");
    let src = ws.dir.path().join("models");
    let mut names = Vec::new();
    for (i, from) in [&ws.v1, &ws.v2, &ws.v1, &ws.v2].iter().enumerate() {
        let name = format!("v-old-{i}");
        let to = models.join(&name);
        crate::util::copy_dir(&src.join(from.as_str()), &to);
        let path = to.join("manifest.json");
        let mut m: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        m["version"] = json!(name);
        m["created_at"] = json!(format!("2001-01-0{}T00:00:00+00:00", i + 1));
        std::fs::write(&path, m.to_string()).expect("write");
        names.push(name);
    }
    std::fs::write(models.join("current"), "v-old-1\n").expect("current");
    let db = sqlite_url(scratch.path(), "prune.db");
    let models_arg = models.to_str().expect("utf-8");
    let run = |args: &[&str]| {
        let mut all = vec!["--models", models_arg];
        all.extend_from_slice(args);
        let out = madoguchi(scratch.path(), &all, b"");
        assert!(out.status.success(), "{}", show(&all.join(" "), &out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["model", "publish", "v-old-0", "--database", &db]);
    let out = run(&["model", "prune", "--keep", "1", "--database", &db]);
    assert!(out.contains("removed v-old-2"), "{out}");
    let left: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(&models)
            .expect("read")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("v-"))
            .collect();
        v.sort();
        v
    };
    // v-old-3 is the newest; v-old-0 is published; v-old-1 is current.
    assert_eq!(left, ["v-old-0", "v-old-1", "v-old-3"]);
    let list = run(&["model", "list", "--database", &db]);
    assert!(
        list.contains("published") && list.contains("current"),
        "{list}"
    );
}

/// A console login: the session cookie and the CSRF token of the shell page.
struct Lead {
    base: String,
    cookie: String,
    csrf: String,
}

fn raw(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<String>,
) -> (u16, Value, Option<String>) {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(60))
        .build();
    let mut req = agent.request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) if b.contains('=') && !b.starts_with('{') => req
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(&b),
        Some(b) => req.set("Content-Type", "application/json").send_string(&b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = response.status();
    let cookie = response.header("set-cookie").map(str::to_string);
    let text = response.into_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        cookie,
    )
}

impl Lead {
    fn log_in(base: &str, name: &str, password: &str) -> Lead {
        let form = format!("username={name}&password={password}");
        let (status, body, set_cookie) =
            raw("POST", &format!("{base}/agent/login"), &[], Some(form));
        assert_eq!(status, 303, "login {name}: {body}");
        let cookie = set_cookie
            .and_then(|c| c.split(';').next().map(str::to_string))
            .expect("a session cookie");
        let (status, shell, _) = raw(
            "GET",
            &format!("{base}/agent"),
            &[("Cookie", &cookie)],
            None,
        );
        assert_eq!(status, 200);
        let csrf = shell
            .as_str()
            .and_then(|s| s.split(r#"name="csrf-token" content=""#).nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("the shell carries the CSRF token")
            .to_string();
        Lead {
            base: base.to_string(),
            cookie,
            csrf,
        }
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = raw(
            "GET",
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie)],
            None,
        );
        (s, v)
    }

    fn send(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let headers = [
            ("Cookie", self.cookie.as_str()),
            ("X-CSRF-Token", self.csrf.as_str()),
        ];
        let (s, v, _) = raw(
            method,
            &format!("{}{path}", self.base),
            &headers,
            Some(body.to_string()),
        );
        (s, v)
    }
}

fn add_account(dir: &Path, db: &str, name: &str, role: &str) {
    let args = ["user", "add", name, "--role", role, "--database", db];
    let out = madoguchi(dir, &args, b"lead-password-123\n");
    assert!(out.status.success(), "{}", show("madoguchi user add", &out));
}

#[test]
fn the_studio_trains_reports_pins_publishes_with_a_threshold_and_rolls_back() {
    let Some(ws) = two_versions() else {
        return;
    };
    // A workspace of its own (a studio run trains a new version into it).
    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["intents", "training-data"] {
        crate::util::copy_dir(&ws.dir.path().join(sub), &dir.path().join(sub));
    }
    for v in [&ws.v1, &ws.v2] {
        let from = ws.dir.path().join("models").join(v.as_str());
        crate::util::copy_dir(&from, &dir.path().join("models").join(v.as_str()));
    }
    let db = sqlite_url(dir.path(), "studio.db");
    add_account(dir.path(), &db, "lead", "lead");
    add_account(dir.path(), &db, "agent1", "agent");
    let own = TwoVersions {
        dir,
        encoder: ws.encoder.clone(),
        v1: ws.v1.clone(),
        v2: ws.v2.clone(),
        train_seconds: Vec::new(),
    };
    cli_ok(&own, &["model", "publish", &own.v1, "--database", &db]);
    let replica = serve_with_cache(&own, &db);
    let lead = Lead::log_in(&replica.base, "lead", "lead-password-123");

    // Roles: an agent is refused, no session is 401.
    let agent = Lead::log_in(&replica.base, "agent1", "lead-password-123");
    assert_eq!(agent.get("/studio/api/models").0, 403);
    let (status, body, _) = raw(
        "GET",
        &format!("{}/studio/api/models", replica.base),
        &[],
        None,
    );
    assert_eq!(status, 401, "{body}");

    // Pins: the probe must go to warp_drive; an unknown intent is refused.
    let (status, pin) = lead.send(
        "POST",
        "/studio/api/regression",
        json!({ "text": PROBE, "expected_intent": PROBE_INTENT }),
    );
    assert_eq!(status, 201, "{pin}");
    let (status, body) = lead.send(
        "POST",
        "/studio/api/regression",
        json!({ "text": "hello", "expected_intent": "no_such_intent" }),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str().is_some()),
        (422, true),
        "{body}"
    );

    // Train in the background; a second run is refused while the first runs.
    let started = Instant::now();
    let (status, run) = lead.send("POST", "/studio/api/models/train", json!({}));
    assert_eq!(status, 202, "{run}");
    assert_eq!(
        lead.send("POST", "/studio/api/models/train", json!({})).0,
        409
    );
    let mut stages = Vec::new();
    let version = loop {
        let (status, s) = lead.get("/studio/api/models/train");
        assert_eq!(status, 200, "{s}");
        let stage = s["stage"].as_str().unwrap_or_default().to_string();
        if stages.last() != Some(&stage) {
            stages.push(stage);
        }
        match s["state"].as_str() {
            Some("succeeded") => break s["version"].as_str().expect("version").to_string(),
            Some("running") => {}
            other => panic!("training {other:?}: {s}"),
        }
        assert!(started.elapsed() < Duration::from_secs(900), "{s}");
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "studio training took {:?}; stages {stages:?}",
        started.elapsed()
    );
    assert!(stages.len() >= 2, "{stages:?}");

    // The report: candidate vs published, per intent, curve, and the pin the candidate fixes.
    let (status, report) = lead.get(&format!("/studio/api/models/{version}/report"));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["published"], own.v1.as_str());
    assert!(report["candidate_cv"]["curve"]
        .as_array()
        .is_some_and(|c| c.len() > 10));
    assert!(report["intents"]
        .as_array()
        .expect("intents")
        .iter()
        .any(|r| r["intent"] == PROBE_INTENT));
    let pins = report["regression"].as_array().expect("regression");
    assert_eq!(pins.len(), 1, "{report}");
    assert_eq!(pins[0]["status"], "fixed", "{}", pins[0]);

    // The dial: a target precision gives a threshold; that threshold gives back the precision.
    let (status, d) = lead.get(&format!("/studio/api/models/{version}/dial?precision=0.9"));
    assert_eq!(status, 200, "{d}");
    let threshold = d["threshold"].as_f64().expect("threshold");
    let (_, back) = lead.get(&format!(
        "/studio/api/models/{version}/dial?threshold={threshold}"
    ));
    assert_eq!(back["coverage"], d["coverage"]);
    assert_eq!(
        lead.get(&format!("/studio/api/models/{version}/dial?precision=2"))
            .0,
        422
    );

    // Publish with that threshold: this replica serves it at once and answers the probe.
    let (status, p) = lead.send(
        "POST",
        &format!("/studio/api/models/{version}/publish"),
        json!({ "threshold": threshold }),
    );
    assert_eq!(status, 200, "{p}");
    assert!((p["threshold"].as_f64().expect("threshold") - threshold).abs() < 1e-6);
    assert_eq!(
        served_model(&replica.base).as_deref(),
        Some(version.as_str())
    );
    assert_eq!(probe_intent(&replica.base).as_deref(), Some(PROBE_INTENT));

    // A version that does not load is refused, and the model keeps serving.
    let (status, e) = lead.send("POST", "/studio/api/models/v-nope/publish", json!({}));
    assert_eq!(status, 404, "{e}");
    let broken = own.dir.path().join("models/v-broken");
    crate::util::copy_dir(&own.dir.path().join("models").join(&version), &broken);
    std::fs::write(broken.join("neighbours.safetensors"), b"garbage").expect("corrupt");
    let (status, e) = lead.send("POST", "/studio/api/models/v-broken/publish", json!({}));
    assert_eq!(status, 422, "{e}");
    assert_eq!(
        served_model(&replica.base).as_deref(),
        Some(version.as_str())
    );

    // Roll back: v1 again.
    let (status, r) = lead.send("POST", "/studio/api/models/rollback", json!({}));
    assert_eq!(
        (status, r["version"].as_str()),
        (200, Some(own.v1.as_str())),
        "{r}"
    );
    assert_eq!(
        served_model(&replica.base).as_deref(),
        Some(own.v1.as_str())
    );
    assert_ne!(probe_intent(&replica.base).as_deref(), Some(PROBE_INTENT));

    // Versions and the audit log.
    let (_, versions) = lead.get("/studio/api/models");
    let list = versions["versions"].as_array().expect("versions");
    assert!(list
        .iter()
        .any(|v| v["version"] == version.as_str() && v["current"] == true));
    assert!(list
        .iter()
        .any(|v| v["version"] == own.v1.as_str() && v["published"] == true));
    let (_, audit) = lead.get("/studio/api/audit?limit=10");
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or("").into(),
                e["action"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    for action in ["model.train", "model.publish", "model.rollback"] {
        assert!(
            actions.contains(&("lead".into(), action.into())),
            "{action}: {actions:?}"
        );
    }
    assert_eq!(
        lead.send(
            "DELETE",
            &format!("/studio/api/regression/{}", pin["id"].as_str().expect("id")),
            json!({})
        )
        .0,
        204
    );
}

/// `serve` with the shared embedding cache (studio training runs use it).
fn serve_with_cache(ws: &TwoVersions, database: &str) -> Replica {
    let cache = repo().join("target/test-embedding-cache");
    serve_env(ws, database, &[("MADOGUCHI_CACHE", &cache)])
}
