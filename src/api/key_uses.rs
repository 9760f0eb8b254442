//! [`KeyUses`]: when each API key's use was last written, so a busy key costs one write a minute.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `last_used_at` is written at most this often per key.
pub const LAST_USED_INTERVAL: Duration = Duration::from_secs(60);

/// When each key's use was last written (so a busy key costs one write a minute).
#[derive(Default)]
pub struct KeyUses {
    stamped: Mutex<HashMap<String, Instant>>,
}

impl KeyUses {
    /// Whether a use of `id` is due to be written now (and, if so, notes that it is).
    pub(super) fn due(&self, id: &str) -> bool {
        let mut stamped = self.stamped.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if stamped
            .get(id)
            .is_some_and(|at| now.duration_since(*at) < LAST_USED_INTERVAL)
        {
            return false;
        }
        stamped.retain(|_, at| now.duration_since(*at) < LAST_USED_INTERVAL);
        stamped.insert(id.to_string(), now);
        true
    }
}
