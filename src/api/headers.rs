//! Security headers on every response: `X-Content-Type-Options: nosniff`, a `Referrer-Policy`, and
//! a Content-Security-Policy where the handler set none — for JSON and other data, nothing may
//! load and nobody may frame it; for HTML without its own policy (the Swagger UI at `/docs`), our
//! own scripts only (its styles are inline) and no framing. Our pages (the shop, the widget's host
//! pages, the console, the studio) set their own stricter policy, with `frame-ancestors` from
//! `allowed_origins` where they may be embedded; a handler's headers are never replaced.
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// For responses that are data, not pages.
pub const DATA_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";
/// For HTML without a policy of its own (the Swagger UI).
pub const HTML_CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";
pub const REFERRER_POLICY: &str = "strict-origin-when-cross-origin";

/// Middleware: adds the headers a response lacks.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    add_missing(response.headers_mut());
    response
}

fn add_missing(h: &mut HeaderMap) {
    let html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let csp = if html { HTML_CSP } else { DATA_CSP };
    let defaults = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, REFERRER_POLICY),
        (header::CONTENT_SECURITY_POLICY, csp),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_policy_is_kept_and_missing_ones_added() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        add_missing(&mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], HTML_CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'"),
        );
        add_missing(&mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], "default-src 'self'");
        let mut h = HeaderMap::new();
        add_missing(&mut h);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], DATA_CSP);
    }
}
