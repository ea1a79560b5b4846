//! The application: shared state, and the router that merges each domain's
//! routes with the fallbacks and layers every request passes through.

use std::any::Any;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::routes;

use crate::auth::{PasswordHasher, Tokens};
use crate::blobs::BlobStore;
use crate::config::Config;
use crate::error::AppError;
use crate::limits::RateLimits;
use crate::openapi;
use crate::protection::{self, RequestBounds};
use crate::realtime::{Outbox, Presence};
use crate::store::Db;
use crate::telemetry;
use crate::uploads::FileSigner;

/// What every handler can reach: one pointer to the shared [`Services`], so
/// a clone per request or event is one atomic increment.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        AppState(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The server's shared parts.
pub struct Services {
    pub config: Arc<Config>,
    pub db: Db,
    pub tokens: Arc<Tokens>,
    pub passwords: PasswordHasher,
    pub presence: Presence,
    /// Committed changes on their way to connected sockets.
    pub outbox: Outbox,
    /// Where file bytes are kept.
    pub blobs: Arc<dyn BlobStore>,
    /// Where uploads are staged while they are checked.
    pub staging_dir: PathBuf,
    /// Mints and checks signed file URLs.
    pub files: Arc<FileSigner>,
    /// Rate limits per IP and per user.
    pub limits: Arc<RateLimits>,
    /// Users known to exist, so a token check needs no database read.
    pub known_users: crate::auth::KnownUsers,
}

pub fn router(state: AppState, extra: Router<AppState>) -> Router {
    let max_json = state.config.max_json_bytes;
    let bounds = RequestBounds {
        timeout: state.config.request_timeout,
        max_header_bytes: state.config.max_header_bytes,
    };
    let (api, doc) = openapi::base()
        .routes(routes!(healthz))
        .merge(telemetry::router())
        .merge(crate::auth::router(&state))
        .merge(crate::users::router())
        .merge(crate::chats::router())
        .merge(crate::groups::router())
        .merge(crate::uploads::router(state.config.max_upload_bytes))
        .merge(crate::demo::router())
        .split_for_parts();
    Router::new()
        .merge(extra)
        .merge(api)
        .merge(openapi::publish(doc))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Innermost first: each `layer` wraps everything above it. Metrics
        // and error logs see every answer, a panic's and a timeout's too.
        .layer(DefaultBodyLimit::max(max_json))
        .layer(axum::middleware::from_fn_with_state(
            bounds,
            protection::limit_request,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(axum::middleware::from_fn(telemetry::record_request))
        .layer(axum::middleware::from_fn(protection::security_headers))
        .layer(PropagateRequestIdLayer::x_request_id())
        // Internal errors are logged by `record_request`, with their cause.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(telemetry::request_span)
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(
            telemetry::NextRequestId::default(),
        ))
        .with_state(state)
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: 200 while the server serves.
#[utoipa::path(get, path = "/healthz", tag = "Health", responses((status = 200, description = "Serving", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::NotFound(format!("no route for {}", uri.path()))
}

async fn method_not_allowed() -> AppError {
    AppError::MethodNotAllowed
}

/// A panic in a handler becomes a 500 with the contract's body; the server
/// keeps serving.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic");
    AppError::internal(format_args!("handler panicked: {detail}")).into_response()
}
