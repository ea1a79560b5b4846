//! The binary as an operator runs it: start, serve, stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{WAIT, database_env, forget_database, on_postgres};

/// Starts `chat-server serve` on port 0 and returns it with its address,
/// read from its JSON log line.
pub async fn start_binary(data_dir: &std::path::Path) -> (std::process::Child, String) {
    start_binary_with(data_dir, database_env(data_dir).await, &[])
}

/// [`start_binary`] with the environment and further flags given.
pub fn start_binary_with(
    data_dir: &std::path::Path,
    env: Vec<(&'static str, String)>,
    flags: &[&str],
) -> (std::process::Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .envs(env)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    let (mut child, addr) = start_binary(dir.path()).await;
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
    forget_database(dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_online_backup_restores_into_a_working_server() {
    use serde_json::json;
    if on_postgres() {
        eprintln!("skipped: the backup subcommand copies SQLite (PostgreSQL: pg_dump)");
        return;
    }
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

/// Runs the binary with debug logs, drives every kind of request, and looks
/// for passwords, hashes and the secret in everything it printed and sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_password_hash_or_secret_in_any_response_or_log() {
    use serde_json::json;
    let dir = tempfile::TempDir::new().unwrap();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .envs(database_env(&dir.path().join("data")).await)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--log",
            "debug",
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let addr = loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("chat-server listening")) {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            break entry["addr"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "server did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let password = "Tr0ub4dor&3-secret-pass";
    let mut bodies = String::new();
    let post = |path: &'static str, token: Option<String>, body: serde_json::Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let registered: serde_json::Value = post(
        "/auth/register",
        None,
        json!({ "username": "alice", "password": password }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    bodies.push_str(&registered.to_string());
    let token = registered["token"].as_str().unwrap().to_string();
    for (path, body) in [
        (
            "/auth/login",
            json!({ "username": "alice", "password": password }),
        ),
        (
            "/auth/login",
            json!({ "username": "alice", "password": format!("{password}x") }),
        ),
        (
            "/auth/login",
            json!({ "username": "nobody", "password": password }),
        ),
        (
            "/auth/register",
            json!({ "username": "alice", "password": password }),
        ),
        ("/chats/send-message", json!({ "to": 1, "text": "hello" })),
        ("/groups", json!({ "name": "g" })),
    ] {
        bodies.push_str(
            &post(path, Some(token.clone()), body)
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        );
    }
    for path in ["/auth/me", "/users", "/chats", "/sync", "/chats/1", "/groups/2"] {
        let r = client
            .get(format!("{base}{path}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        bodies.push_str(&r.text().await.unwrap());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();

    let secret = String::from_utf8(crate::helpers::read_secret(&dir.path().join("data")).await).unwrap();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    assert!(logs.contains("request"), "the logs did record requests");
    for (what, text) in [("responses", &bodies), ("logs", &logs)] {
        assert!(!text.contains(password), "password in {what}");
        assert!(!text.contains("$argon2"), "password hash in {what}");
        assert!(!text.contains(secret.trim()), "JWT secret in {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_open_sockets_exits_promptly() {
    use tokio_tungstenite::connect_async;
    let dir = tempfile::TempDir::new().unwrap();
    let (mut child, addr) = start_binary(dir.path()).await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        sockets.push(connect_async(url).await.unwrap().0);
    }
    // And signed-in sockets of users who share a chat, so that shutdown
    // runs their disconnect handlers (presence) too.
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let mut signed_in = Vec::new();
    let mut ids = Vec::new();
    for name in ["alice", "bob"] {
        let body: serde_json::Value = client
            .post(format!("{base}/auth/register"))
            .json(&serde_json::json!({ "username": name, "password": "correct horse" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push((
            body["user"]["id"].as_i64().unwrap(),
            body["token"].as_str().unwrap().to_string(),
        ));
    }
    let sent = client
        .post(format!("{base}/chats/send-message"))
        .bearer_auth(&ids[0].1)
        .json(&serde_json::json!({ "to": ids[1].0, "text": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 201);
    for (_, token) in &ids {
        let addr: std::net::SocketAddr = addr.parse().unwrap();
        signed_in.push(
            crate::socket::SocketClient::connect_to(addr, crate::socket::Auth::Payload(token))
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < WAIT, "still running after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "exit status {status}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(sockets);
}
