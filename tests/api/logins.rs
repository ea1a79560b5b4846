//! The failed-login throttle: per username and per client address, right
//! password or not once it engages, the same for unknown usernames, and
//! over when its window passes.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};

const RIGHT: &str = "correct horse";
const WRONG: &str = "wrong horse!";

async fn app_with(adjust: impl FnOnce(&mut chat_server::config::Config)) -> TestApp {
    spawn_app_with(
        Arc::new(tempfile::TempDir::new().expect("temp dir")),
        adjust,
        axum::Router::new(),
    )
    .await
}

async fn login(app: &TestApp, username: &str, password: &str) -> (StatusCode, Value, Option<u64>) {
    let response = app
        .client
        .post(app.url("/auth/login"))
        .json(&json!({ "username": username, "password": password }))
        .send()
        .await
        .expect("login sent");
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response.json().await.expect("JSON body");
    (status, body, retry_after)
}

#[tokio::test]
async fn the_sixth_wrong_password_is_refused_even_when_the_password_is_then_right() {
    let app = app_with(|_| {}).await;
    app.register("alice").await;
    for _ in 0..5 {
        let (status, body, _) = login(&app, "alice", WRONG).await;
        assert_error(&(status, body), StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let (status, body, retry_after) = login(&app, "ALICE", RIGHT).await;
    assert_error(&(status, body), StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let wait = retry_after.expect("a Retry-After header");
    assert!((800..=900).contains(&wait), "about 15 minutes: {wait} s");

    // An unknown username is answered the same way, so the 429 says nothing
    // about whether an account exists.
    for _ in 0..5 {
        let (status, body, _) = login(&app, "nobody", WRONG).await;
        assert_error(&(status, body), StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let (status, body, retry_after) = login(&app, "nobody", RIGHT).await;
    assert_error(&(status, body), StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(retry_after.is_some());
}

#[tokio::test]
async fn other_users_from_the_same_address_log_in_until_the_address_limit() {
    let app = app_with(|c| c.login_failures_per_ip = 8).await;
    app.register("bob").await;
    app.register("carol").await;
    for _ in 0..5 {
        login(&app, "bob", WRONG).await;
    }
    assert_eq!(login(&app, "bob", RIGHT).await.0, StatusCode::TOO_MANY_REQUESTS);
    // carol is unaffected by bob's failures...
    let (status, body, _) = login(&app, "carol", RIGHT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ...and a success is not a failure: the address has 5 (bob's) so far.
    for _ in 0..3 {
        let (status, _, _) = login(&app, "carol", WRONG).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // Eight failures from this address: now nobody logs in from it.
    let (status, body, _) = login(&app, "carol", RIGHT).await;
    assert_error(&(status, body), StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let (status, _, _) = login(&app, "someone-else", WRONG).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_successful_login_starts_the_username_count_over() {
    let app = app_with(|_| {}).await;
    app.register("dave").await;
    for _ in 0..4 {
        login(&app, "dave", WRONG).await;
    }
    assert_eq!(login(&app, "dave", RIGHT).await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(login(&app, "dave", WRONG).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(&app, "dave", RIGHT).await.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn throttled_attempts_do_not_count_and_the_window_passes() {
    let app = app_with(|c| c.login_failure_window = Duration::from_secs(2)).await;
    app.register("erin").await;
    for _ in 0..5 {
        login(&app, "erin", WRONG).await;
    }
    // Refused attempts in the meantime do not push the end of the window.
    for _ in 0..3 {
        assert_eq!(login(&app, "erin", WRONG).await.0, StatusCode::TOO_MANY_REQUESTS);
    }
    let (_, _, retry_after) = login(&app, "erin", RIGHT).await;
    let wait = retry_after.expect("Retry-After");
    assert!((1..=2).contains(&wait), "{wait}");
    // The window is time itself: nothing to wait on but the clock.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body, _) = login(&app, "erin", RIGHT).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_count() {
    let app = Arc::new(app_with(|_| {}).await);
    app.register("frank").await;
    let guesses = (0..12).map(|_| {
        let app = Arc::clone(&app);
        async move { login(&app, "frank", WRONG).await.0 }
    });
    let statuses = futures::future::join_all(guesses).await;
    let wrong = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((wrong, refused), (5, 7), "{statuses:?}");
}
