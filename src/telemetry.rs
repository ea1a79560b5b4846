//! What an operator sees: request ids and spans on every request, and
//! Prometheus metrics at `GET /metrics`.
//!
//! Metrics go through the `metrics` facade to one process-wide Prometheus
//! recorder, installed by the first server in the process.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_http::request_id::{MakeRequestId, RequestId};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::InternalCause;
use crate::state::AppState;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder (once per process).
pub fn init_metrics() {
    PROMETHEUS.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("chat_writer_batch_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0],
                )
            });
        let recorder = match builder {
            Ok(builder) => builder.build_recorder(),
            Err(e) => {
                tracing::warn!(error = %e, "metrics disabled");
                return None;
            }
        };
        let handle = recorder.handle();
        match metrics::set_global_recorder(recorder) {
            Ok(()) => Some(handle),
            Err(e) => {
                tracing::warn!(error = %e, "metrics disabled: another recorder is installed");
                None
            }
        }
    });
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics_text))
}

/// Prometheus metrics: sockets, messages, request latency, writer batches,
/// rate-limit refusals, password-hash queue.
#[utoipa::path(get, path = "/metrics", tag = "Health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text() -> Response {
    let body = PROMETHEUS
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Request ids: `x-request-id` from the client if it sent one, else a
/// counter. They appear in the request's span and in the response.
#[derive(Clone, Default)]
pub struct NextRequestId(std::sync::Arc<AtomicU64>);

impl MakeRequestId for NextRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        HeaderValue::from_str(&format!("{n:016x}"))
            .ok()
            .map(RequestId::new)
    }
}

/// The span of one HTTP request: debug level, so off by default (a span
/// per request costs more than the rest of a cheap request's logging); the
/// request id reaches every answer as `x-request-id`, and every internal
/// error's log line through [`record_request`].
pub fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), |p| p.as_str());
    tracing::debug_span!("request", id, method = %request.method(), route)
}

/// Counts requests and times them by route template and status, and logs
/// the cause of every internal error with the request's id.
pub async fn record_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let request_id = request.headers().get("x-request-id").cloned();
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        let id = request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::error!(request_id = id, %method, %route, %cause, "internal error");
    }
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::histogram!("chat_http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}
