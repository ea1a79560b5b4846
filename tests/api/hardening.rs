//! Limits and bounds: rate limits, caps, timeouts, headers, CORS, metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};
use crate::socket::{Auth, SocketClient};

async fn app_with(adjust: impl FnOnce(&mut chat_server::config::Config)) -> TestApp {
    spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        adjust,
        axum::Router::new(),
    )
    .await
}

#[tokio::test]
async fn sends_are_limited_per_user_across_rest_and_socket() {
    let app = app_with(|c| {
        c.sends_burst = 5;
        c.sends_per_second = 1;
    })
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut sock = SocketClient::of(&app, &alice).await;
    for i in 0..3 {
        app.send(&alice, json!({ "to": bob.id }), &format!("rest {i}"))
            .await;
    }
    for i in 0..2 {
        let ack = sock
            .emit_ack(
                "send_message",
                json!({ "to": bob.id, "text": format!("sock {i}") }),
            )
            .await;
        assert_eq!(ack["ok"], true);
    }
    let ack = sock
        .emit_ack("send_message", json!({ "to": bob.id, "text": "one too many" }))
        .await;
    assert_eq!(ack["error"]["code"], "rate_limited", "{ack}");

    let response = app
        .client
        .post(app.url("/chats/send-message"))
        .bearer_auth(&alice.token)
        .json(&json!({ "to": bob.id, "text": "also too many" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&retry), "Retry-After {retry}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");

    // Bob has his own budget, and alice's socket is still connected.
    app.send(&bob, json!({ "to": alice.id }), "fine").await;
    sock.expect_where("receive_message", |m| m["text"] == "fine")
        .await;
    let (_, history) = app
        .get(
            &format!("/chats/{}?limit=200", body_chat(&app, &alice).await),
            Some(&alice.token),
        )
        .await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        6,
        "refused sends stored nothing"
    );
}

