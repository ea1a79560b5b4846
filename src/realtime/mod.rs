//! Real time over Socket.IO v4: the connect middleware and event handlers
//! (doors onto the same domain operations as REST), presence, and the
//! outbox + relay through which committed changes reach sockets in commit
//! order.

mod connect;
mod handlers;
mod outbox;
mod payload;
mod presence;
mod relay;

pub use connect::{chat_room, user_room};
pub use outbox::{Event, Outbox};
pub use presence::Presence;

use socketioxide::SocketIo;
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use tokio::sync::mpsc;

use crate::app::AppState;

/// Packets a socket may have queued before emits to it fail: room for a
/// burst into a busy group without dropping anything.
const SOCKET_BUFFER: usize = 4096;

/// Builds the Socket.IO layer (path `/socket.io/`, namespace `/`, both
/// transports) and starts the relay that drains `events` into it.
pub fn start(state: AppState, events: mpsc::UnboundedReceiver<Event>) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .with_state(state)
        .max_buffer_size(SOCKET_BUFFER)
        .build_layer();
    io.ns("/", connect::connected.with(connect::admit));
    tokio::spawn(relay::run(io.clone(), events));
    (layer, io)
}
