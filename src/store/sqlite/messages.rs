//! Messages: the `messages` table (insert, look-ups, history pages,
//! catch-up) and the store's `Messages` operations.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::access::{check_target, resolve_target};
use super::attachments::{NewAttachment, insert_attachment};
use super::chats::{count_sent, touch_chat};
use super::log::{self, Audience};
use super::vocabulary::Vocabulary;
use crate::domain::words::IndexedText;
use crate::domain::{
    Attachment, ChatKind, ChatTarget, ClientId, HistoryPage, Message, MessageKind, MessageText, Reaction,
    ReplyTo, Timestamp,
};
use crate::error::{AppError, Result};
use crate::events::ChatEvent;
use crate::store::{Messages, NewSend, Precheck, Sent, Then};

/// Every column a message is read from, after its id, chat id and chat
/// kind (see [`message_from_row`]), and the joins they need.
macro_rules! message_tail {
    () => {
        "m.sender_id, m.kind, m.text, m.client_id, m.created_at,
         a.id, a.filename, a.content_type, a.size, a.sha256,
         m.reply_to_id, r.sender_id, r.kind, substr(r.text, 1, 200), r.deleted_at,
         m.edited_at, m.deleted_at, m.reaction_count, m.change_seq"
    };
}
macro_rules! message_joins {
    () => {
        "LEFT JOIN attachments a ON a.id = m.attachment_id
         LEFT JOIN messages r ON r.id = m.reply_to_id"
    };
}

pub(super) use {message_joins, message_tail};

pub(super) const MESSAGE_SELECT: &str = concat!(
    "SELECT m.id, m.chat_id, c.kind, ",
    message_tail!(),
    " FROM messages m JOIN chats c ON c.id = m.chat_id ",
    message_joins!()
);

/// A message row; its reactions are filled by [`fill_reactions`].
pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
    let reply_to = match row.get::<_, Option<i64>>(13)? {
        Some(id) => {
            let deleted = row.get::<_, Option<i64>>(17)?.is_some();
            Some(ReplyTo {
                id,
                sender_id: row.get(14)?,
                kind: MessageKind::from_db(super::text_at(row, 15)?),
                text: if deleted { None } else { row.get(16)? },
                deleted,
            })
        }
        None => None,
    };
    Ok(Message {
        id: row.get(0)?,
        chat_id: row.get(1)?,
        chat_kind: ChatKind::from_db(super::text_at(row, 2)?),
        sender_id: row.get(3)?,
        kind: MessageKind::from_db(super::text_at(row, 4)?),
        text: row.get(5)?,
        attachment: match row.get::<_, Option<i64>>(8)? {
            Some(id) => Some(Attachment {
                id,
                filename: row.get(9)?,
                content_type: row.get(10)?,
                size: row.get(11)?,
                sha256: row.get(12)?,
                url: String::new(),
            }),
            None => None,
        },
        client_id: row.get(6)?,
        created_at: Timestamp(row.get(7)?),
        reply_to,
        edited_at: row.get::<_, Option<i64>>(18)?.map(Timestamp),
        deleted_at: row.get::<_, Option<i64>>(19)?.map(Timestamp),
        reactions: Vec::new(),
        reaction_rows: row.get(20)?,
        seq: row.get(21)?,
    })
}

/// Reads the reactions of the messages that have any, with `me` for
/// `viewer` (none: as events show them).
pub(super) fn fill_reactions(conn: &Connection, messages: &mut [Message], viewer: Option<i64>) -> Result<()> {
    for message in messages.iter_mut().filter(|m| m.reaction_rows > 0) {
        let mut stmt = conn.prepare_cached(
            "SELECT emoji, COUNT(*), MAX(user_id = ?2) FROM reactions WHERE message_id = ?1
             GROUP BY emoji ORDER BY MIN(id)",
        )?;
        let rows = stmt.query_map(params![message.id, viewer.unwrap_or(0)], |r| {
            Ok(Reaction {
                emoji: r.get(0)?,
                count: r.get(1)?,
                me: viewer.map(|_| r.get::<_, bool>(2)).transpose()?,
            })
        })?;
        message.reactions = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    }
    Ok(())
}

