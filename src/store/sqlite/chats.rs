//! Chats: `chats` and `chat_members` (direct chats, membership, read
//! markers, a chat as one viewer sees it) and the store's `Chats`
//! operations.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::SqliteStore;
use super::access::member_chat;
use super::log::{self, Audience};
use super::messages::{self, message_for, message_in_chat};
use crate::domain::{Chat, ChatKind, HistoryPage, Member, ReadMarker, Role, Timestamp};
use crate::error::{AppError, Result};
use crate::events::ChatEvent;
use crate::store::model::{ChatRow, Membership, unread_count};
use crate::store::{Chats, Expect, History, ReadMarked, Then};

const CHAT_COLUMNS: &str = "c.id, c.kind, c.name, c.created_by, c.created_at, c.last_message_id, c.last_seq";

fn chat_from_row(row: &Row<'_>) -> rusqlite::Result<ChatRow> {
    Ok(ChatRow {
        id: row.get(0)?,
        kind: ChatKind::from_db(super::text_at(row, 1)?),
        name: row.get(2)?,
        created_by: row.get(3)?,
        created_at: Timestamp(row.get(4)?),
        last_message_id: row.get(5)?,
        last_seq: row.get(6)?,
    })
}

pub fn chat_by_id(conn: &Connection, id: i64) -> Result<Option<ChatRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {CHAT_COLUMNS} FROM chats c WHERE c.id = ?1"))?;
    Ok(stmt.query_row([id], chat_from_row).optional()?)
}

pub fn membership(conn: &Connection, chat_id: i64, user_id: i64) -> Result<Option<Membership>> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, last_read_message_id, last_read_seq, sent_since_read FROM chat_members
         WHERE chat_id = ?1 AND user_id = ?2",
    )?;
    let found = stmt
        .query_row(params![chat_id, user_id], |row| {
            Ok(Membership {
                role: Role::from_db(super::text_at(row, 0)?),
                last_read_message_id: row.get(1)?,
                last_read_seq: row.get(2)?,
                sent_since_read: row.get(3)?,
            })
        })
        .optional()?;
    Ok(found)
}

/// The direct chat between two users, if it exists.
pub fn direct_chat_between(conn: &Connection, a: i64, b: i64) -> Result<Option<i64>> {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut stmt = conn
        .prepare_cached("SELECT id FROM chats WHERE kind = 'direct' AND direct_lo = ?1 AND direct_hi = ?2")?;
    Ok(stmt.query_row(params![lo, hi], |r| r.get(0)).optional()?)
}

/// Creates the direct chat between `creator` and `peer` (who may be the
/// same user) with both as members. Returns its id.
pub fn insert_direct_chat(
    conn: &Connection,
    creator: i64,
    peer: i64,
    now: Timestamp,
    seq: i64,
) -> Result<i64> {
    let (lo, hi) = if creator <= peer {
        (creator, peer)
    } else {
        (peer, creator)
    };
    let mut stmt = conn.prepare_cached(
        "INSERT INTO chats (kind, created_by, created_at, direct_lo, direct_hi, last_activity_at)
         VALUES ('direct', ?1, ?2, ?3, ?4, ?2)",
    )?;
    stmt.execute(params![creator, now.0, lo, hi])?;
    let id = conn.last_insert_rowid();
    insert_member(conn, id, creator, Role::Member, now, seq)?;
    if peer != creator {
        insert_member(conn, id, peer, Role::Member, now, seq)?;
    }
    Ok(id)
}

pub fn insert_member(
    conn: &Connection,
    chat_id: i64,
    user_id: i64,
    role: Role,
    now: Timestamp,
    joined_seq: i64,
) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO chat_members (chat_id, user_id, role, joined_at, joined_seq) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    stmt.execute(params![chat_id, user_id, role.as_str(), now.0, joined_seq])?;
    Ok(())
}

pub(super) const MEMBER_SELECT: &str = "SELECT cm.user_id, u.username, u.display_name, cm.role, cm.joined_at
     FROM chat_members cm JOIN users u ON u.id = cm.user_id";

pub(super) fn member_from_row(row: &Row<'_>) -> rusqlite::Result<Member> {
    Ok(Member {
        user_id: row.get(0)?,
        username: row.get(1)?,
        display_name: row.get(2)?,
        role: Role::from_db(super::text_at(row, 3)?),
        joined_at: Timestamp(row.get(4)?),
    })
}

/// A chat's members, in the order they joined (the owner first).
pub fn members(conn: &Connection, chat_id: i64) -> Result<Vec<Member>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{MEMBER_SELECT} WHERE cm.chat_id = ?1
         ORDER BY cm.joined_at, cm.role <> 'owner', cm.user_id"
    ))?;
    let rows = stmt.query_map([chat_id], member_from_row)?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Ids of every chat the user belongs to (index-only).
