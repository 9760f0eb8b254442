//! Scale-out: three real `madoguchi serve` replicas on one PostgreSQL database, started at once,
//! with no sticky sessions — every request goes to the next replica in turn. Customers and agents
//! on different replicas share the handoff queue, claims (two agents on two replicas: one wins),
//! live events (a stream on one replica sees an agent's reply sent through another), published
//! model versions (all switch) and the webhook outbox; a replica `kill -9`ed mid-load loses
//! nothing, its customers resending to the others.
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::api::{new_conversation, subscribe, Customer};
use crate::crowd::{
    free_addr, report, verify, Crowd, Hooks, Http, Outcome, ServeSpec, Served, Targets,
};
use crate::util::{copy_dir, fresh_postgres, madoguchi, show, trained_workspace};

const REPLICAS: usize = 3;
/// The second agent (besides `admin`), created with the CLI.
const AGENT: &str = "yuki";

#[test]
fn three_replicas_on_one_postgres_share_queue_claims_events_models_and_outbox() {
    let Some(pg) = fresh_postgres("three_replicas_on_one_postgres") else {
        return;
    };
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    // A workspace of our own: a second model version is added to it below.
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(ws.path(), dir.path());
    let hooks = Hooks::start();
    let spec = |bind: String| ServeSpec {
        dir: dir.path().to_path_buf(),
        encoder: encoder.clone(),
        database: pg.url.clone(),
        bind,
        webhook_url: Some(hooks.url.clone()),
    };
    // Started at once on a fresh database: each migrates, records the model and creates the
    // first account, racing the others.
    let starting: Vec<_> = (0..REPLICAS)
        .map(|_| {
            let spec = spec(free_addr());
            std::thread::spawn(move || Served::start(spec))
        })
        .collect();
    let mut replicas: Vec<Served> = starting
        .into_iter()
        .map(|t| t.join().expect("replica started"))
        .collect();
    for r in &replicas {
        r.wait_ready();
    }
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let version = same_model(&bases);
    add_agent(dir.path(), &pg.url);

    live_reply_crosses_replicas(&bases);
    let claims = concurrent_claims_have_one_winner(&bases, 8);

    // Load over all three, round-robin; a publish mid-load; one replica killed mid-load.
    let targets = Targets::new(bases.clone());
    let crowd = Crowd::start(&targets, 60);
    std::thread::sleep(Duration::from_secs(4));
    let copy = copy_version(dir.path(), &version, "v-replicas-copy");
    let published = Instant::now();
    let out = madoguchi(
        dir.path(),
        &["model", "publish", &copy, "--database", &pg.url],
        b"",
    );
    assert!(out.status.success(), "{}", show("model publish", &out));
    let switched: Vec<Duration> = bases.iter().map(|b| wait_model(b, &copy)).collect();
    let switch_after = published.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let before_kill = crowd.conversations();
    replicas[REPLICAS - 1].kill9();
    std::thread::sleep(Duration::from_millis(500));
    targets.remove(&bases[REPLICAS - 1]);
    std::thread::sleep(Duration::from_secs(6));
    let (seen, tally) = crowd.finish();
    let failures = tally.failures.lock().expect("failures").clone();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let counts = verify(&pg.url, &seen, Some(&hooks), Duration::from_secs(100));
    report(&format!(
        "replicas: {REPLICAS} on one PostgreSQL; {claims} tickets claimed at once from two \
         replicas, one winner each; publish reached every replica within {switch_after:.2?} \
         ({switched:.2?}); one replica killed after {before_kill} conversations, customers \
         resent {} requests; checked: {counts}",
        tally.resends.load(std::sync::atomic::Ordering::Relaxed)
    ));
    drop(replicas);
}

/// Every replica serves the same published version; returns it.
fn same_model(bases: &[String]) -> String {
    let models: Vec<String> = bases.iter().map(|b| served_model(b)).collect();
    assert!(models.iter().all(|m| *m == models[0]), "{models:?}");
    models[0].clone()
}

fn served_model(base: &str) -> String {
    match Http::new().send("GET", &format!("{base}/readyz"), &[], None) {
        Outcome::Answer(200, v) => v["model"].as_str().unwrap_or_default().to_string(),
        Outcome::Answer(status, v) => panic!("{base}/readyz: {status} {v}"),
        Outcome::NoAnswer(e) => panic!("{base}/readyz: {e}"),
    }
}

