//! History: `clients` keep-alive connections page through a big chat with
//! `before` cursors as fast as answers come (closed loop).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http;
use crate::stats::{self, CpuMeter};

pub struct Options {
    pub addr: String,
    pub chat_id: i64,
    pub token: String,
    pub max_id: u64,
    pub clients: usize,
    pub seconds: f64,
    pub server_pid: Option<String>,
}

pub async fn run(o: Options) -> Value {
    let latencies = Rc::new(RefCell::new(stats::histogram()));
    let counts = Rc::new(RefCell::new((0u64, 0u64))); // (ok pages, errors)
    let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
    let own = CpuMeter::start("self");
    let started = Instant::now();
    let end = started + Duration::from_secs_f64(o.seconds);
    let mut tasks = Vec::new();
    for c in 0..o.clients {
        let (addr, token, latencies, counts) =
            (o.addr.clone(), o.token.clone(), latencies.clone(), counts.clone());
        let (chat_id, max_id) = (o.chat_id, o.max_id.max(51));
        tasks.push(tokio::task::spawn_local(async move {
            let Ok(mut client) = http::Http::connect(&addr).await else {
                return;
            };
            // A cheap deterministic spread of cursors over the whole history.
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (c as u64 + 1);
            while Instant::now() < end {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let before = 51 + x % (max_id - 50);
                let path = format!("/chats/{chat_id}?limit=50&before={before}");
                let t = Instant::now();
                match client.request("GET", &path, Some(&token), None).await {
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
    let (pages, errors) = *counts.borrow();
    let latency = stats::summary(&latencies.borrow());
    json!({
        "scenario": "history",
        "clients": o.clients,
        "messages_in_chat": o.max_id,
        "pages": pages,
        "errors": errors,
        "pages_per_second": (pages as f64 / elapsed).round(),
        "latency": latency,
        "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
        "generator": stats::own_cpu(&own),
    })
}
