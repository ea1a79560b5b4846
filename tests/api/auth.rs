//! Register, login, `/auth/me`, and what makes a token good or bad.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_error, read_secret, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_returns_the_user_a_token_and_its_expiry() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "alice", "password": "correct horse", "display_name": "  Alice A.  " }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let user = &body["user"];
    assert!(user["id"].as_i64().unwrap() >= 1);
    assert_eq!(user["username"], "alice");
    assert_eq!(user["display_name"], "Alice A.");
    assert_eq!(user["online"], false);
    assert!(user["last_seen_at"].is_null());
    let created = user["created_at"].as_str().unwrap();
    assert!(
        created.ends_with('Z') && created.len() == 24,
        "RFC 3339 with ms: {created}"
    );
    assert_eq!(
        user.as_object().unwrap().len(),
        6,
        "exactly the contract's fields: {user}"
    );
    assert!(body["token"].as_str().unwrap().split('.').count() == 3);
    let expires = body["expires_at"].as_str().unwrap();
    assert!(expires > created, "expires_at {expires} after {created}");
    assert!(!body.to_string().contains("argon2"), "no password hash in {body}");
}

#[tokio::test]
async fn display_name_defaults_to_the_username() {
    let app = spawn_app().await;
    let (_, body) = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "bob", "password": "12345678" }),
        )
        .await;
    assert_eq!(body["user"]["display_name"], "bob");
}

#[tokio::test]
async fn register_rejects_bad_fields() {
    let app = spawn_app().await;
    let cases = [
        json!({ "password": "12345678" }),
        json!({ "username": "ab", "password": "12345678" }),
        json!({ "username": "a".repeat(33), "password": "12345678" }),
        json!({ "username": "al ice", "password": "12345678" }),
        json!({ "username": "alicé", "password": "12345678" }),
        json!({ "username": 42, "password": "12345678" }),
        json!({ "username": "alice" }),
        json!({ "username": "alice", "password": "1234567" }),
        json!({ "username": "alice", "password": "x".repeat(129) }),
        json!({ "username": "alice", "password": "12345678", "display_name": "" }),
        json!({ "username": "alice", "password": "12345678", "display_name": "d".repeat(65) }),
        json!({ "username": "alice", "password": "12345678", "display_name": 7 }),
        json!([1, 2]),
    ];
    for body in cases {
        let response = app.post("/auth/register", None, body.clone()).await;
        assert_error(&response, StatusCode::BAD_REQUEST, "validation_failed");
    }
}

#[tokio::test]
async fn usernames_are_unique_without_regard_to_case() {
    let app = spawn_app().await;
    app.register("Alice").await;
    let response = app
        .post(
            "/auth/register",
            None,
            json!({ "username": "aLICE", "password": "12345678" }),
        )
        .await;
    assert_error(&response, StatusCode::CONFLICT, "username_taken");
}

#[tokio::test]
async fn login_returns_a_working_token() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (status, body) = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": "correct horse" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["id"], alice.id);
    let token = body["token"].as_str().unwrap();
    let (status, me) = app.get("/auth/me", Some(token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["user"]["username"], "alice");
    assert!(!me.to_string().contains("argon2"));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let app = spawn_app().await;
    app.register("alice").await;
    let wrong = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "alice", "password": "wrong horse" }),
        )
        .await;
    let unknown = app
        .post(
            "/auth/login",
            None,
            json!({ "username": "nobody", "password": "wrong horse" }),
        )
        .await;
    assert_error(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_error(&unknown, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(wrong.1, unknown.1, "same body");
    let missing = app
        .post("/auth/login", None, json!({ "username": "alice" }))
        .await;
    assert_error(&missing, StatusCode::BAD_REQUEST, "validation_failed");
}

#[tokio::test]
async fn me_needs_a_valid_token() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    assert_error(
        &app.get("/auth/me", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
    assert_error(
        &app.get("/auth/me", Some("not-a-jwt")).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Change one character of the signature.
    let mut tampered = alice.token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    assert_error(
        &app.get("/auth/me", Some(&tampered)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Raw header without the Bearer scheme.
    let raw = app
        .client
        .get(app.url("/auth/me"))
        .header("authorization", &alice.token)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_and_foreign_algorithm_tokens_are_refused() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let secret = read_secret(&app.data_path()).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;

    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": alice.id.to_string(), "iat": now - 100, "exp": now - 10 }),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_error(
        &app.get("/auth/me", Some(&expired)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // Same secret, another HMAC algorithm: refused because HS256 is pinned.
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &json!({ "sub": alice.id.to_string(), "iat": now, "exp": now + 600 }),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_error(
        &app.get("/auth/me", Some(&hs512)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // alg "none", no signature.
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({ "sub": alice.id.to_string(), "exp": now + 600 }).to_string());
    let unsigned = format!("{header}.{claims}.");
    assert_error(
        &app.get("/auth/me", Some(&unsigned)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );

    // A good signature for a user that does not exist.
    let ghost = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({ "sub": "999999", "iat": now, "exp": now + 600 }),
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_error(
        &app.get("/auth/me", Some(&ghost)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    );
}

#[tokio::test]
async fn tokens_survive_a_restart_on_the_same_data_dir() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let data_dir = Arc::clone(&app.data_dir);
    app.stop().await;

    let restarted = spawn_app_with(data_dir, |_| {}, axum::Router::new()).await;
    let (status, me) = restarted.get("/auth/me", Some(&alice.token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["user"]["id"], alice.id);
}

#[cfg(unix)]
#[tokio::test]
async fn the_generated_secret_is_private_to_its_owner() {
    use std::os::unix::fs::PermissionsExt;
    if crate::helpers::on_postgres() {
        eprintln!("skipped: on PostgreSQL the secret is kept in the database, not a file");
        return;
    }
    let app = spawn_app().await;
    let mode = std::fs::metadata(app.data_path().join("jwt-secret"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[tokio::test]
async fn a_configured_secret_is_used_instead_of_a_generated_one() {
    let dir = Arc::new(tempfile::TempDir::new().unwrap());
    let app = spawn_app_with(
        dir,
        |c| c.jwt_secret = Some("a configured secret of enough length".into()),
        axum::Router::new(),
    )
    .await;
    let alice = app.register("alice").await;
    assert!(!app.data_path().join("jwt-secret").exists());
    let key = jsonwebtoken::DecodingKey::from_secret(b"a configured secret of enough length");
    let decoded = jsonwebtoken::decode::<serde_json::Value>(
        &alice.token,
        &key,
        &jsonwebtoken::Validation::new(Algorithm::HS256),
    )
    .unwrap();
    assert_eq!(decoded.claims["sub"], alice.id.to_string());
    assert!(decoded.claims["iat"].is_i64());
}
