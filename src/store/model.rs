//! Rows both implementations read the same way: a chat, one member's
//! standing in it, and the unread count that follows from the two.

use crate::domain::{ChatKind, Role, Timestamp};

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
