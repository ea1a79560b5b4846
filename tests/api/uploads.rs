//! Attachments: `POST /uploads`, `send_file`, and `GET /files/…`: checked
//! by content, stored whole or not at all, served by signed URL or a
//! member's token.

use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::blobstore;
use crate::helpers::{Account, TestApp, assert_error, read_secret, spawn_app, spawn_app_with};
use crate::socket::SocketClient;

pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00,
    0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00,
    0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0, 0x1F, 0x00, 0x05,
    0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42,
    0x60, 0x82,
];
const JPEG: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0x01, 0xFF, 0xD9,
];
const PDF: &[u8] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
const ELF: &[u8] = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00binary";

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn temp_files(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("uploads/tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

impl TestApp {
    pub async fn upload(
        &self,
        from: &Account,
        fields: &[(&str, String)],
        filename: &str,
        declared_type: &str,
        bytes: Vec<u8>,
    ) -> (StatusCode, Value) {
        let mut form = Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.clone());
        }
        let part = Part::bytes(bytes)
            .file_name(filename.to_string())
            .mime_str(declared_type)
            .unwrap();
        form = form.part("file", part);
        let response = self
            .client
            .post(self.url("/uploads"))
            .bearer_auth(&from.token)
            .multipart(form)
            .send()
            .await
            .expect("upload sent");
        let status = response.status();
        (status, response.json().await.expect("JSON body"))
    }

    pub async fn fetch(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("fetch")
    }
}

#[tokio::test]
async fn each_accepted_type_is_stored_and_served_by_its_signed_url() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;

    for (name, bytes, expected_type) in [
        ("dot.png", PNG, "image/png"),
        ("photo.jpg", JPEG, "image/jpeg"),
        ("paper.pdf", PDF, "application/pdf"),
    ] {
        let (status, body) = app
            .upload(
                &alice,
                &[("to", bob.id.to_string()), ("text", "see this".into())],
                name,
                "application/octet-stream",
                bytes.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let message = &body["message"];
        assert_eq!(message["kind"], "file");
        assert_eq!(message["text"], "see this");
        assert_eq!(message["chat_kind"], "direct");
        let attachment = &message["attachment"];
        assert_eq!(attachment["filename"], name);
        assert_eq!(attachment["content_type"], expected_type);
        assert_eq!(attachment["size"], bytes.len());
        assert_eq!(attachment["sha256"], sha256_hex(bytes));
        assert_eq!(attachment.as_object().unwrap().len(), 6);
        let url = attachment["url"].as_str().unwrap();
        assert!(
            url.starts_with(&format!("/files/{}/{name}?u={}&exp=", attachment["id"], alice.id)),
            "{url}"
        );

        // The recipient's socket gets receive_file, with a working URL.
        let received = bob_sock.expect("receive_file").await;
        assert_eq!(received["id"], message["id"]);
        assert_eq!(received["attachment"]["sha256"], attachment["sha256"]);

        let response = app.fetch(url, None).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers().clone();
        assert_eq!(headers["content-type"], expected_type);
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["content-security-policy"], "sandbox");
        assert!(headers["cache-control"].to_str().unwrap().starts_with("private"));
        assert_eq!(headers["etag"], format!("\"{}\"", sha256_hex(bytes)).as_str());
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.contains(&format!("filename=\"{name}\"")),
            "{disposition}"
        );
        assert!(
            disposition.contains(&format!("filename*=UTF-8''{name}")),
            "{disposition}"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), bytes, "identical bytes");
    }

    // History shows the file messages with fresh URLs.
    let (_, chats) = app.get("/chats", Some(&bob.token)).await;
    let last = &chats["chats"][0]["last_message"];
    assert_eq!(last["attachment"]["content_type"], "application/pdf");
    assert!(last["attachment"]["url"].as_str().unwrap().contains("sig="));
}

