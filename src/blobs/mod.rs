//! Where file bytes live. Uploads are first *staged*: streamed into a
//! temporary file while they are counted, hashed and their type sniffed.
//! A staged file that passed every check is handed to the [`BlobStore`],
//! which keeps it under its SHA-256 (so identical files are kept once).
//! Two stores implement it: [`LocalDisk`] (a folder, the default) and
//! [`S3`] (S3-compatible object storage, for several nodes).
//!
//! A staged file removes itself when dropped unless the store took it, so
//! an error anywhere leaves no temporary file behind.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{AppError, Result};

mod local;
mod s3;

pub use local::{LocalDisk, SHARED_SWEEP_AFTER, prepare_staging};
pub use s3::S3;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The file types accepted, decided by their first bytes.
const SIGNATURES: [(&[u8], &str); 3] = [
    (b"%PDF-", "application/pdf"),
    (&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A], "image/png"),
    (&[0xFF, 0xD8, 0xFF], "image/jpeg"),
];
/// Bytes needed to tell every accepted type apart.
const SNIFF_LEN: usize = 8;

/// The content type of a file starting with `head`, if it is one we accept.
/// `complete` says `head` is the whole file (shorter than `SNIFF_LEN`).
pub fn sniff(head: &[u8]) -> Option<&'static str> {
    SIGNATURES
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, ct)| *ct)
}

/// Removes a temporary file on drop unless disarmed.
#[derive(Debug)]
pub(crate) struct TempGuard(Option<PathBuf>);

impl TempGuard {
    pub(crate) fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    pub(crate) fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// An upload in progress: a temporary file, its byte count, hash and type.
pub struct Staging {
    file: tokio::io::BufWriter<tokio::fs::File>,
    guard: TempGuard,
    size: u64,
    limit: u64,
    hasher: Sha256,
    head: Vec<u8>,
    content_type: Option<&'static str>,
}

impl Staging {
    /// Starts a new temporary file in `tmp_dir`; more than `limit` bytes
    /// will be refused.
    pub async fn start(tmp_dir: &Path, limit: u64) -> Result<Staging> {
        let mut name = [0u8; 16];
        getrandom::fill(&mut name).map_err(AppError::internal)?;
        let name: String = name.iter().map(|b| format!("{b:02x}")).collect();
        let path = tmp_dir.join(format!("{name}.part"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| AppError::internal(format_args!("staging {}: {e}", path.display())))?;
        Ok(Staging {
            file: tokio::io::BufWriter::with_capacity(64 * 1024, file),
            guard: TempGuard(Some(path)),
            size: 0,
            limit,
            hasher: Sha256::new(),
            head: Vec::with_capacity(SNIFF_LEN),
            content_type: None,
        })
    }

    /// Appends a chunk. Refuses, as soon as it can tell, a file over the
    /// limit (413) or of a type we do not accept (415).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(too_large(self.limit));
        }
        if self.content_type.is_none() {
            let want = SNIFF_LEN - self.head.len();
            self.head.extend_from_slice(&chunk[..want.min(chunk.len())]);
            if self.head.len() == SNIFF_LEN {
                self.content_type = Some(sniff(&self.head).ok_or_else(unsupported)?);
            }
        }
        self.hasher.update(chunk);
        self.file.write_all(chunk).await.map_err(AppError::internal)
    }

    /// Flushes and fsyncs the file; it is now whole on disk.
    pub async fn finish(mut self) -> Result<StagedFile> {
        let content_type = match self.content_type {
            Some(ct) => ct,
            None => sniff(&self.head).ok_or_else(unsupported)?,
        };
        self.file.flush().await.map_err(AppError::internal)?;
        self.file.get_ref().sync_all().await.map_err(AppError::internal)?;
        let sha256: String = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(StagedFile {
            guard: self.guard,
            size: self.size,
            sha256,
            content_type,
        })
    }

    /// Stages bytes that are already in memory (a Socket.IO attachment).
    pub async fn from_bytes(tmp_dir: &Path, limit: u64, bytes: &[u8]) -> Result<StagedFile> {
        if bytes.len() as u64 > limit {
            return Err(too_large(limit));
        }
        if sniff(&bytes[..bytes.len().min(SNIFF_LEN)]).is_none() {
            return Err(unsupported());
        }
        let mut staging = Staging::start(tmp_dir, limit).await?;
        for chunk in bytes.chunks(256 * 1024) {
            staging.write(chunk).await?;
        }
        staging.finish().await
    }
}

fn too_large(limit: u64) -> AppError {
    AppError::PayloadTooLarge(format!("the file is larger than the {limit}-byte limit"))
}

fn unsupported() -> AppError {
    AppError::UnsupportedMediaType("only PDF, JPEG and PNG files are accepted".into())
}

/// A whole, verified file waiting to be stored.
#[derive(Debug)]
pub struct StagedFile {
    pub(crate) guard: TempGuard,
    pub size: u64,
    /// Hex SHA-256 of the content; the blob's key.
    pub sha256: String,
    pub content_type: &'static str,
}

/// The one interface to file bytes.
pub trait BlobStore: Send + Sync {
    /// Keeps a staged file under its `sha256`. Storing content that is
    /// already there just drops the staged copy.
    fn put(&self, staged: StagedFile) -> BoxFuture<'_, io::Result<()>>;
    /// Answers a request for the blob's bytes (Range and conditional
    /// requests included); headers about the file are the caller's.
    fn serve(&self, key: &str, request: Request<Body>) -> BoxFuture<'_, io::Result<Response>>;
    /// Removes blobs no attachment refers to (left by a crash between
    /// storing a file and committing its row) that were last written more
    /// than the store's grace ago: with several nodes a younger one may be
    /// another node's upload whose row is about to commit. Runs once,
    /// before the server accepts requests; answers how many it removed.
    fn sweep(&self, referenced: HashSet<String>) -> BoxFuture<'_, io::Result<usize>>;
    /// Removes one blob (gone already is fine). The caller holds the key's
    /// lock and has made sure no attachment refers to it.
    fn remove(&self, key: &str) -> BoxFuture<'_, io::Result<()>>;
}

/// Whether `key` is a hex SHA-256, the only keys a store accepts, so no key
/// can name a path outside it.
pub fn valid_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The key's place in a store: `ab/cd/<key>`.
fn key_parts(key: &str) -> Option<[&str; 3]> {
    valid_key(key).then(|| [&key[..2], &key[2..4], key])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_by_content() {
        assert_eq!(sniff(b"%PDF-1.7\n"), Some("application/pdf"));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, 0]),
            Some("image/png")
        );
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"\x7fELF\x02\x01\x01\x00"), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G']),
            None,
            "a truncated PNG signature"
        );
    }

    #[test]
    fn keys_are_hex_sha256_only() {
        assert_eq!(key_parts(&"ab".repeat(32)).map(|p| p[0]), Some("ab"));
        assert_eq!(key_parts("../../etc/passwd"), None);
        assert_eq!(key_parts(&"AB".repeat(32)), None);
        assert_eq!(key_parts(&"ab".repeat(31)), None);
    }
}
