//! `GET /studio/dashboard`: the Dashboard tab on a page of its own, for trying it out and for
//! the browser test while the studio shell (`/studio`) is not in this branch. It loads
//! `web/studio/standalone.js`, which gives `web/studio/dashboard.js` the same `ctx` the shell
//! gives its tabs. Assets are served from `/studio/dashboard/assets/` so as not to collide with
//! the shell's. Without a session: redirect to the login page; an agent gets "not allowed".
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;

use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::web::console::pages::{escape, UiLocale, CSP};
use crate::web::console::{session, ConsoleState};

#[derive(RustEmbed)]
#[folder = "web/studio/"]
struct Assets;

pub fn router() -> Router<ConsoleState> {
    Router::new()
        .route("/studio/dashboard", get(page))
        .route("/studio/dashboard/assets/{file}", get(asset))
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page(
    State(state): State<ConsoleState>,
    tower: tower_sessions::Session,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(session) = session::current(&state, &tower).await? else {
        return Ok(Redirect::to("/agent/login?next=/studio/dashboard").into_response());
    };
    let locale = UiLocale::pick(None, &headers);
    let a = &session.account;
    if !a.role.at_least(AccountRole::Lead) {
        let body = Html(format!(
            r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>窓口 studio</title></head>
<body><main><h1>Not allowed</h1><p>The studio is for leads and admins; {name} is {role}.</p>
<p><a href="/agent">Console</a></p></main></body></html>"#,
            lang = locale.tag(),
            name = escape(&a.name),
            role = a.role,
        ));
        return Ok(secured((StatusCode::FORBIDDEN, body).into_response()));
    }
    Ok(secured(
        Html(format!(
            r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}">
<meta name="account" content="{name}" data-display-name="{display}" data-role="{role}">
<title>窓口 studio — Dashboard</title>
<link rel="stylesheet" href="/studio/dashboard/assets/dashboard.css"></head>
<body><main><section id="dashboard" aria-label="Dashboard"></section></main>
<div id="toast" role="status" aria-live="polite"></div>
<script type="module" src="/studio/dashboard/assets/standalone.js"></script>
</body></html>"#,
            lang = locale.tag(),
            csrf = escape(&session.csrf_token),
            name = escape(&a.name),
            display = escape(&a.display_name),
            role = a.role,
        ))
        .into_response(),
    ))
}

async fn asset(Path(file): Path<String>) -> Response {
    crate::web::console::pages::embedded_file(Assets::get(&file))
}
