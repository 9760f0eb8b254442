//! From the conversation to LINE: every message of a LINE conversation the customer should see
//! (the bot's and the agents') and, once the conversation is resolved, the CSAT question, become
//! deliveries in the channel's outbox.
//!
//! Why a cursor and not the event bus alone: the store is the truth. Each LINE conversation keeps
//! `relayed_seq`, the last message turned into deliveries; moving it and writing the deliveries
//! is one transaction (compare-and-set), so a message is relayed exactly once, even with several
//! replicas, and an agent's reply committed just before a crash is relayed after the restart. The
//! bus only says when to look; a periodic scan catches what a lost notification missed. A user
//! whose webhook event is being processed is left to that event's processor, which relays with
//! the event's reply token (free, and shown at once) instead of a push.
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::sync::watch;
use uuid::Uuid;

use super::messages::{self, Button, Postback};
use super::state::Line;
use crate::dialogue::QuickReply;
use crate::domain::{ConversationStatus, Locale, Role};
use crate::store::{Conversation, LineLink, Message, NewLineDelivery, StoreError};

/// How often the scan runs when nothing was announced.
const SCAN_EVERY: Duration = Duration::from_secs(2);
/// Conversations relayed per scan.
const SCAN_BATCH: u32 = 64;
/// Compare-and-set attempts before leaving a conversation to the next scan.
const ATTEMPTS: usize = 3;

/// A webhook event's reply token and until when it may be used.
#[derive(Debug, Clone)]
pub struct ReplyToken {
    pub token: String,
    pub until: DateTime<Utc>,
}

/// Turns what the conversation has for the customer since the last relay into deliveries (the
/// first one with `reply`, if given) and wakes the dispatcher.
pub async fn relay(
    line: &Line,
    conversation_id: Uuid,
    reply: Option<&ReplyToken>,
) -> Result<(), StoreError> {
    let store = line.store();
    for _ in 0..ATTEMPTS {
        let Some(link) = store.line_link(conversation_id).await? else {
            return Ok(());
        };
        let Some(conversation) = store.conversation(conversation_id).await? else {
            return Ok(());
        };
        let messages = store
            .messages_after(conversation_id, link.relayed_seq)
            .await?;
        let to_seq = messages.last().map_or(link.relayed_seq, |m| m.seq);
        let ask_csat = conversation.status == ConversationStatus::Resolved && !link.csat_asked;
        if to_seq == link.relayed_seq && !ask_csat {
            return Ok(());
        }
        let plan = Plan {
            line,
            link: &link,
            conversation: &conversation,
            to_seq,
            ask_csat,
        };
        let deliveries = plan.deliveries(&messages, reply);
        let csat_asked = link.csat_asked || ask_csat;
        if store
            .relay_line(&link, to_seq, csat_asked, &deliveries)
            .await?
        {
            if !deliveries.is_empty() {
                line.deliveries_written.notify_one();
            }
            return Ok(());
        }
    }
    Ok(())
}

/// The locale the conversation speaks: chosen, else detected by the dialogue, else none.
pub fn locale_of(conversation: &Conversation) -> Option<Locale> {
    conversation.locale.clone().or_else(|| {
        conversation.dialogue_state["locale"]
            .as_str()
            .and_then(|l| Locale::parse(l).ok())
    })
}

/// The CSAT buttons for a conversation, labelled in `locale`.
pub fn csat_buttons(line: &Line, conversation: &Conversation) -> Vec<Button> {
    let lines = line.copy.lines(locale_of(conversation).as_ref());
    lines
        .csat_labels
        .iter()
        .zip(1..)
        .map(|(label, score)| Button {
            label: label.clone(),
            display: label.clone(),
            data: Postback::Csat {
                conversation: conversation.id,
                score,
            }
            .data(),
        })
        .collect()
}

/// One relay of one conversation.
struct Plan<'a> {
    line: &'a Line,
    link: &'a LineLink,
    conversation: &'a Conversation,
    to_seq: i64,
    ask_csat: bool,
}

impl Plan<'_> {
    fn deliveries(&self, messages: &[Message], reply: Option<&ReplyToken>) -> Vec<NewLineDelivery> {
        let mut texts = Vec::new();
        let mut buttons = Vec::new();
        for m in messages {
            if matches!(m.role, Role::Bot | Role::Agent) {
                texts.push(m.text.clone());
                buttons = bot_buttons(m);
            }
        }
        if self.ask_csat {
            let lines = self.line.copy.lines(locale_of(self.conversation).as_ref());
            texts.push(lines.csat_question.clone());
            buttons = csat_buttons(self.line, self.conversation);
        }
        let id = self.conversation.id;
        messages::calls(&texts, &buttons)
            .into_iter()
            .enumerate()
            .map(|(i, call)| NewLineDelivery {
                source: format!(
                    "relay:{id}:{}-{}:{}:{i}",
                    self.link.relayed_seq, self.to_seq, self.ask_csat
                ),
                user_id: self.link.user_id.clone(),
                conversation_id: Some(id),
                messages: Value::Array(call),
                reply_token: reply.filter(|_| i == 0).map(|r| r.token.clone()),
                reply_until: reply.filter(|_| i == 0).map(|r| r.until),
            })
            .collect()
    }
}

/// The bot message's quick replies as buttons: tapping one sends its value, showing its label.
fn bot_buttons(message: &Message) -> Vec<Button> {
    let replies: Vec<QuickReply> = message
        .quick_replies
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    replies
        .into_iter()
        .map(|q| Button {
            display: q.label.clone(),
            label: q.label,
            data: Postback::Choose(q.value.to_string()).data(),
        })
        .collect()
}

/// Relays every LINE conversation with something to relay: whenever the bus announces anything,
/// and every [`SCAN_EVERY`]. Ends when `shutdown` turns true.
pub async fn run(line: Line, mut shutdown: watch::Receiver<bool>) {
    let mut events = line.conversations.bus().subscribe();
    loop {
        if *shutdown.borrow() {
            return;
        }
        match line.store().line_links_to_relay(SCAN_BATCH).await {
            Ok(links) => {
                for link in links {
                    if let Err(e) = relay(&line, link.conversation_id, None).await {
                        tracing::warn!(error = %e, conversation_id = %link.conversation_id, "cannot relay to LINE");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the LINE conversations to relay"),
        }
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep(SCAN_EVERY) => {}
            _ = shutdown.changed() => {}
        }
    }
}
