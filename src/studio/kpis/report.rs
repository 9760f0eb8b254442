//! The dashboard's figures ([`KpiReport`], the JSON of `GET /studio/api/kpis`), assembled from
//! the store's aggregates. Every rate carries its numerator and denominator and is null when the
//! denominator is 0, every duration summary is null when nothing was measured: an empty range
//! reads "no data", never a zero that looks like data. Definitions: README "KPIs".
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;

use super::query::KpiQuery;
use super::stats::{mean, percentile};
use crate::store::{DurationKind, KpiData, KpiDuration, UnansweredText};

/// How many unanswered groups, and examples per group, a report lists.
const UNANSWERED_GROUPS: usize = 10;
const EXAMPLES_PER_GROUP: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct KpiReport {
    pub scope: ReportScope,
    /// Conversations started in the range (the denominator of the conversation rates).
    pub conversations: u64,
    pub per_day: PerDay,
    /// Resolved without any handoff ticket / conversations.
    pub containment: Rate,
    pub handoff: HandoffKpi,
    /// Resolved at first contact / resolved conversations.
    pub first_contact_resolution: Rate,
    pub csat: Csat,
    /// `first_response`, `resolution`, `handle`, `wait`, in that order.
    pub durations: Vec<DurationStats>,
    /// Per predicted intent, most 👎 first.
    pub feedback_by_intent: Vec<IntentThumbs>,
    /// The largest groups of unanswered customer messages, largest first.
    pub unanswered: Vec<UnansweredGroup>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportScope {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    /// Included.
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    /// The zone the days are local to (IANA name, or `UTC+09:00`).
    pub time_zone: String,
    pub locale: Option<String>,
    pub channel: Option<String>,
}

/// `numerator / denominator`; `rate` null when the denominator is 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Rate {
    pub numerator: u64,
    pub denominator: u64,
    pub rate: Option<f64>,
}

impl Rate {
    pub fn of(numerator: u64, denominator: u64) -> Rate {
        Rate {
            numerator,
            denominator,
            rate: (denominator > 0).then(|| numerator as f64 / denominator as f64),
        }
    }
}

