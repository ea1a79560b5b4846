//! Search on SQLite: the FTS5 table `message_search` (migration 0006),
//! kept in step by the writes in `messages.rs` and `changes.rs`, read
//! newest first and joined with the caller's memberships.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::access::member_chat;
use super::messages::{fill_reactions, message_from_row, message_joins, message_tail};
use super::vocabulary::Vocabulary;
use crate::domain::Message;
use crate::error::Result;
use crate::store::{Expect, Search, SearchRequest};

/// The index drives (CROSS JOIN keeps it the outer loop), newest first,
/// and stops at the page's end: a common word costs as many index entries
/// as it takes to fill a page from the caller's chats. (Joined the other
/// way, SQLite would walk the caller's chats' messages and probe the index
/// for each.)
fn search(
    conn: &Connection,
    request: &SearchRequest,
    vocabulary: &Vocabulary,
) -> Result<(Vec<Message>, bool)> {
    if let Some(chat_id) = request.chat_id {
        member_chat(conn, request.user_id, chat_id, Expect::AnyChat)?;
    }
    let Some(expression) = request.query.fts5(|prefix| vocabulary.expand(prefix)) else {
        return Ok((Vec::new(), false));
    };
    let sql = format!(
        "SELECT m.id, m.chat_id, c.kind, {}
         FROM message_search s CROSS JOIN messages m ON m.id = s.rowid JOIN chats c ON c.id = m.chat_id {}
         WHERE message_search MATCH ?1 AND s.rowid < ?2
           AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = ?3)
           AND (?4 IS NULL OR m.chat_id = ?4) AND m.deleted_at IS NULL
         ORDER BY s.rowid DESC LIMIT {}",
        message_tail!(),
        message_joins!(),
        request.limit + 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(
        params![
            expression,
            request.before.unwrap_or(i64::MAX),
            request.user_id,
            request.chat_id
        ],
        message_from_row,
    )?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = messages.len() > request.limit as usize;
    messages.truncate(request.limit as usize);
    fill_reactions(conn, &mut messages, Some(request.user_id))?;
    Ok((messages, has_more))
}

#[async_trait]
impl Search for SqliteStore {
    async fn search(&self, request: SearchRequest) -> Result<(Vec<Message>, bool)> {
        let vocabulary = std::sync::Arc::clone(&self.vocabulary);
        self.db
            .read(move |conn| search(conn, &request, &vocabulary))
            .await
    }
}
