//! `POST /auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`
//! and `GET /auth/me`: how a session starts, is renewed and ends.

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header::USER_AGENT};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AuthUser;
use crate::config::Registration;
use crate::credentials::{new_refresh_token, refresh_hash};
use crate::domain::{DeviceName, DisplayName, Password, Session, Timestamp, User, Username, user_agent};
use crate::error::{ApiJson, AppError, ErrorResponse, Result};
use crate::limits;
use crate::protection::PeerAddr;
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::{NewSession, NewUser, RefreshGrant, Refreshed, SessionRecord};

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, super::account::update_me))
        .routes(routes!(super::account::sessions))
        .routes(routes!(super::account::end_session))
        .routes(routes!(super::account::change_password))
        .route_layer(axum::middleware::from_fn_with_state(
            state.limits.clone(),
            limits::auth_rate_limit,
        ))
}

#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    /// 3–32 of `A–Z a–z 0–9 _ . -`, unique without regard to case.
    #[schema(required = true, value_type = String, example = "alice",
        min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    username: Option<String>,
    /// 8–128 characters.
    #[schema(required = true, value_type = String, example = "correct horse", min_length = 8, max_length = 128)]
    password: Option<String>,
    /// 1–64 characters; defaults to the username.
    #[schema(example = "Alice", min_length = 1, max_length = 64, pattern = "\\S")]
    display_name: Option<String>,
    /// What this device is called in the sessions list (v2), 1–64 characters.
    #[schema(example = "Alice's laptop", min_length = 1, max_length = 64, pattern = "\\S")]
    device_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    #[schema(required = true, value_type = String, example = "alice")]
    username: Option<String>,
    #[schema(required = true, value_type = String, example = "correct horse")]
    password: Option<String>,
    /// What this device is called in the sessions list (v2), 1–64 characters.
    #[schema(example = "Alice's phone", min_length = 1, max_length = 64, pattern = "\\S")]
    device_name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub(super) struct RefreshBody {
    /// The refresh token of the last login or refresh; spent by this call.
    #[schema(required = true, value_type = String)]
    refresh_token: Option<String>,
}

/// What a login, registration, refresh or password change answers: the
/// user, an access token for the session and the session's next refresh
/// token.
#[derive(Serialize, ToSchema)]
pub(super) struct AuthBody {
    user: User,
    /// Bearer token (HS256 JWT) for REST and Socket.IO, naming the session.
    token: String,
    expires_at: Timestamp,
    /// Opaque and single-use: spend it with `POST /auth/refresh` for a new pair.
    refresh_token: String,
    refresh_expires_at: Timestamp,
    session: Session,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Me {
    pub(super) user: User,
}

crate::signable_fields!(AuthBody {});
crate::signable_fields!(Me {});

pub(super) fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| AppError::validation(format!("{field} is required")))
}

/// A new refresh token: the token for the client, the grant for the store.
pub(super) fn grant(state: &AppState) -> Result<(String, RefreshGrant)> {
    let (token, hash) = new_refresh_token()?;
    let ttl = i64::try_from(state.config.refresh_ttl.as_millis()).unwrap_or(i64::MAX / 4);
    let expires_at = Timestamp(Timestamp::now().0.saturating_add(ttl));
    Ok((token, RefreshGrant { hash, expires_at }))
}

/// The answer for `session` of `user`, with a fresh access token.
pub(super) async fn auth_body(
    state: &AppState,
    user: User,
    session: &SessionRecord,
    refresh_token: String,
) -> Result<AuthBody> {
    let issued = state.tokens.issue(user.id, session.id)?;
    // A session just made or renewed is live: no store read on its first use.
    state.sessions.admit(session.id, user.id, session.last_used_at);
    Ok(AuthBody {
        user: crate::presence::decorate_one(&*state.presence, user).await,
        token: issued.token,
        expires_at: issued.expires_at,
        refresh_token,
        refresh_expires_at: session.refresh_expires_at,
        session: session.view(session.id),
    })
}

/// The new session's record of where it comes from.
fn new_session(
    state: &AppState,
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    device_name: Option<DeviceName>,
    refresh: RefreshGrant,
) -> NewSession {
    NewSession {
        device_name: device_name.map(DeviceName::into_inner),
        user_agent: user_agent(headers.get(USER_AGENT).and_then(|v| v.to_str().ok())),
        ip: Some(state.limits.client_ip(peer, headers).to_string()),
        refresh,
    }
}

/// Create an account and its first session.
#[utoipa::path(post, path = "/auth/register", tag = "Auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = AuthBody),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 403, description = "`registration_closed`: the operator makes accounts (`--registration closed`)", body = ErrorResponse),
        (status = 409, description = "`username_taken`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (per client IP)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
    ))]
