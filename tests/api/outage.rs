//! PostgreSQL going away under load and coming back: while it is down,
//! requests and acks fail fast with 503 `unavailable` and `/healthz` says
//! so; nothing panics; once it is back the server recovers by itself; and
//! every message acknowledged before, during or after is there. Uses a
//! PostgreSQL server of its own (Debian's binaries, a temporary cluster),
//! so stopping it disturbs no other test. Runs when the suite runs on
//! PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{WAIT, on_postgres, spawn_app_with};
use crate::socket::SocketClient;

/// A throwaway PostgreSQL cluster on a free port.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// `program args…`, as the postgres user when we are root (PostgreSQL
/// refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl PrivatePostgres {
    fn start() -> Option<PrivatePostgres> {
        let bin = pg_bin()?;
        let dir = tempfile::Builder::new().prefix("chat-pg-").tempdir().ok()?;
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(dir.path())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg = PrivatePostgres { dir, bin, port };
        let init = as_postgres(&pg.bin.join("initdb"))
            .args(["-D"])
            .arg(pg.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .ok()?;
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        pg.up();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn up(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let started = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "30", "-o", &options, "-l"])
            .arg(self.dir.path().join("log"))
            .arg("start")
            .output()
            .expect("pg_ctl start");
        assert!(
            started.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&started.stderr)
        );
    }

    /// Stops at once, as a crash would (no shutdown checkpoint).
    fn down(&self) {
        let stopped = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "30", "-m", "immediate", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(
            stopped.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&stopped.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .args(["-w", "-m", "immediate", "stop"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_database_going_away_costs_503s_not_acked_messages() {
    if !on_postgres() {
        eprintln!("skipped: the PostgreSQL store's outage behaviour");
        return;
    }
    let Some(pg) = PrivatePostgres::start() else {
        eprintln!("skipped: no PostgreSQL binaries to run a private cluster with");
        return;
    };
    let url = pg.url();
    let app = Arc::new(
        spawn_app_with(
            Arc::new(tempfile::TempDir::new().expect("temp dir")),
            move |c| {
                c.database_url = Some(url);
                c.no_rate_limits = true;
            },
            axum::Router::new(),
        )
        .await,
    );
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut bob_socket = SocketClient::of(&app, &bob).await;

    // Load: alice sends without pause, through the outage and after it.
    let running = Arc::new(AtomicBool::new(true));
    let sender = {
        let (app, alice, to, running) = (Arc::clone(&app), alice.clone(), bob.id, Arc::clone(&running));
        tokio::spawn(async move {
            let (mut acked, mut unavailable, mut slowest) = (Vec::new(), 0, Duration::ZERO);
            let mut n = 0;
            while running.load(Ordering::SeqCst) {
                n += 1;
                let started = Instant::now();
                let (status, body) = app
                    .post(
                        "/chats/send-message",
                        Some(&alice.token),
                        json!({ "to": to, "text": format!("m{n}"), "client_id": format!("m{n}") }),
                    )
                    .await;
                slowest = slowest.max(started.elapsed());
                match status {
                    StatusCode::CREATED | StatusCode::OK => {
                        acked.push(body["message"]["id"].as_i64().expect("id"))
                    }
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(body["error"]["code"], "unavailable", "{body}");
                        unavailable += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    other => panic!("{other}: {body}"),
                }
            }
            (acked, unavailable, slowest)
        })
    };
    let wait_for_acks = |min: usize| {
        let app = Arc::clone(&app);
        let token = alice.token.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            loop {
                let (status, sync) = app.get("/sync?after=0&limit=200", Some(&token)).await;
                if status == StatusCode::OK && sync["messages"].as_array().is_some_and(|m| m.len() >= min) {
                    return;
                }
                assert!(Instant::now() < deadline, "no {min} messages stored in time");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_for_acks(20).await;

    pg.down();
    // Down: fast, clear answers on every door.
    let started = Instant::now();
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    let (status, body) = app.get("/chats", Some(&alice.token)).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::SERVICE_UNAVAILABLE, &json!("unavailable"))
    );
    let ack = bob_socket
        .emit_ack("send_message", json!({ "to": alice.id, "text": "while down" }))
        .await;
    assert_eq!(ack["error"]["code"], "unavailable", "{ack}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answers while down took {:?}",
        started.elapsed()
    );

    // The outage lasts a while, the sender hammering on meanwhile (this
    // sleep is the outage's length, not a wait for anything).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let down_for = started.elapsed();
    pg.up();
    // Back: the server recovers by itself.
    let back = Instant::now();
    let deadline = Instant::now() + WAIT;
    while app.get("/healthz", None).await.0 != StatusCode::OK {
        assert!(Instant::now() < deadline, "not healthy again in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered_in = back.elapsed();
    let before = app.get("/sync?after=0&limit=200", Some(&alice.token)).await.1["messages"]
        .as_array()
        .map_or(0, Vec::len);
    wait_for_acks(before + 20).await;
    running.store(false, Ordering::SeqCst);
    let (acked, unavailable, slowest) = sender.await.expect("sender");
    assert!(unavailable > 0, "the outage was seen");
    assert!(
        slowest < Duration::from_secs(10),
        "no request hung: slowest {slowest:?}"
    );

    // Nothing acknowledged was lost.
    let mut stored = std::collections::BTreeSet::new();
    let mut after = 0;
    loop {
        let (status, page) = app
            .get(&format!("/sync?after={after}&limit=200"), Some(&alice.token))
            .await;
        assert_eq!(status, StatusCode::OK);
        let ids: Vec<i64> = page["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .map(|m| m["id"].as_i64().expect("id"))
            .collect();
        let Some(&last) = ids.last() else { break };
        stored.extend(ids);
        after = last;
    }
    let lost: Vec<_> = acked.iter().filter(|id| !stored.contains(id)).collect();
    eprintln!(
        "outage: {} acked, {unavailable} answered 503 during a {down_for:?} outage, slowest request {slowest:?}, healthy {recovered_in:?} after the database was back, {} lost",
        acked.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "acked but not stored: {lost:?}");
    // And the socket path works again.
    let ack = bob_socket
        .emit_ack("send_message", json!({ "to": alice.id, "text": "back" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
}
