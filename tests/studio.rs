//! The studio's inbox, intents and "try it" (issue 9 §1–2), over real HTTP on 127.0.0.1:0 with a
//! real SQLite database (and PostgreSQL where `MADOGUCHI_TEST_POSTGRES_URL` is set), a copy of the
//! default catalog in a temporary workspace, and a stand-in classifier whose embeddings are
//! hashed bags of words (so near-duplicates are near, and the test says which).
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use madoguchi::catalog::{Catalog, TrainingSet};
use madoguchi::domain::AccountRole;
use madoguchi::nlu::model::Alternative;
use madoguchi::nlu::queue::{ClassifyBackend, Loader};
use madoguchi::nlu::{Action, Classification, NluError, Reason};
use madoguchi::store::{NewAccount, Store};
use serde_json::{json, Value};

use crate::api::{
    call, expect, new_conversation, paths_in, sqlite_url, start, test_config, wait_ready, Resp,
    Server,
};
use crate::util::{block_on, copy_catalog, fresh_postgres, repo};

const PASSWORD: &str = "studio-password-1";

// ---------------------------------------------------------------------------------------------
// A stand-in classifier: keywords decide, embeddings are hashed bags of words.

struct Keywords;

fn classification(text: &str) -> Classification {
    let lower = text.to_lowercase();
    let name = |n: &str| Some(n.to_string().try_into().expect("intent name"));
    let (intent, confidence, action, reason, alternatives) = if lower.contains("weather") {
        (None, 0.1, Action::Handoff, Reason::OutOfScope, vec![])
    } else if lower.contains("thingamajig") {
        (
            name("refund_status"),
            0.3,
            Action::Handoff,
            Reason::LowConfidence,
            vec![],
        )
    } else if lower.contains("either") {
        let alt = Alternative {
            intent: "delivery_problem".to_string().try_into().expect("name"),
            confidence: 0.4,
        };
        (
            name("order_status"),
            0.45,
            Action::Clarify,
            Reason::Ambiguous,
            vec![alt],
        )
    } else if lower.contains("hours") {
        (
            name("business_hours"),
            0.96,
            Action::Answer,
            Reason::Confident,
            vec![],
        )
    } else {
        (
            name("greeting"),
            0.97,
            Action::Answer,
            Reason::Confident,
            vec![],
        )
    };
    Classification {
        text: text.to_string(),
        intent,
        confidence,
        action,
        reason,
        alternatives,
        threshold: 0.6,
    }
}

/// Lower-case alphanumeric words hashed into 64 buckets, L2-normalised.
fn bag_of_words(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; 64];
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let h = word.bytes().fold(2166136261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16777619)
        });
        v[(h % 64) as usize] += 1.0;
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.iter().map(|x| x / norm).collect()
}

impl ClassifyBackend for Keywords {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        Ok(texts.iter().map(|t| classification(t)).collect())
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NluError> {
        Ok(texts.iter().map(|t| bag_of_words(t)).collect())
    }
}

// ---------------------------------------------------------------------------------------------
// A server on a workspace of its own, and logged-in people.

struct Studio {
    server: Server,
    workspace: tempfile::TempDir,
    database: String,
}

fn studio(database: Option<String>) -> Studio {
    let workspace = tempfile::tempdir().expect("tempdir");
    copy_catalog(workspace.path());
    let database = database.unwrap_or_else(|| sqlite_url(workspace.path(), "studio.db"));
    let paths = paths_in(workspace.path(), Path::new("unused"));
    let loader: Loader = Box::new(|| Ok(Box::new(Keywords) as Box<dyn ClassifyBackend>));
    let server = wait_ready(start(paths, test_config(database.clone()), loader));
    for (name, role) in [
        ("lead", AccountRole::Lead),
        ("boss", AccountRole::Admin),
        ("plain", AccountRole::Agent),
    ] {
        add_account(&database, name, role);
    }
    Studio {
        server,
        workspace,
        database,
    }
}

