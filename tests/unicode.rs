//! Unicode edge cases end to end, on SQLite and PostgreSQL: RTL marks and overrides, long runs of
//! combining characters, emoji ZWJ sequences, half-width katakana, 4-byte characters, zero-width
//! and line-separator characters, decomposed accents — sent as customer messages, customer names,
//! agent replies, notes, CSAT and feedback comments — come back byte for byte through the
//! transcript and ticket APIs. NUL (which PostgreSQL cannot store in text) is refused with a clear
//! 422 everywhere, lone surrogate escapes with a clear 400, and neither stores anything.
//!
//! A stand-in classifier keeps these tests independent of the encoder ("human" hands off).
use std::time::Duration;

use serde_json::{json, Value};

use crate::api::{
    agent_call, call, expect, expect_error, fake_server, new_conversation, Customer, Server,
    API_KEY,
};
use crate::util::fresh_postgres;

/// Text that must survive storage exactly.
fn cases() -> Vec<(&'static str, String)> {
    vec![
        (
            "rtl",
            "مرحبا \u{200F}abc \u{202E}txet desrever\u{202C} שלום\u{200E}".into(),
        ),
        ("combining", format!("e{}", "\u{301}".repeat(3_000))),
        (
            "zwj_emoji",
            "👩\u{200D}👩\u{200D}👧\u{200D}👦 🏳\u{FE0F}\u{200D}🌈 👍🏽 🧑🏿\u{200D}💻".into(),
        ),
        ("halfwidth_katakana", "ｶﾞｷﾞｸﾞ ﾊﾟﾝﾂ ｱｲｳｴｵ ｰ｡｢｣".into()),
        ("four_byte", "𠮷野家 𩸽 🀄 𝐀𝐁 \u{10FFFF}".into()),
        (
            "invisible",
            "\u{FEFF}a\u{200B}b\u{200C}c\u{2060}d\u{00AD}e".into(),
        ),
        (
            "separators",
            "line\u{2028}para\u{2029}nel\u{85}tab\tend".into(),
        ),
        ("decomposed", "Cafe\u{301} vs Café, ｶ\u{3099} vs ガ".into()),
        (
            "specials",
            "\u{E000}\u{F8FF}\u{FFFD}\u{FFFF}\u{1}\u{7F}\u{9F}".into(),
        ),
        ("surrogate_pair_escape", "😀".into()),
    ]
}

/// The longest note or agent reply allowed, all combining marks after one letter.
fn combining_10k() -> String {
    format!("a{}", "\u{300}".repeat(9_999))
}

fn with_server(test: &str, run: impl Fn(&Server)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = fake_server(dir.path(), Duration::ZERO, |_| {});
    run(&sqlite);
    drop(sqlite);
    if let Some(db) = fresh_postgres(test) {
        let url = db.url.clone();
        let pg = fake_server(dir.path(), Duration::ZERO, move |c| c.database = url);
        run(&pg);
    }
}

