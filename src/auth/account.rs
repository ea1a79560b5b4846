//! The signed-in user's own account: their sessions (devices) and signing
//! one out, their display name, their password.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AuthUser;
use super::routes::{AuthBody, Me, auth_body, grant, required};
use crate::domain::{DisplayName, Password, PathId, Session, Username};
use crate::error::{ApiJson, AppError, ErrorResponse, Result};
use crate::protection::PeerAddr;
use crate::respond::Reply;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub(super) struct SessionList {
    /// Live sessions, most recently used first.
    sessions: Vec<Session>,
}

crate::signable_fields!(SessionList {});

/// The caller's live sessions (devices), most recently used first.
#[utoipa::path(get, path = "/auth/sessions", tag = "Auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "Live sessions; `current` marks the caller's", body = SessionList),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
pub(super) async fn sessions(State(state): State<AppState>, caller: AuthUser) -> Result<Reply<SessionList>> {
    let mut sessions: Vec<Session> = state
        .store
        .live_sessions(caller.id)
        .await?
        .iter()
        .map(|s| s.view(caller.session_id))
        .collect();
    // The store's times are written once a minute; this node's are fresher
    // for the sessions it has seen (the caller's own among them).
    for session in &mut sessions {
        if let Some(used) = state.sessions.last_used(session.id) {
            session.last_used_at = session.last_used_at.max(used);
        }
    }
    sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then(b.id.cmp(&a.id)));
    Ok(Reply::ok(&state, caller.id, SessionList { sessions }))
}

/// Sign one of the caller's sessions out (the current one too): its tokens
/// stop working at once, its sockets get `session_revoked` and are closed.
#[utoipa::path(delete, path = "/auth/sessions/{session_id}", tag = "Auth", security(("bearer" = [])),
    params(("session_id" = i64, Path, description = "One of the caller's sessions")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`validation_failed`: not a positive integer", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`not_found`: no live session of the caller's with that id", body = ErrorResponse),
    ))]
pub(super) async fn end_session(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(session_id): PathId,
) -> Result<StatusCode> {
    state.store.revoke_session(caller.id, session_id).await?;
    super::revoked(&state, vec![session_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
pub(super) struct UpdateMeBody {
    /// 1–64 characters.
    #[schema(required = true, value_type = String, example = "Alice L.", min_length = 1, max_length = 64, pattern = "\\S")]
    display_name: Option<String>,
}

/// Change the caller's display name; `user_updated` goes to every user who
/// shares a chat with them, and to their own sockets.
#[utoipa::path(patch, path = "/auth/me", tag = "Auth", security(("bearer" = [])), request_body = UpdateMeBody,
    responses(
        (status = 200, description = "The caller, renamed", body = Me),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
pub(super) async fn update_me(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<UpdateMeBody>,
) -> Result<Reply<Me>> {
    let raw = required(body.display_name, "display_name")?;
    // The rules of registration; the username fallback never applies.
    let placeholder = Username::parse("placeholder".to_string())?;
    let name = DisplayName::parse(Some(raw), &placeholder)?;
    let outbox = state.outbox.clone();
    let renamed = state
        .store
        .rename(
            caller.id,
            name,
            Box::new(move |renamed| outbox.publish_logged(&renamed.events, None)),
        )
        .await?;
    let user = crate::presence::decorate_one(&*state.presence, renamed.user).await;
    Ok(Reply::ok(&state, caller.id, Me { user }))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct PasswordBody {
    #[schema(required = true, value_type = String)]
    current_password: Option<String>,
    /// 8–128 characters.
    #[schema(required = true, value_type = String, min_length = 8, max_length = 128)]
    new_password: Option<String>,
}

/// Change the caller's password. The calling session stays (its access
/// tokens keep working; its refresh token is the one returned); every other
/// session of the user is revoked.
#[utoipa::path(post, path = "/auth/password", tag = "Auth", security(("bearer" = [])), request_body = PasswordBody,
    responses(
        (status = 200, description = "Changed; a new pair for the calling session", body = AuthBody),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`: wrong current password; `unauthorized`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many wrong passwords", body = ErrorResponse),
    ))]
pub(super) async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    caller: AuthUser,
    ApiJson(body): ApiJson<PasswordBody>,
) -> Result<Reply<AuthBody>> {
    let current = required(body.current_password, "current_password")?;
    let new_password = Password::parse(required(body.new_password, "new_password")?)
        .map_err(|_| AppError::validation("new_password must be 8-128 characters"))?;
    let user = state
        .store
        .user(caller.id)
        .await?
        .ok_or(AppError::Unauthorized("the token's user no longer exists"))?;
    // Wrong current passwords count as failed logins of the account: a
    // stolen access token is no way to guess the password.
    let client_ip = state.limits.client_ip(peer.ip(), &headers);
    let attempt = state.limits.shared.begin_login(&user.username, client_ip).await?;
    let stored = state
        .store
        .credentials(&user.username)
        .await?
        .map(|c| c.password_hash);
    if !state.passwords.verify(current, stored).await? {
        return Err(AppError::InvalidCredentials);
    }
    state.limits.shared.login_succeeded(attempt).await;
    let password_hash = state.passwords.hash(new_password).await?;
    let (refresh_token, refresh) = grant(&state)?;
    let (session, revoked) = state
        .store
        .change_password(caller.id, caller.session_id, password_hash, refresh)
        .await?;
    super::revoked(&state, revoked).await;
    let body = auth_body(&state, user, &session, refresh_token).await?;
    Ok(Reply::ok(&state, caller.id, body))
}
