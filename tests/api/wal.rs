//! The write-ahead log under steady writes: it stays under its limit while
//! senders never pause, and is emptied once they stop. Before the writer
//! restarted the log itself, it grew by every commit for as long as the
//! load lasted (3.2 GB in four minutes).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{WAIT, spawn_app_with};

const LIMIT_MIB: u64 = 1;
/// Room for the one batch that may commit past the limit before the
/// restart.
const MARGIN: u64 = 1024 * 1024;
const SENDERS: usize = 8;
const LOAD: Duration = Duration::from_secs(12);

fn wal_len(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_wal_stays_under_its_limit_while_writes_never_stop_and_empties_after() {
    if crate::helpers::on_postgres() {
        eprintln!("skipped on PostgreSQL: the WAL is SQLite's");
        return;
    }
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().expect("temp dir")),
        |c| {
            c.no_rate_limits = true;
            c.sqlite_wal_mib = LIMIT_MIB;
        },
        axum::Router::new(),
    )
    .await;
    let app = Arc::new(app);
    let wal = app.data_path().join("chat.db-wal");
    let mut accounts = Vec::new();
    for i in 0..SENDERS {
        accounts.push(app.register(&format!("writer{i}")).await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for (i, from) in accounts.iter().cloned().enumerate() {
        let to = accounts[(i + 1) % SENDERS].id;
        let (app, stop, sent) = (Arc::clone(&app), Arc::clone(&stop), Arc::clone(&sent));
        senders.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (status, body) = app
                    .post(
                        "/chats/send-message",
                        Some(&from.token),
                        json!({ "to": to, "text": format!("steady {n} from {}", from.id) }),
                    )
                    .await;
                assert_eq!(status, StatusCode::CREATED, "{body}");
                n += 1;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }

    let mut largest = 0;
    let started = tokio::time::Instant::now();
    while started.elapsed() < LOAD {
        largest = largest.max(wal_len(&wal));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.expect("sender");
    }
    let sent = sent.load(Ordering::Relaxed);
    // Enough writes that an unbounded log would be several times the limit.
    assert!(sent > 3000, "only {sent} messages were sent: not a soak");
    let limit = LIMIT_MIB * 1024 * 1024;
    assert!(
        largest <= limit + MARGIN,
        "the WAL reached {largest} bytes over {sent} messages; its limit is {limit}"
    );

    // Once the writes stop, the log is folded in and truncated.
    let deadline = tokio::time::Instant::now() + WAIT;
    while wal_len(&wal) > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the WAL still holds {} bytes after the writes stopped",
            wal_len(&wal)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    for name in [
        "chat_sqlite_wal_bytes",
        "chat_sqlite_wal_frames",
        "chat_sqlite_checkpoints_total{mode=\"RESTART\",result=\"done\"}",
        "chat_sqlite_checkpoints_total{mode=\"TRUNCATE\",result=\"done\"}",
        "chat_sqlite_checkpoint_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
}
