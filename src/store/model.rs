//! What both implementations share: the rows they read the same way (a
//! chat, one member's standing in it, the unread count that follows), and
//! the rules they apply to what a transaction found.

use crate::domain::{ChatKind, Message, Role, Timestamp};
use crate::error::{AppError, Result};

/// A `chats` row.
#[derive(Debug, Clone)]
pub struct ChatRow {
    pub id: i64,
    pub kind: ChatKind,
    pub name: Option<String>,
    pub created_by: i64,
    pub created_at: Timestamp,
    pub last_message_id: Option<i64>,
    /// Sequence number of the chat's newest message (0: none yet).
    pub last_seq: i64,
}

/// One user's membership of one chat.
#[derive(Debug, Clone, Copy)]
pub struct Membership {
    pub role: Role,
    pub last_read_message_id: i64,
    /// The sequence number of that message in its chat.
    pub last_read_seq: i64,
    /// The member's own messages after that marker.
    pub sent_since_read: i64,
}

impl Membership {
    /// A member who has read nothing yet.
    pub fn fresh(role: Role) -> Self {
        Membership {
            role,
            last_read_message_id: 0,
            last_read_seq: 0,
            sent_since_read: 0,
        }
    }
}

/// Other members' messages above the viewer's read marker: every message
/// after the marker (by sequence numbers) less the viewer's own (counted as
/// they are sent). No scan.
pub fn unread_count(chat: &ChatRow, marker: &Membership) -> i64 {
    (chat.last_seq - marker.last_read_seq - marker.sent_since_read).max(0)
}

/// What an add-member transaction reads before it writes.
pub struct AddFacts {
    pub user_exists: bool,
    pub already_member: bool,
    pub members: i64,
}

/// May `actor` add `user_id` to `group_id`? In this order: the actor
/// manages members (owner or admin), the user exists, is not a member yet,
/// and the group has room for one more.
pub fn check_add_member(
    actor: &Membership,
    group_id: i64,
    user_id: i64,
    max_members: i64,
    facts: AddFacts,
) -> Result<()> {
    if !actor.role.can_manage_members() {
        return Err(AppError::Forbidden(
            "only the owner or an admin can add members".into(),
        ));
    }
    if !facts.user_exists {
        return Err(AppError::UserNotFound(user_id));
    }
    if facts.already_member {
        return Err(AppError::AlreadyMember {
            user: user_id,
            group: group_id,
        });
    }
    if facts.members >= max_members {
        return Err(AppError::Forbidden(format!(
            "the group is full ({max_members} members)"
        )));
    }
    Ok(())
}

/// May `user_id` edit `message`? Only its sender, and not a tombstone.
pub fn check_edit(message: &Message, user_id: i64) -> Result<()> {
    if message.deleted_at.is_some() {
        return Err(AppError::NotFound(format!("message {} was deleted", message.id)));
    }
    if message.sender_id != user_id {
        return Err(AppError::Forbidden("only the sender can edit a message".into()));
    }
    Ok(())
}

/// May a member with `role` delete `message`? Its sender, or in a group its
/// owner and admins. `Ok(true)`: it is a tombstone already.
pub fn check_delete(message: &Message, user_id: i64, role: Role) -> Result<bool> {
    let moderator = message.chat_kind == ChatKind::Group && role.can_manage_members();
    if message.sender_id != user_id && !moderator {
        return Err(AppError::Forbidden(
            "only the sender, or in a group its owner and admins, can delete a message".into(),
        ));
    }
    Ok(message.deleted_at.is_some())
}

/// Reactions need a live message.
pub fn check_react(message: &Message) -> Result<()> {
    if message.deleted_at.is_some() {
        return Err(AppError::NotFound(format!("message {} was deleted", message.id)));
    }
    Ok(())
}

/// Locks of blob keys within one process, striped: two keys may share a
/// stripe, which only makes one wait for the other briefly.
pub struct BlobLocks {
    stripes: Vec<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

impl Default for BlobLocks {
    fn default() -> Self {
        BlobLocks {
            stripes: (0..64).map(|_| std::sync::Arc::default()).collect(),
        }
    }
}

impl BlobLocks {
    pub async fn lock(&self, key: &str) -> crate::store::BlobLock {
        let stripe = key
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        let mutex = std::sync::Arc::clone(&self.stripes[stripe % self.stripes.len()]);
        crate::store::BlobLock::new(mutex.lock_owned().await)
    }
}
