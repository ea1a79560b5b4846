//! `spawn_app()`: the real server on port 0 with a fresh data dir, and
//! typed helpers that keep the tests reading as stories.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chat_server::config::Config;
use chat_server::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Upper bound for any single wait in a test.
pub const WAIT: Duration = Duration::from_secs(20);

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    /// Kept alive for the app's lifetime; shared with a restarted app.
    pub data_dir: Arc<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

/// A registered user.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: i64,
    pub token: String,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(
        Arc::new(TempDir::new().expect("temp dir")),
        |_| {},
        axum::Router::new(),
    )
    .await
}

pub async fn spawn_app_with(
    data_dir: Arc<TempDir>,
    adjust: impl FnOnce(&mut Config),
    extra: axum::Router<AppState>,
) -> TestApp {
    let mut config = Config::with_data_dir(data_dir.path()).expect("default config");
    adjust(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let addr = listener.local_addr().expect("local addr");
    let (shutdown, stop) = oneshot::channel::<()>();
    let server = tokio::spawn(chat_server::serve_with_routes(
        config,
        listener,
        async move {
            let _ = stop.await;
        },
        extra,
    ));
    let app = TestApp {
        addr,
        client: reqwest::Client::builder().timeout(WAIT).build().expect("client"),
        data_dir,
        shutdown: Some(shutdown),
        server: Some(server),
    };
    app.wait_healthy().await;
    app
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    async fn wait_healthy(&self) {
        // A client of its own that keeps no connection open afterwards.
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(WAIT)
            .build()
            .expect("client");
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(r) = probe.get(self.url("/healthz")).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "server never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Graceful shutdown; returns once the server task has ended.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let ended = tokio::time::timeout(WAIT, server)
                .await
                .expect("server stops in time");
            ended.expect("server task").expect("server ends cleanly");
        }
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.expect("request sent");
        let status = response.status();
        let text = response.text().await.expect("body read");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, value)
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.request(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.request(reqwest::Method::POST, path, token, Some(body)).await
    }

    pub async fn register(&self, username: &str) -> Account {
        let (status, body) = self
            .post(
                "/auth/register",
                None,
                json!({ "username": username, "password": "correct horse" }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        Account {
            id: body["user"]["id"].as_i64().expect("user id"),
            token: body["token"].as_str().expect("token").to_string(),
        }
    }

    /// Sends a text message and returns the stored message.
    pub async fn send(&self, from: &Account, target: Value, text: &str) -> Value {
        let mut body = target;
        body["text"] = json!(text);
        let (status, body) = self.post("/chats/send-message", Some(&from.token), body).await;
        assert_eq!(status, StatusCode::CREATED, "send: {body}");
        body["message"].clone()
    }

    pub async fn create_group(&self, owner: &Account, name: &str, members: &[&Account]) -> Value {
        let ids: Vec<i64> = members.iter().map(|a| a.id).collect();
        let (status, body) = self
            .post(
                "/groups",
                Some(&owner.token),
                json!({ "name": name, "member_ids": ids }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create group: {body}");
        body["group"].clone()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Asserts the contract's error shape, status and code.
#[track_caller]
pub fn assert_error(response: &(StatusCode, Value), status: StatusCode, code: &str) {
    let (got_status, body) = response;
    assert_eq!(*got_status, status, "status for {body}");
    assert_eq!(body["error"]["code"], code, "code in {body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "message in {body}"
    );
}

/// Ids of a list of messages.
pub fn ids(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .expect("an array")
        .iter()
        .map(|m| m["id"].as_i64().expect("id"))
        .collect()
}

pub fn read_secret(dir: &Path) -> Vec<u8> {
    std::fs::read_to_string(dir.join("jwt-secret"))
        .expect("secret file")
        .trim()
        .as_bytes()
        .to_vec()
}
