//! Group management (v2): rename, leave (REST and `leave_group`), remove,
//! roles and ownership transfer, with the contract's rules and events: who
//! gets each event and who does not, and a user who went hearing nothing
//! of the group afterwards, reading none of it, and being added back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, assert_error, spawn_app};
use crate::socket::SocketClient;

async fn patch(app: &TestApp, path: &str, who: &Account, body: Value) -> (StatusCode, Value) {
    app.request(Method::PATCH, path, Some(&who.token), Some(body))
        .await
}

async fn delete(app: &TestApp, path: &str, who: &Account) -> (StatusCode, Value) {
    app.request(Method::DELETE, path, Some(&who.token), None).await
}

fn roles(group: &Value) -> Vec<(i64, String)> {
    group["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Owner alice, admin bob, members carol and dave.
async fn team(app: &TestApp) -> (Account, Account, Account, Account, i64) {
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let group = app.create_group(&alice, "Team", &[&bob, &carol, &dave]).await;
    let id = group["id"].as_i64().unwrap();
    let (status, body) = patch(
        app,
        &format!("/groups/{id}/members/{}", bob.id),
        &alice,
        json!({ "role": "admin" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (alice, bob, carol, dave, id)
}

#[tokio::test]
async fn owners_and_admins_rename_and_every_member_hears_it() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, id) = team(&app).await;
    let outsider = app.register("erin").await;
    let mut carol_socket = SocketClient::of(&app, &carol).await;
    let mut outsider_socket = SocketClient::of(&app, &outsider).await;

    let (status, body) = patch(
        &app,
        &format!("/groups/{id}"),
        &bob,
        json!({ "name": "  Renamed  " }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["group"]["name"], "Renamed");
    let updated = carol_socket.expect("group_updated").await;
    assert_eq!(updated["group"]["id"], id);
    assert_eq!(updated["group"]["name"], "Renamed");
    assert_eq!(updated["group"]["unread_count"], 0);
    assert!(updated["seq"].as_i64().unwrap() > 0, "{updated}");
    let (_, shown) = app.get(&format!("/groups/{id}"), Some(&dave.token)).await;
    assert_eq!(shown["group"]["name"], "Renamed");

    // Refusals, in the contract's order, and nothing changes.
    assert_error(
        &patch(&app, &format!("/groups/{id}"), &carol, json!({ "name": "Mine" })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &patch(&app, &format!("/groups/{id}"), &outsider, json!({ "name": "X" })).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &patch(&app, &format!("/groups/{id}"), &alice, json!({ "name": "   " })).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &patch(&app, &format!("/groups/{id}"), &alice, json!({})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &patch(&app, "/groups/999999", &alice, json!({ "name": "X" })).await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
    assert_error(
        &patch(&app, "/groups/abc", &alice, json!({ "name": "X" })).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    // The same name again is no change: no event.
    let (status, _) = patch(
        &app,
        &format!("/groups/{id}"),
        &alice,
        json!({ "name": "Renamed" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    carol_socket.settle(&app, &carol).await;
    assert!(carol_socket.buffered("group_updated").is_empty());
    outsider_socket.settle(&app, &outsider).await;
    assert!(
        outsider_socket.buffered("group_updated").is_empty(),
        "outsiders hear nothing"
    );
    let (_, shown) = app.get(&format!("/groups/{id}"), Some(&carol.token)).await;
    assert_eq!(shown["group"]["name"], "Renamed");
}

#[tokio::test]
async fn who_may_remove_whom() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, id) = team(&app).await;
    let path = |u: &Account| format!("/groups/{id}/members/{}", u.id);
    // An admin removes plain members only; nobody removes themself.
    assert_error(
        &delete(&app, &path(&alice), &bob).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &delete(&app, &path(&bob), &bob).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &delete(&app, &path(&alice), &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &delete(&app, &path(&dave), &carol).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let stranger = app.register("stranger").await;
    assert_error(
        &delete(&app, &path(&stranger), &alice).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &delete(&app, &format!("/groups/{id}/members/999999"), &alice).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
    assert_error(
        &delete(&app, &path(&carol), &stranger).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &delete(&app, &format!("/groups/999999/members/{}", carol.id), &alice).await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
    assert_error(
        &delete(&app, &format!("/groups/{id}/members/x"), &alice).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );

    let (status, body) = delete(&app, &path(&dave), &bob).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!roles(&body["group"]).iter().any(|(u, _)| *u == dave.id));
    // The owner removes an admin.
    let (status, body) = delete(&app, &path(&bob), &alice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        roles(&body["group"]),
        [(alice.id, "owner".into()), (carol.id, "member".into())]
    );
}

#[tokio::test]
async fn a_removed_member_hears_nothing_more_reads_nothing_and_can_come_back() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, id) = team(&app).await;
    // A file in the group, and its URL as dave got it.
    let (status, uploaded) = app
        .upload(
            &alice,
            &[("group_id", id.to_string())],
            "plan.png",
            "image/png",
            crate::uploads::PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    let (_, history) = app
        .get(&format!("/groups/{id}/messages"), Some(&dave.token))
        .await;
    let url = history["messages"][0]["attachment"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains(&format!("u={}", dave.id)), "{url}");
    assert_eq!(
        app.client.get(app.url(&url)).send().await.unwrap().status(),
        StatusCode::OK
    );

    let mut dave_a = SocketClient::of(&app, &dave).await;
    let mut dave_b = SocketClient::of(&app, &dave).await;
    let mut carol_socket = SocketClient::of(&app, &carol).await;
    let (status, _) = delete(&app, &format!("/groups/{id}/members/{}", dave.id), &alice).await;
    assert_eq!(status, StatusCode::OK);
    // Sent right after the answer: the removed member's sockets must not get it.
    app.send(&alice, json!({ "group_id": id }), "after the removal")
        .await;
    for socket in [&mut dave_a, &mut dave_b] {
        let removed = socket.expect("member_removed").await;
        assert_eq!(removed["group_id"], id);
        assert_eq!(removed["user_id"], dave.id);
        assert_eq!(removed["by"], alice.id);
        assert_eq!(removed["reason"], "removed");
        socket.settle(&app, &dave).await;
        assert!(
            socket
                .buffered("receive_message")
                .iter()
                .all(|m| m["chat_id"] != id),
            "a removed member got the group's message"
        );
    }
    let told = carol_socket.expect("member_removed").await;
    assert_eq!(told["user_id"], dave.id);
    carol_socket
        .expect_where("receive_message", |m| m["text"] == "after the removal")
        .await;
    // Typing in the group no longer reaches them either.
    carol_socket.emit("typing", json!({ "chat_id": id, "typing": true }));
    dave_a.settle(&app, &dave).await;
    assert!(dave_a.buffered("typing").is_empty());

    // No history, no file (not even by the URL signed for them), no search.
    assert_error(
        &app.get(&format!("/groups/{id}/messages"), Some(&dave.token))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.get(&format!("/chats/{id}"), Some(&dave.token)).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let file = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::FORBIDDEN);
    assert_error(
        &app.get(&format!("/search?q=after&chat_id={id}"), Some(&dave.token))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let (_, found) = app.get("/search?q=removal", Some(&dave.token)).await;
    assert_eq!(found["results"].as_array().unwrap().len(), 0, "{found}");
    assert_error(
        &app.post(
            "/chats/send-message",
            Some(&dave.token),
            json!({ "group_id": id, "text": "hi" }),
        )
        .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let (_, chats) = app.get("/chats", Some(&dave.token)).await;
    assert!(chats["chats"].as_array().unwrap().iter().all(|c| c["id"] != id));

    // Added back: they hear the group again.
    let (status, _) = app
        .post(
            &format!("/groups/{id}/add-user"),
            Some(&bob.token),
            json!({ "user_id": dave.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    dave_a.expect("added_to_group").await;
    app.send(&carol, json!({ "group_id": id }), "welcome back").await;
    dave_a
        .expect_where("receive_message", |m| m["text"] == "welcome back")
        .await;
    assert_eq!(
        app.client.get(app.url(&url)).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn roles_are_the_owners_and_ownership_moves() {
    let app = spawn_app().await;
    let (alice, bob, carol, dave, id) = team(&app).await;
    let path = |u: &Account| format!("/groups/{id}/members/{}", u.id);
    let mut dave_socket = SocketClient::of(&app, &dave).await;

    assert_error(
        &patch(&app, &path(&carol), &bob, json!({ "role": "admin" })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &patch(&app, &path(&alice), &alice, json!({ "role": "admin" })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &patch(&app, &path(&carol), &alice, json!({ "role": "boss" })).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &patch(&app, &path(&carol), &alice, json!({ "role": 1 })).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &patch(&app, &path(&carol), &alice, json!({})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let stranger = app.register("stranger").await;
    assert_error(
        &patch(&app, &path(&stranger), &alice, json!({ "role": "admin" })).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    let (status, body) = patch(&app, &path(&carol), &alice, json!({ "role": "admin" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let changed = dave_socket.expect("member_role_changed").await;
    assert_eq!(
        changed,
        json!({ "group_id": id, "user_id": carol.id, "role": "admin", "seq": changed["seq"] })
    );
    // The same role again changes nothing and tells nobody.
    let (status, _) = patch(&app, &path(&carol), &alice, json!({ "role": "admin" })).await;
    assert_eq!(status, StatusCode::OK);

    // A transfer: two changes, consecutive seqs, the new owner first.
    let (status, body) = patch(&app, &path(&dave), &alice, json!({ "role": "owner" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first = dave_socket.expect("member_role_changed").await;
    let second = dave_socket.expect("member_role_changed").await;
    assert_eq!(
        (first["user_id"].as_i64(), first["role"].as_str()),
        (Some(dave.id), Some("owner"))
    );
    assert_eq!(
        (second["user_id"].as_i64(), second["role"].as_str()),
        (Some(alice.id), Some("admin"))
    );
    assert_eq!(
        second["seq"].as_i64().unwrap(),
        first["seq"].as_i64().unwrap() + 1
    );
    dave_socket.settle(&app, &dave).await;
    assert!(
        dave_socket.buffered("member_role_changed").is_empty(),
        "no repeat was told"
    );
    let owner_of = |group: &Value| {
        roles(group)
            .into_iter()
            .filter(|(_, r)| r == "owner")
            .map(|(u, _)| u)
            .collect::<Vec<_>>()
    };
    assert_eq!(owner_of(&body["group"]), [dave.id]);
    // The old owner, now an admin, can no longer change roles.
    assert_error(
        &patch(&app, &path(&bob), &alice, json!({ "role": "member" })).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn an_owner_who_leaves_hands_the_group_on() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    // All joined at once: ties go to the lower user id.
    let group = app.create_group(&alice, "Club", &[&dave, &carol]).await;
    let id = group["id"].as_i64().unwrap();
    app.post(
        &format!("/groups/{id}/add-user"),
        Some(&alice.token),
        json!({ "user_id": bob.id }),
    )
    .await;
    let (status, _) = patch(
        &app,
        &format!("/groups/{id}/members/{}", bob.id),
        &alice,
        json!({ "role": "admin" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut carol_socket = SocketClient::of(&app, &carol).await;
    let mut alice_socket = SocketClient::of(&app, &alice).await;

    // The admin goes first, though the members joined earlier.
    let (status, body) = app
        .post(&format!("/groups/{id}/leave"), Some(&alice.token), json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let left = carol_socket.expect("member_removed").await;
    assert_eq!(
        (
            left["user_id"].as_i64(),
            left["reason"].as_str(),
            left["by"].as_i64()
        ),
        (Some(alice.id), Some("left"), Some(alice.id))
    );
    let handed = carol_socket.expect("member_role_changed").await;
    assert_eq!(
        (handed["user_id"].as_i64(), handed["role"].as_str()),
        (Some(bob.id), Some("owner"))
    );
    assert_eq!(alice_socket.expect("member_removed").await["user_id"], alice.id);
    alice_socket.settle(&app, &alice).await;
    assert!(
        alice_socket.buffered("member_role_changed").is_empty(),
        "who left hears no more"
    );
    assert_error(
        &app.post(&format!("/groups/{id}/leave"), Some(&alice.token), json!({}))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );

    // No admin left: the member who joined first, the lower id on a tie.
    app.post(&format!("/groups/{id}/leave"), Some(&bob.token), json!({}))
        .await;
    let handed = carol_socket
        .expect_where("member_role_changed", |e| e["role"] == "owner")
        .await;
    let first = carol.id.min(dave.id);
    assert_eq!(handed["user_id"], first);

    // Over the socket, with its ack; the last member out leaves an empty group.
    let mut dave_socket = SocketClient::of(&app, &dave).await;
    let ack = dave_socket
        .emit_ack("leave_group", json!({ "group_id": id }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let ack = carol_socket
        .emit_ack("leave_group", json!({ "group_id": id }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let ack = carol_socket
        .emit_ack("leave_group", json!({ "group_id": id }))
        .await;
    assert_eq!(ack["error"]["code"], "not_a_member", "{ack}");
    let ack = carol_socket.emit_ack("leave_group", json!({})).await;
    assert_eq!(ack["error"]["code"], "validation_failed", "{ack}");
    assert_error(
        &app.post("/groups/999999/leave", Some(&carol.token), json!({}))
            .await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
    let (status, events) = app.get("/events?since=0", Some(&carol.token)).await;
    assert_eq!(status, StatusCode::OK);
    let last = events["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["type"].as_str(), last["data"]["user_id"].as_i64()),
        (Some("member_removed"), Some(carol.id))
    );
}
