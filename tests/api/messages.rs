//! Messages after they are sent (v2): replies, edits, deletions
//! (tombstones) and reactions, over REST and Socket.IO, with who hears of
//! each change and who does not.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::blobstore;
use crate::helpers::{Account, TestApp, assert_error, spawn_app};
use crate::socket::SocketClient;
use crate::uploads::PNG;

impl TestApp {
    pub async fn patch_text(&self, who: &Account, id: i64, text: &str) -> (StatusCode, Value) {
        self.request(
            Method::PATCH,
            &format!("/messages/{id}"),
            Some(&who.token),
            Some(json!({ "text": text })),
        )
        .await
    }

    pub async fn delete_message(&self, who: &Account, id: i64) -> (StatusCode, Value) {
        self.request(Method::DELETE, &format!("/messages/{id}"), Some(&who.token), None)
            .await
    }

    /// PUT (add) or DELETE (remove) a reaction; `emoji` is percent-encoded here.
    pub async fn react(&self, who: &Account, id: i64, emoji: &str, add: bool) -> (StatusCode, Value) {
        let encoded = percent_encoding::utf8_percent_encode(emoji, percent_encoding::NON_ALPHANUMERIC);
        let method = if add { Method::PUT } else { Method::DELETE };
        self.request(
            method,
            &format!("/messages/{id}/reactions/{encoded}"),
            Some(&who.token),
            None,
        )
        .await
    }
}

async fn upload_png(app: &TestApp, from: &Account, to: &Account) -> Value {
    let fields = [("to", to.id.to_string())];
    let (status, body) = app
        .upload(from, &fields, "dot.png", "image/png", PNG.to_vec())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["message"].clone()
}

fn reactions(message: &Value) -> Vec<(String, i64, Option<bool>)> {
    message["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .map(|r| {
            (
                r["emoji"].as_str().unwrap_or_default().to_string(),
                r["count"].as_i64().unwrap_or(-1),
                r.get("me").and_then(Value::as_bool),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_reply_quotes_its_original_as_it_is_now() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let long = "é".repeat(250);
    let original = app.send(&alice, json!({ "to": bob.id }), &long).await;
    let id = original["id"].as_i64().unwrap();
    let chat_id = original["chat_id"].as_i64().unwrap();
    assert_eq!(original["reply_to"], Value::Null);
    assert_eq!(original["reactions"], json!([]));
    assert_eq!(original["edited_at"], Value::Null);

    let (status, body) = app
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "chat_id": chat_id, "text": "yes", "reply_to": id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reply = &body["message"];
    assert_eq!(
        reply["reply_to"],
        json!({ "id": id, "sender_id": alice.id, "kind": "text", "text": "é".repeat(200), "deleted": false })
    );

    // Another chat's message, a missing one, one the sender cannot see.
    let other = app.send(&alice, json!({ "to": carol.id }), "elsewhere").await;
    let own = app.send(&bob, json!({ "to": bob.id }), "notes").await;
    let refused = app
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "chat_id": chat_id, "text": "x", "reply_to": own["id"] }),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "validation_failed");
    for missing in [other["id"].as_i64().unwrap(), 999_999] {
        let refused = app
            .post(
                "/chats/send-message",
                Some(&bob.token),
                json!({ "chat_id": chat_id, "text": "x", "reply_to": missing }),
            )
            .await;
        assert_error(&refused, StatusCode::NOT_FOUND, "not_found");
    }
    // A reply to a message of a direct chat that does not exist yet: 400,
    // and no chat was created.
    let dave = app.register("dave").await;
    let refused = app
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "to": dave.id, "text": "x", "reply_to": id }),
        )
        .await;
    assert_error(&refused, StatusCode::BAD_REQUEST, "validation_failed");
    let (_, chats) = app.get("/chats", Some(&dave.token)).await;
    assert_eq!(chats["chats"], json!([]));

    // History shows the original's current state: edited, then deleted.
    let (status, _) = app.patch_text(&alice, id, "short now").await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = app.get(&format!("/chats/{chat_id}"), Some(&alice.token)).await;
    let shown = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply["id"])
        .unwrap()
        .clone();
    assert_eq!(shown["reply_to"]["text"], "short now");
    app.delete_message(&alice, id).await;
    let (_, page) = app.get(&format!("/chats/{chat_id}"), Some(&alice.token)).await;
    let shown = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == reply["id"])
        .unwrap()
        .clone();
    assert_eq!(
        shown["reply_to"],
        json!({ "id": id, "sender_id": alice.id, "kind": "text", "text": null, "deleted": true })
    );
    // Replying to a deleted message is allowed.
    let (status, body) = app
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "chat_id": chat_id, "text": "late", "reply_to": id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["message"]["reply_to"]["deleted"], true);
    assert_eq!(body["message"]["reply_to"]["text"], Value::Null);
}

