//! Direct chats and sending: targets, validation, idempotency, read
//! markers, unread counts, the chat list, and races.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, ids, spawn_app};

#[tokio::test]
async fn the_first_message_to_a_user_creates_the_direct_chat() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;

    let (status, body) = app
        .post(
            "/chats/send-message",
            Some(&alice.token),
            json!({ "to": bob.id, "text": "hi bob" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let message = &body["message"];
    assert!(message["id"].as_i64().unwrap() >= 1);
    assert_eq!(message["chat_kind"], "direct");
    assert_eq!(message["sender_id"], alice.id);
    assert_eq!(message["kind"], "text");
    assert_eq!(message["text"], "hi bob");
    assert!(message["attachment"].is_null());
    assert!(message["client_id"].is_null());
    assert!(message["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(message.as_object().unwrap().len(), 14, "{message}");
    assert!(message["seq"].as_i64().unwrap() > 0, "{message}");
    assert_eq!(message["reply_to"], Value::Null);
    assert_eq!(message["reactions"], json!([]));
    let chat_id = message["chat_id"].as_i64().unwrap();

    // Bob's answer by `to` lands in the same chat; so does one by chat_id.
    let reply = app.send(&bob, json!({ "to": alice.id }), "hi alice").await;
    assert_eq!(reply["chat_id"], chat_id);
    let again = app
        .send(&alice, json!({ "chat_id": chat_id }), "how are you")
        .await;
    assert_eq!(again["chat_id"], chat_id);

    let (status, list) = app.get("/chats", Some(&bob.token)).await;
    assert_eq!(status, StatusCode::OK);
    let chats = list["chats"].as_array().unwrap();
    assert_eq!(chats.len(), 1);
    let chat = &chats[0];
    assert_eq!(chat["id"], chat_id);
    assert_eq!(chat["kind"], "direct");
    assert!(chat["name"].is_null());
    assert_eq!(chat["created_by"], alice.id);
    assert!(chat["created_at"].is_string());
    let members = chat["members"].as_array().unwrap();
    let member_ids: Vec<i64> = members.iter().map(|m| m["user_id"].as_i64().unwrap()).collect();
    assert_eq!(member_ids.len(), 2);
    assert!(member_ids.contains(&alice.id) && member_ids.contains(&bob.id));
    assert_eq!(members[0]["role"], "member");
    assert!(members[0]["username"].is_string() && members[0]["joined_at"].is_string());
    assert_eq!(chat["last_message"]["text"], "how are you");
    assert_eq!(chat["unread_count"], 2, "alice's two messages are unread for bob");

    let (_, alice_view) = app.get("/chats", Some(&alice.token)).await;
    assert_eq!(alice_view["chats"][0]["unread_count"], 1, "bob's one message");
}

#[tokio::test]
async fn a_user_can_write_to_themself() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let note = app.send(&alice, json!({ "to": alice.id }), "note to self").await;
    let again = app.send(&alice, json!({ "to": alice.id }), "another").await;
    assert_eq!(note["chat_id"], again["chat_id"]);
    let (_, body) = app
        .get(&format!("/chats/{}", note["chat_id"]), Some(&alice.token))
        .await;
    assert_eq!(body["chat"]["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn send_validates_target_and_text() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let t = Some(alice.token.as_str());
    let cases = [
        (json!({ "text": "no target" }), "validation_failed"),
        (
            json!({ "to": bob.id, "chat_id": 1, "text": "two targets" }),
            "validation_failed",
        ),
        (json!({ "to": "2", "text": "id as string" }), "validation_failed"),
        (json!({ "to": 0, "text": "zero id" }), "validation_failed"),
        (json!({ "to": 1.5, "text": "fractional id" }), "validation_failed"),
        (json!({ "to": bob.id }), "validation_failed"),
        (json!({ "to": bob.id, "text": 5 }), "validation_failed"),
        (json!({ "to": bob.id, "text": "" }), "message_empty"),
        (json!({ "to": bob.id, "text": " \n\t " }), "message_empty"),
        (
            json!({ "to": bob.id, "text": "x".repeat(4001) }),
            "message_too_long",
        ),
        (
            json!({ "to": bob.id, "text": "ok", "client_id": "" }),
            "validation_failed",
        ),
        (
            json!({ "to": bob.id, "text": "ok", "client_id": "c".repeat(65) }),
            "validation_failed",
        ),
    ];
    for (body, code) in cases {
        let response = app.post("/chats/send-message", t, body.clone()).await;
        assert_error(&response, StatusCode::BAD_REQUEST, code);
    }
    let longest = app
        .post(
            "/chats/send-message",
            t,
            json!({ "to": bob.id, "text": "é".repeat(4000) }),
        )
        .await;
    assert_eq!(longest.0, StatusCode::CREATED, "4000 characters is allowed");

    let (_, chats) = app.get("/chats", Some(&bob.token)).await;
    assert_eq!(
        chats["chats"][0]["unread_count"], 1,
        "nothing stored for the refused sends"
    );
}

#[tokio::test]
async fn send_refuses_missing_targets_and_outsiders() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let chat_id = app.send(&alice, json!({ "to": bob.id }), "private").await["chat_id"]
        .as_i64()
        .unwrap();
    let t = Some(eve.token.as_str());

    let r = app
        .post("/chats/send-message", t, json!({ "to": 9999, "text": "x" }))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "user_not_found");
    let r = app
        .post("/chats/send-message", t, json!({ "chat_id": 9999, "text": "x" }))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "chat_not_found");
    let r = app
        .post("/chats/send-message", t, json!({ "group_id": 9999, "text": "x" }))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "group_not_found");
    let r = app
        .post(
            "/chats/send-message",
            t,
            json!({ "group_id": chat_id, "text": "x" }),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "group_not_found");
    let r = app
        .post(
            "/chats/send-message",
            t,
            json!({ "chat_id": chat_id, "text": "let me in" }),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "not_a_member");
    let r = app
        .post("/chats/send-message", None, json!({ "to": bob.id, "text": "x" }))
        .await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "unauthorized");
}

