//! Search, edits and reactions (v2), closed loop: `clients` keep-alive
//! connections, each with its own account, as fast as answers come.
//! - `search`: `GET /search?q=…` with one query (the searcher's token).
//! - `edit`: each client sends `own` messages first (outside the measured
//!   time), then edits them round-robin to alternating texts.
//! - `react`: likewise, toggling one reaction on its messages (PUT, then
//!   DELETE).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;
use crate::stats::{self, CpuMeter};

pub struct Options {
    pub addr: String,
    pub kind: String,
    /// search: the query and the token of the account searching.
    pub query: Option<String>,
    pub token: Option<String>,
    pub clients: usize,
    /// edit, react: messages each client sends first.
    pub own: usize,
    pub seconds: f64,
    pub server_pid: Option<String>,
    /// The label in the result line (e.g. "common word").
    pub label: Option<String>,
}

/// Percent-encodes a query string value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What one client does in a loop: its token and the requests it cycles.
struct Plan {
    token: String,
    requests: Vec<(&'static str, String, Option<String>)>,
}

async fn plan(o: &Options, c: usize) -> std::io::Result<Plan> {
    if o.kind == "search" {
        let q = o.query.clone().unwrap_or_else(|| "hello".into());
        let token = o
            .token
            .clone()
            .ok_or_else(|| std::io::Error::other("search needs --token"))?;
        return Ok(Plan {
            token,
            requests: vec![("GET", format!("/search?q={}", encode(&q)), None)],
        });
    }
    let (id, token) = http::account(&o.addr, &format!("changes{c}")).await?;
    let mut client = http::Http::connect(&o.addr).await?;
    let mut requests = Vec::new();
    for n in 0..o.own {
        let body = json!({ "to": id, "text": format!("message {n} to edit and react to") }).to_string();
        let sent = client
            .request("POST", "/chats/send-message", Some(&token), Some(&body))
            .await?;
        let message = sent.json()["message"]["id"]
            .as_i64()
            .ok_or_else(|| std::io::Error::other(format!("send: {}", sent.status)))?;
        if o.kind == "edit" {
            for text in ["edited once", "edited twice"] {
                let body = json!({ "text": format!("{text} {n}") }).to_string();
                requests.push(("PATCH", format!("/messages/{message}"), Some(body)));
            }
        } else {
            let path = format!("/messages/{message}/reactions/%F0%9F%91%8D");
            requests.push(("PUT", path.clone(), None));
            requests.push(("DELETE", path, None));
        }
    }
    Ok(Plan { token, requests })
}

pub async fn run(o: Options) -> Value {
    let mut plans = Vec::with_capacity(o.clients);
    for c in 0..o.clients {
        match plan(&o, c).await {
            Ok(p) => plans.push(p),
            Err(e) => return json!({ "scenario": o.kind, "error": e.to_string() }),
        }
    }
    let latencies = Rc::new(RefCell::new(stats::histogram()));
    let counts = Rc::new(RefCell::new((0u64, 0u64))); // (ok, errors)
    let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
    let own = CpuMeter::start("self");
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for p in plans {
        let (addr, latencies, counts) = (o.addr.clone(), latencies.clone(), counts.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(mut client) = http::Http::connect(&addr).await else {
                return;
            };
            let mut i = 0;
            while Instant::now() < end {
                let (method, path, body) = &p.requests[i % p.requests.len()];
                i += 1;
                let t = Instant::now();
                match client
                    .request(method, path, Some(&p.token), body.as_deref())
                    .await
                {
                    Ok(r) if r.status == 200 => {
                        counts.borrow_mut().0 += 1;
                        stats::record(&mut latencies.borrow_mut(), t.elapsed().as_micros() as u64);
                    }
                    Ok(_) => counts.borrow_mut().1 += 1,
                    Err(_) => {
                        counts.borrow_mut().1 += 1;
                        match http::Http::connect(&addr).await {
                            Ok(fresh) => client = fresh,
                            Err(_) => return,
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
    let (ok, errors) = *counts.borrow();
    json!({
        "scenario": o.kind,
        "label": o.label,
        "query": o.query,
        "clients": o.clients,
        "requests": ok,
        "errors": errors,
        "per_second": (ok as f64 / elapsed).round(),
        "latency": stats::summary(&latencies.borrow()),
        "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
        "generator": stats::own_cpu(&own),
    })
}
