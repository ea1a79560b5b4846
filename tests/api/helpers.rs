//! `spawn_app()`: the real server on port 0 with a fresh data dir, and
//! typed helpers that keep the tests reading as stories.
//!
//! The store is SQLite in that data dir, unless `CHAT_TEST_DATABASE_URL`
//! names a PostgreSQL server (e.g. `postgres://postgres@127.0.0.1/postgres`):
//! then each data dir gets a database of its own on it, created for the
//! test and dropped after it, and every suite runs the same on both. The
//! blob store is the data dir's folder, or S3 (see [`crate::blobstore`]).

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
    /// The PostgreSQL database of this data dir, when testing on one.
    pub database: Option<Arc<TestDatabase>>,
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
    let database = database_for(data_dir.path()).await;
    config.database_url = database.as_ref().map(|d| d.url.clone());
    if let Some((store, endpoint)) = crate::blobstore::server_flags(data_dir.path()).await {
        config.blob_store = chat_server::config::BlobStoreKind::S3(store);
        config.s3_endpoint = Some(endpoint);
    }
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
        database,
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

/// `CHAT_DATABASE_URL` for a server process started by a test on `dir`:
/// its own PostgreSQL database when the suite runs on one (none for
/// SQLite, which lives in the data dir).
pub async fn database_env(dir: &Path) -> Vec<(&'static str, String)> {
    match database_for(dir).await {
        Some(db) => vec![("CHAT_DATABASE_URL", db.url.clone())],
        None => Vec::new(),
    }
}

/// The Redis that cluster tests use (`CHAT_TEST_REDIS_URL`, by default the
/// machine's own).
pub fn redis_url() -> String {
    std::env::var("CHAT_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into())
}

/// A key prefix of one cluster test's own; its keys are deleted when it is
/// dropped.
pub struct RedisPrefix(pub String);

impl RedisPrefix {
    pub fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        RedisPrefix(format!("chat-test-{}-{n}", std::process::id()))
    }
}

impl Drop for RedisPrefix {
    fn drop(&mut self) {
        let pattern = format!("{}*", self.0);
        let _ = std::thread::spawn(move || -> redis::RedisResult<()> {
            let client = redis::Client::open(redis_url())?;
            let mut conn = client.get_connection()?;
            let keys: Vec<String> = redis::cmd("KEYS").arg(&pattern).query(&mut conn)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).query::<()>(&mut conn)?;
            }
            Ok(())
        })
        .join();
    }
}

/// The PostgreSQL server the suite runs against, if any.
pub fn postgres_base() -> Option<String> {
    std::env::var("CHAT_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// Whether the suite runs on PostgreSQL (tests of SQLite's own mechanics
/// skip themselves then).
pub fn on_postgres() -> bool {
    postgres_base().is_some()
}

/// A database made for one test's data dir; dropped with the last app on
/// that dir (or, if a test outlives its apps, swept by the next run).
pub struct TestDatabase {
    pub url: String,
    name: String,
    base: String,
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Drop runs outside async code's reach: a thread with its own runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

static DATABASES: std::sync::Mutex<Vec<(PathBuf, Arc<TestDatabase>)>> = std::sync::Mutex::new(Vec::new());

/// Forgets (and so drops) the database of a data dir nobody uses any more.
pub fn forget_database(dir: &Path) {
    let gone: Vec<_> = {
        let mut all = DATABASES.lock().unwrap();
        let (gone, kept) = all.drain(..).partition(|(d, _)| d == dir);
        *all = kept;
        gone
    };
    drop(gone);
}

/// Drops the test databases of earlier runs whose process is gone.
async fn sweep_stale_databases(client: &tokio_postgres::Client) {
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'chat\\_test\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
        }
    }
}

/// The database of a data dir: made on first use, the same one for an app
/// restarted on that dir.
pub async fn database_for(dir: &Path) -> Option<Arc<TestDatabase>> {
    let base = postgres_base()?;
    if let Some((_, existing)) = DATABASES.lock().unwrap().iter().find(|(d, _)| d == dir) {
        return Some(Arc::clone(existing));
    }
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("chat_test_{}_{n}", std::process::id());
    let (client, conn) = tokio_postgres::connect(&base, tokio_postgres::NoTls)
        .await
        .expect("the PostgreSQL server of CHAT_TEST_DATABASE_URL answers");
    tokio::spawn(conn);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    if !SWEPT.is_completed() {
        SWEPT.call_once(|| {});
        sweep_stale_databases(&client).await;
    }
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create a test database");
    let (head, query) = base
        .split_once('?')
        .map_or((base.as_str(), None), |(h, q)| (h, Some(q)));
    let server = head
        .rsplit_once('/')
        .filter(|(s, _)| s.contains("//"))
        .map_or(head, |(s, _)| s);
    let url = match query {
        Some(q) => format!("{server}/{name}?{q}"),
        None => format!("{server}/{name}"),
    };
    let database = Arc::new(TestDatabase { url, name, base });
    DATABASES
        .lock()
        .unwrap()
        .push((dir.to_path_buf(), Arc::clone(&database)));
    Some(database)
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // The last app on this data dir (a restarted one shares it).
        if self.database.is_some() && Arc::strong_count(&self.data_dir) == 1 {
            forget_database(self.data_dir.path());
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

/// The token secret of the server on `dir`: in its data dir on SQLite, in
/// its database on PostgreSQL.
pub async fn read_secret(dir: &Path) -> Vec<u8> {
    if let Some(db) = database_for(dir).await {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(conn);
        let row = client
            .query_one("SELECT value FROM settings WHERE name = 'token_secret'", &[])
            .await
            .expect("the token secret in the database");
        return row.get(0);
    }
    std::fs::read_to_string(dir.join("jwt-secret"))
        .expect("secret file")
        .trim()
        .as_bytes()
        .to_vec()
}
