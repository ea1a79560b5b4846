//! `POST /auth/register`, `POST /auth/login`, `GET /auth/me`.

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AuthUser;
use crate::domain::{DisplayName, Password, Timestamp, User, Username};
use crate::error::{ApiJson, AppError, ErrorResponse, Result};
use crate::limits;
use crate::protection::PeerAddr;
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::NewUser;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(me))
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
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    #[schema(required = true, value_type = String, example = "alice")]
    username: Option<String>,
    #[schema(required = true, value_type = String, example = "correct horse")]
    password: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct Session {
    user: User,
    /// Bearer token (HS256 JWT) for REST and Socket.IO.
    token: String,
    expires_at: Timestamp,
}

#[derive(Serialize, ToSchema)]
struct Me {
    user: User,
}

crate::signable_fields!(Session {});
crate::signable_fields!(Me {});

fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| AppError::validation(format!("{field} is required")))
}

async fn session(state: &AppState, user: User) -> Result<Session> {
    let issued = state.tokens.issue(user.id)?;
    Ok(Session {
        user: crate::presence::decorate_one(&*state.presence, user).await,
        token: issued.token,
        expires_at: issued.expires_at,
    })
}

/// Create an account and get a token.
#[utoipa::path(post, path = "/auth/register", tag = "Auth", request_body = RegisterBody,
    responses(
        (status = 201, description = "Registered", body = Session),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 409, description = "`username_taken`", body = ErrorResponse),
        (status = 429, description = "`rate_limited` (per client IP)", body = ErrorResponse),
        (status = 413, description = "`payload_too_large`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
    ))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Reply<Session>> {
    let username = Username::parse(required(body.username, "username")?)?;
    let password = Password::parse(required(body.password, "password")?)?;
    let display_name = DisplayName::parse(body.display_name, &username)?;

    // Fail fast before the expensive hash; the insert below is the real check.
    if state.store.username_taken(username.as_str()).await? {
        return Err(AppError::UsernameTaken);
    }
    let password_hash = state.passwords.hash(password).await?;
    let user = state
        .store
        .create_user(NewUser {
            username,
            display_name,
            password_hash,
        })
        .await?;
    Ok(Reply::created(&state, session(&state, user).await?))
}

/// Log in; an unknown user and a wrong password look the same. After a few
/// wrong passwords for a username or from an address, logins are refused
/// for a while, right password or not.
#[utoipa::path(post, path = "/auth/login", tag = "Auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = Session),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`invalid_credentials`", body = ErrorResponse),
        (status = 429, description = "`rate_limited`: too many requests from the client IP, or too many failed logins for the username or from the IP", body = ErrorResponse),
    ))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(PeerAddr(peer)): ConnectInfo<PeerAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginBody>,
) -> Result<Reply<Session>> {
    let username = required(body.username, "username")?;
    let password = required(body.password, "password")?;
    // Before any hashing: a throttled guess costs nothing.
    let client_ip = state.limits.client_ip(peer.ip(), &headers);
    let attempt = state.limits.shared.begin_login(&username, client_ip).await?;
    let found = state.store.credentials(&username).await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matched = state.passwords.verify(password, stored_hash).await?;
    match user {
        Some(user) if matched => {
            state.limits.shared.login_succeeded(attempt).await;
            Ok(Reply::ok(&state, session(&state, user).await?))
        }
        _ => Err(AppError::InvalidCredentials),
    }
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
    Ok(Reply::ok(&state, Me { user }))
}
