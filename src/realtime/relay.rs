//! The relay: the one task that turns outbox events into deliveries, in the
//! order the store committed them. Chat events go to this node's sockets
//! through [`Live`] and, in a cluster, to the other nodes through the
//! [`Fanout`]; room moves (`user:{id}` sockets joining or leaving a
//! `chat:{id}` room, for typing and presence) and session kicks go through
//! socketioxide's operators, so the cluster's adapter (Redis) carries them
//! to every node. When it cannot (Redis down), the relay moves this node's
//! sockets at least.

use std::sync::Arc;

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use tokio::sync::mpsc;

use super::connect::{chat_room, session_room, user_room};
use super::fanout::Fanout;
use super::live::Live;
use crate::credentials::FileSigner;
use crate::events::{Event, Logged};

/// The most outbox events taken at once (one cluster message carries the
/// chat events among them).
const MAX_BATCH: usize = 256;

#[derive(Serialize)]
struct SessionPayload {
    session_id: i64,
}

/// Runs until the outbox is closed (every sender dropped).
pub async fn run<A: Adapter>(
    io: SocketIo<A>,
    files: Arc<FileSigner>,
    live: Arc<Live>,
    mut events: mpsc::UnboundedReceiver<Event>,
    fanout: Option<Fanout>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = events.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match events.try_recv() {
                Ok(event) => batch.push(event),
                Err(_) => break,
            }
        }
        // This node's sockets first, then the other nodes'.
        let chat: Vec<Logged> = match &fanout {
            Some(_) => batch
                .iter()
                .filter_map(|e| match e {
                    Event::Chat { event, .. } => Some(event.clone()),
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        for event in batch.drain(..) {
            deliver(&io, &files, &live, event).await;
        }
        if let Some(fanout) = &fanout
            && !chat.is_empty()
        {
            fanout.publish(chat).await;
        }
    }
}

/// `chat_messages_delivered_total`: each node counts the sockets it handed
/// a message to, so the sum over the nodes is the cluster's.
pub fn count_delivered(event: &Logged, sockets: usize) {
    if event.name == "receive_message" || event.name == "receive_file" {
        metrics::counter!("chat_messages_delivered_total").increment(sockets as u64);
    }
}

async fn deliver<A: Adapter>(io: &SocketIo<A>, files: &FileSigner, live: &Live, event: Event) {
    // The namespace is gone once shutdown has closed the sockets.
    let Some(ns) = io.of("/") else { return };
    let outcome = match event {
        Event::Chat { event, except } => {
            count_delivered(&event, live.deliver(io, files, &event, except));
            Ok(())
        }
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
        Event::LeftChat {
            chat_id,
            user_ids,
            done,
        } => {
            let users: Vec<String> = user_ids.into_iter().map(user_room).collect();
            let outcome = match ns.clone().to(users.clone()).leave(chat_room(chat_id)).await {
                Ok(()) => Ok(()),
                Err(e) => {
                    let here = ns.local().to(users).leave(chat_room(chat_id)).await;
                    Err(format!("leaving chat {chat_id}: {e} (on this node: {here:?})"))
                }
            };
            if let Some(done) = done {
                let _ = done.send(());
            }
            outcome
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
    };
    if let Err(e) = outcome {
        // A socket whose buffer is full or that just left; the others got it.
        tracing::warn!(error = %e, "broadcast incomplete");
    }
}
