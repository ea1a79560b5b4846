//! Direct messages: `pairs` sender sockets each writing to their own
//! receiver, open loop at fixed aggregate rates swept upward. Every message
//! carries its *scheduled* send time, so a stalled server shows up as
//! latency, not as a slower generator (no coordinated omission). Optionally
//! a login flood runs beside it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use crate::http;
use crate::sio::{self, Frame};
use crate::stats::{self, CpuMeter};

/// Per-phase counters, shared by every task on this one thread.
#[derive(Default)]
struct Phase {
    sent: u64,
    acked: u64,
    refused: u64,
    received: u64,
    ack: Option<Histogram<u64>>,
    delivery: Option<Histogram<u64>>,
}

type Phases = Rc<RefCell<Vec<Phase>>>;

fn phase_mut(phases: &Phases, i: usize, f: impl FnOnce(&mut Phase)) {
    let mut all = phases.borrow_mut();
    while all.len() <= i {
        all.push(Phase {
            ack: Some(stats::histogram()),
            delivery: Some(stats::histogram()),
            ..Phase::default()
        });
    }
    f(&mut all[i]);
}

/// The writing half of a socket, behind a queue so readers can answer pings.
fn writer(mut sink: sio::Sink) -> mpsc::UnboundedSender<String> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    tokio::task::spawn_local(async move {
        while let Some(first) = rx.recv().await {
            if sink.feed(Message::text(first)).await.is_err() {
                return;
            }
            while let Ok(more) = rx.try_recv() {
                if sink.feed(Message::text(more)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
    });
    tx
}

pub struct Options {
    pub addr: String,
    pub pairs: usize,
    pub rates: Vec<f64>,
    pub seconds: f64,
    pub server_pid: Option<String>,
    pub login_clients: usize,
    /// Seconds to stay connected and idle after the last phase, then one
    /// more line with the server's RSS (0: none).
    pub after_seconds: f64,
    /// A file whose size is sampled with the RSS (the server's WAL).
    pub watch_file: Option<String>,
    /// The scenario name in the lines (default: direct or direct+login).
    pub name: Option<String>,
}

pub async fn run(o: Options) -> Vec<Value> {
    let setup = Instant::now();
    let users = http::accounts(sio::node(&o.addr, 0), "direct", o.pairs * 2, 8)
        .await
        .expect("accounts");
    let phases: Phases = Rc::new(RefCell::new(Vec::new()));
    let mut senders = Vec::new();
    for pair in 0..o.pairs {
        let (sender_id, sender_token) = &users[pair * 2];
        let (receiver_id, receiver_token) = &users[pair * 2 + 1];
        let _ = sender_id;
        // Receiver: count deliveries by the phase written in the text.
        // With several nodes the receiver and its sender are on different
        // ones, so every message crosses the cluster.
        let (sink, mut stream) = sio::connect(sio::node(&o.addr, pair), receiver_token)
            .await
            .expect("receiver connects");
        let out = writer(sink);
        let p = phases.clone();
        tokio::task::spawn_local(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                match sio::classify(text.as_str()) {
                    Frame::Ping => {
                        let _ = out.send("3".into());
                    }
                    Frame::Event("receive_message", raw) => {
                        let now = stats::now_us();
                        if let (Some(sched), Some(phase)) =
                            (sio::number_after(raw, "b:"), sio::second_number_after(raw, "b:"))
                        {
                            phase_mut(&p, phase as usize, |ph| {
                                ph.received += 1;
                                if let Some(h) = ph.delivery.as_mut() {
                                    stats::record(h, now.saturating_sub(sched));
                                }
                            });
                        }
                    }
                    _ => {}
                }
            }
        });
        // Sender: match acks to their scheduled time.
        let (sink, mut stream) = sio::connect(sio::node(&o.addr, pair + 1), sender_token)
            .await
            .expect("sender connects");
        let out = writer(sink);
        let pending: Rc<RefCell<HashMap<u64, (usize, u64)>>> = Rc::default();
        let (p, pend, pong) = (phases.clone(), pending.clone(), out.clone());
        tokio::task::spawn_local(async move {
            while let Some(Ok(Message::Text(text))) = stream.next().await {
                match sio::classify(text.as_str()) {
                    Frame::Ping => {
                        let _ = pong.send("3".into());
                    }
                    Frame::Ack(id, raw) => {
                        let now = stats::now_us();
                        if let Some((phase, sched)) = pend.borrow_mut().remove(&id) {
                            let ok = raw.contains("\"ok\":true");
                            phase_mut(&p, phase, |ph| {
                                if ok {
                                    ph.acked += 1;
                                    if let Some(h) = ph.ack.as_mut() {
                                        stats::record(h, now.saturating_sub(sched));
                                    }
                                } else {
                                    ph.refused += 1;
                                }
                            });
                        }
                    }
                    _ => {}
                }
            }
        });
        senders.push(Sender {
            out,
            pending,
            to: *receiver_id,
            next_ack: Rc::new(RefCell::new(1)),
        });
    }
    let login_users = if o.login_clients > 0 {
        http::accounts(sio::node(&o.addr, 0), "login", o.login_clients, 8)
            .await
            .expect("login accounts")
    } else {
        Vec::new()
    };
    eprintln!(
        "direct: {} pairs ready in {:.1}s",
        o.pairs,
        setup.elapsed().as_secs_f64()
    );

    // Phase 0 warms up: each pair's first message creates its chat.
    let warm = send_phase(&senders, &phases, 0, o.pairs as f64 * 2.0, 1.0).await;
    drain(&phases, 0, warm).await;

    let name = o.name.clone().unwrap_or_else(|| {
        if login_users.is_empty() {
            "direct"
        } else {
            "direct+login"
        }
        .to_string()
    });
    let sampler = stats::Sampler::start(o.server_pid.as_deref(), o.watch_file.as_deref());
    let mut results = Vec::new();
    for (i, &rate) in o.rates.iter().enumerate() {
        let phase = i + 1;
        sampler.reset();
        let server_cpu = o.server_pid.as_deref().and_then(CpuMeter::start);
        let own = CpuMeter::start("self");
        let logins = Rc::new(RefCell::new((0u64, stats::histogram())));
        let stop = Rc::new(std::cell::Cell::new(false));
        for (user, _) in login_users.iter().enumerate() {
            let (addr, logins, stop) = (sio::node(&o.addr, 0).to_string(), logins.clone(), stop.clone());
            tokio::task::spawn_local(async move {
                let Ok(mut client) = http::Http::connect(&addr).await else {
                    return;
                };
                let body = json!({ "username": format!("login{user}"), "password": "benchmark password" })
                    .to_string();
                while !stop.get() {
                    let started = Instant::now();
                    if let Ok(r) = client.request("POST", "/auth/login", None, Some(&body)).await
                        && r.status == 200
                    {
                        let mut l = logins.borrow_mut();
                        l.0 += 1;
                        stats::record(&mut l.1, started.elapsed().as_micros() as u64);
                    }
                }
            });
        }
        let started = Instant::now();
        let sent = send_phase(&senders, &phases, phase, rate, o.seconds).await;
        let sending = started.elapsed().as_secs_f64();
        stop.set(true);
        let drained = drain(&phases, phase, sent).await;
        let peaks = sampler.peaks();
        let all = phases.borrow();
        let ph = &all[phase];
        let delivery = ph.delivery.as_ref().map(stats::summary).unwrap_or_default();
        let lost = ph.sent.saturating_sub(ph.received);
        let l = logins.borrow();
        let result = json!({
            "scenario": name,
            "pairs": o.pairs,
            "target_rate": rate,
            "seconds": o.seconds,
            "sent": ph.sent,
            "acked": ph.acked,
            "refused": ph.refused,
            "received": ph.received,
            "lost": lost,
            "achieved_rate": (ph.received as f64 / sending).round(),
            "ack": ph.ack.as_ref().map(stats::summary),
            "delivery": delivery,
            "clean": lost == 0 && ph.refused == 0 && delivery["p99_ms"].as_f64().is_some_and(|p| p < 50.0),
            "drain_seconds": drained,
            "logins_per_second": (l.0 as f64 / sending).round(),
            "login_latency": if l.0 > 0 { Some(stats::summary(&l.1)) } else { None },
            "server_cpu": server_cpu.as_ref().and_then(CpuMeter::fraction),
            "server_rss_peak_kib": peaks.rss_kib,
            "watched_peak_bytes": peaks.file_bytes,
            "generator": stats::own_cpu(&own),
        });
        eprintln!("{name} {rate}/s: {result}");
        results.push(result);
    }
    if o.after_seconds > 0.0 {
        let mut after = stats::after_load(&sampler, o.server_pid.as_deref(), o.after_seconds).await;
        after["scenario"] = json!(format!("{name}-after"));
        after["pairs"] = json!(o.pairs);
        eprintln!("{name}, {}s after: {after}", o.after_seconds);
        results.push(after);
    }
    results
}

