//! Fan-out: one group of `members` connected members; senders post to it at
//! fixed rates; every member's socket receives every message. Reports
//! deliveries per second and the time until the *last* member got each
//! message.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::sio::{self, Frame};
use crate::stats::{self, CpuMeter};

pub struct Options {
    pub addr: String,
    pub members: usize,
    pub rates: Vec<f64>,
    pub seconds: f64,
    pub server_pid: Option<String>,
    /// Seconds to stay connected and idle after the last phase, then one
    /// more line with the server's RSS (0: none).
    pub after_seconds: f64,
    /// A file whose size is sampled with the RSS (the server's WAL).
    pub watch_file: Option<String>,
}

#[derive(Default)]
struct Tally {
    /// seq → (recipients so far, latest latency µs)
    messages: HashMap<u64, (u32, u64)>,
    deliveries: u64,
    last_delivery_us: u64,
}

/// The `n`th number (0-based) in the colon-separated list after `marker`.
fn nth_number(text: &str, marker: &str, n: usize) -> Option<u64> {
    let start = text.find(marker)? + marker.len();
    let field = text[start..].split(':').nth(n)?;
    let digits = field.bytes().take_while(u8::is_ascii_digit).count();
    field[..digits].parse().ok()
}

pub async fn run(o: Options) -> Vec<Value> {
    let users = http::accounts(sio::node(&o.addr, 0), "fan", o.members, 8)
        .await
        .expect("accounts");
    let owner = &users[0];
    let member_ids: Vec<i64> = users[1..].iter().map(|u| u.0).collect();
    let mut client = http::Http::connect(sio::node(&o.addr, 0)).await.expect("http");
    let body = json!({ "name": "fan-out", "member_ids": member_ids }).to_string();
    let created = client
        .request("POST", "/groups", Some(&owner.1), Some(&body))
        .await
        .expect("create group");
    let group_id = created.json()["group"]["id"].as_i64().expect("group id");

    let tally: Rc<RefCell<Tally>> = Rc::default();
    for (i, (_, token)) in users.iter().enumerate() {
        let (mut sink, mut stream) = sio::connect(sio::node(&o.addr, i), token)
            .await
            .expect("member connects");
        let tally = tally.clone();
        tokio::task::spawn_local(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                match sio::classify(text.as_str()) {
                    Frame::Ping => {
                        let _ = sink.send(Message::text("3")).await;
                    }
                    Frame::Event("receive_message", raw) => {
                        let now = stats::now_us();
                        if let (Some(sched), Some(seq)) = (nth_number(raw, "f:", 0), nth_number(raw, "f:", 1))
                        {
                            let mut t = tally.borrow_mut();
                            t.deliveries += 1;
                            t.last_delivery_us = now;
                            let entry = t.messages.entry(seq).or_insert((0, 0));
                            entry.0 += 1;
                            entry.1 = entry.1.max(now.saturating_sub(sched));
                        }
                    }
                    _ => {}
                }
            }
        });
    }
    // The sender: the owner's second socket (the contract leaves out only
    // the sending socket, so the owner's first socket receives too).
    let (mut sink, mut stream) = sio::connect(sio::node(&o.addr, 0), &owner.1)
        .await
        .expect("sender connects");
    let acks = Rc::new(RefCell::new(0u64));
    let acked = acks.clone();
    let (pong_tx, mut pong_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let (send_tx, mut send_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::task::spawn_local(async move {
        loop {
            let next = tokio::select! {
                Some(p) = pong_rx.recv() => p,
                Some(s) = send_rx.recv() => s,
                else => break,
            };
            if sink.send(Message::text(next)).await.is_err() {
                break;
            }
        }
    });
    tokio::task::spawn_local(async move {
        while let Some(Ok(Message::Text(text))) = stream.next().await {
            match sio::classify(text.as_str()) {
                Frame::Ping => {
                    let _ = pong_tx.send("3".into());
                }
                Frame::Ack(_, raw) if raw.contains("\"ok\":true") => *acked.borrow_mut() += 1,
                _ => {}
            }
        }
    });
    eprintln!("fanout: group {group_id} with {} connected members", o.members);

    let sampler = stats::Sampler::start(o.server_pid.as_deref(), o.watch_file.as_deref());
    let mut results = Vec::new();
    let mut seq = 0u64;
    for &rate in &o.rates {
        sampler.reset();
        {
            let mut t = tally.borrow_mut();
            t.messages.clear();
            t.deliveries = 0;
        }
        let first_seq = seq;
        let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
        let own = CpuMeter::start("self");
        let interval = Duration::from_secs_f64(1.0 / rate);
        let start = Instant::now() + Duration::from_millis(20);
        let end = start + Duration::from_secs_f64(o.seconds);
        let mut k = 0u32;
        loop {
            let scheduled = start + interval * k;
            if scheduled >= end {
                break;
            }
            tokio::time::sleep_until(scheduled.into()).await;
            let packet = format!(
                "42{seq}[\"group_message\",{{\"group_id\":{group_id},\"text\":\"f:{}:{seq}\"}}]",
                stats::us_of(scheduled)
            );
            let _ = send_tx.send(packet);
            seq += 1;
            k += 1;
        }
        let sent = seq - first_seq;
        let expected = sent * o.members as u64;
        let drain_start = Instant::now();
        while tally.borrow().deliveries < expected && drain_start.elapsed() < Duration::from_secs(15) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let peaks = sampler.peaks();
        let t = tally.borrow();
        let mut to_last = stats::histogram();
        let mut complete = 0u64;
        for (count, latest) in t.messages.values() {
            if *count as usize >= o.members {
                complete += 1;
                stats::record(&mut to_last, *latest);
            }
        }
        let span = t.last_delivery_us.saturating_sub(stats::us_of(start)).max(1) as f64 / 1e6;
        let result = json!({
            "scenario": "fanout",
            "members": o.members,
            "target_rate": rate,
            "seconds": o.seconds,
            "sent": sent,
            "complete_messages": complete,
            "deliveries": t.deliveries,
            "lost_deliveries": expected.saturating_sub(t.deliveries),
            "deliveries_per_second": (t.deliveries as f64 / span).round(),
            "time_to_last": stats::summary(&to_last),
            "clean": t.deliveries == expected && to_last.value_at_quantile(0.99) < 50_000,
            "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
            "server_rss_peak_kib": peaks.rss_kib,
            "watched_peak_bytes": peaks.file_bytes,
            "generator": stats::own_cpu(&own),
        });
        eprintln!("fanout {rate}/s: {result}");
        results.push(result);
    }
    if o.after_seconds > 0.0 {
        let mut after = stats::after_load(&sampler, o.server_pid.as_deref(), o.after_seconds).await;
        after["scenario"] = json!("fanout-after");
        after["members"] = json!(o.members);
        eprintln!("fanout, {}s after: {after}", o.after_seconds);
        results.push(after);
    }
    let _ = acks;
    results
}
