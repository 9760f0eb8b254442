//! The customer's face: `widget.js` (embeddable on any site with one script tag), and the demo
//! shop pages (`/` in Japanese, `/en` in English) that embed it.
//!
//! The sources live in `web/widget/` and `web/shop/` and are embedded in the binary (rust-embed),
//! so nothing is fetched from elsewhere at run time. Our pages carry a strict Content-Security-Policy
//! (no inline scripts; `frame-ancestors` from `allowed_origins`). Which other sites may call the
//! customer API from a browser is decided by [`cors`], from the same setting.
use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{request, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::{EmbeddedFile, RustEmbed};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::api::AppState;
use crate::config::Config;

#[derive(RustEmbed)]
#[folder = "web/widget/"]
struct WidgetAssets;

#[derive(RustEmbed)]
#[folder = "web/shop/"]
struct ShopAssets;

/// How long browsers and caches may use `widget.js` before revalidating (its URL never changes,
/// so this is kept short; the ETag makes revalidation cheap).
const WIDGET_CACHE: &str = "public, max-age=300, stale-while-revalidate=86400";
/// The demo pages are small and change with the binary: always revalidate.
const PAGE_CACHE: &str = "no-cache";

/// The routes the customer API answers from other origins (when allowed).
const CUSTOMER_API_PREFIX: &str = "/v1/conversations";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/widget.js", get(widget_js))
        .route("/", get(shop_ja))
        .route("/en", get(shop_en))
        .route("/shop/{file}", get(shop_asset))
        .with_state(state)
}

/// CORS for the customer API: origins listed in `allowed_origins` may call
/// `/v1/conversations…` from a browser (the widget embedded on their pages). Same-origin calls
/// need no CORS; every other route and origin gets no CORS headers. No cookies are involved (the
/// customer's token travels in `Authorization`), so credentials stay disallowed.
pub fn cors(config: &Config) -> CorsLayer {
    let allowed: Vec<HeaderValue> = config
        .allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    let predicate = move |origin: &HeaderValue, parts: &request::Parts| {
        parts.uri.path().starts_with(CUSTOMER_API_PREFIX) && allowed.contains(origin)
    };
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(predicate))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(std::time::Duration::from_secs(600))
}

async fn widget_js(headers: HeaderMap) -> Response {
    match WidgetAssets::get("widget.js") {
        Some(file) => {
            let mut response = cached(
                &headers,
                file,
                "text/javascript; charset=utf-8",
                WIDGET_CACHE,
            );
            // Host pages with `Cross-Origin-Embedder-Policy` may load it too.
            response.headers_mut().insert(
                HeaderName::from_static("cross-origin-resource-policy"),
                HeaderValue::from_static("cross-origin"),
            );
            response
        }
        None => missing("widget.js"),
    }
}

async fn shop_ja(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state.config, &headers, "index.html")
}

async fn shop_en(State(state): State<AppState>, headers: HeaderMap) -> Response {
    page(&state.config, &headers, "en.html")
}

/// The demo shop's stylesheet and images.
async fn shop_asset(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    if file.ends_with(".html") {
        return StatusCode::NOT_FOUND.into_response();
    }
    match ShopAssets::get(&file) {
        Some(embedded) => {
            let mime = embedded.metadata.mimetype().to_string();
            let mut response = cached(&headers, embedded, &mime, PAGE_CACHE);
            secure(&state.config, response.headers_mut());
            response
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn page(config: &Config, headers: &HeaderMap, name: &str) -> Response {
    let Some(file) = ShopAssets::get(name) else {
        return missing(name);
    };
    let mut response = cached(headers, file, "text/html; charset=utf-8", PAGE_CACHE);
    secure(config, response.headers_mut());
    response
}

/// The file with its ETag, or 304 when the browser's copy is current.
fn cached(
    request: &HeaderMap,
    file: EmbeddedFile,
    content_type: &str,
    cache_control: &'static str,
) -> Response {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body: Cow<'static, [u8]> = file.data;
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_str(content_type)
                    .unwrap_or(HeaderValue::from_static("application/octet-stream")),
            )],
            body.into_owned(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// Security headers of our pages: a strict CSP (our own scripts, styles, images and API only; no
/// inline scripts), who may frame them, no MIME sniffing, no full referrers to other sites.
fn secure(config: &Config, headers: &mut HeaderMap) {
    let csp = content_security_policy(&config.allowed_origins);
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
}

/// `default-src 'self'` and nothing inline; `frame-ancestors` lists the allowed embedders.
pub fn content_security_policy(allowed_origins: &[String]) -> String {
    let mut ancestors = String::from("'self'");
    for origin in allowed_origins {
        ancestors.push(' ');
        ancestors.push_str(origin);
    }
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An asset the build should have embedded is absent.
fn missing(name: &str) -> Response {
    tracing::error!(asset = name, "a web asset is not embedded (this is a bug)");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_no_inline_script_and_names_the_embedders() {
        let csp = content_security_policy(&["https://shop.example".into()]);
        assert!(csp.contains("default-src 'self'"), "{csp}");
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(
            csp.ends_with("frame-ancestors 'self' https://shop.example"),
            "{csp}"
        );
    }

    #[test]
    fn the_assets_are_embedded() {
        for name in ["index.html", "en.html", "shop.css"] {
            assert!(ShopAssets::get(name).is_some(), "{name}");
        }
        assert!(WidgetAssets::get("widget.js").is_some());
    }
}
