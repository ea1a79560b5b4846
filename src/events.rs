//! The events domain operations produce, and the outbox they go to: what
//! committed writes have to tell connected clients, in commit order.
//!
//! Chat events (v2) are logged by the store in the transaction of the
//! change that makes them, each with its `seq`, its payload as it is at
//! commit time and the users who receive it (the chat's members then, or
//! named users): a [`Logged`]. The same value goes out live, is replayed to
//! a socket that connects with `auth.since` and is paged by `GET /events`,
//! so the three never disagree. Domain operations publish what the store
//! returns from the hook it runs after the commit, in commit order; a
//! single task (the relay, in `realtime/relay.rs`) takes them off this
//! queue. This module sits below the domains, the store and `realtime`,
//! which all use it.

use serde::Serialize;
use serde_json::{Value, json};
use socketioxide::socket::Sid;
use tokio::sync::{mpsc, oneshot};

use crate::domain::{Chat, Member, Message, MessageKind, Role, Timestamp, User};

/// Where a send came from: the sending socket does not get its own message
/// back (the sender's other devices do).
pub type Origin = Option<Sid>;

/// A chat event before the store has given it its `seq`.
#[derive(Debug, Clone)]
pub enum ChatEvent {
    /// `receive_message` or `receive_file`: the message itself.
    Message(Message),
    GroupCreated(Chat),
    /// To the new member alone.
    AddedToGroup(Chat),
    MemberAdded {
        group_id: i64,
        member: Member,
    },
    Read {
        chat_id: i64,
        user_id: i64,
        message_id: i64,
    },
    MessageUpdated(Message),
    MessageDeleted {
        chat_id: i64,
        message_id: i64,
        deleted_at: Timestamp,
    },
    Reaction {
        chat_id: i64,
        message_id: i64,
        user_id: i64,
        emoji: String,
        count: i64,
        added: bool,
    },
    GroupUpdated(Chat),
    MemberRemoved {
        group_id: i64,
        user_id: i64,
        by: i64,
        reason: Departure,
    },
    MemberRoleChanged {
        group_id: i64,
        user_id: i64,
        role: Role,
    },
    UserUpdated(User),
}

/// Why a member is gone from a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Departure {
    Left,
    Removed,
}

