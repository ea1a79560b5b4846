//! Catch-up without gaps (v2): `seq` on every chat event and message,
//! `GET /events` equal to what a connected socket received, replay on
//! connect with `auth.since` (then `caught_up`, then live events with no
//! gap and no duplicate, even while others send), `sync_required` past the
//! bound, `cursor_expired` past the retention, and who sees what.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{Account, TestApp, assert_error, spawn_app, spawn_app_with};
use crate::socket::{Auth, SocketClient};

/// Every event of `user` after `since`, through every page.
pub async fn all_events(app: &TestApp, user: &Account, since: i64) -> Vec<Value> {
    let mut events = Vec::new();
    let mut since = since;
    loop {
        let (status, page) = app
            .get(&format!("/events?since={since}&limit=1000"), Some(&user.token))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let batch = page["events"].as_array().expect("events").clone();
        if let Some(last) = batch.last() {
            since = last["seq"].as_i64().unwrap();
        }
        events.extend(batch);
        if page["has_more"] != true {
            return events;
        }
    }
}

/// The chat events a socket received, in order, as `{seq, type, data}`
/// (presence and typing are not chat events).
fn as_log(events: Vec<(String, Value)>) -> Vec<Value> {
    events
        .into_iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "presence" | "typing" | "caught_up" | "sync_required"
            )
        })
        .map(|(name, data)| json!({ "seq": data["seq"], "type": name, "data": data }))
        .collect()
}