/// Every route that returns a message with an attachment gives it a
/// working signed URL.
#[tokio::test]
async fn every_route_that_returns_a_file_message_signs_its_url() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let group = app.create_group(&alice, "g", &[&bob]).await;
    let gid = group["id"].as_i64().unwrap();
    let (_, sent) = app
        .upload(
            &alice,
            &[("group_id", gid.to_string())],
            "dot.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    let id = sent["message"]["id"].clone();

    let (_, chat) = app.get(&format!("/chats/{gid}"), Some(&bob.token)).await;
    let (_, group_page) = app
        .get(&format!("/groups/{gid}/messages"), Some(&bob.token))
        .await;
    let (_, group_view) = app.get(&format!("/groups/{gid}"), Some(&bob.token)).await;
    let (_, chats) = app.get("/chats", Some(&bob.token)).await;
    let (_, sync) = app.get("/sync", Some(&bob.token)).await;
    let found = [
        ("upload response", sent["message"].clone()),
        ("GET /chats/:id messages", chat["messages"][0].clone()),
        (
            "GET /chats/:id last_message",
            chat["chat"]["last_message"].clone(),
        ),
        ("GET /groups/:id/messages", group_page["messages"][0].clone()),
        (
            "GET /groups/:id/messages group",
            group_page["group"]["last_message"].clone(),
        ),
        ("GET /groups/:id", group_view["group"]["last_message"].clone()),
        ("GET /chats", chats["chats"][0]["last_message"].clone()),
        ("GET /sync", sync["messages"][0].clone()),
    ];
    for (route, message) in found {
        assert_eq!(message["id"], id, "{route}");
        let url = message["attachment"]["url"].as_str().unwrap_or_default();
        assert!(url.contains("sig="), "{route}: {message}");
        assert_eq!(app.fetch(url, None).await.status(), StatusCode::OK, "{route}");
    }
}

#[tokio::test]
async fn the_type_comes_from_the_bytes_not_the_name() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (status, body) = app
        .upload(
            &alice,
            &[("to", alice.id.to_string())],
            "x.pdf",
            "application/pdf",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["message"]["attachment"]["content_type"], "image/png");
    assert_eq!(body["message"]["attachment"]["filename"], "x.pdf");
}

#[tokio::test]
async fn refused_files_leave_no_file_temp_file_or_row() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let to_bob = [("to", bob.id.to_string())];

    let r = app
        .upload(&alice, &to_bob, "x.png", "image/png", ELF.to_vec())
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let r = app
        .upload(&alice, &to_bob, "empty.png", "image/png", Vec::new())
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let r = app
        .upload(&alice, &to_bob, "short.png", "image/png", PNG[..4].to_vec())
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");

    let limit = 10 * 1024 * 1024;
    let mut over = vec![0u8; limit + 1];
    over[..PNG.len()].copy_from_slice(PNG);
    let r = app.upload(&alice, &to_bob, "big.png", "image/png", over).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    assert_eq!(blobstore::stored(&app.data_path()).await, Vec::<String>::new());
    assert_eq!(temp_files(&app.data_path()), 0);
    let (_, sync) = app.get("/sync", Some(&alice.token)).await;
    assert_eq!(
        sync["messages"].as_array().unwrap().len(),
        0,
        "no row, not even a direct chat message"
    );
}

#[tokio::test]
async fn a_file_at_the_limit_is_stored_whole() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let limit = 10 * 1024 * 1024;
    let mut bytes: Vec<u8> = (0..limit).map(|i| (i * 7 + i / 251) as u8).collect();
    bytes[..PDF.len()].copy_from_slice(PDF);
    let (status, body) = app
        .upload(
            &alice,
            &[("to", alice.id.to_string())],
            "big.pdf",
            "application/pdf",
            bytes.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let attachment = &body["message"]["attachment"];
    assert_eq!(attachment["size"], limit);
    assert_eq!(attachment["sha256"], sha256_hex(&bytes));
    let blobs = blobstore::stored(&app.data_path()).await;
    assert_eq!(blobs, [sha256_hex(&bytes)]);
    let on_disk = blobstore::read(&app.data_path(), &blobs[0]).await;
    assert_eq!(sha256_hex(&on_disk), sha256_hex(&bytes));
    let served = app
        .fetch(attachment["url"].as_str().unwrap(), None)
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.len(), limit);
    assert_eq!(sha256_hex(&served), sha256_hex(&bytes));
}

