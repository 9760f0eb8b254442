//! `GET /agent`: the console shell for a logged-in person (the page the scripts of `web/console/`
//! build the console in), else a redirect to the login page.
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::pages::{escape, page, LangQuery, UiLocale};
use super::session;
use super::state::ConsoleState;
use crate::api::ApiError;

/// `GET /agent`: the console shell for a logged-in person, else a redirect to the login page.
pub async fn console(
    State(state): State<ConsoleState>,
    Query(q): Query<LangQuery>,
    tower: tower_sessions::Session,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(session) = session::current(&state, &tower).await? else {
        return Ok(Redirect::to("/agent/login").into_response());
    };
    let locale = UiLocale::pick(q.lang.as_deref(), &headers);
    let a = &session.account;
    Ok(page(format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}">
<meta name="account" content="{name}" data-display-name="{display}" data-role="{role}">
<meta name="intent-labels" content="{labels}">
<title>窓口</title><link rel="stylesheet" href="/agent/assets/console.css"></head>
<body><div id="app"></div>
<script src="/agent/assets/i18n.js"></script>
<script src="/agent/assets/console.js"></script>
</body></html>"#,
        lang = locale.tag(),
        csrf = escape(&session.csrf_token),
        name = escape(&a.name),
        display = escape(&a.display_name),
        role = a.role,
        labels = escape(&intent_labels(&state, locale)),
    )))
}

/// The catalog's names of the intents for people, in the console's language, as a JSON object
/// (the console shows "配送状況の確認", not `order_status`). The studio embeds it too.
pub(crate) fn intent_labels(state: &ConsoleState, locale: UiLocale) -> String {
    let dialogue = state.app.conversations.dialogue();
    let labels: std::collections::BTreeMap<&str, &str> = dialogue
        .config()
        .intent_labels
        .iter()
        .filter_map(|(intent, names)| {
            let name = names
                .iter()
                .find(|(l, _)| l.as_str() == locale.tag())
                .map(|(_, n)| n.as_str())?;
            Some((intent.as_str(), name))
        })
        .collect();
    serde_json::to_string(&labels).unwrap_or_else(|_| "{}".into())
}
