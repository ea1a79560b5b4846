//! Groups: create, show, add members, history. A group is a chat of kind
//! `group`; its id is its chat id. Create and add-user are operations
//! shared with the `create_group` socket event.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::chats::{Expect, History, access::member_chat, history};
use crate::domain::{
    Chat, GroupName, HistoryPage, Message, PageQuery, Role, Timestamp, parse_id, required_id,
};
use crate::error::{ApiJson, ApiQuery, AppError, PathId, Result};
use crate::realtime::Event;
use crate::store;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/groups", post(create))
        .route("/groups/{group_id}", get(show))
        .route("/groups/{group_id}/add-user", post(add_user_route))
        .route("/groups/{group_id}/messages", get(messages))
}

/// The body of `POST /groups` and the `create_group` event.
#[derive(Debug, Default, Deserialize)]
pub struct CreateGroupBody {
    pub name: Option<String>,
    pub member_ids: Option<Vec<i64>>,
}

/// Creates a group owned by `owner` with the given members, and tells every
/// member's sockets (which join the group's room first).
pub async fn create_group(state: &AppState, owner: i64, body: CreateGroupBody) -> Result<Chat> {
    let name = GroupName::parse(body.name)?;
    let mut member_ids = Vec::new();
    for (i, id) in body.member_ids.unwrap_or_default().into_iter().enumerate() {
        let id = parse_id(id, &format!("member_ids[{i}]"))?;
        if id != owner && !member_ids.contains(&id) {
            member_ids.push(id);
        }
    }
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
                store::chat_view(conn, &row, owner, 0)
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
            store::chat_view(conn, &row, user_id, membership.last_read_message_id)
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
                store::insert_member(conn, group_id, user_id, Role::Member, Timestamp::now())?;
                let member = store::member(conn, group_id, user_id)?
                    .ok_or_else(|| AppError::internal("a new member vanished"))?;
                let for_actor = store::chat_view(conn, &row, actor, membership.last_read_message_id)?;
                let for_new_member = store::chat_view(conn, &row, user_id, 0)?;
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

#[derive(Serialize)]
struct GroupResponse {
    group: Chat,
}

async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<CreateGroupBody>,
) -> Result<(StatusCode, Json<GroupResponse>)> {
    let group = create_group(&state, caller.id, body).await?;
    Ok((StatusCode::CREATED, Json(GroupResponse { group })))
}

async fn show(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
) -> Result<Json<GroupResponse>> {
    Ok(Json(GroupResponse {
        group: get_group(&state, caller.id, group_id).await?,
    }))
}

#[derive(Deserialize)]
struct AddUserBody {
    user_id: Option<i64>,
}

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

#[derive(Serialize)]
struct GroupHistory {
    group: Chat,
    messages: Vec<Message>,
    has_more: bool,
}

async fn messages(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(group_id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<GroupHistory>> {
    let page = HistoryPage::parse(&query)?;
    let History {
        chat,
        messages,
        has_more,
    } = history(&state, caller.id, group_id, page, Expect::Group).await?;
    Ok(Json(GroupHistory {
        group: chat,
        messages,
        has_more,
    }))
}
