//! Upgrades: a database written by an earlier schema opens in the current
//! binary with its data intact and its derived columns filled in.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::spawn_app_with;

const V1: &str = include_str!("../../src/store/sqlite/migrations/0001_init.sql");
const V2: &str = include_str!("../../src/store/sqlite/migrations/0002_attachments.sql");

#[tokio::test]
async fn a_version_2_database_gets_sequence_numbers_and_right_unread_counts() {
    if crate::helpers::on_postgres() {
        eprintln!("skipped on PostgreSQL: these are SQLite's own migrations");
        return;
    }
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    {
        let db = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
        db.execute_batch(V1).unwrap();
        db.execute_batch(V2).unwrap();
        db.execute_batch(
            "PRAGMA user_version = 2;
             INSERT INTO users (id, username, display_name, display_lower, password_hash, created_at)
               VALUES (1, 'alice', 'alice', 'alice', 'x', 0), (2, 'bob', 'bob', 'bob', 'x', 0);
             INSERT INTO chats (id, kind, created_by, created_at, direct_lo, direct_hi, last_message_id, last_activity_at)
               VALUES (1, 'direct', 1, 0, 1, 2, 5, 5);
             INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_message_id)
               VALUES (1, 1, 'member', 0, 0), (1, 2, 'member', 0, 2);
             INSERT INTO messages (id, chat_id, sender_id, kind, text, created_at) VALUES
               (1, 1, 1, 'text', 'a1', 1), (2, 1, 1, 'text', 'a2', 2), (3, 1, 2, 'text', 'b1', 3),
               (4, 1, 1, 'text', 'a3', 4), (5, 1, 1, 'text', 'a4', 5);",
        )
        .unwrap();
    }
    let app = spawn_app_with(Arc::clone(&dir), |_| {}, axum::Router::new()).await;
    {
        let db = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
        let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert!(version >= 3);
        let seqs: Vec<i64> = db
            .prepare("SELECT seq FROM messages ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        let (last_seq,): (i64,) = db
            .query_row("SELECT last_seq FROM chats WHERE id = 1", [], |r| {
                Ok((r.get(0)?,))
            })
            .unwrap();
        assert_eq!(last_seq, 5);
        let read_seq: i64 = db
            .query_row(
                "SELECT last_read_seq FROM chat_members WHERE user_id = 2",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(read_seq, 2);
        // Version 5 added sessions: tokens name one. (The test writes
        // these itself; the users' password hashes are not real.)
        db.execute_batch(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, refresh_hash, refresh_expires_at)
               VALUES (1, 1, 0, 0, 'h1', 9000000000000), (2, 2, 0, 0, 'h2', 9000000000000);",
        )
        .unwrap();
    }
    // New messages continue the sequence; bob's unread: a3, a4 and the new one.
    let token_secret = crate::helpers::read_secret(&app.data_path()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token_for = |id: i64| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({ "sub": id.to_string(), "sid": id, "iat": now, "exp": now + 600 }),
            &jsonwebtoken::EncodingKey::from_secret(&token_secret),
        )
        .unwrap()
    };
    let (status, _) = app
        .post(
            "/chats/send-message",
            Some(&token_for(1)),
            json!({ "chat_id": 1, "text": "a5" }),
        )
        .await;
    assert_eq!(status, 201);
    let (_, bob_view) = app.get("/chats/1", Some(&token_for(2))).await;
    assert_eq!(bob_view["chat"]["unread_count"], 3);
    assert_eq!(bob_view["messages"].as_array().unwrap().len(), 6);
    let (_, alice_view) = app.get("/chats/1", Some(&token_for(1))).await;
    assert_eq!(alice_view["chat"]["unread_count"], 1, "bob's one message");
    // Version 6 built the search index of the messages already there.
    for (q, id) in [("a1", 1), ("B1", 3), ("a4", 5)] {
        let (status, found) = app.get(&format!("/search?q={q}"), Some(&token_for(2))).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["results"][0]["message"]["id"], id, "{q}: {found}");
        assert_eq!(found["results"][0]["message"]["reactions"], json!([]));
    }
}

