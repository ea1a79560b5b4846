//! Sessions and accounts (v2), over REST and the socket, on either store:
//! what a login answers, refresh-token rotation and reuse, revocation at
//! once (the next request 401, the session's sockets told and closed),
//! the devices list, password change, profile change, registration policy,
//! and bad input of every kind, each a clear error that writes nothing.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::socket::{Auth, SocketClient};

const PASSWORD: &str = "correct horse";

/// A login's answer, with the parts the tests use.
#[derive(Debug, Clone)]
struct Login {
    user_id: i64,
    session_id: i64,
    token: String,
    refresh: String,
    body: Value,
}

impl Login {
    fn from(body: Value) -> Login {
        Login {
            user_id: body["user"]["id"].as_i64().expect("user id"),
            session_id: body["session"]["id"].as_i64().expect("session id"),
            token: body["token"].as_str().expect("token").to_string(),
            refresh: body["refresh_token"].as_str().expect("refresh token").to_string(),
            body,
        }
    }

    fn account(&self) -> crate::helpers::Account {
        crate::helpers::Account {
            id: self.user_id,
            token: self.token.clone(),
        }
    }
}

async fn register(app: &TestApp, username: &str, device: &str) -> Login {
    let (status, body) = app
        .post(
            "/auth/register",
            None,
            json!({ "username": username, "password": PASSWORD, "device_name": device }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "register: {body}");
    Login::from(body)
}

async fn login(app: &TestApp, username: &str, device: &str) -> Login {
    let (status, body) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": username, "password": PASSWORD, "device_name": device }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "login: {body}");
    Login::from(body)
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.post("/auth/refresh", None, json!({ "refresh_token": token }))
        .await
}

async fn me_status(app: &TestApp, token: &str) -> StatusCode {
    app.get("/auth/me", Some(token)).await.0
}

async fn sessions_of(app: &TestApp, token: &str) -> Vec<Value> {
    let (status, body) = app.get("/auth/sessions", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "sessions: {body}");
    body["sessions"].as_array().expect("sessions").clone()
}

async fn delete(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.request(Method::DELETE, path, Some(token), None).await
}

#[tokio::test]
async fn a_login_is_a_session_with_a_refresh_token() {
    let app = spawn_app().await;
    let alice = register(&app, "alice", "laptop").await;
    let body = &alice.body;
    assert!(body["expires_at"].as_str().is_some());
    assert!(body["refresh_expires_at"].as_str().is_some());
    assert_ne!(alice.refresh, alice.token);
    let session = &body["session"];
    assert_eq!(session["device_name"], "laptop");
    assert_eq!(session["current"], true);
    assert_eq!(session["ip"], "127.0.0.1");
    for field in ["created_at", "last_used_at"] {
        assert!(session[field].as_str().is_some(), "{field}: {session}");
    }

    // Another device: a second session; both listed, the caller's marked,
    // the most recently used first.
    let phone = login(&app, "alice", "phone").await;
    assert_ne!(phone.session_id, alice.session_id);
    let listed = sessions_of(&app, &phone.token).await;
    let ids: Vec<i64> = listed.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [phone.session_id, alice.session_id]);
    assert_eq!(listed[0]["current"], true);
    assert_eq!(listed[1]["current"], false);
    assert_eq!(listed[1]["device_name"], "laptop");

    // The laptop is used again: it comes before the phone now (the order
    // is by use, not by login).
    let tablet = login(&app, "alice", "tablet").await;
    assert_eq!(me_status(&app, &alice.token).await, StatusCode::OK);
    let listed = sessions_of(&app, &tablet.token).await;
    let ids: Vec<i64> = listed.iter().map(|s| s["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, [tablet.session_id, alice.session_id, phone.session_id]);

    // A login without a device name is fine; its name is null.
    let (status, body) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["session"]["device_name"].is_null());
}

#[tokio::test]
async fn a_user_agent_is_kept_cut_and_a_huge_device_name_is_refused_writing_nothing() {
    let app = spawn_app().await;
    let alice = register(&app, "alice", "first").await;
    let response = app
        .client
        .post(app.url("/auth/login"))
        .header("user-agent", "Mozilla/5.0 ".repeat(1000))
        .json(&json!({ "username": "alice", "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let agent = body["session"]["user_agent"].as_str().unwrap();
    assert_eq!(agent.chars().count(), 256);

    for name in ["x".repeat(65), String::new(), "tab\there".into()] {
        let response = app
            .post(
                "/auth/login",
                None,
                json!({ "username": "alice", "password": PASSWORD, "device_name": name }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    }
    let (status, body) = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "bob", "password": PASSWORD, "device_name": "y".repeat(100) }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(sessions_of(&app, &alice.token).await.len(), 2);
    let (status, _) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "bob", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bob was not made");
}

#[tokio::test]
async fn a_refresh_rotates_the_pair_and_a_reused_token_revokes_the_session() {
    let app = spawn_app().await;
    let first = register(&app, "alice", "laptop").await;
    let other = login(&app, "alice", "phone").await;

    let (status, body) = refresh(&app, &first.refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = Login::from(body);
    assert_eq!(second.session_id, first.session_id, "the same session");
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.body["session"]["current"], true);
    assert_eq!(me_status(&app, &second.token).await, StatusCode::OK);
    assert_eq!(
        me_status(&app, &first.token).await,
        StatusCode::OK,
        "the older access token of a live session lives until it expires"
    );

    // The spent token again: someone has a copy. 401, and the session is
    // gone: every token of it, access and refresh alike.
    let response = refresh(&app, &first.refresh).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(me_status(&app, &second.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me_status(&app, &first.token).await, StatusCode::UNAUTHORIZED);
    let response = refresh(&app, &second.refresh).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    // The user's other session is untouched.
    assert_eq!(me_status(&app, &other.token).await, StatusCode::OK);
    let listed = sessions_of(&app, &other.token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], other.session_id);
}

#[tokio::test]
async fn bad_refresh_tokens_are_clear_errors() {
    let app = spawn_app().await;
    let alice = register(&app, "alice", "laptop").await;
    let bob = register(&app, "bob", "laptop").await;

    for body in [
        json!({}),
        json!({ "refresh_token": 42 }),
        json!({ "refresh_token": null }),
    ] {
        let response = app.post("/auth/refresh", None, body).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    }
    let truncated = &alice.refresh[..alice.refresh.len() - 1];
    let huge = "a".repeat(10_000);
    for token in ["", "garbage", truncated, huge.as_str(), alice.token.as_str()] {
        let response = refresh(&app, token).await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    // A refresh token is not a bearer token.
    let response = app.get("/auth/me", Some(&alice.refresh)).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    // None of that hurt anyone's session.
    assert_eq!(me_status(&app, &alice.token).await, StatusCode::OK);
    let (status, body) = refresh(&app, &bob.refresh).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], bob.user_id);
}

#[tokio::test]
async fn bad_refresh_tokens_count_as_failed_logins() {
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        |c| c.login_failures_per_ip = 3,
        axum::Router::new(),
    )
    .await;
    let alice = register(&app, "alice", "laptop").await;
    for attempt in 0..3 {
        let response = refresh(&app, &format!("guess-{attempt}")).await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let response = app
        .client
        .post(app.url("/auth/refresh"))
        .json(&json!({ "refresh_token": alice.refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_and_its_session_no_longer_listed() {
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        |c| c.refresh_ttl = Duration::from_secs(1),
        axum::Router::new(),
    )
    .await;
    let alice = register(&app, "alice", "laptop").await;
    // Expiry is about time itself: nothing to wait on but the clock.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let response = refresh(&app, &alice.refresh).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert!(sessions_of(&app, &alice.token).await.is_empty());
}

#[tokio::test]
async fn logout_stops_the_session_at_once_and_closes_its_sockets_only() {
    let app = spawn_app().await;
    let laptop = register(&app, "alice", "laptop").await;
    let phone = login(&app, "alice", "phone").await;
    let mut laptop_socket = SocketClient::of(&app, &laptop.account()).await;
    let mut phone_socket = SocketClient::of(&app, &phone.account()).await;

    let (status, body) = app.post("/auth/logout", Some(&laptop.token), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(me_status(&app, &laptop.token).await, StatusCode::UNAUTHORIZED);
    let response = refresh(&app, &laptop.refresh).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");

    let told = laptop_socket.expect("session_revoked").await;
    assert_eq!(told["session_id"], laptop.session_id);
    assert!(laptop_socket.closed_within(Duration::from_secs(1)).await);
    // A socket with the revoked token is refused.
    let refused = SocketClient::connect(&app, Auth::Payload(&laptop.token)).await;
    assert_eq!(refused.err().as_deref(), Some("unauthorized"));

    // The phone is untouched: it still hears its own messages.
    assert_eq!(me_status(&app, &phone.token).await, StatusCode::OK);
    phone_socket.settle(&app, &phone.account()).await;
    assert!(phone_socket.buffered("session_revoked").is_empty());
    assert!(!phone_socket.closed);
}

#[tokio::test]
async fn signing_a_device_out_works_at_once_and_other_users_sessions_are_not_found() {
    let app = spawn_app().await;
    let laptop = register(&app, "alice", "laptop").await;
    let phone = login(&app, "alice", "phone").await;
    let bob = register(&app, "bob", "laptop").await;
    let mut phone_socket = SocketClient::of(&app, &phone.account()).await;

    let path = |id: i64| format!("/auth/sessions/{id}");
    // Another user's session, one that never was, and ids that are not ids.
    let response = delete(&app, &path(bob.session_id), &laptop.token).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    let response = delete(&app, &path(999_999), &laptop.token).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    for bad in ["abc", "0", "-1", "1.5", "99999999999999999999"] {
        let response = delete(&app, &format!("/auth/sessions/{bad}"), &laptop.token).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    }
    assert_eq!(me_status(&app, &bob.token).await, StatusCode::OK);
    let response = app.get("/auth/sessions", None).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");

    let (status, _) = delete(&app, &path(phone.session_id), &laptop.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &phone.token).await, StatusCode::UNAUTHORIZED);
    let told = phone_socket.expect("session_revoked").await;
    assert_eq!(told["session_id"], phone.session_id);
    assert!(phone_socket.closed_within(Duration::from_secs(1)).await);
    let listed = sessions_of(&app, &laptop.token).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], laptop.session_id);
    // Gone already: not found the second time.
    let response = delete(&app, &path(phone.session_id), &laptop.token).await;
    assert_error(&response, StatusCode::NOT_FOUND, "not_found");
    // Signing out the current session is logging out.
    let (status, _) = delete(&app, &path(laptop.session_id), &laptop.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me_status(&app, &laptop.token).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_password_change_keeps_this_session_and_ends_the_others() {
    let app = spawn_app().await;
    let laptop = register(&app, "alice", "laptop").await;
    let phone = login(&app, "alice", "phone").await;
    let mut phone_socket = SocketClient::of(&app, &phone.account()).await;
    let change = |current: &str, new: &str| json!({ "current_password": current, "new_password": new });

    let response = app
        .post(
            "/auth/password",
            Some(&laptop.token),
            change("wrong password", "a new password"),
        )
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let response = app
        .post("/auth/password", Some(&laptop.token), change(PASSWORD, "short"))
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    assert!(
        response.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("new_password")
    );
    let response = app
        .post(
            "/auth/password",
            Some(&laptop.token),
            json!({ "new_password": "a new password" }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    let response = app
        .post("/auth/password", None, change(PASSWORD, "a new password"))
        .await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        me_status(&app, &phone.token).await,
        StatusCode::OK,
        "nothing changed yet"
    );

    let (status, body) = app
        .post(
            "/auth/password",
            Some(&laptop.token),
            change(PASSWORD, "a new password"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let renewed = Login::from(body);
    assert_eq!(renewed.session_id, laptop.session_id);
    assert_eq!(
        me_status(&app, &laptop.token).await,
        StatusCode::OK,
        "its access token still works"
    );
    assert_eq!(me_status(&app, &renewed.token).await, StatusCode::OK);
    let response = refresh(&app, &laptop.refresh).await;
    assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(
        me_status(&app, &laptop.token).await,
        StatusCode::OK,
        "the replaced refresh token is not a spent one: no reuse alarm"
    );
    let (status, _) = refresh(&app, &renewed.refresh).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(me_status(&app, &phone.token).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        phone_socket.expect("session_revoked").await["session_id"],
        phone.session_id
    );
    assert!(phone_socket.closed_within(Duration::from_secs(1)).await);
    let (status, _) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": "a new password" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_new_display_name_reaches_the_users_who_share_a_chat_and_no_one_else() {
    let app = spawn_app().await;
    let alice = register(&app, "alice", "laptop").await;
    let bob = register(&app, "bob", "laptop").await;
    let stranger = register(&app, "stranger", "laptop").await;
    app.send(&alice.account(), json!({ "to": bob.user_id }), "hi bob")
        .await;
    let mut alice_socket = SocketClient::of(&app, &alice.account()).await;
    let mut bob_socket = SocketClient::of(&app, &bob.account()).await;
    let mut stranger_socket = SocketClient::of(&app, &stranger.account()).await;
    let rename = |name: Value| json!({ "display_name": name });

    for bad in [
        json!(""),
        json!("   "),
        json!("x".repeat(65)),
        json!(7),
        Value::Null,
    ] {
        let response = app
            .request(Method::PATCH, "/auth/me", Some(&alice.token), Some(rename(bad)))
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    }
    let (status, body) = app
        .request(
            Method::PATCH,
            "/auth/me",
            Some(&alice.token),
            Some(rename(json!(" Alice L. "))),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["display_name"], "Alice L.");
    assert_eq!(body["user"]["username"], "alice");
    for socket in [&mut alice_socket, &mut bob_socket] {
        let event = socket.expect("user_updated").await;
        assert_eq!(event["user"]["id"], alice.user_id);
        assert_eq!(event["user"]["display_name"], "Alice L.");
    }
    // The same name again changes nothing and tells no one.
    let (status, _) = app
        .request(
            Method::PATCH,
            "/auth/me",
            Some(&alice.token),
            Some(rename(json!("Alice L."))),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    alice_socket.settle(&app, &alice.account()).await;
    bob_socket.settle(&app, &bob.account()).await;
    stranger_socket.settle(&app, &stranger.account()).await;
    assert!(alice_socket.buffered("user_updated").is_empty());
    assert!(bob_socket.buffered("user_updated").is_empty());
    assert!(stranger_socket.buffered("user_updated").is_empty());
    let (_, me) = app.get("/auth/me", Some(&bob.token)).await;
    assert_eq!(me["user"]["display_name"], "bob");
    let (_, users) = app.get("/users?q=alice", Some(&bob.token)).await;
    assert_eq!(users["users"][0]["display_name"], "Alice L.");
}

#[tokio::test]
async fn closed_registration_refuses_new_accounts() {
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        |c| c.registration = chat_server::config::Registration::Closed,
        axum::Router::new(),
    )
    .await;
    let response = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_error(&response, StatusCode::FORBIDDEN, "registration_closed");
    // Closed before anything is looked at: even a bad body.
    let response = app.post("/auth/register", None, json!({})).await;
    assert_error(&response, StatusCode::FORBIDDEN, "registration_closed");
    let (status, _) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no account was made");
}

#[tokio::test]
async fn a_token_that_names_no_session_is_refused() {
    let app = spawn_app().await;
    let alice = register(&app, "alice", "laptop").await;
    let secret = crate::helpers::read_secret(&app.data_path()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let forge = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let id = alice.user_id;
    let sid = alice.session_id;
    for claims in [
        // A v1 token, made before sessions: no session to revoke, refused.
        json!({ "sub": id.to_string(), "iat": now, "exp": now + 600 }),
        json!({ "sub": id.to_string(), "sid": 999_999, "iat": now, "exp": now + 600 }),
        // Alice's session with someone else's user id.
        json!({ "sub": (id + 1).to_string(), "sid": sid, "iat": now, "exp": now + 600 }),
        json!({ "sub": id.to_string(), "sid": "1", "iat": now, "exp": now + 600 }),
    ] {
        let response = app.get("/auth/me", Some(&forge(claims.clone()))).await;
        assert_error(&response, StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let good = forge(json!({ "sub": id.to_string(), "sid": sid, "iat": now, "exp": now + 600 }));
    assert_eq!(me_status(&app, &good).await, StatusCode::OK);
}

#[tokio::test]
async fn sessions_and_revocations_outlive_a_restart() {
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let app = spawn_app_with(Arc::clone(&dir), |_| {}, axum::Router::new()).await;
    let kept = register(&app, "alice", "laptop").await;
    let ended = login(&app, "alice", "phone").await;
    let (status, _) = app.post("/auth/logout", Some(&ended.token), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    app.stop().await;

    let app = spawn_app_with(dir, |_| {}, axum::Router::new()).await;
    assert_eq!(me_status(&app, &kept.token).await, StatusCode::OK);
    assert_eq!(me_status(&app, &ended.token).await, StatusCode::UNAUTHORIZED);
    let (status, _) = refresh(&app, &kept.refresh).await;
    assert_eq!(status, StatusCode::OK);
}
