//! Plays scripted conversations against the conversation service (the real model, a real store)
//! and checks every bot turn against its expectations.
use unicode_normalization::UnicodeNormalization;

use super::report::{SuiteReport, Verdict};
use super::spec::{Expect, Script, Step};
use crate::conversation::{Conversations, TurnReply};
use crate::domain::IntentName;

/// Plays every script in a fresh conversation, one after the other.
pub async fn play_suite(service: &Conversations, scripts: &[Script]) -> SuiteReport {
    let mut verdicts = Vec::with_capacity(scripts.len());
    for script in scripts {
        verdicts.push(play(service, script).await);
    }
    SuiteReport { verdicts }
}

async fn play(service: &Conversations, script: &Script) -> Verdict {
    let mut verdict = Verdict::new(script);
    let started = service
        .start(script.locale.as_deref(), script.customer.clone())
        .await;
    let conversation = match started {
        Ok(started) => started.conversation,
        Err(e) => {
            verdict.fail(0, format!("cannot start the conversation: {e}"));
            return verdict;
        }
    };
    let mut last: Option<TurnReply> = None;
    for (i, step) in script.turns.iter().enumerate() {
        let turn = i + 1;
        let text = match message_of(step, last.as_ref()) {
            Ok(text) => text,
            Err(problem) => {
                verdict.fail(turn, problem);
                break;
            }
        };
        match service.customer_turn(&conversation, &text, None).await {
            Ok(reply) => {
                for problem in check(&step.expect, &reply) {
                    verdict.fail(turn, problem);
                }
                verdict.transcript.push((text, describe(&reply)));
                last = Some(reply);
            }
            Err(e) => {
                verdict.fail(turn, format!("the turn failed: {e}"));
                break;
            }
        }
    }
    verdict
}

/// What the customer sends: the typed text, or the value of the clicked quick reply.
fn message_of(step: &Step, last: Option<&TurnReply>) -> Result<String, String> {
    if let Some(text) = &step.say {
        return Ok(text.clone());
    }
    let wanted = step.click.as_ref().map(|i| i.as_str()).unwrap_or_default();
    last.into_iter()
        .flat_map(|t| &t.quick_replies)
        .find(|q| q.value.as_str() == wanted)
        .map(|q| q.value.to_string())
        .ok_or_else(|| format!("no quick reply for {wanted} was offered"))
}

/// One line for the report: what the bot did, and said.
fn describe(reply: &TurnReply) -> String {
    let intent = reply.intent.as_deref().unwrap_or("-");
    let text = reply.reply.as_deref().unwrap_or("(silent)");
    format!(
        "[{} {intent} {:.2}] {text}",
        reply.kind.as_str(),
        reply.confidence
    )
}

/// Every way the turn misses its expectations (empty: it passes).
fn check(expect: &Expect, reply: &TurnReply) -> Vec<String> {
    let mut problems = Vec::new();
    let mut want = |ok: bool, problem: String| {
        if !ok {
            problems.push(problem);
        }
    };
    if let Some(action) = expect.action {
        want(
            reply.action == action,
            format!("action {} ≠ {}", reply.action.as_str(), action.as_str()),
        );
    }
    if let Some(kind) = expect.kind {
        want(
            reply.kind == kind,
            format!("kind {} ≠ {}", reply.kind.as_str(), kind.as_str()),
        );
    }
    let intent = reply.intent.as_ref().map(IntentName::as_str);
    if let Some(expected) = &expect.intent {
        want(
            intent == Some(expected.as_str()),
            format!("intent {} ≠ {expected}", intent.unwrap_or("-")),
        );
    }
    if let Some(avoided) = &expect.not_intent {
        want(
            intent != Some(avoided.as_str()),
            format!("intent is {avoided}"),
        );
    }
    check_text(expect, reply, &mut want);
    check_quick_replies(expect, reply, &mut want);
    check_handoff(expect, reply, &mut want);
    problems
}

fn check_text(expect: &Expect, reply: &TurnReply, want: &mut impl FnMut(bool, String)) {
    let text = normalize(reply.reply.as_deref().unwrap_or_default());
    if let Some(silent) = expect.silent {
        want(
            reply.reply.is_none() == silent,
            format!("silent {} ≠ {silent}", reply.reply.is_none()),
        );
    }
    for needle in &expect.reply_contains {
        want(
            text.contains(&normalize(needle)),
            format!("the reply lacks {needle:?}"),
        );
    }
    if !expect.reply_contains_any.is_empty() {
        let found = expect
            .reply_contains_any
            .iter()
            .any(|n| text.contains(&normalize(n)));
        want(
            found,
            format!("the reply has none of {:?}", expect.reply_contains_any),
        );
    }
    for needle in &expect.reply_not_contains {
        want(
            !text.contains(&normalize(needle)),
            format!("the reply contains {needle:?}"),
        );
    }
    if let (Some(lang), Some(reply_text)) = (&expect.reply_language, &reply.reply) {
        let actual = language_of(reply_text);
        want(
            actual == lang,
            format!("the reply is in {actual}, not {lang}"),
        );
    }
}

fn check_quick_replies(expect: &Expect, reply: &TurnReply, want: &mut impl FnMut(bool, String)) {
    let offered = |intent: &IntentName| reply.quick_replies.iter().any(|q| q.value == *intent);
    for intent in &expect.quick_replies {
        want(offered(intent), format!("{intent} is not offered"));
    }
    for intent in &expect.no_quick_replies {
        want(!offered(intent), format!("{intent} is offered"));
    }
}

fn check_handoff(expect: &Expect, reply: &TurnReply, want: &mut impl FnMut(bool, String)) {
    let summary = reply.handoff.as_ref().map(|h| &h.summary);
    if let Some(reason) = &expect.handoff_reason {
        let actual = summary
            .and_then(|s| s.get("reason"))
            .and_then(|r| r.as_str())
            .unwrap_or("-");
        want(
            actual == reason,
            format!("handoff reason {actual} ≠ {reason}"),
        );
    }
    if !expect.summary_contains.is_empty() {
        let text = normalize(&summary.map(|s| s.to_string()).unwrap_or_default());
        for needle in &expect.summary_contains {
            want(
                text.contains(&normalize(needle)),
                format!("the summary lacks {needle:?}"),
            );
        }
    }
}

/// NFKC and lower case, so that `ＭＤ－１２３` and `md-123` compare equal.
fn normalize(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// `ja` when the text has kana or kanji, else `en`.
fn language_of(text: &str) -> &'static str {
    let japanese = text.chars().any(|c| {
        matches!(c, '\u{3040}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}' | '\u{ff66}'..='\u{ff9f}')
    });
    if japanese {
        "ja"
    } else {
        "en"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_checks_ignore_width_and_case() {
        assert_eq!(normalize("ＭＤ１２３４"), "md1234");
        assert_eq!(language_of("送料は550円です"), "ja");
        assert_eq!(language_of("ｶﾀｶﾅ"), "ja");
        assert_eq!(language_of("Shipping is 550 yen."), "en");
    }
}
