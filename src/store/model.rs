//! What both implementations share: the rows they read the same way (a
//! chat, one member's standing in it, the unread count that follows), and
//! the rules they apply to what a transaction found.

use crate::domain::{ChatKind, Message, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::events::{ChatEvent, Departure};
use crate::store::{Effect, GroupAction};

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

/// The chat event that tells of a message change (`message` as it is
/// afterwards).
pub fn change_event(message: &Message, effect: &Effect) -> ChatEvent {
    match effect {
        Effect::Edited => ChatEvent::MessageUpdated(message.clone()),
        Effect::Deleted { .. } => ChatEvent::MessageDeleted {
            chat_id: message.chat_id,
            message_id: message.id,
            deleted_at: message.deleted_at.unwrap_or_else(Timestamp::now),
        },
        Effect::Reacted {
            user_id,
            emoji,
            count,
            added,
        } => ChatEvent::Reaction {
            chat_id: message.chat_id,
            message_id: message.id,
            user_id: *user_id,
            emoji: emoji.clone(),
            count: *count,
            added: *added,
        },
    }
}

/// What a group change transaction found of the user it acts on: whether
/// they exist and, if they belong to the group, their role.
pub struct Target {
    pub exists: bool,
    pub role: Option<Role>,
}

/// What a group change comes to, once its rules have passed.
#[derive(Debug, PartialEq, Eq)]
pub enum GroupPlan {
    /// A repeat (the same name, the same role).
    Nothing,
    Rename(String),
    /// `user_id` goes; `role` is what they were (an owner has a successor).
    Drop {
        user_id: i64,
        reason: Departure,
        role: Role,
    },
    /// These members get these roles, in order.
    Roles(Vec<(i64, Role)>),
}

/// The rules of group management (v2), in the contract's order. The actor
/// is a member (checked before). Rename: owner or admin. Leave: anyone.
/// Remove: not oneself (that is leaving); the owner removes anyone, an
/// admin plain members only. Roles: the owner only, on another member;
/// giving `owner` transfers ownership and makes the old owner an admin.
pub fn plan_group_change(
    actor_id: i64,
    actor: &Membership,
    current_name: Option<&str>,
    action: GroupAction,
    target: Option<Target>,
) -> Result<GroupPlan> {
    let target_role = |user_id: i64, target: Option<Target>| -> Result<Role> {
        let target = target.unwrap_or(Target {
            exists: false,
            role: None,
        });
        if !target.exists {
            return Err(AppError::UserNotFound(user_id));
        }
        target
            .role
            .ok_or_else(|| AppError::NotFound(format!("user {user_id} is not a member of this group")))
    };
    match action {
        GroupAction::Rename(name) => {
            let name = name?;
            if !actor.role.can_manage_members() {
                return Err(AppError::Forbidden(
                    "only the owner or an admin can rename the group".into(),
                ));
            }
            if current_name == Some(name.as_str()) {
                return Ok(GroupPlan::Nothing);
            }
            Ok(GroupPlan::Rename(name.as_str().to_string()))
        }
        GroupAction::Leave => Ok(GroupPlan::Drop {
            user_id: actor_id,
            reason: Departure::Left,
            role: actor.role,
        }),
        GroupAction::Remove { user_id } => {
            if user_id == actor_id {
                return Err(AppError::Forbidden(
                    "to leave the group, use POST /groups/{group_id}/leave".into(),
                ));
            }
            if !actor.role.can_manage_members() {
                return Err(AppError::Forbidden(
                    "only the owner or an admin can remove members".into(),
                ));
            }
            let role = target_role(user_id, target)?;
            if actor.role == Role::Admin && role != Role::Member {
                return Err(AppError::Forbidden(
                    "an admin can remove plain members only".into(),
                ));
            }
            Ok(GroupPlan::Drop {
                user_id,
                reason: Departure::Removed,
                role,
            })
        }
        GroupAction::SetRole { user_id, role } => {
            let role = role?;
            if actor.role != Role::Owner {
                return Err(AppError::Forbidden("only the owner can change roles".into()));
            }
            let current = target_role(user_id, target)?;
            if user_id == actor_id {
                return Err(AppError::Forbidden(
                    "the owner cannot change their own role: give owner to another member".into(),
                ));
            }
            Ok(match (current == role, role) {
                (true, _) => GroupPlan::Nothing,
                (false, Role::Owner) => {
                    GroupPlan::Roles(vec![(user_id, Role::Owner), (actor_id, Role::Admin)])
                }
                (false, role) => GroupPlan::Roles(vec![(user_id, role)]),
            })
        }
    }
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
