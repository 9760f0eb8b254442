//! LINE webhook event objects, read leniently (LINE adds fields and event types without notice):
//! what the webhook stores of each event, and what the processor does with it.
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::settings::REPLY_WINDOW;
use crate::store::NewLineEvent;

/// What a stored event asks of the channel.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A text message: a customer turn.
    Text(String),
    /// A message of another type (sticker, image, …): answered with a polite "please write".
    NotText(String),
    /// Added as a friend or unblocked.
    Follow,
    /// Blocked.
    Unfollow,
    /// A quick reply button was tapped.
    Postback(String),
    /// Anything else (group joins, unsend, beacons, …): nothing to do.
    Other(String),
}

impl Inbound {
    /// What `event` (one element of the webhook's `events`) asks.
    pub fn of(event: &Value) -> Inbound {
        let kind = event["type"].as_str().unwrap_or_default();
        match kind {
            "message" => match event["message"]["type"].as_str().unwrap_or_default() {
                "text" => Inbound::Text(event["message"]["text"].as_str().unwrap_or("").into()),
                other => Inbound::NotText(other.to_string()),
            },
            "follow" => Inbound::Follow,
            "unfollow" => Inbound::Unfollow,
            "postback" => {
                Inbound::Postback(event["postback"]["data"].as_str().unwrap_or("").into())
            }
            other => Inbound::Other(other.to_string()),
        }
    }
}

/// Why an event of the webhook is not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Skipped {
    /// Without a `webhookEventId` it cannot be deduplicated (LINE always sends one).
    NoEventId,
}

/// The event as the store keeps it, received at `now`. Only one-to-one chats are answered: for a
/// group or room source the user id is left out, and the processor logs and skips the event.
pub fn to_store(event: &Value, now: DateTime<Utc>) -> Result<NewLineEvent, Skipped> {
    let id = event["webhookEventId"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or(Skipped::NoEventId)?;
    let source = &event["source"];
    let user_id = (source["type"].as_str() == Some("user"))
        .then(|| source["userId"].as_str())
        .flatten()
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    let reply_token = event["replyToken"].as_str().map(str::to_string);
    let reply_until = reply_token.as_ref().map(|_| reply_deadline(event, now));
    Ok(NewLineEvent {
        webhook_event_id: id.to_string(),
        user_id,
        event_type: event["type"].as_str().unwrap_or("unknown").to_string(),
        event: event.clone(),
        reply_token,
        reply_until,
    })
}

/// Until when the reply token may be used: [`REPLY_WINDOW`] after it was issued, which is when the
/// event happened for a first delivery (a webhook that reaches us late carries an old token) and
/// when we received it for a redelivery (which carries a fresh token).
fn reply_deadline(event: &Value, now: DateTime<Utc>) -> DateTime<Utc> {
    let redelivery = event["deliveryContext"]["isRedelivery"]
        .as_bool()
        .unwrap_or(false);
    let happened = event["timestamp"]
        .as_i64()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        .filter(|t| *t < now);
    let issued = match happened {
        Some(t) if !redelivery => t,
        _ => now,
    };
    let window = chrono::Duration::from_std(REPLY_WINDOW).unwrap_or(chrono::Duration::seconds(50));
    issued + window
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(timestamp: i64, redelivery: bool) -> Value {
        json!({
            "type": "message", "webhookEventId": "01H", "timestamp": timestamp,
            "replyToken": "rt", "mode": "active",
            "source": { "type": "user", "userId": "U1" },
            "deliveryContext": { "isRedelivery": redelivery },
            "message": { "type": "text", "id": "1", "text": "こんにちは" },
        })
    }

    #[test]
    fn the_reply_window_starts_at_the_event_unless_redelivered() {
        let now = Utc::now();
        let old = (now - chrono::Duration::minutes(3)).timestamp_millis();
        let first = to_store(&event(old, false), now).expect("kept");
        assert!(first.reply_until.expect("until") < now);
        let again = to_store(&event(old, true), now).expect("kept");
        assert!(again.reply_until.expect("until") > now);
        assert_eq!(first.user_id.as_deref(), Some("U1"));
        assert_eq!(
            Inbound::of(&first.event),
            Inbound::Text("こんにちは".into())
        );
    }

    #[test]
    fn groups_have_no_user_and_events_need_an_id() {
        let now = Utc::now();
        let mut e = event(now.timestamp_millis(), false);
        e["source"] = json!({ "type": "group", "groupId": "G", "userId": "U1" });
        assert_eq!(to_store(&e, now).expect("kept").user_id, None);
        e["webhookEventId"] = Value::Null;
        assert_eq!(to_store(&e, now), Err(Skipped::NoEventId));
        let sticker = json!({ "type": "message", "message": { "type": "sticker" } });
        assert_eq!(Inbound::of(&sticker), Inbound::NotText("sticker".into()));
    }
}
