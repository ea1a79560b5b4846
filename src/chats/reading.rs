//! Reading chats: the chat list, history pages, catch-up after being
//! offline, and read markers.

use crate::domain::{Chat, HistoryPage, Message, ReadMarker};
use crate::error::Result;
use crate::state::AppState;
use crate::store::{Expect, History};

/// The caller's chats, newest activity first.
pub async fn list_chats(state: &AppState, user_id: i64) -> Result<Vec<Chat>> {
    state.store.chats_of(user_id).await
}

/// Ids of every chat the user belongs to: the rooms a socket joins.
pub async fn chat_ids(state: &AppState, user_id: i64) -> Result<Vec<i64>> {
    state.store.chat_ids_of(user_id).await
}

/// Checks that the user may see the chat: `Ok` for a member, the access
/// error otherwise.
pub async fn check_member(state: &AppState, user_id: i64, chat_id: i64, expect: Expect) -> Result<()> {
    state.store.check_member(user_id, chat_id, expect).await
}

/// One page of a chat's history with the chat itself.
pub async fn history(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    page: HistoryPage,
    expect: Expect,
) -> Result<History> {
    state.store.history(user_id, chat_id, expect, page).await
}

/// Messages of all the caller's chats above `after`, oldest first.
pub async fn sync(state: &AppState, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)> {
    state.store.messages_since(user_id, after, limit).await
}

/// Moves the caller's read marker in a chat forward to `message_id` (a
/// message of that chat), and tells the chat's members when it moved.
pub async fn mark_read(state: &AppState, user_id: i64, chat_id: i64, message_id: i64) -> Result<ReadMarker> {
    let outbox = state.outbox.clone();
    let marked = state
        .store
        .mark_read(
            user_id,
            chat_id,
            message_id,
            Box::new(move |marked| outbox.publish_logged(&marked.events, None)),
        )
        .await?;
    Ok(marked.marker)
}