pub fn chat_ids_for_user(conn: &Connection, user_id: i64) -> Result<Vec<i64>> {
    let mut stmt = conn.prepare_cached("SELECT chat_id FROM chat_members WHERE user_id = ?1")?;
    let rows = stmt.query_map([user_id], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The user's chats, newest activity first, each with the user's marker.
pub fn chats_for_user(conn: &Connection, user_id: i64) -> Result<Vec<(ChatRow, Membership)>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CHAT_COLUMNS}, cm.role, cm.last_read_message_id, cm.last_read_seq, cm.sent_since_read
         FROM chat_members cm JOIN chats c ON c.id = cm.chat_id
         WHERE cm.user_id = ?1
         ORDER BY c.last_activity_at DESC, c.last_message_id DESC, c.id DESC"
    ))?;
    let rows = stmt.query_map([user_id], |row| {
        Ok((
            chat_from_row(row)?,
            Membership {
                role: Role::from_db(super::text_at(row, 7)?),
                last_read_message_id: row.get(8)?,
                last_read_seq: row.get(9)?,
                sent_since_read: row.get(10)?,
            },
        ))
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Records a new newest message of a chat.
pub fn touch_chat(conn: &Connection, chat_id: i64, message_id: i64, seq: i64, now: Timestamp) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE chats SET last_message_id = ?2, last_seq = ?3, last_activity_at = ?4 WHERE id = ?1",
    )?;
    stmt.execute(params![chat_id, message_id, seq, now.0])?;
    Ok(())
}

/// Moves the read marker forward to `message_id`; returns whether it moved.
pub fn advance_read_marker(conn: &Connection, chat_id: i64, user_id: i64, message_id: i64) -> Result<bool> {
    let mut stmt = conn.prepare_cached(
        "UPDATE chat_members
         SET last_read_message_id = ?3,
             last_read_seq = (SELECT seq FROM messages WHERE id = ?3),
             sent_since_read = (SELECT COUNT(*) FROM messages
                                WHERE chat_id = ?1 AND id > ?3 AND sender_id = ?2)
         WHERE chat_id = ?1 AND user_id = ?2 AND last_read_message_id < ?3",
    )?;
    Ok(stmt.execute(params![chat_id, user_id, message_id])? > 0)
}

/// Counts a message its sender sent after their read marker.
pub fn count_sent(conn: &Connection, chat_id: i64, sender: i64) -> Result<()> {
    let mut stmt = conn.prepare_cached(
        "UPDATE chat_members SET sent_since_read = sent_since_read + 1 WHERE chat_id = ?1 AND user_id = ?2",
    )?;
    stmt.execute(params![chat_id, sender])?;
    Ok(())
}

/// The chat as `viewer` sees it: members, newest message, unread count
/// (`viewer` `None`: as events show it, no `me` in reactions).
pub fn chat_view(
    conn: &Connection,
    chat: &ChatRow,
    marker: &Membership,
    viewer: Option<i64>,
) -> Result<Chat> {
    let last_message = match chat.last_message_id {
        Some(id) => message_for(conn, id, viewer)?,
        None => None,
    };
    Ok(Chat {
        id: chat.id,
        kind: chat.kind,
        name: chat.name.clone(),
        created_by: chat.created_by,
        created_at: chat.created_at,
        members: members(conn, chat.id)?,
        last_message,
        unread_count: unread_count(chat, marker),
    })
}

#[async_trait]
impl Chats for SqliteStore {
    async fn chats_of(&self, user_id: i64) -> Result<Vec<Chat>> {
        self.db
            .read(move |conn| {
                chats_for_user(conn, user_id)?
                    .iter()
                    .map(|(chat, membership)| chat_view(conn, chat, membership, Some(user_id)))
                    .collect()
            })
            .await
    }

    async fn chat_ids_of(&self, user_id: i64) -> Result<Vec<i64>> {
        self.db.read(move |conn| chat_ids_for_user(conn, user_id)).await
    }

    async fn check_member(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<()> {
        self.db
            .read(move |conn| member_chat(conn, user_id, chat_id, expect).map(|_| ()))
            .await
    }

    async fn chat_for(&self, user_id: i64, chat_id: i64, expect: Expect) -> Result<Chat> {
        self.db
            .read(move |conn| {
                let (row, membership) = member_chat(conn, user_id, chat_id, expect)?;
                chat_view(conn, &row, &membership, Some(user_id))
            })
            .await
    }

    async fn history(
        &self,
        user_id: i64,
        chat_id: i64,
        expect: Expect,
        page: HistoryPage,
    ) -> Result<History> {
        self.db
            .read(move |conn| {
                let (chat, membership) = member_chat(conn, user_id, chat_id, expect)?;
                let (messages, has_more) = messages::history(conn, chat_id, chat.kind, page, user_id)?;
                Ok(History {
                    chat: chat_view(conn, &chat, &membership, Some(user_id))?,
                    messages,
                    has_more,
                })
            })
            .await
    }

    async fn mark_read(
        &self,
        user_id: i64,
        chat_id: i64,
        message_id: i64,
        then: Then<ReadMarked>,
    ) -> Result<ReadMarked> {
        self.db
            .write_then(
                move |conn| {
                    let (_, membership) = member_chat(conn, user_id, chat_id, Expect::AnyChat)?;
                    if !message_in_chat(conn, message_id, chat_id)? {
                        return Err(AppError::NotFound(format!(
                            "message {message_id} is not in chat {chat_id}"
                        )));
                    }
                    let moved = advance_read_marker(conn, chat_id, user_id, message_id)?;
                    let events = if moved {
                        let read = ChatEvent::Read {
                            chat_id,
                            user_id,
                            message_id,
                        };
                        vec![log::record(conn, &read, Audience::Chat(chat_id))?]
                    } else {
                        Vec::new()
                    };
                    Ok(ReadMarked {
                        marker: ReadMarker {
                            chat_id,
                            message_id: membership.last_read_message_id.max(message_id),
                        },
                        moved,
                        events,
                    })
                },
                then,
            )
            .await
    }
}