/// A message about to be stored.
struct NewMessage<'a> {
    pub chat_id: i64,
    pub chat_kind: ChatKind,
    pub sender_id: i64,
    pub kind: MessageKind,
    pub text: Option<&'a str>,
    pub attachment: Option<Attachment>,
    pub client_id: Option<&'a str>,
    pub reply_to: Option<ReplyTo>,
}

/// Stores a message and makes it its chat's newest; returns it as stored.
fn insert_message(
    conn: &Connection,
    vocabulary: &Vocabulary,
    new: &NewMessage<'_>,
    now: Timestamp,
    change_seq: i64,
) -> Result<Message> {
    // The chat's next sequence number, taken in the same statement.
    let mut stmt = conn.prepare_cached(
        "INSERT INTO messages (chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq,
                               reply_to_id, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT last_seq + 1 FROM chats WHERE id = ?1), ?8, ?9)
         RETURNING seq",
    )?;
    let seq: i64 = stmt.query_row(
        params![
            new.chat_id,
            new.sender_id,
            new.kind.as_str(),
            new.text,
            new.attachment.as_ref().map(|a| a.id),
            new.client_id,
            now.0,
            new.reply_to.as_ref().map(|r| r.id),
            change_seq
        ],
        |r| r.get(0),
    )?;
    let id = conn.last_insert_rowid();
    touch_chat(conn, new.chat_id, id, seq, now)?;
    count_sent(conn, new.chat_id, new.sender_id)?;
    let filename = new.attachment.as_ref().map(|a| a.filename.as_str());
    index_message(conn, vocabulary, id, &IndexedText::of(new.text, filename))?;
    Ok(Message {
        id,
        chat_id: new.chat_id,
        chat_kind: new.chat_kind,
        sender_id: new.sender_id,
        kind: new.kind,
        text: new.text.map(str::to_string),
        attachment: new.attachment.clone(),
        client_id: new.client_id.map(str::to_string),
        created_at: now,
        reply_to: new.reply_to.clone(),
        edited_at: None,
        deleted_at: None,
        reactions: Vec::new(),
        reaction_rows: 0,
        seq: change_seq,
    })
}

/// Puts a live message's words in the search index (its pending part, see
/// migration 0006; nothing for none) and in the vocabulary, before the
/// write is answered (a write that then fails leaves words no message has:
/// harmless).
pub(super) fn index_message(
    conn: &Connection,
    vocabulary: &Vocabulary,
    id: i64,
    indexed: &IndexedText,
) -> Result<()> {
    if indexed.is_empty() {
        return Ok(());
    }
    vocabulary.add(indexed);
    let mut stmt =
        conn.prepare_cached("INSERT OR REPLACE INTO search_pending (id, body, name) VALUES (?1, ?2, ?3)")?;
    stmt.execute(params![id, indexed.body, indexed.name])?;
    Ok(())
}

/// Takes a message out of the search index, either part (if it is in it).
pub(super) fn unindex_message(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM search_pending WHERE id = ?1")?
        .execute([id])?;
    conn.prepare_cached("DELETE FROM message_search WHERE rowid = ?1")?
        .execute([id])?;
    Ok(())
}

/// The most pending messages one move takes (a few milliseconds of the
/// writer's time; the next move takes the rest).
const FLUSH_AT_MOST: i64 = 1000;

/// Moves the oldest of the index's pending part into FTS5, in the writer's
/// transaction; answers how many messages moved.
pub(super) fn flush_pending(conn: &Connection) -> Result<usize> {
    let upto: Option<i64> = conn
        .prepare_cached("SELECT MAX(id) FROM (SELECT id FROM search_pending ORDER BY id LIMIT ?1)")?
        .query_row([FLUSH_AT_MOST], |r| r.get(0))?;
    let Some(upto) = upto else { return Ok(0) };
    let moved = conn
        .prepare_cached(
            "INSERT INTO message_search (rowid, body, name)
             SELECT id, body, name FROM search_pending WHERE id <= ?1 ORDER BY id",
        )?
        .execute([upto])?;
    conn.prepare_cached("DELETE FROM search_pending WHERE id <= ?1")?
        .execute([upto])?;
    Ok(moved)
}

