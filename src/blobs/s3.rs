//! Blobs in S3-compatible object storage (`--blob-store s3://bucket/prefix`),
//! through the `object_store` crate: keys `<prefix>/ab/cd/<sha256>` as on
//! disk, path-style requests (what MinIO, Garage and moto expect; AWS takes
//! them too), credentials from the usual `AWS_*` environment variables.
//!
//! A staged file goes up in parts of [`PART_SIZE`] (one `PUT` when it is
//! smaller, a multipart upload when larger), so only a few parts of it
//! are in memory at once ([`PARTS_IN_FLIGHT`]). Downloads stream from the store, with single byte ranges
//! (206, or 416 with the size) as the local store answers them.

use std::collections::HashSet;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::{BlobStore, BoxFuture, StagedFile, key_parts, valid_key};

/// The size of an upload's parts (S3's smallest but the last).
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts on their way at once: with the one being filled, an upload holds
/// at most three parts (15 MiB) in memory, however large the file.
const PARTS_IN_FLIGHT: usize = 2;

/// A bucket (and a prefix in it) of an S3-compatible store.
pub struct S3 {
    store: Arc<dyn ObjectStore>,
    /// Where this deployment's blobs live in the bucket; may be empty.
    prefix: String,
    /// How old an unreferenced blob must be before a start removes it.
    grace: Duration,
    /// The store as given, for messages.
    url: String,
}

impl S3 {
    /// `url` is `s3://bucket` or `s3://bucket/prefix`; `endpoint` is the
    /// S3-compatible server (absent: AWS, or `AWS_ENDPOINT` if set).
    pub fn open(
        url: &str,
        endpoint: Option<&str>,
        region: Option<&str>,
        grace: Duration,
    ) -> Result<S3, String> {
        let (bucket, prefix) = parse_url(url)?;
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_virtual_hosted_style_request(false);
        if let Some(endpoint) = endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = region {
            builder = builder.with_region(region);
        }
        let store = builder.build().map_err(|e| format!("--blob-store {url}: {e}"))?;
        Ok(S3 {
            store: Arc::new(store),
            prefix: prefix.to_string(),
            grace,
            url: url.to_string(),
        })
    }

    fn key(&self, key: &str) -> Option<Key> {
        let [a, b, key] = key_parts(key)?;
        let path = if self.prefix.is_empty() {
            format!("{a}/{b}/{key}")
        } else {
            format!("{}/{a}/{b}/{key}", self.prefix)
        };
        Some(Key::from(path))
    }

    fn prefix_key(&self) -> Option<Key> {
        (!self.prefix.is_empty()).then(|| Key::from(self.prefix.as_str()))
    }

    async fn upload(&self, key: Key, staged: &StagedFile) -> io::Result<()> {
        let mut file = tokio::fs::File::open(staged.guard.path()).await?;
        let mut writer = BufWriter::with_capacity(Arc::clone(&self.store), key, PART_SIZE)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        let copied = async {
            tokio::io::copy(&mut file, &mut writer).await?;
            writer.shutdown().await
        }
        .await;
        if let Err(e) = copied {
            // Leave no multipart upload half done.
            if let Err(abort) = writer.abort().await {
                tracing::warn!(error = %abort, "aborting a failed upload to the blob store");
            }
            return Err(e);
        }
        Ok(())
    }
}

/// `s3://bucket/some/prefix` into the bucket and the prefix (no slashes at
/// either end).
fn parse_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("--blob-store {url:?}: expected local or s3://bucket/prefix"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("--blob-store {url:?}: the bucket is missing"));
    }
    Ok((bucket, prefix.trim_matches('/')))
}

fn io_error(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

/// The headers every answer about a blob carries.
fn blob_headers(response: &mut Response, meta: &ObjectMeta, length: u64) {
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    let modified = httpdate::fmt_http_date(SystemTime::from(meta.last_modified));
    if let Ok(value) = HeaderValue::from_str(&modified) {
        headers.insert(header::LAST_MODIFIED, value);
    }
}

/// What a `Range` header asks of a blob of `size` bytes.
enum Wanted {
    All,
    Part(std::ops::RangeInclusive<u64>),
    Unsatisfiable,
}

fn wanted(request: &Request<Body>, size: u64) -> Wanted {
    let Some(range) = request.headers().get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Wanted::All;
    };
    match http_range_header::parse_range_header(range).and_then(|r| r.validate(size)) {
        // One range is served; several (a multipart answer) are not, as
        // with files on disk.
        Ok(ranges) if ranges.len() == 1 => Wanted::Part(ranges[0].clone()),
        _ => Wanted::Unsatisfiable,
    }
}

