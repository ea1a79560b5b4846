//! Search (v2), case by case: accents and case, whole words, the last word
//! a prefix, phrases, AND, any input safe, only the caller's chats, edits
//! and deletions at once, snippets; and a property test of sends, edits,
//! deletions and reactions against a simple model of history, search and
//! reaction counts.

use std::collections::BTreeMap;

use proptest::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Account, TestApp, assert_error, spawn_app};
use crate::uploads::PNG;

impl TestApp {
    pub async fn search(&self, who: &Account, query: &[(&str, &str)]) -> (StatusCode, Value) {
        let encoded = serde_urlencoded::to_string(query).expect("query");
        self.get(&format!("/search?{encoded}"), Some(&who.token)).await
    }

    /// Ids of what `q` finds for `who`, newest first.
    pub async fn found(&self, who: &Account, q: &str) -> Vec<i64> {
        let (status, body) = self.search(who, &[("q", q), ("limit", "100")]).await;
        assert_eq!(status, StatusCode::OK, "search {q:?}: {body}");
        body["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| r["message"]["id"].as_i64().expect("id"))
            .collect()
    }
}

fn id(message: &Value) -> i64 {
    message["id"].as_i64().expect("message id")
}

#[tokio::test]
async fn words_match_whole_folded_and_the_last_as_a_prefix() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let to_bob = json!({ "to": bob.id });
    let cafe = id(&app
        .send(&alice, to_bob.clone(), "Meet at the Café tomorrow")
        .await);
    let hello = id(&app.send(&alice, to_bob.clone(), "hello big world").await);
    let reversed = id(&app.send(&alice, to_bob.clone(), "world, big hello").await);
    let category = id(&app.send(&alice, to_bob.clone(), "a category of dogs").await);
    let ops = id(&app.send(&alice, to_bob.clone(), "near AND or NOT here").await);

    assert_eq!(app.found(&bob, "cafe").await, [cafe], "accents folded");
    assert_eq!(app.found(&bob, "CAFÉ").await, [cafe], "case folded");
    assert_eq!(app.found(&bob, "caf").await, [cafe], "the last word a prefix");
    assert_eq!(
        app.found(&bob, "caf tomorrow").await,
        Vec::<i64>::new(),
        "only the last word"
    );
    assert_eq!(app.found(&bob, "hel").await, [reversed, hello]);
    assert_eq!(
        app.found(&bob, "hello world").await,
        [reversed, hello],
        "AND, any order"
    );
    assert_eq!(
        app.found(&bob, "\"big world\"").await,
        [hello],
        "a phrase keeps its order"
    );
    assert_eq!(app.found(&bob, "\"hello big\" world").await, [hello]);
    assert_eq!(
        app.found(&bob, "cat dogs").await,
        Vec::<i64>::new(),
        "whole words"
    );
    assert_eq!(app.found(&bob, "dogs cat").await, [category]);
    assert_eq!(app.found(&bob, "hello zebra").await, Vec::<i64>::new());

