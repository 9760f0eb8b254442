//! Business hours: when people answer handoffs, so that a customer who reaches a person outside them is
//! told honestly when someone will reply (and the ticket waits).
use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};
use serde::Deserialize;

/// Opening days and hours in one fixed UTC offset, with closed dates (holidays).
///
/// In `_dialogue.yaml`:
///
/// ```yaml
/// business_hours:
///   utc_offset: "+09:00"
///   days: [mon, tue, wed, thu, fri]
///   open: "09:00"
///   close: "18:00"
///   closed_dates: ["2026-01-01"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawBusinessHours")]
pub struct BusinessHours {
    offset: FixedOffset,
    days: Vec<Weekday>,
    open: NaiveTime,
    close: NaiveTime,
    closed_dates: Vec<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBusinessHours {
    utc_offset: String,
    days: Vec<String>,
    open: String,
    close: String,
    #[serde(default)]
    closed_dates: Vec<String>,
}

impl TryFrom<RawBusinessHours> for BusinessHours {
    type Error = String;
    fn try_from(raw: RawBusinessHours) -> Result<Self, String> {
        let offset = parse_offset(&raw.utc_offset)?;
        let days = raw
            .days
            .iter()
            .map(|d| {
                d.parse::<Weekday>()
                    .map_err(|_| format!("business_hours.days: {d:?} is not a weekday (mon … sun)"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let time = |field: &str, s: &str| {
            NaiveTime::parse_from_str(s, "%H:%M")
                .map_err(|_| format!("business_hours.{field}: {s:?} is not a time (HH:MM)"))
        };
        let closed_dates = raw
            .closed_dates
            .iter()
            .map(|d| {
                NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
                    format!("business_hours.closed_dates: {d:?} is not a date (YYYY-MM-DD)")
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(
            offset,
            days,
            time("open", &raw.open)?,
            time("close", &raw.close)?,
            closed_dates,
        )
    }
}

fn parse_offset(s: &str) -> Result<FixedOffset, String> {
    let bad = || format!("business_hours.utc_offset: {s:?} is not an offset like \"+09:00\"");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let (h, m) = rest.split_once(':').ok_or_else(bad)?;
    let h: i32 = h.parse().map_err(|_| bad())?;
    let m: i32 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60)).ok_or_else(bad)
}

impl BusinessHours {
    /// Open on `days` from `open` until `close` (local time at `offset`), except on `closed_dates`.
    pub fn new(
        offset: FixedOffset,
        days: Vec<Weekday>,
        open: NaiveTime,
        close: NaiveTime,
        closed_dates: Vec<NaiveDate>,
    ) -> Result<Self, String> {
        if days.is_empty() {
            return Err("business_hours.days: no opening day".into());
        }
        if open >= close {
            return Err(format!(
                "business_hours: open ({open}) must be before close ({close})"
            ));
        }
        Ok(Self {
            offset,
            days,
            open,
            close,
            closed_dates,
        })
    }

    /// The offset local times are given in.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    fn open_on(&self, date: NaiveDate) -> bool {
        self.days.contains(&date.weekday()) && !self.closed_dates.contains(&date)
    }

    /// Are people answering at `now`?
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&self.offset);
        let t = local.time();
        self.open_on(local.date_naive()) && self.open <= t && t < self.close
    }

    /// `now` (in local time) when open, else the next opening; `None` when the closed dates leave no
    /// opening within a year.
    pub fn next_open(&self, now: DateTime<Utc>) -> Option<DateTime<FixedOffset>> {
        let local = now.with_timezone(&self.offset);
        if self.is_open(now) {
            return Some(local);
        }
        let mut date = local.date_naive();
        for _ in 0..=366 {
            if self.open_on(date) {
                let opening = date
                    .and_time(self.open)
                    .and_local_timezone(self.offset)
                    .single()?;
                if opening > local {
                    return Some(opening);
                }
            }
            date = date.succ_opt()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> BusinessHours {
        serde_norway::from_str(
            "utc_offset: \"+09:00\"\ndays: [mon, tue, wed, thu, fri]\nopen: \"09:00\"\nclose: \"18:00\"\nclosed_dates: [\"2025-11-24\"]\n",
        )
        .unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn open_on_weekdays_in_local_time() {
        let h = hours();
        // Monday 2025-11-17 10:00 JST = 01:00 UTC.
        assert!(h.is_open(at("2025-11-17T01:00:00Z")));
        // Monday 08:59 JST.
        assert!(!h.is_open(at("2025-11-16T23:59:00Z")));
        // Monday 18:00 JST: closed.
        assert!(!h.is_open(at("2025-11-17T09:00:00Z")));
        // Saturday noon JST.
        assert!(!h.is_open(at("2025-11-22T03:00:00Z")));
    }

    #[test]
    fn next_open_skips_nights_weekends_and_holidays() {
        let h = hours();
        let open = h.next_open(at("2025-11-17T01:00:00Z")).unwrap();
        assert_eq!(open.to_rfc3339(), "2025-11-17T10:00:00+09:00");
        // Friday 20:00 JST → Monday 09:00 JST.
        let next = h.next_open(at("2025-11-14T11:00:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2025-11-17T09:00:00+09:00");
        // Before opening the same day.
        let next = h.next_open(at("2025-11-17T22:00:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2025-11-18T09:00:00+09:00");
        // Saturday 22nd → Monday 24th is closed → Tuesday 25th.
        let next = h.next_open(at("2025-11-22T03:00:00Z")).unwrap();
        assert_eq!(next.to_rfc3339(), "2025-11-25T09:00:00+09:00");
    }

    #[test]
    fn bad_values_are_named() {
        let e = serde_norway::from_str::<BusinessHours>(
            "utc_offset: \"JST\"\ndays: [mon]\nopen: \"09:00\"\nclose: \"18:00\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("utc_offset"), "{e}");
        let e = serde_norway::from_str::<BusinessHours>(
            "utc_offset: \"+09:00\"\ndays: [mon]\nopen: \"18:00\"\nclose: \"09:00\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("before close"), "{e}");
    }
}
