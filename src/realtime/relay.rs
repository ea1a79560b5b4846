//! The relay: the one task that turns outbox events into Socket.IO emits,
//! in the order the writer committed them. Every emit goes to a room
//! (`user:{id}`, `chat:{id}`) through socketioxide's operators, so the
//! cluster's adapter (Redis) carries them to every node. When it cannot
//! (Redis down), the adapter gives up before delivering even on this node;
//! the relay then delivers here at least, and clients elsewhere catch up
//! with `/sync` when they reconnect.

use std::sync::Arc;

use serde::Serialize;
use socketioxide::BroadcastError;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::operators::BroadcastOperators;
use tokio::sync::mpsc;

use super::connect::{chat_room, session_room, user_room};
use super::deliveries::DeliveryNotes;
use crate::credentials::FileSigner;
use crate::domain::{Chat, Member, Message, MessageKind, Timestamp, User};
use crate::events::Event;

#[derive(Serialize)]
struct GroupPayload<'a> {
    group: &'a Chat,
}

#[derive(Serialize)]
struct MemberAddedPayload<'a> {
    group_id: i64,
    member: &'a Member,
}

#[derive(Serialize)]
struct UserPayload<'a> {
    user: &'a User,
}

#[derive(Serialize)]
struct SessionPayload {
    session_id: i64,
}

#[derive(Serialize)]
struct MessagePayload<'a> {
    message: &'a Message,
}

#[derive(Serialize)]
struct DeletedPayload {
    chat_id: i64,
    message_id: i64,
    deleted_at: Timestamp,
}

#[derive(Serialize)]
struct ReactionPayload<'a> {
    chat_id: i64,
    message_id: i64,
    user_id: i64,
    emoji: &'a str,
    count: i64,
}

#[derive(Serialize)]
struct ReadPayload {
    chat_id: i64,
    user_id: i64,
    message_id: i64,
}

/// Runs until the outbox is closed (every sender dropped). File URLs are
/// minted here, as each event goes out: the events' door.
pub async fn run<A: Adapter>(
    io: SocketIo<A>,
    files: Arc<FileSigner>,
    mut events: mpsc::UnboundedReceiver<Event>,
    notes: Option<DeliveryNotes>,
) {
    while let Some(event) = events.recv().await {
        deliver(&io, &files, notes.as_ref(), event).await;
    }
}

/// Emits to every node's sockets in `to`; if the cluster cannot carry the
/// event, to this node's at least.
async fn emit<A: Adapter, T: Serialize + ?Sized>(
    to: BroadcastOperators<A>,
    event: &'static str,
    data: &T,
) -> Result<(), String> {
    match to.clone().emit(event, data).await {
        Err(BroadcastError::Adapter(e)) => {
            metrics::counter!("chat_cluster_broadcast_failures_total").increment(1);
            let local = to.local().emit(event, data).await;
            Err(match local {
                Ok(()) => format!("{event}: not carried to other nodes ({e}); delivered on this one"),
                Err(l) => format!("{event}: not carried to other nodes ({e}), nor here ({l})"),
            })
        }
        other => other.map_err(|e| format!("{event}: {e}")),
    }
}

async fn deliver<A: Adapter>(
    io: &SocketIo<A>,
    files: &FileSigner,
    notes: Option<&DeliveryNotes>,
    event: Event,
) {
    // The namespace is gone once shutdown has closed the sockets.
    let Some(ns) = io.of("/") else { return };
    let outcome = match event {
        Event::JoinedChat { chat_id, user_ids } => {
            let users: Vec<String> = user_ids.into_iter().map(user_room).collect();
            match ns.clone().to(users.clone()).join(chat_room(chat_id)).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let here = ns.local().to(users).join(chat_room(chat_id)).await;
                    Err(format!("joining chat {chat_id}: {e} (on this node: {here:?})"))
                }
            }
        }
        Event::Message { message, except } => {
            let message = files.signed(message);
            let name = match message.kind {
                MessageKind::Text => "receive_message",
                MessageKind::File => "receive_file",
            };
            // Broadcasting "from" the sending socket leaves it out.
            let room = chat_room(message.chat_id);
            let to = match except.and_then(|sid| io.get_socket(sid)) {
                Some(origin) => origin.broadcast().to(room),
                None => ns.to(room),
            };
            // This node's recipients; the other nodes count theirs from
            // the note (see `deliveries`).
            let recipients = to.clone().local().sockets().len();
            metrics::counter!("chat_messages_delivered_total").increment(recipients as u64);
            if let Some(notes) = notes {
                notes.note(message.chat_id);
            }
            emit(to, name, &*message).await
        }
        Event::GroupCreated { group } => {
            let group = files.signed(group);
            emit(
                ns.to(chat_room(group.id)),
                "group_created",
                &GroupPayload { group: &group },
            )
            .await
        }
        Event::MemberAdded { group_id, member } => {
            let payload = MemberAddedPayload {
                group_id,
                member: &member,
            };
            emit(ns.to(chat_room(group_id)), "member_added", &payload).await
        }
        Event::AddedToGroup { user_id, group } => {
            let group = files.signed(group);
            emit(
                ns.to(user_room(user_id)),
                "added_to_group",
                &GroupPayload { group: &group },
            )
            .await
        }
        Event::UserUpdated { user, user_ids } => {
            let rooms: Vec<String> = user_ids.into_iter().map(user_room).collect();
            emit(ns.to(rooms), "user_updated", &UserPayload { user: &user }).await
        }
        Event::SessionsRevoked { session_ids } => {
            // Every node hears of a revocation and closes its own sockets.
            let mut outcome = Ok(());
            for session_id in session_ids {
                let room = session_room(session_id);
                let told = ns
                    .clone()
                    .local()
                    .to(room.clone())
                    .emit("session_revoked", &SessionPayload { session_id })
                    .await;
                let closed = ns.clone().local().to(room).disconnect().await;
                if let Err(e) = told
                    .map_err(|e| e.to_string())
                    .and(closed.map_err(|e| e.to_string()))
                {
                    outcome = Err(format!("session_revoked {session_id}: {e}"));
                }
            }
            outcome
        }
        Event::MessageUpdated { message } => {
            let message = files.signed(message);
            let payload = MessagePayload { message: &message };
            emit(ns.to(chat_room(message.chat_id)), "message_updated", &payload).await
        }
        Event::MessageDeleted {
            chat_id,
            message_id,
            deleted_at,
        } => {
            let payload = DeletedPayload {
                chat_id,
                message_id,
                deleted_at,
            };
            emit(ns.to(chat_room(chat_id)), "message_deleted", &payload).await
        }
        Event::Reaction {
            chat_id,
            message_id,
            user_id,
            emoji,
            count,
            added,
        } => {
            let payload = ReactionPayload {
                chat_id,
                message_id,
                user_id,
                emoji: &emoji,
                count,
            };
            let name = if added {
                "reaction_added"
            } else {
                "reaction_removed"
            };
            emit(ns.to(chat_room(chat_id)), name, &payload).await
        }
        Event::Read {
            chat_id,
            user_id,
            message_id,
        } => {
            let payload = ReadPayload {
                chat_id,
                user_id,
                message_id,
            };
            emit(ns.to(chat_room(chat_id)), "read", &payload).await
        }
    };
    if let Err(e) = outcome {
        // A socket whose buffer is full or that just left; the others got it.
        tracing::warn!(error = %e, "broadcast incomplete");
    }
}
