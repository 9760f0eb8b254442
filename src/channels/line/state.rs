//! [`Line`]: what the channel's background tasks share — the conversation service, the settings,
//! the copy, the API handle, and the wake-up of the delivery dispatcher.
use std::sync::Arc;

use tokio::sync::Notify;

use super::client::LineApi;
use super::copy::LineCopy;
use super::settings::LineSettings;
use crate::conversation::Conversations;
use crate::store::Store;

/// The channel's shared state. Cheap to clone.
#[derive(Clone)]
pub struct Line {
    pub conversations: Conversations,
    pub settings: LineSettings,
    pub copy: Arc<LineCopy>,
    pub api: LineApi,
    /// Wakes the dispatcher when deliveries were written.
    pub deliveries_written: Arc<Notify>,
}

impl Line {
    pub fn new(conversations: Conversations, settings: LineSettings, copy: LineCopy) -> Line {
        Line {
            api: LineApi::new(&settings),
            conversations,
            settings,
            copy: Arc::new(copy),
            deliveries_written: Arc::new(Notify::new()),
        }
    }

    pub fn store(&self) -> &Store {
        self.conversations.store()
    }
}
