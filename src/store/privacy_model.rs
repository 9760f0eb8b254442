//! The records of the personal-data operations (`erase.rs`, `retention.rs`, `backup.rs`).
use serde::Serialize;

/// The audit log action of an erasure.
pub const ERASE_ACTION: &str = "customer.erase";

/// What `Store::erase_customer` deleted, table by table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Erased {
    pub conversations: u64,
    pub messages: u64,
    pub tickets: u64,
    pub notes: u64,
    pub outbox_events: u64,
    pub inbox_decisions: u64,
    pub stream_tickets: u64,
    pub line_events: u64,
    pub line_deliveries: u64,
}

/// What one sweep deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub conversations: u64,
    pub line_events: u64,
    pub line_deliveries: u64,
    /// Another replica held the sweep's lock, so this one stopped early (PostgreSQL).
    pub busy: bool,
}

/// How PostgreSQL is backed up instead.
pub const PG_DUMP_HINT: &str = "back up PostgreSQL with pg_dump, e.g. \
     `pg_dump --format=custom --file madoguchi.dump \"$MADOGUCHI_DATABASE\"` \
     (restore: `pg_restore --clean --if-exists --dbname URL madoguchi.dump`)";