/// The message a new message in `chat_id` answers, as the reply shows it:
/// 404 `not_found` for one the sender cannot see, 400 for one of another
/// chat (`chat_id` `None`: a direct chat created by this send).
fn reply_target(conn: &Connection, sender: i64, chat_id: Option<i64>, reply_to: i64) -> Result<ReplyTo> {
    let found = message_by_id(conn, reply_to)?;
    let visible = match &found {
        Some(m) => super::chats::membership(conn, m.chat_id, sender)?.is_some(),
        None => false,
    };
    match found {
        Some(m) if visible => {
            if Some(m.chat_id) != chat_id {
                return Err(AppError::validation(
                    "reply_to must name a message of the same chat",
                ));
            }
            Ok(ReplyTo {
                id: m.id,
                sender_id: m.sender_id,
                kind: m.kind,
                text: m.text.map(|t| t.chars().take(200).collect()),
                deleted: m.deleted_at.is_some(),
            })
        }
        _ => Err(AppError::NotFound(format!("message {reply_to} does not exist"))),
    }
}

/// A message with its reactions (`me` for `viewer`).
pub fn message_for(conn: &Connection, id: i64, viewer: Option<i64>) -> Result<Option<Message>> {
    let mut found = message_by_id(conn, id)?;
    if let Some(m) = found.as_mut() {
        fill_reactions(conn, std::slice::from_mut(m), viewer)?;
    }
    Ok(found)
}

/// A message without its reactions.
pub fn message_by_id(conn: &Connection, id: i64) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"))?;
    Ok(stmt.query_row([id], message_from_row).optional()?)
}

/// The message a sender stored earlier under `client_id`, if any.
fn message_by_client_id(conn: &Connection, sender_id: i64, client_id: &str) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{MESSAGE_SELECT} WHERE m.sender_id = ?1 AND m.client_id = ?2"
    ))?;
    let mut found = stmt
        .query_row(params![sender_id, client_id], message_from_row)
        .optional()?;
    if let Some(m) = found.as_mut() {
        fill_reactions(conn, std::slice::from_mut(m), Some(sender_id))?;
    }
    Ok(found)
}

pub fn message_in_chat(conn: &Connection, message_id: i64, chat_id: i64) -> Result<bool> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM messages WHERE id = ?1 AND chat_id = ?2")?;
    Ok(stmt.exists(params![message_id, chat_id])?)
}

/// One page of a chat's history, oldest first, and whether more exist in
/// the direction of paging. Fetches one extra row to know.
pub fn history(
    conn: &Connection,
    chat_id: i64,
    chat_kind: ChatKind,
    page: HistoryPage,
    viewer: i64,
) -> Result<(Vec<Message>, bool)> {
    // The chat's kind is known: no join with chats per row.
    let (order, cursor, limit, newest_first) = match page {
        HistoryPage::Latest { limit } => ("m.id < ?2 ORDER BY m.id DESC", i64::MAX, limit, true),
        HistoryPage::Before { id, limit } => ("m.id < ?2 ORDER BY m.id DESC", id, limit, true),
        HistoryPage::After { id, limit } => ("m.id > ?2 ORDER BY m.id ASC", id, limit, false),
    };
    // The limit is written into the SQL, not bound: SQLite's planner reads a
    // bound LIMIT, so rebinding it re-prepares the statement on every call
    // (measured: 7,400 -> 9,080 history pages/s without it). Limits are few (1 to
    // `MAX_LIMIT`), and each text is prepared once per connection.
    let sql = format!(
        "SELECT m.id, m.chat_id, ?3, {} FROM messages m {} WHERE m.chat_id = ?1 AND {order} LIMIT {}",
        message_tail!(),
        message_joins!(),
        limit + 1
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![chat_id, cursor, chat_kind.as_str()], message_from_row)?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    if newest_first {
        messages.reverse();
    }
    fill_reactions(conn, &mut messages, Some(viewer))?;
    Ok((messages, has_more))
}

