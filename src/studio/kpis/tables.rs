//! Each KPI of a [`KpiReport`] as one table (a header row, then data rows) and as CSV (RFC 4180
//! quoting by the csv crate). Empty values stand for "no data" (a rate whose denominator is 0).
use super::report::{KpiReport, Rate};

/// The tables `GET /studio/api/kpis/<slug>.csv` exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KpiTable {
    PerDay,
    Rates,
    HandoffReasons,
    Csat,
    Durations,
    Feedback,
    Unanswered,
}

type Rows = Vec<Vec<String>>;

impl KpiTable {
    pub const ALL: [KpiTable; 7] = [
        KpiTable::PerDay,
        KpiTable::Rates,
        KpiTable::HandoffReasons,
        KpiTable::Csat,
        KpiTable::Durations,
        KpiTable::Feedback,
        KpiTable::Unanswered,
    ];

    /// Its name in the URL and the file name.
    pub fn slug(self) -> &'static str {
        match self {
            KpiTable::PerDay => "conversations-per-day",
            KpiTable::Rates => "rates",
            KpiTable::HandoffReasons => "handoff-reasons",
            KpiTable::Csat => "csat",
            KpiTable::Durations => "durations",
            KpiTable::Feedback => "feedback",
            KpiTable::Unanswered => "unanswered",
        }
    }

    /// The header and the rows.
    pub fn rows(self, r: &KpiReport) -> Rows {
        let mut rows = vec![self.header().iter().map(|h| h.to_string()).collect()];
        rows.extend(match self {
            KpiTable::PerDay => per_day(r),
            KpiTable::Rates => rates(r),
            KpiTable::HandoffReasons => handoff_reasons(r),
            KpiTable::Csat => csat(r),
            KpiTable::Durations => durations(r),
            KpiTable::Feedback => feedback(r),
            KpiTable::Unanswered => unanswered(r),
        });
        rows
    }

    fn header(self) -> &'static [&'static str] {
        match self {
            KpiTable::PerDay => &["date", "intent", "conversations"],
            KpiTable::Rates => &["kpi", "numerator", "denominator", "rate"],
            KpiTable::HandoffReasons => {
                &["reason", "conversations", "tickets", "denominator", "rate"]
            }
            KpiTable::Csat => &["score", "responses"],
            KpiTable::Durations => &[
                "kpi",
                "count",
                "mean_seconds",
                "median_seconds",
                "p90_seconds",
            ],
            KpiTable::Feedback => &["intent", "answers", "rated", "unhelpful", "unhelpful_rate"],
            KpiTable::Unanswered => &["intent", "messages", "texts", "examples", "inbox"],
        }
    }

    /// The table as CSV.
    pub fn csv(self, report: &KpiReport) -> Result<Vec<u8>, csv::Error> {
        let mut out = csv::Writer::from_writer(Vec::new());
        for row in self.rows(report) {
            out.write_record(&row)?;
        }
        out.into_inner()
            .map_err(|e| csv::Error::from(std::io::Error::other(e.to_string())))
    }
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.4}")).unwrap_or_default()
}

fn intent(i: &Option<String>) -> String {
    i.clone().unwrap_or_default()
}

fn rate_row(name: &str, r: Rate) -> Vec<String> {
    vec![
        name.into(),
        r.numerator.to_string(),
        r.denominator.to_string(),
        opt(r.rate),
    ]
}

fn per_day(r: &KpiReport) -> Rows {
    let p = &r.per_day;
    p.rows
        .iter()
        .map(|c| {
            vec![
                c.date.to_string(),
                intent(&c.intent),
                c.conversations.to_string(),
            ]
        })
        .collect()
}

fn rates(r: &KpiReport) -> Rows {
    vec![
        rate_row("containment", r.containment),
        rate_row("handoff", r.handoff.rate),
        rate_row("first_contact_resolution", r.first_contact_resolution),
    ]
}

fn handoff_reasons(r: &KpiReport) -> Rows {
    r.handoff
        .by_reason
        .iter()
        .map(|x| {
            vec![
                x.reason.clone(),
                x.rate.numerator.to_string(),
                x.tickets.to_string(),
                x.rate.denominator.to_string(),
                opt(x.rate.rate),
            ]
        })
        .collect()
}

fn csat(r: &KpiReport) -> Rows {
    r.csat
        .distribution
        .iter()
        .map(|s| vec![s.score.to_string(), s.responses.to_string()])
        .collect()
}

fn durations(r: &KpiReport) -> Rows {
    r.durations
        .iter()
        .map(|d| {
            vec![
                d.kpi.clone(),
                d.count.to_string(),
                opt(d.mean_seconds),
                opt(d.median_seconds),
                opt(d.p90_seconds),
            ]
        })
        .collect()
}

fn feedback(r: &KpiReport) -> Rows {
    r.feedback_by_intent
        .iter()
        .map(|f| {
            vec![
                intent(&f.intent),
                f.answers.to_string(),
                f.unhelpful.denominator.to_string(),
                f.unhelpful.numerator.to_string(),
                opt(f.unhelpful.rate),
            ]
        })
        .collect()
}

fn unanswered(r: &KpiReport) -> Rows {
    r.unanswered
        .iter()
        .map(|g| {
            let examples: Vec<&str> = g.examples.iter().map(|e| e.text.as_str()).collect();
            vec![
                intent(&g.intent),
                g.messages.to_string(),
                g.texts.to_string(),
                examples.join("\n"),
                g.inbox.clone(),
            ]
        })
        .collect()
}
