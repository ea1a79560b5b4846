//! Accounts, sessions and authentication: register, login, refresh,
//! logout, devices, profile and password (`routes`, `account`); the bearer
//! token check shared by REST (the `AuthUser` extractor) and Socket.IO (the
//! connect middleware calls [`authenticate`]); and how revocations reach
//! every node's view of sessions and the revoked sessions' sockets.

mod account;
mod routes;

pub use routes::router;

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::credentials::Known;
use crate::domain::Timestamp;
use crate::error::{AppError, Result};
use crate::events::Event;
use crate::state::AppState;

/// The caller of a protected route: a valid token of a live session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
    /// The session the token names.
    pub session_id: i64,
}

const REVOKED: AppError = AppError::Unauthorized("missing, malformed, expired or revoked token");

/// The one token check: signature, algorithm, expiry, and that its session
/// is live (from this node's view of sessions once seen: no database read).
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser> {
    let claims = state.tokens.verify(token)?;
    let caller = AuthUser {
        id: claims.user_id,
        session_id: claims.session_id,
    };
    match state.sessions.lookup(claims.session_id, claims.user_id) {
        Known::Live { touch } => {
            if touch {
                touch_session(state, claims.session_id);
            }
            Ok(caller)
        }
        Known::Refused => Err(REVOKED),
        Known::Unknown => match state.store.session_auth(claims.session_id).await? {
            Some(found) if found.user_id == claims.user_id && !found.revoked => {
                state
                    .sessions
                    .admit(claims.session_id, claims.user_id, found.last_used_at);
                Ok(caller)
            }
            Some(found) if found.revoked => {
                state.sessions.remember_revoked(claims.session_id);
                Err(REVOKED)
            }
            _ => Err(REVOKED),
        },
    }
}

/// Records that the session was used, off the request's path.
fn touch_session(state: &AppState, session_id: i64) {
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.touch_session(session_id, Timestamp::now()).await {
            e.log_if_internal();
        }
    });
}

/// Sessions this node has just revoked in the store: refused here at once,
/// their sockets here told and closed, and the other nodes told (before
/// the caller answers, so a client cannot outrun it to another node).
pub async fn revoked(state: &AppState, session_ids: Vec<i64>) {
    if session_ids.is_empty() {
        return;
    }
    apply_revocations(state, &session_ids);
    state.revocations.announce(&session_ids).await;
}

/// Sessions revoked somewhere (this node, another, the operator's CLI):
/// refused from now on, and their sockets on this node closed.
pub fn apply_revocations(state: &AppState, session_ids: &[i64]) {
    let news = state.sessions.revoke(session_ids);
    if !news.is_empty() {
        metrics::counter!("chat_sessions_revoked_total").increment(news.len() as u64);
        state.outbox.publish(Event::SessionsRevoked { session_ids: news });
    }
}

/// How often the store's log of revocations is read for those made
/// elsewhere.
pub const REVOCATION_POLL: Duration = Duration::from_millis(250);

/// Reads the store's log of revocations every [`REVOCATION_POLL`] from
/// where it stands now, applying what other processes revoked (abort the
/// task at shutdown). Also forgets old entries of the view now and then.
pub async fn watch_revocations(state: AppState) -> tokio::task::JoinHandle<()> {
    let mut cursor = match state.store.last_revocation().await {
        Ok(seq) => seq,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the revocation log yet; starting from its beginning");
            0
        }
    };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(REVOCATION_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut rounds: u64 = 0;
        loop {
            tick.tick().await;
            rounds += 1;
            if rounds.is_multiple_of(240) {
                state.sessions.forget_old();
            }
            match state.store.revocations_after(cursor).await {
                Ok(found) if !found.is_empty() => {
                    cursor = found.last().map_or(cursor, |(seq, _)| *seq);
                    let ids: Vec<i64> = found.into_iter().map(|(_, id)| id).collect();
                    apply_revocations(&state, &ids);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "reading the revocation log failed"),
            }
        }
    })
}

/// The token in an `Authorization: Bearer <token>` header value.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        let token = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
            .ok_or(AppError::Unauthorized("missing bearer token"))?;
        authenticate(state, token).await
    }
}