impl BlobStore for S3 {
    fn put(&self, staged: StagedFile) -> BoxFuture<'_, io::Result<()>> {
        Box::pin(async move {
            let key = self
                .key(&staged.sha256)
                .ok_or_else(|| io::Error::other("staged file has no valid hash"))?;
            match self.store.head(&key).await {
                Ok(_) => return Ok(()), // the same bytes are stored already; the guard drops the copy
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(io_error(e)),
            }
            self.upload(key, &staged).await
            // The staged copy goes when `staged` drops.
        })
    }

    fn serve(&self, key: &str, request: Request<Body>) -> BoxFuture<'_, io::Result<Response>> {
        let key = self.key(key);
        Box::pin(async move {
            let key = key.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "bad blob key"))?;
            let meta = self.store.head(&key).await.map_err(io_error)?;
            let part = match wanted(&request, meta.size) {
                Wanted::All => None,
                Wanted::Part(range) => Some(range),
                Wanted::Unsatisfiable => {
                    let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    if let Ok(value) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                        response.headers_mut().insert(header::CONTENT_RANGE, value);
                    }
                    return Ok(response);
                }
            };
            let length = part.as_ref().map_or(meta.size, |r| r.end() - r.start() + 1);
            let mut response = if request.method() == Method::HEAD || length == 0 {
                Response::new(Body::empty())
            } else {
                let options = GetOptions::new().with_range(part.clone().map(|r| *r.start()..r.end() + 1));
                let got = self.store.get_opts(&key, options).await.map_err(io_error)?;
                let stream = got.into_stream().map_err(io::Error::other);
                Response::new(Body::from_stream(stream))
            };
            if let Some(range) = &part {
                *response.status_mut() = StatusCode::PARTIAL_CONTENT;
                let value = format!("bytes {}-{}/{}", range.start(), range.end(), meta.size);
                if let Ok(value) = HeaderValue::from_str(&value) {
                    response.headers_mut().insert(header::CONTENT_RANGE, value);
                }
            }
            blob_headers(&mut response, &meta, length);
            Ok(response)
        })
    }

    fn remove(&self, key: &str) -> BoxFuture<'_, io::Result<()>> {
        let key = self.key(key);
        Box::pin(async move {
            let key = key.ok_or_else(|| io::Error::other("bad blob key"))?;
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(io_error(e)),
            }
        })
    }

    fn sweep(&self, referenced: HashSet<String>) -> BoxFuture<'_, io::Result<usize>> {
        Box::pin(async move {
            let now = SystemTime::now();
            let cutoff = now.checked_sub(self.grace).unwrap_or(now);
            let prefix = self.prefix_key();
            let mut listing = self.store.list(prefix.as_ref());
            let mut removed = 0;
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(|e| io::Error::other(format!("listing {}: {e}", self.url)))?;
                let Some(name) = meta.location.filename() else {
                    continue;
                };
                // Only our own keys, exactly where this store puts them:
                // anything else in the bucket (another prefix's blobs
                // included) is left alone.
                if !valid_key(name)
                    || self.key(name).as_ref() != Some(&meta.location)
                    || referenced.contains(name)
                    || SystemTime::from(meta.last_modified) > cutoff
                {
                    continue;
                }
                match self.store.delete(&meta.location).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => removed += 1,
                    Err(e) => return Err(io_error(e)),
                }
            }
            Ok(removed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(parse_url("s3://chat"), Ok(("chat", "")));
        assert_eq!(parse_url("s3://chat/"), Ok(("chat", "")));
        assert_eq!(parse_url("s3://chat/prod/files/"), Ok(("chat", "prod/files")));
        assert!(parse_url("s3:///x").is_err());
        assert!(parse_url("gs://chat").is_err());
    }
}
