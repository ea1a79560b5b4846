//! Crash safety: kill the server with SIGKILL while sockets are sending
//! messages and files, restart it on the same data dir, and check that
//! nothing acknowledged was lost or doubled, every stored file is whole, no
//! temporary file is left, and the database is intact. Several kill points.
//!
//! Uses the binary in `CHAT_SERVER_BIN` if set (CI points it at the release
//! build), else the one cargo built for the tests.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{WAIT, database_env, forget_database, on_postgres};
use crate::socket::{Auth, SocketClient};

fn binary() -> String {
    std::env::var("CHAT_SERVER_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_chat-server").to_string())
}

/// Starts the server on `data` and returns it with its address.
async fn start(data: &Path, port: u16) -> (Child, std::net::SocketAddr) {
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(binary())
        .envs(database_env(data).await)
        .args(["serve", "--no-rate-limits", "--log", "warn", "--addr"])
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start chat-server");
    (child, addr)
}

async fn wait_healthy(addr: std::net::SocketAddr) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !matches!(client.get(format!("http://{addr}/healthz")).send().await, Ok(r) if r.status() == 200) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "server on {addr} never became healthy"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A PNG-signed file whose content depends on `n`.
fn file_bytes(n: usize) -> Vec<u8> {
    let mut bytes = crate::uploads::PNG.to_vec();
    bytes.extend((0..20_000 + n * 97).map(|i| (i * 31 + n) as u8));
    bytes
}

struct Acked {
    /// client_id → message id, for every send the server acknowledged.
    messages: HashMap<String, i64>,
    /// message id → sha256 of the file it carries.
    files: HashMap<i64, String>,
}

