//! `GET /users`: listing, search and paging.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{assert_error, spawn_app};

fn usernames(body: &Value) -> Vec<String> {
    body["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn lists_users_by_id_in_pages() {
    let app = spawn_app().await;
    let mut accounts = Vec::new();
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        accounts.push(app.register(name).await);
    }
    let token = Some(accounts[0].token.as_str());

    let (status, page1) = app.get("/users?limit=2", token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(usernames(&page1), ["ann", "ben"]);
    assert_eq!(page1["has_more"], true);
    let user = &page1["users"][0];
    assert_eq!(user["id"], accounts[0].id);
    assert_eq!(user["display_name"], "ann");
    assert_eq!(user["online"], false);
    assert!(user.get("password_hash").is_none());

    let after = page1["users"][1]["id"].as_i64().unwrap();
    let (_, page2) = app.get(&format!("/users?limit=2&after={after}"), token).await;
    assert_eq!(usernames(&page2), ["cat", "dan"]);
    assert_eq!(page2["has_more"], true);

    let after = page2["users"][1]["id"].as_i64().unwrap();
    let (_, page3) = app.get(&format!("/users?limit=2&after={after}"), token).await;
    assert_eq!(usernames(&page3), ["eve"]);
    assert_eq!(page3["has_more"], false);

    let (_, all) = app.get("/users", token).await;
    assert_eq!(all["users"].as_array().unwrap().len(), 5);
    assert_eq!(all["has_more"], false);
}

#[tokio::test]
async fn q_filters_by_username_or_display_name_prefix_ignoring_case() {
    let app = spawn_app().await;
    let (_, a) = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "zed", "password": "12345678", "display_name": "Émile Zola" }),
        )
        .await;
    let token = a["token"].as_str().unwrap().to_string();
    app.register("emma").await;
    app.register("Ed_1").await;
    app.register("bob").await;
    app.register("e_x").await;

    let (_, body) = app.get("/users?q=E", Some(&token)).await;
    assert_eq!(usernames(&body), ["emma", "Ed_1", "e_x"]);
    let (_, body) = app.get("/users?q=%C3%A9mile", Some(&token)).await;
    assert_eq!(
        usernames(&body),
        ["zed"],
        "display name, Unicode case-insensitive"
    );
    // `_` is a literal, not a LIKE wildcard.
    let (_, body) = app.get("/users?q=e_", Some(&token)).await;
    assert_eq!(usernames(&body), ["e_x"]);
    let (_, body) = app.get("/users?q=nobody", Some(&token)).await;
    assert_eq!(usernames(&body), Vec::<String>::new());
}

#[tokio::test]
async fn bad_paging_is_rejected() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let token = Some(alice.token.as_str());
    for bad in ["limit=0", "limit=201", "limit=ten", "limit=-1"] {
        assert_error(
            &app.get(&format!("/users?{bad}"), token).await,
            StatusCode::BAD_REQUEST,
            "validation_failed",
        );
    }
    for bad in ["after=x", "after=-3"] {
        assert_error(
            &app.get(&format!("/users?{bad}"), token).await,
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
        );
    }
    assert_error(
        &app.get("/users", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}
