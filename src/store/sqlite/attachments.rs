//! Attachments: one row per uploaded file (the bytes are in the blob store
//! under the row's sha256), and the store's `Files` operations.

use std::collections::HashSet;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::SqliteStore;
use super::chats::membership;
use crate::domain::{Attachment, Timestamp};
use crate::error::{AppError, Result};
use crate::store::{BlobLock, Files};

/// An attachment about to be stored.
pub struct NewAttachment<'a> {
    pub chat_id: i64,
    pub uploader_id: i64,
    pub filename: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
}

pub fn insert_attachment(conn: &Connection, new: &NewAttachment<'_>, now: Timestamp) -> Result<Attachment> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO attachments (chat_id, uploader_id, filename, content_type, size, sha256, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    stmt.execute(params![
        new.chat_id,
        new.uploader_id,
        new.filename,
        new.content_type,
        new.size,
        new.sha256,
        now.0
    ])?;
    Ok(Attachment {
        id: conn.last_insert_rowid(),
        filename: new.filename.to_string(),
        content_type: new.content_type.to_string(),
        size: new.size,
        sha256: new.sha256.to_string(),
        url: String::new(),
    })
}

/// An attachment and the chat it was sent to.
fn attachment_by_id(conn: &Connection, id: i64) -> Result<Option<(Attachment, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, filename, content_type, size, sha256, chat_id FROM attachments WHERE id = ?1",
    )?;
    let found = stmt
        .query_row([id], |row| {
            Ok((
                Attachment {
                    id: row.get(0)?,
                    filename: row.get(1)?,
                    content_type: row.get(2)?,
                    size: row.get(3)?,
                    sha256: row.get(4)?,
                    url: String::new(),
                },
                row.get(5)?,
            ))
        })
        .optional()?;
    Ok(found)
}

/// Every blob key some attachment refers to.
fn referenced_blobs(conn: &Connection) -> Result<HashSet<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT sha256 FROM attachments")?;
    let keys = stmt.query_map([], |r| r.get(0))?;
    Ok(keys.collect::<rusqlite::Result<HashSet<_>>>()?)
}

#[async_trait]
impl Files for SqliteStore {
    async fn attachment(&self, id: i64, viewer: Option<i64>) -> Result<Attachment> {
        self.db
            .read(move |conn| {
                let (attachment, chat_id) = attachment_by_id(conn, id)?
                    .ok_or_else(|| AppError::NotFound(format!("file {id} does not exist")))?;
                if let Some(user_id) = viewer {
                    membership(conn, chat_id, user_id)?.ok_or(AppError::NotAMember(chat_id))?;
                }
                Ok(attachment)
            })
            .await
    }

    async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        self.db.read(referenced_blobs).await
    }

    async fn blob_referenced(&self, key: &str) -> Result<bool> {
        let key = key.to_string();
        self.db
            .read(move |conn| {
                Ok(conn
                    .prepare_cached("SELECT 1 FROM attachments WHERE sha256 = ?1")?
                    .exists([key])?)
            })
            .await
    }

    async fn lock_blob(&self, key: &str) -> Result<BlobLock> {
        Ok(self.blob_locks.lock(key).await)
    }
}
