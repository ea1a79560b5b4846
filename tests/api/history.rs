//! History paging: newest page, `before`, `after`, `has_more`, and cursor
//! errors.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, ids, spawn_app};

#[tokio::test]
async fn pages_through_thirty_messages_in_both_directions() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut sent = Vec::new();
    for i in 0..30 {
        let from = if i % 2 == 0 { &alice } else { &bob };
        let to = if i % 2 == 0 { bob.id } else { alice.id };
        sent.push(
            app.send(from, json!({ "to": to }), &format!("m{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let last = app.send(&alice, json!({ "to": bob.id }), "m30").await;
    sent.push(last["id"].as_i64().unwrap());
    let chat = last["chat_id"].as_i64().unwrap();
    let t = Some(alice.token.as_str());
    let base = format!("/chats/{chat}");

    // Newest page, default limit 50 holds all 31, oldest first.
    let (status, all) = app.get(&base, t).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&all["messages"]), sent);
    assert_eq!(all["has_more"], false);
    assert_eq!(all["chat"]["id"], chat);

    // Newest 10, then walk back with `before`.
    let (_, p1) = app.get(&format!("{base}?limit=10"), t).await;
    assert_eq!(ids(&p1["messages"]), sent[21..31]);
    assert_eq!(p1["has_more"], true);
    let (_, p2) = app.get(&format!("{base}?limit=10&before={}", sent[21]), t).await;
    assert_eq!(ids(&p2["messages"]), sent[11..21]);
    assert_eq!(p2["has_more"], true);
    let (_, p3) = app.get(&format!("{base}?limit=10&before={}", sent[11]), t).await;
    assert_eq!(ids(&p3["messages"]), sent[1..11]);
    assert_eq!(p3["has_more"], true);
    let (_, p4) = app.get(&format!("{base}?limit=10&before={}", sent[1]), t).await;
    assert_eq!(ids(&p4["messages"]), sent[0..1]);
    assert_eq!(p4["has_more"], false);

    // Forward with `after`.
    let (_, f1) = app.get(&format!("{base}?limit=12&after={}", sent[0]), t).await;
    assert_eq!(ids(&f1["messages"]), sent[1..13]);
    assert_eq!(f1["has_more"], true);
    let (_, f2) = app.get(&format!("{base}?limit=18&after={}", sent[12]), t).await;
    assert_eq!(ids(&f2["messages"]), sent[13..31]);
    assert_eq!(f2["has_more"], false);
    let (_, none) = app.get(&format!("{base}?after={}", sent[30]), t).await;
    assert_eq!(ids(&none["messages"]), Vec::<i64>::new());
    assert_eq!(none["has_more"], false);

    // Exactly `limit` left: has_more is false.
    let (_, exact) = app.get(&format!("{base}?limit=31"), t).await;
    assert_eq!(exact["has_more"], false);
    let (_, short) = app.get(&format!("{base}?limit=30"), t).await;
    assert_eq!(short["has_more"], true);

    // Same pages through the group route for a group.
    let group = app.create_group(&alice, "g", &[&bob]).await;
    let mut in_group = Vec::new();
    for i in 0..3 {
        in_group.push(
            app.send(&bob, json!({ "group_id": group["id"] }), &format!("g{i}"))
                .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let (status, g) = app
        .get(&format!("/groups/{}/messages?limit=2", group["id"]), t)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&g["messages"]), in_group[1..]);
    assert_eq!(g["has_more"], true);
    assert_eq!(g["group"]["id"], group["id"]);
    assert_eq!(g["group"]["unread_count"], 3);
}

#[tokio::test]
async fn bad_cursors_and_limits_are_rejected() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let chat = app.send(&alice, json!({ "to": alice.id }), "x").await["chat_id"]
        .as_i64()
        .unwrap();
    let t = Some(alice.token.as_str());
    for q in [
        "before=1&after=1",
        "before=abc",
        "after=-1",
        "before=0",
        "after=1.5",
        "before=%20",
    ] {
        assert_error(
            &app.get(&format!("/chats/{chat}?{q}"), t).await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        );
        assert_error(
            &app.get(&format!("/groups/{chat}/messages?{q}"), t).await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        );
    }
    for q in ["limit=0", "limit=201", "limit=abc", "limit=-5"] {
        assert_error(
            &app.get(&format!("/chats/{chat}?{q}"), t).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    let (status, _) = app.get(&format!("/chats/{chat}?limit=200"), t).await;
    assert_eq!(status, StatusCode::OK);
    assert_error(
        &app.get("/chats/abc", t).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.get("/chats/0", t).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.get("/chats/424242", t).await,
        StatusCode::NOT_FOUND,
        "chat_not_found",
    );
    assert_error(
        &app.get(&format!("/groups/{chat}/messages"), t).await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
}
