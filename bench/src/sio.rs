//! Engine.IO 4 / Socket.IO 5 over WebSocket, by hand: the handshake, then
//! raw frames. A full client per socket would be too heavy at 19k sockets;
//! this keeps one small task per socket and parses only what it needs.

use std::io;

use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Sink = SplitSink<Ws, Message>;
pub type Stream = SplitStream<Ws>;

/// Connects to namespace `/` with `token` in the auth payload.
pub async fn connect(addr: &str, token: &str) -> io::Result<(Sink, Stream)> {
    connect_with(addr, &format!("{{\"token\":\"{token}\"}}")).await
}

/// Connects to namespace `/` with this auth payload (JSON).
pub async fn connect_with(addr: &str, auth: &str) -> io::Result<(Sink, Stream)> {
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true)
        .await
        .map_err(io::Error::other)?;
    let (mut sink, mut stream) = ws.split();
    let open = next_text(&mut stream).await?;
    if !open.starts_with('0') {
        return Err(io::Error::other(format!("engine open: {open}")));
    }
    let connect = format!("40{auth}");
    sink.send(Message::text(connect))
        .await
        .map_err(io::Error::other)?;
    loop {
        let answer = next_text(&mut stream).await?;
        if answer == "2" {
            sink.send(Message::text("3")).await.map_err(io::Error::other)?;
        } else if answer.starts_with("40") {
            return Ok((sink, stream));
        } else {
            return Err(io::Error::other(format!("socket.io connect refused: {answer}")));
        }
    }
}

/// The `i`-th of a comma-separated list of server addresses, round robin:
/// with several nodes, clients are spread over them.
pub fn node(addrs: &str, i: usize) -> &str {
    let nodes: Vec<&str> = addrs.split(',').filter(|a| !a.is_empty()).collect();
    nodes.get(i % nodes.len().max(1)).copied().unwrap_or(addrs)
}

pub async fn next_text(stream: &mut Stream) -> io::Result<String> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_string()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(io::Error::other(e)),
            None => return Err(io::Error::other("closed during handshake")),
        }
    }
}

/// What one incoming frame is, as far as the scenarios care.
pub enum Frame<'a> {
    /// An Engine.IO ping: answer "3".
    Ping,
    /// An ack: its id and the raw JSON after it.
    Ack(u64, &'a str),
    /// An event: its name and the raw JSON of the whole packet.
    Event(&'a str, &'a str),
    Other,
}

pub fn classify(text: &str) -> Frame<'_> {
    if text == "2" {
        return Frame::Ping;
    }
    if let Some(rest) = text.strip_prefix("43") {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if let Ok(id) = rest[..digits].parse() {
            return Frame::Ack(id, &rest[digits..]);
        }
    }
    if let Some(rest) = text.strip_prefix("42[\"")
        && let Some(end) = rest.find('"')
    {
        return Frame::Event(&rest[..end], rest);
    }
    Frame::Other
}

/// The number after `marker` in `text` (e.g. `"b:"` in `…"text":"b:123:7"…`).
pub fn number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}

/// The number after the first `:` that follows `marker`.
pub fn second_number_after(text: &str, marker: &str) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let colon = text[start..].find(':')? + start + 1;
    let digits = text[colon..].bytes().take_while(u8::is_ascii_digit).count();
    text[colon..colon + digits].parse().ok()
}
