//! Groups: create, show, add members, history. A group is a chat of kind
//! `group`; its id is its chat id. Create and add-user are operations
//! shared with the `create_group` socket event.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::chats::{Expect, History, access::member_chat, history};
use crate::domain::{
    Chat, GroupName, HistoryPage, Message, PageQuery, Role, Timestamp, parse_id, required_id,
};
use crate::error::{ApiJson, ApiQuery, AppError, ErrorResponse, PathId, Result};
use crate::limits::Limit;
use crate::realtime::Event;
use crate::store::{self, Membership};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(show))
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
    state
        .db
        .write_then(
            move |conn| {
                for &id in &member_ids {
                    if !store::user_exists(conn, id)? {
                        return Err(AppError::UserNotFound(id));
                    }
                }
                let now = Timestamp::now();
                let group_id = store::insert_group(conn, name.as_str(), owner, &member_ids, now)?;
                let row = store::chat_by_id(conn, group_id)?
                    .ok_or_else(|| AppError::internal("a new group vanished"))?;
                // A new group has no messages: this view is every member's.
                store::chat_view(conn, &row, &Membership::fresh(Role::Owner))
            },
            move |group| {
                let user_ids = group.members.iter().map(|m| m.user_id).collect();
                outbox.publish(Event::JoinedChat {
                    chat_id: group.id,
                    user_ids,
                });
                outbox.publish(Event::GroupCreated {
                    group: Box::new(group.clone()),
                });
            },
        )
        .await
}

/// The group as a member sees it.
pub async fn get_group(state: &AppState, user_id: i64, group_id: i64) -> Result<Chat> {
    state
        .db
        .read(move |conn| {
            let (row, membership) = member_chat(conn, user_id, group_id, Expect::Group)?;
            store::chat_view(conn, &row, &membership)
        })
        .await
        .map(|mut group| {
            state.files.sign_chat(&mut group);
            group
        })
}

/// Adds `user_id` to a group; the caller must be its owner or an admin.
/// Tells the other members (`member_added`), brings the new member's open
/// sockets into the room, and tells them (`added_to_group`).
pub async fn add_user(state: &AppState, actor: i64, group_id: i64, user_id: i64) -> Result<Chat> {
    let outbox = state.outbox.clone();
    let max_members = i64::from(state.config.max_group_members);
    let (mut group, _, _) = state
        .db
        .write_then(
            move |conn| {
                let (row, membership) = member_chat(conn, actor, group_id, Expect::Group)?;
                if !membership.role.can_manage_members() {
                    return Err(AppError::Forbidden(
                        "only the owner or an admin can add members".into(),
                    ));
                }
                if !store::user_exists(conn, user_id)? {
                    return Err(AppError::UserNotFound(user_id));
                }
                if store::membership(conn, group_id, user_id)?.is_some() {
                    return Err(AppError::AlreadyMember {
                        user: user_id,
                        group: group_id,
                    });
                }
                if store::member_count(conn, group_id)? >= max_members {
                    return Err(AppError::Forbidden(format!(
                        "the group is full ({max_members} members)"
                    )));
                }
                store::insert_member(conn, group_id, user_id, Role::Member, Timestamp::now())?;
                let member = store::member(conn, group_id, user_id)?
                    .ok_or_else(|| AppError::internal("a new member vanished"))?;
                let for_actor = store::chat_view(conn, &row, &membership)?;
                let for_new_member = store::chat_view(conn, &row, &Membership::fresh(Role::Member))?;
                Ok((for_actor, for_new_member, member))
            },
            move |(_, for_new_member, member)| {
                outbox.publish(Event::MemberAdded {
                    group_id,
                    member: member.clone(),
                });
                outbox.publish(Event::JoinedChat {
                    chat_id: group_id,
                    user_ids: vec![member.user_id],
                });
                outbox.publish(Event::AddedToGroup {
                    user_id: member.user_id,
                    group: Box::new(for_new_member.clone()),
                });
            },
        )
        .await?;
    state.files.sign_chat(&mut group);
    Ok(group)
}

#[derive(Serialize, ToSchema)]
struct GroupResponse {
    group: Chat,
}

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
) -> Result<(StatusCode, Json<GroupResponse>)> {
    let group = create_group(&state, caller.id, body).await?;
    Ok((StatusCode::CREATED, Json(GroupResponse { group })))
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
) -> Result<Json<GroupResponse>> {
    Ok(Json(GroupResponse {
        group: get_group(&state, caller.id, group_id).await?,
    }))
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
) -> Result<Json<GroupResponse>> {
    let user_id = required_id(body.user_id, "user_id")?;
    Ok(Json(GroupResponse {
        group: add_user(&state, caller.id, group_id, user_id).await?,
    }))
}

#[derive(Serialize, ToSchema)]
struct GroupHistory {
    group: Chat,
    messages: Vec<Message>,
    has_more: bool,
}

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
) -> Result<ApiJson<GroupHistory>> {
    let page = HistoryPage::parse(&query)?;
    let History {
        chat,
        messages,
        has_more,
    } = history(&state, caller.id, group_id, page, Expect::Group).await?;
    Ok(ApiJson(GroupHistory {
        group: chat,
        messages,
        has_more,
    }))
}