/// Drops the signed part of attachment URLs (signed afresh per answer).
fn unsigned(mut v: Value) -> Value {
    match &mut v {
        Value::Object(map) => {
            for (k, inner) in map.iter_mut() {
                if k == "url" {
                    if let Some(s) = inner.as_str() {
                        *inner = json!(s.split('?').next().unwrap_or_default());
                    }
                } else {
                    *inner = unsigned(inner.take());
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| *i = unsigned(i.take())),
        _ => {}
    }
    v
}

/// A log without the markers of `SocketClient::settle`, and with unsigned
/// URLs: what two clients' models are compared on.
fn model(log: &[Value]) -> Vec<Value> {
    log.iter()
        .filter(|e| {
            !e["data"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("barrier-"))
        })
        .map(|e| unsigned(e.clone()))
        .collect()
}

/// A server without rate limits, for floods.
async fn unlimited() -> TestApp {
    spawn_app_with(
        Arc::new(TempDir::new().unwrap()),
        |c| c.no_rate_limits = true,
        axum::Router::new(),
    )
    .await
}

async fn latest_seq(app: &TestApp, user: &Account) -> i64 {
    let (_, page) = app.get("/events?limit=1", Some(&user.token)).await;
    page["latest_seq"].as_i64().expect("latest_seq")
}

/// A bit of everything a chat has: messages, a file, an edit, a deletion,
/// reactions, read markers, a rename, members added, removed, promoted.
async fn busy_day(app: &TestApp, alice: &Account, bob: &Account, carol: &Account, tag: &str) -> i64 {
    let group = app.create_group(alice, &format!("Group {tag}"), &[bob]).await;
    let gid = group["id"].as_i64().unwrap();
    let m1 = app
        .send(alice, json!({ "group_id": gid }), &format!("hello {tag}"))
        .await;
    let m2 = app
        .send(bob, json!({ "to": alice.id }), &format!("direct {tag}"))
        .await;
    let (_, file) = app
        .upload(
            bob,
            &[("group_id", gid.to_string())],
            "p.png",
            "image/png",
            crate::uploads::PNG.to_vec(),
        )
        .await;
    let id1 = m1["id"].as_i64().unwrap();
    app.request(
        Method::PATCH,
        &format!("/messages/{id1}"),
        Some(&alice.token),
        Some(json!({ "text": format!("edited {tag}") })),
    )
    .await;
    app.request(
        Method::PUT,
        &format!("/messages/{id1}/reactions/%F0%9F%91%8D"),
        Some(&bob.token),
        None,
    )
    .await;
    app.request(
        Method::DELETE,
        &format!("/messages/{}", m2["id"]),
        Some(&bob.token),
        None,
    )
    .await;
    app.post(
        &format!("/chats/{gid}/read"),
        Some(&bob.token),
        json!({ "message_id": file["message"]["id"] }),
    )
    .await;
    app.request(
        Method::PATCH,
        &format!("/groups/{gid}"),
        Some(&alice.token),
        Some(json!({ "name": format!("Renamed {tag}") })),
    )
    .await;
    app.post(
        &format!("/groups/{gid}/add-user"),
        Some(&alice.token),
        json!({ "user_id": carol.id }),
    )
    .await;
    app.request(
        Method::PATCH,
        &format!("/groups/{gid}/members/{}", carol.id),
        Some(&alice.token),
        Some(json!({ "role": "admin" })),
    )
    .await;
    app.request(
        Method::DELETE,
        &format!("/groups/{gid}/members/{}", bob.id),
        Some(&carol.token),
        None,
    )
    .await;
    app.send(carol, json!({ "group_id": gid }), &format!("bob is gone {tag}"))
        .await;
    app.request(
        Method::PATCH,
        "/auth/me",
        Some(&alice.token),
        Some(json!({ "display_name": format!("Alice {tag}") })),
    )
    .await;
    gid
}

#[tokio::test]
async fn seq_orders_every_change_and_events_equal_what_a_socket_got() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut bob_live = SocketClient::of(&app, &bob).await;
    let start = latest_seq(&app, &bob).await;
    busy_day(&app, &alice, &bob, &carol, "one").await;
    bob_live.settle(&app, &bob).await;
    let mut received = as_log(bob_live.take_all());
    // The barrier message is bob's too, in both.
    let logged = all_events(&app, &bob, start).await;
    assert!(logged.len() >= 10, "{logged:?}");
    // What bob's socket got is what /events lists, event for event, except
    // his own sends from REST, which reach his sockets too.
    received.retain(|e| e["seq"].is_i64());
    assert_eq!(model(&received), model(&logged));
    // seq grows strictly; messages carry the seq of their latest change.
    let seqs: Vec<i64> = logged.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for e in &logged {
        assert_eq!(e["data"]["seq"], e["seq"], "{e}");
        if e["type"] == "receive_message" {
            assert_eq!(e["data"]["seq"], e["seq"]);
        }
        if e["type"] == "message_updated" {
            assert_eq!(e["data"]["message"]["seq"], e["seq"]);
        }
    }
    // Bob was removed: the group's later events are not his, the user
    // update (he no longer shares the group, but shares the direct chat) is.
    let types: Vec<&str> = logged.iter().map(|e| e["type"].as_str().unwrap()).collect();
    let removed_at = types
        .iter()
        .position(|t| *t == "member_removed")
        .expect("member_removed");
    let gid = logged
        .iter()
        .find(|e| e["type"] == "group_created")
        .map(|e| e["data"]["group"]["id"].clone())
        .expect("group_created");
    for e in &logged[removed_at + 1..] {
        let d = &e["data"];
        assert!(
            d["chat_id"] != gid && d["group_id"] != gid && d["group"]["id"] != gid,
            "after removal: {e}"
        );
    }
    assert_eq!(
        types.last(),
        Some(&"receive_message"),
        "the barrier last: {types:?}"
    );
    assert!(types.contains(&"user_updated"));

    // One event to many users has one seq: alice's and carol's logs share it.
    let alice_log = all_events(&app, &alice, start).await;
    let carol_log = all_events(&app, &carol, start).await;
    let role = |log: &[Value]| {
        log.iter()
            .find(|e| e["type"] == "member_role_changed")
            .map(|e| e["seq"].clone())
    };
    assert_eq!(role(&alice_log), role(&carol_log));
    // Carol, added late, sees nothing of the group from before her.
    let added = carol_log
        .iter()
        .find(|e| e["type"] == "added_to_group")
        .expect("added_to_group");
    assert!(
        carol_log
            .iter()
            .all(|e| e["seq"].as_i64() >= added["seq"].as_i64())
    );
    assert!(
        !carol_log.iter().any(|e| e["type"] == "member_added"),
        "member_added is for the members before"
    );
    // A message from history carries its latest change's seq.
    let gid = added["data"]["group"]["id"].as_i64().unwrap();
    let (_, history) = app
        .get(&format!("/groups/{gid}/messages"), Some(&carol.token))
        .await;
    let edited = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["edited_at"].is_string())
        .unwrap()
        .clone();
    let changed = alice_log
        .iter()
        .filter(|e| e["data"]["message_id"] == edited["id"] || e["data"]["message"]["id"] == edited["id"])
        .map(|e| e["seq"].as_i64().unwrap())
        .max();
    assert_eq!(edited["seq"].as_i64(), changed);
}