struct Sender {
    out: mpsc::UnboundedSender<String>,
    pending: Rc<RefCell<HashMap<u64, (usize, u64)>>>,
    to: i64,
    next_ack: Rc<RefCell<u64>>,
}

/// Sends at `rate` messages per second in total for `seconds`, spread
/// evenly over the senders; returns how many were sent.
async fn send_phase(senders: &[Sender], phases: &Phases, phase: usize, rate: f64, seconds: f64) -> u64 {
    let n = senders.len() as f64;
    let interval = Duration::from_secs_f64(n / rate);
    let start = Instant::now() + Duration::from_millis(20);
    let end = start + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for (i, s) in senders.iter().enumerate() {
        let (out, pending, next_ack, to, phases) = (
            s.out.clone(),
            s.pending.clone(),
            s.next_ack.clone(),
            s.to,
            phases.clone(),
        );
        let first = start + interval.mul_f64(i as f64 / n);
        tasks.push(tokio::task::spawn_local(async move {
            let mut k = 0u32;
            let mut sent = 0u64;
            loop {
                let scheduled = first + interval * k;
                if scheduled >= end {
                    break;
                }
                tokio::time::sleep_until(scheduled.into()).await;
                let sched_us = stats::us_of(scheduled);
                let id = {
                    let mut n = next_ack.borrow_mut();
                    *n += 1;
                    *n
                };
                pending.borrow_mut().insert(id, (phase, sched_us));
                let packet =
                    format!("42{id}[\"send_message\",{{\"to\":{to},\"text\":\"b:{sched_us}:{phase}\"}}]");
                if out.send(packet).is_err() {
                    break;
                }
                sent += 1;
                k += 1;
            }
            phase_mut(&phases, phase, |ph| ph.sent += sent);
            sent
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    total
}

/// Waits (up to 10 s) until every sent message of the phase was delivered;
/// returns how long that took.
async fn drain(phases: &Phases, phase: usize, sent: u64) -> f64 {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let done = phases
            .borrow()
            .get(phase)
            .is_some_and(|ph| ph.received >= sent && ph.acked + ph.refused >= sent);
        if done {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (started.elapsed().as_secs_f64() * 100.0).round() / 100.0
}