#[tokio::test]
async fn identical_uploads_make_two_messages_and_one_blob() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let a = app
        .upload(
            &alice,
            &[("to", bob.id.to_string())],
            "a.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    let b = app
        .upload(
            &bob,
            &[("to", alice.id.to_string())],
            "b.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    assert_eq!((a.0, b.0), (StatusCode::CREATED, StatusCode::CREATED));
    assert_ne!(a.1["message"]["id"], b.1["message"]["id"]);
    assert_ne!(
        a.1["message"]["attachment"]["id"],
        b.1["message"]["attachment"]["id"]
    );
    assert_eq!(blobstore::stored(&app.data_path()).await.len(), 1);
    for (body, name) in [(&a.1, "a.png"), (&b.1, "b.png")] {
        let response = app
            .fetch(body["message"]["attachment"]["url"].as_str().unwrap(), None)
            .await;
        assert!(
            response.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(name)
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    }
}

#[tokio::test]
async fn signatures_and_tokens_decide_who_gets_a_file() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let (_, body) = app
        .upload(
            &alice,
            &[("to", bob.id.to_string())],
            "secret.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    let attachment = &body["message"]["attachment"];
    let id = attachment["id"].as_i64().unwrap();
    let url = attachment["url"].as_str().unwrap().to_string();
    let bare = format!("/files/{id}/secret.png");

    // A member's token works without a signature; an outsider's does not.
    assert_eq!(app.fetch(&bare, Some(&bob.token)).await.status(), StatusCode::OK);
    let outsider = app.fetch(&bare, Some(&eve.token)).await;
    assert_eq!(outsider.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        outsider.json::<Value>().await.unwrap()["error"]["code"],
        "not_a_member"
    );
    let nobody = app.fetch(&bare, None).await;
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        nobody.json::<Value>().await.unwrap()["error"]["code"],
        "unauthorized"
    );

    // Tampered signature, another file's id, an expired one.
    let tampered = format!("{}A", url);
    assert_eq!(
        app.fetch(&tampered, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let other_id = url.replacen(&format!("/files/{id}/"), &format!("/files/{}/", id + 1), 1);
    assert_eq!(
        app.fetch(&other_id, None).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let secret = read_secret(&app.data_path()).await;
    let mut derive = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
    derive.update(b"chat-server file url signing v2");
    let key = derive.finalize().into_bytes();
    let sign_for = |user: i64, exp: i64| {
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(format!("file:{id}:{user}:{exp}").as_bytes());
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let sign = |exp: i64| sign_for(bob.id, exp);
    let fresh = format!("{bare}?u={}&exp={}&sig={}", bob.id, now + 60, sign(now + 60));
    assert_eq!(
        app.fetch(&fresh, None).await.status(),
        StatusCode::OK,
        "the test signs like the server"
    );
    // A URL names the user it was signed for (v2): for an outsider it
    // opens nothing, and it cannot be moved to another user.
    let for_eve = format!(
        "{bare}?u={}&exp={}&sig={}",
        eve.id,
        now + 60,
        sign_for(eve.id, now + 60)
    );
    assert_eq!(app.fetch(&for_eve, None).await.status(), StatusCode::FORBIDDEN);
    let moved = format!("{bare}?u={}&exp={}&sig={}", alice.id, now + 60, sign(now + 60));
    assert_eq!(app.fetch(&moved, None).await.status(), StatusCode::UNAUTHORIZED);
    let expired = format!("{bare}?u={}&exp={}&sig={}", bob.id, now - 1, sign(now - 1));
    assert_eq!(app.fetch(&expired, None).await.status(), StatusCode::UNAUTHORIZED);
    // An expired signature is still fine alongside a member's token.
    assert_eq!(
        app.fetch(&expired, Some(&bob.token)).await.status(),
        StatusCode::OK
    );

    let missing = app.fetch("/files/999/none.png", Some(&bob.token)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn range_and_conditional_requests() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (_, body) = app
        .upload(
            &alice,
            &[("to", alice.id.to_string())],
            "doc.pdf",
            "application/pdf",
            PDF.to_vec(),
        )
        .await;
    let url = body["message"]["attachment"]["url"].as_str().unwrap().to_string();

    let partial = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=5-12")
        .send()
        .await
        .unwrap();
    assert_eq!(partial.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        partial.headers()["content-range"],
        format!("bytes 5-12/{}", PDF.len()).as_str()
    );
    assert_eq!(partial.headers()["content-type"], "application/pdf");
    assert_eq!(partial.bytes().await.unwrap().as_ref(), &PDF[5..=12]);

    let etag = format!("\"{}\"", sha256_hex(PDF));
    let cached = app
        .client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn file_names_never_reach_the_file_system() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    for (sent, kept) in [
        ("../../../../tmp/evil.png", "evil.png"),
        ("..\\..\\windows\\evil.png", "evil.png"),
        ("/etc/passwd", "passwd"),
        ("..", "file"),
    ] {
        let (status, body) = app
            .upload(
                &alice,
                &[("to", alice.id.to_string())],
                sent,
                "image/png",
                PNG.to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(body["message"]["attachment"]["filename"], kept, "{sent:?}");
        let url = body["message"]["attachment"]["url"].as_str().unwrap();
        assert_eq!(app.fetch(url, None).await.bytes().await.unwrap().as_ref(), PNG);
    }
    assert!(!Path::new("/tmp/evil.png").exists());
    assert_eq!(
        blobstore::stored(&app.data_path()).await,
        [sha256_hex(PNG)],
        "only content-addressed blobs"
    );
}

#[tokio::test]
async fn upload_requests_are_validated() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let eve = app.register("eve").await;
    let chat = app.send(&alice, json!({ "to": bob.id }), "hi").await["chat_id"].to_string();

    assert_error(
        &app.upload(&alice, &[], "a.png", "image/png", PNG.to_vec()).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let two = [("to", bob.id.to_string()), ("chat_id", chat.clone())];
    assert_error(
        &app.upload(&alice, &two, "a.png", "image/png", PNG.to_vec()).await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let bad_id = [("to", "bob".to_string())];
    assert_error(
        &app.upload(&alice, &bad_id, "a.png", "image/png", PNG.to_vec())
            .await,
        StatusCode::BAD_REQUEST,
        "validation_failed",
    );
    let outsider = [("chat_id", chat.clone())];
    assert_error(
        &app.upload(&eve, &outsider, "a.png", "image/png", PNG.to_vec())
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let nobody = [("to", "999".to_string())];
    assert_error(
        &app.upload(&alice, &nobody, "a.png", "image/png", PNG.to_vec())
            .await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    );
    let long_caption = [("to", bob.id.to_string()), ("text", "x".repeat(4001))];
    assert_error(
        &app.upload(&alice, &long_caption, "a.png", "image/png", PNG.to_vec())
            .await,
        StatusCode::BAD_REQUEST,
        "message_too_long",
    );

    // No file part, JSON instead of multipart, no token.
    let form = Form::new().text("to", bob.id.to_string());
    let r = app
        .client
        .post(app.url("/uploads"))
        .bearer_auth(&alice.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .post("/uploads", Some(&alice.token), json!({ "to": bob.id }))
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let r = app
        .client
        .post(app.url("/uploads"))
        .multipart(Form::new())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(blobstore::stored(&app.data_path()).await.len(), 0);
    assert_eq!(temp_files(&app.data_path()), 0);
}

#[tokio::test]
async fn a_repeated_client_id_returns_the_first_file_message() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let fields = [
        ("to", alice.id.to_string()),
        ("client_id", "upload-1".to_string()),
    ];
    let first = app
        .upload(&alice, &fields, "a.png", "image/png", PNG.to_vec())
        .await;
    let again = app
        .upload(&alice, &fields, "a.png", "image/png", PNG.to_vec())
        .await;
    assert_eq!((first.0, again.0), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(first.1["message"]["id"], again.1["message"]["id"]);
    // A text send with the same key is the same message too.
    let (status, text) = app
        .post(
            "/chats/send-message",
            Some(&alice.token),
            json!({ "to": alice.id, "text": "x", "client_id": "upload-1" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text["message"]["kind"], "file");
    assert!(
        text["message"]["attachment"]["url"]
            .as_str()
            .unwrap()
            .contains("sig=")
    );
}

#[tokio::test]
async fn send_file_over_the_socket_is_the_same_operation() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let bob = app.register("bob").await;
    let mut alice_sock = SocketClient::of(&app, &alice).await;
    let mut bob_sock = SocketClient::of(&app, &bob).await;

    let ack = alice_sock
        .emit_binary_ack(
            "send_file",
            json!({ "to": bob.id, "filename": "dot.png", "text": "pic" }),
            "data",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let message = &ack["message"];
    assert_eq!(message["kind"], "file");
    assert_eq!(message["attachment"]["content_type"], "image/png");
    assert_eq!(message["attachment"]["sha256"], sha256_hex(PNG));
    let received = bob_sock.expect("receive_file").await;
    assert_eq!(received["id"], message["id"]);
    let url = received["attachment"]["url"].as_str().unwrap();
    assert_eq!(app.fetch(url, None).await.bytes().await.unwrap().as_ref(), PNG);
    alice_sock.settle(&app, &alice).await;
    assert!(
        alice_sock.buffered("receive_file").is_empty(),
        "not echoed to the sender"
    );

    // Refusals come back as acks and the connection stays.
    let ack = alice_sock
        .emit_binary_ack(
            "send_file",
            json!({ "to": bob.id, "filename": "x.png" }),
            "data",
            ELF.to_vec(),
        )
        .await;
    assert_eq!(ack["error"]["code"], "unsupported_media_type");
    let mut big = vec![0u8; 10 * 1024 * 1024 + 1];
    big[..PNG.len()].copy_from_slice(PNG);
    let ack = alice_sock
        .emit_binary_ack(
            "send_file",
            json!({ "to": bob.id, "filename": "big.png" }),
            "data",
            big,
        )
        .await;
    assert_eq!(ack["error"]["code"], "payload_too_large");
    let ack = alice_sock
        .emit_ack("send_file", json!({ "to": bob.id, "filename": "nodata.png" }))
        .await;
    assert_eq!(ack["error"]["code"], "validation_failed");
    let ack = alice_sock
        .emit_binary_ack(
            "send_file",
            json!({ "chat_id": 4242, "filename": "x.png" }),
            "data",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(ack["error"]["code"], "chat_not_found");
    assert_eq!(blobstore::stored(&app.data_path()).await.len(), 1);
    assert_eq!(temp_files(&app.data_path()), 0);
    let ack = alice_sock
        .emit_ack("send_message", json!({ "to": bob.id, "text": "still connected" }))
        .await;
    assert_eq!(ack["ok"], true);

    // Control characters and paths are cleaned from socket file names too.
    let ack = alice_sock
        .emit_binary_ack(
            "send_file",
            json!({ "to": bob.id, "filename": "../a\nb\u{0}.png" }),
            "data",
            PNG.to_vec(),
        )
        .await;
    assert_eq!(ack["message"]["attachment"]["filename"], "ab.png");
}

#[tokio::test]
async fn leftovers_of_a_crash_are_swept_at_start() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let (_, kept) = app
        .upload(
            &alice,
            &[("to", alice.id.to_string())],
            "a.png",
            "image/png",
            PNG.to_vec(),
        )
        .await;
    let data_dir = Arc::clone(&app.data_dir);
    app.stop().await;

    // A half-written upload and a blob whose row never committed.
    let dir = data_dir.path();
    std::fs::write(dir.join("uploads/tmp/0123.part"), b"half a file").unwrap();
    blobstore::plant(dir, &sha256_hex(JPEG), JPEG).await;

    let app = spawn_app_with(data_dir, |_| {}, axum::Router::new()).await;
    assert_eq!(temp_files(&app.data_path()), 0);
    assert_eq!(blobstore::stored(&app.data_path()).await, [sha256_hex(PNG)]);
    let url = kept["message"]["attachment"]["url"].as_str().unwrap();
    assert_eq!(
        app.fetch(url, None).await.bytes().await.unwrap().as_ref(),
        PNG,
        "signed URLs survive a restart"
    );
}
