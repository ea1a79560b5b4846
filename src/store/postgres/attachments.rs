//! Attachments on PostgreSQL: the rows of uploaded files, and the store's
//! `Files` operations.

use std::collections::HashSet;

use async_trait::async_trait;

use super::PgStore;
use super::access::membership;
use super::rows::{self, row};
use crate::domain::Attachment;
use crate::error::{AppError, Result};
use crate::store::{BlobLock, Files};

#[async_trait]
impl Files for PgStore {
    async fn attachment(&self, id: i64, viewer: Option<i64>) -> Result<Attachment> {
        let c = self.client().await?;
        let found = row(
            &c,
            "SELECT id, filename, content_type, size, sha256, chat_id FROM attachments WHERE id = $1",
            &[&id],
        )
        .await?
        .ok_or_else(|| AppError::NotFound(format!("file {id} does not exist")))?;
        let chat_id: i64 = rows::get(&found, 5)?;
        if let Some(user_id) = viewer {
            membership(&c, chat_id, user_id)
                .await?
                .ok_or(AppError::NotAMember(chat_id))?;
        }
        Ok(Attachment {
            id: rows::get(&found, 0)?,
            filename: rows::get(&found, 1)?,
            content_type: rows::get(&found, 2)?,
            size: rows::get(&found, 3)?,
            sha256: rows::get(&found, 4)?,
            url: String::new(),
        })
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let c = self.client().await?;
        rows::rows(&c, "SELECT DISTINCT sha256 FROM attachments", &[])
            .await?
            .iter()
            .map(|r| rows::get(r, 0))
            .collect()
    }

    async fn blob_referenced(&self, key: &str) -> Result<bool> {
        let c = self.client().await?;
        Ok(
            row(&c, "SELECT 1 FROM attachments WHERE sha256 = $1 LIMIT 1", &[&key])
                .await?
                .is_some(),
        )
    }

    /// This node's lock of the key, then a session advisory lock on a
    /// connection of the lock pool for as long as the lock is held: every
    /// node's uploads and removals of the key meet there.
    async fn lock_blob(&self, key: &str) -> Result<BlobLock> {
        let local = self.blob_locks.lock(key).await;
        let c = self.lock_pool.get().await?;
        let objid = blob_lock_id(key);
        // The holder may be storing a big file on a slow object store.
        c.batch_execute("SET statement_timeout = '300s'").await?;
        c.execute("SELECT pg_advisory_lock($1, $2)", &[&BLOB_LOCK_CLASS, &objid])
            .await?;
        Ok(BlobLock::new((
            HeldBlobLock {
                client: Some(c),
                objid,
            },
            local,
        )))
    }
}

/// The first key of the blob locks' two-key advisory locks ("blob").
const BLOB_LOCK_CLASS: i32 = 0x626c_6f62;

/// The second: 32 bits of the (hex SHA-256) key.
fn blob_lock_id(key: &str) -> i32 {
    let head = key
        .get(..8)
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0);
    i32::from_ne_bytes(head.to_ne_bytes())
}

struct HeldBlobLock {
    client: Option<deadpool_postgres::Client>,
    objid: i32,
}

impl Drop for HeldBlobLock {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else { return };
        let objid = self.objid;
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let unlocked = client
                        .execute("SELECT pg_advisory_unlock($1, $2)", &[&BLOB_LOCK_CLASS, &objid])
                        .await;
                    if unlocked.is_err() {
                        // Never back to the pool still locked: closing
                        // the connection releases the lock.
                        drop(deadpool_postgres::Object::take(client));
                    }
                });
            }
            Err(_) => drop(deadpool_postgres::Object::take(client)),
        }
    }
}
