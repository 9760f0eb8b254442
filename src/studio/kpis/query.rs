//! A dashboard request: the date range (inclusive local days), the time zone, the locale and the
//! channel, validated from the raw query parameters; and the errors of this module.
use chrono::{Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::zone::ReportZone;
use crate::domain::Locale;
use crate::store::{KpiScope, StoreError};

/// The longest range one report covers, in days.
pub const MAX_DAYS: i64 = 366;
/// The range when none is given: the last 30 days, today included.
const DEFAULT_DAYS: i64 = 30;
const SECONDS_PER_DAY: i64 = 86_400;

/// Greatest common divisor (of non-negative and negative times alike).
fn gcd(a: i64, b: i64) -> i64 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    i64::try_from(a).unwrap_or(SECONDS_PER_DAY)
}

#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    /// A parameter is malformed or out of range (the message says which and why).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the CSV failed (a bug: it is written to memory).
    #[error("cannot write the CSV: {0}")]
    Csv(String),
}

/// The query parameters as sent (`?from=2026-11-01&to=2026-11-30&tz=Asia/Tokyo&locale=ja`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawKpiQuery {
    /// First local day (YYYY-MM-DD); default: 29 days before `to`.
    pub from: Option<String>,
    /// Last local day, included (YYYY-MM-DD); default: today.
    pub to: Option<String>,
    /// IANA time zone (`Asia/Tokyo`); default: the business hours' offset, else UTC.
    pub tz: Option<String>,
    /// Only conversations in this locale; default: all.
    pub locale: Option<String>,
    /// Only conversations from this channel; default: all.
    pub channel: Option<String>,
}

/// A validated dashboard request.
#[derive(Debug, Clone, PartialEq)]
pub struct KpiQuery {
    pub from: NaiveDate,
    /// Included.
    pub to: NaiveDate,
    pub zone: ReportZone,
    pub locale: Option<Locale>,
    pub channel: Option<String>,
}

fn blank_to_none(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn date(field: &str, s: &str) -> Result<NaiveDate, KpiError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| KpiError::Invalid(format!("{field}: {s:?} is not a date (YYYY-MM-DD)")))
}

impl KpiQuery {
    /// Validates `raw`; `default_zone` applies when it names no time zone.
    pub fn parse(raw: &RawKpiQuery, default_zone: ReportZone) -> Result<KpiQuery, KpiError> {
        let zone = match blank_to_none(&raw.tz) {
            Some(name) => ReportZone::named(name).ok_or_else(|| {
                KpiError::Invalid(format!(
                    "tz: {name:?} is not an IANA time zone (like Asia/Tokyo or UTC)"
                ))
            })?,
            None => default_zone,
        };
        let to = match blank_to_none(&raw.to) {
            Some(s) => date("to", s)?,
            None => zone.local_date(Utc::now()),
        };
        let from = match blank_to_none(&raw.from) {
            Some(s) => date("from", s)?,
            None => to - Duration::days(DEFAULT_DAYS - 1),
        };
        if from > to {
            return Err(KpiError::Invalid(format!(
                "from ({from}) is after to ({to})"
            )));
        }
        if (to - from).num_days() >= MAX_DAYS {
            return Err(KpiError::Invalid(format!(
                "the range {from} … {to} is longer than {MAX_DAYS} days"
            )));
        }
        let locale = blank_to_none(&raw.locale)
            .map(|l| Locale::try_from(l).map_err(|e| KpiError::Invalid(format!("locale: {e}"))))
            .transpose()?;
        let channel = blank_to_none(&raw.channel)
            .map(|c| {
                crate::domain::Channel::parse(c)
                    .map(|c| c.as_str().to_string())
                    .ok_or_else(|| {
                        KpiError::Invalid(format!("channel: {c:?} is not web, api or line"))
                    })
            })
            .transpose()?;
        Ok(KpiQuery {
            from,
            to,
            zone,
            locale,
            channel,
        })
    }

    /// The local days of the range, in order.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from
            .iter_days()
            .take_while(|d| *d <= self.to)
            .collect()
    }

    /// The store's scope: from the first day's start to the start of the day after the last,
    /// counting conversations in the largest buckets that never straddle a local day boundary.
    pub fn scope(&self) -> KpiScope {
        let after = self.to.succ_opt().unwrap_or(self.to);
        let starts = self
            .from
            .iter_days()
            .take_while(|d| *d <= after)
            .map(|d| self.zone.day_start(d).timestamp());
        KpiScope {
            from: self.zone.day_start(self.from),
            until: self.zone.day_start(after),
            locale: self.locale.clone(),
            channel: self.channel.clone(),
            bucket_seconds: starts.fold(SECONDS_PER_DAY, gcd).max(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(from: &str, to: &str) -> RawKpiQuery {
        RawKpiQuery {
            from: Some(from.into()),
            to: Some(to.into()),
            ..RawKpiQuery::default()
        }
    }

    fn utc() -> ReportZone {
        ReportZone::named("UTC").expect("utc")
    }

    #[test]
    fn bad_parameters_say_what_is_wrong() {
        let err = |r: RawKpiQuery| KpiQuery::parse(&r, utc()).expect_err("refused").to_string();
        assert!(err(raw("2026-13-01", "2026-12-01")).starts_with("from:"));
        assert!(err(raw("2026-12-02", "2026-12-01")).contains("after"));
        assert!(err(raw("2024-01-01", "2026-12-01")).contains("366"));
        let tz = RawKpiQuery {
            tz: Some("Mars/Olympus".into()),
            ..raw("2026-12-01", "2026-12-01")
        };
        assert!(err(tz).starts_with("tz:"));
        let channel = |c: &str| RawKpiQuery {
            channel: Some(c.into()),
            ..raw("2026-12-01", "2026-12-01")
        };
        assert!(err(channel("fax")).starts_with("channel:"));
        let line = KpiQuery::parse(&channel("line"), utc()).expect("a known channel");
        assert_eq!(line.scope().channel.as_deref(), Some("line"));
    }

    #[test]
    fn the_scope_covers_whole_local_days() {
        let q = RawKpiQuery {
            tz: Some("Asia/Tokyo".into()),
            ..raw("2026-12-01", "2026-12-02")
        };
        let q = KpiQuery::parse(&q, utc()).expect("valid");
        let scope = q.scope();
        assert_eq!(scope.from.to_rfc3339(), "2026-11-30T15:00:00+00:00");
        assert_eq!(scope.until.to_rfc3339(), "2026-12-02T15:00:00+00:00");
        assert_eq!(q.days().len(), 2);
        // Tokyo days start at 15:00 UTC: 3-hour buckets never straddle one; UTC needs only days.
        assert_eq!(scope.bucket_seconds, 3 * 3600);
        let in_utc = KpiQuery::parse(&raw("2026-12-01", "2026-12-02"), utc()).expect("valid");
        assert_eq!(in_utc.scope().bucket_seconds, 86_400);
        let kathmandu = RawKpiQuery {
            tz: Some("Asia/Kathmandu".into()),
            ..raw("2026-12-01", "2026-12-02")
        };
        let kathmandu = KpiQuery::parse(&kathmandu, utc()).expect("valid");
        assert_eq!(kathmandu.scope().bucket_seconds, 900);
    }
}