#[tokio::test]
async fn a_repeated_client_id_returns_the_first_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let t = Some(alice.token.as_str());

    let (status, first) = app
        .post(
            "/chats/send-message",
            t,
            json!({ "to": bob.id, "text": "once", "client_id": "c-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["message"]["client_id"], "c-1");
    let (status, second) = app
        .post(
            "/chats/send-message",
            t,
            json!({ "to": bob.id, "text": "once", "client_id": "c-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(second["message"], first["message"]);

    // Unique per sender across chats: the same key to carol is the same message.
    let (status, third) = app
        .post(
            "/chats/send-message",
            t,
            json!({ "to": carol.id, "text": "other", "client_id": "c-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(third["message"]["id"], first["message"]["id"]);
    let (_, chats) = app.get("/chats", t).await;
    assert_eq!(
        chats["chats"].as_array().unwrap().len(),
        1,
        "no chat with carol was made"
    );

    // Another sender may use the same key.
    let (status, _) = app
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "to": alice.id, "text": "mine", "client_id": "c-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let chat_id = first["message"]["chat_id"].as_i64().unwrap();
    let (_, history) = app.get(&format!("/chats/{chat_id}"), t).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn concurrent_sends_with_one_client_id_make_one_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let body = json!({ "to": bob.id, "text": "racing", "client_id": "same-key" });
    let sends = (0..8).map(|_| app.post("/chats/send-message", Some(&alice.token), body.clone()));
    let results = futures::future::join_all(sends).await;
    let created = results.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
    let repeated = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((created, repeated), (1, 7));
    let first_id = &results[0].1["message"]["id"];
    assert!(results.iter().all(|(_, b)| &b["message"]["id"] == first_id));

    let chat_id = results[0].1["message"]["chat_id"].as_i64().unwrap();
    let (_, history) = app.get(&format!("/chats/{chat_id}"), Some(&bob.token)).await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn simultaneous_first_messages_make_one_direct_chat() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    for round in 0..5 {
        let carol = app.register(&format!("carol{round}")).await;
        let (a, b) = tokio::join!(
            app.post(
                "/chats/send-message",
                Some(&alice.token),
                json!({ "to": carol.id, "text": "hi" })
            ),
            app.post(
                "/chats/send-message",
                Some(&carol.token),
                json!({ "to": alice.id, "text": "hello" })
            ),
        );
        assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
        assert_eq!(
            a.1["message"]["chat_id"], b.1["message"]["chat_id"],
            "round {round}"
        );
    }
    let (_, chats) = app.get("/chats", Some(&alice.token)).await;
    assert_eq!(chats["chats"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn the_chat_list_puts_the_newest_activity_first() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let with_bob = app.send(&alice, json!({ "to": bob.id }), "1").await["chat_id"].clone();
    let with_carol = app.send(&alice, json!({ "to": carol.id }), "2").await["chat_id"].clone();
    let group = app.create_group(&alice, "trio", &[&bob, &carol]).await;

    let order = |body: &serde_json::Value| -> Vec<serde_json::Value> {
        body["chats"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    let (_, list) = app.get("/chats", Some(&alice.token)).await;
    assert_eq!(
        order(&list),
        [group["id"].clone(), with_carol.clone(), with_bob.clone()]
    );

    app.send(&bob, json!({ "chat_id": with_bob }), "3").await;
    let (_, list) = app.get("/chats", Some(&alice.token)).await;
    assert_eq!(order(&list), [with_bob, group["id"].clone(), with_carol]);
}

#[tokio::test]
async fn read_markers_move_forward_only_and_drive_unread_counts() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let m1 = app.send(&alice, json!({ "to": bob.id }), "one").await;
    let chat_id = m1["chat_id"].as_i64().unwrap();
    let m2 = app.send(&alice, json!({ "chat_id": chat_id }), "two").await;
    let m3 = app.send(&alice, json!({ "chat_id": chat_id }), "three").await;
    let path = format!("/chats/{chat_id}/read");

    let (status, body) = app
        .post(&path, Some(&bob.token), json!({ "message_id": m2["id"] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({ "chat_id": chat_id, "message_id": m2["id"] }));
    let (_, chat) = app.get(&format!("/chats/{chat_id}"), Some(&bob.token)).await;
    assert_eq!(chat["chat"]["unread_count"], 1);

    // Backwards is a no-op that reports the marker in force.
    let (status, body) = app
        .post(&path, Some(&bob.token), json!({ "message_id": m1["id"] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message_id"], m2["id"]);

    let (_, body) = app
        .post(&path, Some(&bob.token), json!({ "message_id": m3["id"] }))
        .await;
    assert_eq!(body["message_id"], m3["id"]);
    let (_, list) = app.get("/chats", Some(&bob.token)).await;
    assert_eq!(list["chats"][0]["unread_count"], 0);

    // A message of another chat, a missing message, bad bodies, outsiders.
    let other = app.send(&alice, json!({ "to": alice.id }), "elsewhere").await;
    assert_error(
        &app.post(&path, Some(&bob.token), json!({ "message_id": other["id"] }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post(&path, Some(&bob.token), json!({ "message_id": 99999 }))
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post(&path, Some(&bob.token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.post(&path, Some(&bob.token), json!({ "message_id": "3" }))
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let eve = app.register("eve").await;
    assert_error(
        &app.post(&path, Some(&eve.token), json!({ "message_id": m3["id"] }))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.post("/chats/9999/read", Some(&eve.token), json!({ "message_id": 1 }))
            .await,
        StatusCode::NOT_FOUND,
        "chat_not_found",
    );
}

#[tokio::test]
async fn sync_returns_what_was_missed_across_chats() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let seen = app.send(&bob, json!({ "to": alice.id }), "before").await;
    let group = app.create_group(&carol, "g", &[&alice]).await;
    let mut missed = Vec::new();
    for i in 0..5 {
        missed.push(
            app.send(&bob, json!({ "to": alice.id }), &format!("b{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
        missed.push(
            app.send(&carol, json!({ "group_id": group["id"] }), &format!("c{i}"))
                .await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Not alice's business:
    app.send(&bob, json!({ "to": carol.id }), "private").await;

    let (status, body) = app
        .get(&format!("/sync?after={}", seen["id"]), Some(&alice.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&body["messages"]), missed);
    assert_eq!(body["has_more"], false);

    let (_, page) = app
        .get(&format!("/sync?after={}&limit=4", seen["id"]), Some(&alice.token))
        .await;
    assert_eq!(ids(&page["messages"]), missed[..4]);
    assert_eq!(page["has_more"], true);

    let (_, from_start) = app.get("/sync", Some(&alice.token)).await;
    assert_eq!(from_start["messages"].as_array().unwrap().len(), 11);
    assert_error(
        &app.get("/sync?after=x", Some(&alice.token)).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
    assert_error(
        &app.get("/sync?limit=500", Some(&alice.token)).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.get("/sync", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn unread_counts_leave_out_the_readers_own_messages_before_and_after_the_marker() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let chat = app.send(&alice, json!({ "to": bob.id }), "a1").await["chat_id"]
        .as_i64()
        .unwrap();
    let b1 = app.send(&bob, json!({ "chat_id": chat }), "b1").await;
    app.send(&alice, json!({ "chat_id": chat }), "a2").await;
    let unread = |token: String| {
        let app = &app;
        async move { app.get(&format!("/chats/{chat}"), Some(&token)).await.1["chat"]["unread_count"].clone() }
    };
    assert_eq!(unread(alice.token.clone()).await, 1, "b1");
    assert_eq!(unread(bob.token.clone()).await, 2, "a1, a2");

    // Alice reads up to b1: her a2 after it is hers, so nothing is unread.
    app.post(
        &format!("/chats/{chat}/read"),
        Some(&alice.token),
        json!({ "message_id": b1["id"] }),
    )
    .await;
    assert_eq!(unread(alice.token.clone()).await, 0);
    app.send(&alice, json!({ "chat_id": chat }), "a3").await;
    assert_eq!(
        unread(alice.token.clone()).await,
        0,
        "still only her own after the marker"
    );
    app.send(&bob, json!({ "chat_id": chat }), "b2").await;
    assert_eq!(unread(alice.token.clone()).await, 1, "b2");
    assert_eq!(unread(bob.token.clone()).await, 3, "a1, a2, a3");
}
