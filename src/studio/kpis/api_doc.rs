//! The OpenAPI description of the dashboard's endpoints (served by `web::studio::dashboard`).
//! It lives here, beside the definitions it documents, because `api::openapi` may import the
//! studio but not the web face (which imports `api`).
#![allow(dead_code)]

use super::report::KpiReport;

/// Every KPI over the conversations started in a date range.
///
/// The scope is the conversations *started* between the start of local day `from` and the end
/// of local day `to` (in `tz`), in `locale`; their messages and tickets count whenever they
/// happened. Definitions (see README "KPIs"):
/// - `conversations`: conversations started in the range.
/// - `per_day`: conversations by local start day and by intent (the first intent the bot
///   recognised in the conversation; null when none).
/// - `containment`: resolved conversations without any handoff ticket / conversations.
/// - `handoff.rate`: conversations with at least one ticket / conversations; `by_reason`: the
///   same per reason code (a conversation with tickets of two reasons counts in both).
/// - `first_contact_resolution`: resolved at first contact (by the bot alone, or by the first
///   person who claimed its only ticket, never handed back) / resolved conversations.
/// - `csat`: responses per score 1–5 and their mean.
/// - `durations` (seconds, to the second; count, mean, and median and p90 interpolated as
///   `percentile_cont`):
///   `first_response` first ticket opened → first agent message; `resolution` start → resolved;
///   `handle` ticket claimed → resolved (or handed back); `wait` ticket opened → claimed.
/// - `feedback_by_intent`: bot answers per predicted intent; rated 👎 / rated.
/// - `unanswered`: customer messages answered by a clarification, a request to rephrase, an
///   out-of-scope reply, or a handoff for low confidence / out of scope, grouped by predicted
///   intent, largest first (top 10), each with a link into the inbox.
///
/// Leads and admins only (console session cookie).
#[utoipa::path(get, path = "/studio/api/kpis", tag = "studio",
    params(
        ("from" = Option<String>, Query, description = "First local day, YYYY-MM-DD (default: 29 days before `to`)"),
        ("to" = Option<String>, Query, description = "Last local day, included, YYYY-MM-DD (default: today)"),
        ("tz" = Option<String>, Query, description = "IANA time zone (default: the business hours' offset, else UTC)"),
        ("locale" = Option<String>, Query, description = "Only conversations in this locale"),
        ("channel" = Option<String>, Query, description = "Only conversations of this channel (refused with 422 until conversations record their channel)"),
    ),
    responses(
        (status = 200, body = KpiReport),
        (status = 401, description = "No console session (JSON error)"),
        (status = 403, description = "Not a lead or admin (JSON error)"),
        (status = 422, description = "A bad parameter; the JSON error names it"),
    ))]
pub fn kpis() {}

/// One KPI table as CSV (`text/csv`, RFC 4180 quoting; a header row; empty cells where a rate
/// has no denominator). `table`: `conversations-per-day`, `rates`, `handoff-reasons`, `csat`,
/// `durations`, `feedback`, `unanswered`. Same parameters and scope as `/studio/api/kpis`.
#[utoipa::path(get, path = "/studio/api/kpis/{table}.csv", tag = "studio",
    params(
        ("table" = String, Path, description = "conversations-per-day | rates | handoff-reasons | csat | durations | feedback | unanswered"),
        ("from" = Option<String>, Query, description = "First local day, YYYY-MM-DD"),
        ("to" = Option<String>, Query, description = "Last local day, included, YYYY-MM-DD"),
        ("tz" = Option<String>, Query, description = "IANA time zone"),
        ("locale" = Option<String>, Query, description = "Only conversations in this locale"),
    ),
    responses(
        (status = 200, description = "The table", content_type = "text/csv", body = String),
        (status = 401, description = "No console session"),
        (status = 403, description = "Not a lead or admin"),
        (status = 422, description = "A bad parameter"),
    ))]
pub fn kpi_csv() {}
