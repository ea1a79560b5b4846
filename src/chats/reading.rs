//! Reading chats: the chat list, history pages, catch-up after being
//! offline, and read markers.

use serde::Serialize;

use super::access::{Expect, member_chat};
use crate::app::AppState;
use crate::domain::{Chat, HistoryPage, Message};
use crate::error::{AppError, Result};
use crate::realtime::Event;
use crate::store;

/// The caller's chats, newest activity first.
pub async fn list_chats(state: &AppState, user_id: i64) -> Result<Vec<Chat>> {
    let mut chats: Vec<Chat> = state
        .db
        .read(move |conn| {
            store::chats_for_user(conn, user_id)?
                .iter()
                .map(|(chat, membership)| store::chat_view(conn, chat, membership))
                .collect()
        })
        .await?;
    chats.iter_mut().for_each(|c| state.files.sign_chat(c));
    Ok(chats)
}

/// Checks that the user may see the chat: `Ok` for a member, the access
/// error otherwise.
pub async fn check_member(state: &AppState, user_id: i64, chat_id: i64, expect: Expect) -> Result<()> {
    state
        .db
        .read(move |conn| member_chat(conn, user_id, chat_id, expect).map(|_| ()))
        .await
}

/// One page of a chat's history with the chat itself.
pub struct History {
    pub chat: Chat,
    pub messages: Vec<Message>,
    pub has_more: bool,
}

pub async fn history(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    page: HistoryPage,
    expect: Expect,
) -> Result<History> {
    state
        .db
        .read(move |conn| {
            let (chat, membership) = member_chat(conn, user_id, chat_id, expect)?;
            let (messages, has_more) = store::history(conn, chat_id, chat.kind, page)?;
            let chat = store::chat_view(conn, &chat, &membership)?;
            Ok(History {
                chat,
                messages,
                has_more,
            })
        })
        .await
        .map(|mut history| {
            state.files.sign_chat(&mut history.chat);
            state.files.sign_messages(&mut history.messages);
            history
        })
}

/// Messages of all the caller's chats above `after`, oldest first.
pub async fn sync(state: &AppState, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)> {
    state
        .db
        .read(move |conn| store::messages_since(conn, user_id, after, limit))
        .await
        .map(|(mut messages, has_more)| {
            state.files.sign_messages(&mut messages);
            (messages, has_more)
        })
}

/// The read marker in force after a `mark_read`.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
pub struct ReadMarker {
    pub chat_id: i64,
    pub message_id: i64,
}

/// Moves the caller's read marker in a chat forward to `message_id` (a
/// message of that chat), and tells the chat's members when it moved.
pub async fn mark_read(state: &AppState, user_id: i64, chat_id: i64, message_id: i64) -> Result<ReadMarker> {
    let outbox = state.outbox.clone();
    let (marker, _moved) = state
        .db
        .write_then(
            move |conn| {
                let (_, membership) = member_chat(conn, user_id, chat_id, Expect::AnyChat)?;
                if !store::message_in_chat(conn, message_id, chat_id)? {
                    return Err(AppError::NotFound(format!(
                        "message {message_id} is not in chat {chat_id}"
                    )));
                }
                let moved = store::advance_read_marker(conn, chat_id, user_id, message_id)?;
                let current = membership.last_read_message_id.max(message_id);
                Ok((
                    ReadMarker {
                        chat_id,
                        message_id: current,
                    },
                    moved,
                ))
            },
            move |(marker, moved)| {
                if *moved {
                    outbox.publish(Event::Read {
                        chat_id: marker.chat_id,
                        user_id,
                        message_id: marker.message_id,
                    });
                }
            },
        )
        .await?;
    Ok(marker)
}
