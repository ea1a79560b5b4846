//! Users: `GET /users` (the directory, with presence) and when each was
//! last seen.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::{Timestamp, User, UserListQuery};
use crate::error::{ApiQuery, ErrorResponse, Result};
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::UserQuery;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_users))
}

/// Stores when a user was last seen (their last socket closed, or their
/// first opened).
pub async fn record_last_seen(state: &AppState, user_id: i64, at: Timestamp) -> Result<()> {
    state.store.set_last_seen(user_id, at).await
}

#[derive(Serialize, ToSchema)]
struct UserPage {
    users: Vec<User>,
    has_more: bool,
}
crate::signable_fields!(UserPage {});

/// Users by id, optionally filtered by a username or display-name prefix.
#[utoipa::path(get, path = "/users", tag = "Users", params(UserListQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 400, description = "`validation_failed` (limit) or `invalid_cursor` (after)", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
async fn list_users(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<UserListQuery>,
) -> Result<Reply<UserPage>> {
    let (prefix, after, limit) = query.parse()?;
    let mut users = state
        .store
        .list_users(UserQuery {
            prefix,
            after,
            fetch: limit + 1,
        })
        .await?;
    let has_more = users.len() > limit as usize;
    users.truncate(limit as usize);
    let users = crate::presence::decorate(&*state.presence, users).await;
    Ok(Reply::ok(&state, caller.id, UserPage { users, has_more }))
}
