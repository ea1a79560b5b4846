//! The binary as an operator runs it: start, serve, stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::WAIT;

/// Starts `chat-server serve` on port 0 and returns it with its address,
/// read from its JSON log line.
pub fn start_binary(data_dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chat-server");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                && entry["message"] == "chat-server listening"
            {
                let _ = tx.send(entry["addr"].as_str().unwrap_or_default().to_string());
            }
        }
    });
    let addr = rx.recv_timeout(WAIT).expect("the server logs its address");
    (child, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::TempDir::new().unwrap();
    let (mut child, addr) = start_binary(dir.path());
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    // The WAL was folded back into the database file.
    let wal = dir.path().join("chat.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_working_server() {
    use serde_json::json;
    let app = crate::helpers::spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    for i in 0..5 {
        app.send(&alice, json!({ "to": bob.id }), &format!("m{i}")).await;
    }
    let backups = tempfile::TempDir::new().unwrap();
    let target = backups.path().join("chat-backup.db");

    // While the server runs.
    let exe = env!("CARGO_BIN_EXE_chat-server");
    let out = Command::new(exe)
        .args(["backup", "--data-dir"])
        .arg(app.data_path())
        .arg("--to")
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let again = Command::new(exe)
        .args(["backup", "--data-dir"])
        .arg(app.data_path())
        .arg("--to")
        .arg(&target)
        .output()
        .unwrap();
    assert!(!again.status.success(), "refuses to overwrite");

    let copy = rusqlite::Connection::open(&target).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let count: i64 = copy
        .query_row("SELECT COUNT(*) FROM messages", [], |r| r.get(0))
        .unwrap();
    assert_eq!(count, 5);

    // Restore: the backup as chat.db, with the secret, in a fresh folder.
    let restored = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    std::fs::copy(&target, restored.path().join("chat.db")).unwrap();
    std::fs::copy(
        app.data_path().join("jwt-secret"),
        restored.path().join("jwt-secret"),
    )
    .unwrap();
    let second = crate::helpers::spawn_app_with(restored, |_| {}, axum::Router::new()).await;
    let (status, chats) = second.get("/chats", Some(&bob.token)).await;
    assert_eq!(status, 200);
    assert_eq!(chats["chats"][0]["unread_count"], 5);
}
