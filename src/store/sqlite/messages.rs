//! Messages: the `messages` table (insert, look-ups, history pages,
//! catch-up) and the store's `Messages` operations.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::access::{check_target, resolve_target};
use super::attachments::{NewAttachment, insert_attachment};
use super::chats::{count_sent, touch_chat};
use crate::domain::{
    Attachment, ChatKind, ChatTarget, ClientId, HistoryPage, Message, MessageKind, MessageText, Timestamp,
};
use crate::error::Result;
use crate::store::{Messages, NewSend, Precheck, Sent, Then};

const MESSAGE_SELECT: &str =
    "SELECT m.id, m.chat_id, c.kind, m.sender_id, m.kind, m.text, m.client_id, m.created_at,
            a.id, a.filename, a.content_type, a.size, a.sha256
     FROM messages m JOIN chats c ON c.id = m.chat_id
     LEFT JOIN attachments a ON a.id = m.attachment_id";

fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Message> {
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
    })
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
}

/// Stores a message and makes it its chat's newest; returns it as stored.
fn insert_message(conn: &Connection, new: &NewMessage<'_>, now: Timestamp) -> Result<Message> {
    // The chat's next sequence number, taken in the same statement.
    let mut stmt = conn.prepare_cached(
        "INSERT INTO messages (chat_id, sender_id, kind, text, attachment_id, client_id, created_at, seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT last_seq + 1 FROM chats WHERE id = ?1))
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
            now.0
        ],
        |r| r.get(0),
    )?;
    let id = conn.last_insert_rowid();
    touch_chat(conn, new.chat_id, id, seq, now)?;
    count_sent(conn, new.chat_id, new.sender_id)?;
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
    })
}

pub fn message_by_id(conn: &Connection, id: i64) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!("{MESSAGE_SELECT} WHERE m.id = ?1"))?;
    Ok(stmt.query_row([id], message_from_row).optional()?)
}

/// The message a sender stored earlier under `client_id`, if any.
fn message_by_client_id(conn: &Connection, sender_id: i64, client_id: &str) -> Result<Option<Message>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{MESSAGE_SELECT} WHERE m.sender_id = ?1 AND m.client_id = ?2"
    ))?;
    Ok(stmt
        .query_row(params![sender_id, client_id], message_from_row)
        .optional()?)
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
        "SELECT m.id, m.chat_id, ?3, m.sender_id, m.kind, m.text, m.client_id, m.created_at,
                a.id, a.filename, a.content_type, a.size, a.sha256
         FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id
         WHERE m.chat_id = ?1 AND {order} LIMIT {}",
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
        }),
    )
}

#[async_trait]
impl Messages for SqliteStore {
    async fn send_message(&self, send: NewSend, then: Then<Sent>) -> Result<Sent> {
        self.db
            .write_then(
                move |conn| {
                    let NewSend {
                        sender,
                        target,
                        client_id,
                        text,
                        file,
                    } = send;
                    if let Some(earlier) = earlier_send(conn, sender, client_id.as_ref())? {
                        return Ok(earlier);
                    }
                    let now = Timestamp::now();
                    let chat = resolve_target(conn, sender, target, now)?;
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
                        },
                        now,
                    )?;
                    Ok(Sent {
                        message,
                        created: true,
                        new_chat_members: chat.created_with,
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
