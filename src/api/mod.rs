//! The HTTP API: [`router`] over an [`AppState`], its layers (tracing span per request with the
//! conversation id, request ids, body limit, metrics), and [`serve`] with graceful shutdown.
//!
//! Handlers are thin: extract, one call into the conversation service
//! ([`crate::conversation::Conversations`]), map to a DTO.
//!
//! - `chat`: the customer API (conversations, messages, transcript, feedback, CSAT, end);
//!   `events`: live streams (SSE) for customers and agents.
//! - `agent`: the handoff queue for people (list, claim, reply, notes, typing, hand back, resolve).
//! - `developer`: `/v1/classify`. `health`: `/healthz`, `/readyz`, `/metrics`.
//! - `openapi`: the OpenAPI 3.1 document and Swagger UI.
//! - `error`: [`ApiError`], the only HTTP status mapping; `extract`: JSON body and credentials.
//! - `auth`: API keys and their scopes; `keys`: `/v1/admin/keys`; `limits`: rate limits;
//!   `headers`: security headers on every response. `/metrics`, `/docs` and `/openapi.json` need
//!   the admin scope when `operations_access` is `admin`.
pub mod agent;
pub mod auth;
pub mod chat;
pub mod developer;
pub mod error;
pub mod events;
pub mod extract;
pub mod headers;
pub mod health;
mod key_uses;
pub mod keys;
pub mod limits;
pub mod openapi;
mod state;

use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use error::ApiError;
pub use state::AppState;

/// The whole API, documented by its own OpenAPI document.
pub fn router(state: AppState) -> Router {
    documented_router(state, openapi::document())
}

/// The whole API, serving `doc` at `/openapi.json` (the faces add their endpoints' documents to
/// the API's own, since this layer cannot name them).
pub fn documented_router(state: AppState, doc: utoipa::openapi::OpenApi) -> Router {
    let body_limit = state.config.body_limit;
    // Install the Prometheus recorder before the first request records anything.
    let _ = crate::telemetry::metrics();
    Router::new()
        .merge(chat::router())
        .merge(events::router())
        .merge(agent::with_auth(agent::router(), state.clone()))
        .merge(developer::router())
        .merge(keys::router())
        .merge(health::router())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn_with_state(
            body_limit,
            refuse_oversized_body,
        ))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span)
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                )
                // Server errors are logged by `ApiError` with their detail; 503s are expected.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state.clone())
        .merge(openapi::router(doc))
        .layer(middleware::from_fn_with_state(state, restrict_operations))
        .layer(middleware::from_fn(headers::security_headers))
}

/// `/metrics`, `/docs` and `/openapi.json`: for admins only when `operations_access` is `admin`.
async fn restrict_operations(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let operations = path == "/metrics"
        || path == "/openapi.json"
        || path == "/docs"
        || path.starts_with("/docs/");
    if operations && state.config.operations_access == crate::config::OperationsAccess::Admin {
        if let Err(e) = auth::authorize_admin(&state, req.headers(), req.extensions()).await {
            return e.into_response();
        }
    }
    next.run(req).await
}

/// How much of an oversized body is read (and dropped) before answering 413: clients that write
/// the whole body before reading the answer then get the JSON error instead of a reset connection.
/// Larger bodies are refused at once.
const OVERSIZED_BODY_DRAIN: usize = 1024 * 1024;

/// A body whose declared length is over the limit gets a 413 here, before any extractor, and the
/// connection stays usable. (A chunked body without a length is cut off by `DefaultBodyLimit`.)
async fn refuse_oversized_body(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit as u64 => {
            if len <= OVERSIZED_BODY_DRAIN as u64 {
                let _ = axum::body::to_bytes(req.into_body(), OVERSIZED_BODY_DRAIN).await;
            }
            ApiError::PayloadTooLarge(format!(
                "the request body is {len} bytes; the server accepts at most {limit}"
            ))
            .into_response()
        }
        _ => next.run(req).await,
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// One span per request, with the request id and, for conversation routes, the conversation id.
fn make_span(req: &Request) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let conversation_id = req
        .uri()
        .path()
        .strip_prefix("/v1/conversations/")
        .and_then(|rest| rest.split('/').next())
        .filter(|id| !id.is_empty())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id,
        conversation_id,
    )
}

/// Request count and latency by method, route and status.
async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!(crate::telemetry::HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(crate::telemetry::HTTP_DURATION, &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Connections the kernel may hold for us before we accept them (it caps this at
/// `net.core.somaxconn`). Tokio's default (1,024) overflowed when a thousand customers connected
/// at once while both cores were busy answering: the overflow fell back to SYN cookies, and those
/// that aged out while waiting were reset — "read errors" for the clients.
const LISTEN_BACKLOG: u32 = 8192;

/// A listening socket on `addr` with a deep accept queue (see [`LISTEN_BACKLOG`]).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std's and tokio's `bind` do: a restarted server can take its port back at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` resolves, then tells live streams to end and waits
/// for in-flight requests (at most `grace`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    stop_streams: watch::Sender<bool>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (drain_tx, mut drain_rx) = watch::channel(false);
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stop_streams.send(true);
        let _ = drain_tx.send(true);
    };
    // With the peer address, for per-address limits (console logins).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(signal);
    tokio::select! {
        result = server => result,
        _ = async {
            let _ = drain_rx.wait_for(|v| *v).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("requests still in flight after the grace period; stopping anyway");
            Ok(())
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The accept queue `ss` reports for the listening socket on `port` (Send-Q of a listener).
    fn accept_queue_limit(port: u16) -> Option<u32> {
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .ok()?;
        let text = String::from_utf8(out.stdout).ok()?;
        text.split_whitespace().nth(2)?.parse().ok()
    }

    #[tokio::test]
    async fn listens_with_a_deep_accept_queue() {
        let listener = listen("127.0.0.1:0".parse().expect("an address")).expect("listen");
        let port = listener.local_addr().expect("bound").port();
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("Linux reports somaxconn")
            .trim()
            .parse()
            .expect("a number");
        match accept_queue_limit(port) {
            Some(limit) => assert_eq!(limit, LISTEN_BACKLOG.min(somaxconn)),
            None => {
                eprintln!("`ss` (iproute2) is missing: the accept queue's depth is not checked")
            }
        }
        // And it accepts.
        let client = tokio::net::TcpStream::connect(("127.0.0.1", port));
        let (accepted, connected) = tokio::join!(listener.accept(), client);
        accepted.expect("accepted");
        connected.expect("connected");
    }
}
