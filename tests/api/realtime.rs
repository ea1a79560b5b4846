//! Socket.IO: authentication, rooms, every client event with its ack and
//! every server event with its recipients, ordering, presence, bad input.

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::helpers::{ids, spawn_app, spawn_app_with};
use crate::socket::{Auth, SocketClient};

fn ok(ack: &Value) -> &Value {
    assert_eq!(ack["ok"], true, "ack: {ack}");
    ack
}

#[track_caller]
fn refused(ack: &Value, code: &str) {
    assert_eq!(ack["ok"], false, "ack: {ack}");
    assert_eq!(ack["error"]["code"], code, "ack: {ack}");
    assert!(ack["error"]["message"].is_string(), "ack: {ack}");
}

#[tokio::test]
async fn connecting_needs_a_valid_token_in_auth_header_or_query() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    for auth in [
        Auth::None,
        Auth::Payload("garbage"),
        Auth::Header("garbage"),
        Auth::Query("garbage"),
    ] {
        let refused = SocketClient::connect(&app, auth).await.err();
        assert_eq!(refused.as_deref(), Some("unauthorized"));
    }
    for auth in [
        Auth::Payload(&alice.token),
        Auth::Header(&alice.token),
        Auth::Query(&alice.token),
    ] {
        let mut sock = SocketClient::connect(&app, auth).await.expect("accepted");
        sock.settle(&app, &alice).await;
    }
}

#[tokio::test]
async fn a_message_reaches_every_device_but_the_sending_socket() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_phone = SocketClient::of(&app, &alice).await;
    let mut alice_laptop = SocketClient::of(&app, &alice).await;
    let mut bob_phone = SocketClient::of(&app, &bob).await;
    let mut bob_laptop = SocketClient::of(&app, &bob).await;

    // The first message creates the chat: bob's open sockets get it anyway.
    let ack = alice_phone
        .emit_ack(
            "send_message",
            json!({ "to": bob.id, "text": "hi bob", "client_id": "k1" }),
        )
        .await;
    let message = ok(&ack)["message"].clone();
    assert_eq!(message["text"], "hi bob");
    assert_eq!(message["sender_id"], alice.id);
    assert_eq!(message["client_id"], "k1");
    for sock in [&mut bob_phone, &mut bob_laptop, &mut alice_laptop] {
        assert_eq!(sock.expect("receive_message").await, message);
    }
    alice_phone.settle(&app, &alice).await;
    assert_eq!(
        alice_phone.buffered("receive_message"),
        Vec::<Value>::new(),
        "no echo to the sending socket"
    );

    // A retry with the same client_id: same message, no second broadcast.
    let again = alice_phone
        .emit_ack(
            "send_message",
            json!({ "to": bob.id, "text": "hi bob", "client_id": "k1" }),
        )
        .await;
    assert_eq!(ok(&again)["message"], message);
    bob_phone.settle(&app, &bob).await;
    assert!(
        bob_phone.buffered("receive_message").is_empty(),
        "no second broadcast"
    );

    // Bob answers by chat id; alice's two devices get it, bob's other one too.
    let reply = bob_laptop
        .emit_ack(
            "send_message",
            json!({ "chat_id": message["chat_id"], "text": "hey" }),
        )
        .await;
    let reply = ok(&reply)["message"].clone();
    for sock in [&mut alice_phone, &mut alice_laptop, &mut bob_phone] {
        assert_eq!(
            sock.expect_where("receive_message", |m| m["id"] == reply["id"])
                .await,
            reply
        );
    }
    bob_laptop.settle(&app, &bob).await;
    assert_eq!(bob_laptop.buffered("receive_message"), Vec::<Value>::new());
}

#[tokio::test]
async fn a_rest_message_is_broadcast_like_a_socket_one() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    let sent = app.send(&alice, json!({ "to": bob.id }), "over REST").await;
    assert_eq!(bob_sock.expect("receive_message").await, sent);
    // REST has no sending socket: all of the sender's sockets hear it.
    assert_eq!(alice_sock.expect("receive_message").await, sent);
}

#[tokio::test]
async fn a_message_is_in_history_before_its_recipient_receives_it() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    for i in 0..20 {
        alice_sock.emit("send_message", json!({ "to": bob.id, "text": format!("m{i}") }));
    }
    for _ in 0..20 {
        let received = bob_sock.expect("receive_message").await;
        let (status, page) = app
            .get(
                &format!("/chats/{}?limit=200", received["chat_id"]),
                Some(&bob.token),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let stored = page["messages"].as_array().unwrap();
        assert!(stored.contains(&received), "stored before delivered");
    }
}

