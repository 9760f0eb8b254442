//! The studio's OpenAPI document (`/studio/openapi.json`, tag `studio`): its JSON endpoints and
//! their DTOs. Kept beside the handlers: the API's own document (`crate::api::openapi`) cannot
//! name them without an `api` → `web` import (the faces' layer already imports `api`).
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi;

use super::{inbox, intents};
use crate::studio::inbox::{Alternative, InboxFilter, InboxGroup, InboxItem, InboxPage};
use crate::studio::intents::{
    CheckResult, IntentDetail, IntentDraft, IntentList, IntentSummary, Preview, PreviewRequest,
    RenderedTemplate, SaveReceipt,
};
use crate::studio::label::{DecideReceipt, DecideRequest, InboxAction, UndoReceipt, WrittenFile};
use crate::studio::try_it::{Neighbour, TryRequest, TryResult};
use crate::web::console::ConsoleState;

#[derive(OpenApi)]
#[openapi(
    info(title = "madoguchi studio", description = "The support lead's studio (session cookie; X-CSRF-Token on every state-changing request; role lead or admin)."),
    paths(
        inbox::list, inbox::decide, inbox::undo, inbox::transcript,
        intents::list, intents::show, intents::check, intents::save, intents::render_preview,
        intents::try_it,
    ),
    components(schemas(
        crate::api::error::ErrorBody, crate::api::error::ErrorDetail,
        InboxFilter, InboxPage, InboxGroup, InboxItem, Alternative,
        DecideRequest, InboxAction, DecideReceipt, WrittenFile, UndoReceipt, IntentDraft,
        inbox::StudioTranscript,
        IntentList, IntentSummary, IntentDetail, CheckResult, SaveReceipt, PreviewRequest, Preview,
        RenderedTemplate, TryRequest, TryResult, Neighbour,
    )),
    tags((name = "studio", description = "The support lead's studio: inbox, intents, try it")),
)]
pub struct StudioApiDoc;

/// The studio's document (also merged into `/openapi.json` by `web::app`).
pub fn document() -> utoipa::openapi::OpenApi {
    StudioApiDoc::openapi()
}

/// `GET /studio/openapi.json`.
pub fn router() -> Router<ConsoleState> {
    Router::new().route(
        "/studio/openapi.json",
        get(|| async { Json(StudioApiDoc::openapi()) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_holds_the_api_and_every_studio_endpoint() {
        let mut doc = crate::api::openapi::document();
        doc.merge(document());
        let doc = serde_json::to_value(doc).expect("json");
        for path in [
            "/v1/classify",
            "/studio/api/inbox",
            "/studio/api/intents/{name}",
            "/studio/api/kpis",
            "/studio/api/models",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
    }

    #[test]
    fn every_studio_endpoint_is_documented() {
        let doc = serde_json::to_value(StudioApiDoc::openapi()).expect("json");
        for path in [
            "/studio/api/inbox",
            "/studio/api/inbox/actions",
            "/studio/api/inbox/undo/{batch_id}",
            "/studio/api/conversations/{id}/messages",
            "/studio/api/intents",
            "/studio/api/intents/{name}",
            "/studio/api/intents/{name}/check",
            "/studio/api/preview",
            "/studio/api/try",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert!(doc["paths"]["/studio/api/intents/{name}"]
            .get("put")
            .is_some());
    }
}
