//! Caps on open live streams, per conversation (its tabs and devices) and in total, so that a
//! misbehaving client cannot hold every connection of the server.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use uuid::Uuid;

use super::ConversationError;

/// Open streams, per conversation and in total.
#[derive(Debug, Clone)]
pub struct StreamLimits {
    per_conversation: usize,
    total: usize,
    open: Arc<Mutex<HashMap<Option<Uuid>, usize>>>,
}

/// Holds one place among the open streams until dropped.
pub struct StreamGuard {
    limits: StreamLimits,
    key: Option<Uuid>,
}

impl StreamLimits {
    pub fn new(per_conversation: usize, total: usize) -> StreamLimits {
        StreamLimits {
            per_conversation: per_conversation.max(1),
            total: total.max(1),
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// A place for a stream of `conversation` (None: an agent's queue stream).
    pub(super) fn acquire(
        &self,
        conversation: Option<Uuid>,
    ) -> Result<StreamGuard, ConversationError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = open.values().sum();
        if total >= self.total {
            metrics::counter!(crate::telemetry::STREAMS_REFUSED).increment(1);
            return Err(ConversationError::TooManyStreams(format!(
                "the server has {total} live streams open, its limit; retry later"
            )));
        }
        let mine = open.get(&conversation).copied().unwrap_or(0);
        if conversation.is_some() && mine >= self.per_conversation {
            metrics::counter!(crate::telemetry::STREAMS_REFUSED).increment(1);
            return Err(ConversationError::TooManyStreams(format!(
                "this conversation already has {mine} live streams open; close one first"
            )));
        }
        *open.entry(conversation).or_insert(0) += 1;
        Ok(StreamGuard {
            limits: self.clone(),
            key: conversation,
        })
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_per_conversation_and_in_total() {
        let limits = StreamLimits::new(2, 3);
        let a = Uuid::new_v4();
        let b = Uuid::new_v4();
        let a1 = limits.acquire(Some(a)).expect("a1");
        let _a2 = limits.acquire(Some(a)).expect("a2");
        assert!(matches!(
            limits.acquire(Some(a)),
            Err(ConversationError::TooManyStreams(_))
        ));
        let _b1 = limits.acquire(Some(b)).expect("b1");
        assert!(limits.acquire(None).is_err(), "total reached");
        drop(a1);
        assert!(limits.acquire(Some(a)).is_ok(), "a place was freed");
    }
}