    // What an engine would read as syntax is plain text here.
    assert_eq!(app.found(&bob, "NEAR").await, [ops]);
    assert_eq!(app.found(&bob, "AND").await, [ops]);
    assert_eq!(app.found(&bob, "hello -world").await, [reversed, hello]);
    assert_eq!(app.found(&bob, "big*").await, [reversed, hello]);
    assert_eq!(app.found(&bob, "NEAR(hello world)").await, Vec::<i64>::new());
    for odd in [
        "\"",
        "\"unclosed hello",
        "hello\"",
        "'; DROP TABLE messages; --",
        "a:b",
        "^hello",
        "hello OR",
        "(",
        "{}[]",
        "\\",
        "%",
        "_",
        "hello & world | !x",
        "<->",
        ":*",
        "héllo\u{0}",
        "🙂 hello",
    ] {
        let (status, body) = app.search(&bob, &[("q", odd)]).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
            "{odd:?}: {status} {body}"
        );
        if status == StatusCode::BAD_REQUEST {
            assert_eq!(body["error"]["code"], "validation_failed", "{odd:?}");
        }
    }
    for wordless in ["", "*", "\"\"", "-- !? ..", " "] {
        assert_error(
            &app.search(&bob, &[("q", wordless)]).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    assert_error(
        &app.search(&bob, &[]).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let too_long = "a".repeat(201);
    assert_error(
        &app.search(&bob, &[("q", &too_long)]).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    assert_eq!(
        app.search(&bob, &[("q", &"a".repeat(200))]).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn only_the_callers_chats_and_changes_at_once() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let secret = app.send(&alice, json!({ "to": bob.id }), "the secret plan").await;
    let secret_id = id(&secret);
    let chat_id = secret["chat_id"].as_i64().unwrap();
    app.send(&eve, json!({ "to": eve.id }), "my own plan").await;

    assert_eq!(app.found(&alice, "plan").await, [secret_id]);
    assert_eq!(app.found(&eve, "secret").await, Vec::<i64>::new());
    let scoped = app
        .search(&alice, &[("q", "plan"), ("chat_id", &chat_id.to_string())])
        .await;
    assert_eq!(scoped.1["results"][0]["message"]["id"], secret_id);
    assert_error(
        &app.search(&eve, &[("q", "plan"), ("chat_id", &chat_id.to_string())])
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &app.search(&eve, &[("q", "plan"), ("chat_id", "999999")]).await,
        StatusCode::NOT_FOUND,
        "chat_not_found",
    );
    assert_error(
        &app.search(&eve, &[("q", "plan"), ("limit", "101")]).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );

    // An edit is searchable as soon as it is answered; the old words are gone.
    assert_eq!(
        app.patch_text(&alice, secret_id, "the open agenda").await.0,
        StatusCode::OK
    );
    assert_eq!(app.found(&bob, "secret").await, Vec::<i64>::new());
    assert_eq!(app.found(&bob, "agenda").await, [secret_id]);
    let (_, body) = app.search(&bob, &[("q", "agenda")]).await;
    assert_eq!(
        body["results"][0]["message"]["edited_at"],
        body["results"][0]["message"]["edited_at"]
    );
    assert!(body["results"][0]["message"]["edited_at"].is_string());
    // A deletion is gone at once.
    app.delete_message(&alice, secret_id).await;
    assert_eq!(app.found(&bob, "agenda").await, Vec::<i64>::new());
}

#[tokio::test]
async fn files_are_found_by_caption_and_name_and_pages_go_back_by_id() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let (status, body) = app
        .upload(
            &alice,
            &[
                ("to", bob.id.to_string()),
                ("text", "the quarterly numbers".into()),
            ],
            "Résumé-2026.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let file = id(&body["message"]);
    assert_eq!(app.found(&bob, "quarterly").await, [file]);
    assert_eq!(app.found(&bob, "resume").await, [file]);
    let (_, body) = app.search(&bob, &[("q", "resume 2026")]).await;
    assert_eq!(
        body["results"][0]["snippet"],
        "<mark>Résumé</mark>-<mark>2026</mark>.png"
    );
    assert!(
        body["results"][0]["message"]["attachment"]["url"]
            .as_str()
            .unwrap()
            .contains("sig=")
    );

    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id(&app
            .send(&alice, json!({ "to": bob.id }), &format!("page item {i}"))
            .await));
    }
    ids.reverse();
    let (_, first) = app.search(&bob, &[("q", "item"), ("limit", "2")]).await;
    let page: Vec<i64> = first["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| id(&r["message"]))
        .collect();
    assert_eq!(page, ids[..2]);
    assert_eq!(first["has_more"], true);
    let before = ids[1].to_string();
    let (_, rest) = app
        .search(&bob, &[("q", "item"), ("limit", "10"), ("before", &before)])
        .await;
    let page: Vec<i64> = rest["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| id(&r["message"]))
        .collect();
    assert_eq!(page, ids[2..]);
    assert_eq!(rest["has_more"], false);
    assert_error(
        &app.search(&bob, &[("q", "item"), ("before", "x")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_cursor",
    );
}

#[tokio::test]
async fn snippets_are_escaped_cut_and_marked() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let text = format!(
        "{} <script>alert('x')</script> & the Needle, needles {}",
        "lead ".repeat(40),
        "tail ".repeat(60)
    );
    app.send(&alice, json!({ "to": alice.id }), &text).await;
    let (_, body) = app.search(&alice, &[("q", "needle")]).await;
    let snippet = body["results"][0]["snippet"].as_str().unwrap().to_string();
    assert!(
        snippet.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp;"),
        "{snippet}"
    );
    assert!(
        snippet.contains("<mark>Needle</mark>, <mark>needles</mark>"),
        "{snippet}"
    );
    assert!(!snippet.contains("<script>"));
    let plain = snippet
        .replace("<mark>", "")
        .replace("</mark>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    assert!(plain.chars().count() <= 200, "{}", plain.chars().count());
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    Send {
        by: usize,
        words: Vec<usize>,
    },
    Edit {
        message: usize,
        words: Vec<usize>,
    },
    Delete {
        message: usize,
    },
    React {
        by: usize,
        message: usize,
        emoji: usize,
        add: bool,
    },
}

const WORDS: [&str; 6] = ["apple", "Äpfel", "banana", "cherry", "date", "elder"];
const EMOJI: [&str; 3] = ["👍", ":tada:", "❤"];

fn step() -> impl Strategy<Value = Step> {
    let words = proptest::collection::vec(0..WORDS.len(), 1..4);
    prop_oneof![
        3 => (0..2usize, words.clone()).prop_map(|(by, words)| Step::Send { by, words }),
        2 => (0..8usize, words).prop_map(|(message, words)| Step::Edit { message, words }),
        1 => (0..8usize).prop_map(|message| Step::Delete { message }),
        3 => (0..2usize, 0..8usize, 0..EMOJI.len(), any::<bool>())
            .prop_map(|(by, message, emoji, add)| Step::React { by, message, emoji, add }),
    ]
}

/// What the model expects of one message.
#[derive(Debug, Clone, Default)]
struct Model {
    sender: usize,
    text: String,
    deleted: bool,
    reactions: BTreeMap<usize, Vec<usize>>,
}

fn text_of(words: &[usize]) -> String {
    words.iter().map(|w| WORDS[*w]).collect::<Vec<_>>().join(" ")
}

async fn run_steps(steps: Vec<Step>) {
    let app = spawn_app().await;
    let people = [app.register("alice").await, app.register("bob").await];
    let chat = json!({ "to": people[1].id });
    let mut ids: Vec<i64> = Vec::new();
    let mut model: Vec<Model> = Vec::new();
    for step in steps {
        match step {
            Step::Send { by, words } => {
                let text = text_of(&words);
                let target = if by == 0 {
                    chat.clone()
                } else {
                    json!({ "to": people[0].id })
                };
                ids.push(id(&app.send(&people[by], target, &text).await));
                model.push(Model {
                    sender: by,
                    text,
                    ..Model::default()
                });
            }
            Step::Edit { message, words } if message < ids.len() => {
                let m = &mut model[message];
                let (status, _) = app
                    .patch_text(&people[m.sender], ids[message], &text_of(&words))
                    .await;
                if m.deleted {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                } else {
                    assert_eq!(status, StatusCode::OK);
                    m.text = text_of(&words);
                }
            }
            Step::Delete { message } if message < ids.len() => {
                let m = &mut model[message];
                assert_eq!(
                    app.delete_message(&people[m.sender], ids[message]).await.0,
                    StatusCode::OK
                );
                m.deleted = true;
                m.reactions.clear();
            }
            Step::React {
                by,
                message,
                emoji,
                add,
            } if message < ids.len() => {
                let m = &mut model[message];
                let (status, _) = app.react(&people[by], ids[message], EMOJI[emoji], add).await;
                if m.deleted {
                    assert_eq!(status, StatusCode::NOT_FOUND);
                    continue;
                }
                assert_eq!(status, StatusCode::OK);
                let users = m.reactions.entry(emoji).or_default();
                if add && !users.contains(&by) {
                    users.push(by);
                } else if !add {
                    users.retain(|u| *u != by);
                }
            }
            _ => {}
        }
    }
    // History equals the model, message by message.
    let (_, page) = app.get("/sync?after=0&limit=200", Some(&people[0].token)).await;
    let history = page["messages"].as_array().unwrap();
    assert_eq!(history.len(), model.len());
    for (stored, expected) in history.iter().zip(&model) {
        if expected.deleted {
            assert!(stored["deleted_at"].is_string());
            assert_eq!(stored["text"], Value::Null);
            assert_eq!(stored["reactions"], json!([]));
        } else {
            assert_eq!(stored["text"], expected.text.as_str());
            let mut counts: Vec<(String, i64, bool)> = stored["reactions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["emoji"].as_str().unwrap().to_string(),
                        r["count"].as_i64().unwrap(),
                        r["me"] == true,
                    )
                })
                .collect();
            counts.sort();
            let mut wanted: Vec<(String, i64, bool)> = expected
                .reactions
                .iter()
                .filter(|(_, users)| !users.is_empty())
                .map(|(e, users)| (EMOJI[*e].to_string(), users.len() as i64, users.contains(&0)))
                .collect();
            wanted.sort();
            assert_eq!(counts, wanted);
        }
    }
    // Search equals the model for every word (folded: "apfel" finds "Äpfel").
    for word in ["apple", "apfel", "banana", "cherry", "date", "elder"] {
        let mut wanted: Vec<i64> = model
            .iter()
            .zip(&ids)
            .filter(|(m, _)| {
                !m.deleted
                    && m.text
                        .split(' ')
                        .any(|w| w.to_lowercase().replace('ä', "a").starts_with(word))
            })
            .map(|(_, id)| *id)
            .collect();
        wanted.reverse();
        assert_eq!(app.found(&people[0], word).await, wanted, "{word}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    #[test]
    fn history_search_and_reactions_follow_a_simple_model(steps in proptest::collection::vec(step(), 1..30)) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(run_steps(steps));
    }
}

/// SQLite keeps the newest words in a pending table that moves into FTS5
/// a few times a second: a search reads both, and a message found in
/// either part is found the same way.
#[tokio::test]
async fn both_parts_of_the_sqlite_index_answer_alike() {
    if crate::helpers::on_postgres() {
        eprintln!("skipped on PostgreSQL: SQLite's index has two parts");
        return;
    }
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let older = id(&app
        .send(&alice, json!({ "to": alice.id }), "moved along already")
        .await);
    let db = app.data_path().join("chat.db");
    let pending = || {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        conn.query_row("SELECT COUNT(*) FROM search_pending", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while pending() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the pending part was never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let newer = id(&app
        .send(&alice, json!({ "to": alice.id }), "moved along soon")
        .await);
    assert_eq!(app.found(&alice, "moved along").await, [newer, older]);
    assert_eq!(app.found(&alice, "\"along already\"").await, [older]);
    assert_eq!(app.found(&alice, "alo").await, [newer, older]);
    // An edit of a moved message puts it back in the pending part.
    assert_eq!(
        app.patch_text(&alice, older, "changed words").await.0,
        StatusCode::OK
    );
    assert_eq!(app.found(&alice, "already").await, Vec::<i64>::new());
    assert_eq!(app.found(&alice, "changed").await, [older]);
    assert_eq!(app.delete_message(&alice, newer).await.0, StatusCode::OK);
    assert_eq!(app.found(&alice, "moved").await, Vec::<i64>::new());
}

/// Words still in the pending part when the server stops are known after
/// it starts again: once moved into FTS5, a prefix still finds them.
#[tokio::test]
async fn pending_words_survive_a_restart() {
    if crate::helpers::on_postgres() {
        eprintln!("skipped on PostgreSQL: SQLite's index has two parts");
        return;
    }
    let dir = std::sync::Arc::new(tempfile::TempDir::new().unwrap());
    let app = crate::helpers::spawn_app_with(std::sync::Arc::clone(&dir), |_| {}, axum::Router::new()).await;
    let alice = app.register("alice").await;
    let message = id(&app.send(&alice, json!({ "to": alice.id }), "placeholder").await);
    app.stop().await;
    // As if the server had stopped before the move: the words pending.
    {
        let conn = rusqlite::Connection::open(dir.path().join("chat.db")).unwrap();
        conn.execute_batch(&format!(
            "DELETE FROM search_pending; DELETE FROM message_search WHERE rowid = {message};
             UPDATE messages SET text = 'zebrafish' WHERE id = {message};
             INSERT INTO search_pending (id, body, name) VALUES ({message}, 'zebrafish', '');"
        ))
        .unwrap();
    }
    let app = crate::helpers::spawn_app_with(std::sync::Arc::clone(&dir), |_| {}, axum::Router::new()).await;
    let (_, login) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": "correct horse" }),
        )
        .await;
    let alice = Account {
        id: alice.id,
        token: login["token"].as_str().unwrap().to_string(),
    };
    let db = dir.path().join("chat.db");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM search_pending", [], |r| r.get(0))
            .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the pending part was never moved"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Found by prefix throughout: before the vocabulary is loaded (FTS5's
    // own prefix query) and after (spelled out from it, which must then
    // hold the words that were pending at the start).
    for _ in 0..25 {
        assert_eq!(app.found(&alice, "zebra").await, [message]);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(app.found(&alice, "zebrafish").await, [message]);
}
