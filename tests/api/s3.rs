//! What only the S3 blob store does: large files go up as a multipart
//! upload and come back whole and by ranges across the parts; a bucket
//! that is not there stops the start with the store's own words. Runs
//! when the suite runs on S3 (`CHAT_TEST_S3_ENDPOINT`); the uploads suite
//! runs on it whole as well.

use std::sync::Arc;

use reqwest::StatusCode;
use sha2::{Digest, Sha256};

use crate::blobstore::{self, on_s3, s3_endpoint};
use crate::helpers::spawn_app_with;

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A PNG signature followed by `len` bytes that are not all alike.
fn big_png(len: usize) -> Vec<u8> {
    let mut bytes = vec![0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];
    bytes.extend((0..len).map(|i| (i * 7 + i / 4096) as u8));
    bytes
}

async fn ranged(app: &crate::helpers::TestApp, url: &str, range: impl AsRef<str>) -> reqwest::Response {
    app.client
        .get(app.url(url))
        .header("range", range.as_ref())
        .send()
        .await
        .expect("a ranged GET")
}

#[tokio::test]
async fn a_large_file_goes_up_in_parts_and_comes_back_whole_and_by_ranges() {
    if !on_s3() {
        return;
    }
    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().expect("dir")),
        |c| c.max_upload_bytes = 12 * 1024 * 1024,
        axum::Router::new(),
    )
    .await;
    let alice = app.register("alice").await;
    let bytes = big_png(11 * 1024 * 1024);
    let (status, body) = app
        .upload(
            &alice,
            &[("to", alice.id.to_string())],
            "big.png",
            "image/png",
            bytes.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let key = sha256_hex(&bytes);
    assert_eq!(blobstore::stored(&app.data_path()).await, vec![key.clone()]);
    assert_eq!(blobstore::read(&app.data_path(), &key).await.len(), bytes.len());
    // A multipart upload's ETag is the parts' hash and their count: 11 MiB
    // in 5 MiB parts is three.
    let etag = blobstore::meta(&app.data_path(), &key)
        .await
        .e_tag
        .unwrap_or_default();
    assert!(etag.trim_matches('"').ends_with("-3"), "multipart ETag: {etag}");

    let url = body["message"]["attachment"]["url"].as_str().unwrap().to_string();
    let whole = app.client.get(app.url(&url)).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(
        whole.headers()["content-length"],
        bytes.len().to_string().as_str()
    );
    assert_eq!(whole.headers()["accept-ranges"], "bytes");
    assert_eq!(sha256_hex(&whole.bytes().await.unwrap()), key);

    // Across the first part boundary, and a suffix.
    let (from, to) = (5 * 1024 * 1024 - 10, 5 * 1024 * 1024 + 10);
    let part = ranged(&app, &url, format!("bytes={from}-{to}")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes {from}-{to}/{}", bytes.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &bytes[from..=to]);
    let tail = ranged(&app, &url, "bytes=-100").await;
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &bytes[bytes.len() - 100..]);
    let beyond = ranged(&app, &url, format!("bytes={}-", bytes.len() + 5)).await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        beyond.headers()["content-range"],
        format!("bytes */{}", bytes.len()).as_str()
    );
    let head = app.client.head(app.url(&url)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()["content-length"], bytes.len().to_string().as_str());
}

#[tokio::test]
async fn a_bucket_that_is_not_there_stops_the_start() {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let dir = tempfile::TempDir::new().expect("dir");
    let mut config = chat_server::config::Config::with_data_dir(dir.path()).expect("config");
    config.blob_store = chat_server::config::BlobStoreKind::S3("s3://no-such-bucket-here/x".into());
    config.s3_endpoint = Some(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let refused = tokio::time::timeout(
        crate::helpers::WAIT,
        chat_server::serve(config, listener, std::future::pending()),
    )
    .await
    .expect("the start gives up in time");
    let why = refused.expect_err("refused").to_string();
    assert!(
        why.contains("blob store") && why.contains("no-such-bucket-here"),
        "{why}"
    );
}

#[tokio::test]
async fn a_store_without_a_prefix_sweeps_only_its_own_keys() {
    if !on_s3() {
        return;
    }
    // An orphan where a store on the bucket's root keeps its blobs, and
    // another deployment's blob under its own prefix, as deep as ours
    // plus one.
    let orphan = sha256_hex(b"root orphan");
    let root_key = format!("{}/{}/{orphan}", &orphan[..2], &orphan[2..4]);
    blobstore::put_at(&root_key, b"root orphan").await;
    let theirs = sha256_hex(b"theirs");
    let their_key = format!("elsewhere/{}/{}/{theirs}", &theirs[..2], &theirs[2..4]);
    blobstore::put_at(&their_key, b"theirs").await;

    let app = spawn_app_with(
        Arc::new(tempfile::TempDir::new().expect("dir")),
        |c| c.blob_store = chat_server::config::BlobStoreKind::S3(format!("s3://{}", blobstore::BUCKET)),
        axum::Router::new(),
    )
    .await;
    assert!(!blobstore::exists_at(&root_key).await, "our own orphan is swept");
    assert!(
        blobstore::exists_at(&their_key).await,
        "another prefix's blob stays"
    );
    app.stop().await;
}
