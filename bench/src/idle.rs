//! Idle sockets: connect `sockets` authenticated Socket.IO connections
//! (spread over `users` accounts), keep them alive, and read the server's
//! resident memory before and after.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::sio::{self, Frame};
use crate::stats;

pub struct Options {
    pub addr: String,
    pub sockets: usize,
    pub users: usize,
    pub parallel: usize,
    pub server_pid: String,
    pub hold_seconds: f64,
}

pub async fn run(o: Options) -> Value {
    let users = http::accounts(&o.addr, "idle", o.users, 8)
        .await
        .expect("accounts");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = stats::rss_kib(&o.server_pid).unwrap_or(0);
    let started = Instant::now();
    let mut connected = 0usize;
    let mut failed = 0usize;
    let mut pending = futures::stream::FuturesUnordered::new();
    let mut next = 0usize;
    while connected + failed < o.sockets {
        while pending.len() < o.parallel && next < o.sockets {
            let token = users[next % users.len()].1.clone();
            let addr = o.addr.clone();
            pending.push(async move { sio::connect(&addr, &token).await });
            next += 1;
        }
        match pending.next().await {
            Some(Ok((mut sink, mut stream))) => {
                connected += 1;
                tokio::task::spawn_local(async move {
                    while let Some(Ok(Message::Text(text))) = stream.next().await {
                        if let Frame::Ping = sio::classify(text.as_str()) {
                            let _ = sink.send(Message::text("3")).await;
                        }
                    }
                });
            }
            Some(Err(e)) => {
                failed += 1;
                if failed <= 3 {
                    eprintln!("idle: connect failed: {e}");
                }
            }
            None => break,
        }
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(o.hold_seconds)).await;
    let rss_after = stats::rss_kib(&o.server_pid).unwrap_or(0);
    let per_socket = rss_after.saturating_sub(rss_before) as f64 * 1024.0 / connected.max(1) as f64;
    json!({
        "scenario": "idle",
        "sockets": connected,
        "failed": failed,
        "users": o.users,
        "connects_per_second": (connected as f64 / connect_seconds).round(),
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "sockets_target": o.sockets,
        "bytes_per_socket": per_socket.round(),
        "kb_per_socket": (per_socket / 1024.0 * 10.0).round() / 10.0,
    })
}
