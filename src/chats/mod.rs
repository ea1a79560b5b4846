//! Chats: direct chats, sending, history, read markers and catch-up. The
//! operations live in the submodules and are shared with Socket.IO; the
//! handlers here only translate between HTTP and them.

pub mod access;
mod reading;
mod send;

pub use access::Expect;
pub use reading::{History, ReadMarker, check_member, history, list_chats, mark_read, sync};
pub use send::{Origin, SendMessageBody, SendText, Sent, earlier_send, publish_sent, send_text};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::AuthUser;
use crate::domain::{Chat, HistoryPage, Message, PageQuery, SyncQuery, required_id};
use crate::error::{ApiJson, ApiQuery, PathId, Result};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chats", get(list))
        .route("/chats/send-message", post(send_message))
        .route("/chats/{chat_id}", get(show))
        .route("/chats/{chat_id}/read", post(read))
        .route("/sync", get(catch_up))
}

#[derive(Serialize)]
struct MessageResponse {
    message: Message,
}

async fn send_message(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<SendMessageBody>,
) -> Result<(StatusCode, Json<MessageResponse>)> {
    let request = SendText::parse(body)?;
    let sent = send_text(&state, caller.id, request, None).await?;
    let status = if sent.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MessageResponse {
            message: sent.message,
        }),
    ))
}

#[derive(Serialize)]
struct ChatList {
    chats: Vec<Chat>,
}

async fn list(State(state): State<AppState>, caller: AuthUser) -> Result<Json<ChatList>> {
    Ok(Json(ChatList {
        chats: list_chats(&state, caller.id).await?,
    }))
}

#[derive(Serialize)]
struct ChatHistory {
    chat: Chat,
    messages: Vec<Message>,
    has_more: bool,
}

async fn show(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(chat_id): PathId,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ChatHistory>> {
    let page = HistoryPage::parse(&query)?;
    let History {
        chat,
        messages,
        has_more,
    } = history(&state, caller.id, chat_id, page, Expect::AnyChat).await?;
    Ok(Json(ChatHistory {
        chat,
        messages,
        has_more,
    }))
}

#[derive(Deserialize)]
struct ReadBody {
    message_id: Option<i64>,
}

async fn read(
    State(state): State<AppState>,
    caller: AuthUser,
    PathId(chat_id): PathId,
    ApiJson(body): ApiJson<ReadBody>,
) -> Result<Json<ReadMarker>> {
    let message_id = required_id(body.message_id, "message_id")?;
    Ok(Json(mark_read(&state, caller.id, chat_id, message_id).await?))
}

#[derive(Serialize)]
struct SyncResponse {
    messages: Vec<Message>,
    has_more: bool,
}

async fn catch_up(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiQuery(query): ApiQuery<SyncQuery>,
) -> Result<Json<SyncResponse>> {
    let (after, limit) = query.parse()?;
    let (messages, has_more) = sync(&state, caller.id, after, limit).await?;
    Ok(Json(SyncResponse { messages, has_more }))
}
