//! Calls to the LINE Messaging API: reply (with a webhook's reply token), push (with
//! `X-Line-Retry-Key`, so a retry is never sent twice) and the loading animation. ureq blocks, so
//! each call runs off the async runtime, as the webhook dispatcher's do.
use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use super::settings::LineSettings;

/// How long one call may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    Delivered,
    /// LINE already accepted a push with this retry key (409): delivered before.
    AlreadyAccepted,
    /// The reply token is used or expired (400 "Invalid reply token"): push instead.
    InvalidReplyToken,
    /// Worth retrying (timeout, network, 408, 429, 5xx).
    Retry(String),
    /// Retrying cannot help (another 4xx).
    GiveUp(String),
}

/// A handle to the API. Cheap to clone.
#[derive(Clone)]
pub struct LineApi {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl LineApi {
    pub fn new(settings: &LineSettings) -> LineApi {
        LineApi {
            agent: ureq::AgentBuilder::new().timeout(TIMEOUT).build(),
            base: settings.api_base.clone(),
            token: settings.access_token.clone(),
        }
    }

    /// `POST /v2/bot/message/reply`.
    pub async fn reply(&self, reply_token: &str, messages: &Value) -> Sent {
        let body = json!({ "replyToken": reply_token, "messages": messages });
        self.post("/v2/bot/message/reply", body, None).await
    }

    /// `POST /v2/bot/message/push` with `X-Line-Retry-Key: retry_key`.
    pub async fn push(&self, user_id: &str, messages: &Value, retry_key: Uuid) -> Sent {
        let body = json!({ "to": user_id, "messages": messages });
        self.post("/v2/bot/message/push", body, Some(retry_key))
            .await
    }

    /// `POST /v2/bot/chat/loading/start` for `seconds` (5 to 60, a multiple of 5).
    pub async fn loading(&self, user_id: &str, seconds: u32) -> Sent {
        let body = json!({ "chatId": user_id, "loadingSeconds": seconds });
        self.post("/v2/bot/chat/loading/start", body, None).await
    }

    async fn post(&self, path: &'static str, body: Value, retry_key: Option<Uuid>) -> Sent {
        let request = self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .set("Content-Type", "application/json");
        let request = match retry_key {
            Some(key) => request.set("X-Line-Retry-Key", &key.to_string()),
            None => request,
        };
        let sent = tokio::task::spawn_blocking(move || {
            request
                .send_string(&body.to_string())
                .map(|_| ())
                .map_err(Box::new)
        })
        .await;
        match sent {
            Ok(Ok(())) => Sent::Delivered,
            Ok(Err(e)) => classify(*e, retry_key.is_some()),
            Err(e) => Sent::Retry(format!("the call's task failed: {e}")),
        }
    }
}

/// What a failed call means.
fn classify(error: ureq::Error, push: bool) -> Sent {
    match error {
        ureq::Error::Status(code, response) => {
            // LINE's error body: {"message": "..."} (no personal data).
            let message = response
                .into_json::<Value>()
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_default();
            let error = format!("LINE answered {code}: {message}");
            match code {
                409 if push => Sent::AlreadyAccepted,
                400 if !push && message.to_lowercase().contains("reply token") => {
                    Sent::InvalidReplyToken
                }
                408 | 429 | 500..=599 => Sent::Retry(error),
                _ => Sent::GiveUp(error),
            }
        }
        other => Sent::Retry(other.to_string()),
    }
}
