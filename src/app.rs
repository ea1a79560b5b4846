//! The router: each domain's routes merged with the fallbacks and the
//! layers every request passes through. Nothing imports it but `lib.rs`.

use std::any::Any;

use axum::extract::DefaultBodyLimit;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa_axum::routes;

use crate::error::AppError;
use crate::openapi;
use crate::protection::{self, RequestBounds};
use crate::state::AppState;
use crate::telemetry;

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
        .merge(crate::messages::router())
        .merge(crate::search::router())
        .merge(crate::catchup::router())
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

/// Liveness and readiness: 200 while the server serves and its database
/// answers; 503 `unavailable` while the database cannot be reached.
#[utoipa::path(get, path = "/healthz", tag = "Health", responses(
    (status = 200, description = "Serving", body = Health),
    (status = 503, description = "`unavailable`: the database cannot be reached", body = crate::error::ErrorResponse),
))]
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> Result<Json<Health>, AppError> {
    state.store.health().await?;
    Ok(Json(Health { status: "ok" }))
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