fn messages(c: &Customer<'_>) -> Vec<Value> {
    c.transcript()["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Sends `text` as a raw JSON body `{"text": <text_json>}` (escapes written by hand).
fn say_raw(c: &Customer<'_>, text_json: &str) -> crate::api::Resp {
    call(
        "POST",
        &format!("{}/v1/conversations/{}/messages", c.base, c.id),
        &[("Authorization", &c.auth())],
        Some(format!("{{\"text\": {text_json}}}").as_bytes()),
    )
}

#[test]
fn customer_text_and_names_come_back_byte_for_byte() {
    with_server("unicode_customer_text", |s| {
        for (name, text) in cases() {
            // The name alone: the customer metadata is limited to 8 KiB of JSON, and the
            // combining-marks case is 6 KB (tests/access.rs covers the limit).
            let c = new_conversation(&s.base, json!({"customer": {"name": text}}));
            let r = if name == "surrogate_pair_escape" {
                say_raw(&c, "\"\\ud83d\\ude00\"")
            } else {
                c.say(&text)
            };
            expect(r, 200);
            let t = c.transcript();
            assert_eq!(
                t["customer"]["name"].as_str(),
                Some(text.as_str()),
                "{name}\n{t}"
            );
            let customer_message = messages(&c)
                .into_iter()
                .find(|m| m["role"] == "customer")
                .unwrap_or_else(|| panic!("{name}: no customer message\n{t}"));
            assert_eq!(
                customer_message["text"].as_str().map(str::as_bytes),
                Some(text.as_bytes()),
                "{name}: the stored message differs"
            );
        }
    });
}

#[test]
fn agent_replies_notes_and_comments_come_back_byte_for_byte() {
    with_server("unicode_agent_text", |s| {
        let mut texts = cases();
        texts.push(("combining_10k", combining_10k()));
        for (name, text) in texts {
            let c = new_conversation(&s.base, json!({}));
            let handed = expect(c.say("a human please"), 200);
            let ticket = handed["handoff"]["ticket_id"]
                .as_str()
                .expect("ticket")
                .to_string();
            let path = format!("/v1/handoffs/{ticket}");
            expect(
                agent_call(&s.base, "POST", &format!("{path}/claim"), "alice", None),
                200,
            );
            expect(
                agent_call(
                    &s.base,
                    "POST",
                    &format!("{path}/reply"),
                    "alice",
                    Some(json!({"text": text})),
                ),
                200,
            );
            expect(
                agent_call(
                    &s.base,
                    "POST",
                    &format!("{path}/notes"),
                    "alice",
                    Some(json!({"text": text})),
                ),
                200,
            );
            let detail = expect(agent_call(&s.base, "GET", &path, "alice", None), 200);
            let notes = detail.body.to_string();
            let note_texts: Vec<&str> = detail["notes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["text"].as_str())
                .collect();
            assert_eq!(note_texts, [text.as_str()], "{name}: notes {notes}");
            let agent_message = messages(&c)
                .into_iter()
                .find(|m| m["role"] == "agent")
                .unwrap_or_else(|| panic!("{name}: no agent message"));
            assert_eq!(
                agent_message["text"].as_str(),
                Some(text.as_str()),
                "{name}"
            );
            if text.chars().count() <= 2_000 {
                expect(c.post("/csat", json!({"score": 4, "comment": text})), 200);
                let t = c.transcript();
                assert_eq!(t["csat_comment"].as_str(), Some(text.as_str()), "{name}");
            }
        }
    });
}

#[test]
fn nul_is_refused_with_422_everywhere_and_nothing_is_stored() {
    with_server("unicode_nul", |s| {
        let nul = "before\u{0}after";
        // Starting a conversation with NUL in the customer's data.
        let r = call(
            "POST",
            &format!("{}/v1/conversations", s.base),
            &[],
            Some(json!({"customer": {"name": nul}}).to_string().as_bytes()),
        );
        let r = expect_error(r, 422, "unprocessable");
        assert!(r.text.contains("NUL"), "{r}");

        let c = new_conversation(&s.base, json!({}));
        expect(c.say("hello"), 200);
        let before = messages(&c).len();
        let r = expect_error(c.say(nul), 422, "unprocessable");
        assert!(r.text.contains("NUL"), "{r}");
        let bot = messages(&c)
            .into_iter()
            .find(|m| m["role"] == "bot")
            .and_then(|m| m["id"].as_str().map(str::to_string))
            .expect("a bot message");
        let r = c.post(
            &format!("/messages/{bot}/feedback"),
            json!({"helpful": false, "comment": nul}),
        );
        expect_error(r, 422, "unprocessable");
        expect_error(
            c.post("/csat", json!({"score": 3, "comment": nul})),
            422,
            "unprocessable",
        );
        assert_eq!(messages(&c).len(), before, "a refused message was stored");
        assert!(c.transcript()["csat_score"].is_null());

        let r = call(
            "POST",
            &format!("{}/v1/classify", s.base),
            &[("Authorization", &format!("Bearer {API_KEY}"))],
            Some(json!({"texts": [nul]}).to_string().as_bytes()),
        );
        expect_error(r, 422, "unprocessable");

        let handed = expect(c.say("a human please"), 200);
        let ticket = handed["handoff"]["ticket_id"]
            .as_str()
            .expect("ticket")
            .to_string();
        let path = format!("/v1/handoffs/{ticket}");
        expect(
            agent_call(&s.base, "POST", &format!("{path}/claim"), "bob", None),
            200,
        );
        for action in ["reply", "notes"] {
            let r = agent_call(
                &s.base,
                "POST",
                &format!("{path}/{action}"),
                "bob",
                Some(json!({"text": nul})),
            );
            expect_error(r, 422, "unprocessable");
        }
        let r = agent_call(
            &s.base,
            "POST",
            &format!("{path}/resolve"),
            "bob",
            Some(json!({"resolution_code": nul})),
        );
        expect_error(r, 422, "unprocessable");
        let detail = expect(agent_call(&s.base, "GET", &path, "bob", None), 200);
        assert_eq!(
            detail["notes"].as_array().map(Vec::len),
            Some(0),
            "{detail}"
        );
        assert!(messages(&c).iter().all(|m| m["role"] != "agent"));
        // An escaped backslash before "u0000" is the text "\u0000", not NUL: stored as sent.
        expect(say_raw(&c, "\"a \\\\u0000 b\""), 200);
        assert!(messages(&c).iter().any(|m| m["text"] == "a \\u0000 b"));
    });
}

#[test]
fn lone_surrogate_escapes_are_refused_with_400_and_nothing_is_stored() {
    with_server("unicode_surrogates", |s| {
        let c = new_conversation(&s.base, json!({}));
        expect(c.say("hello"), 200);
        let before = messages(&c).len();
        for escape in [
            "\"\\ud800\"",
            "\"a\\udfffb\"",
            "\"\\ud83d x\"",
            "\"\\ude00\\ud83d\"",
        ] {
            let r = expect_error(say_raw(&c, escape), 400, "bad_request");
            assert!(r.text.contains("not valid JSON"), "{r}");
        }
        assert_eq!(messages(&c).len(), before);
    });
}

#[test]
fn console_login_with_nul_in_the_name_is_refused_not_an_error() {
    // Regression: on PostgreSQL the account lookup failed ("invalid byte sequence") with a 500.
    with_server("unicode_login_nul", |s| {
        let r = ureq::post(&format!("{}/agent/login", s.base))
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string("username=al%00ice&password=agent-password");
        let status = match r {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("POST /agent/login: {e}"),
        };
        assert_eq!(status, 401, "a NUL in the account name");
    });
}
