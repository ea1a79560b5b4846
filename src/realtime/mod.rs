//! Real time over Socket.IO v4: the connect middleware and event handlers
//! (doors onto the same domain operations as REST), the relay through
//! which committed changes (`events`) reach sockets in commit order, live
//! delivery with the replay on connect (`live`), and the other nodes'
//! events (`fanout`).

mod connect;
mod fanout;
mod handlers;
mod live;
mod payload;
mod relay;

pub use connect::{chat_room, user_room};

use std::sync::Arc;
use std::time::Duration;

use socketioxide::adapter::{Adapter, Emitter, LocalAdapter};
use socketioxide::handler::ConnectHandler;
use socketioxide::{ParserConfig, SocketIo, SocketIoBuilder};
use socketioxide_redis::{CustomRedisAdapter, RedisAdapterConfig, RedisAdapterCtr};
use tokio::sync::mpsc;

use crate::blobs::BoxFuture;
use crate::cluster::{Cluster, HealingDriver};

use crate::events::Event;
use crate::state::AppState;
use fanout::Fanout;
use live::Live;

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

/// Closes every socket (at shutdown).
pub type Closer = Box<dyn FnOnce() -> BoxFuture<'static, ()> + Send>;

/// Puts Socket.IO (path `/socket.io/`, namespace `/`, both transports) on
/// `router`, with the Redis adapter when the node is part of a cluster,
/// and starts the relay that drains `events` into it (and, in a cluster,
/// the presence upkeep).
pub async fn attach(
    router: axum::Router,
    state: AppState,
    events: mpsc::UnboundedReceiver<Event>,
    cluster: Option<&Cluster>,
) -> std::io::Result<(axum::Router, Closer)> {
    let live = Arc::new(Live::default());
    let Some(cluster) = cluster else {
        let (layer, io) = configure(SocketIo::builder(), &state, &live).build_layer();
        io.ns(
            "/",
            connect::connected::<LocalAdapter>.with(connect::admit::<LocalAdapter>),
        );
        return Ok((router.layer(layer), run(io, state, live, events, None)));
    };
    let driver = HealingDriver::connect(cluster.client.clone())
        .await
        .map_err(|e| std::io::Error::other(format!("--redis-url (pub/sub): {e}")))?;
    let adapter = RedisAdapterCtr::new_with_driver(
        driver.clone(),
        RedisAdapterConfig::new().with_prefix(format!("{}-socket.io", cluster.prefix)),
    );
    type Clustered = CustomRedisAdapter<Emitter, HealingDriver>;
    let (layer, io) = configure(SocketIo::builder(), &state, &live)
        .with_adapter::<Clustered>(adapter)
        .build_layer();
    io.ns(
        "/",
        connect::connected::<Clustered>.with(connect::admit::<Clustered>),
    )
    .await
    .map_err(|e| std::io::Error::other(format!("--redis-url (adapter): {e}")))?;
    let upkeep = tokio::spawn(presence_upkeep(io.clone(), state.clone(), cluster.heartbeat));
    let (fanout, delivering) = Fanout::start(
        io.clone(),
        Arc::clone(&state.files),
        Arc::clone(&live),
        driver.clone(),
        &cluster.prefix,
        &cluster.node,
    )
    .await?;
    let from_others = state.clone();
    let revocations =
        crate::cluster::revocations::listen(driver, &cluster.prefix, &cluster.node, move |ids| {
            crate::auth::apply_revocations(&from_others, &ids)
        })
        .await?;
    let close = run(io, state, live, events, Some(fanout));
    Ok((
        router.layer(layer),
        Box::new(move || {
            upkeep.abort();
            delivering.abort();
            revocations.abort();
            close()
        }),
    ))
}

/// Every setting but the adapter.
fn configure<A: Adapter>(
    builder: SocketIoBuilder<A>,
    state: &AppState,
    live: &Arc<Live>,
) -> SocketIoBuilder<A> {
    // A send_file payload carries the whole file: let through a little more
    // than the upload limit, so that a file just over it gets a clean
    // `payload_too_large` ack rather than a closed connection.
    let max_file = state.config.max_upload_bytes.saturating_add(FILE_MARGIN);
    let max_file_usize = usize::try_from(max_file).unwrap_or(usize::MAX);
    builder
        .with_state(state.clone())
        .with_state(Arc::clone(live))
        .max_buffer_size(SOCKET_BUFFER)
        .ping_interval(state.config.ping_interval)
        .ping_timeout(state.config.ping_timeout)
        // Reads come in small frames; a 256-byte read chunk (grown per frame
        // as needed) keeps idle sockets small. 4 KiB was the default.
        .ws_read_buffer_size(256)
        .with_parser(ParserConfig::common().max_incoming_binary_buf_size(max_file_usize))
        .ws_max_message_size(max_file_usize.saturating_add(64 * 1024))
        // Long-polling carries binary as base64: a third larger.
        .max_payload(max_file.saturating_mul(4) / 3 + 64 * 1024)
}

/// Starts the relay; returns what closes the sockets.
fn run<A: Adapter>(
    io: SocketIo<A>,
    state: AppState,
    live: Arc<Live>,
    events: mpsc::UnboundedReceiver<Event>,
    fanout: Option<Fanout>,
) -> Closer {
    tokio::spawn(relay::run(
        io.clone(),
        Arc::clone(&state.files),
        live,
        events,
        fanout,
    ));
    Box::new(move || {
        Box::pin(async move {
            state.presence.leave_cluster().await;
            io.close().await;
        })
    })
}

/// Each heartbeat: keeps this node counted in the cluster's presence, and
/// tells the contacts of users whose last sockets were on a node that died.
async fn presence_upkeep<A: Adapter>(io: SocketIo<A>, state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match state.presence.upkeep().await {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(users = gone.len(), "users offline: their node stopped answering");
                connect::announce_gone(&state, &io, gone).await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "presence upkeep failed"),
        }
    }
}