/// Conversations per local day by intent (the first intent the bot recognised in each).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct PerDay {
    /// Every day of the range.
    #[schema(value_type = Vec<String>)]
    pub days: Vec<NaiveDate>,
    /// The intents that occur, most conversations first (null: none recognised).
    pub intents: Vec<Option<String>>,
    /// Only non-zero counts.
    pub rows: Vec<DayIntentCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayIntentCount {
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub intent: Option<String>,
    pub conversations: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct HandoffKpi {
    /// Conversations with at least one ticket / conversations.
    pub rate: Rate,
    /// By reason code, most conversations first.
    pub by_reason: Vec<ReasonRate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReasonRate {
    pub reason: String,
    pub tickets: u64,
    /// Conversations with a ticket of this reason / conversations.
    pub rate: Rate,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Csat {
    pub responses: u64,
    /// Mean score (1–5) over the responses; null without any.
    pub average: Option<f64>,
    /// Scores 1 to 5, each with its count.
    pub distribution: Vec<ScoreCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ScoreCount {
    pub score: u8,
    pub responses: u64,
}

/// One duration KPI in seconds; the statistics are null when `count` is 0.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DurationStats {
    /// `first_response`, `resolution`, `handle` or `wait`.
    pub kpi: String,
    pub count: u64,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct IntentThumbs {
    /// The predicted intent of the answers (null: none).
    pub intent: Option<String>,
    pub answers: u64,
    /// Rated 👎 / rated answers.
    pub unhelpful: Rate,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct UnansweredGroup {
    /// The bot's predicted intent (null: none, out of scope).
    pub intent: Option<String>,
    pub messages: u64,
    /// Distinct texts in the group.
    pub texts: u64,
    /// The most frequent texts.
    pub examples: Vec<TextCount>,
    /// The studio's inbox, filtered to this group (`#inbox?…`).
    pub inbox: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TextCount {
    pub text: String,
    pub messages: u64,
}

pub fn assemble(query: &KpiQuery, data: KpiData) -> KpiReport {
    let o = &data.outcomes;
    let conversations = o.conversations;
    KpiReport {
        scope: ReportScope {
            from: query.from,
            to: query.to,
            time_zone: query.zone.name(),
            locale: query.locale.as_ref().map(|l| l.to_string()),
            channel: query.channel.clone(),
        },
        conversations,
        per_day: per_day(query, &data),
        containment: Rate::of(o.contained, conversations),
        handoff: HandoffKpi {
            rate: Rate::of(o.handed_off, conversations),
            by_reason: by_reason(&data, conversations),
        },
        first_contact_resolution: Rate::of(o.first_contact_resolved, o.resolved),
        csat: csat(o.csat),
        durations: durations(&data.durations),
        feedback_by_intent: feedback(&data),
        unanswered: unanswered(query, &data.unanswered),
    }
}

fn per_day(query: &KpiQuery, data: &KpiData) -> PerDay {
    let mut cells: BTreeMap<(NaiveDate, Option<String>), u64> = BTreeMap::new();
    let mut totals: BTreeMap<Option<String>, u64> = BTreeMap::new();
    for b in &data.buckets {
        let date = query.zone.local_date(b.start);
        *cells.entry((date, b.intent.clone())).or_default() += b.conversations;
        *totals.entry(b.intent.clone()).or_default() += b.conversations;
    }
    let mut intents: Vec<(Option<String>, u64)> = totals.into_iter().collect();
    // Most first; the unrecognised group last among equals.
    intents.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.is_none().cmp(&b.0.is_none())));
    PerDay {
        days: query.days(),
        intents: intents.into_iter().map(|(i, _)| i).collect(),
        rows: cells
            .into_iter()
            .map(|((date, intent), conversations)| DayIntentCount {
                date,
                intent,
                conversations,
            })
            .collect(),
    }
}

fn by_reason(data: &KpiData, conversations: u64) -> Vec<ReasonRate> {
    let mut reasons: Vec<ReasonRate> = data
        .handoff_reasons
        .iter()
        .map(|r| ReasonRate {
            reason: r.reason.clone(),
            tickets: r.tickets,
            rate: Rate::of(r.conversations, conversations),
        })
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(r.rate.numerator));
    reasons
}

fn csat(counts: [u64; 5]) -> Csat {
    let responses: u64 = counts.iter().sum();
    let points: u64 = counts.iter().zip(1u64..).map(|(n, s)| n * s).sum();
    Csat {
        responses,
        average: (responses > 0).then(|| points as f64 / responses as f64),
        distribution: counts
            .iter()
            .zip(1u8..)
            .map(|(&responses, score)| ScoreCount { score, responses })
            .collect(),
    }
}

fn durations(measured: &[KpiDuration]) -> Vec<DurationStats> {
    [
        DurationKind::FirstResponse,
        DurationKind::Resolution,
        DurationKind::Handle,
        DurationKind::Wait,
    ]
    .into_iter()
    .map(|kind| {
        let mut xs: Vec<(f64, u64)> = measured
            .iter()
            .filter(|d| d.kind == kind)
            .map(|d| (d.seconds, d.count))
            .collect();
        xs.sort_by(|a, b| a.0.total_cmp(&b.0));
        DurationStats {
            kpi: kind.as_str().to_string(),
            count: xs.iter().map(|(_, n)| n).sum(),
            mean_seconds: mean(&xs),
            median_seconds: percentile(&xs, 0.5),
            p90_seconds: percentile(&xs, 0.9),
        }
    })
    .collect()
}

fn feedback(data: &KpiData) -> Vec<IntentThumbs> {
    let mut rows: Vec<IntentThumbs> = data
        .feedback
        .iter()
        .map(|f| IntentThumbs {
            intent: f.intent.clone(),
            answers: f.answers,
            unhelpful: Rate::of(f.unhelpful, f.rated),
        })
        .collect();
    // Stable: equal counts keep the store's intent order.
    rows.sort_by_key(|r| std::cmp::Reverse(r.unhelpful.numerator));
    rows
}

fn unanswered(query: &KpiQuery, texts: &[UnansweredText]) -> Vec<UnansweredGroup> {
    let mut groups: BTreeMap<Option<String>, Vec<&UnansweredText>> = BTreeMap::new();
    for t in texts {
        groups.entry(t.intent.clone()).or_default().push(t);
    }
    let mut out: Vec<UnansweredGroup> = groups
        .into_iter()
        .map(|(intent, mut texts)| {
            texts.sort_by(|a, b| b.messages.cmp(&a.messages).then(a.text.cmp(&b.text)));
            UnansweredGroup {
                inbox: inbox_link(query, intent.as_deref()),
                messages: texts.iter().map(|t| t.messages).sum(),
                texts: texts.len() as u64,
                examples: texts
                    .iter()
                    .take(EXAMPLES_PER_GROUP)
                    .map(|t| TextCount {
                        text: t.text.clone(),
                        messages: t.messages,
                    })
                    .collect(),
                intent,
            }
        })
        .collect();
    // Largest first; among equals, named intents (by name) before the unrecognised group.
    out.sort_by(|a, b| {
        b.messages
            .cmp(&a.messages)
            .then(a.intent.is_none().cmp(&b.intent.is_none()))
            .then(a.intent.cmp(&b.intent))
    });
    out.truncate(UNANSWERED_GROUPS);
    out
}

/// `#inbox?intent=…&from=…&to=…[&locale=…]`: the inbox filtered to a group (`intent=none` for
/// messages with no predicted intent).
fn inbox_link(query: &KpiQuery, intent: Option<&str>) -> String {
    let mut params = form_urlencoded::Serializer::new(String::new());
    params.append_pair("intent", intent.unwrap_or("none"));
    params.append_pair("from", &query.from.to_string());
    params.append_pair("to", &query.to.to_string());
    if let Some(locale) = &query.locale {
        params.append_pair("locale", locale);
    }
    format!("#inbox?{}", params.finish())
}