fn add_account(database: &str, name: &str, role: AccountRole) {
    block_on(async {
        let store = Store::connect(database).await.expect("connect");
        let hash = madoguchi::web::console::password::hash_password(PASSWORD).expect("hash");
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

/// A response, redirects not followed.
struct Page {
    status: u16,
    location: Option<String>,
    set_cookie: Option<String>,
    body: String,
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], form: Option<String>) -> Page {
    let agent = ureq::AgentBuilder::new()
        .redirects(0)
        .timeout(Duration::from_secs(30))
        .build();
    let mut req = agent.request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match form {
        Some(f) => req
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(&f),
        None => req.call(),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    Page {
        status: response.status(),
        location: response.header("location").map(str::to_string),
        set_cookie: response.header("set-cookie").map(str::to_string),
        body: response.into_string().unwrap_or_default(),
    }
}

/// A logged-in person: the session cookie and the CSRF token.
struct Person<'a> {
    base: &'a str,
    cookie: String,
    csrf: String,
}

/// Logs in through the login form with `next=/studio` and reads the CSRF token from a page.
fn log_in<'a>(base: &'a str, name: &str) -> Person<'a> {
    let form = format!("username={name}&password={PASSWORD}&next=%2Fstudio");
    let r = request("POST", &format!("{base}/agent/login"), &[], Some(form));
    assert_eq!(r.status, 303, "login {name}: {}", r.body);
    assert_eq!(r.location.as_deref(), Some("/studio"), "next is honoured");
    let cookie = r
        .set_cookie
        .expect("a session cookie")
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
    let csrf = shell
        .body
        .split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the console shell carries the CSRF token")
        .to_string();
    Person { base, cookie, csrf }
}

impl Person<'_> {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| b.to_string());
        call(
            method,
            &format!("{}{path}", self.base),
            &[("Cookie", &self.cookie), ("X-CSRF-Token", &self.csrf)],
            body.as_deref().map(str::as_bytes),
        )
    }

    fn get(&self, path: &str) -> Resp {
        expect(self.call("GET", path, None), 200)
    }

    fn post(&self, path: &str, body: Value) -> Resp {
        expect(self.call("POST", path, Some(body)), 200)
    }
}

// ---------------------------------------------------------------------------------------------
// Seeding the inbox through the customer API.

/// What the seeding said, by text: (message id, conversation id).
type Seeded = HashMap<&'static str, String>;

fn seed(base: &str) -> Seeded {
    let mut ids = Seeded::new();
    let mut say = |c: &crate::api::Customer<'_>, text: &'static str| {
        let r = c.say_ok(text);
        ids.insert(
            text,
            r["message_id"].as_str().expect("message_id").to_string(),
        );
        r
    };
    // Out of scope, twice in one conversation: the second hands off after the miss.
    let a = new_conversation(base, json!({"locale": "en"}));
    say(&a, "Weather today?");
    say(&a, "weather, TODAY!");
    // Near-duplicate of those in another conversation, plus a different out-of-scope message.
    let b = new_conversation(base, json!({"locale": "en"}));
    say(&b, "today weather");
    say(&b, "How is the weather in Tokyo for my trip next week");
    // Low confidence, and a clarification.
    let c = new_conversation(base, json!({"locale": "en"}));
    say(&c, "where is my thingamajig refund");
    let d = new_conversation(base, json!({"locale": "en"}));
    say(&d, "is it either late or lost");
    // 👎 on an answer.
    let e = new_conversation(base, json!({"locale": "en"}));
    let answer = say(&e, "what are your opening hours");
    let reply_id = answer["reply_id"].as_str().expect("a reply").to_string();
    expect(
        e.post(
            &format!("/messages/{reply_id}/feedback"),
            json!({"helpful": false}),
        ),
        200,
    );
    // A confident conversation rated 1, and one nobody complained about.
    let f = new_conversation(base, json!({"locale": "en"}));
    say(&f, "hello there, nice shop");
    expect(f.post("/csat", json!({"score": 1})), 200);
    let g = new_conversation(base, json!({"locale": "en"}));
    say(&g, "hi, all good");
    ids
}

fn items(page: &Resp) -> Vec<Value> {
    page["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .flat_map(|g| g["items"].as_array().expect("items").clone())
        .collect()
}

fn item<'a>(all: &'a [Value], text: &str) -> Option<&'a Value> {
    all.iter().find(|i| i["text"] == text)
}

