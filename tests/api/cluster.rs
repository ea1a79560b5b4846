//! Several nodes as one service (run when the suite runs on PostgreSQL):
//! two servers on one database and one Redis, a test's own key prefix.
//! Events reach sockets on the other node; presence, the socket cap and
//! the failed-login throttle hold across nodes; a token from one node is
//! good on the other; a node without Redis will not share a database; and
//! the delivered-messages metric counts deliveries on every node.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{RedisPrefix, TestApp, database_for, on_postgres, redis_url, spawn_app_with};
use crate::socket::{Auth, SocketClient};

struct Cluster {
    a: TestApp,
    b: TestApp,
    url: String,
    _prefix: RedisPrefix,
}

async fn cluster(adjust: impl Fn(&mut chat_server::config::Config) + Clone + Send + 'static) -> Cluster {
    let prefix = RedisPrefix::new();
    let dir = Arc::new(tempfile::TempDir::new().expect("temp dir"));
    let url = database_for(dir.path()).await.expect("database").url.clone();
    let node = |dir: Arc<tempfile::TempDir>| {
        let (url, prefix, adjust) = (url.clone(), prefix.0.clone(), adjust.clone());
        spawn_app_with(
            dir,
            move |c| {
                c.database_url = Some(url);
                c.redis_url = Some(redis_url());
                c.redis_prefix = prefix;
                c.cluster_heartbeat = std::time::Duration::from_secs(1);
                adjust(c);
            },
            axum::Router::new(),
        )
    };
    let a = node(dir).await;
    let b = node(Arc::new(tempfile::TempDir::new().expect("temp dir"))).await;
    Cluster {
        a,
        b,
        url,
        _prefix: prefix,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_reach_sockets_on_the_other_node() {
    if !on_postgres() {
        return;
    }
    let Cluster { a, b, .. } = cluster(|_| {}).await;
    let alice = a.register("alice").await;
    // No shared --jwt-secret: the nodes share the one in the database.
    let (status, me) = b.get("/auth/me", Some(&alice.token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    let mut bob_on_b = SocketClient::of(&b, &bob).await;
    let mut carol_on_a = SocketClient::of(&a, &carol).await;
    let mut alice_on_a = SocketClient::of(&a, &alice).await;

    // A direct chat made on A reaches bob's socket on B, whose node learns
    // that he joined it.
    let sent = a.send(&alice, json!({ "to": bob.id }), "across").await;
    let got = bob_on_b.expect("receive_message").await;
    assert_eq!(got["id"], sent["id"]);

    // A group made on B; messages from either node reach every member.
    let (status, body) = b
        .post(
            "/groups",
            Some(&bob.token),
            json!({ "name": "both", "member_ids": [alice.id, carol.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let group_id = body["group"]["id"].as_i64().expect("id");
    alice_on_a.expect("group_created").await;
    carol_on_a.expect("group_created").await;
    let ack = bob_on_b
        .emit_ack(
            "group_message",
            json!({ "group_id": group_id, "text": "hello all" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    for socket in [&mut alice_on_a, &mut carol_on_a] {
        socket
            .expect_where("receive_message", |m| m["text"] == "hello all")
            .await;
    }
    let ack = alice_on_a
        .emit_ack("typing", json!({ "chat_id": group_id, "typing": true }))
        .await;
    assert_eq!(ack["ok"], true);
    let typing = bob_on_b.expect("typing").await;
    assert_eq!(typing["user_id"], alice.id);
    // Nothing of the group reached a socket outside it.
    let dave = a.register("dave").await;
    let mut dave_on_b = SocketClient::of(&b, &dave).await;
    dave_on_b.settle(&b, &dave).await;
    assert!(
        dave_on_b
            .buffered("receive_message")
            .iter()
            .all(|m| m["text"] != "hello all")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presence_and_the_socket_cap_hold_across_nodes() {
    if !on_postgres() {
        return;
    }
    let Cluster { a, b, .. } = cluster(|c| c.max_sockets_per_user = 2).await;
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    a.send(&alice, json!({ "to": bob.id }), "we share a chat").await;
    let mut alice_on_a = SocketClient::of(&a, &alice).await;

    let bob_on_b = SocketClient::of(&b, &bob).await;
    let online = alice_on_a.expect("presence").await;
    assert_eq!(
        (online["user_id"].as_i64(), &online["online"]),
        (Some(bob.id), &json!(true))
    );
    let (_, users) = a.get("/users?q=bob", Some(&alice.token)).await;
    assert_eq!(
        users["users"][0]["online"], true,
        "node A sees bob online: {users}"
    );

    // A second socket on the other node is not a new arrival; a third is
    // over the cap, whichever node it tries.
    let bob_on_a = SocketClient::of(&a, &bob).await;
    for node in [&a, &b] {
        let refused = SocketClient::connect(node, Auth::Payload(&bob.token)).await;
        assert_eq!(refused.err().as_deref(), Some("too many connections"));
    }
    bob_on_b.close().await;
    // Still online (the socket on A); then the last one goes.
    alice_on_a.settle(&a, &alice).await;
    assert!(
        alice_on_a.buffered("presence").is_empty(),
        "no offline while a socket remains"
    );
    bob_on_a.close().await;
    let offline = alice_on_a.expect("presence").await;
    assert_eq!(offline["online"], false);
    let (_, users) = b.get("/users?q=bob", Some(&alice.token)).await;
    assert_eq!(users["users"][0]["online"], false, "{users}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_logins_count_on_every_node() {
    if !on_postgres() {
        return;
    }
    let Cluster { a, b, .. } = cluster(|_| {}).await;
    a.register("erin").await;
    for node in [&a, &b, &a, &b, &a] {
        let (status, _) = node
            .post(
                "/auth/login",
                None,
                json!({ "username": "erin", "password": "wrong horse!" }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    for node in [&a, &b] {
        let (status, body) = node
            .post(
                "/auth/login",
                None,
                json!({ "username": "erin", "password": "correct horse" }),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_without_redis_will_not_share_the_database() {
    if !on_postgres() {
        return;
    }
    let Cluster { a, url, .. } = cluster(|_| {}).await;
    let config = {
        let mut c = chat_server::config::Config::with_data_dir(tempfile::TempDir::new().expect("dir").keep())
            .expect("config");
        c.database_url = Some(url.clone());
        c
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = chat_server::serve(config, listener, std::future::pending()).await;
    let why = refused.expect_err("refused").to_string();
    assert!(
        why.contains("already uses this database") && why.contains("--redis-url"),
        "{why}"
    );
    assert!(why.contains("chat-server node"), "names who holds it: {why}");
    assert_eq!(
        a.get("/healthz", None).await.0,
        StatusCode::OK,
        "the cluster serves on"
    );
}

/// `/metrics`' `chat_messages_delivered_total` of the server at `addr`.
async fn delivered(client: &reqwest::Client, addr: &str) -> f64 {
    let text = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix("chat_messages_delivered_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_node_counts_the_deliveries_to_its_own_sockets() {
    if !on_postgres() {
        return;
    }
    // Two processes, so that each has metrics of its own.
    let prefix = RedisPrefix::new();
    let (dir_a, dir_b) = (
        tempfile::TempDir::new().expect("dir"),
        tempfile::TempDir::new().expect("dir"),
    );
    let url = database_for(dir_a.path()).await.expect("database").url.clone();
    let env = || {
        vec![
            ("CHAT_DATABASE_URL", url.clone()),
            ("CHAT_REDIS_URL", redis_url()),
        ]
    };
    let flags = ["--redis-prefix", prefix.0.as_str()];
    let (mut node_a, a) = crate::process::start_binary_with(dir_a.path(), env(), &flags);
    let (mut node_b, b) = crate::process::start_binary_with(dir_b.path(), env(), &flags);
    let (a_addr, b_addr): (std::net::SocketAddr, std::net::SocketAddr) =
        (a.parse().expect("addr"), b.parse().expect("addr"));
    let http = reqwest::Client::builder()
        .timeout(crate::helpers::WAIT)
        .build()
        .expect("client");
    let register = |name: &'static str| {
        let (http, a) = (http.clone(), a.clone());
        async move {
            let body: serde_json::Value = http
                .post(format!("http://{a}/auth/register"))
                .json(&json!({ "username": name, "password": "correct horse" }))
                .send()
                .await
                .expect("register")
                .json()
                .await
                .expect("register body");
            (
                body["user"]["id"].as_i64().expect("id"),
                body["token"].as_str().expect("token").to_string(),
            )
        }
    };
    let (_, alice) = register("alice").await;
    let (bob_id, bob) = register("bob").await;
    let mut alice_on_a = SocketClient::connect_to(a_addr, Auth::Payload(&alice))
        .await
        .expect("alice");
    let mut bob_on_a = SocketClient::connect_to(a_addr, Auth::Payload(&bob))
        .await
        .expect("bob on a");
    let mut bob_on_b = SocketClient::connect_to(b_addr, Auth::Payload(&bob))
        .await
        .expect("bob on b");
    let before = (delivered(&http, &a).await, delivered(&http, &b).await);

    // Two messages from alice's socket on A: each reaches bob on A and on B.
    for text in ["one", "two"] {
        let ack = alice_on_a
            .emit_ack("send_message", json!({ "to": bob_id, "text": text }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
        bob_on_a.expect("receive_message").await;
        bob_on_b.expect("receive_message").await;
    }
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    let counts = loop {
        let now = (
            delivered(&http, &a).await - before.0,
            delivered(&http, &b).await - before.1,
        );
        if now.1 >= 2.0 || tokio::time::Instant::now() > deadline {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(
        counts,
        (2.0, 2.0),
        "A counts bob's socket there, B bob's socket there"
    );
    assert!(
        alice_on_a.buffered("receive_message").is_empty(),
        "the sender's socket is left out"
    );
    for node in [&mut node_a, &mut node_b] {
        let _ = node.kill();
        let _ = node.wait();
    }
}
