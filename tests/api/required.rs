//! Every field the contract lists without `?` is required and every field
//! with `?` is optional, on every route and client event: for each, the
//! complete payload works, and the payload without one required field is
//! `validation_failed`, without one optional field it still works.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app;
use crate::socket::SocketClient;
use crate::uploads::PNG;

/// A payload that works, and which of its fields the contract requires.
struct Case {
    name: &'static str,
    full: Value,
    required: &'static [&'static str],
    optional: &'static [&'static str],
}

fn without(payload: &Value, field: &str) -> Value {
    let mut payload = payload.clone();
    payload.as_object_mut().expect("an object").remove(field);
    payload
}

#[tokio::test]
async fn rest_routes_require_what_the_contract_requires() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.send(&alice, json!({ "to": bob.id }), "hello").await;
    let chat_id = first["chat_id"].as_i64().expect("chat id");
    let group = app.create_group(&alice, "team", &[]).await;
    let group_id = group["id"].as_i64().expect("group id");

    let n = std::cell::Cell::new(0);
    let fresh = |prefix: &str| {
        n.set(n.get() + 1);
        format!("{prefix}{}", n.get())
    };
    // Fields are filled per attempt (usernames, client ids must be new).
    struct RestCase<'a> {
        name: &'static str,
        path: String,
        make: Box<dyn Fn() -> Value + 'a>,
        required: &'static [&'static str],
        optional: &'static [&'static str],
    }
    fn case<'a>(
        name: &'static str,
        path: String,
        make: impl Fn() -> Value + 'a,
        required: &'static [&'static str],
        optional: &'static [&'static str],
    ) -> RestCase<'a> {
        RestCase {
            name,
            path,
            make: Box::new(make),
            required,
            optional,
        }
    }
    let cases = vec![
        case(
            "register",
            "/auth/register".into(),
            || json!({ "username": fresh("user"), "password": "correct horse", "display_name": "U" }),
            &["username", "password"],
            &["display_name"],
        ),
        case(
            "login",
            "/auth/login".into(),
            || json!({ "username": "alice", "password": "correct horse" }),
            &["username", "password"],
            &[],
        ),
        case(
            "send-message",
            "/chats/send-message".into(),
            || json!({ "to": bob.id, "text": "hi", "client_id": fresh("c") }),
            &["to", "text"],
            &["client_id"],
        ),
        case(
            "read",
            format!("/chats/{chat_id}/read"),
            || json!({ "message_id": first["id"] }),
            &["message_id"],
            &[],
        ),
        case(
            "groups",
            "/groups".into(),
            || json!({ "name": "g", "member_ids": [bob.id] }),
            &["name"],
            &["member_ids"],
        ),
    ];
    for RestCase {
        name,
        path,
        make,
        required,
        optional,
    } in cases
    {
        let (status, body) = app.post(&path, Some(&alice.token), make()).await;
        assert!(status.is_success(), "{name} complete: {status} {body}");
        for field in required {
            let (status, body) = app.post(&path, Some(&alice.token), without(&make(), field)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{name} without {field}: {body}");
            assert_eq!(
                body["error"]["code"], "validation_failed",
                "{name} without {field}: {body}"
            );
        }
        for field in optional {
            let (status, body) = app.post(&path, Some(&alice.token), without(&make(), field)).await;
            assert!(
                status.is_success(),
                "{name} without optional {field}: {status} {body}"
            );
        }
    }

    // add-user: complete once (bob joins), then without its one field.
    let path = format!("/groups/{group_id}/add-user");
    let (status, body) = app
        .post(&path, Some(&alice.token), json!({ "user_id": bob.id }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.post(&path, Some(&alice.token), json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("validation_failed"))
    );

    // Uploads: the file and a target are required; caption and key are not.
    let upload = |parts: &[&str]| {
        let mut form = reqwest::multipart::Form::new();
        for part in parts {
            form = match *part {
                "to" => form.text("to", bob.id.to_string()),
                "text" => form.text("text", "caption"),
                "client_id" => form.text("client_id", format!("up-{}", parts.join("-"))),
                _ => form.part(
                    "file",
                    reqwest::multipart::Part::bytes(PNG.to_vec()).file_name("dot.png"),
                ),
            };
        }
        app.client
            .post(app.url("/uploads"))
            .bearer_auth(&alice.token)
            .multipart(form)
            .send()
    };
    let all = ["to", "file", "text", "client_id"];
    let response = upload(&all).await.expect("upload");
    assert_eq!(response.status(), StatusCode::CREATED);
    for field in all {
        let rest: Vec<&str> = all.iter().copied().filter(|f| *f != field).collect();
        let response = upload(&rest).await.expect("upload");
        let status = response.status();
        let body: Value = response.json().await.expect("JSON");
        if ["to", "file"].contains(&field) {
            assert_eq!(status, StatusCode::BAD_REQUEST, "upload without {field}: {body}");
            assert_eq!(body["error"]["code"], "validation_failed");
        } else {
            assert_eq!(
                status,
                StatusCode::CREATED,
                "upload without optional {field}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn socket_events_require_what_the_contract_requires() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let first = app.send(&alice, json!({ "to": bob.id }), "hello").await;
    let chat_id = first["chat_id"].clone();
    let group = app.create_group(&alice, "team", &[&bob]).await;
    let group_id = group["id"].clone();
    let mut sock = SocketClient::of(&app, &alice).await;

    let cases = [
        Case {
            name: "send_message",
            full: json!({ "to": bob.id, "text": "hi", "client_id": "k1" }),
            required: &["to", "text"],
            optional: &["client_id"],
        },
        Case {
            name: "group_message",
            full: json!({ "group_id": group_id, "text": "hi", "client_id": "k2" }),
            required: &["group_id", "text"],
            optional: &["client_id"],
        },
        Case {
            name: "create_group",
            full: json!({ "name": "g", "member_ids": [bob.id] }),
            required: &["name"],
            optional: &["member_ids"],
        },
        Case {
            name: "join_group",
            full: json!({ "group_id": group_id }),
            required: &["group_id"],
            optional: &[],
        },
        Case {
            name: "typing",
            full: json!({ "chat_id": chat_id, "typing": true }),
            required: &["chat_id", "typing"],
            optional: &[],
        },
        Case {
            name: "mark_read",
            full: json!({ "chat_id": chat_id, "message_id": first["id"] }),
            required: &["chat_id", "message_id"],
            optional: &[],
        },
    ];
    for Case {
        name,
        full,
        required,
        optional,
    } in cases
    {
        let ack = sock.emit_ack(name, full.clone()).await;
        assert_eq!(ack["ok"], true, "{name} complete: {ack}");
        for field in required {
            let ack = sock.emit_ack(name, without(&full, field)).await;
            assert_eq!(ack["ok"], false, "{name} without {field}: {ack}");
            assert_eq!(
                ack["error"]["code"], "validation_failed",
                "{name} without {field}: {ack}"
            );
        }
        for (i, field) in optional.iter().enumerate() {
            let mut payload = without(&full, field);
            if payload.get("client_id").is_some() {
                payload["client_id"] = json!(format!("{name}-{i}"));
            }
            let ack = sock.emit_ack(name, payload).await;
            assert_eq!(ack["ok"], true, "{name} without optional {field}: {ack}");
        }
    }

    // send_file: the file travels as a binary attachment in `data`.
    let full = json!({ "to": bob.id, "filename": "dot.png", "text": "c", "client_id": "f1" });
    let ack = sock
        .emit_binary_ack("send_file", full.clone(), "data", PNG.to_vec())
        .await;
    assert_eq!(ack["ok"], true, "send_file complete: {ack}");
    for field in ["to", "filename"] {
        let ack = sock
            .emit_binary_ack("send_file", without(&full, field), "data", PNG.to_vec())
            .await;
        assert_eq!(
            ack["error"]["code"], "validation_failed",
            "send_file without {field}: {ack}"
        );
    }
    for blank in ["", "   ", "/", "dir/"] {
        let mut payload = full.clone();
        payload["filename"] = json!(blank);
        let ack = sock
            .emit_binary_ack("send_file", payload, "data", PNG.to_vec())
            .await;
        assert_eq!(
            ack["error"]["code"], "validation_failed",
            "filename {blank:?}: {ack}"
        );
    }
    let ack = sock.emit_ack("send_file", without(&full, "client_id")).await;
    assert_eq!(
        ack["error"]["code"], "validation_failed",
        "send_file without data: {ack}"
    );
    for (i, field) in ["text", "client_id"].into_iter().enumerate() {
        let mut payload = without(&full, field);
        if field == "text" {
            payload["client_id"] = json!(format!("f-opt-{i}"));
        }
        let ack = sock
            .emit_binary_ack("send_file", payload, "data", PNG.to_vec())
            .await;
        assert_eq!(ack["ok"], true, "send_file without optional {field}: {ack}");
    }
}