/// Waits (≤ 5 s) until `base` serves `version`; returns how long it took.
fn wait_model(base: &str, version: &str) -> Duration {
    let started = Instant::now();
    while served_model(base) != version {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{base} still serves {}, not {version}",
            served_model(base)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

fn add_agent(dir: &Path, database: &str) {
    let args = [
        "user",
        "add",
        AGENT,
        "--role",
        "agent",
        "--database",
        database,
    ];
    let out = madoguchi(dir, &args, b"agent-password-1\n");
    assert!(out.status.success(), "{}", show("user add", &out));
}

/// A copy of model `from` named `name` (same weights, its own manifest); returns the name.
fn copy_version(dir: &Path, from: &str, name: &str) -> String {
    let models = dir.join("models");
    copy_dir(&models.join(from), &models.join(name));
    let path = models.join(name).join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("manifest")).expect("json");
    manifest["version"] = json!(name);
    std::fs::write(&path, manifest.to_string()).expect("write manifest");
    name.to_string()
}

fn agent_call(
    base: &str,
    agent: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    match Http::new().agent(base, agent, method, path, body.as_ref()) {
        Outcome::Answer(status, v) => (status, v),
        Outcome::NoAnswer(e) => panic!("{method} {base}{path} as {agent}: {e}"),
    }
}

/// A customer on replica A asks for a person through replica B; the ticket is in the queue of
/// replica C; an agent claims and replies through C; the customer's live stream on A gets it.
fn live_reply_crosses_replicas(bases: &[String]) {
    let (a, b, c) = (&bases[0], &bases[1], &bases[2]);
    let on_a = new_conversation(a, json!({ "locale": "en" }));
    let events = subscribe(&on_a);
    let on_b = Customer {
        base: b,
        id: on_a.id.clone(),
        token: on_a.token.clone(),
    };
    let r = on_b.say_ok("I want to talk to a human");
    let ticket = r["handoff"]["ticket_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no ticket:\n{r}"))
        .to_string();
    let (status, queue) = agent_call(c, "admin", "GET", "/v1/handoffs?status=waiting", None);
    assert_eq!(status, 200, "{queue}");
    let listed = queue["handoffs"].as_array();
    assert!(
        listed.is_some_and(|l| l.iter().any(|t| t["id"] == ticket.as_str())),
        "ticket {ticket} (opened via {b}) not in the queue of {c}: {queue}"
    );
    let claim = format!("/v1/handoffs/{ticket}/claim");
    assert_eq!(agent_call(c, "admin", "POST", &claim, None).0, 200);
    let reply = "Hello, this is a person (replica C).";
    let path = format!("/v1/handoffs/{ticket}/reply");
    let (status, v) = agent_call(c, "admin", "POST", &path, Some(json!({ "text": reply })));
    assert_eq!(status, 200, "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("the stream on {a} never got the reply sent via {c}"));
        if event["text"] == reply {
            assert_eq!(event["role"], "agent", "{event}");
            break;
        }
    }
}

/// `n` tickets, each claimed at the same moment by two agents through two replicas: exactly one
/// 200 and one 409 each, and the ticket names the winner on every replica.
fn concurrent_claims_have_one_winner(bases: &[String], n: usize) -> usize {
    for i in 0..n {
        let customer = new_conversation(&bases[i % bases.len()], json!({ "locale": "ja" }));
        let r = customer.say_ok("担当者と話したいです");
        let ticket = r["handoff"]["ticket_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no ticket:\n{r}"))
            .to_string();
        let path = format!("/v1/handoffs/{ticket}/claim");
        let barrier = Arc::new(Barrier::new(2));
        let claims: Vec<_> = [("admin", &bases[1]), (AGENT, &bases[2])]
            .into_iter()
            .map(|(agent, base)| {
                let (barrier, base, path) = (barrier.clone(), base.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    (agent, agent_call(&base, agent, "POST", &path, None))
                })
            })
            .collect();
        let results: Vec<_> = claims
            .into_iter()
            .map(|t| t.join().expect("claim"))
            .collect();
        let winners: Vec<&str> = results
            .iter()
            .filter(|(_, (status, _))| *status == 200)
            .map(|(agent, _)| *agent)
            .collect();
        let losers = results.iter().filter(|(_, (s, _))| *s == 409).count();
        assert!(
            winners.len() == 1 && losers == 1,
            "ticket {ticket}: {results:?}"
        );
        for base in bases {
            let (status, t) = agent_call(
                base,
                "admin",
                "GET",
                &format!("/v1/handoffs/{ticket}"),
                None,
            );
            assert_eq!(status, 200, "{t}");
            assert_eq!(t["claimed_by"], winners[0], "{base}: {t}");
        }
    }
    n
}
