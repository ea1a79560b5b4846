//! `POST /auth/register`, `POST /auth/login`, `GET /auth/me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AuthUser;
use crate::app::AppState;
use crate::domain::{DisplayName, Password, Timestamp, User, Username};
use crate::error::{ApiJson, AppError, Result};
use crate::store;
use crate::users::user_view;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
}

#[derive(Deserialize)]
struct RegisterBody {
    username: Option<String>,
    password: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
struct LoginBody {
    username: Option<String>,
    password: Option<String>,
}

#[derive(Serialize)]
struct Session {
    user: User,
    token: String,
    expires_at: Timestamp,
}

#[derive(Serialize)]
struct Me {
    user: User,
}

fn required(value: Option<String>, field: &str) -> Result<String> {
    value.ok_or_else(|| AppError::validation(format!("{field} is required")))
}

fn session(state: &AppState, user: User) -> Result<Session> {
    let issued = state.tokens.issue(user.id)?;
    Ok(Session {
        user: user_view(state, user),
        token: issued.token,
        expires_at: issued.expires_at,
    })
}

async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<(StatusCode, Json<Session>)> {
    let username = Username::parse(required(body.username, "username")?)?;
    let password = Password::parse(required(body.password, "password")?)?;
    let display_name = DisplayName::parse(body.display_name, &username)?;

    // Fail fast before the expensive hash; the insert below is the real check.
    let probe = username.as_str().to_string();
    if state
        .db
        .read(move |conn| store::username_exists(conn, &probe))
        .await?
    {
        return Err(AppError::UsernameTaken);
    }
    let hash = state.passwords.hash(password).await?;
    let user = state
        .db
        .write(move |conn| {
            store::insert_user(
                conn,
                username.as_str(),
                display_name.as_str(),
                &hash,
                Timestamp::now(),
            )
        })
        .await?;
    Ok((StatusCode::CREATED, Json(session(&state, user)?)))
}

async fn login(State(state): State<AppState>, ApiJson(body): ApiJson<LoginBody>) -> Result<Json<Session>> {
    let username = required(body.username, "username")?;
    let password = required(body.password, "password")?;
    let found = state
        .db
        .read(move |conn| store::credentials_by_username(conn, &username))
        .await?;
    let (user, stored_hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matched = state.passwords.verify(password, stored_hash).await?;
    match user {
        Some(user) if matched => Ok(Json(session(&state, user)?)),
        _ => Err(AppError::InvalidCredentials),
    }
}

async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<Me>> {
    let user = state
        .db
        .read(move |conn| store::user_by_id(conn, caller.id))
        .await?
        .ok_or(AppError::Unauthorized("the token's user no longer exists"))?;
    Ok(Json(Me {
        user: user_view(&state, user),
    }))
}
