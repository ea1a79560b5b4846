//! Edits, deletions and reactions (v2) on SQLite: each change one job on
//! the writer, with its access checks, the message, its reactions, its
//! attachment row and its search entry changed together.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::SqliteStore;
use super::chats::membership;
use super::log::{self, Audience};
use super::messages::{index_message, message_by_id, message_for, unindex_message};
use super::vocabulary::Vocabulary;
use crate::domain::words::IndexedText;
use crate::domain::{Emoji, MAX_REACTIONS, Message, MessageText, Timestamp, edited_text};
use crate::error::{AppError, Result};
use crate::store::model::{change_event, check_delete, check_edit, check_react};
use crate::store::{Change, Changed, Changes, Effect, MessageChange, Then};

fn change(conn: &Connection, vocabulary: &Vocabulary, change: MessageChange) -> Result<Changed> {
    let MessageChange {
        user_id,
        message_id,
        change,
    } = change;
    let message = message_by_id(conn, message_id)?
        .ok_or_else(|| AppError::NotFound(format!("message {message_id} does not exist")))?;
    let member = membership(conn, message.chat_id, user_id)?.ok_or(AppError::NotAMember(message.chat_id))?;
    let effect = match change {
        Change::Edit(raw) => edit(conn, vocabulary, &message, user_id, raw)?,
        Change::Delete => {
            if check_delete(&message, user_id, member.role)? {
                None
            } else {
                Some(delete(conn, &message)?)
            }
        }
        Change::React { emoji, add } => {
            let emoji = Emoji::parse(&emoji)?;
            check_react(&message)?;
            react(conn, &message, user_id, emoji, add)?
        }
    };
    let seq = match &effect {
        Some(_) => {
            let seq = log::next_seq(conn)?;
            conn.prepare_cached("UPDATE messages SET change_seq = ?1 WHERE id = ?2")?
                .execute(params![seq, message_id])?;
            Some(seq)
        }
        None => None,
    };
    let message = message_for(conn, message_id, Some(user_id))?
        .ok_or_else(|| AppError::internal("a changed message vanished"))?;
    let events = match (&effect, seq) {
        (Some(effect), Some(seq)) => vec![log::record_at(
            conn,
            seq,
            &change_event(&message, effect),
            Audience::Chat(message.chat_id),
        )?],
        _ => Vec::new(),
    };
    Ok(Changed {
        message,
        effect,
        events,
    })
}

fn edit(
    conn: &Connection,
    vocabulary: &Vocabulary,
    message: &Message,
    user_id: i64,
    raw: Result<Option<String>>,
) -> Result<Option<Effect>> {
    check_edit(message, user_id)?;
    let text = edited_text(message.kind, raw?)?;
    let text = text.as_ref().map(MessageText::as_str);
    if text == message.text.as_deref() {
        return Ok(None);
    }
    conn.prepare_cached("UPDATE messages SET text = ?1, edited_at = ?2 WHERE id = ?3")?
        .execute(params![text, Timestamp::now().0, message.id])?;
    unindex_message(conn, message.id)?;
    let filename = message.attachment.as_ref().map(|a| a.filename.as_str());
    index_message(conn, vocabulary, message.id, &IndexedText::of(text, filename))?;
    Ok(Some(Effect::Edited))
}

/// Makes the message a tombstone; its attachment row goes with it (so its
/// bytes are no longer served), and its blob is named if nothing else
/// refers to it.
fn delete(conn: &Connection, message: &Message) -> Result<Effect> {
    conn.prepare_cached(
        "UPDATE messages SET text = NULL, attachment_id = NULL, reply_to_id = NULL, reaction_count = 0,
                             deleted_at = ?1
         WHERE id = ?2",
    )?
    .execute(params![Timestamp::now().0, message.id])?;
    conn.prepare_cached("DELETE FROM reactions WHERE message_id = ?1")?
        .execute([message.id])?;
    unindex_message(conn, message.id)?;
    let mut orphaned_blob = None;
    if let Some(attachment) = &message.attachment {
        conn.prepare_cached("DELETE FROM attachments WHERE id = ?1")?
            .execute([attachment.id])?;
        let still_used = conn
            .prepare_cached("SELECT 1 FROM attachments WHERE sha256 = ?1")?
            .exists([&attachment.sha256])?;
        if !still_used {
            orphaned_blob = Some(attachment.sha256.clone());
        }
    }
    Ok(Effect::Deleted { orphaned_blob })
}

fn react(
    conn: &Connection,
    message: &Message,
    user_id: i64,
    emoji: Emoji,
    add: bool,
) -> Result<Option<Effect>> {
    let emoji = emoji.as_str();
    let count = |conn: &Connection| -> Result<i64> {
        Ok(conn
            .prepare_cached("SELECT COUNT(*) FROM reactions WHERE message_id = ?1 AND emoji = ?2")?
            .query_row(params![message.id, emoji], |r| r.get(0))?)
    };
    if add {
        let mine = conn
            .prepare_cached("SELECT 1 FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3")?
            .exists(params![message.id, emoji, user_id])?;
        if mine {
            return Ok(None);
        }
        if count(conn)? == 0 {
            let distinct: i64 = conn
                .prepare_cached("SELECT COUNT(DISTINCT emoji) FROM reactions WHERE message_id = ?1")?
                .query_row([message.id], |r| r.get(0))?;
            if distinct >= MAX_REACTIONS as i64 {
                return Err(AppError::TooManyReactions(MAX_REACTIONS));
            }
        }
        conn.prepare_cached(
            "INSERT INTO reactions (message_id, user_id, emoji, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![message.id, user_id, emoji, Timestamp::now().0])?;
    } else {
        let removed = conn
            .prepare_cached("DELETE FROM reactions WHERE message_id = ?1 AND emoji = ?2 AND user_id = ?3")?
            .execute(params![message.id, emoji, user_id])?;
        if removed == 0 {
            return Ok(None);
        }
    }
    conn.prepare_cached("UPDATE messages SET reaction_count = reaction_count + ?1 WHERE id = ?2")?
        .execute(params![if add { 1 } else { -1 }, message.id])?;
    Ok(Some(Effect::Reacted {
        user_id,
        emoji: emoji.to_string(),
        count: count(conn)?,
        added: add,
    }))
}

#[async_trait]
impl Changes for SqliteStore {
    async fn change_message(&self, request: MessageChange, then: Then<Changed>) -> Result<Changed> {
        let vocabulary = std::sync::Arc::clone(&self.vocabulary);
        self.db
            .write_then(move |conn| change(conn, &vocabulary, request), then)
            .await
    }
}
