//! The contract's error body for everything that is not a domain error:
//! malformed JSON, wrong content type, unknown routes and methods, bodies
//! that are too large, and panics. Plus health and the process itself.

use std::process::Command;
use std::sync::Arc;

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{assert_error, spawn_app, spawn_app_with};

async fn raw_post(
    app: &crate::helpers::TestApp,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let ct = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        ct.as_deref(),
        Some("application/json; charset=utf-8"),
        "JSON error body, with the contract's content type, for {status}"
    );
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_is_validation_failed() {
    let app = spawn_app().await;
    for body in [
        &b"{\"username\": "[..],
        b"not json",
        b"",
        b"{\"username\":\"a\",}",
    ] {
        let r = raw_post(&app, "/auth/register", "application/json", body.to_vec()).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "validation_failed");
    }
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let body = br#"{"username":"alice","password":"12345678"}"#.to_vec();
    let r = raw_post(&app, "/auth/register", "text/plain", body).await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let huge = format!(
        r#"{{"username":"alice","password":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let r = raw_post(&app, "/auth/register", "application/json", huge.into_bytes()).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    assert_error(&app.get("/nope", None).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(
        &app.get("/chats/1/nothing", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let r = app
        .request(reqwest::Method::DELETE, "/auth/login", None, None)
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app.request(reqwest::Method::PUT, "/healthz", None, None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let boom = axum::Router::new().route(
        "/test/panic",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            // Index out of bounds, as a real bug would.
            format!("{}", v[usize::from(v.is_empty())])
        }),
    );
    let app = spawn_app_with(Arc::new(tempfile::TempDir::new().unwrap()), |_| {}, boom).await;
    let r = app.get("/test/panic", None).await;
    assert_error(&r, StatusCode::INTERNAL_SERVER_ERROR, "internal");
    assert_eq!(
        r.1["error"]["message"], "internal server error",
        "no internals leak"
    );
    let r = app.get("/test/panic", None).await;
    assert_eq!(r.0, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, body) = app.get("/healthz", None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, serde_json::json!({ "status": "ok" }))
    );
    app.register("alice").await;
}

/// Log lines written by the server, as text.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// Single-threaded (the default): the server runs on this thread, under the
// subscriber set here.
#[tokio::test]
async fn an_internal_error_is_logged_with_its_request_id_and_cause() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);
    // Another test thread's subscriber may have cached "never" for the
    // error's callsite meanwhile (seen once under load): ask again.
    tracing::callsite::rebuild_interest_cache();
    let boom = axum::Router::new().route(
        "/test/panic",
        get(|| async {
            let v: Vec<u8> = Vec::new();
            format!("{}", v[usize::from(v.is_empty())])
        }),
    );
    let app = spawn_app_with(Arc::new(tempfile::TempDir::new().unwrap()), |_| {}, boom).await;
    let response = app
        .client
        .get(app.url("/test/panic"))
        .header("x-request-id", "trace-the-500")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(response.headers()["x-request-id"], "trace-the-500");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("internal error"))
        .unwrap_or_else(|| panic!("an internal error line in\n{text}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("trace-the-500"), "the request id in {line}");
    assert!(line.contains("/test/panic"), "the route in {line}");
    assert!(line.contains("index out of bounds"), "the cause in {line}");
}

// Multi-threaded: the blocking `Command` must not stall the server's runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_subcommand_reports_the_server_state() {
    let app = spawn_app().await;
    let exe = env!("CARGO_BIN_EXE_chat-server");
    let ok = Command::new(exe)
        .args(["healthcheck", "--url", &app.url("/healthz")])
        .status()
        .unwrap();
    assert!(ok.success());
    let addr = app.addr.to_string();
    let via_addr = Command::new(exe)
        .args(["healthcheck", "--addr", &addr])
        .status()
        .unwrap();
    assert!(via_addr.success());
    app.stop().await;
    let down = Command::new(exe)
        .args(["healthcheck", "--addr", &addr, "--timeout", "2s"])
        .status()
        .unwrap();
    assert!(!down.success());
}

#[test]
fn help_documents_every_flag_and_its_environment_variable() {
    let exe = env!("CARGO_BIN_EXE_chat-server");
    let out = Command::new(exe).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for (flag, env) in [
        ("--addr", "CHAT_ADDR"),
        ("--data-dir", "CHAT_DATA_DIR"),
        ("--jwt-secret", "CHAT_JWT_SECRET"),
        ("--token-ttl", "CHAT_TOKEN_TTL"),
        ("--log-format", "CHAT_LOG_FORMAT"),
        ("--sync", "CHAT_SYNC"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} in\n{help}"
        );
    }
}

#[test]
fn the_readme_documents_every_flag() {
    let exe = env!("CARGO_BIN_EXE_chat-server");
    let out = Command::new(exe).args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let flags: Vec<&str> = help
        .split_whitespace()
        .filter(|w| w.starts_with("--") && w.len() > 2 && *w != "--help")
        .collect();
    assert!(flags.len() > 20, "{flags:?}");
    for flag in flags {
        let row = format!("| `{flag}` |");
        assert!(readme.contains(&row), "README's configuration table lacks {flag}");
    }
}