#[tokio::test]
async fn a_reconnect_with_since_ends_with_the_state_of_a_socket_that_never_left() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut stayed = SocketClient::of(&app, &bob).await;
    let since = latest_seq(&app, &bob).await;
    busy_day(&app, &alice, &bob, &carol, "two").await;
    stayed.settle(&app, &bob).await;
    let stayed_log = as_log(stayed.take_all());

    let mut back = SocketClient::connect(&app, Auth::Since(&bob.token, since))
        .await
        .expect("connects");
    let caught_up = back.expect("caught_up").await;
    let replayed = as_log(back.take_all());
    let latest = latest_seq(&app, &bob).await;
    assert_eq!(caught_up["seq"].as_i64(), Some(latest), "{caught_up}");
    assert_eq!(
        model(&replayed),
        model(&stayed_log),
        "the replay is what a socket connected the whole time received"
    );
    // Live from here, once: a message after the replay arrives one time.
    app.send(&alice, json!({ "to": bob.id }), "live again").await;
    back.expect_where("receive_message", |m| m["text"] == "live again")
        .await;
    back.settle(&app, &bob).await;
    assert!(
        back.buffered("receive_message")
            .iter()
            .all(|m| m["text"] != "live again")
    );
    // Nothing missed: `since` = latest replays nothing, then caught_up.
    let mut idle = SocketClient::connect(&app, Auth::Since(&bob.token, latest_seq(&app, &bob).await))
        .await
        .unwrap();
    idle.expect("caught_up").await;
    assert!(as_log(idle.take_all()).is_empty());
    // A `since` that is not a number is no replay at all.
    let mut plain = SocketClient::connect(&app, Auth::Payload(&bob.token))
        .await
        .unwrap();
    assert!(
        plain
            .maybe("caught_up", Duration::from_millis(300))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn no_gap_and_no_duplicate_while_others_send_during_the_replay() {
    let app = Arc::new(unlimited().await);
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let since = latest_seq(&app, &bob).await;
    for i in 0..150 {
        app.send(&alice, json!({ "to": bob.id }), &format!("before {i}"))
            .await;
    }
    let flood = {
        let (app, alice, bob) = (Arc::clone(&app), alice.clone(), bob.clone());
        tokio::spawn(async move {
            for i in 0..300 {
                app.send(&alice, json!({ "to": bob.id }), &format!("during {i}"))
                    .await;
            }
        })
    };
    let mut sockets = Vec::new();
    for _ in 0..4 {
        sockets.push(
            SocketClient::connect(&app, Auth::Since(&bob.token, since))
                .await
                .unwrap(),
        );
    }
    flood.await.unwrap();
    let expected: Vec<i64> = all_events(&app, &bob, since)
        .await
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(expected.len(), 450);
    for socket in &mut sockets {
        socket
            .expect_where("receive_message", |m| m["text"] == "during 299")
            .await;
        // The replay, then caught_up, then only what is newer than it.
        let all = socket.take_all();
        let at = all.iter().position(|(n, _)| n == "caught_up").expect("caught_up");
        let mark = all[at].1["seq"].as_i64().unwrap();
        assert!(
            all[..at]
                .iter()
                .all(|(_, d)| d["seq"].as_i64().is_none_or(|s| s <= mark))
        );
        assert!(
            all[at + 1..]
                .iter()
                .all(|(_, d)| d["seq"].as_i64().is_none_or(|s| s > mark)),
            "a live event before caught_up"
        );
        let got: Vec<i64> = as_log(all).iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        // Everything once, in seq order up to caught_up, and all of it.
        let mut sorted = got.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), got.len(), "a duplicate");
        // the last one was taken by expect_where
        assert_eq!(sorted.len() + 1, expected.len(), "a gap");
    }
}

