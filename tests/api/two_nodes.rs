//! Two servers on one PostgreSQL database, a cluster through Redis (run
//! when the suite runs on PostgreSQL): message ids grow in commit order
//! across both, so a client paging `/sync` by the highest id it has seen
//! never skips a message that commits later; a `client_id` sent to both at
//! once stores one message; nodes starting at once migrate once; a session
//! revoked on one node is refused on the other at once, and its sockets
//! there are told and closed.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{RedisPrefix, TestApp, database_for, on_postgres, redis_url, spawn_app_with};

const SECRET: &str = "a secret both nodes share, long enough";

pub async fn two_nodes() -> (Arc<TestApp>, Arc<TestApp>, RedisPrefix) {
    let prefix = RedisPrefix::new();
    let first_dir = Arc::new(tempfile::TempDir::new().expect("temp dir"));
    let url = database_for(first_dir.path())
        .await
        .expect("a PostgreSQL database")
        .url
        .clone();
    let node = |dir: Arc<tempfile::TempDir>| {
        let (url, prefix) = (url.clone(), prefix.0.clone());
        spawn_app_with(
            dir,
            move |c| {
                c.database_url = Some(url);
                c.redis_url = Some(redis_url());
                c.redis_prefix = prefix;
                c.jwt_secret = Some(SECRET.into());
                c.no_rate_limits = true;
            },
            axum::Router::new(),
        )
    };
    let a = node(first_dir).await;
    let b = node(Arc::new(tempfile::TempDir::new().expect("temp dir"))).await;
    (Arc::new(a), Arc::new(b), prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_cursor_never_skips_a_message_written_through_either_node() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a PostgreSQL database");
        return;
    }
    let (a, b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let carol = b.register("carol").await;
    let group = a.create_group(&alice, "both nodes", &[&bob, &carol]).await;
    let group_id = group["id"].as_i64().expect("group id");

    // Six writers, three on each node, all into one group at once.
    let writing = Arc::new(AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..6 {
        let (node, from) = if w % 2 == 0 {
            (Arc::clone(&a), alice.clone())
        } else {
            (Arc::clone(&b), bob.clone())
        };
        writers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for n in 0..60 {
                let message = node
                    .send(&from, json!({ "group_id": group_id }), &format!("w{w} n{n}"))
                    .await;
                ids.push(message["id"].as_i64().expect("id"));
            }
            ids
        }));
    }
    // carol catches up by the highest id she has seen, from either node.
    let poller = {
        let (a, b, carol, writing) = (
            Arc::clone(&a),
            Arc::clone(&b),
            carol.clone(),
            Arc::clone(&writing),
        );
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut cursor = 0;
            let mut round = 0;
            loop {
                let still_writing = writing.load(Ordering::SeqCst);
                let node = if round % 2 == 0 { &a } else { &b };
                round += 1;
                let (status, page) = node
                    .get(&format!("/sync?after={cursor}&limit=200"), Some(&carol.token))
                    .await;
                assert_eq!(status, StatusCode::OK, "{page}");
                let ids: Vec<i64> = page["messages"]
                    .as_array()
                    .expect("messages")
                    .iter()
                    .map(|m| m["id"].as_i64().expect("id"))
                    .collect();
                if let Some(&last) = ids.last() {
                    cursor = last;
                }
                seen.extend(ids.iter().copied());
                if !still_writing && ids.is_empty() {
                    return seen;
                }
            }
        })
    };
    let mut acked = BTreeSet::new();
    for writer in writers {
        acked.extend(writer.await.expect("writer"));
    }
    writing.store(false, Ordering::SeqCst);
    let seen = poller.await.expect("poller");

    assert!(seen.windows(2).all(|w| w[0] < w[1]), "sync pages ascend");
    let seen: BTreeSet<i64> = seen.into_iter().collect();
    let missed: Vec<_> = acked.difference(&seen).collect();
    assert!(
        missed.is_empty(),
        "acked but never seen by a cursor that only moves forward: {missed:?}"
    );
    assert_eq!(acked.len(), 360);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_on_one_node_is_refused_on_the_other_at_once() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a PostgreSQL database");
        return;
    }
    let (a, b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    let login = |app: Arc<TestApp>| async move {
        let (status, body) = app
            .post(
                "/auth/login",
                None,
                json!({ "username": "alice", "password": "correct horse" }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    // Each session is first seen live on B (so B remembers it), then ended
    // on A; B refuses it within 50 ms (the announce is on its way to B
    // when A answers: under load B may take a moment to read it). Twenty
    // times: B's reading of the store's log (every 0.25 s) cannot be what
    // passes this.
    for _ in 0..20 {
        let session = login(Arc::clone(&a)).await;
        let token = session["token"].as_str().unwrap();
        assert_eq!(b.get("/auth/me", Some(token)).await.0, StatusCode::OK);
        let (status, _) = a.post("/auth/logout", Some(token), json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(50);
        loop {
            let status = b.get("/auth/me", Some(token)).await.0;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "B still accepts the ended session"
            );
            tokio::task::yield_now().await;
        }
    }

    // A socket on B of a session signed out on A is told and closed.
    let phone = login(Arc::clone(&a)).await;
    let phone_account = crate::helpers::Account {
        id: alice.id,
        token: phone["token"].as_str().unwrap().to_string(),
    };
    let mut socket = crate::socket::SocketClient::of(&b, &phone_account).await;
    let session_id = phone["session"]["id"].as_i64().unwrap();
    let (status, _) = a
        .request(
            reqwest::Method::DELETE,
            &format!("/auth/sessions/{session_id}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(socket.expect("session_revoked").await["session_id"], session_id);
    assert!(socket.closed_within(std::time::Duration::from_secs(1)).await);
    assert_eq!(b.get("/auth/me", Some(&alice.token)).await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_id_sent_to_both_nodes_at_once_stores_one_message() {
    if !on_postgres() {
        eprintln!("skipped: two nodes share a PostgreSQL database");
        return;
    }
    let (a, b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    let bob = b.register("bob").await;
    let attempts = (0..10).map(|i| {
        let node = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let (alice, to) = (alice.clone(), bob.id);
        async move {
            node.post(
                "/chats/send-message",
                Some(&alice.token),
                json!({ "to": to, "text": "once", "client_id": "the-same-key" }),
            )
            .await
        }
    });
    let answers: Vec<(StatusCode, Value)> = futures::future::join_all(attempts).await;
    let created = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    assert_eq!(created, 1, "{answers:?}");
    let ids: BTreeSet<i64> = answers
        .iter()
        .map(|(s, body)| {
            assert!(s.is_success(), "{body}");
            body["message"]["id"].as_i64().expect("id")
        })
        .collect();
    assert_eq!(ids.len(), 1, "every answer names the one message");
    let chat_id = answers[0].1["message"]["chat_id"].as_i64().expect("chat");
    let (_, history) = b.get(&format!("/chats/{chat_id}"), Some(&bob.token)).await;
    assert_eq!(history["messages"].as_array().map(Vec::len), Some(1), "{history}");
}

/// The same two tests without the ordering lock would fail: this checks the
/// lock is what the writers take, so that a refactoring cannot drop it
/// unnoticed.
#[tokio::test]
async fn write_batches_take_the_cluster_wide_ordering_lock() {
    if !on_postgres() {
        return;
    }
    let (a, _b, _prefix) = two_nodes().await;
    let alice = a.register("alice").await;
    // While a session holds the lock, writes wait; reads do not.
    let url = a.database.as_ref().map(|d| d.url.clone()).expect("database");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .execute("SELECT pg_advisory_lock($1)", &[&0x6368_6174_i64])
        .await
        .expect("lock");
    let send = {
        let (a, alice) = (Arc::clone(&a), alice.clone());
        tokio::spawn(async move { a.send(&alice, json!({ "to": alice.id }), "waits").await })
    };
    let (status, _) = a.get("/users", Some(&alice.token)).await;
    assert_eq!(status, StatusCode::OK, "reads go on");
    assert!(!send.is_finished(), "the write waits for the lock");
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&0x6368_6174_i64])
        .await
        .expect("unlock");
    let message = tokio::time::timeout(crate::helpers::WAIT, send)
        .await
        .expect("the write goes through once the lock is free")
        .expect("send task");
    assert_eq!(message["text"], "waits");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_starting_at_once_on_an_empty_database_migrate_it_once_and_share_one_secret() {
    if !on_postgres() {
        return;
    }
    let first_dir = Arc::new(tempfile::TempDir::new().expect("temp dir"));
    let url = database_for(first_dir.path())
        .await
        .expect("database")
        .url
        .clone();
    // No --jwt-secret: the nodes agree on the one kept in the database.
    let prefix = RedisPrefix::new();
    let start = |dir: Arc<tempfile::TempDir>| {
        let (url, prefix) = (url.clone(), prefix.0.clone());
        spawn_app_with(
            dir,
            move |c| {
                c.database_url = Some(url);
                c.redis_url = Some(redis_url());
                c.redis_prefix = prefix;
            },
            axum::Router::new(),
        )
    };
    let (a, b, c) = tokio::join!(
        start(Arc::clone(&first_dir)),
        start(Arc::new(tempfile::TempDir::new().expect("temp dir"))),
        start(Arc::new(tempfile::TempDir::new().expect("temp dir"))),
    );
    for node in [&a, &b, &c] {
        assert_eq!(node.get("/healthz", None).await.0, StatusCode::OK);
    }
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let applied: i64 = client
        .query_one("SELECT COUNT(*) FROM schema_migrations WHERE version = 1", &[])
        .await
        .expect("schema_migrations")
        .get(0);
    assert_eq!(applied, 1, "one migration run, recorded once");
    b.register("made-on-b").await;
    let (status, users) = c.get("/users", Some(&a.register("made-on-a").await.token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        users.to_string().contains("made-on-b"),
        "one database under all three: {users}"
    );
}
