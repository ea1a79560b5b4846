//! Bounds every request passes through: security headers, CORS, a request
//! timeout, a header-size limit; a cap on open connections and the
//! lingering close that lets an early answer reach its client (`listener`);
//! `Connection: close` on answers given before the body was read
//! (`early_answers`).

mod early_answers;
mod listener;

pub use early_answers::close_if_body_unread;
pub use listener::{LimitedListener, LimitedStream, Linger, PeerAddr};

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::error::AppError;

/// Headers every response carries unless its handler set its own.
const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
];

/// Also names the charset of JSON bodies, as the contract writes it
/// (`application/json; charset=utf-8`; axum's `Json` leaves it out).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/json")
    {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
    }
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(name) {
            headers.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
        }
    }
    response
}

/// CORS for the configured origins only; with none, no CORS headers at all
/// (browsers then allow the server's own origin, the demo page, only).
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
            .allow_credentials(true)
            .max_age(Duration::from_secs(600)),
    )
}

/// Settings for [`limit_request`].
#[derive(Clone, Copy)]
pub struct RequestBounds {
    pub timeout: Duration,
    pub max_header_bytes: usize,
}

/// Refuses oversized headers (431) and cuts off requests that take too
/// long (503 `timeout`), except uploads and downloads, whose length
/// follows the file's size and the client's speed.
pub async fn limit_request(
    State(bounds): State<RequestBounds>,
    request: Request,
    next: Next,
) -> Result<Response, AppError> {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > bounds.max_header_bytes {
        return Err(AppError::HeadersTooLarge(bounds.max_header_bytes));
    }
    let path = request.uri().path();
    if path == "/uploads" || path.starts_with("/files/") {
        return Ok(next.run(request).await);
    }
    tokio::time::timeout(bounds.timeout, next.run(request))
        .await
        .map_err(|_| AppError::Timeout(bounds.timeout.as_secs()))
}