#[tokio::test]
async fn groups_over_the_socket_reach_members_and_never_outsiders() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    let mut eve_sock = SocketClient::of(&app, &eve).await;

    let ack = alice_sock
        .emit_ack("create_group", json!({ "name": "team", "member_ids": [bob.id] }))
        .await;
    let group = ok(&ack)["group"].clone();
    assert_eq!(group["kind"], "group");
    assert_eq!(group["members"].as_array().unwrap().len(), 2);
    assert_eq!(alice_sock.expect("group_created").await["group"], group);
    assert_eq!(bob_sock.expect("group_created").await["group"], group);

    let ack = bob_sock
        .emit_ack(
            "group_message",
            json!({ "group_id": group["id"], "text": "hello team" }),
        )
        .await;
    let message = ok(&ack)["message"].clone();
    assert_eq!(message["chat_kind"], "group");
    assert_eq!(alice_sock.expect("receive_message").await, message);

    // join_group is idempotent for members and refused to outsiders.
    let ack = bob_sock
        .emit_ack("join_group", json!({ "group_id": group["id"] }))
        .await;
    assert_eq!(ok(&ack)["group"]["id"], group["id"]);
    refused(
        &eve_sock
            .emit_ack("join_group", json!({ "group_id": group["id"] }))
            .await,
        "not_a_member",
    );
    refused(
        &eve_sock.emit_ack("join_group", json!({ "group_id": 9999 })).await,
        "group_not_found",
    );
    refused(
        &eve_sock
            .emit_ack(
                "group_message",
                json!({ "group_id": group["id"], "text": "let me in" }),
            )
            .await,
        "not_a_member",
    );
    refused(
        &eve_sock
            .emit_ack(
                "send_message",
                json!({ "chat_id": group["id"], "text": "let me in" }),
            )
            .await,
        "not_a_member",
    );

    eve_sock.settle(&app, &eve).await;
    assert!(eve_sock.buffered("group_created").is_empty());
    assert_eq!(
        eve_sock.buffered("receive_message").len(),
        0,
        "the outsider heard nothing"
    );
}

#[tokio::test]
async fn add_user_brings_the_new_members_open_sockets_in_live() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    let mut carol_sock = SocketClient::of(&app, &carol).await;
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let gid = group["id"].as_i64().unwrap();

    let (status, _) = app
        .post(
            &format!("/groups/{gid}/add-user"),
            Some(&alice.token),
            json!({ "user_id": carol.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let added = carol_sock.expect("added_to_group").await;
    assert_eq!(added["group"]["id"], gid);
    assert_eq!(added["group"]["members"].as_array().unwrap().len(), 3);
    for sock in [&mut alice_sock, &mut bob_sock] {
        let event = sock.expect("member_added").await;
        assert_eq!(event["group_id"], gid);
        assert_eq!(event["member"]["user_id"], carol.id);
        assert_eq!(event["member"]["role"], "member");
    }
    carol_sock.settle(&app, &carol).await;
    assert!(
        carol_sock.buffered("member_added").is_empty(),
        "member_added is for the others"
    );

    // Without join_group, carol's socket now gets the group's messages.
    let sent = app.send(&bob, json!({ "group_id": gid }), "welcome carol").await;
    assert_eq!(carol_sock.expect("receive_message").await, sent);
}

#[tokio::test]
async fn typing_is_relayed_to_the_other_members_only() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let chat = app.send(&alice, json!({ "to": bob.id }), "hi").await["chat_id"]
        .as_i64()
        .unwrap();
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut alice_other = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;
    let mut eve_sock = SocketClient::of(&app, &eve).await;

    ok(&alice_sock
        .emit_ack("typing", json!({ "chat_id": chat, "typing": true }))
        .await);
    assert_eq!(
        bob_sock.expect("typing").await,
        json!({ "chat_id": chat, "user_id": alice.id, "typing": true })
    );
    ok(&alice_sock
        .emit_ack("typing", json!({ "chat_id": chat, "typing": false }))
        .await);
    assert_eq!(bob_sock.expect("typing").await["typing"], false);
    alice_other.settle(&app, &alice).await;
    assert!(
        alice_other.buffered("typing").is_empty(),
        "not to the typist's own devices"
    );

    refused(
        &eve_sock
            .emit_ack("typing", json!({ "chat_id": chat, "typing": true }))
            .await,
        "not_a_member",
    );
    refused(
        &eve_sock
            .emit_ack("typing", json!({ "chat_id": 4242, "typing": true }))
            .await,
        "chat_not_found",
    );
    refused(
        &alice_sock.emit_ack("typing", json!({ "chat_id": chat })).await,
        "validation_failed",
    );
    refused(
        &alice_sock
            .emit_ack("typing", json!({ "chat_id": chat, "typing": "yes" }))
            .await,
        "validation_failed",
    );
    // Never stored.
    let (_, page) = app.get(&format!("/chats/{chat}"), Some(&bob.token)).await;
    assert_eq!(page["messages"].as_array().unwrap().len(), 1);
    bob_sock.settle(&app, &bob).await;
    assert!(bob_sock.buffered("typing").is_empty());
}

#[tokio::test]
async fn mark_read_moves_the_marker_and_tells_the_members() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let m1 = app.send(&alice, json!({ "to": bob.id }), "one").await;
    let m2 = app.send(&alice, json!({ "to": bob.id }), "two").await;
    let chat = m1["chat_id"].as_i64().unwrap();
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;

    let ack = bob_sock
        .emit_ack("mark_read", json!({ "chat_id": chat, "message_id": m2["id"] }))
        .await;
    ok(&ack);
    let told = alice_sock.expect("read").await;
    assert!(
        told["seq"].as_i64().unwrap() > m2["seq"].as_i64().unwrap(),
        "{told}"
    );
    let read = json!({ "chat_id": chat, "user_id": bob.id, "message_id": m2["id"], "seq": told["seq"] });
    assert_eq!(told, read);
    assert_eq!(
        bob_sock.expect("read").await,
        read,
        "the chat's members, the reader included"
    );

    // Backwards: acked, marker unchanged, nothing broadcast.
    ok(&bob_sock
        .emit_ack("mark_read", json!({ "chat_id": chat, "message_id": m1["id"] }))
        .await);
    alice_sock.settle(&app, &alice).await;
    assert!(alice_sock.buffered("read").is_empty());
    let (_, list) = app.get("/chats", Some(&bob.token)).await;
    assert_eq!(list["chats"][0]["unread_count"], 0);

    refused(
        &bob_sock
            .emit_ack("mark_read", json!({ "chat_id": chat, "message_id": 9999 }))
            .await,
        "not_found",
    );
    refused(
        &bob_sock.emit_ack("mark_read", json!({ "chat_id": chat })).await,
        "validation_failed",
    );
}

