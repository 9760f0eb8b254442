//! The time zone a report's days are local to: an IANA zone (`Asia/Tokyo`, via chrono-tz, so
//! daylight-saving days are 23 or 25 hours long) or a fixed offset (the business hours'
//! `utc_offset`, the default when the dialogue configures one; else UTC).
use std::str::FromStr;

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportZone {
    Named(Tz),
    Fixed(FixedOffset),
}

impl ReportZone {
    /// An IANA zone name (`Asia/Tokyo`, `UTC`), or None when chrono-tz does not know it.
    pub fn named(name: &str) -> Option<ReportZone> {
        Tz::from_str(name).ok().map(ReportZone::Named)
    }

    /// How the report names the zone: the IANA name, or `UTC+09:00`.
    pub fn name(&self) -> String {
        match self {
            ReportZone::Named(tz) => tz.name().to_string(),
            ReportZone::Fixed(offset) => format!("UTC{offset}"),
        }
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        match self {
            ReportZone::Named(tz) => at.with_timezone(tz).date_naive(),
            ReportZone::Fixed(offset) => at.with_timezone(offset).date_naive(),
        }
    }

    /// The instant a local day starts: local midnight, or (where a DST change skips midnight)
    /// the first local time that exists that day.
    pub fn day_start(&self, date: NaiveDate) -> DateTime<Utc> {
        let midnight = date.and_time(chrono::NaiveTime::MIN);
        (0..=24 * 4)
            .map(|quarter| midnight + chrono::Duration::minutes(15 * quarter))
            .find_map(|local| self.earliest(local))
            .unwrap_or_else(|| midnight.and_utc())
    }

    fn earliest(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        fn utc<T: TimeZone>(r: LocalResult<DateTime<T>>) -> Option<DateTime<Utc>> {
            r.earliest().map(|t| t.with_timezone(&Utc))
        }
        match self {
            ReportZone::Named(tz) => utc(tz.from_local_datetime(&local)),
            ReportZone::Fixed(offset) => utc(offset.from_local_datetime(&local)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn a_dst_day_is_23_hours_long_in_new_york() {
        let ny = ReportZone::named("America/New_York").expect("zone");
        let start = ny.day_start(date("2026-03-08"));
        let next = ny.day_start(date("2026-03-09"));
        assert_eq!((next - start).num_hours(), 23);
        assert_eq!(start.to_rfc3339(), "2026-03-08T05:00:00+00:00");
    }

    #[test]
    fn fixed_offsets_and_local_dates() {
        let tokyo = ReportZone::Fixed(FixedOffset::east_opt(9 * 3600).expect("offset"));
        assert_eq!(tokyo.name(), "UTC+09:00");
        let start = tokyo.day_start(date("2026-12-02"));
        assert_eq!(start.to_rfc3339(), "2026-12-01T15:00:00+00:00");
        assert_eq!(tokyo.local_date(start), date("2026-12-02"));
        assert_eq!(
            tokyo.local_date(start - chrono::Duration::seconds(1)),
            date("2026-12-01")
        );
        assert!(ReportZone::named("Mars/Olympus").is_none());
    }
}
