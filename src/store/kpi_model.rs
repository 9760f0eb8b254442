//! What the dashboard's KPI statements return (`Store::kpi_data`): counts and durations over
//! the conversations started in a [`KpiScope`], before the studio turns them into rates,
//! percentiles and local days.
use chrono::{DateTime, Utc};

use crate::domain::Locale;

/// Which conversations a dashboard looks at: those started in `[from, until)`, in `locale`
/// (all when None). Their messages and tickets count whenever they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KpiScope {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub locale: Option<Locale>,
    /// The channel (`web`, `api`, `line`); all when `None`.
    pub channel: Option<String>,
    /// The size, in seconds, of the buckets conversations are counted in per intent: a divisor
    /// of 86400 that every local day start of the report is a multiple of (since the Unix epoch),
    /// so each bucket lies within one local day.
    pub bucket_seconds: i64,
}

/// The raw KPI figures of one scope, as the SQL aggregated them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiData {
    pub outcomes: KpiOutcomes,
    /// Sorted by start, then intent (None last).
    pub buckets: Vec<ConversationBucket>,
    /// Sorted by reason.
    pub handoff_reasons: Vec<HandoffReasonCount>,
    /// Unsorted; one per kind and second.
    pub durations: Vec<KpiDuration>,
    /// Sorted by intent (None last).
    pub feedback: Vec<IntentFeedback>,
    /// Unsorted; one per (predicted intent, exact text).
    pub unanswered: Vec<UnansweredText>,
}

/// Outcome counts of the conversations in scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiOutcomes {
    pub conversations: u64,
    /// Resolved with no handoff ticket.
    pub contained: u64,
    /// With at least one handoff ticket.
    pub handed_off: u64,
    /// Resolved at first contact (see `Conversation::first_contact_resolution`).
    pub first_contact_resolved: u64,
    /// Resolved (first-contact resolution is known).
    pub resolved: u64,
    /// CSAT responses by score: index 0 is score 1, … index 4 is score 5.
    pub csat: [u64; 5],
}

/// Conversations started in one bucket (`KpiScope::bucket_seconds` from `start`) whose (first
/// recognised) intent is `intent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationBucket {
    pub start: DateTime<Utc>,
    /// None: the bot recognised no intent in them (or they have no message).
    pub intent: Option<String>,
    pub conversations: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffReasonCount {
    pub reason: String,
    /// Conversations with at least one ticket of this reason.
    pub conversations: u64,
    pub tickets: u64,
}

/// Which duration a [`KpiDuration`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DurationKind {
    /// The conversation's first ticket opened → the first agent message.
    FirstResponse,
    /// The conversation started → resolved.
    Resolution,
    /// A ticket opened → claimed (its last claim).
    Wait,
    /// A ticket claimed → resolved, or → handed back.
    Handle,
}

impl DurationKind {
    pub const ALL: [DurationKind; 4] = [
        DurationKind::FirstResponse,
        DurationKind::Resolution,
        DurationKind::Wait,
        DurationKind::Handle,
    ];

    /// The name the SQL (and the API) uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationKind::FirstResponse => "first_response",
            DurationKind::Resolution => "resolution",
            DurationKind::Wait => "wait",
            DurationKind::Handle => "handle",
        }
    }

    pub fn parse(s: &str) -> Option<DurationKind> {
        DurationKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `count` measured durations of `kind` that took `seconds` (to the second).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KpiDuration {
    pub kind: DurationKind,
    pub seconds: f64,
    pub count: u64,
}

/// The bot's answers of one predicted intent and their feedback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentFeedback {
    pub intent: Option<String>,
    pub answers: u64,
    pub rated: u64,
    /// Rated 👎 (not helpful).
    pub unhelpful: u64,
}

/// Customer messages with this exact text that the bot did not answer, by predicted intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnansweredText {
    pub intent: Option<String>,
    pub text: String,
    pub messages: u64,
}
