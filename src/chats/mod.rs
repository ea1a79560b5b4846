//! Chats: direct chats, sending, history, read markers and catch-up. The
//! operations live in the submodules and are shared with Socket.IO; the
//! handlers here only translate between HTTP and them.

mod reading;
mod send;

pub use reading::{chat_ids, check_member, history, list_chats, mark_read, sync};
pub use send::{SendMessageBody, SendText, send_text, store_and_publish};

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::AuthUser;
use crate::domain::{Chat, HistoryPage, Message, PageQuery, PathId, ReadMarker, SyncQuery, required_id};
use crate::error::{ApiJson, ApiQuery, ErrorResponse, Result};
use crate::respond::Reply;
use crate::signable_fields;
use crate::state::AppState;
use crate::store::{Expect, History};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(send_message))
        .routes(routes!(show))
        .routes(routes!(read))
        .routes(routes!(catch_up))
}

#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    pub message: Message,
}
signable_fields!(MessageResponse { message });

/// `{to | chat_id | group_id, text, client_id?}`, for the docs.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SendMessageRequest {
    /// A user id: the direct chat with that user (created on first use).
    #[schema(minimum = 1)]
    to: Option<i64>,
    #[schema(minimum = 1)]
    chat_id: Option<i64>,
    #[schema(minimum = 1)]
    group_id: Option<i64>,
    /// 1–4000 characters, not only white space.
    #[schema(example = "hello", min_length = 1, max_length = 4000, pattern = "\\S")]
    text: String,
    /// 1–64 characters; a repeat returns the first message (200).
    #[schema(min_length = 1, max_length = 64)]
    client_id: Option<String>,
    /// v2: a message of the same chat this one answers.
    #[schema(minimum = 1)]
    reply_to: Option<i64>,
}

/// Send a text message to exactly one of `to`, `chat_id` or `group_id`.
#[utoipa::path(post, path = "/chats/send-message", tag = "Chats", request_body = SendMessageRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Stored and broadcast", body = MessageResponse),
        (status = 200, description = "A repeated client_id: the message stored the first time", body = MessageResponse),
        (status = 400, description = "`validation_failed`, `message_empty`, `message_too_long`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`user_not_found`, `chat_not_found`, `group_not_found`, `not_found` (reply_to)", body = ErrorResponse),
        (status = 429, description = "`rate_limited`", body = ErrorResponse),
    ))]
async fn send_message(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<SendMessageBody>,
) -> Result<Reply<MessageResponse>> {
    let request = SendText::parse(body)?;
    let sent = send_text(&state, caller.id, request, None).await?;
    Ok(sent_reply(&state, sent))
}

/// 201 with a new message, 200 with the earlier one for a repeated
/// `client_id`: both doors that send (this and `POST /uploads`).
pub fn sent_reply(state: &AppState, sent: crate::store::Sent) -> Reply<MessageResponse> {
    let viewer = sent.message.sender_id;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Reply::with_status(
        status,
        state,
        viewer,
        MessageResponse {
            message: sent.message,
        },
    )
}

#[derive(Serialize, ToSchema)]
struct ChatList {
    chats: Vec<Chat>,
}
signable_fields!(ChatList { chats });

/// The caller's chats, newest activity first.
#[utoipa::path(get, path = "/chats", tag = "Chats", security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's chats", body = ChatList),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
async fn list(State(state): State<AppState>, caller: AuthUser) -> Result<Reply<ChatList>> {
    let chats = list_chats(&state, caller.id).await?;
    Ok(Reply::ok(&state, caller.id, ChatList { chats }))
}

#[derive(Serialize, ToSchema)]
struct ChatHistory {
    chat: Chat,
    messages: Vec<Message>,
    has_more: bool,
}
signable_fields!(ChatHistory { chat, messages });

/// A chat and one page of its history, oldest first.
#[utoipa::path(get, path = "/chats/{chat_id}", tag = "Chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path, description = "The chat"), PageQuery),
    responses(
        (status = 200, description = "The chat and a page of messages", body = ChatHistory),
        (status = 400, description = "`invalid_cursor` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`chat_not_found`", body = ErrorResponse),
    ))]
async fn show(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(chat_id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Reply<ChatHistory>> {
    let page = HistoryPage::parse(&query)?;
    let History {
        chat,
        messages,
        has_more,
    } = history(&state, caller.id, chat_id, page, Expect::AnyChat).await?;
    Ok(Reply::ok(
        &state,
        caller.id,
        ChatHistory {
            chat,
            messages,
            has_more,
        },
    ))
}

#[derive(Deserialize, ToSchema)]
struct ReadBody {
    /// A message of this chat; the marker only moves forward.
    #[schema(required = true, value_type = i64, minimum = 1)]
    message_id: Option<i64>,
}

/// Move the caller's read marker in a chat forward.
#[utoipa::path(post, path = "/chats/{chat_id}/read", tag = "Chats", security(("bearer" = [])),
    params(("chat_id" = i64, Path, description = "The chat")), request_body = ReadBody,
    responses(
        (status = 200, description = "The marker now in force", body = ReadMarker),
        (status = 400, description = "`validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
        (status = 403, description = "`not_a_member`", body = ErrorResponse),
        (status = 404, description = "`chat_not_found`, or `not_found` for a message not in this chat", body = ErrorResponse),
    ))]
async fn read(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(chat_id): PathId,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<Reply<ReadMarker>> {
    let message_id = required_id(body.message_id, "message_id")?;
    let marker = mark_read(&state, caller.id, chat_id, message_id).await?;
    Ok(Reply::ok(&state, caller.id, marker))
}

#[derive(Serialize, ToSchema)]
struct SyncResponse {
    messages: Vec<Message>,
    has_more: bool,
}
signable_fields!(SyncResponse { messages });

/// Everything in the caller's chats above a message id, oldest first.
#[utoipa::path(get, path = "/sync", tag = "Chats", params(SyncQuery), security(("bearer" = [])),
    responses(
        (status = 200, description = "Missed messages", body = SyncResponse),
        (status = 400, description = "`invalid_cursor` or `validation_failed`", body = ErrorResponse),
        (status = 401, description = "`unauthorized`", body = ErrorResponse),
    ))]
async fn catch_up(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Reply<SyncResponse>> {
    let (after, limit) = query.parse()?;
    let (messages, has_more) = sync(&state, caller.id, after, limit).await?;
    Ok(Reply::ok(&state, caller.id, SyncResponse { messages, has_more }))
}
