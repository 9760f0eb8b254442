//! The dashboard's entry points: one report, or one of its tables as CSV, for the raw query
//! parameters (validated here, with the business hours' offset as the default time zone).
use super::query::{KpiError, KpiQuery, RawKpiQuery};
use super::report::{assemble, KpiReport};
use super::tables::KpiTable;
use super::zone::ReportZone;
use crate::conversation::Conversations;
use crate::store::Store;

/// A CSV export: its file name and content.
#[derive(Debug, Clone)]
pub struct KpiCsv {
    pub file_name: String,
    pub body: Vec<u8>,
}

/// The zone a report uses when the request names none: the business hours' offset when the
/// dialogue configures business hours, else UTC.
pub fn default_zone(conversations: &Conversations) -> ReportZone {
    match conversations.dialogue().business_hours() {
        Some(hours) => ReportZone::Fixed(hours.offset()),
        None => ReportZone::Named(chrono_tz::UTC),
    }
}

/// Every KPI for the request `raw` (see README "KPIs").
pub async fn kpi_report(
    conversations: &Conversations,
    raw: &RawKpiQuery,
) -> Result<KpiReport, KpiError> {
    let query = KpiQuery::parse(raw, default_zone(conversations))?;
    report(conversations.store(), &query).await
}

/// One KPI table of the report for `raw`, as CSV.
pub async fn kpi_csv(
    conversations: &Conversations,
    raw: &RawKpiQuery,
    table: KpiTable,
) -> Result<KpiCsv, KpiError> {
    let query = KpiQuery::parse(raw, default_zone(conversations))?;
    let report = report(conversations.store(), &query).await?;
    let body = table
        .csv(&report)
        .map_err(|e| KpiError::Csv(e.to_string()))?;
    Ok(KpiCsv {
        file_name: format!("kpi-{}-{}-{}.csv", table.slug(), query.from, query.to),
        body,
    })
}

/// Every KPI over the conversations started in the query's range.
#[tracing::instrument(skip_all, fields(from = %query.from, to = %query.to))]
pub async fn report(store: &Store, query: &KpiQuery) -> Result<KpiReport, KpiError> {
    let data = store.kpi_data(&query.scope()).await?;
    Ok(assemble(query, data))
}
