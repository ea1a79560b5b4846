//! Who may see and write to which chat: rules run on the connection or
//! transaction of the work they guard (PostgreSQL twin of
//! `sqlite::access`).

use deadpool_postgres::GenericClient;

use super::chats::{direct_chat_between, insert_direct_chat};
use super::rows::{self, CHAT_COLUMNS, MEMBERSHIP_COLUMNS, row};
use super::users::user_exists;
use crate::domain::{ChatKind, ChatTarget, Timestamp};
use crate::error::{AppError, Result};
use crate::store::Expect;
use crate::store::model::{ChatRow, Membership};

pub async fn chat_by_id<C: GenericClient>(c: &C, id: i64) -> Result<Option<ChatRow>> {
    let sql = format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = $1");
    row(c, &sql, &[&id]).await?.as_ref().map(rows::chat).transpose()
}

pub async fn membership<C: GenericClient>(c: &C, chat_id: i64, user_id: i64) -> Result<Option<Membership>> {
    let sql =
        format!("SELECT {MEMBERSHIP_COLUMNS} FROM chat_members cm WHERE cm.chat_id = $1 AND cm.user_id = $2");
    row(c, &sql, &[&chat_id, &user_id])
        .await?
        .as_ref()
        .map(|r| rows::membership(r, 0))
        .transpose()
}

/// The chat `chat_id` if `user_id` belongs to it: 404 when it does not
/// exist (or is not a group when a group is expected), 403 `not_a_member`
/// when the user is an outsider.
pub async fn member_chat<C: GenericClient>(
    c: &C,
    user_id: i64,
    chat_id: i64,
    expect: Expect,
) -> Result<(ChatRow, Membership)> {
    let chat = match (chat_by_id(c, chat_id).await?, expect) {
        (Some(chat), Expect::AnyChat) => chat,
        (Some(chat), Expect::Group) if chat.kind == ChatKind::Group => chat,
        (_, Expect::AnyChat) => return Err(AppError::ChatNotFound(chat_id)),
        (_, Expect::Group) => return Err(AppError::GroupNotFound(chat_id)),
    };
    let membership = membership(c, chat_id, user_id)
        .await?
        .ok_or(AppError::NotAMember(chat_id))?;
    Ok((chat, membership))
}

/// The chat a message to `target` goes into.
pub struct ResolvedChat {
    pub id: i64,
    pub kind: ChatKind,
    /// Set when this send created the direct chat: its members.
    pub created_with: Option<Vec<i64>>,
}

/// Finds the target chat, checking membership, and creates the direct chat
/// with a user on first use. Runs in the writer (it may insert).
pub async fn resolve_target<C: GenericClient>(
    c: &C,
    sender: i64,
    target: ChatTarget,
    now: Timestamp,
) -> Result<ResolvedChat> {
    let (chat_id, expect) = match target {
        ChatTarget::User(peer) => {
            if let Some(id) = direct_chat_between(c, sender, peer).await? {
                return Ok(ResolvedChat {
                    id,
                    kind: ChatKind::Direct,
                    created_with: None,
                });
            }
            if !user_exists(c, peer).await? {
                return Err(AppError::UserNotFound(peer));
            }
            let id = insert_direct_chat(c, sender, peer, now).await?;
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
    let (chat, _) = member_chat(c, sender, chat_id, expect).await?;
    Ok(ResolvedChat {
        id: chat.id,
        kind: chat.kind,
        created_with: None,
    })
}

/// Like [`resolve_target`] but read-only: whether a send would be allowed.
pub async fn check_target<C: GenericClient>(c: &C, sender: i64, target: ChatTarget) -> Result<()> {
    match target {
        ChatTarget::User(peer) if user_exists(c, peer).await? => Ok(()),
        ChatTarget::User(peer) => Err(AppError::UserNotFound(peer)),
        ChatTarget::Chat(id) => member_chat(c, sender, id, Expect::AnyChat).await.map(|_| ()),
        ChatTarget::Group(id) => member_chat(c, sender, id, Expect::Group).await.map(|_| ()),
    }
}
