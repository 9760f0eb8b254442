//! Console sessions: logging in and out, and the [`Session`] extractor that every console
//! endpoint takes (it also checks the CSRF token on state-changing requests).
//!
//! The sessions themselves are tower-sessions' (cookie, idle expiry, storage through
//! `session_store`): a logged-in session holds a [`Login`] — the account, a CSRF token and when.
//! Logging out deletes it; disabling an account or changing its password deletes all of its
//! sessions, so sessions are revocable at once, on every replica.
use std::net::IpAddr;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::pages::{self, UiLocale};
use super::password::verify_password;
use super::state::ConsoleState;
use crate::api::ApiError;
use crate::domain::AccountRole;
use crate::store::{new_customer_token, Account};

/// A session ends after this long unused…
pub const IDLE: chrono::Duration = chrono::Duration::hours(12);
/// …and a week after login in any case.
pub const ABSOLUTE: chrono::Duration = chrono::Duration::days(7);
/// The header the console's scripts send the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Where a session keeps its [`Login`].
pub const LOGIN_KEY: &str = "login";

/// What a logged-in session holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Login {
    pub account: String,
    /// Sent back by the page as `X-CSRF-Token` on every state-changing request.
    pub csrf_token: String,
    /// When the person logged in (the absolute limit counts from here).
    pub at: DateTime<Utc>,
}

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

/// The idle expiry, as tower-sessions takes it.
pub fn idle_expiry() -> tower_sessions::Expiry {
    tower_sessions::Expiry::OnInactivity(time::Duration::seconds(IDLE.num_seconds()))
}

fn session_error(e: tower_sessions::session::Error) -> ApiError {
    ApiError::Internal(format!("console session: {e}"))
}

/// The live session of this request, if logged in: within the absolute limit and with an
/// enabled account (otherwise the session is ended here).
pub async fn current(
    state: &ConsoleState,
    session: &tower_sessions::Session,
) -> Result<Option<Session>, ApiError> {
    let Some(login) = session
        .get::<Login>(LOGIN_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    let account = if login.at + ABSOLUTE > Utc::now() {
        state.app.store.account(&login.account).await?
    } else {
        None
    };
    match account.filter(|a| !a.disabled) {
        Some(account) => {
            // Marks the session used: saved with its idle expiry slid forward.
            session.set_expiry(Some(idle_expiry()));
            Ok(Some(Session {
                account,
                csrf_token: login.csrf_token,
            }))
        }
        None => {
            session.flush().await.map_err(session_error)?;
            Ok(None)
        }
    }
}

/// Compares in time independent of where the texts differ (`subtle`).
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    crate::store::secrets_equal(a, b)
}

pub(crate) fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<ConsoleState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let tower = tower_sessions::Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, why)| ApiError::Internal(why.to_string()))?;
        let session = current(state, &tower).await?.ok_or_else(|| {
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

/// The client's address: the peer's, or the trusted proxy's header when configured.
fn client_address(
    state: &ConsoleState,
    headers: &HeaderMap,
    parts_ext: &axum::http::Extensions,
) -> Option<IpAddr> {
    let trusted = state.app.config.trusted_proxy_header.as_deref();
    crate::api::limits::client_ip(trusted, headers, parts_ext)
}

fn login_refused(
    locale: UiLocale,
    problem: pages::LoginProblem,
    status: StatusCode,
    next: Option<&str>,
) -> Response {
    let mut response = pages::login_page(locale, Some(problem), next).into_response();
    *response.status_mut() = status;
    response
}

/// The account, if `password` is its password and it is enabled. Verifies even for an unknown
/// name, so timing does not tell which names exist.
async fn check_password(
    state: &ConsoleState,
    name: &str,
    password: String,
) -> Result<Option<Account>, ApiError> {
    // No account name holds NUL, and PostgreSQL refuses it in a query: no such account.
    let account = if name.contains('\0') {
        None
    } else {
        state.app.store.account(name).await?
    };
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| state.dummy_hash.to_string());
    let matches = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("password check failed: {e}")))?;
    Ok(account.filter(|a| matches && !a.disabled))
}

/// `POST /agent/login` (an HTML form): on success a new session (new id: no fixation) and a
/// redirect to the console; otherwise the login page again with a message (401), or 429 when
/// rate-limited.
pub async fn login(
    State(state): State<ConsoleState>,
    session: tower_sessions::Session,
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
    if let Err(wait) = state
        .limiter
        .check(name, client_address(&state, &headers, &extensions))
    {
        let mut response = login_refused(
            locale,
            pages::LoginProblem::TooMany,
            StatusCode::TOO_MANY_REQUESTS,
            form.next.as_deref(),
        );
        let seconds = wait.as_secs().max(1);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return Ok(response);
    }
    let Some(account) = check_password(&state, name, form.password).await? else {
        let refused = pages::LoginProblem::Refused;
        let next = form.next.as_deref();
        return Ok(login_refused(
            locale,
            refused,
            StatusCode::UNAUTHORIZED,
            next,
        ));
    };
    let (csrf_token, _) = new_customer_token();
    let login = Login {
        account: account.name.clone(),
        csrf_token,
        at: Utc::now(),
    };
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(LOGIN_KEY, login)
        .await
        .map_err(session_error)?;
    // Sweep the expired sessions now and then (a login is rare enough and a good moment).
    if let Err(e) = state.app.store.delete_expired_web_sessions().await {
        tracing::warn!(error = %e, "could not sweep expired console sessions");
    }
    tracing::info!(account = %account.name, "console login");
    let target = pages::safe_next(form.next.as_deref()).unwrap_or("/agent");
    Ok(Redirect::to(target).into_response())
}

/// `POST /agent/logout` (CSRF-checked): ends the session; the cookie is cleared.
pub async fn logout(
    session: Session,
    tower: tower_sessions::Session,
) -> Result<StatusCode, ApiError> {
    tower.flush().await.map_err(session_error)?;
    tracing::info!(account = %session.account.name, "console logout");
    Ok(StatusCode::NO_CONTENT)
}