#[tokio::test]
async fn too_much_missed_is_sync_required_and_events_pages() {
    let app = unlimited().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let since = latest_seq(&app, &bob).await;
    for i in 0..1001 {
        let (status, _) = app
            .post(
                "/chats/send-message",
                Some(&alice.token),
                json!({ "to": bob.id, "text": format!("m{i}") }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let mut socket = SocketClient::connect(&app, Auth::Since(&bob.token, since))
        .await
        .unwrap();
    let told = socket.expect("sync_required").await;
    assert_eq!(told, json!({ "since": since }));
    // No replay, no caught_up; live events follow.
    app.send(&alice, json!({ "to": bob.id }), "after").await;
    socket
        .expect_where("receive_message", |m| m["text"] == "after")
        .await;
    assert!(socket.buffered("caught_up").is_empty());
    assert_eq!(socket.buffered("receive_message").len(), 0);

    // The client pages /events instead.
    let (_, page) = app.get(&format!("/events?since={since}"), Some(&bob.token)).await;
    assert_eq!(page["events"].as_array().unwrap().len(), 500);
    assert_eq!(page["has_more"], true);
    assert_eq!(all_events(&app, &bob, since).await.len(), 1002);
    // Exactly 1000 missed is still a replay.
    let last_but = all_events(&app, &bob, since).await[1]["seq"].as_i64().unwrap();
    let mut socket = SocketClient::connect(&app, Auth::Since(&bob.token, last_but))
        .await
        .unwrap();
    socket.expect("caught_up").await;
    assert_eq!(socket.buffered("receive_message").len(), 1000);

    // The query is checked.
    assert_error(
        &app.get("/events?since=-1", Some(&bob.token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    assert_error(
        &app.get("/events?since=x", Some(&bob.token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    assert_error(
        &app.get("/events?limit=0", Some(&bob.token)).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.get("/events?limit=1001", Some(&bob.token)).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.get("/events", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn events_past_the_retention_are_cursor_expired() {
    let app = spawn_app_with(
        Arc::new(TempDir::new().unwrap()),
        |c| c.event_retention = Duration::from_secs(1),
        axum::Router::new(),
    )
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.send(&alice, json!({ "to": bob.id }), "old").await;
    let since = first["seq"].as_i64().unwrap();
    app.send(&alice, json!({ "to": bob.id }), "old too").await;
    app.send(&alice, json!({ "to": bob.id }), "newest").await;
    // The pruner runs every second: wait for it to drop what is older.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    loop {
        let (status, body) = app.get(&format!("/events?since={since}"), Some(&bob.token)).await;
        if status == StatusCode::GONE {
            assert_eq!(body["error"]["code"], "cursor_expired");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never pruned");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // since=0 starts at the oldest kept event; the newest is always kept.
    let (status, page) = app.get("/events?since=0", Some(&bob.token)).await;
    assert_eq!(status, StatusCode::OK);
    let kept = page["events"].as_array().unwrap();
    assert_eq!(kept.last().unwrap()["data"]["text"], "newest");
    // A socket asking from there hears sync_required.
    let mut socket = SocketClient::connect(&app, Auth::Since(&bob.token, since))
        .await
        .unwrap();
    assert_eq!(socket.expect("sync_required").await["since"], since);
    // A later message keeps its seq above everything before.
    let later = app.send(&alice, json!({ "to": bob.id }), "later").await;
    assert!(later["seq"].as_i64() > page["latest_seq"].as_i64());
}