/// Messages of all the user's chats with an id above `after`, oldest first.
fn messages_since(conn: &Connection, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)> {
    let mut stmt = conn.prepare_cached(&format!(
        "{MESSAGE_SELECT}
         WHERE m.id > ?2 AND m.chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = ?1)
         ORDER BY m.id ASC LIMIT {}",
        limit + 1
    ))?;
    let rows = stmt.query_map(params![user_id, after], message_from_row)?;
    let mut messages = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    fill_reactions(conn, &mut messages, Some(user_id))?;
    Ok((messages, has_more))
}

/// The message `sender` already stored under `client_id`, if any.
fn earlier_send(conn: &Connection, sender: i64, client_id: Option<&ClientId>) -> Result<Option<Sent>> {
    let Some(client_id) = client_id else {
        return Ok(None);
    };
    Ok(
        message_by_client_id(conn, sender, client_id.as_str())?.map(|message| Sent {
            message,
            created: false,
            new_chat_members: None,
            events: Vec::new(),
        }),
    )
}

#[async_trait]
impl Messages for SqliteStore {
    async fn send_message(&self, send: NewSend, then: Then<Sent>) -> Result<Sent> {
        let vocabulary = std::sync::Arc::clone(&self.vocabulary);
        self.db
            .write_then(
                move |conn| {
                    let NewSend {
                        sender,
                        target,
                        client_id,
                        text,
                        file,
                        reply_to,
                    } = send;
                    if let Some(earlier) = earlier_send(conn, sender, client_id.as_ref())? {
                        return Ok(earlier);
                    }
                    let now = Timestamp::now();
                    let seq = log::next_seq(conn)?;
                    let chat = resolve_target(conn, sender, target, now, seq)?;
                    let reply_to = match reply_to {
                        Some(id) => {
                            let in_chat = chat.created_with.is_none().then_some(chat.id);
                            Some(reply_target(conn, sender, in_chat, id)?)
                        }
                        None => None,
                    };
                    let attachment = match &file {
                        Some(f) => Some(insert_attachment(
                            conn,
                            &NewAttachment {
                                chat_id: chat.id,
                                uploader_id: sender,
                                filename: f.filename.as_str(),
                                content_type: f.content_type,
                                size: f.size,
                                sha256: &f.sha256,
                            },
                            now,
                        )?),
                        None => None,
                    };
                    let message = insert_message(
                        conn,
                        &vocabulary,
                        &NewMessage {
                            chat_id: chat.id,
                            chat_kind: chat.kind,
                            sender_id: sender,
                            kind: if file.is_some() {
                                MessageKind::File
                            } else {
                                MessageKind::Text
                            },
                            text: text.as_ref().map(MessageText::as_str),
                            attachment,
                            client_id: client_id.as_ref().map(ClientId::as_str),
                            reply_to,
                        },
                        now,
                        seq,
                    )?;
                    let event = ChatEvent::Message(message);
                    let logged = log::record_at(conn, seq, &event, Audience::Chat(chat.id))?;
                    let ChatEvent::Message(message) = event else {
                        unreachable!("built as a message above")
                    };
                    Ok(Sent {
                        message,
                        created: true,
                        new_chat_members: chat.created_with,
                        events: vec![logged],
                    })
                },
                then,
            )
            .await
    }

    async fn precheck_send(
        &self,
        sender: i64,
        target: ChatTarget,
        client_id: Option<ClientId>,
    ) -> Result<Precheck> {
        self.db
            .read(move |conn| {
                if let Some(earlier) = earlier_send(conn, sender, client_id.as_ref())? {
                    return Ok(Precheck::Earlier(Box::new(earlier)));
                }
                check_target(conn, sender, target)?;
                Ok(Precheck::Proceed)
            })
            .await
    }

    async fn messages_since(&self, user_id: i64, after: i64, limit: u32) -> Result<(Vec<Message>, bool)> {
        self.db
            .read(move |conn| messages_since(conn, user_id, after, limit))
            .await
    }
}
