//! The events domain operations produce, and the outbox they go to: what
//! committed writes have to tell connected clients, in commit order.
//!
//! Domain operations publish events from the hook the store runs after the
//! write commits, in commit order; a single task (the relay, in
//! `realtime/relay.rs`) takes them off this queue and emits them through
//! Socket.IO rooms one after another. One producer order, one consumer: a
//! chat's messages reach every socket in id order even when many senders
//! write at once, and nothing is emitted that did not commit. This module
//! sits below the domains and below `realtime`, which both use it.

use socketioxide::socket::Sid;
use tokio::sync::mpsc;

use crate::domain::{Chat, Member, Message, Timestamp, User};

/// Where a send came from: the sending socket does not get its own message
/// back (the sender's other devices do).
pub type Origin = Option<Sid>;

/// A committed change that clients must hear about.
#[derive(Debug, Clone)]
pub enum Event {
    /// These users joined this chat: their open sockets join its room.
    JoinedChat { chat_id: i64, user_ids: Vec<i64> },
    /// A new message: `receive_message` or `receive_file` to the chat's
    /// room, except the socket it was sent from.
    Message {
        message: Box<Message>,
        except: Option<Sid>,
    },
    /// `group_created` to every member of the new group.
    GroupCreated { group: Box<Chat> },
    /// `member_added` to the group's members (sent before the new member's
    /// sockets join the room).
    MemberAdded { group_id: i64, member: Member },
    /// `added_to_group` to the added user's sockets.
    AddedToGroup { user_id: i64, group: Box<Chat> },
    /// `user_updated` to these users' sockets (a profile changed).
    UserUpdated { user: Box<User>, user_ids: Vec<i64> },
    /// `session_revoked` to the sockets of these sessions on this node,
    /// which are then disconnected. (Every node hears of a revocation and
    /// publishes this for its own sockets.)
    SessionsRevoked { session_ids: Vec<i64> },
    /// `message_updated` to the chat's room, the editing socket included.
    MessageUpdated { message: Box<Message> },
    /// `message_deleted` to the chat's room.
    MessageDeleted {
        chat_id: i64,
        message_id: i64,
        deleted_at: Timestamp,
    },
    /// `reaction_added` (or `reaction_removed`) to the chat's room, with
    /// the emoji's count after the change.
    Reaction {
        chat_id: i64,
        message_id: i64,
        user_id: i64,
        emoji: String,
        count: i64,
        added: bool,
    },
    /// `read` to the chat's members: a read marker moved.
    Read {
        chat_id: i64,
        user_id: i64,
        message_id: i64,
    },
}

/// The sending side; cheap to clone, never blocks.
#[derive(Clone)]
pub struct Outbox {
    queue: mpsc::UnboundedSender<Event>,
}

impl Outbox {
    pub fn new() -> (Outbox, mpsc::UnboundedReceiver<Event>) {
        let (queue, events) = mpsc::unbounded_channel();
        (Outbox { queue }, events)
    }

    pub fn publish(&self, event: Event) {
        // Fails only when the relay is gone (shutdown): nobody to tell.
        let _ = self.queue.send(event);
    }
}
