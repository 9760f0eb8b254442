//! Console sessions: logging in and out, the session cookie, and the [`Session`] extractor that
//! every console endpoint takes (it also checks the CSRF token on state-changing requests).
//!
//! The cookie holds a random token; the store keeps only its SHA-256, with the account, a CSRF
//! token, an idle expiry that slides on use and an absolute one. Logging out deletes the row;
//! disabling an account or changing its password deletes all of its rows, so sessions are
//! revocable at once, on every replica.
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use serde::Deserialize;

use super::pages::{self, UiLocale};
use super::password::verify_password;
use super::state::ConsoleState;
use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::store::{new_customer_token, sha256_hex, Account, NewSession};

/// The session cookie's name (`__Host-` prefix when Secure: bound to this host and path `/`).
const COOKIE: &str = "madoguchi_console";
const SECURE_COOKIE: &str = "__Host-madoguchi_console";
/// A session ends after this long unused…
pub const IDLE: chrono::Duration = chrono::Duration::hours(12);
/// …and a week after login in any case.
pub const ABSOLUTE: chrono::Duration = chrono::Duration::days(7);
/// The header the console's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The logged-in person, for a console endpoint.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: Account,
    pub csrf_token: String,
}

impl Session {
    /// 403 unless the account's role is at least `role`.
    pub fn require(&self, role: AccountRole) -> Result<(), ApiError> {
        if self.account.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {role} role; {} is {}",
                self.account.name, self.account.role
            )))
        }
    }
}

fn cookie_name(state: &ConsoleState) -> &'static str {
    if state.app.config.secure_cookies {
        SECURE_COOKIE
    } else {
        COOKIE
    }
}

fn cookie_token<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The live session the request's cookie names, if any.
pub async fn current(
    state: &ConsoleState,
    headers: &HeaderMap,
) -> Result<Option<Session>, ApiError> {
    let Some(token) = cookie_token(headers, cookie_name(state)) else {
        return Ok(None);
    };
    let found = state
        .app
        .store
        .touch_session(&sha256_hex(token), IDLE)
        .await?;
    Ok(found.map(|s| Session {
        account: s.account,
        csrf_token: s.csrf_token,
    }))
}

/// Compares in time independent of where the texts differ.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let session = current(state, &parts.headers).await?.ok_or_else(|| {
            ApiError::Unauthorized("log in first (no live console session)".into())
        })?;
        if changes_state(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|t| same_secret(t, &session.csrf_token)) {
                return Err(ApiError::Forbidden(
                    "missing or wrong X-CSRF-Token for this session".into(),
                ));
            }
        }
        Ok(session)
    }
}

fn set_cookie(state: &ConsoleState, token: &str, max_age: i64) -> HeaderValue {
    let secure = if state.app.config.secure_cookies {
        "; Secure"
    } else {
        ""
    };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        cookie_name(state)
    );
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static(""))
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub lang: Option<String>,
    /// Where to go after logging in (a path on this site; see [`pages::safe_next`]).
    #[serde(default)]
    pub next: Option<String>,
}

/// Login CSRF: a browser's cross-site form post carries another site's `Origin`.
fn same_origin(headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin.split_once("://").map(|(_, h)| h) == Some(host),
        (Some(_), None) => false,
    }
}

fn client_address(parts_ext: &axum::http::Extensions) -> Option<IpAddr> {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// `POST /agent/login` (an HTML form): on success a new session cookie and a redirect to the
/// console; otherwise the login page again with a message (401), or 429 when rate-limited.
pub async fn login(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<LoginForm>,
) -> Result<Response, ApiError> {
    let locale = UiLocale::pick(form.lang.as_deref(), &headers);
    if !same_origin(&headers) {
        return Err(ApiError::Forbidden(
            "the login form must be posted from this site".into(),
        ));
    }
    let name = form.username.trim();
    state.limiter.shrink();
    if let Err(wait) = state.limiter.check(name, client_address(&extensions)) {
        let seconds = wait.as_secs().max(1);
        let mut response = pages::login_page(
            locale,
            Some(pages::LoginProblem::TooMany),
            form.next.as_deref(),
        )
        .into_response();
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let account = state.app.store.account(name).await?;
    let password = form.password;
    // Verify even for an unknown name, so timing does not tell which names exist.
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    let Some(account) = account.filter(|a| matches && !a.disabled) else {
        let mut response = pages::login_page(
            locale,
            Some(pages::LoginProblem::Refused),
            form.next.as_deref(),
        )
        .into_response();
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    };
    let (token, token_sha256) = new_customer_token();
    let (csrf_token, _) = new_customer_token();
    state
        .app
        .store
        .create_session(NewSession {
            token_sha256: &token_sha256,
            account_name: &account.name,
            csrf_token: &csrf_token,
            idle: IDLE,
            absolute: ABSOLUTE,
        })
        .await?;
    // Sweep the expired sessions now and then (a login is rare enough and a good moment).
    if let Err(e) = state.app.store.delete_expired_sessions().await {
        tracing::warn!(error = %e, "could not sweep expired console sessions");
    }
    tracing::info!(account = %account.name, "console login");
    let target = pages::safe_next(form.next.as_deref()).unwrap_or("/agent");
    let mut response = Redirect::to(target).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        set_cookie(&state, &token, ABSOLUTE.num_seconds()),
    );
    Ok(response)
}

/// `POST /agent/logout` (CSRF-checked): ends the session and clears the cookie.
pub async fn logout(
    State(state): State<ConsoleState>,
    session: Session,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(token) = cookie_token(&headers, cookie_name(&state)) {
        state.app.store.delete_session(&sha256_hex(token)).await?;
    }
    tracing::info!(account = %session.account.name, "console logout");
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, set_cookie(&state, "", 0));
    Ok(response)
}
