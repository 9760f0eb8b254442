//! The OpenAPI description of the studio's model endpoints (served by `web::studio::models`)
//! and the bodies they take and give. It lives here because `api::openapi` may import the studio
//! but not the web face (which imports `api`). Leads and admins only (console session cookie;
//! `X-CSRF-Token` on POST and DELETE).
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

use super::models::Versions;
use super::regression::{CaseResult, NewPin};
use super::report::{CompareReport, DialSetting};
use super::training_state::{TrainOptions, TrainingStatus};
use crate::store::{AuditEntry, Publication, RegressionCase};

/// What publishing takes.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishBody {
    /// Answer threshold to serve with (from the dial); default: the trained one.
    pub threshold: Option<f32>,
}

/// Where to roll back to.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    /// An earlier published version; default: the previously published one.
    pub to: Option<String>,
}

/// The pinned messages.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PinList {
    pub cases: Vec<RegressionCase>,
}

/// The regression results of a version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResults {
    pub version: String,
    pub results: Vec<CaseResult>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
}

#[utoipa::path(get, path = "/studio/api/models", tag = "studio",
    responses((status = 200, body = Versions), (status = 401, description = "{\"error\": {\"code\", \"message\"}}"),
        (status = 403, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn versions() {}

#[utoipa::path(get, path = "/studio/api/models/train", tag = "studio",
    responses((status = 200, body = TrainingStatus)))]
pub fn training() {}

#[utoipa::path(post, path = "/studio/api/models/train", tag = "studio",
    request_body(content = TrainOptions, description = "optional"),
    responses((status = 202, body = TrainingStatus), (status = 409, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn train() {}

#[utoipa::path(get, path = "/studio/api/models/{version}/report", tag = "studio",
    params(("version" = String, Path)),
    responses((status = 200, body = CompareReport), (status = 404, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn compare_report() {}

#[utoipa::path(get, path = "/studio/api/models/{version}/dial", tag = "studio",
    params(("version" = String, Path), ("precision" = Option<f32>, Query), ("threshold" = Option<f32>, Query)),
    responses((status = 200, body = DialSetting), (status = 422, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn dial() {}

#[utoipa::path(post, path = "/studio/api/models/{version}/publish", tag = "studio",
    params(("version" = String, Path)), request_body(content = PublishBody, description = "optional"),
    responses((status = 200, body = Publication), (status = 404, description = "{\"error\": {\"code\", \"message\"}}"),
        (status = 422, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn publish() {}

#[utoipa::path(post, path = "/studio/api/models/rollback", tag = "studio",
    request_body(content = RollbackBody, description = "optional"),
    responses((status = 200, body = Publication), (status = 409, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn rollback() {}

#[utoipa::path(get, path = "/studio/api/regression", tag = "studio",
    responses((status = 200, body = PinList)))]
pub fn pins() {}

#[utoipa::path(post, path = "/studio/api/regression", tag = "studio", request_body = NewPin,
    responses((status = 201, body = RegressionCase), (status = 422, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn pin() {}

#[utoipa::path(delete, path = "/studio/api/regression/{id}", tag = "studio",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn unpin() {}

#[utoipa::path(get, path = "/studio/api/regression/check/{version}", tag = "studio",
    params(("version" = String, Path)),
    responses((status = 200, body = CheckResults), (status = 404, description = "{\"error\": {\"code\", \"message\"}}")))]
pub fn check() {}

#[utoipa::path(get, path = "/studio/api/audit", tag = "studio",
    params(("limit" = Option<u32>, Query), ("before" = Option<i64>, Query)),
    responses((status = 200, body = AuditPage)))]
pub fn audit() {}