async fn body_chat(app: &TestApp, account: &crate::helpers::Account) -> i64 {
    let (_, chats) = app.get("/chats", Some(&account.token)).await;
    chats["chats"][0]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn auth_is_limited_per_client_ip_and_proxies_are_trusted_only_when_configured() {
    let app = app_with(|c| {
        c.auth_burst = 3;
        c.auth_per_minute = 1;
    })
    .await;
    let register = |name: &str, forwarded: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/auth/register"))
            .json(&json!({ "username": name, "password": "correct horse" }));
        if let Some(ip) = forwarded {
            req = req.header("x-forwarded-for", ip);
        }
        req.send()
    };
    for i in 0..3 {
        assert_eq!(
            register(&format!("user{i}"), None).await.unwrap().status(),
            StatusCode::CREATED
        );
    }
    let refused = register("user3", Some("198.51.100.7")).await.unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the header is not believed"
    );
    assert!(refused.headers().contains_key("retry-after"));
    let login = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "user0", "password": "correct horse" }),
        )
        .await;
    assert_error(&login, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    // Behind a trusted proxy, each forwarded client has its own budget.
    let proxied = app_with(|c| {
        c.auth_burst = 1;
        c.auth_per_minute = 1;
        c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    })
    .await;
    for i in 0..4 {
        let response = proxied
            .client
            .post(proxied.url("/auth/register"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({ "username": format!("px{i}"), "password": "correct horse" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let again = proxied
        .client
        .post(proxied.url("/auth/login"))
        .header("x-forwarded-for", "203.0.113.0")
        .json(&json!({ "username": "px0", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn uploads_and_group_creation_have_their_own_limits_and_a_flag_lifts_all() {
    let app = app_with(|c| {
        c.uploads_burst = 1;
        c.uploads_per_minute = 1;
        c.groups_burst = 2;
        c.groups_per_minute = 1;
    })
    .await;
    let alice = app.register("alice").await;
    let to_self = [("to", alice.id.to_string())];
    let png = crate::uploads::PNG.to_vec();
    assert_eq!(
        app.upload(&alice, &to_self, "a.png", "image/png", png.clone())
            .await
            .0,
        StatusCode::CREATED
    );
    let refused = app
        .upload(&alice, &to_self, "b.png", "image/png", png.clone())
        .await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    for _ in 0..2 {
        app.create_group(&alice, "g", &[]).await;
    }
    let refused = app
        .post("/groups", Some(&alice.token), json!({ "name": "g3" }))
        .await;
    assert_error(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");

    let free = app_with(|c| {
        c.no_rate_limits = true;
        c.sends_burst = 1;
        c.auth_burst = 1;
    })
    .await;
    let bob = free.register("bob").await;
    free.register("carol").await;
    for i in 0..20 {
        free.send(&bob, json!({ "to": bob.id }), &format!("{i}")).await;
    }
}

#[tokio::test]
async fn sockets_per_user_are_capped() {
    let app = app_with(|c| c.max_sockets_per_user = 2).await;
    let alice = app.register("alice").await;
    let first = SocketClient::of(&app, &alice).await;
    let _second = SocketClient::of(&app, &alice).await;
    let third = SocketClient::connect(&app, Auth::Payload(&alice.token))
        .await
        .err();
    assert_eq!(third.as_deref(), Some("too many connections"));
    first.close().await;
    // The slot frees once the server has seen the disconnect.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        match SocketClient::connect(&app, Auth::Payload(&alice.token)).await {
            Ok(_) => break,
            Err(e) => assert_eq!(e, "too many connections"),
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn groups_are_capped_in_size() {
    let app = app_with(|c| c.max_group_members = 3).await;
    let users = [
        app.register("ann1").await,
        app.register("ann2").await,
        app.register("ann3").await,
        app.register("ann4").await,
    ];
    let too_big = app
        .post(
            "/groups",
            Some(&users[0].token),
            json!({ "name": "big", "member_ids": [users[1].id, users[2].id, users[3].id] }),
        )
        .await;
    assert_error(&too_big, StatusCode::BAD_REQUEST, "validation_failed");
    let group = app.create_group(&users[0], "full", &[&users[1], &users[2]]).await;
    let add = app
        .post(
            &format!("/groups/{}/add-user", group["id"]),
            Some(&users[0].token),
            json!({ "user_id": users[3].id }),
        )
        .await;
    assert_error(&add, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn slow_requests_time_out_and_huge_headers_are_refused() {
    let slow = axum::Router::new().route(
        "/test/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            "late"
        }),
    );
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().unwrap()),
        |c| c.request_timeout = Duration::from_secs(1),
        slow,
    )
    .await;
    let response = app.get("/test/slow", None).await;
    assert_error(&response, StatusCode::SERVICE_UNAVAILABLE, "timeout");

    let big = app
        .client
        .get(app.url("/healthz"))
        .header("x-padding", "p".repeat(20_000))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(
        big.json::<serde_json::Value>().await.unwrap()["error"]["code"],
        "headers_too_large"
    );
}

#[tokio::test]
async fn connections_over_the_cap_wait_their_turn() {
    let app = app_with(|c| c.max_connections = 2).await;
    // Two idle connections take both places.
    let a = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let url = app.url("/healthz");
    let waiting = tokio::spawn(async move { fresh.get(url).send().await.map(|r| r.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection is not served while two are open"
    );
    drop(a);
    let status = tokio::time::timeout(crate::helpers::WAIT, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    drop(b);
}

#[tokio::test]
async fn every_response_carries_security_headers_and_a_request_id() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    for path in ["/healthz", "/nope", "/auth/me", "/", "/openapi.json"] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("x-request-id"), "{path}");
    }
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-me-42");
    let page = app.client.get(app.url("/")).send().await.unwrap();
    assert!(
        page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
}

#[tokio::test]
async fn cors_is_an_explicit_allow_list() {
    let closed = spawn_app().await;
    let response = closed
        .client
        .get(closed.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let open = app_with(|c| c.cors_origins = vec!["https://app.example".into()]).await;
    let allowed = open
        .client
        .get(open.url("/healthz"))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let other = open
        .client
        .get(open.url("/healthz"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(!other.headers().contains_key("access-control-allow-origin"));
    let preflight = open
        .client
        .request(reqwest::Method::OPTIONS, open.url("/chats/send-message"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization,content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
}

#[tokio::test]
async fn metrics_describe_the_server_in_prometheus_format() {
    let app = app_with(|c| c.sends_burst = 1).await;
    let alice = app.register("alice").await;
    let mut sock = SocketClient::of(&app, &alice).await;
    app.send(&alice, json!({ "to": alice.id }), "counted").await;
    sock.expect("receive_message").await;
    let refused = app
        .post(
            "/chats/send-message",
            Some(&alice.token),
            json!({ "to": alice.id, "text": "x" }),
        )
        .await;
    assert_eq!(refused.0, StatusCode::TOO_MANY_REQUESTS);

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for name in [
        "chat_sockets_connected",
        "chat_messages_stored_total",
        "chat_messages_delivered_total",
        "chat_http_request_duration_seconds_bucket",
        "chat_writer_batch_size_bucket",
        "chat_rate_limited_total{limit=\"send\"}",
        "chat_password_hash_waiting",
    ] {
        assert!(text.contains(name), "{name} in\n{text}");
    }
    assert!(
        text.contains("route=\"/chats/send-message\""),
        "latency by route template"
    );
}
