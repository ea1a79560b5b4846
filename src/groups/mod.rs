//! Groups: create, show, add members, history, and (v2, in `manage`)
//! rename, leave, remove and roles. A group is a chat of kind `group`; its
//! id is its chat id. The operations are shared with the socket events
//! (`create_group`, `leave_group`).

mod manage;

pub use manage::leave;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::chats::history;
use crate::domain::{Chat, GroupName, HistoryPage, Message, PageQuery, PathId, parse_id, required_id};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorResponse, Result};
use crate::events::Event;
use crate::limits::Limit;
use crate::respond::Reply;
use crate::signable_fields;
use crate::state::AppState;
use crate::store::{AddMember, Expect, History, NewGroup};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show, manage::rename_route))
        .routes(routes!(manage::leave_route))
        .routes(routes!(manage::remove_route, manage::set_role_route))
        .routes(routes!(add_user_route))
        .routes(routes!(messages))
}

/// The body of `POST /groups` and the `create_group` event.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateGroupBody {
    /// 1–100 characters.
    #[schema(required = true, value_type = String, example = "Project X", min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: Option<String>,
    /// Users to add as plain members; each must exist.
    #[schema(value_type = Option<Vec<u32>>)]
    pub member_ids: Option<Vec<i64>>,
}

/// Creates a group owned by `owner` with the given members, and tells every
/// member's sockets (which join the group's room first).
pub async fn create_group(state: &AppState, owner: i64, body: CreateGroupBody) -> Result<Chat> {
    let name = GroupName::parse(body.name)?;
    let max_members = state.config.max_group_members as usize;
    let mut member_ids = Vec::new();
    for (i, id) in body.member_ids.unwrap_or_default().into_iter().enumerate() {
        let id = parse_id(id, &format!("member_ids[{i}]"))?;
        if id != owner && !member_ids.contains(&id) {
            member_ids.push(id);
        }
    }
    if member_ids.len() + 1 > max_members {
        return Err(AppError::validation(format!(
            "a group has at most {max_members} members"
        )));
    }
    state.limits.check_user(Limit::CreateGroup, owner)?;
    let outbox = state.outbox.clone();
    let new = NewGroup {
        owner,
        name,
        members: member_ids,
    };
    let created = state
        .store
        .create_group(
            new,
            Box::new(move |created| {
                let group = &created.group;
                let user_ids = group.members.iter().map(|m| m.user_id).collect();
                outbox.publish(Event::JoinedChat {
                    chat_id: group.id,
                    user_ids,
                });
                outbox.publish_logged(&created.events, None);
            }),
        )
        .await?;
    Ok(created.group)
}

/// The group as a member sees it.
pub async fn get_group(state: &AppState, user_id: i64, group_id: i64) -> Result<Chat> {
    state.store.chat_for(user_id, group_id, Expect::Group).await
}

/// Adds `user_id` to a group; the caller must be its owner or an admin.
/// Tells the other members (`member_added`), brings the new member's open
/// sockets into the room, and tells them (`added_to_group`).
pub async fn add_user(state: &AppState, actor: i64, group_id: i64, user_id: i64) -> Result<Chat> {
    let outbox = state.outbox.clone();
    let add = AddMember {
        actor,
        group_id,
        user_id,
        max_members: i64::from(state.config.max_group_members),
    };
    let added = state
        .store
        .add_member(
            add,
            Box::new(move |added| {
                outbox.publish_logged(&added.events, None);
                outbox.publish(Event::JoinedChat {
                    chat_id: group_id,
                    user_ids: vec![added.member.user_id],
                });
            }),
        )
        .await?;
    Ok(added.for_actor)
}

#[derive(Serialize, ToSchema)]
pub(crate) struct GroupResponse {
    pub(crate) group: Chat,
}
signable_fields!(GroupResponse { group });

/// Create a group; the caller becomes its owner.
#[utoipa::path(post, path = "/groups", tag = "Groups", request_body = CreateGroupBody, security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 404, description = "`user_not_found` for a member id", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<CreateGroupBody>,
) -> Result<Reply<GroupResponse>> {
    let group = create_group(&state, caller.id, body).await?;
    Ok(Reply::created(&state, caller.id, GroupResponse { group }))
}

/// A group the caller belongs to.
#[utoipa::path(get, path = "/groups/{group_id}", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group (its chat id)")),
    responses(
        (status = 200, description = "The group", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`group_not_found`", body = ErrorResponse),
    ))]
async fn show(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
) -> Result<Reply<GroupResponse>> {
    let group = get_group(&state, caller.id, group_id).await?;
    Ok(Reply::ok(&state, caller.id, GroupResponse { group }))
}

#[derive(Deserialize, ToSchema)]
struct AddUserBody {
    #[schema(required = true, value_type = i64, minimum = 1)]
    user_id: Option<i64>,
}

/// Add a user to a group (owner or admin only).
#[utoipa::path(post, path = "/groups/{group_id}/add-user", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group")), request_body = AddUserBody,
    responses(
        (status = 200, description = "The group with its new member", body = GroupResponse),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`forbidden` for a plain member or a full group, `not_a_member` for an outsider", body = ErrorResponse),
        (status = 404, description = "`group_not_found`, `user_not_found`", body = ErrorResponse),
        (status = 409, description = "`already_member`", body = ErrorResponse),
    ))]
async fn add_user_route(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
    ApiJson(body): ApiJson<AddUserBody>,
) -> Result<Reply<GroupResponse>> {
    let user_id = required_id(body.user_id, "user_id")?;
    let group = add_user(&state, caller.id, group_id, user_id).await?;
    Ok(Reply::ok(&state, caller.id, GroupResponse { group }))
}

#[derive(Serialize, ToSchema)]
struct GroupHistory {
    group: Chat,
    messages: Vec<Message>,
    has_more: bool,
}
signable_fields!(GroupHistory { group, messages });

/// A group and one page of its history, oldest first.
#[utoipa::path(get, path = "/groups/{group_id}/messages", tag = "Groups", security(("bearer" = [])),
    params(("group_id" = i64, Path, description = "The group"), PageQuery),
    responses(
        (status = 200, description = "The group and a page of messages", body = GroupHistory),
        (status = 400, description = "`invalid_cursor` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`group_not_found`", body = ErrorResponse),
    ))]
async fn messages(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Reply<GroupHistory>> {
    let page = HistoryPage::parse(&query)?;
    let History {
        chat,
        messages,
        has_more,
    } = history(&state, caller.id, group_id, page, Expect::Group).await?;
    Ok(Reply::ok(
        &state,
        caller.id,
        GroupHistory {
            group: chat,
            messages,
            has_more,
        },
    ))
}