#[tokio::test]
async fn presence_follows_the_first_and_last_socket() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    app.send(&alice, json!({ "to": bob.id }), "we share a chat").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut carol_sock = SocketClient::of(&app, &carol).await;

    let bob_phone = SocketClient::of(&app, &bob).await;
    let online = alice_sock.expect("presence").await;
    assert_eq!(online["user_id"], bob.id);
    assert_eq!(online["online"], true);
    assert!(online["last_seen_at"].is_string());
    let (_, users) = app
        .get(&format!("/users?after={}&limit=1", alice.id), Some(&alice.token))
        .await;
    assert_eq!(users["users"][0]["online"], true);

    // A second device: no new presence event.
    let bob_laptop = SocketClient::of(&app, &bob).await;
    bob_phone.close().await;
    bob_laptop.close().await;
    let offline = alice_sock.expect("presence").await;
    assert_eq!(offline["user_id"], bob.id);
    assert_eq!(offline["online"], false);
    let last_seen = offline["last_seen_at"].as_str().unwrap().to_string();
    assert!(
        alice_sock.buffered("presence").is_empty(),
        "one online, one offline"
    );

    let (_, users) = app
        .get(&format!("/users?after={}&limit=1", alice.id), Some(&alice.token))
        .await;
    assert_eq!(users["users"][0]["online"], false);
    assert_eq!(users["users"][0]["last_seen_at"], last_seen.as_str(), "stored");

    // Carol shares no chat with bob: she heard nothing.
    carol_sock.settle(&app, &carol).await;
    assert!(carol_sock.buffered("presence").is_empty());
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_goes_offline_after_the_ping_timeout() {
    let app = spawn_app_with(
        Arc::new(TempDir::new().expect("temp dir")),
        |config| {
            config.ping_interval = Duration::from_secs(1);
            config.ping_timeout = Duration::from_secs(1);
        },
        axum::Router::new(),
    )
    .await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    app.send(&alice, json!({ "to": bob.id }), "we share a chat").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let bob_sock = SocketClient::of(&app, &bob).await;
    assert_eq!(alice_sock.expect("presence").await["online"], true);

    // Bob's network vanishes: no close frame, no FIN, just silence.
    bob_sock.stop_answering_pings();
    let offline = alice_sock.expect("presence").await;
    assert_eq!(offline["user_id"], bob.id);
    assert_eq!(offline["online"], false);
    drop(bob_sock);
}