#[tokio::test]
async fn a_version_4_postgres_database_gets_the_search_index_of_its_messages() {
    let Some(db) = crate::helpers::database_for(
        &std::env::temp_dir().join(format!("pg-upgrade-{}", std::process::id())),
    )
    .await
    else {
        eprintln!("skipped on SQLite: these are PostgreSQL's own migrations");
        return;
    };
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await
        .unwrap();
    for (version, sql) in [
        (
            1i64,
            include_str!("../../src/store/postgres/migrations/0001_init.sql"),
        ),
        (
            2,
            include_str!("../../src/store/postgres/migrations/0002_write_functions.sql"),
        ),
        (
            3,
            include_str!("../../src/store/postgres/migrations/0003_nodes.sql"),
        ),
        (
            4,
            include_str!("../../src/store/postgres/migrations/0004_sessions.sql"),
        ),
    ] {
        client.batch_execute(sql).await.unwrap();
        client
            .execute("INSERT INTO schema_migrations VALUES ($1, 0)", &[&version])
            .await
            .unwrap();
    }
    client
        .batch_execute(
            "INSERT INTO users (id, username, display_name, display_lower, password_hash, created_at)
               VALUES (1, 'alice', 'alice', 'alice', 'x', 0), (2, 'bob', 'bob', 'bob', 'x', 0);
             INSERT INTO chats (id, kind, created_by, created_at, direct_lo, direct_hi, last_message_id,
                                last_activity_at, last_seq)
               VALUES (1, 'direct', 1, 0, 1, 2, 3, 3, 3);
             INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (1, 1, 'member', 0), (1, 2, 'member', 0);
             INSERT INTO attachments (id, chat_id, uploader_id, filename, content_type, size, sha256, created_at)
               VALUES (1, 1, 1, 'Évaluation.pdf', 'application/pdf', 5, repeat('a', 64), 2);
             INSERT INTO messages (id, chat_id, sender_id, kind, text, attachment_id, created_at, seq) VALUES
               (1, 1, 1, 'text', 'Crème brûlée tonight?', NULL, 1, 1),
               (2, 1, 1, 'file', NULL, 1, 2, 2),
               (3, 1, 2, 'text', 'yes please', NULL, 3, 3);
             SELECT setval(pg_get_serial_sequence('users', 'id'), 3, false);
             SELECT setval(pg_get_serial_sequence('chats', 'id'), 2, false);
             SELECT setval(pg_get_serial_sequence('messages', 'id'), 4, false);
             INSERT INTO sessions (id, user_id, created_at, last_used_at, refresh_hash, refresh_expires_at)
               VALUES (1, 1, 0, 0, 'h1', 9000000000000), (2, 2, 0, 0, 'h2', 9000000000000);",
        )
        .await
        .unwrap();
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let url = db.url.clone();
    let app = spawn_app_with(
        Arc::clone(&dir),
        move |c| c.database_url = Some(url),
        axum::Router::new(),
    )
    .await;
    let secret: Vec<u8> = client
        .query_one("SELECT value FROM settings WHERE name = 'token_secret'", &[])
        .await
        .map(|r| r.get(0))
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "sub": "2", "sid": 2, "iat": now, "exp": now + 600 }),
        &jsonwebtoken::EncodingKey::from_secret(&secret),
    )
    .unwrap();
    for (q, id) in [("creme brulee", 1), ("evaluation", 2), ("YES", 3)] {
        let (status, found) = app.get(&format!("/search?q={q}"), Some(&token)).await;
        assert_eq!(status, 200, "{q}: {found}");
        assert_eq!(found["results"][0]["message"]["id"], id, "{q}: {found}");
    }
    let (status, page) = app.get("/chats/1", Some(&token)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["messages"][0]["reply_to"], serde_json::Value::Null);
    // New sends on the upgraded schema are found too.
    let (status, _) = app
        .post(
            "/chats/send-message",
            Some(&token),
            json!({ "chat_id": 1, "text": "after the upgrade" }),
        )
        .await;
    assert_eq!(status, 201);
    let (_, found) = app.get("/search?q=upgrade", Some(&token)).await;
    assert_eq!(found["results"][0]["message"]["id"], 4);
}
