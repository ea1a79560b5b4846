//! Attachments on PostgreSQL: the rows of uploaded files, and the store's
//! `Files` operations.

use std::collections::HashSet;

use async_trait::async_trait;

use super::PgStore;
use super::access::membership;
use super::rows::{self, row};
use crate::domain::Attachment;
use crate::error::{AppError, Result};
use crate::store::Files;

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
}
