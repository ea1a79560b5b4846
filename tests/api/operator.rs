//! The operator's `chat-server users …` commands, run as the real binary
//! beside a running server on the same store (either one): accounts made
//! while registration is closed, disabled (logins 403, tokens 401, sockets
//! told and closed), enabled, passwords reset (every session ended), the
//! list; passwords from standard input only.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Account, TestApp, assert_error, spawn_app_with};
use crate::socket::SocketClient;

/// Runs `chat-server users ARGS` against the app's store, with `stdin`.
fn users(app: &TestApp, args: &[&str], stdin: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_chat-server"));
    command
        .arg("users")
        .args(args)
        .arg("--data-dir")
        .arg(app.data_path())
        .env_remove("CHAT_DATABASE_URL")
        .env_remove("CHAT_REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(db) = &app.database {
        command.arg("--database-url").arg(&db.url);
    }
    let mut child = command.spawn().expect("chat-server users runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("password written");
    child.wait_with_output().expect("chat-server users ends")
}

fn succeeded(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "exit {:?}: {stdout} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, serde_json::Value) {
    app.post(
        "/auth/login",
        None,
        json!({ "username": username, "password": password }),
    )
    .await
}

async fn logged_in(app: &TestApp, username: &str, password: &str) -> Account {
    let (status, body) = login(app, username, password).await;
    assert_eq!(status, StatusCode::OK, "login {username}: {body}");
    Account {
        id: body["user"]["id"].as_i64().unwrap(),
        token: body["token"].as_str().unwrap().to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_manages_accounts_while_the_server_runs() {
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        |c| c.registration = chat_server::config::Registration::Closed,
        axum::Router::new(),
    )
    .await;

    // Closed registration: the operator makes the accounts.
    let out = succeeded(&users(
        &app,
        &["add", "carol", "--display-name", "Carol C."],
        "carol's password\n",
    ));
    assert!(out.contains("added user carol"), "{out}");
    succeeded(&users(&app, &["add", "dave"], "dave's password\r\n"));
    let carol = logged_in(&app, "carol", "carol's password").await;
    let dave = logged_in(&app, "dave", "dave's password").await;
    let (_, me) = app.get("/auth/me", Some(&carol.token)).await;
    assert_eq!(me["user"]["display_name"], "Carol C.");

    // Refusals are clear and change nothing.
    for (args, stdin) in [
        (vec!["add", "carol"], "another password\n"),
        (vec!["add", "no spaces allowed"], "a password\n"),
        (vec!["add", "erin"], "short\n"),
        (vec!["add", "erin"], ""),
        (vec!["disable", "nobody"], ""),
        (vec!["reset-password", "nobody"], "a new password\n"),
    ] {
        let output = users(&app, &args, stdin);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(!output.stderr.is_empty(), "{args:?} says why");
    }
    let (status, _) = login(&app, "erin", "a password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "erin was never made");

    let listed = succeeded(&users(&app, &["list"], ""));
    assert!(listed.contains("carol") && listed.contains("dave"), "{listed}");
    assert!(!listed.contains("erin"));

    // Disabled: the open socket is told and closed, the token refused, a
    // login (with the right password) 403.
    let mut socket = SocketClient::of(&app, &carol).await;
    let out = succeeded(&users(&app, &["disable", "carol"], ""));
    assert!(out.contains("1 session(s) signed out"), "{out}");
    let told = socket.expect("session_revoked").await;
    assert!(told["session_id"].as_i64().is_some());
    assert!(socket.closed_within(Duration::from_secs(1)).await);
    let response = app.get("/auth/me", Some(&carol.token)).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    let response = login(&app, "carol", "carol's password").await;
    assert_error(&response, StatusCode::FORBIDDEN, "account_disabled");
    let response = login(&app, "carol", "a wrong password").await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let listed = succeeded(&users(&app, &["list"], ""));
    let carol_line = listed.lines().find(|l| l.contains("carol")).unwrap();
    assert!(carol_line.contains("disabled"), "{listed}");
    // Dave is untouched.
    assert_eq!(app.get("/auth/me", Some(&dave.token)).await.0, StatusCode::OK);

    succeeded(&users(&app, &["enable", "carol"], ""));
    logged_in(&app, "carol", "carol's password").await;

    // A reset password ends every session of the user at once.
    let mut dave_socket = SocketClient::of(&app, &dave).await;
    let dave_phone = logged_in(&app, "dave", "dave's password").await;
    let out = succeeded(&users(&app, &["reset-password", "dave"], "dave's new password\n"));
    assert!(out.contains("2 session(s) signed out"), "{out}");
    assert_eq!(
        app.get("/auth/me", Some(&dave.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/auth/me", Some(&dave_phone.token)).await.0,
        StatusCode::UNAUTHORIZED
    );
    dave_socket.expect("session_revoked").await;
    assert!(dave_socket.closed_within(Duration::from_secs(1)).await);
    let (status, _) = login(&app, "dave", "dave's password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    logged_in(&app, "dave", "dave's new password").await;
}

#[test]
fn a_password_is_never_taken_from_the_command_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["users", "add", "frank", "--password", "on the command line"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--password"));
}
