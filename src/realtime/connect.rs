//! A socket's life: the connect middleware (authenticate, join rooms,
//! register handlers, count presence) and the disconnect handler.
//!
//! Everything happens in the middleware, which socketioxide runs before it
//! sends the client its connect packet: the event handlers are in place and
//! the rooms joined before the client can emit anything. (The connect
//! handler proper runs later, on a spawned task, and would race the
//! client's first events.) A broadcast to a room the socket has just
//! joined can therefore reach the client just before its connect packet;
//! socket.io-client keeps such events (its receive buffer) and hands them
//! over once connected, so nothing sent after the join is missed.
//!
//! A socket that connects with `auth.since` (v2) joins its rooms only once
//! it has caught up: the connect handler sends it the events it missed,
//! then `caught_up` (or `sync_required`), and hands it over to live
//! delivery with no gap and no duplicate (see `live`).

use std::sync::Arc;

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{Extension, SocketRef, State, TryData};

use super::handlers;
use super::live::{self, Live};
use crate::auth::{self, AuthUser};
use crate::credentials::has_attachment;
use crate::domain::Timestamp;
use crate::error::AppError;
use crate::presence::Admission;
use crate::state::AppState;
use crate::{chats, users};

/// Why a connection was refused; its text is what the client's
/// `connect_error` carries in `err.message`.
#[derive(Debug)]
pub enum Refused {
    Unauthorized,
    TooManyConnections,
    /// The database stayed unreachable for [`STORE_WAIT`].
    Unavailable,
    Internal,
}

/// How long a connect waits for an unreachable database, and how often it
/// tries again meanwhile.
const STORE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const STORE_RETRY: std::time::Duration = std::time::Duration::from_millis(250);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refused::Unauthorized => "unauthorized",
            Refused::TooManyConnections => "too many connections",
            Refused::Unavailable => "unavailable",
            Refused::Internal => "internal",
        })
    }
}

pub fn user_room(user_id: i64) -> String {
    format!("user:{user_id}")
}

pub fn chat_room(chat_id: i64) -> String {
    format!("chat:{chat_id}")
}

/// The sockets of one session (v2): told and closed when it is revoked.
pub fn session_room(session_id: i64) -> String {
    format!("session:{session_id}")
}

/// The most missed events a connect replays; more is `sync_required`.
const REPLAY_MAX: u32 = 1000;

/// A socket that asked to catch up from `since`.
#[derive(Debug, Clone, Copy)]
struct Replay {
    since: i64,
}

