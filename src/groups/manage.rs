//! Group management (v2): rename, leave, remove a member, change a role
//! (giving `owner` transfers ownership). The store applies each with its
//! rules in one transaction and logs what the members hear; once it has
//! committed, whoever is out of the group leaves the chat's room on every
//! node before the answer goes out, so no event of the chat reaches them
//! afterwards (chat events go to the members of the moment anyway).

use std::time::Duration;

use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::Deserialize;
use tokio::sync::oneshot;
use utoipa::ToSchema;

use super::GroupResponse;
use crate::auth::AuthUser;
use crate::domain::{Chat, GroupName, PathId, Role, parse_id_str};
use crate::error::{ApiJson, AppError, ErrorResponse, Result};
use crate::events::Event;
use crate::respond::Reply;
use crate::state::AppState;
use crate::store::{GroupAction, GroupChange, GroupChanged};

/// How long an answer waits for the room moves (they take a round trip to
/// Redis in a cluster, nothing on one node).
const ROOMS_WAIT: Duration = Duration::from_secs(5);

/// Applies a change, publishes its events, and returns once those who left
/// are out of the chat's room.
async fn change(state: &AppState, actor: i64, group_id: i64, action: GroupAction) -> Result<GroupChanged> {
    let outbox = state.outbox.clone();
    let (done, moved) = oneshot::channel();
    let change = GroupChange {
        actor,
        group_id,
        action,
    };
    let changed = state
        .store
        .change_group(
            change,
            Box::new(move |changed: &GroupChanged| {
                outbox.publish_logged(&changed.events, None);
                if !changed.gone.is_empty() {
                    outbox.publish(Event::LeftChat {
                        chat_id: group_id,
                        user_ids: changed.gone.clone(),
                        done: Some(done),
                    });
                }
            }),
        )
        .await?;
    if !changed.gone.is_empty() && tokio::time::timeout(ROOMS_WAIT, moved).await.is_err() {
        tracing::warn!(group_id, "leaving the chat's room took too long");
    }
    Ok(changed)
}

fn group_of(changed: GroupChanged) -> Result<Chat> {
    changed
        .group
        .ok_or_else(|| AppError::internal("the actor is still a member but got no group"))
}

/// Renames a group (owner or admin).
pub async fn rename(state: &AppState, actor: i64, group_id: i64, name: Result<GroupName>) -> Result<Chat> {
    group_of(change(state, actor, group_id, GroupAction::Rename(name)).await?)
}

/// Leaves a group; an owner hands ownership on.
pub async fn leave(state: &AppState, actor: i64, group_id: i64) -> Result<()> {
    change(state, actor, group_id, GroupAction::Leave).await?;
    Ok(())
}

/// Removes another member.
pub async fn remove(state: &AppState, actor: i64, group_id: i64, user_id: i64) -> Result<Chat> {
    group_of(change(state, actor, group_id, GroupAction::Remove { user_id }).await?)
}

/// Gives a member a role (the owner only).
pub async fn set_role(
    state: &AppState,
    actor: i64,
    group_id: i64,
    user_id: i64,
    role: Result<Role>,
) -> Result<Chat> {
    group_of(change(state, actor, group_id, GroupAction::SetRole { user_id, role }).await?)
}

/// `/groups/{group_id}/members/{user_id}`.
pub(super) struct MemberPath {
    group_id: i64,
    user_id: i64,
}

impl<S: Send + Sync> FromRequestParts<S> for MemberPath {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path((group, user)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(MemberPath {
            group_id: parse_id_str(&group, "group_id")?,
            user_id: parse_id_str(&user, "user_id")?,
        })
    }
}

#[derive(Deserialize, ToSchema)]
pub(super) struct RenameBody {
    /// 1–100 characters.
    #[schema(required = true, value_type = String, example = "Project Y", min_length = 1, max_length = 100, pattern = "\\S")]
    name: Option<String>,
}

/// Rename a group (owner or admin).
#[utoipa::path(patch, path = "/groups/{group_id}", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group")), request_body = RenameBody,
    responses(
        (status = 200, description = "The group with its new name (`group_updated` to every member)", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`forbidden` for a plain member, `not_a_member` for an outsider", body = ErrorResponse),
        (status = 404, description = "`group_not_found`", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
    ))]
pub(super) async fn rename_route(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
    ApiJson(body): ApiJson<RenameBody>,
) -> Result<Reply<GroupResponse>> {
    let group = rename(&state, caller.id, group_id, GroupName::parse(body.name)).await?;
    Ok(Reply::ok(&state, caller.id, GroupResponse { group }))
}

/// Leave a group. When the owner leaves, the admin who joined first (else
/// the member who joined first) becomes owner.
#[utoipa::path(post, path = "/groups/{group_id}/leave", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group")),
    responses(
        (status = 204, description = "Left (`member_removed` to the members and the user's sockets, which leave the group's room first)"),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`group_not_found`", body = ErrorResponse),
    ))]
pub(super) async fn leave_route(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
) -> Result<StatusCode> {
    leave(&state, caller.id, group_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a member: the owner removes anyone else, an admin plain members.
#[utoipa::path(delete, path = "/groups/{group_id}/members/{user_id}", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group"), ("user_id" = i64, Path, description = "The member")),
    responses(
        (status = 200, description = "The group without them (`member_removed` to the members and the user's sockets)", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`forbidden` (yourself, or beyond your role), `not_a_member` for an outsider", body = ErrorResponse),
        (status = 404, description = "`group_not_found`, `user_not_found`, `not_found` (not a member)", body = ErrorResponse),
    ))]
pub(super) async fn remove_route(
    State(state): State<AppState>,
    caller: AuthUser,
    path: MemberPath,
) -> Result<Reply<GroupResponse>> {
    let group = remove(&state, caller.id, path.group_id, path.user_id).await?;
    Ok(Reply::ok(&state, caller.id, GroupResponse { group }))
}

#[derive(Deserialize, ToSchema)]
pub(super) struct RoleBody {
    /// `owner`, `admin` or `member`.
    #[schema(required = true, value_type = String, example = "admin")]
    role: Option<serde_json::Value>,
}

/// Change a member's role (the owner only, on others). Giving `owner`
/// transfers ownership: the old owner becomes an admin.
#[utoipa::path(patch, path = "/groups/{group_id}/members/{user_id}", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group"), ("user_id" = i64, Path, description = "The member")),
    request_body = RoleBody,
    responses(
        (status = 200, description = "The group (`member_role_changed` to every member, one per change)", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`forbidden` (not the owner, or the owner's own role), `not_a_member`", body = ErrorResponse),
        (status = 404, description = "`group_not_found`, `user_not_found`, `not_found` (not a member)", body = ErrorResponse),
        (status = 415, description = "`unsupported_media_type`: not JSON", body = ErrorResponse),
    ))]
pub(super) async fn set_role_route(
    State(state): State<AppState>,
    caller: AuthUser,
    path: MemberPath,
    ApiJson(body): ApiJson<RoleBody>,
) -> Result<Reply<GroupResponse>> {
    let role = Role::parse(body.role.as_ref().map(|v| v.as_str().unwrap_or("")));
    let group = set_role(&state, caller.id, path.group_id, path.user_id, role).await?;
    Ok(Reply::ok(&state, caller.id, GroupResponse { group }))
}