async fn one_round(kill_after: Duration) {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let (mut child, addr) = start(&data, port).await;
    wait_healthy(addr).await;

    let http = reqwest::Client::new();
    let mut accounts = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        let body: Value = http
            .post(format!("http://{addr}/auth/register"))
            .json(&json!({ "username": name, "password": "correct horse" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        accounts.push((
            body["user"]["id"].as_i64().unwrap(),
            body["token"].as_str().unwrap().to_string(),
        ));
    }
    let group: Value = http
        .post(format!("http://{addr}/groups"))
        .bearer_auth(&accounts[0].1)
        .json(
            &json!({ "name": "crash", "member_ids": accounts[1..].iter().map(|a| a.0).collect::<Vec<_>>() }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let group_id = group["group"]["id"].as_i64().unwrap();

    // Every account sends as fast as acks come back; one in three sends is a file.
    let mut senders = Vec::new();
    for (s, (_, token)) in accounts.iter().enumerate() {
        let mut sock = SocketClient::connect_to(addr, Auth::Payload(token))
            .await
            .unwrap();
        senders.push(tokio::spawn(async move {
            let mut acked = Acked { messages: HashMap::new(), files: HashMap::new() };
            for i in 0.. {
                let client_id = format!("s{s}-{i}");
                let outcome = if i % 3 == 2 {
                    let bytes = file_bytes(s * 10_000 + i);
                    let payload = json!({ "group_id": group_id, "filename": format!("{client_id}.png"), "client_id": client_id });
                    let hash = sha256_hex(&bytes);
                    sock.try_emit_ack("send_file", payload, Some(("data", bytes))).await.map(|a| (a, Some(hash)))
                } else {
                    let payload = json!({ "group_id": group_id, "text": client_id, "client_id": client_id });
                    sock.try_emit_ack("send_message", payload, None).await.map(|a| (a, None))
                };
                match outcome {
                    Ok((ack, hash)) if ack["ok"] == true => {
                        let id = ack["message"]["id"].as_i64().unwrap();
                        acked.messages.insert(client_id, id);
                        if let Some(hash) = hash {
                            assert_eq!(ack["message"]["attachment"]["sha256"], hash.as_str());
                            acked.files.insert(id, hash);
                        }
                    }
                    Ok((ack, _)) => panic!("refused: {ack}"),
                    Err(_) => break, // the server is gone
                }
            }
            acked
        }));
    }
    tokio::time::sleep(kill_after).await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let mut acked = Acked {
        messages: HashMap::new(),
        files: HashMap::new(),
    };
    for sender in senders {
        let a = tokio::time::timeout(WAIT, sender)
            .await
            .expect("sender stops")
            .expect("sender task");
        acked.messages.extend(a.messages);
        acked.files.extend(a.files);
    }
    assert!(!acked.messages.is_empty(), "the load got going before the kill");
    eprintln!(
        "killed after {kill_after:?}: {} acked messages, {} acked files",
        acked.messages.len(),
        acked.files.len()
    );

    // Restart on the same data.
    let (mut child, addr) = start(&data, free_port()).await;
    wait_healthy(addr).await;
    assert_eq!(
        std::fs::read_dir(data.join("uploads/tmp")).unwrap().count(),
        0,
        "no temp file after start"
    );

    let mut stored: Vec<Value> = Vec::new();
    let mut after = 0;
    loop {
        let page: Value = http
            .get(format!("http://{addr}/sync?after={after}&limit=200"))
            .bearer_auth(&accounts[0].1)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let messages = page["messages"].as_array().unwrap();
        stored.extend(messages.iter().cloned());
        if page["has_more"] == false {
            break;
        }
        after = messages.last().unwrap()["id"].as_i64().unwrap();
    }
    let mut by_client_id: HashMap<String, Vec<i64>> = HashMap::new();
    for m in &stored {
        if let Some(cid) = m["client_id"].as_str() {
            by_client_id
                .entry(cid.to_string())
                .or_default()
                .push(m["id"].as_i64().unwrap());
        }
    }
    for (client_id, id) in &acked.messages {
        assert_eq!(
            by_client_id.get(client_id),
            Some(&vec![*id]),
            "acked {client_id} stored exactly once"
        );
    }
    assert!(
        by_client_id.values().all(|ids| ids.len() == 1),
        "no client_id stored twice"
    );

    // Every stored file (acked or not) is whole and matches its hash.
    let mut checked = HashSet::new();
    for m in stored.iter().filter(|m| m["kind"] == "file") {
        let attachment = &m["attachment"];
        let bytes = http
            .get(format!("http://{addr}{}", attachment["url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(bytes.status(), 200);
        let bytes = bytes.bytes().await.unwrap();
        assert_eq!(
            sha256_hex(&bytes),
            attachment["sha256"].as_str().unwrap(),
            "file {}",
            m["id"]
        );
        if let Some(expected) = acked.files.get(&m["id"].as_i64().unwrap()) {
            assert_eq!(attachment["sha256"].as_str().unwrap(), expected);
        }
        checked.insert(m["id"].as_i64().unwrap());
    }
    assert!(
        acked.files.keys().all(|id| checked.contains(id)),
        "every acked file is there"
    );

    // An acked send retried after the restart is recognised, not repeated.
    if let Some((client_id, id)) = acked
        .messages
        .iter()
        .find(|(c, _)| !acked.files.contains_key(&acked.messages[*c]))
    {
        let retry = http
            .post(format!("http://{addr}/chats/send-message"))
            .bearer_auth(&accounts[client_id[1..2].parse::<usize>().unwrap()].1)
            .json(&json!({ "group_id": group_id, "text": client_id, "client_id": client_id }))
            .send()
            .await
            .unwrap();
        assert_eq!(retry.status(), 200);
        assert_eq!(retry.json::<Value>().await.unwrap()["message"]["id"], *id);
    }

    child.kill().unwrap();
    child.wait().unwrap();
    if on_postgres() {
        forget_database(&data);
    } else {
        let db = rusqlite::Connection::open(data.join("chat.db")).unwrap();
        let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(check, "ok");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_work_survives_sigkill_at_several_points() {
    for ms in [150, 400, 900, 1500] {
        one_round(Duration::from_millis(ms)).await;
    }
}
