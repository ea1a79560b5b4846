//! `GET /users`: the directory of users, with presence.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::{User, UserListQuery};
use crate::error::{ApiQuery, Result};
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new().route("/users", get(list_users))
}

/// A user as sent out: `online` comes from presence, not the database.
pub fn user_view(state: &AppState, mut user: User) -> User {
    user.online = state.presence.is_online(user.id);
    user
}

#[derive(Serialize)]
struct UserPage {
    users: Vec<User>,
    has_more: bool,
}

async fn list_users(
    State(state): State<AppState>,
    _caller: AuthUser,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> Result<Json<UserPage>> {
    let (prefix, after, limit) = query.parse()?;
    let mut users = state
        .db
        .read(move |conn| store::list_users(conn, prefix.as_deref(), after, limit + 1))
        .await?;
    let has_more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let users = users.into_iter().map(|u| user_view(&state, u)).collect();
    Ok(Json(UserPage { users, has_more }))
}
