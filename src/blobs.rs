//! Where file bytes live. Uploads are first *staged*: streamed into a
//! temporary file while they are counted, hashed and their type sniffed.
//! A staged file that passed every check is handed to the [`BlobStore`],
//! which keeps it under its SHA-256 (so identical files are kept once).
//! Local disk is the store today; an S3-compatible one can implement the
//! same three methods later.
//!
//! A staged file removes itself when dropped unless the store took it, so
//! an error anywhere leaves no temporary file behind.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;

use crate::error::{AppError, Result};

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
struct TempGuard(Option<PathBuf>);

impl TempGuard {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn disarm(&mut self) {
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
    guard: TempGuard,
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
    /// Forgets a blob.
    fn delete(&self, key: &str) -> BoxFuture<'_, io::Result<()>>;
}

/// Blobs as files under `uploads/ab/cd/<sha256>`, staged in `uploads/tmp`.
pub struct LocalDisk {
    root: PathBuf,
    /// How old a leftover must be before a start removes it: none for one
    /// node, [`SHARED_SWEEP_AFTER`] when a cluster shares the folder.
    grace: std::time::Duration,
}

/// How old a staged or unreferenced file must be before a start sweeps it
/// when several nodes share the folder: another node's upload in flight
/// (staged, or stored with its row not committed yet) is seconds old.
pub const SHARED_SWEEP_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);

/// Whether the file at `path` was last written more than `grace` ago.
fn stale(path: &Path, grace: std::time::Duration) -> io::Result<bool> {
    if grace.is_zero() {
        return Ok(true);
    }
    let modified = std::fs::metadata(path)?.modified()?;
    Ok(modified.elapsed().is_ok_and(|age| age > grace))
}

impl LocalDisk {
    /// Opens (creating) the folder and removes staged files left by a crash
    /// (older than `grace`).
    pub fn open(root: PathBuf, grace: std::time::Duration) -> io::Result<LocalDisk> {
        let disk = LocalDisk { root, grace };
        std::fs::create_dir_all(disk.tmp_dir())?;
        let mut swept = 0;
        for entry in std::fs::read_dir(disk.tmp_dir())? {
            let path = entry?.path();
            if stale(&path, disk.grace)? {
                std::fs::remove_file(path)?;
                swept += 1;
            }
        }
        if swept > 0 {
            tracing::info!(swept, "removed temporary upload files left by an earlier run");
        }
        Ok(disk)
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where a blob lives; `None` for a key that is not a hex SHA-256, so
    /// no key can name a path outside the store.
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        let valid = key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| self.root.join(&key[..2]).join(&key[2..4]).join(key))
    }

    /// Removes blobs no attachment refers to (left by a crash between
    /// storing a file and committing its row), older than the grace: with a
    /// shared folder a younger one may be another node's upload whose row
    /// is about to commit. Runs once, before the server accepts requests.
    pub fn remove_unreferenced(&self, referenced: &std::collections::HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        for level1 in std::fs::read_dir(&self.root)? {
            let level1 = level1?;
            if level1.file_name() == "tmp" || !level1.file_type()?.is_dir() {
                continue;
            }
            for level2 in std::fs::read_dir(level1.path())? {
                for blob in std::fs::read_dir(level2?.path())? {
                    let blob = blob?;
                    let name = blob.file_name();
                    if !referenced.contains(name.to_string_lossy().as_ref())
                        && stale(&blob.path(), self.grace)?
                    {
                        std::fs::remove_file(blob.path())?;
                        removed += 1;
                    }
                }
            }
        }
        Ok(removed)
    }
}

impl BlobStore for LocalDisk {
    fn put(&self, mut staged: StagedFile) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let target = self
                .path_of(&staged.sha256)
                .ok_or_else(|| io::Error::other("staged file has no valid hash"))?;
            let dir = target.parent().map(Path::to_path_buf).unwrap_or_default();
            tokio::fs::create_dir_all(&dir).await?;
            if tokio::fs::try_exists(&target).await? {
                return Ok(()); // the same bytes are stored already; the guard drops the copy
            }
            tokio::fs::rename(staged.guard.path(), &target).await?;
            staged.guard.disarm();
            // Make the rename itself durable.
            tokio::fs::File::open(&dir).await?.sync_all().await
        })
    }

    fn serve(&self, key: &str, request: Request<Body>) -> BoxFuture<'_, io::Result<Response>> {
        let path = self.path_of(key);
        Box::pin(async move {
            let path = path.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "bad blob key"))?;
            if !tokio::fs::try_exists(&path).await? {
                return Err(io::Error::new(io::ErrorKind::NotFound, "blob missing"));
            }
            let response = tower_http::services::ServeFile::new(path)
                .oneshot(request)
                .await
                .map_err(io::Error::other)?;
            Ok(response.map(Body::new))
        })
    }

    fn delete(&self, key: &str) -> BoxFuture<'_, io::Result<()>> {
        let path = self.path_of(key);
        Box::pin(async move {
            match path {
                Some(path) => match tokio::fs::remove_file(path).await {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                    _ => Ok(()),
                },
                None => Ok(()),
            }
        })
    }
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
    fn a_shared_folder_keeps_fresh_leftovers() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("tmp/in-flight.part"), b"x").unwrap();
        let key = "cd".repeat(32);
        let folder = dir.join("cd/cd");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(&key), b"y").unwrap();
        let shared = LocalDisk::open(dir.clone(), SHARED_SWEEP_AFTER).unwrap();
        assert!(dir.join("tmp/in-flight.part").exists());
        assert_eq!(shared.remove_unreferenced(&Default::default()).unwrap(), 0);
        let alone = LocalDisk::open(dir.clone(), std::time::Duration::ZERO).unwrap();
        assert!(!dir.join("tmp/in-flight.part").exists());
        assert_eq!(alone.remove_unreferenced(&Default::default()).unwrap(), 1);
        let _ = std::fs::remove_dir_all(dir);
    }

    fn tempfile_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chat-blobs-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn blob_paths_cannot_escape() {
        let disk = LocalDisk {
            root: PathBuf::from("/data/uploads"),
            grace: std::time::Duration::ZERO,
        };
        let key = "ab".repeat(32);
        assert_eq!(
            disk.path_of(&key),
            Some(PathBuf::from(format!("/data/uploads/ab/ab/{key}")))
        );
        assert_eq!(disk.path_of("../../etc/passwd"), None);
        assert_eq!(disk.path_of(&"AB".repeat(32)), None);
    }
}
