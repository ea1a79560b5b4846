//! `GET /users`: the directory of users, with presence.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::{User, UserListQuery};
use crate::error::{ApiQuery, ErrorResponse, Result};
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users))
}

/// A user as sent out: `online` comes from presence, not the database.
pub fn user_view(state: &AppState, mut user: User) -> User {
    user.online = state.presence.is_online(user.id);
    user
}

#[derive(Serialize, ToSchema)]
struct UserPage {
    users: Vec<User>,
    has_more: bool,
}

/// Users by id, optionally filtered by a username or display-name prefix.
#[utoipa::path(get, path = "/users", tag = "Users", params(UserListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "`validation_failed` (limit) or `invalid_cursor` (after)", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
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
