//! Real time over Socket.IO v4: the connect middleware and event handlers
//! (doors onto the same domain operations as REST), and the relay through
//! which committed changes (`events`) reach sockets in commit order.

mod connect;
mod handlers;
mod payload;
mod relay;

pub use connect::{chat_room, user_room};

use std::sync::Arc;

use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};
use tokio::sync::mpsc;

use crate::events::Event;
use crate::state::AppState;

/// How far past the upload limit a socket payload may go and still be
/// answered (with `payload_too_large`) instead of refused by the protocol.
const FILE_MARGIN: u64 = 1024 * 1024;

/// Packets a socket may have queued before emits to it fail: room for a
/// burst into a busy group without dropping anything.
const SOCKET_BUFFER: usize = 4096;

/// The headers a Socket.IO request needs (the WebSocket handshake, the
/// token, polling bodies, CORS); the rest would only take memory for the
/// socket's lifetime.
const KEPT_HEADERS: [&str; 12] = [
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
    "authorization",
    "content-type",
    "content-length",
    "origin",
    "x-forwarded-for",
];

/// Gives a Socket.IO request headers and a URI of its own.
///
/// hyper parses a request's headers and URI as slices of its connection's
/// read buffer (8–16 KiB), and socketioxide keeps each socket's request
/// parts for the socket's whole life: so every idle socket would pin a whole
/// read buffer. Copying the few hundred bytes that matter lets it go.
pub async fn own_request_parts(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if request.uri().path().starts_with("/socket.io/") {
        let headers = request
            .headers()
            .iter()
            .filter(|(name, _)| KEPT_HEADERS.contains(&name.as_str()))
            .filter_map(|(name, value)| {
                let value = axum::http::HeaderValue::from_bytes(value.as_bytes()).ok()?;
                Some((
                    axum::http::HeaderName::from_bytes(name.as_str().as_bytes()).ok()?,
                    value,
                ))
            })
            .collect();
        *request.headers_mut() = headers;
        if let Ok(uri) = axum::http::Uri::try_from(request.uri().to_string()) {
            *request.uri_mut() = uri;
        }
        // Extensions may hold more of the same (axum's OriginalUri does):
        // keep only the upgrade handle and the peer address.
        let extensions = request.extensions_mut();
        let upgrade = extensions.remove::<hyper::upgrade::OnUpgrade>();
        let peer = extensions.remove::<axum::extract::ConnectInfo<crate::protection::PeerAddr>>();
        extensions.clear();
        if let Some(upgrade) = upgrade {
            extensions.insert(upgrade);
        }
        if let Some(peer) = peer {
            extensions.insert(peer);
        }
    }
    next.run(request).await
}

/// Builds the Socket.IO layer (path `/socket.io/`, namespace `/`, both
/// transports) and starts the relay that drains `events` into it.
pub fn start(state: AppState, events: mpsc::UnboundedReceiver<Event>) -> (SocketIoLayer, SocketIo) {
    // A send_file payload carries the whole file: let through a little more
    // than the upload limit, so that a file just over it gets a clean
    // `payload_too_large` ack rather than a closed connection.
    let max_file = state.config.max_upload_bytes.saturating_add(FILE_MARGIN);
    let max_file_usize = usize::try_from(max_file).unwrap_or(usize::MAX);
    let files = Arc::clone(&state.files);
    let (ping_interval, ping_timeout) = (state.config.ping_interval, state.config.ping_timeout);
    let (layer, io) = SocketIo::builder()
        .with_state(state)
        .max_buffer_size(SOCKET_BUFFER)
        .ping_interval(ping_interval)
        .ping_timeout(ping_timeout)
        // Reads come in small frames; a 256-byte read chunk (grown per frame
        // as needed) keeps idle sockets small. 4 KiB was the default.
        .ws_read_buffer_size(256)
        .with_parser(ParserConfig::common().max_incoming_binary_buf_size(max_file_usize))
        .ws_max_message_size(max_file_usize.saturating_add(64 * 1024))
        // Long-polling carries binary as base64: a third larger.
        .max_payload(max_file.saturating_mul(4) / 3 + 64 * 1024)
        .build_layer();
    io.ns("/", connect::connected.with(connect::admit));
    tokio::spawn(relay::run(io.clone(), files, events));
    (layer, io)
}
