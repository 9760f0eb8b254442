//! The console's HTML: the login page and the console shell (both rendered here, with the UI
//! language from `?lang=`, the form, or `Accept-Language`), and the static assets of
//! `web/console/` (embedded). Pages carry a strict Content-Security-Policy: no inline script or
//! style, nothing from elsewhere. Every dynamic text is HTML-escaped here, and set with
//! `textContent` by the scripts.
use axum::extract::{Path, Query};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use rust_embed::RustEmbed;
use serde::Deserialize;

#[derive(RustEmbed)]
#[folder = "web/console/"]
struct Assets;

/// The console's Content-Security-Policy.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's UI language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiLocale {
    Ja,
    En,
}

impl UiLocale {
    /// An explicit choice (`ja`/`en`), else the first of `Accept-Language` we speak, else ja.
    pub fn pick(explicit: Option<&str>, headers: &HeaderMap) -> UiLocale {
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let wanted = explicit.into_iter().chain(
            accept
                .split(',')
                .map(|part| part.split(';').next().unwrap_or("")),
        );
        for tag in wanted {
            match tag.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
                Some("ja") => return UiLocale::Ja,
                Some("en") => return UiLocale::En,
                _ => {}
            }
        }
        UiLocale::Ja
    }

    pub fn tag(self) -> &'static str {
        match self {
            UiLocale::Ja => "ja",
            UiLocale::En => "en",
        }
    }

    fn other(self) -> UiLocale {
        match self {
            UiLocale::Ja => UiLocale::En,
            UiLocale::En => UiLocale::Ja,
        }
    }
}

/// The login page's texts (the console's own are in `web/console/i18n.js`).
struct LoginTexts {
    title: &'static str,
    username: &'static str,
    password: &'static str,
    submit: &'static str,
    refused: &'static str,
    too_many: &'static str,
    switch: &'static str,
}

fn login_texts(locale: UiLocale) -> LoginTexts {
    match locale {
        UiLocale::Ja => LoginTexts {
            title: "窓口 担当者コンソール",
            username: "ユーザー名",
            password: "パスワード",
            submit: "ログイン",
            refused: "ユーザー名またはパスワードが正しくありません。",
            too_many: "ログインの試行が多すぎます。しばらくしてからお試しください。",
            switch: "English",
        },
        UiLocale::En => LoginTexts {
            title: "Madoguchi agent console",
            username: "Username",
            password: "Password",
            submit: "Log in",
            refused: "Wrong username or password.",
            too_many: "Too many login attempts. Please try again later.",
            switch: "日本語",
        },
    }
}

/// Why the login page is shown again.
#[derive(Debug, Clone, Copy)]
pub enum LoginProblem {
    Refused,
    TooMany,
}

/// Escapes text for HTML element content and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A page with the console's security headers.
pub(super) fn page(html: String) -> Response {
    let mut response = Html(html).into_response();
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

/// Where to go after logging in: a path on this site only (`/studio`, not `//evil.example` or
/// `https://…`), else nowhere in particular.
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    let next = next?;
    let safe = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 512
        && !next
            .chars()
            .any(|c| c == '\\' || c.is_control() || c.is_whitespace());
    safe.then_some(next)
}

pub fn login_page(locale: UiLocale, problem: Option<LoginProblem>, next: Option<&str>) -> Response {
    let t = login_texts(locale);
    let alert = match problem {
        None => String::new(),
        Some(p) => format!(
            r#"<p class="alert" role="alert">{}</p>"#,
            escape(match p {
                LoginProblem::Refused => t.refused,
                LoginProblem::TooMany => t.too_many,
            })
        ),
    };
    let lang = locale.tag();
    let other = locale.other().tag();
    page(format!(
        r#"<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="/agent/assets/console.css"></head>
<body class="login"><main class="login-box">
<h1>{title}</h1>{alert}
<form method="post" action="/agent/login">
<input type="hidden" name="lang" value="{lang}">{next_field}
<label for="username">{username}</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{submit}</button>
</form>
<p><a href="/agent/login?lang={other}" lang="{other}">{switch}</a></p>
</main></body></html>"#,
        title = t.title,
        username = t.username,
        password = t.password,
        submit = t.submit,
        switch = t.switch,
        next_field = match safe_next(next) {
            Some(n) => format!(r#"<input type="hidden" name="next" value="{}">"#, escape(n)),
            None => String::new(),
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
    /// Where to go after logging in (see [`safe_next`]).
    #[serde(default)]
    pub next: Option<String>,
}

/// `GET /agent/login`.
pub async fn login_form(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    login_page(
        UiLocale::pick(q.lang.as_deref(), &headers),
        None,
        q.next.as_deref(),
    )
}

/// `GET /agent/assets/{file}`: an embedded file of `web/console/`.
pub async fn asset(Path(file): Path<String>) -> Response {
    embedded_file(Assets::get(&file))
}

/// An embedded static file with its type, `nosniff` and `no-cache` (revalidated, so a new binary's
/// assets are picked up), or 404.
pub fn embedded_file(content: Option<rust_embed::EmbeddedFile>) -> Response {
    let Some(content) = content else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let mime = content.metadata.mimetype().to_string();
    let mut response = content.data.into_owned().into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_comes_from_the_choice_then_accept_language() {
        let mut h = HeaderMap::new();
        assert_eq!(UiLocale::pick(None, &h), UiLocale::Ja);
        h.insert(
            header::ACCEPT_LANGUAGE,
            HeaderValue::from_static("fr;q=0.9, en-US"),
        );
        assert_eq!(UiLocale::pick(None, &h), UiLocale::En);
        assert_eq!(UiLocale::pick(Some("ja"), &h), UiLocale::Ja);
    }

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<img src=x onerror="a">&'"#),
            "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;&#39;"
        );
    }
}