/// `auth.since`: a non-negative integer, or its decimal digits; anything
/// else asks for no replay.
fn handshake_since(auth: &serde_json::Value) -> Option<i64> {
    match auth.get("since")? {
        serde_json::Value::Number(n) => n.as_i64().filter(|&n| n >= 0),
        serde_json::Value::String(s)
            if !s.is_empty() && s.len() <= 18 && s.bytes().all(|b| b.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// The token from `auth.token`, an `Authorization: Bearer` header, or a
/// `token` query parameter, in that order.
fn handshake_token<A: Adapter>(socket: &SocketRef<A>, auth: &serde_json::Value) -> Option<String> {
    if let Some(token) = auth
        .get("token")
        .and_then(|t| t.as_str())
        .filter(|t| !t.is_empty())
    {
        return Some(token.to_string());
    }
    let parts = socket.req_parts();
    if let Some(token) = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(auth::bearer_token)
    {
        return Some(token.to_string());
    }
    let query = parts.uri.query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, v)| k == "token" && !v.is_empty())
        .map(|(_, v)| v)
}

/// The connect middleware. Refuses a missing or bad token with
/// `unauthorized`; otherwise makes the socket ready before the client hears
/// it is connected.
pub async fn admit<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    TryData(auth): TryData<serde_json::Value>,
    State(state): State<AppState>,
    State(live): State<Arc<Live>>,
) -> Result<(), Refused> {
    let auth = auth.unwrap_or(serde_json::Value::Null);
    let token = handshake_token(&socket, &auth).ok_or(Refused::Unauthorized)?;
    // A database that is briefly away (a restart, a failover) is waited for:
    // a refused namespace connect is final for socket.io-client, which
    // reconnects by itself only when the transport fails.
    let mut waited = std::time::Duration::ZERO;
    let (user, chat_ids) = loop {
        let attempt = async {
            let user = auth::authenticate(&state, &token).await?;
            let chat_ids = chats::chat_ids(&state, user.id).await?;
            Ok::<_, AppError>((user, chat_ids))
        };
        match attempt.await {
            Ok(found) => break found,
            Err(AppError::Unauthorized(_)) => return Err(Refused::Unauthorized),
            Err(AppError::Unavailable(why)) if waited < STORE_WAIT => {
                tracing::debug!(why, "store unavailable during a socket connect: waiting");
                tokio::time::sleep(STORE_RETRY).await;
                waited += STORE_RETRY;
            }
            Err(AppError::Unavailable(why)) => {
                tracing::warn!(why, "store unavailable: socket connect refused");
                return Err(Refused::Unavailable);
            }
            Err(e) => {
                e.log_if_internal();
                return Err(Refused::Internal);
            }
        }
    };
    let user_id = user.id;
    // Counted in last, once nothing else can refuse the socket. With the
    // cluster's presence unreachable the socket still comes in, uncounted.
    let admission = match state
        .presence
        .connect(user_id, state.config.max_sockets_per_user)
        .await
    {
        Ok(Admission::Full) => return Err(Refused::TooManyConnections),
        Ok(admission) => admission,
        Err(e) => {
            tracing::warn!(error = %e, user_id, "presence unavailable: socket not counted");
            Admission::Another
        }
    };
    // The session's room (revocations), the user's (every chat event comes
    // through it), then the chats' (typing, presence; a chat joined after
    // the read above is joined through the user room, see the relay).
    socket.join(session_room(user.session_id));
    match handshake_since(&auth) {
        Some(since) => {
            // The rooms wait for the replay (see the connect handler).
            live.begin_replay(socket.id, user_id);
            socket.extensions.insert(Replay { since });
        }
        None => {
            socket.join(user_room(user_id));
            socket.join(chat_ids.iter().map(|&id| chat_room(id)).collect::<Vec<_>>());
        }
    }
    // Revoked between the check and the join: the revocation's kick may
    // have missed this socket.
    if state.sessions.is_revoked(user.session_id) {
        live.forget(socket.id);
        if let Err(e) = state.presence.disconnect(user_id).await {
            tracing::debug!(error = %e, "presence unavailable while refusing a revoked session");
        }
        return Err(Refused::Unauthorized);
    }
    socket.extensions.insert(user);
    handlers::register(&socket);
    socket.on_disconnect(leave::<A>);

    metrics::gauge!("chat_sockets_connected").increment(1.0);
    if admission == Admission::First {
        let rooms = chat_ids.iter().map(|&id| chat_room(id)).collect();
        announce_presence(&state, &io, user_id, true, rooms).await;
    }
    Ok(())
}

/// The connect handler proper, which runs once the client knows it is
/// connected: a socket that asked to catch up does (see the module docs).
pub async fn connected<A: Adapter>(
    socket: SocketRef<A>,
    State(state): State<AppState>,
    State(live): State<Arc<Live>>,
) {
    let (Some(Replay { since }), Some(user)) = (
        socket.extensions.get::<Replay>(),
        socket.extensions.get::<AuthUser>(),
    ) else {
        return;
    };
    replay(&socket, &state, &live, user.id, since).await;
}

#[derive(Serialize)]
struct CaughtUp {
    seq: i64,
}

#[derive(Serialize)]
struct SyncRequired {
    since: i64,
}