fn reasons(i: &Value) -> Vec<String> {
    i["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("reason").to_string())
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The workspace's catalog and training data load with the loader `madoguchi validate` uses.
fn assert_loads(workspace: &Path) -> TrainingSet {
    let (catalog, data, _) =
        madoguchi::catalog::load(&workspace.join("intents"), &workspace.join("training-data"))
            .unwrap_or_else(|e| panic!("the catalog no longer validates: {e}"));
    assert!(!catalog.intents.is_empty());
    data
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// The whole inbox flow against one database.
fn inbox_flow(s: &Studio) {
    let base = s.server.base.as_str();
    let ids = seed(base);
    let lead = log_in(base, "lead");
    let page = lead.get("/studio/api/inbox?similarity=0.95");
    assert_eq!(page["grouping"], "embedding", "\n{page}");
    let all = items(&page);
    let has = |text: &str, reason: &str| {
        let i = item(&all, text).unwrap_or_else(|| panic!("{text:?} missing from\n{page}"));
        assert!(reasons(i).iter().any(|r| r == reason), "{text:?}: {i}");
    };
    has("Weather today?", "out_of_scope");
    has("weather, TODAY!", "handed_off");
    has("where is my thingamajig refund", "low_confidence");
    has("is it either late or lost", "clarify");
    has("what are your opening hours", "thumbs_down");
    has("hello there, nice shop", "low_csat");
    assert!(
        item(&all, "hi, all good").is_none(),
        "confident and unrated: not a miss\n{page}"
    );
    let clarify = item(&all, "is it either late or lost").expect("clarify item");
    assert_eq!(clarify["intent"], "order_status");
    assert_eq!(clarify["alternatives"][0]["intent"], "delivery_problem");
    assert_eq!(clarify["locale"], "en");

    // Near-duplicates group together, largest group first; the Tokyo question stands alone.
    let first = &page["groups"][0];
    assert_eq!(first["size"], 3, "\n{page}");
    let mut texts: Vec<&str> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["text"].as_str().expect("text"))
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        ["Weather today?", "today weather", "weather, TODAY!"]
    );

    // Filters.
    let only = lead.get("/studio/api/inbox?reason=thumbs_down");
    assert_eq!(items(&only).len(), 1, "\n{only}");
    let search = lead.get("/studio/api/inbox?q=TOKYO");
    assert_eq!(items(&search).len(), 1, "\n{search}");
    let intent =
        lead.get("/studio/api/inbox?intent=order_status&min_confidence=0.4&max_confidence=0.5");
    assert_eq!(items(&intent).len(), 1, "\n{intent}");
    assert_eq!(items(&lead.get("/studio/api/inbox?locale=ja")).len(), 0);
    assert_eq!(
        items(&lead.get("/studio/api/inbox?since=2999-01-01T00:00:00Z")).len(),
        0
    );

    // Label the group out of scope: exactly three lines are appended, and the data still loads.
    let oos = s
        .workspace
        .path()
        .join("training-data/en/out_of_scope.yaml");
    let before = read(&oos);
    let group_ids: Vec<&str> = first["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["message_id"].as_str().expect("id"))
        .collect();
    let receipt = lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": group_ids, "action": "out_of_scope"}),
    );
    assert_eq!(receipt["decided"], 3, "\n{receipt}");
    assert_eq!(receipt["retrain_needed"], true);
    let after = read(&oos);
    let mut added: Vec<&str> = after
        .strip_prefix(before.as_str())
        .unwrap_or_else(|| panic!("only appended:\n{after}"))
        .lines()
        .collect();
    added.sort();
    assert_eq!(
        added,
        ["- Weather today?", "- today weather", "- weather, TODAY!"]
    );
    let data = assert_loads(s.workspace.path());
    assert!(data
        .examples
        .iter()
        .any(|u| u.text == "today weather" && u.intent.is_none()));
    let left = items(&lead.get("/studio/api/inbox"));
    assert!(
        item(&left, "today weather").is_none(),
        "labelled messages leave the inbox"
    );

    // Undo: the file is as it was, the messages are back.
    let batch = receipt["batch_id"].as_str().expect("batch id");
    let undone = lead.post(&format!("/studio/api/inbox/undo/{batch}"), json!({}));
    assert_eq!(undone["restored"], 3, "\n{undone}");
    assert_eq!(read(&oos), before);
    assert!(item(&items(&lead.get("/studio/api/inbox")), "today weather").is_some());
    let again = lead.call(
        "POST",
        &format!("/studio/api/inbox/undo/{batch}"),
        Some(json!({})),
    );
    assert_eq!(again.status, 404, "\n{again}");

    // Assign to an intent (one message).
    let hours = ids["what are your opening hours"].as_str();
    let labelled = lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": [hours], "action": "label", "intent": "business_hours"}),
    );
    let file = s
        .workspace
        .path()
        .join("training-data/en/business_hours.yaml");
    assert!(
        read(&file).ends_with("\n- what are your opening hours\n"),
        "{labelled}"
    );
    assert_loads(s.workspace.path());
    let twice = lead.call(
        "POST",
        "/studio/api/inbox/actions",
        Some(json!({"message_ids": [hours], "action": "ignore"})),
    );
    assert_eq!(twice.status, 409, "a message is decided once\n{twice}");

    // Ignore: gone for good, nothing written.
    let tokyo = ids["How is the weather in Tokyo for my trip next week"].as_str();
    let before_oos = read(&oos);
    lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": [tokyo], "action": "ignore"}),
    );
    assert_eq!(read(&oos), before_oos);
    assert!(item(
        &items(&lead.get("/studio/api/inbox")),
        "How is the weather in Tokyo for my trip next week"
    )
    .is_none());

    // Bad input loses nothing.
    let unknown = lead.call(
        "POST",
        "/studio/api/inbox/actions",
        Some(json!({"message_ids": [ids["today weather"]], "action": "label", "intent": "no_such_intent"})),
    );
    assert_eq!(unknown.status, 422, "\n{unknown}");
    let empty = lead.call(
        "POST",
        "/studio/api/inbox/actions",
        Some(json!({"message_ids": [], "action": "ignore"})),
    );
    assert_eq!(empty.status, 422, "\n{empty}");
}

