//! The optional outbound webhook: on every handoff, a JSON POST to the configured URL, signed with
//! `X-Madoguchi-Signature: sha256=<hex HMAC-SHA256 of the body>` under the configured secret, so
//! a helpdesk can check it came from us. Delivery runs on its own thread (ureq is blocking), off
//! the request path, with retries and exponential backoff; a full outbox drops (and logs) the call
//! rather than slowing customers down.
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use crate::config::Config;
use crate::store::{Conversation, Handoff};

/// Calls waiting for delivery at most.
const OUTBOX: usize = 1024;

/// Handle to the delivery thread.
#[derive(Clone)]
pub struct Webhook {
    tx: SyncSender<Vec<u8>>,
}

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length (this is a bug)");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

impl Webhook {
    /// Starts the delivery thread when a URL is configured.
    pub fn from_config(config: &Config) -> Option<Webhook> {
        let url = config.webhook_url.clone()?;
        let secret = config.webhook_secret.clone().unwrap_or_default();
        let attempts = config.webhook_attempts.max(1);
        let (tx, rx) = sync_channel::<Vec<u8>>(OUTBOX);
        let spawned = std::thread::Builder::new()
            .name("madoguchi-webhook".into())
            .spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                for body in rx {
                    deliver(&agent, &url, &secret, &body, attempts);
                }
            });
        match spawned {
            Ok(_) => Some(Webhook { tx }),
            Err(e) => {
                tracing::error!(error = %e, "cannot start the webhook thread; webhooks are off");
                None
            }
        }
    }

    /// Queues the notification of a new ticket.
    pub fn notify(&self, ticket: &Handoff, conversation: &Conversation) {
        let payload = json!({
            "event": "handoff.created",
            "ticket": ticket,
            "conversation": {
                "id": conversation.id,
                "locale": conversation.locale,
                "customer": conversation.customer,
            },
        });
        let body = payload.to_string().into_bytes();
        match self.tx.try_send(body) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "dropped")
                    .increment(1);
                tracing::error!(ticket_id = %ticket.id, "webhook outbox full; notification dropped");
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!(ticket_id = %ticket.id, "webhook thread stopped");
            }
        }
    }
}

fn deliver(agent: &ureq::Agent, url: &str, secret: &str, body: &[u8], attempts: u32) {
    let sig = signature(secret, body);
    let mut backoff = Duration::from_secs(1);
    for attempt in 1..=attempts {
        let result = agent
            .post(url)
            .set("Content-Type", "application/json")
            .set("X-Madoguchi-Signature", &sig)
            .send_bytes(body);
        match result {
            Ok(_) => {
                metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "delivered")
                    .increment(1);
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, attempts, error = %e, "webhook delivery failed");
                // Client errors other than 408/429 will not get better by retrying.
                if let ureq::Error::Status(code, _) = &e {
                    if (400..500).contains(code) && *code != 408 && *code != 429 {
                        break;
                    }
                }
                if attempt < attempts {
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
    metrics::counter!(crate::telemetry::WEBHOOK_DELIVERIES, "outcome" => "failed").increment(1);
    tracing::error!("webhook delivery given up");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
