//! The relay: the one task that turns outbox events into Socket.IO emits,
//! in the order the writer committed them. Every emit goes to a room
//! (`user:{id}`, `chat:{id}`) through socketioxide's operators, so a shared
//! adapter (Redis) can carry them across nodes later without changes here.

use std::sync::Arc;

use serde::Serialize;
use socketioxide::SocketIo;
use tokio::sync::mpsc;

use super::connect::{chat_room, user_room};
use crate::credentials::FileSigner;
use crate::domain::{Chat, Member, MessageKind};
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
struct ReadPayload {
    chat_id: i64,
    user_id: i64,
    message_id: i64,
}

/// Runs until the outbox is closed (every sender dropped). File URLs are
/// minted here, as each event goes out: the events' door.
pub async fn run(io: SocketIo, files: Arc<FileSigner>, mut events: mpsc::UnboundedReceiver<Event>) {
    while let Some(event) = events.recv().await {
        deliver(&io, &files, event).await;
    }
}

async fn deliver(io: &SocketIo, files: &FileSigner, event: Event) {
    // The namespace is gone once shutdown has closed the sockets.
    let Some(ns) = io.of("/") else { return };
    let outcome = match event {
        Event::JoinedChat { chat_id, user_ids } => {
            let users: Vec<String> = user_ids.into_iter().map(user_room).collect();
            ns.to(users)
                .join(chat_room(chat_id))
                .await
                .map_err(|e| e.to_string())
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
            let recipients = to.clone().sockets().len();
            metrics::counter!("chat_messages_delivered_total").increment(recipients as u64);
            to.emit(name, &*message).await.map_err(|e| e.to_string())
        }
        Event::GroupCreated { group } => {
            let group = files.signed(group);
            ns.to(chat_room(group.id))
                .emit("group_created", &GroupPayload { group: &group })
                .await
                .map_err(|e| e.to_string())
        }
        Event::MemberAdded { group_id, member } => ns
            .to(chat_room(group_id))
            .emit(
                "member_added",
                &MemberAddedPayload {
                    group_id,
                    member: &member,
                },
            )
            .await
            .map_err(|e| e.to_string()),
        Event::AddedToGroup { user_id, group } => {
            let group = files.signed(group);
            ns.to(user_room(user_id))
                .emit("added_to_group", &GroupPayload { group: &group })
                .await
                .map_err(|e| e.to_string())
        }
        Event::Read {
            chat_id,
            user_id,
            message_id,
        } => ns
            .to(chat_room(chat_id))
            .emit(
                "read",
                &ReadPayload {
                    chat_id,
                    user_id,
                    message_id,
                },
            )
            .await
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = outcome {
        // A socket whose buffer is full or that just left; the others got it.
        tracing::warn!(error = %e, "broadcast incomplete");
    }
}