#[test]
fn inbox_collects_groups_labels_undoes_and_ignores_on_sqlite() {
    let s = studio(None);
    inbox_flow(&s);
}

#[test]
fn inbox_collects_groups_labels_undoes_and_ignores_on_postgres() {
    let Some(db) = fresh_postgres("inbox_on_postgres") else {
        return;
    };
    let s = studio(Some(db.url.clone()));
    inbox_flow(&s);
    drop(s);
}

#[test]
fn personal_data_is_masked_unless_the_lead_unticks_it() {
    let s = studio(None);
    let base = s.server.base.as_str();
    let c = new_conversation(base, json!({"locale": "en"}));
    let masked = c.say_ok("weather alert for order MD12345678, mail taro@example.com")
        ["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let kept = c.say_ok("weather note: call me on 090-1234-5678")["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let lead = log_in(base, "lead");
    lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": [masked], "action": "out_of_scope"}),
    );
    lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": [kept], "action": "out_of_scope", "mask": false}),
    );
    let text = read(
        &s.workspace
            .path()
            .join("training-data/en/out_of_scope.yaml"),
    );
    assert!(
        text.ends_with(
            "- weather alert for order {order_id}, mail {email}\n- \"weather note: call me on 090-1234-5678\"\n"
        ),
        "{text}"
    );
    assert!(!text.contains("taro@example.com"));
    assert_loads(s.workspace.path());
}

