//! Who may see and write to which chat: rules over a connection, so that
//! they run inside the same read or write transaction as the work they
//! guard.

use rusqlite::Connection;

use super::chats;
use super::users::user_exists;
use crate::domain::{ChatKind, ChatTarget, Timestamp};
use crate::error::{AppError, Result};
use crate::store::Expect;
use crate::store::model::{ChatRow, Membership};

/// The chat `chat_id` if `user_id` belongs to it: 404 when it does not
/// exist (or is not a group when a group is expected), 403 `not_a_member`
/// when the user is an outsider.
pub fn member_chat(
    conn: &Connection,
    user_id: i64,
    chat_id: i64,
    expect: Expect,
) -> Result<(ChatRow, Membership)> {
    let chat = chats::chat_by_id(conn, chat_id)?;
    let chat = match (chat, expect) {
        (Some(chat), Expect::AnyChat) => chat,
        (Some(chat), Expect::Group) if chat.kind == ChatKind::Group => chat,
        (_, Expect::AnyChat) => return Err(AppError::ChatNotFound(chat_id)),
        (_, Expect::Group) => return Err(AppError::GroupNotFound(chat_id)),
    };
    let membership = chats::membership(conn, chat_id, user_id)?.ok_or(AppError::NotAMember(chat_id))?;
    Ok((chat, membership))
}

/// The chat a message to `target` goes into.
pub struct ResolvedChat {
    pub id: i64,
    pub kind: ChatKind,
    /// Set when this send created the direct chat: its members, whose
    /// sockets must join the chat's room before the message goes out.
    pub created_with: Option<Vec<i64>>,
}

/// Finds the target chat, checking membership, and creates the direct chat
/// with a user on first use (its members hear of it from `seq` on). Must
/// run in the writer (it may insert).
pub fn resolve_target(
    conn: &Connection,
    sender: i64,
    target: ChatTarget,
    now: Timestamp,
    seq: i64,
) -> Result<ResolvedChat> {
    let (chat_id, expect) = match target {
        ChatTarget::User(peer) => {
            // An existing chat implies an existing peer: one lookup per send.
            if let Some(id) = chats::direct_chat_between(conn, sender, peer)? {
                return Ok(ResolvedChat {
                    id,
                    kind: ChatKind::Direct,
                    created_with: None,
                });
            }
            if !user_exists(conn, peer)? {
                return Err(AppError::UserNotFound(peer));
            }
            let id = chats::insert_direct_chat(conn, sender, peer, now, seq)?;
            let mut members = vec![sender, peer];
            members.dedup();
            return Ok(ResolvedChat {
                id,
                kind: ChatKind::Direct,
                created_with: Some(members),
            });
        }
        ChatTarget::Chat(id) => (id, Expect::AnyChat),
        ChatTarget::Group(id) => (id, Expect::Group),
    };
    let (chat, _) = member_chat(conn, sender, chat_id, expect)?;
    Ok(ResolvedChat {
        id: chat.id,
        kind: chat.kind,
        created_with: None,
    })
}

/// Like [`resolve_target`] but read-only: checks that a send to `target`
/// would be allowed, without creating anything. For work that must be
/// refused before it starts (a file upload's bytes).
pub fn check_target(conn: &Connection, sender: i64, target: ChatTarget) -> Result<()> {
    match target {
        ChatTarget::User(peer) if user_exists(conn, peer)? => Ok(()),
        ChatTarget::User(peer) => Err(AppError::UserNotFound(peer)),
        ChatTarget::Chat(id) => member_chat(conn, sender, id, Expect::AnyChat).map(|_| ()),
        ChatTarget::Group(id) => member_chat(conn, sender, id, Expect::Group).map(|_| ()),
    }
}