impl ChatEvent {
    /// The Socket.IO event name, which is also `type` in `GET /events`.
    pub fn name(&self) -> &'static str {
        match self {
            ChatEvent::Message(m) if m.kind == MessageKind::File => "receive_file",
            ChatEvent::Message(_) => "receive_message",
            ChatEvent::GroupCreated(_) => "group_created",
            ChatEvent::AddedToGroup(_) => "added_to_group",
            ChatEvent::MemberAdded { .. } => "member_added",
            ChatEvent::Read { .. } => "read",
            ChatEvent::MessageUpdated(_) => "message_updated",
            ChatEvent::MessageDeleted { .. } => "message_deleted",
            ChatEvent::Reaction { added: true, .. } => "reaction_added",
            ChatEvent::Reaction { added: false, .. } => "reaction_removed",
            ChatEvent::GroupUpdated(_) => "group_updated",
            ChatEvent::MemberRemoved { .. } => "member_removed",
            ChatEvent::MemberRoleChanged { .. } => "member_role_changed",
            ChatEvent::UserUpdated(_) => "user_updated",
        }
    }

    /// The payload with `seq` in it (and in a message's own `seq`). One
    /// payload for every recipient: a chat's `unread_count` is 0, a
    /// message's reactions carry no `me`, attachment URLs are left to be
    /// signed per recipient on the way out.
    pub fn payload(&self, seq: i64) -> Value {
        fn message(m: &Message, seq: i64) -> Value {
            let mut m = m.clone().without_me();
            m.seq = seq;
            to_value(&m)
        }
        fn group(c: &Chat, seq: i64) -> Value {
            let mut c = c.clone();
            c.unread_count = 0;
            if let Some(last) = &mut c.last_message {
                *last = last.clone().without_me();
            }
            json!({ "group": to_value(&c), "seq": seq })
        }
        match self {
            ChatEvent::Message(m) => message(m, seq),
            ChatEvent::GroupCreated(c) | ChatEvent::AddedToGroup(c) | ChatEvent::GroupUpdated(c) => {
                group(c, seq)
            }
            ChatEvent::MemberAdded { group_id, member } => {
                json!({ "group_id": group_id, "member": to_value(member), "seq": seq })
            }
            ChatEvent::Read {
                chat_id,
                user_id,
                message_id,
            } => json!({ "chat_id": chat_id, "user_id": user_id, "message_id": message_id, "seq": seq }),
            ChatEvent::MessageUpdated(m) => json!({ "message": message(m, seq), "seq": seq }),
            ChatEvent::MessageDeleted {
                chat_id,
                message_id,
                deleted_at,
            } => json!({
                "chat_id": chat_id, "message_id": message_id, "deleted_at": to_value(deleted_at), "seq": seq
            }),
            ChatEvent::Reaction {
                chat_id,
                message_id,
                user_id,
                emoji,
                count,
                ..
            } => json!({
                "chat_id": chat_id, "message_id": message_id, "user_id": user_id,
                "emoji": emoji, "count": count, "seq": seq
            }),
            ChatEvent::MemberRemoved {
                group_id,
                user_id,
                by,
                reason,
            } => json!({
                "group_id": group_id, "user_id": user_id, "by": by, "reason": to_value(reason), "seq": seq
            }),
            ChatEvent::MemberRoleChanged {
                group_id,
                user_id,
                role,
            } => json!({ "group_id": group_id, "user_id": user_id, "role": to_value(role), "seq": seq }),
            ChatEvent::UserUpdated(u) => json!({ "user": to_value(u), "seq": seq }),
        }
    }
}

/// Serializes a domain value (they always serialize).
fn to_value<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A chat event as committed: its `seq`, name, payload (attachment URLs
/// unsigned) and recipients.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Logged {
    pub seq: i64,
    pub name: String,
    pub data: Value,
    /// The chat whose members (at `seq`) receive it; `None`: the
    /// recipients are named users.
    pub chat_id: Option<i64>,
    pub recipients: Vec<i64>,
}

impl Logged {
    pub fn new(seq: i64, event: &ChatEvent, chat_id: Option<i64>, recipients: Vec<i64>) -> Self {
        Logged {
            seq,
            name: event.name().to_string(),
            data: event.payload(seq),
            chat_id,
            recipients,
        }
    }
}

/// Told once a change's room moves are done on every node's side of the
/// adapter, so that the answer goes out after them.
pub type Done = oneshot::Sender<()>;

/// A committed change that clients must hear about.
#[derive(Debug)]
pub enum Event {
    /// A logged chat event, to its recipients' sockets (the socket it came
    /// from excepted).
    Chat { event: Logged, except: Option<Sid> },
    /// These users joined this chat: their open sockets join its room
    /// (typing and presence go to chat rooms).
    JoinedChat { chat_id: i64, user_ids: Vec<i64> },
    /// These users left this chat: their sockets leave its room, on every
    /// node, before `done` is told.
    LeftChat {
        chat_id: i64,
        user_ids: Vec<i64>,
        done: Option<Done>,
    },
    /// `session_revoked` to the sockets of these sessions on this node,
    /// which are then disconnected. (Every node hears of a revocation and
    /// publishes this for its own sockets.)
    SessionsRevoked { session_ids: Vec<i64> },
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

    /// Publishes logged events in order.
    pub fn publish_logged(&self, events: &[Logged], except: Option<Sid>) {
        for event in events {
            self.publish(Event::Chat {
                event: event.clone(),
                except,
            });
        }
    }
}
