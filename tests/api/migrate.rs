//! `chat-server migrate`: a SQLite store, filled by the API as a v1 client
//! would, copied into PostgreSQL; the same reads give the same answers on
//! the copy, a second run changes nothing, and new writes continue after
//! the copied ids. Runs when the suite runs on PostgreSQL.

use std::process::Command;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, database_for, on_postgres, spawn_app_with};
use crate::uploads::PNG;

/// What each user reads, with signed URLs cut to their path (the signature
/// carries the hour it was made in).
async fn reads(app: &TestApp, who: &[&Account], chat_id: i64, group_id: i64) -> Vec<Value> {
    let mut all = Vec::new();
    for account in who {
        for path in [
            "/auth/me".to_string(),
            "/users".to_string(),
            "/chats".to_string(),
            format!("/chats/{chat_id}"),
            format!("/chats/{chat_id}?limit=2&before=1000000"),
            format!("/groups/{group_id}"),
            format!("/groups/{group_id}/messages"),
            "/sync?after=0".to_string(),
            "/sync?after=3&limit=2".to_string(),
            "/search?q=hi".to_string(),
            "/search?q=dot".to_string(),
            format!("/search?q=hello&chat_id={chat_id}"),
        ] {
            let (status, mut body) = app.get(&path, Some(&account.token)).await;
            strip_signatures(&mut body);
            all.push(json!({ "path": path, "status": status.as_u16(), "body": body }));
        }
    }
    all
}

fn strip_signatures(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(url)) = map.get_mut("url") {
                url.truncate(url.find('?').unwrap_or(url.len()));
            }
            map.values_mut().for_each(strip_signatures);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_signatures),
        _ => {}
    }
}

fn migrate(from: &std::path::Path, to: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["migrate", "--from"])
        .arg(from)
        .args(["--to", to])
        .output()
        .expect("run chat-server migrate");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_store_moves_to_postgres_and_reads_the_same() {
    if !on_postgres() {
        eprintln!("skipped: migrate copies into PostgreSQL");
        return;
    }
    let dir = Arc::new(tempfile::TempDir::new().expect("temp dir"));
    let on_sqlite = spawn_app_with(Arc::clone(&dir), |c| c.database_url = None, axum::Router::new()).await;
    let alice = on_sqlite.register("alice").await;
    let bob = on_sqlite.register("bob").await;
    let carol = on_sqlite.register("carol").await;
    let mut last = Value::Null;
    for n in 0..5 {
        last = on_sqlite
            .send(&alice, json!({ "to": bob.id }), &format!("hi {n}"))
            .await;
    }
    on_sqlite
        .send(&bob, json!({ "to": alice.id }), "hello back")
        .await;
    let chat_id = last["chat_id"].as_i64().expect("chat id");
    let group = on_sqlite.create_group(&alice, "team", &[&bob]).await;
    let group_id = group["id"].as_i64().expect("group id");
    let (status, _) = on_sqlite
        .post(
            &format!("/groups/{group_id}/add-user"),
            Some(&alice.token),
            json!({ "user_id": carol.id }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    on_sqlite
        .send(&carol, json!({ "group_id": group_id }), "carol here")
        .await;
    let (status, _) = on_sqlite
        .upload(
            &bob,
            &[("group_id", group_id.to_string())],
            "dot.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = on_sqlite
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "group_id": group_id, "text": "keyed", "client_id": "bob-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = on_sqlite
        .post(
            &format!("/chats/{chat_id}/read"),
            Some(&bob.token),
            json!({ "message_id": last["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // v2: a reply, an edit, a deletion, reactions.
    let (status, reply) = on_sqlite
        .post(
            "/chats/send-message",
            Some(&bob.token),
            json!({ "chat_id": chat_id, "text": "hi to you", "reply_to": last["id"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let first_id = last["id"].as_i64().expect("id") - 4;
    assert_eq!(
        on_sqlite.patch_text(&alice, first_id, "hi edited").await.0,
        StatusCode::OK
    );
    assert_eq!(
        on_sqlite.delete_message(&alice, first_id + 1).await.0,
        StatusCode::OK
    );
    for (who, emoji) in [(&bob, "👍"), (&alice, "👍"), (&alice, ":tada:")] {
        assert_eq!(
            on_sqlite.react(who, first_id + 2, emoji, true).await.0,
            StatusCode::OK
        );
    }
    let who = [&alice, &bob, &carol];
    let before = reads(&on_sqlite, &who, chat_id, group_id).await;
    on_sqlite.stop().await;

    // Into a database of its own (not the one the suite made for this dir).
    let target = database_for(&dir.path().join("target")).await.expect("database");
    let (ok, out) = migrate(dir.path(), &target.url);
    assert!(ok, "{out}");
    for table in [
        "users",
        "chats",
        "chat_members",
        "attachments",
        "messages",
        "reactions",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(table) && l.ends_with("ok")),
            "{table} in\n{out}"
        );
    }
    let (ok, again) = migrate(dir.path(), &target.url);
    assert!(ok, "a second run is safe: {again}");

    let url = target.url.clone();
    let on_postgres = spawn_app_with(
        Arc::clone(&dir),
        move |c| c.database_url = Some(url),
        axum::Router::new(),
    )
    .await;
    let after = reads(&on_postgres, &who, chat_id, group_id).await;
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "the same read on the copy");
    }
    assert_eq!(before.len(), after.len());
    // Files are still there and the tokens still work; new ids follow on.
    let newer = on_postgres
        .send(&carol, json!({ "group_id": group_id }), "after the move")
        .await;
    let highest = after
        .iter()
        .filter(|r| r["path"] == "/sync?after=0")
        .flat_map(|r| r["body"]["messages"].as_array().cloned().unwrap_or_default())
        .filter_map(|m| m["id"].as_i64())
        .max()
        .expect("messages");
    assert!(newer["id"].as_i64().expect("id") > highest);
    let (status, history) = on_postgres
        .get(&format!("/groups/{group_id}/messages"), Some(&carol.token))
        .await;
    assert_eq!(status, StatusCode::OK);
    let file = history["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["kind"] == "file"))
        .expect("the file message");
    let url = file["attachment"]["url"].as_str().expect("url");
    assert_eq!(
        on_postgres
            .fetch(url, None)
            .await
            .bytes()
            .await
            .expect("bytes")
            .as_ref(),
        PNG
    );

    // A target that holds other data is refused, and left as it is.
    let other = database_for(&dir.path().join("other")).await.expect("database");
    let other_url = other.url.clone();
    let elsewhere = spawn_app_with(
        Arc::new(tempfile::TempDir::new().expect("temp dir")),
        move |c| c.database_url = Some(other_url),
        axum::Router::new(),
    )
    .await;
    elsewhere.register("zed").await;
    let (ok, out) = migrate(dir.path(), &other.url);
    assert!(!ok, "{out}");
    assert!(out.contains("MISMATCH"), "{out}");
}