async fn register(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Reply<AuthBody>> {
    if state.config.registration == Registration::Closed {
        return Err(AppError::RegistrationClosed);
    }
    let username = Username::parse(required(body.username, "username")?)?;
    let password = Password::parse(required(body.password, "password")?)?;
    let display_name = DisplayName::parse(body.display_name, &username)?;
    let device_name = DeviceName::parse(body.device_name)?;

    // Fail fast before the expensive hash; the insert below is the real check.
    if state.store.username_taken(username.as_str()).await? {
        return Err(AppError::UsernameTaken);
    }
    let password_hash = state.passwords.hash(password).await?;
    let (refresh_token, refresh) = grant(&state)?;
    let new = NewUser {
        username,
        display_name,
        password_hash,
    };
    let session = new_session(&state, peer.ip(), &headers, device_name, refresh);
    let (user, session) = state.store.register(new, session).await?;
    let viewer = user.id;
    let body = auth_body(&state, user, &session, refresh_token).await?;
    Ok(Reply::created(&state, viewer, body))
}

/// Log in, opening a session; an unknown user and a wrong password look the
/// same. After a few wrong passwords for a username or from an address,
/// logins are refused for a while, right password or not.
#[utoipa::path(post, path = "/auth/login", tag = "Auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = AuthBody),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorResponse),
        (status = 403, description = "`account_disabled` (the password was right)", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many requests from the client IP, or too many failed logins for the username or from the IP", body = ErrorResponse),
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Reply<AuthBody>> {
    let username = required(body.username, "username")?;
    let password = required(body.password, "password")?;
    let device_name = DeviceName::parse(body.device_name)?;
    // Before any hashing: a throttled guess costs nothing.
    let client_ip = state.limits.client_ip(peer.ip(), &headers);
    let attempt = state.limits.shared.begin_login(&username, client_ip).await?;
    let found = state.store.credentials(&username).await?;
    let stored_hash = found.as_ref().map(|c| c.password_hash.clone());
    let matched = state.passwords.verify(password, stored_hash).await?;
    let Some(account) = found.filter(|_| matched) else {
        return Err(AppError::InvalidCredentials);
    };
    state.limits.shared.login_succeeded(attempt).await;
    if account.disabled {
        return Err(AppError::AccountDisabled);
    }
    let (refresh_token, refresh) = grant(&state)?;
    let new = new_session(&state, peer.ip(), &headers, device_name, refresh);
    let session = state.store.open_session(account.user.id, new).await?;
    let viewer = account.user.id;
    let body = auth_body(&state, account.user, &session, refresh_token).await?;
    Ok(Reply::ok(&state, viewer, body))
}

/// Spend a refresh token for a new access token and refresh token. A
/// refresh token already spent revokes its session (someone has a copy).
#[utoipa::path(post, path = "/auth/refresh", tag = "Auth", request_body = RefreshBody,
    responses(
        (status = 200, description = "A new pair for the same session", body = AuthBody),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`: unknown, expired or spent refresh token, or a revoked session", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many bad refresh tokens from the client IP", body = ErrorResponse),
    ))]
async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<RefreshBody>,
) -> Result<Reply<AuthBody>> {
    let token = required(body.refresh_token, "refresh_token")?;
    if token.is_empty() || token.len() > 256 {
        return Err(AppError::Unauthorized(
            "invalid, expired or already used refresh token",
        ));
    }
    let hash = refresh_hash(&token);
    // Bad refresh tokens count as failed logins: per address, and per
    // token (a name no username can have).
    let client_ip = state.limits.client_ip(peer.ip(), &headers);
    let attempt = state
        .limits
        .shared
        .begin_login(&format!("#refresh:{}", &hash[..16]), client_ip)
        .await?;
    let (refresh_token, next) = grant(&state)?;
    match state.store.refresh(hash, next).await? {
        Refreshed::Rotated { user, session } => {
            state.limits.shared.login_succeeded(attempt).await;
            let viewer = user.id;
            let body = auth_body(&state, user, &session, refresh_token).await?;
            Ok(Reply::ok(&state, viewer, body))
        }
        Refreshed::Reused { session_id } => {
            tracing::warn!(
                session_id,
                "a spent refresh token was presented again: session revoked"
            );
            super::revoked(&state, vec![session_id]).await;
            Err(AppError::Unauthorized(
                "this refresh token was already used; the session is revoked",
            ))
        }
        Refreshed::Refused => Err(AppError::Unauthorized(
            "invalid, expired or already used refresh token",
        )),
    }
}

/// End the calling session: its tokens stop working at once, its sockets
/// get `session_revoked` and are closed.
#[utoipa::path(post, path = "/auth/logout", tag = "Auth", security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out"),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
async fn logout(State(state): State<AppState>, caller: AuthUser) -> Result<StatusCode> {
    match state.store.revoke_session(caller.id, caller.session_id).await {
        // Revoked by someone else meanwhile: logged out all the same.
        Ok(()) | Err(AppError::NotFound(_)) => {}
        Err(e) => return Err(e),
    }
    super::revoked(&state, vec![caller.session_id]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own user.
#[utoipa::path(get, path = "/auth/me", tag = "Auth", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Reply<Me>> {
    let user = state
        .store
        .user(caller.id)
        .await?
        .ok_or(AppError::Unauthorized("the token's user no longer exists"))?;
    let user = crate::presence::decorate_one(&*state.presence, user).await;
    Ok(Reply::ok(&state, caller.id, Me { user }))
}
