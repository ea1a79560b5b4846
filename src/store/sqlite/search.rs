//! Search on SQLite: the FTS5 table `message_search` and its pending part
//! `search_pending` (migration 0006), kept in step by the writes in
//! `messages.rs` and `changes.rs`; both read newest first, joined with the
//! caller's memberships, and merged.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::access::member_chat;
use super::messages::{fill_reactions, message_by_id, message_from_row, message_joins, message_tail};
use super::vocabulary::Vocabulary;
use crate::domain::Message;
use crate::domain::words::IndexedText;
use crate::error::Result;
use crate::store::{Expect, Search, SearchRequest};

/// Both parts of the index, merged newest first.
fn search(
    conn: &Connection,
    request: &SearchRequest,
    vocabulary: &Vocabulary,
) -> Result<(Vec<Message>, bool)> {
    if let Some(chat_id) = request.chat_id {
        member_chat(conn, request.user_id, chat_id, Expect::AnyChat)?;
    }
    // Both parts are read in the job's one snapshot (every read job is a
    // read transaction): a move in between cannot hide what it moved.
    let mut messages = both_parts(conn, request, vocabulary)?;
    messages.sort_by_key(|m| std::cmp::Reverse(m.id));
    let has_more = messages.len() > request.limit as usize;
    messages.truncate(request.limit as usize);
    fill_reactions(conn, &mut messages, Some(request.user_id))?;
    Ok((messages, has_more))
}

fn both_parts(conn: &Connection, request: &SearchRequest, vocabulary: &Vocabulary) -> Result<Vec<Message>> {
    let mut messages = match request.query.fts5(|prefix| vocabulary.expand(prefix)) {
        Some(expression) => indexed_matches(conn, request, &expression)?,
        None => Vec::new(),
    };
    messages.extend(pending_matches(conn, request)?);
    Ok(messages)
}

/// The newest matches in FTS5 (one more than a page). The index drives (CROSS JOIN keeps it the outer loop), newest first,
/// and stops at the page's end: a common word costs as many index entries
/// as it takes to fill a page from the caller's chats. (Joined the other
/// way, SQLite would walk the caller's chats' messages and probe the index
/// for each.)
fn indexed_matches(conn: &Connection, request: &SearchRequest, expression: &str) -> Result<Vec<Message>> {
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
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The newest matches among the messages not yet moved into FTS5 (a
/// fraction of a second's worth, which drives the join: CROSS JOIN),
/// matched here by the same rules.
fn pending_matches(conn: &Connection, request: &SearchRequest) -> Result<Vec<Message>> {
    let mut stmt = conn.prepare_cached(
        "SELECT p.id, p.body, p.name FROM search_pending p CROSS JOIN messages m ON m.id = p.id
         WHERE p.id < ?1 AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = ?2)
           AND (?3 IS NULL OR m.chat_id = ?3) AND m.deleted_at IS NULL
         ORDER BY p.id DESC",
    )?;
    let mut rows = stmt.query(params![
        request.before.unwrap_or(i64::MAX),
        request.user_id,
        request.chat_id
    ])?;
    let mut ids = Vec::new();
    while let Some(row) = rows.next()? {
        let indexed = IndexedText {
            body: row.get(1)?,
            name: row.get(2)?,
        };
        if request.query.matches_indexed(&indexed) {
            ids.push(row.get::<_, i64>(0)?);
            if ids.len() > request.limit as usize {
                break;
            }
        }
    }
    let mut found = Vec::with_capacity(ids.len());
    for id in ids {
        found.extend(message_by_id(conn, id)?);
    }
    Ok(found)
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
