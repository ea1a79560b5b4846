//! Live delivery of logged chat events to this node's sockets, and the
//! hand-over from a replay to live delivery with no gap and no duplicate.
//!
//! Every chat event goes to the `user:{id}` rooms of its recipients (the
//! members when it committed), so what a socket gets live is exactly what
//! `/events` lists for its user. Events reach a node in the order their
//! relays sent them, which across nodes is not always `seq` order: that is
//! why a socket that connects with `auth.since` is handled here.
//!
//! While it replays, the socket is in none of its rooms and the events that
//! arrive for its user are kept aside. Its replay is read after it was
//! registered, so every event committed after the read arrives here after
//! the registration. When the replay is out, under the same lock that
//! every delivery holds, the socket joins its rooms, gets what was kept
//! aside with a `seq` above the replay's, and is noted as caught up through
//! that `seq`: an event at or below it that arrives later (a slow node's)
//! was in the replay and is not sent again. Events above every such mark
//! take the fast way, one room broadcast.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::FutureExt;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::connect::user_room;
use crate::auth::AuthUser;
use crate::credentials::FileSigner;
use crate::credentials::has_attachment;
use crate::events::Logged;

#[derive(Default)]
struct Handover {
    /// Sockets replaying, with their user and the events kept aside.
    replaying: HashMap<Sid, (i64, Vec<Logged>)>,
    /// Sockets that replayed, and through which `seq`.
    caught_up: HashMap<Sid, i64>,
    /// The highest mark in `caught_up`: events above it go the fast way.
    horizon: i64,
}

/// This node's delivery of chat events (one per node, shared).
#[derive(Default)]
pub struct Live {
    handover: Mutex<Handover>,
}

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, Handover> {
        self.handover
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Delivers `event` to this node's sockets of its recipients, `except`
    /// the one it came from; returns how many sockets got a message.
    pub fn deliver<A: Adapter>(
        &self,
        io: &SocketIo<A>,
        files: &FileSigner,
        event: &Logged,
        except: Option<Sid>,
    ) -> usize {
        let Some(ns) = io.of("/") else { return 0 };
        let mut handover = self.lock();
        for (user, kept) in handover.replaying.values_mut() {
            if event.recipients.contains(user) {
                kept.push(event.clone());
            }
        }
        let rooms: Vec<String> = event.recipients.iter().copied().map(user_room).collect();
        if rooms.is_empty() {
            return 0;
        }
        // Broadcasting "from" the sending socket leaves it out.
        let to = match except.and_then(|sid| io.get_socket(sid)) {
            Some(origin) => origin.broadcast().local().to(rooms),
            None => ns.local().to(rooms),
        };
        let sockets = to.clone().sockets();
        let per_user = has_attachment(&event.data);
        if event.seq > handover.horizon && !per_user {
            let sent = to.emit(&event.name, &event.data).now_or_never();
            if !matches!(sent, Some(Ok(()))) {
                tracing::warn!(event = event.name, "a live event did not reach every socket");
            }
            return sockets.len();
        }
        let mut delivered = 0;
        for socket in sockets {
            if handover
                .caught_up
                .get(&socket.id)
                .is_some_and(|&mark| event.seq <= mark)
            {
                continue;
            }
            delivered += usize::from(send(&socket, files, event, per_user));
        }
        delivered
    }

    /// A socket about to replay: from now on, its user's events are kept
    /// aside for it.
    pub fn begin_replay(&self, sid: Sid, user_id: i64) {
        self.lock().replaying.insert(sid, (user_id, Vec::new()));
    }

    /// The replay (through `through`) is out: `join` puts the socket in its
    /// rooms, `after` tells it so (`caught_up`), then what was kept aside
    /// above `through` goes out (live events, which follow `caught_up`),
    /// all before any other delivery. `replayed`: whether events through
    /// `through` were sent (not for `sync_required`).
    pub fn finish_replay<A: Adapter>(
        &self,
        socket: &SocketRef<A>,
        files: &FileSigner,
        through: i64,
        replayed: bool,
        join: impl FnOnce(),
        after: impl FnOnce(),
    ) {
        let mut handover = self.lock();
        let kept = handover.replaying.remove(&socket.id).map(|(_, kept)| kept);
        join();
        after();
        for event in kept.unwrap_or_default() {
            if !replayed || event.seq > through {
                send(socket, files, &event, has_attachment(&event.data));
            }
        }
        if replayed {
            handover.caught_up.insert(socket.id, through);
            handover.horizon = handover.horizon.max(through);
        }
    }

    /// The socket is gone.
    pub fn forget(&self, sid: Sid) {
        let mut handover = self.lock();
        handover.replaying.remove(&sid);
        handover.caught_up.remove(&sid);
    }
}

/// Sends one event to one socket, its URLs signed for the socket's user.
pub fn send<A: Adapter>(socket: &SocketRef<A>, files: &FileSigner, event: &Logged, per_user: bool) -> bool {
    let sent = if per_user {
        let Some(user) = socket.extensions.get::<AuthUser>() else {
            return false;
        };
        socket.emit(&event.name, &files.signed_json(&event.data, user.id))
    } else {
        socket.emit(&event.name, &event.data)
    };
    match sent {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, event = event.name, "an event did not reach a socket");
            false
        }
    }
}
