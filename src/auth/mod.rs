//! Accounts and authentication: register, login, `/auth/me`, the bearer
//! token check shared by REST (the `AuthUser` extractor) and Socket.IO (the
//! connect middleware calls [`authenticate`]).

mod routes;

pub use routes::router;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::{AppError, Result};
use crate::state::AppState;

/// The caller of a protected route: a valid token naming an existing user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
}

/// The one token check: signature, algorithm, expiry, and that the user
/// exists (from memory once seen: accounts are never deleted).
pub async fn authenticate(state: &AppState, token: &str) -> Result<AuthUser> {
    let id = state.tokens.verify(token)?;
    if state.known_users.contains(id) {
        return Ok(AuthUser { id });
    }
    let exists = state.store.user_exists(id).await?;
    if exists {
        state.known_users.insert(id);
        Ok(AuthUser { id })
    } else {
        Err(AppError::Unauthorized("the token's user no longer exists"))
    }
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
