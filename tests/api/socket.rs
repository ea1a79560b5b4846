//! A small Socket.IO v5 / Engine.IO v4 client over WebSocket, enough to
//! drive the server like a real client: connect with a token, emit with and
//! without acks, send binary attachments, receive events.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::helpers::{Account, TestApp, WAIT};

/// How the token travels in the handshake.
pub enum Auth<'a> {
    None,
    Payload(&'a str),
    Header(&'a str),
    Query(&'a str),
    /// The token and `since` (v2 catch-up) in the auth payload.
    Since(&'a str, i64),
}

enum Incoming {
    Event(String, Value),
    Ack(u64, Value),
    Closed,
}

pub struct SocketClient {
    out: mpsc::UnboundedSender<Frame>,
    inbox: mpsc::UnboundedReceiver<Incoming>,
    events: VecDeque<(String, Value)>,
    acks: Vec<(u64, Value)>,
    next_ack: u64,
    pub closed: bool,
    /// Cleared to play a client whose network vanished: pings go unanswered.
    answers_pings: Arc<AtomicBool>,
}

impl SocketClient {
    /// Connects to namespace `/`; `Err` carries the `connect_error` message.
    pub async fn connect(app: &TestApp, auth: Auth<'_>) -> Result<SocketClient, String> {
        SocketClient::connect_to(app.addr, auth).await
    }

    pub async fn connect_to(addr: std::net::SocketAddr, auth: Auth<'_>) -> Result<SocketClient, String> {
        let mut url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        if let Auth::Query(token) = auth {
            url.push_str(&format!("&token={token}"));
        }
        let mut request = url.into_client_request().expect("ws request");
        if let Auth::Header(token) = auth {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("ws connect in time")
            .expect("ws connect");
        let (mut sink, mut stream) = ws.split();

        // Engine.IO open packet.
        let open = next_text(&mut stream).await;
        assert!(open.starts_with('0'), "engine open: {open}");
        let connect = match auth {
            Auth::Payload(token) => format!("40{}", json!({ "token": token })),
            Auth::Since(token, since) => format!("40{}", json!({ "token": token, "since": since })),
            _ => "40".to_string(),
        };
        sink.send(Frame::text(connect)).await.expect("send connect");
        // The server joins the socket to its rooms before it sends the
        // connect packet, so an event can come first: like socket.io-client
        // (its receive buffer), keep it for after the connect.
        let mut early = VecDeque::new();
        let mut answer = next_text(&mut stream).await;
        while answer == "2" || answer.starts_with("42") {
            if answer == "2" {
                sink.send(Frame::text("3")).await.expect("send pong");
            } else if let Some(Incoming::Event(name, data)) = parse_packet(&answer) {
                early.push_back((name, data));
            }
            answer = next_text(&mut stream).await;
        }
        if let Some(err) = answer.strip_prefix("44") {
            let err: Value = serde_json::from_str(err).expect("connect_error body");
            return Err(err["message"].as_str().unwrap_or_default().to_string());
        }
        assert!(answer.starts_with("40"), "socket.io connect: {answer}");

        let (out, mut outgoing) = mpsc::unbounded_channel::<Frame>();
        let (deliver, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(frame) = outgoing.recv().await {
                let close = matches!(frame, Frame::Close(_));
                if sink.send(frame).await.is_err() || close {
                    break;
                }
            }
        });
        let pong = out.clone();
        let answers_pings = Arc::new(AtomicBool::new(true));
        let answering = Arc::clone(&answers_pings);
        tokio::spawn(async move {
            while let Some(Ok(frame)) = stream.next().await {
                let Frame::Text(text) = frame else { continue };
                let text = text.as_str();
                if text == "2" {
                    if answering.load(Ordering::Relaxed) {
                        let _ = pong.send(Frame::text("3"));
                    }
                } else if let Some(incoming) = parse_packet(text) {
                    let _ = deliver.send(incoming);
                } else if text.starts_with("41") || text == "1" {
                    break;
                }
            }
            let _ = deliver.send(Incoming::Closed);
        });
        Ok(SocketClient {
            out,
            inbox,
            events: early,
            acks: Vec::new(),
            next_ack: 1,
            closed: false,
            answers_pings,
        })
    }

    /// Connects `account` with its token in the auth payload.
    pub async fn of(app: &TestApp, account: &Account) -> SocketClient {
        SocketClient::connect(app, Auth::Payload(&account.token))
            .await
            .expect("socket connects")
    }

    /// From now on the client stays connected but answers no ping, like a
    /// phone that lost its network without closing anything.
    pub fn stop_answering_pings(&self) {
        self.answers_pings.store(false, Ordering::Relaxed);
    }

    fn send_text(&self, text: String) {
        self.out.send(Frame::text(text)).expect("socket writer alive");
    }

    /// Waits up to `within` for `event`; `None` if it did not come (for
    /// asserting that something is not received, after a barrier).
    pub async fn maybe(&mut self, event: &str, within: std::time::Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(pos) = self.events.iter().position(|(n, _)| n == event) {
                return self.events.remove(pos).map(|(_, d)| d);
            }
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Incoming::Event(name, data))) => self.events.push_back((name, data)),
                Ok(Some(Incoming::Ack(id, data))) => self.acks.push((id, data)),
                Ok(Some(Incoming::Closed)) | Ok(None) | Err(_) => return None,
            }
        }
    }

    pub fn emit(&self, event: &str, data: Value) {
        self.send_text(format!("42{}", json!([event, data])));
    }

    /// Emits and waits for the ack's first argument.
    pub async fn emit_ack(&mut self, event: &str, data: Value) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_text(format!("42{id}{}", json!([event, data])));
        self.wait_ack(id).await
    }

    /// Emits with ack, the raw argument list given as JSON text (may be
    /// anything, even malformed).
    pub async fn emit_raw_ack(&mut self, args_json: &str) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_text(format!("42{id}{args_json}"));
        self.wait_ack(id).await
    }

    /// Emits an event whose payload holds `bytes` as a binary attachment in
    /// `payload[field]`, and waits for the ack.
    pub async fn emit_binary_ack(
        &mut self,
        event: &str,
        mut payload: Value,
        field: &str,
        bytes: Vec<u8>,
    ) -> Value {
        let id = self.next_ack;
        self.next_ack += 1;
        payload[field] = json!({ "_placeholder": true, "num": 0 });
        self.send_text(format!("451-{id}{}", json!([event, payload])));
        self.out.send(Frame::binary(bytes)).expect("socket writer alive");
        self.wait_ack(id).await
    }

    /// Like [`SocketClient::emit_binary_ack`] (or a plain emit when `bytes`
    /// is `None`), but a closed connection is an `Err`, not a panic: for
    /// tests that kill the server.
    pub async fn try_emit_ack(
        &mut self,
        event: &str,
        mut payload: Value,
        binary: Option<(&str, Vec<u8>)>,
    ) -> Result<Value, String> {
        let id = self.next_ack;
        self.next_ack += 1;
        let sent = match binary {
            Some((field, bytes)) => {
                payload[field] = json!({ "_placeholder": true, "num": 0 });
                self.out
                    .send(Frame::text(format!("451-{id}{}", json!([event, payload]))))
                    .and_then(|()| self.out.send(Frame::binary(bytes)))
            }
            None => self
                .out
                .send(Frame::text(format!("42{id}{}", json!([event, payload])))),
        };
        sent.map_err(|_| "writer gone".to_string())?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.acks.iter().position(|(i, _)| *i == id) {
                return Ok(self.acks.remove(pos).1);
            }
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Incoming::Event(name, data))) => self.events.push_back((name, data)),
                Ok(Some(Incoming::Ack(i, data))) => self.acks.push((i, data)),
                Ok(Some(Incoming::Closed)) | Ok(None) => {
                    self.closed = true;
                    return Err("closed".into());
                }
                Err(_) => return Err("timed out".into()),
            }
        }
    }

    async fn wait_ack(&mut self, id: u64) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.acks.iter().position(|(i, _)| *i == id) {
                return self.acks.remove(pos).1;
            }
            self.pump(deadline, &format!("ack {id}")).await;
        }
    }

    /// Receives one more packet into the buffers, or fails at the deadline.
    async fn pump(&mut self, deadline: tokio::time::Instant, waiting_for: &str) {
        match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
            Ok(Some(Incoming::Event(name, data))) => self.events.push_back((name, data)),
            Ok(Some(Incoming::Ack(id, data))) => self.acks.push((id, data)),
            Ok(Some(Incoming::Closed)) | Ok(None) => {
                self.closed = true;
                panic!("socket closed while waiting for {waiting_for}");
            }
            Err(_) => panic!(
                "timed out waiting for {waiting_for}; buffered events: {:?}",
                self.events
            ),
        }
    }

    /// The next `event` (earlier events of other names stay buffered).
    pub async fn expect(&mut self, event: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.events.iter().position(|(n, _)| n == event) {
                return self.events.remove(pos).map(|(_, d)| d).unwrap_or_default();
            }
            self.pump(deadline, event).await;
        }
    }

    /// Waits until some received event (of any name) satisfies `pred`;
    /// everything stays buffered.
    pub async fn until(&mut self, pred: impl Fn(&str, &Value) -> bool) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.events.iter().any(|(n, d)| pred(n, d)) {
            self.pump(deadline, "an event matching the test's predicate")
                .await;
        }
    }

    /// The next `event` whose payload satisfies `pred`.
    pub async fn expect_where(&mut self, event: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(pos) = self.events.iter().position(|(n, d)| n == event && pred(d)) {
                return self.events.remove(pos).map(|(_, d)| d).unwrap_or_default();
            }
            self.pump(deadline, event).await;
        }
    }

    /// Events of this name received so far and not yet taken, leaving out
    /// the markers of [`SocketClient::settle`] (of this or another device).
    pub fn buffered(&self, event: &str) -> Vec<Value> {
        let is_marker = |d: &Value| d["text"].as_str().is_some_and(|t| t.starts_with(BARRIER));
        self.events
            .iter()
            .filter(|(n, d)| n == event && !is_marker(d))
            .map(|(_, d)| d.clone())
            .collect()
    }

    /// Every event received and not yet taken, in order (markers included).
    pub fn take_all(&mut self) -> Vec<(String, Value)> {
        self.events.drain(..).collect()
    }

    /// Waits until every event sent to this socket before now has arrived:
    /// the server emits in order, so once a fresh message to `account`'s
    /// own notes arrives, anything sent earlier would have too.
    pub async fn settle(&mut self, app: &TestApp, account: &Account) {
        let marker = format!("{BARRIER}{}", rand_suffix());
        app.send(account, json!({ "to": account.id }), &marker).await;
        self.expect_where("receive_message", |m| m["text"] == marker.as_str())
            .await;
    }

    /// Waits up to `within` for the server to close the socket (events that
    /// arrive meanwhile are kept); whether it did.
    pub async fn closed_within(&mut self, within: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        while !self.closed {
            match tokio::time::timeout_at(deadline, self.inbox.recv()).await {
                Ok(Some(Incoming::Event(name, data))) => self.events.push_back((name, data)),
                Ok(Some(Incoming::Ack(id, data))) => self.acks.push((id, data)),
                Ok(Some(Incoming::Closed)) | Ok(None) => self.closed = true,
                Err(_) => return false,
            }
        }
        true
    }

    pub async fn close(self) {
        let _ = self.out.send(Frame::Close(None));
    }
}

/// An event (`42`) or an ack (`43`) packet; `None` for anything else.
fn parse_packet(text: &str) -> Option<Incoming> {
    if let Some(rest) = text.strip_prefix("42") {
        let args: Value = serde_json::from_str(rest).expect("event JSON");
        let name = args[0].as_str().unwrap_or_default().to_string();
        Some(Incoming::Event(name, args[1].clone()))
    } else if let Some(rest) = text.strip_prefix("43") {
        let split = rest.find('[').expect("ack args");
        let id: u64 = rest[..split].parse().expect("ack id");
        let args: Value = serde_json::from_str(&rest[split..]).expect("ack JSON");
        Some(Incoming::Ack(id, args[0].clone()))
    } else {
        None
    }
}

async fn next_text<S>(stream: &mut S) -> String
where
    S: futures::Stream<Item = Result<Frame, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        let frame = tokio::time::timeout(WAIT, stream.next())
            .await
            .expect("frame in time")
            .expect("stream open")
            .expect("frame");
        if let Frame::Text(text) = frame {
            return text.as_str().to_string();
        }
    }
}

const BARRIER: &str = "barrier-";

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
