//! Which blob store the suite runs on, and a view into it for the tests
//! that look at stored bytes: the local folder, or, when
//! `CHAT_TEST_S3_ENDPOINT` names an S3-compatible server (moto_server in
//! CI), the bucket `chat-test` there, a prefix of its own per data dir.
//! Credentials come from the `AWS_*` environment, as for the server.

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub const BUCKET: &str = "chat-test";

/// The S3-compatible server, if the suite runs on one.
pub fn s3_endpoint() -> Option<String> {
    std::env::var("CHAT_TEST_S3_ENDPOINT")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

pub fn on_s3() -> bool {
    s3_endpoint().is_some()
}

/// The data dir's prefix in the bucket.
fn prefix_of(dir: &Path) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    format!("t{}-{name}", std::process::id())
}

/// `--blob-store` and `--s3-endpoint` for a server on `dir`; `None` on the
/// local folder. Creates the bucket the first time.
pub async fn server_flags(dir: &Path) -> Option<(String, String)> {
    let endpoint = s3_endpoint()?;
    static BUCKET_MADE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    BUCKET_MADE
        .get_or_init(|| async {
            // moto answers an unsigned request; 409 says it is there already.
            let made = reqwest::Client::new()
                .put(format!("{endpoint}/{BUCKET}"))
                .send()
                .await
                .expect("the S3 server of CHAT_TEST_S3_ENDPOINT answers");
            assert!(
                made.status().is_success() || made.status().as_u16() == 409,
                "creating the test bucket: {}",
                made.status()
            );
        })
        .await;
    Some((format!("s3://{BUCKET}/{}", prefix_of(dir)), endpoint))
}

fn client(endpoint: &str) -> Arc<dyn ObjectStore> {
    Arc::new(
        AmazonS3Builder::from_env()
            .with_bucket_name(BUCKET)
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false)
            .build()
            .expect("an S3 client"),
    )
}

fn local_path(dir: &Path, key: &str) -> std::path::PathBuf {
    dir.join("uploads").join(&key[..2]).join(&key[2..4]).join(key)
}

/// The keys of the blobs stored for the server on `dir`.
pub async fn stored(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(endpoint) = s3_endpoint() {
        let store = client(&endpoint);
        let prefix = Key::from(prefix_of(dir));
        let mut listing = store.list(Some(&prefix));
        while let Some(meta) = listing.next().await {
            let meta = meta.expect("listing the test bucket");
            if let Some(name) = meta.location.filename() {
                found.push(name.to_string());
            }
        }
        return found;
    }
    let Ok(level1) = std::fs::read_dir(dir.join("uploads")) else {
        return found;
    };
    for a in level1.flatten().filter(|e| e.file_name() != "tmp") {
        for b in std::fs::read_dir(a.path()).into_iter().flatten().flatten() {
            for blob in std::fs::read_dir(b.path()).into_iter().flatten().flatten() {
                found.push(blob.file_name().to_string_lossy().to_string());
            }
        }
    }
    found
}

fn key_of(dir: &Path, key: &str) -> Key {
    Key::from(format!("{}/{}/{}/{key}", prefix_of(dir), &key[..2], &key[2..4]))
}

/// The bytes of a stored blob.
pub async fn read(dir: &Path, key: &str) -> Vec<u8> {
    match s3_endpoint() {
        Some(endpoint) => client(&endpoint)
            .get(&key_of(dir, key))
            .await
            .expect("blob in the bucket")
            .bytes()
            .await
            .expect("blob bytes")
            .to_vec(),
        None => std::fs::read(local_path(dir, key)).expect("blob on disk"),
    }
}

/// What the bucket says of a stored blob (on S3 only).
pub async fn meta(dir: &Path, key: &str) -> object_store::ObjectMeta {
    let endpoint = s3_endpoint().expect("on S3");
    client(&endpoint)
        .head(&key_of(dir, key))
        .await
        .expect("blob in the bucket")
}

/// Stores a blob behind the server's back (as a crash between storing a
/// file and committing its row would leave it).
pub async fn plant(dir: &Path, key: &str, bytes: &[u8]) {
    match s3_endpoint() {
        Some(endpoint) => {
            client(&endpoint)
                .put(&key_of(dir, key), PutPayload::from(bytes.to_vec()))
                .await
                .expect("planting a blob");
        }
        None => {
            let path = local_path(dir, key);
            std::fs::create_dir_all(path.parent().expect("blob folder")).expect("blob folder");
            std::fs::write(path, bytes).expect("planting a blob");
        }
    }
}

/// Puts `bytes` at `path` in the test bucket, whatever the path (on S3 only).
pub async fn put_at(path: &str, bytes: &[u8]) {
    let endpoint = s3_endpoint().expect("on S3");
    client(&endpoint)
        .put(&Key::from(path), PutPayload::from(bytes.to_vec()))
        .await
        .expect("putting an object");
}

/// Whether the test bucket holds `path` (on S3 only).
pub async fn exists_at(path: &str) -> bool {
    let endpoint = s3_endpoint().expect("on S3");
    match client(&endpoint).head(&Key::from(path)).await {
        Ok(_) => true,
        Err(object_store::Error::NotFound { .. }) => false,
        Err(e) => panic!("asking the bucket for {path}: {e}"),
    }
}
