//! Catch-up without gaps (v2): `GET /events`, the caller's chat events
//! after a `seq` as the event log kept them (the socket's replay on
//! connect reads the same pages, see `realtime`), and the task that prunes
//! the log after the retention period.

use std::time::Duration;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::{Timestamp, parse_cursor};
use crate::error::{ApiQuery, AppError, ErrorResponse, Result};
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::EventPage;

pub const DEFAULT_LIMIT: u32 = 500;
pub const MAX_LIMIT: u32 = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events with a `seq` above this (default 0: from the oldest kept).
    #[param(value_type = Option<i64>, minimum = 0)]
    since: Option<String>,
    /// 1–1000, default 500.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
}

impl EventsQuery {
    fn parse(&self) -> Result<(i64, u32)> {
        let since = parse_cursor(self.since.as_deref(), "since", true)?.unwrap_or(0);
        let limit = match self.limit.as_deref().filter(|s| !s.is_empty()) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(AppError::validation(format!(
                        "limit must be an integer from 1 to {MAX_LIMIT}"
                    )));
                }
            },
        };
        Ok((since, limit))
    }
}

/// One chat event as the socket sent it.
#[derive(Serialize, ToSchema)]
pub struct EventEntry {
    seq: i64,
    /// The event's name (`receive_message`, `member_removed`, …).
    #[serde(rename = "type")]
    kind: String,
    /// Its payload as it was at commit time (with `seq`), attachment URLs
    /// signed afresh for the caller.
    #[schema(value_type = Object)]
    data: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct EventsResponse {
    events: Vec<EventEntry>,
    has_more: bool,
    /// The server's latest `seq` when it answered.
    latest_seq: i64,
}
crate::signable_fields!(EventsResponse {});

/// The caller's events after `since`: what they received, or would have
/// received, on any socket.
pub async fn events_for(state: &AppState, user_id: i64, since: i64, limit: u32) -> Result<EventPage> {
    state.store.events_for(user_id, since, limit).await
}

/// Every chat event the caller received or would have received after a
/// `seq`, in `seq` order (their own messages included).
#[utoipa::path(get, path = "/events", tag = "Catch-up", params(EventsQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventsResponse),
        (status = 400, description = "`invalid_cursor` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 410, description = "`cursor_expired`: events after `since` are no longer kept; reload with GET /chats and history", body = ErrorResponse),
    ))]
async fn events(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Reply<EventsResponse>> {
    let (since, limit) = query.parse()?;
    let page = events_for(&state, caller.id, since, limit).await?;
    let events = page
        .events
        .into_iter()
        .map(|e| EventEntry {
            seq: e.seq,
            data: state.files.signed_json(&e.data, caller.id),
            kind: e.name,
        })
        .collect();
    Ok(Reply::ok(
        &state,
        caller.id,
        EventsResponse {
            events,
            has_more: page.has_more,
            latest_seq: page.latest_seq,
        },
    ))
}

/// Prunes the event log now and then for as long as the server runs: at
/// start, then every hour (more often for a short retention).
pub fn start_pruning(state: AppState) -> tokio::task::JoinHandle<()> {
    let retention = state.config.event_retention;
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
            let before = Timestamp(Timestamp::now().0.saturating_sub(keep_ms));
            match state.store.prune_events(before).await {
                Ok(through) => tracing::debug!(through, "event log pruned"),
                Err(e) => tracing::warn!(error = %e, "pruning the event log failed"),
            }
        }
    })
}
