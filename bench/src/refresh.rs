//! Refresh: `clients` keep-alive connections each spend their own chain of
//! refresh tokens (v2 sessions) as fast as answers come (closed loop): each
//! answer's refresh token is the next request's. Accounts are made first
//! (register, or login when they exist), outside the measured time.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;
use crate::stats::{self, CpuMeter};

pub struct Options {
    pub addr: String,
    pub clients: usize,
    pub seconds: f64,
    pub server_pid: Option<String>,
}

/// A session's refresh token for `username`.
async fn first_token(addr: &str, username: &str) -> std::io::Result<String> {
    let mut client = http::Http::connect(addr).await?;
    let body = json!({ "username": username, "password": "benchmark password" }).to_string();
    let mut response = client
        .request("POST", "/auth/register", None, Some(&body))
        .await?;
    if response.status == 409 {
        response = client.request("POST", "/auth/login", None, Some(&body)).await?;
    }
    match response.json()["refresh_token"].as_str() {
        Some(token) => Ok(token.to_string()),
        None => Err(std::io::Error::other(format!(
            "{username}: {} without a refresh token",
            response.status
        ))),
    }
}

pub async fn run(o: Options) -> Value {
    let mut chains = Vec::with_capacity(o.clients);
    for c in 0..o.clients {
        match first_token(&o.addr, &format!("refresh{c}")).await {
            Ok(token) => chains.push(token),
            Err(e) => return json!({ "scenario": "refresh", "error": e.to_string() }),
        }
    }
    let latencies = Rc::new(RefCell::new(stats::histogram()));
    let counts = Rc::new(RefCell::new((0u64, 0u64))); // (refreshed, errors)
    let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
    let own = CpuMeter::start("self");
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for mut token in chains {
        let (addr, latencies, counts) = (o.addr.clone(), latencies.clone(), counts.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(mut client) = http::Http::connect(&addr).await else {
                return;
            };
            while Instant::now() < end {
                let body = json!({ "refresh_token": token }).to_string();
                let t = Instant::now();
                match client.request("POST", "/auth/refresh", None, Some(&body)).await {
                    Ok(r) if r.status == 200 => match r.json()["refresh_token"].as_str() {
                        Some(next) => {
                            token = next.to_string();
                            counts.borrow_mut().0 += 1;
                            stats::record(&mut latencies.borrow_mut(), t.elapsed().as_micros() as u64);
                        }
                        None => {
                            counts.borrow_mut().1 += 1;
                            return;
                        }
                    },
                    // The chain is broken (a refused token cannot be retried).
                    _ => {
                        counts.borrow_mut().1 += 1;
                        return;
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (refreshed, errors) = *counts.borrow();
    json!({
        "scenario": "refresh",
        "clients": o.clients,
        "refreshes": refreshed,
        "errors": errors,
        "refreshes_per_second": (refreshed as f64 / elapsed).round(),
        "latency": stats::summary(&latencies.borrow()),
        "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
        "generator": stats::own_cpu(&own),
    })
}
