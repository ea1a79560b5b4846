//! The browser demo: the files under `assets/`, embedded in the binary
//! (read from disk in debug builds, so the page can be edited live), served
//! at `/` and `/assets/…`, the official Socket.IO client script among them.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::state::AppState;

/// What the demo page may load: only its own files, images from this
/// server (attachments) or the page itself, sockets to this server.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page)).routes(routes!(file))
}

/// The demo page.
#[utoipa::path(get, path = "/", tag = "Demo",
    responses((status = 200, description = "HTML", content_type = "text/html")))]
async fn page(headers: HeaderMap) -> Response {
    asset("index.html", &headers)
}

/// The demo page's scripts and styles, and the Socket.IO client.
#[utoipa::path(get, path = "/assets/{*path}", tag = "Demo",
    params(("path" = String, Path, description = "e.g. `app.js`, `vendor/socket.io.min.js`")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "`not_found`", body = crate::error::ErrorResponse),
    ))]
async fn file(Path(path): Path<String>, headers: HeaderMap) -> Response {
    asset(&path, &headers)
}

fn asset(path: &str, request_headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return AppError::NotFound(format!("no asset {path}")).into_response();
    };
    let hash: String = file
        .metadata
        .sha256_hash()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    let etag = format!("\"{hash}\"");
    let fresh = request_headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        file.data.into_owned().into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.as_ref()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    // Revalidate every time: cheap with the ETag, and a new binary's page
    // is never shadowed by an old cached one.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if mime.essence_str() == "text/html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}
