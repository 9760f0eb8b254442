//! The KPI dashboard: every figure of the studio's Dashboard tab over a date range (local days
//! in a time zone), locale and channel, with its exact definition (see README "KPIs").
//!
//! - `query`: the validated request (dates, time zone, locale, channel) and [`KpiError`].
//! - `zone`: the report's time zone (IANA via chrono-tz, or the business hours' fixed offset).
//! - `stats`: mean, median and p90 of durations.
//! - `report`: the [`KpiReport`] DTO, assembled from the store's aggregates.
//! - `tables`: each KPI as a table, for CSV export.
//! - `service`: the entry points, [`kpi_report`] and [`kpi_csv`].
//! - `api_doc`: the OpenAPI description of the `/studio/api/kpis` endpoints.
pub mod api_doc;
mod query;
mod report;
mod service;
mod stats;
mod tables;
mod zone;

pub use query::{KpiError, KpiQuery, RawKpiQuery, MAX_DAYS};
pub use report::{
    Csat, DayIntentCount, DurationStats, HandoffKpi, IntentThumbs, KpiReport, PerDay, Rate,
    ReasonRate, ReportScope, ScoreCount, TextCount, UnansweredGroup,
};
pub use service::{default_zone, kpi_csv, kpi_report, report, KpiCsv};
pub use tables::KpiTable;
pub use zone::ReportZone;