#[tokio::test]
async fn bad_payloads_get_validation_failed_and_the_connection_stays() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut sock = SocketClient::of(&app, &alice).await;

    for args in [
        r#"["send_message"]"#,
        r#"["send_message", 42]"#,
        r#"["send_message", [1, 2]]"#,
        r#"["send_message", {"to": "x", "text": "hi"}]"#,
        r#"["send_message", {"text": "no target"}]"#,
        r#"["send_message", "not json at all"]"#,
        r#"["group_message", {"text": "no group"}]"#,
        r#"["create_group", {"name": 7}]"#,
        r#"["create_group", {"member_ids": [1]}]"#,
        r#"["join_group", {}]"#,
        r#"["mark_read", null]"#,
        r#"["typing", true]"#,
    ] {
        refused(&sock.emit_raw_ack(args).await, "validation_failed");
    }
    refused(
        &sock
            .emit_ack("send_message", json!({ "to": bob.id, "text": "   " }))
            .await,
        "message_empty",
    );
    refused(
        &sock
            .emit_ack("send_message", json!({ "to": 424242, "text": "x" }))
            .await,
        "user_not_found",
    );
    refused(&sock.emit_ack("no_such_event", json!({})).await, "not_found");

    // Events without an ack callback are handled or ignored cleanly.
    sock.emit("send_message", json!({ "bad": true }));
    sock.emit("no_such_event", json!({}));

    // A JSON document sent as a string is understood.
    let as_string = json!([
        "send_message",
        json!({ "to": bob.id, "text": "stringly" }).to_string()
    ]);
    let ack = sock.emit_raw_ack(&as_string.to_string()).await;
    assert_eq!(ok(&ack)["message"]["text"], "stringly");
    let ack = sock
        .emit_ack("send_message", json!({ "to": bob.id, "text": "still here" }))
        .await;
    assert_eq!(ok(&ack)["message"]["text"], "still here");
}

#[tokio::test]
async fn many_senders_into_one_group_arrive_complete_and_in_order() {
    let app = spawn_app().await;
    let mut members = Vec::new();
    for name in ["ann", "ben", "cat", "dan"] {
        members.push(app.register(name).await);
    }
    let group = app
        .create_group(&members[0], "busy", &[&members[1], &members[2], &members[3]])
        .await;
    let gid = group["id"].as_i64().unwrap();
    let mut listeners = Vec::new();
    for m in &members {
        listeners.push(SocketClient::of(&app, m).await);
    }
    let mut senders = Vec::new();
    for m in &members {
        senders.push(SocketClient::of(&app, m).await);
    }

    const EACH: usize = 50;
    let sends = senders.iter_mut().enumerate().map(|(s, sock)| async move {
        let mut acked = Vec::new();
        for i in 0..EACH {
            let ack = sock
                .emit_ack(
                    "group_message",
                    json!({ "group_id": gid, "text": format!("{s}-{i}") }),
                )
                .await;
            acked.push(ok(&ack)["message"]["id"].as_i64().unwrap());
        }
        acked
    });
    let acked: Vec<Vec<i64>> = futures::future::join_all(sends).await;
    let mut all: Vec<i64> = acked.into_iter().flatten().collect();
    all.sort_unstable();

    for listener in &mut listeners {
        let mut got = Vec::new();
        while got.len() < all.len() {
            got.push(listener.expect("receive_message").await["id"].as_i64().unwrap());
        }
        assert_eq!(got, all, "every message, in id order");
    }
    let (_, history) = app
        .get(
            &format!("/groups/{gid}/messages?limit=200"),
            Some(&members[0].token),
        )
        .await;
    assert_eq!(ids(&history["messages"]), all);
}

#[tokio::test]
async fn an_outsider_is_refused_on_every_event() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let g = group["id"].as_i64().unwrap();
    let m = app.send(&alice, json!({ "group_id": g }), "secret").await;
    let d = app.send(&alice, json!({ "to": bob.id }), "also secret").await["chat_id"]
        .as_i64()
        .unwrap();
    let mut eve_sock = SocketClient::of(&app, &eve).await;

    let events = [
        ("send_message", json!({ "chat_id": g, "text": "x" })),
        ("send_message", json!({ "chat_id": d, "text": "x" })),
        ("send_message", json!({ "group_id": g, "text": "x" })),
        ("group_message", json!({ "group_id": g, "text": "x" })),
        ("join_group", json!({ "group_id": g })),
        ("typing", json!({ "chat_id": g, "typing": true })),
        ("typing", json!({ "chat_id": d, "typing": true })),
        ("mark_read", json!({ "chat_id": g, "message_id": m["id"] })),
    ];
    for (event, payload) in events {
        refused(&eve_sock.emit_ack(event, payload.clone()).await, "not_a_member");
    }
    let ack = eve_sock
        .emit_binary_ack(
            "send_file",
            json!({ "chat_id": g, "filename": "x.png" }),
            "data",
            crate::uploads::PNG.to_vec(),
        )
        .await;
    refused(&ack, "not_a_member");
    let (_, history) = app.get(&format!("/chats/{g}"), Some(&alice.token)).await;
    assert_eq!(
        history["messages"].as_array().unwrap().len(),
        1,
        "nothing of eve's was stored"
    );
}
