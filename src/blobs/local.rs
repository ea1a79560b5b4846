//! Blobs as files in a folder (`--blob-store local`, the default):
//! `uploads/ab/cd/<sha256>`, served with tower-http's `ServeFile`. Also the
//! staging folder `uploads/tmp`, which every store stages in.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::response::Response;
use tower::ServiceExt;

use super::{BlobStore, BoxFuture, StagedFile, key_parts};

/// Blobs as files under `uploads/ab/cd/<sha256>`.
pub struct LocalDisk {
    root: PathBuf,
    /// How old a leftover must be before a start removes it: none for one
    /// node, [`SHARED_SWEEP_AFTER`] when a cluster shares the folder.
    grace: Duration,
}

/// How old a staged or unreferenced file must be before a start sweeps it
/// when several nodes share the store: another node's upload in flight
/// (staged, or stored with its row not committed yet) is seconds old.
pub const SHARED_SWEEP_AFTER: Duration = Duration::from_secs(3600);

/// Whether the file at `path` was last written more than `grace` ago.
fn stale(path: &Path, grace: Duration) -> io::Result<bool> {
    if grace.is_zero() {
        return Ok(true);
    }
    let modified = std::fs::metadata(path)?.modified()?;
    Ok(modified.elapsed().is_ok_and(|age| age > grace))
}

/// Creates the staging folder `dir` and removes staged files a crash left
/// there (older than `grace`).
pub fn prepare_staging(dir: &Path, grace: Duration) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut swept = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if stale(&path, grace)? {
            std::fs::remove_file(path)?;
            swept += 1;
        }
    }
    if swept > 0 {
        tracing::info!(swept, "removed temporary upload files left by an earlier run");
    }
    Ok(())
}

impl LocalDisk {
    /// Opens (creating) the folder.
    pub fn open(root: PathBuf, grace: Duration) -> io::Result<LocalDisk> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalDisk { root, grace })
    }

    /// Where a blob lives; `None` for a key that is not a hex SHA-256.
    pub fn path_of(&self, key: &str) -> Option<PathBuf> {
        key_parts(key).map(|[a, b, key]| self.root.join(a).join(b).join(key))
    }

    fn remove_unreferenced(&self, referenced: &HashSet<String>) -> io::Result<usize> {
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

    fn remove(&self, key: &str) -> BoxFuture<'_, io::Result<()>> {
        let path = self.path_of(key);
        Box::pin(async move {
            let path = path.ok_or_else(|| io::Error::other("bad blob key"))?;
            match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn sweep(&self, referenced: HashSet<String>) -> BoxFuture<'_, io::Result<usize>> {
        let disk = LocalDisk {
            root: self.root.clone(),
            grace: self.grace,
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || disk.remove_unreferenced(&referenced))
                .await
                .map_err(io::Error::other)?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_shared_folder_keeps_fresh_leftovers() {
        let dir = tempfile_dir();
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("tmp/in-flight.part"), b"x").unwrap();
        let key = "cd".repeat(32);
        let folder = dir.join("cd/cd");
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::write(folder.join(&key), b"y").unwrap();
        prepare_staging(&dir.join("tmp"), SHARED_SWEEP_AFTER).unwrap();
        let shared = LocalDisk::open(dir.clone(), SHARED_SWEEP_AFTER).unwrap();
        assert!(dir.join("tmp/in-flight.part").exists());
        assert_eq!(shared.sweep(Default::default()).await.unwrap(), 0);
        prepare_staging(&dir.join("tmp"), Duration::ZERO).unwrap();
        let alone = LocalDisk::open(dir.clone(), Duration::ZERO).unwrap();
        assert!(!dir.join("tmp/in-flight.part").exists());
        assert_eq!(alone.sweep(Default::default()).await.unwrap(), 1);
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
            grace: Duration::ZERO,
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
