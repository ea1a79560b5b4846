//! Catch-up (v2), closed loop with `clients` at once:
//! - `replay`: connect with `auth: {token, since}`, read until `caught_up`
//!   (every chat event before it is a replayed one), close, again: replays
//!   and replayed events per second, connect-to-`caught_up` latency.
//! - `pages`: `GET /events?since=&limit=500` over keep-alive connections:
//!   pages and events per second.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::sio;
use crate::stats::{self, CpuMeter};

pub struct Options {
    pub addr: String,
    pub kind: String,
    pub token: String,
    pub since: i64,
    pub clients: usize,
    pub seconds: f64,
    pub server_pid: Option<String>,
}

/// One replay: events before `caught_up` (`None`: it did not come).
async fn replay_once(addr: &str, auth: &str) -> std::io::Result<Option<u64>> {
    let (mut sink, mut stream) = sio::connect_with(addr, auth).await?;
    let mut events = 0;
    loop {
        let text = sio::next_text(&mut stream).await?;
        if text == "2" {
            sink.send(Message::text("3"))
                .await
                .map_err(std::io::Error::other)?;
        } else if text.starts_with("42[\"caught_up\"") {
            break;
        } else if text.starts_with("42[\"sync_required\"") {
            let _ = sink.close().await;
            return Ok(None);
        } else if text.starts_with("42") {
            events += 1;
        }
    }
    let _ = sink.close().await;
    Ok(Some(events))
}

pub async fn run(o: Options) -> Value {
    let latencies = Rc::new(RefCell::new(stats::histogram()));
    // (operations, events, errors)
    let counts = Rc::new(RefCell::new((0u64, 0u64, 0u64)));
    let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
    let own = CpuMeter::start("self");
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for _ in 0..o.clients {
        let (addr, latencies, counts) = (o.addr.clone(), latencies.clone(), counts.clone());
        let (kind, token, since) = (o.kind.clone(), o.token.clone(), o.since);
        tasks.push(tokio::task::spawn_local(async move {
            let auth = json!({ "token": token, "since": since }).to_string();
            let path = format!("/events?since={since}&limit=500");
            let mut client = if kind == "pages" {
                match http::Http::connect(&addr).await {
                    Ok(c) => Some(c),
                    Err(_) => return,
                }
            } else {
                None
            };
            while Instant::now() < end {
                let t = Instant::now();
                let outcome = match &mut client {
                    Some(client) => match client.request("GET", &path, Some(&token), None).await {
                        Ok(r) if r.status == 200 => {
                            Ok(Some(r.json()["events"].as_array().map_or(0, Vec::len) as u64))
                        }
                        Ok(_) => Ok(None),
                        Err(e) => Err(e),
                    },
                    None => replay_once(&addr, &auth).await,
                };
                match outcome {
                    Ok(Some(events)) => {
                        let mut c = counts.borrow_mut();
                        c.0 += 1;
                        c.1 += events;
                        stats::record(&mut latencies.borrow_mut(), t.elapsed().as_micros() as u64);
                    }
                    Ok(None) => counts.borrow_mut().2 += 1,
                    Err(_) => {
                        counts.borrow_mut().2 += 1;
                        if let Some(c) = &mut client {
                            match http::Http::connect(&addr).await {
                                Ok(fresh) => *c = fresh,
                                Err(_) => return,
                            }
                        }
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (operations, events, errors) = *counts.borrow();
    json!({
        "scenario": format!("catchup-{}", o.kind),
        "clients": o.clients,
        "since": o.since,
        "operations": operations,
        "errors": errors,
        "per_second": (operations as f64 / elapsed).round(),
        "events_per_second": (events as f64 / elapsed).round(),
        "events_each": events.checked_div(operations).unwrap_or(0),
        "latency": stats::summary(&latencies.borrow()),
        "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
        "generator": stats::own_cpu(&own),
    })
}