/// Sends the events after `since`, then `caught_up`, and joins the rooms;
/// or `sync_required` when there are too many or they are no longer kept.
async fn replay<A: Adapter>(socket: &SocketRef<A>, state: &AppState, live: &Live, user_id: i64, since: i64) {
    let page = state.store.events_for(user_id, since, REPLAY_MAX).await;
    // Read again: a chat joined since the middleware's read is in.
    let chat_ids = match chats::chat_ids(state, user_id).await {
        Ok(ids) => ids,
        Err(e) => {
            e.log_if_internal();
            Vec::new()
        }
    };
    let join = || {
        socket.join(user_room(user_id));
        socket.join(chat_ids.iter().map(|&id| chat_room(id)).collect::<Vec<_>>());
    };
    match page {
        Ok(page) if !page.has_more => {
            for event in &page.events {
                live::send(socket, &state.files, event, has_attachment(&event.data));
            }
            let through = page.latest_seq;
            live.finish_replay(socket, &state.files, through, true, join, || {
                if let Err(e) = socket.emit("caught_up", &CaughtUp { seq: through }) {
                    tracing::debug!(error = %e, "caught_up did not reach its socket");
                }
            });
            metrics::counter!("chat_events_replayed_total").increment(page.events.len() as u64);
        }
        other => {
            if let Err(e) = &other
                && !matches!(e, AppError::CursorExpired(_))
            {
                e.log_if_internal();
            }
            if let Err(e) = socket.emit("sync_required", &SyncRequired { since }) {
                tracing::debug!(error = %e, "sync_required did not reach its socket");
            }
            live.finish_replay(socket, &state.files, since, false, join, || {});
        }
    }
}

async fn leave<A: Adapter>(
    socket: SocketRef<A>,
    io: SocketIo<A>,
    State(state): State<AppState>,
    State(live): State<Arc<Live>>,
    Extension(user): Extension<AuthUser>,
) {
    live.forget(socket.id);
    metrics::gauge!("chat_sockets_connected").decrement(1.0);
    match state.presence.disconnect(user.id).await {
        Ok(true) => {
            // The user's chats as the store has them: the socket's rooms may
            // be fewer (one still replaying has joined none yet).
            let rooms = match chats::chat_ids(&state, user.id).await {
                Ok(ids) => ids.into_iter().map(chat_room).collect(),
                Err(e) => {
                    e.log_if_internal();
                    socket
                        .rooms()
                        .into_iter()
                        .filter(|r| r.starts_with("chat:"))
                        .map(|r| r.to_string())
                        .collect()
                }
            };
            announce_presence(&state, &io, user.id, false, rooms).await;
        }
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(error = %e, user_id = user.id, "presence unavailable: socket not counted out")
        }
    }
}

/// Tells the contacts of users a dead node took offline (the cluster's
/// presence found them): their chats come from the store, since their
/// sockets are gone with the node.
pub async fn announce_gone<A: Adapter>(state: &AppState, io: &SocketIo<A>, user_ids: Vec<i64>) {
    for user_id in user_ids {
        match chats::chat_ids(state, user_id).await {
            Ok(ids) => {
                let rooms = ids.into_iter().map(chat_room).collect();
                announce_presence(state, io, user_id, false, rooms).await;
            }
            Err(e) => e.log_if_internal(),
        }
    }
}

#[derive(Serialize)]
struct PresenceEvent {
    user_id: i64,
    online: bool,
    last_seen_at: Timestamp,
}

/// Stores `last_seen_at` and tells the users who share a chat with this
/// one (`chat_rooms`; not the user's own other sockets).
async fn announce_presence<A: Adapter>(
    state: &AppState,
    io: &SocketIo<A>,
    user_id: i64,
    online: bool,
    chat_rooms: Vec<String>,
) {
    let now = Timestamp::now();
    if let Err(e) = users::record_last_seen(state, user_id, now).await {
        e.log_if_internal();
    }
    if chat_rooms.is_empty() {
        return;
    }
    let event = PresenceEvent {
        user_id,
        online,
        last_seen_at: now,
    };
    // The namespace is gone once shutdown has closed the sockets.
    let Some(ns) = io.of("/") else { return };
    if let Err(e) = ns
        .to(chat_rooms)
        .except(user_room(user_id))
        .emit("presence", &event)
        .await
    {
        tracing::debug!(error = %e, "presence broadcast incomplete");
    }
}
