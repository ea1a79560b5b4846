//! Who may see and write to which chat: rules run on the connection or
//! transaction of the work they guard (PostgreSQL twin of
//! `sqlite::access`).

use deadpool_postgres::GenericClient;

use super::rows::{self, CHAT_COLUMNS, MEMBERSHIP_COLUMNS, row};
use super::users::user_exists;
use crate::domain::{ChatKind, ChatTarget};
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

/// Whether a send from `sender` to `target` would be allowed (read-only;
/// the send itself checks again, in `chat_send`).
pub async fn check_target<C: GenericClient>(c: &C, sender: i64, target: ChatTarget) -> Result<()> {
    match target {
        ChatTarget::User(peer) if user_exists(c, peer).await? => Ok(()),
        ChatTarget::User(peer) => Err(AppError::UserNotFound(peer)),
        ChatTarget::Chat(id) => member_chat(c, sender, id, Expect::AnyChat).await.map(|_| ()),
        ChatTarget::Group(id) => member_chat(c, sender, id, Expect::Group).await.map(|_| ()),
    }
}
