//! What the customer is sent, as LINE message objects: texts split under LINE's length limit,
//! quick reply buttons (postback actions, at most 13, labels cut to 20 UTF-16 units) on the last
//! message only, and at most 5 messages per API call. Pure functions; no I/O.
use serde_json::{json, Value};

use super::settings::{MAX_LABEL_UNITS, MAX_MESSAGES_PER_CALL, MAX_QUICK_REPLIES, MAX_TEXT_UNITS};

/// A quick reply button: `label` on the button, `display` posted in the chat as the customer's
/// message when tapped, `data` what the channel gets back (a postback).
#[derive(Debug, Clone, PartialEq)]
pub struct Button {
    pub label: String,
    pub display: String,
    pub data: String,
}

/// What a tapped button means (the postback's data).
#[derive(Debug, Clone, PartialEq)]
pub enum Postback {
    /// A choice of the bot's quick replies: send `value` as the customer's message.
    Choose(String),
    /// A CSAT score for a conversation.
    Csat {
        conversation: uuid::Uuid,
        score: i64,
    },
}

impl Postback {
    pub fn data(&self) -> String {
        match self {
            Postback::Choose(value) => format!("choose:{value}"),
            Postback::Csat {
                conversation,
                score,
            } => format!("csat:{conversation}:{score}"),
        }
    }

    /// The postback for `data`, if it is one of ours.
    pub fn parse(data: &str) -> Option<Postback> {
        if let Some(value) = data.strip_prefix("choose:") {
            return (!value.is_empty()).then(|| Postback::Choose(value.to_string()));
        }
        let rest = data.strip_prefix("csat:")?;
        let (conversation, score) = rest.rsplit_once(':')?;
        Some(Postback::Csat {
            conversation: conversation.parse().ok()?,
            score: score.parse().ok()?,
        })
    }
}

/// `text` in pieces of at most [`MAX_TEXT_UNITS`] UTF-16 units, cut after a line break where one
/// is in the second half of a piece, never inside a character. Blank text gives nothing.
pub fn split_text(text: &str) -> Vec<String> {
    split_text_at(text, MAX_TEXT_UNITS)
}

fn split_text_at(text: &str, max_units: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let mut units = 0;
        let mut end = rest.len();
        let mut last_break = None;
        for (i, c) in rest.char_indices() {
            if units + c.len_utf16() > max_units {
                end = i;
                break;
            }
            units += c.len_utf16();
            if c == '\n' && units > max_units / 2 {
                last_break = Some(i + 1);
            }
        }
        if end < rest.len() {
            end = last_break.unwrap_or(end);
        }
        let (piece, tail) = rest.split_at(end);
        if !piece.trim().is_empty() {
            pieces.push(piece.trim_end().to_string());
        }
        rest = tail.trim_start();
    }
    pieces
}

/// `label` cut to [`MAX_LABEL_UNITS`] UTF-16 units, ending in "…" when cut.
pub fn label(label: &str) -> String {
    let total: usize = label.chars().map(char::len_utf16).sum();
    if total <= MAX_LABEL_UNITS {
        return label.to_string();
    }
    let mut out = String::new();
    let mut units = 0;
    for c in label.chars() {
        if units + c.len_utf16() > MAX_LABEL_UNITS - 1 {
            break;
        }
        units += c.len_utf16();
        out.push(c);
    }
    out.push('…');
    out
}

/// A text message object.
pub fn text(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

/// The `quickReply` object of at most [`MAX_QUICK_REPLIES`] buttons.
fn quick_reply(buttons: &[Button]) -> Value {
    let items: Vec<Value> = buttons
        .iter()
        .take(MAX_QUICK_REPLIES)
        .map(|b| {
            json!({
                "type": "action",
                "action": {
                    "type": "postback",
                    "label": label(&b.label),
                    "data": b.data,
                    "displayText": b.display,
                },
            })
        })
        .collect();
    json!({ "items": items })
}

/// The texts as message objects in calls of at most [`MAX_MESSAGES_PER_CALL`], with `buttons` (if
/// any) on the very last message.
pub fn calls(texts: &[String], buttons: &[Button]) -> Vec<Vec<Value>> {
    let mut messages: Vec<Value> = texts
        .iter()
        .flat_map(|t| split_text(t))
        .map(|t| text(&t))
        .collect();
    if let (Some(last), false) = (messages.last_mut(), buttons.is_empty()) {
        last["quickReply"] = quick_reply(buttons);
    }
    messages
        .chunks(MAX_MESSAGES_PER_CALL)
        .map(<[Value]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> usize {
        s.encode_utf16().count()
    }

    #[test]
    fn long_texts_split_under_the_limit_without_breaking_characters() {
        let text = "あ😀".repeat(3000); // 3 units each: 9,000 units
        let pieces = split_text(&text);
        assert!(pieces.len() >= 2, "{}", pieces.len());
        assert!(pieces.iter().all(|p| units(p) <= MAX_TEXT_UNITS));
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn a_line_break_in_the_second_half_is_preferred() {
        let text = format!("{}\n{}", "a".repeat(8), "b".repeat(8));
        assert_eq!(split_text_at(&text, 10), vec!["a".repeat(8), "b".repeat(8)]);
        assert_eq!(split_text_at("   ", 10), Vec::<String>::new());
    }

    #[test]
    fn labels_are_cut_to_twenty_units() {
        assert_eq!(label("配送状況の確認"), "配送状況の確認");
        let cut = label("Change the delivery address, please");
        assert_eq!(units(&cut), 20);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn buttons_go_on_the_last_message_and_calls_hold_five() {
        let texts: Vec<String> = (0..7).map(|i| format!("m{i}")).collect();
        let buttons: Vec<Button> = (0..20)
            .map(|i| Button {
                label: format!("b{i}"),
                display: format!("b{i}"),
                data: format!("choose:b{i}"),
            })
            .collect();
        let calls = calls(&texts, &buttons);
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), vec![5, 2]);
        let items = calls[1][1]["quickReply"]["items"]
            .as_array()
            .expect("items");
        assert_eq!(items.len(), MAX_QUICK_REPLIES);
        assert!(calls[0].iter().all(|m| m.get("quickReply").is_none()));
        assert!(calls[1][0].get("quickReply").is_none());
    }

    #[test]
    fn postbacks_round_trip() {
        let id = uuid::Uuid::new_v4();
        for p in [
            Postback::Choose("order_status".into()),
            Postback::Csat {
                conversation: id,
                score: 4,
            },
        ] {
            assert_eq!(Postback::parse(&p.data()), Some(p));
        }
        assert_eq!(Postback::parse("csat:nope:4"), None);
        assert_eq!(Postback::parse("other"), None);
    }
}