#[test]
fn a_new_intent_is_created_from_the_inbox() {
    let s = studio(None);
    let base = s.server.base.as_str();
    let c = new_conversation(base, json!({"locale": "en"}));
    let id = c.say_ok("what is the weather like for delivery")["message_id"]
        .as_str()
        .expect("id")
        .to_string();
    let lead = log_in(base, "lead");
    let draft = json!({
        "name": "weather_delays",
        "description": "The customer asks whether weather delays deliveries.",
        "handoff": "never",
        "templates": {
            "ja": ["悪天候の地域では配送が遅れることがあります。"],
            "en": ["Deliveries to areas with severe weather may be delayed."]
        }
    });
    let bad = lead.call(
        "POST",
        "/studio/api/inbox/actions",
        Some(json!({"message_ids": [id], "action": "new_intent", "intent": {"name": "greeting", "description": "x", "templates": draft["templates"]}})),
    );
    assert_eq!(bad.status, 409, "an existing name\n{bad}");
    let receipt = lead.post(
        "/studio/api/inbox/actions",
        json!({"message_ids": [id], "action": "new_intent", "intent": draft}),
    );
    assert!(receipt["created_intent"].as_str().is_some(), "\n{receipt}");
    let intent_file = s.workspace.path().join("intents/weather_delays.yaml");
    let mut problems = Vec::new();
    let catalog = Catalog::load(&s.workspace.path().join("intents"), &mut problems).expect("load");
    assert!(problems.is_empty(), "{problems:?}\n{}", read(&intent_file));
    let created = catalog.get("weather_delays").expect("the new intent");
    assert_eq!(created.handoff, madoguchi::catalog::HandoffMode::Never);
    assert_eq!(
        read(&s.workspace.path().join("training-data/en/weather_delays.yaml")),
        "# weather_delays (en): customer messages, one per line\n- what is the weather like for delivery\n"
    );
    // The intent is listed (with too few examples for training, which the list says).
    let list = lead.get("/studio/api/intents");
    let listed = list["intents"]
        .as_array()
        .expect("intents")
        .iter()
        .find(|i| i["name"] == "weather_delays")
        .cloned()
        .expect("listed");
    assert_eq!(listed["examples"]["en"], 1);
    assert!(list["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.contains("too few examples"))));
}

#[test]
fn intents_are_listed_edited_checked_and_previewed() {
    let s = studio(None);
    let base = s.server.base.as_str();
    let lead = log_in(base, "lead");
    let list = lead.get("/studio/api/intents");
    let cancel = list["intents"]
        .as_array()
        .expect("intents")
        .iter()
        .find(|i| i["name"] == "cancel_order")
        .cloned()
        .expect("cancel_order");
    assert!(
        cancel["examples"]["en"].as_u64().expect("count") >= 40,
        "{cancel}"
    );
    let file: serde_json::Value = serde_norway::from_str(
        &std::fs::read_to_string(repo().join("intents/cancel_order.yaml")).expect("intent file"),
    )
    .expect("yaml");
    let in_file = file["templates"]["ja"]
        .as_array()
        .expect("ja templates")
        .len();
    assert_eq!(cancel["templates"]["ja"], in_file);
    assert_eq!(list["locales"], json!(["ja", "en"]));

    let detail = lead.get("/studio/api/intents/cancel_order");
    let mut intent = detail["intent"].clone();
    assert_eq!(intent["name"], "cancel_order");

    // An undeclared variable: refused inline and on save, the file untouched.
    let file = s.workspace.path().join("intents/cancel_order.yaml");
    let original = read(&file);
    intent["templates"]["en"][0] = json!("Order {{ order_id }} for {{ nickname }} is cancelled.");
    let checked = lead.post("/studio/api/intents/cancel_order/check", intent.clone());
    let problems = checked["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p.as_str().is_some_and(|p| p.contains("nickname"))),
        "{checked}"
    );
    let refused = lead.call(
        "PUT",
        "/studio/api/intents/cancel_order",
        Some(intent.clone()),
    );
    assert_eq!(refused.status, 422, "\n{refused}");
    assert!(refused.text.contains("nickname"), "\n{refused}");
    assert_eq!(read(&file), original);

    // The live preview renders with sample values.
    let preview = lead.post(
        "/studio/api/preview",
        json!({"intent": intent, "locale": "en", "samples": {"order_id": "MD55554444"}}),
    );
    assert!(
        preview["rendered"][1]["text"]
            .as_str()
            .expect("text")
            .contains("MD55554444"),
        "{preview}"
    );

    // A template-only edit applies at once; the file still loads.
    intent["templates"]["en"][0] = json!("{% if order_id is defined %}Order {{ order_id }}{% else %}Your order{% endif %} can be cancelled before it ships.");
    let saved = expect(
        lead.call(
            "PUT",
            "/studio/api/intents/cancel_order",
            Some(intent.clone()),
        ),
        200,
    );
    assert_eq!(saved["applies"], "at_once", "\n{saved}");
    assert_eq!(saved["changed"], json!(["templates"]));
    let mut problems = Vec::new();
    let catalog = Catalog::load(&s.workspace.path().join("intents"), &mut problems).expect("load");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(
        catalog.get("cancel_order").expect("intent").templates["en"][0],
        "{% if order_id is defined %}Order {{ order_id }}{% else %}Your order{% endif %} can be cancelled before it ships."
    );
    // A threshold is part of the model: retrain.
    intent["threshold"] = json!(0.8);
    let saved = expect(
        lead.call("PUT", "/studio/api/intents/cancel_order", Some(intent)),
        200,
    );
    assert_eq!(saved["applies"], "after_retrain", "\n{saved}");
    assert_eq!(saved["retrain_needed"], true);
}

#[test]
fn try_it_says_what_the_bot_would_do_and_stores_nothing() {
    let s = studio(None);
    let base = s.server.base.as_str();
    let lead = log_in(base, "lead");
    let r = lead.post(
        "/studio/api/try",
        json!({"text": "what are your business hours", "locale": "en"}),
    );
    assert_eq!(r["intent"], "business_hours", "\n{r}");
    assert_eq!(r["action"], "answer");
    assert!(r["confidence"].as_f64().expect("confidence") > 0.9);
    assert!(r["reply"].as_str().is_some_and(|t| !t.is_empty()), "\n{r}");
    let neighbours = r["neighbours"].as_array().expect("neighbours");
    assert_eq!(neighbours.len(), 5, "\n{r}");
    let top = neighbours[0]["similarity"].as_f64().expect("similarity");
    assert!(neighbours
        .iter()
        .all(|n| n["similarity"].as_f64().expect("s") <= top));
    let r = lead.post(
        "/studio/api/try",
        json!({"text": "weather?", "locale": "en"}),
    );
    assert_eq!(r["intent"], Value::Null);
    assert_eq!(r["turn"], "out_of_scope", "\n{r}");
    let bad = lead.call("POST", "/studio/api/try", Some(json!({"text": "  "})));
    assert_eq!(bad.status, 422, "\n{bad}");
    // Nothing was stored: the inbox has no item.
    assert_eq!(lead.get("/studio/api/inbox")["total_items"], 0);
    let stored = block_on(async {
        let store = Store::connect(&s.database).await.expect("connect");
        let kpis = store.kpis(None).await.expect("kpis");
        store.close().await;
        kpis
    });
    assert_eq!(stored.conversations, 0, "try it stores no conversation");
}

#[test]
fn agents_and_strangers_are_refused_the_studio() {
    let s = studio(None);
    let base = s.server.base.as_str();
    let page = request("GET", &format!("{base}/studio"), &[], None);
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/agent/login?next=/studio"));
    let login = request(
        "GET",
        &format!("{base}/agent/login?next=/studio"),
        &[],
        None,
    );
    assert!(
        login.body.contains(r#"name="next" value="/studio""#),
        "{}",
        login.body
    );
    let evil = request(
        "GET",
        &format!("{base}/agent/login?next=//evil.example/"),
        &[],
        None,
    );
    assert!(!evil.body.contains("evil.example"), "{}", evil.body);

    let lead = log_in(base, "boss");
    let shell = request(
        "GET",
        &format!("{base}/studio"),
        &[("Cookie", &lead.cookie)],
        None,
    );
    assert_eq!(shell.status, 200);
    assert!(shell.body.contains("/studio/assets/studio.js"));

    let agent = log_in(base, "plain");
    let page = request(
        "GET",
        &format!("{base}/studio"),
        &[("Cookie", &agent.cookie)],
        None,
    );
    assert_eq!(page.status, 403, "{}", page.body);
    let endpoints: &[(&str, &str, Option<Value>)] = &[
        ("GET", "/studio/api/inbox", None),
        (
            "POST",
            "/studio/api/inbox/actions",
            Some(json!({"message_ids": [uuid::Uuid::new_v4()], "action": "ignore"})),
        ),
        (
            "POST",
            &format!("/studio/api/inbox/undo/{}", uuid::Uuid::new_v4()),
            Some(json!({})),
        ),
        (
            "GET",
            &format!(
                "/studio/api/conversations/{}/messages",
                uuid::Uuid::new_v4()
            ),
            None,
        ),
        ("GET", "/studio/api/intents", None),
        ("GET", "/studio/api/intents/greeting", None),
        ("PUT", "/studio/api/intents/greeting", Some(json!({}))),
        (
            "POST",
            "/studio/api/intents/greeting/check",
            Some(json!({})),
        ),
        ("POST", "/studio/api/preview", Some(json!({}))),
        ("POST", "/studio/api/try", Some(json!({"text": "hi"}))),
    ];
    for (method, path, body) in endpoints {
        let r = agent.call(method, path, body.clone());
        assert_eq!(r.status, 403, "agent on {method} {path}\n{r}");
        assert_eq!(r["error"]["code"], "forbidden", "\n{r}");
        let stranger = call(
            method,
            &format!("{base}{path}"),
            &[],
            body.as_ref()
                .map(|b| b.to_string())
                .as_deref()
                .map(str::as_bytes),
        );
        assert_eq!(
            stranger.status, 401,
            "no session on {method} {path}\n{stranger}"
        );
    }
    // A state-changing request without the CSRF token is refused even for a lead.
    let no_csrf = call(
        "POST",
        &format!("{base}/studio/api/try"),
        &[("Cookie", &lead.cookie)],
        Some(json!({"text": "hi"}).to_string().as_bytes()),
    );
    assert_eq!(no_csrf.status, 403, "\n{no_csrf}");
}
