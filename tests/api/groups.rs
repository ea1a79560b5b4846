//! Groups: create, show, add members with roles, and outsiders refused on
//! every chat and group route.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn creating_a_group_makes_the_creator_owner() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let (status, body) = app
        .post(
            "/groups",
            Some(&alice.token),
            json!({ "name": "  Project X  ", "member_ids": [bob.id, carol.id, bob.id, alice.id] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let group = &body["group"];
    assert_eq!(group["kind"], "group");
    assert_eq!(group["name"], "Project X");
    assert_eq!(group["created_by"], alice.id);
    assert!(group["last_message"].is_null());
    assert_eq!(group["unread_count"], 0);
    let roles: Vec<(i64, String)> = group["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["user_id"].as_i64().unwrap(),
                m["role"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            (alice.id, "owner".into()),
            (bob.id, "member".into()),
            (carol.id, "member".into())
        ]
    );

    // Visible to members, including through /chats/{id}, and in their lists.
    let (status, shown) = app
        .get(&format!("/groups/{}", group["id"]), Some(&bob.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["group"]["id"], group["id"]);
    let (status, _) = app
        .get(&format!("/chats/{}", group["id"]), Some(&carol.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get("/chats", Some(&carol.token)).await;
    assert_eq!(list["chats"][0]["id"], group["id"]);

    // A group with no one else is fine too.
    let (status, solo) = app
        .post("/groups", Some(&alice.token), json!({ "name": "solo" }))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(solo["group"]["members"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn group_creation_validates_its_input() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let t = Some(alice.token.as_str());
    for body in [
        json!({}),
        json!({ "name": "" }),
        json!({ "name": "   " }),
        json!({ "name": "n".repeat(101) }),
        json!({ "name": 3 }),
        json!({ "name": "ok", "member_ids": "1" }),
        json!({ "name": "ok", "member_ids": [0] }),
        json!({ "name": "ok", "member_ids": ["2"] }),
    ] {
        assert_error(
            &app.post("/groups", t, body).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    let r = app
        .post(
            "/groups",
            t,
            json!({ "name": "ok", "member_ids": [alice.id, 777] }),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "user_not_found");
    let (_, list) = app.get("/chats", t).await;
    assert_eq!(list["chats"].as_array().unwrap().len(), 0, "no half-made group");
    let (status, _) = app.post("/groups", t, json!({ "name": "n".repeat(100) })).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn owners_add_members_and_plain_members_cannot() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let dave = app.register("dave").await;
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let path = format!("/groups/{}/add-user", group["id"]);

    let (status, body) = app
        .post(&path, Some(&alice.token), json!({ "user_id": carol.id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let added = body["group"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == carol.id)
        .cloned();
    let added = added.expect("carol is a member");
    assert_eq!(added["role"], "member");
    assert_eq!(added["username"], "carol");

    // The new member sees the group and its earlier messages.
    let (status, _) = app
        .get(&format!("/groups/{}/messages", group["id"]), Some(&carol.token))
        .await;
    assert_eq!(status, StatusCode::OK);

    assert_error(
        &app.post(&path, Some(&bob.token), json!({ "user_id": dave.id }))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.post(&path, Some(&dave.token), json!({ "user_id": dave.id }))
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.post(&path, Some(&alice.token), json!({ "user_id": bob.id }))
            .await,
        StatusCode::CONFLICT,
        "already_member",
    );
    assert_error(
        &app.post(&path, Some(&alice.token), json!({ "user_id": 4242 }))
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
    assert_error(
        &app.post(&path, Some(&alice.token), json!({})).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_error(
        &app.post(
            "/groups/999/add-user",
            Some(&alice.token),
            json!({ "user_id": dave.id }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );

    // add-user on a direct chat id: not a group.
    let direct = app.send(&alice, json!({ "to": bob.id }), "hi").await["chat_id"].clone();
    assert_error(
        &app.post(
            &format!("/groups/{direct}/add-user"),
            Some(&alice.token),
            json!({ "user_id": dave.id }),
        )
        .await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
    assert_error(
        &app.get(&format!("/groups/{direct}"), Some(&alice.token)).await,
        StatusCode::NOT_FOUND,
        "group_not_found",
    );
}

#[tokio::test]
async fn group_messages_by_group_id_or_chat_id() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let a = app
        .send(&alice, json!({ "group_id": group["id"] }), "by group")
        .await;
    let b = app.send(&bob, json!({ "chat_id": group["id"] }), "by chat").await;
    assert_eq!(a["chat_kind"], "group");
    assert_eq!(a["chat_id"], group["id"]);
    assert_eq!(b["chat_id"], group["id"]);
    let (_, shown) = app
        .get(&format!("/groups/{}", group["id"]), Some(&alice.token))
        .await;
    assert_eq!(shown["group"]["last_message"]["id"], b["id"]);
    assert_eq!(shown["group"]["unread_count"], 1);
}

#[tokio::test]
async fn an_outsider_is_refused_on_every_chat_and_group_route() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let g = group["id"].as_i64().unwrap();
    let m = app.send(&alice, json!({ "group_id": g }), "secret").await;
    let direct = app.send(&alice, json!({ "to": bob.id }), "also secret").await;
    let d = direct["chat_id"].as_i64().unwrap();

    let routes = [
        (Method::GET, format!("/chats/{g}"), None),
        (Method::GET, format!("/chats/{d}"), None),
        (
            Method::POST,
            format!("/chats/{g}/read"),
            Some(json!({ "message_id": m["id"] })),
        ),
        (
            Method::POST,
            format!("/chats/{d}/read"),
            Some(json!({ "message_id": direct["id"] })),
        ),
        (
            Method::POST,
            "/chats/send-message".into(),
            Some(json!({ "chat_id": g, "text": "x" })),
        ),
        (
            Method::POST,
            "/chats/send-message".into(),
            Some(json!({ "group_id": g, "text": "x" })),
        ),
        (
            Method::POST,
            "/chats/send-message".into(),
            Some(json!({ "chat_id": d, "text": "x" })),
        ),
        (Method::GET, format!("/groups/{g}"), None),
        (Method::GET, format!("/groups/{g}/messages"), None),
        (
            Method::POST,
            format!("/groups/{g}/add-user"),
            Some(json!({ "user_id": eve.id })),
        ),
    ];
    for (method, path, body) in routes {
        let response = app.request(method.clone(), &path, Some(&eve.token), body).await;
        assert_error(&response, StatusCode::FORBIDDEN, "not_a_member");
    }
    // And nothing of theirs leaks into eve's views.
    let (_, chats) = app.get("/chats", Some(&eve.token)).await;
    assert_eq!(chats["chats"].as_array().unwrap().len(), 0);
    let (_, sync) = app.get("/sync", Some(&eve.token)).await;
    assert_eq!(sync["messages"].as_array().unwrap().len(), 0);
}