#[tokio::test]
async fn only_the_sender_edits_and_the_same_text_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let message = app.send(&alice, json!({ "to": bob.id }), "helo").await;
    let id = message["id"].as_i64().unwrap();
    let mut bob_socket = SocketClient::of(&app, &bob).await;

    assert_error(
        &app.patch_text(&bob, id, "hijack").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // A non-member hears not_a_member whatever else is wrong.
    assert_error(
        &app.patch_text(&eve, id, "").await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let bad_body = app
        .request(
            Method::PATCH,
            &format!("/messages/{id}"),
            Some(&eve.token),
            Some(json!([1])),
        )
        .await;
    assert_error(&bad_body, StatusCode::FORBIDDEN, "not_a_member");
    assert_error(
        &app.patch_text(&alice, 999_999, "x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.patch_text(&alice, id, "  ").await,
        StatusCode::BAD_REQUEST,
        "message_empty",
    );
    assert_error(
        &app.patch_text(&alice, id, &"x".repeat(4001)).await,
        StatusCode::BAD_REQUEST,
        "message_too_long",
    );

    let (status, body) = app.patch_text(&alice, id, "hello").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"]["text"], "hello");
    let edited_at = body["message"]["edited_at"].clone();
    assert!(edited_at.is_string());
    let event = bob_socket.expect("message_updated").await;
    assert_eq!(event["message"]["text"], "hello");
    assert_eq!(event["message"]["edited_at"], edited_at);

    // The same text again: 200, unchanged, nothing broadcast.
    let (status, body) = app.patch_text(&alice, id, "hello").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"]["edited_at"], edited_at);
    bob_socket.settle(&app, &bob).await;
    assert!(bob_socket.buffered("message_updated").is_empty());

    // A deleted message cannot be edited.
    app.delete_message(&alice, id).await;
    assert_error(
        &app.patch_text(&alice, id, "again").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_caption_can_be_edited_and_removed() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (status, body) = app
        .upload(
            &alice,
            &[("to", bob.id.to_string()), ("text", "a dot".into())],
            "dot.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["message"]["id"].as_i64().unwrap();
    let (status, body) = app.patch_text(&alice, id, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"]["text"], Value::Null);
    assert!(body["message"]["attachment"]["url"].is_string());
    let (status, body) = app.patch_text(&alice, id, "a dot again").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"]["text"], "a dot again");
}

#[tokio::test]
async fn a_deletion_is_a_tombstone_everyone_sees_once() {
    let app = spawn_app().await;
    let owner = app.register("owner").await;
    let other = app.register("other").await;
    let member = app.register("member").await;
    let outsider = app.register("outsider").await;
    let group = app.create_group(&owner, "team", &[&other, &member]).await;
    let group_id = group["id"].as_i64().unwrap();

    let by_member = app
        .send(&member, json!({ "group_id": group_id }), "by member")
        .await;
    let by_owner = app
        .send(&owner, json!({ "group_id": group_id }), "by owner")
        .await;
    let mut owner_socket = SocketClient::of(&app, &owner).await;
    let mut member_socket = SocketClient::of(&app, &member).await;
    let mut outsider_socket = SocketClient::of(&app, &outsider).await;

    // A plain member may not delete others' messages; an outsider is not a member.
    let id = by_owner["id"].as_i64().unwrap();
    assert_error(
        &app.delete_message(&member, id).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.delete_message(&outsider, id).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );

    // The owner deletes the member's message: the tombstone.
    let id = by_member["id"].as_i64().unwrap();
    app.react(&member, id, "👍", true).await;
    let (status, body) = app.delete_message(&owner, id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let tombstone = body["message"].clone();
    assert!(tombstone["deleted_at"].is_string());
    for gone in ["text", "attachment", "reply_to"] {
        assert_eq!(tombstone[gone], Value::Null, "{gone}");
    }
    assert_eq!(tombstone["reactions"], json!([]));
    assert_eq!(tombstone["sender_id"], member.id);
    let event = member_socket
        .expect_where("message_deleted", |e| e["message_id"] == id)
        .await;
    assert_eq!(
        event,
        json!({ "chat_id": group_id, "message_id": id, "deleted_at": tombstone["deleted_at"], "seq": tombstone["seq"] })
    );
    owner_socket.expect("message_deleted").await;

    // Twice: the same tombstone, no second broadcast.
    let (status, again) = app.delete_message(&owner, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["message"], tombstone);
    member_socket.settle(&app, &member).await;
    assert!(member_socket.buffered("message_deleted").is_empty());
    outsider_socket.settle(&app, &outsider).await;
    assert!(outsider_socket.buffered("message_deleted").is_empty());
    assert!(outsider_socket.buffered("reaction_added").is_empty());

    // History, /sync and the chat's last_message show the tombstone.
    let (_, page) = app.get(&format!("/chats/{group_id}"), Some(&member.token)).await;
    let shown = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(shown, tombstone);
    let (_, sync) = app.get("/sync?after=0", Some(&member.token)).await;
    assert!(
        sync["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == &tombstone)
    );
    let last = app.send(&member, json!({ "group_id": group_id }), "newest").await;
    let (status, _) = app.delete_message(&member, last["id"].as_i64().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let (_, chat) = app.get(&format!("/groups/{group_id}"), Some(&member.token)).await;
    assert_eq!(chat["group"]["last_message"]["id"], last["id"]);
    assert!(chat["group"]["last_message"]["deleted_at"].is_string());

    // In a direct chat nobody but the sender deletes.
    let direct = app.send(&owner, json!({ "to": member.id }), "mine").await;
    assert_error(
        &app.delete_message(&member, direct["id"].as_i64().unwrap()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn a_deleted_files_bytes_stop_being_served_and_go_when_unreferenced() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = upload_png(&app, &alice, &bob).await;
    let second = upload_png(&app, &alice, &bob).await;
    let url = first["attachment"]["url"].as_str().unwrap().to_string();
    assert_eq!(app.fetch(&url, None).await.status(), StatusCode::OK);
    assert_eq!(blobstore::stored(&app.data_path()).await.len(), 1);

    app.delete_message(&alice, first["id"].as_i64().unwrap()).await;
    assert_eq!(app.fetch(&url, None).await.status(), StatusCode::NOT_FOUND);
    // The second message refers to the same bytes: they stay.
    let second_url = second["attachment"]["url"].as_str().unwrap().to_string();
    assert_eq!(app.fetch(&second_url, None).await.status(), StatusCode::OK);
    assert_eq!(blobstore::stored(&app.data_path()).await.len(), 1);

    app.delete_message(&alice, second["id"].as_i64().unwrap()).await;
    assert_eq!(app.fetch(&second_url, None).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(blobstore::stored(&app.data_path()).await, Vec::<String>::new());

    // The same bytes uploaded again are stored again.
    let third = upload_png(&app, &alice, &bob).await;
    let third_url = third["attachment"]["url"].as_str().unwrap().to_string();
    assert_eq!(app.fetch(&third_url, None).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn uploads_and_deletions_of_the_same_bytes_never_lose_a_referenced_blob() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let fields = vec![("to", bob.id.to_string())];
    let first = app
        .upload(&alice, &fields, "dot.png", "image/png", PNG.to_vec())
        .await
        .1["message"]
        .clone();
    let mut previous = first["id"].as_i64().unwrap();
    for _ in 0..10 {
        // Delete the one holder of the bytes while uploading them again.
        let (deleted, uploaded) = tokio::join!(
            app.delete_message(&alice, previous),
            app.upload(&alice, &fields, "dot.png", "image/png", PNG.to_vec())
        );
        assert_eq!(deleted.0, StatusCode::OK);
        assert_eq!(uploaded.0, StatusCode::CREATED, "{}", uploaded.1);
        let url = uploaded.1["message"]["attachment"]["url"]
            .as_str()
            .unwrap()
            .to_string();
        let served = app.fetch(&url, None).await;
        assert_eq!(
            served.status(),
            StatusCode::OK,
            "the new upload's bytes are there"
        );
        previous = uploaded.1["message"]["id"].as_i64().unwrap();
    }
}

#[tokio::test]
async fn reactions_count_per_emoji_with_me_per_viewer() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let message = app.send(&alice, json!({ "to": bob.id }), "react to me").await;
    let id = message["id"].as_i64().unwrap();
    let chat_id = message["chat_id"].as_i64().unwrap();
    let mut alice_socket = SocketClient::of(&app, &alice).await;
    let mut eve_socket = SocketClient::of(&app, &eve).await;

    let (status, body) = app.react(&bob, id, "👍", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(reactions(&body["message"]), [("👍".into(), 1, Some(true))]);
    let event = alice_socket.expect("reaction_added").await;
    assert_eq!(
        event,
        json!({ "chat_id": chat_id, "message_id": id, "user_id": bob.id, "emoji": "👍", "count": 1, "seq": body["message"]["seq"] })
    );
    let (_, body) = app.react(&alice, id, ":tada:", true).await;
    assert_eq!(
        reactions(&body["message"]),
        [("👍".into(), 1, Some(false)), (":tada:".into(), 1, Some(true))]
    );
    let (_, body) = app.react(&alice, id, "👍", true).await;
    assert_eq!(
        reactions(&body["message"]),
        [("👍".into(), 2, Some(true)), (":tada:".into(), 1, Some(true))],
        "ordered by first use"
    );
    // Bob sees his own `me`.
    let (_, page) = app.get(&format!("/chats/{chat_id}"), Some(&bob.token)).await;
    assert_eq!(
        reactions(&page["messages"][0]),
        [("👍".into(), 2, Some(true)), (":tada:".into(), 1, Some(false))]
    );

    // Repeats change nothing and broadcast nothing.
    alice_socket.settle(&app, &alice).await;
    let _ = alice_socket.buffered("reaction_added");
    let (status, _) = app.react(&bob, id, "👍", true).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.react(&bob, id, ":tada:", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reactions(&body["message"])[1], (":tada:".into(), 1, Some(false)));

    let (_, body) = app.react(&bob, id, "👍", false).await;
    assert!(reactions(&body["message"]).contains(&("👍".into(), 1, Some(false))));
    let removed = alice_socket.expect("reaction_removed").await;
    assert_eq!(removed["count"], 1);
    assert_eq!(removed["user_id"], bob.id);
    assert!(alice_socket.buffered("reaction_added").len() <= 2);

    // Bad emoji, a non-member, a deleted message.
    for bad in ["a b", "\t", &"x".repeat(33)] {
        assert_error(
            &app.react(&bob, id, bad, true).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    assert_error(
        &app.react(&eve, id, "a b", true).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.react(&bob, 999_999, "👍", true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    eve_socket.settle(&app, &eve).await;
    assert!(eve_socket.buffered("reaction_added").is_empty());
    assert!(eve_socket.buffered("reaction_removed").is_empty());
    app.delete_message(&alice, id).await;
    assert_error(
        &app.react(&bob, id, "👍", true).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.react(&bob, id, "👍", false).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn twenty_distinct_emoji_at_most() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let message = app.send(&alice, json!({ "to": alice.id }), "many").await;
    let id = message["id"].as_i64().unwrap();
    for i in 0..20 {
        let (status, _) = app.react(&alice, id, &format!(":e{i}:"), true).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_error(
        &app.react(&alice, id, ":e20:", true).await,
        StatusCode::CONFLICT,
        "too_many_reactions",
    );
    // An emoji already there may still be added by someone else: here, again (a no-op).
    let (status, body) = app.react(&alice, id, ":e3:", true).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["message"]["reactions"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn socket_changes_ack_with_me_and_broadcast_without_it_in_commit_order() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_socket = SocketClient::of(&app, &alice).await;
    let mut bob_socket = SocketClient::of(&app, &bob).await;

    let ack = alice_socket
        .emit_ack("send_message", json!({ "to": bob.id, "text": "first" }))
        .await;
    let first = ack["message"].clone();
    let id = first["id"].as_i64().unwrap();
    let ack = bob_socket
        .emit_ack(
            "send_message",
            json!({ "to": alice.id, "text": "re", "reply_to": id }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["message"]["reply_to"]["id"], id);

    let ack = alice_socket
        .emit_ack("edit_message", json!({ "message_id": id, "text": "first!" }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["message"]["text"], "first!");
    // The editing socket gets the broadcast too.
    let mine = alice_socket.expect("message_updated").await;
    assert_eq!(mine["message"]["text"], "first!");

    let ack = bob_socket
        .emit_ack("add_reaction", json!({ "message_id": id, "emoji": "❤️" }))
        .await;
    assert_eq!(
        ack["message"]["reactions"],
        json!([{ "emoji": "❤️", "count": 1, "me": true }])
    );
    let event = bob_socket.expect("reaction_added").await;
    assert_eq!(event["count"], 1);
    // An edit's event carries reactions without `me`.
    alice_socket
        .emit_ack("edit_message", json!({ "message_id": id, "text": "first!!" }))
        .await;
    let updated = bob_socket
        .expect_where("message_updated", |e| e["message"]["text"] == "first!!")
        .await;
    assert_eq!(
        updated["message"]["reactions"],
        json!([{ "emoji": "❤️", "count": 1 }])
    );

    let ack = bob_socket
        .emit_ack("edit_message", json!({ "message_id": id, "text": "mine now" }))
        .await;
    assert_eq!(ack["ok"], false);
    assert_eq!(ack["error"]["code"], "forbidden");
    let ack = bob_socket
        .emit_ack("remove_reaction", json!({ "message_id": id, "emoji": "❤️" }))
        .await;
    assert_eq!(ack["message"]["reactions"], json!([]));
    let ack = alice_socket
        .emit_ack("delete_message", json!({ "message_id": id }))
        .await;
    assert!(ack["message"]["deleted_at"].is_string());
    let ack = alice_socket.emit_ack("delete_message", json!({})).await;
    assert_eq!(ack["error"]["code"], "validation_failed");

    // Send, edit, send: a watcher sees them in that order.
    bob_socket.settle(&app, &bob).await;
    bob_socket.take_all();
    let a = app.send(&alice, json!({ "to": bob.id }), "A").await;
    let a_id = a["id"].as_i64().unwrap();
    assert_eq!(app.patch_text(&alice, a_id, "A2").await.0, StatusCode::OK);
    app.send(&alice, json!({ "to": bob.id }), "B").await;
    bob_socket
        .expect_where("receive_message", |m| m["text"] == "B")
        .await;
    let order: Vec<String> = bob_socket
        .take_all()
        .into_iter()
        .map(|(name, data)| {
            format!(
                "{name} {}",
                data["text"]
                    .as_str()
                    .or(data["message"]["text"].as_str())
                    .unwrap_or("")
            )
        })
        .collect();
    assert_eq!(order, ["receive_message A", "message_updated A2"]);
}
