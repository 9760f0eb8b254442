//! `GET /studio`: the studio's shell page (the scripts of `web/studio/` build the tabs in it) for a
//! lead or an admin; a "not allowed" page (403) for an agent; a redirect to the login, coming back
//! here, without a session. And `GET /studio/assets/{file}`: the embedded files of `web/studio/`.
//! Same strict Content-Security-Policy as the console: no inline script or style, nothing from
//! elsewhere.
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use rust_embed::RustEmbed;

use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::web::console::pages::{escape, LangQuery, UiLocale, CSP};
use crate::web::console::shell::intent_labels;
use crate::web::console::{session, ConsoleState};

#[derive(RustEmbed)]
#[folder = "web/studio/"]
struct Assets;

/// A page with the studio's security headers.
fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `GET /studio`.
pub async fn studio(
    State(state): State<ConsoleState>,
    Query(q): Query<LangQuery>,
    tower: tower_sessions::Session,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let locale = UiLocale::pick(q.lang.as_deref(), &headers);
    let Some(session) = session::current(&state, &tower).await? else {
        let login = "/agent/login?next=/studio";
        return Ok(Redirect::to(login).into_response());
    };
    let a = &session.account;
    if !a.role.at_least(AccountRole::Lead) {
        return Ok(not_allowed(locale, &a.name));
    }
    Ok(page(
        StatusCode::OK,
        format!(
            r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}">
<meta name="account" content="{name}" data-display-name="{display}" data-role="{role}">
<meta name="intent-labels" content="{labels}">
<title>{title}</title><link rel="stylesheet" href="/studio/assets/studio.css"></head>
<body><div id="studio"></div>
<script type="module" src="/studio/assets/studio.js"></script>
</body></html>"#,
            lang = locale.tag(),
            title = match locale {
                UiLocale::Ja => "窓口 スタジオ",
                UiLocale::En => "Madoguchi studio",
            },
            csrf = escape(&session.csrf_token),
            name = escape(&a.name),
            display = escape(&a.display_name),
            role = a.role,
            labels = escape(&intent_labels(&state, locale)),
        ),
    ))
}

/// The page an agent gets: the studio is for leads and admins.
fn not_allowed(locale: UiLocale, name: &str) -> Response {
    let (title, text, back) = match locale {
        UiLocale::Ja => (
            "アクセスできません",
            "スタジオはリーダーと管理者のみが使えます。",
            "コンソールに戻る",
        ),
        UiLocale::En => (
            "Not allowed",
            "The studio is for leads and admins only.",
            "Back to the console",
        ),
    };
    page(
        StatusCode::FORBIDDEN,
        format!(
            r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/studio/assets/studio.css"></head>
<body class="refused"><main class="refused-box"><h1>{title}</h1>
<p>{text} ({name})</p><p><a href="/agent">{back}</a></p></main></body></html>"#,
            lang = locale.tag(),
            name = escape(name),
        ),
    )
}

/// `GET /studio/assets/{file}`: an embedded file of `web/studio/`.
pub async fn asset(Path(file): Path<String>) -> Response {
    crate::web::console::pages::embedded_file(Assets::get(&file))
}
